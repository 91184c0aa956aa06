//! Kafka's ZooKeeper data model: this module owns every znode path a ZK-mode Kafka 2.8 broker
//! uses and the exact payload format stored in each (Kafka's `ZkData.scala`).
//!
//! Operators inspect these znodes with `zkCli.sh`, Kafka tools (`kafka-configs.sh`,
//! `kafka-reassign-partitions.sh`, ...) write some of them, and mixed Kafka/Rafka clusters read
//! each other's data, so paths, JSON field names and JSON *types* must match Kafka exactly (e.g.
//! `timestamp` is a JSON string, `jmx_port` a number). Key order is not significant: Jackson
//! writes hash-map order and every reader parses by key, so encoders here emit compact JSON in
//! whatever order `serde_json` uses and decoders never depend on order.
//!
//! Decoders are tolerant the way Kafka's are: unknown fields are ignored (newer Kafka versions
//! add fields), fields older or newer writers may omit get defaults, and numbers are also
//! accepted when written as decimal strings. Anything that is not the expected JSON shape is a
//! [`ZkDataError`], never a panic.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use base64::alphabet;
use base64::engine::general_purpose::GeneralPurposeConfig;
use base64::engine::{DecodePaddingMode, GeneralPurpose};
use base64::Engine as _;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::cluster::{EndPoint, SecurityProtocol};

// ---------------------------------------------------------------------------------------------
// Paths
// ---------------------------------------------------------------------------------------------

/// `/cluster`: parent of the cluster id znode.
pub const CLUSTER_PATH: &str = "/cluster";
/// `/cluster/id` (persistent): the cluster id, created by the first broker to start.
pub const CLUSTER_ID_PATH: &str = "/cluster/id";
/// `/controller` (ephemeral): the active controller's registration.
pub const CONTROLLER_PATH: &str = "/controller";
/// `/controller_epoch` (persistent): the controller epoch as plain decimal text.
pub const CONTROLLER_EPOCH_PATH: &str = "/controller_epoch";
/// `/brokers`: parent of broker ids, topics and the id sequence.
pub const BROKERS_PATH: &str = "/brokers";
/// `/brokers/ids`: one ephemeral child per live broker.
pub const BROKER_IDS_PATH: &str = "/brokers/ids";
/// `/brokers/seqid`: only its data *version* matters (broker-id generation).
pub const BROKER_SEQ_ID_PATH: &str = "/brokers/seqid";
/// `/brokers/topics`: one child per topic holding its replica assignment.
pub const BROKER_TOPICS_PATH: &str = "/brokers/topics";
/// `/config`: root of dynamic entity configs.
pub const CONFIG_PATH: &str = "/config";
/// `/config/changes`: persistent-sequential config change notifications.
pub const CONFIG_CHANGES_PATH: &str = "/config/changes";
/// Prefix of config change notification znodes (ZooKeeper appends a 10-digit counter).
pub const CONFIG_CHANGE_PREFIX: &str = "config_change_";
/// Path to pass to a persistent-sequential create of a config change notification.
pub const CONFIG_CHANGE_CREATE_PATH: &str = "/config/changes/config_change_";
/// `/admin`: parent of the admin request znodes.
pub const ADMIN_PATH: &str = "/admin";
/// `/admin/delete_topics`: one child (null data) per topic marked for deletion.
pub const DELETE_TOPICS_PATH: &str = "/admin/delete_topics";
/// `/admin/reassign_partitions`: legacy (pre-KIP-455) reassignment request.
pub const REASSIGN_PARTITIONS_PATH: &str = "/admin/reassign_partitions";
/// `/admin/preferred_replica_election`: legacy preferred leader election request.
pub const PREFERRED_REPLICA_ELECTION_PATH: &str = "/admin/preferred_replica_election";
/// `/isr_change_notification`: ISR change notifications from pre-AlterIsr leaders.
pub const ISR_CHANGE_NOTIFICATION_PATH: &str = "/isr_change_notification";
/// Prefix of ISR change notification znodes.
pub const ISR_CHANGE_PREFIX: &str = "isr_change_";
/// Path to pass to a persistent-sequential create of an ISR change notification.
pub const ISR_CHANGE_CREATE_PATH: &str = "/isr_change_notification/isr_change_";
/// `/log_dir_event_notification`: log directory failure notifications.
pub const LOG_DIR_EVENT_NOTIFICATION_PATH: &str = "/log_dir_event_notification";
/// Prefix of log-dir event notification znodes.
pub const LOG_DIR_EVENT_PREFIX: &str = "log_dir_event_";
/// Path to pass to a persistent-sequential create of a log-dir event notification.
pub const LOG_DIR_EVENT_CREATE_PATH: &str = "/log_dir_event_notification/log_dir_event_";
/// `/latest_producer_id_block`: the last allocated producer-id block.
pub const LATEST_PRODUCER_ID_BLOCK_PATH: &str = "/latest_producer_id_block";
/// `/feature`: cluster-wide finalized features (KIP-584).
pub const FEATURE_PATH: &str = "/feature";
/// `/consumers`: legacy ZooKeeper consumer root; always world-writable.
pub const CONSUMERS_PATH: &str = "/consumers";
/// `/kafka-acl`: literal ACLs, one child per resource type.
pub const KAFKA_ACL_PATH: &str = "/kafka-acl";
/// `/kafka-acl-changes`: literal ACL change notifications.
pub const KAFKA_ACL_CHANGES_PATH: &str = "/kafka-acl-changes";
/// `/kafka-acl-extended`: root of non-literal (prefixed) ACL stores.
pub const KAFKA_ACL_EXTENDED_PATH: &str = "/kafka-acl-extended";
/// `/kafka-acl-extended/prefixed`: PREFIXED-pattern ACLs, one child per resource type.
pub const KAFKA_ACL_EXTENDED_PREFIXED_PATH: &str = "/kafka-acl-extended/prefixed";
/// `/kafka-acl-extended-changes`: extended ACL change notifications.
pub const KAFKA_ACL_EXTENDED_CHANGES_PATH: &str = "/kafka-acl-extended-changes";
/// Prefix of both kinds of ACL change notification znodes.
pub const ACL_CHANGES_PREFIX: &str = "acl_changes_";
/// ACL resource type path segments, in PascalCase as Kafka writes them.
pub const ACL_RESOURCE_TYPES: &[&str] = &[
    "Topic",
    "Group",
    "Cluster",
    "TransactionalId",
    "DelegationToken",
];
/// `/delegation_token`: root of delegation token storage.
pub const DELEGATION_TOKEN_PATH: &str = "/delegation_token";
/// `/delegation_token/tokens`: one child per token.
pub const DELEGATION_TOKENS_PATH: &str = "/delegation_token/tokens";
/// `/delegation_token/token_changes`: token change notifications.
pub const DELEGATION_TOKEN_CHANGES_PATH: &str = "/delegation_token/token_changes";
/// Prefix of token change notification znodes.
pub const TOKEN_CHANGE_PREFIX: &str = "token_change_";

/// Persistent paths every broker creates (if absent, with parents, null data) when its ZooKeeper
/// client starts, in Kafka 2.8's order (`ZkData.PersistentZkPaths`), ending with one
/// `/config/<type>` per [`ConfigType::ALL`].
pub const PERSISTENT_PATHS: &[&str] = &[
    CONSUMERS_PATH,
    BROKER_IDS_PATH,
    BROKER_TOPICS_PATH,
    CONFIG_CHANGES_PATH,
    DELETE_TOPICS_PATH,
    BROKER_SEQ_ID_PATH,
    ISR_CHANGE_NOTIFICATION_PATH,
    LATEST_PRODUCER_ID_BLOCK_PATH,
    LOG_DIR_EVENT_NOTIFICATION_PATH,
    "/config/topics",
    "/config/clients",
    "/config/users",
    "/config/brokers",
    "/config/ips",
];

/// Subtrees whose znodes must not be world-readable when `zookeeper.set.acl=true`
/// (they hold SCRAM credentials, broker passwords and token HMAC material).
pub const SENSITIVE_ROOT_PATHS: &[&str] =
    &["/config/users", "/config/brokers", DELEGATION_TOKENS_PATH];

/// `/brokers/ids/<id>`: a broker's registration.
pub fn broker_id_path(broker_id: i32) -> String {
    format!("{BROKER_IDS_PATH}/{broker_id}")
}

/// `/brokers/topics/<topic>`: a topic's replica assignment.
pub fn topic_path(topic: &str) -> String {
    format!("{BROKER_TOPICS_PATH}/{topic}")
}

/// `/brokers/topics/<topic>/partitions`.
pub fn topic_partitions_path(topic: &str) -> String {
    format!("{BROKER_TOPICS_PATH}/{topic}/partitions")
}

/// `/brokers/topics/<topic>/partitions/<partition>`.
pub fn topic_partition_path(topic: &str, partition: i32) -> String {
    format!("{BROKER_TOPICS_PATH}/{topic}/partitions/{partition}")
}

/// `/brokers/topics/<topic>/partitions/<partition>/state`: leader, ISR and epochs.
pub fn topic_partition_state_path(topic: &str, partition: i32) -> String {
    format!("{BROKER_TOPICS_PATH}/{topic}/partitions/{partition}/state")
}

/// `/config/<type>`, e.g. `/config/topics`.
pub fn config_entity_type_path(config_type: ConfigType) -> String {
    format!("{CONFIG_PATH}/{}", config_type.as_str())
}

/// `/config/<type>/<name>`; `name` must already be sanitized (see
/// [`sanitize_config_entity_name`]) and may contain `/clients/<client>` for user+client quotas.
pub fn config_entity_path(config_type: ConfigType, entity_name: &str) -> String {
    format!("{CONFIG_PATH}/{}/{entity_name}", config_type.as_str())
}

/// `/config/changes/<child>` for a listed notification child name.
pub fn config_change_path(child_name: &str) -> String {
    format!("{CONFIG_CHANGES_PATH}/{child_name}")
}

/// `/admin/delete_topics/<topic>`: marks a topic for deletion (null data).
pub fn delete_topic_path(topic: &str) -> String {
    format!("{DELETE_TOPICS_PATH}/{topic}")
}

/// `/isr_change_notification/<child>` for a listed notification child name.
pub fn isr_change_path(child_name: &str) -> String {
    format!("{ISR_CHANGE_NOTIFICATION_PATH}/{child_name}")
}

/// `/log_dir_event_notification/<child>` for a listed notification child name.
pub fn log_dir_event_path(child_name: &str) -> String {
    format!("{LOG_DIR_EVENT_NOTIFICATION_PATH}/{child_name}")
}

/// Every znode the ZK ACL authorizer creates at configure time: both ACL stores with one child
/// per resource type, then both change roots (Kafka's `createAclPaths`).
pub fn acl_authorizer_paths() -> Vec<String> {
    let mut paths = Vec::new();
    for store in [KAFKA_ACL_PATH, KAFKA_ACL_EXTENDED_PREFIXED_PATH] {
        paths.push(store.to_string());
        for resource_type in ACL_RESOURCE_TYPES {
            paths.push(format!("{store}/{resource_type}"));
        }
    }
    paths.push(KAFKA_ACL_CHANGES_PATH.to_string());
    paths.push(KAFKA_ACL_EXTENDED_CHANGES_PATH.to_string());
    paths
}

/// Whether `path` is in a sensitive subtree (Kafka uses a plain prefix test, so do we).
pub fn is_sensitive_path(path: &str) -> bool {
    SENSITIVE_ROOT_PATHS
        .iter()
        .any(|root| path.starts_with(root))
}

/// The ZooKeeper ACL Kafka puts on a znode it creates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ZNodeAcl {
    /// `world:anyone:cdrwa` (`OPEN_ACL_UNSAFE`).
    Open,
    /// Creator all + `world:anyone:r`.
    CreatorAllWorldRead,
    /// Creator all only.
    CreatorAll,
}

