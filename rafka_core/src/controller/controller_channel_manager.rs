//! `ControllerChannelManager`: the active controller's connections to every live broker
//! (Kafka's `ControllerChannelManager` + `RequestSendThread`).
//!
//! One queue and one sender task per live broker, connected to the broker's endpoint for
//! `inter.broker.listener.name` (from its `/brokers/ids` registration; the controller's own
//! broker is reached over the network too, as in Kafka). Requests go out strictly in queue
//! order, one in flight at a time. A failed attempt (connect, write, read, or no answer within
//! `controller.socket.timeout.ms`) drops the connection and is retried after a back-off; after
//! [`MAX_ATTEMPTS`] the request is dropped with a warning (the next state change sends fresh
//! metadata anyway). Started on failover, stopped on resignation (dropping the manager aborts
//! every sender), brokers added and removed as `/brokers/ids` changes.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::leader_and_isr_request::{
    LeaderAndIsrLiveLeader, LeaderAndIsrPartitionState, LeaderAndIsrTopicState,
};
use kafka_protocol::messages::stop_replica_request::{
    StopReplicaPartitionState, StopReplicaPartitionV0, StopReplicaTopicState, StopReplicaTopicV1,
};
use kafka_protocol::messages::update_metadata_request::{
    UpdateMetadataBroker, UpdateMetadataEndpoint, UpdateMetadataTopicState,
};
use kafka_protocol::messages::{
    ApiKey, BrokerId, LeaderAndIsrRequest, LeaderAndIsrResponse, RequestHeader, ResponseHeader,
    StopReplicaRequest, StopReplicaResponse, TopicName, UpdateMetadataRequest,
    UpdateMetadataResponse,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};
use uuid::Uuid;

use crate::cluster::{EndPoint, SecurityProtocol};
use crate::config::{KafkaConfig, ProtocolVersion};
use crate::majordomo::LiveBroker;

/// Attempts per request before it is dropped.
pub const MAX_ATTEMPTS: u32 = 10;
/// First pause after a failed attempt; doubles up to [`MAX_BACKOFF`] (Kafka: fixed 100 ms).
const INITIAL_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(3);
/// Largest response accepted from a broker.
const MAX_RESPONSE_BYTES: usize = 100 * 1024 * 1024;

/// Why a control request got no response.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ChannelError {
    #[error("broker {0} has no endpoint for listener {1}")]
    NoEndpoint(i32, String),
    #[error("request to broker {broker_id} dropped after {attempts} attempts: {last_error}")]
    GaveUp {
        broker_id: i32,
        attempts: u32,
        last_error: String,
    },
    #[error("channel to broker {0} closed")]
    Closed(i32),
}

/// The response body bytes (after the response header), or why there are none.
pub type ControlResponse = Result<Bytes, ChannelError>;

/// A StopReplica's outcome per (topic, partition): the error code (a top-level error applies
/// to every partition, as in Kafka's response callback), or why no answer came.
pub type StopReplicaOutcome = Result<Vec<((String, i32), i16)>, String>;

/// Settings taken from the broker config.
#[derive(Debug, Clone)]
pub struct ChannelConfig {
    pub controller_id: i32,
    pub listener_name: String,
    pub socket_timeout: Duration,
    /// Version of UpdateMetadata to send (from `inter.broker.protocol.version`).
    pub update_metadata_version: i16,
    /// Version of LeaderAndIsr to send (from `inter.broker.protocol.version`).
    pub leader_and_isr_version: i16,
    /// Version of StopReplica to send (from `inter.broker.protocol.version`).
    pub stop_replica_version: i16,
}

impl ChannelConfig {
    pub fn from_config(controller_id: i32, config: &KafkaConfig) -> ChannelConfig {
        let timeout_ms = config
            .get_int("controller.socket.timeout.ms")
            .unwrap_or(30_000)
            .max(1);
        ChannelConfig {
            controller_id,
            listener_name: config.inter_broker_listener_name(),
            socket_timeout: Duration::from_millis(timeout_ms as u64),
            update_metadata_version: update_metadata_version(config.ibp()),
            leader_and_isr_version: leader_and_isr_version(config.ibp()),
            stop_replica_version: stop_replica_version(config.ibp()),
        }
    }
}

