//! ISR changes across broker processes on a real ZooKeeper: the controller shrinks the ISR
//! of a dead follower and the leader brings a restarted one back through AlterPartition;
//! `min.insync.replicas` refuses acks=all once the ISR is too small; a SIGTERMed leader's
//! controlled shutdown moves its leadership before it exits (no acknowledged record lost);
//! and the controller refuses stale AlterPartition requests. Raw Kafka requests; every wait
//! is bounded.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use kafka_protocol::messages::alter_partition_request::{PartitionData, TopicData};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    AlterPartitionRequest, AlterPartitionResponse, BrokerId, FetchRequest, FetchResponse,
    ProduceRequest, ProduceResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use rafka_core::record::{build_batch, decode_records, ProducerInfo, RecordBatch, SimpleRecord};
use rafka_tests::create_topic_assignment;
use rafka_tests::zookeeper_client::Client;
use rafka_tests::{
    get_znode, get_znode_json, poll_until, poll_until_async, wait_for_znode, zk_client,
    BrokerProcess, EmbeddedZookeeper, RawClient, BROKER_STOP_TIMEOUT,
};
use serde_json::{json, Value};

const TIMEOUT: Duration = Duration::from_secs(30);
/// A killed broker is noticed when its session (6 s in the harness) expires.
const FAILOVER_TIMEOUT: Duration = Duration::from_secs(6 + 20);
/// How long a restarted follower may take to rejoin the ISR once registered.
const REJOIN_TIMEOUT: Duration = Duration::from_secs(15);

const NONE: i16 = 0;
const NOT_LEADER_OR_FOLLOWER: i16 = 6;
const NOT_ENOUGH_REPLICAS: i16 = 19;
const NOT_CONTROLLER: i16 = 41;
const FENCED_LEADER_EPOCH: i16 = 74;
const STALE_BROKER_EPOCH: i16 = 77;
const INVALID_UPDATE_VERSION: i16 = 95;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn start_broker(zk: &EmbeddedZookeeper, id: i32, extra: &[(&str, &str)]) -> BrokerProcess {
    let mut b = BrokerProcess::builder()
        .broker_id(id)
        .zookeeper(zk.connect_string())
        .prop("controlled.shutdown.retry.backoff.ms", 500);
    for (k, v) in extra {
        b = b.prop(k, v);
    }
    b.start()
}

/// The partition state znode: (leader, leader epoch, ISR, zk version).
async fn state(client: &Client, topic: &str, partition: i32) -> Option<(i32, i32, Vec<i32>, i32)> {
    let (data, stat) = get_znode(
        client,
        &format!("/brokers/topics/{topic}/partitions/{partition}/state"),
    )
    .await?;
    let v: Value = serde_json::from_slice(&data).ok()?;
    let isr = v["isr"]
        .as_array()?
        .iter()
        .filter_map(|x| x.as_i64().map(|x| x as i32))
        .collect();
    Some((
        v["leader"].as_i64()? as i32,
        v["leader_epoch"].as_i64()? as i32,
        isr,
        stat.version,
    ))
}

/// Waits until the state znode satisfies `ok`; returns it.
async fn wait_state(
    client: &Client,
    topic: &str,
    what: &str,
    timeout: Duration,
    ok: impl Fn(&(i32, i32, Vec<i32>, i32)) -> bool,
    brokers: &[&BrokerProcess],
) -> (i32, i32, Vec<i32>, i32) {
    let found = poll_until_async(timeout, Duration::from_millis(100), || async {
        state(client, topic, 0).await.filter(|st| ok(st))
    })
    .await;
    match found {
        Some(st) => st,
        None => {
            let logs: Vec<String> = brokers
                .iter()
                .map(|b| format!("--- broker {} ---\n{}", b.broker_id(), b.logs()))
                .collect();
            panic!(
                "{what}: last state {:?}\n{}",
                state(client, topic, 0).await,
                logs.join("\n")
            )
        }
    }
}

fn records(n: usize, tag: &str) -> Vec<SimpleRecord> {
    (0..n)
        .map(|i| {
            SimpleRecord::new(
                1_700_000_000_000 + i as i64,
                Some(format!("k{i}").as_bytes()),
                Some(format!("{tag}-{i}").as_bytes()),
            )
        })
        .collect()
}

