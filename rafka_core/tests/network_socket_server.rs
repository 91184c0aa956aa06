//! In-process socket server tests: bind on 127.0.0.1:0, serve with `KafkaApis`, talk raw TCP
//! and decode answers with kafka-protocol.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, MetadataRequest, RequestHeader, ResponseHeader,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use rafka_core::config::KafkaConfig;
use rafka_core::network::{
    Request, RequestHandler, Response, ResponseFuture, SocketServer, SocketServerConfig,
};
use rafka_core::protocol::SUPPORTED_VERSIONS;
use rafka_core::server::kafka_apis::{ApisContext, KafkaApis};
use rand::{Rng, SeedableRng};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(5);

fn kafka_config(extra: &[(&str, &str)]) -> KafkaConfig {
    let mut props = BTreeMap::from([
        (
            "zookeeper.connect".to_string(),
            "127.0.0.1:2181".to_string(),
        ),
        (
            "listeners".to_string(),
            "PLAINTEXT://127.0.0.1:0".to_string(),
        ),
    ]);
    for (k, v) in extra {
        props.insert(k.to_string(), v.to_string());
    }
    KafkaConfig::from_props(&props).expect("valid test config")
}

struct Server {
    server: SocketServer,
    addr: SocketAddr,
}

async fn start_with(extra: &[(&str, &str)], handler: Option<Arc<dyn RequestHandler>>) -> Server {
    let config = kafka_config(extra);
    let server = SocketServer::bind(&config.listeners(), SocketServerConfig::from(&config))
        .await
        .expect("bind");
    let port = server.bound_port("PLAINTEXT").expect("bound port");
    assert_ne!(port, 0);
    let handler = handler.unwrap_or_else(|| {
        Arc::new(KafkaApis::new(ApisContext {
            broker_id: 0,
            config: Arc::new(config),
        }))
    });
    server.start_processing(handler).expect("start");
    Server {
        server,
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
    }
}

async fn start(extra: &[(&str, &str)]) -> Server {
    start_with(extra, None).await
}

async fn connect(addr: SocketAddr) -> TcpStream {
    timeout(WAIT, TcpStream::connect(addr))
        .await
        .expect("connect in time")
        .expect("connect")
}

/// A complete request frame (size prefix + header + body), as a client would send it.
fn request_frame<T: Encodable>(
    key: ApiKey,
    version: i16,
    correlation_id: i32,
    client_id: &str,
    body: &T,
) -> Vec<u8> {
    let header = RequestHeader::default()
        .with_request_api_key(key as i16)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(StrBytes::from_string(client_id.to_string())));
    let mut payload = BytesMut::new();
    header
        .encode(&mut payload, key.request_header_version(version))
        .unwrap();
    body.encode(&mut payload, version).unwrap();
    let mut frame = Vec::new();
    frame.put_i32(payload.len() as i32);
    frame.extend_from_slice(&payload);
    frame
}

fn api_versions_frame(version: i16, correlation_id: i32) -> Vec<u8> {
    let body = if version >= 3 {
        ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str("rafka-test"))
            .with_client_software_version(StrBytes::from_static_str("1.0.0"))
    } else {
        ApiVersionsRequest::default()
    };
    request_frame(ApiKey::ApiVersions, version, correlation_id, "test", &body)
}

/// Reads one response payload (without the size prefix).
async fn read_payload(stream: &mut TcpStream) -> Bytes {
    let size = timeout(WAIT, stream.read_i32())
        .await
        .expect("response in time")
        .expect("response size");
    let mut payload = vec![0u8; size as usize];
    timeout(WAIT, stream.read_exact(&mut payload))
        .await
        .expect("response body in time")
        .expect("response body");
    Bytes::from(payload)
}

/// Decodes an ApiVersions answer: response header v0 always, body at `body_version`; the
/// whole payload must be consumed.
fn decode_api_versions(mut payload: Bytes, body_version: i16) -> (i32, ApiVersionsResponse) {
    let header = ResponseHeader::decode(&mut payload, 0).unwrap();
    let body = ApiVersionsResponse::decode(&mut payload, body_version).unwrap();
    assert_eq!(payload.remaining(), 0, "trailing bytes in the response");
    (header.correlation_id, body)
}

