//! `rafka perf produce|consume`: client-side throughput and latency against a running broker,
//! like Kafka's `kafka-producer-perf-test.sh` and `kafka-consumer-perf-test.sh`, driven by
//! librdkafka (the `rdkafka` crate). See `docs/performance.md`.
//!
//! * **produce** sends `--num-records` records of `--record-size` bytes (one random payload of
//!   `A`–`Z`, no key, as Kafka's tool does) to `--topic`, at most `--throughput` records/s
//!   (-1: as fast as the client goes). Latency is the time from handing a record to the client
//!   (`send`) to its delivery report (acknowledged by the broker per `acks`, or failed). It
//!   prints a line per `--reporting-interval` and a summary with records/s, MB/s, average and
//!   maximum latency and the 50th/95th/99th/99.9th percentiles of every record's latency.
//! * **consume** assigns every partition of `--topic` from the beginning (no group membership)
//!   and reads until `--messages` records arrived or nothing came for `--timeout` ms; it prints
//!   records, MB, MB/s, records/s and the elapsed time from assignment to the last record.
//! * `--mock` (or `--bootstrap-server mock`) runs the same client against librdkafka's
//!   in-process mock cluster instead: the ceiling of the client and loopback on this machine,
//!   to compare with the broker in the same run. `consume --mock` first fills the mock topic
//!   (untimed).
//!
//! `--broker-pid PID` adds the CPU time that process used during the timed part to the summary.
//! MB means 2^20 bytes, as in Kafka's perf tools.

use std::ffi::OsString;
use std::io::{self, Write};
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use clap::{Args, Parser, Subcommand};
use rdkafka::client::ClientContext;
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::message::{DeliveryResult, Message};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{
    BaseProducer, BaseRecord, DefaultProducerContext, Producer, ProducerContext,
};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};

/// The MB of the reports: 2^20 bytes, like Kafka's perf tools.
const MB: f64 = 1024.0 * 1024.0;
/// Bound on waiting for the last delivery reports after the last send.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(300);
/// Bound on one metadata request.
const METADATA_TIMEOUT: Duration = Duration::from_secs(30);

/// Client-side throughput and latency against a broker (like kafka-producer-perf-test and
/// kafka-consumer-perf-test), or against librdkafka's in-process mock cluster with --mock.
#[derive(Parser, Debug)]
#[command(name = "rafka perf")]
pub struct PerfArgs {
    #[command(subcommand)]
    pub command: PerfCommand,
}

#[derive(Subcommand, Debug)]
pub enum PerfCommand {
    /// Send records and report throughput and delivery latency.
    Produce(ProduceArgs),
    /// Read a topic from the beginning and report throughput.
    Consume(ConsumeArgs),
}

/// Where the client connects.
#[derive(Args, Debug, Clone)]
pub struct TargetArgs {
    /// The broker(s) to connect to, host:port[,host:port...]; `mock` = --mock.
    #[arg(long = "bootstrap-server", value_name = "HOST:PORT")]
    pub bootstrap_server: Option<String>,

    /// Use librdkafka's in-process mock cluster (one broker) instead of a real broker.
    #[arg(long)]
    pub mock: bool,

    /// Partitions of the topic created in the mock cluster.
    #[arg(long = "mock-partitions", value_name = "N", default_value_t = 1)]
    pub mock_partitions: i32,

    /// Also report the CPU time this process (the broker) used during the timed part.
    #[arg(long = "broker-pid", value_name = "PID")]
    pub broker_pid: Option<u32>,

    /// Milliseconds between progress lines.
    #[arg(long = "reporting-interval", value_name = "MS", default_value_t = 5000)]
    pub reporting_interval_ms: u64,
}

impl TargetArgs {
    fn is_mock(&self) -> bool {
        self.mock || self.bootstrap_server.as_deref() == Some("mock")
    }
}

#[derive(Args, Debug, Clone)]
pub struct ProduceArgs {
    /// Topic to produce to.
    #[arg(long)]
    pub topic: String,

    /// Number of records to send.
    #[arg(long = "num-records", value_name = "N")]
    pub num_records: u64,

    /// Value size of each record in bytes (no key).
    #[arg(long = "record-size", value_name = "BYTES")]
    pub record_size: usize,

    /// Maximum records per second; -1 for no limit.
    #[arg(long, value_name = "RECORDS/S", default_value_t = -1.0, allow_negative_numbers = true)]
    pub throughput: f64,

