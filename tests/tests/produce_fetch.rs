//! Produce, Fetch, ListOffsets, DeleteRecords and DescribeLogDirs at the wire level, against
//! a broker process on a real ZooKeeper, with raw requests ([`RawClient`]) so every version
//! and error code is exercised exactly: batches go in and come back byte-identical (offsets
//! stamped), fetch sessions follow KIP-227, long polls wake on appends, and refusals carry
//! Kafka's codes. Real clients (kcat, librdkafka, Python, Node) are in `clients_*.rs`.

use std::time::Duration;

use kafka_protocol::messages::delete_records_request::{
    DeleteRecordsPartition, DeleteRecordsTopic,
};
use kafka_protocol::messages::describe_log_dirs_request::DescribableLogDirTopic;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic, ForgottenTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    BrokerId, DeleteRecordsRequest, DescribeLogDirsRequest, FetchRequest, FetchResponse,
    ListOffsetsRequest, MetadataRequest, ProduceRequest, ProduceResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use rafka_core::record::{build_batch, decode_records, ProducerInfo, RecordBatch, SimpleRecord};
use rafka_tests::{
    creatable_topic, kcat_wait_for_brokers, wait_for_znode, zk_client, BrokerProcess,
    EmbeddedZookeeper, RawClient,
};
use uuid::Uuid;

const TIMEOUT: Duration = Duration::from_secs(30);

const NONE: i16 = 0;
const OFFSET_OUT_OF_RANGE: i16 = 1;
const CORRUPT_MESSAGE: i16 = 2;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const MESSAGE_TOO_LARGE: i16 = 10;
const INVALID_TOPIC_EXCEPTION: i16 = 17;
const INVALID_REQUIRED_ACKS: i16 = 21;
const INVALID_FETCH_SESSION_EPOCH: i16 = 71;
const FETCH_SESSION_ID_NOT_FOUND: i16 = 70;
const FENCED_LEADER_EPOCH: i16 = 74;
const UNKNOWN_LEADER_EPOCH: i16 = 75;
const INVALID_RECORD: i16 = 87;
const UNKNOWN_TOPIC_ID: i16 = 100;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

async fn start(props: &[(&str, &str)]) -> (EmbeddedZookeeper, BrokerProcess) {
    let zk = EmbeddedZookeeper::start();
    let mut builder = BrokerProcess::builder()
        .broker_id(1)
        .zookeeper(zk.connect_string());
    for (k, v) in props {
        builder = builder.prop(k, v);
    }
    let b = builder.start();
    let client = zk_client(&zk.connect_string()).await;
    wait_for_znode(&client, "/brokers/ids/1", TIMEOUT).await;
    assert!(
        kcat_wait_for_brokers(&b.bootstrap_servers(), 1, TIMEOUT),
        "{}",
        b.logs()
    );
    (zk, b)
}

fn connect(b: &BrokerProcess) -> RawClient {
    RawClient::connect_with_retry(b.port(), TIMEOUT).expect("connect to the broker")
}

/// Creates `name` with `partitions` partitions and `configs`; returns its topic id.
fn create_topic(c: &mut RawClient, name: &str, partitions: i32, configs: &[(&str, &str)]) -> Uuid {
    let r = c
        .create_topic(creatable_topic(name, partitions, 1, configs))
        .expect("CreateTopics");
    assert_eq!(r.error_code, NONE, "{r:?}");
    r.topic_id
}

fn records(n: usize, tag: &str, ts: i64) -> Vec<SimpleRecord> {
    (0..n)
        .map(|i| {
            SimpleRecord::new(
                ts + i as i64,
                Some(format!("k{i}").as_bytes()),
                Some(format!("{tag}-{i}").as_bytes()),
            )
        })
        .collect()
}

fn produce_request(topic: &str, partition: i32, acks: i16, batch: Vec<u8>) -> ProduceRequest {
    ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(10_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(s(topic)))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(partition)
                .with_records(Some(batch.into()))])])
}

/// Produces one batch; returns (error code, base offset).
fn produce(
    c: &mut RawClient,
    version: i16,
    topic: &str,
    partition: i32,
    acks: i16,
    batch: Vec<u8>,
) -> (i16, i64) {
    let r: ProduceResponse = c
        .send(version, &produce_request(topic, partition, acks, batch))
        .expect("Produce");
    let p = &r.responses[0].partition_responses[0];
    (p.error_code, p.base_offset)
}

