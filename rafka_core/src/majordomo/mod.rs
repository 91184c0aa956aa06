//! Majordomo: the task that owns broker-wide state (identity, broker epoch, cluster id, active
//! controller, live brokers, finalized features, dynamic broker config and entity configs).
//!
//! Other tasks talk to it only through [`MajordomoHandle`] (typed messages over `mpsc`, answers
//! on `oneshot`) and read-mostly state through `watch` subscriptions. It routes ZooKeeper watch
//! events to the task that owns the znode (controller: `/controller`, `/brokers/ids`,
//! `/brokers/topics` and each `/brokers/topics/<t>`, `/admin/delete_topics`; dynamic config
//! manager: `/config/changes`) and never awaits ZooKeeper itself: its reads run in spawned
//! futures that post their result back as a message.

pub mod messages;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};
use tracing::{debug, info, warn};

use crate::config::{ConfigError, KafkaConfig, LogConfig};
use crate::controller::ControllerEvent;
use crate::server::broker_state::BrokerState;
use crate::server::dynamic_config_manager::ConfigManagerEvent;
use crate::zk::kafka_zk_client::KafkaZkClient;
use crate::zk::zk_data::{self as data, BrokerInfo, ConfigType};
use crate::zk::zookeeper_client::{WatchKind, ZkEvent};

pub use messages::{BrokerMetadata, FinalizedFeatures, LiveBroker, MajordomoMessage};

/// Cloneable handle to Majordomo.
#[derive(Clone, Debug)]
pub struct MajordomoHandle {
    tx: mpsc::Sender<MajordomoMessage>,
    metadata: watch::Receiver<Arc<BrokerMetadata>>,
    config: watch::Receiver<Arc<KafkaConfig>>,
    topic_configs: watch::Receiver<Arc<BTreeMap<String, BTreeMap<String, String>>>>,
}

/// Majordomo has stopped; the broker is shutting down.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("Majordomo has stopped")]
pub struct MajordomoStopped;

impl MajordomoHandle {
    /// Sends an update; fails only when Majordomo has stopped.
    pub async fn send(&self, msg: MajordomoMessage) -> Result<(), MajordomoStopped> {
        self.tx.send(msg).await.map_err(|_| MajordomoStopped)
    }

    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> MajordomoMessage,
    ) -> Result<T, MajordomoStopped> {
        let (reply, rx) = oneshot::channel();
        self.send(make(reply)).await?;
        rx.await.map_err(|_| MajordomoStopped)
    }

    /// The current metadata snapshot, through Majordomo's queue (ordered after earlier updates).
    pub async fn metadata(&self) -> Result<Arc<BrokerMetadata>, MajordomoStopped> {
        self.ask(MajordomoMessage::Metadata).await
    }

    /// The effective broker config (static + dynamic).
    pub async fn effective_config(&self) -> Result<Arc<KafkaConfig>, MajordomoStopped> {
        self.ask(MajordomoMessage::EffectiveConfig).await
    }

    /// The log layer's config lookup: topic overrides over the broker's current values.
    pub async fn log_config(
        &self,
        topic: &str,
    ) -> Result<Result<LogConfig, ConfigError>, MajordomoStopped> {
        let topic = topic.to_string();
        self.ask(|reply| MajordomoMessage::LogConfig { topic, reply })
            .await
    }

    /// Stored overrides of a config entity.
    pub async fn entity_config(
        &self,
        entity_type: ConfigType,
        name: &str,
    ) -> Result<BTreeMap<String, String>, MajordomoStopped> {
        let name = name.to_string();
        self.ask(|reply| MajordomoMessage::EntityConfig {
            entity_type,
            name,
            reply,
        })
        .await
    }

    /// Subscribes to metadata snapshots (read-mostly; no queue hop).
    pub fn subscribe_metadata(&self) -> watch::Receiver<Arc<BrokerMetadata>> {
        self.metadata.clone()
    }

    /// Subscribes to the effective broker config.
    pub fn subscribe_config(&self) -> watch::Receiver<Arc<KafkaConfig>> {
        self.config.clone()
    }

    /// Subscribes to the topic-override map (topic → overrides), for the log layer.
    pub fn subscribe_topic_configs(
        &self,
    ) -> watch::Receiver<Arc<BTreeMap<String, BTreeMap<String, String>>>> {
        self.topic_configs.clone()
    }
}

