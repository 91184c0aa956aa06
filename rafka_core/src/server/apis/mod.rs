//! One handler per Kafka API, each in its own file; `KafkaApis` dispatches to them by key.
//! A handler decodes its body from the [`crate::protocol::ParsedRequest`], does the work and
//! returns a [`crate::network::Response`].

pub mod alter_configs;
pub mod alter_partition;
pub mod api_versions;
pub mod controlled_shutdown;
pub mod create_partitions;
pub mod create_topics;
pub mod delete_groups;
pub mod delete_records;
pub mod delete_topics;
pub mod describe_cluster;
pub mod describe_configs;
pub mod describe_groups;
pub mod describe_log_dirs;
pub mod elect_leaders;
pub mod fetch;
pub mod find_coordinator;
pub mod group_common;
pub mod heartbeat;
pub mod incremental_alter_configs;
pub mod init_producer_id;
pub mod join_group;
pub mod leader_and_isr;
pub mod leave_group;
pub mod list_groups;
pub mod list_offsets;
pub mod metadata;
pub mod offset_commit;
pub mod offset_delete;
pub mod offset_fetch;
pub mod offset_for_leader_epoch;
pub mod partition_reassignments;
pub mod produce;
pub mod stop_replica;
pub mod sync_group;
pub mod update_metadata;

use std::time::Duration;

use kafka_protocol::protocol::{Decodable, Encodable};
use kafka_protocol::ResponseError;
use tokio::sync::{mpsc, oneshot};

use crate::controller::ControllerEvent;
use crate::network::Response;
use crate::protocol::ParsedRequest;

/// How long a request waits for the controller task (it handles one event at a time, and an
/// election writes one znode per partition).
pub const CONTROLLER_WAIT: Duration = Duration::from_secs(60);

/// Posts the event `event` builds around the reply sender to the controller task and waits
/// for the answer. NOT_CONTROLLER without a controller task or when it drops the request
/// (it stopped, or resigned), REQUEST_TIMED_OUT after [`CONTROLLER_WAIT`].
pub async fn ask_controller<T>(
    controller: Option<&mpsc::UnboundedSender<ControllerEvent>>,
    event: impl FnOnce(oneshot::Sender<T>) -> ControllerEvent,
) -> Result<T, ResponseError> {
    let tx = controller.ok_or(ResponseError::NotController)?;
    let (reply, answer) = oneshot::channel();
    tx.send(event(reply))
        .map_err(|_| ResponseError::NotController)?;
    match tokio::time::timeout(CONTROLLER_WAIT, answer).await {
        Ok(Ok(r)) => Ok(r),
        Ok(Err(_)) => Err(ResponseError::NotController),
        Err(_) => Err(ResponseError::RequestTimedOut),
    }
}

/// Decodes a request body; an undecodable one closes the connection (Kafka cannot answer a
/// request it cannot parse).
pub fn decode<T: Decodable>(request: &ParsedRequest) -> Result<T, Response> {
    request.decode_body().map_err(|e| {
        tracing::debug!("{e}");
        Response::CloseConnection
    })
}

/// Encodes the answer to `request`; a body the negotiated version cannot carry is a broker
/// bug, logged, and the connection is closed.
pub fn send<T: Encodable>(request: &ParsedRequest, body: &T) -> Response {
    match request.encode_response(body) {
        Ok(payload) => Response::Send(payload),
        Err(e) => {
            tracing::error!("{e}");
            Response::CloseConnection
        }
    }
}
