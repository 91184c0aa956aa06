//! AlterPartition (key 56, v0–3): a partition leader asks the active controller to commit a
//! new ISR (Kafka's `KafkaApis.handleAlterPartitionRequest` in ZK mode). The request goes to
//! the controller task as an event and its answer comes back as the response; the checks and
//! the state znode write are the controller's ([`crate::controller::alter_partition`]).
//! Without a controller task, or when it is gone, the answer is NOT_CONTROLLER.

use std::time::Duration;

use kafka_protocol::messages::AlterPartitionRequest;
use kafka_protocol::ResponseError;
use tokio::sync::{mpsc, oneshot};

use crate::controller::alter_partition::top_level_error;
use crate::controller::ControllerEvent;
use crate::network::Response;
use crate::protocol::ParsedRequest;

/// How long a request waits for the controller (it processes one event at a time).
const CONTROLLER_WAIT: Duration = Duration::from_secs(60);

/// Answers one AlterPartition request.
pub async fn handle(
    controller: Option<&mpsc::UnboundedSender<ControllerEvent>>,
    request: &ParsedRequest,
) -> Response {
    let body: AlterPartitionRequest = match super::decode(request) {
        Ok(body) => body,
        Err(close) => return close,
    };
    let version = request.api_version();
    let not_controller = || top_level_error(ResponseError::NotController.code());
    let response = match controller {
        None => not_controller(),
        Some(tx) => {
            let (reply, answer) = oneshot::channel();
            let event = ControllerEvent::AlterPartition {
                request: body,
                version,
                reply,
            };
            if tx.send(event).is_err() {
                not_controller()
            } else {
                match tokio::time::timeout(CONTROLLER_WAIT, answer).await {
                    Ok(Ok(r)) => r,
                    Ok(Err(_)) => not_controller(),
                    Err(_) => top_level_error(ResponseError::RequestTimedOut.code()),
                }
            }
        }
    };
    super::send(request, &response)
}
