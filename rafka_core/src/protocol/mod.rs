//! The Kafka wire protocol as the broker sees it: a thin wrapper over `kafka-protocol` 0.15.1
//! (kept behind this module so a later switch of crate stays local).
//!
//! - `versions`: the table of APIs and version ranges this broker serves (= what ApiVersions
//!   advertises = what the parser admits).
//! - `header`: the api key/version peek and header-version rules.
//! - `request`: payload → [`ParsedRequest`] (or a close-the-connection [`RequestError`]).
//! - `response`: response header + body → payload bytes.
//! - `fetch_response`: the Fetch response, encoded around zero-copy log file ranges.
//!
//! Decoding caveat: kafka-protocol 0.15.1 pre-allocates arrays with the count read from the
//! wire (`Vec::with_capacity(n)`); the vendored copy bounds that reservation (vendor/README.md),
//! so a tiny body announcing 2^31 elements is an error, not an abort.

pub mod fetch_response;
mod header;
mod request;
mod response;
mod versions;

pub use header::{peek_api_key_and_version, request_header_version, response_header_version};
pub use request::{parse_request, ParsedRequest, RequestError};
pub use response::{encode_response, EncodeError};
pub use versions::{api_versions_range, supported_range, ApiVersionRange, SUPPORTED_VERSIONS};

/// Re-exported so callers name API keys and messages through this module.
pub use kafka_protocol::messages::ApiKey;
pub use kafka_protocol::ResponseError;
