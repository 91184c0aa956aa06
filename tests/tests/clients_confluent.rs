//! confluent-kafka (Python, librdkafka) against a real broker on a real ZooKeeper: the admin
//! API (create / describe configs / alter configs / incremental alter / delete) and an
//! idempotent producer (acks=all) with every compression codec, read back by a consumer with
//! assigned partitions; DescribeCluster, CreatePartitions and the admin ListOffsets. The
//! scripts in `tests/clients/python/` do the checks.

use rafka_tests::{python_script, ClientBroker};

#[test]
fn confluent_admin_create_describe_alter_delete() {
    let c = ClientBroker::start(|b| b);
    python_script("confluent_admin.py")
        .args([c.bootstrap(), "confluent-admin".to_string()])
        .run_ok(|| c.logs());
}

#[test]
fn confluent_admin_describe_cluster_create_partitions_list_offsets() {
    let c = ClientBroker::start(|b| b);
    python_script("confluent_admin_cluster.py")
        .args([
            c.bootstrap(),
            "confluent-cluster".to_string(),
            "1".to_string(),
        ])
        .run_ok(|| c.logs());
}

/// Idempotent produce of 500 keyed records with headers to 3 partitions with `codec`, then
/// consume everything back with `assign()`.
fn produce_consume(codec: &str) {
    let c = ClientBroker::start(|b| b);
    python_script("confluent_produce_consume.py")
        .args([
            c.bootstrap(),
            format!("confluent-{codec}"),
            codec.to_string(),
            "500".to_string(),
        ])
        .run_ok(|| c.logs());
}

#[test]
fn confluent_idempotent_produce_consume_none() {
    produce_consume("none");
}

#[test]
fn confluent_idempotent_produce_consume_gzip() {
    produce_consume("gzip");
}

#[test]
fn confluent_idempotent_produce_consume_snappy() {
    produce_consume("snappy");
}

#[test]
fn confluent_idempotent_produce_consume_lz4() {
    produce_consume("lz4");
}

#[test]
fn confluent_idempotent_produce_consume_zstd() {
    produce_consume("zstd");
}
