//! `KafkaConfig`: the broker configuration. `server.properties` (plus `--override`s, plus the
//! dynamic layers applied by [`KafkaConfig::with_dynamic`]) parsed against the definition table,
//! checked with Kafka's startup rules, and exposed through typed accessors.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::cluster::{EndPoint, EndPointError, SecurityProtocol};

use super::def::{self, ConfigType};
use super::error::ConfigError;
use super::value::{ConfigValue, HIDDEN};
use super::version::ProtocolVersion;

/// Prefix of listener-specific overrides: `listener.name.<listener lower-case>.<key>`.
pub const LISTENER_PREFIX: &str = "listener.name.";

static NULL_VALUE: ConfigValue = ConfigValue::Null;

/// Where the effective value of a key comes from (Kafka's `ConfigSource` in DescribeConfigs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConfigSource {
    /// Built-in default.
    Default,
    /// `server.properties` or `--override`.
    StaticBroker,
    /// `/config/brokers/<default>`.
    DynamicDefaultBroker,
    /// `/config/brokers/<id>`.
    DynamicBroker,
}

impl ConfigSource {
    /// Kafka's enum name.
    pub fn name(self) -> &'static str {
        match self {
            ConfigSource::Default => "DEFAULT_CONFIG",
            ConfigSource::StaticBroker => "STATIC_BROKER_CONFIG",
            ConfigSource::DynamicDefaultBroker => "DYNAMIC_DEFAULT_BROKER_CONFIG",
            ConfigSource::DynamicBroker => "DYNAMIC_BROKER_CONFIG",
        }
    }
}

/// The validated broker configuration. Cheap to clone; immutable (a dynamic update builds a
/// new one from the static layer, see [`KafkaConfig::with_dynamic`]).
#[derive(Clone)]
pub struct KafkaConfig {
    /// Effective raw key/values: static file with the dynamic layers applied.
    originals: BTreeMap<String, String>,
    /// The file and `--override`s only; every dynamic recomputation starts again from here.
    static_originals: BTreeMap<String, String>,
    dynamic_default: BTreeMap<String, String>,
    dynamic_broker: BTreeMap<String, String>,
    /// Every defined key, parsed (default when absent).
    values: BTreeMap<&'static str, ConfigValue>,
    /// Parsed `listener.name.<l>.<key>` entries whose base key is defined.
    listener_values: BTreeMap<String, ConfigValue>,
    protocol_map: BTreeMap<String, SecurityProtocol>,
    listeners: Vec<EndPoint>,
    advertised_listeners: Vec<EndPoint>,
    inter_broker_listener_name: String,
    inter_broker_security_protocol: SecurityProtocol,
    control_plane_listener_name: Option<String>,
    ibp: ProtocolVersion,
    log_message_format_version: ProtocolVersion,
    log_dirs: Vec<PathBuf>,
    max_connections_per_ip_overrides: BTreeMap<String, i32>,
    warnings: Vec<String>,
}

impl KafkaConfig {
    /// Parses and validates a static configuration (a parsed `server.properties`). Absent keys
    /// take their defaults; unknown keys are kept (see [`KafkaConfig::unknown_keys`]).
    pub fn from_props(props: &BTreeMap<String, String>) -> Result<KafkaConfig, ConfigError> {
        Self::build(
            props.clone(),
            BTreeMap::new(),
            BTreeMap::new(),
            props.clone(),
        )
    }

