//! The broker configuration definition table (Kafka's `KafkaConfig.configDef` plus the
//! dynamic-only broker keys of `DynamicConfig.Broker`): for every key its type, default,
//! validator and dynamic update mode, and parsing of a raw value against one definition.

use std::collections::HashMap;
use std::fmt;
use std::sync::OnceLock;

use super::error::ConfigError;
use super::value::{ConfigValue, HIDDEN};
use super::version::ProtocolVersion;

/// Kafka's `ConfigDef.Type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConfigType {
    Boolean,
    Int,
    Short,
    Long,
    Double,
    String,
    List,
    Password,
    Class,
}

impl ConfigType {
    /// The name Kafka reports (`INT`, `LIST`, ...), e.g. in DescribeConfigs v3+.
    pub fn name(self) -> &'static str {
        match self {
            ConfigType::Boolean => "BOOLEAN",
            ConfigType::Int => "INT",
            ConfigType::Short => "SHORT",
            ConfigType::Long => "LONG",
            ConfigType::Double => "DOUBLE",
            ConfigType::String => "STRING",
            ConfigType::List => "LIST",
            ConfigType::Password => "PASSWORD",
            ConfigType::Class => "CLASS",
        }
    }
}

impl fmt::Display for ConfigType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How a broker key may be changed without a restart (Kafka's "Dynamic update mode").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DynamicMode {
    /// Restart needed; ignored when found in `/config/brokers/*`.
    ReadOnly,
    /// May be set in `/config/brokers/<default>` or per broker.
    ClusterWide,
    /// Only in `/config/brokers/<id>`.
    PerBroker,
}

impl DynamicMode {
    /// Kafka's documentation wording.
    pub fn name(self) -> &'static str {
        match self {
            DynamicMode::ReadOnly => "read-only",
            DynamicMode::ClusterWide => "cluster-wide",
            DynamicMode::PerBroker => "per-broker",
        }
    }
}

/// A value rule (Kafka's `ConfigDef.Validator` implementations used by broker/topic keys).
/// Null values are never checked: Kafka only puts validators on keys whose default is non-null.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Validator {
    None,
    /// `Range.atLeast(n)`.
    AtLeast(i64),
    /// `Range.between(lo, hi)`, inclusive.
    Between(i64, i64),
    /// `ValidString.in(..)`: exact, case-sensitive match.
    ValidString(&'static [&'static str]),
    /// `ValidList.in(..)`: every list item must be one of these.
    ValidList(&'static [&'static str]),
    /// `NonEmptyString`.
    NonEmpty,
    /// `ApiVersionValidator` / `MetadataVersionValidator`.
    ProtocolVersion,
    /// `ThrottledReplicaListValidator`: `*` or `partition:broker,...`.
    ThrottledReplicas,
}

/// Why a validator refused a value: the value to show (a list item, or the whole value) and
/// Kafka's reason text.
struct Refusal {
    shown: Option<String>,
    reason: String,
}

impl Validator {
    fn check(&self, name: &str, value: &ConfigValue) -> Result<(), Refusal> {
        let refuse = |reason: String| {
            Err(Refusal {
                shown: None,
                reason,
            })
        };
        match self {
            Validator::None => Ok(()),
            Validator::AtLeast(min) => match numeric(value) {
                Some(n) if n < *min as f64 => refuse(format!("Value must be at least {min}")),
                _ => Ok(()),
            },
            Validator::Between(lo, hi) => match numeric(value) {
                Some(n) if n < *lo as f64 => refuse(format!("Value must be at least {lo}")),
                Some(n) if n > *hi as f64 => refuse(format!("Value must be no more than {hi}")),
                _ => Ok(()),
            },
            Validator::ValidString(valid) => match value.as_str() {
                Some(s) if !valid.contains(&s) => {
                    refuse(format!("String must be one of: {}", valid.join(", ")))
                }
                _ => Ok(()),
            },
            Validator::ValidList(valid) => {
                for item in value.as_list().unwrap_or_default() {
                    if !valid.contains(&item.as_str()) {
                        return Err(Refusal {
                            shown: Some(item.clone()),
                            reason: format!("String must be one of: {}", valid.join(", ")),
                        });
                    }
                }
                Ok(())
            }
            Validator::NonEmpty => match value.as_str() {
                Some("") => refuse("String must be non-empty".to_string()),
                _ => Ok(()),
            },
            Validator::ProtocolVersion => match value.as_str() {
                Some(s) => ProtocolVersion::parse(s).map(|_| ()).or_else(refuse),
                None => Ok(()),
            },
            Validator::ThrottledReplicas => {
                let items = value.as_list().unwrap_or_default();
                let wildcard = items.concat().trim() == "*";
                let well_formed = items.iter().all(|i| is_replica_entry(i.trim()));
                if wildcard || well_formed {
                    Ok(())
                } else {
                    refuse(format!(
                        "{name} must be the literal '*' or a list of replicas in the following \
                         format: [partitionId]:[brokerId],[partitionId]:[brokerId],..."
                    ))
                }
            }
        }
    }
}

/// `([0-9]+:[0-9]+)?`: empty, or `partition:broker`.
fn is_replica_entry(s: &str) -> bool {
    if s.is_empty() {
        return true;
    }
    let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    matches!(s.split_once(':'), Some((p, b)) if digits(p) && digits(b))
}

fn numeric(value: &ConfigValue) -> Option<f64> {
    match value {
        ConfigValue::Int(v) => Some(f64::from(*v)),
        ConfigValue::Short(v) => Some(f64::from(*v)),
        ConfigValue::Long(v) => Some(*v as f64),
        ConfigValue::Double(v) => Some(*v),
        _ => None,
    }
}

/// Parses `raw` as `kind` and applies `validator`; errors name `name` and the value (hidden for
/// passwords). Shared by broker and topic definitions.
pub(crate) fn parse_checked(
    name: &str,
    kind: ConfigType,
    validator: Validator,
    raw: &str,
) -> Result<ConfigValue, ConfigError> {
    let shown = |v: &str| {
        if kind == ConfigType::Password {
            HIDDEN.to_string()
        } else {
            v.to_string()
        }
    };
    let value = ConfigValue::parse(kind, raw)
        .map_err(|reason| ConfigError::invalid(name, shown(raw), reason))?;
    validator.check(name, &value).map_err(|r| {
        let v = r.shown.unwrap_or_else(|| raw.to_string());
        ConfigError::invalid(name, shown(&v), r.reason)
    })?;
    Ok(value)
}

