//! FindCoordinator (key 10, v0–6): Kafka's `KafkaApis.handleFindCoordinatorRequest` +
//! `getCoordinator` on a ZK broker.
//!
//! - Key type 0 (group): the leader of `__consumer_offsets` partition
//!   `abs(hash(key)) % partitions`; key type 1 (transaction): the leader of the
//!   `__transaction_state` partition of the transactional id (this broker has no
//!   transaction coordinator: InitProducerId refuses transactional ids, so clients fail there
//!   with a clear error instead of retrying lookups forever); key type 2 (share group, v6+)
//!   → COORDINATOR_NOT_AVAILABLE (no share coordinator), below v6 → INVALID_REQUEST; any other
//!   key type → INVALID_REQUEST for the whole request.
//! - The internal topic not in the metadata cache → its creation is triggered through the
//!   admin path (with Kafka's forced topic configs; fewer live brokers than the replication
//!   factor makes it fail and the lookup stays unavailable) → COORDINATOR_NOT_AVAILABLE.
//! - The partition without a live leader, or a leader without an endpoint on this listener →
//!   COORDINATOR_NOT_AVAILABLE. Errors carry node −1, host "", port −1.
//! - v0–3 look up `key`; v4+ every key of `coordinator_keys` (v1–3 carry Kafka's error
//!   message, "NONE" on success; v4+ entries have none).

use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{
    BrokerId, FindCoordinatorRequest, FindCoordinatorResponse, TopicName,
};
use tracing::info;

use super::group_common::{decode, encode, sb};
use crate::cluster::{GROUP_METADATA_TOPIC_NAME, TRANSACTION_STATE_TOPIC_NAME};
use crate::config::KafkaConfig;
use crate::coordinator::group::config::{offsets_topic_configs, transaction_topic_settings};
use crate::coordinator::group::{partition_for, GroupCoordinatorHandle, OffsetConfig};
use crate::network::{ConnectionContext, Response};
use crate::protocol::{ParsedRequest, ResponseError};
use crate::server::admin_manager::AdminManager;
use crate::server::kafka_apis::ApisContext;
use crate::server::metadata_cache::MetadataCache;
use crate::zk::admin_zk_client::AdminError;

const GROUP: i8 = 0;
const TRANSACTION: i8 = 1;
const SHARE: i8 = 2;

/// Kafka's default message of the errors this API answers (`Errors.message()`).
fn message(error: Option<ResponseError>) -> &'static str {
    match error {
        None => "NONE",
        Some(ResponseError::CoordinatorNotAvailable) => "The coordinator is not available.",
        Some(ResponseError::InvalidRequest) => {
            "This most likely occurs because of a request being malformed by the client library or the message was sent to an incompatible broker. See the broker logs for more details."
        }
        Some(_) => "",
    }
}

/// Where a key's coordinator is: `Ok((node, host, port))` or the error.
type Lookup = Result<(i32, String, i32), ResponseError>;

pub async fn handle(
    context: &ApisContext,
    cache: &MetadataCache,
    admin: Option<&AdminManager>,
    coordinator: Option<&GroupCoordinatorHandle>,
    connection: &ConnectionContext,
    request: &ParsedRequest,
) -> Response {
    let Some(body) = decode::<FindCoordinatorRequest>(request) else {
        return Response::CloseConnection;
    };
    let version = request.api_version();
    let key_type = body.key_type;
    let keys: Vec<String> = if version >= 4 {
        body.coordinator_keys
            .iter()
            .map(|k| k.to_string())
            .collect()
    } else {
        vec![body.key.to_string()]
    };
    let known_type = matches!(key_type, GROUP | TRANSACTION | SHARE);
    let mut lookups = Vec::with_capacity(keys.len());
    for key in &keys {
        let lookup = if !known_type {
            Err(ResponseError::InvalidRequest)
        } else {
            lookup(
                context,
                cache,
                admin,
                coordinator,
                &connection.listener_name,
                key_type,
                key,
                version,
            )
            .await
        };
        lookups.push(lookup);
    }
    let mut response = FindCoordinatorResponse::default();
    if version >= 4 {
        response.coordinators = keys
            .into_iter()
            .zip(lookups)
            .map(|(key, lookup)| {
                let (node, host, port, error) = split(lookup);
                let c = Coordinator::default()
                    .with_key(sb(key))
                    .with_node_id(BrokerId(node))
                    .with_host(sb(host))
                    .with_port(port)
                    .with_error_code(error.map_or(0, |e| e.code()));
                // Kafka sets a message only on the whole-request error answer (null else).
                c.with_error_message((!known_type).then(|| sb(message(error))))
            })
            .collect();
    } else {
        let (node, host, port, error) =
            split(lookups.pop().unwrap_or(Err(ResponseError::InvalidRequest)));
        response = response
            .with_error_code(error.map_or(0, |e| e.code()))
            .with_node_id(BrokerId(node))
            .with_host(sb(host))
            .with_port(port);
        if version >= 1 {
            response = response.with_error_message(Some(sb(message(error))));
        }
    }
    encode(request, &response)
}

