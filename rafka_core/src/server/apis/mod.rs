//! One handler per Kafka API, each in its own file; `KafkaApis` dispatches to them by key.
//! A handler decodes its body from the [`crate::protocol::ParsedRequest`], does the work and
//! returns a [`crate::network::Response`].

pub mod api_versions;
pub mod create_topics;
pub mod leader_and_isr;
pub mod metadata;
pub mod update_metadata;
