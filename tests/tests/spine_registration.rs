//! One broker against a real ZooKeeper: registration, cluster id, controller, persistent paths,
//! meta.properties and clean shutdown, at the root and under a chroot.

use std::time::{Duration, Instant};

use rafka_tests::{
    get_znode, get_znode_json, wait_for_znode, zk_client, znode_children, BrokerProcess,
    EmbeddedZookeeper,
};
use serde_json::Value;

const START_TIMEOUT: Duration = Duration::from_secs(30);

/// The persistent paths a ZK-mode Kafka broker creates at startup (zookeeper-layout.md §2).
const PERSISTENT_PATHS: &[&str] = &[
    "/consumers",
    "/brokers/ids",
    "/brokers/topics",
    "/brokers/seqid",
    "/config/changes",
    "/config/topics",
    "/config/clients",
    "/config/users",
    "/config/brokers",
    "/config/ips",
    "/admin/delete_topics",
    "/isr_change_notification",
    "/latest_producer_id_block",
    "/log_dir_event_notification",
];

fn is_base64url(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

async fn check_single_broker(chroot: Option<&str>) {
    let zk = EmbeddedZookeeper::start();
    let connect = match chroot {
        Some(c) => zk.connect_string_with_chroot(c),
        None => zk.connect_string(),
    };
    let mut broker = BrokerProcess::builder()
        .broker_id(3)
        .zookeeper(connect.clone())
        .prop("broker.rack", "rack-a")
        .start();
    // Inspect through the same chroot the broker uses.
    let client = zk_client(&connect).await;
    wait_for_znode(&client, "/brokers/ids/3", START_TIMEOUT).await;

    // Registration: ephemeral, Kafka's v5 JSON with exactly Kafka's fields.
    let (data, stat) = get_znode(&client, "/brokers/ids/3")
        .await
        .expect("registration");
    assert_ne!(stat.ephemeral_owner, 0, "registration must be ephemeral");
    let reg: Value = serde_json::from_slice(&data).expect("registration is JSON");
    let obj = reg.as_object().expect("registration is an object");
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "endpoints",
            "features",
            "host",
            "jmx_port",
            "listener_security_protocol_map",
            "port",
            "rack",
            "timestamp",
            "version"
        ]
    );
    let port = broker.port();
    assert_eq!(reg["version"], 5);
    assert_eq!(reg["host"], "127.0.0.1");
    assert_eq!(reg["port"], port as i64);
    assert_eq!(reg["jmx_port"], -1);
    assert_eq!(reg["rack"], "rack-a");
    assert_eq!(reg["features"], serde_json::json!({}));
    assert_eq!(
        reg["endpoints"],
        serde_json::json!([format!("PLAINTEXT://127.0.0.1:{port}")])
    );
    assert_eq!(
        reg["listener_security_protocol_map"],
        serde_json::json!({"PLAINTEXT": "PLAINTEXT"})
    );
    let ts = reg["timestamp"]
        .as_str()
        .expect("timestamp is a JSON string");
    let ts: i64 = ts.parse().expect("timestamp is decimal millis");
    assert!(ts > 1_600_000_000_000);

    // Cluster id.
    let cluster = get_znode_json(&client, "/cluster/id")
        .await
        .expect("/cluster/id");
    assert_eq!(cluster["version"], "1");
    let cluster_id = cluster["id"].as_str().expect("id string").to_string();
    assert_eq!(cluster_id.len(), 22);
    assert!(is_base64url(&cluster_id), "{cluster_id}");

    // Controller: the only broker wins; epoch 1 after the first election.
    let controller = wait_for_json(&client, "/controller").await;
    assert_eq!(controller["version"], 1);
    assert_eq!(controller["brokerid"], 3);
    assert!(controller["timestamp"].is_string());
    let (epoch, _) = get_znode(&client, "/controller_epoch")
        .await
        .expect("epoch");
    assert_eq!(String::from_utf8(epoch).unwrap(), "1");
    let (_, cstat) = get_znode(&client, "/controller").await.expect("controller");
    assert_ne!(cstat.ephemeral_owner, 0, "/controller must be ephemeral");

    // /feature written by the controller on failover.
    let feature = wait_for_json(&client, "/feature").await;
    assert_eq!(
        feature,
        serde_json::json!({"version":1,"status":1,"features":{}})
    );

    for path in PERSISTENT_PATHS {
        let (_, s) = get_znode(&client, path)
            .await
            .unwrap_or_else(|| panic!("{path} missing"));
        assert_eq!(s.ephemeral_owner, 0, "{path} must be persistent");
    }

    if let Some(c) = chroot {
        // Nothing leaked to the root: the chroot holds it all.
        let root = zk_client(&zk.connect_string()).await;
        let top = znode_children(&root, "/").await;
        assert!(
            top.contains(&c.trim_start_matches('/').to_string()),
            "{top:?}"
        );
        assert!(!top.contains(&"brokers".to_string()), "{top:?}");
    }

    // meta.properties written after registration.
    let meta = std::fs::read_to_string(broker.log_dir().join("meta.properties")).expect("meta");
    assert!(meta.lines().any(|l| l == "version=0"), "{meta}");
    assert!(meta.lines().any(|l| l == "broker.id=3"), "{meta}");
    assert!(
        meta.lines()
            .any(|l| l == format!("cluster.id={cluster_id}")),
        "{meta}"
    );

    // SIGTERM: exit 0 within a few seconds, registration and /controller gone at once.
    broker.signal_term();
    let status = broker
        .wait_exit(Duration::from_secs(10))
        .expect("broker exits after SIGTERM");
    assert!(
        status.success(),
        "exit status {status:?}\n{}",
        broker.logs()
    );
    assert!(
        get_znode(&client, "/brokers/ids/3").await.is_none(),
        "registration left behind"
    );
    assert!(
        get_znode(&client, "/controller").await.is_none(),
        "/controller left behind"
    );
}

