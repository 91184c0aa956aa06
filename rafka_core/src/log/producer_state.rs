//! Producer state of one partition log (Kafka's `ProducerStateManager`, `ProducerStateEntry`,
//! `BatchMetadata` and `ProducerAppendInfo`): for every producer id its epoch, the metadata of
//! its last five batches, the coordinator epoch and the first offset of its open transaction;
//! the idempotence rules of a client append (epoch fencing, sequence order, duplicates); and
//! the `<20-digit offset>.snapshot` files (Kafka's format, version 1) that let a restart skip
//! replaying the whole log.
//!
//! Rules of a client (leader) append, as Kafka 3.9's `ProducerAppendInfo`:
//! - a batch with the same epoch and the same first/last sequence as one of the producer's
//!   last five batches is a duplicate: the log writes nothing and answers the original
//!   offsets ([`ProducerStateManager::check_client_append`] returns it);
//! - an epoch below the current one → INVALID_PRODUCER_EPOCH;
//! - a new epoch must start at sequence 0 unless the producer has no epoch yet
//!   (OUT_OF_ORDER_SEQUENCE_NUMBER otherwise);
//! - the same epoch must continue at last sequence + 1 (wrapping after `i32::MAX`), unless
//!   the producer is unknown: since KIP-360 (Kafka 2.5) an unknown producer, e.g. one whose
//!   batches were all removed by retention, is accepted at any sequence, so UNKNOWN_PRODUCER_ID
//!   is never raised by an append.
//!
//! Follower appends and log replay update the state without these checks (an older epoch is
//! only logged). The state is kept in memory; `Log` snapshots it on segment roll and clean
//! close, and rebuilds it at load from the latest snapshot plus the batches after it.
//!
//! Snapshot file layout (big-endian, Kafka's `PID_SNAPSHOT_MAP_SCHEMA`): `version: i16` (1),
//! `crc: u32` (CRC-32C of every byte after it), `count: i32`, then per producer
//! `producer_id: i64, epoch: i16, last_sequence: i32, last_offset: i64, offset_delta: i32,
//! timestamp: i64, coordinator_epoch: i32, current_txn_first_offset: i64` (46 bytes; −1 for
//! absent values). Only the last batch of each producer is stored, as in Kafka.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::cluster::TopicPartition;

use super::error::{IoContext, LogError};
use super::log_segment::{filename_prefix_from_offset, offset_from_file_name, DELETED_FILE_SUFFIX};
use super::time_index::NO_TIMESTAMP;

/// Kafka's `RecordBatch.NO_PRODUCER_ID`.
pub const NO_PRODUCER_ID: i64 = -1;
/// Kafka's `RecordBatch.NO_PRODUCER_EPOCH`.
pub const NO_PRODUCER_EPOCH: i16 = -1;
/// Kafka's `RecordBatch.NO_SEQUENCE`.
pub const NO_SEQUENCE: i32 = -1;
/// Batches remembered per producer for duplicate detection (Kafka's `NUM_BATCHES_TO_RETAIN`,
/// which is also the producer's `max.in.flight.requests.per.connection` limit).
pub const NUM_BATCHES_TO_RETAIN: usize = 5;
/// Suffix of producer state snapshot files.
pub const PRODUCER_SNAPSHOT_FILE_SUFFIX: &str = ".snapshot";
/// The only snapshot version Kafka writes and reads.
pub const PRODUCER_SNAPSHOT_VERSION: i16 = 1;
/// `producer.id.expiration.ms` default (one day).
pub const DEFAULT_PRODUCER_ID_EXPIRATION_MS: i64 = 86_400_000;

const CRC_OFFSET: usize = 2;
const ENTRIES_OFFSET: usize = 6;
/// Size of one snapshot entry.
const ENTRY_SIZE: usize = 8 + 2 + 4 + 8 + 4 + 8 + 4 + 8;

/// `<dir>/<20-digit offset>.snapshot` (Kafka's `LogFileUtils.producerSnapshotFile`).
pub fn producer_snapshot_file(dir: &Path, offset: i64) -> PathBuf {
    dir.join(format!(
        "{}{PRODUCER_SNAPSHOT_FILE_SUFFIX}",
        filename_prefix_from_offset(offset)
    ))
}

/// Kafka's `DefaultRecordBatch.incrementSequence`: sequences wrap from `i32::MAX` to 0.
pub fn increment_sequence(sequence: i32, increment: i32) -> i32 {
    if sequence > i32::MAX - increment {
        increment - (i32::MAX - sequence) - 1
    } else {
        sequence + increment
    }
}

/// Kafka's `DefaultRecordBatch.decrementSequence`, the inverse of [`increment_sequence`].
pub fn decrement_sequence(sequence: i32, decrement: i32) -> i32 {
    if sequence < decrement {
        i32::MAX - (decrement - sequence) + 1
    } else {
        sequence - decrement
    }
}

/// Kafka's `inSequence`: `next` directly follows `last` (with the wrap at `i32::MAX`).
fn in_sequence(last: i32, next: i32) -> bool {
    next as i64 == last as i64 + 1 || (next == 0 && last == i32::MAX)
}

/// One appended batch of a producer (Kafka's `BatchMetadata`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchMetadata {
    pub last_seq: i32,
    pub last_offset: i64,
    /// `last_offset − first_offset` (= last sequence − first sequence).
    pub offset_delta: i32,
    /// The batch's max timestamp.
    pub timestamp: i64,
}

impl BatchMetadata {
    pub fn first_seq(&self) -> i32 {
        decrement_sequence(self.last_seq, self.offset_delta)
    }

    pub fn first_offset(&self) -> i64 {
        self.last_offset - self.offset_delta as i64
    }
}

/// The state of one producer id (Kafka's `ProducerStateEntry`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProducerStateEntry {
    pub producer_id: i64,
    pub producer_epoch: i16,
    /// Epoch of the transaction coordinator that wrote the last marker (−1: none).
    pub coordinator_epoch: i32,
    /// Max timestamp of the last batch or marker (drives expiry).
    pub last_timestamp: i64,
    /// First offset of the producer's open transaction.
    pub current_txn_first_offset: Option<i64>,
    /// Oldest first, at most [`NUM_BATCHES_TO_RETAIN`].
    batches: VecDeque<BatchMetadata>,
}

