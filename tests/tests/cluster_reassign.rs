//! Partition reassignment on a real ZooKeeper with broker processes: kafkajs's
//! alterPartitionReassignments moves a partition to other brokers with its data; with raw
//! requests, an in-flight reassignment (its new replica paused with SIGSTOP) is visible in
//! `/brokers/topics/<t>` (adding/removing replicas) and ListPartitionReassignments, and
//! completes once the new replica catches up, the old replica's log deleted; cancellation
//! restores the original replicas; the legacy `/admin/reassign_partitions` znode moves a
//! partition and is deleted; invalid requests get Kafka's error codes. Every wait is bounded.

use std::time::Duration;

use kafka_protocol::messages::alter_partition_reassignments_request::{
    ReassignablePartition, ReassignableTopic,
};
use kafka_protocol::messages::list_partition_reassignments_request::ListPartitionReassignmentsTopics;
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse, BrokerId,
    ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use rafka_tests::zookeeper_client::{Acls, Client, CreateMode};
use rafka_tests::{
    create_topic_assignment, get_znode_json, node_script, poll_until, poll_until_async,
    wait_for_znode, wait_for_znode_gone, zk_client, BrokerProcess, EmbeddedZookeeper, RawClient,
};
use serde_json::{json, Value};

const TIMEOUT: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(100);

const NONE: i16 = 0;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const INVALID_REPLICA_ASSIGNMENT: i16 = 39;
const NOT_CONTROLLER: i16 = 41;
const NO_REASSIGNMENT_IN_PROGRESS: i16 = 85;

fn start_broker(zk: &EmbeddedZookeeper, id: i32) -> BrokerProcess {
    BrokerProcess::builder()
        .broker_id(id)
        .zookeeper(zk.connect_string())
        // Keep leadership where the test puts it.
        .prop("auto.leader.rebalance.enable", false)
        .start()
}

/// Starts brokers `ids` in order, the first one becoming the controller before the others
/// start, and waits for every registration.
async fn start_cluster(zk: &EmbeddedZookeeper, ids: &[i32]) -> (Client, Vec<BrokerProcess>) {
    let client = zk_client(&zk.connect_string()).await;
    let mut brokers = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        brokers.push(start_broker(zk, *id));
        wait_for_znode(&client, &format!("/brokers/ids/{id}"), TIMEOUT).await;
        if i == 0 {
            let controller = poll_until_async(TIMEOUT, POLL, || async {
                get_znode_json(&client, "/controller").await
            })
            .await
            .expect("a controller");
            assert_eq!(controller["brokerid"], json!(ids[0]));
        }
    }
    (client, brokers)
}

fn logs(brokers: &[BrokerProcess]) -> String {
    brokers
        .iter()
        .map(|b| format!("--- broker {} ---\n{}", b.broker_id(), b.logs()))
        .collect::<Vec<_>>()
        .join("\n")
}

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn alter(
    b: &BrokerProcess,
    topic: &str,
    partition: i32,
    replicas: Option<&[i32]>,
) -> AlterPartitionReassignmentsResponse {
    let request = AlterPartitionReassignmentsRequest::default()
        .with_timeout_ms(30_000)
        .with_topics(vec![ReassignableTopic::default()
            .with_name(TopicName(s(topic)))
            .with_partitions(vec![ReassignablePartition::default()
                .with_partition_index(partition)
                .with_replicas(
                    replicas.map(|r| r.iter().map(|b| BrokerId(*b)).collect()),
                )])]);
    RawClient::connect(b.port())
        .expect("connect")
        .send(0, &request)
        .expect("AlterPartitionReassignments")
}

/// The per-partition code of a one-partition AlterPartitionReassignments answer.
fn alter_code(r: &AlterPartitionReassignmentsResponse) -> i16 {
    assert_eq!(r.error_code, NONE, "top-level error: {r:?}");
    assert_eq!(r.responses.len(), 1, "{r:?}");
    assert_eq!(r.responses[0].partitions.len(), 1, "{r:?}");
    r.responses[0].partitions[0].error_code
}

fn list(b: &BrokerProcess, topics: Option<&[(&str, i32)]>) -> ListPartitionReassignmentsResponse {
    let request = ListPartitionReassignmentsRequest::default()
        .with_timeout_ms(30_000)
        .with_topics(topics.map(|ts| {
            ts.iter()
                .map(|(t, p)| {
                    ListPartitionReassignmentsTopics::default()
                        .with_name(TopicName(s(t)))
                        .with_partition_indexes(vec![*p])
                })
                .collect()
        }));
    RawClient::connect(b.port())
        .expect("connect")
        .send(0, &request)
        .expect("ListPartitionReassignments")
}

