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

/// Issue #3's crash test with a real broker: three clients produce (acks=1) to one partition
/// as fast as they can; the broker is SIGKILLed mid-append. After a restart (log recovery,
/// no clean-shutdown marker), every acknowledged batch is readable at the offset it was
/// acknowledged with, byte for byte, the offsets are contiguous and every batch's CRC holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_produces_survive_sigkill_mid_append() {
    use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
    use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    use kafka_protocol::messages::{
        BrokerId, CreateTopicsRequest, FetchRequest, ProduceRequest, TopicName,
    };
    use kafka_protocol::protocol::StrBytes;
    use rafka_core::record::{decode_records, RecordBatch};
    use rafka_tests::RawClient;
    use std::sync::atomic::{AtomicUsize, Ordering};

    const RECORDS_PER_BATCH: usize = 20;
    let zk = EmbeddedZookeeper::start();
    let data = tempfile::tempdir().unwrap();
    let log_dir = data.path().join("logs");
    let start_broker = || {
        BrokerProcess::builder()
            .broker_id(1)
            .zookeeper(zk.connect_string())
            .prop("log.dirs", log_dir.display())
            .start()
    };
    let client = zk_client(&zk.connect_string()).await;
    let mut broker = start_broker();
    wait_for_znode(&client, "/brokers/ids/1", START_TIMEOUT).await;
    let port = broker.port();
    // The broker is the controller once its metadata lists itself.
    assert!(
        rafka_tests::kcat_wait_for_brokers(&broker.bootstrap_servers(), 1, START_TIMEOUT),
        "{}",
        broker.logs()
    );
    let mut admin = RawClient::connect_with_retry(port, START_TIMEOUT).unwrap();
    let topic = kafka_protocol::messages::create_topics_request::CreatableTopic::default()
        .with_name(TopicName(StrBytes::from_static_str("crash")))
        .with_num_partitions(1)
        .with_replication_factor(1);
    let r = admin
        .send(
            5,
            &CreateTopicsRequest::default()
                .with_topics(vec![topic])
                .with_timeout_ms(20_000),
        )
        .unwrap();
    assert_eq!(r.topics[0].error_code, 0, "{:?}", r.topics[0]);

    let produce = |c: &mut RawClient, value_of: &dyn Fn(usize) -> String| {
        let records: Vec<SimpleRecord> = (0..RECORDS_PER_BATCH)
            .map(|i| SimpleRecord::new(now_ms(), None, Some(value_of(i).as_bytes())))
            .collect();
        let batch = build_batch(0, ProducerInfo::NONE, &records);
        let req = ProduceRequest::default()
            .with_acks(1)
            .with_timeout_ms(10_000)
            .with_topic_data(vec![TopicProduceData::default()
                .with_name(TopicName(StrBytes::from_static_str("crash")))
                .with_partition_data(vec![PartitionProduceData::default()
                    .with_index(0)
                    .with_records(Some(batch.into()))])]);
        c.send(9, &req).map(|r| {
            let p = &r.responses[0].partition_responses[0];
            (p.error_code, p.base_offset)
        })
    };

    // Three producers; each stops at its first error (the kill) or after 5000 batches.
    let acked = std::sync::Arc::new(std::sync::Mutex::new(Vec::<(i64, String)>::new()));
    let count = std::sync::Arc::new(AtomicUsize::new(0));
    let producers: Vec<_> = (0..3)
        .map(|t| {
            let acked = acked.clone();
            let count = count.clone();
            std::thread::spawn(move || {
                let Ok(mut c) = RawClient::connect(port) else {
                    return;
                };
                for n in 0..5000 {
                    let tag = format!("t{t}-b{n}");
                    match produce(&mut c, &|i| format!("{tag}-r{i}")) {
                        Ok((0, base)) => {
                            acked.lock().unwrap().push((base, tag));
                            count.fetch_add(1, Ordering::SeqCst);
                        }
                        Ok((code, _)) => panic!("produce failed with error {code}"),
                        Err(_) => return,
                    }
                }
            })
        })
        .collect();
    let deadline = std::time::Instant::now() + START_TIMEOUT;
    while count.load(Ordering::SeqCst) < 300 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    broker.signal_kill();
    broker.wait_exit(Duration::from_secs(10)).expect("killed");
    for p in producers {
        p.join().unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() >= 300,
        "only {} batches acknowledged",
        acked.len()
    );
    assert!(!log_dir.join(".kafka_cleanshutdown").exists());

    // The dead session's registration expires, then the same broker starts again.
    let gone = std::time::Instant::now() + Duration::from_secs(30);
    while client
        .check_stat("/brokers/ids/1")
        .await
        .ok()
        .flatten()
        .is_some()
    {
        assert!(
            std::time::Instant::now() < gone,
            "registration never expired"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let broker = start_broker();
    wait_for_znode(&client, "/brokers/ids/1", START_TIMEOUT).await;
    assert!(
        broker.wait_for_log("no clean shutdown file", START_TIMEOUT),
        "the restart recovers the log"
    );

    // Read everything back (bounded: the partition becomes servable once the controller
    // sent LeaderAndIsr; at most 2000 fetches).
    let mut c = RawClient::connect_with_retry(broker.port(), START_TIMEOUT).unwrap();
    let mut values: Vec<(i64, String)> = Vec::new();
    let mut next = 0i64;
    let read_deadline = std::time::Instant::now() + START_TIMEOUT;
    for _ in 0..2000 {
        let req = FetchRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_max_bytes(1 << 20)
            .with_session_epoch(-1)
            .with_topics(vec![FetchTopic::default()
                .with_topic(TopicName(StrBytes::from_static_str("crash")))
                .with_partitions(vec![FetchPartition::default()
                    .with_partition(0)
                    .with_fetch_offset(next)
                    .with_partition_max_bytes(1 << 20)])]);
        let r = c.send(11, &req).unwrap();
        let p = &r.responses[0].partitions[0];
        if p.error_code != 0 {
            assert!(
                std::time::Instant::now() < read_deadline,
                "fetch error {} after restart\n{}",
                p.error_code,
                broker.logs()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        }
        let mut rest: &[u8] = p.records.as_deref().unwrap_or_default();
        while rest.len() >= 61 {
            let size = 12 + i32::from_be_bytes(rest[8..12].try_into().unwrap()) as usize;
            if size > rest.len() {
                break;
            }
            let batch = RecordBatch::parse(&rest[..size]).unwrap();
            batch
                .validate_crc()
                .expect("every recovered batch has a valid CRC");
            for rec in decode_records(&batch).unwrap() {
                values.push((rec.offset, String::from_utf8(rec.value.unwrap()).unwrap()));
            }
            rest = &rest[size..];
        }
        next = values.last().map_or(0, |(o, _)| o + 1);
        if next >= p.high_watermark {
            break;
        }
    }
    for (i, (offset, _)) in values.iter().enumerate() {
        assert_eq!(*offset, i as i64, "offsets are contiguous from 0");
    }
    for (base, tag) in &acked {
        for i in 0..RECORDS_PER_BATCH {
            let at = values.get(*base as usize + i).map(|(_, v)| v.as_str());
            assert_eq!(
                at,
                Some(format!("{tag}-r{i}").as_str()),
                "acknowledged batch {tag} at offset {base}"
            );
        }
    }
}
