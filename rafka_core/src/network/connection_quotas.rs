//! Connection limits (Kafka's `ConnectionQuotas`): broker-wide and per-listener
//! `max.connections` block the acceptor until a slot frees (new connections wait in the listen
//! backlog), while `max.connections.per.ip` closes the extra connection at once.
//!
//! Slots are RAII guards held by the connection task, so every exit path gives them back.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::config::SocketServerConfig;

/// Tokio caps a semaphore's permits; "unlimited" (Int.MaxValue) maps to that cap.
fn semaphore(limit: usize) -> Arc<Semaphore> {
    Arc::new(Semaphore::new(limit.min(Semaphore::MAX_PERMITS)))
}

/// Shared by every acceptor of one socket server.
#[derive(Debug)]
pub(crate) struct ConnectionQuotas {
    broker: Arc<Semaphore>,
    listeners: HashMap<String, Arc<Semaphore>>,
    /// The inter-broker listener when it is protected (only with more than one listener).
    protected_listener: Option<String>,
    per_ip_default: usize,
    per_ip_overrides: HashMap<IpAddr, usize>,
    per_ip_counts: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// The slots one connection holds; dropping it releases them.
#[derive(Debug)]
pub(crate) struct ConnectionSlot {
    _broker: Option<OwnedSemaphorePermit>,
    _listener: Option<OwnedSemaphorePermit>,
    ip: IpSlot,
}

#[derive(Debug)]
struct IpSlot {
    ip: IpAddr,
    counts: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        // A poisoned lock only means another task panicked mid-update; the map is still
        // usable, and leaking a slot would be worse.
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = counts.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.remove(&self.ip);
            }
        }
    }
}

/// Listener/broker slots taken before `accept`, waiting for the per-IP check.
#[derive(Debug)]
pub(crate) struct PendingSlot {
    broker: Option<OwnedSemaphorePermit>,
    listener: Option<OwnedSemaphorePermit>,
}

