//! Retention (spec §8) through `Log::delete_old_segments` with explicit clocks: time, size
//! and log-start rules, the high-watermark bound, the never-deleted empty active segment, and
//! the `.deleted` files handed to the caller.

mod common;

use std::fs;
use std::path::Path;
use std::sync::Arc;

use rafka_core::cluster::TopicPartition;
use rafka_core::config::LogConfig;
use rafka_core::log::log::LogStartOffsetIncrementReason;
use rafka_core::log::{LoadOptions, Log, LogError};
use rafka_core::record::{build_batch, ProducerInfo, SimpleRecord};

fn config(f: impl FnOnce(&mut LogConfig)) -> Arc<LogConfig> {
    common::log_config(|c| {
        c.file_delete_delay_ms = 60_000;
        f(c)
    })
}

fn open(dir: &Path, cfg: Arc<LogConfig>) -> Log {
    common::open_log(dir, "ret", cfg)
}

/// One batch of one 100-byte record with timestamp `ts`, then a roll: one segment per batch.
fn append_segment(log: &mut Log, ts: i64) {
    let mut b = build_batch(
        0,
        ProducerInfo::NONE,
        &[SimpleRecord::new(ts, Some(b"k"), Some(&[1u8; 100]))],
    );
    log.append_as_leader(&mut b, 0, ts).unwrap();
    log.roll(ts).unwrap();
}

fn deleted_files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".deleted"))
        .collect();
    v.sort();
    v
}

#[test]
fn log_time_retention_respects_the_high_watermark_and_keeps_a_segment() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ret-0");
    let mut log = open(&dir, config(|c| c.retention_ms = 1_500));
    for ts in [1_000, 2_000, 3_000] {
        append_segment(&mut log, ts);
    }
    let mut b = build_batch(
        0,
        ProducerInfo::NONE,
        &[SimpleRecord::new(4_000, None, Some(b"x"))],
    );
    log.append_as_leader(&mut b, 0, 4_000).unwrap();
    assert_eq!(log.segment_base_offsets(), vec![0, 1, 2, 3]);

    // Nothing is below the high watermark yet.
    assert_eq!(log.delete_old_segments(4_000).unwrap(), 0);
    // Segments 0 and 1 expired (4000 - ts > 1500), but only offset 0 is below the HW.
    log.update_high_watermark(1);
    assert_eq!(log.delete_old_segments(4_000).unwrap(), 1);
    assert_eq!(log.log_start_offset(), 1);
    assert_eq!(log.segment_base_offsets(), vec![1, 2, 3]);
    assert_eq!(
        deleted_files(&dir),
        [
            "00000000000000000000.index.deleted",
            "00000000000000000000.log.deleted",
            "00000000000000000000.timeindex.deleted"
        ]
    );
    let pending = log.take_pending_deletions();
    assert_eq!(pending.len(), 1);
    assert_eq!((pending[0].base_offset, pending[0].delay_ms), (0, 60_000));
    for p in &pending {
        p.delete_files().unwrap();
    }
    assert!(deleted_files(&dir).is_empty());

    log.update_high_watermark(log.log_end_offset());
    assert_eq!(log.delete_old_segments(4_000).unwrap(), 1);
    assert_eq!(log.log_start_offset(), 2);
    // Reads below the new log start are out of range.
    assert!(matches!(
        log.read(1, 100, None, false),
        Err(LogError::OffsetOutOfRange { .. })
    ));

    // Everything expired and fully replicated: roll first, then delete all old segments;
    // the new empty active segment stays.
    assert_eq!(log.delete_old_segments(100_000).unwrap(), 2);
    assert_eq!(log.segment_base_offsets(), vec![4]);
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (4, 4));
    assert_eq!(log.delete_old_segments(1_000_000).unwrap(), 0);
    assert_eq!(log.num_segments(), 1);
    log.delete_pending_files_now().unwrap();
    assert!(deleted_files(&dir).is_empty());
    // The log keeps working at its end offset.
    let mut b = build_batch(
        0,
        ProducerInfo::NONE,
        &[SimpleRecord::new(5_000, None, Some(b"y"))],
    );
    assert_eq!(
        log.append_as_leader(&mut b, 0, 5_000).unwrap().first_offset,
        4
    );
}

#[test]
fn log_time_retention_off_and_mtime_fallback() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("mtime-0");
    let mut log = open(&dir, config(|c| c.retention_ms = -1));
    // No record timestamps (-1): the segment's age comes from its file mtime.
    for _ in 0..2 {
        append_segment(&mut log, -1);
    }
    log.update_high_watermark(log.log_end_offset());
    assert_eq!(
        log.delete_old_segments(i64::MAX / 2).unwrap(),
        0,
        "retention.ms = -1 is off"
    );
    let cfg = config(|c| c.retention_ms = 10_000);
    log.update_config(cfg);
    let now = 1_700_000_000_000;
    let first = log.segments().next().unwrap();
    first.set_last_modified_ms(now - 20_000).unwrap();
    let second = log.segments().nth(1).unwrap();
    second.set_last_modified_ms(now - 5_000).unwrap();
    assert_eq!(log.delete_old_segments(now).unwrap(), 1);
    assert_eq!(log.segment_base_offsets(), vec![1, 2]);
}

