//! Topic deletion the ZK-mode way against real brokers on a real ZooKeeper: DeleteTopics
//! (v1 by name, v6 by topic id) on the controller marks `/admin/delete_topics/<t>`, the
//! controller tells every broker (UpdateMetadata with leader −2, then StopReplica with
//! delete), the brokers delete the logs, and the controller removes the topic's znodes.
//! `kcat -L` (librdkafka) checks what clients see. Every wait is bounded.

#[path = "support/admin_wire.rs"]
mod admin_wire;

use std::time::Duration;

use admin_wire::{
    create_topics, delete_topics_v1, delete_topics_v6, topic_id_bytes, Deleted, INVALID_REQUEST,
    NONE, NOT_CONTROLLER, TOPIC_DELETION_DISABLED, UNKNOWN_TOPIC_ID, UNKNOWN_TOPIC_OR_PARTITION,
};
use rafka_tests::zookeeper_client::{Acls, Client, CreateMode};
use rafka_tests::{
    get_znode, get_znode_json, kcat_metadata, kcat_partitions, kcat_wait_for_brokers, poll_until,
    wait_for_znode, wait_for_znode_gone, wait_until, zk_client, BrokerProcess, EmbeddedZookeeper,
};

const TIMEOUT: Duration = Duration::from_secs(30);

fn broker(zk: &EmbeddedZookeeper, id: i32) -> BrokerProcess {
    BrokerProcess::builder()
        .broker_id(id)
        .zookeeper(zk.connect_string())
        // `-delete` dirs go soon after the rename, so "no dir left" can be checked.
        .prop("log.segment.delete.delay.ms", 100)
        .start()
}

/// Names of the entries of the broker's log dir that belong to `topic` (partition dirs and
/// their `-delete` renames).
fn topic_dirs(b: &BrokerProcess, topic: &str) -> Vec<String> {
    let prefix = format!("{topic}-");
    let mut names: Vec<String> = std::fs::read_dir(b.log_dir())
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| {
                    n.strip_prefix(&prefix)
                        .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
                })
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn wait_dirs(b: &BrokerProcess, topic: &str, expected: &[&str]) {
    let want: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
    let ok = wait_until(TIMEOUT, Duration::from_millis(100), || {
        topic_dirs(b, topic) == want
    });
    assert!(
        ok,
        "broker {} log dir for {topic}: {:?}, expected {want:?}\n{}",
        b.broker_id(),
        topic_dirs(b, topic),
        b.logs()
    );
}

/// Whether `kcat -L` (all topics, which never auto-creates) through `b` lists `topic`.
fn kcat_lists(b: &BrokerProcess, topic: &str) -> bool {
    let json = kcat_metadata(&b.bootstrap_servers(), None)
        .unwrap_or_else(|| panic!("kcat -L failed\n{}", b.logs()));
    json["topics"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|t| t["topic"] == topic)
}

async fn topic_id(client: &Client, topic: &str) -> String {
    get_znode_json(client, &format!("/brokers/topics/{topic}"))
        .await
        .and_then(|j| j["topic_id"].as_str().map(str::to_string))
        .unwrap_or_else(|| panic!("/brokers/topics/{topic} has no topic id"))
}

async fn controller_id(client: &Client) -> i64 {
    let (data, _) = wait_for_znode(client, "/controller", TIMEOUT).await;
    let json: serde_json::Value = serde_json::from_slice(&data).unwrap();
    json["brokerid"].as_i64().unwrap()
}

async fn assert_topic_znodes_gone(client: &Client, topic: &str) {
    for path in [
        format!("/admin/delete_topics/{topic}"),
        format!("/brokers/topics/{topic}"),
        format!("/config/topics/{topic}"),
    ] {
        wait_for_znode_gone(client, &path, TIMEOUT).await;
    }
}

