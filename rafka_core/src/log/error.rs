//! `LogError`: every failure of the partition log layer (indexes, segments, `Log`), with the
//! file path or offsets needed to act on it, and the Kafka error code each one becomes at the
//! API edge (`kafka_error_code`).

use std::io;
use std::path::{Path, PathBuf};

/// Errors of the on-disk log. Variants are chosen so each maps to exactly one Kafka error
/// code; the message carries the context (file, offsets, sizes).
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// A file system call failed. Kafka marks the log dir offline (KAFKA_STORAGE_ERROR).
    #[error("I/O error on {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// Bad CRC, truncated batch, impossible batch length (CORRUPT_MESSAGE).
    #[error("corrupt record: {0}")]
    CorruptRecord(String),
    /// Structurally valid bytes that break a rule: non-zero producer base offset, count and
    /// offset-delta disagree, control batch from a client, null key on a compacted topic…
    /// (INVALID_RECORD).
    #[error("invalid record: {0}")]
    InvalidRecord(String),
    /// CreateTime outside `message.timestamp.difference.max.ms`, or a client claiming
    /// LogAppendTime (INVALID_TIMESTAMP).
    #[error("invalid timestamp: {0}")]
    InvalidTimestamp(String),
    /// One batch is larger than `max.message.bytes` (MESSAGE_TOO_LARGE).
    #[error("record batch of {size} bytes exceeds max.message.bytes {max}")]
    MessageTooLarge { size: usize, max: i32 },
    /// The whole append is larger than `segment.bytes` (RECORD_LIST_TOO_LARGE).
    #[error("append of {size} bytes exceeds segment.bytes {max}")]
    RecordListTooLarge { size: usize, max: i32 },
    /// Magic v0/v1 message sets: not stored by this broker (UNSUPPORTED_FOR_MESSAGE_FORMAT).
    #[error("unsupported message format: {0}")]
    UnsupportedForMessageFormat(String),
    /// Fetch / DeleteRecords outside `[log start, log end]` (OFFSET_OUT_OF_RANGE).
    #[error("offset {requested} is out of range: log start {log_start}, log end {log_end}")]
    OffsetOutOfRange {
        requested: i64,
        log_start: i64,
        log_end: i64,
    },
    /// An index append or lookup with an offset that breaks the index order (Kafka's
    /// `InvalidOffsetException`; an internal error).
    #[error("invalid offset for index {}: {reason}", path.display())]
    InvalidOffset { path: PathBuf, reason: String },
    /// An index file whose content cannot be right; the segment is rebuilt from its `.log`.
    #[error("corrupt index {}: {reason}", path.display())]
    CorruptIndex { path: PathBuf, reason: String },
    /// The offset does not fit the segment's 32-bit relative offsets (Kafka's
    /// `LogSegmentOffsetOverflowException`).
    #[error("offset {offset} cannot be stored in segment with base offset {base_offset}")]
    OffsetOverflow { base_offset: i64, offset: i64 },
    /// Follower append whose first offset is below the log end offset (Kafka's
    /// `UnexpectedAppendOffsetException`).
    #[error(
        "unexpected append offsets [{first_offset}, {last_offset}]: log end offset is {log_end}"
    )]
    UnexpectedAppendOffset {
        first_offset: i64,
        last_offset: i64,
        log_end: i64,
    },
    /// Follower append whose batches are not in increasing offset order.
    #[error("offsets out of order in append: {0}")]
    OffsetsOutOfOrder(String),
    /// A caller passed an argument that can never be valid (negative offset, bad size…).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The log was closed or deleted; no more changes (KAFKA_STORAGE_ERROR).
    #[error("log {} is closed", dir.display())]
    Closed { dir: PathBuf },
    /// An idempotent producer's batch does not continue its sequence: a gap, a resend outside
    /// the last five batches, or a new epoch not starting at 0 (Kafka's
    /// `OutOfOrderSequenceException`, OUT_OF_ORDER_SEQUENCE_NUMBER = 45).
    ///
    /// There is no variant for DUPLICATE_SEQUENCE_NUMBER (46): since Kafka 1.0 a duplicate of
    /// one of the producer's last five batches is not an error; `append_as_leader` writes
    /// nothing and answers the original batch's offsets. Nor for UNKNOWN_PRODUCER_ID (59):
    /// since KIP-360 (Kafka 2.5) an append from an unknown producer is accepted at any
    /// sequence.
    #[error("out of order sequence: {0}")]
    OutOfOrderSequence(String),
    /// A batch from an older epoch of the producer: a zombie fenced by a newer instance
    /// (Kafka's `InvalidProducerEpochException`, INVALID_PRODUCER_EPOCH = 47).
    #[error("invalid producer epoch: {0}")]
    InvalidProducerEpoch(String),
    /// A non-transactional batch from a producer with an open transaction (Kafka's
    /// `InvalidTxnStateException`, INVALID_TXN_STATE = 48).
    #[error("invalid transaction state: {0}")]
    InvalidTxnState(String),
    /// A producer state snapshot that cannot be read (Kafka's `CorruptSnapshotException`;
    /// handled at load by deleting the file, never sent to a client).
    #[error("corrupt producer snapshot {}: {reason}", path.display())]
    CorruptSnapshot { path: PathBuf, reason: String },
}

