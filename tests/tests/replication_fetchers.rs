//! `num.replica.fetchers` across broker processes on a real ZooKeeper: a follower spreads the
//! partitions it follows from one leader over that many fetchers (Kafka's
//! `Utils.abs(31 * topic.hashCode + partition) % num.replica.fetchers`), every follower log
//! still catches up, and a dynamic change of the setting re-keys the followed partitions.
//! Raw Kafka requests; every wait is bounded.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use kafka_protocol::messages::alter_configs_request::{AlterConfigsResource, AlterableConfig};
use kafka_protocol::messages::AlterConfigsRequest;
use kafka_protocol::protocol::StrBytes;
use rafka_tests::zookeeper_client::Client;
use rafka_tests::{
    broker_logs, create_topic_assignment, get_partition_state, poll_until_async, produce_until,
    tagged_values, wait_for_znode, zk_client, BrokerProcess, EmbeddedZookeeper, RawClient,
};
use serde_json::json;

const TIMEOUT: Duration = Duration::from_secs(30);
const NONE: i16 = 0;
const BROKER: i8 = 4;
/// Kafka's fetcher ids of `fetchers-0..5` (`"fetchers".hashCode() = 237195372`, so
/// `31 * hash` wraps to -1236878060): with 3 fetchers [2, 1, 0, 2, 1, 0], with 2
/// [0, 1, 0, 1, 0, 1].
const TOPIC: &str = "fetchers";
const PARTITIONS: i32 = 6;

fn start_broker(zk: &EmbeddedZookeeper, id: i32, extra: &[(&str, &str)]) -> BrokerProcess {
    let mut b = BrokerProcess::builder()
        .broker_id(id)
        .zookeeper(zk.connect_string());
    for (k, v) in extra {
        b = b.prop(k, v);
    }
    b.start()
}

/// Two brokers registered and a 6-partition topic, RF 2, every partition led by broker 1
/// with ISR [1, 2].
async fn cluster(
    extra: &[(&str, &str)],
) -> (EmbeddedZookeeper, BrokerProcess, BrokerProcess, Client) {
    let zk = EmbeddedZookeeper::start();
    let b1 = start_broker(&zk, 1, extra);
    let b2 = start_broker(&zk, 2, extra);
    let client = zk_client(&zk.connect_string()).await;
    for id in [1, 2] {
        wait_for_znode(&client, &format!("/brokers/ids/{id}"), TIMEOUT).await;
    }
    let assignment: serde_json::Map<String, serde_json::Value> = (0..PARTITIONS)
        .map(|p| (p.to_string(), json!([1, 2])))
        .collect();
    create_topic_assignment(&client, TOPIC, serde_json::Value::Object(assignment)).await;
    wait_all_led_by_1_with_full_isr(&client, &[&b1, &b2]).await;
    (zk, b1, b2, client)
}

/// Every partition's (leader, ISR) from its state znode.
async fn leaders_and_isrs(client: &Client) -> Vec<Option<(serde_json::Value, serde_json::Value)>> {
    let mut out = Vec::new();
    for p in 0..PARTITIONS {
        let state = get_partition_state(client, TOPIC, p).await.map(|(v, _)| v);
        out.push(state.map(|v| (v["leader"].clone(), v["isr"].clone())));
    }
    out
}

/// Waits until every partition is led by broker 1 with ISR [1, 2].
async fn wait_all_led_by_1_with_full_isr(client: &Client, brokers: &[&BrokerProcess]) {
    let want = Some((json!(1), json!([1, 2])));
    let ok = poll_until_async(TIMEOUT, Duration::from_millis(100), || async {
        leaders_and_isrs(client)
            .await
            .iter()
            .all(|s| *s == want)
            .then_some(())
    })
    .await;
    assert!(
        ok.is_some(),
        "every partition led by 1 with ISR [1, 2]; last (leader, isr) {:?}\n{}",
        leaders_and_isrs(client).await,
        broker_logs(brokers)
    );
}

/// acks=all produce of `n` records to every partition through broker 1 (with ISR [1, 2] an
/// acknowledged record is on the follower too).
fn produce_everywhere(b1: &BrokerProcess, tag: &str, n: usize) {
    for p in 0..PARTITIONS {
        produce_until(
            b1,
            TOPIC,
            p,
            -1,
            &tagged_values(&format!("{tag}-p{p}"), n),
            NONE,
        );
    }
}