#[tokio::test]
async fn delete_on_one_broker_removes_znodes_logs_and_metadata_and_the_name_can_be_reused() {
    let zk = EmbeddedZookeeper::start();
    let b = broker(&zk, 1);
    let client = zk_client(&zk.connect_string()).await;
    wait_for_znode(&client, "/brokers/ids/1", TIMEOUT).await;
    assert!(
        kcat_wait_for_brokers(&b.bootstrap_servers(), 1, TIMEOUT),
        "{}",
        b.logs()
    );

    let r = create_topics(b.port(), &[("doomed", 3, 1)], 10_000);
    assert_eq!(r, vec![("doomed".to_string(), NONE)], "{}", b.logs());
    let first_id = topic_id(&client, "doomed").await;
    wait_dirs(&b, "doomed", &["doomed-0", "doomed-1", "doomed-2"]);
    assert!(kcat_lists(&b, "doomed"));

    // Unknown topics are refused without touching anything.
    assert_eq!(
        delete_topics_v1(b.port(), &["nosuch"], 5_000),
        vec![("nosuch".to_string(), UNKNOWN_TOPIC_OR_PARTITION)]
    );
    assert!(get_znode(&client, "/admin/delete_topics/nosuch")
        .await
        .is_none());

    // The answer comes once the broker's metadata cache has dropped the topic.
    let r = delete_topics_v1(b.port(), &["doomed"], 30_000);
    assert_eq!(r, vec![("doomed".to_string(), NONE)], "{}", b.logs());
    assert!(!kcat_lists(&b, "doomed"), "kcat still lists doomed");
    assert_topic_znodes_gone(&client, "doomed").await;
    wait_dirs(&b, "doomed", &[]);
    assert!(
        b.logs()
            .contains("deletion of topic successfully completed"),
        "{}",
        b.logs()
    );

    // The name is free again: a new topic with a new id.
    let r = create_topics(b.port(), &[("doomed", 1, 1)], 10_000);
    assert_eq!(r, vec![("doomed".to_string(), NONE)], "{}", b.logs());
    let second_id = topic_id(&client, "doomed").await;
    assert_ne!(first_id, second_id);
    let parts = kcat_partitions(&b.bootstrap_servers(), "doomed").expect("doomed listed");
    assert_eq!(parts.len(), 1);
    assert_eq!(parts[0].leader, 1);
    wait_dirs(&b, "doomed", &["doomed-0"]);
    let meta = std::fs::read_to_string(b.log_dir().join("doomed-0/partition.metadata")).unwrap();
    assert_eq!(meta, format!("version: 0\ntopic_id: {second_id}"));
}

#[tokio::test]
async fn delete_on_two_brokers_by_topic_id_and_not_controller_elsewhere() {
    let zk = EmbeddedZookeeper::start();
    let b1 = broker(&zk, 1);
    let b2 = broker(&zk, 2);
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
    let (controller, other) = if controller_id(&client).await == 1 {
        (&b1, &b2)
    } else {
        (&b2, &b1)
    };

    let r = create_topics(controller.port(), &[("wide", 4, 2)], 10_000);
    assert_eq!(r, vec![("wide".to_string(), NONE)], "{}", controller.logs());
    let all = ["wide-0", "wide-1", "wide-2", "wide-3"];
    for b in [&b1, &b2] {
        wait_dirs(b, "wide", &all);
    }
    let id_text = topic_id(&client, "wide").await;
    let id = topic_id_bytes(&id_text);

    // Only the controller serves DeleteTopics.
    assert_eq!(
        delete_topics_v1(other.port(), &["wide"], 5_000),
        vec![("wide".to_string(), NOT_CONTROLLER)]
    );
    let r = delete_topics_v6(other.port(), &[(None, id)], 5_000);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].error_code, NOT_CONTROLLER);
    assert!(get_znode(&client, "/admin/delete_topics/wide")
        .await
        .is_none());

    // v6: name and id together is an invalid request; an unknown id is UNKNOWN_TOPIC_ID.
    let r = delete_topics_v6(controller.port(), &[(Some("wide"), id)], 5_000);
    assert_eq!(r[0].error_code, INVALID_REQUEST);
    let r = delete_topics_v6(controller.port(), &[(None, [7u8; 16])], 5_000);
    assert_eq!(
        r,
        vec![Deleted {
            name: None,
            topic_id: [7u8; 16],
            error_code: UNKNOWN_TOPIC_ID,
            error_message: None,
        }]
    );

    // By id: the answer names the topic.
    let r = delete_topics_v6(controller.port(), &[(None, id)], 30_000);
    assert_eq!(
        r,
        vec![Deleted {
            name: Some("wide".to_string()),
            topic_id: id,
            error_code: NONE,
            error_message: None,
        }],
        "{}",
        controller.logs()
    );
    assert_topic_znodes_gone(&client, "wide").await;
    for b in [&b1, &b2] {
        wait_dirs(b, "wide", &[]);
        let gone = wait_until(TIMEOUT, Duration::from_millis(250), || {
            !kcat_lists(b, "wide")
        });
        assert!(
            gone,
            "broker {} still lists wide\n{}",
            b.broker_id(),
            b.logs()
        );
    }

    // Re-created with the same name and replication factor 2.
    let r = create_topics(controller.port(), &[("wide", 2, 2)], 10_000);
    assert_eq!(r, vec![("wide".to_string(), NONE)], "{}", controller.logs());
    for b in [&b1, &b2] {
        wait_dirs(b, "wide", &["wide-0", "wide-1"]);
    }
}