/// Kafka's `ZkData.defaultAcls`: open unless `zookeeper.set.acl=true`; `/consumers` always open
/// because old consumers of any identity write under it.
pub fn default_acl(is_secure: bool, path: &str) -> ZNodeAcl {
    if !is_secure || path == CONSUMERS_PATH {
        ZNodeAcl::Open
    } else if is_sensitive_path(path) {
        ZNodeAcl::CreatorAll
    } else {
        ZNodeAcl::CreatorAllWorldRead
    }
}

/// Parses the ZooKeeper sequence counter from a sequential child name (or full path) carrying
/// `prefix`, e.g. `config_change_0000000042` → 42. ZooKeeper formats a signed 32-bit counter
/// as `%010d`, so a wrapped counter can be negative.
pub fn sequence_number(child_name: &str, prefix: &str) -> Option<i64> {
    let name = child_name.rsplit('/').next().unwrap_or(child_name);
    let digits = name.strip_prefix(prefix)?;
    let unsigned = digits.strip_prefix('-').unwrap_or(digits);
    if unsigned.is_empty() || !unsigned.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The sequence number of a `/config/changes` child, e.g. `config_change_0000000042` → 42.
pub fn config_change_seq(child_name: &str) -> Option<i64> {
    sequence_number(child_name, CONFIG_CHANGE_PREFIX)
}

// ---------------------------------------------------------------------------------------------
// Config entity types and names
// ---------------------------------------------------------------------------------------------

/// The literal entity name of default configs/quotas, e.g. `/config/brokers/<default>`.
pub const DEFAULT_ENTITY: &str = "<default>";

/// A dynamic config entity type: the `/config/<type>` segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ConfigType {
    Topic,
    Client,
    User,
    Broker,
    Ip,
}

impl ConfigType {
    /// All types in Kafka's `ConfigType.all` order (the order of [`PERSISTENT_PATHS`]' tail).
    pub const ALL: [ConfigType; 5] = [
        ConfigType::Topic,
        ConfigType::Client,
        ConfigType::User,
        ConfigType::Broker,
        ConfigType::Ip,
    ];

    /// The path segment: `topics`, `clients`, `users`, `brokers`, `ips`.
    pub fn as_str(self) -> &'static str {
        match self {
            ConfigType::Topic => "topics",
            ConfigType::Client => "clients",
            ConfigType::User => "users",
            ConfigType::Broker => "brokers",
            ConfigType::Ip => "ips",
        }
    }

    /// The type for a path segment, if known.
    pub fn from_name(name: &str) -> Option<ConfigType> {
        ConfigType::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

impl fmt::Display for ConfigType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Kafka's `Sanitizer.sanitize`: Java `URLEncoder` (UTF-8) then `*`→`%2A` and `+`→`%20`.
/// Only `[A-Za-z0-9._-]` stay literal; every other byte becomes `%XX` (upper-case hex).
pub fn sanitize_entity_name(name: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(name.len());
    for &b in name.as_bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'-' | b'_' => out.push(char::from(b)),
            // URLEncoder leaves `*` alone and turns space into `+`; Kafka then rewrites both
            // (JMX treats `*` as a pattern), which is the same as plain percent-encoding.
            _ => {
                out.push('%');
                out.push(char::from(HEX[usize::from(b >> 4)]));
                out.push(char::from(HEX[usize::from(b & 0x0f)]));
            }
        }
    }
    out
}

/// Kafka's `Sanitizer.desanitize` (Java `URLDecoder`, UTF-8): `%XX` → byte, `+` → space.
/// Malformed escapes are an error; invalid UTF-8 is replaced by U+FFFD like Java does.
pub fn desanitize_entity_name(sanitized: &str) -> Result<String, ZkDataError> {
    let bytes = sanitized.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' => {
                let hex = |j: usize| bytes.get(j).and_then(|c| char::from(*c).to_digit(16));
                match (hex(i + 1), hex(i + 2)) {
                    (Some(hi), Some(lo)) => {
                        // Both digits are < 16, so the value fits a byte.
                        out.push(u8::try_from(hi * 16 + lo).unwrap_or(0));
                        i += 3;
                    }
                    _ => {
                        return Err(ZkDataError::InvalidField {
                            kind: ZNodeKind::EntityName,
                            field: sanitized.to_string(),
                            reason: format!("malformed percent escape at byte {i}"),
                        })
                    }
                }
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// The znode name Kafka's admin tools use for an entity: `<default>` stays literal, user and
/// client ids are sanitized, topics/brokers/ips are used as-is.
pub fn sanitize_config_entity_name(config_type: ConfigType, name: &str) -> String {
    match config_type {
        _ if name == DEFAULT_ENTITY => name.to_string(),
        ConfigType::User | ConfigType::Client => sanitize_entity_name(name),
        ConfigType::Topic | ConfigType::Broker | ConfigType::Ip => name.to_string(),
    }
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// Which znode payload failed to decode, so errors say where the bad data lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ZNodeKind {
    ClusterId,
    Controller,
    ControllerEpoch,
    BrokerRegistration,
    TopicAssignment,
    PartitionState,
    EntityConfig,
    ConfigChangeNotification,
    Feature,
    ReassignPartitions,
    PreferredReplicaElection,
    IsrChangeNotification,
    LogDirEventNotification,
    ProducerIdBlock,
    TopicId,
    EntityName,
}

impl ZNodeKind {
    /// A human-readable name including the path pattern.
    pub fn describe(self) -> &'static str {
        match self {
            ZNodeKind::ClusterId => "cluster id (/cluster/id)",
            ZNodeKind::Controller => "controller (/controller)",
            ZNodeKind::ControllerEpoch => "controller epoch (/controller_epoch)",
            ZNodeKind::BrokerRegistration => "broker registration (/brokers/ids/<id>)",
            ZNodeKind::TopicAssignment => "topic assignment (/brokers/topics/<topic>)",
            ZNodeKind::PartitionState => {
                "partition state (/brokers/topics/<topic>/partitions/<p>/state)"
            }
            ZNodeKind::EntityConfig => "entity config (/config/<type>/<name>)",
            ZNodeKind::ConfigChangeNotification => {
                "config change notification (/config/changes/config_change_<seq>)"
            }
            ZNodeKind::Feature => "feature (/feature)",
            ZNodeKind::ReassignPartitions => "partition reassignment (/admin/reassign_partitions)",
            ZNodeKind::PreferredReplicaElection => {
                "preferred replica election (/admin/preferred_replica_election)"
            }
            ZNodeKind::IsrChangeNotification => {
                "ISR change notification (/isr_change_notification/isr_change_<seq>)"
            }
            ZNodeKind::LogDirEventNotification => {
                "log dir event notification (/log_dir_event_notification/log_dir_event_<seq>)"
            }
            ZNodeKind::ProducerIdBlock => "producer id block (/latest_producer_id_block)",
            ZNodeKind::TopicId => "topic id",
            ZNodeKind::EntityName => "sanitized entity name",
        }
    }
}

impl fmt::Display for ZNodeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

/// A znode payload that could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ZkDataError {
    /// Not UTF-8, not JSON, or not the expected top-level shape.
    #[error("{kind}: malformed data: {reason}")]
    Malformed { kind: ZNodeKind, reason: String },
    /// A required field is absent (or JSON null).
    #[error("{kind}: missing field `{field}`")]
    MissingField { kind: ZNodeKind, field: String },
    /// A field is present but has the wrong type or an invalid value.
    #[error("{kind}: invalid field `{field}`: {reason}")]
    InvalidField {
        kind: ZNodeKind,
        field: String,
        reason: String,
    },
    /// The payload's `version` is one this decoder does not understand.
    #[error("{kind}: unsupported version {version}")]
    UnsupportedVersion { kind: ZNodeKind, version: i64 },
}

impl ZkDataError {
    /// Which znode kind failed.
    pub fn kind(&self) -> ZNodeKind {
        match self {
            ZkDataError::Malformed { kind, .. }
            | ZkDataError::MissingField { kind, .. }
            | ZkDataError::InvalidField { kind, .. }
            | ZkDataError::UnsupportedVersion { kind, .. } => *kind,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// JSON helpers (private)
// ---------------------------------------------------------------------------------------------

fn malformed(kind: ZNodeKind, reason: impl Into<String>) -> ZkDataError {
    ZkDataError::Malformed {
        kind,
        reason: reason.into(),
    }
}

fn invalid(kind: ZNodeKind, field: &str, reason: impl Into<String>) -> ZkDataError {
    ZkDataError::InvalidField {
        kind,
        field: field.to_string(),
        reason: reason.into(),
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Builds a JSON object; `Value::to_string` is infallible, so encoders never need to panic.
fn json_object<const N: usize>(entries: [(&str, Value); N]) -> Map<String, Value> {
    entries
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
}

fn to_bytes(map: Map<String, Value>) -> Vec<u8> {
    Value::Object(map).to_string().into_bytes()
}

fn parse_object(kind: ZNodeKind, bytes: &[u8]) -> Result<Map<String, Value>, ZkDataError> {
    let text =
        std::str::from_utf8(bytes).map_err(|e| malformed(kind, format!("not UTF-8: {e}")))?;
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(malformed(
            kind,
            format!("expected a JSON object, found {}", json_type(&other)),
        )),
        Err(e) => Err(malformed(kind, format!("not JSON: {e}"))),
    }
}

/// Integer from a JSON number or a decimal string (Kafka writes some longs as strings).
fn value_i64(kind: ZNodeKind, field: &str, v: &Value) -> Result<i64, ZkDataError> {
    match v {
        Value::Number(n) => n
            .as_i64()
            .ok_or_else(|| invalid(kind, field, format!("{n} is not a 64-bit integer"))),
        Value::String(s) => s
            .trim()
            .parse()
            .map_err(|_| invalid(kind, field, format!("{s:?} is not an integer"))),
        other => Err(invalid(
            kind,
            field,
            format!("expected an integer, found {}", json_type(other)),
        )),
    }
}

fn value_i32(kind: ZNodeKind, field: &str, v: &Value) -> Result<i32, ZkDataError> {
    let n = value_i64(kind, field, v)?;
    i32::try_from(n).map_err(|_| invalid(kind, field, format!("{n} is out of 32-bit range")))
}

fn value_i16(kind: ZNodeKind, field: &str, v: &Value) -> Result<i16, ZkDataError> {
    let n = value_i64(kind, field, v)?;
    i16::try_from(n).map_err(|_| invalid(kind, field, format!("{n} is out of 16-bit range")))
}

fn value_str<'a>(kind: ZNodeKind, field: &str, v: &'a Value) -> Result<&'a str, ZkDataError> {
    v.as_str().ok_or_else(|| {
        invalid(
            kind,
            field,
            format!("expected a string, found {}", json_type(v)),
        )
    })
}

fn value_i32_list(kind: ZNodeKind, field: &str, v: &Value) -> Result<Vec<i32>, ZkDataError> {
    let items = v.as_array().ok_or_else(|| {
        invalid(
            kind,
            field,
            format!("expected an array, found {}", json_type(v)),
        )
    })?;
    items
        .iter()
        .map(|item| value_i32(kind, field, item))
        .collect()
}

fn value_object<'a>(kind: ZNodeKind, field: &str, v: &'a Value) -> Result<Obj<'a>, ZkDataError> {
    match v {
        Value::Object(map) => Ok(Obj { kind, map }),
        other => Err(invalid(
            kind,
            field,
            format!("expected an object, found {}", json_type(other)),
        )),
    }
}

/// A decoded JSON object plus the znode kind, for terse, well-labelled field access.
struct Obj<'a> {
    kind: ZNodeKind,
    map: &'a Map<String, Value>,
}

