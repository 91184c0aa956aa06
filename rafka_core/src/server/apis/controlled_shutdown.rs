//! ControlledShutdown (key 7, v0–3): a broker about to stop asks the active controller to
//! move its leadership away (Kafka's `KafkaApis.handleControlledShutdownRequest`). The
//! request becomes a controller event ([`crate::controller::controlled_shutdown`]); the
//! answer lists the partitions the broker still leads, or carries the controller's error
//! (STALE_CONTROLLER_EPOCH when this broker is not the controller, as Kafka's
//! `ControllerMovedException` maps).

use std::time::Duration;

use kafka_protocol::messages::controlled_shutdown_response::RemainingPartition;
use kafka_protocol::messages::{ControlledShutdownRequest, ControlledShutdownResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;
use tokio::sync::{mpsc, oneshot};

use crate::controller::ControllerEvent;
use crate::network::Response;
use crate::protocol::ParsedRequest;

/// How long a request waits for the controller (elections write one znode per partition).
const CONTROLLER_WAIT: Duration = Duration::from_secs(60);

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
    let result = match controller {
        None => Err(ResponseError::StaleControllerEpoch.code()),
        Some(tx) => {
            let (reply, answer) = oneshot::channel();
            let event = ControllerEvent::ControlledShutdown {
                broker_id: body.broker_id.0,
                broker_epoch,
                reply,
            };
            if tx.send(event).is_err() {
                Err(ResponseError::StaleControllerEpoch.code())
            } else {
                match tokio::time::timeout(CONTROLLER_WAIT, answer).await {
                    Ok(Ok(r)) => r,
                    Ok(Err(_)) => Err(ResponseError::StaleControllerEpoch.code()),
                    Err(_) => Err(ResponseError::RequestTimedOut.code()),
                }
            }
        }
    };
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
