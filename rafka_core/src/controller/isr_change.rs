//! The controller's checks on one partition of an AlterPartition request (Kafka's ZK
//! `KafkaController.tryProcessAlterPartition`), as a pure function over the partition's
//! current state znode and zk version: the proposal is refused, already in place (echoed
//! back, so a retried request is idempotent), or becomes the state to write — the leader's
//! ISR with the leader epoch unchanged and the writing controller's epoch. No I/O: the
//! controller writes the znode (conditional on the partition epoch) and answers.

use kafka_protocol::ResponseError;

use super::election::{LEADER_RECOVERED, LEADER_RECOVERING};
use crate::zk::zk_data::PartitionStateZNode;

/// INELIGIBLE_REPLICA (KIP-841, Kafka 3.3): not in kafka-protocol 0.15.1's error table.
pub const INELIGIBLE_REPLICA: i16 = 107;

/// One partition of an AlterPartition request, as the leader proposes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProposedIsr {
    /// The requesting broker (the leader it claims to be).
    pub leader: i32,
    pub leader_epoch: i32,
    pub isr: Vec<i32>,
    /// 0 RECOVERED, 1 RECOVERING (v1+; v0 requests carry 0).
    pub leader_recovery_state: i8,
    /// The state znode version the leader last saw.
    pub partition_epoch: i32,
}

/// What the controller does with one proposal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IsrDecision {
    /// The partition is already in the proposed state: answer with the current one.
    Unchanged,
    /// Write this state, expecting the znode at the proposal's partition epoch.
    Write(PartitionStateZNode),
}

