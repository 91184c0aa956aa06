//! kafkajs consumer groups against a real broker on a real ZooKeeper: two members share a
//! topic, consume exactly once with kafkajs's auto-commit; admin fetchOffsets, listGroups,
//! describeGroups and deleteGroups. The checks are in `tests/clients/node/groups_kafkajs.js`.

use rafka_tests::{node_script, ClientBroker};

#[test]
fn kafkajs_group_consume_commit_and_admin() {
    let c = ClientBroker::start(|b| {
        b.prop("offsets.topic.replication.factor", 1)
            .prop("offsets.topic.num.partitions", 8)
            .prop("group.initial.rebalance.delay.ms", 500)
    });
    node_script("groups_kafkajs.js")
        .args([
            c.bootstrap(),
            "groups-kafkajs".to_string(),
            "g-kafkajs".to_string(),
        ])
        .run_ok(|| c.logs());
}
