//! The offset and admin half of the [`GroupCoordinator`] (Kafka's `handleCommitOffsets`,
//! `handleFetchOffsets`, `handleListGroups`, `handleDescribeGroup`, `handleDeleteGroups`,
//! `handleDeleteOffsets`, `handleDeletedPartitions` and the periodic offset expiration with
//! `cleanupGroupMetadata`).

use std::collections::HashSet;

use kafka_protocol::ResponseError;
use tracing::{debug, info, warn};

use super::group_coordinator::{
    map_commit_error, GroupApi, GroupCoordinator, Pending, ReplicationWait, TimerKey,
};
use super::group_metadata::{CommitRecordMetadataAndOffset, GroupMetadata, GroupState};
use super::group_metadata_manager::GroupMetadataManager;
use super::results::*;
use crate::cluster::TopicPartition;
use crate::record::SimpleRecord;

/// Kafka's group type of every classic group (ListGroups v5).
pub const CLASSIC_GROUP_TYPE: &str = "classic";

impl GroupCoordinator {
    /// OffsetCommit v1+ (Kafka's `handleCommitOffsets`); answered through `respond` once the
    /// commit is written (and replicated).
    pub fn handle_commit_offsets(
        &mut self,
        p: CommitOffsetsParams,
        now: i64,
        respond: CommitResponder,
    ) {
        let fail_all =
            |offsets: &[(TopicPartition, OffsetAndMetadata)], e: ResponseError| -> CommitResults {
                offsets
                    .iter()
                    .map(|(tp, _)| (tp.clone(), Some(e)))
                    .collect()
            };
        if let Some(e) = self.validate_group_status(&p.group_id, GroupApi::OffsetCommit) {
            return reply(respond, fail_all(&p.offsets, e));
        }
        if self.manager.get_group(&p.group_id).is_none() {
            if p.generation_id < 0 {
                info!(group = %p.group_id, "creating simple consumer group through a manual offset commit");
                self.manager.get_or_maybe_create(&p.group_id, true, now);
            } else {
                return reply(
                    respond,
                    fail_all(&p.offsets, ResponseError::IllegalGeneration),
                );
            }
        }
        let Some(group) = self.manager.get_group(&p.group_id) else {
            return;
        };
        if let Some(e) = Self::validate_offset_commit(group, &p) {
            return reply(respond, fail_all(&p.offsets, e));
        }
        match group.current_state() {
            GroupState::Empty => {
                self.store_offsets(&p.group_id, p.offsets, respond, now);
            }
            GroupState::Stable | GroupState::PreparingRebalance => {
                // Commits are allowed while preparing a rebalance: the heartbeat answers tell
                // the member about the rebalance.
                self.complete_and_schedule_next_heartbeat_expiration(
                    &p.group_id,
                    &p.member_id,
                    now,
                );
                self.store_offsets(&p.group_id, p.offsets, respond, now);
            }
            GroupState::CompletingRebalance => reply(
                respond,
                fail_all(&p.offsets, ResponseError::RebalanceInProgress),
            ),
            GroupState::Dead => reply(
                respond,
                fail_all(&p.offsets, ResponseError::CoordinatorNotAvailable),
            ),
        }
    }

    /// Kafka's `validateOffsetCommit` (non-transactional).
    fn validate_offset_commit(
        group: &GroupMetadata,
        p: &CommitOffsetsParams,
    ) -> Option<ResponseError> {
        if group.is(GroupState::Dead) {
            Some(ResponseError::CoordinatorNotAvailable)
        } else if p.generation_id < 0 && group.is(GroupState::Empty) {
            // The admin client or a consumer without group management.
            None
        } else if p.generation_id >= 0
            || p.member_id != UNKNOWN_MEMBER_ID
            || p.group_instance_id.is_some()
        {
            if let Some(instance_id) = p.group_instance_id.as_deref() {
                match group.current_static_member_id(instance_id) {
                    Some(current) if current != p.member_id => {
                        return Some(ResponseError::FencedInstanceId)
                    }
                    Some(_) => {}
                    None => return Some(ResponseError::UnknownMemberId),
                }
            }
            if !group.has(&p.member_id) {
                Some(ResponseError::UnknownMemberId)
            } else if p.generation_id != group.generation_id {
                Some(ResponseError::IllegalGeneration)
            } else {
                None
            }
        } else if !group.is(GroupState::Empty) {
            // Only members commit for a non-empty group.
            Some(ResponseError::UnknownMemberId)
        } else {
            None
        }
    }

