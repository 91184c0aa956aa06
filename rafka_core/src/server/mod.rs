//! The broker server: startup/shutdown sequence, lifecycle state, identity files and dynamic
//! config processing (Kafka's `kafka.server` package).

pub mod admin_manager;
pub mod alter_partition_manager;
pub mod apis;
pub mod broker_state;
pub mod config_admin;
pub mod config_describer;
pub mod controlled_shutdown;
pub mod dynamic_config_manager;
pub mod fetch_session;
pub mod kafka_apis;
pub mod kafka_server;
pub mod meta_properties;
pub mod metadata_cache;
pub mod partition;
pub mod producer_id_manager;
pub mod replica_fetcher;
pub mod replica_manager;

pub use broker_state::BrokerState;
pub use kafka_server::{KafkaServer, StartupError};
