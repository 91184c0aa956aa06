//! Metadata auto-creation of an internal topic, against a real broker on a real ZooKeeper:
//! asking for `__consumer_offsets` with `allow_auto_topic_creation` creates it as
//! FindCoordinator does (Kafka's `AutoTopicCreationManager.creatableTopic`):
//! `offsets.topic.num.partitions`, `offsets.topic.replication.factor`, compacted, with
//! `offsets.topic.segment.bytes` and `compression.type=producer` — not with `num.partitions`;
//! too few live brokers for its replication factor → INVALID_REPLICATION_FACTOR and nothing
//! created. Internal topics carry IsInternal in the answer, ordinary ones do not. Raw requests;
//! every wait is bounded.

use std::time::Duration;

use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{MetadataRequest, MetadataResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use rafka_tests::{
    get_znode, get_znode_json, poll_until, wait_for_znode, zk_client, BrokerProcess,
    EmbeddedZookeeper, RawClient,
};

const TIMEOUT: Duration = Duration::from_secs(30);
const LEADER_NOT_AVAILABLE: i16 = 5;
const INVALID_REPLICATION_FACTOR: i16 = 38;

fn metadata(c: &mut RawClient, topic: &str) -> MetadataResponse {
    let req = MetadataRequest::default()
        .with_topics(Some(vec![MetadataRequestTopic::default().with_name(Some(
            TopicName(StrBytes::from_string(topic.to_string())),
        ))]))
        .with_allow_auto_topic_creation(true);
    c.send(9, &req).expect("Metadata")
}

fn broker(zk: &EmbeddedZookeeper, offsets_rf: i32) -> BrokerProcess {
    BrokerProcess::builder()
        .broker_id(1)
        .zookeeper(zk.connect_string())
        .prop("num.partitions", 5)
        .prop("offsets.topic.num.partitions", 3)
        .prop("offsets.topic.replication.factor", offsets_rf)
        .prop("offsets.topic.segment.bytes", 1_048_576)
        .start()
}

#[tokio::test(flavor = "multi_thread")]
async fn metadata_creates_the_offsets_topic_with_its_own_settings() {
    let zk = EmbeddedZookeeper::start();
    let mut b = broker(&zk, 1);
    assert!(b.wait_listening(TIMEOUT));
    let client = zk_client(&zk.connect_string()).await;
    wait_for_znode(&client, "/controller", TIMEOUT).await;
    let mut c = RawClient::connect_with_retry(b.port(), TIMEOUT).unwrap();

    // LEADER_NOT_AVAILABLE once created (INVALID_REPLICATION_FACTOR until this broker's own
    // registration reached its metadata cache).
    let created = poll_until(TIMEOUT, Duration::from_millis(100), || {
        let r = metadata(&mut c, "__consumer_offsets");
        let t = &r.topics[0];
        assert!(
            [LEADER_NOT_AVAILABLE, INVALID_REPLICATION_FACTOR].contains(&t.error_code),
            "{r:?}"
        );
        (t.error_code == LEADER_NOT_AVAILABLE).then_some(r)
    })
    .unwrap_or_else(|| panic!("__consumer_offsets not created\n{}", b.logs()));
    assert!(created.topics[0].is_internal, "{created:?}");

    let assignment = get_znode_json(&client, "/brokers/topics/__consumer_offsets")
        .await
        .unwrap();
    assert_eq!(
        assignment["partitions"],
        serde_json::json!({"0": [1], "1": [1], "2": [1]}),
        "offsets.topic.num.partitions, not num.partitions"
    );
    let config = get_znode_json(&client, "/config/topics/__consumer_offsets")
        .await
        .unwrap();
    assert_eq!(config["config"]["cleanup.policy"], "compact", "{config}");
    assert_eq!(config["config"]["compression.type"], "producer", "{config}");
    assert_eq!(config["config"]["segment.bytes"], "1048576", "{config}");

    // The topic comes up with its three partitions, flagged internal.
    let ready = poll_until(TIMEOUT, Duration::from_millis(100), || {
        let r = metadata(&mut c, "__consumer_offsets");
        let t = &r.topics[0];
        (t.error_code == 0
            && t.partitions.len() == 3
            && t.partitions.iter().all(|p| p.leader_id.0 == 1))
        .then_some(r)
    })
    .unwrap_or_else(|| panic!("__consumer_offsets never led\n{}", b.logs()));
    assert!(ready.topics[0].is_internal, "{ready:?}");

    // An ordinary topic still gets num.partitions and is not internal.
    let plain = poll_until(TIMEOUT, Duration::from_millis(100), || {
        let r = metadata(&mut c, "plain");
        let t = &r.topics[0];
        (t.error_code == 0 && t.partitions.len() == 5).then_some(r)
    })
    .unwrap_or_else(|| panic!("plain never created\n{}", b.logs()));
    assert!(!plain.topics[0].is_internal, "{plain:?}");
    b.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn too_few_brokers_for_the_offsets_replication_factor_is_invalid_replication_factor() {
    let zk = EmbeddedZookeeper::start();
    let mut b = broker(&zk, 3);
    assert!(b.wait_listening(TIMEOUT));
    let client = zk_client(&zk.connect_string()).await;
    wait_for_znode(&client, "/controller", TIMEOUT).await;
    let mut c = RawClient::connect_with_retry(b.port(), TIMEOUT).unwrap();
    // An ordinary topic can be created (this broker knows itself alive by then) ...
    poll_until(TIMEOUT, Duration::from_millis(100), || {
        (metadata(&mut c, "plain").topics[0].error_code == LEADER_NOT_AVAILABLE).then_some(())
    })
    .unwrap_or_else(|| panic!("plain never created\n{}", b.logs()));
    // ... but the offsets topic needs three brokers: refused every time, as in Kafka.
    for _ in 0..5 {
        let r = metadata(&mut c, "__consumer_offsets");
        assert_eq!(r.topics[0].error_code, INVALID_REPLICATION_FACTOR, "{r:?}");
        assert!(r.topics[0].is_internal, "{r:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(get_znode(&client, "/brokers/topics/__consumer_offsets")
        .await
        .is_none());
    b.stop();
}
