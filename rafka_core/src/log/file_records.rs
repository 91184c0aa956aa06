//! `FileRecords`: a segment's `.log` file (Kafka's `FileRecords`) — append-only plain file I/O
//! (positional reads and writes, no mmap), scanning batch headers from a position, reading
//! whole batches for recovery, and the record-level walk needed for timestamp lookups and
//! produce validation (including decompression of the records section).
//!
//! Everything read from disk is untrusted: lengths are bounds-checked against the file size
//! and malformed data becomes an error or a "stop here", never a panic.

use std::borrow::Cow;
use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::record::batch::{LOG_OVERHEAD, MAGIC_V2, RECORD_BATCH_OVERHEAD};
use crate::record::varint::{read_varint, read_varlong};
use crate::record::{CompressionType, RecordBatch, TimestampType};

use super::error::{IoContext, LogError};
use super::time_index::{TimestampOffset, NO_TIMESTAMP};

/// Read-ahead used when scanning batch headers (one syscall per chunk, not per batch).
const HEADER_READ_AHEAD: usize = 16 * 1024;
/// Chunk used when reading whole batches sequentially (recovery).
const BATCH_READ_CHUNK: usize = 1024 * 1024;
/// Upper bound on a decompressed records section: protects against decompression bombs.
const MAX_DECOMPRESSED_BYTES: usize = 256 * 1024 * 1024;

/// A byte range of a `.log` file, handed to the network layer instead of a copy (Kafka's
/// `FileRecords.slice`). The `File` stays readable even after the segment is deleted or
/// renamed (an open descriptor keeps the inode).
#[derive(Clone, Debug)]
pub struct FileRange {
    pub file: Arc<File>,
    pub position: u64,
    pub len: u64,
}

impl FileRange {
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Copies the range into memory (tests, tools, and transports without sendfile).
    pub fn read_to_vec(&self) -> std::io::Result<Vec<u8>> {
        let len = usize::try_from(self.len)
            .map_err(|_| std::io::Error::other("file range too large for memory"))?;
        let mut buf = vec![0u8; len];
        self.file.read_exact_at(&mut buf, self.position)?;
        Ok(buf)
    }
}

/// The 61-byte header of a v2 batch found in a file, with its position.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchHeader {
    /// Byte position of the batch in the file.
    pub position: u64,
    /// Total size (LOG_OVERHEAD + batchLength).
    pub size: u32,
    pub base_offset: i64,
    pub partition_leader_epoch: i32,
    pub magic: i8,
    pub crc: u32,
    pub attributes: i16,
    pub last_offset_delta: i32,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub records_count: i32,
}

impl BatchHeader {
    /// Parses the header from the first 61 bytes of `b`.
    fn parse(position: u64, b: &[u8]) -> Option<BatchHeader> {
        let h = b.get(..RECORD_BATCH_OVERHEAD)?;
        let i16_at = |at: usize| i16::from_be_bytes([h[at], h[at + 1]]);
        let i32_at = |at: usize| i32::from_be_bytes([h[at], h[at + 1], h[at + 2], h[at + 3]]);
        let i64_at = |at: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&h[at..at + 8]);
            i64::from_be_bytes(a)
        };
        let size = u32::try_from(LOG_OVERHEAD as i64 + i32_at(8) as i64).ok()?;
        Some(BatchHeader {
            position,
            size,
            base_offset: i64_at(0),
            partition_leader_epoch: i32_at(12),
            magic: h[16] as i8,
            crc: i32_at(17) as u32,
            attributes: i16_at(21),
            last_offset_delta: i32_at(23),
            base_timestamp: i64_at(27),
            max_timestamp: i64_at(35),
            producer_id: i64_at(43),
            producer_epoch: i16_at(51),
            base_sequence: i32_at(53),
            records_count: i32_at(57),
        })
    }

    pub fn last_offset(&self) -> i64 {
        self.base_offset
            .saturating_add(self.last_offset_delta as i64)
    }

    pub fn next_offset(&self) -> i64 {
        self.last_offset().saturating_add(1)
    }

    pub fn timestamp_type(&self) -> TimestampType {
        if self.attributes & 0x08 != 0 {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        }
    }

    pub fn compression(&self) -> Option<CompressionType> {
        CompressionType::from_id((self.attributes & 0x07) as u8)
    }

    pub fn is_transactional(&self) -> bool {
        self.attributes & 0x10 != 0
    }

    pub fn is_control(&self) -> bool {
        self.attributes & 0x20 != 0
    }

    /// Byte position just after this batch.
    pub fn end_position(&self) -> u64 {
        self.position + self.size as u64
    }
}

/// The batch holding an offset: its last offset, position and size (Kafka's
/// `LogOffsetPosition`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogOffsetPosition {
    pub offset: i64,
    pub position: u64,
    pub size: u64,
}

/// A record found by timestamp (Kafka's `TimestampAndOffset`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimestampAndOffset {
    pub timestamp: i64,
    pub offset: i64,
    /// The partition leader epoch of the batch holding the record, if set.
    pub leader_epoch: Option<i32>,
}

