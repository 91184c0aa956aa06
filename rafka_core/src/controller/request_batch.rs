//! The control requests one controller step produces (Kafka's `ControllerBrokerRequestBatch`):
//! LeaderAndIsr partition states collected per broker and the partitions whose metadata every
//! live broker must learn, sent together at the end of the step — LeaderAndIsr first, then
//! UpdateMetadata — so a broker sees each partition once, in its final state. Also builds the
//! UpdateMetadata partition states from the controller's topics: offline replicas are the
//! replicas on brokers that are not live, and topics being deleted carry leader −2.

use std::collections::{BTreeMap, BTreeSet};

use kafka_protocol::messages::leader_and_isr_request::LeaderAndIsrPartitionState;
use kafka_protocol::messages::update_metadata_request::{
    UpdateMetadataPartitionState, UpdateMetadataTopicState,
};
use kafka_protocol::messages::{BrokerId, TopicName};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use super::controller_channel_manager::ControllerChannelManager;
use super::kafka_controller::ControllerTopic;
use crate::majordomo::LiveBroker;
use crate::server::metadata_cache::LEADER_DURING_DELETE;
use crate::zk::zk_data::PartitionStateZNode;

/// A (topic, partition).
pub type PartitionKey = (String, i32);

/// See the module doc.
#[derive(Debug, Default)]
pub struct RequestBatch {
    /// Broker → partition → (topic id, state). A later state for the same partition replaces
    /// the earlier one (keeping `is_new`), as in Kafka.
    leader_and_isr: BTreeMap<i32, BTreeMap<PartitionKey, (Uuid, LeaderAndIsrPartitionState)>>,
    /// Brokers to send UpdateMetadata to, and the partitions it carries.
    update_metadata_brokers: BTreeSet<i32>,
    update_metadata_partitions: BTreeSet<PartitionKey>,
}

impl RequestBatch {
    /// Kafka's `addLeaderAndIsrRequestForBrokers`: `partition`'s current state (as the
    /// controller knows it) to each of `brokers` that is live, and the partition to the
    /// UpdateMetadata for every live broker. A partition without a state is skipped.
    pub fn add_leader_and_isr(
        &mut self,
        brokers: impl IntoIterator<Item = i32>,
        topics: &BTreeMap<String, ControllerTopic>,
        topic: &str,
        partition: i32,
        is_new: bool,
        live: &BTreeMap<i32, LiveBroker>,
    ) {
        let Some(t) = topics.get(topic) else {
            return;
        };
        let Some((state, zk_version)) = t.states.get(&partition) else {
            return;
        };
        let replicas = t.assignment.get(&partition).cloned().unwrap_or_default();
        let reassignment = t.reassignments.get(&partition).cloned().unwrap_or_default();
        let key = (topic.to_string(), partition);
        for broker in brokers {
            if !live.contains_key(&broker) {
                continue;
            }
            let per_broker = self.leader_and_isr.entry(broker).or_default();
            let already_new = per_broker.get(&key).is_some_and(|(_, ps)| ps.is_new);
            let ps = leader_and_isr_partition_state(
                topic,
                partition,
                state,
                *zk_version,
                &replicas,
                is_new || already_new,
            )
            .with_adding_replicas(reassignment.adding.iter().map(|b| BrokerId(*b)).collect())
            .with_removing_replicas(reassignment.removing.iter().map(|b| BrokerId(*b)).collect());
            per_broker.insert(key.clone(), (t.topic_id, ps));
        }
        self.add_update_metadata(live.keys().copied(), [key]);
    }

    /// Kafka's `addUpdateMetadataRequestForBrokers`: UpdateMetadata to `brokers` carrying
    /// `partitions` (and those of every other call in this batch).
    pub fn add_update_metadata(
        &mut self,
        brokers: impl IntoIterator<Item = i32>,
        partitions: impl IntoIterator<Item = PartitionKey>,
    ) {
        self.update_metadata_brokers.extend(brokers);
        self.update_metadata_partitions.extend(partitions);
    }

    /// True when nothing would be sent.
    pub fn is_empty(&self) -> bool {
        self.leader_and_isr.is_empty() && self.update_metadata_brokers.is_empty()
    }

