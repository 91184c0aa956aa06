//! `GroupCoordinator`: classic group membership (Kafka's `GroupCoordinator` for JoinGroup,
//! SyncGroup, Heartbeat and LeaveGroup, spec protocol-apis.md §4–5) as a synchronous state
//! machine. Every entry point takes the current time; parked requests are answered through
//! the oneshot responders they carry; delayed operations (heartbeat expiry, the delayed and
//! initial-delayed join, the pending-sync check) are deadlines in a [`DeadlineQueue`] that
//! the owner fires with [`GroupCoordinator::fire_due`]. Appends that must wait for
//! replication are handed out as [`ReplicationWait`]s and finish in
//! [`GroupCoordinator::on_replication_result`]. The offset half (commits, fetches, admin and
//! expiry) is in `group_coordinator_offsets.rs`; the task that owns it in
//! `coordinator_task.rs`.

use std::collections::HashMap;

use bytes::Bytes;
use kafka_protocol::ResponseError;
use tracing::{debug, error, info, warn};

use super::config::{GroupConfig, OffsetConfig};
use super::group_metadata::{GroupMetadata, GroupState};
use super::group_metadata_manager::{GroupMetadataManager, LoadedRecord, OffsetsLog};
use super::member_metadata::MemberMetadata;
use super::results::*;
use super::timers::DeadlineQueue;
use crate::cluster::TopicPartition;

/// Kafka's `NewMemberJoinTimeoutMs`: a new member's JoinGroup expires after 5 minutes.
pub const NEW_MEMBER_JOIN_TIMEOUT_MS: i64 = 5 * 60 * 1000;

