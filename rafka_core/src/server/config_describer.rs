//! The DescribeConfigs entries of a topic or of the broker (Kafka's `ConfigHelper` in ZK
//! mode): every key with its value, where the value comes from (config source), read-only and
//! sensitive flags, synonyms and type/documentation.
//!
//! Sources follow Kafka's lookup: a topic's own override (`/config/topics/<t>`), then the
//! broker key it falls back to, searched in the per-broker dynamic layer, the cluster-default
//! dynamic layer, `server.properties` and the built-in defaults, in that order, over the
//! broker key's synonyms (`log.retention.ms`/`minutes`/`hours`, listener-prefixed keys and
//! their base key). Synonyms listed before the described key itself are dropped, so e.g. a
//! topic's `retention.ms` without any `log.retention.ms` setting reports DEFAULT_CONFIG with
//! no synonyms, as Kafka does. Pure functions over an effective [`KafkaConfig`].

use std::collections::{BTreeMap, BTreeSet};

use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsSynonym,
};
use kafka_protocol::protocol::StrBytes;

use crate::config::def::{self, ConfigType, DynamicMode};
use crate::config::dynamic::config_synonyms;
use crate::config::kafka_config::split_listener_key;
use crate::config::{KafkaConfig, LogConfig};

/// Kafka's `DescribeConfigsResponse.ConfigSource` ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConfigSource {
    Unknown,
    /// `/config/topics/<t>`.
    TopicConfig,
    /// `/config/brokers/<id>`.
    DynamicBrokerConfig,
    /// `/config/brokers/<default>`.
    DynamicDefaultBrokerConfig,
    /// `server.properties` (and `--override`s).
    StaticBrokerConfig,
    /// The built-in default.
    DefaultConfig,
    /// A log4j logger level (BROKER_LOGGER resources).
    DynamicBrokerLoggerConfig,
}

impl ConfigSource {
    /// The wire id.
    pub fn id(self) -> i8 {
        match self {
            ConfigSource::Unknown => 0,
            ConfigSource::TopicConfig => 1,
            ConfigSource::DynamicBrokerConfig => 2,
            ConfigSource::DynamicDefaultBrokerConfig => 3,
            ConfigSource::StaticBrokerConfig => 4,
            ConfigSource::DefaultConfig => 5,
            ConfigSource::DynamicBrokerLoggerConfig => 6,
        }
    }
}

/// Kafka's `DescribeConfigsResponse.ConfigType` id of a key type (0 = UNKNOWN).
pub fn config_type_id(kind: Option<ConfigType>) -> i8 {
    match kind {
        None => 0,
        Some(ConfigType::Boolean) => 1,
        Some(ConfigType::String) => 2,
        Some(ConfigType::Int) => 3,
        Some(ConfigType::Short) => 4,
        Some(ConfigType::Long) => 5,
        Some(ConfigType::Double) => 6,
        Some(ConfigType::List) => 7,
        Some(ConfigType::Class) => 8,
        Some(ConfigType::Password) => 9,
    }
}

/// One synonym: a key that feeds the described value, where it is set and to what (`None`
/// for sensitive keys).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Synonym {
    pub name: String,
    pub value: Option<String>,
    pub source: ConfigSource,
}

/// One described key, version-independent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigEntry {
    pub name: String,
    /// `None` for null values and for sensitive keys.
    pub value: Option<String>,
    pub source: ConfigSource,
    pub read_only: bool,
    pub sensitive: bool,
    /// Empty unless synonyms were asked for.
    pub synonyms: Vec<Synonym>,
    pub kind: Option<ConfigType>,
    /// `None` unless documentation was asked for (or the key has none).
    pub documentation: Option<String>,
}

