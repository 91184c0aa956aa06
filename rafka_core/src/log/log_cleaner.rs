//! Log compaction (Kafka's `LogCleaner` / `Cleaner`; spec log-format.md §10, §6, §1/§9).
//!
//! [`Cleaner`] compacts one log: it builds an [`OffsetMap`] (key → latest offset) over the
//! dirty range `[first dirty, first uncleanable)` (see
//! [`cleanable_offsets`]: never the active segment,
//! nothing at or above the high watermark, nothing in segments younger than
//! `min.compaction.lag.ms`), stopping early when the map is full; then it rewrites every
//! segment from the start of the log up to the end of the mapped range, grouped so each output
//! stays within `segment.bytes`, the index size limit and 32-bit relative offsets, into
//! `.cleaned` segments that [`Log::replace_segments`] swaps in (`.cleaned` → `.swap` → live,
//! old files `.deleted`), one group at a time. A crash at any point is completed or rolled back
//! by [`Log::open`]. The new first dirty offset is the end of the mapped range.
//!
//! # What is kept
//! * A keyed record is kept iff no later offset of its key is in the map (records past the
//!   mapped range are all kept). Records without a key are invalid on compacted topics: they
//!   are dropped and counted in [`CleanStats::invalid_records`].
//! * Tombstones (null values) that are the latest for their key are kept until their
//!   *delete horizon*, then dropped. A tombstone is dropped when either
//!   - its batch carries a delete horizon (attribute bit 6, Kafka 3.1+ / KIP-534: the base
//!     timestamp holds the horizon) and `now ≥ horizon`; the first cleaning that keeps a
//!     tombstone of the mapped range in a batch without one rewrites the batch with horizon =
//!     `now + delete.retention.ms`, so tombstones survive `delete.retention.ms` after the
//!     cleaning that first evaluated them (spec §10); the horizon stays while the batch still
//!     holds a tombstone; or
//!   - its batch has no horizon and the segment holding it is entirely older than
//!     `now − delete.retention.ms` by [`LogSegment::largest_timestamp`] (max record timestamp,
//!     file mtime when none). This is the time rule Kafka 2.8 applies relative to segment
//!     mtimes; with CreateTime it trusts producer timestamps, so a tombstone written with a
//!     timestamp older than `delete.retention.ms` may be dropped by its first cleaning.
//!
//!   Records keep their timestamps when the base timestamp changes (the deltas are rewritten);
//!   Kafka 2.8 readers ignore bit 6 and still compute every record timestamp correctly.
//! * Batches keep their base offset, last offset delta, partition leader epoch, producer id /
//!   epoch / base sequence, timestamp type and codec. A batch whose records are all kept (and
//!   that needs no horizon) is copied byte for byte; otherwise its kept records are re-encoded
//!   (unchanged bytes, same offset deltas) into a new batch and recompressed with the same
//!   codec. A batch left without records is dropped (Kafka's `DELETE_EMPTY`), except the
//!   batch holding the last data offset of a producer that is still *active* in the log's
//!   producer state (Kafka's `lastRecordsOfActiveProducers`, read under the log lock before
//!   each group): it is kept as an empty header-only batch (`RETAIN_EMPTY`, Kafka's
//!   `writeEmptyHeader`) with its offsets, producer id, epoch and base sequence, so the
//!   producer's last sequence and epoch survive compaction and a producer state rebuilt from
//!   the cleaned log still detects the duplicate of that batch and accepts the next sequence.
//!   Earlier emptied batches of the same producer and every emptied batch of a producer that
//!   expired (`producer.id.expiration.ms`) are dropped. Batches with kept records are never
//!   affected by this rule.
//! * Transactions are not implemented yet: control batches and transactional batches are
//!   copied as they are and never feed the offset map (so aborted data can never shadow a
//!   committed value; transactional records are simply not compacted). This also keeps every
//!   marker Kafka would keep for an active producer's epoch. Aborted-transaction removal and
//!   marker expiry are not done.
//!
//! # Concurrency
//! [`Cleaner::clean`] works on a `&mut Log` (the caller holds it for the whole cleaning).
//! [`Cleaner::clean_shared`] locks the `Mutex<Log>` only to plan (snapshot segment files) and
//! to swap each cleaned group in; the reading and writing happen unlocked on the immutable
//! non-active segments (open descriptors survive renames and deletions). Before each swap it
//! checks that the group's segments are unchanged (same file, same size, not active, same
//! directory, log open) and gives up otherwise ([`CleanerError::Aborted`]), deleting its
//! `.cleaned` output. `LogManager` still must call
//! [`LogCleaner::abort_and_pause`] before truncating or deleting a compacted log (as Kafka
//! does), because truncating and re-appending the same bytes would not be noticed.
//!
//! # Wiring into `LogManager` (for the lead)
//! ```text
//! // startup (after the logs are loaded), only if log.cleaner.enable:
//! let handle = log_manager_handle.clone();
//! let cleaner = Arc::new(LogCleaner::new(
//!     CleanerConfig::from_kafka_config(&kafka_config),
//!     move || handle.all_logs(),        // Vec<(TopicPartition, Arc<Mutex<Log>>)>
//! ));
//! cleaner.startup()?;                   // spawns log.cleaner.threads OS threads
//! // shutdown (before the logs are closed), from blocking context:
//! tokio::task::spawn_blocking(move || cleaner.shutdown()).await;
//! ```
//! * The threads pick the filthiest compacted log every round and sleep
//!   `log.cleaner.backoff.ms` when there is none. Checkpoints: each log dir's
//!   `cleaner-offset-checkpoint` is read every round and rewritten after each cleaning (only
//!   entries of logs the source still returns are kept). `LogManager` needs no checkpoint code
//!   of its own except the calls below.
//! * Before truncating a compacted log (follower truncation, `truncate_fully_and_start_at`):
//!   `cleaner.abort_and_pause(&tp)`, truncate, `cleaner.maybe_truncate_checkpoint(&data_dir,
//!   &tp, new_active_base)`, then `cleaner.resume_cleaning(&tp)`.
//! * Before deleting a partition: `cleaner.abort_cleaning(&tp)` then
//!   `cleaner.remove_from_checkpoint(&data_dir, &tp)`.
//! * Changing a topic's `cleanup.policy`: nothing needed (each round re-reads the configs).
//! * These calls block until an in-progress cleaning of that partition stopped: call them from
//!   `spawn_blocking`, never while holding the partition's `Log` lock.
//! * Retention: `LogManager` may keep running `delete_old_segments` on every log (including
//!   `compact,delete` ones); a cleaning racing with it notices the changed segments and aborts
//!   that round. The `.deleted` files the swap produces land in
//!   [`Log::take_pending_deletions`] like retention's.
//! * `log.cleaner.enable=false` (or 0 threads): `startup` starts nothing; Kafka does not create
//!   the cleaner at all in that case.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::cluster::TopicPartition;
use crate::config::{KafkaConfig, LogConfig};
use crate::record::batch::{LOG_OVERHEAD, MAGIC_V2, RECORD_BATCH_OVERHEAD};
use crate::record::builder::{assemble_batch, BatchHeader as NewBatchHeader, ProducerInfo};
use crate::record::record::DEFAULT_MAX_DECOMPRESSED_BYTES;
use crate::record::varint::{read_varint, read_varlong, write_varint, write_varlong};
use crate::record::{compress, decompress, CompressionType, RecordBatch, TimestampType};

use super::checkpoints::CheckpointError;
use super::cleaner_manager::{
    cleanable_offsets, lock_log, LogCleanerManager, LogCleaningState, SharedLog,
};
use super::error::LogError;
use super::log::Log;
use super::log_segment::{
    log_file, offset_index_file, time_index_file, txn_index_file, LogSegment, CLEANED_FILE_SUFFIX,
};
use super::offset_map::OffsetMap;

/// Attribute bit 6: the base timestamp holds the delete horizon (Kafka 3.1+).
const DELETE_HORIZON_FLAG: i16 = 0x40;
/// Attribute bits an empty producer batch keeps: timestamp type, transactional, control.
const EMPTY_BATCH_KEPT_ATTRIBUTES: i16 = 0x08 | 0x10 | 0x20;

// -------------------------------------------------------------------------- config

/// The cleaner's broker settings (Kafka's `CleanerConfig`).
#[derive(Clone, Debug, PartialEq)]
pub struct CleanerConfig {
    /// `log.cleaner.threads`.
    pub num_threads: usize,
    /// `log.cleaner.dedupe.buffer.size`: offset-map memory of all threads together.
    pub dedupe_buffer_size: i64,
    /// `log.cleaner.io.buffer.load.factor`: how full an offset map may get.
    pub dedupe_buffer_load_factor: f64,
    /// `log.cleaner.io.buffer.size`: read chunk size.
    pub io_buffer_size: usize,
    /// `message.max.bytes` (informational: batches are read whole whatever their size).
    pub max_message_size: usize,
    /// `log.cleaner.io.max.bytes.per.second` (shared by all threads).
    pub max_io_bytes_per_second: f64,
    /// `log.cleaner.backoff.ms`: sleep when no log needs cleaning.
    pub backoff_ms: i64,
    /// `log.cleaner.enable`.
    pub enable_cleaner: bool,
}

impl Default for CleanerConfig {
    /// Kafka's defaults.
    fn default() -> CleanerConfig {
        CleanerConfig {
            num_threads: 1,
            dedupe_buffer_size: 128 * 1024 * 1024,
            dedupe_buffer_load_factor: 0.9,
            io_buffer_size: 512 * 1024,
            max_message_size: 1_048_588,
            max_io_bytes_per_second: f64::MAX,
            backoff_ms: 15_000,
            enable_cleaner: true,
        }
    }
}

