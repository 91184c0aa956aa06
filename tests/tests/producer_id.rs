//! Producer ids (InitProducerId, key 22) against real brokers on a real ZooKeeper: every
//! broker hands out ids from blocks of 1000 claimed in `/latest_producer_id_block` (Kafka's
//! JSON, longs as strings), so brokers never hand out the same id, also across restarts;
//! managers racing on the znode in-process claim disjoint blocks; and an idempotent producer
//! on the wire: a resent batch is answered with its original offset and not written again,
//! a gap is OUT_OF_ORDER_SEQUENCE_NUMBER, and a clean stop leaves the producer state in the
//! partition's `.snapshot` file. Every wait is bounded.

use std::collections::BTreeSet;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::produce_response::PartitionProduceResponse;
use kafka_protocol::messages::{
    CreateTopicsRequest, InitProducerIdRequest, InitProducerIdResponse, ProduceRequest, ProducerId,
    TopicName, TransactionalId,
};
use kafka_protocol::protocol::StrBytes;
use rafka_core::log::producer_state::read_snapshot;
use rafka_core::record::{build_batch, ProducerInfo, SimpleRecord};
use rafka_core::server::producer_id_manager::ProducerIdManager;
use rafka_core::zk::zookeeper_client::ZkClientSettings;
use rafka_core::zk::{KafkaZkClient, ZkConnectString, ZooKeeperClient};
use rafka_tests::{
    get_znode, wait_for_znode, zk_client, BrokerProcess, EmbeddedZookeeper, RawClient,
};

const TIMEOUT: Duration = Duration::from_secs(30);
const INVALID_REQUEST: i16 = 42;
const OUT_OF_ORDER_SEQUENCE_NUMBER: i16 = 45;
/// Produce errors while a new partition gets its leader: UNKNOWN_TOPIC_OR_PARTITION,
/// LEADER_NOT_AVAILABLE, NOT_LEADER_OR_FOLLOWER.
const NOT_READY: [i16; 3] = [3, 5, 6];

fn broker(zk: &EmbeddedZookeeper, id: i32) -> BrokerProcess {
    BrokerProcess::builder()
        .broker_id(id)
        .zookeeper(zk.connect_string())
        .start()
}

fn init(
    c: &mut RawClient,
    version: i16,
    txn: Option<&str>,
    pid: i64,
    epoch: i16,
) -> InitProducerIdResponse {
    let req = InitProducerIdRequest::default()
        .with_transactional_id(txn.map(|t| TransactionalId(StrBytes::from_string(t.into()))))
        .with_transaction_timeout_ms(60_000)
        .with_producer_id(ProducerId(pid))
        .with_producer_epoch(epoch);
    c.send(version, &req)
        .unwrap_or_else(|e| panic!("InitProducerId v{version}: {e}"))
}

/// One idempotent producer id from the broker behind `c`, at `version`.
fn new_id(c: &mut RawClient, version: i16) -> i64 {
    let r = init(c, version, None, -1, -1);
    assert_eq!(
        (r.error_code, r.producer_epoch),
        (0, 0),
        "v{version}: {r:?}"
    );
    assert!(r.producer_id.0 >= 0);
    r.producer_id.0
}

async fn block_znode(client: &rafka_tests::zookeeper_client::Client) -> String {
    let (data, _) = get_znode(client, "/latest_producer_id_block")
        .await
        .expect("/latest_producer_id_block exists");
    String::from_utf8(data).expect("utf-8 JSON")
}

/// `/latest_producer_id_block` as Kafka writes it: compact JSON, version and broker numbers,
/// the inclusive bounds as strings (key order is not significant).
async fn assert_block(client: &rafka_tests::zookeeper_client::Client, broker: i32, start: i64) {
    let text = block_znode(client).await;
    assert!(!text.contains(char::is_whitespace), "not compact: {text}");
    let json: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(
        json,
        serde_json::json!({
            "version": 1,
            "broker": broker,
            "block_start": start.to_string(),
            "block_end": (start + 999).to_string(),
        }),
        "{text}"
    );
}

