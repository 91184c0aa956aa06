//! DescribeCluster (key 60, v0–1): Kafka's `KafkaApis.handleDescribeCluster` /
//! `AuthHelper.computeDescribeClusterResponse` on a ZK broker, answered from the
//! [`MetadataCache`].
//!
//! - Brokers: the live brokers with an endpoint on the listener the request came in on
//!   (host, port, rack), by id; the cluster id; the controller id, −1 when unknown or not
//!   among those brokers.
//! - Cluster authorized operations: −2^31 unless asked for; when asked for, every operation
//!   Kafka supports on the CLUSTER resource (no authorizer = everything allowed).
//! - v1 `endpoint_type`: 1 (brokers) is served; 2 (controllers) → MISMATCHED_ENDPOINT_TYPE
//!   (a broker is not a controller endpoint); anything else → UNSUPPORTED_ENDPOINT_TYPE.
//!   (v0 has no such field: INVALID_REQUEST would apply.)

use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{DescribeClusterRequest, DescribeClusterResponse};
use kafka_protocol::protocol::StrBytes;

use crate::network::{ConnectionContext, Response};
use crate::protocol::{ParsedRequest, ResponseError};
use crate::server::metadata_cache::MetadataCache;

/// Kafka's `MISMATCHED_ENDPOINT_TYPE`.
pub const MISMATCHED_ENDPOINT_TYPE: i16 = 114;
/// Kafka's `UNSUPPORTED_ENDPOINT_TYPE`.
pub const UNSUPPORTED_ENDPOINT_TYPE: i16 = 115;
/// `EndpointType.BROKER` / `EndpointType.CONTROLLER`.
const ENDPOINT_BROKER: i8 = 1;
const ENDPOINT_CONTROLLER: i8 = 2;

/// Bits of the operations Kafka supports on the CLUSTER resource (`AclEntry.
/// supportedOperations`): CREATE (5), ALTER (7), DESCRIBE (8), CLUSTER_ACTION (9),
/// DESCRIBE_CONFIGS (10), ALTER_CONFIGS (11), IDEMPOTENT_WRITE (12).
pub const CLUSTER_OPERATIONS: i32 =
    (1 << 5) | (1 << 7) | (1 << 8) | (1 << 9) | (1 << 10) | (1 << 11) | (1 << 12);

/// Answers one DescribeCluster request arriving on `connection`'s listener.
pub fn handle(
    cache: &MetadataCache,
    connection: &ConnectionContext,
    request: &ParsedRequest,
) -> Response {
    let body: DescribeClusterRequest = match super::decode(request) {
        Ok(body) => body,
        Err(close) => return close,
    };
    let response = respond(
        cache,
        &connection.listener_name,
        &body,
        request.api_version(),
    );
    super::send(request, &response)
}

fn endpoint_name(t: i8) -> &'static str {
    match t {
        ENDPOINT_BROKER => "BROKER",
        ENDPOINT_CONTROLLER => "CONTROLLER",
        _ => "UNKNOWN",
    }
}

