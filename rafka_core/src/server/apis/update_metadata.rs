//! UpdateMetadata (key 6, v0–8): the controller's description of the cluster (Kafka's
//! `KafkaApis.handleUpdateMetadataRequest`).
//!
//! - BrokerEpoch (v5+) ≠ −1 and older than ours → STALE_BROKER_EPOCH (skipped for a KRaft
//!   controller during migration, v8), cache untouched.
//! - ControllerEpoch below the highest seen → STALE_CONTROLLER_EPOCH (Kafka's
//!   `ControllerMovedException`), cache untouched.
//! - Otherwise the cache is updated (brokers replaced, partitions upserted, leader −2
//!   removed) and NONE is returned; the removed (deleted) partitions go to the group
//!   coordinator, which purges their committed offsets (Kafka's `onPartitionsDeleted`).
//!
//! Accepted on any listener, as in Kafka (authorization comes with ACLs).

use kafka_protocol::messages::{UpdateMetadataRequest, UpdateMetadataResponse};
use tracing::{debug, info, warn};

use crate::cluster::TopicPartition;
use crate::coordinator::group::GroupCoordinatorHandle;
use crate::network::Response;
use crate::protocol::{ParsedRequest, ResponseError};
use crate::server::kafka_apis::ApisContext;
use crate::server::metadata_cache::MetadataCache;

/// Answers one UpdateMetadata request.
pub fn handle(
    _context: &ApisContext,
    cache: &MetadataCache,
    coordinator: Option<&GroupCoordinatorHandle>,
    request: &ParsedRequest,
) -> Response {
    let body: UpdateMetadataRequest = match super::decode(request) {
        Ok(body) => body,
        Err(close) => return close,
    };
    let error = match update_cache(cache, &body, request.api_version()) {
        Ok(deleted) => {
            if let Some(coordinator) = coordinator {
                coordinator.on_partitions_deleted(deleted);
            }
            None
        }
        Err(e) => Some(e),
    };
    let response = UpdateMetadataResponse::default().with_error_code(error.map_or(0, |e| e.code()));
    super::send(request, &response)
}

/// The checks and the cache update; `None` on success.
pub fn apply(
    cache: &MetadataCache,
    body: &UpdateMetadataRequest,
    version: i16,
) -> Option<ResponseError> {
    update_cache(cache, body, version).err()
}