async fn wait_for_json(client: &rafka_tests::zookeeper_client::Client, path: &str) -> Value {
    wait_for_znode(client, path, START_TIMEOUT).await;
    get_znode_json(client, path)
        .await
        .unwrap_or_else(|| panic!("{path} vanished"))
}

#[tokio::test]
async fn single_broker_registers_like_kafka() {
    check_single_broker(None).await;
}

#[tokio::test]
async fn single_broker_under_chroot() {
    check_single_broker(Some("/rafka-test")).await;
}

#[tokio::test]
async fn broker_id_generation_and_meta_properties_reuse() {
    let zk = EmbeddedZookeeper::start();
    let mut broker = BrokerProcess::builder()
        .zookeeper(zk.connect_string())
        .without_prop("broker.id")
        .start();
    let client = zk_client(&zk.connect_string()).await;
    // First generated id = seqid version 1 + reserved.broker.max.id 1000.
    wait_for_znode(&client, "/brokers/ids/1001", START_TIMEOUT).await;
    // Like Kafka, the broker checkpoints meta.properties once it is registered: wait for it.
    let meta_path = broker.log_dir().join("meta.properties");
    let meta = rafka_tests::poll_until(START_TIMEOUT, Duration::from_millis(50), || {
        std::fs::read_to_string(&meta_path)
            .ok()
            .filter(|m| m.lines().any(|l| l.starts_with("broker.id=")))
    })
    .expect("meta.properties with a broker.id");
    assert!(meta.lines().any(|l| l == "broker.id=1001"), "{meta}");

    // A restart takes the id from meta.properties instead of generating another.
    let _ = broker.stop();
    broker.restart();
    wait_for_znode(&client, "/brokers/ids/1001", START_TIMEOUT).await;
    assert_eq!(
        znode_children(&client, "/brokers/ids").await,
        vec!["1001".to_string()]
    );
}

#[tokio::test]
async fn sigint_also_shuts_down_cleanly() {
    let zk = EmbeddedZookeeper::start();
    let mut broker = BrokerProcess::builder()
        .broker_id(5)
        .zookeeper(zk.connect_string())
        .start();
    let client = zk_client(&zk.connect_string()).await;
    wait_for_znode(&client, "/brokers/ids/5", START_TIMEOUT).await;
    // Once the broker knows its controller (itself), the controlled shutdown that precedes
    // the stop is a single local round trip; before that it would retry.
    assert!(
        rafka_tests::kcat_wait_for_brokers(&broker.bootstrap_servers(), 1, START_TIMEOUT),
        "{}",
        broker.logs()
    );
    let started = Instant::now();
    broker.signal_int();
    let status = broker
        .wait_exit(Duration::from_secs(10))
        .expect("exit after SIGINT");
    assert!(status.success(), "{status:?}");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(get_znode(&client, "/brokers/ids/5").await.is_none());
}

/// Sends ApiVersions v0 over raw TCP and returns the advertised (key, min, max) triples.
fn api_versions_v0(port: u16) -> Vec<(i16, i16, i16)> {
    use std::io::{Read, Write};
    let mut stream =
        std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect to the broker");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    // Header v1: api_key 18, api_version 0, correlation_id 7, client_id "t"; empty v0 body.
    let mut req = Vec::new();
    req.extend_from_slice(&18i16.to_be_bytes());
    req.extend_from_slice(&0i16.to_be_bytes());
    req.extend_from_slice(&7i32.to_be_bytes());
    req.extend_from_slice(&1i16.to_be_bytes());
    req.push(b't');
    let mut frame = (req.len() as i32).to_be_bytes().to_vec();
    frame.extend_from_slice(&req);
    stream.write_all(&frame).unwrap();
    let mut len = [0u8; 4];
    stream.read_exact(&mut len).unwrap();
    let mut body = vec![0u8; i32::from_be_bytes(len) as usize];
    stream.read_exact(&mut body).unwrap();
    let i16_at = |at: usize| i16::from_be_bytes([body[at], body[at + 1]]);
    assert_eq!(
        i32::from_be_bytes([body[0], body[1], body[2], body[3]]),
        7,
        "correlation id"
    );
    assert_eq!(i16_at(4), 0, "error code");
    let n = i32::from_be_bytes([body[6], body[7], body[8], body[9]]) as usize;
    (0..n)
        .map(|i| (i16_at(10 + 6 * i), i16_at(12 + 6 * i), i16_at(14 + 6 * i)))
        .collect()
}

#[tokio::test]
async fn port_zero_listener_is_registered_with_its_bound_port_and_serves_api_versions() {
    let zk = EmbeddedZookeeper::start();
    let _broker = BrokerProcess::builder()
        .broker_id(6)
        .zookeeper(zk.connect_string())
        .prop("listeners", "PLAINTEXT://127.0.0.1:0")
        .start();
    let client = zk_client(&zk.connect_string()).await;
    wait_for_znode(&client, "/brokers/ids/6", START_TIMEOUT).await;
    let reg = get_znode_json(&client, "/brokers/ids/6")
        .await
        .expect("registration");
    let port = reg["port"].as_i64().expect("port") as u16;
    assert_ne!(port, 0, "the bound port is advertised, not 0");
    assert_eq!(
        reg["endpoints"],
        serde_json::json!([format!("PLAINTEXT://127.0.0.1:{port}")])
    );
    let versions = api_versions_v0(port);
    assert!(
        versions.contains(&(18, 0, 3)),
        "ApiVersions 0-3 advertised: {versions:?}"
    );
}
