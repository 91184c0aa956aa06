//! `RawClient`: a minimal Kafka client for tests that need exact protocol control — one
//! request at a time over a blocking loopback TCP connection, request and response typed with
//! kafka-protocol (the same wire types the broker uses), every read and write with a timeout.
//!
//! ```no_run
//! use kafka_protocol::messages::DescribeClusterRequest;
//! let mut c = rafka_tests::RawClient::connect(9092).unwrap();
//! let r = c.send(1, &DescribeClusterRequest::default()).unwrap();
//! assert_eq!(r.error_code, 0);
//! ```

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};

/// Per-read/write timeout.
pub const RAW_CLIENT_IO_TIMEOUT: Duration = Duration::from_secs(60);
/// Largest response frame accepted (a bound, not a Kafka limit).
const MAX_FRAME: usize = 256 * 1024 * 1024;

/// One connection to a broker. Correlation ids count up from 1 and are checked.
#[derive(Debug)]
pub struct RawClient {
    stream: TcpStream,
    next_correlation_id: i32,
    client_id: String,
}

fn invalid(what: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

impl RawClient {
    /// Connects to `127.0.0.1:port`.
    pub fn connect(port: u16) -> io::Result<RawClient> {
        let stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_read_timeout(Some(RAW_CLIENT_IO_TIMEOUT))?;
        stream.set_write_timeout(Some(RAW_CLIENT_IO_TIMEOUT))?;
        stream.set_nodelay(true)?;
        Ok(RawClient {
            stream,
            next_correlation_id: 1,
            client_id: "rafka-tests".to_string(),
        })
    }

    /// Connects, retrying every 100 ms until `timeout` (a broker still starting its listener).
    pub fn connect_with_retry(port: u16, timeout: Duration) -> io::Result<RawClient> {
        let deadline = Instant::now() + timeout;
        loop {
            match RawClient::connect(port) {
                Ok(c) => return Ok(c),
                Err(e) if Instant::now() >= deadline => return Err(e),
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    /// Sets the client id sent in request headers.
    pub fn with_client_id(mut self, client_id: impl Into<String>) -> Self {
        self.client_id = client_id.into();
        self
    }

    /// Sends `request` at `version` and decodes the response.
    pub fn send<R: Request>(&mut self, version: i16, request: &R) -> io::Result<R::Response> {
        let mut body = BytesMut::new();
        request
            .encode(&mut body, version)
            .map_err(|e| invalid(format!("encoding api {} v{version}: {e}", R::KEY)))?;
        let mut payload = self.send_raw(R::KEY, version, R::header_version(version), &body)?;
        let header_version = <R::Response as HeaderVersion>::header_version(version);
        let header = ResponseHeader::decode(&mut payload, header_version)
            .map_err(|e| invalid(format!("response header: {e}")))?;
        let expected = self.next_correlation_id - 1;
        if header.correlation_id != expected {
            return Err(invalid(format!(
                "correlation id {} in response, expected {expected}",
                header.correlation_id
            )));
        }
        R::Response::decode(&mut payload, version)
            .map_err(|e| invalid(format!("decoding api {} v{version} response: {e}", R::KEY)))
    }

    /// Sends `request` at `version` without reading a response (acks=0 Produce).
    pub fn send_without_response<R: Request>(
        &mut self,
        version: i16,
        request: &R,
    ) -> io::Result<()> {
        let mut body = BytesMut::new();
        request
            .encode(&mut body, version)
            .map_err(|e| invalid(format!("encoding api {} v{version}: {e}", R::KEY)))?;
        let frame = self.frame(R::KEY, version, R::header_version(version), &body)?;
        self.stream.write_all(&frame)
    }

    /// Size prefix + request header + body, with the next correlation id.
    fn frame(
        &mut self,
        api_key: i16,
        version: i16,
        request_header_version: i16,
        body: &[u8],
    ) -> io::Result<Vec<u8>> {
        let correlation_id = self.next_correlation_id;
        self.next_correlation_id += 1;
        let header = RequestHeader::default()
            .with_request_api_key(api_key)
            .with_request_api_version(version)
            .with_correlation_id(correlation_id)
            .with_client_id(Some(StrBytes::from_string(self.client_id.clone())));
        let mut frame = BytesMut::new();
        header
            .encode(&mut frame, request_header_version)
            .map_err(|e| invalid(format!("request header: {e}")))?;
        frame.extend_from_slice(body);
        let len = i32::try_from(frame.len()).map_err(invalid)?;
        let mut out = Vec::with_capacity(4 + frame.len());
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&frame);
        Ok(out)
    }

    /// Sends a request whose body is already encoded; returns the whole response payload
    /// (response header included). `request_header_version` is 1 for non-flexible versions,
    /// 2 for flexible ones.
    pub fn send_raw(
        &mut self,
        api_key: i16,
        version: i16,
        request_header_version: i16,
        body: &[u8],
    ) -> io::Result<Bytes> {
        let frame = self.frame(api_key, version, request_header_version, body)?;
        self.stream.write_all(&frame)?;
        let mut size = [0u8; 4];
        self.stream.read_exact(&mut size)?;
        let size = usize::try_from(i32::from_be_bytes(size)).map_err(invalid)?;
        if size > MAX_FRAME {
            return Err(invalid(format!("response frame of {size} bytes")));
        }
        let mut payload = vec![0u8; size];
        self.stream.read_exact(&mut payload)?;
        Ok(Bytes::from(payload))
    }
}

/// A CreateTopics entry: `partitions` × `replication_factor` with topic `configs`.
pub fn creatable_topic(
    name: &str,
    partitions: i32,
    replication_factor: i16,
    configs: &[(&str, &str)],
) -> kafka_protocol::messages::create_topics_request::CreatableTopic {
    use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
    CreatableTopic::default()
        .with_name(kafka_protocol::messages::TopicName(StrBytes::from_string(
            name.to_string(),
        )))
        .with_num_partitions(partitions)
        .with_replication_factor(replication_factor)
        .with_configs(
            configs
                .iter()
                .map(|(k, v)| {
                    CreatableTopicConfig::default()
                        .with_name(StrBytes::from_string(k.to_string()))
                        .with_value(Some(StrBytes::from_string(v.to_string())))
                })
                .collect(),
        )
}

impl RawClient {
    /// CreateTopics v7 of one topic, waiting up to 20 s for its leaders; returns its result
    /// (error code, topic id, ...).
    pub fn create_topic(
        &mut self,
        topic: kafka_protocol::messages::create_topics_request::CreatableTopic,
    ) -> io::Result<kafka_protocol::messages::create_topics_response::CreatableTopicResult> {
        let request = kafka_protocol::messages::CreateTopicsRequest::default()
            .with_topics(vec![topic])
            .with_timeout_ms(20_000);
        let mut response = self.send(7, &request)?;
        response
            .topics
            .pop()
            .ok_or_else(|| invalid("CreateTopics answered no topic"))
    }

    /// Creates `name` (`partitions` × RF 1, default configs) on a broker that has just
    /// started, retrying every 100 ms for up to `timeout` while it answers NOT_CONTROLLER (no
    /// controller yet) or INVALID_REPLICATION_FACTOR (the controller's UpdateMetadata has not
    /// told it that it is alive). Panics on any other error, with `logs()` in the message.
    pub fn create_topic_when_ready(
        &mut self,
        name: &str,
        partitions: i32,
        timeout: Duration,
        logs: impl Fn() -> String,
    ) {
        const NOT_CONTROLLER: i16 = 41;
        const INVALID_REPLICATION_FACTOR: i16 = 38;
        let deadline = Instant::now() + timeout;
        loop {
            let r = self
                .create_topic(creatable_topic(name, partitions, 1, &[]))
                .expect("CreateTopics");
            match r.error_code {
                0 => return,
                NOT_CONTROLLER | INVALID_REPLICATION_FACTOR if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(100));
                }
                _ => panic!("creating {name}: {r:?}\n{}", logs()),
            }
        }
    }
}

/// What [`RawClient::fetch_records`] read: the partition's error code, its high watermark
/// and the records (offset, value as lossy UTF-8) of every whole batch, CRC-checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedRecords {
    pub error_code: i16,
    pub high_watermark: i64,
    pub records: Vec<(i64, String)>,
}

