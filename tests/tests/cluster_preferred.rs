//! Preferred leaders on a real ZooKeeper with broker processes: after a broker is killed and
//! restarted, the controller's automatic leader rebalance (`auto.leader.rebalance.enable`,
//! checked every `leader.imbalance.check.interval.seconds`) moves leadership back to the
//! preferred replica with the leader epoch bumped; with it disabled, ElectLeaders (PREFERRED)
//! does it on request, answers ELECTION_NOT_NEEDED where the preferred replica already leads,
//! UNKNOWN_TOPIC_OR_PARTITION for unknown partitions and NOT_CONTROLLER on other brokers.
//! Raw Kafka requests; every wait is bounded.

use std::collections::BTreeMap;
use std::time::Duration;

use kafka_protocol::messages::elect_leaders_request::TopicPartitions;
use kafka_protocol::messages::{ElectLeadersRequest, ElectLeadersResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use rafka_tests::create_topic_assignment;
use rafka_tests::zookeeper_client::Client;
use rafka_tests::{
    get_znode, get_znode_json, poll_until_async, wait_for_znode, zk_client, BrokerProcess,
    EmbeddedZookeeper, RawClient,
};
use serde_json::{json, Value};

const TIMEOUT: Duration = Duration::from_secs(30);
/// A killed broker is noticed when its session (6 s in the harness) expires.
const FAILOVER_TIMEOUT: Duration = Duration::from_secs(6 + 20);
/// Rejoining the ISR after a restart.
const REJOIN_TIMEOUT: Duration = Duration::from_secs(20);
/// The automatic rebalance: the first check 5 s after failover, then every 2 s.
const REBALANCE_TIMEOUT: Duration = Duration::from_secs(15);

const NONE: i16 = 0;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const NOT_CONTROLLER: i16 = 41;
const ELECTION_NOT_NEEDED: i16 = 84;

fn start_broker(zk: &EmbeddedZookeeper, id: i32, auto_rebalance: bool) -> BrokerProcess {
    BrokerProcess::builder()
        .broker_id(id)
        .zookeeper(zk.connect_string())
        .prop("auto.leader.rebalance.enable", auto_rebalance)
        .prop("leader.imbalance.check.interval.seconds", 2)
        .start()
}

/// The partition state znode: (leader, leader epoch, ISR).
async fn state(client: &Client, topic: &str, partition: i32) -> Option<(i32, i32, Vec<i32>)> {
    let (data, _) = get_znode(
        client,
        &format!("/brokers/topics/{topic}/partitions/{partition}/state"),
    )
    .await?;
    let v: Value = serde_json::from_slice(&data).ok()?;
    let isr = v["isr"]
        .as_array()?
        .iter()
        .filter_map(|x| x.as_i64().map(|x| x as i32))
        .collect();
    Some((
        v["leader"].as_i64()? as i32,
        v["leader_epoch"].as_i64()? as i32,
        isr,
    ))
}

/// Waits until partition `partition`'s state satisfies `ok`; returns it.
async fn wait_state(
    client: &Client,
    topic: &str,
    partition: i32,
    what: &str,
    timeout: Duration,
    ok: impl Fn(&(i32, i32, Vec<i32>)) -> bool,
    brokers: &[&BrokerProcess],
) -> (i32, i32, Vec<i32>) {
    let found = poll_until_async(timeout, Duration::from_millis(100), || async {
        state(client, topic, partition).await.filter(|st| ok(st))
    })
    .await;
    match found {
        Some(st) => st,
        None => {
            let logs: Vec<String> = brokers
                .iter()
                .map(|b| format!("--- broker {} ---\n{}", b.broker_id(), b.logs()))
                .collect();
            panic!(
                "{what}: last state {:?}\n{}",
                state(client, topic, partition).await,
                logs.join("\n")
            )
        }
    }
}

async fn controller_id(client: &Client) -> Option<i32> {
    get_znode_json(client, "/controller")
        .await
        .and_then(|v| v["brokerid"].as_i64())
        .map(|v| v as i32)
}

/// Starts brokers 1 and 2, creates `topic` {0: [1, 2], 1: [2, 1]} and waits for both ISRs.
async fn setup(
    zk: &EmbeddedZookeeper,
    topic: &str,
    auto_rebalance: bool,
) -> (Client, BrokerProcess, BrokerProcess) {
    let b1 = start_broker(zk, 1, auto_rebalance);
    let b2 = start_broker(zk, 2, auto_rebalance);
    let client = zk_client(&zk.connect_string()).await;
    for id in [1, 2] {
        wait_for_znode(&client, &format!("/brokers/ids/{id}"), TIMEOUT).await;
    }
    create_topic_assignment(&client, topic, json!({"0": [1, 2], "1": [2, 1]})).await;
    for (p, leader) in [(0, 1), (1, 2)] {
        let st = wait_state(
            &client,
            topic,
            p,
            "partition created",
            TIMEOUT,
            |st| st.2.len() == 2,
            &[&b1, &b2],
        )
        .await;
        assert_eq!(
            st.0, leader,
            "partition {p} starts on its preferred replica"
        );
    }
    (client, b1, b2)
}

/// Kills `victim`, waits for both partitions to move to `survivor`, restarts it and waits
/// for both ISRs to hold both brokers again. Returns the states then.
async fn kill_and_restart(
    client: &Client,
    topic: &str,
    victim: &mut BrokerProcess,
    survivor: &BrokerProcess,
) -> Vec<(i32, i32, Vec<i32>)> {
    victim.signal_kill();
    assert!(victim.wait_exit(Duration::from_secs(10)).is_some());
    for p in [0, 1] {
        wait_state(
            client,
            topic,
            p,
            "the survivor leads every partition",
            FAILOVER_TIMEOUT,
            |st| st.0 == survivor.broker_id() && st.2 == [survivor.broker_id()],
            &[survivor],
        )
        .await;
    }
    victim.restart();
    wait_for_znode(
        client,
        &format!("/brokers/ids/{}", victim.broker_id()),
        FAILOVER_TIMEOUT,
    )
    .await;
    let mut states = Vec::new();
    for p in [0, 1] {
        states.push(
            wait_state(
                client,
                topic,
                p,
                "the restarted broker rejoins the ISR",
                REJOIN_TIMEOUT,
                |st| st.2.len() == 2,
                &[survivor, victim],
            )
            .await,
        );
    }
    states
}

fn elect(
    port: u16,
    version: i16,
    partitions: Option<Vec<(&str, Vec<i32>)>>,
) -> BTreeMap<(String, i32), i16> {
    let mut c = RawClient::connect(port).expect("connect");
    let request = ElectLeadersRequest::default()
        .with_election_type(0)
        .with_timeout_ms(10_000)
        .with_topic_partitions(partitions.map(|ps| {
            ps.into_iter()
                .map(|(t, p)| {
                    TopicPartitions::default()
                        .with_topic(TopicName(StrBytes::from_string(t.to_string())))
                        .with_partitions(p)
                })
                .collect()
        }));
    let r: ElectLeadersResponse = c.send(version, &request).expect("ElectLeaders");
    assert_eq!(r.error_code, NONE, "top-level error");
    r.replica_election_results
        .iter()
        .flat_map(|t| {
            t.partition_result
                .iter()
                .map(move |p| ((t.topic.0.to_string(), p.partition_id), p.error_code))
        })
        .collect()
}

fn key(t: &str, p: i32) -> (String, i32) {
    (t.to_string(), p)
}

/// Auto rebalance: the restarted preferred replica leads its partition again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_rebalance_restores_the_preferred_leader_after_a_restart() {
    let zk = EmbeddedZookeeper::start();
    let (client, mut b1, b2) = setup(&zk, "auto", true).await;
    let states = kill_and_restart(&client, "auto", &mut b1, &b2).await;
    // Just after rejoining, broker 2 may still lead partition 0.
    let rejoined_epoch = states[0].1;
    let (leader, epoch, isr) = wait_state(
        &client,
        "auto",
        0,
        "the automatic rebalance moves partition 0 back to broker 1",
        REBALANCE_TIMEOUT,
        |st| st.0 == 1,
        &[&b1, &b2],
    )
    .await;
    assert_eq!(leader, 1);
    assert!(
        epoch > rejoined_epoch || states[0].0 == 1,
        "the preferred election bumps the epoch ({rejoined_epoch} -> {epoch})"
    );
    assert_eq!(isr.len(), 2);
    // Partition 1 stays on its preferred replica, broker 2.
    let (leader1, _, _) = state(&client, "auto", 1).await.expect("state");
    assert_eq!(leader1, 2);
}

