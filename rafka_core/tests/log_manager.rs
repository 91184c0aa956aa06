//! LogManager: dir locking, loading with and without a clean shutdown, checkpoints, log
//! creation/deletion, retention with physical deletion, background flush/checkpoints, live
//! topic config changes. Every wait is bounded.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rafka_core::cluster::TopicPartition;
use rafka_core::config::KafkaConfig;
use rafka_core::log::log_dir_lock::LogDirLockError;
use rafka_core::log::log_manager::{
    lock_log, now_ms, LogManager, LogManagerError, LogManagerHandle, LogManagerOptions,
    TopicOverrides, CLEAN_SHUTDOWN_FILE,
};
use rafka_core::log::{Log, LogStartOffsetIncrementReason};
use rafka_core::record::{build_batch, BatchIter, ProducerInfo, SimpleRecord};
use tokio::sync::watch;
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(10);

fn broker_config(dirs: &[&Path], extra: &[(&str, &str)]) -> Arc<KafkaConfig> {
    let mut props = BTreeMap::new();
    let dirs: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
    props.insert("log.dirs".to_string(), dirs.join(","));
    props.insert("broker.id".to_string(), "0".to_string());
    props.insert("zookeeper.connect".to_string(), "127.0.0.1:1".to_string());
    for (k, v) in extra {
        props.insert(k.to_string(), v.to_string());
    }
    Arc::new(KafkaConfig::from_props(&props).expect("valid config"))
}

fn fast() -> LogManagerOptions {
    LogManagerOptions {
        initial_task_delay: Duration::ZERO,
    }
}

async fn start(config: &Arc<KafkaConfig>) -> LogManagerHandle {
    start_with(config, TopicOverrides::new()).await
}

async fn start_with(config: &Arc<KafkaConfig>, overrides: TopicOverrides) -> LogManagerHandle {
    LogManager::startup_with(config.clone(), Arc::new(overrides), now_ms(), fast())
        .await
        .expect("log manager starts")
}

fn tp(topic: &str, partition: i32) -> TopicPartition {
    TopicPartition::new(topic, partition)
}

/// Appends one batch of `n` records (values `<tag>-<i>`) with the given timestamp.
fn append(log: &mut Log, tag: &str, n: usize, timestamp: i64) -> (i64, i64) {
    let records: Vec<SimpleRecord> = (0..n)
        .map(|i| {
            let v = format!("{tag}-{i}");
            SimpleRecord::new(timestamp, Some(b"key"), Some(v.as_bytes()))
        })
        .collect();
    let mut batch = build_batch(0, ProducerInfo::NONE, &records);
    let info = log
        .append_as_leader(&mut batch, 0, now_ms())
        .expect("append");
    (info.first_offset, info.last_offset)
}

/// Every batch from offset 0, CRC-checked: (base offset, last offset, values).
fn read_all(log: &Log) -> Vec<(i64, i64, Vec<String>)> {
    let mut out = Vec::new();
    let mut next = log.log_start_offset();
    while next < log.log_end_offset() {
        let info = log.read(next, 1 << 20, None, true).expect("read");
        let bytes = info.records.read_to_vec().expect("bytes");
        assert!(!bytes.is_empty(), "read at {next} returned nothing");
        for item in BatchIter::new(&bytes) {
            let (_, batch) = item.expect("whole batch");
            batch.validate().expect("valid CRC");
            let values = decode_values(batch.records_bytes(), batch.records_count());
            out.push((batch.base_offset(), batch.last_offset(), values));
            next = batch.last_offset() + 1;
        }
    }
    out
}

