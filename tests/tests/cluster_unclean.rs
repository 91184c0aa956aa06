//! Unclean leader election on request (ElectLeaders v1+ with `election_type` UNCLEAN) on a
//! real ZooKeeper with broker processes, `unclean.leader.election.enable=false`: an RF=2
//! partition whose ISR shrank to its leader goes offline when that leader dies, and stays
//! offline when the out-of-sync follower comes back; ElectLeaders UNCLEAN makes the follower
//! the leader with ISR = [it] (RECOVERING, IBP 3.9) in the state znode and in Metadata,
//! losing the records only the old leader had; partitions with a live leader answer
//! ELECTION_NOT_NEEDED, partitions without a live replica ELIGIBLE_LEADERS_NOT_AVAILABLE,
//! and v0 (no `election_type`) is a preferred election. Raw Kafka requests; every wait is
//! bounded.

use std::collections::BTreeMap;
use std::time::Duration;

use kafka_protocol::messages::elect_leaders_request::TopicPartitions;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{
    ElectLeadersRequest, ElectLeadersResponse, MetadataRequest, MetadataResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use rafka_tests::create_topic_assignment;
use rafka_tests::zookeeper_client::Client;
use rafka_tests::{
    broker_logs, controller_epoch, controller_id, fetch_once, get_partition_state, poll_until,
    poll_until_async, produce_until, tagged_values, wait_for_znode, zk_client, BrokerProcess,
    EmbeddedZookeeper, RawClient, BROKER_STOP_TIMEOUT,
};
use serde_json::{json, Value};

const TIMEOUT: Duration = Duration::from_secs(30);
/// A killed broker is noticed when its session (6 s in the harness) expires.
const FAILOVER_TIMEOUT: Duration = Duration::from_secs(6 + 20);

const NONE: i16 = 0;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const PREFERRED_LEADER_NOT_AVAILABLE: i16 = 80;
const ELIGIBLE_LEADERS_NOT_AVAILABLE: i16 = 83;
const ELECTION_NOT_NEEDED: i16 = 84;

const PREFERRED: i8 = 0;
const UNCLEAN: i8 = 1;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn start_broker(zk: &EmbeddedZookeeper, id: i32) -> BrokerProcess {
    BrokerProcess::builder()
        .broker_id(id)
        .zookeeper(zk.connect_string())
        .prop("unclean.leader.election.enable", false)
        .prop("auto.leader.rebalance.enable", false)
        .prop("replica.lag.time.max.ms", 2000)
        .prop("controlled.shutdown.retry.backoff.ms", 500)
        .start()
}

/// The partition state znode as JSON.
async fn state(client: &Client, topic: &str, partition: i32) -> Option<Value> {
    let (st, _) = get_partition_state(client, topic, partition).await?;
    Some(st)
}

fn leader(st: &Value) -> i64 {
    st["leader"].as_i64().unwrap_or(i64::MIN)
}

fn isr(st: &Value) -> Vec<i64> {
    st["isr"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_i64).collect())
        .unwrap_or_default()
}

/// Waits until the state znode satisfies `ok`; returns it (panics with the logs otherwise).
async fn wait_state(
    client: &Client,
    topic: &str,
    what: &str,
    timeout: Duration,
    ok: impl Fn(&Value) -> bool,
    brokers: &[&BrokerProcess],
) -> Value {
    let found = poll_until_async(timeout, Duration::from_millis(100), || async {
        state(client, topic, 0).await.filter(|st| ok(st))
    })
    .await;
    match found {
        Some(st) => st,
        None => panic!(
            "{what}: last state {:?}\n{}",
            state(client, topic, 0).await,
            broker_logs(brokers)
        ),
    }
}