impl<'a> Obj<'a> {
    /// The field, treating JSON null like absence (Jackson writes `null` for unset options).
    fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    fn req(&self, key: &str) -> Result<&'a Value, ZkDataError> {
        self.get(key).ok_or_else(|| ZkDataError::MissingField {
            kind: self.kind,
            field: key.to_string(),
        })
    }

    fn req_i32(&self, key: &str) -> Result<i32, ZkDataError> {
        value_i32(self.kind, key, self.req(key)?)
    }

    fn req_i64(&self, key: &str) -> Result<i64, ZkDataError> {
        value_i64(self.kind, key, self.req(key)?)
    }

    fn opt_i32(&self, key: &str) -> Result<Option<i32>, ZkDataError> {
        self.get(key)
            .map(|v| value_i32(self.kind, key, v))
            .transpose()
    }

    fn req_str(&self, key: &str) -> Result<&'a str, ZkDataError> {
        value_str(self.kind, key, self.req(key)?)
    }

    fn opt_str(&self, key: &str) -> Result<Option<&'a str>, ZkDataError> {
        self.get(key)
            .map(|v| value_str(self.kind, key, v))
            .transpose()
    }

    fn req_i32_list(&self, key: &str) -> Result<Vec<i32>, ZkDataError> {
        value_i32_list(self.kind, key, self.req(key)?)
    }

    fn opt_object(&self, key: &str) -> Result<Option<Obj<'a>>, ZkDataError> {
        self.get(key)
            .map(|v| value_object(self.kind, key, v))
            .transpose()
    }

    /// An informational timestamp: Kafka never reads it back, so a bad value is not fatal.
    fn lenient_timestamp(&self, key: &str) -> i64 {
        self.get(key)
            .and_then(|v| value_i64(self.kind, key, v).ok())
            .unwrap_or(-1)
    }
}

fn i32_list_value(list: &[i32]) -> Value {
    Value::Array(list.iter().map(|&i| Value::from(i)).collect())
}

/// `{"<p>":[replicas]}` with decimal-string partition keys, skipping empty lists when asked.
fn partition_map_value(map: &BTreeMap<i32, Vec<i32>>, skip_empty: bool) -> Value {
    Value::Object(
        map.iter()
            .filter(|(_, replicas)| !(skip_empty && replicas.is_empty()))
            .map(|(p, replicas)| (p.to_string(), i32_list_value(replicas)))
            .collect(),
    )
}

fn decode_partition_map(obj: &Obj<'_>, key: &str) -> Result<BTreeMap<i32, Vec<i32>>, ZkDataError> {
    let mut out = BTreeMap::new();
    if let Some(inner) = obj.opt_object(key)? {
        for (p, replicas) in inner.map {
            let field = format!("{key}.{p}");
            let partition: i32 = p
                .parse()
                .map_err(|_| invalid(obj.kind, &field, "partition key is not an integer"))?;
            out.insert(partition, value_i32_list(obj.kind, &field, replicas)?);
        }
    }
    Ok(out)
}

/// `[{"topic":t,"partition":p},...]` as used by ISR-change and preferred-election znodes.
fn partition_list_value(partitions: &BTreeSet<(String, i32)>) -> Value {
    Value::Array(
        partitions
            .iter()
            .map(|(topic, partition)| {
                Value::Object(json_object([
                    ("topic", Value::from(topic.as_str())),
                    ("partition", Value::from(*partition)),
                ]))
            })
            .collect(),
    )
}

/// Calls `f` for every element of the optional `partitions` array (missing ⇒ none).
fn for_each_partition_entry<'a>(
    obj: &Obj<'a>,
    mut f: impl FnMut(Obj<'a>) -> Result<(), ZkDataError>,
) -> Result<(), ZkDataError> {
    let Some(list) = obj.get("partitions") else {
        return Ok(());
    };
    let items = list.as_array().ok_or_else(|| {
        invalid(
            obj.kind,
            "partitions",
            format!("expected an array, found {}", json_type(list)),
        )
    })?;
    for item in items {
        f(value_object(obj.kind, "partitions[]", item)?)?;
    }
    Ok(())
}