    /// Reads a properties file (Java `.properties` syntax, ISO-8859-1 like Kafka, so data
    /// directory names decode exactly as they did for Kafka) and applies `overrides`, each
    /// `key=value` as given to `kafka-server-start.sh --override`.
    pub fn load(path: &Path, overrides: &[String]) -> Result<KafkaConfig, ConfigError> {
        let bytes = std::fs::read(path).map_err(|source| ConfigError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let parsed = java_properties::read(bytes.as_slice()).map_err(|e| ConfigError::Syntax {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let mut props: BTreeMap<String, String> = parsed.into_iter().collect();
        for o in overrides {
            let (k, v) = o
                .split_once('=')
                .filter(|(k, _)| !k.trim().is_empty())
                .ok_or_else(|| ConfigError::MalformedOverride(o.clone()))?;
            props.insert(k.trim().to_string(), v.to_string());
        }
        Self::from_props(&props)
    }

    /// Builds a config from the layers; `originals` is the already-merged effective map.
    pub(crate) fn build(
        static_originals: BTreeMap<String, String>,
        dynamic_default: BTreeMap<String, String>,
        dynamic_broker: BTreeMap<String, String>,
        originals: BTreeMap<String, String>,
    ) -> Result<KafkaConfig, ConfigError> {
        // Kafka parses every defined key first (definition order), then runs validateValues.
        let mut values = BTreeMap::new();
        for d in def::all() {
            let v = match originals.get(d.name) {
                Some(raw) => d.parse(raw)?,
                None => d.default_value()?,
            };
            values.insert(d.name, v);
        }
        let listener_values = parse_listener_overrides(&originals)?;
        let mut cfg = KafkaConfig {
            originals,
            static_originals,
            dynamic_default,
            dynamic_broker,
            values,
            listener_values,
            protocol_map: BTreeMap::new(),
            listeners: Vec::new(),
            advertised_listeners: Vec::new(),
            inter_broker_listener_name: String::new(),
            inter_broker_security_protocol: SecurityProtocol::Plaintext,
            control_plane_listener_name: None,
            ibp: ProtocolVersion::LATEST,
            log_message_format_version: ProtocolVersion::LATEST,
            log_dirs: Vec::new(),
            max_connections_per_ip_overrides: BTreeMap::new(),
            warnings: Vec::new(),
        };
        cfg.resolve_and_validate()?;
        Ok(cfg)
    }

    // ------------------------------------------------------------------------------------
    // Derived values and Kafka's validateValues().
    // ------------------------------------------------------------------------------------

    fn resolve_and_validate(&mut self) -> Result<(), ConfigError> {
        self.validate_identity()?;
        self.validate_log_rules()?;
        self.validate_replication_rules()?;
        self.resolve_listeners()?;
        self.resolve_versions()?;
        self.validate_network_rules()?;
        Ok(())
    }

    fn validate_identity(&self) -> Result<(), ConfigError> {
        match self.string("zookeeper.connect") {
            None => {
                return Err(ConfigError::Missing {
                    key: "zookeeper.connect".to_string(),
                })
            }
            Some("") => {
                return Err(ConfigError::invalid(
                    "zookeeper.connect",
                    "",
                    "String must be non-empty",
                ))
            }
            Some(_) => {}
        }
        let id = self.broker_id();
        if self.broker_id_generation_enable() {
            if id < -1 || id > self.reserved_broker_max_id() {
                return Err(ConfigError::invalid(
                    "broker.id",
                    id.to_string(),
                    "broker.id must be greater than or equal to -1 and not greater than reserved.broker.max.id",
                ));
            }
        } else if id < 0 {
            return Err(ConfigError::invalid(
                "broker.id",
                id.to_string(),
                "broker.id must be greater than or equal to 0",
            ));
        }
        Ok(())
    }

    fn validate_log_rules(&mut self) -> Result<(), ConfigError> {
        let roll = self.log_roll_ms();
        if roll < 1 {
            return Err(ConfigError::invalid(
                "log.roll.ms",
                roll.to_string(),
                "log.roll.ms must be greater than or equal to 1",
            ));
        }
        let jitter = self.log_roll_jitter_ms();
        if jitter < 0 {
            return Err(ConfigError::invalid(
                "log.roll.jitter.ms",
                jitter.to_string(),
                "log.roll.jitter.ms must be greater than or equal to 0",
            ));
        }
        let retention = self.log_retention_ms();
        if retention < 1 && retention != -1 {
            let key = [
                "log.retention.ms",
                "log.retention.minutes",
                "log.retention.hours",
            ]
            .into_iter()
            .find(|k| !self.value(k).is_null())
            .unwrap_or("log.retention.ms");
            return Err(ConfigError::invalid(
                key,
                self.value(key).to_string(),
                "log.retention.ms must be unlimited (-1) or, greater than or equal to 1",
            ));
        }
        // CoreUtils.parseCsvList: split on commas, drop empty items.
        let (dirs_key, raw_dirs) = match self.string("log.dirs") {
            Some(d) => ("log.dirs", d.to_string()),
            None => (
                "log.dir",
                self.string("log.dir").unwrap_or_default().to_string(),
            ),
        };
        self.log_dirs = raw_dirs
            .split(',')
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
            .collect();
        if self.log_dirs.is_empty() {
            return Err(ConfigError::invalid(
                dirs_key,
                raw_dirs,
                "At least one log directory must be defined via log.dirs or log.dir.",
            ));
        }
        // Kafka divides by the thread count (and would fail on 0); with no cleaner threads
        // there is no per-thread buffer to check.
        let threads = i64::from(self.int("log.cleaner.threads"));
        let dedupe = self.long("log.cleaner.dedupe.buffer.size");
        if threads > 0 && dedupe / threads <= 1024 * 1024 {
            return Err(ConfigError::invalid(
                "log.cleaner.dedupe.buffer.size",
                dedupe.to_string(),
                "log.cleaner.dedupe.buffer.size must be at least 1MB per cleaner thread.",
            ));
        }
        Ok(())
    }

    fn validate_replication_rules(&self) -> Result<(), ConfigError> {
        let wait = self.replica_fetch_wait_max_ms();
        if wait > self.replica_socket_timeout_ms() {
            return Err(ConfigError::invalid(
                "replica.fetch.wait.max.ms",
                wait.to_string(),
                "replica.socket.timeout.ms should always be at least replica.fetch.wait.max.ms to prevent unnecessary socket timeouts",
            ));
        }
        if i64::from(wait) > self.replica_lag_time_max_ms() {
            return Err(ConfigError::invalid(
                "replica.fetch.wait.max.ms",
                wait.to_string(),
                "replica.fetch.wait.max.ms should always be less than or equal to replica.lag.time.max.ms to prevent frequent changes in ISR",
            ));
        }
        let acks = self.offsets_commit_required_acks();
        if acks < -1 || acks > self.offsets_topic_replication_factor() {
            return Err(ConfigError::invalid(
                "offsets.commit.required.acks",
                acks.to_string(),
                "offsets.commit.required.acks must be greater or equal -1 and less or equal to offsets.topic.replication.factor",
            ));
        }
        let codec = self.offsets_topic_compression_codec();
        if !(0..=4).contains(&codec) {
            return Err(ConfigError::invalid(
                "offsets.topic.compression.codec",
                codec.to_string(),
                "Unknown compression codec (valid: 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd)",
            ));
        }
        Ok(())
    }

    fn resolve_listeners(&mut self) -> Result<(), ConfigError> {
        let map_raw = self
            .string("listener.security.protocol.map")
            .unwrap_or_default()
            .to_string();
        self.protocol_map = parse_protocol_map(&map_raw)?;

        // listeners: null → the deprecated host.name/port pair (PLAINTEXT://:9092 by default).
        let listeners_raw = match self.string("listeners") {
            Some(l) => l.to_string(),
            None => format!(
                "PLAINTEXT://{}:{}",
                bracket_ipv6(self.string("host.name").unwrap_or_default()),
                self.int("port")
            ),
        };
        self.listeners =
            parse_listener_list("listeners", &listeners_raw, &self.protocol_map, true)?;

        // advertised.listeners: null → advertised.host.name/advertised.port if either is set,
        // else the listeners.
        let adv_host = self.string("advertised.host.name");
        let adv_port = self.value("advertised.port").as_int();
        let advertised_raw = match self.string("advertised.listeners") {
            Some(a) => Some(a.to_string()),
            None if adv_host.is_some() || adv_port.is_some() => Some(format!(
                "PLAINTEXT://{}:{}",
                bracket_ipv6(adv_host.or(self.string("host.name")).unwrap_or_default()),
                adv_port.unwrap_or_else(|| self.int("port"))
            )),
            None => None,
        };
        self.advertised_listeners = match &advertised_raw {
            Some(raw) => {
                parse_listener_list("advertised.listeners", raw, &self.protocol_map, false)?
            }
            None => self.listeners.clone(),
        };
        let advertised_raw = advertised_raw.unwrap_or_else(|| listeners_raw.clone());

        // Inter-broker listener: inter.broker.listener.name xor security.inter.broker.protocol.
        let (ib_key, ib_name, ib_protocol) = match self.string("inter.broker.listener.name") {
            Some(name) if self.originals.contains_key("security.inter.broker.protocol") => {
                return Err(ConfigError::invalid(
                    "inter.broker.listener.name",
                    name,
                    "Only one of inter.broker.listener.name and security.inter.broker.protocol should be set.",
                ))
            }
            Some(name) => {
                let upper = name.to_ascii_uppercase();
                let protocol = *self.protocol_map.get(&upper).ok_or_else(|| {
                    ConfigError::invalid(
                        "inter.broker.listener.name",
                        name,
                        format!(
                            "Listener with name {upper} defined in inter.broker.listener.name not found in listener.security.protocol.map."
                        ),
                    )
                })?;
                ("inter.broker.listener.name", upper, protocol)
            }
            None => {
                let raw = self.string("security.inter.broker.protocol").unwrap_or("PLAINTEXT");
                let protocol: SecurityProtocol = raw.parse().map_err(|_| {
                    ConfigError::invalid(
                        "security.inter.broker.protocol",
                        raw,
                        format!("Invalid security protocol `{raw}` defined in security.inter.broker.protocol"),
                    )
                })?;
                ("security.inter.broker.protocol", protocol.name().to_string(), protocol)
            }
        };

        let advertised_names: BTreeSet<&str> = self
            .advertised_listeners
            .iter()
            .map(|e| e.listener_name.as_str())
            .collect();
        let listener_names: BTreeSet<&str> = self
            .listeners
            .iter()
            .map(|e| e.listener_name.as_str())
            .collect();
        let join = |s: &BTreeSet<&str>| s.iter().copied().collect::<Vec<_>>().join(",");
        if !advertised_names.contains(ib_name.as_str()) {
            return Err(ConfigError::invalid(
                ib_key,
                &ib_name,
                format!(
                    "inter.broker.listener.name must be a listener name defined in advertised.listeners. \
                     The valid options based on currently configured listeners are {}",
                    join(&advertised_names)
                ),
            ));
        }
        if !advertised_names.is_subset(&listener_names) {
            return Err(ConfigError::invalid(
                "advertised.listeners",
                &advertised_raw,
                format!(
                    "advertised.listeners listener names must be equal to or a subset of the ones defined in listeners. \
                     Found {}. The valid options based on the current configuration are {}",
                    join(&advertised_names),
                    join(&listener_names)
                ),
            ));
        }
        if self
            .advertised_listeners
            .iter()
            .any(|e| e.host == "0.0.0.0")
        {
            return Err(ConfigError::invalid(
                "advertised.listeners",
                &advertised_raw,
                "advertised.listeners cannot use the nonroutable meta-address 0.0.0.0. Use a routable IP address.",
            ));
        }

        let control_plane = match self.string("control.plane.listener.name") {
            None => None,
            Some(name) => {
                let upper = name.to_ascii_uppercase();
                if !self.protocol_map.contains_key(&upper) {
                    return Err(ConfigError::invalid(
                        "control.plane.listener.name",
                        name,
                        format!(
                            "Listener with {upper} defined in control.plane.listener.name not found in listener.security.protocol.map."
                        ),
                    ));
                }
                if !advertised_names.contains(upper.as_str()) {
                    return Err(ConfigError::invalid(
                        "control.plane.listener.name",
                        name,
                        format!(
                            "control.plane.listener.name must be a listener name defined in advertised.listeners. \
                             The valid options based on currently configured listeners are {}",
                            join(&advertised_names)
                        ),
                    ));
                }
                if upper == ib_name {
                    return Err(ConfigError::invalid(
                        "control.plane.listener.name",
                        name,
                        format!(
                            "control.plane.listener.name, when defined, should have a different value from the inter broker listener name. \
                             Currently they both have the value {upper}"
                        ),
                    ));
                }
                Some(upper)
            }
        };
        self.inter_broker_listener_name = ib_name;
        self.inter_broker_security_protocol = ib_protocol;
        self.control_plane_listener_name = control_plane;
        Ok(())
    }

    fn resolve_versions(&mut self) -> Result<(), ConfigError> {
        let ibp_raw = self.inter_broker_protocol_version().to_string();
        self.ibp = ProtocolVersion::parse(&ibp_raw)
            .map_err(|r| ConfigError::invalid("inter.broker.protocol.version", &ibp_raw, r))?;
        let mfv_raw = self
            .string("log.message.format.version")
            .unwrap_or(def::DEFAULT_IBP)
            .to_string();
        let configured = ProtocolVersion::parse(&mfv_raw)
            .map_err(|r| ConfigError::invalid("log.message.format.version", &mfv_raw, r))?;
        let explicit = self.originals.contains_key("log.message.format.version");
        self.log_message_format_version = if self.ibp >= ProtocolVersion::KAFKA_3_0_IV1 {
            // KIP-724: from IBP 3.0 the message format follows the IBP and the key is ignored.
            if explicit && configured < ProtocolVersion::KAFKA_3_0_IV1 {
                self.warnings.push(format!(
                    "log.message.format.version {mfv_raw} is ignored because inter.broker.protocol.version is {ibp_raw} (3.0 or later)"
                ));
            }
            self.ibp
        } else if explicit {
            configured
        } else {
            // Unset: the format the IBP allows (Kafka 2.8 defaulted to its latest version,
            // which refused to start with an older IBP unless this was set too).
            self.ibp
        };
        let mfv = self.log_message_format_version;
        if mfv.record_version() > self.ibp.record_version() {
            return Err(ConfigError::invalid(
                "log.message.format.version",
                &mfv_raw,
                format!(
                    "log.message.format.version {mfv_raw} can only be used when inter.broker.protocol.version is set to version {} or higher",
                    ProtocolVersion::min_supported_for(mfv.record_version()).short_version()
                ),
            ));
        }
        if self.offsets_topic_compression_codec() == 4 && self.ibp < ProtocolVersion::KAFKA_2_1_IV0
        {
            return Err(ConfigError::invalid(
                "offsets.topic.compression.codec",
                "4",
                "offsets.topic.compression.codec zstd can only be used when inter.broker.protocol.version is set to version 2.1 or higher",
            ));
        }
        let uses_sasl = matches!(
            self.inter_broker_security_protocol,
            SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl
        );
        let mechanism = self
            .string("sasl.mechanism.inter.broker.protocol")
            .unwrap_or("GSSAPI");
        if uses_sasl && self.ibp < ProtocolVersion::KAFKA_0_10_0_IV1 && mechanism != "GSSAPI" {
            return Err(ConfigError::invalid(
                "sasl.mechanism.inter.broker.protocol",
                mechanism,
                format!(
                    "Only GSSAPI mechanism is supported for inter-broker communication with SASL when inter.broker.protocol.version is set to {ibp_raw}"
                ),
            ));
        }
        let enabled = self
            .listener_config(&self.inter_broker_listener_name, "sasl.enabled.mechanisms")
            .and_then(ConfigValue::as_list)
            .unwrap_or_default();
        if uses_sasl && !enabled.iter().any(|m| m == mechanism) {
            return Err(ConfigError::invalid(
                "sasl.mechanism.inter.broker.protocol",
                mechanism,
                "sasl.mechanism.inter.broker.protocol must be included in sasl.enabled.mechanisms when SASL is used for inter-broker communication",
            ));
        }
        Ok(())
    }

    fn validate_network_rules(&mut self) -> Result<(), ConfigError> {
        let queued = self.long("queued.max.request.bytes");
        if queued > 0 && queued < i64::from(self.socket_request_max_bytes()) {
            return Err(ConfigError::invalid(
                "queued.max.request.bytes",
                queued.to_string(),
                "queued.max.request.bytes must be larger or equal to socket.request.max.bytes",
            ));
        }
        let raw = self
            .string("max.connections.per.ip.overrides")
            .unwrap_or_default()
            .to_string();
        let mut overrides = BTreeMap::new();
        for (host, n) in parse_csv_map(&raw).map_err(|r| {
            ConfigError::invalid(
                "max.connections.per.ip.overrides",
                &raw,
                format!(
                    "Error parsing configuration property 'max.connections.per.ip.overrides': {r}"
                ),
            )
        })? {
            let n: i32 = n.parse().map_err(|_| {
                ConfigError::invalid(
                    "max.connections.per.ip.overrides",
                    &raw,
                    format!("Error parsing configuration property 'max.connections.per.ip.overrides': {n} is not a number"),
                )
            })?;
            overrides.insert(host, n);
        }
        if self.max_connections_per_ip() == 0 && overrides.is_empty() {
            return Err(ConfigError::invalid(
                "max.connections.per.ip",
                "0",
                "max.connections.per.ip can be set to zero only if max.connections.per.ip.overrides property is set.",
            ));
        }
        self.max_connections_per_ip_overrides = overrides;
        let idle = self.connections_max_idle_ms();
        let delay = self.int("connection.failed.authentication.delay.ms");
        if idle >= 0 && i64::from(delay) >= idle {
            return Err(ConfigError::invalid(
                "connection.failed.authentication.delay.ms",
                delay.to_string(),
                format!(
                    "connection.failed.authentication.delay.ms={delay} should always be less than connections.max.idle.ms={idle} to prevent failed authentication responses from timing out"
                ),
            ));
        }
        Ok(())
    }

    // ------------------------------------------------------------------------------------
    // Internal typed reads of defined keys.
    // ------------------------------------------------------------------------------------

    fn value(&self, key: &str) -> &ConfigValue {
        debug_assert!(def::find(key).is_some(), "undefined config key {key}");
        self.values.get(key).unwrap_or(&NULL_VALUE)
    }

    fn int(&self, key: &str) -> i32 {
        self.value(key).as_int().unwrap_or_default()
    }

    fn short(&self, key: &str) -> i16 {
        self.value(key).as_short().unwrap_or_default()
    }

    fn long(&self, key: &str) -> i64 {
        self.value(key).as_long().unwrap_or_default()
    }

    fn flag(&self, key: &str) -> bool {
        self.value(key).as_bool().unwrap_or_default()
    }

    fn string(&self, key: &str) -> Option<&str> {
        self.value(key).as_str()
    }

    fn list(&self, key: &str) -> Vec<String> {
        self.value(key)
            .as_list()
            .map(<[String]>::to_vec)
            .unwrap_or_default()
    }

    // ------------------------------------------------------------------------------------
    // Generic access.
    // ------------------------------------------------------------------------------------

    /// The parsed value of a defined key (or of a parsed `listener.name.<l>.<key>` entry).
    pub fn get(&self, key: &str) -> Option<&ConfigValue> {
        self.values
            .get(key)
            .or_else(|| self.listener_values.get(key))
    }

    /// `INT` (or `SHORT`) value; `None` when null, absent or of another type.
    pub fn get_int(&self, key: &str) -> Option<i32> {
        self.get(key).and_then(ConfigValue::as_int)
    }

    pub fn get_short(&self, key: &str) -> Option<i16> {
        self.get(key).and_then(ConfigValue::as_short)
    }

    /// `LONG` (or `INT`/`SHORT`) value.
    pub fn get_long(&self, key: &str) -> Option<i64> {
        self.get(key).and_then(ConfigValue::as_long)
    }

    pub fn get_bool(&self, key: &str) -> Option<bool> {
        self.get(key).and_then(ConfigValue::as_bool)
    }

    pub fn get_double(&self, key: &str) -> Option<f64> {
        self.get(key).and_then(ConfigValue::as_double)
    }

    /// `STRING` or `CLASS` value.
    pub fn get_string(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(ConfigValue::as_str)
    }

    pub fn get_list(&self, key: &str) -> Option<&[String]> {
        self.get(key).and_then(ConfigValue::as_list)
    }

    /// The secret of a `PASSWORD` key.
    pub fn get_password(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(ConfigValue::as_password)
    }

    /// The value of `key` for one listener: `listener.name.<listener>.<key>` if set, else the
    /// broker-wide `key` (Kafka's `valuesWithPrefixOverride`).
    pub fn listener_config(&self, listener_name: &str, key: &str) -> Option<&ConfigValue> {
        let prefixed = format!(
            "{LISTENER_PREFIX}{}.{key}",
            listener_name.to_ascii_lowercase()
        );
        self.listener_values
            .get(&prefixed)
            .or_else(|| self.values.get(key))
    }

    /// The effective raw key/values (static file with the dynamic layers applied).
    pub fn originals(&self) -> &BTreeMap<String, String> {
        &self.originals
    }

    /// The static layer only (`server.properties` and `--override`s).
    pub fn static_originals(&self) -> &BTreeMap<String, String> {
        &self.static_originals
    }

    /// The accepted entries of `/config/brokers/<default>`.
    pub fn dynamic_default_configs(&self) -> &BTreeMap<String, String> {
        &self.dynamic_default
    }

    /// The accepted entries of `/config/brokers/<id>`.
    pub fn dynamic_broker_configs(&self) -> &BTreeMap<String, String> {
        &self.dynamic_broker
    }

    /// Keys set by either dynamic layer.
    pub fn dynamic_keys(&self) -> Vec<String> {
        let keys: BTreeSet<&String> = self
            .dynamic_default
            .keys()
            .chain(self.dynamic_broker.keys())
            .collect();
        keys.into_iter().cloned().collect()
    }

    /// Kafka's string form of the effective value (as DescribeConfigs reports it): passwords
    /// `[hidden]`, `None` for null or unknown keys.
    pub fn value_string(&self, key: &str) -> Option<String> {
        if let Some(v) = self.get(key) {
            return v.to_kafka_string();
        }
        let raw = self.originals.get(key)?;
        if looks_sensitive(key) {
            Some(HIDDEN.to_string())
        } else {
            Some(raw.clone())
        }
    }

    /// Where the effective value of `key` comes from; `None` for an unknown key not supplied.
    pub fn source(&self, key: &str) -> Option<ConfigSource> {
        if !self.originals.contains_key(key) {
            return def::find(key).map(|_| ConfigSource::Default);
        }
        Some(if self.dynamic_broker.contains_key(key) {
            ConfigSource::DynamicBroker
        } else if self.dynamic_default.contains_key(key) {
            ConfigSource::DynamicDefaultBroker
        } else {
            ConfigSource::StaticBroker
        })
    }

    /// True when a defined key takes its built-in default.
    pub fn is_default(&self, key: &str) -> bool {
        self.source(key) == Some(ConfigSource::Default)
    }

    /// Supplied keys that are not broker configs (Kafka logs "The configuration 'x' was
    /// supplied but isn't a known config."). Listener-prefixed keys are never reported.
    pub fn unknown_keys(&self) -> Vec<String> {
        self.originals
            .keys()
            .filter(|k| def::find(k).is_none() && !k.starts_with(LISTENER_PREFIX))
            .cloned()
            .collect()
    }

    /// Non-fatal findings worth a log line (e.g. an ignored `log.message.format.version`).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    // ------------------------------------------------------------------------------------
    // Identity and ZooKeeper.
    // ------------------------------------------------------------------------------------

    /// `broker.id` as configured (-1 = take it from meta.properties or generate it).
    pub fn broker_id(&self) -> i32 {
        self.int("broker.id")
    }

    pub fn broker_id_generation_enable(&self) -> bool {
        self.flag("broker.id.generation.enable")
    }

    pub fn reserved_broker_max_id(&self) -> i32 {
        self.int("reserved.broker.max.id")
    }

    pub fn broker_rack(&self) -> Option<&str> {
        self.string("broker.rack")
    }

    pub fn zookeeper_connect(&self) -> &str {
        self.string("zookeeper.connect").unwrap_or_default()
    }

    pub fn zookeeper_session_timeout(&self) -> Duration {
        millis(i64::from(self.int("zookeeper.session.timeout.ms")))
    }

    /// `zookeeper.connection.timeout.ms`, or the session timeout when null.
    pub fn zookeeper_connection_timeout(&self) -> Duration {
        match self.value("zookeeper.connection.timeout.ms").as_int() {
            Some(ms) => millis(i64::from(ms)),
            None => self.zookeeper_session_timeout(),
        }
    }

    pub fn zookeeper_max_in_flight_requests(&self) -> i32 {
        self.int("zookeeper.max.in.flight.requests")
    }

    pub fn zookeeper_set_acl(&self) -> bool {
        self.flag("zookeeper.set.acl")
    }

    pub fn zookeeper_ssl_client_enable(&self) -> bool {
        self.flag("zookeeper.ssl.client.enable")
    }

    // ------------------------------------------------------------------------------------
    // Listeners and protocol versions.
    // ------------------------------------------------------------------------------------

    /// The endpoints to bind (an empty host = all interfaces).
    pub fn listeners(&self) -> Vec<EndPoint> {
        self.listeners.clone()
    }

    /// The endpoints published in `/brokers/ids/<id>` (an empty host = this machine's name).
    pub fn advertised_listeners(&self) -> Vec<EndPoint> {
        self.advertised_listeners.clone()
    }

    /// Listener name (upper case) → security protocol.
    pub fn listener_security_protocol_map(&self) -> BTreeMap<String, SecurityProtocol> {
        self.protocol_map.clone()
    }

    /// The listener used between brokers and by the controller (upper case).
    pub fn inter_broker_listener_name(&self) -> String {
        self.inter_broker_listener_name.clone()
    }

    pub fn inter_broker_security_protocol(&self) -> SecurityProtocol {
        self.inter_broker_security_protocol
    }

    /// The dedicated controller listener (upper case), if configured.
    pub fn control_plane_listener_name(&self) -> Option<String> {
        self.control_plane_listener_name.clone()
    }

    /// `inter.broker.protocol.version` as configured (e.g. `2.8`); see [`KafkaConfig::ibp`].
    pub fn inter_broker_protocol_version(&self) -> &str {
        self.string("inter.broker.protocol.version")
            .unwrap_or(def::DEFAULT_IBP)
    }

    /// The resolved inter-broker protocol version.
    pub fn ibp(&self) -> ProtocolVersion {
        self.ibp
    }

    /// The effective message format version (the IBP unless set explicitly below IBP 3.0).
    pub fn log_message_format_version(&self) -> ProtocolVersion {
        self.log_message_format_version
    }

    // ------------------------------------------------------------------------------------
    // Network and threads.
    // ------------------------------------------------------------------------------------

    pub fn num_network_threads(&self) -> i32 {
        self.int("num.network.threads")
    }

    pub fn num_io_threads(&self) -> i32 {
        self.int("num.io.threads")
    }

    pub fn background_threads(&self) -> i32 {
        self.int("background.threads")
    }

    pub fn num_replica_fetchers(&self) -> i32 {
        self.int("num.replica.fetchers")
    }

    pub fn num_recovery_threads_per_data_dir(&self) -> i32 {
        self.int("num.recovery.threads.per.data.dir")
    }

    /// `num.replica.alter.log.dirs.threads`, or the number of log dirs when null.
    pub fn num_replica_alter_log_dirs_threads(&self) -> i32 {
        self.value("num.replica.alter.log.dirs.threads")
            .as_int()
            .unwrap_or_else(|| i32::try_from(self.log_dirs.len()).unwrap_or(i32::MAX))
    }

    pub fn queued_max_requests(&self) -> i32 {
        self.int("queued.max.requests")
    }

    pub fn queued_max_request_bytes(&self) -> i64 {
        self.long("queued.max.request.bytes")
    }

    pub fn socket_send_buffer_bytes(&self) -> i32 {
        self.int("socket.send.buffer.bytes")
    }

    pub fn socket_receive_buffer_bytes(&self) -> i32 {
        self.int("socket.receive.buffer.bytes")
    }

    pub fn socket_request_max_bytes(&self) -> i32 {
        self.int("socket.request.max.bytes")
    }

    pub fn socket_listen_backlog_size(&self) -> i32 {
        self.int("socket.listen.backlog.size")
    }

    pub fn connections_max_idle_ms(&self) -> i64 {
        self.long("connections.max.idle.ms")
    }

    pub fn max_connections(&self) -> i32 {
        self.int("max.connections")
    }

    pub fn max_connections_per_ip(&self) -> i32 {
        self.int("max.connections.per.ip")
    }

    /// `max.connections.per.ip.overrides` as host/IP → limit.
    pub fn max_connections_per_ip_overrides(&self) -> BTreeMap<String, i32> {
        self.max_connections_per_ip_overrides.clone()
    }

    pub fn max_connection_creation_rate(&self) -> i32 {
        self.int("max.connection.creation.rate")
    }

    pub fn request_timeout_ms(&self) -> i32 {
        self.int("request.timeout.ms")
    }

    pub fn message_max_bytes(&self) -> i32 {
        self.int("message.max.bytes")
    }

    pub fn fetch_max_bytes(&self) -> i32 {
        self.int("fetch.max.bytes")
    }

    pub fn max_incremental_fetch_session_cache_slots(&self) -> i32 {
        self.int("max.incremental.fetch.session.cache.slots")
    }

    pub fn authorizer_class_name(&self) -> &str {
        self.string("authorizer.class.name").unwrap_or_default()
    }

    pub fn password_encoder_secret(&self) -> Option<&str> {
        self.value("password.encoder.secret").as_password()
    }

    // ------------------------------------------------------------------------------------
    // Log storage.
    // ------------------------------------------------------------------------------------

    /// `log.dirs`, else `log.dir`, split on commas.
    pub fn log_dirs(&self) -> Vec<PathBuf> {
        self.log_dirs.clone()
    }

    pub fn log_segment_bytes(&self) -> i32 {
        self.int("log.segment.bytes")
    }

    /// Effective retention: `log.retention.ms` > `.minutes` > `.hours`; any negative → -1.
    pub fn log_retention_ms(&self) -> i64 {
        const MINUTE: i64 = 60 * 1000;
        let ms = match self.value("log.retention.ms").as_long() {
            Some(ms) => ms,
            None => match self.value("log.retention.minutes").as_int() {
                Some(m) => MINUTE * i64::from(m),
                None => 60 * MINUTE * i64::from(self.int("log.retention.hours")),
            },
        };
        if ms < 0 {
            -1
        } else {
            ms
        }
    }

    /// Effective segment roll time: `log.roll.ms` > `log.roll.hours`.
    pub fn log_roll_ms(&self) -> i64 {
        self.value("log.roll.ms")
            .as_long()
            .unwrap_or_else(|| 3_600_000 * i64::from(self.int("log.roll.hours")))
    }

    /// Effective roll jitter: `log.roll.jitter.ms` > `log.roll.jitter.hours`.
    pub fn log_roll_jitter_ms(&self) -> i64 {
        self.value("log.roll.jitter.ms")
            .as_long()
            .unwrap_or_else(|| 3_600_000 * i64::from(self.int("log.roll.jitter.hours")))
    }

    /// Effective flush age: `log.flush.interval.ms` > `log.flush.scheduler.interval.ms`.
    pub fn log_flush_interval_ms(&self) -> i64 {
        self.value("log.flush.interval.ms")
            .as_long()
            .unwrap_or_else(|| self.long("log.flush.scheduler.interval.ms"))
    }

    pub fn log_flush_interval_messages(&self) -> i64 {
        self.long("log.flush.interval.messages")
    }

    pub fn log_flush_scheduler_interval_ms(&self) -> i64 {
        self.long("log.flush.scheduler.interval.ms")
    }

    pub fn log_flush_offset_checkpoint_interval_ms(&self) -> i64 {
        i64::from(self.int("log.flush.offset.checkpoint.interval.ms"))
    }

    pub fn log_flush_start_offset_checkpoint_interval_ms(&self) -> i64 {
        i64::from(self.int("log.flush.start.offset.checkpoint.interval.ms"))
    }

    pub fn log_retention_bytes(&self) -> i64 {
        self.long("log.retention.bytes")
    }

    pub fn log_retention_check_interval_ms(&self) -> i64 {
        self.long("log.retention.check.interval.ms")
    }

    pub fn log_cleanup_policy(&self) -> Vec<String> {
        self.list("log.cleanup.policy")
    }

    pub fn log_cleaner_enable(&self) -> bool {
        self.flag("log.cleaner.enable")
    }

    pub fn log_cleaner_threads(&self) -> i32 {
        self.int("log.cleaner.threads")
    }

    pub fn log_index_size_max_bytes(&self) -> i32 {
        self.int("log.index.size.max.bytes")
    }

    pub fn log_index_interval_bytes(&self) -> i32 {
        self.int("log.index.interval.bytes")
    }

    pub fn log_segment_delete_delay_ms(&self) -> i64 {
        self.long("log.segment.delete.delay.ms")
    }

    pub fn log_preallocate(&self) -> bool {
        self.flag("log.preallocate")
    }

    pub fn compression_type(&self) -> &str {
        self.string("compression.type").unwrap_or("producer")
    }

    pub fn log_message_timestamp_type(&self) -> &str {
        self.string("log.message.timestamp.type")
            .unwrap_or("CreateTime")
    }

    pub fn log_message_downconversion_enable(&self) -> bool {
        self.flag("log.message.downconversion.enable")
    }

    // ------------------------------------------------------------------------------------
    // Topics and replication.
    // ------------------------------------------------------------------------------------

    pub fn num_partitions(&self) -> i32 {
        self.int("num.partitions")
    }

    pub fn default_replication_factor(&self) -> i32 {
        self.int("default.replication.factor")
    }

    pub fn min_insync_replicas(&self) -> i32 {
        self.int("min.insync.replicas")
    }

    pub fn unclean_leader_election_enable(&self) -> bool {
        self.flag("unclean.leader.election.enable")
    }

    pub fn auto_create_topics_enable(&self) -> bool {
        self.flag("auto.create.topics.enable")
    }

    pub fn delete_topic_enable(&self) -> bool {
        self.flag("delete.topic.enable")
    }

    pub fn auto_leader_rebalance_enable(&self) -> bool {
        self.flag("auto.leader.rebalance.enable")
    }

    pub fn leader_imbalance_per_broker_percentage(&self) -> i32 {
        self.int("leader.imbalance.per.broker.percentage")
    }

    pub fn leader_imbalance_check_interval_seconds(&self) -> i64 {
        self.long("leader.imbalance.check.interval.seconds")
    }

    pub fn replica_lag_time_max_ms(&self) -> i64 {
        self.long("replica.lag.time.max.ms")
    }

    pub fn replica_fetch_max_bytes(&self) -> i32 {
        self.int("replica.fetch.max.bytes")
    }

    pub fn replica_fetch_response_max_bytes(&self) -> i32 {
        self.int("replica.fetch.response.max.bytes")
    }

    pub fn replica_fetch_wait_max_ms(&self) -> i32 {
        self.int("replica.fetch.wait.max.ms")
    }

    pub fn replica_fetch_min_bytes(&self) -> i32 {
        self.int("replica.fetch.min.bytes")
    }

    pub fn replica_fetch_backoff_ms(&self) -> i32 {
        self.int("replica.fetch.backoff.ms")
    }

    pub fn replica_socket_timeout_ms(&self) -> i32 {
        self.int("replica.socket.timeout.ms")
    }

    pub fn replica_socket_receive_buffer_bytes(&self) -> i32 {
        self.int("replica.socket.receive.buffer.bytes")
    }

    pub fn replica_high_watermark_checkpoint_interval_ms(&self) -> i64 {
        self.long("replica.high.watermark.checkpoint.interval.ms")
    }

    pub fn replica_selector_class(&self) -> Option<&str> {
        self.string("replica.selector.class")
    }

    pub fn controller_socket_timeout_ms(&self) -> i32 {
        self.int("controller.socket.timeout.ms")
    }

    pub fn controlled_shutdown_enable(&self) -> bool {
        self.flag("controlled.shutdown.enable")
    }

    pub fn controlled_shutdown_max_retries(&self) -> i32 {
        self.int("controlled.shutdown.max.retries")
    }

    pub fn controlled_shutdown_retry_backoff_ms(&self) -> i64 {
        self.long("controlled.shutdown.retry.backoff.ms")
    }

    // ------------------------------------------------------------------------------------
    // Group coordinator, offsets and transactions.
    // ------------------------------------------------------------------------------------

    pub fn group_min_session_timeout_ms(&self) -> i32 {
        self.int("group.min.session.timeout.ms")
    }

    pub fn group_max_session_timeout_ms(&self) -> i32 {
        self.int("group.max.session.timeout.ms")
    }

    pub fn group_initial_rebalance_delay_ms(&self) -> i32 {
        self.int("group.initial.rebalance.delay.ms")
    }

    pub fn group_max_size(&self) -> i32 {
        self.int("group.max.size")
    }

    pub fn offsets_topic_num_partitions(&self) -> i32 {
        self.int("offsets.topic.num.partitions")
    }

    pub fn offsets_topic_replication_factor(&self) -> i16 {
        self.short("offsets.topic.replication.factor")
    }

    pub fn offsets_topic_segment_bytes(&self) -> i32 {
        self.int("offsets.topic.segment.bytes")
    }

    /// 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd.
    pub fn offsets_topic_compression_codec(&self) -> i32 {
        self.int("offsets.topic.compression.codec")
    }

    pub fn offsets_retention_minutes(&self) -> i32 {
        self.int("offsets.retention.minutes")
    }

    pub fn offsets_retention_check_interval_ms(&self) -> i64 {
        self.long("offsets.retention.check.interval.ms")
    }

    pub fn offsets_commit_timeout_ms(&self) -> i32 {
        self.int("offsets.commit.timeout.ms")
    }

    pub fn offsets_commit_required_acks(&self) -> i16 {
        self.short("offsets.commit.required.acks")
    }

    pub fn offsets_load_buffer_size(&self) -> i32 {
        self.int("offsets.load.buffer.size")
    }

    pub fn offset_metadata_max_bytes(&self) -> i32 {
        self.int("offset.metadata.max.bytes")
    }

    pub fn transaction_state_log_num_partitions(&self) -> i32 {
        self.int("transaction.state.log.num.partitions")
    }

    pub fn transaction_state_log_replication_factor(&self) -> i16 {
        self.short("transaction.state.log.replication.factor")
    }

    pub fn transaction_state_log_min_isr(&self) -> i32 {
        self.int("transaction.state.log.min.isr")
    }

    pub fn transaction_state_log_segment_bytes(&self) -> i32 {
        self.int("transaction.state.log.segment.bytes")
    }

    pub fn transaction_state_log_load_buffer_size(&self) -> i32 {
        self.int("transaction.state.log.load.buffer.size")
    }

    pub fn transaction_max_timeout_ms(&self) -> i32 {
        self.int("transaction.max.timeout.ms")
    }

    pub fn transactional_id_expiration_ms(&self) -> i32 {
        self.int("transactional.id.expiration.ms")
    }

    pub fn transaction_abort_timed_out_transaction_cleanup_interval_ms(&self) -> i32 {
        self.int("transaction.abort.timed.out.transaction.cleanup.interval.ms")
    }

    pub fn transaction_remove_expired_transaction_cleanup_interval_ms(&self) -> i32 {
        self.int("transaction.remove.expired.transaction.cleanup.interval.ms")
    }

    pub fn producer_id_expiration_ms(&self) -> i32 {
        self.int("producer.id.expiration.ms")
    }
}

// Hand-written: never print passwords or raw originals (which hold secrets).
impl fmt::Debug for KafkaConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let non_default: BTreeMap<&str, &ConfigValue> = self
            .values
            .iter()
            .filter(|(k, _)| self.originals.contains_key(**k))
            .map(|(k, v)| (*k, v))
            .collect();
        f.debug_struct("KafkaConfig")
            .field("configured", &non_default)
            .field("dynamic_keys", &self.dynamic_keys())
            .field("unknown_keys", &self.unknown_keys())
            .finish()
    }
}

fn millis(ms: i64) -> Duration {
    Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

fn bracket_ipv6(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}

/// Whether an unknown key may hold a secret: it ends like a password key (Kafka's
/// `isPasswordConfig`, which also catches `listener.name.x.plain.sasl.jaas.config`).
fn looks_sensitive(key: &str) -> bool {
    def::all()
        .iter()
        .any(|d| d.kind == ConfigType::Password && key.ends_with(d.name))
}

/// Splits `listener.name.<listener>.<base>` into `(listener, base)`.
pub(crate) fn split_listener_key(key: &str) -> Option<(&str, &str)> {
    key.strip_prefix(LISTENER_PREFIX)?.split_once('.')
}

/// Parses every listener-prefixed override whose base key is defined, with the base key's
/// type and rules (Kafka would only fail when the listener is created; failing at load is
/// kinder). Errors name the full prefixed key.
fn parse_listener_overrides(
    originals: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, ConfigValue>, ConfigError> {
    let mut out = BTreeMap::new();
    for (key, raw) in originals.range(LISTENER_PREFIX.to_string()..) {
        if !key.starts_with(LISTENER_PREFIX) {
            break;
        }
        let Some(base) = split_listener_key(key).and_then(|(_, base)| def::find(base)) else {
            continue;
        };
        let v = def::parse_checked(key, base.kind, base.validator, raw)?;
        out.insert(key.clone(), v);
    }
    Ok(out)
}

/// `listener.security.protocol.map`: `NAME:PROTOCOL,...`; names upper-cased like Kafka's
/// `ListenerName.normalised`.
fn parse_protocol_map(raw: &str) -> Result<BTreeMap<String, SecurityProtocol>, ConfigError> {
    const KEY: &str = "listener.security.protocol.map";
    let entries = parse_csv_map(raw).map_err(|r| {
        ConfigError::invalid(
            KEY,
            raw,
            format!("Error parsing configuration property '{KEY}': {r}"),
        )
    })?;
    let mut map = BTreeMap::new();
    for (name, protocol) in entries {
        let p: SecurityProtocol = protocol.parse().map_err(|_| {
            ConfigError::invalid(
                KEY,
                raw,
                format!("Invalid security protocol `{protocol}` defined in {KEY}"),
            )
        })?;
        map.insert(name.to_ascii_uppercase(), p);
    }
    Ok(map)
}

/// Kafka's `CoreUtils.parseCsvMap`: `k:v,k:v` split at the last `:` of each entry.
fn parse_csv_map(raw: &str) -> Result<Vec<(String, String)>, String> {
    if raw.is_empty() {
        return Ok(Vec::new());
    }
    raw.split(',')
        .map(|entry| {
            let entry = entry.trim();
            match entry.rsplit_once(':') {
                Some((k, v)) if !k.trim().is_empty() => {
                    Ok((k.trim().to_string(), v.trim().to_string()))
                }
                _ => Err(format!("entry '{entry}' is not in key:value format")),
            }
        })
        .collect()
}

/// Kafka's `CoreUtils.listenerListToEndPoints`.
fn parse_listener_list(
    key: &str,
    raw: &str,
    protocol_map: &BTreeMap<String, SecurityProtocol>,
    require_distinct_ports: bool,
) -> Result<Vec<EndPoint>, ConfigError> {
    let mut endpoints = Vec::new();
    for item in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let ep = EndPoint::parse(item, protocol_map).map_err(|e| {
            let reason = match e {
                EndPointError::Malformed(s) => format!("Unable to parse {s} to a broker endpoint"),
                EndPointError::UnmappedListener(name) => {
                    format!("No security protocol defined for listener {name}")
                }
                EndPointError::UnknownSecurityProtocol(p) => {
                    format!("Invalid security protocol {p}")
                }
            };
            ConfigError::invalid(key, raw, reason)
        })?;
        endpoints.push(ep);
    }
    let names: BTreeSet<&str> = endpoints.iter().map(|e| e.listener_name.as_str()).collect();
    if names.len() != endpoints.len() {
        return Err(ConfigError::invalid(
            key,
            raw,
            format!("Each listener must have a different name, listeners: {raw}"),
        ));
    }
    if require_distinct_ports {
        // Port 0 (ephemeral, used by tests) may repeat.
        let ports: Vec<u16> = endpoints
            .iter()
            .map(|e| e.port)
            .filter(|p| *p != 0)
            .collect();
        let distinct: BTreeSet<u16> = ports.iter().copied().collect();
        if distinct.len() != ports.len() {
            return Err(ConfigError::invalid(
                key,
                raw,
                format!("Each listener must have a different port, listeners: {raw}"),
            ));
        }
    }
    Ok(endpoints)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn props(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        let mut p: BTreeMap<String, String> = BTreeMap::new();
        p.insert("zookeeper.connect".into(), "localhost:2181".into());
        for (k, v) in pairs {
            p.insert((*k).into(), (*v).into());
        }
        p
    }

    fn config(pairs: &[(&str, &str)]) -> KafkaConfig {
        KafkaConfig::from_props(&props(pairs)).unwrap()
    }

    fn error(pairs: &[(&str, &str)]) -> String {
        KafkaConfig::from_props(&props(pairs))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn defaults_equal_kafkas() {
        let c = config(&[]);
        assert_eq!(c.broker_id(), -1);
        assert!(c.broker_id_generation_enable());
        assert_eq!(c.reserved_broker_max_id(), 1000);
        assert_eq!(c.broker_rack(), None);
        assert_eq!(c.zookeeper_session_timeout(), Duration::from_millis(18000));
        assert_eq!(
            c.zookeeper_connection_timeout(),
            Duration::from_millis(18000)
        );
        assert!(!c.zookeeper_set_acl());
        assert_eq!(c.num_partitions(), 1);
        assert_eq!(c.default_replication_factor(), 1);
        assert!(c.auto_create_topics_enable());
        assert!(c.delete_topic_enable());
        assert!(c.controlled_shutdown_enable());
        assert_eq!(c.socket_request_max_bytes(), 104_857_600);
        assert_eq!(c.message_max_bytes(), 1_048_588);
        assert_eq!(c.num_network_threads(), 3);
        assert_eq!(c.num_io_threads(), 8);
        assert_eq!(c.log_retention_ms(), 168 * 3_600_000);
        assert_eq!(c.log_roll_ms(), 168 * 3_600_000);
        assert_eq!(c.log_roll_jitter_ms(), 0);
        assert_eq!(c.log_flush_interval_ms(), i64::MAX);
        assert_eq!(c.log_dirs(), vec![PathBuf::from("/tmp/kafka-logs")]);
        assert_eq!(c.offsets_topic_replication_factor(), 3);
        assert_eq!(c.offsets_commit_required_acks(), -1);
        assert_eq!(c.transaction_state_log_min_isr(), 2);
        assert_eq!(c.group_max_size(), i32::MAX);
        assert_eq!(c.compression_type(), "producer");
        assert_eq!(c.inter_broker_protocol_version(), "3.9-IV0");
        assert_eq!(c.ibp(), ProtocolVersion::LATEST);
        assert_eq!(c.log_message_format_version(), ProtocolVersion::LATEST);
        assert_eq!(c.inter_broker_listener_name(), "PLAINTEXT");
        assert_eq!(
            c.inter_broker_security_protocol(),
            SecurityProtocol::Plaintext
        );
        assert_eq!(c.num_replica_alter_log_dirs_threads(), 1);
        assert_eq!(c.listener_security_protocol_map().len(), 4);
        let l = c.listeners();
        assert_eq!(l.len(), 1);
        assert_eq!(l[0].connection_string(), "PLAINTEXT://:9092");
        assert_eq!(c.advertised_listeners(), l);
        assert!(c.unknown_keys().is_empty());
        assert!(c.is_default("num.partitions"));
        assert_eq!(
            c.source("zookeeper.connect"),
            Some(ConfigSource::StaticBroker)
        );
        assert_eq!(c.source("nope"), None);
    }

    #[test]
    fn every_accessor_reads_a_defined_key() {
        // The internal readers debug_assert that keys exist; calling every accessor on the
        // defaults catches a misspelt key.
        let c = config(&[]);
        let _ = (
            c.zookeeper_max_in_flight_requests(),
            c.zookeeper_ssl_client_enable(),
            c.control_plane_listener_name(),
            c.background_threads(),
            c.num_replica_fetchers(),
            c.num_recovery_threads_per_data_dir(),
            c.queued_max_requests(),
            c.queued_max_request_bytes(),
            c.socket_send_buffer_bytes(),
            c.socket_receive_buffer_bytes(),
            c.socket_listen_backlog_size(),
            c.connections_max_idle_ms(),
            c.max_connections(),
            c.max_connections_per_ip(),
            c.max_connections_per_ip_overrides(),
            c.max_connection_creation_rate(),
            c.request_timeout_ms(),
            c.fetch_max_bytes(),
            c.max_incremental_fetch_session_cache_slots(),
            c.authorizer_class_name(),
            c.password_encoder_secret(),
        );
        let _ = (
            c.log_segment_bytes(),
            c.log_flush_interval_messages(),
            c.log_flush_scheduler_interval_ms(),
            c.log_flush_offset_checkpoint_interval_ms(),
            c.log_flush_start_offset_checkpoint_interval_ms(),
            c.log_retention_bytes(),
            c.log_retention_check_interval_ms(),
            c.log_cleanup_policy(),
            c.log_cleaner_enable(),
            c.log_cleaner_threads(),
            c.log_index_size_max_bytes(),
            c.log_index_interval_bytes(),
            c.log_segment_delete_delay_ms(),
            c.log_preallocate(),
            c.log_message_timestamp_type(),
            c.log_message_downconversion_enable(),
            c.min_insync_replicas(),
            c.unclean_leader_election_enable(),
            c.auto_leader_rebalance_enable(),
            c.leader_imbalance_per_broker_percentage(),
        );
        let _ = (
            c.leader_imbalance_check_interval_seconds(),
            c.replica_fetch_max_bytes(),
            c.replica_fetch_response_max_bytes(),
            c.replica_fetch_min_bytes(),
            c.replica_fetch_backoff_ms(),
            c.replica_socket_receive_buffer_bytes(),
            c.replica_high_watermark_checkpoint_interval_ms(),
            c.replica_selector_class(),
            c.controller_socket_timeout_ms(),
            c.controlled_shutdown_max_retries(),
            c.controlled_shutdown_retry_backoff_ms(),
            c.group_min_session_timeout_ms(),
            c.group_max_session_timeout_ms(),
            c.group_initial_rebalance_delay_ms(),
            c.offsets_topic_num_partitions(),
            c.offsets_topic_segment_bytes(),
            c.offsets_retention_minutes(),
            c.offsets_retention_check_interval_ms(),
            c.offsets_commit_timeout_ms(),
            c.offsets_load_buffer_size(),
        );
        let _ = (
            c.offset_metadata_max_bytes(),
            c.transaction_state_log_num_partitions(),
            c.transaction_state_log_replication_factor(),
            c.transaction_state_log_segment_bytes(),
            c.transaction_state_log_load_buffer_size(),
            c.transaction_max_timeout_ms(),
            c.transactional_id_expiration_ms(),
            c.transaction_abort_timed_out_transaction_cleanup_interval_ms(),
            c.transaction_remove_expired_transaction_cleanup_interval_ms(),
            c.producer_id_expiration_ms(),
        );
        assert!(c.warnings().is_empty());
    }

    #[test]
    fn type_errors_name_key_value_and_rule() {
        assert_eq!(
            error(&[("num.partitions", "abc")]),
            "Invalid value abc for configuration num.partitions: Not a number of type INT"
        );
        assert_eq!(
            error(&[("num.io.threads", "0")]),
            "Invalid value 0 for configuration num.io.threads: Value must be at least 1"
        );
        assert_eq!(
            error(&[("auto.create.topics.enable", "yes")]),
            "Invalid value yes for configuration auto.create.topics.enable: Expected value to be either true or false"
        );
    }

    #[test]
    fn zookeeper_connect_is_required() {
        let mut p = props(&[]);
        p.remove("zookeeper.connect");
        let e = KafkaConfig::from_props(&p).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Missing required configuration \"zookeeper.connect\" which has no default value."
        );
    }

    #[test]
    fn broker_id_range() {
        assert!(error(&[("broker.id", "1001")]).contains("reserved.broker.max.id"));
        assert!(error(&[("broker.id", "-2")]).contains("broker.id"));
        assert_eq!(config(&[("broker.id", "1000")]).broker_id(), 1000);
        let c = config(&[
            ("broker.id", "5000"),
            ("broker.id.generation.enable", "false"),
        ]);
        assert_eq!(c.broker_id(), 5000);
        assert!(error(&[
            ("broker.id", "-1"),
            ("broker.id.generation.enable", "false")
        ])
        .contains("broker.id must be greater than or equal to 0"));
    }

    #[test]
    fn listeners_and_advertised_listeners() {
        let c = config(&[
            ("listeners", "PLAINTEXT://:9092,SSL://host1:9093"),
            ("advertised.listeners", "PLAINTEXT://host1:9092"),
        ]);
        assert_eq!(c.listeners().len(), 2);
        assert_eq!(c.listeners()[1].security_protocol, SecurityProtocol::Ssl);
        assert_eq!(
            c.advertised_listeners()[0].connection_string(),
            "PLAINTEXT://host1:9092"
        );

        let e = error(&[("listeners", "FOO://:9092")]);
        assert_eq!(
            e,
            "Invalid value FOO://:9092 for configuration listeners: No security protocol defined for listener FOO"
        );

        let e = error(&[
            ("listeners", "PLAINTEXT://:9092"),
            ("advertised.listeners", "PLAINTEXT://h:9092,SSL://h:9093"),
        ]);
        assert!(e.starts_with("Invalid value PLAINTEXT://h:9092,SSL://h:9093 for configuration advertised.listeners:"), "{e}");
        assert!(e.contains("subset"), "{e}");

        let e = error(&[("advertised.listeners", "PLAINTEXT://0.0.0.0:9092")]);
        assert!(
            e.contains("advertised.listeners") && e.contains("0.0.0.0"),
            "{e}"
        );

        let e = error(&[("listeners", "PLAINTEXT://:9092,PLAINTEXT://:9093")]);
        assert!(e.contains("different name"), "{e}");
        let e = error(&[("listeners", "PLAINTEXT://:9092,SSL://:9092")]);
        assert!(e.contains("different port"), "{e}");
        assert!(error(&[("listeners", "PLAINTEXT://h")]).contains("Unable to parse"));
    }

    #[test]
    fn custom_listener_names_and_inter_broker_listener() {
        let c = config(&[
            ("listeners", "INTERNAL://:9092,EXTERNAL://:9093"),
            (
                "listener.security.protocol.map",
                "INTERNAL:PLAINTEXT,EXTERNAL:SASL_SSL",
            ),
            ("inter.broker.listener.name", "internal"),
            ("sasl.enabled.mechanisms", "PLAIN"),
            (
                "listener.name.external.sasl.enabled.mechanisms",
                "SCRAM-SHA-512",
            ),
        ]);
        assert_eq!(c.inter_broker_listener_name(), "INTERNAL");
        assert_eq!(
            c.inter_broker_security_protocol(),
            SecurityProtocol::Plaintext
        );
        assert_eq!(
            c.listener_config("EXTERNAL", "sasl.enabled.mechanisms")
                .and_then(ConfigValue::as_list),
            Some(&["SCRAM-SHA-512".to_string()][..])
        );
        assert_eq!(
            c.listener_config("INTERNAL", "sasl.enabled.mechanisms")
                .and_then(ConfigValue::as_list),
            Some(&["PLAIN".to_string()][..])
        );
        assert!(c.unknown_keys().is_empty());

        let e = error(&[
            ("inter.broker.listener.name", "PLAINTEXT"),
            ("security.inter.broker.protocol", "PLAINTEXT"),
        ]);
        assert!(
            e.contains("Only one of inter.broker.listener.name and security.inter.broker.protocol"),
            "{e}"
        );

        let e = error(&[("security.inter.broker.protocol", "SSL")]);
        assert!(
            e.contains("must be a listener name defined in advertised.listeners"),
            "{e}"
        );

        let e = error(&[("listener.security.protocol.map", "PLAINTEXT:BOGUS")]);
        assert!(e.contains("Invalid security protocol `BOGUS`"), "{e}");

        let e = error(&[
            ("listeners", "SASL_PLAINTEXT://:9092"),
            ("security.inter.broker.protocol", "SASL_PLAINTEXT"),
            ("sasl.mechanism.inter.broker.protocol", "PLAIN"),
        ]);
        assert!(
            e.contains("must be included in sasl.enabled.mechanisms"),
            "{e}"
        );

        let e = error(&[
            ("listeners", "PLAINTEXT://:9092,CONTROLLER://:9094"),
            (
                "listener.security.protocol.map",
                "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            ),
            ("control.plane.listener.name", "PLAINTEXT"),
        ]);
        assert!(
            e.contains("different value from the inter broker listener name"),
            "{e}"
        );
        let c = config(&[
            ("listeners", "PLAINTEXT://:9092,CONTROLLER://:9094"),
            (
                "listener.security.protocol.map",
                "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            ),
            ("control.plane.listener.name", "CONTROLLER"),
        ]);
        assert_eq!(
            c.control_plane_listener_name().as_deref(),
            Some("CONTROLLER")
        );
    }

    #[test]
    fn legacy_port_and_host_name() {
        let c = config(&[("port", "9999"), ("host.name", "h1")]);
        assert_eq!(c.listeners()[0].connection_string(), "PLAINTEXT://h1:9999");
        assert_eq!(
            c.advertised_listeners()[0].connection_string(),
            "PLAINTEXT://h1:9999"
        );
        let c = config(&[("port", "9999"), ("advertised.host.name", "pub")]);
        assert_eq!(
            c.advertised_listeners()[0].connection_string(),
            "PLAINTEXT://pub:9999"
        );
        // listeners wins over the legacy pair.
        let c = config(&[("port", "9999"), ("listeners", "PLAINTEXT://:1234")]);
        assert_eq!(c.listeners()[0].port, 1234);
    }

    #[test]
    fn retention_and_roll_precedence() {
        assert_eq!(
            config(&[("log.retention.hours", "1")]).log_retention_ms(),
            3_600_000
        );
        assert_eq!(
            config(&[("log.retention.hours", "1"), ("log.retention.minutes", "2")])
                .log_retention_ms(),
            120_000
        );
        assert_eq!(
            config(&[
                ("log.retention.hours", "1"),
                ("log.retention.minutes", "2"),
                ("log.retention.ms", "5")
            ])
            .log_retention_ms(),
            5
        );
        assert_eq!(config(&[("log.retention.ms", "-5")]).log_retention_ms(), -1);
        assert_eq!(
            config(&[("log.retention.hours", "-1")]).log_retention_ms(),
            -1
        );
        let e = error(&[("log.retention.minutes", "0")]);
        assert!(
            e.starts_with("Invalid value 0 for configuration log.retention.minutes"),
            "{e}"
        );
        assert_eq!(config(&[("log.roll.hours", "2")]).log_roll_ms(), 7_200_000);
        assert_eq!(
            config(&[("log.roll.hours", "2"), ("log.roll.ms", "10")]).log_roll_ms(),
            10
        );
        assert!(error(&[("log.roll.ms", "0")])
            .contains("log.roll.ms must be greater than or equal to 1"));
        assert_eq!(
            config(&[("log.roll.jitter.hours", "1")]).log_roll_jitter_ms(),
            3_600_000
        );
        assert!(error(&[("log.roll.jitter.ms", "-1")]).contains("log.roll.jitter.ms"));
        assert_eq!(
            config(&[("log.flush.scheduler.interval.ms", "7")]).log_flush_interval_ms(),
            7
        );
        assert_eq!(
            config(&[
                ("log.flush.scheduler.interval.ms", "7"),
                ("log.flush.interval.ms", "3")
            ])
            .log_flush_interval_ms(),
            3
        );
    }

    #[test]
    fn other_startup_rules() {
        let c = config(&[("log.dirs", " /a , /b ,"), ("log.dir", "/ignored")]);
        assert_eq!(c.log_dirs(), vec![PathBuf::from("/a"), PathBuf::from("/b")]);
        assert_eq!(c.num_replica_alter_log_dirs_threads(), 2);
        assert!(error(&[("log.dirs", " , ")]).contains("At least one log directory"));
        assert!(
            error(&[("log.cleaner.threads", "200")]).contains("at least 1MB per cleaner thread")
        );
        assert!(config(&[("log.cleaner.threads", "0")]).log_cleaner_threads() == 0);
        assert!(error(&[("replica.fetch.wait.max.ms", "40000")])
            .contains("replica.socket.timeout.ms should always be at least"));
        assert!(error(&[
            ("replica.fetch.wait.max.ms", "20000"),
            ("replica.lag.time.max.ms", "10000")
        ])
        .contains("less than or equal to replica.lag.time.max.ms"));
        assert!(error(&[("offsets.commit.required.acks", "4")])
            .contains("offsets.commit.required.acks"));
        assert!(error(&[("offsets.commit.required.acks", "-2")])
            .contains("offsets.commit.required.acks"));
        assert!(error(&[("compression.type", "brotli")]).contains("compression.type"));
        assert!(error(&[("queued.max.request.bytes", "10")]).contains("queued.max.request.bytes"));
        assert!(
            error(&[("max.connections.per.ip", "0")]).contains("max.connections.per.ip.overrides")
        );
        let c = config(&[
            ("max.connections.per.ip", "0"),
            ("max.connections.per.ip.overrides", "127.0.0.1:5, h:7"),
        ]);
        assert_eq!(c.max_connections_per_ip_overrides().get("h"), Some(&7));
        assert!(error(&[("max.connections.per.ip.overrides", "h:x")])
            .contains("max.connections.per.ip.overrides"));
        assert!(error(&[("connections.max.idle.ms", "50")])
            .contains("connection.failed.authentication.delay.ms"));
        assert!(error(&[("zookeeper.connect", " ")]).contains("zookeeper.connect"));
    }

    #[test]
    fn protocol_versions() {
        let c = config(&[("inter.broker.protocol.version", "2.8")]);
        assert_eq!(c.inter_broker_protocol_version(), "2.8");
        assert_eq!(c.ibp().version(), "2.8-IV1");
        assert_eq!(c.log_message_format_version().version(), "2.8-IV1");
        let c = config(&[
            ("inter.broker.protocol.version", "2.8"),
            ("log.message.format.version", "0.10.2"),
        ]);
        assert_eq!(c.log_message_format_version().record_version(), 1);
        let e = error(&[
            ("inter.broker.protocol.version", "0.10.2"),
            ("log.message.format.version", "2.0"),
        ]);
        assert!(e.contains("can only be used when inter.broker.protocol.version is set to version 0.11.0 or higher"), "{e}");
        let c = config(&[("log.message.format.version", "0.10.2")]);
        assert_eq!(c.log_message_format_version(), ProtocolVersion::LATEST);
        assert_eq!(c.warnings().len(), 1);
        assert!(error(&[("inter.broker.protocol.version", "5.0")])
            .contains("inter.broker.protocol.version"));
    }

    #[test]
    fn unknown_keys_are_reported_and_values_described() {
        let c = config(&[
            ("some.typo", "1"),
            ("listener.name.ssl.ssl.keystore.location", "/ks"),
            ("listener.name.ssl.ssl.keystore.password", "secret"),
            ("listener.name.sasl_ssl.plain.sasl.jaas.config", "secret"),
            ("ssl.key.password", "secret"),
            ("log.cleanup.policy", "compact, delete"),
        ]);
        assert_eq!(c.unknown_keys(), vec!["some.typo".to_string()]);
        assert_eq!(
            c.value_string("ssl.key.password").as_deref(),
            Some("[hidden]")
        );
        assert_eq!(c.get_password("ssl.key.password"), Some("secret"));
        assert_eq!(
            c.value_string("listener.name.ssl.ssl.keystore.password")
                .as_deref(),
            Some("[hidden]")
        );
        assert_eq!(
            c.value_string("listener.name.sasl_ssl.plain.sasl.jaas.config")
                .as_deref(),
            Some("[hidden]")
        );
        assert_eq!(
            c.value_string("listener.name.ssl.ssl.keystore.location")
                .as_deref(),
            Some("/ks")
        );
        assert_eq!(c.value_string("some.typo").as_deref(), Some("1"));
        assert_eq!(
            c.value_string("log.cleanup.policy").as_deref(),
            Some("compact,delete")
        );
        assert_eq!(c.value_string("log.retention.ms"), None);
        assert_eq!(
            c.value_string("log.cleaner.io.buffer.load.factor")
                .as_deref(),
            Some("0.9")
        );
        assert_eq!(c.get_int("num.partitions"), Some(1));
        assert_eq!(c.get_long("num.partitions"), Some(1));
        assert_eq!(c.get_long("log.retention.bytes"), Some(-1));
        assert_eq!(c.get_bool("log.preallocate"), Some(false));
        assert_eq!(c.get_double("log.cleaner.min.cleanable.ratio"), Some(0.5));
        assert_eq!(c.get_string("compression.type"), Some("producer"));
        assert_eq!(
            c.get_list("log.cleanup.policy").map(<[String]>::len),
            Some(2)
        );
        assert_eq!(c.get_short("offsets.topic.replication.factor"), Some(3));
        assert_eq!(c.get("no.such"), None);
        assert_eq!(
            c.originals().get("some.typo").map(String::as_str),
            Some("1")
        );
        let debug = format!("{c:?}");
        assert!(!debug.contains("secret"), "{debug}");
        let e = error(&[("listener.name.ssl.ssl.client.auth", "maybe")]);
        assert!(e.contains("listener.name.ssl.ssl.client.auth"), "{e}");
    }

    #[test]
    fn load_reads_properties_escapes_and_overrides() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("server.properties");
        let mut f = std::fs::File::create(&path).unwrap();
        write!(
            f,
            "# comment\n\
             ! another comment\n\
             zookeeper.connect = zk1:2181,\\\n    zk2:2181/kafka\n\
             broker.id:7\n\
             log.dirs=/data/a\\,b\n\
             broker.rack=r\\u0031\n\
             num.partitions 3\n\
             key\\ with\\ spaces=1\n\
             message.max.bytes=100\n"
        )
        .unwrap();
        drop(f);
        let c = KafkaConfig::load(&path, &[]).unwrap();
        assert_eq!(c.zookeeper_connect(), "zk1:2181,zk2:2181/kafka");
        assert_eq!(c.broker_id(), 7);
        assert_eq!(c.broker_rack(), Some("r1"));
        assert_eq!(c.num_partitions(), 3);
        // `\,` is just a comma to the properties reader; log.dirs then splits on it.
        assert_eq!(
            c.log_dirs(),
            vec![PathBuf::from("/data/a"), PathBuf::from("b")]
        );
        assert_eq!(c.unknown_keys(), vec!["key with spaces".to_string()]);

        let c = KafkaConfig::load(
            &path,
            &[
                "num.partitions=9".to_string(),
                "broker.rack=x=y".to_string(),
            ],
        )
        .unwrap();
        assert_eq!(c.num_partitions(), 9);
        assert_eq!(c.broker_rack(), Some("x=y"));
        assert_eq!(c.message_max_bytes(), 100);

        let e = KafkaConfig::load(&path, &["num.partitions".to_string()]).unwrap_err();
        assert!(matches!(e, ConfigError::MalformedOverride(_)));
        assert!(e.to_string().contains("num.partitions"));
        let e = KafkaConfig::load(&path, &["num.partitions=x".to_string()]).unwrap_err();
        assert!(e.to_string().contains("num.partitions"));

        let missing = dir.path().join("nope.properties");
        let e = KafkaConfig::load(&missing, &[]).unwrap_err();
        assert!(matches!(e, ConfigError::Io { .. }));
        assert!(e.to_string().contains("nope.properties"));
    }
}
