//! Rack-aware replica placement on a real ZooKeeper with three broker processes, each with a
//! `broker.rack`: the rack is registered in `/brokers/ids/<id>` and served by Metadata; topics
//! created by CreateTopics (no explicit assignment) and partitions added by CreatePartitions
//! get replicas on different racks (Kafka's `assignReplicasToBrokersRackAware`), read back
//! from `/brokers/topics/<t>`. With racks on only some brokers, placement fails as in Kafka
//! (`AdminOperationException` → UNKNOWN_SERVER_ERROR) for CreateTopics and CreatePartitions,
//! while a CreateTopics with an explicit assignment still succeeds. Raw Kafka requests; every
//! wait is bounded.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use kafka_protocol::messages::create_partitions_request::{
    CreatePartitionsAssignment, CreatePartitionsTopic,
};
use kafka_protocol::messages::create_topics_request::{CreatableReplicaAssignment, CreatableTopic};
use kafka_protocol::messages::{
    BrokerId, CreatePartitionsRequest, CreatePartitionsResponse, MetadataRequest, MetadataResponse,
    TopicName,
};
use kafka_protocol::protocol::StrBytes;
use rafka_tests::zookeeper_client::Client;
use rafka_tests::{
    creatable_topic, get_znode_json, poll_until, wait_for_znode, zk_client, BrokerProcess,
    EmbeddedZookeeper, RawClient,
};

const TIMEOUT: Duration = Duration::from_secs(30);
const NONE: i16 = 0;
const UNKNOWN_SERVER_ERROR: i16 = -1;

fn start_broker(zk: &EmbeddedZookeeper, id: i32, rack: Option<&str>) -> BrokerProcess {
    let builder = BrokerProcess::builder()
        .broker_id(id)
        .zookeeper(zk.connect_string());
    match rack {
        Some(rack) => builder.prop("broker.rack", rack),
        None => builder,
    }
    .start()
}

