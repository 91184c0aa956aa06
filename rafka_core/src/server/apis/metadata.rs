//! Metadata (key 3, v0–12): answered solely from the [`MetadataCache`] (Kafka's
//! `KafkaApis.handleTopicMetadataRequest` on a ZK broker).
//!
//! - Brokers: the live brokers that have an endpoint on the listener the request came in on,
//!   with that endpoint's host/port (and rack from v1).
//! - Cluster id (v2+), controller id (v1+, −1 when the cache knows none).
//! - Topics: no topic exists yet (topic creation comes with its own issue): "all topics"
//!   answers an empty list, each requested name UNKNOWN_TOPIC_OR_PARTITION, each requested
//!   topic id (v12) UNKNOWN_TOPIC_ID. Topic names are null or topic ids set before v12 →
//!   INVALID_REQUEST for every requested topic, as Kafka's error response does.
//! - Authorized operations stay at Kafka's "not requested" value (−2^31): no authorizer yet.
//!
//! Every field is set only in the versions that have it (kafka-protocol refuses to encode a
//! non-default value in a version without the field).

use kafka_protocol::messages::metadata_response::{MetadataResponseBroker, MetadataResponseTopic};
use kafka_protocol::messages::{MetadataRequest, MetadataResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use crate::network::{ConnectionContext, Response};
use crate::protocol::{ParsedRequest, ResponseError};
use crate::server::kafka_apis::ApisContext;
use crate::server::metadata_cache::MetadataCache;

/// Answers one Metadata request.
pub fn handle(
    _context: &ApisContext,
    cache: &MetadataCache,
    connection: &ConnectionContext,
    request: &ParsedRequest,
) -> Response {
    let body: MetadataRequest = match request.decode_body() {
        Ok(body) => body,
        Err(e) => {
            tracing::debug!("{e}");
            return Response::CloseConnection;
        }
    };
    let response = response_body(
        cache,
        &connection.listener_name,
        &body,
        request.api_version(),
    );
    match request.encode_response(&response) {
        Ok(payload) => Response::Send(payload),
        Err(e) => {
            tracing::error!("{e}");
            Response::CloseConnection
        }
    }
}

/// The response for `request` decoded at `version`, arriving on `listener`.
pub fn response_body(
    cache: &MetadataCache,
    listener: &str,
    request: &MetadataRequest,
    version: i16,
) -> MetadataResponse {
    if let Some(topics) = &request.topics {
        let invalid = version < 12
            && topics
                .iter()
                .any(|t| t.name.is_none() || !t.topic_id.is_nil());
        if invalid {
            return error_response(request, version, ResponseError::InvalidRequest);
        }
    }
    let snapshot = cache.snapshot();
    let brokers = snapshot
        .alive_brokers
        .values()
        .filter_map(|b| {
            let ep = b.endpoints.get(listener)?;
            let mut broker = MetadataResponseBroker::default()
                .with_node_id(b.id.into())
                .with_host(StrBytes::from_string(ep.host.clone()))
                .with_port(ep.port);
            if version >= 1 {
                broker = broker.with_rack(b.rack.clone().map(StrBytes::from_string));
            }
            Some(broker)
        })
        .collect();

    let mut topics = Vec::new();
    // v0: an empty list means all topics; v1+: null means all topics. No topic exists yet,
    // so "all topics" is an empty list.
    let all_topics = match &request.topics {
        None => true,
        Some(t) => version == 0 && t.is_empty(),
    };
    if !all_topics {
        let mut seen_names: Vec<&TopicName> = Vec::new();
        for t in request.topics.iter().flatten() {
            match &t.name {
                Some(name) => {
                    if seen_names.contains(&name) {
                        continue;
                    }
                    seen_names.push(name);
                    topics.push(unknown_topic(
                        version,
                        ResponseError::UnknownTopicOrPartition,
                        Some(name.clone()),
                    ));
                }
                None if !t.topic_id.is_nil() => {
                    // v12 lookup by id: no topic id is known yet.
                    topics.push(
                        unknown_topic(version, ResponseError::UnknownTopicId, None)
                            .with_topic_id(t.topic_id),
                    );
                }
                None => {}
            }
        }
    }

    let mut response = MetadataResponse::default()
        .with_brokers(brokers)
        .with_topics(topics);
    if version >= 1 {
        response = response.with_controller_id(snapshot.controller_id.unwrap_or(-1).into());
    }
    if version >= 2 {
        response = response.with_cluster_id(cache.cluster_id().map(StrBytes::from_string));
    }
    response
}

fn unknown_topic(
    version: i16,
    error: ResponseError,
    name: Option<TopicName>,
) -> MetadataResponseTopic {
    // Before v12 the name is not nullable.
    let name = if version < 12 {
        Some(name.unwrap_or_default())
    } else {
        name
    };
    MetadataResponseTopic::default()
        .with_error_code(error.code())
        .with_name(name)
        .with_partitions(Vec::new())
}

/// Kafka's `MetadataRequest.getErrorResponse`: every requested topic with `error`, no brokers,
/// no cluster id, controller −1.
fn error_response(
    request: &MetadataRequest,
    version: i16,
    error: ResponseError,
) -> MetadataResponse {
    let topics = request
        .topics
        .iter()
        .flatten()
        .map(|t| {
            let mut topic = unknown_topic(version, error, Some(t.name.clone().unwrap_or_default()));
            if version >= 10 {
                topic = topic.with_topic_id(t.topic_id);
            }
            topic
        })
        .collect();
    MetadataResponse::default().with_topics(topics)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::net::SocketAddr;
    use std::sync::Arc;

    use bytes::BytesMut;
    use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
    use kafka_protocol::messages::update_metadata_request::{
        UpdateMetadataBroker, UpdateMetadataEndpoint,
    };
    use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader, UpdateMetadataRequest};
    use kafka_protocol::protocol::{Decodable, Encodable};

    use crate::cluster::SecurityProtocol;
    use crate::config::KafkaConfig;
    use crate::protocol::parse_request;

    fn context() -> ApisContext {
        let props = BTreeMap::from([(
            "zookeeper.connect".to_string(),
            "127.0.0.1:2181".to_string(),
        )]);
        ApisContext {
            broker_id: 1,
            config: Arc::new(KafkaConfig::from_props(&props).unwrap()),
        }
    }

    fn connection(listener: &str) -> ConnectionContext {
        let addr = SocketAddr::from(([127, 0, 0, 1], 9092));
        ConnectionContext {
            connection_id: "t".into(),
            listener_name: listener.into(),
            security_protocol: SecurityProtocol::Plaintext,
            client_addr: addr,
            local_addr: addr,
        }
    }

    fn endpoint(listener: &'static str, port: i32) -> UpdateMetadataEndpoint {
        UpdateMetadataEndpoint::default()
            .with_host(StrBytes::from_static_str("127.0.0.1"))
            .with_port(port)
            .with_listener(StrBytes::from_static_str(listener))
            .with_security_protocol(0)
    }

    /// Broker 1 on PLAINTEXT and INTERNAL, broker 2 only on INTERNAL; controller 2.
    fn cache() -> MetadataCache {
        let cache = MetadataCache::fixed(1, 10, Some("cluster-x".into()));
        let um = UpdateMetadataRequest::default()
            .with_controller_id(2.into())
            .with_controller_epoch(3)
            .with_broker_epoch(10)
            .with_live_brokers(vec![
                UpdateMetadataBroker::default()
                    .with_id(1.into())
                    .with_endpoints(vec![
                        endpoint("PLAINTEXT", 9092),
                        endpoint("INTERNAL", 9093),
                    ])
                    .with_rack(Some(StrBytes::from_static_str("rack-a"))),
                UpdateMetadataBroker::default()
                    .with_id(2.into())
                    .with_endpoints(vec![endpoint("INTERNAL", 9193)]),
            ]);
        cache.update_metadata(&um, 7).unwrap();
        cache
    }

    /// Encodes `body` as a Metadata request at `version`, handles it on `listener` and decodes
    /// the response with kafka-protocol.
    fn roundtrip(
        cache: &MetadataCache,
        listener: &str,
        body: &MetadataRequest,
        version: i16,
    ) -> MetadataResponse {
        let header = RequestHeader::default()
            .with_request_api_key(ApiKey::Metadata as i16)
            .with_request_api_version(version)
            .with_correlation_id(7)
            .with_client_id(Some(StrBytes::from_static_str("t")));
        let mut buf = BytesMut::new();
        header
            .encode(&mut buf, ApiKey::Metadata.request_header_version(version))
            .unwrap();
        body.encode(&mut buf, version).unwrap();
        let parsed = parse_request(buf.freeze()).unwrap();
        let Response::Send(mut payload) = handle(&context(), cache, &connection(listener), &parsed)
        else {
            panic!("no response for v{version}");
        };
        let rh = ResponseHeader::decode(
            &mut payload,
            ApiKey::Metadata.response_header_version(version),
        )
        .unwrap();
        assert_eq!(rh.correlation_id, 7);
        let resp = MetadataResponse::decode(&mut payload, version).unwrap();
        assert!(payload.is_empty(), "v{version}: trailing bytes");
        resp
    }

    fn named(names: &[&'static str]) -> Option<Vec<MetadataRequestTopic>> {
        Some(
            names
                .iter()
                .map(|n| {
                    MetadataRequestTopic::default()
                        .with_name(Some(TopicName(StrBytes::from_static_str(n))))
                })
                .collect(),
        )
    }

    #[test]
    fn v0_v1_v9_v12_decode_with_kafka_protocol() {
        let cache = cache();
        for version in [0i16, 1, 9, 12] {
            // All topics: v0 an empty list, v1+ null.
            let all = if version == 0 {
                MetadataRequest::default().with_topics(Some(vec![]))
            } else {
                MetadataRequest::default().with_topics(None)
            };
            let r = roundtrip(&cache, "PLAINTEXT", &all, version);
            assert_eq!(r.brokers.len(), 1, "v{version}");
            let b = &r.brokers[0];
            assert_eq!((i32::from(b.node_id), b.port), (1, 9092));
            assert_eq!(b.host.as_str(), "127.0.0.1");
            assert_eq!(b.rack.as_deref(), (version >= 1).then_some("rack-a"));
            assert_eq!(
                i32::from(r.controller_id),
                if version >= 1 { 2 } else { -1 }
            );
            assert_eq!(
                r.cluster_id.as_deref(),
                (version >= 2).then_some("cluster-x")
            );
            assert!(r.topics.is_empty());
            assert_eq!(r.cluster_authorized_operations, i32::MIN);

            let r = roundtrip(
                &cache,
                "PLAINTEXT",
                &MetadataRequest::default().with_topics(named(&["a", "b", "a"])),
                version,
            );
            assert_eq!(r.topics.len(), 2, "v{version}: duplicates collapse");
            for (t, name) in r.topics.iter().zip(["a", "b"]) {
                assert_eq!(t.error_code, 3);
                assert_eq!(t.name.as_ref().map(|n| n.as_str()), Some(name));
                assert!(t.partitions.is_empty());
                assert!(t.topic_id.is_nil());
                assert_eq!(t.topic_authorized_operations, i32::MIN);
            }
        }
    }

    #[test]
    fn brokers_are_filtered_by_the_request_listener() {
        let r = roundtrip(&cache(), "INTERNAL", &MetadataRequest::default(), 12);
        let seen: Vec<(i32, i32)> = r
            .brokers
            .iter()
            .map(|b| (i32::from(b.node_id), b.port))
            .collect();
        assert_eq!(seen, vec![(1, 9093), (2, 9193)]);
        let r = roundtrip(&cache(), "OTHER", &MetadataRequest::default(), 12);
        assert!(r.brokers.is_empty());
    }

    #[test]
    fn empty_cache_answers_no_brokers_and_no_controller() {
        let cache = MetadataCache::fixed(1, -1, None);
        let r = roundtrip(&cache, "PLAINTEXT", &MetadataRequest::default(), 4);
        assert!(r.brokers.is_empty());
        assert_eq!(i32::from(r.controller_id), -1);
        assert_eq!(r.cluster_id, None);
    }

    #[test]
    fn topic_ids_and_null_names() {
        let cache = cache();
        let id = uuid::Uuid::from_u128(0x1234);
        let by_id =
            MetadataRequest::default().with_topics(Some(vec![MetadataRequestTopic::default()
                .with_topic_id(id)
                .with_name(None)]));
        // v12: lookup by id → UNKNOWN_TOPIC_ID (100), name null, id echoed.
        let r = roundtrip(&cache, "PLAINTEXT", &by_id, 12);
        assert_eq!(r.topics.len(), 1);
        assert_eq!(r.topics[0].error_code, 100);
        assert_eq!(r.topics[0].name, None);
        assert_eq!(r.topics[0].topic_id, id);
        // v10: a null name is an INVALID_REQUEST (42) for every requested topic.
        let r = roundtrip(&cache, "PLAINTEXT", &by_id, 10);
        assert_eq!(r.topics.len(), 1);
        assert_eq!(r.topics[0].error_code, 42);
        assert!(r.brokers.is_empty());
    }
}
