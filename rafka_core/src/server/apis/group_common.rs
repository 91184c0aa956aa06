//! Helpers shared by the group API handlers (FindCoordinator, JoinGroup, …, OffsetDelete):
//! decoding with the connection closed on a malformed body, encoding the answer, and the
//! string and error-code conversions between the coordinator and kafka-protocol.

use kafka_protocol::protocol::{Decodable, StrBytes};

use crate::protocol::{ParsedRequest, ResponseError};

/// The request body, or `None` (the caller closes the connection, as Kafka does for a body
/// it cannot parse).
pub fn decode<T: Decodable>(request: &ParsedRequest) -> Option<T> {
    super::decode(request).ok()
}

/// Encodes the answer (see [`super::send`]).
pub use super::send as encode;

/// The wire code of an optional error (`None` = NONE).
pub fn code(error: Option<ResponseError>) -> i16 {
    error.map_or(0, |e| e.code())
}

pub fn sb(s: impl Into<String>) -> StrBytes {
    StrBytes::from_string(s.into())
}

pub fn sb_opt(s: Option<String>) -> Option<StrBytes> {
    s.map(StrBytes::from_string)
}
