//! Log compaction (spec log-format.md §10, §6 cleaner-offset-checkpoint, §1/§9 `.cleaned` /
//! `.swap`): the latest value per key survives with its offset, tombstones live for
//! `delete.retention.ms`, the active segment and the min-compaction-lag / high-watermark tail
//! are untouched, dirty-ratio selection, the checkpoint, reloads, crash leftovers, compressed
//! and producer batches, aborts, the background threads, and a model-based proptest.

/// Named like the file so that `cargo test -p rafka_core log_cleaner` selects every test.
mod log_cleaner {
    use std::collections::{BTreeMap, HashMap, HashSet};
    use std::fs;
    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    use proptest::prelude::*;
    use rafka_core::cluster::TopicPartition;
    use rafka_core::config::{KafkaConfig, LogConfig};
    use rafka_core::log::checkpoints::OffsetCheckpointFile;
    use rafka_core::log::cleaner_manager::{
        choose_filthiest_log, cleanable_offsets, LogCleaningState, LogToClean,
    };
    use rafka_core::log::{
        CleanRound, Cleaner, CleanerConfig, CleanerError, LoadOptions, Log, LogCleaner,
    };
    use rafka_core::record::control::end_txn_marker_batch;
    use rafka_core::record::{
        build_batch, build_batch_with, decode_records, BatchIter, BatchOptions, CompressionType,
        EndTransactionMarker, ProducerInfo, SimpleRecord,
    };

    const RETENTION: i64 = 10_000;

    fn tp() -> TopicPartition {
        TopicPartition::new("compacted", 0)
    }

    fn config(f: impl FnOnce(&mut LogConfig)) -> Arc<LogConfig> {
        let mut props = BTreeMap::new();
        props.insert("zookeeper.connect".to_string(), "zk:2181".to_string());
        let broker = KafkaConfig::from_props(&props).unwrap();
        let mut c = LogConfig::from_broker_and_overrides(&broker, &BTreeMap::new()).unwrap();
        c.cleanup_policy = vec!["compact".to_string()];
        c.segment_bytes = 600;
        c.segment_index_bytes = 1024;
        c.index_interval_bytes = 100;
        c.segment_jitter_ms = 0;
        c.delete_retention_ms = RETENTION;
        c.min_compaction_lag_ms = 0;
        c.min_cleanable_dirty_ratio = 0.5;
        f(&mut c);
        Arc::new(c)
    }

    fn cleaner_config() -> CleanerConfig {
        CleanerConfig {
            dedupe_buffer_size: 1024 * 1024,
            io_buffer_size: 256,
            backoff_ms: 10,
            ..CleanerConfig::default()
        }
    }

    fn open_at(dir: &Path, tp: TopicPartition, cfg: &Arc<LogConfig>, clean: bool) -> Log {
        Log::open(
            dir,
            tp,
            Arc::clone(cfg),
            LoadOptions {
                recovery_point: 0,
                log_start_offset: 0,
                had_clean_shutdown: clean,
                now_ms: 0,
            },
        )
        .unwrap()
    }

    fn open(dir: &Path, cfg: &Arc<LogConfig>, clean: bool) -> Log {
        open_at(dir, tp(), cfg, clean)
    }

    type Kv<'a> = (Option<&'a str>, Option<&'a str>);