/// Values of an uncompressed records section (just enough of the record format for tests).
fn decode_values(mut buf: &[u8], count: i32) -> Vec<String> {
    fn varint(buf: &mut &[u8]) -> i64 {
        let mut value: u64 = 0;
        let mut shift = 0;
        loop {
            let b = buf[0];
            *buf = &buf[1..];
            value |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                break;
            }
            shift += 7;
        }
        ((value >> 1) as i64) ^ -((value & 1) as i64)
    }
    let mut out = Vec::new();
    for _ in 0..count {
        let len = varint(&mut buf) as usize;
        let (mut rec, rest) = buf.split_at(len);
        buf = rest;
        rec = &rec[1..]; // attributes
        varint(&mut rec); // timestamp delta
        varint(&mut rec); // offset delta
        let klen = varint(&mut rec);
        if klen > 0 {
            rec = &rec[klen as usize..];
        }
        let vlen = varint(&mut rec);
        out.push(String::from_utf8(rec[..vlen as usize].to_vec()).unwrap());
    }
    out
}

fn dir_entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn files_with_suffix(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    fs::read_dir(dir)
        .map(|it| {
            it.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.to_string_lossy().ends_with(suffix))
                .collect()
        })
        .unwrap_or_default()
}

async fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn startup_on_empty_dirs_creates_only_the_lock() {
    let root = tempfile::tempdir().unwrap();
    let a = root.path().join("a");
    let b = root.path().join("b"); // does not exist yet
    fs::create_dir(&a).unwrap();
    let config = broker_config(&[&a, &b], &[]);
    let lm = start(&config).await;
    assert_eq!(dir_entries(&a), vec![".lock"]);
    assert_eq!(dir_entries(&b), vec![".lock"]);
    assert!(lm.all_logs().is_empty());
    assert_eq!(lm.log_dirs(), &[a.clone(), b.clone()]);
    lm.shutdown().await.unwrap();
    for d in [&a, &b] {
        assert_eq!(
            dir_entries(d),
            vec![
                ".kafka_cleanshutdown",
                ".lock",
                "log-start-offset-checkpoint",
                "recovery-point-offset-checkpoint",
                "replication-offset-checkpoint"
            ]
        );
        assert_eq!(
            fs::read_to_string(d.join("recovery-point-offset-checkpoint")).unwrap(),
            "0\n0\n"
        );
    }
    // Stopped: lifecycle calls fail, lookups find nothing.
    assert!(matches!(
        lm.get_or_create_log(tp("t", 0), None).await,
        Err(LogManagerError::Stopped)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clean_shutdown_writes_checkpoints_and_restart_skips_recovery() {
    let dir = tempfile::tempdir().unwrap();
    let config = broker_config(&[dir.path()], &[]);
    let lm = start(&config).await;
    let orders0 = lm.get_or_create_log(tp("orders", 0), None).await.unwrap();
    let orders1 = lm.get_or_create_log(tp("orders", 1), None).await.unwrap();
    let dashed = lm
        .get_or_create_log(tp("my-topic", 12), None)
        .await
        .unwrap();
    {
        let mut log = lock_log(&orders0);
        for i in 0..3 {
            append(&mut log, &format!("o0b{i}"), 2, now_ms());
        }
        assert_eq!(log.log_end_offset(), 6);
        // DeleteRecords-style start offset above the first segment's base.
        log.update_high_watermark(6);
        assert!(log
            .maybe_increment_log_start_offset(
                2,
                LogStartOffsetIncrementReason::ClientRecordDeletion
            )
            .unwrap());
    }
    append(&mut lock_log(&orders1), "o1", 1, now_ms());
    append(&mut lock_log(&dashed), "d", 4, now_ms());
    // The same Arc is handed out again.
    assert!(Arc::ptr_eq(
        &lm.get_log(&tp("orders", 0)).unwrap(),
        &orders0
    ));
    assert!(Arc::ptr_eq(
        &lm.get_or_create_log(tp("orders", 0), None).await.unwrap(),
        &orders0
    ));
    assert_eq!(lm.all_logs().len(), 3);
    drop((orders0, orders1, dashed));

    lm.shutdown().await.unwrap();
    assert!(lm.get_log(&tp("orders", 0)).is_none());
    assert!(dir.path().join(CLEAN_SHUTDOWN_FILE).exists());
    assert_eq!(
        fs::read_to_string(dir.path().join("recovery-point-offset-checkpoint")).unwrap(),
        "0\n3\nmy-topic 12 4\norders 0 6\norders 1 1\n"
    );
    assert_eq!(
        fs::read_to_string(dir.path().join("log-start-offset-checkpoint")).unwrap(),
        "0\n1\norders 0 2\n"
    );
    // High watermarks: orders-0 was set to 6; the others stay at their log start (0).
    assert_eq!(
        fs::read_to_string(dir.path().join("replication-offset-checkpoint")).unwrap(),
        "0\n3\nmy-topic 12 0\norders 0 6\norders 1 0\n"
    );

    // Restart: the marker is consumed, nothing to recover, everything readable.
    let lm = start(&config).await;
    assert!(!dir.path().join(CLEAN_SHUTDOWN_FILE).exists());
    assert_eq!(lm.all_logs().len(), 3);
    let orders0 = lm.get_log(&tp("orders", 0)).unwrap();
    {
        let log = lock_log(&orders0);
        assert_eq!(log.log_start_offset(), 2);
        assert_eq!(log.log_end_offset(), 6);
        assert_eq!(log.recovery_point(), 6);
        assert_eq!(
            log.high_watermark(),
            6,
            "restored from replication-offset-checkpoint"
        );
        let batches = read_all(&log);
        // Reading from the log start (2) returns the batch holding it, [2, 3].
        assert_eq!(
            batches,
            vec![
                (2, 3, vec!["o0b1-0".to_string(), "o0b1-1".to_string()]),
                (4, 5, vec!["o0b2-0".to_string(), "o0b2-1".to_string()]),
            ]
        );
    }
    for (t, leo) in [(tp("orders", 1), 1), (tp("my-topic", 12), 4)] {
        let log = lm.get_log(&t).unwrap();
        let log = lock_log(&log);
        assert_eq!(log.log_end_offset(), leo);
        assert_eq!(log.recovery_point(), leo, "{t}");
        assert_eq!(read_all(&log).len(), 1);
    }
    drop(orders0);
    lm.shutdown().await.unwrap();
}

/// The active segment's `.log` file of a partition.
fn active_log_file(partition_dir: &Path) -> PathBuf {
    let mut logs = files_with_suffix(partition_dir, ".log");
    logs.sort();
    logs.pop().expect("a .log file")
}

fn append_garbage(file: &Path) -> u64 {
    let before = fs::metadata(file).unwrap().len();
    let mut bytes = fs::read(file).unwrap();
    // A plausible batch header prefix followed by junk: a torn write.
    bytes.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 1, 0, 0xde, 0xad, 0xbe, 0xef]);
    fs::write(file, bytes).unwrap();
    before
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unclean_stop_recovers_and_truncates_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let config = broker_config(&[dir.path()], &[]);
    let lm = start(&config).await;
    let log = lm.get_or_create_log(tp("t", 0), None).await.unwrap();
    {
        let mut log = lock_log(&log);
        for i in 0..5 {
            append(&mut log, &format!("b{i}"), 3, now_ms());
        }
        log.flush_all().unwrap();
    }
    drop(log);
    // Like a crash: no checkpoints, no marker.
    lm.halt().await;
    assert!(!dir.path().join(CLEAN_SHUTDOWN_FILE).exists());
    let valid = append_garbage(&active_log_file(&dir.path().join("t-0")));

    let lm = start(&config).await;
    let log = lm.get_log(&tp("t", 0)).unwrap();
    {
        let log = lock_log(&log);
        assert_eq!(log.log_end_offset(), 15);
        assert_eq!(read_all(&log).len(), 5);
        assert!(log.recovery_point() <= 15);
    }
    assert_eq!(
        fs::metadata(active_log_file(&dir.path().join("t-0")))
            .unwrap()
            .len(),
        valid,
        "the torn tail was truncated"
    );
    drop(log);
    lm.shutdown().await.unwrap();

    // Clean shutdown, then the marker disappears (as if the stop had been unclean): the
    // recovery point of the checkpoint drives recovery of the active segment.
    fs::remove_file(dir.path().join(CLEAN_SHUTDOWN_FILE)).unwrap();
    let valid = append_garbage(&active_log_file(&dir.path().join("t-0")));
    let lm = start(&config).await;
    let log = lm.get_log(&tp("t", 0)).unwrap();
    assert_eq!(lock_log(&log).log_end_offset(), 15);
    assert_eq!(read_all(&lock_log(&log)).len(), 5);
    assert_eq!(
        fs::metadata(active_log_file(&dir.path().join("t-0")))
            .unwrap()
            .len(),
        valid
    );
    drop(log);
    lm.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_log_manager_on_the_same_dir_fails_with_the_lock_error() {
    let root = tempfile::tempdir().unwrap();
    let free = root.path().join("free");
    let shared = root.path().join("shared");
    let first = start(&broker_config(&[&shared], &[])).await;
    let err = LogManager::startup_with(
        broker_config(&[&free, &shared], &[]),
        Arc::new(TopicOverrides::new()),
        now_ms(),
        fast(),
    )
    .await
    .unwrap_err();
    match &err {
        LogManagerError::Lock(LogDirLockError::InUse { dir }) => assert_eq!(dir, &shared),
        other => panic!("unexpected {other:?}"),
    }
    assert!(
        err.to_string().contains(&shared.display().to_string()),
        "{err}"
    );
    // The failed start released the lock it did get.
    let other = start(&broker_config(&[&free], &[])).await;
    other.shutdown().await.unwrap();
    first.shutdown().await.unwrap();
    let again = start(&broker_config(&[&shared], &[])).await;
    again.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_deletes_old_segments_then_their_files_after_the_delay() {
    let dir = tempfile::tempdir().unwrap();
    let delay_ms = 400;
    let config = broker_config(
        &[dir.path()],
        &[
            ("log.retention.check.interval.ms", "50"),
            ("log.segment.delete.delay.ms", &delay_ms.to_string()),
        ],
    );
    let overrides = TopicOverrides::from([(
        "old".to_string(),
        BTreeMap::from([
            ("segment.bytes".to_string(), "150".to_string()),
            ("retention.ms".to_string(), "60000".to_string()),
        ]),
    )]);
    // Start with retention effectively paused: segments first, then the high watermark.
    let lm = start_with(&config, overrides).await;
    let log = lm.get_or_create_log(tp("old", 0), None).await.unwrap();
    let partition_dir = dir.path().join("old-0");
    let old_ts = now_ms() - 3_600_000;
    {
        let mut l = lock_log(&log);
        for i in 0..6 {
            append(&mut l, &format!("b{i}"), 2, old_ts);
        }
        assert!(l.num_segments() >= 3, "{} segments", l.num_segments());
        assert_eq!(l.log_end_offset(), 12);
        // Nothing is deletable above the high watermark; now everything is below it.
        l.update_high_watermark(12);
    }
    let renamed_seen = Instant::now();
    wait_until("segments renamed .deleted", || {
        !files_with_suffix(&partition_dir, ".deleted").is_empty()
    })
    .await;
    {
        let l = lock_log(&log);
        // All segments were old, so the log rolled and kept only a new, empty active one.
        assert_eq!(l.num_segments(), 1);
        assert_eq!(l.segment_base_offsets(), vec![12]);
        assert_eq!(l.log_start_offset(), 12);
        assert_eq!(l.log_end_offset(), 12);
    }
    assert!(partition_dir.join("00000000000000000012.log").exists());
    wait_until(".deleted files physically removed", || {
        files_with_suffix(&partition_dir, ".deleted").is_empty()
    })
    .await;
    assert!(
        renamed_seen.elapsed() >= Duration::from_millis(delay_ms - 100),
        "deleted after {:?}, before file.delete.delay.ms",
        renamed_seen.elapsed()
    );
    assert_eq!(files_with_suffix(&partition_dir, ".log").len(), 1);
    // Recent data is kept.
    append(&mut lock_log(&log), "new", 1, now_ms());
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(lock_log(&log).log_start_offset(), 12);
    drop(log);
    lm.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_topic_config_change_applies_to_the_next_append() {
    let dir = tempfile::tempdir().unwrap();
    let config = broker_config(&[dir.path()], &[]);
    let lm = start(&config).await;
    let (config_tx, config_rx) = watch::channel(config.clone());
    let (topics_tx, topics_rx) = watch::channel(Arc::new(TopicOverrides::new()));
    lm.subscribe_configs(config_rx, topics_rx).await.unwrap();
    let log = lm.get_or_create_log(tp("live", 0), None).await.unwrap();
    let other = lm.get_or_create_log(tp("other", 0), None).await.unwrap();
    for _ in 0..3 {
        append(&mut lock_log(&log), "x", 2, now_ms());
    }
    assert_eq!(lock_log(&log).num_segments(), 1);

    topics_tx.send_replace(Arc::new(TopicOverrides::from([(
        "live".to_string(),
        BTreeMap::from([("segment.bytes".to_string(), "100".to_string())]),
    )])));
    wait_until("segment.bytes applied", || {
        lock_log(&log).config().segment_bytes == 100
    })
    .await;
    append(&mut lock_log(&log), "y", 2, now_ms());
    append(&mut lock_log(&log), "z", 2, now_ms());
    assert_eq!(lock_log(&log).num_segments(), 3, "each append rolled");
    assert_eq!(lock_log(&other).config().segment_bytes, 1073741824);

    // A dynamic broker-wide change reaches topics without an override.
    let (effective, rejected) = config.with_dynamic(
        &BTreeMap::from([("log.retention.ms".to_string(), "1234567".to_string())]),
        &BTreeMap::new(),
    );
    assert!(rejected.is_empty(), "{rejected:?}");
    config_tx.send_replace(Arc::new(effective));
    wait_until("broker retention applied", || {
        lock_log(&other).config().retention_ms == 1234567
    })
    .await;
    assert_eq!(lock_log(&log).config().retention_ms, 1234567);
    assert_eq!(lock_log(&log).config().segment_bytes, 100);
    // New logs get the current config too.
    let created = lm.get_or_create_log(tp("live", 1), None).await.unwrap();
    assert_eq!(lock_log(&created).config().segment_bytes, 100);
    assert_eq!(lock_log(&created).config().retention_ms, 1234567);
    drop((log, other, created));
    lm.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_logs_go_to_the_dir_with_fewest_partitions_and_keep_their_topic_id() {
    let root = tempfile::tempdir().unwrap();
    let a = root.path().join("a");
    let b = root.path().join("b");
    let config = broker_config(&[&a, &b], &[]);
    let lm = start(&config).await;
    let id = Uuid::new_v4();
    for p in 0..4 {
        lm.get_or_create_log(tp("spread", p), Some(id))
            .await
            .unwrap();
    }
    let in_a = lm
        .all_logs()
        .iter()
        .filter(|(t, _)| lm.log_dir_of(t).as_deref() == Some(a.as_path()))
        .count();
    assert_eq!(in_a, 2);
    let dir_of_0 = lm.log_dir_of(&tp("spread", 0)).unwrap();
    assert_eq!(dir_of_0, a, "ties go to the first configured dir");
    let metadata = fs::read_to_string(dir_of_0.join("spread-0/partition.metadata")).unwrap();
    assert_eq!(
        metadata,
        format!(
            "version: 0\ntopic_id: {}",
            rafka_core::zk::zk_data::encode_topic_id(&id)
        )
    );
    assert_eq!(lm.topic_id(&tp("spread", 0)), Some(id));
    let err = lm
        .get_or_create_log(tp("spread", 0), Some(Uuid::new_v4()))
        .await
        .unwrap_err();
    assert!(
        matches!(err, LogManagerError::InconsistentTopicId { .. }),
        "{err}"
    );
    lm.shutdown().await.unwrap();
    // The topic id is read back at load.
    let lm = start(&config).await;
    assert_eq!(lm.topic_id(&tp("spread", 3)), Some(id));
    assert_eq!(lm.all_logs().len(), 4);
    lm.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_logs_are_renamed_then_removed_and_leave_the_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let config = broker_config(&[dir.path()], &[("log.segment.delete.delay.ms", "300")]);
    let lm = start(&config).await;
    let gone = lm.get_or_create_log(tp("gone", 0), None).await.unwrap();
    let kept = lm.get_or_create_log(tp("kept", 0), None).await.unwrap();
    append(&mut lock_log(&gone), "g", 2, now_ms());
    append(&mut lock_log(&kept), "k", 3, now_ms());
    lock_log(&kept).flush_all().unwrap();
    assert!(lm.delete_log(tp("gone", 0)).await.unwrap());
    assert!(!lm.delete_log(tp("gone", 0)).await.unwrap());
    assert!(lm.get_log(&tp("gone", 0)).is_none());
    assert!(!dir.path().join("gone-0").exists());
    let renamed: Vec<String> = dir_entries(dir.path())
        .into_iter()
        .filter(|n| n.ends_with("-delete"))
        .collect();
    assert_eq!(renamed.len(), 1, "{renamed:?}");
    let name = &renamed[0];
    assert!(name.starts_with("gone-0.") && name.len() == "gone-0.".len() + 32 + 7);
    assert_eq!(
        fs::read_to_string(dir.path().join("recovery-point-offset-checkpoint")).unwrap(),
        "0\n1\nkept 0 3\n"
    );
    // Appends through a stale handle fail instead of writing into the doomed dir.
    let mut batch = build_batch(
        0,
        ProducerInfo::NONE,
        &[SimpleRecord::new(now_ms(), None, Some(b"late"))],
    );
    assert!(lock_log(&gone)
        .append_as_leader(&mut batch, 0, now_ms())
        .is_err());
    drop(gone);
    wait_until("-delete dir removed", || !dir.path().join(name).exists()).await;
    // A recreated partition starts empty.
    let again = lm.get_or_create_log(tp("gone", 0), None).await.unwrap();
    assert_eq!(lock_log(&again).log_end_offset(), 0);
    drop((again, kept));
    lm.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leftover_delete_dirs_are_removed_after_startup() {
    let dir = tempfile::tempdir().unwrap();
    let leftover = dir
        .path()
        .join("t-0.0123456789abcdef0123456789abcdef-delete");
    fs::create_dir_all(&leftover).unwrap();
    fs::write(leftover.join("00000000000000000000.log"), b"").unwrap();
    let lm = start(&broker_config(&[dir.path()], &[])).await;
    assert!(lm.all_logs().is_empty());
    wait_until("leftover -delete dir removed", || !leftover.exists()).await;
    lm.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn background_flush_and_checkpoints_follow_their_intervals() {
    let dir = tempfile::tempdir().unwrap();
    let config = broker_config(
        &[dir.path()],
        &[
            ("log.flush.scheduler.interval.ms", "50"),
            ("log.flush.interval.ms", "100"),
            ("log.flush.offset.checkpoint.interval.ms", "100"),
            ("log.flush.start.offset.checkpoint.interval.ms", "100"),
        ],
    );
    let lm = start(&config).await;
    let log = lm.get_or_create_log(tp("bg", 0), None).await.unwrap();
    {
        let mut l = lock_log(&log);
        append(&mut l, "a", 5, now_ms());
        append(&mut l, "b", 5, now_ms());
        assert_eq!(l.recovery_point(), 0);
    }
    wait_until("flusher moved the recovery point", || {
        lock_log(&log).recovery_point() == 10
    })
    .await;
    let rp = dir.path().join("recovery-point-offset-checkpoint");
    wait_until("recovery points checkpointed", || {
        fs::read_to_string(&rp).is_ok_and(|s| s == "0\n1\nbg 0 10\n")
    })
    .await;
    {
        let mut l = lock_log(&log);
        l.update_high_watermark(10);
        l.maybe_increment_log_start_offset(5, LogStartOffsetIncrementReason::ClientRecordDeletion)
            .unwrap();
    }
    let ls = dir.path().join("log-start-offset-checkpoint");
    wait_until("log start offsets checkpointed", || {
        fs::read_to_string(&ls).is_ok_and(|s| s == "0\n1\nbg 0 5\n")
    })
    .await;
    drop(log);
    lm.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_that_fails_to_load_is_offline_and_the_rest_load() {
    let dir = tempfile::tempdir().unwrap();
    let config = broker_config(&[dir.path()], &[]);
    let lm = start(&config).await;
    for t in ["good", "bad"] {
        let log = lm.get_or_create_log(tp(t, 0), None).await.unwrap();
        append(&mut lock_log(&log), t, 1, now_ms());
    }
    lm.shutdown().await.unwrap();
    // Make the bad partition unloadable: its offset index is a directory.
    let bad = dir.path().join("bad-0");
    fs::remove_dir_all(&bad).unwrap();
    fs::create_dir(&bad).unwrap();
    fs::write(bad.join("00000000000000000000.log"), b"").unwrap();
    fs::create_dir(bad.join("00000000000000000000.index")).unwrap();
    let lm = start(&config).await;
    assert_eq!(lm.offline_partitions(), vec![tp("bad", 0)]);
    assert!(
        bad.join("00000000000000000000.index").is_dir(),
        "left untouched"
    );
    assert!(lm.get_log(&tp("good", 0)).is_some());
    assert!(matches!(
        lm.get_or_create_log(tp("bad", 0), None).await,
        Err(LogManagerError::OfflinePartition(_))
    ));
    lm.shutdown().await.unwrap();
    // Its dir gets no clean-shutdown marker: the broken partition was never recovered.
    assert!(!dir.path().join(CLEAN_SHUTDOWN_FILE).exists());
    assert_eq!(
        fs::read_to_string(dir.path().join("recovery-point-offset-checkpoint")).unwrap(),
        "0\n1\ngood 0 1\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cleaner_compacts_compacted_topics_and_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let config = broker_config(
        &[dir.path()],
        &[
            ("log.cleaner.backoff.ms", "50"),
            ("log.cleaner.dedupe.buffer.size", "2097152"),
        ],
    );
    let mut overrides = TopicOverrides::new();
    let mut topic = BTreeMap::new();
    topic.insert("cleanup.policy".to_string(), "compact".to_string());
    topic.insert("segment.bytes".to_string(), "512".to_string());
    topic.insert("min.cleanable.dirty.ratio".to_string(), "0.01".to_string());
    overrides.insert("compacted".to_string(), topic);
    let manager = start_with(&config, overrides).await;
    let log = manager
        .get_or_create_log(tp("compacted", 0), None)
        .await
        .unwrap();
    let last_value = {
        let mut l = lock_log(&log);
        for round in 0..40 {
            append(&mut l, &format!("r{round}"), 3, now_ms());
        }
        // Only data below the high watermark may be cleaned.
        let leo = l.log_end_offset();
        l.update_high_watermark(leo);
        assert!(l.num_segments() > 5, "tiny segments make many segments");
        "r39-2".to_string()
    };
    let before = read_all(&lock_log(&log))
        .iter()
        .map(|(_, _, v)| v.len())
        .sum::<usize>();
    assert_eq!(before, 120);
    wait_until("the cleaner compacted the log", || {
        let after: usize = read_all(&lock_log(&log))
            .iter()
            .map(|(_, _, v)| v.len())
            .sum();
        after < before / 4
    })
    .await;
    // Every record has the same key: only the newest values survive, the last one included.
    let values: Vec<String> = read_all(&lock_log(&log))
        .into_iter()
        .flat_map(|(_, _, v)| v)
        .collect();
    assert_eq!(values.last(), Some(&last_value));
    wait_until("cleaner-offset-checkpoint written", || {
        fs::read_to_string(dir.path().join("cleaner-offset-checkpoint"))
            .map(|t| t.contains("compacted 0 "))
            .unwrap_or(false)
    })
    .await;
    manager.shutdown().await.unwrap();
}
