//! Which compacted log to clean next and the cleaner's bookkeeping (Kafka's
//! `LogCleanerManager`; spec log-format.md §6 and §10).
//!
//! * [`cleanable_offsets`]: the cleanable range of a log — from the first dirty offset (the
//!   `cleaner-offset-checkpoint` entry, reset to the log start offset when it is below the log
//!   start or above the log end) up to the first uncleanable offset = min(active segment base,
//!   high watermark, base of the first dirty segment holding records newer than
//!   `min.compaction.lag.ms`), rounded down to a segment boundary.
//! * [`LogToClean`] / [`choose_filthiest_log`]: dirty ratio = cleanable bytes / (clean +
//!   cleanable bytes); a log qualifies when its ratio is ≥ `min.cleanable.dirty.ratio` or its
//!   oldest dirty record is older than `max.compaction.lag.ms`, and has cleanable bytes; the
//!   highest ratio wins.
//! * [`LogCleanerManager`]: the in-progress / aborted / paused state per partition (so
//!   `LogManager` can stop cleaning before truncating or deleting a log), partitions whose
//!   cleaning failed ("uncleanable"), and the per-log-dir `cleaner-offset-checkpoint` files.
//!
//! Lock order: a thread may take the manager's state lock while holding a `Log` mutex, never
//! the reverse. [`LogCleanerManager::abort_and_pause`] blocks until an in-progress cleaning of
//! the partition has stopped, so it must not be called while holding that partition's `Log`
//! lock, nor from an async task (use `spawn_blocking`).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use crate::cluster::TopicPartition;

use super::checkpoints::{CheckpointError, OffsetCheckpointFile};
use super::log::Log;

/// A partition's log as the cleaner receives it (the broker's `SharedLog`).
pub type SharedLog = Arc<Mutex<Log>>;

/// Locks a log, ignoring poisoning (as the log manager does).
pub(crate) fn lock_log(log: &Mutex<Log>) -> MutexGuard<'_, Log> {
    log.lock().unwrap_or_else(|e| e.into_inner())
}

/// The range [`cleanable_offsets`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CleanableOffsets {
    /// Where the dirty section starts.
    pub first_dirty_offset: i64,
    /// Exclusive end of the cleanable range; a segment base offset (or `first_dirty_offset`
    /// when there is nothing to clean). Never above the active segment's base.
    pub first_uncleanable_offset: i64,
    /// The checkpointed offset was invalid and was reset: write the new one back.
    pub force_update_checkpoint: bool,
}

impl CleanableOffsets {
    /// True when there is at least one offset to clean.
    pub fn is_cleanable(&self) -> bool {
        self.first_uncleanable_offset > self.first_dirty_offset
    }
}

/// Kafka's `cleanableOffsets` + the segment rounding of `calculateCleanableBytes`.
///
/// `last_clean_offset` is the `cleaner-offset-checkpoint` entry (`None` = never cleaned: the
/// log start offset). A checkpoint below the log start offset or above the log end offset is
/// reset to the log start offset (the log was truncated or lost data: Kafka conservatively
/// cleans everything again).
pub fn cleanable_offsets(
    log: &Log,
    last_clean_offset: Option<i64>,
    now_ms: i64,
) -> CleanableOffsets {
    let log_start = log.log_start_offset();
    let checkpoint = last_clean_offset.unwrap_or(log_start);
    let (first_dirty, force_update_checkpoint) = if checkpoint < log_start {
        if !log.config().delete() {
            tracing::warn!(
                "resetting first dirty offset of {} to log start offset {log_start}: the \
                 checkpointed offset {checkpoint} is below it",
                log.topic_partition()
            );
        }
        (log_start, true)
    } else if checkpoint > log.log_end_offset() {
        tracing::warn!(
            "the checkpointed first dirty offset {checkpoint} of {} is above the log end offset \
             {}; resetting it to the log start offset {log_start}",
            log.topic_partition(),
            log.log_end_offset()
        );
        (log_start, true)
    } else {
        (checkpoint, false)
    };
    let Some(active_base) = log.active_segment().map(|s| s.base_offset()) else {
        return CleanableOffsets {
            first_dirty_offset: first_dirty,
            first_uncleanable_offset: first_dirty,
            force_update_checkpoint,
        };
    };
    let mut uncleanable = active_base.min(log.high_watermark());
    let min_lag = log.config().min_compaction_lag_ms.max(0);
    if min_lag > 0 {
        let horizon = now_ms.saturating_sub(min_lag);
        for segment in log.segments_range(first_dirty, active_base) {
            // Unreadable mtime: treat as too young (never clean what we cannot date).
            let largest = segment.largest_timestamp().unwrap_or(i64::MAX);
            if largest > horizon {
                uncleanable = uncleanable.min(segment.base_offset());
                break;
            }
        }
    }
    let uncleanable = uncleanable.max(first_dirty);
    // Round down to the base of the (non-active) segment holding it.
    let first_uncleanable = if uncleanable >= active_base {
        active_base
    } else {
        log.segments_range(uncleanable, uncleanable + 1)
            .first()
            .map_or(active_base, |s| s.base_offset())
    };
    CleanableOffsets {
        first_dirty_offset: first_dirty,
        // Rounding down may land below a first dirty offset inside the same segment.
        first_uncleanable_offset: first_uncleanable.max(first_dirty),
        force_update_checkpoint,
    }
}

