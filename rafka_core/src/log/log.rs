//! `Log`: one partition's log on disk (Kafka's `Log`/`UnifiedLog` without replication
//! state): loading and crash recovery of the partition directory (spec §9), leader and
//! follower appends (offset assignment in place, spec §3 validation), segment rolling (§7),
//! whole-batch reads bounded by the high watermark, lookups by timestamp, truncation,
//! log-start-offset and high-watermark bookkeeping, flushing, and retention (§8); plus the
//! partition's idempotent-producer state ([`ProducerStateManager`]): checked on leader
//! appends (a duplicate batch is answered with its original offsets and not written),
//! updated by follower appends, snapshotted on roll and clean close, rebuilt at load from the
//! latest snapshot and the batches after it, and kept in step with truncation and retention.
//!
//! The type is synchronous (std::fs) and `Send`: the broker keeps it in `Arc<Mutex<Log>>`
//! and runs it on blocking threads. Deleted segments are renamed `.deleted` and handed to the
//! caller ([`Log::take_pending_deletions`]) to be removed after `file.delete.delay.ms`.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::cluster::TopicPartition;
use crate::config::log_config::TimestampType as ConfigTimestampType;
use crate::config::LogConfig;
use crate::record::batch::{
    next_batch_size, set_base_offset, set_log_append_time, set_partition_leader_epoch,
    LOG_OVERHEAD, MAGIC_V2, RECORD_BATCH_OVERHEAD,
};
use crate::record::record::decode_records;
use crate::record::{CompressionType, EndTransactionMarker, RecordBatch, TimestampType};

use super::error::{IoContext, LogError};
use super::file_records::{
    check_client_records, records_section, wall_clock_ms, ClientRecordChecks, ClientRecordError,
    FileRange, TimestampAndOffset,
};
use super::leader_epoch_cache::LeaderEpochCache;
use super::log_segment::{
    log_file, offset_from_file_name, offset_index_file, time_index_file, txn_index_file,
    FetchDataInfo, LogSegment, RollParams, CLEANED_FILE_SUFFIX, DELETED_FILE_SUFFIX,
    INDEX_FILE_SUFFIX, LOG_FILE_SUFFIX, SWAP_FILE_SUFFIX, TIME_INDEX_FILE_SUFFIX,
    TXN_INDEX_FILE_SUFFIX,
};
use super::producer_state::{ProducerBatch, ProducerStateManager};
use super::time_index::NO_TIMESTAMP;

/// ListOffsets special timestamps.
pub const LATEST_TIMESTAMP: i64 = -1;
pub const EARLIEST_TIMESTAMP: i64 = -2;
pub const MAX_TIMESTAMP: i64 = -3;

/// Suffix of partition directories scheduled for deletion (no recovery when loading them).
const DELETE_DIR_SUFFIX: &str = "-delete";
/// Bound on [`Log::take_pending_deletions`]'s queue when the caller never drains it.
const MAX_PENDING_DELETIONS: usize = 1024;

/// What the caller knows about a partition before opening it (from the log-dir checkpoint
/// files and the clean-shutdown marker).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoadOptions {
    /// From `recovery-point-offset-checkpoint` (0 when unknown).
    pub recovery_point: i64,
    /// From `log-start-offset-checkpoint` (0 when unknown: the first segment's base wins).
    pub log_start_offset: i64,
    /// True when the log dir had `.kafka_cleanshutdown`: no recovery needed.
    pub had_clean_shutdown: bool,
    /// Clock for segment creation times.
    pub now_ms: i64,
}

/// The outcome of an append (Kafka's `LogAppendInfo`). For a leader append that duplicates
/// one of the producer's last five batches nothing is written: `first_offset`,
/// `last_offset` and `log_append_time` (the original batch's max timestamp) describe the
/// original batch, as Kafka answers a retried produce; the other fields describe the
/// incoming batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogAppendInfo {
    /// First offset appended; −1 when nothing was appended.
    pub first_offset: i64,
    /// Last offset appended; −1 when nothing was appended.
    pub last_offset: i64,
    /// Largest timestamp appended (the append time under LogAppendTime), −1 if none.
    pub max_timestamp: i64,
    /// Offset recorded with `max_timestamp` in the time index.
    pub offset_of_max_timestamp: i64,
    /// The broker time stamped on the batches under LogAppendTime, else −1.
    pub log_append_time: i64,
    /// Log start offset at the time of the append.
    pub log_start_offset: i64,
    /// Bytes appended (a trailing incomplete batch is not counted nor appended).
    pub valid_bytes: usize,
    /// Number of batches.
    pub shallow_count: usize,
    /// Number of records (sum of the batches' record counts).
    pub records_count: i64,
    /// Partition leader epoch of the last batch, if set.
    pub last_leader_epoch: Option<i32>,
    /// Codec of the appended data (the last non-`none` codec seen).
    pub source_compression: CompressionType,
}

/// Why the log start offset moves (for logging; Kafka's `LogStartOffsetIncrementReason`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogStartOffsetIncrementReason {
    ClientRecordDeletion,
    LeaderOffsetIncremented,
    SegmentDeletion,
}

/// Files of a removed segment, already renamed `.deleted`, to delete after `delay_ms`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingDeletion {
    pub base_offset: i64,
    pub files: Vec<PathBuf>,
    /// `file.delete.delay.ms` when the segment was removed.
    pub delay_ms: i64,
}

