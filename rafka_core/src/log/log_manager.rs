//! `LogManager`: every partition log of this broker's log dirs (Kafka's `kafka.log.LogManager`;
//! spec log-format.md §1, §6, §8, §9 and startup-and-controller.md §1 step 9, §2).
//!
//! [`LogManager::startup`] locks each log dir (`.lock`), consumes its clean-shutdown marker,
//! reads its checkpoints and loads every `<topic>-<partition>` dir (recovering after an unclean
//! stop), several partitions at a time per dir. It then spawns the manager **task**, which owns
//! creation/deletion of logs, the background jobs (retention, physical deletion of `.deleted`
//! files and `-delete` dirs, flushing, recovery-point and log-start-offset checkpoints), live
//! config changes, and the clean shutdown.
//!
//! Callers use the cloneable [`LogManagerHandle`]. Lifecycle operations are messages to the
//! task (answered on a `oneshot`); the hot path does not go through the task:
//! [`LogManagerHandle::get_log`] returns the partition's `Arc<Mutex<Log>>` from a shared map,
//! and appends/reads lock that mutex directly (from blocking code: `Log` does file I/O).
//!
//! All file work runs on `spawn_blocking`, never on the task itself. Never await the handle
//! while holding a `Log` lock (the task may be waiting for that lock).

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinSet;
use tokio::time::{Instant, MissedTickBehavior};
use tracing::{debug, error, info, warn};
use uuid::Uuid;

use super::checkpoints::{CheckpointError, OffsetCheckpointFile, PartitionMetadataFile};
use super::error::LogError;
use super::log::{LoadOptions, Log, PendingDeletion};
use super::log_cleaner::{CleanerConfig, LogCleaner};
use super::log_dir_lock::{LogDirLock, LogDirLockError};
use crate::cluster::TopicPartition;
use crate::config::{ConfigError, KafkaConfig, LogConfig};

/// Present in a log dir only after a clean shutdown; deleted before loading.
pub const CLEAN_SHUTDOWN_FILE: &str = ".kafka_cleanshutdown";
/// Suffix of a partition dir scheduled for asynchronous deletion.
pub const DELETE_DIR_SUFFIX: &str = "-delete";
/// Suffix of a partition dir being moved between log dirs (not supported yet).
pub const FUTURE_DIR_SUFFIX: &str = "-future";
/// Kafka's `InitialTaskDelayMs`: the first run of every background job.
pub const DEFAULT_INITIAL_TASK_DELAY: Duration = Duration::from_secs(30);
/// Periods at least this long mean "never" (Kafka's `Long.MAX_VALUE` defaults).
const NEVER: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// Topic → overrides, as Majordomo publishes them.
pub type TopicOverrides = BTreeMap<String, BTreeMap<String, String>>;
/// A partition's log, shared between the manager and the request path.
pub type SharedLog = Arc<Mutex<Log>>;

/// Locks a partition log, ignoring poisoning (a panic in another holder does not make the log
/// state less valid than an I/O error would; the `Log` itself reports closed/failed state).
pub fn lock_log(log: &Mutex<Log>) -> MutexGuard<'_, Log> {
    log.lock().unwrap_or_else(|e| e.into_inner())
}

