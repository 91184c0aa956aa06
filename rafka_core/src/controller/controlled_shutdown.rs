//! The controller side of ControlledShutdown (Kafka's `KafkaController.doControlledShutdown`):
//! a broker about to stop asks the active controller to move leadership away. The broker is
//! marked shutting down (no longer eligible to lead or to join an ISR); every partition on it
//! with more than one replica (outside topics being deleted) is handled: where it leads, the
//! controlled-shutdown election ([`super::election::leader_for_controlled_shutdown`]) picks
//! another live ISR member and drops the broker from the ISR; where it follows, it gets
//! StopReplica (delete=false) and leaves the ISR (OfflineReplica). LeaderAndIsr and
//! UpdateMetadata go out as one batch; the answer lists the partitions it still leads.

use kafka_protocol::ResponseError;
use tracing::{info, warn};

use super::election::leader_for_controlled_shutdown;
use super::kafka_controller::KafkaController;
use super::partition_state_machine::{set_state, StateChangeContext, MAX_UPDATE_ATTEMPTS};
use super::replica_state_machine::{offline_replica_partitions, partitions_on};
use super::request_batch::{PartitionKey, RequestBatch};
use crate::zk::kafka_zk_client::KafkaZkError;

/// Kafka's `AbstractControlRequest.UNKNOWN_BROKER_EPOCH` (ControlledShutdown v0–1).
const UNKNOWN_BROKER_EPOCH: i64 = -1;

impl KafkaController {
    /// Handles one ControlledShutdown: the partitions `broker_id` still leads, or an error
    /// code (STALE_CONTROLLER_EPOCH when not the controller, STALE_BROKER_EPOCH for an older
    /// broker epoch, BROKER_NOT_AVAILABLE for a broker that is not registered).
    pub(super) async fn on_controlled_shutdown(
        &mut self,
        broker_id: i32,
        broker_epoch: i64,
    ) -> Result<Vec<PartitionKey>, i16> {
        let Some(active) = &mut self.active else {
            return Err(ResponseError::StaleControllerEpoch.code());
        };
        let Some(cached) = active.live_brokers.get(&broker_id) else {
            info!(
                broker_id,
                "controlled shutdown of a broker that is not live"
            );
            return Err(ResponseError::BrokerNotAvailable.code());
        };
        if broker_epoch != UNKNOWN_BROKER_EPOCH && broker_epoch < cached.epoch {
            info!(
                broker_id,
                request_epoch = broker_epoch,
                broker_epoch = cached.epoch,
                "controlled shutdown from an old broker epoch"
            );
            return Err(ResponseError::StaleBrokerEpoch.code());
        }
        info!(broker_id, "shutting down broker (controlled shutdown)");
        active.shutting_down.insert(broker_id);
        match self.move_leadership_away(broker_id).await {
            Ok(remaining) => {
                info!(broker_id, remaining = ?remaining, "controlled shutdown processed");
                Ok(remaining)
            }
            Err(e) => {
                let moved = matches!(e, KafkaZkError::ControllerMoved(_));
                self.after(Err(e), "process a controlled shutdown").await;
                Err(if moved {
                    ResponseError::StaleControllerEpoch.code()
                } else {
                    ResponseError::UnknownServerError.code()
                })
            }
        }
    }

    async fn move_leadership_away(
        &mut self,
        broker: i32,
    ) -> Result<Vec<PartitionKey>, KafkaZkError> {
        let Some(active) = &mut self.active else {
            return Err(KafkaZkError::ControllerMoved("not the controller".into()));
        };
        let deleting = active.deletion.queued();
        let ctx = StateChangeContext::clean(
            &self.zk,
            active.epoch,
            active.epoch_zk_version,
            &active.live_brokers,
            &deleting,
        );
        let shutting_down = &active.shutting_down;
        let topics = &mut active.topics;
        let (led, followed): (Vec<PartitionKey>, Vec<PartitionKey>) =
            partitions_on(topics, &deleting, broker)
                .into_iter()
                .filter(|(t, p)| {
                    topics.get(t).is_some_and(|ct| {
                        ct.assignment.get(p).is_some_and(|r| r.len() > 1)
                            && ct.states.contains_key(p)
                    })
                })
                .partition(|(t, p)| {
                    topics
                        .get(t)
                        .and_then(|ct| ct.states.get(p))
                        .is_some_and(|(s, _)| s.leader == broker)
                });
        let mut batch = RequestBatch::default();
        // Partitions it leads: controlled-shutdown election.
        let mut remaining = led;
        for _ in 0..MAX_UPDATE_ATTEMPTS {
            if remaining.is_empty() {
                break;
            }
            let mut retry = Vec::new();
            for (topic, p) in remaining {
                let Some((current, version)) = ctx
                    .read_state(&topic, p, "elect a leader for a controlled shutdown")
                    .await?
                else {
                    continue;
                };
                let assignment = topics
                    .get(&topic)
                    .and_then(|t| t.assignment.get(&p))
                    .cloned()
                    .unwrap_or_default();
                if current.leader != broker {
                    set_state(topics, &topic, p, current, version);
                    continue;
                }
                let Some(next) = leader_for_controlled_shutdown(
                    &current,
                    &assignment,
                    |r| ctx.is_live(r),
                    |r| shutting_down.contains(&r),
                    ctx.controller_epoch,
                ) else {
                    warn!(
                        %topic,
                        partition = p,
                        isr = ?current.isr,
                        broker,
                        "controlled shutdown: no other in-sync replica can lead"
                    );
                    set_state(topics, &topic, p, current, version);
                    continue;
                };
                let what = "controlled shutdown: leadership moved";
                if ctx
                    .write_state(topics, &topic, p, &next, version, what)
                    .await?
                {
                    batch.add_leader_and_isr(
                        assignment.iter().copied(),
                        topics,
                        &topic,
                        p,
                        false,
                        ctx.live,
                    );
                } else {
                    retry.push((topic, p));
                }
            }
            remaining = retry;
        }
        // Partitions it follows: StopReplica (keep the log), then out of the ISR.
        if !followed.is_empty() {
            if let Some(channel) = &active.channel {
                let stop: Vec<(String, i32, i32)> = followed
                    .iter()
                    .map(|(t, p)| {
                        let epoch = topics
                            .get(t)
                            .and_then(|ct| ct.states.get(p))
                            .map_or(0, |(s, _)| s.leader_epoch);
                        (t.clone(), *p, epoch)
                    })
                    .collect();
                channel.send_stop_replica(
                    ctx.controller_epoch,
                    ctx.live,
                    broker,
                    stop,
                    false,
                    move |outcome| {
                        if let Err(e) = outcome {
                            warn!(broker, error = %e, "controlled shutdown: StopReplica not delivered");
                        }
                    },
                );
            }
            offline_replica_partitions(&ctx, broker, followed, topics, &mut batch).await?;
        }
        if let Some(channel) = &active.channel {
            batch.send(channel, ctx.controller_epoch, ctx.live, topics, &deleting);
        }
        // Kafka's `partitionLeadersOnBroker`: what it still leads (replicated, not deleting).
        Ok(topics
            .iter()
            .filter(|(name, _)| !deleting.contains(*name))
            .flat_map(|(name, t)| {
                t.states
                    .iter()
                    .filter(|(p, (s, _))| {
                        s.leader == broker && t.assignment.get(p).is_some_and(|r| r.len() > 1)
                    })
                    .map(move |(p, _)| (name.clone(), *p))
            })
            .collect())
    }
}
