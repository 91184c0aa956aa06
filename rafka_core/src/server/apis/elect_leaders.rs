//! ElectLeaders (key 43, v0–2): an admin client asks the active controller for preferred
//! (or unclean) leader elections (Kafka's `KafkaApis.handleElectLeaders` in ZK mode). The
//! request goes to the controller task as an event and its answer comes back as the response;
//! the checks and elections are the controller's ([`crate::controller::preferred_election`]).
//! Without a controller task, or when it is gone, every partition answers NOT_CONTROLLER.

use std::collections::BTreeMap;

use kafka_protocol::messages::{ElectLeadersRequest, ElectLeadersResponse};
use tokio::sync::mpsc;

use crate::controller::preferred_election::election_response;
use crate::controller::ControllerEvent;
use crate::network::Response;
use crate::protocol::ParsedRequest;

/// Every requested partition with `code` (the top-level error too when all were asked for).
fn all_failed(body: &ElectLeadersRequest, code: i16, version: i16) -> ElectLeadersResponse {
    let mut results = BTreeMap::new();
    for tp in body.topic_partitions.iter().flatten() {
        for p in &tp.partitions {
            results.insert((tp.topic.0.to_string(), *p), (code, None));
        }
    }
    let top = if body.topic_partitions.is_none() {
        code
    } else {
        0
    };
    election_response(results, top, version)
}

/// Answers one ElectLeaders request.
pub async fn handle(
    controller: Option<&mpsc::UnboundedSender<ControllerEvent>>,
    request: &ParsedRequest,
) -> Response {
    let body: ElectLeadersRequest = match super::decode(request) {
        Ok(body) => body,
        Err(close) => return close,
    };
    let version = request.api_version();
    let response = super::ask_controller(controller, |reply| ControllerEvent::ElectLeaders {
        request: body.clone(),
        version,
        reply,
    })
    .await
    .unwrap_or_else(|e| all_failed(&body, e.code(), version));
    super::send(request, &response)
}