    /// Producer configuration (librdkafka names, which include Kafka's acks, linger.ms,
    /// batch.size, compression.type, enable.idempotence, ...): KEY=VALUE ...
    #[arg(long = "producer-props", value_name = "KEY=VALUE", num_args = 1..)]
    pub producer_props: Vec<String>,

    #[command(flatten)]
    pub target: TargetArgs,
}

#[derive(Args, Debug, Clone)]
pub struct ConsumeArgs {
    /// Topic to consume (every partition, from the beginning).
    #[arg(long)]
    pub topic: String,

    /// Number of records to consume.
    #[arg(long = "messages", alias = "num-records", value_name = "N")]
    pub messages: u64,

    /// Stop when no record arrived for this many milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 10_000)]
    pub timeout: u64,

    /// Consumer configuration (librdkafka names, e.g. fetch.max.bytes, fetch.wait.max.ms):
    /// KEY=VALUE ...
    #[arg(long = "consumer-props", value_name = "KEY=VALUE", num_args = 1..)]
    pub consumer_props: Vec<String>,

    /// With --mock: the value size of the records written to the mock topic first.
    #[arg(long = "record-size", value_name = "BYTES", default_value_t = 100)]
    pub record_size: usize,

    #[command(flatten)]
    pub target: TargetArgs,
}

/// `rafka perf ARGS...`.
pub fn main(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let argv = std::iter::once(OsString::from("rafka perf")).chain(args);
    let args = match PerfArgs::try_parse_from(argv) {
        Ok(a) => a,
        Err(e) => e.exit(),
    };
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let result = match &args.command {
        PerfCommand::Produce(a) => run_produce(a, &mut out),
        PerfCommand::Consume(a) => run_consume(a, &mut out),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = out.flush();
            eprintln!("rafka perf: {e:#}");
            ExitCode::from(1)
        }
    }
}

// ----------------------------------------------------------------------------- pure helpers

/// Parses `KEY=VALUE` strings (the value may contain `=`).
pub fn parse_props(props: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    props
        .iter()
        .map(|p| match p.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
            _ => Err(anyhow!("invalid property {p:?}: expected KEY=VALUE")),
        })
        .collect()
}

/// The nearest-rank percentile `p` (0..=1) of `sorted` (ascending): the smallest sample such
/// that at least a fraction `p` of the samples are less than or equal to it. `None` if empty.
pub fn percentile(sorted: &[u32], p: f64) -> Option<u32> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p.clamp(0.0, 1.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.saturating_sub(1).min(sorted.len() - 1)])
}

/// How long to wait before the next send so that `sent` records in `elapsed` stay at or under
/// `throughput` records/s (like Kafka's ThroughputThrottler); `None` if no wait is needed or
/// there is no limit (`throughput <= 0`).
pub fn throttle_wait(sent: u64, elapsed: Duration, throughput: f64) -> Option<Duration> {
    if throughput <= 0.0 {
        return None;
    }
    let due = Duration::from_secs_f64(sent as f64 / throughput);
    due.checked_sub(elapsed).filter(|d| !d.is_zero())
}

/// Latencies and counts of delivery reports: the whole run and the current reporting window.
#[derive(Debug, Default)]
pub struct Recorder {
    /// Every successful record's latency in microseconds.
    latencies_us: Vec<u32>,
    latency_sum_us: u64,
    latency_max_us: u32,
    bytes: u64,
    errors: u64,
    first_error: Option<String>,
    window: Window,
}

/// One reporting window.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Window {
    pub records: u64,
    pub bytes: u64,
    pub latency_sum_us: u64,
    pub latency_max_us: u32,
}

/// The final figures of a produce run.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub records: u64,
    pub bytes: u64,
    pub errors: u64,
    pub avg_ms: f64,
    pub max_ms: f64,
    /// 50th, 95th, 99th, 99.9th percentile in ms.
    pub percentiles_ms: [f64; 4],
}

impl Recorder {
    pub fn with_capacity(n: usize) -> Recorder {
        Recorder {
            latencies_us: Vec::with_capacity(n),
            ..Recorder::default()
        }
    }

