//! Config changes for AlterConfigs and IncrementalAlterConfigs on a ZooKeeper broker (Kafka's
//! `ConfigAdminManager` preprocessing plus `ZkAdminManager.alterConfigs` /
//! `incrementalAlterConfigs`): request-level checks, incremental operations, validation of
//! topic overrides and dynamic broker configs, and the writes to `/config/<type>/<name>` with
//! a `/config/changes` notification (`AdminZkClient.changeEntityConfig`), which every broker's
//! dynamic config manager then applies.
//!
//! Also home of the broker's *current* configuration as ZooKeeper holds it (static file with
//! `/config/brokers/<default>` and `/config/brokers/<id>` applied), which DescribeConfigs and
//! broker config validation start from.

use std::collections::{BTreeMap, BTreeSet};

use kafka_protocol::ResponseError;
use tracing::{error, info, warn};

use crate::config::def::{self, DynamicMode};
use crate::config::dynamic::{
    accepted_dynamic_entries, dynamic_mode, is_listener_only_security_config,
    override_dynamic_props, DynamicEntity,
};
use crate::config::kafka_config::split_listener_key;
use crate::config::{ConfigError, ConfigType as KeyType, KafkaConfig, LogConfig};
use crate::server::admin_manager::AdminManager;
use crate::server::config_describer::broker_config_type;
use crate::zk::admin_zk_client::validate_topic_name;
use crate::zk::kafka_zk_client::KafkaZkError;
use crate::zk::zk_data::{self as data, ConfigType};

/// `ConfigResource.Type` ids.
pub const RESOURCE_TOPIC: i8 = 2;
pub const RESOURCE_BROKER: i8 = 4;
pub const RESOURCE_BROKER_LOGGER: i8 = 8;
pub const RESOURCE_CLIENT_METRICS: i8 = 16;
pub const RESOURCE_GROUP: i8 = 32;

/// Kafka's name of a resource type id (`UNKNOWN` for ids it does not define).
pub fn resource_type_name(id: i8) -> &'static str {
    match id {
        RESOURCE_TOPIC => "TOPIC",
        RESOURCE_BROKER => "BROKER",
        RESOURCE_BROKER_LOGGER => "BROKER_LOGGER",
        RESOURCE_CLIENT_METRICS => "CLIENT_METRICS",
        RESOURCE_GROUP => "GROUP",
        _ => "UNKNOWN",
    }
}

/// Whether Kafka defines the resource type id at all.
pub fn is_known_resource_type(id: i8) -> bool {
    resource_type_name(id) != "UNKNOWN"
}

/// How Kafka prints a resource in messages: `ConfigResource(type=TOPIC, name='t')`.
pub fn resource_display(type_id: i8, name: &str) -> String {
    format!(
        "ConfigResource(type={}, name='{name}')",
        resource_type_name(type_id)
    )
}

/// A per-resource failure: the error code and message a resource result carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigFailure {
    pub error: ResponseError,
    pub message: String,
}

impl ConfigFailure {
    pub fn new(error: ResponseError, message: impl Into<String>) -> Self {
        ConfigFailure {
            error,
            message: message.into(),
        }
    }

    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(ResponseError::InvalidRequest, message)
    }

    pub fn invalid_config(message: impl Into<String>) -> Self {
        Self::new(ResponseError::InvalidConfig, message)
    }

    /// A ZooKeeper failure: logged, answered UNKNOWN_SERVER_ERROR without internals.
    pub fn zk(what: &str, e: &KafkaZkError) -> Self {
        error!(error = %e, "{what} failed");
        Self::new(
            ResponseError::UnknownServerError,
            "Unexpected error while processing the request; see the broker log",
        )
    }
}

/// One IncrementalAlterConfigs operation type (Kafka's `AlterConfigOp.OpType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AlterOp {
    Set,
    Delete,
    Append,
    Subtract,
}

impl AlterOp {
    pub fn from_id(id: i8) -> Option<AlterOp> {
        match id {
            0 => Some(AlterOp::Set),
            1 => Some(AlterOp::Delete),
            2 => Some(AlterOp::Append),
            3 => Some(AlterOp::Subtract),
            _ => None,
        }
    }
}

/// One requested operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigOp {
    pub name: String,
    pub op: AlterOp,
    pub value: Option<String>,
}

