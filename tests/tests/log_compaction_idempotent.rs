//! Compaction keeps an idempotent producer's state, against a real broker on a real
//! ZooKeeper: on a compacted topic with tiny segments, the records of an idempotent
//! producer's last batch are all superseded by a later plain batch; the cleaner removes them
//! but keeps the batch as an empty header (Kafka's `RETAIN_EMPTY` for the last batch of an
//! active producer) and drops the producer's earlier batch. After a restart that has to
//! rebuild the producer state from the cleaned log alone (snapshots and the clean-shutdown
//! marker removed), the producer's duplicate of its last batch is answered with the original
//! offset, a sequence gap is OUT_OF_ORDER_SEQUENCE_NUMBER and the next sequence is appended.
//! Every wait is bounded.

use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    InitProducerIdRequest, InitProducerIdResponse, ProduceRequest, ProducerId, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use rafka_core::record::{build_batch, BatchIter, ProducerInfo, SimpleRecord};
use rafka_tests::{creatable_topic, BrokerProcess, EmbeddedZookeeper, RawClient};

const TIMEOUT: Duration = Duration::from_secs(60);
const TOPIC: &str = "compacted-idem";
const NONE: i16 = 0;
const OUT_OF_ORDER_SEQUENCE_NUMBER: i16 = 45;
/// Produce errors while the partition has no leader yet: UNKNOWN_TOPIC_OR_PARTITION,
/// LEADER_NOT_AVAILABLE, NOT_LEADER_OR_FOLLOWER, REQUEST_TIMED_OUT, NOT_ENOUGH_REPLICAS.
const NOT_READY: [i16; 5] = [3, 5, 6, 7, 19];
/// CreateTopics errors before this broker is the controller with itself alive:
/// INVALID_REPLICATION_FACTOR, NOT_CONTROLLER.
const CREATE_NOT_READY: [i16; 2] = [38, 41];

/// One batch of `keys` (values `{tag}-{key}`), idempotent when `producer` has an id.
fn batch(producer: ProducerInfo, keys: &[&str], tag: &str) -> Bytes {
    let values: Vec<String> = keys.iter().map(|k| format!("{tag}-{k}")).collect();
    let records: Vec<SimpleRecord> = keys
        .iter()
        .zip(&values)
        .map(|(k, v)| SimpleRecord::new(1_700_000_000_000, Some(k.as_bytes()), Some(v.as_bytes())))
        .collect();
    Bytes::from(build_batch(0, producer, &records))
}

fn idempotent(producer_id: i64, base_sequence: i32) -> ProducerInfo {
    ProducerInfo {
        producer_id,
        producer_epoch: 0,
        base_sequence,
    }
}

/// Produce v9 (acks=all) of one batch to partition 0: (error code, base offset).
fn produce(c: &mut RawClient, batch: Bytes) -> (i16, i64) {
    let req = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(10_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_static_str(TOPIC)))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(batch))])]);
    let r = c.send(9, &req).expect("Produce v9");
    let p = &r.responses[0].partition_responses[0];
    (p.error_code, p.base_offset)
}

