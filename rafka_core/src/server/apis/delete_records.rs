//! DeleteRecords (key 21, v0–2): Kafka's `ReplicaManager.deleteRecords` on the leader.
//!
//! Per partition: offset −1 means "up to the high watermark"; below 0 otherwise, or above
//! the high watermark → OFFSET_OUT_OF_RANGE; not the leader → NOT_LEADER_OR_FOLLOWER;
//! unknown → UNKNOWN_TOPIC_OR_PARTITION. The log start offset moves (segments wholly below
//! it go at the next retention pass) and the answer is the new low watermark.
//!
//! Kafka also waits (DelayedDeleteRecords) until every follower's log start offset caught
//! up; followers learn it from their next fetch, so this answers with the leader's value
//! at once.

use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse};
use tracing::{debug, info};

use crate::cluster::TopicPartition;
use crate::log::LogStartOffsetIncrementReason;
use crate::network::Response;
use crate::protocol::{ParsedRequest, ResponseError};
use crate::server::metadata_cache::MetadataCache;
use crate::server::partition::PartitionError;
use crate::server::replica_manager::{hosted_partition, ReplicaManager};

/// "Delete everything below the high watermark".
const HIGH_WATERMARK: i64 = -1;

/// Answers one DeleteRecords request.
pub fn handle(
    cache: &MetadataCache,
    replica_manager: Option<&ReplicaManager>,
    request: &ParsedRequest,
) -> Response {
    let body: DeleteRecordsRequest = match super::decode(request) {
        Ok(body) => body,
        Err(close) => return close,
    };
    let snapshot = cache.snapshot();
    let topics = body
        .topics
        .iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let tp = TopicPartition::new(t.name.as_str(), p.partition_index);
                    let r = DeleteRecordsPartitionResult::default()
                        .with_partition_index(p.partition_index)
                        .with_low_watermark(-1);
                    match delete(replica_manager, &snapshot, &tp, p.offset) {
                        Ok(low_watermark) => r.with_low_watermark(low_watermark),
                        Err(e) => {
                            debug!(%tp, error = ?e.code, message = %e.message, "delete records failed");
                            r.with_error_code(e.code.code())
                        }
                    }
                })
                .collect();
            DeleteRecordsTopicResult::default()
                .with_name(t.name.clone())
                .with_partitions(partitions)
        })
        .collect();
    let response = DeleteRecordsResponse::default().with_topics(topics);
    super::send(request, &response)
}

fn delete(
    replica_manager: Option<&ReplicaManager>,
    snapshot: &crate::server::metadata_cache::MetadataSnapshot,
    tp: &TopicPartition,
    offset: i64,
) -> Result<i64, PartitionError> {
    let partition = hosted_partition(replica_manager, snapshot, tp)?;
    partition.with_leader_log(-1, |log, _| {
        let hw = log.high_watermark();
        let target = if offset == HIGH_WATERMARK { hw } else { offset };
        if target < 0 || target > hw {
            return Err(PartitionError::new(
                ResponseError::OffsetOutOfRange,
                format!(
                    "cannot delete records of {tp} before offset {offset}: it is outside [0, \
                     high watermark {hw}]"
                ),
            ));
        }
        if log
            .maybe_increment_log_start_offset(
                target,
                LogStartOffsetIncrementReason::ClientRecordDeletion,
            )
            .map_err(|e| PartitionError::from_log(&e))?
        {
            info!(%tp, log_start_offset = target, "records deleted on client request");
        }
        Ok(log.log_start_offset())
    })
}
