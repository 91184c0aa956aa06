//! Dynamic broker configuration (Kafka's `DynamicBrokerConfig`): which keys may come from
//! `/config/brokers/<default>` and `/config/brokers/<id>`, and how those layers are applied
//! over the static file — per-broker > cluster default > static > built-in default.

use std::collections::BTreeMap;
use std::fmt;

use super::def::{self, DynamicMode};
use super::kafka_config::{split_listener_key, KafkaConfig};
use super::value::HIDDEN;

/// Listener-prefixed keys that stay cluster-wide (Kafka's `ClusterLevelListenerConfigs`).
const CLUSTER_LEVEL_LISTENER_CONFIGS: &[&str] = &[
    "max.connections",
    "max.connection.creation.rate",
    "num.network.threads",
];

/// Keystore/truststore keys that may only be updated with a listener prefix (Kafka's
/// `SslConfigs.RECONFIGURABLE_CONFIGS`): a broker-wide change would swap every listener's
/// certificates at once.
const LISTENER_ONLY_SECURITY_CONFIGS: &[&str] = &[
    "ssl.keystore.type",
    "ssl.keystore.location",
    "ssl.keystore.password",
    "ssl.key.password",
    "ssl.keystore.key",
    "ssl.keystore.certificate.chain",
    "ssl.truststore.type",
    "ssl.truststore.location",
    "ssl.truststore.password",
    "ssl.truststore.certificates",
];

/// Which dynamic entity a rejected entry came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DynamicEntity {
    /// `/config/brokers/<default>`.
    ClusterDefault,
    /// `/config/brokers/<id>`.
    Broker,
}

impl fmt::Display for DynamicEntity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DynamicEntity::ClusterDefault => "cluster default (<default>)",
            DynamicEntity::Broker => "per-broker",
        })
    }
}

/// A dynamic entry that was ignored, and why. The value is `[hidden]` for secrets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DynamicConfigRejection {
    pub entity: DynamicEntity,
    pub key: String,
    pub value: String,
    pub reason: String,
}

impl fmt::Display for DynamicConfigRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} dynamic config {}={} ignored: {}",
            self.entity, self.key, self.value, self.reason
        )
    }
}

/// The dynamic update mode of a key: the table's mode for broker keys; for
/// `listener.name.<l>.<key>` per-broker, except the connection limits and network threads
/// which stay cluster-wide; `None` for keys Kafka does not know.
pub fn dynamic_mode(key: &str) -> Option<DynamicMode> {
    if let Some(d) = def::find(key) {
        return Some(d.dynamic);
    }
    let (_, base) = split_listener_key(key)?;
    Some(if CLUSTER_LEVEL_LISTENER_CONFIGS.contains(&base) {
        DynamicMode::ClusterWide
    } else {
        DynamicMode::PerBroker
    })
}

/// Keys that name the same setting (Kafka's `brokerConfigSynonyms` without listener
/// matching): setting one dynamically removes the others from the lower layers, so the
/// dynamic value wins even over a higher-precedence synonym in the file.
pub fn config_synonyms(key: &str) -> Vec<&str> {
    match key {
        "log.roll.ms" | "log.roll.hours" => vec!["log.roll.ms", "log.roll.hours"],
        "log.roll.jitter.ms" | "log.roll.jitter.hours" => {
            vec!["log.roll.jitter.ms", "log.roll.jitter.hours"]
        }
        "log.flush.interval.ms" => vec!["log.flush.interval.ms", "log.flush.scheduler.interval.ms"],
        "log.retention.ms" | "log.retention.minutes" | "log.retention.hours" => {
            vec![
                "log.retention.ms",
                "log.retention.minutes",
                "log.retention.hours",
            ]
        }
        other => vec![other],
    }
}

impl KafkaConfig {
    /// See [`dynamic_mode`].
    pub fn dynamic_mode(key: &str) -> Option<DynamicMode> {
        dynamic_mode(key)
    }