    /// The brokers that get LeaderAndIsr, each with its (topic, partition) list.
    pub fn leader_and_isr_targets(&self) -> BTreeMap<i32, Vec<PartitionKey>> {
        self.leader_and_isr
            .iter()
            .map(|(b, ps)| (*b, ps.keys().cloned().collect()))
            .collect()
    }

    /// Sends the batch (Kafka's `sendRequestsToBrokers`): LeaderAndIsr to each broker, then
    /// UpdateMetadata with the batch's partitions, in their states in `topics` now.
    pub fn send(
        self,
        channel: &ControllerChannelManager,
        controller_epoch: i32,
        live: &BTreeMap<i32, LiveBroker>,
        topics: &BTreeMap<String, ControllerTopic>,
        deleting: &BTreeSet<String>,
    ) {
        for (broker, partitions) in self.leader_and_isr {
            let partitions: Vec<(String, Uuid, LeaderAndIsrPartitionState)> = partitions
                .into_iter()
                .map(|((topic, _), (id, ps))| (topic, id, ps))
                .collect();
            channel.send_leader_and_isr(controller_epoch, live, broker, partitions);
        }
        if self.update_metadata_brokers.is_empty() {
            return;
        }
        let wanted = &self.update_metadata_partitions;
        let states = update_metadata_states(topics, deleting, live, |t, p| {
            wanted.contains(&(t.to_string(), p))
        });
        let targets: Vec<i32> = self.update_metadata_brokers.into_iter().collect();
        channel.send_update_metadata(controller_epoch, live, &targets, &states);
    }
}

/// One partition's LeaderAndIsr state: the state znode's contents, its data version as the
/// zk version (partition epoch), the assigned replicas.
pub fn leader_and_isr_partition_state(
    topic: &str,
    partition: i32,
    state: &PartitionStateZNode,
    zk_version: i32,
    replicas: &[i32],
    is_new: bool,
) -> LeaderAndIsrPartitionState {
    LeaderAndIsrPartitionState::default()
        .with_topic_name(TopicName(StrBytes::from_string(topic.to_string())))
        .with_partition_index(partition)
        .with_controller_epoch(state.controller_epoch)
        .with_leader(BrokerId(state.leader))
        .with_leader_epoch(state.leader_epoch)
        .with_isr(state.isr.iter().map(|b| BrokerId(*b)).collect())
        .with_partition_epoch(zk_version)
        .with_replicas(replicas.iter().map(|b| BrokerId(*b)).collect())
        .with_is_new(is_new)
        .with_leader_recovery_state(state.leader_recovery_state)
}

