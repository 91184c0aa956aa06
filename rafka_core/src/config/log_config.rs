//! `LogConfig`: the configuration of one topic's logs — the topic overrides stored in
//! `/config/topics/<t>` over the broker's *current* values (Kafka's `LogConfig` and
//! `LogConfig.TopicConfigSynonyms`).

use std::collections::{BTreeMap, BTreeSet};

use rand::Rng;

use super::def::{
    self, parse_checked, ConfigType, Validator, CLEANUP_POLICIES, COMPRESSION_TYPES,
    TIMESTAMP_TYPES,
};
use super::error::ConfigError;
use super::kafka_config::KafkaConfig;
use super::value::ConfigValue;
use super::version::ProtocolVersion;

/// One topic-level key: its type, default, rule and the broker key it falls back to.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TopicConfigDef {
    pub name: &'static str,
    pub kind: ConfigType,
    /// Kafka's topic default (used by validation of overrides alone).
    pub default: &'static str,
    pub validator: Validator,
    /// The broker key whose current value applies when the topic has no override.
    pub broker_synonym: Option<&'static str>,
    pub doc: &'static str,
}

const fn topic(
    name: &'static str,
    kind: ConfigType,
    default: &'static str,
    validator: Validator,
    broker_synonym: Option<&'static str>,
    doc: &'static str,
) -> TopicConfigDef {
    TopicConfigDef {
        name,
        kind,
        default,
        validator,
        broker_synonym,
        doc,
    }
}

const LONG_MAX: &str = "9223372036854775807";

/// The topic keys (Kafka 2.8 `LogConfig`; validators are the more permissive 2.8 ones so
/// overrides written by older clusters still load).
// One line per key reads as a table; rustfmt would explode it.
#[rustfmt::skip]
pub static TOPIC_CONFIG_DEFS: &[TopicConfigDef] = &[
    topic("cleanup.policy", ConfigType::List, "delete", Validator::ValidList(CLEANUP_POLICIES), Some("log.cleanup.policy"), "delete and/or compact"),
    topic("compression.type", ConfigType::String, "producer", Validator::ValidString(COMPRESSION_TYPES), Some("compression.type"), "Final compression of the topic"),
    topic("delete.retention.ms", ConfigType::Long, "86400000", Validator::AtLeast(0), Some("log.cleaner.delete.retention.ms"), "Tombstone retention"),
    topic("file.delete.delay.ms", ConfigType::Long, "60000", Validator::AtLeast(0), Some("log.segment.delete.delay.ms"), "Delay before deleting a file"),
    topic("flush.messages", ConfigType::Long, LONG_MAX, Validator::AtLeast(0), Some("log.flush.interval.messages"), "Messages before an fsync"),
    topic("flush.ms", ConfigType::Long, LONG_MAX, Validator::AtLeast(0), Some("log.flush.interval.ms"), "Time before an fsync"),
    topic("follower.replication.throttled.replicas", ConfigType::List, "", Validator::ThrottledReplicas, None, "Replicas throttled on the follower side"),
    topic("index.interval.bytes", ConfigType::Int, "4096", Validator::AtLeast(0), Some("log.index.interval.bytes"), "Bytes between index entries"),
    topic("leader.replication.throttled.replicas", ConfigType::List, "", Validator::ThrottledReplicas, None, "Replicas throttled on the leader side"),
    topic("max.compaction.lag.ms", ConfigType::Long, LONG_MAX, Validator::AtLeast(1), Some("log.cleaner.max.compaction.lag.ms"), "Max age before compaction"),
    topic("max.message.bytes", ConfigType::Int, "1048588", Validator::AtLeast(0), Some("message.max.bytes"), "Largest record batch"),
    topic("message.downconversion.enable", ConfigType::Boolean, "true", Validator::None, Some("log.message.downconversion.enable"), "Down-convert for old fetchers"),
    topic("message.format.version", ConfigType::String, def::DEFAULT_IBP, Validator::ProtocolVersion, Some("log.message.format.version"), "Message format version"),
    topic("message.timestamp.difference.max.ms", ConfigType::Long, LONG_MAX, Validator::AtLeast(0), Some("log.message.timestamp.difference.max.ms"), "Max create time difference"),
    topic("message.timestamp.type", ConfigType::String, "CreateTime", Validator::ValidString(TIMESTAMP_TYPES), Some("log.message.timestamp.type"), "CreateTime or LogAppendTime"),
    topic("min.cleanable.dirty.ratio", ConfigType::Double, "0.5", Validator::Between(0, 1), Some("log.cleaner.min.cleanable.ratio"), "Dirty ratio before cleaning"),
    topic("min.compaction.lag.ms", ConfigType::Long, "0", Validator::AtLeast(0), Some("log.cleaner.min.compaction.lag.ms"), "Min age before compaction"),
    topic("min.insync.replicas", ConfigType::Int, "1", Validator::AtLeast(1), Some("min.insync.replicas"), "Min ISR size for acks=all"),
    topic("preallocate", ConfigType::Boolean, "false", Validator::None, Some("log.preallocate"), "Preallocate segment files"),
    topic("retention.bytes", ConfigType::Long, "-1", Validator::None, Some("log.retention.bytes"), "Max partition size; -1 unlimited"),
    topic("retention.ms", ConfigType::Long, "604800000", Validator::AtLeast(-1), Some("log.retention.ms"), "Retention time; -1 unlimited"),
    topic("segment.bytes", ConfigType::Int, "1073741824", Validator::AtLeast(14), Some("log.segment.bytes"), "Segment size"),
    topic("segment.index.bytes", ConfigType::Int, "10485760", Validator::AtLeast(0), Some("log.index.size.max.bytes"), "Index size"),
    topic("segment.jitter.ms", ConfigType::Long, "0", Validator::AtLeast(0), Some("log.roll.jitter.ms"), "Max roll jitter"),
    topic("segment.ms", ConfigType::Long, "604800000", Validator::AtLeast(1), Some("log.roll.ms"), "Segment roll time"),
    topic("unclean.leader.election.enable", ConfigType::Boolean, "false", Validator::None, Some("unclean.leader.election.enable"), "Allow out-of-ISR leaders"),
];

