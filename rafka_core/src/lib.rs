//! Rafka broker library: a Kafka ZooKeeper-mode compatible broker.
//!
//! Module map (see `docs/architecture.md`): `config` (server.properties, topic configs,
//! dynamic config), `zk` (znode formats, the session task, Kafka-level operations),
//! `majordomo` (broker state owner), `controller` (election and cluster duties), `coordinator`
//! (consumer groups and committed offsets), `server`
//! (startup/shutdown and the broker's own tasks), `cluster` (shared value types).

pub mod cluster;
pub mod config;
pub mod controller;
pub mod coordinator;
pub mod log;
pub mod majordomo;
pub mod network;
pub mod protocol;
pub mod record;
pub mod server;
pub mod zk;