/// Kafka's `maxCompactionDelay`: how far (ms) the oldest dirty non-active segment's first
/// batch is past `max.compaction.lag.ms`; 0 when none is.
pub fn max_compaction_delay(log: &Log, first_dirty_offset: i64, now_ms: i64) -> i64 {
    let Some(active_base) = log.active_segment().map(|s| s.base_offset()) else {
        return 0;
    };
    let mut earliest = i64::MAX;
    for segment in log.segments_range(first_dirty_offset, active_base) {
        // The first batch's max timestamp (what the segment rolls by).
        if let Some(Ok(header)) = segment.log().headers_from(0).next() {
            if header.max_timestamp > 0 {
                earliest = earliest.min(header.max_timestamp);
            }
        }
    }
    let max_lag = log.config().max_compaction_lag_ms.max(0);
    let clean_until = now_ms.saturating_sub(max_lag);
    if earliest < clean_until {
        clean_until - earliest
    } else {
        0
    }
}

/// A compacted log and how dirty it is (Kafka's `LogToClean`).
#[derive(Clone, Debug, PartialEq)]
pub struct LogToClean {
    pub topic_partition: TopicPartition,
    /// The log dir holding the partition (where its `cleaner-offset-checkpoint` lives).
    pub data_dir: PathBuf,
    pub first_dirty_offset: i64,
    /// Exclusive end of the cleanable range (a segment base offset).
    pub first_uncleanable_offset: i64,
    /// Bytes of the segments below the first dirty offset (including the segment holding it).
    pub clean_bytes: u64,
    /// Bytes of the segments in `[first dirty, first uncleanable)`.
    pub cleanable_bytes: u64,
    /// The oldest dirty record is past `max.compaction.lag.ms`.
    pub needs_compaction_now: bool,
    /// The log's `min.cleanable.dirty.ratio`.
    pub min_cleanable_ratio: f64,
    /// See [`CleanableOffsets::force_update_checkpoint`].
    pub force_update_checkpoint: bool,
}

impl LogToClean {
    /// Measures `log` (Kafka's `LogToClean` constructor + `calculateCleanableBytes`).
    pub fn new(
        topic_partition: TopicPartition,
        log: &Log,
        last_clean_offset: Option<i64>,
        now_ms: i64,
    ) -> LogToClean {
        let offsets = cleanable_offsets(log, last_clean_offset, now_ms);
        let first_dirty = offsets.first_dirty_offset;
        let first_uncleanable = offsets.first_uncleanable_offset;
        let clean_bytes = log
            .segments()
            .filter(|s| s.base_offset() < first_dirty)
            .map(|s| s.size())
            .sum();
        // As in Kafka, a segment holding the first dirty offset past its base counts in both
        // sums.
        let cleanable_bytes = log
            .segments_range(first_dirty, first_uncleanable)
            .iter()
            .map(|s| s.size())
            .sum();
        let data_dir = log
            .dir()
            .parent()
            .map_or_else(|| log.dir().to_path_buf(), Path::to_path_buf);
        LogToClean {
            topic_partition,
            data_dir,
            first_dirty_offset: first_dirty,
            first_uncleanable_offset: first_uncleanable,
            clean_bytes,
            cleanable_bytes,
            needs_compaction_now: max_compaction_delay(log, first_dirty, now_ms) > 0,
            min_cleanable_ratio: log.config().min_cleanable_dirty_ratio,
            force_update_checkpoint: offsets.force_update_checkpoint,
        }
    }