/// One step of [`BatchReader`].
pub enum BatchStep<'a> {
    /// A complete batch (size and magic checked; CRC not checked).
    Batch { position: u64, bytes: &'a [u8] },
    /// Clean end of the file.
    End,
    /// Bytes at `position` are not a complete v2 batch.
    Invalid { position: u64, reason: String },
}

/// The `.log` file of a segment.
pub struct FileRecords {
    path: PathBuf,
    file: Arc<File>,
    /// Logical end: bytes of batches written. The file may be longer when preallocated.
    size: u64,
}

impl FileRecords {
    /// Opens `path`, creating it if missing. A new file is preallocated to `preallocate`
    /// bytes when given (Kafka's `log.preallocate`), with a logical size of 0; an existing
    /// file's size is its length (recovery cuts any invalid tail).
    pub fn open(path: &Path, preallocate: Option<u64>) -> Result<FileRecords, LogError> {
        let exists = path.exists();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .ctx(path)?;
        let size = if exists {
            file.metadata().ctx(path)?.len()
        } else {
            if let Some(len) = preallocate.filter(|l| *l > 0) {
                file.set_len(len).ctx(path)?;
            }
            0
        };
        Ok(FileRecords {
            path: path.to_path_buf(),
            file: Arc::new(file),
            size,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn file(&self) -> &Arc<File> {
        &self.file
    }

    /// Bytes of batches in the file.
    pub fn size_in_bytes(&self) -> u64 {
        self.size
    }

    /// Appends `bytes` at the logical end; returns the position they were written at. The
    /// file stays below 2 GiB so that index positions fit in an i32.
    pub fn append(&mut self, bytes: &[u8]) -> Result<u64, LogError> {
        let position = self.size;
        let end = position + bytes.len() as u64;
        if end > i32::MAX as u64 {
            return Err(LogError::InvalidArgument(format!(
                "append of {} bytes at position {position} would make {} larger than 2 GiB",
                bytes.len(),
                self.path.display()
            )));
        }
        self.file.write_all_at(bytes, position).ctx(&self.path)?;
        self.size = end;
        Ok(position)
    }

    /// Reads exactly `buf.len()` bytes at `position` (within the logical size).
    pub fn read_at(&self, buf: &mut [u8], position: u64) -> Result<(), LogError> {
        let end = position.checked_add(buf.len() as u64);
        if end.is_none_or(|e| e > self.size) {
            return Err(LogError::InvalidArgument(format!(
                "read of {} bytes at {position} beyond the end ({}) of {}",
                buf.len(),
                self.size,
                self.path.display()
            )));
        }
        self.file.read_exact_at(buf, position).ctx(&self.path)
    }

    /// A range of the file, clamped to the logical size.
    pub fn slice(&self, position: u64, len: u64) -> FileRange {
        let position = position.min(self.size);
        FileRange {
            file: Arc::clone(&self.file),
            position,
            len: len.min(self.size - position),
        }
    }

    /// Cuts the file to `size` bytes; returns the bytes removed. Growing is an error.
    pub fn truncate_to(&mut self, size: u64) -> Result<u64, LogError> {
        if size > self.size {
            return Err(LogError::InvalidArgument(format!(
                "cannot truncate {} of {} bytes to {size} bytes",
                self.path.display(),
                self.size
            )));
        }
        let file_len = self.file.metadata().ctx(&self.path)?.len();
        if file_len != size {
            self.file.set_len(size).ctx(&self.path)?;
        }
        let removed = self.size - size;
        self.size = size;
        Ok(removed)
    }

    /// Drops preallocated space past the logical end (on roll and close).
    pub fn trim(&mut self) -> Result<(), LogError> {
        let file_len = self.file.metadata().ctx(&self.path)?.len();
        if file_len > self.size {
            self.file.set_len(self.size).ctx(&self.path)?;
        }
        Ok(())
    }

    /// fsync (data and metadata, like Kafka's `force(true)`).
    pub fn flush(&self) -> Result<(), LogError> {
        self.file.sync_all().ctx(&self.path)
    }

    pub fn rename_to(&mut self, path: &Path) -> Result<(), LogError> {
        fs::rename(&self.path, path).ctx(&self.path)?;
        self.path = path.to_path_buf();
        Ok(())
    }

    /// Follows a rename of the partition directory.
    pub fn update_parent_dir(&mut self, dir: &Path) {
        if let Some(name) = self.path.file_name() {
            self.path = dir.join(name);
        }
    }

    /// Deletes the file (missing is fine). Open `FileRange`s keep reading the old inode.
    pub fn delete(self) -> Result<(), LogError> {
        match fs::remove_file(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(LogError::io(&self.path, e)),
        }
    }

    /// The file's modification time in ms since the epoch.
    pub fn last_modified_ms(&self) -> Result<i64, LogError> {
        let modified = self
            .file
            .metadata()
            .and_then(|m| m.modified())
            .ctx(&self.path)?;
        Ok(modified
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)))
    }

    /// Sets the modification time (ms since the epoch; negative is clamped to 0).
    pub fn set_last_modified_ms(&self, ms: i64) -> Result<(), LogError> {
        let t = UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0));
        self.file.set_modified(t).ctx(&self.path)
    }

    /// Iterates batch headers from `position` to the logical end. Stops silently at an
    /// incomplete batch at the end (Kafka's `FileLogInputStream` returns null there); a
    /// length below the v2 header size or a magic other than 2 is a `CorruptRecord` error.
    pub fn headers_from(&self, position: u64) -> HeaderIter<'_> {
        HeaderIter {
            records: self,
            position,
            buf: Vec::new(),
            buf_start: 0,
            done: false,
        }
    }

    /// Reads whole batches sequentially from `position` (for recovery and copying).
    pub fn batch_reader(&self, position: u64) -> BatchReader<'_> {
        BatchReader {
            records: self,
            position,
            buf: Vec::new(),
            buf_start: 0,
        }
    }

    /// Reads the whole batch described by `header`.
    pub fn read_batch(&self, header: &BatchHeader) -> Result<Vec<u8>, LogError> {
        let mut buf = vec![0u8; header.size as usize];
        self.read_at(&mut buf, header.position)?;
        Ok(buf)
    }

    /// The first batch at or after `start_position` whose last offset is ≥ `target` (Kafka's
    /// `searchForOffsetWithSize`).
    pub fn search_for_offset_with_size(
        &self,
        target: i64,
        start_position: u64,
    ) -> Result<Option<LogOffsetPosition>, LogError> {
        for header in self.headers_from(start_position) {
            let header = header?;
            if header.last_offset() >= target {
                return Ok(Some(LogOffsetPosition {
                    offset: header.last_offset(),
                    position: header.position,
                    size: header.size as u64,
                }));
            }
        }
        Ok(None)
    }

    /// The first record at or after `start_position` with timestamp ≥ `target` and offset ≥
    /// `starting_offset` (Kafka's `searchForTimestamp`). Batches whose max timestamp is below
    /// the target are skipped on their header alone.
    pub fn search_for_timestamp(
        &self,
        target: i64,
        start_position: u64,
        starting_offset: i64,
    ) -> Result<Option<TimestampAndOffset>, LogError> {
        for header in self.headers_from(start_position) {
            let header = header?;
            if header.max_timestamp < target || header.last_offset() < starting_offset {
                continue;
            }
            let bytes = self.read_batch(&header)?;
            let batch = RecordBatch::parse(&bytes)
                .map_err(|e| corrupt_at(&self.path, header.position, &e.to_string()))?;
            let mut found = None;
            for_each_record(&batch, |r| {
                let ts = record_timestamp(&batch, r);
                let offset = batch.base_offset() + r.offset_delta as i64;
                if ts >= target && offset >= starting_offset {
                    found = Some(TimestampAndOffset {
                        timestamp: ts,
                        offset,
                        leader_epoch: Some(batch.partition_leader_epoch()).filter(|e| *e >= 0),
                    });
                    false
                } else {
                    true
                }
            })
            .map_err(|e| corrupt_at(&self.path, header.position, &e))?;
            if found.is_some() {
                return Ok(found);
            }
        }
        Ok(None)
    }

    /// The largest batch max timestamp at or after `start_position`, with the last offset of
    /// its batch (Kafka's `largestTimestampAfter`); `(-1, -1)` when there is none.
    pub fn largest_timestamp_after(
        &self,
        start_position: u64,
    ) -> Result<TimestampOffset, LogError> {
        let mut best = TimestampOffset {
            timestamp: NO_TIMESTAMP,
            offset: -1,
        };
        for header in self.headers_from(start_position) {
            let header = header?;
            if header.max_timestamp > best.timestamp {
                best = TimestampOffset {
                    timestamp: header.max_timestamp,
                    offset: header.last_offset(),
                };
            }
        }
        Ok(best)
    }
}

