//! The network layer (Kafka's `kafka.network`): listeners, connections, framing, connection
//! limits, and the [`RequestHandler`] seam to request processing.
//!
//! - `socket_server`: [`SocketServer`] — bind, start processing, bound ports, shutdown.
//! - `connection`: one connection's read-ahead, in-order processing and idle expiry.
//! - `frame`: the 4-byte size prefix.
//! - `connection_quotas`: `max.connections` (blocks) and `max.connections.per.ip` (closes).
//! - `request_handler`: [`Request`], [`Response`], [`RequestHandler`].
//! - `config`: [`SocketServerConfig`] from `KafkaConfig`.
//! - `broker_client`: [`BrokerClient`], an outgoing connection for inter-broker requests.

mod broker_client;
mod config;
mod connection;
mod connection_quotas;
pub mod frame;
mod request_handler;
mod socket_server;

pub use broker_client::{BrokerClient, BrokerClientError};
pub use config::SocketServerConfig;
pub use connection::READ_AHEAD_REQUESTS;
pub use request_handler::{
    ConnectionContext, Request, RequestHandler, Response, ResponseFuture, ResponsePart,
};
pub use socket_server::{SocketServer, SocketServerError};
