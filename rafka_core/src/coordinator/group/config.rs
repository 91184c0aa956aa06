//! The coordinator's settings from the broker config (Kafka's `GroupConfig` and
//! `OffsetConfig`, spec broker-config.md §6) and the topic configs Kafka forces on the
//! internal topics it creates (§9).

use std::collections::BTreeMap;

use crate::config::KafkaConfig;
use crate::record::CompressionType;

/// `group.*`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupConfig {
    pub min_session_timeout_ms: i32,
    pub max_session_timeout_ms: i32,
    pub max_size: i32,
    pub initial_rebalance_delay_ms: i32,
}

/// `offsets.*` and `offset.metadata.max.bytes`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OffsetConfig {
    pub max_metadata_size: usize,
    pub load_buffer_size: usize,
    pub retention_ms: i64,
    pub retention_check_interval_ms: i64,
    pub topic_num_partitions: i32,
    pub topic_replication_factor: i16,
    pub topic_segment_bytes: i32,
    pub compression: CompressionType,
    pub commit_timeout_ms: i64,
    pub commit_required_acks: i16,
}

impl Default for GroupConfig {
    fn default() -> GroupConfig {
        GroupConfig {
            min_session_timeout_ms: 6000,
            max_session_timeout_ms: 1_800_000,
            max_size: i32::MAX,
            initial_rebalance_delay_ms: 3000,
        }
    }
}

impl Default for OffsetConfig {
    fn default() -> OffsetConfig {
        OffsetConfig {
            max_metadata_size: 4096,
            load_buffer_size: 5 * 1024 * 1024,
            retention_ms: 7 * 24 * 60 * 60 * 1000,
            retention_check_interval_ms: 600_000,
            topic_num_partitions: 50,
            topic_replication_factor: 3,
            topic_segment_bytes: 100 * 1024 * 1024,
            compression: CompressionType::None,
            commit_timeout_ms: 5000,
            commit_required_acks: -1,
        }
    }
}

impl GroupConfig {
    pub fn from_config(config: &KafkaConfig) -> GroupConfig {
        let d = GroupConfig::default();
        GroupConfig {
            min_session_timeout_ms: config
                .get_int("group.min.session.timeout.ms")
                .unwrap_or(d.min_session_timeout_ms),
            max_session_timeout_ms: config
                .get_int("group.max.session.timeout.ms")
                .unwrap_or(d.max_session_timeout_ms),
            max_size: config.get_int("group.max.size").unwrap_or(d.max_size),
            initial_rebalance_delay_ms: config
                .get_int("group.initial.rebalance.delay.ms")
                .unwrap_or(d.initial_rebalance_delay_ms),
        }
    }
}

impl OffsetConfig {
    pub fn from_config(config: &KafkaConfig) -> OffsetConfig {
        let d = OffsetConfig::default();
        let codec = config
            .get_int("offsets.topic.compression.codec")
            .and_then(|id| u8::try_from(id).ok())
            .and_then(CompressionType::from_id)
            .unwrap_or(d.compression);
        OffsetConfig {
            max_metadata_size: config
                .get_int("offset.metadata.max.bytes")
                .map_or(d.max_metadata_size, |v| v.max(0) as usize),
            load_buffer_size: config
                .get_int("offsets.load.buffer.size")
                .map_or(d.load_buffer_size, |v| v.max(1) as usize),
            retention_ms: config
                .get_int("offsets.retention.minutes")
                .map_or(d.retention_ms, |m| i64::from(m) * 60 * 1000),
            retention_check_interval_ms: config
                .get_long("offsets.retention.check.interval.ms")
                .unwrap_or(d.retention_check_interval_ms),
            topic_num_partitions: config
                .get_int("offsets.topic.num.partitions")
                .unwrap_or(d.topic_num_partitions),
            topic_replication_factor: config
                .get_short("offsets.topic.replication.factor")
                .unwrap_or(d.topic_replication_factor),
            topic_segment_bytes: config
                .get_int("offsets.topic.segment.bytes")
                .unwrap_or(d.topic_segment_bytes),
            compression: codec,
            commit_timeout_ms: config
                .get_int("offsets.commit.timeout.ms")
                .map_or(d.commit_timeout_ms, i64::from),
            commit_required_acks: config
                .get_short("offsets.commit.required.acks")
                .unwrap_or(d.commit_required_acks),
        }
    }
}

/// The topic configs of `__consumer_offsets` (Kafka's `offsetsTopicConfigs`).
pub fn offsets_topic_configs(offset_config: &OffsetConfig) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("cleanup.policy".to_string(), "compact".to_string()),
        (
            "segment.bytes".to_string(),
            offset_config.topic_segment_bytes.to_string(),
        ),
        ("compression.type".to_string(), "producer".to_string()),
    ])
}

/// Partitions, replication factor and topic configs of `__transaction_state` (Kafka's
/// `TransactionLog` topic settings), created on the first transactional FindCoordinator.
pub fn transaction_topic_settings(config: &KafkaConfig) -> (i32, i16, BTreeMap<String, String>) {
    let partitions = config
        .get_int("transaction.state.log.num.partitions")
        .unwrap_or(50);
    let rf = config
        .get_short("transaction.state.log.replication.factor")
        .unwrap_or(3);
    let min_isr = config.get_int("transaction.state.log.min.isr").unwrap_or(2);
    let segment = config
        .get_int("transaction.state.log.segment.bytes")
        .unwrap_or(100 * 1024 * 1024);
    let configs = BTreeMap::from([
        ("cleanup.policy".to_string(), "compact".to_string()),
        ("compression.type".to_string(), "uncompressed".to_string()),
        ("min.insync.replicas".to_string(), min_isr.to_string()),
        ("segment.bytes".to_string(), segment.to_string()),
        (
            "unclean.leader.election.enable".to_string(),
            "false".to_string(),
        ),
    ]);
    (partitions, rf, configs)
}
