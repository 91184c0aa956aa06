//! The task that owns the [`GroupCoordinator`] state machine and its handle
//! ([`GroupCoordinatorHandle`]) for the request handlers: requests arrive as messages with a
//! oneshot for the answer and are handled one at a time (Kafka's per-group locks become this
//! single owner); delayed operations fire from a sleep on the earliest deadline; role changes
//! of `__consumer_offsets` partitions come from the ReplicaManager's leadership channel and
//! start a load (the partition's log read in a blocking task) or an unload; partitions of
//! deleted topics (from UpdateMetadata) have their offsets purged; appends that must
//! be replicated are waited for in spawned tasks that report back; offset expiration runs
//! every `offsets.retention.check.interval.ms`.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::ResponseError;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{debug, error, info, warn};

use super::config::{GroupConfig, OffsetConfig};
use super::group_coordinator::GroupCoordinator;
use super::group_metadata_manager::{Appended, LoadedRecord, OffsetsLog};
use super::results::*;
use crate::cluster::{TopicPartition, GROUP_METADATA_TOPIC_NAME};
use crate::config::KafkaConfig;
use crate::log::log_manager::{lock_log, now_ms};
use crate::record::{
    build_batch_with, decode_records, BatchIter, BatchOptions, CompressionType, ProducerInfo,
    SimpleRecord,
};
use crate::server::apis::produce::wait_for_high_watermark;
use crate::server::partition::Partition;
use crate::server::replica_manager::{LeadershipChange, ReplicaManager};
use crate::zk::admin_zk_client::get_topic_assignment;
use crate::zk::KafkaZkClient;

/// The requests the task serves.
enum Command {
    Join(JoinGroupParams, JoinResponder),
    Sync(SyncGroupParams, SyncResponder),
    Heartbeat(HeartbeatParams, oneshot::Sender<Option<ResponseError>>),
    Leave(
        String,
        Vec<LeavingMember>,
        oneshot::Sender<LeaveGroupResult>,
    ),
    Commit(CommitOffsetsParams, CommitResponder),
    Fetch {
        group_id: String,
        require_stable: bool,
        partitions: Option<Vec<TopicPartition>>,
        respond: oneshot::Sender<Result<Vec<(TopicPartition, FetchedOffset)>, ResponseError>>,
    },
    List {
        states: Vec<String>,
        types: Vec<String>,
        respond: oneshot::Sender<(Option<ResponseError>, Vec<GroupOverview>)>,
    },
    Describe(
        Vec<String>,
        oneshot::Sender<Vec<(Option<ResponseError>, GroupSummary)>>,
    ),
    DeleteGroups(
        Vec<String>,
        oneshot::Sender<Vec<(String, Option<ResponseError>)>>,
    ),
    DeleteOffsets {
        group_id: String,
        partitions: Vec<TopicPartition>,
        respond: oneshot::Sender<DeleteOffsetsResults>,
    },
    /// Partitions of deleted topics (an UpdateMetadata with leader −2): their offsets go.
    PartitionsDeleted(Vec<TopicPartition>),
    /// A partition's records were read for a load.
    Loaded {
        partition: i32,
        epoch: i32,
        records: Result<Vec<LoadedRecord>, String>,
    },
    /// A replication wait ended.
    Replicated {
        id: u64,
        error: Option<ResponseError>,
    },
    Shutdown(oneshot::Sender<()>),
}

/// What the request handlers hold: cheap to clone. When the task is gone (shut down), every
/// call answers COORDINATOR_NOT_AVAILABLE.
#[derive(Clone, Debug)]
pub struct GroupCoordinatorHandle {
    tx: mpsc::UnboundedSender<Command>,
    partition_count: i32,
    offset_config: OffsetConfig,
    zk: Option<KafkaZkClient>,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Command")
    }
}

const GONE: ResponseError = ResponseError::CoordinatorNotAvailable;

