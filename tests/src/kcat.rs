//! `kcat -L -J` (Debian's kcat, librdkafka) as a real client's view of cluster metadata.

use std::process::Command;

use serde_json::Value;

/// Where Debian's package installs kcat (`scripts/install-deps.sh`).
pub const KCAT: &str = "/usr/bin/kcat";

/// One partition as kcat reports it; replica and ISR ids are sorted.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct KcatPartition {
    pub partition: i64,
    pub leader: i64,
    pub replicas: Vec<i64>,
    pub isr: Vec<i64>,
}

/// Runs `kcat -b BOOTSTRAP -L -J [-t TOPIC]` (5 s metadata timeout) and parses its JSON;
/// `None` if kcat failed or printed no JSON. Panics if kcat is not installed, so a missing
/// client fails the test instead of skipping it.
pub fn kcat_metadata(bootstrap: &str, topic: Option<&str>) -> Option<Value> {
    assert!(
        std::path::Path::new(KCAT).is_file(),
        "{KCAT} is missing: run scripts/install-deps.sh (installs Debian's kcat)"
    );
    let mut cmd = Command::new(KCAT);
    cmd.args(["-b", bootstrap, "-L", "-J", "-m", "5"]);
    if let Some(t) = topic {
        cmd.args(["-t", t]);
    }
    let out = cmd.output().expect("run kcat");
    if !out.status.success() {
        return None;
    }
    serde_json::from_slice(&out.stdout).ok()
}

/// Sorted `(broker id, host:port)` pairs and the controller id of a `kcat -L -J` answer.
pub fn kcat_brokers(json: &Value) -> Option<(Vec<(i64, String)>, i64)> {
    let mut brokers: Vec<(i64, String)> = json["brokers"]
        .as_array()?
        .iter()
        .map(|b| {
            let id = b["id"].as_i64().unwrap_or(-100);
            (id, b["name"].as_str().unwrap_or_default().to_string())
        })
        .collect();
    brokers.sort();
    Some((brokers, json["controllerid"].as_i64()?))
}

/// The partitions of `topic` (sorted), or `None` if kcat reports an error for the topic or
/// no partitions.
pub fn kcat_partitions(bootstrap: &str, topic: &str) -> Option<Vec<KcatPartition>> {
    let json = kcat_metadata(bootstrap, Some(topic))?;
    let t = json["topics"]
        .as_array()?
        .iter()
        .find(|t| t["topic"] == topic)?;
    if t.get("error").is_some() {
        return None;
    }
    let ids = |v: &Value| -> Vec<i64> {
        let mut out: Vec<i64> = v
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r["id"].as_i64())
            .collect();
        out.sort_unstable();
        out
    };
    let mut parts: Vec<KcatPartition> = t["partitions"]
        .as_array()?
        .iter()
        .map(|p| KcatPartition {
            partition: p["partition"].as_i64().unwrap_or(-100),
            leader: p["leader"].as_i64().unwrap_or(-100),
            replicas: ids(&p["replicas"]),
            isr: ids(&p["isrs"]),
        })
        .collect();
    parts.sort();
    (!parts.is_empty()).then_some(parts)
}

/// Waits (bounded) until `kcat -L` through `bootstrap` lists `count` brokers: the broker has
/// received the controller's UpdateMetadata naming them.
pub fn kcat_wait_for_brokers(bootstrap: &str, count: usize, timeout: std::time::Duration) -> bool {
    crate::poll_until(timeout, std::time::Duration::from_millis(250), || {
        let (brokers, _) = kcat_brokers(&kcat_metadata(bootstrap, None)?)?;
        (brokers.len() == count).then_some(())
    })
    .is_some()
}
