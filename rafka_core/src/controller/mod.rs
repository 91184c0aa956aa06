//! The ZooKeeper-mode controller (Kafka's `kafka.controller` package).

pub mod controller_channel_manager;
pub mod kafka_controller;

pub use kafka_controller::{ControllerEvent, KafkaController};
