//! The socket server's settings, taken from `KafkaConfig` once at bind time (Kafka reads the
//! same keys in `SocketServer`/`ConnectionQuotas`).

use std::collections::BTreeMap;
use std::time::Duration;

use crate::config::KafkaConfig;

/// Settings of the listeners, connections and framing.
#[derive(Debug, Clone)]
pub struct SocketServerConfig {
    /// `socket.request.max.bytes`: larger frames close the connection.
    pub socket_request_max_bytes: usize,
    /// `connections.max.idle.ms`: a connection with no read or write progress for this long
    /// is closed; `None` (a negative value) disables idle expiry, as in Kafka's `Selector`.
    pub connections_max_idle: Option<Duration>,
    /// `max.connections`: total over all listeners (the inter-broker listener is exempt when
    /// there are several listeners, as in Kafka).
    pub max_connections: usize,
    /// Per-listener limit (`listener.name.<name>.max.connections`, else `max.connections`),
    /// by upper-case listener name; a listener missing here is limited by `max_connections`.
    pub listener_max_connections: BTreeMap<String, usize>,
    /// `max.connections.per.ip`.
    pub max_connections_per_ip: usize,
    /// `max.connections.per.ip.overrides`: host or IP → limit.
    pub max_connections_per_ip_overrides: BTreeMap<String, usize>,
    /// `socket.send.buffer.bytes` / `socket.receive.buffer.bytes` (-1: OS default).
    pub socket_send_buffer_bytes: i32,
    pub socket_receive_buffer_bytes: i32,
    /// `socket.listen.backlog.size`.
    pub listen_backlog: u32,
    /// `inter.broker.listener.name`.
    pub inter_broker_listener_name: Option<String>,
    /// How long `shutdown()` waits for connections to close before aborting them.
    pub shutdown_timeout: Duration,
}

fn to_usize(v: i64) -> usize {
    usize::try_from(v.max(0)).unwrap_or(usize::MAX)
}

impl SocketServerConfig {
    pub fn from_kafka_config(config: &KafkaConfig) -> SocketServerConfig {
        // Kafka limits every listener by `listener.name.<name>.max.connections`, falling back
        // to the broker-wide `max.connections`.
        let listener_max_connections = config
            .listeners()
            .iter()
            .filter_map(|ep| {
                let limit = config
                    .listener_config(&ep.listener_name, "max.connections")?
                    .as_int()?;
                Some((ep.listener_name.clone(), to_usize(i64::from(limit))))
            })
            .collect();
        SocketServerConfig {
            socket_request_max_bytes: to_usize(i64::from(config.socket_request_max_bytes())),
            connections_max_idle: u64::try_from(config.connections_max_idle_ms())
                .ok()
                .map(Duration::from_millis),
            max_connections: to_usize(i64::from(config.max_connections())),
            listener_max_connections,
            max_connections_per_ip: to_usize(i64::from(config.max_connections_per_ip())),
            max_connections_per_ip_overrides: config
                .max_connections_per_ip_overrides()
                .into_iter()
                .map(|(host, limit)| (host, to_usize(i64::from(limit))))
                .collect(),
            socket_send_buffer_bytes: config.socket_send_buffer_bytes(),
            socket_receive_buffer_bytes: config.socket_receive_buffer_bytes(),
            listen_backlog: u32::try_from(config.socket_listen_backlog_size().max(1)).unwrap_or(50),
            inter_broker_listener_name: Some(config.inter_broker_listener_name()),
            shutdown_timeout: Duration::from_secs(5),
        }
    }
}

impl From<&KafkaConfig> for SocketServerConfig {
    fn from(config: &KafkaConfig) -> SocketServerConfig {
        SocketServerConfig::from_kafka_config(config)
    }
}

impl Default for SocketServerConfig {
    /// Kafka's defaults.
    fn default() -> SocketServerConfig {
        SocketServerConfig {
            socket_request_max_bytes: 104_857_600,
            connections_max_idle: Some(Duration::from_millis(600_000)),
            max_connections: i32::MAX as usize,
            listener_max_connections: BTreeMap::new(),
            max_connections_per_ip: i32::MAX as usize,
            max_connections_per_ip_overrides: BTreeMap::new(),
            socket_send_buffer_bytes: 102_400,
            socket_receive_buffer_bytes: 102_400,
            listen_backlog: 50,
            inter_broker_listener_name: None,
            shutdown_timeout: Duration::from_secs(5),
        }
    }
}
