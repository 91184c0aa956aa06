//! Issue #6's must-show: three brokers on a real ZooKeeper, a 3-partition topic with
//! replication factor 3 and `min.insync.replicas=2`, and an idempotent acks=all
//! confluent-kafka producer writing continuously (`tests/clients/python/chaos_producer.py`).
//! Five times, the leader of partition 0 is killed with SIGKILL: a new leader must appear in
//! the partition's state znode within the session timeout plus 5 s, the producer must be
//! acknowledged again, and the killed broker is restarted and rejoins every ISR. At the end
//! a consumer (`chaos_consumer.py`) reads the whole topic back: every acknowledged record is
//! at its acknowledged offset, each partition's sequence numbers are in order, no value
//! appears twice. Every wait is bounded.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rafka_tests::zookeeper_client::Client;
use rafka_tests::{
    get_znode, get_znode_json, poll_until_async, python_script, tail, wait_for_znode_gone,
    zk_client, BrokerProcess, ClientOutput, EmbeddedZookeeper,
};
use serde_json::Value;

const TOPIC: &str = "chaos";
const PARTITIONS: i32 = 3;
const ROUNDS: usize = 5;
/// The brokers' `zookeeper.session.timeout.ms` (the harness default).
const SESSION_TIMEOUT: Duration = Duration::from_secs(6);
/// The must-show's bound on electing a new leader after a SIGKILL.
const ELECTION_BOUND: Duration = Duration::from_secs(6 + 5);
/// Generous waits (the machine may be busy): a failure here is reported, never hangs.
const TIMEOUT: Duration = Duration::from_secs(30);
/// The producer's own deadline (it normally stops on the stop file well before).
const PRODUCER_MAX_SECONDS: u64 = 200;

fn start_broker(zk: &EmbeddedZookeeper, id: i32) -> BrokerProcess {
    BrokerProcess::builder()
        .broker_id(id)
        .zookeeper(zk.connect_string())
        .start()
}

/// The state znode of partition `p`: (leader, leader epoch, ISR).
async fn state(client: &Client, p: i32) -> Option<(i32, i32, Vec<i32>)> {
    let path = format!("/brokers/topics/{TOPIC}/partitions/{p}/state");
    let (data, _) = get_znode(client, &path).await?;
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

/// True when every partition has a leader and all three replicas in its ISR.
async fn all_isrs_full(client: &Client) -> bool {
    for p in 0..PARTITIONS {
        match state(client, p).await {
            Some((leader, _, isr)) if leader >= 0 && isr.len() == 3 => {}
            _ => return false,
        }
    }
    true
}

/// One delivery report of the producer.
#[derive(Debug, Clone)]
struct Ack {
    partition: i32,
    offset: i64,
    seq: u64,
    /// Unix time of the report, seconds.
    at: f64,
}

/// The acknowledgements and the delivery errors written so far to the producer's file.
fn read_acks(path: &Path) -> (Vec<Ack>, Vec<String>) {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut acks = Vec::new();
    let mut errors = Vec::new();
    // The last line may be half-written: only complete lines count.
    let complete = text.rfind('\n').map_or("", |end| &text[..end]);
    for line in complete.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        match f.first() {
            Some(&"ack") if f.len() == 6 => acks.push(Ack {
                partition: f[1].parse().expect("partition"),
                offset: f[2].parse().expect("offset"),
                seq: f[3].parse().expect("seq"),
                at: f[5].parse().expect("time"),
            }),
            _ => errors.push(line.to_string()),
        }
    }
    (acks, errors)
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs_f64()
}

/// The producer script running in a thread.
struct BackgroundProducer {
    handle: Option<std::thread::JoinHandle<ClientOutput>>,
}

impl BackgroundProducer {
    /// Panics (with the script's output) if the script already ended.
    fn assert_running(&mut self, context: &str) {
        if self.handle.as_ref().is_some_and(|h| h.is_finished()) {
            let out = self.join();
            panic!("the producer ended early ({context}): {}", out.describe());
        }
    }

    fn join(&mut self) -> ClientOutput {
        self.handle
            .take()
            .expect("joined once")
            .join()
            .expect("producer thread")
    }
}

