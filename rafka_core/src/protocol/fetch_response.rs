//! Fetch response encoding that keeps log data out of user space: the fields are encoded
//! here (v4–16, header included) and each partition's records stay a [`FileRange`] that the
//! connection sends with sendfile. kafka-protocol's `FetchResponse` would need the records
//! copied into a `Bytes` first, so the fetch path encodes its own response; the tests check
//! every version against kafka-protocol's decoder.
//!
//! Fetch has no byte-size-prefixed nesting (arrays carry counts; the tagged-field sections
//! written here are empty), so records can be spliced in without knowing sizes up front.

use bytes::{BufMut, Bytes, BytesMut};
use uuid::Uuid;

use crate::log::FileRange;
use crate::network::ResponsePart;

/// First flexible Fetch version (compact encodings, tagged fields, response header v1).
const FIRST_FLEXIBLE: i16 = 12;
/// First version naming topics by id instead of by name.
const FIRST_TOPIC_ID: i16 = 13;

/// One partition of a fetch response.
#[derive(Clone, Debug)]
pub struct FetchPartitionData {
    pub partition_index: i32,
    pub error_code: i16,
    pub high_watermark: i64,
    pub last_stable_offset: i64,
    pub log_start_offset: i64,
    /// `None` → null (read_uncommitted); `Some(empty)` → an empty list (read_committed).
    pub aborted_transactions: Option<Vec<(i64, i64)>>,
    pub preferred_read_replica: i32,
    /// The log bytes; `None` sends an empty record set.
    pub records: Option<FileRange>,
}

impl FetchPartitionData {
    /// A partition answered with only an error code (no data, offsets −1).
    pub fn error(partition_index: i32, error_code: i16) -> FetchPartitionData {
        FetchPartitionData {
            partition_index,
            error_code,
            high_watermark: -1,
            last_stable_offset: -1,
            log_start_offset: -1,
            aborted_transactions: None,
            preferred_read_replica: -1,
            records: None,
        }
    }

    pub fn records_len(&self) -> u64 {
        self.records.as_ref().map_or(0, |r| r.len)
    }
}

/// One topic of a fetch response: named up to v12, by id from v13.
#[derive(Clone, Debug)]
pub struct FetchTopicData {
    pub name: String,
    pub topic_id: Uuid,
    pub partitions: Vec<FetchPartitionData>,
}

/// The top-level fields of a fetch response.
#[derive(Clone, Copy, Debug, Default)]
pub struct FetchResponseHeader {
    pub correlation_id: i32,
    pub throttle_time_ms: i32,
    pub error_code: i16,
    pub session_id: i32,
}

/// Builds the parts: coalesced encoded bytes interleaved with file ranges.
struct PartsWriter {
    parts: Vec<ResponsePart>,
    buf: BytesMut,
    flexible: bool,
}

impl PartsWriter {
    fn array_len(&mut self, n: usize) {
        if self.flexible {
            put_uvarint(&mut self.buf, n as u64 + 1);
        } else {
            self.buf.put_i32(n as i32);
        }
    }

    fn string(&mut self, s: &str) {
        if self.flexible {
            put_uvarint(&mut self.buf, s.len() as u64 + 1);
        } else {
            self.buf.put_i16(s.len() as i16);
        }
        self.buf.put_slice(s.as_bytes());
    }

    fn empty_tagged_fields(&mut self) {
        if self.flexible {
            self.buf.put_u8(0);
        }
    }

    fn records(&mut self, records: &Option<FileRange>) {
        let len = records.as_ref().map_or(0, |r| r.len);
        if self.flexible {
            put_uvarint(&mut self.buf, len + 1);
        } else {
            self.buf.put_i32(len as i32);
        }
        if let Some(range) = records.as_ref().filter(|r| r.len > 0) {
            let bytes = self.buf.split().freeze();
            self.parts.push(ResponsePart::Bytes(bytes));
            self.parts.push(ResponsePart::File(range.clone()));
        }
    }

    fn finish(mut self) -> Vec<ResponsePart> {
        if !self.buf.is_empty() {
            let bytes: Bytes = self.buf.split().freeze();
            self.parts.push(ResponsePart::Bytes(bytes));
        }
        self.parts
    }
}

fn put_uvarint(buf: &mut BytesMut, mut v: u64) {
    while v >= 0x80 {
        buf.put_u8((v as u8) | 0x80);
        v >>= 7;
    }
    buf.put_u8(v as u8);
}