fn decode_partition_list(
    kind: ZNodeKind,
    bytes: &[u8],
) -> Result<BTreeSet<(String, i32)>, ZkDataError> {
    let map = parse_object(kind, bytes)?;
    let obj = Obj { kind, map: &map };
    let mut out = BTreeSet::new();
    for_each_partition_entry(&obj, |entry| {
        out.insert((
            entry.req_str("topic")?.to_string(),
            entry.req_i32("partition")?,
        ));
        Ok(())
    })?;
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Cluster id and topic ids (Kafka's base64url UUID form)
// ---------------------------------------------------------------------------------------------

/// Kafka's `Uuid.toString`/`fromString`: base64url without padding. Decoding accepts padding
/// and ignores trailing bits, like Java's `Base64.getUrlDecoder`.
const KAFKA_UUID_BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// A new random cluster id: base64url (no padding) of a v4 UUID, 22 characters.
pub fn generate_cluster_id() -> String {
    loop {
        let id = encode_topic_id(&Uuid::new_v4());
        // Ids starting with '-' are valid for Kafka but are parsed as options by CLI tools
        // (e.g. `kafka-storage.sh --cluster-id`), which later Kafka versions also avoid.
        if !id.starts_with('-') {
            return id;
        }
    }
}

/// A topic id in Kafka's textual form (22-char base64url, no padding).
pub fn encode_topic_id(id: &Uuid) -> String {
    KAFKA_UUID_BASE64.encode(id.as_bytes())
}

/// Parses a topic id written by [`encode_topic_id`] (or Kafka); must decode to 16 bytes.
pub fn decode_topic_id(s: &str) -> Result<Uuid, ZkDataError> {
    let bytes = KAFKA_UUID_BASE64
        .decode(s.trim())
        .map_err(|e| invalid(ZNodeKind::TopicId, s, format!("not base64url: {e}")))?;
    let array: [u8; 16] = bytes.as_slice().try_into().map_err(|_| {
        invalid(
            ZNodeKind::TopicId,
            s,
            format!("decodes to {} bytes, expected 16", bytes.len()),
        )
    })?;
    Ok(Uuid::from_bytes(array))
}

/// `/cluster/id`: `{"version":"1","id":"<id>"}` (note: version is a JSON *string* here).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterIdZNode {
    pub id: String,
}

impl ClusterIdZNode {
    /// Compact JSON as Kafka writes it.
    pub fn encode(&self) -> Vec<u8> {
        to_bytes(json_object([
            ("version", Value::from("1")),
            ("id", Value::from(self.id.as_str())),
        ]))
    }

    /// Reads `id`; the version is ignored, as in Kafka.
    pub fn decode(bytes: &[u8]) -> Result<Self, ZkDataError> {
        let map = parse_object(ZNodeKind::ClusterId, bytes)?;
        let obj = Obj {
            kind: ZNodeKind::ClusterId,
            map: &map,
        };
        Ok(ClusterIdZNode {
            id: obj.req_str("id")?.to_string(),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Controller election
// ---------------------------------------------------------------------------------------------

/// `/controller`: `{"version":1,"brokerid":N,"timestamp":"<ms>"}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ControllerZNode {
    pub broker_id: i32,
    /// Election wall-clock time in ms; `-1` when a decoded znode lacks a usable timestamp.
    pub timestamp_ms: i64,
}

impl ControllerZNode {
    /// Version 1 (Kafka 2.8–3.3 ZK mode); the timestamp is written as a decimal string.
    pub fn encode(&self) -> Vec<u8> {
        to_bytes(json_object([
            ("version", Value::from(1)),
            ("brokerid", Value::from(self.broker_id)),
            ("timestamp", Value::from(self.timestamp_ms.to_string())),
        ]))
    }

    /// Decodes v1 and v2 (3.4+, extra `kraftControllerEpoch`, ignored: it is −1 in ZK mode).
    /// Only `brokerid` is required, as in Kafka.
    pub fn decode(bytes: &[u8]) -> Result<Self, ZkDataError> {
        let map = parse_object(ZNodeKind::Controller, bytes)?;
        let obj = Obj {
            kind: ZNodeKind::Controller,
            map: &map,
        };
        Ok(ControllerZNode {
            broker_id: obj.req_i32("brokerid")?,
            timestamp_ms: obj.lenient_timestamp("timestamp"),
        })
    }
}

/// `/controller_epoch`: the epoch as plain decimal text (not JSON), e.g. `5`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ControllerEpochZNode {
    pub epoch: i32,
}

impl ControllerEpochZNode {
    /// Decimal text.
    pub fn encode(&self) -> Vec<u8> {
        self.epoch.to_string().into_bytes()
    }

    /// Parses decimal text (surrounding whitespace tolerated).
    pub fn decode(bytes: &[u8]) -> Result<Self, ZkDataError> {
        let kind = ZNodeKind::ControllerEpoch;
        let text =
            std::str::from_utf8(bytes).map_err(|e| malformed(kind, format!("not UTF-8: {e}")))?;
        let epoch = text
            .trim()
            .parse()
            .map_err(|_| malformed(kind, format!("{text:?} is not a 32-bit integer")))?;
        Ok(ControllerEpochZNode { epoch })
    }
}

// ---------------------------------------------------------------------------------------------
// Broker registration
// ---------------------------------------------------------------------------------------------

/// An inclusive `[min, max]` feature version range.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct VersionRange {
    pub min: i16,
    pub max: i16,
}

/// `/brokers/ids/<id>`: a broker's registration (Kafka's `BrokerInfo` + `BrokerIdZNode`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokerInfo {
    /// Broker id; not part of the JSON, it comes from the znode name.
    pub id: i32,
    /// JSON version: 5 for IBP ≥ 2.7-IV0, 4 for older IBPs (2 for pre-0.10 IBPs).
    pub version: i32,
    /// Advertised endpoints, in `advertised.listeners` order.
    pub endpoints: Vec<EndPoint>,
    /// `broker.rack`, written only when set (and version ≥ 3).
    pub rack: Option<String>,
    /// JMX port or −1.
    pub jmx_port: i32,
    /// Registration wall-clock time in ms (a JSON string); −1 if a decoded znode lacks it.
    pub timestamp_ms: i64,
    /// Supported features (version ≥ 5); empty in Kafka 2.8/3.0.
    pub features: BTreeMap<String, VersionRange>,
}

impl BrokerInfo {
    /// The registration version Kafka 2.8 writes for IBP ≥ 2.7-IV0.
    pub const DEFAULT_VERSION: i32 = 5;

    /// A version-5 registration with no supported features.
    pub fn new(
        id: i32,
        endpoints: Vec<EndPoint>,
        rack: Option<String>,
        jmx_port: i32,
        timestamp_ms: i64,
    ) -> Self {
        BrokerInfo {
            id,
            version: Self::DEFAULT_VERSION,
            endpoints,
            rack,
            jmx_port,
            timestamp_ms,
            features: BTreeMap::new(),
        }
    }

    /// This registration's znode path.
    pub fn path(&self) -> String {
        broker_id_path(self.id)
    }

    /// Listener name → security protocol of the advertised endpoints. Kafka writes exactly this
    /// (not the full configured `listener.security.protocol.map`) as
    /// `listener_security_protocol_map`, and decoding resolves each endpoint's protocol from it.
    pub fn listener_security_protocol_map(&self) -> BTreeMap<String, SecurityProtocol> {
        self.endpoints
            .iter()
            .map(|ep| (ep.listener_name.clone(), ep.security_protocol))
            .collect()
    }

    /// The legacy top-level `host`/`port`: the first PLAINTEXT endpoint, else `(None, -1)`, so
    /// pre-0.10 clients can still connect when a plaintext listener exists. An empty host is
    /// Kafka's null host.
    pub fn legacy_host_port(&self) -> (Option<&str>, i32) {
        self.endpoints
            .iter()
            .find(|ep| ep.security_protocol == SecurityProtocol::Plaintext)
            .map(|ep| {
                let host = (!ep.host.is_empty()).then_some(ep.host.as_str());
                (host, i32::from(ep.port))
            })
            .unwrap_or((None, -1))
    }

    /// The endpoint advertised for `listener_name`, if any.
    pub fn endpoint(&self, listener_name: &str) -> Option<&EndPoint> {
        self.endpoints
            .iter()
            .find(|ep| ep.listener_name == listener_name)
    }

    /// Compact JSON with the fields Kafka writes for `self.version`.
    pub fn encode(&self) -> Vec<u8> {
        let (host, port) = self.legacy_host_port();
        let mut map = json_object([
            ("version", Value::from(self.version)),
            ("host", host.map_or(Value::Null, Value::from)),
            ("port", Value::from(port)),
            (
                "endpoints",
                Value::Array(
                    self.endpoints
                        .iter()
                        // An empty host gives `LISTENER://:port`, Kafka's form for a null host.
                        .map(|ep| Value::from(ep.connection_string()))
                        .collect(),
                ),
            ),
            ("jmx_port", Value::from(self.jmx_port)),
            ("timestamp", Value::from(self.timestamp_ms.to_string())),
        ]);
        if let Some(rack) = self.rack.as_deref().filter(|_| self.version >= 3) {
            map.insert("rack".to_string(), Value::from(rack));
        }
        if self.version >= 4 {
            let protocols = self
                .listener_security_protocol_map()
                .into_iter()
                .map(|(name, protocol)| (name, Value::from(protocol.name())))
                .collect();
            map.insert(
                "listener_security_protocol_map".to_string(),
                Value::Object(protocols),
            );
        }
        if self.version >= 5 {
            let features = self
                .features
                .iter()
                .map(|(name, range)| {
                    let range = json_object([
                        ("min_version", Value::from(range.min)),
                        ("max_version", Value::from(range.max)),
                    ]);
                    (name.clone(), Value::Object(range))
                })
                .collect();
            map.insert("features".to_string(), Value::Object(features));
        }
        to_bytes(map)
    }

    /// Decodes any registration version ≥ 1: v1 has only `host`/`port` (a PLAINTEXT endpoint);
    /// v2+ parse `endpoints`, resolving listener names through `listener_security_protocol_map`
    /// (absent ⇒ each listener name must itself be a protocol name).
    pub fn decode(id: i32, bytes: &[u8]) -> Result<Self, ZkDataError> {
        let kind = ZNodeKind::BrokerRegistration;
        let map = parse_object(kind, bytes)?;
        let obj = Obj { kind, map: &map };
        let version = obj.req_i32("version")?;
        if version < 1 {
            return Err(ZkDataError::UnsupportedVersion {
                kind,
                version: i64::from(version),
            });
        }
        let endpoints = if version == 1 {
            let port = obj.req_i32("port")?;
            let port = u16::try_from(port)
                .map_err(|_| invalid(kind, "port", format!("{port} is not a valid port")))?;
            vec![EndPoint {
                host: obj.opt_str("host")?.unwrap_or_default().to_string(),
                port,
                listener_name: SecurityProtocol::Plaintext.name().to_string(),
                security_protocol: SecurityProtocol::Plaintext,
            }]
        } else {
            let protocol_map = match obj.opt_object("listener_security_protocol_map")? {
                Some(entries) => {
                    let mut protocols = BTreeMap::new();
                    for (listener, protocol) in entries.map {
                        let field = format!("listener_security_protocol_map.{listener}");
                        let protocol: SecurityProtocol = value_str(kind, &field, protocol)?
                            .parse()
                            .map_err(|e| invalid(kind, &field, format!("{e}")))?;
                        // Endpoint listener names are normalised to upper case; match that.
                        protocols.insert(listener.to_ascii_uppercase(), protocol);
                    }
                    protocols
                }
                None => SecurityProtocol::ALL
                    .into_iter()
                    .map(|p| (p.name().to_string(), p))
                    .collect(),
            };
            let listeners = obj
                .req("endpoints")?
                .as_array()
                .ok_or_else(|| invalid(kind, "endpoints", "expected an array of strings"))?;
            listeners
                .iter()
                .map(|listener| {
                    let s = value_str(kind, "endpoints", listener)?;
                    EndPoint::parse(s, &protocol_map)
                        .map_err(|e| invalid(kind, "endpoints", e.to_string()))
                })
                .collect::<Result<Vec<_>, _>>()?
        };
        let mut features = BTreeMap::new();
        if let Some(entries) = obj.opt_object("features")? {
            for (name, range) in entries.map {
                let field = format!("features.{name}");
                let range = value_object(kind, &field, range)?;
                features.insert(
                    name.clone(),
                    VersionRange {
                        min: value_i16(kind, &field, range.req("min_version")?)?,
                        max: value_i16(kind, &field, range.req("max_version")?)?,
                    },
                );
            }
        }
        Ok(BrokerInfo {
            id,
            version,
            endpoints,
            rack: obj.opt_str("rack")?.map(str::to_string),
            jmx_port: obj.opt_i32("jmx_port")?.unwrap_or(-1),
            timestamp_ms: obj.lenient_timestamp("timestamp"),
            features,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Topics and partitions
// ---------------------------------------------------------------------------------------------

/// `/brokers/topics/<topic>`: replica assignment (version 3, with `topic_id` once assigned).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TopicAssignmentZNode {
    /// Partition → full replica list; order is preference (head = preferred leader).
    pub partitions: BTreeMap<i32, Vec<i32>>,
    /// Partition → replicas being added by an in-flight reassignment (non-empty lists only).
    pub adding_replicas: BTreeMap<i32, Vec<i32>>,
    /// Partition → replicas being removed by an in-flight reassignment (non-empty lists only).
    pub removing_replicas: BTreeMap<i32, Vec<i32>>,
    /// The topic id, absent for topics created before IBP 2.8-IV0 until the controller adds it.
    pub topic_id: Option<Uuid>,
}

impl TopicAssignmentZNode {
    /// The version Kafka 2.8+ writes.
    pub const VERSION: i32 = 3;

    /// Compact JSON; `adding_replicas`/`removing_replicas` are always present (maybe `{}`) and
    /// only list partitions with non-empty lists, as Kafka does.
    pub fn encode(&self) -> Vec<u8> {
        let mut map = json_object([
            ("version", Value::from(Self::VERSION)),
            ("partitions", partition_map_value(&self.partitions, false)),
            (
                "adding_replicas",
                partition_map_value(&self.adding_replicas, true),
            ),
            (
                "removing_replicas",
                partition_map_value(&self.removing_replicas, true),
            ),
        ]);
        if let Some(id) = &self.topic_id {
            map.insert("topic_id".to_string(), Value::from(encode_topic_id(id)));
        }
        to_bytes(map)
    }

    /// Decodes versions 1–3; every field may be missing (Kafka treats absence as empty/none).
    pub fn decode(bytes: &[u8]) -> Result<Self, ZkDataError> {
        let kind = ZNodeKind::TopicAssignment;
        let map = parse_object(kind, bytes)?;
        let obj = Obj { kind, map: &map };
        let non_empty = |m: BTreeMap<i32, Vec<i32>>| -> BTreeMap<i32, Vec<i32>> {
            m.into_iter().filter(|(_, r)| !r.is_empty()).collect()
        };
        let topic_id = obj
            .opt_str("topic_id")?
            .map(|s| decode_topic_id(s).map_err(|e| invalid(kind, "topic_id", e.to_string())))
            .transpose()?;
        Ok(TopicAssignmentZNode {
            partitions: decode_partition_map(&obj, "partitions")?,
            adding_replicas: non_empty(decode_partition_map(&obj, "adding_replicas")?),
            removing_replicas: non_empty(decode_partition_map(&obj, "removing_replicas")?),
            topic_id,
        })
    }
}

/// `leader` value meaning "no leader".
pub const NO_LEADER: i32 = -1;

/// `/brokers/topics/<t>/partitions/<p>/state`: Kafka's `LeaderIsrAndControllerEpoch` (the
/// znode's data version, the partition's `zkVersion`, lives in the `Stat`, not here).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionStateZNode {
    pub leader: i32,
    pub leader_epoch: i32,
    pub isr: Vec<i32>,
    pub controller_epoch: i32,
    /// 0 = RECOVERED (never written), 1 = RECOVERING (Kafka 3.2+).
    pub leader_recovery_state: i8,
}

impl PartitionStateZNode {
    /// Compact JSON, version 1; `leader_recovery_state` only when not RECOVERED so 2.8-era
    /// readers see the exact 2.8 shape.
    pub fn encode(&self) -> Vec<u8> {
        let mut map = json_object([
            ("version", Value::from(1)),
            ("leader", Value::from(self.leader)),
            ("leader_epoch", Value::from(self.leader_epoch)),
            ("controller_epoch", Value::from(self.controller_epoch)),
            ("isr", i32_list_value(&self.isr)),
        ]);
        if self.leader_recovery_state != 0 {
            map.insert(
                "leader_recovery_state".to_string(),
                Value::from(self.leader_recovery_state),
            );
        }
        to_bytes(map)
    }

    /// `leader`, `leader_epoch`, `isr`, `controller_epoch` are required (as in Kafka);
    /// `leader_recovery_state` defaults to 0.
    pub fn decode(bytes: &[u8]) -> Result<Self, ZkDataError> {
        let kind = ZNodeKind::PartitionState;
        let map = parse_object(kind, bytes)?;
        let obj = Obj { kind, map: &map };
        let leader_recovery_state = match obj.get("leader_recovery_state") {
            None => 0,
            Some(v) => {
                let n = value_i32(kind, "leader_recovery_state", v)?;
                i8::try_from(n)
                    .ok()
                    .filter(|s| (0..=1).contains(s))
                    .ok_or_else(|| invalid(kind, "leader_recovery_state", format!("{n}")))?
            }
        };
        Ok(PartitionStateZNode {
            leader: obj.req_i32("leader")?,
            leader_epoch: obj.req_i32("leader_epoch")?,
            isr: obj.req_i32_list("isr")?,
            controller_epoch: obj.req_i32("controller_epoch")?,
            leader_recovery_state,
        })
    }
}

/// `/admin/delete_topics` helpers: a child named after the topic (null data) requests deletion.
pub struct DeleteTopicsZNode;

impl DeleteTopicsZNode {
    /// The parent path.
    pub const PATH: &'static str = DELETE_TOPICS_PATH;

    /// `/admin/delete_topics/<topic>`.
    pub fn topic_path(topic: &str) -> String {
        delete_topic_path(topic)
    }

    /// The topic named by a child of `/admin/delete_topics` (child name or full path).
    pub fn topic_from_child(child: &str) -> &str {
        child.rsplit('/').next().unwrap_or(child)
    }
}

/// `/admin/reassign_partitions` (legacy, pre-KIP-455):
/// `{"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[4,5,6]}]}`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReassignPartitionsZNode {
    /// (topic, partition) → target replica list.
    pub partitions: BTreeMap<(String, i32), Vec<i32>>,
}

impl ReassignPartitionsZNode {
    /// Compact JSON, version 1.
    pub fn encode(&self) -> Vec<u8> {
        let partitions = self
            .partitions
            .iter()
            .map(|((topic, partition), replicas)| {
                Value::Object(json_object([
                    ("topic", Value::from(topic.as_str())),
                    ("partition", Value::from(*partition)),
                    ("replicas", i32_list_value(replicas)),
                ]))
            })
            .collect();
        to_bytes(json_object([
            ("version", Value::from(1)),
            ("partitions", Value::Array(partitions)),
        ]))
    }

    /// Missing `partitions` ⇒ empty; each entry needs topic, partition and replicas.
    pub fn decode(bytes: &[u8]) -> Result<Self, ZkDataError> {
        let kind = ZNodeKind::ReassignPartitions;
        let map = parse_object(kind, bytes)?;
        let obj = Obj { kind, map: &map };
        let mut partitions = BTreeMap::new();
        for_each_partition_entry(&obj, |entry| {
            partitions.insert(
                (
                    entry.req_str("topic")?.to_string(),
                    entry.req_i32("partition")?,
                ),
                entry.req_i32_list("replicas")?,
            );
            Ok(())
        })?;
        Ok(ReassignPartitionsZNode { partitions })
    }
}

/// `/admin/preferred_replica_election` (legacy):
/// `{"version":1,"partitions":[{"topic":"t","partition":0}]}`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PreferredReplicaElectionZNode {
    /// (topic, partition) pairs to run preferred election for.
    pub partitions: BTreeSet<(String, i32)>,
}

impl PreferredReplicaElectionZNode {
    /// Compact JSON, version 1.
    pub fn encode(&self) -> Vec<u8> {
        to_bytes(json_object([
            ("version", Value::from(1)),
            ("partitions", partition_list_value(&self.partitions)),
        ]))
    }

    /// Missing `partitions` ⇒ empty.
    pub fn decode(bytes: &[u8]) -> Result<Self, ZkDataError> {
        Ok(PreferredReplicaElectionZNode {
            partitions: decode_partition_list(ZNodeKind::PreferredReplicaElection, bytes)?,
        })
    }
}

/// `/isr_change_notification/isr_change_<seq>`:
/// `{"version":1,"partitions":[{"topic":"t","partition":0},...]}`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IsrChangeNotification {
    /// (topic, partition) pairs whose ISR changed.
    pub partitions: BTreeSet<(String, i32)>,
}