impl ProducerStateEntry {
    /// A producer with no state yet (Kafka's `ProducerStateEntry.empty`).
    pub fn empty(producer_id: i64) -> ProducerStateEntry {
        ProducerStateEntry {
            producer_id,
            producer_epoch: NO_PRODUCER_EPOCH,
            coordinator_epoch: -1,
            last_timestamp: NO_TIMESTAMP,
            current_txn_first_offset: None,
            batches: VecDeque::new(),
        }
    }

    /// The retained batches, oldest first.
    pub fn batches(&self) -> impl Iterator<Item = &BatchMetadata> + '_ {
        self.batches.iter()
    }

    /// No batch retained (new producer, or only markers since the last epoch change).
    pub fn is_empty(&self) -> bool {
        self.batches.is_empty()
    }

    pub fn first_seq(&self) -> i32 {
        self.batches
            .front()
            .map_or(NO_SEQUENCE, BatchMetadata::first_seq)
    }

    pub fn last_seq(&self) -> i32 {
        self.batches.back().map_or(NO_SEQUENCE, |b| b.last_seq)
    }

    pub fn last_data_offset(&self) -> i64 {
        self.batches.back().map_or(-1, |b| b.last_offset)
    }

    pub fn last_offset_delta(&self) -> i32 {
        self.batches.back().map_or(0, |b| b.offset_delta)
    }

    /// A new epoch forgets the batches of the old one.
    fn maybe_update_producer_epoch(&mut self, epoch: i16) {
        if self.producer_epoch != epoch {
            self.batches.clear();
            self.producer_epoch = epoch;
        }
    }

    fn add_batch(&mut self, epoch: i16, batch: BatchMetadata) {
        self.maybe_update_producer_epoch(epoch);
        if self.batches.len() == NUM_BATCHES_TO_RETAIN {
            self.batches.pop_front();
        }
        self.batches.push_back(batch);
        self.last_timestamp = batch.timestamp;
    }

    /// The retained batch with exactly this epoch and sequence range (Kafka's
    /// `findDuplicateBatch`).
    pub fn find_duplicate_batch(
        &self,
        epoch: i16,
        first_seq: i32,
        last_seq: i32,
    ) -> Option<BatchMetadata> {
        if epoch != self.producer_epoch {
            return None;
        }
        self.batches
            .iter()
            .find(|b| b.first_seq() == first_seq && b.last_seq == last_seq)
            .copied()
    }
}

/// What producer bookkeeping needs from one data batch (its v2 header, offsets assigned).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProducerBatch {
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub last_sequence: i32,
    pub first_offset: i64,
    pub last_offset: i64,
    pub max_timestamp: i64,
    pub is_transactional: bool,
}

impl ProducerBatch {
    /// From header fields; the last sequence is derived from the offset delta (Kafka's
    /// `lastSequence`).
    pub fn new(
        producer_id: i64,
        producer_epoch: i16,
        base_sequence: i32,
        first_offset: i64,
        last_offset: i64,
        max_timestamp: i64,
        is_transactional: bool,
    ) -> ProducerBatch {
        let delta = i32::try_from(last_offset - first_offset).unwrap_or(0);
        let last_sequence = if base_sequence == NO_SEQUENCE {
            NO_SEQUENCE
        } else {
            increment_sequence(base_sequence, delta)
        };
        ProducerBatch {
            producer_id,
            producer_epoch,
            base_sequence,
            last_sequence,
            first_offset,
            last_offset,
            max_timestamp,
            is_transactional,
        }
    }

    fn metadata(&self) -> BatchMetadata {
        BatchMetadata {
            last_seq: self.last_sequence,
            last_offset: self.last_offset,
            offset_delta: i32::try_from(self.last_offset - self.first_offset).unwrap_or(0),
            timestamp: self.max_timestamp,
        }
    }
}

/// The producer table of one partition plus its snapshot files (Kafka's
/// `ProducerStateManager`); owned by the `Log`, which serializes every call.
#[derive(Debug)]
pub struct ProducerStateManager {
    topic_partition: TopicPartition,
    dir: PathBuf,
    producers: HashMap<i64, ProducerStateEntry>,
    /// Offsets of the snapshot files on disk.
    snapshots: BTreeSet<i64>,
    /// Snapshots written but not yet fsynced (done by the next flush).
    unsynced_snapshots: BTreeSet<i64>,
    /// The offset up to which the table reflects the log (exclusive).
    last_map_offset: i64,
    /// The offset of the last snapshot taken or loaded.
    last_snap_offset: i64,
    /// `producer.id.expiration.ms` used when loading snapshots.
    producer_id_expiration_ms: i64,
}

impl ProducerStateManager {
    /// An empty table for the partition directory `dir`; [`Self::load_snapshots`] lists the
    /// snapshot files.
    pub fn new(topic_partition: TopicPartition, dir: &Path) -> ProducerStateManager {
        ProducerStateManager {
            topic_partition,
            dir: dir.to_path_buf(),
            producers: HashMap::new(),
            snapshots: BTreeSet::new(),
            unsynced_snapshots: BTreeSet::new(),
            last_map_offset: 0,
            last_snap_offset: 0,
            producer_id_expiration_ms: DEFAULT_PRODUCER_ID_EXPIRATION_MS,
        }
    }

    pub fn topic_partition(&self) -> &TopicPartition {
        &self.topic_partition
    }

    /// Scans the directory for `*.snapshot` files (Kafka's `loadSnapshots`).
    pub fn load_snapshots(&mut self) -> Result<(), LogError> {
        self.snapshots = list_snapshot_offsets(&self.dir)?;
        Ok(())
    }

