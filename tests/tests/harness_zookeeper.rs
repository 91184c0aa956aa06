//! The ZooKeeper side of the harness works against the real server: start, read/write znodes,
//! data survives a stop/restart, session timeouts for tests are accepted, and two servers run
//! side by side without clashing.

use std::time::Duration;

use rafka_tests::zookeeper_client::{Acls, CreateMode, Error as ZkError};
use rafka_tests::{
    get_znode, wait_for_znode_gone, zk_client, zk_client_with_session_timeout, znode_children,
    EmbeddedZookeeper,
};

fn persistent() -> rafka_tests::zookeeper_client::CreateOptions<'static> {
    CreateMode::Persistent.with_acls(Acls::anyone_all())
}

#[tokio::test]
async fn znodes_survive_a_zookeeper_restart() {
    let mut zk = EmbeddedZookeeper::start();
    assert_eq!(zk.connect_string(), format!("127.0.0.1:{}", zk.port()));
    assert_eq!(zk.four_letter_word("ruok").expect("ruok"), "imok");
    let srvr = zk.four_letter_word("srvr").expect("srvr");
    assert!(srvr.contains("Mode: standalone"), "srvr answered: {srvr}");

    let client = zk_client(&zk.connect_string()).await;
    client
        .create("/rafka-harness", b"hello", &persistent())
        .await
        .expect("create /rafka-harness");
    client
        .create("/rafka-harness/child", b"{\"version\":1}", &persistent())
        .await
        .expect("create /rafka-harness/child");
    assert!(matches!(
        client
            .create("/rafka-harness", b"again", &persistent())
            .await,
        Err(ZkError::NodeExists)
    ));
    let (data, stat) = get_znode(&client, "/rafka-harness")
        .await
        .expect("/rafka-harness exists");
    assert_eq!(data, b"hello");
    assert_eq!(get_znode(&client, "/does-not-exist").await, None);
    drop(client);

    let port = zk.port();
    zk.stop();
    assert!(!zk.is_running());
    assert!(
        zk.four_letter_word("ruok").is_err(),
        "a stopped ZooKeeper must not answer"
    );

    zk.restart();
    assert!(zk.is_running());
    assert_eq!(zk.port(), port, "restart keeps the port");
    let client = zk_client(&zk.connect_string()).await;
    let (data_after, stat_after) = get_znode(&client, "/rafka-harness")
        .await
        .expect("/rafka-harness survives the restart");
    assert_eq!(data_after, b"hello");
    assert_eq!(stat_after.czxid, stat.czxid);
    assert_eq!(
        znode_children(&client, "/rafka-harness").await,
        vec!["child".to_string()]
    );
    assert!(
        zk.logs().contains("starting ZooKeeper"),
        "server output is captured"
    );
}

#[tokio::test]
async fn test_session_timeouts_are_accepted_and_ephemerals_go_away() {
    let zk = EmbeddedZookeeper::start();
    // A short timeout (SIGSTOP-a-broker tests) and Kafka's default 18 s are both negotiated as asked.
    let short = zk_client_with_session_timeout(&zk.connect_string(), Duration::from_secs(3)).await;
    assert_eq!(short.session_timeout(), Duration::from_secs(3));
    let long = zk_client_with_session_timeout(&zk.connect_string(), Duration::from_secs(18)).await;
    assert_eq!(long.session_timeout(), Duration::from_secs(18));

    short
        .create(
            "/ephemeral",
            b"",
            &CreateMode::Ephemeral.with_acls(Acls::anyone_all()),
        )
        .await
        .expect("create /ephemeral");
    let (_, stat) = get_znode(&long, "/ephemeral")
        .await
        .expect("visible to the other session");
    assert_eq!(stat.ephemeral_owner, short.session_id().0);

    // Closing (or losing) the owning session removes the ephemeral znode.
    drop(short);
    wait_for_znode_gone(&long, "/ephemeral", Duration::from_secs(15)).await;
}

#[tokio::test]
async fn two_zookeepers_run_side_by_side() {
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(EmbeddedZookeeper::start);
        let b = s.spawn(EmbeddedZookeeper::start);
        (
            a.join().expect("start ZooKeeper a"),
            b.join().expect("start ZooKeeper b"),
        )
    });
    assert_ne!(a.port(), b.port());
    assert_ne!(a.data_dir(), b.data_dir());

    let ca = zk_client(&a.connect_string()).await;
    let cb = zk_client(&b.connect_string()).await;
    ca.create("/only-in-a", b"a", &persistent())
        .await
        .expect("create in a");
    cb.create("/only-in-b", b"b", &persistent())
        .await
        .expect("create in b");
    assert_eq!(
        get_znode(&ca, "/only-in-a").await.map(|(d, _)| d),
        Some(b"a".to_vec())
    );
    assert_eq!(
        get_znode(&cb, "/only-in-b").await.map(|(d, _)| d),
        Some(b"b".to_vec())
    );
    assert_eq!(get_znode(&ca, "/only-in-b").await, None);
    assert_eq!(get_znode(&cb, "/only-in-a").await, None);

    // A chroot in the connect string works the way Kafka's `zookeeper.connect=host:port/chroot` does.
    ca.create("/kafka", b"", &persistent())
        .await
        .expect("create /kafka");
    let chrooted = zk_client(&a.connect_string_with_chroot("kafka")).await;
    chrooted
        .create("/brokers", b"", &persistent())
        .await
        .expect("create chrooted /brokers");
    assert_eq!(
        znode_children(&ca, "/kafka").await,
        vec!["brokers".to_string()]
    );
}

#[tokio::test]
#[should_panic(expected = "broker exited")]
async fn waiting_for_a_registration_fails_fast_when_the_broker_exits() {
    let zk = EmbeddedZookeeper::start();
    let client = zk_client(&zk.connect_string()).await;
    // `/bin/true` stands in for a broker that dies at startup.
    let mut broker = rafka_tests::BrokerProcess::builder()
        .binary("/bin/true")
        .zookeeper(zk.connect_string())
        .start();
    broker
        .wait_registered(&client, Duration::from_secs(60))
        .await;
}