impl IsrChangeNotification {
    /// Compact JSON, version 1.
    pub fn encode(&self) -> Vec<u8> {
        to_bytes(json_object([
            ("version", Value::from(1)),
            ("partitions", partition_list_value(&self.partitions)),
        ]))
    }

    /// Missing `partitions` ⇒ empty.
    pub fn decode(bytes: &[u8]) -> Result<Self, ZkDataError> {
        Ok(IsrChangeNotification {
            partitions: decode_partition_list(ZNodeKind::IsrChangeNotification, bytes)?,
        })
    }
}

/// `/log_dir_event_notification/log_dir_event_<seq>`: `{"version":1,"broker":N,"event":1}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogDirEventNotification {
    /// The broker that had a log directory fail.
    pub broker_id: i32,
}

impl LogDirEventNotification {
    /// The only event type Kafka defines (log directory failure).
    pub const LOG_DIR_FAILURE_EVENT: i32 = 1;

    /// Compact JSON, version 1.
    pub fn encode(&self) -> Vec<u8> {
        to_bytes(json_object([
            ("version", Value::from(1)),
            ("broker", Value::from(self.broker_id)),
            ("event", Value::from(Self::LOG_DIR_FAILURE_EVENT)),
        ]))
    }

    /// Reads `broker` (Kafka ignores `event`).
    pub fn decode(bytes: &[u8]) -> Result<Self, ZkDataError> {
        let kind = ZNodeKind::LogDirEventNotification;
        let map = parse_object(kind, bytes)?;
        let obj = Obj { kind, map: &map };
        Ok(LogDirEventNotification {
            broker_id: obj.req_i32("broker")?,
        })
    }
}

/// `/latest_producer_id_block`:
/// `{"version":1,"broker":N,"block_start":"<long>","block_end":"<long>"}` (longs as strings,
/// both bounds inclusive).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProducerIdBlockZNode {
    pub broker_id: i32,
    pub block_start: i64,
    pub block_end: i64,
}

impl ProducerIdBlockZNode {
    /// Producer ids allocated per block.
    pub const BLOCK_SIZE: i64 = 1000;

    /// Compact JSON, version 1.
    pub fn encode(&self) -> Vec<u8> {
        to_bytes(json_object([
            ("version", Value::from(1)),
            ("broker", Value::from(self.broker_id)),
            ("block_start", Value::from(self.block_start.to_string())),
            ("block_end", Value::from(self.block_end.to_string())),
        ]))
    }

    /// Requires broker, block_start and block_end (strings or numbers).
    pub fn decode(bytes: &[u8]) -> Result<Self, ZkDataError> {
        let kind = ZNodeKind::ProducerIdBlock;
        let map = parse_object(kind, bytes)?;
        let obj = Obj { kind, map: &map };
        Ok(ProducerIdBlockZNode {
            broker_id: obj.req_i32("broker")?,
            block_start: obj.req_i64("block_start")?,
            block_end: obj.req_i64("block_end")?,
        })
    }

    /// Like [`decode`](Self::decode) but empty data (the znode as created at startup) is `None`.
    pub fn decode_optional(bytes: &[u8]) -> Result<Option<Self>, ZkDataError> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            Ok(None)
        } else {
            Self::decode(bytes).map(Some)
        }
    }

    /// The block following `previous` (or `[0, 999]` if none); `None` once ids are exhausted.
    pub fn next_block(previous: Option<&Self>, broker_id: i32) -> Option<Self> {
        let block_start = match previous {
            None => 0,
            Some(prev) => prev.block_end.checked_add(1)?,
        };
        let block_end = block_start.checked_add(Self::BLOCK_SIZE - 1)?;
        Some(ProducerIdBlockZNode {
            broker_id,
            block_start,
            block_end,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Dynamic config entities and notifications
// ---------------------------------------------------------------------------------------------

/// `/config/<type>/<name>`: `{"version":1,"config":{"key":"value",...}}` (values are strings).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EntityConfigZNode {
    pub config: BTreeMap<String, String>,
}

impl EntityConfigZNode {
    /// Compact JSON, version 1.
    pub fn encode(&self) -> Vec<u8> {
        let config = self
            .config
            .iter()
            .map(|(k, v)| (k.clone(), Value::from(v.as_str())))
            .collect();
        to_bytes(json_object([
            ("version", Value::from(1)),
            ("config", Value::Object(config)),
        ]))
    }

    /// Empty data or a missing `config` ⇒ no overrides (as Kafka). Non-string scalar values
    /// are kept as their JSON text; objects/arrays/null values are errors.
    pub fn decode(bytes: &[u8]) -> Result<Self, ZkDataError> {
        let kind = ZNodeKind::EntityConfig;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(EntityConfigZNode::default());
        }
        let map = parse_object(kind, bytes)?;
        let obj = Obj { kind, map: &map };
        let mut config = BTreeMap::new();
        if let Some(entries) = obj.opt_object("config")? {
            for (key, value) in entries.map {
                let text = match value {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    other => {
                        return Err(invalid(
                            kind,
                            &format!("config.{key}"),
                            format!("expected a string, found {}", json_type(other)),
                        ))
                    }
                };
                config.insert(key.clone(), text);
            }
        }
        Ok(EntityConfigZNode { config })
    }
}

/// `/config/changes/config_change_<seq>`: which entity's config changed. Written as version 2
/// (`{"version":2,"entity_path":"<type>/<name>"}`); legacy version 1
/// (`{"version":1,"entity_type":"topics","entity_name":"x"}`) is still accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigChangeNotification {
    pub entity_type: ConfigType,
    /// Sanitized entity name, possibly `<user>/clients/<client>` for user+client quotas.
    pub entity_name: String,
}

impl ConfigChangeNotification {
    /// `<type>/<name>`, e.g. `topics/orders`, `brokers/<default>`, `users/alice/clients/app1`.
    pub fn entity_path(&self) -> String {
        format!("{}/{}", self.entity_type.as_str(), self.entity_name)
    }

    /// The entity znode to re-read, e.g. `/config/topics/orders`.
    pub fn entity_znode_path(&self) -> String {
        config_entity_path(self.entity_type, &self.entity_name)
    }

    /// Version 2 compact JSON.
    pub fn encode(&self) -> Vec<u8> {
        to_bytes(json_object([
            ("version", Value::from(2)),
            ("entity_path", Value::from(self.entity_path())),
        ]))
    }

    /// Decodes version 1 or 2; the entity type must be one of [`ConfigType::ALL`].
    pub fn decode(bytes: &[u8]) -> Result<Self, ZkDataError> {
        let kind = ZNodeKind::ConfigChangeNotification;
        let map = parse_object(kind, bytes)?;
        let obj = Obj { kind, map: &map };
        let entity_type = |field: &str, name: &str| {
            ConfigType::from_name(name)
                .ok_or_else(|| invalid(kind, field, format!("unknown entity type {name:?}")))
        };
        let non_empty = |field: &str, name: &str| -> Result<String, ZkDataError> {
            if name.is_empty() {
                Err(invalid(kind, field, "empty entity name"))
            } else {
                Ok(name.to_string())
            }
        };
        match obj.req_i32("version")? {
            1 => Ok(ConfigChangeNotification {
                entity_type: entity_type("entity_type", obj.req_str("entity_type")?)?,
                entity_name: non_empty("entity_name", obj.req_str("entity_name")?)?,
            }),
            2 => {
                let path = obj.req_str("entity_path")?;
                let (type_name, name) = path.split_once('/').ok_or_else(|| {
                    invalid(
                        kind,
                        "entity_path",
                        format!("{path:?} is not <type>/<name>"),
                    )
                })?;
                Ok(ConfigChangeNotification {
                    entity_type: entity_type("entity_path", type_name)?,
                    entity_name: non_empty("entity_path", name)?,
                })
            }
            v => Err(ZkDataError::UnsupportedVersion {
                kind,
                version: i64::from(v),
            }),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Features
// ---------------------------------------------------------------------------------------------

/// Whether the KIP-584 feature versioning system is enabled (`status` in `/feature`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FeatureZNodeStatus {
    /// 0: written by a controller with IBP < 2.7-IV0; features are irrelevant.
    Disabled,
    /// 1: written by a controller with IBP ≥ 2.7-IV0.
    Enabled,
}

impl FeatureZNodeStatus {
    /// The JSON integer.
    pub fn id(self) -> i32 {
        match self {
            FeatureZNodeStatus::Disabled => 0,
            FeatureZNodeStatus::Enabled => 1,
        }
    }

    /// The status for a JSON integer, if valid.
    pub fn from_id(id: i32) -> Option<Self> {
        match id {
            0 => Some(FeatureZNodeStatus::Disabled),
            1 => Some(FeatureZNodeStatus::Enabled),
            _ => None,
        }
    }
}

/// `/feature`: `{"version":1,"status":1,"features":{"<name>":{"min_version_level":a,
/// "max_version_level":b}}}`; Kafka 2.8 defines no features, so normally `"features":{}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeatureZNode {
    pub status: FeatureZNodeStatus,
    /// Finalized feature name → version level range.
    pub features: BTreeMap<String, VersionRange>,
}

impl FeatureZNode {
    /// An enabled node with no finalized features (what a 2.8 controller writes).
    pub fn enabled_empty() -> Self {
        FeatureZNode {
            status: FeatureZNodeStatus::Enabled,
            features: BTreeMap::new(),
        }
    }

    /// Version 1 compact JSON.
    pub fn encode(&self) -> Vec<u8> {
        let features = self
            .features
            .iter()
            .map(|(name, range)| {
                let range = json_object([
                    ("min_version_level", Value::from(range.min)),
                    ("max_version_level", Value::from(range.max)),
                ]);
                (name.clone(), Value::Object(range))
            })
            .collect();
        to_bytes(json_object([
            ("version", Value::from(1)),
            ("status", Value::from(self.status.id())),
            ("features", Value::Object(features)),
        ]))
    }