impl PendingDeletion {
    /// Deletes the files (missing ones are fine).
    pub fn delete_files(&self) -> Result<(), LogError> {
        for f in &self.files {
            match fs::remove_file(f) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(LogError::io(f, e))
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// One partition's log; see the module doc.
pub struct Log {
    dir: PathBuf,
    topic_partition: TopicPartition,
    config: Arc<LogConfig>,
    segments: BTreeMap<i64, LogSegment>,
    log_start_offset: i64,
    log_end_offset: i64,
    high_watermark: i64,
    recovery_point: i64,
    last_flush_ms: i64,
    pending_deletions: Vec<PendingDeletion>,
    /// A file was created or renamed since the directory was last fsynced.
    dir_dirty: bool,
    closed: bool,
    /// Idempotent producers of this partition and their snapshot files.
    producer_state: ProducerStateManager,
    /// First offset of each leader epoch (`leader-epoch-checkpoint`).
    leader_epochs: LeaderEpochCache,
}

impl Log {
    /// Opens (creating if needed) the partition directory `dir` (`<log.dir>/<topic>-<p>`) and
    /// loads it (spec §9): removes `.deleted`/`.cleaned` leftovers, completes interrupted
    /// swaps, deletes orphan indexes, rebuilds missing or corrupt indexes, and after an
    /// unclean shutdown re-validates every segment from the recovery point, cutting the log
    /// at the first invalid byte and dropping the segments after it.
    pub fn open(
        dir: &Path,
        topic_partition: TopicPartition,
        config: Arc<LogConfig>,
        opts: LoadOptions,
    ) -> Result<Log, LogError> {
        fs::create_dir_all(dir).ctx(dir)?;
        let producer_state = ProducerStateManager::new(topic_partition.clone(), dir);
        let leader_epochs = LeaderEpochCache::load(dir)?;
        let mut log = Log {
            dir: dir.to_path_buf(),
            topic_partition,
            config,
            segments: BTreeMap::new(),
            log_start_offset: opts.log_start_offset.max(0),
            log_end_offset: 0,
            high_watermark: 0,
            recovery_point: opts.recovery_point.max(0),
            last_flush_ms: opts.now_ms,
            pending_deletions: Vec::new(),
            dir_dirty: false,
            closed: false,
            producer_state,
            leader_epochs,
        };
        let swap_files = log.remove_temp_files_and_collect_swap_files()?;
        log.load_segment_files(&opts)?;
        log.complete_swap_operations(swap_files, opts.now_ms)?;
        let is_delete_dir = dir
            .file_name()
            .is_some_and(|n| n.to_string_lossy().ends_with(DELETE_DIR_SUFFIX));
        log.log_end_offset = if is_delete_dir {
            // Being deleted: no recovery, just something consistent to hold.
            if log.segments.is_empty() {
                log.add_new_segment(0, opts.now_ms)?;
            }
            log.active()?.read_next_offset()?
        } else {
            let leo = log.recover_log(&opts)?;
            let max_index_size = log.max_index_size();
            log.active_mut()?.resize_indexes(max_index_size)?;
            leo
        };
        let first_base = log.first_segment_base()?;
        log.log_start_offset = log.log_start_offset.max(first_base);
        log.high_watermark = log.log_start_offset;
        log.recovery_point = log.recovery_point.max(log.log_start_offset);
        // Recovery may have cut the log: epochs starting past its end are gone too.
        let (start, end) = (log.log_start_offset, log.log_end_offset);
        log.leader_epochs.truncate_from_end(end)?;
        log.leader_epochs.truncate_from_start(start)?;
        if !is_delete_dir {
            // Kafka's LogLoader: snapshots without a segment go, then the producer table is
            // rebuilt from the latest snapshot at or below the log end plus the batches after.
            let bases = log.segment_base_offsets();
            log.producer_state.remove_stray_snapshots(&bases)?;
            let leo = log.log_end_offset;
            log.rebuild_producer_state(leo, opts.had_clean_shutdown, opts.now_ms)?;
        }
        tracing::info!(
            "loaded log {} ({} segments, log start {}, log end {}, recovery point {})",
            log.topic_partition,
            log.segments.len(),
            log.log_start_offset,
            log.log_end_offset,
            log.recovery_point
        );
        Ok(log)
    }

    fn max_index_size(&self) -> usize {
        usize::try_from(self.config.segment_index_bytes).unwrap_or(0)
    }

    fn list_files(&self) -> Result<Vec<(String, PathBuf)>, LogError> {
        let mut files = Vec::new();
        for entry in fs::read_dir(&self.dir).ctx(&self.dir)? {
            let entry = entry.ctx(&self.dir)?;
            let path = entry.path();
            if entry.file_type().ctx(&path)?.is_file() {
                files.push((entry.file_name().to_string_lossy().into_owned(), path));
            }
        }
        files.sort();
        Ok(files)
    }

    fn delete_file_if_exists(path: &Path) -> Result<(), LogError> {
        match fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(LogError::io(path, e)),
            _ => Ok(()),
        }
    }

    fn delete_indexes_if_exist(&self, offset: i64, suffix: &str) -> Result<(), LogError> {
        Self::delete_file_if_exists(&offset_index_file(&self.dir, offset, suffix))?;
        Self::delete_file_if_exists(&time_index_file(&self.dir, offset, suffix))?;
        Self::delete_file_if_exists(&txn_index_file(&self.dir, offset, suffix))
    }

    /// Load step 1 (Kafka's `removeTempFilesAndCollectSwapFiles`): deletes `.deleted` files;
    /// for a `.swap` log deletes the live indexes of that offset (they are rebuilt) and keeps
    /// the swap; a `.swap` at or above the lowest `.cleaned` offset belongs to an unfinished
    /// split and is deleted; `.cleaned` files are deleted.
    fn remove_temp_files_and_collect_swap_files(&self) -> Result<Vec<PathBuf>, LogError> {
        let mut swap_files: Vec<(i64, PathBuf)> = Vec::new();
        let mut clean_files = Vec::new();
        let mut min_cleaned_offset = i64::MAX;
        for (name, path) in self.list_files()? {
            if name.ends_with(DELETED_FILE_SUFFIX) {
                tracing::debug!("deleting stray temporary file {}", path.display());
                Self::delete_file_if_exists(&path)?;
            } else if name.ends_with(CLEANED_FILE_SUFFIX) {
                if let Some(offset) = offset_from_file_name(&name) {
                    min_cleaned_offset = min_cleaned_offset.min(offset);
                }
                clean_files.push(path);
            } else if let Some(base_name) = name.strip_suffix(SWAP_FILE_SUFFIX) {
                let Some(offset) = offset_from_file_name(base_name) else {
                    continue;
                };
                tracing::info!("found file {} from an interrupted swap", path.display());
                if is_index_file_name(base_name) {
                    self.delete_indexes_if_exist(offset, "")?;
                } else if base_name.ends_with(LOG_FILE_SUFFIX) {
                    self.delete_indexes_if_exist(offset, "")?;
                    swap_files.push((offset, path));
                }
            }
        }
        let mut valid = Vec::new();
        for (offset, path) in swap_files {
            if offset >= min_cleaned_offset {
                tracing::debug!("deleting invalid swap file {}", path.display());
                self.delete_indexes_if_exist(offset, SWAP_FILE_SUFFIX)?;
                Self::delete_file_if_exists(&path)?;
            } else {
                valid.push(path);
            }
        }
        for path in clean_files {
            Self::delete_file_if_exists(&path)?;
        }
        Ok(valid)
    }

    /// Load step 2 (Kafka's `loadSegmentFiles`): deletes index files without a `.log`, opens
    /// every `.log`, and rebuilds the indexes of a segment when one is missing or fails its
    /// sanity check. Segments that unclean-shutdown recovery will re-validate anyway are left
    /// to it; a rebuild that finds invalid bytes cuts the log there like recovery does
    /// (later segments are dropped), so a damaged index cannot hide a damaged log.
    fn load_segment_files(&mut self, opts: &LoadOptions) -> Result<(), LogError> {
        let now_ms = opts.now_ms;
        let mut rebuild = Vec::new();
        for (name, path) in self.list_files()? {
            let Some(offset) = offset_from_file_name(&name) else {
                continue;
            };
            if is_index_file_name(&name) {
                if !log_file(&self.dir, offset, "").exists() {
                    tracing::warn!("deleting orphaned index file {}", path.display());
                    Self::delete_file_if_exists(&path)?;
                }
            } else if name.ends_with(LOG_FILE_SUFFIX) {
                let index_missing = !offset_index_file(&self.dir, offset, "").exists();
                let time_index_missing = !time_index_file(&self.dir, offset, "").exists();
                let segment = LogSegment::open(&self.dir, offset, &self.config, now_ms, "")?;
                let problem = if index_missing || time_index_missing {
                    Some("missing index file".to_string())
                } else {
                    segment.sanity_check().err().map(|e| e.to_string())
                };
                if let Some(problem) = problem {
                    tracing::warn!(
                        "indexes of {} must be rebuilt ({problem})",
                        segment.log_path().display()
                    );
                    rebuild.push(offset);
                }
                self.segments.insert(offset, segment);
            }
        }
        let recovery_start = if opts.had_clean_shutdown {
            i64::MAX
        } else {
            self.segments
                .range(..=self.recovery_point)
                .next_back()
                .map_or(i64::MIN, |(b, _)| *b)
        };
        for base in rebuild {
            if base >= recovery_start {
                continue; // recover_log re-validates it
            }
            let Some(segment) = self.segments.get_mut(&base) else {
                continue; // dropped by an earlier rebuild
            };
            let truncated = segment.recover()?;
            if truncated > 0 {
                tracing::warn!(
                    "invalid data in segment {base} of {} found while rebuilding its indexes; \
                     dropping the segments after it",
                    self.topic_partition
                );
                let later: Vec<i64> = self.segments.range(base + 1..).map(|(b, _)| *b).collect();
                self.remove_and_delete_segments(&later)?;
            }
        }
        Ok(())
    }

    /// Load step 3 (Kafka's `completeSwapOperations`): each valid `.swap` segment is
    /// re-validated and replaces the live segments it covers.
    fn complete_swap_operations(
        &mut self,
        swap_files: Vec<PathBuf>,
        now_ms: i64,
    ) -> Result<(), LogError> {
        for swap_file in swap_files {
            let name = swap_file
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let Some(offset) = offset_from_file_name(&name) else {
                continue;
            };
            tracing::info!("completing interrupted swap of {}", swap_file.display());
            let mut swap_segment =
                LogSegment::open(&self.dir, offset, &self.config, now_ms, SWAP_FILE_SUFFIX)?;
            swap_segment.recover()?;
            let next = swap_segment.read_next_offset()?;
            let mut old = Vec::new();
            for seg in self.segments_range(offset, next) {
                if seg.read_next_offset()? > offset {
                    old.push(seg.base_offset());
                }
            }
            self.replace_segments(vec![swap_segment], &old, true)?;
        }
        Ok(())
    }

    /// Load step 4 (Kafka's `recoverLog`): returns the log end offset and sets the recovery
    /// point.
    fn recover_log(&mut self, opts: &LoadOptions) -> Result<i64, LogError> {
        if !opts.had_clean_shutdown {
            let start = self
                .segments
                .range(..=self.recovery_point)
                .next_back()
                .map(|(b, _)| *b)
                .unwrap_or(i64::MIN);
            let bases: Vec<i64> = self.segments.range(start..).map(|(b, _)| *b).collect();
            for (i, base) in bases.iter().enumerate() {
                let Some(segment) = self.segments.get_mut(base) else {
                    continue;
                };
                tracing::info!(
                    "recovering unflushed segment {base} of {}",
                    self.topic_partition
                );
                let truncated = segment.recover()?;
                if truncated > 0 {
                    tracing::warn!(
                        "corruption found in segment {base} of {}: truncated {truncated} bytes, \
                         deleting {} later segments",
                        self.topic_partition,
                        bases.len() - i - 1
                    );
                    self.remove_and_delete_segments(&bases[i + 1..])?;
                    break;
                }
            }
        }
        let mut end_offset = None;
        if !self.segments.is_empty() {
            let leo = self.active()?.read_next_offset()?;
            if leo >= self.log_start_offset {
                end_offset = Some(leo);
            } else {
                tracing::warn!(
                    "deleting all segments of {}: log end offset {leo} is below the log start \
                     offset {}",
                    self.topic_partition,
                    self.log_start_offset
                );
                let all: Vec<i64> = self.segments.keys().copied().collect();
                self.remove_and_delete_segments(&all)?;
            }
        }
        if self.segments.is_empty() {
            self.add_new_segment(self.log_start_offset, opts.now_ms)?;
        }
        let leo = match (opts.had_clean_shutdown, end_offset) {
            (true, Some(leo)) => {
                self.recovery_point = leo;
                leo
            }
            (_, leo) => {
                let leo = match leo {
                    Some(l) => l,
                    None => self.active()?.read_next_offset()?,
                };
                self.recovery_point = self.recovery_point.min(leo);
                leo
            }
        };
        Ok(leo)
    }

    /// Kafka's `rebuildProducerState`: makes the producer table reflect the log up to
    /// `last_offset` (exclusive). After a clean shutdown without any snapshot (a log written
    /// before producer state existed) the scan is skipped and empty snapshots are taken, as
    /// Kafka does on upgrade; otherwise the table is reloaded from the latest snapshot in
    /// range and the batches from there to `last_offset` are replayed (snapshots are taken at
    /// the last two segment bases on the way and at `last_offset`).
    fn rebuild_producer_state(
        &mut self,
        last_offset: i64,
        reload_from_clean_shutdown: bool,
        now_ms: i64,
    ) -> Result<(), LogError> {
        let mut offsets_to_snapshot = Vec::with_capacity(3);
        let mut bases = self.segments.keys().rev();
        if let Some(last_base) = bases.next() {
            if let Some(previous) = bases.next() {
                offsets_to_snapshot.push(*previous);
            }
            offsets_to_snapshot.push(*last_base);
        }
        offsets_to_snapshot.push(last_offset);
        let ps = &mut self.producer_state;
        if ps.latest_snapshot_offset().is_none() && reload_from_clean_shutdown {
            for offset in offsets_to_snapshot {
                ps.update_map_end_offset(offset);
                ps.take_snapshot(true)?;
            }
            return Ok(());
        }
        let is_empty_before_truncation = ps.is_empty() && ps.map_end_offset() >= last_offset;
        ps.truncate_and_reload(self.log_start_offset, last_offset, now_ms)?;
        if last_offset > ps.map_end_offset() && !is_empty_before_truncation {
            let from = ps.map_end_offset();
            tracing::info!(
                "rebuilding producer state of {} from offset {from} to {last_offset}",
                self.topic_partition
            );
            let start_base = self
                .segments
                .range(..=from)
                .next_back()
                .map_or(i64::MIN, |(b, _)| *b);
            for (base, segment) in self.segments.range(start_base..last_offset) {
                let start = (*base).max(ps.map_end_offset()).max(self.log_start_offset);
                ps.update_map_end_offset(start);
                if offsets_to_snapshot.contains(base) {
                    ps.take_snapshot(true)?;
                }
                load_producers_from_segment(ps, segment, start, last_offset)?;
            }
        }
        ps.update_map_end_offset(last_offset);
        ps.take_snapshot(true)?;
        Ok(())
    }

    fn add_new_segment(&mut self, base_offset: i64, now_ms: i64) -> Result<(), LogError> {
        let segment = LogSegment::create(&self.dir, base_offset, &self.config, now_ms, "")?;
        self.segments.insert(base_offset, segment);
        self.dir_dirty = true;
        Ok(())
    }

    fn active(&self) -> Result<&LogSegment, LogError> {
        self.segments
            .values()
            .next_back()
            .ok_or_else(|| self.no_segments())
    }

    /// The tail shared by leader and follower appends: roll if needed, append the validated
    /// bytes to the active segment, advance the log end offset, flush per `flush.messages`.
    fn append_to_active(
        &mut self,
        bytes: &[u8],
        first_offset: i64,
        last_offset: i64,
        max_timestamp: i64,
        offset_of_max_timestamp: i64,
        now_ms: i64,
    ) -> Result<(), LogError> {
        self.maybe_roll(
            bytes.len(),
            max_timestamp,
            first_offset,
            last_offset,
            now_ms,
        )?;
        self.active_mut()?
            .append(last_offset, max_timestamp, offset_of_max_timestamp, bytes)?;
        self.log_end_offset = last_offset + 1;
        self.maybe_flush_by_messages(now_ms)
    }

    fn active_mut(&mut self) -> Result<&mut LogSegment, LogError> {
        // The error is built only on the (impossible in practice) empty path: this runs twice
        // per append, so nothing may be allocated here.
        let dir = &self.dir;
        self.segments.values_mut().next_back().ok_or_else(|| {
            LogError::InvalidArgument(format!("log {} has no segments", dir.display()))
        })
    }

    fn no_segments(&self) -> LogError {
        LogError::InvalidArgument(format!("log {} has no segments", self.dir.display()))
    }

    fn first_segment_base(&self) -> Result<i64, LogError> {
        self.segments
            .keys()
            .next()
            .copied()
            .ok_or_else(|| self.no_segments())
    }

    fn check_open(&self) -> Result<(), LogError> {
        if self.closed {
            Err(LogError::Closed {
                dir: self.dir.clone(),
            })
        } else {
            Ok(())
        }
    }

    // ---------------------------------------------------------------- accessors

    /// The partition directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn topic_partition(&self) -> &TopicPartition {
        &self.topic_partition
    }

    pub fn config(&self) -> &Arc<LogConfig> {
        &self.config
    }

    /// Applies a changed topic config (new segments and later appends use it; existing
    /// segments keep their index interval and jitter, as in Kafka).
    pub fn update_config(&mut self, config: Arc<LogConfig>) {
        self.config = config;
    }

    pub fn log_start_offset(&self) -> i64 {
        self.log_start_offset
    }

    /// The offset the next appended record gets.
    pub fn log_end_offset(&self) -> i64 {
        self.log_end_offset
    }

    pub fn high_watermark(&self) -> i64 {
        self.high_watermark
    }

    /// Offset up to which the log is known to be on disk.
    pub fn recovery_point(&self) -> i64 {
        self.recovery_point
    }

    /// When the log was last flushed by [`Log::flush_if_due`] or the flush-messages rule.
    pub fn last_flush_ms(&self) -> i64 {
        self.last_flush_ms
    }

    /// Messages appended since the recovery point.
    pub fn unflushed_messages(&self) -> i64 {
        self.log_end_offset - self.recovery_point
    }

    /// Total bytes of all segments.
    pub fn size_in_bytes(&self) -> u64 {
        self.segments.values().map(LogSegment::size).sum()
    }

    pub fn num_segments(&self) -> usize {
        self.segments.len()
    }

    /// All segments, oldest first (read access for the cleaner and tools).
    pub fn segments(&self) -> impl Iterator<Item = &LogSegment> + '_ {
        self.segments.values()
    }