/// One Produce v9 of `n` records tagged `tag` to partition 0; (error, base offset), `None`
/// when the broker cannot be reached or the connection drops.
fn produce_once(port: u16, topic: &str, acks: i16, tag: &str, n: usize) -> Option<(i16, i64)> {
    let mut c = RawClient::connect(port).ok()?;
    let batch = build_batch(0, ProducerInfo::NONE, &records(n, tag));
    let request = ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(10_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(s(topic)))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(batch.into()))])]);
    let r: ProduceResponse = c.send(9, &request).ok()?;
    let p = r.responses.first()?.partition_responses.first()?;
    Some((p.error_code, p.base_offset))
}

/// Produces until the answer's error is `want` (bounded); returns the base offset.
fn produce_expect(b: &BrokerProcess, topic: &str, acks: i16, tag: &str, want: i16) -> i64 {
    let mut last = None;
    poll_until(TIMEOUT, Duration::from_millis(200), || {
        last = produce_once(b.port(), topic, acks, tag, 5);
        match last {
            Some((e, base)) if e == want => Some(base),
            _ => None,
        }
    })
    .unwrap_or_else(|| {
        panic!(
            "produce acks={acks} to broker {} never answered {want} (last {last:?})\n{}",
            b.broker_id(),
            b.logs()
        )
    })
}

/// Fetches partition 0 from offset 0 as a consumer (v11): (error, high watermark, values).
fn fetch(port: u16, topic: &str) -> Option<(i16, i64, Vec<String>)> {
    let mut c = RawClient::connect(port).ok()?;
    let request = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(0)
        .with_min_bytes(1)
        .with_max_bytes(50 << 20)
        .with_session_epoch(-1)
        .with_topics(vec![FetchTopic::default()
            .with_topic(TopicName(s(topic)))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(0)
                .with_fetch_offset(0)
                .with_partition_max_bytes(8 << 20)
                .with_current_leader_epoch(-1)
                .with_log_start_offset(-1)])]);
    let r: FetchResponse = c.send(11, &request).ok()?;
    let p = r.responses.first()?.partitions.first()?;
    let mut out = Vec::new();
    let mut rest: &[u8] = p.records.as_deref().unwrap_or_default();
    while rest.len() >= 61 {
        let size = 12 + i32::from_be_bytes(rest[8..12].try_into().unwrap()) as usize;
        if size > rest.len() {
            break;
        }
        let batch = RecordBatch::parse(&rest[..size]).expect("a v2 batch");
        batch.validate_crc().expect("CRC of a fetched batch");
        for r in decode_records(&batch).expect("records") {
            out.push(String::from_utf8(r.value.unwrap_or_default()).unwrap());
        }
        rest = &rest[size..];
    }
    Some((p.error_code, p.high_watermark, out))
}

