//! Decoding the records of a v2 batch (Kafka's `DefaultRecord.readFrom` and
//! `DefaultRecordBatch`'s record iterators) and building batches in any codec
//! (`MemoryRecordsBuilder`). Spec: log-format.md §3.
//!
//! Decoding is strict and never panics: a malformed varint, a length past the end of the
//! record or section, a record whose fields do not fill its declared length exactly, fewer
//! records than the header's count or bytes left over after the last one are errors.

use super::batch::{BatchError, CompressionType, RecordBatch, TimestampType};
use super::builder::{assemble_batch, encode_records, BatchHeader, ProducerInfo, SimpleRecord};
use super::compression::{compress, decompress, CompressionError};
use super::varint::{read_varint, read_varlong};

/// Default bound on the decompressed size of one batch's records section.
pub const DEFAULT_MAX_DECOMPRESSED_BYTES: usize = 256 * 1024 * 1024;

/// The smallest encoded record: length, attributes, timestampDelta, offsetDelta, keyLength,
/// valueLength and headerCount, one byte each.
const MIN_RECORD_SIZE: usize = 7;

/// One decoded record with its absolute offset and timestamp.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub offset: i64,
    /// The record's timestamp; for a LogAppendTime batch, the batch's max timestamp (as Kafka
    /// reports it).
    pub timestamp: i64,
    /// The producer sequence of this record (`-1` if the batch has none).
    pub sequence: i32,
    /// The record's attributes byte (unused by Kafka: 0).
    pub attributes: i8,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    /// Encoded size of the record, its length varint included.
    pub size_in_bytes: usize,
}

impl Record {
    /// Kafka's `keySize`: the key length, `-1` for a null key.
    pub fn key_size(&self) -> i32 {
        self.key.as_ref().map_or(-1, |k| k.len() as i32)
    }

    /// Kafka's `valueSize`: the value length, `-1` for a null value (tombstone).
    pub fn value_size(&self) -> i32 {
        self.value.as_ref().map_or(-1, |v| v.len() as i32)
    }

    /// The record as builder input (its timestamp, key, value and headers).
    pub fn to_simple(&self) -> SimpleRecord {
        SimpleRecord {
            timestamp: self.timestamp,
            key: self.key.clone(),
            value: self.value.clone(),
            headers: self.headers.clone(),
        }
    }
}

/// Why the records of a batch could not be decoded (CORRUPT_MESSAGE at the API edge).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error(transparent)]
    Batch(#[from] BatchError),
    #[error(transparent)]
    Compression(#[from] CompressionError),
    #[error("found invalid record count {0}")]
    InvalidCount(i32),
    #[error("record {index}: {field} is truncated")]
    Truncated { index: usize, field: &'static str },
    #[error("record {index}: malformed varint in {field}")]
    MalformedVarint { index: usize, field: &'static str },
    #[error("record {index}: invalid {field} {value}")]
    InvalidLength {
        index: usize,
        field: &'static str,
        value: i32,
    },
    #[error("record {index}: declared size {declared} but its fields take {actual} bytes")]
    SizeMismatch {
        index: usize,
        declared: usize,
        actual: usize,
    },
    #[error("batch declares {declared} records but holds only {found}")]
    CountMismatch { declared: i32, found: usize },
    #[error(
        "incorrect declared batch size: {remaining} bytes remain after the last of {count} records"
    )]
    TrailingBytes { count: i32, remaining: usize },
}

/// Decodes the records of `batch`, decompressing with [`DEFAULT_MAX_DECOMPRESSED_BYTES`] as
/// the bound. Does not check the CRC (see [`RecordBatch::validate`]).
pub fn decode_records(batch: &RecordBatch<'_>) -> Result<Vec<Record>, RecordError> {
    decode_records_with_limit(batch, DEFAULT_MAX_DECOMPRESSED_BYTES)
}

/// [`decode_records`] with an explicit bound on the decompressed records section.
pub fn decode_records_with_limit(
    batch: &RecordBatch<'_>,
    max_decompressed: usize,
) -> Result<Vec<Record>, RecordError> {
    let codec = batch.compression()?;
    let count = batch.records_count();
    if count < 0 {
        return Err(RecordError::InvalidCount(count));
    }
    let raw = batch.records_bytes();
    let ctx = Context {
        base_offset: batch.base_offset(),
        base_timestamp: batch.base_timestamp(),
        log_append_time: match batch.timestamp_type() {
            TimestampType::LogAppendTime => Some(batch.max_timestamp()),
            TimestampType::CreateTime => None,
        },
        base_sequence: batch.base_sequence(),
    };
    if codec == CompressionType::None {
        decode_section(&ctx, count, raw)
    } else {
        let data = decompress(codec, raw, max_decompressed)?;
        decode_section(&ctx, count, &data)
    }
}

/// `batch.records()` for [`RecordBatch`] (an extension trait, as `batch.rs` stays zero-copy).
pub trait RecordBatchExt {
    /// See [`decode_records`].
    fn records(&self) -> Result<Vec<Record>, RecordError>;
}

impl RecordBatchExt for RecordBatch<'_> {
    fn records(&self) -> Result<Vec<Record>, RecordError> {
        decode_records(self)
    }
}