    /// Base offset of the oldest segment (a loaded log always has one; the log start offset
    /// is returned otherwise).
    pub fn first_segment_base_offset(&self) -> i64 {
        self.segments
            .keys()
            .next()
            .copied()
            .unwrap_or(self.log_start_offset)
    }

    /// Segment base offsets, oldest first.
    pub fn segment_base_offsets(&self) -> Vec<i64> {
        self.segments.keys().copied().collect()
    }

    /// The segment taking appends.
    pub fn active_segment(&self) -> Option<&LogSegment> {
        self.segments.values().next_back()
    }

    /// Segments holding offsets in `[from, to)`: from the one containing `from` up to the
    /// last one whose base is below `to` (Kafka's `logSegments(from, to)`).
    pub fn segments_range(&self, from: i64, to: i64) -> Vec<&LogSegment> {
        if to <= from {
            return Vec::new();
        }
        let start = self
            .segments
            .range(..=from)
            .next_back()
            .map_or(i64::MIN, |(b, _)| *b);
        self.segments.range(start..to).map(|(_, s)| s).collect()
    }

    /// True once [`Log::close`] or [`Log::delete_dir`] ran.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// The partition's idempotent-producer table and snapshots.
    /// The leader epoch history (`leader-epoch-checkpoint`).
    pub fn leader_epochs(&self) -> &LeaderEpochCache {
        &self.leader_epochs
    }

    /// Kafka's `endOffsetForEpoch`: where `epoch` ended in this log (OffsetsForLeaderEpoch).
    pub fn end_offset_for_epoch(&self, epoch: i32) -> (i32, i64) {
        self.leader_epochs
            .end_offset_for(epoch, self.log_end_offset)
    }

    pub fn producer_state(&self) -> &ProducerStateManager {
        &self.producer_state
    }

    /// Forgets producers idle for `producer.id.expiration.ms` (`expiration_ms`) without an
    /// open transaction, for the periodic task (Kafka's `PeriodicProducerExpirationCheck`);
    /// returns how many went.
    pub fn remove_expired_producers(&mut self, now_ms: i64, expiration_ms: i64) -> usize {
        let removed = self
            .producer_state
            .remove_expired_producers(now_ms, expiration_ms);
        if removed > 0 {
            tracing::info!(
                "expired {removed} idle producer ids of {}",
                self.topic_partition
            );
        }
        removed
    }

    /// After the recovery-point checkpoint was written: deletes producer snapshots below both
    /// the segment before the recovery point and the segment before the active one (Kafka's
    /// `deleteSnapshotsAfterRecoveryPointCheckpoint`); returns that offset.
    pub fn delete_snapshots_after_recovery_point_checkpoint(&mut self) -> Result<i64, LogError> {
        let active_base = self.active()?.base_offset();
        let two_segments_min = self
            .segments
            .range(..active_base)
            .next_back()
            .map_or(active_base, |(b, _)| *b);
        let recovery_point_min = self
            .segments
            .range(..self.recovery_point)
            .next_back()
            .map_or(self.recovery_point, |(b, _)| *b);
        let min_to_retain = recovery_point_min.min(two_segments_min);
        self.producer_state.delete_snapshots_before(min_to_retain)?;
        Ok(min_to_retain)
    }

    // ---------------------------------------------------------------- appends

    /// Appends a client produce payload as the partition leader (Kafka's `appendAsLeader`
    /// with origin Client). The payload must be exactly one v2 batch (a trailing incomplete
    /// batch is ignored); it is validated (magic, base offset 0, size vs `max.message.bytes`,
    /// CRC, count vs offset delta, producer fields, keys on compacted topics, timestamps) and
    /// then rewritten *in place*: `baseOffset` = log end offset, `partitionLeaderEpoch` =
    /// `leader_epoch`, and for LogAppendTime topics the append time (with a new CRC).
    pub fn append_as_leader(
        &mut self,
        records: &mut [u8],
        leader_epoch: i32,
        now_ms: i64,
    ) -> Result<LogAppendInfo, LogError> {
        self.check_open()?;
        // A produce holds exactly one batch; only other payloads need the general split
        // (which reports the same errors, in the same order, for them).
        let single;
        let general;
        let spans: &[(usize, usize)] = match single_batch_span(records) {
            Some(span) => {
                single = [span];
                &single
            }
            None => {
                general = batch_spans(records)?;
                &general
            }
        };
        let valid_bytes = spans.last().map_or(0, |(_, end)| *end);
        // A v3+ produce must carry a batch (Kafka rejects this when parsing the request).
        if records.is_empty() {
            return Err(LogError::InvalidRecord(format!(
                "produce to {} has no record batch",
                self.topic_partition
            )));
        }
        if spans.is_empty() {
            return Err(LogError::CorruptRecord(format!(
                "produce to {} holds a truncated record batch ({} bytes)",
                self.topic_partition,
                records.len()
            )));
        }
        // Kafka's analyzeAndValidateRecords: per batch, base offset, size, then CRC.
        let max_message_bytes = self.config.max_message_bytes;
        for &(start, end) in spans {
            let batch = parse_batch(&records[start..end])?;
            if batch.base_offset() != 0 {
                return Err(LogError::InvalidRecord(format!(
                    "the base offset of the record batch in the append to {} should be 0, but it \
                     is {}",
                    self.topic_partition,
                    batch.base_offset()
                )));
            }
            let size = batch.size_in_bytes();
            if i64::try_from(size).unwrap_or(i64::MAX) > max_message_bytes as i64 {
                return Err(LogError::MessageTooLarge {
                    size,
                    max: max_message_bytes,
                });
            }
            batch.validate_crc().map_err(|e| {
                LogError::CorruptRecord(format!(
                    "record batch in the append to {} is corrupt: {e}",
                    self.topic_partition
                ))
            })?;
        }
        // Kafka's LogValidator: a v2 produce holds a single batch.
        if spans.len() > 1 {
            return Err(LogError::InvalidRecord(format!(
                "produce to {} holds {} record batches; a v2 produce must hold exactly one",
                self.topic_partition,
                spans.len()
            )));
        }
        let (start, end) = spans[0];
        let batch_bytes = &mut records[start..end];
        let checked = validate_client_batch(batch_bytes, &self.config, now_ms)?;

        if valid_bytes > self.config.segment_bytes.max(0) as usize {
            return Err(LogError::RecordListTooLarge {
                size: valid_bytes,
                max: self.config.segment_bytes,
            });
        }

        let first_offset = self.log_end_offset;
        let last_offset = first_offset + checked.last_offset_delta as i64;
        let log_append_time_type =
            self.config.message_timestamp_type == ConfigTimestampType::LogAppendTime;
        // Idempotence (Kafka's analyzeAndValidateProducerState, origin Client).
        let producer_batch = (checked.producer_id >= 0).then(|| {
            ProducerBatch::new(
                checked.producer_id,
                checked.producer_epoch,
                checked.base_sequence,
                first_offset,
                last_offset,
                if log_append_time_type {
                    now_ms
                } else {
                    checked.max_timestamp
                },
                checked.is_transactional,
            )
        });
        if let Some(batch) = &producer_batch {
            if let Some(original) = self.producer_state.check_client_append(batch)? {
                tracing::debug!(
                    "duplicate batch of producer {} (epoch {}, sequences {}..={}) in {}: \
                     answering its original offsets {}..={}",
                    batch.producer_id,
                    batch.producer_epoch,
                    batch.base_sequence,
                    batch.last_sequence,
                    self.topic_partition,
                    original.first_offset(),
                    original.last_offset
                );
                return Ok(LogAppendInfo {
                    first_offset: original.first_offset(),
                    last_offset: original.last_offset,
                    max_timestamp: batch.max_timestamp,
                    offset_of_max_timestamp: original.last_offset,
                    log_append_time: original.timestamp,
                    log_start_offset: self.log_start_offset,
                    valid_bytes,
                    shallow_count: 1,
                    records_count: checked.records_count as i64,
                    last_leader_epoch: (leader_epoch >= 0).then_some(leader_epoch),
                    source_compression: checked.compression,
                });
            }
        }

        // Assign offsets and stamp the batch in place.
        set_base_offset(batch_bytes, first_offset);
        set_partition_leader_epoch(batch_bytes, leader_epoch);
        let (max_timestamp, offset_of_max_timestamp, log_append_time) =
            match self.config.message_timestamp_type {
                ConfigTimestampType::LogAppendTime => {
                    set_log_append_time(batch_bytes, now_ms);
                    (now_ms, last_offset, now_ms)
                }
                ConfigTimestampType::CreateTime => {
                    if checked.max_timestamp != checked.header_max_timestamp {
                        set_create_time_max_timestamp(batch_bytes, checked.max_timestamp);
                    }
                    let offset = match checked.offset_delta_of_max_timestamp {
                        Some(d) => first_offset + d as i64,
                        None => last_offset,
                    };
                    (checked.max_timestamp, offset, NO_TIMESTAMP)
                }
            };

        self.append_to_active(
            &records[..valid_bytes],
            first_offset,
            last_offset,
            max_timestamp,
            offset_of_max_timestamp,
            now_ms,
        )?;
        if let Some(batch) = &producer_batch {
            self.producer_state.update(batch);
        }
        self.producer_state.update_map_end_offset(last_offset + 1);
        self.leader_epochs.assign(leader_epoch, first_offset)?;
        Ok(LogAppendInfo {
            first_offset,
            last_offset,
            max_timestamp,
            offset_of_max_timestamp,
            log_append_time,
            log_start_offset: self.log_start_offset,
            valid_bytes,
            shallow_count: 1,
            records_count: checked.records_count as i64,
            last_leader_epoch: (leader_epoch >= 0).then_some(leader_epoch),
            source_compression: checked.compression,
        })
    }

