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

use tokio::sync::mpsc;

use crate::config::KafkaConfig;
use crate::controller::ControllerEvent;
use crate::coordinator::group::GroupCoordinatorHandle;
use crate::network::{Request, RequestHandler, Response, ResponseFuture};
use crate::protocol::ApiKey;

use super::admin_manager::AdminManager;
use super::apis;
use super::fetch_session::FetchSessionCache;
use super::metadata_cache::MetadataCache;
use super::producer_id_manager::ProducerIdManager;
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
    fetch_sessions: Arc<FetchSessionCache>,
    producer_id_manager: Option<Arc<ProducerIdManager>>,
    group_coordinator: Option<GroupCoordinatorHandle>,
    controller: Option<mpsc::UnboundedSender<ControllerEvent>>,
}

impl KafkaApis {
    /// Handlers over an empty metadata cache with no broker epoch (−1) and no cluster id
    /// (tests and tools; the server uses [`KafkaApis::with_metadata_cache`]).
    pub fn new(context: ApisContext) -> KafkaApis {
        let cache = Arc::new(MetadataCache::fixed(context.broker_id, -1, None));
        KafkaApis::with_metadata_cache(context, cache)
    }

    pub fn with_metadata_cache(context: ApisContext, metadata_cache: Arc<MetadataCache>) -> Self {
        let slots = context
            .config
            .get_int("max.incremental.fetch.session.cache.slots")
            .unwrap_or(1000)
            .max(0) as usize;
        KafkaApis {
            context: Arc::new(context),
            metadata_cache,
            replica_manager: None,
            admin_manager: None,
            fetch_sessions: Arc::new(FetchSessionCache::new(slots)),
            producer_id_manager: None,
            group_coordinator: None,
            controller: None,
        }
    }

    /// Adds the group coordinator (FindCoordinator, JoinGroup, …, OffsetDelete). Without one,
    /// the group APIs answer COORDINATOR_NOT_AVAILABLE.
    pub fn with_group_coordinator(mut self, coordinator: GroupCoordinatorHandle) -> Self {
        self.group_coordinator = Some(coordinator);
        self
    }

    /// Adds the controller task's event queue (AlterPartition, ControlledShutdown). Without
    /// one, those answer NOT_CONTROLLER / STALE_CONTROLLER_EPOCH.
    pub fn with_controller(mut self, controller: mpsc::UnboundedSender<ControllerEvent>) -> Self {
        self.controller = Some(controller);
        self
    }

