//! The record formats of `__consumer_offsets` (Kafka's `OffsetCommitKey/Value` and
//! `GroupMetadataKey/Value` message specs, spec protocol-apis.md §6): every key and value is an
//! int16 version followed by the message at that version. Versions up to 3 use the classic
//! encoding (int16-length strings, int32-length bytes and arrays); version 4 of the values is
//! flexible (compact lengths and tagged fields), which Kafka 3.x reads but does not write.
//!
//! The key version says what the record is: 0–1 an offset commit, 2 group metadata; any other
//! version is a record type this coordinator does not know (skipped on load, as Kafka does).
//! Decoding never panics: truncated or malformed input is a [`SchemaError`].

use bytes::Bytes;

/// Why a key or value could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaError {
    #[error("truncated {0}")]
    Truncated(&'static str),
    #[error("invalid length {len} of {field}")]
    InvalidLength { field: &'static str, len: i64 },
    #[error("{0} is not valid UTF-8")]
    InvalidUtf8(&'static str),
    #[error("unsupported {what} version {version}")]
    UnsupportedVersion { what: &'static str, version: i16 },
    #[error("{0} bytes left after the message")]
    TrailingBytes(usize),
}

/// Offset commit key version Kafka writes.
pub const OFFSET_COMMIT_KEY_VERSION: i16 = 1;
/// Group metadata key version.
pub const GROUP_METADATA_KEY_VERSION: i16 = 2;
/// Offset commit value Kafka 3.x writes (the highest non-flexible one); an explicit expire
/// timestamp forces version 1.
pub const OFFSET_COMMIT_VALUE_VERSION: i16 = 3;
/// Group metadata value Kafka 3.x writes (the highest non-flexible one).
pub const GROUP_METADATA_VALUE_VERSION: i16 = 3;
/// Highest value version read (the flexible version 4 of both values).
pub const MAX_VALUE_VERSION: i16 = 4;

/// `OffsetCommitKey` (versions 0 and 1 are identical).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OffsetCommitKey {
    pub group: String,
    pub topic: String,
    pub partition: i32,
}

/// `OffsetCommitValue`: `leader_epoch` −1 = unknown (and before v3); `expire_timestamp` −1 =
/// none (only v1 has the field).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OffsetCommitValue {
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: String,
    pub commit_timestamp: i64,
    pub expire_timestamp: i64,
}

/// `GroupMetadataKey`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupMetadataKey {
    pub group: String,
}

/// `GroupMetadataValue.MemberMetadata`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberMetadataValue {
    pub member_id: String,
    /// v3+.
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    /// v1+ (0 when read from v0).
    pub rebalance_timeout: i32,
    pub session_timeout: i32,
    pub subscription: Bytes,
    pub assignment: Bytes,
}

/// `GroupMetadataValue`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupMetadataValue {
    pub protocol_type: String,
    pub generation: i32,
    pub protocol: Option<String>,
    pub leader: Option<String>,
    /// v2+ (−1 when unknown).
    pub current_state_timestamp: i64,
    pub members: Vec<MemberMetadataValue>,
}

/// A decoded key with its version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecordKey {
    OffsetCommit {
        version: i16,
        key: OffsetCommitKey,
    },
    GroupMetadata {
        version: i16,
        key: GroupMetadataKey,
    },
    /// A key version this coordinator does not know.
    Unknown {
        version: i16,
    },
}

// ------------------------------------------------------------------ reading