/// ElectLeaders with the automatic rebalance disabled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn elect_leaders_restores_the_preferred_leader_on_request() {
    let zk = EmbeddedZookeeper::start();
    let (client, b1, mut b2) = setup(&zk, "el", false).await;
    let states = kill_and_restart(&client, "el", &mut b2, &b1).await;
    assert_eq!(states[1].0, 1, "broker 1 still leads partition 1");
    // No automatic rebalance: still led by broker 1 after several check intervals.
    tokio::time::sleep(Duration::from_secs(8)).await;
    let (leader, epoch_before, _) = state(&client, "el", 1).await.expect("state");
    assert_eq!(leader, 1, "no automatic rebalance when disabled");

    let controller = controller_id(&client).await.expect("a controller");
    let (ctl, other) = if controller == 1 {
        (&b1, &b2)
    } else {
        (&b2, &b1)
    };
    // Not the controller: NOT_CONTROLLER per partition.
    let r = elect(other.port(), 2, Some(vec![("el", vec![0, 1])]));
    assert_eq!(r.get(&key("el", 0)), Some(&NOT_CONTROLLER), "{r:?}");
    assert_eq!(r.get(&key("el", 1)), Some(&NOT_CONTROLLER), "{r:?}");

    let r = elect(
        ctl.port(),
        2,
        Some(vec![("el", vec![0, 1, 7]), ("missing", vec![0])]),
    );
    assert_eq!(r.get(&key("el", 0)), Some(&ELECTION_NOT_NEEDED), "{r:?}");
    assert_eq!(r.get(&key("el", 1)), Some(&NONE), "{r:?}");
    assert_eq!(
        r.get(&key("el", 7)),
        Some(&UNKNOWN_TOPIC_OR_PARTITION),
        "{r:?}"
    );
    assert_eq!(
        r.get(&key("missing", 0)),
        Some(&UNKNOWN_TOPIC_OR_PARTITION),
        "{r:?}"
    );
    let (leader, epoch, isr) = state(&client, "el", 1).await.expect("state");
    assert_eq!(leader, 2, "the preferred replica leads again");
    assert_eq!(
        epoch,
        epoch_before + 1,
        "the election bumps the leader epoch"
    );
    assert_eq!(isr.len(), 2);
    // Every partition (null topics), v0: all already preferred.
    let r = elect(ctl.port(), 1, None);
    assert_eq!(r.get(&key("el", 0)), Some(&ELECTION_NOT_NEEDED), "{r:?}");
    assert_eq!(r.get(&key("el", 1)), Some(&ELECTION_NOT_NEEDED), "{r:?}");
}
