//! Processes `/config/changes` notifications (Kafka's `ZkNodeChangeNotificationListener` +
//! `DynamicConfigManager`): every notification newer than the last processed one makes the
//! named entity's znode be re-read and handed to Majordomo; notifications older than 15 minutes
//! are deleted. Runs at startup, on every child change and after every new session.

use std::time::Duration;

use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use crate::majordomo::{MajordomoHandle, MajordomoMessage};
use crate::zk::kafka_zk_client::{now_ms, KafkaZkClient, KafkaZkError};
use crate::zk::zk_data::{self as data, ConfigType};

/// Notifications older than this are purged (Kafka's `changeExpirationMs`).
const CHANGE_EXPIRATION_MS: i64 = 15 * 60 * 1000;
/// Delay before retrying after a ZooKeeper error.
const RETRY_DELAY: Duration = Duration::from_secs(1);

#[derive(Debug)]
pub enum ConfigManagerEvent {
    /// Re-list `/config/changes` (and re-arm its watch).
    Rescan,
    Stop,
}

/// The notification listener task.
pub struct DynamicConfigManager {
    zk: KafkaZkClient,
    majordomo: MajordomoHandle,
    events: mpsc::UnboundedReceiver<ConfigManagerEvent>,
    last_executed_seq: i64,
}

impl DynamicConfigManager {
    pub fn new(
        zk: KafkaZkClient,
        majordomo: MajordomoHandle,
        events: mpsc::UnboundedReceiver<ConfigManagerEvent>,
    ) -> DynamicConfigManager {
        DynamicConfigManager {
            zk,
            majordomo,
            events,
            last_executed_seq: -1,
        }
    }

    /// Processes existing notifications, then every rescan request until `Stop`.
    pub async fn run(mut self) {
        let mut pending = true;
        loop {
            if pending {
                match self.process_notifications().await {
                    Ok(()) => pending = false,
                    Err(e) => {
                        warn!(error = %e, "processing config change notifications failed; will retry")
                    }
                }
            }
            let event = if pending {
                match tokio::time::timeout(RETRY_DELAY, self.events.recv()).await {
                    Ok(e) => e,
                    Err(_) => continue,
                }
            } else {
                self.events.recv().await
            };
            match event {
                Some(ConfigManagerEvent::Rescan) => pending = true,
                Some(ConfigManagerEvent::Stop) | None => return,
            }
        }
    }

    async fn process_notifications(&mut self) -> Result<(), KafkaZkError> {
        let children = self.zk.get_config_changes(true).await?;
        let now = now_ms();
        for child in children {
            let Some(seq) = data::config_change_seq(&child) else {
                continue;
            };
            if seq > self.last_executed_seq {
                match self.zk.get_config_change(&child).await {
                    Ok(Some(change)) => {
                        self.apply(&change.entity_path).await?;
                        if change.ctime_ms < now - CHANGE_EXPIRATION_MS {
                            self.zk.delete_config_change(&child).await?;
                        }
                    }
                    Ok(None) => {}
                    Err(KafkaZkError::BadData { path, reason }) => {
                        warn!(%path, %reason, "ignoring unreadable config change notification");
                    }
                    Err(e) => return Err(e),
                }
                self.last_executed_seq = seq;
            } else if let Ok(Some(change)) = self.zk.get_config_change(&child).await {
                if change.ctime_ms < now - CHANGE_EXPIRATION_MS {
                    debug!(%child, "purging expired config change notification");
                    self.zk.delete_config_change(&child).await?;
                }
            }
        }
        Ok(())
    }

    /// Re-reads the entity named by a notification (`<type>/<name>`) and hands it to Majordomo.
    async fn apply(&self, entity_path: &str) -> Result<(), KafkaZkError> {
        let Some((type_name, name)) = entity_path.split_once('/') else {
            warn!(%entity_path, "config change notification without an entity name");
            return Ok(());
        };
        let Some(entity_type) = ConfigType::from_name(type_name) else {
            warn!(%entity_path, "config change for an unknown entity type");
            return Ok(());
        };
        let path = format!("{}/{}", data::CONFIG_PATH, entity_path);
        let config = self.zk.get_entity_config_at(&path).await?;
        info!(entity_type = type_name, entity = name, keys = ?config.keys().collect::<Vec<_>>(), "processing config change");
        let _ = self
            .majordomo
            .send(MajordomoMessage::EntityConfigChanged {
                entity_type,
                name: name.to_string(),
                config,
            })
            .await;
        Ok(())
    }
}