    /// Kafka's `storeOffsets`: one batch of commit records; metadata over the limit is refused
    /// per partition (OFFSET_METADATA_TOO_LARGE).
    fn store_offsets(
        &mut self,
        group_id: &str,
        offsets: Vec<(TopicPartition, OffsetAndMetadata)>,
        respond: CommitResponder,
        now: i64,
    ) {
        let written: Vec<(TopicPartition, OffsetAndMetadata)> = offsets
            .iter()
            .filter(|(_, o)| self.manager.valid_metadata_length(&o.metadata))
            .cloned()
            .collect();
        if written.is_empty() {
            return reply(
                respond,
                offsets
                    .into_iter()
                    .map(|(tp, _)| (tp, Some(ResponseError::OffsetMetadataTooLarge)))
                    .collect(),
            );
        }
        let Some(group) = self.manager.get_group_mut(group_id) else {
            return;
        };
        let incarnation = group.incarnation;
        group.prepare_offset_commit(&written);
        let records: Vec<SimpleRecord> = written
            .iter()
            .map(|(tp, o)| GroupMetadataManager::offset_commit_record(group_id, tp, o, now))
            .collect();
        let acks = self.manager.config.commit_required_acks;
        match self.manager.append(group_id, &records, acks, now) {
            Err(e) => {
                debug!(group = %group_id, error = ?e, "offset commit append failed");
                self.complete_offset_store(group_id, incarnation, written, offsets, Err(e), respond)
            }
            Ok(a) if a.replicated || acks != -1 => self.complete_offset_store(
                group_id,
                incarnation,
                written,
                offsets,
                Ok(a.base_offset),
                respond,
            ),
            Ok(a) => {
                let id = self.register_pending(Pending::Offsets {
                    group_id: group_id.to_string(),
                    incarnation,
                    written,
                    all: offsets,
                    base_offset: a.base_offset,
                    respond,
                });
                let partition = self.partition_for(group_id);
                self.push_wait(ReplicationWait {
                    id,
                    partition,
                    required_offset: a.next_offset,
                });
            }
        }
    }

    /// The commit's append ended: the cache takes the offsets (or drops the pending ones) and
    /// the committer gets one error per partition.
    pub(super) fn complete_offset_store(
        &mut self,
        group_id: &str,
        incarnation: u64,
        written: Vec<(TopicPartition, OffsetAndMetadata)>,
        all: Vec<(TopicPartition, OffsetAndMetadata)>,
        result: Result<i64, ResponseError>,
        respond: CommitResponder,
    ) {
        if let Some(group) = self
            .manager
            .get_group_mut(group_id)
            .filter(|g| g.incarnation == incarnation && !g.is(GroupState::Dead))
        {
            for (tp, o) in &written {
                match result {
                    Ok(base) => group.on_offset_commit_append(
                        tp,
                        CommitRecordMetadataAndOffset {
                            appended_batch_offset: Some(base),
                            offset_and_metadata: o.clone(),
                        },
                    ),
                    Err(_) => group.fail_pending_offset_write(tp, o),
                }
            }
        }
        let error = result.err().map(map_commit_error);
        let answers = all
            .into_iter()
            .map(|(tp, o)| {
                if self.manager.valid_metadata_length(&o.metadata) {
                    (tp, error)
                } else {
                    (tp, Some(ResponseError::OffsetMetadataTooLarge))
                }
            })
            .collect();
        reply(respond, answers);
    }

    /// OffsetFetch v1+ (Kafka's `handleFetchOffsets`): `partitions` `None` = every committed
    /// partition of the group.
    pub fn handle_fetch_offsets(
        &self,
        group_id: &str,
        require_stable: bool,
        partitions: Option<&[TopicPartition]>,
    ) -> Result<Vec<(TopicPartition, FetchedOffset)>, ResponseError> {
        if let Some(e) = self.validate_group_status(group_id, GroupApi::OffsetFetch) {
            return Err(e);
        }
        Ok(self
            .manager
            .get_offsets(group_id, require_stable, partitions))
    }

