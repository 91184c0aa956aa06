//! `SocketServer`: binds the listeners, accepts connections (one acceptor task per listener,
//! one task per connection) and shuts them down (Kafka's `SocketServer`).
//!
//! Binding and processing are separate steps, as in Kafka's startup: the broker binds early
//! (so a port-0 listener has a real port before the broker registers in ZooKeeper) and only
//! starts accepting requests once every component a request may reach is up. Until
//! `start_processing`, connections wait in the kernel's listen backlog.

use std::collections::HashSet;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tracing::{debug, info, warn};

use super::config::SocketServerConfig;
use super::connection::{wait_for_shutdown, Connection};
use super::connection_quotas::{resolve_ip_overrides, ConnectionQuotas};
use super::request_handler::{ConnectionContext, RequestHandler};
use crate::cluster::EndPoint;

/// Pause after a failed `accept` (e.g. out of file descriptors) so the acceptor cannot spin.
const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(100);

#[derive(Debug, thiserror::Error)]
pub enum SocketServerError {
    #[error("Socket server failed to bind to {address}: {source}")]
    Bind {
        address: String,
        #[source]
        source: io::Error,
    },
    #[error("duplicate listener name {0}")]
    DuplicateListener(String),
    #[error("socket server already started")]
    AlreadyStarted,
    #[error("socket server is shut down")]
    ShutDown,
    #[error("start_processing must be called inside a Tokio runtime")]
    NoRuntime,
}

struct BoundListener {
    endpoint: EndPoint,
    listener: TcpListener,
}

#[derive(Default)]
struct State {
    /// Bound but not yet accepting (taken by `start_processing`).
    unstarted: Vec<BoundListener>,
    acceptors: Vec<JoinHandle<()>>,
    started: bool,
    shut_down: bool,
}

/// The broker's listeners. Dropping it stops every acceptor and connection, like `shutdown`
/// without the wait.
pub struct SocketServer {
    config: Arc<SocketServerConfig>,
    quotas: Arc<ConnectionQuotas>,
    /// The listeners with their actual bound ports (port 0 resolved).
    endpoints: Vec<EndPoint>,
    local_addrs: Vec<SocketAddr>,
    state: Mutex<State>,
    shutdown_tx: watch::Sender<bool>,
    next_connection_index: Arc<AtomicU64>,
}

impl SocketServer {
    /// Binds every listener (`listeners` = `KafkaConfig::listeners()`); nothing is accepted
    /// until [`SocketServer::start_processing`]. Fails if any listener cannot be bound.
    pub async fn bind(
        listeners: &[EndPoint],
        config: SocketServerConfig,
    ) -> Result<SocketServer, SocketServerError> {
        let mut names = HashSet::new();
        for ep in listeners {
            if !names.insert(ep.listener_name.to_ascii_uppercase()) {
                return Err(SocketServerError::DuplicateListener(
                    ep.listener_name.clone(),
                ));
            }
        }
        let mut bound = Vec::with_capacity(listeners.len());
        let mut endpoints = Vec::with_capacity(listeners.len());
        let mut local_addrs = Vec::with_capacity(listeners.len());
        for ep in listeners {
            let listener = bind_endpoint(ep, &config).await?;
            let local = listener
                .local_addr()
                .map_err(|source| SocketServerError::Bind {
                    address: ep.connection_string(),
                    source,
                })?;
            let endpoint = EndPoint {
                port: local.port(),
                ..ep.clone()
            };
            info!(
                "Awaiting socket connections on {}:{} ({}).",
                local.ip(),
                local.port(),
                endpoint.listener_name
            );
            endpoints.push(endpoint.clone());
            local_addrs.push(local);
            bound.push(BoundListener { endpoint, listener });
        }
        let per_ip_overrides = resolve_ip_overrides(&config.max_connections_per_ip_overrides).await;
        let names: Vec<String> = endpoints
            .iter()
            .map(|ep| ep.listener_name.clone())
            .collect();
        let quotas = Arc::new(ConnectionQuotas::new(&config, &names, per_ip_overrides));
        let (shutdown_tx, _) = watch::channel(false);
        Ok(SocketServer {
            config: Arc::new(config),
            quotas,
            endpoints,
            local_addrs,
            state: Mutex::new(State {
                unstarted: bound,
                ..State::default()
            }),
            shutdown_tx,
            next_connection_index: Arc::new(AtomicU64::new(0)),
        })
    }

