//! The ZooKeeper-mode controller: election through `/controller` + `/controller_epoch`,
//! failover and resignation, the live-broker set kept from `/brokers/ids`, topics and their
//! partitions from `/brokers/topics` (new topics, and partitions added to a topic through its
//! data watch, Kafka's `PartitionModificationsHandler`), and topic deletion from
//! `/admin/delete_topics` (driven by the [`TopicDeletionManager`]). Partition leadership
//! follows the brokers: on failover and on every broker change the replica and partition
//! state machines ([`super::replica_state_machine`], [`super::partition_state_machine`]) tell
//! (re)started brokers what they host, elect leaders for offline partitions and take dead
//! brokers out of the ISRs; each step's requests go out as one [`RequestBatch`].
//! Preferred leaders come back through ElectLeaders and the automatic leader rebalance, a
//! timer in this task's own loop ([`super::preferred_election`]); partitions move between
//! brokers through reassignments ([`super::reassignment`]).
//!
//! Like Kafka's `KafkaController`, all controller work runs one event at a time on this task;
//! ZooKeeper watches only enqueue events (routed here by Majordomo). Spec:
//! startup-and-controller.md §3–4.

use std::collections::{BTreeMap, BTreeSet};

use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse, AlterPartitionRequest,
    AlterPartitionResponse, ElectLeadersRequest, ElectLeadersResponse,
    ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse,
};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tracing::{error, info, warn};
use uuid::Uuid;

use super::controller_channel_manager::{
    ChannelConfig, ControllerChannelManager, StopReplicaOutcome,
};
use super::partition_state_machine::{
    self as partition_sm, StateChangeContext, UNCLEAN_LEADER_ELECTION_ENABLE,
};
use super::preferred_election::{RebalanceSettings, FIRST_REBALANCE_DELAY};
use super::reassignment::PartitionReassignment;
use super::replica_state_machine as replica_sm;
use super::request_batch::{update_metadata_states, RequestBatch};
use super::topic_deletion_manager::TopicDeletionManager;
use crate::config::ProtocolVersion;
use crate::majordomo::{LiveBroker, MajordomoHandle, MajordomoMessage};
use crate::server::replica_manager::EPOCH_DURING_DELETE;
use crate::zk::kafka_zk_client::{KafkaZkClient, KafkaZkError};
use crate::zk::zk_data::{
    self as data, ConfigType, FeatureZNode, PartitionStateZNode, TopicAssignmentZNode,
};
use crate::zk::zookeeper_client::{CreateMode, MultiOp, WatchKind};

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
    /// `/brokers/topics` children changed.
    TopicChange,
    /// `/brokers/topics/<topic>` data changed or was deleted (partitions may have been added).
    PartitionModifications(String),
    /// `/admin/delete_topics` children changed.
    TopicDeletion,
    /// A StopReplica(delete) sent for topic deletion was answered (or could not be
    /// delivered). Posted by the controller to itself.
    TopicDeletionStopReplicaResponse {
        controller_epoch: i32,
        broker_id: i32,
        broker_epoch: i64,
        /// The (topic, partition) replicas the request named.
        partitions: Vec<(String, i32)>,
        outcome: StopReplicaOutcome,
    },
    /// The ZooKeeper session expired: resign locally (the ephemerals are gone anyway).
    Expire,
    /// Broker shutdown: resign (deleting `/controller`, epoch-fenced) and stop.
    Shutdown(oneshot::Sender<()>),
    /// AlterPartition from a partition leader ([`super::alter_partition`]); answered on
    /// `reply` (NOT_CONTROLLER unless active).
    AlterPartition {
        request: AlterPartitionRequest,
        version: i16,
        reply: oneshot::Sender<AlterPartitionResponse>,
    },
    /// ControlledShutdown from a broker ([`super::controlled_shutdown`]): the partitions it
    /// still leads, or an error code.
    ControlledShutdown {
        broker_id: i32,
        broker_epoch: i64,
        reply: oneshot::Sender<Result<Vec<(String, i32)>, i16>>,
    },
    /// The leader imbalance check timer fired (Kafka's `AutoPreferredReplicaLeaderElection`);
    /// posted by the controller's own timer.
    AutoPreferredReplicaLeaderElection,
    /// ElectLeaders from an admin client ([`super::preferred_election`]); answered on
    /// `reply` (NOT_CONTROLLER per partition unless active).
    ElectLeaders {
        request: ElectLeadersRequest,
        version: i16,
        reply: oneshot::Sender<ElectLeadersResponse>,
    },
    /// AlterPartitionReassignments from an admin client ([`super::reassignment`]);
    /// NOT_CONTROLLER unless active.
    AlterPartitionReassignments {
        request: AlterPartitionReassignmentsRequest,
        reply: oneshot::Sender<AlterPartitionReassignmentsResponse>,
    },
    /// ListPartitionReassignments from an admin client; NOT_CONTROLLER unless active.
    ListPartitionReassignments {
        request: ListPartitionReassignmentsRequest,
        reply: oneshot::Sender<ListPartitionReassignmentsResponse>,
    },
    /// `/admin/reassign_partitions` was created, changed or deleted (legacy reassignment).
    ZkPartitionReassignment(WatchKind),
}

