//! `AdminManager`: topic creation for CreateTopics and Metadata auto-creation (Kafka's
//! `ZkAdminManager.createTopics` + `AutoTopicCreationManager` in ZK mode). The broker writes
//! the topic itself through the admin path (`zk/admin_zk_client.rs`); the controller creates
//! the partitions from its `/brokers/topics` watch and UpdateMetadata brings them into the
//! local `MetadataCache`, which is what CreateTopics waits for.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::ResponseError;
use tokio::sync::watch;
use tracing::info;
use uuid::Uuid;

use crate::config::KafkaConfig;
use crate::majordomo::BrokerMetadata;
use crate::server::metadata_cache::MetadataCache;
use crate::zk::admin_zk_client::{self as admin, AdminError};
use crate::zk::KafkaZkClient;

/// A created (or validated) topic.
#[derive(Clone, Debug)]
pub struct CreatedTopic {
    pub topic_id: Option<Uuid>,
    pub assignment: BTreeMap<i32, Vec<i32>>,
    pub configs: BTreeMap<String, String>,
}

/// See the module doc.
#[derive(Debug)]
pub struct AdminManager {
    zk: KafkaZkClient,
    broker_metadata: watch::Receiver<Arc<BrokerMetadata>>,
    config: Arc<KafkaConfig>,
    cache: Arc<MetadataCache>,
}

/// The Kafka error code and message of an admin failure.
pub fn admin_error(e: &AdminError) -> (ResponseError, String) {
    let code = match e {
        AdminError::InvalidTopic(_) => ResponseError::InvalidTopicException,
        AdminError::TopicExists(_) => ResponseError::TopicAlreadyExists,
        AdminError::InvalidPartitions(_) => ResponseError::InvalidPartitions,
        AdminError::InvalidReplicationFactor(_) => ResponseError::InvalidReplicationFactor,
        AdminError::InvalidReplicaAssignment(_) => ResponseError::InvalidReplicaAssignment,
        AdminError::InvalidConfig(_) => ResponseError::InvalidConfig,
        AdminError::InvalidRequest(_) => ResponseError::InvalidRequest,
        AdminError::UnknownTopicOrPartition(_) => ResponseError::UnknownTopicOrPartition,
        AdminError::TopicAlreadyMarkedForDeletion(_) => ResponseError::UnknownServerError,
        AdminError::ReassignmentInProgress(_) => ResponseError::ReassignmentInProgress,
        AdminError::BrokerNotAvailable(_) => ResponseError::BrokerNotAvailable,
        AdminError::AdminOperation(_) => ResponseError::UnknownServerError,
        AdminError::Zk(_) => ResponseError::UnknownServerError,
    };
    (code, e.to_string())
}

impl AdminManager {
    pub fn new(
        zk: KafkaZkClient,
        broker_metadata: watch::Receiver<Arc<BrokerMetadata>>,
        config: Arc<KafkaConfig>,
        cache: Arc<MetadataCache>,
    ) -> AdminManager {
        AdminManager {
            zk,
            broker_metadata,
            config,
            cache,
        }
    }

    /// Whether this broker is the active controller (CreateTopics' ZK-mode requirement).
    pub fn is_controller(&self) -> bool {
        self.broker_metadata.borrow().is_controller()
    }

    pub fn config(&self) -> &KafkaConfig {
        &self.config
    }

    /// The ZooKeeper client (config admin reads and writes entity configs through it).
    pub fn zk(&self) -> &KafkaZkClient {
        &self.zk
    }

    /// The live brokers with their `broker.rack` (Kafka's `metadataCache.getAliveBrokers`
    /// as `BrokerMetadata`), for replica placement.
    fn alive_broker_racks(&self) -> Vec<admin::BrokerRack> {
        self.cache
            .snapshot()
            .alive_brokers
            .values()
            .map(|b| admin::BrokerRack::new(b.id, b.rack.as_deref()))
            .collect()
    }

    fn alive_brokers(&self) -> Vec<i32> {
        self.cache
            .snapshot()
            .alive_brokers
            .keys()
            .copied()
            .collect()
    }