impl ConfigEntry {
    /// The wire form at `version`: `is_default` (v0, true for DEFAULT_CONFIG), source and
    /// synonyms (v1+), type and documentation (v3+).
    pub fn to_result(&self, version: i16) -> DescribeConfigsResourceResult {
        let mut r = DescribeConfigsResourceResult::default()
            .with_name(StrBytes::from_string(self.name.clone()))
            .with_value(self.value.clone().map(StrBytes::from_string))
            .with_read_only(self.read_only)
            .with_is_sensitive(self.sensitive)
            .with_documentation(None);
        if version == 0 {
            r = r.with_is_default(self.source == ConfigSource::DefaultConfig);
        } else {
            r = r.with_config_source(self.source.id()).with_synonyms(
                self.synonyms
                    .iter()
                    .map(|s| {
                        DescribeConfigsSynonym::default()
                            .with_name(StrBytes::from_string(s.name.clone()))
                            .with_value(s.value.clone().map(StrBytes::from_string))
                            .with_source(s.source.id())
                    })
                    .collect(),
            );
        }
        if version >= 3 {
            r = r
                .with_config_type(config_type_id(self.kind))
                .with_documentation(self.documentation.clone().map(StrBytes::from_string));
        }
        r
    }
}

/// What the client asked for besides the keys.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DescribeOptions {
    pub include_synonyms: bool,
    pub include_documentation: bool,
}

/// Keys Kafka's `ListenerMechanismConfigs` holds: `listener.name.<l>.<mechanism>.<key>`
/// overrides them.
const LISTENER_MECHANISM_CONFIGS: &[&str] = &[
    "sasl.jaas.config",
    "sasl.login.callback.handler.class",
    "sasl.login.class",
    "sasl.server.callback.handler.class",
    "connections.max.reauth.ms",
];

/// Kafka's `brokerConfigSynonyms(name, matchListenerOverride = true)`: the keys that set the
/// same thing as `name`, highest precedence first.
pub fn broker_synonyms(name: &str) -> Vec<String> {
    let plain = config_synonyms(name);
    if plain.len() > 1 {
        return plain.into_iter().map(str::to_string).collect();
    }
    if let Some((_, base)) = split_listener_key(name) {
        let base = LISTENER_MECHANISM_CONFIGS
            .iter()
            .find(|m| base.ends_with(*m))
            .copied()
            .unwrap_or(base);
        return vec![name.to_string(), base.to_string()];
    }
    vec![name.to_string()]
}

/// Kafka's `KafkaConfig.configType`: the key's own type, else that of a synonym (the base key
/// of a listener override); `None` for keys Kafka does not know.
pub fn broker_config_type(name: &str) -> Option<ConfigType> {
    if let Some(d) = def::find(name) {
        return Some(d.kind);
    }
    broker_synonyms(name)
        .iter()
        .find_map(|s| def::find(s))
        .map(|d| d.kind)
}

/// Kafka's `maybeSensitive`: passwords, and keys of unknown type to be safe.
fn maybe_sensitive(kind: Option<ConfigType>) -> bool {
    kind.is_none_or(|k| k == ConfigType::Password)
}

/// The built-in defaults in Kafka's string form (null defaults absent), like Kafka's
/// `staticDefaultConfigs`.
fn default_string(name: &str) -> Option<String> {
    def::find(name)?.default_value().ok()?.to_raw_string()
}

/// Kafka's `configSynonyms`: the synonyms of `name` that are set somewhere, layer by layer,
/// dropping those listed before `name` itself.
fn config_synonyms_of(
    config: &KafkaConfig,
    name: &str,
    synonyms: &[String],
    sensitive: bool,
) -> Vec<Synonym> {
    let mut all = Vec::new();
    let mut add = |source: ConfigSource, lookup: &dyn Fn(&str) -> Option<String>| {
        for s in synonyms {
            if let Some(v) = lookup(s) {
                all.push(Synonym {
                    name: s.clone(),
                    value: (!sensitive).then_some(v),
                    source,
                });
            }
        }
    };
    add(ConfigSource::DynamicBrokerConfig, &|k| {
        config.dynamic_broker_configs().get(k).cloned()
    });
    add(ConfigSource::DynamicDefaultBrokerConfig, &|k| {
        config.dynamic_default_configs().get(k).cloned()
    });
    add(ConfigSource::StaticBrokerConfig, &|k| {
        config.static_originals().get(k).cloned()
    });
    add(ConfigSource::DefaultConfig, &default_string);
    match all.iter().position(|s| s.name == name) {
        Some(first) => all.split_off(first),
        None => Vec::new(),
    }
}

