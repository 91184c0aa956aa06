//! The group coordinator on the wire (raw requests, exact error codes) against a real broker
//! on a real ZooKeeper: FindCoordinator creating `__consumer_offsets` through the admin path
//! with Kafka's forced configs (and staying unavailable while fewer brokers are alive than
//! its replication factor), batched lookups and key types; the JoinGroup (MEMBER_ID_REQUIRED)
//! → SyncGroup → Heartbeat → OffsetCommit → OffsetFetch → LeaveGroup cycle; ListGroups,
//! DescribeGroups, OffsetDelete and DeleteGroups; version-0 offsets in ZooKeeper. Every wait is
//! bounded.

use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_delete_request::{
    OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use rafka_tests::{
    get_znode, get_znode_json, zk_client, BrokerProcess, EmbeddedZookeeper, RawClient,
};

const TIMEOUT: Duration = Duration::from_secs(30);
const COORDINATOR_NOT_AVAILABLE: i16 = 15;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const ILLEGAL_GENERATION: i16 = 22;
const UNKNOWN_MEMBER_ID: i16 = 25;
const REBALANCE_IN_PROGRESS: i16 = 27;
const INVALID_REQUEST: i16 = 42;
const NON_EMPTY_GROUP: i16 = 68;
const GROUP_ID_NOT_FOUND: i16 = 69;
const MEMBER_ID_REQUIRED: i16 = 79;
const GROUP_SUBSCRIBED_TO_TOPIC: i16 = 86;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn broker(zk: &EmbeddedZookeeper, extra: &[(&str, &str)]) -> BrokerProcess {
    let mut b = BrokerProcess::builder()
        .broker_id(1)
        .zookeeper(zk.connect_string())
        .prop("offsets.topic.num.partitions", 4)
        .prop("offsets.topic.replication.factor", 1)
        .prop("group.initial.rebalance.delay.ms", 0)
        .prop("group.min.session.timeout.ms", 1000);
    for (k, v) in extra {
        b = b.prop(k, v);
    }
    b.start()
}

fn find(c: &mut RawClient, version: i16, key: &str, key_type: i8) -> FindCoordinatorResponse {
    let req = FindCoordinatorRequest::default()
        .with_key(s(key))
        .with_key_type(key_type);
    c.send(version, &req).expect("FindCoordinator")
}

/// Polls FindCoordinator until the group has a coordinator.
fn wait_coordinator(c: &mut RawClient, group: &str, b: &BrokerProcess) -> FindCoordinatorResponse {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let r = find(c, 3, group, 0);
        if r.error_code == 0 {
            return r;
        }
        assert_eq!(r.error_code, COORDINATOR_NOT_AVAILABLE, "{r:?}");
        assert!(
            Instant::now() < deadline,
            "no coordinator for {group}\n{}",
            b.logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn subscription(topics: &[&str]) -> Bytes {
    let mut b = 0i16.to_be_bytes().to_vec();
    b.extend_from_slice(&(topics.len() as i32).to_be_bytes());
    for t in topics {
        b.extend_from_slice(&(t.len() as i16).to_be_bytes());
        b.extend_from_slice(t.as_bytes());
    }
    b.extend_from_slice(&(-1i32).to_be_bytes());
    Bytes::from(b)
}

fn join(c: &mut RawClient, version: i16, group: &str, member: &str) -> JoinGroupResponse {
    let req = JoinGroupRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_session_timeout_ms(10_000)
        .with_rebalance_timeout_ms(if version >= 1 { 10_000 } else { -1 })
        .with_member_id(s(member))
        .with_protocol_type(s("consumer"))
        .with_protocols(vec![JoinGroupRequestProtocol::default()
            .with_name(s("range"))
            .with_metadata(subscription(&["orders"]))]);
    c.send(version, &req).expect("JoinGroup")
}

fn commit(
    c: &mut RawClient,
    version: i16,
    group: &str,
    member: &str,
    generation: i32,
    topic: &str,
    offsets: &[(i32, i64)],
) -> OffsetCommitResponse {
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
                            .with_committed_metadata(Some(s("meta")))
                    })
                    .collect(),
            )]);
    c.send(version, &req).expect("OffsetCommit")
}