/// Waits until `follower`'s segment file for `topic-0` equals `leader`'s.
async fn wait_logs_equal(leader: &BrokerProcess, follower: &BrokerProcess, topic: &str) {
    let name = format!("{topic}-0/00000000000000000000.log");
    let (a_path, b_path) = (leader.log_dir().join(&name), follower.log_dir().join(&name));
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let a = std::fs::read(&a_path).unwrap_or_default();
        let b = std::fs::read(&b_path).unwrap_or_default();
        if !a.is_empty() && a == b {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "follower {} log differs from leader {}'s ({} vs {} bytes)",
            follower.broker_id(),
            leader.broker_id(),
            b.len(),
            a.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn controller_id(client: &Client) -> Option<i32> {
    get_znode_json(client, "/controller")
        .await
        .and_then(|v| v["brokerid"].as_i64())
        .map(|v| v as i32)
}

/// Waits for every broker's registration.
async fn wait_registered(client: &Client, ids: &[i32]) {
    for id in ids {
        wait_for_znode(client, &format!("/brokers/ids/{id}"), TIMEOUT).await;
    }
}

/// (a) A killed follower leaves the ISR (controller); restarted, it catches up and the leader
/// brings it back through AlterPartition, with the same leader epoch and a new zk version.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_follower_rejoins_the_isr_through_alter_partition() {
    let zk = EmbeddedZookeeper::start();
    let b1 = start_broker(&zk, 1, &[]);
    let mut b2 = start_broker(&zk, 2, &[]);
    let client = zk_client(&zk.connect_string()).await;
    wait_registered(&client, &[1, 2]).await;
    create_topic_assignment(&client, "isr", json!({"0": [1, 2]})).await;
    let (leader, epoch0, isr, _) = wait_state(
        &client,
        "isr",
        "partition created",
        TIMEOUT,
        |st| st.2.len() == 2,
        &[&b1, &b2],
    )
    .await;
    assert_eq!((leader, epoch0, isr), (1, 0, vec![1, 2]));
    produce_expect(&b1, "isr", -1, "before", NONE);

    b2.signal_kill();
    assert!(b2.wait_exit(Duration::from_secs(10)).is_some());
    let (leader, shrunk_epoch, isr, shrunk_version) = wait_state(
        &client,
        "isr",
        "the controller shrinks the ISR of the dead follower",
        FAILOVER_TIMEOUT,
        |st| st.2 == [1],
        &[&b1],
    )
    .await;
    assert_eq!((leader, isr), (1, vec![1]));
    assert_eq!(
        shrunk_epoch,
        epoch0 + 1,
        "a controller ISR change bumps the epoch"
    );
    // Records the follower misses while it is down.
    produce_expect(&b1, "isr", -1, "while-down", NONE);
    produce_expect(&b1, "isr", 1, "while-down-acks1", NONE);

    b2.restart();
    wait_for_znode(&client, "/brokers/ids/2", FAILOVER_TIMEOUT).await;
    let (leader, epoch, isr, version) = wait_state(
        &client,
        "isr",
        "the restarted follower rejoins the ISR",
        REJOIN_TIMEOUT,
        |st| st.2.len() == 2,
        &[&b1, &b2],
    )
    .await;
    assert_eq!(leader, 1);
    assert_eq!(
        isr.iter().copied().collect::<BTreeSet<_>>(),
        BTreeSet::from([1, 2])
    );
    assert_eq!(epoch, shrunk_epoch, "AlterPartition keeps the leader epoch");
    assert!(version > shrunk_version, "the expansion was written");
    assert!(
        b1.wait_for_log("ISR updated", TIMEOUT),
        "the leader applied the controller's answer\n{}",
        b1.logs()
    );
    wait_logs_equal(&b1, &b2, "isr").await;
    // acks=all now needs both again and still works.
    produce_expect(&b1, "isr", -1, "after", NONE);
    wait_logs_equal(&b1, &b2, "isr").await;
}

/// (b) With min.insync.replicas=2 and two of three replicas stopped, acks=all is refused
/// (NOT_ENOUGH_REPLICAS) while acks=1 and consumer fetches still work; restarted, the
/// followers rejoin and acks=all works again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn min_insync_replicas_refuses_acks_all_until_the_isr_is_back() {
    let zk = EmbeddedZookeeper::start();
    let extra = [("min.insync.replicas", "2")];
    let b1 = start_broker(&zk, 1, &extra);
    let mut b2 = start_broker(&zk, 2, &extra);
    let mut b3 = start_broker(&zk, 3, &extra);
    let client = zk_client(&zk.connect_string()).await;
    wait_registered(&client, &[1, 2, 3]).await;
    create_topic_assignment(&client, "mir", json!({"0": [1, 2, 3]})).await;
    wait_state(
        &client,
        "mir",
        "partition created with a full ISR",
        TIMEOUT,
        |st| st.0 == 1 && st.2.len() == 3,
        &[&b1, &b2, &b3],
    )
    .await;
    let base = produce_expect(&b1, "mir", -1, "committed", NONE);
    assert_eq!(base, 0);

    for b in [&mut b2, &mut b3] {
        b.signal_term();
        assert!(
            b.wait_exit(BROKER_STOP_TIMEOUT).is_some(),
            "broker {} did not exit\n{}",
            b.broker_id(),
            b.logs()
        );
    }
    wait_state(
        &client,
        "mir",
        "the stopped followers leave the ISR",
        FAILOVER_TIMEOUT,
        |st| st.0 == 1 && st.2 == [1],
        &[&b1, &b2, &b3],
    )
    .await;
    produce_expect(&b1, "mir", -1, "refused", NOT_ENOUGH_REPLICAS);
    let acks1 = produce_expect(&b1, "mir", 1, "acks1", NONE);
    assert_eq!(acks1, 5, "the refused acks=all batch was not written");
    let (error, hw, values) = fetch(b1.port(), "mir").expect("fetch answered");
    assert_eq!(error, NONE);
    assert_eq!(
        hw, 10,
        "with the ISR at the leader alone everything is committed"
    );
    let expected: Vec<String> = (0..5)
        .map(|i| format!("committed-{i}"))
        .chain((0..5).map(|i| format!("acks1-{i}")))
        .collect();
    assert_eq!(values, expected);

    b2.restart();
    b3.restart();
    wait_registered(&client, &[2, 3]).await;
    wait_state(
        &client,
        "mir",
        "the restarted followers rejoin the ISR",
        TIMEOUT,
        |st| st.0 == 1 && st.2.len() == 3,
        &[&b1, &b2, &b3],
    )
    .await;
    assert_eq!(produce_expect(&b1, "mir", -1, "again", NONE), 10);
    wait_logs_equal(&b1, &b2, "mir").await;
    wait_logs_equal(&b1, &b3, "mir").await;
}

