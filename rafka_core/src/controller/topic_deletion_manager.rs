//! `TopicDeletionManager`: the controller's bookkeeping for topics queued in
//! `/admin/delete_topics` (Kafka's `TopicDeletionManager` with the replica deletion states of
//! its `ReplicaStateMachine`), kept free of I/O: the controller asks it what to do next
//! ([`TopicDeletionManager::resume`]) and reports StopReplica answers back.
//!
//! A queued topic goes through: UpdateMetadata with leader −2 for its partitions (brokers drop
//! it from their metadata caches), StopReplica with `delete` and leader epoch −2 to every
//! replica, and once every replica answered success, removal of its znodes. A replica on a
//! broker that is down, or whose StopReplica failed, is ineligible until that broker is live
//! under a new registration (Kafka resumes such deletions in `onBrokerStartup`); the topic
//! stays queued meanwhile.

use std::collections::{BTreeMap, BTreeSet};

use tracing::{info, warn};

use super::kafka_controller::ControllerTopic;
use crate::majordomo::LiveBroker;

/// One replica's deletion state (Kafka's `ReplicaDeletionStarted` / `Successful` /
/// `Ineligible`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplicaDeletionState {
    /// StopReplica(delete) sent to the broker while registered with this epoch.
    Started {
        broker_epoch: i64,
    },
    Successful,
    /// Not deleted: the broker was down (`None`) or failed while registered with this epoch.
    /// Retried once the broker is live with another epoch.
    Ineligible {
        broker_epoch: Option<i64>,
    },
}

/// A replica: (partition, broker id).
pub type Replica = (i32, i32);

/// What the controller must do after [`TopicDeletionManager::resume`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeletionWork {
    /// Every replica deleted (or the topic vanished): remove the topic's znodes.
    pub complete: Vec<String>,
    /// Deletion (re)started: tell every live broker, by UpdateMetadata with leader −2.
    pub update_metadata: Vec<String>,
    /// Broker → (topic, partition) replicas to send StopReplica(delete) for.
    pub stop_replica: BTreeMap<i32, Vec<(String, i32)>>,
}

/// See the module doc.
#[derive(Debug, Default)]
pub struct TopicDeletionManager {
    /// Queued topic → states of the replicas whose deletion was attempted.
    topics: BTreeMap<String, BTreeMap<Replica, ReplicaDeletionState>>,
}

impl TopicDeletionManager {
    /// Queues `topic`; `false` if it already was.
    pub fn enqueue(&mut self, topic: &str) -> bool {
        if self.topics.contains_key(topic) {
            return false;
        }
        self.topics.insert(topic.to_string(), BTreeMap::new());
        true
    }

    /// Kafka's `isTopicQueuedUpForDeletion`.
    pub fn is_queued(&self, topic: &str) -> bool {
        self.topics.contains_key(topic)
    }

    /// The queued topics.
    pub fn queued(&self) -> BTreeSet<String> {
        self.topics.keys().cloned().collect()
    }

    /// Forgets `topic` (its deletion completed).
    pub fn remove(&mut self, topic: &str) {
        self.topics.remove(topic);
    }

    /// The state of one replica, if its deletion was attempted.
    pub fn replica_state(&self, topic: &str, replica: Replica) -> Option<ReplicaDeletionState> {
        self.topics.get(topic)?.get(&replica).copied()
    }

    /// Kafka's `resumeDeletions`: for each queued topic, done when every replica is deleted;
    /// waits while a StopReplica is in flight; otherwise sends StopReplica to every replica
    /// not yet deleted whose broker is live (and, if it failed before, has re-registered
    /// since), marking replicas on dead brokers ineligible.
    pub fn resume(
        &mut self,
        topics: &BTreeMap<String, ControllerTopic>,
        live: &BTreeMap<i32, LiveBroker>,
    ) -> DeletionWork {
        let mut work = DeletionWork::default();
        for (name, states) in &mut self.topics {
            let Some(topic) = topics.get(name) else {
                // The topic's znode is gone already: only the leftovers remain to be removed.
                work.complete.push(name.clone());
                continue;
            };
            // Kafka's "topic reassignment in progress" ineligibility: deletion resumes when
            // the reassignment completes.
            if !topic.reassignments.is_empty() {
                info!(topic = %name, "topic deletion waits for its partition reassignments");
                continue;
            }
            let replicas: Vec<Replica> = topic
                .assignment
                .iter()
                .flat_map(|(p, rs)| rs.iter().map(move |b| (*p, *b)))
                .collect();
            if replicas
                .iter()
                .all(|r| states.get(r) == Some(&ReplicaDeletionState::Successful))
            {
                work.complete.push(name.clone());
                continue;
            }
            if states
                .values()
                .any(|s| matches!(s, ReplicaDeletionState::Started { .. }))
            {
                continue;
            }
            let fresh = states.is_empty();
            let mut sent = false;
            let mut dead = Vec::new();
            for r in replicas {
                let state = states.get(&r).copied();
                match (state, live.get(&r.1)) {
                    (Some(ReplicaDeletionState::Successful), _) => {}
                    (_, None) => {
                        dead.push(r);
                        states.insert(r, ReplicaDeletionState::Ineligible { broker_epoch: None });
                    }
                    (
                        Some(ReplicaDeletionState::Ineligible {
                            broker_epoch: Some(e),
                        }),
                        Some(b),
                    ) if e == b.epoch => {}
                    (_, Some(b)) => {
                        states.insert(
                            r,
                            ReplicaDeletionState::Started {
                                broker_epoch: b.epoch,
                            },
                        );
                        work.stop_replica
                            .entry(r.1)
                            .or_default()
                            .push((name.clone(), r.0));
                        sent = true;
                    }
                }
            }
            if !dead.is_empty() && fresh {
                info!(topic = %name, dead_replicas = ?dead, "topic deletion waits for offline replicas");
            }
            if fresh || sent {
                info!(topic = %name, "deletion of topic (re)started");
                work.update_metadata.push(name.clone());
            }
        }
        work
    }

