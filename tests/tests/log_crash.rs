//! Crash safety of the log layer with a real process and SIGKILL.
//!
//! `rafka_log_writer` (tests/src/bin) stands in for a producing broker (the wire protocol does
//! not exist yet): it starts a `LogManager` on a dir and appends to two partitions, printing
//! `acked <partition> <last offset>` after each append + fsync. We kill it with SIGKILL three
//! times on the same dir (each start recovers the previous crash; once we also tear the tail of
//! a segment by hand), then open the dir in-process and check: every acked offset is readable
//! with a valid CRC and the value written for it, offsets are contiguous from 0, no bytes
//! follow the last complete batch of any segment, and offset lookups through the rebuilt
//! indexes find every offset.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use rafka_core::cluster::TopicPartition;
use rafka_core::config::KafkaConfig;
use rafka_core::log::log_manager::{lock_log, now_ms, LogManager, TopicOverrides};
use rafka_core::log::Log;
use rafka_core::record::{build_batch, BatchIter, ProducerInfo, SimpleRecord};

const PARTITIONS: i32 = 2;
const ROUNDS: usize = 3;
/// How long each writer runs before SIGKILL (after its first ack).
const RUN_FOR: Duration = Duration::from_millis(1200);
const DEADLINE: Duration = Duration::from_secs(30);

struct Round {
    started: BTreeMap<i32, i64>,
    acked: BTreeMap<i32, i64>,
}

/// Runs the writer on `dir` until it has acked for `RUN_FOR`, then SIGKILLs it.
fn run_writer_and_kill(dir: &Path) -> Round {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rafka_log_writer"))
        .arg(dir)
        .arg(PARTITIONS.to_string())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn rafka_log_writer");
    let pid = Pid::from_raw(child.id() as i32);
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });

    let mut round = Round {
        started: BTreeMap::new(),
        acked: BTreeMap::new(),
    };
    let deadline = Instant::now() + DEADLINE;
    let mut first_ack: Option<Instant> = None;
    let on_line = |line: &str, round: &mut Round| {
        let parts: Vec<&str> = line.split_whitespace().collect();
        match parts.as_slice() {
            ["started", p, leo] => {
                round
                    .started
                    .insert(p.parse().unwrap(), leo.parse().unwrap());
            }
            ["acked", p, last] => {
                let (p, last): (i32, i64) = (p.parse().unwrap(), last.parse().unwrap());
                let prev = round.acked.insert(p, last);
                assert!(prev.is_none_or(|prev| prev < last), "acks go forward");
            }
            _ => panic!("unexpected writer output: {line}"),
        }
    };
    loop {
        if first_ack.is_some_and(|t| t.elapsed() >= RUN_FOR) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "writer made no progress in {DEADLINE:?}"
        );
        match rx.recv_timeout(Duration::from_millis(50)) {
            Ok(line) => {
                on_line(&line, &mut round);
                if line.starts_with("acked") && first_ack.is_none() {
                    first_ack = Some(Instant::now());
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                panic!("writer exited early: {:?}", child.wait())
            }
        }
    }
    kill(pid, Signal::SIGKILL).expect("SIGKILL");
    let status = child.wait().expect("wait");
    assert!(!status.success(), "killed: {status:?}");
    reader.join().expect("reader thread");
    // Lines printed before the kill (acks are printed only after the fsync).
    while let Ok(line) = rx.try_recv() {
        on_line(&line, &mut round);
    }
    assert_eq!(
        round.started.len(),
        PARTITIONS as usize,
        "{:?}",
        round.started
    );
    round
}

fn partition_dir(dir: &Path, p: i32) -> PathBuf {
    dir.join(TopicPartition::new("crash", p).dir_name())
}

fn segment_files(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    files.sort();
    files
}

/// Appends the first half of a valid batch to the active segment: a torn write.
fn tear_tail(partition_dir: &Path) {
    let active = segment_files(partition_dir, ".log")
        .pop()
        .expect("a segment");
    let batch = build_batch(
        0,
        ProducerInfo::NONE,
        &[SimpleRecord::new(now_ms(), Some(b"k"), Some(&[b'x'; 200]))],
    );
    let mut bytes = std::fs::read(&active).unwrap();
    bytes.extend_from_slice(&batch[..batch.len() / 2]);
    std::fs::write(&active, bytes).unwrap();
}

/// The value of record `i` of a batch (uncompressed v2, as the writer makes them).
fn record_values(mut buf: &[u8], count: i32) -> Vec<Vec<u8>> {
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
        rec = &rec[1..];
        varint(&mut rec);
        varint(&mut rec);
        let klen = varint(&mut rec);
        if klen > 0 {
            rec = &rec[klen as usize..];
        }
        let vlen = varint(&mut rec) as usize;
        out.push(rec[..vlen].to_vec());
    }
    out
}