/// Indexes of resources named more than once (same type and name): each gets INVALID_REQUEST
/// "Each resource must appear at most once.".
pub fn duplicate_resources(resources: &[(i8, String)]) -> BTreeSet<usize> {
    let mut seen: BTreeMap<(i8, &str), usize> = BTreeMap::new();
    let mut dups = BTreeSet::new();
    for (i, (t, name)) in resources.iter().enumerate() {
        if let Some(first) = seen.insert((*t, name.as_str()), i) {
            dups.insert(first);
            dups.insert(i);
        }
    }
    dups
}

/// The per-resource request checks of Kafka's preprocessing: no key twice, and no null
/// value except for operations that may have one (`null_ok`).
pub fn check_entries<'a>(
    entries: impl Iterator<Item = (&'a str, bool, bool)>,
) -> Result<(), ConfigFailure> {
    let mut names = BTreeSet::new();
    let mut duplicate = false;
    let mut nulls = Vec::new();
    for (name, is_null, null_ok) in entries {
        if !names.insert(name) {
            duplicate = true;
        }
        if is_null && !null_ok {
            nulls.push(name);
        }
    }
    if duplicate {
        return Err(ConfigFailure::invalid_request(
            "Error due to duplicate config keys",
        ));
    }
    if !nulls.is_empty() {
        return Err(ConfigFailure::invalid_request(format!(
            "Null value not supported for : {}",
            nulls.join(", ")
        )));
    }
    Ok(())
}

/// A BROKER resource name: empty = the cluster default (`None`), else this broker's id.
pub fn broker_resource(name: &str, broker_id: i32) -> Result<Option<i32>, ConfigFailure> {
    if name.is_empty() {
        return Ok(None);
    }
    let id: i32 = name.parse().map_err(|_| {
        ConfigFailure::invalid_request(format!("Node id must be an integer, but it is: {name}"))
    })?;
    if id != broker_id {
        return Err(ConfigFailure::invalid_request(format!(
            "Unexpected broker id, expected {broker_id}, but received {name}"
        )));
    }
    Ok(Some(id))
}

/// Java's `String.split(",")`: trailing empty strings dropped, but `""` gives `[""]`.
fn java_split_comma(s: &str) -> Vec<String> {
    if s.is_empty() {
        return vec![String::new()];
    }
    let mut parts: Vec<String> = s.split(',').map(str::to_string).collect();
    while parts.last().is_some_and(String::is_empty) {
        parts.pop();
    }
    parts
}

/// What an APPEND/SUBTRACT needs to know about a key: whether it is a list, and its default
/// in Kafka's string form. `None` for keys the entity does not define.
pub type KeyInfo = fn(&str) -> Option<(bool, Option<String>)>;

/// Topic keys for [`prepare_incremental`].
pub fn topic_key_info(name: &str) -> Option<(bool, Option<String>)> {
    let d = LogConfig::topic_def(name)?;
    Some((d.kind == KeyType::List, Some(d.default.to_string())))
}

/// Broker keys for [`prepare_incremental`].
pub fn broker_key_info(name: &str) -> Option<(bool, Option<String>)> {
    let d = def::find(name)?;
    let default = d.default_value().ok().and_then(|v| v.to_raw_string());
    Some((d.kind == KeyType::List, default))
}

/// Kafka's `prepareIncrementalConfigs`: applies the operations, in order, to the entity's
/// stored configs. APPEND adds the items not yet present (starting from the key's default
/// when unset), SUBTRACT removes items; both only for LIST keys (INVALID_CONFIG otherwise).
pub fn prepare_incremental(
    ops: &[ConfigOp],
    props: &mut BTreeMap<String, String>,
    key_info: KeyInfo,
) -> Result<(), ConfigFailure> {
    for op in ops {
        let value = op.value.clone().unwrap_or_default();
        match op.op {
            AlterOp::Set => {
                props.insert(op.name.clone(), value);
            }
            AlterOp::Delete => {
                props.remove(&op.name);
            }
            AlterOp::Append | AlterOp::Subtract => {
                let (is_list, default) = key_info(&op.name).ok_or_else(|| {
                    ConfigFailure::invalid_config(format!("Unknown config name: {}", op.name))
                })?;
                if !is_list {
                    let verb = if op.op == AlterOp::Append {
                        "append"
                    } else {
                        "subtract"
                    };
                    return Err(ConfigFailure::invalid_config(format!(
                        "Config value {verb} is not allowed for config key: {}",
                        op.name
                    )));
                }
                let old = props.get(&op.name).cloned().or(default).unwrap_or_default();
                let mut items = java_split_comma(&old);
                let given = java_split_comma(&value);
                if op.op == AlterOp::Append {
                    let fresh: Vec<String> =
                        given.into_iter().filter(|v| !items.contains(v)).collect();
                    items.extend(fresh);
                } else {
                    // Scala's `diff`: one occurrence removed per given item.
                    for g in given {
                        if let Some(pos) = items.iter().position(|i| *i == g) {
                            items.remove(pos);
                        }
                    }
                }
                props.insert(op.name.clone(), items.join(","));
            }
        }
    }
    Ok(())
}

