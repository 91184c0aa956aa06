//! The ZooKeeper-mode controller: election through `/controller` + `/controller_epoch`,
//! failover and resignation, and the live-broker set kept from `/brokers/ids`.
//!
//! Like Kafka's `KafkaController`, all controller work runs one event at a time on this task;
//! ZooKeeper watches only enqueue events (routed here by Majordomo). Spec:
//! startup-and-controller.md §3–4.

use std::collections::BTreeMap;

use tokio::sync::{mpsc, oneshot};
use tracing::{error, info, warn};

use super::controller_channel_manager::{ChannelConfig, ControllerChannelManager};
use crate::majordomo::{LiveBroker, MajordomoHandle, MajordomoMessage};
use crate::zk::kafka_zk_client::{KafkaZkClient, KafkaZkError};
use crate::zk::zk_data::{self as data, FeatureZNode};
use crate::zk::zookeeper_client::{CreateMode, WatchKind};

/// Events processed by the controller task, one at a time.
#[derive(Debug)]
pub enum ControllerEvent {
    /// Arm the `/controller` watch and try to become controller.
    Startup,
    /// `/controller` was created, changed or deleted.
    ControllerChange(WatchKind),
    /// Try again to become controller (after re-registration in a new session).
    Reelect,
    /// `/brokers/ids` children changed.
    BrokerChange,
    /// The ZooKeeper session expired: resign locally (the ephemerals are gone anyway).
    Expire,
    /// Broker shutdown: resign (deleting `/controller`, epoch-fenced) and stop.
    Shutdown(oneshot::Sender<()>),
}

/// State held only while this broker is the active controller.
struct ActiveController {
    epoch: i32,
    epoch_zk_version: i32,
    live_brokers: BTreeMap<i32, LiveBroker>,
    /// Connections to the live brokers; started during failover, dropped (every sender
    /// stopped) on resignation.
    channel: Option<ControllerChannelManager>,
}

/// The controller task. See the module doc.
pub struct KafkaController {
    broker_id: i32,
    zk: KafkaZkClient,
    majordomo: MajordomoHandle,
    events: mpsc::UnboundedReceiver<ControllerEvent>,
    active_controller_id: Option<i32>,
    active: Option<ActiveController>,
}

impl KafkaController {
    pub fn new(
        broker_id: i32,
        zk: KafkaZkClient,
        majordomo: MajordomoHandle,
        events: mpsc::UnboundedReceiver<ControllerEvent>,
    ) -> KafkaController {
        KafkaController {
            broker_id,
            zk,
            majordomo,
            events,
            active_controller_id: None,
            active: None,
        }
    }

    /// Processes events until `Shutdown` (or until every sender is gone).
    pub async fn run(mut self) {
        while let Some(event) = self.events.recv().await {
            match event {
                ControllerEvent::Startup | ControllerEvent::Reelect => self.elect().await,
                ControllerEvent::ControllerChange(WatchKind::Deleted) => {
                    self.maybe_resign().await;
                    self.elect().await;
                }
                ControllerEvent::ControllerChange(_) => self.maybe_resign().await,
                ControllerEvent::BrokerChange => self.on_broker_change().await,
                ControllerEvent::Expire => {
                    if self.active.is_some() {
                        warn!("ZooKeeper session expired: resigning as controller");
                    }
                    self.on_resignation().await;
                    self.set_active_controller_id(None).await;
                }
                ControllerEvent::Shutdown(done) => {
                    self.shutdown().await;
                    let _ = done.send(());
                    return;
                }
            }
        }
    }

    fn is_active(&self) -> bool {
        self.active.is_some()
    }

    async fn set_active_controller_id(&mut self, id: Option<i32>) {
        self.active_controller_id = id;
        let _ = self
            .majordomo
            .send(MajordomoMessage::ControllerChanged {
                active_controller_id: id,
                controller_epoch: self.active.as_ref().map(|a| a.epoch),
            })
            .await;
    }

    /// Kafka's `elect()`: if `/controller` exists, record its owner; otherwise try the
    /// election `multi`. The read re-arms the `/controller` watch.
    async fn elect(&mut self) {
        let current = match self.zk.get_controller_id(true).await {
            Ok(c) => c,
            Err(e) => {
                warn!(error = %e, "could not read /controller; will retry on the next session/watch");
                return;
            }
        };
        if current.is_some() {
            if current != self.active_controller_id {
                info!(controller = ?current, "controller is already elected");
            }
            self.set_active_controller_id(current).await;
            return;
        }
        match self
            .zk
            .register_controller_and_increment_epoch(self.broker_id)
            .await
        {
            Ok(epoch) => {
                info!(
                    broker_id = self.broker_id,
                    epoch = epoch.epoch,
                    epoch_zk_version = epoch.epoch_zk_version,
                    "elected as the controller"
                );
                self.active = Some(ActiveController {
                    epoch: epoch.epoch,
                    epoch_zk_version: epoch.epoch_zk_version,
                    live_brokers: BTreeMap::new(),
                    channel: None,
                });
                self.set_active_controller_id(Some(self.broker_id)).await;
                if let Err(e) = self.on_failover().await {
                    error!(error = %e, "controller failover failed; resigning");
                    self.trigger_controller_move().await;
                }
            }
            Err(KafkaZkError::ControllerMoved(why)) => {
                info!(%why, "lost the controller election");
                self.maybe_resign().await;
            }
            Err(e) => {
                warn!(error = %e, "controller election failed");
                if !e.is_transient() {
                    self.trigger_controller_move().await;
                }
            }
        }
    }

