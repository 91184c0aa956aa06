//! DescribeLogDirs (key 35, v0–4): Kafka's `ReplicaManager.describeLogDirs`: every entry of
//! `log.dirs` with the partitions it holds (size in bytes, offset lag 0 — no future
//! replicas) and, from v4, the file system's total and usable bytes. `topics` null means
//! every partition; otherwise only the listed ones. Offline partitions' dirs are not listed.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use kafka_protocol::messages::describe_log_dirs_response::{
    DescribeLogDirsPartition, DescribeLogDirsResult, DescribeLogDirsTopic,
};
use kafka_protocol::messages::{DescribeLogDirsRequest, DescribeLogDirsResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use crate::log::log_manager::lock_log;
use crate::network::Response;
use crate::protocol::ParsedRequest;
use crate::server::replica_manager::ReplicaManager;

/// Answers one DescribeLogDirs request.
pub fn handle(replica_manager: Option<&ReplicaManager>, request: &ParsedRequest) -> Response {
    let body: DescribeLogDirsRequest = match super::decode(request) {
        Ok(body) => body,
        Err(close) => return close,
    };
    let wanted: Option<HashSet<(String, i32)>> = body.topics.as_ref().map(|topics| {
        topics
            .iter()
            .flat_map(|t| t.partitions.iter().map(|p| (t.topic.to_string(), *p)))
            .collect()
    });
    let mut results = Vec::new();
    if let Some(rm) = replica_manager {
        let log_manager = rm.log_manager();
        // dir → topic → partitions
        let mut by_dir: BTreeMap<String, BTreeMap<String, Vec<DescribeLogDirsPartition>>> =
            log_manager
                .log_dirs()
                .iter()
                .map(|d| (d.display().to_string(), BTreeMap::new()))
                .collect();
        for (tp, log) in log_manager.all_logs() {
            if let Some(w) = &wanted {
                if !w.contains(&(tp.topic.clone(), tp.partition)) {
                    continue;
                }
            }
            let Some(dir) = log_manager.log_dir_of(&tp) else {
                continue;
            };
            let size = lock_log(&log).size_in_bytes();
            by_dir
                .entry(dir.display().to_string())
                .or_default()
                .entry(tp.topic.clone())
                .or_default()
                .push(
                    DescribeLogDirsPartition::default()
                        .with_partition_index(tp.partition)
                        .with_partition_size(i64::try_from(size).unwrap_or(i64::MAX))
                        .with_offset_lag(0)
                        .with_is_future_key(false),
                );
        }
        for (dir, topics) in by_dir {
            let (total, usable) = disk_space(Path::new(&dir));
            let mut r = DescribeLogDirsResult::default()
                .with_log_dir(StrBytes::from_string(dir))
                .with_topics(
                    topics
                        .into_iter()
                        .map(|(name, partitions)| {
                            DescribeLogDirsTopic::default()
                                .with_name(TopicName(StrBytes::from_string(name)))
                                .with_partitions(partitions)
                        })
                        .collect(),
                );
            if request.api_version() >= 4 {
                r = r.with_total_bytes(total).with_usable_bytes(usable);
            }
            results.push(r);
        }
    }
    let response = DescribeLogDirsResponse::default().with_results(results);
    super::send(request, &response)
}

/// (total, usable) bytes of the file system holding `dir`; −1 when unknown (Kafka's
/// `UNKNOWN_VOLUME_BYTES`).
fn disk_space(dir: &Path) -> (i64, i64) {
    match nix::sys::statvfs::statvfs(dir) {
        Ok(s) => {
            let frag = s.fragment_size() as i64;
            (
                (s.blocks() as i64).saturating_mul(frag),
                (s.blocks_available() as i64).saturating_mul(frag),
            )
        }
        Err(_) => (-1, -1),
    }
}
