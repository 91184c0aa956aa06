//! `ReplicaManager`: the partitions this broker replicates (Kafka's `ReplicaManager`).
//! LeaderAndIsr creates their logs through the `LogManager` (with the topic id) and sets
//! each [`Partition`]'s role; Produce, Fetch, ListOffsets and DeleteRecords find their
//! partition here. Followers fetching from leaders comes with the replication issue; the
//! leader side (follower log end offsets moving the high watermark) lives in `Partition`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use kafka_protocol::messages::leader_and_isr_request::LeaderAndIsrPartitionState;
use kafka_protocol::messages::LeaderAndIsrRequest;
use kafka_protocol::ResponseError;
use tokio::sync::{mpsc, watch};
use tracing::{info, warn};
use uuid::Uuid;

use crate::cluster::{is_internal_topic, TopicPartition};
use crate::log::log_manager::{LogManagerError, LogManagerHandle};
use crate::majordomo::{MajordomoHandle, MajordomoMessage};
use crate::zk::zk_data::ConfigType;
use crate::zk::KafkaZkClient;

use super::metadata_cache::MetadataSnapshot;
pub use super::partition::PartitionRole;
use super::partition::{Partition, PartitionError};
use super::replica_fetcher::{FetcherConfig, LeaderEndpoint, ReplicaFetcherManager};

/// The partition as hosted here, or the error a client request gets for it (Kafka's
/// `getPartitionOrError`): NOT_LEADER_OR_FOLLOWER when the metadata knows the partition
/// (it lives on other brokers), UNKNOWN_TOPIC_OR_PARTITION otherwise.
pub fn hosted_partition(
    replica_manager: Option<&ReplicaManager>,
    snapshot: &MetadataSnapshot,
    tp: &TopicPartition,
) -> Result<Arc<Partition>, PartitionError> {
    if let Some(partition) = replica_manager.and_then(|rm| rm.get_partition(tp)) {
        return Ok(partition);
    }
    Err(if snapshot.partition_states.contains_key(tp) {
        PartitionError::new(
            ResponseError::NotLeaderOrFollower,
            format!("this broker does not host {tp}"),
        )
    } else {
        PartitionError::new(
            ResponseError::UnknownTopicOrPartition,
            format!("this server does not host {tp}"),
        )
    })
}

/// A role change of an internal-topic partition (`__consumer_offsets`,
/// `__transaction_state`), announced to the coordinators (Kafka's `onLeadershipChange`
/// callback of LeaderAndIsr, and the resignation on a StopReplica that deletes the partition).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LeadershipChange {
    /// This broker leads the partition from `leader_epoch` on.
    Leader {
        tp: TopicPartition,
        leader_epoch: i32,
    },
    /// This broker follows (another broker leads, or no one).
    Follower {
        tp: TopicPartition,
        leader_epoch: i32,
    },
    /// The partition was deleted from this broker.
    Removed { tp: TopicPartition },
}

#[derive(Debug, Default)]
struct State {
    /// Highest controller epoch seen in LeaderAndIsr (−1 before the first).
    controller_epoch: i32,
}

/// See the module doc.
#[derive(Debug)]
pub struct ReplicaManager {
    broker_id: i32,
    log_manager: LogManagerHandle,
    state: Mutex<State>,
    /// Read on every produce and fetch; written only by LeaderAndIsr / StopReplica.
    partitions: RwLock<HashMap<TopicPartition, Arc<Partition>>>,
    /// Bumped by every partition on appends and high-watermark moves (long-poll fetches).
    activity: Arc<watch::Sender<u64>>,
    /// Where a new partition's topic overrides are read from before its log is created
    /// (None in tests without ZooKeeper: broker defaults apply).
    topic_configs: Option<TopicConfigSource>,
    /// Where internal-topic role changes go (the group coordinator).
    leadership: Option<mpsc::UnboundedSender<LeadershipChange>>,
    /// Followers fetch from their leaders (None: roles only, as in single-process tests).
    fetchers: Option<ReplicaFetcherManager>,
}

/// Reads `/config/topics/<t>` and hands it to Majordomo, whose topic-config watch the
/// LogManager follows (Kafka's `fetchLogConfig` when a log is created).
#[derive(Debug, Clone)]
pub struct TopicConfigSource {
    pub zk: KafkaZkClient,
    pub majordomo: MajordomoHandle,
}

