//! Segment roll rules (spec §7) through leader appends: size, time, full indexes; plus the
//! flush rules that move the recovery point.

mod common;

use std::path::Path;
use std::sync::Arc;

use rafka_core::config::LogConfig;
use rafka_core::log::Log;
use rafka_core::record::{build_batch, ProducerInfo, SimpleRecord};

fn config(f: impl FnOnce(&mut LogConfig)) -> Arc<LogConfig> {
    common::log_config(f)
}

fn open(dir: &Path, cfg: Arc<LogConfig>) -> Log {
    common::open_log(dir, "roll", cfg)
}

fn batch(ts: i64, value_len: usize) -> Vec<u8> {
    build_batch(
        0,
        ProducerInfo::NONE,
        &[SimpleRecord::new(ts, None, Some(&vec![0u8; value_len]))],
    )
}

#[test]
fn log_rolls_when_the_next_batch_would_pass_segment_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let size = batch(1, 100).len() as i32;
    let mut log = open(
        &tmp.path().join("roll-0"),
        config(|c| c.segment_bytes = 3 * size),
    );
    for i in 0..7 {
        let mut b = batch(i, 100);
        log.append_as_leader(&mut b, 0, i).unwrap();
    }
    // Three batches fit exactly; the fourth starts a new segment.
    assert_eq!(log.segment_base_offsets(), vec![0, 3, 6]);
    assert!(log.segments().all(|s| s.size() <= 3 * size as u64));
}

#[test]
fn log_rolls_on_segment_ms_by_record_time() {
    let tmp = tempfile::tempdir().unwrap();
    let mut log = open(&tmp.path().join("time-0"), config(|c| c.segment_ms = 1_000));
    for (ts, now) in [
        (10_000, 10_000),
        (10_500, 10_500),
        (11_000, 99_999),
        (11_001, 11_001),
    ] {
        let mut b = batch(ts, 10);
        log.append_as_leader(&mut b, 0, now).unwrap();
    }
    // 11_000 − 10_000 = 1000 is not > 1000; 11_001 − 10_000 is.
    assert_eq!(log.segment_base_offsets(), vec![0, 3]);
    // Without record timestamps the segment's creation time counts.
    let tmp = tempfile::tempdir().unwrap();
    let mut log = open(
        &tmp.path().join("notime-0"),
        config(|c| c.segment_ms = 1_000),
    );
    log.roll(5_000).unwrap(); // active segment (empty, same base) recreated at now = 5000
    let mut b = batch(-1, 10);
    log.append_as_leader(&mut b, 0, 5_100).unwrap();
    let mut b = batch(-1, 10);
    log.append_as_leader(&mut b, 0, 6_000).unwrap();
    assert_eq!(log.segment_base_offsets(), vec![0]);
    let mut b = batch(-1, 10);
    log.append_as_leader(&mut b, 0, 6_001).unwrap();
    assert_eq!(log.segment_base_offsets(), vec![0, 2]);
}

#[test]
fn log_rolls_when_an_index_is_full() {
    let tmp = tempfile::tempdir().unwrap();
    // 36-byte indexes: 4 offset entries, 3 time slots (one kept for the roll entry).
    let mut log = open(
        &tmp.path().join("full-0"),
        config(|c| {
            c.segment_index_bytes = 36;
            c.index_interval_bytes = 0;
        }),
    );
    for i in 0..10 {
        let mut b = batch(1_000 + i, 10);
        log.append_as_leader(&mut b, 0, 1_000 + i).unwrap();
    }
    // Entries at appends 1 and 2 fill the time index (2 of 3 slots) → roll at the 4th. The
    // final (max timestamp) entry equals the last one, so it is not repeated; both files are
    // trimmed to their entries.
    let bases = log.segment_base_offsets();
    assert_eq!(bases, vec![0, 3, 6, 9]);
    let first = log.segments().next().unwrap();
    assert_eq!(first.offset_index().entries(), 2);
    assert_eq!(first.time_index().entries(), 2);
    assert_eq!(first.offset_index().file_len(), 16);
    assert_eq!(first.time_index().file_len(), 24);
    let active = log.active_segment().unwrap();
    assert_eq!(active.offset_index().file_len(), 32); // 36 rounded down to 8-byte entries
    assert_eq!(active.time_index().file_len(), 36);
}

#[test]
fn log_flush_rules_move_the_recovery_point() {
    let tmp = tempfile::tempdir().unwrap();
    let mut log = open(
        &tmp.path().join("flush-0"),
        config(|c| {
            c.flush_messages = 3;
            c.flush_ms = 1_000;
        }),
    );
    for i in 0..2 {
        let mut b = batch(i, 10);
        log.append_as_leader(&mut b, 0, 100).unwrap();
    }
    assert_eq!(log.recovery_point(), 0);
    let mut b = batch(3, 10);
    log.append_as_leader(&mut b, 0, 100).unwrap();
    assert_eq!(log.recovery_point(), 3);
    let mut b = batch(4, 10);
    log.append_as_leader(&mut b, 0, 200).unwrap();
    assert!(!log.flush_if_due(1_099).unwrap());
    assert!(log.flush_if_due(1_100).unwrap());
    assert_eq!(log.recovery_point(), 4);
    assert_eq!(log.last_flush_ms(), 1_100);
}