    /// Resigns if `/controller` no longer names us; re-arms the watch.
    async fn maybe_resign(&mut self) {
        let was_active = self.is_active();
        match self.zk.get_controller_id(true).await {
            Ok(current) => {
                if was_active && current != Some(self.broker_id) {
                    info!(new_controller = ?current, "controller moved to another broker; resigning");
                    self.on_resignation().await;
                }
                self.set_active_controller_id(current).await;
            }
            Err(e) => warn!(error = %e, "could not read /controller"),
        }
    }

    /// Resigns and deletes `/controller` (epoch-fenced) so that a new election happens.
    async fn trigger_controller_move(&mut self) {
        if let Some(active) = &self.active {
            let v = active.epoch_zk_version;
            if let Err(e) = self.zk.delete_controller(v).await {
                warn!(error = %e, "could not delete /controller while resigning");
            }
        }
        self.on_resignation().await;
        self.set_active_controller_id(None).await;
    }

    /// Failover, in Kafka's order as far as this broker implements it: enable `/feature`,
    /// start the channel manager, watch `/brokers/ids` and load the live brokers (which
    /// starts a sender per broker and sends every live broker UpdateMetadata with no
    /// partitions, step 6).
    async fn on_failover(&mut self) -> Result<(), KafkaZkError> {
        self.enable_feature_versioning().await?;
        let config = match self.majordomo.effective_config().await {
            Ok(c) => c,
            Err(_) => {
                return Err(KafkaZkError::ControllerMoved(
                    "broker is shutting down".into(),
                ))
            }
        };
        if let Some(active) = &mut self.active {
            active.channel = Some(ControllerChannelManager::new(ChannelConfig::from_config(
                self.broker_id,
                &config,
            )));
        }
        self.refresh_live_brokers().await?;
        if let Some(active) = &self.active {
            info!(
                epoch = active.epoch,
                live_brokers = ?active.live_brokers.keys().collect::<Vec<_>>(),
                "ready to serve as the new controller"
            );
        }
        Ok(())
    }

    /// Creates or enables `/feature` with the features this version finalizes (none).
    async fn enable_feature_versioning(&self) -> Result<(), KafkaZkError> {
        let wanted = FeatureZNode::enabled_empty();
        let zk = self.zk.zk();
        match self.zk.get_feature(false).await? {
            None => match zk
                .create(data::FEATURE_PATH, wanted.encode(), CreateMode::Persistent)
                .await
            {
                Ok(_) => Ok(()),
                Err(e) if e.is_node_exists() => Ok(()),
                Err(e) => Err(e.into()),
            },
            Some((existing, version)) if existing.status != wanted.status => {
                zk.set_data(data::FEATURE_PATH, wanted.encode(), Some(version))
                    .await?;
                Ok(())
            }
            Some(_) => Ok(()),
        }
    }

    /// Reads `/brokers/ids` (re-arming the child watch), logs joins, bounces and losses, and
    /// publishes the live set.
    async fn refresh_live_brokers(&mut self) -> Result<(), KafkaZkError> {
        let brokers = self.zk.get_all_brokers(true).await?;
        let Some(active) = &mut self.active else {
            return Ok(());
        };
        let fresh: BTreeMap<i32, LiveBroker> = brokers
            .into_iter()
            .map(|(id, (info, epoch))| (id, LiveBroker { info, epoch }))
            .collect();
        let old = &active.live_brokers;
        let new_ids: Vec<i32> = fresh
            .keys()
            .filter(|id| !old.contains_key(id))
            .copied()
            .collect();
        let dead_ids: Vec<i32> = old
            .keys()
            .filter(|id| !fresh.contains_key(id))
            .copied()
            .collect();
        let bounced: Vec<i32> = fresh
            .iter()
            .filter(|(id, b)| old.get(id).is_some_and(|o| o.epoch < b.epoch))
            .map(|(id, _)| *id)
            .collect();
        if !(new_ids.is_empty() && dead_ids.is_empty() && bounced.is_empty()) {
            info!(
                new_brokers = ?new_ids,
                dead_brokers = ?dead_ids,
                bounced_brokers = ?bounced,
                live_brokers = ?fresh.keys().collect::<Vec<_>>(),
                "broker change"
            );
        }
        active.live_brokers = fresh.clone();
        // onBrokerStartup / onBrokerFailure (no partitions yet): every change reaches every
        // live broker as UpdateMetadata; new and bounced brokers get fresh senders first.
        if let Some(channel) = &mut active.channel {
            channel.sync(&fresh);
            if !(new_ids.is_empty() && dead_ids.is_empty() && bounced.is_empty()) {
                let targets: Vec<i32> = fresh.keys().copied().collect();
                channel.send_update_metadata(active.epoch, &fresh, &targets);
            }
        }
        let _ = self
            .majordomo
            .send(MajordomoMessage::LiveBrokers(fresh))
            .await;
        Ok(())
    }

    async fn on_broker_change(&mut self) {
        if !self.is_active() {
            return;
        }
        if let Err(e) = self.refresh_live_brokers().await {
            warn!(error = %e, "could not read /brokers/ids");
        }
    }

    /// Drops controller-only state. (Child watches cannot be removed individually with this
    /// client; events arriving after resignation are ignored because `active` is `None`.)
    async fn on_resignation(&mut self) {
        if let Some(active) = self.active.take() {
            info!(epoch = active.epoch, "resigned as controller");
            let _ = self
                .majordomo
                .send(MajordomoMessage::LiveBrokers(BTreeMap::new()))
                .await;
        }
    }

    async fn shutdown(&mut self) {
        if let Some(active) = &self.active {
            let v = active.epoch_zk_version;
            if let Err(e) = self.zk.delete_controller(v).await {
                warn!(error = %e, "could not delete /controller on shutdown");
            }
        }
        self.on_resignation().await;
    }
}
