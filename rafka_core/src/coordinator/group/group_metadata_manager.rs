//! The groups this coordinator holds and where they are stored (Kafka's
//! `GroupMetadataManager`): the group cache, which `__consumer_offsets` partitions are owned
//! or still loading (with the coordinator epoch of each), the records that store a group or
//! its offsets, and the replay of a partition's records into groups when it is loaded.
//!
//! Writes go through an [`OffsetsLog`] (the broker's partitions in production, a fake in the
//! state-machine tests); whether and how long to wait for replication is the caller's
//! business.

use std::collections::{BTreeMap, HashMap, HashSet};

use bytes::Bytes;
use kafka_protocol::ResponseError;
use tracing::{debug, info, warn};

use super::config::OffsetConfig;
use super::group_metadata::{CommitRecordMetadataAndOffset, GroupMetadata, GroupState};
use super::member_metadata::MemberMetadata;
use super::offsets_schema::{
    decode_group_metadata_value, decode_key, decode_offset_commit_value, encode_group_metadata_key,
    encode_group_metadata_value, encode_offset_commit_key, encode_offset_commit_value,
    GroupMetadataKey, GroupMetadataValue, MemberMetadataValue, OffsetCommitKey, OffsetCommitValue,
    RecordKey, GROUP_METADATA_VALUE_VERSION, OFFSET_COMMIT_VALUE_VERSION,
};
use super::partitioning::partition_for;
use super::results::{FetchedOffset, OffsetAndMetadata};
use crate::cluster::TopicPartition;
use crate::record::SimpleRecord;

/// Where the coordinator appends its records: the leader replica of an offsets partition.
pub trait OffsetsLog: Send {
    /// Appends `records` as one batch to `__consumer_offsets-<partition>`.
    fn append(
        &self,
        partition: i32,
        records: &[SimpleRecord],
        required_acks: i16,
        now: i64,
    ) -> Result<Appended, ResponseError>;
}

/// An append's outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Appended {
    pub base_offset: i64,
    /// Last offset + 1: what the high watermark must reach for acks=all.
    pub next_offset: i64,
    /// The high watermark already covers the batch.
    pub replicated: bool,
}

/// One record of an offsets partition read back while loading.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadedRecord {
    /// Offset of the first record of its batch (Kafka keeps it with each commit).
    pub batch_base_offset: i64,
    pub offset: i64,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
}

/// See the module doc.
pub struct GroupMetadataManager {
    pub(super) config: OffsetConfig,
    partition_count: i32,
    groups: HashMap<String, GroupMetadata>,
    owned: HashSet<i32>,
    loading: HashSet<i32>,
    epochs: HashMap<i32, i32>,
    next_incarnation: u64,
    log: Box<dyn OffsetsLog>,
}

impl GroupMetadataManager {
    pub fn new(config: OffsetConfig, partition_count: i32, log: Box<dyn OffsetsLog>) -> Self {
        GroupMetadataManager {
            config,
            partition_count: partition_count.max(1),
            groups: HashMap::new(),
            owned: HashSet::new(),
            loading: HashSet::new(),
            epochs: HashMap::new(),
            next_incarnation: 1,
            log,
        }
    }

    pub fn partition_count(&self) -> i32 {
        self.partition_count
    }

    pub fn partition_for(&self, group_id: &str) -> i32 {
        partition_for(group_id, self.partition_count)
    }

    pub fn is_partition_owned(&self, partition: i32) -> bool {
        self.owned.contains(&partition)
    }

    pub fn is_partition_loading(&self, partition: i32) -> bool {
        self.loading.contains(&partition)
    }

    pub fn is_group_local(&self, group_id: &str) -> bool {
        self.is_partition_owned(self.partition_for(group_id))
    }

    pub fn is_group_loading(&self, group_id: &str) -> bool {
        self.is_partition_loading(self.partition_for(group_id))
    }

