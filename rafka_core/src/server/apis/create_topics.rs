//! CreateTopics (key 19, v0–7): Kafka's `KafkaApis.handleCreateTopicsRequest` +
//! `ZkAdminManager.createTopics` in ZK mode.
//!
//! - Not the active controller → NOT_CONTROLLER for every topic (clients retry there).
//! - A name listed more than once → INVALID_REQUEST for it.
//! - Per topic: name rules (INVALID_TOPIC_EXCEPTION), existing topic (TOPIC_ALREADY_EXISTS),
//!   counts and an explicit assignment together (INVALID_REQUEST), −1 = broker default
//!   (`num.partitions`, `default.replication.factor`), partitions ≤ 0 (INVALID_PARTITIONS),
//!   replication factor ≤ 0 or above the live brokers (INVALID_REPLICATION_FACTOR), bad
//!   assignment (INVALID_REPLICA_ASSIGNMENT), configs checked with
//!   `LogConfig::validate_overrides` (INVALID_CONFIG). Placement: `assignReplicasToBrokers`
//!   over the live brokers, rack-aware when they all have `broker.rack`; racks on only some
//!   → UNKNOWN_SERVER_ERROR (Kafka's `AdminOperationException`).
//! - `validate_only` (v1+): checks only. Otherwise the topic is written (`/config/topics/<t>`
//!   then `/brokers/topics/<t>`) and the answer waits, up to `timeout_ms`, until the local
//!   MetadataCache has every partition with a leader; else REQUEST_TIMED_OUT (the topic still
//!   exists), as Kafka's topic purgatory. `timeout_ms` ≤ 0 → REQUEST_TIMED_OUT at once for
//!   created topics.
//! - v5+: partitions, replication factor and the topic's explicit configs in the result;
//!   v7: the topic id.

use std::time::Duration;

use kafka_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse};
use kafka_protocol::protocol::StrBytes;

use crate::network::Response;
use crate::protocol::{ParsedRequest, ResponseError};
use crate::server::admin_manager::{admin_error, AdminManager, CreatedTopic};

/// Kafka's `ConfigSource.TOPIC_CONFIG` in CreateTopics results.
const TOPIC_CONFIG_SOURCE: i8 = 1;

/// Answers one CreateTopics request.
pub async fn handle(admin: Option<&AdminManager>, request: &ParsedRequest) -> Response {
    let body: CreateTopicsRequest = match super::decode(request) {
        Ok(body) => body,
        Err(close) => return close,
    };
    let response = respond(admin, &body, request.api_version()).await;
    super::send(request, &response)
}

fn result(
    version: i16,
    name: &kafka_protocol::messages::TopicName,
    error: Option<(ResponseError, String)>,
) -> CreatableTopicResult {
    let mut r = CreatableTopicResult::default().with_name(name.clone());
    if version >= 1 {
        // Kafka answers a null message on success.
        r = r.with_error_message(None);
    }
    if let Some((code, message)) = error {
        r = r.with_error_code(code.code());
        if version >= 1 {
            r = r.with_error_message(Some(StrBytes::from_string(message)));
        }
    }
    r
}

/// The response at `version`.
pub async fn respond(
    admin: Option<&AdminManager>,
    body: &CreateTopicsRequest,
    version: i16,
) -> CreateTopicsResponse {
    let validate_only = version >= 1 && body.validate_only;
    let mut results = Vec::with_capacity(body.topics.len());
    let Some(admin) = admin.filter(|a| a.is_controller()) else {
        for t in &body.topics {
            results.push(result(
                version,
                &t.name,
                Some((
                    ResponseError::NotController,
                    "This is not the correct controller for this cluster.".into(),
                )),
            ));
        }
        return CreateTopicsResponse::default().with_topics(results);
    };
    // Created topics to wait for: (index in results, partitions).
    let mut created: Vec<(usize, CreatedTopic)> = Vec::new();
    for t in &body.topics {
        let count = body.topics.iter().filter(|o| o.name == t.name).count();
        if count > 1 {
            results.push(result(
                version,
                &t.name,
                Some((
                    ResponseError::InvalidRequest,
                    "Found multiple entries for this topic.".into(),
                )),
            ));
            continue;
        }
        match admin.create_topic(t, validate_only).await {
            Ok(c) => {
                let mut r = result(version, &t.name, None);
                if version >= 5 {
                    r = r
                        .with_num_partitions(c.assignment.len() as i32)
                        .with_replication_factor(
                            c.assignment.values().next().map_or(0, |v| v.len() as i16),
                        )
                        .with_configs(Some(
                            c.configs
                                .iter()
                                .map(|(k, v)| {
                                    CreatableTopicConfigs::default()
                                        .with_name(StrBytes::from_string(k.clone()))
                                        .with_value(Some(StrBytes::from_string(v.clone())))
                                        .with_config_source(TOPIC_CONFIG_SOURCE)
                                })
                                .collect(),
                        ));
                }
                if version >= 7 {
                    if let Some(id) = c.topic_id {
                        r = r.with_topic_id(id);
                    }
                }
                results.push(r);
                if !validate_only {
                    created.push((results.len() - 1, c));
                }
            }
            Err(e) => {
                let (code, message) = admin_error(&e);
                results.push(result(version, &t.name, Some((code, message))));
            }
        }
    }
    let timeout = Duration::from_millis(body.timeout_ms.max(0) as u64);
    let deadline = tokio::time::Instant::now() + timeout;
    for (i, c) in created {
        let name = results[i].name.to_string();
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let ready = body.timeout_ms > 0
            && admin
                .wait_for_partitions(&name, c.assignment.len(), left)
                .await;
        if !ready {
            results[i].error_code = ResponseError::RequestTimedOut.code();
            if version >= 1 {
                results[i].error_message = Some(StrBytes::from_static_str(
                    "Timed out waiting for the topic's partitions to be created",
                ));
            }
        }
    }
    CreateTopicsResponse::default().with_topics(results)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use kafka_protocol::messages::create_topics_request::CreatableTopic;
    use kafka_protocol::messages::TopicName;
    use kafka_protocol::protocol::{Decodable, Encodable};

    /// Without an active controller every topic gets NOT_CONTROLLER, in every version's shape.
    #[tokio::test]
    async fn not_controller_every_version() {
        for version in 0..=7 {
            let mut request = CreateTopicsRequest::default()
                .with_timeout_ms(1000)
                .with_topics(vec![CreatableTopic::default()
                    .with_name(TopicName(StrBytes::from_static_str("t")))
                    .with_num_partitions(3)
                    .with_replication_factor(1)]);
            if version >= 1 {
                request = request.with_validate_only(true);
            }
            let mut buf = BytesMut::new();
            request.encode(&mut buf, version).unwrap();
            let decoded = CreateTopicsRequest::decode(&mut buf.freeze(), version).unwrap();
            let response = respond(None, &decoded, version).await;
            assert_eq!(response.topics.len(), 1);
            assert_eq!(
                response.topics[0].error_code,
                ResponseError::NotController.code()
            );
            let mut out = BytesMut::new();
            response.encode(&mut out, version).unwrap();
            let back = CreateTopicsResponse::decode(&mut out.freeze(), version).unwrap();
            assert_eq!(back.topics[0].name.as_str(), "t");
            if version >= 1 {
                assert!(back.topics[0]
                    .error_message
                    .as_ref()
                    .is_some_and(|m| !m.is_empty()));
            }
        }
    }
}
