//! `MetadataCache`: the broker's view of the cluster as the controller last described it
//! (Kafka's `ZkMetadataCache`). Filled only by UpdateMetadata; Metadata (and later
//! FindCoordinator) are answered solely from it (spec startup-and-controller.md §5).
//!
//! Holds the live brokers with their endpoints per listener and rack, the controller id, the
//! highest controller epoch seen in a control request (Kafka keeps it in `ReplicaManager`; it
//! lives here so LeaderAndIsr/StopReplica can share it later) and the partition states.
//! The broker's own epoch and the cluster id come from Majordomo's metadata watch.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use kafka_protocol::messages::update_metadata_request::{
    UpdateMetadataBroker, UpdateMetadataPartitionState,
};
use kafka_protocol::messages::UpdateMetadataRequest;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;
use tokio::sync::watch;

use crate::cluster::{SecurityProtocol, TopicPartition};
use crate::majordomo::BrokerMetadata;

/// Kafka's `LeaderAndIsr.LeaderDuringDelete`: UpdateMetadata removes partitions with this leader.
pub const LEADER_DURING_DELETE: i32 = -2;

/// One advertised endpoint of a cached broker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CachedEndPoint {
    pub host: String,
    pub port: i32,
    pub security_protocol: i16,
}

/// A live broker as UpdateMetadata described it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CachedBroker {
    pub id: i32,
    pub rack: Option<String>,
    /// Listener name → endpoint.
    pub endpoints: BTreeMap<String, CachedEndPoint>,
}

/// One partition's state as UpdateMetadata described it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CachedPartitionState {
    pub controller_epoch: i32,
    pub leader: i32,
    pub leader_epoch: i32,
    pub isr: Vec<i32>,
    pub zk_version: i32,
    pub replicas: Vec<i32>,
    pub offline_replicas: Vec<i32>,
}

/// A consistent copy of the cache's contents.
#[derive(Clone, Debug, Default)]
pub struct MetadataSnapshot {
    pub controller_id: Option<i32>,
    /// Highest controller epoch accepted so far (−1 before the first control request).
    pub controller_epoch: i32,
    pub alive_brokers: BTreeMap<i32, CachedBroker>,
    pub partition_states: BTreeMap<TopicPartition, CachedPartitionState>,
    /// Topic ids (UpdateMetadata v7+); absent or zero for older controllers.
    pub topic_ids: BTreeMap<String, [u8; 16]>,
}

/// Where the broker's own epoch and the cluster id come from.
#[derive(Debug)]
enum Identity {
    Majordomo(watch::Receiver<Arc<BrokerMetadata>>),
    Fixed {
        broker_epoch: i64,
        cluster_id: Option<String>,
    },
}

/// The cache. Cheap to share (`Arc`); readers take a short read lock.
#[derive(Debug)]
pub struct MetadataCache {
    broker_id: i32,
    identity: Identity,
    snapshot: RwLock<Arc<MetadataSnapshot>>,
}

impl MetadataCache {
    /// An empty cache whose epoch and cluster id follow Majordomo's metadata watch.
    pub fn new(broker_id: i32, broker_metadata: watch::Receiver<Arc<BrokerMetadata>>) -> Self {
        Self::with_identity(broker_id, Identity::Majordomo(broker_metadata))
    }

    /// An empty cache with a fixed broker epoch and cluster id (tests, tools).
    pub fn fixed(broker_id: i32, broker_epoch: i64, cluster_id: Option<String>) -> Self {
        Self::with_identity(
            broker_id,
            Identity::Fixed {
                broker_epoch,
                cluster_id,
            },
        )
    }

    fn with_identity(broker_id: i32, identity: Identity) -> Self {
        MetadataCache {
            broker_id,
            identity,
            snapshot: RwLock::new(Arc::new(MetadataSnapshot {
                controller_epoch: -1,
                ..MetadataSnapshot::default()
            })),
        }
    }

    pub fn broker_id(&self) -> i32 {
        self.broker_id
    }

    /// This broker's current epoch (the czxid of its registration).
    pub fn broker_epoch(&self) -> i64 {
        match &self.identity {
            Identity::Majordomo(rx) => rx.borrow().broker_epoch,
            Identity::Fixed { broker_epoch, .. } => *broker_epoch,
        }
    }

    pub fn cluster_id(&self) -> Option<String> {
        match &self.identity {
            Identity::Majordomo(rx) => Some(rx.borrow().cluster_id.clone()),
            Identity::Fixed { cluster_id, .. } => cluster_id.clone(),
        }
    }