impl FetchedRecords {
    /// The records' values, in offset order.
    pub fn values(&self) -> Vec<String> {
        self.records.iter().map(|(_, v)| v.clone()).collect()
    }
}

impl RawClient {
    /// Produce v9 of one uncompressed batch holding `values` to `topic-partition` with
    /// `acks`; returns (error code, base offset).
    pub fn produce_values(
        &mut self,
        topic: &str,
        partition: i32,
        acks: i16,
        values: &[String],
    ) -> io::Result<(i16, i64)> {
        use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
        use kafka_protocol::messages::{ProduceRequest, TopicName};
        use rafka_core::record::{build_batch, ProducerInfo, SimpleRecord};
        let records: Vec<SimpleRecord> = values
            .iter()
            .enumerate()
            .map(|(i, v)| SimpleRecord::new(1_700_000_000_000 + i as i64, None, Some(v.as_bytes())))
            .collect();
        let batch = build_batch(0, ProducerInfo::NONE, &records);
        let request = ProduceRequest::default()
            .with_acks(acks)
            .with_timeout_ms(10_000)
            .with_topic_data(vec![TopicProduceData::default()
                .with_name(TopicName(StrBytes::from_string(topic.to_string())))
                .with_partition_data(vec![PartitionProduceData::default()
                    .with_index(partition)
                    .with_records(Some(batch.into()))])]);
        let r = self.send(9, &request)?;
        let p = r
            .responses
            .first()
            .and_then(|t| t.partition_responses.first())
            .ok_or_else(|| invalid("Produce answered no partition"))?;
        Ok((p.error_code, p.base_offset))
    }

