//! State-machine tests of the group coordinator (spec protocol-apis.md §4–5): every state
//! transition and every error code of the group APIs, driven with explicit time and a fake
//! offsets log, no I/O.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use kafka_protocol::ResponseError;
use tokio::sync::oneshot;

use super::config::{GroupConfig, OffsetConfig};
use super::consumer_protocol::tests::{assignment_bytes, subscription_bytes};
use super::group_coordinator::GroupCoordinator;
use super::group_metadata::GroupState;
use super::group_metadata_manager::{Appended, GroupMetadataManager, LoadedRecord, OffsetsLog};
use super::offsets_schema::{decode_group_metadata_value, decode_key, RecordKey};
use super::results::*;
use crate::cluster::TopicPartition;
use crate::record::SimpleRecord;

use ResponseError::*;

#[derive(Default)]
struct LogState {
    appends: Vec<(i32, Vec<SimpleRecord>, i16)>,
    fail: Option<ResponseError>,
    not_replicated: bool,
    next_offset: i64,
}

struct FakeLog(Arc<Mutex<LogState>>);

impl OffsetsLog for FakeLog {
    fn append(
        &self,
        partition: i32,
        records: &[SimpleRecord],
        required_acks: i16,
        _now: i64,
    ) -> Result<Appended, ResponseError> {
        let mut s = self.0.lock().unwrap();
        if let Some(e) = s.fail {
            return Err(e);
        }
        s.appends.push((partition, records.to_vec(), required_acks));
        let base = s.next_offset;
        s.next_offset += records.len() as i64;
        Ok(Appended {
            base_offset: base,
            next_offset: s.next_offset,
            replicated: !s.not_replicated,
        })
    }
}

const T0: i64 = 1_000_000;
const SESSION: i32 = 10_000;
const REBALANCE: i32 = 20_000;

fn protocols(topics: &[&str]) -> Vec<(String, Bytes)> {
    vec![(
        "range".to_string(),
        Bytes::from(subscription_bytes(0, topics)),
    )]
}

fn jp(group: &str, member: &str) -> JoinGroupParams {
    JoinGroupParams {
        group_id: group.to_string(),
        member_id: member.to_string(),
        group_instance_id: None,
        require_known_member_id: false,
        support_skipping_assignment: false,
        client_id: "client".to_string(),
        client_host: "/127.0.0.1".to_string(),
        rebalance_timeout_ms: REBALANCE,
        session_timeout_ms: SESSION,
        protocol_type: "consumer".to_string(),
        protocols: protocols(&["t"]),
        reason: None,
    }
}

fn done<T>(mut rx: oneshot::Receiver<T>) -> T {
    rx.try_recv()
        .expect("the request should have been answered")
}

fn parked<T: std::fmt::Debug>(rx: &mut oneshot::Receiver<T>) {
    assert!(
        matches!(rx.try_recv(), Err(oneshot::error::TryRecvError::Empty)),
        "the request should still be parked"
    );
}

struct T {
    c: GroupCoordinator,
    log: Arc<Mutex<LogState>>,
    now: i64,
}

fn group_config() -> GroupConfig {
    GroupConfig {
        min_session_timeout_ms: 1000,
        max_session_timeout_ms: 60_000,
        max_size: i32::MAX,
        initial_rebalance_delay_ms: 0,
    }
}

impl T {
    fn new() -> T {
        T::with(group_config(), OffsetConfig::default())
    }

    /// One offsets partition (every group maps to it), owned and loaded.
    fn with(gc: GroupConfig, oc: OffsetConfig) -> T {
        let log = Arc::new(Mutex::new(LogState::default()));
        let mut c = GroupCoordinator::new(1, gc, oc, 1, Box::new(FakeLog(Arc::clone(&log))));
        c.startup();
        assert!(c.on_election(0, 0));
        c.complete_load(0, 0, Ok(Vec::new()), T0);
        T { c, log, now: T0 }
    }

    fn join(&mut self, p: JoinGroupParams) -> oneshot::Receiver<JoinGroupResult> {
        let (tx, rx) = oneshot::channel();
        self.c.handle_join_group(p, self.now, tx);
        rx
    }

    fn sync(
        &mut self,
        group: &str,
        generation: i32,
        member: &str,
        assignments: Vec<(String, Bytes)>,
    ) -> oneshot::Receiver<SyncGroupResult> {
        let (tx, rx) = oneshot::channel();
        self.c.handle_sync_group(
            SyncGroupParams {
                group_id: group.to_string(),
                generation_id: generation,
                member_id: member.to_string(),
                protocol_type: None,
                protocol_name: None,
                group_instance_id: None,
                assignments,
            },
            self.now,
            tx,
        );
        rx
    }

    fn hb(&mut self, group: &str, generation: i32, member: &str) -> Option<ResponseError> {
        self.c.handle_heartbeat(
            HeartbeatParams {
                group_id: group.to_string(),
                member_id: member.to_string(),
                group_instance_id: None,
                generation_id: generation,
            },
            self.now,
        )
    }

    fn commit_as(
        &mut self,
        group: &str,
        member: &str,
        generation: i32,
        offsets: &[(&str, i32, i64)],
    ) -> oneshot::Receiver<CommitResults> {
        let (tx, rx) = oneshot::channel();
        self.c.handle_commit_offsets(
            CommitOffsetsParams {
                group_id: group.to_string(),
                member_id: member.to_string(),
                group_instance_id: None,
                generation_id: generation,
                offsets: offsets
                    .iter()
                    .map(|(t, p, o)| {
                        (
                            TopicPartition::new(*t, *p),
                            OffsetAndMetadata {
                                offset: *o,
                                leader_epoch: None,
                                metadata: String::new(),
                                commit_timestamp: self.now,
                                expire_timestamp: None,
                            },
                        )
                    })
                    .collect(),
            },
            self.now,
            tx,
        );
        rx
    }

    /// A simple (admin) commit: no member, generation −1.
    fn commit(&mut self, group: &str, offsets: &[(&str, i32, i64)]) -> CommitResults {
        done(self.commit_as(group, "", -1, offsets))
    }

    fn tick(&mut self, ms: i64) {
        self.now += ms;
        self.c.fire_due(self.now);
    }

    fn state(&self, group: &str) -> Option<GroupState> {
        self.c.group_state(group)
    }

    fn leave(&mut self, group: &str, member: &str, instance: Option<&str>) -> LeaveGroupResult {
        self.c.handle_leave_group(
            group,
            vec![LeavingMember {
                member_id: member.to_string(),
                group_instance_id: instance.map(str::to_string),
                reason: None,
            }],
            self.now,
        )
    }

    fn fetch(&self, group: &str, topic: &str, partition: i32) -> FetchedOffset {
        let tps = [TopicPartition::new(topic, partition)];
        self.c
            .handle_fetch_offsets(group, false, Some(&tps))
            .unwrap()
            .remove(0)
            .1
    }

    /// A Stable group of `n` dynamic members: (generation, member ids, leader).
    fn stable_group(&mut self, group: &str, n: usize) -> (i32, Vec<String>, String) {
        let rxs: Vec<_> = (0..n).map(|_| self.join(jp(group, ""))).collect();
        self.tick(0);
        let results: Vec<JoinGroupResult> = rxs.into_iter().map(done).collect();
        let generation = results[0].generation_id;
        let leader = results[0].leader_id.clone();
        let members: Vec<String> = results.iter().map(|r| r.member_id.clone()).collect();
        assert_eq!(self.state(group), Some(GroupState::CompletingRebalance));
        let assignments: Vec<(String, Bytes)> = members
            .iter()
            .enumerate()
            .map(|(i, m)| (m.clone(), Bytes::from(assignment_bytes("t", &[i as i32]))))
            .collect();
        let followers: Vec<_> = members
            .iter()
            .filter(|m| **m != leader)
            .map(|m| self.sync(group, generation, m, Vec::new()))
            .collect();
        let l = done(self.sync(group, generation, &leader, assignments));
        assert_eq!(l.error, None);
        for f in followers {
            assert_eq!(done(f).error, None);
        }
        assert_eq!(self.state(group), Some(GroupState::Stable));
        (generation, members, leader)
    }

    fn group_records(&self) -> Vec<(String, Option<Vec<u8>>)> {
        self.log
            .lock()
            .unwrap()
            .appends
            .iter()
            .flat_map(|(_, rs, _)| rs.clone())
            .filter_map(|r| match decode_key(r.key.as_deref()?) {
                Ok(RecordKey::GroupMetadata { key, .. }) => Some((key.group, r.value)),
                _ => None,
            })
            .collect()
    }
}

// ==================================================================== state table

