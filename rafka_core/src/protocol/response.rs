//! Encoding a response payload: response header (version chosen per API, ApiVersions always
//! v0) followed by the body at the negotiated version, sized exactly with `compute_size`.
//!
//! The payload excludes the 4-byte size prefix; framing belongs to the network layer.

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, ResponseHeader};
use kafka_protocol::protocol::Encodable;

use super::header::response_header_version;
use super::request::ParsedRequest;

/// A response body could not be encoded at the negotiated version (a broker bug: typically a
/// field set that the version does not have). The connection is closed.
#[derive(Debug, thiserror::Error)]
#[error("cannot encode {api_key:?} v{version} response: {reason}")]
pub struct EncodeError {
    pub api_key: ApiKey,
    pub version: i16,
    pub reason: String,
}

/// Encodes header + body for `api_key` at `version`.
pub fn encode_response<T: Encodable>(
    api_key: ApiKey,
    version: i16,
    correlation_id: i32,
    body: &T,
) -> Result<Bytes, EncodeError> {
    let fail = |e| encode_error(api_key, version, e);
    let header_version = response_header_version(api_key, version);
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    let size = header.compute_size(header_version).map_err(fail)?
        + body.compute_size(version).map_err(fail)?;
    let mut buf = BytesMut::with_capacity(size);
    header.encode(&mut buf, header_version).map_err(fail)?;
    body.encode(&mut buf, version).map_err(fail)?;
    Ok(buf.freeze())
}

fn encode_error(api_key: ApiKey, version: i16, e: impl std::fmt::Display) -> EncodeError {
    EncodeError {
        api_key,
        version,
        reason: e.to_string(),
    }
}

impl ParsedRequest {
    /// Encodes `body` as the answer to this request: its api key, its correlation id and
    /// [`ParsedRequest::response_version`].
    pub fn encode_response<T: Encodable>(&self, body: &T) -> Result<Bytes, EncodeError> {
        encode_response(
            self.api_key(),
            self.response_version(),
            self.correlation_id(),
            body,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::ApiVersionsResponse;

    #[test]
    fn api_versions_uses_header_v0_even_when_flexible() {
        let body = ApiVersionsResponse::default();
        let out = encode_response(ApiKey::ApiVersions, 3, 0x0102_0304, &body).unwrap();
        // correlation id, then the v3 body: error_code(2) + compact array len(1)
        // + throttle(4) + tagged fields(1). No header tagged-field byte, no feature tags.
        assert_eq!(&out[..4], &[1, 2, 3, 4]);
        assert_eq!(out.len(), 4 + 2 + 1 + 4 + 1);
    }

    #[test]
    fn unencodable_version_is_an_error_not_a_panic() {
        let body = ApiVersionsResponse::default();
        assert!(encode_response(ApiKey::ApiVersions, 5, 1, &body).is_err());
    }
}
