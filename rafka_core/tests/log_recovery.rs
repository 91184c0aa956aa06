//! Crash recovery of `Log::open` (spec §9): segments cut or garbled at random byte positions
//! after an unclean stop, damaged index files, and the temporary files of interrupted
//! deletions, cleanings and swaps.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rafka_core::cluster::TopicPartition;
use rafka_core::config::{KafkaConfig, LogConfig};
use rafka_core::log::log_segment::{log_file, offset_index_file, time_index_file};
use rafka_core::log::{LoadOptions, Log, LogError};
use rafka_core::record::{build_batch, ProducerInfo, RecordBatch, SimpleRecord};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn config(segment_bytes: i32, index_interval: i32) -> Arc<LogConfig> {
    let mut props = BTreeMap::new();
    props.insert("zookeeper.connect".to_string(), "zk:2181".to_string());
    let broker = KafkaConfig::from_props(&props).unwrap();
    let mut c = LogConfig::from_broker_and_overrides(&broker, &BTreeMap::new()).unwrap();
    c.segment_bytes = segment_bytes;
    c.index_interval_bytes = index_interval;
    c.segment_index_bytes = 4096;
    c.segment_jitter_ms = 0;
    Arc::new(c)
}

fn open(dir: &Path, cfg: &Arc<LogConfig>, clean: bool, recovery_point: i64) -> Log {
    Log::open(
        dir,
        TopicPartition::new("crash", 0),
        Arc::clone(cfg),
        LoadOptions {
            recovery_point,
            log_start_offset: 0,
            had_clean_shutdown: clean,
            now_ms: 1_000,
        },
    )
    .expect("open log")
}

/// Timestamp of the record at `offset` (strictly increasing, so lookups are predictable).
fn ts_of(offset: i64) -> i64 {
    1_000_000 + offset * 10
}

/// A stored batch: offsets, bytes, and where it lives.
#[derive(Clone, Debug)]
struct Stored {
    base: i64,
    last: i64,
    bytes: Vec<u8>,
    segment: i64,
    position: u64,
}

/// Appends `n` batches of random sizes as leader; returns them with their locations.
fn write_batches(log: &mut Log, n: usize, rng: &mut StdRng) -> Vec<Stored> {
    let mut stored = Vec::new();
    for _ in 0..n {
        let count = rng.gen_range(1..5usize);
        let value_len = rng.gen_range(0..150usize);
        let base = log.log_end_offset();
        let records: Vec<SimpleRecord> = (0..count)
            .map(|i| {
                let value: Vec<u8> = (0..value_len).map(|_| rng.gen()).collect();
                SimpleRecord::new(ts_of(base + i as i64), Some(b"key"), Some(&value))
            })
            .collect();
        let mut payload = build_batch(0, ProducerInfo::NONE, &records);
        let info = log.append_as_leader(&mut payload, 1, ts_of(base)).unwrap();
        assert_eq!(info.first_offset, base);
        stored.push(Stored {
            base,
            last: info.last_offset,
            bytes: payload,
            segment: -1,
            position: 0,
        });
    }
    // Locate every batch through the segments' own headers.
    let mut located = Vec::new();
    for seg in log.segments() {
        for h in seg.log().headers_from(0) {
            let h = h.unwrap();
            located.push((h.base_offset, seg.base_offset(), h.position));
        }
    }
    assert_eq!(located.len(), stored.len());
    for (s, (base, segment, position)) in stored.iter_mut().zip(located) {
        assert_eq!(s.base, base);
        s.segment = segment;
        s.position = position;
    }
    stored
}

/// Reads every batch from the log start with the whole-batch rule, one batch per read.
fn scan(log: &Log) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut offset = log.log_start_offset();
    while offset < log.log_end_offset() {
        let bytes = log
            .read(offset, 1, None, true)
            .unwrap()
            .records
            .read_to_vec()
            .unwrap();
        if bytes.is_empty() {
            break;
        }
        let batch = RecordBatch::parse(&bytes).expect("whole batch");
        assert!(batch.is_valid());
        offset = batch.next_offset();
        out.push(bytes);
    }
    out
}