impl GroupCoordinatorHandle {
    /// The `__consumer_offsets` partition of `group_id`.
    pub fn partition_for(&self, group_id: &str) -> i32 {
        super::partitioning::partition_for(group_id, self.partition_count)
    }

    pub fn partition_count(&self) -> i32 {
        self.partition_count
    }

    pub fn offset_config(&self) -> &OffsetConfig {
        &self.offset_config
    }

    /// ZooKeeper, for the version-0 offset APIs (offsets stored in `/consumers`).
    pub fn zk(&self) -> Option<&KafkaZkClient> {
        self.zk.as_ref()
    }

    async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Command) -> Option<T> {
        let (tx, rx) = oneshot::channel();
        self.tx.send(make(tx)).ok()?;
        rx.await.ok()
    }

    pub async fn join_group(&self, p: JoinGroupParams) -> JoinGroupResult {
        let member_id = p.member_id.clone();
        self.ask(|tx| Command::Join(p, tx))
            .await
            .unwrap_or_else(|| JoinGroupResult::error(&member_id, GONE))
    }

    pub async fn sync_group(&self, p: SyncGroupParams) -> SyncGroupResult {
        self.ask(|tx| Command::Sync(p, tx))
            .await
            .unwrap_or_else(|| SyncGroupResult::error(GONE))
    }

    pub async fn heartbeat(&self, p: HeartbeatParams) -> Option<ResponseError> {
        self.ask(|tx| Command::Heartbeat(p, tx))
            .await
            .unwrap_or(Some(GONE))
    }

    pub async fn leave_group(
        &self,
        group_id: String,
        members: Vec<LeavingMember>,
    ) -> LeaveGroupResult {
        self.ask(|tx| Command::Leave(group_id, members, tx))
            .await
            .unwrap_or(LeaveGroupResult {
                error: Some(GONE),
                members: Vec::new(),
            })
    }

    pub async fn commit_offsets(&self, p: CommitOffsetsParams) -> CommitResults {
        let partitions: Vec<TopicPartition> = p.offsets.iter().map(|(tp, _)| tp.clone()).collect();
        self.ask(|tx| Command::Commit(p, tx))
            .await
            .unwrap_or_else(|| partitions.into_iter().map(|tp| (tp, Some(GONE))).collect())
    }

    pub async fn fetch_offsets(
        &self,
        group_id: String,
        require_stable: bool,
        partitions: Option<Vec<TopicPartition>>,
    ) -> Result<Vec<(TopicPartition, FetchedOffset)>, ResponseError> {
        self.ask(|respond| Command::Fetch {
            group_id,
            require_stable,
            partitions,
            respond,
        })
        .await
        .unwrap_or(Err(GONE))
    }

    pub async fn list_groups(
        &self,
        states: Vec<String>,
        types: Vec<String>,
    ) -> (Option<ResponseError>, Vec<GroupOverview>) {
        self.ask(|respond| Command::List {
            states,
            types,
            respond,
        })
        .await
        .unwrap_or((Some(GONE), Vec::new()))
    }

    pub async fn describe_groups(
        &self,
        group_ids: Vec<String>,
    ) -> Vec<(Option<ResponseError>, GroupSummary)> {
        let n = group_ids.len();
        self.ask(|tx| Command::Describe(group_ids, tx))
            .await
            .unwrap_or_else(|| vec![(Some(GONE), GroupSummary::empty()); n])
    }

    pub async fn delete_groups(
        &self,
        group_ids: Vec<String>,
    ) -> Vec<(String, Option<ResponseError>)> {
        let ids = group_ids.clone();
        self.ask(|tx| Command::DeleteGroups(group_ids, tx))
            .await
            .unwrap_or_else(|| ids.into_iter().map(|g| (g, Some(GONE))).collect())
    }

    pub async fn delete_offsets(
        &self,
        group_id: String,
        partitions: Vec<TopicPartition>,
    ) -> DeleteOffsetsResults {
        self.ask(|respond| Command::DeleteOffsets {
            group_id,
            partitions,
            respond,
        })
        .await
        .unwrap_or((Some(GONE), Vec::new()))
    }

    /// Kafka's `onPartitionsDeleted`: the committed offsets of these partitions (of deleted
    /// topics) are removed from every group this broker coordinates, with tombstones. Does
    /// not wait for the task.
    pub fn on_partitions_deleted(&self, partitions: Vec<TopicPartition>) {
        if partitions.is_empty() {
            return;
        }
        if self
            .tx
            .send(Command::PartitionsDeleted(partitions))
            .is_err()
        {
            debug!("group coordinator gone; deleted partitions not purged");
        }
    }

    /// Stops the task (Kafka's `GroupCoordinator.shutdown`): parked requests are answered
    /// NOT_COORDINATOR. Bounded by `timeout`.
    pub async fn shutdown(&self, timeout: Duration) {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Command::Shutdown(tx)).is_ok()
            && tokio::time::timeout(timeout, rx).await.is_err()
        {
            warn!("group coordinator did not shut down within {timeout:?}");
        }
    }
}