const TOPIC_KEYS: &[&str] = &[
    "cleanup.policy",
    "compression.type",
    "delete.retention.ms",
    "file.delete.delay.ms",
    "flush.messages",
    "flush.ms",
    "follower.replication.throttled.replicas",
    "index.interval.bytes",
    "leader.replication.throttled.replicas",
    "max.compaction.lag.ms",
    "max.message.bytes",
    "message.downconversion.enable",
    "message.format.version",
    "message.timestamp.difference.max.ms",
    "message.timestamp.type",
    "min.cleanable.dirty.ratio",
    "min.compaction.lag.ms",
    "min.insync.replicas",
    "preallocate",
    "retention.bytes",
    "retention.ms",
    "segment.bytes",
    "segment.index.bytes",
    "segment.jitter.ms",
    "segment.ms",
    "unclean.leader.election.enable",
];

/// `message.timestamp.type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TimestampType {
    CreateTime,
    LogAppendTime,
}

impl TimestampType {
    pub fn name(self) -> &'static str {
        match self {
            TimestampType::CreateTime => "CreateTime",
            TimestampType::LogAppendTime => "LogAppendTime",
        }
    }
}

/// The effective configuration of a topic's logs.
#[derive(Clone, Debug, PartialEq)]
pub struct LogConfig {
    pub cleanup_policy: Vec<String>,
    pub compression_type: String,
    pub delete_retention_ms: i64,
    pub file_delete_delay_ms: i64,
    pub flush_messages: i64,
    pub flush_ms: i64,
    pub index_interval_bytes: i32,
    pub max_compaction_lag_ms: i64,
    pub max_message_bytes: i32,
    pub message_downconversion_enable: bool,
    /// As configured (DescribeConfigs shows this); see `record_version` for its effect.
    pub message_format_version: String,
    /// The newest batch format (magic) the log may be written with: 2 unless an explicit old
    /// `message.format.version` applies (it is ignored from IBP 3.0 on, KIP-724).
    pub record_version: u8,
    pub message_timestamp_difference_max_ms: i64,
    pub message_timestamp_type: TimestampType,
    pub min_cleanable_dirty_ratio: f64,
    pub min_compaction_lag_ms: i64,
    pub min_insync_replicas: i32,
    pub preallocate: bool,
    pub retention_bytes: i64,
    pub retention_ms: i64,
    pub segment_bytes: i32,
    pub segment_index_bytes: i32,
    pub segment_jitter_ms: i64,
    pub segment_ms: i64,
    pub unclean_leader_election_enable: bool,
    /// `*` or `partition:broker` entries.
    pub leader_replication_throttled_replicas: Vec<String>,
    pub follower_replication_throttled_replicas: Vec<String>,
    values: BTreeMap<&'static str, ConfigValue>,
    overridden: BTreeSet<String>,
}