#[tokio::test]
async fn two_brokers_hand_out_disjoint_ids_from_blocks_in_zookeeper() {
    let zk = EmbeddedZookeeper::start();
    let mut b1 = broker(&zk, 1);
    let mut b2 = broker(&zk, 2);
    let client = zk_client(&zk.connect_string()).await;
    wait_for_znode(&client, "/brokers/ids/1", TIMEOUT).await;
    wait_for_znode(&client, "/brokers/ids/2", TIMEOUT).await;
    // Created empty at startup, as Kafka does; blocks are claimed on the first request.
    assert_eq!(block_znode(&client).await, "");

    let mut c1 = RawClient::connect_with_retry(b1.port(), TIMEOUT).unwrap();
    let mut c2 = RawClient::connect_with_retry(b2.port(), TIMEOUT).unwrap();
    let mut from_1 = Vec::new();
    let mut from_2 = Vec::new();
    // Every version, alternating brokers.
    for version in 0..=5 {
        from_1.push(new_id(&mut c1, version));
        from_2.push(new_id(&mut c2, version));
    }
    assert_eq!(from_1, (0..6).collect::<Vec<i64>>(), "{}", b1.logs());
    assert_eq!(from_2, (1000..1006).collect::<Vec<i64>>(), "{}", b2.logs());
    assert_block(&client, 2, 1000).await;

    // Broker 1 uses up its block and claims the next free one.
    for _ in 0..1000 {
        from_1.push(new_id(&mut c1, 4));
    }
    assert_eq!(&from_1[..1000], &(0..1000).collect::<Vec<i64>>()[..]);
    assert_eq!(&from_1[1000..], &(2000..2006).collect::<Vec<i64>>()[..]);
    assert_block(&client, 1, 2000).await;
    from_2.push(new_id(&mut c2, 3));
    assert_eq!(from_2.last(), Some(&1006));

    // A non-transactional producer that already has an id gets a fresh one, epoch 0 (v3+).
    let r = init(&mut c2, 3, None, 1006, 0);
    assert_eq!(
        (r.error_code, r.producer_id.0, r.producer_epoch),
        (0, 1007, 0)
    );
    from_2.push(1007);

    // Request errors: an id without an epoch, and transactions (not served).
    for (txn, pid, epoch) in [
        (None, 5, -1),
        (None, -1, 2),
        (Some("txn-1"), -1, -1),
        (Some(""), -1, -1),
    ] {
        let r = init(&mut c1, 4, txn, pid, epoch);
        assert_eq!(
            (r.error_code, r.producer_id.0, r.producer_epoch),
            (INVALID_REQUEST, -1, -1),
            "{txn:?} {pid} {epoch}"
        );
    }
    assert!(
        b1.logs().contains("does not support transactions"),
        "{}",
        b1.logs()
    );

    // A restarted broker claims a new block: nothing handed out before comes back.
    drop(c2);
    b2.restart();
    let mut c2 = RawClient::connect_with_retry(b2.port(), TIMEOUT).unwrap();
    let after_restart = new_id(&mut c2, 5);
    assert_eq!(after_restart, 3000, "{}", b2.logs());
    from_2.push(after_restart);
    assert_block(&client, 2, 3000).await;

    let all: BTreeSet<i64> = from_1.iter().chain(from_2.iter()).copied().collect();
    assert_eq!(
        all.len(),
        from_1.len() + from_2.len(),
        "an id was handed out twice"
    );
    b1.stop();
    b2.stop();
}

async fn manager(zk: &EmbeddedZookeeper, broker_id: i32) -> ProducerIdManager {
    let settings = ZkClientSettings {
        connect: ZkConnectString::parse(&zk.connect_string()).unwrap(),
        session_timeout: Duration::from_secs(18),
        connection_timeout: Duration::from_secs(18),
    };
    let (events, _) = tokio::sync::mpsc::unbounded_channel();
    let (client, _task) = ZooKeeperClient::start(settings, events).await.unwrap();
    ProducerIdManager::new(broker_id, KafkaZkClient::new(client))
}

/// Four managers on their own sessions race for blocks on a znode that does not exist yet
/// (no broker created it): the conditional create/setData makes every claim unique.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn managers_racing_for_blocks_never_share_an_id() {
    let zk = EmbeddedZookeeper::start();
    let mut tasks = Vec::new();
    for broker_id in 0..4 {
        let m = manager(&zk, broker_id).await;
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::with_capacity(2_500);
            for _ in 0..2_500 {
                ids.push(m.generate_producer_id().await.unwrap());
            }
            ids
        }));
    }
    let mut all = BTreeSet::new();
    for task in tasks {
        let ids = tokio::time::timeout(TIMEOUT * 4, task)
            .await
            .expect("managers finish")
            .unwrap();
        // Each manager hands out ids in increasing order, block by block.
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
        for id in ids {
            assert!(all.insert(id), "id {id} handed out twice");
        }
    }
    // 10 000 ids in 12 blocks at most (3 blocks per manager, each one used completely but the
    // last): the blocks are contiguous from 0.
    assert_eq!(all.len(), 10_000);
    let client = zk_client(&zk.connect_string()).await;
    let json: serde_json::Value = serde_json::from_str(&block_znode(&client).await).expect("JSON");
    assert_eq!(json["version"], 1);
    assert_eq!(json["block_start"], "11000");
    assert_eq!(json["block_end"], "11999");
    assert!(*all.iter().next_back().unwrap() <= 11_999);
}