    /// Appends batches fetched from the leader verbatim (Kafka's `appendAsFollower`): CRCs are
    /// checked, offsets must increase and start at or after the log end offset; sizes are not
    /// limited (the leader accepted them). A trailing incomplete batch (fetch size cut) is
    /// dropped.
    pub fn append_as_follower(
        &mut self,
        records: &[u8],
        now_ms: i64,
    ) -> Result<LogAppendInfo, LogError> {
        self.check_open()?;
        let spans = batch_spans(records)?;
        let valid_bytes = spans.last().map_or(0, |(_, end)| *end);
        if spans.is_empty() {
            return Ok(self.empty_append_info());
        }
        let mut first_offset = -1;
        let mut last_offset = -1i64;
        let mut max_timestamp = NO_TIMESTAMP;
        let mut offset_of_max_timestamp = -1;
        let mut records_count = 0i64;
        let mut last_epoch = -1;
        let mut compression = CompressionType::None;
        let mut monotonic = true;
        let mut producer_events = Vec::new();
        let mut epoch_starts: Vec<(i32, i64)> = Vec::new();
        for (i, &(start, end)) in spans.iter().enumerate() {
            let batch = parse_batch(&records[start..end])?;
            batch.validate_crc().map_err(|e| {
                LogError::CorruptRecord(format!(
                    "record batch in the append to {} is corrupt: {e}",
                    self.topic_partition
                ))
            })?;
            if i == 0 {
                first_offset = batch.base_offset();
            }
            if batch.last_offset_delta() < 0 || (i > 0 && last_offset >= batch.last_offset()) {
                monotonic = false;
            }
            last_offset = batch.last_offset();
            last_epoch = batch.partition_leader_epoch();
            if epoch_starts.last().is_none_or(|(e, _)| *e != last_epoch) {
                epoch_starts.push((last_epoch, batch.base_offset()));
            }
            records_count += batch.records_count().max(0) as i64;
            if batch.max_timestamp() > max_timestamp {
                max_timestamp = batch.max_timestamp();
                offset_of_max_timestamp = batch.last_offset();
            }
            match batch.compression() {
                Ok(CompressionType::None) => {}
                Ok(c) => compression = c,
                Err(e) => return Err(LogError::CorruptRecord(e.to_string())),
            }
            if batch.producer_id() >= 0 {
                producer_events.extend(producer_event(&batch, &self.topic_partition));
            }
        }
        if !monotonic {
            return Err(LogError::OffsetsOutOfOrder(format!(
                "out of order offsets found in append to {}",
                self.topic_partition
            )));
        }
        if first_offset < self.log_end_offset {
            return Err(LogError::UnexpectedAppendOffset {
                first_offset,
                last_offset,
                log_end: self.log_end_offset,
            });
        }
        if valid_bytes > self.config.segment_bytes.max(0) as usize {
            return Err(LogError::RecordListTooLarge {
                size: valid_bytes,
                max: self.config.segment_bytes,
            });
        }
        self.append_to_active(
            &records[..valid_bytes],
            first_offset,
            last_offset,
            max_timestamp,
            offset_of_max_timestamp,
            now_ms,
        )?;
        // Origin Replication: the leader validated; the state just follows.
        for event in &producer_events {
            apply_producer_event(&mut self.producer_state, event);
        }
        self.producer_state.update_map_end_offset(last_offset + 1);
        for (epoch, start) in epoch_starts {
            self.leader_epochs.assign(epoch, start)?;
        }
        Ok(LogAppendInfo {
            first_offset,
            last_offset,
            max_timestamp,
            offset_of_max_timestamp,
            log_append_time: NO_TIMESTAMP,
            log_start_offset: self.log_start_offset,
            valid_bytes,
            shallow_count: spans.len(),
            records_count,
            last_leader_epoch: (last_epoch >= 0).then_some(last_epoch),
            source_compression: compression,
        })
    }

    fn empty_append_info(&self) -> LogAppendInfo {
        LogAppendInfo {
            first_offset: -1,
            last_offset: -1,
            max_timestamp: NO_TIMESTAMP,
            offset_of_max_timestamp: -1,
            log_append_time: NO_TIMESTAMP,
            log_start_offset: self.log_start_offset,
            valid_bytes: 0,
            shallow_count: 0,
            records_count: 0,
            last_leader_epoch: None,
            source_compression: CompressionType::None,
        }
    }

    fn maybe_flush_by_messages(&mut self, now_ms: i64) -> Result<(), LogError> {
        if self.unflushed_messages() >= self.config.flush_messages {
            self.flush(self.log_end_offset)?;
            self.last_flush_ms = now_ms;
        }
        Ok(())
    }

    // ---------------------------------------------------------------- rolling

    /// Rolls when the active segment says so (spec §7); the new base offset is
    /// max(first incoming offset, log end offset).
    fn maybe_roll(
        &mut self,
        messages_size: usize,
        max_timestamp: i64,
        first_offset: i64,
        last_offset: i64,
        now_ms: i64,
    ) -> Result<(), LogError> {
        let params = RollParams {
            max_segment_ms: self.config.max_segment_ms(),
            max_segment_bytes: self.config.segment_bytes,
            max_timestamp_in_messages: max_timestamp,
            max_offset_in_messages: last_offset,
            messages_size,
            now_ms,
        };
        if self.active_mut()?.should_roll(&params)? {
            self.roll_at(Some(first_offset), now_ms)?;
        }
        Ok(())
    }

    /// Starts a new active segment at the log end offset; returns its base offset.
    pub fn roll(&mut self, now_ms: i64) -> Result<i64, LogError> {
        self.check_open()?;
        self.roll_at(None, now_ms)
    }

    /// Kafka's `roll(expectedNextOffset)`: the old active segment gets its final time-index
    /// entry and trimmed files; the new one starts at max(expected, log end offset).
    fn roll_at(&mut self, expected_next_offset: Option<i64>, now_ms: i64) -> Result<i64, LogError> {
        let new_offset = expected_next_offset.unwrap_or(0).max(self.log_end_offset);
        let (active_base, active_size) = {
            let a = self.active()?;
            (a.base_offset(), a.size())
        };
        if self.segments.contains_key(&new_offset) {
            if active_base == new_offset && active_size == 0 {
                // An empty active segment at the same offset (an index reported full):
                // replace it (Kafka's KAFKA-6388 handling).
                tracing::warn!(
                    "rolling {} at {new_offset} over an empty active segment with the same base",
                    self.topic_partition
                );
                self.remove_and_delete_segments(&[new_offset])?;
            } else {
                return Err(LogError::InvalidArgument(format!(
                    "cannot roll {} to a new segment at {new_offset}: a segment with that base \
                     offset exists",
                    self.topic_partition
                )));
            }
        } else if new_offset < active_base {
            return Err(LogError::InvalidArgument(format!(
                "cannot roll {} to a new segment at {new_offset}, below the active segment \
                 {active_base}",
                self.topic_partition
            )));
        } else {
            for path in [
                log_file(&self.dir, new_offset, ""),
                offset_index_file(&self.dir, new_offset, ""),
                time_index_file(&self.dir, new_offset, ""),
                txn_index_file(&self.dir, new_offset, ""),
            ] {
                if path.exists() {
                    tracing::warn!(
                        "newly rolled segment file {} already exists; deleting it",
                        path.display()
                    );
                    Self::delete_file_if_exists(&path)?;
                }
            }
            self.active_mut()?.on_become_inactive()?;
        }
        self.add_new_segment(new_offset, now_ms)?;
        // A snapshot at the new base lets recovery start from this segment (Kafka writes it
        // here and fsyncs it with the next flush).
        self.producer_state.update_map_end_offset(new_offset);
        self.producer_state.take_snapshot(false)?;
        tracing::info!(
            "rolled new log segment of {} at offset {new_offset}",
            self.topic_partition
        );
        Ok(new_offset)
    }

    // ---------------------------------------------------------------- reads

    /// Reads from `start_offset` (Kafka's `Log.read`): at most `max_bytes` (the first batch
    /// whole if `min_one_message`), never past `upper_bound` (the high watermark for
    /// consumers, `None` = log end offset for followers). A start offset inside a batch
    /// returns that whole batch. `OffsetOutOfRange` below the log start or past the end.
    pub fn read(
        &self,
        start_offset: i64,
        max_bytes: usize,
        upper_bound: Option<i64>,
        min_one_message: bool,
    ) -> Result<FetchDataInfo, LogError> {
        let end_offset = self.log_end_offset;
        let floor = self.segments.range(..=start_offset).next_back();
        if start_offset > end_offset || floor.is_none() || start_offset < self.log_start_offset {
            return Err(LogError::OffsetOutOfRange {
                requested: start_offset,
                log_start: self.log_start_offset,
                log_end: end_offset,
            });
        }
        let max_offset = upper_bound.map_or(end_offset, |u| u.min(end_offset));
        if start_offset >= max_offset {
            return self.empty_fetch(start_offset.max(max_offset).min(end_offset), start_offset);
        }
        let (max_segment_base, max_position) = self.offset_metadata(max_offset)?;
        let start_base = floor.map_or(i64::MIN, |(b, _)| *b);
        for segment in self.segments.range(start_base..).map(|(_, s)| s) {
            let max_position = if segment.base_offset() == max_segment_base {
                max_position
            } else {
                segment.size()
            };
            if let Some(info) =
                segment.read(start_offset, max_bytes, max_position, min_one_message)?
            {
                return Ok(info);
            }
        }
        // Past the last batch although in range (everything above was removed): empty.
        self.empty_fetch(end_offset, start_offset)
    }

    /// An empty read positioned at `at_offset`.
    fn empty_fetch(&self, at_offset: i64, fetch_offset: i64) -> Result<FetchDataInfo, LogError> {
        let (base, position) = self.offset_metadata(at_offset)?;
        let segment = self.segments.get(&base).ok_or_else(|| self.no_segments())?;
        Ok(FetchDataInfo {
            fetch_offset,
            segment_base_offset: base,
            position,
            records: FileRange {
                file: Arc::clone(segment.log().file()),
                position,
                len: 0,
            },
            first_entry_incomplete: false,
        })
    }

    /// The segment and byte position of `offset` (the start of the batch holding it, or the
    /// segment end when no batch does) — Kafka's `LogOffsetMetadata`.
    fn offset_metadata(&self, offset: i64) -> Result<(i64, u64), LogError> {
        let active = self.active()?;
        if offset >= self.log_end_offset {
            return Ok((active.base_offset(), active.size()));
        }
        let segment = match self.segments.range(..=offset).next_back() {
            Some((_, s)) => s,
            None => match self.segments.values().next() {
                Some(first) => return Ok((first.base_offset(), 0)),
                None => return Err(self.no_segments()),
            },
        };
        let position = match segment.translate_offset(offset, 0)? {
            Some(p) => p.position,
            None => segment.size(),
        };
        Ok((segment.base_offset(), position))
    }

    /// ListOffsets (Kafka's `fetchOffsetByTimestamp`): `EARLIEST_TIMESTAMP` → log start,
    /// `LATEST_TIMESTAMP` → log end (timestamp −1 for both), `MAX_TIMESTAMP` → the record with
    /// the largest timestamp, otherwise the first record with timestamp ≥ `target` at or
    /// after the log start; `None` when there is none.
    pub fn fetch_offset_by_timestamp(
        &self,
        target: i64,
    ) -> Result<Option<TimestampAndOffset>, LogError> {
        match target {
            EARLIEST_TIMESTAMP => Ok(Some(TimestampAndOffset {
                timestamp: NO_TIMESTAMP,
                offset: self.log_start_offset,
                leader_epoch: None,
            })),
            LATEST_TIMESTAMP => Ok(Some(TimestampAndOffset {
                timestamp: NO_TIMESTAMP,
                offset: self.log_end_offset,
                leader_epoch: None,
            })),
            MAX_TIMESTAMP => {
                let mut best: Option<&LogSegment> = None;
                for s in self.segments.values() {
                    if best.is_none_or(|b| s.max_timestamp_so_far() > b.max_timestamp_so_far()) {
                        best = Some(s);
                    }
                }
                Ok(best.map(|s| {
                    let t = s.max_timestamp_and_offset_so_far();
                    TimestampAndOffset {
                        timestamp: t.timestamp,
                        offset: t.offset,
                        leader_epoch: None,
                    }
                }))
            }
            _ => {
                for segment in self.segments.values() {
                    if segment.largest_timestamp()? >= target {
                        return segment.find_offset_by_timestamp(target, self.log_start_offset);
                    }
                }
                Ok(None)
            }
        }
    }

