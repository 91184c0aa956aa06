//! The `__consumer_offsets` record decoder of `rafka dump-log --offsets-decoder` (Kafka's
//! `DumpLogSegments.OffsetsMessageParser`): the key as `{"type":"<key version>","data":{…}}`,
//! the value as `{"version":"<value version>","data":{…}}` or `<DELETE>` for a tombstone, with
//! the fields in schema order as Kafka's generated JSON converters write them (bytes in
//! base64). For groups of protocol type `consumer`, each member's subscription and assignment
//! are replaced by their decoded `ConsumerProtocol` form when they parse.

use base64::Engine;

use super::consumer_protocol::{decode_assignment, decode_subscription, CONSUMER_PROTOCOL_TYPE};
use super::offsets_schema::{
    decode_group_metadata_value, decode_key, decode_offset_commit_value, GroupMetadataValue,
    OffsetCommitValue, RecordKey,
};

/// Kafka's parse result: the text after ` key: ` and after ` payload: ` (either may be absent).
pub fn parse_record(
    offset: i64,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
) -> (Option<String>, Option<String>) {
    let Some(key) = key else {
        return (
            Some(format!(
                "Failed to decode message at offset {offset} using offset topic decoder (message had a missing key)"
            )),
            None,
        );
    };
    let decoded = match decode_key(key) {
        Ok(k) => k,
        Err(e) => {
            return (
                Some(format!("Error at offset {offset}, skipping. {e}")),
                None,
            )
        }
    };
    let (version, data) = match &decoded {
        RecordKey::Unknown { version } => {
            return (
                Some(format!(
                    "Unknown record type {version} at offset {offset}, skipping."
                )),
                None,
            )
        }
        RecordKey::OffsetCommit { version, key } => (
            *version,
            format!(
                "{{\"group\":{},\"topic\":{},\"partition\":{}}}",
                jstr(&key.group),
                jstr(&key.topic),
                key.partition
            ),
        ),
        RecordKey::GroupMetadata { version, key } => {
            (*version, format!("{{\"group\":{}}}", jstr(&key.group)))
        }
    };
    let key_json = format!("{{\"type\":\"{version}\",\"data\":{data}}}");
    let Some(value) = value else {
        return (Some(key_json), Some("<DELETE>".to_string()));
    };
    let value_json = match decoded {
        RecordKey::OffsetCommit { .. } => {
            decode_offset_commit_value(value).map(|(v, data)| (v, offset_commit_json(&data, v)))
        }
        _ => decode_group_metadata_value(value).map(|(v, data)| (v, group_metadata_json(&data, v))),
    };
    match value_json {
        Ok((v, data)) => (
            Some(key_json),
            Some(format!("{{\"version\":\"{v}\",\"data\":{data}}}")),
        ),
        Err(e) => (
            Some(format!("Error at offset {offset}, skipping. {e}")),
            None,
        ),
    }
}

fn jstr(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_string())
}

fn jopt(s: Option<&str>) -> String {
    s.map_or_else(|| "null".to_string(), jstr)
}

fn jbytes(b: Option<&[u8]>) -> String {
    match b {
        Some(b) => format!(
            "\"{}\"",
            base64::engine::general_purpose::STANDARD.encode(b)
        ),
        None => "null".to_string(),
    }
}

fn offset_commit_json(v: &OffsetCommitValue, version: i16) -> String {
    let mut s = format!("{{\"offset\":{}", v.offset);
    if version >= 3 {
        s.push_str(&format!(",\"leaderEpoch\":{}", v.leader_epoch));
    }
    s.push_str(&format!(
        ",\"metadata\":{},\"commitTimestamp\":{}",
        jstr(&v.metadata),
        v.commit_timestamp
    ));
    if version == 1 {
        s.push_str(&format!(",\"expireTimestamp\":{}", v.expire_timestamp));
    }
    s.push('}');
    s
}

fn topic_partitions_json(tps: &[(String, Vec<i32>)]) -> String {
    let items: Vec<String> = tps
        .iter()
        .map(|(t, ps)| {
            let ps: Vec<String> = ps.iter().map(i32::to_string).collect();
            format!(
                "{{\"topic\":{},\"partitions\":[{}]}}",
                jstr(t),
                ps.join(",")
            )
        })
        .collect();
    format!("[{}]", items.join(","))
}

/// The decoded subscription, or `None` to keep the bytes (Kafka refuses versions above 3).
fn subscription_json(bytes: &[u8]) -> Option<String> {
    if bytes.len() >= 2 && i16::from_be_bytes([bytes[0], bytes[1]]) > 3 {
        return None;
    }
    let s = decode_subscription(bytes, false).ok()?;
    let topics: Vec<String> = s.topics.iter().map(|t| jstr(t)).collect();
    let mut out = format!(
        "{{\"topics\":[{}],\"userData\":{}",
        topics.join(","),
        jbytes(s.user_data.as_deref())
    );
    if s.version >= 1 {
        out.push_str(&format!(
            ",\"ownedPartitions\":{}",
            topic_partitions_json(&s.owned_partitions)
        ));
    }
    if s.version >= 2 {
        out.push_str(&format!(",\"generationId\":{}", s.generation_id));
    }
    if s.version >= 3 {
        out.push_str(&format!(",\"rackId\":{}", jopt(s.rack_id.as_deref())));
    }
    out.push('}');
    Some(out)
}