/// Encodes a Fetch response at `version` (4–16): response header, then the body; the
/// partitions' record ranges become file parts. Record lengths must fit the protocol's
/// int32 (the fetch path never reads more than `i32::MAX` bytes).
pub fn encode_fetch_response(
    version: i16,
    header: FetchResponseHeader,
    topics: &[FetchTopicData],
) -> Vec<ResponsePart> {
    let flexible = version >= FIRST_FLEXIBLE;
    let mut w = PartsWriter {
        parts: Vec::new(),
        buf: BytesMut::with_capacity(256),
        flexible,
    };
    // Response header: v1 (tagged fields) for flexible versions.
    w.buf.put_i32(header.correlation_id);
    w.empty_tagged_fields();
    w.buf.put_i32(header.throttle_time_ms);
    if version >= 7 {
        w.buf.put_i16(header.error_code);
        w.buf.put_i32(header.session_id);
    }
    w.array_len(topics.len());
    for topic in topics {
        if version >= FIRST_TOPIC_ID {
            w.buf.put_slice(topic.topic_id.as_bytes());
        } else {
            w.string(&topic.name);
        }
        w.array_len(topic.partitions.len());
        for p in &topic.partitions {
            w.buf.put_i32(p.partition_index);
            w.buf.put_i16(p.error_code);
            w.buf.put_i64(p.high_watermark);
            w.buf.put_i64(p.last_stable_offset);
            if version >= 5 {
                w.buf.put_i64(p.log_start_offset);
            }
            match &p.aborted_transactions {
                None => {
                    if flexible {
                        w.buf.put_u8(0);
                    } else {
                        w.buf.put_i32(-1);
                    }
                }
                Some(list) => {
                    w.array_len(list.len());
                    for (producer_id, first_offset) in list {
                        w.buf.put_i64(*producer_id);
                        w.buf.put_i64(*first_offset);
                        w.empty_tagged_fields();
                    }
                }
            }
            if version >= 11 {
                w.buf.put_i32(p.preferred_read_replica);
            }
            w.records(&p.records);
            w.empty_tagged_fields();
        }
        w.empty_tagged_fields();
    }
    w.empty_tagged_fields();
    w.finish()
}

/// Total bytes of the parts (the frame's size prefix).
pub fn parts_len(parts: &[ResponsePart]) -> u64 {
    parts.iter().map(ResponsePart::len).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::{FetchResponse, ResponseHeader};
    use kafka_protocol::protocol::Decodable;
    use std::io::Write;
    use std::sync::Arc;

    fn materialize(parts: &[ResponsePart]) -> Bytes {
        let mut out = BytesMut::new();
        for p in parts {
            match p {
                ResponsePart::Bytes(b) => out.put_slice(b),
                ResponsePart::File(f) => out.put_slice(&f.read_to_vec().unwrap()),
            }
        }
        out.freeze()
    }

    #[test]
    fn every_version_decodes_with_kafka_protocol() {
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(b"0123456789abcdefghij").unwrap();
        let file = Arc::new(file);
        let topic_id = Uuid::from_u128(0x1234_5678_9abc_def0_1122_3344_5566_7788);
        let topics = vec![
            FetchTopicData {
                name: "orders".into(),
                topic_id,
                partitions: vec![
                    FetchPartitionData {
                        partition_index: 0,
                        error_code: 0,
                        high_watermark: 42,
                        last_stable_offset: 41,
                        log_start_offset: 3,
                        aborted_transactions: Some(vec![(7, 9)]),
                        preferred_read_replica: -1,
                        records: Some(FileRange {
                            file: Arc::clone(&file),
                            position: 5,
                            len: 10,
                        }),
                    },
                    FetchPartitionData::error(1, 6),
                ],
            },
            FetchTopicData {
                name: "t2".into(),
                topic_id: Uuid::nil(),
                partitions: vec![FetchPartitionData {
                    records: Some(FileRange {
                        file: Arc::clone(&file),
                        position: 0,
                        len: 0,
                    }),
                    ..FetchPartitionData::error(4, 0)
                }],
            },
        ];
        for version in 4..=16i16 {
            let header = FetchResponseHeader {
                correlation_id: 77,
                throttle_time_ms: 5,
                error_code: 0,
                session_id: if version >= 7 { 99 } else { 0 },
            };
            let parts = encode_fetch_response(version, header, &topics);
            let mut bytes = materialize(&parts);
            assert_eq!(parts_len(&parts), bytes.len() as u64);
            let header_version = if version >= 12 { 1 } else { 0 };
            let h = ResponseHeader::decode(&mut bytes, header_version).unwrap();
            assert_eq!(h.correlation_id, 77);
            let r = FetchResponse::decode(&mut bytes, version).unwrap();
            assert!(bytes.is_empty(), "v{version}: trailing bytes");
            assert_eq!(r.throttle_time_ms, 5);
            if version >= 7 {
                assert_eq!(r.session_id, 99);
            }
            assert_eq!(r.responses.len(), 2);
            let t = &r.responses[0];
            if version >= 13 {
                assert_eq!(t.topic_id, topic_id);
            } else {
                assert_eq!(t.topic.as_str(), "orders");
            }
            let p = &t.partitions[0];
            assert_eq!((p.partition_index, p.high_watermark), (0, 42));
            assert_eq!(p.last_stable_offset, 41);
            if version >= 5 {
                assert_eq!(p.log_start_offset, 3);
            }
            let aborted = p.aborted_transactions.as_ref().unwrap();
            assert_eq!((aborted[0].producer_id.0, aborted[0].first_offset), (7, 9));
            assert_eq!(p.records.as_deref(), Some(&b"56789abcde"[..]));
            let e = &t.partitions[1];
            assert_eq!((e.partition_index, e.error_code), (1, 6));
            assert!(e.aborted_transactions.is_none());
            assert_eq!(e.records.as_deref(), Some(&b""[..]));
            assert_eq!(r.responses[1].partitions[0].partition_index, 4);
        }
    }

    #[test]
    fn empty_ranges_are_not_file_parts() {
        let file = Arc::new(tempfile::tempfile().unwrap());
        let topics = vec![FetchTopicData {
            name: "t".into(),
            topic_id: Uuid::nil(),
            partitions: vec![FetchPartitionData {
                records: Some(FileRange {
                    file,
                    position: 0,
                    len: 0,
                }),
                ..FetchPartitionData::error(0, 0)
            }],
        }];
        let parts = encode_fetch_response(11, FetchResponseHeader::default(), &topics);
        assert_eq!(parts.len(), 1);
    }
}
