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
use kafka_protocol::messages::update_metadata_request::{
    UpdateMetadataBroker, UpdateMetadataEndpoint,
};
use kafka_protocol::messages::{
    ApiKey, RequestHeader, ResponseHeader, UpdateMetadataRequest, UpdateMetadataResponse,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

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

/// Settings taken from the broker config.
#[derive(Debug, Clone)]
pub struct ChannelConfig {
    pub controller_id: i32,
    pub listener_name: String,
    pub socket_timeout: Duration,
    /// Version of UpdateMetadata to send (from `inter.broker.protocol.version`).
    pub update_metadata_version: i16,
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
            );
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
