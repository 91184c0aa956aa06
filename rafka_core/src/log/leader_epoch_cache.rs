//! `LeaderEpochCache` (Kafka's `LeaderEpochFileCache`): for each leader epoch, the first
//! offset written in it, persisted in the partition's `leader-epoch-checkpoint`. It answers
//! OffsetsForLeaderEpoch ("where did epoch E end?"), which lets a follower find where its log
//! diverges from a new leader's and truncate exactly there instead of to its high watermark
//! (KIP-101).
//!
//! Entries are kept sorted by epoch and by start offset; assigning an epoch removes every
//! entry that conflicts with it (a higher or equal epoch, or a start at or after its start),
//! as Kafka does, so the cache always describes one linear history.

use std::path::Path;

use super::checkpoints::{EpochEntry, LeaderEpochCheckpointFile};
use super::error::LogError;

/// "No epoch" in requests and answers.
pub const UNDEFINED_EPOCH: i32 = -1;
/// "No offset" in answers.
pub const UNDEFINED_EPOCH_OFFSET: i64 = -1;

/// See the module doc.
#[derive(Debug)]
pub struct LeaderEpochCache {
    file: LeaderEpochCheckpointFile,
    entries: Vec<EpochEntry>,
}

fn checkpoint_error(e: impl std::fmt::Display, path: &Path) -> LogError {
    LogError::io(path, std::io::Error::other(e.to_string()))
}

impl LeaderEpochCache {
    /// Loads `<dir>/leader-epoch-checkpoint` (none yet: empty). A corrupt file is an error.
    pub fn load(dir: &Path) -> Result<LeaderEpochCache, LogError> {
        let file = LeaderEpochCheckpointFile::in_dir(dir);
        let mut entries = file.read().map_err(|e| checkpoint_error(e, file.path()))?;
        // Kafka trusts the file's order; keep only a strictly increasing history.
        entries.dedup_by(|b, a| b.epoch <= a.epoch || b.start_offset < a.start_offset);
        Ok(LeaderEpochCache { file, entries })
    }

    /// A cache that is not persisted (tests).
    pub fn in_memory(dir: &Path) -> LeaderEpochCache {
        LeaderEpochCache {
            file: LeaderEpochCheckpointFile::in_dir(dir),
            entries: Vec::new(),
        }
    }

    pub fn entries(&self) -> &[EpochEntry] {
        &self.entries
    }

    pub fn latest_epoch(&self) -> Option<i32> {
        self.entries.last().map(|e| e.epoch)
    }

    /// Moves the checkpoint with its partition directory.
    pub fn set_dir(&mut self, dir: &Path) {
        self.file = LeaderEpochCheckpointFile::in_dir(dir);
    }

    fn flush(&self) -> Result<(), LogError> {
        self.file
            .write(&self.entries)
            .map_err(|e| checkpoint_error(e, self.file.path()))
    }

    /// Records that `epoch` starts at `start_offset` (on the first append of a new epoch).
    /// Returns whether the cache changed (and was written).
    pub fn assign(&mut self, epoch: i32, start_offset: i64) -> Result<bool, LogError> {
        if epoch < 0 || start_offset < 0 {
            return Ok(false);
        }
        if let Some(last) = self.entries.last() {
            if last.epoch == epoch && start_offset >= last.start_offset {
                return Ok(false);
            }
        }
        self.entries
            .retain(|e| e.epoch < epoch && e.start_offset < start_offset);
        self.entries.push(EpochEntry {
            epoch,
            start_offset,
        });
        self.flush()?;
        Ok(true)
    }

    /// Kafka's `endOffsetFor`: the epoch at or below `requested` that the log knows and the
    /// offset where it ended (the start of the next known epoch; the log end offset for the
    /// latest). Unknown (above every epoch, or no entries) → (−1, −1).
    pub fn end_offset_for(&self, requested: i32, log_end_offset: i64) -> (i32, i64) {
        if requested == UNDEFINED_EPOCH || self.entries.is_empty() {
            return (UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET);
        }
        if self.latest_epoch() == Some(requested) {
            return (requested, log_end_offset);
        }
        let Some(higher) = self.entries.iter().find(|e| e.epoch > requested) else {
            return (UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET);
        };
        match self.entries.iter().rev().find(|e| e.epoch <= requested) {
            None => (requested, higher.start_offset),
            Some(floor) => (floor.epoch, higher.start_offset),
        }
    }