    /// The effective configuration: this config's *static* layer with `cluster_default`
    /// (`/config/brokers/<default>`) and then `per_broker` (`/config/brokers/<id>`) applied.
    /// Entries Kafka would ignore are returned as rejections and the rest still applies:
    /// read-only keys, per-broker keys in the cluster default, unprefixed keystore keys and
    /// invalid values. If the merged result breaks a startup rule, the offending layer is
    /// dropped as a whole (Kafka keeps the previous config and logs the error). Passwords must
    /// already be decoded (ZooKeeper stores them encrypted with `password.encoder.secret`).
    ///
    /// Calling this again with new layers starts from the static file, so updates never stack.
    pub fn with_dynamic(
        &self,
        cluster_default: &BTreeMap<String, String>,
        per_broker: &BTreeMap<String, String>,
    ) -> (KafkaConfig, Vec<DynamicConfigRejection>) {
        let mut rejections = Vec::new();
        let default = accept_entries(
            cluster_default,
            DynamicEntity::ClusterDefault,
            &mut rejections,
        );
        let broker = accept_entries(per_broker, DynamicEntity::Broker, &mut rejections);
        let static_props = self.static_originals();

        let attempt = |d: &BTreeMap<String, String>, b: &BTreeMap<String, String>| {
            let mut merged = static_props.clone();
            override_props(&mut merged, d);
            override_props(&mut merged, b);
            KafkaConfig::build(static_props.clone(), d.clone(), b.clone(), merged)
        };
        let empty = BTreeMap::new();
        let reject_all = |entries: &BTreeMap<String, String>,
                          entity: DynamicEntity,
                          reason: &str,
                          out: &mut Vec<DynamicConfigRejection>| {
            for (k, v) in entries {
                out.push(rejection(
                    entity,
                    k,
                    v,
                    format!("Invalid dynamic configuration: {reason}"),
                ));
            }
        };

        let both_err = match attempt(&default, &broker) {
            Ok(c) => return (c, rejections),
            Err(e) => e.to_string(),
        };
        if let Ok(c) = attempt(&default, &empty) {
            reject_all(&broker, DynamicEntity::Broker, &both_err, &mut rejections);
            return (c, rejections);
        }
        if let Ok(c) = attempt(&empty, &broker) {
            reject_all(
                &default,
                DynamicEntity::ClusterDefault,
                &both_err,
                &mut rejections,
            );
            return (c, rejections);
        }
        reject_all(
            &default,
            DynamicEntity::ClusterDefault,
            &both_err,
            &mut rejections,
        );
        reject_all(&broker, DynamicEntity::Broker, &both_err, &mut rejections);
        // The static layer was valid when this config was built, so this only fails if the
        // table changed underneath; keep the current config then.
        let c = attempt(&empty, &empty).unwrap_or_else(|_| self.clone());
        (c, rejections)
    }
}

/// True for the keystore/truststore keys that may only be updated dynamically with a
/// listener prefix (Kafka's `DynamicSecurityConfigs`).
pub fn is_listener_only_security_config(key: &str) -> bool {
    LISTENER_ONLY_SECURITY_CONFIGS.contains(&key)
}

/// Kafka's `fromPersistentProps` filtering of one stored dynamic entity: the entries that
/// apply, and the ones ignored with why (see [`KafkaConfig::with_dynamic`]).
pub fn accepted_dynamic_entries(
    entries: &BTreeMap<String, String>,
    entity: DynamicEntity,
) -> (BTreeMap<String, String>, Vec<DynamicConfigRejection>) {
    let mut rejections = Vec::new();
    let accepted = accept_entries(entries, entity, &mut rejections);
    (accepted, rejections)
}

/// Kafka's `overrideProps` (each key replaces its synonyms), for callers that merge layers.
pub fn override_dynamic_props(
    props: &mut BTreeMap<String, String>,
    overrides: &BTreeMap<String, String>,
) {
    override_props(props, overrides);
}

/// Kafka's `overrideProps`: drop the synonyms of each key, then set it.
fn override_props(props: &mut BTreeMap<String, String>, overrides: &BTreeMap<String, String>) {
    for (k, v) in overrides {
        for synonym in config_synonyms(k) {
            props.remove(synonym);
        }
        props.insert(k.clone(), v.clone());
    }
}

fn rejection(
    entity: DynamicEntity,
    key: &str,
    value: &str,
    reason: String,
) -> DynamicConfigRejection {
    let sensitive = def::find(key)
        .or_else(|| split_listener_key(key).and_then(|(_, base)| def::find(base)))
        .is_some_and(def::ConfigDef::is_password)
        || key.ends_with("sasl.jaas.config");
    DynamicConfigRejection {
        entity,
        key: key.to_string(),
        value: if sensitive {
            HIDDEN.to_string()
        } else {
            value.to_string()
        },
        reason,
    }
}

