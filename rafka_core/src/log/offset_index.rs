//! `OffsetIndex`: a segment's `.index` file (Kafka's `OffsetIndex`). A sparse, memory-mapped
//! map from offsets to byte positions in the `.log`: 8-byte entries of relative offset (i32,
//! offset − base offset) and position (i32), both big-endian, strictly increasing.
//!
//! `lookup(o)` returns the greatest entry ≤ `o`; the caller scans batches from its position.

use std::path::Path;

use super::abstract_index::{be_i32, IndexFile};
use super::error::LogError;

/// An offset and the byte position of the batch that holds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OffsetPosition {
    pub offset: i64,
    pub position: u64,
}

/// The `.index` file of one segment.
pub struct OffsetIndex {
    file: IndexFile,
    base_offset: i64,
    last_offset: i64,
}

impl OffsetIndex {
    /// Bytes per entry.
    pub const ENTRY_SIZE: usize = 8;

    /// Opens or creates the index of the segment at `base_offset`. New files are preallocated
    /// to `max_index_size` rounded down to 8 bytes.
    pub fn open(
        path: &Path,
        base_offset: i64,
        max_index_size: i32,
    ) -> Result<OffsetIndex, LogError> {
        let (file, _) = IndexFile::open(path, Self::ENTRY_SIZE, max_index_size)?;
        let mut index = OffsetIndex {
            file,
            base_offset,
            last_offset: base_offset,
        };
        index.last_offset = index.read_last_offset();
        Ok(index)
    }

    fn parse(&self, entry: &[u8]) -> OffsetPosition {
        OffsetPosition {
            offset: self.base_offset + be_i32(entry, 0) as i64,
            // Positions are written from u32-checked values; a negative one read from a
            // damaged file is caught by `sanity_check`, here it just becomes 0.
            position: u64::try_from(be_i32(entry, 4)).unwrap_or(0),
        }
    }

