//! Kafka's record format (magic v2): zero-copy batch views, record encoding and builders
//! (Kafka's `common/record`).

pub mod batch;
pub mod builder;
pub mod compression;
pub mod control;
#[allow(clippy::module_inception)]
pub mod record;
pub mod varint;

pub use batch::{BatchError, BatchIter, CompressionType, RecordBatch, TimestampType};
pub use builder::{build_batch, ProducerInfo, SimpleRecord};
pub use compression::{compress, decompress, CompressionError};
pub use control::{ControlRecordKey, ControlRecordType, EndTransactionMarker};
pub use record::{
    build_batch_with, decode_records, decode_records_with_limit, BatchOptions, Record,
    RecordBatchExt, RecordError,
};