    fn records(kvs: &[Kv<'_>], ts: i64) -> Vec<SimpleRecord> {
        kvs.iter()
            .enumerate()
            .map(|(i, (k, v))| {
                SimpleRecord::new(ts + i as i64, k.map(str::as_bytes), v.map(str::as_bytes))
            })
            .collect()
    }

    /// Appends one uncompressed batch at the log end (as a follower: keys are not checked).
    fn append(log: &mut Log, kvs: &[Kv<'_>], ts: i64) -> i64 {
        let base = log.log_end_offset();
        let batch = build_batch(base, ProducerInfo::NONE, &records(kvs, ts));
        log.append_as_follower(&batch, ts).unwrap();
        base
    }

    fn append_with(
        log: &mut Log,
        codec: CompressionType,
        producer: ProducerInfo,
        options: &BatchOptions,
        kvs: &[Kv<'_>],
        ts: i64,
    ) -> i64 {
        let base = log.log_end_offset();
        let batch = build_batch_with(codec, base, producer, &records(kvs, ts), options).unwrap();
        log.append_as_follower(&batch, ts).unwrap();
        base
    }

    fn hw_to_end(log: &mut Log) {
        let leo = log.log_end_offset();
        log.update_high_watermark(leo);
    }

    #[derive(Clone, Debug, PartialEq, Eq)]
    struct Rec {
        offset: i64,
        key: Option<Vec<u8>>,
        value: Option<Vec<u8>>,
        timestamp: i64,
    }

    #[derive(Clone, Debug, PartialEq, Eq)]
    struct BatchInfo {
        base: i64,
        last: i64,
        count: i32,
        attributes: i16,
        codec: CompressionType,
        producer_id: i64,
        producer_epoch: i16,
        base_sequence: i32,
        base_timestamp: i64,
        max_timestamp: i64,
    }

    /// Every batch and record of every segment file (CRCs checked).
    fn scan(log: &Log) -> (Vec<BatchInfo>, Vec<Rec>) {
        let mut batches = Vec::new();
        let mut recs = Vec::new();
        for seg in log.segments() {
            let bytes = seg.log().slice(0, seg.size()).read_to_vec().unwrap();
            for item in BatchIter::new(&bytes) {
                let (_, batch) = item.unwrap();
                assert!(batch.is_valid(), "bad CRC in {batch:?}");
                batches.push(BatchInfo {
                    base: batch.base_offset(),
                    last: batch.last_offset(),
                    count: batch.records_count(),
                    attributes: batch.attributes(),
                    codec: batch.compression().unwrap(),
                    producer_id: batch.producer_id(),
                    producer_epoch: batch.producer_epoch(),
                    base_sequence: batch.base_sequence(),
                    base_timestamp: batch.base_timestamp(),
                    max_timestamp: batch.max_timestamp(),
                });
                for r in decode_records(&batch).unwrap() {
                    recs.push(Rec {
                        offset: r.offset,
                        key: r.key,
                        value: r.value,
                        timestamp: r.timestamp,
                    });
                }
            }
        }
        (batches, recs)
    }

    fn read_all(log: &Log) -> Vec<Rec> {
        scan(log).1
    }

    /// Reads the whole log through `Log::read` (fetch path), batch after batch.
    fn read_via_fetch(log: &Log) -> Vec<Rec> {
        let mut out = Vec::new();
        let mut next = log.log_start_offset();
        while next < log.log_end_offset() {
            let info = log.read(next, 1 << 20, None, true).unwrap();
            let bytes = info.records.read_to_vec().unwrap();
            if bytes.is_empty() {
                break;
            }
            for item in BatchIter::new(&bytes) {
                let (_, batch) = item.unwrap();
                for r in decode_records(&batch).unwrap() {
                    if r.offset >= next {
                        out.push(Rec {
                            offset: r.offset,
                            key: r.key,
                            value: r.value,
                            timestamp: r.timestamp,
                        });
                    }
                }
                next = next.max(batch.next_offset());
            }
        }
        out
    }

    fn dir_names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    fn temp_files(dir: &Path) -> Vec<String> {
        dir_names(dir)
            .into_iter()
            .filter(|n| n.ends_with(".cleaned") || n.ends_with(".swap"))
            .collect()
    }

    fn copy_dir(from: &Path, to: &Path) {
        fs::create_dir_all(to).unwrap();
        for e in fs::read_dir(from).unwrap() {
            let e = e.unwrap();
            fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }

    /// The compaction model: below `end`, the latest record of each key (records without key
    /// dropped, tombstones dropped when `drop_tombstones`); at or above `end`, everything.
    fn model(all: &[Rec], end: i64, drop_tombstones: bool) -> Vec<Rec> {
        let mut latest: HashMap<&Vec<u8>, i64> = HashMap::new();
        for r in all.iter().filter(|r| r.offset < end) {
            if let Some(k) = &r.key {
                latest.insert(k, r.offset);
            }
        }
        all.iter()
            .filter(|r| {
                r.offset >= end
                    || r.key.as_ref().is_some_and(|k| {
                        latest[k] == r.offset && (r.value.is_some() || !drop_tombstones)
                    })
            })
            .cloned()
            .collect()
    }

    /// 40 batches of 2 records over keys k0..k5 (values name their offset), a record without a
    /// key, a tombstone for k3, then a roll and one batch in the active segment.
    fn write_standard(log: &mut Log) -> Vec<Rec> {
        for i in 0..40i64 {
            let base = log.log_end_offset();
            let k1 = format!("k{}", i % 6);
            let k2 = format!("k{}", (i * 7 + 3) % 6);
            let v1 = format!("v{base}");
            let v2 = format!("v{}", base + 1);
            if i == 17 {
                append(
                    log,
                    &[(None, Some("no-key")), (Some(&k2), Some(&v2))],
                    1_000 + base,
                );
            } else if i == 31 {
                append(
                    log,
                    &[(Some("k3"), None), (Some("k1"), Some(&v2))],
                    1_000 + base,
                );
            } else {
                append(
                    log,
                    &[(Some(&k1), Some(&v1)), (Some(&k2), Some(&v2))],
                    1_000 + base,
                );
            }
        }
        let now = 1_000 + log.log_end_offset();
        log.roll(now).unwrap();
        let base = log.log_end_offset();
        append(
            log,
            &[(Some("k0"), Some("active")), (Some("k1"), Some("active"))],
            1_000 + base,
        );
        hw_to_end(log);
        read_all(log)
    }

    #[test]
    fn compaction_keeps_latest_value_per_key_with_original_offsets() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("compacted-0");
        let cfg = config(|_| {});
        let mut log = open(&dir, &cfg, false);
        let original = write_standard(&mut log);
        let active = log.active_segment().unwrap();
        let active_base = active.base_offset();
        let active_bytes = active.log().slice(0, active.size()).read_to_vec().unwrap();
        let segments_before = log.num_segments();
        assert!(segments_before > 5, "{segments_before} segments");
        let leo = log.log_end_offset();

        let mut cleaner = Cleaner::new(&cleaner_config());
        let stats = cleaner.clean(&mut log, 0, 2_000).unwrap();

        assert_eq!(stats.first_dirty_offset, 0);
        assert_eq!(stats.end_offset, active_base);
        assert!(!stats.map_full);
        assert_eq!(stats.invalid_records, 1);
        assert_eq!(stats.tombstones_removed, 0);
        let after = read_all(&log);
        assert_eq!(after, model(&original, active_base, false));
        // Every surviving record is the original record at that offset.
        let by_offset: HashMap<i64, &Rec> = original.iter().map(|r| (r.offset, r)).collect();
        for r in &after {
            assert_eq!(by_offset[&r.offset], r);
        }
        assert_eq!(
            stats.records_kept + stats.records_removed,
            stats.records_read
        );
        assert_eq!(
            stats.records_kept as usize,
            after.iter().filter(|r| r.offset < active_base).count()
        );
        // The active segment is untouched, the log end too; small segments were merged.
        let active = log.active_segment().unwrap();
        assert_eq!(active.base_offset(), active_base);
        assert_eq!(
            active.log().slice(0, active.size()).read_to_vec().unwrap(),
            active_bytes
        );
        assert_eq!(log.log_end_offset(), leo);
        // Groups are formed from the sizes before cleaning (Kafka's groupSegmentsBySize): these
        // segments were nearly full, so each was rewritten alone.
        assert_eq!(log.num_segments(), segments_before);
        assert_eq!(stats.segments_cleaned, segments_before - 1);
        assert!(stats.bytes_written < stats.bytes_read);
        // The fetch path sees the same, gaps and all.
        assert_eq!(read_via_fetch(&log), after);
        // Swapped cleanly: no temporary files; the old segments wait as `.deleted`.
        assert!(temp_files(&dir).is_empty());
        assert!(dir_names(&dir).iter().any(|n| n.ends_with(".log.deleted")));
        log.delete_pending_files_now().unwrap();
        assert!(!dir_names(&dir).iter().any(|n| n.ends_with(".deleted")));

        // Nothing new is dirty: a second cleaning from the end offset does nothing.
        let again = cleaner.clean(&mut log, stats.end_offset, 2_000).unwrap();
        assert_eq!(again.end_offset, stats.end_offset);
        assert_eq!(again.segments_written, 0);
        assert_eq!(read_all(&log), after);

        // The next cleaning merges the now small cleaned segments.
        append(&mut log, &[(Some("k5"), Some("later"))], 3_000);
        log.roll(3_001).unwrap();
        hw_to_end(&mut log);
        let next = cleaner.clean(&mut log, stats.end_offset, 3_000).unwrap();
        assert!(next.segments_written < next.segments_cleaned, "{next:?}");
        assert!(log.num_segments() < segments_before);
        let everything = [
            original.clone(),
            read_all(&log)
                .into_iter()
                .filter(|r| r.offset >= leo)
                .collect(),
        ]
        .concat();
        assert_eq!(read_all(&log), model(&everything, next.end_offset, false));
    }

    #[test]
    fn cleaning_from_a_dirty_offset_leaves_clean_records_not_superseded() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("compacted-0");
        let mut log = open(&dir, &config(|_| {}), false);
        let mut cleaner = Cleaner::new(&cleaner_config());
        append(
            &mut log,
            &[(Some("a"), Some("a1")), (Some("b"), Some("b1"))],
            1_000,
        );
        append(
            &mut log,
            &[(Some("a"), Some("a2")), (Some("c"), Some("c1"))],
            1_001,
        );
        log.roll(1_002).unwrap();
        append(&mut log, &[(Some("x"), Some("x"))], 1_003);
        hw_to_end(&mut log);
        let first = cleaner.clean(&mut log, 0, 2_000).unwrap();
        assert_eq!(first.end_offset, 4);
        append(&mut log, &[(Some("b"), Some("b2"))], 1_004);
        log.roll(1_005).unwrap();
        hw_to_end(&mut log);
        // Only [4, 6) is dirty: x stays (not superseded), b1 goes (b2 is newer), a2/c1 stay.
        let second = cleaner.clean(&mut log, first.end_offset, 2_000).unwrap();
        assert_eq!(second.first_dirty_offset, 4);
        assert_eq!(second.end_offset, 6);
        let values: Vec<(i64, Vec<u8>)> = read_all(&log)
            .into_iter()
            .map(|r| (r.offset, r.value.unwrap()))
            .collect();
        assert_eq!(
            values,
            vec![
                (2, b"a2".to_vec()),
                (3, b"c1".to_vec()),
                (4, b"x".to_vec()),
                (5, b"b2".to_vec())
            ]
        );
    }

    #[test]
    fn tombstones_survive_delete_retention_after_their_first_cleaning() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("compacted-0");
        let mut log = open(&dir, &config(|_| {}), false);
        let mut cleaner = Cleaner::new(&cleaner_config());
        append(
            &mut log,
            &[(Some("k1"), Some("a")), (Some("k2"), Some("b"))],
            1_000,
        );
        append(
            &mut log,
            &[(Some("k1"), None), (Some("k2"), Some("c"))],
            1_010,
        );
        log.roll(1_020).unwrap();
        append(&mut log, &[(Some("z"), Some("z"))], 1_030);
        hw_to_end(&mut log);

        // First cleaning at 2 000: the tombstone is young; its batch gets a delete horizon.
        let s1 = cleaner.clean(&mut log, 0, 2_000).unwrap();
        assert_eq!(s1.tombstones_removed, 0);
        let (batches, recs) = scan(&log);
        let tombstone = recs.iter().find(|r| r.value.is_none()).unwrap();
        assert_eq!((tombstone.offset, tombstone.timestamp), (2, 1_010));
        let holder = batches.iter().find(|b| b.base == 2).unwrap();
        assert_eq!(holder.attributes & 0x40, 0x40, "delete horizon flag");
        assert_eq!(holder.base_timestamp, 2_000 + RETENTION);
        assert_eq!(
            (holder.last, holder.count, holder.max_timestamp),
            (3, 2, 1_011)
        );
        assert_eq!(
            recs.iter().map(|r| r.offset).collect::<Vec<_>>(),
            vec![2, 3, 4]
        );

        // More dirty data, cleaned just before the horizon: kept; at the horizon: removed.
        append(&mut log, &[(Some("k9"), Some("x"))], 1_040);
        log.roll(1_050).unwrap();
        hw_to_end(&mut log);
        let s2 = cleaner
            .clean(&mut log, s1.end_offset, 2_000 + RETENTION - 1)
            .unwrap();
        assert_eq!(s2.tombstones_removed, 0);
        assert!(read_all(&log).iter().any(|r| r.value.is_none()));
        append(&mut log, &[(Some("k8"), Some("x"))], 1_060);
        log.roll(1_070).unwrap();
        hw_to_end(&mut log);
        let s3 = cleaner
            .clean(&mut log, s2.end_offset, 2_000 + RETENTION)
            .unwrap();
        assert_eq!(s3.tombstones_removed, 1);
        let (batches, recs) = scan(&log);
        assert!(recs.iter().all(|r| r.value.is_some()));
        // The batch lost its tombstone, hence its horizon; offsets and timestamps stay.
        let holder = batches.iter().find(|b| b.base == 2).unwrap();
        assert_eq!(holder.attributes & 0x40, 0);
        assert_eq!((holder.last, holder.count), (3, 1));
        let k2 = recs.iter().find(|r| r.offset == 3).unwrap();
        assert_eq!(
            (k2.timestamp, k2.value.as_deref()),
            (1_011, Some(&b"c"[..]))
        );
    }

    #[test]
    fn tombstones_in_segments_older_than_delete_retention_go_at_once() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("compacted-0");
        let mut log = open(&dir, &config(|_| {}), false);
        append(
            &mut log,
            &[(Some("k1"), Some("a")), (Some("k2"), None)],
            1_000,
        );
        log.roll(1_100).unwrap();
        append(&mut log, &[(Some("k3"), None)], 50_000);
        log.roll(50_100).unwrap();
        append(&mut log, &[(Some("z"), Some("z"))], 50_200);
        hw_to_end(&mut log);
        // now − retention = 45 000: the first segment (largest ts 1 001) is past it, the second
        // (50 000) is not.
        let stats = Cleaner::new(&cleaner_config())
            .clean(&mut log, 0, 55_000)
            .unwrap();
        assert_eq!(stats.tombstones_removed, 1);
        let keys: Vec<(Vec<u8>, bool)> = read_all(&log)
            .into_iter()
            .map(|r| (r.key.unwrap(), r.value.is_some()))
            .collect();
        assert_eq!(
            keys,
            vec![
                (b"k1".to_vec(), true),
                (b"k3".to_vec(), false),
                (b"z".to_vec(), true)
            ]
        );
    }

