//! Kafka's record format (magic v2): zero-copy batch views, record encoding and builders
//! (Kafka's `common/record`).

pub mod batch;
pub mod builder;
pub mod varint;

pub use batch::{BatchError, BatchIter, CompressionType, RecordBatch, TimestampType};
pub use builder::{build_batch, ProducerInfo, SimpleRecord};