impl LogConfig {
    /// The topic's config: `overrides` over the broker's current values (pass the effective
    /// config from [`KafkaConfig::with_dynamic`], so cluster-wide dynamic changes reach every
    /// topic without an override).
    pub fn from_broker_and_overrides(
        broker: &KafkaConfig,
        overrides: &BTreeMap<String, String>,
    ) -> Result<LogConfig, ConfigError> {
        check_names(overrides)?;
        let mut values = BTreeMap::new();
        for d in TOPIC_CONFIG_DEFS {
            let raw = match overrides.get(d.name) {
                Some(v) => v.clone(),
                None => broker_value(broker, d).unwrap_or_else(|| d.default.to_string()),
            };
            values.insert(d.name, parse_checked(d.name, d.kind, d.validator, &raw)?);
        }
        let overridden = overrides.keys().cloned().collect();
        Self::from_values(values, overridden, Some(broker.ibp()))
    }

    /// Checks overrides alone against the topic defaults, as Kafka does before writing
    /// `/config/topics/<t>`: unknown names, types, rules, min ≤ max compaction lag.
    pub fn validate_overrides(overrides: &BTreeMap<String, String>) -> Result<(), ConfigError> {
        check_names(overrides)?;
        let mut values = BTreeMap::new();
        for d in TOPIC_CONFIG_DEFS {
            let raw = overrides.get(d.name).map_or(d.default, String::as_str);
            values.insert(d.name, parse_checked(d.name, d.kind, d.validator, raw)?);
        }
        Self::from_values(values, BTreeSet::new(), None).map(|_| ())
    }

