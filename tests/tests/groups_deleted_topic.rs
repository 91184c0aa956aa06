//! Deleting a topic purges its committed offsets (Kafka's ZK-mode `onPartitionsDeleted`):
//! against a real broker on a real ZooKeeper, groups commit offsets of a topic with raw
//! requests, DeleteTopics removes it, and then every group has lost those offsets (OffsetFetch
//! answers −1), a group left Empty without offsets is Dead (gone from ListGroups, described as
//! Dead), a group with a member stays, and `__consumer_offsets` holds a tombstone for each
//! removed offset and for the Dead group that had a generation (`rafka dump-log
//! --offsets-decoder`). Every wait is bounded.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use rafka_tests::{
    poll_until, rafka_bin, run_bounded, wait_until, BrokerProcess, EmbeddedZookeeper, RawClient,
};

const TIMEOUT: Duration = Duration::from_secs(30);
const MEMBER_ID_REQUIRED: i16 = 79;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn wait_coordinator(c: &mut RawClient, b: &BrokerProcess) {
    let found = poll_until(TIMEOUT, Duration::from_millis(100), || {
        let r = c
            .send(3, &FindCoordinatorRequest::default().with_key(s("any")))
            .expect("FindCoordinator");
        (r.error_code == 0).then_some(())
    });
    assert!(found.is_some(), "no coordinator\n{}", b.logs());
}

/// Commits `offsets` of `topic` for `group` (generation −1 and no member: a simple commit).
fn commit(
    c: &mut RawClient,
    group: &str,
    member: &str,
    generation: i32,
    topic: &str,
    offsets: &[(i32, i64)],
) {
    let req = OffsetCommitRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_generation_id_or_member_epoch(generation)
        .with_member_id(s(member))
        .with_topics(vec![OffsetCommitRequestTopic::default()
            .with_name(TopicName(s(topic)))
            .with_partitions(
                offsets
                    .iter()
                    .map(|(p, o)| {
                        OffsetCommitRequestPartition::default()
                            .with_partition_index(*p)
                            .with_committed_offset(*o)
                    })
                    .collect(),
            )]);
    let r = c.send(8, &req).expect("OffsetCommit");
    assert!(
        r.topics[0].partitions.iter().all(|p| p.error_code == 0),
        "{group}: {r:?}"
    );
}

/// The committed offsets (−1 = none) of `partitions` of `topic` for `group`.
fn fetch(c: &mut RawClient, group: &str, topic: &str, partitions: &[i32]) -> Vec<(i32, i64)> {
    let req = OffsetFetchRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_topics(Some(vec![OffsetFetchRequestTopic::default()
            .with_name(TopicName(s(topic)))
            .with_partition_indexes(partitions.to_vec())]));
    let r = c.send(7, &req).expect("OffsetFetch");
    assert_eq!(r.error_code, 0, "{r:?}");
    r.topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(|p| (p.partition_index, p.committed_offset))
        })
        .collect()
}

/// Joins `group` as its only member and completes the rebalance: the member id (generation 1).
fn stable_member(c: &mut RawClient, group: &str) -> String {
    let join = |c: &mut RawClient, member: &str| {
        let req = JoinGroupRequest::default()
            .with_group_id(GroupId(s(group)))
            .with_session_timeout_ms(60_000)
            .with_rebalance_timeout_ms(60_000)
            .with_member_id(s(member))
            .with_protocol_type(s("consumer"))
            .with_protocols(vec![JoinGroupRequestProtocol::default()
                .with_name(s("range"))
                .with_metadata(Bytes::from_static(b"\0\0\0\0\0\0\xff\xff\xff\xff"))]);
        c.send(5, &req).expect("JoinGroup")
    };
    let first = join(c, "");
    assert_eq!(first.error_code, MEMBER_ID_REQUIRED, "{first:?}");
    let member = first.member_id.to_string();
    let joined = join(c, &member);
    assert_eq!(
        (joined.error_code, joined.generation_id),
        (0, 1),
        "{joined:?}"
    );
    let sync = c
        .send(
            5,
            &SyncGroupRequest::default()
                .with_group_id(GroupId(s(group)))
                .with_generation_id(1)
                .with_member_id(s(&member))
                .with_protocol_type(Some(s("consumer")))
                .with_protocol_name(Some(s("range")))
                .with_assignments(vec![SyncGroupRequestAssignment::default()
                    .with_member_id(s(&member))
                    .with_assignment(Bytes::new())]),
        )
        .expect("SyncGroup");
    assert_eq!(sync.error_code, 0, "{sync:?}");
    member
}