/// ElectLeaders at `version` with `election_type` (v1+) for `partitions`: per-partition
/// error codes.
fn elect(
    port: u16,
    version: i16,
    election_type: i8,
    partitions: Vec<(&str, Vec<i32>)>,
) -> BTreeMap<(String, i32), i16> {
    let mut c = RawClient::connect(port).expect("connect");
    let request = ElectLeadersRequest::default()
        .with_election_type(election_type)
        .with_timeout_ms(10_000)
        .with_topic_partitions(Some(
            partitions
                .into_iter()
                .map(|(t, p)| {
                    TopicPartitions::default()
                        .with_topic(TopicName(s(t)))
                        .with_partitions(p)
                })
                .collect(),
        ));
    let r: ElectLeadersResponse = c.send(version, &request).expect("ElectLeaders");
    assert_eq!(r.error_code, NONE, "top-level error");
    r.replica_election_results
        .iter()
        .flat_map(|t| {
            t.partition_result
                .iter()
                .map(move |p| ((t.topic.0.to_string(), p.partition_id), p.error_code))
        })
        .collect()
}

fn key(t: &str, p: i32) -> (String, i32) {
    (t.to_string(), p)
}

/// Metadata v9 for partition 0 of `topic`: (error, leader, leader epoch, ISR).
fn metadata(port: u16, topic: &str) -> Option<(i16, i32, i32, Vec<i32>)> {
    let mut c = RawClient::connect(port).ok()?;
    let request = MetadataRequest::default()
        .with_topics(Some(vec![
            MetadataRequestTopic::default().with_name(Some(TopicName(s(topic))))
        ]))
        .with_allow_auto_topic_creation(false);
    let r: MetadataResponse = c.send(9, &request).ok()?;
    let p = r
        .topics
        .first()?
        .partitions
        .iter()
        .find(|p| p.partition_index == 0)?;
    Some((
        p.error_code,
        p.leader_id.0,
        p.leader_epoch,
        p.isr_nodes.iter().map(|b| b.0).collect(),
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn elect_leaders_unclean_revives_an_offline_partition_from_an_out_of_sync_replica() {
    let zk = EmbeddedZookeeper::start();
    let mut b1 = start_broker(&zk, 1);
    let mut b2 = start_broker(&zk, 2);
    let client = zk_client(&zk.connect_string()).await;
    for id in [1, 2] {
        wait_for_znode(&client, &format!("/brokers/ids/{id}"), TIMEOUT).await;
    }
    // "u": broker 1 leads, broker 2 follows. "solo": only on broker 1.
    create_topic_assignment(&client, "u", json!({"0": [1, 2]})).await;
    create_topic_assignment(&client, "solo", json!({"0": [1]})).await;
    let st = wait_state(
        &client,
        "u",
        "both replicas in the ISR",
        TIMEOUT,
        |st| isr(st).len() == 2,
        &[&b1, &b2],
    )
    .await;
    assert_eq!(leader(&st), 1, "the preferred replica leads");
    // Records both replicas have (acks=all with both in the ISR).
    assert_eq!(
        produce_until(&b1, "u", 0, -1, &tagged_values("both", 3), NONE),
        0
    );

    // The follower stops: the ISR shrinks to the leader, which takes records alone.
    b2.signal_term();
    assert!(
        b2.wait_exit(BROKER_STOP_TIMEOUT).is_some(),
        "broker 2 did not stop\n{}",
        b2.logs()
    );
    wait_state(
        &client,
        "u",
        "the ISR shrinks to the leader",
        FAILOVER_TIMEOUT,
        |st| leader(st) == 1 && isr(st) == [1],
        &[&b1, &b2],
    )
    .await;
    assert_eq!(
        produce_until(&b1, "u", 0, 1, &tagged_values("only-on-1", 2), NONE),
        3
    );

    // The leader dies; the follower comes back (out of sync). Unclean election is disabled:
    // once broker 2 is the controller the partition is offline, the ISR still [1].
    b1.signal_kill();
    assert!(b1.wait_exit(Duration::from_secs(10)).is_some());
    b2.restart();
    wait_for_znode(&client, "/brokers/ids/2", TIMEOUT).await;
    let offline = wait_state(
        &client,
        "u",
        "the partition goes offline",
        FAILOVER_TIMEOUT,
        |st| leader(st) == -1,
        &[&b1, &b2],
    )
    .await;
    assert_eq!(
        isr(&offline),
        [1],
        "the last in-sync replica stays in the ISR"
    );
    let ready = poll_until_async(FAILOVER_TIMEOUT, Duration::from_millis(100), || async {
        (controller_id(&client).await == Some(2)).then_some(())
    })
    .await;
    assert!(
        ready.is_some(),
        "broker 2 is not the controller\n{}",
        b2.logs()
    );
    let epoch = controller_epoch(&client).await;
    // Still offline a while later: nothing elects broker 2 by itself.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let still = state(&client, "u", 0).await.expect("state");
    assert_eq!(still, offline, "no automatic unclean election");

    // v0 carries no election type: a preferred election, and broker 1 (preferred) is dead.
    let r = elect(b2.port(), 0, PREFERRED, vec![("u", vec![0])]);
    assert_eq!(
        r.get(&key("u", 0)),
        Some(&PREFERRED_LEADER_NOT_AVAILABLE),
        "{r:?}"
    );
    assert_eq!(state(&client, "u", 0).await.expect("state"), offline);

    // UNCLEAN: the live out-of-sync replica leads; no live replica at all, or no partition,
    // fails per partition.
    let r = elect(
        b2.port(),
        2,
        UNCLEAN,
        vec![("u", vec![0, 9]), ("solo", vec![0]), ("missing", vec![0])],
    );
    assert_eq!(r.get(&key("u", 0)), Some(&NONE), "{r:?}");
    assert_eq!(
        r.get(&key("u", 9)),
        Some(&UNKNOWN_TOPIC_OR_PARTITION),
        "{r:?}"
    );
    assert_eq!(
        r.get(&key("solo", 0)),
        Some(&ELIGIBLE_LEADERS_NOT_AVAILABLE),
        "{r:?}"
    );
    assert_eq!(
        r.get(&key("missing", 0)),
        Some(&UNKNOWN_TOPIC_OR_PARTITION),
        "{r:?}"
    );
    let elected = state(&client, "u", 0).await.expect("state");
    assert_eq!(leader(&elected), 2, "{elected}");
    assert_eq!(
        isr(&elected),
        [2],
        "the unclean leader is the whole ISR: {elected}"
    );
    assert_eq!(
        elected["leader_epoch"].as_i64(),
        offline["leader_epoch"].as_i64().map(|e| e + 1),
        "{elected}"
    );
    assert_eq!(
        elected["controller_epoch"].as_i64(),
        Some(epoch),
        "{elected}"
    );
    // IBP 3.9: the unclean leader is RECOVERING (nothing changes the ISR afterwards here).
    assert_eq!(
        elected["leader_recovery_state"].as_i64(),
        Some(1),
        "{elected}"
    );
    let solo = state(&client, "solo", 0).await.expect("state");
    assert_eq!(leader(&solo), -1, "no replica of solo-0 is live: {solo}");

    // Metadata (UpdateMetadata from the controller) shows the new leader; broker 2 serves
    // the records it had, without those only broker 1 took, and takes new ones.
    let meta = poll_until(TIMEOUT, Duration::from_millis(200), || {
        metadata(b2.port(), "u").filter(|m| m.0 == NONE && m.1 == 2)
    })
    .unwrap_or_else(|| panic!("metadata {:?}\n{}", metadata(b2.port(), "u"), b2.logs()));
    assert_eq!(meta.2 as i64, leader_epoch_of(&elected));
    assert_eq!(meta.3, [2]);
    assert_eq!(
        produce_until(&b2, "u", 0, 1, &tagged_values("after", 2), NONE),
        3,
        "the unclean leader's log end"
    );
    let fetched = fetch_once(b2.port(), "u", 0, 0).expect("fetch answered");
    assert_eq!(fetched.error_code, NONE);
    assert_eq!(
        fetched.values(),
        [tagged_values("both", 3), tagged_values("after", 2)].concat()
    );

    // It has a live leader now.
    let r = elect(b2.port(), 1, UNCLEAN, vec![("u", vec![0])]);
    assert_eq!(r.get(&key("u", 0)), Some(&ELECTION_NOT_NEEDED), "{r:?}");
    let again = state(&client, "u", 0).await.expect("state");
    assert_eq!(
        again["leader_epoch"], elected["leader_epoch"],
        "no second election"
    );
}

fn leader_epoch_of(st: &Value) -> i64 {
    st["leader_epoch"].as_i64().unwrap_or(-1)
}