struct Context {
    base_offset: i64,
    base_timestamp: i64,
    log_append_time: Option<i64>,
    base_sequence: i32,
}

fn decode_section(ctx: &Context, count: i32, data: &[u8]) -> Result<Vec<Record>, RecordError> {
    let declared = count as usize;
    // Never trust the count for the allocation: each record takes at least 7 bytes.
    let mut records = Vec::with_capacity(declared.min(data.len() / MIN_RECORD_SIZE));
    let mut pos = 0;
    for index in 0..declared {
        if pos >= data.len() {
            return Err(RecordError::CountMismatch {
                declared: count,
                found: index,
            });
        }
        let (record, used) = decode_record(ctx, index, &data[pos..])?;
        records.push(record);
        pos += used;
    }
    if pos != data.len() {
        return Err(RecordError::TrailingBytes {
            count,
            remaining: data.len() - pos,
        });
    }
    Ok(records)
}

/// A bounds-checked reader over one record's bytes.
struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
    index: usize,
}

impl<'a> Cursor<'a> {
    fn varint_error(&self, field: &'static str, max_len: usize) -> RecordError {
        let rest = &self.buf[self.pos..];
        if rest.len() < max_len && rest.iter().all(|b| b & 0x80 != 0) {
            RecordError::Truncated {
                index: self.index,
                field,
            }
        } else {
            RecordError::MalformedVarint {
                index: self.index,
                field,
            }
        }
    }

    fn varint(&mut self, field: &'static str) -> Result<i32, RecordError> {
        let (v, n) =
            read_varint(&self.buf[self.pos..]).ok_or_else(|| self.varint_error(field, 5))?;
        self.pos += n;
        Ok(v)
    }

    fn varlong(&mut self, field: &'static str) -> Result<i64, RecordError> {
        let (v, n) =
            read_varlong(&self.buf[self.pos..]).ok_or_else(|| self.varint_error(field, 10))?;
        self.pos += n;
        Ok(v)
    }

    fn byte(&mut self, field: &'static str) -> Result<u8, RecordError> {
        let b = *self.buf.get(self.pos).ok_or(RecordError::Truncated {
            index: self.index,
            field,
        })?;
        self.pos += 1;
        Ok(b)
    }