/// Filters one dynamic entity the way Kafka's `fromPersistentProps` does, in its order:
/// invalid values, non-dynamic keys, unprefixed keystore keys, then per-broker keys found in
/// the cluster default. Unknown keys pass (Kafka keeps custom configs for plugins).
fn accept_entries(
    entries: &BTreeMap<String, String>,
    entity: DynamicEntity,
    rejections: &mut Vec<DynamicConfigRejection>,
) -> BTreeMap<String, String> {
    let mut accepted = BTreeMap::new();
    for (key, value) in entries {
        let base_def =
            def::find(key).or_else(|| split_listener_key(key).and_then(|(_, b)| def::find(b)));
        if let Some(d) = base_def {
            if let Err(e) = def::parse_checked(key, d.kind, d.validator, value) {
                rejections.push(rejection(entity, key, value, e.to_string()));
                continue;
            }
        }
        let reason = match dynamic_mode(key) {
            Some(DynamicMode::ReadOnly) => Some(
                "Non-dynamic configs configured in ZooKeeper will be ignored (read-only, restart needed)",
            ),
            _ if LISTENER_ONLY_SECURITY_CONFIGS.contains(&key.as_str()) => Some(
                "Security configs can be dynamically updated only using listener prefix, base configs will be ignored",
            ),
            Some(DynamicMode::PerBroker) if entity == DynamicEntity::ClusterDefault => {
                Some("Per-broker configs defined at default cluster level will be ignored")
            }
            _ => None,
        };
        match reason {
            Some(r) => rejections.push(rejection(entity, key, value, r.to_string())),
            None => {
                accepted.insert(key.clone(), value.clone());
            }
        }
    }
    accepted
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ConfigSource;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect()
    }

    fn static_config(pairs: &[(&str, &str)]) -> KafkaConfig {
        let mut p = map(pairs);
        p.insert("zookeeper.connect".into(), "zk:2181".into());
        KafkaConfig::from_props(&p).unwrap()
    }

    #[test]
    fn modes() {
        assert_eq!(dynamic_mode("num.partitions"), Some(DynamicMode::ReadOnly));
        assert_eq!(
            dynamic_mode("log.retention.ms"),
            Some(DynamicMode::ClusterWide)
        );
        assert_eq!(dynamic_mode("listeners"), Some(DynamicMode::PerBroker));
        assert_eq!(
            dynamic_mode("listener.name.ssl.ssl.keystore.location"),
            Some(DynamicMode::PerBroker)
        );
        assert_eq!(
            dynamic_mode("listener.name.ssl.max.connections"),
            Some(DynamicMode::ClusterWide)
        );
        assert_eq!(dynamic_mode("unknown.key"), None);
        assert_eq!(
            KafkaConfig::dynamic_mode("num.io.threads"),
            Some(DynamicMode::ClusterWide)
        );
    }

    #[test]
    fn read_only_key_is_rejected_and_the_rest_applies() {
        let s = static_config(&[]);
        let (c, rejected) = s.with_dynamic(
            &map(&[]),
            &map(&[("num.partitions", "5"), ("log.retention.ms", "1000")]),
        );
        assert_eq!(c.num_partitions(), 1);
        assert_eq!(c.log_retention_ms(), 1000);
        assert_eq!(rejected.len(), 1);
        assert_eq!(rejected[0].key, "num.partitions");
        assert_eq!(rejected[0].entity, DynamicEntity::Broker);
        assert!(
            rejected[0].to_string().contains("num.partitions=5"),
            "{}",
            rejected[0]
        );
    }

    #[test]
    fn per_broker_beats_cluster_default_beats_static() {
        let s = static_config(&[("num.io.threads", "4"), ("message.max.bytes", "2000")]);
        let (c, rejected) = s.with_dynamic(
            &map(&[
                ("num.io.threads", "6"),
                ("log.segment.bytes", "50000"),
                ("message.max.bytes", "3000"),
            ]),
            &map(&[("num.io.threads", "7")]),
        );
        assert!(rejected.is_empty(), "{rejected:?}");
        assert_eq!(c.num_io_threads(), 7);
        assert_eq!(c.log_segment_bytes(), 50000);
        assert_eq!(c.message_max_bytes(), 3000);
        assert_eq!(c.num_network_threads(), 3);
        assert_eq!(
            c.source("num.io.threads"),
            Some(ConfigSource::DynamicBroker)
        );
        assert_eq!(
            c.source("message.max.bytes"),
            Some(ConfigSource::DynamicDefaultBroker)
        );
        assert_eq!(c.source("num.network.threads"), Some(ConfigSource::Default));
        assert_eq!(
            c.static_originals()
                .get("num.io.threads")
                .map(String::as_str),
            Some("4")
        );
        assert_eq!(
            c.dynamic_keys(),
            vec![
                "log.segment.bytes".to_string(),
                "message.max.bytes".into(),
                "num.io.threads".into()
            ]
        );
    }

    #[test]
    fn per_broker_only_keys_are_refused_from_the_default_entity() {
        let s = static_config(&[]);
        let (c, rejected) = s.with_dynamic(
            &map(&[
                ("advertised.listeners", "PLAINTEXT://other:9092"),
                ("listener.name.plaintext.ssl.keystore.location", "/ks"),
                ("listener.name.plaintext.max.connections", "10"),
            ]),
            &map(&[]),
        );
        let keys: Vec<&str> = rejected.iter().map(|r| r.key.as_str()).collect();
        assert_eq!(
            keys,
            vec![
                "advertised.listeners",
                "listener.name.plaintext.ssl.keystore.location"
            ]
        );
        assert!(rejected
            .iter()
            .all(|r| r.entity == DynamicEntity::ClusterDefault));
        assert!(rejected[0].reason.contains("default cluster level"));
        assert_eq!(c.advertised_listeners()[0].host, "");
        assert_eq!(
            c.listener_config("PLAINTEXT", "max.connections")
                .and_then(|v| v.as_int()),
            Some(10)
        );
        // The same per-broker key is fine from the broker entity.
        let (c, rejected) = s.with_dynamic(
            &map(&[]),
            &map(&[("advertised.listeners", "PLAINTEXT://other:9092")]),
        );
        assert!(rejected.is_empty());
        assert_eq!(c.advertised_listeners()[0].host, "other");
    }

    #[test]
    fn reapplying_does_not_stack() {
        let s = static_config(&[("log.retention.hours", "10")]);
        let (first, _) = s.with_dynamic(
            &map(&[("log.retention.ms", "5000")]),
            &map(&[("num.io.threads", "9")]),
        );
        assert_eq!(first.log_retention_ms(), 5000);
        assert_eq!(first.num_io_threads(), 9);
        // A later update from the *effective* config still starts over from the file.
        let (second, _) = first.with_dynamic(&map(&[]), &map(&[("num.network.threads", "5")]));
        assert_eq!(second.log_retention_ms(), 10 * 3_600_000);
        assert_eq!(second.num_io_threads(), 8);
        assert_eq!(second.num_network_threads(), 5);
        assert_eq!(second.static_originals(), s.static_originals());
    }

    #[test]
    fn invalid_values_and_unprefixed_keystores_are_rejected() {
        let s = static_config(&[]);
        let (c, rejected) = s.with_dynamic(
            &map(&[("num.io.threads", "0")]),
            &map(&[
                ("log.cleanup.policy", "shred"),
                ("ssl.keystore.password", "pw"),
                ("listener.name.plaintext.ssl.keystore.password", "pw2"),
                ("min.insync.replicas", "2"),
            ]),
        );
        assert_eq!(c.num_io_threads(), 8);
        assert_eq!(c.min_insync_replicas(), 2);
        assert_eq!(
            c.listener_config("PLAINTEXT", "ssl.keystore.password")
                .and_then(|v| v.as_password()),
            Some("pw2")
        );
        let by_key: BTreeMap<&str, &DynamicConfigRejection> =
            rejected.iter().map(|r| (r.key.as_str(), r)).collect();
        assert_eq!(by_key.len(), 3);
        assert_eq!(
            by_key["num.io.threads"].reason,
            "Invalid value 0 for configuration num.io.threads: Value must be at least 1"
        );
        assert!(by_key["log.cleanup.policy"]
            .reason
            .contains("String must be one of"));
        assert!(by_key["ssl.keystore.password"]
            .reason
            .contains("listener prefix"));
        assert_eq!(by_key["ssl.keystore.password"].value, "[hidden]");
    }

    #[test]
    fn a_layer_breaking_a_startup_rule_is_dropped_whole() {
        let s = static_config(&[]);
        let (c, rejected) = s.with_dynamic(
            &map(&[("log.retention.ms", "1000")]),
            &map(&[("listeners", "SSL://:9093"), ("num.io.threads", "5")]),
        );
        // The per-broker listeners would drop the inter-broker PLAINTEXT listener.
        assert_eq!(c.log_retention_ms(), 1000);
        assert_eq!(c.num_io_threads(), 8);
        assert_eq!(rejected.len(), 2);
        assert!(rejected.iter().all(|r| r.entity == DynamicEntity::Broker));
        assert!(rejected[0]
            .reason
            .starts_with("Invalid dynamic configuration: "));
    }

    #[test]
    fn synonyms_of_a_dynamic_key_are_dropped_from_lower_layers() {
        let s = static_config(&[
            ("log.flush.scheduler.interval.ms", "100"),
            ("log.roll.ms", "7"),
        ]);
        let (c, _) = s.with_dynamic(&map(&[("log.flush.interval.ms", "50")]), &map(&[]));
        assert_eq!(c.log_flush_interval_ms(), 50);
        // Kafka's overrideProps quirk: the scheduler interval falls back to its default.
        assert_eq!(c.log_flush_scheduler_interval_ms(), i64::MAX);
        assert_eq!(c.log_roll_ms(), 7);
        assert_eq!(config_synonyms("log.retention.minutes").len(), 3);
    }
}
