//! Kafka-level ZooKeeper operations (Kafka's `KafkaZkClient`): cluster id, broker
//! registration, controller election, entity configs, change notifications, features and
//! the controller's fenced partition-state updates.
//!
//! Every operation is a short sequence of requests to the session task through
//! [`ZooKeeperClient`]; payloads are encoded and decoded only by [`super::zk_data`].

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::{info, warn};

use super::error::ZkError;
use super::zk_data::{self as data, BrokerInfo, ConfigType};
use super::zookeeper_client::{CreateMode, MultiOp, MultiOpResult, Stat, ZooKeeperClient};

/// Errors of Kafka-level operations: a ZooKeeper failure or a znode that does not decode.
#[derive(Debug, Clone, thiserror::Error)]
pub enum KafkaZkError {
    #[error(transparent)]
    Zk(#[from] ZkError),
    #[error("znode {path} holds data Kafka cannot read: {reason}")]
    BadData { path: String, reason: String },
    /// Another broker's live session owns our registration znode.
    #[error(
        "broker id {broker_id} is already registered at {path} by another live session \
         (ephemeral owner {owner:#x}, our session {session:#x}): is another broker running with \
         broker.id={broker_id}?"
    )]
    BrokerIdInUse {
        broker_id: i32,
        path: String,
        owner: i64,
        session: i64,
    },
    /// The controller epoch moved under us: someone else is controller now.
    #[error("controller moved: {0}")]
    ControllerMoved(String),
}

impl KafkaZkError {
    pub(crate) fn bad_data(path: &str, reason: impl std::fmt::Display) -> KafkaZkError {
        KafkaZkError::BadData {
            path: path.to_string(),
            reason: reason.to_string(),
        }
    }

    /// True when the operation may succeed once a ZooKeeper session is back.
    pub fn is_transient(&self) -> bool {
        matches!(self, KafkaZkError::Zk(e) if e.is_transient())
    }
}

/// The outcome of a successful controller election.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ControllerEpoch {
    /// The new `/controller_epoch` value.
    pub epoch: i32,
    /// `/controller_epoch`'s data version, which fences every controller write.
    pub epoch_zk_version: i32,
}

/// A config change notification child of `/config/changes`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigChange {
    pub seq: i64,
    pub child: String,
    pub entity_path: String,
    pub ctime_ms: i64,
}

/// Wall-clock milliseconds since the epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Kafka-level ZooKeeper client. Cheap to clone.
#[derive(Clone, Debug)]
pub struct KafkaZkClient {
    zk: ZooKeeperClient,
}

impl KafkaZkClient {
    pub fn new(zk: ZooKeeperClient) -> KafkaZkClient {
        KafkaZkClient { zk }
    }

    /// The underlying session handle.
    pub fn zk(&self) -> &ZooKeeperClient {
        &self.zk
    }

    /// Creates the persistent paths a broker creates at startup (spec: zookeeper-layout §2).
    pub async fn create_top_level_paths(&self) -> Result<(), KafkaZkError> {
        for path in data::PERSISTENT_PATHS {
            self.zk.create_recursive(path).await?;
        }
        Ok(())
    }

    /// Reads `/cluster/id`.
    pub async fn get_cluster_id(&self) -> Result<Option<String>, KafkaZkError> {
        match self.zk.get_data_opt(data::CLUSTER_ID_PATH, false).await? {
            None => Ok(None),
            Some((bytes, _)) => data::ClusterIdZNode::decode(&bytes)
                .map(|z| Some(z.id))
                .map_err(|e| KafkaZkError::bad_data(data::CLUSTER_ID_PATH, e)),
        }
    }

