//! Replica fetchers (Kafka's `ReplicaFetcherManager` + `ReplicaFetcherThread`): a follower
//! copies its partitions from their leaders. Each fetcher task is keyed by (leader broker,
//! fetcher id) — Kafka's `BrokerIdAndFetcherId` — where the fetcher id spreads a leader's
//! partitions over `num.replica.fetchers` tasks (`Utils.abs(31 * topic.hashCode +
//! partition) % num.replica.fetchers`), each with its own connection. A task loops: Fetch
//! (as replica `broker.id`, from each partition's log end offset, waiting up to
//! `replica.fetch.wait.max.ms`), append the batches verbatim, take the leader's high
//! watermark and log start offset.
//!
//! The manager mirrors which partitions each task follows: a removal goes only to the task
//! holding the partition, a task left without partitions stops once a LeaderAndIsr or
//! StopReplica is applied (Kafka's `shutdownIdleFetcherThreads`), a task whose leader's
//! address changed (or that died) is replaced and its partitions move to the new one, and a
//! dynamic change of `num.replica.fetchers` re-keys every partition (Kafka's
//! `resizeThreadPool`).
//!
//! A newly followed partition first finds where its log diverges from the leader's
//! (OffsetForLeaderEpoch with its latest leader epoch, KIP-101/279) and truncates there;
//! without epoch information it truncates to its high watermark.
//!
//! Errors: OFFSET_OUT_OF_RANGE truncates to the leader's log end if ours is longer, else
//! restarts the log at the leader's log start (Kafka's `handleOutOfRangeError`); leadership
//! errors park the partition for `replica.fetch.backoff.ms` until the controller's next
//! LeaderAndIsr moves it; connection errors back off and reconnect.
//!
//! The leader learns each follower's log end offset from these fetches, which is what moves
//! its high watermark (`Partition::read`).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::{BrokerId, FetchRequest, ListOffsetsRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::cluster::TopicPartition;
use crate::config::KafkaConfig;
use crate::coordinator::group::partitioning::{java_string_hash_code, kafka_abs};
use crate::log::log_manager::now_ms;
use crate::network::BrokerClient;

use super::partition::Partition;

/// Fetch version the followers send: flexible, topics by name.
const FETCH_VERSION: i16 = 12;
const LIST_OFFSETS_VERSION: i16 = 5;
const OFFSET_FOR_LEADER_EPOCH_VERSION: i16 = 4;

/// The fetcher settings (Kafka's `replica.*` and `num.replica.fetchers`).
#[derive(Clone, Debug)]
pub struct FetcherConfig {
    pub broker_id: i32,
    /// Fetchers per leader broker (`num.replica.fetchers`, at least 1).
    pub num_fetchers: i32,
    pub max_wait_ms: i32,
    pub min_bytes: i32,
    pub max_bytes: i32,
    pub partition_max_bytes: i32,
    pub backoff: Duration,
    pub socket_timeout: Duration,
}

impl FetcherConfig {
    pub fn from_config(config: &KafkaConfig) -> FetcherConfig {
        let int = |key: &str, default: i32| config.get_int(key).unwrap_or(default);
        FetcherConfig {
            broker_id: config.broker_id(),
            num_fetchers: num_fetchers(config),
            max_wait_ms: int("replica.fetch.wait.max.ms", 500),
            min_bytes: int("replica.fetch.min.bytes", 1),
            max_bytes: int("replica.fetch.response.max.bytes", 10 << 20),
            partition_max_bytes: int("replica.fetch.max.bytes", 1 << 20),
            backoff: Duration::from_millis(int("replica.fetch.backoff.ms", 1000).max(0) as u64),
            socket_timeout: Duration::from_millis(
                int("replica.socket.timeout.ms", 30_000).max(1) as u64
            ),
        }
    }
}

/// `num.replica.fetchers` (default 1, at least 1).
fn num_fetchers(config: &KafkaConfig) -> i32 {
    config.get_int("num.replica.fetchers").unwrap_or(1).max(1)
}

/// Which of a leader's `num_fetchers` fetchers follows `tp` (Kafka's `getFetcherId`):
/// `Utils.abs(31 * topic.hashCode() + partition) % num_fetchers`, in Java's wrapping 32-bit
/// arithmetic, with `Utils.abs(Integer.MIN_VALUE) == 0`.
pub fn fetcher_id(tp: &TopicPartition, num_fetchers: i32) -> i32 {
    let hash = java_string_hash_code(&tp.topic)
        .wrapping_mul(31)
        .wrapping_add(tp.partition);
    kafka_abs(hash) % num_fetchers.max(1)
}

/// A fetcher's identity (Kafka's `BrokerIdAndFetcherId`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FetcherKey {
    pub leader_id: i32,
    pub fetcher_id: i32,
}