/// A cursor over a version-prefixed message.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf, pos: 0 }
    }

    fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], SchemaError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|e| *e <= self.buf.len())
            .ok_or(SchemaError::Truncated(field))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    pub(crate) fn i16(&mut self, field: &'static str) -> Result<i16, SchemaError> {
        let b = self.take(2, field)?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    }

    pub(crate) fn i32(&mut self, field: &'static str) -> Result<i32, SchemaError> {
        let b = self.take(4, field)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub(crate) fn i64(&mut self, field: &'static str) -> Result<i64, SchemaError> {
        let b = self.take(8, field)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(i64::from_be_bytes(a))
    }

    fn uvarint(&mut self, field: &'static str) -> Result<u32, SchemaError> {
        let mut value: u32 = 0;
        for i in 0..5 {
            let b = self.take(1, field)?[0];
            value |= u32::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(SchemaError::InvalidLength {
            field,
            len: i64::from(value),
        })
    }

    /// A length: int16/int32 (classic) or unsigned varint − 1 (compact); −1 = null.
    fn length(
        &mut self,
        compact: bool,
        wide: bool,
        field: &'static str,
    ) -> Result<i64, SchemaError> {
        if compact {
            Ok(i64::from(self.uvarint(field)?) - 1)
        } else if wide {
            Ok(i64::from(self.i32(field)?))
        } else {
            Ok(i64::from(self.i16(field)?))
        }
    }

    fn sized(&mut self, len: i64, field: &'static str) -> Result<Option<&'a [u8]>, SchemaError> {
        match len {
            -1 => Ok(None),
            n if n < -1 => Err(SchemaError::InvalidLength { field, len: n }),
            n => Ok(Some(self.take(
                usize::try_from(n).map_err(|_| SchemaError::InvalidLength { field, len: n })?,
                field,
            )?)),
        }
    }

    pub(crate) fn nullable_string(
        &mut self,
        compact: bool,
        field: &'static str,
    ) -> Result<Option<String>, SchemaError> {
        let len = self.length(compact, false, field)?;
        match self.sized(len, field)? {
            None => Ok(None),
            Some(b) => std::str::from_utf8(b)
                .map(|s| Some(s.to_string()))
                .map_err(|_| SchemaError::InvalidUtf8(field)),
        }
    }

    pub(crate) fn string(
        &mut self,
        compact: bool,
        field: &'static str,
    ) -> Result<String, SchemaError> {
        self.nullable_string(compact, field)?
            .ok_or(SchemaError::InvalidLength { field, len: -1 })
    }

    pub(crate) fn nullable_bytes(
        &mut self,
        compact: bool,
        field: &'static str,
    ) -> Result<Option<Bytes>, SchemaError> {
        let len = self.length(compact, true, field)?;
        Ok(self.sized(len, field)?.map(Bytes::copy_from_slice))
    }

    pub(crate) fn bytes(
        &mut self,
        compact: bool,
        field: &'static str,
    ) -> Result<Bytes, SchemaError> {
        self.nullable_bytes(compact, field)?
            .ok_or(SchemaError::InvalidLength { field, len: -1 })
    }

    /// An array count (never null here); bounded by the bytes left (every element takes at
    /// least one byte), so a forged count cannot make the caller reserve much.
    pub(crate) fn array_len(
        &mut self,
        compact: bool,
        field: &'static str,
    ) -> Result<usize, SchemaError> {
        let len = self.length(compact, true, field)?;
        let remaining = self.buf.len() - self.pos;
        match usize::try_from(len) {
            Ok(n) if n <= remaining => Ok(n),
            _ => Err(SchemaError::InvalidLength { field, len }),
        }
    }

    /// Skips a tagged-field section (flexible versions).
    pub(crate) fn tagged_fields(&mut self) -> Result<(), SchemaError> {
        let count = self.uvarint("tagged fields")?;
        for _ in 0..count {
            self.uvarint("tag")?;
            let size = self.uvarint("tagged field size")?;
            self.take(size as usize, "tagged field")?;
        }
        Ok(())
    }

    /// Kafka's generated readers ignore bytes after the last known field (a newer writer may
    /// have appended some); so do these.
    fn finish(&self) -> Result<(), SchemaError> {
        Ok(())
    }
}

/// Decodes a record key.
pub fn decode_key(bytes: &[u8]) -> Result<RecordKey, SchemaError> {
    let mut r = Reader::new(bytes);
    let version = r.i16("key version")?;
    let key = match version {
        0 | 1 => RecordKey::OffsetCommit {
            version,
            key: OffsetCommitKey {
                group: r.string(false, "group")?,
                topic: r.string(false, "topic")?,
                partition: r.i32("partition")?,
            },
        },
        2 => RecordKey::GroupMetadata {
            version,
            key: GroupMetadataKey {
                group: r.string(false, "group")?,
            },
        },
        _ => return Ok(RecordKey::Unknown { version }),
    };
    r.finish()?;
    Ok(key)
}

/// Decodes an offset commit value; returns its version too.
pub fn decode_offset_commit_value(bytes: &[u8]) -> Result<(i16, OffsetCommitValue), SchemaError> {
    let mut r = Reader::new(bytes);
    let version = r.i16("value version")?;
    if !(0..=MAX_VALUE_VERSION).contains(&version) {
        return Err(SchemaError::UnsupportedVersion {
            what: "offset commit value",
            version,
        });
    }
    let flexible = version >= 4;
    let offset = r.i64("offset")?;
    let leader_epoch = if version >= 3 {
        r.i32("leaderEpoch")?
    } else {
        -1
    };
    let metadata = r.string(flexible, "metadata")?;
    let commit_timestamp = r.i64("commitTimestamp")?;
    let expire_timestamp = if version == 1 {
        r.i64("expireTimestamp")?
    } else {
        -1
    };
    if flexible {
        r.tagged_fields()?;
    }
    r.finish()?;
    Ok((
        version,
        OffsetCommitValue {
            offset,
            leader_epoch,
            metadata,
            commit_timestamp,
            expire_timestamp,
        },
    ))
}

/// Decodes a group metadata value; returns its version too.
pub fn decode_group_metadata_value(bytes: &[u8]) -> Result<(i16, GroupMetadataValue), SchemaError> {
    let mut r = Reader::new(bytes);
    let version = r.i16("value version")?;
    if !(0..=MAX_VALUE_VERSION).contains(&version) {
        return Err(SchemaError::UnsupportedVersion {
            what: "group metadata value",
            version,
        });
    }
    let flexible = version >= 4;
    let protocol_type = r.string(flexible, "protocolType")?;
    let generation = r.i32("generation")?;
    let protocol = r.nullable_string(flexible, "protocol")?;
    let leader = r.nullable_string(flexible, "leader")?;
    let current_state_timestamp = if version >= 2 {
        r.i64("currentStateTimestamp")?
    } else {
        -1
    };
    let count = r.array_len(flexible, "members")?;
    let mut members = Vec::with_capacity(count);
    for _ in 0..count {
        let member_id = r.string(flexible, "memberId")?;
        let group_instance_id = if version >= 3 {
            r.nullable_string(flexible, "groupInstanceId")?
        } else {
            None
        };
        let client_id = r.string(flexible, "clientId")?;
        let client_host = r.string(flexible, "clientHost")?;
        let rebalance_timeout = if version >= 1 {
            r.i32("rebalanceTimeout")?
        } else {
            0
        };
        let session_timeout = r.i32("sessionTimeout")?;
        let subscription = r.bytes(flexible, "subscription")?;
        let assignment = r.bytes(flexible, "assignment")?;
        if flexible {
            r.tagged_fields()?;
        }
        members.push(MemberMetadataValue {
            member_id,
            group_instance_id,
            client_id,
            client_host,
            rebalance_timeout,
            session_timeout,
            subscription,
            assignment,
        });
    }
    if flexible {
        r.tagged_fields()?;
    }
    r.finish()?;
    Ok((
        version,
        GroupMetadataValue {
            protocol_type,
            generation,
            protocol,
            leader,
            current_state_timestamp,
            members,
        },
    ))
}

// ------------------------------------------------------------------ writing

fn put_string(out: &mut Vec<u8>, s: &str) {
    // Kafka's strings are at most i16::MAX bytes; longer input is cut at a char boundary
    // rather than writing a corrupt length (group ids and metadata are bounded far below).
    let mut end = s.len().min(i16::MAX as usize);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    out.extend_from_slice(&(end as i16).to_be_bytes());
    out.extend_from_slice(&s.as_bytes()[..end]);
}

fn put_nullable_string(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => put_string(out, s),
        None => out.extend_from_slice(&(-1i16).to_be_bytes()),
    }
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as i32).to_be_bytes());
    out.extend_from_slice(b);
}