    // ---------------------------------------------------------------- offsets

    /// Sets the high watermark, clamped to `[log start, log end]`; returns the value set.
    pub fn update_high_watermark(&mut self, hw: i64) -> i64 {
        let clamped = hw.max(self.log_start_offset).min(self.log_end_offset);
        self.high_watermark = clamped;
        clamped
    }

    /// Raises the high watermark (leader, after follower fetches); returns the old value if
    /// it moved. Above the log end offset is an error.
    pub fn maybe_increment_high_watermark(&mut self, hw: i64) -> Result<Option<i64>, LogError> {
        if hw > self.log_end_offset {
            return Err(LogError::InvalidArgument(format!(
                "high watermark {hw} of {} exceeds the log end offset {}",
                self.topic_partition, self.log_end_offset
            )));
        }
        if hw > self.high_watermark {
            let old = self.high_watermark;
            self.high_watermark = hw;
            Ok(Some(old))
        } else {
            Ok(None)
        }
    }

    /// Moves the log start offset forward (DeleteRecords, leader start offset, retention).
    /// Beyond the high watermark is `OffsetOutOfRange`. Returns true if it moved. Segments
    /// entirely below it are removed by the next [`Log::delete_old_segments`].
    pub fn maybe_increment_log_start_offset(
        &mut self,
        new_log_start_offset: i64,
        reason: LogStartOffsetIncrementReason,
    ) -> Result<bool, LogError> {
        self.check_open()?;
        if new_log_start_offset > self.high_watermark {
            return Err(LogError::OffsetOutOfRange {
                requested: new_log_start_offset,
                log_start: self.log_start_offset,
                log_end: self.high_watermark,
            });
        }
        if new_log_start_offset <= self.log_start_offset {
            return Ok(false);
        }
        self.set_log_start_offset(new_log_start_offset);
        tracing::info!(
            "incremented log start offset of {} to {new_log_start_offset} due to {reason:?}",
            self.topic_partition
        );
        Ok(true)
    }

    fn set_log_start_offset(&mut self, offset: i64) {
        self.log_start_offset = offset;
        if self.high_watermark < offset {
            self.update_high_watermark(offset);
        }
        if self.recovery_point < offset {
            self.recovery_point = offset;
        }
        self.producer_state.on_log_start_offset_incremented(offset);
        if let Err(e) = self.leader_epochs.truncate_from_start(offset) {
            tracing::warn!(tp = %self.topic_partition, error = %e, "could not write the leader epoch checkpoint");
        }
    }

    // ---------------------------------------------------------------- truncation

    /// Removes everything at offsets ≥ `target` (follower truncation; the batch holding
    /// `target` goes whole). Returns false when `target` ≥ log end offset (nothing to do).
    pub fn truncate_to(&mut self, target: i64) -> Result<bool, LogError> {
        self.check_open()?;
        if target < 0 {
            return Err(LogError::InvalidArgument(format!(
                "cannot truncate {} to a negative offset ({target})",
                self.topic_partition
            )));
        }
        if target >= self.log_end_offset {
            return Ok(false);
        }
        tracing::info!("truncating {} to offset {target}", self.topic_partition);
        if self.first_segment_base()? > target {
            self.truncate_fully_and_start_at(target)?;
        } else {
            let deletable: Vec<i64> = self
                .segments
                .range(target.saturating_add(1)..)
                .map(|(b, _)| *b)
                .collect();
            self.remove_and_delete_segments(&deletable)?;
            self.delete_producer_snapshots_async(&deletable)?;
            self.active_mut()?.truncate_to(target, wall_clock_ms())?;
            self.complete_truncation(target.min(self.log_start_offset), target);
            self.leader_epochs.truncate_from_end(target)?;
            self.rebuild_producer_state(target, false, wall_clock_ms())?;
        }
        Ok(true)
    }

    /// Deletes all data and starts empty at `new_offset` (log start = log end = new_offset).
    pub fn truncate_fully_and_start_at(&mut self, new_offset: i64) -> Result<(), LogError> {
        self.check_open()?;
        if new_offset < 0 {
            return Err(LogError::InvalidArgument(format!(
                "cannot start {} at a negative offset ({new_offset})",
                self.topic_partition
            )));
        }
        let all: Vec<i64> = self.segments.keys().copied().collect();
        self.remove_and_delete_segments(&all)?;
        self.add_new_segment(new_offset, wall_clock_ms())?;
        self.producer_state
            .truncate_fully_and_start_at(new_offset)?;
        self.complete_truncation(new_offset, new_offset);
        self.leader_epochs.clear()?;
        self.rebuild_producer_state(new_offset, false, wall_clock_ms())?;
        Ok(())
    }

    fn complete_truncation(&mut self, start_offset: i64, end_offset: i64) {
        self.log_start_offset = start_offset;
        self.log_end_offset = end_offset;
        self.recovery_point = self.recovery_point.min(end_offset);
        self.update_high_watermark(self.high_watermark.min(end_offset));
    }

    // ---------------------------------------------------------------- flushing

    /// fsyncs the segments holding offsets in `[recovery point, up_to)` and moves the
    /// recovery point to `up_to` (clamped to the log end offset).
    pub fn flush(&mut self, up_to: i64) -> Result<(), LogError> {
        // Snapshots written at roll are made durable with the next flush, as in Kafka.
        self.producer_state.sync_snapshots()?;
        let up_to = up_to.min(self.log_end_offset);
        if up_to <= self.recovery_point {
            return Ok(());
        }
        for segment in self.segments_range(self.recovery_point, up_to) {
            segment.flush()?;
        }
        if self.dir_dirty {
            // New or renamed segment files must survive a crash too.
            fs::File::open(&self.dir)
                .and_then(|d| d.sync_all())
                .ctx(&self.dir)?;
            self.dir_dirty = false;
        }
        self.recovery_point = up_to;
        Ok(())
    }

    /// Flushes everything (recovery point = log end offset).
    pub fn flush_all(&mut self) -> Result<(), LogError> {
        self.flush(self.log_end_offset)
    }

    /// The `flush.ms` rule, for a periodic caller: flushes when `flush.ms` has passed since
    /// the last flush. Returns true if it flushed.
    pub fn flush_if_due(&mut self, now_ms: i64) -> Result<bool, LogError> {
        if now_ms.saturating_sub(self.last_flush_ms) >= self.config.flush_ms {
            self.flush_all()?;
            self.last_flush_ms = now_ms;
            Ok(true)
        } else {
            Ok(false)
        }
    }

    // ---------------------------------------------------------------- retention

    /// Retention (spec §8), for the periodic task: with `cleanup.policy` containing `delete`,
    /// removes the oldest segments past `retention.ms` (by largest timestamp, or mtime), then
    /// while the log exceeds `retention.bytes`; always removes segments whose next segment
    /// starts at or below the log start offset. Only segments entirely below the high
    /// watermark go; the scan stops at the first segment that must stay; an empty active
    /// segment is never removed (if every segment goes, a new one is rolled first). Returns
    /// the number of segments removed; their files are in [`Log::take_pending_deletions`].
    pub fn delete_old_segments(&mut self, now_ms: i64) -> Result<usize, LogError> {
        self.check_open()?;
        let mut deleted = 0;
        if self.config.delete() {
            deleted += self.delete_retention_ms_breached_segments(now_ms)?;
            deleted += self.delete_retention_size_breached_segments(now_ms)?;
        }
        deleted += self.delete_log_start_offset_breached_segments(now_ms)?;
        Ok(deleted)
    }

    fn delete_retention_ms_breached_segments(&mut self, now_ms: i64) -> Result<usize, LogError> {
        let retention_ms = self.config.retention_ms;
        if retention_ms < 0 {
            return Ok(0);
        }
        self.delete_old_segments_where(now_ms, |segment, _| {
            Ok(now_ms.saturating_sub(segment.largest_timestamp()?) > retention_ms)
        })
    }

    fn delete_retention_size_breached_segments(&mut self, now_ms: i64) -> Result<usize, LogError> {
        let retention_bytes = self.config.retention_bytes;
        let size = self.size_in_bytes() as i64;
        if retention_bytes < 0 || size < retention_bytes {
            return Ok(0);
        }
        let mut diff = size - retention_bytes;
        self.delete_old_segments_where(now_ms, |segment, _| {
            let seg_size = segment.size() as i64;
            if diff - seg_size >= 0 {
                diff -= seg_size;
                Ok(true)
            } else {
                Ok(false)
            }
        })
    }

    fn delete_log_start_offset_breached_segments(
        &mut self,
        now_ms: i64,
    ) -> Result<usize, LogError> {
        let log_start = self.log_start_offset;
        self.delete_old_segments_where(now_ms, |_, next| {
            Ok(next.is_some_and(|n| n.base_offset() <= log_start))
        })
    }

    /// Kafka's `deletableSegments` + `deleteSegments`.
    fn delete_old_segments_where(
        &mut self,
        now_ms: i64,
        mut predicate: impl FnMut(&LogSegment, Option<&LogSegment>) -> Result<bool, LogError>,
    ) -> Result<usize, LogError> {
        let mut deletable = Vec::new();
        let mut iter = self.segments.values().peekable();
        while let Some(segment) = iter.next() {
            let next = iter.peek().copied();
            let (upper_bound, is_last_and_empty) = match next {
                Some(n) => (n.base_offset(), false),
                None => (self.log_end_offset, segment.size() == 0),
            };
            if self.high_watermark >= upper_bound && !is_last_and_empty && predicate(segment, next)?
            {
                deletable.push(segment.base_offset());
            } else {
                break;
            }
        }
        if deletable.is_empty() {
            return Ok(0);
        }
        if deletable.len() == self.segments.len() {
            // Always keep one segment: roll first so the new active one survives.
            self.roll_at(None, now_ms)?;
        }
        self.remove_and_delete_segments(&deletable)?;
        self.delete_producer_snapshots_async(&deletable)?;
        let first = self.first_segment_base()?;
        if first > self.log_start_offset {
            // first ≤ high watermark: deleted segments were entirely below it.
            self.set_log_start_offset(first);
            tracing::info!(
                "incremented log start offset of {} to {first} due to segment deletion",
                self.topic_partition
            );
        }
        Ok(deletable.len())
    }

    /// Removes segments from the log and renames their files `.deleted`; the files are
    /// queued for the caller to delete after `file.delete.delay.ms`.
    fn remove_and_delete_segments(&mut self, bases: &[i64]) -> Result<(), LogError> {
        for base in bases {
            if let Some(segment) = self.segments.remove(base) {
                self.delete_segment_files_async(segment)?;
            }
        }
        Ok(())
    }

    fn delete_segment_files_async(&mut self, mut segment: LogSegment) -> Result<(), LogError> {
        segment.change_file_suffixes("", DELETED_FILE_SUFFIX)?;
        self.dir_dirty = true;
        self.push_pending_deletion(segment.base_offset(), segment.files());
        Ok(())
    }

    fn push_pending_deletion(&mut self, base_offset: i64, files: Vec<PathBuf>) {
        if self.pending_deletions.len() >= MAX_PENDING_DELETIONS {
            // Nobody is draining the queue: forget the oldest entry. Its files keep their
            // `.deleted` names, so a directory scan or the next load still removes them.
            self.pending_deletions.remove(0);
        }
        self.pending_deletions.push(PendingDeletion {
            base_offset,
            files,
            delay_ms: self.config.file_delete_delay_ms,
        });
    }