/// A leader's address as LeaderAndIsr's `live_leaders` gives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaderEndpoint {
    pub broker_id: i32,
    pub host: String,
    pub port: u16,
}

enum Command {
    Add(Vec<Arc<Partition>>),
    Remove(Vec<TopicPartition>),
}

struct Fetcher {
    endpoint: LeaderEndpoint,
    tx: mpsc::UnboundedSender<Command>,
    task: JoinHandle<()>,
    /// The partitions the task follows (the manager's mirror of the task's own map).
    partitions: BTreeMap<TopicPartition, Arc<Partition>>,
}

impl std::fmt::Debug for Fetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetcher")
            .field("endpoint", &self.endpoint)
            .field("partitions", &self.partitions.len())
            .finish_non_exhaustive()
    }
}

impl Fetcher {
    fn start(key: FetcherKey, leader: &LeaderEndpoint, config: &FetcherConfig) -> Fetcher {
        info!(
            leader = key.leader_id,
            fetcher_id = key.fetcher_id,
            host = %leader.host,
            port = leader.port,
            "starting replica fetcher"
        );
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(run(rx, key, leader.clone(), config.clone()));
        Fetcher {
            endpoint: leader.clone(),
            tx,
            task,
            partitions: BTreeMap::new(),
        }
    }

    fn add(&mut self, partitions: Vec<Arc<Partition>>) {
        for p in &partitions {
            self.partitions
                .insert(p.topic_partition().clone(), Arc::clone(p));
        }
        let _ = self.tx.send(Command::Add(partitions));
    }

    /// Stops following those of `tps` this fetcher holds.
    fn remove(&mut self, tps: &[TopicPartition]) {
        let held: Vec<TopicPartition> = tps
            .iter()
            .filter(|tp| self.partitions.remove(*tp).is_some())
            .cloned()
            .collect();
        if !held.is_empty() {
            let _ = self.tx.send(Command::Remove(held));
        }
    }

    /// Ends the task (a closed channel ends it too; abort stops an in-flight request).
    fn stop(self) {
        drop(self.tx);
        self.task.abort();
    }
}

/// The manager's state: the fetchers by key and the pool size they were keyed with.
#[derive(Debug)]
struct Fetchers {
    num_fetchers: i32,
    by_key: HashMap<FetcherKey, Fetcher>,
    /// Set by shutdown: nothing starts afterwards.
    closed: bool,
}

impl Fetchers {
    /// Kafka's `addFetcherForPartitions`: each partition goes to the fetcher of (leader, its
    /// fetcher id), after leaving any other. A fetcher whose leader address changed, or whose
    /// task ended, is replaced; the partitions it held move to its replacement.
    fn add(
        &mut self,
        config: &FetcherConfig,
        leader: &LeaderEndpoint,
        partitions: Vec<Arc<Partition>>,
    ) {
        if self.closed {
            return;
        }
        let tps: Vec<TopicPartition> = partitions
            .iter()
            .map(|p| p.topic_partition().clone())
            .collect();
        self.remove(&tps);
        let mut groups: BTreeMap<i32, Vec<Arc<Partition>>> = BTreeMap::new();
        for p in partitions {
            groups
                .entry(fetcher_id(p.topic_partition(), self.num_fetchers))
                .or_default()
                .push(p);
        }
        for (id, group) in groups {
            let key = FetcherKey {
                leader_id: leader.broker_id,
                fetcher_id: id,
            };
            let mut moved = Vec::new();
            let stale = self
                .by_key
                .get(&key)
                .is_some_and(|f| f.endpoint != *leader || f.tx.is_closed());
            if stale {
                if let Some(old) = self.by_key.remove(&key) {
                    info!(
                        leader = key.leader_id,
                        fetcher_id = key.fetcher_id,
                        old_host = %old.endpoint.host,
                        old_port = old.endpoint.port,
                        "replacing replica fetcher"
                    );
                    moved = old.partitions.values().cloned().collect();
                    old.stop();
                }
            }
            let fetcher = self
                .by_key
                .entry(key)
                .or_insert_with(|| Fetcher::start(key, leader, config));
            moved.extend(group);
            debug!(
                leader = key.leader_id,
                fetcher_id = key.fetcher_id,
                partitions = moved.len(),
                "partitions added to replica fetcher"
            );
            fetcher.add(moved);
        }
    }

    fn remove(&mut self, tps: &[TopicPartition]) {
        if tps.is_empty() {
            return;
        }
        for fetcher in self.by_key.values_mut() {
            fetcher.remove(tps);
        }
    }