    /// A delivered record.
    pub fn record(&mut self, latency_us: u64, bytes: u64) {
        let lat = u32::try_from(latency_us).unwrap_or(u32::MAX);
        self.latencies_us.push(lat);
        self.latency_sum_us += u64::from(lat);
        self.latency_max_us = self.latency_max_us.max(lat);
        self.bytes += bytes;
        self.window.records += 1;
        self.window.bytes += bytes;
        self.window.latency_sum_us += u64::from(lat);
        self.window.latency_max_us = self.window.latency_max_us.max(lat);
    }

    /// A failed record.
    pub fn error(&mut self, error: String) {
        self.errors += 1;
        self.first_error.get_or_insert(error);
    }

    /// The current window, and starts a new one.
    pub fn take_window(&mut self) -> Window {
        std::mem::take(&mut self.window)
    }

    /// Sorts the latencies and computes the summary.
    pub fn summary(&mut self) -> Summary {
        self.latencies_us.sort_unstable();
        let n = self.latencies_us.len();
        let ms = |us: u32| f64::from(us) / 1000.0;
        let pct = |p| percentile(&self.latencies_us, p).map_or(0.0, ms);
        Summary {
            records: n as u64,
            bytes: self.bytes,
            errors: self.errors,
            avg_ms: if n == 0 {
                0.0
            } else {
                self.latency_sum_us as f64 / n as f64 / 1000.0
            },
            max_ms: ms(self.latency_max_us),
            percentiles_ms: [pct(0.5), pct(0.95), pct(0.99), pct(0.999)],
        }
    }
}

/// Kafka's progress line for one window.
pub fn window_line(w: &Window, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64().max(1e-9);
    let avg_ms = if w.records == 0 {
        0.0
    } else {
        w.latency_sum_us as f64 / w.records as f64 / 1000.0
    };
    format!(
        "{} records sent, {:.1} records/sec ({:.2} MB/sec), {:.2} ms avg latency, {:.2} ms max latency.",
        w.records,
        w.records as f64 / secs,
        w.bytes as f64 / MB / secs,
        avg_ms,
        f64::from(w.latency_max_us) / 1000.0
    )
}

/// Kafka's summary line (percentiles with two decimals: loopback latencies are below 1 ms).
pub fn summary_line(s: &Summary, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64().max(1e-9);
    let [p50, p95, p99, p999] = s.percentiles_ms;
    format!(
        "{} records sent, {:.1} records/sec ({:.2} MB/sec), {:.2} ms avg latency, {:.2} ms max latency, \
         {p50:.2} ms 50th, {p95:.2} ms 95th, {p99:.2} ms 99th, {p999:.2} ms 99.9th.",
        s.records,
        s.records as f64 / secs,
        s.bytes as f64 / MB / secs,
        s.avg_ms,
        s.max_ms,
    )
}

/// A payload of `size` random `A`–`Z` bytes (like kafka-producer-perf-test's).
pub fn random_payload(size: usize) -> Vec<u8> {
    // xorshift64*: no dependency, good enough for filler bytes.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
    (0..size)
        .map(|_| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            b'A' + (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 59) as u8 % 26
        })
        .collect()
}

// ----------------------------------------------------------------------------- CPU time

/// User + system CPU seconds used so far by process `pid` (from `/proc/PID/stat`).
fn process_cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which is in parentheses and may contain spaces):
    // state is field 3, utime field 14, stime field 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    let ticks = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .filter(|t| *t > 0)
        .unwrap_or(100) as f64;
    Some((utime + stime) / ticks)
}

/// CPU seconds of this process and of the broker since a starting point.
struct CpuMeter {
    own_start: Option<f64>,
    broker: Option<(u32, Option<f64>)>,
}

impl CpuMeter {
    fn start(broker_pid: Option<u32>) -> CpuMeter {
        CpuMeter {
            own_start: process_cpu_seconds(std::process::id()),
            broker: broker_pid.map(|pid| (pid, process_cpu_seconds(pid))),
        }
    }

    /// "CPU: client 1.23 s (45% of one core), broker 2.34 s (...)" for `elapsed`.
    fn line(&self, elapsed: Duration) -> String {
        let secs = elapsed.as_secs_f64().max(1e-9);
        let fmt = |used: Option<f64>| match used {
            Some(s) => format!("{s:.2} s ({:.0}% of one core)", 100.0 * s / secs),
            None => "n/a".to_string(),
        };
        let own = self
            .own_start
            .zip(process_cpu_seconds(std::process::id()))
            .map(|(a, b)| b - a);
        let mut line = format!("CPU: client {}", fmt(own));
        if let Some((pid, start)) = self.broker {
            let used = start.zip(process_cpu_seconds(pid)).map(|(a, b)| b - a);
            line.push_str(&format!(", broker (pid {pid}) {}", fmt(used)));
        }
        line
    }
}

