//! The `rdkafka` crate (librdkafka, in-process) against a real broker on a real ZooKeeper:
//! the edges of Produce, Fetch and ListOffsets that the script-driven client tests do not reach.
//!
//! * ListOffsets: earliest / latest / by timestamp (before, between, at, after the records),
//!   on a partition with records and on an empty one.
//! * Fetch from an offset past the log end: `auto.offset.reset` earliest, latest and error.
//! * Message size: a batch of exactly `max.message.bytes` (broker default 1048588, which is
//!   also larger than the consumer's 1 MiB `max.partition.fetch.bytes`: the broker must return
//!   it anyway) is accepted and read back; one byte more is refused with MESSAGE_TOO_LARGE;
//!   the same with a topic-level `max.message.bytes` override.

use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};

use rafka_tests::{get_znode_json, zk_client, ClientBroker};

const TIMEOUT: Duration = Duration::from_secs(30);

/// Kafka's default `max.message.bytes` / `message.max.bytes`.
const DEFAULT_MAX_MESSAGE_BYTES: usize = 1_048_588;
/// A v2 batch holding one record without key and headers whose value is V bytes
/// (1 MiB > V >= 8 KiB, so both length varints take 3 bytes) is V + 72 bytes: 61 bytes of
/// batch header, 3 for the record length, 8 for attributes, timestamp and offset deltas, key
/// length, value length (3) and header count.
const ONE_RECORD_BATCH_OVERHEAD: usize = 72;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn create_topic(c: &ClientBroker, topic: &str, partitions: i32, configs: &[(&str, &str)]) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", c.bootstrap())
        .create()
        .expect("admin client");
    let mut new = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
    for (k, v) in configs {
        new = new.set(k, v);
    }
    let opts = AdminOptions::new().operation_timeout(Some(TIMEOUT));
    let results = runtime()
        .block_on(admin.create_topics([&new], &opts))
        .unwrap_or_else(|e| panic!("CreateTopics {topic}: {e}\n{}", c.logs()));
    for r in results {
        r.unwrap_or_else(|e| panic!("CreateTopics {topic}: {e:?}\n{}", c.logs()));
    }
    // Wait until the consumer's metadata shows every partition with a leader.
    let consumer = consumer(c, &[]);
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let md = consumer.fetch_metadata(Some(topic), Duration::from_secs(5));
        let ready = md.as_ref().is_ok_and(|md| {
            md.topics().iter().any(|t| {
                t.name() == topic
                    && t.error().is_none()
                    && t.partitions().len() == partitions as usize
                    && t.partitions().iter().all(|p| p.leader() >= 0)
            })
        });
        if ready {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{topic}: partitions never led ({md:?})\n{}",
            c.logs()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn producer(c: &ClientBroker, extra: &[(&str, &str)]) -> FutureProducer {
    let mut cfg = ClientConfig::new();
    cfg.set("bootstrap.servers", c.bootstrap())
        .set("acks", "all")
        .set("linger.ms", "0")
        .set("message.timeout.ms", "30000");
    for (k, v) in extra {
        cfg.set(*k, *v);
    }
    cfg.create().expect("producer")
}

/// A consumer that does not auto-create topics or commit; librdkafka needs a `group.id` for
/// `assign()`, but with explicit offsets and no commits the group is never used.
fn consumer(c: &ClientBroker, extra: &[(&str, &str)]) -> BaseConsumer {
    let mut cfg = ClientConfig::new();
    cfg.set("bootstrap.servers", c.bootstrap())
        .set("group.id", "rafka-rdkafka-test")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "true")
        .set("allow.auto.create.topics", "false");
    for (k, v) in extra {
        cfg.set(*k, *v);
    }
    cfg.create().expect("consumer")
}

/// Produces one record and waits for its delivery report: `(partition, offset)` or the error.
fn send(
    p: &FutureProducer,
    topic: &str,
    partition: i32,
    value: &[u8],
    timestamp: Option<i64>,
) -> Result<(i32, i64), KafkaError> {
    let mut rec = FutureRecord::<(), [u8]>::to(topic)
        .partition(partition)
        .payload(value);
    if let Some(ts) = timestamp {
        rec = rec.timestamp(ts);
    }
    runtime()
        .block_on(p.send(rec, TIMEOUT))
        .map(|d| (d.partition, d.offset))
        .map_err(|(e, _)| e)
}

/// What one poll gave: a record `(offset, payload)`, the end of the partition, or an error.
#[derive(Debug, PartialEq)]
enum Polled {
    Record(i64, Vec<u8>),
    Eof,
    Error(KafkaError),
}

fn polled(m: Option<Result<BorrowedMessage<'_>, KafkaError>>) -> Option<Polled> {
    match m? {
        Ok(m) => Some(Polled::Record(
            m.offset(),
            m.payload().unwrap_or_default().to_vec(),
        )),
        Err(KafkaError::PartitionEOF(_)) => Some(Polled::Eof),
        Err(e) => Some(Polled::Error(e)),
    }
}