    /// ListGroups: `states` and `types` filter case-insensitively (empty = no filter); only
    /// the classic type exists here.
    pub fn handle_list_groups(
        &self,
        states: &[String],
        types: &[String],
    ) -> (Option<ResponseError>, Vec<GroupOverview>) {
        if !self.active {
            return (Some(ResponseError::CoordinatorNotAvailable), Vec::new());
        }
        let error = self
            .manager
            .is_loading()
            .then_some(ResponseError::CoordinatorLoadInProgress);
        let states: HashSet<String> = states.iter().map(|s| s.to_lowercase()).collect();
        let classic_wanted = types.is_empty()
            || types
                .iter()
                .any(|t| t.eq_ignore_ascii_case(CLASSIC_GROUP_TYPE));
        let mut groups: Vec<GroupOverview> = if classic_wanted {
            self.manager
                .current_groups()
                .filter(|g| {
                    states.is_empty() || states.contains(&g.current_state().name().to_lowercase())
                })
                .map(GroupMetadata::overview)
                .collect()
        } else {
            Vec::new()
        };
        groups.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        (error, groups)
    }

    /// DescribeGroups for one group; an unknown group is described as Dead.
    pub fn handle_describe_group(&self, group_id: &str) -> (Option<ResponseError>, GroupSummary) {
        if let Some(e) = self.validate_group_status(group_id, GroupApi::DescribeGroups) {
            return (Some(e), GroupSummary::empty());
        }
        match self.manager.get_group(group_id) {
            None => (None, GroupSummary::dead()),
            Some(g) => (None, g.summary()),
        }
    }

    /// DeleteGroups (Kafka's `handleDeleteGroups`): only Empty groups; their offsets and
    /// metadata get tombstones.
    pub fn handle_delete_groups(
        &mut self,
        group_ids: &[String],
        now: i64,
    ) -> Vec<(String, Option<ResponseError>)> {
        let mut results: Vec<(String, Option<ResponseError>)> = Vec::with_capacity(group_ids.len());
        let mut eligible = Vec::new();
        for group_id in group_ids {
            if results.iter().any(|(g, _)| g == group_id) || eligible.contains(group_id) {
                continue;
            }
            if let Some(e) = self.validate_group_status(group_id, GroupApi::DeleteGroups) {
                results.push((group_id.clone(), Some(e)));
                continue;
            }
            let not_found = if self.manager.group_not_exists(group_id) {
                ResponseError::GroupIdNotFound
            } else {
                ResponseError::NotCoordinator
            };
            match self.manager.get_group_mut(group_id) {
                None => results.push((group_id.clone(), Some(not_found))),
                Some(g) => match g.current_state() {
                    GroupState::Dead => results.push((group_id.clone(), Some(not_found))),
                    GroupState::Empty => {
                        g.transition_to(GroupState::Dead, now);
                        eligible.push(group_id.clone());
                    }
                    _ => results.push((group_id.clone(), Some(ResponseError::NonEmptyGroup))),
                },
            }
        }
        if !eligible.is_empty() {
            let removed = self.cleanup_group_metadata(&eligible, now, |g| g.remove_all_offsets());
            info!(groups = ?eligible, offsets = removed, "groups deleted");
            results.extend(eligible.into_iter().map(|g| (g, None)));
        }
        // Answer in request order.
        let mut ordered = Vec::with_capacity(results.len());
        for id in group_ids {
            if let Some(pos) = results.iter().position(|(g, _)| g == id) {
                ordered.push(results.swap_remove(pos));
            }
        }
        ordered
    }

    /// OffsetDelete (Kafka's `handleDeleteOffsets`): the group error, or per-partition
    /// results; a consumer group keeps the offsets of topics it subscribes to
    /// (GROUP_SUBSCRIBED_TO_TOPIC).
    pub fn handle_delete_offsets(
        &mut self,
        group_id: &str,
        partitions: &[TopicPartition],
        now: i64,
    ) -> DeleteOffsetsResults {
        if let Some(e) = self.validate_group_status(group_id, GroupApi::OffsetDelete) {
            return (Some(e), Vec::new());
        }
        let not_found = if self.manager.group_not_exists(group_id) {
            ResponseError::GroupIdNotFound
        } else {
            ResponseError::NotCoordinator
        };
        let Some(group) = self.manager.get_group(group_id) else {
            return (Some(not_found), Vec::new());
        };
        let mut results = Vec::new();
        let eligible: Vec<TopicPartition> = match group.current_state() {
            GroupState::Dead => return (Some(not_found), Vec::new()),
            GroupState::Empty => partitions.to_vec(),
            GroupState::PreparingRebalance
            | GroupState::CompletingRebalance
            | GroupState::Stable
                if group.is_consumer_group() =>
            {
                let mut eligible = Vec::new();
                for tp in partitions {
                    if group.is_subscribed_to_topic(&tp.topic) {
                        results.push((tp.clone(), Some(ResponseError::GroupSubscribedToTopic)));
                    } else {
                        eligible.push(tp.clone());
                    }
                }
                eligible
            }
            _ => return (Some(ResponseError::NonEmptyGroup), Vec::new()),
        };
        if !eligible.is_empty() {
            let to_remove = eligible.clone();
            let removed = self.cleanup_group_metadata(&[group_id.to_string()], now, move |g| {
                g.remove_offsets(&to_remove)
            });
            info!(group = %group_id, partitions = ?eligible, removed, "offsets deleted");
            results.extend(eligible.into_iter().map(|tp| (tp, None)));
        }
        (None, results)
    }

