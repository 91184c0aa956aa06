//! Parsing one request payload: api key/version admission against the version table, header
//! decode, and typed body decode on demand.
//!
//! Everything here is total over arbitrary bytes (no panics): a payload either becomes a
//! [`ParsedRequest`] or a [`RequestError`], and every `RequestError` means "close the
//! connection" — Kafka cannot answer a request whose header it cannot trust.

use bytes::Bytes;
use kafka_protocol::messages::{ApiKey, RequestHeader};
use kafka_protocol::protocol::Decodable;

use super::header::{peek_api_key_and_version, request_header_version};
use super::versions::{supported_range, ApiVersionRange};

/// Why a request payload was refused; the connection is closed for each of these.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error("request of {0} bytes is too short to hold a header")]
    TooShort(usize),
    #[error("unknown api key {0}")]
    UnknownApiKey(i16),
    #[error("api {0:?} is not served by this broker")]
    UnsupportedApi(ApiKey),
    #[error("unsupported version {version} of api {api_key:?}")]
    UnsupportedVersion { api_key: ApiKey, version: i16 },
    #[error("invalid request header for {api_key:?} v{version}: {reason}")]
    InvalidHeader {
        api_key: ApiKey,
        version: i16,
        reason: String,
    },
    #[error("invalid {api_key:?} v{version} request body: {reason}")]
    InvalidBody {
        api_key: ApiKey,
        version: i16,
        reason: String,
    },
}

/// A request whose header has been decoded and whose version is admitted; the body stays raw
/// bytes (a zero-copy slice of the frame) until its handler decodes it.
#[derive(Debug, Clone)]
pub struct ParsedRequest {
    api_key: ApiKey,
    header: RequestHeader,
    body: Bytes,
    /// False only for an ApiVersions request of a version outside our range (KIP-511): it is
    /// answered, not refused, but its body is never parsed.
    version_supported: bool,
}

/// Parses a request payload (the frame without its 4-byte size prefix).
///
/// Unknown keys, APIs not in the version table and unsupported versions are errors, except
/// ApiVersions of an unsupported version, which parses (header only) and reports
/// [`ParsedRequest::is_unsupported_api_versions`].
pub fn parse_request(payload: Bytes) -> Result<ParsedRequest, RequestError> {
    let (raw_key, version) =
        peek_api_key_and_version(&payload).ok_or(RequestError::TooShort(payload.len()))?;
    let api_key = ApiKey::try_from(raw_key).map_err(|()| RequestError::UnknownApiKey(raw_key))?;
    let range: ApiVersionRange =
        supported_range(api_key).ok_or(RequestError::UnsupportedApi(api_key))?;
    let version_supported = range.contains(version);
    if !version_supported && api_key != ApiKey::ApiVersions {
        return Err(RequestError::UnsupportedVersion { api_key, version });
    }
    // For an out-of-range ApiVersions the header version still follows the announced version
    // (v2 from 3 up), as in Kafka's RequestHeader.parse.
    let mut buf = payload;
    let header = RequestHeader::decode(&mut buf, request_header_version(api_key, version))
        .map_err(|e| RequestError::InvalidHeader {
            api_key,
            version,
            reason: e.to_string(),
        })?;
    Ok(ParsedRequest {
        api_key,
        header,
        body: buf,
        version_supported,
    })
}

impl ParsedRequest {
    pub fn api_key(&self) -> ApiKey {
        self.api_key
    }

    /// The version the client announced (may be out of range for ApiVersions only).
    pub fn api_version(&self) -> i16 {
        self.header.request_api_version
    }

    pub fn correlation_id(&self) -> i32 {
        self.header.correlation_id
    }

    /// The client id (`None` when the client sent a null one, `Some("")` for header v0).
    pub fn client_id(&self) -> Option<&str> {
        self.header.client_id.as_ref().map(|s| s.as_str())
    }

    pub fn header(&self) -> &RequestHeader {
        &self.header
    }

    /// The undecoded body bytes.
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// ApiVersions of a version we do not serve: answer a v0 body with UNSUPPORTED_VERSION.
    pub fn is_unsupported_api_versions(&self) -> bool {
        !self.version_supported
    }

    /// The version the response is encoded at: the request's, except v0 for an unsupported
    /// ApiVersions (the only version every client can read).
    pub fn response_version(&self) -> i16 {
        if self.version_supported {
            self.api_version()
        } else {
            0
        }
    }

    /// Decodes the body as `T` at the request's version. Trailing bytes are ignored, as Kafka
    /// 2.8 does.
    pub fn decode_body<T: Decodable>(&self) -> Result<T, RequestError> {
        let invalid = |reason: String| RequestError::InvalidBody {
            api_key: self.api_key,
            version: self.api_version(),
            reason,
        };
        if !self.version_supported {
            return Err(invalid("version not supported".to_string()));
        }
        let mut buf = self.body.clone();
        T::decode(&mut buf, self.api_version()).map_err(|e| invalid(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::{BufMut, BytesMut};
    use kafka_protocol::messages::ApiVersionsRequest;

    fn header_v1(key: i16, version: i16, correlation_id: i32, client_id: &str) -> BytesMut {
        let mut b = BytesMut::new();
        b.put_i16(key);
        b.put_i16(version);
        b.put_i32(correlation_id);
        b.put_i16(client_id.len() as i16);
        b.put_slice(client_id.as_bytes());
        b
    }

    #[test]
    fn api_versions_v0_parses() {
        let p = parse_request(header_v1(18, 0, 7, "cli").freeze()).unwrap();
        assert_eq!(p.api_key(), ApiKey::ApiVersions);
        assert_eq!((p.api_version(), p.correlation_id()), (0, 7));
        assert_eq!(p.client_id(), Some("cli"));
        assert!(!p.is_unsupported_api_versions());
        let _: ApiVersionsRequest = p.decode_body().unwrap();
    }

    #[test]
    fn unsupported_api_versions_is_answered_at_v0() {
        // v99 → flexible header v2: header v1 fields + an empty tagged-field section.
        let mut b = header_v1(18, 99, 1, "c");
        b.put_u8(0);
        b.put_slice(b"garbage body that is never parsed");
        let p = parse_request(b.freeze()).unwrap();
        assert!(p.is_unsupported_api_versions());
        assert_eq!((p.api_version(), p.response_version()), (99, 0));
        assert!(p.decode_body::<ApiVersionsRequest>().is_err());
    }

    #[test]
    fn refusals() {
        assert!(matches!(
            parse_request(Bytes::from_static(&[0, 18])),
            Err(RequestError::TooShort(2))
        ));
        assert!(matches!(
            parse_request(header_v1(-7, 0, 1, "c").freeze()),
            Err(RequestError::UnknownApiKey(-7))
        ));
        assert!(matches!(
            parse_request(header_v1(50, 0, 1, "c").freeze()),
            Err(RequestError::UnsupportedApi(
                ApiKey::DescribeUserScramCredentials
            ))
        ));
        // A header cut inside the client id.
        let mut b = header_v1(18, 1, 1, "client");
        b.truncate(b.len() - 2);
        assert!(matches!(
            parse_request(b.freeze()),
            Err(RequestError::InvalidHeader { .. })
        ));
    }
}