impl CleanerConfig {
    /// Reads the `log.cleaner.*` keys (and `message.max.bytes`) of the broker config.
    pub fn from_kafka_config(config: &KafkaConfig) -> CleanerConfig {
        let d = CleanerConfig::default();
        CleanerConfig {
            num_threads: config
                .get_int("log.cleaner.threads")
                .map_or(d.num_threads, |t| t.max(0) as usize),
            dedupe_buffer_size: config
                .get_long("log.cleaner.dedupe.buffer.size")
                .unwrap_or(d.dedupe_buffer_size),
            dedupe_buffer_load_factor: config
                .get_double("log.cleaner.io.buffer.load.factor")
                .unwrap_or(d.dedupe_buffer_load_factor),
            io_buffer_size: config
                .get_int("log.cleaner.io.buffer.size")
                .map_or(d.io_buffer_size, |s| s.max(0) as usize),
            max_message_size: config.message_max_bytes().max(0) as usize,
            max_io_bytes_per_second: config
                .get_double("log.cleaner.io.max.bytes.per.second")
                .unwrap_or(d.max_io_bytes_per_second),
            backoff_ms: config
                .get_long("log.cleaner.backoff.ms")
                .unwrap_or(d.backoff_ms),
            enable_cleaner: config.log_cleaner_enable(),
        }
    }

    /// Offset-map memory of one thread: `dedupe.buffer.size / threads`, at most `i32::MAX`
    /// bytes as in Kafka.
    pub fn offset_map_memory_per_thread(&self) -> usize {
        let per_thread = self.dedupe_buffer_size.max(0) / self.num_threads.max(1) as i64;
        per_thread.min(i32::MAX as i64) as usize
    }
}

// -------------------------------------------------------------------------- throttler

/// Kafka's `Throttler`: keeps the cleaners' combined I/O under
/// `log.cleaner.io.max.bytes.per.second` by sleeping (shared by all threads).
pub struct Throttler {
    bytes_per_second: f64,
    state: Mutex<(Instant, f64)>,
}

const THROTTLE_CHECK_INTERVAL: Duration = Duration::from_millis(300);

impl Throttler {
    pub fn new(bytes_per_second: f64) -> Throttler {
        Throttler {
            bytes_per_second,
            state: Mutex::new((Instant::now(), 0.0)),
        }
    }

    fn enabled(&self) -> bool {
        self.bytes_per_second.is_finite()
            && self.bytes_per_second > 0.0
            && self.bytes_per_second < f64::MAX / 2.0
    }

    /// Accounts `bytes` and sleeps if the observed rate is above the limit.
    pub fn maybe_throttle(&self, bytes: u64) {
        if !self.enabled() {
            return;
        }
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.1 += bytes as f64;
        let elapsed = state.0.elapsed();
        if elapsed < THROTTLE_CHECK_INTERVAL {
            return;
        }
        let secs = elapsed.as_secs_f64();
        if state.1 / secs > self.bytes_per_second {
            let sleep = (state.1 / self.bytes_per_second - secs).min(60.0);
            if sleep > 0.0 {
                std::thread::sleep(Duration::from_secs_f64(sleep));
            }
        }
        *state = (Instant::now(), 0.0);
    }
}

impl std::fmt::Debug for Throttler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Throttler")
            .field("bytes_per_second", &self.bytes_per_second)
            .finish()
    }
}

// -------------------------------------------------------------------------- stats, errors

/// What one cleaning did (Kafka's `CleanerStats`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CleanStats {
    /// Start of the dirty range (the checkpoint, clamped).
    pub first_dirty_offset: i64,
    /// End of the cleanable range (exclusive; a segment base).
    pub first_uncleanable_offset: i64,
    /// The new first dirty offset: end of the mapped (= cleaned) range. Equal to
    /// `first_dirty_offset` when there was nothing to clean.
    pub end_offset: i64,
    /// The offset map filled up before the end of the cleanable range.
    pub map_full: bool,
    /// Distinct keys mapped / slots.
    pub buffer_utilization: f64,
    pub map_records_read: u64,
    pub map_bytes_read: u64,
    /// Bytes of the rewritten segments.
    pub bytes_read: u64,
    /// Bytes of the `.cleaned` segments swapped in.
    pub bytes_written: u64,
    pub batches_read: u64,
    pub batches_written: u64,
    pub records_read: u64,
    pub records_kept: u64,
    /// Superseded records, expired tombstones and records without key.
    pub records_removed: u64,
    pub tombstones_removed: u64,
    /// Records without a key (invalid on compacted topics), dropped.
    pub invalid_records: u64,
    /// Emptied batches kept as headers for their producer's state.
    pub empty_batches_retained: u64,
    /// Old segments replaced.
    pub segments_cleaned: usize,
    /// New segments swapped in.
    pub segments_written: usize,
    pub elapsed_ms: u64,
}

/// Why [`Cleaner::clean_shared`] stopped.
#[derive(Debug, thiserror::Error)]
pub enum CleanerError {
    #[error(transparent)]
    Log(#[from] LogError),
    /// Aborted on request, at shutdown, or because the log changed underneath (nothing of the
    /// unfinished group was swapped in; earlier groups were).
    #[error("cleaning of {topic_partition} aborted: {reason}")]
    Aborted {
        topic_partition: TopicPartition,
        reason: String,
    },
}

fn corrupt(path: &Path, position: u64, reason: impl std::fmt::Display) -> LogError {
    LogError::CorruptRecord(format!(
        "{} at position {position}: {reason}",
        path.display()
    ))
}

// -------------------------------------------------------------------------- plan

/// A segment as the cleaner saw it when planning.
struct SegmentSnapshot {
    base_offset: i64,
    file: Arc<File>,
    path: PathBuf,
    size: u64,
    offset_index_bytes: u64,
    time_index_bytes: u64,
    /// Only for segments below the first uncleanable offset (0 otherwise).
    largest_timestamp: i64,
    last_modified_ms: i64,
}

struct CleanPlan {
    topic_partition: TopicPartition,
    dir: PathBuf,
    config: Arc<LogConfig>,
    first_dirty_offset: i64,
    first_uncleanable_offset: i64,
    /// Position of the batch holding the first dirty offset in its segment.
    dirty_start_position: u64,
    /// Every segment, oldest first (the active one with its size at planning time).
    segments: Vec<SegmentSnapshot>,
}

fn plan(log: &Log, first_dirty_offset: i64, now_ms: i64) -> Result<CleanPlan, LogError> {
    let offsets = cleanable_offsets(log, Some(first_dirty_offset), now_ms);
    let first_dirty = offsets.first_dirty_offset;
    let first_uncleanable = offsets.first_uncleanable_offset;
    let mut segments = Vec::new();
    let mut dirty_start_position = 0;
    if offsets.is_cleanable() {
        let dirty_segment = log
            .segments_range(first_dirty, first_dirty + 1)
            .first()
            .map(|s| s.base_offset());
        for s in log.segments() {
            let cleanable = s.base_offset() < first_uncleanable;
            if Some(s.base_offset()) == dirty_segment {
                dirty_start_position = s
                    .translate_offset(first_dirty, 0)?
                    .map_or(0, |p| p.position);
            }
            segments.push(SegmentSnapshot {
                base_offset: s.base_offset(),
                file: Arc::clone(s.log().file()),
                path: s.log_path().to_path_buf(),
                size: s.size(),
                offset_index_bytes: s.offset_index().size_in_bytes() as u64,
                time_index_bytes: s.time_index().size_in_bytes() as u64,
                largest_timestamp: if cleanable { s.largest_timestamp()? } else { 0 },
                last_modified_ms: if cleanable { s.last_modified_ms()? } else { 0 },
            });
        }
    }
    Ok(CleanPlan {
        topic_partition: log.topic_partition().clone(),
        dir: log.dir().to_path_buf(),
        config: Arc::clone(log.config()),
        first_dirty_offset: first_dirty,
        first_uncleanable_offset: first_uncleanable,
        dirty_start_position,
        segments,
    })
}

/// Kafka's `groupSegmentsBySize`: consecutive segments whose combined `.log` size stays within
/// `max_size`, whose index entries fit `max_index_size`, and whose offsets fit 32-bit relative
/// offsets from the group's base. Returns index ranges into `segments`.
fn group_segments_by_size(
    segments: &[&SegmentSnapshot],
    max_size: u64,
    max_index_size: u64,
    first_uncleanable_offset: i64,
) -> Vec<std::ops::Range<usize>> {
    let mut groups = Vec::new();
    let mut i = 0;
    while i < segments.len() {
        let start = i;
        let mut log_size = segments[i].size;
        let mut index_size = segments[i].offset_index_bytes;
        let mut time_index_size = segments[i].time_index_bytes;
        i += 1;
        while i < segments.len() {
            let next = segments[i];
            let last_offset = match segments.get(i + 1) {
                Some(after) => after.base_offset - 1,
                None => first_uncleanable_offset - 1,
            };
            let fits = log_size + next.size <= max_size
                && index_size + next.offset_index_bytes <= max_index_size
                && time_index_size + next.time_index_bytes <= max_index_size
                && (next.size == 0 || last_offset - segments[start].base_offset <= i32::MAX as i64);
            if !fits {
                break;
            }
            log_size += next.size;
            index_size += next.offset_index_bytes;
            time_index_size += next.time_index_bytes;
            i += 1;
        }
        groups.push(start..i);
    }
    groups
}

// -------------------------------------------------------------------------- reading

/// Sequential whole-batch reader over a segment snapshot (reads `chunk`-sized blocks; a
/// larger batch is read whole).
struct SegmentReader<'a> {
    segment: &'a SegmentSnapshot,
    position: u64,
    buf: Vec<u8>,
    buf_start: u64,
    chunk: usize,
}