    /// Every topic-level key, sorted.
    pub fn topic_keys() -> &'static [&'static str] {
        TOPIC_KEYS
    }

    /// The definition of a topic key.
    pub fn topic_def(key: &str) -> Option<&'static TopicConfigDef> {
        TOPIC_CONFIG_DEFS.iter().find(|d| d.name == key)
    }

    /// The broker key a topic key falls back to (`retention.ms` → `log.retention.ms`).
    pub fn broker_synonym(topic_key: &str) -> Option<&'static str> {
        Self::topic_def(topic_key).and_then(|d| d.broker_synonym)
    }

    pub fn compact(&self) -> bool {
        self.cleanup_policy.iter().any(|p| p == "compact")
    }

    pub fn delete(&self) -> bool {
        self.cleanup_policy.iter().any(|p| p == "delete")
    }

    /// Kafka's `maxSegmentMs`: compacted topics roll by `max.compaction.lag.ms` too.
    pub fn max_segment_ms(&self) -> i64 {
        if self.compact() && self.max_compaction_lag_ms > 0 {
            self.max_compaction_lag_ms.min(self.segment_ms)
        } else {
            self.segment_ms
        }
    }

    /// Kafka's `initFileSize`: the segment size when preallocating, else 0.
    pub fn init_file_size(&self) -> i32 {
        if self.preallocate {
            self.segment_bytes
        } else {
            0
        }
    }

    /// A random roll jitter in `[0, min(segment.jitter.ms, segment.ms))`, 0 without jitter.
    pub fn random_segment_jitter(&self) -> i64 {
        let bound = self.segment_jitter_ms.min(self.segment_ms);
        if bound <= 0 {
            0
        } else {
            rand::thread_rng().gen_range(0..bound)
        }
    }

    /// The parsed value of a topic key.
    pub fn get(&self, key: &str) -> Option<&ConfigValue> {
        self.values.get(key)
    }

    /// Kafka's string form of a topic key's value (for DescribeConfigs).
    pub fn value_string(&self, key: &str) -> Option<String> {
        self.values.get(key).and_then(ConfigValue::to_kafka_string)
    }

    /// True when the topic sets `key` itself.
    pub fn is_overridden(&self, key: &str) -> bool {
        self.overridden.contains(key)
    }

    /// The keys the topic sets itself.
    pub fn overridden_keys(&self) -> &BTreeSet<String> {
        &self.overridden
    }

    fn from_values(
        values: BTreeMap<&'static str, ConfigValue>,
        overridden: BTreeSet<String>,
        ibp: Option<ProtocolVersion>,
    ) -> Result<LogConfig, ConfigError> {
        static NULL: ConfigValue = ConfigValue::Null;
        let v = |k: &str| values.get(k).unwrap_or(&NULL);
        let long = |k: &str| v(k).as_long().unwrap_or_default();
        let int = |k: &str| v(k).as_int().unwrap_or_default();
        let flag = |k: &str| v(k).as_bool().unwrap_or_default();
        let string = |k: &str| v(k).as_str().unwrap_or_default().to_string();
        let list = |k: &str| v(k).as_list().map(<[String]>::to_vec).unwrap_or_default();

        let min_lag = long("min.compaction.lag.ms");
        let max_lag = long("max.compaction.lag.ms");
        if min_lag > max_lag {
            return Err(ConfigError::invalid(
                "min.compaction.lag.ms",
                min_lag.to_string(),
                format!(
                    "conflict topic config setting min.compaction.lag.ms ({min_lag}) > max.compaction.lag.ms ({max_lag})"
                ),
            ));
        }
        let message_format_version = string("message.format.version");
        let format = ProtocolVersion::parse(&message_format_version).map_err(|r| {
            ConfigError::invalid("message.format.version", &message_format_version, r)
        })?;
        let record_version = match ibp {
            Some(ibp) if ibp >= ProtocolVersion::KAFKA_3_0_IV1 => 2,
            Some(ibp) => format.record_version().min(ibp.record_version()),
            None => format.record_version(),
        };
        let message_timestamp_type = if string("message.timestamp.type") == "LogAppendTime" {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        };
        Ok(LogConfig {
            cleanup_policy: list("cleanup.policy"),
            compression_type: string("compression.type"),
            delete_retention_ms: long("delete.retention.ms"),
            file_delete_delay_ms: long("file.delete.delay.ms"),
            flush_messages: long("flush.messages"),
            flush_ms: long("flush.ms"),
            index_interval_bytes: int("index.interval.bytes"),
            max_compaction_lag_ms: max_lag,
            max_message_bytes: int("max.message.bytes"),
            message_downconversion_enable: flag("message.downconversion.enable"),
            message_format_version,
            record_version,
            message_timestamp_difference_max_ms: long("message.timestamp.difference.max.ms"),
            message_timestamp_type,
            min_cleanable_dirty_ratio: v("min.cleanable.dirty.ratio").as_double().unwrap_or(0.5),
            min_compaction_lag_ms: min_lag,
            min_insync_replicas: int("min.insync.replicas"),
            preallocate: flag("preallocate"),
            retention_bytes: long("retention.bytes"),
            retention_ms: long("retention.ms"),
            segment_bytes: int("segment.bytes"),
            segment_index_bytes: int("segment.index.bytes"),
            segment_jitter_ms: long("segment.jitter.ms"),
            segment_ms: long("segment.ms"),
            unclean_leader_election_enable: flag("unclean.leader.election.enable"),
            leader_replication_throttled_replicas: list("leader.replication.throttled.replicas"),
            follower_replication_throttled_replicas: list(
                "follower.replication.throttled.replicas",
            ),
            values,
            overridden,
        })
    }
}