/// (c) SIGTERM on a partition leader: its controlled shutdown moves leadership to the other
/// ISR member (leader epoch + 1) before it exits, and a producer that retries acks=all
/// records against the current leader loses none of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controlled_shutdown_moves_leadership_before_the_leader_exits() {
    let zk = EmbeddedZookeeper::start();
    let mut b1 = start_broker(&zk, 1, &[]);
    let b2 = start_broker(&zk, 2, &[]);
    let client = zk_client(&zk.connect_string()).await;
    wait_registered(&client, &[1, 2]).await;
    create_topic_assignment(&client, "cs", json!({"0": [1, 2]})).await;
    let (_, epoch0, _, _) = wait_state(
        &client,
        "cs",
        "partition created",
        TIMEOUT,
        |st| st.0 == 1 && st.2.len() == 2,
        &[&b1, &b2],
    )
    .await;

    let ports = [(1, b1.port()), (2, b2.port())];
    let total = 60;
    let mut acked = Vec::new();
    for i in 0..total {
        if i == total / 3 {
            b1.signal_term();
        }
        let tag = format!("m{i}");
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let leader = state(&client, "cs", 0).await.map_or(-1, |st| st.0);
            let port = ports.iter().find(|(id, _)| *id == leader).map(|(_, p)| *p);
            let answer = port.and_then(|p| produce_once(p, "cs", -1, &tag, 1));
            match answer {
                Some((NONE, _)) => {
                    acked.push(format!("{tag}-0"));
                    break;
                }
                Some((NOT_LEADER_OR_FOLLOWER, _)) | Some((NOT_ENOUGH_REPLICAS, _)) | None => {}
                Some(other) => panic!("produce of {tag} answered {other:?}"),
            }
            assert!(
                Instant::now() < deadline,
                "record {tag} never acknowledged\n{}\n{}",
                b1.logs(),
                b2.logs()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let status = b1.wait_exit(BROKER_STOP_TIMEOUT).expect("broker 1 exits");
    assert!(status.success(), "clean exit: {status:?}\n{}", b1.logs());
    let logs = b1.logs();
    assert!(
        logs.contains("controlled shutdown succeeded"),
        "the stopping broker's controlled shutdown succeeded\n{logs}"
    );
    let (leader, epoch, isr, _) = state(&client, "cs", 0).await.expect("state");
    assert_eq!(leader, 2, "leadership moved to the other replica");
    assert_eq!(isr, vec![2]);
    assert_eq!(
        epoch,
        epoch0 + 1,
        "one election: the controlled one (a death would not bump it again: ISR already [2])"
    );
    // The move happened during the controlled shutdown, before broker 1 went away: its
    // shutdown log has the success before "shut down completed".
    let succeeded = logs.find("controlled shutdown succeeded").unwrap();
    let completed = logs
        .find("shut down completed")
        .expect("shutdown completed");
    assert!(succeeded < completed);

    let (error, _, values) = fetch(b2.port(), "cs").expect("fetch from the new leader");
    assert_eq!(error, NONE);
    let got: BTreeSet<&String> = values.iter().collect();
    for tag in &acked {
        assert!(
            got.contains(tag),
            "acknowledged record {tag} lost; got {values:?}"
        );
    }
    assert_eq!(acked.len(), total);
}

/// (d) The controller refuses stale AlterPartition requests (partition epoch, leader epoch,
/// broker epoch), answers NOT_CONTROLLER on other brokers, echoes a request matching the
/// current state, and leaves the state znode untouched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alter_partition_refuses_stale_requests() {
    let zk = EmbeddedZookeeper::start();
    let b1 = start_broker(&zk, 1, &[]);
    let mut b2 = start_broker(&zk, 2, &[]);
    let client = zk_client(&zk.connect_string()).await;
    wait_registered(&client, &[1, 2]).await;
    create_topic_assignment(&client, "ap", json!({"0": [1, 2]})).await;
    wait_state(
        &client,
        "ap",
        "partition created",
        TIMEOUT,
        |st| st.0 == 1 && st.2.len() == 2,
        &[&b1, &b2],
    )
    .await;
    // A follower's controlled shutdown takes it out of the ISR (controller write); back, it
    // rejoins through AlterPartition: both epochs move past 0.
    b2.stop();
    let (_, _, isr, _) = wait_state(
        &client,
        "ap",
        "the stopped follower leaves the ISR",
        TIMEOUT,
        |st| st.2 == [1],
        &[&b1, &b2],
    )
    .await;
    assert_eq!(isr, vec![1]);
    assert!(
        b2.logs().contains("controlled shutdown succeeded"),
        "{}",
        b2.logs()
    );
    b2.restart();
    wait_registered(&client, &[2]).await;
    let (leader, leader_epoch, isr, version) = wait_state(
        &client,
        "ap",
        "the follower rejoins",
        REJOIN_TIMEOUT,
        |st| st.2.len() == 2,
        &[&b1, &b2],
    )
    .await;
    assert_eq!(leader, 1);
    assert!(
        leader_epoch >= 1 && version >= 2,
        "{leader_epoch} {version}"
    );

    let (_, leader_stat) = get_znode(&client, "/brokers/ids/1")
        .await
        .expect("broker 1");
    let broker_epoch = leader_stat.czxid;
    let controller = controller_id(&client).await.expect("a controller");
    let port_of = |id: i32| if id == 1 { b1.port() } else { b2.port() };
    let request = |broker_epoch: i64, partition: i32, leader_epoch: i32, isr: &[i32], pe: i32| {
        AlterPartitionRequest::default()
            .with_broker_id(BrokerId(1))
            .with_broker_epoch(broker_epoch)
            .with_topics(vec![TopicData::default()
                .with_topic_name(TopicName(s("ap")))
                .with_partitions(vec![PartitionData::default()
                    .with_partition_index(partition)
                    .with_leader_epoch(leader_epoch)
                    .with_new_isr(isr.iter().map(|b| BrokerId(*b)).collect())
                    .with_partition_epoch(pe)])])
    };
    let send = |port: u16, r: &AlterPartitionRequest| -> AlterPartitionResponse {
        let mut c = RawClient::connect(port).expect("connect");
        c.send(1, r).expect("AlterPartition answered")
    };
    let partition_error = |r: &AlterPartitionResponse| {
        assert_eq!(r.error_code, NONE, "{r:?}");
        r.topics[0].partitions[0].error_code
    };
    let controller_port = port_of(controller);

    // Stale partition epoch, a real change (shrink to the leader).
    let r = send(
        controller_port,
        &request(broker_epoch, 0, leader_epoch, &[1], version - 1),
    );
    assert_eq!(partition_error(&r), INVALID_UPDATE_VERSION);
    // An older leader epoch.
    let r = send(
        controller_port,
        &request(broker_epoch, 0, leader_epoch - 1, &[1], version),
    );
    assert_eq!(partition_error(&r), FENCED_LEADER_EPOCH);
    // Unknown partition.
    let r = send(
        controller_port,
        &request(broker_epoch, 7, leader_epoch, &[1], version),
    );
    assert_eq!(partition_error(&r), UNKNOWN_TOPIC_OR_PARTITION);
    // A stale broker epoch: refused as a whole.
    let r = send(
        controller_port,
        &request(broker_epoch - 1, 0, leader_epoch, &[1], version),
    );
    assert_eq!(r.error_code, STALE_BROKER_EPOCH);
    // Another broker is not the controller.
    let r = send(
        port_of(3 - controller),
        &request(broker_epoch, 0, leader_epoch, &[1], version),
    );
    assert_eq!(r.error_code, NOT_CONTROLLER);
    // The current state again: echoed (idempotent), nothing written.
    let r = send(
        controller_port,
        &request(broker_epoch, 0, leader_epoch, &isr, version),
    );
    assert_eq!(partition_error(&r), NONE);
    let p = &r.topics[0].partitions[0];
    assert_eq!(
        (p.leader_id.0, p.leader_epoch, p.partition_epoch),
        (1, leader_epoch, version)
    );
    assert_eq!(p.isr.iter().map(|b| b.0).collect::<Vec<_>>(), isr);

    let now = state(&client, "ap", 0).await.expect("state");
    assert_eq!(
        now,
        (leader, leader_epoch, isr, version),
        "nothing was written"
    );
}
