//! A zombie controller cannot write: every controller write is a ZooKeeper `multi` that
//! first checks `/controller_epoch`'s version, so once another broker has taken over (the
//! epoch bumped) the old controller's writes fail. In process, with two `KafkaZkClient`
//! sessions: the old controller's fenced writes (state znode update, create, setData) fail
//! with `ControllerMoved` and change nothing, its fenced `/controller` delete is a no-op,
//! while the new controller's writes succeed. With broker processes: the controller is
//! frozen (SIGSTOP) past its session timeout, another broker takes over with the next epoch
//! and moves partition state (the zombie's partitions, a new topic); after SIGCONT no state
//! znode is ever written with the old controller epoch, `/controller_epoch` stays, the
//! zombie logs its resignation and rejoins as a plain broker, and produce/fetch keep
//! working (through the zombie too, once a preferred election gives it its partition
//! back). Real ZooKeeper; every wait is bounded.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use kafka_protocol::messages::elect_leaders_request::TopicPartitions;
use kafka_protocol::messages::{
    ElectLeadersRequest, ElectLeadersResponse, MetadataRequest, MetadataResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use rafka_core::zk::kafka_zk_client::KafkaZkError;
use rafka_core::zk::zk_data::{self, PartitionStateZNode};
use rafka_core::zk::zookeeper_client::ZkClientSettings;
use rafka_core::zk::{CreateMode, KafkaZkClient, MultiOp, ZkConnectString, ZooKeeperClient};
use rafka_tests::zookeeper_client::{self, Client, Stat};
use rafka_tests::{
    broker_logs, controller_epoch_and_stat, controller_id, create_topic_assignment, fetch_once,
    get_partition_state, get_znode, get_znode_json, poll_until, poll_until_async, produce_until,
    tagged_values, wait_for_znode, zk_client, znode_children, BrokerProcess, EmbeddedZookeeper,
    RawClient,
};
use serde_json::{json, Value};

const TIMEOUT: Duration = Duration::from_secs(30);
/// The brokers' `zookeeper.session.timeout.ms` (the harness default).
const SESSION_TIMEOUT: Duration = Duration::from_secs(6);
/// Session expiry plus the new controller's failover.
const TAKEOVER_TIMEOUT: Duration = Duration::from_secs(6 + 20);

const NONE: i16 = 0;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

// ---------------------------------------------------------------------------------------
// In process: KafkaZkClient's fenced writes.
// ---------------------------------------------------------------------------------------

async fn kafka_zk(zk: &EmbeddedZookeeper) -> KafkaZkClient {
    let settings = ZkClientSettings {
        connect: ZkConnectString::parse(&zk.connect_string()).unwrap(),
        session_timeout: Duration::from_secs(18),
        connection_timeout: Duration::from_secs(18),
    };
    let (events, _) = tokio::sync::mpsc::unbounded_channel();
    let (client, _task) = ZooKeeperClient::start(settings, events)
        .await
        .expect("a ZooKeeper session");
    KafkaZkClient::new(client)
}

fn partition_state(leader: i32, leader_epoch: i32, controller_epoch: i32) -> PartitionStateZNode {
    PartitionStateZNode {
        leader,
        leader_epoch,
        isr: vec![leader],
        controller_epoch,
        leader_recovery_state: 0,
    }
}

fn assert_moved<T: std::fmt::Debug>(what: &str, r: Result<T, KafkaZkError>) {
    assert!(
        matches!(r, Err(KafkaZkError::ControllerMoved(_))),
        "{what}: expected ControllerMoved, got {r:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fenced_writes_of_a_superseded_controller_fail_with_controller_moved() {
    let zk = EmbeddedZookeeper::start();
    let old = kafka_zk(&zk).await;
    let new = kafka_zk(&zk).await;
    let raw = zk_client(&zk.connect_string()).await;
    old.create_top_level_paths().await.expect("top-level paths");
    create_topic_assignment(&raw, "t", json!({"0": [1]})).await;
    let persistent =
        zookeeper_client::CreateMode::Persistent.with_acls(zookeeper_client::Acls::anyone_all());
    for path in [
        "/brokers/topics/t/partitions",
        "/brokers/topics/t/partitions/0",
    ] {
        raw.create(path, b"", &persistent).await.expect(path);
    }
    let state_path = zk_data::topic_partition_state_path("t", 0);

    // Broker 1 is the controller; its fenced writes go through.
    let first = old
        .register_controller_and_increment_epoch(1)
        .await
        .expect("broker 1 elected");
    assert_eq!(first.epoch, 1);
    old.controller_write(
        first.epoch_zk_version,
        MultiOp::Create {
            path: state_path.clone(),
            data: partition_state(1, 0, first.epoch).encode(),
            mode: CreateMode::Persistent,
        },
    )
    .await
    .expect("the controller creates the state znode");
    // Nobody else can become controller while /controller is held.
    assert_moved(
        "a second registration",
        new.register_controller_and_increment_epoch(2).await,
    );

    // Broker 1's /controller goes away (as when its session expires) and broker 2 takes over.
    let (_, controller_stat) = get_znode(&raw, "/controller").await.expect("/controller");
    raw.delete("/controller", Some(controller_stat.version))
        .await
        .expect("delete /controller");
    let second = new
        .register_controller_and_increment_epoch(2)
        .await
        .expect("broker 2 elected");
    assert_eq!(second.epoch, 2);
    assert_ne!(second.epoch_zk_version, first.epoch_zk_version);

    // The zombie (broker 1, still believing in epoch 1) cannot write anything.
    assert_moved(
        "state update",
        old.update_leader_and_isr(
            "t",
            0,
            &partition_state(1, 1, first.epoch),
            0,
            first.epoch_zk_version,
        )
        .await,
    );
    assert_moved(
        "setData",
        old.controller_write(
            first.epoch_zk_version,
            MultiOp::SetData {
                path: "/brokers/topics/t".into(),
                data: b"{}".to_vec(),
                version: None,
            },
        )
        .await,
    );
    assert_moved(
        "create",
        old.controller_write(
            first.epoch_zk_version,
            MultiOp::Create {
                path: "/admin/delete_topics/t".into(),
                data: Vec::new(),
                mode: CreateMode::Persistent,
            },
        )
        .await,
    );
    assert_moved(
        "a re-registration",
        old.register_controller_and_increment_epoch(1).await,
    );
    // Its fenced resignation delete leaves the new controller's /controller alone.
    old.delete_controller(first.epoch_zk_version)
        .await
        .expect("a no-op");
    let holder = get_znode_json(&raw, "/controller")
        .await
        .expect("/controller");
    assert_eq!(holder["brokerid"], 2);
    let (data, stat) = get_znode(&raw, &state_path).await.expect("state");
    assert_eq!(stat.version, 0, "the zombie changed nothing");
    assert_eq!(
        PartitionStateZNode::decode(&data).unwrap(),
        partition_state(1, 0, 1)
    );
    assert!(get_znode(&raw, "/admin/delete_topics/t").await.is_none());
    let (topic, _) = get_znode(&raw, "/brokers/topics/t").await.expect("topic");
    assert_ne!(topic, b"{}".to_vec());

    // The new controller writes; a stale znode version is BADVERSION (retry), not a move.
    assert_eq!(
        new.update_leader_and_isr(
            "t",
            0,
            &partition_state(1, 1, second.epoch),
            0,
            second.epoch_zk_version,
        )
        .await
        .expect("the new controller's write"),
        Some(1)
    );
    assert_eq!(
        new.update_leader_and_isr(
            "t",
            0,
            &partition_state(1, 2, second.epoch),
            0,
            second.epoch_zk_version,
        )
        .await
        .expect("BADVERSION is not an error"),
        None
    );
    let (data, _) = get_znode(&raw, &state_path).await.expect("state");
    assert_eq!(
        PartitionStateZNode::decode(&data).unwrap(),
        partition_state(1, 1, 2)
    );
}

// ---------------------------------------------------------------------------------------
// Broker processes: a SIGSTOPped controller comes back as a zombie.
// ---------------------------------------------------------------------------------------

fn start_broker(zk: &EmbeddedZookeeper, id: i32) -> BrokerProcess {
    BrokerProcess::builder()
        .broker_id(id)
        .zookeeper(zk.connect_string())
        .prop("auto.leader.rebalance.enable", false)
        .start()
}

type States = BTreeMap<(String, i32), (Value, Stat)>;

/// Every partition state znode of `topics`.
async fn states(client: &Client, topics: &[&str]) -> States {
    let mut out = BTreeMap::new();
    for topic in topics {
        let base = format!("/brokers/topics/{topic}/partitions");
        for p in znode_children(client, &base).await {
            let Ok(p) = p.parse::<i32>() else { continue };
            if let Some(state) = get_partition_state(client, topic, p).await {
                out.insert((topic.to_string(), p), state);
            }
        }
    }
    out
}

fn leader(states: &States, topic: &str, p: i32) -> Option<i64> {
    states.get(&(topic.to_string(), p))?.0["leader"].as_i64()
}

fn isr(states: &States, topic: &str, p: i32) -> Vec<i64> {
    states
        .get(&(topic.to_string(), p))
        .and_then(|(v, _)| v["isr"].as_array().cloned())
        .map(|a| a.iter().filter_map(Value::as_i64).collect())
        .unwrap_or_default()
}

fn written_by(states: &States, topic: &str, p: i32) -> Option<i64> {
    states.get(&(topic.to_string(), p))?.0["controller_epoch"].as_i64()
}

/// What must hold at every moment after the takeover (at ZooKeeper transaction
/// `takeover_zxid`, epoch `new_epoch`).
struct Fence {
    new_epoch: i64,
    takeover_zxid: i64,
    epoch_version: i32,
}

impl Fence {
    /// Panics if a state znode was written after the takeover by another controller epoch
    /// than the new one, or if `/controller_epoch` moved.
    async fn check(&self, client: &Client, topics: &[&str]) -> States {
        let (epoch, stat) = controller_epoch_and_stat(client).await;
        assert_eq!(
            (epoch, stat.version),
            (self.new_epoch, self.epoch_version),
            "/controller_epoch moved"
        );
        let states = states(client, topics).await;
        for ((topic, p), (v, stat)) in &states {
            let by = v["controller_epoch"].as_i64().expect("controller_epoch");
            assert!(by <= self.new_epoch, "{topic}-{p} from the future: {v}");
            if stat.mzxid > self.takeover_zxid {
                assert_eq!(
                    by, self.new_epoch,
                    "{topic}-{p} written after the takeover by controller epoch {by}: {v}"
                );
            }
        }
        states
    }

    /// Polls (checking the fence every time) until `ok` holds; panics after `timeout`.
    async fn wait(
        &self,
        client: &Client,
        topics: &[&str],
        what: &str,
        timeout: Duration,
        ok: impl Fn(&States) -> bool,
        brokers: &[&BrokerProcess],
    ) -> States {
        let deadline = Instant::now() + timeout;
        loop {
            let states = self.check(client, topics).await;
            if ok(&states) {
                return states;
            }
            if Instant::now() >= deadline {
                panic!("{what}: last states {states:?}\n{}", broker_logs(brokers));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// The controller id in the broker's Metadata (v9).
fn metadata_controller(port: u16) -> Option<i32> {
    let mut c = RawClient::connect(port).ok()?;
    let request = MetadataRequest::default()
        .with_topics(Some(Vec::new()))
        .with_allow_auto_topic_creation(false);
    let r: MetadataResponse = c.send(9, &request).ok()?;
    Some(r.controller_id.0)
}

/// ElectLeaders v2 PREFERRED for `topic`'s `partitions`: per-partition error codes.
fn elect_preferred(port: u16, topic: &str, partitions: Vec<i32>) -> BTreeMap<i32, i16> {
    let mut c = RawClient::connect(port).expect("connect");
    let request = ElectLeadersRequest::default()
        .with_election_type(0)
        .with_timeout_ms(10_000)
        .with_topic_partitions(Some(vec![TopicPartitions::default()
            .with_topic(TopicName(s(topic)))
            .with_partitions(partitions)]));
    let r: ElectLeadersResponse = c.send(2, &request).expect("ElectLeaders");
    assert_eq!(r.error_code, NONE);
    r.replica_election_results
        .iter()
        .flat_map(|t| t.partition_result.iter())
        .map(|p| (p.partition_id, p.error_code))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumed_zombie_controller_writes_nothing_and_rejoins_as_a_broker() {
    let zk = EmbeddedZookeeper::start();
    let client = zk_client(&zk.connect_string()).await;
    let mut brokers: BTreeMap<i32, BrokerProcess> =
        (1..=3).map(|id| (id, start_broker(&zk, id))).collect();
    for id in 1..=3 {
        wait_for_znode(&client, &format!("/brokers/ids/{id}"), TIMEOUT).await;
    }
    wait_for_znode(&client, "/controller", TIMEOUT).await;
    let zombie_id = controller_id(&client).await.expect("a controller");
    let others: Vec<i32> = (1..=3).filter(|id| *id != zombie_id).collect();
    let (a, b) = (others[0], others[1]);
    let (old_epoch, _) = controller_epoch_and_stat(&client).await;

    // The controller leads z-0 and follows z-1 and z-2; z-3 is elsewhere.
    create_topic_assignment(
        &client,
        "z",
        json!({"0": [zombie_id, a], "1": [a, zombie_id], "2": [b, zombie_id], "3": [a, b]}),
    )
    .await;
    let all: Vec<&BrokerProcess> = brokers.values().collect();
    let ready = poll_until_async(TIMEOUT, Duration::from_millis(100), || async {
        let st = states(&client, &["z"]).await;
        (st.len() == 4 && (0..4).all(|p| isr(&st, "z", p).len() == 2)).then_some(st)
    })
    .await;
    assert!(ready.is_some(), "z did not come up\n{}", broker_logs(&all));
    let zombie_port = brokers[&zombie_id].port();
    assert_eq!(
        produce_until(
            &brokers[&zombie_id],
            "z",
            0,
            -1,
            &tagged_values("before", 3),
            NONE
        ),
        0
    );

    // Freeze the controller past its session timeout: another broker takes over.
    let zombie_log_len;
    {
        let zombie = brokers.get_mut(&zombie_id).unwrap();
        zombie.signal_stop();
    }
    let deadline = Instant::now() + SESSION_TIMEOUT + TAKEOVER_TIMEOUT;
    let (new_controller, epoch_stat) = loop {
        if let Some(id) = controller_id(&client).await {
            let (epoch, stat) = controller_epoch_and_stat(&client).await;
            if id != zombie_id && epoch == old_epoch + 1 {
                break (id, stat);
            }
        }
        assert!(
            Instant::now() < deadline,
            "no new controller\n{}",
            broker_logs(&brokers.values().collect::<Vec<_>>())
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let fence = Fence {
        new_epoch: old_epoch + 1,
        takeover_zxid: epoch_stat.mzxid,
        epoch_version: epoch_stat.version,
    };
    let topics = ["z", "after"];
    let live: Vec<&BrokerProcess> = brokers.values().collect();
    // The new controller moves z-0 away from the zombie and takes it out of the ISRs.
    let moved = fence
        .wait(
            &client,
            &topics,
            "the new controller handles the zombie's death",
            TAKEOVER_TIMEOUT,
            |st| {
                leader(st, "z", 0) == Some(a as i64)
                    && (0..3).all(|p| !isr(st, "z", p).contains(&(zombie_id as i64)))
            },
            &live,
        )
        .await;
    for p in 0..3 {
        assert_eq!(written_by(&moved, "z", p), Some(fence.new_epoch), "z-{p}");
    }
    // And creates a topic.
    create_topic_assignment(&client, "after", json!({"0": [a, b], "1": [b, a]})).await;
    let created = fence
        .wait(
            &client,
            &topics,
            "the new controller creates a topic",
            TIMEOUT,
            |st| (0..2).all(|p| isr(st, "after", p).len() == 2),
            &live,
        )
        .await;
    for p in 0..2 {
        assert_eq!(written_by(&created, "after", p), Some(fence.new_epoch));
    }

    // Wake the zombie up.
    {
        let zombie = brokers.get_mut(&zombie_id).unwrap();
        zombie_log_len = zombie.logs().len();
        zombie.signal_cont();
    }
    let zombie = &brokers[&zombie_id];
    let resigned = poll_until(TIMEOUT, Duration::from_millis(100), || {
        let logs = zombie.logs();
        logs[zombie_log_len.min(logs.len())..]
            .contains("resigned as controller")
            .then_some(())
    });
    assert!(
        resigned.is_some(),
        "the zombie did not log its resignation\n{}",
        zombie.logs()
    );
    // It registers again and rejoins the ISRs (written by the new controller).
    let live: Vec<&BrokerProcess> = brokers.values().collect();
    fence
        .wait(
            &client,
            &topics,
            "the zombie rejoins the ISRs",
            TAKEOVER_TIMEOUT,
            |st| (0..3).all(|p| isr(st, "z", p).contains(&(zombie_id as i64))),
            &live,
        )
        .await;
    // A few quiet seconds, still fenced.
    let settle = Instant::now() + Duration::from_secs(3);
    while Instant::now() < settle {
        fence.check(&client, &topics).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(controller_id(&client).await, Some(new_controller));
    let told = poll_until(TIMEOUT, Duration::from_millis(200), || {
        (metadata_controller(zombie_port) == Some(new_controller)).then_some(())
    });
    assert!(
        told.is_some(),
        "the zombie's metadata names controller {:?}\n{}",
        metadata_controller(zombie_port),
        zombie.logs()
    );

    // Brokers serve: the new controller gives z-0 back to its preferred replica, the
    // former zombie, which takes and serves records; the other brokers serve theirs.
    let r = elect_preferred(brokers[&new_controller].port(), "z", vec![0]);
    assert_eq!(r.get(&0), Some(&NONE), "{r:?}");
    let back = fence
        .wait(
            &client,
            &topics,
            "z-0 back on the former zombie",
            TIMEOUT,
            |st| leader(st, "z", 0) == Some(zombie_id as i64),
            &live,
        )
        .await;
    assert_eq!(written_by(&back, "z", 0), Some(fence.new_epoch));
    assert_eq!(
        produce_until(zombie, "z", 0, -1, &tagged_values("again", 2), NONE),
        3
    );
    let fetched = fetch_once(zombie_port, "z", 0, 0).expect("fetch answered");
    assert_eq!(fetched.error_code, NONE);
    assert_eq!(
        fetched.values(),
        [tagged_values("before", 3), tagged_values("again", 2)].concat()
    );
    for (p, leader_id) in [(0, a), (1, b)] {
        let leader_broker = &brokers[&leader_id];
        assert_eq!(
            produce_until(
                leader_broker,
                "after",
                p,
                -1,
                &tagged_values("new", 2),
                NONE
            ),
            0
        );
        let fetched = fetch_once(leader_broker.port(), "after", p, 0).expect("fetch answered");
        assert_eq!(fetched.error_code, NONE);
        assert_eq!(fetched.values(), tagged_values("new", 2));
    }
    fence.check(&client, &topics).await;
}