    /// Kafka's `shutdownIdleFetcherThreads`.
    fn shutdown_idle(&mut self) {
        let idle: Vec<FetcherKey> = self
            .by_key
            .iter()
            .filter(|(_, f)| f.partitions.is_empty())
            .map(|(k, _)| *k)
            .collect();
        for key in idle {
            if let Some(f) = self.by_key.remove(&key) {
                info!(
                    leader = key.leader_id,
                    fetcher_id = key.fetcher_id,
                    "stopping idle replica fetcher"
                );
                f.stop();
            }
        }
    }

    /// Kafka's `resizeThreadPool`: every partition leaves its fetcher, fetchers with an id
    /// beyond the new size stop, and the partitions are added again under the new size (each
    /// truncates against its leader again first, as in Kafka).
    fn resize(&mut self, config: &FetcherConfig, num_fetchers: i32) {
        let num_fetchers = num_fetchers.max(1);
        if self.closed || num_fetchers == self.num_fetchers {
            return;
        }
        info!(
            from = self.num_fetchers,
            to = num_fetchers,
            "resizing the replica fetcher pool"
        );
        self.num_fetchers = num_fetchers;
        let mut by_leader: Vec<(LeaderEndpoint, Vec<Arc<Partition>>)> = Vec::new();
        let keys: Vec<FetcherKey> = self.by_key.keys().copied().collect();
        for key in keys {
            let Some(fetcher) = self.by_key.get_mut(&key) else {
                continue;
            };
            let partitions: Vec<Arc<Partition>> = std::mem::take(&mut fetcher.partitions)
                .into_values()
                .collect();
            if !partitions.is_empty() {
                let tps = partitions
                    .iter()
                    .map(|p| p.topic_partition().clone())
                    .collect();
                let _ = fetcher.tx.send(Command::Remove(tps));
            }
            match by_leader.iter_mut().find(|(e, _)| *e == fetcher.endpoint) {
                Some((_, all)) => all.extend(partitions),
                None => by_leader.push((fetcher.endpoint.clone(), partitions)),
            }
            if key.fetcher_id >= num_fetchers {
                if let Some(f) = self.by_key.remove(&key) {
                    f.stop();
                }
            }
        }
        for (leader, partitions) in by_leader {
            if !partitions.is_empty() {
                self.add(config, &leader, partitions);
            }
        }
        self.shutdown_idle();
    }
}

/// See the module doc.
#[derive(Debug)]
pub struct ReplicaFetcherManager {
    config: FetcherConfig,
    fetchers: Arc<Mutex<Fetchers>>,
}

fn lock(fetchers: &Mutex<Fetchers>) -> std::sync::MutexGuard<'_, Fetchers> {
    fetchers.lock().unwrap_or_else(|e| e.into_inner())
}

impl ReplicaFetcherManager {
    pub fn new(config: FetcherConfig) -> ReplicaFetcherManager {
        let fetchers = Fetchers {
            num_fetchers: config.num_fetchers.max(1),
            by_key: HashMap::new(),
            closed: false,
        };
        ReplicaFetcherManager {
            config,
            fetchers: Arc::new(Mutex::new(fetchers)),
        }
    }

    /// Starts fetching `partitions` from `leader`, each on the fetcher of (leader, its
    /// fetcher id); each partition first leaves any other fetcher.
    pub fn add_partitions(&self, leader: &LeaderEndpoint, partitions: Vec<Arc<Partition>>) {
        lock(&self.fetchers).add(&self.config, leader, partitions);
    }

    /// Stops fetching these partitions (they became leaders, or were stopped or deleted).
    pub fn remove_partitions(&self, tps: &[TopicPartition]) {
        lock(&self.fetchers).remove(tps);
    }

    /// Stops the fetchers left without partitions (Kafka's `shutdownIdleFetcherThreads`,
    /// after a LeaderAndIsr or StopReplica request is applied).
    pub fn shutdown_idle_fetchers(&self) {
        lock(&self.fetchers).shutdown_idle();
    }

    /// Changes `num.replica.fetchers`, re-keying every partition (Kafka's
    /// `resizeThreadPool`); a no-op when the size is unchanged.
    pub fn resize(&self, num_fetchers: i32) {
        lock(&self.fetchers).resize(&self.config, num_fetchers);
    }

    /// Follows dynamic `num.replica.fetchers` changes in the effective broker config
    /// (Kafka's `DynamicThreadPool` → `resizeFetcherThreadPool`). The task ends when the
    /// config channel closes or the manager is dropped.
    pub fn follow_config(&self, mut config: watch::Receiver<Arc<KafkaConfig>>) -> JoinHandle<()> {
        let fetchers: Weak<Mutex<Fetchers>> = Arc::downgrade(&self.fetchers);
        let fetcher_config = self.config.clone();
        tokio::spawn(async move {
            loop {
                let size = num_fetchers(&config.borrow_and_update());
                let Some(fetchers) = fetchers.upgrade() else {
                    return;
                };
                lock(&fetchers).resize(&fetcher_config, size);
                drop(fetchers);
                if config.changed().await.is_err() {
                    return;
                }
            }
        })
    }

