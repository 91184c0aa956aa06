//! Adding partitions the ZK-mode way against real brokers on a real ZooKeeper:
//! CreatePartitions (v1) on the controller validates as Kafka's `AdminZkClient.addPartitions`,
//! rewrites `/brokers/topics/<t>` (topic id kept), the controller's data watch on the topic
//! creates the new partitions (state znodes, LeaderAndIsr, UpdateMetadata) and the answer
//! comes once the metadata cache has them. `kcat -L` checks what clients see. Every wait is
//! bounded.

#[path = "support/admin_wire.rs"]
mod admin_wire;

use std::time::Duration;

use admin_wire::{
    create_partitions, create_topics, NewPartitions, INVALID_PARTITIONS,
    INVALID_REPLICA_ASSIGNMENT, INVALID_REQUEST, NONE, NOT_CONTROLLER, UNKNOWN_TOPIC_OR_PARTITION,
};
use rafka_tests::zookeeper_client::Client;
use rafka_tests::{
    get_znode_json, kcat_partitions, kcat_wait_for_brokers, poll_until, wait_for_znode, zk_client,
    BrokerProcess, EmbeddedZookeeper, KcatPartition,
};

const TIMEOUT: Duration = Duration::from_secs(30);

async fn assignment(client: &Client, topic: &str) -> serde_json::Value {
    get_znode_json(client, &format!("/brokers/topics/{topic}"))
        .await
        .unwrap_or_else(|| panic!("/brokers/topics/{topic} is missing"))
}

/// kcat's view of `topic` once it has `count` partitions, all with a leader.
fn kcat_with(b: &BrokerProcess, topic: &str, count: usize) -> Vec<KcatPartition> {
    poll_until(TIMEOUT, Duration::from_millis(250), || {
        kcat_partitions(&b.bootstrap_servers(), topic)
            .filter(|p| p.len() == count && p.iter().all(|p| p.leader >= 0))
    })
    .unwrap_or_else(|| {
        panic!(
            "kcat never showed {count} partitions of {topic} through broker {}: {:?}\n{}",
            b.broker_id(),
            kcat_partitions(&b.bootstrap_servers(), topic),
            b.logs()
        )
    })
}

/// Codes only, for compact assertions.
fn codes(r: &[(String, i16, Option<String>)]) -> Vec<(&str, i16)> {
    r.iter().map(|(n, c, _)| (n.as_str(), *c)).collect()
}

#[tokio::test]
async fn one_to_three_partitions_and_kafkas_checks() {
    let zk = EmbeddedZookeeper::start();
    let b = BrokerProcess::builder()
        .broker_id(1)
        .zookeeper(zk.connect_string())
        .start();
    let client = zk_client(&zk.connect_string()).await;
    wait_for_znode(&client, "/brokers/ids/1", TIMEOUT).await;
    assert!(
        kcat_wait_for_brokers(&b.bootstrap_servers(), 1, TIMEOUT),
        "{}",
        b.logs()
    );
    let r = create_topics(b.port(), &[("grow", 1, 1)], 10_000);
    assert_eq!(r, vec![("grow".to_string(), NONE)], "{}", b.logs());
    let before = assignment(&client, "grow").await;
    let topic_id = before["topic_id"].as_str().unwrap().to_string();

    // validate_only: accepted, nothing written.
    let r = create_partitions(b.port(), &[NewPartitions("grow", 5, None)], 10_000, true);
    assert_eq!(codes(&r), vec![("grow", NONE)], "{r:?}");
    assert_eq!(r[0].2, None);
    assert_eq!(assignment(&client, "grow").await, before);

    // 1 → 3: answered once the metadata cache has the partitions with leaders.
    let r = create_partitions(b.port(), &[NewPartitions("grow", 3, None)], 30_000, false);
    assert_eq!(codes(&r), vec![("grow", NONE)], "{r:?}\n{}", b.logs());
    let after = assignment(&client, "grow").await;
    assert_eq!(after["version"], 3);
    assert_eq!(after["topic_id"], topic_id.as_str());
    assert_eq!(
        after["partitions"],
        serde_json::json!({"0": [1], "1": [1], "2": [1]})
    );
    let parts = kcat_partitions(&b.bootstrap_servers(), "grow").expect("grow listed");
    let rows: Vec<(i64, i64)> = parts.iter().map(|p| (p.partition, p.leader)).collect();
    assert_eq!(rows, vec![(0, 1), (1, 1), (2, 1)]);
    for p in 0..3 {
        let state = get_znode_json(
            &client,
            &format!("/brokers/topics/grow/partitions/{p}/state"),
        )
        .await
        .unwrap_or_else(|| panic!("no state znode for grow-{p}"));
        assert_eq!(state["leader"], 1);
        let meta = poll_until(TIMEOUT, Duration::from_millis(100), || {
            std::fs::read_to_string(b.log_dir().join(format!("grow-{p}/partition.metadata"))).ok()
        })
        .unwrap_or_else(|| panic!("no log dir for grow-{p}\n{}", b.logs()));
        assert_eq!(meta, format!("version: 0\ntopic_id: {topic_id}"));
    }

    // Decreasing, or the same count: INVALID_PARTITIONS with Kafka's messages.
    let r = create_partitions(b.port(), &[NewPartitions("grow", 2, None)], 10_000, false);
    assert_eq!(codes(&r), vec![("grow", INVALID_PARTITIONS)]);
    assert_eq!(
        r[0].2.as_deref(),
        Some("Topic currently has 3 partitions, which is higher than the requested 2.")
    );
    let r = create_partitions(b.port(), &[NewPartitions("grow", 3, None)], 10_000, false);
    assert_eq!(codes(&r), vec![("grow", INVALID_PARTITIONS)]);
    assert_eq!(r[0].2.as_deref(), Some("Topic already has 3 partitions."));

    // Unknown topic; a topic listed twice (one result); bad explicit assignments.
    let r = create_partitions(
        b.port(),
        &[
            NewPartitions("nosuch", 2, None),
            NewPartitions("grow", 4, None),
            NewPartitions("grow", 5, None),
            NewPartitions("other", 1, None),
        ],
        10_000,
        false,
    );
    let mut got = codes(&r);
    got.sort();
    assert_eq!(
        got,
        vec![
            ("grow", INVALID_REQUEST),
            ("nosuch", UNKNOWN_TOPIC_OR_PARTITION),
            ("other", UNKNOWN_TOPIC_OR_PARTITION),
        ]
    );
    let r = create_partitions(
        b.port(),
        &[NewPartitions("grow", 5, Some(vec![vec![1]]))],
        10_000,
        false,
    );
    assert_eq!(codes(&r), vec![("grow", INVALID_REPLICA_ASSIGNMENT)]);
    let r = create_partitions(
        b.port(),
        &[NewPartitions("grow", 4, Some(vec![vec![9]]))],
        10_000,
        false,
    );
    assert_eq!(codes(&r), vec![("grow", INVALID_REPLICA_ASSIGNMENT)]);
    assert_eq!(
        r[0].2.as_deref(),
        Some("Unknown broker(s) in replica assignment: 9.")
    );
    // Nothing of that was written.
    assert_eq!(assignment(&client, "grow").await, after);
    assert_eq!(kcat_with(&b, "grow", 3).len(), 3);
}