/// Every offset index entry points at a batch start whose last offset is the entry's offset
/// (for single-batch appends and for rebuilt indexes alike); time entries are in range.
fn check_indexes(log: &Log) {
    for seg in log.segments() {
        seg.offset_index().sanity_check().unwrap();
        seg.time_index().sanity_check().unwrap();
        let headers: BTreeMap<u64, i64> = seg
            .log()
            .headers_from(0)
            .map(|h| {
                let h = h.unwrap();
                (h.position, h.last_offset())
            })
            .collect();
        for n in 0..seg.offset_index().entries() {
            let e = seg.offset_index().entry(n).unwrap();
            assert_eq!(
                headers.get(&e.position),
                Some(&e.offset),
                "index entry {n} of segment {}",
                seg.base_offset()
            );
        }
        for n in 0..seg.time_index().entries() {
            let e = seg.time_index().entry(n).unwrap();
            assert!(e.offset >= seg.base_offset() && e.offset < log.log_end_offset());
        }
    }
}

fn check_reads(log: &Log, expected: &[Stored], exact_bytes: &[Vec<u8>]) {
    assert_eq!(scan(log), exact_bytes, "sequential scan");
    for (s, bytes) in expected.iter().zip(exact_bytes) {
        for offset in [s.base, (s.base + s.last) / 2, s.last] {
            let got = log
                .read(offset, 1, None, true)
                .unwrap()
                .records
                .read_to_vec()
                .unwrap();
            assert_eq!(&got, bytes, "read at {offset}");
        }
    }
    let leo = log.log_end_offset();
    assert!(log.read(leo, 1000, None, true).unwrap().records.is_empty());
    assert!(matches!(
        log.read(leo + 1, 1000, None, true),
        Err(LogError::OffsetOutOfRange { .. })
    ));
}

#[derive(Debug, Clone, Copy)]
enum Damage {
    /// Truncate the file to this length.
    Cut(u64),
    /// XOR one byte with a non-zero mask.
    Garble(u64, u8),
}

fn read_be_i64(b: &[u8]) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    i64::from_be_bytes(a)
}

