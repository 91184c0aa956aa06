//! Configuration at the process edge (bad configs exit 1 naming the key; --version/--help) and
//! dynamic configuration through ZooKeeper, written the way Kafka's admin path writes it.

use std::collections::BTreeMap;
use std::time::Duration;

use rafka_core::config::KafkaConfig;
use rafka_core::server::KafkaServer;
use rafka_tests::zookeeper_client::{Acls, Client, CreateMode};
use rafka_tests::{poll_until_async, run_rafka, zk_client, EmbeddedZookeeper};

const RUN_TIMEOUT: Duration = Duration::from_secs(20);

fn base_config(extra: &str) -> String {
    format!(
        "broker.id=1\nlisteners=PLAINTEXT://127.0.0.1:0\nlog.dirs=/tmp/rafka-never-used\n{extra}\n"
    )
}

#[test]
fn missing_zookeeper_connect_exits_1_naming_the_key() {
    let (status, stderr) = run_rafka(&base_config(""), &[], RUN_TIMEOUT);
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("zookeeper.connect"), "{stderr}");
}

#[test]
fn non_numeric_int_exits_1_naming_key_value_and_rule() {
    let text = base_config("zookeeper.connect=127.0.0.1:1\nnum.partitions=abc");
    let (status, stderr) = run_rafka(&text, &[], RUN_TIMEOUT);
    assert_eq!(status.code(), Some(1), "{stderr}");
    let line = stderr
        .lines()
        .find(|l| l.starts_with("rafka:"))
        .unwrap_or_else(|| panic!("no one-line error in:\n{stderr}"));
    assert!(line.contains("num.partitions"), "{line}");
    assert!(line.contains("abc"), "{line}");
    assert!(
        line.to_ascii_lowercase().contains("int"),
        "the rule is named: {line}"
    );
}

#[test]
fn unknown_listener_protocol_exits_1_naming_listeners() {
    let text = "broker.id=1\nzookeeper.connect=127.0.0.1:1\nlisteners=FOO://127.0.0.1:9092\n";
    let (status, stderr) = run_rafka(text, &[], RUN_TIMEOUT);
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("listeners"), "{stderr}");
    assert!(stderr.contains("FOO"), "{stderr}");
}

#[test]
fn override_flag_is_validated_too() {
    let text = base_config("zookeeper.connect=127.0.0.1:1");
    let (status, stderr) = run_rafka(&text, &["--override", "num.io.threads=0"], RUN_TIMEOUT);
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("num.io.threads"), "{stderr}");
}

#[test]
fn version_and_help_exit_at_once() {
    let (status, _) = run_rafka("", &["--version"], RUN_TIMEOUT);
    assert!(status.success());
    let (status, _) = run_rafka("", &["--help"], RUN_TIMEOUT);
    assert!(status.success());
}

#[test]
fn unreachable_zookeeper_fails_after_the_connection_timeout() {
    // Nothing listens on this port: startup gives up after zookeeper.connection.timeout.ms.
    let port = rafka_tests::free_port();
    let text = base_config(&format!(
        "zookeeper.connect=127.0.0.1:{port}\nzookeeper.connection.timeout.ms=2000"
    ));
    let started = std::time::Instant::now();
    let (status, stderr) = run_rafka(&text, &[], RUN_TIMEOUT);
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("timed out"), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(15));
}

/// Writes an entity config and its change notification exactly as Kafka's `AdminZkClient`
/// does: set-or-create `/config/<type>/<name>`, then a sequential `config_change_` node (v2).
async fn kafka_admin_change_config(
    client: &Client,
    entity_type: &str,
    name: &str,
    config: &BTreeMap<&str, &str>,
) {
    let path = format!("/config/{entity_type}/{name}");
    let payload = serde_json::json!({"version": 1, "config": config}).to_string();
    let options = CreateMode::Persistent.with_acls(Acls::anyone_all());
    match client.set_data(&path, payload.as_bytes(), None).await {
        Ok(_) => {}
        Err(rafka_tests::zookeeper_client::Error::NoNode) => {
            client
                .create(&path, payload.as_bytes(), &options)
                .await
                .expect("create entity");
        }
        Err(e) => panic!("set {path}: {e}"),
    }
    let notification =
        serde_json::json!({"version": 2, "entity_path": format!("{entity_type}/{name}")})
            .to_string();
    let seq = CreateMode::PersistentSequential.with_acls(Acls::anyone_all());
    client
        .create(
            "/config/changes/config_change_",
            notification.as_bytes(),
            &seq,
        )
        .await
        .expect("create notification");
}

fn in_process_config(zk: &EmbeddedZookeeper, log_dir: &std::path::Path) -> KafkaConfig {
    let mut props = BTreeMap::new();
    props.insert("broker.id".to_string(), "1".to_string());
    props.insert("zookeeper.connect".to_string(), zk.connect_string());
    props.insert(
        "zookeeper.session.timeout.ms".to_string(),
        "6000".to_string(),
    );
    props.insert(
        "listeners".to_string(),
        "PLAINTEXT://127.0.0.1:19092".to_string(),
    );
    props.insert("log.dirs".to_string(), log_dir.display().to_string());
    props.insert("log.retention.ms".to_string(), "3600000".to_string());
    KafkaConfig::from_props(&props).expect("valid config")
}