    /// Deletes snapshots without a segment of the same base offset, except the newest stray
    /// one when it is above every segment (the clean-shutdown snapshot at the log end) —
    /// Kafka's `removeStraySnapshots`.
    pub fn remove_stray_snapshots(&mut self, segment_base_offsets: &[i64]) -> Result<(), LogError> {
        self.load_snapshots()?;
        let bases: BTreeSet<i64> = segment_base_offsets.iter().copied().collect();
        let mut latest_stray: Option<i64> = None;
        for offset in self.snapshots.clone() {
            if bases.contains(&offset) {
                continue;
            }
            if let Some(prev) = latest_stray {
                self.remove_and_delete_snapshot(prev)?;
            }
            latest_stray = Some(offset);
        }
        if let (Some(stray), Some(max_base)) = (latest_stray, bases.iter().next_back()) {
            if stray < *max_base {
                self.remove_and_delete_snapshot(stray)?;
            }
        }
        Ok(())
    }

    /// Sets the expiry used when snapshots are loaded (`producer.id.expiration.ms`).
    pub fn set_producer_id_expiration_ms(&mut self, ms: i64) {
        self.producer_id_expiration_ms = ms;
    }

    pub fn producer_id_expiration_ms(&self) -> i64 {
        self.producer_id_expiration_ms
    }

    /// The offset up to which the table reflects the log (Kafka's `mapEndOffset`).
    pub fn map_end_offset(&self) -> i64 {
        self.last_map_offset
    }

    pub fn update_map_end_offset(&mut self, offset: i64) {
        self.last_map_offset = offset;
    }

    /// The state of `producer_id`, if known.
    pub fn last_entry(&self, producer_id: i64) -> Option<&ProducerStateEntry> {
        self.producers.get(&producer_id)
    }

    /// Every known producer.
    pub fn active_producers(&self) -> &HashMap<i64, ProducerStateEntry> {
        &self.producers
    }

    pub fn is_empty(&self) -> bool {
        self.producers.is_empty()
    }

    /// Offsets of the snapshot files, oldest first.
    pub fn snapshot_offsets(&self) -> Vec<i64> {
        self.snapshots.iter().copied().collect()
    }

    pub fn latest_snapshot_offset(&self) -> Option<i64> {
        self.snapshots.iter().next_back().copied()
    }

    pub fn oldest_snapshot_offset(&self) -> Option<i64> {
        self.snapshots.iter().next().copied()
    }

    /// The partition directory moved (rename for deletion).
    pub fn update_parent_dir(&mut self, dir: &Path) {
        self.dir = dir.to_path_buf();
    }

    /// Forgets producers idle for `expiration_ms` without an open transaction (Kafka's
    /// `removeExpiredProducers`); returns how many went.
    pub fn remove_expired_producers(&mut self, now_ms: i64, expiration_ms: i64) -> usize {
        self.producer_id_expiration_ms = expiration_ms;
        let before = self.producers.len();
        self.producers
            .retain(|_, e| !is_producer_expired(e, now_ms, expiration_ms));
        before - self.producers.len()
    }

    /// The idempotence checks of a client append (Kafka's `findDuplicateBatch` then
    /// `ProducerAppendInfo` with origin Client). `Ok(Some(original))` for a duplicate of a
    /// retained batch, `Ok(None)` when the batch may be appended.
    pub fn check_client_append(
        &self,
        batch: &ProducerBatch,
    ) -> Result<Option<BatchMetadata>, LogError> {
        let current = self.producers.get(&batch.producer_id);
        if let Some(entry) = current {
            if let Some(dup) = entry.find_duplicate_batch(
                batch.producer_epoch,
                batch.base_sequence,
                batch.last_sequence,
            ) {
                return Ok(Some(dup));
            }
        }
        let empty;
        let current = match current {
            Some(e) => e,
            None => {
                empty = ProducerStateEntry::empty(batch.producer_id);
                &empty
            }
        };
        let pid = batch.producer_id;
        let epoch = batch.producer_epoch;
        let first_seq = batch.base_sequence;
        let offset = batch.first_offset;
        let tp = &self.topic_partition;
        // checkProducerEpoch
        if epoch < current.producer_epoch {
            return Err(LogError::InvalidProducerEpoch(format!(
                "epoch of producer {pid} at offset {offset} in {tp} is {epoch}, which is smaller \
                 than the last seen epoch {}",
                current.producer_epoch
            )));
        }
        // checkSequence
        if epoch != current.producer_epoch {
            if first_seq != 0 && current.producer_epoch != NO_PRODUCER_EPOCH {
                return Err(LogError::OutOfOrderSequence(format!(
                    "invalid sequence number for new epoch of producer {pid} at offset {offset} \
                     in {tp}: {epoch} (request epoch), {first_seq} (seq. number), {} (current \
                     producer epoch)",
                    current.producer_epoch
                )));
            }
        } else {
            let current_last_seq = current.last_seq();
            if !(current.producer_epoch == NO_PRODUCER_EPOCH
                || in_sequence(current_last_seq, first_seq))
            {
                return Err(LogError::OutOfOrderSequence(format!(
                    "out of order sequence number for producer {pid} at offset {offset} in {tp}: \
                     {first_seq} (incoming seq. number), {current_last_seq} (current end \
                     sequence number)"
                )));
            }
        }
        if current.current_txn_first_offset.is_some() && !batch.is_transactional {
            return Err(LogError::InvalidTxnState(format!(
                "expected transactional write from producer {pid} at offset {offset} in {tp}"
            )));
        }
        Ok(None)
    }

    /// Records an appended data batch (after [`Self::check_client_append`] for a client
    /// append; unchecked for follower appends and replay, where an older epoch is only
    /// logged, as Kafka does for origin Replication).
    pub fn update(&mut self, batch: &ProducerBatch) {
        let entry = self
            .producers
            .entry(batch.producer_id)
            .or_insert_with(|| ProducerStateEntry::empty(batch.producer_id));
        if batch.producer_epoch < entry.producer_epoch {
            tracing::warn!(
                "epoch of producer {} at offset {} in {} is {}, which is smaller than the last \
                 seen epoch {}",
                batch.producer_id,
                batch.first_offset,
                self.topic_partition,
                batch.producer_epoch,
                entry.producer_epoch
            );
        }
        entry.add_batch(batch.producer_epoch, batch.metadata());
        match (entry.current_txn_first_offset, batch.is_transactional) {
            (Some(_), false) => tracing::warn!(
                "non-transactional batch of producer {} at offset {} in {} while its \
                 transaction is open",
                batch.producer_id,
                batch.first_offset,
                self.topic_partition
            ),
            (None, true) => entry.current_txn_first_offset = Some(batch.first_offset),
            _ => {}
        }
    }

