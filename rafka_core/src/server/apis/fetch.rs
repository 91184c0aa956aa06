//! Fetch (key 1, v4–16): Kafka's `KafkaApis.handleFetchRequest` + `ReplicaManager.fetchMessages`
//! for consumers (replica id −1, bounded by the high watermark) and followers (replica id ≥ 0,
//! bounded by the log end offset; their fetch offset moves the high watermark).
//!
//! - Sessions (v7+) per `server/fetch_session.rs`; a session error answers only the
//!   top-level error code.
//! - Topics by name up to v12, by id from v13 (unknown id → UNKNOWN_TOPIC_ID).
//! - Per partition: unknown → UNKNOWN_TOPIC_OR_PARTITION; known but not here, or not the
//!   leader → NOT_LEADER_OR_FOLLOWER; `current_leader_epoch` older → FENCED_LEADER_EPOCH,
//!   newer → UNKNOWN_LEADER_EPOCH; offset outside [log start, log end] →
//!   OFFSET_OUT_OF_RANGE (offsets between the high watermark and the log end read empty).
//! - Limits: `max_bytes` for the response (capped by `fetch.max.bytes` for consumers), each
//!   partition's `partition_max_bytes`; the first partition with data returns at least its
//!   first batch whole (KIP-74). Records are whole batches from the log file, sent with
//!   sendfile (`protocol/fetch_response.rs`).
//! - Long poll: while fewer than `min_bytes` are available and no partition has an error,
//!   wait up to `max_wait_ms` for appends or high-watermark moves, then read again.
//! - `isolation_level` 1 (read_committed) reads up to the last stable offset, which equals
//!   the high watermark while transactions are not served; it answers an empty
//!   aborted-transactions list.
//!
//! Versions 0–3 (magic 0/1 down-conversion) are not served (KIP-896 removed them in Kafka 4.0).

use std::collections::BTreeMap;
use std::time::Duration;

use kafka_protocol::messages::FetchRequest;
use tokio::time::Instant;
use tracing::debug;
use uuid::Uuid;

use crate::cluster::TopicPartition;
use crate::config::KafkaConfig;
use crate::network::Response;
use crate::protocol::fetch_response::{
    encode_fetch_response, FetchPartitionData, FetchResponseHeader, FetchTopicData,
};
use crate::protocol::{ParsedRequest, ResponseError};
use crate::server::fetch_session::{
    FetchContext, FetchPartitionRequest, FetchSessionCache, ReportedOffsets, SessionKey,
};
use crate::server::metadata_cache::{MetadataCache, MetadataSnapshot};
use crate::server::partition::{FetchIsolation, Isolation, PartitionError};
use crate::server::replica_manager::{hosted_partition, ReplicaManager};