    /// Stops every fetcher (broker shutdown, before the logs close); nothing starts after.
    pub async fn shutdown(&self) {
        let fetchers: Vec<Fetcher> = {
            let mut state = lock(&self.fetchers);
            state.closed = true;
            state.by_key.drain().map(|(_, f)| f).collect()
        };
        for f in fetchers {
            drop(f.tx);
            f.task.abort();
            let _ = f.task.await;
        }
    }

    /// Which partitions each fetcher follows (for tests).
    #[cfg(test)]
    fn assignment(&self) -> BTreeMap<FetcherKey, Vec<TopicPartition>> {
        lock(&self.fetchers)
            .by_key
            .iter()
            .map(|(k, f)| (*k, f.partitions.keys().cloned().collect()))
            .collect()
    }
}

struct FollowedPartition {
    partition: Arc<Partition>,
    /// Parked after an error until then.
    delayed_until: Option<Instant>,
    /// Newly followed: find the divergence point with the leader before fetching.
    truncating: bool,
}

/// The fetcher task for one (leader, fetcher id).
async fn run(
    mut rx: mpsc::UnboundedReceiver<Command>,
    key: FetcherKey,
    leader: LeaderEndpoint,
    config: FetcherConfig,
) {
    let mut client = BrokerClient::new(
        &leader.host,
        leader.port,
        format!("broker-{}-fetcher-{}", config.broker_id, key.fetcher_id),
        config.socket_timeout,
    );
    let mut partitions: BTreeMap<TopicPartition, FollowedPartition> = BTreeMap::new();
    loop {
        // Apply queued commands; a closed channel ends the task.
        loop {
            match rx.try_recv() {
                Ok(cmd) => apply(&mut partitions, cmd),
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => return,
            }
        }
        let now = Instant::now();
        let truncating: Vec<Arc<Partition>> = partitions
            .values()
            .filter(|p| p.truncating && p.delayed_until.is_none_or(|t| t <= now))
            .map(|p| Arc::clone(&p.partition))
            .collect();
        if !truncating.is_empty() {
            match truncate_to_leader(&mut client, &config, &truncating).await {
                Ok(outcomes) => {
                    let until = Instant::now() + config.backoff;
                    for (tp, outcome) in outcomes {
                        if let Some(p) = partitions.get_mut(&tp) {
                            match outcome {
                                Truncation::Done => p.truncating = false,
                                Truncation::Again => {}
                                Truncation::Failed => p.delayed_until = Some(until),
                            }
                        }
                    }
                }
                Err(e) => {
                    warn!(leader = leader.broker_id, fetcher_id = key.fetcher_id, error = %e, "OffsetForLeaderEpoch failed; backing off");
                    tokio::time::sleep(config.backoff).await;
                }
            }
            continue;
        }
        let ready: Vec<Arc<Partition>> = partitions
            .values()
            .filter(|p| p.delayed_until.is_none_or(|t| t <= now))
            .map(|p| Arc::clone(&p.partition))
            .collect();
        if ready.is_empty() {
            let wake = partitions
                .values()
                .filter_map(|p| p.delayed_until)
                .min()
                .unwrap_or(now + Duration::from_secs(3600));
            tokio::select! {
                cmd = rx.recv() => match cmd {
                    Some(cmd) => apply(&mut partitions, cmd),
                    None => return,
                },
                _ = tokio::time::sleep_until(wake) => {}
            }
            continue;
        }
        match fetch_once(&mut client, &config, &ready).await {
            Ok(parked) => {
                let until = Instant::now() + config.backoff;
                for tp in parked {
                    if let Some(p) = partitions.get_mut(&tp) {
                        p.delayed_until = Some(until);
                    }
                }
            }
            Err(e) => {
                warn!(leader = leader.broker_id, fetcher_id = key.fetcher_id, error = %e, "replica fetch failed; backing off");
                tokio::select! {
                    cmd = rx.recv() => match cmd {
                        Some(cmd) => apply(&mut partitions, cmd),
                        None => return,
                    },
                    _ = tokio::time::sleep(config.backoff) => {}
                }
            }
        }
    }
}

fn apply(partitions: &mut BTreeMap<TopicPartition, FollowedPartition>, cmd: Command) {
    match cmd {
        Command::Add(added) => {
            for p in added {
                partitions.insert(
                    p.topic_partition().clone(),
                    FollowedPartition {
                        partition: p,
                        delayed_until: None,
                        truncating: true,
                    },
                );
            }
        }
        Command::Remove(tps) => {
            for tp in tps {
                partitions.remove(&tp);
            }
        }
    }
}

