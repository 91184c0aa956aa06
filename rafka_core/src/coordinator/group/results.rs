//! What the group coordinator answers (Kafka's `JoinGroupResult`, `SyncGroupResult`,
//! `LeaveGroupResult`, …) and the request parameters it takes, independent of the wire
//! versions; the API handlers in `server/apis/` translate both. `error: None` is NONE.

use bytes::Bytes;
use kafka_protocol::ResponseError;
use tokio::sync::oneshot;

use crate::cluster::TopicPartition;

/// Kafka's `JoinGroupRequest.UNKNOWN_MEMBER_ID`.
pub const UNKNOWN_MEMBER_ID: &str = "";
/// Kafka's `GroupCoordinator.NoGeneration`.
pub const NO_GENERATION: i32 = -1;

/// One member of a completed join, as the leader sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JoinGroupMember {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub metadata: Bytes,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JoinGroupResult {
    pub members: Vec<JoinGroupMember>,
    pub member_id: String,
    pub generation_id: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    /// "" when there is none.
    pub leader_id: String,
    pub skip_assignment: bool,
    pub error: Option<ResponseError>,
}

impl JoinGroupResult {
    /// Kafka's `JoinGroupResult(memberId, error)`.
    pub fn error(member_id: &str, error: ResponseError) -> JoinGroupResult {
        JoinGroupResult {
            members: Vec::new(),
            member_id: member_id.to_string(),
            generation_id: NO_GENERATION,
            protocol_type: None,
            protocol_name: None,
            leader_id: String::new(),
            skip_assignment: false,
            error: Some(error),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncGroupResult {
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub assignment: Bytes,
    pub error: Option<ResponseError>,
}

impl SyncGroupResult {
    pub fn error(error: ResponseError) -> SyncGroupResult {
        SyncGroupResult {
            protocol_type: None,
            protocol_name: None,
            assignment: Bytes::new(),
            error: Some(error),
        }
    }
}

/// One member named in a LeaveGroup (v3+ batches; v0–2 name one member by id).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeavingMember {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub reason: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaveMemberResult {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub error: Option<ResponseError>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaveGroupResult {
    pub error: Option<ResponseError>,
    pub members: Vec<LeaveMemberResult>,
}

/// A committed offset (Kafka's `OffsetAndMetadata`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OffsetAndMetadata {
    pub offset: i64,
    pub leader_epoch: Option<i32>,
    pub metadata: String,
    pub commit_timestamp: i64,
    /// OffsetCommit v2–4 with a retention time: commit time + retention (the old per-commit
    /// expiration, stored as value v1). `None`: the group-level retention applies.
    pub expire_timestamp: Option<i64>,
}

/// One partition of an OffsetFetch answer (Kafka's `OffsetFetchResponse.PartitionData`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchedOffset {
    pub offset: i64,
    pub leader_epoch: Option<i32>,
    pub metadata: String,
    pub error: Option<ResponseError>,
}

impl FetchedOffset {
    /// No committed offset: −1, no metadata, NONE.
    pub fn unknown() -> FetchedOffset {
        FetchedOffset {
            offset: -1,
            leader_epoch: None,
            metadata: String::new(),
            error: None,
        }
    }
}

/// A ListGroups entry (Kafka's `GroupOverview`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupOverview {
    pub group_id: String,
    pub protocol_type: String,
    pub state: String,
}

/// A DescribeGroups member (Kafka's `MemberSummary`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberSummary {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub metadata: Bytes,
    pub assignment: Bytes,
}

/// A DescribeGroups answer (Kafka's `GroupSummary`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupSummary {
    pub state: String,
    pub protocol_type: String,
    pub protocol: String,
    pub members: Vec<MemberSummary>,
}

impl GroupSummary {
    /// Kafka's `EmptyGroup` (answered with an error).
    pub fn empty() -> GroupSummary {
        GroupSummary {
            state: String::new(),
            protocol_type: String::new(),
            protocol: String::new(),
            members: Vec::new(),
        }
    }

    /// Kafka's `DeadGroup` (an unknown group).
    pub fn dead() -> GroupSummary {
        GroupSummary {
            state: "Dead".to_string(),
            ..GroupSummary::empty()
        }
    }
}

/// JoinGroup as the coordinator takes it (Kafka's `handleJoinGroup` arguments).
#[derive(Clone, Debug)]
pub struct JoinGroupParams {
    pub group_id: String,
    pub member_id: String,
    pub group_instance_id: Option<String>,
    /// v4+: a new dynamic member first gets an id with MEMBER_ID_REQUIRED.
    pub require_known_member_id: bool,
    /// v9+: static leaders may skip the assignment.
    pub support_skipping_assignment: bool,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout_ms: i32,
    pub session_timeout_ms: i32,
    pub protocol_type: String,
    pub protocols: Vec<(String, Bytes)>,
    pub reason: Option<String>,
}

#[derive(Clone, Debug)]
pub struct SyncGroupParams {
    pub group_id: String,
    pub generation_id: i32,
    pub member_id: String,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub group_instance_id: Option<String>,
    pub assignments: Vec<(String, Bytes)>,
}

#[derive(Clone, Debug)]
pub struct HeartbeatParams {
    pub group_id: String,
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub generation_id: i32,
}

#[derive(Clone, Debug)]
pub struct CommitOffsetsParams {
    pub group_id: String,
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub generation_id: i32,
    pub offsets: Vec<(TopicPartition, OffsetAndMetadata)>,
}

/// OffsetDelete's answer: the group error, else per-partition results.
pub type DeleteOffsetsResults = (
    Option<ResponseError>,
    Vec<(TopicPartition, Option<ResponseError>)>,
);

/// Per-partition commit results, in request order.
pub type CommitResults = Vec<(TopicPartition, Option<ResponseError>)>;

pub type JoinResponder = oneshot::Sender<JoinGroupResult>;
pub type SyncResponder = oneshot::Sender<SyncGroupResult>;
pub type CommitResponder = oneshot::Sender<CommitResults>;

/// Answers a parked request; a requester that went away (connection closed) is ignored.
pub fn reply<T>(to: oneshot::Sender<T>, value: T) {
    let _ = to.send(value);
}
