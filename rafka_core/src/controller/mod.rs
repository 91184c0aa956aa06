//! The ZooKeeper-mode controller (Kafka's `kafka.controller` package).

pub mod alter_partition;
pub mod controlled_shutdown;
pub mod controller_channel_manager;
pub mod election;
pub mod isr_change;
pub mod kafka_controller;
pub mod partition_state_machine;
pub mod preferred_election;
pub mod reassignment;
pub mod replica_state_machine;
pub mod request_batch;
pub mod topic_deletion_manager;

pub use kafka_controller::{ControllerEvent, KafkaController};
