//! The memory-mapped file shared by the `.index` and `.timeindex` files (Kafka's
//! `AbstractIndex`): fixed-size entries, preallocation to the maximum index size for the
//! active segment, trimming to the used size on roll/close, resizing, and the binary search
//! for "the greatest entry ≤ target". Entry formats live in `offset_index` / `time_index`.
//!
//! This is one of the two places allowed to use `unsafe` (memmap2's mapping calls).

#![allow(unsafe_code)]

use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};

use memmap2::{MmapMut, MmapOptions};

use super::error::{IoContext, LogError};

/// Rounds `number` down to a multiple of `factor` (Kafka's `roundDownToExactMultiple`).
pub(crate) fn round_down(number: usize, factor: usize) -> usize {
    if factor == 0 {
        0
    } else {
        factor * (number / factor)
    }
}

/// A memory-mapped index file of fixed-size entries.
///
/// Invariants: `entries * entry_size <= len`; `mmap` maps exactly `len` bytes (`None` when
/// `len == 0`, since an empty mapping is useless); the mapping is dropped before the file's
/// length changes, so no access can reach past the end of the file.
pub(crate) struct IndexFile {
    path: PathBuf,
    file: File,
    mmap: Option<MmapMut>,
    len: usize,
    entry_size: usize,
    entries: usize,
    max_index_size: usize,
}

