//! ZooKeeper access.