/// `(group, state)` of every group ListGroups shows, sorted.
fn list_groups(c: &mut RawClient) -> Vec<(String, String)> {
    let r = c
        .send(4, &ListGroupsRequest::default())
        .expect("ListGroups");
    assert_eq!(r.error_code, 0, "{r:?}");
    let mut groups: Vec<(String, String)> = r
        .groups
        .iter()
        .map(|g| (g.group_id.to_string(), g.group_state.to_string()))
        .collect();
    groups.sort();
    groups
}

/// `(key JSON, payload JSON or <DELETE>)` of every record of the `.log` files of `dir`, as
/// `rafka dump-log --offsets-decoder` prints them.
fn dump(dir: &Path) -> Vec<(String, String)> {
    let mut logs: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    logs.sort();
    let mut out = Vec::new();
    for log in logs {
        let run = run_bounded(
            Command::new(rafka_bin())
                .args(["dump-log", "--offsets-decoder"])
                .arg(&log),
            None,
            TIMEOUT,
        );
        assert!(run.success(), "{}", run.describe());
        out.extend(run.stdout_str().lines().filter_map(|l| {
            let (_, rest) = l.split_once(" key: ")?;
            let (key, payload) = rest.split_once(" payload: ")?;
            Some((key.to_string(), payload.to_string()))
        }));
    }
    out
}

fn offset_key(group: &str, topic: &str, partition: i32) -> String {
    format!(
        r#"{{"type":"1","data":{{"group":"{group}","topic":"{topic}","partition":{partition}}}}}"#
    )
}

