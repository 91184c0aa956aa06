//! `KafkaApis`: routes each admitted request to its API's handler (Kafka's `KafkaApis.handle`).
//!
//! Only APIs in `protocol::SUPPORTED_VERSIONS` ever reach this point (the parser closes the
//! connection for anything else, as Kafka does for a key it cannot parse), so every entry of
//! that table needs an arm here; a missing arm closes the connection and logs the bug.
//!
//! Handlers get an [`ApisContext`] holding what they share (broker id, config, and later the
//! metadata cache, replica manager, coordinators…).

use std::sync::Arc;

use crate::config::KafkaConfig;
use crate::network::{Request, RequestHandler, Response, ResponseFuture};
use crate::protocol::ApiKey;

use super::apis;

/// What request handlers share.
#[derive(Debug, Clone)]
pub struct ApisContext {
    pub broker_id: i32,
    pub config: Arc<KafkaConfig>,
}

/// The request handler the socket server hands every request to.
#[derive(Debug, Clone)]
pub struct KafkaApis {
    context: Arc<ApisContext>,
}

impl KafkaApis {
    pub fn new(context: ApisContext) -> KafkaApis {
        KafkaApis {
            context: Arc::new(context),
        }
    }

    pub fn context(&self) -> &Arc<ApisContext> {
        &self.context
    }

    /// Handles one request to completion.
    pub async fn handle_request(context: Arc<ApisContext>, request: Request) -> Response {
        let parsed = &request.parsed;
        match parsed.api_key() {
            ApiKey::ApiVersions => apis::api_versions::handle(&context, parsed),
            other => {
                tracing::error!(
                    "no handler for advertised api {other:?} (correlation id {}); closing {}",
                    parsed.correlation_id(),
                    request.connection.connection_id
                );
                Response::CloseConnection
            }
        }
    }
}

impl RequestHandler for KafkaApis {
    fn handle(&self, request: Request) -> ResponseFuture {
        Box::pin(Self::handle_request(Arc::clone(&self.context), request))
    }
}