    pub fn total_bytes(&self) -> u64 {
        self.clean_bytes + self.cleanable_bytes
    }

    /// cleanable / (clean + cleanable); 0 for an empty log.
    pub fn cleanable_ratio(&self) -> f64 {
        match self.total_bytes() {
            0 => 0.0,
            total => self.cleanable_bytes as f64 / total as f64,
        }
    }

    /// Worth cleaning now: something is cleanable, and the ratio reaches
    /// `min.cleanable.dirty.ratio` (spec: ≥; Kafka 2.8 uses >) or `max.compaction.lag.ms`
    /// forces it.
    pub fn is_cleanable(&self) -> bool {
        self.cleanable_bytes > 0
            && self.first_uncleanable_offset > self.first_dirty_offset
            && (self.needs_compaction_now || self.cleanable_ratio() >= self.min_cleanable_ratio)
    }
}

/// Kafka's choice in `grabFilthiestCompactedLog`: among the cleanable candidates
/// ([`LogToClean::is_cleanable`]), the one with the highest dirty ratio (ties: the first).
pub fn choose_filthiest_log(candidates: &[LogToClean]) -> Option<&LogToClean> {
    let mut best: Option<&LogToClean> = None;
    for c in candidates.iter().filter(|c| c.is_cleanable()) {
        if best.is_none_or(|b| c.cleanable_ratio() > b.cleanable_ratio()) {
            best = Some(c);
        }
    }
    best
}

/// Cleaning state of a partition (Kafka's `LogCleaningState`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogCleaningState {
    InProgress,
    /// Asked to stop; becomes `Paused(1)` when the cleaner notices.
    Aborted,
    /// Not cleaned until resumed as many times as paused.
    Paused(u32),
}

#[derive(Default)]
struct State {
    in_progress: HashMap<TopicPartition, LogCleaningState>,
    uncleanable: HashSet<TopicPartition>,
}

/// See the module doc.
pub struct LogCleanerManager {
    state: Mutex<State>,
    changed: Condvar,
    /// Serializes checkpoint-file read-modify-write cycles.
    checkpoint_lock: Mutex<()>,
}

impl Default for LogCleanerManager {
    fn default() -> Self {
        Self::new()
    }
}