/// One broker configuration key.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ConfigDef {
    pub name: &'static str,
    pub kind: ConfigType,
    /// The default as Kafka would write it in a properties file; `None` = null / no default.
    pub default: Option<&'static str>,
    pub validator: Validator,
    pub dynamic: DynamicMode,
    pub doc: &'static str,
}

impl ConfigDef {
    /// Parses and validates a raw value of this key.
    pub fn parse(&self, raw: &str) -> Result<ConfigValue, ConfigError> {
        parse_checked(self.name, self.kind, self.validator, raw)
    }

    /// The default value (`Null` when there is none).
    pub fn default_value(&self) -> Result<ConfigValue, ConfigError> {
        match self.default {
            Some(d) => self.parse(d),
            None => Ok(ConfigValue::Null),
        }
    }

    pub fn is_password(&self) -> bool {
        self.kind == ConfigType::Password
    }
}

/// Looks a broker key up in [`CONFIG_DEFS`].
pub fn find(name: &str) -> Option<&'static ConfigDef> {
    static INDEX: OnceLock<HashMap<&'static str, &'static ConfigDef>> = OnceLock::new();
    INDEX
        .get_or_init(|| CONFIG_DEFS.iter().map(|d| (d.name, d)).collect())
        .get(name)
        .copied()
}

/// Every broker key, in Kafka's definition order.
pub fn all() -> &'static [ConfigDef] {
    CONFIG_DEFS
}

const fn def(
    name: &'static str,
    kind: ConfigType,
    default: Option<&'static str>,
    validator: Validator,
    dynamic: DynamicMode,
    doc: &'static str,
) -> ConfigDef {
    ConfigDef {
        name,
        kind,
        default,
        validator,
        dynamic,
        doc,
    }
}

// Short names keep the table readable.
const BOOL: ConfigType = ConfigType::Boolean;
const INT: ConfigType = ConfigType::Int;
const SHORT: ConfigType = ConfigType::Short;
const LONG: ConfigType = ConfigType::Long;
const DOUBLE: ConfigType = ConfigType::Double;
const STRING: ConfigType = ConfigType::String;
const LIST: ConfigType = ConfigType::List;
const PASSWORD: ConfigType = ConfigType::Password;
const CLASS: ConfigType = ConfigType::Class;
const R: DynamicMode = DynamicMode::ReadOnly;
const C: DynamicMode = DynamicMode::ClusterWide;
const B: DynamicMode = DynamicMode::PerBroker;
const NO: Validator = Validator::None;
const NULL: Option<&str> = None;

const INT_MAX: Option<&str> = Some("2147483647");
const LONG_MAX: Option<&str> = Some("9223372036854775807");
const DOUBLE_MAX: Option<&str> = Some("1.7976931348623157E308");
/// The inter-broker protocol this broker speaks by default (Kafka 3.9).
pub const DEFAULT_IBP: &str = "3.9-IV0";

/// `compression.type` values (Kafka's `BrokerCompressionType`).
pub const COMPRESSION_TYPES: &[&str] =
    &["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"];
pub const CLEANUP_POLICIES: &[&str] = &["compact", "delete"];
pub const TIMESTAMP_TYPES: &[&str] = &["CreateTime", "LogAppendTime"];
const SECURITY_PROTOCOLS: &[&str] = &["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"];
const SSL_CLIENT_AUTH: &[&str] = &["required", "requested", "none"];

