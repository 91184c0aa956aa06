//! What the group coordinator keeps in `__consumer_offsets`, against a real broker on a real
//! ZooKeeper: committed offsets survive a broker restart (the partition is loaded again when
//! the broker leads it, and a new member of the group resumes after the last commit); the
//! records decode with Kafka's key and value schemas (`rafka dump-log --offsets-decoder`); and
//! compaction keeps only the latest record per key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::{
    CreateTopicsRequest, FindCoordinatorRequest, GroupId, OffsetCommitRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use rafka_tests::{
    kcat_wait_for_brokers, python_script, rafka_bin, run_bounded, BrokerProcess, ClientBroker,
    EmbeddedZookeeper, RawClient,
};

const TIMEOUT: Duration = Duration::from_secs(30);

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

#[test]
fn committed_offsets_survive_a_broker_restart() {
    let mut c = ClientBroker::start(|b| {
        b.prop("offsets.topic.replication.factor", 1)
            .prop("offsets.topic.num.partitions", 4)
            .prop("group.initial.rebalance.delay.ms", 0)
    });
    // The port stays the same across the restart.
    let bootstrap = c.bootstrap();
    let args = |phase: &str| {
        [
            bootstrap.clone(),
            "restart-topic".to_string(),
            "restart-group".to_string(),
            phase.to_string(),
        ]
    };
    python_script("groups_confluent_restart.py")
        .args(args("commit"))
        .run_ok(|| c.logs());
    c.broker.restart();
    assert!(
        kcat_wait_for_brokers(&c.bootstrap(), 1, TIMEOUT),
        "the broker did not come back\n{}",
        c.logs()
    );
    python_script("groups_confluent_restart.py")
        .args(args("resume"))
        .run_ok(|| c.logs());
    // The restarted broker loaded the group's partition from its log.
    let logs = c.broker.logs();
    let after_restart = logs
        .rsplit("=== rafka_tests: restarting")
        .next()
        .unwrap_or_default();
    assert!(
        after_restart.lines().any(
            |l| l.contains("finished loading __consumer_offsets partition")
                && l.contains("groups=1")
        ),
        "{}",
        c.logs()
    );
}

/// `(key JSON, payload JSON)` of every record `rafka dump-log --offsets-decoder` prints for
/// the `.log` files of `dir`, per segment (by base offset).
fn dump(dir: &Path) -> BTreeMap<i64, Vec<(String, String)>> {
    let mut logs: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    logs.sort();
    let mut out = BTreeMap::new();
    for log in logs {
        let base: i64 = log.file_stem().unwrap().to_string_lossy().parse().unwrap();
        let run = run_bounded(
            Command::new(rafka_bin())
                .args(["dump-log", "--offsets-decoder"])
                .arg(&log),
            None,
            TIMEOUT,
        );
        // A segment removed by the cleaner meanwhile: skip it.
        if !run.success() {
            continue;
        }
        let records = run
            .stdout_str()
            .lines()
            .filter_map(|l| {
                let (_, rest) = l.split_once(" key: ")?;
                let (key, payload) = rest.split_once(" payload: ")?;
                Some((key.to_string(), payload.to_string()))
            })
            .collect();
        out.insert(base, records);
    }
    out
}

