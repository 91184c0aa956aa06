//! Topic creation from clients: Metadata auto-creation (`kcat -L -t`) and CreateTopics (v1,
//! encoded by hand here: the test crate has no kafka-protocol dependency) against real
//! brokers on a real ZooKeeper. Every wait is bounded.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use rafka_tests::{
    get_znode_json, kcat_partitions, kcat_wait_for_brokers, poll_until, wait_for_znode, zk_client,
    znode_children, BrokerProcess, EmbeddedZookeeper,
};

const TIMEOUT: Duration = Duration::from_secs(30);

/// `(partition, leader, sorted isr)` rows of `topic` from `kcat -L -J -t`, if it has
/// partitions.
fn kcat_rows(bootstrap: &str, topic: &str) -> Option<Vec<(i64, i64, Vec<i64>)>> {
    let parts = kcat_partitions(bootstrap, topic)?;
    Some(
        parts
            .into_iter()
            .map(|p| (p.partition, p.leader, p.isr))
            .collect(),
    )
}

fn put_str(buf: &mut Vec<u8>, s: &str) {
    buf.extend_from_slice(&(s.len() as i16).to_be_bytes());
    buf.extend_from_slice(s.as_bytes());
}

/// One CreateTopics v1 topic: name, partitions, replication factor, no assignment/configs.
struct NewTopic<'a>(&'a str, i32, i16);