    /// The port `listener_name` is bound to (the real one for a port-0 listener); this is what
    /// broker registration advertises for such a listener.
    pub fn bound_port(&self, listener_name: &str) -> Option<u16> {
        self.endpoints
            .iter()
            .find(|ep| ep.listener_name.eq_ignore_ascii_case(listener_name))
            .map(|ep| ep.port)
    }

    /// The configured listeners with their bound ports.
    pub fn bound_endpoints(&self) -> &[EndPoint] {
        &self.endpoints
    }

    /// The local socket address of `listener_name`.
    pub fn local_addr(&self, listener_name: &str) -> Option<SocketAddr> {
        self.endpoints
            .iter()
            .position(|ep| ep.listener_name.eq_ignore_ascii_case(listener_name))
            .and_then(|i| self.local_addrs.get(i).copied())
    }

    /// Starts one acceptor task per listener; every request goes to `handler`. Must run
    /// inside a Tokio runtime; callable once.
    pub fn start_processing(
        &self,
        handler: Arc<dyn RequestHandler>,
    ) -> Result<(), SocketServerError> {
        let runtime =
            tokio::runtime::Handle::try_current().map_err(|_| SocketServerError::NoRuntime)?;
        let mut state = self.lock_state();
        if state.shut_down {
            return Err(SocketServerError::ShutDown);
        }
        if state.started {
            return Err(SocketServerError::AlreadyStarted);
        }
        state.started = true;
        for bound in std::mem::take(&mut state.unstarted) {
            let acceptor = Acceptor {
                listener: bound.listener,
                endpoint: bound.endpoint,
                handler: Arc::clone(&handler),
                config: Arc::clone(&self.config),
                quotas: Arc::clone(&self.quotas),
                shutdown: self.shutdown_tx.subscribe(),
                next_connection_index: Arc::clone(&self.next_connection_index),
            };
            state.acceptors.push(runtime.spawn(acceptor.run()));
        }
        info!("Started socket server acceptors and processors");
        Ok(())
    }

    /// Stops accepting, closes every connection and waits (bounded by the configured
    /// shutdown timeout) for the tasks to end. Idempotent.
    pub async fn shutdown(&self) {
        self.shutdown_tx.send_replace(true);
        let acceptors = {
            let mut state = self.lock_state();
            state.shut_down = true;
            // Unstarted listeners: dropping them closes the sockets.
            state.unstarted.clear();
            std::mem::take(&mut state.acceptors)
        };
        // Each acceptor bounds its own connection drain; the slack covers its bookkeeping.
        let limit = self.config.shutdown_timeout + Duration::from_secs(1);
        for acceptor in acceptors {
            let abort = acceptor.abort_handle();
            if tokio::time::timeout(limit, acceptor).await.is_err() {
                warn!("socket server acceptor did not stop within {limit:?}; aborting it");
                abort.abort();
            }
        }
        info!("Shutdown completed");
    }