#[test]
fn offsets_records_decode_with_kafka_schemas_and_compaction_keeps_the_latest() {
    let zk = EmbeddedZookeeper::start();
    let mut b = BrokerProcess::builder()
        .broker_id(1)
        .zookeeper(zk.connect_string())
        .prop("offsets.topic.replication.factor", 1)
        // One partition: every group's records are in __consumer_offsets-0.
        .prop("offsets.topic.num.partitions", 1)
        .prop("offsets.topic.segment.bytes", 1024)
        .prop("log.cleaner.backoff.ms", 100)
        // Clean whatever is dirty, also when the cleaner caught up during the commits.
        .prop("log.cleaner.min.cleanable.ratio", 0.01)
        .prop("log.segment.delete.delay.ms", 100)
        .start();
    assert!(b.wait_listening(TIMEOUT));
    let mut c = RawClient::connect_with_retry(b.port(), TIMEOUT).unwrap();
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let r = c
            .send(
                4,
                &CreateTopicsRequest::default()
                    .with_topics(vec![CreatableTopic::default()
                        .with_name(TopicName(s("orders")))
                        .with_num_partitions(2)
                        .with_replication_factor(1)])
                    .with_timeout_ms(10_000),
            )
            .unwrap();
        if r.topics[0].error_code == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "{r:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    loop {
        let r = c
            .send(3, &FindCoordinatorRequest::default().with_key(s("g")))
            .unwrap();
        if r.error_code == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "no coordinator\n{}", b.logs());
        std::thread::sleep(Duration::from_millis(100));
    }
    // 150 commits of two partitions by a simple (commit-only) group: ~300 records over many
    // 1 KiB segments.
    const COMMITS: i64 = 150;
    for i in 1..=COMMITS {
        let r = c
            .send(
                8,
                &OffsetCommitRequest::default()
                    .with_group_id(GroupId(s("g")))
                    .with_generation_id_or_member_epoch(-1)
                    .with_topics(vec![OffsetCommitRequestTopic::default()
                        .with_name(TopicName(s("orders")))
                        .with_partitions(vec![
                            OffsetCommitRequestPartition::default()
                                .with_partition_index(0)
                                .with_committed_offset(i)
                                .with_committed_leader_epoch(3),
                            OffsetCommitRequestPartition::default()
                                .with_partition_index(1)
                                .with_committed_offset(1000 + i),
                        ])]),
            )
            .unwrap();
        assert!(
            r.topics[0].partitions.iter().all(|p| p.error_code == 0),
            "{r:?}"
        );
    }
    let dir = b.log_dir().join("__consumer_offsets-0");
    let key0 = r#"{"type":"1","data":{"group":"g","topic":"orders","partition":0}}"#;
    let key1 = r#"{"type":"1","data":{"group":"g","topic":"orders","partition":1}}"#;
    // Every record decodes with Kafka's schemas: key v1, value v3 with the leader epoch.
    let first = dump(&dir);
    let all: Vec<&(String, String)> = first.values().flatten().collect();
    assert!(all.iter().all(|(k, _)| k == key0 || k == key1), "{all:?}");
    assert!(all.iter().any(|(k, p)| k == key0
        && p.starts_with(r#"{"version":"3","data":{"offset":"#)
        && p.contains(r#""leaderEpoch":3,"metadata":"","commitTimestamp":"#)));
    assert!(all
        .iter()
        .any(|(k, p)| k == key1 && p.contains(r#""leaderEpoch":-1"#)));

    // Compaction: wait until the cleaned segments hold one record per key.
    let deadline = Instant::now() + TIMEOUT;
    let compacted = loop {
        let segments = dump(&dir);
        let active = segments.keys().max().copied().unwrap_or(0);
        let cleaned: Vec<&(String, String)> = segments
            .iter()
            .filter(|(base, _)| **base != active)
            .flat_map(|(_, r)| r)
            .collect();
        let total: usize = segments.values().map(Vec::len).sum();
        let per_key = |k: &str| cleaned.iter().filter(|(key, _)| key == k).count();
        if total < 2 * COMMITS as usize && per_key(key0) <= 1 && per_key(key1) <= 1 {
            break segments;
        }
        assert!(
            Instant::now() < deadline,
            "not compacted: {} records in {} segments: {segments:?}\n{}",
            total,
            segments.len(),
            b.logs()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    // What is left per key is increasing and ends with the last commit.
    for (key, last) in [(key0, COMMITS), (key1, 1000 + COMMITS)] {
        let offsets: Vec<i64> = compacted
            .values()
            .flatten()
            .filter(|(k, _)| k == key)
            .map(|(_, p)| {
                let v: serde_json::Value = serde_json::from_str(p).unwrap();
                v["data"]["offset"].as_i64().unwrap()
            })
            .collect();
        assert!(offsets.windows(2).all(|w| w[0] < w[1]), "{offsets:?}");
        assert_eq!(offsets.last(), Some(&last), "{offsets:?}");
        assert!(offsets.len() < COMMITS as usize / 2, "{offsets:?}");
    }
    b.stop();
}