/// The UpdateMetadata version a 2.8 controller sends for `ibp`.
pub fn update_metadata_version(ibp: ProtocolVersion) -> i16 {
    let at_least = |v: &str| ProtocolVersion::parse(v).is_ok_and(|v| ibp.is_at_least(v));
    if at_least("2.8-IV1") {
        7
    } else if at_least("2.4-IV1") {
        6
    } else if at_least("2.2-IV0") {
        5
    } else if at_least("1.0-IV0") {
        4
    } else if at_least("0.10.2-IV0") {
        3
    } else if at_least("0.10.0-IV1") {
        2
    } else if at_least("0.9.0") {
        1
    } else {
        0
    }
}

/// The LeaderAndIsr version a Kafka controller sends for `ibp` (3.4-IV0 → 7, 3.2-IV0 → 6,
/// 2.8-IV1 → 5, 2.4-IV1 → 4, 2.4-IV0 → 3, 2.2-IV0 → 2, 1.0-IV0 → 1, else 0).
pub fn leader_and_isr_version(ibp: ProtocolVersion) -> i16 {
    let at_least = |v: &str| ProtocolVersion::parse(v).is_ok_and(|v| ibp.is_at_least(v));
    if at_least("3.4-IV0") {
        7
    } else if at_least("3.2-IV0") {
        6
    } else if at_least("2.8-IV1") {
        5
    } else if at_least("2.4-IV1") {
        4
    } else if at_least("2.4-IV0") {
        3
    } else if at_least("2.2-IV0") {
        2
    } else if at_least("1.0-IV0") {
        1
    } else {
        0
    }
}

/// The StopReplica version a Kafka controller sends for `ibp` (3.4-IV0 → 4, 2.6-IV0 → 3,
/// 2.4-IV1 → 2, 2.2-IV0 → 1, else 0).
pub fn stop_replica_version(ibp: ProtocolVersion) -> i16 {
    let at_least = |v: &str| ProtocolVersion::parse(v).is_ok_and(|v| ibp.is_at_least(v));
    if at_least("3.4-IV0") {
        4
    } else if at_least("2.6-IV0") {
        3
    } else if at_least("2.4-IV1") {
        2
    } else if at_least("2.2-IV0") {
        1
    } else {
        0
    }
}

struct QueueItem {
    api_key: ApiKey,
    api_version: i16,
    body: Bytes,
    on_response: Option<oneshot::Sender<ControlResponse>>,
}

struct BrokerChannel {
    broker: LiveBroker,
    queue: mpsc::UnboundedSender<QueueItem>,
    task: JoinHandle<()>,
}

/// See the module doc.
pub struct ControllerChannelManager {
    config: ChannelConfig,
    brokers: BTreeMap<i32, BrokerChannel>,
}

impl ControllerChannelManager {
    pub fn new(config: ChannelConfig) -> ControllerChannelManager {
        ControllerChannelManager {
            config,
            brokers: BTreeMap::new(),
        }
    }

    pub fn config(&self) -> &ChannelConfig {
        &self.config
    }

    /// Ids of the brokers that have a sender.
    pub fn broker_ids(&self) -> Vec<i32> {
        self.brokers.keys().copied().collect()
    }

    /// Makes the senders match `live`: removes senders of dead brokers and of brokers whose
    /// registration changed (bounced: new epoch, or new endpoints), adds the missing ones.
    pub fn sync(&mut self, live: &BTreeMap<i32, LiveBroker>) {
        let stale: Vec<i32> = self
            .brokers
            .iter()
            .filter(|(id, ch)| live.get(id) != Some(&ch.broker))
            .map(|(id, _)| *id)
            .collect();
        for id in stale {
            self.remove_broker(id);
        }
        for (id, broker) in live {
            if !self.brokers.contains_key(id) {
                self.add_broker(broker.clone());
            }
        }
    }

    /// Starts a sender for `broker` (replacing any existing one).
    pub fn add_broker(&mut self, broker: LiveBroker) {
        let id = broker.info.id;
        self.remove_broker(id);
        let endpoint = broker
            .info
            .endpoints
            .iter()
            .find(|e| e.listener_name == self.config.listener_name)
            .cloned();
        debug!(
            controller_id = self.config.controller_id,
            broker_id = id,
            ?endpoint,
            "starting the controller channel to broker"
        );
        let (tx, rx) = mpsc::unbounded_channel();
        let sender = RequestSender {
            broker_id: id,
            endpoint,
            config: self.config.clone(),
            correlation_id: 0,
            connection: None,
        };
        let task = tokio::spawn(sender.run(rx));
        self.brokers.insert(
            id,
            BrokerChannel {
                broker,
                queue: tx,
                task,
            },
        );
    }

