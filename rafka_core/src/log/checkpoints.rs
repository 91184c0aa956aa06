//! Text checkpoint files of a log dir and of a partition dir (Kafka's `CheckpointFile`,
//! `OffsetCheckpointFile`, `LeaderEpochCheckpointFile`, `PartitionMetadataFile`; spec
//! log-format.md §5–6).
//!
//! Offset checkpoints (`recovery-point-offset-checkpoint`, `replication-offset-checkpoint`,
//! `log-start-offset-checkpoint`, `cleaner-offset-checkpoint`):
//! ```text
//! 0
//! 2
//! orders 0 1500
//! orders 1 1220
//! ```
//! `leader-epoch-checkpoint` has the same frame with `<epoch> <startOffset>` lines;
//! `partition.metadata` is `version: 0\ntopic_id: <base64url uuid>`.
//!
//! Every write is atomic: `<file>.tmp` is written and fsynced, renamed over the file, and the
//! directory is fsynced. Reading a missing (or empty) file gives no entries; malformed content
//! is an error naming the file and the line.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use uuid::Uuid;

use crate::cluster::TopicPartition;
use crate::zk::zk_data::{decode_topic_id, encode_topic_id};

pub const RECOVERY_POINT_CHECKPOINT_FILE: &str = "recovery-point-offset-checkpoint";
pub const REPLICATION_OFFSET_CHECKPOINT_FILE: &str = "replication-offset-checkpoint";
pub const LOG_START_OFFSET_CHECKPOINT_FILE: &str = "log-start-offset-checkpoint";
pub const CLEANER_OFFSET_CHECKPOINT_FILE: &str = "cleaner-offset-checkpoint";
pub const LEADER_EPOCH_CHECKPOINT_FILE: &str = "leader-epoch-checkpoint";
pub const PARTITION_METADATA_FILE: &str = "partition.metadata";

/// The only version of the text checkpoint formats.
pub const CHECKPOINT_VERSION: i32 = 0;

/// A checkpoint file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("checkpoint file {}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("malformed line {line_no} in checkpoint file {}: '{line}'", path.display())]
    Malformed {
        path: PathBuf,
        /// 1-based line number.
        line_no: usize,
        line: String,
    },
    #[error("unrecognized version {version} of checkpoint file {} (expected {expected})", path.display())]
    UnknownVersion {
        path: PathBuf,
        version: i32,
        expected: i32,
    },
    #[error("expected {expected} entries in checkpoint file {}, but found {found}", path.display())]
    WrongCount {
        path: PathBuf,
        expected: usize,
        found: usize,
    },
}

impl CheckpointError {
    /// The file the error is about.
    pub fn path(&self) -> &Path {
        match self {
            CheckpointError::Io { path, .. }
            | CheckpointError::Malformed { path, .. }
            | CheckpointError::UnknownVersion { path, .. }
            | CheckpointError::WrongCount { path, .. } => path,
        }
    }
}

/// Writes `contents` to `path` atomically: `<path>.tmp`, fsync, rename, fsync of the dir.
pub fn atomic_write(path: &Path, contents: &[u8]) -> Result<(), CheckpointError> {
    let io_err = |source| CheckpointError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut tmp_name = path.as_os_str().to_os_string();
    tmp_name.push(".tmp");
    let tmp = PathBuf::from(tmp_name);
    {
        let mut f = File::create(&tmp).map_err(io_err)?;
        f.write_all(contents).map_err(io_err)?;
        f.sync_all().map_err(io_err)?;
    }
    fs::rename(&tmp, path).map_err(io_err)?;
    if let Some(dir) = path.parent() {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        File::open(dir).and_then(|d| d.sync_all()).map_err(io_err)?;
    }
    Ok(())
}