/// Logs of all brokers (tails), for failure messages.
fn all_logs(brokers: &[BrokerProcess]) -> String {
    brokers
        .iter()
        .map(|b| format!("--- broker {} ---\n{}", b.broker_id(), tail(&b.logs(), 60)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Figures of one kill.
#[derive(Debug)]
struct Round {
    victim: i32,
    /// Whether the victim was the controller too.
    was_controller: bool,
    new_leader: i32,
    /// SIGKILL → the state znode names a new leader.
    election: Duration,
    /// SIGKILL → the first acknowledgement of a partition-0 record after it.
    first_ack: Duration,
    /// Restart → the victim is back in every ISR.
    rejoin: Duration,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_partition_leaders_loses_no_acknowledged_record() {
    let test_start = Instant::now();
    let zk = EmbeddedZookeeper::start();
    let mut brokers: Vec<BrokerProcess> = (1..=3).map(|id| start_broker(&zk, id)).collect();
    let client = zk_client(&zk.connect_string()).await;
    for b in brokers.iter_mut() {
        b.wait_registered(&client, TIMEOUT).await;
    }
    let bootstrap = brokers
        .iter()
        .map(BrokerProcess::bootstrap_servers)
        .collect::<Vec<_>>()
        .join(",");

    let work = tempfile::tempdir().expect("temp dir");
    let acks_path = work.path().join("acks");
    let stop_path = work.path().join("stop");
    let script = python_script("chaos_producer.py")
        .args([
            bootstrap.clone(),
            TOPIC.to_string(),
            PARTITIONS.to_string(),
            acks_path.display().to_string(),
            stop_path.display().to_string(),
            PRODUCER_MAX_SECONDS.to_string(),
        ])
        .timeout(Duration::from_secs(PRODUCER_MAX_SECONDS + 60));
    let mut producer = BackgroundProducer {
        handle: Some(std::thread::spawn(move || script.run())),
    };

    // The producer created the topic and every partition is being acknowledged.
    let started = poll_until_async(TIMEOUT * 2, Duration::from_millis(200), || async {
        let (acks, _) = read_acks(&acks_path);
        let seen: HashSet<i32> = acks.iter().map(|a| a.partition).collect();
        (seen.len() == PARTITIONS as usize && all_isrs_full(&client).await).then_some(())
    })
    .await;
    producer.assert_running("before the first kill");
    assert!(
        started.is_some(),
        "the producer never got acknowledgements on every partition with full ISRs: {:?}\n{}",
        read_acks(&acks_path).1,
        all_logs(&brokers)
    );

    let mut rounds = Vec::new();
    for round in 1..=ROUNDS {
        let (leader, epoch, _) = state(&client, 0).await.expect("state of partition 0");
        assert!((1..=3).contains(&leader), "round {round}: leader {leader}");
        let controller = get_znode_json(&client, "/controller")
            .await
            .and_then(|v| v["brokerid"].as_i64());
        let victim = &mut brokers[(leader - 1) as usize];
        let killed_at_unix = unix_now();
        let killed_at = Instant::now();
        victim.signal_kill();
        assert!(
            victim.wait_exit(Duration::from_secs(10)).is_some(),
            "broker {leader} survived SIGKILL"
        );

        let elected = poll_until_async(
            SESSION_TIMEOUT + TIMEOUT,
            Duration::from_millis(50),
            || async {
                // The automatic leader rebalance may move leadership before the controller
                // sees the death; the failure handling is done once the dead broker has also
                // left the ISR.
                state(&client, 0).await.filter(|(l, e, isr)| {
                    *l >= 0 && *l != leader && *e > epoch && !isr.contains(&leader)
                })
            },
        )
        .await;
        let election = killed_at.elapsed();
        let Some((new_leader, _, isr)) = elected else {
            panic!(
                "round {round}: no new leader for partition 0 after killing broker {leader} \
                 (state {:?})\n{}",
                state(&client, 0).await,
                all_logs(&brokers)
            )
        };
        assert!(
            !isr.contains(&leader),
            "round {round}: the dead broker {leader} is still in the ISR {isr:?}"
        );

        // The producer is acknowledged again on partition 0 (by the new leader).
        let acked_again = poll_until_async(TIMEOUT, Duration::from_millis(50), || async {
            let (acks, _) = read_acks(&acks_path);
            acks.iter()
                .find(|a| a.partition == 0 && a.at > killed_at_unix)
                .map(|a| a.at)
        })
        .await;
        producer.assert_running(&format!("round {round}, after the election"));
        let first_ack_at = acked_again.unwrap_or_else(|| {
            panic!(
                "round {round}: no partition-0 record acknowledged within {TIMEOUT:?} of the \
                 election of broker {new_leader}: {:?}\n{}",
                read_acks(&acks_path).1,
                all_logs(&brokers)
            )
        });
        let first_ack = Duration::from_secs_f64((first_ack_at - killed_at_unix).max(0.0));

        // The old registration is gone (the election needed that); restart the victim and
        // wait until it is back in every ISR.
        wait_for_znode_gone(&client, &format!("/brokers/ids/{leader}"), TIMEOUT).await;
        let victim = &mut brokers[(leader - 1) as usize];
        let restarted_at = Instant::now();
        victim.restart();
        victim.wait_registered(&client, TIMEOUT).await;
        let rejoined = poll_until_async(TIMEOUT, Duration::from_millis(100), || async {
            all_isrs_full(&client).await.then_some(())
        })
        .await;
        let rejoin = restarted_at.elapsed();
        if rejoined.is_none() {
            let mut states = Vec::new();
            for p in 0..PARTITIONS {
                states.push(state(&client, p).await);
            }
            panic!(
                "round {round}: restarted broker {leader} not back in every ISR within \
                 {TIMEOUT:?}: {states:?}\n{}",
                all_logs(&brokers)
            );
        }
        producer.assert_running(&format!("round {round}, after the restart"));
        let r = Round {
            victim: leader,
            was_controller: controller == Some(leader as i64),
            new_leader,
            election,
            first_ack,
            rejoin,
        };
        println!("round {round}: {r:?}");
        rounds.push(r);
    }

    // Stop the producer; it flushes and checks its own delivery reports.
    std::fs::write(&stop_path, b"stop").expect("write the stop file");
    let out = producer.join();
    println!("{}", out.describe());
    let finished = out.stdout_str().lines().last().map(str::trim) == Some("OK");
    assert!(
        out.success() && finished,
        "the producer failed: {}\n{}",
        out.describe(),
        all_logs(&brokers)
    );
    let (acks, errors) = read_acks(&acks_path);
    assert!(errors.is_empty(), "delivery errors: {errors:?}");

    // Read everything back.
    let consumed_path = work.path().join("consumed");
    python_script("chaos_consumer.py")
        .args([
            bootstrap.clone(),
            TOPIC.to_string(),
            PARTITIONS.to_string(),
            consumed_path.display().to_string(),
        ])
        .run_ok(|| all_logs(&brokers));
    let consumed_text = std::fs::read_to_string(&consumed_path).expect("consumer output");
    let mut log: BTreeMap<(i32, i64), String> = BTreeMap::new();
    for line in consumed_text.lines() {
        let mut f = line.splitn(3, ' ');
        let p: i32 = f.next().and_then(|v| v.parse().ok()).expect("partition");
        let off: i64 = f.next().and_then(|v| v.parse().ok()).expect("offset");
        let value = f.next().expect("value").to_string();
        assert!(
            log.insert((p, off), value).is_none(),
            "offset {off} of partition {p} consumed twice"
        );
    }

    // Every acknowledged record is at its acknowledged offset.
    for a in &acks {
        let want = format!("p{}-{:08}", a.partition, a.seq);
        let got = log.get(&(a.partition, a.offset));
        assert_eq!(
            got,
            Some(&want),
            "acknowledged record {want} at partition {} offset {}",
            a.partition,
            a.offset
        );
    }
    // Per partition: offsets 0.. without gaps, values of that partition, sequence numbers
    // strictly increasing (in order, no duplicates); and no value anywhere twice.
    let mut values = HashSet::new();
    for p in 0..PARTITIONS {
        let records: Vec<(i64, &String)> = log
            .range((p, 0)..(p + 1, 0))
            .map(|((_, off), v)| (*off, v))
            .collect();
        let offsets: Vec<i64> = records.iter().map(|(o, _)| *o).collect();
        assert_eq!(
            offsets,
            (0..records.len() as i64).collect::<Vec<_>>(),
            "partition {p}: offsets with gaps"
        );
        let mut last_seq: Option<u64> = None;
        for (off, v) in &records {
            assert!(values.insert(v.as_str()), "value {v} appears twice");
            let seq: u64 = v
                .strip_prefix(&format!("p{p}-"))
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| panic!("partition {p} offset {off}: unexpected value {v}"));
            if let Some(last) = last_seq {
                assert!(
                    seq > last,
                    "partition {p} offset {off}: sequence {seq} after {last}"
                );
            }
            last_seq = Some(seq);
        }
        let acked = acks.iter().filter(|a| a.partition == p).count();
        assert!(acked > 0, "partition {p}: nothing acknowledged");
        println!(
            "partition {p}: {} records in the log, {acked} acknowledged",
            records.len()
        );
    }
    for b in &brokers {
        assert!(
            !b.logs().contains("panicked at"),
            "broker {} panicked\n{}",
            b.broker_id(),
            b.logs()
        );
    }

    println!(
        "failover figures (SIGKILL of partition 0's leader; session timeout {SESSION_TIMEOUT:?}):"
    );
    println!(
        "round | victim | victim was controller | new leader | kill→new leader | kill→first ack \
         | restart→ISR full"
    );
    for (i, r) in rounds.iter().enumerate() {
        println!(
            "{} | {} | {} | {} | {:.2} s | {:.2} s | {:.2} s",
            i + 1,
            r.victim,
            if r.was_controller { "yes" } else { "no" },
            r.new_leader,
            r.election.as_secs_f64(),
            r.first_ack.as_secs_f64(),
            r.rejoin.as_secs_f64()
        );
    }
    println!(
        "total test time {:.1} s",
        test_start.elapsed().as_secs_f64()
    );
    for (i, r) in rounds.iter().enumerate() {
        assert!(
            r.election <= ELECTION_BOUND,
            "round {}: new leader after {:?}, more than the session timeout + 5 s",
            i + 1,
            r.election
        );
    }
}