/// Answers one Fetch request.
pub async fn handle(
    config: &KafkaConfig,
    cache: &MetadataCache,
    replica_manager: Option<&ReplicaManager>,
    sessions: &FetchSessionCache,
    request: &ParsedRequest,
) -> Response {
    let body: FetchRequest = match super::decode(request) {
        Ok(body) => body,
        Err(close) => return close,
    };
    let version = request.api_version();
    let replica_id = if version >= 15 {
        body.replica_state.replica_id.0
    } else {
        body.replica_id.0
    };
    let who = if replica_id >= 0 {
        FetchIsolation::Follower(replica_id)
    } else {
        FetchIsolation::Consumer(Isolation::from_level(body.isolation_level))
    };
    let snapshot = cache.snapshot();
    let id_to_name: BTreeMap<Uuid, &str> = snapshot
        .topic_ids
        .iter()
        .map(|(name, id)| (Uuid::from_bytes(*id), name.as_str()))
        .collect();
    let topic_name = |name: &str, id: Uuid| -> String {
        if version >= 13 {
            id_to_name
                .get(&id)
                .map_or_else(String::new, |n| n.to_string())
        } else {
            name.to_string()
        }
    };

    let mut requested = Vec::new();
    for topic in &body.topics {
        let topic_id = if version >= 13 {
            topic.topic_id
        } else {
            Uuid::nil()
        };
        let name = topic_name(topic.topic.as_str(), topic_id);
        for p in &topic.partitions {
            requested.push(FetchPartitionRequest {
                topic: name.clone(),
                topic_id,
                partition: p.partition,
                fetch_offset: p.fetch_offset,
                current_leader_epoch: if version >= 9 {
                    p.current_leader_epoch
                } else {
                    -1
                },
                max_bytes: p.partition_max_bytes,
                log_start_offset: p.log_start_offset,
            });
        }
    }
    let forgotten: Vec<SessionKey> = if version >= 7 {
        body.forgotten_topics_data
            .iter()
            .flat_map(|t| {
                let topic_id = if version >= 13 {
                    t.topic_id
                } else {
                    Uuid::nil()
                };
                let name = topic_name(t.topic.as_str(), topic_id);
                t.partitions
                    .iter()
                    .map(move |p| SessionKey::new(topic_id, &name, *p))
                    .collect::<Vec<_>>()
            })
            .collect()
    } else {
        Vec::new()
    };

    let context = sessions.new_context(
        version >= 7,
        body.session_id,
        body.session_epoch,
        requested,
        &forgotten,
    );
    let header = FetchResponseHeader {
        correlation_id: request.correlation_id(),
        throttle_time_ms: 0,
        error_code: 0,
        session_id: 0,
    };
    let (session_id, partitions, incremental) = match context {
        FetchContext::Error(e) => {
            debug!(session_id = body.session_id, epoch = body.session_epoch, error = ?e, "fetch session error");
            let header = FetchResponseHeader {
                error_code: e.code(),
                ..header
            };
            return Response::SendParts(encode_fetch_response(version, header, &[]));
        }
        FetchContext::Full {
            session_id,
            partitions,
        } => (session_id, partitions, false),
        FetchContext::Incremental {
            session_id,
            partitions,
        } => (session_id, partitions, true),
    };

    let response_limit = match who {
        FetchIsolation::Consumer(_) => {
            let cap = config.get_int("fetch.max.bytes").unwrap_or(i32::MAX);
            body.max_bytes.min(cap)
        }
        FetchIsolation::Follower(_) => {
            let cap = config
                .get_int("replica.fetch.response.max.bytes")
                .unwrap_or(i32::MAX);
            body.max_bytes.min(cap)
        }
    }
    .max(0) as usize;

    let deadline = Instant::now() + Duration::from_millis(body.max_wait_ms.max(0) as u64);
    let mut activity = replica_manager.map(|rm| rm.subscribe_activity());
    let results = loop {
        if let Some(rx) = activity.as_mut() {
            rx.borrow_and_update();
        }
        let results = read_all(
            &snapshot,
            replica_manager,
            &partitions,
            who,
            response_limit,
            version,
        );
        let bytes: u64 = results.iter().map(|r| r.records_len()).sum();
        let any_error = results.iter().any(|r| r.error_code != 0);
        if body.max_wait_ms <= 0
            || bytes >= body.min_bytes.max(0) as u64
            || any_error
            || partitions.is_empty()
            || Instant::now() >= deadline
        {
            break results;
        }
        let Some(rx) = activity.as_mut() else {
            break results;
        };
        match tokio::time::timeout_at(deadline, rx.changed()).await {
            Ok(Ok(())) => continue,
            // Timed out (or the replica manager is gone): read once more and answer.
            _ => {
                break read_all(
                    &snapshot,
                    replica_manager,
                    &partitions,
                    who,
                    response_limit,
                    version,
                )
            }
        }
    };

    // Which partitions the answer lists.
    let keys: Vec<SessionKey> = partitions
        .iter()
        .map(|p| SessionKey::new(p.topic_id, &p.topic, p.partition))
        .collect();
    let reported: Vec<ReportedOffsets> = results
        .iter()
        .map(|r| ReportedOffsets {
            high_watermark: r.high_watermark,
            last_stable_offset: r.last_stable_offset,
            log_start_offset: r.log_start_offset,
        })
        .collect();
    let include = if incremental {
        let news: Vec<_> = keys
            .iter()
            .zip(&reported)
            .zip(&results)
            .map(|((k, o), r)| (k.clone(), *o, r.records_len() > 0 || r.error_code != 0))
            .collect();
        sessions.filter_incremental(session_id, &news)
    } else {
        let pairs: Vec<_> = keys.iter().cloned().zip(reported.iter().copied()).collect();
        sessions.record_full(session_id, &pairs);
        vec![true; results.len()]
    };

    let mut topics: Vec<FetchTopicData> = Vec::new();
    for ((p, data), keep) in partitions.iter().zip(results).zip(include) {
        if !keep {
            continue;
        }
        match topics.last_mut() {
            Some(t) if t.name == p.topic && t.topic_id == p.topic_id => t.partitions.push(data),
            _ => topics.push(FetchTopicData {
                name: p.topic.clone(),
                topic_id: p.topic_id,
                partitions: vec![data],
            }),
        }
    }
    let header = FetchResponseHeader {
        session_id,
        ..header
    };
    Response::SendParts(encode_fetch_response(version, header, &topics))
}

