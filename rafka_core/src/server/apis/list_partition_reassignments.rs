//! ListPartitionReassignments (key 46, v0): the partitions the active controller is
//! reassigning, with their replicas, adding and removing replicas (Kafka's
//! `KafkaApis.handleListPartitionReassignmentsRequest` in ZK mode). Answered by the
//! controller task ([`crate::controller::reassignment`]); elsewhere a top-level
//! NOT_CONTROLLER.

use kafka_protocol::messages::{
    ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;
use tokio::sync::mpsc;

use crate::controller::ControllerEvent;
use crate::network::Response;
use crate::protocol::ParsedRequest;

fn failed(error: ResponseError) -> ListPartitionReassignmentsResponse {
    ListPartitionReassignmentsResponse::default()
        .with_error_code(error.code())
        .with_error_message(Some(StrBytes::from_static_str(match error {
            ResponseError::RequestTimedOut => "The controller did not answer in time.",
            _ => "This is not the correct controller for this cluster.",
        })))
}

/// Answers one ListPartitionReassignments request.
pub async fn handle(
    controller: Option<&mpsc::UnboundedSender<ControllerEvent>>,
    request: &ParsedRequest,
) -> Response {
    let body: ListPartitionReassignmentsRequest = match super::decode(request) {
        Ok(body) => body,
        Err(close) => return close,
    };
    let response = super::ask_controller(controller, |reply| {
        ControllerEvent::ListPartitionReassignments {
            request: body,
            reply,
        }
    })
    .await
    .unwrap_or_else(failed);
    super::send(request, &response)
}
