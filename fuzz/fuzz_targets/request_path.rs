//! Fuzzes what a connection does with client bytes: split frames, parse each request (api key
//! peek, version admission, header), dispatch it through `KafkaApis` (body decode, response
//! encode). Any panic or abort is a finding.
#![no_main]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use rafka_core::cluster::SecurityProtocol;
use rafka_core::config::KafkaConfig;
use rafka_core::network::frame::try_split_frame;
use rafka_core::network::{ConnectionContext, Request, RequestHandler};
use rafka_core::protocol::parse_request;
use rafka_core::server::kafka_apis::{ApisContext, KafkaApis};

struct Fixture {
    rt: tokio::runtime::Runtime,
    apis: KafkaApis,
    connection: Arc<ConnectionContext>,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let props = BTreeMap::from([(
            "zookeeper.connect".to_string(),
            "127.0.0.1:2181".to_string(),
        )]);
        let config = KafkaConfig::from_props(&props).expect("fixture config");
        let addr = SocketAddr::from(([127, 0, 0, 1], 9092));
        Fixture {
            rt: tokio::runtime::Builder::new_current_thread()
                .build()
                .expect("runtime"),
            apis: KafkaApis::new(ApisContext {
                broker_id: 0,
                config: Arc::new(config),
            }),
            connection: Arc::new(ConnectionContext {
                connection_id: "fuzz".into(),
                listener_name: "PLAINTEXT".into(),
                security_protocol: SecurityProtocol::Plaintext,
                client_addr: addr,
                local_addr: addr,
            }),
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    let mut buf = BytesMut::from(data);
    while let Ok(Some(payload)) = try_split_frame(&mut buf, 1 << 20) {
        let Ok(parsed) = parse_request(payload) else {
            return;
        };
        let _ = f.rt.block_on(f.apis.handle(Request {
            connection: Arc::clone(&f.connection),
            parsed,
        }));
    }
});