    /// Stops the sender of `broker_id`; queued requests are dropped.
    pub fn remove_broker(&mut self, broker_id: i32) {
        if let Some(ch) = self.brokers.remove(&broker_id) {
            debug!(broker_id, "stopping the controller channel to broker");
            ch.task.abort();
        }
    }

    /// Queues an encoded request body for `broker_id`. `false` when there is no sender for it.
    pub fn send_request(
        &self,
        broker_id: i32,
        api_key: ApiKey,
        api_version: i16,
        body: Bytes,
        on_response: Option<oneshot::Sender<ControlResponse>>,
    ) -> bool {
        let Some(ch) = self.brokers.get(&broker_id) else {
            return false;
        };
        ch.queue
            .send(QueueItem {
                api_key,
                api_version,
                body,
                on_response,
            })
            .is_ok()
    }

    /// Sends UpdateMetadata with the live brokers and no partition states to every broker in
    /// `targets` (Kafka's `sendUpdateMetadataRequest(brokers, Set.empty)`). Responses are
    /// checked by a spawned task that logs errors.
    pub fn send_update_metadata(
        &self,
        controller_epoch: i32,
        live: &BTreeMap<i32, LiveBroker>,
        targets: &[i32],
        topics: &[UpdateMetadataTopicState],
    ) {
        let version = self.config.update_metadata_version;
        for &target in targets {
            let Some(target_broker) = live.get(&target) else {
                continue;
            };
            let request = update_metadata_request(
                self.config.controller_id,
                controller_epoch,
                target_broker.epoch,
                live,
                version,
            )
            .with_partitions(topics, version);
            let body = match encode_body(&request, version) {
                Ok(b) => b,
                Err(e) => {
                    warn!(error = %e, "cannot encode UpdateMetadata v{version}");
                    continue;
                }
            };
            let (tx, rx) = oneshot::channel();
            if !self.send_request(target, ApiKey::UpdateMetadata, version, body, Some(tx)) {
                continue;
            }
            tokio::spawn(async move {
                match rx.await {
                    Ok(Ok(bytes)) => {
                        let mut buf = bytes;
                        match UpdateMetadataResponse::decode(&mut buf, version) {
                            Ok(r) if r.error_code == 0 => {
                                debug!(broker_id = target, "UpdateMetadata acknowledged")
                            }
                            Ok(r) => warn!(
                                broker_id = target,
                                error_code = r.error_code,
                                "UpdateMetadata refused"
                            ),
                            Err(e) => warn!(
                                broker_id = target,
                                error = %e,
                                "undecodable UpdateMetadata response"
                            ),
                        }
                    }
                    Ok(Err(e)) => {
                        warn!(broker_id = target, error = %e, "UpdateMetadata not delivered")
                    }
                    Err(_) => {}
                }
            });
        }
    }

    /// Sends LeaderAndIsr with `partitions` (topic, topic id, state) to `target`, with the
    /// live leaders' endpoints (Kafka's `sendLeaderAndIsrRequest`). The response is logged.
    pub fn send_leader_and_isr(
        &self,
        controller_epoch: i32,
        live: &BTreeMap<i32, LiveBroker>,
        target: i32,
        partitions: Vec<(String, Uuid, LeaderAndIsrPartitionState)>,
    ) {
        let version = self.config.leader_and_isr_version;
        let Some(target_broker) = live.get(&target) else {
            return;
        };
        let request = leader_and_isr_request(
            self.config.controller_id,
            controller_epoch,
            target_broker.epoch,
            live,
            &self.config.listener_name,
            partitions,
            version,
        );
        let body = match encode_body(&request, version) {
            Ok(b) => b,
            Err(e) => {
                warn!(error = %e, "cannot encode LeaderAndIsr v{version}");
                return;
            }
        };
        let (tx, rx) = oneshot::channel();
        if !self.send_request(target, ApiKey::LeaderAndIsr, version, body, Some(tx)) {
            return;
        }
        tokio::spawn(async move {
            match rx.await {
                Ok(Ok(mut bytes)) => match LeaderAndIsrResponse::decode(&mut bytes, version) {
                    Ok(r) => {
                        let errors: Vec<(String, i32, i16)> = r
                            .partition_errors
                            .iter()
                            .chain(r.topics.iter().flat_map(|t| t.partition_errors.iter()))
                            .filter(|p| p.error_code != 0)
                            .map(|p| (p.topic_name.to_string(), p.partition_index, p.error_code))
                            .collect();
                        if r.error_code != 0 || !errors.is_empty() {
                            warn!(
                                broker_id = target,
                                error_code = r.error_code,
                                ?errors,
                                "LeaderAndIsr errors"
                            );
                        } else {
                            debug!(broker_id = target, "LeaderAndIsr acknowledged");
                        }
                    }
                    Err(e) => {
                        warn!(broker_id = target, error = %e, "undecodable LeaderAndIsr response")
                    }
                },
                Ok(Err(e)) => warn!(broker_id = target, error = %e, "LeaderAndIsr not delivered"),
                Err(_) => {}
            }
        });
    }