fn fetch_partition(partition: i32, offset: i64) -> FetchPartition {
    FetchPartition::default()
        .with_partition(partition)
        .with_fetch_offset(offset)
        .with_partition_max_bytes(1 << 20)
        .with_current_leader_epoch(-1)
        .with_log_start_offset(-1)
}

fn fetch_request(topic: &str, topic_id: Uuid, partitions: Vec<FetchPartition>) -> FetchRequest {
    FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(0)
        .with_min_bytes(1)
        .with_max_bytes(50 << 20)
        .with_session_epoch(-1)
        .with_topics(vec![FetchTopic::default()
            .with_topic(TopicName(s(topic)))
            .with_topic_id(topic_id)
            .with_partitions(partitions)])
}

/// Every record of a fetched partition's record bytes: (offset, key, value).
fn decode(bytes: &[u8]) -> Vec<(i64, Vec<u8>, Vec<u8>)> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while rest.len() >= 61 {
        let size = 12 + i32::from_be_bytes(rest[8..12].try_into().unwrap()) as usize;
        if size > rest.len() {
            break;
        }
        let batch = RecordBatch::parse(&rest[..size]).expect("a v2 batch");
        batch.validate_crc().expect("CRC of a fetched batch");
        for r in decode_records(&batch).expect("records") {
            out.push((
                r.offset,
                r.key.unwrap_or_default(),
                r.value.unwrap_or_default(),
            ));
        }
        rest = &rest[size..];
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produce_then_fetch_at_every_version() {
    let (_zk, b) = start(&[]).await;
    let mut c = connect(&b);
    let topic_id = create_topic(&mut c, "pf", 1, &[]);
    let now = 1_700_000_000_000;

    // Batches produced at several versions get consecutive offsets.
    let mut next = 0;
    for (i, version) in [3i16, 7, 9, 11].into_iter().enumerate() {
        let batch = build_batch(
            0,
            ProducerInfo::NONE,
            &records(5, &format!("v{version}"), now + i as i64 * 10),
        );
        let (err, base) = produce(&mut c, version, "pf", 0, 1, batch);
        assert_eq!((err, base), (NONE, next), "produce v{version}");
        next += 5;
    }

    for version in 4i16..=16 {
        let r: FetchResponse = c
            .send(
                version,
                &fetch_request("pf", topic_id, vec![fetch_partition(0, 0)]),
            )
            .unwrap_or_else(|e| panic!("fetch v{version}: {e}"));
        assert_eq!(r.error_code, NONE);
        let t = &r.responses[0];
        if version >= 13 {
            assert_eq!(t.topic_id, topic_id);
        } else {
            assert_eq!(t.topic.as_str(), "pf");
        }
        let p = &t.partitions[0];
        assert_eq!(
            (p.error_code, p.high_watermark),
            (NONE, 20),
            "fetch v{version}"
        );
        let got = decode(p.records.as_deref().unwrap());
        assert_eq!(got.len(), 20, "fetch v{version}");
        for (i, (offset, key, value)) in got.iter().enumerate() {
            assert_eq!(*offset, i as i64);
            assert_eq!(key, format!("k{}", i % 5).as_bytes());
            let tag = ["v3", "v7", "v9", "v11"][i / 5];
            assert_eq!(value, format!("{tag}-{}", i % 5).as_bytes());
        }
    }

    // Fetching from the middle of a batch returns that whole batch; at the end, nothing.
    let r: FetchResponse = c
        .send(
            11,
            &fetch_request("pf", topic_id, vec![fetch_partition(0, 7)]),
        )
        .unwrap();
    let got = decode(r.responses[0].partitions[0].records.as_deref().unwrap());
    assert_eq!(got.first().map(|r| r.0), Some(5));
    let r: FetchResponse = c
        .send(
            11,
            &fetch_request("pf", topic_id, vec![fetch_partition(0, 20)]),
        )
        .unwrap();
    assert_eq!(r.responses[0].partitions[0].error_code, NONE);
    assert!(r.responses[0].partitions[0]
        .records
        .as_deref()
        .unwrap_or_default()
        .is_empty());

    // Out of range, unknown partition, unknown topic id, leader epochs.
    let r: FetchResponse = c
        .send(
            11,
            &fetch_request("pf", topic_id, vec![fetch_partition(0, 21)]),
        )
        .unwrap();
    assert_eq!(r.responses[0].partitions[0].error_code, OFFSET_OUT_OF_RANGE);
    let r: FetchResponse = c
        .send(
            11,
            &fetch_request("pf", topic_id, vec![fetch_partition(9, 0)]),
        )
        .unwrap();
    assert_eq!(
        r.responses[0].partitions[0].error_code,
        UNKNOWN_TOPIC_OR_PARTITION
    );
    let r: FetchResponse = c
        .send(
            13,
            &fetch_request("pf", Uuid::from_u128(7), vec![fetch_partition(0, 0)]),
        )
        .unwrap();
    assert_eq!(r.responses[0].partitions[0].error_code, UNKNOWN_TOPIC_ID);
    let epoch_of = |c: &mut RawClient, epoch: i32| -> i16 {
        let r: FetchResponse = c
            .send(
                12,
                &fetch_request(
                    "pf",
                    topic_id,
                    vec![fetch_partition(0, 0).with_current_leader_epoch(epoch)],
                ),
            )
            .unwrap();
        r.responses[0].partitions[0].error_code
    };
    assert_eq!(epoch_of(&mut c, 0), NONE);
    assert_eq!(epoch_of(&mut c, 5), UNKNOWN_LEADER_EPOCH);
    let meta = c
        .send(12, &MetadataRequest::default().with_topics(None))
        .unwrap();
    assert_eq!(meta.topics[0].partitions[0].leader_epoch, 0);
    let _ = FENCED_LEADER_EPOCH; // needs a leader change: covered by the cluster tests.
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produce_refusals() {
    let (_zk, b) = start(&[]).await;
    let mut c = connect(&b);
    create_topic(&mut c, "small", 1, &[("max.message.bytes", "2000")]);
    create_topic(&mut c, "compacted", 1, &[("cleanup.policy", "compact")]);
    let now = 1_700_000_000_000;
    let ok = || build_batch(0, ProducerInfo::NONE, &records(2, "x", now));

    assert_eq!(
        produce(&mut c, 9, "small", 0, 2, ok()).0,
        INVALID_REQUIRED_ACKS
    );
    assert_eq!(
        produce(&mut c, 9, "nope", 0, 1, ok()).0,
        UNKNOWN_TOPIC_OR_PARTITION
    );
    assert_eq!(
        produce(&mut c, 9, "small", 3, 1, ok()).0,
        UNKNOWN_TOPIC_OR_PARTITION
    );
    assert_eq!(
        produce(&mut c, 9, "__consumer_offsets", 0, 1, ok()).0,
        INVALID_TOPIC_EXCEPTION
    );
    let big = build_batch(
        0,
        ProducerInfo::NONE,
        &[SimpleRecord::new(now, None, Some(&[7u8; 4000]))],
    );
    let r: ProduceResponse = c.send(9, &produce_request("small", 0, 1, big)).unwrap();
    let p = &r.responses[0].partition_responses[0];
    assert_eq!((p.error_code, p.base_offset), (MESSAGE_TOO_LARGE, -1));
    assert!(p.error_message.is_some(), "v8+ carries the error message");
    let mut corrupt = ok();
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0xff;
    assert_eq!(
        produce(&mut c, 9, "small", 0, 1, corrupt).0,
        CORRUPT_MESSAGE
    );
    let mut nonzero_base = ok();
    nonzero_base[..8].copy_from_slice(&5i64.to_be_bytes());
    assert_eq!(
        produce(&mut c, 9, "small", 0, 1, nonzero_base).0,
        INVALID_RECORD
    );
    let keyless = build_batch(
        0,
        ProducerInfo::NONE,
        &[SimpleRecord::new(now, None, Some(b"v"))],
    );
    assert_eq!(
        produce(&mut c, 9, "compacted", 0, 1, keyless).0,
        INVALID_RECORD
    );
    // Nothing of that was written: the next good batch gets offset 0.
    assert_eq!(produce(&mut c, 9, "small", 0, 1, ok()), (NONE, 0));
    assert_eq!(produce(&mut c, 9, "small", 0, -1, ok()), (NONE, 2));

    // acks=0: no response on success (the next answer is the Metadata one, with its own
    // correlation id, and the record is in the log) …
    let mut c0 = connect(&b);
    c0.send_without_response(9, &produce_request("small", 0, 0, ok()))
        .unwrap();
    c0.send(1, &MetadataRequest::default().with_topics(None))
        .expect("the connection answers the next request");
    let r: FetchResponse = c
        .send(
            11,
            &fetch_request("small", Uuid::nil(), vec![fetch_partition(0, 4)]),
        )
        .unwrap();
    assert_eq!(
        decode(r.responses[0].partitions[0].records.as_deref().unwrap()).len(),
        2
    );
    // … and on failure the connection is closed, so the client notices.
    let mut c0 = connect(&b);
    c0.send_without_response(9, &produce_request("nope", 0, 0, ok()))
        .unwrap();
    assert!(
        c0.send(1, &MetadataRequest::default().with_topics(None))
            .is_err(),
        "a failed acks=0 produce closes the connection"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_sessions_and_long_poll() {
    let (_zk, b) = start(&[]).await;
    let mut c = connect(&b);
    let topic_id = create_topic(&mut c, "sess", 2, &[]);
    let now = 1_700_000_000_000;
    produce(
        &mut c,
        9,
        "sess",
        0,
        1,
        build_batch(0, ProducerInfo::NONE, &records(3, "a", now)),
    );

    // Epoch 0 opens a session and answers everything.
    let full = fetch_request(
        "sess",
        topic_id,
        vec![fetch_partition(0, 0), fetch_partition(1, 0)],
    )
    .with_session_id(0)
    .with_session_epoch(0);
    let r: FetchResponse = c.send(12, &full).unwrap();
    assert_eq!(r.error_code, NONE);
    let session = r.session_id;
    assert!(session > 0, "a session was created");
    assert_eq!(r.responses[0].partitions.len(), 2);
    assert_eq!(
        decode(r.responses[0].partitions[0].records.as_deref().unwrap()).len(),
        3
    );

    // Epoch 1, moving partition 0 past its data: nothing changed → no partitions listed.
    let inc = |epoch: i32, partitions: Vec<FetchPartition>| {
        fetch_request("sess", topic_id, partitions)
            .with_session_id(session)
            .with_session_epoch(epoch)
    };
    let r: FetchResponse = c.send(12, &inc(1, vec![fetch_partition(0, 3)])).unwrap();
    assert_eq!((r.error_code, r.session_id), (NONE, session));
    assert!(r.responses.is_empty(), "{:?}", r.responses);

    // New data on partition 1 → only partition 1 comes back.
    produce(
        &mut c,
        9,
        "sess",
        1,
        1,
        build_batch(0, ProducerInfo::NONE, &records(2, "b", now)),
    );
    let r: FetchResponse = c.send(12, &inc(2, vec![])).unwrap();
    assert_eq!(r.responses.len(), 1);
    let parts: Vec<i32> = r.responses[0]
        .partitions
        .iter()
        .map(|p| p.partition_index)
        .collect();
    assert_eq!(parts, vec![1]);
    assert_eq!(
        decode(r.responses[0].partitions[0].records.as_deref().unwrap()).len(),
        2
    );

    // Wrong epoch, unknown session.
    let r: FetchResponse = c.send(12, &inc(7, vec![])).unwrap();
    assert_eq!(r.error_code, INVALID_FETCH_SESSION_EPOCH);
    let r: FetchResponse = c
        .send(12, &inc(3, vec![]).with_session_id(session.wrapping_add(1)))
        .unwrap();
    assert_eq!(r.error_code, FETCH_SESSION_ID_NOT_FOUND);

    // Forgetting partition 1 (it still has data from offset 0 for this session's offset 0).
    let forget = inc(3, vec![fetch_partition(0, 0)]).with_forgotten_topics_data(vec![
        ForgottenTopic::default()
            .with_topic(TopicName(s("sess")))
            .with_partitions(vec![1]),
    ]);
    let r: FetchResponse = c.send(12, &forget).unwrap();
    let parts: Vec<i32> = r
        .responses
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| p.partition_index))
        .collect();
    assert_eq!(parts, vec![0]);

    // Long poll: an empty partition, max_wait 20 s, min_bytes 1; another connection
    // produces shortly after. The fetch must come back with that data, not empty.
    let port = b.port();
    let producer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(500));
        let mut p = RawClient::connect(port).unwrap();
        let batch = build_batch(0, ProducerInfo::NONE, &records(1, "late", now));
        produce(&mut p, 9, "sess", 0, 1, batch)
    });
    let poll =
        fetch_request("sess", topic_id, vec![fetch_partition(0, 3)]).with_max_wait_ms(20_000);
    let r: FetchResponse = c.send(11, &poll).unwrap();
    assert_eq!(producer.join().unwrap(), (NONE, 3));
    let got = decode(r.responses[0].partitions[0].records.as_deref().unwrap());
    assert_eq!(
        got.len(),
        1,
        "the long poll returned the record appended while it waited"
    );
    assert_eq!(got[0].2, b"late-0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_offsets_delete_records_and_log_dirs() {
    let (_zk, b) = start(&[]).await;
    let mut c = connect(&b);
    create_topic(&mut c, "lo", 1, &[]);
    let t0 = 1_700_000_000_000;
    for i in 0..4 {
        let batch = build_batch(0, ProducerInfo::NONE, &records(10, "r", t0 + i * 1000));
        assert_eq!(produce(&mut c, 9, "lo", 0, 1, batch), (NONE, i * 10));
    }
    let list = |c: &mut RawClient, version: i16, ts: i64| {
        let req = ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_topics(vec![ListOffsetsTopic::default()
                .with_name(TopicName(s("lo")))
                .with_partitions(vec![ListOffsetsPartition::default()
                    .with_partition_index(0)
                    .with_timestamp(ts)
                    .with_max_num_offsets(1)])]);
        let r = c.send(version, &req).unwrap();
        r.topics[0].partitions[0].clone()
    };
    for version in 1i16..=9 {
        assert_eq!(list(&mut c, version, -1).offset, 40, "latest v{version}");
        assert_eq!(list(&mut c, version, -2).offset, 0, "earliest v{version}");
        let p = list(&mut c, version, t0 + 2005);
        assert_eq!(
            (p.offset, p.timestamp),
            (25, t0 + 2005),
            "by timestamp v{version}"
        );
        assert_eq!(
            list(&mut c, version, t0 + 99_999).offset,
            -1,
            "past the end v{version}"
        );
    }
    let p = list(&mut c, 7, -3);
    assert_eq!((p.offset, p.timestamp), (39, t0 + 3009), "max timestamp");
    assert_eq!(list(&mut c, 0, -1).old_style_offsets, vec![40]);

    // DeleteRecords: before 15 → low watermark 15, earliest 15; above the HW → refused.
    let delete = |c: &mut RawClient, offset: i64| {
        let req = DeleteRecordsRequest::default()
            .with_timeout_ms(5000)
            .with_topics(vec![DeleteRecordsTopic::default()
                .with_name(TopicName(s("lo")))
                .with_partitions(vec![DeleteRecordsPartition::default()
                    .with_partition_index(0)
                    .with_offset(offset)])]);
        let r = c.send(2, &req).unwrap();
        let p = &r.topics[0].partitions[0];
        (p.error_code, p.low_watermark)
    };
    assert_eq!(delete(&mut c, 15), (NONE, 15));
    assert_eq!(list(&mut c, 5, -2).offset, 15);
    assert_eq!(delete(&mut c, 41).0, OFFSET_OUT_OF_RANGE);
    let r: FetchResponse = c
        .send(
            11,
            &fetch_request("lo", Uuid::nil(), vec![fetch_partition(0, 3)]),
        )
        .unwrap();
    assert_eq!(r.responses[0].partitions[0].error_code, OFFSET_OUT_OF_RANGE);

    // DescribeLogDirs lists the partition in the broker's log dir with its size.
    for version in [0i16, 4] {
        let r = c
            .send(
                version,
                &DescribeLogDirsRequest::default().with_topics(Some(vec![
                    DescribableLogDirTopic::default()
                        .with_topic(TopicName(s("lo")))
                        .with_partitions(vec![0]),
                ])),
            )
            .unwrap();
        assert_eq!(r.results.len(), 1);
        let dir = &r.results[0];
        assert_eq!(dir.log_dir.as_str(), b.log_dir().display().to_string());
        assert_eq!(dir.topics[0].name.as_str(), "lo");
        assert!(dir.topics[0].partitions[0].partition_size > 0);
        if version >= 4 {
            assert!(dir.total_bytes > 0 && dir.usable_bytes > 0);
        }
    }
}
