//! OffsetCommit (key 8, v0–9): Kafka's `KafkaApis.handleOffsetCommitRequest` on a ZK broker.
//!
//! - A topic the metadata cache does not know → every partition of it
//!   UNKNOWN_TOPIC_OR_PARTITION; an unknown partition of a known topic → that partition.
//! - v0 stores offsets in ZooKeeper (`/consumers/<group>/offsets/<topic>/<partition>`, the
//!   offset as a decimal string), as Kafka's ZK brokers do; metadata over
//!   `offset.metadata.max.bytes` → OFFSET_METADATA_TOO_LARGE.
//! - v1+ go to the group coordinator: v1 may carry an explicit commit timestamp per partition;
//!   v2–4 a retention time (commit time + retention becomes the offset's expire timestamp,
//!   stored with offset commit value v1); v6+ the committed leader epoch; v7+
//!   `group.instance.id`. Null metadata is stored as "".
//!
//! Partitions are answered in request order. Without a coordinator (v1+):
//! COORDINATOR_NOT_AVAILABLE.

use std::collections::HashMap;

use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::{OffsetCommitRequest, OffsetCommitResponse};
use tracing::debug;

use super::group_common::{code, decode, encode};
use crate::cluster::TopicPartition;
use crate::coordinator::group::results::{CommitOffsetsParams, OffsetAndMetadata};
use crate::coordinator::group::GroupCoordinatorHandle;
use crate::log::log_manager::now_ms;
use crate::network::Response;
use crate::protocol::{ParsedRequest, ResponseError};
use crate::server::metadata_cache::MetadataCache;
use crate::zk::zookeeper_client::CreateMode;
use crate::zk::KafkaZkClient;

/// Kafka's `OffsetCommitRequest.DEFAULT_RETENTION_TIME` / `DEFAULT_TIMESTAMP`.
const DEFAULT: i64 = -1;

pub async fn handle(
    cache: &MetadataCache,
    coordinator: Option<&GroupCoordinatorHandle>,
    request: &ParsedRequest,
) -> Response {
    let Some(body) = decode::<OffsetCommitRequest>(request) else {
        return Response::CloseConnection;
    };
    let version = request.api_version();
    let group_id = body.group_id.to_string();
    let snapshot = cache.snapshot();
    let mut errors: HashMap<TopicPartition, Option<ResponseError>> = HashMap::new();
    let mut valid: Vec<(TopicPartition, i64, i32, i64, String)> = Vec::new();
    for topic in &body.topics {
        let name = topic.name.to_string();
        let known_topic = snapshot.partition_states.keys().any(|tp| tp.topic == name);
        for p in &topic.partitions {
            let tp = TopicPartition::new(name.clone(), p.partition_index);
            if !known_topic || !snapshot.partition_states.contains_key(&tp) {
                errors.insert(tp, Some(ResponseError::UnknownTopicOrPartition));
            } else {
                valid.push((
                    tp,
                    p.committed_offset,
                    p.committed_leader_epoch,
                    p.commit_timestamp,
                    p.committed_metadata
                        .as_ref()
                        .map(|m| m.to_string())
                        .unwrap_or_default(),
                ));
            }
        }
    }
    if !valid.is_empty() {
        let results = if version == 0 {
            commit_to_zookeeper(coordinator, &group_id, valid).await
        } else {
            let now = now_ms();
            let expire = ((2..=4).contains(&version) && body.retention_time_ms != DEFAULT)
                .then(|| now.saturating_add(body.retention_time_ms));
            let offsets: Vec<(TopicPartition, OffsetAndMetadata)> = valid
                .into_iter()
                .map(|(tp, offset, epoch, ts, metadata)| {
                    (
                        tp,
                        OffsetAndMetadata {
                            offset,
                            leader_epoch: (version >= 6 && epoch != -1).then_some(epoch),
                            metadata,
                            commit_timestamp: if version == 1 && ts != DEFAULT {
                                ts
                            } else {
                                now
                            },
                            expire_timestamp: expire,
                        },
                    )
                })
                .collect();
            match coordinator {
                None => offsets
                    .into_iter()
                    .map(|(tp, _)| (tp, Some(ResponseError::CoordinatorNotAvailable)))
                    .collect(),
                Some(c) => {
                    c.commit_offsets(CommitOffsetsParams {
                        group_id,
                        member_id: body.member_id.to_string(),
                        group_instance_id: body.group_instance_id.as_ref().map(|s| s.to_string()),
                        generation_id: body.generation_id_or_member_epoch,
                        offsets,
                    })
                    .await
                }
            }
        };
        errors.extend(results);
    }
    let topics = body
        .topics
        .iter()
        .map(|t| {
            OffsetCommitResponseTopic::default()
                .with_name(t.name.clone())
                .with_partitions(
                    t.partitions
                        .iter()
                        .map(|p| {
                            let tp = TopicPartition::new(t.name.to_string(), p.partition_index);
                            OffsetCommitResponsePartition::default()
                                .with_partition_index(p.partition_index)
                                .with_error_code(code(errors.get(&tp).copied().flatten()))
                        })
                        .collect(),
                )
        })
        .collect();
    encode(
        request,
        &OffsetCommitResponse::default().with_topics(topics),
    )
}

/// The ZooKeeper path of a v0 commit (Kafka's `ConsumerOffset.path`).
pub fn consumer_offset_path(group: &str, tp: &TopicPartition) -> String {
    format!("/consumers/{group}/offsets/{}/{}", tp.topic, tp.partition)
}

async fn commit_to_zookeeper(
    coordinator: Option<&GroupCoordinatorHandle>,
    group_id: &str,
    valid: Vec<(TopicPartition, i64, i32, i64, String)>,
) -> Vec<(TopicPartition, Option<ResponseError>)> {
    let max = coordinator.map_or(4096, |c| c.offset_config().max_metadata_size);
    let zk = coordinator.and_then(GroupCoordinatorHandle::zk);
    let mut out = Vec::with_capacity(valid.len());
    for (tp, offset, _, _, metadata) in valid {
        let error = if metadata.encode_utf16().count() > max {
            Some(ResponseError::OffsetMetadataTooLarge)
        } else {
            match zk {
                None => Some(ResponseError::CoordinatorNotAvailable),
                Some(zk) => {
                    set_or_create_consumer_offset(zk, &consumer_offset_path(group_id, &tp), offset)
                        .await
                        .err()
                }
            }
        };
        out.push((tp, error));
    }
    out
}

/// Kafka's `setOrCreateConsumerOffset`.
async fn set_or_create_consumer_offset(
    zk: &KafkaZkClient,
    path: &str,
    offset: i64,
) -> Result<(), ResponseError> {
    let data = offset.to_string().into_bytes();
    let failed = |e: crate::zk::ZkError| {
        debug!(path, error = %e, "v0 offset commit to ZooKeeper failed");
        ResponseError::UnknownServerError
    };
    match zk.zk().set_data(path, data.clone(), None).await {
        Ok(_) => return Ok(()),
        Err(e) if e.is_no_node() => {}
        Err(e) => return Err(failed(e)),
    }
    if let Some((parent, _)) = path.rsplit_once('/') {
        zk.zk().create_recursive(parent).await.map_err(failed)?;
    }
    match zk
        .zk()
        .create(path, data.clone(), CreateMode::Persistent)
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if e.is_node_exists() => zk
            .zk()
            .set_data(path, data, None)
            .await
            .map(|_| ())
            .map_err(failed),
        Err(e) => Err(failed(e)),
    }
}
