//! Partition reassignment in the ZooKeeper-mode controller (KIP-455; Kafka's
//! `onPartitionReassignment` and its callers): AlterPartitionReassignments and
//! ListPartitionReassignments from admin clients, and the legacy `/admin/reassign_partitions`
//! znode. A reassignment from the original replicas (ORS) to the target replicas (TRS) runs
//! in phases, each persisted before memory changes so a new controller can resume it:
//!
//! - **Update**: `/brokers/topics/<t>` gets RS = TRS ++ ORS (distinct), adding = RS − ORS,
//!   removing = RS − TRS; replicas added by a replaced reassignment and no longer wanted are
//!   stopped and deleted.
//! - **Catch-up** (TRS ⊄ ISR): the leader epoch is bumped and LeaderAndIsr goes to RS
//!   (`is_new` for the adding replicas), which start fetching from the leader; the leader
//!   adds them to the ISR with AlterPartition once caught up, and each successful ISR change
//!   of a reassigning partition re-checks it.
//! - **Completion** (TRS ⊆ ISR): RS = TRS in memory, the leader moved into TRS if it is not
//!   there or not live (else the epoch bumped), removed replicas taken out of the ISR and sent
//!   StopReplica(delete), RS = TRS written with empty adding/removing, the partition dropped
//!   from the legacy znode, UpdateMetadata to every live broker.
//!
//! Topics queued for deletion cannot be reassigned, and are not deleted while a reassignment
//! runs (the deletion resumes when it completes).

use std::collections::{BTreeMap, BTreeSet};

use kafka_protocol::messages::alter_partition_reassignments_response::{
    ReassignablePartitionResponse, ReassignableTopicResponse,
};
use kafka_protocol::messages::list_partition_reassignments_response::{
    OngoingPartitionReassignment, OngoingTopicReassignment,
};
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse, BrokerId,
    ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;
use tracing::{info, warn};

use super::kafka_controller::{ControllerTopic, KafkaController};
use super::partition_state_machine::{StateChangeContext, MAX_UPDATE_ATTEMPTS};
use super::replica_state_machine::offline_replica_partitions;
use super::request_batch::{PartitionKey, RequestBatch};
use crate::zk::kafka_zk_client::KafkaZkError;
use crate::zk::zk_data::{self as data, PartitionStateZNode, ReassignPartitionsZNode};
use crate::zk::zookeeper_client::{MultiOp, WatchKind};

/// The replicas an in-flight reassignment adds and removes (Kafka's `ReplicaAssignment`
/// adding/removing lists); the partition's full replica set is its assignment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PartitionReassignment {
    pub adding: Vec<i32>,
    pub removing: Vec<i32>,
}

/// The replicas before the reassignment: RS − adding.
pub fn origin_replicas(replicas: &[i32], r: Option<&PartitionReassignment>) -> Vec<i32> {
    match r {
        None => replicas.to_vec(),
        Some(r) => replicas
            .iter()
            .copied()
            .filter(|b| !r.adding.contains(b))
            .collect(),
    }
}

/// The replicas after the reassignment: RS − removing.
pub fn target_replicas(replicas: &[i32], r: Option<&PartitionReassignment>) -> Vec<i32> {
    match r {
        None => replicas.to_vec(),
        Some(r) => replicas
            .iter()
            .copied()
            .filter(|b| !r.removing.contains(b))
            .collect(),
    }
}

/// Kafka's `ReplicaAssignment.reassignTo`: the full replica set (target first, then the
/// original replicas not in it) and what it adds and removes; `None` when nothing moves
/// (the target is the original set).
pub fn reassign_to(
    replicas: &[i32],
    current: Option<&PartitionReassignment>,
    target: &[i32],
) -> (Vec<i32>, Option<PartitionReassignment>) {
    let origin = origin_replicas(replicas, current);
    let mut full: Vec<i32> = Vec::with_capacity(target.len() + origin.len());
    for b in target.iter().chain(origin.iter()) {
        if !full.contains(b) {
            full.push(*b);
        }
    }
    let adding: Vec<i32> = full
        .iter()
        .copied()
        .filter(|b| !origin.contains(b))
        .collect();
    let removing: Vec<i32> = full
        .iter()
        .copied()
        .filter(|b| !target.contains(b))
        .collect();
    let r = (!adding.is_empty() || !removing.is_empty())
        .then_some(PartitionReassignment { adding, removing });
    (full, r)
}

