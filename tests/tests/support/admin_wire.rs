//! Hand-encoded admin requests for the topic tests (the test crate has no kafka-protocol
//! dependency): CreateTopics v1, DeleteTopics v1 and v6 (flexible, topic ids), CreatePartitions
//! v1. Each call opens a connection, sends one request and parses the answer; reads time out
//! after 60 s so a silent broker fails the test instead of hanging it.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

pub const NONE: i16 = 0;
pub const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
pub const REQUEST_TIMED_OUT: i16 = 7;
pub const INVALID_TOPIC_EXCEPTION: i16 = 17;
pub const TOPIC_ALREADY_EXISTS: i16 = 36;
pub const INVALID_PARTITIONS: i16 = 37;
pub const INVALID_REPLICA_ASSIGNMENT: i16 = 39;
pub const NOT_CONTROLLER: i16 = 41;
pub const INVALID_REQUEST: i16 = 42;
pub const TOPIC_DELETION_DISABLED: i16 = 73;
pub const UNKNOWN_TOPIC_ID: i16 = 100;

const CORRELATION_ID: i32 = 7;

fn put_str(buf: &mut Vec<u8>, s: &str) {
    buf.extend_from_slice(&(s.len() as i16).to_be_bytes());
    buf.extend_from_slice(s.as_bytes());
}

fn put_uvarint(buf: &mut Vec<u8>, mut v: u32) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

fn put_compact_nullable_str(buf: &mut Vec<u8>, s: Option<&str>) {
    match s {
        None => put_uvarint(buf, 0),
        Some(s) => {
            put_uvarint(buf, s.len() as u32 + 1);
            buf.extend_from_slice(s.as_bytes());
        }
    }
}

/// Sends one request (header v1, or v2 with an empty tag section when `flexible`) and returns
/// the response body after the correlation id (and the response header's tags if flexible).
fn call(port: u16, api_key: i16, version: i16, flexible: bool, body: &[u8]) -> Reader {
    let mut frame = Vec::new();
    frame.extend_from_slice(&api_key.to_be_bytes());
    frame.extend_from_slice(&version.to_be_bytes());
    frame.extend_from_slice(&CORRELATION_ID.to_be_bytes());
    put_str(&mut frame, "topics-test");
    if flexible {
        frame.push(0);
    }
    frame.extend_from_slice(body);
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to the broker");
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut sized = (frame.len() as i32).to_be_bytes().to_vec();
    sized.extend_from_slice(&frame);
    stream.write_all(&sized).expect("send the request");
    let mut len = [0u8; 4];
    stream.read_exact(&mut len).expect("response size");
    let mut resp = vec![0u8; i32::from_be_bytes(len) as usize];
    stream.read_exact(&mut resp).expect("response");
    let mut r = Reader { buf: resp, pos: 0 };
    assert_eq!(r.i32(), CORRELATION_ID);
    if flexible {
        r.skip_tags();
    }
    r
}

/// A cursor over a response body; panics (failing the test) on a short body.
struct Reader {
    buf: Vec<u8>,
    pos: usize,
}

impl Reader {
    fn take(&mut self, n: usize) -> &[u8] {
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        s
    }
    fn i16(&mut self) -> i16 {
        i16::from_be_bytes(self.take(2).try_into().unwrap())
    }
    fn i32(&mut self) -> i32 {
        i32::from_be_bytes(self.take(4).try_into().unwrap())
    }
    fn uvarint(&mut self) -> u32 {
        let mut v = 0u32;
        for shift in (0..35).step_by(7) {
            let b = self.take(1)[0];
            v |= u32::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return v;
            }
        }
        panic!("varint too long");
    }
    fn string(&mut self) -> String {
        let n = self.i16() as usize;
        String::from_utf8(self.take(n).to_vec()).unwrap()
    }
    fn nullable_string(&mut self) -> Option<String> {
        let n = self.i16();
        (n >= 0).then(|| String::from_utf8(self.take(n as usize).to_vec()).unwrap())
    }
    fn compact_nullable_string(&mut self) -> Option<String> {
        let n = self.uvarint();
        (n > 0).then(|| String::from_utf8(self.take(n as usize - 1).to_vec()).unwrap())
    }
    fn uuid(&mut self) -> [u8; 16] {
        self.take(16).try_into().unwrap()
    }
    fn skip_tags(&mut self) {
        for _ in 0..self.uvarint() {
            let _tag = self.uvarint();
            let size = self.uvarint() as usize;
            self.take(size);
        }
    }
}

