//! The ZooKeeper-mode controller (Kafka's `kafka.controller` package).

pub mod kafka_controller;

pub use kafka_controller::{ControllerEvent, KafkaController};
