//! Broker configuration, Kafka-compatible: `server.properties` parsing and validation
//! ([`KafkaConfig`]), the definition table of every broker key ([`def`]), dynamic broker
//! config layers from ZooKeeper ([`KafkaConfig::with_dynamic`]) and per-topic log
//! configuration ([`LogConfig`]).

pub mod def;
pub mod dynamic;
pub mod error;
pub mod kafka_config;
pub mod log_config;
pub mod value;
pub mod version;

pub use def::{ConfigDef, ConfigType, DynamicMode, Validator};
pub use dynamic::{config_synonyms, dynamic_mode, DynamicConfigRejection, DynamicEntity};
pub use error::ConfigError;
pub use kafka_config::{ConfigSource, KafkaConfig, LISTENER_PREFIX};
pub use log_config::{LogConfig, TimestampType, TopicConfigDef};
pub use value::ConfigValue;
pub use version::ProtocolVersion;