/// What Majordomo starts from, gathered by the startup sequence.
pub struct MajordomoInit {
    pub static_config: Arc<KafkaConfig>,
    pub dynamic_default: BTreeMap<String, String>,
    pub dynamic_broker: BTreeMap<String, String>,
    pub topic_overrides: BTreeMap<String, BTreeMap<String, String>>,
    pub registration: BrokerInfo,
    pub broker_epoch: i64,
    pub cluster_id: String,
    pub features: FinalizedFeatures,
}

/// The channels Majordomo routes ZooKeeper events to.
pub struct MajordomoRoutes {
    pub zk_events: mpsc::UnboundedReceiver<ZkEvent>,
    pub controller: mpsc::UnboundedSender<ControllerEvent>,
    pub config_manager: mpsc::UnboundedSender<ConfigManagerEvent>,
}

/// The state owner. Runs as one task; see the module doc.
pub struct Majordomo {
    rx: mpsc::Receiver<MajordomoMessage>,
    self_tx: mpsc::WeakSender<MajordomoMessage>,
    zk: KafkaZkClient,
    routes: MajordomoRoutes,
    static_config: Arc<KafkaConfig>,
    dynamic_default: BTreeMap<String, String>,
    dynamic_broker: BTreeMap<String, String>,
    entity_configs: BTreeMap<(ConfigType, String), BTreeMap<String, String>>,
    registration: BrokerInfo,
    metadata_tx: watch::Sender<Arc<BrokerMetadata>>,
    config_tx: watch::Sender<Arc<KafkaConfig>>,
    topic_configs_tx: watch::Sender<Arc<BTreeMap<String, BTreeMap<String, String>>>>,
}

impl Majordomo {
    /// Builds Majordomo and its handle; call [`Majordomo::run`] on a task.
    pub fn new(
        init: MajordomoInit,
        zk: KafkaZkClient,
        routes: MajordomoRoutes,
    ) -> (Majordomo, MajordomoHandle) {
        let (tx, rx) = mpsc::channel(1024);
        let metadata = BrokerMetadata {
            broker_id: init.registration.id,
            broker_epoch: init.broker_epoch,
            cluster_id: init.cluster_id,
            state: BrokerState::Starting,
            active_controller_id: None,
            controller_epoch: None,
            live_brokers: BTreeMap::new(),
            finalized_features: init.features,
        };
        let (effective, rejected) = init
            .static_config
            .with_dynamic(&init.dynamic_default, &init.dynamic_broker);
        for r in rejected {
            warn!(rejection = %r, "dynamic broker config not applied");
        }
        let (metadata_tx, metadata_rx) = watch::channel(Arc::new(metadata));
        let (config_tx, config_rx) = watch::channel(Arc::new(effective));
        let (topic_configs_tx, topic_configs_rx) =
            watch::channel(Arc::new(init.topic_overrides.clone()));
        let mut entity_configs = BTreeMap::new();
        for (topic, overrides) in init.topic_overrides {
            entity_configs.insert((ConfigType::Topic, topic), overrides);
        }
        let majordomo = Majordomo {
            rx,
            self_tx: tx.downgrade(),
            zk,
            routes,
            static_config: init.static_config,
            dynamic_default: init.dynamic_default,
            dynamic_broker: init.dynamic_broker,
            entity_configs,
            registration: init.registration,
            metadata_tx,
            config_tx,
            topic_configs_tx,
        };
        let handle = MajordomoHandle {
            tx,
            metadata: metadata_rx,
            config: config_rx,
            topic_configs: topic_configs_rx,
        };
        (majordomo, handle)
    }

    /// Serves messages and ZooKeeper events until every handle is dropped.
    pub async fn run(mut self) {
        loop {
            tokio::select! {
                msg = self.rx.recv() => match msg {
                    Some(msg) => self.on_message(msg),
                    None => break,
                },
                ev = self.routes.zk_events.recv() => match ev {
                    Some(ev) => self.on_zk_event(ev),
                    // The session task is gone (shutdown): keep serving queries.
                    None => self.routes.zk_events = mpsc::unbounded_channel().1,
                },
            }
        }
        debug!("Majordomo stopped");
    }

    fn update_metadata(&self, f: impl FnOnce(&mut BrokerMetadata)) {
        self.metadata_tx.send_modify(|m| f(Arc::make_mut(m)));
    }