fn check_partition(log: &Log, p: i32, acked: i64) {
    let leo = log.log_end_offset();
    assert!(
        leo > acked,
        "partition {p}: acked {acked} but log end {leo}"
    );
    assert_eq!(log.log_start_offset(), 0);

    // Every batch from 0: CRC, contiguity, contents.
    let mut next = 0;
    while next < leo {
        let info = log.read(next, 1 << 20, None, true).expect("read");
        let bytes = info.records.read_to_vec().expect("bytes");
        assert!(!bytes.is_empty(), "partition {p}: nothing at {next}");
        for item in BatchIter::new(&bytes) {
            let (_, batch) = item.expect("whole batch");
            batch
                .validate()
                .unwrap_or_else(|e| panic!("partition {p}: batch at {}: {e}", batch.base_offset()));
            assert_eq!(
                batch.base_offset(),
                next,
                "partition {p}: offsets contiguous"
            );
            for (i, value) in record_values(batch.records_bytes(), batch.records_count())
                .into_iter()
                .enumerate()
            {
                let expected = format!("{p}:{}", next + i as i64);
                assert!(
                    value.starts_with(expected.as_bytes())
                        && value[expected.len()..].iter().all(|b| *b == b' '),
                    "partition {p}: offset {} holds {:?}",
                    next + i as i64,
                    String::from_utf8_lossy(&value)
                );
            }
            next = batch.last_offset() + 1;
        }
    }
    assert_eq!(
        next, leo,
        "partition {p}: batches end at the log end offset"
    );

    // Index lookups: every offset maps to the batch holding it.
    for offset in 0..leo {
        let info = log.read(offset, 1, None, true).expect("lookup");
        let bytes = info.records.read_to_vec().unwrap();
        let (_, batch) = BatchIter::new(&bytes)
            .next()
            .expect("a batch")
            .expect("whole batch");
        assert!(
            batch.base_offset() <= offset && offset <= batch.last_offset(),
            "partition {p}: lookup of {offset} returned [{}, {}]",
            batch.base_offset(),
            batch.last_offset()
        );
    }
}

/// No bytes after the last complete batch of any segment, and every segment has its indexes.
fn check_files(partition_dir: &Path, p: i32) {
    let logs = segment_files(partition_dir, ".log");
    assert!(
        logs.len() > 1,
        "partition {p}: the run should have rolled segments"
    );
    for file in logs {
        let bytes = std::fs::read(&file).unwrap();
        let mut iter = BatchIter::new(&bytes);
        for item in iter.by_ref() {
            item.unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        }
        assert_eq!(
            iter.position(),
            bytes.len(),
            "{}: garbage after the last complete batch",
            file.display()
        );
        for suffix in [".index", ".timeindex"] {
            let index = file.with_extension(&suffix[1..]);
            assert!(index.is_file(), "{} missing", index.display());
        }
    }
}

#[test]
fn acked_appends_survive_repeated_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let mut acked: BTreeMap<i32, i64> = BTreeMap::new();
    for round in 0..ROUNDS {
        let r = run_writer_and_kill(dir.path());
        for p in 0..PARTITIONS {
            let started = r.started[&p];
            if let Some(prev) = acked.get(&p) {
                assert!(
                    started > *prev,
                    "round {round}: partition {p} restarted at {started} but {prev} was acked"
                );
            } else {
                assert_eq!(started, 0);
            }
        }
        for (p, last) in r.acked {
            acked.insert(p, last);
        }
        assert!(!dir.path().join(".kafka_cleanshutdown").exists());
        if round == 0 {
            // A torn write on top of whatever the kill left: the next start must cut it off.
            tear_tail(&partition_dir(dir.path(), 0));
        }
    }
    assert_eq!(acked.len(), PARTITIONS as usize, "{acked:?}");
    eprintln!("acked after {ROUNDS} killed runs: {acked:?}");

    // Open the dir in-process (recovering the last crash) and check everything.
    let mut props = BTreeMap::new();
    props.insert("log.dirs".to_string(), dir.path().display().to_string());
    props.insert("zookeeper.connect".to_string(), "127.0.0.1:1".to_string());
    let config = Arc::new(KafkaConfig::from_props(&props).unwrap());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let manager = rt
        .block_on(LogManager::startup(
            config,
            Arc::new(TopicOverrides::new()),
            now_ms(),
        ))
        .expect("startup after the crashes");
    assert_eq!(manager.all_logs().len(), PARTITIONS as usize);
    assert!(manager.offline_partitions().is_empty());
    for p in 0..PARTITIONS {
        let log = manager
            .get_log(&TopicPartition::new("crash", p))
            .expect("partition loaded");
        check_partition(&lock_log(&log), p, acked[&p]);
        check_files(&partition_dir(dir.path(), p), p);
    }
    rt.block_on(manager.shutdown()).expect("clean shutdown");
    assert!(dir.path().join(".kafka_cleanshutdown").exists());
}