#[test]
fn log_crash_damage_is_cut_off_and_everything_before_survives() {
    // LOG_RECOVERY_SEED / LOG_RECOVERY_ITERATIONS allow longer stress runs.
    let env = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<u64>().ok());
    let mut rng = StdRng::seed_from_u64(env("LOG_RECOVERY_SEED").unwrap_or(0x5eed_cafe));
    for iteration in 0..env("LOG_RECOVERY_ITERATIONS").unwrap_or(50) {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("crash-0");
        let cfg = config(rng.gen_range(900..2500), rng.gen_range(0..400));
        let mut log = open(&dir, &cfg, false, 0);
        let batches = write_batches(&mut log, rng.gen_range(5..40), &mut rng);
        let leo = log.log_end_offset();
        let segment_bases = log.segment_base_offsets();
        drop(log); // crash: no close, indexes stay preallocated

        // Damage the active segment, or any segment when recovery starts at 0.
        let full_recovery = rng.gen_bool(0.5);
        let active = *segment_bases.last().unwrap();
        let target = if full_recovery {
            segment_bases[rng.gen_range(0..segment_bases.len())]
        } else {
            active
        };
        let in_target: Vec<&Stored> = batches.iter().filter(|b| b.segment == target).collect();
        let target_path = log_file(&dir, target, "");
        let mut content = fs::read(&target_path).unwrap();
        if content.is_empty() {
            continue; // empty active segment right after a roll
        }
        let pos = rng.gen_range(0..content.len() as u64);
        let is_active = target == active;
        let damage = if rng.gen_bool(0.5) {
            Damage::Cut(pos)
        } else {
            Damage::Garble(pos, rng.gen_range(1..=255u8))
        };
        let k = in_target
            .iter()
            .position(|b| b.position <= pos && pos < b.position + b.bytes.len() as u64)
            .unwrap();
        let field = pos - in_target[k].position;
        // Non-CRC-covered header fields may only be garbled in the active segment (a bad
        // baseOffset in an older segment could collide with the next segment's offsets).
        let damage = match damage {
            Damage::Garble(p, m) if !is_active && field < 21 && !(16..21).contains(&field) => {
                Damage::Garble(p.max(in_target[k].position + 21), m)
            }
            d => d,
        };
        let mut garbled_batch: Option<Vec<u8>> = None;
        match damage {
            Damage::Cut(p) => content.truncate(p as usize),
            Damage::Garble(p, m) => {
                if (p as usize) < content.len() {
                    content[p as usize] ^= m;
                }
                let b = in_target[k];
                garbled_batch = Some(
                    content[b.position as usize..b.position as usize + b.bytes.len()].to_vec(),
                );
            }
        }
        fs::write(&target_path, &content).unwrap();

        // Expected outcome.
        let before: Vec<Stored> = batches
            .iter()
            .filter(|b| b.segment < target)
            .cloned()
            .collect();
        let (mut survivors, mut bytes_expected): (Vec<Stored>, Vec<Vec<u8>>) = (
            before.clone(),
            before.iter().map(|b| b.bytes.clone()).collect(),
        );
        let prefix = |upto: usize, s: &mut Vec<Stored>, e: &mut Vec<Vec<u8>>| {
            for b in &in_target[..upto] {
                s.push((*b).clone());
                e.push(b.bytes.clone());
            }
        };
        let mut later_segments_survive = false;
        let mut offsets_shifted = false;
        let expected_leo;
        match damage {
            Damage::Cut(p) => {
                let whole = in_target
                    .iter()
                    .take_while(|b| b.position + b.bytes.len() as u64 <= p)
                    .count();
                prefix(whole, &mut survivors, &mut bytes_expected);
                // A cut exactly between batches leaves no invalid byte: nothing is truncated,
                // so later segments stay (with a gap); otherwise they are dropped.
                let at_boundary = in_target.get(whole).is_none_or(|b| b.position == p);
                later_segments_survive = at_boundary;
                expected_leo = if at_boundary && !is_active {
                    leo
                } else {
                    survivors.last().map_or(target, |b| b.last + 1)
                };
            }
            Damage::Garble(p, _) => {
                let field = p - in_target[k].position;
                let garbled = garbled_batch.unwrap();
                if (12..16).contains(&field) {
                    // partitionLeaderEpoch is not covered by the CRC: the batch survives.
                    prefix(k, &mut survivors, &mut bytes_expected);
                    survivors.push(in_target[k].clone());
                    bytes_expected.push(garbled);
                    prefix_rest(&in_target[k + 1..], &mut survivors, &mut bytes_expected);
                    later_segments_survive = true;
                    expected_leo = leo;
                } else if field < 8 {
                    // baseOffset is not covered by the CRC either: accepted only if it still
                    // fits the segment and stays above the previous batch.
                    let new_base = read_be_i64(&garbled);
                    let b = in_target[k];
                    let delta = b.last - b.base;
                    let floor = if k == 0 {
                        target
                    } else {
                        in_target[k - 1].last + 1
                    };
                    let accepted = new_base >= floor
                        && new_base
                            .checked_add(delta)
                            .is_some_and(|l| l - target <= i32::MAX as i64);
                    prefix(k, &mut survivors, &mut bytes_expected);
                    if accepted {
                        offsets_shifted = true;
                        let mut shifted = b.clone();
                        shifted.base = new_base;
                        shifted.last = new_base + delta;
                        survivors.push(shifted);
                        bytes_expected.push(garbled);
                        expected_leo = new_base + delta + 1;
                    } else {
                        expected_leo = survivors.last().map_or(target, |b| b.last + 1);
                    }
                } else {
                    prefix(k, &mut survivors, &mut bytes_expected);
                    expected_leo = survivors.last().map_or(target, |b| b.last + 1);
                }
            }
        }
        if later_segments_survive {
            let later: Vec<&Stored> = batches.iter().filter(|b| b.segment > target).collect();
            for b in later {
                survivors.push(b.clone());
                bytes_expected.push(b.bytes.clone());
            }
        }

        // Sometimes damage index files as well (detectably), anywhere.
        if rng.gen_bool(0.4) {
            let seg = segment_bases[rng.gen_range(0..segment_bases.len())];
            let path = if rng.gen_bool(0.5) {
                offset_index_file(&dir, seg, "")
            } else {
                time_index_file(&dir, seg, "")
            };
            match rng.gen_range(0..3) {
                0 => fs::remove_file(&path).unwrap(),
                1 => {
                    let len = fs::metadata(&path).unwrap().len();
                    let f = fs::OpenOptions::new().write(true).open(&path).unwrap();
                    f.set_len(len + 5).unwrap();
                }
                _ => {
                    let mut b = fs::read(&path).unwrap();
                    let n = b.len();
                    if n >= 12 {
                        b[n - 12..].fill(0xff);
                    }
                    fs::write(&path, b).unwrap();
                }
            }
        }

        // Recovery must start at or before the damaged segment.
        let recovery_point = match (full_recovery, rng.gen_bool(0.5)) {
            (true, true) => 0,
            (true, false) => rng.gen_range(0..=target),
            (false, _) => rng.gen_range(target..=leo),
        };
        let ctx = format!("iteration {iteration}: {damage:?} in segment {target} (active {active}), field {field}, rp {recovery_point}");

        let mut log = open(&dir, &cfg, false, recovery_point);
        assert_eq!(log.log_end_offset(), expected_leo, "{ctx}");
        assert!(log.recovery_point() <= expected_leo);
        check_reads(&log, &survivors, &bytes_expected);
        check_indexes(&log);
        if !offsets_shifted {
            // Timestamp lookups land on the first surviving record at or after the target.
            if let Some(s) = survivors.iter().find(|s| s.base < expected_leo) {
                let want = s.base + (s.last - s.base) / 2;
                let found = log.fetch_offset_by_timestamp(ts_of(want)).unwrap().unwrap();
                assert_eq!(
                    (found.offset, found.timestamp),
                    (want, ts_of(want)),
                    "{ctx}"
                );
            }
        }
        // Dropped later segments are renamed .deleted; after deleting them and a clean
        // restart the log is unchanged.
        let pending = log.take_pending_deletions();
        if !later_segments_survive {
            let dropped = segment_bases.iter().filter(|b| **b > target).count();
            assert_eq!(pending.len(), dropped, "{ctx}");
        }
        for p in pending {
            p.delete_files().unwrap();
        }
        log.close().unwrap();
        drop(log);
        let log = open(&dir, &cfg, true, 0);
        assert_eq!(log.log_end_offset(), expected_leo, "{ctx}");
        check_reads(&log, &survivors, &bytes_expected);
        check_indexes(&log);
        assert!(fs::read_dir(&dir).unwrap().all(|e| !e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .ends_with(".deleted")));
    }
}