    /// The producer snapshots at the base offsets of removed segments are renamed `.deleted`
    /// and deleted with them (Kafka's `deleteProducerSnapshots` with async delete).
    fn delete_producer_snapshots_async(&mut self, bases: &[i64]) -> Result<(), LogError> {
        for base in bases {
            if let Some(path) = self
                .producer_state
                .remove_and_mark_snapshot_for_deletion(*base)?
            {
                self.dir_dirty = true;
                self.push_pending_deletion(*base, vec![path]);
            }
        }
        Ok(())
    }

    /// Segments removed since the last call (renamed `.deleted`): delete their files after
    /// `delay_ms` (Kafka schedules this on its scheduler; readers holding a `FileRange` keep
    /// working meanwhile). Leftovers are also deleted when the log is next loaded.
    pub fn take_pending_deletions(&mut self) -> Vec<PendingDeletion> {
        std::mem::take(&mut self.pending_deletions)
    }

    /// Deletes the files of every pending deletion now (tests, shutdown).
    pub fn delete_pending_files_now(&mut self) -> Result<(), LogError> {
        for pending in self.take_pending_deletions() {
            pending.delete_files()?;
        }
        Ok(())
    }

    // ---------------------------------------------------------------- cleaner support

    /// Swaps cleaned segments in for old ones, crash-safely (Kafka's `replaceSegments`): new
    /// segments (created with suffix `.cleaned`) are renamed `.swap`, the old segments are
    /// removed and renamed `.deleted`, then the `.swap` files get their live names. A crash at
    /// any point is completed or rolled back by [`Log::open`].
    pub fn replace_segments(
        &mut self,
        mut new_segments: Vec<LogSegment>,
        old_bases: &[i64],
        is_recovered_swap: bool,
    ) -> Result<(), LogError> {
        self.check_open()?;
        new_segments.sort_by_key(LogSegment::base_offset);
        if !is_recovered_swap {
            for segment in new_segments.iter_mut().rev() {
                segment.change_file_suffixes(CLEANED_FILE_SUFFIX, SWAP_FILE_SUFFIX)?;
            }
        }
        let mut old: Vec<i64> = old_bases
            .iter()
            .copied()
            .filter(|b| self.segments.contains_key(b))
            .collect();
        old.sort_unstable();
        self.remove_and_delete_segments(&old)?;
        let new_bases: Vec<i64> = new_segments.iter().map(LogSegment::base_offset).collect();
        for mut segment in new_segments {
            segment.change_file_suffixes(SWAP_FILE_SUFFIX, "")?;
            self.segments.insert(segment.base_offset(), segment);
        }
        self.dir_dirty = true;
        // Snapshots of segments merged into others go (Kafka deletes those of the old
        // segments that were not replaced by a new one with the same base).
        let not_replaced: Vec<i64> = old.into_iter().filter(|b| !new_bases.contains(b)).collect();
        self.delete_producer_snapshots_async(&not_replaced)?;
        Ok(())
    }

    // ---------------------------------------------------------------- lifecycle

    /// Clean close: flushes everything, appends the final time-index entries and trims the
    /// indexes and preallocated `.log` files. Later changes fail with `Closed`.
    pub fn close(&mut self) -> Result<(), LogError> {
        if self.closed {
            return Ok(());
        }
        // A snapshot at the log end spares the next load a scan of the log.
        self.producer_state.take_snapshot(true)?;
        self.flush_all()?;
        for segment in self.segments.values_mut() {
            segment.close()?;
        }
        self.closed = true;
        Ok(())
    }

    /// Moves the partition directory to `new_dir` (e.g. `<topic>-<p>.<uuid>-delete`), keeping
    /// the log usable.
    pub fn rename_dir(&mut self, new_dir: &Path) -> Result<(), LogError> {
        fs::rename(&self.dir, new_dir).ctx(&self.dir)?;
        self.dir = new_dir.to_path_buf();
        self.producer_state.update_parent_dir(new_dir);
        self.leader_epochs.set_dir(new_dir);
        for segment in self.segments.values_mut() {
            segment.update_parent_dir(new_dir);
        }
        for pending in &mut self.pending_deletions {
            for f in &mut pending.files {
                if let Some(name) = f.file_name() {
                    *f = new_dir.join(name);
                }
            }
        }
        Ok(())
    }

    /// Deletes every segment and the partition directory now (topic deletion).
    pub fn delete_dir(&mut self) -> Result<(), LogError> {
        let all: Vec<i64> = self.segments.keys().copied().collect();
        for base in all {
            if let Some(segment) = self.segments.remove(&base) {
                segment.delete()?;
            }
        }
        self.pending_deletions.clear();
        self.producer_state.forget_snapshots();
        match fs::remove_dir_all(&self.dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(LogError::io(&self.dir, e))
            }
            _ => {}
        }
        self.closed = true;
        Ok(())
    }
}

impl std::fmt::Debug for Log {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Log")
            .field("dir", &self.dir)
            .field("log_start_offset", &self.log_start_offset)
            .field("log_end_offset", &self.log_end_offset)
            .field("high_watermark", &self.high_watermark)
            .field("recovery_point", &self.recovery_point)
            .field("segments", &self.segments.len())
            .finish()
    }
}

/// `.index`, `.timeindex` and `.txnindex` names (without further suffix).
fn is_index_file_name(name: &str) -> bool {
    name.ends_with(INDEX_FILE_SUFFIX)
        || name.ends_with(TIME_INDEX_FILE_SUFFIX)
        || name.ends_with(TXN_INDEX_FILE_SUFFIX)
}

/// Splits a payload into complete batches: `(start, end)` byte ranges. An incomplete batch at
/// the end is left out (Kafka drops it); a length smaller than the v2 header is
/// `CorruptRecord`, a magic other than 2 is `UnsupportedForMessageFormat`.
fn batch_spans(records: &[u8]) -> Result<Vec<(usize, usize)>, LogError> {
    let mut spans = Vec::new();
    let mut position = 0usize;
    while let Some(size) = next_batch_size(&records[position..]) {
        let size = size.map_err(|e| {
            LogError::CorruptRecord(format!("record batch at byte {position}: {e}"))
        })?;
        let end = match position.checked_add(size) {
            Some(end) if end <= records.len() => end,
            _ => break,
        };
        // A complete batch has at least the magic byte (size ≥ 61 from next_batch_size).
        let magic = records.get(position + 16).map_or(-1, |m| *m as i8);
        if magic != MAGIC_V2 {
            return Err(LogError::UnsupportedForMessageFormat(format!(
                "record batch at byte {position} has magic {magic}; only v2 is supported"
            )));
        }
        spans.push((position, end));
        position = end;
    }
    Ok(spans)
}

/// `batch_spans` for the common produce payload: when `records` is exactly one complete v2
/// batch, its span `(0, len)`, which is what `batch_spans` returns for it. `None` for anything
/// else (several batches, a trailing partial batch, a bad length or magic): the caller then
/// runs `batch_spans`, which gives the result or error for those.
fn single_batch_span(records: &[u8]) -> Option<(usize, usize)> {
    match next_batch_size(records) {
        Some(Ok(size)) if size == records.len() && records.get(16) == Some(&(MAGIC_V2 as u8)) => {
            Some((0, size))
        }
        _ => None,
    }
}

/// A producer-state change carried by one batch (follower appends and replay).
enum ProducerEvent {
    Data(ProducerBatch),
    Marker {
        producer_id: i64,
        producer_epoch: i16,
        coordinator_epoch: i32,
        timestamp: i64,
    },
}

/// The producer-state change of a batch with a producer id: its data, or for a control batch
/// its COMMIT/ABORT marker. An empty control batch (a transaction the cleaner removed) has
/// none; an undecodable marker is logged and skipped.
fn producer_event(batch: &RecordBatch<'_>, tp: &TopicPartition) -> Option<ProducerEvent> {
    if !batch.is_control() {
        return Some(ProducerEvent::Data(ProducerBatch::new(
            batch.producer_id(),
            batch.producer_epoch(),
            batch.base_sequence(),
            batch.base_offset(),
            batch.last_offset(),
            batch.max_timestamp(),
            batch.is_transactional(),
        )));
    }
    if batch.records_count() == 0 {
        return None;
    }
    let decoded = decode_records(batch)
        .map_err(|e| e.to_string())
        .and_then(|records| {
            let record = records
                .into_iter()
                .next()
                .ok_or_else(|| "no record".to_string())?;
            let marker =
                EndTransactionMarker::decode(record.key.as_deref(), record.value.as_deref())
                    .map_err(|e| e.to_string())?;
            Ok((marker, record.timestamp))
        });
    match decoded {
        Ok((marker, timestamp)) => Some(ProducerEvent::Marker {
            producer_id: batch.producer_id(),
            producer_epoch: batch.producer_epoch(),
            coordinator_epoch: marker.coordinator_epoch,
            timestamp,
        }),
        Err(e) => {
            tracing::warn!(
                "control batch at offset {} of {tp} has no readable transaction marker ({e}); \
                 producer state not updated for it",
                batch.base_offset()
            );
            None
        }
    }
}

fn apply_producer_event(ps: &mut ProducerStateManager, event: &ProducerEvent) {
    match event {
        ProducerEvent::Data(batch) => ps.update(batch),
        ProducerEvent::Marker {
            producer_id,
            producer_epoch,
            coordinator_epoch,
            timestamp,
        } => ps.append_end_txn_marker(
            *producer_id,
            *producer_epoch,
            *coordinator_epoch,
            *timestamp,
        ),
    }
}

/// Replays the producer batches of `segment` whose last offset is in `[start, end)` (Kafka's
/// `loadProducersFromRecords`, origin Replication). Data batches need only their headers;
/// control batches are read whole for their marker.
fn load_producers_from_segment(
    ps: &mut ProducerStateManager,
    segment: &LogSegment,
    start: i64,
    end: i64,
) -> Result<(), LogError> {
    let Some(from) = segment.translate_offset(start, 0)? else {
        return Ok(());
    };
    for header in segment.log().headers_from(from.position) {
        let header = header?;
        if header.last_offset() >= end {
            break;
        }
        if header.producer_id < 0 || header.last_offset() < start {
            continue;
        }
        if header.is_control() {
            let bytes = segment.log().read_batch(&header)?;
            let batch = parse_batch(&bytes)?;
            let event = producer_event(&batch, ps.topic_partition());
            if let Some(event) = event {
                apply_producer_event(ps, &event);
            }
        } else {
            ps.update(&ProducerBatch::new(
                header.producer_id,
                header.producer_epoch,
                header.base_sequence,
                header.base_offset,
                header.last_offset(),
                header.max_timestamp,
                header.is_transactional(),
            ));
        }
    }
    Ok(())
}

/// Parses a complete span (already checked by `batch_spans`).
fn parse_batch(bytes: &[u8]) -> Result<RecordBatch<'_>, LogError> {
    RecordBatch::parse(bytes).map_err(|e| LogError::CorruptRecord(e.to_string()))
}

/// What client-batch validation learned.
struct CheckedBatch {
    last_offset_delta: i32,
    records_count: i32,
    /// Max record timestamp (for compressed batches without decompression: the header's).
    max_timestamp: i64,
    header_max_timestamp: i64,
    /// Offset delta of the first record with `max_timestamp`, when records were walked
    /// uncompressed; otherwise the last offset is used (Kafka's shallow offset).
    offset_delta_of_max_timestamp: Option<i32>,
    compression: CompressionType,
    /// Producer fields of the header (−1 ids when not idempotent).
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
    is_transactional: bool,
}