/// Reads every partition in order within the response limit (Kafka's `readFromLog`).
fn read_all(
    snapshot: &MetadataSnapshot,
    replica_manager: Option<&ReplicaManager>,
    partitions: &[FetchPartitionRequest],
    who: FetchIsolation,
    response_limit: usize,
    version: i16,
) -> Vec<FetchPartitionData> {
    let mut remaining = response_limit;
    let mut min_one_message = true;
    let mut out = Vec::with_capacity(partitions.len());
    for p in partitions {
        let data = match read_one(
            snapshot,
            replica_manager,
            p,
            who,
            remaining,
            min_one_message,
            version,
        ) {
            Ok(data) => data,
            Err(e) => {
                debug!(topic = %p.topic, partition = p.partition, error = ?e.code, message = %e.message, "fetch failed");
                FetchPartitionData::error(p.partition, e.code.code())
            }
        };
        let len = data.records_len();
        if len > 0 {
            min_one_message = false;
            remaining = remaining.saturating_sub(len as usize);
        }
        out.push(data);
    }
    out
}

fn read_one(
    snapshot: &MetadataSnapshot,
    replica_manager: Option<&ReplicaManager>,
    p: &FetchPartitionRequest,
    who: FetchIsolation,
    remaining: usize,
    min_one_message: bool,
    version: i16,
) -> Result<FetchPartitionData, PartitionError> {
    if version >= 13 && p.topic.is_empty() {
        return Err(PartitionError::new(
            ResponseError::UnknownTopicId,
            format!("unknown topic id {}", p.topic_id),
        ));
    }
    let tp = TopicPartition::new(p.topic.as_str(), p.partition);
    let partition = hosted_partition(replica_manager, snapshot, &tp)?;
    let max_bytes = (p.max_bytes.max(0) as usize).min(remaining);
    let read = partition.read(
        p.fetch_offset,
        p.current_leader_epoch,
        max_bytes,
        who,
        min_one_message,
    )?;
    let committed = matches!(who, FetchIsolation::Consumer(Isolation::ReadCommitted));
    Ok(FetchPartitionData {
        partition_index: p.partition,
        error_code: 0,
        high_watermark: read.offsets.high_watermark,
        last_stable_offset: read.offsets.last_stable_offset,
        log_start_offset: read.offsets.log_start_offset,
        aborted_transactions: committed.then(Vec::new),
        preferred_read_replica: -1,
        records: read.data.map(|d| d.records),
    })
}