/// Kafka's `validateReplicas` for a requested target: non-empty, no duplicates, no negative
/// ids, and every replica it would add on a live broker. `Err((code, message))` otherwise.
pub fn validate_target(
    replicas: &[i32],
    current: Option<&PartitionReassignment>,
    target: &[i32],
    is_live: impl Fn(i32) -> bool,
) -> Result<(), (i16, String)> {
    let invalid = ResponseError::InvalidReplicaAssignment.code();
    if target.is_empty() {
        return Err((
            invalid,
            "Empty replica list specified in partition reassignment.".into(),
        ));
    }
    if target.iter().collect::<BTreeSet<_>>().len() != target.len() {
        return Err((
            invalid,
            format!("Duplicate replica ids in partition reassignment replica list: {target:?}"),
        ));
    }
    if target.iter().any(|b| *b < 0) {
        return Err((
            invalid,
            format!("Invalid broker id in replica list: {target:?}"),
        ));
    }
    let (_, next) = reassign_to(replicas, current, target);
    let adding = next.map(|r| r.adding).unwrap_or_default();
    if let Some(dead) = adding.iter().find(|b| !is_live(**b)) {
        return Err((
            invalid,
            format!(
                "Replica assignment has brokers that are not alive. Replica list: {adding:?}, \
                 broker {dead} is not live"
            ),
        ));
    }
    Ok(())
}

/// True when the reassignment can complete: nothing to reassign, or every target replica
/// is in the ISR (Kafka's `isReassignmentComplete`).
fn targets_in_isr(
    replicas: &[i32],
    r: Option<&PartitionReassignment>,
    state: &PartitionStateZNode,
) -> bool {
    r.is_none()
        || target_replicas(replicas, r)
            .iter()
            .all(|b| state.isr.contains(b))
}

/// What one partition's reassignment request resolved to.
type Reassignment = (Vec<i32>, Option<PartitionReassignment>);

impl KafkaController {
    /// Partitions being reassigned now.
    pub(super) fn partitions_being_reassigned(&self) -> Vec<PartitionKey> {
        let Some(active) = &self.active else {
            return Vec::new();
        };
        active
            .topics
            .iter()
            .flat_map(|(name, t)| t.reassignments.keys().map(move |p| (name.clone(), *p)))
            .collect()
    }

    /// AlterPartitionReassignments (Kafka's `processApiPartitionReassignment`): validate each
    /// target, resolve it against the current assignment (a null target cancels), drop the
    /// partitions from the legacy znode (the latest request wins) and start each reassignment.
    pub(super) async fn on_alter_partition_reassignments(
        &mut self,
        request: &AlterPartitionReassignmentsRequest,
    ) -> AlterPartitionReassignmentsResponse {
        let Some(active) = &self.active else {
            return AlterPartitionReassignmentsResponse::default()
                .with_error_code(ResponseError::NotController.code())
                .with_error_message(Some(StrBytes::from_static_str(
                    "This is not the correct controller for this cluster.",
                )));
        };
        let mut results: BTreeMap<PartitionKey, (i16, Option<String>)> = BTreeMap::new();
        let mut wanted: BTreeMap<PartitionKey, Reassignment> = BTreeMap::new();
        for topic in &request.topics {
            let name = topic.name.0.to_string();
            for p in &topic.partitions {
                let key = (name.clone(), p.partition_index);
                let t = active.topics.get(&name);
                let replicas: Vec<i32> = t
                    .and_then(|t| t.assignment.get(&p.partition_index))
                    .cloned()
                    .unwrap_or_default();
                let current = t.and_then(|t| t.reassignments.get(&p.partition_index));
                let target: Option<Vec<i32>> = p
                    .replicas
                    .as_ref()
                    .map(|rs| rs.iter().map(|b| b.0).collect());
                if let Some(target) = &target {
                    // Kafka's `liveBrokerIds`: brokers shutting down cannot take replicas.
                    let is_live = |b: i32| {
                        active.live_brokers.contains_key(&b) && !active.shutting_down.contains(&b)
                    };
                    if let Err((code, message)) =
                        validate_target(&replicas, current, target, is_live)
                    {
                        results.insert(key, (code, Some(message)));
                        continue;
                    }
                }
                // Kafka's `maybeBuildReassignment`: cancelling restores the original replicas;
                // cancelling nothing is an error.
                let target = match (target, current) {
                    (Some(t), _) => t,
                    (None, Some(_)) => origin_replicas(&replicas, current),
                    (None, None) => {
                        results.insert(key, (ResponseError::NoReassignmentInProgress.code(), None));
                        continue;
                    }
                };
                wanted.insert(key, reassign_to(&replicas, current, &target));
            }
        }
        let keys: BTreeSet<PartitionKey> = wanted.keys().cloned().collect();
        let mut moved = false;
        if let Err(e) = self
            .remove_from_zk_reassignment(|key, _| keys.contains(key))
            .await
        {
            moved = matches!(e, KafkaZkError::ControllerMoved(_));
            warn!(error = %e, "could not update /admin/reassign_partitions");
        }
        if !moved {
            match self.trigger_partition_reassignments(wanted).await {
                Ok(r) => results.extend(r),
                Err(e) => {
                    warn!(error = %e, "partition reassignment interrupted: the controller moved");
                    moved = true;
                }
            }
        }
        if moved {
            self.maybe_resign().await;
            return AlterPartitionReassignmentsResponse::default()
                .with_error_code(ResponseError::NotController.code());
        }
        let mut by_topic: BTreeMap<String, Vec<ReassignablePartitionResponse>> = BTreeMap::new();
        for ((topic, p), (code, message)) in results {
            by_topic.entry(topic).or_default().push(
                ReassignablePartitionResponse::default()
                    .with_partition_index(p)
                    .with_error_code(code)
                    .with_error_message(message.map(StrBytes::from_string)),
            );
        }
        AlterPartitionReassignmentsResponse::default().with_responses(
            by_topic
                .into_iter()
                .map(|(name, partitions)| {
                    ReassignableTopicResponse::default()
                        .with_name(TopicName(StrBytes::from_string(name)))
                        .with_partitions(partitions)
                })
                .collect(),
        )
    }

