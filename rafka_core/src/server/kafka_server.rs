//! `KafkaServer`: the broker's startup and shutdown sequence, in Apache Kafka's ZooKeeper-mode
//! order (spec: startup-and-controller.md §1–2). It gathers the broker's identity from
//! ZooKeeper and the log dirs, registers the broker, then hands broker state to Majordomo and
//! starts the controller and the dynamic config manager as tasks.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tracing::{error, info, warn};

use super::broker_state::BrokerState;
use super::dynamic_config_manager::{ConfigManagerEvent, DynamicConfigManager};
use super::meta_properties::{self, MetaProperties, MetaPropertiesError};
use crate::cluster::EndPoint;
use crate::config::KafkaConfig;
use crate::controller::{ControllerEvent, KafkaController};
use crate::coordinator::group::{self as group_coordinator, GroupCoordinatorHandle, OffsetConfig};
use crate::log::log_manager::{LogManager, LogManagerError, LogManagerHandle};
use crate::majordomo::{
    load_features, Majordomo, MajordomoHandle, MajordomoInit, MajordomoMessage, MajordomoRoutes,
};
use crate::network::{SocketServer, SocketServerConfig, SocketServerError};
use crate::server::admin_manager::AdminManager;
use crate::server::alter_partition_manager::{self, IsrMaintenanceConfig};
use crate::server::controlled_shutdown::{self, ControlledShutdownConfig};
use crate::server::kafka_apis::{ApisContext, KafkaApis};
use crate::server::metadata_cache::MetadataCache;
use crate::server::producer_id_manager::ProducerIdManager;
use crate::server::replica_fetcher::FetcherConfig;
use crate::server::replica_manager::{ReplicaManager, TopicConfigSource};
use crate::zk::connect_string::{ZkConnectString, ZkConnectStringError};
use crate::zk::kafka_zk_client::{now_ms, KafkaZkClient, KafkaZkError};
use crate::zk::zk_data::{self as data, BrokerInfo, ConfigType};
use crate::zk::zookeeper_client::{ZkClientSettings, ZooKeeperClient};
use crate::zk::ZkError;