#[tokio::test]
async fn dynamic_broker_and_topic_configs_apply_without_restart() {
    let zk = EmbeddedZookeeper::start();
    let dir = tempfile::tempdir().unwrap();
    let server = KafkaServer::startup(in_process_config(&zk, dir.path()))
        .await
        .expect("broker starts");
    let majordomo = server.majordomo().clone();
    let client = zk_client(&zk.connect_string()).await;

    let effective = majordomo.effective_config().await.unwrap();
    assert_eq!(effective.get_long("log.retention.ms"), Some(3_600_000));

    // Cluster-wide default: applies.
    let mut default = BTreeMap::new();
    default.insert("log.retention.ms", "7200000");
    default.insert("log.cleaner.threads", "2");
    kafka_admin_change_config(&client, "brokers", "<default>", &default).await;
    let m = &majordomo;
    let applied = poll_until_async(
        Duration::from_secs(10),
        Duration::from_millis(100),
        || async move {
            let c = m.effective_config().await.ok()?;
            (c.get_long("log.retention.ms") == Some(7_200_000)).then_some(c)
        },
    )
    .await
    .expect("cluster default applied");
    assert_eq!(applied.get_int("log.cleaner.threads"), Some(2));

    // Per-broker value wins over the cluster default; read-only keys are not applied.
    let mut per_broker = BTreeMap::new();
    per_broker.insert("log.retention.ms", "60000");
    per_broker.insert("num.partitions", "9");
    kafka_admin_change_config(&client, "brokers", "1", &per_broker).await;
    let applied = poll_until_async(
        Duration::from_secs(10),
        Duration::from_millis(100),
        || async move {
            let c = m.effective_config().await.ok()?;
            (c.get_long("log.retention.ms") == Some(60_000)).then_some(c)
        },
    )
    .await
    .expect("per-broker config applied");
    assert_eq!(
        applied.get_int("num.partitions"),
        Some(1),
        "read-only key must not change"
    );
    assert_eq!(
        applied.get_int("log.cleaner.threads"),
        Some(2),
        "default still applies"
    );

    // Another broker's entity does not touch us.
    let mut other = BTreeMap::new();
    other.insert("log.retention.ms", "1");
    kafka_admin_change_config(&client, "brokers", "2", &other).await;

    // Topic override: visible to the log layer's lookup; other topics keep the broker value.
    let mut topic = BTreeMap::new();
    topic.insert("retention.ms", "1234");
    topic.insert("cleanup.policy", "compact");
    kafka_admin_change_config(&client, "topics", "orders", &topic).await;
    let orders = poll_until_async(
        Duration::from_secs(10),
        Duration::from_millis(100),
        || async move {
            let lc = m.log_config("orders").await.ok()?.ok()?;
            (lc.retention_ms == 1234).then_some(lc)
        },
    )
    .await
    .expect("topic override visible");
    assert!(orders.compact());
    let other_topic = majordomo.log_config("payments").await.unwrap().unwrap();
    assert_eq!(
        other_topic.retention_ms, 60_000,
        "falls back to the broker's dynamic value"
    );
    let effective = majordomo.effective_config().await.unwrap();
    assert_eq!(effective.get_long("log.retention.ms"), Some(60_000));

    server.shutdown().await;
}

#[tokio::test]
async fn existing_dynamic_config_is_loaded_at_startup() {
    let zk = EmbeddedZookeeper::start();
    let client = zk_client(&zk.connect_string()).await;
    let options = CreateMode::Persistent.with_acls(Acls::anyone_all());
    for path in ["/config", "/config/brokers", "/config/topics"] {
        let _ = client.create(path, b"", &options).await;
    }
    let broker_cfg =
        serde_json::json!({"version":1,"config":{"log.retention.ms":"5000"}}).to_string();
    client
        .create("/config/brokers/1", broker_cfg.as_bytes(), &options)
        .await
        .unwrap();
    let topic_cfg =
        serde_json::json!({"version":1,"config":{"segment.bytes":"1048576"}}).to_string();
    client
        .create("/config/topics/t1", topic_cfg.as_bytes(), &options)
        .await
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let server = KafkaServer::startup(in_process_config(&zk, dir.path()))
        .await
        .expect("starts");
    let effective = server.majordomo().effective_config().await.unwrap();
    assert_eq!(effective.get_long("log.retention.ms"), Some(5000));
    let t1 = server.majordomo().log_config("t1").await.unwrap().unwrap();
    assert_eq!(t1.segment_bytes, 1_048_576);
    assert_eq!(t1.retention_ms, 5000);
    server.shutdown().await;
}
