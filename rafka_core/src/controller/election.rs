//! Leader election rules of the ZooKeeper-mode controller as pure functions over a
//! partition's state znode: the offline-partition election (Kafka's `Election.leaderForOffline`
//! and `PartitionLeaderElectionAlgorithms.offlinePartitionLeaderElection`) and the removal of
//! an offline replica from the ISR (the `OfflineReplica` transition of Kafka's
//! `ReplicaStateMachine`), and the controlled-shutdown election (Kafka's
//! `Election.leaderForControlledShutdown`), the preferred-replica election (Kafka's
//! `Election.leaderForPreferredReplica`), and which of those rules an ElectLeaders request
//! applies ([`ReplicaElection`]). No I/O: the state machines read and write the znodes. Spec:
//! startup-and-controller.md §4 ("Leader election", "OfflineReplica").

use crate::zk::zk_data::PartitionStateZNode;

/// Kafka's `LeaderAndIsr.NoLeader`: the partition is offline.
pub const NO_LEADER: i32 = -1;

/// `leader_recovery_state` RECOVERED (the default, never written to the znode).
pub const LEADER_RECOVERED: i8 = 0;

/// `leader_recovery_state` RECOVERING: an unclean leader must recover first (Kafka 3.2+).
pub const LEADER_RECOVERING: i8 = 1;

/// Kafka's `offlinePartitionLeaderElection`: the first replica, in assignment order, that is
/// live and in the ISR; failing that, when `unclean` is allowed, the first live replica.
pub fn offline_partition_leader(
    assignment: &[i32],
    isr: &[i32],
    is_live: impl Fn(i32) -> bool,
    unclean: bool,
) -> Option<i32> {
    assignment
        .iter()
        .copied()
        .find(|r| is_live(*r) && isr.contains(r))
        .or_else(|| {
            unclean
                .then(|| assignment.iter().copied().find(|r| is_live(*r)))
                .flatten()
        })
}

/// True when some ISR member is live: a clean election is possible, so the topic's
/// `unclean.leader.election.enable` does not matter (Kafka reads it only otherwise).
pub fn has_live_isr(isr: &[i32], is_live: impl Fn(i32) -> bool) -> bool {
    isr.iter().any(|r| is_live(*r))
}

/// Kafka's `Election.leaderForOffline`: the partition's next state, or `None` when no replica
/// can lead (it stays offline). A leader from the ISR keeps the ISR's live members; an unclean
/// leader becomes the whole ISR and, when `leader_recovery_supported` (IBP 3.2-IV0+), is
/// marked RECOVERING. The leader epoch goes up by one; `controller_epoch` is the writer's.
pub fn leader_for_offline(
    current: &PartitionStateZNode,
    assignment: &[i32],
    is_live: impl Fn(i32) -> bool,
    unclean: bool,
    leader_recovery_supported: bool,
    controller_epoch: i32,
) -> Option<PartitionStateZNode> {
    let leader = offline_partition_leader(assignment, &current.isr, &is_live, unclean)?;
    let clean = current.isr.contains(&leader);
    let (isr, leader_recovery_state) = if clean {
        let isr = current
            .isr
            .iter()
            .copied()
            .filter(|r| is_live(*r))
            .collect();
        (isr, current.leader_recovery_state)
    } else if leader_recovery_supported {
        (vec![leader], LEADER_RECOVERING)
    } else {
        (vec![leader], current.leader_recovery_state)
    };
    Some(PartitionStateZNode {
        leader,
        leader_epoch: current.leader_epoch + 1,
        isr,
        controller_epoch,
        leader_recovery_state,
    })
}

/// Kafka's `controlledShutdownPartitionLeaderElection`: the first replica, in assignment
/// order, that is live (shutting-down brokers count as live here), in the ISR and not
/// shutting down.
pub fn controlled_shutdown_leader(
    assignment: &[i32],
    isr: &[i32],
    is_live_or_shutting_down: impl Fn(i32) -> bool,
    is_shutting_down: impl Fn(i32) -> bool,
) -> Option<i32> {
    assignment
        .iter()
        .copied()
        .find(|r| is_live_or_shutting_down(*r) && isr.contains(r) && !is_shutting_down(*r))
}