/// [`produce`] until the partition has a leader.
fn produce_when_ready(b: &BrokerProcess, c: &mut RawClient, batch: Bytes) -> (i16, i64) {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let r = produce(c, batch.clone());
        if !NOT_READY.contains(&r.0) {
            return r;
        }
        assert!(
            Instant::now() < deadline,
            "no leader for {TOPIC}-0: {r:?}\n{}",
            b.logs()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn init_producer_id(c: &mut RawClient) -> InitProducerIdResponse {
    let req = InitProducerIdRequest::default()
        .with_transactional_id(None)
        .with_transaction_timeout_ms(60_000)
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    c.send(4, &req).expect("InitProducerId v4")
}

/// (base offset, last offset, record count, producer id, epoch, base sequence) of every
/// batch in the `.log` files of `dir` (CRCs checked), in offset order.
fn batches_on_disk(dir: &Path) -> Vec<(i64, i64, i32, i64, i16, i32)> {
    let mut logs: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    logs.sort();
    let mut out = Vec::new();
    for log in logs {
        let bytes = std::fs::read(&log).unwrap();
        for item in BatchIter::new(&bytes) {
            let (_, b) = item.unwrap_or_else(|e| panic!("{}: {e}", log.display()));
            assert!(b.is_valid(), "bad CRC in {}", log.display());
            out.push((
                b.base_offset(),
                b.last_offset(),
                b.records_count(),
                b.producer_id(),
                b.producer_epoch(),
                b.base_sequence(),
            ));
        }
    }
    out
}

#[test]
fn compaction_keeps_the_last_batch_of_an_idempotent_producer_across_a_restart() {
    let zk = EmbeddedZookeeper::start();
    let mut b = BrokerProcess::builder()
        .broker_id(1)
        .zookeeper(zk.connect_string())
        .prop("log.cleaner.backoff.ms", 100)
        .prop("log.segment.delete.delay.ms", 100)
        .start();
    assert!(b.wait_listening(TIMEOUT), "{}", b.logs());
    let mut c = RawClient::connect_with_retry(b.port(), TIMEOUT).unwrap();
    // 200-byte segments: two batches of two records fill one.
    let topic = creatable_topic(
        TOPIC,
        1,
        1,
        &[
            ("cleanup.policy", "compact"),
            ("segment.bytes", "200"),
            ("min.cleanable.dirty.ratio", "0.01"),
            ("min.compaction.lag.ms", "0"),
        ],
    );
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let r = c.create_topic(topic.clone()).expect("CreateTopics");
        if r.error_code == NONE {
            break;
        }
        assert!(
            CREATE_NOT_READY.contains(&r.error_code) && Instant::now() < deadline,
            "{r:?}\n{}",
            b.logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let init = init_producer_id(&mut c);
    assert_eq!(
        (init.error_code, init.producer_epoch),
        (NONE, 0),
        "{init:?}"
    );
    let pid = init.producer_id.0;

    // Offsets 0-1 and 2-3: the producer's two batches (sequences 0-1 and 2-3); 4-5: a plain
    // batch superseding both keys; then plain filler so those segments are not active.
    let first = batch(idempotent(pid, 0), &["k1", "k2"], "first");
    let last = batch(idempotent(pid, 2), &["k1", "k2"], "last");
    assert_eq!(
        produce_when_ready(&b, &mut c, first),
        (NONE, 0),
        "{}",
        b.logs()
    );
    assert_eq!(produce(&mut c, last.clone()), (NONE, 2));
    let plain = batch(ProducerInfo::NONE, &["k1", "k2"], "plain");
    assert_eq!(produce(&mut c, plain), (NONE, 4));
    let mut log_end = 6;
    for i in 0..4 {
        let key = format!("filler{i}");
        let filler = batch(ProducerInfo::NONE, &[key.as_str()], "x");
        assert_eq!(produce(&mut c, filler), (NONE, log_end));
        log_end += 1;
    }

    // Compaction: offsets 0-3 disappear from what a consumer reads (a fetch from 0 then
    // answers the first segment, left with only the empty batch).
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let fetched = c.fetch_records(TOPIC, 0, 0).expect("Fetch");
        assert_eq!(fetched.error_code, NONE);
        if fetched.records.iter().all(|(o, _)| *o >= 4) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not compacted: {fetched:?}\n{}",
            b.logs()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let fetched = c.fetch_records(TOPIC, 0, 4).expect("Fetch");
    assert_eq!(
        fetched.records[..2],
        [(4, "plain-k1".to_string()), (5, "plain-k2".to_string())]
    );
    drop(c);
    b.stop();

    // On disk: the producer's last batch is an empty header, its first batch is gone.
    let dir = b.log_dir().join(format!("{TOPIC}-0"));
    let on_disk = batches_on_disk(&dir);
    assert_eq!(on_disk.first(), Some(&(2, 3, 0, pid, 0, 2)), "{on_disk:?}");
    assert!(on_disk.iter().all(|b| b.0 != 0), "{on_disk:?}");

    // Make the restart rebuild the producer state from the log: no snapshots, no clean
    // shutdown marker.
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|x| x == "snapshot") {
            std::fs::remove_file(&path).unwrap();
        }
    }
    let marker = b.log_dir().join(".kafka_cleanshutdown");
    assert!(marker.exists(), "no clean shutdown marker\n{}", b.logs());
    std::fs::remove_file(&marker).unwrap();
    b.restart();
    assert!(b.wait_listening(TIMEOUT), "{}", b.logs());
    let mut c = RawClient::connect_with_retry(b.port(), TIMEOUT).unwrap();

    // The duplicate of the last batch: its original offset, nothing written.
    assert_eq!(
        produce_when_ready(&b, &mut c, last),
        (NONE, 2),
        "{}",
        b.logs()
    );
    // The producer's sequence is known: a gap is refused...
    let gap = batch(idempotent(pid, 5), &["k3"], "gap");
    assert_eq!(produce(&mut c, gap).0, OUT_OF_ORDER_SEQUENCE_NUMBER);
    // ...and the next sequence lands at the log end.
    let next = batch(idempotent(pid, 4), &["k3"], "next");
    assert_eq!(
        produce(&mut c, next.clone()),
        (NONE, log_end),
        "{}",
        b.logs()
    );
    assert_eq!(produce(&mut c, next), (NONE, log_end));
    drop(c);
    b.stop();
}
