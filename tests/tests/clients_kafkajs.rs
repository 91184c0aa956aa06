//! kafkajs (Node) against a real broker on a real ZooKeeper: admin create / metadata / delete,
//! produce (uncompressed and GZIP, acks=-1), fetchTopicOffsets / fetchTopicOffsetsByTimestamp
//! and a fetch of every partition. kafkajs consumers always join a group, so the fetch goes
//! through kafkajs's own cluster/broker objects (see `tests/clients/node/kafkajs_flow.js`).

use rafka_tests::{node_script, ClientBroker};

#[test]
fn kafkajs_admin_produce_list_offsets_fetch_delete() {
    let c = ClientBroker::start(|b| b);
    node_script("kafkajs_flow.js")
        .args([c.bootstrap(), "kafkajs-flow".to_string(), "300".to_string()])
        .run_ok(|| c.logs());
}