    /// One CreateTopics entry (`ZkAdminManager.createTopics`): checks, placement, validation,
    /// and unless `validate_only` the admin-path write.
    pub async fn create_topic(
        &self,
        topic: &CreatableTopic,
        validate_only: bool,
    ) -> Result<CreatedTopic, AdminError> {
        let name = topic.name.to_string();
        admin::validate_topic_name(&name)?;
        if self
            .cache
            .snapshot()
            .partition_states
            .keys()
            .any(|tp| tp.topic == name)
        {
            return Err(AdminError::TopicExists(format!(
                "Topic '{name}' already exists."
            )));
        }
        let mut configs = BTreeMap::new();
        for c in &topic.configs {
            match &c.value {
                Some(v) => {
                    configs.insert(c.name.to_string(), v.to_string());
                }
                None => {
                    return Err(AdminError::InvalidConfig(format!(
                        "Null value not supported for topic configs: {}",
                        c.name
                    )))
                }
            }
        }
        if (topic.num_partitions != -1 || topic.replication_factor != -1)
            && !topic.assignments.is_empty()
        {
            return Err(AdminError::InvalidRequest(
                "Both numPartitions or replicationFactor and replicasAssignments were set. \
                 Both cannot be used at the same time."
                    .into(),
            ));
        }
        let assignment = if topic.assignments.is_empty() {
            let partitions = if topic.num_partitions == -1 {
                self.config.get_int("num.partitions").unwrap_or(1)
            } else {
                topic.num_partitions
            };
            let rf = if topic.replication_factor == -1 {
                self.config
                    .get_short("default.replication.factor")
                    .unwrap_or(1)
            } else {
                topic.replication_factor
            };
            admin::assign_replicas(&self.alive_broker_racks(), partitions, rf, None, 0)?
        } else {
            let mut a = BTreeMap::new();
            for r in &topic.assignments {
                a.insert(
                    r.partition_index,
                    r.broker_ids.iter().map(|b| b.0).collect::<Vec<i32>>(),
                );
            }
            let known = self.alive_brokers();
            if let Some(unknown) = a.values().flatten().find(|b| !known.contains(b)) {
                return Err(AdminError::InvalidReplicaAssignment(format!(
                    "Unknown broker(s) in replica assignment: {unknown}."
                )));
            }
            a
        };
        if validate_only {
            admin::validate_topic_create(&self.zk, &name, &assignment, &configs).await?;
            return Ok(CreatedTopic {
                topic_id: None,
                assignment,
                configs,
            });
        }
        let id =
            admin::create_topic_with_assignment(&self.zk, &name, &configs, &assignment).await?;
        info!(topic = %name, partitions = assignment.len(), topic_id = %crate::zk::zk_data::encode_topic_id(&id), "topic created");
        Ok(CreatedTopic {
            topic_id: Some(id),
            assignment,
            configs,
        })
    }

    /// Metadata auto-creation (`AutoTopicCreationManager.createTopics` → `createTopicsInZk`
    /// with timeout 0): an internal topic with its own settings (`internal_topic_creatable`:
    /// `offsets.topic.*` and the compacted configs, or `transaction.state.log.*`), any other
    /// with `num.partitions` and `default.replication.factor`; success or "already exists" →
    /// LEADER_NOT_AVAILABLE, other failures as is (fewer live brokers than the replication
    /// factor → INVALID_REPLICATION_FACTOR, internal topics included, as in Kafka).
    pub async fn auto_create(&self, name: &str) -> ResponseError {
        let topic = if crate::cluster::is_internal_topic(name) {
            crate::server::apis::find_coordinator::internal_topic_creatable(&self.config, name)
        } else {
            CreatableTopic::default()
                .with_name(kafka_protocol::messages::TopicName(
                    kafka_protocol::protocol::StrBytes::from_string(name.to_string()),
                ))
                .with_num_partitions(-1)
                .with_replication_factor(-1)
        };
        match self.create_topic(&topic, false).await {
            Ok(_) => ResponseError::LeaderNotAvailable,
            Err(AdminError::TopicExists(_)) => ResponseError::LeaderNotAvailable,
            Err(e) => {
                info!(topic = name, error = %e, "auto topic creation failed");
                admin_error(&e).0
            }
        }
    }

    /// Waits (bounded by `timeout`) until every partition of `name` is in the local cache
    /// with a leader (the topic purgatory's completion condition).
    pub async fn wait_for_partitions(
        &self,
        name: &str,
        partitions: usize,
        timeout: Duration,
    ) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let snapshot = self.cache.snapshot();
            let ready = snapshot
                .partition_states
                .iter()
                .filter(|(tp, s)| tp.topic == name && s.leader >= 0)
                .count();
            if ready >= partitions {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// One CreatePartitions entry, checked (and written unless validating): the topic's
/// partition count afterwards.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewPartitions {
    pub total: usize,
}

/// Topic deletion and partition addition (Kafka's `ZkAdminManager.deleteTopics` /
/// `createPartitions`): the admin-path writes, and the waits on the local `MetadataCache`
/// that stand in for `DelayedDeleteTopics` / `DelayedCreatePartitions`.
impl AdminManager {
    /// `delete.topic.enable`.
    pub fn delete_topic_enable(&self) -> bool {
        self.config.get_bool("delete.topic.enable").unwrap_or(true)
    }

    /// Whether the local cache knows the topic (Kafka's `metadataCache.contains(topic)`).
    pub fn cache_contains_topic(&self, name: &str) -> bool {
        self.cache
            .snapshot()
            .partition_states
            .keys()
            .any(|tp| tp.topic == name)
    }

    /// The topic named by `id`: the cache's topic ids first, else the assignments in
    /// ZooKeeper (the controller context's id map in Kafka).
    pub async fn topic_name_for_id(&self, id: Uuid) -> Result<Option<String>, AdminError> {
        let from_cache = self
            .cache
            .snapshot()
            .topic_ids
            .iter()
            .find(|(_, bytes)| **bytes == *id.as_bytes())
            .map(|(name, _)| name.clone());
        match from_cache {
            Some(name) => Ok(Some(name)),
            None => admin::topic_name_for_id(&self.zk, id).await,
        }
    }