impl std::fmt::Debug for FileRecords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileRecords")
            .field("path", &self.path)
            .field("size", &self.size)
            .finish()
    }
}

fn corrupt_at(path: &Path, position: u64, reason: &str) -> LogError {
    LogError::CorruptRecord(format!(
        "{} at position {position}: {reason}",
        path.display()
    ))
}

/// Iterator over batch headers; see [`FileRecords::headers_from`].
pub struct HeaderIter<'a> {
    records: &'a FileRecords,
    position: u64,
    buf: Vec<u8>,
    buf_start: u64,
    done: bool,
}

impl HeaderIter<'_> {
    /// The bytes at `self.position`, at most `want`, reading ahead when needed.
    fn window(&mut self, want: usize) -> Result<&[u8], LogError> {
        let end = self.records.size;
        let available = usize::try_from(end.saturating_sub(self.position)).unwrap_or(usize::MAX);
        let want = want.min(available);
        let in_buf = self.position >= self.buf_start
            && self.position + want as u64 <= self.buf_start + self.buf.len() as u64;
        if !in_buf {
            let len = HEADER_READ_AHEAD.max(want).min(available);
            self.buf.resize(len, 0);
            self.records.read_at(&mut self.buf, self.position)?;
            self.buf_start = self.position;
        }
        // `position - buf_start` and `want` are within the buffer by the check/refill above.
        let from = (self.position - self.buf_start) as usize;
        Ok(self.buf.get(from..from + want).unwrap_or(&[]))
    }
}