fn prefix_rest(rest: &[&Stored], s: &mut Vec<Stored>, e: &mut Vec<Vec<u8>>) {
    for b in rest {
        s.push((*b).clone());
        e.push(b.bytes.clone());
    }
}

#[test]
fn log_missing_and_corrupt_indexes_are_rebuilt_after_clean_shutdown() {
    let mut rng = StdRng::seed_from_u64(7);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("idx-0");
    let cfg = config(1500, 200);
    let mut log = open(&dir, &cfg, false, 0);
    let batches = write_batches(&mut log, 40, &mut rng);
    log.close().unwrap();
    let bases = log.segment_base_offsets();
    assert!(bases.len() >= 3, "want several segments, got {bases:?}");
    drop(log);
    let expected: Vec<Vec<u8>> = batches.iter().map(|b| b.bytes.clone()).collect();
    // Reference index bytes written during appends (trimmed by the clean close).
    let reference: Vec<(Vec<u8>, Vec<u8>)> = bases
        .iter()
        .map(|b| {
            (
                fs::read(offset_index_file(&dir, *b, "")).unwrap(),
                fs::read(time_index_file(&dir, *b, "")).unwrap(),
            )
        })
        .collect();
    fs::remove_file(offset_index_file(&dir, bases[0], "")).unwrap();
    fs::remove_file(time_index_file(&dir, bases[1], "")).unwrap();
    let idx = offset_index_file(&dir, bases[2], "");
    let len = fs::metadata(&idx).unwrap().len();
    fs::OpenOptions::new()
        .write(true)
        .open(&idx)
        .unwrap()
        .set_len(len + 3)
        .unwrap();

    let log = open(&dir, &cfg, true, 0);
    assert_eq!(log.log_end_offset(), batches.last().unwrap().last + 1);
    check_reads(&log, &batches, &expected);
    check_indexes(&log);
    // Rebuilt offset indexes equal the ones written by appends (one batch per append);
    // rebuilt time indexes only differ in Kafka's choice of offset (batch last offset vs the
    // record holding the max timestamp — the same record here, timestamps grow).
    for (i, b) in bases.iter().enumerate().take(3) {
        let idx = fs::read(offset_index_file(&dir, *b, "")).unwrap();
        let tidx = fs::read(time_index_file(&dir, *b, "")).unwrap();
        if *b != *bases.last().unwrap() {
            assert_eq!(idx, reference[i].0, "offset index of segment {b}");
            assert_eq!(tidx, reference[i].1, "time index of segment {b}");
        }
    }
}