/// Waits until every partition's first segment file on broker 2 is byte-identical to broker
/// 1's and at least `min_len` bytes long.
fn wait_follower_logs_equal(b1: &BrokerProcess, b2: &BrokerProcess, min_len: usize) {
    for p in 0..PARTITIONS {
        let name = format!("{TOPIC}-{p}/00000000000000000000.log");
        let (leader_file, follower_file) = (b1.log_dir().join(&name), b2.log_dir().join(&name));
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let a = std::fs::read(&leader_file).unwrap_or_default();
            let b = std::fs::read(&follower_file).unwrap_or_default();
            if a == b && a.len() >= min_len {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "broker 2's log of {TOPIC}-{p} never matched broker 1's ({} vs {} bytes)\n{}",
                a.len(),
                b.len(),
                broker_logs(&[b1, b2])
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// The fetcher ids of the "starting replica fetcher" lines for leader `leader` in `logs`.
fn started_fetcher_ids(logs: &str, leader: i32) -> BTreeSet<i32> {
    let field = |line: &str, name: &str| -> Option<i32> {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(name))
            .and_then(|v| v.parse().ok())
    };
    logs.lines()
        .filter(|l| l.contains("starting replica fetcher"))
        .filter(|l| field(l, "leader=") == Some(leader))
        .filter_map(|l| field(l, "fetcher_id="))
        .collect()
}

/// AlterConfigs v1 of broker `id`'s dynamic config, sent to that broker.
fn alter_broker_config(b: &BrokerProcess, id: i32, configs: &[(&str, &str)]) -> i16 {
    let s = |v: &str| StrBytes::from_string(v.to_string());
    let resource = AlterConfigsResource::default()
        .with_resource_type(BROKER)
        .with_resource_name(s(&id.to_string()))
        .with_configs(
            configs
                .iter()
                .map(|(k, v)| {
                    AlterableConfig::default()
                        .with_name(s(k))
                        .with_value(Some(s(v)))
                })
                .collect(),
        );
    let mut c = RawClient::connect_with_retry(b.port(), TIMEOUT).expect("connect");
    let r = c
        .send(
            1,
            &AlterConfigsRequest::default().with_resources(vec![resource]),
        )
        .expect("AlterConfigs");
    r.responses[0].error_code
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leaders_partitions_spread_over_num_replica_fetchers_and_all_catch_up() {
    let (_zk, b1, b2, client) = cluster(&[("num.replica.fetchers", "3")]).await;
    produce_everywhere(&b1, "one", 20);
    wait_follower_logs_equal(&b1, &b2, 20 * 10);
    produce_everywhere(&b1, "two", 30);
    wait_follower_logs_equal(&b1, &b2, 50 * 10);
    wait_all_led_by_1_with_full_isr(&client, &[&b1, &b2]).await;

    // Broker 2 follows the six partitions of leader 1 with three fetchers, one per id.
    assert_eq!(
        started_fetcher_ids(&b2.logs(), 1),
        BTreeSet::from([0, 1, 2]),
        "{}",
        b2.logs()
    );
    assert!(
        started_fetcher_ids(&b1.logs(), 2).is_empty(),
        "broker 1 follows nothing from broker 2"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dynamic_num_replica_fetchers_change_rekeys_the_followers() {
    let (_zk, b1, b2, client) = cluster(&[]).await;
    produce_everywhere(&b1, "before", 20);
    wait_follower_logs_equal(&b1, &b2, 20 * 10);
    assert_eq!(
        started_fetcher_ids(&b2.logs(), 1),
        BTreeSet::from([0]),
        "one fetcher by default\n{}",
        b2.logs()
    );

    // Kafka's DynamicThreadPool: at most doubled at once.
    assert_eq!(
        alter_broker_config(&b2, 2, &[("num.replica.fetchers", "2")]),
        NONE
    );
    assert!(
        b2.wait_for_log("resizing the replica fetcher pool from=1 to=2", TIMEOUT),
        "{}",
        b2.logs()
    );
    assert!(b2.wait_for_log("fetcher_id=1", TIMEOUT), "{}", b2.logs());
    assert_eq!(started_fetcher_ids(&b2.logs(), 1), BTreeSet::from([0, 1]));

    // The re-keyed partitions keep replicating.
    produce_everywhere(&b1, "after", 30);
    wait_follower_logs_equal(&b1, &b2, 50 * 10);
    wait_all_led_by_1_with_full_isr(&client, &[&b1, &b2]).await;
}
