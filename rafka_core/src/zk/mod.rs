//! ZooKeeper access: Kafka's znode formats, the session task and Kafka-level operations.

pub mod admin_zk_client;
pub mod connect_string;
pub mod error;
pub mod kafka_zk_client;
pub mod zk_data;
pub mod zookeeper_client;

pub use connect_string::ZkConnectString;
pub use error::ZkError;
pub use kafka_zk_client::{KafkaZkClient, KafkaZkError};
pub use zookeeper_client::{CreateMode, MultiOp, ZkEvent, ZooKeeperClient};
