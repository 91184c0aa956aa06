//! Topic creation through the controller: a topic written to `/brokers/topics/<t>` (as an
//! admin tool would) gets a topic id, partition state znodes (leader = first live replica,
//! ISR = live replicas), LeaderAndIsr to its replicas (which create the partition logs with
//! `partition.metadata`) and UpdateMetadata (so `kcat -L` lists it). Real ZooKeeper, real
//! broker processes; every wait is bounded.

use std::time::Duration;

use rafka_tests::create_topic_assignment;
use rafka_tests::zookeeper_client::Client;
use rafka_tests::{
    get_znode_json, kcat_partitions, kcat_wait_for_brokers, poll_until, wait_for_znode, zk_client,
    BrokerProcess, EmbeddedZookeeper,
};

const TIMEOUT: Duration = Duration::from_secs(30);

/// `(partition, leader, sorted replicas, sorted isr)`.
type PartitionRow = (i64, i64, Vec<i64>, Vec<i64>);

/// The partitions of `topic` from `kcat -L -J -t topic`, once every partition has a leader.
fn kcat_topic(bootstrap: &str, topic: &str) -> Option<Vec<PartitionRow>> {
    let parts = kcat_partitions(bootstrap, topic)?;
    parts.iter().all(|p| p.leader >= 0).then(|| {
        parts
            .into_iter()
            .map(|p| (p.partition, p.leader, p.replicas, p.isr))
            .collect()
    })
}