    #[test]
    fn min_compaction_lag_and_high_watermark_bound_the_cleanable_range() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("compacted-0");
        let cfg = config(|c| c.min_compaction_lag_ms = 3_000);
        let mut log = open(&dir, &cfg, false);
        let mut bases = Vec::new();
        for ts in [1_000, 5_000, 9_000] {
            bases.push(append(
                &mut log,
                &[(Some("k"), Some("old")), (Some("k"), Some("x"))],
                ts,
            ));
            log.roll(ts + 10).unwrap();
        }
        append(&mut log, &[(Some("k"), Some("active"))], 9_500);
        hw_to_end(&mut log);
        // now − lag = 7 000: the segment at bases[2] (records at 9 000) is too young.
        let offsets = cleanable_offsets(&log, None, 10_000);
        assert_eq!(offsets.first_dirty_offset, 0);
        assert_eq!(offsets.first_uncleanable_offset, bases[2]);
        // A high watermark inside the second segment rounds down to its base.
        log.update_high_watermark(bases[1] + 1);
        assert_eq!(
            cleanable_offsets(&log, None, 10_000).first_uncleanable_offset,
            bases[1]
        );
        hw_to_end(&mut log);

        let original = read_all(&log);
        let stats = Cleaner::new(&cleaner_config())
            .clean(&mut log, 0, 10_000)
            .unwrap();
        assert_eq!(stats.end_offset, bases[2]);
        assert_eq!(read_all(&log), model(&original, bases[2], false));
        // Everything from bases[2] on is untouched (duplicates included).
        let tail: Vec<i64> = read_all(&log)
            .iter()
            .map(|r| r.offset)
            .filter(|o| *o >= bases[2])
            .collect();
        assert_eq!(tail, vec![4, 5, 6]);

