//! The broker side of a controlled shutdown (Kafka's `KafkaServer.controlledShutdown`): before
//! the broker stops serving, it asks the active controller (found in the metadata cache as
//! Kafka 3.x does, else — a broker stopped before its first UpdateMetadata — through
//! `/controller` and the controller's registration, as Kafka 2.x did; reached on the
//! inter-broker listener) with ControlledShutdown v3 to move its leadership away, and
//! retries — up to `controlled.shutdown.max.retries` attempts, `controlled.shutdown.retry.backoff.ms`
//! apart — until the controller reports no partition left to move. When every attempt fails
//! the shutdown goes on uncleanly (the controller then handles the broker's death).

use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::{BrokerId, ControlledShutdownRequest};
use tracing::{info, warn};

use crate::config::KafkaConfig;
use crate::network::BrokerClient;
use crate::zk::kafka_zk_client::KafkaZkClient;

use super::metadata_cache::MetadataCache;

/// ControlledShutdown version sent (IBP ≥ 2.4-IV1: flexible, with the broker epoch).
const CONTROLLED_SHUTDOWN_VERSION: i16 = 3;

/// What a controlled shutdown needs.
#[derive(Clone, Debug)]
pub struct ControlledShutdownConfig {
    /// `controlled.shutdown.enable`.
    pub enable: bool,
    /// `controlled.shutdown.max.retries`: attempts.
    pub max_retries: i32,
    /// `controlled.shutdown.retry.backoff.ms`.
    pub retry_backoff: Duration,
    /// `request.timeout.ms`: bounds connecting and each request.
    pub request_timeout: Duration,
    pub inter_broker_listener: String,
    pub metadata_cache: Arc<MetadataCache>,
    pub zk: KafkaZkClient,
}

impl ControlledShutdownConfig {
    pub fn from_config(
        config: &KafkaConfig,
        metadata_cache: Arc<MetadataCache>,
        zk: KafkaZkClient,
    ) -> Self {
        ControlledShutdownConfig {
            enable: config.controlled_shutdown_enable(),
            max_retries: config.controlled_shutdown_max_retries(),
            retry_backoff: Duration::from_millis(
                config.controlled_shutdown_retry_backoff_ms().max(0) as u64,
            ),
            request_timeout: Duration::from_millis(config.request_timeout_ms().max(1) as u64),
            inter_broker_listener: config.inter_broker_listener_name(),
            metadata_cache,
            zk,
        }
    }
}

/// Runs the controlled shutdown; true when the controller moved every partition away.
pub async fn run(broker_id: i32, config: &ControlledShutdownConfig) -> bool {
    if !config.enable {
        return false;
    }
    info!(broker_id, "starting controlled shutdown");
    let mut client: Option<(i32, BrokerClient)> = None;
    let attempts = config.max_retries.max(0);
    for attempt in 1..=attempts {
        match attempt_once(broker_id, config, &mut client).await {
            Ok(remaining) if remaining.is_empty() => {
                info!(broker_id, attempt, "controlled shutdown succeeded");
                return true;
            }
            Ok(remaining) => warn!(
                broker_id,
                attempt,
                remaining = ?remaining,
                "controlled shutdown: the controller could not move every partition yet"
            ),
            Err(e) => warn!(broker_id, attempt, error = %e, "controlled shutdown attempt failed"),
        }
        if attempt < attempts {
            tokio::time::sleep(config.retry_backoff).await;
            info!(
                broker_id,
                "retrying controlled shutdown after the previous attempt failed"
            );
        }
    }
    warn!(
        broker_id,
        "proceeding to do an unclean shutdown as all the controlled shutdown attempts failed"
    );
    false
}

/// One request to the current controller: the partitions it still leads.
async fn attempt_once(
    broker_id: i32,
    config: &ControlledShutdownConfig,
    client: &mut Option<(i32, BrokerClient)>,
) -> Result<Vec<String>, String> {
    let (controller, host, port) = find_controller(config).await?;
    if client.as_ref().is_none_or(|(id, _)| *id != controller) {
        *client = Some((
            controller,
            BrokerClient::new(
                &host,
                port,
                format!("broker-{broker_id}-controlled-shutdown"),
                config.request_timeout,
            ),
        ));
    }
    let Some((_, c)) = client.as_mut() else {
        return Err("no client".to_string());
    };
    let request = ControlledShutdownRequest::default()
        .with_broker_id(BrokerId(broker_id))
        .with_broker_epoch(config.metadata_cache.broker_epoch());
    let response = c
        .send(CONTROLLED_SHUTDOWN_VERSION, &request, Duration::ZERO)
        .await
        .map_err(|e| e.to_string())?;
    if response.error_code != 0 {
        return Err(format!(
            "controller {controller} answered error {}",
            response.error_code
        ));
    }
    Ok(response
        .remaining_partitions
        .iter()
        .map(|p| format!("{}-{}", p.topic_name.as_str(), p.partition_index))
        .collect())
}

/// The active controller's id and inter-broker endpoint: from the metadata cache, else from
/// ZooKeeper (each ZooKeeper read bounded by the request timeout).
async fn find_controller(config: &ControlledShutdownConfig) -> Result<(i32, String, u16), String> {
    let listener = &config.inter_broker_listener;
    let snapshot = config.metadata_cache.snapshot();
    if let Some(controller) = snapshot.controller_id {
        let endpoint = snapshot
            .alive_brokers
            .get(&controller)
            .and_then(|b| b.endpoints.get(listener))
            .ok_or_else(|| format!("controller {controller} has no {listener} endpoint"))?;
        let port = u16::try_from(endpoint.port).map_err(|e| e.to_string())?;
        return Ok((controller, endpoint.host.clone(), port));
    }
    let bounded = |what: &'static str| move |_| format!("reading {what} timed out");
    let controller =
        tokio::time::timeout(config.request_timeout, config.zk.get_controller_id(false))
            .await
            .map_err(bounded("/controller"))?
            .map_err(|e| e.to_string())?
            .ok_or_else(|| "no active controller".to_string())?;
    let (info, _) = tokio::time::timeout(config.request_timeout, config.zk.get_broker(controller))
        .await
        .map_err(bounded("the controller's registration"))?
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("controller {controller} is not registered"))?;
    let endpoint = info
        .endpoints
        .iter()
        .find(|e| &e.listener_name == listener)
        .ok_or_else(|| format!("controller {controller} has no {listener} endpoint"))?;
    Ok((controller, endpoint.host.clone(), endpoint.port))
}
