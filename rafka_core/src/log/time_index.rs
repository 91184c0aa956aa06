//! `TimeIndex`: a segment's `.timeindex` file (Kafka's `TimeIndex`). 12-byte big-endian
//! entries of timestamp (i64) and relative offset (i32). An entry `(T, O)` means "the largest
//! timestamp seen before offset O is T": every record with timestamp > T is at an offset ≥ O.
//! Timestamps strictly increase; offsets never decrease.
//!
//! The last slot is reserved (`is_full` is one early) for the final entry appended when the
//! segment rolls or closes.

use std::path::Path;

use super::abstract_index::{be_i32, be_i64, IndexFile};
use super::error::LogError;

/// Kafka's `RecordBatch.NO_TIMESTAMP`.
pub const NO_TIMESTAMP: i64 = -1;

/// A timestamp and an offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimestampOffset {
    pub timestamp: i64,
    pub offset: i64,
}

/// The `.timeindex` file of one segment.
pub struct TimeIndex {
    file: IndexFile,
    base_offset: i64,
    last_entry: TimestampOffset,
}

impl TimeIndex {
    /// Bytes per entry.
    pub const ENTRY_SIZE: usize = 12;

    /// Opens or creates the time index of the segment at `base_offset`.
    pub fn open(path: &Path, base_offset: i64, max_index_size: i32) -> Result<TimeIndex, LogError> {
        let (file, _) = IndexFile::open(path, Self::ENTRY_SIZE, max_index_size)?;
        let mut index = TimeIndex {
            file,
            base_offset,
            last_entry: TimestampOffset {
                timestamp: NO_TIMESTAMP,
                offset: base_offset,
            },
        };
        index.last_entry = index.read_last_entry();
        Ok(index)
    }

    fn parse(&self, entry: &[u8]) -> TimestampOffset {
        TimestampOffset {
            timestamp: be_i64(entry, 0),
            offset: self.base_offset + be_i32(entry, 8) as i64,
        }
    }

    fn empty_entry(&self) -> TimestampOffset {
        TimestampOffset {
            timestamp: NO_TIMESTAMP,
            offset: self.base_offset,
        }
    }

    fn read_last_entry(&self) -> TimestampOffset {
        match self.file.entries() {
            0 => self.empty_entry(),
            n => self
                .file
                .live_entry(n - 1)
                .map_or(self.empty_entry(), |e| self.parse(e)),
        }
    }

    pub fn path(&self) -> &Path {
        self.file.path()
    }

    pub fn base_offset(&self) -> i64 {
        self.base_offset
    }

    pub fn entries(&self) -> usize {
        self.file.entries()
    }

    pub fn max_entries(&self) -> usize {
        self.file.max_entries()
    }

    pub fn max_index_size(&self) -> usize {
        self.file.max_index_size()
    }

    pub fn size_in_bytes(&self) -> usize {
        self.entries() * Self::ENTRY_SIZE
    }

    /// Current file length (preallocated or trimmed).
    pub fn file_len(&self) -> usize {
        self.file.len()
    }

    /// Full one slot early: the last slot is kept for the roll/close entry.
    pub fn is_full(&self) -> bool {
        self.entries() + 1 >= self.max_entries()
    }

    /// The last entry, `(-1, base offset)` when empty.
    pub fn last_entry(&self) -> TimestampOffset {
        self.last_entry
    }

    /// The `n`th entry.
    pub fn entry(&self, n: usize) -> Option<TimestampOffset> {
        self.file.live_entry(n).map(|e| self.parse(e))
    }