fn idempotent_batch(pid: i64, epoch: i16, seq: i32, n: usize) -> Bytes {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let values: Vec<Vec<u8>> = (0..n)
        .map(|i| format!("seq-{}", seq as usize + i).into_bytes())
        .collect();
    let records: Vec<SimpleRecord> = values
        .iter()
        .map(|v| SimpleRecord::new(now, Some(b"key"), Some(v)))
        .collect();
    let producer = ProducerInfo {
        producer_id: pid,
        producer_epoch: epoch,
        base_sequence: seq,
    };
    Bytes::from(build_batch(0, producer, &records))
}

/// Produce v9 (acks=all) of one batch to partition 0 of `topic`.
fn produce(c: &mut RawClient, topic: &str, batch: Bytes) -> PartitionProduceResponse {
    let req = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(10_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_string(topic.into())))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(batch))])]);
    let mut r = c.send(9, &req).expect("Produce v9");
    r.responses
        .pop()
        .and_then(|mut t| t.partition_responses.pop())
        .expect("one partition response")
}

#[tokio::test]
async fn idempotent_retries_are_answered_with_the_original_offsets() {
    let zk = EmbeddedZookeeper::start();
    let mut b = broker(&zk, 1);
    let client = zk_client(&zk.connect_string()).await;
    wait_for_znode(&client, "/brokers/ids/1", TIMEOUT).await;
    let mut c = RawClient::connect_with_retry(b.port(), TIMEOUT).unwrap();
    let create = CreateTopicsRequest::default()
        .with_topics(vec![CreatableTopic::default()
            .with_name(TopicName(StrBytes::from_static_str("idem")))
            .with_num_partitions(1)
            .with_replication_factor(1)])
        .with_timeout_ms(10_000);
    // NOT_CONTROLLER (41) until this broker has won the election, then
    // INVALID_REPLICATION_FACTOR (38) until its metadata cache lists itself alive.
    let deadline = std::time::Instant::now() + TIMEOUT;
    let r = loop {
        let r = c.send(4, &create).expect("CreateTopics");
        let retriable = matches!(r.topics[0].error_code, 38 | 41);
        if !retriable || std::time::Instant::now() > deadline {
            break r;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(r.topics[0].error_code, 0, "{r:?}\n{}", b.logs());

    let pid = new_id(&mut c, 4);
    // The first produce waits for the partition to have its leader here.
    let deadline = std::time::Instant::now() + TIMEOUT;
    let first = loop {
        let r = produce(&mut c, "idem", idempotent_batch(pid, 0, 0, 3));
        if !NOT_READY.contains(&r.error_code) || std::time::Instant::now() > deadline {
            break r;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(
        (first.error_code, first.base_offset),
        (0, 0),
        "{}",
        b.logs()
    );
    let base = |r: &PartitionProduceResponse| (r.error_code, r.base_offset);
    // A retry of the same batch: same offset, nothing written.
    assert_eq!(
        base(&produce(&mut c, "idem", idempotent_batch(pid, 0, 0, 3))),
        (0, 0)
    );
    assert_eq!(
        base(&produce(&mut c, "idem", idempotent_batch(pid, 0, 3, 2))),
        (0, 3)
    );
    assert_eq!(
        base(&produce(&mut c, "idem", idempotent_batch(pid, 0, 0, 3))),
        (0, 0)
    );
    assert_eq!(
        base(&produce(&mut c, "idem", idempotent_batch(pid, 0, 3, 2))),
        (0, 3)
    );
    // A gap is refused.
    assert_eq!(
        produce(&mut c, "idem", idempotent_batch(pid, 0, 9, 1)).error_code,
        OUT_OF_ORDER_SEQUENCE_NUMBER
    );
    // The log holds offsets 0..=4 only: the next batch lands at 5.
    assert_eq!(
        base(&produce(&mut c, "idem", idempotent_batch(pid, 0, 5, 1))),
        (0, 5)
    );

    // A clean stop leaves the producer state in a snapshot at the log end (offset 6).
    drop(c);
    b.stop();
    let snapshot = b.log_dir().join("idem-0/00000000000000000006.snapshot");
    let entries = read_snapshot(&snapshot)
        .unwrap_or_else(|e| panic!("{}: {e}\n{}", snapshot.display(), b.logs()));
    assert_eq!(entries.len(), 1);
    assert_eq!(
        (
            entries[0].producer_id,
            entries[0].producer_epoch,
            entries[0].last_seq()
        ),
        (pid, 0, 5)
    );
    assert_eq!(entries[0].last_data_offset(), 5);
}