#[test]
fn transition_table_matches_kafka() {
    use GroupState::*;
    let all = [PreparingRebalance, CompletingRebalance, Stable, Dead, Empty];
    let allowed = |to: GroupState, from: GroupState| match to {
        Empty => from == PreparingRebalance,
        PreparingRebalance => matches!(from, Stable | CompletingRebalance | Empty),
        CompletingRebalance => from == PreparingRebalance,
        Stable => from == CompletingRebalance,
        Dead => true,
    };
    for from in all {
        for to in all {
            let mut g = super::group_metadata::GroupMetadata::new("g", from, 0, 1);
            assert_eq!(g.transition_to(to, 5), allowed(to, from), "{from} -> {to}");
            assert_eq!(g.current_state(), if allowed(to, from) { to } else { from });
        }
    }
}

// ==================================================================== pre-checks

#[test]
fn empty_group_id_is_invalid_except_for_offset_and_admin_apis() {
    let mut t = T::new();
    assert_eq!(done(t.join(jp("", ""))).error, Some(InvalidGroupId));
    assert_eq!(done(t.sync("", 0, "m", vec![])).error, Some(InvalidGroupId));
    assert_eq!(t.hb("", 0, "m"), Some(InvalidGroupId));
    assert_eq!(t.leave("", "m", None).error, Some(InvalidGroupId));
    assert_eq!(
        t.c.handle_delete_offsets("", &[], t.now).0,
        Some(InvalidGroupId)
    );
    // Commit, fetch, describe and delete accept "".
    assert_eq!(
        t.commit("", &[("t", 0, 1)]),
        vec![(TopicPartition::new("t", 0), None)]
    );
    assert_eq!(t.fetch("", "t", 0).offset, 1);
    assert_eq!(t.c.handle_describe_group("").0, None);
    assert_eq!(
        t.c.handle_delete_groups(&["".to_string()], t.now)[0].1,
        None
    );
}

#[test]
fn inactive_coordinator_is_not_available() {
    let log = Arc::new(Mutex::new(LogState::default()));
    let c = GroupCoordinator::new(
        1,
        group_config(),
        OffsetConfig::default(),
        1,
        Box::new(FakeLog(log)),
    );
    let mut t = T {
        c,
        log: Arc::new(Mutex::new(LogState::default())),
        now: T0,
    };
    assert_eq!(
        done(t.join(jp("g", ""))).error,
        Some(CoordinatorNotAvailable)
    );
    assert_eq!(t.hb("g", 0, "m"), Some(CoordinatorNotAvailable));
    assert_eq!(
        t.c.handle_list_groups(&[], &[]).0,
        Some(CoordinatorNotAvailable)
    );
}

#[test]
fn loading_partition_answers_load_in_progress_heartbeat_none_sync_rebalance() {
    let log = Arc::new(Mutex::new(LogState::default()));
    let mut c = GroupCoordinator::new(
        1,
        group_config(),
        OffsetConfig::default(),
        1,
        Box::new(FakeLog(Arc::clone(&log))),
    );
    c.startup();
    assert!(c.on_election(0, 3));
    let mut t = T { c, log, now: T0 };
    assert_eq!(
        done(t.join(jp("g", ""))).error,
        Some(CoordinatorLoadInProgress)
    );
    assert_eq!(t.hb("g", 1, "m"), None);
    assert_eq!(
        done(t.sync("g", 1, "m", vec![])).error,
        Some(RebalanceInProgress)
    );
    assert_eq!(
        done(t.commit_as("g", "", -1, &[("t", 0, 1)]))[0].1,
        Some(CoordinatorLoadInProgress)
    );
    assert_eq!(
        t.c.handle_fetch_offsets("g", false, None),
        Err(CoordinatorLoadInProgress)
    );
    assert_eq!(
        t.c.handle_list_groups(&[], &[]).0,
        Some(CoordinatorLoadInProgress)
    );
    assert_eq!(
        t.leave("g", "m", None).error,
        Some(CoordinatorLoadInProgress)
    );
    // A stale epoch does not load; the current one does.
    t.c.complete_load(0, 2, Ok(Vec::new()), t.now);
    assert_eq!(t.hb("g", 1, "m"), None);
    t.c.complete_load(0, 3, Ok(Vec::new()), t.now);
    assert_eq!(t.hb("g", 1, "m"), Some(UnknownMemberId));
}

#[test]
fn partition_not_led_here_is_not_coordinator() {
    let log = Arc::new(Mutex::new(LogState::default()));
    let mut c = GroupCoordinator::new(
        1,
        group_config(),
        OffsetConfig::default(),
        2,
        Box::new(FakeLog(Arc::clone(&log))),
    );
    c.startup();
    c.on_election(0, 0);
    c.complete_load(0, 0, Ok(Vec::new()), T0);
    let mut t = T { c, log, now: T0 };
    // Find a group on each partition.
    let on = |p: i32| {
        (0..100)
            .map(|i| format!("g{i}"))
            .find(|g| super::partition_for(g, 2) == p)
            .unwrap()
    };
    let (local, remote) = (on(0), on(1));
    assert_eq!(done(t.join(jp(&remote, ""))).error, Some(NotCoordinator));
    assert_eq!(t.hb(&remote, 0, "m"), Some(NotCoordinator));
    assert_eq!(t.c.handle_describe_group(&remote).0, Some(NotCoordinator));
    assert_eq!(
        t.c.handle_delete_groups(std::slice::from_ref(&remote), t.now)[0].1,
        Some(NotCoordinator)
    );
    assert_eq!(t.hb(&local, 0, "m"), Some(UnknownMemberId));
}

#[test]
fn dead_group_is_coordinator_not_available() {
    let mut t = T::new();
    let (generation, members, _) = t.stable_group("g", 1);
    t.c.manager
        .get_group_mut("g")
        .unwrap()
        .transition_to(GroupState::Dead, t.now);
    assert_eq!(
        t.hb("g", generation, &members[0]),
        Some(CoordinatorNotAvailable)
    );
    assert_eq!(
        done(t.sync("g", generation, &members[0], vec![])).error,
        Some(CoordinatorNotAvailable)
    );
    assert_eq!(
        done(t.join(jp("g", &members[0]))).error,
        Some(CoordinatorNotAvailable)
    );
    assert_eq!(
        t.leave("g", &members[0], None).error,
        Some(CoordinatorNotAvailable)
    );
    assert_eq!(
        done(t.commit_as("g", &members[0], generation, &[("t", 0, 1)]))[0].1,
        Some(CoordinatorNotAvailable)
    );
}

// ==================================================================== JoinGroup

#[test]
fn join_session_timeout_out_of_bounds() {
    let mut t = T::new();
    let mut p = jp("g", "");
    p.session_timeout_ms = 999;
    assert_eq!(done(t.join(p.clone())).error, Some(InvalidSessionTimeout));
    p.session_timeout_ms = 60_001;
    assert_eq!(done(t.join(p)).error, Some(InvalidSessionTimeout));
    assert_eq!(t.state("g"), None);
}

#[test]
fn join_inconsistent_protocols() {
    let mut t = T::new();
    let mut p = jp("g", "");
    p.protocol_type = String::new();
    assert_eq!(done(t.join(p)).error, Some(InconsistentGroupProtocol));
    let mut p = jp("g", "");
    p.protocols.clear();
    assert_eq!(done(t.join(p)).error, Some(InconsistentGroupProtocol));
    t.stable_group("g", 1);
    let mut p = jp("g", "");
    p.protocol_type = "connect".to_string();
    assert_eq!(done(t.join(p)).error, Some(InconsistentGroupProtocol));
    let mut p = jp("g", "");
    p.protocols = vec![("roundrobin".to_string(), Bytes::new())];
    assert_eq!(done(t.join(p)).error, Some(InconsistentGroupProtocol));
}

#[test]
fn join_group_max_size() {
    let mut gc = group_config();
    gc.max_size = 1;
    let mut t = T::with(gc, OffsetConfig::default());
    t.stable_group("g", 1);
    let r = done(t.join(jp("g", "")));
    assert_eq!(r.error, Some(GroupMaxSizeReached));
    assert_eq!(r.member_id, "");
    assert_eq!(t.state("g"), Some(GroupState::Stable));
}

#[test]
fn member_id_required_then_pending_member_joins_or_expires() {
    let mut t = T::new();
    let mut p = jp("g", "");
    p.require_known_member_id = true;
    let r = done(t.join(p.clone()));
    assert_eq!(r.error, Some(MemberIdRequired));
    assert!(r.member_id.starts_with("client-"), "{}", r.member_id);
    assert_eq!(r.generation_id, -1);
    // The group exists (Empty) with a pending member: the join waits for it.
    assert_eq!(t.state("g"), Some(GroupState::Empty));
    let mut p2 = p.clone();
    p2.member_id = r.member_id.clone();
    let rx = t.join(p2.clone());
    t.tick(0);
    let joined = done(rx);
    assert_eq!(joined.error, None);
    assert_eq!(joined.member_id, r.member_id);
    assert_eq!(joined.generation_id, 1);
    assert_eq!(joined.leader_id, r.member_id);

    // A second pending id that never comes back expires after the session timeout.
    let r2 = done(t.join(p.clone()));
    assert_eq!(r2.error, Some(MemberIdRequired));
    t.tick(i64::from(SESSION));
    let mut late = p;
    late.member_id = r2.member_id;
    assert_eq!(done(t.join(late)).error, Some(UnknownMemberId));
}