fn group_key(group: &str) -> String {
    format!(r#"{{"type":"2","data":{{"group":"{group}"}}}}"#)
}

#[test]
fn deleting_a_topic_purges_its_committed_offsets_and_empty_groups_die() {
    let zk = EmbeddedZookeeper::start();
    let mut b = BrokerProcess::builder()
        .broker_id(1)
        .zookeeper(zk.connect_string())
        // One partition: every group's records are in __consumer_offsets-0.
        .prop("offsets.topic.num.partitions", 1)
        .prop("offsets.topic.replication.factor", 1)
        .prop("group.initial.rebalance.delay.ms", 0)
        .prop("log.segment.delete.delay.ms", 100)
        .start();
    assert!(b.wait_listening(TIMEOUT));
    let mut c = RawClient::connect_with_retry(b.port(), TIMEOUT).unwrap();
    c.create_topic_when_ready("doomed", 2, TIMEOUT, || b.logs());
    c.create_topic_when_ready("kept", 1, TIMEOUT, || b.logs());
    wait_coordinator(&mut c, &b);

    // "solo": a simple group with offsets of the doomed topic only.
    commit(&mut c, "solo", "", -1, "doomed", &[(0, 1), (1, 2)]);
    // "mixed": a simple group with offsets of both topics.
    commit(&mut c, "mixed", "", -1, "doomed", &[(0, 3)]);
    commit(&mut c, "mixed", "", -1, "kept", &[(0, 7)]);
    // "live": a Stable group whose member committed an offset of the doomed topic.
    let live = stable_member(&mut c, "live");
    commit(&mut c, "live", &live, 1, "doomed", &[(1, 11)]);
    // "gone": a group with a generation whose member committed and left (Empty).
    let gone = stable_member(&mut c, "gone");
    commit(&mut c, "gone", &gone, 1, "doomed", &[(0, 21)]);
    let left = c
        .send(
            1,
            &LeaveGroupRequest::default()
                .with_group_id(GroupId(s("gone")))
                .with_member_id(s(&gone)),
        )
        .expect("LeaveGroup");
    assert_eq!(left.error_code, 0, "{left:?}");
    assert_eq!(
        list_groups(&mut c),
        vec![
            ("gone".to_string(), "Empty".to_string()),
            ("live".to_string(), "Stable".to_string()),
            ("mixed".to_string(), "Empty".to_string()),
            ("solo".to_string(), "Empty".to_string()),
        ]
    );
    assert_eq!(
        fetch(&mut c, "solo", "doomed", &[0, 1]),
        vec![(0, 1), (1, 2)]
    );

    let deleted = c
        .send(
            4,
            &DeleteTopicsRequest::default()
                .with_topic_names(vec![TopicName(s("doomed"))])
                .with_timeout_ms(20_000),
        )
        .expect("DeleteTopics");
    assert_eq!(
        deleted.responses[0].error_code,
        0,
        "{deleted:?}\n{}",
        b.logs()
    );

    // The purge runs when the broker learns of the deletion (UpdateMetadata, leader −2).
    let purged = wait_until(TIMEOUT, Duration::from_millis(100), || {
        fetch(&mut c, "live", "doomed", &[1]) == vec![(1, -1)]
    });
    assert!(purged, "offsets of the deleted topic kept\n{}", b.logs());
    assert_eq!(
        fetch(&mut c, "solo", "doomed", &[0, 1]),
        vec![(0, -1), (1, -1)]
    );
    assert_eq!(fetch(&mut c, "mixed", "doomed", &[0]), vec![(0, -1)]);
    assert_eq!(fetch(&mut c, "gone", "doomed", &[0]), vec![(0, -1)]);
    assert_eq!(fetch(&mut c, "mixed", "kept", &[0]), vec![(0, 7)]);
    // "solo" and "gone" were left Empty without offsets: Dead, no longer listed.
    assert_eq!(
        list_groups(&mut c),
        vec![
            ("live".to_string(), "Stable".to_string()),
            ("mixed".to_string(), "Empty".to_string()),
        ]
    );
    let described = c
        .send(
            5,
            &DescribeGroupsRequest::default()
                .with_groups(vec![GroupId(s("solo")), GroupId(s("gone"))]),
        )
        .expect("DescribeGroups");
    for g in &described.groups {
        assert_eq!(
            (g.error_code, g.group_state.as_str(), g.members.len()),
            (0, "Dead", 0),
            "{g:?}"
        );
    }
    assert!(
        b.logs()
            .contains("removed offsets associated with deleted partitions"),
        "{}",
        b.logs()
    );

    // __consumer_offsets: a tombstone per removed offset, and one for the metadata of "gone"
    // (the only Dead group that had a generation); the surviving offset has none.
    let dir = b.log_dir().join("__consumer_offsets-0");
    let expected_tombstones = [
        offset_key("solo", "doomed", 0),
        offset_key("solo", "doomed", 1),
        offset_key("mixed", "doomed", 0),
        offset_key("live", "doomed", 1),
        offset_key("gone", "doomed", 0),
        group_key("gone"),
    ];
    let records = poll_until(TIMEOUT, Duration::from_millis(200), || {
        let records = dump(&dir);
        let all_there = expected_tombstones
            .iter()
            .all(|k| records.iter().any(|(key, p)| key == k && p == "<DELETE>"));
        all_there.then_some(records)
    })
    .unwrap_or_else(|| panic!("tombstones missing: {:?}\n{}", dump(&dir), b.logs()));
    let tombstones: Vec<&String> = records
        .iter()
        .filter(|(_, p)| p == "<DELETE>")
        .map(|(k, _)| k)
        .collect();
    assert_eq!(
        tombstones.len(),
        expected_tombstones.len(),
        "exactly the expected tombstones: {tombstones:?}"
    );
    // The offsets had been written before (the tombstones replace real records).
    assert!(records
        .iter()
        .any(|(k, p)| *k == offset_key("gone", "doomed", 0) && p.contains(r#""offset":21"#)));
    b.stop();
}
