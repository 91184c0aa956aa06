//! JoinGroup (key 11, v0–9): Kafka's `KafkaApis.handleJoinGroupRequest` +
//! `GroupCoordinatorAdapter.joinGroup`. The coordinator decides (see
//! `coordinator/group/group_coordinator.rs`); this handler maps versions:
//!
//! - v0 has no rebalance timeout: the session timeout is used;
//! - v4+ requires a known member id (a new member first gets MEMBER_ID_REQUIRED with its id);
//! - v5+ carries `group.instance.id` (static membership); v8+ a reason; v9+ may answer
//!   `skip_assignment` to a static leader that rejoins a Stable group;
//! - the protocol name is "" instead of null before v7 and null instead of "" from v7; the
//!   protocol type is answered from v7.
//!
//! The member's client host is the connection's peer address as Kafka prints it (`/1.2.3.4`).
//! Without a coordinator: COORDINATOR_NOT_AVAILABLE.

use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::{JoinGroupRequest, JoinGroupResponse};

use super::group_common::{code, decode, encode, sb, sb_opt};
use crate::coordinator::group::results::{JoinGroupParams, JoinGroupResult};
use crate::coordinator::group::GroupCoordinatorHandle;
use crate::network::{ConnectionContext, Response};
use crate::protocol::{ParsedRequest, ResponseError};

pub async fn handle(
    coordinator: Option<&GroupCoordinatorHandle>,
    connection: &ConnectionContext,
    request: &ParsedRequest,
) -> Response {
    let Some(body) = decode::<JoinGroupRequest>(request) else {
        return Response::CloseConnection;
    };
    let version = request.api_version();
    let result = match coordinator {
        None => JoinGroupResult::error(&body.member_id, ResponseError::CoordinatorNotAvailable),
        Some(c) => {
            let params = JoinGroupParams {
                group_id: body.group_id.to_string(),
                member_id: body.member_id.to_string(),
                group_instance_id: body.group_instance_id.as_ref().map(|s| s.to_string()),
                require_known_member_id: version >= 4,
                support_skipping_assignment: version >= 9,
                client_id: request.client_id().unwrap_or_default().to_string(),
                client_host: format!("/{}", connection.client_addr.ip()),
                rebalance_timeout_ms: if version == 0 {
                    body.session_timeout_ms
                } else {
                    body.rebalance_timeout_ms
                },
                session_timeout_ms: body.session_timeout_ms,
                protocol_type: body.protocol_type.to_string(),
                protocols: body
                    .protocols
                    .iter()
                    .map(|p| (p.name.to_string(), p.metadata.clone()))
                    .collect(),
                reason: body.reason.as_ref().map(|s| s.to_string()),
            };
            c.join_group(params).await
        }
    };
    encode(request, &response(result, version))
}

/// The wire answer of `result` at `version`.
pub fn response(result: JoinGroupResult, version: i16) -> JoinGroupResponse {
    let members = result
        .members
        .into_iter()
        .map(|m| {
            let member = JoinGroupResponseMember::default()
                .with_member_id(sb(m.member_id))
                .with_metadata(m.metadata);
            if version >= 5 {
                member.with_group_instance_id(sb_opt(m.group_instance_id))
            } else {
                member
            }
        })
        .collect();
    let mut r = JoinGroupResponse::default()
        .with_error_code(code(result.error))
        .with_generation_id(result.generation_id)
        .with_leader(sb(result.leader_id))
        .with_member_id(sb(result.member_id))
        .with_members(members);
    if version >= 7 {
        r = r
            .with_protocol_type(sb_opt(result.protocol_type))
            .with_protocol_name(sb_opt(result.protocol_name.filter(|n| !n.is_empty())));
    } else {
        r = r.with_protocol_name(Some(sb(result.protocol_name.unwrap_or_default())));
    }
    if version >= 9 {
        r = r.with_skip_assignment(result.skip_assignment);
    }
    r
}