#[test]
fn join_unknown_member_ids() {
    let mut t = T::new();
    assert_eq!(
        done(t.join(jp("absent", "m-1"))).error,
        Some(UnknownMemberId)
    );
    assert_eq!(t.state("absent"), None);
    t.stable_group("g", 1);
    assert_eq!(
        done(t.join(jp("g", "m-unknown"))).error,
        Some(UnknownMemberId)
    );
    // A known member id sent to an Empty group (a commit-only group).
    t.commit("simple", &[("t", 0, 5)]);
    assert_eq!(t.state("simple"), Some(GroupState::Empty));
    assert_eq!(
        done(t.join(jp("simple", "m-1"))).error,
        Some(UnknownMemberId)
    );
}

#[test]
fn fenced_static_member() {
    let mut t = T::new();
    let mut p = jp("g", "");
    p.group_instance_id = Some("i1".to_string());
    let rx = t.join(p.clone());
    t.tick(0);
    let first = done(rx);
    assert!(first.member_id.starts_with("i1-"));
    let mut stale = p.clone();
    stale.member_id = "i1-old".to_string();
    assert_eq!(done(t.join(stale)).error, Some(FencedInstanceId));
    assert_eq!(
        t.c.handle_heartbeat(
            HeartbeatParams {
                group_id: "g".into(),
                member_id: "i1-old".into(),
                group_instance_id: Some("i1".into()),
                generation_id: first.generation_id,
            },
            t.now
        ),
        Some(FencedInstanceId)
    );
    // An unknown instance id with a member id → UNKNOWN_MEMBER_ID.
    let mut other = p;
    other.member_id = first.member_id.clone();
    other.group_instance_id = Some("i2".to_string());
    assert_eq!(done(t.join(other)).error, Some(UnknownMemberId));
}

// ==================================================================== rebalances

#[test]
fn initial_delayed_join_never_completes_early_and_is_rearmed_while_members_arrive() {
    let mut gc = group_config();
    gc.initial_rebalance_delay_ms = 3000;
    let mut t = T::with(gc, OffsetConfig::default());
    let mut a = t.join(jp("g", ""));
    assert_eq!(t.state("g"), Some(GroupState::PreparingRebalance));
    // Everyone has joined, but the initial delay does not complete early.
    t.tick(2999);
    parked(&mut a);
    let mut b = t.join(jp("g", ""));
    t.tick(1);
    // A member arrived during the delay: re-armed for another delay.
    parked(&mut a);
    parked(&mut b);
    t.tick(2999);
    parked(&mut a);
    t.tick(1);
    let (ra, rb) = (done(a), done(b));
    assert_eq!(ra.generation_id, 1);
    assert_eq!(rb.generation_id, 1);
    assert_eq!(t.state("g"), Some(GroupState::CompletingRebalance));
}

#[test]
fn initial_delay_is_capped_by_the_rebalance_timeout() {
    let mut gc = group_config();
    gc.initial_rebalance_delay_ms = 3000;
    let mut t = T::with(gc, OffsetConfig::default());
    let mut p = jp("g", "");
    p.rebalance_timeout_ms = 5000;
    let mut first = t.join(p.clone());
    // A member arrives at 2.5 s: re-armed at 3 s, but only for the 2 s left of the 5 s
    // rebalance timeout, although members keep arriving.
    t.tick(2500);
    let _second = t.join(p.clone());
    t.tick(500);
    parked(&mut first);
    t.tick(1000);
    let _third = t.join(p.clone());
    t.tick(999);
    parked(&mut first);
    t.tick(1);
    assert_eq!(t.state("g"), Some(GroupState::CompletingRebalance));
    assert_eq!(done(first).members.len(), 3);
}

#[test]
fn full_rebalance_cycle_writes_group_metadata_and_assignments() {
    let mut t = T::new();
    let (generation, members, leader) = t.stable_group("g", 3);
    assert_eq!(generation, 1);
    assert_eq!(members.len(), 3);
    assert!(members.contains(&leader));
    // The group record written at the leader's sync: v3, Stable membership, assignments.
    let records = t.group_records();
    let (_, value) = records.last().unwrap();
    let (version, v) = decode_group_metadata_value(value.as_deref().unwrap()).unwrap();
    assert_eq!(version, 3);
    assert_eq!(v.generation, 1);
    assert_eq!(v.protocol.as_deref(), Some("range"));
    assert_eq!(v.leader.as_deref(), Some(leader.as_str()));
    assert_eq!(v.members.len(), 3);
    assert!(v.members.iter().all(|m| !m.assignment.is_empty()));
    // Stable: a later sync gets the stored assignment.
    let again = done(t.sync("g", generation, &members[1], vec![]));
    assert_eq!(again.error, None);
    assert_eq!(again.protocol_name.as_deref(), Some("range"));
    let i = members.iter().position(|m| *m == members[1]).unwrap() as i32;
    assert_eq!(again.assignment, Bytes::from(assignment_bytes("t", &[i])));
}

#[test]
fn protocol_vote_and_leader_only_gets_member_metadata() {
    let mut t = T::new();
    let mut a = jp("g", "");
    a.protocols = vec![
        ("roundrobin".into(), Bytes::from_static(b"a-rr")),
        ("range".into(), Bytes::from_static(b"a-range")),
    ];
    let mut b = jp("g", "");
    b.protocols = vec![
        ("range".into(), Bytes::from_static(b"b-range")),
        ("roundrobin".into(), Bytes::from_static(b"b-rr")),
        ("sticky".into(), Bytes::new()),
    ];
    let mut c = jp("g", "");
    c.protocols = vec![
        ("range".into(), Bytes::from_static(b"c-range")),
        ("roundrobin".into(), Bytes::from_static(b"c-rr")),
    ];
    let rxs = [t.join(a), t.join(b), t.join(c)];
    t.tick(0);
    let results: Vec<_> = rxs.into_iter().map(done).collect();
    for r in &results {
        assert_eq!(r.protocol_name.as_deref(), Some("range"));
        assert_eq!(r.protocol_type.as_deref(), Some("consumer"));
        if r.member_id == r.leader_id {
            assert_eq!(r.members.len(), 3);
            assert!(r
                .members
                .iter()
                .any(|m| m.metadata == Bytes::from_static(b"a-range")));
        } else {
            assert!(r.members.is_empty());
        }
    }
}

#[test]
fn sync_errors_and_parking() {
    let mut t = T::new();
    assert_eq!(
        done(t.sync("absent", 1, "m", vec![])).error,
        Some(UnknownMemberId)
    );
    let rxs = [t.join(jp("g", "")), t.join(jp("g", ""))];
    t.tick(0);
    let rs: Vec<_> = rxs.into_iter().map(done).collect();
    let generation = rs[0].generation_id;
    let leader = rs[0].leader_id.clone();
    let follower = rs
        .iter()
        .find(|r| r.member_id != leader)
        .unwrap()
        .member_id
        .clone();
    assert_eq!(
        done(t.sync("g", generation, "nobody", vec![])).error,
        Some(UnknownMemberId)
    );
    assert_eq!(
        done(t.sync("g", generation + 1, &follower, vec![])).error,
        Some(IllegalGeneration)
    );
    let (tx, rx) = oneshot::channel();
    t.c.handle_sync_group(
        SyncGroupParams {
            group_id: "g".into(),
            generation_id: generation,
            member_id: follower.clone(),
            protocol_type: Some("connect".into()),
            protocol_name: None,
            group_instance_id: None,
            assignments: vec![],
        },
        t.now,
        tx,
    );
    assert_eq!(done(rx).error, Some(InconsistentGroupProtocol));
    let (tx, rx) = oneshot::channel();
    t.c.handle_sync_group(
        SyncGroupParams {
            group_id: "g".into(),
            generation_id: generation,
            member_id: follower.clone(),
            protocol_type: Some("consumer".into()),
            protocol_name: Some("roundrobin".into()),
            group_instance_id: None,
            assignments: vec![],
        },
        t.now,
        tx,
    );
    assert_eq!(done(rx).error, Some(InconsistentGroupProtocol));
    // CompletingRebalance: the follower is parked until the leader syncs.
    let mut f = t.sync("g", generation, &follower, vec![]);
    parked(&mut f);
    // Heartbeats are fine meanwhile.
    assert_eq!(t.hb("g", generation, &follower), None);
    // The leader assigns only itself: the follower gets an empty assignment.
    let l = done(t.sync(
        "g",
        generation,
        &leader,
        vec![(leader.clone(), Bytes::from_static(b"x"))],
    ));
    assert_eq!(l.assignment, Bytes::from_static(b"x"));
    let f = done(f);
    assert_eq!(f.error, None);
    assert!(f.assignment.is_empty());
    // PreparingRebalance → REBALANCE_IN_PROGRESS.
    let _rejoin = t.join(jp("g", &leader));
    assert_eq!(t.state("g"), Some(GroupState::PreparingRebalance));
    assert_eq!(
        done(t.sync("g", generation, &follower, vec![])).error,
        Some(RebalanceInProgress)
    );
}