    /// ListPartitionReassignments (Kafka's `processListPartitionReassignments`): the
    /// requested partitions (all when the list is null) that are being reassigned, with
    /// their full, adding and removing replicas.
    pub(super) fn on_list_partition_reassignments(
        &self,
        request: &ListPartitionReassignmentsRequest,
    ) -> ListPartitionReassignmentsResponse {
        let Some(active) = &self.active else {
            return ListPartitionReassignmentsResponse::default()
                .with_error_code(ResponseError::NotController.code())
                .with_error_message(Some(StrBytes::from_static_str(
                    "This is not the correct controller for this cluster.",
                )));
        };
        let wanted: Option<BTreeSet<PartitionKey>> = request.topics.as_ref().map(|topics| {
            topics
                .iter()
                .flat_map(|t| {
                    t.partition_indexes
                        .iter()
                        .map(move |p| (t.name.0.to_string(), *p))
                })
                .collect()
        });
        let ids = |v: &[i32]| v.iter().map(|b| BrokerId(*b)).collect::<Vec<_>>();
        let mut topics = Vec::new();
        for (name, t) in &active.topics {
            let partitions: Vec<OngoingPartitionReassignment> = t
                .reassignments
                .iter()
                .filter(|(p, _)| {
                    wanted
                        .as_ref()
                        .is_none_or(|w| w.contains(&(name.clone(), **p)))
                })
                .map(|(p, r)| {
                    OngoingPartitionReassignment::default()
                        .with_partition_index(*p)
                        .with_replicas(ids(t.assignment.get(p).map_or(&[][..], |v| v)))
                        .with_adding_replicas(ids(&r.adding))
                        .with_removing_replicas(ids(&r.removing))
                })
                .collect();
            if !partitions.is_empty() {
                topics.push(
                    OngoingTopicReassignment::default()
                        .with_name(TopicName(StrBytes::from_string(name.clone())))
                        .with_partitions(partitions),
                );
            }
        }
        ListPartitionReassignmentsResponse::default().with_topics(topics)
    }

    /// Kafka's `maybeTriggerPartitionReassignment`: per partition NONE, or
    /// UNKNOWN_TOPIC_OR_PARTITION for unknown partitions and topics being deleted, or
    /// UNKNOWN_SERVER_ERROR for a failed step. Only a moved controller is an `Err`.
    async fn trigger_partition_reassignments(
        &mut self,
        wanted: BTreeMap<PartitionKey, Reassignment>,
    ) -> Result<BTreeMap<PartitionKey, (i16, Option<String>)>, KafkaZkError> {
        let mut results = BTreeMap::new();
        for ((topic, p), (replicas, reassignment)) in wanted {
            let known = self.active.as_ref().is_some_and(|a| {
                !a.deletion.is_queued(&topic)
                    && a.topics
                        .get(&topic)
                        .is_some_and(|t| t.assignment.contains_key(&p))
            });
            if !known {
                info!(%topic, partition = p, "reassignment refused: unknown partition or topic being deleted");
                results.insert(
                    (topic, p),
                    (
                        ResponseError::UnknownTopicOrPartition.code(),
                        Some("The partition does not exist.".to_string()),
                    ),
                );
                continue;
            }
            let outcome = match self
                .on_partition_reassignment(&topic, p, replicas, reassignment)
                .await
            {
                Ok(()) => (0, None),
                Err(e @ KafkaZkError::ControllerMoved(_)) => return Err(e),
                Err(e) => {
                    warn!(%topic, partition = p, error = %e, "partition reassignment failed");
                    (
                        ResponseError::UnknownServerError.code(),
                        Some(e.to_string()),
                    )
                }
            };
            results.insert((topic, p), outcome);
        }
        Ok(results)
    }