    /// Sends StopReplica for `partitions` (topic, partition, leader epoch) to `target`, all
    /// with the same `delete` flag (one request per flag, as Kafka must before v3). `on_done`
    /// always runs exactly once, with the per-partition outcome or why there is none.
    pub fn send_stop_replica(
        &self,
        controller_epoch: i32,
        live: &BTreeMap<i32, LiveBroker>,
        target: i32,
        partitions: Vec<(String, i32, i32)>,
        delete: bool,
        on_done: impl FnOnce(StopReplicaOutcome) + Send + 'static,
    ) {
        let version = self.config.stop_replica_version;
        let Some(target_broker) = live.get(&target) else {
            on_done(Err(format!("broker {target} is not live")));
            return;
        };
        let request = stop_replica_request(
            self.config.controller_id,
            controller_epoch,
            target_broker.epoch,
            &partitions,
            delete,
            version,
        );
        let body = match encode_body(&request, version) {
            Ok(b) => b,
            Err(e) => {
                warn!(error = %e, "cannot encode StopReplica v{version}");
                on_done(Err(e));
                return;
            }
        };
        let (tx, rx) = oneshot::channel();
        if !self.send_request(target, ApiKey::StopReplica, version, body, Some(tx)) {
            on_done(Err(format!("no channel to broker {target}")));
            return;
        }
        let sent: Vec<(String, i32)> = partitions.into_iter().map(|(t, p, _)| (t, p)).collect();
        tokio::spawn(async move {
            let outcome = match rx.await {
                Ok(Ok(mut bytes)) => match StopReplicaResponse::decode(&mut bytes, version) {
                    Ok(r) if r.error_code != 0 => {
                        warn!(
                            broker_id = target,
                            error_code = r.error_code,
                            "StopReplica refused"
                        );
                        Ok(sent.into_iter().map(|tp| (tp, r.error_code)).collect())
                    }
                    Ok(r) => {
                        let mut errors: BTreeMap<(String, i32), i16> = r
                            .partition_errors
                            .iter()
                            .map(|p| ((p.topic_name.to_string(), p.partition_index), p.error_code))
                            .collect();
                        // A partition the broker did not answer for counts as failed.
                        let unknown = kafka_protocol::ResponseError::UnknownServerError.code();
                        Ok(sent
                            .into_iter()
                            .map(|tp| {
                                let code = errors.remove(&tp).unwrap_or(unknown);
                                (tp, code)
                            })
                            .collect())
                    }
                    Err(e) => Err(format!("undecodable StopReplica response: {e}")),
                },
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err(format!("channel to broker {target} closed")),
            };
            on_done(outcome);
        });
    }

    /// Stops every sender.
    pub fn shutdown(&mut self) {
        let ids = self.broker_ids();
        for id in ids {
            self.remove_broker(id);
        }
    }
}