#[test]
fn leader_sync_store_failure_resets_assignment_and_rebalances() {
    let mut t = T::new();
    let rxs = [t.join(jp("g", "")), t.join(jp("g", ""))];
    t.tick(0);
    let rs: Vec<_> = rxs.into_iter().map(done).collect();
    let (generation, leader) = (rs[0].generation_id, rs[0].leader_id.clone());
    let follower = rs
        .iter()
        .find(|r| r.member_id != leader)
        .unwrap()
        .member_id
        .clone();
    let f = t.sync("g", generation, &follower, vec![]);
    t.log.lock().unwrap().fail = Some(NotLeaderOrFollower);
    let l = done(t.sync("g", generation, &leader, vec![]));
    assert_eq!(l.error, Some(NotCoordinator));
    assert_eq!(done(f).error, Some(NotCoordinator));
    assert_eq!(t.state("g"), Some(GroupState::PreparingRebalance));
}

#[test]
fn group_store_waits_for_replication_and_timeout_maps_to_rebalance_in_progress() {
    let mut t = T::new();
    let rx = t.join(jp("g", ""));
    t.tick(0);
    let r = done(rx);
    t.log.lock().unwrap().not_replicated = true;
    let mut s = t.sync("g", r.generation_id, &r.member_id, vec![]);
    parked(&mut s);
    let waits = t.c.take_replication_waits();
    assert_eq!(waits.len(), 1);
    assert_eq!(waits[0].partition, 0);
    t.c.on_replication_result(waits[0].id, Some(RequestTimedOut), t.now);
    assert_eq!(done(s).error, Some(RebalanceInProgress));
    assert_eq!(t.state("g"), Some(GroupState::PreparingRebalance));
}

#[test]
fn heartbeat_answers_per_state() {
    let mut t = T::new();
    assert_eq!(t.hb("absent", 1, "m"), Some(UnknownMemberId));
    let rxs = [t.join(jp("g", "")), t.join(jp("g", ""))];
    t.tick(0);
    let rs: Vec<_> = rxs.into_iter().map(done).collect();
    let (generation, leader) = (rs[0].generation_id, rs[0].leader_id.clone());
    let follower = rs
        .iter()
        .find(|r| r.member_id != leader)
        .unwrap()
        .member_id
        .clone();
    // CompletingRebalance → NONE.
    assert_eq!(t.hb("g", generation, &follower), None);
    assert_eq!(
        t.hb("g", generation + 1, &follower),
        Some(IllegalGeneration)
    );
    assert_eq!(t.hb("g", generation, "nobody"), Some(UnknownMemberId));
    let f = t.sync("g", generation, &follower, vec![]);
    done(t.sync("g", generation, &leader, vec![]));
    done(f);
    // Stable → NONE.
    assert_eq!(t.hb("g", generation, &follower), None);
    // PreparingRebalance → REBALANCE_IN_PROGRESS.
    let _l = t.join(jp("g", &leader));
    assert_eq!(t.hb("g", generation, &follower), Some(RebalanceInProgress));
    // Empty → UNKNOWN_MEMBER_ID (a commit-only group).
    t.commit("simple", &[("t", 0, 1)]);
    assert_eq!(t.hb("simple", 0, "m"), Some(UnknownMemberId));
}

#[test]
fn new_member_in_stable_group_rebalances_and_follower_rejoin_is_answered_at_once() {
    let mut t = T::new();
    let (generation, members, leader) = t.stable_group("g", 2);
    let follower = members.iter().find(|m| **m != leader).unwrap().clone();
    // A follower rejoining with the same metadata in Stable: immediate answer.
    let r = done(t.join(jp("g", &follower)));
    assert_eq!(r.error, None);
    assert_eq!(r.generation_id, generation);
    assert!(r.members.is_empty());
    assert_eq!(t.state("g"), Some(GroupState::Stable));
    // Changed metadata → rebalance.
    let mut changed = jp("g", &follower);
    changed.protocols = protocols(&["t", "u"]);
    let mut f = t.join(changed);
    assert_eq!(t.state("g"), Some(GroupState::PreparingRebalance));
    parked(&mut f);
    // The leader rejoins: everyone has, the join completes at once.
    let l = done(t.join(jp("g", &leader)));
    assert_eq!(l.generation_id, generation + 1);
    assert_eq!(done(f).generation_id, generation + 1);
    assert_eq!(t.state("g"), Some(GroupState::CompletingRebalance));
    // A new member during CompletingRebalance → PreparingRebalance; parked syncs fail.
    let mut s = t.sync("g", generation + 1, &follower, vec![]);
    parked(&mut s);
    let _n = t.join(jp("g", ""));
    assert_eq!(t.state("g"), Some(GroupState::PreparingRebalance));
    assert_eq!(done(s).error, Some(RebalanceInProgress));
}

#[test]
fn leader_rejoin_in_stable_rebalances() {
    let mut t = T::new();
    let (generation, _, leader) = t.stable_group("g", 1);
    // A single-member group: the leader's rejoin completes the join immediately.
    let r = done(t.join(jp("g", &leader)));
    assert_eq!(r.generation_id, generation + 1);
    assert_eq!(t.state("g"), Some(GroupState::CompletingRebalance));
}

#[test]
fn members_not_rejoining_are_removed_at_the_rebalance_timeout() {
    let mut t = T::new();
    let (generation, members, leader) = t.stable_group("g", 3);
    let others: Vec<String> = members.iter().filter(|m| **m != leader).cloned().collect();
    // Keep the followers alive until the rebalance starts, then let them stop.
    let mut l = t.join(jp("g", &leader));
    parked(&mut l);
    for _ in 0..2 {
        t.tick(i64::from(SESSION) - 1);
        for o in &others {
            assert_eq!(t.hb("g", generation, o), Some(RebalanceInProgress));
        }
    }
    parked(&mut l);
    // Heartbeats do not make a member rejoin: at the rebalance timeout they are removed.
    t.tick(2);
    let r = done(l);
    assert_eq!(r.generation_id, generation + 1);
    assert_eq!(r.members.len(), 1);
    assert_eq!(t.c.group("g").unwrap().size(), 1);
}

#[test]
fn leader_that_does_not_rejoin_is_replaced() {
    let mut t = T::new();
    let (generation, members, leader) = t.stable_group("g", 2);
    let follower = members.iter().find(|m| **m != leader).unwrap().clone();
    let mut changed = jp("g", &follower);
    changed.protocols = protocols(&["u"]);
    let f = t.join(changed);
    t.tick(i64::from(REBALANCE));
    let r = done(f);
    assert_eq!(r.leader_id, follower);
    assert_eq!(r.generation_id, generation + 1);
    assert_eq!(r.members.len(), 1);
}

#[test]
fn all_members_gone_makes_the_group_empty_and_writes_empty_metadata() {
    let mut t = T::new();
    let (generation, members, _) = t.stable_group("g", 2);
    for m in &members {
        let r = t.leave("g", m, None);
        assert_eq!(r.error, None);
        assert_eq!(r.members[0].error, None);
    }
    assert_eq!(t.state("g"), Some(GroupState::Empty));
    let g = t.c.group("g").unwrap();
    assert_eq!(g.generation_id, generation + 1);
    assert_eq!(g.protocol_name, None);
    let (_, value) = t.group_records().pop().unwrap();
    let (_, v) = decode_group_metadata_value(value.as_deref().unwrap()).unwrap();
    assert!(v.members.is_empty());
    assert_eq!(v.generation, generation + 1);
    assert_eq!(v.protocol, None);
}