/// Why the broker could not start. Each message names what to fix.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    ZkConnectString(#[from] ZkConnectStringError),
    #[error("ZooKeeper: {0}")]
    Zk(#[from] KafkaZkError),
    #[error(transparent)]
    MetaProperties(#[from] MetaPropertiesError),
    #[error("log dir {path} is not usable: {source}")]
    LogDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("broker.id: {0}")]
    BrokerId(String),
    #[error("{0}")]
    Listeners(String),
    #[error("log manager: {0}")]
    LogManager(#[from] LogManagerError),
    #[error("socket server: {0}")]
    SocketServer(#[from] SocketServerError),
}

impl From<ZkError> for StartupError {
    fn from(e: ZkError) -> Self {
        StartupError::Zk(KafkaZkError::Zk(e))
    }
}

/// What steps 2–7 gathered, handed to the steps after the log manager started.
struct StartupState {
    log_dirs: Vec<PathBuf>,
    broker_id: i32,
    cluster_id: String,
    features: crate::majordomo::FinalizedFeatures,
    dynamic_default: BTreeMap<String, String>,
    dynamic_broker: BTreeMap<String, String>,
    topic_overrides: BTreeMap<String, BTreeMap<String, String>>,
    effective: KafkaConfig,
}

/// A running broker.
pub struct KafkaServer {
    broker_id: i32,
    zk: KafkaZkClient,
    majordomo: MajordomoHandle,
    log_manager: LogManagerHandle,
    replica_manager: Arc<ReplicaManager>,
    group_coordinator: GroupCoordinatorHandle,
    socket_server: SocketServer,
    controller_tx: mpsc::UnboundedSender<ControllerEvent>,
    controlled_shutdown: ControlledShutdownConfig,
    config_manager_tx: mpsc::UnboundedSender<ConfigManagerEvent>,
    tasks: Vec<JoinHandle<()>>,
}

impl KafkaServer {
    /// Runs Kafka's startup sequence. On failure everything opened so far is closed.
    pub async fn startup(config: KafkaConfig) -> Result<KafkaServer, StartupError> {
        let config = Arc::new(config);
        info!(state = %BrokerState::Starting, "starting");
        let connect = ZkConnectString::parse(config.zookeeper_connect())?;
        let (zk_events_tx, zk_events_rx) = mpsc::unbounded_channel();
        let settings = ZkClientSettings {
            connect,
            session_timeout: config.zookeeper_session_timeout(),
            connection_timeout: config.zookeeper_connection_timeout(),
        };
        let (zk_client, zk_task) = ZooKeeperClient::start(settings, zk_events_tx)
            .await
            .map_err(KafkaZkError::Zk)?;
        let zk = KafkaZkClient::new(zk_client);
        match Self::start_with_session(config, zk.clone(), zk_events_rx, zk_task).await {
            Ok(server) => Ok(server),
            Err(e) => {
                zk.zk().close().await;
                Err(e)
            }
        }
    }

    async fn start_with_session(
        config: Arc<KafkaConfig>,
        zk: KafkaZkClient,
        zk_events: mpsc::UnboundedReceiver<crate::zk::ZkEvent>,
        zk_task: JoinHandle<()>,
    ) -> Result<KafkaServer, StartupError> {
        // 2. persistent paths; 3. feature cache; 4. cluster id.
        zk.create_top_level_paths().await?;
        let features = load_features(&zk).await?;
        let cluster_id = zk
            .get_or_create_cluster_id(&data::generate_cluster_id())
            .await?;
        info!(%cluster_id, "cluster id");

        // 5. meta.properties of every log dir.
        let log_dirs = config.log_dirs();
        for dir in &log_dirs {
            std::fs::create_dir_all(dir).map_err(|source| StartupError::LogDir {
                path: dir.clone(),
                source,
            })?;
        }
        let found = meta_properties::read_all(&log_dirs)?;
        meta_properties::check_cluster_id(&found, &cluster_id)?;

        // 6. broker id.
        let broker_id = Self::resolve_broker_id(&config, &zk, &found).await?;

        // 7. dynamic broker config, then topic overrides (read by the log layer at startup).
        let dynamic_default = zk
            .get_entity_config(ConfigType::Broker, data::DEFAULT_ENTITY)
            .await?;
        let dynamic_broker = zk
            .get_entity_config(ConfigType::Broker, &broker_id.to_string())
            .await?;
        let (effective, rejected) = config.with_dynamic(&dynamic_default, &dynamic_broker);
        for r in &rejected {
            warn!(rejection = %r, "dynamic broker config not applied");
        }
        let mut topic_overrides = BTreeMap::new();
        for topic in zk.get_all_entities(ConfigType::Topic).await? {
            let overrides = zk.get_entity_config(ConfigType::Topic, &topic).await?;
            if !overrides.is_empty() {
                topic_overrides.insert(topic, overrides);
            }
        }

        // 9. log manager: lock every log dir, load and (after an unclean stop) recover every
        // partition, start retention/flush/checkpoint jobs. Majordomo (which publishes the
        // broker state) starts after registration, so RECOVERY is only logged here.
        info!(state = %BrokerState::Recovery, "loading logs");
        let log_manager = LogManager::startup(
            Arc::new(effective.clone()),
            Arc::new(topic_overrides.clone()),
            now_ms(),
        )
        .await?;
        // As Kafka's startup failure runs `shutdown()`: a later failure shuts the log manager
        // down cleanly (flush, checkpoints, marker) and releases the dir locks.
        match Self::start_after_logs(
            config,
            zk,
            zk_events,
            zk_task,
            StartupState {
                log_dirs,
                broker_id,
                cluster_id,
                features,
                dynamic_default,
                dynamic_broker,
                topic_overrides,
                effective,
            },
            log_manager.clone(),
        )
        .await
        {
            Ok(server) => Ok(server),
            Err(e) => {
                if let Err(close) = log_manager.shutdown().await {
                    error!(error = %close, "log manager shutdown after a failed startup");
                }
                Err(e)
            }
        }
    }

    /// Steps 10–23, once the logs are loaded.
    async fn start_after_logs(
        config: Arc<KafkaConfig>,
        zk: KafkaZkClient,
        zk_events: mpsc::UnboundedReceiver<crate::zk::ZkEvent>,
        zk_task: JoinHandle<()>,
        state: StartupState,
        log_manager: LogManagerHandle,
    ) -> Result<KafkaServer, StartupError> {
        let StartupState {
            log_dirs,
            broker_id,
            cluster_id,
            features,
            dynamic_default,
            dynamic_broker,
            topic_overrides,
            effective,
        } = state;

        // 10. bind the listeners (not yet processing), so port-0 listeners get real ports
        // before they are advertised.
        let socket_server =
            SocketServer::bind(&effective.listeners(), SocketServerConfig::from(&effective))
                .await?;

        // 13. registration.
        let registration = Self::broker_info(broker_id, &effective, &socket_server)?;
        Self::check_endpoints_unique(&zk, &registration).await?;
        let broker_epoch = zk.register_broker(&registration).await?;

        // 14. meta.properties.
        let meta = MetaProperties {
            broker_id,
            cluster_id: Some(cluster_id.clone()),
        };
        for dir in &log_dirs {
            meta.write(dir)?;
        }

        // Majordomo, controller (16) and dynamic config manager (21).
        let (controller_tx, controller_rx) = mpsc::unbounded_channel();
        let (config_manager_tx, config_manager_rx) = mpsc::unbounded_channel();
        let init = MajordomoInit {
            static_config: config.clone(),
            dynamic_default,
            dynamic_broker,
            topic_overrides,
            registration,
            broker_epoch,
            cluster_id,
            features,
        };
        let routes = MajordomoRoutes {
            zk_events,
            controller: controller_tx.clone(),
            config_manager: config_manager_tx.clone(),
        };
        let (majordomo, handle) = Majordomo::new(init, zk.clone(), routes);
        let mut tasks = vec![zk_task, tokio::spawn(majordomo.run())];
        // The log layer follows dynamic broker config and topic overrides live from here on.
        log_manager
            .subscribe_configs(handle.subscribe_config(), handle.subscribe_topic_configs())
            .await?;
        let controller = KafkaController::new(broker_id, zk.clone(), handle.clone(), controller_rx);
        tasks.push(tokio::spawn(controller.run()));
        let _ = controller_tx.send(ControllerEvent::Startup);
        let config_manager =
            DynamicConfigManager::new(zk.clone(), handle.clone(), config_manager_rx);
        tasks.push(tokio::spawn(config_manager.run()));

        // 22. start processing requests.
        let metadata_cache = Arc::new(MetadataCache::new(broker_id, handle.subscribe_metadata()));
        let config = Arc::new(effective);
        let admin_manager = Arc::new(AdminManager::new(
            zk.clone(),
            handle.subscribe_metadata(),
            Arc::clone(&config),
            Arc::clone(&metadata_cache),
        ));
        let (leadership_tx, leadership_rx) = mpsc::unbounded_channel();
        let replica_manager = Arc::new(
            ReplicaManager::new(broker_id, log_manager.clone())
                .with_topic_config_source(TopicConfigSource {
                    zk: zk.clone(),
                    majordomo: handle.clone(),
                })
                .with_replica_fetchers(FetcherConfig::from_config(&config))
                .with_leadership_listener(leadership_tx),
        );
        // `num.replica.fetchers` is a dynamic broker config (Kafka's `DynamicThreadPool`).
        tasks.extend(replica_manager.follow_fetcher_config(handle.subscribe_config()));
        // 18. group coordinator (before requests, so it sees every LeaderAndIsr).
        let offsets_partitions =
            group_coordinator::offsets_partition_count(&zk, &OffsetConfig::from_config(&config))
                .await;
        let (group_coordinator, group_coordinator_task) = group_coordinator::start(
            broker_id,
            &config,
            offsets_partitions,
            Arc::clone(&replica_manager),
            Some(zk.clone()),
            leadership_rx,
        );
        tasks.push(group_coordinator_task);
        tasks.push(tokio::spawn(alter_partition_manager::run(
            Arc::downgrade(&replica_manager),
            IsrMaintenanceConfig {
                metadata_cache: Arc::clone(&metadata_cache),
                inter_broker_listener: config.inter_broker_listener_name(),
                lag_max_ms: config.get_long("replica.lag.time.max.ms").unwrap_or(30_000),
                socket_timeout: Duration::from_millis(
                    config
                        .get_int("replica.socket.timeout.ms")
                        .unwrap_or(30_000)
                        .max(1) as u64,
                ),
            },
        )));
        let controlled_shutdown =
            ControlledShutdownConfig::from_config(&config, Arc::clone(&metadata_cache), zk.clone());
        let apis =
            KafkaApis::with_metadata_cache(ApisContext { broker_id, config }, metadata_cache)
                .with_controller(controller_tx.clone())
                .with_replica_manager(Arc::clone(&replica_manager))
                .with_admin_manager(admin_manager)
                .with_producer_id_manager(Arc::new(ProducerIdManager::new(broker_id, zk.clone())))
                .with_group_coordinator(group_coordinator.clone());
        socket_server.start_processing(Arc::new(apis))?;

        // 23. running.
        let _ = handle
            .send(MajordomoMessage::SetState(BrokerState::Running))
            .await;
        info!(broker_id, broker_epoch, "started");
        Ok(KafkaServer {
            broker_id,
            zk,
            majordomo: handle,
            log_manager,
            replica_manager,
            group_coordinator,
            socket_server,
            controller_tx,
            controlled_shutdown,
            config_manager_tx,
            tasks,
        })
    }

    /// Kafka's `getOrGenerateBrokerId`.
    async fn resolve_broker_id(
        config: &KafkaConfig,
        zk: &KafkaZkClient,
        found: &[(PathBuf, MetaProperties)],
    ) -> Result<i32, StartupError> {
        let configured = config.broker_id();
        let stored = meta_properties::stored_broker_id(found)?;
        match stored {
            Some(stored) if configured >= 0 && configured != stored => {
                Err(MetaPropertiesError::InconsistentBrokerId { configured, stored }.into())
            }
            Some(stored) => Ok(stored),
            None if configured < 0 && config.broker_id_generation_enable() => {
                let seq = zk.generate_broker_sequence_id().await?;
                let id = seq + config.reserved_broker_max_id();
                info!(broker_id = id, "generated broker id from /brokers/seqid");
                Ok(id)
            }
            None if configured < 0 => Err(StartupError::BrokerId(
                "broker.id is not set, no meta.properties has one and broker.id.generation.enable is false"
                    .into(),
            )),
            None => Ok(configured),
        }
    }

    /// The registration from the advertised listeners; an empty host becomes this machine's
    /// host name, as Kafka does.
    fn broker_info(
        broker_id: i32,
        config: &KafkaConfig,
        socket_server: &SocketServer,
    ) -> Result<BrokerInfo, StartupError> {
        let local_host = gethostname::gethostname().to_string_lossy().into_owned();
        let endpoints: Vec<EndPoint> = config
            .advertised_listeners()
            .into_iter()
            .map(|mut ep| {
                if ep.host.is_empty() {
                    ep.host = local_host.clone();
                }
                if ep.port == 0 {
                    if let Some(port) = socket_server.bound_port(&ep.listener_name) {
                        ep.port = port;
                    }
                }
                ep
            })
            .collect();
        if endpoints.is_empty() {
            return Err(StartupError::Listeners("no advertised listeners".into()));
        }
        Ok(BrokerInfo::new(
            broker_id,
            endpoints,
            config.broker_rack().map(str::to_string),
            -1,
            now_ms(),
        ))
    }

    /// Refuses to start if another registered broker advertises one of our host:port pairs.
    async fn check_endpoints_unique(
        zk: &KafkaZkClient,
        me: &BrokerInfo,
    ) -> Result<(), StartupError> {
        for (id, (other, _)) in zk.get_all_brokers(false).await? {
            if id == me.id {
                continue;
            }
            for ep in &me.endpoints {
                if other
                    .endpoints
                    .iter()
                    .any(|o| o.host == ep.host && o.port == ep.port)
                {
                    return Err(StartupError::Listeners(format!(
                        "endpoint {}:{} is already advertised by broker {id}",
                        ep.host, ep.port
                    )));
                }
            }
        }
        Ok(())
    }

    pub fn broker_id(&self) -> i32 {
        self.broker_id
    }

    /// Handle to Majordomo (broker state, effective config, topic config lookups).
    pub fn majordomo(&self) -> &MajordomoHandle {
        &self.majordomo
    }

    pub fn zk(&self) -> &KafkaZkClient {
        &self.zk
    }

    /// The port a listener is bound to (the real one for `:0` listeners).
    pub fn bound_port(&self, listener_name: &str) -> Option<u16> {
        self.socket_server.bound_port(listener_name)
    }

    /// Handle to the log manager (every partition log of this broker).
    pub fn log_manager(&self) -> &LogManagerHandle {
        &self.log_manager
    }

    /// Shuts down in Kafka's order: a controlled shutdown first (with
    /// `controlled.shutdown.enable`: the controller moves this broker's leadership away while
    /// it still serves requests), then stop config processing and request processing, stop the
    /// group coordinator (parked group requests answered NOT_COORDINATOR), shut the
    /// log manager down (flush, checkpoints, clean-shutdown marker, unlock), resign the
    /// controllership, close the ZooKeeper session (our ephemerals vanish at once). Bounded in
    /// time except for flushing the logs.
    pub async fn shutdown(self) {
        info!(broker_id = self.broker_id, "shutting down");
        // 1. controlled shutdown: leadership moves away while requests are still served.
        if self.controlled_shutdown.enable {
            let _ = self
                .majordomo
                .send(MajordomoMessage::SetState(
                    BrokerState::PendingControlledShutdown,
                ))
                .await;
            controlled_shutdown::run(self.broker_id, &self.controlled_shutdown).await;
        }
        let _ = self
            .majordomo
            .send(MajordomoMessage::SetState(BrokerState::ShuttingDown))
            .await;
        let _ = self.config_manager_tx.send(ConfigManagerEvent::Stop);
        self.socket_server.shutdown().await;
        self.group_coordinator
            .shutdown(Duration::from_secs(5))
            .await;
        self.replica_manager.shutdown().await;
        if let Err(e) = self.log_manager.shutdown().await {
            error!(error = %e, "log manager did not shut down cleanly; the next start recovers");
        }
        let (done, resigned) = oneshot::channel();
        if self
            .controller_tx
            .send(ControllerEvent::Shutdown(done))
            .is_ok()
            && tokio::time::timeout(Duration::from_secs(5), resigned)
                .await
                .is_err()
        {
            error!("controller did not resign within 5 s");
        }
        self.zk.zk().close().await;
        let _ = self
            .majordomo
            .send(MajordomoMessage::SetState(BrokerState::NotRunning))
            .await;
        for task in self.tasks {
            task.abort();
        }
        info!(broker_id = self.broker_id, "shut down completed");
    }
}
