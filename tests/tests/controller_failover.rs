//! Partition leadership across broker restarts, broker deaths and controller failover: a
//! restarted broker gets LeaderAndIsr for the partitions it hosts (so Produce and Fetch work
//! again, with the old records), a dead leader is replaced from the ISR with the leader epoch
//! bumped and the dead broker out of the ISR (state znodes written by the controller), and a
//! new controller keeps the survivors' leadership. Real ZooKeeper, real broker processes, raw
//! Kafka requests and kcat; every wait is bounded.

use std::time::Duration;

use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use rafka_tests::create_topic_assignment;
use rafka_tests::zookeeper_client::{Client, Stat};
use rafka_tests::{
    controller_epoch, controller_id, fetch_once, get_partition_state, get_znode, kcat_partitions,
    kcat_wait_for_brokers, partition_state_path, poll_until, poll_until_async, produce_once,
    produce_until, tagged_values, wait_for_znode, wait_for_znode_gone, zk_client, BrokerProcess,
    EmbeddedZookeeper, KcatPartition, RawClient, BROKER_STOP_TIMEOUT,
};
use serde_json::{json, Value};

const TIMEOUT: Duration = Duration::from_secs(30);
/// The brokers' `zookeeper.session.timeout.ms` (the harness default).
const SESSION_TIMEOUT: Duration = Duration::from_secs(6);
/// How long a dead broker may take to be noticed and its partitions to move.
const FAILOVER_TIMEOUT: Duration = Duration::from_secs(6 + 20);

const NONE: i16 = 0;
const LEADER_NOT_AVAILABLE: i16 = 5;
const NOT_LEADER_OR_FOLLOWER: i16 = 6;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn start_broker(zk: &EmbeddedZookeeper, id: i32) -> BrokerProcess {
    BrokerProcess::builder()
        .broker_id(id)
        .zookeeper(zk.connect_string())
        .start()
}

/// The state znode's JSON and stat.
async fn state(client: &Client, topic: &str, partition: i32) -> (Value, Stat) {
    get_partition_state(client, topic, partition)
        .await
        .unwrap_or_else(|| panic!("no state for {topic}-{partition}"))
}

/// One partition as Metadata v9 reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct MetaPartition {
    error: i16,
    leader: i32,
    leader_epoch: i32,
    replicas: Vec<i32>,
    isr: Vec<i32>,
    offline: Vec<i32>,
}

/// Metadata v9 for `topic` from the broker on `port`: the controller id and the partitions
/// in partition order; `None` if the broker is unreachable or does not know the topic.
fn metadata(port: u16, topic: &str) -> Option<(i32, Vec<MetaPartition>)> {
    let mut c = RawClient::connect(port).ok()?;
    let request = MetadataRequest::default()
        .with_topics(Some(vec![
            MetadataRequestTopic::default().with_name(Some(TopicName(s(topic))))
        ]))
        .with_allow_auto_topic_creation(false);
    let r: MetadataResponse = c.send(9, &request).ok()?;
    let t = r.topics.first()?;
    if t.partitions.is_empty() {
        return None;
    }
    let ids = |v: &[BrokerId]| v.iter().map(|b| b.0).collect::<Vec<_>>();
    let mut parts: Vec<(i32, MetaPartition)> = t
        .partitions
        .iter()
        .map(|p| {
            (
                p.partition_index,
                MetaPartition {
                    error: p.error_code,
                    leader: p.leader_id.0,
                    leader_epoch: p.leader_epoch,
                    replicas: ids(&p.replica_nodes),
                    isr: ids(&p.isr_nodes),
                    offline: ids(&p.offline_replicas),
                },
            )
        })
        .collect();
    parts.sort_by_key(|(p, _)| *p);
    Some((
        r.controller_id.0,
        parts.into_iter().map(|(_, p)| p).collect(),
    ))
}

/// Waits until the broker's Metadata for `topic` satisfies `ok`; returns the partitions.
fn wait_metadata(
    b: &BrokerProcess,
    topic: &str,
    what: &str,
    timeout: Duration,
    ok: impl Fn(i32, &[MetaPartition]) -> bool,
) -> Vec<MetaPartition> {
    poll_until(timeout, Duration::from_millis(200), || {
        let (controller, parts) = metadata(b.port(), topic)?;
        ok(controller, &parts).then_some(parts)
    })
    .unwrap_or_else(|| {
        panic!(
            "broker {}: {what}; last metadata {:?}\n{}",
            b.broker_id(),
            metadata(b.port(), topic),
            b.logs()
        )
    })
}

