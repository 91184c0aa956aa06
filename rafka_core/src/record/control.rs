//! Control records (the single record of a control batch): the key (`int16 version`,
//! `int16 type`) and the end-transaction marker value (`int16 version`,
//! `int32 coordinatorEpoch`) — Kafka's `ControlRecordType` and `EndTransactionMarker`.
//! Spec: log-format.md §3.

use std::fmt;

use super::builder::{assemble_batch, encode_records, BatchHeader, ProducerInfo, SimpleRecord};

/// Control record key version written by Kafka.
pub const CONTROL_RECORD_KEY_VERSION: i16 = 0;
/// End-transaction marker value version written by Kafka.
pub const END_TXN_MARKER_VERSION: i16 = 0;
/// Encoded size of a control record key.
pub const CONTROL_RECORD_KEY_SIZE: usize = 4;
/// Encoded size of an end-transaction marker value.
pub const END_TXN_MARKER_VALUE_SIZE: usize = 6;

/// The `type` of a control record key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ControlRecordType {
    Abort,
    Commit,
    /// KRaft only (type 2).
    LeaderChange,
    /// KRaft snapshots (3, 4).
    SnapshotHeader,
    SnapshotFooter,
    /// KRaft (5, 6).
    KraftVersion,
    KraftVoters,
    /// Any other type id.
    Unknown(i16),
}

impl ControlRecordType {
    pub fn from_type_id(id: i16) -> ControlRecordType {
        match id {
            0 => ControlRecordType::Abort,
            1 => ControlRecordType::Commit,
            2 => ControlRecordType::LeaderChange,
            3 => ControlRecordType::SnapshotHeader,
            4 => ControlRecordType::SnapshotFooter,
            5 => ControlRecordType::KraftVersion,
            6 => ControlRecordType::KraftVoters,
            other => ControlRecordType::Unknown(other),
        }
    }

    pub fn type_id(self) -> i16 {
        match self {
            ControlRecordType::Abort => 0,
            ControlRecordType::Commit => 1,
            ControlRecordType::LeaderChange => 2,
            ControlRecordType::SnapshotHeader => 3,
            ControlRecordType::SnapshotFooter => 4,
            ControlRecordType::KraftVersion => 5,
            ControlRecordType::KraftVoters => 6,
            ControlRecordType::Unknown(id) => id,
        }
    }

    /// Kafka's enum name (`ABORT`, `COMMIT`, …, `UNKNOWN`).
    pub fn name(self) -> &'static str {
        match self {
            ControlRecordType::Abort => "ABORT",
            ControlRecordType::Commit => "COMMIT",
            ControlRecordType::LeaderChange => "LEADER_CHANGE",
            ControlRecordType::SnapshotHeader => "SNAPSHOT_HEADER",
            ControlRecordType::SnapshotFooter => "SNAPSHOT_FOOTER",
            ControlRecordType::KraftVersion => "KRAFT_VERSION",
            ControlRecordType::KraftVoters => "KRAFT_VOTERS",
            ControlRecordType::Unknown(_) => "UNKNOWN",
        }
    }

    /// ABORT or COMMIT: the types that carry an [`EndTransactionMarker`].
    pub fn is_end_txn_marker(self) -> bool {
        matches!(self, ControlRecordType::Abort | ControlRecordType::Commit)
    }
}

impl fmt::Display for ControlRecordType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a control record could not be decoded (Kafka's InvalidRecordException).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlRecordError {
    #[error("control record has no key")]
    MissingKey,
    #[error("control record has no value")]
    MissingValue,
    #[error(
        "invalid value size found for end control record key. Must have at least 4 bytes, \
         but found only {0}"
    )]
    KeyTooShort(usize),
    #[error("invalid version found for control record: {0}. May indicate data corruption")]
    InvalidKeyVersion(i16),
    #[error(
        "invalid value size found for end transaction marker. Must have at least 6 bytes, \
         but found only {0}"
    )]
    ValueTooShort(usize),
    #[error("invalid version found for end transaction marker: {0}. May indicate data corruption")]
    InvalidValueVersion(i16),
    #[error("invalid control record type for end transaction marker: {0}")]
    NotAMarker(ControlRecordType),
}

/// A control record key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ControlRecordKey {
    pub version: i16,
    pub record_type: ControlRecordType,
}

