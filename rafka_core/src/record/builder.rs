//! Builds uncompressed v2 record batches with a correct CRC-32C: for tests, tools and the
//! broker's own writes (e.g. internal topics). Compressed batches: see `compression`.

use super::batch::{LOG_OVERHEAD, MAGIC_V2, RECORD_BATCH_OVERHEAD};
use super::varint::{write_varint, write_varlong};

/// One record to put in a batch.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SimpleRecord {
    pub timestamp: i64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<(String, Option<Vec<u8>>)>,
}

impl SimpleRecord {
    pub fn new(timestamp: i64, key: Option<&[u8]>, value: Option<&[u8]>) -> SimpleRecord {
        SimpleRecord {
            timestamp,
            key: key.map(<[u8]>::to_vec),
            value: value.map(<[u8]>::to_vec),
            headers: Vec::new(),
        }
    }
}

/// Producer fields of a batch header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProducerInfo {
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
}

impl ProducerInfo {
    /// "No producer": what non-idempotent clients send.
    pub const NONE: ProducerInfo = ProducerInfo {
        producer_id: -1,
        producer_epoch: -1,
        base_sequence: -1,
    };
}

/// Encodes the records section (uncompressed) relative to `base_timestamp`.
pub fn encode_records(records: &[SimpleRecord], base_timestamp: i64) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, r) in records.iter().enumerate() {
        let mut body = Vec::new();
        body.push(0u8); // attributes
        write_varlong(&mut body, r.timestamp - base_timestamp);
        write_varint(&mut body, i as i32);
        write_bytes(&mut body, r.key.as_deref());
        write_bytes(&mut body, r.value.as_deref());
        write_varint(&mut body, r.headers.len() as i32);
        for (k, v) in &r.headers {
            write_bytes(&mut body, Some(k.as_bytes()));
            write_bytes(&mut body, v.as_deref());
        }
        write_varint(&mut out, body.len() as i32);
        out.extend_from_slice(&body);
    }
    out
}

fn write_bytes(out: &mut Vec<u8>, b: Option<&[u8]>) {
    match b {
        None => write_varint(out, -1),
        Some(b) => {
            write_varint(out, b.len() as i32);
            out.extend_from_slice(b);
        }
    }
}

/// Header fields of a batch to assemble around an already-encoded records section.
#[derive(Clone, Copy, Debug)]
pub struct BatchHeader {
    pub base_offset: i64,
    pub partition_leader_epoch: i32,
    pub attributes: i16,
    pub last_offset_delta: i32,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub producer: ProducerInfo,
    pub records_count: i32,
}

/// Assembles a batch from its header and a records section (compressed or not), computing
/// the CRC-32C.
pub fn assemble_batch(header: &BatchHeader, records: &[u8]) -> Vec<u8> {
    let total = RECORD_BATCH_OVERHEAD + records.len();
    let mut b = Vec::with_capacity(total);
    b.extend_from_slice(&header.base_offset.to_be_bytes());
    b.extend_from_slice(&((total - LOG_OVERHEAD) as i32).to_be_bytes());
    b.extend_from_slice(&header.partition_leader_epoch.to_be_bytes());
    b.push(MAGIC_V2 as u8);
    b.extend_from_slice(&[0u8; 4]); // CRC, filled below
    b.extend_from_slice(&header.attributes.to_be_bytes());
    b.extend_from_slice(&header.last_offset_delta.to_be_bytes());
    b.extend_from_slice(&header.base_timestamp.to_be_bytes());
    b.extend_from_slice(&header.max_timestamp.to_be_bytes());
    b.extend_from_slice(&header.producer.producer_id.to_be_bytes());
    b.extend_from_slice(&header.producer.producer_epoch.to_be_bytes());
    b.extend_from_slice(&header.producer.base_sequence.to_be_bytes());
    b.extend_from_slice(&header.records_count.to_be_bytes());
    b.extend_from_slice(records);
    let crc = crc32c::crc32c(&b[21..]);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    b
}

/// Builds one uncompressed CreateTime batch at `base_offset` (0 as a producer sends it).
pub fn build_batch(base_offset: i64, producer: ProducerInfo, records: &[SimpleRecord]) -> Vec<u8> {
    let base_timestamp = records.first().map(|r| r.timestamp).unwrap_or(-1);
    let max_timestamp = records.iter().map(|r| r.timestamp).max().unwrap_or(-1);
    let header = BatchHeader {
        base_offset,
        partition_leader_epoch: -1,
        attributes: 0,
        last_offset_delta: records.len().saturating_sub(1) as i32,
        base_timestamp,
        max_timestamp,
        producer,
        records_count: records.len() as i32,
    };
    assemble_batch(&header, &encode_records(records, base_timestamp))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::batch::{RecordBatch, TimestampType};

    #[test]
    fn built_batch_parses_and_validates() {
        let records = vec![
            SimpleRecord::new(1000, Some(b"k1"), Some(b"v1")),
            SimpleRecord::new(1005, None, Some(b"v2")),
            SimpleRecord::new(1002, Some(b"k3"), None),
        ];
        let bytes = build_batch(0, ProducerInfo::NONE, &records);
        let batch = RecordBatch::parse(&bytes).unwrap();
        batch.validate().unwrap();
        assert_eq!(batch.size_in_bytes(), bytes.len());
        assert_eq!(batch.base_offset(), 0);
        assert_eq!(batch.last_offset(), 2);
        assert_eq!(batch.records_count(), 3);
        assert_eq!(batch.base_timestamp(), 1000);
        assert_eq!(batch.max_timestamp(), 1005);
        assert_eq!(batch.producer_id(), -1);
        assert_eq!(batch.timestamp_type(), TimestampType::CreateTime);
    }

    #[test]
    fn corrupting_a_covered_byte_breaks_the_crc() {
        let mut bytes = build_batch(
            0,
            ProducerInfo::NONE,
            &[SimpleRecord::new(1, None, Some(b"x"))],
        );
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        assert!(RecordBatch::parse(&bytes).unwrap().validate_crc().is_err());
    }

    #[test]
    fn base_offset_and_epoch_are_not_covered_by_the_crc() {
        let mut bytes = build_batch(
            0,
            ProducerInfo::NONE,
            &[SimpleRecord::new(1, None, Some(b"x"))],
        );
        crate::record::batch::set_base_offset(&mut bytes, 42);
        crate::record::batch::set_partition_leader_epoch(&mut bytes, 7);
        let batch = RecordBatch::parse(&bytes).unwrap();
        assert!(batch.is_valid());
        assert_eq!(batch.base_offset(), 42);
        assert_eq!(batch.partition_leader_epoch(), 7);
    }
}