#[tokio::test]
async fn a_replica_on_a_stopped_broker_is_deleted_when_it_comes_back() {
    let zk = EmbeddedZookeeper::start();
    let mut b1 = broker(&zk, 1);
    let mut b2 = broker(&zk, 2);
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
    let b1_controls = controller_id(&client).await == 1;
    let (controller, other) = if b1_controls {
        (&mut b1, &mut b2)
    } else {
        (&mut b2, &mut b1)
    };
    let r = create_topics(controller.port(), &[("later", 2, 2)], 10_000);
    assert_eq!(
        r,
        vec![("later".to_string(), NONE)],
        "{}",
        controller.logs()
    );
    for b in [&*controller, &*other] {
        wait_dirs(b, "later", &["later-0", "later-1"]);
    }

    other.stop();
    assert!(
        kcat_wait_for_brokers(&controller.bootstrap_servers(), 1, TIMEOUT),
        "{}",
        controller.logs()
    );
    let r = delete_topics_v1(controller.port(), &["later"], 30_000);
    assert_eq!(
        r,
        vec![("later".to_string(), NONE)],
        "{}",
        controller.logs()
    );
    wait_dirs(controller, "later", &[]);
    // The stopped broker's replicas are not deleted yet, so the topic stays queued.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(get_znode(&client, "/admin/delete_topics/later")
        .await
        .is_some());
    assert!(get_znode(&client, "/brokers/topics/later").await.is_some());
    assert_eq!(topic_dirs(other, "later"), vec!["later-0", "later-1"]);

    // Back with a new registration: the controller retries, the broker deletes the logs it
    // loaded at startup, and the deletion completes.
    other.restart();
    assert_topic_znodes_gone(&client, "later").await;
    wait_dirs(other, "later", &[]);
    assert!(!kcat_lists(other, "later"));
}

#[tokio::test]
async fn deletion_disabled_refuses_and_the_controller_drops_requests() {
    let zk = EmbeddedZookeeper::start();
    let b = BrokerProcess::builder()
        .broker_id(1)
        .zookeeper(zk.connect_string())
        .prop("delete.topic.enable", false)
        .start();
    let client = zk_client(&zk.connect_string()).await;
    wait_for_znode(&client, "/brokers/ids/1", TIMEOUT).await;
    assert!(
        kcat_wait_for_brokers(&b.bootstrap_servers(), 1, TIMEOUT),
        "{}",
        b.logs()
    );
    let r = create_topics(b.port(), &[("kept", 1, 1)], 10_000);
    assert_eq!(r, vec![("kept".to_string(), NONE)], "{}", b.logs());

    // v1 has no TOPIC_DELETION_DISABLED: INVALID_REQUEST; v3+ (here v6) does.
    assert_eq!(
        delete_topics_v1(b.port(), &["kept"], 5_000),
        vec![("kept".to_string(), INVALID_REQUEST)]
    );
    let r = delete_topics_v6(b.port(), &[(Some("kept"), [0; 16])], 5_000);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].name.as_deref(), Some("kept"));
    assert_eq!(r[0].error_code, TOPIC_DELETION_DISABLED);

    // A request written straight to ZooKeeper (an old admin tool) is removed by the
    // controller and the topic stays.
    client
        .create(
            "/admin/delete_topics/kept",
            &[],
            &CreateMode::Persistent.with_acls(Acls::anyone_all()),
        )
        .await
        .expect("create /admin/delete_topics/kept");
    wait_for_znode_gone(&client, "/admin/delete_topics/kept", TIMEOUT).await;
    assert!(get_znode(&client, "/brokers/topics/kept").await.is_some());
    assert!(kcat_lists(&b, "kept"));
    let parts = poll_until(TIMEOUT, Duration::from_millis(250), || {
        kcat_partitions(&b.bootstrap_servers(), "kept")
    })
    .expect("kept listed");
    assert_eq!(parts.len(), 1);
    assert!(b.log_dir().join("kept-0").is_dir());
}
