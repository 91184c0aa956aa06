//! One classic group and its state machine (Kafka's `GroupMetadata`, spec protocol-apis.md
//! §5): the state with its allowed transitions, the members (static ones indexed by
//! `group.instance.id`, pending ones that still have to rejoin with their new id, those the
//! coordinator still waits a SyncGroup from), the generation, protocol and leader, and the
//! committed offsets with the commits still being written.
//!
//! | State | Allowed previous |
//! |---|---|
//! | Empty | PreparingRebalance |
//! | PreparingRebalance | Stable, CompletingRebalance, Empty |
//! | CompletingRebalance | PreparingRebalance |
//! | Stable | CompletingRebalance |
//! | Dead | any |
//!
//! An invalid transition is a coordinator bug: it is logged and not made (Kafka throws).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

use bytes::Bytes;
use tracing::{debug, error, info, warn};

use super::consumer_protocol::{decode_subscription, CONSUMER_PROTOCOL_TYPE};
use super::member_metadata::MemberMetadata;
use super::results::{
    GroupOverview, GroupSummary, JoinGroupMember, JoinResponder, OffsetAndMetadata,
};
use crate::cluster::TopicPartition;

/// The group states.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GroupState {
    PreparingRebalance,
    CompletingRebalance,
    Stable,
    Dead,
    Empty,
}

impl GroupState {
    /// The name Kafka reports (DescribeGroups, ListGroups).
    pub fn name(self) -> &'static str {
        match self {
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
            GroupState::Empty => "Empty",
        }
    }

    /// The states a group may be in before entering this one.
    pub fn valid_previous_states(self) -> &'static [GroupState] {
        use GroupState::*;
        match self {
            PreparingRebalance => &[Stable, CompletingRebalance, Empty],
            CompletingRebalance => &[PreparingRebalance],
            Stable => &[CompletingRebalance],
            Dead => &[Stable, PreparingRebalance, CompletingRebalance, Empty, Dead],
            Empty => &[PreparingRebalance],
        }
    }
}

impl fmt::Display for GroupState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A committed offset with the offset of the batch it was written in (Kafka's
/// `CommitRecordMetadataAndOffset`): the later record wins when a write and a load race.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommitRecordMetadataAndOffset {
    pub appended_batch_offset: Option<i64>,
    pub offset_and_metadata: OffsetAndMetadata,
}

impl CommitRecordMetadataAndOffset {
    fn older_than(&self, that: &CommitRecordMetadataAndOffset) -> bool {
        self.appended_batch_offset.unwrap_or(-1) < that.appended_batch_offset.unwrap_or(-1)
    }
}

/// See the module doc.
pub struct GroupMetadata {
    pub group_id: String,
    /// Distinguishes this group object from a later one with the same id (a write completing
    /// after the group was unloaded or deleted must not touch its successor).
    pub incarnation: u64,
    state: GroupState,
    pub current_state_timestamp: Option<i64>,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub generation_id: i32,
    leader_id: Option<String>,
    members: BTreeMap<String, MemberMetadata>,
    /// group.instance.id → member id.
    static_members: HashMap<String, String>,
    pending_members: HashSet<String>,
    pending_sync_members: HashSet<String>,
    offsets: HashMap<TopicPartition, CommitRecordMetadataAndOffset>,
    pending_offset_commits: HashMap<TopicPartition, OffsetAndMetadata>,
    /// For protocol type `consumer`: the topics the members subscribe to (None = unknown).
    subscribed_topics: Option<HashSet<String>>,
    /// A member joined during the initial (delayed) rebalance: delay once more.
    pub new_member_added: bool,
}

