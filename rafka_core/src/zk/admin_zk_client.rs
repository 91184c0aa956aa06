//! The admin write path for topics (Kafka's `AdminZkClient` and `AdminUtils`' replica
//! placement, rack-unaware and rack-aware): topic name rules, assignment validation, creation
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
    /// Kafka's `AdminOperationException` (e.g. `broker.rack` set on only some brokers). It is
    /// not an API exception, so Kafka answers UNKNOWN_SERVER_ERROR for it.
    #[error("{0}")]
    AdminOperation(String),
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

/// A broker as replica placement sees it (Kafka's `admin.BrokerMetadata`): its id and its
/// `broker.rack`, if any.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokerRack {
    pub id: i32,
    pub rack: Option<String>,
}

impl BrokerRack {
    pub fn new(id: i32, rack: Option<&str>) -> BrokerRack {
        BrokerRack {
            id,
            rack: rack.map(str::to_string),
        }
    }
}

/// What `AdminUtils.assignReplicasToBrokers` raises when some brokers have a rack and
/// others do not (CreateTopics).
pub const MIXED_RACKS_MESSAGE: &str =
    "Not all brokers have rack information for replica rack aware assignment.";

/// What `AdminZkClient.getBrokerMetadatas` raises in `RackAwareMode.Enforced` for the same
/// situation (CreatePartitions reads the registered brokers through it).
pub const MIXED_RACKS_ENFORCED_MESSAGE: &str = "Not all brokers have rack information. Add \
     --disable-rack-aware in command line to make replica assignment without rack information.";

/// Kafka's `AdminUtils.assignReplicasToBrokers`: after the count checks, placement ignores
/// racks when no broker has one, is rack-aware when every broker has one, and fails with
/// [`AdminError::AdminOperation`] when only some have one. `start` = `(start_index,
/// next_replica_shift)`; `None` draws both at random (Kafka's `fixedStartIndex` = -1; a fixed
/// index sets both). Partitions are numbered from `start_partition_id`.
pub fn assign_replicas(
    brokers: &[BrokerRack],
    partitions: i32,
    replication_factor: i16,
    start: Option<(usize, usize)>,
    start_partition_id: i32,
) -> Result<BTreeMap<i32, Vec<i32>>, AdminError> {
    check_counts(brokers.len(), partitions, replication_factor)?;
    if brokers.iter().all(|b| b.rack.is_none()) {
        let ids: Vec<i32> = brokers.iter().map(|b| b.id).collect();
        return assign_replicas_from(
            &ids,
            partitions,
            replication_factor,
            start,
            start_partition_id,
        );
    }
    if brokers.iter().any(|b| b.rack.is_none()) {
        return Err(AdminError::AdminOperation(MIXED_RACKS_MESSAGE.into()));
    }
    let racks: BTreeMap<i32, String> = brokers
        .iter()
        .filter_map(|b| b.rack.clone().map(|r| (b.id, r)))
        .collect();
    assign_replicas_rack_aware(
        &racks,
        partitions,
        replication_factor,
        start,
        start_partition_id,
    )
}

/// Kafka's `getBrokerMetadatas(RackAwareMode.Enforced)`: the brokers by id, refused when
/// only some of them have a rack.
pub fn broker_metadatas_enforced(
    mut brokers: Vec<BrokerRack>,
) -> Result<Vec<BrokerRack>, AdminError> {
    let with_rack = brokers.iter().filter(|b| b.rack.is_some()).count();
    if with_rack > 0 && with_rack < brokers.len() {
        return Err(AdminError::AdminOperation(
            MIXED_RACKS_ENFORCED_MESSAGE.into(),
        ));
    }
    brokers.sort_by_key(|b| b.id);
    Ok(brokers)
}

/// The count checks every placement starts with, in Kafka's order.
fn check_counts(
    brokers: usize,
    partitions: i32,
    replication_factor: i16,
) -> Result<(), AdminError> {
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
    if replication_factor as usize > brokers {
        return Err(AdminError::InvalidReplicationFactor(format!(
            "Replication factor: {replication_factor} larger than available brokers: {brokers}."
        )));
    }
    Ok(())
}

/// The start index and replica shift: the fixed pair, or two independent draws in `0..n`.
fn start_and_shift(start: Option<(usize, usize)>, n: usize) -> (usize, usize) {
    start.unwrap_or_else(|| {
        let mut rng = rand::thread_rng();
        (rng.gen_range(0..n), rng.gen_range(0..n))
    })
}

