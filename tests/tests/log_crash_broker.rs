//! The `rafka` broker process and its log dirs (KafkaServer startup step 9 and the shutdown
//! order): it loads existing partitions and consumes `.kafka_cleanshutdown` before it
//! registers, holds the dir's `.lock` while it runs, writes the checkpoints and the marker on a
//! clean stop (SIGTERM), and leaves no marker when it is SIGKILLed.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rafka_core::cluster::TopicPartition;
use rafka_core::config::KafkaConfig;
use rafka_core::log::log_dir_lock::LogDirLockError;
use rafka_core::log::log_manager::{
    lock_log, now_ms, LogManager, LogManagerError, LogManagerHandle, TopicOverrides,
};
use rafka_core::record::{build_batch, ProducerInfo, SimpleRecord};
use rafka_tests::{wait_for_znode, zk_client, BrokerProcess, EmbeddedZookeeper};

const START_TIMEOUT: Duration = Duration::from_secs(30);

async fn in_process(log_dir: &Path) -> Result<LogManagerHandle, LogManagerError> {
    let props = BTreeMap::from([
        ("log.dirs".to_string(), log_dir.display().to_string()),
        ("zookeeper.connect".to_string(), "127.0.0.1:1".to_string()),
    ]);
    let config = Arc::new(KafkaConfig::from_props(&props).unwrap());
    LogManager::startup(config, Arc::new(TopicOverrides::new()), now_ms()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_loads_locks_and_closes_its_log_dirs() {
    let zk = EmbeddedZookeeper::start();
    let data = tempfile::tempdir().unwrap();
    let log_dir = data.path().join("logs");
    let tp = TopicPartition::new("orders", 0);

    // A partition with three records, closed cleanly, as a previous broker run leaves it.
    let lm = in_process(&log_dir).await.unwrap();
    let log = lm.get_or_create_log(tp.clone(), None).await.unwrap();
    let records: Vec<SimpleRecord> = (0..3)
        .map(|i| SimpleRecord::new(now_ms(), None, Some(format!("v{i}").as_bytes())))
        .collect();
    let mut batch = build_batch(0, ProducerInfo::NONE, &records);
    lock_log(&log)
        .append_as_leader(&mut batch, 0, now_ms())
        .unwrap();
    drop(log);
    lm.shutdown().await.unwrap();
    assert!(log_dir.join(".kafka_cleanshutdown").exists());

    let mut broker = BrokerProcess::builder()
        .zookeeper(zk.connect_string())
        .prop("log.dirs", log_dir.display())
        .start();
    let client = zk_client(&zk.connect_string()).await;
    wait_for_znode(&client, "/brokers/ids/0", START_TIMEOUT).await;
    // Loading (step 9) precedes registration (step 13): the marker is already consumed.
    assert!(!log_dir.join(".kafka_cleanshutdown").exists());
    // The broker holds the dir.
    match in_process(&log_dir).await {
        Err(LogManagerError::Lock(LogDirLockError::InUse { dir })) => assert_eq!(dir, log_dir),
        other => panic!("expected the lock error, got {other:?}"),
    }

    // Clean stop: checkpoints and marker. `rafka` installs its SIGTERM handler only after
    // startup returns (rafka/src/main.rs), which is after registration; an earlier SIGTERM kills
    // it outright. Wait for the end of startup, plus a moment for the handler.
    assert!(
        broker.wait_for_log("kafka_server: started", START_TIMEOUT),
        "startup completes"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    let status = broker.stop();
    assert!(status.success(), "clean exit: {status:?}");
    assert!(log_dir.join(".kafka_cleanshutdown").exists());
    assert_eq!(
        std::fs::read_to_string(log_dir.join("recovery-point-offset-checkpoint")).unwrap(),
        "0\n1\norders 0 3\n"
    );
    assert_eq!(
        std::fs::read_to_string(log_dir.join("log-start-offset-checkpoint")).unwrap(),
        "0\n0\n"
    );

    // Crash: no marker, and the lock dies with the process.
    broker.restart();
    wait_for_znode(&client, "/brokers/ids/0", START_TIMEOUT).await;
    assert!(!log_dir.join(".kafka_cleanshutdown").exists());
    broker.signal_kill();
    broker
        .wait_exit(Duration::from_secs(10))
        .expect("killed broker exits");
    assert!(!log_dir.join(".kafka_cleanshutdown").exists());
    let lm = in_process(&log_dir)
        .await
        .expect("lock released by the crash");
    let log = lm.get_log(&tp).expect("partition still there");
    assert_eq!(lock_log(&log).log_end_offset(), 3);
    drop(log);
    lm.shutdown().await.unwrap();
}