#[test]
fn log_size_retention_deletes_oldest_while_the_rest_still_exceeds_the_limit() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("size-0");
    let mut log = open(&dir, config(|c| c.retention_ms = -1));
    for i in 0..5 {
        append_segment(&mut log, 1_000 + i);
    }
    log.update_high_watermark(log.log_end_offset());
    let seg = log.segments().next().unwrap().size() as i64;
    assert_eq!(log.size_in_bytes() as i64, 5 * seg); // + empty active segment
                                                     // Not over the limit: nothing.
    log.update_config(config(|c| {
        c.retention_ms = -1;
        c.retention_bytes = 5 * seg + 1;
    }));
    assert_eq!(log.delete_old_segments(0).unwrap(), 0);
    // diff = 5S − 2.5S = 2.5S: two segments go, the third would leave less than the limit.
    log.update_config(config(|c| {
        c.retention_ms = -1;
        c.retention_bytes = 5 * seg / 2;
    }));
    assert_eq!(log.delete_old_segments(0).unwrap(), 2);
    assert_eq!(log.log_start_offset(), 2);
    assert_eq!(log.size_in_bytes() as i64, 3 * seg);
    // Exactly at the limit: total ≥ limit, diff 0, no segment fits in it.
    log.update_config(config(|c| {
        c.retention_ms = -1;
        c.retention_bytes = 3 * seg;
    }));
    assert_eq!(log.delete_old_segments(0).unwrap(), 0);
    // retention.bytes = 0: everything non-active goes (the empty active segment stays).
    log.update_config(config(|c| {
        c.retention_ms = -1;
        c.retention_bytes = 0;
    }));
    assert_eq!(log.delete_old_segments(0).unwrap(), 3);
    assert_eq!(log.segment_base_offsets(), vec![5]);
}

#[test]
fn log_start_offset_retention_also_for_compacted_topics() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("start-0");
    let compact = config(|c| {
        c.cleanup_policy = vec!["compact".into()];
        c.retention_ms = 1; // ignored without "delete"
        c.retention_bytes = 1;
    });
    let mut log = open(&dir, compact);
    for i in 0..5 {
        append_segment(&mut log, 1_000 + i);
    }
    assert_eq!(log.delete_old_segments(1_000_000).unwrap(), 0);
    // DeleteRecords beyond the high watermark is refused.
    log.update_high_watermark(2);
    assert!(matches!(
        log.maybe_increment_log_start_offset(
            3,
            LogStartOffsetIncrementReason::ClientRecordDeletion
        ),
        Err(LogError::OffsetOutOfRange { .. })
    ));
    log.update_high_watermark(5);
    assert!(log
        .maybe_increment_log_start_offset(3, LogStartOffsetIncrementReason::ClientRecordDeletion)
        .unwrap());
    assert!(!log
        .maybe_increment_log_start_offset(2, LogStartOffsetIncrementReason::ClientRecordDeletion)
        .unwrap());
    // Segments whose next segment starts at or below 3: 0, 1, 2.
    assert_eq!(log.delete_old_segments(1_000_000).unwrap(), 3);
    assert_eq!(log.segment_base_offsets(), vec![3, 4, 5]);
    assert_eq!(log.log_start_offset(), 3);
    // A log start in the middle of a segment keeps that segment.
    log.maybe_increment_log_start_offset(4, LogStartOffsetIncrementReason::ClientRecordDeletion)
        .unwrap();
    assert_eq!(log.delete_old_segments(1_000_000).unwrap(), 1);
    assert_eq!(log.segment_base_offsets(), vec![4, 5]);
}

#[test]
fn log_retention_survives_restart_and_files_are_cleaned_on_load() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("restart-0");
    let cfg = config(|c| c.retention_ms = 100);
    let mut log = open(&dir, Arc::clone(&cfg));
    for i in 0..3 {
        append_segment(&mut log, 1_000 + i);
    }
    log.update_high_watermark(3);
    assert_eq!(log.delete_old_segments(1_102).unwrap(), 2);
    // Two segments' three files each, and the producer snapshot taken when segment 1 was
    // rolled (Kafka deletes a segment's snapshot with it).
    let deleted = deleted_files(&dir);
    assert_eq!(deleted.len(), 7, "{deleted:?}");
    assert!(deleted.contains(&"00000000000000000001.snapshot.deleted".to_string()));
    let start = log.log_start_offset();
    log.close().unwrap();
    drop(log);
    let log = Log::open(
        &dir,
        TopicPartition::new("ret", 0),
        cfg,
        LoadOptions {
            recovery_point: 3,
            log_start_offset: start,
            had_clean_shutdown: true,
            now_ms: 0,
        },
    )
    .unwrap();
    assert!(deleted_files(&dir).is_empty());
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (2, 3));
    assert_eq!(log.recovery_point(), 3);
}