    fn on_message(&mut self, msg: MajordomoMessage) {
        match msg {
            MajordomoMessage::Metadata(reply) => {
                let _ = reply.send(self.metadata_tx.borrow().clone());
            }
            MajordomoMessage::EffectiveConfig(reply) => {
                let _ = reply.send(self.config_tx.borrow().clone());
            }
            MajordomoMessage::LogConfig { topic, reply } => {
                let empty = BTreeMap::new();
                let overrides = self
                    .entity_configs
                    .get(&(ConfigType::Topic, topic))
                    .unwrap_or(&empty);
                let broker = self.config_tx.borrow().clone();
                let _ = reply.send(LogConfig::from_broker_and_overrides(&broker, overrides));
            }
            MajordomoMessage::EntityConfig {
                entity_type,
                name,
                reply,
            } => {
                let config = self
                    .entity_configs
                    .get(&(entity_type, name))
                    .cloned()
                    .unwrap_or_default();
                let _ = reply.send(config);
            }
            MajordomoMessage::ControllerChanged {
                active_controller_id,
                controller_epoch,
            } => {
                self.update_metadata(|m| {
                    m.active_controller_id = active_controller_id;
                    m.controller_epoch = controller_epoch;
                    if controller_epoch.is_none() {
                        m.live_brokers.clear();
                    }
                });
            }
            MajordomoMessage::LiveBrokers(brokers) => {
                self.update_metadata(|m| m.live_brokers = brokers)
            }
            MajordomoMessage::EntityConfigChanged {
                entity_type,
                name,
                config,
            } => self.on_entity_config(entity_type, name, config),
            MajordomoMessage::FeaturesLoaded(features) => {
                info!(
                    epoch = features.epoch,
                    enabled = features.enabled,
                    "finalized features updated"
                );
                self.update_metadata(|m| m.finalized_features = features);
            }
            MajordomoMessage::BrokerReregistered { broker_epoch } => {
                info!(
                    broker_epoch,
                    "broker registration re-created in the new session"
                );
                self.update_metadata(|m| m.broker_epoch = broker_epoch);
                let _ = self.routes.controller.send(ControllerEvent::Reelect);
            }
            MajordomoMessage::SetState(state) => {
                info!(%state, "broker state changed");
                self.update_metadata(|m| m.state = state);
            }
        }
    }

    fn on_entity_config(
        &mut self,
        entity_type: ConfigType,
        name: String,
        config: BTreeMap<String, String>,
    ) {
        let broker_id = self.registration.id.to_string();
        match entity_type {
            ConfigType::Broker if name == data::DEFAULT_ENTITY => {
                self.dynamic_default = config.clone();
                self.recompute_config();
            }
            ConfigType::Broker if name == broker_id => {
                self.dynamic_broker = config.clone();
                self.recompute_config();
            }
            ConfigType::Topic => {
                if let Err(e) = LogConfig::validate_overrides(&config) {
                    warn!(topic = %name, error = %e, "topic config override is invalid; keeping it stored but it may not apply");
                }
                info!(topic = %name, overrides = ?config, "topic config overrides updated");
                self.topic_configs_tx.send_modify(|m| {
                    let m = Arc::make_mut(m);
                    if config.is_empty() {
                        m.remove(&name);
                    } else {
                        m.insert(name.clone(), config.clone());
                    }
                });
            }
            _ => debug!(entity_type = entity_type.as_str(), %name, "entity config updated"),
        }
        if config.is_empty() {
            self.entity_configs.remove(&(entity_type, name));
        } else {
            self.entity_configs.insert((entity_type, name), config);
        }
    }

    /// Re-derives the effective config from the static file and both dynamic layers.
    fn recompute_config(&mut self) {
        let (effective, rejected) = self
            .static_config
            .with_dynamic(&self.dynamic_default, &self.dynamic_broker);
        for r in rejected {
            warn!(rejection = %r, "dynamic broker config not applied");
        }
        let before = self.config_tx.borrow().clone();
        let changed: Vec<String> = self
            .dynamic_default
            .keys()
            .chain(self.dynamic_broker.keys())
            .chain(before.dynamic_keys().iter())
            .filter(|k| before.value_string(k) != effective.value_string(k))
            .cloned()
            .collect();
        info!(changed = ?changed, "dynamic broker config applied");
        self.config_tx.send_replace(Arc::new(effective));
    }

    fn on_zk_event(&mut self, ev: ZkEvent) {
        match ev {
            ZkEvent::Watch { path, kind } => self.route_watch(&path, kind),
            ZkEvent::SessionExpired => {
                let _ = self.routes.controller.send(ControllerEvent::Expire);
            }
            ZkEvent::NewSession { .. } => {
                self.reregister_broker();
                let _ = self.routes.config_manager.send(ConfigManagerEvent::Rescan);
                self.reload_features();
            }
            // Same session: watches survive, but an operation that failed with
            // ConnectionLoss meanwhile (an election, a rescan) is retried here.
            ZkEvent::Reconnected => {
                let _ = self.routes.controller.send(ControllerEvent::Reelect);
                let _ = self.routes.config_manager.send(ConfigManagerEvent::Rescan);
            }
            ZkEvent::Disconnected => {}
        }
    }