/// How Scala prints a small set of names in Kafka's messages (`Set(a, b)`).
fn scala_set(names: &BTreeSet<&str>) -> String {
    let joined = names.iter().copied().collect::<Vec<_>>().join(", ");
    if names.len() <= 4 {
        format!("Set({joined})")
    } else {
        format!("HashSet({joined})")
    }
}

/// Thread pools whose size may change dynamically by at most a factor of two (Kafka's
/// `DynamicThreadPool`).
const THREAD_POOL_CONFIGS: &[&str] = &[
    "num.io.threads",
    "num.replica.fetchers",
    "num.recovery.threads.per.data.dir",
    "background.threads",
];

/// Kafka's `DynamicBrokerConfig.validate(props, perBrokerConfig)`: `props` would become the
/// whole of `/config/brokers/<id>` (`per_broker`) or `/config/brokers/<default>`. Checks
/// dynamic update modes, listener-only security keys, value types, per-broker keys at the
/// default level, then the resulting configuration as a whole. `current` is the broker's
/// current effective config. The error is the message Kafka answers with INVALID_REQUEST.
pub fn validate_broker_update(
    current: &KafkaConfig,
    props: &BTreeMap<String, String>,
    per_broker: bool,
) -> Result<(), String> {
    let keys = |pred: &dyn Fn(&str) -> bool| -> BTreeSet<&str> {
        props
            .keys()
            .map(String::as_str)
            .filter(|k| pred(k))
            .collect()
    };
    let read_only = keys(&|k| def::find(k).is_some_and(|d| d.dynamic == DynamicMode::ReadOnly));
    if !read_only.is_empty() {
        return Err(format!(
            "Cannot update these configs dynamically: {}",
            scala_set(&read_only)
        ));
    }
    let unprefixed = keys(&is_listener_only_security_config);
    if !unprefixed.is_empty() {
        return Err(format!(
            "These security configs can be dynamically updated only per-listener using the \
             listener prefix: {}",
            scala_set(&unprefixed)
        ));
    }
    for (key, value) in props {
        let base = def::find(key)
            .or_else(|| split_listener_key(key).and_then(|(_, base)| def::find(base)));
        if let Some(d) = base {
            d.parse(value).map_err(|e| e.to_string())?;
        }
    }
    if !per_broker {
        let per_broker_keys = keys(&|k| dynamic_mode(k) == Some(DynamicMode::PerBroker));
        if !per_broker_keys.is_empty() {
            return Err(format!(
                "Cannot update these configs at default cluster level, broker id must be \
                 specified: {}",
                scala_set(&per_broker_keys)
            ));
        }
    }
    // The configuration the update would produce.
    let static_props = current.static_originals().clone();
    let (default_layer, broker_layer) = if per_broker {
        (current.dynamic_default_configs().clone(), props.clone())
    } else {
        (props.clone(), current.dynamic_broker_configs().clone())
    };
    let mut merged = static_props.clone();
    override_dynamic_props(&mut merged, &default_layer);
    override_dynamic_props(&mut merged, &broker_layer);
    let next = KafkaConfig::build(static_props, default_layer, broker_layer, merged)
        .map_err(|e| e.to_string())?;
    for key in THREAD_POOL_CONFIGS {
        let (Some(new), Some(old)) = (next.get_int(key), current.get_int(key)) else {
            continue;
        };
        let problem = if new == old {
            None
        } else if new <= 0 {
            Some("value should be at least 1".to_string())
        } else if new < old / 2 {
            Some(format!(
                "value should be at least half the current value {old}"
            ))
        } else if new > old.saturating_mul(2) {
            Some(format!(
                "value should not be greater than double the current value {old}"
            ))
        } else {
            None
        };
        if let Some(p) = problem {
            info!("Dynamic thread count update validation failed for {key}={new}, {p}");
            return Err("Invalid dynamic configuration".to_string());
        }
    }
    Ok(())
}