#[test]
fn heartbeat_expiry_removes_the_member_in_each_state() {
    // Stable → PreparingRebalance.
    let mut t = T::new();
    let (generation, members, leader) = t.stable_group("g", 2);
    let follower = members.iter().find(|m| **m != leader).unwrap().clone();
    t.tick(i64::from(SESSION) - 1);
    assert_eq!(t.hb("g", generation, &leader), None);
    t.tick(1);
    assert_eq!(t.state("g"), Some(GroupState::PreparingRebalance));
    assert!(!t.c.group("g").unwrap().has(&follower));
    assert_eq!(t.hb("g", generation, &follower), Some(UnknownMemberId));

    // CompletingRebalance → PreparingRebalance (the parked sync fails).
    let mut t = T::new();
    let rxs = [t.join(jp("g", "")), t.join(jp("g", ""))];
    t.tick(0);
    let rs: Vec<_> = rxs.into_iter().map(done).collect();
    let leader = rs[0].leader_id.clone();
    let follower = rs
        .iter()
        .find(|r| r.member_id != leader)
        .unwrap()
        .member_id
        .clone();
    let mut s = t.sync("g", rs[0].generation_id, &follower, vec![]);
    parked(&mut s);
    t.tick(i64::from(SESSION));
    assert_eq!(t.state("g"), Some(GroupState::PreparingRebalance));
    assert_eq!(done(s).error, Some(RebalanceInProgress));

    // PreparingRebalance: the failed member's removal lets the join complete.
    let mut t = T::new();
    let (generation, members, leader) = t.stable_group("g", 2);
    let follower = members.iter().find(|m| **m != leader).unwrap().clone();
    t.tick(i64::from(SESSION) / 2);
    assert_eq!(t.hb("g", generation, &follower), None);
    let l = t.join(jp("g", &leader));
    assert_eq!(t.state("g"), Some(GroupState::PreparingRebalance));
    t.tick(i64::from(SESSION) / 2 + 1);
    // The leader's own expectation is satisfied by waiting in the join.
    t.tick(i64::from(SESSION) / 2);
    let r = done(l);
    assert_eq!(r.generation_id, generation + 1);
    assert_eq!(r.members.len(), 1);
}

#[test]
fn pending_sync_expiry_removes_members_that_never_synced() {
    let mut t = T::new();
    let rxs = [t.join(jp("g", "")), t.join(jp("g", ""))];
    t.tick(0);
    let rs: Vec<_> = rxs.into_iter().map(done).collect();
    let (generation, leader) = (rs[0].generation_id, rs[0].leader_id.clone());
    let follower = rs
        .iter()
        .find(|r| r.member_id != leader)
        .unwrap()
        .member_id
        .clone();
    done(t.sync("g", generation, &leader, vec![]));
    assert_eq!(t.state("g"), Some(GroupState::Stable));
    // The follower heartbeats but never syncs within the rebalance timeout.
    for _ in 0..3 {
        t.tick(i64::from(REBALANCE) / 3);
        assert_eq!(t.hb("g", generation, &leader), None);
        let _ = t.hb("g", generation, &follower);
    }
    t.tick(10);
    assert_eq!(t.state("g"), Some(GroupState::PreparingRebalance));
    assert!(!t.c.group("g").unwrap().has(&follower));
}

#[test]
fn new_member_join_times_out_after_five_minutes_only_while_new() {
    let mut t = T::new();
    let (generation, _, leader) = t.stable_group("g", 1);
    // A second member joins, the leader never rejoins: the rebalance runs to its timeout.
    let mut n = t.join(jp("g", ""));
    parked(&mut n);
    t.tick(i64::from(SESSION) - 1);
    assert_eq!(t.hb("g", generation, &leader), Some(RebalanceInProgress));
    t.tick(i64::from(REBALANCE));
    let r = done(n);
    assert_eq!(r.error, None);
    assert_eq!(r.generation_id, generation + 1);
}

// ==================================================================== LeaveGroup

#[test]
fn leave_group_errors_and_batch() {
    let mut t = T::new();
    let r = t.leave("absent", "m", None);
    assert_eq!(r.error, None);
    assert_eq!(r.members[0].error, Some(UnknownMemberId));
    let mut p = jp("g", "");
    p.group_instance_id = Some("i1".into());
    let rx = t.join(p);
    let d = t.join(jp("g", ""));
    t.tick(0);
    let s = done(rx);
    let d = done(d);
    // Unknown member.
    assert_eq!(
        t.leave("g", "nobody", None).members[0].error,
        Some(UnknownMemberId)
    );
    // A fenced static member.
    assert_eq!(
        t.leave("g", "i1-old", Some("i1")).members[0].error,
        Some(FencedInstanceId)
    );
    // Unknown instance id with an empty member id.
    assert_eq!(
        t.leave("g", "", Some("i9")).members[0].error,
        Some(UnknownMemberId)
    );
    // Batch: the static member by instance id (admin removal) and the dynamic one.
    let r = t.c.handle_leave_group(
        "g",
        vec![
            LeavingMember {
                member_id: String::new(),
                group_instance_id: Some("i1".into()),
                reason: Some("admin".into()),
            },
            LeavingMember {
                member_id: d.member_id.clone(),
                group_instance_id: None,
                reason: None,
            },
        ],
        t.now,
    );
    assert_eq!(r.error, None);
    assert_eq!(
        r.members.iter().map(|m| m.error).collect::<Vec<_>>(),
        vec![None, None]
    );
    assert!(!t.c.group("g").unwrap().has(&s.member_id));
    assert_eq!(t.state("g"), Some(GroupState::Empty));
}

#[test]
fn leave_of_a_pending_member() {
    let mut t = T::new();
    let mut p = jp("g", "");
    p.require_known_member_id = true;
    let id = done(t.join(p)).member_id;
    assert_eq!(t.leave("g", &id, None).members[0].error, None);
    assert!(!t.c.group("g").unwrap().is_pending_member(&id));
}

// ==================================================================== static membership

#[test]
fn static_member_rejoin_in_stable_keeps_the_generation_and_assignment() {
    let mut t = T::new();
    let mut ps = Vec::new();
    for i in 0..3 {
        let mut p = jp("g", "");
        p.group_instance_id = Some(format!("i{i}"));
        ps.push(p);
    }
    let rxs: Vec<_> = ps.iter().map(|p| t.join(p.clone())).collect();
    t.tick(0);
    let rs: Vec<_> = rxs.into_iter().map(done).collect();
    let generation = rs[0].generation_id;
    let leader = rs[0].leader_id.clone();
    let assignments: Vec<(String, Bytes)> = rs
        .iter()
        .enumerate()
        .map(|(i, r)| {
            (
                r.member_id.clone(),
                Bytes::from(assignment_bytes("t", &[i as i32])),
            )
        })
        .collect();
    for r in rs.iter().filter(|r| r.member_id != leader) {
        drop(t.sync("g", generation, &r.member_id, vec![]));
    }
    done(t.sync("g", generation, &leader, assignments.clone()));
    assert_eq!(t.state("g"), Some(GroupState::Stable));
    // Member 1 restarts: a new JoinGroup with its instance id and no member id.
    let idx = rs.iter().position(|r| r.member_id != leader).unwrap();
    let old_id = rs[idx].member_id.clone();
    let rejoin = done(t.join(ps[idx].clone()));
    assert_eq!(rejoin.error, None);
    assert_ne!(rejoin.member_id, old_id);
    assert_eq!(rejoin.generation_id, generation);
    assert_eq!(rejoin.leader_id, leader);
    assert_eq!(t.state("g"), Some(GroupState::Stable));
    // Its sync returns the partitions it had.
    let s = done(t.sync("g", generation, &rejoin.member_id, vec![]));
    assert_eq!(s.assignment, assignments[idx].1);
    // The old member id is fenced.
    let mut stale = ps[idx].clone();
    stale.member_id = old_id;
    assert_eq!(done(t.join(stale)).error, Some(FencedInstanceId));
    // The others heartbeat normally: no rebalance.
    for r in rs.iter().filter(|r| r.member_id != rs[idx].member_id) {
        assert_eq!(t.hb("g", generation, &r.member_id), None);
    }
}

#[test]
fn static_leader_rejoin_v9_skips_assignment() {
    let mut t = T::new();
    let mut p = jp("g", "");
    p.group_instance_id = Some("lead".into());
    p.support_skipping_assignment = true;
    let rx = t.join(p.clone());
    t.tick(0);
    let r = done(rx);
    done(t.sync(
        "g",
        r.generation_id,
        &r.member_id,
        vec![(r.member_id.clone(), Bytes::from_static(b"a"))],
    ));
    let again = done(t.join(p));
    assert_eq!(again.error, None);
    assert!(again.skip_assignment);
    assert_eq!(again.leader_id, again.member_id);
    assert_eq!(again.members.len(), 1);
}

#[test]
fn static_member_that_misses_its_session_is_removed() {
    let mut t = T::new();
    let mut p = jp("g", "");
    p.group_instance_id = Some("i".into());
    let rx = t.join(p);
    t.tick(0);
    let r = done(rx);
    done(t.sync("g", r.generation_id, &r.member_id, vec![]));
    // Its removal leaves nobody to wait for: the rebalance completes at once, Empty.
    t.tick(i64::from(SESSION));
    assert_eq!(t.state("g"), Some(GroupState::Empty));
    assert!(t
        .c
        .group("g")
        .unwrap()
        .current_static_member_id("i")
        .is_none());
}

