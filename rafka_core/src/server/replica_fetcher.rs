//! Replica fetchers (Kafka's `ReplicaFetcherManager` + `ReplicaFetcherThread`): a follower
//! copies its partitions from their leaders. One task per leader broker holds the
//! partitions this broker follows there and loops: Fetch (as replica `broker.id`, from each
//! partition's log end offset, waiting up to `replica.fetch.wait.max.ms`), append the
//! batches verbatim, take the leader's high watermark and log start offset.
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
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::{BrokerId, FetchRequest, ListOffsetsRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::cluster::TopicPartition;
use crate::config::KafkaConfig;
use crate::log::log_manager::now_ms;
use crate::network::BrokerClient;

use super::partition::Partition;

/// Fetch version the followers send: flexible, topics by name.
const FETCH_VERSION: i16 = 12;
const LIST_OFFSETS_VERSION: i16 = 5;
const OFFSET_FOR_LEADER_EPOCH_VERSION: i16 = 4;

/// The fetcher settings (Kafka's `replica.*`).
#[derive(Clone, Debug)]
pub struct FetcherConfig {
    pub broker_id: i32,
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
}

/// See the module doc.
#[derive(Debug)]
pub struct ReplicaFetcherManager {
    config: FetcherConfig,
    fetchers: Mutex<HashMap<i32, Fetcher>>,
}

impl std::fmt::Debug for Fetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetcher")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl ReplicaFetcherManager {
    pub fn new(config: FetcherConfig) -> ReplicaFetcherManager {
        ReplicaFetcherManager {
            config,
            fetchers: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i32, Fetcher>> {
        self.fetchers.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts fetching `partitions` from `leader` (a fetcher per leader; one whose address
    /// changed is replaced). Each partition is first removed from any other fetcher.
    pub fn add_partitions(&self, leader: &LeaderEndpoint, partitions: Vec<Arc<Partition>>) {
        let tps: Vec<TopicPartition> = partitions
            .iter()
            .map(|p| p.topic_partition().clone())
            .collect();
        self.remove_partitions(&tps);
        let mut fetchers = self.lock();
        let stale = fetchers
            .get(&leader.broker_id)
            .is_some_and(|f| f.endpoint != *leader || f.tx.is_closed());
        if stale {
            if let Some(old) = fetchers.remove(&leader.broker_id) {
                old.task.abort();
            }
        }
        let fetcher = fetchers.entry(leader.broker_id).or_insert_with(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            info!(leader = leader.broker_id, host = %leader.host, port = leader.port, "starting replica fetcher");
            let task = tokio::spawn(run(rx, leader.clone(), self.config.clone()));
            Fetcher {
                endpoint: leader.clone(),
                tx,
                task,
            }
        });
        let _ = fetcher.tx.send(Command::Add(partitions));
    }

    /// Stops fetching these partitions (they became leaders, or were stopped or deleted).
    pub fn remove_partitions(&self, tps: &[TopicPartition]) {
        if tps.is_empty() {
            return;
        }
        for fetcher in self.lock().values() {
            let _ = fetcher.tx.send(Command::Remove(tps.to_vec()));
        }
    }

    /// Stops every fetcher (broker shutdown, before the logs close).
    pub async fn shutdown(&self) {
        let fetchers: Vec<Fetcher> = self.lock().drain().map(|(_, f)| f).collect();
        for f in fetchers {
            drop(f.tx);
            f.task.abort();
            let _ = f.task.await;
        }
    }
}

struct FollowedPartition {
    partition: Arc<Partition>,
    /// Parked after an error until then.
    delayed_until: Option<Instant>,
    /// Newly followed: find the divergence point with the leader before fetching.
    truncating: bool,
}

/// The fetcher task for one leader.
async fn run(
    mut rx: mpsc::UnboundedReceiver<Command>,
    leader: LeaderEndpoint,
    config: FetcherConfig,
) {
    let mut client = BrokerClient::new(
        &leader.host,
        leader.port,
        format!("broker-{}-fetcher-0", config.broker_id),
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
                    warn!(leader = leader.broker_id, error = %e, "OffsetForLeaderEpoch failed; backing off");
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
                warn!(leader = leader.broker_id, error = %e, "replica fetch failed; backing off");
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