    /// Records a COMMIT/ABORT marker of `producer_id` (follower appends and replay; Kafka's
    /// `appendEndTxnMarker` with origin Replication): the epoch moves, the transaction
    /// closes, the coordinator epoch is the marker's.
    pub fn append_end_txn_marker(
        &mut self,
        producer_id: i64,
        producer_epoch: i16,
        coordinator_epoch: i32,
        timestamp: i64,
    ) {
        let entry = self
            .producers
            .entry(producer_id)
            .or_insert_with(|| ProducerStateEntry::empty(producer_id));
        entry.maybe_update_producer_epoch(producer_epoch);
        entry.coordinator_epoch = coordinator_epoch;
        entry.current_txn_first_offset = None;
        entry.last_timestamp = timestamp;
    }

    /// Writes a snapshot at the map end offset unless one exists there or later (Kafka's
    /// `takeSnapshot`). With `sync` the file is fsynced now, otherwise by the next
    /// [`Self::sync_snapshots`]. Returns the offset written.
    pub fn take_snapshot(&mut self, sync: bool) -> Result<Option<i64>, LogError> {
        if self.last_map_offset <= self.last_snap_offset {
            return Ok(None);
        }
        let offset = self.last_map_offset;
        let path = producer_snapshot_file(&self.dir, offset);
        let started = std::time::Instant::now();
        let mut entries: Vec<&ProducerStateEntry> = self.producers.values().collect();
        entries.sort_by_key(|e| e.producer_id);
        write_snapshot(&path, &entries, sync)?;
        tracing::info!(
            "wrote producer snapshot of {} at offset {offset} with {} producer ids in {} ms",
            self.topic_partition,
            entries.len(),
            started.elapsed().as_millis()
        );
        self.snapshots.insert(offset);
        if !sync {
            self.unsynced_snapshots.insert(offset);
        }
        self.last_snap_offset = offset;
        Ok(Some(offset))
    }

    /// fsyncs snapshots written without `sync` (missing files are skipped).
    pub fn sync_snapshots(&mut self) -> Result<(), LogError> {
        while let Some(offset) = self.unsynced_snapshots.pop_first() {
            let path = producer_snapshot_file(&self.dir, offset);
            match fs::File::open(&path) {
                Ok(f) => f.sync_all().ctx(&path)?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(LogError::io(&path, e)),
            }
        }
        Ok(())
    }

    /// Kafka's `truncateAndReload`: drops snapshots above `log_end_offset` or at/below
    /// `log_start_offset`; if the table does not end at `log_end_offset`, reloads it from the
    /// latest remaining snapshot (the caller replays the log after it).
    pub fn truncate_and_reload(
        &mut self,
        log_start_offset: i64,
        log_end_offset: i64,
        now_ms: i64,
    ) -> Result<(), LogError> {
        let out_of_range: Vec<i64> = self
            .snapshots
            .iter()
            .copied()
            .filter(|o| *o > log_end_offset || *o <= log_start_offset)
            .collect();
        for offset in out_of_range {
            self.remove_and_delete_snapshot(offset)?;
        }
        if log_end_offset != self.last_map_offset {
            self.producers.clear();
            self.load_from_snapshot(log_start_offset, now_ms)?;
        } else {
            self.on_log_start_offset_incremented(log_start_offset);
        }
        Ok(())
    }

    /// Loads the latest readable snapshot, skipping expired producers; corrupt snapshots are
    /// deleted and the next older one tried (Kafka's `loadFromSnapshot`).
    fn load_from_snapshot(&mut self, log_start_offset: i64, now_ms: i64) -> Result<(), LogError> {
        while let Some(offset) = self.latest_snapshot_offset() {
            let path = producer_snapshot_file(&self.dir, offset);
            tracing::info!(
                "loading producer state of {} from snapshot file {}",
                self.topic_partition,
                path.display()
            );
            match read_snapshot(&path) {
                Ok(entries) => {
                    let expiration = self.producer_id_expiration_ms;
                    for entry in entries {
                        if !is_producer_expired(&entry, now_ms, expiration) {
                            self.producers.insert(entry.producer_id, entry);
                        }
                    }
                    self.last_snap_offset = offset;
                    self.last_map_offset = offset;
                    return Ok(());
                }
                Err(LogError::CorruptSnapshot { path, reason }) => {
                    tracing::warn!(
                        "failed to load producer snapshot from {}: {reason}",
                        path.display()
                    );
                    self.remove_and_delete_snapshot(offset)?;
                }
                Err(e) => return Err(e),
            }
        }
        self.last_snap_offset = log_start_offset;
        self.last_map_offset = log_start_offset;
        Ok(())
    }

    /// Kafka's `onLogStartOffsetIncremented` (producers are kept; they expire by time).
    pub fn on_log_start_offset_incremented(&mut self, log_start_offset: i64) {
        if self.last_map_offset < log_start_offset {
            self.last_map_offset = log_start_offset;
        }
        self.last_snap_offset = self.latest_snapshot_offset().unwrap_or(log_start_offset);
    }

    /// Forgets every producer and deletes every snapshot (Kafka's `truncateFullyAndStartAt`).
    pub fn truncate_fully_and_start_at(&mut self, offset: i64) -> Result<(), LogError> {
        self.producers.clear();
        for snapshot in self.snapshots.clone() {
            self.remove_and_delete_snapshot(snapshot)?;
        }
        self.last_snap_offset = 0;
        self.last_map_offset = offset;
        Ok(())
    }

    /// Deletes the snapshots below `offset` (Kafka's `deleteSnapshotsBefore`).
    pub fn delete_snapshots_before(&mut self, offset: i64) -> Result<(), LogError> {
        let old: Vec<i64> = self.snapshots.range(..offset).copied().collect();
        for snapshot in old {
            self.remove_and_delete_snapshot(snapshot)?;
        }
        Ok(())
    }

