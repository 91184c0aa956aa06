//! StopReplica (key 5, v0–4): the controller tells this broker to stop replicating
//! partitions, and with `delete` to remove them (Kafka's `KafkaApis.handleStopReplicaRequest`
//! + `ReplicaManager.stopReplicas`).
//!
//! - BrokerEpoch (v1+) ≠ −1 and older than ours → STALE_BROKER_EPOCH with no partition errors
//!   (KRaft controller during migration exempt, v4).
//! - ControllerEpoch below the highest seen → STALE_CONTROLLER_EPOCH, no partition errors.
//! - Per partition (`ReplicaManager::stop_replicas`): NONE, FENCED_LEADER_EPOCH or
//!   KAFKA_STORAGE_ERROR. Before v3 `delete_partitions` applies to every partition and no
//!   leader epoch is carried (−1); from v3 each partition has both (−2 = topic deletion).

use kafka_protocol::messages::stop_replica_response::StopReplicaPartitionError;
use kafka_protocol::messages::{StopReplicaRequest, StopReplicaResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use tracing::info;

use crate::cluster::TopicPartition;
use crate::network::Response;
use crate::protocol::{ParsedRequest, ResponseError};
use crate::server::metadata_cache::MetadataCache;
use crate::server::replica_manager::{ReplicaManager, StopPartition, NO_EPOCH};

/// Answers one StopReplica request.
pub async fn handle(
    cache: &MetadataCache,
    replica_manager: Option<&ReplicaManager>,
    request: &ParsedRequest,
) -> Response {
    let body: StopReplicaRequest = match super::decode(request) {
        Ok(body) => body,
        Err(close) => return close,
    };
    let response = respond(cache, replica_manager, &body, request.api_version()).await;
    super::send(request, &response)
}

/// The request's partitions in order, a partition listed twice kept once (its last entry),
/// as Kafka's `partitionStates()` map.
pub fn partitions(body: &StopReplicaRequest, version: i16) -> Vec<StopPartition> {
    let mut out: Vec<StopPartition> = Vec::new();
    let mut push = |p: StopPartition| match out.iter_mut().find(|o| o.tp == p.tp) {
        Some(o) => *o = p,
        None => out.push(p),
    };
    if version == 0 {
        for p in &body.ungrouped_partitions {
            push(StopPartition {
                tp: TopicPartition::new(p.topic_name.to_string(), p.partition_index),
                leader_epoch: NO_EPOCH,
                delete: body.delete_partitions,
            });
        }
    } else if version < 3 {
        for t in &body.topics {
            for &p in &t.partition_indexes {
                push(StopPartition {
                    tp: TopicPartition::new(t.name.to_string(), p),
                    leader_epoch: NO_EPOCH,
                    delete: body.delete_partitions,
                });
            }
        }
    } else {
        for t in &body.topic_states {
            for p in &t.partition_states {
                push(StopPartition {
                    tp: TopicPartition::new(t.topic_name.to_string(), p.partition_index),
                    leader_epoch: p.leader_epoch,
                    delete: p.delete_partition,
                });
            }
        }
    }
    out
}

/// The checks and the state change, as a response at `version`.
pub async fn respond(
    cache: &MetadataCache,
    replica_manager: Option<&ReplicaManager>,
    body: &StopReplicaRequest,
    version: i16,
) -> StopReplicaResponse {
    let kraft = version >= 4 && body.is_k_raft_controller;
    if version >= 1 && !kraft && cache.is_broker_epoch_stale(body.broker_epoch) {
        info!(
            controller_id = body.controller_id.0,
            controller_epoch = body.controller_epoch,
            request_broker_epoch = body.broker_epoch,
            broker_epoch = cache.broker_epoch(),
            "received StopReplica with a stale broker epoch"
        );
        return StopReplicaResponse::default()
            .with_error_code(ResponseError::StaleBrokerEpoch.code());
    }
    let Some(rm) = replica_manager else {
        return StopReplicaResponse::default()
            .with_error_code(ResponseError::UnknownServerError.code());
    };
    let stop = partitions(body, version);
    info!(
        controller_id = body.controller_id.0,
        controller_epoch = body.controller_epoch,
        partitions = stop.len(),
        "handling StopReplica"
    );
    match rm
        .stop_replicas(body.controller_id.0, body.controller_epoch, stop)
        .await
    {
        Err(e) => StopReplicaResponse::default().with_error_code(e.code()),
        Ok(results) => StopReplicaResponse::default().with_partition_errors(
            results
                .into_iter()
                .map(|(tp, e)| {
                    StopReplicaPartitionError::default()
                        .with_topic_name(TopicName(StrBytes::from_string(tp.topic.clone())))
                        .with_partition_index(tp.partition)
                        .with_error_code(e.map_or(0, |e| e.code()))
                })
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use kafka_protocol::messages::leader_and_isr_request::{
        LeaderAndIsrPartitionState, LeaderAndIsrTopicState,
    };
    use kafka_protocol::messages::stop_replica_request::{
        StopReplicaPartitionState, StopReplicaPartitionV0, StopReplicaTopicState,
    };
    use kafka_protocol::messages::{BrokerId, LeaderAndIsrRequest};
    use uuid::Uuid;

    use crate::config::KafkaConfig;
    use crate::log::log_manager::{now_ms, LogManager, LogManagerHandle};
    use crate::server::apis::leader_and_isr;

    async fn log_manager(dir: &std::path::Path) -> LogManagerHandle {
        let props = BTreeMap::from([
            ("zookeeper.connect".to_string(), "127.0.0.1:1".to_string()),
            ("log.dirs".to_string(), dir.display().to_string()),
        ]);
        let config = Arc::new(KafkaConfig::from_props(&props).unwrap());
        LogManager::startup(config, Arc::new(BTreeMap::new()), now_ms())
            .await
            .unwrap()
    }

    fn v3(controller_epoch: i32, leader_epoch: i32, delete: bool) -> StopReplicaRequest {
        StopReplicaRequest::default()
            .with_controller_id(BrokerId(1))
            .with_controller_epoch(controller_epoch)
            .with_broker_epoch(100)
            .with_topic_states(vec![StopReplicaTopicState::default()
                .with_topic_name(TopicName(StrBytes::from_static_str("t")))
                .with_partition_states(vec![StopReplicaPartitionState::default()
                    .with_partition_index(0)
                    .with_leader_epoch(leader_epoch)
                    .with_delete_partition(delete)])])
    }

    fn codes(r: &StopReplicaResponse) -> (i16, Vec<(String, i32, i16)>) {
        (
            r.error_code,
            r.partition_errors
                .iter()
                .map(|p| (p.topic_name.to_string(), p.partition_index, p.error_code))
                .collect(),
        )
    }

    /// Epoch checks, then deletion: the log dir is renamed away and the partition forgotten;
    /// a partition the broker does not host is answered NONE.
    #[tokio::test]
    async fn epochs_are_checked_then_the_log_is_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let lm = log_manager(dir.path()).await;
        let rm = ReplicaManager::new(1, lm.clone());
        let cache = MetadataCache::fixed(1, 100, None);
        let lai = LeaderAndIsrRequest::default()
            .with_controller_id(BrokerId(1))
            .with_controller_epoch(3)
            .with_broker_epoch(100)
            .with_topic_states(vec![LeaderAndIsrTopicState::default()
                .with_topic_name(TopicName(StrBytes::from_static_str("t")))
                .with_topic_id(Uuid::new_v4())
                .with_partition_states(vec![LeaderAndIsrPartitionState::default()
                    .with_partition_index(0)
                    .with_controller_epoch(3)
                    .with_leader(BrokerId(1))
                    .with_leader_epoch(5)
                    .with_isr(vec![BrokerId(1)])
                    .with_replicas(vec![BrokerId(1)])
                    .with_is_new(true)])]);
        let r = leader_and_isr::respond(&cache, Some(&rm), &lai, 7).await;
        assert_eq!(r.error_code, 0);
        let log_dir = dir.path().join("t-0");
        assert!(log_dir.is_dir());

        // Stale broker epoch: no partition errors, nothing stopped.
        let mut stale = v3(3, -2, true);
        stale.broker_epoch = 99;
        let r = respond(&cache, Some(&rm), &stale, 3).await;
        assert_eq!(codes(&r), (ResponseError::StaleBrokerEpoch.code(), vec![]));
        // Older controller epoch.
        let r = respond(&cache, Some(&rm), &v3(2, -2, true), 3).await;
        assert_eq!(
            codes(&r),
            (ResponseError::StaleControllerEpoch.code(), vec![])
        );
        // Older leader epoch.
        let r = respond(&cache, Some(&rm), &v3(3, 4, true), 4).await;
        let fenced = ResponseError::FencedLeaderEpoch.code();
        assert_eq!(codes(&r), (0, vec![("t".into(), 0, fenced)]));
        // Without delete the partition stays hosted.
        let r = respond(&cache, Some(&rm), &v3(3, 5, false), 3).await;
        assert_eq!(codes(&r), (0, vec![("t".into(), 0, 0)]));
        assert!(rm.partition(&TopicPartition::new("t", 0)).is_some());
        assert!(log_dir.is_dir());
        // The deletion sentinel: gone.
        let r = respond(&cache, Some(&rm), &v3(3, -2, true), 3).await;
        assert_eq!(codes(&r), (0, vec![("t".into(), 0, 0)]));
        assert!(rm.partition(&TopicPartition::new("t", 0)).is_none());
        assert!(!log_dir.exists());
        assert!(lm.get_log(&TopicPartition::new("t", 0)).is_none());

        // v0: top-level delete flag, no broker epoch; an unknown partition is fine.
        let v0 = StopReplicaRequest::default()
            .with_controller_id(BrokerId(1))
            .with_controller_epoch(3)
            .with_delete_partitions(true)
            .with_ungrouped_partitions(vec![StopReplicaPartitionV0::default()
                .with_topic_name(TopicName(StrBytes::from_static_str("u")))
                .with_partition_index(2)]);
        let r = respond(&cache, Some(&rm), &v0, 0).await;
        assert_eq!(codes(&r), (0, vec![("u".into(), 2, 0)]));
        // No replica manager: UNKNOWN_SERVER_ERROR.
        let r = respond(&cache, None, &v0, 0).await;
        assert_eq!(r.error_code, ResponseError::UnknownServerError.code());
        lm.shutdown().await.unwrap();
    }
}
