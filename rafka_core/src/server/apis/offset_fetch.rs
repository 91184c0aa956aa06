//! OffsetFetch (key 9, v0–9): Kafka's `KafkaApis.handleOffsetFetchRequest` on a ZK broker.
//!
//! - v0 reads ZooKeeper (`/consumers/<group>/offsets/<topic>/<partition>`): a topic that does
//!   not exist or an offset never committed → offset −1, "" metadata, NONE.
//! - v1–7 ask the coordinator for one group (`topics` null = every committed partition, v2+);
//!   v7 `require_stable` answers UNSTABLE_OFFSET_COMMIT for a partition with a commit still
//!   being written. A group-level error is the top-level error code from v2; before v2 it is
//!   put on every requested partition.
//! - v8+ batch groups, each with its own error code (v9's member id/epoch are for the new
//!   consumer protocol and ignored by classic groups).
//!
//! Unknown partitions → offset −1, NONE. Without a coordinator: COORDINATOR_NOT_AVAILABLE.

use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{OffsetFetchRequest, OffsetFetchResponse, TopicName};

use super::group_common::{code, decode, encode, sb};
use super::offset_commit::consumer_offset_path;
use crate::cluster::TopicPartition;
use crate::coordinator::group::results::FetchedOffset;
use crate::coordinator::group::GroupCoordinatorHandle;
use crate::network::Response;
use crate::protocol::{ParsedRequest, ResponseError};
use crate::zk::zk_data;

type GroupAnswer = Result<Vec<(TopicPartition, FetchedOffset)>, ResponseError>;

pub async fn handle(
    coordinator: Option<&GroupCoordinatorHandle>,
    request: &ParsedRequest,
) -> Response {
    let Some(body) = decode::<OffsetFetchRequest>(request) else {
        return Response::CloseConnection;
    };
    let version = request.api_version();
    if version >= 8 {
        let mut groups = Vec::with_capacity(body.groups.len());
        for g in &body.groups {
            let partitions = g.topics.as_ref().map(|ts| {
                ts.iter()
                    .flat_map(|t| {
                        t.partition_indexes
                            .iter()
                            .map(|p| TopicPartition::new(t.name.to_string(), *p))
                    })
                    .collect::<Vec<_>>()
            });
            let answer = fetch(
                coordinator,
                g.group_id.to_string(),
                body.require_stable,
                partitions,
            )
            .await;
            let group = OffsetFetchResponseGroup::default().with_group_id(g.group_id.clone());
            groups.push(match answer {
                Err(e) => group.with_error_code(e.code()),
                Ok(offsets) => group.with_topics(
                    by_topic(offsets)
                        .into_iter()
                        .map(|(name, ps)| {
                            OffsetFetchResponseTopics::default()
                                .with_name(TopicName(sb(name)))
                                .with_partitions(
                                    ps.into_iter()
                                        .map(|(p, o)| {
                                            OffsetFetchResponsePartitions::default()
                                                .with_partition_index(p)
                                                .with_committed_offset(o.offset)
                                                .with_committed_leader_epoch(
                                                    o.leader_epoch.unwrap_or(-1),
                                                )
                                                .with_metadata(Some(sb(o.metadata)))
                                                .with_error_code(code(o.error))
                                        })
                                        .collect(),
                                )
                        })
                        .collect(),
                ),
            });
        }
        return encode(request, &OffsetFetchResponse::default().with_groups(groups));
    }
    let requested: Option<Vec<TopicPartition>> = body.topics.as_ref().map(|ts| {
        ts.iter()
            .flat_map(|t| {
                t.partition_indexes
                    .iter()
                    .map(|p| TopicPartition::new(t.name.to_string(), *p))
            })
            .collect()
    });
    let group_id = body.group_id.to_string();
    let answer = if version == 0 {
        Ok(fetch_from_zookeeper(
            coordinator,
            &group_id,
            requested.clone().unwrap_or_default(),
        )
        .await)
    } else {
        fetch(
            coordinator,
            group_id,
            body.require_stable,
            requested.clone(),
        )
        .await
    };
    let mut response = OffsetFetchResponse::default();
    let offsets = match answer {
        Ok(offsets) => offsets,
        Err(e) if version >= 2 => {
            return encode(request, &response.with_error_code(e.code()));
        }
        Err(e) => requested
            .unwrap_or_default()
            .into_iter()
            .map(|tp| {
                (
                    tp,
                    FetchedOffset {
                        error: Some(e),
                        ..FetchedOffset::unknown()
                    },
                )
            })
            .collect(),
    };
    response.topics = by_topic(offsets)
        .into_iter()
        .map(|(name, ps)| {
            OffsetFetchResponseTopic::default()
                .with_name(TopicName(sb(name)))
                .with_partitions(
                    ps.into_iter()
                        .map(|(p, o)| {
                            let part = OffsetFetchResponsePartition::default()
                                .with_partition_index(p)
                                .with_committed_offset(o.offset)
                                .with_metadata(Some(sb(o.metadata)))
                                .with_error_code(code(o.error));
                            if version >= 5 {
                                part.with_committed_leader_epoch(o.leader_epoch.unwrap_or(-1))
                            } else {
                                part
                            }
                        })
                        .collect(),
                )
        })
        .collect();
    encode(request, &response)
}

async fn fetch(
    coordinator: Option<&GroupCoordinatorHandle>,
    group_id: String,
    require_stable: bool,
    partitions: Option<Vec<TopicPartition>>,
) -> GroupAnswer {
    match coordinator {
        None => Err(ResponseError::CoordinatorNotAvailable),
        Some(c) => c.fetch_offsets(group_id, require_stable, partitions).await,
    }
}

/// Groups partitions by topic, topics in first-seen order.
fn by_topic(
    offsets: Vec<(TopicPartition, FetchedOffset)>,
) -> Vec<(String, Vec<(i32, FetchedOffset)>)> {
    let mut out: Vec<(String, Vec<(i32, FetchedOffset)>)> = Vec::new();
    for (tp, o) in offsets {
        match out.iter_mut().find(|(t, _)| *t == tp.topic) {
            Some((_, ps)) => ps.push((tp.partition, o)),
            None => out.push((tp.topic, vec![(tp.partition, o)])),
        }
    }
    out
}

/// Kafka's `handleOffsetFetchRequestFromZookeeper`.
async fn fetch_from_zookeeper(
    coordinator: Option<&GroupCoordinatorHandle>,
    group_id: &str,
    partitions: Vec<TopicPartition>,
) -> Vec<(TopicPartition, FetchedOffset)> {
    let zk = coordinator.and_then(GroupCoordinatorHandle::zk);
    let mut out = Vec::with_capacity(partitions.len());
    for tp in partitions {
        let mut fetched = FetchedOffset::unknown();
        if let Some(zk) = zk {
            let topic_exists = matches!(
                zk.zk().exists(&zk_data::topic_path(&tp.topic), false).await,
                Ok(Some(_))
            );
            if topic_exists {
                match zk
                    .zk()
                    .get_data_opt(&consumer_offset_path(group_id, &tp), false)
                    .await
                {
                    Ok(Some((data, _))) => {
                        if let Some(offset) = std::str::from_utf8(&data)
                            .ok()
                            .and_then(|s| s.trim().parse::<i64>().ok())
                        {
                            fetched.offset = offset;
                        }
                    }
                    Ok(None) => {}
                    Err(_) => fetched.error = Some(ResponseError::UnknownServerError),
                }
            }
        } else {
            fetched.error = Some(ResponseError::CoordinatorNotAvailable);
        }
        out.push((tp, fetched));
    }
    out
}