/// The checks and the cache update; on success, the partitions removed as deleted.
pub fn update_cache(
    cache: &MetadataCache,
    body: &UpdateMetadataRequest,
    version: i16,
) -> Result<Vec<TopicPartition>, ResponseError> {
    let controller_id: i32 = body.controller_id.into();
    let kraft = version >= 8 && body.is_k_raft_controller;
    if version >= 5 && !kraft && cache.is_broker_epoch_stale(body.broker_epoch) {
        info!(
            controller_id,
            request_broker_epoch = body.broker_epoch,
            broker_epoch = cache.broker_epoch(),
            "received UpdateMetadata with a stale broker epoch"
        );
        return Err(ResponseError::StaleBrokerEpoch);
    }
    match cache.update_metadata(body, version) {
        Ok(deleted) => {
            debug!(
                controller_id,
                controller_epoch = body.controller_epoch,
                live_brokers = body.live_brokers.len(),
                deleted_partitions = deleted.len(),
                "metadata cache updated"
            );
            Ok(deleted)
        }
        Err(e) => {
            warn!(
                controller_id,
                controller_epoch = body.controller_epoch,
                latest_known_epoch = cache.snapshot().controller_epoch,
                "ignoring UpdateMetadata from an older controller epoch"
            );
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use bytes::{BufMut, Bytes, BytesMut};
    use kafka_protocol::messages::update_metadata_request::{
        UpdateMetadataBroker, UpdateMetadataEndpoint,
    };
    use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
    use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

    use crate::config::KafkaConfig;
    use crate::protocol::parse_request;

    fn context() -> ApisContext {
        let props = std::collections::BTreeMap::from([(
            "zookeeper.connect".to_string(),
            "127.0.0.1:2181".to_string(),
        )]);
        ApisContext {
            broker_id: 1,
            config: Arc::new(KafkaConfig::from_props(&props).unwrap()),
        }
    }

    fn request(controller_epoch: i32, broker_epoch: i64, port: i32) -> UpdateMetadataRequest {
        UpdateMetadataRequest::default()
            .with_controller_id(1.into())
            .with_controller_epoch(controller_epoch)
            .with_broker_epoch(broker_epoch)
            .with_live_brokers(vec![UpdateMetadataBroker::default()
                .with_id(1.into())
                .with_endpoints(vec![UpdateMetadataEndpoint::default()
                    .with_host(StrBytes::from_static_str("127.0.0.1"))
                    .with_port(port)
                    .with_listener(StrBytes::from_static_str("PLAINTEXT"))
                    .with_security_protocol(0)])
                .with_rack(Some(StrBytes::from_static_str("r1")))])
    }

    /// Sends `body` as a raw UpdateMetadata v`version` request through the handler and
    /// returns the response's error code.
    fn roundtrip(cache: &MetadataCache, body: &UpdateMetadataRequest, version: i16) -> i16 {
        let header_version = ApiKey::UpdateMetadata.request_header_version(version);
        let header = RequestHeader::default()
            .with_request_api_key(ApiKey::UpdateMetadata as i16)
            .with_request_api_version(version)
            .with_correlation_id(42)
            .with_client_id(Some(StrBytes::from_static_str("1")));
        let mut buf = BytesMut::new();
        header.encode(&mut buf, header_version).unwrap();
        body.encode(&mut buf, version).unwrap();
        let parsed = parse_request(buf.freeze()).unwrap();
        let Response::Send(mut payload) = handle(&context(), cache, None, &parsed) else {
            panic!("no response");
        };
        let rh = ResponseHeader::decode(
            &mut payload,
            ApiKey::UpdateMetadata.response_header_version(version),
        )
        .unwrap();
        assert_eq!(rh.correlation_id, 42);
        UpdateMetadataResponse::decode(&mut payload, version)
            .unwrap()
            .error_code
    }

    #[test]
    fn stale_controller_epoch_is_refused_and_cache_kept() {
        let cache = MetadataCache::fixed(1, 100, Some("c".into()));
        assert_eq!(roundtrip(&cache, &request(5, 100, 9092), 7), 0);
        let snap = cache.snapshot();
        assert_eq!(snap.controller_epoch, 5);
        assert_eq!(snap.controller_id, Some(1));
        assert_eq!(snap.alive_brokers[&1].endpoints["PLAINTEXT"].port, 9092);
        assert_eq!(snap.alive_brokers[&1].rack.as_deref(), Some("r1"));

        // Older controller epoch: STALE_CONTROLLER_EPOCH (11), nothing changes.
        assert_eq!(roundtrip(&cache, &request(4, 100, 9999), 7), 11);
        assert_eq!(
            cache.snapshot().alive_brokers[&1].endpoints["PLAINTEXT"].port,
            9092
        );
        // Same epoch again is fine (a controller sends many requests per epoch).
        assert_eq!(roundtrip(&cache, &request(5, 100, 9093), 6), 0);
        // v8 as well.
        assert_eq!(roundtrip(&cache, &request(4, 100, 9093), 8), 11);
    }

    #[test]
    fn stale_broker_epoch_is_refused() {
        let cache = MetadataCache::fixed(1, 100, None);
        // Older broker epoch → STALE_BROKER_EPOCH (77); −1 and newer epochs are accepted.
        assert_eq!(roundtrip(&cache, &request(1, 99, 9092), 7), 77);
        assert!(cache.snapshot().alive_brokers.is_empty());
        assert_eq!(roundtrip(&cache, &request(1, -1, 9092), 7), 0);
        assert_eq!(roundtrip(&cache, &request(1, 101, 9092), 7), 0);
        // v4 has no broker epoch: never stale.
        assert_eq!(roundtrip(&cache, &request(1, 0, 9092), 4), 0);
    }

    #[test]
    fn old_versions_name_listeners_after_their_protocol() {
        let cache = MetadataCache::fixed(1, 1, None);
        let v0 = UpdateMetadataRequest::default()
            .with_controller_epoch(1)
            .with_live_brokers(vec![UpdateMetadataBroker::default()
                .with_id(3.into())
                .with_v0_host(StrBytes::from_static_str("h"))
                .with_v0_port(1)]);
        assert_eq!(roundtrip(&cache, &v0, 0), 0);
        assert_eq!(
            cache.snapshot().alive_brokers[&3].endpoints["PLAINTEXT"].host,
            "h"
        );
        let mut v2 = request(1, 0, 7);
        v2.live_brokers[0].endpoints[0].listener = StrBytes::default();
        assert_eq!(roundtrip(&cache, &v2, 2), 0);
        let snap = cache.snapshot();
        assert_eq!(snap.alive_brokers.len(), 1);
        assert_eq!(snap.alive_brokers[&1].endpoints["PLAINTEXT"].port, 7);
    }

    #[test]
    fn undecodable_body_closes_the_connection() {
        let mut buf = BytesMut::new();
        buf.put_i16(ApiKey::UpdateMetadata as i16);
        buf.put_i16(7);
        buf.put_i32(1);
        buf.put_i16(-1);
        buf.put_u8(0);
        buf.put_slice(&[0xff; 3]);
        let parsed = parse_request(Bytes::from(buf)).unwrap();
        let cache = MetadataCache::fixed(1, 1, None);
        assert_eq!(
            handle(&context(), &cache, None, &parsed),
            Response::CloseConnection
        );
    }
}