/// Polls until `pred` accepts an event (returned) or `TIMEOUT` passes (panic with all seen).
fn poll_for(
    consumer: &BaseConsumer,
    c: &ClientBroker,
    what: &str,
    mut pred: impl FnMut(&Polled) -> bool,
) -> Polled {
    let deadline = Instant::now() + TIMEOUT;
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        if let Some(ev) = polled(consumer.poll(Duration::from_millis(200))) {
            if pred(&ev) {
                return ev;
            }
            seen.push(format!("{ev:?}").chars().take(120).collect::<String>());
        }
    }
    panic!(
        "no {what} within {TIMEOUT:?}; saw {:?}\n{}",
        &seen[seen.len().saturating_sub(20)..],
        c.logs()
    );
}

fn assign(consumer: &BaseConsumer, topic: &str, partition: i32, offset: Offset) {
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, partition, offset)
        .expect("partition offset");
    consumer.assign(&tpl).expect("assign");
}

/// `offsets_for_times` for one partition and one timestamp (-2 earliest, -1 latest).
fn offset_for_time(consumer: &BaseConsumer, topic: &str, partition: i32, ts: i64) -> Offset {
    let mut tpl = TopicPartitionList::new();
    // librdkafka takes the special timestamps as its logical offsets.
    let query = match ts {
        -2 => Offset::Beginning,
        -1 => Offset::End,
        ts => Offset::Offset(ts),
    };
    tpl.add_partition_offset(topic, partition, query)
        .expect("partition offset");
    let out = consumer
        .offsets_for_times(tpl, TIMEOUT)
        .unwrap_or_else(|e| panic!("offsets_for_times({topic}-{partition}, {ts}): {e}"));
    let elem = out
        .find_partition(topic, partition)
        .expect("partition in the answer");
    assert!(
        elem.error().is_ok(),
        "offsets_for_times({topic}-{partition}, {ts}): {:?}",
        elem.error()
    );
    elem.offset()
}

#[test]
fn rdkafka_list_offsets_earliest_latest_by_timestamp_and_empty_partition() {
    let c = ClientBroker::start(|b| b);
    let topic = "rdkafka-offsets";
    create_topic(&c, topic, 2, &[]);
    let p = producer(&c, &[]);
    // 20 records in partition 0 with timestamps base, base + 1 s, ...; partition 1 stays empty.
    let base = 1_700_000_000_000i64;
    for i in 0..20i64 {
        let r = send(
            &p,
            topic,
            0,
            format!("r{i}").as_bytes(),
            Some(base + i * 1000),
        );
        assert_eq!(r, Ok((0, i)), "record {i}\n{}", c.logs());
    }
    let consumer = consumer(&c, &[]);
    assert_eq!(
        consumer.fetch_watermarks(topic, 0, TIMEOUT).ok(),
        Some((0, 20)),
        "watermarks of partition 0\n{}",
        c.logs()
    );
    assert_eq!(
        consumer.fetch_watermarks(topic, 1, TIMEOUT).ok(),
        Some((0, 0)),
        "watermarks of the empty partition 1\n{}",
        c.logs()
    );
    let cases = [
        (-2, Offset::Offset(0)),             // earliest
        (-1, Offset::Offset(20)),            // latest
        (0, Offset::Offset(0)),              // before every record
        (base, Offset::Offset(0)),           // the first record's timestamp
        (base + 4500, Offset::Offset(5)),    // between records 4 and 5
        (base + 7000, Offset::Offset(7)),    // exactly record 7's
        (base + 19_000, Offset::Offset(19)), // the last record's
        (base + 19_001, Offset::End),        // after the last: none (-1)
    ];
    for (ts, want) in cases {
        assert_eq!(
            offset_for_time(&consumer, topic, 0, ts),
            want,
            "offsets_for_times(p0, {ts})\n{}",
            c.logs()
        );
    }
    // The empty partition: earliest = latest = 0, no offset for any timestamp.
    assert_eq!(offset_for_time(&consumer, topic, 1, -2), Offset::Offset(0));
    assert_eq!(offset_for_time(&consumer, topic, 1, -1), Offset::Offset(0));
    assert_eq!(offset_for_time(&consumer, topic, 1, base), Offset::End);

    // Fetching the empty partition from the beginning: end of partition, no record.
    assign(&consumer, topic, 1, Offset::Beginning);
    let ev = poll_for(&consumer, &c, "EOF on the empty partition", |e| {
        !matches!(e, Polled::Error(_))
    });
    assert_eq!(ev, Polled::Eof, "{}", c.logs());
}

