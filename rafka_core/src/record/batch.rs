//! Zero-copy view of a magic-2 record batch: the 61-byte header read in place, CRC-32C
//! validation, and the two fields the leader rewrites (`baseOffset`, `partitionLeaderEpoch`)
//! written in place. Records are never decoded here (spec: log-format.md §3).

use std::fmt;

/// `baseOffset` (8) + `batchLength` (4): bytes before the length-counted part of a batch.
pub const LOG_OVERHEAD: usize = 12;
/// Size of the v2 batch header up to the first record.
pub const RECORD_BATCH_OVERHEAD: usize = 61;
/// The only magic value this module accepts.
pub const MAGIC_V2: i8 = 2;

const BASE_OFFSET: usize = 0;
const BATCH_LENGTH: usize = 8;
const PARTITION_LEADER_EPOCH: usize = 12;
const MAGIC: usize = 16;
const CRC: usize = 17;
const ATTRIBUTES: usize = 21;
const LAST_OFFSET_DELTA: usize = 23;
const BASE_TIMESTAMP: usize = 27;
const MAX_TIMESTAMP: usize = 35;
const PRODUCER_ID: usize = 43;
const PRODUCER_EPOCH: usize = 51;
const BASE_SEQUENCE: usize = 53;
const RECORDS_COUNT: usize = 57;

/// Compression codec from attribute bits 0–2.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CompressionType {
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

impl CompressionType {
    pub fn from_id(id: u8) -> Option<CompressionType> {
        match id {
            0 => Some(CompressionType::None),
            1 => Some(CompressionType::Gzip),
            2 => Some(CompressionType::Snappy),
            3 => Some(CompressionType::Lz4),
            4 => Some(CompressionType::Zstd),
            _ => None,
        }
    }

    pub fn id(self) -> u8 {
        match self {
            CompressionType::None => 0,
            CompressionType::Gzip => 1,
            CompressionType::Snappy => 2,
            CompressionType::Lz4 => 3,
            CompressionType::Zstd => 4,
        }
    }

    /// Kafka's name (`none`, `gzip`, `snappy`, `lz4`, `zstd`).
    pub fn name(self) -> &'static str {
        match self {
            CompressionType::None => "none",
            CompressionType::Gzip => "gzip",
            CompressionType::Snappy => "snappy",
            CompressionType::Lz4 => "lz4",
            CompressionType::Zstd => "zstd",
        }
    }
}

impl fmt::Display for CompressionType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Timestamp type from attribute bit 3.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimestampType {
    CreateTime,
    LogAppendTime,
}

/// Why bytes are not a valid batch. Maps to CORRUPT_MESSAGE / INVALID_RECORD at the API edge.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    #[error("batch truncated: need {needed} bytes, have {available}")]
    Truncated { needed: usize, available: usize },
    #[error("batch length {0} is smaller than the v2 header")]
    LengthTooSmall(i32),
    #[error("unsupported magic {0} (only v2 record batches are stored)")]
    UnsupportedMagic(i8),
    #[error("CRC mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    CrcMismatch { stored: u32, computed: u32 },
    #[error("unknown compression codec id {0}")]
    UnknownCompression(u8),
    #[error("record count {count} does not match last offset delta {last_offset_delta}")]
    CountMismatch { count: i32, last_offset_delta: i32 },
}

fn be_i16(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([b[at], b[at + 1]])
}

fn be_i32(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn be_i64(b: &[u8], at: usize) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(a)
}

/// Total size of the batch starting at `buf[0]` (LOG_OVERHEAD + batchLength), if the
/// 12-byte prefix is present; `None` when fewer than 12 bytes are available.
pub fn next_batch_size(buf: &[u8]) -> Option<Result<usize, BatchError>> {
    if buf.len() < LOG_OVERHEAD {
        return None;
    }
    let len = be_i32(buf, BATCH_LENGTH);
    if len < (RECORD_BATCH_OVERHEAD - LOG_OVERHEAD) as i32 {
        // Also catches magic v0/v1 messages, whose length field is smaller.
        return Some(Err(BatchError::LengthTooSmall(len)));
    }
    Some(Ok(LOG_OVERHEAD + len as usize))
}