/// State held only while this broker is the active controller.
pub(super) struct ActiveController {
    pub(super) epoch: i32,
    pub(super) epoch_zk_version: i32,
    pub(super) live_brokers: BTreeMap<i32, LiveBroker>,
    /// Live brokers in a controlled shutdown (Kafka's `shuttingDownBrokerIds`): they cannot
    /// lead or join an ISR; forgotten when they die or re-register.
    pub(super) shutting_down: BTreeSet<i32>,
    /// Connections to the live brokers; started during failover, dropped (every sender
    /// stopped) on resignation.
    pub(super) channel: Option<ControllerChannelManager>,
    /// Topics known to the controller (Kafka's `ControllerContext` partition assignments
    /// and leadership).
    pub(super) topics: BTreeMap<String, ControllerTopic>,
    /// Topics queued for deletion and their replicas' deletion states.
    pub(super) deletion: TopicDeletionManager,
    /// `delete.topic.enable` when this controller took over.
    delete_topic_enable: bool,
}

/// The controller task. See the module doc.
pub struct KafkaController {
    broker_id: i32,
    pub(super) zk: KafkaZkClient,
    majordomo: MajordomoHandle,
    events: mpsc::UnboundedReceiver<ControllerEvent>,
    /// Events the controller posts to itself (answers to its own requests).
    internal_tx: mpsc::UnboundedSender<ControllerEvent>,
    internal_rx: mpsc::UnboundedReceiver<ControllerEvent>,
    active_controller_id: Option<i32>,
    pub(super) active: Option<ActiveController>,
    /// `auto.leader.rebalance.enable`'s settings, read on failover (`None`: disabled).
    pub(super) rebalance: Option<RebalanceSettings>,
    /// When the next leader imbalance check runs (only while active and enabled).
    next_rebalance: Option<Instant>,
}

impl KafkaController {
    pub fn new(
        broker_id: i32,
        zk: KafkaZkClient,
        majordomo: MajordomoHandle,
        events: mpsc::UnboundedReceiver<ControllerEvent>,
    ) -> KafkaController {
        let (internal_tx, internal_rx) = mpsc::unbounded_channel();
        KafkaController {
            broker_id,
            zk,
            majordomo,
            events,
            internal_tx,
            internal_rx,
            active_controller_id: None,
            active: None,
            rebalance: None,
            next_rebalance: None,
        }
    }

    /// Processes events until `Shutdown` (or until every sender is gone).
    pub async fn run(mut self) {
        loop {
            let event = tokio::select! {
                e = self.events.recv() => match e {
                    Some(e) => e,
                    None => return,
                },
                // Never `None`: `self` holds a sender.
                Some(e) = self.internal_rx.recv() => e,
                // The controller's own timer (Kafka's `AutoPreferredReplicaLeaderElection`).
                () = sleep_until_opt(self.next_rebalance) => {
                    ControllerEvent::AutoPreferredReplicaLeaderElection
                }
            };
            match event {
                ControllerEvent::Startup | ControllerEvent::Reelect => self.elect().await,
                ControllerEvent::ControllerChange(WatchKind::Deleted) => {
                    self.maybe_resign().await;
                    self.elect().await;
                }
                ControllerEvent::ControllerChange(_) => self.maybe_resign().await,
                ControllerEvent::BrokerChange => self.on_broker_change().await,
                ControllerEvent::TopicChange => self.on_topic_change().await,
                ControllerEvent::PartitionModifications(topic) => {
                    self.on_partition_modifications(&topic).await
                }
                ControllerEvent::TopicDeletion => self.on_topic_deletion().await,
                ControllerEvent::TopicDeletionStopReplicaResponse {
                    controller_epoch,
                    broker_id,
                    broker_epoch,
                    partitions,
                    outcome,
                } => {
                    self.on_deletion_stop_replica_response(
                        controller_epoch,
                        broker_id,
                        broker_epoch,
                        partitions,
                        outcome,
                    )
                    .await
                }
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
                ControllerEvent::AlterPartition {
                    request,
                    version,
                    reply,
                } => {
                    let response = self.on_alter_partition(&request, version).await;
                    let _ = reply.send(response);
                    // An ISR that now holds a reassignment's targets completes it (Kafka
                    // checks after answering AlterPartition).
                    let reassigning = self.partitions_being_reassigned();
                    if !reassigning.is_empty() {
                        self.maybe_complete_reassignments(&reassigning).await;
                    }
                }
                ControllerEvent::ControlledShutdown {
                    broker_id,
                    broker_epoch,
                    reply,
                } => {
                    let result = self.on_controlled_shutdown(broker_id, broker_epoch).await;
                    let _ = reply.send(result);
                }
                ControllerEvent::AutoPreferredReplicaLeaderElection => {
                    // Kafka skips the check while partitions are being reassigned.
                    if self.partitions_being_reassigned().is_empty() {
                        self.on_auto_rebalance().await;
                    }
                    self.next_rebalance = match (&self.active, self.rebalance) {
                        (Some(_), Some(r)) => Some(Instant::now() + r.interval),
                        _ => None,
                    };
                }
                ControllerEvent::ElectLeaders {
                    request,
                    version,
                    reply,
                } => {
                    let response = self.on_elect_leaders(&request, version).await;
                    let _ = reply.send(response);
                }
                ControllerEvent::AlterPartitionReassignments { request, reply } => {
                    let response = self.on_alter_partition_reassignments(&request).await;
                    let _ = reply.send(response);
                }
                ControllerEvent::ListPartitionReassignments { request, reply } => {
                    let _ = reply.send(self.on_list_partition_reassignments(&request));
                }
                ControllerEvent::ZkPartitionReassignment(kind) => {
                    self.on_zk_reassignment_event(kind).await
                }
            }
        }
    }