#[test]
fn rdkafka_fetch_out_of_range_offset_resets_per_auto_offset_reset() {
    let c = ClientBroker::start(|b| b);
    let topic = "rdkafka-reset";
    create_topic(&c, topic, 1, &[]);
    let p = producer(&c, &[]);
    for i in 0..10i64 {
        assert_eq!(
            send(&p, topic, 0, format!("r{i}").as_bytes(), None),
            Ok((0, i))
        );
    }

    // earliest: an offset past the end (OFFSET_OUT_OF_RANGE) resets to 0.
    let earliest = consumer(&c, &[("auto.offset.reset", "earliest")]);
    assign(&earliest, topic, 0, Offset::Offset(1000));
    let ev = poll_for(&earliest, &c, "a record after reset to earliest", |e| {
        matches!(e, Polled::Record(..))
    });
    assert_eq!(ev, Polled::Record(0, b"r0".to_vec()));

    // latest: resets to the log end (10): EOF there, then only records produced afterwards.
    let latest = consumer(&c, &[("auto.offset.reset", "latest")]);
    assign(&latest, topic, 0, Offset::Offset(1000));
    poll_for(&latest, &c, "EOF after reset to latest", |e| {
        matches!(e, Polled::Eof)
    });
    assert_eq!(send(&p, topic, 0, b"r10", None), Ok((0, 10)));
    let ev = poll_for(&latest, &c, "the new record after reset to latest", |e| {
        matches!(e, Polled::Record(..))
    });
    assert_eq!(ev, Polled::Record(10, b"r10".to_vec()));

    // error: the out-of-range fetch surfaces as a consumer error, no record.
    let error = consumer(&c, &[("auto.offset.reset", "error")]);
    assign(&error, topic, 0, Offset::Offset(1000));
    let ev = poll_for(&error, &c, "an offset reset error", |e| {
        !matches!(e, Polled::Eof)
    });
    match ev {
        Polled::Error(KafkaError::MessageConsumption(code)) => assert!(
            matches!(
                code,
                RDKafkaErrorCode::AutoOffsetReset | RDKafkaErrorCode::OffsetOutOfRange
            ),
            "error code {code:?}"
        ),
        other => panic!("wanted an offset reset error, got {other:?}\n{}", c.logs()),
    }

    // The log end offset itself is in range: EOF, no error.
    let at_end = consumer(&c, &[("auto.offset.reset", "error")]);
    assign(&at_end, topic, 0, Offset::Offset(11));
    let ev = poll_for(&at_end, &c, "EOF at the log end offset", |_| true);
    assert_eq!(ev, Polled::Eof, "{}", c.logs());
}

/// Sends a value making a one-record batch of exactly `limit` bytes (accepted, read back), then
/// one a byte larger (MESSAGE_TOO_LARGE, log unchanged).
/// `/config/topics/<topic>` as JSON text, for failure messages.
fn topic_config_znode(c: &ClientBroker, topic: &str) -> String {
    runtime().block_on(async {
        let zk = zk_client(&c.zk.connect_string()).await;
        format!(
            "/config/topics/{topic} = {:?}",
            get_znode_json(&zk, &format!("/config/topics/{topic}")).await
        )
    })
}

fn max_message_bytes_edge(c: &ClientBroker, topic: &str, limit: usize) {
    // The client's own limit far above the broker's, so that the broker decides.
    let p = producer(
        c,
        &[
            ("message.max.bytes", "10000000"),
            ("compression.type", "none"),
        ],
    );
    let at_limit = vec![b'x'; limit - ONE_RECORD_BATCH_OVERHEAD];
    assert_eq!(
        send(&p, topic, 0, &at_limit, None),
        Ok((0, 0)),
        "a batch of exactly max.message.bytes ({limit})\n{}",
        c.logs()
    );
    let over = vec![b'y'; limit - ONE_RECORD_BATCH_OVERHEAD + 1];
    match send(&p, topic, 0, &over, None) {
        Err(KafkaError::MessageProduction(RDKafkaErrorCode::MessageSizeTooLarge)) => {}
        other => panic!(
            "a batch of max.message.bytes ({limit}) + 1: wanted MessageSizeTooLarge, got \
             {other:?}\n{}\n{}",
            topic_config_znode(c, topic),
            c.logs()
        ),
    }
    let consumer = consumer(c, &[]);
    assert_eq!(
        consumer.fetch_watermarks(topic, 0, TIMEOUT).ok(),
        Some((0, 1)),
        "the refused batch must not be appended\n{}",
        c.logs()
    );
    // Read the big record back with the consumer's default fetch sizes.
    assign(&consumer, topic, 0, Offset::Beginning);
    let ev = poll_for(&consumer, c, "the record of max.message.bytes", |e| {
        !matches!(e, Polled::Eof)
    });
    match ev {
        Polled::Record(0, v) => assert!(v == at_limit, "payload differs ({} bytes)", v.len()),
        other => panic!(
            "wanted record 0, got {:?}\n{}",
            format!("{other:?}").chars().take(200).collect::<String>(),
            c.logs()
        ),
    }
}

#[test]
fn rdkafka_message_of_exactly_max_message_bytes_and_one_byte_over() {
    let c = ClientBroker::start(|b| b);
    let topic = "rdkafka-large";
    create_topic(&c, topic, 1, &[]);
    max_message_bytes_edge(&c, topic, DEFAULT_MAX_MESSAGE_BYTES);
}

#[test]
fn rdkafka_topic_max_message_bytes_override_is_enforced() {
    let c = ClientBroker::start(|b| b);
    let topic = "rdkafka-large-override";
    create_topic(&c, topic, 1, &[("max.message.bytes", "20000")]);
    max_message_bytes_edge(&c, topic, 20_000);
}