fn all_logs(brokers: &[&BrokerProcess]) -> String {
    brokers
        .iter()
        .map(|b| format!("--- broker {} ---\n{}", b.broker_id(), b.logs()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Metadata v12 (no topics) from the broker on `port`: broker id → rack.
fn metadata_racks(port: u16) -> Option<BTreeMap<i32, Option<String>>> {
    let mut c = RawClient::connect(port).ok()?;
    let r: MetadataResponse = c
        .send(12, &MetadataRequest::default().with_topics(Some(vec![])))
        .ok()?;
    Some(
        r.brokers
            .iter()
            .map(|b| (b.node_id.0, b.rack.as_ref().map(|s| s.to_string())))
            .collect(),
    )
}

/// Starts one broker per entry of `racks` (ids 1..), waits for their registrations (checking
/// the `rack` field) and until every broker's Metadata lists all of them with their racks.
/// Returns the ZooKeeper client, the brokers and the controller's index among them.
async fn cluster(
    zk: &EmbeddedZookeeper,
    racks: &[Option<&str>],
) -> (Client, Vec<BrokerProcess>, usize) {
    let brokers: Vec<BrokerProcess> = racks
        .iter()
        .enumerate()
        .map(|(i, rack)| start_broker(zk, i as i32 + 1, *rack))
        .collect();
    let client = zk_client(&zk.connect_string()).await;
    let expected: BTreeMap<i32, Option<String>> = racks
        .iter()
        .enumerate()
        .map(|(i, r)| (i as i32 + 1, r.map(str::to_string)))
        .collect();
    for (id, rack) in &expected {
        let (data, _) = wait_for_znode(&client, &format!("/brokers/ids/{id}"), TIMEOUT).await;
        let json: serde_json::Value = serde_json::from_slice(&data).unwrap();
        assert_eq!(
            json.get("rack").and_then(|r| r.as_str()),
            rack.as_deref(),
            "registration of broker {id}: {json}"
        );
    }
    let refs: Vec<&BrokerProcess> = brokers.iter().collect();
    for b in &brokers {
        let seen = poll_until(TIMEOUT, Duration::from_millis(200), || {
            metadata_racks(b.port()).filter(|m| *m == expected)
        });
        assert!(
            seen.is_some(),
            "broker {} Metadata never showed {expected:?} (last {:?})\n{}",
            b.broker_id(),
            metadata_racks(b.port()),
            all_logs(&refs)
        );
    }
    let (data, _) = wait_for_znode(&client, "/controller", TIMEOUT).await;
    let controller = serde_json::from_slice::<serde_json::Value>(&data).unwrap()["brokerid"]
        .as_i64()
        .unwrap() as i32;
    let index = brokers
        .iter()
        .position(|b| b.broker_id() == controller)
        .expect("the controller is one of the brokers");
    (client, brokers, index)
}

/// `/brokers/topics/<topic>`'s partitions: partition → replicas.
async fn assignment(client: &Client, topic: &str) -> Option<BTreeMap<i32, Vec<i32>>> {
    let json = get_znode_json(client, &format!("/brokers/topics/{topic}")).await?;
    let parts = json["partitions"].as_object()?;
    Some(
        parts
            .iter()
            .map(|(p, r)| {
                (
                    p.parse().unwrap(),
                    r.as_array()
                        .unwrap()
                        .iter()
                        .map(|b| b.as_i64().unwrap() as i32)
                        .collect(),
                )
            })
            .collect(),
    )
}

fn create_partitions(
    port: u16,
    topic: &str,
    count: i32,
    assignments: Option<Vec<Vec<i32>>>,
) -> CreatePartitionsResponse {
    let mut c = RawClient::connect(port).expect("connect");
    let request = CreatePartitionsRequest::default()
        .with_timeout_ms(20_000)
        .with_topics(vec![CreatePartitionsTopic::default()
            .with_name(TopicName(StrBytes::from_string(topic.to_string())))
            .with_count(count)
            .with_assignments(assignments.map(|list| {
                list.into_iter()
                    .map(|ids| {
                        CreatePartitionsAssignment::default()
                            .with_broker_ids(ids.into_iter().map(BrokerId).collect())
                    })
                    .collect()
            }))]);
    c.send(3, &request).expect("CreatePartitions")
}

/// Asserts every partition's replicas sit on `racks_per_partition` distinct racks.
fn assert_span(
    a: &BTreeMap<i32, Vec<i32>>,
    rack_of: &BTreeMap<i32, &str>,
    rf: usize,
    racks_per_partition: usize,
) {
    for (p, replicas) in a {
        assert_eq!(replicas.len(), rf, "partition {p}: {a:?}");
        let racks: BTreeSet<&str> = replicas.iter().map(|b| rack_of[b]).collect();
        assert_eq!(
            racks.len(),
            racks_per_partition,
            "partition {p} replicas {replicas:?} on racks {racks:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_and_added_partitions_span_racks() {
    let zk = EmbeddedZookeeper::start();
    // Two brokers share r1: a rack-unaware placement would pair 1 and 2 for some partition.
    let (client, brokers, ci) = cluster(&zk, &[Some("r1"), Some("r1"), Some("r2")]).await;
    let refs: Vec<&BrokerProcess> = brokers.iter().collect();
    let controller = &brokers[ci];
    let rack_of: BTreeMap<i32, &str> = [(1, "r1"), (2, "r1"), (3, "r2")].into();

    let mut c = RawClient::connect(controller.port()).expect("connect");
    let r = c
        .create_topic(creatable_topic("racked", 6, 2, &[]))
        .expect("CreateTopics");
    assert_eq!(
        r.error_code,
        NONE,
        "{:?}\n{}",
        r.error_message,
        all_logs(&refs)
    );
    let created = assignment(&client, "racked").await.expect("topic written");
    assert_eq!(
        created.keys().copied().collect::<Vec<_>>(),
        (0..6).collect::<Vec<_>>()
    );
    assert_span(&created, &rack_of, 2, 2);
    // The rack-alternated list [1, 3, 2] gives every broker two preferred leaderships.
    let mut leaders: BTreeMap<i32, usize> = BTreeMap::new();
    for r in created.values() {
        *leaders.entry(r[0]).or_default() += 1;
    }
    assert_eq!(leaders, [(1, 2), (2, 2), (3, 2)].into(), "{created:?}");

    let r = create_partitions(controller.port(), "racked", 9, None);
    assert_eq!(
        (r.results.len(), r.results[0].error_code),
        (1, NONE),
        "{:?}\n{}",
        r.results,
        all_logs(&refs)
    );
    let grown = assignment(&client, "racked").await.expect("topic kept");
    assert_eq!(
        grown.keys().copied().collect::<Vec<_>>(),
        (0..9).collect::<Vec<_>>()
    );
    for p in 0..6 {
        assert_eq!(grown[&p], created[&p], "existing partition {p} untouched");
    }
    let added: BTreeMap<i32, Vec<i32>> = grown.into_iter().filter(|(p, _)| *p >= 6).collect();
    assert_span(&added, &rack_of, 2, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racks_on_some_brokers_fail_like_kafka() {
    let zk = EmbeddedZookeeper::start();
    let (client, brokers, ci) = cluster(&zk, &[Some("r1"), Some("r2"), None]).await;
    let refs: Vec<&BrokerProcess> = brokers.iter().collect();
    let controller = &brokers[ci];

    // Kafka: AdminUtils.assignReplicasToBrokers throws AdminOperationException, which is not
    // an ApiException → UNKNOWN_SERVER_ERROR; nothing is written.
    let mut c = RawClient::connect(controller.port()).expect("connect");
    let r = c
        .create_topic(creatable_topic("mixed", 3, 2, &[]))
        .expect("CreateTopics");
    assert_eq!(r.error_code, UNKNOWN_SERVER_ERROR, "{:?}", r.error_message);
    assert!(assignment(&client, "mixed").await.is_none());

    // An explicit assignment needs no placement, so it still works.
    let explicit = CreatableTopic::default()
        .with_name(TopicName(StrBytes::from_static_str("explicit")))
        .with_num_partitions(-1)
        .with_replication_factor(-1)
        .with_assignments(
            [(0, vec![1, 3]), (1, vec![3, 2])]
                .into_iter()
                .map(|(p, ids): (i32, Vec<i32>)| {
                    CreatableReplicaAssignment::default()
                        .with_partition_index(p)
                        .with_broker_ids(ids.into_iter().map(BrokerId).collect())
                })
                .collect(),
        );
    let r = c.create_topic(explicit).expect("CreateTopics");
    assert_eq!(
        r.error_code,
        NONE,
        "{:?}\n{}",
        r.error_message,
        all_logs(&refs)
    );
    let before = assignment(&client, "explicit")
        .await
        .expect("topic written");

    // CreatePartitions reads the brokers in RackAwareMode.Enforced first, so it fails with
    // or without explicit assignments, and the topic is left as it was.
    for assignments in [None, Some(vec![vec![1, 2]])] {
        let r = create_partitions(controller.port(), "explicit", 3, assignments.clone());
        assert_eq!(
            (r.results.len(), r.results[0].error_code),
            (1, UNKNOWN_SERVER_ERROR),
            "{assignments:?}: {:?}",
            r.results
        );
    }
    assert_eq!(assignment(&client, "explicit").await, Some(before));
}