impl<'a> SegmentReader<'a> {
    fn new(segment: &'a SegmentSnapshot, position: u64, chunk: usize) -> SegmentReader<'a> {
        SegmentReader {
            segment,
            position,
            buf: Vec::new(),
            buf_start: 0,
            chunk: chunk.max(RECORD_BATCH_OVERHEAD),
        }
    }

    fn ensure(&mut self, position: u64, len: usize) -> Result<(), LogError> {
        let buffered_end = self.buf_start + self.buf.len() as u64;
        if position >= self.buf_start && position + len as u64 <= buffered_end {
            return Ok(());
        }
        let remaining = self.segment.size - position;
        let n = (self.chunk.max(len) as u64).min(remaining) as usize;
        self.buf.resize(n, 0);
        self.segment
            .file
            .read_exact_at(&mut self.buf, position)
            .map_err(|e| LogError::io(&self.segment.path, e))?;
        self.buf_start = position;
        Ok(())
    }

    /// The next batch and its position; `None` at the end of the snapshot.
    fn next_batch(&mut self) -> Result<Option<(u64, &[u8])>, LogError> {
        let position = self.position;
        if position >= self.segment.size {
            return Ok(None);
        }
        let path = &self.segment.path;
        let remaining = self.segment.size - position;
        if remaining < RECORD_BATCH_OVERHEAD as u64 {
            return Err(corrupt(path, position, "trailing bytes are not a batch"));
        }
        self.ensure(position, RECORD_BATCH_OVERHEAD)?;
        let from = (position - self.buf_start) as usize;
        let header = &self.buf[from..from + RECORD_BATCH_OVERHEAD];
        let length = i32::from_be_bytes([header[8], header[9], header[10], header[11]]);
        if length < (RECORD_BATCH_OVERHEAD - LOG_OVERHEAD) as i32 {
            return Err(corrupt(path, position, format!("batch length {length}")));
        }
        if header[16] as i8 != MAGIC_V2 {
            return Err(corrupt(
                path,
                position,
                format!("magic {}", header[16] as i8),
            ));
        }
        let size = LOG_OVERHEAD as u64 + length as u64;
        if size > remaining {
            return Err(corrupt(
                path,
                position,
                "batch runs past the end of the segment",
            ));
        }
        self.ensure(position, size as usize)?;
        self.position = position + size;
        let from = (position - self.buf_start) as usize;
        Ok(Some((position, &self.buf[from..from + size as usize])))
    }
}

/// One record of a batch, zero-copy.
struct RawRecord<'a> {
    /// The record body (after its length varint): attributes through headers.
    body: &'a [u8],
    /// Bytes of `body` before the offset delta (attributes + timestamp delta).
    offset_delta_at: usize,
    timestamp_delta: i64,
    offset_delta: i32,
    key: Option<&'a [u8]>,
    has_value: bool,
}

/// Splits a (decompressed) records section into `count` records, strictly (Kafka's
/// `DefaultRecord.readFrom` checks).
fn parse_records(section: &[u8], count: i32) -> Result<Vec<RawRecord<'_>>, String> {
    if count < 0 {
        return Err(format!("negative record count {count}"));
    }
    let mut records = Vec::with_capacity((count as usize).min(section.len() / 7 + 1));
    let mut rest = section;
    for i in 0..count {
        let (len, n) = read_varint(rest).ok_or_else(|| format!("record {i}: bad length"))?;
        let len = usize::try_from(len).map_err(|_| format!("record {i}: negative length"))?;
        let body = rest
            .get(n..n + len)
            .ok_or_else(|| format!("record {i}: length {len} exceeds the batch"))?;
        records.push(parse_record_body(body).ok_or_else(|| format!("record {i}: malformed"))?);
        rest = &rest[n + len..];
    }
    if !rest.is_empty() {
        return Err(format!(
            "{} bytes left after the declared {count} records",
            rest.len()
        ));
    }
    Ok(records)
}

fn parse_record_body(body: &[u8]) -> Option<RawRecord<'_>> {
    let mut at = 1usize; // attributes
    if body.is_empty() {
        return None;
    }
    let (timestamp_delta, n) = read_varlong(body.get(at..)?)?;
    at += n;
    let offset_delta_at = at;
    let (offset_delta, n) = read_varint(body.get(at..)?)?;
    at += n;
    let (key_len, n) = read_varint(body.get(at..)?)?;
    at += n;
    let key = if key_len < 0 {
        None
    } else {
        let k = body.get(at..at + key_len as usize)?;
        at += key_len as usize;
        Some(k)
    };
    let (value_len, n) = read_varint(body.get(at..)?)?;
    at += n;
    if value_len > 0 {
        body.get(at..at + value_len as usize)?;
        at += value_len as usize;
    }
    let (headers, n) = read_varint(body.get(at..)?)?;
    at += n;
    if headers < 0 {
        return None;
    }
    for _ in 0..headers {
        let (klen, n) = read_varint(body.get(at..)?)?;
        if klen < 0 {
            return None;
        }
        at += n;
        body.get(at..at + klen as usize)?;
        at += klen as usize;
        let (vlen, n) = read_varint(body.get(at..)?)?;
        at += n;
        if vlen > 0 {
            body.get(at..at + vlen as usize)?;
            at += vlen as usize;
        }
    }
    (at == body.len()).then_some(RawRecord {
        body,
        offset_delta_at,
        timestamp_delta,
        offset_delta,
        key,
        has_value: value_len >= 0,
    })
}

/// Appends `record` with its timestamp delta moved by `shift` (old base − new base).
fn encode_record(out: &mut Vec<u8>, record: &RawRecord<'_>, shift: i64) {
    if shift == 0 {
        write_varint(out, record.body.len() as i32);
        out.extend_from_slice(record.body);
        return;
    }
    let mut head = Vec::with_capacity(11);
    head.push(record.body[0]);
    write_varlong(&mut head, record.timestamp_delta.wrapping_add(shift));
    let tail = &record.body[record.offset_delta_at..];
    write_varint(out, (head.len() + tail.len()) as i32);
    out.extend_from_slice(&head);
    out.extend_from_slice(tail);
}

/// What the cleaner must preserve of one active producer (Kafka's `LastRecord`): the last
/// offset of its last data batch (`None` when it wrote only markers since its epoch began)
/// and its epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct LastRecord {
    last_data_offset: Option<i64>,
    producer_epoch: i16,
}

/// Producer id → [`LastRecord`] of every producer the log's producer state still holds
/// (Kafka's `lastRecordsOfActiveProducers`); expired producers are absent.
type ActiveProducers = HashMap<i64, LastRecord>;

fn last_records_of_active_producers(log: &Log) -> ActiveProducers {
    log.producer_state()
        .active_producers()
        .iter()
        .map(|(&producer_id, entry)| {
            let last = entry.last_data_offset();
            let record = LastRecord {
                last_data_offset: (last >= 0).then_some(last),
                producer_epoch: entry.producer_epoch,
            };
            (producer_id, record)
        })
        .collect()
}

/// Kafka's `isBatchLastRecordOfProducer`: the batch holds the last data offset of an active
/// producer (so its last sequence), or is the marker carrying the epoch of an active producer
/// that wrote no data since. Batches of expired producers are not protected.
fn is_last_batch_of_active_producer(batch: &RecordBatch<'_>, active: &ActiveProducers) -> bool {
    batch.producer_id() >= 0
        && active
            .get(&batch.producer_id())
            .is_some_and(|last| match last.last_data_offset {
                Some(offset) => batch.last_offset() == offset,
                None => batch.is_control() && batch.producer_epoch() == last.producer_epoch,
            })
}

// -------------------------------------------------------------------------- filtering

enum BatchOutcome {
    /// Copy the original bytes.
    Keep,
    /// Write these bytes instead.
    Replace(Vec<u8>),
    Drop,
}

struct FilterContext {
    /// Records at or above this offset are beyond the mapped range: kept.
    end_offset: i64,
    /// Tombstones of horizon-less batches of this segment are expired (time rule).
    segment_tombstones_expired: bool,
    now_ms: i64,
    delete_retention_ms: i64,
}

