//! kafka-python consumer groups against a real broker on a real ZooKeeper: two members share
//! a topic, consume and commit exactly once; the admin client lists, describes, deletes
//! offsets (OffsetDelete) and deletes the group. The checks are in
//! `tests/clients/python/groups_kafka_python.py`.

use rafka_tests::{python_script, ClientBroker};

#[test]
fn kafka_python_group_consume_commit_and_admin() {
    let c = ClientBroker::start(|b| {
        b.prop("offsets.topic.replication.factor", 1)
            .prop("offsets.topic.num.partitions", 8)
            .prop("group.initial.rebalance.delay.ms", 500)
    });
    python_script("groups_kafka_python.py")
        .args([
            c.bootstrap(),
            "groups-kafka-python".to_string(),
            "g-kafka-python".to_string(),
        ])
        .run_ok(|| c.logs());
}
