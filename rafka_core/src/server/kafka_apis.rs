//! `KafkaApis`: routes each admitted request to its API's handler (Kafka's `KafkaApis.handle`).
//!
//! Only APIs in `protocol::SUPPORTED_VERSIONS` ever reach this point (the parser closes the
//! connection for anything else, as Kafka does for a key it cannot parse), so every entry of
//! that table needs an arm here; a missing arm closes the connection and logs the bug.
//!
//! Handlers get an [`ApisContext`] holding what they share (broker id, config, and later the
//! replica manager, coordinators…) and the [`MetadataCache`] that UpdateMetadata fills and
//! Metadata reads.

use std::sync::Arc;

use crate::config::KafkaConfig;
use crate::network::{Request, RequestHandler, Response, ResponseFuture};
use crate::protocol::ApiKey;

use super::admin_manager::AdminManager;
use super::apis;
use super::metadata_cache::MetadataCache;
use super::replica_manager::ReplicaManager;

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
    metadata_cache: Arc<MetadataCache>,
    replica_manager: Option<Arc<ReplicaManager>>,
    admin_manager: Option<Arc<AdminManager>>,
}

impl KafkaApis {
    /// Handlers over an empty metadata cache with no broker epoch (−1) and no cluster id
    /// (tests and tools; the server uses [`KafkaApis::with_metadata_cache`]).
    pub fn new(context: ApisContext) -> KafkaApis {
        let cache = Arc::new(MetadataCache::fixed(context.broker_id, -1, None));
        KafkaApis::with_metadata_cache(context, cache)
    }

    pub fn with_metadata_cache(context: ApisContext, metadata_cache: Arc<MetadataCache>) -> Self {
        KafkaApis {
            context: Arc::new(context),
            metadata_cache,
            replica_manager: None,
            admin_manager: None,
        }
    }

    /// Adds the admin manager (CreateTopics, Metadata auto-creation). Without one,
    /// CreateTopics answers NOT_CONTROLLER and Metadata never auto-creates.
    pub fn with_admin_manager(mut self, admin_manager: Arc<AdminManager>) -> Self {
        self.admin_manager = Some(admin_manager);
        self
    }

    /// Adds the replica manager that LeaderAndIsr feeds (without one, LeaderAndIsr answers
    /// UNKNOWN_SERVER_ERROR).
    pub fn with_replica_manager(mut self, replica_manager: Arc<ReplicaManager>) -> Self {
        self.replica_manager = Some(replica_manager);
        self
    }

    pub fn context(&self) -> &Arc<ApisContext> {
        &self.context
    }

    pub fn metadata_cache(&self) -> &Arc<MetadataCache> {
        &self.metadata_cache
    }

    /// Handles one request to completion.
    pub async fn handle_request(
        context: Arc<ApisContext>,
        metadata_cache: Arc<MetadataCache>,
        replica_manager: Option<Arc<ReplicaManager>>,
        admin_manager: Option<Arc<AdminManager>>,
        request: Request,
    ) -> Response {
        let parsed = &request.parsed;
        match parsed.api_key() {
            ApiKey::ApiVersions => apis::api_versions::handle(&context, parsed),
            ApiKey::Metadata => {
                apis::metadata::handle(
                    &context,
                    &metadata_cache,
                    admin_manager.as_deref(),
                    &request.connection,
                    parsed,
                )
                .await
            }
            ApiKey::CreateTopics => {
                apis::create_topics::handle(admin_manager.as_deref(), parsed).await
            }
            ApiKey::LeaderAndIsr => {
                apis::leader_and_isr::handle(&metadata_cache, replica_manager.as_deref(), parsed)
                    .await
            }
            ApiKey::UpdateMetadata => {
                apis::update_metadata::handle(&context, &metadata_cache, parsed)
            }
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
        Box::pin(Self::handle_request(
            Arc::clone(&self.context),
            Arc::clone(&self.metadata_cache),
            self.replica_manager.clone(),
            self.admin_manager.clone(),
            request,
        ))
    }
}