/// Keeps the entries named in `keys` (all of them when `keys` is null or empty).
pub fn filter_keys(entries: Vec<ConfigEntry>, keys: Option<&[String]>) -> Vec<ConfigEntry> {
    match keys {
        Some(keys) if !keys.is_empty() => {
            let wanted: BTreeSet<&str> = keys.iter().map(String::as_str).collect();
            entries
                .into_iter()
                .filter(|e| wanted.contains(e.name.as_str()))
                .collect()
        }
        _ => entries,
    }
}

/// Every topic-level key of a topic (Kafka's `createTopicConfigEntry` over all LogConfig
/// keys), sorted by name. `log_config` is the topic's effective config, `overrides` what
/// `/config/topics/<t>` holds and `broker` the broker's effective config.
pub fn topic_entries(
    broker: &KafkaConfig,
    log_config: &LogConfig,
    overrides: &BTreeMap<String, String>,
    options: DescribeOptions,
) -> Vec<ConfigEntry> {
    LogConfig::topic_keys()
        .iter()
        .filter_map(|name| {
            let d = LogConfig::topic_def(name)?;
            let kind = Some(d.kind);
            let sensitive = maybe_sensitive(kind);
            let value = if sensitive {
                None
            } else {
                log_config.value_string(name)
            };
            let mut all = match d.broker_synonym {
                Some(b) => config_synonyms_of(broker, b, &broker_synonyms(b), sensitive),
                None => Vec::new(),
            };
            if overrides.contains_key(*name) {
                all.insert(
                    0,
                    Synonym {
                        name: (*name).to_string(),
                        value: value.clone(),
                        source: ConfigSource::TopicConfig,
                    },
                );
            }
            let source = all
                .first()
                .map_or(ConfigSource::DefaultConfig, |s| s.source);
            Some(ConfigEntry {
                name: (*name).to_string(),
                value,
                source,
                read_only: false,
                sensitive,
                synonyms: if options.include_synonyms {
                    all
                } else {
                    Vec::new()
                },
                kind,
                documentation: options.include_documentation.then(|| d.doc.to_string()),
            })
        })
        .collect()
}

/// Kafka's `createBrokerConfigEntry` for one key with its (string) value.
fn broker_entry(
    config: &KafkaConfig,
    name: &str,
    value: Option<String>,
    per_broker: bool,
    options: DescribeOptions,
) -> ConfigEntry {
    let kind = broker_config_type(name);
    let sensitive = maybe_sensitive(kind);
    let all: Vec<Synonym> = config_synonyms_of(config, name, &broker_synonyms(name), sensitive)
        .into_iter()
        .filter(|s| per_broker || s.source == ConfigSource::DynamicDefaultBrokerConfig)
        .collect();
    let source = all
        .first()
        .map_or(ConfigSource::DefaultConfig, |s| s.source);
    let dynamic = def::find(name).is_some_and(|d| d.dynamic != DynamicMode::ReadOnly);
    ConfigEntry {
        name: name.to_string(),
        value: if sensitive { None } else { value },
        source,
        read_only: !dynamic,
        sensitive,
        synonyms: if options.include_synonyms {
            all
        } else {
            Vec::new()
        },
        kind,
        documentation: if options.include_documentation {
            def::find(name).map(|d| d.doc.to_string())
        } else {
            None
        },
    }
}

/// This broker's configuration (resource name = its id): every defined key plus every other
/// key supplied in a layer, sorted by name.
pub fn broker_entries(config: &KafkaConfig, options: DescribeOptions) -> Vec<ConfigEntry> {
    let mut names: BTreeSet<&str> = config.originals().keys().map(String::as_str).collect();
    names.extend(def::all().iter().map(|d| d.name));
    names
        .into_iter()
        .map(|name| {
            let value = match config.get(name) {
                Some(v) => v.to_raw_string(),
                None => config.originals().get(name).cloned(),
            };
            broker_entry(config, name, value, true, options)
        })
        .collect()
}