    pub(super) fn is_active(&self) -> bool {
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
                    shutting_down: BTreeSet::new(),
                    channel: None,
                    topics: BTreeMap::new(),
                    deletion: TopicDeletionManager::default(),
                    delete_topic_enable: true,
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
    pub(super) async fn maybe_resign(&mut self) {
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
    /// start the channel manager, watch `/brokers/ids` and load the live brokers (a sender
    /// per broker), load the topics and the deletion queue, UpdateMetadata with every
    /// partition to every live broker, then the replica and partition state machines'
    /// startup (LeaderAndIsr to the live replicas, dead replicas out of the ISRs, leaders for
    /// offline partitions) and the resumption of topic deletions.
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
            active.delete_topic_enable = config.get_bool("delete.topic.enable").unwrap_or(true);
        }
        self.rebalance = config
            .auto_leader_rebalance_enable()
            .then(|| RebalanceSettings {
                interval: std::time::Duration::from_secs(
                    config.leader_imbalance_check_interval_seconds().max(1) as u64,
                ),
                imbalance_percentage: config.leader_imbalance_per_broker_percentage(),
            });
        self.next_rebalance = self
            .rebalance
            .map(|_| Instant::now() + FIRST_REBALANCE_DELAY);
        self.refresh_live_brokers().await?;
        // Watch /brokers/topics and load every existing topic (assignment + states), then
        // the deletion queue; the live brokers then learn all partitions (queued topics' with
        // leader −2) and deletion resumes (Kafka's `TopicDeletionManager.init` +
        // `tryTopicDeletion`).
        self.load_topics().await?;
        self.load_topic_deletions().await?;
        if let Some(active) = &self.active {
            if let Some(channel) = &active.channel {
                let targets: Vec<i32> = active.live_brokers.keys().copied().collect();
                let topics = update_metadata_states(
                    &active.topics,
                    &active.deletion.queued(),
                    &active.live_brokers,
                    |_, _| true,
                );
                channel.send_update_metadata(active.epoch, &active.live_brokers, &targets, &topics);
            }
        }
        self.start_state_machines().await?;
        // Kafka's `initializePartitionReassignments`: the legacy znode's requests first
        // (they supplant API reassignments of the same partitions), then the others.
        let from_zk = self.process_zk_partition_reassignment().await?;
        self.resume_reassignments(None, &from_zk).await?;
        self.resume_deletions().await?;
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

    /// Reads `/brokers/ids` (re-arming the child watch), logs joins, bounces and losses,
    /// makes the channel manager's senders match (new and bounced brokers get fresh ones),
    /// and publishes the live set. Returns what changed.
    async fn refresh_live_brokers(&mut self) -> Result<BrokerChanges, KafkaZkError> {
        let brokers = self.zk.get_all_brokers(true).await?;
        let Some(active) = &mut self.active else {
            return Ok(BrokerChanges::default());
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
        active
            .shutting_down
            .retain(|id| fresh.contains_key(id) && !bounced.contains(id));
        active.live_brokers = fresh.clone();
        if let Some(channel) = &mut active.channel {
            channel.sync(&fresh);
        }
        let _ = self
            .majordomo
            .send(MajordomoMessage::LiveBrokers(fresh))
            .await;
        Ok(BrokerChanges {
            new: new_ids.into_iter().collect(),
            dead: dead_ids.into_iter().collect(),
            bounced: bounced.into_iter().collect(),
        })
    }

    /// Kafka's `processBrokerChange`: dead brokers and bounced ones (as if they had died)
    /// go through `onBrokerFailure`, then new and bounced ones through `onBrokerStartup`.
    /// (Kafka starts the new brokers first, while the dead ones still count as live; failing
    /// them first keeps elections from picking a dead broker.)
    async fn on_broker_change(&mut self) {
        if !self.is_active() {
            return;
        }
        let changes = match self.refresh_live_brokers().await {
            Ok(c) => c,
            Err(e) => {
                warn!(error = %e, "could not read /brokers/ids");
                return;
            }
        };
        let result: Result<(), KafkaZkError> = async {
            let failed: BTreeSet<i32> = changes.dead.union(&changes.bounced).copied().collect();
            if !failed.is_empty() {
                // A bounced broker is out of the live set while its failure is handled.
                let bounced: Vec<(i32, LiveBroker)> = match &mut self.active {
                    Some(active) => changes
                        .bounced
                        .iter()
                        .filter_map(|id| active.live_brokers.remove(id).map(|b| (*id, b)))
                        .collect(),
                    None => Vec::new(),
                };
                let failure = self.on_broker_failure(&failed).await;
                if let Some(active) = &mut self.active {
                    active.live_brokers.extend(bounced);
                }
                failure?;
            }
            let started: BTreeSet<i32> = changes.new.union(&changes.bounced).copied().collect();
            if !started.is_empty() {
                self.on_broker_startup(&started).await?;
                // Reassignments waiting for a started broker go on (Kafka's
                // `maybeResumeReassignments` in `onBrokerStartup`).
                self.resume_reassignments(Some(&started), &BTreeSet::new())
                    .await?;
            }
            // A broker that (re)joined may hold replicas of topics being deleted (Kafka's
            // `resumeDeletionForTopics` in `onBrokerStartup`).
            self.resume_deletions().await
        }
        .await;
        self.after(result, "process a broker change").await;
    }

    /// Kafka's `onBrokerStartup`: UpdateMetadata without partitions to the other brokers and
    /// with every partition to the started ones; their replicas go online (LeaderAndIsr with
    /// the current leadership, so they lead or follow); offline partitions get an election
    /// (a started broker may be electable) and partitions still without a state are created.
    async fn on_broker_startup(&mut self, started: &BTreeSet<i32>) -> Result<(), KafkaZkError> {
        info!(brokers = ?started, "new broker startup");
        let settings = self.election_settings().await;
        let Some(active) = &mut self.active else {
            return Ok(());
        };
        let deleting = active.deletion.queued();
        if let Some(channel) = &active.channel {
            let existing: Vec<i32> = active
                .live_brokers
                .keys()
                .filter(|id| !started.contains(id))
                .copied()
                .collect();
            channel.send_update_metadata(active.epoch, &active.live_brokers, &existing, &[]);
            let targets: Vec<i32> = started.iter().copied().collect();
            let all =
                update_metadata_states(&active.topics, &deleting, &active.live_brokers, |_, _| {
                    true
                });
            channel.send_update_metadata(active.epoch, &active.live_brokers, &targets, &all);
        }
        let ctx = StateChangeContext::clean(
            &self.zk,
            active.epoch,
            active.epoch_zk_version,
            &active.live_brokers,
            &deleting,
        )
        .with_unclean(settings.unclean_default, settings.leader_recovery_supported);
        let mut batch = RequestBatch::default();
        replica_sm::online_replicas(&ctx, started, &active.topics, &mut batch);
        partition_sm::trigger_online_partition_state_change(&ctx, &mut active.topics, &mut batch)
            .await?;
        if let Some(channel) = &active.channel {
            batch.send(
                channel,
                active.epoch,
                &active.live_brokers,
                &active.topics,
                &deleting,
            );
        }
        self.create_new_partitions().await
    }

    /// Kafka's `onBrokerFailure` (`onReplicasBecomeOffline`): partitions the dead brokers led
    /// get an offline-partition election, the dead brokers' replicas leave the ISRs, and the
    /// changes go out as LeaderAndIsr to the remaining live replicas and UpdateMetadata (with
    /// the offline replicas) to every live broker — without partitions when nothing changed,
    /// so the brokers still learn the new broker list.
    async fn on_broker_failure(&mut self, dead: &BTreeSet<i32>) -> Result<(), KafkaZkError> {
        info!(brokers = ?dead, "broker failure");
        let settings = self.election_settings().await;
        let Some(active) = &mut self.active else {
            return Ok(());
        };
        let deleting = active.deletion.queued();
        let ctx = StateChangeContext::clean(
            &self.zk,
            active.epoch,
            active.epoch_zk_version,
            &active.live_brokers,
            &deleting,
        )
        .with_unclean(settings.unclean_default, settings.leader_recovery_supported);
        let mut batch = RequestBatch::default();
        partition_sm::trigger_online_partition_state_change(&ctx, &mut active.topics, &mut batch)
            .await?;
        replica_sm::offline_replicas(&ctx, dead, &mut active.topics, &mut batch).await?;
        batch.add_update_metadata(active.live_brokers.keys().copied(), []);
        if let Some(channel) = &active.channel {
            batch.send(
                channel,
                active.epoch,
                &active.live_brokers,
                &active.topics,
                &deleting,
            );
        }
        Ok(())
    }

    /// The state machines' startup on failover (Kafka's `replicaStateMachine.startup()` and
    /// `partitionStateMachine.startup()`): every live replica gets LeaderAndIsr with its
    /// partition's current state, offline partitions get an election and replicas on dead
    /// brokers leave the ISRs; the requests go out as one batch. Kafka shrinks the ISRs
    /// before electing, which writes a partition whose leader died twice (leader −1, then
    /// the new leader: epoch + 2); electing first, as `onBrokerFailure` does, reaches the
    /// same leader and ISR with one write (epoch + 1).
    async fn start_state_machines(&mut self) -> Result<(), KafkaZkError> {
        let settings = self.election_settings().await;
        let Some(active) = &mut self.active else {
            return Ok(());
        };
        let deleting = active.deletion.queued();
        let ctx = StateChangeContext::clean(
            &self.zk,
            active.epoch,
            active.epoch_zk_version,
            &active.live_brokers,
            &deleting,
        )
        .with_unclean(settings.unclean_default, settings.leader_recovery_supported);
        let live_ids: BTreeSet<i32> = active.live_brokers.keys().copied().collect();
        let dead_ids: BTreeSet<i32> = active
            .topics
            .values()
            .flat_map(|t| t.assignment.values().flatten())
            .filter(|r| !ctx.is_live(**r))
            .copied()
            .collect();
        let mut batch = RequestBatch::default();
        replica_sm::online_replicas(&ctx, &live_ids, &active.topics, &mut batch);
        partition_sm::trigger_online_partition_state_change(&ctx, &mut active.topics, &mut batch)
            .await?;
        replica_sm::offline_replicas(&ctx, &dead_ids, &mut active.topics, &mut batch).await?;
        if let Some(channel) = &active.channel {
            batch.send(
                channel,
                active.epoch,
                &active.live_brokers,
                &active.topics,
                &deleting,
            );
        }
        Ok(())
    }

    /// Election settings from the broker's current config: `unclean.leader.election.enable`
    /// (topics may override it) and whether the IBP knows leader recovery (3.2-IV0+).
    pub(super) async fn election_settings(&self) -> ElectionSettings {
        match self.majordomo.effective_config().await {
            Ok(config) => ElectionSettings {
                unclean_default: config
                    .get_bool(UNCLEAN_LEADER_ELECTION_ENABLE)
                    .unwrap_or(false),
                leader_recovery_supported: ProtocolVersion::parse("3.2-IV0")
                    .is_ok_and(|v| config.ibp().is_at_least(v)),
            },
            Err(_) => ElectionSettings::default(),
        }
    }

    /// Kafka's `triggerOnlinePartitionStateChange` for New partitions: topics (not being
    /// deleted) with partitions that still have no state get them created, if a replica is
    /// live now.
    async fn create_new_partitions(&mut self) -> Result<(), KafkaZkError> {
        let Some(active) = &self.active else {
            return Ok(());
        };
        let pending: Vec<String> = active
            .topics
            .iter()
            .filter(|(name, t)| {
                !active.deletion.is_queued(name) && t.states.len() < t.assignment.len()
            })
            .map(|(name, _)| name.clone())
            .collect();
        if pending.is_empty() {
            return Ok(());
        }
        self.on_new_partition_creation(&pending).await
    }

    /// Logs a failed event and resigns if the failure says the controller moved.
    pub(super) async fn after(&mut self, result: Result<(), KafkaZkError>, what: &str) {
        if let Err(e) = result {
            warn!(error = %e, "could not {what}");
            if matches!(e, KafkaZkError::ControllerMoved(_)) {
                self.maybe_resign().await;
            }
        }
    }

    /// Drops controller-only state. (Child watches cannot be removed individually with this
    /// client; events arriving after resignation are ignored because `active` is `None`.)
    async fn on_resignation(&mut self) {
        self.next_rebalance = None;
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

/// What a `/brokers/ids` change brought: new ids, ids gone, and ids registered again under
/// a new session (larger czxid).
#[derive(Debug, Default)]
struct BrokerChanges {
    new: BTreeSet<i32>,
    dead: BTreeSet<i32>,
    bounced: BTreeSet<i32>,
}

/// See [`KafkaController::election_settings`].
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct ElectionSettings {
    pub(super) unclean_default: bool,
    pub(super) leader_recovery_supported: bool,
}

/// One topic as the controller knows it: id, assignment and the partitions' leadership.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ControllerTopic {
    pub topic_id: Uuid,
    /// Partition → replicas (preference order); while a partition is reassigned, its full
    /// replica set (target and original replicas).
    pub assignment: BTreeMap<i32, Vec<i32>>,
    /// Partition → state znode contents and its data version (the partition's `zkVersion`).
    pub states: BTreeMap<i32, (PartitionStateZNode, i32)>,
    /// Partitions being reassigned → the replicas added and removed (Kafka's
    /// `partitionsBeingReassigned`, persisted as the assignment's adding/removing lists).
    pub reassignments: BTreeMap<i32, PartitionReassignment>,
}

impl KafkaController {
    /// Reads `/brokers/topics` (arming the child watch) and loads every topic's assignment
    /// (adding a topic id where missing) and partition states (Kafka's
    /// `initializeControllerContext`). New topics' partitions without a state are created.
    async fn load_topics(&mut self) -> Result<(), KafkaZkError> {
        let names = self.get_topics_watched().await?;
        let mut fresh = Vec::new();
        for name in names {
            let Some(topic) = self.read_topic(&name).await? else {
                continue;
            };
            let missing = topic.states.len() < topic.assignment.len();
            if let Some(active) = &mut self.active {
                active.topics.insert(name.clone(), topic);
            }
            if missing {
                fresh.push(name);
            }
        }
        if !fresh.is_empty() {
            self.on_new_partition_creation(&fresh).await?;
        }
        Ok(())
    }

    async fn get_topics_watched(&self) -> Result<Vec<String>, KafkaZkError> {
        match self
            .zk
            .zk()
            .get_children(data::BROKER_TOPICS_PATH, true)
            .await
        {
            Ok(c) => Ok(c),
            Err(e) if e.is_no_node() => {
                self.zk
                    .zk()
                    .create_recursive(data::BROKER_TOPICS_PATH)
                    .await?;
                Ok(self
                    .zk
                    .zk()
                    .get_children(data::BROKER_TOPICS_PATH, true)
                    .await?)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Reads one topic's assignment (writing a new topic id, fenced, if it has none) and its
    /// existing partition states, arming the topic's data watch (partition modifications).
    /// `None` when the topic vanished.
    async fn read_topic(&self, name: &str) -> Result<Option<ControllerTopic>, KafkaZkError> {
        let Some(active) = &self.active else {
            return Ok(None);
        };
        let path = data::topic_path(name);
        let Some((bytes, stat)) = self.zk.zk().get_data_opt(&path, true).await? else {
            return Ok(None);
        };
        let mut assignment =
            TopicAssignmentZNode::decode(&bytes).map_err(|e| KafkaZkError::bad_data(&path, e))?;
        let topic_id = match assignment.topic_id {
            Some(id) => id,
            None => {
                let id = Uuid::new_v4();
                assignment.topic_id = Some(id);
                self.zk
                    .controller_write(
                        active.epoch_zk_version,
                        MultiOp::SetData {
                            path: path.clone(),
                            data: assignment.encode(),
                            version: Some(stat.version),
                        },
                    )
                    .await?;
                info!(topic = name, topic_id = %data::encode_topic_id(&id), "assigned a topic id");
                id
            }
        };
        let mut states = BTreeMap::new();
        for &p in assignment.partitions.keys() {
            let state_path = data::topic_partition_state_path(name, p);
            if let Some((bytes, stat)) = self.zk.zk().get_data_opt(&state_path, false).await? {
                let state = PartitionStateZNode::decode(&bytes)
                    .map_err(|e| KafkaZkError::bad_data(&state_path, e))?;
                states.insert(p, (state, stat.version));
            }
        }
        let mut reassignments: BTreeMap<i32, PartitionReassignment> = BTreeMap::new();
        for (p, adding) in &assignment.adding_replicas {
            reassignments.entry(*p).or_default().adding = adding.clone();
        }
        for (p, removing) in &assignment.removing_replicas {
            reassignments.entry(*p).or_default().removing = removing.clone();
        }
        reassignments.retain(|p, _| assignment.partitions.contains_key(p));
        Ok(Some(ControllerTopic {
            topic_id,
            assignment: assignment.partitions,
            states,
            reassignments,
        }))
    }

    /// `/brokers/topics` children changed: re-arm the watch, load the new topics and create
    /// their partitions (Kafka's `TopicChange` → `onNewPartitionCreation`).
    async fn on_topic_change(&mut self) {
        if !self.is_active() {
            return;
        }
        let result: Result<(), KafkaZkError> = async {
            let names = self.get_topics_watched().await?;
            let known: Vec<String> = self
                .active
                .as_ref()
                .map(|a| a.topics.keys().cloned().collect())
                .unwrap_or_default();
            // Topics whose znode is gone (Kafka's `controllerContext.removeTopic`).
            let removed: Vec<&String> = known.iter().filter(|k| !names.contains(k)).collect();
            if !removed.is_empty() {
                info!(topics = ?removed, "topics removed from /brokers/topics");
                if let Some(active) = &mut self.active {
                    for name in &removed {
                        active.topics.remove(*name);
                    }
                }
            }
            let new: Vec<String> = names.into_iter().filter(|n| !known.contains(n)).collect();
            let mut created = Vec::new();
            for name in new {
                if let Some(topic) = self.read_topic(&name).await? {
                    info!(topic = %name, partitions = topic.assignment.len(), "new topic");
                    if let Some(active) = &mut self.active {
                        active.topics.insert(name.clone(), topic);
                    }
                    created.push(name);
                }
            }
            if !created.is_empty() {
                self.on_new_partition_creation(&created).await?;
            }
            Ok(())
        }
        .await;
        if let Err(e) = result {
            warn!(error = %e, "could not process a /brokers/topics change");
            if matches!(e, KafkaZkError::ControllerMoved(_)) {
                self.maybe_resign().await;
            }
        }
    }

    /// Kafka's `onNewPartitionCreation` for partitions without a state: leader = first live
    /// replica in assignment order, ISR = live replicas, leader epoch 0; the state znode is
    /// created by a fenced write; then LeaderAndIsr (isNew) to the replicas and UpdateMetadata
    /// to every live broker.
    async fn on_new_partition_creation(&mut self, topics: &[String]) -> Result<(), KafkaZkError> {
        let Some(active) = &self.active else {
            return Ok(());
        };
        let epoch = active.epoch;
        let epoch_zk_version = active.epoch_zk_version;
        let mut created: Vec<(String, i32, PartitionStateZNode, i32)> = Vec::new();
        for name in topics {
            let Some(topic) = active.topics.get(name) else {
                continue;
            };
            for (&p, replicas) in &topic.assignment {
                if topic.states.contains_key(&p) {
                    continue;
                }
                let live: Vec<i32> = replicas
                    .iter()
                    .copied()
                    .filter(|r| active.live_brokers.contains_key(r))
                    .collect();
                let Some(&leader) = live.first() else {
                    warn!(topic = %name, partition = p, ?replicas, "no live replica: partition stays new");
                    continue;
                };
                let state = PartitionStateZNode {
                    leader,
                    leader_epoch: 0,
                    isr: live,
                    controller_epoch: epoch,
                    leader_recovery_state: 0,
                };
                self.zk
                    .zk()
                    .create_recursive(&data::topic_partition_path(name, p))
                    .await?;
                let state_path = data::topic_partition_state_path(name, p);
                match self
                    .zk
                    .controller_write(
                        epoch_zk_version,
                        MultiOp::Create {
                            path: state_path.clone(),
                            data: state.encode(),
                            mode: CreateMode::Persistent,
                        },
                    )
                    .await
                {
                    Ok(_) => created.push((name.clone(), p, state, 0)),
                    Err(KafkaZkError::Zk(e)) if e.is_node_exists() => {
                        // Already initialized (e.g. by a previous controller): take it.
                        if let Some((bytes, stat)) =
                            self.zk.zk().get_data_opt(&state_path, false).await?
                        {
                            if let Ok(s) = PartitionStateZNode::decode(&bytes) {
                                created.push((name.clone(), p, s, stat.version));
                            }
                        }
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        let Some(active) = &mut self.active else {
            return Ok(());
        };
        for (name, p, state, version) in &created {
            if let Some(t) = active.topics.get_mut(name) {
                t.states.insert(*p, (state.clone(), *version));
            }
        }
        if created.is_empty() {
            return Ok(());
        }
        info!(
            partitions = ?created.iter().map(|(t, p, s, _)| format!("{t}-{p} leader {}", s.leader)).collect::<Vec<_>>(),
            "new partitions online"
        );
        // LeaderAndIsr (isNew) to every live replica's broker, UpdateMetadata to every
        // live broker.
        let mut batch = RequestBatch::default();
        for (name, p, _, _) in &created {
            let replicas = active
                .topics
                .get(name)
                .and_then(|t| t.assignment.get(p))
                .cloned()
                .unwrap_or_default();
            batch.add_leader_and_isr(
                replicas,
                &active.topics,
                name,
                *p,
                true,
                &active.live_brokers,
            );
        }
        if let Some(channel) = &active.channel {
            batch.send(
                channel,
                epoch,
                &active.live_brokers,
                &active.topics,
                &active.deletion.queued(),
            );
        }
        Ok(())
    }
}

/// Partition additions (Kafka's `processPartitionModifications`).
impl KafkaController {
    /// `/brokers/topics/<topic>` changed: re-read it (re-arming the watch); partitions the
    /// controller does not know yet are created like a new topic's. While the topic is queued
    /// for deletion the additions are undone by writing back the known assignment.
    async fn on_partition_modifications(&mut self, topic: &str) {
        if !self.is_active() {
            return;
        }
        let result: Result<(), KafkaZkError> = async {
            let path = data::topic_path(topic);
            let Some((bytes, _)) = self.zk.zk().get_data_opt(&path, true).await? else {
                return Ok(());
            };
            let znode = TopicAssignmentZNode::decode(&bytes)
                .map_err(|e| KafkaZkError::bad_data(&path, e))?;
            let Some(active) = &mut self.active else {
                return Ok(());
            };
            // A topic not loaded yet is the `/brokers/topics` watch's business.
            let Some(known) = active.topics.get_mut(topic) else {
                return Ok(());
            };
            let added: BTreeMap<i32, Vec<i32>> = znode
                .partitions
                .iter()
                .filter(|(p, _)| !known.assignment.contains_key(p))
                .map(|(p, r)| (*p, r.clone()))
                .collect();
            if added.is_empty() {
                return Ok(());
            }
            if active.deletion.is_queued(topic) {
                warn!(%topic, partitions = ?added.keys().collect::<Vec<_>>(), "skipping partitions added to a topic being deleted; restoring its assignment");
                let restored = TopicAssignmentZNode {
                    partitions: known.assignment.clone(),
                    topic_id: Some(known.topic_id),
                    ..znode
                };
                let v = active.epoch_zk_version;
                self.zk
                    .controller_write(
                        v,
                        MultiOp::SetData {
                            path,
                            data: restored.encode(),
                            version: None,
                        },
                    )
                    .await?;
                return Ok(());
            }
            info!(%topic, partitions = ?added, "new partitions to be added");
            known.assignment.extend(added);
            self.on_new_partition_creation(&[topic.to_string()]).await
        }
        .await;
        self.after(result, "process a partition modification").await;
    }
}

/// Topic deletion (Kafka's `processTopicDeletion` and `TopicDeletionManager`).
impl KafkaController {
    /// Reads `/admin/delete_topics` (arming the child watch): entries for unknown topics are
    /// removed; with `delete.topic.enable=false` every entry is removed; the rest are queued.
    async fn load_topic_deletions(&mut self) -> Result<(), KafkaZkError> {
        let zk = self.zk.zk();
        let children = match zk.get_children(data::DELETE_TOPICS_PATH, true).await {
            Ok(c) => c,
            Err(e) if e.is_no_node() => {
                zk.create_recursive(data::DELETE_TOPICS_PATH).await?;
                zk.get_children(data::DELETE_TOPICS_PATH, true).await?
            }
            Err(e) => return Err(e.into()),
        };
        let Some(active) = &self.active else {
            return Ok(());
        };
        let (existing, unknown): (Vec<String>, Vec<String>) = children
            .into_iter()
            .partition(|t| active.topics.contains_key(t));
        if !unknown.is_empty() {
            warn!(topics = ?unknown, "ignoring requests to delete non-existing topics");
            self.delete_topic_deletions(&unknown).await?;
        }
        let Some(active) = &mut self.active else {
            return Ok(());
        };
        if existing.is_empty() {
            return Ok(());
        }
        if !active.delete_topic_enable {
            info!(topics = ?existing, "removing deletion requests since delete.topic.enable is false");
            return self.delete_topic_deletions(&existing).await;
        }
        let queued: Vec<&String> = existing
            .iter()
            .filter(|t| active.deletion.enqueue(t))
            .collect();
        if !queued.is_empty() {
            info!(topics = ?queued, "starting topic deletion");
        }
        Ok(())
    }

    async fn delete_topic_deletions(&self, topics: &[String]) -> Result<(), KafkaZkError> {
        for t in topics {
            self.delete_fenced(&data::delete_topic_path(t)).await?;
        }
        Ok(())
    }

    /// `/admin/delete_topics` children changed.
    async fn on_topic_deletion(&mut self) {
        if !self.is_active() {
            return;
        }
        let mut result = self.load_topic_deletions().await;
        if result.is_ok() {
            result = self.resume_deletions().await;
        }
        self.after(result, "process /admin/delete_topics").await;
    }

    /// Asks the [`TopicDeletionManager`] what to do and does it, in Kafka's order:
    /// UpdateMetadata (leader −2) to every live broker, StopReplica(delete, leader epoch −2)
    /// to the replicas' brokers (answers come back as events), and for finished topics the
    /// removal of `/brokers/topics/<t>` (recursively), `/config/topics/<t>` and
    /// `/admin/delete_topics/<t>`.
    pub(super) async fn resume_deletions(&mut self) -> Result<(), KafkaZkError> {
        let Some(active) = &mut self.active else {
            return Ok(());
        };
        let work = active.deletion.resume(&active.topics, &active.live_brokers);
        if let Some(channel) = &active.channel {
            if !work.update_metadata.is_empty() {
                let targets: Vec<i32> = active.live_brokers.keys().copied().collect();
                let wanted = &work.update_metadata;
                let states = update_metadata_states(
                    &active.topics,
                    &active.deletion.queued(),
                    &active.live_brokers,
                    |t, _| wanted.iter().any(|w| w == t),
                );
                channel.send_update_metadata(active.epoch, &active.live_brokers, &targets, &states);
            }
            for (broker_id, partitions) in work.stop_replica {
                let broker_epoch = active.live_brokers.get(&broker_id).map_or(-1, |b| b.epoch);
                let tx = self.internal_tx.clone();
                let controller_epoch = active.epoch;
                let request: Vec<(String, i32, i32)> = partitions
                    .iter()
                    .map(|(t, p)| (t.clone(), *p, EPOCH_DURING_DELETE))
                    .collect();
                channel.send_stop_replica(
                    controller_epoch,
                    &active.live_brokers,
                    broker_id,
                    request,
                    true,
                    move |outcome| {
                        let _ = tx.send(ControllerEvent::TopicDeletionStopReplicaResponse {
                            controller_epoch,
                            broker_id,
                            broker_epoch,
                            partitions,
                            outcome,
                        });
                    },
                );
            }
        }
        for topic in work.complete {
            self.complete_delete_topic(&topic).await?;
        }
        Ok(())
    }

    /// A deletion StopReplica's answer: record it and resume (Kafka's
    /// `TopicDeletionStopReplicaResponseReceived`). Answers to an earlier epoch are dropped.
    async fn on_deletion_stop_replica_response(
        &mut self,
        controller_epoch: i32,
        broker_id: i32,
        broker_epoch: i64,
        partitions: Vec<(String, i32)>,
        outcome: StopReplicaOutcome,
    ) {
        let Some(active) = &mut self.active else {
            return;
        };
        if active.epoch != controller_epoch {
            return;
        }
        let results: Vec<((String, i32), bool)> = match outcome {
            Ok(errors) => errors
                .into_iter()
                .map(|(tp, code)| (tp, code == 0))
                .collect(),
            Err(e) => {
                warn!(broker_id, error = %e, "StopReplica for topic deletion not delivered");
                partitions.into_iter().map(|tp| (tp, false)).collect()
            }
        };
        active
            .deletion
            .on_stop_replica_response(broker_id, broker_epoch, &results);
        let result = self.resume_deletions().await;
        self.after(result, "resume topic deletion").await;
    }

    /// Kafka's `completeDeleteTopic`: the topic's znodes go (fenced), then the controller
    /// forgets it.
    async fn complete_delete_topic(&mut self, topic: &str) -> Result<(), KafkaZkError> {
        self.delete_recursive_fenced(&data::topic_path(topic))
            .await?;
        self.delete_fenced(&data::config_entity_path(ConfigType::Topic, topic))
            .await?;
        self.delete_fenced(&data::delete_topic_path(topic)).await?;
        if let Some(active) = &mut self.active {
            active.topics.remove(topic);
            active.deletion.remove(topic);
        }
        info!(%topic, "deletion of topic successfully completed");
        Ok(())
    }

    /// Deletes one znode with a controller-epoch check; already gone is fine.
    async fn delete_fenced(&self, path: &str) -> Result<(), KafkaZkError> {
        let Some(active) = &self.active else {
            return Ok(());
        };
        match self
            .zk
            .controller_write(
                active.epoch_zk_version,
                MultiOp::Delete {
                    path: path.to_string(),
                    version: None,
                },
            )
            .await
        {
            Ok(_) => Ok(()),
            Err(KafkaZkError::Zk(e)) if e.is_no_node() => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Kafka's `deleteRecursive` with the controller-epoch check: children first (depth
    /// first, bounded by the number of znodes found), then the node.
    async fn delete_recursive_fenced(&self, root: &str) -> Result<(), KafkaZkError> {
        // (path, children listed?) — a node is deleted once its children are.
        let mut stack: Vec<(String, bool)> = vec![(root.to_string(), false)];
        // Each znode is pushed once and popped twice at most; a topic has a few hundred.
        let mut budget = 1_000_000usize;
        while let Some((path, expanded)) = stack.pop() {
            budget = budget.saturating_sub(1);
            if budget == 0 {
                return Err(KafkaZkError::bad_data(root, "too many znodes to delete"));
            }
            if expanded {
                self.delete_fenced(&path).await?;
                continue;
            }
            let children = match self.zk.zk().get_children(&path, false).await {
                Ok(c) => c,
                Err(e) if e.is_no_node() => continue,
                Err(e) => return Err(e.into()),
            };
            stack.push((path.clone(), true));
            for c in children {
                stack.push((format!("{path}/{c}"), false));
            }
        }
        Ok(())
    }
}

/// Sleeps until `at`; never wakes without one.
async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