/// One listed reassignment: (topic, partition, replicas, adding, removing).
type Listed = (String, i32, Vec<i32>, Vec<i32>, Vec<i32>);

/// ListPartitionReassignments' partitions.
fn listed(r: &ListPartitionReassignmentsResponse) -> Vec<Listed> {
    assert_eq!(r.error_code, NONE, "{r:?}");
    let ids = |v: &[BrokerId]| v.iter().map(|b| b.0).collect::<Vec<_>>();
    r.topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(move |p| {
                (
                    t.name.0.to_string(),
                    p.partition_index,
                    ids(&p.replicas),
                    ids(&p.adding_replicas),
                    ids(&p.removing_replicas),
                )
            })
        })
        .collect()
}

async fn assignment(client: &Client, topic: &str) -> Value {
    get_znode_json(client, &format!("/brokers/topics/{topic}"))
        .await
        .expect("topic znode")
}

async fn wait_assignment(
    client: &Client,
    topic: &str,
    want: Value,
    brokers: &[BrokerProcess],
) -> Value {
    let found = poll_until_async(TIMEOUT, POLL, || async {
        let a = assignment(client, topic).await;
        (a["partitions"] == want
            && a["adding_replicas"] == json!({})
            && a["removing_replicas"] == json!({}))
        .then_some(a)
    })
    .await;
    match found {
        Some(a) => a,
        None => panic!(
            "assignment of {topic} never became {want} (last {})\n{}",
            assignment(client, topic).await,
            logs(brokers)
        ),
    }
}

/// Partition state znode: (leader, ISR).
async fn state(client: &Client, topic: &str, p: i32) -> Option<(i64, Vec<i64>)> {
    let v = get_znode_json(
        client,
        &format!("/brokers/topics/{topic}/partitions/{p}/state"),
    )
    .await?;
    let isr = v["isr"]
        .as_array()?
        .iter()
        .filter_map(Value::as_i64)
        .collect();
    Some((v["leader"].as_i64()?, isr))
}

fn values(tag: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{tag}-{i}")).collect()
}

/// Produces `values` to partition 0 on broker `b` (acks=-1), retrying while it is not ready.
fn produce(b: &BrokerProcess, topic: &str, values: &[String]) -> i64 {
    poll_until(TIMEOUT, Duration::from_millis(200), || {
        let mut c = RawClient::connect(b.port()).ok()?;
        match c.produce_values(topic, 0, -1, values).ok()? {
            (NONE, base) => Some(base),
            _ => None,
        }
    })
    .unwrap_or_else(|| {
        panic!(
            "produce to {topic} on broker {} failed\n{}",
            b.broker_id(),
            b.logs()
        )
    })
}

/// Waits until broker `b` leads partition 0 and serves exactly `want` from offset 0.
fn wait_records(b: &BrokerProcess, topic: &str, want: &[String]) {
    let expected: Vec<(i64, String)> = want
        .iter()
        .enumerate()
        .map(|(i, v)| (i as i64, v.clone()))
        .collect();
    let mut last = None;
    let ok = poll_until(TIMEOUT, Duration::from_millis(200), || {
        let mut c = RawClient::connect(b.port()).ok()?;
        let f = c.fetch_records(topic, 0, 0).ok()?;
        let done = f.error_code == NONE && f.records == expected;
        last = Some(f);
        done.then_some(())
    });
    assert!(
        ok.is_some(),
        "broker {} never served the {} records of {topic}-0 (last {last:?})\n{}",
        b.broker_id(),
        want.len(),
        b.logs()
    );
}

