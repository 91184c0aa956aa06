//! Several brokers on one real ZooKeeper: one controller, failover after SIGKILL, duplicate
//! broker ids, ZooKeeper outages and forced session expiry.

use std::time::{Duration, Instant};

use rafka_tests::zookeeper_client::Client;
use rafka_tests::{
    get_znode, get_znode_json, poll_until_async, wait_for_znode, wait_for_znode_gone, zk_client,
    znode_children, BrokerProcess, EmbeddedZookeeper,
};

const START_TIMEOUT: Duration = Duration::from_secs(30);
/// The brokers' `zookeeper.session.timeout.ms` in these tests (the harness default).
const SESSION_TIMEOUT: Duration = Duration::from_secs(6);

async fn controller_id(client: &Client) -> Option<i64> {
    get_znode_json(client, "/controller")
        .await
        .and_then(|v| v["brokerid"].as_i64())
}

async fn controller_epoch(client: &Client) -> i64 {
    let (data, _) = get_znode(client, "/controller_epoch")
        .await
        .expect("/controller_epoch");
    String::from_utf8(data)
        .unwrap()
        .trim()
        .parse()
        .expect("decimal epoch")
}

async fn czxid(client: &Client, path: &str) -> i64 {
    get_znode(client, path)
        .await
        .unwrap_or_else(|| panic!("{path} missing"))
        .1
        .czxid
}