impl Drop for ControllerChannelManager {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Builds UpdateMetadata at `version`: controller id/epoch, the target's broker epoch (v5+),
/// every live broker with its endpoints (v1+, listener names v3+, rack v2+; v0: the
/// PLAINTEXT host/port), no partition states.
pub fn update_metadata_request(
    controller_id: i32,
    controller_epoch: i32,
    target_broker_epoch: i64,
    live: &BTreeMap<i32, LiveBroker>,
    version: i16,
) -> UpdateMetadataRequest {
    let brokers = live
        .values()
        .map(|b| {
            let mut broker = UpdateMetadataBroker::default().with_id(b.info.id.into());
            if version == 0 {
                if let Some(e) = b
                    .info
                    .endpoints
                    .iter()
                    .find(|e| e.security_protocol == SecurityProtocol::Plaintext)
                {
                    broker = broker
                        .with_v0_host(StrBytes::from_string(e.host.clone()))
                        .with_v0_port(e.port.into());
                }
            } else {
                broker = broker.with_endpoints(
                    b.info
                        .endpoints
                        .iter()
                        .map(|e| {
                            let mut ep = UpdateMetadataEndpoint::default()
                                .with_host(StrBytes::from_string(e.host.clone()))
                                .with_port(e.port.into())
                                .with_security_protocol(e.security_protocol.id());
                            if version >= 3 {
                                ep = ep
                                    .with_listener(StrBytes::from_string(e.listener_name.clone()));
                            }
                            ep
                        })
                        .collect(),
                );
            }
            if version >= 2 {
                broker = broker.with_rack(b.info.rack.clone().map(StrBytes::from_string));
            }
            broker
        })
        .collect();
    let mut request = UpdateMetadataRequest::default()
        .with_controller_id(controller_id.into())
        .with_controller_epoch(controller_epoch)
        .with_live_brokers(brokers);
    if version >= 5 {
        request = request.with_broker_epoch(target_broker_epoch);
    }
    request
}

/// Partition states for UpdateMetadata, shaped for `version`.
trait WithPartitions {
    fn with_partitions(self, topics: &[UpdateMetadataTopicState], version: i16) -> Self;
}

impl WithPartitions for UpdateMetadataRequest {
    /// v0–4: ungrouped states carrying the topic name; v5+: grouped by topic (topic id v7+);
    /// offline replicas only v4+.
    fn with_partitions(mut self, topics: &[UpdateMetadataTopicState], version: i16) -> Self {
        if version < 5 {
            self.ungrouped_partition_states = topics
                .iter()
                .flat_map(|t| {
                    t.partition_states.iter().map(move |p| {
                        let mut p = p.clone().with_topic_name(t.topic_name.clone());
                        if version < 4 {
                            p.offline_replicas.clear();
                        }
                        p
                    })
                })
                .collect();
        } else {
            self.topic_states = topics
                .iter()
                .map(|t| {
                    let mut t = t.clone();
                    for p in &mut t.partition_states {
                        p.topic_name = TopicName::default();
                    }
                    if version < 7 {
                        t.topic_id = Uuid::nil();
                    }
                    t
                })
                .collect();
        }
        self
    }
}

/// Builds LeaderAndIsr at `version` for `target_broker_epoch`: partitions grouped by topic
/// (v2+, topic ids v5+) or ungrouped (v0–1), and the live leaders' endpoints on `listener`.
pub fn leader_and_isr_request(
    controller_id: i32,
    controller_epoch: i32,
    target_broker_epoch: i64,
    live: &BTreeMap<i32, LiveBroker>,
    listener: &str,
    partitions: Vec<(String, Uuid, LeaderAndIsrPartitionState)>,
    version: i16,
) -> LeaderAndIsrRequest {
    let mut leaders: Vec<i32> = partitions.iter().map(|(_, _, p)| p.leader.0).collect();
    leaders.sort_unstable();
    leaders.dedup();
    let live_leaders = leaders
        .into_iter()
        .filter_map(|id| {
            let b = live.get(&id)?;
            let e = b
                .info
                .endpoints
                .iter()
                .find(|e| e.listener_name == listener)?;
            Some(
                LeaderAndIsrLiveLeader::default()
                    .with_broker_id(BrokerId(id))
                    .with_host_name(StrBytes::from_string(e.host.clone()))
                    .with_port(e.port.into()),
            )
        })
        .collect();
    let shape = |mut p: LeaderAndIsrPartitionState| {
        if version < 1 {
            p.is_new = false;
        }
        if version < 3 {
            p.adding_replicas.clear();
            p.removing_replicas.clear();
        }
        if version < 6 {
            p.leader_recovery_state = 0;
        }
        p
    };
    let mut request = LeaderAndIsrRequest::default()
        .with_controller_id(BrokerId(controller_id))
        .with_controller_epoch(controller_epoch)
        .with_live_leaders(live_leaders);
    if version >= 2 {
        request = request.with_broker_epoch(target_broker_epoch);
    }
    if version < 2 {
        request.ungrouped_partition_states = partitions
            .into_iter()
            .map(|(name, _, p)| shape(p.with_topic_name(TopicName(StrBytes::from_string(name)))))
            .collect();
    } else {
        let mut grouped: BTreeMap<String, LeaderAndIsrTopicState> = BTreeMap::new();
        for (name, id, p) in partitions {
            let topic = grouped.entry(name.clone()).or_insert_with(|| {
                let mut t = LeaderAndIsrTopicState::default()
                    .with_topic_name(TopicName(StrBytes::from_string(name.clone())));
                if version >= 5 {
                    t = t.with_topic_id(id);
                }
                t
            });
            topic
                .partition_states
                .push(shape(p.with_topic_name(TopicName::default())));
        }
        request.topic_states = grouped.into_values().collect();
    }
    request
}

/// Builds StopReplica at `version` for `target_broker_epoch`: v0 ungrouped, v1–2 grouped by
/// topic with the top-level delete flag, v3+ per-partition leader epoch and delete flag.
pub fn stop_replica_request(
    controller_id: i32,
    controller_epoch: i32,
    target_broker_epoch: i64,
    partitions: &[(String, i32, i32)],
    delete: bool,
    version: i16,
) -> StopReplicaRequest {
    let mut request = StopReplicaRequest::default()
        .with_controller_id(BrokerId(controller_id))
        .with_controller_epoch(controller_epoch);
    if version >= 1 {
        request = request.with_broker_epoch(target_broker_epoch);
    }
    let name = |t: &str| TopicName(StrBytes::from_string(t.to_string()));
    if version == 0 {
        request.delete_partitions = delete;
        request.ungrouped_partitions = partitions
            .iter()
            .map(|(t, p, _)| {
                StopReplicaPartitionV0::default()
                    .with_topic_name(name(t))
                    .with_partition_index(*p)
            })
            .collect();
        return request;
    }
    let mut grouped: BTreeMap<&str, Vec<(i32, i32)>> = BTreeMap::new();
    for (t, p, epoch) in partitions {
        grouped.entry(t.as_str()).or_default().push((*p, *epoch));
    }
    if version < 3 {
        request.delete_partitions = delete;
        request.topics = grouped
            .into_iter()
            .map(|(t, ps)| {
                StopReplicaTopicV1::default()
                    .with_name(name(t))
                    .with_partition_indexes(ps.into_iter().map(|(p, _)| p).collect())
            })
            .collect();
    } else {
        request.topic_states = grouped
            .into_iter()
            .map(|(t, ps)| {
                StopReplicaTopicState::default()
                    .with_topic_name(name(t))
                    .with_partition_states(
                        ps.into_iter()
                            .map(|(p, epoch)| {
                                StopReplicaPartitionState::default()
                                    .with_partition_index(p)
                                    .with_leader_epoch(epoch)
                                    .with_delete_partition(delete)
                            })
                            .collect(),
                    )
            })
            .collect();
    }
    request
}

fn encode_body<T: Encodable>(body: &T, version: i16) -> Result<Bytes, String> {
    let mut buf = BytesMut::with_capacity(body.compute_size(version).map_err(|e| e.to_string())?);
    body.encode(&mut buf, version).map_err(|e| e.to_string())?;
    Ok(buf.freeze())
}

/// One broker's sender task (Kafka's `RequestSendThread`).
struct RequestSender {
    broker_id: i32,
    endpoint: Option<EndPoint>,
    config: ChannelConfig,
    correlation_id: i32,
    connection: Option<TcpStream>,
}

impl RequestSender {
    async fn run(mut self, mut queue: mpsc::UnboundedReceiver<QueueItem>) {
        while let Some(item) = queue.recv().await {
            let result = self.send_with_retries(&item).await;
            if let Some(tx) = item.on_response {
                let _ = tx.send(result);
            }
        }
    }