#[tokio::test]
async fn explicit_assignment_on_two_brokers_and_not_controller_elsewhere() {
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
    for b in [&b1, &b2] {
        assert!(
            kcat_wait_for_brokers(&b.bootstrap_servers(), 2, TIMEOUT),
            "{}",
            b.logs()
        );
    }
    let (data, _) = wait_for_znode(&client, "/controller", TIMEOUT).await;
    let controller_id = serde_json::from_slice::<serde_json::Value>(&data).unwrap()["brokerid"]
        .as_i64()
        .unwrap();
    let (controller, other) = if controller_id == 1 {
        (&b1, &b2)
    } else {
        (&b2, &b1)
    };

    let r = create_topics(controller.port(), &[("pair", 1, 2)], 10_000);
    assert_eq!(r, vec![("pair".to_string(), NONE)], "{}", controller.logs());

    let r = create_partitions(
        other.port(),
        &[NewPartitions("pair", 3, None)],
        10_000,
        false,
    );
    assert_eq!(codes(&r), vec![("pair", NOT_CONTROLLER)]);
    assert_eq!(r[0].2, None);

    // Replication factor must match partition 0's.
    let r = create_partitions(
        controller.port(),
        &[NewPartitions("pair", 2, Some(vec![vec![1]]))],
        10_000,
        false,
    );
    assert_eq!(codes(&r), vec![("pair", INVALID_REPLICA_ASSIGNMENT)]);

    let r = create_partitions(
        controller.port(),
        &[NewPartitions("pair", 3, Some(vec![vec![2, 1], vec![1, 2]]))],
        30_000,
        false,
    );
    assert_eq!(codes(&r), vec![("pair", NONE)], "{}", controller.logs());
    let after = assignment(&client, "pair").await;
    assert_eq!(after["partitions"]["1"], serde_json::json!([2, 1]));
    assert_eq!(after["partitions"]["2"], serde_json::json!([1, 2]));
    for b in [&b1, &b2] {
        let parts = kcat_with(b, "pair", 3);
        let rows: Vec<(i64, i64, Vec<i64>)> = parts
            .iter()
            .map(|p| (p.partition, p.leader, p.isr.clone()))
            .collect();
        assert_eq!(rows[1], (1, 2, vec![1, 2]));
        assert_eq!(rows[2], (2, 1, vec![1, 2]));
        for p in 0..3 {
            let dir = b.log_dir().join(format!("pair-{p}"));
            let present = poll_until(TIMEOUT, Duration::from_millis(100), || {
                dir.is_dir().then_some(())
            });
            assert!(present.is_some(), "{} missing\n{}", dir.display(), b.logs());
        }
    }
}
