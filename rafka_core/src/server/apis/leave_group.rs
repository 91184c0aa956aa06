//! LeaveGroup (key 13, v0–5): Kafka's `KafkaApis.handleLeaveGroupRequest`. v0–2 name one
//! member and answer one error code (the group error, else the member's); v3+ name a batch
//! of members (by member id, or by `group.instance.id` with an empty member id for an
//! administrative removal) and answer per member; v5 adds a reason. Without a coordinator:
//! COORDINATOR_NOT_AVAILABLE.

use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::{LeaveGroupRequest, LeaveGroupResponse};

use super::group_common::{code, decode, encode, sb, sb_opt};
use crate::coordinator::group::results::{LeaveGroupResult, LeavingMember};
use crate::coordinator::group::GroupCoordinatorHandle;
use crate::network::Response;
use crate::protocol::{ParsedRequest, ResponseError};

pub async fn handle(
    coordinator: Option<&GroupCoordinatorHandle>,
    request: &ParsedRequest,
) -> Response {
    let Some(body) = decode::<LeaveGroupRequest>(request) else {
        return Response::CloseConnection;
    };
    let version = request.api_version();
    let members: Vec<LeavingMember> = if version >= 3 {
        body.members
            .iter()
            .map(|m| LeavingMember {
                member_id: m.member_id.to_string(),
                group_instance_id: m.group_instance_id.as_ref().map(|s| s.to_string()),
                reason: m.reason.as_ref().map(|s| s.to_string()),
            })
            .collect()
    } else {
        vec![LeavingMember {
            member_id: body.member_id.to_string(),
            group_instance_id: None,
            reason: None,
        }]
    };
    let result = match coordinator {
        None => LeaveGroupResult {
            error: Some(ResponseError::CoordinatorNotAvailable),
            members: Vec::new(),
        },
        Some(c) => c.leave_group(body.group_id.to_string(), members).await,
    };
    let response = if version >= 3 {
        LeaveGroupResponse::default()
            .with_error_code(code(result.error))
            .with_members(
                result
                    .members
                    .into_iter()
                    .map(|m| {
                        MemberResponse::default()
                            .with_member_id(sb(m.member_id))
                            .with_group_instance_id(sb_opt(m.group_instance_id))
                            .with_error_code(code(m.error))
                    })
                    .collect(),
            )
    } else {
        let error = result
            .error
            .or_else(|| result.members.first().and_then(|m| m.error));
        LeaveGroupResponse::default().with_error_code(code(error))
    };
    encode(request, &response)
}
