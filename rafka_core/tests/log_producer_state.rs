//! Idempotent producers at the `Log` level: duplicates answered with their original offsets
//! and not written, sequence/epoch errors, producer snapshots on roll and clean close, and
//! the producer table rebuilt after a crash, a truncation or a load from a snapshot.

mod common;

use std::fs;
use std::path::Path;
use std::sync::Arc;

use common::{log_config, open_log};
use rafka_core::cluster::TopicPartition;
use rafka_core::config::LogConfig;
use rafka_core::log::producer_state::{
    producer_snapshot_file, read_snapshot, write_snapshot, ProducerStateEntry,
};
use rafka_core::log::{LoadOptions, Log, LogAppendInfo, LogError};
use rafka_core::record::control::end_txn_marker_batch;
use rafka_core::record::{build_batch, EndTransactionMarker, ProducerInfo, SimpleRecord};

const TS: i64 = 1_700_000_000_000;

fn batch(producer: Option<(i64, i16, i32)>, n: usize, ts: i64) -> Vec<u8> {
    let values: Vec<Vec<u8>> = (0..n).map(|i| format!("value-{i}").into_bytes()).collect();
    let records: Vec<SimpleRecord> = values
        .iter()
        .map(|v| SimpleRecord::new(ts, Some(b"k"), Some(v)))
        .collect();
    let info = match producer {
        Some((producer_id, producer_epoch, base_sequence)) => ProducerInfo {
            producer_id,
            producer_epoch,
            base_sequence,
        },
        None => ProducerInfo::NONE,
    };
    build_batch(0, info, &records)
}

fn produce(
    log: &mut Log,
    pid: i64,
    epoch: i16,
    seq: i32,
    n: usize,
) -> Result<LogAppendInfo, LogError> {
    let mut b = batch(Some((pid, epoch, seq)), n, TS);
    log.append_as_leader(&mut b, 0, TS)
}

fn offsets(info: &LogAppendInfo) -> (i64, i64) {
    (info.first_offset, info.last_offset)
}

fn snapshot_names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".snapshot"))
        .collect();
    v.sort();
    v
}

fn reopen(dir: &Path, cfg: Arc<LogConfig>, clean: bool, recovery_point: i64) -> Log {
    Log::open(
        dir,
        TopicPartition::new("p", 0),
        cfg,
        LoadOptions {
            recovery_point,
            log_start_offset: 0,
            had_clean_shutdown: clean,
            now_ms: TS,
        },
    )
    .unwrap()
}

#[test]
fn duplicate_append_returns_the_original_offsets_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let mut log = open_log(tmp.path(), "p", log_config(|_| {}));
    let mut plain = batch(None, 2, TS);
    log.append_as_leader(&mut plain, 0, TS).unwrap();
    assert_eq!(offsets(&produce(&mut log, 7, 0, 0, 3).unwrap()), (2, 4));
    assert_eq!(offsets(&produce(&mut log, 7, 0, 3, 2).unwrap()), (5, 6));
    let size = log.size_in_bytes();

    for (seq, n, expected) in [(0, 3, (2, 4)), (3, 2, (5, 6))] {
        let info = produce(&mut log, 7, 0, seq, n).unwrap();
        assert_eq!(offsets(&info), expected);
        assert_eq!(info.log_append_time, TS, "the original batch's timestamp");
        assert_eq!(log.log_end_offset(), 7);
        assert_eq!(log.size_in_bytes(), size, "a duplicate is not written");
    }
    log.update_high_watermark(7);
    let tail = log.read(7, 1 << 20, None, false).unwrap();
    assert!(tail.records.is_empty());
    // The producer carries on after its retries.
    assert_eq!(offsets(&produce(&mut log, 7, 0, 5, 1).unwrap()), (7, 7));
    let entry = log.producer_state().last_entry(7).unwrap();
    assert_eq!((entry.producer_epoch, entry.last_seq()), (0, 5));
}