/// UpdateMetadata topic states for the partitions of `topics` that have a state and pass
/// `wanted`; topics left without partitions are omitted. Offline replicas are the assigned
/// replicas whose broker is not in `live`. Topics in `deleting` get Kafka's
/// `LeaderAndIsr.duringDelete`: leader −2, leader epoch and zk version 0, so brokers drop them.
pub fn update_metadata_states(
    topics: &BTreeMap<String, ControllerTopic>,
    deleting: &BTreeSet<String>,
    live: &BTreeMap<i32, LiveBroker>,
    wanted: impl Fn(&str, i32) -> bool,
) -> Vec<UpdateMetadataTopicState> {
    topics
        .iter()
        .filter_map(|(name, t)| {
            let being_deleted = deleting.contains(name);
            let partitions: Vec<UpdateMetadataPartitionState> = t
                .states
                .iter()
                .filter(|(p, _)| wanted(name, **p))
                .map(|(p, (state, zk_version))| {
                    let replicas = t.assignment.get(p).cloned().unwrap_or_default();
                    let offline: Vec<BrokerId> = replicas
                        .iter()
                        .filter(|r| !live.contains_key(r))
                        .map(|r| BrokerId(*r))
                        .collect();
                    let (leader, leader_epoch, zk_version) = if being_deleted {
                        (LEADER_DURING_DELETE, 0, 0)
                    } else {
                        (state.leader, state.leader_epoch, *zk_version)
                    };
                    UpdateMetadataPartitionState::default()
                        .with_topic_name(TopicName(StrBytes::from_string(name.clone())))
                        .with_partition_index(*p)
                        .with_controller_epoch(state.controller_epoch)
                        .with_leader(BrokerId(leader))
                        .with_leader_epoch(leader_epoch)
                        .with_isr(state.isr.iter().map(|b| BrokerId(*b)).collect())
                        .with_zk_version(zk_version)
                        .with_replicas(replicas.into_iter().map(BrokerId).collect())
                        .with_offline_replicas(offline)
                })
                .collect();
            (!partitions.is_empty()).then(|| {
                UpdateMetadataTopicState::default()
                    .with_topic_name(TopicName(StrBytes::from_string(name.clone())))
                    .with_topic_id(t.topic_id)
                    .with_partition_states(partitions)
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zk::zk_data::BrokerInfo;

    fn live(ids: &[i32]) -> BTreeMap<i32, LiveBroker> {
        ids.iter()
            .map(|id| {
                let info = BrokerInfo::new(*id, vec![], None, -1, 0);
                (*id, LiveBroker { info, epoch: 100 })
            })
            .collect()
    }

    fn topics() -> BTreeMap<String, ControllerTopic> {
        let state = |leader, epoch, isr: &[i32]| PartitionStateZNode {
            leader,
            leader_epoch: epoch,
            isr: isr.to_vec(),
            controller_epoch: 3,
            leader_recovery_state: 0,
        };
        let t = ControllerTopic {
            topic_id: Uuid::from_u128(7),
            assignment: BTreeMap::from([(0, vec![1, 2]), (1, vec![2, 1]), (2, vec![3])]),
            states: BTreeMap::from([(0, (state(1, 4, &[1, 2]), 9)), (1, (state(2, 0, &[2]), 1))]),
            reassignments: BTreeMap::new(),
        };
        BTreeMap::from([("t".to_string(), t)])
    }

    #[test]
    fn leader_and_isr_goes_to_live_brokers_only_and_keeps_is_new() {
        let topics = topics();
        let live = live(&[1]);
        let mut batch = RequestBatch::default();
        batch.add_leader_and_isr([1, 2], &topics, "t", 0, true, &live);
        batch.add_leader_and_isr([1], &topics, "t", 0, false, &live);
        // No state: nothing.
        batch.add_leader_and_isr([1], &topics, "t", 2, false, &live);
        assert_eq!(
            batch.leader_and_isr_targets(),
            BTreeMap::from([(1, vec![("t".to_string(), 0)])])
        );
        let (id, ps) = &batch.leader_and_isr[&1][&("t".to_string(), 0)];
        assert_eq!(*id, Uuid::from_u128(7));
        assert!(ps.is_new, "a later add keeps is_new");
        assert_eq!(
            (ps.leader.0, ps.leader_epoch, ps.partition_epoch),
            (1, 4, 9)
        );
        assert_eq!(ps.replicas, vec![BrokerId(1), BrokerId(2)]);
        assert_eq!(batch.update_metadata_brokers, BTreeSet::from([1]));
        assert_eq!(
            batch.update_metadata_partitions,
            BTreeSet::from([("t".to_string(), 0)])
        );
    }

    #[test]
    fn update_metadata_lists_offline_replicas_and_deleted_topics() {
        let topics = topics();
        let states = update_metadata_states(&topics, &BTreeSet::new(), &live(&[1]), |_, p| p == 0);
        assert_eq!(states.len(), 1);
        let p = &states[0].partition_states;
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].offline_replicas, vec![BrokerId(2)]);
        assert_eq!(
            (p[0].leader.0, p[0].leader_epoch, p[0].zk_version),
            (1, 4, 9)
        );

        let deleting = BTreeSet::from(["t".to_string()]);
        let states = update_metadata_states(&topics, &deleting, &live(&[1, 2]), |_, _| true);
        let p = &states[0].partition_states;
        assert_eq!(p.len(), 2, "only partitions with a state");
        assert!(p.iter().all(|p| p.leader.0 == LEADER_DURING_DELETE));
        assert!(p.iter().all(|p| p.offline_replicas.is_empty()));

        assert!(update_metadata_states(&topics, &deleting, &live(&[1]), |_, _| false).is_empty());
    }
}