/// The cleaner's `RecordFilter` for one batch (Kafka's `cleanInto` + `filterTo`).
fn filter_batch(
    path: &Path,
    position: u64,
    bytes: &[u8],
    map: &mut OffsetMap,
    ctx: &FilterContext,
    active: &ActiveProducers,
    stats: &mut CleanStats,
) -> Result<BatchOutcome, LogError> {
    let batch = RecordBatch::parse(bytes).map_err(|e| corrupt(path, position, e))?;
    batch
        .validate_crc()
        .map_err(|e| corrupt(path, position, e))?;
    stats.batches_read += 1;
    stats.bytes_read += bytes.len() as u64;
    if batch.is_control() || batch.is_transactional() {
        let count = batch.records_count().max(0) as u64;
        stats.records_read += count;
        stats.records_kept += count;
        return Ok(BatchOutcome::Keep);
    }
    let codec = batch
        .compression()
        .map_err(|e| corrupt(path, position, e))?;
    let section: Cow<'_, [u8]> = match codec {
        CompressionType::None => Cow::Borrowed(batch.records_bytes()),
        c => Cow::Owned(
            decompress(c, batch.records_bytes(), DEFAULT_MAX_DECOMPRESSED_BYTES)
                .map_err(|e| corrupt(path, position, e))?,
        ),
    };
    let records =
        parse_records(&section, batch.records_count()).map_err(|e| corrupt(path, position, e))?;
    stats.records_read += records.len() as u64;

    let horizon = batch.has_delete_horizon().then(|| batch.base_timestamp());
    let tombstones_expired = match horizon {
        Some(h) => ctx.now_ms >= h,
        None => ctx.segment_tombstones_expired,
    };
    let mut kept = Vec::with_capacity(records.len());
    // Kept tombstones at all / among the records evaluated against the map.
    let mut kept_tombstone = false;
    let mut kept_evaluated_tombstone = false;
    for record in &records {
        let offset = batch.base_offset() + record.offset_delta as i64;
        let retain = if offset >= ctx.end_offset {
            true
        } else {
            match record.key {
                None => {
                    stats.invalid_records += 1;
                    false
                }
                Some(key) => {
                    let latest = map.get(key).is_none_or(|o| offset >= o);
                    if !latest {
                        false
                    } else if !record.has_value && tombstones_expired {
                        stats.tombstones_removed += 1;
                        false
                    } else {
                        true
                    }
                }
            }
        };
        if retain {
            kept_tombstone |= !record.has_value;
            kept_evaluated_tombstone |= !record.has_value && offset < ctx.end_offset;
            kept.push(record);
        }
    }
    stats.records_kept += kept.len() as u64;
    stats.records_removed += (records.len() - kept.len()) as u64;

    if kept.is_empty() {
        // Kafka's BatchRetention: RETAIN_EMPTY for the batch holding an active producer's last
        // sequence (its header is what rebuilds the producer's state), DELETE_EMPTY otherwise.
        if is_last_batch_of_active_producer(&batch, active) {
            stats.empty_batches_retained += 1;
            return Ok(if records.is_empty() {
                BatchOutcome::Keep
            } else {
                BatchOutcome::Replace(empty_batch(&batch))
            });
        }
        return Ok(BatchOutcome::Drop);
    }
    // A horizon is set when a tombstone survives its first evaluation (tombstones past the
    // mapped range were not evaluated yet), and kept while the batch holds tombstones.
    let new_horizon = match horizon {
        Some(h) if kept_tombstone => Some(h),
        Some(_) => None,
        None if kept_evaluated_tombstone => {
            Some(ctx.now_ms.saturating_add(ctx.delete_retention_ms))
        }
        None => None,
    };
    if kept.len() == records.len() && new_horizon == horizon {
        return Ok(BatchOutcome::Keep);
    }

    // Re-encode the kept records (same bytes and offset deltas) into a new batch.
    let old_base_ts = batch.base_timestamp();
    let new_base_ts = match (new_horizon, horizon) {
        (Some(h), _) => h,
        // The horizon goes away: base the timestamps on the first kept record again.
        (None, Some(_)) => old_base_ts.wrapping_add(kept[0].timestamp_delta),
        (None, None) => old_base_ts,
    };
    let shift = old_base_ts.wrapping_sub(new_base_ts);
    let mut section = Vec::with_capacity(section.len());
    for record in &kept {
        encode_record(&mut section, record, shift);
    }
    let max_timestamp = match batch.timestamp_type() {
        TimestampType::LogAppendTime => batch.max_timestamp(),
        TimestampType::CreateTime => kept
            .iter()
            .map(|r| old_base_ts.wrapping_add(r.timestamp_delta))
            .max()
            .unwrap_or(-1),
    };
    let section = match codec {
        CompressionType::None => section,
        c => compress(c, &section).map_err(|e| corrupt(path, position, e))?,
    };
    let mut attributes = batch.attributes() & !DELETE_HORIZON_FLAG;
    if new_horizon.is_some() {
        attributes |= DELETE_HORIZON_FLAG;
    }
    let header = NewBatchHeader {
        base_offset: batch.base_offset(),
        partition_leader_epoch: batch.partition_leader_epoch(),
        attributes,
        last_offset_delta: batch.last_offset_delta(),
        base_timestamp: new_base_ts,
        max_timestamp,
        producer: producer_info(&batch),
        records_count: kept.len() as i32,
    };
    Ok(BatchOutcome::Replace(assemble_batch(&header, &section)))
}

fn producer_info(batch: &RecordBatch<'_>) -> ProducerInfo {
    ProducerInfo {
        producer_id: batch.producer_id(),
        producer_epoch: batch.producer_epoch(),
        base_sequence: batch.base_sequence(),
    }
}

/// Kafka's `DefaultRecordBatch.writeEmptyHeader`: same offsets, producer fields, epoch and
/// max timestamp, no records, no compression, base timestamp −1.
fn empty_batch(batch: &RecordBatch<'_>) -> Vec<u8> {
    let header = NewBatchHeader {
        base_offset: batch.base_offset(),
        partition_leader_epoch: batch.partition_leader_epoch(),
        attributes: batch.attributes() & EMPTY_BATCH_KEPT_ATTRIBUTES,
        last_offset_delta: batch.last_offset_delta(),
        base_timestamp: -1,
        max_timestamp: batch.max_timestamp(),
        producer: producer_info(batch),
        records_count: 0,
    };
    assemble_batch(&header, &[])
}

// -------------------------------------------------------------------------- cleaner

/// How the cleaner reaches the log: held for the whole cleaning, or locked per step.
trait LogAccess {
    fn with_log<R>(&mut self, f: impl FnOnce(&mut Log) -> R) -> R;
}

struct Held<'a>(&'a mut Log);

impl LogAccess for Held<'_> {
    fn with_log<R>(&mut self, f: impl FnOnce(&mut Log) -> R) -> R {
        f(self.0)
    }
}

struct Locked<'a>(&'a Mutex<Log>);

impl LogAccess for Locked<'_> {
    fn with_log<R>(&mut self, f: impl FnOnce(&mut Log) -> R) -> R {
        f(&mut lock_log(self.0))
    }
}

/// Compacts logs with its own [`OffsetMap`] (Kafka's `Cleaner`: one per cleaner thread).
pub struct Cleaner {
    map: OffsetMap,
    io_buffer_size: usize,
    throttler: Arc<Throttler>,
}

impl std::fmt::Debug for Cleaner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cleaner").field("map", &self.map).finish()
    }
}

impl Cleaner {
    /// A cleaner with `config.offset_map_memory_per_thread()` bytes of offset map (allocated on
    /// first use) and its own throttler.
    pub fn new(config: &CleanerConfig) -> Cleaner {
        Self::with_throttler(
            config,
            Arc::new(Throttler::new(config.max_io_bytes_per_second)),
        )
    }

    /// Like [`Cleaner::new`] with a throttler shared with other cleaners.
    pub fn with_throttler(config: &CleanerConfig, throttler: Arc<Throttler>) -> Cleaner {
        Cleaner {
            map: OffsetMap::new(
                config.offset_map_memory_per_thread(),
                config.dedupe_buffer_load_factor,
            ),
            io_buffer_size: config.io_buffer_size,
            throttler,
        }
    }

    pub fn offset_map(&self) -> &OffsetMap {
        &self.map
    }

    /// Compacts `log` from `first_dirty_offset` (the checkpoint; clamped/reset as in
    /// [`cleanable_offsets`]) holding it for the whole cleaning; see the module doc. The
    /// caller decides whether the log deserves it (this does not check `cleanup.policy` or the
    /// dirty ratio). Returns the stats; [`CleanStats::end_offset`] is the new first dirty
    /// offset to checkpoint.
    pub fn clean(
        &mut self,
        log: &mut Log,
        first_dirty_offset: i64,
        now_ms: i64,
    ) -> Result<CleanStats, LogError> {
        match self.run(&mut Held(log), first_dirty_offset, now_ms, &|| false) {
            Ok(stats) => Ok(stats),
            Err(CleanerError::Log(e)) => Err(e),
            // Only possible if the log was closed under us.
            Err(e @ CleanerError::Aborted { .. }) => Err(LogError::InvalidArgument(e.to_string())),
        }
    }

    /// Like [`Cleaner::clean`] but locks `log` only to plan and to swap each group in (see the
    /// module doc). `should_abort` is polled between batches and before each swap.
    pub fn clean_shared(
        &mut self,
        log: &Mutex<Log>,
        first_dirty_offset: i64,
        now_ms: i64,
        should_abort: &dyn Fn() -> bool,
    ) -> Result<CleanStats, CleanerError> {
        self.run(&mut Locked(log), first_dirty_offset, now_ms, should_abort)
    }

