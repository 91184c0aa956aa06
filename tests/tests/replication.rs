//! Replication between broker processes on a real ZooKeeper: followers fetch from leaders
//! (replica fetchers), acks=all waits for the ISR, and a follower's segment files end up
//! byte-identical to the leader's (batches are copied verbatim, offsets and epochs included).

use std::time::{Duration, Instant};

use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{CreateTopicsRequest, ProduceRequest, TopicName};
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
                1_700_000_000_000 + i as i64,
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
        let r = c
            .send(
                5,
                &CreateTopicsRequest::default()
                    .with_topics(vec![topic.clone()])
                    .with_timeout_ms(20_000),
            )
            .unwrap();
        r.topics[0].error_code == 0
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