/// Kafka's `Election.leaderForControlledShutdown`: the partition's next state when its
/// leader shuts down, or `None` when no other ISR member can lead (the broker keeps leading
/// it). The shutting-down brokers leave the ISR; the leader epoch goes up by one.
pub fn leader_for_controlled_shutdown(
    current: &PartitionStateZNode,
    assignment: &[i32],
    is_live_or_shutting_down: impl Fn(i32) -> bool,
    is_shutting_down: impl Fn(i32) -> bool,
    controller_epoch: i32,
) -> Option<PartitionStateZNode> {
    let leader = controlled_shutdown_leader(
        assignment,
        &current.isr,
        is_live_or_shutting_down,
        &is_shutting_down,
    )?;
    Some(PartitionStateZNode {
        leader,
        leader_epoch: current.leader_epoch + 1,
        isr: current
            .isr
            .iter()
            .copied()
            .filter(|r| !is_shutting_down(*r))
            .collect(),
        controller_epoch,
        leader_recovery_state: current.leader_recovery_state,
    })
}

/// Kafka's `preferredReplicaPartitionLeaderElection`: the preferred replica (the first of the
/// assignment) when it is live and in the ISR.
pub fn preferred_replica_leader(
    assignment: &[i32],
    isr: &[i32],
    is_live: impl Fn(i32) -> bool,
) -> Option<i32> {
    assignment
        .first()
        .copied()
        .filter(|r| is_live(*r) && isr.contains(r))
}

/// Kafka's `Election.leaderForPreferredReplica`: the partition's next state with the
/// preferred replica leading (ISR unchanged, leader epoch + 1), or `None` when it cannot lead.
pub fn leader_for_preferred_replica(
    current: &PartitionStateZNode,
    assignment: &[i32],
    is_live: impl Fn(i32) -> bool,
    controller_epoch: i32,
) -> Option<PartitionStateZNode> {
    let leader = preferred_replica_leader(assignment, &current.isr, is_live)?;
    Some(PartitionStateZNode {
        leader,
        leader_epoch: current.leader_epoch + 1,
        isr: current.isr.clone(),
        controller_epoch,
        leader_recovery_state: current.leader_recovery_state,
    })
}

/// The rule of an election asked for through ElectLeaders (the strategies of Kafka's
/// `onReplicaElection`): PREFERRED is [`leader_for_preferred_replica`]; UNCLEAN is the
/// offline-partition rule [`leader_for_offline`] with unclean election allowed whatever the
/// topic's `unclean.leader.election.enable` (`OfflinePartitionLeaderElectionStrategy(allowUnclean
/// = true)`, the admin client having asked for it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplicaElection {
    Preferred,
    Unclean {
        /// IBP 3.2-IV0+: a leader from outside the ISR is marked RECOVERING.
        leader_recovery_supported: bool,
    },
}

impl ReplicaElection {
    /// Kafka's `processReplicaLeaderElection` filter: PREFERRED is needed unless the preferred
    /// replica leads, UNCLEAN unless the leader is online. `leader` is `None` when the
    /// partition has no state yet (the election then fails on the missing state).
    pub fn is_needed(
        self,
        leader: Option<i32>,
        assignment: &[i32],
        is_online: impl Fn(i32) -> bool,
    ) -> bool {
        match (self, leader) {
            (_, None) => true,
            (ReplicaElection::Preferred, Some(leader)) => assignment.first() != Some(&leader),
            (ReplicaElection::Unclean { .. }, Some(leader)) => {
                leader == NO_LEADER || !is_online(leader)
            }
        }
    }

