//! The classic group coordinator (Kafka's `kafka.coordinator.group`, ZooKeeper-mode 3.9
//! behaviour): groups are spread over the `__consumer_offsets` partitions (`partitioning`),
//! and the broker leading a partition coordinates its groups. Module map:
//!
//! - `group_metadata` / `member_metadata`: one group's state machine and its members;
//! - `group_coordinator` (+ `group_coordinator_offsets`): the request semantics, as a
//!   synchronous state machine driven with explicit time (unit-tested without I/O);
//! - `group_metadata_manager`: the group cache, partition ownership, loading, records;
//! - `offsets_schema`, `consumer_protocol`: the byte formats; `offsets_decoder`: their JSON
//!   rendering for `rafka dump-log --offsets-decoder`;
//! - `timers`: the delayed operations; `config`: `group.*` / `offsets.*`;
//! - `coordinator_task`: the task owning it all, and the handle the request handlers use.

pub mod config;
pub mod consumer_protocol;
pub mod coordinator_task;
pub mod group_coordinator;
pub mod group_coordinator_offsets;
pub mod group_metadata;
pub mod group_metadata_manager;
pub mod member_metadata;
pub mod offsets_decoder;
pub mod offsets_schema;
pub mod partitioning;
pub mod results;
pub mod timers;

#[cfg(test)]
mod group_coordinator_tests;

pub use config::{GroupConfig, OffsetConfig};
pub use coordinator_task::{offsets_partition_count, start, GroupCoordinatorHandle};
pub use group_coordinator::{GroupApi, GroupCoordinator};
pub use partitioning::partition_for;