/// A borrowed view of exactly one v2 batch. Construct with [`RecordBatch::parse`], which checks
/// the length and magic (not the CRC: see [`RecordBatch::validate_crc`]).
#[derive(Clone, Copy)]
pub struct RecordBatch<'a> {
    bytes: &'a [u8],
}

impl<'a> RecordBatch<'a> {
    /// Views the batch at the start of `buf`; the view covers only that batch.
    pub fn parse(buf: &'a [u8]) -> Result<RecordBatch<'a>, BatchError> {
        let size = match next_batch_size(buf) {
            None => {
                return Err(BatchError::Truncated {
                    needed: LOG_OVERHEAD,
                    available: buf.len(),
                })
            }
            Some(r) => r?,
        };
        if buf.len() < RECORD_BATCH_OVERHEAD.min(size) || buf.len() < MAGIC + 1 {
            return Err(BatchError::Truncated {
                needed: RECORD_BATCH_OVERHEAD,
                available: buf.len(),
            });
        }
        let magic = buf[MAGIC] as i8;
        if magic != MAGIC_V2 {
            return Err(BatchError::UnsupportedMagic(magic));
        }
        if buf.len() < size {
            return Err(BatchError::Truncated {
                needed: size,
                available: buf.len(),
            });
        }
        Ok(RecordBatch {
            bytes: &buf[..size],
        })
    }

    /// The whole batch, header included.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    pub fn size_in_bytes(&self) -> usize {
        self.bytes.len()
    }

    pub fn base_offset(&self) -> i64 {
        be_i64(self.bytes, BASE_OFFSET)
    }

    pub fn batch_length(&self) -> i32 {
        be_i32(self.bytes, BATCH_LENGTH)
    }

    pub fn partition_leader_epoch(&self) -> i32 {
        be_i32(self.bytes, PARTITION_LEADER_EPOCH)
    }

    pub fn magic(&self) -> i8 {
        self.bytes[MAGIC] as i8
    }

    /// The stored CRC-32C (over attributes to the end).
    pub fn crc(&self) -> u32 {
        be_i32(self.bytes, CRC) as u32
    }

    /// CRC-32C computed over `[attributes, end)`.
    pub fn compute_crc(&self) -> u32 {
        crc32c::crc32c(&self.bytes[ATTRIBUTES..])
    }

    pub fn is_valid(&self) -> bool {
        self.crc() == self.compute_crc()
    }

    /// Checks the CRC-32C.
    pub fn validate_crc(&self) -> Result<(), BatchError> {
        let (stored, computed) = (self.crc(), self.compute_crc());
        if stored == computed {
            Ok(())
        } else {
            Err(BatchError::CrcMismatch { stored, computed })
        }
    }

    pub fn attributes(&self) -> i16 {
        be_i16(self.bytes, ATTRIBUTES)
    }

    pub fn compression(&self) -> Result<CompressionType, BatchError> {
        let id = (self.attributes() & 0x07) as u8;
        CompressionType::from_id(id).ok_or(BatchError::UnknownCompression(id))
    }

    pub fn timestamp_type(&self) -> TimestampType {
        if self.attributes() & 0x08 != 0 {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        }
    }

    pub fn is_transactional(&self) -> bool {
        self.attributes() & 0x10 != 0
    }

    pub fn is_control(&self) -> bool {
        self.attributes() & 0x20 != 0
    }

    pub fn has_delete_horizon(&self) -> bool {
        self.attributes() & 0x40 != 0
    }

    pub fn last_offset_delta(&self) -> i32 {
        be_i32(self.bytes, LAST_OFFSET_DELTA)
    }

    pub fn last_offset(&self) -> i64 {
        self.base_offset() + self.last_offset_delta() as i64
    }

    /// The offset after this batch.
    pub fn next_offset(&self) -> i64 {
        self.last_offset() + 1
    }

    pub fn base_timestamp(&self) -> i64 {
        be_i64(self.bytes, BASE_TIMESTAMP)
    }

    pub fn max_timestamp(&self) -> i64 {
        be_i64(self.bytes, MAX_TIMESTAMP)
    }

    pub fn producer_id(&self) -> i64 {
        be_i64(self.bytes, PRODUCER_ID)
    }

    pub fn producer_epoch(&self) -> i16 {
        be_i16(self.bytes, PRODUCER_EPOCH)
    }

