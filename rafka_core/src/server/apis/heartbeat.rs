//! Heartbeat (key 12, v0–4): Kafka's `KafkaApis.handleHeartbeatRequest`; v3+ carries
//! `group.instance.id`. Without a coordinator: COORDINATOR_NOT_AVAILABLE.

use kafka_protocol::messages::{HeartbeatRequest, HeartbeatResponse};

use super::group_common::{code, decode, encode};
use crate::coordinator::group::results::HeartbeatParams;
use crate::coordinator::group::GroupCoordinatorHandle;
use crate::network::Response;
use crate::protocol::{ParsedRequest, ResponseError};

pub async fn handle(
    coordinator: Option<&GroupCoordinatorHandle>,
    request: &ParsedRequest,
) -> Response {
    let Some(body) = decode::<HeartbeatRequest>(request) else {
        return Response::CloseConnection;
    };
    let error = match coordinator {
        None => Some(ResponseError::CoordinatorNotAvailable),
        Some(c) => {
            c.heartbeat(HeartbeatParams {
                group_id: body.group_id.to_string(),
                member_id: body.member_id.to_string(),
                group_instance_id: body.group_instance_id.as_ref().map(|s| s.to_string()),
                generation_id: body.generation_id,
            })
            .await
        }
    };
    encode(
        request,
        &HeartbeatResponse::default().with_error_code(code(error)),
    )
}
