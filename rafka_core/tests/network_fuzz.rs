//! Fuzz-style property tests: arbitrary request payloads through the request path the
//! connection runs (frame split → header peek/parse → `KafkaApis` dispatch, body decode and
//! response encode) must never panic, and every answer must be a well-formed response.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use proptest::prelude::*;
use rafka_core::cluster::SecurityProtocol;
use rafka_core::config::KafkaConfig;
use rafka_core::network::frame::try_split_frame;
use rafka_core::network::{ConnectionContext, Request, RequestHandler, Response};
use rafka_core::protocol::{parse_request, SUPPORTED_VERSIONS};
use rafka_core::server::kafka_apis::{ApisContext, KafkaApis};

fn apis() -> KafkaApis {
    let props = BTreeMap::from([(
        "zookeeper.connect".to_string(),
        "127.0.0.1:2181".to_string(),
    )]);
    KafkaApis::new(ApisContext {
        broker_id: 0,
        config: Arc::new(KafkaConfig::from_props(&props).unwrap()),
    })
}

fn connection() -> Arc<ConnectionContext> {
    let addr = SocketAddr::from(([127, 0, 0, 1], 9092));
    Arc::new(ConnectionContext {
        connection_id: "fuzz".into(),
        listener_name: "PLAINTEXT".into(),
        security_protocol: SecurityProtocol::Plaintext,
        client_addr: addr,
        local_addr: addr,
    })
}

/// Runs one payload through parse + dispatch; returns what the connection would do.
fn run(rt: &tokio::runtime::Runtime, apis: &KafkaApis, payload: Bytes) -> Option<Response> {
    let parsed = parse_request(payload.clone()).ok()?;
    let correlation_id = parsed.correlation_id();
    let response = rt.block_on(apis.handle(Request {
        connection: connection(),
        parsed,
    }));
    if let Response::Send(out) = &response {
        // Every answer starts with the request's correlation id (response header).
        assert!(out.len() >= 4);
        assert_eq!(&out[..4], &correlation_id.to_be_bytes());
    }
    Some(response)
}

/// Payloads that pass the api key peek: a served key, any version, then random bytes.
fn served_key_payload() -> impl Strategy<Value = Vec<u8>> {
    let keys: Vec<i16> = SUPPORTED_VERSIONS
        .iter()
        .map(|r| r.api_key as i16)
        .collect();
    (
        proptest::sample::select(keys),
        prop_oneof![-2i16..8, any::<i16>()],
        any::<i32>(),
        prop_oneof![Just(-1i16), 0i16..40],
        proptest::collection::vec(any::<u8>(), 0..200),
    )
        .prop_map(|(key, version, corr, client_len, rest)| {
            let mut b = BytesMut::new();
            b.put_i16(key);
            b.put_i16(version);
            b.put_i32(corr);
            b.put_i16(client_len);
            b.put_slice(&rest);
            b.to_vec()
        })
}

/// Named `network` so `cargo test -p rafka_core network` selects these tests.
mod network {
    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        #[test]
        fn arbitrary_payloads_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            run(&rt, &apis(), Bytes::from(bytes));
        }

        #[test]
        fn served_key_payloads_never_panic(bytes in served_key_payload()) {
            let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            run(&rt, &apis(), Bytes::from(bytes));
        }

        #[test]
        fn framing_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300),
                                max in 0usize..400) {
            let mut buf = BytesMut::from(&bytes[..]);
            while let Ok(Some(frame)) = try_split_frame(&mut buf, max) {
                prop_assert!(frame.len() <= max);
            }
        }
    }
}

/// A forged array count (2^31 − 1 elements in a 4-byte body) must be rejected, not make the
/// decoder reserve ~150 GB and abort the process (the vendored kafka-protocol patch).
#[test]
fn forged_array_count_does_not_abort() {
    use kafka_protocol::messages::MetadataRequest;
    use kafka_protocol::protocol::Decodable;
    let mut body = bytes::Bytes::from_static(&[0x7f, 0xff, 0xff, 0xff]);
    assert!(MetadataRequest::decode(&mut body, 0).is_err());
    let mut compact = bytes::Bytes::from_static(&[0xff, 0xff, 0xff, 0xff, 0x07]);
    assert!(MetadataRequest::decode(&mut compact, 9).is_err());
}
