//! The admin write path for topics (Kafka's `AdminZkClient.createTopicWithAssignment` and the
//! non-rack-aware `AdminUtils.assignReplicasToBrokers`): topic name rules, assignment
//! validation, `/config/topics/<t>` then `/brokers/topics/<t>` (assignment v3 with a fresh
//! topic id). The controller picks the new topic up from its `/brokers/topics` watch.

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
    for (current, p) in (0..partitions).enumerate() {
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