/// The checks, in Kafka's order (an error code on refusal):
///
/// 1. a partition or leader epoch newer than the controller's → NOT_CONTROLLER (this
///    controller is probably stale; the leader looks for the new one);
/// 2. an older leader epoch → FENCED_LEADER_EPOCH;
/// 3. the same leader, leader epoch, ISR and recovery state → [`IsrDecision::Unchanged`],
///    whatever the partition epoch;
/// 4. an older partition epoch → INVALID_UPDATE_VERSION;
/// 5. RECOVERING with more than one ISR member, or RECOVERED → RECOVERING → INVALID_REQUEST;
/// 6. a requester that is not the partition's leader → NOT_LEADER_OR_FOLLOWER;
/// 7. an ISR that names a non-replica or leaves the leader out → INVALID_REQUEST (as the
///    KRaft controller checks);
/// 8. an ISR member that is not a live broker (shutting-down brokers are not eligible) →
///    INELIGIBLE_REPLICA for v2+, OPERATION_NOT_ATTEMPTED before.
pub fn check_isr_change(
    current: &PartitionStateZNode,
    current_version: i32,
    proposed: &ProposedIsr,
    replicas: &[i32],
    is_eligible: impl Fn(i32) -> bool,
    request_version: i16,
    controller_epoch: i32,
) -> Result<IsrDecision, i16> {
    if proposed.partition_epoch > current_version || proposed.leader_epoch > current.leader_epoch {
        return Err(ResponseError::NotController.code());
    }
    if proposed.leader_epoch < current.leader_epoch {
        return Err(ResponseError::FencedLeaderEpoch.code());
    }
    if proposed.leader == current.leader
        && proposed.isr == current.isr
        && proposed.leader_recovery_state == current.leader_recovery_state
    {
        return Ok(IsrDecision::Unchanged);
    }
    if proposed.partition_epoch < current_version {
        return Err(ResponseError::InvalidUpdateVersion.code());
    }
    if proposed.leader_recovery_state == LEADER_RECOVERING && proposed.isr.len() > 1 {
        return Err(ResponseError::InvalidRequest.code());
    }
    if current.leader_recovery_state == LEADER_RECOVERED
        && proposed.leader_recovery_state == LEADER_RECOVERING
    {
        return Err(ResponseError::InvalidRequest.code());
    }
    if proposed.leader != current.leader {
        return Err(ResponseError::NotLeaderOrFollower.code());
    }
    let mut seen = Vec::with_capacity(proposed.isr.len());
    for r in &proposed.isr {
        if !replicas.contains(r) || seen.contains(r) {
            return Err(ResponseError::InvalidRequest.code());
        }
        seen.push(*r);
    }
    if !proposed.isr.contains(&proposed.leader) {
        return Err(ResponseError::InvalidRequest.code());
    }
    if proposed.isr.iter().any(|r| !is_eligible(*r)) {
        return Err(if request_version > 1 {
            INELIGIBLE_REPLICA
        } else {
            ResponseError::OperationNotAttempted.code()
        });
    }
    Ok(IsrDecision::Write(PartitionStateZNode {
        leader: proposed.leader,
        leader_epoch: proposed.leader_epoch,
        isr: proposed.isr.clone(),
        controller_epoch,
        leader_recovery_state: proposed.leader_recovery_state,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn current(isr: &[i32]) -> PartitionStateZNode {
        PartitionStateZNode {
            leader: 1,
            leader_epoch: 5,
            isr: isr.to_vec(),
            controller_epoch: 2,
            leader_recovery_state: LEADER_RECOVERED,
        }
    }

    fn proposal(isr: &[i32], leader_epoch: i32, partition_epoch: i32) -> ProposedIsr {
        ProposedIsr {
            leader: 1,
            leader_epoch,
            isr: isr.to_vec(),
            leader_recovery_state: LEADER_RECOVERED,
            partition_epoch,
        }
    }

    fn check(p: &ProposedIsr, live: &[i32], version: i16) -> Result<IsrDecision, i16> {
        check_isr_change(
            &current(&[1]),
            7,
            p,
            &[1, 2, 3],
            |r| live.contains(&r),
            version,
            3,
        )
    }

    #[test]
    fn an_expansion_is_written_with_the_same_leader_epoch() {
        let decision = check(&proposal(&[1, 2], 5, 7), &[1, 2, 3], 1).unwrap();
        assert_eq!(
            decision,
            IsrDecision::Write(PartitionStateZNode {
                leader: 1,
                leader_epoch: 5,
                isr: vec![1, 2],
                controller_epoch: 3,
                leader_recovery_state: LEADER_RECOVERED,
            })
        );
    }

    #[test]
    fn epochs_are_checked_in_kafkas_order() {
        assert_eq!(
            check(&proposal(&[1, 2], 4, 7), &[1, 2], 1),
            Err(ResponseError::FencedLeaderEpoch.code())
        );
        assert_eq!(
            check(&proposal(&[1, 2], 6, 7), &[1, 2], 1),
            Err(ResponseError::NotController.code())
        );
        assert_eq!(
            check(&proposal(&[1, 2], 5, 8), &[1, 2], 1),
            Err(ResponseError::NotController.code())
        );
        assert_eq!(
            check(&proposal(&[1, 2], 5, 6), &[1, 2], 1),
            Err(ResponseError::InvalidUpdateVersion.code())
        );
        // Already in place: echoed even with a stale partition epoch.
        assert_eq!(
            check(&proposal(&[1], 5, 6), &[1], 1),
            Ok(IsrDecision::Unchanged)
        );
    }

    #[test]
    fn bad_isrs_are_refused() {
        let mut other = proposal(&[1, 2], 5, 7);
        other.leader = 2;
        assert_eq!(
            check(&other, &[1, 2], 1),
            Err(ResponseError::NotLeaderOrFollower.code())
        );
        assert_eq!(
            check(&proposal(&[1, 4], 5, 7), &[1, 4], 1),
            Err(ResponseError::InvalidRequest.code()),
            "4 is not a replica"
        );
        assert_eq!(
            check(&proposal(&[2, 3], 5, 7), &[1, 2, 3], 1),
            Err(ResponseError::InvalidRequest.code()),
            "the leader must stay in the ISR"
        );
        assert_eq!(
            check(&proposal(&[1, 2], 5, 7), &[1], 1),
            Err(ResponseError::OperationNotAttempted.code())
        );
        assert_eq!(
            check(&proposal(&[1, 2], 5, 7), &[1], 2),
            Err(INELIGIBLE_REPLICA)
        );
        let mut recovering = proposal(&[1, 2], 5, 7);
        recovering.leader_recovery_state = LEADER_RECOVERING;
        assert_eq!(
            check(&recovering, &[1, 2], 1),
            Err(ResponseError::InvalidRequest.code())
        );
        recovering.isr = vec![1];
        assert_eq!(
            check(&recovering, &[1, 2], 1),
            Err(ResponseError::InvalidRequest.code()),
            "RECOVERED cannot go back to RECOVERING"
        );
    }

    #[test]
    fn a_recovered_leader_clears_recovering() {
        let mut state = current(&[1]);
        state.leader_recovery_state = LEADER_RECOVERING;
        let decision =
            check_isr_change(&state, 7, &proposal(&[1], 5, 7), &[1, 2], |_| true, 1, 3).unwrap();
        match decision {
            IsrDecision::Write(s) => assert_eq!(s.leader_recovery_state, LEADER_RECOVERED),
            other => panic!("expected a write, got {other:?}"),
        }
    }
}