// ----------------------------------------------------------------------------- target

/// The cluster the client talks to: a real one, or a mock cluster living as long as this.
enum Target {
    Real(String),
    Mock(MockCluster<'static, DefaultProducerContext>),
}

impl Target {
    /// Opens the target; a mock cluster gets `topic` with `mock_partitions` partitions.
    fn open(args: &TargetArgs, topic: &str, mock_partitions: i32) -> anyhow::Result<Target> {
        if args.is_mock() {
            let mock = MockCluster::new(1).context("creating the librdkafka mock cluster")?;
            mock.create_topic(topic, mock_partitions, 1)
                .with_context(|| format!("creating topic {topic} in the mock cluster"))?;
            return Ok(Target::Mock(mock));
        }
        match &args.bootstrap_server {
            Some(b) => Ok(Target::Real(b.clone())),
            None => bail!("--bootstrap-server HOST:PORT (or --mock) is required"),
        }
    }

    fn bootstrap(&self) -> String {
        match self {
            Target::Real(b) => b.clone(),
            Target::Mock(m) => m.bootstrap_servers(),
        }
    }

    fn describe(&self) -> String {
        match self {
            Target::Real(b) => format!("broker {b}"),
            Target::Mock(m) => format!("librdkafka mock cluster {}", m.bootstrap_servers()),
        }
    }
}

/// Client errors and warnings go to stderr (librdkafka retries by itself; this shows why a
/// run stalls).
fn report_client_log(level: RDKafkaLogLevel, fac: &str, message: &str) {
    use RDKafkaLogLevel::{Alert, Critical, Emerg, Error, Warning};
    if matches!(level, Emerg | Alert | Critical | Error | Warning) {
        eprintln!("librdkafka {level:?} {fac}: {message}");
    }
}

// ----------------------------------------------------------------------------- produce

/// Delivery reports: the opaque of each record is its send time in µs since `start`.
struct ProduceContext {
    start: Instant,
    record_size: u64,
    recorder: Mutex<Recorder>,
}

impl ClientContext for ProduceContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        report_client_log(level, fac, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        eprintln!("librdkafka error: {error}: {reason}");
    }
}

impl ProducerContext for ProduceContext {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, sent_at_us: usize) {
        let now_us = self.start.elapsed().as_micros() as u64;
        let mut rec = self.recorder.lock().unwrap_or_else(|p| p.into_inner());
        match result {
            Ok(_) => rec.record(now_us.saturating_sub(sent_at_us as u64), self.record_size),
            Err((e, _)) => rec.error(e.to_string()),
        }
    }
}

