//! One member of a classic group (Kafka's `MemberMetadata`): identity, timeouts, the
//! protocols it supports with their metadata, its assignment, and the JoinGroup / SyncGroup
//! requests it has parked at the coordinator.

use bytes::Bytes;

use super::results::{
    JoinGroupResult, JoinResponder, MemberSummary, SyncGroupResult, SyncResponder,
};

/// See the module doc.
#[derive(Debug)]
pub struct MemberMetadata {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout_ms: i32,
    pub session_timeout_ms: i32,
    pub protocol_type: String,
    /// (protocol name, metadata) in the member's order of preference.
    pub supported_protocols: Vec<(String, Bytes)>,
    pub assignment: Bytes,
    /// A JoinGroup waiting for the rebalance to complete.
    pub awaiting_join: Option<JoinResponder>,
    /// A SyncGroup waiting for the leader's assignment.
    pub awaiting_sync: Option<SyncResponder>,
    /// Joined but not yet part of a completed generation.
    pub is_new: bool,
}

impl MemberMetadata {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        member_id: String,
        group_instance_id: Option<String>,
        client_id: String,
        client_host: String,
        rebalance_timeout_ms: i32,
        session_timeout_ms: i32,
        protocol_type: String,
        supported_protocols: Vec<(String, Bytes)>,
    ) -> MemberMetadata {
        MemberMetadata {
            member_id,
            group_instance_id,
            client_id,
            client_host,
            rebalance_timeout_ms,
            session_timeout_ms,
            protocol_type,
            supported_protocols,
            assignment: Bytes::new(),
            awaiting_join: None,
            awaiting_sync: None,
            is_new: false,
        }
    }

    pub fn is_static(&self) -> bool {
        self.group_instance_id.is_some()
    }

    pub fn is_awaiting_join(&self) -> bool {
        self.awaiting_join.is_some()
    }

    pub fn is_awaiting_sync(&self) -> bool {
        self.awaiting_sync.is_some()
    }

    /// Kafka's `hasSatisfiedHeartbeat` at the moment a heartbeat deadline is checked: a member
    /// parked in a rebalance (join or sync) needs no heartbeat, unless it is new (new members
    /// expire after the new-member join timeout while they wait).
    pub fn has_satisfied_heartbeat(&self) -> bool {
        !self.is_new && (self.is_awaiting_join() || self.is_awaiting_sync())
    }

    /// The member's metadata for `protocol` (empty if it does not support it).
    pub fn metadata(&self, protocol: &str) -> Bytes {
        self.supported_protocols
            .iter()
            .find(|(name, _)| name == protocol)
            .map(|(_, m)| m.clone())
            .unwrap_or_default()
    }

    /// Whether `protocols` are exactly the member's (same names, metadata and order).
    pub fn matches(&self, protocols: &[(String, Bytes)]) -> bool {
        self.supported_protocols == protocols
    }

    /// The member's first protocol among `candidates` (Kafka's `vote`).
    pub fn vote(&self, candidates: &[String]) -> Option<String> {
        self.supported_protocols
            .iter()
            .map(|(name, _)| name)
            .find(|name| candidates.contains(name))
            .cloned()
    }

    pub fn summary(&self, protocol: &str) -> MemberSummary {
        MemberSummary {
            member_id: self.member_id.clone(),
            group_instance_id: self.group_instance_id.clone(),
            client_id: self.client_id.clone(),
            client_host: self.client_host.clone(),
            metadata: self.metadata(protocol),
            assignment: self.assignment.clone(),
        }
    }

    pub fn summary_no_metadata(&self) -> MemberSummary {
        MemberSummary {
            member_id: self.member_id.clone(),
            group_instance_id: self.group_instance_id.clone(),
            client_id: self.client_id.clone(),
            client_host: self.client_host.clone(),
            metadata: Bytes::new(),
            assignment: Bytes::new(),
        }
    }

    /// Answers the parked JoinGroup, if any (Kafka's `maybeInvokeJoinCallback`).
    pub fn maybe_invoke_join(&mut self, result: JoinGroupResult) -> bool {
        match self.awaiting_join.take() {
            Some(tx) => {
                let _ = tx.send(result);
                true
            }
            None => false,
        }
    }

    /// Answers the parked SyncGroup, if any (Kafka's `maybeInvokeSyncCallback`).
    pub fn maybe_invoke_sync(&mut self, result: SyncGroupResult) -> bool {
        match self.awaiting_sync.take() {
            Some(tx) => {
                let _ = tx.send(result);
                true
            }
            None => false,
        }
    }
}