    async fn send_with_retries(&mut self, item: &QueueItem) -> ControlResponse {
        let Some(endpoint) = self.endpoint.clone() else {
            return Err(ChannelError::NoEndpoint(
                self.broker_id,
                self.config.listener_name.clone(),
            ));
        };
        let mut backoff = INITIAL_BACKOFF;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = tokio::time::timeout(
                self.config.socket_timeout,
                self.send_and_receive(&endpoint, item),
            )
            .await
            .unwrap_or_else(|_| Err("timed out".to_string()));
            match result {
                Ok(body) => return Ok(body),
                Err(e) => {
                    self.connection = None;
                    if attempt >= MAX_ATTEMPTS {
                        warn!(
                            broker_id = self.broker_id,
                            api = ?item.api_key,
                            attempts = attempt,
                            error = %e,
                            "giving up on a controller request"
                        );
                        return Err(ChannelError::GaveUp {
                            broker_id: self.broker_id,
                            attempts: attempt,
                            last_error: e,
                        });
                    }
                    let log_level_info = attempt == 1;
                    if log_level_info {
                        info!(
                            broker_id = self.broker_id,
                            endpoint = %endpoint,
                            error = %e,
                            "controller request failed; retrying"
                        );
                    } else {
                        debug!(broker_id = self.broker_id, attempt, error = %e, "retrying");
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    async fn send_and_receive(
        &mut self,
        endpoint: &EndPoint,
        item: &QueueItem,
    ) -> Result<Bytes, String> {
        if self.connection.is_none() {
            let host = if endpoint.host.is_empty() {
                "localhost"
            } else {
                endpoint.host.as_str()
            };
            let stream = TcpStream::connect((host, endpoint.port))
                .await
                .map_err(|e| format!("connect to {endpoint}: {e}"))?;
            let _ = stream.set_nodelay(true);
            self.connection = Some(stream);
        }
        let Some(stream) = self.connection.as_mut() else {
            return Err("no connection".to_string());
        };
        self.correlation_id = self.correlation_id.wrapping_add(1);
        let correlation_id = self.correlation_id;
        // Kafka's controller NetworkClient uses the broker id as its client id.
        let header = RequestHeader::default()
            .with_request_api_key(item.api_key as i16)
            .with_request_api_version(item.api_version)
            .with_correlation_id(correlation_id)
            .with_client_id(Some(StrBytes::from_string(
                self.config.controller_id.to_string(),
            )));
        let header_version = item.api_key.request_header_version(item.api_version);
        let header_size = header
            .compute_size(header_version)
            .map_err(|e| e.to_string())?;
        let mut frame = BytesMut::with_capacity(4 + header_size + item.body.len());
        frame.put_i32((header_size + item.body.len()) as i32);
        header
            .encode(&mut frame, header_version)
            .map_err(|e| e.to_string())?;
        frame.put_slice(&item.body);
        stream
            .write_all(&frame)
            .await
            .map_err(|e| format!("write: {e}"))?;

        let size = stream.read_i32().await.map_err(|e| format!("read: {e}"))?;
        if size < 0 || size as usize > MAX_RESPONSE_BYTES {
            return Err(format!("invalid response size {size}"));
        }
        let mut payload = vec![0u8; size as usize];
        stream
            .read_exact(&mut payload)
            .await
            .map_err(|e| format!("read: {e}"))?;
        let mut buf = Bytes::from(payload);
        let response_header_version = item.api_key.response_header_version(item.api_version);
        let response_header = ResponseHeader::decode(&mut buf, response_header_version)
            .map_err(|e| format!("response header: {e}"))?;
        if response_header.correlation_id != correlation_id {
            return Err(format!(
                "correlation id {} does not match request {correlation_id}",
                response_header.correlation_id
            ));
        }
        let _ = buf.remaining();
        Ok(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::ResponseError;
    use crate::server::apis::leader_and_isr;
    use crate::server::apis::update_metadata;
    use crate::server::metadata_cache::MetadataCache;
    use crate::zk::zk_data::BrokerInfo;
    use kafka_protocol::messages::update_metadata_request::UpdateMetadataPartitionState;

    fn live() -> BTreeMap<i32, LiveBroker> {
        [1, 2]
            .into_iter()
            .map(|id| {
                let ep = EndPoint {
                    host: "127.0.0.1".into(),
                    port: 9000 + id as u16,
                    listener_name: "PLAINTEXT".into(),
                    security_protocol: SecurityProtocol::Plaintext,
                };
                (
                    id,
                    LiveBroker {
                        info: BrokerInfo::new(id, vec![ep], None, -1, 0),
                        epoch: 100 + id as i64,
                    },
                )
            })
            .collect()
    }

    fn topic_state(id: Uuid) -> UpdateMetadataTopicState {
        UpdateMetadataTopicState::default()
            .with_topic_name(TopicName(StrBytes::from_static_str("t")))
            .with_topic_id(id)
            .with_partition_states(vec![UpdateMetadataPartitionState::default()
                .with_topic_name(TopicName(StrBytes::from_static_str("t")))
                .with_partition_index(0)
                .with_controller_epoch(3)
                .with_leader(BrokerId(2))
                .with_leader_epoch(0)
                .with_isr(vec![BrokerId(2), BrokerId(1)])
                .with_zk_version(0)
                .with_replicas(vec![BrokerId(2), BrokerId(1)])])
    }

    /// UpdateMetadata with partitions encodes at every version, and the broker's cache takes
    /// the partition (and the topic id from v7).
    #[test]
    fn update_metadata_with_partitions_every_version() {
        let id = Uuid::new_v4();
        for version in 0..=8 {
            let request = update_metadata_request(1, 3, 102, &live(), version)
                .with_partitions(&[topic_state(id)], version);
            let body = encode_body(&request, version).unwrap();
            let decoded = UpdateMetadataRequest::decode(&mut body.clone(), version).unwrap();
            let cache = MetadataCache::fixed(2, 102, None);
            assert_eq!(update_metadata::apply(&cache, &decoded, version), None);
            let snap = cache.snapshot();
            let state = &snap.partition_states[&crate::cluster::TopicPartition::new("t", 0)];
            assert_eq!(state.leader, 2, "v{version}");
            assert_eq!(state.replicas, vec![2, 1], "v{version}");
            assert_eq!(
                snap.topic_ids.get("t").copied(),
                (version >= 7).then(|| *id.as_bytes()),
                "v{version}"
            );
        }
    }

    /// LeaderAndIsr encodes at every version; the handler's epoch checks answer per
    /// partition in the version's shape.
    #[tokio::test]
    async fn leader_and_isr_every_version_and_epoch_checks() {
        let id = Uuid::new_v4();
        let partition = LeaderAndIsrPartitionState::default()
            .with_partition_index(0)
            .with_controller_epoch(3)
            .with_leader(BrokerId(2))
            .with_isr(vec![BrokerId(2)])
            .with_replicas(vec![BrokerId(2)])
            .with_is_new(true);
        for version in 0..=7 {
            let request = leader_and_isr_request(
                1,
                3,
                102,
                &live(),
                "PLAINTEXT",
                vec![("t".into(), id, partition.clone())],
                version,
            );
            assert_eq!(request.live_leaders.len(), 1);
            let body = encode_body(&request, version).unwrap();
            let decoded = LeaderAndIsrRequest::decode(&mut body.clone(), version).unwrap();
            // Our epoch (200) is newer than the request's (102): stale broker epoch (v2+).
            let cache = MetadataCache::fixed(2, 200, None);
            let response = leader_and_isr::respond(&cache, None, &decoded, version).await;
            let want = if version >= 2 {
                ResponseError::StaleBrokerEpoch
            } else {
                ResponseError::UnknownServerError
            };
            assert_eq!(response.error_code, want.code(), "v{version}");
            let errors: Vec<i16> = response
                .partition_errors
                .iter()
                .chain(
                    response
                        .topics
                        .iter()
                        .flat_map(|t| t.partition_errors.iter()),
                )
                .map(|p| p.error_code)
                .collect();
            assert_eq!(errors, vec![want.code()], "v{version}");
            if version >= 5 {
                assert_eq!(response.topics[0].topic_id, id);
            }
            let mut buf = BytesMut::new();
            response.encode(&mut buf, version).unwrap();
        }
        assert_eq!(
            leader_and_isr_version(ProtocolVersion::parse("2.8-IV1").unwrap()),
            5
        );
    }

    /// StopReplica encodes at every version and the broker reads back the same partitions,
    /// leader epochs (v3+; −1 before) and delete flag.
    #[test]
    fn stop_replica_every_version() {
        use crate::server::apis::stop_replica;
        let partitions = vec![
            ("t".to_string(), 0, -2),
            ("t".to_string(), 1, -2),
            ("u".to_string(), 0, -2),
        ];
        for version in 0..=4 {
            let request = stop_replica_request(1, 3, 102, &partitions, true, version);
            let body = encode_body(&request, version).unwrap();
            let decoded = StopReplicaRequest::decode(&mut body.clone(), version).unwrap();
            assert_eq!(decoded.broker_epoch, if version >= 1 { 102 } else { -1 });
            let read = stop_replica::partitions(&decoded, version);
            let got: Vec<(String, i32, i32, bool)> = read
                .into_iter()
                .map(|p| (p.tp.topic, p.tp.partition, p.leader_epoch, p.delete))
                .collect();
            let epoch = if version >= 3 { -2 } else { -1 };
            assert_eq!(
                got,
                vec![
                    ("t".to_string(), 0, epoch, true),
                    ("t".to_string(), 1, epoch, true),
                    ("u".to_string(), 0, epoch, true)
                ],
                "v{version}"
            );
        }
        assert_eq!(
            stop_replica_version(ProtocolVersion::parse("2.8-IV1").unwrap()),
            3
        );
        assert_eq!(
            stop_replica_version(ProtocolVersion::parse("3.9-IV0").unwrap()),
            4
        );
    }
}
