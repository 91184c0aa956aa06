//! Produce (key 0, v3–11): Kafka's `KafkaApis.handleProduceRequest` +
//! `ReplicaManager.appendRecords` for magic-2 batches.
//!
//! - acks ∉ {−1, 0, 1} → INVALID_REQUIRED_ACKS for every partition, nothing written.
//! - Per partition: an internal topic written by a client other than `__admin_client` →
//!   INVALID_TOPIC_EXCEPTION; a partition this broker does not host → NOT_LEADER_OR_FOLLOWER
//!   when the metadata knows it, else UNKNOWN_TOPIC_OR_PARTITION; a follower →
//!   NOT_LEADER_OR_FOLLOWER; acks=all with the ISR below `min.insync.replicas` →
//!   NOT_ENOUGH_REPLICAS; otherwise the log validates and appends the batch (its errors:
//!   CORRUPT_MESSAGE, MESSAGE_TOO_LARGE, INVALID_RECORD, INVALID_TIMESTAMP, …).
//! - acks=all waits, up to `timeout_ms`, until the high watermark covers each appended
//!   batch (REQUEST_TIMED_OUT otherwise), then NOT_ENOUGH_REPLICAS_AFTER_APPEND if the ISR
//!   shrank below the minimum meanwhile (Kafka's DelayedProduce).
//! - acks=0 sends no response; if any partition failed the connection is closed instead, so
//!   the client notices (as Kafka does).
//!
//! Versions 0–2 (magic 0/1 message sets, which Kafka up-converts) are not served: Kafka 4.0
//! removed them too (KIP-896), and every maintained client sends v3+ with v2 batches.

use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse};
use kafka_protocol::protocol::StrBytes;
use tokio::time::Instant;
use tracing::debug;

use crate::cluster::{is_internal_topic, TopicPartition};
use crate::log::log_manager::now_ms;
use crate::log::LogAppendInfo;
use crate::network::Response;
use crate::protocol::{ParsedRequest, ResponseError};
use crate::server::metadata_cache::MetadataCache;
use crate::server::partition::{Partition, PartitionError};
use crate::server::replica_manager::{hosted_partition, ReplicaManager};

/// The client id allowed to write internal topics (Kafka's `AdminUtils.ADMIN_CLIENT_ID`).
const ADMIN_CLIENT_ID: &str = "__admin_client";

/// One partition's outcome before the response is built.
enum Outcome {
    Failed(PartitionError),
    /// Appended; acks=all still waits for the high watermark to pass `last_offset`.
    Appended {
        partition: Arc<Partition>,
        info: LogAppendInfo,
    },
}

/// Answers one Produce request.
pub async fn handle(
    cache: &MetadataCache,
    replica_manager: Option<&ReplicaManager>,
    request: &ParsedRequest,
) -> Response {
    let body: ProduceRequest = match super::decode(request) {
        Ok(body) => body,
        Err(close) => return close,
    };
    let acks = body.acks;
    let timeout_ms = body.timeout_ms;
    let version = request.api_version();
    let internal_allowed = request.client_id() == Some(ADMIN_CLIENT_ID);
    let outcomes = append(cache, replica_manager, body, internal_allowed);
    if acks == 0 {
        return if outcomes
            .iter()
            .flat_map(|(_, ps)| ps)
            .any(|(_, o)| matches!(o, Outcome::Failed(_)))
        {
            debug!(
                "closing the connection of an acks=0 produce (correlation id {}) that failed",
                request.correlation_id()
            );
            Response::CloseConnection
        } else {
            Response::NoResponse
        };
    }
    let response = respond(outcomes, acks, timeout_ms, version).await;
    super::send(request, &response)
}

type TopicOutcomes = Vec<(kafka_protocol::messages::TopicName, Vec<(i32, Outcome)>)>;