    fn lock_state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// One listener's accept loop and the connections it spawned.
struct Acceptor {
    listener: TcpListener,
    endpoint: EndPoint,
    handler: Arc<dyn RequestHandler>,
    config: Arc<SocketServerConfig>,
    quotas: Arc<ConnectionQuotas>,
    shutdown: watch::Receiver<bool>,
    next_connection_index: Arc<AtomicU64>,
}

impl Acceptor {
    async fn run(mut self) {
        let name = self.endpoint.listener_name.clone();
        let mut connections = JoinSet::new();
        loop {
            while connections.try_join_next().is_some() {}
            // Wait for a free slot before accepting: over max.connections, new connections
            // wait in the backlog, as Kafka's acceptor blocks.
            let pending = tokio::select! {
                biased;
                () = wait_for_shutdown(&mut self.shutdown) => break,
                pending = self.quotas.acquire(&name) => pending,
            };
            let accepted = tokio::select! {
                biased;
                () = wait_for_shutdown(&mut self.shutdown) => break,
                accepted = self.listener.accept() => accepted,
            };
            let (stream, peer) = match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    warn!("error accepting a connection on {name}: {e}");
                    tokio::select! {
                        () = wait_for_shutdown(&mut self.shutdown) => break,
                        () = tokio::time::sleep(ACCEPT_ERROR_BACKOFF) => continue,
                    }
                }
            };
            let Some(slot) = self.quotas.admit(pending, peer.ip()) else {
                info!(
                    "Rejected connection from {}, address already has the configured maximum of connections.",
                    peer.ip()
                );
                drop(stream);
                continue;
            };
            // Kafka sets TCP_NODELAY on every accepted socket: responses are written whole.
            if let Err(e) = stream.set_nodelay(true) {
                debug!("cannot set TCP_NODELAY for {peer}: {e}");
            }
            let local = stream.local_addr().unwrap_or_else(|_| {
                SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), self.endpoint.port)
            });
            let index = self.next_connection_index.fetch_add(1, Ordering::Relaxed);
            let context = Arc::new(ConnectionContext {
                connection_id: format!("{local}-{peer}-{index}"),
                listener_name: name.clone(),
                security_protocol: self.endpoint.security_protocol,
                client_addr: peer,
                local_addr: local,
            });
            let connection = Connection {
                stream,
                context,
                handler: Arc::clone(&self.handler),
                config: Arc::clone(&self.config),
                shutdown: self.shutdown.clone(),
                slot,
            };
            connections.spawn(connection.run());
        }
        // Stop accepting first, then give the connections (which saw the same signal) a
        // bounded time to close.
        drop(self.listener);
        let drain = async { while connections.join_next().await.is_some() {} };
        if tokio::time::timeout(self.config.shutdown_timeout, drain)
            .await
            .is_err()
        {
            warn!("connections on {name} did not close in time; aborting them");
            connections.abort_all();
            while connections.join_next().await.is_some() {}
        }
        debug!("acceptor for {name} stopped");
    }
}

/// Addresses to try for `ep`, in order: an empty host is the wildcard (IPv6 dual-stack first,
/// like the JVM, unless the host forces v6-only sockets), an IP literal itself, a name its
/// first resolved address (Kafka binds `new InetSocketAddress(host, port)`).
async fn bind_candidates(ep: &EndPoint) -> io::Result<Vec<SocketAddr>> {
    if ep.host.is_empty() {
        let v6 = SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), ep.port);
        let v4 = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), ep.port);
        let v6_only = std::fs::read_to_string("/proc/sys/net/ipv6/bindv6only")
            .map(|s| s.trim() == "1")
            .unwrap_or(false);
        return Ok(if v6_only { vec![v4] } else { vec![v6, v4] });
    }
    if let Ok(ip) = ep.host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, ep.port)]);
    }
    let first = tokio::net::lookup_host((ep.host.as_str(), ep.port))
        .await?
        .next()
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("no address for {}", ep.host),
            )
        })?;
    Ok(vec![first])
}

async fn bind_endpoint(
    ep: &EndPoint,
    config: &SocketServerConfig,
) -> Result<TcpListener, SocketServerError> {
    let fail = |source: io::Error| SocketServerError::Bind {
        address: ep.connection_string(),
        source,
    };
    let mut last_error = None;
    for addr in bind_candidates(ep).await.map_err(fail)? {
        match listen(addr, config) {
            Ok(listener) => return Ok(listener),
            Err(e) => {
                debug!("cannot bind {addr}: {e}");
                last_error = Some(e);
            }
        }
    }
    Err(fail(last_error.unwrap_or_else(|| {
        io::Error::new(io::ErrorKind::AddrNotAvailable, "no address to bind")
    })))
}

fn listen(addr: SocketAddr, config: &SocketServerConfig) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    // Set on the listening socket so accepted sockets inherit them (and the receive window
    // scale is negotiated from the start); -1 keeps the OS default.
    if let Ok(size) = u32::try_from(config.socket_receive_buffer_bytes) {
        socket.set_recv_buffer_size(size)?;
    }
    if let Ok(size) = u32::try_from(config.socket_send_buffer_bytes) {
        socket.set_send_buffer_size(size)?;
    }
    socket.bind(addr)?;
    socket.listen(config.listen_backlog)
}