/// Reads a file, `None` if it does not exist.
fn read_optional(path: &Path) -> Result<Option<String>, CheckpointError> {
    match fs::read(path) {
        Ok(bytes) => String::from_utf8(bytes)
            .map(Some)
            .map_err(|e| CheckpointError::Io {
                path: path.to_path_buf(),
                source: io::Error::new(io::ErrorKind::InvalidData, e),
            }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(CheckpointError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Formats the common frame: version line, count line, one line per entry (`\n` endings).
fn format_frame<I: ExactSizeIterator<Item = String>>(lines: I) -> String {
    let mut out = format!("{CHECKPOINT_VERSION}\n{}\n", lines.len());
    for line in lines {
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// Parses the common frame as Kafka's `CheckpointFile.read` does: an empty file (or one with
/// only a version line) holds no entries; the version must be 0; the number of entry lines
/// must equal the count line.
fn parse_frame<T>(
    path: &Path,
    text: &str,
    parse_line: impl Fn(&str) -> Option<T>,
) -> Result<Vec<T>, CheckpointError> {
    let malformed = |line_no: usize, line: &str| CheckpointError::Malformed {
        path: path.to_path_buf(),
        line_no,
        line: line.to_string(),
    };
    let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l));
    let Some((n, version_line)) = lines.next() else {
        return Ok(Vec::new());
    };
    let version: i32 = version_line
        .trim()
        .parse()
        .map_err(|_| malformed(n, version_line))?;
    if version != CHECKPOINT_VERSION {
        return Err(CheckpointError::UnknownVersion {
            path: path.to_path_buf(),
            version,
            expected: CHECKPOINT_VERSION,
        });
    }
    let Some((n, count_line)) = lines.next() else {
        return Ok(Vec::new());
    };
    let expected: usize = count_line
        .trim()
        .parse()
        .map_err(|_| malformed(n, count_line))?;
    let mut entries = Vec::with_capacity(expected.min(1 << 16));
    for (n, line) in lines {
        entries.push(parse_line(line).ok_or_else(|| malformed(n, line))?);
    }
    if entries.len() != expected {
        return Err(CheckpointError::WrongCount {
            path: path.to_path_buf(),
            expected,
            found: entries.len(),
        });
    }
    Ok(entries)
}

/// Formats offset-checkpoint content; entries are written in `TopicPartition` order.
pub fn format_offsets(offsets: &BTreeMap<TopicPartition, i64>) -> String {
    format_frame(
        offsets
            .iter()
            .map(|(tp, offset)| format!("{} {} {offset}", tp.topic, tp.partition)),
    )
}

/// Parses offset-checkpoint content (`path` only names the file in errors).
pub fn parse_offsets(
    path: &Path,
    text: &str,
) -> Result<BTreeMap<TopicPartition, i64>, CheckpointError> {
    let entries = parse_frame(path, text, |line| {
        let mut parts = line.split_ascii_whitespace();
        let (topic, partition, offset) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        Some((
            TopicPartition::new(topic, partition.parse().ok()?),
            offset.parse::<i64>().ok()?,
        ))
    })?;
    Ok(entries.into_iter().collect())
}

/// A `topic partition offset` checkpoint in a log dir (Kafka's `OffsetCheckpointFile`).
#[derive(Clone, Debug)]
pub struct OffsetCheckpointFile {
    path: PathBuf,
}

impl OffsetCheckpointFile {
    pub fn new(path: impl Into<PathBuf>) -> OffsetCheckpointFile {
        OffsetCheckpointFile { path: path.into() }
    }

    /// `<log_dir>/recovery-point-offset-checkpoint`.
    pub fn recovery_point(log_dir: &Path) -> OffsetCheckpointFile {
        Self::new(log_dir.join(RECOVERY_POINT_CHECKPOINT_FILE))
    }

    /// `<log_dir>/replication-offset-checkpoint` (high watermarks).
    pub fn replication_offset(log_dir: &Path) -> OffsetCheckpointFile {
        Self::new(log_dir.join(REPLICATION_OFFSET_CHECKPOINT_FILE))
    }

    /// `<log_dir>/log-start-offset-checkpoint`.
    pub fn log_start_offset(log_dir: &Path) -> OffsetCheckpointFile {
        Self::new(log_dir.join(LOG_START_OFFSET_CHECKPOINT_FILE))
    }

    /// `<log_dir>/cleaner-offset-checkpoint`.
    pub fn cleaner_offset(log_dir: &Path) -> OffsetCheckpointFile {
        Self::new(log_dir.join(CLEANER_OFFSET_CHECKPOINT_FILE))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes all entries atomically (replacing the file).
    pub fn write(&self, offsets: &BTreeMap<TopicPartition, i64>) -> Result<(), CheckpointError> {
        atomic_write(&self.path, format_offsets(offsets).as_bytes())
    }

    /// Reads the entries; a missing file has none.
    pub fn read(&self) -> Result<BTreeMap<TopicPartition, i64>, CheckpointError> {
        match read_optional(&self.path)? {
            None => Ok(BTreeMap::new()),
            Some(text) => parse_offsets(&self.path, &text),
        }
    }
}

/// One `leader-epoch-checkpoint` entry: the first offset written in a leader epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EpochEntry {
    pub epoch: i32,
    pub start_offset: i64,
}

/// Formats `leader-epoch-checkpoint` content.
pub fn format_epochs(entries: &[EpochEntry]) -> String {
    format_frame(
        entries
            .iter()
            .map(|e| format!("{} {}", e.epoch, e.start_offset)),
    )
}

/// Parses `leader-epoch-checkpoint` content.
pub fn parse_epochs(path: &Path, text: &str) -> Result<Vec<EpochEntry>, CheckpointError> {
    parse_frame(path, text, |line| {
        let mut parts = line.split_ascii_whitespace();
        let (epoch, start) = (parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        Some(EpochEntry {
            epoch: epoch.parse().ok()?,
            start_offset: start.parse().ok()?,
        })
    })
}

/// A partition's `leader-epoch-checkpoint` (Kafka's `LeaderEpochCheckpointFile`).
#[derive(Clone, Debug)]
pub struct LeaderEpochCheckpointFile {
    path: PathBuf,
}

impl LeaderEpochCheckpointFile {
    pub fn new(path: impl Into<PathBuf>) -> LeaderEpochCheckpointFile {
        LeaderEpochCheckpointFile { path: path.into() }
    }

    /// `<partition_dir>/leader-epoch-checkpoint`.
    pub fn in_dir(partition_dir: &Path) -> LeaderEpochCheckpointFile {
        Self::new(partition_dir.join(LEADER_EPOCH_CHECKPOINT_FILE))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn write(&self, entries: &[EpochEntry]) -> Result<(), CheckpointError> {
        atomic_write(&self.path, format_epochs(entries).as_bytes())
    }

    /// Reads the entries in file order; a missing file has none.
    pub fn read(&self) -> Result<Vec<EpochEntry>, CheckpointError> {
        match read_optional(&self.path)? {
            None => Ok(Vec::new()),
            Some(text) => parse_epochs(&self.path, &text),
        }
    }
}

/// Formats `partition.metadata` content exactly as Kafka 2.8 writes it (no final newline).
pub fn format_partition_metadata(topic_id: &Uuid) -> String {
    format!(
        "version: {CHECKPOINT_VERSION}\ntopic_id: {}",
        encode_topic_id(topic_id)
    )
}

/// Parses `partition.metadata` content (keys separated from values by `:` and whitespace, as
/// Kafka's reader splits them); an empty file has no topic id yet.
pub fn parse_partition_metadata(path: &Path, text: &str) -> Result<Option<Uuid>, CheckpointError> {
    let malformed = |line_no: usize, line: &str| CheckpointError::Malformed {
        path: path.to_path_buf(),
        line_no,
        line: line.to_string(),
    };
    let mut lines = text.lines();
    let Some(version_line) = lines.next() else {
        return Ok(None);
    };
    let version = match version_line.split_once(':') {
        Some(("version", v)) => v
            .trim()
            .parse::<i32>()
            .map_err(|_| malformed(1, version_line))?,
        _ => return Err(malformed(1, version_line)),
    };
    if version != CHECKPOINT_VERSION {
        return Err(CheckpointError::UnknownVersion {
            path: path.to_path_buf(),
            version,
            expected: CHECKPOINT_VERSION,
        });
    }
    let id_line = lines.next().unwrap_or("");
    let id = match id_line.split_once(':') {
        Some(("topic_id", v)) => decode_topic_id(v.trim()).map_err(|_| malformed(2, id_line))?,
        _ => return Err(malformed(2, id_line)),
    };
    if let Some(extra) = lines.find(|l| !l.trim().is_empty()) {
        return Err(malformed(3, extra));
    }
    if id.is_nil() {
        return Err(malformed(2, id_line));
    }
    Ok(Some(id))
}

/// A partition's `partition.metadata` (topic id, Kafka 2.8+).
#[derive(Clone, Debug)]
pub struct PartitionMetadataFile {
    path: PathBuf,
}

impl PartitionMetadataFile {
    pub fn new(path: impl Into<PathBuf>) -> PartitionMetadataFile {
        PartitionMetadataFile { path: path.into() }
    }

    /// `<partition_dir>/partition.metadata`.
    pub fn in_dir(partition_dir: &Path) -> PartitionMetadataFile {
        Self::new(partition_dir.join(PARTITION_METADATA_FILE))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn write(&self, topic_id: &Uuid) -> Result<(), CheckpointError> {
        atomic_write(&self.path, format_partition_metadata(topic_id).as_bytes())
    }

    /// The stored topic id; `None` if the file is missing or empty.
    pub fn read(&self) -> Result<Option<Uuid>, CheckpointError> {
        match read_optional(&self.path)? {
            None => Ok(None),
            Some(text) => parse_partition_metadata(&self.path, &text),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tp(topic: &str, partition: i32) -> TopicPartition {
        TopicPartition::new(topic, partition)
    }

    /// The example of spec log-format.md §6 (our writer orders entries by topic-partition).
    const SPEC_EXAMPLE: &str = "0\n3\n__consumer_offsets 7 88\norders 0 1500\norders 1 1220\n";

    fn spec_offsets() -> BTreeMap<TopicPartition, i64> {
        BTreeMap::from([
            (tp("orders", 0), 1500),
            (tp("orders", 1), 1220),
            (tp("__consumer_offsets", 7), 88),
        ])
    }

    #[test]
    fn offsets_are_written_byte_exact() {
        assert_eq!(format_offsets(&spec_offsets()), SPEC_EXAMPLE);
        assert_eq!(format_offsets(&BTreeMap::new()), "0\n0\n");
    }

    #[test]
    fn spec_example_parses_in_its_own_order() {
        let text = "0\n3\norders 0 1500\norders 1 1220\n__consumer_offsets 7 88\n";
        assert_eq!(parse_offsets(Path::new("x"), text).unwrap(), spec_offsets());
    }

    #[test]
    fn offsets_round_trip_through_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let f = OffsetCheckpointFile::recovery_point(dir.path());
        assert_eq!(
            f.path(),
            dir.path().join("recovery-point-offset-checkpoint")
        );
        assert!(f.read().unwrap().is_empty(), "missing file reads as empty");
        assert!(!f.path().exists(), "reading does not create the file");
        f.write(&spec_offsets()).unwrap();
        assert_eq!(fs::read_to_string(f.path()).unwrap(), SPEC_EXAMPLE);
        assert_eq!(f.read().unwrap(), spec_offsets());
        assert!(!dir
            .path()
            .join("recovery-point-offset-checkpoint.tmp")
            .exists());
        // Overwrite with fewer entries.
        let one = BTreeMap::from([(tp("my-topic-with-dashes", 12), -1)]);
        f.write(&one).unwrap();
        assert_eq!(
            fs::read_to_string(f.path()).unwrap(),
            "0\n1\nmy-topic-with-dashes 12 -1\n"
        );
        assert_eq!(f.read().unwrap(), one);
    }

    #[test]
    fn empty_or_truncated_files_read_as_empty() {
        let p = Path::new("cp");
        assert!(parse_offsets(p, "").unwrap().is_empty());
        assert!(parse_offsets(p, "0\n").unwrap().is_empty());
        assert!(parse_offsets(p, "0\n0\n").unwrap().is_empty());
        // Without a final newline.
        assert_eq!(
            parse_offsets(p, "0\n1\nt 0 5").unwrap(),
            BTreeMap::from([(tp("t", 0), 5)])
        );
    }

    #[test]
    fn malformed_offsets_name_the_file_and_line() {
        let p = Path::new("/data/recovery-point-offset-checkpoint");
        let err = parse_offsets(p, "0\n2\nt 0 5\nt x 7\n").unwrap_err();
        match &err {
            CheckpointError::Malformed { line_no, line, .. } => {
                assert_eq!(*line_no, 4);
                assert_eq!(line, "t x 7");
            }
            other => panic!("unexpected {other:?}"),
        }
        let msg = err.to_string();
        assert!(
            msg.contains("/data/recovery-point-offset-checkpoint"),
            "{msg}"
        );
        assert!(msg.contains("line 4"), "{msg}");
        assert_eq!(err.path(), p);

        for bad in [
            "x\n",
            "0\nmany\n",
            "0\n1\nt 0\n",
            "0\n1\nt 0 5 6\n",
            "0\n1\nt 0 5x\n",
            "0\n1\n\n",
        ] {
            assert!(
                matches!(
                    parse_offsets(p, bad),
                    Err(CheckpointError::Malformed { .. })
                ),
                "{bad:?}"
            );
        }
        assert!(matches!(
            parse_offsets(p, "1\n0\n"),
            Err(CheckpointError::UnknownVersion { version: 1, .. })
        ));
        assert!(matches!(
            parse_offsets(p, "0\n2\nt 0 5\n"),
            Err(CheckpointError::WrongCount {
                expected: 2,
                found: 1,
                ..
            })
        ));
        assert!(matches!(
            parse_offsets(p, "0\n0\nt 0 5\n"),
            Err(CheckpointError::WrongCount { .. })
        ));
    }

    #[test]
    fn malformed_file_error_names_the_real_path() {
        let dir = tempfile::tempdir().unwrap();
        let f = OffsetCheckpointFile::log_start_offset(dir.path());
        fs::write(f.path(), "0\n1\ngarbage\n").unwrap();
        let msg = f.read().unwrap_err().to_string();
        assert!(
            msg.contains(&f.path().display().to_string()) && msg.contains("line 3"),
            "{msg}"
        );
    }

    #[test]
    fn file_names_match_kafka() {
        let d = Path::new("/d");
        assert_eq!(
            OffsetCheckpointFile::replication_offset(d).path(),
            Path::new("/d/replication-offset-checkpoint")
        );
        assert_eq!(
            OffsetCheckpointFile::log_start_offset(d).path(),
            Path::new("/d/log-start-offset-checkpoint")
        );
        assert_eq!(
            OffsetCheckpointFile::cleaner_offset(d).path(),
            Path::new("/d/cleaner-offset-checkpoint")
        );
        assert_eq!(
            LeaderEpochCheckpointFile::in_dir(d).path(),
            Path::new("/d/leader-epoch-checkpoint")
        );
        assert_eq!(
            PartitionMetadataFile::in_dir(d).path(),
            Path::new("/d/partition.metadata")
        );
    }

    #[test]
    fn leader_epochs_byte_exact_and_round_trip() {
        let entries = vec![
            EpochEntry {
                epoch: 0,
                start_offset: 0,
            },
            EpochEntry {
                epoch: 3,
                start_offset: 1234,
            },
        ];
        assert_eq!(format_epochs(&entries), "0\n2\n0 0\n3 1234\n");
        let dir = tempfile::tempdir().unwrap();
        let f = LeaderEpochCheckpointFile::in_dir(dir.path());
        assert!(f.read().unwrap().is_empty());
        f.write(&entries).unwrap();
        assert_eq!(fs::read_to_string(f.path()).unwrap(), "0\n2\n0 0\n3 1234\n");
        assert_eq!(f.read().unwrap(), entries);
        f.write(&[]).unwrap();
        assert_eq!(fs::read_to_string(f.path()).unwrap(), "0\n0\n");
        assert!(f.read().unwrap().is_empty());
    }

    #[test]
    fn malformed_leader_epochs() {
        let p = Path::new("leader-epoch-checkpoint");
        for bad in ["0\n1\n3\n", "0\n1\n3 4 5\n", "0\n1\nx 4\n"] {
            assert!(
                matches!(
                    parse_epochs(p, bad),
                    Err(CheckpointError::Malformed { line_no: 3, .. })
                ),
                "{bad:?}"
            );
        }
        assert!(matches!(
            parse_epochs(p, "0\n2\n1 0\n"),
            Err(CheckpointError::WrongCount { .. })
        ));
        assert!(matches!(
            parse_epochs(p, "2\n0\n"),
            Err(CheckpointError::UnknownVersion { .. })
        ));
    }

    #[test]
    fn partition_metadata_byte_exact_and_round_trip() {
        let id = Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
        let text = format_partition_metadata(&id);
        assert_eq!(text, "version: 0\ntopic_id: ASNFZ4mrze8BI0VniavN7w");
        assert_eq!(
            parse_partition_metadata(Path::new("p"), &text).unwrap(),
            Some(id)
        );
        // Tolerates a final newline.
        assert_eq!(
            parse_partition_metadata(Path::new("p"), &format!("{text}\n")).unwrap(),
            Some(id)
        );
        let dir = tempfile::tempdir().unwrap();
        let f = PartitionMetadataFile::in_dir(dir.path());
        assert_eq!(f.read().unwrap(), None);
        fs::write(f.path(), "").unwrap();
        assert_eq!(f.read().unwrap(), None);
        let random = Uuid::new_v4();
        f.write(&random).unwrap();
        assert_eq!(f.read().unwrap(), Some(random));
    }

    #[test]
    fn malformed_partition_metadata() {
        let p = Path::new("partition.metadata");
        let cases = [
            ("version 0\ntopic_id: ASNFZ4mrze8BI0VniavN7w", 1),
            ("version: x\ntopic_id: ASNFZ4mrze8BI0VniavN7w", 1),
            ("version: 0\n", 2),
            ("version: 0\ntopic_id: not-a-uuid", 2),
            ("version: 0\ntopicid: ASNFZ4mrze8BI0VniavN7w", 2),
            ("version: 0\ntopic_id: AAAAAAAAAAAAAAAAAAAAAA", 2),
            ("version: 0\ntopic_id: ASNFZ4mrze8BI0VniavN7w\nmore", 3),
        ];
        for (bad, line) in cases {
            match parse_partition_metadata(p, bad) {
                Err(CheckpointError::Malformed { line_no, .. }) => {
                    assert_eq!(line_no, line, "{bad:?}")
                }
                other => panic!("{bad:?}: {other:?}"),
            }
        }
        assert!(matches!(
            parse_partition_metadata(p, "version: 1\ntopic_id: ASNFZ4mrze8BI0VniavN7w"),
            Err(CheckpointError::UnknownVersion { version: 1, .. })
        ));
    }
}