/// One fetch round; returns the partitions to park.
async fn fetch_once(
    client: &mut BrokerClient,
    config: &FetcherConfig,
    partitions: &[Arc<Partition>],
) -> Result<Vec<TopicPartition>, crate::network::BrokerClientError> {
    // The offsets this round asks for, to detect truncation while the fetch was in flight.
    let mut by_tp: HashMap<(String, i32), (Arc<Partition>, i64)> = HashMap::new();
    let mut topics: BTreeMap<String, Vec<FetchPartition>> = BTreeMap::new();
    for p in partitions {
        let tp = p.topic_partition();
        let fetch_offset = p.log_end_offset();
        let role = p.role();
        topics.entry(tp.topic.clone()).or_default().push(
            FetchPartition::default()
                .with_partition(tp.partition)
                .with_current_leader_epoch(role.leader_epoch)
                .with_fetch_offset(fetch_offset)
                .with_last_fetched_epoch(-1)
                .with_log_start_offset(p.log_start_offset())
                .with_partition_max_bytes(config.partition_max_bytes),
        );
        by_tp.insert(
            (tp.topic.clone(), tp.partition),
            (Arc::clone(p), fetch_offset),
        );
    }
    let request = FetchRequest::default()
        .with_replica_id(BrokerId(config.broker_id))
        .with_max_wait_ms(config.max_wait_ms)
        .with_min_bytes(config.min_bytes)
        .with_max_bytes(config.max_bytes)
        .with_session_id(0)
        .with_session_epoch(-1)
        .with_topics(
            topics
                .into_iter()
                .map(|(name, partitions)| {
                    FetchTopic::default()
                        .with_topic(TopicName(StrBytes::from_string(name)))
                        .with_partitions(partitions)
                })
                .collect(),
        );
    let wait = Duration::from_millis(config.max_wait_ms.max(0) as u64);
    let response = client.send(FETCH_VERSION, &request, wait).await?;
    let mut parked = Vec::new();
    if response.error_code != 0 {
        debug!(
            error = response.error_code,
            "replica fetch answered a top-level error"
        );
        return Ok(by_tp
            .into_values()
            .map(|(p, _)| p.topic_partition().clone())
            .collect());
    }
    for topic in response.responses {
        for data in topic.partitions {
            let key = (topic.topic.to_string(), data.partition_index);
            let Some((partition, fetch_offset)) = by_tp.get(&key) else {
                continue;
            };
            let tp = partition.topic_partition().clone();
            // Truncated or re-roled meanwhile: the answer no longer applies.
            if partition.log_end_offset() != *fetch_offset || partition.role().is_leader {
                continue;
            }
            match ResponseError::try_from_code(data.error_code) {
                None => {
                    let records = data.records.as_deref().unwrap_or_default();
                    if let Err(e) = partition.append_records_as_follower(
                        records,
                        data.high_watermark,
                        data.log_start_offset,
                        now_ms(),
                    ) {
                        warn!(%tp, error = ?e.code, message = %e.message, "could not append fetched records");
                        parked.push(tp);
                    }
                }
                Some(ResponseError::OffsetOutOfRange) => {
                    if let Err(e) = handle_out_of_range(client, config, partition).await {
                        warn!(%tp, error = %e, "could not resolve an out-of-range fetch");
                        parked.push(tp);
                    }
                }
                Some(e) => {
                    debug!(%tp, error = ?e, "replica fetch error; parking the partition");
                    parked.push(tp);
                }
            }
        }
    }
    Ok(parked)
}

enum Truncation {
    Done,
    /// The leader's answer named an older epoch than ours: ask again with it.
    Again,
    Failed,
}