    /// Decodes version 1 and version 2 (3.3+, no `min_version_level`: the range becomes
    /// `[max, max]`, mirroring how 3.3+ writes a level as v1). `status` and `features` are
    /// required, as in Kafka.
    pub fn decode(bytes: &[u8]) -> Result<Self, ZkDataError> {
        let kind = ZNodeKind::Feature;
        let map = parse_object(kind, bytes)?;
        let obj = Obj { kind, map: &map };
        let version = obj.req_i32("version")?;
        if !(1..=2).contains(&version) {
            return Err(ZkDataError::UnsupportedVersion {
                kind,
                version: i64::from(version),
            });
        }
        let status_id = obj.req_i32("status")?;
        let status = FeatureZNodeStatus::from_id(status_id)
            .ok_or_else(|| invalid(kind, "status", format!("unknown status {status_id}")))?;
        let entries = obj
            .opt_object("features")?
            .ok_or_else(|| ZkDataError::MissingField {
                kind,
                field: "features".to_string(),
            })?;
        let mut features = BTreeMap::new();
        for (name, range) in entries.map {
            let field = format!("features.{name}");
            let range = value_object(kind, &field, range)?;
            let max = value_i16(kind, &field, range.req("max_version_level")?)?;
            let min = match (version, range.get("min_version_level")) {
                (1, None) => {
                    return Err(ZkDataError::MissingField {
                        kind,
                        field: format!("{field}.min_version_level"),
                    })
                }
                (_, Some(v)) => value_i16(kind, &field, v)?,
                (_, None) => max,
            };
            if min < 1 || max < min {
                return Err(invalid(
                    kind,
                    &field,
                    format!("invalid version level range [{min}, {max}]"),
                ));
            }
            features.insert(name.clone(), VersionRange { min, max });
        }
        Ok(FeatureZNode { status, features })
    }
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(bytes: &[u8]) -> Value {
        serde_json::from_slice(bytes).unwrap()
    }

    /// Asserts the encoded bytes are compact JSON with exactly `fields` (name, JSON type).
    fn assert_shape(bytes: &[u8], fields: &[(&str, &str)]) {
        let text = std::str::from_utf8(bytes).unwrap();
        assert!(!text.contains('\n') && !text.contains(": ") && !text.contains(", "));
        let value = parse(bytes);
        let obj = value.as_object().unwrap();
        let mut actual: Vec<(&str, &str)> = obj
            .iter()
            .map(|(k, v)| (k.as_str(), json_type(v)))
            .collect();
        actual.sort();
        let mut expected = fields.to_vec();
        expected.sort();
        assert_eq!(actual, expected, "shape of {text}");
    }

    fn assert_same_json(bytes: &[u8], expected: &str) {
        assert_eq!(parse(bytes), parse(expected.as_bytes()));
    }

    fn proto_map() -> BTreeMap<String, SecurityProtocol> {
        SecurityProtocol::ALL
            .into_iter()
            .map(|p| (p.name().to_string(), p))
            .collect()
    }

    fn ep(s: &str) -> EndPoint {
        EndPoint::parse(s, &proto_map()).unwrap()
    }

    const GARBAGE: &[&[u8]] = &[
        b"",
        b"   ",
        b"{",
        b"not json",
        b"[1,2,3]",
        b"\"string\"",
        b"42",
        b"null",
        b"\xff\xfe\x00",
        b"{\"version\":",
        b"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
    ];

    /// Runs every decoder on `bytes`; they may succeed or fail but must not panic.
    fn decode_all(bytes: &[u8]) -> Vec<bool> {
        vec![
            ClusterIdZNode::decode(bytes).is_ok(),
            ControllerZNode::decode(bytes).is_ok(),
            BrokerInfo::decode(1, bytes).is_ok(),
            TopicAssignmentZNode::decode(bytes).is_ok(),
            PartitionStateZNode::decode(bytes).is_ok(),
            ConfigChangeNotification::decode(bytes).is_ok(),
            FeatureZNode::decode(bytes).is_ok(),
            ReassignPartitionsZNode::decode(bytes).is_ok(),
            PreferredReplicaElectionZNode::decode(bytes).is_ok(),
            IsrChangeNotification::decode(bytes).is_ok(),
            LogDirEventNotification::decode(bytes).is_ok(),
            ProducerIdBlockZNode::decode(bytes).is_ok(),
        ]
    }

    #[test]
    fn garbage_is_an_error_for_every_json_codec() {
        for g in GARBAGE {
            assert!(
                decode_all(g).iter().all(|ok| !ok),
                "garbage {:?} decoded",
                String::from_utf8_lossy(g)
            );
            let err = ControllerZNode::decode(g).unwrap_err();
            assert_eq!(err.kind(), ZNodeKind::Controller);
        }
        for g in &GARBAGE[2..] {
            assert!(EntityConfigZNode::decode(g).is_err());
        }
        for g in [&b""[..], b"abc", b"1.5", b"99999999999", b"\xff"] {
            assert!(ControllerEpochZNode::decode(g).is_err());
        }
    }

    #[test]
    fn truncated_and_random_input_never_panics() {
        let samples: Vec<Vec<u8>> = vec![
            ControllerZNode {
                broker_id: 1,
                timestamp_ms: 2,
            }
            .encode(),
            BrokerInfo::new(1, vec![ep("PLAINTEXT://h:1")], Some("r".into()), -1, 5).encode(),
            TopicAssignmentZNode {
                partitions: BTreeMap::from([(0, vec![1, 2])]),
                topic_id: Some(Uuid::new_v4()),
                ..Default::default()
            }
            .encode(),
            FeatureZNode::enabled_empty().encode(),
        ];
        for sample in &samples {
            for cut in 0..sample.len() {
                decode_all(&sample[..cut]);
                let _ = EntityConfigZNode::decode(&sample[..cut]);
            }
        }
        // Deterministic pseudo-random bytes (xorshift), biased towards JSON punctuation.
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let alphabet = b"{}[]\":,0123456789-.truefalsnul version partitions \\x";
        for _ in 0..2000 {
            let len = usize::try_from(state % 40).unwrap();
            let mut buf = Vec::with_capacity(len);
            for _ in 0..len {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                buf.push(alphabet[usize::try_from(state % alphabet.len() as u64).unwrap()]);
            }
            decode_all(&buf);
            let _ = EntityConfigZNode::decode(&buf);
            let _ = ControllerEpochZNode::decode(&buf);
        }
    }

    #[test]
    fn persistent_paths_match_kafka_order() {
        assert_eq!(PERSISTENT_PATHS.len(), 14);
        assert_eq!(
            &PERSISTENT_PATHS[..9],
            &[
                "/consumers",
                "/brokers/ids",
                "/brokers/topics",
                "/config/changes",
                "/admin/delete_topics",
                "/brokers/seqid",
                "/isr_change_notification",
                "/latest_producer_id_block",
                "/log_dir_event_notification",
            ]
        );
        let tail: Vec<String> = ConfigType::ALL
            .into_iter()
            .map(config_entity_type_path)
            .collect();
        assert_eq!(&PERSISTENT_PATHS[9..], tail.as_slice());
        assert_eq!(PERSISTENT_PATHS[13], "/config/ips");
    }

    #[test]
    fn path_helpers() {
        assert_eq!(broker_id_path(3), "/brokers/ids/3");
        assert_eq!(topic_path("orders"), "/brokers/topics/orders");
        assert_eq!(
            topic_partitions_path("orders"),
            "/brokers/topics/orders/partitions"
        );
        assert_eq!(
            topic_partition_path("orders", 2),
            "/brokers/topics/orders/partitions/2"
        );
        assert_eq!(
            topic_partition_state_path("orders", 2),
            "/brokers/topics/orders/partitions/2/state"
        );
        assert_eq!(config_entity_type_path(ConfigType::Ip), "/config/ips");
        assert_eq!(
            config_entity_path(ConfigType::Broker, DEFAULT_ENTITY),
            "/config/brokers/<default>"
        );
        assert_eq!(delete_topic_path("t"), "/admin/delete_topics/t");
        assert_eq!(DeleteTopicsZNode::topic_path("t"), "/admin/delete_topics/t");
        assert_eq!(
            DeleteTopicsZNode::topic_from_child("/admin/delete_topics/t"),
            "t"
        );
        assert_eq!(
            CONFIG_CHANGE_CREATE_PATH,
            format!("{CONFIG_CHANGES_PATH}/{CONFIG_CHANGE_PREFIX}")
        );
        assert_eq!(
            ISR_CHANGE_CREATE_PATH,
            format!("{ISR_CHANGE_NOTIFICATION_PATH}/{ISR_CHANGE_PREFIX}")
        );
        assert_eq!(
            LOG_DIR_EVENT_CREATE_PATH,
            format!("{LOG_DIR_EVENT_NOTIFICATION_PATH}/{LOG_DIR_EVENT_PREFIX}")
        );
        assert_eq!(
            config_change_path("config_change_0000000001"),
            "/config/changes/config_change_0000000001"
        );
        for t in ConfigType::ALL {
            assert_eq!(ConfigType::from_name(t.as_str()), Some(t));
        }
        let names: Vec<&str> = ConfigType::ALL.iter().map(|t| t.as_str()).collect();
        assert_eq!(names, ["topics", "clients", "users", "brokers", "ips"]);
        assert_eq!(ConfigType::from_name("topic"), None);
        assert_eq!(acl_authorizer_paths().len(), 14);
        assert!(acl_authorizer_paths().contains(&"/kafka-acl-extended/prefixed/Topic".into()));
    }

    #[test]
    fn znode_acls() {
        assert_eq!(default_acl(false, "/config/users"), ZNodeAcl::Open);
        assert_eq!(default_acl(true, "/consumers"), ZNodeAcl::Open);
        assert_eq!(
            default_acl(true, "/config/users/alice"),
            ZNodeAcl::CreatorAll
        );
        assert_eq!(default_acl(true, "/config/brokers"), ZNodeAcl::CreatorAll);
        assert_eq!(
            default_acl(true, "/delegation_token/tokens/x"),
            ZNodeAcl::CreatorAll
        );
        assert_eq!(
            default_acl(true, "/config/topics/t"),
            ZNodeAcl::CreatorAllWorldRead
        );
    }

    #[test]
    fn sequence_numbers() {
        assert_eq!(config_change_seq("config_change_0000000042"), Some(42));
        assert_eq!(
            config_change_seq("/config/changes/config_change_0000000007"),
            Some(7)
        );
        assert_eq!(
            config_change_seq("config_change_-2147483648"),
            Some(-2147483648)
        );
        assert_eq!(config_change_seq("config_change_"), None);
        assert_eq!(config_change_seq("config_change_+1"), None);
        assert_eq!(config_change_seq("config_change_12a"), None);
        assert_eq!(config_change_seq("isr_change_0000000001"), None);
        assert_eq!(
            sequence_number("isr_change_0000000003", ISR_CHANGE_PREFIX),
            Some(3)
        );
    }