fn assignment_json(bytes: &[u8]) -> Option<String> {
    if bytes.len() >= 2 && i16::from_be_bytes([bytes[0], bytes[1]]) > 3 {
        return None;
    }
    let a = decode_assignment(bytes).ok()?;
    Some(format!(
        "{{\"assignedPartitions\":{},\"userData\":{}}}",
        topic_partitions_json(&a.assigned_partitions),
        jbytes(a.user_data.as_deref())
    ))
}

fn group_metadata_json(v: &GroupMetadataValue, version: i16) -> String {
    let consumer = v.protocol_type == CONSUMER_PROTOCOL_TYPE;
    let mut s = format!(
        "{{\"protocolType\":{},\"generation\":{},\"protocol\":{},\"leader\":{}",
        jstr(&v.protocol_type),
        v.generation,
        jopt(v.protocol.as_deref()),
        jopt(v.leader.as_deref())
    );
    if version >= 2 {
        s.push_str(&format!(
            ",\"currentStateTimestamp\":{}",
            v.current_state_timestamp
        ));
    }
    let members: Vec<String> = v
        .members
        .iter()
        .map(|m| {
            let mut o = format!("{{\"memberId\":{}", jstr(&m.member_id));
            if version >= 3 {
                o.push_str(&format!(
                    ",\"groupInstanceId\":{}",
                    jopt(m.group_instance_id.as_deref())
                ));
            }
            o.push_str(&format!(
                ",\"clientId\":{},\"clientHost\":{}",
                jstr(&m.client_id),
                jstr(&m.client_host)
            ));
            if version >= 1 {
                o.push_str(&format!(",\"rebalanceTimeout\":{}", m.rebalance_timeout));
            }
            let subscription = consumer
                .then(|| subscription_json(&m.subscription))
                .flatten()
                .unwrap_or_else(|| jbytes(Some(&m.subscription)));
            let assignment = consumer
                .then(|| assignment_json(&m.assignment))
                .flatten()
                .unwrap_or_else(|| jbytes(Some(&m.assignment)));
            o.push_str(&format!(
                ",\"sessionTimeout\":{},\"subscription\":{subscription},\"assignment\":{assignment}}}",
                m.session_timeout
            ));
            o
        })
        .collect();
    s.push_str(&format!(",\"members\":[{}]}}", members.join(",")));
    s
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::super::consumer_protocol::tests::{assignment_bytes, subscription_bytes};
    use super::super::offsets_schema::*;
    use super::*;

    #[test]
    fn offset_commit_records_print_like_kafka() {
        let key = encode_offset_commit_key(&OffsetCommitKey {
            group: "g".into(),
            topic: "t".into(),
            partition: 2,
        });
        let value = encode_offset_commit_value(
            &OffsetCommitValue {
                offset: 10,
                leader_epoch: -1,
                metadata: "".into(),
                commit_timestamp: 99,
                expire_timestamp: -1,
            },
            3,
        );
        let (k, v) = parse_record(5, Some(&key), Some(&value));
        assert_eq!(
            k.unwrap(),
            r#"{"type":"1","data":{"group":"g","topic":"t","partition":2}}"#
        );
        assert_eq!(
            v.unwrap(),
            r#"{"version":"3","data":{"offset":10,"leaderEpoch":-1,"metadata":"","commitTimestamp":99}}"#
        );
        let (_, tombstone) = parse_record(6, Some(&key), None);
        assert_eq!(tombstone.unwrap(), "<DELETE>");
    }

    #[test]
    fn consumer_group_members_are_decoded() {
        let key = encode_group_metadata_key(&GroupMetadataKey { group: "g".into() });
        let value = encode_group_metadata_value(
            &GroupMetadataValue {
                protocol_type: "consumer".into(),
                generation: 1,
                protocol: Some("range".into()),
                leader: Some("m".into()),
                current_state_timestamp: 7,
                members: vec![MemberMetadataValue {
                    member_id: "m".into(),
                    group_instance_id: None,
                    client_id: "c".into(),
                    client_host: "/127.0.0.1".into(),
                    rebalance_timeout: 300,
                    session_timeout: 100,
                    subscription: Bytes::from(subscription_bytes(1, &["t"])),
                    assignment: Bytes::from(assignment_bytes("t", &[0, 1])),
                }],
            },
            3,
        );
        let (k, v) = parse_record(0, Some(&key), Some(&value));
        assert_eq!(k.unwrap(), r#"{"type":"2","data":{"group":"g"}}"#);
        assert_eq!(
            v.unwrap(),
            concat!(
                r#"{"version":"3","data":{"protocolType":"consumer","generation":1,"protocol":"range","leader":"m","#,
                r#""currentStateTimestamp":7,"members":[{"memberId":"m","groupInstanceId":null,"clientId":"c","#,
                r#""clientHost":"/127.0.0.1","rebalanceTimeout":300,"sessionTimeout":100,"#,
                r#""subscription":{"topics":["t"],"userData":null,"ownedPartitions":[]},"#,
                r#""assignment":{"assignedPartitions":[{"topic":"t","partitions":[0,1]}],"userData":null}}]}}"#
            )
        );
    }

    #[test]
    fn unknown_and_broken_records() {
        let (k, v) = parse_record(3, Some(&[0, 12, 1, 2]), Some(b"x"));
        assert_eq!(k.unwrap(), "Unknown record type 12 at offset 3, skipping.");
        assert_eq!(v, None);
        let (k, _) = parse_record(4, Some(&[0, 1, 0]), None);
        assert!(k.unwrap().starts_with("Error at offset 4, skipping."));
        let (k, _) = parse_record(8, None, Some(b"x"));
        assert!(k.unwrap().contains("missing key"));
    }
}
