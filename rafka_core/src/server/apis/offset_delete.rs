//! OffsetDelete (key 47, v0): Kafka's `KafkaApis.handleOffsetDeleteRequest`. A topic the
//! metadata cache does not know → its partitions UNKNOWN_TOPIC_OR_PARTITION; the rest go to
//! the coordinator: an Empty group loses the offsets; a consumer group with members keeps the
//! offsets of topics it subscribes to (GROUP_SUBSCRIBED_TO_TOPIC) and loses the others;
//! another group with members → NON_EMPTY_GROUP; unknown → GROUP_ID_NOT_FOUND. A group-level
//! error is answered alone (no topics). Without a coordinator: COORDINATOR_NOT_AVAILABLE.

use std::collections::HashMap;

use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::{OffsetDeleteRequest, OffsetDeleteResponse};

use super::group_common::{code, decode, encode};
use crate::cluster::TopicPartition;
use crate::coordinator::group::GroupCoordinatorHandle;
use crate::network::Response;
use crate::protocol::{ParsedRequest, ResponseError};
use crate::server::metadata_cache::MetadataCache;

pub async fn handle(
    cache: &MetadataCache,
    coordinator: Option<&GroupCoordinatorHandle>,
    request: &ParsedRequest,
) -> Response {
    let Some(body) = decode::<OffsetDeleteRequest>(request) else {
        return Response::CloseConnection;
    };
    let snapshot = cache.snapshot();
    let mut errors: HashMap<TopicPartition, Option<ResponseError>> = HashMap::new();
    let mut eligible = Vec::new();
    for t in &body.topics {
        let name = t.name.to_string();
        let known = snapshot.partition_states.keys().any(|tp| tp.topic == name);
        for p in &t.partitions {
            let tp = TopicPartition::new(name.clone(), p.partition_index);
            if known {
                eligible.push(tp);
            } else {
                errors.insert(tp, Some(ResponseError::UnknownTopicOrPartition));
            }
        }
    }
    let (group_error, results) = match coordinator {
        None => (Some(ResponseError::CoordinatorNotAvailable), Vec::new()),
        Some(c) => c.delete_offsets(body.group_id.to_string(), eligible).await,
    };
    if let Some(e) = group_error {
        return encode(
            request,
            &OffsetDeleteResponse::default().with_error_code(e.code()),
        );
    }
    errors.extend(results);
    let topics = body
        .topics
        .iter()
        .map(|t| {
            OffsetDeleteResponseTopic::default()
                .with_name(t.name.clone())
                .with_partitions(
                    t.partitions
                        .iter()
                        .map(|p| {
                            let tp = TopicPartition::new(t.name.to_string(), p.partition_index);
                            OffsetDeleteResponsePartition::default()
                                .with_partition_index(p.partition_index)
                                .with_error_code(code(errors.get(&tp).copied().flatten()))
                        })
                        .collect(),
                )
        })
        .collect();
    encode(
        request,
        &OffsetDeleteResponse::default().with_topics(topics),
    )
}