    pub fn is_loading(&self) -> bool {
        !self.loading.is_empty()
    }

    pub fn owned_partitions(&self) -> Vec<i32> {
        let mut v: Vec<i32> = self.owned.iter().copied().collect();
        v.sort_unstable();
        v
    }

    pub fn get_group(&self, group_id: &str) -> Option<&GroupMetadata> {
        self.groups.get(group_id)
    }

    pub fn get_group_mut(&mut self, group_id: &str) -> Option<&mut GroupMetadata> {
        self.groups.get_mut(group_id)
    }

    pub fn group_ids(&self) -> Vec<String> {
        let mut v: Vec<String> = self.groups.keys().cloned().collect();
        v.sort();
        v
    }

    pub fn current_groups(&self) -> impl Iterator<Item = &GroupMetadata> {
        self.groups.values()
    }

    /// Removes a group from the cache.
    pub fn remove_group(&mut self, group_id: &str) -> Option<GroupMetadata> {
        self.groups.remove(group_id)
    }

    fn incarnation(&mut self) -> u64 {
        let i = self.next_incarnation;
        self.next_incarnation += 1;
        i
    }

    /// The group, created Empty if missing and `create` (Kafka's `getOrMaybeCreateGroup`).
    pub fn get_or_maybe_create(&mut self, group_id: &str, create: bool, now: i64) -> bool {
        if self.groups.contains_key(group_id) {
            return true;
        }
        if !create {
            return false;
        }
        let incarnation = self.incarnation();
        self.groups.insert(
            group_id.to_string(),
            GroupMetadata::new(group_id, GroupState::Empty, now, incarnation),
        );
        true
    }

    /// Kafka's `groupNotExists`: this coordinator owns the group's partition and has no live
    /// group of that id.
    pub fn group_not_exists(&self, group_id: &str) -> bool {
        self.is_group_local(group_id)
            && self
                .groups
                .get(group_id)
                .is_none_or(|g| g.is(GroupState::Dead))
    }

    // ------------------------------------------------------------ records

    /// The group metadata record (value v3) for `group` with `assignment`.
    pub fn group_metadata_record(
        group: &GroupMetadata,
        assignment: &HashMap<String, Bytes>,
        now: i64,
    ) -> SimpleRecord {
        let protocol = group.protocol_name.clone();
        let members = group
            .members()
            .map(|m: &MemberMetadata| MemberMetadataValue {
                member_id: m.member_id.clone(),
                group_instance_id: m.group_instance_id.clone(),
                client_id: m.client_id.clone(),
                client_host: m.client_host.clone(),
                rebalance_timeout: m.rebalance_timeout_ms,
                session_timeout: m.session_timeout_ms,
                subscription: protocol
                    .as_deref()
                    .map(|p| m.metadata(p))
                    .unwrap_or_default(),
                assignment: assignment.get(&m.member_id).cloned().unwrap_or_default(),
            })
            .collect();
        let value = GroupMetadataValue {
            protocol_type: group.protocol_type.clone().unwrap_or_default(),
            generation: group.generation_id,
            protocol,
            leader: group.leader_id().map(str::to_string),
            current_state_timestamp: group.current_state_timestamp_or_default(),
            members,
        };
        SimpleRecord {
            timestamp: now,
            key: Some(encode_group_metadata_key(&GroupMetadataKey {
                group: group.group_id.clone(),
            })),
            value: Some(encode_group_metadata_value(
                &value,
                GROUP_METADATA_VALUE_VERSION,
            )),
            headers: Vec::new(),
        }
    }