// ==================================================================== offsets

#[test]
fn commit_by_a_simple_consumer_creates_an_empty_group() {
    let mut t = T::new();
    assert_eq!(
        done(t.commit_as("absent", "m", 3, &[("t", 0, 1)]))[0].1,
        Some(IllegalGeneration)
    );
    assert_eq!(t.state("absent"), None);
    assert_eq!(t.commit("simple", &[("t", 0, 7), ("t", 1, 8)]).len(), 2);
    assert_eq!(t.state("simple"), Some(GroupState::Empty));
    assert_eq!(t.fetch("simple", "t", 1).offset, 8);
    assert_eq!(t.fetch("simple", "t", 9), FetchedOffset::unknown());
    assert_eq!(t.fetch("nobody", "t", 0), FetchedOffset::unknown());
    // The commit record: key v1, value v3.
    let appended = t.log.lock().unwrap().appends.last().cloned().unwrap();
    assert_eq!(appended.2, -1);
    let value = appended.1[0].value.clone().unwrap();
    assert_eq!(&value[..2], &[0, 3]);
}

#[test]
fn commit_validation_by_state() {
    let mut t = T::new();
    let rxs = [t.join(jp("g", "")), t.join(jp("g", ""))];
    t.tick(0);
    let rs: Vec<_> = rxs.into_iter().map(done).collect();
    let (generation, leader) = (rs[0].generation_id, rs[0].leader_id.clone());
    let follower = rs
        .iter()
        .find(|r| r.member_id != leader)
        .unwrap()
        .member_id
        .clone();
    // CompletingRebalance → REBALANCE_IN_PROGRESS.
    assert_eq!(
        done(t.commit_as("g", &leader, generation, &[("t", 0, 1)]))[0].1,
        Some(RebalanceInProgress)
    );
    let f = t.sync("g", generation, &follower, vec![]);
    done(t.sync("g", generation, &leader, vec![]));
    done(f);
    // Unknown member, wrong generation, non-member without generation on a non-empty group.
    assert_eq!(
        done(t.commit_as("g", "nobody", generation, &[("t", 0, 1)]))[0].1,
        Some(UnknownMemberId)
    );
    assert_eq!(
        done(t.commit_as("g", &leader, generation + 1, &[("t", 0, 1)]))[0].1,
        Some(IllegalGeneration)
    );
    assert_eq!(
        done(t.commit_as("g", "", -1, &[("t", 0, 1)]))[0].1,
        Some(UnknownMemberId)
    );
    // Stable member of the generation → stored.
    assert_eq!(
        done(t.commit_as("g", &leader, generation, &[("t", 0, 11)]))[0].1,
        None
    );
    // PreparingRebalance: commits from the current generation are allowed.
    let _rejoin = t.join(jp("g", &leader));
    assert_eq!(t.state("g"), Some(GroupState::PreparingRebalance));
    assert_eq!(
        done(t.commit_as("g", &follower, generation, &[("t", 1, 12)]))[0].1,
        None
    );
    assert_eq!(t.fetch("g", "t", 0).offset, 11);
    assert_eq!(t.fetch("g", "t", 1).offset, 12);
}

#[test]
fn commit_metadata_too_large_is_per_partition() {
    let mut t = T::with(
        group_config(),
        OffsetConfig {
            max_metadata_size: 3,
            ..OffsetConfig::default()
        },
    );
    let (tx, rx) = oneshot::channel();
    let offset = |o: i64, m: &str| OffsetAndMetadata {
        offset: o,
        leader_epoch: Some(4),
        metadata: m.into(),
        commit_timestamp: T0,
        expire_timestamp: None,
    };
    t.c.handle_commit_offsets(
        CommitOffsetsParams {
            group_id: "g".into(),
            member_id: String::new(),
            group_instance_id: None,
            generation_id: -1,
            offsets: vec![
                (TopicPartition::new("t", 0), offset(1, "abc")),
                (TopicPartition::new("t", 1), offset(2, "abcd")),
            ],
        },
        T0,
        tx,
    );
    assert_eq!(
        done(rx),
        vec![
            (TopicPartition::new("t", 0), None),
            (TopicPartition::new("t", 1), Some(OffsetMetadataTooLarge))
        ]
    );
    let f = t.fetch("g", "t", 0);
    assert_eq!(
        (f.offset, f.leader_epoch, f.metadata.as_str()),
        (1, Some(4), "abc")
    );
    assert_eq!(t.fetch("g", "t", 1).offset, -1);
    // Only one too large: nothing is written.
    let before = t.log.lock().unwrap().appends.len();
    let r = t.commit("g2", &[]);
    assert!(r.is_empty());
    let (tx, rx) = oneshot::channel();
    t.c.handle_commit_offsets(
        CommitOffsetsParams {
            group_id: "g".into(),
            member_id: String::new(),
            group_instance_id: None,
            generation_id: -1,
            offsets: vec![(TopicPartition::new("t", 1), offset(2, "abcd"))],
        },
        T0,
        tx,
    );
    assert_eq!(done(rx)[0].1, Some(OffsetMetadataTooLarge));
    assert_eq!(t.log.lock().unwrap().appends.len(), before);
}

#[test]
fn commit_append_errors_are_mapped() {
    for (append, answered) in [
        (UnknownTopicOrPartition, CoordinatorNotAvailable),
        (NotEnoughReplicas, CoordinatorNotAvailable),
        (NotEnoughReplicasAfterAppend, CoordinatorNotAvailable),
        (NotLeaderOrFollower, NotCoordinator),
        (KafkaStorageError, NotCoordinator),
        (MessageTooLarge, InvalidCommitOffsetSize),
        (RecordListTooLarge, InvalidCommitOffsetSize),
        (InvalidFetchSize, InvalidCommitOffsetSize),
        (CorruptMessage, CorruptMessage),
    ] {
        let mut t = T::new();
        t.log.lock().unwrap().fail = Some(append);
        assert_eq!(
            t.commit("g", &[("t", 0, 1)])[0].1,
            Some(answered),
            "{append:?}"
        );
        assert_eq!(t.fetch("g", "t", 0).offset, -1);
    }
}

#[test]
fn commit_waits_for_replication_and_fetch_require_stable_sees_it_pending() {
    let mut t = T::new();
    t.log.lock().unwrap().not_replicated = true;
    let mut rx = t.commit_as("g", "", -1, &[("t", 0, 5)]);
    parked(&mut rx);
    let tps = [TopicPartition::new("t", 0)];
    let stable = t.c.handle_fetch_offsets("g", true, Some(&tps)).unwrap();
    assert_eq!(stable[0].1.error, Some(UnstableOffsetCommit));
    assert_eq!(t.fetch("g", "t", 0).offset, -1);
    let waits = t.c.take_replication_waits();
    t.c.on_replication_result(waits[0].id, None, t.now);
    assert_eq!(done(rx)[0].1, None);
    assert_eq!(t.fetch("g", "t", 0).offset, 5);
    // A replication timeout is answered as is.
    let mut rx = t.commit_as("g", "", -1, &[("t", 0, 6)]);
    parked(&mut rx);
    let waits = t.c.take_replication_waits();
    t.c.on_replication_result(waits[0].id, Some(RequestTimedOut), t.now);
    assert_eq!(done(rx)[0].1, Some(RequestTimedOut));
    assert_eq!(t.fetch("g", "t", 0).offset, 5);
}

#[test]
fn fetch_all_offsets_of_a_group() {
    let mut t = T::new();
    t.commit("g", &[("a", 0, 1), ("b", 2, 3)]);
    let all = t.c.handle_fetch_offsets("g", false, None).unwrap();
    assert_eq!(
        all.iter()
            .map(|(tp, o)| (tp.clone(), o.offset))
            .collect::<Vec<_>>(),
        vec![
            (TopicPartition::new("a", 0), 1),
            (TopicPartition::new("b", 2), 3)
        ]
    );
    assert!(t
        .c
        .handle_fetch_offsets("absent", false, None)
        .unwrap()
        .is_empty());
}

// ==================================================================== expiry