/// The number of `__consumer_offsets` partitions: the topic's in ZooKeeper if it exists, else
/// `offsets.topic.num.partitions` (Kafka reads it once, at coordinator startup).
pub async fn offsets_partition_count(zk: &KafkaZkClient, offset_config: &OffsetConfig) -> i32 {
    match get_topic_assignment(zk, GROUP_METADATA_TOPIC_NAME).await {
        Ok(Some((assignment, _))) if !assignment.partitions.is_empty() => {
            i32::try_from(assignment.partitions.len()).unwrap_or(offset_config.topic_num_partitions)
        }
        Ok(_) => offset_config.topic_num_partitions,
        Err(e) => {
            warn!(error = %e, "could not read the __consumer_offsets partition count; using offsets.topic.num.partitions");
            offset_config.topic_num_partitions
        }
    }
}

/// The broker's partitions as the coordinator's log.
struct ReplicaManagerLog {
    replica_manager: Arc<ReplicaManager>,
    codec: CompressionType,
}

impl OffsetsLog for ReplicaManagerLog {
    fn append(
        &self,
        partition: i32,
        records: &[SimpleRecord],
        required_acks: i16,
        now: i64,
    ) -> Result<Appended, ResponseError> {
        let tp = TopicPartition::new(GROUP_METADATA_TOPIC_NAME, partition);
        let Some(p) = self.replica_manager.get_partition(&tp) else {
            return Err(ResponseError::NotLeaderOrFollower);
        };
        let batch = build_batch_with(
            self.codec,
            0,
            ProducerInfo::NONE,
            records,
            &BatchOptions::default(),
        )
        .map_err(|e| {
            error!(error = %e, "could not build a __consumer_offsets batch");
            ResponseError::UnknownServerError
        })?;
        let mut batch = BytesMut::from(&batch[..]);
        let info = p
            .append_records_to_leader(&mut batch, required_acks, now)
            .map_err(|e| e.code)?;
        let next_offset = info.last_offset + 1;
        Ok(Appended {
            base_offset: info.first_offset,
            next_offset,
            replicated: p.offsets().high_watermark >= next_offset,
        })
    }
}

/// Starts the coordinator task. `leadership` is the ReplicaManager's leadership channel.
pub fn start(
    broker_id: i32,
    config: &KafkaConfig,
    partition_count: i32,
    replica_manager: Arc<ReplicaManager>,
    zk: Option<KafkaZkClient>,
    leadership: mpsc::UnboundedReceiver<LeadershipChange>,
) -> (GroupCoordinatorHandle, JoinHandle<()>) {
    let group_config = GroupConfig::from_config(config);
    let offset_config = OffsetConfig::from_config(config);
    let log = ReplicaManagerLog {
        replica_manager: Arc::clone(&replica_manager),
        codec: offset_config.compression,
    };
    let mut coordinator = GroupCoordinator::new(
        broker_id,
        group_config,
        offset_config.clone(),
        partition_count,
        Box::new(log),
    );
    coordinator.startup();
    let (tx, rx) = mpsc::unbounded_channel();
    let handle = GroupCoordinatorHandle {
        tx: tx.clone(),
        partition_count,
        offset_config: offset_config.clone(),
        zk,
    };
    let task = CoordinatorTask {
        coordinator,
        replica_manager,
        offset_config,
        commands: rx,
        self_tx: tx,
        leadership,
    };
    (handle, tokio::spawn(task.run()))
}