#[test]
fn sequence_and_epoch_errors_write_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let mut log = open_log(tmp.path(), "p", log_config(|_| {}));
    produce(&mut log, 1, 3, 0, 2).unwrap();
    let size = log.size_in_bytes();
    let gap = produce(&mut log, 1, 3, 5, 1).unwrap_err();
    assert!(matches!(gap, LogError::OutOfOrderSequence(_)), "{gap:?}");
    assert_eq!(gap.kafka_error_code(), 45);
    let fenced = produce(&mut log, 1, 2, 2, 1).unwrap_err();
    assert!(
        matches!(fenced, LogError::InvalidProducerEpoch(_)),
        "{fenced:?}"
    );
    assert_eq!(fenced.kafka_error_code(), 47);
    let new_epoch = produce(&mut log, 1, 4, 2, 1).unwrap_err();
    assert!(matches!(new_epoch, LogError::OutOfOrderSequence(_)));
    assert_eq!((log.log_end_offset(), log.size_in_bytes()), (2, size));
    // A new epoch at 0, and an unknown producer at any sequence, are accepted.
    assert_eq!(offsets(&produce(&mut log, 1, 4, 0, 1).unwrap()), (2, 2));
    assert_eq!(offsets(&produce(&mut log, 2, 0, 17, 1).unwrap()), (3, 3));
}

#[test]
fn crash_without_a_snapshot_rebuilds_the_table_by_replay() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = log_config(|_| {});
    let mut log = open_log(tmp.path(), "p", Arc::clone(&cfg));
    for i in 0..6 {
        produce(&mut log, 1, 0, i * 2, 2).unwrap();
        let mut plain = batch(None, 1, TS);
        log.append_as_leader(&mut plain, 0, TS).unwrap();
    }
    produce(&mut log, 2, 5, 0, 1).unwrap();
    let leo = log.log_end_offset();
    log.flush_all().unwrap();
    drop(log); // crash: no close, no snapshot
    assert!(snapshot_names(tmp.path()).is_empty());

    let mut log = reopen(tmp.path(), Arc::clone(&cfg), false, 0);
    assert_eq!(log.log_end_offset(), leo);
    let p1 = log.producer_state().last_entry(1).unwrap();
    assert_eq!((p1.last_seq(), p1.batches().count()), (11, 5));
    assert_eq!(
        log.producer_state().last_entry(2).unwrap().producer_epoch,
        5
    );
    // Retries of the last five batches are still recognised; offsets are the originals
    // (batch i of producer 1 sits at offsets 3i..3i+1).
    assert_eq!(offsets(&produce(&mut log, 1, 0, 10, 2).unwrap()), (15, 16));
    assert_eq!(offsets(&produce(&mut log, 1, 0, 2, 2).unwrap()), (3, 4));
    assert_eq!(log.log_end_offset(), leo);
    assert!(matches!(
        produce(&mut log, 1, 0, 13, 1),
        Err(LogError::OutOfOrderSequence(_))
    ));
    assert_eq!(
        offsets(&produce(&mut log, 1, 0, 12, 1).unwrap()),
        (leo, leo)
    );
    // The load left a snapshot at the log end it rebuilt up to.
    assert_eq!(
        snapshot_names(tmp.path()),
        vec![format!("{leo:020}.snapshot")]
    );
}