/// Waits until `/brokers/topics/<t>` carries a topic id; returns it.
async fn wait_topic_id(client: &Client, topic: &str) -> String {
    let path = format!("/brokers/topics/{topic}");
    for _ in 0..(TIMEOUT.as_millis() / 100) {
        if let Some(json) = get_znode_json(client, &path).await {
            if let Some(id) = json["topic_id"].as_str() {
                return id.to_string();
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{path} never got a topic_id");
}

fn partition_metadata(b: &BrokerProcess, topic: &str, p: i32) -> Option<String> {
    std::fs::read_to_string(
        b.log_dir()
            .join(format!("{topic}-{p}"))
            .join("partition.metadata"),
    )
    .ok()
}

#[tokio::test]
async fn a_new_topic_gets_states_logs_and_metadata() {
    let zk = EmbeddedZookeeper::start();
    let b = BrokerProcess::builder()
        .broker_id(1)
        .zookeeper(zk.connect_string())
        .start();
    let client = zk_client(&zk.connect_string()).await;
    wait_for_znode(&client, "/controller", TIMEOUT).await;
    wait_for_znode(&client, "/brokers/ids/1", TIMEOUT).await;

    create_topic_assignment(&client, "t1", serde_json::json!({"0": [1], "1": [1]})).await;
    let topic_id = wait_topic_id(&client, "t1").await;
    let assignment = get_znode_json(&client, "/brokers/topics/t1").await.unwrap();
    assert_eq!(assignment["version"], 3);
    assert_eq!(
        assignment["partitions"],
        serde_json::json!({"0": [1], "1": [1]})
    );

    for p in 0..2 {
        let path = format!("/brokers/topics/t1/partitions/{p}/state");
        wait_for_znode(&client, &path, TIMEOUT).await;
        let state = get_znode_json(&client, &path).await.unwrap();
        assert_eq!(state["version"], 1, "{state}");
        assert_eq!(state["leader"], 1, "{state}");
        assert_eq!(state["leader_epoch"], 0, "{state}");
        assert_eq!(state["isr"], serde_json::json!([1]), "{state}");
        assert!(state["controller_epoch"].as_i64().unwrap() >= 1, "{state}");
    }

    let parts = poll_until(TIMEOUT, Duration::from_millis(250), || {
        kcat_topic(&b.bootstrap_servers(), "t1")
    })
    .unwrap_or_else(|| panic!("kcat never listed t1\n{}", b.logs()));
    assert_eq!(
        parts,
        vec![(0, 1, vec![1], vec![1]), (1, 1, vec![1], vec![1])]
    );

    for p in 0..2 {
        let content = poll_until(TIMEOUT, Duration::from_millis(100), || {
            partition_metadata(&b, "t1", p)
        })
        .unwrap_or_else(|| panic!("no partition.metadata for t1-{p}\n{}", b.logs()));
        assert_eq!(content, format!("version: 0\ntopic_id: {topic_id}"));
    }
}

#[tokio::test]
async fn replication_factor_two_creates_the_log_on_both_brokers() {
    let zk = EmbeddedZookeeper::start();
    let b1 = BrokerProcess::builder()
        .broker_id(1)
        .zookeeper(zk.connect_string())
        .start();
    let b2 = BrokerProcess::builder()
        .broker_id(2)
        .zookeeper(zk.connect_string())
        .start();
    let client = zk_client(&zk.connect_string()).await;
    wait_for_znode(&client, "/brokers/ids/1", TIMEOUT).await;
    wait_for_znode(&client, "/brokers/ids/2", TIMEOUT).await;
    // Both must be live at the controller before the topic appears, or the late one would
    // not be in the ISR: wait until kcat lists both brokers.
    assert!(
        kcat_wait_for_brokers(&b1.bootstrap_servers(), 2, TIMEOUT),
        "{}",
        b1.logs()
    );

    create_topic_assignment(&client, "rf2", serde_json::json!({"0": [2, 1]})).await;
    let topic_id = wait_topic_id(&client, "rf2").await;
    let state_path = "/brokers/topics/rf2/partitions/0/state";
    wait_for_znode(&client, state_path, TIMEOUT).await;
    let state = get_znode_json(&client, state_path).await.unwrap();
    assert_eq!(state["leader"], 2, "{state}");
    assert_eq!(state["isr"], serde_json::json!([2, 1]), "{state}");

    for b in [&b1, &b2] {
        let content = poll_until(TIMEOUT, Duration::from_millis(100), || {
            partition_metadata(b, "rf2", 0)
        })
        .unwrap_or_else(|| {
            panic!(
                "no partition.metadata on broker {}\n{}",
                b.broker_id(),
                b.logs()
            )
        });
        assert_eq!(content, format!("version: 0\ntopic_id: {topic_id}"));
        let parts = poll_until(TIMEOUT, Duration::from_millis(250), || {
            kcat_topic(&b.bootstrap_servers(), "rf2")
        })
        .unwrap_or_else(|| panic!("kcat never listed rf2\n{}", b.logs()));
        assert_eq!(parts, vec![(0, 2, vec![1, 2], vec![1, 2])]);
    }
}

#[tokio::test]
async fn a_restarted_controller_loads_existing_topics() {
    let zk = EmbeddedZookeeper::start();
    let mut b = BrokerProcess::builder()
        .broker_id(1)
        .zookeeper(zk.connect_string())
        .start();
    let client = zk_client(&zk.connect_string()).await;
    wait_for_znode(&client, "/brokers/ids/1", TIMEOUT).await;
    create_topic_assignment(&client, "kept", serde_json::json!({"0": [1]})).await;
    wait_for_znode(&client, "/brokers/topics/kept/partitions/0/state", TIMEOUT).await;
    let topic_id = wait_topic_id(&client, "kept").await;

    // After a restart the cache starts empty: only the new controller's failover
    // UpdateMetadata (with the existing partitions) can make kcat list the topic.
    b.restart();
    let parts = poll_until(TIMEOUT, Duration::from_millis(250), || {
        kcat_topic(&b.bootstrap_servers(), "kept")
    })
    .unwrap_or_else(|| panic!("kcat never listed kept after the restart\n{}", b.logs()));
    assert_eq!(parts, vec![(0, 1, vec![1], vec![1])]);
    // The id is unchanged and the state znode was not re-created.
    assert_eq!(wait_topic_id(&client, "kept").await, topic_id);
    let state = get_znode_json(&client, "/brokers/topics/kept/partitions/0/state")
        .await
        .unwrap();
    assert_eq!(state["leader_epoch"], 0);
}
