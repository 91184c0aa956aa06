//! The controller side of AlterPartition (Kafka's ZK `KafkaController.processAlterPartition`):
//! a partition leader proposes a new ISR; the active controller checks the requesting
//! broker's epoch, then each partition with [`super::isr_change::check_isr_change`], writes
//! the accepted ones to their state znodes (conditional on the partition epoch, fenced by
//! `/controller_epoch`; the leader epoch unchanged), records them, answers each partition
//! with its committed leader, leader epoch, ISR and new partition epoch (or an error), and
//! sends UpdateMetadata for the requested partitions to every live broker. The leader learns
//! its new state from the answer, so no LeaderAndIsr goes out.

use std::collections::BTreeMap;

use kafka_protocol::messages::alter_partition_response::{PartitionData, TopicData};
use kafka_protocol::messages::{
    AlterPartitionRequest, AlterPartitionResponse, BrokerId, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;
use tracing::{info, warn};
use uuid::Uuid;

use super::isr_change::{check_isr_change, IsrDecision, ProposedIsr};
use super::kafka_controller::KafkaController;
use super::partition_state_machine::set_state;
use super::request_batch::{update_metadata_states, PartitionKey};
use crate::zk::kafka_zk_client::KafkaZkError;
use crate::zk::zk_data::PartitionStateZNode;

/// A partition's answer: its committed state and zk version, or an error code.
type Outcome = Result<(PartitionStateZNode, i32), i16>;

/// An answer with only a top-level error.
pub fn top_level_error(code: i16) -> AlterPartitionResponse {
    AlterPartitionResponse::default().with_error_code(code)
}

impl KafkaController {
    /// Processes one AlterPartition request; see the module doc.
    pub(super) async fn on_alter_partition(
        &mut self,
        request: &AlterPartitionRequest,
        version: i16,
    ) -> AlterPartitionResponse {
        let Some(active) = &self.active else {
            return top_level_error(ResponseError::NotController.code());
        };
        let broker_id = request.broker_id.0;
        match active.live_brokers.get(&broker_id) {
            None => {
                info!(
                    broker_id,
                    "ignoring AlterPartition from a broker that is not live"
                );
                return top_level_error(ResponseError::StaleBrokerEpoch.code());
            }
            Some(b) if b.epoch != request.broker_epoch => {
                info!(
                    broker_id,
                    request_epoch = request.broker_epoch,
                    broker_epoch = b.epoch,
                    "ignoring AlterPartition with a stale broker epoch"
                );
                return top_level_error(ResponseError::StaleBrokerEpoch.code());
            }
            Some(_) => {}
        }
        let use_topic_ids = version > 1;
        let epoch = active.epoch;
        let epoch_zk_version = active.epoch_zk_version;
        // Topic ids no topic has (v2+): every partition UNKNOWN_TOPIC_ID.
        let mut unknown_ids: Vec<(Uuid, Vec<i32>)> = Vec::new();
        let mut outcomes: BTreeMap<PartitionKey, Outcome> = BTreeMap::new();
        let mut writes: Vec<(PartitionKey, PartitionStateZNode, i32)> = Vec::new();
        for t in &request.topics {
            let name = if use_topic_ids {
                active
                    .topics
                    .iter()
                    .find(|(_, ct)| ct.topic_id == t.topic_id)
                    .map(|(n, _)| n.clone())
            } else {
                Some(t.topic_name.to_string())
            };
            let Some(name) = name else {
                unknown_ids.push((
                    t.topic_id,
                    t.partitions.iter().map(|p| p.partition_index).collect(),
                ));
                continue;
            };
            for p in &t.partitions {
                let key = (name.clone(), p.partition_index);
                let isr: Vec<i32> = if version >= 3 {
                    p.new_isr_with_epochs
                        .iter()
                        .map(|b| b.broker_id.0)
                        .collect()
                } else {
                    p.new_isr.iter().map(|b| b.0).collect()
                };
                let proposed = ProposedIsr {
                    leader: broker_id,
                    leader_epoch: p.leader_epoch,
                    isr,
                    leader_recovery_state: if version >= 1 {
                        p.leader_recovery_state
                    } else {
                        0
                    },
                    partition_epoch: p.partition_epoch,
                };
                let topic = active.topics.get(&name);
                let Some((state, zk_version)) = topic.and_then(|ct| ct.states.get(&key.1)) else {
                    outcomes.insert(key, Err(ResponseError::UnknownTopicOrPartition.code()));
                    continue;
                };
                let replicas = topic
                    .and_then(|ct| ct.assignment.get(&key.1))
                    .cloned()
                    .unwrap_or_default();
                let eligible = |r: i32| {
                    active.live_brokers.contains_key(&r) && !active.shutting_down.contains(&r)
                };
                match check_isr_change(
                    state,
                    *zk_version,
                    &proposed,
                    &replicas,
                    eligible,
                    version,
                    epoch,
                ) {
                    Ok(IsrDecision::Unchanged) => {
                        outcomes.insert(key, Ok((state.clone(), *zk_version)));
                    }
                    Ok(IsrDecision::Write(next)) => writes.push((key, next, p.partition_epoch)),
                    Err(code) => {
                        info!(
                            topic = %key.0,
                            partition = key.1,
                            broker_id,
                            leader_epoch = proposed.leader_epoch,
                            partition_epoch = proposed.partition_epoch,
                            isr = ?proposed.isr,
                            current_leader_epoch = state.leader_epoch,
                            current_partition_epoch = *zk_version,
                            error = code,
                            "AlterPartition refused"
                        );
                        outcomes.insert(key, Err(code));
                    }
                }
            }
        }
        let mut moved = false;
        for (key, next, expected) in writes {
            let result = self
                .zk
                .update_leader_and_isr(&key.0, key.1, &next, expected, epoch_zk_version)
                .await;
            let outcome = match result {
                Ok(Some(new_version)) => {
                    info!(
                        topic = %key.0,
                        partition = key.1,
                        leader = next.leader,
                        leader_epoch = next.leader_epoch,
                        isr = ?next.isr,
                        zk_version = new_version,
                        "ISR changed by the leader"
                    );
                    if let Some(active) = &mut self.active {
                        set_state(&mut active.topics, &key.0, key.1, next.clone(), new_version);
                    }
                    Ok((next, new_version))
                }
                Ok(None) => {
                    info!(topic = %key.0, partition = key.1, "AlterPartition: the state znode changed (bad zk version)");
                    Err(ResponseError::InvalidUpdateVersion.code())
                }
                Err(KafkaZkError::ControllerMoved(why)) => {
                    info!(%why, "AlterPartition: the controller moved");
                    moved = true;
                    Err(ResponseError::NotController.code())
                }
                Err(e) => {
                    warn!(topic = %key.0, partition = key.1, error = %e, "AlterPartition: cannot write the state znode");
                    Err(ResponseError::UnknownServerError.code())
                }
            };
            outcomes.insert(key, outcome);
        }
        // UpdateMetadata with every requested partition the controller knows, to every live
        // broker (Kafka's `sendUpdateMetadataRequest(liveOrShuttingDownBrokerIds, …)`).
        if let Some(active) = &self.active {
            if let Some(channel) = &active.channel {
                let known: Vec<&PartitionKey> = outcomes
                    .iter()
                    .filter(|(_, o)| {
                        !matches!(o, Err(c) if *c == ResponseError::UnknownTopicOrPartition.code())
                    })
                    .map(|(k, _)| k)
                    .collect();
                if !known.is_empty() {
                    let targets: Vec<i32> = active.live_brokers.keys().copied().collect();
                    let states = update_metadata_states(
                        &active.topics,
                        &active.deletion.queued(),
                        &active.live_brokers,
                        |t, p| known.iter().any(|(kt, kp)| kt == t && *kp == p),
                    );
                    channel.send_update_metadata(
                        active.epoch,
                        &active.live_brokers,
                        &targets,
                        &states,
                    );
                }
            }
        }
        let response = self.build_response(outcomes, unknown_ids, use_topic_ids, version);
        if moved {
            self.maybe_resign().await;
        }
        response
    }

    fn build_response(
        &self,
        outcomes: BTreeMap<PartitionKey, Outcome>,
        unknown_ids: Vec<(Uuid, Vec<i32>)>,
        use_topic_ids: bool,
        version: i16,
    ) -> AlterPartitionResponse {
        let mut by_topic: BTreeMap<String, Vec<PartitionData>> = BTreeMap::new();
        for ((topic, partition), outcome) in outcomes {
            let data = match outcome {
                Err(code) => PartitionData::default()
                    .with_partition_index(partition)
                    .with_error_code(code),
                Ok((state, zk_version)) => PartitionData::default()
                    .with_partition_index(partition)
                    .with_leader_id(BrokerId(state.leader))
                    .with_leader_epoch(state.leader_epoch)
                    .with_isr(state.isr.iter().map(|b| BrokerId(*b)).collect())
                    .with_leader_recovery_state(if version >= 1 {
                        state.leader_recovery_state
                    } else {
                        0
                    })
                    .with_partition_epoch(zk_version),
            };
            by_topic.entry(topic).or_default().push(data);
        }
        let topic_id = |name: &str| {
            self.active
                .as_ref()
                .and_then(|a| a.topics.get(name))
                .map_or(Uuid::nil(), |t| t.topic_id)
        };
        let mut topics: Vec<TopicData> = by_topic
            .into_iter()
            .map(|(name, partitions)| {
                let t = TopicData::default().with_partitions(partitions);
                if use_topic_ids {
                    t.with_topic_id(topic_id(&name))
                } else {
                    t.with_topic_name(TopicName(StrBytes::from_string(name)))
                }
            })
            .collect();
        for (id, partitions) in unknown_ids {
            topics.push(
                TopicData::default().with_topic_id(id).with_partitions(
                    partitions
                        .into_iter()
                        .map(|p| {
                            PartitionData::default()
                                .with_partition_index(p)
                                .with_error_code(ResponseError::UnknownTopicId.code())
                        })
                        .collect(),
                ),
            );
        }
        AlterPartitionResponse::default().with_topics(topics)
    }
}