    /// Whether `/admin/delete_topics/<t>` exists (the controller's `isTopicQueuedUpForDeletion`
    /// as ZooKeeper shows it).
    pub async fn is_queued_for_deletion(&self, name: &str) -> Result<bool, AdminError> {
        admin::is_topic_marked_for_deletion(&self.zk, name).await
    }

    /// Marks `name` for deletion (`/admin/delete_topics/<t>`); already marked counts as done,
    /// so that repeated requests all wait for the deletion.
    pub async fn delete_topic(&self, name: &str) -> Result<(), AdminError> {
        match admin::delete_topic(&self.zk, name).await {
            Ok(()) => {
                info!(topic = %name, "topic marked for deletion");
                Ok(())
            }
            Err(AdminError::TopicAlreadyMarkedForDeletion(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Waits (bounded by `timeout`) until the local cache no longer has `name`
    /// (`DelayedDeleteTopics`' completion condition).
    pub async fn wait_for_topic_deletion(&self, name: &str, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if !self.cache_contains_topic(name) {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// One CreatePartitions topic (`ZkAdminManager.createPartitions`): the topic must exist
    /// and not be under reassignment; `count` must exceed the current count
    /// (INVALID_PARTITIONS); an explicit `assignments` needs one entry per new partition, of
    /// registered brokers only (INVALID_REPLICA_ASSIGNMENT); the new partitions are placed or
    /// validated by `createNewPartitionsAssignment` and, unless `validate_only`, the full
    /// assignment is written back with the topic id kept.
    pub async fn create_partitions(
        &self,
        name: &str,
        count: i32,
        assignments: Option<&[Vec<i32>]>,
        validate_only: bool,
    ) -> Result<NewPartitions, AdminError> {
        // Kafka's `getBrokerMetadatas()` (RackAwareMode.Enforced): racks on only some
        // registered brokers fail the request before anything else.
        let registered: Vec<admin::BrokerRack> = self
            .zk
            .get_all_brokers(false)
            .await
            .map_err(AdminError::Zk)?
            .into_iter()
            .map(|(id, (info, _))| admin::BrokerRack::new(id, info.rack.as_deref()))
            .collect();
        let registered = admin::broker_metadatas_enforced(registered)?;
        let brokers: Vec<i32> = registered.iter().map(|b| b.id).collect();
        let Some((existing, _)) = admin::get_topic_assignment(&self.zk, name).await? else {
            return Err(AdminError::UnknownTopicOrPartition(format!(
                "The topic '{name}' does not exist."
            )));
        };
        if existing.partitions.is_empty() {
            return Err(AdminError::UnknownTopicOrPartition(format!(
                "The topic '{name}' does not exist."
            )));
        }
        if !existing.adding_replicas.is_empty() || !existing.removing_replicas.is_empty() {
            return Err(AdminError::ReassignmentInProgress(format!(
                "A partition reassignment is in progress for the topic '{name}'."
            )));
        }
        let old = existing.partitions.len() as i32;
        let increment = i64::from(count) - i64::from(old);
        if increment < 0 {
            return Err(AdminError::InvalidPartitions(format!(
                "Topic currently has {old} partitions, which is higher than the requested {count}."
            )));
        }
        if increment == 0 {
            return Err(AdminError::InvalidPartitions(format!(
                "Topic already has {old} partitions."
            )));
        }
        let explicit = match assignments {
            None => None,
            Some(list) => {
                let mut unknown: Vec<i32> = list
                    .iter()
                    .flatten()
                    .copied()
                    .filter(|b| !brokers.contains(b))
                    .collect();
                unknown.sort_unstable();
                unknown.dedup();
                if !unknown.is_empty() {
                    return Err(AdminError::InvalidReplicaAssignment(format!(
                        "Unknown broker(s) in replica assignment: {}.",
                        unknown
                            .iter()
                            .map(i32::to_string)
                            .collect::<Vec<_>>()
                            .join(", ")
                    )));
                }
                if list.len() as i64 != increment {
                    return Err(AdminError::InvalidReplicaAssignment(format!(
                        "Increasing the number of partitions by {increment} but {} assignments provided.",
                        list.len()
                    )));
                }
                Some(
                    list.iter()
                        .enumerate()
                        .map(|(i, r)| (old + i as i32, r.clone()))
                        .collect::<BTreeMap<i32, Vec<i32>>>(),
                )
            }
        };
        let new = admin::create_new_partitions_assignment(
            name,
            &existing.partitions,
            &registered,
            count,
            explicit.as_ref(),
        )?;
        if validate_only {
            return Ok(NewPartitions {
                total: existing.partitions.len() + new.len(),
            });
        }
        let combined =
            admin::create_partitions_with_assignment(&self.zk, name, &existing, &new).await?;
        info!(topic = %name, added = ?new, "creating partitions");
        Ok(NewPartitions {
            total: combined.len(),
        })
    }
}