    fn run(
        &mut self,
        access: &mut impl LogAccess,
        first_dirty_offset: i64,
        now_ms: i64,
        should_abort: &dyn Fn() -> bool,
    ) -> Result<CleanStats, CleanerError> {
        let started = Instant::now();
        let plan = access.with_log(|log| plan(log, first_dirty_offset, now_ms))?;
        let mut stats = CleanStats {
            first_dirty_offset: plan.first_dirty_offset,
            first_uncleanable_offset: plan.first_uncleanable_offset,
            end_offset: plan.first_dirty_offset,
            ..CleanStats::default()
        };
        if plan.segments.is_empty() {
            return Ok(stats);
        }
        let tp = plan.topic_partition.clone();
        let check = |stage: &str| -> Result<(), CleanerError> {
            if should_abort() {
                Err(CleanerError::Aborted {
                    topic_partition: tp.clone(),
                    reason: format!("requested while {stage}"),
                })
            } else {
                Ok(())
            }
        };
        tracing::info!(
            "cleaning {}: building the offset map over [{}, {})",
            tp,
            plan.first_dirty_offset,
            plan.first_uncleanable_offset
        );
        let result = self.execute(access, &plan, now_ms, &mut stats, &check);
        if let Err(CleanerError::Log(e)) = &result {
            // Reading or writing failed: if the log changed meanwhile (truncated, deleted…)
            // that is why; report an abort rather than a broken log.
            let uncleanable = plan.first_uncleanable_offset;
            let changed = access.with_log(|log| {
                changed_since_plan(
                    log,
                    &plan,
                    plan.segments.iter().filter(|s| s.base_offset < uncleanable),
                )
            });
            if let Some(reason) = changed {
                return Err(CleanerError::Aborted {
                    topic_partition: tp,
                    reason: format!("{reason} during cleaning ({e})"),
                });
            }
        }
        result?;
        stats.elapsed_ms = started.elapsed().as_millis() as u64;
        tracing::info!(
            "cleaned {tp} up to offset {} in {} ms: read {} bytes / {} records, \
             wrote {} bytes / {} records ({} removed: {} tombstones, {} without key), \
             {} segments into {}, offset map {:.1}% full",
            stats.end_offset,
            stats.elapsed_ms,
            stats.bytes_read,
            stats.records_read,
            stats.bytes_written,
            stats.records_kept,
            stats.records_removed,
            stats.tombstones_removed,
            stats.invalid_records,
            stats.segments_cleaned,
            stats.segments_written,
            stats.buffer_utilization * 100.0
        );
        if stats.invalid_records > 0 {
            tracing::warn!(
                "dropped {} records without a key while cleaning compacted log {tp}",
                stats.invalid_records
            );
        }
        Ok(stats)
    }

    /// The unlocked part of a cleaning: offset map, then each group cleaned and swapped in.
    fn execute(
        &mut self,
        access: &mut impl LogAccess,
        plan: &CleanPlan,
        now_ms: i64,
        stats: &mut CleanStats,
        check: &dyn Fn(&str) -> Result<(), CleanerError>,
    ) -> Result<(), CleanerError> {
        let (end_offset, map_full) = self.build_offset_map(plan, stats, check)?;
        stats.end_offset = end_offset;
        stats.map_full = map_full;
        stats.buffer_utilization = self.map.utilization();

        let cleanable: Vec<&SegmentSnapshot> = plan
            .segments
            .iter()
            .filter(|s| s.base_offset < end_offset)
            .collect();
        let groups = group_segments_by_size(
            &cleanable,
            plan.config.segment_bytes.max(0) as u64,
            plan.config.segment_index_bytes.max(0) as u64,
            plan.first_uncleanable_offset,
        );
        for range in groups {
            let group = &cleanable[range];
            // Read per group, as Kafka's cleanSegments does: a producer appending meanwhile
            // only moves its last batch forward (into the uncleaned tail).
            let active = access.with_log(|log| last_records_of_active_producers(log));
            let cleaned =
                self.clean_group(plan, group, end_offset, now_ms, &active, stats, check)?;
            let written = cleaned.size();
            access.with_log(|log| swap_in(log, plan, group, cleaned, check))?;
            stats.bytes_written += written;
            stats.segments_cleaned += group.len();
            stats.segments_written += 1;
        }
        Ok(())
    }

    /// Kafka's `buildOffsetMap`: maps every keyed record of `[first dirty, first uncleanable)`
    /// until the map is full. Returns the end of the mapped range and whether it filled up.
    fn build_offset_map(
        &mut self,
        plan: &CleanPlan,
        stats: &mut CleanStats,
        check: &dyn Fn(&str) -> Result<(), CleanerError>,
    ) -> Result<(i64, bool), CleanerError> {
        self.map.clear();
        let first_dirty = plan.first_dirty_offset;
        let end = plan.first_uncleanable_offset;
        let max_desired = self.map.max_desired_size();
        let dirty: Vec<&SegmentSnapshot> = {
            let start = plan
                .segments
                .iter()
                .rposition(|s| s.base_offset <= first_dirty)
                .unwrap_or(0);
            plan.segments[start..]
                .iter()
                .take_while(|s| s.base_offset < end)
                .collect()
        };
        for (i, segment) in dirty.iter().enumerate() {
            let position = if i == 0 { plan.dirty_start_position } else { 0 };
            let mut reader = SegmentReader::new(segment, position, self.io_buffer_size);
            while let Some((position, bytes)) = reader.next_batch()? {
                check("building the offset map")?;
                let path = &segment.path;
                let batch = RecordBatch::parse(bytes).map_err(|e| corrupt(path, position, e))?;
                batch
                    .validate_crc()
                    .map_err(|e| corrupt(path, position, e))?;
                stats.map_bytes_read += bytes.len() as u64;
                self.throttler.maybe_throttle(bytes.len() as u64);
                if batch.is_control()
                    || batch.is_transactional()
                    || batch.last_offset() < first_dirty
                {
                    stats.map_records_read += batch.records_count().max(0) as u64;
                    continue;
                }
                let codec = batch
                    .compression()
                    .map_err(|e| corrupt(path, position, e))?;
                let section: Cow<'_, [u8]> = match codec {
                    CompressionType::None => Cow::Borrowed(batch.records_bytes()),
                    c => Cow::Owned(
                        decompress(c, batch.records_bytes(), DEFAULT_MAX_DECOMPRESSED_BYTES)
                            .map_err(|e| corrupt(path, position, e))?,
                    ),
                };
                let records = parse_records(&section, batch.records_count())
                    .map_err(|e| corrupt(path, position, e))?;
                for record in records {
                    let offset = batch.base_offset() + record.offset_delta as i64;
                    if offset >= end {
                        break;
                    }
                    if let Some(key) = record.key {
                        if offset >= first_dirty {
                            if self.map.size() >= max_desired {
                                tracing::debug!(
                                    "offset map of {} is full at offset {offset}",
                                    plan.topic_partition
                                );
                                return Ok((self.map.latest_offset() + 1, true));
                            }
                            self.map.put(key, offset);
                        }
                    }
                    stats.map_records_read += 1;
                }
            }
        }
        Ok((end, false))
    }

    /// Kafka's `cleanSegments`: writes the kept batches of `group` into a new `.cleaned`
    /// segment at the group's base offset (flushed, indexes trimmed, mtime of the group's last
    /// segment). The segment is deleted again on error.
    #[allow(clippy::too_many_arguments)]
    fn clean_group(
        &mut self,
        plan: &CleanPlan,
        group: &[&SegmentSnapshot],
        end_offset: i64,
        now_ms: i64,
        active: &ActiveProducers,
        stats: &mut CleanStats,
        check: &dyn Fn(&str) -> Result<(), CleanerError>,
    ) -> Result<LogSegment, CleanerError> {
        let base = group[0].base_offset;
        for stale in [
            log_file(&plan.dir, base, CLEANED_FILE_SUFFIX),
            offset_index_file(&plan.dir, base, CLEANED_FILE_SUFFIX),
            time_index_file(&plan.dir, base, CLEANED_FILE_SUFFIX),
            txn_index_file(&plan.dir, base, CLEANED_FILE_SUFFIX),
        ] {
            match std::fs::remove_file(&stale) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(LogError::io(&stale, e).into())
                }
                _ => {}
            }
        }
        let mut cleaned =
            LogSegment::create(&plan.dir, base, &plan.config, now_ms, CLEANED_FILE_SUFFIX)?;
        let delete_retention_ms = plan.config.delete_retention_ms.max(0);
        let mut fill = || -> Result<(), CleanerError> {
            for segment in group {
                let ctx = FilterContext {
                    end_offset,
                    segment_tombstones_expired: segment.largest_timestamp
                        < now_ms.saturating_sub(delete_retention_ms),
                    now_ms,
                    delete_retention_ms,
                };
                tracing::debug!(
                    "cleaning segment {} of {} into {base} ({} tombstones by segment age)",
                    segment.base_offset,
                    plan.topic_partition,
                    if ctx.segment_tombstones_expired {
                        "discarding"
                    } else {
                        "retaining"
                    }
                );
                let mut reader = SegmentReader::new(segment, 0, self.io_buffer_size);
                while let Some((position, bytes)) = reader.next_batch()? {
                    check("cleaning segments")?;
                    self.throttler.maybe_throttle(bytes.len() as u64);
                    let outcome = filter_batch(
                        &segment.path,
                        position,
                        bytes,
                        &mut self.map,
                        &ctx,
                        active,
                        stats,
                    )?;
                    let out: Cow<'_, [u8]> = match outcome {
                        BatchOutcome::Drop => continue,
                        BatchOutcome::Keep => Cow::Borrowed(bytes),
                        BatchOutcome::Replace(b) => Cow::Owned(b),
                    };
                    let batch = RecordBatch::parse(&out)
                        .map_err(|e| corrupt(&segment.path, position, e))?;
                    cleaned.append(
                        batch.last_offset(),
                        batch.max_timestamp(),
                        batch.last_offset(),
                        &out,
                    )?;
                    stats.batches_written += 1;
                    self.throttler.maybe_throttle(out.len() as u64);
                }
            }
            cleaned.on_become_inactive()?;
            cleaned.flush()?;
            if let Some(last) = group.last() {
                cleaned.set_last_modified_ms(last.last_modified_ms)?;
            }
            Ok(())
        };
        match fill() {
            Ok(()) => Ok(cleaned),
            Err(e) => {
                if let Err(d) = cleaned.delete() {
                    tracing::warn!("could not delete an unfinished cleaned segment: {d}");
                }
                Err(e)
            }
        }
    }
}