fn run_produce(args: &ProduceArgs, out: &mut impl Write) -> anyhow::Result<()> {
    if args.num_records == 0 {
        bail!("--num-records must be at least 1");
    }
    let props = parse_props(&args.producer_props)?;
    let target = Target::open(&args.target, &args.topic, args.target.mock_partitions)?;
    let mut cfg = ClientConfig::new();
    cfg.set("bootstrap.servers", target.bootstrap());
    for (k, v) in &props {
        cfg.set(k, v);
    }
    if args.target.is_mock() || args.target.bootstrap_server.is_some() {
        // --bootstrap-server wins over bootstrap.servers in --producer-props, as in Kafka.
        cfg.set("bootstrap.servers", target.bootstrap());
    }
    let start = Instant::now();
    let context = ProduceContext {
        start,
        record_size: args.record_size as u64,
        recorder: Mutex::new(Recorder::with_capacity(
            usize::try_from(args.num_records)
                .unwrap_or(0)
                .min(100_000_000),
        )),
    };
    let producer: BaseProducer<ProduceContext> = cfg
        .create_with_context(context)
        .context("creating the producer (check --producer-props)")?;
    // Metadata first: connection problems show here, not as a stalled send loop.
    producer
        .client()
        .fetch_metadata(Some(&args.topic), METADATA_TIMEOUT)
        .with_context(|| format!("metadata for {} from {}", args.topic, target.describe()))?;
    let payload = random_payload(args.record_size);
    writeln!(
        out,
        "producing {} records of {} bytes to {} on {} (throughput {}){}",
        args.num_records,
        args.record_size,
        args.topic,
        target.describe(),
        if args.throughput > 0.0 {
            format!("{} records/s", args.throughput)
        } else {
            "unlimited".to_string()
        },
        if props.is_empty() {
            String::new()
        } else {
            format!(
                ", props: {}",
                props
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            )
        }
    )?;

    let interval = Duration::from_millis(args.target.reporting_interval_ms.max(1));
    let cpu = CpuMeter::start(args.target.broker_pid);
    let send_start = Instant::now();
    let mut last_report = send_start;
    let report = |out: &mut dyn Write, last: &mut Instant| -> io::Result<()> {
        let w = producer
            .context()
            .recorder
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take_window();
        let now = Instant::now();
        writeln!(out, "{}", window_line(&w, now - *last))?;
        *last = now;
        Ok(())
    };
    for i in 0..args.num_records {
        if let Some(wait) = throttle_wait(i, send_start.elapsed(), args.throughput) {
            // Sleep in the client's poll (serving delivery reports) once ahead by 1 ms or more.
            if wait >= Duration::from_millis(1) {
                producer.poll(wait);
            }
        }
        let mut record = BaseRecord::<(), [u8], usize>::with_opaque_to(
            &args.topic,
            start.elapsed().as_micros() as usize,
        )
        .payload(&payload);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                    // The client's queue is full: serve delivery reports, then retry.
                    record = r;
                    producer.poll(Duration::from_millis(5));
                }
                Err((e, _)) => {
                    bail!("send failed after {i} records: {e}");
                }
            }
        }
        producer.poll(Duration::ZERO);
        if last_report.elapsed() >= interval {
            report(out, &mut last_report)?;
        }
    }
    // Wait for the remaining delivery reports.
    let deadline = Instant::now() + FLUSH_TIMEOUT;
    while producer.in_flight_count() > 0 && Instant::now() < deadline {
        producer.poll(Duration::from_millis(50));
        if last_report.elapsed() >= interval {
            report(out, &mut last_report)?;
        }
    }
    let elapsed = send_start.elapsed();
    let in_flight = producer.in_flight_count();
    let cpu_line = cpu.line(elapsed);
    let mut rec = producer
        .context()
        .recorder
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    let summary = rec.summary();
    writeln!(out, "{}", summary_line(&summary, elapsed))?;
    writeln!(out, "{cpu_line}")?;
    if summary.errors > 0 {
        writeln!(
            out,
            "{} records failed; first error: {}",
            summary.errors,
            rec.first_error.as_deref().unwrap_or("?")
        )?;
    }
    if in_flight > 0 {
        bail!("{in_flight} records still undelivered after {FLUSH_TIMEOUT:?}");
    }
    if summary.errors > 0 {
        bail!("{} of {} records failed", summary.errors, args.num_records);
    }
    Ok(())
}

// ----------------------------------------------------------------------------- consume

struct ConsumeContext;

impl ClientContext for ConsumeContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        report_client_log(level, fac, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        eprintln!("librdkafka error: {error}: {reason}");
    }
}

impl ConsumerContext for ConsumeContext {}

/// librdkafka's mock cluster drops a partition's oldest batches beyond 5 MiB (or 100000
/// batches), so `consume --mock` spreads the records it writes first over enough partitions.
const MOCK_PARTITION_BYTES: u64 = 5 << 20;

/// Partitions for `consume --mock`: at least `--mock-partitions`, and enough that each holds
/// at most half of [`MOCK_PARTITION_BYTES`] (each record counted with 70 bytes of overhead).
pub fn mock_consume_partitions(args: &ConsumeArgs) -> i32 {
    let total = args.messages.saturating_mul(args.record_size as u64 + 70);
    let needed = total.div_ceil(MOCK_PARTITION_BYTES / 2).max(1);
    i32::try_from(needed)
        .unwrap_or(i32::MAX)
        .max(args.target.mock_partitions)
}