/// Waits until `<log dir>/<topic>-0` exists (or is gone) on broker `b`.
fn wait_partition_dir(b: &BrokerProcess, topic: &str, exists: bool) {
    let dir = b.log_dir().join(format!("{topic}-0"));
    let ok = poll_until(TIMEOUT, POLL, || (dir.is_dir() == exists).then_some(()));
    assert!(
        ok.is_some(),
        "{} should {}exist\n{}",
        dir.display(),
        if exists { "" } else { "not " },
        b.logs()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafkajs_moves_a_partition_to_other_brokers_with_its_data() {
    let zk = EmbeddedZookeeper::start();
    let (client, brokers) = start_cluster(&zk, &[1, 2, 3]).await;
    let topic = "moving";
    create_topic_assignment(&client, topic, json!({"0": [1]})).await;

    let out = tokio::task::block_in_place(|| {
        node_script("kafkajs_reassign.js")
            .args([
                brokers[0].bootstrap_servers(),
                topic.to_string(),
                "200".to_string(),
                "2,3".to_string(),
            ])
            .run_ok(|| logs(&brokers))
            .stdout_str()
    });
    let summary: Value = out
        .lines()
        .find_map(|l| serde_json::from_str(l).ok())
        .expect("the script's JSON summary");
    assert_eq!(summary["replicas"], json!([2, 3]), "{summary}");

    wait_assignment(&client, topic, json!({"0": [2, 3]}), &brokers).await;
    let (leader, mut isr) = state(&client, topic, 0).await.expect("state");
    isr.sort_unstable();
    assert!([2, 3].contains(&leader), "leader {leader}");
    assert_eq!(isr, vec![2, 3]);
    // The old replica is deleted from broker 1's disk; the new ones hold the data.
    wait_partition_dir(&brokers[0], topic, false);
    wait_partition_dir(&brokers[1], topic, true);
    wait_partition_dir(&brokers[2], topic, true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_in_flight_reassignment_is_listed_and_completes_when_the_new_replica_catches_up() {
    let zk = EmbeddedZookeeper::start();
    let (client, mut brokers) = start_cluster(&zk, &[1, 2]).await;
    let topic = "inflight";
    create_topic_assignment(&client, topic, json!({"0": [1]})).await;
    let before = values("before", 100);
    assert_eq!(produce(&brokers[0], topic, &before), 0);

    // Broker 2 is paused (still registered: its session outlives the pause) so the
    // reassignment cannot finish until it resumes.
    brokers[1].signal_stop();
    let code = alter_code(&alter(&brokers[0], topic, 0, Some(&[2])));
    let listed_now = listed(&list(&brokers[0], None));
    let znode = assignment(&client, topic).await;
    brokers[1].signal_cont();
    assert_eq!(code, NONE);
    assert_eq!(
        listed_now,
        vec![(topic.to_string(), 0, vec![2, 1], vec![2], vec![1])],
        "ListPartitionReassignments while broker 2 is paused"
    );
    assert_eq!(znode["partitions"], json!({"0": [2, 1]}), "{znode}");
    assert_eq!(znode["adding_replicas"], json!({"0": [2]}), "{znode}");
    assert_eq!(znode["removing_replicas"], json!({"0": [1]}), "{znode}");

    // Broker 2 catches up, joins the ISR, takes the leadership; broker 1's replica goes.
    wait_assignment(&client, topic, json!({"0": [2]}), &brokers).await;
    let st = poll_until_async(TIMEOUT, POLL, || async {
        state(&client, topic, 0)
            .await
            .filter(|(l, isr)| *l == 2 && isr == &vec![2])
    })
    .await;
    assert!(st.is_some(), "broker 2 leads alone\n{}", logs(&brokers));
    assert!(listed(&list(&brokers[0], None)).is_empty());
    wait_records(&brokers[1], topic, &before);
    wait_partition_dir(&brokers[0], topic, false);

    // Writes go on at the new leader, after the moved data.
    let after = values("after", 10);
    assert_eq!(produce(&brokers[1], topic, &after), 100);
    let all: Vec<String> = before.iter().chain(after.iter()).cloned().collect();
    wait_records(&brokers[1], topic, &all);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_reassignments_are_refused_and_a_cancel_restores_the_replicas() {
    let zk = EmbeddedZookeeper::start();
    let (client, mut brokers) = start_cluster(&zk, &[1, 2]).await;
    let topic = "cancelled";
    create_topic_assignment(&client, topic, json!({"0": [1]})).await;
    let data = values("kept", 20);
    produce(&brokers[0], topic, &data);

    // Only the controller (broker 1) takes these requests.
    let r = alter(&brokers[1], topic, 0, Some(&[2]));
    assert_eq!(r.error_code, NOT_CONTROLLER, "{r:?}");
    assert_eq!(list(&brokers[1], None).error_code, NOT_CONTROLLER);

    let c = &brokers[0];
    assert_eq!(
        alter_code(&alter(c, "nope", 0, Some(&[2]))),
        UNKNOWN_TOPIC_OR_PARTITION
    );
    assert_eq!(
        alter_code(&alter(c, topic, 7, Some(&[1]))),
        UNKNOWN_TOPIC_OR_PARTITION
    );
    assert_eq!(
        alter_code(&alter(c, topic, 0, Some(&[9]))),
        INVALID_REPLICA_ASSIGNMENT
    );
    assert_eq!(
        alter_code(&alter(c, topic, 0, Some(&[2, 2]))),
        INVALID_REPLICA_ASSIGNMENT
    );
    assert_eq!(
        alter_code(&alter(c, topic, 0, Some(&[]))),
        INVALID_REPLICA_ASSIGNMENT
    );
    assert_eq!(
        alter_code(&alter(c, topic, 0, None)),
        NO_REASSIGNMENT_IN_PROGRESS
    );
    assert_eq!(
        assignment(&client, topic).await["partitions"],
        json!({"0": [1]})
    );

    // Start a move to the paused broker 2, then cancel it before it can finish.
    brokers[1].signal_stop();
    let started = alter_code(&alter(&brokers[0], topic, 0, Some(&[2])));
    let cancelled = alter_code(&alter(&brokers[0], topic, 0, None));
    let listed_after_cancel = listed(&list(&brokers[0], Some(&[(topic, 0)])));
    brokers[1].signal_cont();
    assert_eq!((started, cancelled), (NONE, NONE));
    assert!(listed_after_cancel.is_empty(), "{listed_after_cancel:?}");
    wait_assignment(&client, topic, json!({"0": [1]}), &brokers).await;
    assert_eq!(state(&client, topic, 0).await.map(|s| s.0), Some(1));
    // The replica the cancelled move started on broker 2 is stopped and deleted.
    wait_partition_dir(&brokers[1], topic, false);
    wait_records(&brokers[0], topic, &data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_legacy_znode_moves_a_partition_and_is_deleted() {
    let zk = EmbeddedZookeeper::start();
    let (client, brokers) = start_cluster(&zk, &[1, 2]).await;
    let topic = "legacy";
    create_topic_assignment(&client, topic, json!({"0": [1]})).await;
    let data = values("legacy", 50);
    produce(&brokers[0], topic, &data);

    // What kafka-reassign-partitions.sh --zookeeper wrote before Kafka 3.0.
    let request =
        json!({"version": 1, "partitions": [{"topic": topic, "partition": 0, "replicas": [2]}]});
    client
        .create(
            "/admin/reassign_partitions",
            request.to_string().as_bytes(),
            &CreateMode::Persistent.with_acls(Acls::anyone_all()),
        )
        .await
        .expect("create /admin/reassign_partitions");

    wait_assignment(&client, topic, json!({"0": [2]}), &brokers).await;
    wait_for_znode_gone(&client, "/admin/reassign_partitions", TIMEOUT).await;
    wait_records(&brokers[1], topic, &data);
    wait_partition_dir(&brokers[0], topic, false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_controller_resumes_an_in_flight_reassignment() {
    let zk = EmbeddedZookeeper::start();
    let (client, mut brokers) = start_cluster(&zk, &[1, 2, 3]).await;
    let topic = "resumed";
    create_topic_assignment(&client, topic, json!({"0": [2]})).await;
    let data = values("resumed", 60);
    assert_eq!(produce(&brokers[1], topic, &data), 0);

    // The move to broker 3 starts while broker 3 is paused; then the controller dies.
    brokers[2].signal_stop();
    let code = alter_code(&alter(&brokers[0], topic, 0, Some(&[3])));
    brokers[0].signal_kill();
    brokers[2].signal_cont();
    assert_eq!(code, NONE);
    let znode = assignment(&client, topic).await;
    assert_eq!(znode["adding_replicas"], json!({"0": [3]}), "{znode}");

    // Another broker takes over (epoch 2) and finishes the reassignment from ZooKeeper.
    let controller = poll_until_async(Duration::from_secs(6 + 30), POLL, || async {
        let c = get_znode_json(&client, "/controller").await?;
        let epoch = get_znode_json(&client, "/controller_epoch").await?;
        (c["brokerid"] != json!(1) && epoch == json!(2)).then_some(c)
    })
    .await;
    assert!(
        controller.is_some(),
        "no new controller\n{}",
        logs(&brokers)
    );
    wait_assignment(&client, topic, json!({"0": [3]}), &brokers).await;
    let st = poll_until_async(TIMEOUT, POLL, || async {
        state(&client, topic, 0)
            .await
            .filter(|(l, isr)| *l == 3 && isr == &vec![3])
    })
    .await;
    assert!(st.is_some(), "broker 3 leads alone\n{}", logs(&brokers));
    wait_records(&brokers[2], topic, &data);
    wait_partition_dir(&brokers[1], topic, false);
}