    /// The current contents.
    pub fn snapshot(&self) -> Arc<MetadataSnapshot> {
        match self.snapshot.read() {
            Ok(s) => Arc::clone(&s),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Kafka's `isBrokerEpochStale`: −1 means "controller predates KIP-380"; a larger epoch
    /// than ours is possible (the controller saw our new registration first) and accepted.
    pub fn is_broker_epoch_stale(&self, request_epoch: i64) -> bool {
        request_epoch != -1 && request_epoch < self.broker_epoch()
    }

    /// Applies an UpdateMetadata request decoded at `version` (`ReplicaManager.
    /// maybeUpdateMetadataCache` + `ZkMetadataCache.updateMetadata`): refuses a controller
    /// epoch below the highest seen with STALE_CONTROLLER_EPOCH, else replaces the broker
    /// list and controller id, upserts partition states and removes partitions whose leader
    /// is −2. Returns the removed partitions.
    pub fn update_metadata(
        &self,
        request: &UpdateMetadataRequest,
        version: i16,
    ) -> Result<Vec<TopicPartition>, ResponseError> {
        let mut guard = match self.snapshot.write() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        if request.controller_epoch < guard.controller_epoch {
            return Err(ResponseError::StaleControllerEpoch);
        }
        let mut next = MetadataSnapshot::clone(&guard);
        next.controller_epoch = request.controller_epoch;
        let controller_id: i32 = request.controller_id.into();
        next.controller_id = (controller_id >= 0).then_some(controller_id);
        next.alive_brokers = request
            .live_brokers
            .iter()
            .map(|b| {
                let broker = cached_broker(b, version);
                (broker.id, broker)
            })
            .collect();

        let mut states: Vec<(String, &UpdateMetadataPartitionState)> = Vec::new();
        if version < 5 {
            for p in &request.ungrouped_partition_states {
                states.push((p.topic_name.to_string(), p));
            }
        } else {
            for t in &request.topic_states {
                let topic = t.topic_name.to_string();
                if version >= 7 && !t.topic_id.is_nil() {
                    next.topic_ids.insert(topic.clone(), *t.topic_id.as_bytes());
                }
                for p in &t.partition_states {
                    states.push((topic.clone(), p));
                }
            }
        }
        let mut deleted = Vec::new();
        for (topic, p) in states {
            let tp = TopicPartition::new(topic, p.partition_index);
            let leader: i32 = p.leader.into();
            if leader == LEADER_DURING_DELETE {
                next.partition_states.remove(&tp);
                deleted.push(tp);
            } else {
                next.partition_states.insert(
                    tp,
                    CachedPartitionState {
                        controller_epoch: p.controller_epoch,
                        leader,
                        leader_epoch: p.leader_epoch,
                        isr: p.isr.iter().map(|b| (*b).into()).collect(),
                        zk_version: p.zk_version,
                        replicas: p.replicas.iter().map(|b| (*b).into()).collect(),
                        offline_replicas: p.offline_replicas.iter().map(|b| (*b).into()).collect(),
                    },
                );
            }
        }
        next.topic_ids
            .retain(|topic, _| next.partition_states.keys().any(|tp| &tp.topic == topic));
        *guard = Arc::new(next);
        Ok(deleted)
    }
}

fn cached_broker(b: &UpdateMetadataBroker, version: i16) -> CachedBroker {
    let mut endpoints = BTreeMap::new();
    if version == 0 {
        // v0 carries one PLAINTEXT host/port.
        endpoints.insert(
            SecurityProtocol::Plaintext.name().to_string(),
            CachedEndPoint {
                host: b.v0_host.to_string(),
                port: b.v0_port,
                security_protocol: SecurityProtocol::Plaintext.id(),
            },
        );
    } else {
        for e in &b.endpoints {
            // Before v3 the listener is named after its security protocol.
            let listener = if version >= 3 {
                e.listener.to_string()
            } else {
                SecurityProtocol::ALL
                    .into_iter()
                    .find(|p| p.id() == e.security_protocol)
                    .map(|p| p.name().to_string())
                    .unwrap_or_default()
            };
            endpoints.insert(
                listener,
                CachedEndPoint {
                    host: e.host.to_string(),
                    port: e.port,
                    security_protocol: e.security_protocol,
                },
            );
        }
    }
    CachedBroker {
        id: b.id.into(),
        rack: if version >= 2 {
            b.rack.as_ref().map(StrBytes::to_string)
        } else {
            None
        },
        endpoints,
    }
}