impl TopicConfigSource {
    async fn load(&self, topic: &str) {
        match self.zk.get_entity_config(ConfigType::Topic, topic).await {
            Ok(config) => {
                let msg = MajordomoMessage::EntityConfigChanged {
                    entity_type: ConfigType::Topic,
                    name: topic.to_string(),
                    config,
                };
                // The metadata round trip returns once Majordomo handled the change (its
                // mailbox is ordered), so the overrides are published before the log exists.
                if self.majordomo.send(msg).await.is_ok() {
                    let _ = self.majordomo.metadata().await;
                }
            }
            Err(e) => warn!(topic, error = %e, "could not read the topic's config overrides"),
        }
    }
}

impl ReplicaManager {
    pub fn new(broker_id: i32, log_manager: LogManagerHandle) -> ReplicaManager {
        ReplicaManager {
            broker_id,
            log_manager,
            state: Mutex::new(State {
                controller_epoch: -1,
            }),
            partitions: RwLock::new(HashMap::new()),
            activity: Arc::new(watch::Sender::new(0)),
            topic_configs: None,
            leadership: None,
            fetchers: None,
        }
    }

    /// Starts replica fetchers for the partitions this broker follows.
    pub fn with_replica_fetchers(mut self, config: FetcherConfig) -> ReplicaManager {
        self.fetchers = Some(ReplicaFetcherManager::new(config));
        self
    }

    /// Lets the replica fetchers follow dynamic `num.replica.fetchers` changes (Kafka's
    /// `resizeFetcherThreadPool`); `None` without fetchers.
    pub fn follow_fetcher_config(
        &self,
        config: watch::Receiver<Arc<crate::config::KafkaConfig>>,
    ) -> Option<tokio::task::JoinHandle<()>> {
        self.fetchers.as_ref().map(|f| f.follow_config(config))
    }

    /// Stops the fetchers left without partitions once a request is applied (Kafka's
    /// `shutdownIdleFetcherThreads`).
    fn shutdown_idle_fetchers(&self) {
        if let Some(f) = &self.fetchers {
            f.shutdown_idle_fetchers();
        }
    }

    /// Stops the replica fetchers (Kafka's `ReplicaManager.shutdown`, before the logs close).
    pub async fn shutdown(&self) {
        if let Some(f) = &self.fetchers {
            f.shutdown().await;
        }
    }

    /// Announces every role change of an internal-topic partition on `listener`.
    pub fn with_leadership_listener(
        mut self,
        listener: mpsc::UnboundedSender<LeadershipChange>,
    ) -> ReplicaManager {
        self.leadership = Some(listener);
        self
    }

    fn announce(&self, change: LeadershipChange) {
        if let Some(tx) = &self.leadership {
            let _ = tx.send(change);
        }
    }

    /// Reads each new partition's topic overrides from ZooKeeper before creating its log.
    pub fn with_topic_config_source(mut self, source: TopicConfigSource) -> ReplicaManager {
        self.topic_configs = Some(source);
        self
    }

    /// Wakes on any append or high-watermark move of any partition (long-poll fetches
    /// re-read when it changes).
    pub fn subscribe_activity(&self) -> watch::Receiver<u64> {
        self.activity.subscribe()
    }

    pub fn broker_id(&self) -> i32 {
        self.broker_id
    }

    pub fn log_manager(&self) -> &LogManagerHandle {
        &self.log_manager
    }

    /// The recorded role of `tp`, if this broker is one of its replicas.
    pub fn partition(&self, tp: &TopicPartition) -> Option<PartitionRole> {
        self.get_partition(tp).map(|p| p.role())
    }

    /// The partition, if this broker is one of its replicas.
    pub fn get_partition(&self, tp: &TopicPartition) -> Option<Arc<Partition>> {
        self.read_partitions().get(tp).cloned()
    }

    /// Every partition this broker replicates, in partition order.
    pub fn all_partitions(&self) -> Vec<Arc<Partition>> {
        let mut all: Vec<_> = self.read_partitions().values().cloned().collect();
        all.sort_by(|a, b| a.topic_partition().cmp(b.topic_partition()));
        all
    }