    fn route_watch(&mut self, path: &str, kind: WatchKind) {
        if path == data::CONTROLLER_PATH {
            let _ = self
                .routes
                .controller
                .send(ControllerEvent::ControllerChange(kind));
        } else if path == data::BROKER_IDS_PATH {
            let _ = self.routes.controller.send(ControllerEvent::BrokerChange);
        } else if path == data::BROKER_TOPICS_PATH {
            let _ = self.routes.controller.send(ControllerEvent::TopicChange);
        } else if let Some(topic) = topic_of_assignment_path(path) {
            let _ = self
                .routes
                .controller
                .send(ControllerEvent::PartitionModifications(topic.to_string()));
        } else if path == data::DELETE_TOPICS_PATH {
            let _ = self.routes.controller.send(ControllerEvent::TopicDeletion);
        } else if path == data::REASSIGN_PARTITIONS_PATH {
            let _ = self
                .routes
                .controller
                .send(ControllerEvent::ZkPartitionReassignment(kind));
        } else if path == data::CONFIG_CHANGES_PATH {
            let _ = self.routes.config_manager.send(ConfigManagerEvent::Rescan);
        } else if path == data::FEATURE_PATH {
            self.reload_features();
        } else {
            debug!(%path, ?kind, "unrouted watch event");
        }
    }

    /// Re-reads `/feature` (re-arming its watch) and posts the result back.
    fn reload_features(&self) {
        let zk = self.zk.clone();
        let tx = self.self_tx.clone();
        tokio::spawn(async move {
            match load_features(&zk).await {
                Ok(f) => {
                    if let Some(tx) = tx.upgrade() {
                        let _ = tx.send(MajordomoMessage::FeaturesLoaded(f)).await;
                    }
                }
                Err(e) => warn!(error = %e, "could not read /feature"),
            }
        });
    }

    /// Re-creates our registration in the new session (new czxid ⇒ new broker epoch), retrying
    /// while the session is unsettled; the controller re-elects once it is done.
    fn reregister_broker(&self) {
        let zk = self.zk.clone();
        let tx = self.self_tx.clone();
        let mut info = self.registration.clone();
        tokio::spawn(async move {
            for attempt in 0..60u32 {
                info.timestamp_ms = crate::zk::kafka_zk_client::now_ms();
                match zk.register_broker(&info).await {
                    Ok(broker_epoch) => {
                        if let Some(tx) = tx.upgrade() {
                            let _ = tx
                                .send(MajordomoMessage::BrokerReregistered { broker_epoch })
                                .await;
                        }
                        return;
                    }
                    Err(e) => {
                        warn!(error = %e, attempt, "re-registration failed; retrying in 1 s");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
            warn!(
                "gave up re-registering the broker after 60 attempts; waiting for the next session"
            );
        });
    }
}

/// The topic of a `/brokers/topics/<topic>` path (exactly one level below), if it is one.
fn topic_of_assignment_path(path: &str) -> Option<&str> {
    let topic = path
        .strip_prefix(data::BROKER_TOPICS_PATH)?
        .strip_prefix('/')?;
    (!topic.is_empty() && !topic.contains('/')).then_some(topic)
}

/// Reads `/feature` with a watch into the cache form.
pub async fn load_features(
    zk: &KafkaZkClient,
) -> Result<FinalizedFeatures, crate::zk::kafka_zk_client::KafkaZkError> {
    Ok(match zk.get_feature(true).await? {
        None => FinalizedFeatures {
            epoch: -1,
            enabled: false,
            features: BTreeMap::new(),
        },
        Some((znode, version)) => FinalizedFeatures {
            epoch: version,
            enabled: znode.status == data::FeatureZNodeStatus::Enabled,
            features: znode.features.clone(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::topic_of_assignment_path;

    #[test]
    fn assignment_paths_name_their_topic() {
        assert_eq!(topic_of_assignment_path("/brokers/topics/t.1"), Some("t.1"));
        assert_eq!(topic_of_assignment_path("/brokers/topics"), None);
        assert_eq!(topic_of_assignment_path("/brokers/topics/"), None);
        assert_eq!(
            topic_of_assignment_path("/brokers/topics/t/partitions"),
            None
        );
        assert_eq!(topic_of_assignment_path("/brokers/topicsx/t"), None);
    }
}
