//! AlterPartitionReassignments (key 45, v0): an admin client asks the active controller to
//! move partitions to new replicas, or (null replicas) to cancel a reassignment (Kafka's
//! `KafkaApis.handleAlterPartitionReassignmentsRequest` in ZK mode). The request goes to the
//! controller task as an event ([`crate::controller::reassignment`]); without an active
//! controller here the answer is a top-level NOT_CONTROLLER, so the client retries against
//! the controller that Metadata names.

use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;
use tokio::sync::mpsc;

use crate::controller::ControllerEvent;
use crate::network::Response;
use crate::protocol::ParsedRequest;

fn failed(error: ResponseError) -> AlterPartitionReassignmentsResponse {
    AlterPartitionReassignmentsResponse::default()
        .with_error_code(error.code())
        .with_error_message(Some(StrBytes::from_static_str(match error {
            ResponseError::RequestTimedOut => "The controller did not answer in time.",
            _ => "This is not the correct controller for this cluster.",
        })))
}

/// Answers one AlterPartitionReassignments request.
pub async fn handle(
    controller: Option<&mpsc::UnboundedSender<ControllerEvent>>,
    request: &ParsedRequest,
) -> Response {
    let body: AlterPartitionReassignmentsRequest = match super::decode(request) {
        Ok(body) => body,
        Err(close) => return close,
    };
    let response = super::ask_controller(controller, |reply| {
        ControllerEvent::AlterPartitionReassignments {
            request: body,
            reply,
        }
    })
    .await
    .unwrap_or_else(failed);
    super::send(request, &response)
}