impl Iterator for HeaderIter<'_> {
    type Item = Result<BatchHeader, LogError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let end = self.records.size;
        if end.saturating_sub(self.position) < LOG_OVERHEAD as u64 {
            self.done = true;
            return None;
        }
        let position = self.position;
        let path = self.records.path.clone();
        let window = match self.window(RECORD_BATCH_OVERHEAD) {
            Ok(w) => w.to_vec(),
            Err(e) => {
                self.done = true;
                return Some(Err(e));
            }
        };
        let length = match window.get(8..12) {
            Some(b) => i32::from_be_bytes([b[0], b[1], b[2], b[3]]),
            None => {
                self.done = true;
                return None;
            }
        };
        if length < (RECORD_BATCH_OVERHEAD - LOG_OVERHEAD) as i32 {
            self.done = true;
            return Some(Err(corrupt_at(
                &path,
                position,
                &format!("batch length {length} is smaller than the v2 header"),
            )));
        }
        let size = LOG_OVERHEAD as u64 + length as u64;
        if position + size > end {
            // Incomplete batch at the end: not an error for readers.
            self.done = true;
            return None;
        }
        // size ≥ 61, so the whole header is in the window.
        let header = match BatchHeader::parse(position, &window) {
            Some(h) => h,
            None => {
                self.done = true;
                return Some(Err(corrupt_at(&path, position, "unreadable batch header")));
            }
        };
        if header.magic != MAGIC_V2 {
            self.done = true;
            return Some(Err(corrupt_at(
                &path,
                position,
                &format!("unsupported magic {}", header.magic),
            )));
        }
        self.position = header.end_position();
        Some(Ok(header))
    }
}

/// Sequential whole-batch reader; see [`FileRecords::batch_reader`].
pub struct BatchReader<'a> {
    records: &'a FileRecords,
    position: u64,
    buf: Vec<u8>,
    buf_start: u64,
}

impl BatchReader<'_> {
    /// Position of the next batch.
    pub fn position(&self) -> u64 {
        self.position
    }

    /// Reads `len` bytes at the current position into the buffer if not already there.
    fn ensure(&mut self, len: usize) -> Result<(), LogError> {
        let have = self.position >= self.buf_start
            && self.position + len as u64 <= self.buf_start + self.buf.len() as u64;
        if !have {
            let remaining = usize::try_from(self.records.size.saturating_sub(self.position))
                .unwrap_or(usize::MAX);
            let chunk = BATCH_READ_CHUNK.max(len).min(remaining);
            self.buf.resize(chunk, 0);
            self.records.read_at(&mut self.buf, self.position)?;
            self.buf_start = self.position;
        }
        Ok(())
    }

    /// The next complete batch, the clean end, or where the data stops being valid.
    pub fn next_batch(&mut self) -> Result<BatchStep<'_>, LogError> {
        let position = self.position;
        let remaining = self.records.size.saturating_sub(position);
        if remaining == 0 {
            return Ok(BatchStep::End);
        }
        let invalid = |reason: String| Ok(BatchStep::Invalid { position, reason });
        if remaining < RECORD_BATCH_OVERHEAD as u64 {
            return invalid(format!("{remaining} trailing bytes are not a whole batch"));
        }
        self.ensure(RECORD_BATCH_OVERHEAD)?;
        let from = (position - self.buf_start) as usize;
        let header = match self
            .buf
            .get(from..)
            .and_then(|b| BatchHeader::parse(position, b))
        {
            Some(h) => h,
            None => return invalid("unreadable batch header".into()),
        };
        if (header.size as usize) < RECORD_BATCH_OVERHEAD {
            return invalid(format!(
                "batch size {} is smaller than the v2 header",
                header.size
            ));
        }
        if header.size as u64 > remaining {
            return invalid(format!(
                "batch of {} bytes runs past the end of the file ({remaining} bytes left)",
                header.size
            ));
        }
        if header.magic != MAGIC_V2 {
            return invalid(format!("unsupported magic {}", header.magic));
        }
        let size = header.size as usize;
        self.ensure(size)?;
        self.position = position + size as u64;
        let from = (position - self.buf_start) as usize;
        match self.buf.get(from..from + size) {
            Some(bytes) => Ok(BatchStep::Batch { position, bytes }),
            None => invalid("batch beyond the read buffer".into()),
        }
    }
}

/// What the record walk exposes about one record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordMeta {
    pub timestamp_delta: i64,
    pub offset_delta: i32,
    /// −1 for a null key.
    pub key_len: i32,
    /// −1 for a null value (tombstone).
    pub value_len: i32,
}

/// The timestamp of a record: the batch max timestamp under LogAppendTime, else
/// base timestamp + delta (Kafka's `DefaultRecordBatch` rule).
pub fn record_timestamp(batch: &RecordBatch<'_>, r: &RecordMeta) -> i64 {
    match batch.timestamp_type() {
        TimestampType::LogAppendTime => batch.max_timestamp(),
        TimestampType::CreateTime => batch.base_timestamp().wrapping_add(r.timestamp_delta),
    }
}