#[test]
fn log_leftover_temporary_files_are_removed_on_load() {
    let mut rng = StdRng::seed_from_u64(11);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("tmp-0");
    let cfg = config(100_000, 4096);
    let mut log = open(&dir, &cfg, false, 0);
    let batches = write_batches(&mut log, 10, &mut rng);
    log.close().unwrap();
    drop(log);
    let junk = [
        "00000000000000000000.log.deleted",
        "00000000000000000000.index.deleted",
        "00000000000000000005.timeindex.deleted",
        "00000000000000000100.log.cleaned",
        "00000000000000000100.index.cleaned",
        "00000000000000000999.index",
        "00000000000000000999.timeindex",
        "00000000000000000999.txnindex",
    ];
    for name in junk {
        fs::write(dir.join(name), b"junk").unwrap();
    }
    fs::write(dir.join("leader-epoch-checkpoint"), b"0\n0\n").unwrap();
    let log = open(&dir, &cfg, true, 0);
    let mut names: Vec<String> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    // The clean close left a producer snapshot at the log end, as Kafka's does.
    let snapshot = format!("{:020}.snapshot", log.log_end_offset());
    assert_eq!(
        names,
        [
            "00000000000000000000.index",
            "00000000000000000000.log",
            "00000000000000000000.timeindex",
            snapshot.as_str(),
            "leader-epoch-checkpoint"
        ]
    );
    let expected: Vec<Vec<u8>> = batches.iter().map(|b| b.bytes.clone()).collect();
    check_reads(&log, &batches, &expected);
}

/// Builds the cleaner's output for segment 0: the same batches minus every other one.
fn write_swap(dir: &Path, kept: &[&Stored]) -> PathBuf {
    let swap = dir.join("00000000000000000000.log.swap");
    let bytes: Vec<u8> = kept.iter().flat_map(|b| b.bytes.clone()).collect();
    fs::write(&swap, bytes).unwrap();
    // A stale index of the swap segment: rebuilt anyway.
    fs::write(dir.join("00000000000000000000.index.swap"), [0xffu8; 16]).unwrap();
    swap
}

