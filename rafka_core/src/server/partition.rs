//! `Partition`: one partition this broker replicates (Kafka's `cluster.Partition`): its log,
//! the role the controller gave it (leader, leader epoch, ISR, replicas), the followers' log
//! end offsets as seen by the leader, and the high watermark published to waiters.
//!
//! Appends, reads and offset lookups lock the log only for the file operation itself; the
//! high watermark is published on a `watch` channel so that `acks=all` produces and long-poll
//! fetches wait without polling (Kafka's delayed-operation purgatory, per partition).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use kafka_protocol::ResponseError;
use tokio::sync::watch;
use uuid::Uuid;

use crate::cluster::TopicPartition;
use crate::log::log_manager::lock_log;
use crate::log::{FetchDataInfo, Log, LogAppendInfo, LogError, SharedLog};

/// The role the controller's last LeaderAndIsr gave this broker for the partition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionRole {
    pub topic_id: Option<Uuid>,
    pub leader: i32,
    pub leader_epoch: i32,
    pub is_leader: bool,
    pub isr: Vec<i32>,
    pub replicas: Vec<i32>,
    /// The state znode's version (Kafka's partition epoch): AlterPartition must name it.
    pub partition_epoch: i32,
}

/// An ISR change the leader wants the controller to make (AlterPartition).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IsrChange {
    pub tp: TopicPartition,
    pub topic_id: Option<Uuid>,
    pub leader_epoch: i32,
    pub partition_epoch: i32,
    pub new_isr: Vec<i32>,
}

/// What the leader knows of one follower.
#[derive(Clone, Copy, Debug, Default)]
struct FollowerState {
    log_end_offset: i64,
    /// Last time (ms) its fetch offset reached the leader's log end offset.
    last_caught_up_ms: i64,
}

/// A new leader term's view of its followers (Kafka's `makeLeader`): ISR members count as
/// caught up now, so none is dropped before it had `replica.lag.time.max.ms` to fetch; their
/// log end offsets are unknown until they do.
fn fresh_followers(role: &PartitionRole, local_broker_id: i32) -> BTreeMap<i32, FollowerState> {
    if !role.is_leader {
        return BTreeMap::new();
    }
    let now = crate::log::log_manager::now_ms();
    role.isr
        .iter()
        .filter(|id| **id != local_broker_id)
        .map(|id| {
            (
                *id,
                FollowerState {
                    log_end_offset: -1,
                    last_caught_up_ms: now,
                },
            )
        })
        .collect()
}

/// A produce or fetch refused for the partition, with the Kafka error and a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionError {
    pub code: ResponseError,
    pub message: String,
}

impl PartitionError {
    pub fn new(code: ResponseError, message: impl Into<String>) -> PartitionError {
        PartitionError {
            code,
            message: message.into(),
        }
    }

    /// The Kafka error of a log failure (CORRUPT_MESSAGE, MESSAGE_TOO_LARGE, …).
    pub fn from_log(e: &LogError) -> PartitionError {
        let code = ResponseError::try_from_code(e.kafka_error_code())
            .unwrap_or(ResponseError::UnknownServerError);
        PartitionError::new(code, e.to_string())
    }
}

/// Isolation of a consumer read (Fetch / ListOffsets `isolation_level`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isolation {
    ReadUncommitted,
    /// Up to the last stable offset (= the high watermark while transactions are not served).
    ReadCommitted,
}

impl Isolation {
    pub fn from_level(level: i8) -> Isolation {
        if level == 1 {
            Isolation::ReadCommitted
        } else {
            Isolation::ReadUncommitted
        }
    }
}

/// Who reads: a consumer (bounded by the high watermark) or a follower replica (bounded by
/// the log end offset; its fetch offset is its log end offset).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FetchIsolation {
    Consumer(Isolation),
    Follower(i32),
}

/// Offsets reported with every fetch of the partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PartitionOffsets {
    pub high_watermark: i64,
    pub last_stable_offset: i64,
    pub log_start_offset: i64,
    pub log_end_offset: i64,
}

