//! Partition logs on disk (Kafka's `kafka.log`).