struct CoordinatorTask {
    coordinator: GroupCoordinator,
    replica_manager: Arc<ReplicaManager>,
    offset_config: OffsetConfig,
    commands: mpsc::UnboundedReceiver<Command>,
    self_tx: mpsc::UnboundedSender<Command>,
    leadership: mpsc::UnboundedReceiver<LeadershipChange>,
}

impl CoordinatorTask {
    async fn run(mut self) {
        let check =
            Duration::from_millis(self.offset_config.retention_check_interval_ms.max(1) as u64);
        let mut expiry = tokio::time::interval_at(Instant::now() + check, check);
        expiry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut leadership_open = true;
        loop {
            let sleep_for = self.coordinator.next_deadline().map(|d| {
                Duration::from_millis(u64::try_from(d.saturating_sub(now_ms())).unwrap_or(0))
            });
            let timer = async {
                match sleep_for {
                    Some(d) => tokio::time::sleep(d).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                command = self.commands.recv() => match command {
                    Some(Command::Shutdown(done)) => {
                        self.coordinator.shutdown(now_ms());
                        let _ = done.send(());
                        return;
                    }
                    Some(c) => self.handle(c),
                    None => return,
                },
                change = self.leadership.recv(), if leadership_open => match change {
                    Some(change) => self.on_leadership_change(change),
                    None => leadership_open = false,
                },
                _ = timer => self.coordinator.fire_due(now_ms()),
                _ = expiry.tick() => {
                    self.coordinator.cleanup_expired_offsets(now_ms());
                }
            }
            self.spawn_replication_waits();
        }
    }

    fn handle(&mut self, command: Command) {
        let now = now_ms();
        let c = &mut self.coordinator;
        match command {
            Command::Join(p, tx) => c.handle_join_group(p, now, tx),
            Command::Sync(p, tx) => c.handle_sync_group(p, now, tx),
            Command::Heartbeat(p, tx) => reply(tx, c.handle_heartbeat(p, now)),
            Command::Leave(group_id, members, tx) => {
                reply(tx, c.handle_leave_group(&group_id, members, now))
            }
            Command::Commit(p, tx) => c.handle_commit_offsets(p, now, tx),
            Command::Fetch {
                group_id,
                require_stable,
                partitions,
                respond,
            } => reply(
                respond,
                c.handle_fetch_offsets(&group_id, require_stable, partitions.as_deref()),
            ),
            Command::List {
                states,
                types,
                respond,
            } => reply(respond, c.handle_list_groups(&states, &types)),
            Command::Describe(ids, tx) => {
                reply(tx, ids.iter().map(|g| c.handle_describe_group(g)).collect())
            }
            Command::DeleteGroups(ids, tx) => reply(tx, c.handle_delete_groups(&ids, now)),
            Command::DeleteOffsets {
                group_id,
                partitions,
                respond,
            } => reply(
                respond,
                c.handle_delete_offsets(&group_id, &partitions, now),
            ),
            Command::PartitionsDeleted(partitions) => {
                c.handle_deleted_partitions(&partitions, now);
            }
            Command::Loaded {
                partition,
                epoch,
                records,
            } => c.complete_load(partition, epoch, records, now),
            Command::Replicated { id, error } => c.on_replication_result(id, error, now),
            Command::Shutdown(_) => {}
        }
    }

    fn on_leadership_change(&mut self, change: LeadershipChange) {
        let now = now_ms();
        match change {
            LeadershipChange::Leader { tp, leader_epoch }
                if tp.topic == GROUP_METADATA_TOPIC_NAME =>
            {
                if self.coordinator.on_election(tp.partition, leader_epoch) {
                    self.spawn_load(tp, leader_epoch);
                }
            }
            LeadershipChange::Follower { tp, leader_epoch }
                if tp.topic == GROUP_METADATA_TOPIC_NAME =>
            {
                self.coordinator
                    .on_resignation(tp.partition, Some(leader_epoch), now)
            }
            LeadershipChange::Removed { tp } if tp.topic == GROUP_METADATA_TOPIC_NAME => {
                self.coordinator.on_resignation(tp.partition, None, now)
            }
            other => debug!(?other, "role change of another internal topic"),
        }
    }

    /// Reads the partition from its log start to its log end in a blocking task.
    fn spawn_load(&self, tp: TopicPartition, epoch: i32) {
        let partition = self.replica_manager.get_partition(&tp);
        let buffer = self.offset_config.load_buffer_size;
        let tx = self.self_tx.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let records = match partition {
                None => Err(format!("{tp} is not hosted here")),
                Some(p) => tokio::task::spawn_blocking(move || read_partition(&p, buffer))
                    .await
                    .unwrap_or_else(|e| Err(format!("load task failed: {e}"))),
            };
            info!(%tp, epoch, elapsed_ms = started.elapsed().as_millis() as u64, records = records.as_ref().map_or(0, Vec::len), "read __consumer_offsets partition for loading");
            let _ = tx.send(Command::Loaded {
                partition: tp.partition,
                epoch,
                records,
            });
        });
    }

    fn spawn_replication_waits(&mut self) {
        for wait in self.coordinator.take_replication_waits() {
            let tp = TopicPartition::new(GROUP_METADATA_TOPIC_NAME, wait.partition);
            let partition = self.replica_manager.get_partition(&tp);
            let tx = self.self_tx.clone();
            let deadline = Instant::now()
                + Duration::from_millis(self.offset_config.commit_timeout_ms.max(0) as u64);
            tokio::spawn(async move {
                let error = match partition {
                    None => Some(ResponseError::NotLeaderOrFollower),
                    Some(p) => wait_for_high_watermark(&p, wait.required_offset, deadline)
                        .await
                        .err()
                        .map(|e| e.code),
                };
                let _ = tx.send(Command::Replicated { id: wait.id, error });
            });
        }
    }
}

