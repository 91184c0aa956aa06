//! The partition state machine's OfflinePartition → OnlinePartition transition (Kafka's
//! `ZkPartitionStateMachine.triggerOnlinePartitionStateChange` with the offline-partition
//! election strategy) for partitions that already have a state znode: a partition is offline
//! when its leader (−1 included) is not a live broker. Electing re-reads the state znode
//! (refusing one written by a newer controller), applies the rules of [`super::election`]
//! (unclean election per the topic's `unclean.leader.election.enable`, the broker's value
//! as default), writes the znode with the conditional, `/controller_epoch`-fenced update
//! (re-read and retried on BADVERSION), records the new state and zk version in the
//! controller's topics, and queues LeaderAndIsr to the live replicas and UpdateMetadata to
//! every live broker. A partition no replica can lead stays offline, its znode unchanged.
//! Partitions without a state (New) are created by the controller's `onNewPartitionCreation`.
//!
//! Also defines [`StateChangeContext`], what both state machines need from the controller.

use std::collections::{BTreeMap, BTreeSet};

use tracing::{info, warn};

use super::election::{has_live_isr, leader_for_offline};
use super::kafka_controller::ControllerTopic;
use super::request_batch::{PartitionKey, RequestBatch};
use crate::majordomo::LiveBroker;
use crate::zk::kafka_zk_client::{KafkaZkClient, KafkaZkError};
use crate::zk::zk_data::{ConfigType, PartitionStateZNode};

/// Attempts per partition when its state znode keeps changing under the controller (Kafka
/// retries without bound; nothing but the controller writes the state here yet).
pub const MAX_UPDATE_ATTEMPTS: usize = 10;

/// `unclean.leader.election.enable` as a broker and topic config key.
pub const UNCLEAN_LEADER_ELECTION_ENABLE: &str = "unclean.leader.election.enable";

/// What a state change needs from the active controller.
pub struct StateChangeContext<'a> {
    pub zk: &'a KafkaZkClient,
    /// The controller epoch written into the state znodes.
    pub controller_epoch: i32,
    /// `/controller_epoch`'s version, which fences every write.
    pub epoch_zk_version: i32,
    pub live: &'a BTreeMap<i32, LiveBroker>,
    /// Topics queued for deletion: their partitions are left alone.
    pub deleting: &'a BTreeSet<String>,
    /// The broker's `unclean.leader.election.enable` (topic overrides win).
    pub unclean_default: bool,
    /// IBP 3.2-IV0+: an unclean leader is marked RECOVERING.
    pub leader_recovery_supported: bool,
}