    /// The periodic expiration (`offsets.retention.check.interval.ms`): expired offsets get
    /// tombstones; Empty groups left without offsets become Dead and are removed.
    pub fn cleanup_expired_offsets(&mut self, now: i64) -> usize {
        let retention = self.manager.config.retention_ms;
        let ids = self.manager.group_ids();
        let removed =
            self.cleanup_group_metadata(&ids, now, |g| g.remove_expired_offsets(now, retention));
        if removed > 0 {
            info!(removed, "removed expired offsets");
        }
        removed
    }

    /// Kafka's `handleDeletedPartitions` (ZooKeeper mode: the partitions an UpdateMetadata
    /// marked deleted, leader −2): their committed offsets leave every cached group, with
    /// tombstones; Empty groups left without offsets become Dead. Returns the number of
    /// offsets removed.
    pub fn handle_deleted_partitions(&mut self, partitions: &[TopicPartition], now: i64) -> usize {
        let ids = self.manager.group_ids();
        let removed = self.cleanup_group_metadata(&ids, now, |g| g.remove_offsets(partitions));
        info!(
            removed,
            partitions = ?partitions,
            "removed offsets associated with deleted partitions"
        );
        removed
    }

    /// Kafka's `cleanupGroupMetadata`: `selector` removes offsets from each group; tombstones
    /// for them (and for a group that became Dead, unless it never had a generation) are
    /// appended without waiting for replication. Returns the number of offsets removed.
    fn cleanup_group_metadata(
        &mut self,
        group_ids: &[String],
        now: i64,
        mut selector: impl FnMut(&mut GroupMetadata) -> Vec<(TopicPartition, OffsetAndMetadata)>,
    ) -> usize {
        let mut total = 0;
        for group_id in group_ids {
            let Some(group) = self.manager.get_group_mut(group_id) else {
                continue;
            };
            let removed = selector(group);
            if group.is(GroupState::Empty) && !group.has_offsets() {
                info!(group = %group_id, generation = group.generation_id, "group transitioned to Dead");
                group.transition_to(GroupState::Dead, now);
            }
            let is_dead = group.is(GroupState::Dead);
            let generation = group.generation_id;
            let mut tombstones: Vec<SimpleRecord> = removed
                .iter()
                .map(|(tp, _)| SimpleRecord {
                    timestamp: now,
                    key: Some(GroupMetadataManager::offset_key(group_id, tp)),
                    value: None,
                    headers: Vec::new(),
                })
                .collect();
            if is_dead {
                self.manager.remove_group(group_id);
                let id = group_id.clone();
                self.timers.cancel_where(|k| match k {
                    TimerKey::Heartbeat { group, .. }
                    | TimerKey::Join { group }
                    | TimerKey::Sync { group } => *group == id,
                });
                // A group that only ever stored offsets (generation 0) has no metadata record.
                if generation > 0 {
                    tombstones.push(SimpleRecord {
                        timestamp: now,
                        key: Some(super::offsets_schema::encode_group_metadata_key(
                            &super::offsets_schema::GroupMetadataKey {
                                group: group_id.clone(),
                            },
                        )),
                        value: None,
                        headers: Vec::new(),
                    });
                }
            }
            if !tombstones.is_empty() {
                // No acks: a lost tombstone is written again by the next purge.
                match self.manager.append(group_id, &tombstones, 0, now) {
                    Ok(_) => total += removed.len(),
                    Err(e) => {
                        warn!(group = %group_id, error = ?e, "failed to append tombstones for removed offsets or group metadata")
                    }
                }
            }
        }
        total
    }
}