impl ControlRecordKey {
    /// A current-version key of `record_type`.
    pub fn new(record_type: ControlRecordType) -> ControlRecordKey {
        ControlRecordKey {
            version: CONTROL_RECORD_KEY_VERSION,
            record_type,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(CONTROL_RECORD_KEY_SIZE);
        out.extend_from_slice(&self.version.to_be_bytes());
        out.extend_from_slice(&self.record_type.type_id().to_be_bytes());
        out
    }

    /// Decodes a key; like Kafka, a newer (positive) version is accepted and extra bytes
    /// are ignored.
    pub fn decode(key: &[u8]) -> Result<ControlRecordKey, ControlRecordError> {
        if key.len() < CONTROL_RECORD_KEY_SIZE {
            return Err(ControlRecordError::KeyTooShort(key.len()));
        }
        let version = i16::from_be_bytes([key[0], key[1]]);
        if version < 0 {
            return Err(ControlRecordError::InvalidKeyVersion(version));
        }
        let type_id = i16::from_be_bytes([key[2], key[3]]);
        Ok(ControlRecordKey {
            version,
            record_type: ControlRecordType::from_type_id(type_id),
        })
    }
}

/// The value of an ABORT/COMMIT control record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EndTransactionMarker {
    /// [`ControlRecordType::Abort`] or [`ControlRecordType::Commit`].
    pub control_type: ControlRecordType,
    pub coordinator_epoch: i32,
}

impl EndTransactionMarker {
    pub fn commit(coordinator_epoch: i32) -> EndTransactionMarker {
        EndTransactionMarker {
            control_type: ControlRecordType::Commit,
            coordinator_epoch,
        }
    }

    pub fn abort(coordinator_epoch: i32) -> EndTransactionMarker {
        EndTransactionMarker {
            control_type: ControlRecordType::Abort,
            coordinator_epoch,
        }
    }

    /// The control record key for this marker.
    pub fn encode_key(&self) -> Vec<u8> {
        ControlRecordKey::new(self.control_type).encode()
    }

    /// The marker value: version 0 + coordinator epoch.
    pub fn encode_value(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(END_TXN_MARKER_VALUE_SIZE);
        out.extend_from_slice(&END_TXN_MARKER_VERSION.to_be_bytes());
        out.extend_from_slice(&self.coordinator_epoch.to_be_bytes());
        out
    }

    /// Decodes the value of a control record whose key has type `control_type`.
    pub fn decode_value(
        control_type: ControlRecordType,
        value: &[u8],
    ) -> Result<EndTransactionMarker, ControlRecordError> {
        if !control_type.is_end_txn_marker() {
            return Err(ControlRecordError::NotAMarker(control_type));
        }
        if value.len() < 2 {
            return Err(ControlRecordError::ValueTooShort(value.len()));
        }
        let version = i16::from_be_bytes([value[0], value[1]]);
        if version < 0 {
            return Err(ControlRecordError::InvalidValueVersion(version));
        }
        if value.len() < END_TXN_MARKER_VALUE_SIZE {
            return Err(ControlRecordError::ValueTooShort(value.len()));
        }
        Ok(EndTransactionMarker {
            control_type,
            coordinator_epoch: i32::from_be_bytes([value[2], value[3], value[4], value[5]]),
        })
    }

    /// Decodes a marker from a control record's key and value.
    pub fn decode(
        key: Option<&[u8]>,
        value: Option<&[u8]>,
    ) -> Result<EndTransactionMarker, ControlRecordError> {
        let key = ControlRecordKey::decode(key.ok_or(ControlRecordError::MissingKey)?)?;
        EndTransactionMarker::decode_value(
            key.record_type,
            value.ok_or(ControlRecordError::MissingValue)?,
        )
    }

    /// The marker as a record to put in a control batch.
    pub fn to_record(&self, timestamp: i64) -> SimpleRecord {
        SimpleRecord {
            timestamp,
            key: Some(self.encode_key()),
            value: Some(self.encode_value()),
            headers: Vec::new(),
        }
    }
}

