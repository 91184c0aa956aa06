//! Metadata as a real client sees it: `kcat -L -J` against brokers on a real ZooKeeper. The
//! brokers learn the cluster only from the controller's UpdateMetadata, so every check waits
//! (bounded) for it to arrive.

use std::time::Duration;

use rafka_tests::{
    kcat_brokers, kcat_metadata, poll_until, wait_for_znode, zk_client, BrokerProcess,
    EmbeddedZookeeper,
};

const START_TIMEOUT: Duration = Duration::from_secs(30);
/// Session timeout (6 s, the harness default) + controller reaction + slack.
const FAILOVER_TIMEOUT: Duration = Duration::from_secs(40);

/// `(broker id, host:port)` pairs and the controller id from `kcat -L -J`.
fn kcat_cluster(bootstrap: &str) -> Option<(Vec<(i64, String)>, i64)> {
    kcat_brokers(&kcat_metadata(bootstrap, None)?)
}

/// Polls `kcat` until the broker list equals `want` (and a controller is named).
fn wait_for_brokers(bootstrap: &str, want: &[(i64, String)], timeout: Duration) -> i64 {
    let mut last = None;
    let got = poll_until(timeout, Duration::from_millis(250), || {
        let m = kcat_cluster(bootstrap);
        last = m.clone();
        m.filter(|(brokers, controller)| brokers == want && *controller >= 0)
    });
    match got {
        Some((_, controller)) => controller,
        None => panic!("kcat -b {bootstrap}: wanted brokers {want:?}, last saw {last:?}"),
    }
}

fn entry(b: &BrokerProcess) -> (i64, String) {
    (b.broker_id() as i64, b.bootstrap_servers())
}

#[tokio::test]
async fn one_broker_lists_itself_as_broker_and_controller() {
    let zk = EmbeddedZookeeper::start();
    let b = BrokerProcess::builder()
        .broker_id(7)
        .zookeeper(zk.connect_string())
        .start();
    let controller = wait_for_brokers(&b.bootstrap_servers(), &[entry(&b)], START_TIMEOUT);
    assert_eq!(controller, 7, "{}", b.logs());
}

#[tokio::test]
async fn two_brokers_then_sigkill_leaves_only_the_survivor() {
    let zk = EmbeddedZookeeper::start();
    let mut b1 = BrokerProcess::builder()
        .broker_id(1)
        .zookeeper(zk.connect_string())
        .start();
    let mut b2 = BrokerProcess::builder()
        .broker_id(2)
        .zookeeper(zk.connect_string())
        .start();
    let client = zk_client(&zk.connect_string()).await;
    wait_for_znode(&client, "/brokers/ids/1", START_TIMEOUT).await;
    wait_for_znode(&client, "/brokers/ids/2", START_TIMEOUT).await;

    let mut both = vec![entry(&b1), entry(&b2)];
    both.sort();
    // Both brokers answer with the same view, naming the same controller.
    let c1 = wait_for_brokers(&b1.bootstrap_servers(), &both, START_TIMEOUT);
    let c2 = wait_for_brokers(&b2.bootstrap_servers(), &both, START_TIMEOUT);
    assert_eq!(c1, c2);
    assert!(c1 == 1 || c1 == 2, "controller {c1}");

    // Kill the non-controller: the controller sees it go (session expiry) and tells the
    // survivor (itself) that only it is left.
    let (dead, survivor) = if c1 == 1 {
        (&mut b2, &b1)
    } else {
        (&mut b1, &b2)
    };
    dead.signal_kill();
    let controller = wait_for_brokers(
        &survivor.bootstrap_servers(),
        &[entry(survivor)],
        FAILOVER_TIMEOUT,
    );
    assert_eq!(controller, survivor.broker_id() as i64);
}

#[tokio::test]
async fn controller_failover_updates_the_survivor() {
    let zk = EmbeddedZookeeper::start();
    let mut b1 = BrokerProcess::builder()
        .broker_id(1)
        .zookeeper(zk.connect_string())
        .start();
    let mut b2 = BrokerProcess::builder()
        .broker_id(2)
        .zookeeper(zk.connect_string())
        .start();
    let mut both = vec![entry(&b1), entry(&b2)];
    both.sort();
    let controller = wait_for_brokers(&b1.bootstrap_servers(), &both, START_TIMEOUT);
    // Kill the controller: the survivor is elected and sends itself UpdateMetadata.
    let (dead, survivor) = if controller == 1 {
        (&mut b1, &b2)
    } else {
        (&mut b2, &b1)
    };
    dead.signal_kill();
    let new_controller = wait_for_brokers(
        &survivor.bootstrap_servers(),
        &[entry(survivor)],
        FAILOVER_TIMEOUT,
    );
    assert_eq!(new_controller, survivor.broker_id() as i64);
}