    #[test]
    fn cluster_id() {
        for _ in 0..200 {
            let id = generate_cluster_id();
            assert_eq!(id.len(), 22);
            assert!(id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
            assert!(!id.starts_with('-'));
            assert!(decode_topic_id(&id).is_ok());
        }
        let node = ClusterIdZNode {
            id: "xOEPqbCbQ5uYeiG9Rdm_nA".into(),
        };
        let bytes = node.encode();
        assert_same_json(&bytes, r#"{"version":"1","id":"xOEPqbCbQ5uYeiG9Rdm_nA"}"#);
        assert_shape(&bytes, &[("version", "string"), ("id", "string")]);
        assert_eq!(ClusterIdZNode::decode(&bytes).unwrap(), node);
        let tolerant = br#"{"extra":[1],"id":"abc","version":"1"}"#;
        assert_eq!(ClusterIdZNode::decode(tolerant).unwrap().id, "abc");
        assert!(matches!(
            ClusterIdZNode::decode(br#"{"version":"1"}"#),
            Err(ZkDataError::MissingField { .. })
        ));
        assert!(ClusterIdZNode::decode(br#"{"version":"1","id":5}"#).is_err());
    }

    #[test]
    fn topic_id_round_trip() {
        let id = Uuid::new_v4();
        let s = encode_topic_id(&id);
        assert_eq!(s.len(), 22);
        assert_eq!(decode_topic_id(&s).unwrap(), id);
        assert_eq!(decode_topic_id(&format!("{s}==")).unwrap(), id);
        assert_eq!(
            encode_topic_id(&Uuid::nil()),
            "AAAAAAAAAAAAAAAAAAAAAA",
            "Kafka's ZERO_UUID"
        );
        assert!(decode_topic_id("abc").is_err());
        assert!(decode_topic_id("!!!!!!!!!!!!!!!!!!!!!!").is_err());
        assert!(decode_topic_id("AAAAAAAAAAAAAAAAAAAAAAAAAAAA").is_err());
    }

    #[test]
    fn controller() {
        let node = ControllerZNode {
            broker_id: 2,
            timestamp_ms: 1_700_000_000_000,
        };
        let bytes = node.encode();
        assert_same_json(
            &bytes,
            r#"{"version":1,"brokerid":2,"timestamp":"1700000000000"}"#,
        );
        assert_shape(
            &bytes,
            &[
                ("version", "number"),
                ("brokerid", "number"),
                ("timestamp", "string"),
            ],
        );
        assert_eq!(ControllerZNode::decode(&bytes).unwrap(), node);
        // Kafka 3.4+ version 2, reordered, with an unknown field.
        let v2 = br#"{"kraftControllerEpoch":-1,"timestamp":"5","brokerid":7,"version":2,"x":{}}"#;
        assert_eq!(
            ControllerZNode::decode(v2).unwrap(),
            ControllerZNode {
                broker_id: 7,
                timestamp_ms: 5
            }
        );
        let no_ts = ControllerZNode::decode(br#"{"version":1,"brokerid":1}"#).unwrap();
        assert_eq!(no_ts.timestamp_ms, -1);
        assert!(ControllerZNode::decode(br#"{"version":1,"brokerid":"x"}"#).is_err());
    }

    #[test]
    fn controller_epoch() {
        let node = ControllerEpochZNode { epoch: 5 };
        assert_eq!(node.encode(), b"5");
        assert_eq!(ControllerEpochZNode::decode(b"5").unwrap(), node);
        assert_eq!(ControllerEpochZNode::decode(b" 12\n").unwrap().epoch, 12);
        assert_eq!(ControllerEpochZNode::decode(b"0").unwrap().epoch, 0);
    }

    const BROKER_V5_EXAMPLE: &str = r#"{"features":{},"listener_security_protocol_map":{"PLAINTEXT":"PLAINTEXT","SSL":"SSL"},
 "endpoints":["PLAINTEXT://kafka1:9092","SSL://kafka1:9093"],"jmx_port":-1,"port":9092,
 "host":"kafka1","version":5,"timestamp":"1700000000000","rack":"r1"}"#;

    fn example_broker() -> BrokerInfo {
        BrokerInfo::new(
            1,
            vec![ep("PLAINTEXT://kafka1:9092"), ep("SSL://kafka1:9093")],
            Some("r1".into()),
            -1,
            1_700_000_000_000,
        )
    }

    #[test]
    fn broker_v5_matches_spec_example() {
        let broker = example_broker();
        let bytes = broker.encode();
        assert_same_json(&bytes, BROKER_V5_EXAMPLE);
        assert_shape(
            &bytes,
            &[
                ("features", "object"),
                ("listener_security_protocol_map", "object"),
                ("endpoints", "array"),
                ("jmx_port", "number"),
                ("port", "number"),
                ("host", "string"),
                ("version", "number"),
                ("timestamp", "string"),
                ("rack", "string"),
            ],
        );
        assert_eq!(BrokerInfo::decode(1, &bytes).unwrap(), broker);
        assert_eq!(
            BrokerInfo::decode(1, BROKER_V5_EXAMPLE.as_bytes()).unwrap(),
            broker
        );
    }

    #[test]
    fn broker_optional_fields_and_custom_listeners() {
        let mut map = proto_map();
        map.insert("INTERNAL".into(), SecurityProtocol::SaslSsl);
        map.insert("CLIENT".into(), SecurityProtocol::Ssl);
        let endpoints = vec![
            EndPoint::parse("CLIENT://[::1]:9093", &map).unwrap(),
            EndPoint::parse("INTERNAL://:9094", &map).unwrap(),
        ];
        let mut broker = BrokerInfo::new(4, endpoints, None, 9999, 42);
        broker.version = 4;
        let bytes = broker.encode();
        assert_shape(
            &bytes,
            &[
                ("listener_security_protocol_map", "object"),
                ("endpoints", "array"),
                ("jmx_port", "number"),
                ("port", "number"),
                ("host", "null"),
                ("version", "number"),
                ("timestamp", "string"),
            ],
        );
        let v = parse(&bytes);
        assert_eq!(v["port"], -1);
        assert_eq!(v["timestamp"], "42");
        assert_eq!(
            v["endpoints"],
            serde_json::json!(["CLIENT://[::1]:9093", "INTERNAL://:9094"])
        );
        assert_eq!(
            v["listener_security_protocol_map"],
            serde_json::json!({"CLIENT":"SSL","INTERNAL":"SASL_SSL"})
        );
        let decoded = BrokerInfo::decode(4, &bytes).unwrap();
        assert_eq!(decoded, broker);
        assert_eq!(decoded.endpoint("INTERNAL").unwrap().port, 9094);
        assert_eq!(decoded.path(), "/brokers/ids/4");

        // Features are written as {"min_version":a,"max_version":b} in v5.
        let mut v5 = example_broker();
        v5.features
            .insert("f".into(), VersionRange { min: 1, max: 3 });
        let v = parse(&v5.encode());
        assert_eq!(
            v["features"],
            serde_json::json!({"f":{"min_version":1,"max_version":3}})
        );
        assert_eq!(BrokerInfo::decode(1, &v5.encode()).unwrap(), v5);
    }

    #[test]
    fn broker_decodes_old_versions() {
        let v1 = br#"{"version":1,"host":"localhost","port":9092,"jmx_port":9999,"timestamp":"2233345666"}"#;
        let b = BrokerInfo::decode(0, v1).unwrap();
        assert_eq!(b.endpoints, vec![ep("PLAINTEXT://localhost:9092")]);
        assert_eq!(
            (b.version, b.jmx_port, b.timestamp_ms),
            (1, 9999, 2_233_345_666)
        );

        let v2 = br#"{"version":2,"host":"localhost","port":9092,"jmx_port":9999,"timestamp":"2233345666","endpoints":["PLAINTEXT://host1:9092","SSL://host1:9093"]}"#;
        let b = BrokerInfo::decode(0, v2).unwrap();
        assert_eq!(
            b.endpoints,
            vec![ep("PLAINTEXT://host1:9092"), ep("SSL://host1:9093")]
        );
        assert!(b.rack.is_none() && b.features.is_empty());

        let v4 = br#"{"rack":"dc1","endpoints":["CLIENT://host1:9092","REPLICATION://host1:9093"],"version":4,"listener_security_protocol_map":{"CLIENT":"SSL","REPLICATION":"PLAINTEXT","UNUSED":"SASL_SSL"},"host":null,"port":-1,"jmx_port":-1,"timestamp":"1","unknown":true}"#;
        let b = BrokerInfo::decode(0, v4).unwrap();
        assert_eq!(b.rack.as_deref(), Some("dc1"));
        assert_eq!(b.endpoints[0].security_protocol, SecurityProtocol::Ssl);
        assert_eq!(
            b.endpoints[1].security_protocol,
            SecurityProtocol::Plaintext
        );
        assert_eq!(b.legacy_host_port(), (Some("host1"), 9093));
        // Only the advertised listeners are written back, as Kafka does.
        assert_eq!(b.listener_security_protocol_map().len(), 2);

        // Unmapped listener, bad version, missing endpoints: errors.
        let bad = br#"{"version":4,"endpoints":["X://h:1"],"listener_security_protocol_map":{}}"#;
        assert!(BrokerInfo::decode(0, bad).is_err());
        assert!(matches!(
            BrokerInfo::decode(0, br#"{"version":0}"#),
            Err(ZkDataError::UnsupportedVersion { version: 0, .. })
        ));
        assert!(matches!(
            BrokerInfo::decode(0, br#"{"version":5}"#),
            Err(ZkDataError::MissingField { .. })
        ));
        assert!(BrokerInfo::decode(0, br#"{"version":1,"port":70000}"#).is_err());
        assert!(BrokerInfo::decode(0, br#"{"version":5,"endpoints":[1]}"#).is_err());
    }

    const TOPIC_EXAMPLE: &str = r#"{"version":3,"partitions":{"0":[1,2,3],"1":[2,3,1]},"adding_replicas":{},"removing_replicas":{},
 "topic_id":"xOEPqbCbQ5uYeiG9Rdm_nA"}"#;

    #[test]
    fn topic_assignment() {
        let node = TopicAssignmentZNode {
            partitions: BTreeMap::from([(0, vec![1, 2, 3]), (1, vec![2, 3, 1])]),
            topic_id: Some(decode_topic_id("xOEPqbCbQ5uYeiG9Rdm_nA").unwrap()),
            ..Default::default()
        };
        let bytes = node.encode();
        assert_same_json(&bytes, TOPIC_EXAMPLE);
        assert_shape(
            &bytes,
            &[
                ("version", "number"),
                ("partitions", "object"),
                ("adding_replicas", "object"),
                ("removing_replicas", "object"),
                ("topic_id", "string"),
            ],
        );
        assert_eq!(TopicAssignmentZNode::decode(&bytes).unwrap(), node);
        assert_eq!(
            TopicAssignmentZNode::decode(TOPIC_EXAMPLE.as_bytes()).unwrap(),
            node
        );

        // No topic id ⇒ no field; empty adding/removing lists are not written.
        let reassigning = TopicAssignmentZNode {
            partitions: BTreeMap::from([(0, vec![1, 2, 4])]),
            adding_replicas: BTreeMap::from([(0, vec![4]), (1, vec![])]),
            removing_replicas: BTreeMap::from([(0, vec![3])]),
            topic_id: None,
        };
        let v = parse(&reassigning.encode());
        assert!(v.get("topic_id").is_none());
        assert_eq!(v["adding_replicas"], serde_json::json!({"0":[4]}));
        assert_eq!(v["removing_replicas"], serde_json::json!({"0":[3]}));

        // Version 1 (no adding/removing/topic_id), with extra fields.
        let v1 = br#"{"partitions":{"2":[3]},"version":1,"other":"x"}"#;
        let d = TopicAssignmentZNode::decode(v1).unwrap();
        assert_eq!(d.partitions, BTreeMap::from([(2, vec![3])]));
        assert!(d.adding_replicas.is_empty() && d.topic_id.is_none());
        assert_eq!(
            TopicAssignmentZNode::decode(br#"{"version":2}"#).unwrap(),
            TopicAssignmentZNode::default()
        );
        assert!(TopicAssignmentZNode::decode(br#"{"partitions":{"x":[1]}}"#).is_err());
        assert!(TopicAssignmentZNode::decode(br#"{"partitions":{"0":"1"}}"#).is_err());
        assert!(TopicAssignmentZNode::decode(br#"{"topic_id":"short"}"#).is_err());
    }

    #[test]
    fn partition_state() {
        let node = PartitionStateZNode {
            leader: 1,
            leader_epoch: 12,
            isr: vec![1, 2, 3],
            controller_epoch: 7,
            leader_recovery_state: 0,
        };
        let example =
            r#"{"controller_epoch":7,"leader":1,"version":1,"leader_epoch":12,"isr":[1,2,3]}"#;
        let bytes = node.encode();
        assert_same_json(&bytes, example);
        assert_shape(
            &bytes,
            &[
                ("controller_epoch", "number"),
                ("leader", "number"),
                ("version", "number"),
                ("leader_epoch", "number"),
                ("isr", "array"),
            ],
        );
        assert_eq!(
            PartitionStateZNode::decode(example.as_bytes()).unwrap(),
            node
        );
        let recovering = PartitionStateZNode {
            leader_recovery_state: 1,
            leader: NO_LEADER,
            ..node.clone()
        };
        let v = parse(&recovering.encode());
        assert_eq!(v["leader_recovery_state"], 1);
        assert_eq!(
            PartitionStateZNode::decode(&recovering.encode()).unwrap(),
            recovering
        );
        assert!(
            PartitionStateZNode::decode(br#"{"leader":1,"leader_epoch":1,"isr":[1]}"#).is_err()
        );
        assert!(PartitionStateZNode::decode(
            br#"{"leader":1,"leader_epoch":1,"isr":[1],"controller_epoch":1,"leader_recovery_state":9}"#
        )
        .is_err());
    }

    #[test]
    fn entity_config() {
        let node = EntityConfigZNode {
            config: BTreeMap::from([
                ("retention.ms".to_string(), "1000".to_string()),
                ("cleanup.policy".to_string(), "compact".to_string()),
            ]),
        };
        let bytes = node.encode();
        assert_same_json(
            &bytes,
            r#"{"version":1,"config":{"retention.ms":"1000","cleanup.policy":"compact"}}"#,
        );
        assert_shape(&bytes, &[("version", "number"), ("config", "object")]);
        assert!(parse(&bytes)["config"]["retention.ms"].is_string());
        assert_eq!(EntityConfigZNode::decode(&bytes).unwrap(), node);
        assert_same_json(
            &EntityConfigZNode::default().encode(),
            r#"{"version":1,"config":{}}"#,
        );
        assert!(EntityConfigZNode::decode(b"").unwrap().config.is_empty());
        assert!(EntityConfigZNode::decode(br#"{"version":1}"#)
            .unwrap()
            .config
            .is_empty());
        let lenient = EntityConfigZNode::decode(br#"{"config":{"a":5,"b":"x"},"z":1}"#).unwrap();
        assert_eq!(lenient.config["a"], "5");
        assert!(EntityConfigZNode::decode(br#"{"config":{"a":[1]}}"#).is_err());
        assert!(EntityConfigZNode::decode(br#"{"config":[]}"#).is_err());
    }

    #[test]
    fn config_change_notification() {
        let node = ConfigChangeNotification {
            entity_type: ConfigType::Topic,
            entity_name: "orders".into(),
        };
        let bytes = node.encode();
        assert_same_json(&bytes, r#"{"version":2,"entity_path":"topics/orders"}"#);
        assert_shape(&bytes, &[("version", "number"), ("entity_path", "string")]);
        assert_eq!(ConfigChangeNotification::decode(&bytes).unwrap(), node);
        assert_eq!(node.entity_znode_path(), "/config/topics/orders");

        let v1 = br#"{"entity_name":"x","version":1,"entity_type":"topics"}"#;
        assert_eq!(
            ConfigChangeNotification::decode(v1).unwrap(),
            ConfigChangeNotification {
                entity_type: ConfigType::Topic,
                entity_name: "x".into()
            }
        );
        let quota = br#"{"version":2,"entity_path":"users/alice/clients/app1"}"#;
        let d = ConfigChangeNotification::decode(quota).unwrap();
        assert_eq!(d.entity_type, ConfigType::User);
        assert_eq!(d.entity_name, "alice/clients/app1");
        assert_eq!(d.entity_znode_path(), "/config/users/alice/clients/app1");
        let d =
            ConfigChangeNotification::decode(br#"{"version":2,"entity_path":"brokers/<default>"}"#)
                .unwrap();
        assert_eq!(
            (d.entity_type, d.entity_name.as_str()),
            (ConfigType::Broker, DEFAULT_ENTITY)
        );

        for bad in [
            &br#"{"version":2,"entity_path":"topics"}"#[..],
            br#"{"version":2,"entity_path":"widgets/x"}"#,
            br#"{"version":2,"entity_path":"topics/"}"#,
            br#"{"version":1,"entity_type":"topics"}"#,
            br#"{"entity_path":"topics/x"}"#,
        ] {
            assert!(ConfigChangeNotification::decode(bad).is_err());
        }
        assert!(matches!(
            ConfigChangeNotification::decode(br#"{"version":3,"entity_path":"topics/x"}"#),
            Err(ZkDataError::UnsupportedVersion { version: 3, .. })
        ));
    }

    #[test]
    fn feature_znode() {
        let node = FeatureZNode::enabled_empty();
        let bytes = node.encode();
        assert_same_json(&bytes, r#"{"version":1,"status":1,"features":{}}"#);
        assert_shape(
            &bytes,
            &[
                ("version", "number"),
                ("status", "number"),
                ("features", "object"),
            ],
        );
        assert_eq!(FeatureZNode::decode(&bytes).unwrap(), node);

        let mut with = FeatureZNode {
            status: FeatureZNodeStatus::Disabled,
            features: BTreeMap::new(),
        };
        with.features
            .insert("f".into(), VersionRange { min: 1, max: 2 });
        assert_same_json(
            &with.encode(),
            r#"{"version":1,"status":0,"features":{"f":{"min_version_level":1,"max_version_level":2}}}"#,
        );
        assert_eq!(FeatureZNode::decode(&with.encode()).unwrap(), with);

        let v2 = br#"{"features":{"metadata.version":{"max_version_level":7}},"status":1,"version":2,"x":0}"#;
        let d = FeatureZNode::decode(v2).unwrap();
        assert_eq!(
            d.features["metadata.version"],
            VersionRange { min: 7, max: 7 }
        );

        for bad in [
            &br#"{"version":1,"status":1}"#[..],
            br#"{"version":1,"features":{}}"#,
            br#"{"version":1,"status":5,"features":{}}"#,
            br#"{"version":1,"status":1,"features":{"f":{"max_version_level":2}}}"#,
            br#"{"version":1,"status":1,"features":{"f":{"min_version_level":3,"max_version_level":2}}}"#,
            br#"{"version":3,"status":1,"features":{}}"#,
        ] {
            assert!(FeatureZNode::decode(bad).is_err());
        }
    }

    #[test]
    fn reassign_partitions() {
        let example =
            r#"{"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[4,5,6]}]}"#;
        let node = ReassignPartitionsZNode {
            partitions: BTreeMap::from([(("t".to_string(), 0), vec![4, 5, 6])]),
        };
        let bytes = node.encode();
        assert_same_json(&bytes, example);
        assert_shape(&bytes, &[("version", "number"), ("partitions", "array")]);
        assert_eq!(
            ReassignPartitionsZNode::decode(example.as_bytes()).unwrap(),
            node
        );
        let reordered =
            br#"{"partitions":[{"replicas":[4,5,6],"x":1,"partition":0,"topic":"t"}],"version":1}"#;
        assert_eq!(ReassignPartitionsZNode::decode(reordered).unwrap(), node);
        assert!(ReassignPartitionsZNode::decode(br#"{"partitions":[{"topic":"t"}]}"#).is_err());
        assert!(ReassignPartitionsZNode::decode(br#"{"partitions":{}}"#).is_err());
    }

    #[test]
    fn preferred_election_and_isr_change() {
        let example = r#"{"version":1,"partitions":[{"topic":"t","partition":0}]}"#;
        let set = BTreeSet::from([("t".to_string(), 0)]);
        let pre = PreferredReplicaElectionZNode {
            partitions: set.clone(),
        };
        assert_same_json(&pre.encode(), example);
        assert_shape(
            &pre.encode(),
            &[("version", "number"), ("partitions", "array")],
        );
        assert_eq!(
            PreferredReplicaElectionZNode::decode(example.as_bytes()).unwrap(),
            pre
        );
        let isr = IsrChangeNotification {
            partitions: BTreeSet::from([("t".to_string(), 0), ("u".to_string(), 3)]),
        };
        assert_same_json(
            &isr.encode(),
            r#"{"version":1,"partitions":[{"topic":"t","partition":0},{"topic":"u","partition":3}]}"#,
        );
        let reordered = br#"{"partitions":[{"partition":3,"topic":"u"},{"topic":"t","partition":0,"y":2}],"version":1}"#;
        assert_eq!(IsrChangeNotification::decode(reordered).unwrap(), isr);
        assert!(
            IsrChangeNotification::decode(br#"{"partitions":[{"topic":1,"partition":0}]}"#)
                .is_err()
        );
    }

    #[test]
    fn log_dir_event() {
        let node = LogDirEventNotification { broker_id: 3 };
        let bytes = node.encode();
        assert_same_json(&bytes, r#"{"version":1,"broker":3,"event":1}"#);
        assert_shape(
            &bytes,
            &[
                ("version", "number"),
                ("broker", "number"),
                ("event", "number"),
            ],
        );
        assert_eq!(
            LogDirEventNotification::decode(br#"{"event":1,"broker":3,"version":1}"#).unwrap(),
            node
        );
        assert!(LogDirEventNotification::decode(br#"{"version":1,"event":1}"#).is_err());
    }

    #[test]
    fn producer_id_block() {
        let node = ProducerIdBlockZNode {
            broker_id: 1,
            block_start: 1000,
            block_end: 1999,
        };
        let bytes = node.encode();
        assert_same_json(
            &bytes,
            r#"{"version":1,"broker":1,"block_start":"1000","block_end":"1999"}"#,
        );
        assert_shape(
            &bytes,
            &[
                ("version", "number"),
                ("broker", "number"),
                ("block_start", "string"),
                ("block_end", "string"),
            ],
        );
        assert_eq!(ProducerIdBlockZNode::decode(&bytes).unwrap(), node);
        assert_eq!(ProducerIdBlockZNode::decode_optional(b"").unwrap(), None);
        assert_eq!(
            ProducerIdBlockZNode::decode_optional(&bytes).unwrap(),
            Some(node)
        );
        let first = ProducerIdBlockZNode::next_block(None, 2).unwrap();
        assert_eq!((first.block_start, first.block_end), (0, 999));
        let next = ProducerIdBlockZNode::next_block(Some(&node), 2).unwrap();
        assert_eq!(
            (next.block_start, next.block_end, next.broker_id),
            (2000, 2999, 2)
        );
        let last = ProducerIdBlockZNode {
            block_end: i64::MAX - 10,
            ..node
        };
        assert_eq!(ProducerIdBlockZNode::next_block(Some(&last), 1), None);
        assert!(
            ProducerIdBlockZNode::decode(br#"{"broker":1,"block_start":"x","block_end":"1"}"#)
                .is_err()
        );
    }

    #[test]
    fn sanitize_round_trip() {
        assert_eq!(sanitize_entity_name("alice"), "alice");
        assert_eq!(sanitize_entity_name("a b*c+d"), "a%20b%2Ac%2Bd");
        assert_eq!(
            sanitize_entity_name("User:CN=x,O=y"),
            "User%3ACN%3Dx%2CO%3Dy"
        );
        assert_eq!(sanitize_entity_name("client.id-1_x"), "client.id-1_x");
        assert_eq!(sanitize_entity_name("é"), "%C3%A9");
        assert_eq!(sanitize_entity_name("a/b"), "a%2Fb");
        for name in ["alice", "a b*c+d", "User:CN=x,O=y", "é/ü~!<default>", ""] {
            assert_eq!(
                desanitize_entity_name(&sanitize_entity_name(name)).unwrap(),
                name
            );
        }
        assert_eq!(desanitize_entity_name("a+b").unwrap(), "a b");
        assert_eq!(desanitize_entity_name("%2a").unwrap(), "*");
        assert!(desanitize_entity_name("%").is_err());
        assert!(desanitize_entity_name("%G1").is_err());
        assert!(desanitize_entity_name("abc%2").is_err());
        assert_eq!(
            sanitize_config_entity_name(ConfigType::User, DEFAULT_ENTITY),
            DEFAULT_ENTITY
        );
        assert_eq!(
            sanitize_config_entity_name(ConfigType::Client, "my app"),
            "my%20app"
        );
        assert_eq!(sanitize_config_entity_name(ConfigType::Ip, "::1"), "::1");
    }
}