/// The broker keys. Defaults and validators follow Kafka 2.8 `KafkaConfig` (with the 3.x
/// additions noted), dynamic modes follow `DynamicBrokerConfig`.
// One line per key reads as a table; rustfmt would explode it.
#[rustfmt::skip]
pub static CONFIG_DEFS: &[ConfigDef] = &[
    // ---- ZooKeeper ----
    def("zookeeper.connect", STRING, NULL, NO, R, "ZooKeeper connect string host:port[,host:port...][/chroot]"),
    def("zookeeper.session.timeout.ms", INT, Some("18000"), NO, R, "ZooKeeper session timeout"),
    def("zookeeper.connection.timeout.ms", INT, NULL, NO, R, "Max wait to connect to ZooKeeper; null means the session timeout"),
    def("zookeeper.sync.time.ms", INT, Some("2000"), NO, R, "How far a ZooKeeper follower can be behind the leader"),
    def("zookeeper.set.acl", BOOL, Some("false"), NO, R, "Set secure ACLs on the znodes the broker creates"),
    def("zookeeper.max.in.flight.requests", INT, Some("10"), Validator::AtLeast(1), R, "Max unacknowledged ZooKeeper requests"),
    def("zookeeper.ssl.client.enable", BOOL, Some("false"), NO, R, "Use TLS to connect to ZooKeeper"),
    def("zookeeper.clientCnxnSocket", STRING, NULL, NO, R, "ZooKeeper client socket implementation (TLS needs Netty)"),
    def("zookeeper.ssl.keystore.location", STRING, NULL, NO, R, "Keystore for TLS to ZooKeeper"),
    def("zookeeper.ssl.keystore.password", PASSWORD, NULL, NO, R, "Keystore password for TLS to ZooKeeper"),
    def("zookeeper.ssl.keystore.type", STRING, NULL, NO, R, "Keystore type for TLS to ZooKeeper"),
    def("zookeeper.ssl.truststore.location", STRING, NULL, NO, R, "Truststore for TLS to ZooKeeper"),
    def("zookeeper.ssl.truststore.password", PASSWORD, NULL, NO, R, "Truststore password for TLS to ZooKeeper"),
    def("zookeeper.ssl.truststore.type", STRING, NULL, NO, R, "Truststore type for TLS to ZooKeeper"),
    def("zookeeper.ssl.protocol", STRING, Some("TLSv1.2"), NO, R, "TLS protocol for ZooKeeper"),
    def("zookeeper.ssl.enabled.protocols", LIST, NULL, NO, R, "Enabled TLS protocols for ZooKeeper"),
    def("zookeeper.ssl.cipher.suites", LIST, NULL, NO, R, "Enabled cipher suites for ZooKeeper"),
    def("zookeeper.ssl.endpoint.identification.algorithm", STRING, Some("HTTPS"), NO, R, "ZooKeeper server hostname verification"),
    def("zookeeper.ssl.crl.enable", BOOL, Some("false"), NO, R, "Certificate revocation list checks for ZooKeeper"),
    def("zookeeper.ssl.ocsp.enable", BOOL, Some("false"), NO, R, "OCSP checks for ZooKeeper"),
    // ---- General ----
    def("broker.id.generation.enable", BOOL, Some("true"), NO, R, "Generate a broker id from /brokers/seqid when broker.id is -1"),
    def("reserved.broker.max.id", INT, Some("1000"), Validator::AtLeast(0), R, "Max configurable broker id; generated ids start above it"),
    def("broker.id", INT, Some("-1"), NO, R, "Broker id; -1 means meta.properties or a generated id"),
    def("message.max.bytes", INT, Some("1048588"), Validator::AtLeast(0), C, "Largest record batch size accepted"),
    def("num.network.threads", INT, Some("3"), Validator::AtLeast(1), C, "Network threads per listener"),
    def("num.io.threads", INT, Some("8"), Validator::AtLeast(1), C, "Request handler threads"),
    def("num.replica.alter.log.dirs.threads", INT, NULL, NO, R, "Threads moving replicas between log dirs; null means number of log dirs"),
    def("background.threads", INT, Some("10"), Validator::AtLeast(1), C, "Background task threads"),
    def("queued.max.requests", INT, Some("500"), Validator::AtLeast(1), R, "Queued requests before network threads block"),
    def("queued.max.request.bytes", LONG, Some("-1"), NO, R, "Queued request bytes before reads stop; -1 unbounded"),
    def("request.timeout.ms", INT, Some("30000"), NO, R, "Broker-as-client request timeout"),
    def("socket.connection.setup.timeout.ms", LONG, Some("10000"), NO, R, "Broker-as-client connection setup timeout (3.x)"),
    def("socket.connection.setup.timeout.max.ms", LONG, Some("30000"), NO, R, "Max broker-as-client connection setup timeout (3.x)"),
    def("authorizer.class.name", STRING, Some(""), NO, R, "Authorizer class; empty disables authorization"),
    // ---- Socket server ----
    def("port", INT, Some("9092"), NO, R, "Deprecated: port of the default listener when listeners is unset"),
    def("host.name", STRING, Some(""), NO, R, "Deprecated: host of the default listener when listeners is unset"),
    def("advertised.host.name", STRING, NULL, NO, R, "Deprecated: advertised host when advertised.listeners is unset"),
    def("advertised.port", INT, NULL, NO, R, "Deprecated: advertised port when advertised.listeners is unset"),
    def("listeners", STRING, NULL, NO, B, "Listeners NAME://host:port,...; null means PLAINTEXT://host.name:port"),
    def("advertised.listeners", STRING, NULL, NO, B, "Listeners published in ZooKeeper; null means listeners"),
    def("listener.security.protocol.map", STRING, Some("PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL"), NO, B, "Listener name to security protocol map"),
    def("control.plane.listener.name", STRING, NULL, NO, R, "Listener dedicated to controller requests"),
    def("socket.send.buffer.bytes", INT, Some("102400"), NO, R, "SO_SNDBUF; -1 for the OS default"),
    def("socket.receive.buffer.bytes", INT, Some("102400"), NO, R, "SO_RCVBUF; -1 for the OS default"),
    def("socket.request.max.bytes", INT, Some("104857600"), Validator::AtLeast(1), R, "Max request size"),
    def("socket.listen.backlog.size", INT, Some("50"), Validator::AtLeast(1), R, "Accept backlog of listening sockets (3.x)"),
    def("max.connections.per.ip", INT, INT_MAX, Validator::AtLeast(0), C, "Max connections from one IP"),
    def("max.connections.per.ip.overrides", STRING, Some(""), NO, C, "Per-IP or host overrides ip:n,host:n"),
    def("max.connections", INT, INT_MAX, Validator::AtLeast(0), C, "Max connections of the broker"),
    def("max.connection.creation.rate", INT, INT_MAX, Validator::AtLeast(0), C, "Max new connections per second"),
    def("connections.max.idle.ms", LONG, Some("600000"), NO, R, "Close connections idle this long"),
    def("connection.failed.authentication.delay.ms", INT, Some("100"), Validator::AtLeast(0), R, "Delay before closing after failed authentication"),
    def("broker.rack", STRING, NULL, NO, R, "Rack of the broker"),
    // ---- Log ----
    def("num.partitions", INT, Some("1"), Validator::AtLeast(1), R, "Default partition count of new topics"),
    def("log.dir", STRING, Some("/tmp/kafka-logs"), NO, R, "Log directory used when log.dirs is unset"),
    def("log.dirs", STRING, NULL, NO, R, "Comma-separated log directories; null means log.dir"),
    def("log.segment.bytes", INT, Some("1073741824"), Validator::AtLeast(14), C, "Max segment file size"),
    def("log.roll.ms", LONG, NULL, NO, C, "Max segment age before a roll; null means log.roll.hours"),
    def("log.roll.hours", INT, Some("168"), Validator::AtLeast(1), R, "Max segment age in hours (secondary to log.roll.ms)"),
    def("log.roll.jitter.ms", LONG, NULL, NO, C, "Max jitter subtracted from roll time; null means log.roll.jitter.hours"),
    def("log.roll.jitter.hours", INT, Some("0"), Validator::AtLeast(0), R, "Roll jitter in hours (secondary to log.roll.jitter.ms)"),
    def("log.retention.ms", LONG, NULL, NO, C, "Retention time; -1 unlimited; null means minutes then hours"),
    def("log.retention.minutes", INT, NULL, NO, R, "Retention in minutes (secondary to log.retention.ms)"),
    def("log.retention.hours", INT, Some("168"), NO, R, "Retention in hours (tertiary to log.retention.ms)"),
    def("log.retention.bytes", LONG, Some("-1"), NO, C, "Max partition size before deleting old segments; -1 unlimited"),
    def("log.retention.check.interval.ms", LONG, Some("300000"), Validator::AtLeast(1), R, "Retention check period"),
    def("log.cleanup.policy", LIST, Some("delete"), Validator::ValidList(CLEANUP_POLICIES), C, "delete and/or compact"),
    def("log.cleaner.threads", INT, Some("1"), Validator::AtLeast(0), C, "Log cleaner threads"),
    def("log.cleaner.io.max.bytes.per.second", DOUBLE, DOUBLE_MAX, NO, C, "Log cleaner read+write throttle"),
    def("log.cleaner.dedupe.buffer.size", LONG, Some("134217728"), NO, C, "Total offset map memory of all cleaner threads"),
    def("log.cleaner.io.buffer.size", INT, Some("524288"), Validator::AtLeast(0), C, "Log cleaner I/O buffer memory"),
    def("log.cleaner.io.buffer.load.factor", DOUBLE, Some("0.9"), NO, C, "Offset map load factor"),
    def("log.cleaner.backoff.ms", LONG, Some("15000"), Validator::AtLeast(0), C, "Cleaner sleep when there is nothing to clean"),
    def("log.cleaner.min.cleanable.ratio", DOUBLE, Some("0.5"), Validator::Between(0, 1), C, "Min dirty ratio before cleaning"),
    def("log.cleaner.enable", BOOL, Some("true"), NO, R, "Run the log cleaner"),
    def("log.cleaner.delete.retention.ms", LONG, Some("86400000"), Validator::AtLeast(0), C, "Tombstone retention of compacted topics"),
    def("log.cleaner.min.compaction.lag.ms", LONG, Some("0"), Validator::AtLeast(0), C, "Min age before a message can be compacted"),
    def("log.cleaner.max.compaction.lag.ms", LONG, LONG_MAX, Validator::AtLeast(1), C, "Max age before a message must be compacted"),
    def("log.index.size.max.bytes", INT, Some("10485760"), Validator::AtLeast(4), C, "Max offset/time index size"),
    def("log.index.interval.bytes", INT, Some("4096"), Validator::AtLeast(0), C, "Bytes between offset index entries"),
    def("log.flush.interval.messages", LONG, LONG_MAX, Validator::AtLeast(1), C, "Messages before an fsync"),
    def("log.segment.delete.delay.ms", LONG, Some("60000"), Validator::AtLeast(0), C, "Delay before deleting a file"),
    def("log.flush.scheduler.interval.ms", LONG, LONG_MAX, NO, R, "Flusher check period"),
    def("log.flush.interval.ms", LONG, NULL, NO, C, "Max time in memory before an fsync; null means log.flush.scheduler.interval.ms"),
    def("log.flush.offset.checkpoint.interval.ms", INT, Some("60000"), Validator::AtLeast(0), R, "Recovery point checkpoint period"),
    def("log.flush.start.offset.checkpoint.interval.ms", INT, Some("60000"), Validator::AtLeast(0), R, "Log start offset checkpoint period"),
    def("log.preallocate", BOOL, Some("false"), NO, C, "Preallocate segment files"),
    def("num.recovery.threads.per.data.dir", INT, Some("1"), Validator::AtLeast(1), C, "Log recovery/flush threads per data dir"),
    def("auto.create.topics.enable", BOOL, Some("true"), NO, R, "Auto-create topics on metadata requests"),
    def("min.insync.replicas", INT, Some("1"), Validator::AtLeast(1), C, "Min ISR size for acks=all"),
    def("log.message.format.version", STRING, Some(DEFAULT_IBP), Validator::ProtocolVersion, R, "Message format version; ignored with IBP 3.0+"),
    def("log.message.timestamp.type", STRING, Some("CreateTime"), Validator::ValidString(TIMESTAMP_TYPES), C, "CreateTime or LogAppendTime"),
    def("log.message.timestamp.difference.max.ms", LONG, LONG_MAX, Validator::AtLeast(0), C, "Max difference between create time and broker time"),
    def("create.topic.policy.class.name", CLASS, NULL, NO, R, "CreateTopicPolicy class"),
    def("alter.config.policy.class.name", CLASS, NULL, NO, R, "AlterConfigPolicy class"),
    def("log.message.downconversion.enable", BOOL, Some("true"), NO, C, "Down-convert batches for old fetchers"),
    def("compression.type", STRING, Some("producer"), Validator::ValidString(COMPRESSION_TYPES), C, "Final compression of topics"),
    // ---- Replication ----
    def("controller.socket.timeout.ms", INT, Some("30000"), NO, R, "Controller to broker socket timeout"),
    def("default.replication.factor", INT, Some("1"), NO, R, "Default replication factor of new topics"),
    def("replica.lag.time.max.ms", LONG, Some("30000"), NO, R, "Follower lag before removal from the ISR"),
    def("replica.socket.timeout.ms", INT, Some("30000"), NO, R, "Replica fetcher socket timeout"),
    def("replica.socket.receive.buffer.bytes", INT, Some("65536"), NO, R, "Replica fetcher SO_RCVBUF"),
    def("replica.fetch.max.bytes", INT, Some("1048576"), Validator::AtLeast(0), R, "Follower fetch bytes per partition"),
    def("replica.fetch.wait.max.ms", INT, Some("500"), NO, R, "Follower fetch max wait"),
    def("replica.fetch.backoff.ms", INT, Some("1000"), Validator::AtLeast(0), R, "Back-off after a fetch error"),
    def("replica.fetch.min.bytes", INT, Some("1"), NO, R, "Follower fetch min bytes"),
    def("replica.fetch.response.max.bytes", INT, Some("10485760"), Validator::AtLeast(0), R, "Follower fetch response max bytes"),
    def("num.replica.fetchers", INT, Some("1"), NO, C, "Fetcher threads per source broker"),
    def("replica.high.watermark.checkpoint.interval.ms", LONG, Some("5000"), NO, R, "High watermark checkpoint period"),
    def("fetch.purgatory.purge.interval.requests", INT, Some("1000"), NO, R, "Fetch purgatory purge interval"),
    def("producer.purgatory.purge.interval.requests", INT, Some("1000"), NO, R, "Produce purgatory purge interval"),
    def("delete.records.purgatory.purge.interval.requests", INT, Some("1"), NO, R, "DeleteRecords purgatory purge interval"),
    def("auto.leader.rebalance.enable", BOOL, Some("true"), NO, R, "Periodic preferred leader election"),
    def("leader.imbalance.per.broker.percentage", INT, Some("10"), NO, R, "Leader imbalance percent that triggers a rebalance"),
    def("leader.imbalance.check.interval.seconds", LONG, Some("300"), Validator::AtLeast(1), R, "Leader imbalance check period"),
    def("unclean.leader.election.enable", BOOL, Some("false"), NO, C, "Allow out-of-ISR leaders"),
    def("security.inter.broker.protocol", STRING, Some("PLAINTEXT"), Validator::ValidString(SECURITY_PROTOCOLS), R, "Inter-broker security protocol when inter.broker.listener.name is unset"),
    def("inter.broker.protocol.version", STRING, Some(DEFAULT_IBP), Validator::ProtocolVersion, R, "Inter-broker protocol version"),
    def("inter.broker.listener.name", STRING, NULL, NO, R, "Listener for inter-broker traffic"),
    def("replica.selector.class", STRING, NULL, NO, R, "ReplicaSelector for follower fetching"),
    def("controlled.shutdown.max.retries", INT, Some("3"), NO, R, "Controlled shutdown attempts"),
    def("controlled.shutdown.retry.backoff.ms", LONG, Some("5000"), NO, R, "Wait between controlled shutdown attempts"),
    def("controlled.shutdown.enable", BOOL, Some("true"), NO, R, "Do a controlled shutdown"),
    // ---- Group coordinator ----
    def("group.min.session.timeout.ms", INT, Some("6000"), NO, R, "Min consumer session timeout"),
    def("group.max.session.timeout.ms", INT, Some("1800000"), NO, R, "Max consumer session timeout"),
    def("group.initial.rebalance.delay.ms", INT, Some("3000"), NO, R, "Delay of the first rebalance of an empty group"),
    def("group.max.size", INT, INT_MAX, Validator::AtLeast(1), R, "Max members of a group"),
    // ---- Offsets ----
    def("offset.metadata.max.bytes", INT, Some("4096"), NO, R, "Max offset commit metadata size"),
    def("offsets.load.buffer.size", INT, Some("5242880"), Validator::AtLeast(1), R, "Read buffer when loading offsets"),
    def("offsets.topic.replication.factor", SHORT, Some("3"), Validator::AtLeast(1), R, "Replication factor of __consumer_offsets"),
    def("offsets.topic.num.partitions", INT, Some("50"), Validator::AtLeast(1), R, "Partitions of __consumer_offsets"),
    def("offsets.topic.segment.bytes", INT, Some("104857600"), Validator::AtLeast(1), R, "Segment size of __consumer_offsets"),
    def("offsets.topic.compression.codec", INT, Some("0"), NO, R, "Codec of offset writes (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd)"),
    def("offsets.retention.minutes", INT, Some("10080"), Validator::AtLeast(1), R, "Offset retention after a group empties"),
    def("offsets.retention.check.interval.ms", LONG, Some("600000"), Validator::AtLeast(1), R, "Offset expiry check period"),
    def("offsets.commit.timeout.ms", INT, Some("5000"), Validator::AtLeast(1), R, "Wait for offset commit replication"),
    def("offsets.commit.required.acks", SHORT, Some("-1"), NO, R, "Acks of offset commits"),
    def("delete.topic.enable", BOOL, Some("true"), NO, R, "Allow topic deletion"),
    // ---- Transactions ----
    def("transactional.id.expiration.ms", INT, Some("604800000"), Validator::AtLeast(1), R, "Idle transactional id expiry"),
    def("transaction.max.timeout.ms", INT, Some("900000"), Validator::AtLeast(1), R, "Max transaction timeout"),
    def("transaction.state.log.min.isr", INT, Some("2"), Validator::AtLeast(1), R, "min.insync.replicas of __transaction_state"),
    def("transaction.state.log.load.buffer.size", INT, Some("5242880"), Validator::AtLeast(1), R, "Read buffer when loading transactions"),
    def("transaction.state.log.replication.factor", SHORT, Some("3"), Validator::AtLeast(1), R, "Replication factor of __transaction_state"),
    def("transaction.state.log.num.partitions", INT, Some("50"), Validator::AtLeast(1), R, "Partitions of __transaction_state"),
    def("transaction.state.log.segment.bytes", INT, Some("104857600"), Validator::AtLeast(1), R, "Segment size of __transaction_state"),
    def("transaction.abort.timed.out.transaction.cleanup.interval.ms", INT, Some("10000"), Validator::AtLeast(1), R, "Timed-out transaction abort period"),
    def("transaction.remove.expired.transaction.cleanup.interval.ms", INT, Some("3600000"), Validator::AtLeast(1), R, "Expired transactional id purge period"),
    def("producer.id.expiration.ms", INT, Some("86400000"), Validator::AtLeast(1), C, "Idle producer id expiry (3.x)"),
    def("transaction.partition.verification.enable", BOOL, Some("true"), NO, C, "Verify transactional partitions before appends (3.x)"),
    // ---- Fetch ----
    def("max.incremental.fetch.session.cache.slots", INT, Some("1000"), Validator::AtLeast(0), R, "Fetch session cache size"),
    def("fetch.max.bytes", INT, Some("57671680"), Validator::AtLeast(1024), R, "Max consumer fetch response size"),
    // ---- Metrics ----
    def("metrics.num.samples", INT, Some("2"), Validator::AtLeast(1), R, "Metric samples"),
    def("metrics.sample.window.ms", LONG, Some("30000"), Validator::AtLeast(1), R, "Metric sample window"),
    def("metric.reporters", LIST, Some(""), NO, C, "Metrics reporter classes"),
    def("metrics.recording.level", STRING, Some("INFO"), NO, R, "Metrics recording level"),
    def("kafka.metrics.reporters", LIST, Some(""), NO, R, "Yammer metrics reporter classes"),
    def("kafka.metrics.polling.interval.secs", INT, Some("10"), Validator::AtLeast(1), R, "Yammer metrics polling interval"),
    // ---- Quotas ----
    def("quota.window.num", INT, Some("11"), Validator::AtLeast(1), R, "Client quota samples"),
    def("replication.quota.window.num", INT, Some("11"), Validator::AtLeast(1), R, "Replication quota samples"),
    def("alter.log.dirs.replication.quota.window.num", INT, Some("11"), Validator::AtLeast(1), R, "Alter-log-dirs quota samples"),
    def("controller.quota.window.num", INT, Some("11"), Validator::AtLeast(1), R, "Controller mutation quota samples"),
    def("quota.window.size.seconds", INT, Some("1"), Validator::AtLeast(1), R, "Client quota sample span"),
    def("replication.quota.window.size.seconds", INT, Some("1"), Validator::AtLeast(1), R, "Replication quota sample span"),
    def("alter.log.dirs.replication.quota.window.size.seconds", INT, Some("1"), Validator::AtLeast(1), R, "Alter-log-dirs quota sample span"),
    def("controller.quota.window.size.seconds", INT, Some("1"), Validator::AtLeast(1), R, "Controller mutation quota sample span"),
    def("client.quota.callback.class", CLASS, NULL, NO, R, "ClientQuotaCallback class"),
    // ---- Dynamic-only broker keys (DynamicConfig.Broker); accepted statically for parsing ----
    def("leader.replication.throttled.rate", LONG, LONG_MAX, Validator::AtLeast(0), C, "Leader replication throttle in bytes/s"),
    def("follower.replication.throttled.rate", LONG, LONG_MAX, Validator::AtLeast(0), C, "Follower replication throttle in bytes/s"),
    def("replica.alter.log.dirs.io.max.bytes.per.second", LONG, LONG_MAX, Validator::AtLeast(0), C, "Intra-broker replica move throttle in bytes/s"),
    // ---- Security ----
    def("connections.max.reauth.ms", LONG, Some("0"), NO, R, "Max session lifetime before re-authentication"),
    def("security.providers", STRING, NULL, NO, R, "Security provider creator classes"),
    def("principal.builder.class", CLASS, Some("org.apache.kafka.common.security.authenticator.DefaultKafkaPrincipalBuilder"), NO, B, "KafkaPrincipalBuilder class"),
    def("ssl.protocol", STRING, Some("TLSv1.3"), NO, B, "TLS protocol"),
    def("ssl.provider", STRING, NULL, NO, B, "Security provider for TLS"),
    def("ssl.enabled.protocols", LIST, Some("TLSv1.2,TLSv1.3"), NO, B, "Enabled TLS protocols"),
    def("ssl.keystore.type", STRING, Some("JKS"), NO, B, "Keystore format"),
    def("ssl.keystore.location", STRING, NULL, NO, B, "Keystore path"),
    def("ssl.keystore.password", PASSWORD, NULL, NO, B, "Keystore password"),
    def("ssl.key.password", PASSWORD, NULL, NO, B, "Private key password"),
    def("ssl.keystore.key", PASSWORD, NULL, NO, B, "PEM private key"),
    def("ssl.keystore.certificate.chain", PASSWORD, NULL, NO, B, "PEM certificate chain"),
    def("ssl.truststore.type", STRING, Some("JKS"), NO, B, "Truststore format"),
    def("ssl.truststore.location", STRING, NULL, NO, B, "Truststore path"),
    def("ssl.truststore.password", PASSWORD, NULL, NO, B, "Truststore password"),
    def("ssl.truststore.certificates", PASSWORD, NULL, NO, B, "PEM trusted certificates"),
    def("ssl.keymanager.algorithm", STRING, Some("SunX509"), NO, B, "Key manager algorithm"),
    def("ssl.trustmanager.algorithm", STRING, Some("PKIX"), NO, B, "Trust manager algorithm"),
    def("ssl.endpoint.identification.algorithm", STRING, Some("https"), NO, B, "Server hostname verification"),
    def("ssl.secure.random.implementation", STRING, NULL, NO, B, "SecureRandom implementation"),
    def("ssl.client.auth", STRING, Some("none"), Validator::ValidString(SSL_CLIENT_AUTH), B, "Client certificate authentication"),
    def("ssl.cipher.suites", LIST, Some(""), NO, B, "Enabled cipher suites"),
    def("ssl.principal.mapping.rules", STRING, Some("DEFAULT"), NO, R, "Certificate DN to principal rules"),
    def("ssl.engine.factory.class", CLASS, NULL, NO, B, "SslEngineFactory class"),
    def("sasl.mechanism.inter.broker.protocol", STRING, Some("GSSAPI"), NO, B, "SASL mechanism between brokers"),
    def("sasl.jaas.config", PASSWORD, NULL, NO, B, "JAAS login configuration"),
    def("sasl.enabled.mechanisms", LIST, Some("GSSAPI"), NO, B, "Enabled SASL mechanisms"),
    def("sasl.server.callback.handler.class", CLASS, NULL, NO, R, "SASL server callback handler"),
    def("sasl.client.callback.handler.class", CLASS, NULL, NO, R, "SASL client callback handler"),
    def("sasl.login.class", CLASS, NULL, NO, R, "SASL Login class"),
    def("sasl.login.callback.handler.class", CLASS, NULL, NO, R, "SASL login callback handler"),
    def("sasl.kerberos.service.name", STRING, NULL, NO, B, "Kerberos service name"),
    def("sasl.kerberos.kinit.cmd", STRING, Some("/usr/bin/kinit"), NO, B, "kinit command"),
    def("sasl.kerberos.ticket.renew.window.factor", DOUBLE, Some("0.8"), NO, B, "Ticket renew window factor"),
    def("sasl.kerberos.ticket.renew.jitter", DOUBLE, Some("0.05"), NO, B, "Ticket renew jitter"),
    def("sasl.kerberos.min.time.before.relogin", LONG, Some("60000"), NO, B, "Min time between relogins"),
    def("sasl.kerberos.principal.to.local.rules", LIST, Some("DEFAULT"), NO, B, "Kerberos principal to short name rules"),
    def("sasl.login.refresh.window.factor", DOUBLE, Some("0.8"), NO, B, "Login refresh window factor"),
    def("sasl.login.refresh.window.jitter", DOUBLE, Some("0.05"), NO, B, "Login refresh jitter"),
    def("sasl.login.refresh.min.period.seconds", SHORT, Some("60"), NO, B, "Min login refresh period"),
    def("sasl.login.refresh.buffer.seconds", SHORT, Some("300"), NO, B, "Login refresh buffer"),
    def("delegation.token.master.key", PASSWORD, NULL, NO, R, "Deprecated alias of delegation.token.secret.key"),
    def("delegation.token.secret.key", PASSWORD, NULL, NO, R, "Delegation token secret; unset disables tokens"),
    def("delegation.token.max.lifetime.ms", LONG, Some("604800000"), Validator::AtLeast(1), R, "Max delegation token lifetime"),
    def("delegation.token.expiry.time.ms", LONG, Some("86400000"), Validator::AtLeast(1), R, "Delegation token validity before renewal"),
    def("delegation.token.expiry.check.interval.ms", LONG, Some("3600000"), Validator::AtLeast(1), R, "Expired token scan period"),
    // ---- Password encoding of dynamic configs ----
    def("password.encoder.secret", PASSWORD, NULL, NO, R, "Secret encoding dynamic passwords stored in ZooKeeper"),
    def("password.encoder.old.secret", PASSWORD, NULL, NO, R, "Previous secret, to re-encode dynamic passwords"),
    def("password.encoder.keyfactory.algorithm", STRING, NULL, NO, R, "SecretKeyFactory algorithm for dynamic passwords"),
    def("password.encoder.cipher.algorithm", STRING, Some("AES/CBC/PKCS5Padding"), NO, R, "Cipher for dynamic passwords"),
    def("password.encoder.key.length", INT, Some("128"), Validator::AtLeast(8), R, "Key length for dynamic passwords"),
    def("password.encoder.iterations", INT, Some("4096"), Validator::AtLeast(1024), R, "Iterations for dynamic passwords"),
];

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_default_parses_as_its_own_type() {
        for d in all() {
            let v = d
                .default_value()
                .unwrap_or_else(|e| panic!("{}: {e}", d.name));
            let ok = match (d.kind, &v) {
                (_, ConfigValue::Null) => d.default.is_none(),
                (ConfigType::Boolean, ConfigValue::Bool(_))
                | (ConfigType::Int, ConfigValue::Int(_))
                | (ConfigType::Short, ConfigValue::Short(_))
                | (ConfigType::Long, ConfigValue::Long(_))
                | (ConfigType::Double, ConfigValue::Double(_))
                | (ConfigType::String | ConfigType::Class, ConfigValue::String(_))
                | (ConfigType::List, ConfigValue::List(_))
                | (ConfigType::Password, ConfigValue::Password(_)) => true,
                _ => false,
            };
            assert!(ok, "{} default {:?} does not match {:?}", d.name, v, d.kind);
            // The default's Kafka string form parses back to the same value.
            if let Some(s) = v.to_raw_string() {
                assert_eq!(d.parse(&s).unwrap(), v, "{}", d.name);
            }
        }
    }

    #[test]
    fn names_are_unique_and_indexed() {
        let mut seen = HashSet::new();
        for d in all() {
            assert!(seen.insert(d.name), "duplicate {}", d.name);
            assert_eq!(find(d.name).map(|f| f.name), Some(d.name));
            assert!(!d.doc.is_empty() && !d.doc.contains('\n'), "{}", d.name);
        }
        assert!(find("no.such.key").is_none());
    }

    #[test]
    fn spec_keys_are_all_defined() {
        // Sections 1-7 of broker-config.md plus keys other sections refer to.
        let keys = [
            "zookeeper.connect",
            "zookeeper.session.timeout.ms",
            "zookeeper.connection.timeout.ms",
            "zookeeper.max.in.flight.requests",
            "zookeeper.set.acl",
            "zookeeper.ssl.client.enable",
            "zookeeper.clientCnxnSocket",
            "broker.id",
            "broker.id.generation.enable",
            "reserved.broker.max.id",
            "broker.rack",
            "listeners",
            "advertised.listeners",
            "listener.security.protocol.map",
            "inter.broker.listener.name",
            "security.inter.broker.protocol",
            "control.plane.listener.name",
            "inter.broker.protocol.version",
            "authorizer.class.name",
            "num.network.threads",
            "num.io.threads",
            "background.threads",
            "num.replica.fetchers",
            "num.recovery.threads.per.data.dir",
            "num.replica.alter.log.dirs.threads",
            "queued.max.requests",
            "queued.max.request.bytes",
            "socket.send.buffer.bytes",
            "socket.receive.buffer.bytes",
            "socket.request.max.bytes",
            "connections.max.idle.ms",
            "max.connections",
            "max.connections.per.ip",
            "max.connections.per.ip.overrides",
            "max.connection.creation.rate",
            "request.timeout.ms",
            "message.max.bytes",
            "fetch.max.bytes",
            "max.incremental.fetch.session.cache.slots",
            "log.dirs",
            "log.dir",
            "log.segment.bytes",
            "log.roll.ms",
            "log.roll.hours",
            "log.roll.jitter.ms",
            "log.roll.jitter.hours",
            "log.retention.ms",
            "log.retention.minutes",
            "log.retention.hours",
            "log.retention.bytes",
            "log.retention.check.interval.ms",
            "log.cleanup.policy",
            "log.index.size.max.bytes",
            "log.index.interval.bytes",
            "log.flush.interval.messages",
            "log.flush.interval.ms",
            "log.flush.scheduler.interval.ms",
            "log.flush.offset.checkpoint.interval.ms",
            "log.flush.start.offset.checkpoint.interval.ms",
            "log.segment.delete.delay.ms",
            "log.preallocate",
            "log.message.format.version",
            "log.message.timestamp.type",
            "log.message.timestamp.difference.max.ms",
            "log.message.downconversion.enable",
            "compression.type",
            "log.cleaner.enable",
            "log.cleaner.threads",
            "log.cleaner.dedupe.buffer.size",
            "log.cleaner.io.buffer.size",
            "log.cleaner.io.buffer.load.factor",
            "log.cleaner.io.max.bytes.per.second",
            "log.cleaner.backoff.ms",
            "log.cleaner.min.cleanable.ratio",
            "log.cleaner.delete.retention.ms",
            "log.cleaner.min.compaction.lag.ms",
            "log.cleaner.max.compaction.lag.ms",
            "num.partitions",
            "default.replication.factor",
            "min.insync.replicas",
            "unclean.leader.election.enable",
            "auto.create.topics.enable",
            "delete.topic.enable",
            "auto.leader.rebalance.enable",
            "leader.imbalance.per.broker.percentage",
            "leader.imbalance.check.interval.seconds",
            "replica.lag.time.max.ms",
            "replica.fetch.max.bytes",
            "replica.fetch.response.max.bytes",
            "replica.fetch.wait.max.ms",
            "replica.fetch.min.bytes",
            "replica.fetch.backoff.ms",
            "replica.socket.timeout.ms",
            "replica.socket.receive.buffer.bytes",
            "replica.high.watermark.checkpoint.interval.ms",
            "replica.selector.class",
            "controller.socket.timeout.ms",
            "controlled.shutdown.enable",
            "controlled.shutdown.max.retries",
            "controlled.shutdown.retry.backoff.ms",
            "leader.replication.throttled.rate",
            "follower.replication.throttled.rate",
            "replica.alter.log.dirs.io.max.bytes.per.second",
            "group.min.session.timeout.ms",
            "group.max.session.timeout.ms",
            "group.initial.rebalance.delay.ms",
            "group.max.size",
            "offsets.topic.num.partitions",
            "offsets.topic.replication.factor",
            "offsets.topic.segment.bytes",
            "offsets.topic.compression.codec",
            "offsets.retention.minutes",
            "offsets.retention.check.interval.ms",
            "offsets.commit.timeout.ms",
            "offsets.commit.required.acks",
            "offsets.load.buffer.size",
            "offset.metadata.max.bytes",
            "transaction.state.log.num.partitions",
            "transaction.state.log.replication.factor",
            "transaction.state.log.min.isr",
            "transaction.state.log.segment.bytes",
            "transaction.state.log.load.buffer.size",
            "transaction.max.timeout.ms",
            "transactional.id.expiration.ms",
            "transaction.abort.timed.out.transaction.cleanup.interval.ms",
            "transaction.remove.expired.transaction.cleanup.interval.ms",
            "port",
            "host.name",
            "password.encoder.secret",
        ];
        for k in keys {
            assert!(find(k).is_some(), "{k} is not defined");
        }
    }

    #[test]
    fn kafka_defaults() {
        let default = |k: &str| find(k).and_then(|d| d.default);
        assert_eq!(default("zookeeper.session.timeout.ms"), Some("18000"));
        assert_eq!(default("message.max.bytes"), Some("1048588"));
        assert_eq!(default("num.network.threads"), Some("3"));
        assert_eq!(default("num.io.threads"), Some("8"));
        assert_eq!(default("socket.request.max.bytes"), Some("104857600"));
        assert_eq!(default("log.segment.bytes"), Some("1073741824"));
        assert_eq!(default("log.retention.hours"), Some("168"));
        assert_eq!(default("log.retention.ms"), None);
        assert_eq!(default("offsets.topic.num.partitions"), Some("50"));
        assert_eq!(default("offsets.topic.replication.factor"), Some("3"));
        assert_eq!(default("transaction.max.timeout.ms"), Some("900000"));
        assert_eq!(default("fetch.max.bytes"), Some("57671680"));
        assert_eq!(default("group.max.session.timeout.ms"), Some("1800000"));
        assert_eq!(default("inter.broker.protocol.version"), Some("3.9-IV0"));
        assert_eq!(default("log.message.format.version"), Some("3.9-IV0"));
        assert_eq!(default("log.cleaner.dedupe.buffer.size"), Some("134217728"));
        assert_eq!(
            find("listeners").map(|d| d.dynamic),
            Some(DynamicMode::PerBroker)
        );
        assert_eq!(
            find("num.io.threads").map(|d| d.dynamic),
            Some(DynamicMode::ClusterWide)
        );
        assert_eq!(
            find("num.partitions").map(|d| d.dynamic),
            Some(DynamicMode::ReadOnly)
        );
    }

    #[test]
    fn validators_produce_kafka_messages() {
        let err = |k: &str, v: &str| find(k).unwrap().parse(v).unwrap_err().to_string();
        assert_eq!(
            err("num.io.threads", "0"),
            "Invalid value 0 for configuration num.io.threads: Value must be at least 1"
        );
        assert_eq!(
            err("log.cleaner.min.cleanable.ratio", "1.5"),
            "Invalid value 1.5 for configuration log.cleaner.min.cleanable.ratio: Value must be no more than 1"
        );
        assert_eq!(
            err("log.cleanup.policy", "delete,foo"),
            "Invalid value foo for configuration log.cleanup.policy: String must be one of: compact, delete"
        );
        assert_eq!(
            err("compression.type", "brotli"),
            "Invalid value brotli for configuration compression.type: String must be one of: \
             uncompressed, zstd, lz4, snappy, gzip, producer"
        );
        assert_eq!(
            err("inter.broker.protocol.version", "9.9"),
            "Invalid value 9.9 for configuration inter.broker.protocol.version: Version 9.9 is not a valid version"
        );
        assert!(find("ssl.keystore.password").unwrap().parse("x").is_ok());
    }

    #[test]
    fn throttled_replica_lists() {
        let v = Validator::ThrottledReplicas;
        let list = |s: &str| ConfigValue::parse(ConfigType::List, s).unwrap();
        assert!(v.check("k", &list("")).is_ok());
        assert!(v.check("k", &list("*")).is_ok());
        assert!(v.check("k", &list("0:1, 1:2")).is_ok());
        assert!(v.check("k", &list("0-1")).is_err());
        assert!(v.check("k", &list("*,0:1")).is_err());
    }
}