    /// An offset commit record (value v3, or v1 with an explicit expire timestamp).
    pub fn offset_commit_record(
        group_id: &str,
        tp: &TopicPartition,
        offset: &OffsetAndMetadata,
        now: i64,
    ) -> SimpleRecord {
        let version = if offset.expire_timestamp.is_some() {
            1
        } else {
            OFFSET_COMMIT_VALUE_VERSION
        };
        let value = OffsetCommitValue {
            offset: offset.offset,
            leader_epoch: offset.leader_epoch.unwrap_or(-1),
            metadata: offset.metadata.clone(),
            commit_timestamp: offset.commit_timestamp,
            expire_timestamp: offset.expire_timestamp.unwrap_or(-1),
        };
        SimpleRecord {
            timestamp: now,
            key: Some(Self::offset_key(group_id, tp)),
            value: Some(encode_offset_commit_value(&value, version)),
            headers: Vec::new(),
        }
    }

    pub fn offset_key(group_id: &str, tp: &TopicPartition) -> Vec<u8> {
        encode_offset_commit_key(&OffsetCommitKey {
            group: group_id.to_string(),
            topic: tp.topic.clone(),
            partition: tp.partition,
        })
    }

    /// Appends `records` to the group's offsets partition.
    pub fn append(
        &self,
        group_id: &str,
        records: &[SimpleRecord],
        required_acks: i16,
        now: i64,
    ) -> Result<Appended, ResponseError> {
        self.log
            .append(self.partition_for(group_id), records, required_acks, now)
    }

    /// Whether `metadata` fits `offset.metadata.max.bytes` (counted in UTF-16 units, as Java's
    /// `String.length`).
    pub fn valid_metadata_length(&self, metadata: &str) -> bool {
        metadata.encode_utf16().count() <= self.config.max_metadata_size
    }

    // ------------------------------------------------------------ offsets

    /// Kafka's `getOffsets`: the committed offsets of `partitions` (all when `None`); a
    /// pending commit answers UNSTABLE_OFFSET_COMMIT when `require_stable`.
    pub fn get_offsets(
        &self,
        group_id: &str,
        require_stable: bool,
        partitions: Option<&[TopicPartition]>,
    ) -> Vec<(TopicPartition, FetchedOffset)> {
        let unknown = |tps: &[TopicPartition]| {
            tps.iter()
                .map(|tp| (tp.clone(), FetchedOffset::unknown()))
                .collect()
        };
        let group = match self.groups.get(group_id) {
            Some(g) if !g.is(GroupState::Dead) => g,
            _ => return partitions.map(unknown).unwrap_or_default(),
        };
        let tps: Vec<TopicPartition> = match partitions {
            Some(p) => p.to_vec(),
            None => group.all_offsets().into_iter().map(|(tp, _)| tp).collect(),
        };
        tps.into_iter()
            .map(|tp| {
                let data = if require_stable && group.has_pending_offset_commits_for(&tp) {
                    FetchedOffset {
                        error: Some(ResponseError::UnstableOffsetCommit),
                        ..FetchedOffset::unknown()
                    }
                } else {
                    match group.offset(&tp) {
                        None => FetchedOffset::unknown(),
                        Some(o) => FetchedOffset {
                            offset: o.offset,
                            leader_epoch: o.leader_epoch,
                            metadata: o.metadata.clone(),
                            error: None,
                        },
                    }
                };
                (tp, data)
            })
            .collect()
    }

    // ------------------------------------------------------------ loading

    /// Kafka's `maybeUpdateCoordinatorEpoch`: records a newer epoch; false when `epoch` is
    /// older than the recorded one. `None` always passes and changes nothing.
    fn maybe_update_epoch(&mut self, partition: i32, epoch: Option<i32>) -> bool {
        let Some(epoch) = epoch else {
            return true;
        };
        let current = self.epochs.entry(partition).or_insert(epoch);
        if epoch > *current {
            *current = epoch;
        }
        *current == epoch
    }

    /// Starts loading `partition` for `epoch`; false if the epoch is stale or the partition is
    /// already owned or loading.
    pub fn begin_load(&mut self, partition: i32, epoch: i32) -> bool {
        if !self.maybe_update_epoch(partition, Some(epoch)) {
            info!(partition, epoch, current = ?self.epochs.get(&partition), "not loading __consumer_offsets: the coordinator epoch is stale");
            return false;
        }
        if self.owned.contains(&partition) || !self.loading.insert(partition) {
            info!(
                partition,
                epoch, "__consumer_offsets partition already loaded or loading"
            );
            return false;
        }
        true
    }

