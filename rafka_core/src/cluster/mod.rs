//! Cluster-level value types shared by config, ZooKeeper data and the network layer
//! (Kafka's `kafka.cluster` package).

mod end_point;

pub use end_point::{EndPoint, EndPointError, SecurityProtocol};
