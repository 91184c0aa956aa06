//! DescribeGroups (key 15, v0–5): Kafka's `KafkaApis.handleDescribeGroupsRequest`. Per group:
//! state, protocol type, protocol and members (member metadata and assignment only when
//! Stable); an unknown group is "Dead" with no members and NONE; v4+ members carry
//! `group.instance.id`; v3+ authorized operations when asked for (every group operation —
//! READ, DELETE, DESCRIBE — as Kafka answers without an authorizer), else −2^31. Without a
//! coordinator: COORDINATOR_NOT_AVAILABLE per group.

use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::{DescribeGroupsRequest, DescribeGroupsResponse};

use super::group_common::{code, decode, encode, sb, sb_opt};
use crate::coordinator::group::results::GroupSummary;
use crate::coordinator::group::GroupCoordinatorHandle;
use crate::network::Response;
use crate::protocol::{ParsedRequest, ResponseError};

/// READ (3), DELETE (6) and DESCRIBE (8) as a bit field (Kafka's `Utils.to32BitField`).
pub const GROUP_AUTHORIZED_OPERATIONS: i32 = (1 << 3) | (1 << 6) | (1 << 8);

pub async fn handle(
    coordinator: Option<&GroupCoordinatorHandle>,
    request: &ParsedRequest,
) -> Response {
    let Some(body) = decode::<DescribeGroupsRequest>(request) else {
        return Response::CloseConnection;
    };
    let version = request.api_version();
    let ids: Vec<String> = body.groups.iter().map(|g| g.to_string()).collect();
    let answers = match coordinator {
        None => vec![
            (
                Some(ResponseError::CoordinatorNotAvailable),
                GroupSummary::empty()
            );
            ids.len()
        ],
        Some(c) => c.describe_groups(ids).await,
    };
    let groups = body
        .groups
        .iter()
        .zip(answers)
        .map(|(id, (error, summary))| {
            let members = summary
                .members
                .into_iter()
                .map(|m| {
                    let member = DescribedGroupMember::default()
                        .with_member_id(sb(m.member_id))
                        .with_client_id(sb(m.client_id))
                        .with_client_host(sb(m.client_host))
                        .with_member_metadata(m.metadata)
                        .with_member_assignment(m.assignment);
                    if version >= 4 {
                        member.with_group_instance_id(sb_opt(m.group_instance_id))
                    } else {
                        member
                    }
                })
                .collect();
            let mut g = DescribedGroup::default()
                .with_error_code(code(error))
                .with_group_id(id.clone())
                .with_group_state(sb(summary.state))
                .with_protocol_type(sb(summary.protocol_type))
                .with_protocol_data(sb(summary.protocol))
                .with_members(members);
            if version >= 3 {
                g = g.with_authorized_operations(
                    if error.is_none() && body.include_authorized_operations {
                        GROUP_AUTHORIZED_OPERATIONS
                    } else {
                        i32::MIN
                    },
                );
            }
            g
        })
        .collect();
    encode(
        request,
        &DescribeGroupsResponse::default().with_groups(groups),
    )
}