/// An offset commit key at version 1.
pub fn encode_offset_commit_key(key: &OffsetCommitKey) -> Vec<u8> {
    let mut out = Vec::with_capacity(10 + key.group.len() + key.topic.len());
    out.extend_from_slice(&OFFSET_COMMIT_KEY_VERSION.to_be_bytes());
    put_string(&mut out, &key.group);
    put_string(&mut out, &key.topic);
    out.extend_from_slice(&key.partition.to_be_bytes());
    out
}

/// A group metadata key (version 2).
pub fn encode_group_metadata_key(key: &GroupMetadataKey) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + key.group.len());
    out.extend_from_slice(&GROUP_METADATA_KEY_VERSION.to_be_bytes());
    put_string(&mut out, &key.group);
    out
}

/// An offset commit value at `version` (0–3).
pub fn encode_offset_commit_value(value: &OffsetCommitValue, version: i16) -> Vec<u8> {
    let mut out = Vec::with_capacity(32 + value.metadata.len());
    out.extend_from_slice(&version.to_be_bytes());
    out.extend_from_slice(&value.offset.to_be_bytes());
    if version >= 3 {
        out.extend_from_slice(&value.leader_epoch.to_be_bytes());
    }
    put_string(&mut out, &value.metadata);
    out.extend_from_slice(&value.commit_timestamp.to_be_bytes());
    if version == 1 {
        out.extend_from_slice(&value.expire_timestamp.to_be_bytes());
    }
    out
}

