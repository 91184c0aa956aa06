//! Helpers shared by the log integration tests: a small-index `LogConfig` and opening a log
//! as after an unclean stop (so every open recovers).

#![allow(dead_code)] // each test binary uses a subset

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use rafka_core::cluster::TopicPartition;
use rafka_core::config::{KafkaConfig, LogConfig};
use rafka_core::log::{LoadOptions, Log};

/// The broker-default `LogConfig` with 1 KiB indexes and no roll jitter, then `f`.
pub fn log_config(f: impl FnOnce(&mut LogConfig)) -> Arc<LogConfig> {
    let mut props = BTreeMap::new();
    props.insert("zookeeper.connect".to_string(), "zk:2181".to_string());
    let broker = KafkaConfig::from_props(&props).expect("valid broker config");
    let mut c =
        LogConfig::from_broker_and_overrides(&broker, &BTreeMap::new()).expect("valid log config");
    c.segment_index_bytes = 1024;
    c.segment_jitter_ms = 0;
    f(&mut c);
    Arc::new(c)
}

/// Opens partition `topic-0` in `dir` with recovery from offset 0.
pub fn open_log(dir: &Path, topic: &str, cfg: Arc<LogConfig>) -> Log {
    Log::open(
        dir,
        TopicPartition::new(topic, 0),
        cfg,
        LoadOptions {
            recovery_point: 0,
            log_start_offset: 0,
            had_clean_shutdown: false,
            now_ms: 0,
        },
    )
    .expect("log opens")
}