/// KIP-101/279: asks the leader where our latest leader epoch ended in its log and cuts
/// ours there (never below what both logs agree on). Without epoch information (an empty
/// cache, or a leader that does not know the epoch) it falls back to the high watermark, as
/// Kafka does.
async fn truncate_to_leader(
    client: &mut BrokerClient,
    config: &FetcherConfig,
    partitions: &[Arc<Partition>],
) -> Result<Vec<(TopicPartition, Truncation)>, crate::network::BrokerClientError> {
    use kafka_protocol::messages::offset_for_leader_epoch_request::{
        OffsetForLeaderPartition, OffsetForLeaderTopic,
    };
    use kafka_protocol::messages::OffsetForLeaderEpochRequest;

    let mut outcomes = Vec::new();
    let mut asked: HashMap<(String, i32), Arc<Partition>> = HashMap::new();
    let mut topics: BTreeMap<String, Vec<OffsetForLeaderPartition>> = BTreeMap::new();
    for p in partitions {
        let tp = p.topic_partition().clone();
        let latest = crate::log::log_manager::lock_log(p.log())
            .leader_epochs()
            .latest_epoch();
        let Some(epoch) = latest else {
            let hw = crate::log::log_manager::lock_log(p.log()).high_watermark();
            let outcome = match p.truncate_to(hw) {
                Ok(()) => Truncation::Done,
                Err(_) => Truncation::Failed,
            };
            outcomes.push((tp, outcome));
            continue;
        };
        topics.entry(tp.topic.clone()).or_default().push(
            OffsetForLeaderPartition::default()
                .with_partition(tp.partition)
                .with_current_leader_epoch(p.role().leader_epoch)
                .with_leader_epoch(epoch),
        );
        asked.insert((tp.topic.clone(), tp.partition), Arc::clone(p));
    }
    if topics.is_empty() {
        return Ok(outcomes);
    }
    let request = OffsetForLeaderEpochRequest::default()
        .with_replica_id(BrokerId(config.broker_id))
        .with_topics(
            topics
                .into_iter()
                .map(|(name, partitions)| {
                    OffsetForLeaderTopic::default()
                        .with_topic(TopicName(StrBytes::from_string(name)))
                        .with_partitions(partitions)
                })
                .collect(),
        );
    let response = client
        .send(OFFSET_FOR_LEADER_EPOCH_VERSION, &request, Duration::ZERO)
        .await?;
    for topic in response.topics {
        for r in topic.partitions {
            let Some(p) = asked.get(&(topic.topic.to_string(), r.partition)) else {
                continue;
            };
            let tp = p.topic_partition().clone();
            if r.error_code != 0 {
                debug!(%tp, error = r.error_code, "OffsetForLeaderEpoch refused; retrying later");
                outcomes.push((tp, Truncation::Failed));
                continue;
            }
            let log_end = p.log_end_offset();
            let (target, again) = if r.end_offset < 0 || r.leader_epoch < 0 {
                (
                    crate::log::log_manager::lock_log(p.log()).high_watermark(),
                    false,
                )
            } else {
                let (our_epoch, our_end) =
                    crate::log::log_manager::lock_log(p.log()).end_offset_for_epoch(r.leader_epoch);
                if our_epoch < 0 {
                    (
                        crate::log::log_manager::lock_log(p.log()).high_watermark(),
                        false,
                    )
                } else {
                    (r.end_offset.min(our_end), our_epoch != r.leader_epoch)
                }
            };
            let target = target.min(log_end);
            info!(%tp, leader_epoch = r.leader_epoch, leader_end_offset = r.end_offset, truncate_to = target, "follower truncation point");
            let outcome = match p.truncate_to(target) {
                Ok(()) if again => Truncation::Again,
                Ok(()) => Truncation::Done,
                Err(_) => Truncation::Failed,
            };
            outcomes.push((tp, outcome));
        }
    }
    for (key, p) in asked {
        if !outcomes
            .iter()
            .any(|(tp, _)| tp.topic == key.0 && tp.partition == key.1)
        {
            outcomes.push((p.topic_partition().clone(), Truncation::Failed));
        }
    }
    Ok(outcomes)
}

/// Kafka's `handleOutOfRangeError`: a longer local log is cut to the leader's end; a local
/// log behind the leader's start restarts there.
async fn handle_out_of_range(
    client: &mut BrokerClient,
    config: &FetcherConfig,
    partition: &Partition,
) -> Result<(), String> {
    let tp = partition.topic_partition();
    let leader_end = list_offset(client, config, partition, -1).await?;
    if leader_end < partition.log_end_offset() {
        warn!(%tp, leader_end, local_end = partition.log_end_offset(), "follower log is ahead of the leader; truncating");
        return partition.truncate_to(leader_end).map_err(|e| e.message);
    }
    let leader_start = list_offset(client, config, partition, -2).await?;
    warn!(%tp, leader_start, local_end = partition.log_end_offset(), "follower log is behind the leader's log start; restarting it there");
    partition
        .truncate_fully_and_start_at(leader_start)
        .map_err(|e| e.message)
}