impl IndexFile {
    /// Opens (creating if missing) an index file. A new file is preallocated to
    /// `max_index_size` rounded down to the entry size; an existing file keeps its length and
    /// its entries are counted as `len / entry_size` minus trailing all-zero entries: those
    /// are unused preallocated slots left by an unclean shutdown (a real entry is never all
    /// zeros beyond slot 0, see the index types).
    pub(crate) fn open(
        path: &Path,
        entry_size: usize,
        max_index_size: i32,
    ) -> Result<(IndexFile, bool), LogError> {
        let max_index_size = usize::try_from(max_index_size).unwrap_or(0);
        let newly_created = !path.exists();
        if newly_created && max_index_size < entry_size {
            return Err(LogError::InvalidArgument(format!(
                "invalid max index size {max_index_size} for {} (entry size {entry_size})",
                path.display()
            )));
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .ctx(path)?;
        if newly_created {
            file.set_len(round_down(max_index_size, entry_size) as u64)
                .ctx(path)?;
        }
        let raw_len = file.metadata().ctx(path)?.len();
        let len = usize::try_from(raw_len).map_err(|_| LogError::CorruptIndex {
            path: path.to_path_buf(),
            reason: format!("index file of {raw_len} bytes is too large"),
        })?;
        let mut index = IndexFile {
            path: path.to_path_buf(),
            file,
            mmap: None,
            len,
            entry_size,
            entries: 0,
            max_index_size,
        };
        index.map()?;
        if !newly_created {
            let mut entries = len / entry_size;
            while entries > 0
                && index
                    .entry(entries - 1)
                    .is_some_and(|e| e.iter().all(|&b| b == 0))
            {
                entries -= 1;
            }
            index.entries = entries;
        }
        Ok((index, newly_created))
    }

    /// Maps the current file length (or nothing for an empty file).
    fn map(&mut self) -> Result<(), LogError> {
        self.mmap = if self.len == 0 {
            None
        } else {
            // SAFETY: the file is an index inside a partition directory that only this broker
            // process writes (the log dir is protected by its `.lock`); this struct is the only
            // writer of the file and drops the mapping before every length change (`resize`,
            // `delete`), so the mapped range always lies within the file.
            let mmap = unsafe { MmapOptions::new().len(self.len).map_mut(&self.file) };
            Some(mmap.ctx(&self.path)?)
        };
        Ok(())
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The file length in bytes (preallocated or trimmed).
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn entries(&self) -> usize {
        self.entries
    }

    pub(crate) fn max_entries(&self) -> usize {
        self.len / self.entry_size
    }

    pub(crate) fn max_index_size(&self) -> usize {
        self.max_index_size
    }

    /// Bytes of slot `n`, if `n < entries`.
    pub(crate) fn entry(&self, n: usize) -> Option<&[u8]> {
        let start = n.checked_mul(self.entry_size)?;
        let end = start.checked_add(self.entry_size)?;
        self.mmap.as_ref().and_then(|m| m.get(start..end))
    }

    /// Bytes of slot `n` when it holds a live entry.
    pub(crate) fn live_entry(&self, n: usize) -> Option<&[u8]> {
        if n < self.entries {
            self.entry(n)
        } else {
            None
        }
    }

    /// Writes the next entry; the caller checked order and fullness. Grows the file by one
    /// entry when there is no free slot (only the time index's final entry on roll/close can
    /// need that, see `TimeIndex::maybe_append`).
    pub(crate) fn push(&mut self, bytes: &[u8]) -> Result<(), LogError> {
        debug_assert_eq!(bytes.len(), self.entry_size);
        if self.entries >= self.max_entries() {
            self.resize((self.entries + 1) * self.entry_size)?;
        }
        let start = self.entries * self.entry_size;
        let slot = self
            .mmap
            .as_mut()
            .and_then(|m| m.get_mut(start..start + bytes.len()));
        match slot {
            Some(slot) => {
                slot.copy_from_slice(bytes);
                self.entries += 1;
                Ok(())
            }
            None => Err(LogError::InvalidOffset {
                path: self.path.clone(),
                reason: format!("no room for entry {} in index", self.entries),
            }),
        }
    }

    /// Keeps the first `entries` entries and zeroes the dropped slots, so that a crash before
    /// the next trim cannot resurrect them when the file is reopened (reopening counts entries
    /// up to the last non-zero slot).
    pub(crate) fn truncate_to_entries(&mut self, entries: usize) {
        let entries = entries.min(self.entries);
        let start = entries * self.entry_size;
        let end = self.entries * self.entry_size;
        if let Some(range) = self.mmap.as_mut().and_then(|m| m.get_mut(start..end)) {
            range.fill(0);
        }
        self.entries = entries;
    }

    /// Changes the file length to `new_size` rounded down to the entry size and remaps it
    /// (Kafka's `resize`). Entries beyond the new size are dropped. Returns false when the
    /// size did not change.
    pub(crate) fn resize(&mut self, new_size: usize) -> Result<bool, LogError> {
        let rounded = round_down(new_size, self.entry_size);
        if rounded == self.len {
            return Ok(false);
        }
        // Unmap first: shrinking a file under a live mapping would make later accesses fault.
        self.mmap = None;
        self.file.set_len(rounded as u64).ctx(&self.path)?;
        self.len = rounded;
        self.entries = self.entries.min(self.max_entries());
        self.map()?;
        Ok(true)
    }

    /// Trims the file to exactly the used entries (done on roll and close).
    pub(crate) fn trim_to_valid_size(&mut self) -> Result<(), LogError> {
        self.resize(self.entries * self.entry_size).map(|_| ())
    }

    /// Drops every entry and grows the file back to the maximum index size (Kafka's `reset`,
    /// used before rebuilding an index).
    pub(crate) fn reset(&mut self) -> Result<(), LogError> {
        self.truncate_to_entries(0);
        self.resize(self.max_index_size).map(|_| ())
    }

    /// Writes dirty mapped pages to disk.
    pub(crate) fn flush(&self) -> Result<(), LogError> {
        match &self.mmap {
            Some(m) => m.flush().ctx(&self.path),
            None => Ok(()),
        }
    }

    /// Renames the file; the mapping stays valid (it refers to the inode, not the name).
    pub(crate) fn rename_to(&mut self, new_path: &Path) -> Result<(), LogError> {
        fs::rename(&self.path, new_path).ctx(&self.path)?;
        self.path = new_path.to_path_buf();
        Ok(())
    }

    /// Points at the same file name inside `dir` (after the directory was renamed).
    pub(crate) fn update_parent_dir(&mut self, dir: &Path) {
        if let Some(name) = self.path.file_name() {
            self.path = dir.join(name);
        }
    }

    /// Unmaps and deletes the file (a missing file is not an error).
    pub(crate) fn delete(mut self) -> Result<(), LogError> {
        self.mmap = None;
        match fs::remove_file(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(LogError::io(&self.path, e)),
        }
    }

    /// The greatest slot whose key is ≤ `target` (Kafka's `largestLowerBoundSlotFor`), where
    /// `key` reads the searched field of an entry; `None` when the index is empty or its first
    /// key is already greater. Keys must be non-decreasing over the live entries.
    pub(crate) fn largest_lower_bound_slot(
        &self,
        target: i64,
        key: impl Fn(&[u8]) -> i64,
    ) -> Option<usize> {
        let key_at = |n: usize| self.live_entry(n).map(&key);
        if self.entries == 0 || key_at(0)? > target {
            return None;
        }
        let (mut lo, mut hi) = (0usize, self.entries - 1);
        while lo < hi {
            // Upper middle, so `lo = mid` always makes progress.
            let mid = lo + (hi - lo).div_ceil(2);
            let found = key_at(mid)?;
            if found > target {
                hi = mid - 1;
            } else if found < target {
                lo = mid;
            } else {
                return Some(mid);
            }
        }
        Some(lo)
    }
}

/// Big-endian `i32` at `at` of an entry (entries are fixed-size, so `at` is in range).
pub(crate) fn be_i32(entry: &[u8], at: usize) -> i32 {
    let mut b = [0u8; 4];
    if let Some(s) = entry.get(at..at + 4) {
        b.copy_from_slice(s);
    }
    i32::from_be_bytes(b)
}

/// Big-endian `i64` at `at` of an entry.
pub(crate) fn be_i64(entry: &[u8], at: usize) -> i64 {
    let mut b = [0u8; 8];
    if let Some(s) = entry.get(at..at + 8) {
        b.copy_from_slice(s);
    }
    i64::from_be_bytes(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preallocates_trims_and_searches() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.index");
        let (mut idx, created) = IndexFile::open(&path, 8, 67).unwrap();
        assert!(created);
        assert_eq!(idx.len(), 64);
        assert_eq!(idx.max_entries(), 8);
        for k in [10i32, 20, 30] {
            let mut e = [0u8; 8];
            e[..4].copy_from_slice(&k.to_be_bytes());
            e[4..].copy_from_slice(&(k * 2).to_be_bytes());
            idx.push(&e).unwrap();
        }
        let key = |e: &[u8]| be_i32(e, 0) as i64;
        assert_eq!(idx.largest_lower_bound_slot(5, key), None);
        assert_eq!(idx.largest_lower_bound_slot(10, key), Some(0));
        assert_eq!(idx.largest_lower_bound_slot(25, key), Some(1));
        assert_eq!(idx.largest_lower_bound_slot(99, key), Some(2));
        idx.trim_to_valid_size().unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 24);
        drop(idx);
        let (idx, created) = IndexFile::open(&path, 8, 64).unwrap();
        assert!(!created);
        assert_eq!(idx.entries(), 3);
    }

    #[test]
    fn reopening_ignores_trailing_zero_slots_and_truncation_zeroes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.index");
        let (mut idx, _) = IndexFile::open(&path, 8, 80).unwrap();
        for k in 1..=4i32 {
            let mut e = [0u8; 8];
            e[..4].copy_from_slice(&k.to_be_bytes());
            e[4..].copy_from_slice(&(k * 100).to_be_bytes());
            idx.push(&e).unwrap();
        }
        idx.truncate_to_entries(2);
        drop(idx); // unclean: still preallocated
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 80);
        let (idx, _) = IndexFile::open(&path, 8, 80).unwrap();
        assert_eq!(idx.entries(), 2);
    }

    #[test]
    fn rejects_too_small_max_size_for_new_files() {
        let dir = tempfile::tempdir().unwrap();
        assert!(IndexFile::open(&dir.path().join("a"), 12, 11).is_err());
    }
}