    /// The log was cut back to `end_offset`: epochs starting at or after it go.
    pub fn truncate_from_end(&mut self, end_offset: i64) -> Result<(), LogError> {
        let before = self.entries.len();
        self.entries.retain(|e| e.start_offset < end_offset);
        if self.entries.len() != before {
            self.flush()?;
        }
        Ok(())
    }

    /// The log start moved to `start_offset`: earlier epochs go, and the epoch covering it now
    /// starts there.
    pub fn truncate_from_start(&mut self, start_offset: i64) -> Result<(), LogError> {
        let Some(keep) = self
            .entries
            .iter()
            .rposition(|e| e.start_offset <= start_offset)
        else {
            return Ok(());
        };
        if keep == 0 && self.entries[0].start_offset == start_offset {
            return Ok(());
        }
        self.entries.drain(..keep);
        self.entries[0].start_offset = start_offset;
        self.flush()
    }

    /// Empties the cache (the log restarted at a new offset).
    pub fn clear(&mut self) -> Result<(), LogError> {
        if !self.entries.is_empty() {
            self.entries.clear();
            self.flush()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(entries: &[(i32, i64)]) -> (tempfile::TempDir, LeaderEpochCache) {
        let dir = tempfile::tempdir().unwrap();
        let mut c = LeaderEpochCache::load(dir.path()).unwrap();
        for (e, o) in entries {
            c.assign(*e, *o).unwrap();
        }
        (dir, c)
    }

    fn pairs(c: &LeaderEpochCache) -> Vec<(i32, i64)> {
        c.entries()
            .iter()
            .map(|e| (e.epoch, e.start_offset))
            .collect()
    }

    #[test]
    fn assign_keeps_one_linear_history_and_persists() {
        let (dir, mut c) = cache(&[(0, 0), (0, 5), (2, 10), (3, 20)]);
        assert_eq!(pairs(&c), vec![(0, 0), (2, 10), (3, 20)]);
        // A new epoch starting inside epoch 2 replaces what follows.
        c.assign(4, 15).unwrap();
        assert_eq!(pairs(&c), vec![(0, 0), (2, 10), (4, 15)]);
        let text = std::fs::read_to_string(dir.path().join("leader-epoch-checkpoint")).unwrap();
        assert_eq!(text, "0\n3\n0 0\n2 10\n4 15\n");
        let reloaded = LeaderEpochCache::load(dir.path()).unwrap();
        assert_eq!(pairs(&reloaded), pairs(&c));
    }

    #[test]
    fn end_offsets_follow_kafka() {
        let (_d, c) = cache(&[(1, 0), (3, 10), (5, 25)]);
        assert_eq!(c.end_offset_for(5, 40), (5, 40));
        assert_eq!(c.end_offset_for(3, 40), (3, 25));
        assert_eq!(c.end_offset_for(4, 40), (3, 25));
        assert_eq!(c.end_offset_for(2, 40), (1, 10));
        assert_eq!(c.end_offset_for(0, 40), (0, 0));
        assert_eq!(c.end_offset_for(6, 40), (-1, -1));
        assert_eq!(c.end_offset_for(-1, 40), (-1, -1));
        let (_d, empty) = cache(&[]);
        assert_eq!(empty.end_offset_for(0, 7), (-1, -1));
    }

    #[test]
    fn truncation_from_both_ends() {
        let (_d, mut c) = cache(&[(1, 0), (3, 10), (5, 25)]);
        c.truncate_from_end(25).unwrap();
        assert_eq!(pairs(&c), vec![(1, 0), (3, 10)]);
        c.truncate_from_start(12).unwrap();
        assert_eq!(pairs(&c), vec![(3, 12)]);
        c.truncate_from_start(5).unwrap();
        assert_eq!(pairs(&c), vec![(3, 12)]);
        c.clear().unwrap();
        assert!(c.entries().is_empty());
    }
}
