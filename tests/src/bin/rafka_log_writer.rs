//! `rafka_log_writer <log-dir> [partitions]`: a stand-in producer for the crash test
//! (`tests/tests/log_crash.rs`). The real broker cannot take appends until the wire protocol
//! exists, so this process drives the same code path in-process: it starts a `LogManager` on
//! the dir (recovering it after the previous SIGKILL), then appends batches to topic `crash`
//! round-robin over the partitions, fsyncing after every append, forever.
//!
//! Output (stdout, one line each, flushed at once):
//! * `started <partition> <log end offset>` per partition once the logs are loaded;
//! * `acked <partition> <last offset>` after each append + flush (durable from then on).
//!
//! Record `o` of partition `p` has the value `<p>:<o>`, so a reader can check contents by
//! offset. Exits by itself after two minutes in case nobody kills it.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rafka_core::cluster::TopicPartition;
use rafka_core::config::KafkaConfig;
use rafka_core::log::log_manager::{lock_log, now_ms, LogManager, TopicOverrides};
use rafka_core::record::{build_batch, ProducerInfo, SimpleRecord};

const TOPIC: &str = "crash";
const MAX_RUN: Duration = Duration::from_secs(120);

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(
        args.next()
            .expect("usage: rafka_log_writer <log-dir> [partitions]"),
    );
    let partitions: i32 = args
        .next()
        .map_or(2, |p| p.parse().expect("partition count"));

    let props = BTreeMap::from([
        ("log.dirs".to_string(), dir.display().to_string()),
        ("zookeeper.connect".to_string(), "127.0.0.1:1".to_string()),
        // Small segments and dense indexes so a short run rolls and indexes a lot.
        ("log.segment.bytes".to_string(), "16384".to_string()),
        ("log.index.interval.bytes".to_string(), "512".to_string()),
    ]);
    let config = Arc::new(KafkaConfig::from_props(&props).expect("writer config"));
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let manager = rt
        .block_on(LogManager::startup(
            config,
            Arc::new(TopicOverrides::new()),
            now_ms(),
        ))
        .expect("log manager startup");

    let mut logs = Vec::new();
    let stdout = std::io::stdout();
    for p in 0..partitions {
        let log = rt
            .block_on(manager.get_or_create_log(TopicPartition::new(TOPIC, p), None))
            .expect("partition log");
        let leo = lock_log(&log).log_end_offset();
        writeln!(stdout.lock(), "started {p} {leo}").expect("stdout");
        logs.push(log);
    }
    stdout.lock().flush().expect("stdout");

    let started = Instant::now();
    let mut round: u64 = 0;
    while started.elapsed() < MAX_RUN {
        for (p, log) in logs.iter().enumerate() {
            let mut log = lock_log(log);
            let next = log.log_end_offset();
            // 1–5 records of varying size per batch.
            let count = 1 + (round % 5) as i64;
            let records: Vec<SimpleRecord> = (0..count)
                .map(|i| {
                    let mut value = format!("{p}:{}", next + i).into_bytes();
                    value.resize(value.len() + ((round * 37 + i as u64) % 300) as usize, b' ');
                    SimpleRecord::new(now_ms(), Some(b"k"), Some(&value))
                })
                .collect();
            let mut batch = build_batch(0, ProducerInfo::NONE, &records);
            let info = log
                .append_as_leader(&mut batch, 0, now_ms())
                .expect("append");
            assert_eq!(info.first_offset, next);
            log.flush_all().expect("flush");
            drop(log);
            let mut out = stdout.lock();
            writeln!(out, "acked {p} {}", info.last_offset).expect("stdout");
            out.flush().expect("stdout");
        }
        round += 1;
    }
    rt.block_on(manager.shutdown()).expect("shutdown");
}