    fn take(&mut self, len: usize, field: &'static str) -> Result<&'a [u8], RecordError> {
        let end = self
            .pos
            .checked_add(len)
            .filter(|&end| end <= self.buf.len())
            .ok_or(RecordError::Truncated {
                index: self.index,
                field,
            })?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    /// A varint length then that many bytes; a negative length is null (as in Kafka).
    fn nullable_bytes(&mut self, field: &'static str) -> Result<Option<Vec<u8>>, RecordError> {
        let len = self.varint(field)?;
        if len < 0 {
            return Ok(None);
        }
        Ok(Some(self.take(len as usize, field)?.to_vec()))
    }
}

/// Decodes the record at the start of `buf`; returns it and the bytes it took.
fn decode_record(ctx: &Context, index: usize, buf: &[u8]) -> Result<(Record, usize), RecordError> {
    let mut outer = Cursor { buf, pos: 0, index };
    let body_len = outer.varint("length")?;
    if body_len < 0 {
        return Err(RecordError::InvalidLength {
            index,
            field: "length",
            value: body_len,
        });
    }
    let body = outer.take(body_len as usize, "body")?;
    let size_in_bytes = outer.pos;
    let mut c = Cursor {
        buf: body,
        pos: 0,
        index,
    };
    let attributes = c.byte("attributes")? as i8;
    let timestamp_delta = c.varlong("timestampDelta")?;
    let offset_delta = c.varint("offsetDelta")?;
    let key = c.nullable_bytes("key")?;
    let value = c.nullable_bytes("value")?;
    let header_count = c.varint("headerCount")?;
    if header_count < 0 {
        return Err(RecordError::InvalidLength {
            index,
            field: "header count",
            value: header_count,
        });
    }
    // Each header takes at least 2 bytes: bound the allocation by what is left.
    let mut headers = Vec::with_capacity((header_count as usize).min(body.len() / 2));
    for _ in 0..header_count {
        let key_len = c.varint("header key length")?;
        if key_len < 0 {
            return Err(RecordError::InvalidLength {
                index,
                field: "header key length",
                value: key_len,
            });
        }
        let hkey = String::from_utf8_lossy(c.take(key_len as usize, "header key")?).into_owned();
        let hvalue = c.nullable_bytes("header value")?;
        headers.push((hkey, hvalue));
    }
    if c.pos != body.len() {
        return Err(RecordError::SizeMismatch {
            index,
            declared: body.len(),
            actual: c.pos,
        });
    }
    let sequence = if ctx.base_sequence < 0 {
        -1
    } else {
        increment_sequence(ctx.base_sequence, offset_delta)
    };
    let record = Record {
        offset: ctx.base_offset.wrapping_add(offset_delta as i64),
        timestamp: ctx
            .log_append_time
            .unwrap_or_else(|| ctx.base_timestamp.wrapping_add(timestamp_delta)),
        sequence,
        attributes,
        key,
        value,
        headers,
        size_in_bytes,
    };
    Ok((record, size_in_bytes))
}

/// Kafka's `DefaultRecordBatch.incrementSequence`: wraps past `i32::MAX` to 0.
fn increment_sequence(sequence: i32, increment: i32) -> i32 {
    let next = sequence as i64 + increment as i64;
    if next > i32::MAX as i64 {
        (next - i32::MAX as i64 - 1) as i32
    } else {
        next as i32
    }
}

/// Header attributes of a batch built by [`build_batch_with`] (besides the codec).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchOptions {
    /// `-1` as producers send it; the leader writes its epoch.
    pub partition_leader_epoch: i32,
    /// `Some(now)`: LogAppendTime, with `maxTimestamp = now`.
    pub log_append_time: Option<i64>,
    pub transactional: bool,
    pub control: bool,
    /// Kafka 3.1+ "delete horizon": stored as the base timestamp (attribute bit 6).
    pub delete_horizon_ms: Option<i64>,
}

impl Default for BatchOptions {
    fn default() -> BatchOptions {
        BatchOptions {
            partition_leader_epoch: -1,
            log_append_time: None,
            transactional: false,
            control: false,
            delete_horizon_ms: None,
        }
    }
}

impl BatchOptions {
    /// The attributes word for `codec` and these options.
    pub fn attributes(&self, codec: CompressionType) -> i16 {
        let mut attrs = codec.id() as i16;
        if self.log_append_time.is_some() {
            attrs |= 0x08;
        }
        if self.transactional {
            attrs |= 0x10;
        }
        if self.control {
            attrs |= 0x20;
        }
        if self.delete_horizon_ms.is_some() {
            attrs |= 0x40;
        }
        attrs
    }
}

/// Builds one batch of `records` (offset deltas 0, 1, …) compressed with `codec`.
pub fn build_batch_with(
    codec: CompressionType,
    base_offset: i64,
    producer: ProducerInfo,
    records: &[SimpleRecord],
    options: &BatchOptions,
) -> Result<Vec<u8>, CompressionError> {
    let first_timestamp = records.first().map_or(-1, |r| r.timestamp);
    let base_timestamp = options.delete_horizon_ms.unwrap_or(first_timestamp);
    let max_timestamp = match options.log_append_time {
        Some(t) => t,
        None => records.iter().map(|r| r.timestamp).max().unwrap_or(-1),
    };
    let header = BatchHeader {
        base_offset,
        partition_leader_epoch: options.partition_leader_epoch,
        attributes: options.attributes(codec),
        last_offset_delta: records.len().saturating_sub(1) as i32,
        base_timestamp,
        max_timestamp,
        producer,
        records_count: records.len() as i32,
    };
    let section = encode_records(records, base_timestamp);
    let section = if codec == CompressionType::None {
        section
    } else {
        compress(codec, &section)?
    };
    Ok(assemble_batch(&header, &section))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::batch::RECORD_BATCH_OVERHEAD;

    const ALL: [CompressionType; 5] = [
        CompressionType::None,
        CompressionType::Gzip,
        CompressionType::Snappy,
        CompressionType::Lz4,
        CompressionType::Zstd,
    ];

    fn hex(s: &str) -> Vec<u8> {
        assert_eq!(s.len() % 2, 0, "odd hex length");
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn rec(ts: i64, k: Option<&str>, v: Option<&str>) -> SimpleRecord {
        SimpleRecord::new(ts, k.map(str::as_bytes), v.map(str::as_bytes))
    }

    // Reference batches produced once by kafka-python 3.0.12's `DefaultRecordBatchBuilder`
    // (magic 2, batch_size 1 MiB; python-snappy 0.7.3, lz4 4.4.5, zstandard 0.25.0):
    //
    //   b = DefaultRecordBatchBuilder(magic=2, compression_type=CODEC, is_transactional=False,
    //           producer_id=PID, producer_epoch=EPOCH, base_sequence=SEQ, batch_size=1 << 20)
    //   for off, ts, k, v, h in RECORDS: b.append(off, timestamp=ts, key=k, value=v, headers=h)
    //   print(bytes(b.build()).hex())
    //
    // kafka-python writes partitionLeaderEpoch 0 (the Java producer writes -1).

    /// RECORDS = [(0, 1000, b"k0", b"v0", []), (1, 1001, b"k1", b"v1", [])], codec 0,
    /// producer -1/-1/-1.
    const KAFKA_PYTHON_SIMPLE: &str =
        "000000000000000000000047000000000232c1512e00000000000100000000000003e800000000000003e9ff\
        ffffffffffffffffffffffffff0000000214000000046b300476300014000202046b3104763100";

    /// RECORDS = [(0, 1000, b"k0", b"v0", []),
    ///            (1, 1005, None, b"v1", [("h1", b"x"), ("h2", None)]),
    ///            (2, 1002, b"k2", None, [])], codec 0, producer 7/2/10.
    const KAFKA_PYTHON_MIXED: &str =
        "00000000000000000000005700000000020e247c6f00000000000200000000000003e800000000000003ed00\
        0000000000000700020000000a0000000314000000046b300476300022000a02010476310404683102780468\
        320110000404046b320100";

    /// RECORDS = [(i, 2000 + i, b"key-%d" % i, b"value %d: " % i + b"hello kafka " * 8,
    ///             [("h", b"hv")]) for i in range(3)], producer -1/-1/-1, per codec.
    const KAFKA_PYTHON_GZIP: &str =
        "0000000000000000000000870000000002163eaeb000010000000200000000000007d000000000000007d2ff\
        ffffffffffffffffffffffffff000000031f8b0800fe4c026b02fffbc2c8c0c0c0959d5aa96b7089b12c31a7\
        3455c1c04a21233527275f213b312d3b91266c26a60c968cb22f8c0c4c4c60bb0d61761bd2d16e1616b0dd46\
        30bb8de865370010a460b374010000";
    const KAFKA_PYTHON_SNAPPY: &str =
        "00000000000000000000009a00000000020372ba2500020000000200000000000007d000000000000007d2ff\
        ffffffffffffffffffffffffff0000000382534e4150505900000000010000000100000055f40280f4010000\
        000a6b65792d30d20176616c756520303a2068656c6c6f206b61666b61fe0c00520c0028020268046876f401\
        000202057c0031117c0031fe7c00aa7c00040404057c0032117c0032fe7c009e7c00";
    const KAFKA_PYTHON_LZ4: &str =
        "00000000000000000000009900000000024f0d9c5d00030000000200000000000007d000000000000007d2ff\
        ffffffffffffffffffffffffff0000000304224d18684074010000000000005651000000ff12f4010000000a\
        6b65792d30d20176616c756520303a2068656c6c6f206b61666b610c0042b1020268046876f4010002027c00\
        14317c001f317c00582104047c0014327c001f327c005050026804687600000000";
    const KAFKA_PYTHON_ZSTD: &str =
        "0000000000000000000000820000000002295e95ce00040000000200000000000007d000000000000007d2ff\
        ffffffffffffffffffffffffff0000000328b52ffd6074003d02002403f4010000000a6b65792d30d2017661\
        6c756520303a2068656c6c6f206b61666b61020268046876f4010002023131040432320700052401ef020111\
        480c9ef883e0239fca13";

    fn compressible_records() -> Vec<SimpleRecord> {
        (0..3)
            .map(|i| SimpleRecord {
                timestamp: 2000 + i,
                key: Some(format!("key-{i}").into_bytes()),
                value: Some(format!("value {i}: {}", "hello kafka ".repeat(8)).into_bytes()),
                headers: vec![("h".to_string(), Some(b"hv".to_vec()))],
            })
            .collect()
    }

    #[test]
    fn hand_built_batch_matches_kafka_python_bytes_and_crc() {
        let records = [
            rec(1000, Some("k0"), Some("v0")),
            rec(1001, Some("k1"), Some("v1")),
        ];
        let options = BatchOptions {
            partition_leader_epoch: 0,
            ..BatchOptions::default()
        };
        let built = build_batch_with(
            CompressionType::None,
            0,
            ProducerInfo::NONE,
            &records,
            &options,
        )
        .unwrap();
        let expected = hex(KAFKA_PYTHON_SIMPLE);
        assert_eq!(built, expected);
        let batch = RecordBatch::parse(&built).unwrap();
        assert_eq!(batch.crc(), 0x32c1_512e);
        assert_eq!(batch.compute_crc(), 0x32c1_512e);
        batch.validate().unwrap();
        assert_eq!(batch.size_in_bytes(), 83);

        let decoded = batch.records().unwrap();
        assert_eq!(decoded.len(), 2);
        assert_eq!(
            decoded[1],
            Record {
                offset: 1,
                timestamp: 1001,
                sequence: -1,
                attributes: 0,
                key: Some(b"k1".to_vec()),
                value: Some(b"v1".to_vec()),
                headers: vec![],
                size_in_bytes: 11,
            }
        );
    }

    #[test]
    fn mixed_batch_matches_kafka_python() {
        let mut r1 = rec(1005, None, Some("v1"));
        r1.headers = vec![
            ("h1".to_string(), Some(b"x".to_vec())),
            ("h2".to_string(), None),
        ];
        let records = [
            rec(1000, Some("k0"), Some("v0")),
            r1,
            rec(1002, Some("k2"), None),
        ];
        let producer = ProducerInfo {
            producer_id: 7,
            producer_epoch: 2,
            base_sequence: 10,
        };
        let options = BatchOptions {
            partition_leader_epoch: 0,
            ..BatchOptions::default()
        };
        let built =
            build_batch_with(CompressionType::None, 0, producer, &records, &options).unwrap();
        assert_eq!(built, hex(KAFKA_PYTHON_MIXED));
        let batch = RecordBatch::parse(&built).unwrap();
        assert_eq!(batch.crc(), 0x0e24_7c6f);
        let decoded = decode_records(&batch).unwrap();
        let simple: Vec<SimpleRecord> = decoded.iter().map(Record::to_simple).collect();
        assert_eq!(simple, records);
        let sequences: Vec<i32> = decoded.iter().map(|r| r.sequence).collect();
        assert_eq!(sequences, [10, 11, 12]);
        assert_eq!(decoded[1].key_size(), -1);
        assert_eq!(decoded[2].value_size(), -1);
    }

    #[test]
    fn decodes_kafka_python_compressed_batches() {
        let expected = compressible_records();
        for (codec, text) in [
            (CompressionType::Gzip, KAFKA_PYTHON_GZIP),
            (CompressionType::Snappy, KAFKA_PYTHON_SNAPPY),
            (CompressionType::Lz4, KAFKA_PYTHON_LZ4),
            (CompressionType::Zstd, KAFKA_PYTHON_ZSTD),
        ] {
            let bytes = hex(text.trim());
            let batch = RecordBatch::parse(&bytes).unwrap();
            assert_eq!(batch.size_in_bytes(), bytes.len(), "{codec}");
            batch.validate().unwrap();
            assert_eq!(batch.compression().unwrap(), codec);
            let decoded = batch.records().unwrap();
            let offsets: Vec<i64> = decoded.iter().map(|r| r.offset).collect();
            assert_eq!(offsets, [0, 1, 2], "{codec}");
            let simple: Vec<SimpleRecord> = decoded.iter().map(Record::to_simple).collect();
            assert_eq!(simple, expected, "{codec}");
        }
    }

    #[test]
    fn every_codec_round_trips_through_a_batch() {
        let mut records = compressible_records();
        records.push(rec(1990, None, None));
        records.push(SimpleRecord {
            timestamp: 2100,
            key: Some(vec![0xff, 0x00]),
            value: Some(vec![7u8; 70_000]),
            headers: vec![("é".to_string(), None), (String::new(), Some(vec![]))],
        });
        let producer = ProducerInfo {
            producer_id: 1234,
            producer_epoch: 5,
            base_sequence: i32::MAX - 1,
        };
        for codec in ALL {
            let bytes =
                build_batch_with(codec, 500, producer, &records, &BatchOptions::default()).unwrap();
            let batch = RecordBatch::parse(&bytes).unwrap();
            batch.validate().unwrap();
            assert_eq!(batch.compression().unwrap(), codec);
            assert_eq!(batch.base_offset(), 500);
            assert_eq!(batch.last_offset(), 504);
            assert_eq!(batch.max_timestamp(), 2100);
            let decoded = batch.records().unwrap();
            let simple: Vec<SimpleRecord> = decoded.iter().map(Record::to_simple).collect();
            assert_eq!(simple, records, "{codec}");
            let sequences: Vec<i32> = decoded.iter().map(|r| r.sequence).collect();
            assert_eq!(sequences, [i32::MAX - 1, i32::MAX, 0, 1, 2], "{codec}");
            if codec != CompressionType::None {
                // The bound applies to the decompressed section.
                assert!(matches!(
                    decode_records_with_limit(&batch, 1000),
                    Err(RecordError::Compression(CompressionError::TooLarge { .. }))
                ));
            }
        }
    }

    #[test]
    fn attributes_of_built_batches() {
        let records = [rec(10, Some("k"), Some("v")), rec(30, None, Some("w"))];
        let options = BatchOptions {
            partition_leader_epoch: 3,
            log_append_time: Some(99),
            transactional: true,
            control: false,
            delete_horizon_ms: Some(5),
        };
        let bytes = build_batch_with(
            CompressionType::Zstd,
            0,
            ProducerInfo::NONE,
            &records,
            &options,
        )
        .unwrap();
        let batch = RecordBatch::parse(&bytes).unwrap();
        assert_eq!(batch.attributes(), 4 | 0x08 | 0x10 | 0x40);
        assert_eq!(batch.timestamp_type(), TimestampType::LogAppendTime);
        assert!(batch.is_transactional() && !batch.is_control() && batch.has_delete_horizon());
        assert_eq!(batch.base_timestamp(), 5);
        assert_eq!(batch.max_timestamp(), 99);
        assert_eq!(batch.partition_leader_epoch(), 3);
        // LogAppendTime: every record reports the batch's max timestamp.
        let ts: Vec<i64> = batch
            .records()
            .unwrap()
            .iter()
            .map(|r| r.timestamp)
            .collect();
        assert_eq!(ts, [99, 99]);
    }

    #[test]
    fn empty_batch() {
        for codec in ALL {
            let bytes =
                build_batch_with(codec, 7, ProducerInfo::NONE, &[], &BatchOptions::default())
                    .unwrap();
            let batch = RecordBatch::parse(&bytes).unwrap();
            assert_eq!(batch.records_count(), 0);
            assert_eq!(batch.records().unwrap(), vec![]);
        }
    }

    /// Builds an uncompressed batch around a hand-written records section.
    fn raw_batch(count: i32, section: &[u8]) -> Vec<u8> {
        let header = BatchHeader {
            base_offset: 0,
            partition_leader_epoch: -1,
            attributes: 0,
            last_offset_delta: count.max(1) - 1,
            base_timestamp: 0,
            max_timestamp: 0,
            producer: ProducerInfo::NONE,
            records_count: count,
        };
        assemble_batch(&header, section)
    }

    fn decode_raw(count: i32, section: &[u8]) -> Result<Vec<Record>, RecordError> {
        let bytes = raw_batch(count, section);
        decode_records(&RecordBatch::parse(&bytes).unwrap())
    }

    #[test]
    fn malformed_records_are_errors() {
        // A valid record: length 7, attrs, tsDelta 0, offsetDelta 0, key null, value "",
        // 0 headers... written by hand: [len=7][0][0][0][key -1][value len 1]["x"][0 headers]
        let good = [0x0e, 0x00, 0x00, 0x00, 0x01, 0x02, b'x', 0x00];
        assert_eq!(decode_raw(1, &good).unwrap()[0].value, Some(b"x".to_vec()));

        assert_eq!(
            decode_raw(2, &good),
            Err(RecordError::CountMismatch {
                declared: 2,
                found: 1
            })
        );
        assert_eq!(
            decode_raw(0, &good),
            Err(RecordError::TrailingBytes {
                count: 0,
                remaining: 8
            })
        );
        assert_eq!(decode_raw(-1, &good), Err(RecordError::InvalidCount(-1)));
        // Length past the end.
        let mut long = good;
        long[0] = 0x10;
        assert!(matches!(
            decode_raw(1, &long),
            Err(RecordError::Truncated { field: "body", .. })
        ));
        // Length shorter than the fields.
        let mut short = good.to_vec();
        short[0] = 0x0c;
        short.pop();
        assert!(matches!(
            decode_raw(1, &short),
            Err(RecordError::Truncated {
                field: "headerCount",
                ..
            })
        ));
        // Fields shorter than the length.
        let mut padded = good.to_vec();
        padded[0] = 0x10;
        padded.push(0);
        assert!(matches!(
            decode_raw(1, &padded),
            Err(RecordError::SizeMismatch {
                declared: 8,
                actual: 7,
                ..
            })
        ));
        // Value length past the record.
        let mut value = good;
        value[5] = 0x08;
        assert!(matches!(
            decode_raw(1, &value),
            Err(RecordError::Truncated { field: "value", .. })
        ));
        // Negative header count.
        let mut headers = good;
        headers[7] = 0x01;
        assert!(matches!(
            decode_raw(1, &headers),
            Err(RecordError::InvalidLength {
                field: "header count",
                ..
            })
        ));
        // A varint longer than 5 bytes.
        let bad_varint = [0x0e, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
        assert!(matches!(
            decode_raw(1, &bad_varint),
            Err(RecordError::Truncated { .. } | RecordError::MalformedVarint { .. })
        ));
        assert!(matches!(
            decode_raw(1, &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
            Err(RecordError::MalformedVarint {
                field: "length",
                ..
            })
        ));
        assert!(matches!(
            decode_raw(1, &[0xff]),
            Err(RecordError::Truncated {
                field: "length",
                ..
            })
        ));
        // A huge declared count with little data does not allocate for the count.
        assert!(matches!(
            decode_raw(i32::MAX, &good),
            Err(RecordError::CountMismatch { found: 1, .. })
        ));
    }

    #[test]
    fn truncated_and_garbled_compressed_sections_are_errors() {
        let records = compressible_records();
        for codec in ALL {
            let bytes = build_batch_with(
                codec,
                0,
                ProducerInfo::NONE,
                &records,
                &BatchOptions::default(),
            )
            .unwrap();
            let section = &bytes[RECORD_BATCH_OVERHEAD..];
            for cut in 0..section.len() {
                let header = BatchHeader {
                    base_offset: 0,
                    partition_leader_epoch: -1,
                    attributes: codec.id() as i16,
                    last_offset_delta: 2,
                    base_timestamp: 2000,
                    max_timestamp: 2002,
                    producer: ProducerInfo::NONE,
                    records_count: 3,
                };
                let b = assemble_batch(&header, &section[..cut]);
                let batch = RecordBatch::parse(&b).unwrap();
                assert!(decode_records(&batch).is_err(), "{codec} cut at {cut}");
            }
        }
    }

    mod fuzz {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]

            #[test]
            fn random_sections_never_panic(
                codec in 0u8..5,
                count in -2i32..40,
                section in proptest::collection::vec(any::<u8>(), 0..300),
            ) {
                let header = BatchHeader {
                    base_offset: 0,
                    partition_leader_epoch: -1,
                    attributes: codec as i16,
                    last_offset_delta: 0,
                    base_timestamp: 0,
                    max_timestamp: 0,
                    producer: ProducerInfo::NONE,
                    records_count: count,
                };
                let bytes = assemble_batch(&header, &section);
                let batch = RecordBatch::parse(&bytes).unwrap();
                let _ = decode_records_with_limit(&batch, 1 << 16);
            }

            #[test]
            fn mutated_batches_never_panic(
                codec in 0usize..5,
                flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
                cut in any::<prop::sample::Index>(),
            ) {
                let records = compressible_records();
                let mut bytes = build_batch_with(
                    ALL[codec], 0, ProducerInfo::NONE, &records, &BatchOptions::default(),
                ).unwrap();
                for (at, x) in flips {
                    let i = RECORD_BATCH_OVERHEAD
                        + at.index(bytes.len() - RECORD_BATCH_OVERHEAD);
                    bytes[i] ^= x;
                }
                if let Ok(batch) = RecordBatch::parse(&bytes) {
                    let _ = decode_records_with_limit(&batch, 1 << 16);
                }
                // Truncated records section with a fixed-up length: must not panic either.
                let keep = RECORD_BATCH_OVERHEAD + cut.index(bytes.len() - RECORD_BATCH_OVERHEAD + 1);
                let mut short = bytes[..keep].to_vec();
                let len = (keep - 12) as i32;
                short[8..12].copy_from_slice(&len.to_be_bytes());
                if let Ok(batch) = RecordBatch::parse(&short) {
                    let _ = decode_records_with_limit(&batch, 1 << 16);
                }
            }

            #[test]
            fn round_trip_random_records(
                codec in 0usize..5,
                recs in proptest::collection::vec(
                    (
                        -1000i64..1000,
                        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..20)),
                        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..200)),
                        proptest::collection::vec(
                            ("[a-z]{0,4}", proptest::option::of(proptest::collection::vec(any::<u8>(), 0..8))),
                            0..3,
                        ),
                    ),
                    0..12,
                ),
            ) {
                let records: Vec<SimpleRecord> = recs
                    .into_iter()
                    .map(|(ts, key, value, headers)| SimpleRecord { timestamp: 1_000_000 + ts, key, value, headers })
                    .collect();
                let bytes = build_batch_with(
                    ALL[codec], 42, ProducerInfo::NONE, &records, &BatchOptions::default(),
                ).unwrap();
                let batch = RecordBatch::parse(&bytes).unwrap();
                prop_assert!(batch.validate().is_ok());
                let decoded = batch.records().unwrap();
                let simple: Vec<SimpleRecord> = decoded.iter().map(Record::to_simple).collect();
                prop_assert_eq!(simple, records);
                for (i, r) in decoded.iter().enumerate() {
                    prop_assert_eq!(r.offset, 42 + i as i64);
                }
            }
        }
    }
}