impl<'a> StateChangeContext<'a> {
    /// A context for state changes that never elect an unclean leader (reassignment steps,
    /// ISR updates).
    pub fn clean(
        zk: &'a KafkaZkClient,
        controller_epoch: i32,
        epoch_zk_version: i32,
        live: &'a BTreeMap<i32, LiveBroker>,
        deleting: &'a BTreeSet<String>,
    ) -> StateChangeContext<'a> {
        StateChangeContext {
            zk,
            controller_epoch,
            epoch_zk_version,
            live,
            deleting,
            unclean_default: false,
            leader_recovery_supported: false,
        }
    }

    /// The same context with unclean-election settings: the broker's
    /// `unclean.leader.election.enable` (topic overrides win) and whether an unclean leader
    /// is marked RECOVERING.
    pub fn with_unclean(self, unclean_default: bool, leader_recovery_supported: bool) -> Self {
        StateChangeContext {
            unclean_default,
            leader_recovery_supported,
            ..self
        }
    }

    /// Writes `next` over the state znode read at `version` (conditional, fenced by
    /// `/controller_epoch`) and, on success, records it in `topics` and logs `what` with the
    /// new leadership. `Ok(false)` when the znode changed since the read (BADVERSION: re-read
    /// and retry).
    pub async fn write_state(
        &self,
        topics: &mut BTreeMap<String, ControllerTopic>,
        topic: &str,
        partition: i32,
        next: &PartitionStateZNode,
        version: i32,
        what: &str,
    ) -> Result<bool, KafkaZkError> {
        match self
            .zk
            .update_leader_and_isr(topic, partition, next, version, self.epoch_zk_version)
            .await?
        {
            Some(new_version) => {
                info!(
                    %topic,
                    partition,
                    leader = next.leader,
                    leader_epoch = next.leader_epoch,
                    isr = ?next.isr,
                    leader_recovery_state = next.leader_recovery_state,
                    zk_version = new_version,
                    "{what}"
                );
                set_state(topics, topic, partition, next.clone(), new_version);
                Ok(true)
            }
            None => {
                info!(%topic, partition, "state znode changed during \"{what}\"; retrying");
                Ok(false)
            }
        }
    }

    /// Kafka's `isReplicaOnline` (no offline log dirs are tracked).
    pub fn is_live(&self, broker: i32) -> bool {
        self.live.contains_key(&broker)
    }

    /// Re-reads a partition's state znode for a state change; `None` (logged) when it is
    /// missing, undecodable or was written by a newer controller epoch (Kafka aborts the
    /// change then: this controller is about to lose its role).
    pub async fn read_state(
        &self,
        topic: &str,
        partition: i32,
        why: &str,
    ) -> Result<Option<(PartitionStateZNode, i32)>, KafkaZkError> {
        match self.zk.get_topic_partition_state(topic, partition).await {
            Ok(Some((state, _))) if state.controller_epoch > self.controller_epoch => {
                warn!(
                    %topic,
                    partition,
                    written_by_epoch = state.controller_epoch,
                    controller_epoch = self.controller_epoch,
                    "aborting {why}: the state was written by a newer controller"
                );
                Ok(None)
            }
            Ok(Some(found)) => Ok(Some(found)),
            Ok(None) => {
                warn!(%topic, partition, "cannot {why}: the partition has no state znode");
                Ok(None)
            }
            Err(e @ KafkaZkError::BadData { .. }) => {
                warn!(%topic, partition, error = %e, "cannot {why}");
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }
}

/// Partitions with a state whose leader is not live, outside topics being deleted (Kafka's
/// OfflinePartition state, derived from the leadership the controller knows).
pub fn offline_partitions(
    topics: &BTreeMap<String, ControllerTopic>,
    ctx: &StateChangeContext<'_>,
) -> Vec<PartitionKey> {
    topics
        .iter()
        .filter(|(name, _)| !ctx.deleting.contains(*name))
        .flat_map(|(name, t)| {
            t.states
                .iter()
                .filter(|(_, (state, _))| !ctx.is_live(state.leader))
                .map(move |(p, _)| (name.clone(), *p))
        })
        .collect()
}

/// Kafka's `triggerOnlinePartitionStateChange` for the partitions that have a state: every
/// offline partition gets an offline-partition election. Returns the partitions that got a
/// leader.
pub async fn trigger_online_partition_state_change(
    ctx: &StateChangeContext<'_>,
    topics: &mut BTreeMap<String, ControllerTopic>,
    batch: &mut RequestBatch,
) -> Result<Vec<PartitionKey>, KafkaZkError> {
    let offline = offline_partitions(topics, ctx);
    if offline.is_empty() {
        return Ok(Vec::new());
    }
    elect_offline_partitions(ctx, topics, offline, batch).await
}

/// Kafka's `electLeaderForPartitions` with `OfflinePartitionLeaderElectionStrategy`; see the
/// module doc. Returns the partitions that got a leader.
pub async fn elect_offline_partitions(
    ctx: &StateChangeContext<'_>,
    topics: &mut BTreeMap<String, ControllerTopic>,
    partitions: Vec<PartitionKey>,
    batch: &mut RequestBatch,
) -> Result<Vec<PartitionKey>, KafkaZkError> {
    let mut unclean_by_topic: BTreeMap<String, Option<bool>> = BTreeMap::new();
    let mut elected = Vec::new();
    let mut remaining = partitions;
    for _ in 0..MAX_UPDATE_ATTEMPTS {
        if remaining.is_empty() {
            break;
        }
        let mut retry = Vec::new();
        for (topic, p) in remaining {
            let Some(assignment) = topics
                .get(&topic)
                .and_then(|t| t.assignment.get(&p))
                .cloned()
            else {
                continue;
            };
            let Some((current, version)) = ctx.read_state(&topic, p, "elect a leader").await?
            else {
                continue;
            };
            let unclean = if has_live_isr(&current.isr, |r| ctx.is_live(r)) {
                false
            } else {
                if !unclean_by_topic.contains_key(&topic) {
                    let allowed = topic_unclean_election(ctx, &topic).await;
                    unclean_by_topic.insert(topic.clone(), allowed);
                }
                match unclean_by_topic.get(&topic).copied().flatten() {
                    Some(allowed) => allowed,
                    // The topic config could not be read: no election (Kafka's failed
                    // state change); retried on the next broker change.
                    None => continue,
                }
            };
            let next = leader_for_offline(
                &current,
                &assignment,
                |r| ctx.is_live(r),
                unclean,
                ctx.leader_recovery_supported,
                ctx.controller_epoch,
            );
            let Some(next) = next else {
                warn!(
                    %topic,
                    partition = p,
                    ?assignment,
                    isr = ?current.isr,
                    live_brokers = ?ctx.live.keys().collect::<Vec<_>>(),
                    unclean,
                    "no replica can lead: partition stays offline"
                );
                set_state(topics, &topic, p, current, version);
                continue;
            };
            let what = if current.isr.contains(&next.leader) {
                "partition online: leader elected"
            } else {
                "partition online: unclean leader elected from outside the ISR"
            };
            if ctx
                .write_state(topics, &topic, p, &next, version, what)
                .await?
            {
                let recipients: Vec<i32> = assignment
                    .iter()
                    .copied()
                    .filter(|r| ctx.is_live(*r))
                    .collect();
                batch.add_leader_and_isr(recipients, topics, &topic, p, false, ctx.live);
                elected.push((topic, p));
            } else {
                retry.push((topic, p));
            }
        }
        remaining = retry;
    }
    if !remaining.is_empty() {
        warn!(partitions = ?remaining, "gave up electing leaders: the state znodes kept changing");
    }
    Ok(elected)
}

/// Records a partition's state and zk version in the controller's topics.
pub fn set_state(
    topics: &mut BTreeMap<String, ControllerTopic>,
    topic: &str,
    partition: i32,
    state: PartitionStateZNode,
    zk_version: i32,
) {
    if let Some(t) = topics.get_mut(topic) {
        t.states.insert(partition, (state, zk_version));
    }
}

/// The topic's `unclean.leader.election.enable` from `/config/topics/<t>`, else the broker's;
/// `None` (logged) when the override cannot be read.
async fn topic_unclean_election(ctx: &StateChangeContext<'_>, topic: &str) -> Option<bool> {
    match ctx.zk.get_entity_config(ConfigType::Topic, topic).await {
        Ok(config) => match config.get(UNCLEAN_LEADER_ELECTION_ENABLE) {
            None => Some(ctx.unclean_default),
            Some(v) => match parse_bool(v) {
                Some(b) => Some(b),
                None => {
                    warn!(%topic, value = %v, "invalid unclean.leader.election.enable override; using the broker's");
                    Some(ctx.unclean_default)
                }
            },
        },
        Err(e) => {
            warn!(%topic, error = %e, "cannot read the topic config for an unclean leader election");
            None
        }
    }
}

/// Kafka's boolean config parsing: `true`/`false`, case-insensitive, surrounding blanks
/// ignored.
fn parse_bool(v: &str) -> Option<bool> {
    let v = v.trim();
    if v.eq_ignore_ascii_case("true") {
        Some(true)
    } else if v.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans_parse_like_kafka() {
        assert_eq!(parse_bool(" TRUE "), Some(true));
        assert_eq!(parse_bool("false"), Some(false));
        assert_eq!(parse_bool("yes"), None);
    }
}
