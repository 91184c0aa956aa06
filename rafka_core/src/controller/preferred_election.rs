//! Leader elections the controller runs on request or on its own timer, outside broker
//! failures: preferred replica elections (moving leadership back to each partition's first
//! assigned replica) through ElectLeaders and the automatic leader rebalance (Kafka's
//! `checkAndTriggerAutoLeaderRebalance`, run every `leader.imbalance.check.interval.seconds`
//! when `auto.leader.rebalance.enable`), and unclean elections through ElectLeaders (an
//! offline partition gets a leader from outside its ISR when no ISR member is live). Both
//! follow Kafka's `processReplicaLeaderElection` / `onReplicaElection` with the rules of
//! [`super::election::ReplicaElection`]: each election re-reads the state znode, writes it with
//! the `/controller_epoch`-fenced conditional update (retried on BADVERSION), and sends
//! LeaderAndIsr to the online replicas and UpdateMetadata to every live broker as one
//! [`RequestBatch`].

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use kafka_protocol::messages::elect_leaders_response::{PartitionResult, ReplicaElectionResult};
use kafka_protocol::messages::{ElectLeadersRequest, ElectLeadersResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;
use tracing::{info, warn};

use super::election::ReplicaElection;
use super::kafka_controller::{ControllerTopic, KafkaController};
use super::partition_state_machine::{set_state, StateChangeContext, MAX_UPDATE_ATTEMPTS};
use super::request_batch::{PartitionKey, RequestBatch};
use crate::zk::kafka_zk_client::KafkaZkError;

/// ElectLeaders `election_type` PREFERRED (v0 implies it).
pub const ELECTION_TYPE_PREFERRED: i8 = 0;

/// ElectLeaders `election_type` UNCLEAN.
pub const ELECTION_TYPE_UNCLEAN: i8 = 1;

/// Kafka's message for ELECTION_NOT_NEEDED (`Errors.ELECTION_NOT_NEEDED.message()`).
pub const ELECTION_NOT_NEEDED_MESSAGE: &str = "Leader election not needed for topic partition.";

/// Kafka schedules the first imbalance check 5 seconds after failover.
pub const FIRST_REBALANCE_DELAY: Duration = Duration::from_secs(5);

/// The broker's automatic leader rebalance settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RebalanceSettings {
    /// `leader.imbalance.check.interval.seconds`.
    pub interval: Duration,
    /// `leader.imbalance.per.broker.percentage`.
    pub imbalance_percentage: i32,
}

/// Kafka's `checkAndTriggerAutoLeaderRebalance` selection: per preferred broker, the share of
/// its partitions (with a state, outside topics being deleted) led by another broker; above
/// `imbalance_percentage` %, those whose preferred replica is live, not shutting down and in
/// the ISR are returned for a preferred election.
pub fn rebalance_candidates(
    topics: &BTreeMap<String, ControllerTopic>,
    deleting: &BTreeSet<String>,
    shutting_down: &BTreeSet<i32>,
    is_live: impl Fn(i32) -> bool,
    imbalance_percentage: i32,
) -> Vec<PartitionKey> {
    // Preferred broker → (partitions it should lead, those led by someone else).
    let mut by_broker: BTreeMap<i32, (usize, Vec<PartitionKey>)> = BTreeMap::new();
    for (name, t) in topics.iter().filter(|(n, _)| !deleting.contains(*n)) {
        for (p, replicas) in &t.assignment {
            let Some(&preferred) = replicas.first() else {
                continue;
            };
            let entry = by_broker.entry(preferred).or_default();
            entry.0 += 1;
            if let Some((state, _)) = t.states.get(p) {
                if state.leader != preferred {
                    entry.1.push((name.clone(), *p));
                }
            }
        }
    }
    let mut candidates = Vec::new();
    for (broker, (total, not_preferred)) in by_broker {
        if total == 0 || not_preferred.is_empty() {
            continue;
        }
        let ratio = not_preferred.len() as f64 / total as f64;
        if ratio <= f64::from(imbalance_percentage) / 100.0 {
            continue;
        }
        info!(
            broker,
            imbalance_ratio = ratio,
            partitions = not_preferred.len(),
            "leader imbalance above the threshold"
        );
        if shutting_down.contains(&broker) || !is_live(broker) {
            continue;
        }
        candidates.extend(not_preferred.into_iter().filter(|(t, p)| {
            topics
                .get(t)
                .and_then(|ct| ct.states.get(p))
                .is_some_and(|(s, _)| s.isr.contains(&broker))
        }));
    }
    candidates
}