    /// Kafka's `onPartitionReassignment` (see the module doc) for the full replica set
    /// `replicas` and what it adds and removes.
    pub(super) async fn on_partition_reassignment(
        &mut self,
        topic: &str,
        p: i32,
        replicas: Vec<i32>,
        reassignment: Option<PartitionReassignment>,
    ) -> Result<(), KafkaZkError> {
        self.update_current_reassignment(topic, p, replicas.clone(), reassignment.clone())
            .await?;
        let complete = match &reassignment {
            None => true,
            Some(_) => match self.zk.get_topic_partition_state(topic, p).await? {
                Some((state, _)) => targets_in_isr(&replicas, reassignment.as_ref(), &state),
                None => false,
            },
        };
        if !complete {
            let r = reassignment.unwrap_or_default();
            let origin = origin_replicas(&replicas, Some(&r));
            info!(%topic, partition = p, ?replicas, adding = ?r.adding, removing = ?r.removing, "reassignment started: new replicas catch up");
            return self
                .bump_leader_epoch_and_send(topic, p, &origin, &r.adding)
                .await;
        }
        let target = target_replicas(&replicas, reassignment.as_ref());
        let r = reassignment.unwrap_or_default();
        info!(%topic, partition = p, ?target, removing = ?r.removing, "reassignment completing: the target replicas are in sync");
        if let Some(t) = self.active.as_mut().and_then(|a| a.topics.get_mut(topic)) {
            t.assignment.insert(p, target.clone());
            t.reassignments.remove(&p);
        }
        self.move_reassigned_leader_if_required(topic, p, &target)
            .await?;
        self.stop_removed_replicas(topic, p, &r.removing).await?;
        self.write_topic_assignment(topic).await?;
        self.remove_from_zk_reassignment(|key, replicas| {
            key.0 == topic && key.1 == p && replicas == target.as_slice()
        })
        .await?;
        if let Some(active) = &self.active {
            if let Some(channel) = &active.channel {
                let mut batch = RequestBatch::default();
                batch.add_update_metadata(
                    active.live_brokers.keys().copied(),
                    [(topic.to_string(), p)],
                );
                batch.send(
                    channel,
                    active.epoch,
                    &active.live_brokers,
                    &active.topics,
                    &active.deletion.queued(),
                );
            }
        }
        info!(%topic, partition = p, replicas = ?target, "reassignment completed");
        // A deletion of this topic waited for the reassignment.
        self.resume_deletions().await
    }

    /// Kafka's `updateCurrentReassignment`: persists the new replica set (ZooKeeper first,
    /// then memory); replicas of the previous set no longer wanted are stopped and deleted.
    async fn update_current_reassignment(
        &mut self,
        topic: &str,
        p: i32,
        replicas: Vec<i32>,
        reassignment: Option<PartitionReassignment>,
    ) -> Result<(), KafkaZkError> {
        let Some(t) = self.active.as_ref().and_then(|a| a.topics.get(topic)) else {
            return Ok(());
        };
        let old_replicas = t.assignment.get(&p).cloned().unwrap_or_default();
        let old = t.reassignments.get(&p).cloned();
        if old_replicas == replicas && old == reassignment {
            return Ok(());
        }
        let mut updated = t.clone();
        updated.assignment.insert(p, replicas.clone());
        match &reassignment {
            Some(r) => updated.reassignments.insert(p, r.clone()),
            None => updated.reassignments.remove(&p),
        };
        self.write_assignment_znode(topic, &updated).await?;
        if let Some(t) = self.active.as_mut().and_then(|a| a.topics.get_mut(topic)) {
            *t = updated;
        }
        let unneeded: Vec<i32> = old_replicas
            .into_iter()
            .filter(|b| !replicas.contains(b))
            .collect();
        if !unneeded.is_empty() {
            info!(%topic, partition = p, replicas = ?unneeded, "replicas of the replaced reassignment are no longer needed");
            self.stop_removed_replicas(topic, p, &unneeded).await?;
        }
        Ok(())
    }

    /// Writes `/brokers/topics/<topic>` from the controller's view of the topic.
    async fn write_topic_assignment(&self, topic: &str) -> Result<(), KafkaZkError> {
        let Some(t) = self.active.as_ref().and_then(|a| a.topics.get(topic)) else {
            return Ok(());
        };
        self.write_assignment_znode(topic, t).await
    }

