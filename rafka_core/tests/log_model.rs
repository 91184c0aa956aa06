//! Model-based property test of `Log`: random leader appends, reads at random offsets with
//! random limits, rolls, truncations, high-watermark moves, DeleteRecords, size retention and
//! clean/unclean restarts, checked against an in-memory list of the batches the log must hold.

use std::collections::BTreeMap;
use std::sync::Arc;

use proptest::prelude::*;
use rafka_core::cluster::TopicPartition;
use rafka_core::config::{KafkaConfig, LogConfig};
use rafka_core::log::log::LogStartOffsetIncrementReason;
use rafka_core::log::{LoadOptions, Log, LogError};
use rafka_core::record::batch::{set_base_offset, set_partition_leader_epoch};
use rafka_core::record::{build_batch, ProducerInfo, RecordBatch, SimpleRecord};

fn base_config() -> LogConfig {
    let mut props = BTreeMap::new();
    props.insert("zookeeper.connect".to_string(), "zk:2181".to_string());
    let broker = KafkaConfig::from_props(&props).unwrap();
    LogConfig::from_broker_and_overrides(&broker, &BTreeMap::new()).unwrap()
}

#[derive(Clone, Debug)]
enum Op {
    Append {
        records: usize,
        value_len: usize,
    },
    Read {
        offset: u16,
        max_bytes: u16,
        min_one: bool,
        bounded: bool,
    },
    Roll,
    Truncate {
        pick: u16,
    },
    UpdateHw {
        pick: u16,
    },
    DeleteRecords {
        pick: u16,
    },
    Retention {
        pick: u16,
    },
    Restart {
        clean: bool,
        recovery_point_zero: bool,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        14 => (1usize..6, 0usize..120).prop_map(|(records, value_len)| Op::Append { records, value_len }),
        6 => (any::<u16>(), any::<u16>(), any::<bool>(), any::<bool>()).prop_map(
            |(offset, max_bytes, min_one, bounded)| Op::Read { offset, max_bytes, min_one, bounded }
        ),
        1 => Just(Op::Roll),
        1 => any::<u16>().prop_map(|pick| Op::Truncate { pick }),
        3 => any::<u16>().prop_map(|pick| Op::UpdateHw { pick }),
        1 => any::<u16>().prop_map(|pick| Op::DeleteRecords { pick }),
        2 => any::<u16>().prop_map(|pick| Op::Retention { pick }),
        1 => (any::<bool>(), any::<bool>()).prop_map(|(clean, recovery_point_zero)| Op::Restart {
            clean,
            recovery_point_zero
        }),
    ]
}

/// What the log must contain: every physically present batch (offsets, bytes).
#[derive(Debug, Default)]
struct Model {
    batches: Vec<(i64, i64, Vec<u8>)>,
    log_start: i64,
    leo: i64,
    hw: i64,
}

impl Model {
    /// Batches a read starting at `start` may return, bounded by `bound` (exclusive on the
    /// batch's last offset, like Kafka's position of the batch holding the bound).
    fn expected_from(&self, start: i64, bound: i64) -> Vec<&Vec<u8>> {
        self.batches
            .iter()
            .filter(|(_, last, _)| *last >= start && *last < bound)
            .map(|(_, _, b)| b)
            .collect()
    }
}

struct Harness {
    dir: tempfile::TempDir,
    config: Arc<LogConfig>,
    log: Option<Log>,
    model: Model,
    now: i64,
}

impl Harness {
    fn log(&mut self) -> &mut Log {
        self.log.as_mut().expect("log open")
    }

    fn open(&mut self, clean: bool, recovery_point: i64) {
        let log = Log::open(
            &self.dir.path().join("topic-0"),
            TopicPartition::new("topic", 0),
            Arc::clone(&self.config),
            LoadOptions {
                recovery_point,
                log_start_offset: self.model.log_start,
                had_clean_shutdown: clean,
                now_ms: self.now,
            },
        )
        .expect("open");
        self.log = Some(log);
        let hw = self.model.hw;
        self.log().update_high_watermark(hw);
    }

    fn check_offsets(&mut self) {
        let (ls, leo, hw) = (self.model.log_start, self.model.leo, self.model.hw);
        let log = self.log();
        assert_eq!(log.log_start_offset(), ls, "log start");
        assert_eq!(log.log_end_offset(), leo, "log end");
        assert_eq!(log.high_watermark(), hw, "high watermark");
        assert!(log.num_segments() >= 1);
    }

