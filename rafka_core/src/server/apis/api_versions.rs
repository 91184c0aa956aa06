//! ApiVersions (key 18, v0–3): the versions this broker serves (Kafka's
//! `KafkaApis.handleApiVersionsRequest`).
//!
//! - Unsupported version → v0 body with UNSUPPORTED_VERSION listing only ApiVersions' own
//!   range, so the client can retry with a version we speak (KIP-511).
//! - v3+ with a client software name/version not matching `[a-zA-Z0-9](?:[a-zA-Z0-9\-.]*
//!   [a-zA-Z0-9])?` → INVALID_REQUEST with no keys.
//! - Otherwise the whole version table and throttle time 0. The v3 feature tagged fields stay
//!   at their defaults so none is written: a ZK broker has no finalized features to report
//!   here, and writing default tags breaks older librdkafka ("Read underflow").

use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse};

use crate::network::Response;
use crate::protocol::{
    api_versions_range, ApiVersionRange, ParsedRequest, ResponseError, SUPPORTED_VERSIONS,
};
use crate::server::kafka_apis::ApisContext;

/// Answers one ApiVersions request. The context is not consulted yet: every advertised range
/// is valid for all inter-broker protocol versions this broker accepts.
pub fn handle(_context: &ApisContext, request: &ParsedRequest) -> Response {
    let body = match response_body(request) {
        Some(body) => body,
        None => return Response::CloseConnection,
    };
    super::send(request, &body)
}

/// The response body, or `None` when the request body cannot be decoded (connection closed,
/// as Kafka does for an unparsable request).
fn response_body(request: &ParsedRequest) -> Option<ApiVersionsResponse> {
    if request.is_unsupported_api_versions() {
        return Some(
            ApiVersionsResponse::default()
                .with_error_code(ResponseError::UnsupportedVersion.code())
                .with_api_keys(vec![api_version(&api_versions_range())]),
        );
    }
    let body: ApiVersionsRequest = match request.decode_body() {
        Ok(body) => body,
        Err(e) => {
            tracing::debug!("{e}");
            return None;
        }
    };
    if request.api_version() >= 3
        && !(is_valid_software_field(&body.client_software_name)
            && is_valid_software_field(&body.client_software_version))
    {
        return Some(
            ApiVersionsResponse::default().with_error_code(ResponseError::InvalidRequest.code()),
        );
    }
    Some(
        ApiVersionsResponse::default()
            .with_error_code(0)
            .with_api_keys(SUPPORTED_VERSIONS.iter().map(api_version).collect())
            .with_throttle_time_ms(0),
    )
}

fn api_version(range: &ApiVersionRange) -> ApiVersion {
    ApiVersion::default()
        .with_api_key(range.api_key as i16)
        .with_min_version(range.min)
        .with_max_version(range.max)
}

/// Kafka's `SOFTWARE_NAME_VERSION_PATTERN`: `[a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?`.
fn is_valid_software_field(s: &str) -> bool {
    let bytes = s.as_bytes();
    match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) => {
            first.is_ascii_alphanumeric()
                && last.is_ascii_alphanumeric()
                && bytes
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'.')
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn software_name_pattern() {
        for ok in [
            "librdkafka",
            "apache-kafka-java",
            "2.12.1",
            "a",
            "kafka-python.x",
        ] {
            assert!(is_valid_software_field(ok), "{ok}");
        }
        for bad in ["", "-a", "a-", ".", "a b", "a_b", "é", "a."] {
            assert!(!is_valid_software_field(bad), "{bad}");
        }
    }
}
