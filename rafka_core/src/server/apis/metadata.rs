//! Metadata (key 3, v0–12): answered solely from the [`MetadataCache`] (Kafka's
//! `KafkaApis.handleTopicMetadataRequest` on a ZK broker).
//!
//! - Brokers: the live brokers that have an endpoint on the listener the request came in on,
//!   with that endpoint's host/port (and rack from v1).
//! - Cluster id (v2+), controller id (v1+, −1 when the cache knows none).
//! - Topics: from the cache's partition states ("all topics" = every cached topic); an unknown
//!   name → UNKNOWN_TOPIC_OR_PARTITION, or, when auto-creation is allowed, created through the
//!   admin path and answered LEADER_NOT_AVAILABLE (creation errors such as
//!   INVALID_REPLICATION_FACTOR are returned as is; an internal topic is created with its own
//!   settings, as FindCoordinator does); an invalid name → INVALID_TOPIC_EXCEPTION;
//!   an unknown topic id (v12) → UNKNOWN_TOPIC_ID. (REPLICA_NOT_AVAILABLE for v0 is not done.) Topic names are null or topic ids set before v12 →
//!   INVALID_REQUEST for every requested topic, as Kafka's error response does.
//! - IsInternal (v1+): set for `__consumer_offsets` and `__transaction_state` (Kafka's
//!   `Topic.isInternal`; the admin client's topic listing hides these).
//! - Authorized operations stay at Kafka's "not requested" value (−2^31): no authorizer yet.
//!
//! Every field is set only in the versions that have it (kafka-protocol refuses to encode a
//! non-default value in a version without the field).

use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use crate::cluster::{is_internal_topic, TopicPartition};

use crate::network::{ConnectionContext, Response};
use crate::protocol::{ParsedRequest, ResponseError};
use crate::server::admin_manager::AdminManager;
use crate::server::kafka_apis::ApisContext;
use crate::server::metadata_cache::{MetadataCache, MetadataSnapshot};
use crate::zk::admin_zk_client::validate_topic_name;

/// Answers one Metadata request; unknown topics are auto-created through `admin` when the
/// broker (`auto.create.topics.enable`) and the request (v4+ flag) allow it.
pub async fn handle(
    context: &ApisContext,
    cache: &MetadataCache,
    admin: Option<&AdminManager>,
    connection: &ConnectionContext,
    request: &ParsedRequest,
) -> Response {
    let body: MetadataRequest = match super::decode(request) {
        Ok(body) => body,
        Err(close) => return close,
    };
    let version = request.api_version();
    let mut response = response_body(cache, &connection.listener_name, &body, version);
    let auto_create = body.allow_auto_topic_creation
        && context
            .config
            .get_bool("auto.create.topics.enable")
            .unwrap_or(true);
    for topic in &mut response.topics {
        if topic.error_code != ResponseError::UnknownTopicOrPartition.code() {
            continue;
        }
        let Some(name) = topic.name.as_ref().map(|n| n.to_string()) else {
            continue;
        };
        if validate_topic_name(&name).is_err() {
            topic.error_code = ResponseError::InvalidTopicException.code();
        } else if let (true, Some(admin)) = (auto_create, admin) {
            topic.error_code = admin.auto_create(&name).await.code();
        }
    }
    super::send(request, &response)
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
    if all_topics {
        let mut names: Vec<&String> = snapshot
            .partition_states
            .keys()
            .map(|tp| &tp.topic)
            .collect();
        names.dedup();
        for name in names {
            if let Some(t) = topic_metadata(&snapshot, name, listener, version) {
                topics.push(t);
            }
        }
    } else {
        let mut seen_names: Vec<&TopicName> = Vec::new();
        for t in request.topics.iter().flatten() {
            match &t.name {
                Some(name) => {
                    if seen_names.contains(&name) {
                        continue;
                    }
                    seen_names.push(name);
                    match topic_metadata(&snapshot, name.as_str(), listener, version) {
                        Some(t) => topics.push(t),
                        None => topics.push(unknown_topic(
                            version,
                            ResponseError::UnknownTopicOrPartition,
                            Some(name.clone()),
                        )),
                    }
                }
                None if !t.topic_id.is_nil() => {
                    // v12 lookup by id.
                    let name = snapshot
                        .topic_ids
                        .iter()
                        .find(|(_, id)| **id == *t.topic_id.as_bytes())
                        .map(|(n, _)| n.clone());
                    match name.and_then(|n| topic_metadata(&snapshot, &n, listener, version)) {
                        Some(found) => topics.push(found),
                        None => topics.push(
                            unknown_topic(version, ResponseError::UnknownTopicId, None)
                                .with_topic_id(t.topic_id),
                        ),
                    }
                }
                None => {}
            }
        }
    }

    if version >= 1 {
        for topic in &mut topics {
            topic.is_internal = topic
                .name
                .as_ref()
                .is_some_and(|n| is_internal_topic(n.as_str()));
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

/// One cached topic (Kafka's `ZkMetadataCache.getPartitionMetadata`): per partition the
/// leader (−1 with LEADER_NOT_AVAILABLE when it is not alive, LISTENER_NOT_FOUND when it has
/// no endpoint on `listener`), leader epoch (v7+), replicas, ISR, offline replicas (v5+);
/// topic id v10+. `None` when the cache has no partition of `name`.
fn topic_metadata(
    snapshot: &MetadataSnapshot,
    name: &str,
    listener: &str,
    version: i16,
) -> Option<MetadataResponseTopic> {
    let start = TopicPartition::new(name.to_string(), i32::MIN);
    let partitions: Vec<MetadataResponsePartition> = snapshot
        .partition_states
        .range(start..)
        .take_while(|(tp, _)| tp.topic == name)
        .map(|(tp, state)| {
            let (leader, error) = match snapshot.alive_brokers.get(&state.leader) {
                None => (-1, ResponseError::LeaderNotAvailable.code()),
                Some(b) if !b.endpoints.contains_key(listener) => {
                    let e = if version >= 6 {
                        ResponseError::ListenerNotFound
                    } else {
                        ResponseError::LeaderNotAvailable
                    };
                    (-1, e.code())
                }
                Some(_) => (state.leader, 0),
            };
            let ids = |v: &[i32]| v.iter().map(|b| BrokerId(*b)).collect::<Vec<_>>();
            let mut p = MetadataResponsePartition::default()
                .with_error_code(error)
                .with_partition_index(tp.partition)
                .with_leader_id(BrokerId(leader))
                .with_replica_nodes(ids(&state.replicas))
                .with_isr_nodes(ids(&state.isr));
            if version >= 7 {
                p = p.with_leader_epoch(state.leader_epoch);
            }
            if version >= 5 {
                p = p.with_offline_replicas(ids(&state.offline_replicas));
            }
            p
        })
        .collect();
    if partitions.is_empty() {
        return None;
    }
    let mut topic = MetadataResponseTopic::default()
        .with_name(Some(TopicName(StrBytes::from_string(name.to_string()))))
        .with_partitions(partitions);
    if version >= 10 {
        if let Some(id) = snapshot.topic_ids.get(name) {
            topic = topic.with_topic_id(Uuid::from_bytes(*id));
        }
    }
    Some(topic)
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
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let Response::Send(mut payload) = runtime.block_on(handle(
            &context(),
            cache,
            None,
            &connection(listener),
            &parsed,
        )) else {
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
