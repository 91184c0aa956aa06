//! Cluster-level value types shared by config, ZooKeeper data, the log and the network layer
//! (Kafka's `kafka.cluster` / `common` value types).

mod end_point;
mod topic_partition;

pub use end_point::{EndPoint, EndPointError, SecurityProtocol};
pub use topic_partition::TopicPartition;

/// The consumer-offsets topic (Kafka's `Topic.GROUP_METADATA_TOPIC_NAME`).
pub const GROUP_METADATA_TOPIC_NAME: &str = "__consumer_offsets";
/// The transaction-log topic (Kafka's `Topic.TRANSACTION_STATE_TOPIC_NAME`).
pub const TRANSACTION_STATE_TOPIC_NAME: &str = "__transaction_state";

/// Kafka's `Topic.isInternal`: topics clients may read but only the broker writes.
pub fn is_internal_topic(topic: &str) -> bool {
    topic == GROUP_METADATA_TOPIC_NAME || topic == TRANSACTION_STATE_TOPIC_NAME
}