        // Later, with the clock past the lag, the rest (except the active segment) is cleaned.
        let stats = Cleaner::new(&cleaner_config())
            .clean(&mut log, stats.end_offset, 20_000)
            .unwrap();
        assert_eq!(stats.end_offset, 6);
        let offsets: Vec<i64> = read_all(&log).iter().map(|r| r.offset).collect();
        assert_eq!(offsets, vec![5, 6]);
    }

    #[test]
    fn checkpoint_offsets_out_of_range_are_reset_to_the_log_start() {
        let tmp = tempfile::tempdir().unwrap();
        let mut log = open(&tmp.path().join("compacted-0"), &config(|_| {}), false);
        append(&mut log, &[(Some("a"), Some("1"))], 1_000);
        log.roll(1_001).unwrap();
        hw_to_end(&mut log);
        let o = cleanable_offsets(&log, Some(99), 2_000);
        assert_eq!((o.first_dirty_offset, o.force_update_checkpoint), (0, true));
        let o = cleanable_offsets(&log, Some(1), 2_000);
        assert_eq!((o.first_dirty_offset, o.first_uncleanable_offset), (1, 1));
        assert!(!o.is_cleanable());
    }

    fn dirty_log(
        root: &Path,
        name: &str,
        policy: &str,
        batches: usize,
        roll_every: usize,
    ) -> Arc<Mutex<Log>> {
        let cfg = config(|c| {
            c.cleanup_policy = policy.split(',').map(str::to_string).collect();
            c.segment_bytes = 100_000;
        });
        let tp = TopicPartition::new(name, 0);
        let mut log = open_at(&root.join(tp.dir_name()), tp, &cfg, false);
        for i in 0..batches {
            append(
                &mut log,
                &[(Some("k"), Some("0123456789"))],
                1_000 + i as i64,
            );
            if (i + 1) % roll_every == 0 {
                log.roll(1_000 + i as i64).unwrap();
            }
        }
        log.roll(2_000).unwrap();
        append(&mut log, &[(Some("k"), Some("active"))], 2_000);
        hw_to_end(&mut log);
        Arc::new(Mutex::new(log))
    }

    #[test]
    fn dirty_ratio_selection_picks_the_filthiest_log() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        // 10 batches each, one segment per batch: the checkpoint decides the dirty ratio.
        let a = dirty_log(root, "a", "compact", 10, 1);
        let b = dirty_log(root, "b", "compact", 10, 1);
        let c = dirty_log(root, "c", "compact,delete", 10, 1);
        assert!(c.lock().unwrap().config().compact() && c.lock().unwrap().config().delete());
        let d = dirty_log(root, "d", "delete", 10, 1);
        let measure = |name: &str, log: &Arc<Mutex<Log>>, checkpoint: Option<i64>, now: i64| {
            LogToClean::new(
                TopicPartition::new(name, 0),
                &log.lock().unwrap(),
                checkpoint,
                now,
            )
        };
        let la = measure("a", &a, Some(8), 3_000); // 2 of 10 dirty: 0.2
        let lb = measure("b", &b, Some(4), 3_000); // 6 of 10: 0.6
        let lc = measure("c", &c, Some(2), 3_000); // 8 of 10: 0.8
        assert!((la.cleanable_ratio() - 0.2).abs() < 1e-9, "{la:?}");
        assert!((lb.cleanable_ratio() - 0.6).abs() < 1e-9);
        assert!((lc.cleanable_ratio() - 0.8).abs() < 1e-9);
        assert_eq!(la.data_dir, root);
        assert!(!la.is_cleanable());
        let all = vec![la.clone(), lb.clone(), lc.clone()];
        assert_eq!(
            choose_filthiest_log(&all).unwrap().topic_partition.topic,
            "c"
        );
        assert_eq!(
            choose_filthiest_log(&all[..2])
                .unwrap()
                .topic_partition
                .topic,
            "b"
        );
        assert!(choose_filthiest_log(&all[..1]).is_none());
        // The ratio bound is inclusive (spec §10: ≥ min.cleanable.dirty.ratio).
        let mut exact = lb.clone();
        exact.min_cleanable_ratio = 0.6;
        assert!(exact.is_cleanable());
        // max.compaction.lag.ms forces a log below the ratio.
        a.lock().unwrap().update_config(config(|c| {
            c.segment_bytes = 100_000;
            c.max_compaction_lag_ms = 1_500;
        }));
        let forced = measure("a", &a, Some(8), 3_000);
        assert!(forced.needs_compaction_now && forced.is_cleanable());
        assert!(!measure("a", &a, Some(8), 2_000).needs_compaction_now);

        // Through the manager: checkpoints come from the log dir; "delete" logs are ignored.
        OffsetCheckpointFile::cleaner_offset(root)
            .write(&BTreeMap::from([
                (TopicPartition::new("b", 0), 4),
                (TopicPartition::new("c", 0), 2),
            ]))
            .unwrap();
        let logs = vec![
            (TopicPartition::new("b", 0), b.clone()),
            (TopicPartition::new("c", 0), c.clone()),
            (TopicPartition::new("d", 0), d.clone()),
        ];
        let cleaner = LogCleaner::with_clock(cleaner_config(), move || logs.clone(), || 3_000);
        let manager = cleaner.manager();
        let logs = vec![
            (TopicPartition::new("b", 0), b.clone()),
            (TopicPartition::new("c", 0), c.clone()),
            (TopicPartition::new("d", 0), d.clone()),
        ];
        let (first, _) = manager.grab_filthiest_compacted_log(&logs, 3_000).unwrap();
        assert_eq!(first.topic_partition.topic, "c");
        assert_eq!(first.first_dirty_offset, 2);
        assert_eq!(
            cleaner.cleaning_state(&first.topic_partition),
            Some(LogCleaningState::InProgress)
        );
        // c is in progress: the next grab takes b; then nothing is left ("d" is not compacted).
        let (second, _) = manager.grab_filthiest_compacted_log(&logs, 3_000).unwrap();
        assert_eq!(second.topic_partition.topic, "b");
        assert!(manager.grab_filthiest_compacted_log(&logs, 3_000).is_none());
    }

    #[test]
    fn log_cleaner_writes_and_rereads_the_checkpoint() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        let cfg = config(|_| {});
        let log = Arc::new(Mutex::new(open(&root.join("compacted-0"), &cfg, false)));
        let original = write_standard(&mut log.lock().unwrap());
        let active_base = log.lock().unwrap().active_segment().unwrap().base_offset();
        let checkpoint = OffsetCheckpointFile::cleaner_offset(&root);
        // A stale entry for a partition that is gone is dropped by the next write.
        checkpoint
            .write(&BTreeMap::from([(TopicPartition::new("gone", 3), 42)]))
            .unwrap();
        let source = {
            let log = log.clone();
            move || vec![(tp(), log.clone())]
        };
        let lc = LogCleaner::with_clock(cleaner_config(), source.clone(), || 2_000);
        let mut cleaner = lc.new_cleaner();
        match lc.clean_once(&mut cleaner) {
            CleanRound::Cleaned {
                topic_partition,
                stats,
            } => {
                assert_eq!(topic_partition, tp());
                assert_eq!(stats.end_offset, active_base);
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(
            checkpoint.read().unwrap(),
            BTreeMap::from([(tp(), active_base)])
        );
        assert_eq!(
            read_all(&log.lock().unwrap()),
            model(&original, active_base, false)
        );
        assert!(matches!(lc.clean_once(&mut cleaner), CleanRound::Idle));
        assert_eq!(lc.cleaning_state(&tp()), None);

        // A new cleaner (restart) reads the checkpoint: still nothing to do.
        let lc2 = LogCleaner::with_clock(cleaner_config(), source.clone(), || 2_000);
        let mut cleaner2 = lc2.new_cleaner();
        assert!(matches!(lc2.clean_once(&mut cleaner2), CleanRound::Idle));
        // New dirty data: cleaning resumes from the checkpoint.
        {
            let mut l = log.lock().unwrap();
            for i in 0..10 {
                append(
                    &mut l,
                    &[
                        (Some("k0"), Some("new")),
                        (Some(&format!("n{i}")), Some("x")),
                    ],
                    1_500,
                );
            }
            l.roll(1_600).unwrap();
            hw_to_end(&mut l);
        }
        let new_end = log.lock().unwrap().active_segment().unwrap().base_offset();
        match lc2.clean_once(&mut cleaner2) {
            CleanRound::Cleaned { stats, .. } => {
                assert_eq!(stats.first_dirty_offset, active_base);
                assert_eq!(stats.end_offset, new_end);
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(checkpoint.read().unwrap()[&tp()], new_end);

        // LogManager hooks: truncation lowers the checkpoint, deletion removes the entry.
        lc2.maybe_truncate_checkpoint(&root, &tp(), 7).unwrap();
        assert_eq!(checkpoint.read().unwrap()[&tp()], 7);
        lc2.maybe_truncate_checkpoint(&root, &tp(), 100).unwrap();
        assert_eq!(checkpoint.read().unwrap()[&tp()], 7);
        lc2.remove_from_checkpoint(&root, &tp()).unwrap();
        assert!(checkpoint.read().unwrap().is_empty());
    }

    #[test]
    fn reopening_after_cleaning_gives_the_same_content() {
        for clean_shutdown in [true, false] {
            let tmp = tempfile::tempdir().unwrap();
            let dir = tmp.path().join("compacted-0");
            let cfg = config(|_| {});
            let mut log = open(&dir, &cfg, false);
            write_standard(&mut log);
            Cleaner::new(&cleaner_config())
                .clean(&mut log, 0, 2_000)
                .unwrap();
            let content = scan(&log);
            let leo = log.log_end_offset();
            let bases = log.segment_base_offsets();
            if clean_shutdown {
                log.close().unwrap();
            }
            drop(log);
            let reopened = open(&dir, &cfg, clean_shutdown);
            assert_eq!(reopened.log_end_offset(), leo);
            assert_eq!(reopened.segment_base_offsets(), bases);
            assert_eq!(scan(&reopened), content);
            assert!(temp_files(&dir).is_empty());
            assert!(!dir_names(&dir).iter().any(|n| n.ends_with(".deleted")));
        }
    }

    #[test]
    fn crash_leftovers_of_a_cleaning_are_recovered_on_load() {
        let tmp = tempfile::tempdir().unwrap();
        let cfg = config(|_| {});
        let dir = tmp.path().join("compacted-0");
        let mut log = open(&dir, &cfg, false);
        let original = write_standard(&mut log);
        log.close().unwrap();
        drop(log);
        let orig_dir = tmp.path().join("orig");
        copy_dir(&dir, &orig_dir);

        let mut log = open(&dir, &cfg, true);
        hw_to_end(&mut log);
        Cleaner::new(&cleaner_config())
            .clean(&mut log, 0, 2_000)
            .unwrap();
        let active_base = log.active_segment().unwrap().base_offset();
        let cleaned = read_all(&log);
        let cleaned_bases: Vec<i64> = log
            .segment_base_offsets()
            .into_iter()
            .filter(|b| *b < active_base)
            .collect();
        log.close().unwrap();
        log.delete_pending_files_now().unwrap();
        drop(log);
        // The cleaned segments' files, to plant with a temporary suffix.
        let cleaned_files: Vec<PathBuf> = dir_names(&dir)
            .into_iter()
            .filter(|n| {
                n.split('.')
                    .next()
                    .and_then(|d| d.parse::<i64>().ok())
                    .is_some_and(|b| cleaned_bases.contains(&b))
                    && [".log", ".index", ".timeindex"]
                        .iter()
                        .any(|s| n.ends_with(s))
            })
            .map(|n| dir.join(n))
            .collect();
        assert!(cleaned_files.len() >= 3);
        let plant = |target: &Path, suffix: &str| {
            for f in &cleaned_files {
                let name = format!("{}{suffix}", f.file_name().unwrap().to_string_lossy());
                fs::copy(f, target.join(name)).unwrap();
            }
        };
        let is_subset = |small: &[Rec], big: &[Rec]| {
            let big: HashSet<i64> = big.iter().map(|r| r.offset).collect();
            small.iter().all(|r| big.contains(&r.offset))
        };

        // 1. Crash while writing `.cleaned` files: they are deleted, the log is the original.
        let a = tmp.path().join("a").join("compacted-0");
        copy_dir(&orig_dir, &a);
        plant(&a, ".cleaned");
        let log = open(&a, &cfg, false);
        assert_eq!(read_all(&log), original);
        assert!(temp_files(&a).is_empty());
        drop(log);

        // 2. Crash after `.cleaned` → `.swap` (old segments still live): the swaps complete.
        let b = tmp.path().join("b").join("compacted-0");
        copy_dir(&orig_dir, &b);
        plant(&b, ".swap");
        let log = open(&b, &cfg, false);
        let recovered = read_all(&log);
        assert!(temp_files(&b).is_empty());
        // At least as compacted as... the swapped content, at most the original; every record
        // is an original record and every latest value is there.
        assert!(is_subset(&cleaned, &recovered));
        assert!(is_subset(&recovered, &original));
        assert_eq!(model(&recovered, active_base, false), cleaned);
        drop(log);

        // 3. Crash after the old segments were renamed `.deleted`.
        let c = tmp.path().join("c").join("compacted-0");
        copy_dir(&orig_dir, &c);
        for name in dir_names(&c) {
            let base = name
                .split('.')
                .next()
                .unwrap()
                .parse::<i64>()
                .unwrap_or(i64::MAX);
            if base < active_base {
                fs::rename(c.join(&name), c.join(format!("{name}.deleted"))).unwrap();
            }
        }
        plant(&c, ".swap");
        let log = open(&c, &cfg, false);
        assert_eq!(read_all(&log), cleaned);
        assert!(temp_files(&c).is_empty());
        assert!(!dir_names(&c).iter().any(|n| n.ends_with(".deleted")));
    }

    #[test]
    fn compressed_batches_keep_their_codec_offsets_and_producer_fields() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("compacted-0");
        let mut log = open(&dir, &config(|c| c.segment_bytes = 4_000), false);
        let producer = ProducerInfo {
            producer_id: 77,
            producer_epoch: 3,
            base_sequence: 10,
        };
        let opts = BatchOptions::default();
        for round in 0..6 {
            let kvs: Vec<(String, String)> = (0..5)
                .map(|i| (format!("k{}", (round + i) % 7), format!("r{round}-{i}")))
                .collect();
            let kv_refs: Vec<Kv<'_>> = kvs
                .iter()
                .map(|(k, v)| (Some(k.as_str()), Some(v.as_str())))
                .collect();
            // Round 4 (k4 k5 k6 k0 k1) keeps only k4 after round 5 (k5 k6 k0 k1 k2).
            let p = if round == 4 {
                producer
            } else {
                ProducerInfo::NONE
            };
            append_with(
                &mut log,
                CompressionType::Gzip,
                p,
                &opts,
                &kv_refs,
                1_000 + round * 10,
            );
            if round % 2 == 1 {
                log.roll(1_000 + round * 10).unwrap();
            }
        }
        append(&mut log, &[(Some("z"), Some("z"))], 2_000);
        hw_to_end(&mut log);
        let (before_batches, original) = scan(&log);
        let active_base = log.active_segment().unwrap().base_offset();
        let stats = Cleaner::new(&cleaner_config())
            .clean(&mut log, 0, 3_000)
            .unwrap();
        let (after_batches, after) = scan(&log);
        assert_eq!(after, model(&original, active_base, false));
        assert!(stats.records_removed > 0);
        for b in after_batches.iter().filter(|b| b.base < active_base) {
            assert_eq!(b.codec, CompressionType::Gzip, "{b:?}");
            let orig = before_batches.iter().find(|o| o.base == b.base).unwrap();
            assert_eq!(b.last, orig.last);
            assert_eq!(
                (b.producer_id, b.producer_epoch, b.base_sequence),
                (orig.producer_id, orig.producer_epoch, orig.base_sequence)
            );
            assert!(b.count <= orig.count);
        }
        // The producer batch was re-encoded (gzip) around its one surviving record.
        let p = after_batches.iter().find(|b| b.producer_id == 77).unwrap();
        assert_eq!((p.count, p.codec), (1, CompressionType::Gzip));
        assert!(after_batches.iter().any(|b| b.count > 0 && b.count < 5));
    }

    #[test]
    fn emptied_producer_batches_keep_only_the_producers_last_one() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("compacted-0");
        let mut log = open(&dir, &config(|_| {}), false);
        let opts = BatchOptions::default();
        let p = |seq| ProducerInfo {
            producer_id: 5,
            producer_epoch: 2,
            base_sequence: seq,
        };
        append_with(
            &mut log,
            CompressionType::None,
            p(0),
            &opts,
            &[(Some("a"), Some("1")), (Some("b"), Some("1"))],
            1_000,
        );
        append_with(
            &mut log,
            CompressionType::None,
            p(2),
            &opts,
            &[(Some("a"), Some("2")), (Some("b"), Some("2"))],
            1_001,
        );
        append(
            &mut log,
            &[(Some("a"), Some("3")), (Some("b"), Some("3"))],
            1_002,
        );
        log.roll(1_003).unwrap();
        append(&mut log, &[(Some("z"), Some("z"))], 1_004);
        hw_to_end(&mut log);
        let stats = Cleaner::new(&cleaner_config())
            .clean(&mut log, 0, 2_000)
            .unwrap();
        assert_eq!(stats.empty_batches_retained, 1);
        let (batches, recs) = scan(&log);
        // The first producer batch is gone; the producer's last one stays as an empty header.
        assert_eq!(batches.len(), 3);
        let empty = &batches[0];
        assert_eq!(
            (empty.base, empty.last, empty.count),
            (2, 3, 0),
            "{empty:?}"
        );
        assert_eq!(
            (empty.producer_id, empty.producer_epoch, empty.base_sequence),
            (5, 2, 2)
        );
        assert_eq!(empty.max_timestamp, 1_002);
        assert_eq!(
            recs.iter().map(|r| r.offset).collect::<Vec<_>>(),
            vec![4, 5, 6]
        );
        // The empty batch survives a reload and keeps the log readable.
        log.close().unwrap();
        drop(log);
        let log = open(&dir, &config(|_| {}), false);
        assert_eq!(scan(&log).0, batches);
        assert_eq!(read_via_fetch(&log), recs);
    }

    #[test]
    fn control_and_transactional_batches_are_kept_as_they_are() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("compacted-0");
        let mut log = open(&dir, &config(|_| {}), false);
        append(&mut log, &[(Some("a"), Some("plain"))], 1_000);
        let txn = BatchOptions {
            transactional: true,
            ..BatchOptions::default()
        };
        let producer = ProducerInfo {
            producer_id: 9,
            producer_epoch: 0,
            base_sequence: 0,
        };
        append_with(
            &mut log,
            CompressionType::None,
            producer,
            &txn,
            &[(Some("a"), Some("txn")), (Some("a"), Some("txn2"))],
            1_001,
        );
        let marker = end_txn_marker_batch(
            log.log_end_offset(),
            1_002,
            0,
            9,
            0,
            &EndTransactionMarker::commit(1),
        );
        log.append_as_follower(&marker, 1_002).unwrap();
        append(&mut log, &[(Some("b"), Some("1"))], 1_003);
        append(&mut log, &[(Some("b"), Some("2"))], 1_004);
        log.roll(1_005).unwrap();
        append(&mut log, &[(Some("z"), Some("z"))], 1_006);
        hw_to_end(&mut log);
        let before = scan(&log);
        Cleaner::new(&cleaner_config())
            .clean(&mut log, 0, 2_000)
            .unwrap();
        let (batches, recs) = scan(&log);
        // Transactional records neither get compacted nor shadow "a" = plain; only b=1 goes.
        assert_eq!(batches.len(), before.0.len() - 1);
        assert_eq!(
            recs.iter().map(|r| r.offset).collect::<Vec<_>>(),
            vec![0, 1, 2, 3, 5, 6]
        );
        assert_eq!(batches[1], before.0[1]);
        assert_eq!(batches[2], before.0[2]);
    }

    #[test]
    fn aborted_cleaning_leaves_the_log_unchanged() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("compacted-0");
        let log = Arc::new(Mutex::new(open(&dir, &config(|_| {}), false)));
        let original = write_standard(&mut log.lock().unwrap());
        let segments = log.lock().unwrap().segment_base_offsets();
        let mut cleaner = Cleaner::new(&cleaner_config());
        let err = cleaner.clean_shared(&log, 0, 2_000, &|| true).unwrap_err();
        assert!(matches!(err, CleanerError::Aborted { .. }), "{err}");
        assert_eq!(read_all(&log.lock().unwrap()), original);
        assert_eq!(log.lock().unwrap().segment_base_offsets(), segments);
        assert!(temp_files(&dir).is_empty());

        // The log changes while the cleaner works unlocked: the swap is refused.
        let truncated = AtomicBool::new(false);
        let check = || {
            if let Ok(mut l) = log.try_lock() {
                if !truncated.swap(true, Ordering::SeqCst) {
                    l.truncate_to(4).unwrap();
                }
            }
            false
        };
        let err = cleaner.clean_shared(&log, 0, 2_000, &check).unwrap_err();
        assert!(matches!(err, CleanerError::Aborted { .. }), "{err}");
        let l = log.lock().unwrap();
        assert_eq!(l.log_end_offset(), 4);
        assert_eq!(read_all(&l), original[..4].to_vec());
        assert!(temp_files(&dir).is_empty());
    }

    #[test]
    fn paused_partitions_are_skipped_until_resumed() {
        let tmp = tempfile::tempdir().unwrap();
        let log = Arc::new(Mutex::new(open(
            &tmp.path().join("compacted-0"),
            &config(|_| {}),
            false,
        )));
        write_standard(&mut log.lock().unwrap());
        let source = {
            let log = log.clone();
            move || vec![(tp(), log.clone())]
        };
        let lc = LogCleaner::with_clock(cleaner_config(), source, || 2_000);
        let mut cleaner = lc.new_cleaner();
        lc.abort_and_pause(&tp());
        lc.abort_and_pause(&tp());
        assert_eq!(lc.cleaning_state(&tp()), Some(LogCleaningState::Paused(2)));
        assert!(matches!(lc.clean_once(&mut cleaner), CleanRound::Idle));
        lc.resume_cleaning(&tp());
        assert!(matches!(lc.clean_once(&mut cleaner), CleanRound::Idle));
        lc.resume_cleaning(&tp());
        assert!(matches!(
            lc.clean_once(&mut cleaner),
            CleanRound::Cleaned { .. }
        ));
        // abort_cleaning on an idle partition leaves it idle.
        lc.abort_cleaning(&tp());
        assert_eq!(lc.cleaning_state(&tp()), None);
    }

    #[test]
    fn cleaner_threads_clean_in_the_background_and_stop() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        let log = Arc::new(Mutex::new(open(
            &root.join("compacted-0"),
            &config(|_| {}),
            false,
        )));
        let original = write_standard(&mut log.lock().unwrap());
        let active_base = log.lock().unwrap().active_segment().unwrap().base_offset();
        let source = {
            let log = log.clone();
            move || vec![(tp(), log.clone())]
        };

        let disabled = LogCleaner::new(
            CleanerConfig {
                enable_cleaner: false,
                ..cleaner_config()
            },
            source.clone(),
        );
        disabled.startup().unwrap();
        assert_eq!(disabled.num_threads(), 0);

        let lc = LogCleaner::new(
            CleanerConfig {
                num_threads: 2,
                ..cleaner_config()
            },
            source,
        );
        lc.startup().unwrap();
        assert_eq!(lc.num_threads(), 2);
        let checkpoint = OffsetCheckpointFile::cleaner_offset(&root);
        let deadline = Instant::now() + Duration::from_secs(20);
        while checkpoint.read().unwrap().get(&tp()) != Some(&active_base) {
            assert!(
                Instant::now() < deadline,
                "the cleaner threads did not clean"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        lc.shutdown();
        assert_eq!(lc.num_threads(), 0);
        // Wall clock: these 1970 tombstones are long expired.
        let l = log.lock().unwrap();
        assert_eq!(read_all(&l), model(&original, active_base, true));
    }

    // ------------------------------------------------------------------------------ proptest

    #[derive(Clone, Debug)]
    struct Op {
        /// (key index or None, value or tombstone)
        records: Vec<(Option<u8>, Option<u8>)>,
        roll_after: bool,
        gzip: bool,
    }

    fn op() -> impl Strategy<Value = Op> {
        (
            prop::collection::vec(
                (
                    prop_oneof![9 => (0u8..8).prop_map(Some), 1 => Just(None)],
                    prop_oneof![4 => any::<u8>().prop_map(Some), 1 => Just(None)],
                ),
                1..5,
            ),
            prop::bool::weighted(0.15),
            prop::bool::weighted(0.2),
        )
            .prop_map(|(records, roll_after, gzip)| Op {
                records,
                roll_after,
                gzip,
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: std::env::var("LOG_CLEANER_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(24),
            max_shrink_iters: 200,
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        #[test]
        fn cleaning_matches_the_model(
            ops in prop::collection::vec(op(), 1..45),
            segment_bytes in 150i32..1500,
            map_slots in prop_oneof![Just(1_000usize), 2usize..6],
            old_tombstones in any::<bool>(),
            roll_at_end in any::<bool>(),
        ) {
            let tmp = tempfile::tempdir().unwrap();
            let dir = tmp.path().join("compacted-0");
            let cfg = config(|c| {
                c.segment_bytes = segment_bytes;
                c.delete_retention_ms = 100_000;
            });
            let mut log = open(&dir, &cfg, false);
            for (i, op) in ops.iter().enumerate() {
                let keys: Vec<Option<String>> =
                    op.records.iter().map(|(k, _)| k.map(|k| format!("key{k}"))).collect();
                let values: Vec<Option<String>> =
                    op.records.iter().map(|(_, v)| v.map(|v| format!("value{v}"))).collect();
                let kvs: Vec<Kv<'_>> = keys
                    .iter()
                    .zip(&values)
                    .map(|(k, v)| (k.as_deref(), v.as_deref()))
                    .collect();
                let ts = 1_000 + i as i64;
                if op.gzip {
                    append_with(&mut log, CompressionType::Gzip, ProducerInfo::NONE, &BatchOptions::default(), &kvs, ts);
                } else {
                    append(&mut log, &kvs, ts);
                }
                if op.roll_after {
                    log.roll(ts).unwrap();
                }
            }
            if roll_at_end {
                log.roll(2_000).unwrap();
            }
            hw_to_end(&mut log);
            let original = read_all(&log);
            let active_base = log.active_segment().unwrap().base_offset();
            let now = if old_tombstones { 10_000_000 } else { 3_000 };
            let mut cleaner = Cleaner::new(&CleanerConfig {
                dedupe_buffer_size: (map_slots * 24) as i64,
                dedupe_buffer_load_factor: 1.0,
                io_buffer_size: 128,
                ..CleanerConfig::default()
            });
            let mut first_dirty = 0;
            let mut passes = 0;
            loop {
                let stats = cleaner.clean(&mut log, first_dirty, now).unwrap();
                prop_assert!(stats.end_offset >= first_dirty);
                prop_assert!(stats.end_offset <= active_base);
                prop_assert!(temp_files(&dir).is_empty());
                // After each pass: the latest record per key below the end offset, the rest as is.
                let after = read_all(&log);
                prop_assert_eq!(&after, &model(&original, stats.end_offset, old_tombstones));
                prop_assert_eq!(read_via_fetch(&log), after);
                prop_assert_eq!(log.active_segment().unwrap().base_offset(), active_base);
                if stats.end_offset == first_dirty || stats.end_offset == active_base {
                    prop_assert!(stats.end_offset == active_base || !stats.map_full);
                    break;
                }
                first_dirty = stats.end_offset;
                passes += 1;
                prop_assert!(passes < 200, "no progress");
            }
            // Reload (unclean): same content.
            let content = read_all(&log);
            drop(log);
            let log = open(&dir, &cfg, false);
            prop_assert_eq!(read_all(&log), content);
        }
    }

    #[test]
    fn offset_map_budget_follows_the_broker_config() {
        let mut props = BTreeMap::new();
        props.insert("zookeeper.connect".to_string(), "zk:2181".to_string());
        props.insert("log.cleaner.threads".to_string(), "4".to_string());
        props.insert(
            "log.cleaner.dedupe.buffer.size".to_string(),
            "40000000".to_string(),
        );
        props.insert(
            "log.cleaner.io.buffer.load.factor".to_string(),
            "0.75".to_string(),
        );
        props.insert("log.cleaner.backoff.ms".to_string(), "123".to_string());
        props.insert("log.cleaner.enable".to_string(), "false".to_string());
        let broker = KafkaConfig::from_props(&props).unwrap();
        let c = CleanerConfig::from_kafka_config(&broker);
        assert_eq!(c.num_threads, 4);
        assert_eq!(c.offset_map_memory_per_thread(), 10_000_000);
        assert_eq!(c.backoff_ms, 123);
        assert!(!c.enable_cleaner);
        let cleaner = Cleaner::new(&c);
        assert_eq!(cleaner.offset_map().slots(), 10_000_000 / 24);
        assert_eq!(
            cleaner.offset_map().max_desired_size(),
            (10_000_000 / 24) * 3 / 4
        );
    }

    #[test]
    fn abort_and_pause_stops_a_running_cleaner_thread() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        let dir = root.join("compacted-0");
        let cfg = config(|c| c.segment_bytes = 20_000);
        let log = Arc::new(Mutex::new(open(&dir, &cfg, false)));
        let original = {
            let mut l = log.lock().unwrap();
            for i in 0..2_000i64 {
                let k1 = format!("k{}", i % 50);
                let k2 = format!("k{}", (i * 7) % 50);
                append(
                    &mut l,
                    &[(Some(&k1), Some("some value")), (Some(&k2), Some("v"))],
                    1_000 + i,
                );
            }
            l.roll(5_000).unwrap();
            append(&mut l, &[(Some("z"), Some("z"))], 5_000);
            hw_to_end(&mut l);
            read_all(&l)
        };
        let active_base = log.lock().unwrap().active_segment().unwrap().base_offset();
        let source = {
            let log = log.clone();
            move || vec![(tp(), log.clone())]
        };
        // Throttled to ~400 KB/s so that the cleaning (~1 MB of I/O) is still running below.
        let lc = LogCleaner::with_clock(
            CleanerConfig {
                max_io_bytes_per_second: 400_000.0,
                ..cleaner_config()
            },
            source,
            || 2_000,
        );
        lc.startup().unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while lc.cleaning_state(&tp()) != Some(LogCleaningState::InProgress) {
            assert!(Instant::now() < deadline, "the cleaning never started");
            std::thread::sleep(Duration::from_millis(1));
        }
        let started = Instant::now();
        lc.abort_and_pause(&tp());
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(lc.cleaning_state(&tp()), Some(LogCleaningState::Paused(1)));
        // Nothing half-done is left; swapped-in groups (if any) are complete.
        assert!(temp_files(&dir).is_empty());
        let now = read_all(&log.lock().unwrap());
        let offsets: HashSet<i64> = now.iter().map(|r| r.offset).collect();
        assert!(model(&original, active_base, false)
            .iter()
            .all(|r| offsets.contains(&r.offset)));
        assert!(now.iter().all(|r| original.contains(r)));
        let checkpoint = OffsetCheckpointFile::cleaner_offset(&root).read().unwrap();
        assert!(checkpoint.get(&tp()).is_none_or(|o| *o == active_base));
        lc.shutdown();
    }
}