/// Validates and appends every partition's batch, in request order.
fn append(
    cache: &MetadataCache,
    replica_manager: Option<&ReplicaManager>,
    body: ProduceRequest,
    internal_allowed: bool,
) -> TopicOutcomes {
    let acks = body.acks;
    let snapshot = cache.snapshot();
    let now = now_ms();
    let mut out = Vec::with_capacity(body.topic_data.len());
    for topic in body.topic_data {
        let mut partitions = Vec::with_capacity(topic.partition_data.len());
        for p in topic.partition_data {
            let tp = TopicPartition::new(topic.name.as_str(), p.index);
            let outcome = if !matches!(acks, -1..=1) {
                Outcome::Failed(PartitionError::new(
                    ResponseError::InvalidRequiredAcks,
                    format!("invalid required acks {acks}: only -1, 0 and 1 are allowed"),
                ))
            } else if is_internal_topic(&tp.topic) && !internal_allowed {
                Outcome::Failed(PartitionError::new(
                    ResponseError::InvalidTopicException,
                    format!("cannot append to internal topic {}", tp.topic),
                ))
            } else {
                match hosted_partition(replica_manager, &snapshot, &tp) {
                    Ok(partition) => append_one(partition, p.records, acks, now),
                    Err(e) => Outcome::Failed(e),
                }
            };
            if let Outcome::Failed(e) = &outcome {
                debug!(%tp, error = ?e.code, message = %e.message, "produce failed");
            }
            partitions.push((p.index, outcome));
        }
        out.push((topic.name, partitions));
    }
    out
}

fn append_one(
    partition: Arc<Partition>,
    records: Option<bytes::Bytes>,
    acks: i16,
    now: i64,
) -> Outcome {
    // The request's bytes are shared with the frame; the log stamps offsets into the batch,
    // so it gets its own copy (one memcpy per batch, never per record).
    let mut batch = BytesMut::from(records.as_deref().unwrap_or_default());
    match partition.append_records_to_leader(&mut batch, acks, now) {
        Ok(info) => Outcome::Appended { partition, info },
        Err(e) => Outcome::Failed(e),
    }
}

/// Waits for acks=all (one deadline for the whole request, as Kafka's DelayedProduce) and
/// builds the response.
async fn respond(
    outcomes: TopicOutcomes,
    acks: i16,
    timeout_ms: i32,
    version: i16,
) -> ProduceResponse {
    let deadline = Instant::now() + Duration::from_millis(timeout_ms.max(0) as u64);
    let mut responses = Vec::with_capacity(outcomes.len());
    for (name, partitions) in outcomes {
        let mut partition_responses = Vec::with_capacity(partitions.len());
        for (index, outcome) in partitions {
            let r = PartitionProduceResponse::default().with_index(index);
            let r = match outcome {
                Outcome::Failed(e) => failed(r, e, version),
                Outcome::Appended { partition, info } if acks == -1 => {
                    match wait_for_high_watermark(&partition, info.last_offset + 1, deadline).await
                    {
                        Ok(()) => succeeded(r, &info, version),
                        Err(e) => failed(r, e, version),
                    }
                }
                Outcome::Appended { info, .. } => succeeded(r, &info, version),
            };
            partition_responses.push(r);
        }
        responses.push(
            TopicProduceResponse::default()
                .with_name(name)
                .with_partition_responses(partition_responses),
        );
    }
    ProduceResponse::default().with_responses(responses)
}

fn failed(
    r: PartitionProduceResponse,
    e: PartitionError,
    version: i16,
) -> PartitionProduceResponse {
    let r = r
        .with_error_code(e.code.code())
        .with_base_offset(-1)
        .with_log_append_time_ms(-1)
        .with_log_start_offset(-1);
    if version >= 8 {
        r.with_error_message(Some(StrBytes::from_string(e.message)))
    } else {
        r
    }
}

fn succeeded(
    r: PartitionProduceResponse,
    info: &LogAppendInfo,
    version: i16,
) -> PartitionProduceResponse {
    let r = r
        .with_base_offset(info.first_offset)
        .with_log_append_time_ms(info.log_append_time);
    if version >= 5 {
        r.with_log_start_offset(info.log_start_offset)
    } else {
        r
    }
}

/// Waits until the partition's high watermark reaches `required_offset` or the deadline
/// passes; `Err` is the error to answer.
pub async fn wait_for_high_watermark(
    partition: &Partition,
    required_offset: i64,
    deadline: Instant,
) -> Result<(), PartitionError> {
    let mut hw = partition.subscribe_high_watermark();
    loop {
        if *hw.borrow_and_update() >= required_offset {
            return partition.check_enough_replicas_after_append();
        }
        match tokio::time::timeout_at(deadline, hw.changed()).await {
            Ok(Ok(())) => continue,
            // The partition went away (StopReplica) or the wait timed out.
            Ok(Err(_)) | Err(_) => {
                return Err(PartitionError::new(
                    ResponseError::RequestTimedOut,
                    format!(
                        "{} was not replicated to the ISR up to offset {required_offset} in time",
                        partition.topic_partition()
                    ),
                ))
            }
        }
    }
}