fn split(lookup: Lookup) -> (i32, String, i32, Option<ResponseError>) {
    match lookup {
        Ok((node, host, port)) => (node, host, port, None),
        Err(e) => (-1, String::new(), -1, Some(e)),
    }
}

#[allow(clippy::too_many_arguments)]
async fn lookup(
    context: &ApisContext,
    cache: &MetadataCache,
    admin: Option<&AdminManager>,
    coordinator: Option<&GroupCoordinatorHandle>,
    listener: &str,
    key_type: i8,
    key: &str,
    version: i16,
) -> Lookup {
    let (topic, partition) = match key_type {
        GROUP => {
            let Some(c) = coordinator else {
                return Err(ResponseError::CoordinatorNotAvailable);
            };
            (GROUP_METADATA_TOPIC_NAME, c.partition_for(key))
        }
        TRANSACTION => {
            let snapshot = cache.snapshot();
            let existing = snapshot
                .partition_states
                .keys()
                .filter(|tp| tp.topic == TRANSACTION_STATE_TOPIC_NAME)
                .count() as i32;
            let count = if existing > 0 {
                existing
            } else {
                transaction_topic_settings(&context.config).0
            };
            (TRANSACTION_STATE_TOPIC_NAME, partition_for(key, count))
        }
        _ if version < 6 => return Err(ResponseError::InvalidRequest),
        _ => return Err(ResponseError::CoordinatorNotAvailable),
    };
    let snapshot = cache.snapshot();
    let exists = snapshot.partition_states.keys().any(|tp| tp.topic == topic);
    if !exists {
        if let Some(admin) = admin {
            create_internal_topic(context, admin, topic).await;
        }
        return Err(ResponseError::CoordinatorNotAvailable);
    }
    let state = snapshot
        .partition_states
        .get(&crate::cluster::TopicPartition::new(topic, partition))
        .ok_or(ResponseError::CoordinatorNotAvailable)?;
    if state.leader < 0 {
        return Err(ResponseError::CoordinatorNotAvailable);
    }
    let broker = snapshot
        .alive_brokers
        .get(&state.leader)
        .ok_or(ResponseError::CoordinatorNotAvailable)?;
    let ep = broker
        .endpoints
        .get(listener)
        .ok_or(ResponseError::CoordinatorNotAvailable)?;
    Ok((broker.id, ep.host.clone(), ep.port))
}

/// The CreateTopics entry Kafka's `AutoTopicCreationManager` uses for an internal topic:
/// `__consumer_offsets` with `offsets.topic.num.partitions`, `offsets.topic.replication.factor`
/// and its forced configs; `__transaction_state` likewise from `transaction.state.log.*`.
/// Metadata auto-creation of an internal topic uses it too (`AdminManager::auto_create`).
pub fn internal_topic_creatable(config: &KafkaConfig, topic: &str) -> CreatableTopic {
    let (partitions, rf, configs) = if topic == GROUP_METADATA_TOPIC_NAME {
        let offsets = OffsetConfig::from_config(config);
        (
            offsets.topic_num_partitions,
            offsets.topic_replication_factor,
            offsets_topic_configs(&offsets),
        )
    } else {
        transaction_topic_settings(config)
    };
    CreatableTopic::default()
        .with_name(TopicName(sb(topic)))
        .with_num_partitions(partitions)
        .with_replication_factor(rf)
        .with_configs(
            configs
                .into_iter()
                .map(|(k, v)| {
                    CreatableTopicConfig::default()
                        .with_name(sb(k))
                        .with_value(Some(sb(v)))
                })
                .collect(),
        )
}

/// Creates an internal topic through the admin path (ZK mode). Failures (too few brokers,
/// already exists) are logged only: the lookup answers COORDINATOR_NOT_AVAILABLE either way
/// and the client retries.
async fn create_internal_topic(context: &ApisContext, admin: &AdminManager, topic: &str) {
    let creatable = internal_topic_creatable(&context.config, topic);
    let (partitions, rf) = (creatable.num_partitions, creatable.replication_factor);
    match admin.create_topic(&creatable, false).await {
        Ok(created) => {
            info!(topic, partitions, replication_factor = rf, topic_id = ?created.topic_id, "internal topic created")
        }
        Err(AdminError::TopicExists(_)) => {}
        Err(e) => info!(topic, error = %e, "internal topic creation failed"),
    }
}
