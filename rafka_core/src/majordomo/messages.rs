//! The typed messages other tasks send to Majordomo, and the snapshot it publishes.

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio::sync::oneshot;

use crate::config::{ConfigError, KafkaConfig, LogConfig};
use crate::server::broker_state::BrokerState;
use crate::zk::zk_data::{BrokerInfo, ConfigType, VersionRange};

/// Features finalized cluster-wide in `/feature` (KIP-584); `epoch` is the znode version,
/// −1 when the znode is absent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FinalizedFeatures {
    pub epoch: i32,
    pub enabled: bool,
    pub features: BTreeMap<String, VersionRange>,
}

/// A registered broker as the controller sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveBroker {
    pub info: BrokerInfo,
    /// The czxid of its registration znode.
    pub epoch: i64,
}

/// Broker-wide state that changes rarely, published to subscribers on every change.
#[derive(Clone, Debug)]
pub struct BrokerMetadata {
    pub broker_id: i32,
    /// The czxid of our registration; changes with every new ZooKeeper session.
    pub broker_epoch: i64,
    pub cluster_id: String,
    pub state: BrokerState,
    /// The broker named in `/controller`, if any.
    pub active_controller_id: Option<i32>,
    /// Set while this broker is the active controller: its controller epoch.
    pub controller_epoch: Option<i32>,
    /// Registered brokers; maintained while this broker is the controller.
    pub live_brokers: BTreeMap<i32, LiveBroker>,
    pub finalized_features: FinalizedFeatures,
}

impl BrokerMetadata {
    pub fn is_controller(&self) -> bool {
        self.controller_epoch.is_some()
    }
}

/// Messages to Majordomo. Queries carry a `oneshot` for the answer; updates come from the
/// controller, the dynamic config manager and Majordomo's own ZooKeeper reads.
#[derive(Debug)]
pub enum MajordomoMessage {
    /// The current metadata snapshot.
    Metadata(oneshot::Sender<Arc<BrokerMetadata>>),
    /// The effective config (static file + dynamic overrides).
    EffectiveConfig(oneshot::Sender<Arc<KafkaConfig>>),
    /// The effective config of one topic's log (topic overrides over the broker's values).
    LogConfig {
        topic: String,
        reply: oneshot::Sender<Result<LogConfig, ConfigError>>,
    },
    /// The stored overrides of any config entity (`clients`, `users`, `ips`, `topics`, ...).
    EntityConfig {
        entity_type: ConfigType,
        name: String,
        reply: oneshot::Sender<BTreeMap<String, String>>,
    },
    /// From the controller: who holds `/controller`, and our epoch if it is us.
    ControllerChanged {
        active_controller_id: Option<i32>,
        controller_epoch: Option<i32>,
    },
    /// From the controller: the registered brokers.
    LiveBrokers(BTreeMap<i32, LiveBroker>),
    /// From the dynamic config manager: an entity's overrides were (re)read.
    EntityConfigChanged {
        entity_type: ConfigType,
        name: String,
        config: BTreeMap<String, String>,
    },
    /// `/feature` was (re)read.
    FeaturesLoaded(FinalizedFeatures),
    /// Our registration was re-created in a new session.
    BrokerReregistered { broker_epoch: i64 },
    /// Lifecycle state change (set by the server's startup and shutdown sequence).
    SetState(BrokerState),
}