/// Reads every record of an offsets partition, log start to log end. Transactional and
/// control batches are skipped (this broker writes no transactional offset commits).
fn read_partition(partition: &Partition, buffer: usize) -> Result<Vec<LoadedRecord>, String> {
    let log = partition.log();
    let (start, end) = {
        let l = lock_log(log);
        (l.log_start_offset(), l.log_end_offset())
    };
    let mut out = Vec::new();
    let mut offset = start;
    while offset < end {
        let range = lock_log(log)
            .read(offset, buffer.max(1), None, true)
            .map_err(|e| e.to_string())?
            .records;
        let bytes = range.read_to_vec().map_err(|e| e.to_string())?;
        let mut next = offset;
        for item in BatchIter::new(&bytes) {
            // A batch cut at the end of the read: the next read starts with it.
            let Ok((_, batch)) = item else { break };
            next = batch.next_offset();
            if batch.is_control() || batch.is_transactional() {
                continue;
            }
            let records = decode_records(&batch).map_err(|e| e.to_string())?;
            let batch_base = records.first().map_or(batch.base_offset(), |r| r.offset);
            for r in records {
                if r.offset < offset {
                    continue;
                }
                out.push(LoadedRecord {
                    batch_base_offset: batch_base,
                    offset: r.offset,
                    key: r.key.map(Bytes::from),
                    value: r.value.map(Bytes::from),
                });
            }
        }
        if next <= offset {
            return Err(format!(
                "no complete batch at offset {offset} of {} (log end {end})",
                partition.topic_partition()
            ));
        }
        offset = next;
    }
    Ok(out)
}