async fn api_versions(
    stream: &mut TcpStream,
    version: i16,
    correlation_id: i32,
) -> ApiVersionsResponse {
    stream
        .write_all(&api_versions_frame(version, correlation_id))
        .await
        .unwrap();
    let (corr, body) = decode_api_versions(read_payload(stream).await, version);
    assert_eq!(corr, correlation_id);
    body
}

fn table() -> Vec<(i16, i16, i16)> {
    SUPPORTED_VERSIONS
        .iter()
        .map(|r| (r.api_key as i16, r.min, r.max))
        .collect()
}

fn listed(resp: &ApiVersionsResponse) -> Vec<(i16, i16, i16)> {
    resp.api_keys
        .iter()
        .map(|k| (k.api_key, k.min_version, k.max_version))
        .collect()
}

/// Waits for the server to close `stream`: EOF or a reset, after any pending responses.
async fn assert_closed(stream: &mut TcpStream) {
    let mut buf = [0u8; 4096];
    let closed = timeout(WAIT, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => continue,
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "server did not close the connection");
}

/// `stream` stays open and unanswered for `d`.
async fn assert_silent(stream: &mut TcpStream, d: Duration) {
    let mut buf = [0u8; 1];
    assert!(
        timeout(d, stream.read(&mut buf)).await.is_err(),
        "expected no data and no close"
    );
}

/// Named `network` so `cargo test -p rafka_core network` selects these tests.
mod network {
    use super::*;

    #[tokio::test]
    async fn api_versions_v0_lists_exactly_the_table() {
        let s = start(&[]).await;
        let mut c = connect(s.addr).await;
        let resp = api_versions(&mut c, 0, 11).await;
        assert_eq!(resp.error_code, 0);
        assert_eq!(listed(&resp), table());
        // Kafka 3.9's ranges for the APIs every client needs first.
        for entry in [
            (3, 0, 12),
            (18, 0, 3),
            // The group APIs (Kafka 3.9 ZK broker).
            (8, 0, 9),
            (9, 0, 9),
            (10, 0, 6),
            (11, 0, 9),
            (12, 0, 4),
            (13, 0, 5),
            (14, 0, 5),
            (15, 0, 5),
            (16, 0, 5),
            (42, 0, 2),
            (43, 0, 2),
            (45, 0, 0),
            (46, 0, 0),
            (47, 0, 0),
            // Inter-broker APIs served by the controller.
            (7, 0, 3),
            (56, 0, 3),
        ] {
            assert!(listed(&resp).contains(&entry), "{entry:?} not advertised");
        }
        s.server.shutdown().await;
    }

    #[tokio::test]
    async fn api_versions_v1_v2_v3() {
        let s = start(&[]).await;
        let mut c = connect(s.addr).await;
        for v in 1..=3 {
            let resp = api_versions(&mut c, v, 100 + i32::from(v)).await;
            assert_eq!(resp.error_code, 0);
            assert_eq!(resp.throttle_time_ms, 0);
            assert_eq!(listed(&resp), table());
            assert!(resp.supported_features.is_empty() && resp.finalized_features.is_empty());
            assert_eq!(resp.finalized_features_epoch, -1);
            assert!(!resp.zk_migration_ready);
        }
        s.server.shutdown().await;
    }

    #[tokio::test]
    async fn api_versions_v3_exact_bytes_header_v0_no_default_tags() {
        let s = start(&[]).await;
        let mut c = connect(s.addr).await;
        c.write_all(&api_versions_frame(3, 0x0A0B0C0D))
            .await
            .unwrap();
        let payload = read_payload(&mut c).await;
        let mut expected = vec![0x0A, 0x0B, 0x0C, 0x0D]; // response header v0: correlation id only
        expected.extend_from_slice(&[0, 0]); // error_code
        expected.push(table().len() as u8 + 1); // compact array length
        for (key, min, max) in table() {
            expected.extend_from_slice(&key.to_be_bytes());
            expected.extend_from_slice(&min.to_be_bytes());
            expected.extend_from_slice(&max.to_be_bytes());
            expected.push(0); // entry tagged fields
        }
        expected.extend_from_slice(&[0, 0, 0, 0]); // throttle_time_ms
        expected.push(0); // no tagged fields (no features, no ZkMigrationReady)
        assert_eq!(&payload[..], &expected[..]);
        s.server.shutdown().await;
    }

