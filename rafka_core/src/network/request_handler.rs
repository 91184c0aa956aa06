//! The seam between the network layer and request processing (Kafka's `RequestChannel`):
//! what a connection hands over ([`Request`]), what it gets back ([`Response`]) and the
//! [`RequestHandler`] trait `KafkaApis` implements.
//!
//! A handler returns a future instead of answering inline so a slow request (a produce waiting
//! for replication, a long-poll fetch) never blocks any connection's reading; the connection
//! runs each future as its own task and answers in request order.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;

use crate::cluster::SecurityProtocol;
use crate::log::FileRange;
use crate::protocol::ParsedRequest;

/// Where a request came from (Kafka's `RequestContext` connection fields).
#[derive(Debug, Clone)]
pub struct ConnectionContext {
    /// `localAddr-peerAddr-index`, unique per broker run (Kafka's connection id format).
    pub connection_id: String,
    pub listener_name: String,
    pub security_protocol: SecurityProtocol,
    pub client_addr: SocketAddr,
    pub local_addr: SocketAddr,
}

/// One admitted request: its connection and its parsed header with the raw body.
#[derive(Debug, Clone)]
pub struct Request {
    pub connection: Arc<ConnectionContext>,
    pub parsed: ParsedRequest,
}

/// What the connection does with a handled request (Kafka's `RequestChannel` response kinds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// Send this payload (response header + body, without the size prefix).
    Send(Bytes),
    /// Send these parts back to back as one response (a fetch: encoded fields interleaved
    /// with log file ranges, which go out with sendfile).
    SendParts(Vec<ResponsePart>),
    /// Nothing to send (acks=0 produce); go on with the next request.
    NoResponse,
    /// Close the connection without answering (undecodable body, broker-side failure).
    CloseConnection,
}

impl From<Option<Bytes>> for Response {
    fn from(payload: Option<Bytes>) -> Response {
        payload.map_or(Response::NoResponse, Response::Send)
    }
}

/// One piece of a [`Response::SendParts`] payload.
#[derive(Debug, Clone)]
pub enum ResponsePart {
    Bytes(Bytes),
    File(FileRange),
}

impl ResponsePart {
    pub fn len(&self) -> u64 {
        match self {
            ResponsePart::Bytes(b) => b.len() as u64,
            ResponsePart::File(f) => f.len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl PartialEq for ResponsePart {
    fn eq(&self, other: &ResponsePart) -> bool {
        match (self, other) {
            (ResponsePart::Bytes(a), ResponsePart::Bytes(b)) => a == b,
            (ResponsePart::File(a), ResponsePart::File(b)) => {
                std::sync::Arc::ptr_eq(&a.file, &b.file)
                    && a.position == b.position
                    && a.len == b.len
            }
            _ => false,
        }
    }
}

impl Eq for ResponsePart {}

/// The future a handler returns; it must own what it needs (`'static`).
pub type ResponseFuture = Pin<Box<dyn Future<Output = Response> + Send + 'static>>;

/// Processes requests. `handle` must return quickly: the work belongs in the future.
pub trait RequestHandler: Send + Sync + 'static {
    fn handle(&self, request: Request) -> ResponseFuture;
}