fn expected_values(batches: &[(&str, usize)]) -> Vec<(i64, String)> {
    let mut offset = 0;
    let mut out = Vec::new();
    for (tag, n) in batches {
        for i in 0..*n {
            out.push((offset, format!("{tag}-{i}")));
            offset += 1;
        }
    }
    out
}

/// Waits for `/brokers/ids/<id>` and for the controller to have told the broker about
/// `topic`'s partitions (UpdateMetadata), every one with a leader.
async fn wait_ready(client: &Client, b: &BrokerProcess, topic: &str, partitions: usize) {
    wait_for_znode(client, &format!("/brokers/ids/{}", b.broker_id()), TIMEOUT).await;
    wait_metadata(b, topic, "partitions with leaders", TIMEOUT, |_, parts| {
        parts.len() == partitions && parts.iter().all(|p| p.error == NONE)
    });
}

/// One broker, two partitions: records produced before a restart are fetched after it, and
/// new records follow them. `kill` picks SIGKILL (the restart waits for the old session to
/// expire) over SIGTERM.
async fn restart_single_broker(kill: bool) {
    let zk = EmbeddedZookeeper::start();
    let mut b = start_broker(&zk, 1);
    let client = zk_client(&zk.connect_string()).await;
    wait_for_znode(&client, "/brokers/ids/1", TIMEOUT).await;
    create_topic_assignment(&client, "t", json!({"0": [1], "1": [1]})).await;
    wait_ready(&client, &b, "t", 2).await;
    for p in 0..2 {
        assert_eq!(
            produce_until(
                &b,
                "t",
                p,
                1,
                &tagged_values(&format!("before{p}"), 3),
                NONE
            ),
            0
        );
    }
    let states_before = [state(&client, "t", 0).await, state(&client, "t", 1).await];

    if kill {
        b.signal_kill();
        assert!(b.wait_exit(Duration::from_secs(10)).is_some());
        // The old session must expire before the id can be registered again.
        wait_for_znode_gone(&client, "/brokers/ids/1", SESSION_TIMEOUT + TIMEOUT).await;
    } else {
        b.signal_term();
        assert!(
            b.wait_exit(BROKER_STOP_TIMEOUT).is_some(),
            "no clean exit\n{}",
            b.logs()
        );
    }
    b.restart();
    wait_for_znode(&client, "/brokers/ids/1", TIMEOUT).await;

    // The new controller (the same broker) sends LeaderAndIsr with the current state: the
    // broker leads both partitions again, with the records it had.
    for p in 0..2 {
        assert_eq!(
            produce_until(&b, "t", p, 1, &tagged_values(&format!("after{p}"), 2), NONE),
            3,
            "new records follow the old ones"
        );
        let fetched = fetch_once(b.port(), "t", p, 0).expect("fetch answered");
        assert_eq!(fetched.error_code, NONE);
        assert_eq!(
            fetched.records,
            expected_values(&[(&format!("before{p}"), 3), (&format!("after{p}"), 2)])
        );
    }
    // The leader stayed live in the controller's eyes: no election, znodes untouched.
    for (p, (json, stat)) in states_before.iter().enumerate() {
        let (now, now_stat) = state(&client, "t", p as i32).await;
        assert_eq!(&now, json, "t-{p}");
        assert_eq!(now_stat.version, stat.version, "t-{p}");
    }
    let parts = wait_metadata(&b, "t", "leader 1", TIMEOUT, |_, parts| {
        parts.iter().all(|p| p.leader == 1)
    });
    assert!(parts.iter().all(|p| p.leader_epoch == 0 && p.isr == [1]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cleanly_restarted_broker_serves_its_partitions_again() {
    restart_single_broker(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_and_restarted_broker_serves_its_partitions_again() {
    restart_single_broker(true).await;
}

/// `(broker 1, broker 2, controller id)` once both are registered and known to the
/// controller.
async fn two_brokers(
    zk: &EmbeddedZookeeper,
    client: &Client,
) -> (BrokerProcess, BrokerProcess, i32) {
    let b1 = start_broker(zk, 1);
    let b2 = start_broker(zk, 2);
    wait_for_znode(client, "/brokers/ids/1", TIMEOUT).await;
    wait_for_znode(client, "/brokers/ids/2", TIMEOUT).await;
    wait_for_znode(client, "/controller", TIMEOUT).await;
    for b in [&b1, &b2] {
        assert!(
            kcat_wait_for_brokers(&b.bootstrap_servers(), 2, TIMEOUT),
            "{}",
            b.logs()
        );
    }
    let controller = controller_id(client).await.expect("a controller");
    (b1, b2, controller)
}

/// Lines of the broker's output after its last restart.
fn logs_since_restart(b: &BrokerProcess) -> String {
    let logs = b.logs();
    match logs.rfind("=== rafka_tests: restarting") {
        Some(i) => logs[i..].to_string(),
        None => String::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_leader_is_replaced_from_the_isr() {
    let zk = EmbeddedZookeeper::start();
    let client = zk_client(&zk.connect_string()).await;
    let (b1, b2, controller) = two_brokers(&zk, &client).await;
    let (ctrl, mut victim) = if controller == 1 { (b1, b2) } else { (b2, b1) };
    let (c, v) = (ctrl.broker_id(), victim.broker_id());

    // The victim (not the controller) leads partition 0 and follows partition 1.
    create_topic_assignment(&client, "rf2", json!({"0": [v, c], "1": [c, v]})).await;
    wait_ready(&client, &ctrl, "rf2", 2).await;
    let (s0, stat0) = state(&client, "rf2", 0).await;
    let (s1, stat1) = state(&client, "rf2", 1).await;
    assert_eq!(
        (s0["leader"].as_i64(), s0["leader_epoch"].as_i64()),
        (Some(v as i64), Some(0))
    );
    assert_eq!(s0["isr"], json!([v, c]));
    assert_eq!(s1["isr"], json!([c, v]));
    assert_eq!(
        produce_until(&victim, "rf2", 0, 1, &tagged_values("p0", 2), NONE),
        0
    );
    let epoch = controller_epoch(&client).await;

    victim.signal_kill();
    assert!(victim.wait_exit(Duration::from_secs(10)).is_some());

    // Within the session timeout and a few seconds the controller elects the survivor.
    let parts = wait_metadata(
        &ctrl,
        "rf2",
        "survivor leads with epoch 1",
        FAILOVER_TIMEOUT,
        |_, parts| parts.iter().all(|p| p.leader == c && p.leader_epoch == 1),
    );
    for p in &parts {
        assert_eq!(p.error, NONE, "{p:?}");
        assert_eq!(p.isr, vec![c], "dead broker out of the ISR: {p:?}");
        assert_eq!(p.offline, vec![v], "{p:?}");
        let mut replicas = p.replicas.clone();
        replicas.sort_unstable();
        assert_eq!(replicas, vec![1, 2]);
    }
    // kcat (librdkafka) sees the same.
    let kcat = poll_until(TIMEOUT, Duration::from_millis(250), || {
        kcat_partitions(&ctrl.bootstrap_servers(), "rf2")
    })
    .expect("kcat lists rf2");
    for (i, p) in kcat.iter().enumerate() {
        assert_eq!(
            p,
            &KcatPartition {
                partition: i as i64,
                leader: c as i64,
                replicas: vec![1, 2],
                isr: vec![c as i64],
            }
        );
    }
    // The state znodes: one controller write each (epoch-fenced, same controller epoch).
    let (n0, nstat0) = state(&client, "rf2", 0).await;
    let (n1, nstat1) = state(&client, "rf2", 1).await;
    for (json, stat, before) in [(&n0, &nstat0, &stat0), (&n1, &nstat1, &stat1)] {
        assert_eq!(json["version"], 1, "{json}");
        assert_eq!(json["leader"], c, "{json}");
        assert_eq!(json["leader_epoch"], 1, "{json}");
        assert_eq!(json["isr"], json!([c]), "{json}");
        assert_eq!(json["controller_epoch"], epoch, "{json}");
        assert_eq!(stat.version, before.version + 1, "{json}");
    }
    // The new leader of partition 0 takes writes (its offsets depend on replication, which
    // this test does not cover).
    produce_until(&ctrl, "rf2", 0, 1, &tagged_values("p0-new", 2), NONE);

    // The victim comes back: it learns both partitions as a follower (LeaderAndIsr) and the
    // cluster metadata (UpdateMetadata); the leadership and ISR stay as they are.
    wait_for_znode_gone(&client, &format!("/brokers/ids/{v}"), TIMEOUT).await;
    victim.restart();
    wait_for_znode(&client, &format!("/brokers/ids/{v}"), TIMEOUT).await;
    let parts = wait_metadata(
        &victim,
        "rf2",
        "restarted broker sees the survivor as leader",
        TIMEOUT,
        |_, parts| {
            parts.len() == 2
                && parts
                    .iter()
                    .all(|p| p.leader == c && p.leader_epoch == 1 && p.offline.is_empty())
        },
    );
    assert!(parts.iter().all(|p| p.replicas.contains(&v)));
    for p in 0..2 {
        let line = poll_until(TIMEOUT, Duration::from_millis(100), || {
            logs_since_restart(&victim)
                .lines()
                .find(|l| l.contains("partition role") && l.contains(&format!("tp=rf2-{p} ")))
                .map(str::to_string)
        })
        .unwrap_or_else(|| panic!("no LeaderAndIsr for rf2-{p}\n{}", victim.logs()));
        assert!(line.contains(&format!("leader={c} ")), "{line}");
        assert!(line.contains("leader_epoch=1 "), "{line}");
        assert!(line.contains("is_leader=false"), "{line}");
        assert_eq!(
            produce_once(victim.port(), "rf2", p, 1, &tagged_values("x", 1)).map(|r| r.0),
            Some(NOT_LEADER_OR_FOLLOWER),
            "a follower refuses produce"
        );
    }
    // The restart moves no leadership: only the leader's AlterPartition may add the returning
    // replica back to the ISR (same leader and leader epoch, a newer znode version).
    for ((after, stat), (before, before_stat)) in [
        (state(&client, "rf2", 0).await, (n0, nstat0)),
        (state(&client, "rf2", 1).await, (n1, nstat1)),
    ] {
        assert_eq!(after["leader"], before["leader"], "{after}");
        assert_eq!(after["leader_epoch"], before["leader_epoch"], "{after}");
        if after["isr"] == before["isr"] {
            assert_eq!(stat.version, before_stat.version, "{after}");
        } else {
            assert_eq!(after["isr"], json!([c, v]), "{after}");
            assert!(stat.version > before_stat.version, "{after}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_controller_keeps_the_survivors_leadership() {
    let zk = EmbeddedZookeeper::start();
    let client = zk_client(&zk.connect_string()).await;
    let (b1, b2, controller) = two_brokers(&zk, &client).await;
    let (mut old, survivor) = if controller == 1 { (b1, b2) } else { (b2, b1) };
    let (o, sv) = (old.broker_id(), survivor.broker_id());

    // One replica each: the survivor's partition must not change at all, the dead
    // controller's goes offline. Two replicas: the dead controller's partition moves.
    create_topic_assignment(&client, "solo", json!({"0": [o], "1": [sv]})).await;
    create_topic_assignment(&client, "pair", json!({"0": [o, sv], "1": [sv, o]})).await;
    wait_ready(&client, &survivor, "solo", 2).await;
    wait_ready(&client, &survivor, "pair", 2).await;
    assert_eq!(
        produce_until(&survivor, "solo", 1, 1, &tagged_values("solo1", 3), NONE),
        0
    );
    assert_eq!(
        produce_until(&old, "solo", 0, 1, &tagged_values("solo0", 1), NONE),
        0
    );
    let solo0 = state(&client, "solo", 0).await;
    let solo1 = get_znode(&client, &partition_state_path("solo", 1))
        .await
        .unwrap();
    let pair1 = state(&client, "pair", 1).await;
    let epoch = controller_epoch(&client).await;

    old.signal_kill();
    assert!(old.wait_exit(Duration::from_secs(10)).is_some());
    let new_controller = poll_until_async(FAILOVER_TIMEOUT, Duration::from_millis(200), || async {
        controller_id(&client).await.filter(|id| *id == sv)
    })
    .await;
    assert_eq!(new_controller, Some(sv), "{}", survivor.logs());
    let new_epoch = controller_epoch(&client).await;
    assert_eq!(new_epoch, epoch + 1);

    // pair-0 moves to the survivor.
    let parts = wait_metadata(
        &survivor,
        "pair",
        "survivor leads pair-0",
        TIMEOUT,
        |controller, parts| controller == sv && parts[0].leader == sv && parts[0].leader_epoch == 1,
    );
    assert_eq!(parts[0].isr, vec![sv]);
    let (p0, _) = state(&client, "pair", 0).await;
    assert_eq!(
        p0,
        json!({"version": 1, "leader": sv, "leader_epoch": 1, "isr": [sv], "controller_epoch": new_epoch})
    );
    // pair-1 stays led by the survivor; the dead broker leaves its ISR (Kafka's
    // OfflineReplica on failover), which bumps the leader epoch.
    let (p1, p1_stat) = state(&client, "pair", 1).await;
    assert_eq!(pair1.0["leader"], sv);
    assert_eq!(
        p1,
        json!({"version": 1, "leader": sv, "leader_epoch": 1, "isr": [sv], "controller_epoch": new_epoch})
    );
    assert_eq!(p1_stat.version, pair1.1.version + 1);
    // solo-1 (the survivor's only replica) is untouched: same bytes, same version.
    let solo1_now = get_znode(&client, &partition_state_path("solo", 1))
        .await
        .unwrap();
    assert_eq!(solo1_now.0, solo1.0);
    assert_eq!(solo1_now.1.version, solo1.1.version);
    // solo-0 has no live replica: offline, its last ISR member kept so it can come back.
    let (s0, s0_stat) = state(&client, "solo", 0).await;
    assert_eq!(
        s0,
        json!({"version": 1, "leader": -1, "leader_epoch": solo0.0["leader_epoch"].as_i64().unwrap() + 1, "isr": [o], "controller_epoch": new_epoch})
    );
    assert_eq!(s0_stat.version, solo0.1.version + 1);
    let solo = wait_metadata(&survivor, "solo", "solo-0 offline", TIMEOUT, |_, parts| {
        parts[0].leader == -1
    });
    assert_eq!(solo[0].error, LEADER_NOT_AVAILABLE);
    assert_eq!(solo[0].offline, vec![o]);
    assert_eq!(
        (solo[1].error, solo[1].leader, solo[1].leader_epoch),
        (NONE, sv, 0)
    );

    // The survivor keeps serving what it led, and now pair-0 too.
    assert_eq!(
        produce_until(&survivor, "solo", 1, 1, &tagged_values("more", 1), NONE),
        3
    );
    let fetched = fetch_once(survivor.port(), "solo", 1, 0).expect("fetch answered");
    assert_eq!(fetched.error_code, NONE);
    assert_eq!(
        fetched.records,
        expected_values(&[("solo1", 3), ("more", 1)])
    );
    assert_eq!(
        produce_until(&survivor, "pair", 1, 1, &tagged_values("pair1", 1), NONE),
        0
    );
    assert_eq!(
        produce_until(&survivor, "pair", 0, 1, &tagged_values("pair0", 1), NONE),
        0
    );

    // The old controller returns: solo-0's last ISR member leads it again (epoch + 1).
    wait_for_znode_gone(&client, &format!("/brokers/ids/{o}"), TIMEOUT).await;
    old.restart();
    let solo = wait_metadata(
        &survivor,
        "solo",
        "solo-0 back online",
        TIMEOUT,
        |_, parts| parts[0].leader == o,
    );
    let back_epoch = s0["leader_epoch"].as_i64().unwrap() as i32 + 1;
    assert_eq!((solo[0].error, solo[0].leader_epoch), (NONE, back_epoch));
    assert_eq!(solo[0].isr, vec![o]);
    let fetched = poll_until(TIMEOUT, Duration::from_millis(200), || {
        fetch_once(old.port(), "solo", 0, 0).filter(|f| f.error_code == NONE)
    })
    .unwrap_or_else(|| panic!("solo-0 not served after the return\n{}", old.logs()));
    assert_eq!(fetched.error_code, NONE);
    assert_eq!(fetched.records, expected_values(&[("solo0", 1)]));
}