    /// Records a StopReplica answer from `broker` (sent while it had `broker_epoch`):
    /// `ok` per (topic, partition). Only replicas waiting for that answer change state.
    pub fn on_stop_replica_response(
        &mut self,
        broker: i32,
        broker_epoch: i64,
        results: &[((String, i32), bool)],
    ) {
        for ((topic, p), ok) in results {
            let Some(states) = self.topics.get_mut(topic) else {
                continue;
            };
            let Some(state) = states.get_mut(&(*p, broker)) else {
                continue;
            };
            if !matches!(state, ReplicaDeletionState::Started { .. }) {
                continue;
            }
            if *ok {
                *state = ReplicaDeletionState::Successful;
            } else {
                warn!(%topic, partition = p, broker, "replica deletion failed; retried when the broker re-registers");
                *state = ReplicaDeletionState::Ineligible {
                    broker_epoch: Some(broker_epoch),
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zk::zk_data::BrokerInfo;
    use uuid::Uuid;

    fn live(brokers: &[(i32, i64)]) -> BTreeMap<i32, LiveBroker> {
        brokers
            .iter()
            .map(|(id, epoch)| {
                (
                    *id,
                    LiveBroker {
                        info: BrokerInfo::new(*id, vec![], None, -1, 0),
                        epoch: *epoch,
                    },
                )
            })
            .collect()
    }

    fn topics() -> BTreeMap<String, ControllerTopic> {
        [(
            "t".to_string(),
            ControllerTopic {
                topic_id: Uuid::new_v4(),
                assignment: [(0, vec![1, 2]), (1, vec![2, 1])].into(),
                states: BTreeMap::new(),
                reassignments: BTreeMap::new(),
            },
        )]
        .into()
    }

    #[test]
    fn all_replicas_live_complete_after_answers() {
        let mut m = TopicDeletionManager::default();
        assert!(m.enqueue("t"));
        assert!(!m.enqueue("t"));
        let live = live(&[(1, 10), (2, 20)]);
        let work = m.resume(&topics(), &live);
        assert_eq!(work.update_metadata, vec!["t".to_string()]);
        assert_eq!(
            work.stop_replica[&1],
            vec![("t".to_string(), 0), ("t".to_string(), 1)]
        );
        assert_eq!(work.stop_replica[&2].len(), 2);
        assert!(work.complete.is_empty());
        // In flight: nothing more to do.
        assert_eq!(m.resume(&topics(), &live), DeletionWork::default());
        m.on_stop_replica_response(1, 10, &[(("t".into(), 0), true), (("t".into(), 1), true)]);
        assert_eq!(m.resume(&topics(), &live), DeletionWork::default());
        m.on_stop_replica_response(2, 20, &[(("t".into(), 0), true), (("t".into(), 1), true)]);
        let work = m.resume(&topics(), &live);
        assert_eq!(work.complete, vec!["t".to_string()]);
        m.remove("t");
        assert!(!m.is_queued("t"));
    }

    #[test]
    fn dead_and_failed_replicas_wait_for_a_new_registration() {
        let mut m = TopicDeletionManager::default();
        m.enqueue("t");
        // Broker 2 is down.
        let work = m.resume(&topics(), &live(&[(1, 10)]));
        assert_eq!(
            work.stop_replica.keys().copied().collect::<Vec<_>>(),
            vec![1]
        );
        assert_eq!(
            m.replica_state("t", (0, 2)),
            Some(ReplicaDeletionState::Ineligible { broker_epoch: None })
        );
        // Broker 1 fails partition 1 (e.g. a storage error).
        m.on_stop_replica_response(1, 10, &[(("t".into(), 0), true), (("t".into(), 1), false)]);
        assert_eq!(
            m.resume(&topics(), &live(&[(1, 10)])),
            DeletionWork::default()
        );
        // Broker 2 comes back; broker 1 is still at epoch 10: only broker 2 is retried.
        let work = m.resume(&topics(), &live(&[(1, 10), (2, 21)]));
        assert_eq!(
            work.stop_replica.keys().copied().collect::<Vec<_>>(),
            vec![2]
        );
        assert_eq!(work.update_metadata, vec!["t".to_string()]);
        m.on_stop_replica_response(2, 21, &[(("t".into(), 0), true), (("t".into(), 1), true)]);
        // Broker 1 re-registers: its failed replica is retried, then the topic completes.
        let work = m.resume(&topics(), &live(&[(1, 11), (2, 21)]));
        assert_eq!(work.stop_replica[&1], vec![("t".to_string(), 1)]);
        m.on_stop_replica_response(1, 11, &[(("t".into(), 1), true)]);
        let work = m.resume(&topics(), &live(&[(1, 11), (2, 21)]));
        assert_eq!(work.complete, vec!["t".to_string()]);
    }

    #[test]
    fn a_vanished_topic_completes() {
        let mut m = TopicDeletionManager::default();
        m.enqueue("gone");
        let work = m.resume(&BTreeMap::new(), &live(&[(1, 1)]));
        assert_eq!(work.complete, vec!["gone".to_string()]);
    }
}