/// A group metadata value at `version` (0–3).
pub fn encode_group_metadata_value(value: &GroupMetadataValue, version: i16) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(&version.to_be_bytes());
    put_string(&mut out, &value.protocol_type);
    out.extend_from_slice(&value.generation.to_be_bytes());
    put_nullable_string(&mut out, value.protocol.as_deref());
    put_nullable_string(&mut out, value.leader.as_deref());
    if version >= 2 {
        out.extend_from_slice(&value.current_state_timestamp.to_be_bytes());
    }
    out.extend_from_slice(&(value.members.len() as i32).to_be_bytes());
    for m in &value.members {
        put_string(&mut out, &m.member_id);
        if version >= 3 {
            put_nullable_string(&mut out, m.group_instance_id.as_deref());
        }
        put_string(&mut out, &m.client_id);
        put_string(&mut out, &m.client_host);
        if version >= 1 {
            out.extend_from_slice(&m.rebalance_timeout.to_be_bytes());
        }
        out.extend_from_slice(&m.session_timeout.to_be_bytes());
        put_bytes(&mut out, &m.subscription);
        put_bytes(&mut out, &m.assignment);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn offset_commit_key_bytes() {
        let key = OffsetCommitKey {
            group: "g".into(),
            topic: "t".into(),
            partition: 7,
        };
        let b = encode_offset_commit_key(&key);
        // version 1, "g", "t", partition 7
        assert_eq!(hex(&b), "0001000167000174".to_string() + "00000007");
        assert_eq!(
            decode_key(&b).unwrap(),
            RecordKey::OffsetCommit { version: 1, key }
        );
    }

    #[test]
    fn offset_commit_value_v3_and_v1_bytes() {
        let v = OffsetCommitValue {
            offset: 42,
            leader_epoch: 5,
            metadata: "m".into(),
            commit_timestamp: 1000,
            expire_timestamp: -1,
        };
        let b = encode_offset_commit_value(&v, 3);
        assert_eq!(
            hex(&b),
            "0003000000000000002a0000000500016d00000000000003e8"
        );
        assert_eq!(decode_offset_commit_value(&b).unwrap(), (3, v.clone()));
        let v1 = OffsetCommitValue {
            expire_timestamp: 2000,
            leader_epoch: -1,
            ..v
        };
        let b = encode_offset_commit_value(&v1, 1);
        assert_eq!(
            hex(&b),
            "0001000000000000002a00016d00000000000003e800000000000007d0"
        );
        assert_eq!(decode_offset_commit_value(&b).unwrap(), (1, v1));
    }

    #[test]
    fn flexible_offset_commit_value_v4_is_read() {
        // v4: offset, leaderEpoch, compact string "ab", commitTimestamp, no tagged fields.
        let mut b = vec![0, 4];
        b.extend_from_slice(&9i64.to_be_bytes());
        b.extend_from_slice(&(-1i32).to_be_bytes());
        b.extend_from_slice(&[3, b'a', b'b']);
        b.extend_from_slice(&77i64.to_be_bytes());
        b.push(0);
        let (version, v) = decode_offset_commit_value(&b).unwrap();
        assert_eq!(version, 4);
        assert_eq!(
            (
                v.offset,
                v.leader_epoch,
                v.metadata.as_str(),
                v.commit_timestamp
            ),
            (9, -1, "ab", 77)
        );
    }

    #[test]
    fn group_metadata_round_trip_at_every_written_version() {
        let value = GroupMetadataValue {
            protocol_type: "consumer".into(),
            generation: 3,
            protocol: Some("range".into()),
            leader: Some("m1".into()),
            current_state_timestamp: 123,
            members: vec![MemberMetadataValue {
                member_id: "m1".into(),
                group_instance_id: Some("i1".into()),
                client_id: "c".into(),
                client_host: "/127.0.0.1".into(),
                rebalance_timeout: 300_000,
                session_timeout: 10_000,
                subscription: Bytes::from_static(b"sub"),
                assignment: Bytes::from_static(b"as"),
            }],
        };
        let b = encode_group_metadata_value(&value, 3);
        assert_eq!(decode_group_metadata_value(&b).unwrap(), (3, value.clone()));
        // v2 drops the instance id; v1 the timestamp too; v0 the rebalance timeout.
        let (_, v2) = decode_group_metadata_value(&encode_group_metadata_value(&value, 2)).unwrap();
        assert_eq!(v2.members[0].group_instance_id, None);
        assert_eq!(v2.current_state_timestamp, 123);
        let (_, v0) = decode_group_metadata_value(&encode_group_metadata_value(&value, 0)).unwrap();
        assert_eq!(v0.current_state_timestamp, -1);
        assert_eq!(v0.members[0].rebalance_timeout, 0);
        let key = GroupMetadataKey {
            group: "grp".into(),
        };
        let kb = encode_group_metadata_key(&key);
        assert_eq!(hex(&kb), "00020003677270");
        assert_eq!(
            decode_key(&kb).unwrap(),
            RecordKey::GroupMetadata { version: 2, key }
        );
    }

    #[test]
    fn empty_group_metadata_bytes() {
        let value = GroupMetadataValue {
            protocol_type: "".into(),
            generation: 1,
            protocol: None,
            leader: None,
            current_state_timestamp: 5,
            members: vec![],
        };
        assert_eq!(
            hex(&encode_group_metadata_value(&value, 3)),
            "0003000000000001ffffffff000000000000000500000000"
        );
    }

    #[test]
    fn malformed_input_is_an_error_not_a_panic() {
        assert!(decode_key(&[0]).is_err());
        assert!(decode_key(&[0, 1, 0, 5, b'a']).is_err());
        assert_eq!(
            decode_key(&[0, 9]).unwrap(),
            RecordKey::Unknown { version: 9 }
        );
        assert!(decode_offset_commit_value(&[0, 7, 0]).is_err());
        // A forged member count larger than the input.
        let mut b = vec![0, 3, 0, 0, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff];
        b.extend_from_slice(&0i64.to_be_bytes());
        b.extend_from_slice(&i32::MAX.to_be_bytes());
        assert!(decode_group_metadata_value(&b).is_err());
        for n in 0..b.len() {
            let _ = decode_group_metadata_value(&b[..n]);
        }
    }
}