    #[tokio::test]
    async fn unsupported_api_versions_gets_v0_unsupported_version() {
        let s = start(&[]).await;
        let mut c = connect(s.addr).await;
        for (version, corr) in [(99i16, 7), (4, 8), (-1, 9)] {
            // A newer client: flexible header v2 for v3+, and a body we do not parse.
            let mut payload = BytesMut::new();
            let header = RequestHeader::default()
                .with_request_api_key(18)
                .with_request_api_version(version)
                .with_correlation_id(corr)
                .with_client_id(Some(StrBytes::from_static_str("future")));
            let header_version = if version >= 3 { 2 } else { 1 };
            header.encode(&mut payload, header_version).unwrap();
            payload.put_slice(&[0xde, 0xad, 0xbe, 0xef]);
            let mut frame = Vec::new();
            frame.put_i32(payload.len() as i32);
            frame.extend_from_slice(&payload);
            c.write_all(&frame).await.unwrap();
            let (got_corr, resp) = decode_api_versions(read_payload(&mut c).await, 0);
            assert_eq!(got_corr, corr);
            assert_eq!(resp.error_code, 35, "UNSUPPORTED_VERSION");
            assert_eq!(listed(&resp), vec![(18, 0, 3)]);
        }
        // The connection stays usable; the client retries with a version we speak.
        assert_eq!(api_versions(&mut c, 3, 10).await.error_code, 0);
        s.server.shutdown().await;
    }

    #[tokio::test]
    async fn api_versions_v3_invalid_software_name_is_invalid_request() {
        let s = start(&[]).await;
        let mut c = connect(s.addr).await;
        for (name, version) in [("bad name!", "1.0"), ("ok", "-1"), ("", "1")] {
            let body = ApiVersionsRequest::default()
                .with_client_software_name(StrBytes::from_string(name.to_string()))
                .with_client_software_version(StrBytes::from_string(version.to_string()));
            c.write_all(&request_frame(ApiKey::ApiVersions, 3, 5, "c", &body))
                .await
                .unwrap();
            let (corr, resp) = decode_api_versions(read_payload(&mut c).await, 3);
            assert_eq!(corr, 5);
            assert_eq!(
                resp.error_code, 42,
                "INVALID_REQUEST for {name:?}/{version:?}"
            );
            assert!(resp.api_keys.is_empty());
        }
        s.server.shutdown().await;
    }

    #[tokio::test]
    async fn pipelined_requests_are_answered_in_order() {
        let s = start(&[]).await;
        let mut c = connect(s.addr).await;
        let mut all = Vec::new();
        let versions: Vec<i16> = (0..40).map(|i| (i % 4) as i16).collect();
        for (i, v) in versions.iter().enumerate() {
            all.extend_from_slice(&api_versions_frame(*v, 1000 + i as i32));
        }
        c.write_all(&all).await.unwrap();
        for (i, v) in versions.iter().enumerate() {
            let (corr, resp) = decode_api_versions(read_payload(&mut c).await, *v);
            assert_eq!(corr, 1000 + i as i32);
            assert_eq!(resp.error_code, 0);
        }
        s.server.shutdown().await;
    }