#[test]
fn offsets_of_an_empty_group_expire_after_retention_since_it_became_empty() {
    let retention = 60_000;
    let mut t = T::with(
        group_config(),
        OffsetConfig {
            retention_ms: retention,
            ..OffsetConfig::default()
        },
    );
    let (generation, members, _) = t.stable_group("g", 1);
    done(t.commit_as("g", &members[0], generation, &[("t", 0, 3)]));
    t.tick(retention * 2);
    // Stable, subscribed to "t": nothing expires... (the member heartbeats meanwhile)
    let mut t = T::with(
        group_config(),
        OffsetConfig {
            retention_ms: retention,
            ..OffsetConfig::default()
        },
    );
    let (generation, members, _) = t.stable_group("g", 1);
    done(t.commit_as(
        "g",
        &members[0],
        generation,
        &[("t", 0, 3), ("other", 0, 4)],
    ));
    t.now += retention;
    assert_eq!(t.hb("g", generation, &members[0]), None);
    assert_eq!(
        t.c.cleanup_expired_offsets(t.now),
        1,
        "the unsubscribed topic expires"
    );
    assert_eq!(t.fetch("g", "t", 0).offset, 3);
    assert_eq!(t.fetch("g", "other", 0).offset, -1);
    // Empty: retention counts from the time the group became Empty.
    t.leave("g", &members[0], None);
    assert_eq!(t.state("g"), Some(GroupState::Empty));
    t.now += retention - 1;
    assert_eq!(t.c.cleanup_expired_offsets(t.now), 0);
    t.now += 1;
    assert_eq!(t.c.cleanup_expired_offsets(t.now), 1);
    // No offsets left: the group is Dead, removed, and gets a tombstone.
    assert_eq!(t.state("g"), None);
    let (_, tombstone) = t.group_records().pop().unwrap();
    assert_eq!(tombstone, None);
}

#[test]
fn simple_group_offsets_expire_by_commit_timestamp_and_explicit_expire_wins() {
    let retention = 60_000;
    let mut t = T::with(
        group_config(),
        OffsetConfig {
            retention_ms: retention,
            ..OffsetConfig::default()
        },
    );
    t.commit("s", &[("t", 0, 1)]);
    t.now += 10_000;
    t.commit("s", &[("t", 1, 2)]);
    // A v2–4 style commit with its own expire timestamp.
    let (tx, rx) = oneshot::channel();
    t.c.handle_commit_offsets(
        CommitOffsetsParams {
            group_id: "s".into(),
            member_id: String::new(),
            group_instance_id: None,
            generation_id: -1,
            offsets: vec![(
                TopicPartition::new("t", 2),
                OffsetAndMetadata {
                    offset: 3,
                    leader_epoch: None,
                    metadata: String::new(),
                    commit_timestamp: t.now,
                    expire_timestamp: Some(t.now + 5_000),
                },
            )],
        },
        t.now,
        tx,
    );
    done(rx);
    // The explicit expiration forces value v1.
    let appended = t.log.lock().unwrap().appends.last().cloned().unwrap();
    assert_eq!(&appended.1[0].value.as_ref().unwrap()[..2], &[0, 1]);
    t.now += 5_000;
    assert_eq!(t.c.cleanup_expired_offsets(t.now), 1);
    assert_eq!(t.fetch("s", "t", 2).offset, -1);
    t.now = T0 + retention;
    assert_eq!(t.c.cleanup_expired_offsets(t.now), 1);
    assert_eq!(t.fetch("s", "t", 0).offset, -1);
    assert_eq!(t.fetch("s", "t", 1).offset, 2);
    t.now = T0 + 10_000 + retention;
    assert_eq!(t.c.cleanup_expired_offsets(t.now), 1);
    // A commit-only group (generation 0) gets no group tombstone.
    assert_eq!(t.state("s"), None);
    assert!(t.group_records().is_empty());
}

#[test]
fn preparing_or_completing_groups_do_not_expire_offsets() {
    let mut t = T::with(
        group_config(),
        OffsetConfig {
            retention_ms: 1,
            ..OffsetConfig::default()
        },
    );
    let rx = t.join(jp("g", ""));
    t.tick(0);
    let r = done(rx);
    assert_eq!(t.state("g"), Some(GroupState::CompletingRebalance));
    t.c.manager.get_group_mut("g").unwrap().initialize_offsets(
        [(
            TopicPartition::new("x", 0),
            super::group_metadata::CommitRecordMetadataAndOffset {
                appended_batch_offset: Some(0),
                offset_and_metadata: OffsetAndMetadata {
                    offset: 1,
                    leader_epoch: None,
                    metadata: String::new(),
                    commit_timestamp: 0,
                    expire_timestamp: None,
                },
            },
        )]
        .into(),
    );
    t.now += 100;
    assert_eq!(t.c.cleanup_expired_offsets(t.now), 0);
    let _ = r;
}

// ==================================================================== admin

#[test]
fn list_and_describe_groups() {
    let mut t = T::new();
    t.stable_group("stable", 2);
    t.commit("simple", &[("t", 0, 1)]);
    let _p = t.join(jp("preparing", ""));
    let (e, all) = t.c.handle_list_groups(&[], &[]);
    assert_eq!(e, None);
    assert_eq!(
        all.iter()
            .map(|g| (
                g.group_id.as_str(),
                g.protocol_type.as_str(),
                g.state.as_str()
            ))
            .collect::<Vec<_>>(),
        vec![
            ("preparing", "consumer", "PreparingRebalance"),
            ("simple", "", "Empty"),
            ("stable", "consumer", "Stable")
        ]
    );
    let (_, stable) =
        t.c.handle_list_groups(&["STABLE".into(), "empty".into()], &[]);
    assert_eq!(stable.len(), 2);
    assert_eq!(t.c.handle_list_groups(&[], &["Classic".into()]).1.len(), 3);
    assert!(t
        .c
        .handle_list_groups(&[], &["consumer".into()])
        .1
        .is_empty());

    let (e, d) = t.c.handle_describe_group("stable");
    assert_eq!(e, None);
    assert_eq!(
        (
            d.state.as_str(),
            d.protocol_type.as_str(),
            d.protocol.as_str()
        ),
        ("Stable", "consumer", "range")
    );
    assert_eq!(d.members.len(), 2);
    assert!(d
        .members
        .iter()
        .all(|m| !m.assignment.is_empty() && !m.metadata.is_empty()));
    assert_eq!(d.members[0].client_host, "/127.0.0.1");
    let (_, d) = t.c.handle_describe_group("preparing");
    assert_eq!(
        (d.state.as_str(), d.protocol.as_str()),
        ("PreparingRebalance", "")
    );
    assert!(d.members[0].metadata.is_empty());
    assert_eq!(
        t.c.handle_describe_group("absent"),
        (None, GroupSummary::dead())
    );
}

#[test]
fn delete_groups() {
    let mut t = T::new();
    t.stable_group("busy", 1);
    t.commit("idle", &[("t", 0, 1), ("t", 1, 2)]);
    let r =
        t.c.handle_delete_groups(&["idle".into(), "busy".into(), "absent".into()], t.now);
    assert_eq!(
        r,
        vec![
            ("idle".to_string(), None),
            ("busy".to_string(), Some(NonEmptyGroup)),
            ("absent".to_string(), Some(GroupIdNotFound)),
        ]
    );
    assert_eq!(t.state("idle"), None);
    assert_eq!(t.fetch("idle", "t", 0).offset, -1);
    // Two offset tombstones, acks 0.
    let (_, records, acks) = t.log.lock().unwrap().appends.last().cloned().unwrap();
    assert_eq!(acks, 0);
    assert_eq!(records.len(), 2);
    assert!(records.iter().all(|r| r.value.is_none()));
    // A group with a generation also gets a metadata tombstone.
    let (generation, members, _) = t.stable_group("gen", 1);
    done(t.commit_as("gen", &members[0], generation, &[("t", 0, 1)]));
    t.leave("gen", &members[0], None);
    assert_eq!(t.c.handle_delete_groups(&["gen".into()], t.now)[0].1, None);
    let (_, records, _) = t.log.lock().unwrap().appends.last().cloned().unwrap();
    assert_eq!(records.len(), 2);
    assert!(matches!(
        decode_key(records[1].key.as_deref().unwrap()),
        Ok(RecordKey::GroupMetadata { .. })
    ));
}

#[test]
fn delete_offsets() {
    let mut t = T::new();
    let tp = |t: &str, p| TopicPartition::new(t, p);
    assert_eq!(
        t.c.handle_delete_offsets("absent", &[tp("t", 0)], t.now).0,
        Some(GroupIdNotFound)
    );
    t.commit("idle", &[("t", 0, 1), ("u", 0, 2)]);
    let (e, r) = t.c.handle_delete_offsets("idle", &[tp("t", 0)], t.now);
    assert_eq!(e, None);
    assert_eq!(r, vec![(tp("t", 0), None)]);
    assert_eq!(t.fetch("idle", "t", 0).offset, -1);
    assert_eq!(t.fetch("idle", "u", 0).offset, 2);
    // A consumer group with members keeps the offsets of subscribed topics.
    let (generation, members, _) = t.stable_group("busy", 1);
    done(t.commit_as("busy", &members[0], generation, &[("t", 0, 1), ("u", 0, 2)]));
    let (e, r) =
        t.c.handle_delete_offsets("busy", &[tp("t", 0), tp("u", 0)], t.now);
    assert_eq!(e, None);
    assert_eq!(
        r,
        vec![
            (tp("t", 0), Some(GroupSubscribedToTopic)),
            (tp("u", 0), None)
        ]
    );
    // A non-consumer group with members → NON_EMPTY_GROUP.
    let mut p = jp("connect", "");
    p.protocol_type = "connect".into();
    let rx = t.join(p);
    t.tick(0);
    let r = done(rx);
    done(t.sync("connect", r.generation_id, &r.member_id, vec![]));
    assert_eq!(
        t.c.handle_delete_offsets("connect", &[tp("t", 0)], t.now).0,
        Some(NonEmptyGroup)
    );
}

