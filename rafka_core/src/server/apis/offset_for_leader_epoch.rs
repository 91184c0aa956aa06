//! OffsetForLeaderEpoch (key 23, v0–4): Kafka's `ReplicaManager.lastOffsetForLeaderEpoch`.
//! For each partition this broker leads: the largest epoch at or below the requested one that
//! its log knows, and the offset where that epoch ended (the log end offset for the current
//! epoch) — what a follower truncates to after a leader change (KIP-101) and what clients use
//! to detect log truncation (KIP-320).
//!
//! Errors: unknown partition → UNKNOWN_TOPIC_OR_PARTITION; not the leader →
//! NOT_LEADER_OR_FOLLOWER; `current_leader_epoch` (v2+) older → FENCED_LEADER_EPOCH, newer →
//! UNKNOWN_LEADER_EPOCH. An epoch the log does not know answers (−1, −1).

use kafka_protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderTopicResult,
};
use kafka_protocol::messages::{OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse};
use tracing::debug;

use crate::cluster::TopicPartition;
use crate::network::Response;
use crate::protocol::ParsedRequest;
use crate::server::metadata_cache::MetadataCache;
use crate::server::replica_manager::{hosted_partition, ReplicaManager};

/// Answers one OffsetForLeaderEpoch request.
pub fn handle(
    cache: &MetadataCache,
    replica_manager: Option<&ReplicaManager>,
    request: &ParsedRequest,
) -> Response {
    let body: OffsetForLeaderEpochRequest = match super::decode(request) {
        Ok(body) => body,
        Err(close) => return close,
    };
    let version = request.api_version();
    let snapshot = cache.snapshot();
    let topics = body
        .topics
        .iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let tp = TopicPartition::new(t.topic.as_str(), p.partition);
                    let current = if version >= 2 {
                        p.current_leader_epoch
                    } else {
                        -1
                    };
                    let r = EpochEndOffset::default()
                        .with_partition(p.partition)
                        .with_end_offset(-1);
                    let found = hosted_partition(replica_manager, &snapshot, &tp).and_then(|part| {
                        part.with_leader_log(current, |log, _| Ok(log.end_offset_for_epoch(p.leader_epoch)))
                    });
                    match found {
                        Ok((epoch, end_offset)) => {
                            let r = r.with_end_offset(end_offset);
                            if version >= 1 {
                                r.with_leader_epoch(epoch)
                            } else {
                                r
                            }
                        }
                        Err(e) => {
                            debug!(%tp, error = ?e.code, message = %e.message, "offset for leader epoch failed");
                            r.with_error_code(e.code.code())
                        }
                    }
                })
                .collect();
            OffsetForLeaderTopicResult::default()
                .with_topic(t.topic.clone())
                .with_partitions(partitions)
        })
        .collect();
    let response = OffsetForLeaderEpochResponse::default().with_topics(topics);
    super::send(request, &response)
}