    /// Returns the cluster id, creating `/cluster/id` with `proposed` when absent; a concurrent
    /// creator wins and its id is returned.
    pub async fn get_or_create_cluster_id(&self, proposed: &str) -> Result<String, KafkaZkError> {
        if let Some(id) = self.get_cluster_id().await? {
            return Ok(id);
        }
        let payload = data::ClusterIdZNode {
            id: proposed.to_string(),
        }
        .encode();
        // `/cluster` is not a startup path: Kafka creates it recursively with the id.
        self.zk.create_recursive(data::CLUSTER_PATH).await?;
        match self
            .zk
            .create(data::CLUSTER_ID_PATH, payload, CreateMode::Persistent)
            .await
        {
            Ok(_) => Ok(proposed.to_string()),
            Err(e) if e.is_node_exists() => self.get_cluster_id().await?.ok_or_else(|| {
                KafkaZkError::bad_data(data::CLUSTER_ID_PATH, "vanished after NodeExists")
            }),
            Err(e) => Err(e.into()),
        }
    }

    /// Bumps `/brokers/seqid` and returns its new data version (Kafka's broker-id sequence).
    pub async fn generate_broker_sequence_id(&self) -> Result<i32, KafkaZkError> {
        match self
            .zk
            .set_data(data::BROKER_SEQ_ID_PATH, Vec::new(), None)
            .await
        {
            Ok(stat) => Ok(stat.version),
            Err(e) if e.is_no_node() => {
                self.zk.create_recursive(data::BROKER_SEQ_ID_PATH).await?;
                Ok(self
                    .zk
                    .set_data(data::BROKER_SEQ_ID_PATH, Vec::new(), None)
                    .await?
                    .version)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Reads `/config/<type>/<name>`; an absent znode means no overrides.
    pub async fn get_entity_config(
        &self,
        entity_type: ConfigType,
        name: &str,
    ) -> Result<BTreeMap<String, String>, KafkaZkError> {
        let path = data::config_entity_path(entity_type, name);
        self.get_entity_config_at(&path).await
    }

    /// Reads an entity config znode by its full path.
    pub async fn get_entity_config_at(
        &self,
        path: &str,
    ) -> Result<BTreeMap<String, String>, KafkaZkError> {
        match self.zk.get_data_opt(path, false).await? {
            None => Ok(BTreeMap::new()),
            Some((bytes, _)) if bytes.is_empty() => Ok(BTreeMap::new()),
            Some((bytes, _)) => data::EntityConfigZNode::decode(&bytes)
                .map(|z| z.config)
                .map_err(|e| KafkaZkError::bad_data(path, e)),
        }
    }

    /// Writes an entity config the way Kafka's admin path does: set-or-create the entity
    /// znode, then a `config_change_` notification (v2).
    pub async fn change_entity_config(
        &self,
        entity_type: ConfigType,
        name: &str,
        config: &BTreeMap<String, String>,
    ) -> Result<(), KafkaZkError> {
        let path = data::config_entity_path(entity_type, name);
        let payload = data::EntityConfigZNode {
            config: config.clone(),
        }
        .encode();
        match self.zk.set_data(&path, payload.clone(), None).await {
            Ok(_) => {}
            Err(e) if e.is_no_node() => {
                if let Some((parent, _)) = path.rsplit_once('/') {
                    self.zk.create_recursive(parent).await?;
                }
                self.zk
                    .create(&path, payload, CreateMode::Persistent)
                    .await?;
            }
            Err(e) => return Err(e.into()),
        }
        let notification = data::ConfigChangeNotification {
            entity_type,
            entity_name: name.to_string(),
        }
        .encode();
        let prefix = format!(
            "{}/{}",
            data::CONFIG_CHANGES_PATH,
            data::CONFIG_CHANGE_PREFIX
        );
        self.zk
            .create(&prefix, notification, CreateMode::PersistentSequential)
            .await?;
        Ok(())
    }

    /// Names of the children of `/config/<type>`.
    pub async fn get_all_entities(&self, entity_type: ConfigType) -> Result<Vec<String>, ZkError> {
        match self
            .zk
            .get_children(&data::config_entity_type_path(entity_type), false)
            .await
        {
            Ok(c) => Ok(c),
            Err(e) if e.is_no_node() => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    /// Lists `/config/changes` (optionally arming a child watch), sorted by sequence.
    pub async fn get_config_changes(&self, watch: bool) -> Result<Vec<String>, ZkError> {
        let mut children = self
            .zk
            .get_children(data::CONFIG_CHANGES_PATH, watch)
            .await?;
        children.retain(|c| data::config_change_seq(c).is_some());
        children.sort_by_key(|c| data::config_change_seq(c));
        Ok(children)
    }

    /// Reads one change notification; `None` if it was deleted meanwhile.
    pub async fn get_config_change(
        &self,
        child: &str,
    ) -> Result<Option<ConfigChange>, KafkaZkError> {
        let path = format!("{}/{}", data::CONFIG_CHANGES_PATH, child);
        let Some((bytes, stat)) = self.zk.get_data_opt(&path, false).await? else {
            return Ok(None);
        };
        let notification = data::ConfigChangeNotification::decode(&bytes)
            .map_err(|e| KafkaZkError::bad_data(&path, e))?;
        Ok(Some(ConfigChange {
            seq: data::config_change_seq(child).unwrap_or(-1),
            child: child.to_string(),
            entity_path: notification.entity_path(),
            ctime_ms: stat.ctime,
        }))
    }

    /// Deletes a change notification (missing is fine).
    pub async fn delete_config_change(&self, child: &str) -> Result<(), ZkError> {
        let path = format!("{}/{}", data::CONFIG_CHANGES_PATH, child);
        match self.zk.delete(&path, None).await {
            Err(e) if !e.is_no_node() => Err(e),
            _ => Ok(()),
        }
    }

    /// Ids of the registered brokers, optionally arming a child watch on `/brokers/ids`.
    pub async fn get_broker_ids(&self, watch: bool) -> Result<Vec<i32>, ZkError> {
        let children = self.zk.get_children(data::BROKER_IDS_PATH, watch).await?;
        let mut ids: Vec<i32> = children.iter().filter_map(|c| c.parse().ok()).collect();
        ids.sort_unstable();
        Ok(ids)
    }

    /// One broker's registration and its znode stat (czxid = broker epoch).
    pub async fn get_broker(&self, id: i32) -> Result<Option<(BrokerInfo, Stat)>, KafkaZkError> {
        let path = data::broker_id_path(id);
        match self.zk.get_data_opt(&path, false).await? {
            None => Ok(None),
            Some((bytes, stat)) => BrokerInfo::decode(id, &bytes)
                .map(|b| Some((b, stat)))
                .map_err(|e| KafkaZkError::bad_data(&path, e)),
        }
    }

    /// All registered brokers with their epochs (czxid), skipping ones that vanish meanwhile.
    pub async fn get_all_brokers(
        &self,
        watch: bool,
    ) -> Result<BTreeMap<i32, (BrokerInfo, i64)>, KafkaZkError> {
        let mut brokers = BTreeMap::new();
        for id in self.get_broker_ids(watch).await? {
            match self.get_broker(id).await {
                Ok(Some((info, stat))) => {
                    brokers.insert(id, (info, stat.czxid));
                }
                Ok(None) => {}
                Err(KafkaZkError::BadData { path, reason }) => {
                    warn!(%path, %reason, "skipping unreadable broker registration");
                }
                Err(e) => return Err(e),
            }
        }
        Ok(brokers)
    }

    /// Registers the broker as Kafka's "checked ephemeral": `multi(create, setData v0)`.
    /// Returns the broker epoch (the znode's czxid). A node left by our own previous (expired)
    /// session is deleted and re-created (ZOOKEEPER-2985); one held by our current session is
    /// accepted; any other owner means the id is in use.
    pub async fn register_broker(&self, info: &BrokerInfo) -> Result<i64, KafkaZkError> {
        let path = data::broker_id_path(info.id);
        let payload = info.encode();
        for _ in 0..3 {
            let ops = vec![
                MultiOp::Create {
                    path: path.clone(),
                    data: Vec::new(),
                    mode: CreateMode::Ephemeral,
                },
                MultiOp::SetData {
                    path: path.clone(),
                    data: payload.clone(),
                    version: Some(0),
                },
            ];
            match self.zk.multi(ops).await {
                Ok(results) => {
                    let czxid = results
                        .iter()
                        .find_map(|r| match r {
                            MultiOpResult::SetData { stat } => Some(stat.czxid),
                            _ => None,
                        })
                        .ok_or_else(|| KafkaZkError::bad_data(&path, "multi returned no stat"))?;
                    info!(broker_id = info.id, broker_epoch = czxid, %path, "registered broker");
                    return Ok(czxid);
                }
                Err(e) if e.is_node_exists() => {
                    let (session, previous) = self.zk.session_ids().await?;
                    let Some((_, stat)) = self.zk.get_data_opt(&path, false).await? else {
                        continue; // vanished meanwhile: try again
                    };
                    if stat.ephemeral_owner == session {
                        return Ok(stat.czxid);
                    }
                    if Some(stat.ephemeral_owner) == previous {
                        warn!(%path, "deleting the registration left by our expired session");
                        match self.zk.delete(&path, Some(stat.version)).await {
                            Ok(()) => continue,
                            Err(e) if e.is_no_node() || e.is_bad_version() => continue,
                            Err(e) => return Err(e.into()),
                        }
                    }
                    return Err(KafkaZkError::BrokerIdInUse {
                        broker_id: info.id,
                        path,
                        owner: stat.ephemeral_owner,
                        session,
                    });
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(KafkaZkError::bad_data(
            &path,
            "registration kept racing with deletes",
        ))
    }

    /// Reads `/controller`, optionally arming an existence/data watch on it. `None` when no
    /// controller is elected.
    pub async fn get_controller_id(&self, watch: bool) -> Result<Option<i32>, KafkaZkError> {
        loop {
            if self
                .zk
                .exists(data::CONTROLLER_PATH, watch)
                .await?
                .is_none()
            {
                return Ok(None);
            }
            match self.zk.get_data_opt(data::CONTROLLER_PATH, false).await? {
                // Deleted between the two reads: the watch will fire; read again.
                None => continue,
                Some((bytes, _)) => {
                    return data::ControllerZNode::decode(&bytes)
                        .map(|c| Some(c.broker_id))
                        .map_err(|e| KafkaZkError::bad_data(data::CONTROLLER_PATH, e))
                }
            }
        }
    }

    /// Reads `/controller_epoch` and its data version.
    pub async fn get_controller_epoch(&self) -> Result<Option<(i32, i32)>, KafkaZkError> {
        match self
            .zk
            .get_data_opt(data::CONTROLLER_EPOCH_PATH, false)
            .await?
        {
            None => Ok(None),
            Some((bytes, stat)) => data::ControllerEpochZNode::decode(&bytes)
                .map(|e| Some((e.epoch, stat.version)))
                .map_err(|e| KafkaZkError::bad_data(data::CONTROLLER_EPOCH_PATH, e)),
        }
    }

    /// Kafka's `registerControllerAndIncrementControllerEpoch`: one `multi` creating the
    /// ephemeral `/controller` and bumping `/controller_epoch` conditionally on its version.
    pub async fn register_controller_and_increment_epoch(
        &self,
        broker_id: i32,
    ) -> Result<ControllerEpoch, KafkaZkError> {
        let (epoch, version) = match self.get_controller_epoch().await? {
            Some(e) => e,
            None => {
                let zero = data::ControllerEpochZNode { epoch: 0 }.encode();
                match self
                    .zk
                    .create(data::CONTROLLER_EPOCH_PATH, zero, CreateMode::Persistent)
                    .await
                {
                    Ok(_) => {}
                    Err(e) if e.is_node_exists() => {}
                    Err(e) => return Err(e.into()),
                }
                self.get_controller_epoch().await?.ok_or_else(|| {
                    KafkaZkError::bad_data(data::CONTROLLER_EPOCH_PATH, "vanished after create")
                })?
            }
        };
        let new_epoch = epoch + 1;
        let controller = data::ControllerZNode {
            broker_id,
            timestamp_ms: now_ms(),
        }
        .encode();
        let ops = vec![
            MultiOp::Create {
                path: data::CONTROLLER_PATH.to_string(),
                data: controller,
                mode: CreateMode::Ephemeral,
            },
            MultiOp::SetData {
                path: data::CONTROLLER_EPOCH_PATH.to_string(),
                data: data::ControllerEpochZNode { epoch: new_epoch }.encode(),
                version: Some(version),
            },
        ];
        match self.zk.multi(ops).await {
            Ok(results) => {
                let epoch_zk_version = results
                    .iter()
                    .find_map(|r| match r {
                        MultiOpResult::SetData { stat } => Some(stat.version),
                        _ => None,
                    })
                    .unwrap_or(version + 1);
                Ok(ControllerEpoch {
                    epoch: new_epoch,
                    epoch_zk_version,
                })
            }
            Err(e) if e.is_node_exists() || e.is_bad_version() => {
                // A retried multi may have succeeded for us: check who holds the znodes now.
                let holder = self.get_controller_id(false).await?;
                let current = self.get_controller_epoch().await?;
                match (holder, current) {
                    (Some(id), Some((ep, v))) if id == broker_id && ep == new_epoch => {
                        Ok(ControllerEpoch {
                            epoch: ep,
                            epoch_zk_version: v,
                        })
                    }
                    _ => Err(KafkaZkError::ControllerMoved(format!(
                        "controller is {holder:?} at epoch {current:?}"
                    ))),
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes `/controller` fenced by the epoch version (resignation): a no-op if another
    /// controller has taken over meanwhile.
    pub async fn delete_controller(&self, epoch_zk_version: i32) -> Result<(), KafkaZkError> {
        let ops = vec![
            MultiOp::Check {
                path: data::CONTROLLER_EPOCH_PATH.to_string(),
                version: epoch_zk_version,
            },
            MultiOp::Delete {
                path: data::CONTROLLER_PATH.to_string(),
                version: None,
            },
        ];
        match self.zk.multi(ops).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_no_node() || e.is_bad_version() => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Runs a controller write fenced by `/controller_epoch`'s version (Kafka's
    /// `checkedEphemeral`/`multi(check, op)` pattern). A failed check means the controller moved.
    pub async fn controller_write(
        &self,
        epoch_zk_version: i32,
        op: MultiOp,
    ) -> Result<MultiOpResult, KafkaZkError> {
        let ops = vec![
            MultiOp::Check {
                path: data::CONTROLLER_EPOCH_PATH.to_string(),
                version: epoch_zk_version,
            },
            op,
        ];
        match self.zk.multi(ops).await {
            Ok(mut r) if r.len() == 2 => Ok(r.remove(1)),
            Ok(_) => Err(KafkaZkError::bad_data("multi", "unexpected result count")),
            Err(ZkError::MultiFailed { index: 0, .. }) => Err(KafkaZkError::ControllerMoved(
                format!("/controller_epoch is no longer at version {epoch_zk_version}"),
            )),
            Err(e) => Err(e.into()),
        }
    }

    /// Reads `/brokers/topics/<t>/partitions/<p>/state` and its data version (the partition's
    /// `zkVersion`); `None` when the partition has no state yet.
    pub async fn get_topic_partition_state(
        &self,
        topic: &str,
        partition: i32,
    ) -> Result<Option<(data::PartitionStateZNode, i32)>, KafkaZkError> {
        let path = data::topic_partition_state_path(topic, partition);
        match self.zk.get_data_opt(&path, false).await? {
            None => Ok(None),
            Some((bytes, stat)) => data::PartitionStateZNode::decode(&bytes)
                .map(|s| Some((s, stat.version)))
                .map_err(|e| KafkaZkError::bad_data(&path, e)),
        }
    }

    /// Kafka's `updateLeaderAndIsr` for one partition: the state znode is set only if it is
    /// still at `expected_version`, fenced by `/controller_epoch`. `Some(new version)` on
    /// success, `None` when the znode moved on (BADVERSION: re-read and retry).
    pub async fn update_leader_and_isr(
        &self,
        topic: &str,
        partition: i32,
        state: &data::PartitionStateZNode,
        expected_version: i32,
        epoch_zk_version: i32,
    ) -> Result<Option<i32>, KafkaZkError> {
        let op = MultiOp::SetData {
            path: data::topic_partition_state_path(topic, partition),
            data: state.encode(),
            version: Some(expected_version),
        };
        match self.controller_write(epoch_zk_version, op).await {
            Ok(MultiOpResult::SetData { stat }) => Ok(Some(stat.version)),
            Ok(other) => Err(KafkaZkError::bad_data(
                &data::topic_partition_state_path(topic, partition),
                format!("unexpected multi result {other:?}"),
            )),
            Err(KafkaZkError::Zk(e)) if e.is_bad_version() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Reads `/feature`, optionally arming a watch; returns the znode and its version (the
    /// finalized-features epoch).
    pub async fn get_feature(
        &self,
        watch: bool,
    ) -> Result<Option<(data::FeatureZNode, i32)>, KafkaZkError> {
        if self.zk.exists(data::FEATURE_PATH, watch).await?.is_none() {
            return Ok(None);
        }
        match self.zk.get_data_opt(data::FEATURE_PATH, false).await? {
            None => Ok(None),
            Some((bytes, stat)) => data::FeatureZNode::decode(&bytes)
                .map(|f| Some((f, stat.version)))
                .map_err(|e| KafkaZkError::bad_data(data::FEATURE_PATH, e)),
        }
    }

    /// Reads `/latest_producer_id_block` and its data version (Kafka's `getDataAndVersion`):
    /// `None` when the znode does not exist, `Some((None, v))` for the empty znode brokers
    /// create at startup.
    pub async fn get_producer_id_block(
        &self,
    ) -> Result<Option<(Option<data::ProducerIdBlockZNode>, i32)>, KafkaZkError> {
        let path = data::LATEST_PRODUCER_ID_BLOCK_PATH;
        match self.zk.get_data_opt(path, false).await? {
            None => Ok(None),
            Some((bytes, stat)) => data::ProducerIdBlockZNode::decode_optional(&bytes)
                .map(|block| Some((block, stat.version)))
                .map_err(|e| KafkaZkError::bad_data(path, e)),
        }
    }

    /// Writes `block` to `/latest_producer_id_block` only if the znode still has data version
    /// `expected_version` (`None`: only if it does not exist yet) — Kafka's
    /// `conditionalUpdatePath`. `Ok(false)` when another writer got there first.
    pub async fn conditional_set_producer_id_block(
        &self,
        block: &data::ProducerIdBlockZNode,
        expected_version: Option<i32>,
    ) -> Result<bool, KafkaZkError> {
        let path = data::LATEST_PRODUCER_ID_BLOCK_PATH;
        let result = match expected_version {
            Some(version) => self
                .zk
                .set_data(path, block.encode(), Some(version))
                .await
                .map(|_| ()),
            None => self
                .zk
                .create(path, block.encode(), CreateMode::Persistent)
                .await
                .map(|_| ()),
        };
        match result {
            Ok(()) => Ok(true),
            Err(e) if e.is_bad_version() || e.is_node_exists() || e.is_no_node() => Ok(false),
            Err(e) => Err(e.into()),
        }
    }
}