/// Kafka's `replicaIndex`: the position of a follower candidate, `1 + (shift + j) mod (n-1)`
/// places after the first replica, so it never lands on the first replica itself (n ≥ 2).
fn replica_index(first: usize, shift: usize, j: usize, n: usize) -> usize {
    (first + 1 + (shift + j) % (n - 1)) % n
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

/// Kafka's `assignReplicasToBrokersRackUnaware` for partitions `start_partition_id..
/// start_partition_id + partitions` (Kafka's `startPartitionId`, used when partitions are
/// added): leaders round-robin over the brokers sorted by id, followers at an increasing
/// shift that grows by one after every full round of leaders.
pub fn assign_replicas_from(
    brokers: &[i32],
    partitions: i32,
    replication_factor: i16,
    start: Option<(usize, usize)>,
    start_partition_id: i32,
) -> Result<BTreeMap<i32, Vec<i32>>, AdminError> {
    check_counts(brokers.len(), partitions, replication_factor)?;
    let n = brokers.len();
    let mut sorted = brokers.to_vec();
    sorted.sort_unstable();
    let (start_index, mut shift) = start_and_shift(start, n);
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
            replicas.push(sorted[replica_index(first, shift, j, n)]);
        }
        out.insert(p, replicas);
    }
    Ok(out)
}

/// Kafka's `getRackAlternatedBrokerList`: the racks in (Java string) order, each with its
/// brokers by id, read one broker per rack per round; e.g. rack1 {0, 5}, rack2 {3, 4},
/// rack3 {1, 2} → 0, 3, 1, 5, 4, 2.
pub fn rack_alternated_broker_list(racks: &BTreeMap<i32, String>) -> Vec<i32> {
    let mut by_rack: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    // BTreeMap iteration is by id, so each rack's list comes out sorted.
    for (id, rack) in racks {
        by_rack.entry(rack.as_str()).or_default().push(*id);
    }
    let mut groups: Vec<(&str, Vec<i32>)> = by_rack.into_iter().collect();
    // Java sorts strings by UTF-16 code units; that differs from Rust's order only for
    // characters above U+FFFF, but follow it exactly.
    groups.sort_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
    let rounds = groups.iter().map(|(_, ids)| ids.len()).max().unwrap_or(0);
    let mut out = Vec::with_capacity(racks.len());
    for round in 0..rounds {
        out.extend(groups.iter().filter_map(|(_, ids)| ids.get(round).copied()));
    }
    out
}