    /// Whether a load of `partition` for `epoch` is still wanted.
    pub fn is_current_load(&self, partition: i32, epoch: i32) -> bool {
        self.loading.contains(&partition) && self.epochs.get(&partition) == Some(&epoch)
    }

    /// Kafka's `doLoadGroupsAndOffsets`: replays the partition's records into groups and
    /// offsets, caches them and marks the partition owned. Returns the loaded group ids.
    pub fn complete_load(
        &mut self,
        partition: i32,
        records: Vec<LoadedRecord>,
        now: i64,
    ) -> Vec<String> {
        let mut loaded_offsets: HashMap<(String, TopicPartition), CommitRecordMetadataAndOffset> =
            HashMap::new();
        let mut loaded_groups: HashMap<String, (i16, GroupMetadataValue)> = HashMap::new();
        let mut removed_groups: HashSet<String> = HashSet::new();
        for record in records {
            let Some(key) = record.key.as_deref() else {
                warn!(
                    partition,
                    offset = record.offset,
                    "record without a key in __consumer_offsets; skipped"
                );
                continue;
            };
            match decode_key(key) {
                Ok(RecordKey::OffsetCommit { key, .. }) => {
                    let gtp = (key.group, TopicPartition::new(key.topic, key.partition));
                    match record.value.as_deref() {
                        None => {
                            loaded_offsets.remove(&gtp);
                        }
                        Some(v) => match decode_offset_commit_value(v) {
                            Ok((_, v)) => {
                                loaded_offsets.insert(
                                    gtp,
                                    CommitRecordMetadataAndOffset {
                                        appended_batch_offset: Some(record.batch_base_offset),
                                        offset_and_metadata: OffsetAndMetadata {
                                            offset: v.offset,
                                            leader_epoch: (v.leader_epoch != -1)
                                                .then_some(v.leader_epoch),
                                            metadata: v.metadata,
                                            commit_timestamp: v.commit_timestamp,
                                            expire_timestamp: (v.expire_timestamp != -1)
                                                .then_some(v.expire_timestamp),
                                        },
                                    },
                                );
                            }
                            Err(e) => {
                                warn!(partition, offset = record.offset, error = %e, "undecodable offset commit value; skipped")
                            }
                        },
                    }
                }
                Ok(RecordKey::GroupMetadata { key, .. }) => match record.value.as_deref() {
                    None => {
                        loaded_groups.remove(&key.group);
                        removed_groups.insert(key.group);
                    }
                    Some(v) => match decode_group_metadata_value(v) {
                        Ok(versioned) => {
                            removed_groups.remove(&key.group);
                            loaded_groups.insert(key.group, versioned);
                        }
                        Err(e) => {
                            warn!(partition, offset = record.offset, error = %e, "undecodable group metadata value; skipped")
                        }
                    },
                },
                Ok(RecordKey::Unknown { version }) => {
                    warn!(
                        partition,
                        offset = record.offset,
                        version,
                        "unknown message key version in __consumer_offsets; ignored"
                    )
                }
                Err(e) => {
                    warn!(partition, offset = record.offset, error = %e, "undecodable key in __consumer_offsets; skipped")
                }
            }
        }
        let mut offsets_by_group: BTreeMap<
            String,
            HashMap<TopicPartition, CommitRecordMetadataAndOffset>,
        > = BTreeMap::new();
        for ((group, tp), o) in loaded_offsets {
            offsets_by_group.entry(group).or_default().insert(tp, o);
        }
        let mut loaded_ids = Vec::new();
        let mut names: Vec<String> = loaded_groups.keys().cloned().collect();
        names.sort();
        for name in names {
            let Some((version, value)) = loaded_groups.remove(&name) else {
                continue;
            };
            let offsets = offsets_by_group.remove(&name).unwrap_or_default();
            let incarnation = self.incarnation();
            let mut group = Self::group_from_value(&name, version, value, now, incarnation);
            group.initialize_offsets(offsets);
            debug!(group = %name, generation = group.generation_id, offsets = group.num_offsets(), "loaded group");
            if self.groups.contains_key(&name) {
                debug!(group = %name, "a cached group already exists; the loaded one is dropped");
                continue;
            }
            self.groups.insert(name.clone(), group);
            loaded_ids.push(name);
        }
        // Groups that only store offsets (no metadata record): Empty groups.
        for (name, offsets) in offsets_by_group {
            if self.groups.contains_key(&name) {
                continue;
            }
            let incarnation = self.incarnation();
            let mut group = GroupMetadata::new(&name, GroupState::Empty, now, incarnation);
            group.initialize_offsets(offsets);
            self.groups.insert(name.clone(), group);
            loaded_ids.push(name);
        }
        for name in removed_groups {
            if self.groups.contains_key(&name) && !loaded_ids.contains(&name) {
                warn!(group = %name, partition, "a removed group is still cached while loading");
            }
        }
        self.loading.remove(&partition);
        self.owned.insert(partition);
        info!(
            partition,
            groups = loaded_ids.len(),
            "finished loading __consumer_offsets partition"
        );
        loaded_ids
    }