/// The response for `body` at `version`, arriving on `listener`.
pub fn respond(
    cache: &MetadataCache,
    listener: &str,
    body: &DescribeClusterRequest,
    version: i16,
) -> DescribeClusterResponse {
    let requested = body.endpoint_type;
    if requested != ENDPOINT_BROKER {
        let (code, message) = if requested == ENDPOINT_CONTROLLER {
            (
                MISMATCHED_ENDPOINT_TYPE,
                format!(
                    "The request was sent to an endpoint of type BROKER, but we wanted an \
                     endpoint of type {}",
                    endpoint_name(requested)
                ),
            )
        } else {
            (
                UNSUPPORTED_ENDPOINT_TYPE,
                format!("Unsupported endpoint type {requested}"),
            )
        };
        let code = if version == 0 {
            ResponseError::InvalidRequest.code()
        } else {
            code
        };
        return DescribeClusterResponse::default()
            .with_error_code(code)
            .with_error_message(Some(StrBytes::from_string(message)));
    }
    let snapshot = cache.snapshot();
    let brokers: Vec<DescribeClusterBroker> = snapshot
        .alive_brokers
        .values()
        .filter_map(|b| {
            let ep = b.endpoints.get(listener)?;
            Some(
                DescribeClusterBroker::default()
                    .with_broker_id(b.id.into())
                    .with_host(StrBytes::from_string(ep.host.clone()))
                    .with_port(ep.port)
                    .with_rack(b.rack.clone().map(StrBytes::from_string)),
            )
        })
        .collect();
    let controller = snapshot
        .controller_id
        .filter(|id| brokers.iter().any(|b| b.broker_id.0 == *id))
        .unwrap_or(-1);
    let operations = if body.include_cluster_authorized_operations {
        CLUSTER_OPERATIONS
    } else {
        i32::MIN
    };
    DescribeClusterResponse::default()
        .with_cluster_id(StrBytes::from_string(
            cache.cluster_id().unwrap_or_default(),
        ))
        .with_controller_id(controller.into())
        .with_brokers(brokers)
        .with_cluster_authorized_operations(operations)
        .with_endpoint_type(ENDPOINT_BROKER)
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::update_metadata_request::{
        UpdateMetadataBroker, UpdateMetadataEndpoint,
    };
    use kafka_protocol::messages::UpdateMetadataRequest;
    use kafka_protocol::protocol::{Decodable, Encodable};

    use super::*;

    fn endpoint(listener: &'static str, port: i32) -> UpdateMetadataEndpoint {
        UpdateMetadataEndpoint::default()
            .with_host(StrBytes::from_static_str("localhost"))
            .with_port(port)
            .with_listener(StrBytes::from_static_str(listener))
            .with_security_protocol(0)
    }

    fn cache(controller: i32) -> MetadataCache {
        let cache = MetadataCache::fixed(1, 1, Some("cluster-x".into()));
        let request = UpdateMetadataRequest::default()
            .with_controller_id(controller.into())
            .with_controller_epoch(1)
            .with_live_brokers(vec![
                UpdateMetadataBroker::default()
                    .with_id(2.into())
                    .with_endpoints(vec![endpoint("PLAINTEXT", 9093)])
                    .with_rack(Some(StrBytes::from_static_str("r2"))),
                UpdateMetadataBroker::default()
                    .with_id(1.into())
                    .with_endpoints(vec![endpoint("PLAINTEXT", 9092), endpoint("OTHER", 9192)])
                    .with_rack(None),
            ]);
        cache.update_metadata(&request, 7).unwrap();
        cache
    }

    fn roundtrip(r: &DescribeClusterResponse, version: i16) -> DescribeClusterResponse {
        let mut buf = bytes::BytesMut::new();
        r.encode(&mut buf, version).unwrap();
        DescribeClusterResponse::decode(&mut buf.freeze(), version).unwrap()
    }

    #[test]
    fn brokers_of_the_listener_and_the_controller() {
        let c = cache(2);
        for version in 0..=1 {
            let r = roundtrip(
                &respond(&c, "PLAINTEXT", &DescribeClusterRequest::default(), version),
                version,
            );
            assert_eq!(r.error_code, 0);
            assert_eq!(r.cluster_id.as_str(), "cluster-x");
            assert_eq!(r.controller_id.0, 2);
            assert_eq!(r.cluster_authorized_operations, i32::MIN);
            let brokers: Vec<(i32, i32, Option<String>)> = r
                .brokers
                .iter()
                .map(|b| {
                    (
                        b.broker_id.0,
                        b.port,
                        b.rack.as_ref().map(|s| s.to_string()),
                    )
                })
                .collect();
            assert_eq!(
                brokers,
                vec![(1, 9092, None), (2, 9093, Some("r2".to_string()))]
            );
        }
        // The controller has no endpoint on OTHER: −1.
        let r = respond(&c, "OTHER", &DescribeClusterRequest::default(), 1);
        assert_eq!(r.brokers.len(), 1);
        assert_eq!(r.controller_id.0, -1);
        let r = respond(
            &c,
            "PLAINTEXT",
            &DescribeClusterRequest::default().with_include_cluster_authorized_operations(true),
            1,
        );
        assert_eq!(r.cluster_authorized_operations, 8096);
    }

    #[test]
    fn endpoint_types() {
        let c = cache(1);
        let r = respond(
            &c,
            "PLAINTEXT",
            &DescribeClusterRequest::default().with_endpoint_type(2),
            1,
        );
        assert_eq!(r.error_code, MISMATCHED_ENDPOINT_TYPE);
        assert!(r.brokers.is_empty());
        let r = roundtrip(
            &respond(
                &c,
                "PLAINTEXT",
                &DescribeClusterRequest::default().with_endpoint_type(7),
                1,
            ),
            1,
        );
        assert_eq!(r.error_code, UNSUPPORTED_ENDPOINT_TYPE);
        assert_eq!(
            r.error_message.as_deref(),
            Some("Unsupported endpoint type 7")
        );
    }
}