/// The cluster-wide dynamic defaults (resource name empty): only the keys set in
/// `/config/brokers/<default>`, with only that layer as synonyms.
pub fn default_broker_entries(config: &KafkaConfig, options: DescribeOptions) -> Vec<ConfigEntry> {
    config
        .dynamic_default_configs()
        .iter()
        .map(|(name, value)| broker_entry(config, name, Some(value.clone()), false, options))
        .collect()
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

    fn broker(static_props: &[(&str, &str)]) -> KafkaConfig {
        let mut p = map(static_props);
        p.insert("zookeeper.connect".into(), "zk:2181".into());
        KafkaConfig::from_props(&p).unwrap()
    }

    const ALL: DescribeOptions = DescribeOptions {
        include_synonyms: true,
        include_documentation: true,
    };

    fn find<'a>(entries: &'a [ConfigEntry], name: &str) -> &'a ConfigEntry {
        entries
            .iter()
            .find(|e| e.name == name)
            .unwrap_or_else(|| panic!("{name} not described"))
    }

    fn syn(name: &str, value: &str, source: ConfigSource) -> Synonym {
        Synonym {
            name: name.into(),
            value: Some(value.into()),
            source,
        }
    }

    #[test]
    fn source_and_type_ids_are_kafkas() {
        assert_eq!(ConfigSource::TopicConfig.id(), 1);
        assert_eq!(ConfigSource::DynamicBrokerConfig.id(), 2);
        assert_eq!(ConfigSource::DynamicDefaultBrokerConfig.id(), 3);
        assert_eq!(ConfigSource::StaticBrokerConfig.id(), 4);
        assert_eq!(ConfigSource::DefaultConfig.id(), 5);
        assert_eq!(config_type_id(Some(ConfigType::Long)), 5);
        assert_eq!(config_type_id(Some(ConfigType::List)), 7);
        assert_eq!(config_type_id(Some(ConfigType::Password)), 9);
        assert_eq!(config_type_id(None), 0);
    }

    #[test]
    fn synonym_lists() {
        assert_eq!(
            broker_synonyms("log.retention.hours"),
            vec![
                "log.retention.ms",
                "log.retention.minutes",
                "log.retention.hours"
            ]
        );
        assert_eq!(
            broker_synonyms("listener.name.plaintext.max.connections"),
            vec!["listener.name.plaintext.max.connections", "max.connections"]
        );
        assert_eq!(
            broker_synonyms("listener.name.sasl.plain.sasl.jaas.config"),
            vec![
                "listener.name.sasl.plain.sasl.jaas.config",
                "sasl.jaas.config"
            ]
        );
        assert_eq!(broker_synonyms("num.io.threads"), vec!["num.io.threads"]);
        assert_eq!(
            broker_config_type("listener.name.ssl.ssl.keystore.password"),
            Some(ConfigType::Password)
        );
        assert_eq!(broker_config_type("custom.key"), None);
    }

    #[test]
    fn topic_defaults_overrides_and_broker_layers() {
        let static_cfg = broker(&[
            ("log.segment.bytes", "5000000"),
            ("log.retention.hours", "24"),
        ]);
        let (cfg, rejected) = static_cfg.with_dynamic(
            &map(&[("log.cleaner.delete.retention.ms", "1000")]),
            &map(&[("min.insync.replicas", "1")]),
        );
        assert!(rejected.is_empty());
        let overrides = map(&[("cleanup.policy", "compact")]);
        let log = LogConfig::from_broker_and_overrides(&cfg, &overrides).unwrap();
        let entries = topic_entries(&cfg, &log, &overrides, ALL);
        assert_eq!(entries.len(), LogConfig::topic_keys().len());

        let e = find(&entries, "cleanup.policy");
        assert_eq!(e.value.as_deref(), Some("compact"));
        assert_eq!(e.source, ConfigSource::TopicConfig);
        assert_eq!(
            e.synonyms,
            vec![
                syn("cleanup.policy", "compact", ConfigSource::TopicConfig),
                syn("log.cleanup.policy", "delete", ConfigSource::DefaultConfig),
            ]
        );
        assert!(!e.read_only && !e.sensitive);
        assert_eq!(e.kind, Some(ConfigType::List));
        assert!(e.documentation.is_some());

        let e = find(&entries, "segment.bytes");
        assert_eq!(e.value.as_deref(), Some("5000000"));
        assert_eq!(e.source, ConfigSource::StaticBrokerConfig);
        assert_eq!(
            e.synonyms,
            vec![
                syn(
                    "log.segment.bytes",
                    "5000000",
                    ConfigSource::StaticBrokerConfig
                ),
                syn(
                    "log.segment.bytes",
                    "1073741824",
                    ConfigSource::DefaultConfig
                ),
            ]
        );

        let e = find(&entries, "delete.retention.ms");
        assert_eq!(e.value.as_deref(), Some("1000"));
        assert_eq!(e.source, ConfigSource::DynamicDefaultBrokerConfig);

        let e = find(&entries, "min.insync.replicas");
        assert_eq!(e.source, ConfigSource::DynamicBrokerConfig);

        // retention.ms: the broker sets only log.retention.hours, which Kafka's synonym walk
        // drops (it comes after log.retention.ms): DEFAULT_CONFIG, no synonyms, value 24h.
        let e = find(&entries, "retention.ms");
        assert_eq!(e.value.as_deref(), Some("86400000"));
        assert_eq!(e.source, ConfigSource::DefaultConfig);
        assert!(e.synonyms.is_empty());

        // No broker counterpart at all.
        let e = find(&entries, "leader.replication.throttled.replicas");
        assert_eq!(e.source, ConfigSource::DefaultConfig);
        assert_eq!(e.value.as_deref(), Some(""));

        // Without synonyms/documentation requested.
        let plain = topic_entries(&cfg, &log, &overrides, DescribeOptions::default());
        let e = find(&plain, "cleanup.policy");
        assert!(e.synonyms.is_empty() && e.documentation.is_none());
        assert_eq!(e.source, ConfigSource::TopicConfig);
    }

    #[test]
    fn topic_retention_ms_with_a_dynamic_log_retention_ms() {
        let (cfg, _) =
            broker(&[]).with_dynamic(&map(&[("log.retention.ms", "5000")]), &BTreeMap::new());
        let log = LogConfig::from_broker_and_overrides(&cfg, &BTreeMap::new()).unwrap();
        let entries = topic_entries(&cfg, &log, &BTreeMap::new(), ALL);
        let e = find(&entries, "retention.ms");
        assert_eq!(e.value.as_deref(), Some("5000"));
        assert_eq!(e.source, ConfigSource::DynamicDefaultBrokerConfig);
        assert_eq!(
            e.synonyms,
            vec![
                syn(
                    "log.retention.ms",
                    "5000",
                    ConfigSource::DynamicDefaultBrokerConfig
                ),
                syn("log.retention.hours", "168", ConfigSource::DefaultConfig),
            ]
        );
    }

    #[test]
    fn broker_entries_sources_flags_and_secrets() {
        let static_cfg = broker(&[
            ("num.io.threads", "4"),
            ("custom.plugin.key", "x"),
            ("ssl.keystore.password", "secret"),
        ]);
        let (cfg, rejected) = static_cfg.with_dynamic(
            &map(&[("num.io.threads", "6")]),
            &map(&[("log.retention.ms", "1234")]),
        );
        assert!(rejected.is_empty(), "{rejected:?}");
        let entries = broker_entries(&cfg, ALL);
        assert!(entries.len() >= def::all().len());

        let e = find(&entries, "num.io.threads");
        assert_eq!(e.value.as_deref(), Some("6"));
        assert_eq!(e.source, ConfigSource::DynamicDefaultBrokerConfig);
        assert!(!e.read_only);
        assert_eq!(
            e.synonyms,
            vec![
                syn(
                    "num.io.threads",
                    "6",
                    ConfigSource::DynamicDefaultBrokerConfig
                ),
                syn("num.io.threads", "4", ConfigSource::StaticBrokerConfig),
                syn("num.io.threads", "8", ConfigSource::DefaultConfig),
            ]
        );

        let e = find(&entries, "log.retention.ms");
        assert_eq!(e.value.as_deref(), Some("1234"));
        assert_eq!(e.source, ConfigSource::DynamicBrokerConfig);
        assert_eq!(
            e.synonyms,
            vec![
                syn(
                    "log.retention.ms",
                    "1234",
                    ConfigSource::DynamicBrokerConfig
                ),
                syn("log.retention.hours", "168", ConfigSource::DefaultConfig),
            ]
        );
        // log.retention.hours itself: only its default is set.
        let e = find(&entries, "log.retention.hours");
        assert_eq!(e.source, ConfigSource::DefaultConfig);
        assert_eq!(e.value.as_deref(), Some("168"));

        let e = find(&entries, "num.partitions");
        assert!(e.read_only);
        assert_eq!(e.source, ConfigSource::DefaultConfig);

        let e = find(&entries, "ssl.keystore.password");
        assert!(e.sensitive);
        assert_eq!(e.value, None);
        assert_eq!(e.source, ConfigSource::StaticBrokerConfig);
        assert!(e.synonyms.iter().all(|s| s.value.is_none()));

        // A key Kafka does not know: unknown type, so sensitive, read-only.
        let e = find(&entries, "custom.plugin.key");
        assert!(e.sensitive && e.read_only);
        assert_eq!(e.value, None);
        assert_eq!(e.kind, None);
        assert_eq!(e.source, ConfigSource::StaticBrokerConfig);
        assert_eq!(e.documentation, None);

        // Null value.
        let e = find(&entries, "broker.rack");
        assert_eq!(e.value, None);
        assert_eq!(e.source, ConfigSource::DefaultConfig);
    }

    #[test]
    fn cluster_default_entries_only_show_the_default_layer() {
        let (cfg, _) = broker(&[("num.io.threads", "4")]).with_dynamic(
            &map(&[("num.io.threads", "6")]),
            &map(&[("num.io.threads", "7")]),
        );
        let entries = default_broker_entries(&cfg, ALL);
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].value.as_deref(), Some("6"));
        assert_eq!(entries[0].source, ConfigSource::DynamicDefaultBrokerConfig);
        assert_eq!(
            entries[0].synonyms,
            vec![syn(
                "num.io.threads",
                "6",
                ConfigSource::DynamicDefaultBrokerConfig
            )]
        );
    }

    #[test]
    fn key_filter_and_wire_versions() {
        let cfg = broker(&[]);
        let log = LogConfig::from_broker_and_overrides(&cfg, &BTreeMap::new()).unwrap();
        let entries = topic_entries(&cfg, &log, &BTreeMap::new(), ALL);
        let keys = vec!["segment.ms".to_string(), "no.such.key".to_string()];
        let kept = filter_keys(entries.clone(), Some(&keys));
        assert_eq!(kept.len(), 1);
        assert_eq!(filter_keys(entries.clone(), Some(&[])).len(), entries.len());
        assert_eq!(filter_keys(entries.clone(), None).len(), entries.len());

        let e = &kept[0];
        let v0 = e.to_result(0);
        assert!(v0.is_default);
        assert_eq!(v0.config_source, -1);
        let v1 = e.to_result(1);
        assert!(!v1.is_default);
        assert_eq!(v1.config_source, 5);
        assert_eq!(v1.documentation, None);
        let v3 = e.to_result(3);
        assert_eq!(v3.config_type, 5);
        assert!(v3.documentation.is_some());
        // Every version encodes.
        use kafka_protocol::protocol::Encodable;
        for v in 0..=4 {
            let mut buf = bytes::BytesMut::new();
            e.to_result(v).encode(&mut buf, v).unwrap();
        }
    }
}