    /// Appends `(timestamp, offset)` only if `timestamp` is greater than the last entry's
    /// (Kafka's `maybeAppend`). A smaller offset or timestamp than the last entry is an error;
    /// the same pair again is silently ignored (roll and close both append the final entry).
    pub fn maybe_append(
        &mut self,
        timestamp: i64,
        offset: i64,
        skip_full_check: bool,
    ) -> Result<(), LogError> {
        if !skip_full_check && self.is_full() {
            return Err(self.invalid(format!(
                "attempt to append to a full time index ({} entries)",
                self.entries()
            )));
        }
        if self.entries() > 0 && offset < self.last_entry.offset {
            return Err(self.invalid(format!(
                "attempt to append offset {offset} to slot {} no larger than the last offset \
                 appended ({})",
                self.entries(),
                self.last_entry.offset
            )));
        }
        if self.entries() > 0 && timestamp < self.last_entry.timestamp {
            return Err(self.invalid(format!(
                "attempt to append timestamp {timestamp} to slot {} no larger than the last \
                 timestamp appended ({})",
                self.entries(),
                self.last_entry.timestamp
            )));
        }
        if timestamp > self.last_entry.timestamp {
            let rel = offset
                .checked_sub(self.base_offset)
                .and_then(|r| i32::try_from(r).ok())
                .filter(|r| *r >= 0)
                .ok_or_else(|| self.invalid(format!("offset {offset} overflows the index")))?;
            let mut e = [0u8; Self::ENTRY_SIZE];
            e[..8].copy_from_slice(&timestamp.to_be_bytes());
            e[8..].copy_from_slice(&rel.to_be_bytes());
            self.file.push(&e)?;
            self.last_entry = TimestampOffset { timestamp, offset };
        }
        Ok(())
    }

    fn invalid(&self, reason: String) -> LogError {
        LogError::InvalidOffset {
            path: self.path().to_path_buf(),
            reason,
        }
    }

    /// The entry with the greatest timestamp ≤ `target`, or `(-1, base offset)` if none.
    pub fn lookup(&self, target: i64) -> TimestampOffset {
        self.file
            .largest_lower_bound_slot(target, |e| be_i64(e, 0))
            .and_then(|slot| self.entry(slot))
            .unwrap_or(self.empty_entry())
    }

    /// Removes every entry with offset ≥ `offset`.
    pub fn truncate_to(&mut self, offset: i64) {
        let base = self.base_offset;
        let new_entries = match self
            .file
            .largest_lower_bound_slot(offset, |e| base + be_i32(e, 8) as i64)
        {
            None => 0,
            Some(slot) if self.entry(slot).map(|e| e.offset) == Some(offset) => slot,
            Some(slot) => slot + 1,
        };
        self.file.truncate_to_entries(new_entries);
        self.last_entry = self.read_last_entry();
    }

    /// Removes every entry.
    pub fn truncate(&mut self) {
        self.file.truncate_to_entries(0);
        self.last_entry = self.empty_entry();
    }

    /// Removes every entry and grows the file back to the maximum size (before a rebuild).
    pub fn reset(&mut self) -> Result<(), LogError> {
        self.file.reset()?;
        self.last_entry = self.empty_entry();
        Ok(())
    }

    pub fn resize(&mut self, new_size: usize) -> Result<bool, LogError> {
        let changed = self.file.resize(new_size)?;
        self.last_entry = self.read_last_entry();
        Ok(changed)
    }

    pub fn trim_to_valid_size(&mut self) -> Result<(), LogError> {
        self.file.trim_to_valid_size()
    }

    pub fn flush(&self) -> Result<(), LogError> {
        self.file.flush()
    }

    pub fn rename_to(&mut self, path: &Path) -> Result<(), LogError> {
        self.file.rename_to(path)
    }

    /// Follows a rename of the partition directory.
    pub fn update_parent_dir(&mut self, dir: &Path) {
        self.file.update_parent_dir(dir);
    }

    pub fn delete(self) -> Result<(), LogError> {
        self.file.delete()
    }

