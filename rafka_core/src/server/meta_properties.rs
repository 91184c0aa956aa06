//! `meta.properties` in each log dir: the broker and cluster identity a dir belongs to
//! (ZK mode: `version=0`, `broker.id`, `cluster.id`), read at startup and written atomically.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

pub const META_PROPERTIES_FILE: &str = "meta.properties";

/// Identity stored in one log dir.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetaProperties {
    pub broker_id: i32,
    pub cluster_id: Option<String>,
}

/// Why a `meta.properties` file or the set of them is unusable.
#[derive(Debug, thiserror::Error)]
pub enum MetaPropertiesError {
    #[error("failed to read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("failed to write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a valid properties file: {reason}")]
    Parse { path: PathBuf, reason: String },
    #[error(
        "{path} has version {version}; a ZooKeeper-mode broker needs version 0 \
         (version 1 is a KRaft log dir)"
    )]
    UnsupportedVersion { path: PathBuf, version: String },
    #[error("failed to match broker.id across log.dirs: {0}")]
    InconsistentBrokerIdAcrossDirs(String),
    #[error(
        "configured broker.id {configured} doesn't match stored broker.id {stored} in \
         meta.properties; if you moved your data, make sure your configured broker.id matches; \
         if you intend to create a new broker, remove the log dirs' meta.properties"
    )]
    InconsistentBrokerId { configured: i32, stored: i32 },
    #[error(
        "the cluster id {zk} in ZooKeeper doesn't match the stored cluster.id {stored} in \
         {path}: the broker is trying to join the wrong cluster; configured zookeeper.connect \
         may be wrong"
    )]
    InconsistentClusterId {
        zk: String,
        stored: String,
        path: PathBuf,
    },
}

