//! The replica state machine's transitions that change what brokers host and lead (Kafka's
//! `ZkReplicaStateMachine`, outside topic deletion):
//!
//! - **OnlineReplica**: every replica on the given live brokers gets LeaderAndIsr with its
//!   partition's current state (not new), so a started or restarted broker learns the
//!   partitions it hosts and whether it leads or follows them.
//! - **OfflineReplica**: a dead broker's replicas leave the ISRs (the rules of
//!   [`super::election::remove_replica_from_isr`]: leader −1 where it led, the last ISR member
//!   kept, leader epoch + 1), each written with the conditional, `/controller_epoch`-fenced
//!   update after a fresh read (retried on BADVERSION); LeaderAndIsr goes to the partition's
//!   other live replicas and UpdateMetadata (with the offline replicas) to every live broker.
//!
//! Topics queued for deletion are left to the topic deletion manager.

use std::collections::{BTreeMap, BTreeSet};

use tracing::warn;

use super::election::remove_replica_from_isr;
use super::kafka_controller::ControllerTopic;
use super::partition_state_machine::{set_state, StateChangeContext, MAX_UPDATE_ATTEMPTS};
use super::request_batch::{PartitionKey, RequestBatch};
use crate::zk::kafka_zk_client::KafkaZkError;

/// The partitions, outside topics being deleted, with a replica on `broker`.
pub fn partitions_on(
    topics: &BTreeMap<String, ControllerTopic>,
    deleting: &BTreeSet<String>,
    broker: i32,
) -> Vec<PartitionKey> {
    topics
        .iter()
        .filter(|(name, _)| !deleting.contains(*name))
        .flat_map(|(name, t)| {
            t.assignment
                .iter()
                .filter(move |(_, replicas)| replicas.contains(&broker))
                .map(move |(p, _)| (name.clone(), *p))
        })
        .collect()
}

/// OnlineReplica for every replica on `brokers` (see the module doc). Partitions without a
/// state are skipped (they are still New).
pub fn online_replicas(
    ctx: &StateChangeContext<'_>,
    brokers: &BTreeSet<i32>,
    topics: &BTreeMap<String, ControllerTopic>,
    batch: &mut RequestBatch,
) {
    for &broker in brokers {
        for (topic, p) in partitions_on(topics, ctx.deleting, broker) {
            batch.add_leader_and_isr([broker], topics, &topic, p, false, ctx.live);
        }
    }
}

/// OfflineReplica for every replica on `brokers` (see the module doc). Returns the
/// partitions whose state was rewritten.
pub async fn offline_replicas(
    ctx: &StateChangeContext<'_>,
    brokers: &BTreeSet<i32>,
    topics: &mut BTreeMap<String, ControllerTopic>,
    batch: &mut RequestBatch,
) -> Result<Vec<PartitionKey>, KafkaZkError> {
    let mut changed = Vec::new();
    for &broker in brokers {
        let partitions = partitions_on(topics, ctx.deleting, broker);
        changed.extend(offline_replica_partitions(ctx, broker, partitions, topics, batch).await?);
    }
    Ok(changed)
}

/// OfflineReplica for `broker`'s replicas of `partitions` only (a controlled shutdown takes
/// the partitions it follows out of their ISRs). Returns the partitions whose state was
/// rewritten.
pub async fn offline_replica_partitions(
    ctx: &StateChangeContext<'_>,
    broker: i32,
    partitions: Vec<PartitionKey>,
    topics: &mut BTreeMap<String, ControllerTopic>,
    batch: &mut RequestBatch,
) -> Result<Vec<PartitionKey>, KafkaZkError> {
    let all_live: Vec<i32> = ctx.live.keys().copied().collect();
    let mut changed = Vec::new();
    {
        let (with_state, without_state): (Vec<PartitionKey>, Vec<PartitionKey>) = partitions
            .into_iter()
            .partition(|(t, p)| topics.get(t).is_some_and(|t| t.states.contains_key(p)));
        // No leadership yet: only the metadata (offline replica) changes.
        batch.add_update_metadata(all_live.iter().copied(), without_state);
        let mut remaining = with_state;
        for _ in 0..MAX_UPDATE_ATTEMPTS {
            if remaining.is_empty() {
                break;
            }
            let mut retry = Vec::new();
            for (topic, p) in remaining {
                let Some((current, version)) = ctx
                    .read_state(&topic, p, "remove an offline replica from the ISR")
                    .await?
                else {
                    continue;
                };
                let Some(next) = remove_replica_from_isr(&current, broker, ctx.controller_epoch)
                else {
                    set_state(topics, &topic, p, current, version);
                    batch.add_update_metadata(all_live.iter().copied(), [(topic, p)]);
                    continue;
                };
                let what = format!("offline replica {broker} removed from the ISR");
                if ctx
                    .write_state(topics, &topic, p, &next, version, &what)
                    .await?
                {
                    let others: Vec<i32> = topics
                        .get(&topic)
                        .and_then(|t| t.assignment.get(&p))
                        .map(|rs| rs.iter().copied().filter(|r| *r != broker).collect())
                        .unwrap_or_default();
                    batch.add_leader_and_isr(others, topics, &topic, p, false, ctx.live);
                    changed.push((topic, p));
                } else {
                    retry.push((topic, p));
                }
            }
            remaining = retry;
        }
        if !remaining.is_empty() {
            warn!(
                replica = broker,
                partitions = ?remaining,
                "gave up removing the offline replica from the ISR: the state znodes kept changing"
            );
        }
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    #[test]
    fn partitions_on_a_broker_skip_deleted_topics() {
        let topic = |assignment: &[(i32, Vec<i32>)]| ControllerTopic {
            topic_id: Uuid::nil(),
            assignment: assignment.iter().cloned().collect(),
            states: BTreeMap::new(),
            reassignments: BTreeMap::new(),
        };
        let topics = BTreeMap::from([
            ("a".to_string(), topic(&[(0, vec![1, 2]), (1, vec![2])])),
            ("b".to_string(), topic(&[(0, vec![2, 1])])),
        ]);
        assert_eq!(
            partitions_on(&topics, &BTreeSet::new(), 1),
            vec![("a".to_string(), 0), ("b".to_string(), 0)]
        );
        let deleting = BTreeSet::from(["b".to_string()]);
        assert_eq!(
            partitions_on(&topics, &deleting, 2),
            vec![("a".to_string(), 0), ("a".to_string(), 1)]
        );
    }
}
