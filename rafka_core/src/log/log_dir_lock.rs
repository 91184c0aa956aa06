//! The exclusive `.lock` of a log dir (Kafka's `FileLock` on `<log.dir>/.lock`): held for as
//! long as a broker uses the dir, so a second broker (another process, or another
//! `LogManager` in this one) on the same dir fails at startup instead of corrupting it.

use std::fs::{File, OpenOptions, TryLockError};
use std::io;
use std::path::{Path, PathBuf};

/// The lock file's name inside a log dir.
pub const LOCK_FILE: &str = ".lock";

/// The `.lock` of a log dir could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LogDirLockError {
    #[error(
        "failed to acquire lock on file .lock in {}: a Kafka (or Rafka) instance in another \
         process or thread is using this directory",
        dir.display()
    )]
    InUse { dir: PathBuf },
    #[error("cannot lock {}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
}

/// An exclusive advisory lock (`flock`) on `<dir>/.lock`. Released when dropped (or the
/// process dies); the file itself stays, as Kafka leaves it.
#[derive(Debug)]
pub struct LogDirLock {
    dir: PathBuf,
    file: File,
}

impl LogDirLock {
    /// Creates `<dir>/.lock` if missing and takes the lock without waiting.
    // `File::try_lock` (Rust 1.89, the workspace MSRV) takes an advisory `flock`. Kafka's
    // `FileChannel.tryLock` takes an fcntl lock, which Linux keeps separate from `flock`, so
    // this guards against a second Rafka, not against a Kafka broker on the same dir.
    pub fn try_acquire(dir: &Path) -> Result<LogDirLock, LogDirLockError> {
        let path = dir.join(LOCK_FILE);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|source| LogDirLockError::Io {
                path: path.clone(),
                source,
            })?;
        match file.try_lock() {
            Ok(()) => Ok(LogDirLock {
                dir: dir.to_path_buf(),
                file,
            }),
            Err(TryLockError::WouldBlock) => Err(LogDirLockError::InUse {
                dir: dir.to_path_buf(),
            }),
            Err(TryLockError::Error(source)) => Err(LogDirLockError::Io { path, source }),
        }
    }

    /// The locked log dir.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Releases the lock (dropping does the same).
    pub fn release(self) {
        let _ = self.file.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_on_the_same_dir_fails_until_released() {
        let dir = tempfile::tempdir().unwrap();
        let first = LogDirLock::try_acquire(dir.path()).unwrap();
        assert!(dir.path().join(".lock").is_file());
        let err = LogDirLock::try_acquire(dir.path()).unwrap_err();
        assert!(matches!(err, LogDirLockError::InUse { .. }));
        let msg = err.to_string();
        assert!(msg.contains(&dir.path().display().to_string()), "{msg}");
        first.release();
        let again = LogDirLock::try_acquire(dir.path()).unwrap();
        assert_eq!(again.dir(), dir.path());
        drop(again);
        LogDirLock::try_acquire(dir.path()).unwrap();
    }
}
