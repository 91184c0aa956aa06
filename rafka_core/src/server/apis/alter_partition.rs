//! AlterPartition (key 56, v0–3): a partition leader asks the active controller to commit a
//! new ISR (Kafka's `KafkaApis.handleAlterPartitionRequest` in ZK mode). The request goes to
//! the controller task as an event and its answer comes back as the response; the checks and
//! the state znode write are the controller's ([`crate::controller::alter_partition`]).
//! Without a controller task, or when it is gone, the answer is NOT_CONTROLLER.

use kafka_protocol::messages::AlterPartitionRequest;
use tokio::sync::mpsc;

use crate::controller::alter_partition::top_level_error;
use crate::controller::ControllerEvent;
use crate::network::Response;
use crate::protocol::ParsedRequest;

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
    let response = super::ask_controller(controller, |reply| ControllerEvent::AlterPartition {
        request: body,
        version,
        reply,
    })
    .await
    .unwrap_or_else(|e| top_level_error(e.code()));
    super::send(request, &response)
}