    /// Kafka's `setTopicAssignmentRaw`: the assignment with its adding/removing replicas
    /// and topic id, written whatever its version, fenced by `/controller_epoch`.
    async fn write_assignment_znode(
        &self,
        topic: &str,
        t: &ControllerTopic,
    ) -> Result<(), KafkaZkError> {
        let Some(active) = &self.active else {
            return Err(KafkaZkError::ControllerMoved("not the controller".into()));
        };
        let znode = data::TopicAssignmentZNode {
            partitions: t.assignment.clone(),
            adding_replicas: t
                .reassignments
                .iter()
                .filter(|(_, r)| !r.adding.is_empty())
                .map(|(p, r)| (*p, r.adding.clone()))
                .collect(),
            removing_replicas: t
                .reassignments
                .iter()
                .filter(|(_, r)| !r.removing.is_empty())
                .map(|(p, r)| (*p, r.removing.clone()))
                .collect(),
            topic_id: Some(t.topic_id),
        };
        self.zk
            .controller_write(
                active.epoch_zk_version,
                MultiOp::SetData {
                    path: data::topic_path(topic),
                    data: znode.encode(),
                    version: None,
                },
            )
            .await?;
        Ok(())
    }

    /// Kafka's `updateLeaderEpochAndSendRequest`: the state znode rewritten with the leader
    /// epoch + 1 (same leader and ISR), then LeaderAndIsr with the partition's replica set
    /// to `existing` and, marked new, to `adding`.
    async fn bump_leader_epoch_and_send(
        &mut self,
        topic: &str,
        p: i32,
        existing: &[i32],
        adding: &[i32],
    ) -> Result<(), KafkaZkError> {
        let written = self
            .write_next_state(
                topic,
                p,
                "bump the leader epoch for a reassignment",
                |current| {
                    Some(PartitionStateZNode {
                        leader_epoch: current.leader_epoch + 1,
                        ..current.clone()
                    })
                },
            )
            .await?;
        if written {
            self.send_leader_and_isr(topic, p, existing, adding);
        }
        Ok(())
    }

    /// Kafka's `moveReassignedPartitionLeaderIfRequired` once RS = TRS in memory: a leader
    /// outside the target or not live is replaced by the first target replica that is live
    /// and in the ISR (the ISR unchanged, Kafka's reassign election); a live leader in the
    /// target keeps leading with a new epoch.
    async fn move_reassigned_leader_if_required(
        &mut self,
        topic: &str,
        p: i32,
        target: &[i32],
    ) -> Result<(), KafkaZkError> {
        let Some(active) = &self.active else {
            return Ok(());
        };
        let leader = active
            .topics
            .get(topic)
            .and_then(|t| t.states.get(&p))
            .map_or(data::NO_LEADER, |(s, _)| s.leader);
        if target.contains(&leader) && active.live_brokers.contains_key(&leader) {
            return self.bump_leader_epoch_and_send(topic, p, target, &[]).await;
        }
        info!(%topic, partition = p, leader, ?target, "the leader is not a live target replica: electing one");
        let live: BTreeSet<i32> = active.live_brokers.keys().copied().collect();
        let written = self
            .write_next_state(topic, p, "elect a leader for a reassignment", |current| {
                let leader = target
                    .iter()
                    .copied()
                    .find(|b| live.contains(b) && current.isr.contains(b));
                if leader.is_none() {
                    warn!(%topic, partition = p, ?target, isr = ?current.isr, "no live target replica in the ISR can lead");
                }
                leader.map(|leader| PartitionStateZNode {
                    leader,
                    leader_epoch: current.leader_epoch + 1,
                    ..current.clone()
                })
            })
            .await?;
        if written {
            self.send_leader_and_isr(topic, p, target, &[]);
        }
        Ok(())
    }

    /// Re-reads the partition's state znode and writes `next(current)` (stamped with this
    /// controller's epoch) with the fenced conditional update, re-read and retried on
    /// BADVERSION; records it. `Ok(false)` when nothing was written (no state, a newer
    /// controller's state, `next` gave `None`, or the znode kept changing).
    async fn write_next_state(
        &mut self,
        topic: &str,
        p: i32,
        why: &str,
        next: impl Fn(&PartitionStateZNode) -> Option<PartitionStateZNode>,
    ) -> Result<bool, KafkaZkError> {
        let Some(active) = &mut self.active else {
            return Ok(false);
        };
        let deleting = BTreeSet::new();
        let ctx = StateChangeContext::clean(
            &self.zk,
            active.epoch,
            active.epoch_zk_version,
            &active.live_brokers,
            &deleting,
        );
        for _ in 0..MAX_UPDATE_ATTEMPTS {
            let Some((current, version)) = ctx.read_state(topic, p, why).await? else {
                return Ok(false);
            };
            let Some(mut state) = next(&current) else {
                return Ok(false);
            };
            state.controller_epoch = ctx.controller_epoch;
            let what = format!("partition state written to {why}");
            if ctx
                .write_state(&mut active.topics, topic, p, &state, version, &what)
                .await?
            {
                return Ok(true);
            }
        }
        warn!(%topic, partition = p, "could not {why}: the state znode kept changing");
        Ok(false)
    }