impl LogCleanerManager {
    pub fn new() -> LogCleanerManager {
        LogCleanerManager {
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
            checkpoint_lock: Mutex::new(()),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The partition's cleaning state (`None` = idle).
    pub fn cleaning_state(&self, tp: &TopicPartition) -> Option<LogCleaningState> {
        self.state().in_progress.get(tp).copied()
    }

    /// Partitions whose last cleaning failed; they are skipped until
    /// [`LogCleanerManager::abort_cleaning`] or [`LogCleanerManager::resume_cleaning`].
    pub fn uncleanable_partitions(&self) -> Vec<TopicPartition> {
        let mut v: Vec<_> = self.state().uncleanable.iter().cloned().collect();
        v.sort();
        v
    }

    pub fn mark_uncleanable(&self, tp: &TopicPartition) {
        self.state().uncleanable.insert(tp.clone());
    }

    /// Kafka's `abortAndPauseCleaning`: stops an in-progress cleaning of `tp` (waiting until
    /// the cleaner has let go of it: its `.cleaned` output deleted, nothing swapped in after
    /// this returns) and keeps the partition from being cleaned until
    /// [`LogCleanerManager::resume_cleaning`]. Pauses nest. Blocking: see the module doc.
    pub fn abort_and_pause(&self, tp: &TopicPartition) {
        let mut state = self.state();
        match state.in_progress.get(tp).copied() {
            None => {
                state
                    .in_progress
                    .insert(tp.clone(), LogCleaningState::Paused(1));
            }
            Some(LogCleaningState::InProgress) => {
                state
                    .in_progress
                    .insert(tp.clone(), LogCleaningState::Aborted);
            }
            Some(LogCleaningState::Paused(n)) => {
                state
                    .in_progress
                    .insert(tp.clone(), LogCleaningState::Paused(n + 1));
            }
            Some(LogCleaningState::Aborted) => {}
        }
        // Wait for the cleaner to acknowledge an abort (Aborted → Paused).
        while state.in_progress.get(tp) == Some(&LogCleaningState::Aborted) {
            state = self.changed.wait(state).unwrap_or_else(|e| e.into_inner());
        }
        tracing::info!("the cleaning of {tp} is aborted and paused");
    }

    /// Kafka's `resumeCleaning`: undoes one pause; also forgets an earlier failure.
    pub fn resume_cleaning(&self, tp: &TopicPartition) {
        let mut state = self.state();
        state.uncleanable.remove(tp);
        match state.in_progress.get(tp).copied() {
            Some(LogCleaningState::Paused(n)) if n > 1 => {
                state
                    .in_progress
                    .insert(tp.clone(), LogCleaningState::Paused(n - 1));
            }
            Some(LogCleaningState::Paused(_)) => {
                state.in_progress.remove(tp);
            }
            Some(other) => {
                tracing::warn!("cannot resume the cleaning of {tp}: it is {other:?}, not paused")
            }
            None => tracing::debug!("the cleaning of {tp} is not paused"),
        }
        self.changed.notify_all();
    }

    /// Kafka's `abortCleaning`: abort + resume, for a partition being deleted (then remove it
    /// from the checkpoint with [`LogCleanerManager::update_checkpoint`]).
    pub fn abort_cleaning(&self, tp: &TopicPartition) {
        self.abort_and_pause(tp);
        self.resume_cleaning(tp);
    }

    /// True when the in-progress cleaning of `tp` was asked to stop (Kafka's `checkDone`).
    pub fn is_aborted(&self, tp: &TopicPartition) -> bool {
        self.state().in_progress.get(tp) == Some(&LogCleaningState::Aborted)
    }

    /// Marks `tp` in progress unless it is already busy, paused or uncleanable.
    pub(crate) fn try_start(&self, tp: &TopicPartition) -> bool {
        let mut state = self.state();
        if state.in_progress.contains_key(tp) || state.uncleanable.contains(tp) {
            return false;
        }
        state
            .in_progress
            .insert(tp.clone(), LogCleaningState::InProgress);
        true
    }

    /// Busy, paused or uncleanable partitions (skipped by the selection).
    pub(crate) fn skipped(&self) -> HashSet<TopicPartition> {
        let state = self.state();
        state
            .in_progress
            .keys()
            .chain(state.uncleanable.iter())
            .cloned()
            .collect()
    }

    /// Kafka's `doneCleaning`: the cleaner let go of `tp` (an abort becomes a pause).
    pub(crate) fn done_cleaning(&self, tp: &TopicPartition) {
        let mut state = self.state();
        match state.in_progress.get(tp).copied() {
            Some(LogCleaningState::InProgress) => {
                state.in_progress.remove(tp);
            }
            Some(LogCleaningState::Aborted) => {
                state
                    .in_progress
                    .insert(tp.clone(), LogCleaningState::Paused(1));
            }
            other => tracing::warn!("done cleaning {tp} in unexpected state {other:?}"),
        }
        self.changed.notify_all();
    }

    // ------------------------------------------------------------------ checkpoints

    /// Reads `<data_dir>/cleaner-offset-checkpoint` (missing = empty).
    pub fn read_checkpoint(
        &self,
        data_dir: &Path,
    ) -> Result<BTreeMap<TopicPartition, i64>, CheckpointError> {
        let _guard = self
            .checkpoint_lock
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        OffsetCheckpointFile::cleaner_offset(data_dir).read()
    }

    /// Kafka's `updateCheckpoints`: read-modify-write of `<data_dir>/cleaner-offset-checkpoint`
    /// — sets `update`, removes `remove`, and (when `live` is given) drops entries of
    /// partitions that are not live any more. An unreadable file is replaced.
    pub fn update_checkpoint(
        &self,
        data_dir: &Path,
        update: Option<(&TopicPartition, i64)>,
        remove: Option<&TopicPartition>,
        live: Option<&HashSet<TopicPartition>>,
    ) -> Result<(), CheckpointError> {
        let _guard = self
            .checkpoint_lock
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let file = OffsetCheckpointFile::cleaner_offset(data_dir);
        let mut offsets = match file.read() {
            Ok(o) => o,
            Err(e) => {
                tracing::warn!("replacing unreadable cleaner checkpoint: {e}");
                BTreeMap::new()
            }
        };
        if let Some(live) = live {
            offsets.retain(|tp, _| live.contains(tp));
        }
        if let Some(tp) = remove {
            offsets.remove(tp);
        }
        if let Some((tp, offset)) = update {
            offsets.insert(tp.clone(), offset);
        }
        file.write(&offsets)
    }

    /// Kafka's `maybeTruncateCheckpoint`: after the log was truncated to `offset`, lowers the
    /// partition's first dirty offset to it if it was above.
    pub fn maybe_truncate_checkpoint(
        &self,
        data_dir: &Path,
        tp: &TopicPartition,
        offset: i64,
    ) -> Result<(), CheckpointError> {
        let current = self.read_checkpoint(data_dir)?;
        match current.get(tp) {
            Some(&o) if o > offset => {
                self.update_checkpoint(data_dir, Some((tp, offset)), None, None)
            }
            _ => Ok(()),
        }
    }

    /// Kafka's `grabFilthiestCompactedLog`: measures every idle compacted log (using the
    /// checkpoints of their log dirs), writes back reset checkpoints, picks the filthiest
    /// cleanable one and marks it in progress. Each log is locked briefly, one at a time.
    pub fn grab_filthiest_compacted_log(
        &self,
        logs: &[(TopicPartition, SharedLog)],
        now_ms: i64,
    ) -> Option<(LogToClean, SharedLog)> {
        let skipped = self.skipped();
        let mut checkpoints: HashMap<PathBuf, BTreeMap<TopicPartition, i64>> = HashMap::new();
        let mut candidates = Vec::new();
        let mut handles = Vec::new();
        for (tp, shared) in logs {
            if skipped.contains(tp) {
                continue;
            }
            let log = lock_log(shared);
            if log.is_closed() || !log.config().compact() {
                continue;
            }
            let data_dir = log
                .dir()
                .parent()
                .map_or_else(|| log.dir().to_path_buf(), Path::to_path_buf);
            let dir_checkpoints = checkpoints.entry(data_dir.clone()).or_insert_with(|| {
                self.read_checkpoint(&data_dir).unwrap_or_else(|e| {
                    tracing::warn!("ignoring unreadable cleaner checkpoint: {e}");
                    BTreeMap::new()
                })
            });
            let ltc = LogToClean::new(tp.clone(), &log, dir_checkpoints.get(tp).copied(), now_ms);
            drop(log);
            if ltc.force_update_checkpoint {
                dir_checkpoints.insert(tp.clone(), ltc.first_dirty_offset);
                if let Err(e) = self.update_checkpoint(
                    &data_dir,
                    Some((tp, ltc.first_dirty_offset)),
                    None,
                    None,
                ) {
                    tracing::warn!("could not reset the cleaner checkpoint of {tp}: {e}");
                }
            }
            if ltc.total_bytes() > 0 {
                candidates.push(ltc);
                handles.push(shared.clone());
            }
        }
        loop {
            let best = choose_filthiest_log(&candidates)?;
            let index = candidates
                .iter()
                .position(|c| std::ptr::eq(c, best))
                .unwrap_or(0);
            if self.try_start(&candidates[index].topic_partition) {
                let handle = handles.swap_remove(index);
                return Some((candidates.swap_remove(index), handle));
            }
            // Taken by another cleaner thread (or paused) meanwhile: try the next one.
            candidates.swap_remove(index);
            handles.swap_remove(index);
        }
    }
}

impl std::fmt::Debug for LogCleanerManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.state();
        f.debug_struct("LogCleanerManager")
            .field("in_progress", &state.in_progress)
            .field("uncleanable", &state.uncleanable)
            .finish()
    }
}
