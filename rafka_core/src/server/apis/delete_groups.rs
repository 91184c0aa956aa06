//! DeleteGroups (key 42, v0–2): Kafka's `KafkaApis.handleDeleteGroupsRequest`. Per group:
//! only an Empty group is deleted (its offsets and metadata get tombstones); a group with
//! members → NON_EMPTY_GROUP; unknown here → GROUP_ID_NOT_FOUND (NOT_COORDINATOR when another
//! broker coordinates it); the group-status errors as for every group API. Without a
//! coordinator: COORDINATOR_NOT_AVAILABLE.

use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::{DeleteGroupsRequest, DeleteGroupsResponse, GroupId};

use super::group_common::{code, decode, encode, sb};
use crate::coordinator::group::GroupCoordinatorHandle;
use crate::network::Response;
use crate::protocol::{ParsedRequest, ResponseError};

pub async fn handle(
    coordinator: Option<&GroupCoordinatorHandle>,
    request: &ParsedRequest,
) -> Response {
    let Some(body) = decode::<DeleteGroupsRequest>(request) else {
        return Response::CloseConnection;
    };
    let ids: Vec<String> = body.groups_names.iter().map(|g| g.to_string()).collect();
    let results = match coordinator {
        None => ids
            .into_iter()
            .map(|g| (g, Some(ResponseError::CoordinatorNotAvailable)))
            .collect(),
        Some(c) => c.delete_groups(ids).await,
    };
    let results = results
        .into_iter()
        .map(|(g, e)| {
            DeletableGroupResult::default()
                .with_group_id(GroupId(sb(g)))
                .with_error_code(code(e))
        })
        .collect();
    encode(
        request,
        &DeleteGroupsResponse::default().with_results(results),
    )
}
