//! ISR maintenance on leaders (Kafka's `isr-expiration` task + `AlterPartitionManager` in ZK
//! mode): every half `replica.lag.time.max.ms` (and every 500 ms for joins) each led
//! partition checks whether followers fell behind (shrink) or caught up (expand), and the
//! proposed ISRs go to the active controller in one AlterPartition request. The controller
//! writes the partition state znode and answers with the committed ISR and partition epoch;
//! until then the partition keeps its ISR and proposes nothing else.

use std::collections::BTreeMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use kafka_protocol::messages::alter_partition_request::{PartitionData, TopicData};
use kafka_protocol::messages::{AlterPartitionRequest, BrokerId, TopicName};
use kafka_protocol::protocol::StrBytes;
use tracing::{debug, warn};

use crate::log::log_manager::now_ms;
use crate::network::BrokerClient;

use super::metadata_cache::MetadataCache;
use super::partition::{IsrChange, Partition};
use super::replica_manager::ReplicaManager;

/// AlterPartition version sent: topics by name, plain ISR lists.
const ALTER_PARTITION_VERSION: i16 = 1;
/// How often joins are checked (Kafka checks on every follower fetch).
const EXPAND_CHECK_INTERVAL: Duration = Duration::from_millis(500);

/// Where AlterPartition goes and how long a follower may lag.
#[derive(Clone, Debug)]
pub struct IsrMaintenanceConfig {
    pub metadata_cache: Arc<MetadataCache>,
    pub inter_broker_listener: String,
    pub lag_max_ms: i64,
    pub socket_timeout: Duration,
}

/// Runs until the replica manager is dropped.
pub async fn run(replica_manager: Weak<ReplicaManager>, config: IsrMaintenanceConfig) {
    let mut client: Option<(i32, BrokerClient)> = None;
    let shrink_every = Duration::from_millis((config.lag_max_ms / 2).max(1) as u64);
    let mut last_shrink_check = tokio::time::Instant::now();
    loop {
        tokio::time::sleep(EXPAND_CHECK_INTERVAL).await;
        let Some(rm) = replica_manager.upgrade() else {
            return;
        };
        let check_shrink = last_shrink_check.elapsed() >= shrink_every;
        if check_shrink {
            last_shrink_check = tokio::time::Instant::now();
        }
        let now = now_ms();
        let mut changes: Vec<(Arc<Partition>, IsrChange)> = Vec::new();
        for p in rm.all_partitions() {
            let change = p.isr_expansion().or_else(|| {
                check_shrink
                    .then(|| p.isr_shrink(now, config.lag_max_ms))
                    .flatten()
            });
            if let Some(change) = change {
                changes.push((p, change));
            }
        }
        if changes.is_empty() {
            continue;
        }
        if let Err(e) = send(&rm, &config, &mut client, &changes).await {
            debug!(error = %e, "AlterPartition not delivered; proposing again later");
            for (p, _) in &changes {
                p.complete_isr_change(None);
            }
        }
    }
}

async fn send(
    rm: &ReplicaManager,
    config: &IsrMaintenanceConfig,
    client: &mut Option<(i32, BrokerClient)>,
    changes: &[(Arc<Partition>, IsrChange)],
) -> Result<(), String> {
    let snapshot = config.metadata_cache.snapshot();
    let controller = snapshot
        .controller_id
        .ok_or_else(|| "no active controller known".to_string())?;
    let endpoint = snapshot
        .alive_brokers
        .get(&controller)
        .and_then(|b| b.endpoints.get(&config.inter_broker_listener))
        .ok_or_else(|| {
            format!(
                "controller {controller} has no {} endpoint",
                config.inter_broker_listener
            )
        })?;
    if client.as_ref().is_none_or(|(id, _)| *id != controller) {
        *client = Some((
            controller,
            BrokerClient::new(
                &endpoint.host,
                u16::try_from(endpoint.port).map_err(|e| e.to_string())?,
                format!("broker-{}-alter-partition", rm.broker_id()),
                config.socket_timeout,
            ),
        ));
    }
    let Some((_, c)) = client.as_mut() else {
        return Err("no client".to_string());
    };
    let mut topics: BTreeMap<String, Vec<PartitionData>> = BTreeMap::new();
    for (_, change) in changes {
        topics.entry(change.tp.topic.clone()).or_default().push(
            PartitionData::default()
                .with_partition_index(change.tp.partition)
                .with_leader_epoch(change.leader_epoch)
                .with_new_isr(change.new_isr.iter().map(|id| BrokerId(*id)).collect())
                .with_partition_epoch(change.partition_epoch),
        );
    }
    let request = AlterPartitionRequest::default()
        .with_broker_id(BrokerId(rm.broker_id()))
        .with_broker_epoch(config.metadata_cache.broker_epoch())
        .with_topics(
            topics
                .into_iter()
                .map(|(name, partitions)| {
                    TopicData::default()
                        .with_topic_name(TopicName(StrBytes::from_string(name)))
                        .with_partitions(partitions)
                })
                .collect(),
        );
    let response = c
        .send(ALTER_PARTITION_VERSION, &request, Duration::ZERO)
        .await
        .map_err(|e| e.to_string())?;
    if response.error_code != 0 {
        return Err(format!("AlterPartition error {}", response.error_code));
    }
    let mut answered = std::collections::HashSet::new();
    for topic in &response.topics {
        for p in &topic.partitions {
            let Some((partition, _)) = changes.iter().find(|(_, c)| {
                c.tp.topic == topic.topic_name.as_str() && c.tp.partition == p.partition_index
            }) else {
                continue;
            };
            answered.insert(partition.topic_partition().clone());
            if p.error_code == 0 {
                partition.complete_isr_change(Some((
                    p.leader_epoch,
                    p.isr.iter().map(|b| b.0).collect(),
                    p.partition_epoch,
                )));
            } else {
                warn!(tp = %partition.topic_partition(), error = p.error_code, "the controller refused an ISR change");
                partition.complete_isr_change(None);
            }
        }
    }
    for (partition, _) in changes {
        if !answered.contains(partition.topic_partition()) {
            partition.complete_isr_change(None);
        }
    }
    Ok(())
}