    fn read_partitions(
        &self,
    ) -> std::sync::RwLockReadGuard<'_, HashMap<TopicPartition, Arc<Partition>>> {
        self.partitions.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write_partitions(
        &self,
    ) -> std::sync::RwLockWriteGuard<'_, HashMap<TopicPartition, Arc<Partition>>> {
        self.partitions.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Forgets the partition (StopReplica); returns it if it was known.
    pub fn remove_partition(&self, tp: &TopicPartition) -> Option<Arc<Partition>> {
        if let Some(f) = &self.fetchers {
            f.remove_partitions(std::slice::from_ref(tp));
        }
        let removed = self.write_partitions().remove(tp);
        if removed.is_some() && is_internal_topic(&tp.topic) {
            self.announce(LeadershipChange::Removed { tp: tp.clone() });
        }
        removed
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Applies one LeaderAndIsr request whose broker-epoch check already passed. Returns the
    /// top-level error (STALE_CONTROLLER_EPOCH) or the per-partition results, in request
    /// order, as (topic, topic id, partition, error).
    pub async fn become_leader_or_follower(
        &self,
        request: &LeaderAndIsrRequest,
        partitions: Vec<(String, Uuid, LeaderAndIsrPartitionState)>,
    ) -> Result<Vec<(String, Uuid, i32, Option<ResponseError>)>, ResponseError> {
        {
            let mut state = self.lock();
            if request.controller_epoch < state.controller_epoch {
                warn!(
                    controller_id = request.controller_id.0,
                    controller_epoch = request.controller_epoch,
                    latest = state.controller_epoch,
                    "ignoring LeaderAndIsr from an older controller epoch"
                );
                return Err(ResponseError::StaleControllerEpoch);
            }
            state.controller_epoch = request.controller_epoch;
        }
        let leaders: HashMap<i32, LeaderEndpoint> = request
            .live_leaders
            .iter()
            .filter_map(|l| {
                Some((
                    l.broker_id.0,
                    LeaderEndpoint {
                        broker_id: l.broker_id.0,
                        host: l.host_name.to_string(),
                        port: u16::try_from(l.port).ok()?,
                    },
                ))
            })
            .collect();
        let mut results = Vec::with_capacity(partitions.len());
        for (topic, topic_id, p) in partitions {
            let tp = TopicPartition::new(topic.clone(), p.partition_index);
            let error = self.apply_partition(&tp, topic_id, &p, &leaders).await;
            results.push((topic, topic_id, p.partition_index, error));
        }
        self.shutdown_idle_fetchers();
        Ok(results)
    }

    async fn apply_partition(
        &self,
        tp: &TopicPartition,
        topic_id: Uuid,
        p: &LeaderAndIsrPartitionState,
        leaders: &HashMap<i32, LeaderEndpoint>,
    ) -> Option<ResponseError> {
        let replicas: Vec<i32> = p.replicas.iter().map(|b| b.0).collect();
        if !replicas.contains(&self.broker_id) {
            warn!(%tp, ?replicas, "LeaderAndIsr for a partition this broker does not replicate");
            return Some(ResponseError::UnknownTopicOrPartition);
        }
        let id = (!topic_id.is_nil()).then_some(topic_id);
        if let Some(existing) = self.partition(tp) {
            if let (Some(old), Some(new)) = (existing.topic_id, id) {
                if old != new {
                    return Some(ResponseError::InconsistentTopicId);
                }
            }
            // Kafka: a leader epoch not above the current one is stale.
            if p.leader_epoch <= existing.leader_epoch {
                info!(%tp, leader_epoch = p.leader_epoch, current = existing.leader_epoch, "ignoring LeaderAndIsr with a stale leader epoch");
                return Some(ResponseError::StaleControllerEpoch);
            }
        }
        if self.get_partition(tp).is_none() {
            if let Some(source) = &self.topic_configs {
                source.load(&tp.topic).await;
            }
        }
        let log = match self.log_manager.get_or_create_log(tp.clone(), id).await {
            Ok(log) => log,
            Err(LogManagerError::InconsistentTopicId { .. }) => {
                return Some(ResponseError::InconsistentTopicId)
            }
            Err(e) => {
                warn!(%tp, error = %e, "could not create the log");
                return Some(ResponseError::KafkaStorageError);
            }
        };
        let role = PartitionRole {
            topic_id: id,
            leader: p.leader.0,
            leader_epoch: p.leader_epoch,
            is_leader: p.leader.0 == self.broker_id,
            isr: p.isr.iter().map(|b| b.0).collect(),
            replicas,
            partition_epoch: p.partition_epoch,
        };
        info!(%tp, leader = role.leader, leader_epoch = role.leader_epoch, is_leader = role.is_leader, "partition role");
        let change = is_internal_topic(&tp.topic).then(|| {
            let (tp, leader_epoch) = (tp.clone(), role.leader_epoch);
            if role.is_leader {
                LeadershipChange::Leader { tp, leader_epoch }
            } else {
                LeadershipChange::Follower { tp, leader_epoch }
            }
        });
        let is_leader = role.is_leader;
        let leader = role.leader;
        let existing = self.get_partition(tp);
        let partition = match existing {
            Some(partition) if Arc::ptr_eq(partition.log(), &log) => {
                partition.set_role(role);
                partition
            }
            _ => {
                let partition = Arc::new(Partition::new(
                    tp.clone(),
                    self.broker_id,
                    log,
                    role,
                    Arc::clone(&self.activity),
                ));
                self.write_partitions()
                    .insert(tp.clone(), Arc::clone(&partition));
                partition
            }
        };
        if let Some(fetchers) = &self.fetchers {
            if is_leader {
                fetchers.remove_partitions(std::slice::from_ref(tp));
            } else {
                // The fetcher first truncates where the log diverges from the new leader's
                // (leader epochs), before fetching.
                match leaders.get(&leader) {
                    Some(endpoint) => fetchers.add_partitions(endpoint, vec![partition]),
                    None => {
                        fetchers.remove_partitions(std::slice::from_ref(tp));
                        info!(%tp, leader, "no live leader to fetch from");
                    }
                }
            }
        }
        if let Some(change) = change {
            self.announce(change);
        }
        None
    }
}

/// One partition of a StopReplica request: leader epoch (−1 = none given, before v3; −2 =
/// the topic is being deleted) and whether to delete the local log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StopPartition {
    pub tp: TopicPartition,
    pub leader_epoch: i32,
    pub delete: bool,
}