impl MetaProperties {
    /// Reads `<dir>/meta.properties`; `Ok(None)` when the file does not exist.
    pub fn read(dir: &Path) -> Result<Option<MetaProperties>, MetaPropertiesError> {
        let path = dir.join(META_PROPERTIES_FILE);
        let file = match fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(MetaPropertiesError::Read { path, source }),
        };
        let props: BTreeMap<String, String> = java_properties::read(file)
            .map_err(|e| MetaPropertiesError::Parse {
                path: path.clone(),
                reason: e.to_string(),
            })?
            .into_iter()
            .collect();
        let version = props.get("version").map(String::as_str).unwrap_or("");
        if version.trim() != "0" {
            return Err(MetaPropertiesError::UnsupportedVersion {
                path,
                version: version.into(),
            });
        }
        let broker_id = props
            .get("broker.id")
            .and_then(|v| v.trim().parse::<i32>().ok())
            .ok_or_else(|| MetaPropertiesError::Parse {
                path: path.clone(),
                reason: "missing or invalid broker.id".into(),
            })?;
        let cluster_id = props.get("cluster.id").map(|s| s.trim().to_string());
        Ok(Some(MetaProperties {
            broker_id,
            cluster_id,
        }))
    }

    /// Writes `<dir>/meta.properties` atomically (tmp file, fsync, rename), as Kafka does.
    pub fn write(&self, dir: &Path) -> Result<(), MetaPropertiesError> {
        let path = dir.join(META_PROPERTIES_FILE);
        let tmp = dir.join(format!("{META_PROPERTIES_FILE}.tmp"));
        let wrap = |source| MetaPropertiesError::Write {
            path: path.clone(),
            source,
        };
        let mut text = String::from("#\n#");
        text.push_str(&httpdate_like_now());
        text.push('\n');
        if let Some(cluster_id) = &self.cluster_id {
            text.push_str(&format!("cluster.id={cluster_id}\n"));
        }
        text.push_str("version=0\n");
        text.push_str(&format!("broker.id={}\n", self.broker_id));
        let mut f = fs::File::create(&tmp).map_err(wrap)?;
        f.write_all(text.as_bytes()).map_err(wrap)?;
        f.sync_all().map_err(wrap)?;
        fs::rename(&tmp, &path).map_err(wrap)?;
        if let Ok(d) = fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

/// The comment line Java's `Properties.store` writes is a date; ours is the epoch millis in
/// the same position, which readers ignore.
fn httpdate_like_now() -> String {
    format!(
        "{} (written by Rafka)",
        crate::zk::kafka_zk_client::now_ms()
    )
}

/// The `meta.properties` of every log dir that has one.
pub fn read_all(dirs: &[PathBuf]) -> Result<Vec<(PathBuf, MetaProperties)>, MetaPropertiesError> {
    let mut found = Vec::new();
    for dir in dirs {
        if let Some(meta) = MetaProperties::read(dir)? {
            found.push((dir.clone(), meta));
        }
    }
    Ok(found)
}

/// Checks every stored cluster id against ZooKeeper's (Kafka's InconsistentClusterIdException).
pub fn check_cluster_id(
    found: &[(PathBuf, MetaProperties)],
    zk_cluster_id: &str,
) -> Result<(), MetaPropertiesError> {
    for (dir, meta) in found {
        if let Some(stored) = &meta.cluster_id {
            if stored != zk_cluster_id {
                return Err(MetaPropertiesError::InconsistentClusterId {
                    zk: zk_cluster_id.to_string(),
                    stored: stored.clone(),
                    path: dir.join(META_PROPERTIES_FILE),
                });
            }
        }
    }
    Ok(())
}

/// The broker id the dirs agree on, if any; dirs that disagree are an error.
pub fn stored_broker_id(
    found: &[(PathBuf, MetaProperties)],
) -> Result<Option<i32>, MetaPropertiesError> {
    let mut ids: Vec<(i32, &Path)> = found
        .iter()
        .map(|(d, m)| (m.broker_id, d.as_path()))
        .collect();
    ids.sort_unstable_by_key(|(id, _)| *id);
    ids.dedup_by_key(|(id, _)| *id);
    match ids.as_slice() {
        [] => Ok(None),
        [(id, _)] => Ok(Some(*id)),
        many => Err(MetaPropertiesError::InconsistentBrokerIdAcrossDirs(
            many.iter()
                .map(|(id, d)| format!("{}={id}", d.display()))
                .collect::<Vec<_>>()
                .join(", "),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_then_read_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let meta = MetaProperties {
            broker_id: 7,
            cluster_id: Some("abcdefghijklmnopqrstuv".into()),
        };
        meta.write(dir.path()).unwrap();
        let text = fs::read_to_string(dir.path().join(META_PROPERTIES_FILE)).unwrap();
        assert!(text.contains("version=0\n"));
        assert!(text.contains("broker.id=7\n"));
        assert!(text.contains("cluster.id=abcdefghijklmnopqrstuv\n"));
        assert!(text.starts_with('#'));
        assert_eq!(MetaProperties::read(dir.path()).unwrap(), Some(meta));
        assert!(!dir.path().join("meta.properties.tmp").exists());
    }

    #[test]
    fn missing_file_is_none_and_kraft_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(MetaProperties::read(dir.path()).unwrap(), None);
        fs::write(
            dir.path().join(META_PROPERTIES_FILE),
            "version=1\nnode.id=1\n",
        )
        .unwrap();
        assert!(matches!(
            MetaProperties::read(dir.path()),
            Err(MetaPropertiesError::UnsupportedVersion { .. })
        ));
    }

    #[test]
    fn ids_must_agree() {
        let m = |id, c: &str| MetaProperties {
            broker_id: id,
            cluster_id: Some(c.into()),
        };
        let found = vec![
            (PathBuf::from("/a"), m(1, "x")),
            (PathBuf::from("/b"), m(1, "x")),
        ];
        assert_eq!(stored_broker_id(&found).unwrap(), Some(1));
        assert!(check_cluster_id(&found, "x").is_ok());
        let err = check_cluster_id(&found, "y").unwrap_err();
        assert!(err
            .to_string()
            .contains("doesn't match the stored cluster.id x"));
        let found = vec![
            (PathBuf::from("/a"), m(1, "x")),
            (PathBuf::from("/b"), m(2, "x")),
        ];
        assert!(stored_broker_id(&found).is_err());
    }
}
