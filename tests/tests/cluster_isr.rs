//! ISR changes across broker processes on a real ZooKeeper: the controller shrinks the ISR
//! of a dead follower and the leader brings a restarted one back through AlterPartition;
//! `min.insync.replicas` refuses acks=all once the ISR is too small; a SIGTERMed leader's
//! controlled shutdown moves its leadership before it exits (no acknowledged record lost);
//! and the controller refuses stale AlterPartition requests. Raw Kafka requests; every wait
//! is bounded.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use kafka_protocol::messages::alter_partition_request::{PartitionData, TopicData};
use kafka_protocol::messages::{
    AlterPartitionRequest, AlterPartitionResponse, BrokerId, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use rafka_tests::create_topic_assignment;
use rafka_tests::zookeeper_client::Client;
use rafka_tests::{
    broker_logs, controller_id, fetch_once, get_partition_state, get_znode, poll_until_async,
    produce_once, produce_until, tagged_values, wait_for_znode, zk_client, BrokerProcess,
    EmbeddedZookeeper, RawClient, BROKER_STOP_TIMEOUT,
};
use serde_json::json;

const TIMEOUT: Duration = Duration::from_secs(30);
/// A killed broker is noticed when its session (6 s in the harness) expires.
const FAILOVER_TIMEOUT: Duration = Duration::from_secs(6 + 20);
/// How long a restarted follower may take to rejoin the ISR once registered.
const REJOIN_TIMEOUT: Duration = Duration::from_secs(15);

const NONE: i16 = 0;
const NOT_LEADER_OR_FOLLOWER: i16 = 6;
const NOT_ENOUGH_REPLICAS: i16 = 19;
const NOT_CONTROLLER: i16 = 41;
const FENCED_LEADER_EPOCH: i16 = 74;
const STALE_BROKER_EPOCH: i16 = 77;
const INVALID_UPDATE_VERSION: i16 = 95;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn start_broker(zk: &EmbeddedZookeeper, id: i32, extra: &[(&str, &str)]) -> BrokerProcess {
    let mut b = BrokerProcess::builder()
        .broker_id(id)
        .zookeeper(zk.connect_string())
        .prop("controlled.shutdown.retry.backoff.ms", 500);
    for (k, v) in extra {
        b = b.prop(k, v);
    }
    b.start()
}

/// The partition state znode: (leader, leader epoch, ISR, zk version).
async fn state(client: &Client, topic: &str, partition: i32) -> Option<(i32, i32, Vec<i32>, i32)> {
    let (v, stat) = get_partition_state(client, topic, partition).await?;
    let isr = v["isr"]
        .as_array()?
        .iter()
        .filter_map(|x| x.as_i64().map(|x| x as i32))
        .collect();
    Some((
        v["leader"].as_i64()? as i32,
        v["leader_epoch"].as_i64()? as i32,
        isr,
        stat.version,
    ))
}

/// Waits until the state znode satisfies `ok`; returns it.
async fn wait_state(
    client: &Client,
    topic: &str,
    what: &str,
    timeout: Duration,
    ok: impl Fn(&(i32, i32, Vec<i32>, i32)) -> bool,
    brokers: &[&BrokerProcess],
) -> (i32, i32, Vec<i32>, i32) {
    let found = poll_until_async(timeout, Duration::from_millis(100), || async {
        state(client, topic, 0).await.filter(|st| ok(st))
    })
    .await;
    match found {
        Some(st) => st,
        None => panic!(
            "{what}: last state {:?}\n{}",
            state(client, topic, 0).await,
            broker_logs(brokers)
        ),
    }
}

/// Waits until `follower`'s segment file for `topic-0` equals `leader`'s.
async fn wait_logs_equal(leader: &BrokerProcess, follower: &BrokerProcess, topic: &str) {
    let name = format!("{topic}-0/00000000000000000000.log");
    let (a_path, b_path) = (leader.log_dir().join(&name), follower.log_dir().join(&name));
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let a = std::fs::read(&a_path).unwrap_or_default();
        let b = std::fs::read(&b_path).unwrap_or_default();
        if !a.is_empty() && a == b {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "follower {} log differs from leader {}'s ({} vs {} bytes)",
            follower.broker_id(),
            leader.broker_id(),
            b.len(),
            a.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits for every broker's registration.
async fn wait_registered(client: &Client, ids: &[i32]) {
    for id in ids {
        wait_for_znode(client, &format!("/brokers/ids/{id}"), TIMEOUT).await;
    }
}

/// (a) A killed follower leaves the ISR (controller); restarted, it catches up and the leader
/// brings it back through AlterPartition, with the same leader epoch and a new zk version.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_follower_rejoins_the_isr_through_alter_partition() {
    let zk = EmbeddedZookeeper::start();
    let b1 = start_broker(&zk, 1, &[]);
    let mut b2 = start_broker(&zk, 2, &[]);
    let client = zk_client(&zk.connect_string()).await;
    wait_registered(&client, &[1, 2]).await;
    create_topic_assignment(&client, "isr", json!({"0": [1, 2]})).await;
    let (leader, epoch0, isr, _) = wait_state(
        &client,
        "isr",
        "partition created",
        TIMEOUT,
        |st| st.2.len() == 2,
        &[&b1, &b2],
    )
    .await;
    assert_eq!((leader, epoch0, isr), (1, 0, vec![1, 2]));
    produce_until(&b1, "isr", 0, -1, &tagged_values("before", 5), NONE);

    b2.signal_kill();
    assert!(b2.wait_exit(Duration::from_secs(10)).is_some());
    let (leader, shrunk_epoch, isr, shrunk_version) = wait_state(
        &client,
        "isr",
        "the controller shrinks the ISR of the dead follower",
        FAILOVER_TIMEOUT,
        |st| st.2 == [1],
        &[&b1],
    )
    .await;
    assert_eq!((leader, isr), (1, vec![1]));
    assert_eq!(
        shrunk_epoch,
        epoch0 + 1,
        "a controller ISR change bumps the epoch"
    );
    // Records the follower misses while it is down.
    produce_until(&b1, "isr", 0, -1, &tagged_values("while-down", 5), NONE);
    produce_until(
        &b1,
        "isr",
        0,
        1,
        &tagged_values("while-down-acks1", 5),
        NONE,
    );

    b2.restart();
    wait_for_znode(&client, "/brokers/ids/2", FAILOVER_TIMEOUT).await;
    let (leader, epoch, isr, version) = wait_state(
        &client,
        "isr",
        "the restarted follower rejoins the ISR",
        REJOIN_TIMEOUT,
        |st| st.2.len() == 2,
        &[&b1, &b2],
    )
    .await;
    assert_eq!(leader, 1);
    assert_eq!(
        isr.iter().copied().collect::<BTreeSet<_>>(),
        BTreeSet::from([1, 2])
    );
    assert_eq!(epoch, shrunk_epoch, "AlterPartition keeps the leader epoch");
    assert!(version > shrunk_version, "the expansion was written");
    assert!(
        b1.wait_for_log("ISR updated", TIMEOUT),
        "the leader applied the controller's answer\n{}",
        b1.logs()
    );
    wait_logs_equal(&b1, &b2, "isr").await;
    // acks=all now needs both again and still works.
    produce_until(&b1, "isr", 0, -1, &tagged_values("after", 5), NONE);
    wait_logs_equal(&b1, &b2, "isr").await;
}

/// (b) With min.insync.replicas=2 and two of three replicas stopped, acks=all is refused
/// (NOT_ENOUGH_REPLICAS) while acks=1 and consumer fetches still work; restarted, the
/// followers rejoin and acks=all works again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn min_insync_replicas_refuses_acks_all_until_the_isr_is_back() {
    let zk = EmbeddedZookeeper::start();
    let extra = [("min.insync.replicas", "2")];
    let b1 = start_broker(&zk, 1, &extra);
    let mut b2 = start_broker(&zk, 2, &extra);
    let mut b3 = start_broker(&zk, 3, &extra);
    let client = zk_client(&zk.connect_string()).await;
    wait_registered(&client, &[1, 2, 3]).await;
    create_topic_assignment(&client, "mir", json!({"0": [1, 2, 3]})).await;
    wait_state(
        &client,
        "mir",
        "partition created with a full ISR",
        TIMEOUT,
        |st| st.0 == 1 && st.2.len() == 3,
        &[&b1, &b2, &b3],
    )
    .await;
    let base = produce_until(&b1, "mir", 0, -1, &tagged_values("committed", 5), NONE);
    assert_eq!(base, 0);

    for b in [&mut b2, &mut b3] {
        b.signal_term();
        assert!(
            b.wait_exit(BROKER_STOP_TIMEOUT).is_some(),
            "broker {} did not exit\n{}",
            b.broker_id(),
            b.logs()
        );
    }
    wait_state(
        &client,
        "mir",
        "the stopped followers leave the ISR",
        FAILOVER_TIMEOUT,
        |st| st.0 == 1 && st.2 == [1],
        &[&b1, &b2, &b3],
    )
    .await;
    produce_until(
        &b1,
        "mir",
        0,
        -1,
        &tagged_values("refused", 5),
        NOT_ENOUGH_REPLICAS,
    );
    let acks1 = produce_until(&b1, "mir", 0, 1, &tagged_values("acks1", 5), NONE);
    assert_eq!(acks1, 5, "the refused acks=all batch was not written");
    let fetched = fetch_once(b1.port(), "mir", 0, 0).expect("fetch answered");
    assert_eq!(fetched.error_code, NONE);
    assert_eq!(
        fetched.high_watermark, 10,
        "with the ISR at the leader alone everything is committed"
    );
    let expected: Vec<String> = (0..5)
        .map(|i| format!("committed-{i}"))
        .chain((0..5).map(|i| format!("acks1-{i}")))
        .collect();
    assert_eq!(fetched.values(), expected);

    b2.restart();
    b3.restart();
    wait_registered(&client, &[2, 3]).await;
    wait_state(
        &client,
        "mir",
        "the restarted followers rejoin the ISR",
        TIMEOUT,
        |st| st.0 == 1 && st.2.len() == 3,
        &[&b1, &b2, &b3],
    )
    .await;
    assert_eq!(
        produce_until(&b1, "mir", 0, -1, &tagged_values("again", 5), NONE),
        10
    );
    wait_logs_equal(&b1, &b2, "mir").await;
    wait_logs_equal(&b1, &b3, "mir").await;
}

/// (c) SIGTERM on a partition leader: its controlled shutdown moves leadership to the other
/// ISR member (leader epoch + 1) before it exits, and a producer that retries acks=all
/// records against the current leader loses none of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controlled_shutdown_moves_leadership_before_the_leader_exits() {
    let zk = EmbeddedZookeeper::start();
    let mut b1 = start_broker(&zk, 1, &[]);
    let b2 = start_broker(&zk, 2, &[]);
    let client = zk_client(&zk.connect_string()).await;
    wait_registered(&client, &[1, 2]).await;
    create_topic_assignment(&client, "cs", json!({"0": [1, 2]})).await;
    let (_, epoch0, _, _) = wait_state(
        &client,
        "cs",
        "partition created",
        TIMEOUT,
        |st| st.0 == 1 && st.2.len() == 2,
        &[&b1, &b2],
    )
    .await;

    let ports = [(1, b1.port()), (2, b2.port())];
    let total = 60;
    let mut acked = Vec::new();
    for i in 0..total {
        if i == total / 3 {
            b1.signal_term();
        }
        let tag = format!("m{i}");
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let leader = state(&client, "cs", 0).await.map_or(-1, |st| st.0);
            let port = ports.iter().find(|(id, _)| *id == leader).map(|(_, p)| *p);
            let answer = port.and_then(|p| produce_once(p, "cs", 0, -1, &tagged_values(&tag, 1)));
            match answer {
                Some((NONE, _)) => {
                    acked.push(format!("{tag}-0"));
                    break;
                }
                Some((NOT_LEADER_OR_FOLLOWER, _)) | Some((NOT_ENOUGH_REPLICAS, _)) | None => {}
                Some(other) => panic!("produce of {tag} answered {other:?}"),
            }
            assert!(
                Instant::now() < deadline,
                "record {tag} never acknowledged\n{}\n{}",
                b1.logs(),
                b2.logs()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let status = b1.wait_exit(BROKER_STOP_TIMEOUT).expect("broker 1 exits");
    assert!(status.success(), "clean exit: {status:?}\n{}", b1.logs());
    let logs = b1.logs();
    assert!(
        logs.contains("controlled shutdown succeeded"),
        "the stopping broker's controlled shutdown succeeded\n{logs}"
    );
    let (leader, epoch, isr, _) = state(&client, "cs", 0).await.expect("state");
    assert_eq!(leader, 2, "leadership moved to the other replica");
    assert_eq!(isr, vec![2]);
    assert_eq!(
        epoch,
        epoch0 + 1,
        "one election: the controlled one (a death would not bump it again: ISR already [2])"
    );
    // The move happened during the controlled shutdown, before broker 1 went away: its
    // shutdown log has the success before "shut down completed".
    let succeeded = logs.find("controlled shutdown succeeded").unwrap();
    let completed = logs
        .find("shut down completed")
        .expect("shutdown completed");
    assert!(succeeded < completed);

    let fetched = fetch_once(b2.port(), "cs", 0, 0).expect("fetch from the new leader");
    assert_eq!(fetched.error_code, NONE);
    let values = fetched.values();
    let got: BTreeSet<&String> = values.iter().collect();
    for tag in &acked {
        assert!(
            got.contains(tag),
            "acknowledged record {tag} lost; got {values:?}"
        );
    }
    assert_eq!(acked.len(), total);
}

/// (d) The controller refuses stale AlterPartition requests (partition epoch, leader epoch,
/// broker epoch), answers NOT_CONTROLLER on other brokers, echoes a request matching the
/// current state, and leaves the state znode untouched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alter_partition_refuses_stale_requests() {
    let zk = EmbeddedZookeeper::start();
    let b1 = start_broker(&zk, 1, &[]);
    let mut b2 = start_broker(&zk, 2, &[]);
    let client = zk_client(&zk.connect_string()).await;
    wait_registered(&client, &[1, 2]).await;
    create_topic_assignment(&client, "ap", json!({"0": [1, 2]})).await;
    wait_state(
        &client,
        "ap",
        "partition created",
        TIMEOUT,
        |st| st.0 == 1 && st.2.len() == 2,
        &[&b1, &b2],
    )
    .await;
    // A follower's controlled shutdown takes it out of the ISR (controller write); back, it
    // rejoins through AlterPartition: both epochs move past 0.
    b2.stop();
    let (_, _, isr, _) = wait_state(
        &client,
        "ap",
        "the stopped follower leaves the ISR",
        TIMEOUT,
        |st| st.2 == [1],
        &[&b1, &b2],
    )
    .await;
    assert_eq!(isr, vec![1]);
    assert!(
        b2.logs().contains("controlled shutdown succeeded"),
        "{}",
        b2.logs()
    );
    b2.restart();
    wait_registered(&client, &[2]).await;
    let (leader, leader_epoch, isr, version) = wait_state(
        &client,
        "ap",
        "the follower rejoins",
        REJOIN_TIMEOUT,
        |st| st.2.len() == 2,
        &[&b1, &b2],
    )
    .await;
    assert_eq!(leader, 1);
    assert!(
        leader_epoch >= 1 && version >= 2,
        "{leader_epoch} {version}"
    );

    let (_, leader_stat) = get_znode(&client, "/brokers/ids/1")
        .await
        .expect("broker 1");
    let broker_epoch = leader_stat.czxid;
    let controller = controller_id(&client).await.expect("a controller");
    let port_of = |id: i32| if id == 1 { b1.port() } else { b2.port() };
    let request = |broker_epoch: i64, partition: i32, leader_epoch: i32, isr: &[i32], pe: i32| {
        AlterPartitionRequest::default()
            .with_broker_id(BrokerId(1))
            .with_broker_epoch(broker_epoch)
            .with_topics(vec![TopicData::default()
                .with_topic_name(TopicName(s("ap")))
                .with_partitions(vec![PartitionData::default()
                    .with_partition_index(partition)
                    .with_leader_epoch(leader_epoch)
                    .with_new_isr(isr.iter().map(|b| BrokerId(*b)).collect())
                    .with_partition_epoch(pe)])])
    };
    let send = |port: u16, r: &AlterPartitionRequest| -> AlterPartitionResponse {
        let mut c = RawClient::connect(port).expect("connect");
        c.send(1, r).expect("AlterPartition answered")
    };
    let partition_error = |r: &AlterPartitionResponse| {
        assert_eq!(r.error_code, NONE, "{r:?}");
        r.topics[0].partitions[0].error_code
    };
    let controller_port = port_of(controller);

    // Stale partition epoch, a real change (shrink to the leader).
    let r = send(
        controller_port,
        &request(broker_epoch, 0, leader_epoch, &[1], version - 1),
    );
    assert_eq!(partition_error(&r), INVALID_UPDATE_VERSION);
    // An older leader epoch.
    let r = send(
        controller_port,
        &request(broker_epoch, 0, leader_epoch - 1, &[1], version),
    );
    assert_eq!(partition_error(&r), FENCED_LEADER_EPOCH);
    // Unknown partition.
    let r = send(
        controller_port,
        &request(broker_epoch, 7, leader_epoch, &[1], version),
    );
    assert_eq!(partition_error(&r), UNKNOWN_TOPIC_OR_PARTITION);
    // A stale broker epoch: refused as a whole.
    let r = send(
        controller_port,
        &request(broker_epoch - 1, 0, leader_epoch, &[1], version),
    );
    assert_eq!(r.error_code, STALE_BROKER_EPOCH);
    // Another broker is not the controller.
    let r = send(
        port_of(3 - controller),
        &request(broker_epoch, 0, leader_epoch, &[1], version),
    );
    assert_eq!(r.error_code, NOT_CONTROLLER);
    // The current state again: echoed (idempotent), nothing written.
    let r = send(
        controller_port,
        &request(broker_epoch, 0, leader_epoch, &isr, version),
    );
    assert_eq!(partition_error(&r), NONE);
    let p = &r.topics[0].partitions[0];
    assert_eq!(
        (p.leader_id.0, p.leader_epoch, p.partition_epoch),
        (1, leader_epoch, version)
    );
    assert_eq!(p.isr.iter().map(|b| b.0).collect::<Vec<_>>(), isr);

    let now = state(&client, "ap", 0).await.expect("state");
    assert_eq!(
        now,
        (leader, leader_epoch, isr, version),
        "nothing was written"
    );
}
