//! ListGroups (key 16, v0–5): the groups this coordinator holds (Kafka's
//! `KafkaApis.handleListGroupsRequest`); v4+ filter by state (case-insensitive) and answer
//! each group's state; v5 filters by type and answers it (every group here is "classic").
//! COORDINATOR_LOAD_IN_PROGRESS while a partition loads (the loaded groups are still
//! listed); without a coordinator: COORDINATOR_NOT_AVAILABLE.

use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{GroupId, ListGroupsRequest, ListGroupsResponse};

use super::group_common::{code, decode, encode, sb};
use crate::coordinator::group::group_coordinator_offsets::CLASSIC_GROUP_TYPE;
use crate::coordinator::group::GroupCoordinatorHandle;
use crate::network::Response;
use crate::protocol::{ParsedRequest, ResponseError};

pub async fn handle(
    coordinator: Option<&GroupCoordinatorHandle>,
    request: &ParsedRequest,
) -> Response {
    let Some(body) = decode::<ListGroupsRequest>(request) else {
        return Response::CloseConnection;
    };
    let version = request.api_version();
    let (error, groups) = match coordinator {
        None => (Some(ResponseError::CoordinatorNotAvailable), Vec::new()),
        Some(c) => {
            c.list_groups(
                body.states_filter.iter().map(|s| s.to_string()).collect(),
                body.types_filter.iter().map(|s| s.to_string()).collect(),
            )
            .await
        }
    };
    let groups = groups
        .into_iter()
        .map(|g| {
            let mut listed = ListedGroup::default()
                .with_group_id(GroupId(sb(g.group_id)))
                .with_protocol_type(sb(g.protocol_type));
            if version >= 4 {
                listed = listed.with_group_state(sb(g.state));
            }
            if version >= 5 {
                listed = listed.with_group_type(sb(CLASSIC_GROUP_TYPE));
            }
            listed
        })
        .collect();
    encode(
        request,
        &ListGroupsResponse::default()
            .with_error_code(code(error))
            .with_groups(groups),
    )
}
