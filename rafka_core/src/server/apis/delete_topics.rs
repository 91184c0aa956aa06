//! DeleteTopics (key 20, v0–6): Kafka's `KafkaApis.handleDeleteTopicsRequest` +
//! `ZkAdminManager.deleteTopics` in ZK mode.
//!
//! - Not the active controller → NOT_CONTROLLER for every topic.
//! - `delete.topic.enable=false` → TOPIC_DELETION_DISABLED for every topic (v3+; INVALID_REQUEST
//!   before, which has no such code).
//! - v6 names topics by name or by id: both set → INVALID_REQUEST for the whole request (Kafka's
//!   error response); an id no topic has → UNKNOWN_TOPIC_ID.
//! - A topic the local MetadataCache does not know → UNKNOWN_TOPIC_OR_PARTITION.
//! - Otherwise `/admin/delete_topics/<t>` is created (already there counts as success) and the
//!   answer waits, up to `timeout_ms`, until the topic has left the local MetadataCache (the
//!   controller's UpdateMetadata with leader −2 removes it); else REQUEST_TIMED_OUT (the
//!   deletion goes on). `timeout_ms` ≤ 0 → REQUEST_TIMED_OUT at once, as Kafka's
//!   `DelayedDeleteTopics`.
//!
//! Error messages stay null, as Kafka's ZK broker leaves them.

use std::time::Duration;