/// Why the snapshots of `segments` no longer describe `log` (`None`: they still do).
fn changed_since_plan<'s>(
    log: &Log,
    plan: &CleanPlan,
    mut segments: impl Iterator<Item = &'s SegmentSnapshot>,
) -> Option<String> {
    let active_base = log.active_segment().map_or(i64::MIN, |s| s.base_offset());
    if log.is_closed() {
        Some("the log was closed".to_string())
    } else if log.dir() != plan.dir {
        Some("the log directory moved".to_string())
    } else {
        segments.find_map(|snap| {
            let current = log
                .segments_range(snap.base_offset, snap.base_offset + 1)
                .into_iter()
                .find(|s| s.base_offset() == snap.base_offset);
            match current {
                None => Some(format!("segment {} was removed", snap.base_offset)),
                Some(s) if !Arc::ptr_eq(s.log().file(), &snap.file) || s.size() != snap.size => {
                    Some(format!("segment {} changed", snap.base_offset))
                }
                Some(_) if snap.base_offset >= active_base => {
                    Some(format!("segment {} became active", snap.base_offset))
                }
                Some(_) => None,
            }
        })
    }
}

/// Swaps one cleaned group in (under the log lock) if the group's segments are unchanged.
fn swap_in(
    log: &mut Log,
    plan: &CleanPlan,
    group: &[&SegmentSnapshot],
    cleaned: LogSegment,
    check: &dyn Fn(&str) -> Result<(), CleanerError>,
) -> Result<(), CleanerError> {
    let problem = changed_since_plan(log, plan, group.iter().copied());
    let problem = match (problem, check("swapping segments")) {
        (Some(p), _) => Some(p),
        (None, Err(CleanerError::Aborted { reason, .. })) => Some(reason),
        (None, _) => None,
    };
    if let Some(reason) = problem {
        if let Err(e) = cleaned.delete() {
            tracing::warn!("could not delete an unused cleaned segment: {e}");
        }
        return Err(CleanerError::Aborted {
            topic_partition: plan.topic_partition.clone(),
            reason,
        });
    }
    let old: Vec<i64> = group.iter().map(|s| s.base_offset).collect();
    tracing::info!(
        "swapping in cleaned segment {} for segments {old:?} of {}",
        cleaned.base_offset(),
        plan.topic_partition
    );
    log.replace_segments(vec![cleaned], &old, false)?;
    Ok(())
}

// -------------------------------------------------------------------------- LogCleaner

/// Where the cleaner threads get the logs from (the log manager's live logs). Implemented
/// for closures `Fn() -> Vec<(TopicPartition, Arc<Mutex<Log>>)>`.
pub trait CleanerLogSource: Send + Sync {
    fn logs(&self) -> Vec<(TopicPartition, SharedLog)>;
}

impl<F> CleanerLogSource for F
where
    F: Fn() -> Vec<(TopicPartition, SharedLog)> + Send + Sync,
{
    fn logs(&self) -> Vec<(TopicPartition, SharedLog)> {
        self()
    }
}

/// The outcome of one [`LogCleaner::clean_once`] round.
#[derive(Debug)]
pub enum CleanRound {
    /// No compacted log needed cleaning.
    Idle,
    Cleaned {
        topic_partition: TopicPartition,
        stats: CleanStats,
    },
    Aborted {
        topic_partition: TopicPartition,
        reason: String,
    },
    /// The partition is now marked uncleanable.
    Failed {
        topic_partition: TopicPartition,
        error: String,
    },
}

type Clock = Box<dyn Fn() -> i64 + Send + Sync>;

struct Inner {
    config: CleanerConfig,
    source: Box<dyn CleanerLogSource>,
    manager: LogCleanerManager,
    throttler: Arc<Throttler>,
    clock: Clock,
    stopping: AtomicBool,
    sleep_lock: Mutex<()>,
    wake: Condvar,
}

impl Inner {
    fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    fn clean_once(&self, cleaner: &mut Cleaner) -> CleanRound {
        let now_ms = (self.clock)();
        let logs = self.source.logs();
        let Some((ltc, shared)) = self.manager.grab_filthiest_compacted_log(&logs, now_ms) else {
            return CleanRound::Idle;
        };
        let tp = ltc.topic_partition.clone();
        tracing::info!(
            "cleaning {tp}: dirty ratio {:.3} ({} cleanable of {} bytes){}",
            ltc.cleanable_ratio(),
            ltc.cleanable_bytes,
            ltc.total_bytes(),
            if ltc.needs_compaction_now {
                ", past max.compaction.lag.ms"
            } else {
                ""
            }
        );
        let should_abort = || self.stopping() || self.manager.is_aborted(&tp);
        let result = catch_unwind(AssertUnwindSafe(|| {
            cleaner.clean_shared(&shared, ltc.first_dirty_offset, now_ms, &should_abort)
        }));
        let round = match result {
            Ok(Ok(stats)) => {
                let live: HashSet<TopicPartition> = logs.iter().map(|(t, _)| t.clone()).collect();
                if let Err(e) = self.manager.update_checkpoint(
                    &ltc.data_dir,
                    Some((&tp, stats.end_offset)),
                    None,
                    Some(&live),
                ) {
                    tracing::error!("could not write the cleaner checkpoint for {tp}: {e}");
                }
                CleanRound::Cleaned {
                    topic_partition: tp.clone(),
                    stats,
                }
            }
            Ok(Err(CleanerError::Aborted { reason, .. })) => {
                tracing::info!("cleaning of {tp} aborted: {reason}");
                CleanRound::Aborted {
                    topic_partition: tp.clone(),
                    reason,
                }
            }
            Ok(Err(CleanerError::Log(e))) => {
                tracing::error!("cleaning of {tp} failed; marking it uncleanable: {e}");
                self.manager.mark_uncleanable(&tp);
                CleanRound::Failed {
                    topic_partition: tp.clone(),
                    error: e.to_string(),
                }
            }
            Err(panic) => {
                let msg = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "panic".to_string());
                tracing::error!("cleaning of {tp} panicked; marking it uncleanable: {msg}");
                self.manager.mark_uncleanable(&tp);
                CleanRound::Failed {
                    topic_partition: tp.clone(),
                    error: msg,
                }
            }
        };
        self.manager.done_cleaning(&tp);
        round
    }

    fn backoff(&self) {
        let dur = Duration::from_millis(self.config.backoff_ms.max(0) as u64);
        let guard = self.sleep_lock.lock().unwrap_or_else(|e| e.into_inner());
        let _ = self
            .wake
            .wait_timeout_while(guard, dur, |_| !self.stopping())
            .unwrap_or_else(|e| e.into_inner());
    }

    fn run_thread(self: Arc<Self>) {
        let mut cleaner = Cleaner::with_throttler(&self.config, Arc::clone(&self.throttler));
        while !self.stopping() {
            match self.clean_once(&mut cleaner) {
                CleanRound::Cleaned { .. } | CleanRound::Aborted { .. } => {}
                CleanRound::Idle | CleanRound::Failed { .. } => self.backoff(),
            }
        }
        tracing::info!("log cleaner thread stopped");
    }
}

/// The background compaction service (Kafka's `LogCleaner`): `log.cleaner.threads` OS
/// threads, each repeatedly cleaning the filthiest compacted log and sleeping
/// `log.cleaner.backoff.ms` when there is none. See the module doc for the `LogManager`
/// wiring.
pub struct LogCleaner {
    inner: Arc<Inner>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl std::fmt::Debug for LogCleaner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogCleaner")
            .field("config", &self.inner.config)
            .field("manager", &self.inner.manager)
            .finish()
    }
}

impl LogCleaner {
    /// A cleaner over the logs `source` returns, using the wall clock. No thread runs until
    /// [`LogCleaner::startup`].
    pub fn new(config: CleanerConfig, source: impl CleanerLogSource + 'static) -> LogCleaner {
        Self::with_clock(config, source, wall_clock_ms)
    }

    /// Like [`LogCleaner::new`] with an explicit clock (ms since the epoch), for tests.
    pub fn with_clock(
        config: CleanerConfig,
        source: impl CleanerLogSource + 'static,
        clock: impl Fn() -> i64 + Send + Sync + 'static,
    ) -> LogCleaner {
        let throttler = Arc::new(Throttler::new(config.max_io_bytes_per_second));
        LogCleaner {
            inner: Arc::new(Inner {
                config,
                source: Box::new(source),
                manager: LogCleanerManager::new(),
                throttler,
                clock: Box::new(clock),
                stopping: AtomicBool::new(false),
                sleep_lock: Mutex::new(()),
                wake: Condvar::new(),
            }),
            threads: Mutex::new(Vec::new()),
        }
    }

    pub fn config(&self) -> &CleanerConfig {
        &self.inner.config
    }

    /// Cleaning state, pauses and checkpoints.
    pub fn manager(&self) -> &LogCleanerManager {
        &self.inner.manager
    }