    fn read_last_offset(&self) -> i64 {
        match self.file.entries() {
            0 => self.base_offset,
            n => self
                .file
                .live_entry(n - 1)
                .map_or(self.base_offset, |e| self.parse(e).offset),
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

    /// The configured maximum size (what the file is preallocated to when active).
    pub fn max_index_size(&self) -> usize {
        self.file.max_index_size()
    }

    /// Bytes used by entries.
    pub fn size_in_bytes(&self) -> usize {
        self.entries() * Self::ENTRY_SIZE
    }

    /// Current file length (preallocated or trimmed).
    pub fn file_len(&self) -> usize {
        self.file.len()
    }

    /// True when no slot is free: the segment must roll.
    pub fn is_full(&self) -> bool {
        self.entries() >= self.max_entries()
    }

    /// The offset of the last entry (the base offset when empty).
    pub fn last_offset(&self) -> i64 {
        self.last_offset
    }

    /// The `n`th entry.
    pub fn entry(&self, n: usize) -> Option<OffsetPosition> {
        self.file.live_entry(n).map(|e| self.parse(e))
    }

    /// The greatest entry with offset ≤ `target`, or `(base offset, 0)` when there is none.
    pub fn lookup(&self, target: i64) -> OffsetPosition {
        let base = self.base_offset;
        self.file
            .largest_lower_bound_slot(target, |e| base + be_i32(e, 0) as i64)
            .and_then(|slot| self.entry(slot))
            .unwrap_or(OffsetPosition {
                offset: base,
                position: 0,
            })
    }

    /// True when `offset` fits the 32-bit relative offset of this segment.
    pub fn can_append_offset(&self, offset: i64) -> bool {
        self.relative(offset).is_some()
    }

    fn relative(&self, offset: i64) -> Option<i32> {
        offset
            .checked_sub(self.base_offset)
            .and_then(|r| i32::try_from(r).ok())
            .filter(|r| *r >= 0)
    }

    /// Appends `(offset, position)`. Offsets must strictly increase (Kafka's
    /// `InvalidOffsetException` otherwise) and the index must not be full.
    pub fn append(&mut self, offset: i64, position: u64) -> Result<(), LogError> {
        if self.is_full() {
            return Err(self.invalid(format!(
                "attempt to append to a full index ({} entries)",
                self.entries()
            )));
        }
        if self.entries() > 0 && offset <= self.last_offset {
            return Err(self.invalid(format!(
                "attempt to append offset {offset} to slot {} no larger than the last offset \
                 appended ({})",
                self.entries(),
                self.last_offset
            )));
        }
        let rel = self
            .relative(offset)
            .ok_or_else(|| self.invalid(format!("offset {offset} overflows the index")))?;
        let pos = i32::try_from(position)
            .map_err(|_| self.invalid(format!("position {position} overflows the index")))?;
        let mut e = [0u8; Self::ENTRY_SIZE];
        e[..4].copy_from_slice(&rel.to_be_bytes());
        e[4..].copy_from_slice(&pos.to_be_bytes());
        self.file.push(&e)?;
        self.last_offset = offset;
        Ok(())
    }

    fn invalid(&self, reason: String) -> LogError {
        LogError::InvalidOffset {
            path: self.path().to_path_buf(),
            reason,
        }
    }

    /// Removes every entry with offset ≥ `offset`.
    pub fn truncate_to(&mut self, offset: i64) {
        let base = self.base_offset;
        let new_entries = match self
            .file
            .largest_lower_bound_slot(offset, |e| base + be_i32(e, 0) as i64)
        {
            None => 0,
            Some(slot) if self.entry(slot).map(|e| e.offset) == Some(offset) => slot,
            Some(slot) => slot + 1,
        };
        self.file.truncate_to_entries(new_entries);
        self.last_offset = self.read_last_offset();
    }

    /// Removes every entry.
    pub fn truncate(&mut self) {
        self.file.truncate_to_entries(0);
        self.last_offset = self.base_offset;
    }

    /// Removes every entry and grows the file back to the maximum size (before a rebuild).
    pub fn reset(&mut self) -> Result<(), LogError> {
        self.file.reset()?;
        self.last_offset = self.base_offset;
        Ok(())
    }

    /// Sets the file length (rounded down to 8 bytes).
    pub fn resize(&mut self, new_size: usize) -> Result<bool, LogError> {
        let changed = self.file.resize(new_size)?;
        self.last_offset = self.read_last_offset();
        Ok(changed)
    }

    /// Trims the file to the used entries.
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

    /// Cheap structural checks (Kafka's `sanityCheck` plus bounds): the file length is a
    /// multiple of 8, and the first and last entries are ordered, not before the base offset
    /// and with non-negative positions. A failure means "rebuild from the `.log`".
    pub fn sanity_check(&self) -> Result<(), LogError> {
        let corrupt = |reason: String| LogError::CorruptIndex {
            path: self.path().to_path_buf(),
            reason,
        };
        if !self.file.len().is_multiple_of(Self::ENTRY_SIZE) {
            return Err(corrupt(format!(
                "index file length {} is not a multiple of {}",
                self.file.len(),
                Self::ENTRY_SIZE
            )));
        }
        let n = self.entries();
        if n == 0 {
            return Ok(());
        }
        let (first, last) = match (self.file.live_entry(0), self.file.live_entry(n - 1)) {
            (Some(f), Some(l)) => (f, l),
            _ => return Err(corrupt("entries beyond the mapped file".into())),
        };
        let (first_rel, last_rel) = (be_i32(first, 0), be_i32(last, 0));
        let (first_pos, last_pos) = (be_i32(first, 4), be_i32(last, 4));
        if first_rel < 0 || last_rel < first_rel || (n > 1 && last_rel == first_rel) {
            return Err(corrupt(format!(
                "relative offsets out of order: first {first_rel}, last {last_rel} ({n} entries)"
            )));
        }
        if first_pos < 0 || last_pos < first_pos {
            return Err(corrupt(format!(
                "positions out of order: first {first_pos}, last {last_pos}"
            )));
        }
        Ok(())
    }
}

impl std::fmt::Debug for OffsetIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OffsetIndex")
            .field("path", &self.path())
            .field("entries", &self.entries())
            .field("max_entries", &self.max_entries())
            .field("last_offset", &self.last_offset)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(dir: &tempfile::TempDir, base: i64, max: i32) -> OffsetIndex {
        OffsetIndex::open(&dir.path().join("00000000000000000000.index"), base, max).unwrap()
    }

    #[test]
    fn lookup_finds_greatest_entry_at_or_below() {
        let dir = tempfile::tempdir().unwrap();
        let mut idx = index(&dir, 100, 80);
        assert_eq!(
            idx.lookup(150),
            OffsetPosition {
                offset: 100,
                position: 0
            }
        );
        idx.append(110, 4200).unwrap();
        idx.append(120, 8400).unwrap();
        idx.append(135, 12600).unwrap();
        assert_eq!(idx.lookup(105).position, 0);
        assert_eq!(
            idx.lookup(110),
            OffsetPosition {
                offset: 110,
                position: 4200
            }
        );
        assert_eq!(
            idx.lookup(134),
            OffsetPosition {
                offset: 120,
                position: 8400
            }
        );
        assert_eq!(idx.lookup(1 << 40).offset, 135);
        assert_eq!(idx.last_offset(), 135);
    }

    #[test]
    fn append_enforces_order_fullness_and_range() {
        let dir = tempfile::tempdir().unwrap();
        let mut idx = index(&dir, 0, 16);
        idx.append(5, 100).unwrap();
        assert!(idx.append(5, 200).is_err());
        assert!(idx.append(4, 200).is_err());
        idx.append(9, 300).unwrap();
        assert!(idx.is_full());
        assert!(idx.append(10, 400).is_err());
        assert!(idx.can_append_offset(i32::MAX as i64));
        assert!(!idx.can_append_offset(i32::MAX as i64 + 1));
        assert!(!idx.can_append_offset(-1));
    }

    #[test]
    fn truncate_resize_and_raw_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let mut idx = index(&dir, 1000, 1024);
        for i in 1..=5 {
            idx.append(1000 + i * 10, (i * 100) as u64).unwrap();
        }
        idx.truncate_to(1030); // drops 1030, 1040, 1050
        assert_eq!(idx.entries(), 2);
        assert_eq!(idx.last_offset(), 1020);
        idx.truncate_to(1015); // drops 1020
        assert_eq!(idx.entries(), 1);
        idx.trim_to_valid_size().unwrap();
        let path = idx.path().to_path_buf();
        assert_eq!(std::fs::read(&path).unwrap(), [0, 0, 0, 10, 0, 0, 0, 100]);
        idx.resize(1024).unwrap();
        assert_eq!(idx.max_entries(), 128);
        idx.truncate();
        assert_eq!(idx.entries(), 0);
        assert_eq!(idx.last_offset(), 1000);
        idx.sanity_check().unwrap();
    }

    #[test]
    fn sanity_check_detects_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("00000000000000000000.index");
        std::fs::write(&path, [0, 0, 0, 9, 0, 0, 1, 0, 0, 0, 0, 3, 0, 0, 2, 0]).unwrap();
        let idx = OffsetIndex::open(&path, 0, 1024).unwrap();
        assert!(idx.sanity_check().is_err());
        std::fs::write(&path, [0, 0, 0, 9, 0, 0, 1]).unwrap();
        let idx = OffsetIndex::open(&path, 0, 1024).unwrap();
        assert!(idx.sanity_check().is_err());
    }
}