/// Per partition, the elected leader or the error code an ElectLeaders request answers.
pub type ElectionResults = BTreeMap<PartitionKey, Result<i32, i16>>;

/// The error of a partition no replica can lead under `election` (Kafka maps its
/// `StateChangeFailedException` to these).
pub fn not_available_code(election: ReplicaElection) -> i16 {
    match election {
        ReplicaElection::Preferred => ResponseError::PreferredLeaderNotAvailable.code(),
        ReplicaElection::Unclean { .. } => ResponseError::EligibleLeadersNotAvailable.code(),
    }
}

impl KafkaController {
    /// Kafka's `onReplicaElection` with the preferred-replica strategy.
    pub(super) async fn elect_preferred_leaders(
        &mut self,
        partitions: Vec<PartitionKey>,
        why: &str,
    ) -> Result<ElectionResults, KafkaZkError> {
        self.elect_replica_leaders(partitions, ReplicaElection::Preferred, why)
            .await
    }

    /// Kafka's `onReplicaElection`: per partition the new leader, or
    /// [`not_available_code`] when no replica can lead under `election` (or the state znode
    /// is missing, undecodable or newer than this controller). A replica is online when its
    /// broker is live and not in a controlled shutdown (Kafka's `isReplicaOnline`). Fails
    /// (ControllerMoved included) only on a ZooKeeper error, before sending anything.
    pub(super) async fn elect_replica_leaders(
        &mut self,
        partitions: Vec<PartitionKey>,
        election: ReplicaElection,
        why: &str,
    ) -> Result<ElectionResults, KafkaZkError> {
        let mut results = BTreeMap::new();
        let Some(active) = &mut self.active else {
            return Err(KafkaZkError::ControllerMoved("not the controller".into()));
        };
        let deleting = active.deletion.queued();
        // The election rule carries its own unclean settings.
        let ctx = StateChangeContext::clean(
            &self.zk,
            active.epoch,
            active.epoch_zk_version,
            &active.live_brokers,
            &deleting,
        );
        let shutting_down = &active.shutting_down;
        let is_online = |r: i32| ctx.is_live(r) && !shutting_down.contains(&r);
        let topics = &mut active.topics;
        let not_available = not_available_code(election);
        let mut batch = RequestBatch::default();
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
                    results.insert((topic, p), Err(not_available));
                    continue;
                };
                let Some((current, version)) = ctx.read_state(&topic, p, "elect a leader").await?
                else {
                    results.insert((topic, p), Err(not_available));
                    continue;
                };
                let Some(next) =
                    election.next_state(&current, &assignment, is_online, ctx.controller_epoch)
                else {
                    warn!(
                        %topic,
                        partition = p,
                        ?assignment,
                        isr = ?current.isr,
                        live_brokers = ?ctx.live.keys().collect::<Vec<_>>(),
                        strategy = election.strategy_name(),
                        "no replica can lead under the requested election: no election"
                    );
                    set_state(topics, &topic, p, current, version);
                    results.insert((topic, p), Err(not_available));
                    continue;
                };
                let unclean = !current.isr.contains(&next.leader);
                let what = format!(
                    "{} ({why}, {})",
                    if unclean {
                        "unclean leader election: a replica outside the ISR leads"
                    } else {
                        "leader elected"
                    },
                    election.strategy_name()
                );
                if !ctx
                    .write_state(topics, &topic, p, &next, version, &what)
                    .await?
                {
                    retry.push((topic, p));
                    continue;
                }
                if unclean {
                    warn!(%topic, partition = p, leader = next.leader, previous_isr = ?current.isr, "unclean leader election: records only the old ISR held may be lost");
                }
                let recipients: Vec<i32> = assignment
                    .iter()
                    .copied()
                    .filter(|r| is_online(*r))
                    .collect();
                batch.add_leader_and_isr(recipients, topics, &topic, p, false, ctx.live);
                results.insert((topic, p), Ok(next.leader));
            }
            remaining = retry;
        }
        for key in remaining {
            warn!(topic = %key.0, partition = key.1, "gave up the election: the state znode kept changing");
            results.insert(key, Err(ResponseError::UnknownServerError.code()));
        }
        if let Some(channel) = &active.channel {
            batch.send(channel, ctx.controller_epoch, ctx.live, topics, &deleting);
        }
        Ok(results)
    }

    /// Kafka's `processAutoPreferredReplicaLeaderElection` (the timer event's work).
    pub(super) async fn on_auto_rebalance(&mut self) {
        let Some(active) = &self.active else {
            return;
        };
        let Some(settings) = self.rebalance else {
            return;
        };
        let deleting = active.deletion.queued();
        let live = &active.live_brokers;
        let candidates = rebalance_candidates(
            &active.topics,
            &deleting,
            &active.shutting_down,
            |b| live.contains_key(&b),
            settings.imbalance_percentage,
        );
        if candidates.is_empty() {
            return;
        }
        info!(partitions = ?candidates, "automatic preferred replica leader election");
        let result = self
            .elect_preferred_leaders(candidates, "auto rebalance")
            .await
            .map(|_| ());
        self.after(result, "elect preferred leaders (auto rebalance)")
            .await;
    }

    /// Kafka's `processReplicaLeaderElection` for ElectLeaders: NOT_CONTROLLER unless active;
    /// unknown partitions UNKNOWN_TOPIC_OR_PARTITION, topics being deleted
    /// INVALID_TOPIC_EXCEPTION, partitions that need no election (PREFERRED: led by their
    /// preferred replica; UNCLEAN: led by an online broker) ELECTION_NOT_NEEDED, an unknown
    /// election type INVALID_REQUEST; null topics mean every partition. The others get the
    /// requested election (v0 is always PREFERRED).
    pub(super) async fn on_elect_leaders(
        &mut self,
        request: &ElectLeadersRequest,
        version: i16,
    ) -> ElectLeadersResponse {
        let requested: Vec<PartitionKey> = match (&request.topic_partitions, &self.active) {
            (Some(tps), _) => tps
                .iter()
                .flat_map(|tp| {
                    tp.partitions
                        .iter()
                        .map(move |p| (tp.topic.0.to_string(), *p))
                })
                .collect(),
            (None, Some(active)) => active
                .topics
                .iter()
                .flat_map(|(n, t)| t.assignment.keys().map(move |p| (n.clone(), *p)))
                .collect(),
            (None, None) => Vec::new(),
        };
        let mut results: BTreeMap<PartitionKey, (i16, Option<String>)> = BTreeMap::new();
        if self.active.is_none() {
            for key in requested {
                results.insert(key, (ResponseError::NotController.code(), None));
            }
            let top = if request.topic_partitions.is_none() {
                ResponseError::NotController.code()
            } else {
                0
            };
            return election_response(results, top, version);
        }
        let election_type = if version == 0 {
            ELECTION_TYPE_PREFERRED
        } else {
            request.election_type
        };
        let election = match election_type {
            ELECTION_TYPE_PREFERRED => Some(ReplicaElection::Preferred),
            ELECTION_TYPE_UNCLEAN => Some(ReplicaElection::Unclean {
                leader_recovery_supported: self.election_settings().await.leader_recovery_supported,
            }),
            _ => None,
        };
        let Some(active) = &self.active else {
            return election_response(results, ResponseError::NotController.code(), version);
        };
        let deleting = active.deletion.queued();
        let is_online =
            |r: i32| active.live_brokers.contains_key(&r) && !active.shutting_down.contains(&r);
        let mut electable = Vec::new();
        for (topic, p) in requested {
            let Some(t) = active.topics.get(&topic) else {
                results.insert(
                    (topic, p),
                    (
                        ResponseError::UnknownTopicOrPartition.code(),
                        Some("The partition does not exist.".into()),
                    ),
                );
                continue;
            };
            let Some(assignment) = t.assignment.get(&p) else {
                results.insert(
                    (topic, p),
                    (
                        ResponseError::UnknownTopicOrPartition.code(),
                        Some("The partition does not exist.".into()),
                    ),
                );
                continue;
            };
            if deleting.contains(&topic) {
                results.insert(
                    (topic, p),
                    (
                        ResponseError::InvalidTopicException.code(),
                        Some("The topic is being deleted".into()),
                    ),
                );
                continue;
            }
            let Some(election) = election else {
                results.insert(
                    (topic, p),
                    (
                        ResponseError::InvalidRequest.code(),
                        Some(format!("Unknown election type {election_type}")),
                    ),
                );
                continue;
            };
            let leader = t.states.get(&p).map(|(s, _)| s.leader);
            if !election.is_needed(leader, assignment, is_online) {
                results.insert(
                    (topic, p),
                    (
                        ResponseError::ElectionNotNeeded.code(),
                        Some(ELECTION_NOT_NEEDED_MESSAGE.into()),
                    ),
                );
                continue;
            }
            electable.push((topic, p));
        }
        let Some(election) = election.filter(|_| !electable.is_empty()) else {
            return election_response(results, 0, version);
        };
        info!(
            partitions = ?electable,
            strategy = election.strategy_name(),
            "leader election requested through ElectLeaders"
        );
        match self
            .elect_replica_leaders(electable.clone(), election, "ElectLeaders")
            .await
        {
            Ok(elected) => {
                let not_available = not_available_code(election);
                for (key, outcome) in elected {
                    let entry = match outcome {
                        Ok(_) => (0, None),
                        Err(code) if code == not_available => (
                            code,
                            Some(format!(
                                "Failed to elect leader for partition {}-{} under strategy {}",
                                key.0,
                                key.1,
                                election.strategy_name()
                            )),
                        ),
                        Err(code) => (code, None),
                    };
                    results.insert(key, entry);
                }
            }
            Err(e) => {
                let moved = matches!(e, KafkaZkError::ControllerMoved(_));
                self.after(Err(e), "elect leaders (ElectLeaders)").await;
                let code = if moved {
                    ResponseError::NotController.code()
                } else {
                    ResponseError::UnknownServerError.code()
                };
                for key in electable {
                    results.insert(key, (code, None));
                }
            }
        }
        election_response(results, 0, version)
    }
}