/// The result of one partition read.
#[derive(Clone, Debug)]
pub struct PartitionRead {
    pub offsets: PartitionOffsets,
    pub data: Option<FetchDataInfo>,
}

#[derive(Debug)]
struct RoleState {
    role: PartitionRole,
    /// Follower replica id → its log end offset and catch-up time, from its fetches.
    followers: BTreeMap<i32, FollowerState>,
    /// An AlterPartition in flight (Kafka's pending ISR state): no other is proposed until
    /// the controller answers or a LeaderAndIsr replaces the role.
    pending_isr: Option<Vec<i32>>,
}

/// See the module doc.
pub struct Partition {
    tp: TopicPartition,
    local_broker_id: i32,
    log: SharedLog,
    state: Mutex<RoleState>,
    high_watermark: watch::Sender<i64>,
    /// Broker-wide counter bumped on every append and high-watermark move: what long-poll
    /// fetches wait on (shared with every partition by the ReplicaManager).
    activity: Arc<watch::Sender<u64>>,
}

impl std::fmt::Debug for Partition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Partition")
            .field("tp", &self.tp)
            .field("role", &self.lock_state().role)
            .finish_non_exhaustive()
    }
}

impl Partition {
    pub fn new(
        tp: TopicPartition,
        local_broker_id: i32,
        log: SharedLog,
        role: PartitionRole,
        activity: Arc<watch::Sender<u64>>,
    ) -> Partition {
        let hw = lock_log(&log).high_watermark();
        let partition = Partition {
            tp,
            local_broker_id,
            log,
            state: Mutex::new(RoleState {
                followers: fresh_followers(&role, local_broker_id),
                role,
                pending_isr: None,
            }),
            high_watermark: watch::Sender::new(hw),
            activity,
        };
        partition.maybe_advance_high_watermark();
        partition
    }

    pub fn topic_partition(&self) -> &TopicPartition {
        &self.tp
    }

    pub fn log(&self) -> &SharedLog {
        &self.log
    }