fn fetch_v7(
    c: &mut RawClient,
    group: &str,
    topic: &str,
    partitions: &[i32],
) -> Vec<(i32, i64, i16)> {
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
                .map(|p| (p.partition_index, p.committed_offset, p.error_code))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn find_coordinator_creates_the_offsets_topic_with_kafka_configs() {
    let zk = EmbeddedZookeeper::start();
    let mut b = broker(&zk, &[("offsets.topic.segment.bytes", "1048576")]);
    assert!(b.wait_listening(TIMEOUT));
    let mut c = RawClient::connect_with_retry(b.port(), TIMEOUT).unwrap();
    // Before the topic exists: COORDINATOR_NOT_AVAILABLE with Kafka's message, no node.
    let deadline = Instant::now() + TIMEOUT;
    let first = loop {
        let r = find(&mut c, 1, "g", 0);
        // Until this broker is known to its own metadata cache the creation cannot place
        // replicas; it keeps answering COORDINATOR_NOT_AVAILABLE meanwhile.
        assert_eq!(r.error_code, COORDINATOR_NOT_AVAILABLE, "{r:?}");
        let zkc = zk_client(&zk.connect_string()).await;
        if get_znode(&zkc, "/brokers/topics/__consumer_offsets")
            .await
            .is_some()
        {
            break r;
        }
        assert!(
            Instant::now() < deadline,
            "__consumer_offsets not created\n{}",
            b.logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(
        first.error_message.as_deref(),
        Some("The coordinator is not available.")
    );
    assert_eq!(
        (first.node_id.0, first.host.as_str(), first.port),
        (-1, "", -1)
    );
    let ok = wait_coordinator(&mut c, "g", &b);
    assert_eq!(
        (ok.node_id.0, ok.host.as_str(), ok.port),
        (1, "127.0.0.1", i32::from(b.port()))
    );
    assert_eq!(ok.error_message.as_deref(), Some("NONE"));

    let client = zk_client(&zk.connect_string()).await;
    let config = get_znode_json(&client, "/config/topics/__consumer_offsets")
        .await
        .unwrap();
    assert_eq!(config["config"]["cleanup.policy"], "compact");
    assert_eq!(config["config"]["compression.type"], "producer");
    assert_eq!(config["config"]["segment.bytes"], "1048576");
    let topic = get_znode_json(&client, "/brokers/topics/__consumer_offsets")
        .await
        .unwrap();
    assert_eq!(topic["partitions"].as_object().unwrap().len(), 4);

    // v0 (no key type, no message) and v4 batches.
    let v0 = find(&mut c, 0, "g", 0);
    assert_eq!((v0.error_code, v0.node_id.0), (0, 1));
    let v4 = c
        .send(
            4,
            &FindCoordinatorRequest::default().with_coordinator_keys(vec![s("a"), s("b"), s("")]),
        )
        .unwrap();
    assert_eq!(v4.coordinators.len(), 3);
    for co in &v4.coordinators {
        assert_eq!(
            (co.error_code, co.node_id.0, co.port),
            (0, 1, i32::from(b.port())),
            "{co:?}"
        );
        assert_eq!(co.error_message, None);
    }
    // Unknown key type → INVALID_REQUEST; share groups: INVALID_REQUEST before v6, else
    // COORDINATOR_NOT_AVAILABLE (no share coordinator).
    assert_eq!(find(&mut c, 3, "g", 7).error_code, INVALID_REQUEST);
    let v4bad = c
        .send(
            4,
            &FindCoordinatorRequest::default()
                .with_key_type(9)
                .with_coordinator_keys(vec![s("x")]),
        )
        .unwrap();
    assert_eq!(v4bad.coordinators[0].error_code, INVALID_REQUEST);
    assert!(v4bad.coordinators[0].error_message.is_some());
    let share5 = c
        .send(
            5,
            &FindCoordinatorRequest::default()
                .with_key_type(2)
                .with_coordinator_keys(vec![s("x")]),
        )
        .unwrap();
    assert_eq!(share5.coordinators[0].error_code, INVALID_REQUEST);
    let share6 = c
        .send(
            6,
            &FindCoordinatorRequest::default()
                .with_key_type(2)
                .with_coordinator_keys(vec![s("x")]),
        )
        .unwrap();
    assert_eq!(share6.coordinators[0].error_code, COORDINATOR_NOT_AVAILABLE);
    b.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn offsets_topic_replication_factor_above_live_brokers_stays_unavailable() {
    let zk = EmbeddedZookeeper::start();
    let mut b = broker(&zk, &[("offsets.topic.replication.factor", "3")]);
    assert!(b.wait_listening(TIMEOUT));
    let mut c = RawClient::connect_with_retry(b.port(), TIMEOUT).unwrap();
    for _ in 0..20 {
        assert_eq!(
            find(&mut c, 3, "g", 0).error_code,
            COORDINATOR_NOT_AVAILABLE
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let client = zk_client(&zk.connect_string()).await;
    assert!(get_znode(&client, "/brokers/topics/__consumer_offsets")
        .await
        .is_none());
    assert!(
        b.logs().contains("internal topic creation failed"),
        "{}",
        b.logs()
    );
    b.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn join_sync_heartbeat_commit_fetch_leave_and_admin_apis() {
    let zk = EmbeddedZookeeper::start();
    let mut b = broker(&zk, &[]);
    assert!(b.wait_listening(TIMEOUT));
    let mut c = RawClient::connect_with_retry(b.port(), TIMEOUT)
        .unwrap()
        .with_client_id("raw-client");
    c.create_topic_when_ready("orders", 3, TIMEOUT, || b.logs());
    wait_coordinator(&mut c, "grp", &b);

    // JoinGroup v5: MEMBER_ID_REQUIRED with a new id, then the join with it.
    let first = join(&mut c, 5, "grp", "");
    assert_eq!(first.error_code, MEMBER_ID_REQUIRED, "{first:?}");
    assert!(first.member_id.starts_with("raw-client-"), "{first:?}");
    assert_eq!(first.generation_id, -1);
    let member = first.member_id.to_string();
    let joined = join(&mut c, 5, "grp", &member);
    assert_eq!(joined.error_code, 0, "{joined:?}\n{}", b.logs());
    assert_eq!(
        (
            joined.generation_id,
            joined.leader.as_str(),
            joined.member_id.as_str()
        ),
        (1, member.as_str(), member.as_str())
    );
    assert_eq!(joined.protocol_name.as_deref(), Some("range"));
    assert_eq!(joined.members.len(), 1);
    // JoinGroup v7 answers the protocol type; v2 has none.
    let sync = c
        .send(
            5,
            &SyncGroupRequest::default()
                .with_group_id(GroupId(s("grp")))
                .with_generation_id(1)
                .with_member_id(s(&member))
                .with_protocol_type(Some(s("consumer")))
                .with_protocol_name(Some(s("range")))
                .with_assignments(vec![SyncGroupRequestAssignment::default()
                    .with_member_id(s(&member))
                    .with_assignment(Bytes::from_static(b"assignment"))]),
        )
        .unwrap();
    assert_eq!(sync.error_code, 0, "{sync:?}");
    assert_eq!(sync.assignment, Bytes::from_static(b"assignment"));
    assert_eq!(sync.protocol_name.as_deref(), Some("range"));
    // v5 without protocol type/name → INCONSISTENT_GROUP_PROTOCOL.
    let bad_sync = c
        .send(
            5,
            &SyncGroupRequest::default()
                .with_group_id(GroupId(s("grp")))
                .with_generation_id(1)
                .with_member_id(s(&member)),
        )
        .unwrap();
    assert_eq!(bad_sync.error_code, 23);
    let hb = |c: &mut RawClient, generation: i32, member: &str| {
        c.send(
            4,
            &HeartbeatRequest::default()
                .with_group_id(GroupId(s("grp")))
                .with_generation_id(generation)
                .with_member_id(s(member)),
        )
        .unwrap()
        .error_code
    };
    assert_eq!(hb(&mut c, 1, &member), 0);
    assert_eq!(hb(&mut c, 2, &member), ILLEGAL_GENERATION);
    assert_eq!(hb(&mut c, 1, "nobody"), UNKNOWN_MEMBER_ID);

    // Commits: a member of the generation; an unknown topic and partition; wrong generation.
    let r = commit(
        &mut c,
        8,
        "grp",
        &member,
        1,
        "orders",
        &[(0, 10), (1, 20), (7, 1)],
    );
    let codes: Vec<(i32, i16)> = r.topics[0]
        .partitions
        .iter()
        .map(|p| (p.partition_index, p.error_code))
        .collect();
    assert_eq!(codes, vec![(0, 0), (1, 0), (7, UNKNOWN_TOPIC_OR_PARTITION)]);
    let r = commit(&mut c, 8, "grp", &member, 1, "nope", &[(0, 1)]);
    assert_eq!(
        r.topics[0].partitions[0].error_code,
        UNKNOWN_TOPIC_OR_PARTITION
    );
    let r = commit(&mut c, 8, "grp", &member, 5, "orders", &[(0, 1)]);
    assert_eq!(r.topics[0].partitions[0].error_code, ILLEGAL_GENERATION);
    assert_eq!(
        fetch_v7(&mut c, "grp", "orders", &[0, 1, 2]),
        vec![(0, 10, 0), (1, 20, 0), (2, -1, 0)]
    );
    // OffsetFetch v8: two groups, one of them unknown; all partitions of a group with null topics.
    let r = c
        .send(
            8,
            &OffsetFetchRequest::default().with_groups(vec![
                OffsetFetchRequestGroup::default()
                    .with_group_id(GroupId(s("grp")))
                    .with_topics(None),
                OffsetFetchRequestGroup::default()
                    .with_group_id(GroupId(s("other")))
                    .with_topics(Some(vec![OffsetFetchRequestTopics::default()
                        .with_name(TopicName(s("orders")))
                        .with_partition_indexes(vec![0])])),
            ]),
        )
        .unwrap();
    assert_eq!(r.groups.len(), 2);
    let mut all: Vec<(i32, i64)> = r.groups[0].topics[0]
        .partitions
        .iter()
        .map(|p| (p.partition_index, p.committed_offset))
        .collect();
    all.sort();
    assert_eq!(all, vec![(0, 10), (1, 20)]);
    assert_eq!(
        r.groups[0].topics[0].partitions[0].metadata.as_deref(),
        Some("meta")
    );
    assert_eq!(r.groups[1].topics[0].partitions[0].committed_offset, -1);

    // Admin: list (state filter v4), describe (v5), OffsetDelete on a subscribed topic.
    let listed = c
        .send(
            4,
            &ListGroupsRequest::default().with_states_filter(vec![s("Stable")]),
        )
        .unwrap();
    assert_eq!(listed.error_code, 0);
    assert_eq!(listed.groups.len(), 1);
    assert_eq!(
        (
            listed.groups[0].group_id.as_str(),
            listed.groups[0].group_state.as_str()
        ),
        ("grp", "Stable")
    );
    let described = c
        .send(
            5,
            &DescribeGroupsRequest::default()
                .with_groups(vec![GroupId(s("grp")), GroupId(s("absent"))])
                .with_include_authorized_operations(true),
        )
        .unwrap();
    let g = &described.groups[0];
    assert_eq!(
        (
            g.error_code,
            g.group_state.as_str(),
            g.protocol_type.as_str(),
            g.protocol_data.as_str()
        ),
        (0, "Stable", "consumer", "range")
    );
    assert_eq!(g.members.len(), 1);
    assert_eq!(g.members[0].client_id.as_str(), "raw-client");
    assert_eq!(g.members[0].client_host.as_str(), "/127.0.0.1");
    assert_eq!(
        g.members[0].member_assignment,
        Bytes::from_static(b"assignment")
    );
    assert_eq!(g.authorized_operations, (1 << 3) | (1 << 6) | (1 << 8));
    assert_eq!(
        (
            described.groups[1].error_code,
            described.groups[1].group_state.as_str()
        ),
        (0, "Dead")
    );
    let od = c
        .send(
            0,
            &OffsetDeleteRequest::default()
                .with_group_id(GroupId(s("grp")))
                .with_topics(vec![
                    OffsetDeleteRequestTopic::default()
                        .with_name(TopicName(s("orders")))
                        .with_partitions(vec![
                            OffsetDeleteRequestPartition::default().with_partition_index(0)
                        ]),
                    OffsetDeleteRequestTopic::default()
                        .with_name(TopicName(s("nope")))
                        .with_partitions(vec![
                            OffsetDeleteRequestPartition::default().with_partition_index(0)
                        ]),
                ]),
        )
        .unwrap();
    assert_eq!(od.error_code, 0);
    assert_eq!(
        od.topics[0].partitions[0].error_code,
        GROUP_SUBSCRIBED_TO_TOPIC
    );
    assert_eq!(
        od.topics[1].partitions[0].error_code,
        UNKNOWN_TOPIC_OR_PARTITION
    );
    // DeleteGroups on a group with members → NON_EMPTY_GROUP.
    let dg = c
        .send(
            2,
            &DeleteGroupsRequest::default()
                .with_groups_names(vec![GroupId(s("grp")), GroupId(s("absent"))]),
        )
        .unwrap();
    assert_eq!(
        dg.results.iter().map(|r| r.error_code).collect::<Vec<_>>(),
        vec![NON_EMPTY_GROUP, GROUP_ID_NOT_FOUND]
    );

    b.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn rebalance_leave_offset_delete_delete_group_and_v0_zookeeper_offsets() {
    let zk = EmbeddedZookeeper::start();
    let mut b = broker(&zk, &[]);
    assert!(b.wait_listening(TIMEOUT));
    let port = b.port();
    let mut c = RawClient::connect_with_retry(port, TIMEOUT).unwrap();
    c.create_topic_when_ready("orders", 2, TIMEOUT, || b.logs());
    wait_coordinator(&mut c, "grp", &b);
    let j = join(&mut c, 3, "grp", "");
    assert_eq!((j.error_code, j.generation_id), (0, 1), "{j:?}");
    let first = j.member_id.to_string();
    let sync = |c: &mut RawClient, generation: i32, member: &str| {
        c.send(
            3,
            &SyncGroupRequest::default()
                .with_group_id(GroupId(s("grp")))
                .with_generation_id(generation)
                .with_member_id(s(member)),
        )
        .unwrap()
    };
    assert_eq!(sync(&mut c, 1, &first).error_code, 0);
    // A second member (v3: no MEMBER_ID_REQUIRED) parks until the first rejoins.
    let second = std::thread::spawn(move || {
        let mut c2 = RawClient::connect(port).unwrap();
        join(&mut c2, 3, "grp", "")
    });
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let code = c
            .send(
                3,
                &HeartbeatRequest::default()
                    .with_group_id(GroupId(s("grp")))
                    .with_generation_id(1)
                    .with_member_id(s(&first)),
            )
            .unwrap()
            .error_code;
        if code == REBALANCE_IN_PROGRESS {
            break;
        }
        assert_eq!(code, 0);
        assert!(Instant::now() < deadline, "no rebalance");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Commits of the current generation are allowed while preparing the rebalance.
    let r = commit(&mut c, 2, "grp", &first, 1, "orders", &[(0, 5), (1, 6)]);
    assert_eq!(r.topics[0].partitions[0].error_code, 0);
    let rejoin = join(&mut c, 3, "grp", &first);
    let second = second.join().unwrap();
    assert_eq!((rejoin.error_code, rejoin.generation_id), (0, 2));
    assert_eq!((second.error_code, second.generation_id), (0, 2));
    assert_eq!(
        rejoin.members.len() + second.members.len(),
        2,
        "only the leader gets the members"
    );
    // Both leave in one v3 batch → the group is Empty.
    let left = c
        .send(
            4,
            &LeaveGroupRequest::default()
                .with_group_id(GroupId(s("grp")))
                .with_members(vec![
                    MemberIdentity::default().with_member_id(s(&first)),
                    MemberIdentity::default().with_member_id(second.member_id.clone()),
                    MemberIdentity::default().with_member_id(s("nobody")),
                ]),
        )
        .unwrap();
    assert_eq!(left.error_code, 0);
    assert_eq!(
        left.members
            .iter()
            .map(|m| m.error_code)
            .collect::<Vec<_>>(),
        vec![0, 0, UNKNOWN_MEMBER_ID]
    );
    // LeaveGroup v0 for an unknown member: one error code.
    let v0 = c
        .send(
            0,
            &LeaveGroupRequest::default()
                .with_group_id(GroupId(s("grp")))
                .with_member_id(s("nobody")),
        )
        .unwrap();
    assert_eq!(v0.error_code, UNKNOWN_MEMBER_ID);
    let described = c
        .send(
            0,
            &DescribeGroupsRequest::default().with_groups(vec![GroupId(s("grp"))]),
        )
        .unwrap();
    assert_eq!(described.groups[0].group_state.as_str(), "Empty");
    // Empty: OffsetDelete removes an offset, DeleteGroups the group (and its other offset).
    let od = c
        .send(
            0,
            &OffsetDeleteRequest::default()
                .with_group_id(GroupId(s("grp")))
                .with_topics(vec![OffsetDeleteRequestTopic::default()
                    .with_name(TopicName(s("orders")))
                    .with_partitions(vec![
                        OffsetDeleteRequestPartition::default().with_partition_index(0)
                    ])]),
        )
        .unwrap();
    assert_eq!(
        (od.error_code, od.topics[0].partitions[0].error_code),
        (0, 0)
    );
    assert_eq!(
        fetch_v7(&mut c, "grp", "orders", &[0, 1]),
        vec![(0, -1, 0), (1, 6, 0)]
    );
    let dg = c
        .send(
            0,
            &DeleteGroupsRequest::default().with_groups_names(vec![GroupId(s("grp"))]),
        )
        .unwrap();
    assert_eq!(dg.results[0].error_code, 0);
    assert_eq!(fetch_v7(&mut c, "grp", "orders", &[1]), vec![(1, -1, 0)]);
    let od = c
        .send(
            0,
            &OffsetDeleteRequest::default()
                .with_group_id(GroupId(s("grp")))
                .with_topics(vec![]),
        )
        .unwrap();
    assert_eq!(od.error_code, GROUP_ID_NOT_FOUND);
    let listed = c.send(0, &ListGroupsRequest::default()).unwrap();
    assert!(listed.groups.is_empty(), "{listed:?}");

    // v0 commits go to ZooKeeper, v0 fetches read it.
    let r = commit(&mut c, 0, "zkgroup", "", -1, "orders", &[(1, 77)]);
    assert_eq!(r.topics[0].partitions[0].error_code, 0);
    let client = zk_client(&zk.connect_string()).await;
    let (data, _) = get_znode(&client, "/consumers/zkgroup/offsets/orders/1")
        .await
        .expect("v0 offset znode");
    assert_eq!(data, b"77");
    let f = c
        .send(
            0,
            &OffsetFetchRequest::default()
                .with_group_id(GroupId(s("zkgroup")))
                .with_topics(Some(vec![OffsetFetchRequestTopic::default()
                    .with_name(TopicName(s("orders")))
                    .with_partition_indexes(vec![0, 1])])),
        )
        .unwrap();
    let got: Vec<(i32, i64)> = f.topics[0]
        .partitions
        .iter()
        .map(|p| (p.partition_index, p.committed_offset))
        .collect();
    assert_eq!(got, vec![(0, -1), (1, 77)]);
    // The coordinator does not know v0 offsets.
    assert_eq!(
        fetch_v7(&mut c, "zkgroup", "orders", &[1]),
        vec![(1, -1, 0)]
    );
    b.stop();
}