/// Builds an ElectLeaders response, results grouped by topic; the top-level error exists
/// from v1.
pub fn election_response(
    results: BTreeMap<PartitionKey, (i16, Option<String>)>,
    error_code: i16,
    version: i16,
) -> ElectLeadersResponse {
    let mut by_topic: BTreeMap<String, Vec<PartitionResult>> = BTreeMap::new();
    for ((topic, p), (code, message)) in results {
        by_topic.entry(topic).or_default().push(
            PartitionResult::default()
                .with_partition_id(p)
                .with_error_code(code)
                .with_error_message(message.map(StrBytes::from_string)),
        );
    }
    ElectLeadersResponse::default()
        .with_error_code(if version >= 1 { error_code } else { 0 })
        .with_replica_election_results(
            by_topic
                .into_iter()
                .map(|(topic, partition_result)| {
                    ReplicaElectionResult::default()
                        .with_topic(TopicName(StrBytes::from_string(topic)))
                        .with_partition_result(partition_result)
                })
                .collect(),
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zk::zk_data::PartitionStateZNode;
    use uuid::Uuid;

    fn topic(parts: &[(i32, &[i32], i32)]) -> ControllerTopic {
        ControllerTopic {
            topic_id: Uuid::nil(),
            assignment: parts.iter().map(|(p, r, _)| (*p, r.to_vec())).collect(),
            states: parts
                .iter()
                .map(|(p, r, leader)| {
                    (
                        *p,
                        (
                            PartitionStateZNode {
                                leader: *leader,
                                leader_epoch: 1,
                                isr: r.to_vec(),
                                controller_epoch: 1,
                                leader_recovery_state: 0,
                            },
                            0,
                        ),
                    )
                })
                .collect(),
            reassignments: BTreeMap::new(),
        }
    }

    #[test]
    fn imbalance_above_the_threshold_selects_the_preferred_partitions() {
        let mut topics = BTreeMap::new();
        topics.insert("t".to_string(), topic(&[(0, &[1, 2], 2), (1, &[2, 1], 2)]));
        let none: BTreeSet<String> = BTreeSet::new();
        let no_broker: BTreeSet<i32> = BTreeSet::new();
        let all_live = |_| true;
        assert_eq!(
            rebalance_candidates(&topics, &none, &no_broker, all_live, 10),
            vec![("t".to_string(), 0)]
        );
        // 1 of 1 partitions is 100 %: not above 100.
        assert!(rebalance_candidates(&topics, &none, &no_broker, all_live, 100).is_empty());
        // Shutting down, dead, or a topic being deleted: nothing.
        let down: BTreeSet<i32> = [1].into();
        assert!(rebalance_candidates(&topics, &none, &down, all_live, 10).is_empty());
        assert!(rebalance_candidates(&topics, &none, &no_broker, |b| b == 2, 10).is_empty());
        let deleting: BTreeSet<String> = ["t".to_string()].into();
        assert!(rebalance_candidates(&topics, &deleting, &no_broker, all_live, 10).is_empty());
    }

    #[test]
    fn a_balanced_cluster_needs_no_election() {
        let mut topics = BTreeMap::new();
        topics.insert("t".to_string(), topic(&[(0, &[1, 2], 1), (1, &[2, 1], 2)]));
        let none: BTreeSet<String> = BTreeSet::new();
        let no_broker: BTreeSet<i32> = BTreeSet::new();
        assert!(rebalance_candidates(&topics, &none, &no_broker, |_| true, 10).is_empty());
    }
}
