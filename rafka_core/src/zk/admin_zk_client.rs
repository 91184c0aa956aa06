//! The admin write path for topics (Kafka's `AdminZkClient` and the non-rack-aware
//! `AdminUtils.assignReplicasToBrokers`): topic name rules, assignment validation, creation
//! (`/config/topics/<t>` then `/brokers/topics/<t>`, assignment v3 with a fresh topic id),
//! deletion requests (`/admin/delete_topics/<t>`) and partition additions (the full
//! assignment rewritten in `/brokers/topics/<t>`, topic id kept). The controller acts on all
//! three from its watches.

use std::collections::{BTreeMap, BTreeSet};

use rand::Rng;
use uuid::Uuid;

use super::kafka_zk_client::{KafkaZkClient, KafkaZkError};
use super::zk_data::{self as data, ConfigType, EntityConfigZNode, TopicAssignmentZNode};
use super::zookeeper_client::CreateMode;

/// Kafka's `Topic.MAX_NAME_LENGTH`.
pub const MAX_TOPIC_NAME_LENGTH: usize = 249;

/// Why a topic cannot be created (each maps to one Kafka error code).
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("{0}")]
    InvalidTopic(String),
    #[error("{0}")]
    TopicExists(String),
    #[error("{0}")]
    InvalidPartitions(String),
    #[error("{0}")]
    InvalidReplicationFactor(String),
    #[error("{0}")]
    InvalidReplicaAssignment(String),
    #[error("{0}")]
    InvalidConfig(String),
    #[error("{0}")]
    InvalidRequest(String),
    #[error("{0}")]
    UnknownTopicOrPartition(String),
    /// `/admin/delete_topics/<t>` already exists (Kafka's
    /// `TopicAlreadyMarkedForDeletionException`; DeleteTopics treats it as success).
    #[error("{0}")]
    TopicAlreadyMarkedForDeletion(String),
    #[error("{0}")]
    ReassignmentInProgress(String),
    #[error("{0}")]
    BrokerNotAvailable(String),
    #[error(transparent)]
    Zk(#[from] KafkaZkError),
}