/// Kafka's `LogValidator` checks for a client batch (`validateBatch` + `validateRecord`).
/// Uncompressed records are walked (cheap: varint parsing only); compressed batches are only
/// decompressed when the topic is compacted (keys must be checked), otherwise their header
/// timestamps are checked.
fn validate_client_batch(
    bytes: &[u8],
    config: &LogConfig,
    now_ms: i64,
) -> Result<CheckedBatch, LogError> {
    let batch = parse_batch(bytes)?;
    let delta = batch.last_offset_delta();
    let count = batch.records_count();
    if delta < 0 {
        return Err(LogError::InvalidRecord(format!(
            "batch has an invalid offset range: last offset delta {delta}"
        )));
    }
    if count <= 0 {
        return Err(LogError::InvalidRecord(format!(
            "invalid reported count for record batch: {count}"
        )));
    }
    if delta as i64 + 1 != count as i64 {
        return Err(LogError::InvalidRecord(format!(
            "inconsistent batch offset range [0, {delta}] and count of records {count}"
        )));
    }
    if batch.is_control() {
        return Err(LogError::InvalidRecord(
            "clients are not allowed to write control records".into(),
        ));
    }
    if batch.producer_id() >= 0 && batch.base_sequence() < 0 {
        return Err(LogError::InvalidRecord(format!(
            "invalid sequence number {} in record batch with producerId {}",
            batch.base_sequence(),
            batch.producer_id()
        )));
    }
    let compression = batch
        .compression()
        .map_err(|e| LogError::CorruptRecord(e.to_string()))?;
    if batch.timestamp_type() == TimestampType::LogAppendTime {
        return Err(LogError::InvalidTimestamp(
            "producer should not set timestamp type to LogAppendTime".into(),
        ));
    }
    let create_time = config.message_timestamp_type == ConfigTimestampType::CreateTime;
    let max_diff = config.message_timestamp_difference_max_ms;
    let check_ts = |ts: i64| -> Result<(), LogError> {
        if create_time
            && ts != NO_TIMESTAMP
            && (ts as i128 - now_ms as i128).abs() > max_diff as i128
        {
            return Err(timestamp_out_of_range(ts, now_ms, max_diff));
        }
        Ok(())
    };
    let compacted = config.compact();
    let header_max_timestamp = batch.max_timestamp();
    if compression != CompressionType::None && !compacted {
        check_ts(batch.base_timestamp())?;
        check_ts(header_max_timestamp)?;
        return Ok(CheckedBatch {
            last_offset_delta: delta,
            records_count: count,
            max_timestamp: header_max_timestamp,
            header_max_timestamp,
            offset_delta_of_max_timestamp: None,
            compression,
            producer_id: batch.producer_id(),
            producer_epoch: batch.producer_epoch(),
            base_sequence: batch.base_sequence(),
            is_transactional: batch.is_transactional(),
        });
    }
    // One fused pass over the records (decompressed for a compressed batch of a compacted
    // topic): framing, offset deltas, keys when compacted, timestamps under CreateTime.
    let section = records_section(&batch).map_err(LogError::InvalidRecord)?;
    let checks = ClientRecordChecks {
        base_timestamp: batch.base_timestamp(),
        require_key: compacted,
        timestamp_window: create_time.then_some((now_ms, max_diff)),
    };
    let summary = check_client_records(&section, count, &checks).map_err(|e| match e {
        ClientRecordError::Framing(msg) => LogError::InvalidRecord(msg),
        ClientRecordError::OffsetDelta {
            index,
            offset_delta,
        } => LogError::InvalidRecord(format!("record {index} has offset delta {offset_delta}")),
        ClientRecordError::MissingKey => {
            LogError::InvalidRecord("compacted topic cannot accept message without key".into())
        }
        ClientRecordError::Timestamp(ts) => timestamp_out_of_range(ts, now_ms, max_diff),
    })?;
    if compression != CompressionType::None {
        // Compressed (compacted topic): keep the header's max timestamp and Kafka's shallow
        // offset (the last offset); the walk only validated the records.
        return Ok(CheckedBatch {
            last_offset_delta: delta,
            records_count: count,
            max_timestamp: header_max_timestamp,
            header_max_timestamp,
            offset_delta_of_max_timestamp: None,
            compression,
            producer_id: batch.producer_id(),
            producer_epoch: batch.producer_epoch(),
            base_sequence: batch.base_sequence(),
            is_transactional: batch.is_transactional(),
        });
    }
    Ok(CheckedBatch {
        last_offset_delta: delta,
        records_count: count,
        max_timestamp: summary.max_timestamp,
        header_max_timestamp,
        offset_delta_of_max_timestamp: summary.offset_delta_of_max_timestamp,
        compression,
        producer_id: batch.producer_id(),
        producer_epoch: batch.producer_epoch(),
        base_sequence: batch.base_sequence(),
        is_transactional: batch.is_transactional(),
    })
}

/// Kafka's `InvalidTimestampException` for a timestamp outside
/// `message.timestamp.difference.max.ms`.
fn timestamp_out_of_range(ts: i64, now_ms: i64, max_diff: i64) -> LogError {
    LogError::InvalidTimestamp(format!(
        "timestamp {ts} of a record is out of range: now {now_ms}, \
         message.timestamp.difference.max.ms {max_diff}"
    ))
}

/// Rewrites `maxTimestamp` of a CreateTime batch (what Kafka's `setMaxTimestamp` does when a
/// producer's header disagrees with its records) and recomputes the CRC, which covers it.
fn set_create_time_max_timestamp(batch: &mut [u8], max_timestamp: i64) {
    // Layout (spec §3): crc at 17..21 covers 21..end; maxTimestamp at 35..43.
    const CRC: usize = 17;
    const ATTRIBUTES: usize = 21;
    const MAX_TIMESTAMP_AT: usize = 35;
    if batch.len() < RECORD_BATCH_OVERHEAD {
        return;
    }
    batch[MAX_TIMESTAMP_AT..MAX_TIMESTAMP_AT + 8].copy_from_slice(&max_timestamp.to_be_bytes());
    let crc = crc32c::crc32c(&batch[ATTRIBUTES..]);
    batch[CRC..CRC + 4].copy_from_slice(&crc.to_be_bytes());
}