    /// Fetch v11 (by name, no session, no wait) of `topic-partition` from `offset`, up to
    /// 1 MiB; batches are CRC-checked and decoded.
    pub fn fetch_records(
        &mut self,
        topic: &str,
        partition: i32,
        offset: i64,
    ) -> io::Result<FetchedRecords> {
        use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
        use kafka_protocol::messages::{BrokerId, FetchRequest, TopicName};
        use rafka_core::record::{decode_records, RecordBatch};
        let request = FetchRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_max_wait_ms(0)
            .with_min_bytes(1)
            .with_max_bytes(50 << 20)
            .with_session_epoch(-1)
            .with_topics(vec![FetchTopic::default()
                .with_topic(TopicName(StrBytes::from_string(topic.to_string())))
                .with_partitions(vec![FetchPartition::default()
                    .with_partition(partition)
                    .with_fetch_offset(offset)
                    .with_partition_max_bytes(1 << 20)
                    .with_current_leader_epoch(-1)
                    .with_log_start_offset(-1)])]);
        let r = self.send(11, &request)?;
        let p = r
            .responses
            .first()
            .and_then(|t| t.partitions.first())
            .ok_or_else(|| invalid("Fetch answered no partition"))?;
        let mut records = Vec::new();
        let mut rest: &[u8] = p.records.as_deref().unwrap_or_default();
        // A v2 batch: base offset (8), length (4), then `length` bytes; a partial last batch
        // (the byte limit) is left out, as a consumer would.
        while rest.len() >= 12 {
            let length = i32::from_be_bytes(rest[8..12].try_into().expect("4 bytes"));
            let size =
                12 + usize::try_from(length).map_err(|_| invalid("negative batch length"))?;
            if size > rest.len() {
                break;
            }
            let batch = RecordBatch::parse(&rest[..size]).map_err(invalid)?;
            batch.validate_crc().map_err(invalid)?;
            for rec in decode_records(&batch).map_err(invalid)? {
                let value = String::from_utf8_lossy(&rec.value.unwrap_or_default()).into_owned();
                records.push((rec.offset, value));
            }
            rest = &rest[size..];
        }
        Ok(FetchedRecords {
            error_code: p.error_code,
            high_watermark: p.high_watermark,
            records,
        })
    }
}

/// `n` record values `{tag}-0`, `{tag}-1`, ...
pub fn tagged_values(tag: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{tag}-{i}")).collect()
}

/// How long [`produce_until`] retries.
pub const PRODUCE_RETRY_TIMEOUT: Duration = Duration::from_secs(30);

/// One connection to the broker on `port` and one [`RawClient::produce_values`]:
/// (error code, base offset), or `None` when the broker cannot be reached or the connection
/// drops.
pub fn produce_once(
    port: u16,
    topic: &str,
    partition: i32,
    acks: i16,
    values: &[String],
) -> Option<(i16, i64)> {
    let mut c = RawClient::connect(port).ok()?;
    c.produce_values(topic, partition, acks, values).ok()
}

/// Produces `values` to `topic-partition` on `broker` with `acks` (a new connection each
/// time, every 200 ms, for up to [`PRODUCE_RETRY_TIMEOUT`]) until the answer's error code is
/// `want`; returns that answer's base offset. Panics with the last answer and the broker's
/// logs otherwise.
pub fn produce_until(
    broker: &crate::BrokerProcess,
    topic: &str,
    partition: i32,
    acks: i16,
    values: &[String],
    want: i16,
) -> i64 {
    let mut last = None;
    crate::poll_until(PRODUCE_RETRY_TIMEOUT, Duration::from_millis(200), || {
        last = produce_once(broker.port(), topic, partition, acks, values);
        match last {
            Some((error, base)) if error == want => Some(base),
            _ => None,
        }
    })
    .unwrap_or_else(|| {
        panic!(
            "produce (acks={acks}) to {topic}-{partition} on broker {} never answered error \
             {want} (last {last:?})\n{}",
            broker.broker_id(),
            broker.logs()
        )
    })
}

/// One connection to the broker on `port` and one [`RawClient::fetch_records`]; `None` when
/// the broker cannot be reached or the connection drops. Panics on an answer that does not
/// decode (response, batch or CRC).
pub fn fetch_once(port: u16, topic: &str, partition: i32, offset: i64) -> Option<FetchedRecords> {
    let mut c = RawClient::connect(port).ok()?;
    match c.fetch_records(topic, partition, offset) {
        Ok(fetched) => Some(fetched),
        Err(e) if e.kind() == io::ErrorKind::InvalidData => {
            panic!("fetch of {topic}-{partition} from broker port {port}: {e}")
        }
        Err(_) => None,
    }
}