    /// The partition's next state under this rule, or `None` when no replica can lead.
    pub fn next_state(
        self,
        current: &PartitionStateZNode,
        assignment: &[i32],
        is_online: impl Fn(i32) -> bool,
        controller_epoch: i32,
    ) -> Option<PartitionStateZNode> {
        match self {
            ReplicaElection::Preferred => {
                leader_for_preferred_replica(current, assignment, is_online, controller_epoch)
            }
            ReplicaElection::Unclean {
                leader_recovery_supported,
            } => leader_for_offline(
                current,
                assignment,
                is_online,
                true,
                leader_recovery_supported,
                controller_epoch,
            ),
        }
    }

    /// Kafka's name for the strategy, as its failure messages print it.
    pub fn strategy_name(self) -> &'static str {
        match self {
            ReplicaElection::Preferred => "PreferredReplicaPartitionLeaderElectionStrategy",
            ReplicaElection::Unclean { .. } => "OfflinePartitionLeaderElectionStrategy(true)",
        }
    }
}

/// The `OfflineReplica` ISR update for one partition: `None` when `replica` is not in the ISR
/// (nothing to write). Otherwise the leader becomes −1 if `replica` led, `replica` leaves the
/// ISR unless it is its only member (the ISR never becomes empty, so the last in-sync replica
/// can lead again when it returns), and the leader epoch goes up by one.
pub fn remove_replica_from_isr(
    current: &PartitionStateZNode,
    replica: i32,
    controller_epoch: i32,
) -> Option<PartitionStateZNode> {
    if !current.isr.contains(&replica) {
        return None;
    }
    let leader = if current.leader == replica {
        NO_LEADER
    } else {
        current.leader
    };
    let isr = if current.isr.len() == 1 {
        current.isr.clone()
    } else {
        current
            .isr
            .iter()
            .copied()
            .filter(|r| *r != replica)
            .collect()
    };
    Some(PartitionStateZNode {
        leader,
        leader_epoch: current.leader_epoch + 1,
        isr,
        controller_epoch,
        leader_recovery_state: current.leader_recovery_state,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(leader: i32, leader_epoch: i32, isr: &[i32]) -> PartitionStateZNode {
        PartitionStateZNode {
            leader,
            leader_epoch,
            isr: isr.to_vec(),
            controller_epoch: 1,
            leader_recovery_state: LEADER_RECOVERED,
        }
    }

    fn live(ids: &'static [i32]) -> impl Fn(i32) -> bool {
        move |r| ids.contains(&r)
    }

    #[test]
    fn the_first_live_isr_member_in_assignment_order_leads() {
        // Assignment order decides, not ISR order.
        assert_eq!(
            offline_partition_leader(&[3, 1, 2], &[2, 1], live(&[1, 2]), false),
            Some(1)
        );
        // A live replica outside the ISR is skipped in favour of a later ISR member.
        assert_eq!(
            offline_partition_leader(&[3, 1, 2], &[2], live(&[1, 2, 3]), false),
            Some(2)
        );
        // A dead ISR member is skipped.
        assert_eq!(
            offline_partition_leader(&[1, 2, 3], &[1, 3], live(&[2, 3]), false),
            Some(3)
        );
    }

    #[test]
    fn no_live_isr_member_needs_unclean_election() {
        assert_eq!(
            offline_partition_leader(&[1, 2, 3], &[1], live(&[3, 2]), false),
            None
        );
        // Unclean: the first live replica in assignment order.
        assert_eq!(
            offline_partition_leader(&[1, 2, 3], &[1], live(&[3, 2]), true),
            Some(2)
        );
        // Unclean election never picks a dead replica.
        assert_eq!(
            offline_partition_leader(&[1, 2], &[1], live(&[]), true),
            None
        );
        assert!(!has_live_isr(&[1], live(&[2, 3])));
        assert!(has_live_isr(&[1, 3], live(&[3])));
    }

    #[test]
    fn clean_election_keeps_the_live_isr_and_bumps_the_epoch() {
        let current = state(1, 4, &[1, 2, 3]);
        let next = leader_for_offline(&current, &[1, 2, 3], live(&[2, 3]), false, true, 7)
            .expect("a leader");
        assert_eq!(next.leader, 2);
        assert_eq!(next.leader_epoch, 5);
        assert_eq!(next.isr, vec![2, 3]);
        assert_eq!(next.controller_epoch, 7);
        assert_eq!(next.leader_recovery_state, LEADER_RECOVERED);
    }

    #[test]
    fn unclean_election_makes_the_leader_the_whole_isr() {
        let current = state(1, 0, &[1]);
        assert_eq!(
            leader_for_offline(&current, &[1, 2, 3], live(&[3, 2]), false, true, 2),
            None,
            "unclean election disabled: the partition stays offline"
        );
        let next = leader_for_offline(&current, &[1, 2, 3], live(&[3, 2]), true, true, 2)
            .expect("an unclean leader");
        assert_eq!((next.leader, next.leader_epoch), (2, 1));
        assert_eq!(next.isr, vec![2]);
        assert_eq!(next.leader_recovery_state, LEADER_RECOVERING);
        // Before IBP 3.2 there is no recovery state.
        let old = leader_for_offline(&current, &[1, 2, 3], live(&[3, 2]), true, false, 2)
            .expect("an unclean leader");
        assert_eq!(old.leader_recovery_state, LEADER_RECOVERED);
    }

    #[test]
    fn no_live_replica_at_all_elects_nobody() {
        let current = state(NO_LEADER, 3, &[1]);
        assert_eq!(
            leader_for_offline(&current, &[1, 2], live(&[]), true, true, 2),
            None
        );
        // The last ISR member coming back leads again (cleanly).
        let next = leader_for_offline(&current, &[1, 2], live(&[1]), false, true, 2).unwrap();
        assert_eq!((next.leader, next.leader_epoch, next.isr), (1, 4, vec![1]));
    }

    #[test]
    fn controlled_shutdown_moves_leadership_to_another_isr_member() {
        let current = state(1, 3, &[1, 2, 3]);
        let down = |r: i32| r == 1;
        let next = leader_for_controlled_shutdown(&current, &[1, 3, 2], live(&[1, 2, 3]), down, 9)
            .expect("a new leader");
        // Assignment order among the live ISR members that are not shutting down.
        assert_eq!((next.leader, next.leader_epoch), (3, 4));
        assert_eq!(next.isr, vec![2, 3]);
        assert_eq!(next.controller_epoch, 9);
        // Only the shutting-down broker is in the ISR: it keeps leading.
        assert_eq!(
            leader_for_controlled_shutdown(&state(1, 3, &[1]), &[1, 2], live(&[1, 2]), down, 9),
            None
        );
        // A dead ISR member is not elected.
        assert_eq!(
            controlled_shutdown_leader(&[1, 2, 3], &[1, 2, 3], live(&[1, 3]), down),
            Some(3)
        );
    }

    #[test]
    fn the_preferred_replica_leads_only_when_live_and_in_sync() {
        let current = state(2, 4, &[2, 1]);
        let next = leader_for_preferred_replica(&current, &[1, 2], live(&[1, 2]), 3)
            .expect("preferred replica elected");
        assert_eq!((next.leader, next.leader_epoch), (1, 5));
        assert_eq!(next.isr, vec![2, 1]);
        assert_eq!(next.controller_epoch, 3);
        // Not in the ISR, or not live: no election.
        assert_eq!(
            leader_for_preferred_replica(&state(2, 4, &[2]), &[1, 2], live(&[1, 2]), 3),
            None
        );
        assert_eq!(
            leader_for_preferred_replica(&current, &[1, 2], live(&[2]), 3),
            None
        );
    }

    #[test]
    fn elect_leaders_needs_an_election_only_without_the_wanted_leader() {
        let preferred = ReplicaElection::Preferred;
        let unclean = ReplicaElection::Unclean {
            leader_recovery_supported: true,
        };
        // PREFERRED: only when someone else (or nobody) leads.
        assert!(!preferred.is_needed(Some(1), &[1, 2], live(&[1, 2])));
        assert!(preferred.is_needed(Some(2), &[1, 2], live(&[1, 2])));
        assert!(preferred.is_needed(Some(NO_LEADER), &[1, 2], live(&[1, 2])));
        // UNCLEAN: only when the leader is gone, whoever it is.
        assert!(!unclean.is_needed(Some(2), &[1, 2], live(&[2])));
        assert!(unclean.is_needed(Some(NO_LEADER), &[1, 2], live(&[1, 2])));
        assert!(unclean.is_needed(Some(1), &[1, 2], live(&[2])));
        // No state yet: both try (and fail on the missing state).
        assert!(preferred.is_needed(None, &[1, 2], live(&[1, 2])));
        assert!(unclean.is_needed(None, &[1, 2], live(&[1, 2])));
    }

    #[test]
    fn an_unclean_election_request_prefers_a_live_isr_member() {
        let unclean = ReplicaElection::Unclean {
            leader_recovery_supported: true,
        };
        // A live ISR member exists: a clean election, ISR = its live members.
        let next = unclean
            .next_state(&state(NO_LEADER, 5, &[1, 3]), &[1, 2, 3], live(&[2, 3]), 4)
            .expect("a leader");
        assert_eq!((next.leader, next.leader_epoch), (3, 6));
        assert_eq!(next.isr, vec![3]);
        assert_eq!(next.leader_recovery_state, LEADER_RECOVERED);
        assert_eq!(next.controller_epoch, 4);
    }

    #[test]
    fn an_unclean_election_request_falls_back_to_any_live_replica() {
        // The ISR is the dead old leader: the first live assigned replica leads alone, even
        // though the topic would not allow it automatically.
        let current = state(NO_LEADER, 2, &[1]);
        let recovering = ReplicaElection::Unclean {
            leader_recovery_supported: true,
        };
        let next = recovering
            .next_state(&current, &[1, 3, 2], live(&[2, 3]), 6)
            .expect("an unclean leader");
        assert_eq!((next.leader, next.leader_epoch), (3, 3));
        assert_eq!(next.isr, vec![3]);
        assert_eq!(next.leader_recovery_state, LEADER_RECOVERING);
        // Before IBP 3.2 the leader is not marked RECOVERING.
        let old = ReplicaElection::Unclean {
            leader_recovery_supported: false,
        }
        .next_state(&current, &[1, 3, 2], live(&[2, 3]), 6)
        .expect("an unclean leader");
        assert_eq!(old.leader_recovery_state, LEADER_RECOVERED);
        // No live replica at all: nobody.
        assert_eq!(
            recovering.next_state(&current, &[1, 2], live(&[3]), 6),
            None
        );
        // The preferred rule never leaves the ISR.
        assert_eq!(
            ReplicaElection::Preferred.next_state(&current, &[3, 1], live(&[2, 3]), 6),
            None
        );
    }

    #[test]
    fn an_offline_follower_leaves_the_isr() {
        let next = remove_replica_from_isr(&state(1, 2, &[1, 2, 3]), 2, 5).unwrap();
        assert_eq!((next.leader, next.leader_epoch), (1, 3));
        assert_eq!(next.isr, vec![1, 3]);
        assert_eq!(next.controller_epoch, 5);
        // Not in the ISR: nothing to write.
        assert_eq!(remove_replica_from_isr(&state(1, 2, &[1, 3]), 2, 5), None);
    }

    #[test]
    fn an_offline_leader_leaves_no_leader_and_the_last_isr_member_stays() {
        let next = remove_replica_from_isr(&state(2, 0, &[2, 1]), 2, 5).unwrap();
        assert_eq!((next.leader, next.isr.clone()), (NO_LEADER, vec![1]));
        // The only ISR member is kept so it can lead again when it returns.
        let only = remove_replica_from_isr(&state(2, 6, &[2]), 2, 5).unwrap();
        assert_eq!((only.leader, only.leader_epoch), (NO_LEADER, 7));
        assert_eq!(only.isr, vec![2]);
    }
}
