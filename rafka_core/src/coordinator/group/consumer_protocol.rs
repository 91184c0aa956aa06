//! The embedded "consumer" protocol (Kafka's `ConsumerProtocolSubscription` and
//! `ConsumerProtocolAssignment`, versions 0–3): what consumer group members put in their
//! JoinGroup metadata and what the leader's SyncGroup assignment holds. The coordinator reads
//! subscriptions to know a group's subscribed topics (offset expiry, OffsetDelete) and the
//! offsets decoder prints both. A newer version than 3 is read as version 3 (fields are only
//! ever appended), as Kafka does.

use bytes::Bytes;

use super::offsets_schema::{Reader, SchemaError};

/// The protocol type of consumer groups.
pub const CONSUMER_PROTOCOL_TYPE: &str = "consumer";
const HIGHEST_VERSION: i16 = 3;

/// `ConsumerProtocolSubscription`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subscription {
    pub version: i16,
    pub topics: Vec<String>,
    pub user_data: Option<Bytes>,
    /// v1+: (topic, partitions).
    pub owned_partitions: Vec<(String, Vec<i32>)>,
    /// v2+ (−1 default).
    pub generation_id: i32,
    /// v3+.
    pub rack_id: Option<String>,
}

/// `ConsumerProtocolAssignment`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Assignment {
    pub version: i16,
    pub assigned_partitions: Vec<(String, Vec<i32>)>,
    pub user_data: Option<Bytes>,
}

fn effective_version(version: i16) -> Result<i16, SchemaError> {
    if version < 0 {
        return Err(SchemaError::UnsupportedVersion {
            what: "consumer protocol",
            version,
        });
    }
    Ok(version.min(HIGHEST_VERSION))
}

fn topic_partitions(r: &mut Reader<'_>) -> Result<Vec<(String, Vec<i32>)>, SchemaError> {
    let n = r.array_len(false, "topic partitions")?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let topic = r.string(false, "topic")?;
        let count = r.array_len(false, "partitions")?;
        let mut partitions = Vec::with_capacity(count);
        for _ in 0..count {
            partitions.push(r.i32("partition")?);
        }
        out.push((topic, partitions));
    }
    Ok(out)
}

/// Decodes a version-prefixed subscription. With `topics_only`, stops after the topics (the
/// version-0 prefix every version shares: what the coordinator needs).
pub fn decode_subscription(bytes: &[u8], topics_only: bool) -> Result<Subscription, SchemaError> {
    let mut r = Reader::new(bytes);
    let version = r.i16("subscription version")?;
    let v = effective_version(version)?;
    let n = r.array_len(false, "topics")?;
    let mut topics = Vec::with_capacity(n);
    for _ in 0..n {
        topics.push(r.string(false, "topic")?);
    }
    let mut s = Subscription {
        version,
        topics,
        user_data: None,
        owned_partitions: Vec::new(),
        generation_id: -1,
        rack_id: None,
    };
    if topics_only {
        return Ok(s);
    }
    s.user_data = r.nullable_bytes(false, "userData")?;
    if v >= 1 {
        s.owned_partitions = topic_partitions(&mut r)?;
    }
    if v >= 2 {
        s.generation_id = r.i32("generationId")?;
    }
    if v >= 3 {
        s.rack_id = r.nullable_string(false, "rackId")?;
    }
    Ok(s)
}

/// Decodes a version-prefixed assignment.
pub fn decode_assignment(bytes: &[u8]) -> Result<Assignment, SchemaError> {
    let mut r = Reader::new(bytes);
    let version = r.i16("assignment version")?;
    effective_version(version)?;
    let assigned_partitions = topic_partitions(&mut r)?;
    let user_data = r.nullable_bytes(false, "userData")?;
    Ok(Assignment {
        version,
        assigned_partitions,
        user_data,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn string(out: &mut Vec<u8>, s: &str) {
        out.extend_from_slice(&(s.len() as i16).to_be_bytes());
        out.extend_from_slice(s.as_bytes());
    }

    /// A v`version` subscription to `topics` (no user data, no owned partitions).
    pub(crate) fn subscription_bytes(version: i16, topics: &[&str]) -> Vec<u8> {
        let mut b = version.to_be_bytes().to_vec();
        b.extend_from_slice(&(topics.len() as i32).to_be_bytes());
        for t in topics {
            string(&mut b, t);
        }
        b.extend_from_slice(&(-1i32).to_be_bytes()); // user data null
        if version >= 1 {
            b.extend_from_slice(&0i32.to_be_bytes());
        }
        if version >= 2 {
            b.extend_from_slice(&7i32.to_be_bytes());
        }
        if version >= 3 {
            b.extend_from_slice(&(-1i16).to_be_bytes());
        }
        b
    }

    /// A v0 assignment of `partitions` of `topic`.
    pub(crate) fn assignment_bytes(topic: &str, partitions: &[i32]) -> Vec<u8> {
        let mut b = 0i16.to_be_bytes().to_vec();
        b.extend_from_slice(&1i32.to_be_bytes());
        string(&mut b, topic);
        b.extend_from_slice(&(partitions.len() as i32).to_be_bytes());
        for p in partitions {
            b.extend_from_slice(&p.to_be_bytes());
        }
        b.extend_from_slice(&(-1i32).to_be_bytes());
        b
    }

    #[test]
    fn subscriptions_of_every_version() {
        for version in 0..=3 {
            let s = decode_subscription(&subscription_bytes(version, &["a", "b"]), false).unwrap();
            assert_eq!(s.topics, vec!["a", "b"]);
            assert_eq!(s.generation_id, if version >= 2 { 7 } else { -1 });
        }
        // A future version reads as v3.
        let mut b = subscription_bytes(3, &["x"]);
        b[1] = 9;
        assert_eq!(decode_subscription(&b, false).unwrap().topics, vec!["x"]);
        assert!(decode_subscription(&[0, 0, 0, 0, 0, 5], true).is_err());
    }

    #[test]
    fn assignment_round_trip() {
        let a = decode_assignment(&assignment_bytes("t", &[0, 3])).unwrap();
        assert_eq!(a.assigned_partitions, vec![("t".to_string(), vec![0, 3])]);
        assert_eq!(a.user_data, None);
    }
}
