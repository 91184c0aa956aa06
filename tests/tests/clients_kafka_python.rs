//! kafka-python (pure Python) against a real broker on a real ZooKeeper: admin create and
//! delete, produce to explicit partitions with timestamps, consume with assign/seek,
//! offsets_for_times and beginning/end offsets. The checks are in
//! `tests/clients/python/kafka_python_flow.py`.

use rafka_tests::{python_script, ClientBroker};

fn flow(codec: &str) {
    let c = ClientBroker::start(|b| b);
    python_script("kafka_python_flow.py")
        .args([
            c.bootstrap(),
            format!("kafka-python-{codec}"),
            codec.to_string(),
            "150".to_string(),
        ])
        .run_ok(|| c.logs());
}

#[test]
fn kafka_python_produce_consume_seek_offsets_for_times_uncompressed() {
    flow("none");
}

#[test]
fn kafka_python_produce_consume_seek_offsets_for_times_gzip() {
    flow("gzip");
}