/// The uncompressed records section of a batch (decompressed when needed).
pub fn records_section<'a>(batch: &RecordBatch<'a>) -> Result<Cow<'a, [u8]>, String> {
    let raw = batch.records_bytes();
    match batch.compression().map_err(|e| e.to_string())? {
        CompressionType::None => Ok(Cow::Borrowed(raw)),
        codec => crate::record::compression::decompress(codec, raw, MAX_DECOMPRESSED_BYTES)
            .map(Cow::Owned)
            .map_err(|e| e.to_string()),
    }
}

/// Walks every record of `batch` (decompressing if needed), calling `f` until it returns
/// false. Checks the record framing like Kafka's `DefaultRecord.readFrom`: each record's
/// length matches its fields, the count matches the header, and no bytes are left over.
pub fn for_each_record(
    batch: &RecordBatch<'_>,
    mut f: impl FnMut(&RecordMeta) -> bool,
) -> Result<(), String> {
    let section = records_section(batch)?;
    let mut rest: &[u8] = &section;
    let count = batch.records_count();
    if count < 0 {
        return Err(format!("negative record count {count}"));
    }
    for i in 0..count {
        let (len, n) = read_varint(rest).ok_or_else(|| format!("record {i}: bad length"))?;
        let len = usize::try_from(len).map_err(|_| format!("record {i}: negative length"))?;
        let body = rest
            .get(n..n + len)
            .ok_or_else(|| format!("record {i}: length {len} exceeds the batch"))?;
        let meta = parse_record_body(body).ok_or_else(|| format!("record {i}: malformed"))?;
        rest = &rest[n + len..];
        if !f(&meta) {
            return Ok(());
        }
    }
    if !rest.is_empty() {
        return Err(format!(
            "{} bytes left after the declared {count} records",
            rest.len()
        ));
    }
    Ok(())
}

/// Parses a record body (after its length); `None` unless the body is consumed exactly.
fn parse_record_body(body: &[u8]) -> Option<RecordMeta> {
    let mut at = 1usize; // attributes (unused)
    if body.is_empty() {
        return None;
    }
    let (timestamp_delta, n) = read_varlong(body.get(at..)?)?;
    at += n;
    let (offset_delta, n) = read_varint(body.get(at..)?)?;
    at += n;
    let (key_len, n) = read_varint(body.get(at..)?)?;
    at += n;
    at += skip_bytes(key_len, body.len() - at)?;
    let (value_len, n) = read_varint(body.get(at..)?)?;
    at += n;
    at += skip_bytes(value_len, body.len() - at)?;
    let (headers, n) = read_varint(body.get(at..)?)?;
    at += n;
    if headers < 0 {
        return None;
    }
    for _ in 0..headers {
        let (k, n) = read_varint(body.get(at..)?)?;
        at += n;
        if k < 0 {
            return None; // header keys are never null
        }
        at += skip_bytes(k, body.len() - at)?;
        let (v, n) = read_varint(body.get(at..)?)?;
        at += n;
        at += skip_bytes(v, body.len() - at)?;
    }
    (at == body.len()).then_some(RecordMeta {
        timestamp_delta,
        offset_delta,
        key_len,
        value_len,
    })
}

/// Bytes taken by a nullable field of length `len` (−1 = null) with `available` bytes left.
fn skip_bytes(len: i32, available: usize) -> Option<usize> {
    match len {
        -1 => Some(0),
        l if l < -1 => None,
        l => {
            let l = l as usize;
            (l <= available).then_some(l)
        }
    }
}

/// What the leader checks on every record of a client batch (Kafka's `LogValidator`
/// `validateRecord`), besides the framing.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ClientRecordChecks {
    /// The batch's base timestamp (records carry deltas from it).
    pub base_timestamp: i64,
    /// Keys are required (compacted topic).
    pub require_key: bool,
    /// `Some((now_ms, message.timestamp.difference.max.ms))` under CreateTime: each record's
    /// timestamp (unless −1) must be within that distance of now.
    pub timestamp_window: Option<(i64, i64)>,
}

/// Why [`check_client_records`] rejected a records section, in the order the checks run for
/// each record (framing, offset delta, key, timestamp).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ClientRecordError {
    /// The framing is broken; the same text as [`for_each_record`] gives.
    Framing(String),
    /// Record `index` carries offset delta `offset_delta` (they must be 0, 1, 2, …).
    OffsetDelta { index: i32, offset_delta: i32 },
    /// A null key on a topic that requires keys.
    MissingKey,
    /// A record timestamp outside the allowed window.
    Timestamp(i64),
}

/// What [`check_client_records`] learned: the max record timestamp (−1 if none is larger)
/// and the offset delta of the first record carrying it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ClientRecordsSummary {
    pub max_timestamp: i64,
    pub offset_delta_of_max_timestamp: Option<i32>,
}