/// Kafka's `assignReplicasToBrokersRackAware` over `racks` (broker → rack, every broker has
/// one). Leaders go round-robin over [`rack_alternated_broker_list`]; followers walk the same
/// list from the leader with Kafka's shift (multiplied by the number of racks) and skip a
/// candidate whose rack already holds a replica while some rack holds none, or that already
/// holds one. So a partition spans min(replication factor, racks) racks.
pub fn assign_replicas_rack_aware(
    racks: &BTreeMap<i32, String>,
    partitions: i32,
    replication_factor: i16,
    start: Option<(usize, usize)>,
    start_partition_id: i32,
) -> Result<BTreeMap<i32, Vec<i32>>, AdminError> {
    let arranged = rack_alternated_broker_list(racks);
    let n = arranged.len();
    check_counts(n, partitions, replication_factor)?;
    let rf = replication_factor as usize;
    let num_racks = racks.values().collect::<BTreeSet<_>>().len();
    let (start_index, mut shift) = start_and_shift(start, n);
    let mut out = BTreeMap::new();
    let first_id = start_partition_id.max(0);
    for p in first_id..first_id.saturating_add(partitions) {
        let current = p as usize;
        if current > 0 && current.is_multiple_of(n) {
            shift += 1;
        }
        let first = (current + start_index) % n;
        let leader = arranged[first];
        let mut replicas = vec![leader];
        let mut racks_used: BTreeSet<&str> = BTreeSet::from([racks[&leader].as_str()]);
        // One candidate counter per partition, shared by its followers (as in Kafka). Any
        // n - 1 consecutive candidates are all the other brokers, and one of them is always
        // acceptable while rf ≤ n, so (rf - 1) · (n - 1) candidates always suffice.
        let mut k = 0usize;
        while replicas.len() < rf {
            if k >= rf * n {
                return Err(AdminError::AdminOperation(format!(
                    "Could not place {rf} replicas of partition {p} on {n} brokers in {num_racks} racks."
                )));
            }
            let broker = arranged[replica_index(first, shift * num_racks, k, n)];
            let rack = racks[&broker].as_str();
            // Every broker holds a replica only once replicas.len() == n, which the loop
            // condition rules out; so a broker is taken only if it holds none yet.
            let rack_ok = !racks_used.contains(rack) || racks_used.len() == num_racks;
            if rack_ok && !replicas.contains(&broker) {
                replicas.push(broker);
                racks_used.insert(rack);
            }
            k += 1;
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
/// `existing.len()..num_partitions`, either `explicit` (validated) or placed by
/// [`assign_replicas`] (rack-aware when the brokers have racks) with partition 0's
/// replication factor. Kafka's fixed start index (used as start and shift) is the position,
/// in the id-sorted broker list, of the first broker whose id is at least partition 0's
/// preferred leader; the rack-aware placement applies that same number to its rack-alternated
/// list, as Kafka does. `brokers` are the registered brokers
/// ([`broker_metadatas_enforced`]).
pub fn create_new_partitions_assignment(
    topic: &str,
    existing: &BTreeMap<i32, Vec<i32>>,
    brokers: &[BrokerRack],
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
    sorted.sort_by_key(|b| b.id);
    if let Some(explicit) = explicit {
        let available: BTreeSet<i32> = sorted.iter().map(|b| b.id).collect();
        validate_replica_assignment(explicit, partition0.len(), &available)?;
        return Ok(explicit.clone());
    }
    let start_index = sorted
        .iter()
        .position(|b| b.id >= partition0[0])
        .unwrap_or(0);
    assign_replicas(
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

    fn no_racks(ids: &[i32]) -> Vec<BrokerRack> {
        ids.iter().map(|id| BrokerRack::new(*id, None)).collect()
    }

    fn rack_map(pairs: &[(i32, &str)]) -> BTreeMap<i32, String> {
        pairs.iter().map(|(id, r)| (*id, r.to_string())).collect()
    }

    fn with_racks(racks: &BTreeMap<i32, String>) -> Vec<BrokerRack> {
        racks
            .iter()
            .map(|(id, r)| BrokerRack::new(*id, Some(r)))
            .collect()
    }

    /// Which distribution properties to check (Kafka's `RackAwareTest.checkReplicaDistribution`).
    struct Expect {
        rack_aware: bool,
        even_leaders: bool,
        even_replicas: bool,
    }

    const ALL: Expect = Expect {
        rack_aware: true,
        even_leaders: true,
        even_replicas: true,
    };

    /// No broker twice in a partition; optionally every partition on `rf` distinct racks,
    /// every broker leading `partitions / brokers` partitions and holding
    /// `partitions · rf / brokers` replicas.
    fn check_distribution(
        assignment: &BTreeMap<i32, Vec<i32>>,
        racks: &BTreeMap<i32, String>,
        partitions: usize,
        rf: usize,
        expect: &Expect,
        context: &str,
    ) {
        assert_eq!(assignment.len(), partitions, "{context}");
        let mut leaders: BTreeMap<i32, usize> = racks.keys().map(|b| (*b, 0)).collect();
        let mut replicas: BTreeMap<i32, usize> = leaders.clone();
        for (p, r) in assignment {
            assert_eq!(r.len(), rf, "{context}: partition {p}: {r:?}");
            let distinct: BTreeSet<i32> = r.iter().copied().collect();
            assert_eq!(distinct.len(), rf, "{context}: partition {p}: {r:?}");
            if expect.rack_aware {
                let on: BTreeSet<&str> = r.iter().map(|b| racks[b].as_str()).collect();
                assert_eq!(on.len(), rf, "{context}: partition {p} racks {on:?}");
            }
            *leaders.get_mut(&r[0]).unwrap() += 1;
            for b in r {
                *replicas.get_mut(b).unwrap() += 1;
            }
        }
        let n = racks.len();
        if expect.even_leaders {
            assert!(
                leaders.values().all(|c| *c == partitions / n),
                "{context}: leaders {leaders:?}"
            );
        }
        if expect.even_replicas {
            assert!(
                replicas.values().all(|c| *c == partitions * rf / n),
                "{context}: replicas {replicas:?}"
            );
        }
    }

    /// Checks the placement for every fixed (start, shift) pair (Kafka draws them at random)
    /// and once with random ones.
    fn check_all_starts(
        racks: &BTreeMap<i32, String>,
        partitions: i32,
        rf: i16,
        start_partition_id: i32,
        expect: &Expect,
    ) {
        let brokers = with_racks(racks);
        let n = brokers.len();
        let mut starts: Vec<Option<(usize, usize)>> = vec![None];
        for start in 0..n {
            for shift in 0..n {
                starts.push(Some((start, shift)));
            }
        }
        for start in starts {
            let a = assign_replicas(&brokers, partitions, rf, start, start_partition_id).unwrap();
            let first = start_partition_id.max(0);
            assert_eq!(
                a.keys().copied().collect::<Vec<_>>(),
                (first..first + partitions).collect::<Vec<_>>()
            );
            check_distribution(
                &a,
                racks,
                partitions as usize,
                rf as usize,
                expect,
                &format!("start {start:?}"),
            );
        }
    }

    #[test]
    fn rack_alternated_list() {
        let racks = rack_map(&[
            (0, "rack1"),
            (1, "rack3"),
            (2, "rack3"),
            (3, "rack2"),
            (4, "rack2"),
            (5, "rack1"),
        ]);
        assert_eq!(rack_alternated_broker_list(&racks), vec![0, 3, 1, 5, 4, 2]);
        let mut fewer = racks.clone();
        fewer.remove(&5);
        assert_eq!(rack_alternated_broker_list(&fewer), vec![0, 3, 1, 4, 2]);
        let three = rack_map(&[
            (8, "rack3"),
            (0, "rack1"),
            (4, "rack2"),
            (1, "rack1"),
            (3, "rack2"),
            (6, "rack3"),
            (2, "rack1"),
            (5, "rack2"),
            (7, "rack3"),
        ]);
        assert_eq!(
            rack_alternated_broker_list(&three),
            vec![0, 3, 6, 1, 4, 7, 2, 5, 8]
        );
    }

    #[test]
    fn rack_aware_kafka_example() {
        // Kafka's AdminUtils example: fixed start 0, 7 partitions, RF 3; partition 6 starts
        // the second round with shifted followers.
        let racks = rack_map(&[
            (0, "rack1"),
            (1, "rack3"),
            (2, "rack3"),
            (3, "rack2"),
            (4, "rack2"),
            (5, "rack1"),
        ]);
        let a = assign_replicas(&with_racks(&racks), 7, 3, Some((0, 0)), 0).unwrap();
        let expected: BTreeMap<i32, Vec<i32>> = [
            (0, vec![0, 3, 1]),
            (1, vec![3, 1, 5]),
            (2, vec![1, 5, 4]),
            (3, vec![5, 4, 2]),
            (4, vec![4, 2, 0]),
            (5, vec![2, 0, 3]),
            (6, vec![0, 4, 2]),
        ]
        .into();
        assert_eq!(a, expected);
    }

    #[test]
    fn rack_aware_distributions() {
        let even = rack_map(&[
            (0, "rack1"),
            (1, "rack2"),
            (2, "rack2"),
            (3, "rack3"),
            (4, "rack3"),
            (5, "rack1"),
        ]);
        check_all_starts(&even, 6, 3, 0, &ALL);
        check_all_starts(&even, 12, 2, 0, &ALL);
        check_all_starts(&even, 6, 2, 0, &ALL);
        // 13 partitions cannot be even; every partition still spans 3 racks.
        let racks_only = Expect {
            rack_aware: true,
            even_leaders: false,
            even_replicas: false,
        };
        check_all_starts(&even, 13, 3, 0, &racks_only);
        // Uneven racks (3 brokers in rack1): leaders stay even, replicas cannot.
        let uneven = rack_map(&[
            (0, "rack1"),
            (1, "rack1"),
            (2, "rack2"),
            (3, "rack3"),
            (4, "rack3"),
            (5, "rack1"),
        ]);
        let leaders_only = Expect {
            rack_aware: true,
            even_leaders: true,
            even_replicas: false,
        };
        check_all_starts(&uneven, 12, 3, 0, &leaders_only);
        // Added partitions (startPartitionId 12) on brokers 6..11.
        let expansion = rack_map(&[
            (6, "rack1"),
            (7, "rack2"),
            (8, "rack2"),
            (9, "rack3"),
            (10, "rack3"),
            (11, "rack1"),
        ]);
        check_all_starts(&expansion, 12, 2, 12, &ALL);
        let three = rack_map(&[(0, "rack1"), (1, "rack2"), (4, "rack3")]);
        check_all_starts(&three, 3, 2, 0, &ALL);
        let large = rack_map(&[
            (0, "rack1"),
            (1, "rack2"),
            (2, "rack2"),
            (3, "rack3"),
            (4, "rack3"),
            (5, "rack1"),
            (6, "rack1"),
            (7, "rack2"),
            (8, "rack2"),
            (9, "rack3"),
            (10, "rack1"),
            (11, "rack3"),
        ]);
        check_all_starts(&large, 96, 3, 0, &ALL);
    }

    #[test]
    fn rack_aware_more_or_fewer_replicas_than_racks() {
        let racks = rack_map(&[
            (0, "rack1"),
            (1, "rack2"),
            (2, "rack2"),
            (3, "rack3"),
            (4, "rack3"),
            (5, "rack2"),
        ]);
        let racks_of = |r: &Vec<i32>| {
            r.iter()
                .map(|b| racks[b].clone())
                .collect::<BTreeSet<_>>()
                .len()
        };
        // RF 5 over 3 racks: every rack gets a replica.
        let a = assign_replicas(&with_racks(&racks), 6, 5, None, 0).unwrap();
        assert!(
            a.values().all(|r| r.len() == 5 && racks_of(r) == 3),
            "{a:?}"
        );
        // RF 2 over 3 racks: two different racks.
        let a = assign_replicas(&with_racks(&racks), 6, 2, None, 0).unwrap();
        assert!(
            a.values().all(|r| r.len() == 2 && racks_of(r) == 2),
            "{a:?}"
        );
        // One rack: replicas anywhere, leaders still round-robin.
        let single = rack_map(&[
            (0, "rack1"),
            (1, "rack1"),
            (2, "rack1"),
            (3, "rack1"),
            (4, "rack1"),
            (5, "rack1"),
        ]);
        let a = assign_replicas(&with_racks(&single), 6, 3, None, 0).unwrap();
        let leaders: BTreeSet<i32> = a.values().map(|r| r[0]).collect();
        assert_eq!(leaders.len(), 6, "{a:?}");
        // More replicas than racks with a crowded rack: a broker is never used twice.
        let skewed = rack_map(&[(0, "a"), (1, "b"), (2, "c"), (3, "a"), (4, "a")]);
        let no_racks_check = Expect {
            rack_aware: false,
            even_leaders: false,
            even_replicas: false,
        };
        let a = assign_replicas(&with_racks(&skewed), 6, 4, Some((2, 2)), 0).unwrap();
        check_distribution(&a, &skewed, 6, 4, &no_racks_check, "skewed");
        for r in a.values() {
            assert_eq!(racks_of_in(&skewed, r), 3, "{r:?}");
        }
        check_all_starts(&skewed, 6, 4, 0, &no_racks_check);
        check_all_starts(&skewed, 6, 5, 0, &no_racks_check);
    }

    fn racks_of_in(racks: &BTreeMap<i32, String>, r: &[i32]) -> usize {
        r.iter()
            .map(|b| racks[b].as_str())
            .collect::<BTreeSet<_>>()
            .len()
    }

    #[test]
    fn rack_mode_selection() {
        // No racks: the rack-unaware placement (sorted ids).
        let plain = assign_replicas(&no_racks(&[4, 0, 3, 1, 2]), 10, 3, Some((0, 0)), 0).unwrap();
        assert_eq!(
            plain,
            assign_replicas_to_brokers(&[0, 1, 2, 3, 4], 10, 3, Some((0, 0))).unwrap()
        );
        // Some brokers without a rack: Kafka's AdminOperationException.
        let mixed = vec![
            BrokerRack::new(1, Some("r1")),
            BrokerRack::new(2, None),
            BrokerRack::new(3, Some("r2")),
        ];
        match assign_replicas(&mixed, 3, 2, None, 0) {
            Err(AdminError::AdminOperation(m)) => assert_eq!(m, MIXED_RACKS_MESSAGE),
            other => panic!("{other:?}"),
        }
        // The count checks come first, as in Kafka.
        assert!(matches!(
            assign_replicas(&mixed, 3, 4, None, 0),
            Err(AdminError::InvalidReplicationFactor(_))
        ));
        assert!(matches!(
            assign_replicas(&mixed, 0, 1, None, 0),
            Err(AdminError::InvalidPartitions(_))
        ));
        match broker_metadatas_enforced(mixed) {
            Err(AdminError::AdminOperation(m)) => assert_eq!(m, MIXED_RACKS_ENFORCED_MESSAGE),
            other => panic!("{other:?}"),
        }
        let sorted = broker_metadatas_enforced(vec![
            BrokerRack::new(3, Some("r2")),
            BrokerRack::new(1, Some("r1")),
        ])
        .unwrap();
        assert_eq!(sorted.iter().map(|b| b.id).collect::<Vec<_>>(), vec![1, 3]);
        assert_eq!(
            broker_metadatas_enforced(no_racks(&[2, 1])).unwrap(),
            no_racks(&[1, 2])
        );
        // Racks on r1, r1, r2 with RF 2: a rack-unaware placement would pair 1 and 2.
        let racks = rack_map(&[(1, "r1"), (2, "r1"), (3, "r2")]);
        check_all_starts(&racks, 6, 2, 0, &ALL_BUT_EVEN_REPLICAS);
    }

    const ALL_BUT_EVEN_REPLICAS: Expect = Expect {
        rack_aware: true,
        even_leaders: true,
        even_replicas: false,
    };

    #[test]
    fn new_partitions_rack_aware() {
        // Brokers 1, 2 on r1 and 3 on r2; partition 0 led by 3 → fixed start 2 (the index
        // of broker 3 by id), applied to the rack-alternated list [1, 3, 2].
        let brokers = vec![
            BrokerRack::new(2, Some("r1")),
            BrokerRack::new(3, Some("r2")),
            BrokerRack::new(1, Some("r1")),
        ];
        let existing: BTreeMap<i32, Vec<i32>> = [(0, vec![3, 1])].into();
        let a = create_new_partitions_assignment("t", &existing, &brokers, 6, None).unwrap();
        let expected: BTreeMap<i32, Vec<i32>> = [
            (1, vec![1, 3]),
            (2, vec![3, 2]),
            (3, vec![2, 3]),
            (4, vec![1, 3]),
            (5, vec![3, 2]),
        ]
        .into();
        assert_eq!(a, expected);
        let mixed = vec![BrokerRack::new(1, Some("r1")), BrokerRack::new(2, None)];
        assert!(matches!(
            create_new_partitions_assignment("t", &existing, &mixed, 3, None),
            Err(AdminError::AdminOperation(_))
        ));
    }

    #[test]
    fn new_partitions_assignment() {
        let existing: BTreeMap<i32, Vec<i32>> = [(0, vec![2, 3]), (1, vec![3, 1])].into();
        // Placement starts at the first broker ≥ partition 0's leader (2 → index 1).
        let a = create_new_partitions_assignment("t", &existing, &no_racks(&[3, 1, 2]), 4, None)
            .unwrap();
        assert_eq!(a.keys().copied().collect::<Vec<_>>(), vec![2, 3]);
        assert!(a.values().all(|r| r.len() == 2));
        // Kafka: startIndex 1 (broker 2), partition 2 → first replica index (2 + 1) % 3 = 0.
        assert_eq!(a[&2][0], 1);
        assert!(matches!(
            create_new_partitions_assignment("t", &existing, &no_racks(&[1, 2, 3]), 2, None),
            Err(AdminError::InvalidPartitions(_))
        ));
        let explicit: BTreeMap<i32, Vec<i32>> = [(2, vec![1, 2])].into();
        assert_eq!(
            create_new_partitions_assignment(
                "t",
                &existing,
                &no_racks(&[1, 2, 3]),
                3,
                Some(&explicit)
            )
            .unwrap(),
            explicit
        );
        let wrong_rf: BTreeMap<i32, Vec<i32>> = [(2, vec![1])].into();
        assert!(matches!(
            create_new_partitions_assignment(
                "t",
                &existing,
                &no_racks(&[1, 2, 3]),
                3,
                Some(&wrong_rf)
            ),
            Err(AdminError::InvalidReplicaAssignment(_))
        ));
        let dup: BTreeMap<i32, Vec<i32>> = [(2, vec![1, 1])].into();
        assert!(matches!(
            create_new_partitions_assignment("t", &existing, &no_racks(&[1, 2, 3]), 3, Some(&dup)),
            Err(AdminError::InvalidReplicaAssignment(_))
        ));
        let unknown: BTreeMap<i32, Vec<i32>> = [(2, vec![1, 9])].into();
        assert!(matches!(
            create_new_partitions_assignment(
                "t",
                &existing,
                &no_racks(&[1, 2, 3]),
                3,
                Some(&unknown)
            ),
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