/// Kafka's `Topic.validate`: non-empty, not `.`/`..`, ≤ 249 chars, only `[a-zA-Z0-9._-]`.
pub fn validate_topic_name(name: &str) -> Result<(), AdminError> {
    if name.is_empty() {
        return Err(AdminError::InvalidTopic(
            "Topic name is illegal, it can't be empty".into(),
        ));
    }
    if name == "." || name == ".." {
        return Err(AdminError::InvalidTopic(
            "Topic name cannot be \".\" or \"..\"".into(),
        ));
    }
    if name.len() > MAX_TOPIC_NAME_LENGTH {
        return Err(AdminError::InvalidTopic(format!(
            "Topic name is illegal, it can't be longer than {MAX_TOPIC_NAME_LENGTH} characters, topic name: {name}"
        )));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-')
    {
        return Err(AdminError::InvalidTopic(format!(
            "Topic name \"{name}\" is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'"
        )));
    }
    Ok(())
}

/// Kafka's `Topic.hasCollisionChars` / `unifyCollisionChars`.
fn unify_collision_chars(name: &str) -> String {
    name.replace('.', "_")
}

/// Non-rack-aware `AdminUtils.assignReplicasToBrokers` with a random start index and shift
/// (`start` = `(start_index, next_replica_shift)` for deterministic tests).
pub fn assign_replicas_to_brokers(
    brokers: &[i32],
    partitions: i32,
    replication_factor: i16,
    start: Option<(usize, usize)>,
) -> Result<BTreeMap<i32, Vec<i32>>, AdminError> {
    assign_replicas_from(brokers, partitions, replication_factor, start, 0)
}

/// `assignReplicasToBrokers` for partitions `start_partition_id..start_partition_id +
/// partitions` (Kafka's `startPartitionId`, used when partitions are added).
pub fn assign_replicas_from(
    brokers: &[i32],
    partitions: i32,
    replication_factor: i16,
    start: Option<(usize, usize)>,
    start_partition_id: i32,
) -> Result<BTreeMap<i32, Vec<i32>>, AdminError> {
    if partitions <= 0 {
        return Err(AdminError::InvalidPartitions(
            "Number of partitions must be larger than 0.".into(),
        ));
    }
    if replication_factor <= 0 {
        return Err(AdminError::InvalidReplicationFactor(
            "Replication factor must be larger than 0.".into(),
        ));
    }
    let n = brokers.len();
    if replication_factor as usize > n {
        return Err(AdminError::InvalidReplicationFactor(format!(
            "Replication factor: {replication_factor} larger than available brokers: {n}."
        )));
    }
    let mut sorted = brokers.to_vec();
    sorted.sort_unstable();
    let (start_index, mut shift) = start.unwrap_or_else(|| {
        let mut rng = rand::thread_rng();
        (rng.gen_range(0..n), rng.gen_range(0..n))
    });
    let mut out = BTreeMap::new();
    let first_id = start_partition_id.max(0);
    for p in first_id..first_id.saturating_add(partitions) {
        let current = p as usize;
        if current > 0 && current.is_multiple_of(n) {
            shift += 1;
        }
        let first = (current + start_index) % n;
        let mut replicas = vec![sorted[first]];
        for j in 0..(replication_factor as usize - 1) {
            let s = 1 + (shift + j) % (n - 1);
            replicas.push(sorted[(first + s) % n]);
        }
        out.insert(p, replicas);
    }
    Ok(out)
}

/// Kafka's `validateTopicCreate`: name, collisions with existing topics, assignment shape
/// (partitions 0..n, same replication factor, no duplicate replicas).
pub async fn validate_topic_create(
    zk: &KafkaZkClient,
    topic: &str,
    assignment: &BTreeMap<i32, Vec<i32>>,
    config: &BTreeMap<String, String>,
) -> Result<(), AdminError> {
    validate_topic_name(topic)?;
    if is_topic_marked_for_deletion(zk, topic).await? {
        return Err(AdminError::TopicExists(format!(
            "Topic '{topic}' is marked for deletion."
        )));
    }
    let existing = match zk.zk().get_children(data::BROKER_TOPICS_PATH, false).await {
        Ok(c) => c,
        Err(e) if e.is_no_node() => Vec::new(),
        Err(e) => return Err(AdminError::Zk(e.into())),
    };
    if existing.iter().any(|t| t == topic) {
        return Err(AdminError::TopicExists(format!(
            "Topic '{topic}' already exists."
        )));
    }
    let unified = unify_collision_chars(topic);
    if let Some(other) = existing
        .iter()
        .find(|t| unify_collision_chars(t) == unified)
    {
        return Err(AdminError::InvalidTopic(format!(
            "Topic '{topic}' collides with existing topic: {other}"
        )));
    }
    validate_assignment(assignment)?;
    crate::config::LogConfig::validate_overrides(config)
        .map_err(|e| AdminError::InvalidConfig(e.to_string()))?;
    Ok(())
}

/// The assignment checks of `validateTopicCreate`.
pub fn validate_assignment(assignment: &BTreeMap<i32, Vec<i32>>) -> Result<(), AdminError> {
    if assignment.is_empty() {
        return Err(AdminError::InvalidReplicaAssignment(
            "Assignment is empty".into(),
        ));
    }
    if assignment.values().any(|r| r.is_empty()) {
        return Err(AdminError::InvalidReplicaAssignment(
            "Replication factor must be larger than 0.".into(),
        ));
    }
    if assignment
        .values()
        .any(|r| r.iter().collect::<BTreeSet<_>>().len() != r.len())
    {
        return Err(AdminError::InvalidReplicaAssignment(
            "Duplicate replica assignment found".into(),
        ));
    }
    let rf: BTreeSet<usize> = assignment.values().map(Vec::len).collect();
    if rf.len() > 1 {
        return Err(AdminError::InvalidReplicaAssignment(
            "All partitions should have the same number of replicas".into(),
        ));
    }
    let n = assignment.len() as i32;
    if assignment.keys().copied().ne(0..n) {
        return Err(AdminError::InvalidReplicaAssignment(
            "partitions should be a consecutive 0-based integer sequence".into(),
        ));
    }
    Ok(())
}

/// Kafka's `createTopicWithAssignment` after validation: `/config/topics/<t>` (set or
/// create, no change notification) then `/brokers/topics/<t>` with a new topic id. Returns
/// the topic id.
pub async fn create_topic_with_assignment(
    zk: &KafkaZkClient,
    topic: &str,
    config: &BTreeMap<String, String>,
    assignment: &BTreeMap<i32, Vec<i32>>,
) -> Result<Uuid, AdminError> {
    validate_topic_create(zk, topic, assignment, config).await?;
    let config_path = data::config_entity_path(ConfigType::Topic, topic);
    let payload = EntityConfigZNode {
        config: config.clone(),
    }
    .encode();
    match zk.zk().set_data(&config_path, payload.clone(), None).await {
        Ok(_) => {}
        Err(e) if e.is_no_node() => {
            zk.zk()
                .create_recursive(&data::config_entity_type_path(ConfigType::Topic))
                .await
                .map_err(KafkaZkError::from)?;
            match zk
                .zk()
                .create(&config_path, payload, CreateMode::Persistent)
                .await
            {
                Ok(_) => {}
                Err(e) if e.is_node_exists() => {}
                Err(e) => return Err(AdminError::Zk(e.into())),
            }
        }
        Err(e) => return Err(AdminError::Zk(e.into())),
    }
    let topic_id = Uuid::new_v4();
    let znode = TopicAssignmentZNode {
        partitions: assignment.clone(),
        topic_id: Some(topic_id),
        ..TopicAssignmentZNode::default()
    };
    zk.zk()
        .create_recursive(data::BROKER_TOPICS_PATH)
        .await
        .map_err(KafkaZkError::from)?;
    match zk
        .zk()
        .create(
            &data::topic_path(topic),
            znode.encode(),
            CreateMode::Persistent,
        )
        .await
    {
        Ok(_) => Ok(topic_id),
        Err(e) if e.is_node_exists() => Err(AdminError::TopicExists(format!(
            "Topic '{topic}' already exists."
        ))),
        Err(e) => Err(AdminError::Zk(e.into())),
    }
}

/// Whether `/admin/delete_topics/<t>` exists (Kafka's `isTopicMarkedForDeletion`).
pub async fn is_topic_marked_for_deletion(
    zk: &KafkaZkClient,
    topic: &str,
) -> Result<bool, AdminError> {
    Ok(zk
        .zk()
        .exists(&data::delete_topic_path(topic), false)
        .await
        .map_err(KafkaZkError::from)?
        .is_some())
}

/// Kafka's `AdminZkClient.deleteTopic`: the topic must exist in `/brokers/topics`; then
/// `/admin/delete_topics/<t>` is created (persistent, no data) for the controller's
/// `TopicDeletionManager`. Already marked → [`AdminError::TopicAlreadyMarkedForDeletion`].
pub async fn delete_topic(zk: &KafkaZkClient, topic: &str) -> Result<(), AdminError> {
    let exists = zk
        .zk()
        .exists(&data::topic_path(topic), false)
        .await
        .map_err(KafkaZkError::from)?
        .is_some();
    if !exists {
        return Err(AdminError::UnknownTopicOrPartition(format!(
            "Topic `{topic}` to delete does not exist"
        )));
    }
    zk.zk()
        .create_recursive(data::DELETE_TOPICS_PATH)
        .await
        .map_err(KafkaZkError::from)?;
    match zk
        .zk()
        .create(
            &data::delete_topic_path(topic),
            Vec::new(),
            CreateMode::Persistent,
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if e.is_node_exists() => Err(AdminError::TopicAlreadyMarkedForDeletion(format!(
            "topic {topic} is already marked for deletion"
        ))),
        Err(e) => Err(AdminError::Zk(e.into())),
    }
}

/// `/brokers/topics/<t>` decoded with its data version; `None` when the topic does not exist.
pub async fn get_topic_assignment(
    zk: &KafkaZkClient,
    topic: &str,
) -> Result<Option<(TopicAssignmentZNode, i32)>, AdminError> {
    let path = data::topic_path(topic);
    match zk
        .zk()
        .get_data_opt(&path, false)
        .await
        .map_err(KafkaZkError::from)?
    {
        None => Ok(None),
        Some((bytes, stat)) => TopicAssignmentZNode::decode(&bytes)
            .map(|a| Some((a, stat.version)))
            .map_err(|e| AdminError::Zk(KafkaZkError::bad_data(&path, e))),
    }
}

/// The topic whose `/brokers/topics/<t>` carries `topic_id` (Kafka's controller-context
/// `topicName(topicId)`, read from ZooKeeper); `None` when no topic has it.
pub async fn topic_name_for_id(
    zk: &KafkaZkClient,
    topic_id: Uuid,
) -> Result<Option<String>, AdminError> {
    let topics = match zk.zk().get_children(data::BROKER_TOPICS_PATH, false).await {
        Ok(c) => c,
        Err(e) if e.is_no_node() => return Ok(None),
        Err(e) => return Err(AdminError::Zk(e.into())),
    };
    for topic in topics {
        // An unreadable assignment cannot carry the id; skip it rather than fail the lookup.
        if let Ok(Some((a, _))) = get_topic_assignment(zk, &topic).await {
            if a.topic_id == Some(topic_id) {
                return Ok(Some(topic));
            }
        }
    }
    Ok(None)
}

/// Kafka's `validateReplicaAssignment` for explicitly assigned new partitions: non-empty,
/// no duplicate brokers, only available brokers, the existing replication factor.
pub fn validate_replica_assignment(
    assignment: &BTreeMap<i32, Vec<i32>>,
    expected_replication_factor: usize,
    available_brokers: &BTreeSet<i32>,
) -> Result<(), AdminError> {
    for (p, replicas) in assignment {
        if replicas.is_empty() {
            return Err(AdminError::InvalidReplicaAssignment(format!(
                "Cannot have replication factor of 0 for partition id {p}."
            )));
        }
        if replicas.iter().collect::<BTreeSet<_>>().len() != replicas.len() {
            return Err(AdminError::InvalidReplicaAssignment(format!(
                "Duplicate brokers not allowed in replica assignment: {} for partition id {p}.",
                join(replicas)
            )));
        }
        if !replicas.iter().all(|b| available_brokers.contains(b)) {
            return Err(AdminError::BrokerNotAvailable(format!(
                "Some brokers specified for partition id {p} are not available. Specified brokers: {}, available brokers: {}.",
                join(replicas),
                join(&available_brokers.iter().copied().collect::<Vec<_>>())
            )));
        }
        if replicas.len() != expected_replication_factor {
            return Err(AdminError::InvalidReplicaAssignment(format!(
                "Inconsistent replication factor between partitions, partition 0 has {expected_replication_factor} while partition {p} has {} replicas.",
                replicas.len()
            )));
        }
    }
    Ok(())
}

fn join(ids: &[i32]) -> String {
    ids.iter()
        .map(i32::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Kafka's `AdminZkClient.createNewPartitionsAssignment`: the assignment of partitions
/// `existing.len()..num_partitions`, either `explicit` (validated) or placed like
/// `assignReplicasToBrokers` starting at the first broker whose id is at least partition 0's
/// preferred leader, with partition 0's replication factor. `brokers` are the registered
/// brokers.
pub fn create_new_partitions_assignment(
    topic: &str,
    existing: &BTreeMap<i32, Vec<i32>>,
    brokers: &[i32],
    num_partitions: i32,
    explicit: Option<&BTreeMap<i32, Vec<i32>>>,
) -> Result<BTreeMap<i32, Vec<i32>>, AdminError> {
    let Some(partition0) = existing.get(&0).filter(|r| !r.is_empty()) else {
        return Err(AdminError::InvalidReplicaAssignment(format!(
            "Unexpected existing replica assignment for topic '{topic}', partition id 0 is missing."
        )));
    };
    let current = existing.len() as i32;
    let to_add = num_partitions - current;
    if to_add <= 0 {
        return Err(AdminError::InvalidPartitions(format!(
            "The number of partitions for a topic can only be increased. Topic {topic} currently has {current} partitions, {num_partitions} would not be an increase."
        )));
    }
    let mut sorted = brokers.to_vec();
    sorted.sort_unstable();
    if let Some(explicit) = explicit {
        let available: BTreeSet<i32> = sorted.iter().copied().collect();
        validate_replica_assignment(explicit, partition0.len(), &available)?;
        return Ok(explicit.clone());
    }
    let start_index = sorted.iter().position(|b| *b >= partition0[0]).unwrap_or(0);
    assign_replicas_from(
        &sorted,
        to_add,
        i16::try_from(partition0.len()).unwrap_or(i16::MAX),
        Some((start_index, start_index)),
        current,
    )
}

/// Kafka's `createPartitionsWithAssignment` → `writeTopicPartitionAssignment(isUpdate)`: the
/// existing assignment plus the new partitions written to `/brokers/topics/<t>` with the
/// topic's id kept. Returns the combined assignment.
pub async fn create_partitions_with_assignment(
    zk: &KafkaZkClient,
    topic: &str,
    existing: &TopicAssignmentZNode,
    new_partitions: &BTreeMap<i32, Vec<i32>>,
) -> Result<BTreeMap<i32, Vec<i32>>, AdminError> {
    let mut znode = existing.clone();
    znode
        .partitions
        .extend(new_partitions.iter().map(|(p, r)| (*p, r.clone())));
    match zk
        .zk()
        .set_data(&data::topic_path(topic), znode.encode(), None)
        .await
    {
        Ok(_) => Ok(znode.partitions),
        Err(e) if e.is_no_node() => Err(AdminError::UnknownTopicOrPartition(format!(
            "The topic '{topic}' does not exist."
        ))),
        Err(e) => Err(AdminError::Zk(e.into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names() {
        assert!(validate_topic_name("a.b_c-1").is_ok());
        assert!(validate_topic_name(&"x".repeat(249)).is_ok());
        for bad in ["", ".", "..", "a b", "a/b", "ü"] {
            assert!(validate_topic_name(bad).is_err(), "{bad:?}");
        }
        assert!(validate_topic_name(&"x".repeat(250)).is_err());
    }

    #[test]
    fn kafka_placement() {
        // Kafka's AdminUtils doc example: 5 brokers, 10 partitions, RF 3, start 0, shift 0.
        let a = assign_replicas_to_brokers(&[0, 1, 2, 3, 4], 10, 3, Some((0, 0))).unwrap();
        assert_eq!(a[&0], vec![0, 1, 2]);
        assert_eq!(a[&1], vec![1, 2, 3]);
        assert_eq!(a[&4], vec![4, 0, 1]);
        assert_eq!(a[&5], vec![0, 2, 3]);
        assert_eq!(a[&9], vec![4, 1, 2]);
        assert!(matches!(
            assign_replicas_to_brokers(&[1], 1, 2, None),
            Err(AdminError::InvalidReplicationFactor(_))
        ));
        let one = assign_replicas_to_brokers(&[7], 3, 1, None).unwrap();
        assert_eq!(one.values().cloned().collect::<Vec<_>>(), vec![vec![7]; 3]);
        // Partitions added later continue the same pattern (startPartitionId).
        let more = assign_replicas_from(&[0, 1, 2, 3, 4], 5, 3, Some((0, 0)), 5).unwrap();
        assert_eq!(
            more.keys().copied().collect::<Vec<_>>(),
            vec![5, 6, 7, 8, 9]
        );
        assert_eq!(more[&5], a[&5]);
        assert_eq!(more[&9], a[&9]);
    }

    #[test]
    fn new_partitions_assignment() {
        let existing: BTreeMap<i32, Vec<i32>> = [(0, vec![2, 3]), (1, vec![3, 1])].into();
        // Placement starts at the first broker ≥ partition 0's leader (2 → index 1).
        let a = create_new_partitions_assignment("t", &existing, &[3, 1, 2], 4, None).unwrap();
        assert_eq!(a.keys().copied().collect::<Vec<_>>(), vec![2, 3]);
        assert!(a.values().all(|r| r.len() == 2));
        // Kafka: startIndex 1 (broker 2), partition 2 → first replica index (2 + 1) % 3 = 0.
        assert_eq!(a[&2][0], 1);
        assert!(matches!(
            create_new_partitions_assignment("t", &existing, &[1, 2, 3], 2, None),
            Err(AdminError::InvalidPartitions(_))
        ));
        let explicit: BTreeMap<i32, Vec<i32>> = [(2, vec![1, 2])].into();
        assert_eq!(
            create_new_partitions_assignment("t", &existing, &[1, 2, 3], 3, Some(&explicit))
                .unwrap(),
            explicit
        );
        let wrong_rf: BTreeMap<i32, Vec<i32>> = [(2, vec![1])].into();
        assert!(matches!(
            create_new_partitions_assignment("t", &existing, &[1, 2, 3], 3, Some(&wrong_rf)),
            Err(AdminError::InvalidReplicaAssignment(_))
        ));
        let dup: BTreeMap<i32, Vec<i32>> = [(2, vec![1, 1])].into();
        assert!(matches!(
            create_new_partitions_assignment("t", &existing, &[1, 2, 3], 3, Some(&dup)),
            Err(AdminError::InvalidReplicaAssignment(_))
        ));
        let unknown: BTreeMap<i32, Vec<i32>> = [(2, vec![1, 9])].into();
        assert!(matches!(
            create_new_partitions_assignment("t", &existing, &[1, 2, 3], 3, Some(&unknown)),
            Err(AdminError::BrokerNotAvailable(_))
        ));
    }

    #[test]
    fn assignment_shape() {
        let ok: BTreeMap<i32, Vec<i32>> = [(0, vec![1, 2]), (1, vec![2, 1])].into();
        assert!(validate_assignment(&ok).is_ok());
        let dup: BTreeMap<i32, Vec<i32>> = [(0, vec![1, 1])].into();
        assert!(validate_assignment(&dup).is_err());
        let gap: BTreeMap<i32, Vec<i32>> = [(0, vec![1]), (2, vec![1])].into();
        assert!(validate_assignment(&gap).is_err());
        let uneven: BTreeMap<i32, Vec<i32>> = [(0, vec![1]), (1, vec![1, 2])].into();
        assert!(validate_assignment(&uneven).is_err());
    }
}