/// The broker's current configuration: the static file with the dynamic layers ZooKeeper
/// holds now (entries Kafka would ignore are left out).
pub async fn current_broker_config(
    admin: &AdminManager,
    broker_id: i32,
) -> Result<KafkaConfig, KafkaZkError> {
    let zk = admin.zk();
    let default = zk
        .get_entity_config(ConfigType::Broker, data::DEFAULT_ENTITY)
        .await?;
    let broker = zk
        .get_entity_config(ConfigType::Broker, &broker_id.to_string())
        .await?;
    let (config, _) = admin.config().with_dynamic(&default, &broker);
    Ok(config)
}

/// The stored entries of `/config/brokers/<id>` (`Some(id)`) or `<default>` that apply
/// (Kafka's `fromPersistentProps`).
pub async fn stored_broker_entity(
    admin: &AdminManager,
    broker: Option<i32>,
) -> Result<BTreeMap<String, String>, KafkaZkError> {
    let (name, entity) = match broker {
        Some(id) => (id.to_string(), DynamicEntity::Broker),
        None => (
            data::DEFAULT_ENTITY.to_string(),
            DynamicEntity::ClusterDefault,
        ),
    };
    let stored = admin
        .zk()
        .get_entity_config(ConfigType::Broker, &name)
        .await?;
    let (accepted, rejected) = accepted_dynamic_entries(&stored, entity);
    for r in rejected {
        warn!(rejection = %r, "stored dynamic broker config ignored");
    }
    Ok(accepted)
}

/// How a refused topic override is answered: unknown names as they are, bad values with the
/// resource named (Kafka wraps `ConfigException`s), both INVALID_CONFIG.
fn topic_config_failure(topic: &str, e: &ConfigError) -> ConfigFailure {
    match e {
        ConfigError::UnknownTopicConfig(_) => ConfigFailure::invalid_config(e.to_string()),
        _ => ConfigFailure::invalid_config(format!(
            "Invalid config value for resource {}: {e}",
            resource_display(RESOURCE_TOPIC, topic)
        )),
    }
}

