//! Errors of ZooKeeper operations, with the path they concern.

use zookeeper_client as zkc;

/// A failed ZooKeeper operation. Variants the broker reacts to are explicit; the rest keep
/// the library's message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ZkError {
    #[error("znode {path} does not exist")]
    NoNode { path: String },
    #[error("znode {path} already exists")]
    NodeExists { path: String },
    #[error("znode {path} has a different version")]
    BadVersion { path: String },
    #[error("znode {path} has children")]
    NotEmpty { path: String },
    #[error("ZooKeeper connection lost during an operation on {path}")]
    ConnectionLoss { path: String },
    #[error("ZooKeeper session expired")]
    SessionExpired,
    #[error("no ZooKeeper session (reconnecting)")]
    NotConnected,
    #[error("ZooKeeper client task has stopped")]
    Closed,
    #[error("timed out after {timeout_ms} ms waiting to connect to ZooKeeper at {servers}")]
    ConnectTimeout { servers: String, timeout_ms: u64 },
    #[error("operation {index} of a ZooKeeper multi failed: {source}")]
    MultiFailed { index: usize, source: Box<ZkError> },
    #[error("ZooKeeper operation on {path} failed: {message}")]
    Other { path: String, message: String },
}

impl ZkError {
    pub(crate) fn from_zk(e: zkc::Error, path: &str) -> ZkError {
        let path = path.to_string();
        match e {
            zkc::Error::NoNode => ZkError::NoNode { path },
            zkc::Error::NodeExists => ZkError::NodeExists { path },
            zkc::Error::BadVersion => ZkError::BadVersion { path },
            zkc::Error::NotEmpty => ZkError::NotEmpty { path },
            zkc::Error::ConnectionLoss => ZkError::ConnectionLoss { path },
            zkc::Error::SessionExpired | zkc::Error::SessionMoved => ZkError::SessionExpired,
            zkc::Error::ClientClosed => ZkError::Closed,
            other => ZkError::Other {
                path,
                message: other.to_string(),
            },
        }
    }

    pub(crate) fn unexpected(path: &str, reply: &impl std::fmt::Debug) -> ZkError {
        ZkError::Other {
            path: path.to_string(),
            message: format!("unexpected reply {reply:?}"),
        }
    }

    /// The error of the failing operation, looking through a `multi`.
    pub fn root(&self) -> &ZkError {
        match self {
            ZkError::MultiFailed { source, .. } => source.root(),
            other => other,
        }
    }

    pub fn is_node_exists(&self) -> bool {
        matches!(self.root(), ZkError::NodeExists { .. })
    }

    pub fn is_no_node(&self) -> bool {
        matches!(self.root(), ZkError::NoNode { .. })
    }

    pub fn is_bad_version(&self) -> bool {
        matches!(self.root(), ZkError::BadVersion { .. })
    }

    /// Errors after which the operation can be retried once a session is back.
    pub fn is_transient(&self) -> bool {
        matches!(
            self.root(),
            ZkError::ConnectionLoss { .. } | ZkError::SessionExpired | ZkError::NotConnected
        )
    }
}