    fn lock_state(&self) -> MutexGuard<'_, RoleState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn role(&self) -> PartitionRole {
        self.lock_state().role.clone()
    }

    /// Applies a newer role from LeaderAndIsr. A new leader term forgets what it knew of the
    /// followers (they report again with their next fetch).
    pub fn set_role(&self, role: PartitionRole) {
        {
            let mut state = self.lock_state();
            if role.leader_epoch != state.role.leader_epoch || !role.is_leader {
                state.followers = fresh_followers(&role, self.local_broker_id);
            }
            state.pending_isr = None;
            state.role = role;
        }
        self.maybe_advance_high_watermark();
    }

    /// Subscribes to high-watermark changes (acks=all waits, long-poll fetches).
    pub fn subscribe_high_watermark(&self) -> watch::Receiver<i64> {
        self.high_watermark.subscribe()
    }

    /// Kafka's leader-epoch check of a client request: `current_leader_epoch` −1 means "not
    /// known" and always passes; older → FENCED_LEADER_EPOCH, newer → UNKNOWN_LEADER_EPOCH.
    pub fn check_leader_epoch(&self, current_leader_epoch: i32) -> Result<(), PartitionError> {
        if current_leader_epoch < 0 {
            return Ok(());
        }
        let epoch = self.lock_state().role.leader_epoch;
        if current_leader_epoch < epoch {
            Err(PartitionError::new(
                ResponseError::FencedLeaderEpoch,
                format!(
                    "leader epoch {current_leader_epoch} of the request for {} is older than the \
                     current {epoch}",
                    self.tp
                ),
            ))
        } else if current_leader_epoch > epoch {
            Err(PartitionError::new(
                ResponseError::UnknownLeaderEpoch,
                format!(
                    "leader epoch {current_leader_epoch} of the request for {} is newer than the \
                     current {epoch}",
                    self.tp
                ),
            ))
        } else {
            Ok(())
        }
    }

    fn not_leader(&self) -> PartitionError {
        PartitionError::new(
            ResponseError::NotLeaderOrFollower,
            format!(
                "broker {} is not the leader of {}",
                self.local_broker_id, self.tp
            ),
        )
    }

    /// Leader epoch and ISR size, or NOT_LEADER_OR_FOLLOWER.
    fn leader_state(&self) -> Result<(i32, usize), PartitionError> {
        let state = self.lock_state();
        if !state.role.is_leader {
            return Err(self.not_leader());
        }
        Ok((state.role.leader_epoch, state.role.isr.len()))
    }

    /// Appends a client batch as the leader (Kafka's `appendRecordsToLeader`). With
    /// `acks=all`, an ISR smaller than the topic's `min.insync.replicas` refuses the write
    /// (NOT_ENOUGH_REPLICAS) before anything is appended.
    pub fn append_records_to_leader(
        &self,
        records: &mut [u8],
        required_acks: i16,
        now_ms: i64,
    ) -> Result<LogAppendInfo, PartitionError> {
        let (leader_epoch, isr_len) = self.leader_state()?;
        let mut log = lock_log(&self.log);
        let min_insync_replicas = log.config().min_insync_replicas;
        if required_acks == -1 && (isr_len as i64) < min_insync_replicas as i64 {
            return Err(PartitionError::new(
                ResponseError::NotEnoughReplicas,
                format!(
                    "the ISR of {} has {isr_len} replicas, below min.insync.replicas \
                     {min_insync_replicas}",
                    self.tp
                ),
            ));
        }
        let info = log
            .append_as_leader(records, leader_epoch, now_ms)
            .map_err(|e| PartitionError::from_log(&e))?;
        drop(log);
        self.maybe_advance_high_watermark();
        self.bump_activity();
        Ok(info)
    }

    /// After an acks=all append reached the high watermark: NOT_ENOUGH_REPLICAS_AFTER_APPEND
    /// if the ISR shrank below `min.insync.replicas` meanwhile (Kafka's
    /// `checkEnoughReplicasReachOffset`).
    pub fn check_enough_replicas_after_append(&self) -> Result<(), PartitionError> {
        let isr_len = self.lock_state().role.isr.len();
        let min_isr = lock_log(&self.log).config().min_insync_replicas;
        if (isr_len as i64) < min_isr as i64 {
            return Err(PartitionError::new(
                ResponseError::NotEnoughReplicasAfterAppend,
                format!(
                    "the ISR of {} shrank to {isr_len} replicas, below min.insync.replicas \
                     {min_isr}, while the write was being replicated",
                    self.tp
                ),
            ));
        }
        Ok(())
    }

    /// Kafka's `maybeIncrementLeaderHW`: the high watermark is the smallest log end offset of
    /// the ISR (the leader's own included). Publishes a change to the waiters.
    pub fn maybe_advance_high_watermark(&self) {
        let new_hw = {
            let state = self.lock_state();
            if !state.role.is_leader {
                return;
            }
            let mut log = lock_log(&self.log);
            let mut min_leo = log.log_end_offset();
            for replica in &state.role.isr {
                if *replica == self.local_broker_id {
                    continue;
                }
                min_leo = min_leo.min(
                    state
                        .followers
                        .get(replica)
                        .map_or(-1, |f| f.log_end_offset),
                );
            }
            if min_leo < 0 {
                return;
            }
            match log.maybe_increment_high_watermark(min_leo) {
                Ok(_) => log.high_watermark(),
                Err(_) => return,
            }
        };
        let moved = self.high_watermark.send_if_modified(|hw| {
            if *hw != new_hw {
                *hw = new_hw;
                true
            } else {
                false
            }
        });
        if moved {
            self.bump_activity();
        }
    }

    fn bump_activity(&self) {
        self.activity.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// The offsets a fetch reports.
    pub fn offsets(&self) -> PartitionOffsets {
        let log = lock_log(&self.log);
        let hw = log.high_watermark();
        PartitionOffsets {
            high_watermark: hw,
            last_stable_offset: hw,
            log_start_offset: log.log_start_offset(),
            log_end_offset: log.log_end_offset(),
        }
    }

    /// Reads for a consumer or a follower (Kafka's `fetchRecords` on the leader): leader
    /// only, epoch-checked, at most `max_bytes` (the first batch whole when
    /// `min_one_message`). A follower's fetch offset records its log end offset and may move
    /// the high watermark.
    pub fn read(
        &self,
        fetch_offset: i64,
        current_leader_epoch: i32,
        max_bytes: usize,
        who: FetchIsolation,
        min_one_message: bool,
    ) -> Result<PartitionRead, PartitionError> {
        self.check_leader_epoch(current_leader_epoch)?;
        self.leader_state()?;
        if let FetchIsolation::Follower(replica) = who {
            let leo = self.log_end_offset();
            // A fetch beyond the log end (a diverged follower) is out of range: like Kafka,
            // it does not count as the follower's position (no ISR join, no HW move).
            if fetch_offset <= leo {
                let mut state = self.lock_state();
                let now = crate::log::log_manager::now_ms();
                let f = state.followers.entry(replica).or_insert(FollowerState {
                    log_end_offset: -1,
                    last_caught_up_ms: now,
                });
                f.log_end_offset = fetch_offset;
                if fetch_offset >= leo {
                    f.last_caught_up_ms = now;
                }
            }
            self.maybe_advance_high_watermark();
        }
        let log = lock_log(&self.log);
        let hw = log.high_watermark();
        let upper_bound = match who {
            FetchIsolation::Consumer(_) => Some(hw),
            FetchIsolation::Follower(_) => None,
        };
        let offsets = PartitionOffsets {
            high_watermark: hw,
            last_stable_offset: hw,
            log_start_offset: log.log_start_offset(),
            log_end_offset: log.log_end_offset(),
        };
        let data = log
            .read(fetch_offset, max_bytes, upper_bound, min_one_message)
            .map_err(|e| PartitionError::from_log(&e))?;
        Ok(PartitionRead {
            offsets,
            data: Some(data),
        })
    }

    /// Kafka's `maybeExpandIsr`: a replica outside the ISR whose log end offset reached the
    /// high watermark joins it. `None` when nothing is to change (or a change is pending).
    pub fn isr_expansion(&self) -> Option<IsrChange> {
        let hw = lock_log(&self.log).high_watermark();
        let mut state = self.lock_state();
        if !state.role.is_leader || state.pending_isr.is_some() {
            return None;
        }
        let joining: Vec<i32> = state
            .followers
            .iter()
            .filter(|(id, f)| {
                !state.role.isr.contains(id)
                    && state.role.replicas.contains(id)
                    && f.log_end_offset >= hw
            })
            .map(|(id, _)| *id)
            .collect();
        if joining.is_empty() {
            return None;
        }
        let mut new_isr = state.role.isr.clone();
        new_isr.extend(joining);
        Some(self.propose(&mut state, new_isr))
    }

    /// Kafka's `maybeShrinkIsr`: followers that have not caught up with the leader's log end
    /// for `lag_max_ms` leave the ISR (the leader always stays).
    pub fn isr_shrink(&self, now_ms: i64, lag_max_ms: i64) -> Option<IsrChange> {
        let mut state = self.lock_state();
        if !state.role.is_leader || state.pending_isr.is_some() {
            return None;
        }
        let out_of_sync: Vec<i32> = state
            .role
            .isr
            .iter()
            .copied()
            .filter(|id| *id != self.local_broker_id)
            .filter(|id| {
                state
                    .followers
                    .get(id)
                    .is_none_or(|f| now_ms - f.last_caught_up_ms > lag_max_ms)
            })
            .collect();
        if out_of_sync.is_empty() {
            return None;
        }
        let new_isr: Vec<i32> = state
            .role
            .isr
            .iter()
            .copied()
            .filter(|id| !out_of_sync.contains(id))
            .collect();
        Some(self.propose(&mut state, new_isr))
    }

    fn propose(&self, state: &mut RoleState, new_isr: Vec<i32>) -> IsrChange {
        state.pending_isr = Some(new_isr.clone());
        IsrChange {
            tp: self.tp.clone(),
            topic_id: state.role.topic_id,
            leader_epoch: state.role.leader_epoch,
            partition_epoch: state.role.partition_epoch,
            new_isr,
        }
    }

    /// The controller's answer to an AlterPartition: on success the committed ISR and the new
    /// partition epoch (for the same leader epoch); on failure the pending change is dropped
    /// (it is proposed again on the next check).
    pub fn complete_isr_change(&self, committed: Option<(i32, Vec<i32>, i32)>) {
        {
            let mut state = self.lock_state();
            state.pending_isr = None;
            if let Some((leader_epoch, isr, partition_epoch)) = committed {
                if leader_epoch == state.role.leader_epoch {
                    tracing::info!(tp = %self.tp, ?isr, partition_epoch, "ISR updated");
                    state.role.isr = isr;
                    state.role.partition_epoch = partition_epoch;
                }
            }
        }
        self.maybe_advance_high_watermark();
    }

    /// The local log end offset (a follower's next fetch offset).
    pub fn log_end_offset(&self) -> i64 {
        lock_log(&self.log).log_end_offset()
    }

    pub fn log_start_offset(&self) -> i64 {
        lock_log(&self.log).log_start_offset()
    }

    /// Follower: appends batches fetched from the leader (Kafka's `appendRecordsToFollower`),
    /// then takes the leader's high watermark (bounded by the local log end) and log start
    /// offset.
    pub fn append_records_as_follower(
        &self,
        records: &[u8],
        leader_high_watermark: i64,
        leader_log_start_offset: i64,
        now_ms: i64,
    ) -> Result<LogAppendInfo, PartitionError> {
        let mut log = lock_log(&self.log);
        let info = log
            .append_as_follower(records, now_ms)
            .map_err(|e| PartitionError::from_log(&e))?;
        let hw = leader_high_watermark.min(log.log_end_offset());
        if hw >= 0 {
            log.update_high_watermark(hw);
        }
        if leader_log_start_offset > log.log_start_offset() {
            // Beyond our high watermark the leader's value waits for the next fetch.
            let _ = log.maybe_increment_log_start_offset(
                leader_log_start_offset,
                crate::log::LogStartOffsetIncrementReason::LeaderOffsetIncremented,
            );
        }
        let published = log.high_watermark();
        drop(log);
        self.high_watermark.send_replace(published);
        self.bump_activity();
        Ok(info)
    }

    /// Follower: cuts the log back to `offset` (Kafka's `truncateTo`, used when becoming a
    /// follower — to the high watermark, as Kafka does without leader-epoch information —
    /// and when the leader's log is shorter).
    pub fn truncate_to(&self, offset: i64) -> Result<(), PartitionError> {
        let mut log = lock_log(&self.log);
        if offset < log.log_end_offset() {
            log.truncate_to(offset)
                .map_err(|e| PartitionError::from_log(&e))?;
            tracing::info!(tp = %self.tp, offset, "truncated the follower log");
        }
        Ok(())
    }

    /// Follower: empties the log and restarts it at `offset` (the leader's log start moved
    /// past our log end).
    pub fn truncate_fully_and_start_at(&self, offset: i64) -> Result<(), PartitionError> {
        lock_log(&self.log)
            .truncate_fully_and_start_at(offset)
            .map_err(|e| PartitionError::from_log(&e))?;
        tracing::info!(tp = %self.tp, offset, "follower log emptied and restarted at the leader's log start");
        Ok(())
    }

    /// Leader-only access to the log for offset lookups and deletes, after the epoch check.
    pub fn with_leader_log<T>(
        &self,
        current_leader_epoch: i32,
        f: impl FnOnce(&mut Log, i32) -> Result<T, PartitionError>,
    ) -> Result<T, PartitionError> {
        self.check_leader_epoch(current_leader_epoch)?;
        let (leader_epoch, _) = self.leader_state()?;
        let mut log = lock_log(&self.log);
        f(&mut log, leader_epoch)
    }
}
