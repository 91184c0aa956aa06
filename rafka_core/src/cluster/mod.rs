//! Cluster-level value types shared by config, ZooKeeper data, the log and the network layer
//! (Kafka's `kafka.cluster` / `common` value types).

mod end_point;
mod topic_partition;

pub use end_point::{EndPoint, EndPointError, SecurityProtocol};
pub use topic_partition::TopicPartition;