async fn list_offset(
    client: &mut BrokerClient,
    config: &FetcherConfig,
    partition: &Partition,
    timestamp: i64,
) -> Result<i64, String> {
    let tp = partition.topic_partition();
    let request = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(config.broker_id))
        .with_topics(vec![ListOffsetsTopic::default()
            .with_name(TopicName(StrBytes::from_string(tp.topic.clone())))
            .with_partitions(vec![ListOffsetsPartition::default()
                .with_partition_index(tp.partition)
                .with_current_leader_epoch(partition.role().leader_epoch)
                .with_timestamp(timestamp)])]);
    let response = client
        .send(LIST_OFFSETS_VERSION, &request, Duration::ZERO)
        .await
        .map_err(|e| e.to_string())?;
    let p = response
        .topics
        .first()
        .and_then(|t| t.partitions.first())
        .ok_or_else(|| "empty ListOffsets response".to_string())?;
    if p.error_code != 0 {
        return Err(format!("ListOffsets error {}", p.error_code));
    }
    Ok(p.offset)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::LogConfig;
    use crate::log::{LoadOptions, Log};
    use crate::server::partition::PartitionRole;

    fn tp(topic: &str, partition: i32) -> TopicPartition {
        TopicPartition::new(topic, partition)
    }

    #[test]
    fn fetcher_ids_follow_kafkas_get_fetcher_id() {
        // "a".hashCode() = 97: 31 * 97 + p = 3007 + p.
        assert_eq!(java_string_hash_code("a"), 97);
        assert_eq!(fetcher_id(&tp("a", 0), 3), 3007 % 3);
        assert_eq!(
            (0..6)
                .map(|p| fetcher_id(&tp("a", p), 3))
                .collect::<Vec<_>>(),
            vec![1, 2, 0, 1, 2, 0]
        );
        // A negative hash whose product with 31 wraps to a positive number:
        // 31 * -1906497762 = -59101430622 ≡ 1028111522 (mod 2^32).
        assert_eq!(java_string_hash_code("my-group"), -1_906_497_762);
        assert_eq!(fetcher_id(&tp("my-group", 0), 3), 1_028_111_522 % 3);
        assert_eq!(fetcher_id(&tp("my-group", 0), 3), 2);
        assert_eq!(fetcher_id(&tp("my-group", 1), 2), 1_028_111_523 % 2);
        // A negative hash whose product stays negative: 31 * -970371369 ≡ -16741367, so
        // partition 0 gets abs(-16741367) % 3 = 2 and partition 5 abs(-16741362) % 3 = 0.
        assert_eq!(java_string_hash_code("__consumer_offsets"), -970_371_369);
        assert_eq!(
            (0..6)
                .map(|p| fetcher_id(&tp("__consumer_offsets", p), 3))
                .collect::<Vec<_>>(),
            vec![2, 1, 0, 2, 1, 0]
        );
        // hashCode == Integer.MIN_VALUE: 31 * MIN wraps to MIN, and Utils.abs(MIN) == 0.
        assert_eq!(fetcher_id(&tp("polygenelubricants", 0), 3), 0);
        assert_eq!(fetcher_id(&tp("polygenelubricants", 0), 7), 0);
        // MIN + 1 → 2147483647.
        assert_eq!(fetcher_id(&tp("polygenelubricants", 1), 3), i32::MAX % 3);
        // One fetcher (and a nonsensical size) → fetcher 0.
        assert_eq!(fetcher_id(&tp("my-group", 0), 1), 0);
        assert_eq!(fetcher_id(&tp("my-group", 0), 0), 0);
    }

    fn follower(dir: &Path, tp: &TopicPartition) -> Arc<Partition> {
        let mut props = BTreeMap::new();
        props.insert("zookeeper.connect".to_string(), "zk:2181".to_string());
        let broker = KafkaConfig::from_props(&props).unwrap();
        let log_config = LogConfig::from_broker_and_overrides(&broker, &BTreeMap::new()).unwrap();
        let log = Log::open(
            &dir.join(tp.dir_name()),
            tp.clone(),
            Arc::new(log_config),
            LoadOptions {
                recovery_point: 0,
                log_start_offset: 0,
                had_clean_shutdown: false,
                now_ms: 0,
            },
        )
        .unwrap();
        let role = PartitionRole {
            topic_id: None,
            leader: 1,
            leader_epoch: 0,
            is_leader: false,
            isr: vec![1, 2],
            replicas: vec![1, 2],
            partition_epoch: 0,
        };
        Arc::new(Partition::new(
            tp.clone(),
            2,
            Arc::new(Mutex::new(log)),
            role,
            Arc::new(watch::Sender::new(0)),
        ))
    }

    /// A loopback port nothing listens on (the fetchers' connections are refused and they
    /// back off; only the manager's bookkeeping is under test).
    fn closed_port() -> u16 {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    }

    fn config(num_fetchers: i32) -> FetcherConfig {
        FetcherConfig {
            broker_id: 2,
            num_fetchers,
            max_wait_ms: 100,
            min_bytes: 1,
            max_bytes: 1 << 20,
            partition_max_bytes: 1 << 20,
            backoff: Duration::from_secs(5),
            socket_timeout: Duration::from_secs(1),
        }
    }

    fn key(leader_id: i32, fetcher_id: i32) -> FetcherKey {
        FetcherKey {
            leader_id,
            fetcher_id,
        }
    }

    fn port_of(m: &ReplicaFetcherManager, k: FetcherKey) -> Option<u16> {
        lock(&m.fetchers).by_key.get(&k).map(|f| f.endpoint.port)
    }

    #[tokio::test]
    async fn partitions_of_one_leader_spread_over_the_fetchers_and_move_on_resize() {
        let dir = tempfile::tempdir().unwrap();
        let a: Vec<Arc<Partition>> = (0..5).map(|p| follower(dir.path(), &tp("a", p))).collect();
        let leader = LeaderEndpoint {
            broker_id: 1,
            host: "127.0.0.1".into(),
            port: closed_port(),
        };
        let m = ReplicaFetcherManager::new(config(2));
        // With 2 fetchers "a-0" → 3007 % 2 = 1 and "a-1" → 3008 % 2 = 0.
        m.add_partitions(&leader, vec![Arc::clone(&a[0]), Arc::clone(&a[1])]);
        assert_eq!(
            m.assignment(),
            BTreeMap::from([(key(1, 0), vec![tp("a", 1)]), (key(1, 1), vec![tp("a", 0)])])
        );
        // Adding again does not duplicate; removal reaches the holder only.
        m.add_partitions(&leader, vec![Arc::clone(&a[0])]);
        m.remove_partitions(&[tp("a", 0), tp("b", 0)]);
        assert_eq!(
            m.assignment(),
            BTreeMap::from([(key(1, 0), vec![tp("a", 1)]), (key(1, 1), vec![])])
        );
        // The idle fetcher stops at the end of the request.
        m.shutdown_idle_fetchers();
        assert_eq!(
            m.assignment(),
            BTreeMap::from([(key(1, 0), vec![tp("a", 1)])])
        );

        // Resizing to 3 re-keys: "a-1" → 3008 % 3 = 2; fetcher 0 is left idle and stops.
        m.resize(3);
        assert_eq!(
            m.assignment(),
            BTreeMap::from([(key(1, 2), vec![tp("a", 1)])])
        );
        m.resize(3);
        assert_eq!(m.assignment().len(), 1, "an unchanged size moves nothing");

        // The leader moved: adding "a-4" (3011 % 3 = 2) replaces fetcher (1, 2), and "a-1"
        // moves to the replacement.
        let moved = LeaderEndpoint {
            port: closed_port(),
            ..leader.clone()
        };
        assert_ne!(moved.port, leader.port);
        m.add_partitions(&moved, vec![Arc::clone(&a[4])]);
        assert_eq!(
            m.assignment(),
            BTreeMap::from([(key(1, 2), vec![tp("a", 1), tp("a", 4)])])
        );
        assert_eq!(port_of(&m, key(1, 2)), Some(moved.port));

        // Shrinking to 1: everything on fetcher 0.
        m.resize(1);
        assert_eq!(
            m.assignment(),
            BTreeMap::from([(key(1, 0), vec![tp("a", 1), tp("a", 4)])])
        );

        m.shutdown().await;
        assert!(m.assignment().is_empty());
        m.add_partitions(&leader, vec![Arc::clone(&a[2])]);
        assert!(m.assignment().is_empty(), "nothing starts after shutdown");
    }

    #[tokio::test]
    async fn a_dynamic_num_replica_fetchers_change_resizes_the_pool() {
        let dir = tempfile::tempdir().unwrap();
        let leader = LeaderEndpoint {
            broker_id: 1,
            host: "127.0.0.1".into(),
            port: closed_port(),
        };
        let m = ReplicaFetcherManager::new(config(1));
        m.add_partitions(
            &leader,
            (0..3).map(|p| follower(dir.path(), &tp("a", p))).collect(),
        );
        assert_eq!(m.assignment().len(), 1);
        let broker = |n: &str| {
            let mut props = BTreeMap::new();
            props.insert("zookeeper.connect".to_string(), "zk:2181".to_string());
            props.insert("num.replica.fetchers".to_string(), n.to_string());
            Arc::new(KafkaConfig::from_props(&props).unwrap())
        };
        let (tx, rx) = watch::channel(broker("1"));
        let follower_task = m.follow_config(rx);
        tx.send_replace(broker("3"));
        let deadline = Instant::now() + Duration::from_secs(10);
        while m.assignment().len() != 3 {
            assert!(Instant::now() < deadline, "{:?}", m.assignment());
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // "a-p" → (3007 + p) % 3.
        assert_eq!(
            m.assignment(),
            BTreeMap::from([
                (key(1, 0), vec![tp("a", 2)]),
                (key(1, 1), vec![tp("a", 0)]),
                (key(1, 2), vec![tp("a", 1)]),
            ])
        );
        drop(tx);
        tokio::time::timeout(Duration::from_secs(10), follower_task)
            .await
            .expect("the follower task ends with the config channel")
            .unwrap();
        m.shutdown().await;
    }
}