const _: () = {
    // The async layer keeps logs in `Arc<Mutex<Log>>` across threads.
    const fn assert_send<T: Send>() {}
    assert_send::<Log>();
    // LOG_OVERHEAD is part of the spans arithmetic above.
    assert!(LOG_OVERHEAD == 12);
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::KafkaConfig;
    use crate::record::{build_batch, ProducerInfo, SimpleRecord};

    fn config(f: impl FnOnce(&mut LogConfig)) -> Arc<LogConfig> {
        let mut props = BTreeMap::new();
        props.insert("zookeeper.connect".to_string(), "zk:2181".to_string());
        let broker = KafkaConfig::from_props(&props).unwrap();
        let mut c = LogConfig::from_broker_and_overrides(&broker, &BTreeMap::new()).unwrap();
        c.segment_index_bytes = 1024;
        c.segment_jitter_ms = 0;
        f(&mut c);
        Arc::new(c)
    }

    fn open(dir: &Path, cfg: Arc<LogConfig>) -> Log {
        Log::open(
            dir,
            TopicPartition::new("t", 0),
            cfg,
            LoadOptions {
                recovery_point: 0,
                log_start_offset: 0,
                had_clean_shutdown: false,
                now_ms: 0,
            },
        )
        .unwrap()
    }

    fn producer_batch(n: usize, ts: i64, value: &[u8]) -> Vec<u8> {
        let records: Vec<SimpleRecord> = (0..n)
            .map(|i| SimpleRecord::new(ts + i as i64, Some(b"k"), Some(value)))
            .collect();
        build_batch(0, ProducerInfo::NONE, &records)
    }

    /// Hand-built batch (not via the builder): header fields written one by one, one record.
    fn hand_built_batch() -> Vec<u8> {
        let mut record = vec![0u8]; // attributes
        record.push(0); // timestampDelta 0
        record.push(0); // offsetDelta 0
        record.push(2); // key length 1 (zig-zag)
        record.push(b'k');
        record.push(6); // value length 3
        record.extend_from_slice(b"abc");
        record.push(0); // no headers
        let mut records = vec![(record.len() as u8) << 1];
        records.extend_from_slice(&record);
        let mut b = Vec::new();
        b.extend_from_slice(&0i64.to_be_bytes()); // baseOffset
        b.extend_from_slice(&((49 + records.len()) as i32).to_be_bytes()); // batchLength
        b.extend_from_slice(&(-1i32).to_be_bytes()); // partitionLeaderEpoch
        b.push(2); // magic
        b.extend_from_slice(&[0; 4]); // crc
        b.extend_from_slice(&0i16.to_be_bytes()); // attributes
        b.extend_from_slice(&0i32.to_be_bytes()); // lastOffsetDelta
        b.extend_from_slice(&1_000i64.to_be_bytes()); // baseTimestamp
        b.extend_from_slice(&1_000i64.to_be_bytes()); // maxTimestamp
        b.extend_from_slice(&(-1i64).to_be_bytes()); // producerId
        b.extend_from_slice(&(-1i16).to_be_bytes()); // producerEpoch
        b.extend_from_slice(&(-1i32).to_be_bytes()); // baseSequence
        b.extend_from_slice(&1i32.to_be_bytes()); // records count
        b.extend_from_slice(&records);
        let crc = crc32c::crc32c(&b[21..]);
        b[17..21].copy_from_slice(&crc.to_be_bytes());
        b
    }

    #[test]
    fn hand_built_batch_round_trips_byte_identical() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = open(dir.path(), config(|_| {}));
        let original = hand_built_batch();
        assert!(RecordBatch::parse(&original).unwrap().is_valid());
        for expected_offset in 0..3i64 {
            let mut payload = original.clone();
            let info = log.append_as_leader(&mut payload, 7, 1_000).unwrap();
            assert_eq!(
                (info.first_offset, info.last_offset),
                (expected_offset, expected_offset)
            );
            let read = log.read(expected_offset, 1 << 20, None, false).unwrap();
            let bytes = read.records.read_to_vec().unwrap();
            let mut expected = original.clone();
            expected[..8].copy_from_slice(&expected_offset.to_be_bytes());
            expected[12..16].copy_from_slice(&7i32.to_be_bytes());
            assert_eq!(bytes, expected);
            // Only baseOffset and the leader epoch changed; the CRC still holds.
            assert_eq!(bytes[16..], original[16..]);
            assert!(RecordBatch::parse(&bytes).unwrap().is_valid());
        }
        let raw = fs::read(log_file(dir.path(), 0, "")).unwrap();
        assert_eq!(raw.len(), 3 * original.len());
    }

    #[test]
    fn index_files_hold_the_entries_kafka_writes() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(|c| {
            c.index_interval_bytes = 150;
            c.segment_bytes = 10_000;
        });
        let mut log = open(dir.path(), cfg);
        // Every batch: 2 records of 30-byte values (each batch has the same size S).
        let mut sizes = Vec::new();
        for i in 0..6i64 {
            let mut b = producer_batch(2, 10_000 + i * 100, &[b'v'; 30]);
            sizes.push(b.len() as u64);
            log.append_as_leader(&mut b, 0, 20_000).unwrap();
        }
        let s = sizes[0];
        assert!(sizes.iter().all(|x| *x == s));
        assert!(
            s < 150 && 2 * s > 150,
            "batch size {s} should straddle the interval"
        );
        // bytes since the last entry, checked before each append: 0, S, 2S → entry at append 2
        // (last offset 5, position 2S), reset to 0 then S added; S, 2S → entry at append 4
        // (last offset 9, position 4S). Time entries: the max timestamp so far with the offset
        // of its record (the last record of each batch carries the batch max timestamp).
        let mut expected_index = Vec::new();
        let mut expected_time = Vec::new();
        for (append, rel_offset) in [(2u64, 5i32), (4, 9)] {
            expected_index.extend_from_slice(&rel_offset.to_be_bytes());
            expected_index.extend_from_slice(&((append * s) as i32).to_be_bytes());
            let ts = 10_000 + append as i64 * 100 + 1;
            expected_time.extend_from_slice(&ts.to_be_bytes());
            expected_time.extend_from_slice(&rel_offset.to_be_bytes());
        }
        let index_path = offset_index_file(dir.path(), 0, "");
        let time_path = time_index_file(dir.path(), 0, "");
        // Active segment: preallocated to 1024 rounded down to the entry size.
        assert_eq!(fs::metadata(&index_path).unwrap().len(), 1024);
        assert_eq!(fs::metadata(&time_path).unwrap().len(), 1020);
        assert_eq!(fs::read(&index_path).unwrap()[..16], expected_index[..]);
        assert_eq!(fs::read(&time_path).unwrap()[..24], expected_time[..]);
        // Roll: trimmed to entries × entry size; final time entry already present (same max).
        assert_eq!(log.roll(30_000).unwrap(), 12);
        assert_eq!(fs::read(&index_path).unwrap(), expected_index);
        // The roll adds the segment's final (max timestamp, offset) entry: (10_501, 11).
        expected_time.extend_from_slice(&10_501i64.to_be_bytes());
        expected_time.extend_from_slice(&11i32.to_be_bytes());
        assert_eq!(fs::read(&time_path).unwrap(), expected_time);
        let new_index = offset_index_file(dir.path(), 12, "");
        assert_eq!(fs::metadata(new_index).unwrap().len(), 1024);
        // Lookups through the index return whole batches.
        let r = log.read(7, 1 << 20, None, false).unwrap();
        assert_eq!(r.position, 3 * s);
        let t = log.fetch_offset_by_timestamp(10_250).unwrap().unwrap();
        assert_eq!((t.timestamp, t.offset), (10_300, 6));
    }

    #[test]
    fn single_batch_span_agrees_with_batch_spans() {
        let one = producer_batch(3, 5_000, b"x");
        let two = [one.clone(), producer_batch(1, 5_000, b"y")].concat();
        let mut bad_magic = one.clone();
        bad_magic[16] = 1;
        let mut small_length = one.clone();
        small_length[8..12].copy_from_slice(&10i32.to_be_bytes());
        let mut inputs = vec![
            one.clone(),
            two.clone(),
            two[..two.len() - 1].to_vec(),
            [one.clone(), vec![0; 5]].concat(),
            bad_magic,
            small_length,
            Vec::new(),
        ];
        for cut in [0, 11, 12, 17, 60, 61, one.len() - 1] {
            inputs.push(one[..cut].to_vec());
        }
        for input in &inputs {
            let general = batch_spans(input);
            match single_batch_span(input) {
                // The fast path only answers for exactly one complete v2 batch, and then
                // gives what the general split gives.
                Some(span) => assert_eq!(general.unwrap(), vec![span]),
                None => assert!(!matches!(general, Ok(v) if v == vec![(0, input.len())])),
            }
        }
        assert_eq!(single_batch_span(&one), Some((0, one.len())));
    }

    #[test]
    fn leader_rejects_malformed_records_with_a_valid_crc() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = open(dir.path(), config(|_| {}));
        let fix_crc = |b: &mut Vec<u8>| {
            let crc = crc32c::crc32c(&b[21..]);
            b[17..21].copy_from_slice(&crc.to_be_bytes());
        };
        // Record 0's length claims one byte more than there is.
        let mut b = producer_batch(2, 5_000, b"x");
        b[61] += 2; // zig-zag length + 1
        fix_crc(&mut b);
        let err = log.append_as_leader(&mut b, 0, 5_000).unwrap_err();
        assert!(
            matches!(&err, LogError::InvalidRecord(m) if m.contains("record 0")),
            "{err:?}"
        );
        // Record 0's offset delta (after length, attributes, timestamp delta) is 1.
        let mut b = producer_batch(2, 5_000, b"x");
        assert_eq!(b[64], 0);
        b[64] = 2;
        fix_crc(&mut b);
        let err = log.append_as_leader(&mut b, 0, 5_000).unwrap_err();
        assert!(
            matches!(&err, LogError::InvalidRecord(m) if m == "record 0 has offset delta 1"),
            "{err:?}"
        );
        // Trailing garbage after the declared records (batch length grown to cover it).
        let mut b = producer_batch(2, 5_000, b"x");
        b.push(0);
        let len = (b.len() - 12) as i32;
        b[8..12].copy_from_slice(&len.to_be_bytes());
        fix_crc(&mut b);
        let err = log.append_as_leader(&mut b, 0, 5_000).unwrap_err();
        assert!(
            matches!(&err, LogError::InvalidRecord(m) if m.contains("bytes left")),
            "{err:?}"
        );
        assert_eq!(log.log_end_offset(), 0);
        let mut b = producer_batch(2, 5_000, b"x");
        assert!(log.append_as_leader(&mut b, 0, 5_000).is_ok());
    }

    #[test]
    fn leader_validation_errors() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = open(
            dir.path(),
            config(|c| {
                c.max_message_bytes = 200;
                c.message_timestamp_difference_max_ms = 1_000;
            }),
        );
        let mut b = producer_batch(1, 5_000, b"x");
        set_base_offset(&mut b, 3);
        assert!(matches!(
            log.append_as_leader(&mut b, 0, 5_000),
            Err(LogError::InvalidRecord(_))
        ));
        let mut b = producer_batch(5, 5_000, &[0u8; 60]);
        assert!(matches!(
            log.append_as_leader(&mut b, 0, 5_000),
            Err(LogError::MessageTooLarge { .. })
        ));
        let mut b = producer_batch(1, 5_000, b"x");
        let last = b.len() - 1;
        b[last] ^= 1;
        assert!(matches!(
            log.append_as_leader(&mut b, 0, 5_000),
            Err(LogError::CorruptRecord(_))
        ));
        let mut b = producer_batch(1, 5_000, b"x");
        assert!(matches!(
            log.append_as_leader(&mut b, 0, 9_000),
            Err(LogError::InvalidTimestamp(_))
        ));
        let mut two = [
            producer_batch(1, 5_000, b"x"),
            producer_batch(1, 5_000, b"y"),
        ]
        .concat();
        assert!(matches!(
            log.append_as_leader(&mut two, 0, 5_000),
            Err(LogError::InvalidRecord(_))
        ));
        let mut b = producer_batch(1, 5_000, b"x");
        b[16] = 1;
        assert!(matches!(
            log.append_as_leader(&mut b, 0, 5_000),
            Err(LogError::UnsupportedForMessageFormat(_))
        ));
        assert!(matches!(
            log.append_as_leader(&mut [], 0, 5_000),
            Err(LogError::InvalidRecord(_))
        ));
        let mut cut = producer_batch(1, 5_000, b"x");
        cut.truncate(40);
        assert!(matches!(
            log.append_as_leader(&mut cut, 0, 5_000),
            Err(LogError::CorruptRecord(_))
        ));
        assert_eq!(log.log_end_offset(), 0);
        let mut b = producer_batch(2, 5_000, b"x");
        let info = log.append_as_leader(&mut b, 0, 5_000).unwrap();
        assert_eq!(
            (info.first_offset, info.last_offset, info.records_count),
            (0, 1, 2)
        );
        assert_eq!(
            (info.max_timestamp, info.offset_of_max_timestamp),
            (5_001, 1)
        );
    }

    #[test]
    fn record_list_too_large_and_log_append_time() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = open(
            dir.path(),
            config(|c| {
                c.segment_bytes = 100;
                c.message_timestamp_type = ConfigTimestampType::LogAppendTime;
            }),
        );
        let mut big = producer_batch(3, 1, &[1u8; 50]);
        assert!(matches!(
            log.append_as_leader(&mut big, 0, 5),
            Err(LogError::RecordListTooLarge { .. })
        ));
        let mut b = producer_batch(1, 1, b"v");
        let info = log.append_as_leader(&mut b, 3, 777).unwrap();
        assert_eq!(info.log_append_time, 777);
        let bytes = log
            .read(0, 1000, None, false)
            .unwrap()
            .records
            .read_to_vec()
            .unwrap();
        let batch = RecordBatch::parse(&bytes).unwrap();
        assert!(batch.is_valid());
        assert_eq!(batch.timestamp_type(), TimestampType::LogAppendTime);
        assert_eq!(batch.max_timestamp(), 777);
        assert_eq!(batch.partition_leader_epoch(), 3);
    }

    #[test]
    fn follower_appends_keep_offsets() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = open(dir.path(), config(|_| {}));
        let records = [SimpleRecord::new(1, None, Some(b"a"))];
        let a = build_batch(0, ProducerInfo::NONE, &records);
        let b = build_batch(5, ProducerInfo::NONE, &records);
        let partial = build_batch(6, ProducerInfo::NONE, &records);
        let payload = [a.clone(), b.clone(), partial[..20].to_vec()].concat();
        let info = log.append_as_follower(&payload, 0).unwrap();
        assert_eq!(
            (info.first_offset, info.last_offset, info.shallow_count),
            (0, 5, 2)
        );
        assert_eq!(info.valid_bytes, a.len() + b.len());
        assert_eq!(log.log_end_offset(), 6);
        assert!(matches!(
            log.append_as_follower(&b, 0),
            Err(LogError::UnexpectedAppendOffset { .. })
        ));
        let c = build_batch(8, ProducerInfo::NONE, &records);
        let d = build_batch(7, ProducerInfo::NONE, &records);
        assert!(matches!(
            log.append_as_follower(&[c, d].concat(), 0),
            Err(LogError::OffsetsOutOfOrder(_))
        ));
        let r = log.read(3, 1 << 20, None, false).unwrap();
        assert_eq!(r.records.read_to_vec().unwrap(), b);
    }

    #[test]
    fn read_bounds_and_high_watermark() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = open(dir.path(), config(|_| {}));
        for _ in 0..3 {
            let mut b = producer_batch(2, 10, b"x");
            log.append_as_leader(&mut b, 0, 10).unwrap();
        }
        assert_eq!(log.update_high_watermark(100), 6);
        assert_eq!(log.update_high_watermark(2), 2);
        let r = log
            .read(0, 1 << 20, Some(log.high_watermark()), false)
            .unwrap();
        let one = producer_batch(2, 10, b"x").len() as u64;
        assert_eq!(r.records.len, one);
        let r = log.read(2, 1 << 20, Some(2), false).unwrap();
        assert!(r.records.is_empty());
        let r = log.read(6, 1 << 20, None, false).unwrap();
        assert!(r.records.is_empty());
        assert!(matches!(
            log.read(7, 10, None, false),
            Err(LogError::OffsetOutOfRange { .. })
        ));
        assert!(log
            .maybe_increment_log_start_offset(
                3,
                LogStartOffsetIncrementReason::ClientRecordDeletion
            )
            .is_err());
        assert!(log
            .maybe_increment_log_start_offset(
                2,
                LogStartOffsetIncrementReason::ClientRecordDeletion
            )
            .unwrap());
        assert!(matches!(
            log.read(1, 10, None, false),
            Err(LogError::OffsetOutOfRange { .. })
        ));
        assert_eq!(
            log.fetch_offset_by_timestamp(EARLIEST_TIMESTAMP)
                .unwrap()
                .unwrap()
                .offset,
            2
        );
        assert_eq!(
            log.fetch_offset_by_timestamp(LATEST_TIMESTAMP)
                .unwrap()
                .unwrap()
                .offset,
            6
        );
        let max = log
            .fetch_offset_by_timestamp(MAX_TIMESTAMP)
            .unwrap()
            .unwrap();
        assert_eq!((max.timestamp, max.offset), (11, 1));
    }
}
