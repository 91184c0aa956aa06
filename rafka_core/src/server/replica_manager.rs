//! `ReplicaManager` (minimal): applies the controller's LeaderAndIsr requests (Kafka's
//! `ReplicaManager.becomeLeaderOrFollower`): creates the partition logs through the
//! `LogManager` (with the topic id) and records this broker's role per partition.
//! Replication (followers fetching) comes with its own issue.

use std::collections::BTreeMap;
use std::sync::Mutex;

use kafka_protocol::messages::leader_and_isr_request::LeaderAndIsrPartitionState;
use kafka_protocol::messages::LeaderAndIsrRequest;
use kafka_protocol::ResponseError;
use tracing::{info, warn};
use uuid::Uuid;

use crate::cluster::TopicPartition;
use crate::log::log_manager::{LogManagerError, LogManagerHandle};

/// This broker's role for one partition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionRole {
    pub topic_id: Option<Uuid>,
    pub leader: i32,
    pub leader_epoch: i32,
    pub is_leader: bool,
    pub isr: Vec<i32>,
    pub replicas: Vec<i32>,
}

#[derive(Debug, Default)]
struct State {
    /// Highest controller epoch seen in LeaderAndIsr (−1 before the first).
    controller_epoch: i32,
    partitions: BTreeMap<TopicPartition, PartitionRole>,
}

/// See the module doc.
#[derive(Debug)]
pub struct ReplicaManager {
    broker_id: i32,
    log_manager: LogManagerHandle,
    state: Mutex<State>,
}

impl ReplicaManager {
    pub fn new(broker_id: i32, log_manager: LogManagerHandle) -> ReplicaManager {
        ReplicaManager {
            broker_id,
            log_manager,
            state: Mutex::new(State {
                controller_epoch: -1,
                partitions: BTreeMap::new(),
            }),
        }
    }

    /// The recorded role of `tp`, if this broker is one of its replicas.
    pub fn partition(&self, tp: &TopicPartition) -> Option<PartitionRole> {
        self.lock().partitions.get(tp).cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Applies one LeaderAndIsr request whose broker-epoch check already passed. Returns the
    /// top-level error (STALE_CONTROLLER_EPOCH) or the per-partition results, in request
    /// order, as (topic, topic id, partition, error).
    pub async fn become_leader_or_follower(
        &self,
        request: &LeaderAndIsrRequest,
        partitions: Vec<(String, Uuid, LeaderAndIsrPartitionState)>,
    ) -> Result<Vec<(String, Uuid, i32, Option<ResponseError>)>, ResponseError> {
        {
            let mut state = self.lock();
            if request.controller_epoch < state.controller_epoch {
                warn!(
                    controller_id = request.controller_id.0,
                    controller_epoch = request.controller_epoch,
                    latest = state.controller_epoch,
                    "ignoring LeaderAndIsr from an older controller epoch"
                );
                return Err(ResponseError::StaleControllerEpoch);
            }
            state.controller_epoch = request.controller_epoch;
        }
        let mut results = Vec::with_capacity(partitions.len());
        for (topic, topic_id, p) in partitions {
            let tp = TopicPartition::new(topic.clone(), p.partition_index);
            let error = self.apply_partition(&tp, topic_id, &p).await;
            results.push((topic, topic_id, p.partition_index, error));
        }
        Ok(results)
    }

    async fn apply_partition(
        &self,
        tp: &TopicPartition,
        topic_id: Uuid,
        p: &LeaderAndIsrPartitionState,
    ) -> Option<ResponseError> {
        let replicas: Vec<i32> = p.replicas.iter().map(|b| b.0).collect();
        if !replicas.contains(&self.broker_id) {
            warn!(%tp, ?replicas, "LeaderAndIsr for a partition this broker does not replicate");
            return Some(ResponseError::UnknownTopicOrPartition);
        }
        let id = (!topic_id.is_nil()).then_some(topic_id);
        if let Some(existing) = self.partition(tp) {
            if let (Some(old), Some(new)) = (existing.topic_id, id) {
                if old != new {
                    return Some(ResponseError::InconsistentTopicId);
                }
            }
            // Kafka: a leader epoch not above the current one is stale.
            if p.leader_epoch <= existing.leader_epoch {
                info!(%tp, leader_epoch = p.leader_epoch, current = existing.leader_epoch, "ignoring LeaderAndIsr with a stale leader epoch");
                return Some(ResponseError::StaleControllerEpoch);
            }
        }
        match self.log_manager.get_or_create_log(tp.clone(), id).await {
            Ok(_) => {}
            Err(LogManagerError::InconsistentTopicId { .. }) => {
                return Some(ResponseError::InconsistentTopicId)
            }
            Err(e) => {
                warn!(%tp, error = %e, "could not create the log");
                return Some(ResponseError::KafkaStorageError);
            }
        }
        let role = PartitionRole {
            topic_id: id,
            leader: p.leader.0,
            leader_epoch: p.leader_epoch,
            is_leader: p.leader.0 == self.broker_id,
            isr: p.isr.iter().map(|b| b.0).collect(),
            replicas,
        };
        info!(%tp, leader = role.leader, leader_epoch = role.leader_epoch, is_leader = role.is_leader, "partition role");
        self.lock().partitions.insert(tp.clone(), role);
        None
    }
}