    /// Each bad input closes its own connection; a connection opened before keeps working and
    /// new connections are still answered.
    async fn check_bad_input(s: &Server, bad: &[u8], half_close: bool) {
        let mut bystander = connect(s.addr).await;
        assert_eq!(api_versions(&mut bystander, 1, 1).await.error_code, 0);
        let mut c = connect(s.addr).await;
        // A good request first: it is answered before the connection closes on the bad one.
        let mut bytes = api_versions_frame(0, 42);
        bytes.extend_from_slice(bad);
        c.write_all(&bytes).await.unwrap();
        if half_close {
            c.shutdown().await.unwrap();
        }
        let (corr, _) = decode_api_versions(read_payload(&mut c).await, 0);
        assert_eq!(corr, 42);
        assert_closed(&mut c).await;
        assert_eq!(api_versions(&mut bystander, 2, 2).await.error_code, 0);
        let mut fresh = connect(s.addr).await;
        assert_eq!(api_versions(&mut fresh, 3, 3).await.error_code, 0);
    }

    #[tokio::test]
    async fn bad_input_closes_only_that_connection() {
        let s = start(&[("socket.request.max.bytes", "1024")]).await;
        // Truncated frame, then EOF.
        let mut truncated = vec![0, 0, 0, 100];
        truncated.extend_from_slice(&[0, 18, 0, 0, 0, 0]);
        check_bad_input(&s, &truncated, true).await;
        // Length prefix over socket.request.max.bytes: closed without sending the body.
        check_bad_input(&s, &1025i32.to_be_bytes(), false).await;
        // Negative length prefix.
        check_bad_input(&s, &(-5i32).to_be_bytes(), false).await;
        // Frame too short to hold a header.
        check_bad_input(&s, &[0, 0, 0, 2, 0, 18], false).await;
        // Unknown API key.
        let unknown = request_frame(
            ApiKey::ApiVersions,
            0,
            1,
            "c",
            &ApiVersionsRequest::default(),
        );
        let mut unknown_key = unknown.clone();
        unknown_key[4..6].copy_from_slice(&999i16.to_be_bytes());
        check_bad_input(&s, &unknown_key, false).await;
        // A known key this broker does not serve (not advertised), with a header only
        // (refused before any body is read).
        let mut unserved = request_frame(ApiKey::Metadata, 1, 1, "c", &MetadataRequest::default());
        unserved[4..6]
            .copy_from_slice(&(ApiKey::DescribeUserScramCredentials as i16).to_be_bytes());
        check_bad_input(&s, &unserved, false).await;
        // A key that exists only in KRaft/newer Kafka.
        let mut kraft = unknown.clone();
        kraft[4..6].copy_from_slice(&(ApiKey::Vote as i16).to_be_bytes());
        check_bad_input(&s, &kraft, false).await;
        // A served key with an undecodable body (compact string length beyond the frame).
        let mut bad_body = request_frame(
            ApiKey::ApiVersions,
            3,
            1,
            "c",
            &ApiVersionsRequest::default(),
        );
        let len = bad_body.len();
        bad_body[len - 3] = 0x7f;
        check_bad_input(&s, &bad_body, false).await;
        // A header cut inside the client id.
        check_bad_input(&s, &[0, 0, 0, 10, 0, 18, 0, 1, 0, 0, 0, 1, 0, 9], false).await;
        s.server.shutdown().await;
    }