#[test]
fn deleted_partitions_lose_their_offsets_everywhere() {
    let mut t = T::new();
    let tp = |t: &str, p| TopicPartition::new(t, p);
    // A simple group with offsets in the deleted topic and in another one.
    t.commit("mixed", &[("t", 0, 1), ("t", 1, 2), ("u", 0, 3)]);
    // A simple group (generation 0) with offsets only in the deleted topic.
    t.commit("only-t", &[("t", 0, 4)]);
    // A Stable group with a member keeps living without its offsets.
    let (generation, members, _) = t.stable_group("busy", 1);
    done(t.commit_as("busy", &members[0], generation, &[("t", 1, 5)]));
    // An Empty group that had a generation and only offsets in the deleted topic.
    let (generation, members, _) = t.stable_group("gen", 1);
    done(t.commit_as("gen", &members[0], generation, &[("t", 0, 6)]));
    t.leave("gen", &members[0], None);
    assert_eq!(t.state("gen"), Some(GroupState::Empty));
    let appends_before = t.log.lock().unwrap().appends.len();

    let removed =
        t.c.handle_deleted_partitions(&[tp("t", 0), tp("t", 1), tp("t", 2)], t.now);
    assert_eq!(removed, 5);

    assert_eq!(t.fetch("mixed", "t", 0).offset, -1);
    assert_eq!(t.fetch("mixed", "t", 1).offset, -1);
    assert_eq!(t.fetch("mixed", "u", 0).offset, 3);
    assert_eq!(t.state("mixed"), Some(GroupState::Empty));
    assert_eq!(
        t.state("only-t"),
        None,
        "Empty without offsets → Dead, removed"
    );
    assert_eq!(t.fetch("busy", "t", 1).offset, -1);
    assert_eq!(t.state("busy"), Some(GroupState::Stable));
    assert_eq!(t.state("gen"), None);
    assert_eq!(
        t.c.handle_list_groups(&[], &[]).1.len(),
        2,
        "only mixed and busy are left"
    );

    // The tombstones: one offset key per removed offset, plus a group tombstone for the
    // Dead group that had a generation; written without acks.
    let appends = t.log.lock().unwrap().appends[appends_before..].to_vec();
    assert!(appends.iter().all(|(_, _, acks)| *acks == 0));
    let mut offset_tombstones = Vec::new();
    let mut group_tombstones = Vec::new();
    for (_, records, _) in &appends {
        for r in records {
            assert_eq!(r.value, None, "only tombstones are written");
            match decode_key(r.key.as_deref().unwrap()).unwrap() {
                RecordKey::OffsetCommit { key, .. } => {
                    offset_tombstones.push((key.group, key.topic, key.partition))
                }
                RecordKey::GroupMetadata { key, .. } => group_tombstones.push(key.group),
                RecordKey::Unknown { version } => panic!("unknown key version {version}"),
            }
        }
    }
    offset_tombstones.sort();
    let expected: Vec<(String, String, i32)> = [
        ("busy", "t", 1),
        ("gen", "t", 0),
        ("mixed", "t", 0),
        ("mixed", "t", 1),
        ("only-t", "t", 0),
    ]
    .iter()
    .map(|(g, t, p)| (g.to_string(), t.to_string(), *p))
    .collect();
    assert_eq!(offset_tombstones, expected);
    assert_eq!(group_tombstones, vec!["gen".to_string()]);

    // Deleting the same partitions again (the controller may resend) writes nothing.
    let appends_before = t.log.lock().unwrap().appends.len();
    assert_eq!(t.c.handle_deleted_partitions(&[tp("t", 0)], t.now), 0);
    assert_eq!(t.log.lock().unwrap().appends.len(), appends_before);
}

// ==================================================================== emigration and loading

#[test]
fn resignation_unloads_groups_and_answers_parked_requests_not_coordinator() {
    let mut t = T::new();
    let (generation, members, leader) = t.stable_group("g", 2);
    let follower = members.iter().find(|m| **m != leader).unwrap().clone();
    let mut j = t.join(jp("g", &leader));
    parked(&mut j);
    let _ = generation;
    t.c.on_resignation(0, Some(1), t.now);
    assert_eq!(done(j).error, Some(NotCoordinator));
    assert_eq!(t.state("g"), None);
    assert_eq!(t.hb("g", generation, &follower), Some(NotCoordinator));
    assert!(
        t.c.next_deadline().is_none(),
        "no delayed operation of unloaded groups remains"
    );
    // A stale resignation is ignored after a newer election.
    assert!(t.c.on_election(0, 5));
    t.c.complete_load(0, 5, Ok(Vec::new()), t.now);
    t.c.on_resignation(0, Some(4), t.now);
    assert_eq!(t.hb("g", 1, "m"), Some(UnknownMemberId));
}

#[test]
fn loading_rebuilds_groups_and_offsets_from_records() {
    let mut t = T::new();
    let (generation, members, leader) = t.stable_group("g", 2);
    done(t.commit_as("g", &leader, generation, &[("t", 0, 10), ("t", 1, 20)]));
    done(t.commit_as("g", &leader, generation, &[("t", 0, 15)]));
    t.commit("simple", &[("x", 0, 1)]);
    t.commit("gone", &[("x", 0, 1)]);
    t.c.handle_delete_groups(&["gone".into()], t.now);
    // Replay everything the coordinator wrote into a fresh coordinator.
    let appends = t.log.lock().unwrap().appends.clone();
    let mut records = Vec::new();
    let mut offset = 0;
    for (_, batch, _) in appends {
        let base = offset;
        for r in batch {
            records.push(LoadedRecord {
                batch_base_offset: base,
                offset,
                key: r.key.map(Bytes::from),
                value: r.value.map(Bytes::from),
            });
            offset += 1;
        }
    }
    let log = Arc::new(Mutex::new(LogState::default()));
    let mut c = GroupCoordinator::new(
        1,
        group_config(),
        OffsetConfig::default(),
        1,
        Box::new(FakeLog(Arc::clone(&log))),
    );
    c.startup();
    assert!(c.on_election(0, 7));
    c.complete_load(0, 7, Ok(records), t.now);
    let mut t2 = T { c, log, now: t.now };
    assert_eq!(t2.state("g"), Some(GroupState::Stable));
    assert_eq!(t2.state("simple"), Some(GroupState::Empty));
    assert_eq!(t2.state("gone"), None);
    assert_eq!(t2.fetch("g", "t", 0).offset, 15);
    assert_eq!(t2.fetch("g", "t", 1).offset, 20);
    let g = t2.c.group("g").unwrap();
    assert_eq!(g.generation_id, generation);
    assert!(g.is_leader(&leader));
    // Members resume heartbeating; one that does not expires.
    let follower = members.iter().find(|m| **m != leader).unwrap().clone();
    t2.tick(i64::from(SESSION) - 1);
    assert_eq!(t2.hb("g", generation, &leader), None);
    t2.tick(1);
    assert!(!t2.c.group("g").unwrap().has(&follower));
    assert_eq!(t2.state("g"), Some(GroupState::PreparingRebalance));
}

#[test]
fn load_of_unreadable_records_skips_them() {
    let log = Arc::new(Mutex::new(LogState::default()));
    let mut c = GroupCoordinator::new(
        1,
        group_config(),
        OffsetConfig::default(),
        1,
        Box::new(FakeLog(log)),
    );
    c.startup();
    c.on_election(0, 0);
    let k = GroupMetadataManager::offset_key("g", &TopicPartition::new("t", 0));
    let records = vec![
        LoadedRecord {
            batch_base_offset: 0,
            offset: 0,
            key: None,
            value: None,
        },
        LoadedRecord {
            batch_base_offset: 1,
            offset: 1,
            key: Some(Bytes::from_static(&[0, 9, 1])),
            value: Some(Bytes::new()),
        },
        LoadedRecord {
            batch_base_offset: 2,
            offset: 2,
            key: Some(Bytes::from(k.clone())),
            value: Some(Bytes::from_static(&[0])),
        },
        LoadedRecord {
            batch_base_offset: 3,
            offset: 3,
            key: Some(Bytes::from_static(&[0])),
            value: None,
        },
    ];
    c.complete_load(0, 0, Ok(records), T0);
    assert_eq!(c.group_state("g"), None);
    assert!(c.manager().is_partition_owned(0));
}