/// Sends CreateTopics v1 and returns `(name, error code, error message)` per topic.
fn create_topics(
    port: u16,
    topics: &[NewTopic<'_>],
    timeout_ms: i32,
    validate_only: bool,
) -> Vec<(String, i16, Option<String>)> {
    let mut body = Vec::new();
    body.extend_from_slice(&19i16.to_be_bytes()); // api key
    body.extend_from_slice(&1i16.to_be_bytes()); // version
    body.extend_from_slice(&42i32.to_be_bytes()); // correlation id
    put_str(&mut body, "topics-test");
    body.extend_from_slice(&(topics.len() as i32).to_be_bytes());
    for t in topics {
        put_str(&mut body, t.0);
        body.extend_from_slice(&t.1.to_be_bytes());
        body.extend_from_slice(&t.2.to_be_bytes());
        body.extend_from_slice(&0i32.to_be_bytes()); // assignments
        body.extend_from_slice(&0i32.to_be_bytes()); // configs
    }
    body.extend_from_slice(&timeout_ms.to_be_bytes());
    body.push(u8::from(validate_only));
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut frame = (body.len() as i32).to_be_bytes().to_vec();
    frame.extend_from_slice(&body);
    stream.write_all(&frame).expect("send CreateTopics");
    let mut len = [0u8; 4];
    stream.read_exact(&mut len).expect("response size");
    let mut resp = vec![0u8; i32::from_be_bytes(len) as usize];
    stream.read_exact(&mut resp).expect("response");
    let mut pos = 0usize;
    let mut take = |n: usize| {
        let s = resp[pos..pos + n].to_vec();
        pos += n;
        s
    };
    assert_eq!(i32::from_be_bytes(take(4).try_into().unwrap()), 42);
    let count = i32::from_be_bytes(take(4).try_into().unwrap());
    let mut out = Vec::new();
    for _ in 0..count {
        let n = i16::from_be_bytes(take(2).try_into().unwrap()) as usize;
        let name = String::from_utf8(take(n)).unwrap();
        let code = i16::from_be_bytes(take(2).try_into().unwrap());
        let mlen = i16::from_be_bytes(take(2).try_into().unwrap());
        let message = (mlen >= 0).then(|| String::from_utf8(take(mlen as usize)).unwrap());
        out.push((name, code, message));
    }
    out
}

const NONE: i16 = 0;
const INVALID_TOPIC_EXCEPTION: i16 = 17;
const NOT_CONTROLLER: i16 = 41;
const TOPIC_ALREADY_EXISTS: i16 = 36;
const INVALID_REPLICATION_FACTOR: i16 = 38;

#[tokio::test]
async fn metadata_auto_creates_with_num_partitions() {
    let zk = EmbeddedZookeeper::start();
    let b = BrokerProcess::builder()
        .broker_id(3)
        .zookeeper(zk.connect_string())
        .prop("num.partitions", 3)
        .start();
    let client = zk_client(&zk.connect_string()).await;
    wait_for_znode(&client, "/brokers/ids/3", TIMEOUT).await;
    wait_for_znode(&client, "/controller", TIMEOUT).await;

    // kcat -L -t asks for the topic with auto-creation allowed; it exists afterwards.
    let rows = poll_until(TIMEOUT, Duration::from_millis(250), || {
        kcat_rows(&b.bootstrap_servers(), "newtopic")
            .filter(|r| r.len() == 3 && r.iter().all(|p| p.1 == 3))
    })
    .unwrap_or_else(|| panic!("newtopic never appeared\n{}", b.logs()));
    assert_eq!(
        rows,
        vec![(0, 3, vec![3]), (1, 3, vec![3]), (2, 3, vec![3])]
    );

    let assignment = get_znode_json(&client, "/brokers/topics/newtopic")
        .await
        .unwrap();
    assert_eq!(assignment["version"], 3);
    assert_eq!(
        assignment["partitions"],
        serde_json::json!({"0": [3], "1": [3], "2": [3]})
    );
    assert_eq!(assignment["adding_replicas"], serde_json::json!({}));
    assert_eq!(assignment["removing_replicas"], serde_json::json!({}));
    let topic_id = assignment["topic_id"].as_str().unwrap().to_string();
    let config = get_znode_json(&client, "/config/topics/newtopic").await;
    assert_eq!(
        config,
        Some(serde_json::json!({"version": 1, "config": {}}))
    );
    for p in 0..3 {
        let state = get_znode_json(
            &client,
            &format!("/brokers/topics/newtopic/partitions/{p}/state"),
        )
        .await
        .unwrap();
        assert_eq!(state["leader"], 3);
        assert_eq!(state["isr"], serde_json::json!([3]));
        let meta = std::fs::read_to_string(
            b.log_dir()
                .join(format!("newtopic-{p}"))
                .join("partition.metadata"),
        )
        .unwrap_or_else(|e| panic!("partition.metadata of newtopic-{p}: {e}\n{}", b.logs()));
        assert_eq!(meta, format!("version: 0\ntopic_id: {topic_id}"));
    }
    assert_eq!(
        znode_children(&client, "/brokers/topics").await,
        vec!["newtopic".to_string()]
    );
}

#[tokio::test]
async fn create_topics_validates_creates_and_waits() {
    let zk = EmbeddedZookeeper::start();
    let b = BrokerProcess::builder()
        .broker_id(1)
        .zookeeper(zk.connect_string())
        .start();
    let client = zk_client(&zk.connect_string()).await;
    wait_for_znode(&client, "/brokers/ids/1", TIMEOUT).await;
    // The controller must know itself (UpdateMetadata) before placement can use it.
    assert!(
        kcat_wait_for_brokers(&b.bootstrap_servers(), 1, TIMEOUT),
        "{}",
        b.logs()
    );

    // validate_only: OK, nothing written.
    let r = create_topics(b.port(), &[NewTopic("ct", 3, 1)], 10_000, true);
    assert_eq!(r, vec![("ct".to_string(), NONE, None)], "{}", b.logs());
    assert!(get_znode_json(&client, "/brokers/topics/ct")
        .await
        .is_none());

    // Real creation answers once the partitions are in the metadata cache.
    let r = create_topics(b.port(), &[NewTopic("ct", 3, 1)], 10_000, false);
    assert_eq!(r, vec![("ct".to_string(), NONE, None)], "{}", b.logs());
    let rows = kcat_rows(&b.bootstrap_servers(), "ct").expect("ct listed at once");
    assert_eq!(
        rows,
        vec![(0, 1, vec![1]), (1, 1, vec![1]), (2, 1, vec![1])]
    );

    let r = create_topics(
        b.port(),
        &[
            NewTopic("ct", 1, 1),
            NewTopic("bad/name", 1, 1),
            NewTopic("..", 1, 1),
            NewTopic("rf2", 1, 2),
        ],
        5_000,
        false,
    );
    let codes: Vec<(String, i16)> = r.iter().map(|(n, c, _)| (n.clone(), *c)).collect();
    assert_eq!(
        codes,
        vec![
            ("ct".to_string(), TOPIC_ALREADY_EXISTS),
            ("bad/name".to_string(), INVALID_TOPIC_EXCEPTION),
            ("..".to_string(), INVALID_TOPIC_EXCEPTION),
            ("rf2".to_string(), INVALID_REPLICATION_FACTOR),
        ]
    );
    assert!(r.iter().all(|(_, _, m)| m.is_some()));
}

#[tokio::test]
async fn create_topics_to_a_non_controller_is_refused() {
    let zk = EmbeddedZookeeper::start();
    let b1 = BrokerProcess::builder()
        .broker_id(1)
        .zookeeper(zk.connect_string())
        .start();
    let client = zk_client(&zk.connect_string()).await;
    wait_for_znode(&client, "/controller", TIMEOUT).await;
    let b2 = BrokerProcess::builder()
        .broker_id(2)
        .zookeeper(zk.connect_string())
        .start();
    wait_for_znode(&client, "/brokers/ids/2", TIMEOUT).await;
    let controller = get_znode_json(&client, "/controller").await.unwrap()["brokerid"]
        .as_i64()
        .unwrap();
    let other = if controller == 1 { &b2 } else { &b1 };
    // The other broker may still be starting its listener: retry connects boundedly.
    let r = poll_until(TIMEOUT, Duration::from_millis(200), || {
        std::panic::catch_unwind(|| {
            create_topics(other.port(), &[NewTopic("nc", 1, 1)], 1000, false)
        })
        .ok()
    })
    .expect("CreateTopics to the non-controller");
    assert_eq!(r[0].1, NOT_CONTROLLER);
    assert!(get_znode_json(&client, "/brokers/topics/nc")
        .await
        .is_none());
}