#[test]
fn log_interrupted_swap_is_completed() {
    for old_already_deleted in [false, true] {
        let mut rng = StdRng::seed_from_u64(21);
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("swap-0");
        let cfg = config(3000, 100);
        let mut log = open(&dir, &cfg, false, 0);
        let batches = write_batches(&mut log, 30, &mut rng);
        let bases = log.segment_base_offsets();
        assert!(bases.len() >= 2);
        log.close().unwrap();
        drop(log);
        let first: Vec<&Stored> = batches.iter().filter(|b| b.segment == 0).collect();
        assert!(first.len() >= 3, "segment 0 has {} batches", first.len());
        let kept: Vec<&Stored> = first.iter().copied().step_by(2).collect();
        write_swap(&dir, &kept);
        if old_already_deleted {
            // Crash after the old files were renamed .deleted, before the swap was renamed.
            for p in [
                log_file(&dir, 0, ""),
                offset_index_file(&dir, 0, ""),
                time_index_file(&dir, 0, ""),
            ] {
                let mut name = p.clone().into_os_string();
                name.push(".deleted");
                fs::rename(&p, name).unwrap();
            }
        }
        let mut log = open(&dir, &cfg, true, 0);
        log.delete_pending_files_now().unwrap();
        let mut expected: Vec<Stored> = kept.iter().map(|b| (*b).clone()).collect();
        expected.extend(batches.iter().filter(|b| b.segment != 0).cloned());
        let bytes: Vec<Vec<u8>> = expected.iter().map(|b| b.bytes.clone()).collect();
        assert_eq!(log.log_end_offset(), batches.last().unwrap().last + 1);
        check_reads(&log, &expected, &bytes);
        check_indexes(&log);
        // Offsets removed by the "cleaning" read as the next kept batch.
        let removed = first[1];
        let got = log
            .read(removed.base, 1, None, true)
            .unwrap()
            .records
            .read_to_vec()
            .unwrap();
        assert_eq!(got, first[2].bytes);
        let names: Vec<String> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            names
                .iter()
                .all(|n| !n.ends_with(".swap") && !n.ends_with(".deleted")),
            "{names:?}"
        );
    }
}

#[test]
fn log_swap_of_an_unfinished_split_is_discarded() {
    let mut rng = StdRng::seed_from_u64(5);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("split-0");
    let cfg = config(100_000, 4096);
    let mut log = open(&dir, &cfg, false, 0);
    let batches = write_batches(&mut log, 6, &mut rng);
    log.close().unwrap();
    drop(log);
    // A .cleaned file at offset 0 means the swap at offset 0 is part of an incomplete split.
    let kept: Vec<&Stored> = batches.iter().take(2).collect();
    write_swap(&dir, &kept);
    fs::write(dir.join("00000000000000000000.log.cleaned"), b"partial").unwrap();
    let log = open(&dir, &cfg, true, 0);
    let expected: Vec<Vec<u8>> = batches.iter().map(|b| b.bytes.clone()).collect();
    check_reads(&log, &batches, &expected);
    // The segment's three files, the producer snapshot of the clean close and the leader
    // epoch checkpoint.
    assert_eq!(fs::read_dir(&dir).unwrap().count(), 5);
    assert!(dir.join("leader-epoch-checkpoint").exists());
    assert!(dir
        .join(format!("{:020}.snapshot", log.log_end_offset()))
        .exists());
}

#[test]
fn log_empty_dir_and_log_start_beyond_the_end() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config(100_000, 4096);
    let dir = tmp.path().join("empty-0");
    let load = |log_start: i64, clean: bool| LoadOptions {
        recovery_point: 0,
        log_start_offset: log_start,
        had_clean_shutdown: clean,
        now_ms: 0,
    };
    let log = Log::open(
        &dir,
        TopicPartition::new("empty", 0),
        Arc::clone(&cfg),
        load(50, false),
    )
    .unwrap();
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (50, 50));
    assert_eq!(log.segment_base_offsets(), vec![50]);
    drop(log);

    let dir = tmp.path().join("gone-0");
    let mut log = open(&dir, &cfg, false, 0);
    let mut rng = StdRng::seed_from_u64(3);
    write_batches(&mut log, 5, &mut rng);
    assert!(log.log_end_offset() < 100);
    log.close().unwrap();
    drop(log);
    let mut log = Log::open(
        &dir,
        TopicPartition::new("gone", 0),
        Arc::clone(&cfg),
        load(100, true),
    )
    .unwrap();
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (100, 100));
    assert_eq!(log.segment_base_offsets(), vec![100]);
    assert_eq!(log.take_pending_deletions().len(), 1);
}
