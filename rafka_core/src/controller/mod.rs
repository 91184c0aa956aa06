//! The ZooKeeper-mode controller (Kafka's `kafka.controller` package).

pub mod controller_channel_manager;
pub mod kafka_controller;
pub mod topic_deletion_manager;

pub use kafka_controller::{ControllerEvent, KafkaController};
