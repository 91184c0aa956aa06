//! `BrokerClient`: one outgoing connection to another broker for inter-broker requests
//! (Kafka's `NetworkClient` as `BrokerBlockingSender` uses it): connects lazily, sends one
//! request at a time with its header, checks the response's correlation id, and drops the
//! connection on any error so the next request reconnects.

use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Largest response accepted (a bound against a corrupt size prefix).
const MAX_RESPONSE_BYTES: usize = 512 * 1024 * 1024;

/// Why an inter-broker request failed; the connection is closed for each.
#[derive(Debug, thiserror::Error)]
pub enum BrokerClientError {
    #[error("connecting to {address}: {source}")]
    Connect {
        address: String,
        source: std::io::Error,
    },
    #[error("{what} with {address} timed out after {timeout:?}")]
    Timeout {
        what: &'static str,
        address: String,
        timeout: Duration,
    },
    #[error("I/O with {address}: {source}")]
    Io {
        address: String,
        source: std::io::Error,
    },
    #[error("protocol error with {address}: {reason}")]
    Protocol { address: String, reason: String },
}

/// See the module doc.
#[derive(Debug)]
pub struct BrokerClient {
    host: String,
    port: u16,
    client_id: String,
    timeout: Duration,
    stream: Option<TcpStream>,
    correlation_id: i32,
}

impl BrokerClient {
    /// A client for `host:port`; `timeout` bounds connecting and each request.
    pub fn new(host: &str, port: u16, client_id: String, timeout: Duration) -> BrokerClient {
        BrokerClient {
            host: if host.is_empty() {
                "localhost".to_string()
            } else {
                host.to_string()
            },
            port,
            client_id,
            timeout,
            stream: None,
            correlation_id: 0,
        }
    }

    pub fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// Closes the connection (the next request reconnects).
    pub fn disconnect(&mut self) {
        self.stream = None;
    }

    /// Sends `request` at `version` and decodes its response; `extra_wait` is added to the
    /// timeout (a fetch's own `max_wait_ms`).
    pub async fn send<R: Request>(
        &mut self,
        version: i16,
        request: &R,
        extra_wait: Duration,
    ) -> Result<R::Response, BrokerClientError> {
        let result = self.send_inner(version, request, extra_wait).await;
        if result.is_err() {
            self.disconnect();
        }
        result
    }

    async fn send_inner<R: Request>(
        &mut self,
        version: i16,
        request: &R,
        extra_wait: Duration,
    ) -> Result<R::Response, BrokerClientError> {
        let address = self.address();
        let protocol = |reason: String| BrokerClientError::Protocol {
            address: address.clone(),
            reason,
        };
        if self.stream.is_none() {
            let connect = TcpStream::connect((self.host.as_str(), self.port));
            let stream = tokio::time::timeout(self.timeout, connect)
                .await
                .map_err(|_| BrokerClientError::Timeout {
                    what: "connecting",
                    address: address.clone(),
                    timeout: self.timeout,
                })?
                .map_err(|source| BrokerClientError::Connect {
                    address: address.clone(),
                    source,
                })?;
            let _ = stream.set_nodelay(true);
            self.stream = Some(stream);
        }
        self.correlation_id = self.correlation_id.wrapping_add(1);
        let correlation_id = self.correlation_id;
        let api_key =
            ApiKey::try_from(R::KEY).map_err(|()| protocol(format!("api key {}", R::KEY)))?;
        let header = RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(correlation_id)
            .with_client_id(Some(StrBytes::from_string(self.client_id.clone())));
        let header_version = api_key.request_header_version(version);
        let mut frame = BytesMut::new();
        frame.put_i32(0);
        header
            .encode(&mut frame, header_version)
            .map_err(|e| protocol(format!("request header: {e}")))?;
        request
            .encode(&mut frame, version)
            .map_err(|e| protocol(format!("request body: {e}")))?;
        let len =
            i32::try_from(frame.len() - 4).map_err(|_| protocol("request too large".into()))?;
        frame[..4].copy_from_slice(&len.to_be_bytes());

        let Some(stream) = self.stream.as_mut() else {
            return Err(protocol("not connected".into()));
        };
        let io = |source| BrokerClientError::Io {
            address: address.clone(),
            source,
        };
        let exchange = async {
            stream.write_all(&frame).await.map_err(io)?;
            let size = stream.read_i32().await.map_err(io)?;
            if size < 0 || size as usize > MAX_RESPONSE_BYTES {
                return Err(protocol(format!("invalid response size {size}")));
            }
            let mut payload = vec![0u8; size as usize];
            stream.read_exact(&mut payload).await.map_err(io)?;
            Ok(Bytes::from(payload))
        };
        let timeout = self.timeout + extra_wait;
        let mut payload = tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| BrokerClientError::Timeout {
                what: "request",
                address: address.clone(),
                timeout,
            })??;
        let response_header_version = <R::Response as HeaderVersion>::header_version(version);
        let response_header = ResponseHeader::decode(&mut payload, response_header_version)
            .map_err(|e| protocol(format!("response header: {e}")))?;
        if response_header.correlation_id != correlation_id {
            return Err(protocol(format!(
                "correlation id {} does not match request {correlation_id}",
                response_header.correlation_id
            )));
        }
        R::Response::decode(&mut payload, version)
            .map_err(|e| protocol(format!("response body: {e}")))
    }
}