/// `k=v,...` for a log line.
fn loggable(props: &BTreeMap<String, String>) -> String {
    props
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Kafka's `alterTopicConfigs`: `props` becomes the topic's whole override set. The topic
/// must be known (UNKNOWN_TOPIC_OR_PARTITION) and the overrides valid (INVALID_CONFIG);
/// unless `validate_only`, `/config/topics/<t>` is rewritten and a change notification made.
pub async fn alter_topic(
    admin: &AdminManager,
    topic: &str,
    props: &BTreeMap<String, String>,
    validate_only: bool,
) -> Result<(), ConfigFailure> {
    if topic.is_empty() {
        return Err(ConfigFailure::invalid_request(
            "Default topic resources are not allowed.",
        ));
    }
    if !admin.cache_contains_topic(topic) {
        return Err(ConfigFailure::new(
            ResponseError::UnknownTopicOrPartition,
            format!("The topic '{topic}' does not exist."),
        ));
    }
    validate_topic_name(topic)
        .map_err(|e| ConfigFailure::new(ResponseError::InvalidTopicException, e.to_string()))?;
    let exists = admin
        .zk()
        .zk()
        .exists(&data::topic_path(topic), false)
        .await
        .map_err(|e| ConfigFailure::zk("reading the topic", &e.into()))?;
    if exists.is_none() {
        return Err(ConfigFailure::new(
            ResponseError::UnknownTopicOrPartition,
            format!("Topic '{topic}' does not exist."),
        ));
    }
    LogConfig::validate_overrides(props).map_err(|e| topic_config_failure(topic, &e))?;
    if validate_only {
        return Ok(());
    }
    info!(
        "Updating topic {topic} with new configuration : {}",
        loggable(props)
    );
    admin
        .zk()
        .change_entity_config(ConfigType::Topic, topic, props)
        .await
        .map_err(|e| ConfigFailure::zk("writing the topic config", &e))
}

/// Kafka's `alterBrokerConfigs` after validation: `props` becomes the whole of
/// `/config/brokers/<id>` (`Some(id)`) or `<default>`, with a change notification. Password
/// keys are refused: Kafka only takes them per broker and stores them encrypted with
/// `password.encoder.secret`, which this broker does not implement.
pub async fn alter_broker(
    admin: &AdminManager,
    broker: Option<i32>,
    props: &BTreeMap<String, String>,
    validate_only: bool,
) -> Result<(), ConfigFailure> {
    if validate_only {
        return Ok(());
    }
    let resource_name = broker.map(|b| b.to_string()).unwrap_or_default();
    let password = props
        .keys()
        .any(|k| broker_config_type(k) == Some(KeyType::Password));
    if password {
        let reason = if broker.is_none() {
            "Password config can be defined only at broker level"
        } else if admin.config().password_encoder_secret().is_none() {
            "Password encoder secret not configured"
        } else {
            "Storing encoded password configs in ZooKeeper is not supported by this broker"
        };
        return Err(ConfigFailure::invalid_config(format!(
            "Invalid config value for resource {}: {reason}",
            resource_display(RESOURCE_BROKER, &resource_name)
        )));
    }
    match broker {
        Some(id) => info!(
            "Updating broker {id} with new configuration : {}",
            loggable(props)
        ),
        None => info!(
            "Updating brokers with new configuration : {}",
            loggable(props)
        ),
    }
    let entity = broker.map_or_else(|| data::DEFAULT_ENTITY.to_string(), |b| b.to_string());
    admin
        .zk()
        .change_entity_config(ConfigType::Broker, &entity, props)
        .await
        .map_err(|e| ConfigFailure::zk("writing the broker config", &e))
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

    fn op(name: &str, op: AlterOp, value: Option<&str>) -> ConfigOp {
        ConfigOp {
            name: name.into(),
            op,
            value: value.map(str::to_string),
        }
    }

    fn broker(static_props: &[(&str, &str)]) -> KafkaConfig {
        let mut p = map(static_props);
        p.insert("zookeeper.connect".into(), "zk:2181".into());
        KafkaConfig::from_props(&p).unwrap()
    }

    #[test]
    fn names_and_display() {
        assert_eq!(
            resource_display(RESOURCE_TOPIC, "t"),
            "ConfigResource(type=TOPIC, name='t')"
        );
        assert_eq!(
            resource_display(RESOURCE_BROKER, ""),
            "ConfigResource(type=BROKER, name='')"
        );
        assert!(is_known_resource_type(RESOURCE_BROKER_LOGGER));
        assert!(!is_known_resource_type(3));
        assert_eq!(AlterOp::from_id(3), Some(AlterOp::Subtract));
        assert_eq!(AlterOp::from_id(4), None);
    }

    #[test]
    fn request_level_checks() {
        let dups = duplicate_resources(&[
            (RESOURCE_TOPIC, "a".into()),
            (RESOURCE_BROKER, "a".into()),
            (RESOURCE_TOPIC, "a".into()),
        ]);
        assert_eq!(dups.into_iter().collect::<Vec<_>>(), vec![0, 2]);
        assert!(check_entries([("a", false, false), ("b", true, true)].into_iter()).is_ok());
        assert_eq!(
            check_entries([("a", false, false), ("a", false, false)].into_iter()),
            Err(ConfigFailure::invalid_request(
                "Error due to duplicate config keys"
            ))
        );
        assert_eq!(
            check_entries([("a", true, false), ("b", true, false)].into_iter()),
            Err(ConfigFailure::invalid_request(
                "Null value not supported for : a, b"
            ))
        );
        assert_eq!(broker_resource("", 1), Ok(None));
        assert_eq!(broker_resource("1", 1), Ok(Some(1)));
        assert_eq!(
            broker_resource("2", 1).unwrap_err().message,
            "Unexpected broker id, expected 1, but received 2"
        );
        assert_eq!(
            broker_resource("x", 1).unwrap_err().message,
            "Node id must be an integer, but it is: x"
        );
    }

    #[test]
    fn java_split() {
        assert_eq!(java_split_comma(""), vec![""]);
        assert_eq!(java_split_comma("a,,b,"), vec!["a", "", "b"]);
        assert_eq!(java_split_comma(","), Vec::<String>::new());
    }

    #[test]
    fn incremental_operations() {
        let mut props = map(&[("retention.ms", "1000"), ("segment.ms", "5")]);
        prepare_incremental(
            &[
                op("retention.ms", AlterOp::Set, Some("2000")),
                op("segment.ms", AlterOp::Delete, None),
                op("cleanup.policy", AlterOp::Append, Some("compact")),
            ],
            &mut props,
            topic_key_info,
        )
        .unwrap();
        assert_eq!(
            props,
            map(&[
                ("retention.ms", "2000"),
                ("cleanup.policy", "delete,compact")
            ])
        );
        prepare_incremental(
            &[
                op("cleanup.policy", AlterOp::Append, Some("compact,delete")),
                op("cleanup.policy", AlterOp::Subtract, Some("delete")),
            ],
            &mut props,
            topic_key_info,
        )
        .unwrap();
        assert_eq!(props["cleanup.policy"], "compact");
        // An empty list default gives Kafka's leading empty item.
        let mut props = BTreeMap::new();
        prepare_incremental(
            &[op(
                "leader.replication.throttled.replicas",
                AlterOp::Append,
                Some("0:1"),
            )],
            &mut props,
            topic_key_info,
        )
        .unwrap();
        assert_eq!(props["leader.replication.throttled.replicas"], ",0:1");

        let e = prepare_incremental(
            &[op("retention.ms", AlterOp::Append, Some("1"))],
            &mut props,
            topic_key_info,
        )
        .unwrap_err();
        assert_eq!(e.error, ResponseError::InvalidConfig);
        assert_eq!(
            e.message,
            "Config value append is not allowed for config key: retention.ms"
        );
        let e = prepare_incremental(
            &[op("nope", AlterOp::Subtract, Some("1"))],
            &mut props,
            broker_key_info,
        )
        .unwrap_err();
        assert_eq!(e.error, ResponseError::InvalidConfig);
        let mut b = BTreeMap::new();
        prepare_incremental(
            &[op(
                "sasl.enabled.mechanisms",
                AlterOp::Append,
                Some("PLAIN"),
            )],
            &mut b,
            broker_key_info,
        )
        .unwrap();
        assert_eq!(b["sasl.enabled.mechanisms"], "GSSAPI,PLAIN");
    }

    #[test]
    fn broker_update_validation() {
        let current = broker(&[("num.io.threads", "8")]);
        assert!(
            validate_broker_update(&current, &map(&[("log.retention.ms", "1000")]), false).is_ok()
        );
        assert!(validate_broker_update(&current, &map(&[("custom.key", "x")]), true).is_ok());
        assert_eq!(
            validate_broker_update(
                &current,
                &map(&[("num.partitions", "3"), ("broker.id", "4")]),
                true
            ),
            Err("Cannot update these configs dynamically: Set(broker.id, num.partitions)".into())
        );
        assert_eq!(
            validate_broker_update(&current, &map(&[("ssl.keystore.location", "/k")]), true),
            Err(
                "These security configs can be dynamically updated only per-listener using the \
                 listener prefix: Set(ssl.keystore.location)"
                    .into()
            )
        );
        assert_eq!(
            validate_broker_update(&current, &map(&[("log.retention.ms", "abc")]), true),
            Err(
                "Invalid value abc for configuration log.retention.ms: Not a number of type LONG"
                    .into()
            )
        );
        assert_eq!(
            validate_broker_update(
                &current,
                &map(&[("advertised.listeners", "PLAINTEXT://h:1")]),
                false
            ),
            Err(
                "Cannot update these configs at default cluster level, broker id must be \
                 specified: Set(advertised.listeners)"
                    .into()
            )
        );
        assert!(validate_broker_update(&current, &map(&[("num.io.threads", "16")]), true).is_ok());
        assert_eq!(
            validate_broker_update(&current, &map(&[("num.io.threads", "17")]), true),
            Err("Invalid dynamic configuration".into())
        );
        assert_eq!(
            validate_broker_update(&current, &map(&[("num.io.threads", "3")]), false),
            Err("Invalid dynamic configuration".into())
        );
        // A listener-prefixed value is checked with its base key's rules.
        assert!(validate_broker_update(
            &current,
            &map(&[("listener.name.plaintext.max.connections", "-5x")]),
            false
        )
        .is_err());
    }
}