impl fmt::Debug for GroupMetadata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupMetadata")
            .field("group_id", &self.group_id)
            .field("generation", &self.generation_id)
            .field("protocol_type", &self.protocol_type)
            .field("state", &self.state)
            .field("members", &self.members.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl GroupMetadata {
    pub fn new(group_id: &str, state: GroupState, now: i64, incarnation: u64) -> GroupMetadata {
        GroupMetadata {
            group_id: group_id.to_string(),
            incarnation,
            state,
            current_state_timestamp: Some(now),
            protocol_type: None,
            protocol_name: None,
            generation_id: 0,
            leader_id: None,
            members: BTreeMap::new(),
            static_members: HashMap::new(),
            pending_members: HashSet::new(),
            pending_sync_members: HashSet::new(),
            offsets: HashMap::new(),
            pending_offset_commits: HashMap::new(),
            subscribed_topics: None,
            new_member_added: false,
        }
    }

    /// Kafka's `GroupMetadata.loadGroup`: a group as its last metadata record describes it.
    #[allow(clippy::too_many_arguments)]
    pub fn load(
        group_id: &str,
        state: GroupState,
        generation_id: i32,
        protocol_type: &str,
        protocol_name: Option<String>,
        leader_id: Option<String>,
        current_state_timestamp: Option<i64>,
        members: Vec<MemberMetadata>,
        now: i64,
        incarnation: u64,
    ) -> GroupMetadata {
        let mut group = GroupMetadata::new(group_id, state, now, incarnation);
        group.generation_id = generation_id;
        group.protocol_type = (!protocol_type.is_empty()).then(|| protocol_type.to_string());
        group.protocol_name = protocol_name;
        group.leader_id = leader_id;
        group.current_state_timestamp = current_state_timestamp;
        for member in members {
            info!(group = group_id, member = %member.member_id, generation = generation_id, "loaded member");
            group.add(member, None);
        }
        group.subscribed_topics = group.compute_subscribed_topics();
        group
    }

    // ------------------------------------------------------------ members

    pub fn is(&self, state: GroupState) -> bool {
        self.state == state
    }

    pub fn current_state(&self) -> GroupState {
        self.state
    }

    pub fn has(&self, member_id: &str) -> bool {
        self.members.contains_key(member_id)
    }

    pub fn get(&self, member_id: &str) -> Option<&MemberMetadata> {
        self.members.get(member_id)
    }

    pub fn get_mut(&mut self, member_id: &str) -> Option<&mut MemberMetadata> {
        self.members.get_mut(member_id)
    }

    pub fn size(&self) -> usize {
        self.members.len()
    }

    pub fn is_leader(&self, member_id: &str) -> bool {
        self.leader_id.as_deref() == Some(member_id)
    }

    pub fn leader_id(&self) -> Option<&str> {
        self.leader_id.as_deref()
    }

    /// The leader id, "" when none (Kafka's `leaderOrNull` on the wire).
    pub fn leader_or_empty(&self) -> String {
        self.leader_id.clone().unwrap_or_default()
    }

    pub fn current_state_timestamp_or_default(&self) -> i64 {
        self.current_state_timestamp.unwrap_or(-1)
    }

    pub fn is_consumer_group(&self) -> bool {
        self.protocol_type.as_deref() == Some(CONSUMER_PROTOCOL_TYPE)
    }

    /// Adds a member (optionally parked in a JoinGroup); the first member sets the protocol
    /// type and becomes leader if there is none.
    pub fn add(&mut self, mut member: MemberMetadata, join: Option<JoinResponder>) {
        if let Some(instance_id) = &member.group_instance_id {
            if self.static_members.contains_key(instance_id) {
                error!(group = %self.group_id, instance_id, "static member is already a member; not added");
                return;
            }
            self.static_members
                .insert(instance_id.clone(), member.member_id.clone());
        }
        if self.members.is_empty() {
            self.protocol_type = Some(member.protocol_type.clone());
        }
        if self.leader_id.is_none() {
            self.leader_id = Some(member.member_id.clone());
        }
        member.awaiting_join = join;
        self.pending_members.remove(&member.member_id);
        self.members.insert(member.member_id.clone(), member);
    }

    /// Removes a member (or a pending member id); a new leader is picked if needed.
    pub fn remove(&mut self, member_id: &str) -> Option<MemberMetadata> {
        let removed = self.members.remove(member_id);
        if let Some(m) = &removed {
            if let Some(instance_id) = &m.group_instance_id {
                self.static_members.remove(instance_id);
            }
        }
        if self.is_leader(member_id) {
            self.leader_id = self.members.keys().next().cloned();
        }
        self.pending_members.remove(member_id);
        self.pending_sync_members.remove(member_id);
        removed
    }

    /// Kafka's `maybeElectNewJoinedLeader`: keeps the leader if it rejoined, else makes any
    /// rejoined member leader; false if there is no leader or nobody rejoined.
    pub fn maybe_elect_new_joined_leader(&mut self) -> bool {
        let Some(current) = self.leader_id.clone() else {
            return false;
        };
        if self
            .members
            .get(&current)
            .is_some_and(MemberMetadata::is_awaiting_join)
        {
            return true;
        }
        match self
            .members
            .values()
            .find(|m| m.is_awaiting_join())
            .map(|m| m.member_id.clone())
        {
            Some(new_leader) => {
                info!(group = %self.group_id, old_leader = %current, %new_leader, "group leader failed to rejoin before the rebalance timeout; new leader elected");
                self.leader_id = Some(new_leader);
                true
            }
            None => {
                info!(group = %self.group_id, leader = %current, "group leader failed to rejoin and no member joined; the group cannot move to the next generation");
                false
            }
        }
    }

    /// Static members only: gives the member `old_member_id` the id `new_member_id`, fencing
    /// any JoinGroup / SyncGroup the old incarnation has parked (FENCED_INSTANCE_ID).
    pub fn replace_static_member(
        &mut self,
        instance_id: &str,
        old_member_id: &str,
        new_member_id: &str,
    ) -> bool {
        let Some(mut member) = self.members.remove(old_member_id) else {
            error!(group = %self.group_id, old_member_id, "cannot replace a non-existing member");
            return false;
        };
        member.maybe_invoke_join(super::results::JoinGroupResult::error(
            old_member_id,
            kafka_protocol::ResponseError::FencedInstanceId,
        ));
        member.maybe_invoke_sync(super::results::SyncGroupResult::error(
            kafka_protocol::ResponseError::FencedInstanceId,
        ));
        member.member_id = new_member_id.to_string();
        self.members.insert(new_member_id.to_string(), member);
        if self.is_leader(old_member_id) {
            self.leader_id = Some(new_member_id.to_string());
        }
        self.static_members
            .insert(instance_id.to_string(), new_member_id.to_string());
        true
    }

    pub fn is_pending_member(&self, member_id: &str) -> bool {
        self.pending_members.contains(member_id)
    }

    pub fn add_pending_member(&mut self, member_id: &str) {
        if self.has(member_id) {
            error!(group = %self.group_id, member_id, "a member cannot also be pending");
            return;
        }
        self.pending_members.insert(member_id.to_string());
    }

    pub fn add_pending_sync_member(&mut self, member_id: &str) {
        if self.has(member_id) {
            self.pending_sync_members.insert(member_id.to_string());
        }
    }

    pub fn remove_pending_sync_member(&mut self, member_id: &str) {
        self.pending_sync_members.remove(member_id);
    }

    pub fn has_received_sync_from_all_members(&self) -> bool {
        self.pending_sync_members.is_empty()
    }

    pub fn all_pending_sync_members(&self) -> Vec<String> {
        let mut v: Vec<String> = self.pending_sync_members.iter().cloned().collect();
        v.sort();
        v
    }

    pub fn clear_pending_sync_members(&mut self) {
        self.pending_sync_members.clear();
    }

    pub fn has_static_member(&self, instance_id: &str) -> bool {
        self.static_members.contains_key(instance_id)
    }

    pub fn current_static_member_id(&self, instance_id: &str) -> Option<&str> {
        self.static_members.get(instance_id).map(String::as_str)
    }

    pub fn num_static_members(&self) -> usize {
        self.static_members.len()
    }

    /// Members that have not rejoined the current rebalance.
    pub fn not_yet_rejoined_members(&self) -> Vec<(String, bool)> {
        self.members
            .values()
            .filter(|m| !m.is_awaiting_join())
            .map(|m| (m.member_id.clone(), m.is_static()))
            .collect()
    }

    pub fn num_awaiting(&self) -> usize {
        self.members
            .values()
            .filter(|m| m.is_awaiting_join())
            .count()
    }

    pub fn num_pending(&self) -> usize {
        self.pending_members.len()
    }

    pub fn has_all_members_joined(&self) -> bool {
        self.members.len() == self.num_awaiting() && self.pending_members.is_empty()
    }

    pub fn all_members(&self) -> Vec<String> {
        self.members.keys().cloned().collect()
    }

    pub fn members_mut(&mut self) -> impl Iterator<Item = &mut MemberMetadata> {
        self.members.values_mut()
    }

    pub fn members(&self) -> impl Iterator<Item = &MemberMetadata> {
        self.members.values()
    }

    /// The largest rebalance timeout of the members (0 without members).
    pub fn rebalance_timeout_ms(&self) -> i32 {
        self.members
            .values()
            .map(|m| m.rebalance_timeout_ms)
            .max()
            .unwrap_or(0)
            .max(0)
    }

    /// `<client id or instance id>-<uuid>` (Kafka's `generateMemberId`).
    pub fn generate_member_id(client_id: &str, group_instance_id: Option<&str>) -> String {
        format!(
            "{}-{}",
            group_instance_id.unwrap_or(client_id),
            uuid::Uuid::new_v4()
        )
    }

    pub fn can_rebalance(&self) -> bool {
        GroupState::PreparingRebalance
            .valid_previous_states()
            .contains(&self.state)
    }

    /// Moves to `target` (stamping the state time); an invalid transition is logged and
    /// refused.
    pub fn transition_to(&mut self, target: GroupState, now: i64) -> bool {
        if !target.valid_previous_states().contains(&self.state) {
            error!(group = %self.group_id, from = %self.state, to = %target, "invalid group state transition refused");
            return false;
        }
        self.state = target;
        self.current_state_timestamp = Some(now);
        true
    }

    fn supported_by_all(&self, protocol: &str) -> bool {
        self.members
            .values()
            .filter(|m| m.supported_protocols.iter().any(|(n, _)| n == protocol))
            .count()
            == self.members.len()
    }

    /// The protocols every member supports.
    fn candidate_protocols(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .members
            .values()
            .flat_map(|m| m.supported_protocols.iter().map(|(n, _)| n.clone()))
            .collect();
        names.sort();
        names.dedup();
        names.retain(|n| self.supported_by_all(n));
        names
    }

    /// Each member votes for its first candidate; the most votes win (Kafka's
    /// `selectProtocol`). `None` only without members or candidates.
    pub fn select_protocol(&self) -> Option<String> {
        let candidates = self.candidate_protocols();
        let mut votes: BTreeMap<String, usize> = BTreeMap::new();
        for m in self.members.values() {
            if let Some(v) = m.vote(&candidates) {
                *votes.entry(v).or_default() += 1;
            }
        }
        votes.into_iter().max_by_key(|(_, n)| *n).map(|(p, _)| p)
    }

    /// Whether a member with these protocols may join (Kafka's `supportsProtocols`).
    pub fn supports_protocols(&self, protocol_type: &str, protocols: &[(String, Bytes)]) -> bool {
        if self.is(GroupState::Empty) {
            !protocol_type.is_empty() && !protocols.is_empty()
        } else {
            self.protocol_type.as_deref() == Some(protocol_type)
                && protocols.iter().any(|(n, _)| self.supported_by_all(n))
        }
    }

    /// Whether the consumer group subscribes to `topic` (true when it is not known).
    pub fn is_subscribed_to_topic(&self, topic: &str) -> bool {
        self.subscribed_topics
            .as_ref()
            .is_none_or(|topics| topics.contains(topic))
    }

    pub fn subscribed_topics(&self) -> Option<&HashSet<String>> {
        self.subscribed_topics.as_ref()
    }

    /// Kafka's `computeSubscribedTopics`: the union of the members' subscriptions for a
    /// `consumer` group with a protocol; empty without members; unknown otherwise or when a
    /// subscription does not parse.
    fn compute_subscribed_topics(&self) -> Option<HashSet<String>> {
        if !self.is_consumer_group() {
            return None;
        }
        if self.members.is_empty() {
            return Some(HashSet::new());
        }
        let protocol = self.protocol_name.as_ref()?;
        let mut topics = HashSet::new();
        for m in self.members.values() {
            match decode_subscription(&m.metadata(protocol), true) {
                Ok(s) => topics.extend(s.topics),
                Err(e) => {
                    warn!(group = %self.group_id, protocol = %protocol, error = %e, "could not parse a consumer subscription; the subscribed topics are unknown");
                    return None;
                }
            }
        }
        Some(topics)
    }

    /// Updates a member's protocols and timeouts and parks (or un-parks) its JoinGroup.
    pub fn update_member(
        &mut self,
        member_id: &str,
        protocols: Vec<(String, Bytes)>,
        rebalance_timeout_ms: i32,
        session_timeout_ms: i32,
        join: Option<JoinResponder>,
    ) {
        if let Some(m) = self.members.get_mut(member_id) {
            m.supported_protocols = protocols;
            m.rebalance_timeout_ms = rebalance_timeout_ms;
            m.session_timeout_ms = session_timeout_ms;
            m.awaiting_join = join;
        }
    }

    /// Kafka's `initNextGeneration`: generation + 1, protocol chosen, CompletingRebalance; or
    /// Empty without members.
    pub fn init_next_generation(&mut self, now: i64) {
        self.generation_id += 1;
        if self.members.is_empty() {
            self.protocol_name = None;
            self.subscribed_topics = self.compute_subscribed_topics();
            self.transition_to(GroupState::Empty, now);
        } else {
            self.protocol_name = self.select_protocol();
            self.subscribed_topics = self.compute_subscribed_topics();
            self.transition_to(GroupState::CompletingRebalance, now);
        }
        self.clear_pending_sync_members();
    }

    /// Every member with its metadata for the group's protocol (what the leader gets).
    pub fn current_member_metadata(&self) -> Vec<JoinGroupMember> {
        let protocol = self.protocol_name.clone().unwrap_or_default();
        self.members
            .values()
            .map(|m| JoinGroupMember {
                member_id: m.member_id.clone(),
                group_instance_id: m.group_instance_id.clone(),
                metadata: m.metadata(&protocol),
            })
            .collect()
    }

    /// DescribeGroups: member metadata and assignments only when Stable.
    pub fn summary(&self) -> GroupSummary {
        let protocol_type = self.protocol_type.clone().unwrap_or_default();
        if self.is(GroupState::Stable) {
            let protocol = self.protocol_name.clone().unwrap_or_default();
            GroupSummary {
                state: self.state.name().to_string(),
                protocol_type,
                members: self
                    .members
                    .values()
                    .map(|m| m.summary(&protocol))
                    .collect(),
                protocol,
            }
        } else {
            GroupSummary {
                state: self.state.name().to_string(),
                protocol_type,
                protocol: String::new(),
                members: self
                    .members
                    .values()
                    .map(MemberMetadata::summary_no_metadata)
                    .collect(),
            }
        }
    }

    pub fn overview(&self) -> GroupOverview {
        GroupOverview {
            group_id: self.group_id.clone(),
            protocol_type: self.protocol_type.clone().unwrap_or_default(),
            state: self.state.name().to_string(),
        }
    }

    // ------------------------------------------------------------ offsets

    pub fn initialize_offsets(
        &mut self,
        offsets: HashMap<TopicPartition, CommitRecordMetadataAndOffset>,
    ) {
        self.offsets.extend(offsets);
    }

    /// A commit was written at `batch_offset`: it becomes the committed offset unless a later
    /// record already is.
    pub fn on_offset_commit_append(
        &mut self,
        tp: &TopicPartition,
        record: CommitRecordMetadataAndOffset,
    ) {
        if self.pending_offset_commits.contains_key(tp) {
            let newer = self
                .offsets
                .get(tp)
                .is_none_or(|current| current.older_than(&record));
            if newer {
                self.offsets.insert(tp.clone(), record.clone());
            }
        }
        if self.pending_offset_commits.get(tp) == Some(&record.offset_and_metadata) {
            self.pending_offset_commits.remove(tp);
        }
    }

    pub fn fail_pending_offset_write(&mut self, tp: &TopicPartition, offset: &OffsetAndMetadata) {
        if self.pending_offset_commits.get(tp) == Some(offset) {
            self.pending_offset_commits.remove(tp);
        }
    }

    pub fn prepare_offset_commit(&mut self, offsets: &[(TopicPartition, OffsetAndMetadata)]) {
        for (tp, o) in offsets {
            self.pending_offset_commits.insert(tp.clone(), o.clone());
        }
    }

    pub fn has_pending_offset_commits_for(&self, tp: &TopicPartition) -> bool {
        self.pending_offset_commits.contains_key(tp)
    }

    pub fn remove_all_offsets(&mut self) -> Vec<(TopicPartition, OffsetAndMetadata)> {
        let all: Vec<TopicPartition> = self.offsets.keys().cloned().collect();
        self.remove_offsets(&all)
    }

    pub fn remove_offsets(
        &mut self,
        tps: &[TopicPartition],
    ) -> Vec<(TopicPartition, OffsetAndMetadata)> {
        let mut removed = Vec::new();
        for tp in tps {
            self.pending_offset_commits.remove(tp);
            if let Some(r) = self.offsets.remove(tp) {
                removed.push((tp.clone(), r.offset_and_metadata));
            }
        }
        removed
    }

    /// Kafka's `removeExpiredOffsets` (spec §5 "Offset expiration").
    pub fn remove_expired_offsets(
        &mut self,
        now: i64,
        retention_ms: i64,
    ) -> Vec<(TopicPartition, OffsetAndMetadata)> {
        enum Base {
            StateTimestamp(Option<i64>),
            CommitTimestamp,
        }
        let (base, subscribed): (Base, HashSet<String>) = match (&self.protocol_type, self.state) {
            (Some(_), GroupState::Empty) => (
                Base::StateTimestamp(self.current_state_timestamp),
                HashSet::new(),
            ),
            (Some(t), GroupState::Stable) if t == CONSUMER_PROTOCOL_TYPE => {
                match &self.subscribed_topics {
                    Some(topics) => (Base::CommitTimestamp, topics.clone()),
                    None => return Vec::new(),
                }
            }
            (None, _) => (Base::CommitTimestamp, HashSet::new()),
            _ => return Vec::new(),
        };
        let expired: Vec<TopicPartition> = self
            .offsets
            .iter()
            .filter(|(tp, r)| {
                if subscribed.contains(&tp.topic) || self.pending_offset_commits.contains_key(*tp) {
                    return false;
                }
                let o = &r.offset_and_metadata;
                match o.expire_timestamp {
                    Some(expire) => now >= expire,
                    None => {
                        let base_ts = match base {
                            Base::StateTimestamp(ts) => ts.unwrap_or(o.commit_timestamp),
                            Base::CommitTimestamp => o.commit_timestamp,
                        };
                        now.saturating_sub(base_ts) >= retention_ms
                    }
                }
            })
            .map(|(tp, _)| tp.clone())
            .collect();
        if !expired.is_empty() {
            debug!(group = %self.group_id, count = expired.len(), "offsets expired");
        }
        self.remove_offsets(&expired)
    }

    pub fn offset(&self, tp: &TopicPartition) -> Option<&OffsetAndMetadata> {
        self.offsets.get(tp).map(|r| &r.offset_and_metadata)
    }

    pub fn all_offsets(&self) -> Vec<(TopicPartition, OffsetAndMetadata)> {
        let mut v: Vec<_> = self
            .offsets
            .iter()
            .map(|(tp, r)| (tp.clone(), r.offset_and_metadata.clone()))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    pub fn num_offsets(&self) -> usize {
        self.offsets.len()
    }

    pub fn has_offsets(&self) -> bool {
        !self.offsets.is_empty() || !self.pending_offset_commits.is_empty()
    }
}