    /// Kafka's `readGroupMessageValue` → `GroupMetadata.loadGroup`: Stable with members,
    /// Empty without.
    fn group_from_value(
        group_id: &str,
        version: i16,
        value: GroupMetadataValue,
        now: i64,
        incarnation: u64,
    ) -> GroupMetadata {
        let protocol = value.protocol.clone().unwrap_or_default();
        let members: Vec<MemberMetadata> = value
            .members
            .into_iter()
            .map(|m| {
                let mut member = MemberMetadata::new(
                    m.member_id,
                    m.group_instance_id,
                    m.client_id,
                    m.client_host,
                    if version == 0 {
                        m.session_timeout
                    } else {
                        m.rebalance_timeout
                    },
                    m.session_timeout,
                    value.protocol_type.clone(),
                    vec![(protocol.clone(), m.subscription)],
                );
                member.assignment = m.assignment;
                member
            })
            .collect();
        let state = if members.is_empty() {
            GroupState::Empty
        } else {
            GroupState::Stable
        };
        GroupMetadata::load(
            group_id,
            state,
            value.generation,
            &value.protocol_type,
            value.protocol,
            value.leader,
            (value.current_state_timestamp != -1).then_some(value.current_state_timestamp),
            members,
            now,
            incarnation,
        )
    }

    /// Kafka's `removeGroupsForPartition`: stops owning `partition` (unless `epoch` is stale)
    /// and hands back its groups, removed from the cache.
    pub fn remove_groups_for_partition(
        &mut self,
        partition: i32,
        epoch: Option<i32>,
    ) -> Option<Vec<GroupMetadata>> {
        if !self.maybe_update_epoch(partition, epoch) {
            info!(
                partition,
                ?epoch,
                "not unloading __consumer_offsets: the coordinator epoch is stale"
            );
            return None;
        }
        self.owned.remove(&partition);
        self.loading.remove(&partition);
        let ids: Vec<String> = self
            .groups
            .keys()
            .filter(|g| partition_for(g, self.partition_count) == partition)
            .cloned()
            .collect();
        let removed: Vec<GroupMetadata> =
            ids.iter().filter_map(|id| self.groups.remove(id)).collect();
        let offsets: usize = removed.iter().map(GroupMetadata::num_offsets).sum();
        info!(
            partition,
            ?epoch,
            groups = removed.len(),
            offsets,
            "unloaded __consumer_offsets partition"
        );
        Some(removed)
    }
}
