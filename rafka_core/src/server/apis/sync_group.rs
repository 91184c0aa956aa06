//! SyncGroup (key 14, v0–5): Kafka's `KafkaApis.handleSyncGroupRequest` +
//! `GroupCoordinatorAdapter.syncGroup`. From v5 the protocol type and name are mandatory
//! (missing → INCONSISTENT_GROUP_PROTOCOL) and answered back; v3+ carries
//! `group.instance.id`. The assignment is always a (possibly empty) bytes field. Without a
//! coordinator: COORDINATOR_NOT_AVAILABLE.

use kafka_protocol::messages::{SyncGroupRequest, SyncGroupResponse};

use super::group_common::{code, decode, encode, sb_opt};
use crate::coordinator::group::results::{SyncGroupParams, SyncGroupResult};
use crate::coordinator::group::GroupCoordinatorHandle;
use crate::network::Response;
use crate::protocol::{ParsedRequest, ResponseError};

pub async fn handle(
    coordinator: Option<&GroupCoordinatorHandle>,
    request: &ParsedRequest,
) -> Response {
    let Some(body) = decode::<SyncGroupRequest>(request) else {
        return Response::CloseConnection;
    };
    let version = request.api_version();
    let result = if version >= 5 && (body.protocol_type.is_none() || body.protocol_name.is_none()) {
        SyncGroupResult::error(ResponseError::InconsistentGroupProtocol)
    } else {
        match coordinator {
            None => SyncGroupResult::error(ResponseError::CoordinatorNotAvailable),
            Some(c) => {
                c.sync_group(SyncGroupParams {
                    group_id: body.group_id.to_string(),
                    generation_id: body.generation_id,
                    member_id: body.member_id.to_string(),
                    protocol_type: body.protocol_type.as_ref().map(|s| s.to_string()),
                    protocol_name: body.protocol_name.as_ref().map(|s| s.to_string()),
                    group_instance_id: body.group_instance_id.as_ref().map(|s| s.to_string()),
                    assignments: body
                        .assignments
                        .iter()
                        .map(|a| (a.member_id.to_string(), a.assignment.clone()))
                        .collect(),
                })
                .await
            }
        }
    };
    let mut r = SyncGroupResponse::default()
        .with_error_code(code(result.error))
        .with_assignment(result.assignment);
    if version >= 5 {
        r = r
            .with_protocol_type(sb_opt(result.protocol_type))
            .with_protocol_name(sb_opt(result.protocol_name));
    }
    encode(request, &r)
}