    fn remove_and_delete_snapshot(&mut self, offset: i64) -> Result<(), LogError> {
        self.unsynced_snapshots.remove(&offset);
        if self.snapshots.remove(&offset) {
            let path = producer_snapshot_file(&self.dir, offset);
            match fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(LogError::io(&path, e))
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Forgets the snapshot at `offset` and renames its file `.deleted` for a delayed delete
    /// with its segment (Kafka's `removeAndMarkSnapshotForDeletion`); the new path, or `None`
    /// when there was no such snapshot (or its file is already gone).
    pub fn remove_and_mark_snapshot_for_deletion(
        &mut self,
        offset: i64,
    ) -> Result<Option<PathBuf>, LogError> {
        self.unsynced_snapshots.remove(&offset);
        if !self.snapshots.remove(&offset) {
            return Ok(None);
        }
        let path = producer_snapshot_file(&self.dir, offset);
        let mut deleted = path.clone().into_os_string();
        deleted.push(DELETED_FILE_SUFFIX);
        let deleted = PathBuf::from(deleted);
        match fs::rename(&path, &deleted) {
            Ok(()) => Ok(Some(deleted)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                tracing::info!("producer snapshot {} was already deleted", path.display());
                Ok(None)
            }
            Err(e) => Err(LogError::io(&path, e)),
        }
    }

    /// Forgets all snapshots without touching files (the directory is being removed).
    pub fn forget_snapshots(&mut self) {
        self.snapshots.clear();
        self.unsynced_snapshots.clear();
    }
}

/// Kafka's `isProducerExpired`: idle for `expiration_ms` and no open transaction.
fn is_producer_expired(entry: &ProducerStateEntry, now_ms: i64, expiration_ms: i64) -> bool {
    entry.current_txn_first_offset.is_none()
        && now_ms.saturating_sub(entry.last_timestamp) >= expiration_ms
}

/// Offsets of the `*.snapshot` files in `dir` (a missing dir has none).
fn list_snapshot_offsets(dir: &Path) -> Result<BTreeSet<i64>, LogError> {
    let mut offsets = BTreeSet::new();
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(offsets),
        Err(e) => return Err(LogError::io(dir, e)),
    };
    for entry in entries {
        let entry = entry.ctx(dir)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.ends_with(PRODUCER_SNAPSHOT_FILE_SUFFIX) {
            continue;
        }
        if !entry.file_type().ctx(&entry.path())?.is_file() {
            continue;
        }
        if let Some(offset) = offset_from_file_name(&name) {
            offsets.insert(offset);
        }
    }
    Ok(offsets)
}

/// Encodes a snapshot of `entries` (Kafka's `writeSnapshot` layout; see the module doc).
pub fn encode_snapshot(entries: &[&ProducerStateEntry]) -> Vec<u8> {
    let mut buf = Vec::with_capacity(ENTRIES_OFFSET + 4 + entries.len() * ENTRY_SIZE);
    buf.extend_from_slice(&PRODUCER_SNAPSHOT_VERSION.to_be_bytes());
    buf.extend_from_slice(&[0; 4]); // crc, filled below
    buf.extend_from_slice(&(entries.len() as i32).to_be_bytes());
    for e in entries {
        buf.extend_from_slice(&e.producer_id.to_be_bytes());
        buf.extend_from_slice(&e.producer_epoch.to_be_bytes());
        buf.extend_from_slice(&e.last_seq().to_be_bytes());
        buf.extend_from_slice(&e.last_data_offset().to_be_bytes());
        buf.extend_from_slice(&e.last_offset_delta().to_be_bytes());
        buf.extend_from_slice(&e.last_timestamp.to_be_bytes());
        buf.extend_from_slice(&e.coordinator_epoch.to_be_bytes());
        buf.extend_from_slice(&e.current_txn_first_offset.unwrap_or(-1).to_be_bytes());
    }
    let crc = crc32c::crc32c(&buf[ENTRIES_OFFSET..]);
    buf[CRC_OFFSET..ENTRIES_OFFSET].copy_from_slice(&crc.to_be_bytes());
    buf
}

/// Decodes a snapshot (Kafka's `readSnapshot`); the error is the reason it is corrupt.
pub fn decode_snapshot(bytes: &[u8]) -> Result<Vec<ProducerStateEntry>, String> {
    let header = bytes.get(..ENTRIES_OFFSET + 4).ok_or_else(|| {
        format!(
            "snapshot of {} bytes is shorter than its header",
            bytes.len()
        )
    })?;
    let version = i16::from_be_bytes([header[0], header[1]]);
    if version != PRODUCER_SNAPSHOT_VERSION {
        return Err(format!(
            "snapshot contained an unknown file version {version}"
        ));
    }
    let stored = u32::from_be_bytes([header[2], header[3], header[4], header[5]]);
    let computed = crc32c::crc32c(&bytes[ENTRIES_OFFSET..]);
    if stored != computed {
        return Err(format!(
            "snapshot is corrupt (CRC is no longer valid): stored crc {stored}, computed crc \
             {computed}"
        ));
    }
    let count = i32::from_be_bytes([header[6], header[7], header[8], header[9]]);
    let count = usize::try_from(count).map_err(|_| format!("negative entry count {count}"))?;
    let body = &bytes[ENTRIES_OFFSET + 4..];
    if body.len() / ENTRY_SIZE < count {
        return Err(format!(
            "snapshot declares {count} entries but holds {} bytes of entries",
            body.len()
        ));
    }
    let mut entries = Vec::with_capacity(count);
    for chunk in body.chunks_exact(ENTRY_SIZE).take(count) {
        let i64_at = |at: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&chunk[at..at + 8]);
            i64::from_be_bytes(a)
        };
        let i32_at = |at: usize| {
            i32::from_be_bytes([chunk[at], chunk[at + 1], chunk[at + 2], chunk[at + 3]])
        };
        let producer_id = i64_at(0);
        let producer_epoch = i16::from_be_bytes([chunk[8], chunk[9]]);
        let last_seq = i32_at(10);
        let last_offset = i64_at(14);
        let offset_delta = i32_at(22);
        let timestamp = i64_at(26);
        let coordinator_epoch = i32_at(34);
        let txn_first = i64_at(38);
        let mut batches = VecDeque::new();
        if last_offset >= 0 {
            batches.push_back(BatchMetadata {
                last_seq,
                last_offset,
                offset_delta,
                timestamp,
            });
        }
        entries.push(ProducerStateEntry {
            producer_id,
            producer_epoch,
            coordinator_epoch,
            last_timestamp: timestamp,
            current_txn_first_offset: (txn_first >= 0).then_some(txn_first),
            batches,
        });
    }
    Ok(entries)
}