    fn read_all_and_compare(&mut self) {
        // Walk the whole log batch by batch through `read` (whole-batch rule each time).
        let mut offset = self.model.log_start;
        let leo = self.model.leo;
        let expected: Vec<Vec<u8>> = self
            .model
            .expected_from(offset, i64::MAX)
            .into_iter()
            .cloned()
            .collect();
        let mut got = Vec::new();
        while offset < leo {
            let info = self.log().read(offset, 1, None, true).expect("read");
            let bytes = info.records.read_to_vec().unwrap();
            if bytes.is_empty() {
                break;
            }
            let batch = RecordBatch::parse(&bytes).expect("one whole batch");
            offset = batch.next_offset();
            got.push(bytes);
        }
        assert_eq!(got, expected, "full scan");
    }

    fn apply(&mut self, op: &Op) {
        self.now += 10;
        match *op {
            Op::Append { records, value_len } => {
                let recs: Vec<SimpleRecord> = (0..records)
                    .map(|i| {
                        let value = vec![(i as u8).wrapping_add(value_len as u8); value_len];
                        SimpleRecord::new(self.now + i as i64, Some(b"key"), Some(&value))
                    })
                    .collect();
                let mut payload = build_batch(0, ProducerInfo::NONE, &recs);
                let original = payload.clone();
                let now = self.now;
                let segment_bytes = self.config.segment_bytes as usize;
                let result = self.log().append_as_leader(&mut payload, 3, now);
                if original.len() > segment_bytes {
                    assert!(
                        matches!(result, Err(LogError::RecordListTooLarge { .. })),
                        "{result:?}"
                    );
                    return;
                }
                let info = result.expect("append");
                let base = self.model.leo;
                assert_eq!(info.first_offset, base);
                assert_eq!(info.last_offset, base + records as i64 - 1);
                let mut expected = original;
                set_base_offset(&mut expected, base);
                set_partition_leader_epoch(&mut expected, 3);
                assert_eq!(payload, expected, "in-place rewrite");
                self.model.batches.push((base, info.last_offset, expected));
                self.model.leo = info.last_offset + 1;
            }
            Op::Read {
                offset,
                max_bytes,
                min_one,
                bounded,
            } => {
                let lo = self.model.log_start - 2;
                let span = (self.model.leo + 3 - lo).max(1);
                let start = lo + (offset as i64 % span);
                let max_bytes = max_bytes as usize % 1500;
                let bound = if bounded { Some(self.model.hw) } else { None };
                let result = self.log().read(start, max_bytes, bound, min_one);
                if start < self.model.log_start || start > self.model.leo {
                    assert!(
                        matches!(result, Err(LogError::OffsetOutOfRange { .. })),
                        "{result:?}"
                    );
                    return;
                }
                let info = result.expect("read in range");
                assert_eq!(info.fetch_offset, start);
                let bytes = info.records.read_to_vec().unwrap();
                let expected = self.model.expected_from(start, bound.unwrap_or(i64::MAX));
                let first_len = expected.first().map_or(0, |b| b.len());
                let limit = if min_one {
                    max_bytes.max(first_len)
                } else {
                    max_bytes
                };
                assert!(
                    bytes.len() <= limit,
                    "read {} bytes over limit {limit}",
                    bytes.len()
                );
                // The bytes are a prefix of the expected batches, cut only at the end.
                let mut at = 0;
                let mut whole = 0;
                for b in &expected {
                    if at + b.len() <= bytes.len() {
                        assert_eq!(&bytes[at..at + b.len()], &b[..], "batch {whole} at {start}");
                        at += b.len();
                        whole += 1;
                    } else {
                        assert_eq!(&bytes[at..], &b[..bytes.len() - at], "partial tail");
                        at = bytes.len();
                        break;
                    }
                }
                assert_eq!(at, bytes.len(), "extra bytes beyond the expected batches");
                if !expected.is_empty() && (min_one || max_bytes >= first_len) {
                    assert!(whole >= 1, "first batch must be returned whole");
                }
                if expected.is_empty() {
                    assert!(bytes.is_empty());
                }
            }
            Op::Roll => {
                let now = self.now;
                let leo = self.model.leo;
                let before = self.log().num_segments();
                let active_empty = self.log().active_segment().unwrap().size() == 0;
                let base = self.log().roll(now).expect("roll");
                assert_eq!(base, leo);
                if !active_empty {
                    assert_eq!(self.log().num_segments(), before + 1);
                }
            }
            Op::Truncate { pick } => {
                // Truncate at a batch boundary at or above the log start (or at the end).
                let mut targets: Vec<i64> = self
                    .model
                    .batches
                    .iter()
                    .map(|(b, _, _)| *b)
                    .filter(|b| *b >= self.model.log_start)
                    .collect();
                targets.push(self.model.leo);
                let target = targets[pick as usize % targets.len()];
                let changed = self.log().truncate_to(target).expect("truncate");
                assert_eq!(changed, target < self.model.leo);
                self.model.batches.retain(|(b, _, _)| *b < target);
                self.model.leo = target;
                self.model.hw = self.model.hw.min(target);
                self.model.log_start = self.model.log_start.min(target);
            }
            Op::UpdateHw { pick } => {
                // Half the time the high watermark catches up with the log end.
                let hw = if pick % 2 == 0 {
                    self.model.leo
                } else {
                    (pick / 2) as i64 % (self.model.leo + 3)
                };
                let set = self.log().update_high_watermark(hw);
                self.model.hw = hw.clamp(self.model.log_start, self.model.leo);
                assert_eq!(set, self.model.hw);
            }
            Op::DeleteRecords { pick } => {
                let span = self.model.hw - self.model.log_start + 2;
                let target = self.model.log_start + pick as i64 % span.max(1);
                let result = self.log().maybe_increment_log_start_offset(
                    target,
                    LogStartOffsetIncrementReason::ClientRecordDeletion,
                );
                if target > self.model.hw {
                    assert!(matches!(result, Err(LogError::OffsetOutOfRange { .. })));
                } else {
                    assert_eq!(result.unwrap(), target > self.model.log_start);
                    self.model.log_start = self.model.log_start.max(target);
                }
            }
            Op::Retention { pick } => {
                let size = self.log().size_in_bytes() as i64;
                let mut config = (*self.config).clone();
                config.retention_bytes = pick as i64 % (size + 2);
                config.retention_ms = -1;
                self.config = Arc::new(config);
                let cfg = Arc::clone(&self.config);
                self.log().update_config(cfg);
                let leo = self.model.leo;
                let hw = self.model.hw;
                let now = self.now;
                let deleted = self.log().delete_old_segments(now).expect("retention");
                let first_base = self.log().segment_base_offsets()[0];
                if deleted > 0 {
                    // Only data entirely below the high watermark can go.
                    assert!(first_base <= hw, "first base {first_base} above hw {hw}");
                    // Truncations and rolls may have queued files too.
                    let pending = self.log().take_pending_deletions();
                    assert!(pending.len() >= deleted);
                    for p in &pending {
                        assert!(p
                            .files
                            .iter()
                            .all(|f| f.to_string_lossy().ends_with(".deleted")));
                        p.delete_files().unwrap();
                    }
                }
                self.model
                    .batches
                    .retain(|(_, last, _)| *last >= first_base);
                self.model.log_start = self.model.log_start.max(first_base);
                assert_eq!(self.log().log_end_offset(), leo);
                assert!(self.log().size_in_bytes() as i64 >= 0);
            }
            Op::Restart {
                clean,
                recovery_point_zero,
            } => {
                let mut log = self.log.take().expect("open log");
                let recovery_point = if recovery_point_zero {
                    0
                } else {
                    log.recovery_point()
                };
                if clean {
                    log.close().expect("close");
                    assert!(log
                        .append_as_leader(
                            &mut build_batch(
                                0,
                                ProducerInfo::NONE,
                                &[SimpleRecord::new(1, None, Some(b"x"))]
                            ),
                            0,
                            1
                        )
                        .is_err());
                }
                drop(log);
                self.open(clean, recovery_point);
            }
        }
        self.check_offsets();
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("LOG_MODEL_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(64),
        max_shrink_iters: 200,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn log_matches_model(
        segment_bytes in 200i32..3000,
        index_interval in 0i32..400,
        index_bytes in 24i32..300,
        ops in proptest::collection::vec(op(), 1..60),
    ) {
        let mut config = base_config();
        config.segment_bytes = segment_bytes;
        config.index_interval_bytes = index_interval;
        config.segment_index_bytes = index_bytes;
        config.segment_jitter_ms = 0;
        let mut h = Harness {
            dir: tempfile::tempdir().unwrap(),
            config: Arc::new(config),
            log: None,
            model: Model::default(),
            now: 1_000_000,
        };
        h.open(false, 0);
        for op in &ops {
            h.apply(op);
        }
        h.read_all_and_compare();
        // And once more after an unclean restart with full recovery.
        drop(h.log.take());
        h.open(false, 0);
        h.check_offsets();
        h.read_all_and_compare();
    }
}