    /// A [`Cleaner`] sharing this service's throttler (for [`LogCleaner::clean_once`]).
    pub fn new_cleaner(&self) -> Cleaner {
        Cleaner::with_throttler(&self.inner.config, Arc::clone(&self.inner.throttler))
    }

    /// Starts `log.cleaner.threads` threads (none when `log.cleaner.enable` is false or the
    /// service is already started or stopped).
    pub fn startup(&self) -> std::io::Result<()> {
        let mut threads = self.threads.lock().unwrap_or_else(|e| e.into_inner());
        if !self.inner.config.enable_cleaner {
            tracing::info!("log cleaner disabled (log.cleaner.enable=false)");
            return Ok(());
        }
        if !threads.is_empty() || self.inner.stopping() {
            return Ok(());
        }
        tracing::info!(
            "starting {} log cleaner thread(s)",
            self.inner.config.num_threads
        );
        for i in 0..self.inner.config.num_threads {
            let inner = Arc::clone(&self.inner);
            let handle = std::thread::Builder::new()
                .name(format!("kafka-log-cleaner-thread-{i}"))
                .spawn(move || inner.run_thread())?;
            threads.push(handle);
        }
        Ok(())
    }

    /// Stops the threads (aborting in-progress cleanings, whose `.cleaned` output is deleted)
    /// and waits for them. Blocking; idempotent.
    pub fn shutdown(&self) {
        {
            let _guard = self
                .inner
                .sleep_lock
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            self.inner.stopping.store(true, Ordering::SeqCst);
        }
        self.inner.wake.notify_all();
        let threads = std::mem::take(&mut *self.threads.lock().unwrap_or_else(|e| e.into_inner()));
        for t in threads {
            if t.join().is_err() {
                tracing::error!("a log cleaner thread panicked");
            }
        }
    }

    /// Threads currently started.
    pub fn num_threads(&self) -> usize {
        self.threads.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// One round on the calling thread (what each thread loops on): picks the filthiest
    /// compacted log, cleans it, checkpoints the new first dirty offset.
    pub fn clean_once(&self, cleaner: &mut Cleaner) -> CleanRound {
        self.inner.clean_once(cleaner)
    }

    /// See [`LogCleanerManager::abort_and_pause`] (blocking).
    pub fn abort_and_pause(&self, tp: &TopicPartition) {
        self.inner.manager.abort_and_pause(tp)
    }

    /// See [`LogCleanerManager::resume_cleaning`].
    pub fn resume_cleaning(&self, tp: &TopicPartition) {
        self.inner.manager.resume_cleaning(tp)
    }

    /// See [`LogCleanerManager::abort_cleaning`] (blocking).
    pub fn abort_cleaning(&self, tp: &TopicPartition) {
        self.inner.manager.abort_cleaning(tp)
    }

    /// The partition's cleaning state (`None` = idle).
    pub fn cleaning_state(&self, tp: &TopicPartition) -> Option<LogCleaningState> {
        self.inner.manager.cleaning_state(tp)
    }

    /// Removes a deleted partition from `<data_dir>/cleaner-offset-checkpoint`.
    pub fn remove_from_checkpoint(
        &self,
        data_dir: &Path,
        tp: &TopicPartition,
    ) -> Result<(), CheckpointError> {
        self.inner
            .manager
            .update_checkpoint(data_dir, None, Some(tp), None)
    }

    /// See [`LogCleanerManager::maybe_truncate_checkpoint`].
    pub fn maybe_truncate_checkpoint(
        &self,
        data_dir: &Path,
        tp: &TopicPartition,
        offset: i64,
    ) -> Result<(), CheckpointError> {
        self.inner
            .manager
            .maybe_truncate_checkpoint(data_dir, tp, offset)
    }
}

impl Drop for LogCleaner {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn wall_clock_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::builder::encode_records;
    use crate::record::{build_batch_with, BatchOptions, SimpleRecord};

    #[test]
    fn raw_records_round_trip_with_and_without_shift() {
        let records = vec![
            SimpleRecord::new(1_000, Some(b"k1"), Some(b"v1")),
            SimpleRecord::new(1_005, None, None),
            SimpleRecord {
                timestamp: 990,
                key: Some(b"k3".to_vec()),
                value: Some(b"v3".to_vec()),
                headers: vec![("h".into(), Some(b"x".to_vec())), ("n".into(), None)],
            },
        ];
        let section = encode_records(&records, 1_000);
        let parsed = parse_records(&section, 3).unwrap();
        assert_eq!(parsed.len(), 3);
        assert_eq!(parsed[0].key, Some(&b"k1"[..]));
        assert!(parsed[0].has_value);
        assert_eq!(parsed[1].key, None);
        assert!(!parsed[1].has_value);
        assert_eq!(parsed[2].timestamp_delta, -10);
        assert_eq!(parsed[2].offset_delta, 2);
        let mut same = Vec::new();
        for r in &parsed {
            encode_record(&mut same, r, 0);
        }
        assert_eq!(same, section);
        // Moving the base to 500 adds 500 to every delta.
        let mut shifted = Vec::new();
        for r in &parsed {
            encode_record(&mut shifted, r, 500);
        }
        assert_eq!(shifted, encode_records(&records, 500));
        assert!(parse_records(&section, 4).is_err());
        assert!(parse_records(&section, 2).is_err());
    }

    /// Runs [`filter_batch`] on `batch` with `a` and `b` superseded (mapped at 100 and 101)
    /// and everything below 1000 in the mapped range.
    fn filter(batch: &[u8], active: &ActiveProducers) -> (BatchOutcome, CleanStats) {
        let mut map = OffsetMap::new(64 * 1024, 0.9);
        map.put(b"a", 100);
        map.put(b"b", 101);
        let ctx = FilterContext {
            end_offset: 1_000,
            segment_tombstones_expired: false,
            now_ms: 10_000,
            delete_retention_ms: 1_000,
        };
        let mut stats = CleanStats::default();
        let outcome =
            filter_batch(Path::new("x"), 0, batch, &mut map, &ctx, active, &mut stats).unwrap();
        (outcome, stats)
    }

    fn superseded_batch(producer: ProducerInfo, options: &BatchOptions) -> Vec<u8> {
        let records = [
            SimpleRecord::new(1_000, Some(b"a"), Some(b"1")),
            SimpleRecord::new(1_007, Some(b"b"), Some(b"1")),
        ];
        build_batch_with(CompressionType::Gzip, 10, producer, &records, options).unwrap()
    }

    const PRODUCER: ProducerInfo = ProducerInfo {
        producer_id: 7,
        producer_epoch: 3,
        base_sequence: 40,
    };

    fn active(producer_id: i64, last_data_offset: Option<i64>, epoch: i16) -> ActiveProducers {
        let last = LastRecord {
            last_data_offset,
            producer_epoch: epoch,
        };
        HashMap::from([(producer_id, last)])
    }

    #[test]
    fn emptied_last_batch_of_an_active_producer_becomes_an_empty_header() {
        let original = superseded_batch(PRODUCER, &BatchOptions::default());
        let (outcome, stats) = filter(&original, &active(7, Some(11), 3));
        let BatchOutcome::Replace(bytes) = outcome else {
            panic!("the producer's last batch must be kept");
        };
        assert_eq!(
            (stats.records_removed, stats.empty_batches_retained),
            (2, 1)
        );
        let empty = RecordBatch::parse(&bytes).unwrap();
        empty.validate_crc().unwrap();
        empty.validate().unwrap();
        assert_eq!(empty.records_count(), 0);
        assert!(empty.records_bytes().is_empty());
        assert_eq!((empty.base_offset(), empty.last_offset()), (10, 11));
        assert_eq!(
            (
                empty.producer_id(),
                empty.producer_epoch(),
                empty.base_sequence(),
                empty.last_sequence()
            ),
            (7, 3, 40, 41)
        );
        assert_eq!(empty.compression().unwrap(), CompressionType::None);
        assert_eq!((empty.base_timestamp(), empty.max_timestamp()), (-1, 1_007));
        assert!(!empty.is_transactional() && !empty.is_control());
        // A second cleaning keeps the already-empty header as it is.
        let (again, stats) = filter(&bytes, &active(7, Some(11), 3));
        assert!(matches!(again, BatchOutcome::Keep));
        assert_eq!(stats.empty_batches_retained, 1);
        // Once the producer expired (or moved on), the empty header goes too.
        assert!(matches!(
            filter(&bytes, &HashMap::new()).0,
            BatchOutcome::Drop
        ));
    }

    #[test]
    fn emptied_batches_of_expired_or_moved_on_producers_are_dropped() {
        let original = superseded_batch(PRODUCER, &BatchOptions::default());
        for active in [
            // Expired: not in the producer state any more.
            HashMap::new(),
            // Its last data batch is a later one.
            active(7, Some(25), 3),
            // Another producer's last batch ends at the same offset.
            active(8, Some(11), 3),
            // Only markers since its epoch began: protects a marker, not data.
            active(7, None, 3),
        ] {
            let (outcome, stats) = filter(&original, &active);
            assert!(matches!(outcome, BatchOutcome::Drop), "{active:?}");
            assert_eq!(
                (stats.records_removed, stats.empty_batches_retained),
                (2, 0)
            );
        }
        // A batch without producer id never is an active producer's.
        let plain = superseded_batch(ProducerInfo::NONE, &BatchOptions::default());
        let (outcome, _) = filter(&plain, &active(-1, Some(11), -1));
        assert!(matches!(outcome, BatchOutcome::Drop));
    }