    /// Kafka's `sanityCheck`: the length is a multiple of 12, the last timestamp is not below
    /// the first, and offsets are not before the base offset and do not go backwards.
    pub fn sanity_check(&self) -> Result<(), LogError> {
        let corrupt = |reason: String| LogError::CorruptIndex {
            path: self.path().to_path_buf(),
            reason,
        };
        if !self.file.len().is_multiple_of(Self::ENTRY_SIZE) {
            return Err(corrupt(format!(
                "time index file length {} is not a multiple of {}",
                self.file.len(),
                Self::ENTRY_SIZE
            )));
        }
        let n = self.entries();
        if n == 0 {
            return Ok(());
        }
        let (first, last) = match (self.entry(0), self.entry(n - 1)) {
            (Some(f), Some(l)) => (f, l),
            _ => return Err(corrupt("entries beyond the mapped file".into())),
        };
        if last.timestamp < first.timestamp {
            return Err(corrupt(format!(
                "last timestamp {} is less than the first timestamp {}",
                last.timestamp, first.timestamp
            )));
        }
        if first.offset < self.base_offset || last.offset < first.offset {
            return Err(corrupt(format!(
                "offsets out of order: first {}, last {}, base {}",
                first.offset, last.offset, self.base_offset
            )));
        }
        Ok(())
    }
}

impl std::fmt::Debug for TimeIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TimeIndex")
            .field("path", &self.path())
            .field("entries", &self.entries())
            .field("max_entries", &self.max_entries())
            .field("last_entry", &self.last_entry)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(dir: &tempfile::TempDir, base: i64, max: i32) -> TimeIndex {
        TimeIndex::open(
            &dir.path().join("00000000000000000000.timeindex"),
            base,
            max,
        )
        .unwrap()
    }

    #[test]
    fn appends_only_growing_timestamps_and_looks_up() {
        let dir = tempfile::tempdir().unwrap();
        let mut idx = index(&dir, 50, 120);
        assert_eq!(
            idx.lookup(1000),
            TimestampOffset {
                timestamp: -1,
                offset: 50
            }
        );
        idx.maybe_append(1000, 55, false).unwrap();
        idx.maybe_append(1000, 56, false).unwrap(); // same timestamp: ignored
        idx.maybe_append(1200, 60, false).unwrap();
        assert!(idx.maybe_append(1100, 61, false).is_err());
        assert!(idx.maybe_append(1300, 59, false).is_err());
        assert_eq!(idx.entries(), 2);
        assert_eq!(idx.lookup(999).offset, 50);
        assert_eq!(
            idx.lookup(1100),
            TimestampOffset {
                timestamp: 1000,
                offset: 55
            }
        );
        assert_eq!(idx.lookup(5000).offset, 60);
        assert_eq!(idx.last_entry().timestamp, 1200);
    }

    #[test]
    fn last_slot_is_reserved_for_the_roll_entry() {
        let dir = tempfile::tempdir().unwrap();
        let mut idx = index(&dir, 0, 36); // 3 slots
        idx.maybe_append(1, 1, false).unwrap();
        idx.maybe_append(2, 2, false).unwrap();
        assert!(idx.is_full());
        assert!(idx.maybe_append(3, 3, false).is_err());
        idx.maybe_append(3, 3, true).unwrap();
        idx.maybe_append(4, 4, true).unwrap(); // grows the file rather than failing
        assert_eq!(idx.entries(), 4);
        idx.trim_to_valid_size().unwrap();
        let bytes = std::fs::read(idx.path()).unwrap();
        assert_eq!(bytes.len(), 48);
        assert_eq!(&bytes[36..], &[0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 4]);
    }

    #[test]
    fn truncate_by_offset() {
        let dir = tempfile::tempdir().unwrap();
        let mut idx = index(&dir, 0, 1200);
        for i in 1..=5i64 {
            idx.maybe_append(i * 100, i * 10, false).unwrap();
        }
        idx.truncate_to(30);
        assert_eq!(idx.entries(), 2);
        assert_eq!(
            idx.last_entry(),
            TimestampOffset {
                timestamp: 200,
                offset: 20
            }
        );
        idx.truncate_to(25);
        assert_eq!(idx.entries(), 2);
        idx.truncate_to(0);
        assert_eq!(idx.entries(), 0);
        assert_eq!(idx.last_entry().timestamp, -1);
        idx.sanity_check().unwrap();
    }
}