/// The leader's per-record validation of an (uncompressed or decompressed) records section
/// in one pass: the framing checks of [`for_each_record`] (same order, same messages) fused
/// with the offset-delta, key and timestamp checks, stopping at the first failure. Equivalent
/// to `for_each_record` with a checking closure, without the per-record `RecordMeta` and
/// without re-slicing the record body for every field.
pub(crate) fn check_client_records(
    section: &[u8],
    count: i32,
    checks: &ClientRecordChecks,
) -> Result<ClientRecordsSummary, ClientRecordError> {
    if count < 0 {
        return Err(ClientRecordError::Framing(format!(
            "negative record count {count}"
        )));
    }
    let mut max_timestamp = NO_TIMESTAMP;
    let mut offset_delta_of_max_timestamp = None;
    let mut pos = 0usize;
    for i in 0..count {
        let rest = &section[pos..];
        let (len, n) = read_varint(rest)
            .ok_or_else(|| ClientRecordError::Framing(format!("record {i}: bad length")))?;
        let len = usize::try_from(len)
            .map_err(|_| ClientRecordError::Framing(format!("record {i}: negative length")))?;
        let body = rest.get(n..n + len).ok_or_else(|| {
            ClientRecordError::Framing(format!("record {i}: length {len} exceeds the batch"))
        })?;
        let (timestamp_delta, offset_delta, key_len) = parse_checked_record_body(body)
            .ok_or_else(|| ClientRecordError::Framing(format!("record {i}: malformed")))?;
        pos += n + len;
        if offset_delta != i {
            return Err(ClientRecordError::OffsetDelta {
                index: i,
                offset_delta,
            });
        }
        if checks.require_key && key_len < 0 {
            return Err(ClientRecordError::MissingKey);
        }
        let ts = checks.base_timestamp.wrapping_add(timestamp_delta);
        if let Some((now_ms, max_diff)) = checks.timestamp_window {
            if ts != NO_TIMESTAMP && (ts as i128 - now_ms as i128).abs() > max_diff as i128 {
                return Err(ClientRecordError::Timestamp(ts));
            }
        }
        if ts > max_timestamp {
            max_timestamp = ts;
            offset_delta_of_max_timestamp = Some(offset_delta);
        }
    }
    let left = section.len() - pos;
    if left != 0 {
        return Err(ClientRecordError::Framing(format!(
            "{left} bytes left after the declared {count} records"
        )));
    }
    Ok(ClientRecordsSummary {
        max_timestamp,
        offset_delta_of_max_timestamp,
    })
}

/// [`parse_record_body`] for the leader walk: the same structure checks, returning only
/// `(timestamp delta, offset delta, key length)`. `None` unless the body is consumed exactly.
#[inline]
fn parse_checked_record_body(body: &[u8]) -> Option<(i64, i32, i32)> {
    // attributes (unused), then the fields; `at` never exceeds `body.len()`.
    let mut at = 1usize;
    if body.is_empty() {
        return None;
    }
    let (timestamp_delta, n) = read_varlong(&body[at..])?;
    at += n;
    let (offset_delta, n) = read_varint(&body[at..])?;
    at += n;
    let (key_len, n) = read_varint(&body[at..])?;
    at += n;
    at += skip_bytes(key_len, body.len() - at)?;
    let (value_len, n) = read_varint(&body[at..])?;
    at += n;
    at += skip_bytes(value_len, body.len() - at)?;
    let (headers, n) = read_varint(&body[at..])?;
    at += n;
    if headers < 0 {
        return None;
    }
    for _ in 0..headers {
        let (k, n) = read_varint(&body[at..])?;
        at += n;
        if k < 0 {
            return None; // header keys are never null
        }
        at += skip_bytes(k, body.len() - at)?;
        let (v, n) = read_varint(&body[at..])?;
        at += n;
        at += skip_bytes(v, body.len() - at)?;
    }
    (at == body.len()).then_some((timestamp_delta, offset_delta, key_len))
}

