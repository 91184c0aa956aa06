//! CreatePartitions (key 37, v0–3): Kafka's `KafkaApis.handleCreatePartitionsRequest` +
//! `ZkAdminManager.createPartitions` in ZK mode.
//!
//! - Not the active controller → NOT_CONTROLLER for every topic.
//! - A topic listed more than once → one INVALID_REQUEST result for it.
//! - Queued for deletion (`/admin/delete_topics/<t>` exists) → INVALID_TOPIC_EXCEPTION.
//! - Per topic (`AdminManager::create_partitions`): unknown → UNKNOWN_TOPIC_OR_PARTITION;
//!   reassignment in progress → REASSIGNMENT_IN_PROGRESS; count not above the current one →
//!   INVALID_PARTITIONS; explicit assignments with unknown brokers, of the wrong count or
//!   shape → INVALID_REPLICA_ASSIGNMENT; `broker.rack` on only some registered brokers →
//!   UNKNOWN_SERVER_ERROR (Kafka's `getBrokerMetadatas` in RackAwareMode.Enforced). New
//!   partitions are placed rack-aware when every broker has a rack.
//! - `validate_only`: checks only, NONE. Otherwise the full assignment is written to
//!   `/brokers/topics/<t>` (topic id kept; the controller's partition-modification watch
//!   creates the partitions) and the answer waits, up to `timeout_ms`, until the local
//!   MetadataCache has every partition with a leader; else REQUEST_TIMED_OUT. `timeout_ms` ≤ 0
//!   → REQUEST_TIMED_OUT at once, as Kafka's `DelayedCreatePartitions`.
//!
//! Messages: null on success, NOT_CONTROLLER and timeouts; the failure's text otherwise.

use std::time::Duration;

use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use crate::network::Response;
use crate::protocol::{ParsedRequest, ResponseError};
use crate::server::admin_manager::{admin_error, AdminManager};
use crate::zk::admin_zk_client::AdminError;

/// Answers one CreatePartitions request.
pub async fn handle(admin: Option<&AdminManager>, request: &ParsedRequest) -> Response {
    let body: CreatePartitionsRequest = match super::decode(request) {
        Ok(body) => body,
        Err(close) => return close,
    };
    let response = respond(admin, &body).await;
    super::send(request, &response)
}

fn result(
    name: &TopicName,
    error: Option<(ResponseError, Option<String>)>,
) -> CreatePartitionsTopicResult {
    let mut r = CreatePartitionsTopicResult::default()
        .with_name(name.clone())
        .with_error_message(None);
    if let Some((code, message)) = error {
        r = r
            .with_error_code(code.code())
            .with_error_message(message.map(StrBytes::from_string));
    }
    r
}

/// The response (every version has the same fields).
pub async fn respond(
    admin: Option<&AdminManager>,
    body: &CreatePartitionsRequest,
) -> CreatePartitionsResponse {
    let Some(admin) = admin.filter(|a| a.is_controller()) else {
        let results = body
            .topics
            .iter()
            .map(|t| result(&t.name, Some((ResponseError::NotController, None))))
            .collect();
        return CreatePartitionsResponse::default().with_results(results);
    };
    let mut results: Vec<CreatePartitionsTopicResult> = Vec::with_capacity(body.topics.len());
    // Written topics to wait for: (index in results, partition count).
    let mut written: Vec<(usize, usize)> = Vec::new();
    for t in &body.topics {
        if results.iter().any(|r| r.name == t.name) {
            continue;
        }
        let name = t.name.to_string();
        if body.topics.iter().filter(|o| o.name == t.name).count() > 1 {
            results.push(result(
                &t.name,
                Some((
                    ResponseError::InvalidRequest,
                    Some("Duplicate topic in request.".into()),
                )),
            ));
            continue;
        }
        let queued = match admin.is_queued_for_deletion(&name).await {
            Ok(q) => q,
            Err(e) => {
                let (code, message) = admin_error(&e);
                results.push(result(&t.name, Some((code, Some(message)))));
                continue;
            }
        };
        if queued {
            results.push(result(
                &t.name,
                Some((
                    ResponseError::InvalidTopicException,
                    Some("The topic is queued for deletion.".into()),
                )),
            ));
            continue;
        }
        let assignments: Option<Vec<Vec<i32>>> = t.assignments.as_ref().map(|list| {
            list.iter()
                .map(|a| a.broker_ids.iter().map(|b| b.0).collect())
                .collect()
        });
        match admin
            .create_partitions(&name, t.count, assignments.as_deref(), body.validate_only)
            .await
        {
            Ok(p) => {
                results.push(result(&t.name, None));
                if !body.validate_only {
                    written.push((results.len() - 1, p.total));
                }
            }
            Err(e) => {
                let (code, message) = admin_error(&e);
                if matches!(e, AdminError::Zk(_)) {
                    tracing::warn!(topic = %name, error = %message, "CreatePartitions failed");
                }
                results.push(result(&t.name, Some((code, Some(message)))));
            }
        }
    }
    let deadline =
        tokio::time::Instant::now() + Duration::from_millis(body.timeout_ms.max(0) as u64);
    for (i, total) in written {
        let name = results[i].name.to_string();
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let ready = body.timeout_ms > 0 && admin.wait_for_partitions(&name, total, left).await;
        if !ready {
            results[i].error_code = ResponseError::RequestTimedOut.code();
        }
    }
    CreatePartitionsResponse::default().with_results(results)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use kafka_protocol::messages::create_partitions_request::{
        CreatePartitionsAssignment, CreatePartitionsTopic,
    };
    use kafka_protocol::messages::BrokerId;
    use kafka_protocol::protocol::{Decodable, Encodable};

    /// Without an active controller every topic gets NOT_CONTROLLER with a null message, in
    /// every version.
    #[tokio::test]
    async fn not_controller_every_version() {
        for version in 0..=3 {
            let request = CreatePartitionsRequest::default()
                .with_timeout_ms(1000)
                .with_topics(vec![
                    CreatePartitionsTopic::default()
                        .with_name(TopicName(StrBytes::from_static_str("t")))
                        .with_count(3),
                    CreatePartitionsTopic::default()
                        .with_name(TopicName(StrBytes::from_static_str("u")))
                        .with_count(2)
                        .with_assignments(Some(vec![CreatePartitionsAssignment::default()
                            .with_broker_ids(vec![BrokerId(1)])])),
                ]);
            let mut buf = BytesMut::new();
            request.encode(&mut buf, version).unwrap();
            let decoded = CreatePartitionsRequest::decode(&mut buf.freeze(), version).unwrap();
            assert_eq!(
                decoded.topics[1].assignments.as_ref().map(Vec::len),
                Some(1)
            );
            let response = respond(None, &decoded).await;
            let mut out = BytesMut::new();
            response.encode(&mut out, version).unwrap();
            let back = CreatePartitionsResponse::decode(&mut out.freeze(), version).unwrap();
            let got: Vec<(&str, i16, bool)> = back
                .results
                .iter()
                .map(|r| (r.name.as_str(), r.error_code, r.error_message.is_none()))
                .collect();
            let nc = ResponseError::NotController.code();
            assert_eq!(got, vec![("t", nc, true), ("u", nc, true)], "v{version}");
        }
    }
}