#[test]
fn snapshots_on_roll_and_close_and_loads_from_them() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = log_config(|_| {});
    let mut log = open_log(tmp.path(), "p", Arc::clone(&cfg));
    produce(&mut log, 1, 0, 0, 1).unwrap();
    assert_eq!(log.roll(TS).unwrap(), 1);
    let at_roll = read_snapshot(&producer_snapshot_file(tmp.path(), 1)).unwrap();
    assert_eq!(at_roll.len(), 1);
    assert_eq!((at_roll[0].producer_id, at_roll[0].last_seq()), (1, 0));
    produce(&mut log, 1, 0, 1, 1).unwrap();
    produce(&mut log, 2, 0, 0, 1).unwrap();
    drop(log); // crash after the roll: snapshot at 1 plus replay of [1, 3)

    let mut log = reopen(tmp.path(), Arc::clone(&cfg), false, 0);
    assert_eq!(log.producer_state().last_entry(1).unwrap().last_seq(), 1);
    assert_eq!(log.producer_state().last_entry(2).unwrap().last_seq(), 0);
    produce(&mut log, 2, 0, 1, 1).unwrap();
    log.close().unwrap();
    drop(log);
    assert_eq!(
        snapshot_names(tmp.path()),
        vec![
            "00000000000000000001.snapshot".to_string(),
            "00000000000000000003.snapshot".to_string(),
            "00000000000000000004.snapshot".to_string(),
        ]
    );

    // After a clean shutdown the table comes from the snapshot at the log end, not from the
    // log: replace it with a different table and see that one loaded.
    let mut other = ProducerStateEntry::empty(99);
    other.producer_epoch = 3;
    other.last_timestamp = TS;
    write_snapshot(&producer_snapshot_file(tmp.path(), 4), &[&other], true).unwrap();
    let log = reopen(tmp.path(), Arc::clone(&cfg), true, 4);
    assert_eq!(
        log.producer_state().last_entry(99).unwrap().producer_epoch,
        3
    );
    assert!(log.producer_state().last_entry(1).is_none());
    drop(log);

    // A corrupt latest snapshot falls back to the older one plus replay.
    fs::write(producer_snapshot_file(tmp.path(), 4), b"not a snapshot").unwrap();
    let log = reopen(tmp.path(), cfg, true, 4);
    assert!(log.producer_state().last_entry(99).is_none());
    assert_eq!(log.producer_state().last_entry(2).unwrap().last_seq(), 1);
    assert_eq!(log.producer_state().last_entry(1).unwrap().last_seq(), 1);
}

#[test]
fn clean_shutdown_without_snapshots_skips_the_scan_like_kafkas_upgrade_path() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = log_config(|_| {});
    let mut log = open_log(tmp.path(), "p", Arc::clone(&cfg));
    produce(&mut log, 1, 0, 0, 2).unwrap();
    log.close().unwrap();
    drop(log);
    for name in snapshot_names(tmp.path()) {
        fs::remove_file(tmp.path().join(name)).unwrap();
    }
    let mut log = reopen(tmp.path(), cfg, true, 2);
    assert!(log.producer_state().is_empty());
    assert_eq!(
        snapshot_names(tmp.path()),
        vec!["00000000000000000002.snapshot"]
    );
    // Unknown to the table: a resend is appended again (what Kafka does after such an
    // upgrade too), at any sequence.
    assert_eq!(offsets(&produce(&mut log, 1, 0, 0, 2).unwrap()), (2, 3));
}

#[test]
fn truncation_rebuilds_the_table() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = log_config(|_| {});
    let mut log = open_log(tmp.path(), "p", Arc::clone(&cfg));
    for seq in 0..3 {
        produce(&mut log, 1, 0, seq, 1).unwrap();
    }
    log.roll(TS).unwrap(); // snapshot at 3
    for seq in 3..5 {
        produce(&mut log, 1, 0, seq, 1).unwrap();
    }
    assert!(producer_snapshot_file(tmp.path(), 3).exists());
    assert!(log.truncate_to(2).unwrap());
    assert!(!producer_snapshot_file(tmp.path(), 3).exists());
    assert_eq!(log.producer_state().last_entry(1).unwrap().last_seq(), 1);
    // Sequence 2 was truncated away: a resend is a new append, not a duplicate.
    assert_eq!(offsets(&produce(&mut log, 1, 0, 2, 1).unwrap()), (2, 2));
    assert_eq!(offsets(&produce(&mut log, 1, 0, 1, 1).unwrap()), (1, 1));
    assert_eq!(log.log_end_offset(), 3);

    log.truncate_fully_and_start_at(10).unwrap();
    assert!(log.producer_state().is_empty());
    assert!(snapshot_names(tmp.path()).is_empty());
    assert_eq!(offsets(&produce(&mut log, 1, 0, 3, 1).unwrap()), (10, 10));
}