/// Current wall-clock time in ms (for callers without an explicit clock).
pub(crate) fn wall_clock_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::builder::{assemble_batch, encode_records, BatchHeader as BuildHeader};
    use crate::record::{build_batch, ProducerInfo, SimpleRecord};
    use std::io::Write;

    fn batch(base: i64, timestamps: &[i64]) -> Vec<u8> {
        let records: Vec<SimpleRecord> = timestamps
            .iter()
            .map(|t| SimpleRecord::new(*t, Some(b"k"), Some(b"value")))
            .collect();
        build_batch(base, ProducerInfo::NONE, &records)
    }

    fn file_with(dir: &tempfile::TempDir, batches: &[Vec<u8>]) -> FileRecords {
        let mut fr = FileRecords::open(&dir.path().join("00000000000000000000.log"), None).unwrap();
        for b in batches {
            fr.append(b).unwrap();
        }
        fr
    }

    #[test]
    fn scans_headers_and_searches_offsets() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b, c) = (batch(0, &[10, 11]), batch(2, &[12]), batch(3, &[9, 20, 15]));
        let fr = file_with(&dir, &[a.clone(), b.clone(), c.clone()]);
        let headers: Vec<_> = fr.headers_from(0).map(Result::unwrap).collect();
        assert_eq!(headers.len(), 3);
        assert_eq!(headers[1].position, a.len() as u64);
        assert_eq!(headers[2].last_offset(), 5);
        let hit = fr.search_for_offset_with_size(3, 0).unwrap().unwrap();
        assert_eq!(hit.position, (a.len() + b.len()) as u64);
        assert_eq!(hit.offset, 5);
        assert_eq!(hit.size, c.len() as u64);
        assert!(fr.search_for_offset_with_size(6, 0).unwrap().is_none());
        let ts = fr.search_for_timestamp(14, 0, 0).unwrap().unwrap();
        assert_eq!((ts.timestamp, ts.offset), (20, 4));
        let ts = fr.search_for_timestamp(11, 0, 3).unwrap().unwrap();
        assert_eq!((ts.timestamp, ts.offset), (20, 4));
        assert!(fr.search_for_timestamp(21, 0, 0).unwrap().is_none());
        let largest = fr.largest_timestamp_after(0).unwrap();
        assert_eq!((largest.timestamp, largest.offset), (20, 5));
        let range = fr.slice(a.len() as u64, 1 << 20);
        assert_eq!(range.read_to_vec().unwrap(), [b, c].concat());
    }

    #[test]
    fn partial_tail_stops_headers_and_reader_reports_it() {
        let dir = tempfile::tempdir().unwrap();
        let a = batch(0, &[1]);
        let b = batch(1, &[2]);
        let mut fr = file_with(&dir, &[a.clone(), b[..b.len() - 3].to_vec()]);
        assert_eq!(fr.headers_from(0).count(), 1);
        let mut reader = fr.batch_reader(0);
        assert!(matches!(
            reader.next_batch().unwrap(),
            BatchStep::Batch { position: 0, .. }
        ));
        match reader.next_batch().unwrap() {
            BatchStep::Invalid { position, .. } => assert_eq!(position, a.len() as u64),
            _ => panic!("expected invalid tail"),
        }
        fr.truncate_to(a.len() as u64).unwrap();
        let mut reader = fr.batch_reader(0);
        assert!(matches!(
            reader.next_batch().unwrap(),
            BatchStep::Batch { .. }
        ));
        assert!(matches!(reader.next_batch().unwrap(), BatchStep::End));
    }

    #[test]
    fn garbage_length_is_corrupt_for_header_scans() {
        let dir = tempfile::tempdir().unwrap();
        let mut bad = batch(0, &[1]);
        bad[8..12].copy_from_slice(&3i32.to_be_bytes());
        let fr = file_with(&dir, &[bad]);
        assert!(matches!(
            fr.headers_from(0).next(),
            Some(Err(LogError::CorruptRecord(_)))
        ));
    }

    #[test]
    fn walks_records_of_compressed_batches() {
        let records = vec![
            SimpleRecord::new(100, Some(b"a"), Some(b"1")),
            SimpleRecord::new(300, None, Some(b"2")),
            SimpleRecord::new(200, Some(b"c"), None),
        ];
        let plain = encode_records(&records, 100);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&plain).unwrap();
        let mut lz = lz4_flex::frame::FrameEncoder::new(Vec::new());
        lz.write_all(&plain).unwrap();
        let mut xerial = vec![
            0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1,
        ];
        let block = snap::raw::Encoder::new().compress_vec(&plain).unwrap();
        xerial.extend_from_slice(&(block.len() as i32).to_be_bytes());
        xerial.extend_from_slice(&block);
        let sections = [
            (1i16, gz.finish().unwrap()),
            (2, xerial),
            (2, block),
            (3, lz.finish().unwrap()),
            (4, zstd::bulk::compress(&plain, 3).unwrap()),
        ];
        for (codec, section) in sections {
            let bytes = assemble_batch(
                &BuildHeader {
                    base_offset: 0,
                    partition_leader_epoch: -1,
                    attributes: codec,
                    last_offset_delta: 2,
                    base_timestamp: 100,
                    max_timestamp: 300,
                    producer: ProducerInfo::NONE,
                    records_count: 3,
                },
                &section,
            );
            let batch = RecordBatch::parse(&bytes).unwrap();
            let mut seen = Vec::new();
            for_each_record(&batch, |r| {
                seen.push((record_timestamp(&batch, r), r.offset_delta, r.key_len));
                true
            })
            .unwrap();
            assert_eq!(
                seen,
                vec![(100, 0, 1), (300, 1, -1), (200, 2, 1)],
                "codec {codec}"
            );
        }
    }

    #[test]
    fn record_walk_rejects_bad_framing() {
        let mut bytes = batch(0, &[1, 2]);
        // Claim three records where there are two.
        bytes[57..61].copy_from_slice(&3i32.to_be_bytes());
        let b = RecordBatch::parse(&bytes).unwrap();
        assert!(for_each_record(&b, |_| true).is_err());
        let mut bytes = batch(0, &[1, 2]);
        bytes[57..61].copy_from_slice(&1i32.to_be_bytes());
        let b = RecordBatch::parse(&bytes).unwrap();
        assert!(for_each_record(&b, |_| true).is_err());
    }

    /// The leader checks as they were written before the fused walk: `for_each_record` with
    /// a checking closure (the reference for `check_client_records`).
    fn reference_client_check(
        section: &[u8],
        count: i32,
        checks: &ClientRecordChecks,
    ) -> Result<ClientRecordsSummary, ClientRecordError> {
        let header = BuildHeader {
            base_offset: 0,
            partition_leader_epoch: -1,
            attributes: 0,
            last_offset_delta: count.max(1) - 1,
            base_timestamp: checks.base_timestamp,
            max_timestamp: checks.base_timestamp,
            producer: ProducerInfo::NONE,
            records_count: count,
        };
        let bytes = assemble_batch(&header, section);
        let batch = RecordBatch::parse(&bytes).unwrap();
        let mut summary = ClientRecordsSummary {
            max_timestamp: NO_TIMESTAMP,
            offset_delta_of_max_timestamp: None,
        };
        let mut index = 0;
        let mut failure = None;
        for_each_record(&batch, |r| {
            let ts = checks.base_timestamp.wrapping_add(r.timestamp_delta);
            failure = if r.offset_delta != index {
                Some(ClientRecordError::OffsetDelta {
                    index,
                    offset_delta: r.offset_delta,
                })
            } else if checks.require_key && r.key_len < 0 {
                Some(ClientRecordError::MissingKey)
            } else {
                checks.timestamp_window.and_then(|(now, max)| {
                    (ts != NO_TIMESTAMP && (ts as i128 - now as i128).abs() > max as i128)
                        .then_some(ClientRecordError::Timestamp(ts))
                })
            };
            if failure.is_some() {
                return false;
            }
            if ts > summary.max_timestamp {
                summary.max_timestamp = ts;
                summary.offset_delta_of_max_timestamp = Some(r.offset_delta);
            }
            index += 1;
            true
        })
        .map_err(ClientRecordError::Framing)?;
        match failure {
            Some(f) => Err(f),
            None => Ok(summary),
        }
    }

    fn sample_section() -> (Vec<u8>, i32) {
        let mut with_headers = SimpleRecord::new(1_000, Some(b"k2"), Some(&[7u8; 200]));
        with_headers.headers = vec![("h".to_string(), Some(b"v".to_vec())), ("n".into(), None)];
        let records = vec![
            SimpleRecord::new(1_000, Some(b"k"), Some(b"v")),
            SimpleRecord::new(900, None, Some(b"value")),
            with_headers,
            SimpleRecord::new(1_200, Some(b""), None),
        ];
        (encode_records(&records, 1_000), records.len() as i32)
    }

    #[test]
    fn fused_client_walk_matches_the_record_walk() {
        let (section, count) = sample_section();
        let configs = [
            ClientRecordChecks {
                base_timestamp: 1_000,
                require_key: false,
                timestamp_window: None,
            },
            ClientRecordChecks {
                base_timestamp: 1_000,
                require_key: true,
                timestamp_window: Some((1_100, 150)),
            },
        ];
        let ok = check_client_records(&section, count, &configs[0]).unwrap();
        assert_eq!(ok.max_timestamp, 1_200);
        assert_eq!(ok.offset_delta_of_max_timestamp, Some(3));
        assert_eq!(
            check_client_records(&section, count, &configs[1]),
            Err(ClientRecordError::MissingKey)
        );
        // Every single-byte corruption, a wrong count and truncations: same result (value or
        // error, including the framing message) as the closure-based walk.
        let mut cases = Vec::new();
        for at in 0..section.len() {
            for v in [0x00, 0x01, 0x7f, 0x80, 0xff, section[at] ^ 0x01] {
                let mut s = section.clone();
                s[at] = v;
                cases.push((s, count));
            }
        }
        for cut in 0..section.len() {
            cases.push((section[..cut].to_vec(), count));
        }
        for c in [0, 1, 3, 5, -1] {
            cases.push((section.clone(), c));
        }
        let mut rejected = 0;
        for (s, c) in &cases {
            for checks in &configs {
                let want = reference_client_check(s, *c, checks);
                assert_eq!(
                    check_client_records(s, *c, checks),
                    want,
                    "{s:02x?} count {c}"
                );
                rejected += usize::from(want.is_err());
            }
        }
        assert!(
            rejected > cases.len(),
            "the corruptions exercise the error paths"
        );
    }

    #[test]
    fn fused_client_walk_reports_each_error_kind() {
        let checks = ClientRecordChecks {
            base_timestamp: 1_000,
            require_key: false,
            timestamp_window: Some((1_000, 100)),
        };
        let (section, count) = sample_section();
        let framing_only = ClientRecordChecks {
            timestamp_window: None,
            ..checks
        };
        let framing = |s: &[u8], c: i32| match check_client_records(s, c, &framing_only) {
            Err(ClientRecordError::Framing(m)) => m,
            other => panic!("expected a framing error, got {other:?}"),
        };
        assert!(framing(&section, 3).ends_with(" bytes left after the declared 3 records"));
        assert_eq!(framing(&section, 5), "record 4: bad length");
        assert!(framing(&section[..section.len() - 1], count).starts_with("record 3: length "));
        assert_eq!(framing(&section, -1), "negative record count -1");
        // Record 0: length (1 byte), attributes, timestamp delta 0, then its offset delta.
        let mut bad_delta = section.clone();
        assert_eq!(bad_delta[3], 0);
        bad_delta[3] = 2; // zig-zag 1
        assert_eq!(
            check_client_records(&bad_delta, count, &checks),
            Err(ClientRecordError::OffsetDelta {
                index: 0,
                offset_delta: 1
            })
        );
        // 900 is exactly 100 ms from now (allowed); 1200 is not.
        assert_eq!(
            check_client_records(&section, count, &checks),
            Err(ClientRecordError::Timestamp(1_200))
        );
    }
}
