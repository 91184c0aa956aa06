//! Coordinators (Kafka's `kafka.coordinator`): the group coordinator, which runs classic
//! consumer groups and stores their committed offsets in `__consumer_offsets`.

pub mod group;