/// Why a log-manager operation failed.
#[derive(Debug, thiserror::Error)]
pub enum LogManagerError {
    #[error(transparent)]
    Lock(#[from] LogDirLockError),
    #[error("log dir {}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("duplicate log directory found: {}", .0.display())]
    DuplicateLogDir(PathBuf),
    #[error("duplicate log directories found for {tp}: {} and {}", first.display(), second.display())]
    DuplicateLog {
        tp: TopicPartition,
        first: PathBuf,
        second: PathBuf,
    },
    #[error("no log dirs configured (log.dirs / log.dir)")]
    NoLogDirs,
    #[error("no log directory available for {tp}; tried {tried}")]
    NoLogDirAvailable { tp: TopicPartition, tried: String },
    #[error("log {tp}: {source}")]
    Log {
        tp: TopicPartition,
        source: LogError,
    },
    #[error("log {tp}: {source}")]
    Checkpoint {
        tp: TopicPartition,
        source: CheckpointError,
    },
    #[error("config of topic {topic}: {source}")]
    Config { topic: String, source: ConfigError },
    #[error("partition {0} failed to load at startup and is offline")]
    OfflinePartition(TopicPartition),
    #[error("partition {tp} has topic id {stored} on disk but {requested} was requested")]
    InconsistentTopicId {
        tp: TopicPartition,
        stored: String,
        requested: String,
    },
    /// Shutdown finished with errors (the affected dirs got no clean-shutdown marker).
    #[error("log manager shutdown: {0}")]
    Shutdown(String),
    /// A log-manager worker panicked.
    #[error("log manager task: {0}")]
    Task(String),
    #[error("the log manager has stopped")]
    Stopped,
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> LogManagerError + '_ {
    move |source| LogManagerError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Tunables that Kafka hard-codes (made adjustable for tests).
#[derive(Clone, Debug)]
pub struct LogManagerOptions {
    /// Delay before the first run of each background job (Kafka: 30 s).
    pub initial_task_delay: Duration,
}

impl Default for LogManagerOptions {
    fn default() -> Self {
        LogManagerOptions {
            initial_task_delay: DEFAULT_INITIAL_TASK_DELAY,
        }
    }
}

/// Wall-clock milliseconds since the epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// One loaded partition.
struct Slot {
    log: SharedLog,
    /// The data dir (an entry of `log.dirs`) holding the partition dir.
    data_dir: PathBuf,
    topic_id: Mutex<Option<Uuid>>,
}

impl Slot {
    fn partition_dir(&self, tp: &TopicPartition) -> PathBuf {
        self.data_dir.join(tp.dir_name())
    }
}

/// State shared by the task and every handle.
struct Shared {
    logs: RwLock<BTreeMap<TopicPartition, Arc<Slot>>>,
    /// Partitions whose load failed at startup, with their data dir.
    offline: RwLock<BTreeMap<TopicPartition, PathBuf>>,
    data_dirs: Vec<PathBuf>,
    /// Serializes checkpoint writes per data dir (periodic jobs vs. deletion vs. shutdown).
    checkpoint_locks: HashMap<PathBuf, Mutex<()>>,
    threads_per_dir: usize,
}

impl Shared {
    fn read_logs(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<TopicPartition, Arc<Slot>>> {
        self.logs.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write_logs(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<TopicPartition, Arc<Slot>>> {
        self.logs.write().unwrap_or_else(|e| e.into_inner())
    }

    fn slots_in(&self, data_dir: &Path) -> Vec<(TopicPartition, Arc<Slot>)> {
        self.read_logs()
            .iter()
            .filter(|(_, s)| s.data_dir == data_dir)
            .map(|(tp, s)| (tp.clone(), s.clone()))
            .collect()
    }

    /// Rewrites `recovery-point-offset-checkpoint` of one data dir from the live logs.
    fn checkpoint_recovery_points(&self, data_dir: &Path) -> Result<(), CheckpointError> {
        let _guard = self.checkpoint_lock(data_dir);
        let offsets = self
            .slots_in(data_dir)
            .into_iter()
            .map(|(tp, s)| {
                let rp = lock_log(&s.log).recovery_point();
                (tp, rp)
            })
            .collect();
        OffsetCheckpointFile::recovery_point(data_dir).write(&offsets)?;
        // Producer snapshots below what recovery could need go now (Kafka's
        // deleteSnapshotsAfterRecoveryPointCheckpoint).
        for (tp, slot) in self.slots_in(data_dir) {
            let mut log = lock_log(&slot.log);
            if log.is_closed() {
                continue;
            }
            if let Err(e) = log.delete_snapshots_after_recovery_point_checkpoint() {
                warn!(partition = %tp, error = %e, "could not delete old producer snapshots");
            }
        }
        Ok(())
    }

    /// Rewrites `replication-offset-checkpoint` (high watermarks) of one data dir.
    fn checkpoint_high_watermarks(&self, data_dir: &Path) -> Result<(), CheckpointError> {
        let _guard = self.checkpoint_lock(data_dir);
        let offsets = self
            .slots_in(data_dir)
            .into_iter()
            .map(|(tp, s)| {
                let hw = lock_log(&s.log).high_watermark();
                (tp, hw)
            })
            .collect();
        OffsetCheckpointFile::replication_offset(data_dir).write(&offsets)
    }

    /// Rewrites `log-start-offset-checkpoint` of one data dir: only logs whose start offset is
    /// above their first segment's base offset (otherwise loading derives it).
    fn checkpoint_log_start_offsets(&self, data_dir: &Path) -> Result<(), CheckpointError> {
        let _guard = self.checkpoint_lock(data_dir);
        let offsets = self
            .slots_in(data_dir)
            .into_iter()
            .filter_map(|(tp, s)| {
                let log = lock_log(&s.log);
                let start = log.log_start_offset();
                (start > first_segment_base(&log)).then_some((tp, start))
            })
            .collect();
        OffsetCheckpointFile::log_start_offset(data_dir).write(&offsets)
    }

    fn checkpoint_lock(&self, data_dir: &Path) -> Option<MutexGuard<'_, ()>> {
        self.checkpoint_locks
            .get(data_dir)
            .map(|m| m.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// The base offset of the log's first segment.
fn first_segment_base(log: &Log) -> i64 {
    log.segments()
        .next()
        .map_or_else(|| log.log_start_offset(), |s| s.base_offset())
}

/// Messages from handles to the task.
enum Command {
    GetOrCreate {
        tp: TopicPartition,
        topic_id: Option<Uuid>,
        reply: oneshot::Sender<Result<SharedLog, LogManagerError>>,
    },
    Delete {
        tp: TopicPartition,
        reply: oneshot::Sender<Result<bool, LogManagerError>>,
    },
    SubscribeConfigs {
        config: watch::Receiver<Arc<KafkaConfig>>,
        topic_configs: watch::Receiver<Arc<TopicOverrides>>,
        reply: oneshot::Sender<()>,
    },
    Shutdown {
        reply: oneshot::Sender<Result<(), LogManagerError>>,
    },
    Halt {
        reply: oneshot::Sender<()>,
    },
}

/// Cloneable handle to the log manager.
#[derive(Clone)]
pub struct LogManagerHandle {
    tx: mpsc::Sender<Command>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for LogManagerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogManagerHandle")
            .field("log_dirs", &self.shared.data_dirs)
            .finish_non_exhaustive()
    }
}

impl LogManagerHandle {
    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, LogManagerError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(make(reply))
            .await
            .map_err(|_| LogManagerError::Stopped)?;
        rx.await.map_err(|_| LogManagerError::Stopped)
    }

    /// The partition's log, if this broker has it (no task hop).
    pub fn get_log(&self, tp: &TopicPartition) -> Option<SharedLog> {
        self.shared.read_logs().get(tp).map(|s| s.log.clone())
    }

    /// Every live log, in partition order.
    pub fn all_logs(&self) -> Vec<(TopicPartition, SharedLog)> {
        self.shared
            .read_logs()
            .iter()
            .map(|(tp, s)| (tp.clone(), s.log.clone()))
            .collect()
    }

    /// The data dir (entry of `log.dirs`) holding the partition.
    pub fn log_dir_of(&self, tp: &TopicPartition) -> Option<PathBuf> {
        self.shared.read_logs().get(tp).map(|s| s.data_dir.clone())
    }

    /// The partition's topic id as stored in `partition.metadata`, if any.
    pub fn topic_id(&self, tp: &TopicPartition) -> Option<Uuid> {
        self.shared
            .read_logs()
            .get(tp)
            .and_then(|s| *s.topic_id.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// The configured log dirs.
    pub fn log_dirs(&self) -> &[PathBuf] {
        &self.shared.data_dirs
    }

    /// Partitions whose dir failed to load at startup (left on disk, not served).
    pub fn offline_partitions(&self) -> Vec<TopicPartition> {
        self.shared
            .offline
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .cloned()
            .collect()
    }

    /// The partition's log, created empty (in the log dir with the fewest partitions) if this
    /// broker has none. With a topic id, `partition.metadata` is written, or checked against
    /// the stored one.
    pub async fn get_or_create_log(
        &self,
        tp: TopicPartition,
        topic_id: Option<Uuid>,
    ) -> Result<SharedLog, LogManagerError> {
        self.ask(|reply| Command::GetOrCreate {
            tp,
            topic_id,
            reply,
        })
        .await?
    }

    /// Removes the partition: its dir is renamed `<topic>-<partition>.<uuid>-delete` at once
    /// and removed from disk after `log.segment.delete.delay.ms`. `false` if there was no log.
    pub async fn delete_log(&self, tp: TopicPartition) -> Result<bool, LogManagerError> {
        self.ask(|reply| Command::Delete { tp, reply }).await?
    }

    /// Follows the effective broker config and the topic overrides (Majordomo's watches):
    /// every change recomputes the affected logs' `LogConfig` and applies it live. The
    /// receivers' current values are applied at once.
    pub async fn subscribe_configs(
        &self,
        config: watch::Receiver<Arc<KafkaConfig>>,
        topic_configs: watch::Receiver<Arc<TopicOverrides>>,
    ) -> Result<(), LogManagerError> {
        self.ask(|reply| Command::SubscribeConfigs {
            config,
            topic_configs,
            reply,
        })
        .await
    }

    /// Clean shutdown: stops the background jobs, flushes and closes every log, writes both
    /// checkpoints and `.kafka_cleanshutdown` in each dir, releases the dir locks.
    pub async fn shutdown(&self) -> Result<(), LogManagerError> {
        self.ask(|reply| Command::Shutdown { reply }).await?
    }

    /// Stops like a crash (for tests and fatal paths): no flush, no checkpoints, no marker;
    /// the dir locks are released. Logs still referenced elsewhere stay open until dropped.
    pub async fn halt(&self) {
        let _ = self.ask(|reply| Command::Halt { reply }).await;
    }
}

/// A log dir after locking and reading its metadata, before its partitions load.
struct PreparedDir {
    path: PathBuf,
    lock: LogDirLock,
    clean_shutdown: bool,
    recovery_points: BTreeMap<TopicPartition, i64>,
    log_start_offsets: BTreeMap<TopicPartition, i64>,
    high_watermarks: BTreeMap<TopicPartition, i64>,
    partitions: Vec<(TopicPartition, PathBuf)>,
    delete_dirs: Vec<PathBuf>,
}

/// Creates, locks and inspects one log dir (blocking).
fn prepare_dir(path: PathBuf) -> Result<PreparedDir, LogManagerError> {
    if !path.exists() {
        info!(dir = %path.display(), "log directory not found, creating it");
    }
    fs::create_dir_all(&path).map_err(io_err(&path))?;
    if !path.is_dir() {
        return Err(LogManagerError::Io {
            path: path.clone(),
            source: io::Error::other("not a directory"),
        });
    }
    let lock = LogDirLock::try_acquire(&path)?;

    // Consume the marker before loading anything: a crash while loading must count as
    // unclean on the next start.
    let marker = path.join(CLEAN_SHUTDOWN_FILE);
    let clean_shutdown = marker.exists();
    if clean_shutdown {
        fs::remove_file(&marker).map_err(io_err(&marker))?;
        fsync_dir(&path).map_err(io_err(&path))?;
        info!(dir = %path.display(), "found clean shutdown file; skipping recovery");
    } else {
        info!(dir = %path.display(), "no clean shutdown file; logs will be recovered");
    }

    let recovery_points = OffsetCheckpointFile::recovery_point(&path)
        .read()
        .unwrap_or_else(|e| {
            warn!(error = %e, "unreadable recovery-point checkpoint; recovering all logs of the dir from 0");
            BTreeMap::new()
        });
    let log_start_offsets = OffsetCheckpointFile::log_start_offset(&path)
        .read()
        .unwrap_or_else(|e| {
            warn!(error = %e, "unreadable log-start-offset checkpoint; log starts come from the first segments");
            BTreeMap::new()
        });

    let high_watermarks = OffsetCheckpointFile::replication_offset(&path)
        .read()
        .unwrap_or_else(|e| {
            warn!(error = %e, "unreadable replication-offset checkpoint; high watermarks start at the log start");
            BTreeMap::new()
        });

    let mut partitions = Vec::new();
    let mut delete_dirs = Vec::new();
    for entry in fs::read_dir(&path).map_err(io_err(&path))? {
        let entry = entry.map_err(io_err(&path))?;
        if !entry.file_type().map_err(io_err(&entry.path()))?.is_dir() {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(DELETE_DIR_SUFFIX) {
            delete_dirs.push(entry.path());
        } else if name.ends_with(FUTURE_DIR_SUFFIX) {
            warn!(dir = %entry.path().display(), "ignoring a future (log-dir move) directory: moves between log dirs are not supported");
        } else if let Some(tp) = TopicPartition::from_dir_name(&name) {
            partitions.push((tp, entry.path()));
        } else {
            warn!(dir = %entry.path().display(), "ignoring a directory that is not a topic-partition");
        }
    }
    partitions.sort();
    Ok(PreparedDir {
        path,
        lock,
        clean_shutdown,
        recovery_points,
        log_start_offsets,
        high_watermarks,
        partitions,
        delete_dirs,
    })
}

fn fsync_dir(dir: &Path) -> io::Result<()> {
    fs::File::open(dir)?.sync_all()
}

/// Runs `f` over `items` on up to `threads` blocking workers; results in completion order.
async fn run_blocking_pool<T, R, F>(items: Vec<T>, threads: usize, f: F) -> Vec<R>
where
    T: Send + 'static,
    R: Send + 'static,
    F: Fn(T) -> R + Send + Sync + 'static,
{
    if items.is_empty() {
        return Vec::new();
    }
    let workers = threads.clamp(1, items.len());
    let queue = Arc::new(Mutex::new(VecDeque::from(items)));
    let f = Arc::new(f);
    let mut set = JoinSet::new();
    for _ in 0..workers {
        let queue = queue.clone();
        let f = f.clone();
        set.spawn_blocking(move || {
            let mut out = Vec::new();
            loop {
                let next = queue.lock().unwrap_or_else(|e| e.into_inner()).pop_front();
                match next {
                    Some(item) => out.push(f(item)),
                    None => break out,
                }
            }
        });
    }
    let mut results = Vec::new();
    while let Some(r) = set.join_next().await {
        match r {
            Ok(mut part) => results.append(&mut part),
            Err(e) => error!(error = %e, "a log-manager worker panicked"),
        }
    }
    results
}

/// The topic's `LogConfig` from the broker config and its overrides; invalid overrides fall
/// back to the broker's values (with a warning) so the log still loads.
fn compute_log_config(
    broker: &KafkaConfig,
    overrides: &TopicOverrides,
    topic: &str,
) -> Arc<LogConfig> {
    let empty = BTreeMap::new();
    let o = overrides.get(topic).unwrap_or(&empty);
    match LogConfig::from_broker_and_overrides(broker, o) {
        Ok(c) => Arc::new(c),
        Err(e) => {
            warn!(topic, error = %e, "invalid topic config overrides; using the broker's values");
            Arc::new(
                LogConfig::from_broker_and_overrides(broker, &empty)
                    .expect("the broker's own log settings form a valid LogConfig"),
            )
        }
    }
}

/// Per-topic config cache of the task.
struct Configs {
    broker: Arc<KafkaConfig>,
    overrides: Arc<TopicOverrides>,
    by_topic: HashMap<String, Arc<LogConfig>>,
}

impl Configs {
    fn get(&mut self, topic: &str) -> Arc<LogConfig> {
        if let Some(c) = self.by_topic.get(topic) {
            return c.clone();
        }
        let c = compute_log_config(&self.broker, &self.overrides, topic);
        self.by_topic.insert(topic.to_string(), c.clone());
        c
    }
}

/// Entry point: see the module doc.
pub struct LogManager {
    rx: mpsc::Receiver<Command>,
    shared: Arc<Shared>,
    locks: Vec<LogDirLock>,
    configs: Configs,
    config_rx: Option<watch::Receiver<Arc<KafkaConfig>>>,
    topic_configs_rx: Option<watch::Receiver<Arc<TopicOverrides>>>,
    options: LogManagerOptions,
    /// Segment files, partition logs and dirs awaiting physical deletion.
    pending_deletes: Vec<PendingDelete>,
    jobs: JoinSet<JobOutcome>,
    running: BTreeSet<Job>,
    /// The log cleaner (compaction), when `log.cleaner.enable`.
    cleaner: Option<Arc<LogCleaner>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Job {
    Retention,
    Flush,
    RecoveryPointCheckpoint,
    LogStartCheckpoint,
    HighWatermarkCheckpoint,
    PhysicalDelete,
}

enum JobOutcome {
    Done(Job),
    /// Retention removed segments whose `.deleted` files go after their delay.
    Retention(Vec<PendingDeletion>),
}

/// Something to remove from disk once `due`.
struct PendingDelete {
    due: Instant,
    target: DeleteTarget,
}

enum DeleteTarget {
    /// `.deleted` files of removed segments.
    Files(Vec<PathBuf>),
    /// A deleted partition's log (its dir already renamed `…-delete`).
    Log(SharedLog),
    /// A `-delete` dir left by an earlier run.
    Dir(PathBuf),
}

impl LogManager {
    /// Starts with Kafka's defaults (first background run after 30 s).
    pub async fn startup(
        config: Arc<KafkaConfig>,
        topic_configs: Arc<TopicOverrides>,
        now_ms: i64,
    ) -> Result<LogManagerHandle, LogManagerError> {
        Self::startup_with(config, topic_configs, now_ms, LogManagerOptions::default()).await
    }

    /// Locks and loads every log dir, then spawns the manager task.
    pub async fn startup_with(
        config: Arc<KafkaConfig>,
        topic_configs: Arc<TopicOverrides>,
        now_ms: i64,
        options: LogManagerOptions,
    ) -> Result<LogManagerHandle, LogManagerError> {
        let started = std::time::Instant::now();
        let data_dirs = config.log_dirs();
        if data_dirs.is_empty() {
            return Err(LogManagerError::NoLogDirs);
        }
        let mut seen = BTreeSet::new();
        for d in &data_dirs {
            let canonical = fs::canonicalize(d).unwrap_or_else(|_| d.clone());
            if !seen.insert(canonical) {
                return Err(LogManagerError::DuplicateLogDir(d.clone()));
            }
        }
        let threads = usize::try_from(config.num_recovery_threads_per_data_dir())
            .unwrap_or(1)
            .max(1);

        // Prepare every dir concurrently; any failure (e.g. a dir locked by another broker)
        // is fatal, and the locks taken so far are released by dropping them.
        let mut handles = Vec::new();
        for d in &data_dirs {
            let d = d.clone();
            handles.push(tokio::task::spawn_blocking(move || prepare_dir(d)));
        }
        let mut prepared = Vec::new();
        let mut first_err = None;
        for h in handles {
            match h.await {
                Ok(Ok(p)) => prepared.push(p),
                Ok(Err(e)) => {
                    first_err.get_or_insert(e);
                }
                Err(e) => {
                    first_err.get_or_insert(LogManagerError::Task(format!(
                        "log dir preparation panicked: {e}"
                    )));
                }
            }
        }
        if let Some(e) = first_err {
            return Err(e);
        }

        let mut configs = Configs {
            broker: config.clone(),
            overrides: topic_configs,
            by_topic: HashMap::new(),
        };

        // Load the partitions of all dirs at once, `threads` at a time per dir.
        let mut loads = Vec::new();
        let mut locks = Vec::new();
        let mut delete_dirs = Vec::new();
        for dir in prepared {
            let jobs: Vec<LoadJob> = dir
                .partitions
                .iter()
                .map(|(tp, path)| LoadJob {
                    tp: tp.clone(),
                    path: path.clone(),
                    config: configs.get(&tp.topic),
                    high_watermark: dir.high_watermarks.get(tp).copied(),
                    load: LoadOptions {
                        recovery_point: dir.recovery_points.get(tp).copied().unwrap_or(0),
                        log_start_offset: dir.log_start_offsets.get(tp).copied().unwrap_or(0),
                        had_clean_shutdown: dir.clean_shutdown,
                        now_ms,
                    },
                })
                .collect();
            info!(
                dir = %dir.path.display(),
                partitions = jobs.len(),
                clean_shutdown = dir.clean_shutdown,
                "loading logs"
            );
            let data_dir = dir.path.clone();
            loads.push(tokio::spawn(async move {
                let results = run_blocking_pool(jobs, threads, load_partition).await;
                (data_dir, results)
            }));
            locks.push(dir.lock);
            delete_dirs.extend(dir.delete_dirs);
        }

        let mut logs: BTreeMap<TopicPartition, Arc<Slot>> = BTreeMap::new();
        let mut offline = BTreeMap::new();
        for load in loads {
            let (data_dir, results) = load
                .await
                .map_err(|e| LogManagerError::Task(format!("loading a log dir panicked: {e}")))?;
            for (tp, result) in results {
                match result {
                    Ok((log, topic_id)) => {
                        let slot = Arc::new(Slot {
                            log: Arc::new(Mutex::new(log)),
                            data_dir: data_dir.clone(),
                            topic_id: Mutex::new(topic_id),
                        });
                        if let Some(prev) = logs.insert(tp.clone(), slot) {
                            return Err(LogManagerError::DuplicateLog {
                                first: prev.partition_dir(&tp),
                                second: data_dir.join(tp.dir_name()),
                                tp,
                            });
                        }
                    }
                    Err(e) => {
                        // Kafka takes the whole log dir offline when a partition fails to
                        // load. We keep the dir (and its other partitions) online and only
                        // leave this partition unloaded and unserved: its files stay untouched
                        // on disk, it is reported by `offline_partitions()`, and
                        // `get_or_create_log` refuses it rather than creating an empty log.
                        error!(partition = %tp, dir = %data_dir.display(), error = %e, "failed to load log; partition is offline");
                        offline.insert(tp, data_dir.clone());
                    }
                }
            }
        }
        info!(
            logs = logs.len(),
            offline = offline.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "logs loading complete"
        );

        let shared = Arc::new(Shared {
            logs: RwLock::new(logs),
            offline: RwLock::new(offline),
            checkpoint_locks: data_dirs
                .iter()
                .map(|d| (d.clone(), Mutex::new(())))
                .collect(),
            data_dirs,
            threads_per_dir: threads,
        });
        // The cleaner threads read the current set of logs on every round.
        let cleaner = if config.log_cleaner_enable() {
            let source = {
                let shared = shared.clone();
                move || {
                    shared
                        .read_logs()
                        .iter()
                        .map(|(tp, s)| (tp.clone(), s.log.clone()))
                        .collect::<Vec<_>>()
                }
            };
            let cleaner = Arc::new(LogCleaner::new(
                CleanerConfig::from_kafka_config(&config),
                source,
            ));
            cleaner.startup().map_err(|e| {
                LogManagerError::Task(format!("could not start the log cleaner: {e}"))
            })?;
            Some(cleaner)
        } else {
            None
        };
        let (tx, rx) = mpsc::channel(256);
        let now = Instant::now();
        let mut manager = LogManager {
            rx,
            shared: shared.clone(),
            locks,
            configs,
            config_rx: None,
            topic_configs_rx: None,
            options,
            pending_deletes: Vec::new(),
            jobs: JoinSet::new(),
            running: BTreeSet::new(),
            cleaner,
        };
        // Leftover `-delete` dirs of an earlier run: remove them in the background.
        for d in delete_dirs {
            info!(dir = %d.display(), "scheduling removal of a partition dir marked for deletion");
            manager.pending_deletes.push(PendingDelete {
                due: now,
                target: DeleteTarget::Dir(d),
            });
        }
        tokio::spawn(manager.run());
        Ok(LogManagerHandle { tx, shared })
    }

    async fn run(mut self) {
        let start = Instant::now() + self.options.initial_task_delay;
        let broker = self.configs.broker.clone();
        let mut retention = interval_at(start, broker.log_retention_check_interval_ms());
        let mut flush = interval_at(start, broker.log_flush_scheduler_interval_ms());
        let mut recovery_cp = interval_at(start, broker.log_flush_offset_checkpoint_interval_ms());
        let mut start_cp = interval_at(
            start,
            broker.log_flush_start_offset_checkpoint_interval_ms(),
        );
        let mut hw_cp = interval_at(
            start,
            broker
                .get_long("replica.high.watermark.checkpoint.interval.ms")
                .unwrap_or(5000),
        );
        info!(
            retention_check_ms = broker.log_retention_check_interval_ms(),
            flush_check_ms = broker.log_flush_scheduler_interval_ms(),
            "log manager started"
        );

        let stop = loop {
            let next_delete = self.pending_deletes.iter().map(|p| p.due).min();
            tokio::select! {
                cmd = self.rx.recv() => match cmd {
                    None => break Stop::HandlesDropped,
                    Some(Command::Shutdown { reply }) => break Stop::Clean(reply),
                    Some(Command::Halt { reply }) => break Stop::Halt(reply),
                    Some(cmd) => self.on_command(cmd).await,
                },
                _ = tick(&mut retention) => self.start_job(Job::Retention),
                _ = tick(&mut flush) => self.start_job(Job::Flush),
                _ = tick(&mut recovery_cp) => self.start_job(Job::RecoveryPointCheckpoint),
                _ = tick(&mut start_cp) => self.start_job(Job::LogStartCheckpoint),
                _ = tick(&mut hw_cp) => self.start_job(Job::HighWatermarkCheckpoint),
                _ = sleep_until_opt(next_delete) => self.start_job(Job::PhysicalDelete),
                Some(done) = self.jobs.join_next(), if !self.jobs.is_empty() => self.on_job_done(done),
                changed = watch_changed(&mut self.config_rx) => {
                    if changed {
                        self.on_config_change().await;
                    } else {
                        self.config_rx = None;
                    }
                }
                changed = watch_changed(&mut self.topic_configs_rx) => {
                    if changed {
                        self.on_config_change().await;
                    } else {
                        self.topic_configs_rx = None;
                    }
                }
            }
        };

        // Let running jobs finish (they may be writing checkpoints) before anything else.
        while let Some(done) = self.jobs.join_next().await {
            self.on_job_done(done);
        }
        match stop {
            Stop::Clean(reply) => {
                let result = self.shutdown_clean().await;
                let _ = reply.send(result);
            }
            Stop::Halt(reply) => {
                self.stop_cleaner().await;
                self.halt();
                let _ = reply.send(());
            }
            Stop::HandlesDropped => {
                warn!("every log manager handle was dropped without shutdown; stopping uncleanly");
                self.stop_cleaner().await;
                self.halt();
            }
        }
    }

    async fn on_command(&mut self, cmd: Command) {
        match cmd {
            Command::GetOrCreate {
                tp,
                topic_id,
                reply,
            } => {
                // A topic's overrides published just before its log is created (the
                // ReplicaManager loads them first) must apply from the first append.
                let pending = self
                    .config_rx
                    .as_ref()
                    .is_some_and(|rx| rx.has_changed().unwrap_or(false))
                    || self
                        .topic_configs_rx
                        .as_ref()
                        .is_some_and(|rx| rx.has_changed().unwrap_or(false));
                if pending {
                    self.on_config_change().await;
                }
                let r = self.get_or_create(tp, topic_id).await;
                let _ = reply.send(r);
            }
            Command::Delete { tp, reply } => {
                let r = self.delete(tp).await;
                let _ = reply.send(r);
            }
            Command::SubscribeConfigs {
                config,
                topic_configs,
                reply,
            } => {
                self.config_rx = Some(config);
                self.topic_configs_rx = Some(topic_configs);
                self.on_config_change().await;
                let _ = reply.send(());
            }
            Command::Shutdown { .. } | Command::Halt { .. } => {
                unreachable!("handled by the run loop")
            }
        }
    }

    async fn get_or_create(
        &mut self,
        tp: TopicPartition,
        topic_id: Option<Uuid>,
    ) -> Result<SharedLog, LogManagerError> {
        let existing = self.shared.read_logs().get(&tp).cloned();
        if let Some(slot) = existing {
            if let Some(requested) = topic_id {
                let stored = *slot.topic_id.lock().unwrap_or_else(|e| e.into_inner());
                match stored {
                    Some(stored) if stored != requested => {
                        return Err(LogManagerError::InconsistentTopicId {
                            tp,
                            stored: crate::zk::zk_data::encode_topic_id(&stored),
                            requested: crate::zk::zk_data::encode_topic_id(&requested),
                        })
                    }
                    Some(_) => {}
                    None => {
                        let dir = slot.partition_dir(&tp);
                        let write = tokio::task::spawn_blocking(move || {
                            PartitionMetadataFile::in_dir(&dir).write(&requested)
                        })
                        .await
                        .map_err(|e| LogManagerError::Task(e.to_string()))?;
                        write.map_err(|source| LogManagerError::Checkpoint {
                            tp: tp.clone(),
                            source,
                        })?;
                        *slot.topic_id.lock().unwrap_or_else(|e| e.into_inner()) = Some(requested);
                    }
                }
            }
            return Ok(slot.log.clone());
        }
        if self
            .shared
            .offline
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(&tp)
        {
            return Err(LogManagerError::OfflinePartition(tp));
        }
        let candidates = self.next_log_dirs();
        let config = self.configs.get(&tp.topic);
        let tp2 = tp.clone();
        let created = tokio::task::spawn_blocking(move || {
            create_partition_log(&candidates, &tp2, config, topic_id, now_ms())
        })
        .await
        .map_err(|e| LogManagerError::Task(format!("log creation panicked: {e}")))?;
        let (log, data_dir) = created?;
        info!(partition = %tp, dir = %data_dir.display(), "created log");
        let slot = Arc::new(Slot {
            log: Arc::new(Mutex::new(log)),
            data_dir,
            topic_id: Mutex::new(topic_id),
        });
        let log = slot.log.clone();
        self.shared.write_logs().insert(tp, slot);
        Ok(log)
    }

    /// Data dirs ordered by how many partitions they hold, fewest first (Kafka's
    /// `nextLogDirs`); ties keep the configured order.
    fn next_log_dirs(&self) -> Vec<PathBuf> {
        let logs = self.shared.read_logs();
        let mut dirs: Vec<(usize, usize, PathBuf)> = self
            .shared
            .data_dirs
            .iter()
            .enumerate()
            .map(|(i, d)| {
                (
                    logs.values().filter(|s| &s.data_dir == d).count(),
                    i,
                    d.clone(),
                )
            })
            .collect();
        dirs.sort();
        dirs.into_iter().map(|(_, _, d)| d).collect()
    }

    async fn delete(&mut self, tp: TopicPartition) -> Result<bool, LogManagerError> {
        let Some(slot) = self.shared.write_logs().remove(&tp) else {
            return Ok(false);
        };
        // As Kafka: stop any cleaning of the partition and forget its cleaner checkpoint.
        if let Some(cleaner) = self.cleaner.clone() {
            let (tp2, data_dir) = (tp.clone(), slot.data_dir.clone());
            let forgot = tokio::task::spawn_blocking(move || {
                cleaner.abort_cleaning(&tp2);
                cleaner.remove_from_checkpoint(&data_dir, &tp2)
            })
            .await
            .map_err(|e| LogManagerError::Task(format!("aborting cleaning panicked: {e}")))?;
            if let Err(e) = forgot {
                warn!(partition = %tp, error = %e, "could not update the cleaner checkpoint");
            }
        }
        let shared = self.shared.clone();
        let tp2 = tp.clone();
        let log = slot.log.clone();
        let (slot, result) = tokio::task::spawn_blocking(move || {
            let result = rename_for_delete(&slot, &tp2);
            if result.is_ok() {
                // The partition no longer appears in this dir's checkpoints.
                if let Err(e) = shared.checkpoint_recovery_points(&slot.data_dir) {
                    error!(error = %e, "could not rewrite the recovery-point checkpoint");
                }
                if let Err(e) = shared.checkpoint_log_start_offsets(&slot.data_dir) {
                    error!(error = %e, "could not rewrite the log-start-offset checkpoint");
                }
                if let Err(e) = shared.checkpoint_high_watermarks(&slot.data_dir) {
                    error!(error = %e, "could not rewrite the replication-offset checkpoint");
                }
            }
            (slot, result)
        })
        .await
        .map_err(|e| LogManagerError::Task(format!("log deletion panicked: {e}")))?;
        let renamed = match result {
            Ok(renamed) => renamed,
            Err(e) => {
                // Not renamed: the log stays served where it is.
                self.shared.write_logs().insert(tp, slot);
                return Err(e);
            }
        };
        let delay = Duration::from_millis(
            u64::try_from(self.configs.broker.log_segment_delete_delay_ms()).unwrap_or(0),
        );
        info!(partition = %tp, dir = %renamed.display(), "log scheduled for deletion");
        self.pending_deletes.push(PendingDelete {
            due: Instant::now() + delay,
            target: DeleteTarget::Log(log),
        });
        Ok(true)
    }

    /// Recomputes every log's config from the latest broker config and topic overrides and
    /// applies the ones that changed.
    async fn on_config_change(&mut self) {
        if let Some(rx) = &mut self.config_rx {
            self.configs.broker = rx.borrow_and_update().clone();
        }
        if let Some(rx) = &mut self.topic_configs_rx {
            self.configs.overrides = rx.borrow_and_update().clone();
        }
        let topics: BTreeSet<String> = self
            .shared
            .read_logs()
            .keys()
            .map(|tp| tp.topic.clone())
            .chain(self.configs.by_topic.keys().cloned())
            .collect();
        let mut changed = HashMap::new();
        for topic in topics {
            let new = compute_log_config(&self.configs.broker, &self.configs.overrides, &topic);
            let old = self.configs.by_topic.insert(topic.clone(), new.clone());
            if old.as_deref() != Some(&*new) {
                changed.insert(topic, new);
            }
        }
        if changed.is_empty() {
            return;
        }
        let targets: Vec<(SharedLog, Arc<LogConfig>)> = self
            .shared
            .read_logs()
            .iter()
            .filter_map(|(tp, s)| changed.get(&tp.topic).map(|c| (s.log.clone(), c.clone())))
            .collect();
        info!(
            topics = ?changed.keys().collect::<Vec<_>>(),
            logs = targets.len(),
            "applying changed log configs"
        );
        // Awaited here so successive changes apply in order.
        let _ = tokio::task::spawn_blocking(move || {
            for (log, config) in targets {
                lock_log(&log).update_config(config);
            }
        })
        .await;
    }

    fn start_job(&mut self, job: Job) {
        // Deletion jobs take disjoint due items, so several may run at once (and the timer
        // must not keep firing for items a running job cannot take).
        if job != Job::PhysicalDelete && !self.running.insert(job) {
            debug!(?job, "previous run still in progress; skipping this tick");
            return;
        }
        let shared = self.shared.clone();
        match job {
            Job::Retention => {
                let targets = self.snapshot();
                let producer_expiration_ms =
                    i64::from(self.configs.broker.producer_id_expiration_ms());
                self.jobs.spawn_blocking(move || {
                    JobOutcome::Retention(retention_pass(targets, producer_expiration_ms))
                });
            }
            Job::Flush => {
                let targets = self.snapshot();
                self.jobs.spawn_blocking(move || {
                    flush_pass(targets);
                    JobOutcome::Done(Job::Flush)
                });
            }
            Job::RecoveryPointCheckpoint => {
                self.jobs.spawn_blocking(move || {
                    for d in &shared.data_dirs {
                        if let Err(e) = shared.checkpoint_recovery_points(d) {
                            error!(error = %e, "could not write the recovery-point checkpoint");
                        }
                    }
                    JobOutcome::Done(Job::RecoveryPointCheckpoint)
                });
            }
            Job::HighWatermarkCheckpoint => {
                self.jobs.spawn_blocking(move || {
                    for d in &shared.data_dirs {
                        if let Err(e) = shared.checkpoint_high_watermarks(d) {
                            error!(error = %e, "could not write the replication-offset checkpoint");
                        }
                    }
                    JobOutcome::Done(Job::HighWatermarkCheckpoint)
                });
            }
            Job::LogStartCheckpoint => {
                self.jobs.spawn_blocking(move || {
                    for d in &shared.data_dirs {
                        if let Err(e) = shared.checkpoint_log_start_offsets(d) {
                            error!(error = %e, "could not write the log-start-offset checkpoint");
                        }
                    }
                    JobOutcome::Done(Job::LogStartCheckpoint)
                });
            }
            Job::PhysicalDelete => {
                let now = Instant::now();
                let (due, later) = std::mem::take(&mut self.pending_deletes)
                    .into_iter()
                    .partition(|p| p.due <= now);
                self.pending_deletes = later;
                self.jobs.spawn_blocking(move || {
                    for p in due {
                        physically_delete(p.target);
                    }
                    JobOutcome::Done(Job::PhysicalDelete)
                });
            }
        }
    }

    fn snapshot(&self) -> Vec<(TopicPartition, Arc<Slot>)> {
        self.shared
            .read_logs()
            .iter()
            .map(|(tp, s)| (tp.clone(), s.clone()))
            .collect()
    }

    fn on_job_done(&mut self, done: Result<JobOutcome, tokio::task::JoinError>) {
        match done {
            Ok(JobOutcome::Done(job)) => {
                self.running.remove(&job);
            }
            Ok(JobOutcome::Retention(deletions)) => {
                self.running.remove(&Job::Retention);
                let now = Instant::now();
                for d in deletions {
                    self.pending_deletes.push(PendingDelete {
                        due: now + Duration::from_millis(u64::try_from(d.delay_ms).unwrap_or(0)),
                        target: DeleteTarget::Files(d.files),
                    });
                }
            }
            Err(e) => {
                // A panicking job: allow every kind to run again.
                error!(error = %e, "a log-manager background job panicked");
                self.running.clear();
            }
        }
    }

    /// Flushes and closes every log (in parallel per dir), then per dir writes the
    /// checkpoints and the clean-shutdown marker and releases the lock.
    /// Stops the cleaner threads (aborting a cleaning in progress) before logs close.
    async fn stop_cleaner(&mut self) {
        if let Some(cleaner) = self.cleaner.take() {
            if let Err(e) = tokio::task::spawn_blocking(move || cleaner.shutdown()).await {
                error!(error = %e, "log cleaner shutdown panicked");
            }
        }
    }

    async fn shutdown_clean(mut self) -> Result<(), LogManagerError> {
        info!("shutting down log manager");
        self.stop_cleaner().await;
        let logs = std::mem::take(&mut *self.shared.write_logs());
        let threads = self.shared.threads_per_dir;
        let mut per_dir = Vec::new();
        for data_dir in self.shared.data_dirs.clone() {
            let in_dir: Vec<(TopicPartition, Arc<Slot>)> = logs
                .iter()
                .filter(|(_, s)| s.data_dir == data_dir)
                .map(|(tp, s)| (tp.clone(), s.clone()))
                .collect();
            per_dir.push(tokio::spawn(async move {
                let results = run_blocking_pool(in_dir, threads, close_for_shutdown).await;
                (data_dir, results)
            }));
        }
        let mut failures = Vec::new();
        let mut dir_results = Vec::new();
        for h in per_dir {
            match h.await {
                Ok(r) => dir_results.push(r),
                Err(e) => failures.push(format!("closing logs panicked: {e}")),
            }
        }
        let locks = std::mem::take(&mut self.locks);
        let offline = self
            .shared
            .offline
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let written = tokio::task::spawn_blocking(move || {
            let mut failures = Vec::new();
            for (data_dir, results) in dir_results {
                let mut recovery = BTreeMap::new();
                let mut starts = BTreeMap::new();
                let mut high_watermarks = BTreeMap::new();
                // A partition that failed to load was never recovered: the marker would make
                // the next start skip its recovery, so a dir holding one gets none.
                let mut all_ok = !offline.values().any(|d| d == &data_dir);
                for r in results {
                    match r {
                        Ok(c) => {
                            recovery.insert(c.tp.clone(), c.recovery_point);
                            high_watermarks.insert(c.tp.clone(), c.high_watermark);
                            if c.log_start_offset > c.first_segment_base {
                                starts.insert(c.tp, c.log_start_offset);
                            }
                        }
                        Err(e) => {
                            all_ok = false;
                            failures.push(e.to_string());
                        }
                    }
                }
                if let Err(e) = OffsetCheckpointFile::recovery_point(&data_dir).write(&recovery) {
                    all_ok = false;
                    failures.push(e.to_string());
                }
                if let Err(e) = OffsetCheckpointFile::log_start_offset(&data_dir).write(&starts) {
                    all_ok = false;
                    failures.push(e.to_string());
                }
                let hw_file = OffsetCheckpointFile::replication_offset(&data_dir);
                if let Err(e) = hw_file.write(&high_watermarks) {
                    all_ok = false;
                    failures.push(e.to_string());
                }
                if all_ok {
                    let marker = data_dir.join(CLEAN_SHUTDOWN_FILE);
                    if let Err(e) = fs::File::create(&marker)
                        .and_then(|f| f.sync_all())
                        .and_then(|()| fsync_dir(&data_dir))
                    {
                        failures.push(format!("{}: {e}", marker.display()));
                    }
                } else {
                    warn!(dir = %data_dir.display(), "not writing the clean shutdown marker: a log failed to load or to close");
                }
            }
            // Whatever happened, unlock the dirs.
            drop(locks);
            failures
        })
        .await
        .map_err(|e| LogManagerError::Task(format!("shutdown panicked: {e}")))?;
        failures.extend(written);
        if failures.is_empty() {
            info!("log manager shut down cleanly");
            Ok(())
        } else {
            error!(?failures, "log manager shutdown had errors");
            Err(LogManagerError::Shutdown(failures.join("; ")))
        }
    }

    fn halt(mut self) {
        warn!("log manager halted without a clean shutdown");
        self.shared.write_logs().clear();
        self.locks.clear();
    }
}

enum Stop {
    Clean(oneshot::Sender<Result<(), LogManagerError>>),
    Halt(oneshot::Sender<()>),
    HandlesDropped,
}

/// An interval starting at `start`, or `None` for "never" (Long.MAX / non-positive periods).
fn interval_at(start: Instant, period_ms: i64) -> Option<tokio::time::Interval> {
    let period = Duration::from_millis(u64::try_from(period_ms).ok().filter(|p| *p > 0)?);
    if period >= NEVER {
        return None;
    }
    let mut i = tokio::time::interval_at(start, period);
    i.set_missed_tick_behavior(MissedTickBehavior::Delay);
    Some(i)
}

async fn tick(interval: &mut Option<tokio::time::Interval>) {
    match interval {
        Some(i) => {
            i.tick().await;
        }
        None => std::future::pending().await,
    }
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// `true` when the watched value changed, `false` when its sender is gone; never returns
/// without a receiver.
async fn watch_changed<T>(rx: &mut Option<watch::Receiver<T>>) -> bool {
    match rx {
        Some(rx) => rx.changed().await.is_ok(),
        None => std::future::pending().await,
    }
}

/// One partition to load at startup.
struct LoadJob {
    tp: TopicPartition,
    path: PathBuf,
    config: Arc<LogConfig>,
    load: LoadOptions,
    /// From `replication-offset-checkpoint` (Kafka's ReplicaManager restores it the same way).
    high_watermark: Option<i64>,
}

type LoadResult = (TopicPartition, Result<(Log, Option<Uuid>), LogManagerError>);

fn load_partition(job: LoadJob) -> LoadResult {
    let tp = job.tp.clone();
    debug!(partition = %tp, dir = %job.path.display(), "loading log");
    let opened =
        Log::open(&job.path, job.tp, job.config, job.load).map_err(|source| LogManagerError::Log {
            tp: tp.clone(),
            source,
        });
    let high_watermark = job.high_watermark;
    let result = opened.map(|mut log| {
        if let Some(hw) = high_watermark {
            // Clamped to [log start, log end] by the log.
            log.update_high_watermark(hw);
        }
        let topic_id = PartitionMetadataFile::in_dir(&job.path)
            .read()
            .unwrap_or_else(|e| {
                warn!(partition = %tp, error = %e, "unreadable partition.metadata; topic id unknown");
                None
            });
        (log, topic_id)
    });
    (tp, result)
}

/// Creates the partition dir in the first candidate data dir where that works and opens an
/// empty log there (Kafka's `createLog`).
fn create_partition_log(
    candidates: &[PathBuf],
    tp: &TopicPartition,
    config: Arc<LogConfig>,
    topic_id: Option<Uuid>,
    now_ms: i64,
) -> Result<(Log, PathBuf), LogManagerError> {
    let mut chosen = None;
    for data_dir in candidates {
        let dir = data_dir.join(tp.dir_name());
        match fs::create_dir_all(&dir).and_then(|()| fsync_dir(data_dir)) {
            Ok(()) => {
                chosen = Some((data_dir.clone(), dir));
                break;
            }
            Err(e) => warn!(dir = %dir.display(), error = %e, "cannot create partition dir"),
        }
    }
    let Some((data_dir, dir)) = chosen else {
        return Err(LogManagerError::NoLogDirAvailable {
            tp: tp.clone(),
            tried: candidates
                .iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        });
    };
    let load = LoadOptions {
        recovery_point: 0,
        log_start_offset: 0,
        had_clean_shutdown: false,
        now_ms,
    };
    let log = Log::open(&dir, tp.clone(), config, load).map_err(|source| LogManagerError::Log {
        tp: tp.clone(),
        source,
    })?;
    if let Some(id) = topic_id {
        PartitionMetadataFile::in_dir(&dir)
            .write(&id)
            .map_err(|source| LogManagerError::Checkpoint {
                tp: tp.clone(),
                source,
            })?;
    }
    Ok((log, data_dir))
}

/// `<topic>-<partition>.<32 hex uuid>-delete`, the topic shortened so the name stays within
/// 255 bytes (Kafka's `logDeleteDirName`).
pub fn delete_dir_name(tp: &TopicPartition) -> String {
    let suffix = format!(
        "-{}.{}{DELETE_DIR_SUFFIX}",
        tp.partition,
        Uuid::new_v4().simple()
    );
    let mut keep = tp.topic.len().min(255usize.saturating_sub(suffix.len()));
    while !tp.topic.is_char_boundary(keep) {
        keep -= 1;
    }
    format!("{}{suffix}", &tp.topic[..keep])
}

/// Renames the log's dir for asynchronous deletion and closes the log (later appends through
/// a stale handle fail); returns the new path.
fn rename_for_delete(slot: &Slot, tp: &TopicPartition) -> Result<PathBuf, LogManagerError> {
    let to = slot.data_dir.join(delete_dir_name(tp));
    let mut log = lock_log(&slot.log);
    log.rename_dir(&to).map_err(|source| LogManagerError::Log {
        tp: tp.clone(),
        source,
    })?;
    fsync_dir(&slot.data_dir).map_err(io_err(&slot.data_dir))?;
    if let Err(e) = log.close() {
        warn!(partition = %tp, error = %e, "error closing a log being deleted");
    }
    Ok(to)
}

/// Removes segment files, a deleted log or a `-delete` dir; already gone is fine.
fn physically_delete(target: DeleteTarget) {
    let remove = |path: &Path, result: io::Result<()>| match result {
        Ok(()) => debug!(path = %path.display(), "deleted"),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => error!(path = %path.display(), error = %e, "could not delete"),
    };
    match target {
        DeleteTarget::Files(files) => {
            for f in files {
                let r = fs::remove_file(&f);
                remove(&f, r);
            }
        }
        DeleteTarget::Dir(dir) => {
            let r = fs::remove_dir_all(&dir);
            remove(&dir, r);
        }
        DeleteTarget::Log(log) => {
            let mut log = lock_log(&log);
            let dir = log.dir().to_path_buf();
            match log.delete_dir() {
                Ok(()) => info!(dir = %dir.display(), "deleted log"),
                Err(e) => {
                    warn!(dir = %dir.display(), error = %e, "deleting the log failed; removing its dir");
                    let r = fs::remove_dir_all(&dir);
                    remove(&dir, r);
                }
            }
        }
    }
}

/// Retention on every log (the `Log` applies the time and size rules when its
/// `cleanup.policy` has `delete`, and the log-start rule always; there is no cleaner yet to
/// take `compact,delete` logs, so all logs pass through here). Returns the removed segments,
/// whose `.deleted` files are physically deleted after their `file.delete.delay.ms`.
/// Idle producer ids (`producer.id.expiration.ms`) are expired on the same pass (Kafka runs
/// that check every 10 minutes per log).
fn retention_pass(
    targets: Vec<(TopicPartition, Arc<Slot>)>,
    producer_expiration_ms: i64,
) -> Vec<PendingDeletion> {
    let now = now_ms();
    let mut deletions = Vec::new();
    let mut total = 0usize;
    for (tp, slot) in targets {
        let mut log = lock_log(&slot.log);
        if log.is_closed() {
            continue;
        }
        match log.delete_old_segments(now) {
            Ok(n) => total += n,
            Err(e) => error!(partition = %tp, error = %e, "retention failed"),
        }
        log.remove_expired_producers(now, producer_expiration_ms);
        deletions.extend(log.take_pending_deletions());
    }
    if total > 0 {
        info!(segments = total, "retention deleted log segments");
    }
    deletions
}

/// Flushes logs whose last flush is older than their `flush.ms` (Kafka's `flushDirtyLogs`).
fn flush_pass(targets: Vec<(TopicPartition, Arc<Slot>)>) {
    let now = now_ms();
    for (tp, slot) in targets {
        let mut log = lock_log(&slot.log);
        if log.is_closed() {
            continue;
        }
        if let Err(e) = log.flush_if_due(now) {
            error!(partition = %tp, error = %e, "flush failed");
        }
    }
}

/// What shutdown needs from each closed log.
struct ClosedLog {
    tp: TopicPartition,
    recovery_point: i64,
    high_watermark: i64,
    log_start_offset: i64,
    first_segment_base: i64,
}

fn close_for_shutdown(
    (tp, slot): (TopicPartition, Arc<Slot>),
) -> Result<ClosedLog, LogManagerError> {
    let mut log = lock_log(&slot.log);
    // `close` flushes everything first (recovery point = log end offset), then trims indexes.
    log.close().map_err(|source| LogManagerError::Log {
        tp: tp.clone(),
        source,
    })?;
    Ok(ClosedLog {
        recovery_point: log.recovery_point(),
        high_watermark: log.high_watermark(),
        log_start_offset: log.log_start_offset(),
        first_segment_base: first_segment_base(&log),
        tp,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delete_dir_names_are_capped_at_255() {
        let tp = TopicPartition::new("orders", 3);
        let name = delete_dir_name(&tp);
        assert!(name.starts_with("orders-3."), "{name}");
        assert!(name.ends_with("-delete"));
        assert_eq!(name.len(), "orders-3.".len() + 32 + "-delete".len());
        assert_eq!(TopicPartition::from_dir_name(&name), None);
        let long = TopicPartition::new("t".repeat(249), 12345);
        let name = delete_dir_name(&long);
        assert_eq!(name.len(), 255);
        assert!(name.ends_with("-12345.") || name.contains("-12345."));
    }

    #[tokio::test]
    async fn intervals_of_long_max_never_fire() {
        let now = Instant::now();
        assert!(interval_at(now, i64::MAX).is_none());
        assert!(interval_at(now, 0).is_none());
        assert!(interval_at(now, 300_000).is_some());
    }
}
