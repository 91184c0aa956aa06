//! `LogSegment`: one segment of a partition log (Kafka's `LogSegment`) — the `.log` file plus
//! its `.index` and `.timeindex`, named by the 20-digit zero-padded base offset. Owns sparse
//! index maintenance on append (`index.interval.bytes`), whole-batch reads, offset and
//! timestamp lookups, recovery (re-validating every batch and rebuilding the indexes), roll
//! decisions (spec §7), and renaming/deleting its files.
//!
//! The `.txnindex` of a segment is not written here; if one exists it is renamed and deleted
//! together with the segment so no orphan is left.

use std::path::{Path, PathBuf};

use crate::config::LogConfig;
use crate::record::RecordBatch;

use super::error::{IoContext, LogError};
use super::file_records::{
    BatchStep, FileRange, FileRecords, LogOffsetPosition, TimestampAndOffset,
};
use super::offset_index::OffsetIndex;
use super::time_index::{TimeIndex, TimestampOffset, NO_TIMESTAMP};

pub const LOG_FILE_SUFFIX: &str = ".log";
pub const INDEX_FILE_SUFFIX: &str = ".index";
pub const TIME_INDEX_FILE_SUFFIX: &str = ".timeindex";
pub const TXN_INDEX_FILE_SUFFIX: &str = ".txnindex";
/// Segment files awaiting asynchronous deletion.
pub const DELETED_FILE_SUFFIX: &str = ".deleted";
/// Cleaner output not yet swapped in.
pub const CLEANED_FILE_SUFFIX: &str = ".cleaned";
/// Cleaner/split output being swapped in.
pub const SWAP_FILE_SUFFIX: &str = ".swap";

/// The base offset zero-padded to 20 digits, so names sort numerically (Kafka's
/// `filenamePrefixFromOffset`).
pub fn filename_prefix_from_offset(offset: i64) -> String {
    format!("{offset:020}")
}

/// `<dir>/<20-digit offset>.log<suffix>`.
pub fn log_file(dir: &Path, offset: i64, suffix: &str) -> PathBuf {
    dir.join(format!(
        "{}{LOG_FILE_SUFFIX}{suffix}",
        filename_prefix_from_offset(offset)
    ))
}

/// `<dir>/<20-digit offset>.index<suffix>`.
pub fn offset_index_file(dir: &Path, offset: i64, suffix: &str) -> PathBuf {
    dir.join(format!(
        "{}{INDEX_FILE_SUFFIX}{suffix}",
        filename_prefix_from_offset(offset)
    ))
}

/// `<dir>/<20-digit offset>.timeindex<suffix>`.
pub fn time_index_file(dir: &Path, offset: i64, suffix: &str) -> PathBuf {
    dir.join(format!(
        "{}{TIME_INDEX_FILE_SUFFIX}{suffix}",
        filename_prefix_from_offset(offset)
    ))
}

/// `<dir>/<20-digit offset>.txnindex<suffix>`.
pub fn txn_index_file(dir: &Path, offset: i64, suffix: &str) -> PathBuf {
    dir.join(format!(
        "{}{TXN_INDEX_FILE_SUFFIX}{suffix}",
        filename_prefix_from_offset(offset)
    ))
}

