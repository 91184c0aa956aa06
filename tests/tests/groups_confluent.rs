//! confluent-kafka (librdkafka) consumer groups against a real broker on a real ZooKeeper:
//! three members of one group on a 6-partition topic get two partitions each, 10 000 messages
//! are consumed exactly once across them, a member that closes has its partitions taken over
//! within the session timeout; the admin API lists, describes and deletes the group; static
//! members get their partitions back after a restart without a rebalance of the others. The
//! checks are in `tests/clients/python/groups_confluent*.py`.

use rafka_tests::{python_script, BrokerBuilder, ClientBroker};

/// A single broker whose `__consumer_offsets` fits it (replication factor 1, few partitions).
pub fn group_broker(b: BrokerBuilder) -> BrokerBuilder {
    b.prop("offsets.topic.replication.factor", 1)
        .prop("offsets.topic.num.partitions", 8)
        .prop("group.initial.rebalance.delay.ms", 500)
}

#[test]
fn confluent_three_members_exactly_once_takeover_and_admin() {
    let c = ClientBroker::start(group_broker);
    python_script("groups_confluent.py")
        .args([
            c.bootstrap(),
            "groups-confluent".to_string(),
            "g-confluent".to_string(),
        ])
        .run_ok(|| c.logs());
}

#[test]
fn confluent_static_member_restart_keeps_its_partitions_without_rebalance() {
    let c = ClientBroker::start(group_broker);
    python_script("groups_confluent_static.py")
        .args([
            c.bootstrap(),
            "groups-static".to_string(),
            "g-static".to_string(),
        ])
        .run_ok(|| c.logs());
}
