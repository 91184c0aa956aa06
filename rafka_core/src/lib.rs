//! Rafka broker library: a Kafka ZooKeeper-mode compatible broker.

pub mod cluster;
pub mod config;
pub mod zk;