use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{DeleteTopicsRequest, DeleteTopicsResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use tracing::debug;
use uuid::Uuid;

use crate::network::Response;
use crate::protocol::{ParsedRequest, ResponseError};
use crate::server::admin_manager::{admin_error, AdminManager};

/// Answers one DeleteTopics request.
pub async fn handle(admin: Option<&AdminManager>, request: &ParsedRequest) -> Response {
    let body: DeleteTopicsRequest = match super::decode(request) {
        Ok(body) => body,
        Err(close) => return close,
    };
    let response = respond(admin, &body, request.api_version()).await;
    super::send(request, &response)
}

/// The requested topics as (name, topic id): `topic_names` before v6, `topics` from v6.
fn requested(body: &DeleteTopicsRequest, version: i16) -> Vec<(Option<String>, Uuid)> {
    if version >= 6 {
        body.topics
            .iter()
            .map(|t| (t.name.as_ref().map(|n| n.to_string()), t.topic_id))
            .collect()
    } else {
        body.topic_names
            .iter()
            .map(|n| (Some(n.to_string()), Uuid::nil()))
            .collect()
    }
}

/// A result in `version`'s shape: the name is mandatory before v6 (an empty string stands in
/// for an unresolved one), the topic id exists only in v6.
fn result(
    version: i16,
    name: Option<&str>,
    id: Uuid,
    error: Option<ResponseError>,
) -> DeletableTopicResult {
    let name = match name {
        Some(n) => Some(TopicName(StrBytes::from_string(n.to_string()))),
        None if version < 6 => Some(TopicName::default()),
        None => None,
    };
    let mut r = DeletableTopicResult::default()
        .with_name(name)
        .with_error_code(error.map_or(0, |e| e.code()));
    if version >= 6 {
        r = r.with_topic_id(id);
    }
    r
}

/// The response at `version`.
pub async fn respond(
    admin: Option<&AdminManager>,
    body: &DeleteTopicsRequest,
    version: i16,
) -> DeleteTopicsResponse {
    let topics = requested(body, version);
    let all_with = |error: ResponseError| -> DeleteTopicsResponse {
        DeleteTopicsResponse::default().with_responses(
            topics
                .iter()
                .map(|(name, id)| result(version, name.as_deref(), *id, Some(error)))
                .collect(),
        )
    };
    let Some(admin) = admin.filter(|a| a.is_controller()) else {
        return all_with(ResponseError::NotController);
    };
    if !admin.delete_topic_enable() {
        return all_with(if version < 3 {
            ResponseError::InvalidRequest
        } else {
            ResponseError::TopicDeletionDisabled
        });
    }
    if topics
        .iter()
        .any(|(name, id)| name.is_some() && !id.is_nil())
    {
        // "Topic name and topic ID can not both be specified."
        return all_with(ResponseError::InvalidRequest);
    }
    let mut results = Vec::with_capacity(topics.len());
    // Marked topics to wait for: (index in results, name).
    let mut marked: Vec<(usize, String)> = Vec::new();
    for (name, id) in &topics {
        let name = if id.is_nil() {
            name.clone()
        } else {
            match admin.topic_name_for_id(*id).await {
                Ok(n) => n,
                Err(e) => {
                    results.push(result(version, None, *id, Some(admin_error(&e).0)));
                    continue;
                }
            }
        };
        let Some(name) = name else {
            let error = if id.is_nil() {
                ResponseError::UnknownTopicOrPartition
            } else {
                ResponseError::UnknownTopicId
            };
            results.push(result(version, None, *id, Some(error)));
            continue;
        };
        if !admin.cache_contains_topic(&name) {
            results.push(result(
                version,
                Some(&name),
                *id,
                Some(ResponseError::UnknownTopicOrPartition),
            ));
            continue;
        }
        match admin.delete_topic(&name).await {
            Ok(()) => {
                results.push(result(version, Some(&name), *id, None));
                marked.push((results.len() - 1, name));
            }
            Err(e) => {
                let (code, message) = admin_error(&e);
                debug!(topic = %name, error = %message, "topic deletion refused");
                results.push(result(version, Some(&name), *id, Some(code)));
            }
        }
    }
    let deadline =
        tokio::time::Instant::now() + Duration::from_millis(body.timeout_ms.max(0) as u64);
    for (i, name) in marked {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let gone = body.timeout_ms > 0 && admin.wait_for_topic_deletion(&name, left).await;
        if !gone {
            results[i].error_code = ResponseError::RequestTimedOut.code();
        }
    }
    DeleteTopicsResponse::default().with_responses(results)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
    use kafka_protocol::protocol::{Decodable, Encodable};

    /// Without an active controller every topic gets NOT_CONTROLLER, in every version's shape
    /// (v6 by name and by id).
    #[tokio::test]
    async fn not_controller_every_version() {
        let id = Uuid::new_v4();
        for version in 0..=6 {
            let mut request = DeleteTopicsRequest::default().with_timeout_ms(1000);
            if version >= 6 {
                request = request.with_topics(vec![
                    DeleteTopicState::default()
                        .with_name(Some(TopicName(StrBytes::from_static_str("t")))),
                    DeleteTopicState::default().with_topic_id(id),
                ]);
            } else {
                request = request.with_topic_names(vec![
                    TopicName(StrBytes::from_static_str("t")),
                    TopicName(StrBytes::from_static_str("u")),
                ]);
            }
            let mut buf = BytesMut::new();
            request.encode(&mut buf, version).unwrap();
            let decoded = DeleteTopicsRequest::decode(&mut buf.freeze(), version).unwrap();
            let response = respond(None, &decoded, version).await;
            assert_eq!(response.responses.len(), 2, "v{version}");
            assert!(response
                .responses
                .iter()
                .all(|r| r.error_code == ResponseError::NotController.code()));
            let mut out = BytesMut::new();
            response.encode(&mut out, version).unwrap();
            let back = DeleteTopicsResponse::decode(&mut out.freeze(), version).unwrap();
            assert_eq!(
                back.responses[0].name.as_ref().map(|n| n.as_str()),
                Some("t")
            );
            if version >= 6 {
                assert_eq!(back.responses[1].name, None);
                assert_eq!(back.responses[1].topic_id, id);
            } else {
                assert_eq!(
                    back.responses[1].name.as_ref().map(|n| n.as_str()),
                    Some("u")
                );
            }
        }
    }
}