impl ConnectionQuotas {
    /// `listener_names` are the bound listeners; `per_ip_overrides` must already be resolved
    /// to addresses.
    pub(crate) fn new(
        config: &SocketServerConfig,
        listener_names: &[String],
        per_ip_overrides: HashMap<IpAddr, usize>,
    ) -> ConnectionQuotas {
        let listeners = listener_names
            .iter()
            .map(|name| {
                let limit = config
                    .listener_max_connections
                    .get(name)
                    .copied()
                    .unwrap_or(config.max_connections);
                (name.clone(), semaphore(limit))
            })
            .collect();
        // Kafka's `protectedListener`: the inter-broker listener, if there are others.
        let protected_listener = config
            .inter_broker_listener_name
            .clone()
            .filter(|name| listener_names.len() > 1 && listener_names.contains(name));
        ConnectionQuotas {
            broker: semaphore(config.max_connections),
            listeners,
            protected_listener,
            per_ip_default: config.max_connections_per_ip,
            per_ip_overrides,
            per_ip_counts: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// Waits until `listener_name` may accept another connection: its listener limit, then
    /// the broker-wide one. With several listeners the inter-broker one does not count against
    /// the broker-wide limit, so controller and replica traffic gets through (Kafka
    /// additionally evicts the least recently used connection of another listener).
    pub(crate) async fn acquire(&self, listener_name: &str) -> PendingSlot {
        let listener = match self.listeners.get(listener_name) {
            Some(s) => Arc::clone(s).acquire_owned().await.ok(),
            None => None,
        };
        let broker = if self.protected_listener.as_deref() == Some(listener_name) {
            None
        } else {
            Arc::clone(&self.broker).acquire_owned().await.ok()
        };
        PendingSlot { broker, listener }
    }

    /// Registers a connection from `ip`, or `None` if that address is at its limit (the
    /// caller closes the socket).
    pub(crate) fn admit(&self, pending: PendingSlot, ip: IpAddr) -> Option<ConnectionSlot> {
        let limit = self
            .per_ip_overrides
            .get(&ip)
            .copied()
            .unwrap_or(self.per_ip_default);
        let mut counts = self.per_ip_counts.lock().unwrap_or_else(|p| p.into_inner());
        let count = counts.entry(ip).or_insert(0);
        if *count >= limit {
            if *count == 0 {
                counts.remove(&ip);
            }
            return None;
        }
        *count += 1;
        Some(ConnectionSlot {
            _broker: pending.broker,
            _listener: pending.listener,
            ip: IpSlot {
                ip,
                counts: Arc::clone(&self.per_ip_counts),
            },
        })
    }

    /// Open connections from `ip`.
    #[cfg(test)]
    pub(crate) fn connections_from(&self, ip: IpAddr) -> usize {
        self.per_ip_counts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&ip)
            .copied()
            .unwrap_or(0)
    }
}

impl ConnectionSlot {
    pub(crate) fn ip(&self) -> IpAddr {
        self.ip.ip
    }
}

/// Resolves `max.connections.per.ip.overrides` keys (IP literals or host names) to addresses;
/// unresolvable names are skipped with a warning, as they can never match a peer.
pub(crate) async fn resolve_ip_overrides(
    overrides: &BTreeMap<String, usize>,
) -> HashMap<IpAddr, usize> {
    let mut out = HashMap::new();
    for (host, limit) in overrides {
        if let Ok(ip) = host.parse::<IpAddr>() {
            out.insert(ip, *limit);
            continue;
        }
        match tokio::net::lookup_host((host.as_str(), 0)).await {
            Ok(addrs) => {
                for addr in addrs {
                    out.insert(addr.ip(), *limit);
                }
            }
            Err(e) => tracing::warn!(
                "max.connections.per.ip.overrides: cannot resolve {host}: {e}; entry ignored"
            ),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn config(max: usize, per_ip: usize) -> SocketServerConfig {
        SocketServerConfig {
            max_connections: max,
            max_connections_per_ip: per_ip,
            inter_broker_listener_name: Some("INTERNAL".into()),
            ..SocketServerConfig::default()
        }
    }

    #[tokio::test]
    async fn per_ip_limit_and_release() {
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let other: IpAddr = "10.0.0.2".parse().unwrap();
        let names = ["PLAINTEXT".to_string()];
        let q = ConnectionQuotas::new(&config(10, 1), &names, HashMap::from([(other, 2)]));
        let a = q.admit(q.acquire("PLAINTEXT").await, ip).unwrap();
        assert!(q.admit(q.acquire("PLAINTEXT").await, ip).is_none());
        let _b = q.admit(q.acquire("PLAINTEXT").await, other).unwrap();
        let _c = q.admit(q.acquire("PLAINTEXT").await, other).unwrap();
        assert_eq!(a.ip(), ip);
        drop(a);
        assert_eq!(q.connections_from(ip), 0);
        assert!(q.admit(q.acquire("PLAINTEXT").await, ip).is_some());
    }

    #[tokio::test]
    async fn broker_limit_blocks_until_release_except_inter_broker() {
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let names = ["PLAINTEXT".to_string(), "INTERNAL".to_string()];
        let q = Arc::new(ConnectionQuotas::new(
            &config(1, 100),
            &names,
            HashMap::new(),
        ));
        let first = q.admit(q.acquire("PLAINTEXT").await, ip).unwrap();
        let blocked = tokio::time::timeout(Duration::from_millis(50), q.acquire("PLAINTEXT"));
        assert!(blocked.await.is_err());
        // With several listeners, inter-broker connections skip the broker-wide limit.
        let _internal = q.admit(q.acquire("INTERNAL").await, ip).unwrap();
        drop(first);
        let again = tokio::time::timeout(Duration::from_millis(500), q.acquire("PLAINTEXT"));
        assert!(again.await.is_ok());
    }

    #[tokio::test]
    async fn single_inter_broker_listener_is_not_protected() {
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let names = ["INTERNAL".to_string()];
        let q = ConnectionQuotas::new(&config(1, 100), &names, HashMap::new());
        let _first = q.admit(q.acquire("INTERNAL").await, ip).unwrap();
        let blocked = tokio::time::timeout(Duration::from_millis(50), q.acquire("INTERNAL"));
        assert!(blocked.await.is_err());
    }
}