    pub fn base_sequence(&self) -> i32 {
        be_i32(self.bytes, BASE_SEQUENCE)
    }

    /// The last sequence number, wrapping at `i32::MAX` as Kafka does.
    pub fn last_sequence(&self) -> i32 {
        let base = self.base_sequence();
        if base < 0 {
            return -1;
        }
        let last = base as i64 + self.last_offset_delta() as i64;
        if last > i32::MAX as i64 {
            (last - i32::MAX as i64 - 1) as i32
        } else {
            last as i32
        }
    }

    pub fn records_count(&self) -> i32 {
        be_i32(self.bytes, RECORDS_COUNT)
    }

    /// The record bytes (compressed if the batch is compressed).
    pub fn records_bytes(&self) -> &'a [u8] {
        &self.bytes[RECORD_BATCH_OVERHEAD.min(self.bytes.len())..]
    }

    /// Full validation of a batch stored in or appended to a log: magic (checked by
    /// [`parse`](Self::parse)), CRC, codec, and header consistency.
    pub fn validate(&self) -> Result<(), BatchError> {
        self.validate_crc()?;
        self.compression()?;
        let count = self.records_count();
        let delta = self.last_offset_delta();
        // Compaction may drop records but keeps offsets, so count ≤ delta + 1.
        if count < 0 || delta < 0 || count > delta.saturating_add(1) {
            return Err(BatchError::CountMismatch {
                count,
                last_offset_delta: delta,
            });
        }
        Ok(())
    }
}

impl fmt::Debug for RecordBatch<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecordBatch")
            .field("base_offset", &self.base_offset())
            .field("last_offset", &self.last_offset())
            .field("count", &self.records_count())
            .field("size", &self.size_in_bytes())
            .field("crc", &format_args!("{:#010x}", self.crc()))
            .finish()
    }
}

/// Writes `baseOffset` in place (not covered by the CRC).
pub fn set_base_offset(batch: &mut [u8], base_offset: i64) {
    batch[BASE_OFFSET..BASE_OFFSET + 8].copy_from_slice(&base_offset.to_be_bytes());
}

/// Writes `partitionLeaderEpoch` in place (not covered by the CRC).
pub fn set_partition_leader_epoch(batch: &mut [u8], epoch: i32) {
    batch[PARTITION_LEADER_EPOCH..PARTITION_LEADER_EPOCH + 4].copy_from_slice(&epoch.to_be_bytes());
}

/// Sets LogAppendTime: the timestamp-type bit and `maxTimestamp`, then recomputes the CRC
/// (both are covered by it).
pub fn set_log_append_time(batch: &mut [u8], now_ms: i64) {
    let attrs = be_i16(batch, ATTRIBUTES) | 0x08;
    batch[ATTRIBUTES..ATTRIBUTES + 2].copy_from_slice(&attrs.to_be_bytes());
    batch[MAX_TIMESTAMP..MAX_TIMESTAMP + 8].copy_from_slice(&now_ms.to_be_bytes());
    let crc = crc32c::crc32c(&batch[ATTRIBUTES..]);
    batch[CRC..CRC + 4].copy_from_slice(&crc.to_be_bytes());
}

/// Iterates over consecutive batches in a buffer (a produce payload or a log file chunk),
/// stopping with an error at the first bad or incomplete batch.
pub struct BatchIter<'a> {
    buf: &'a [u8],
    position: usize,
    failed: bool,
}

impl<'a> BatchIter<'a> {
    pub fn new(buf: &'a [u8]) -> BatchIter<'a> {
        BatchIter {
            buf,
            position: 0,
            failed: false,
        }
    }

    /// Byte position of the next batch (after the iterator stops: the first byte not
    /// consumed as a whole batch).
    pub fn position(&self) -> usize {
        self.position
    }
}

impl<'a> Iterator for BatchIter<'a> {
    /// `(position of the batch in the buffer, batch)`.
    type Item = Result<(usize, RecordBatch<'a>), BatchError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.position >= self.buf.len() {
            return None;
        }
        let rest = &self.buf[self.position..];
        match RecordBatch::parse(rest) {
            Ok(batch) => {
                let at = self.position;
                self.position += batch.size_in_bytes();
                Some(Ok((at, batch)))
            }
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}