/// Builds the control batch holding one end-transaction marker, as the broker writes it
/// (Kafka's `MemoryRecords.withEndTransactionMarker`): uncompressed, transactional and
/// control, CreateTime, no base sequence.
pub fn end_txn_marker_batch(
    base_offset: i64,
    timestamp: i64,
    partition_leader_epoch: i32,
    producer_id: i64,
    producer_epoch: i16,
    marker: &EndTransactionMarker,
) -> Vec<u8> {
    let record = marker.to_record(timestamp);
    let header = BatchHeader {
        base_offset,
        partition_leader_epoch,
        attributes: 0x10 | 0x20,
        last_offset_delta: 0,
        base_timestamp: timestamp,
        max_timestamp: timestamp,
        producer: ProducerInfo {
            producer_id,
            producer_epoch,
            base_sequence: -1,
        },
        records_count: 1,
    };
    assemble_batch(&header, &encode_records(&[record], timestamp))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::batch::RecordBatch;
    use crate::record::record::decode_records;

    #[test]
    fn key_and_value_encodings() {
        assert_eq!(EndTransactionMarker::commit(5).encode_key(), [0, 0, 0, 1]);
        assert_eq!(EndTransactionMarker::abort(5).encode_key(), [0, 0, 0, 0]);
        assert_eq!(
            EndTransactionMarker::commit(0x0102_0304).encode_value(),
            [0, 0, 1, 2, 3, 4]
        );
        for marker in [
            EndTransactionMarker::commit(7),
            EndTransactionMarker::abort(-1),
        ] {
            let decoded = EndTransactionMarker::decode(
                Some(&marker.encode_key()),
                Some(&marker.encode_value()),
            )
            .unwrap();
            assert_eq!(decoded, marker);
        }
    }

    #[test]
    fn decode_errors_and_leniency() {
        assert_eq!(
            ControlRecordKey::decode(&[0, 0, 1]),
            Err(ControlRecordError::KeyTooShort(3))
        );
        assert_eq!(
            ControlRecordKey::decode(&[0xff, 0xff, 0, 1]),
            Err(ControlRecordError::InvalidKeyVersion(-1))
        );
        // A newer key version and trailing bytes are accepted, as in Kafka.
        assert_eq!(
            ControlRecordKey::decode(&[0, 3, 0, 9, 0xaa]).unwrap(),
            ControlRecordKey {
                version: 3,
                record_type: ControlRecordType::Unknown(9)
            }
        );
        assert_eq!(
            ControlRecordKey::decode(&[0, 0, 0, 2]).unwrap().record_type,
            ControlRecordType::LeaderChange
        );
        assert_eq!(
            EndTransactionMarker::decode_value(ControlRecordType::Commit, &[0, 0, 0, 0, 1]),
            Err(ControlRecordError::ValueTooShort(5))
        );
        assert_eq!(
            EndTransactionMarker::decode_value(ControlRecordType::Commit, &[0x80, 0, 0, 0, 0, 1]),
            Err(ControlRecordError::InvalidValueVersion(i16::MIN))
        );
        assert_eq!(
            EndTransactionMarker::decode_value(ControlRecordType::LeaderChange, &[0; 6]),
            Err(ControlRecordError::NotAMarker(
                ControlRecordType::LeaderChange
            ))
        );
        assert_eq!(
            EndTransactionMarker::decode(None, Some(&[0; 6])),
            Err(ControlRecordError::MissingKey)
        );
        for id in -3..10 {
            assert_eq!(ControlRecordType::from_type_id(id).type_id(), id);
        }
    }

    #[test]
    fn marker_batch_is_a_valid_control_batch() {
        let bytes = end_txn_marker_batch(100, 1234, 4, 77, 3, &EndTransactionMarker::abort(9));
        let batch = RecordBatch::parse(&bytes).unwrap();
        batch.validate().unwrap();
        assert!(batch.is_control() && batch.is_transactional());
        assert_eq!(batch.base_offset(), 100);
        assert_eq!(batch.last_offset(), 100);
        assert_eq!(batch.producer_id(), 77);
        assert_eq!(batch.producer_epoch(), 3);
        assert_eq!(batch.base_sequence(), -1);
        assert_eq!(batch.partition_leader_epoch(), 4);
        assert_eq!(batch.max_timestamp(), 1234);
        let records = decode_records(&batch).unwrap();
        assert_eq!(records.len(), 1);
        let marker =
            EndTransactionMarker::decode(records[0].key.as_deref(), records[0].value.as_deref())
                .unwrap();
        assert_eq!(marker, EndTransactionMarker::abort(9));
    }
}