/// Writes `count` records of `size` bytes into the mock topic (untimed), acks=1.
/// Records go to the partitions in turn, so that each stays under the mock's size limit.
fn fill_mock_topic(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    count: u64,
    size: usize,
) -> anyhow::Result<()> {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("acks", "1")
        .set("linger.ms", "5")
        .create()
        .context("creating the producer that fills the mock topic")?;
    let payload = random_payload(size);
    for i in 0..count {
        let partition = i32::try_from(i % partitions.max(1) as u64).unwrap_or(0);
        let mut record = BaseRecord::<(), [u8]>::to(topic)
            .partition(partition)
            .payload(&payload);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                    record = r;
                    producer.poll(Duration::from_millis(5));
                }
                Err((e, _)) => bail!("filling the mock topic: {e}"),
            }
        }
        producer.poll(Duration::ZERO);
    }
    producer
        .flush(FLUSH_TIMEOUT)
        .context("flushing the records of the mock topic")?;
    Ok(())
}

fn run_consume(args: &ConsumeArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let props = parse_props(&args.consumer_props)?;
    let partitions = mock_consume_partitions(args);
    let target = Target::open(&args.target, &args.topic, partitions)?;
    if let Target::Mock(_) = target {
        if partitions > args.target.mock_partitions {
            writeln!(
                out,
                "a mock partition keeps only its last {} MiB: using {partitions} partitions",
                MOCK_PARTITION_BYTES >> 20
            )?;
        }
        writeln!(
            out,
            "filling the mock topic with {} records of {} bytes",
            args.messages, args.record_size
        )?;
        fill_mock_topic(
            &target.bootstrap(),
            &args.topic,
            partitions,
            args.messages,
            args.record_size,
        )?;
    }
    let mut cfg = ClientConfig::new();
    cfg.set("bootstrap.servers", target.bootstrap())
        // librdkafka needs a group.id for assign(); no group request is made without commits.
        .set("group.id", "rafka-perf-consumer")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest");
    for (k, v) in &props {
        cfg.set(k, v);
    }
    if args.target.bootstrap_server.is_some() || args.target.is_mock() {
        cfg.set("bootstrap.servers", target.bootstrap());
    }
    let consumer: BaseConsumer<ConsumeContext> = cfg
        .create_with_context(ConsumeContext)
        .context("creating the consumer (check --consumer-props)")?;
    let md = consumer
        .fetch_metadata(Some(&args.topic), METADATA_TIMEOUT)
        .with_context(|| format!("metadata for {} from {}", args.topic, target.describe()))?;
    let topic = md
        .topics()
        .iter()
        .find(|t| t.name() == args.topic)
        .ok_or_else(|| anyhow!("no metadata for topic {}", args.topic))?;
    if let Some(e) = topic.error() {
        bail!("topic {}: {:?}", args.topic, e);
    }
    let mut tpl = TopicPartitionList::new();
    for p in topic.partitions() {
        tpl.add_partition_offset(&args.topic, p.id(), Offset::Beginning)?;
    }
    writeln!(
        out,
        "consuming {} records from {} ({} partitions) on {}",
        args.messages,
        args.topic,
        topic.partitions().len(),
        target.describe()
    )?;

    let interval = Duration::from_millis(args.target.reporting_interval_ms.max(1));
    let idle_timeout = Duration::from_millis(args.timeout);
    let cpu = CpuMeter::start(args.target.broker_pid);
    let start = Instant::now();
    consumer.assign(&tpl).context("assign")?;
    let (mut records, mut bytes) = (0u64, 0u64);
    let (mut window_records, mut window_bytes) = (0u64, 0u64);
    let mut last_record = start;
    let mut first_record = None;
    let mut last_report = start;
    while records < args.messages && last_record.elapsed() < idle_timeout {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                let n = (m.payload_len() + m.key().map_or(0, <[u8]>::len)) as u64;
                records += 1;
                bytes += n;
                window_records += 1;
                window_bytes += n;
                last_record = Instant::now();
                first_record.get_or_insert(last_record);
            }
            Some(Err(KafkaError::PartitionEOF(_))) => {}
            Some(Err(e)) => bail!("consumer error after {records} records: {e}"),
            None => {}
        }
        if last_report.elapsed() >= interval {
            let secs = last_report.elapsed().as_secs_f64();
            writeln!(
                out,
                "{window_records} records consumed, {:.1} records/sec ({:.2} MB/sec).",
                window_records as f64 / secs,
                window_bytes as f64 / MB / secs
            )?;
            (window_records, window_bytes) = (0, 0);
            last_report = Instant::now();
        }
    }
    let elapsed = last_record - start;
    let secs = elapsed.as_secs_f64().max(1e-9);
    writeln!(
        out,
        "{records} records consumed, {:.2} MB, {:.2} MB/sec, {:.1} records/sec, {:.3} s elapsed \
         (assign to last record; first record after {:.1} ms).",
        bytes as f64 / MB,
        bytes as f64 / MB / secs,
        records as f64 / secs,
        secs,
        first_record.map_or(0.0, |f| (f - start).as_secs_f64() * 1000.0)
    )?;
    writeln!(out, "{}", cpu.line(elapsed))?;
    if records < args.messages {
        bail!(
            "only {records} of {} records arrived (nothing for {} ms)",
            args.messages,
            args.timeout
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<PerfArgs, clap::Error> {
        PerfArgs::try_parse_from(std::iter::once("rafka perf").chain(args.iter().copied()))
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<u32> = (1..=100).collect();
        assert_eq!(percentile(&v, 0.5), Some(50));
        assert_eq!(percentile(&v, 0.95), Some(95));
        assert_eq!(percentile(&v, 0.99), Some(99));
        assert_eq!(percentile(&v, 0.999), Some(100));
        assert_eq!(percentile(&v, 1.0), Some(100));
        assert_eq!(percentile(&v, 0.0), Some(1));
        assert_eq!(percentile(&[7], 0.999), Some(7));
        assert_eq!(percentile(&[], 0.5), None);
        let v: Vec<u32> = (1..=1000).collect();
        assert_eq!(percentile(&v, 0.999), Some(999));
        assert_eq!(percentile(&v, 0.5), Some(500));
    }

    #[test]
    fn recorder_summarises_and_windows() {
        let mut r = Recorder::default();
        for us in [3000u64, 1000, 2000, 4000] {
            r.record(us, 100);
        }
        r.error("boom".into());
        r.error("second".into());
        let w = r.take_window();
        assert_eq!(
            w,
            Window {
                records: 4,
                bytes: 400,
                latency_sum_us: 10_000,
                latency_max_us: 4000
            }
        );
        assert_eq!(r.take_window(), Window::default());
        let s = r.summary();
        assert_eq!(s.records, 4);
        assert_eq!(s.errors, 2);
        assert_eq!(s.bytes, 400);
        assert!((s.avg_ms - 2.5).abs() < 1e-9);
        assert!((s.max_ms - 4.0).abs() < 1e-9);
        assert_eq!(s.percentiles_ms, [2.0, 4.0, 4.0, 4.0]);
        assert_eq!(r.first_error.as_deref(), Some("boom"));
        let line = summary_line(&s, Duration::from_secs(2));
        assert!(
            line.starts_with("4 records sent, 2.0 records/sec (0.00 MB/sec), 2.50 ms avg latency, 4.00 ms max latency, 2.00 ms 50th, 4.00 ms 95th"),
            "{line}"
        );
    }

    #[test]
    fn throttle_keeps_to_the_rate() {
        // 1000 records/s: record 500 is due at 0.5 s.
        assert_eq!(
            throttle_wait(500, Duration::from_millis(200), 1000.0),
            Some(Duration::from_millis(300))
        );
        assert_eq!(throttle_wait(500, Duration::from_millis(600), 1000.0), None);
        assert_eq!(throttle_wait(500, Duration::from_millis(500), 1000.0), None);
        assert_eq!(throttle_wait(10_000, Duration::ZERO, -1.0), None);
        assert_eq!(throttle_wait(0, Duration::ZERO, 100.0), None);
    }

    #[test]
    fn props_parse() {
        assert_eq!(
            parse_props(&["acks=all".into(), "sasl.jaas.config=a=b".into()]).unwrap(),
            vec![
                ("acks".to_string(), "all".to_string()),
                ("sasl.jaas.config".to_string(), "a=b".to_string())
            ]
        );
        assert!(parse_props(&["acks".into()]).is_err());
        assert!(parse_props(&["=1".into()]).is_err());
    }

    #[test]
    fn produce_args_parse_like_kafka_producer_perf_test() {
        let a = parse(&[
            "produce",
            "--topic",
            "t",
            "--num-records",
            "1000000",
            "--record-size",
            "500",
            "--throughput",
            "-1",
            "--producer-props",
            "acks=all",
            "linger.ms=5",
            "--bootstrap-server",
            "127.0.0.1:9092",
        ])
        .unwrap();
        let PerfCommand::Produce(p) = a.command else {
            panic!("not produce")
        };
        assert_eq!(p.topic, "t");
        assert_eq!(p.num_records, 1_000_000);
        assert_eq!(p.record_size, 500);
        assert_eq!(p.throughput, -1.0);
        assert_eq!(p.producer_props, vec!["acks=all", "linger.ms=5"]);
        assert_eq!(p.target.bootstrap_server.as_deref(), Some("127.0.0.1:9092"));
        assert!(!p.target.is_mock());
        assert_eq!(p.target.reporting_interval_ms, 5000);

        let a = parse(&[
            "produce",
            "--topic",
            "t",
            "--num-records",
            "10",
            "--record-size",
            "1",
            "--bootstrap-server",
            "mock",
        ])
        .unwrap();
        let PerfCommand::Produce(p) = a.command else {
            panic!("not produce")
        };
        assert!(p.target.is_mock());
        assert_eq!(p.throughput, -1.0);

        // --num-records and --record-size are required.
        assert!(parse(&["produce", "--topic", "t", "--record-size", "1"]).is_err());
        assert!(parse(&["produce", "--topic", "t", "--num-records", "1"]).is_err());
        assert!(parse(&["nonsense"]).is_err());
    }

    #[test]
    fn consume_args_parse_like_kafka_consumer_perf_test() {
        let a = parse(&[
            "consume",
            "--topic",
            "t",
            "--messages",
            "5",
            "--mock",
            "--timeout",
            "2000",
            "--consumer-props",
            "fetch.wait.max.ms=10",
        ])
        .unwrap();
        let PerfCommand::Consume(c) = a.command else {
            panic!("not consume")
        };
        assert_eq!(c.messages, 5);
        assert_eq!(c.timeout, 2000);
        assert!(c.target.is_mock());
        assert_eq!(c.consumer_props, vec!["fetch.wait.max.ms=10"]);
        let a = parse(&["consume", "--topic", "t", "--num-records", "7"]).unwrap();
        let PerfCommand::Consume(c) = a.command else {
            panic!("not consume")
        };
        assert_eq!(c.messages, 7);
    }

    #[test]
    fn mock_consume_spreads_records_over_partitions() {
        let args = |n: &str, size: &str| {
            let a = parse(&[
                "consume",
                "--topic",
                "t",
                "--messages",
                n,
                "--record-size",
                size,
                "--mock",
            ])
            .unwrap();
            let PerfCommand::Consume(c) = a.command else {
                panic!("not consume")
            };
            c
        };
        assert_eq!(mock_consume_partitions(&args("10", "100")), 1);
        // 1M x 500 B (+70) = 570 MB over 2.5 MiB partitions.
        assert_eq!(mock_consume_partitions(&args("1000000", "500")), 218);
    }

    #[test]
    fn payload_is_uppercase_letters() {
        let p = random_payload(1000);
        assert_eq!(p.len(), 1000);
        assert!(p.iter().all(u8::is_ascii_uppercase));
        assert!(p.iter().any(|&b| b != p[0]));
    }

    #[test]
    fn own_cpu_time_is_readable() {
        assert!(process_cpu_seconds(std::process::id()).is_some());
        assert_eq!(process_cpu_seconds(u32::MAX), None);
    }

    /// The whole tool against librdkafka's mock cluster: produce then consume, bounded.
    #[test]
    fn mock_produce_and_consume_run() {
        let mut out = Vec::new();
        let a = parse(&[
            "produce",
            "--topic",
            "m",
            "--num-records",
            "2000",
            "--record-size",
            "100",
            "--mock",
            "--throughput",
            "20000",
            "--reporting-interval",
            "50",
        ])
        .unwrap();
        let PerfCommand::Produce(p) = a.command else {
            panic!("not produce")
        };
        let start = Instant::now();
        run_produce(&p, &mut out).unwrap();
        // 2000 records at 20000/s take at least 0.1 s.
        assert!(start.elapsed() >= Duration::from_millis(95));
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("2000 records sent"), "{text}");
        assert!(text.contains("ms 99.9th."), "{text}");

        let mut out = Vec::new();
        let a = parse(&[
            "consume",
            "--topic",
            "m",
            "--messages",
            "500",
            "--mock",
            "--timeout",
            "20000",
        ])
        .unwrap();
        let PerfCommand::Consume(c) = a.command else {
            panic!("not consume")
        };
        run_consume(&c, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("500 records consumed, 0.05 MB"), "{text}");
    }
}