    /// LeaderAndIsr with the partition's current state and replica set to `existing` and,
    /// marked new, to `adding` (live brokers only), and UpdateMetadata to every live broker.
    fn send_leader_and_isr(&self, topic: &str, p: i32, existing: &[i32], adding: &[i32]) {
        let Some(active) = &self.active else {
            return;
        };
        let Some(channel) = &active.channel else {
            return;
        };
        let live = &active.live_brokers;
        let mut batch = RequestBatch::default();
        batch.add_leader_and_isr(
            existing.iter().copied(),
            &active.topics,
            topic,
            p,
            false,
            live,
        );
        batch.add_leader_and_isr(adding.iter().copied(), &active.topics, topic, p, true, live);
        batch.send(
            channel,
            active.epoch,
            live,
            &active.topics,
            &active.deletion.queued(),
        );
    }

    /// Kafka's `stopRemovedReplicasOfReassignedPartition`: each replica leaves the ISR
    /// (OfflineReplica, LeaderAndIsr to the others) and gets StopReplica(delete) — Kafka
    /// does not wait for the answer either.
    async fn stop_removed_replicas(
        &mut self,
        topic: &str,
        p: i32,
        removed: &[i32],
    ) -> Result<(), KafkaZkError> {
        if removed.is_empty() {
            return Ok(());
        }
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
        );
        let mut batch = RequestBatch::default();
        for &r in removed {
            offline_replica_partitions(
                &ctx,
                r,
                vec![(topic.to_string(), p)],
                &mut active.topics,
                &mut batch,
            )
            .await?;
        }
        let Some(channel) = &active.channel else {
            return Ok(());
        };
        batch.send(
            channel,
            ctx.controller_epoch,
            ctx.live,
            &active.topics,
            &deleting,
        );
        let leader_epoch = active
            .topics
            .get(topic)
            .and_then(|t| t.states.get(&p))
            .map_or(-1, |(s, _)| s.leader_epoch);
        for &r in removed {
            if !ctx.is_live(r) {
                continue;
            }
            let (t, broker) = (topic.to_string(), r);
            channel.send_stop_replica(
                ctx.controller_epoch,
                ctx.live,
                r,
                vec![(t.clone(), p, leader_epoch)],
                true,
                move |outcome| match outcome {
                    Ok(errors) if errors.iter().all(|(_, c)| *c == 0) => {
                        info!(topic = %t, partition = p, broker_id = broker, "removed replica deleted");
                    }
                    Ok(errors) => {
                        warn!(topic = %t, partition = p, broker_id = broker, ?errors, "removed replica not deleted");
                    }
                    Err(e) => {
                        warn!(topic = %t, partition = p, broker_id = broker, error = %e, "StopReplica for a removed replica failed");
                    }
                },
            );
        }
        Ok(())
    }

    /// After a successful ISR change (Kafka's `maybeCompleteReassignment` after
    /// AlterPartition): reassigning partitions whose target replicas are all in the ISR now
    /// complete.
    pub(super) async fn maybe_complete_reassignments(&mut self, changed: &[PartitionKey]) {
        let ready: Vec<(String, i32, Vec<i32>, PartitionReassignment)> = {
            let Some(active) = &self.active else {
                return;
            };
            changed
                .iter()
                .filter_map(|(topic, p)| {
                    let t = active.topics.get(topic)?;
                    let r = t.reassignments.get(p)?;
                    let replicas = t.assignment.get(p)?;
                    let (state, _) = t.states.get(p)?;
                    targets_in_isr(replicas, Some(r), state)
                        .then(|| (topic.clone(), *p, replicas.clone(), r.clone()))
                })
                .collect()
        };
        for (topic, p, replicas, r) in ready {
            info!(%topic, partition = p, "the target replicas caught up with the leader");
            let result = self
                .on_partition_reassignment(&topic, p, replicas, Some(r))
                .await;
            self.after(result, "complete a partition reassignment")
                .await;
        }
    }

    /// Restarts in-flight reassignments (Kafka's `maybeResumeReassignments`) but those in
    /// `skip`: on failover all of them, on broker startup those whose target includes a
    /// started broker.
    pub(super) async fn resume_reassignments(
        &mut self,
        started: Option<&BTreeSet<i32>>,
        skip: &BTreeSet<PartitionKey>,
    ) -> Result<(), KafkaZkError> {
        let pending: Vec<(String, i32, Vec<i32>, PartitionReassignment)> = {
            let Some(active) = &self.active else {
                return Ok(());
            };
            active
                .topics
                .iter()
                .flat_map(|(name, t)| {
                    t.reassignments.iter().filter_map(move |(p, r)| {
                        let replicas = t.assignment.get(p)?;
                        let wanted = started.is_none_or(|s| {
                            target_replicas(replicas, Some(r))
                                .iter()
                                .any(|b| s.contains(b))
                        });
                        let skipped = skip.contains(&(name.clone(), *p));
                        (wanted && !skipped)
                            .then(|| (name.clone(), *p, replicas.clone(), r.clone()))
                    })
                })
                .collect()
        };
        for (topic, p, replicas, r) in pending {
            info!(%topic, partition = p, "resuming a partition reassignment");
            match self
                .on_partition_reassignment(&topic, p, replicas, Some(r))
                .await
            {
                Ok(()) => {}
                Err(e @ KafkaZkError::ControllerMoved(_)) => return Err(e),
                Err(e) => {
                    warn!(%topic, partition = p, error = %e, "could not resume the reassignment")
                }
            }
        }
        Ok(())
    }

    /// `/admin/reassign_partitions` watch fired: re-arm it; on creation, start what it asks.
    pub(super) async fn on_zk_reassignment_event(&mut self, kind: WatchKind) {
        if !self.is_active() {
            return;
        }
        let result = if kind == WatchKind::Created {
            self.process_zk_partition_reassignment().await.map(|_| ())
        } else {
            self.zk
                .zk()
                .exists(data::REASSIGN_PARTITIONS_PATH, true)
                .await
                .map(|_| ())
                .map_err(KafkaZkError::from)
        };
        self.after(result, "process /admin/reassign_partitions")
            .await;
    }

    /// Kafka's `processZkPartitionReassignment`: arms the existence watch and, when the
    /// legacy znode exists, starts its reassignments; failed partitions are removed from it.
    /// Returns the partitions it started.
    pub(super) async fn process_zk_partition_reassignment(
        &mut self,
    ) -> Result<BTreeSet<PartitionKey>, KafkaZkError> {
        let zk = self.zk.zk();
        if zk
            .exists(data::REASSIGN_PARTITIONS_PATH, true)
            .await?
            .is_none()
        {
            return Ok(BTreeSet::new());
        }
        let Some((bytes, _)) = zk
            .get_data_opt(data::REASSIGN_PARTITIONS_PATH, false)
            .await?
        else {
            return Ok(BTreeSet::new());
        };
        let requested = match ReassignPartitionsZNode::decode(&bytes) {
            Ok(z) => z.partitions,
            Err(e) => {
                warn!(error = %e, "ignoring an undecodable /admin/reassign_partitions; deleting it");
                self.delete_zk_reassignment().await?;
                return Ok(BTreeSet::new());
            }
        };
        info!(partitions = ?requested, "partition reassignment requested through ZooKeeper");
        let mut wanted = BTreeMap::new();
        let mut failed = BTreeSet::new();
        if let Some(active) = &self.active {
            for ((topic, p), target) in requested {
                let t = active.topics.get(&topic);
                let replicas: Vec<i32> = t
                    .and_then(|t| t.assignment.get(&p))
                    .cloned()
                    .unwrap_or_default();
                let current = t.and_then(|t| t.reassignments.get(&p));
                wanted.insert((topic.clone(), p), reassign_to(&replicas, current, &target));
            }
        }
        let results = self.trigger_partition_reassignments(wanted).await?;
        let mut started = BTreeSet::new();
        for (key, (code, _)) in results {
            if code == 0 {
                started.insert(key);
            } else {
                failed.insert(key);
            }
        }
        if !failed.is_empty() {
            warn!(partitions = ?failed, "reassignment through ZooKeeper failed for these partitions");
            self.remove_from_zk_reassignment(|key, _| failed.contains(key))
                .await?;
        }
        Ok(started)
    }

    /// Kafka's `maybeRemoveFromZkReassignment`: drops the matching partitions from the legacy
    /// znode, deleting it once empty (fenced writes).
    async fn remove_from_zk_reassignment(
        &self,
        matches: impl Fn(&PartitionKey, &[i32]) -> bool,
    ) -> Result<(), KafkaZkError> {
        let Some(active) = &self.active else {
            return Ok(());
        };
        let Some((bytes, _)) = self
            .zk
            .zk()
            .get_data_opt(data::REASSIGN_PARTITIONS_PATH, false)
            .await?
        else {
            return Ok(());
        };
        let mut znode = match ReassignPartitionsZNode::decode(&bytes) {
            Ok(z) => z,
            Err(_) => return self.delete_zk_reassignment().await,
        };
        let before = znode.partitions.len();
        znode
            .partitions
            .retain(|key, replicas| !matches(key, replicas));
        if znode.partitions.len() == before {
            return Ok(());
        }
        if znode.partitions.is_empty() {
            info!("every legacy reassignment finished: deleting /admin/reassign_partitions");
            return self.delete_zk_reassignment().await;
        }
        self.zk
            .controller_write(
                active.epoch_zk_version,
                MultiOp::SetData {
                    path: data::REASSIGN_PARTITIONS_PATH.to_string(),
                    data: znode.encode(),
                    version: None,
                },
            )
            .await?;
        Ok(())
    }

    async fn delete_zk_reassignment(&self) -> Result<(), KafkaZkError> {
        let Some(active) = &self.active else {
            return Ok(());
        };
        match self
            .zk
            .controller_write(
                active.epoch_zk_version,
                MultiOp::Delete {
                    path: data::REASSIGN_PARTITIONS_PATH.to_string(),
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(adding: &[i32], removing: &[i32]) -> PartitionReassignment {
        PartitionReassignment {
            adding: adding.to_vec(),
            removing: removing.to_vec(),
        }
    }

    #[test]
    fn reassign_to_lists_target_first_then_the_original_replicas() {
        // Kafka's example: ORS {1,2,3} → TRS {4,5,6}.
        let (full, next) = reassign_to(&[1, 2, 3], None, &[4, 5, 6]);
        assert_eq!(full, vec![4, 5, 6, 1, 2, 3]);
        assert_eq!(next, Some(r(&[4, 5, 6], &[1, 2, 3])));
        // Overlapping: [1,2,3] → [3,4,2] is encoded [3,4,2,1].
        let (full, next) = reassign_to(&[1, 2, 3], None, &[3, 4, 2]);
        assert_eq!(full, vec![3, 4, 2, 1]);
        assert_eq!(next, Some(r(&[4], &[1])));
        // Same replicas: nothing moves.
        assert_eq!(reassign_to(&[1, 2], None, &[1, 2]), (vec![1, 2], None));
        // Reordering only: no reassignment, the new order is the assignment.
        assert_eq!(reassign_to(&[1, 2], None, &[2, 1]), (vec![2, 1], None));
    }

    #[test]
    fn a_new_target_replaces_an_ongoing_reassignment_from_the_original_replicas() {
        // In flight: [1] → [2], RS [2,1]. New target [3]: the origin is still [1].
        let ongoing = r(&[2], &[1]);
        assert_eq!(origin_replicas(&[2, 1], Some(&ongoing)), vec![1]);
        assert_eq!(target_replicas(&[2, 1], Some(&ongoing)), vec![2]);
        let (full, next) = reassign_to(&[2, 1], Some(&ongoing), &[3]);
        assert_eq!(full, vec![3, 1]);
        assert_eq!(next, Some(r(&[3], &[1])));
        // Cancelling: back to the origin, nothing in flight.
        let (full, next) = reassign_to(&[2, 1], Some(&ongoing), &[1]);
        assert_eq!((full, next), (vec![1], None));
    }

    #[test]
    fn targets_are_validated_like_kafka() {
        let live = |b: i32| b <= 3;
        let code = ResponseError::InvalidReplicaAssignment.code();
        assert_eq!(validate_target(&[1], None, &[2, 3], live), Ok(()));
        assert_eq!(validate_target(&[1], None, &[], live).unwrap_err().0, code);
        assert_eq!(
            validate_target(&[1], None, &[2, 2], live).unwrap_err().0,
            code
        );
        assert_eq!(
            validate_target(&[1], None, &[-1], live).unwrap_err().0,
            code
        );
        let (c, message) = validate_target(&[1], None, &[1, 4], live).unwrap_err();
        assert_eq!(c, code);
        assert!(message.contains("not alive"), "{message}");
        // A dead broker that is already a replica may stay.
        assert_eq!(validate_target(&[1, 4], None, &[4], live), Ok(()));
    }

    #[test]
    fn completion_needs_every_target_replica_in_the_isr() {
        let state = |isr: &[i32]| PartitionStateZNode {
            leader: 1,
            leader_epoch: 0,
            isr: isr.to_vec(),
            controller_epoch: 1,
            leader_recovery_state: 0,
        };
        let ongoing = r(&[3], &[1]);
        assert!(!targets_in_isr(&[2, 3, 1], Some(&ongoing), &state(&[1, 2])));
        assert!(targets_in_isr(
            &[2, 3, 1],
            Some(&ongoing),
            &state(&[1, 2, 3])
        ));
        assert!(targets_in_isr(&[1], None, &state(&[1])));
    }
}
