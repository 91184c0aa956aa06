//! ListOffsets (key 2, v0–9): Kafka's `KafkaApis.handleListOffsetRequest` +
//! `Partition.fetchOffsetForTimestamp`, answered by partition leaders.
//!
//! - Timestamps: −1 latest (the high watermark for consumers, the last stable offset for
//!   read_committed — equal while transactions are not served — and the log end offset for
//!   replicas), −2 earliest (log start), −3 the record with the largest timestamp (v7+), −4
//!   earliest local (= log start: no tiered storage), −5 latest tiered (no tiered storage →
//!   offset −1), otherwise the first offset whose timestamp is ≥ the target. Consumers never
//!   see an offset at or above the high watermark; nothing found → timestamp and offset −1.
//! - v0 answers `old_style_offsets` (the one offset found, if any).
//! - Errors: unknown partition → UNKNOWN_TOPIC_OR_PARTITION; not the leader →
//!   NOT_LEADER_OR_FOLLOWER; `current_leader_epoch` checks (v4+); a partition listed twice
//!   → INVALID_REQUEST for each copy (v2+ semantics, as Kafka).

use std::collections::HashSet;

use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};
use tracing::debug;

use crate::cluster::TopicPartition;
use crate::log::log::{EARLIEST_TIMESTAMP, LATEST_TIMESTAMP};
use crate::log::TimestampAndOffset;
use crate::network::Response;
use crate::protocol::{ParsedRequest, ResponseError};
use crate::server::metadata_cache::MetadataCache;
use crate::server::partition::PartitionError;
use crate::server::replica_manager::{hosted_partition, ReplicaManager};

/// KIP-405's "earliest offset still on local disk".
const EARLIEST_LOCAL_TIMESTAMP: i64 = -4;
/// KIP-1005's "latest offset in tiered storage".
const LATEST_TIERED_TIMESTAMP: i64 = -5;

/// Answers one ListOffsets request.
pub fn handle(
    cache: &MetadataCache,
    replica_manager: Option<&ReplicaManager>,
    request: &ParsedRequest,
) -> Response {
    let body: ListOffsetsRequest = match super::decode(request) {
        Ok(body) => body,
        Err(close) => return close,
    };
    let response = respond(cache, replica_manager, &body, request.api_version());
    super::send(request, &response)
}

/// The response at `version`.
pub fn respond(
    cache: &MetadataCache,
    replica_manager: Option<&ReplicaManager>,
    body: &ListOffsetsRequest,
    version: i16,
) -> ListOffsetsResponse {
    let snapshot = cache.snapshot();
    // Only consumers (replica id −1) are bounded by the high watermark; the last stable
    // offset of read_committed equals it while transactions are not served.
    let consumer = body.replica_id.0 == -1;
    let mut seen = HashSet::new();
    let mut duplicates = HashSet::new();
    for t in &body.topics {
        for p in &t.partitions {
            if !seen.insert((t.name.as_str(), p.partition_index)) {
                duplicates.insert((t.name.as_str(), p.partition_index));
            }
        }
    }
    let topics = body
        .topics
        .iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let tp = TopicPartition::new(t.name.as_str(), p.partition_index);
                    let r = ListOffsetsPartitionResponse::default()
                        .with_partition_index(p.partition_index)
                        .with_timestamp(-1)
                        .with_offset(-1)
                        .with_leader_epoch(-1);
                    let found = if duplicates.contains(&(t.name.as_str(), p.partition_index)) {
                        Err(PartitionError::new(
                            ResponseError::InvalidRequest,
                            format!("{tp} is listed more than once"),
                        ))
                    } else {
                        let current_epoch = if version >= 4 {
                            p.current_leader_epoch
                        } else {
                            -1
                        };
                        lookup(
                            replica_manager,
                            &snapshot,
                            &tp,
                            p.timestamp,
                            current_epoch,
                            consumer,
                        )
                    };
                    match found {
                        Err(e) => {
                            debug!(%tp, error = ?e.code, message = %e.message, "list offsets failed");
                            r.with_error_code(e.code.code())
                        }
                        Ok(None) => r,
                        Ok(Some(found)) if version == 0 => {
                            r.with_old_style_offsets(vec![found.offset])
                        }
                        Ok(Some(found)) => {
                            let r = r.with_timestamp(found.timestamp).with_offset(found.offset);
                            if version >= 4 {
                                r.with_leader_epoch(found.leader_epoch.unwrap_or(-1))
                            } else {
                                r
                            }
                        }
                    }
                })
                .collect();
            ListOffsetsTopicResponse::default()
                .with_name(t.name.clone())
                .with_partitions(partitions)
        })
        .collect();
    ListOffsetsResponse::default().with_topics(topics)
}

fn lookup(
    replica_manager: Option<&ReplicaManager>,
    snapshot: &crate::server::metadata_cache::MetadataSnapshot,
    tp: &TopicPartition,
    timestamp: i64,
    current_leader_epoch: i32,
    consumer: bool,
) -> Result<Option<TimestampAndOffset>, PartitionError> {
    let partition = hosted_partition(replica_manager, snapshot, tp)?;
    partition.with_leader_log(current_leader_epoch, |log, leader_epoch| {
        // Consumers see nothing at or above the high watermark (= the last stable offset).
        let last_fetchable = if consumer {
            log.high_watermark()
        } else {
            log.log_end_offset()
        };
        let found = match timestamp {
            LATEST_TIMESTAMP => Some(TimestampAndOffset {
                timestamp: -1,
                offset: last_fetchable,
                leader_epoch: Some(leader_epoch),
            }),
            EARLIEST_TIMESTAMP | EARLIEST_LOCAL_TIMESTAMP => Some(TimestampAndOffset {
                timestamp: -1,
                offset: log.log_start_offset(),
                leader_epoch: None,
            }),
            LATEST_TIERED_TIMESTAMP => Some(TimestampAndOffset {
                timestamp: -1,
                offset: -1,
                leader_epoch: None,
            }),
            _ => {
                // MAX_TIMESTAMP (−3) is handled by the log itself.
                log.fetch_offset_by_timestamp(timestamp)
                    .map_err(|e| PartitionError::from_log(&e))?
                    .filter(|f| f.offset < last_fetchable)
            }
        };
        Ok(found)
    })
}
