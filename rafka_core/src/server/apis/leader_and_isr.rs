//! LeaderAndIsr (key 4, v0–7): the controller tells this broker which partitions it
//! replicates and who leads them (Kafka's `KafkaApis.handleLeaderAndIsrRequest` +
//! `ReplicaManager.becomeLeaderOrFollower`).
//!
//! - BrokerEpoch (v2+) ≠ −1 and older than ours → STALE_BROKER_EPOCH (KRaft controller
//!   during migration exempt, v7).
//! - ControllerEpoch below the highest seen → STALE_CONTROLLER_EPOCH for the whole request.
//! - Per partition: not a replica here → UNKNOWN_TOPIC_OR_PARTITION; topic id differing from
//!   the known one → INCONSISTENT_TOPIC_ID; leader epoch not above ours →
//!   STALE_CONTROLLER_EPOCH; else the log is created (with the topic id) and the role kept.

use kafka_protocol::messages::leader_and_isr_response::{
    LeaderAndIsrPartitionError, LeaderAndIsrTopicError,
};
use kafka_protocol::messages::{LeaderAndIsrRequest, LeaderAndIsrResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use tracing::info;
use uuid::Uuid;

use crate::network::Response;
use crate::protocol::{ParsedRequest, ResponseError};
use crate::server::metadata_cache::MetadataCache;
use crate::server::replica_manager::ReplicaManager;

/// Answers one LeaderAndIsr request.
pub async fn handle(
    cache: &MetadataCache,
    replica_manager: Option<&ReplicaManager>,
    request: &ParsedRequest,
) -> Response {
    let body: LeaderAndIsrRequest = match super::decode(request) {
        Ok(body) => body,
        Err(close) => return close,
    };
    let version = request.api_version();
    let response = respond(cache, replica_manager, &body, version).await;
    super::send(request, &response)
}

/// The checks and the state change, as a response at `version`.
pub async fn respond(
    cache: &MetadataCache,
    replica_manager: Option<&ReplicaManager>,
    body: &LeaderAndIsrRequest,
    version: i16,
) -> LeaderAndIsrResponse {
    // (topic, topic id, partition state) in request order.
    let partitions: Vec<_> = if version < 2 {
        body.ungrouped_partition_states
            .iter()
            .map(|p| (p.topic_name.to_string(), Uuid::nil(), p.clone()))
            .collect()
    } else {
        body.topic_states
            .iter()
            .flat_map(|t| {
                t.partition_states
                    .iter()
                    .map(move |p| (t.topic_name.to_string(), t.topic_id, p.clone()))
            })
            .collect()
    };
    let all_with = |error: ResponseError| -> Vec<(String, Uuid, i32, Option<ResponseError>)> {
        partitions
            .iter()
            .map(|(t, id, p)| (t.clone(), *id, p.partition_index, Some(error)))
            .collect()
    };
    let kraft = version >= 7 && body.is_k_raft_controller;
    let (top, results) = if version >= 2 && !kraft && cache.is_broker_epoch_stale(body.broker_epoch)
    {
        info!(
            controller_id = body.controller_id.0,
            request_broker_epoch = body.broker_epoch,
            broker_epoch = cache.broker_epoch(),
            "received LeaderAndIsr with a stale broker epoch"
        );
        let e = ResponseError::StaleBrokerEpoch;
        (Some(e), all_with(e))
    } else if body.controller_epoch < cache.snapshot().controller_epoch {
        let e = ResponseError::StaleControllerEpoch;
        (Some(e), all_with(e))
    } else {
        match replica_manager {
            None => {
                let e = ResponseError::UnknownServerError;
                (Some(e), all_with(e))
            }
            Some(rm) => match rm.become_leader_or_follower(body, partitions.clone()).await {
                Ok(r) => (None, r),
                Err(e) => (Some(e), all_with(e)),
            },
        }
    };
    let code = |e: Option<ResponseError>| e.map_or(0, |e| e.code());
    let mut response = LeaderAndIsrResponse::default().with_error_code(code(top));
    if version < 5 {
        response.partition_errors = results
            .into_iter()
            .map(|(t, _, p, e)| {
                LeaderAndIsrPartitionError::default()
                    .with_topic_name(TopicName(StrBytes::from_string(t)))
                    .with_partition_index(p)
                    .with_error_code(code(e))
            })
            .collect();
    } else {
        let mut topics: Vec<LeaderAndIsrTopicError> = Vec::new();
        for (_, id, p, e) in results {
            let error = LeaderAndIsrPartitionError::default()
                .with_partition_index(p)
                .with_error_code(code(e));
            match topics.iter_mut().find(|t| t.topic_id == id) {
                Some(t) => t.partition_errors.push(error),
                None => topics.push(
                    LeaderAndIsrTopicError::default()
                        .with_topic_id(id)
                        .with_partition_errors(vec![error]),
                ),
            }
        }
        response.topics = topics;
    }
    response
}