    /// Adds the producer id manager InitProducerId hands ids from (without one,
    /// InitProducerId answers COORDINATOR_NOT_AVAILABLE).
    pub fn with_producer_id_manager(mut self, manager: Arc<ProducerIdManager>) -> Self {
        self.producer_id_manager = Some(manager);
        self
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
    pub async fn handle_request(this: KafkaApis, request: Request) -> Response {
        let KafkaApis {
            context,
            metadata_cache,
            replica_manager,
            admin_manager,
            fetch_sessions,
            producer_id_manager,
            group_coordinator,
            controller,
            ..
        } = this;
        let coordinator = group_coordinator.as_ref();
        let parsed = &request.parsed;
        match parsed.api_key() {
            ApiKey::ApiVersions => apis::api_versions::handle(&context, parsed),
            ApiKey::Fetch => {
                apis::fetch::handle(
                    &context.config,
                    &metadata_cache,
                    replica_manager.as_deref(),
                    &fetch_sessions,
                    parsed,
                )
                .await
            }
            ApiKey::ListOffsets => {
                apis::list_offsets::handle(&metadata_cache, replica_manager.as_deref(), parsed)
            }
            ApiKey::OffsetForLeaderEpoch => apis::offset_for_leader_epoch::handle(
                &metadata_cache,
                replica_manager.as_deref(),
                parsed,
            ),
            ApiKey::DeleteRecords => {
                apis::delete_records::handle(&metadata_cache, replica_manager.as_deref(), parsed)
            }
            ApiKey::InitProducerId => {
                apis::init_producer_id::handle(producer_id_manager.as_deref(), parsed).await
            }
            ApiKey::DescribeLogDirs => {
                apis::describe_log_dirs::handle(replica_manager.as_deref(), parsed)
            }
            ApiKey::Produce => {
                apis::produce::handle(&metadata_cache, replica_manager.as_deref(), parsed).await
            }
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
            ApiKey::DeleteTopics => {
                apis::delete_topics::handle(admin_manager.as_deref(), parsed).await
            }
            ApiKey::CreatePartitions => {
                apis::create_partitions::handle(admin_manager.as_deref(), parsed).await
            }
            ApiKey::DescribeConfigs => {
                apis::describe_configs::handle(
                    &context,
                    &metadata_cache,
                    admin_manager.as_deref(),
                    parsed,
                )
                .await
            }
            ApiKey::AlterConfigs => {
                apis::alter_configs::handle(&context, admin_manager.as_deref(), parsed).await
            }
            ApiKey::IncrementalAlterConfigs => {
                apis::incremental_alter_configs::handle(&context, admin_manager.as_deref(), parsed)
                    .await
            }
            ApiKey::DescribeCluster => {
                apis::describe_cluster::handle(&metadata_cache, &request.connection, parsed)
            }
            ApiKey::StopReplica => {
                apis::stop_replica::handle(&metadata_cache, replica_manager.as_deref(), parsed)
                    .await
            }
            ApiKey::LeaderAndIsr => {
                apis::leader_and_isr::handle(&metadata_cache, replica_manager.as_deref(), parsed)
                    .await
            }
            ApiKey::FindCoordinator => {
                apis::find_coordinator::handle(
                    &context,
                    &metadata_cache,
                    admin_manager.as_deref(),
                    coordinator,
                    &request.connection,
                    parsed,
                )
                .await
            }
            ApiKey::JoinGroup => {
                apis::join_group::handle(coordinator, &request.connection, parsed).await
            }
            ApiKey::SyncGroup => apis::sync_group::handle(coordinator, parsed).await,
            ApiKey::Heartbeat => apis::heartbeat::handle(coordinator, parsed).await,
            ApiKey::LeaveGroup => apis::leave_group::handle(coordinator, parsed).await,
            ApiKey::OffsetCommit => {
                apis::offset_commit::handle(&metadata_cache, coordinator, parsed).await
            }
            ApiKey::OffsetFetch => apis::offset_fetch::handle(coordinator, parsed).await,
            ApiKey::ListGroups => apis::list_groups::handle(coordinator, parsed).await,
            ApiKey::DescribeGroups => apis::describe_groups::handle(coordinator, parsed).await,
            ApiKey::DeleteGroups => apis::delete_groups::handle(coordinator, parsed).await,
            ApiKey::OffsetDelete => {
                apis::offset_delete::handle(&metadata_cache, coordinator, parsed).await
            }
            ApiKey::AlterPartition => {
                apis::alter_partition::handle(controller.as_ref(), parsed).await
            }
            ApiKey::ElectLeaders => apis::elect_leaders::handle(controller.as_ref(), parsed).await,
            ApiKey::AlterPartitionReassignments => {
                apis::partition_reassignments::handle_alter(controller.as_ref(), parsed).await
            }
            ApiKey::ListPartitionReassignments => {
                apis::partition_reassignments::handle_list(controller.as_ref(), parsed).await
            }
            ApiKey::ControlledShutdown => {
                apis::controlled_shutdown::handle(controller.as_ref(), parsed).await
            }
            ApiKey::UpdateMetadata => {
                apis::update_metadata::handle(&context, &metadata_cache, coordinator, parsed)
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
        Box::pin(Self::handle_request(self.clone(), request))
    }
}