/// The offset in a segment file name: the digits before the first `.` (Kafka's
/// `offsetFromFileName`); `None` for names that are not segment files.
pub fn offset_from_file_name(name: &str) -> Option<i64> {
    let (digits, _) = name.split_once('.')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Inputs of the roll decision (Kafka's `RollParams`).
#[derive(Clone, Copy, Debug)]
pub struct RollParams {
    /// `segment.ms` (or the compaction lag bound, see `LogConfig::max_segment_ms`).
    pub max_segment_ms: i64,
    /// `segment.bytes`.
    pub max_segment_bytes: i32,
    pub max_timestamp_in_messages: i64,
    pub max_offset_in_messages: i64,
    pub messages_size: usize,
    pub now_ms: i64,
}

/// The result of a read: a file range starting at the batch holding `fetch_offset`.
#[derive(Clone, Debug)]
pub struct FetchDataInfo {
    /// The requested offset (the first batch returned may start before it).
    pub fetch_offset: i64,
    /// Base offset of the segment the data comes from.
    pub segment_base_offset: i64,
    /// Position of the first returned byte inside that segment.
    pub position: u64,
    pub records: FileRange,
    /// The first batch is larger than the size limit and was cut (only possible without
    /// `min_one_message`).
    pub first_entry_incomplete: bool,
}

/// One segment; see the module doc.
pub struct LogSegment {
    dir: PathBuf,
    log: FileRecords,
    offset_index: OffsetIndex,
    time_index: TimeIndex,
    base_offset: i64,
    index_interval_bytes: i32,
    roll_jitter_ms: i64,
    created_ms: i64,
    bytes_since_last_index_entry: u64,
    /// Max timestamp of the first batch/append, for time-based rolling; loaded lazily.
    rolling_based_timestamp: Option<i64>,
    max_timestamp_so_far: i64,
    offset_of_max_timestamp_so_far: i64,
}

impl LogSegment {
    /// Creates a new, empty segment (new files; `.log` preallocated when `preallocate` is
    /// set). `suffix` is `""` for live segments or `.cleaned` for cleaner output.
    pub fn create(
        dir: &Path,
        base_offset: i64,
        config: &LogConfig,
        now_ms: i64,
        suffix: &str,
    ) -> Result<LogSegment, LogError> {
        let preallocate = config
            .preallocate
            .then(|| config.init_file_size().max(0) as u64);
        Self::open_files(dir, base_offset, config, now_ms, suffix, preallocate)
    }

    /// Opens the existing segment files (missing index files are created empty; the caller
    /// decides whether to rebuild them, see [`LogSegment::sanity_check`]).
    pub fn open(
        dir: &Path,
        base_offset: i64,
        config: &LogConfig,
        now_ms: i64,
        suffix: &str,
    ) -> Result<LogSegment, LogError> {
        Self::open_files(dir, base_offset, config, now_ms, suffix, None)
    }

    fn open_files(
        dir: &Path,
        base_offset: i64,
        config: &LogConfig,
        now_ms: i64,
        suffix: &str,
        preallocate: Option<u64>,
    ) -> Result<LogSegment, LogError> {
        let log = FileRecords::open(&log_file(dir, base_offset, suffix), preallocate)?;
        let max_index_size = config.segment_index_bytes;
        let offset_index = OffsetIndex::open(
            &offset_index_file(dir, base_offset, suffix),
            base_offset,
            max_index_size,
        )?;
        let time_index = TimeIndex::open(
            &time_index_file(dir, base_offset, suffix),
            base_offset,
            max_index_size,
        )?;
        let last = time_index.last_entry();
        Ok(LogSegment {
            dir: dir.to_path_buf(),
            log,
            offset_index,
            time_index,
            base_offset,
            index_interval_bytes: config.index_interval_bytes,
            roll_jitter_ms: config.random_segment_jitter(),
            created_ms: now_ms,
            bytes_since_last_index_entry: 0,
            rolling_based_timestamp: None,
            max_timestamp_so_far: last.timestamp,
            offset_of_max_timestamp_so_far: last.offset,
        })
    }

    pub fn base_offset(&self) -> i64 {
        self.base_offset
    }

    /// Bytes in the `.log`.
    pub fn size(&self) -> u64 {
        self.log.size_in_bytes()
    }

    pub fn log(&self) -> &FileRecords {
        &self.log
    }

    pub fn offset_index(&self) -> &OffsetIndex {
        &self.offset_index
    }

    pub fn time_index(&self) -> &TimeIndex {
        &self.time_index
    }

    pub fn log_path(&self) -> &Path {
        self.log.path()
    }

    pub fn roll_jitter_ms(&self) -> i64 {
        self.roll_jitter_ms
    }

    /// Sets the roll jitter (tests, and callers that want deterministic rolling).
    pub fn set_roll_jitter_ms(&mut self, jitter_ms: i64) {
        self.roll_jitter_ms = jitter_ms;
    }

    pub fn created_ms(&self) -> i64 {
        self.created_ms
    }

    /// Largest batch timestamp seen (−1 if none).
    pub fn max_timestamp_so_far(&self) -> i64 {
        self.max_timestamp_so_far
    }

    /// The offset recorded with the largest timestamp.
    pub fn offset_of_max_timestamp_so_far(&self) -> i64 {
        self.offset_of_max_timestamp_so_far
    }

    /// The max timestamp so far and its offset (for `MAX_TIMESTAMP` lookups).
    pub fn max_timestamp_and_offset_so_far(&self) -> TimestampOffset {
        TimestampOffset {
            timestamp: self.max_timestamp_so_far,
            offset: self.offset_of_max_timestamp_so_far,
        }
    }

    /// The largest record timestamp, if any record has one.
    pub fn largest_record_timestamp(&self) -> Option<i64> {
        (self.max_timestamp_so_far >= 0).then_some(self.max_timestamp_so_far)
    }

    /// The largest record timestamp, or the file's mtime when none (retention uses this).
    pub fn largest_timestamp(&self) -> Result<i64, LogError> {
        match self.largest_record_timestamp() {
            Some(ts) => Ok(ts),
            None => self.last_modified_ms(),
        }
    }

    pub fn last_modified_ms(&self) -> Result<i64, LogError> {
        self.log.last_modified_ms()
    }

    /// Sets the mtime of the `.log` and index files.
    pub fn set_last_modified_ms(&self, ms: i64) -> Result<(), LogError> {
        self.log.set_last_modified_ms(ms)?;
        let t = std::time::UNIX_EPOCH
            + std::time::Duration::from_millis(u64::try_from(ms).unwrap_or(0));
        for path in [self.offset_index.path(), self.time_index.path()] {
            std::fs::File::options()
                .write(true)
                .open(path)
                .and_then(|f| f.set_modified(t))
                .ctx(path)?;
        }
        Ok(())
    }

    /// True when `offset` fits this segment's 32-bit relative offsets.
    pub fn can_convert_to_relative_offset(&self, offset: i64) -> bool {
        self.offset_index.can_append_offset(offset)
    }

    /// Appends a validated, offset-assigned record set (Kafka's `LogSegment.append`). An
    /// index entry `(largest_offset, start position)` is added *before* counting these bytes
    /// when more than `index.interval.bytes` were appended since the last entry, together with
    /// a time-index entry for the max timestamp so far.
    pub fn append(
        &mut self,
        largest_offset: i64,
        largest_timestamp: i64,
        shallow_offset_of_max_timestamp: i64,
        records: &[u8],
    ) -> Result<(), LogError> {
        if records.is_empty() {
            return Ok(());
        }
        let physical_position = self.log.size_in_bytes();
        if !self.can_convert_to_relative_offset(largest_offset) {
            return Err(LogError::OffsetOverflow {
                base_offset: self.base_offset,
                offset: largest_offset,
            });
        }
        if physical_position == 0 {
            self.rolling_based_timestamp = Some(largest_timestamp);
        }
        self.log.append(records)?;
        if largest_timestamp > self.max_timestamp_so_far {
            self.max_timestamp_so_far = largest_timestamp;
            self.offset_of_max_timestamp_so_far = shallow_offset_of_max_timestamp;
        }
        if self.bytes_since_last_index_entry > self.index_interval_bytes.max(0) as u64 {
            // The roll check keeps the indexes from filling up; if one is full anyway (config
            // shrunk), skipping the entry only makes lookups scan further.
            if !self.offset_index.is_full() {
                self.offset_index
                    .append(largest_offset, physical_position)?;
            }
            if !self.time_index.is_full() {
                self.time_index.maybe_append(
                    self.max_timestamp_so_far,
                    self.offset_of_max_timestamp_so_far,
                    false,
                )?;
            }
            self.bytes_since_last_index_entry = 0;
        }
        self.bytes_since_last_index_entry += records.len() as u64;
        Ok(())
    }

    /// The batch holding the first offset ≥ `offset` at or after `starting_position`:
    /// index lookup, then a header scan (Kafka's `translateOffset`).
    pub fn translate_offset(
        &self,
        offset: i64,
        starting_position: u64,
    ) -> Result<Option<LogOffsetPosition>, LogError> {
        let mapping = self.offset_index.lookup(offset);
        self.log
            .search_for_offset_with_size(offset, mapping.position.max(starting_position))
    }

    /// Reads from the batch holding the first offset ≥ `start_offset`, at most `max_size`
    /// bytes and not past `max_position`; with `min_one_message` the first batch is returned
    /// whole even if larger than `max_size`. `None` when the segment has no such offset.
    /// Whole batches only at the start: a fetch inside a batch returns that whole batch.
    pub fn read(
        &self,
        start_offset: i64,
        max_size: usize,
        max_position: u64,
        min_one_message: bool,
    ) -> Result<Option<FetchDataInfo>, LogError> {
        let start = match self.translate_offset(start_offset, 0)? {
            Some(s) => s,
            None => return Ok(None),
        };
        let max_size = max_size as u64;
        let adjusted_max_size = if min_one_message {
            max_size.max(start.size)
        } else {
            max_size
        };
        let fetch_size = max_position
            .saturating_sub(start.position)
            .min(adjusted_max_size);
        Ok(Some(FetchDataInfo {
            fetch_offset: start_offset,
            segment_base_offset: self.base_offset,
            position: start.position,
            records: self.log.slice(start.position, fetch_size),
            first_entry_incomplete: adjusted_max_size < start.size,
        }))
    }

    /// The offset after the last batch (the base offset when empty). Scans from the last
    /// offset-index entry.
    pub fn read_next_offset(&self) -> Result<i64, LogError> {
        let start = self
            .offset_index
            .lookup(self.offset_index.last_offset())
            .position;
        let mut next = self.base_offset;
        for header in self.log.headers_from(start) {
            next = header?.next_offset();
        }
        Ok(next)
    }

    /// The first record with timestamp ≥ `timestamp` and offset ≥ `starting_offset` (Kafka's
    /// `findOffsetByTimestamp`).
    pub fn find_offset_by_timestamp(
        &self,
        timestamp: i64,
        starting_offset: i64,
    ) -> Result<Option<TimestampAndOffset>, LogError> {
        let ts_entry = self.time_index.lookup(timestamp);
        let position = self
            .offset_index
            .lookup(ts_entry.offset.max(starting_offset))
            .position;
        self.log
            .search_for_timestamp(timestamp, position, starting_offset)
    }

    /// Re-validates every batch (length, magic, CRC, offsets inside the segment and
    /// increasing) and rebuilds both indexes from them; cuts the file at the first invalid
    /// byte. Returns the number of bytes cut (Kafka's `LogSegment.recover`).
    pub fn recover(&mut self) -> Result<u64, LogError> {
        self.offset_index.reset()?;
        self.time_index.reset()?;
        let mut valid_bytes = 0u64;
        let mut last_index_entry = 0u64;
        let mut max_ts = NO_TIMESTAMP;
        let mut offset_of_max_ts = self.base_offset;
        let mut prev_last_offset: Option<i64> = None;
        let interval = self.index_interval_bytes.max(0) as u64;
        // Index updates are collected first: the reader borrows the log file.
        let mut reader = self.log.batch_reader(0);
        let mut offset_entries = Vec::new();
        let mut time_entries = Vec::new();
        loop {
            let (position, bytes) = match reader.next_batch()? {
                BatchStep::End => break,
                BatchStep::Invalid { position, reason } => {
                    tracing::warn!(
                        "found invalid data in {} at byte {position}: {reason}",
                        self.log.path().display()
                    );
                    break;
                }
                BatchStep::Batch { position, bytes } => (position, bytes),
            };
            if let Err(reason) = check_recovered_batch(bytes, self.base_offset, prev_last_offset) {
                tracing::warn!(
                    "found invalid batch in {} at byte {position}: {reason}",
                    self.log.path().display()
                );
                break;
            }
            // check_recovered_batch parsed it successfully.
            let Ok(batch) = RecordBatch::parse(bytes) else {
                break;
            };
            if batch.max_timestamp() > max_ts {
                max_ts = batch.max_timestamp();
                offset_of_max_ts = batch.last_offset();
            }
            if valid_bytes - last_index_entry > interval {
                offset_entries.push((batch.last_offset(), valid_bytes));
                time_entries.push((max_ts, offset_of_max_ts));
                last_index_entry = valid_bytes;
            }
            valid_bytes += bytes.len() as u64;
            prev_last_offset = Some(batch.last_offset());
        }
        for (offset, position) in offset_entries {
            if !self.offset_index.is_full() {
                self.offset_index.append(offset, position)?;
            }
        }
        for (ts, offset) in time_entries {
            if !self.time_index.is_full() {
                self.time_index.maybe_append(ts, offset, false)?;
            }
        }
        let truncated = self.log.truncate_to(valid_bytes)?;
        if truncated > 0 {
            tracing::warn!(
                "truncated {truncated} invalid bytes at the end of {}",
                self.log.path().display()
            );
        }
        self.max_timestamp_so_far = max_ts;
        self.offset_of_max_timestamp_so_far = offset_of_max_ts;
        self.rolling_based_timestamp = None;
        self.offset_index.trim_to_valid_size()?;
        // A normally closed segment always ends with its max timestamp entry; so does this.
        self.time_index
            .maybe_append(max_ts, offset_of_max_ts, true)?;
        self.time_index.trim_to_valid_size()?;
        Ok(truncated)
    }

    /// Removes every batch with offsets ≥ `offset` (the batch holding `offset` goes whole)
    /// and the matching index entries; the indexes are grown back to their maximum size since
    /// the segment becomes active. Returns the bytes removed (Kafka's `truncateTo`).
    pub fn truncate_to(&mut self, offset: i64, now_ms: i64) -> Result<u64, LogError> {
        let mapping = self.translate_offset(offset, 0)?;
        self.offset_index.truncate_to(offset);
        self.time_index.truncate_to(offset);
        self.offset_index
            .resize(self.offset_index.max_index_size())?;
        self.time_index.resize(self.time_index.max_index_size())?;
        let truncated = match mapping {
            None => 0,
            Some(m) => self.log.truncate_to(m.position)?,
        };
        if self.log.size_in_bytes() == 0 {
            self.created_ms = now_ms;
            self.rolling_based_timestamp = None;
        }
        self.bytes_since_last_index_entry = 0;
        if self.max_timestamp_so_far >= 0 {
            self.load_largest_timestamp()?;
        }
        Ok(truncated)
    }

    /// Recomputes the max timestamp after a truncation: the last time-index entry, then a
    /// header scan of the batches after it.
    fn load_largest_timestamp(&mut self) -> Result<(), LogError> {
        let last = self.time_index.last_entry();
        self.max_timestamp_so_far = last.timestamp;
        self.offset_of_max_timestamp_so_far = last.offset;
        let position = self.offset_index.lookup(last.offset).position;
        let after = self.log.largest_timestamp_after(position)?;
        if after.timestamp > last.timestamp {
            self.max_timestamp_so_far = after.timestamp;
            self.offset_of_max_timestamp_so_far = after.offset;
        }
        Ok(())
    }

    fn load_first_batch_timestamp(&mut self) -> Result<(), LogError> {
        if self.rolling_based_timestamp.is_none() {
            if let Some(first) = self.log.headers_from(0).next() {
                self.rolling_based_timestamp = Some(first?.max_timestamp);
            }
        }
        Ok(())
    }

    /// How long this segment has waited to roll: incoming max timestamp − first batch
    /// timestamp, or wall time since creation when the first batch has no timestamp.
    pub fn time_waited_for_roll(
        &mut self,
        now_ms: i64,
        message_timestamp: i64,
    ) -> Result<i64, LogError> {
        self.load_first_batch_timestamp()?;
        Ok(match self.rolling_based_timestamp {
            Some(t) if t >= 0 => message_timestamp.saturating_sub(t),
            _ => now_ms.saturating_sub(self.created_ms),
        })
    }

    /// The first batch's timestamp, or `i64::MAX` when unknown.
    pub fn first_batch_timestamp(&mut self) -> Result<i64, LogError> {
        self.load_first_batch_timestamp()?;
        Ok(match self.rolling_based_timestamp {
            Some(t) if t >= 0 => t,
            _ => i64::MAX,
        })
    }

    /// Spec §7: roll when the append would pass `segment.bytes`, when the segment is
    /// non-empty and older than `segment.ms − jitter`, when an index is full, or when the
    /// incoming last offset does not fit a relative offset.
    pub fn should_roll(&mut self, p: &RollParams) -> Result<bool, LogError> {
        let size = self.size() as i64;
        let reached_roll_ms = self.time_waited_for_roll(p.now_ms, p.max_timestamp_in_messages)?
            > p.max_segment_ms.saturating_sub(self.roll_jitter_ms);
        Ok(size > p.max_segment_bytes as i64 - p.messages_size as i64
            || (size > 0 && reached_roll_ms)
            || self.offset_index.is_full()
            || self.time_index.is_full()
            || !self.can_convert_to_relative_offset(p.max_offset_in_messages))
    }

    /// The segment stops being active: append the final time-index entry (even into the
    /// reserved slot) and trim the indexes and the `.log`.
    pub fn on_become_inactive(&mut self) -> Result<(), LogError> {
        self.time_index.maybe_append(
            self.max_timestamp_so_far,
            self.offset_of_max_timestamp_so_far,
            true,
        )?;
        self.offset_index.trim_to_valid_size()?;
        self.time_index.trim_to_valid_size()?;
        self.log.trim()
    }

    /// Sets both index files to `size` bytes (rounded down to their entry sizes).
    pub fn resize_indexes(&mut self, size: usize) -> Result<(), LogError> {
        self.offset_index.resize(size)?;
        self.time_index.resize(size)?;
        Ok(())
    }

    /// Checks both indexes and that the offset index does not point past the `.log`; an
    /// error means the indexes must be rebuilt with [`LogSegment::recover`].
    pub fn sanity_check(&self) -> Result<(), LogError> {
        self.offset_index.sanity_check()?;
        self.time_index.sanity_check()?;
        let entries = self.offset_index.entries();
        if let Some(last) = entries
            .checked_sub(1)
            .and_then(|n| self.offset_index.entry(n))
        {
            if last.position >= self.size() {
                return Err(LogError::CorruptIndex {
                    path: self.offset_index.path().to_path_buf(),
                    reason: format!(
                        "last entry points at byte {} but the log has {} bytes",
                        last.position,
                        self.size()
                    ),
                });
            }
        }
        Ok(())
    }

    /// fsync of the `.log` and msync of both indexes.
    pub fn flush(&self) -> Result<(), LogError> {
        self.log.flush()?;
        self.offset_index.flush()?;
        self.time_index.flush()
    }

    /// Clean close: final time-index entry, trimmed indexes and `.log`.
    pub fn close(&mut self) -> Result<(), LogError> {
        self.on_become_inactive()
    }

    /// Every file of the segment that exists (the `.txnindex` only if present).
    pub fn files(&self) -> Vec<PathBuf> {
        let mut files = vec![
            self.log.path().to_path_buf(),
            self.offset_index.path().to_path_buf(),
            self.time_index.path().to_path_buf(),
        ];
        let txn = self.txn_index_path();
        if txn.exists() {
            files.push(txn);
        }
        files
    }

    /// The `.txnindex` path matching the current `.log` name (same suffix).
    fn txn_index_path(&self) -> PathBuf {
        // Only the file name: the directory may contain ".log" too (e.g. `/kafka.logs/`).
        let path = self.log.path();
        let name = path
            .file_name()
            .map(|n| {
                n.to_string_lossy()
                    .replacen(LOG_FILE_SUFFIX, TXN_INDEX_FILE_SUFFIX, 1)
            })
            .unwrap_or_default();
        path.with_file_name(name)
    }

    /// Renames all files from suffix `old` to suffix `new` (e.g. `""` → `.deleted`,
    /// `.cleaned` → `.swap`, `.swap` → `""`).
    pub fn change_file_suffixes(&mut self, old: &str, new: &str) -> Result<(), LogError> {
        let rename = |path: &Path| -> Result<PathBuf, LogError> {
            let s = path.to_string_lossy();
            let stem = s.strip_suffix(old).ok_or_else(|| {
                LogError::InvalidArgument(format!(
                    "{} does not end with suffix {old:?}",
                    path.display()
                ))
            })?;
            Ok(PathBuf::from(format!("{stem}{new}")))
        };
        let txn = self.txn_index_path();
        if txn.exists() {
            let target = rename(&txn)?;
            std::fs::rename(&txn, &target).ctx(&txn)?;
        }
        let target = rename(self.offset_index.path())?;
        self.offset_index.rename_to(&target)?;
        let target = rename(self.time_index.path())?;
        self.time_index.rename_to(&target)?;
        let target = rename(self.log.path())?;
        self.log.rename_to(&target)
    }

    /// Follows a rename of the partition directory (the files moved with it).
    pub fn update_parent_dir(&mut self, dir: &Path) {
        self.dir = dir.to_path_buf();
        self.log.update_parent_dir(dir);
        self.offset_index.update_parent_dir(dir);
        self.time_index.update_parent_dir(dir);
    }

    /// Deletes all files of the segment now.
    pub fn delete(self) -> Result<(), LogError> {
        let txn = self.txn_index_path();
        let mut first_err = None;
        for r in [
            self.offset_index.delete(),
            self.time_index.delete(),
            self.log.delete(),
        ] {
            if let Err(e) = r {
                first_err.get_or_insert(e);
            }
        }
        match std::fs::remove_file(&txn) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                first_err.get_or_insert(LogError::io(&txn, e));
            }
            _ => {}
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// The partition directory holding the segment.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl std::fmt::Debug for LogSegment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogSegment")
            .field("base_offset", &self.base_offset)
            .field("size", &self.size())
            .field("path", &self.log.path())
            .field("max_timestamp_so_far", &self.max_timestamp_so_far)
            .finish()
    }
}

/// Recovery checks of one batch beyond length and magic: CRC, a non-negative offset delta,
/// offsets inside the segment's 32-bit range, and strictly increasing offsets.
fn check_recovered_batch(
    bytes: &[u8],
    segment_base: i64,
    prev_last_offset: Option<i64>,
) -> Result<(), String> {
    let batch = RecordBatch::parse(bytes).map_err(|e| e.to_string())?;
    batch.validate_crc().map_err(|e| e.to_string())?;
    if batch.last_offset_delta() < 0 {
        return Err(format!(
            "negative last offset delta {}",
            batch.last_offset_delta()
        ));
    }
    let base = batch.base_offset();
    let last = base
        .checked_add(batch.last_offset_delta() as i64)
        .ok_or("offset overflow")?;
    if base < segment_base || last - segment_base > i32::MAX as i64 {
        return Err(format!(
            "offsets [{base}, {last}] do not belong to segment {segment_base}"
        ));
    }
    if let Some(prev) = prev_last_offset {
        if base <= prev {
            return Err(format!(
                "base offset {base} is not after the previous batch's last offset {prev}"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::KafkaConfig;
    use crate::record::{build_batch, ProducerInfo, SimpleRecord};
    use std::collections::BTreeMap;

    pub(crate) fn config(index_interval: i32, index_bytes: i32) -> LogConfig {
        let mut props = BTreeMap::new();
        props.insert("zookeeper.connect".to_string(), "zk:2181".to_string());
        let broker = KafkaConfig::from_props(&props).unwrap();
        let mut c = LogConfig::from_broker_and_overrides(&broker, &BTreeMap::new()).unwrap();
        c.index_interval_bytes = index_interval;
        c.segment_index_bytes = index_bytes;
        c.segment_jitter_ms = 0;
        c
    }

    fn batch_at(base: i64, n: usize, ts: i64) -> Vec<u8> {
        let records: Vec<SimpleRecord> = (0..n)
            .map(|i| SimpleRecord::new(ts + i as i64, Some(b"key"), Some(&[7u8; 40])))
            .collect();
        build_batch(base, ProducerInfo::NONE, &records)
    }

    fn append(seg: &mut LogSegment, bytes: &[u8]) {
        let b = RecordBatch::parse(bytes).unwrap();
        seg.append(b.last_offset(), b.max_timestamp(), b.last_offset(), bytes)
            .unwrap();
    }

    #[test]
    fn names_are_zero_padded() {
        let d = Path::new("/d");
        assert_eq!(
            log_file(d, 1234, ""),
            PathBuf::from("/d/00000000000000001234.log")
        );
        assert_eq!(
            time_index_file(d, 0, ".deleted"),
            PathBuf::from("/d/00000000000000000000.timeindex.deleted")
        );
        assert_eq!(
            offset_from_file_name("00000000000000001234.index.swap"),
            Some(1234)
        );
        assert_eq!(offset_from_file_name("leader-epoch-checkpoint"), None);
    }

    #[test]
    fn read_returns_whole_batches_and_respects_limits() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(4096, 1024);
        let mut seg = LogSegment::create(dir.path(), 10, &cfg, 0, "").unwrap();
        let a = batch_at(10, 3, 100);
        let b = batch_at(13, 2, 200);
        append(&mut seg, &a);
        append(&mut seg, &b);
        let r = seg.read(11, 1 << 20, seg.size(), false).unwrap().unwrap();
        assert_eq!(r.position, 0);
        assert_eq!(
            r.records.read_to_vec().unwrap(),
            [a.clone(), b.clone()].concat()
        );
        let r = seg.read(13, 1 << 20, seg.size(), false).unwrap().unwrap();
        assert_eq!(r.records.read_to_vec().unwrap(), b);
        let r = seg.read(10, 5, seg.size(), false).unwrap().unwrap();
        assert!(r.first_entry_incomplete);
        assert_eq!(r.records.len, 5);
        let r = seg.read(10, 5, seg.size(), true).unwrap().unwrap();
        assert_eq!(r.records.read_to_vec().unwrap(), a);
        let r = seg
            .read(10, 1 << 20, a.len() as u64, false)
            .unwrap()
            .unwrap();
        assert_eq!(r.records.len, a.len() as u64);
        assert!(seg.read(15, 100, seg.size(), false).unwrap().is_none());
        assert_eq!(seg.read_next_offset().unwrap(), 15);
        let t = seg.find_offset_by_timestamp(201, 0).unwrap().unwrap();
        assert_eq!((t.timestamp, t.offset), (201, 14));
    }

    #[test]
    fn truncate_recover_and_roll_rules() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(100, 1024);
        let mut seg = LogSegment::create(dir.path(), 0, &cfg, 5, "").unwrap();
        let mut next = 0;
        for i in 0..6 {
            let b = batch_at(next, 2, 1000 + i * 10);
            append(&mut seg, &b);
            next += 2;
        }
        let entries_before = seg.offset_index().entries();
        assert!(entries_before > 0);
        let removed = seg.truncate_to(7, 9).unwrap();
        assert!(removed > 0);
        assert_eq!(seg.read_next_offset().unwrap(), 6);
        assert_eq!(seg.max_timestamp_so_far(), 1021);
        assert_eq!(seg.recover().unwrap(), 0);
        assert_eq!(seg.read_next_offset().unwrap(), 6);
        // Recovery trims the indexes (full now); the log grows them back for the active one.
        assert!(seg.offset_index().is_full());
        seg.resize_indexes(1024).unwrap();
        let p = |size: usize, ts: i64, off: i64| RollParams {
            max_segment_ms: 100,
            max_segment_bytes: 10_000,
            max_timestamp_in_messages: ts,
            max_offset_in_messages: off,
            messages_size: size,
            now_ms: 0,
        };
        assert!(!seg.should_roll(&p(10, 1050, 7)).unwrap());
        assert!(seg.should_roll(&p(10_000, 1050, 7)).unwrap());
        assert!(!seg.should_roll(&p(10, 1101, 7)).unwrap()); // first batch max ts 1001: waited 100, not > 100
        assert!(seg.should_roll(&p(10, 1102, 7)).unwrap());
        assert!(seg.should_roll(&p(10, 1050, i32::MAX as i64 + 1)).unwrap());
    }

    #[test]
    fn change_suffixes_and_delete() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("kafka.logs");
        std::fs::create_dir(&dir).unwrap();
        let cfg = config(4096, 1024);
        let mut seg = LogSegment::create(&dir, 42, &cfg, 0, "").unwrap();
        append(&mut seg, &batch_at(42, 1, 1));
        // A transaction index written by someone else moves and goes with the segment.
        std::fs::write(txn_index_file(&dir, 42, ""), b"").unwrap();
        seg.change_file_suffixes("", DELETED_FILE_SUFFIX).unwrap();
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                "00000000000000000042.index.deleted",
                "00000000000000000042.log.deleted",
                "00000000000000000042.timeindex.deleted",
                "00000000000000000042.txnindex.deleted"
            ]
        );
        seg.delete().unwrap();
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
    }
}
