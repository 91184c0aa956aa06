//! Replication between broker processes on a real ZooKeeper: followers fetch from leaders
//! (replica fetchers), acks=all waits for the ISR, and a follower's segment files end up
//! byte-identical to the leader's (batches are copied verbatim, offsets and epochs included).

use std::time::{Duration, Instant};

use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{ProduceRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use rafka_core::record::{build_batch, ProducerInfo, SimpleRecord};
use rafka_tests::{
    kcat_wait_for_brokers, wait_for_znode, zk_client, BrokerProcess, EmbeddedZookeeper, RawClient,
};

const TIMEOUT: Duration = Duration::from_secs(30);

fn produce(c: &mut RawClient, topic: &str, partition: i32, n: usize, tag: &str) -> (i16, i64) {
    let records: Vec<SimpleRecord> = (0..n)
        .map(|i| {
            SimpleRecord::new(
                // Now: old timestamps would fall to the 7-day retention.
                rafka_core::log::log_manager::now_ms() + i as i64,
                Some(format!("k{i}").as_bytes()),
                Some(format!("{tag}-{i}").as_bytes()),
            )
        })
        .collect();
    let req = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(10_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_string(topic.to_string())))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(partition)
                .with_records(Some(
                    build_batch(0, ProducerInfo::NONE, &records).into(),
                ))])]);
    let r = c.send(9, &req).expect("Produce");
    let p = &r.responses[0].partition_responses[0];
    (p.error_code, p.base_offset)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn followers_copy_leaders_byte_for_byte_and_acks_all_waits_for_them() {
    let zk = EmbeddedZookeeper::start();
    let brokers: Vec<BrokerProcess> = (1..=2)
        .map(|id| {
            BrokerProcess::builder()
                .broker_id(id)
                .zookeeper(zk.connect_string())
                .prop("min.insync.replicas", 2)
                .start()
        })
        .collect();
    let client = zk_client(&zk.connect_string()).await;
    for id in 1..=2 {
        wait_for_znode(&client, &format!("/brokers/ids/{id}"), TIMEOUT).await;
    }
    for b in &brokers {
        assert!(
            kcat_wait_for_brokers(&b.bootstrap_servers(), 2, TIMEOUT),
            "{}",
            b.logs()
        );
    }
    // CreateTopics goes to the controller: try both brokers.
    let topic = CreatableTopic::default()
        .with_name(TopicName(StrBytes::from_static_str("rep")))
        .with_num_partitions(2)
        .with_replication_factor(2);
    let created = brokers.iter().any(|b| {
        let mut c = RawClient::connect_with_retry(b.port(), TIMEOUT).unwrap();
        c.create_topic(topic.clone()).unwrap().error_code == 0
    });
    assert!(created, "topic created on the controller");

    // Each partition's leader, from the partition state znodes.
    for partition in 0..2 {
        let state = rafka_tests::get_znode_json(
            &client,
            &format!("/brokers/topics/rep/partitions/{partition}/state"),
        )
        .await
        .expect("partition state");
        let leader = state["leader"].as_i64().unwrap() as usize;
        let leader_broker = &brokers[leader - 1];
        let mut c = RawClient::connect_with_retry(leader_broker.port(), TIMEOUT).unwrap();
        // acks=all with min.insync.replicas=2: answered only once the follower has the data.
        let mut next = 0;
        for round in 0..5 {
            let (err, base) = produce(
                &mut c,
                "rep",
                partition,
                50,
                &format!("p{partition}r{round}"),
            );
            assert_eq!(
                (err, base),
                (0, next),
                "acks=all produce to partition {partition}"
            );
            next += 50;
        }
        // The follower's log file becomes identical to the leader's.
        let name = format!("rep-{partition}/00000000000000000000.log");
        let leader_file = leader_broker.log_dir().join(&name);
        let follower_file = brokers[2 - leader].log_dir().join(&name);
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let a = std::fs::read(&leader_file).unwrap();
            let b = std::fs::read(&follower_file).unwrap_or_default();
            if a == b {
                assert!(a.len() > 250 * 10, "the log holds the 250 records");
                break;
            }
            assert!(
                Instant::now() < deadline,
                "follower log of partition {partition} differs from the leader's ({} vs {} bytes)",
                b.len(),
                a.len()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// KIP-101: a former leader that wrote records its follower never copied must drop exactly
/// those when it comes back as a follower of a leader that wrote different records at the
/// same offsets — found through the leader-epoch history (OffsetForLeaderEpoch), not the
/// high watermark (the old leader's high watermark covers its divergent records).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_returning_leader_truncates_its_divergent_records_by_leader_epoch() {
    use kafka_protocol::messages::create_topics_request::{
        CreatableReplicaAssignment, CreatableTopicConfig,
    };
    use kafka_protocol::messages::BrokerId;
    use rafka_tests::{get_znode_json, wait_for_znode_gone};

    let zk = EmbeddedZookeeper::start();
    // High watermarks checkpointed every 100 ms: the old leader comes back believing its
    // divergent records are committed, so only leader epochs can tell them apart.
    let mut brokers: Vec<BrokerProcess> = (1..=2)
        .map(|id| {
            BrokerProcess::builder()
                .broker_id(id)
                .zookeeper(zk.connect_string())
                .prop("replica.high.watermark.checkpoint.interval.ms", 100)
                .start()
        })
        .collect();
    let client = zk_client(&zk.connect_string()).await;
    for id in 1..=2 {
        wait_for_znode(&client, &format!("/brokers/ids/{id}"), TIMEOUT).await;
    }
    for b in &brokers {
        assert!(
            kcat_wait_for_brokers(&b.bootstrap_servers(), 2, TIMEOUT),
            "{}",
            b.logs()
        );
    }
    // Partition 0 on [1, 2]: broker 1 leads first.
    let topic = CreatableTopic::default()
        .with_name(TopicName(StrBytes::from_static_str("div")))
        .with_num_partitions(-1)
        .with_replication_factor(-1)
        .with_assignments(vec![CreatableReplicaAssignment::default()
            .with_partition_index(0)
            .with_broker_ids(vec![BrokerId(1), BrokerId(2)])])
        .with_configs(vec![CreatableTopicConfig::default()
            .with_name(StrBytes::from_static_str("unclean.leader.election.enable"))
            .with_value(Some(StrBytes::from_static_str("true")))]);
    let created = brokers.iter().any(|b| {
        let mut c = RawClient::connect_with_retry(b.port(), TIMEOUT).unwrap();
        c.create_topic(topic.clone()).unwrap().error_code == 0
    });
    assert!(created);
    let state_path = "/brokers/topics/div/partitions/0/state";
    let wait_state = |pred: &'static (dyn Fn(&serde_json::Value) -> bool + Sync)| {
        let client = &client;
        async move {
            let deadline = Instant::now() + TIMEOUT;
            loop {
                if let Some(s) = get_znode_json(client, state_path).await {
                    if pred(&s) {
                        return s;
                    }
                    assert!(Instant::now() < deadline, "partition state stuck at {s}");
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    wait_state(&|s| s["leader"] == 1).await;

    // 10 records on both replicas (acks=all).
    let mut c1 = RawClient::connect_with_retry(brokers[0].port(), TIMEOUT).unwrap();
    assert_eq!(produce(&mut c1, "div", 0, 10, "common"), (0, 0));
    // The follower dies; the ISR shrinks to the leader, which then takes 5 more records
    // (acks=all = the ISR, which is itself alone now).
    brokers[1].signal_kill();
    brokers[1].wait_exit(TIMEOUT).expect("killed");
    wait_state(&|s| s["isr"] == serde_json::json!([1])).await;
    assert_eq!(produce(&mut c1, "div", 0, 5, "lost"), (0, 10));
    let checkpoint = brokers[0].log_dir().join("replication-offset-checkpoint");
    let deadline = Instant::now() + TIMEOUT;
    while !std::fs::read_to_string(&checkpoint)
        .unwrap_or_default()
        .contains("div 0 15")
    {
        assert!(
            Instant::now() < deadline,
            "high watermark 15 never checkpointed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The leader dies too; the follower comes back and is elected uncleanly (epoch 2).
    brokers[0].signal_kill();
    brokers[0].wait_exit(TIMEOUT).expect("killed");
    wait_for_znode_gone(&client, "/brokers/ids/1", TIMEOUT).await;
    wait_for_znode_gone(&client, "/brokers/ids/2", TIMEOUT).await;
    brokers[1].restart();
    wait_state(&|s| s["leader"] == 2).await;
    let mut c2 = RawClient::connect_with_retry(brokers[1].port(), TIMEOUT).unwrap();
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let (err, base) = produce(&mut c2, "div", 0, 3, "new");
        if err == 0 {
            assert_eq!(base, 10, "the new leader's log ends at 10");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the new leader never took writes ({err})"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The old leader returns as a follower: it must drop offsets 10..15 of epoch 1 and copy
    // 10..13 of epoch 2, ending byte-identical to the new leader.
    brokers[0].restart();
    let name = "div-0/00000000000000000000.log";
    let leader_file = brokers[1].log_dir().join(name);
    let follower_file = brokers[0].log_dir().join(name);
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let a = std::fs::read(&leader_file).unwrap();
        let b = std::fs::read(&follower_file).unwrap_or_default();
        if a == b {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the returning replica's log ({} bytes) never matched the leader's ({} bytes)\n{}",
            b.len(),
            a.len(),
            brokers[0].logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        brokers[0].logs().contains("follower truncation point"),
        "the follower truncated by leader epoch"
    );
}