/// Writes a snapshot file (replacing any file of that name), fsynced when `sync`.
pub fn write_snapshot(
    path: &Path,
    entries: &[&ProducerStateEntry],
    sync: bool,
) -> Result<(), LogError> {
    let bytes = encode_snapshot(entries);
    let mut file = fs::File::create(path).ctx(path)?;
    file.write_all(&bytes).ctx(path)?;
    if sync {
        file.sync_all().ctx(path)?;
    }
    Ok(())
}

/// Reads a snapshot file; a bad one is [`LogError::CorruptSnapshot`].
pub fn read_snapshot(path: &Path) -> Result<Vec<ProducerStateEntry>, LogError> {
    let bytes = fs::read(path).ctx(path)?;
    decode_snapshot(&bytes).map_err(|reason| LogError::CorruptSnapshot {
        path: path.to_path_buf(),
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tp() -> TopicPartition {
        TopicPartition::new("t", 0)
    }

    fn batch(pid: i64, epoch: i16, seq: i32, first_offset: i64, n: i64) -> ProducerBatch {
        ProducerBatch::new(
            pid,
            epoch,
            seq,
            first_offset,
            first_offset + n - 1,
            1_000,
            false,
        )
    }

    /// Checks then applies, like a leader append; returns the duplicate if any.
    fn append(
        m: &mut ProducerStateManager,
        b: &ProducerBatch,
    ) -> Result<Option<BatchMetadata>, LogError> {
        let dup = m.check_client_append(b)?;
        if dup.is_none() {
            m.update(b);
            m.update_map_end_offset(b.last_offset + 1);
        }
        Ok(dup)
    }

    #[test]
    fn sequence_arithmetic_wraps_like_kafka() {
        assert_eq!(increment_sequence(5, 3), 8);
        assert_eq!(increment_sequence(i32::MAX, 1), 0);
        assert_eq!(increment_sequence(i32::MAX - 1, 3), 1);
        assert_eq!(decrement_sequence(1, 3), i32::MAX - 1);
        assert_eq!(decrement_sequence(8, 3), 5);
        assert!(in_sequence(i32::MAX, 0));
        assert!(in_sequence(4, 5));
        assert!(!in_sequence(4, 6));
        assert!(!in_sequence(-1, 5));
        assert!(in_sequence(-1, 0));
        let b = ProducerBatch::new(1, 0, i32::MAX - 1, 10, 13, 0, false);
        assert_eq!(b.last_sequence, 1);
        assert_eq!(b.metadata().first_seq(), i32::MAX - 1);
        assert_eq!(b.metadata().first_offset(), 10);
    }

    #[test]
    fn in_order_batches_are_accepted_and_gaps_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = ProducerStateManager::new(tp(), dir.path());
        assert_eq!(append(&mut m, &batch(7, 0, 0, 0, 3)).unwrap(), None);
        assert_eq!(append(&mut m, &batch(7, 0, 3, 3, 2)).unwrap(), None);
        let e = m.last_entry(7).unwrap();
        assert_eq!(
            (e.first_seq(), e.last_seq(), e.last_data_offset()),
            (0, 4, 4)
        );
        // A gap: expected 5.
        let err = append(&mut m, &batch(7, 0, 6, 5, 1)).unwrap_err();
        assert!(matches!(err, LogError::OutOfOrderSequence(_)), "{err:?}");
        assert_eq!(err.kafka_error_code(), 45);
        // Going back (not a retained batch's exact range) is out of order too.
        let err = append(&mut m, &batch(7, 0, 1, 5, 1)).unwrap_err();
        assert!(matches!(err, LogError::OutOfOrderSequence(_)));
        // Nothing changed.
        assert_eq!(m.last_entry(7).unwrap().last_seq(), 4);
        assert_eq!(append(&mut m, &batch(7, 0, 5, 5, 1)).unwrap(), None);
    }

    #[test]
    fn unknown_producers_start_anywhere_but_new_epochs_start_at_zero() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = ProducerStateManager::new(tp(), dir.path());
        // Unknown producer (e.g. its batches were deleted by retention): any sequence.
        assert_eq!(append(&mut m, &batch(3, 2, 42, 0, 1)).unwrap(), None);
        // Epoch bump must restart at 0.
        let err = append(&mut m, &batch(3, 3, 43, 1, 1)).unwrap_err();
        assert!(matches!(err, LogError::OutOfOrderSequence(_)), "{err:?}");
        assert_eq!(append(&mut m, &batch(3, 3, 0, 1, 1)).unwrap(), None);
        // Older epoch: fenced.
        let err = append(&mut m, &batch(3, 2, 43, 2, 1)).unwrap_err();
        assert!(matches!(err, LogError::InvalidProducerEpoch(_)), "{err:?}");
        assert_eq!(err.kafka_error_code(), 47);
        let e = m.last_entry(3).unwrap();
        assert_eq!((e.producer_epoch, e.last_seq()), (3, 0));
        // The epoch bump forgot the old epoch's batches.
        assert_eq!(e.batches().count(), 1);
    }

    #[test]
    fn duplicates_of_the_last_five_batches_return_the_original() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = ProducerStateManager::new(tp(), dir.path());
        for i in 0..7 {
            // Batch i: sequences [2i, 2i+1] at offsets [10i, 10i+1].
            let b = batch(9, 0, 2 * i, 10 * i as i64, 2);
            assert_eq!(append(&mut m, &b).unwrap(), None);
        }
        assert_eq!(
            m.last_entry(9).unwrap().batches().count(),
            NUM_BATCHES_TO_RETAIN
        );
        // Batches 2..=6 are retained: a resend of batch 3 is a duplicate with its offsets.
        let dup = append(&mut m, &batch(9, 0, 6, 999, 2)).unwrap().unwrap();
        assert_eq!((dup.first_offset(), dup.last_offset), (30, 31));
        assert_eq!((dup.first_seq(), dup.last_seq), (6, 7));
        // The newest one too.
        let dup = append(&mut m, &batch(9, 0, 12, 999, 2)).unwrap().unwrap();
        assert_eq!(dup.first_offset(), 60);
        // Batch 1 fell out of the window: now simply out of order.
        let err = append(&mut m, &batch(9, 0, 2, 999, 2)).unwrap_err();
        assert!(matches!(err, LogError::OutOfOrderSequence(_)));
        // Same first sequence but a different range is not a duplicate.
        let err = append(&mut m, &batch(9, 0, 6, 999, 3)).unwrap_err();
        assert!(matches!(err, LogError::OutOfOrderSequence(_)));
        // Another epoch's identical range is not a duplicate either.
        let err = append(&mut m, &batch(9, 1, 6, 999, 2)).unwrap_err();
        assert!(matches!(err, LogError::OutOfOrderSequence(_)));
        assert_eq!(m.last_entry(9).unwrap().last_seq(), 13);
    }

    #[test]
    fn sequences_wrap_at_i32_max() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = ProducerStateManager::new(tp(), dir.path());
        assert_eq!(
            append(&mut m, &batch(1, 0, i32::MAX - 1, 0, 2)).unwrap(),
            None
        );
        assert_eq!(m.last_entry(1).unwrap().last_seq(), i32::MAX);
        assert_eq!(append(&mut m, &batch(1, 0, 0, 2, 2)).unwrap(), None);
        // A batch crossing the wrap, then its duplicate.
        assert_eq!(append(&mut m, &batch(2, 0, i32::MAX, 4, 3)).unwrap(), None);
        let dup = append(&mut m, &batch(2, 0, i32::MAX, 99, 3))
            .unwrap()
            .unwrap();
        assert_eq!((dup.first_offset(), dup.last_seq), (4, 1));
    }

    #[test]
    fn replication_updates_without_checks() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = ProducerStateManager::new(tp(), dir.path());
        m.update(&batch(5, 4, 10, 0, 1));
        // Gap and older epoch: applied anyway.
        m.update(&batch(5, 4, 20, 1, 1));
        m.update(&batch(5, 3, 30, 2, 1));
        let e = m.last_entry(5).unwrap();
        assert_eq!(
            (e.producer_epoch, e.last_seq(), e.last_data_offset()),
            (3, 30, 2)
        );
        // Transactions: a transactional batch opens one, a marker closes it.
        m.update(&ProducerBatch::new(6, 0, 0, 10, 10, 5, true));
        assert_eq!(m.last_entry(6).unwrap().current_txn_first_offset, Some(10));
        let err = m.check_client_append(&batch(6, 0, 1, 11, 1)).unwrap_err();
        assert!(matches!(err, LogError::InvalidTxnState(_)));
        m.append_end_txn_marker(6, 0, 4, 7);
        let e = m.last_entry(6).unwrap();
        assert_eq!((e.current_txn_first_offset, e.coordinator_epoch), (None, 4));
        assert_eq!(e.last_timestamp, 7);
    }

    #[test]
    fn expiry_spares_recent_producers_and_open_transactions() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = ProducerStateManager::new(tp(), dir.path());
        m.update(&ProducerBatch::new(1, 0, 0, 0, 0, 1_000, false));
        m.update(&ProducerBatch::new(2, 0, 0, 1, 1, 5_000, false));
        m.update(&ProducerBatch::new(3, 0, 0, 2, 2, 1_000, true));
        assert_eq!(m.remove_expired_producers(10_000, 6_000), 1);
        assert!(m.last_entry(1).is_none());
        assert!(m.last_entry(2).is_some() && m.last_entry(3).is_some());
        assert_eq!(m.remove_expired_producers(11_000, 6_000), 1);
        assert!(m.last_entry(2).is_none());
        assert!(m.last_entry(3).is_some());
    }

    fn entry(
        pid: i64,
        epoch: i16,
        last_seq: i32,
        last_offset: i64,
        delta: i32,
    ) -> ProducerStateEntry {
        let mut e = ProducerStateEntry::empty(pid);
        e.coordinator_epoch = 7;
        e.add_batch(
            epoch,
            BatchMetadata {
                last_seq,
                last_offset,
                offset_delta: delta,
                timestamp: 1_700_000_000_000,
            },
        );
        e
    }

    /// Kafka's layout, byte by byte, with the CRC-32C computed by an independent bitwise
    /// implementation (and the standard check value of CRC-32C to pin the polynomial).
    #[test]
    fn snapshot_bytes_follow_kafkas_schema() {
        fn crc32c_bitwise(data: &[u8]) -> u32 {
            let mut crc = !0u32;
            for b in data {
                crc ^= u32::from(*b);
                for _ in 0..8 {
                    crc = if crc & 1 != 0 {
                        (crc >> 1) ^ 0x82F6_3B78
                    } else {
                        crc >> 1
                    };
                }
            }
            !crc
        }
        assert_eq!(crc32c_bitwise(b"123456789"), 0xE306_9283);

        let e = entry(1234, 2, 41, 100, 4);
        let bytes = encode_snapshot(&[&e]);
        let mut expected: Vec<u8> = vec![0x00, 0x01, 0, 0, 0, 0, 0x00, 0x00, 0x00, 0x01];
        expected.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0x04, 0xD2]); // producer id 1234
        expected.extend_from_slice(&[0x00, 0x02]); // epoch 2
        expected.extend_from_slice(&[0, 0, 0, 0x29]); // last sequence 41
        expected.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0x64]); // last offset 100
        expected.extend_from_slice(&[0, 0, 0, 0x04]); // offset delta 4
        expected.extend_from_slice(&1_700_000_000_000i64.to_be_bytes()); // timestamp
        expected.extend_from_slice(&[0, 0, 0, 0x07]); // coordinator epoch 7
        expected.extend_from_slice(&[0xFF; 8]); // no open transaction: −1
        let crc = crc32c_bitwise(&expected[6..]);
        expected[2..6].copy_from_slice(&crc.to_be_bytes());
        assert_eq!(bytes, expected);
        assert_eq!(bytes.len(), 10 + 46);
        // An empty table is the 10-byte header.
        let empty = encode_snapshot(&[]);
        assert_eq!(empty.len(), 10);
        assert_eq!(&empty[..2], &[0, 1]);
        assert_eq!(
            u32::from_be_bytes([empty[2], empty[3], empty[4], empty[5]]),
            crc32c_bitwise(&[0, 0, 0, 0])
        );
    }

    #[test]
    fn snapshot_round_trip_and_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let mut with_txn = entry(2, 0, 9, 50, 0);
        with_txn.current_txn_first_offset = Some(45);
        let mut no_batch = ProducerStateEntry::empty(3);
        no_batch.producer_epoch = 5;
        no_batch.last_timestamp = 99;
        let entries = [entry(1, 1, 41, 100, 4), with_txn, no_batch];
        let refs: Vec<&ProducerStateEntry> = entries.iter().collect();
        let path = producer_snapshot_file(dir.path(), 123);
        assert!(path.ends_with("00000000000000000123.snapshot"));
        write_snapshot(&path, &refs, true).unwrap();
        let back = read_snapshot(&path).unwrap();
        assert_eq!(back, entries.to_vec());
        assert_eq!(back[0].first_seq(), 37);
        assert_eq!(back[2].last_seq(), NO_SEQUENCE);

        // Any flipped bit, a truncation or another version is corrupt.
        let good = fs::read(&path).unwrap();
        for i in [0usize, 3, 10, good.len() - 1] {
            let mut bad = good.clone();
            bad[i] ^= 0x10;
            assert!(decode_snapshot(&bad).is_err(), "flip at {i}");
        }
        assert!(decode_snapshot(&good[..good.len() - 1]).is_err());
        assert!(decode_snapshot(&good[..5]).is_err());
        fs::write(&path, &good[..20]).unwrap();
        assert!(matches!(
            read_snapshot(&path),
            Err(LogError::CorruptSnapshot { .. })
        ));
    }

    #[test]
    fn snapshots_are_taken_loaded_and_the_corrupt_ones_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = ProducerStateManager::new(tp(), dir.path());
        append(&mut m, &batch(1, 0, 0, 0, 5)).unwrap();
        assert_eq!(m.take_snapshot(true).unwrap(), Some(5));
        // Nothing new: no second snapshot.
        assert_eq!(m.take_snapshot(true).unwrap(), None);
        append(&mut m, &batch(1, 0, 5, 5, 5)).unwrap();
        append(&mut m, &batch(2, 0, 0, 10, 1)).unwrap();
        assert_eq!(m.take_snapshot(false).unwrap(), Some(11));
        m.sync_snapshots().unwrap();

        let mut loaded = ProducerStateManager::new(tp(), dir.path());
        loaded.load_snapshots().unwrap();
        assert_eq!(loaded.snapshot_offsets(), vec![5, 11]);
        loaded.truncate_and_reload(0, 11, 1_000).unwrap();
        assert_eq!(loaded.map_end_offset(), 11);
        assert_eq!(loaded.last_entry(1).unwrap().last_seq(), 9);
        assert_eq!(loaded.last_entry(2).unwrap().last_data_offset(), 10);

        // Truncating below 11 drops that snapshot and reloads the one at 5.
        loaded.truncate_and_reload(0, 7, 1_000).unwrap();
        assert_eq!(loaded.snapshot_offsets(), vec![5]);
        assert_eq!(loaded.map_end_offset(), 5);
        assert_eq!(loaded.last_entry(1).unwrap().last_seq(), 4);
        assert!(loaded.last_entry(2).is_none());

        // A corrupt latest snapshot is deleted and the older one used.
        let mut m2 = ProducerStateManager::new(tp(), dir.path());
        m2.load_snapshots().unwrap();
        fs::write(producer_snapshot_file(dir.path(), 20), b"garbage").unwrap();
        m2.load_snapshots().unwrap();
        m2.truncate_and_reload(0, 30, 1_000).unwrap();
        assert_eq!(m2.map_end_offset(), 5);
        assert!(!producer_snapshot_file(dir.path(), 20).exists());

        // Expired producers are not loaded.
        let mut m3 = ProducerStateManager::new(tp(), dir.path());
        m3.load_snapshots().unwrap();
        m3.truncate_and_reload(0, 5, 1_000 + DEFAULT_PRODUCER_ID_EXPIRATION_MS)
            .unwrap();
        assert!(m3.is_empty());
        assert_eq!(m3.map_end_offset(), 5);
    }

    #[test]
    fn stray_snapshots_and_deletion() {
        let dir = tempfile::tempdir().unwrap();
        for o in [0, 10, 15, 20, 30, 40] {
            write_snapshot(&producer_snapshot_file(dir.path(), o), &[], true).unwrap();
        }
        fs::write(dir.path().join("junk.snapshot"), b"").unwrap();
        let mut m = ProducerStateManager::new(tp(), dir.path());
        // Segments at 0, 10 and 20: 15 and 30 are strays below the newest stray 40, which is
        // above every segment and stays (the clean-shutdown snapshot).
        m.remove_stray_snapshots(&[0, 10, 20]).unwrap();
        assert_eq!(m.snapshot_offsets(), vec![0, 10, 20, 40]);
        assert!(!producer_snapshot_file(dir.path(), 15).exists());
        // A stray below the last segment goes too.
        m.remove_stray_snapshots(&[0, 10, 20, 50]).unwrap();
        assert_eq!(m.snapshot_offsets(), vec![0, 10, 20]);

        m.delete_snapshots_before(10).unwrap();
        assert_eq!(m.snapshot_offsets(), vec![10, 20]);
        let renamed = m
            .remove_and_mark_snapshot_for_deletion(10)
            .unwrap()
            .unwrap();
        assert!(renamed
            .to_string_lossy()
            .ends_with("00000000000000000010.snapshot.deleted"));
        assert!(renamed.exists());
        assert_eq!(m.remove_and_mark_snapshot_for_deletion(10).unwrap(), None);
        m.truncate_fully_and_start_at(77).unwrap();
        assert!(m.snapshot_offsets().is_empty());
        assert!(!producer_snapshot_file(dir.path(), 20).exists());
        assert_eq!(m.map_end_offset(), 77);
    }
}
