//! AlterPartitionReassignments (key 45, v0) and ListPartitionReassignments (key 46, v0): an
//! admin client asks the active controller to move partitions to new replicas or cancel a move
//! (null replicas), and to list the moves in progress (Kafka's
//! `handleAlterPartitionReassignmentsRequest` / `handleListPartitionReassignmentsRequest` in
//! ZK mode). Both go to the controller task as events ([`crate::controller::reassignment`]);
//! without an active controller here the answer is a top-level NOT_CONTROLLER, so the client
//! retries against the controller that Metadata names.

use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse,
    ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;
use tokio::sync::mpsc;

use crate::controller::ControllerEvent;
use crate::network::Response;
use crate::protocol::ParsedRequest;

/// The top-level message when the controller cannot answer.
fn failure_message(error: ResponseError) -> Option<StrBytes> {
    Some(StrBytes::from_static_str(match error {
        ResponseError::RequestTimedOut => "The controller did not answer in time.",
        _ => "This is not the correct controller for this cluster.",
    }))
}

/// Answers one AlterPartitionReassignments request.
pub async fn handle_alter(
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
    .unwrap_or_else(|e| {
        AlterPartitionReassignmentsResponse::default()
            .with_error_code(e.code())
            .with_error_message(failure_message(e))
    });
    super::send(request, &response)
}

/// Answers one ListPartitionReassignments request.
pub async fn handle_list(
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
    .unwrap_or_else(|e| {
        ListPartitionReassignmentsResponse::default()
            .with_error_code(e.code())
            .with_error_message(failure_message(e))
    });
    super::send(request, &response)
}