#[tokio::test]
async fn two_brokers_one_controller_and_failover_after_sigkill() {
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
    wait_for_znode(&client, "/controller", START_TIMEOUT).await;
    assert_eq!(
        znode_children(&client, "/brokers/ids").await,
        vec!["1", "2"]
    );

    // Exactly one controller, and the epoch was bumped exactly once.
    let first = controller_id(&client).await.expect("a controller");
    assert!(first == 1 || first == 2);
    assert_eq!(controller_epoch(&client).await, 1);
    let (dead, survivor) = if first == 1 {
        (&mut b1, 2)
    } else {
        (&mut b2, 1)
    };

    // The controller's log says it sees both brokers (it watches /brokers/ids).
    assert!(
        dead.wait_for_log("ready to serve as the new controller", START_TIMEOUT),
        "{}",
        dead.logs()
    );

    // SIGKILL the controller: the survivor takes over within session timeout + a few seconds.
    let killed_at = Instant::now();
    dead.signal_kill();
    let took_over = poll_until_async(
        SESSION_TIMEOUT + Duration::from_secs(10),
        Duration::from_millis(100),
        || {
            let client = &client;
            async move { (controller_id(client).await == Some(survivor)).then_some(()) }
        },
    )
    .await;
    assert!(
        took_over.is_some(),
        "broker {survivor} did not become controller"
    );
    eprintln!("controller failover took {:?}", killed_at.elapsed());
    assert_eq!(
        controller_epoch(&client).await,
        2,
        "epoch goes up by exactly one"
    );
    wait_for_znode_gone(
        &client,
        &format!("/brokers/ids/{first}"),
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(
        znode_children(&client, "/brokers/ids").await,
        vec![survivor.to_string()]
    );
}

#[tokio::test]
async fn duplicate_broker_id_is_refused_and_the_first_stays() {
    let zk = EmbeddedZookeeper::start();
    let first = BrokerProcess::builder()
        .broker_id(7)
        .zookeeper(zk.connect_string())
        .start();
    let client = zk_client(&zk.connect_string()).await;
    wait_for_znode(&client, "/brokers/ids/7", START_TIMEOUT).await;
    let epoch_before = czxid(&client, "/brokers/ids/7").await;

    let mut second = BrokerProcess::builder()
        .broker_id(7)
        .zookeeper(zk.connect_string())
        .start();
    let status = second
        .wait_exit(START_TIMEOUT)
        .expect("the second broker exits");
    assert!(!status.success(), "second broker must fail: {status:?}");
    let logs = second.logs();
    assert!(
        logs.contains("broker id 7 is already registered"),
        "no clear message in:\n{logs}"
    );
    // The first broker is untouched: same registration, same epoch.
    assert_eq!(czxid(&client, "/brokers/ids/7").await, epoch_before);
    drop(first);
}

#[tokio::test]
async fn zookeeper_outage_keeps_cpu_idle_and_the_broker_reregisters() {
    let mut zk = EmbeddedZookeeper::start();
    let mut broker = BrokerProcess::builder()
        .broker_id(4)
        .zookeeper(zk.connect_string())
        .start();
    {
        let client = zk_client(&zk.connect_string()).await;
        wait_for_znode(&client, "/brokers/ids/4", START_TIMEOUT).await;
        wait_for_znode(&client, "/controller", START_TIMEOUT).await;
    }
    let epoch_before = {
        let client = zk_client(&zk.connect_string()).await;
        czxid(&client, "/brokers/ids/4").await
    };

    // ZooKeeper down for 20 s (longer than the 6 s session timeout).
    zk.stop();
    let cpu_before = broker.cpu_seconds();
    tokio::time::sleep(Duration::from_secs(20)).await;
    let cpu_used = broker.cpu_seconds() - cpu_before;
    assert!(
        broker.is_running(),
        "the broker must survive a ZooKeeper outage"
    );
    assert!(
        cpu_used < 0.05 * 20.0,
        "broker used {cpu_used:.2} s of CPU in 20 s while ZooKeeper was down"
    );
    eprintln!("CPU used during 20 s outage: {cpu_used:.3} s");

    zk.restart();
    let client = zk_client(&zk.connect_string()).await;
    // Registered again (a new session, so a new czxid = new broker epoch), and controller again.
    let reregistered =
        poll_until_async(Duration::from_secs(45), Duration::from_millis(200), || {
            let client = &client;
            async move {
                match get_znode(client, "/brokers/ids/4").await {
                    Some((_, stat)) if stat.czxid != epoch_before => Some(()),
                    _ => None,
                }
            }
        })
        .await;
    assert!(
        reregistered.is_some(),
        "broker did not re-register\n{}",
        broker.logs()
    );
    let controller = poll_until_async(Duration::from_secs(30), Duration::from_millis(200), || {
        let client = &client;
        async move { (controller_id(client).await == Some(4)).then_some(()) }
    })
    .await;
    assert!(
        controller.is_some(),
        "broker did not become controller again"
    );
}

#[tokio::test]
async fn forced_session_expiry_reregisters_with_a_new_epoch() {
    let zk = EmbeddedZookeeper::start();
    let mut broker = BrokerProcess::builder()
        .broker_id(9)
        .zookeeper(zk.connect_string())
        .start();
    let client = zk_client(&zk.connect_string()).await;
    wait_for_znode(&client, "/brokers/ids/9", START_TIMEOUT).await;
    wait_for_znode(&client, "/controller", START_TIMEOUT).await;
    let epoch_before = czxid(&client, "/brokers/ids/9").await;
    let controller_epoch_before = controller_epoch(&client).await;

    // Freeze the broker past its session timeout: ZooKeeper expires the session and deletes
    // its ephemerals; the broker finds out when it wakes up.
    broker.signal_stop();
    wait_for_znode_gone(
        &client,
        "/brokers/ids/9",
        SESSION_TIMEOUT + Duration::from_secs(10),
    )
    .await;
    wait_for_znode_gone(&client, "/controller", Duration::from_secs(5)).await;
    broker.signal_cont();

    let (_, stat) = wait_for_znode(&client, "/brokers/ids/9", Duration::from_secs(30)).await;
    assert_ne!(
        stat.czxid, epoch_before,
        "a new session gives a new broker epoch"
    );
    let again = poll_until_async(Duration::from_secs(30), Duration::from_millis(200), || {
        let client = &client;
        async move { (controller_id(client).await == Some(9)).then_some(()) }
    })
    .await;
    assert!(
        again.is_some(),
        "broker did not re-elect itself\n{}",
        broker.logs()
    );
    assert_eq!(controller_epoch(&client).await, controller_epoch_before + 1);
    assert!(broker.is_running());
}
