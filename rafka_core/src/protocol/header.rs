//! Request/response header versions and the peek at a frame's api key and version.
//!
//! The header's own version depends on the API version it announces, so the first four bytes
//! (api_key int16, api_version int16 — identical in every header version) are read before the
//! header is decoded, exactly as Kafka's `RequestHeader.parse` does.

use kafka_protocol::messages::ApiKey;

/// Reads `(api_key, api_version)` from the start of a request payload (after the size prefix),
/// or `None` when fewer than four bytes are present.
pub fn peek_api_key_and_version(payload: &[u8]) -> Option<(i16, i16)> {
    let key: [u8; 2] = payload.get(0..2)?.try_into().ok()?;
    let version: [u8; 2] = payload.get(2..4)?.try_into().ok()?;
    Some((i16::from_be_bytes(key), i16::from_be_bytes(version)))
}

/// Request header version for `api_key` at `api_version` (v2 from the API's first flexible
/// version, v1 before; v0 only for ControlledShutdown v0).
pub fn request_header_version(api_key: ApiKey, api_version: i16) -> i16 {
    api_key.request_header_version(api_version)
}

/// Response header version for `api_key` at `api_version`. ApiVersions always answers with
/// header v0, even for flexible versions: clients parse the response before they know which
/// versions the broker speaks, and one extra tagged-field byte breaks librdkafka.
pub fn response_header_version(api_key: ApiKey, api_version: i16) -> i16 {
    if api_key == ApiKey::ApiVersions {
        0
    } else {
        api_key.response_header_version(api_version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peek_needs_four_bytes() {
        assert_eq!(peek_api_key_and_version(&[0, 18, 0]), None);
        assert_eq!(peek_api_key_and_version(&[0, 18, 0, 3, 9]), Some((18, 3)));
        assert_eq!(
            peek_api_key_and_version(&[0xff, 0xff, 0x80, 0]),
            Some((-1, i16::MIN))
        );
    }

    #[test]
    fn header_versions() {
        assert_eq!(request_header_version(ApiKey::ApiVersions, 2), 1);
        assert_eq!(request_header_version(ApiKey::ApiVersions, 3), 2);
        assert_eq!(request_header_version(ApiKey::ControlledShutdown, 0), 0);
        assert_eq!(response_header_version(ApiKey::ApiVersions, 3), 0);
        assert_eq!(response_header_version(ApiKey::Metadata, 9), 1);
        assert_eq!(response_header_version(ApiKey::Metadata, 8), 0);
    }
}
