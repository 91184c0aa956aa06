//! ControlledShutdown (key 7, v0–3): a broker about to stop asks the active controller to
//! move its leadership away (Kafka's `KafkaApis.handleControlledShutdownRequest`). The
//! request becomes a controller event ([`crate::controller::controlled_shutdown`]); the
//! answer lists the partitions the broker still leads, or carries the controller's error
//! (STALE_CONTROLLER_EPOCH when this broker is not the controller, as Kafka's
//! `ControllerMovedException` maps).

use kafka_protocol::messages::controlled_shutdown_response::RemainingPartition;
use kafka_protocol::messages::{ControlledShutdownRequest, ControlledShutdownResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;
use tokio::sync::mpsc;

use crate::controller::ControllerEvent;
use crate::network::Response;
use crate::protocol::ParsedRequest;

/// Answers one ControlledShutdown request.
pub async fn handle(
    controller: Option<&mpsc::UnboundedSender<ControllerEvent>>,
    request: &ParsedRequest,
) -> Response {
    let body: ControlledShutdownRequest = match super::decode(request) {
        Ok(body) => body,
        Err(close) => return close,
    };
    // v0–1 carry no broker epoch: Kafka's UNKNOWN_BROKER_EPOCH.
    let broker_epoch = if request.api_version() >= 2 {
        body.broker_epoch
    } else {
        -1
    };
    let result = super::ask_controller(controller, |reply| ControllerEvent::ControlledShutdown {
        broker_id: body.broker_id.0,
        broker_epoch,
        reply,
    })
    .await
    .unwrap_or_else(|e| match e {
        ResponseError::RequestTimedOut => Err(e.code()),
        // No (active) controller task here: what Kafka answers then.
        _ => Err(ResponseError::StaleControllerEpoch.code()),
    });
    let response = match result {
        Ok(remaining) => ControlledShutdownResponse::default().with_remaining_partitions(
            remaining
                .into_iter()
                .map(|(t, p)| {
                    RemainingPartition::default()
                        .with_topic_name(TopicName(StrBytes::from_string(t)))
                        .with_partition_index(p)
                })
                .collect(),
        ),
        Err(code) => ControlledShutdownResponse::default().with_error_code(code),
    };
    super::send(request, &response)
}
