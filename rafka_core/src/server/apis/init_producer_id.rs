//! InitProducerId (key 22, v0–5): producer ids for idempotent producers (Kafka's
//! `KafkaApis.handleInitProducerIdRequest` + `TransactionCoordinator.handleInitProducerId`).
//!
//! - A producer id without an epoch or the reverse (v3+ fields) → INVALID_REQUEST.
//! - No transactional id: a fresh id from the [`ProducerIdManager`] with epoch 0, whatever
//!   producer id/epoch the request carries (Kafka "blindly accepts" these and never bumps an
//!   idempotent producer's epoch here). If no block can be claimed for now (ZooKeeper
//!   unreachable, lost races) → COORDINATOR_LOAD_IN_PROGRESS, which clients retry — what
//!   Kafka 3.9's ZK-mode broker answers while it waits for a block; ids exhausted or an
//!   unreadable `/latest_producer_id_block` → UNKNOWN_SERVER_ERROR.
//! - An empty transactional id → INVALID_REQUEST, as Kafka.
//! - Any other transactional id → INVALID_REQUEST too: this broker has no transaction
//!   coordinator. Kafka's answers for an unusable coordinator (COORDINATOR_NOT_AVAILABLE,
//!   NOT_COORDINATOR) are retriable and leave the client waiting until its timeout; the
//!   authorization errors would misreport the cause. INVALID_REQUEST is fatal for
//!   InitProducerId in the Java client and librdkafka, and its standard message points at "an
//!   incompatible broker; see the broker logs", where a line says transactions are not
//!   supported.
//! - Without a manager (tools and tests) → COORDINATOR_NOT_AVAILABLE.
//!
//! Errors carry producer id −1 and epoch −1, as Kafka's.

use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};
use tracing::{debug, warn};

use crate::network::Response;
use crate::protocol::{ParsedRequest, ResponseError};
use crate::server::producer_id_manager::ProducerIdManager;

const NO_PRODUCER_ID: i64 = -1;
const NO_PRODUCER_EPOCH: i16 = -1;

/// Answers one InitProducerId request.
pub async fn handle(manager: Option<&ProducerIdManager>, request: &ParsedRequest) -> Response {
    let body: InitProducerIdRequest = match super::decode(request) {
        Ok(body) => body,
        Err(close) => return close,
    };
    let response = respond(manager, &body, request.client_id()).await;
    super::send(request, &response)
}

fn error_response(error: ResponseError) -> InitProducerIdResponse {
    InitProducerIdResponse::default()
        .with_throttle_time_ms(0)
        .with_error_code(error.code())
        .with_producer_id(ProducerId(NO_PRODUCER_ID))
        .with_producer_epoch(NO_PRODUCER_EPOCH)
}

/// The response to `body` (the same at every version: v0–5 share their fields).
pub async fn respond(
    manager: Option<&ProducerIdManager>,
    body: &InitProducerIdRequest,
    client_id: Option<&str>,
) -> InitProducerIdResponse {
    let pid = body.producer_id.0;
    let epoch = body.producer_epoch;
    if (pid == NO_PRODUCER_ID) != (epoch == NO_PRODUCER_EPOCH) {
        return error_response(ResponseError::InvalidRequest);
    }
    if let Some(transactional_id) = &body.transactional_id {
        if !transactional_id.is_empty() {
            warn!(
                transactional_id = %transactional_id.0,
                client_id = client_id.unwrap_or(""),
                "InitProducerId for a transactional producer refused: this broker does not \
                 support transactions (answering INVALID_REQUEST)"
            );
        }
        return error_response(ResponseError::InvalidRequest);
    }
    let Some(manager) = manager else {
        return error_response(ResponseError::CoordinatorNotAvailable);
    };
    match manager.generate_producer_id().await {
        Ok(id) => {
            debug!(
                producer_id = id,
                client_id = client_id.unwrap_or(""),
                "allocated a producer id"
            );
            InitProducerIdResponse::default()
                .with_throttle_time_ms(0)
                .with_error_code(0)
                .with_producer_id(ProducerId(id))
                .with_producer_epoch(0)
        }
        Err(e) if e.is_retriable() => {
            warn!(error = %e, "no producer id available yet");
            error_response(ResponseError::CoordinatorLoadInProgress)
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot allocate producer ids");
            error_response(ResponseError::UnknownServerError)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::TransactionalId;
    use kafka_protocol::protocol::StrBytes;

    fn request(txn: Option<&str>, pid: i64, epoch: i16) -> InitProducerIdRequest {
        InitProducerIdRequest::default()
            .with_transactional_id(txn.map(|t| TransactionalId(StrBytes::from_string(t.into()))))
            .with_transaction_timeout_ms(60_000)
            .with_producer_id(ProducerId(pid))
            .with_producer_epoch(epoch)
    }

    fn code(r: &InitProducerIdResponse) -> (i16, i64, i16) {
        (r.error_code, r.producer_id.0, r.producer_epoch)
    }

    #[tokio::test]
    async fn request_errors_without_touching_the_manager() {
        let invalid = ResponseError::InvalidRequest.code();
        for (txn, pid, epoch) in [
            (None, 5, -1),
            (None, -1, 3),
            (Some(""), -1, -1),
            (Some("my-txn"), -1, -1),
        ] {
            let r = respond(None, &request(txn, pid, epoch), Some("c")).await;
            assert_eq!(code(&r), (invalid, -1, -1), "{txn:?} {pid} {epoch}");
        }
        let r = respond(None, &request(None, -1, -1), None).await;
        assert_eq!(
            code(&r),
            (ResponseError::CoordinatorNotAvailable.code(), -1, -1)
        );
        assert_eq!(r.throttle_time_ms, 0);
    }

    #[test]
    fn codes_are_kafkas() {
        assert_eq!(ResponseError::InvalidRequest.code(), 42);
        assert_eq!(ResponseError::CoordinatorLoadInProgress.code(), 14);
        assert_eq!(ResponseError::CoordinatorNotAvailable.code(), 15);
    }
}