/// The API a group request belongs to (group id rules differ).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupApi {
    JoinGroup,
    SyncGroup,
    Heartbeat,
    LeaveGroup,
    OffsetCommit,
    OffsetFetch,
    DescribeGroups,
    DeleteGroups,
    OffsetDelete,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) enum TimerKey {
    Heartbeat { group: String, member: String },
    Join { group: String },
    Sync { group: String },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum JoinOp {
    /// Completes when every member rejoined, or at the deadline.
    Regular,
    /// The first rebalance of an Empty group: never completes early, re-armed while members
    /// keep arriving (Kafka's `InitialDelayedJoin`).
    Initial {
        configured_delay: i64,
        delay: i64,
        remaining: i64,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum TimerOp {
    Heartbeat { pending: bool },
    Join(JoinOp),
    Sync { generation: i32 },
}

/// An append the coordinator waits on: the owner waits until `__consumer_offsets-<partition>`'s
/// high watermark reaches `required_offset` (or times out) and reports back with `id`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplicationWait {
    pub id: u64,
    pub partition: i32,
    pub required_offset: i64,
}

/// What to do once a group metadata write completes.
pub(super) enum GroupStorePurpose {
    /// The leader's SyncGroup: on success the assignment goes out and the group is Stable.
    SyncLeader {
        generation: i32,
        member_id: String,
        assignment: HashMap<String, Bytes>,
    },
    /// The group became Empty after a join.
    EmptyGroup,
    /// A known static member rejoined a Stable group with a new member id.
    StaticRejoin {
        old_member_id: String,
        new_member_id: String,
        instance_id: String,
        old_protocols: Vec<(String, Bytes)>,
        old_rebalance_timeout_ms: i32,
        old_session_timeout_ms: i32,
        current_leader: String,
        support_skipping_assignment: bool,
    },
}

/// A write waiting for replication.
pub(super) enum Pending {
    Group {
        group_id: String,
        incarnation: u64,
        purpose: GroupStorePurpose,
    },
    Offsets {
        group_id: String,
        incarnation: u64,
        written: Vec<(TopicPartition, OffsetAndMetadata)>,
        all: Vec<(TopicPartition, OffsetAndMetadata)>,
        base_offset: i64,
        respond: CommitResponder,
    },
}

/// See the module doc.
pub struct GroupCoordinator {
    pub(super) broker_id: i32,
    pub(super) group_config: GroupConfig,
    pub(super) manager: GroupMetadataManager,
    pub(super) timers: DeadlineQueue<TimerKey, TimerOp>,
    pub(super) active: bool,
    pub(super) pending: HashMap<u64, Pending>,
    next_pending: u64,
    waits: Vec<ReplicationWait>,
}

impl GroupCoordinator {
    pub fn new(
        broker_id: i32,
        group_config: GroupConfig,
        offset_config: OffsetConfig,
        partition_count: i32,
        log: Box<dyn OffsetsLog>,
    ) -> GroupCoordinator {
        GroupCoordinator {
            broker_id,
            group_config,
            manager: GroupMetadataManager::new(offset_config, partition_count, log),
            timers: DeadlineQueue::default(),
            active: false,
            pending: HashMap::new(),
            next_pending: 1,
            waits: Vec::new(),
        }
    }

    /// Starts serving (Kafka's `startup`).
    pub fn startup(&mut self) {
        info!(broker_id = self.broker_id, "group coordinator started");
        self.active = true;
    }

    /// Stops serving: every parked request is answered NOT_COORDINATOR (as on unload) and
    /// pending writes fail with it.
    pub fn shutdown(&mut self, now: i64) {
        self.active = false;
        for partition in self.manager.owned_partitions() {
            self.on_resignation(partition, None, now);
        }
        for (_, p) in self.pending.drain() {
            if let Pending::Offsets { all, respond, .. } = p {
                reply(
                    respond,
                    all.into_iter()
                        .map(|(tp, _)| (tp, Some(ResponseError::NotCoordinator)))
                        .collect(),
                );
            }
        }
        info!(broker_id = self.broker_id, "group coordinator shut down");
    }

    pub fn partition_for(&self, group_id: &str) -> i32 {
        self.manager.partition_for(group_id)
    }

    pub fn manager(&self) -> &GroupMetadataManager {
        &self.manager
    }

    /// A group's state (tests, logs).
    pub fn group_state(&self, group_id: &str) -> Option<GroupState> {
        self.manager
            .get_group(group_id)
            .map(GroupMetadata::current_state)
    }

    pub fn group(&self, group_id: &str) -> Option<&GroupMetadata> {
        self.manager.get_group(group_id)
    }

    /// The appends to wait for since the last call.
    pub fn take_replication_waits(&mut self) -> Vec<ReplicationWait> {
        std::mem::take(&mut self.waits)
    }

    /// The earliest deadline of a delayed operation.
    pub fn next_deadline(&self) -> Option<i64> {
        self.timers.next_deadline()
    }

    /// Fires every delayed operation due at `now`.
    pub fn fire_due(&mut self, now: i64) {
        // Bounded: each pass removes one entry; expirations may schedule new ones, but only
        // with deadlines after `now` (every timeout is positive or the op completes at once).
        let mut budget = self.timers.len() * 4 + 64;
        while let Some((key, op)) = self.timers.pop_due(now) {
            match (key, op) {
                (TimerKey::Heartbeat { group, member }, TimerOp::Heartbeat { pending }) => {
                    self.on_expire_heartbeat(&group, &member, pending, now)
                }
                (TimerKey::Join { group }, TimerOp::Join(op)) => {
                    self.on_expire_join(&group, op, now)
                }
                (TimerKey::Sync { group }, TimerOp::Sync { generation }) => {
                    self.on_expire_pending_sync(&group, generation, now)
                }
                (key, op) => error!(?key, ?op, "mismatched delayed operation"),
            }
            budget = budget.saturating_sub(1);
            if budget == 0 {
                warn!("too many delayed operations due at once; the rest run on the next tick");
                break;
            }
        }
    }

    fn is_valid_group_id(group_id: &str, api: GroupApi) -> bool {
        match api {
            GroupApi::OffsetCommit
            | GroupApi::OffsetFetch
            | GroupApi::DescribeGroups
            | GroupApi::DeleteGroups => true,
            _ => !group_id.is_empty(),
        }
    }

    /// Kafka's `validateGroupStatus`: INVALID_GROUP_ID, COORDINATOR_NOT_AVAILABLE,
    /// COORDINATOR_LOAD_IN_PROGRESS, NOT_COORDINATOR in that order.
    pub fn validate_group_status(&self, group_id: &str, api: GroupApi) -> Option<ResponseError> {
        if !Self::is_valid_group_id(group_id, api) {
            Some(ResponseError::InvalidGroupId)
        } else if !self.active {
            Some(ResponseError::CoordinatorNotAvailable)
        } else if self.manager.is_group_loading(group_id) {
            Some(ResponseError::CoordinatorLoadInProgress)
        } else if !self.manager.is_group_local(group_id) {
            Some(ResponseError::NotCoordinator)
        } else {
            None
        }
    }

    fn group_mut(&mut self, group_id: &str) -> Option<&mut GroupMetadata> {
        self.manager.get_group_mut(group_id)
    }

    /// Kafka's `validateCurrentMember`.
    fn validate_current_member(
        group: &GroupMetadata,
        member_id: &str,
        group_instance_id: Option<&str>,
        operation: &str,
    ) -> Option<ResponseError> {
        if let Some(instance_id) = group_instance_id {
            match group.current_static_member_id(instance_id) {
                Some(current) if current != member_id => {
                    info!(group = %group.group_id, member_id, instance_id, current, operation, "static member fenced by a newer member id");
                    return Some(ResponseError::FencedInstanceId);
                }
                Some(_) => {}
                None => return Some(ResponseError::UnknownMemberId),
            }
        }
        (!group.has(member_id)).then_some(ResponseError::UnknownMemberId)
    }

    // ============================================================ JoinGroup

    fn accept_joining_member(&self, group: &GroupMetadata, member_id: &str) -> bool {
        let max = usize::try_from(self.group_config.max_size).unwrap_or(usize::MAX);
        match group.current_state() {
            GroupState::Empty | GroupState::Dead => true,
            GroupState::PreparingRebalance => {
                group
                    .get(member_id)
                    .is_some_and(MemberMetadata::is_awaiting_join)
                    || group.num_awaiting() < max
            }
            GroupState::CompletingRebalance | GroupState::Stable => {
                group.has(member_id) || group.size() < max
            }
        }
    }

    /// JoinGroup (Kafka's `handleJoinGroup`).
    pub fn handle_join_group(&mut self, p: JoinGroupParams, now: i64, respond: JoinResponder) {
        if let Some(e) = self.validate_group_status(&p.group_id, GroupApi::JoinGroup) {
            return reply(respond, JoinGroupResult::error(&p.member_id, e));
        }
        if p.session_timeout_ms < self.group_config.min_session_timeout_ms
            || p.session_timeout_ms > self.group_config.max_session_timeout_ms
        {
            return reply(
                respond,
                JoinGroupResult::error(&p.member_id, ResponseError::InvalidSessionTimeout),
            );
        }
        let is_unknown = p.member_id == UNKNOWN_MEMBER_ID;
        if !self
            .manager
            .get_or_maybe_create(&p.group_id, is_unknown, now)
        {
            return reply(
                respond,
                JoinGroupResult::error(&p.member_id, ResponseError::UnknownMemberId),
            );
        }
        let group_id = p.group_id.clone();
        let accepted = match self.manager.get_group(&group_id) {
            Some(group) => self.accept_joining_member(group, &p.member_id),
            None => return,
        };
        if !accepted {
            if let Some(group) = self.group_mut(&group_id) {
                group.remove(&p.member_id);
            }
            reply(
                respond,
                JoinGroupResult::error(UNKNOWN_MEMBER_ID, ResponseError::GroupMaxSizeReached),
            );
        } else if is_unknown {
            self.do_new_member_join_group(p, respond, now);
        } else {
            self.do_current_member_join_group(p, respond, now);
        }
        if self.group_state(&group_id) == Some(GroupState::PreparingRebalance) {
            self.check_and_complete_join(&group_id, now);
        }
    }

    fn do_new_member_join_group(&mut self, p: JoinGroupParams, respond: JoinResponder, now: i64) {
        let Some(group) = self.manager.get_group(&p.group_id) else {
            return;
        };
        if group.is(GroupState::Dead) {
            return reply(
                respond,
                JoinGroupResult::error(UNKNOWN_MEMBER_ID, ResponseError::CoordinatorNotAvailable),
            );
        }
        if !group.supports_protocols(&p.protocol_type, &p.protocols) {
            return reply(
                respond,
                JoinGroupResult::error(UNKNOWN_MEMBER_ID, ResponseError::InconsistentGroupProtocol),
            );
        }
        let new_member_id =
            GroupMetadata::generate_member_id(&p.client_id, p.group_instance_id.as_deref());
        match p.group_instance_id.clone() {
            Some(instance_id) => {
                match group
                    .current_static_member_id(&instance_id)
                    .map(str::to_string)
                {
                    Some(old_member_id) => {
                        info!(group = %p.group_id, instance_id, state = %group.current_state(), old_member_id, new_member_id, "static member with an unknown member id joins; replacing the previous member id");
                        self.update_static_member_and_rebalance(
                            p,
                            old_member_id,
                            new_member_id,
                            instance_id,
                            respond,
                            now,
                        );
                    }
                    None => {
                        info!(group = %p.group_id, instance_id, state = %group.current_state(), new_member_id, "new static member joins");
                        self.add_member_and_rebalance(p, new_member_id, respond, now);
                    }
                }
            }
            None if p.require_known_member_id => {
                info!(group = %p.group_id, state = %group.current_state(), new_member_id, "new dynamic member joins; asking it to rejoin with its member id");
                let session = i64::from(p.session_timeout_ms);
                if let Some(group) = self.group_mut(&p.group_id) {
                    group.add_pending_member(&new_member_id);
                }
                self.timers.schedule(
                    TimerKey::Heartbeat {
                        group: p.group_id.clone(),
                        member: new_member_id.clone(),
                    },
                    now + session,
                    TimerOp::Heartbeat { pending: true },
                );
                reply(
                    respond,
                    JoinGroupResult::error(&new_member_id, ResponseError::MemberIdRequired),
                );
            }
            None => {
                info!(group = %p.group_id, state = %group.current_state(), new_member_id, "new dynamic member joins");
                self.add_member_and_rebalance(p, new_member_id, respond, now);
            }
        }
    }

    fn do_current_member_join_group(
        &mut self,
        p: JoinGroupParams,
        respond: JoinResponder,
        now: i64,
    ) {
        let Some(group) = self.manager.get_group(&p.group_id) else {
            return;
        };
        let member_id = p.member_id.clone();
        if group.is(GroupState::Dead) {
            return reply(
                respond,
                JoinGroupResult::error(&member_id, ResponseError::CoordinatorNotAvailable),
            );
        }
        if !group.supports_protocols(&p.protocol_type, &p.protocols) {
            return reply(
                respond,
                JoinGroupResult::error(&member_id, ResponseError::InconsistentGroupProtocol),
            );
        }
        if group.is_pending_member(&member_id) {
            if p.group_instance_id.is_some() {
                // Kafka throws here (a pending member is never static): answered as an
                // unexpected server error rather than trusting the request.
                error!(group = %p.group_id, member_id, "JoinGroup with a group.instance.id for a pending dynamic member");
                return reply(
                    respond,
                    JoinGroupResult::error(&member_id, ResponseError::UnknownServerError),
                );
            }
            info!(group = %p.group_id, member_id, state = %group.current_state(), "pending dynamic member joins");
            return self.add_member_and_rebalance(p, member_id, respond, now);
        }
        if let Some(e) = Self::validate_current_member(
            group,
            &member_id,
            p.group_instance_id.as_deref(),
            "join-group",
        ) {
            return reply(respond, JoinGroupResult::error(&member_id, e));
        }
        let Some(member) = group.get(&member_id) else {
            return;
        };
        let reason = p.reason.clone().unwrap_or_else(|| "not provided".into());
        match group.current_state() {
            GroupState::PreparingRebalance => {
                let why = format!("member {member_id} joining group during PreparingRebalance; client reason: {reason}");
                self.update_member_and_rebalance(p, respond, &why, now);
            }
            GroupState::CompletingRebalance => {
                if member.matches(&p.protocols) {
                    let result = JoinGroupResult {
                        members: if group.is_leader(&member_id) {
                            group.current_member_metadata()
                        } else {
                            Vec::new()
                        },
                        member_id,
                        generation_id: group.generation_id,
                        protocol_type: group.protocol_type.clone(),
                        protocol_name: group.protocol_name.clone(),
                        leader_id: group.leader_or_empty(),
                        skip_assignment: false,
                        error: None,
                    };
                    reply(respond, result);
                } else {
                    let why = format!("updating metadata for member {member_id} during CompletingRebalance; client reason: {reason}");
                    self.update_member_and_rebalance(p, respond, &why, now);
                }
            }
            GroupState::Stable => {
                if group.is_leader(&member_id) {
                    let why = format!("leader {member_id} re-joining group during Stable; client reason: {reason}");
                    self.update_member_and_rebalance(p, respond, &why, now);
                } else if !member.matches(&p.protocols) {
                    let why = format!("updating metadata for member {member_id} during Stable; client reason: {reason}");
                    self.update_member_and_rebalance(p, respond, &why, now);
                } else {
                    let result = JoinGroupResult {
                        members: Vec::new(),
                        member_id,
                        generation_id: group.generation_id,
                        protocol_type: group.protocol_type.clone(),
                        protocol_name: group.protocol_name.clone(),
                        leader_id: group.leader_or_empty(),
                        skip_assignment: false,
                        error: None,
                    };
                    reply(respond, result);
                }
            }
            GroupState::Empty | GroupState::Dead => {
                warn!(group = %p.group_id, member_id, state = %group.current_state(), "rejoining member in an unexpected group state");
                reply(
                    respond,
                    JoinGroupResult::error(&member_id, ResponseError::UnknownMemberId),
                );
            }
        }
    }

    fn add_member_and_rebalance(
        &mut self,
        p: JoinGroupParams,
        member_id: String,
        respond: JoinResponder,
        now: i64,
    ) {
        let Some(group) = self.group_mut(&p.group_id) else {
            return;
        };
        let mut member = MemberMetadata::new(
            member_id.clone(),
            p.group_instance_id.clone(),
            p.client_id,
            p.client_host,
            p.rebalance_timeout_ms,
            p.session_timeout_ms,
            p.protocol_type,
            p.protocols,
        );
        member.is_new = true;
        if group.is(GroupState::PreparingRebalance) && group.generation_id == 0 {
            group.new_member_added = true;
        }
        group.add(member, Some(respond));
        self.complete_and_schedule_next_expiration(
            &p.group_id,
            &member_id,
            NEW_MEMBER_JOIN_TIMEOUT_MS,
            now,
        );
        let reason = format!(
            "adding new member {member_id} with group instance id {:?}; client reason: {}",
            p.group_instance_id,
            p.reason.as_deref().unwrap_or("not provided")
        );
        self.maybe_prepare_rebalance(&p.group_id, &reason, now);
    }

    fn update_static_member_and_rebalance(
        &mut self,
        p: JoinGroupParams,
        old_member_id: String,
        new_member_id: String,
        instance_id: String,
        respond: JoinResponder,
        now: i64,
    ) {
        let group_id = p.group_id.clone();
        let Some(group) = self.group_mut(&group_id) else {
            return;
        };
        let current_leader = group.leader_or_empty();
        if !group.replace_static_member(&instance_id, &old_member_id, &new_member_id) {
            return reply(
                respond,
                JoinGroupResult::error(UNKNOWN_MEMBER_ID, ResponseError::UnknownServerError),
            );
        }
        self.complete_and_schedule_next_heartbeat_expiration(&group_id, &new_member_id, now);
        let Some(group) = self.group_mut(&group_id) else {
            return;
        };
        let Some(member) = group.get(&new_member_id) else {
            return;
        };
        let old_protocols = member.supported_protocols.clone();
        let old_rebalance_timeout_ms = member.rebalance_timeout_ms;
        let old_session_timeout_ms = member.session_timeout_ms;
        group.update_member(
            &new_member_id,
            p.protocols.clone(),
            p.rebalance_timeout_ms,
            p.session_timeout_ms,
            Some(respond),
        );
        let reason = p.reason.as_deref().unwrap_or("not provided");
        match group.current_state() {
            GroupState::Stable => {
                let selected = group.select_protocol();
                if group.protocol_name == selected {
                    info!(group = %group_id, instance_id, "static member joins during Stable without changing the protocol: no rebalance");
                    let assignment: HashMap<String, Bytes> = group
                        .members()
                        .map(|m| (m.member_id.clone(), m.assignment.clone()))
                        .collect();
                    self.store_group(
                        &group_id,
                        assignment,
                        GroupStorePurpose::StaticRejoin {
                            old_member_id,
                            new_member_id,
                            instance_id,
                            old_protocols,
                            old_rebalance_timeout_ms,
                            old_session_timeout_ms,
                            current_leader,
                            support_skipping_assignment: p.support_skipping_assignment,
                        },
                        now,
                    );
                } else {
                    let why = format!("group's selected protocol will change because static member {new_member_id} with instance id {instance_id} joined with a change of protocol; client reason: {reason}");
                    self.maybe_prepare_rebalance(&group_id, &why, now);
                }
            }
            GroupState::CompletingRebalance => {
                let why = format!("updating metadata for static member {new_member_id} with instance id {instance_id}; client reason: {reason}");
                self.prepare_rebalance(&group_id, &why, now);
            }
            GroupState::Empty | GroupState::Dead => {
                error!(group = %group_id, instance_id, state = %group.current_state(), "known static member rejoins a group in an unexpected state");
                if let Some(m) = group.get_mut(&new_member_id) {
                    m.maybe_invoke_join(JoinGroupResult::error(
                        &new_member_id,
                        ResponseError::UnknownServerError,
                    ));
                }
            }
            GroupState::PreparingRebalance => {}
        }
    }

    fn update_member_and_rebalance(
        &mut self,
        p: JoinGroupParams,
        respond: JoinResponder,
        reason: &str,
        now: i64,
    ) {
        if let Some(group) = self.group_mut(&p.group_id) {
            group.update_member(
                &p.member_id,
                p.protocols,
                p.rebalance_timeout_ms,
                p.session_timeout_ms,
                Some(respond),
            );
        }
        self.maybe_prepare_rebalance(&p.group_id, reason, now);
    }

    pub(super) fn maybe_prepare_rebalance(&mut self, group_id: &str, reason: &str, now: i64) {
        if self
            .manager
            .get_group(group_id)
            .is_some_and(GroupMetadata::can_rebalance)
        {
            self.prepare_rebalance(group_id, reason, now);
        }
    }

    /// Kafka's `prepareRebalance`.
    pub(super) fn prepare_rebalance(&mut self, group_id: &str, reason: &str, now: i64) {
        if self.group_state(group_id) == Some(GroupState::CompletingRebalance) {
            self.reset_and_propagate_assignment_error(
                group_id,
                ResponseError::RebalanceInProgress,
                now,
            );
        }
        self.remove_sync_expiration(group_id);
        let initial_delay = i64::from(self.group_config.initial_rebalance_delay_ms);
        let partition = self.partition_for(group_id);
        let Some(group) = self.group_mut(group_id) else {
            return;
        };
        let rebalance_timeout = i64::from(group.rebalance_timeout_ms());
        let (op, delay) = if group.is(GroupState::Empty) {
            (
                JoinOp::Initial {
                    configured_delay: initial_delay,
                    delay: initial_delay,
                    remaining: (rebalance_timeout - initial_delay).max(0),
                },
                initial_delay,
            )
        } else {
            (JoinOp::Regular, rebalance_timeout)
        };
        group.transition_to(GroupState::PreparingRebalance, now);
        info!(group = %group_id, generation = group.generation_id, partition, reason, "preparing to rebalance group");
        self.try_complete_else_watch_join(group_id, op, delay, now);
    }

    fn try_complete_else_watch_join(&mut self, group_id: &str, op: JoinOp, delay: i64, now: i64) {
        let all_joined = self
            .manager
            .get_group(group_id)
            .is_some_and(GroupMetadata::has_all_members_joined);
        if op == JoinOp::Regular && all_joined {
            self.timers.cancel(&TimerKey::Join {
                group: group_id.to_string(),
            });
            self.on_complete_join(group_id, now);
        } else {
            self.timers.schedule(
                TimerKey::Join {
                    group: group_id.to_string(),
                },
                now + delay.max(0),
                TimerOp::Join(op),
            );
        }
    }

    /// Completes the delayed join if every member has rejoined (Kafka's
    /// `rebalancePurgatory.checkAndComplete(GroupJoinKey)`).
    pub(super) fn check_and_complete_join(&mut self, group_id: &str, now: i64) {
        let key = TimerKey::Join {
            group: group_id.to_string(),
        };
        let regular = self.timers.get(&key) == Some(&TimerOp::Join(JoinOp::Regular));
        let all_joined = self
            .manager
            .get_group(group_id)
            .is_some_and(GroupMetadata::has_all_members_joined);
        if regular && all_joined {
            self.timers.cancel(&key);
            self.on_complete_join(group_id, now);
        }
    }

    fn on_expire_join(&mut self, group_id: &str, op: JoinOp, now: i64) {
        let Some(group) = self.group_mut(group_id) else {
            return;
        };
        if let JoinOp::Initial {
            configured_delay,
            delay,
            remaining,
        } = op
        {
            if group.new_member_added && remaining != 0 {
                group.new_member_added = false;
                let next_delay = configured_delay.min(remaining);
                let next_remaining = (remaining - delay).max(0);
                self.try_complete_else_watch_join(
                    group_id,
                    JoinOp::Initial {
                        configured_delay,
                        delay: next_delay,
                        remaining: next_remaining,
                    },
                    next_delay,
                    now,
                );
                return;
            }
        }
        self.on_complete_join(group_id, now);
    }

    /// Kafka's `onCompleteJoin`.
    fn on_complete_join(&mut self, group_id: &str, now: i64) {
        let partition = self.partition_for(group_id);
        let Some(group) = self.group_mut(group_id) else {
            return;
        };
        let gone: Vec<String> = group
            .not_yet_rejoined_members()
            .into_iter()
            .filter(|(_, is_static)| !is_static)
            .map(|(id, _)| id)
            .collect();
        if !gone.is_empty() {
            info!(group = %group_id, members = ?gone, "group removed dynamic members who have not rejoined");
        }
        for id in &gone {
            group.remove(id);
        }
        for id in &gone {
            self.remove_heartbeat_for_leaving_member(group_id, id);
        }
        let Some(group) = self.group_mut(group_id) else {
            return;
        };
        if group.is(GroupState::Dead) {
            info!(group = %group_id, "group is dead, skipping the rebalance stage");
            return;
        }
        if !group.maybe_elect_new_joined_leader() && group.size() > 0 {
            error!(group = %group_id, "group could not complete the rebalance because no member rejoined");
            let timeout = i64::from(group.rebalance_timeout_ms());
            self.try_complete_else_watch_join(group_id, JoinOp::Regular, timeout, now);
            return;
        }
        group.init_next_generation(now);
        if group.is(GroupState::Empty) {
            info!(group = %group_id, generation = group.generation_id, partition, "group is now empty");
            self.store_group(group_id, HashMap::new(), GroupStorePurpose::EmptyGroup, now);
            return;
        }
        info!(group = %group_id, generation = group.generation_id, partition, members = group.size(), "stabilized group");
        let generation_id = group.generation_id;
        let protocol_type = group.protocol_type.clone();
        let protocol_name = group.protocol_name.clone();
        let leader_id = group.leader_or_empty();
        let leader_members = group.current_member_metadata();
        let member_ids = group.all_members();
        for id in &member_ids {
            let Some(group) = self.group_mut(group_id) else {
                return;
            };
            let is_leader = group.is_leader(id);
            if let Some(m) = group.get_mut(id) {
                m.maybe_invoke_join(JoinGroupResult {
                    members: if is_leader {
                        leader_members.clone()
                    } else {
                        Vec::new()
                    },
                    member_id: id.clone(),
                    generation_id,
                    protocol_type: protocol_type.clone(),
                    protocol_name: protocol_name.clone(),
                    leader_id: leader_id.clone(),
                    skip_assignment: false,
                    error: None,
                });
            }
            self.complete_and_schedule_next_heartbeat_expiration(group_id, id, now);
            if let Some(group) = self.group_mut(group_id) {
                if let Some(m) = group.get_mut(id) {
                    m.is_new = false;
                }
                group.add_pending_sync_member(id);
            }
        }
        self.schedule_pending_sync(group_id, now);
    }

    // ============================================================ pending sync

    fn schedule_pending_sync(&mut self, group_id: &str, now: i64) {
        let Some(group) = self.manager.get_group(group_id) else {
            return;
        };
        let generation = group.generation_id;
        let timeout = i64::from(group.rebalance_timeout_ms());
        if group.has_received_sync_from_all_members() {
            return;
        }
        self.timers.schedule(
            TimerKey::Sync {
                group: group_id.to_string(),
            },
            now + timeout,
            TimerOp::Sync { generation },
        );
    }

    /// Kafka's `tryCompletePendingSync` through `checkAndComplete(GroupSyncKey)`.
    fn maybe_complete_sync_expiration(&mut self, group_id: &str) {
        let key = TimerKey::Sync {
            group: group_id.to_string(),
        };
        let Some(&TimerOp::Sync { generation }) = self.timers.get(&key) else {
            return;
        };
        let complete = match self.manager.get_group(group_id) {
            None => true,
            Some(g) => {
                generation != g.generation_id
                    || matches!(
                        g.current_state(),
                        GroupState::Dead | GroupState::Empty | GroupState::PreparingRebalance
                    )
                    || g.has_received_sync_from_all_members()
            }
        };
        if complete {
            self.timers.cancel(&key);
        }
    }

    fn remove_sync_expiration(&mut self, group_id: &str) {
        if let Some(g) = self.group_mut(group_id) {
            g.clear_pending_sync_members();
        }
        self.maybe_complete_sync_expiration(group_id);
    }

    fn remove_pending_sync_member(&mut self, group_id: &str, member_id: &str) {
        if let Some(g) = self.group_mut(group_id) {
            g.remove_pending_sync_member(member_id);
        }
        self.maybe_complete_sync_expiration(group_id);
    }

    fn on_expire_pending_sync(&mut self, group_id: &str, generation: i32, now: i64) {
        let Some(group) = self.group_mut(group_id) else {
            return;
        };
        if generation != group.generation_id {
            error!(group = %group_id, generation, current = group.generation_id, "sync expiration for an old generation");
            return;
        }
        match group.current_state() {
            GroupState::Dead | GroupState::Empty | GroupState::PreparingRebalance => {
                error!(group = %group_id, state = %group.current_state(), "sync expiration after the group changed state");
            }
            GroupState::CompletingRebalance | GroupState::Stable => {
                if !group.has_received_sync_from_all_members() {
                    let pending = group.all_pending_sync_members();
                    for id in &pending {
                        group.remove(id);
                    }
                    for id in &pending {
                        self.remove_heartbeat_for_leaving_member(group_id, id);
                    }
                    debug!(group = %group_id, members = ?pending, "removed members who have not sent their SyncGroup");
                    let why = format!("removing {pending:?} on pending sync request expiration");
                    self.prepare_rebalance(group_id, &why, now);
                }
            }
        }
    }

    // ============================================================ heartbeats

    pub(super) fn complete_and_schedule_next_heartbeat_expiration(
        &mut self,
        group_id: &str,
        member_id: &str,
        now: i64,
    ) {
        let timeout = self
            .manager
            .get_group(group_id)
            .and_then(|g| g.get(member_id))
            .map(|m| i64::from(m.session_timeout_ms));
        if let Some(timeout) = timeout {
            self.complete_and_schedule_next_expiration(group_id, member_id, timeout, now);
        }
    }

    /// Completes the member's current heartbeat expectation and arms the next one, unless the
    /// member satisfies heartbeats by waiting in a rebalance (then none is armed, as Kafka's
    /// delayed heartbeat completes at once).
    fn complete_and_schedule_next_expiration(
        &mut self,
        group_id: &str,
        member_id: &str,
        timeout_ms: i64,
        now: i64,
    ) {
        let key = TimerKey::Heartbeat {
            group: group_id.to_string(),
            member: member_id.to_string(),
        };
        self.timers.cancel(&key);
        let Some(group) = self.manager.get_group(group_id) else {
            return;
        };
        if group.is(GroupState::Dead) {
            return;
        }
        match group.get(member_id) {
            Some(m) if !m.has_satisfied_heartbeat() => {
                self.timers
                    .schedule(key, now + timeout_ms, TimerOp::Heartbeat { pending: false });
            }
            _ => {}
        }
    }

    /// Kafka's `checkAndComplete(MemberKey)` for a member that left: its expectation goes.
    fn remove_heartbeat_for_leaving_member(&mut self, group_id: &str, member_id: &str) {
        let key = TimerKey::Heartbeat {
            group: group_id.to_string(),
            member: member_id.to_string(),
        };
        let complete = match (self.timers.get(&key), self.manager.get_group(group_id)) {
            (None, _) => false,
            (Some(_), None) => true,
            (Some(TimerOp::Heartbeat { pending: true }), Some(g)) => {
                g.is(GroupState::Dead) || g.has(member_id)
            }
            (Some(_), Some(g)) => {
                g.is(GroupState::Dead)
                    || g.get(member_id)
                        .is_none_or(MemberMetadata::has_satisfied_heartbeat)
            }
        };
        if complete {
            self.timers.cancel(&key);
        }
    }

    fn on_expire_heartbeat(&mut self, group_id: &str, member_id: &str, pending: bool, now: i64) {
        let Some(group) = self.manager.get_group(group_id) else {
            return;
        };
        if group.is(GroupState::Dead) {
            info!(group = %group_id, member_id, "heartbeat expiration after the group was unloaded or deleted");
        } else if pending {
            info!(group = %group_id, member_id, "pending member removed after its session timeout");
            self.remove_pending_member_and_update_group(group_id, member_id, now);
        } else if let Some(member) = group.get(member_id) {
            if !member.has_satisfied_heartbeat() {
                info!(group = %group_id, member_id, "member failed (no heartbeat within its session timeout); removing it from the group");
                let why = format!("removing member {member_id} on heartbeat expiration");
                self.remove_member_and_update_group(group_id, member_id, &why, now);
            }
        } else {
            debug!(group = %group_id, member_id, "member has already been removed");
        }
    }

    /// Kafka's `removeMemberAndUpdateGroup`.
    fn remove_member_and_update_group(
        &mut self,
        group_id: &str,
        member_id: &str,
        reason: &str,
        now: i64,
    ) {
        let Some(group) = self.group_mut(group_id) else {
            return;
        };
        if let Some(m) = group.get_mut(member_id) {
            m.maybe_invoke_join(JoinGroupResult::error(
                UNKNOWN_MEMBER_ID,
                ResponseError::UnknownMemberId,
            ));
        }
        group.remove(member_id);
        match group.current_state() {
            GroupState::Dead | GroupState::Empty => {}
            GroupState::Stable | GroupState::CompletingRebalance => {
                self.maybe_prepare_rebalance(group_id, reason, now)
            }
            GroupState::PreparingRebalance => self.check_and_complete_join(group_id, now),
        }
    }

    fn remove_pending_member_and_update_group(
        &mut self,
        group_id: &str,
        member_id: &str,
        now: i64,
    ) {
        let Some(group) = self.group_mut(group_id) else {
            return;
        };
        group.remove(member_id);
        if group.is(GroupState::PreparingRebalance) {
            self.check_and_complete_join(group_id, now);
        }
    }

    // ============================================================ SyncGroup

    /// SyncGroup (Kafka's `handleSyncGroup`).
    pub fn handle_sync_group(&mut self, p: SyncGroupParams, now: i64, respond: SyncResponder) {
        match self.validate_group_status(&p.group_id, GroupApi::SyncGroup) {
            // The rebalance state was lost with the load: the member rejoins.
            Some(ResponseError::CoordinatorLoadInProgress) => {
                return reply(
                    respond,
                    SyncGroupResult::error(ResponseError::RebalanceInProgress),
                )
            }
            Some(e) => return reply(respond, SyncGroupResult::error(e)),
            None => {}
        }
        let Some(group) = self.manager.get_group(&p.group_id) else {
            return reply(
                respond,
                SyncGroupResult::error(ResponseError::UnknownMemberId),
            );
        };
        let error = if group.is(GroupState::Dead) {
            Some(ResponseError::CoordinatorNotAvailable)
        } else {
            Self::validate_current_member(
                group,
                &p.member_id,
                p.group_instance_id.as_deref(),
                "sync-group",
            )
            .or_else(|| {
                if p.generation_id != group.generation_id {
                    Some(ResponseError::IllegalGeneration)
                } else if p
                    .protocol_type
                    .as_ref()
                    .is_some_and(|t| group.protocol_type.as_ref() != Some(t))
                    || p.protocol_name
                        .as_ref()
                        .is_some_and(|n| group.protocol_name.as_ref() != Some(n))
                {
                    Some(ResponseError::InconsistentGroupProtocol)
                } else {
                    None
                }
            })
        };
        if let Some(e) = error {
            return reply(respond, SyncGroupResult::error(e));
        }
        match group.current_state() {
            GroupState::Empty => reply(
                respond,
                SyncGroupResult::error(ResponseError::UnknownMemberId),
            ),
            GroupState::PreparingRebalance => reply(
                respond,
                SyncGroupResult::error(ResponseError::RebalanceInProgress),
            ),
            GroupState::CompletingRebalance => {
                let is_leader = group.is_leader(&p.member_id);
                let generation = group.generation_id;
                let members = group.all_members();
                let static_count = group.num_static_members();
                if let Some(m) = self
                    .group_mut(&p.group_id)
                    .and_then(|g| g.get_mut(&p.member_id))
                {
                    m.awaiting_sync = Some(respond);
                }
                self.remove_pending_sync_member(&p.group_id, &p.member_id);
                if is_leader {
                    info!(group = %p.group_id, leader = %p.member_id, generation, members = members.len(), static_members = static_count, "assignment received from the leader");
                    let mut assignment: HashMap<String, Bytes> =
                        p.assignments.into_iter().collect();
                    let missing: Vec<&String> = members
                        .iter()
                        .filter(|m| !assignment.contains_key(*m))
                        .collect();
                    if !missing.is_empty() {
                        warn!(group = %p.group_id, generation, ?missing, "setting empty assignments for members");
                    }
                    for m in missing {
                        assignment.insert(m.clone(), Bytes::new());
                    }
                    self.store_group(
                        &p.group_id,
                        assignment.clone(),
                        GroupStorePurpose::SyncLeader {
                            generation,
                            member_id: p.member_id.clone(),
                            assignment,
                        },
                        now,
                    );
                }
            }
            GroupState::Stable => {
                let result = SyncGroupResult {
                    protocol_type: group.protocol_type.clone(),
                    protocol_name: group.protocol_name.clone(),
                    assignment: group
                        .get(&p.member_id)
                        .map(|m| m.assignment.clone())
                        .unwrap_or_default(),
                    error: None,
                };
                self.remove_pending_sync_member(&p.group_id, &p.member_id);
                reply(respond, result);
                self.complete_and_schedule_next_heartbeat_expiration(
                    &p.group_id,
                    &p.member_id,
                    now,
                );
            }
            GroupState::Dead => reply(
                respond,
                SyncGroupResult::error(ResponseError::CoordinatorNotAvailable),
            ),
        }
    }

    fn set_and_propagate_assignment(
        &mut self,
        group_id: &str,
        assignment: &HashMap<String, Bytes>,
        now: i64,
    ) {
        if let Some(group) = self.group_mut(group_id) {
            for m in group.members_mut() {
                m.assignment = assignment.get(&m.member_id).cloned().unwrap_or_default();
            }
        }
        self.propagate_assignment(group_id, None, now);
    }

    fn reset_and_propagate_assignment_error(
        &mut self,
        group_id: &str,
        error: ResponseError,
        now: i64,
    ) {
        if let Some(group) = self.group_mut(group_id) {
            for m in group.members_mut() {
                m.assignment = Bytes::new();
            }
        }
        self.propagate_assignment(group_id, Some(error), now);
    }

    fn propagate_assignment(&mut self, group_id: &str, error: Option<ResponseError>, now: i64) {
        let Some(group) = self.group_mut(group_id) else {
            return;
        };
        let (protocol_type, protocol_name) = if error.is_none() {
            (group.protocol_type.clone(), group.protocol_name.clone())
        } else {
            (None, None)
        };
        let generation = group.generation_id;
        let mut synced = Vec::new();
        for m in group.members_mut() {
            if m.assignment.is_empty() && error.is_none() {
                warn!(group = %group_id, member = %m.member_id, generation, "sending an empty assignment");
            }
            let result = SyncGroupResult {
                protocol_type: protocol_type.clone(),
                protocol_name: protocol_name.clone(),
                assignment: m.assignment.clone(),
                error,
            };
            if m.maybe_invoke_sync(result) {
                synced.push(m.member_id.clone());
            }
        }
        for id in synced {
            self.complete_and_schedule_next_heartbeat_expiration(group_id, &id, now);
        }
    }

    // ============================================================ Heartbeat, LeaveGroup

    /// Heartbeat (Kafka's `handleHeartbeat`).
    pub fn handle_heartbeat(&mut self, p: HeartbeatParams, now: i64) -> Option<ResponseError> {
        match self.validate_group_status(&p.group_id, GroupApi::Heartbeat) {
            // Loading: answered blindly.
            Some(ResponseError::CoordinatorLoadInProgress) => return None,
            Some(e) => return Some(e),
            None => {}
        }
        let Some(group) = self.manager.get_group(&p.group_id) else {
            return Some(ResponseError::UnknownMemberId);
        };
        if group.is(GroupState::Dead) {
            return Some(ResponseError::CoordinatorNotAvailable);
        }
        if let Some(e) = Self::validate_current_member(
            group,
            &p.member_id,
            p.group_instance_id.as_deref(),
            "heartbeat",
        ) {
            return Some(e);
        }
        if p.generation_id != group.generation_id {
            return Some(ResponseError::IllegalGeneration);
        }
        let answer = match group.current_state() {
            GroupState::Empty => return Some(ResponseError::UnknownMemberId),
            GroupState::Dead => return Some(ResponseError::CoordinatorNotAvailable),
            GroupState::CompletingRebalance | GroupState::Stable => None,
            GroupState::PreparingRebalance => Some(ResponseError::RebalanceInProgress),
        };
        self.complete_and_schedule_next_heartbeat_expiration(&p.group_id, &p.member_id, now);
        answer
    }

    /// LeaveGroup (Kafka's `handleLeaveGroup`).
    pub fn handle_leave_group(
        &mut self,
        group_id: &str,
        leaving: Vec<LeavingMember>,
        now: i64,
    ) -> LeaveGroupResult {
        if let Some(e) = self.validate_group_status(group_id, GroupApi::LeaveGroup) {
            return LeaveGroupResult {
                error: Some(e),
                members: Vec::new(),
            };
        }
        let member_result = |m: &LeavingMember, error| LeaveMemberResult {
            member_id: m.member_id.clone(),
            group_instance_id: m.group_instance_id.clone(),
            error,
        };
        let Some(group) = self.manager.get_group(group_id) else {
            return LeaveGroupResult {
                error: None,
                members: leaving
                    .iter()
                    .map(|m| member_result(m, Some(ResponseError::UnknownMemberId)))
                    .collect(),
            };
        };
        if group.is(GroupState::Dead) {
            return LeaveGroupResult {
                error: Some(ResponseError::CoordinatorNotAvailable),
                members: Vec::new(),
            };
        }
        let mut results = Vec::with_capacity(leaving.len());
        for m in &leaving {
            let Some(group) = self.manager.get_group(group_id) else {
                results.push(member_result(
                    m,
                    Some(ResponseError::CoordinatorNotAvailable),
                ));
                continue;
            };
            let reason = m.reason.as_deref().unwrap_or("not provided");
            let error = if m.member_id == UNKNOWN_MEMBER_ID {
                match m
                    .group_instance_id
                    .as_deref()
                    .and_then(|i| group.current_static_member_id(i))
                    .map(str::to_string)
                {
                    Some(current) => {
                        self.remove_current_member_from_group(group_id, &current, reason, now);
                        None
                    }
                    None => Some(ResponseError::UnknownMemberId),
                }
            } else if group.is_pending_member(&m.member_id) {
                self.remove_pending_member_and_update_group(group_id, &m.member_id, now);
                self.remove_heartbeat_for_leaving_member(group_id, &m.member_id);
                info!(group = %group_id, member = %m.member_id, "pending member left the group through LeaveGroup");
                None
            } else {
                match Self::validate_current_member(
                    group,
                    &m.member_id,
                    m.group_instance_id.as_deref(),
                    "leave-group",
                ) {
                    Some(e) => Some(e),
                    None => {
                        self.remove_current_member_from_group(group_id, &m.member_id, reason, now);
                        None
                    }
                }
            };
            results.push(member_result(m, error));
        }
        LeaveGroupResult {
            error: None,
            members: results,
        }
    }

    fn remove_current_member_from_group(
        &mut self,
        group_id: &str,
        member_id: &str,
        reason: &str,
        now: i64,
    ) {
        let why = format!("removing member {member_id} on LeaveGroup; client reason: {reason}");
        self.remove_member_and_update_group(group_id, member_id, &why, now);
        self.remove_heartbeat_for_leaving_member(group_id, member_id);
        info!(group = %group_id, member_id, reason, "member left the group through LeaveGroup");
    }

    // ============================================================ storing groups

    /// Writes the group's metadata record (Kafka's `storeGroup`); `purpose` runs when the
    /// write completes.
    fn store_group(
        &mut self,
        group_id: &str,
        assignment: HashMap<String, Bytes>,
        purpose: GroupStorePurpose,
        now: i64,
    ) {
        let Some(group) = self.manager.get_group(group_id) else {
            return;
        };
        let incarnation = group.incarnation;
        let record = GroupMetadataManager::group_metadata_record(group, &assignment, now);
        let acks = self.manager.config.commit_required_acks;
        match self.manager.append(group_id, &[record], acks, now) {
            Err(e) => {
                debug!(group = %group_id, error = ?e, "group metadata append failed");
                self.complete_group_store(
                    group_id,
                    incarnation,
                    purpose,
                    Some(map_group_store_error(e)),
                    now,
                );
            }
            Ok(a) if a.replicated || acks != -1 => {
                self.complete_group_store(group_id, incarnation, purpose, None, now)
            }
            Ok(a) => {
                let id = self.register_pending(Pending::Group {
                    group_id: group_id.to_string(),
                    incarnation,
                    purpose,
                });
                self.waits.push(ReplicationWait {
                    id,
                    partition: self.partition_for(group_id),
                    required_offset: a.next_offset,
                });
            }
        }
    }

    pub(super) fn register_pending(&mut self, p: Pending) -> u64 {
        let id = self.next_pending;
        self.next_pending += 1;
        self.pending.insert(id, p);
        id
    }

    pub(super) fn push_wait(&mut self, wait: ReplicationWait) {
        self.waits.push(wait);
    }

    /// The replication wait `id` ended: `error` is the append error (REQUEST_TIMED_OUT,
    /// NOT_ENOUGH_REPLICAS_AFTER_APPEND, …) or `None`.
    pub fn on_replication_result(&mut self, id: u64, error: Option<ResponseError>, now: i64) {
        match self.pending.remove(&id) {
            Some(Pending::Group {
                group_id,
                incarnation,
                purpose,
            }) => self.complete_group_store(
                &group_id,
                incarnation,
                purpose,
                error.map(map_group_store_error),
                now,
            ),
            Some(Pending::Offsets {
                group_id,
                incarnation,
                written,
                all,
                base_offset,
                respond,
            }) => self.complete_offset_store(
                &group_id,
                incarnation,
                written,
                all,
                match error {
                    None => Ok(base_offset),
                    Some(e) => Err(e),
                },
                respond,
            ),
            None => debug!(id, "replication result for an unknown write"),
        }
    }

    fn complete_group_store(
        &mut self,
        group_id: &str,
        incarnation: u64,
        purpose: GroupStorePurpose,
        error: Option<ResponseError>,
        now: i64,
    ) {
        let current = self
            .manager
            .get_group(group_id)
            .is_some_and(|g| g.incarnation == incarnation);
        match purpose {
            GroupStorePurpose::EmptyGroup => {
                if let Some(e) = error {
                    warn!(group = %group_id, error = ?e, "failed to write the empty group metadata");
                }
            }
            GroupStorePurpose::SyncLeader {
                generation,
                member_id,
                assignment,
            } => {
                if !current {
                    return;
                }
                let still_waiting = self.manager.get_group(group_id).is_some_and(|g| {
                    g.is(GroupState::CompletingRebalance) && g.generation_id == generation
                });
                if !still_waiting {
                    return;
                }
                match error {
                    Some(e) => {
                        self.reset_and_propagate_assignment_error(group_id, e, now);
                        let why = format!("error {e:?} when storing the group assignment during SyncGroup (member: {member_id})");
                        self.maybe_prepare_rebalance(group_id, &why, now);
                    }
                    None => {
                        self.set_and_propagate_assignment(group_id, &assignment, now);
                        if let Some(g) = self.group_mut(group_id) {
                            g.transition_to(GroupState::Stable, now);
                        }
                    }
                }
            }
            GroupStorePurpose::StaticRejoin {
                old_member_id,
                new_member_id,
                instance_id,
                old_protocols,
                old_rebalance_timeout_ms,
                old_session_timeout_ms,
                current_leader,
                support_skipping_assignment,
            } => {
                if !current {
                    return;
                }
                let Some(group) = self.group_mut(group_id) else {
                    return;
                };
                match error {
                    Some(e) => {
                        warn!(group = %group_id, error = ?e, "failed to persist the metadata of a rejoining static member; reverting it");
                        let respond = group
                            .get_mut(&new_member_id)
                            .and_then(|m| m.awaiting_join.take());
                        group.update_member(
                            &new_member_id,
                            old_protocols,
                            old_rebalance_timeout_ms,
                            old_session_timeout_ms,
                            None,
                        );
                        group.replace_static_member(&instance_id, &new_member_id, &old_member_id);
                        let result = JoinGroupResult {
                            members: Vec::new(),
                            member_id: UNKNOWN_MEMBER_ID.to_string(),
                            generation_id: group.generation_id,
                            protocol_type: group.protocol_type.clone(),
                            protocol_name: group.protocol_name.clone(),
                            leader_id: current_leader,
                            skip_assignment: false,
                            error: Some(e),
                        };
                        self.complete_and_schedule_next_heartbeat_expiration(
                            group_id,
                            &old_member_id,
                            now,
                        );
                        if let Some(tx) = respond {
                            reply(tx, result);
                        }
                    }
                    None => {
                        let is_leader = group.is_leader(&new_member_id);
                        let result = if support_skipping_assignment {
                            JoinGroupResult {
                                members: if is_leader {
                                    group.current_member_metadata()
                                } else {
                                    Vec::new()
                                },
                                member_id: new_member_id.clone(),
                                generation_id: group.generation_id,
                                protocol_type: group.protocol_type.clone(),
                                protocol_name: group.protocol_name.clone(),
                                leader_id: group.leader_or_empty(),
                                skip_assignment: is_leader,
                                error: None,
                            }
                        } else {
                            // The old leader id: a rejoining leader must not run a trivial
                            // assignment that a Stable group would not broadcast.
                            JoinGroupResult {
                                members: Vec::new(),
                                member_id: new_member_id.clone(),
                                generation_id: group.generation_id,
                                protocol_type: group.protocol_type.clone(),
                                protocol_name: group.protocol_name.clone(),
                                leader_id: current_leader,
                                skip_assignment: false,
                                error: None,
                            }
                        };
                        if let Some(m) = group.get_mut(&new_member_id) {
                            m.maybe_invoke_join(result);
                        }
                    }
                }
            }
        }
    }

    // ============================================================ partition emigration

    /// This broker became leader of `__consumer_offsets-<partition>` in `epoch`: returns
    /// whether the partition must be read and handed to [`GroupCoordinator::complete_load`]
    /// (Kafka's `onElection`).
    pub fn on_election(&mut self, partition: i32, epoch: i32) -> bool {
        info!(
            partition,
            epoch, "elected as the group coordinator for __consumer_offsets partition"
        );
        self.manager.begin_load(partition, epoch)
    }

    /// The records of a partition loaded for `epoch` (or why reading failed). Ignored if the
    /// partition was resigned or re-elected meanwhile.
    pub fn complete_load(
        &mut self,
        partition: i32,
        epoch: i32,
        records: Result<Vec<LoadedRecord>, String>,
        now: i64,
    ) {
        if !self.manager.is_current_load(partition, epoch) {
            info!(
                partition,
                epoch, "discarding a load of __consumer_offsets that is no longer wanted"
            );
            return;
        }
        let records = records.unwrap_or_else(|e| {
            error!(partition, epoch, error = %e, "error loading offsets from __consumer_offsets");
            Vec::new()
        });
        for group_id in self.manager.complete_load(partition, records, now) {
            self.on_group_loaded(&group_id, now);
        }
    }

    fn on_group_loaded(&mut self, group_id: &str, now: i64) {
        let Some(group) = self.manager.get_group(group_id) else {
            return;
        };
        info!(group = %group_id, generation = group.generation_id, "loaded group metadata");
        let over =
            i64::try_from(group.size()).unwrap_or(i64::MAX) > i64::from(self.group_config.max_size);
        if over {
            let why = format!(
                "freshly-loaded group is over capacity ({}); rebalancing in order to give a chance for consumers to commit offsets",
                self.group_config.max_size
            );
            self.prepare_rebalance(group_id, &why, now);
        }
        let members = self
            .manager
            .get_group(group_id)
            .map(GroupMetadata::all_members)
            .unwrap_or_default();
        for m in members {
            self.complete_and_schedule_next_heartbeat_expiration(group_id, &m, now);
        }
    }

    /// This broker no longer leads the partition (Kafka's `onResignation`): its groups are
    /// unloaded, parked requests answered NOT_COORDINATOR.
    pub fn on_resignation(&mut self, partition: i32, epoch: Option<i32>, now: i64) {
        info!(
            partition,
            ?epoch,
            "resigned as the group coordinator for __consumer_offsets partition"
        );
        let Some(groups) = self.manager.remove_groups_for_partition(partition, epoch) else {
            return;
        };
        for mut group in groups {
            self.on_group_unloaded(&mut group, now);
        }
    }

    fn on_group_unloaded(&mut self, group: &mut GroupMetadata, now: i64) {
        info!(group = %group.group_id, generation = group.generation_id, "unloading group metadata");
        let previous = group.current_state();
        group.transition_to(GroupState::Dead, now);
        match previous {
            GroupState::Empty | GroupState::Dead => {}
            GroupState::PreparingRebalance => {
                for m in group.members_mut() {
                    let id = m.member_id.clone();
                    m.maybe_invoke_join(JoinGroupResult::error(&id, ResponseError::NotCoordinator));
                }
            }
            GroupState::Stable | GroupState::CompletingRebalance => {
                for m in group.members_mut() {
                    m.maybe_invoke_sync(SyncGroupResult::error(ResponseError::NotCoordinator));
                }
            }
        }
        let id = group.group_id.clone();
        self.timers.cancel_where(|k| match k {
            TimerKey::Heartbeat { group, .. }
            | TimerKey::Join { group }
            | TimerKey::Sync { group } => *group == id,
        });
    }
}

/// Kafka's error mapping of a failed group metadata append.
pub(super) fn map_group_store_error(e: ResponseError) -> ResponseError {
    use ResponseError::*;
    match e {
        UnknownTopicOrPartition | NotEnoughReplicas | NotEnoughReplicasAfterAppend => {
            CoordinatorNotAvailable
        }
        NotLeaderOrFollower | KafkaStorageError => NotCoordinator,
        RequestTimedOut => RebalanceInProgress,
        MessageTooLarge | RecordListTooLarge | InvalidFetchSize => UnknownServerError,
        other => other,
    }
}

/// Kafka's `maybeConvertOffsetCommitError`.
pub(super) fn map_commit_error(e: ResponseError) -> ResponseError {
    use ResponseError::*;
    match e {
        UnknownTopicOrPartition | NotEnoughReplicas | NotEnoughReplicasAfterAppend => {
            CoordinatorNotAvailable
        }
        NotLeaderOrFollower | KafkaStorageError => NotCoordinator,
        MessageTooLarge | RecordListTooLarge | InvalidFetchSize => InvalidCommitOffsetSize,
        other => other,
    }
}