impl LogError {
    /// Wraps an I/O error with the file it concerns.
    pub fn io(path: impl AsRef<Path>, source: io::Error) -> LogError {
        LogError::Io {
            path: path.as_ref().to_path_buf(),
            source,
        }
    }

    /// The Kafka protocol error code this error is reported as.
    pub fn kafka_error_code(&self) -> i16 {
        match self {
            LogError::OffsetOutOfRange { .. } => 1,
            LogError::CorruptRecord(_) => 2,
            LogError::MessageTooLarge { .. } => 10,
            LogError::RecordListTooLarge { .. } => 18,
            LogError::InvalidTimestamp(_) => 32,
            LogError::UnsupportedForMessageFormat(_) => 43,
            LogError::Io { .. } | LogError::Closed { .. } => 56,
            LogError::OutOfOrderSequence(_) => 45,
            LogError::InvalidProducerEpoch(_) => 47,
            LogError::InvalidTxnState(_) => 48,
            LogError::InvalidRecord(_) => 87,
            // Internal conditions: Kafka answers UNKNOWN_SERVER_ERROR.
            LogError::InvalidOffset { .. }
            | LogError::CorruptIndex { .. }
            | LogError::OffsetOverflow { .. }
            | LogError::UnexpectedAppendOffset { .. }
            | LogError::OffsetsOutOfOrder(_)
            | LogError::InvalidArgument(_)
            | LogError::CorruptSnapshot { .. } => -1,
        }
    }
}

/// Adds the file path to `io::Result`s: `file.sync_all().ctx(&path)?`.
pub(crate) trait IoContext<T> {
    fn ctx(self, path: &Path) -> Result<T, LogError>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn ctx(self, path: &Path) -> Result<T, LogError> {
        self.map_err(|e| LogError::io(path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_messages_carry_context() {
        let e = LogError::io("/x/00000000000000000000.log", io::Error::other("disk gone"));
        assert_eq!(e.kafka_error_code(), 56);
        assert!(e.to_string().contains("00000000000000000000.log"));
        let e = LogError::OffsetOutOfRange {
            requested: 9,
            log_start: 10,
            log_end: 20,
        };
        assert_eq!(e.kafka_error_code(), 1);
        assert_eq!(
            e.to_string(),
            "offset 9 is out of range: log start 10, log end 20"
        );
        assert_eq!(LogError::CorruptRecord("x".into()).kafka_error_code(), 2);
        assert_eq!(
            LogError::MessageTooLarge { size: 2, max: 1 }.kafka_error_code(),
            10
        );
        assert_eq!(
            LogError::RecordListTooLarge { size: 2, max: 1 }.kafka_error_code(),
            18
        );
        assert_eq!(LogError::InvalidRecord("x".into()).kafka_error_code(), 87);
        assert_eq!(
            LogError::OutOfOrderSequence("x".into()).kafka_error_code(),
            45
        );
        assert_eq!(
            LogError::InvalidProducerEpoch("x".into()).kafka_error_code(),
            47
        );
        assert_eq!(LogError::InvalidTxnState("x".into()).kafka_error_code(), 48);
    }
}