fn check_names(overrides: &BTreeMap<String, String>) -> Result<(), ConfigError> {
    match overrides.keys().find(|k| LogConfig::topic_def(k).is_none()) {
        Some(k) => Err(ConfigError::UnknownTopicConfig(k.clone())),
        None => Ok(()),
    }
}

/// The broker's current value for a topic key, as a raw string (Kafka's
/// `extractLogConfigMap`): time keys use the resolved ms/minutes/hours chains.
fn broker_value(broker: &KafkaConfig, d: &TopicConfigDef) -> Option<String> {
    match d.name {
        "segment.ms" => Some(broker.log_roll_ms().to_string()),
        "segment.jitter.ms" => Some(broker.log_roll_jitter_ms().to_string()),
        "retention.ms" => Some(broker.log_retention_ms().to_string()),
        "flush.ms" => Some(broker.log_flush_interval_ms().to_string()),
        "message.format.version" => Some(broker.log_message_format_version().version().to_string()),
        _ => broker
            .get(d.broker_synonym?)
            .and_then(ConfigValue::to_raw_string),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect()
    }

    fn broker(pairs: &[(&str, &str)]) -> KafkaConfig {
        let mut p = map(pairs);
        p.insert("zookeeper.connect".into(), "zk:2181".into());
        KafkaConfig::from_props(&p).unwrap()
    }

    #[test]
    fn tables_agree() {
        let mut names: Vec<&str> = TOPIC_CONFIG_DEFS.iter().map(|d| d.name).collect();
        names.sort_unstable();
        assert_eq!(names, LogConfig::topic_keys());
        for d in TOPIC_CONFIG_DEFS {
            parse_checked(d.name, d.kind, d.validator, d.default).unwrap();
            if let Some(b) = d.broker_synonym {
                let bd = def::find(b).unwrap_or_else(|| panic!("{b} not a broker key"));
                assert_eq!(bd.kind, d.kind, "{} vs {b}", d.name);
            }
        }
        assert_eq!(
            LogConfig::broker_synonym("retention.ms"),
            Some("log.retention.ms")
        );
        assert_eq!(
            LogConfig::broker_synonym("segment.index.bytes"),
            Some("log.index.size.max.bytes")
        );
        assert_eq!(
            LogConfig::broker_synonym("leader.replication.throttled.replicas"),
            None
        );
        assert_eq!(LogConfig::broker_synonym("nope"), None);
    }

    #[test]
    fn defaults_follow_the_broker() {
        let c = LogConfig::from_broker_and_overrides(&broker(&[]), &BTreeMap::new()).unwrap();
        assert_eq!(c.cleanup_policy, vec!["delete".to_string()]);
        assert!(c.delete() && !c.compact());
        assert_eq!(c.compression_type, "producer");
        assert_eq!(c.retention_ms, 604_800_000);
        assert_eq!(c.segment_ms, 604_800_000);
        assert_eq!(c.segment_bytes, 1_073_741_824);
        assert_eq!(c.max_message_bytes, 1_048_588);
        assert_eq!(c.flush_ms, i64::MAX);
        assert_eq!(c.min_cleanable_dirty_ratio, 0.5);
        assert_eq!(c.message_format_version, "3.9-IV0");
        assert_eq!(c.record_version, 2);
        assert_eq!(c.message_timestamp_type, TimestampType::CreateTime);
        assert!(c.leader_replication_throttled_replicas.is_empty());
        assert!(c.overridden_keys().is_empty());
        assert_eq!(c.init_file_size(), 0);
        assert_eq!(c.random_segment_jitter(), 0);
    }

    #[test]
    fn falls_back_to_broker_value_and_overrides_win() {
        let b = broker(&[
            ("log.retention.hours", "1"),
            ("log.segment.bytes", "1000000"),
            ("log.cleanup.policy", "compact"),
            ("min.insync.replicas", "2"),
            ("log.roll.jitter.hours", "1"),
        ]);
        let c = LogConfig::from_broker_and_overrides(&b, &BTreeMap::new()).unwrap();
        assert_eq!(c.retention_ms, 3_600_000);
        assert_eq!(c.segment_bytes, 1_000_000);
        assert!(c.compact());
        assert_eq!(c.min_insync_replicas, 2);
        assert_eq!(c.segment_jitter_ms, 3_600_000);
        assert!(c.random_segment_jitter() < 3_600_000);

        let c = LogConfig::from_broker_and_overrides(
            &b,
            &map(&[
                ("retention.ms", "-1"),
                ("cleanup.policy", "compact,delete"),
                ("segment.ms", "100"),
            ]),
        )
        .unwrap();
        assert_eq!(c.retention_ms, -1);
        assert!(c.compact() && c.delete());
        assert_eq!(c.segment_bytes, 1_000_000);
        assert!(c.is_overridden("retention.ms"));
        assert!(!c.is_overridden("segment.bytes"));
        assert_eq!(
            c.value_string("cleanup.policy").as_deref(),
            Some("compact,delete")
        );
        assert_eq!(c.max_segment_ms(), 100);
    }

    #[test]
    fn broker_dynamic_changes_reach_topics_without_override() {
        let s = broker(&[]);
        let (effective, rejected) =
            s.with_dynamic(&map(&[("log.retention.ms", "1234")]), &BTreeMap::new());
        assert!(rejected.is_empty());
        let c = LogConfig::from_broker_and_overrides(&effective, &BTreeMap::new()).unwrap();
        assert_eq!(c.retention_ms, 1234);
        let c = LogConfig::from_broker_and_overrides(&effective, &map(&[("retention.ms", "99")]))
            .unwrap();
        assert_eq!(c.retention_ms, 99);
    }

    #[test]
    fn unknown_and_invalid_topic_keys() {
        let e = LogConfig::validate_overrides(&map(&[("retention.hours", "1")])).unwrap_err();
        assert_eq!(e.to_string(), "Unknown topic config name: retention.hours");
        let e =
            LogConfig::from_broker_and_overrides(&broker(&[]), &map(&[("log.retention.ms", "1")]))
                .unwrap_err();
        assert_eq!(e.to_string(), "Unknown topic config name: log.retention.ms");
        let e = LogConfig::validate_overrides(&map(&[("segment.bytes", "abc")])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Invalid value abc for configuration segment.bytes: Not a number of type INT"
        );
        let e = LogConfig::validate_overrides(&map(&[
            ("min.compaction.lag.ms", "10"),
            ("max.compaction.lag.ms", "5"),
        ]))
        .unwrap_err();
        assert!(
            e.to_string().contains("conflict topic config setting"),
            "{e}"
        );
        let e = LogConfig::validate_overrides(&map(&[(
            "leader.replication.throttled.replicas",
            "0-1",
        )]))
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("leader.replication.throttled.replicas must be the literal '*'"),
            "{e}"
        );
        assert!(LogConfig::validate_overrides(&map(&[
            ("leader.replication.throttled.replicas", "0:1,1:2"),
            ("follower.replication.throttled.replicas", "*"),
            ("message.timestamp.type", "LogAppendTime"),
            ("message.format.version", "0.10.2"),
        ]))
        .is_ok());
        assert!(LogConfig::validate_overrides(&map(&[("message.timestamp.type", "Now")])).is_err());
    }

    #[test]
    fn message_format_version_only_matters_below_ibp_3() {
        let old = broker(&[("inter.broker.protocol.version", "2.8")]);
        let c = LogConfig::from_broker_and_overrides(
            &old,
            &map(&[("message.format.version", "0.10.2")]),
        )
        .unwrap();
        assert_eq!(c.record_version, 1);
        let new = broker(&[]);
        let c = LogConfig::from_broker_and_overrides(
            &new,
            &map(&[("message.format.version", "0.10.2")]),
        )
        .unwrap();
        assert_eq!(c.record_version, 2);
        assert_eq!(c.message_format_version, "0.10.2");
    }
}