/// Kafka's `LeaderAndIsr.EpochDuringDelete`: the controller's StopReplica epoch for a topic
/// queued for deletion.
pub const EPOCH_DURING_DELETE: i32 = -2;
/// Kafka's `LeaderAndIsr.NoEpoch`: StopReplica before v3 carries no leader epoch.
pub const NO_EPOCH: i32 = -1;

/// StopReplica (Kafka's `ReplicaManager.stopReplicas` + `stopPartitions`).
impl ReplicaManager {
    /// Applies one StopReplica request whose broker-epoch check already passed: a controller
    /// epoch below the highest seen → STALE_CONTROLLER_EPOCH; per partition, a log in an
    /// offline dir → KAFKA_STORAGE_ERROR, a leader epoch below ours (unless −1/−2) →
    /// FENCED_LEADER_EPOCH; otherwise the partition is stopped and, with `delete`, forgotten
    /// and its log deleted through the LogManager (also when this broker does not host it,
    /// e.g. a log left from before a restart). Results in request order.
    pub async fn stop_replicas(
        &self,
        controller_id: i32,
        controller_epoch: i32,
        partitions: Vec<StopPartition>,
    ) -> Result<Vec<(TopicPartition, Option<ResponseError>)>, ResponseError> {
        {
            let mut state = self.lock();
            if controller_epoch < state.controller_epoch {
                warn!(
                    controller_id,
                    controller_epoch,
                    latest = state.controller_epoch,
                    "ignoring StopReplica from an older controller epoch"
                );
                return Err(ResponseError::StaleControllerEpoch);
            }
            state.controller_epoch = controller_epoch;
        }
        let offline = self.log_manager.offline_partitions();
        let mut results = Vec::with_capacity(partitions.len());
        for p in partitions {
            let error = if offline.contains(&p.tp) {
                warn!(tp = %p.tp, delete = p.delete, "ignoring StopReplica: the log is in an offline log dir");
                Some(ResponseError::KafkaStorageError)
            } else {
                self.stop_partition(&p).await
            };
            results.push((p.tp, error));
        }
        self.shutdown_idle_fetchers();
        Ok(results)
    }

    async fn stop_partition(&self, p: &StopPartition) -> Option<ResponseError> {
        if let Some(role) = self.partition(&p.tp) {
            let epoch_ok = p.leader_epoch == EPOCH_DURING_DELETE
                || p.leader_epoch == NO_EPOCH
                || p.leader_epoch >= role.leader_epoch;
            if !epoch_ok {
                info!(tp = %p.tp, leader_epoch = p.leader_epoch, current = role.leader_epoch, delete = p.delete, "ignoring StopReplica with an older leader epoch");
                return Some(ResponseError::FencedLeaderEpoch);
            }
        }
        if !p.delete {
            // The partition stays hosted, as in Kafka, but stops fetching.
            if let Some(f) = &self.fetchers {
                f.remove_partitions(std::slice::from_ref(&p.tp));
            }
            info!(tp = %p.tp, "replica stopped");
            return None;
        }
        self.remove_partition(&p.tp);
        match self.log_manager.delete_log(p.tp.clone()).await {
            Ok(had_log) => {
                info!(tp = %p.tp, had_log, "replica stopped and deleted");
                None
            }
            Err(e) => {
                warn!(tp = %p.tp, error = %e, "could not delete the log");
                Some(ResponseError::KafkaStorageError)
            }
        }
    }
}