#[test]
fn retention_deletes_snapshots_with_their_segments_but_keeps_producers() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = log_config(|c| c.retention_ms = 100);
    let mut log = open_log(tmp.path(), "p", Arc::clone(&cfg));
    for seq in 0..3 {
        let mut b = batch(Some((4, 0, seq)), 1, 1_000 + seq as i64);
        log.append_as_leader(&mut b, 0, 1_000).unwrap();
        log.roll(1_000).unwrap();
    }
    assert_eq!(
        log.producer_state().snapshot_offsets(),
        vec![1, 2, 3],
        "one snapshot per roll"
    );
    log.update_high_watermark(3);
    assert_eq!(log.delete_old_segments(1_103).unwrap(), 3);
    let pending: Vec<String> = log
        .take_pending_deletions()
        .iter()
        .flat_map(|p| p.files.iter())
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .filter(|n| n.contains(".snapshot"))
        .collect();
    assert_eq!(
        pending,
        vec![
            "00000000000000000001.snapshot.deleted",
            "00000000000000000002.snapshot.deleted"
        ]
    );
    assert_eq!(log.producer_state().snapshot_offsets(), vec![3]);
    // Kafka 3.x keeps producers whose batches were deleted until they expire by time.
    assert_eq!(log.producer_state().last_entry(4).unwrap().last_seq(), 2);
    assert_eq!(
        log.remove_expired_producers(1_002 + 86_400_000, 86_400_000),
        1
    );
    assert!(log.producer_state().is_empty());
}

#[test]
fn old_snapshots_go_after_the_recovery_point_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let mut log = open_log(tmp.path(), "p", log_config(|_| {}));
    for seq in 0..5 {
        produce(&mut log, 1, 0, seq, 1).unwrap();
        log.roll(TS).unwrap();
    }
    assert_eq!(log.producer_state().snapshot_offsets(), vec![1, 2, 3, 4, 5]);
    // Recovery point 0: nothing may go.
    assert_eq!(
        log.delete_snapshots_after_recovery_point_checkpoint()
            .unwrap(),
        0
    );
    assert_eq!(log.producer_state().snapshot_offsets().len(), 5);
    log.flush_all().unwrap();
    // Keep from the segment before the active one (base 4).
    assert_eq!(
        log.delete_snapshots_after_recovery_point_checkpoint()
            .unwrap(),
        4
    );
    assert_eq!(log.producer_state().snapshot_offsets(), vec![4, 5]);
    assert_eq!(
        snapshot_names(tmp.path()),
        vec![
            "00000000000000000004.snapshot",
            "00000000000000000005.snapshot"
        ]
    );
}

#[test]
fn follower_appends_follow_the_leader_without_checks() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = log_config(|_| {});
    let mut log = open_log(tmp.path(), "p", Arc::clone(&cfg));
    let records = [SimpleRecord::new(TS, Some(b"k"), Some(b"v"))];
    let info = |pid, epoch, seq| ProducerInfo {
        producer_id: pid,
        producer_epoch: epoch,
        base_sequence: seq,
    };
    // A sequence gap and an older epoch are accepted from the leader.
    let payload = [
        build_batch(0, info(5, 2, 0), &records),
        build_batch(1, info(5, 2, 7), &records),
        build_batch(2, info(6, 1, 0), &records),
    ]
    .concat();
    log.append_as_follower(&payload, TS).unwrap();
    assert_eq!(log.producer_state().last_entry(5).unwrap().last_seq(), 7);
    let marker = end_txn_marker_batch(3, TS + 5, 0, 6, 1, &EndTransactionMarker::commit(9));
    log.append_as_follower(&marker, TS).unwrap();
    let p6 = log.producer_state().last_entry(6).unwrap();
    assert_eq!((p6.coordinator_epoch, p6.last_timestamp), (9, TS + 5));
    log.append_as_follower(&build_batch(4, info(5, 1, 8), &records), TS)
        .unwrap();
    assert_eq!(
        log.producer_state().last_entry(5).unwrap().producer_epoch,
        1
    );
    let expected: Vec<ProducerStateEntry> = {
        let mut v: Vec<ProducerStateEntry> = log
            .producer_state()
            .active_producers()
            .values()
            .cloned()
            .collect();
        v.sort_by_key(|e| e.producer_id);
        v
    };
    drop(log);
    // Replay after a crash, markers included, gives the same table.
    let log = reopen(tmp.path(), cfg, false, 0);
    let mut replayed: Vec<ProducerStateEntry> = log
        .producer_state()
        .active_producers()
        .values()
        .cloned()
        .collect();
    replayed.sort_by_key(|e| e.producer_id);
    assert_eq!(replayed, expected);
}