    #[test]
    fn active_producer_batches_with_kept_records_are_filtered_normally() {
        let records = [
            SimpleRecord::new(1_000, Some(b"a"), Some(b"1")),
            SimpleRecord::new(1_001, Some(b"c"), Some(b"1")),
        ];
        let batch = build_batch_with(
            CompressionType::None,
            10,
            PRODUCER,
            &records,
            &BatchOptions::default(),
        )
        .unwrap();
        let (outcome, stats) = filter(&batch, &active(7, Some(11), 3));
        let BatchOutcome::Replace(bytes) = outcome else {
            panic!("one record is kept");
        };
        assert_eq!(stats.empty_batches_retained, 0);
        let kept = RecordBatch::parse(&bytes).unwrap();
        assert_eq!(kept.records_count(), 1);
        assert_eq!(
            (kept.base_offset(), kept.last_offset(), kept.base_sequence()),
            (10, 11, 40)
        );
    }

    #[test]
    fn transactional_and_control_batches_are_copied_unchanged() {
        let txn = BatchOptions {
            transactional: true,
            ..BatchOptions::default()
        };
        let batch = superseded_batch(PRODUCER, &txn);
        for active in [HashMap::new(), active(7, Some(11), 3)] {
            let (outcome, stats) = filter(&batch, &active);
            assert!(matches!(outcome, BatchOutcome::Keep));
            assert_eq!((stats.records_kept, stats.records_removed), (2, 0));
        }
        let marker = crate::record::control::end_txn_marker_batch(
            12,
            1_010,
            0,
            7,
            3,
            &crate::record::EndTransactionMarker::commit(0),
        );
        for active in [HashMap::new(), active(7, None, 3)] {
            assert!(matches!(filter(&marker, &active).0, BatchOutcome::Keep));
        }
    }

    fn compacted_log(dir: &Path) -> Log {
        let mut props = std::collections::BTreeMap::new();
        props.insert("zookeeper.connect".to_string(), "zk:2181".to_string());
        let broker = KafkaConfig::from_props(&props).unwrap();
        let mut c =
            LogConfig::from_broker_and_overrides(&broker, &std::collections::BTreeMap::new())
                .unwrap();
        c.cleanup_policy = vec!["compact".to_string()];
        c.segment_index_bytes = 1024;
        c.segment_jitter_ms = 0;
        c.min_compaction_lag_ms = 0;
        Log::open(
            dir,
            TopicPartition::new("compacted", 0),
            Arc::new(c),
            crate::log::LoadOptions {
                recovery_point: 0,
                log_start_offset: 0,
                had_clean_shutdown: false,
                now_ms: 0,
            },
        )
        .unwrap()
    }

    fn keyed(keys: &[&str], ts: i64) -> Vec<SimpleRecord> {
        keys.iter()
            .map(|k| SimpleRecord::new(ts, Some(k.as_bytes()), Some(b"v")))
            .collect()
    }

    /// Appends one batch of `keys` at the log end as a follower (the producer state is
    /// updated without idempotence checks).
    fn replicate(log: &mut Log, producer: ProducerInfo, keys: &[&str], ts: i64) {
        let batch = crate::record::build_batch(log.log_end_offset(), producer, &keyed(keys, ts));
        log.append_as_follower(&batch, ts).unwrap();
    }

    fn idempotent(producer_id: i64, producer_epoch: i16, base_sequence: i32) -> ProducerInfo {
        ProducerInfo {
            producer_id,
            producer_epoch,
            base_sequence,
        }
    }

    /// (base, last, records, producer id, epoch, base sequence) of every batch on disk.
    fn batches(log: &Log) -> Vec<(i64, i64, i32, i64, i16, i32)> {
        let mut out = Vec::new();
        for segment in log.segments() {
            let bytes = segment
                .log()
                .slice(0, segment.size())
                .read_to_vec()
                .unwrap();
            for item in crate::record::BatchIter::new(&bytes) {
                let (_, b) = item.unwrap();
                assert!(b.is_valid());
                out.push((
                    b.base_offset(),
                    b.last_offset(),
                    b.records_count(),
                    b.producer_id(),
                    b.producer_epoch(),
                    b.base_sequence(),
                ));
            }
        }
        out
    }

    #[test]
    fn cleaning_keeps_the_last_batch_of_active_producers_only() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("compacted-0");
        let mut log = compacted_log(&dir);
        // Producer 7 (active): two batches, both superseded. Producer 8: one superseded batch,
        // idle long enough to expire.
        replicate(&mut log, idempotent(7, 3, 0), &["a", "b"], 50_000);
        replicate(&mut log, idempotent(7, 3, 2), &["a", "b"], 50_001);
        replicate(&mut log, idempotent(8, 0, 0), &["c"], 1_000);
        replicate(&mut log, ProducerInfo::NONE, &["a", "b", "c"], 50_002);
        log.roll(50_003).unwrap();
        replicate(&mut log, ProducerInfo::NONE, &["z"], 50_004);
        let leo = log.log_end_offset();
        log.update_high_watermark(leo);
        assert_eq!(log.remove_expired_producers(60_000, 20_000), 1);
        assert_eq!(
            last_records_of_active_producers(&log),
            active(7, Some(3), 3),
            "producer 8 expired"
        );

        let stats = Cleaner::new(&CleanerConfig::default())
            .clean(&mut log, 0, 60_000)
            .unwrap();
        assert_eq!(stats.empty_batches_retained, 1);
        assert_eq!(
            batches(&log),
            vec![
                // Producer 7's last batch as an empty header; its first batch and producer
                // 8's batch are gone.
                (2, 3, 0, 7, 3, 2),
                (5, 7, 3, -1, -1, -1),
                (8, 8, 1, -1, -1, -1),
            ]
        );
        // A second cleaning keeps the empty header as long as the producer is active.
        Cleaner::new(&CleanerConfig::default())
            .clean(&mut log, 0, 60_000)
            .unwrap();
        assert_eq!(batches(&log)[0], (2, 3, 0, 7, 3, 2));

        // Rebuilt from the cleaned log alone (no snapshot), the producer state still has
        // producer 7's last sequence: the duplicate is answered, a gap refused, the next
        // sequence appended.
        log.close().unwrap();
        drop(log);
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "snapshot") {
                std::fs::remove_file(path).unwrap();
            }
        }
        let mut log = compacted_log(&dir);
        let entry = log.producer_state().last_entry(7).unwrap();
        assert_eq!(
            (
                entry.producer_epoch,
                entry.last_seq(),
                entry.last_data_offset()
            ),
            (3, 3, 3)
        );
        assert!(log.producer_state().last_entry(8).is_none());
        let client = |seq: i32, keys: &[&str]| {
            crate::record::build_batch(0, idempotent(7, 3, seq), &keyed(keys, 60_000))
        };
        let dup = log
            .append_as_leader(&mut client(2, &["a", "b"]), 0, 60_000)
            .unwrap();
        assert_eq!((dup.first_offset, dup.last_offset), (2, 3));
        assert_eq!(log.log_end_offset(), 9);
        let gap = log.append_as_leader(&mut client(5, &["a"]), 0, 60_000);
        assert!(
            matches!(gap, Err(LogError::OutOfOrderSequence(_))),
            "{gap:?}"
        );
        let next = log
            .append_as_leader(&mut client(4, &["a"]), 0, 60_000)
            .unwrap();
        assert_eq!(next.first_offset, 9);

        // Once producer 7 expired too, the next cleaning drops its empty header.
        log.roll(60_001).unwrap();
        let leo = log.log_end_offset();
        log.update_high_watermark(leo);
        assert_eq!(log.remove_expired_producers(1_000_000, 20_000), 1);
        let stats = Cleaner::new(&CleanerConfig::default())
            .clean(&mut log, 0, 1_000_000)
            .unwrap();
        assert_eq!(stats.empty_batches_retained, 0);
        assert!(batches(&log).iter().all(|b| b.2 > 0), "{:?}", batches(&log));
    }

    fn snap(base: i64, size: u64, index: u64) -> SegmentSnapshot {
        SegmentSnapshot {
            base_offset: base,
            file: Arc::new(tempfile::tempfile().unwrap()),
            path: PathBuf::from("x"),
            size,
            offset_index_bytes: index,
            time_index_bytes: index,
            largest_timestamp: 0,
            last_modified_ms: 0,
        }
    }

    #[test]
    fn grouping_respects_size_index_and_offset_limits() {
        let segs = [
            snap(0, 40, 8),
            snap(10, 40, 8),
            snap(20, 40, 8),
            snap(30, 0, 0),
            snap(40, 90, 8),
        ];
        let refs: Vec<&SegmentSnapshot> = segs.iter().collect();
        assert_eq!(
            group_segments_by_size(&refs, 100, 1000, 50),
            vec![0..2, 2..4, 4..5]
        );
        assert_eq!(
            group_segments_by_size(&refs, 1000, 16, 50),
            vec![0..2, 2..5]
        );
        let far = [
            snap(0, 10, 0),
            snap(10, 10, 0),
            snap(i32::MAX as i64 + 5, 10, 0),
        ];
        let refs: Vec<&SegmentSnapshot> = far.iter().collect();
        // From 0, the second segment's last offset (base of the third − 1) needs more than 32
        // bits; from 10, the last one ends at first uncleanable − 1 = 10 + i32::MAX − 1.
        assert_eq!(
            group_segments_by_size(&refs, 1000, 1000, i32::MAX as i64 + 10),
            vec![0..1, 1..3]
        );
    }
}