    #[tokio::test]
    async fn random_bytes_never_take_the_server_down() {
        let s = start(&[("socket.request.max.bytes", "4096")]).await;
        let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed_cafe);
        for round in 0..40 {
            let len = rng.gen_range(0..600);
            let mut bytes: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
            if round % 2 == 0 && bytes.len() >= 6 {
                // Half the rounds get a plausible size prefix and api key so parsing goes deeper.
                let payload_len = (bytes.len() - 4) as i32;
                bytes[..4].copy_from_slice(&payload_len.to_be_bytes());
                bytes[4..6].copy_from_slice(&18i16.to_be_bytes());
            }
            let mut c = connect(s.addr).await;
            c.write_all(&bytes).await.unwrap();
            c.shutdown().await.unwrap();
            // Whatever comes back (possibly a valid answer), the connection must end.
            assert_closed(&mut c).await;
        }
        let mut fresh = connect(s.addr).await;
        assert_eq!(api_versions(&mut fresh, 3, 1).await.error_code, 0);
        s.server.shutdown().await;
    }

    #[tokio::test]
    async fn idle_connections_are_closed_active_ones_kept() {
        let s = start(&[("connections.max.idle.ms", "400")]).await;
        let mut idle = connect(s.addr).await;
        let mut active = connect(s.addr).await;
        for i in 0..8 {
            assert_eq!(api_versions(&mut active, 0, i).await.error_code, 0);
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
        // 1.2 s have passed: the idle one is gone, the active one still answers.
        assert_closed(&mut idle).await;
        assert_eq!(api_versions(&mut active, 3, 99).await.error_code, 0);
        s.server.shutdown().await;
    }

    #[tokio::test]
    async fn max_connections_blocks_new_connections_until_a_slot_frees() {
        let s = start(&[("max.connections", "2")]).await;
        let mut a = connect(s.addr).await;
        let mut b = connect(s.addr).await;
        assert_eq!(api_versions(&mut a, 0, 1).await.error_code, 0);
        assert_eq!(api_versions(&mut b, 0, 2).await.error_code, 0);
        // The third connects (listen backlog) but is not served while two are open.
        let mut c = connect(s.addr).await;
        c.write_all(&api_versions_frame(0, 3)).await.unwrap();
        assert_silent(&mut c, Duration::from_millis(400)).await;
        drop(a);
        let (corr, resp) = decode_api_versions(read_payload(&mut c).await, 0);
        assert_eq!((corr, resp.error_code), (3, 0));
        assert_eq!(api_versions(&mut b, 1, 4).await.error_code, 0);
        s.server.shutdown().await;
    }

    #[tokio::test]
    async fn max_connections_per_ip_closes_the_extra_connection() {
        let s = start(&[("max.connections.per.ip", "1")]).await;
        let mut a = connect(s.addr).await;
        assert_eq!(api_versions(&mut a, 0, 1).await.error_code, 0);
        let mut b = connect(s.addr).await;
        let _ = b.write_all(&api_versions_frame(0, 2)).await;
        assert_closed(&mut b).await;
        drop(a);
        // The slot is released when the first connection's task ends.
        let mut served = false;
        for _ in 0..50 {
            let mut c = connect(s.addr).await;
            if c.write_all(&api_versions_frame(0, 3)).await.is_ok()
                && timeout(Duration::from_millis(200), c.read_i32())
                    .await
                    .is_ok_and(|r| r.is_ok())
            {
                served = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(served, "a new connection is admitted once the first closed");
        s.server.shutdown().await;
    }

    #[tokio::test]
    async fn two_listeners_get_their_own_ports() {
        let config = kafka_config(&[
            (
                "listeners",
                "PLAINTEXT://127.0.0.1:0,INTERNAL://127.0.0.1:0",
            ),
            (
                "listener.security.protocol.map",
                "PLAINTEXT:PLAINTEXT,INTERNAL:PLAINTEXT",
            ),
            ("inter.broker.listener.name", "INTERNAL"),
        ]);
        let server = SocketServer::bind(&config.listeners(), SocketServerConfig::from(&config))
            .await
            .unwrap();
        let p1 = server.bound_port("PLAINTEXT").unwrap();
        let p2 = server.bound_port("internal").unwrap();
        assert!(p1 != 0 && p2 != 0 && p1 != p2);
        assert_eq!(server.bound_endpoints().len(), 2);
        assert_eq!(server.bound_port("NOPE"), None);
        server
            .start_processing(Arc::new(KafkaApis::new(ApisContext {
                broker_id: 1,
                config: Arc::new(config),
            })))
            .unwrap();
        for port in [p1, p2] {
            let mut c = connect(SocketAddr::from(([127, 0, 0, 1], port))).await;
            assert_eq!(api_versions(&mut c, 3, 1).await.error_code, 0);
        }
        server.shutdown().await;
    }

    #[tokio::test]
    async fn bind_then_start_serves_connections_made_before_start() {
        let config = kafka_config(&[]);
        let server = SocketServer::bind(&config.listeners(), SocketServerConfig::from(&config))
            .await
            .unwrap();
        let port = server.bound_port("PLAINTEXT").unwrap();
        // Connected and sent before processing starts: waits in the backlog, then is answered.
        let mut c = connect(SocketAddr::from(([127, 0, 0, 1], port))).await;
        c.write_all(&api_versions_frame(0, 5)).await.unwrap();
        assert_silent(&mut c, Duration::from_millis(200)).await;
        let apis = Arc::new(KafkaApis::new(ApisContext {
            broker_id: 0,
            config: Arc::new(config),
        }));
        server.start_processing(apis.clone()).unwrap();
        assert!(server.start_processing(apis).is_err(), "start only once");
        let (corr, _) = decode_api_versions(read_payload(&mut c).await, 0);
        assert_eq!(corr, 5);
        server.shutdown().await;
    }

    #[tokio::test]
    async fn shutdown_closes_connections_and_stops_accepting() {
        let s = start(&[]).await;
        let mut a = connect(s.addr).await;
        assert_eq!(api_versions(&mut a, 0, 1).await.error_code, 0);
        timeout(Duration::from_secs(10), s.server.shutdown())
            .await
            .expect("bounded shutdown");
        assert_closed(&mut a).await;
        assert!(TcpStream::connect(s.addr).await.is_err(), "listener closed");
        // Idempotent.
        s.server.shutdown().await;
    }

    /// A handler that is slow for one client id and panics for another.
    struct TestHandler {
        inner: KafkaApis,
    }

    impl RequestHandler for TestHandler {
        fn handle(&self, request: Request) -> ResponseFuture {
            let client = request.parsed.client_id().unwrap_or("").to_string();
            let inner = self.inner.handle(request);
            Box::pin(async move {
                match client.as_str() {
                    "slow" => tokio::time::sleep(Duration::from_millis(1500)).await,
                    "panic" => panic!("handler bug"),
                    "silent" => return Response::NoResponse,
                    _ => {}
                }
                inner.await
            })
        }
    }

    fn named_api_versions(client: &str, corr: i32) -> Vec<u8> {
        request_frame(
            ApiKey::ApiVersions,
            0,
            corr,
            client,
            &ApiVersionsRequest::default(),
        )
    }

    #[tokio::test]
    async fn slow_and_panicking_handlers_affect_only_their_connection() {
        let config = kafka_config(&[]);
        let handler = Arc::new(TestHandler {
            inner: KafkaApis::new(ApisContext {
                broker_id: 0,
                config: Arc::new(config),
            }),
        });
        let s = start_with(&[], Some(handler)).await;
        let mut slow = connect(s.addr).await;
        let mut fast = connect(s.addr).await;
        // Slow request then a normal one pipelined on the same connection: order is kept.
        let mut bytes = named_api_versions("slow", 1);
        bytes.extend_from_slice(&named_api_versions("x", 2));
        slow.write_all(&bytes).await.unwrap();
        // Meanwhile another connection is served at once.
        let started = tokio::time::Instant::now();
        fast.write_all(&named_api_versions("x", 9)).await.unwrap();
        let (corr, _) = decode_api_versions(read_payload(&mut fast).await, 0);
        assert_eq!(corr, 9);
        assert!(started.elapsed() < Duration::from_millis(1000));
        let (c1, _) = decode_api_versions(read_payload(&mut slow).await, 0);
        let (c2, _) = decode_api_versions(read_payload(&mut slow).await, 0);
        assert_eq!((c1, c2), (1, 2));
        // No-response requests are skipped, the next one answered.
        let mut bytes = named_api_versions("silent", 3);
        bytes.extend_from_slice(&named_api_versions("x", 4));
        fast.write_all(&bytes).await.unwrap();
        let (c4, _) = decode_api_versions(read_payload(&mut fast).await, 0);
        assert_eq!(c4, 4);
        // A panicking handler closes its connection only.
        let mut doomed = connect(s.addr).await;
        doomed
            .write_all(&named_api_versions("panic", 5))
            .await
            .unwrap();
        assert_closed(&mut doomed).await;
        fast.write_all(&named_api_versions("x", 6)).await.unwrap();
        let (c6, _) = decode_api_versions(read_payload(&mut fast).await, 0);
        assert_eq!(c6, 6);
        s.server.shutdown().await;
    }
}