/// CreateTopics v1 for `(name, partitions, replication factor)`: `(name, error code)` each.
pub fn create_topics(
    port: u16,
    topics: &[(&str, i32, i16)],
    timeout_ms: i32,
) -> Vec<(String, i16)> {
    let mut body = Vec::new();
    body.extend_from_slice(&(topics.len() as i32).to_be_bytes());
    for (name, partitions, rf) in topics {
        put_str(&mut body, name);
        body.extend_from_slice(&partitions.to_be_bytes());
        body.extend_from_slice(&rf.to_be_bytes());
        body.extend_from_slice(&0i32.to_be_bytes()); // assignments
        body.extend_from_slice(&0i32.to_be_bytes()); // configs
    }
    body.extend_from_slice(&timeout_ms.to_be_bytes());
    body.push(0); // validate_only
    let mut r = call(port, 19, 1, false, &body);
    let count = r.i32();
    (0..count)
        .map(|_| {
            let name = r.string();
            let code = r.i16();
            let _message = r.nullable_string();
            (name, code)
        })
        .collect()
}

/// DeleteTopics v1 (by name): `(name, error code)` per topic.
pub fn delete_topics_v1(port: u16, names: &[&str], timeout_ms: i32) -> Vec<(String, i16)> {
    let mut body = Vec::new();
    body.extend_from_slice(&(names.len() as i32).to_be_bytes());
    for n in names {
        put_str(&mut body, n);
    }
    body.extend_from_slice(&timeout_ms.to_be_bytes());
    let mut r = call(port, 20, 1, false, &body);
    let _throttle = r.i32();
    let count = r.i32();
    (0..count).map(|_| (r.string(), r.i16())).collect()
}

/// One DeleteTopics v6 result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deleted {
    pub name: Option<String>,
    pub topic_id: [u8; 16],
    pub error_code: i16,
    pub error_message: Option<String>,
}

/// DeleteTopics v6: each topic by name or by id (all-zero id = none).
pub fn delete_topics_v6(
    port: u16,
    topics: &[(Option<&str>, [u8; 16])],
    timeout_ms: i32,
) -> Vec<Deleted> {
    let mut body = Vec::new();
    put_uvarint(&mut body, topics.len() as u32 + 1);
    for (name, id) in topics {
        put_compact_nullable_str(&mut body, *name);
        body.extend_from_slice(id);
        body.push(0); // tags
    }
    body.extend_from_slice(&timeout_ms.to_be_bytes());
    body.push(0); // tags
    let mut r = call(port, 20, 6, true, &body);
    let _throttle = r.i32();
    let count = r.uvarint().saturating_sub(1);
    let out = (0..count)
        .map(|_| {
            let d = Deleted {
                name: r.compact_nullable_string(),
                topic_id: r.uuid(),
                error_code: r.i16(),
                error_message: r.compact_nullable_string(),
            };
            r.skip_tags();
            d
        })
        .collect();
    r.skip_tags();
    out
}

/// One CreatePartitions topic: name, new total count, explicit assignment of the new
/// partitions (`None` = let the broker place them).
pub struct NewPartitions<'a>(pub &'a str, pub i32, pub Option<Vec<Vec<i32>>>);

/// CreatePartitions v1: `(name, error code, error message)` per result.
pub fn create_partitions(
    port: u16,
    topics: &[NewPartitions<'_>],
    timeout_ms: i32,
    validate_only: bool,
) -> Vec<(String, i16, Option<String>)> {
    let mut body = Vec::new();
    body.extend_from_slice(&(topics.len() as i32).to_be_bytes());
    for NewPartitions(name, count, assignments) in topics {
        put_str(&mut body, name);
        body.extend_from_slice(&count.to_be_bytes());
        match assignments {
            None => body.extend_from_slice(&(-1i32).to_be_bytes()),
            Some(list) => {
                body.extend_from_slice(&(list.len() as i32).to_be_bytes());
                for replicas in list {
                    body.extend_from_slice(&(replicas.len() as i32).to_be_bytes());
                    for b in replicas {
                        body.extend_from_slice(&b.to_be_bytes());
                    }
                }
            }
        }
    }
    body.extend_from_slice(&timeout_ms.to_be_bytes());
    body.push(u8::from(validate_only));
    let mut r = call(port, 37, 1, false, &body);
    let _throttle = r.i32();
    let count = r.i32();
    (0..count)
        .map(|_| (r.string(), r.i16(), r.nullable_string()))
        .collect()
}

/// Kafka's topic id text (URL-safe base64 without padding, as in `/brokers/topics/<t>`) as
/// its 16 bytes.
pub fn topic_id_bytes(text: &str) -> [u8; 16] {
    let value = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'-' => 62,
            b'_' => 63,
            _ => panic!("not URL-safe base64: {text}"),
        }
    };
    let mut bits = 0u32;
    let mut nbits = 0;
    let mut out = Vec::with_capacity(16);
    for c in text.bytes() {
        bits = (bits << 6) | value(c);
        nbits += 6;
        if nbits >= 8 {
            nbits -= 8;
            out.push((bits >> nbits) as u8);
            bits &= (1 << nbits) - 1;
        }
    }
    out.try_into()
        .unwrap_or_else(|v: Vec<u8>| panic!("topic id {text} has {} bytes", v.len()))
}
