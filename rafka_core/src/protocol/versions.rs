//! The API version table: exactly the (api key, min, max) ranges this broker implements.
//!
//! ApiVersions advertises this table verbatim and the request parser rejects everything outside
//! it, so "advertised" and "decoded" can never drift apart (clients pick features from the
//! advertised ranges; over-advertising breaks them). Adding an API is one line here plus its
//! handler in `server/apis/`.

use kafka_protocol::messages::ApiKey;

/// One advertised API: key and inclusive version range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ApiVersionRange {
    pub api_key: ApiKey,
    pub min: i16,
    pub max: i16,
}

impl ApiVersionRange {
    const fn new(api_key: ApiKey, min: i16, max: i16) -> ApiVersionRange {
        ApiVersionRange { api_key, min, max }
    }

    /// Whether `version` lies inside this range.
    pub fn contains(&self, version: i16) -> bool {
        (self.min..=self.max).contains(&version)
    }
}

/// What this broker serves, in api-key order (the order ApiVersions lists them in).
/// Ranges follow Kafka 3.9's ZK broker (what kafka-protocol 0.15.1 was generated from; spec
/// protocol-apis.md §2, crates-and-pitfalls.md) and must stay within what kafka-protocol
/// 0.15.1 can decode (checked by a test below).
pub const SUPPORTED_VERSIONS: &[ApiVersionRange] = &[
    // Produce v0–2 / Fetch v0–3 carry magic 0/1 message sets (see apis/produce.rs).
    ApiVersionRange::new(ApiKey::Produce, 3, 11),
    ApiVersionRange::new(ApiKey::Fetch, 4, 16),
    ApiVersionRange::new(ApiKey::ListOffsets, 0, 9),
    ApiVersionRange::new(ApiKey::Metadata, 0, 12),
    ApiVersionRange::new(ApiKey::LeaderAndIsr, 0, 7),
    ApiVersionRange::new(ApiKey::StopReplica, 0, 4),
    ApiVersionRange::new(ApiKey::UpdateMetadata, 0, 8),
    ApiVersionRange::new(ApiKey::ControlledShutdown, 0, 3),
    ApiVersionRange::new(ApiKey::OffsetCommit, 0, 9),
    ApiVersionRange::new(ApiKey::OffsetFetch, 0, 9),
    ApiVersionRange::new(ApiKey::FindCoordinator, 0, 6),
    ApiVersionRange::new(ApiKey::JoinGroup, 0, 9),
    ApiVersionRange::new(ApiKey::Heartbeat, 0, 4),
    ApiVersionRange::new(ApiKey::LeaveGroup, 0, 5),
    ApiVersionRange::new(ApiKey::SyncGroup, 0, 5),
    ApiVersionRange::new(ApiKey::DescribeGroups, 0, 5),
    ApiVersionRange::new(ApiKey::ListGroups, 0, 5),
    ApiVersionRange::new(ApiKey::ApiVersions, 0, 3),
    ApiVersionRange::new(ApiKey::CreateTopics, 0, 7),
    ApiVersionRange::new(ApiKey::DeleteTopics, 0, 6),
    ApiVersionRange::new(ApiKey::DeleteRecords, 0, 2),
    ApiVersionRange::new(ApiKey::InitProducerId, 0, 5),
    ApiVersionRange::new(ApiKey::OffsetForLeaderEpoch, 0, 4),
    ApiVersionRange::new(ApiKey::DescribeConfigs, 0, 4),
    ApiVersionRange::new(ApiKey::AlterConfigs, 0, 2),
    ApiVersionRange::new(ApiKey::DescribeLogDirs, 0, 4),
    ApiVersionRange::new(ApiKey::CreatePartitions, 0, 3),
    ApiVersionRange::new(ApiKey::DeleteGroups, 0, 2),
    ApiVersionRange::new(ApiKey::ElectLeaders, 0, 2),
    ApiVersionRange::new(ApiKey::IncrementalAlterConfigs, 0, 1),
    ApiVersionRange::new(ApiKey::AlterPartitionReassignments, 0, 0),
    ApiVersionRange::new(ApiKey::ListPartitionReassignments, 0, 0),
    ApiVersionRange::new(ApiKey::OffsetDelete, 0, 0),
    ApiVersionRange::new(ApiKey::AlterPartition, 0, 3),
    ApiVersionRange::new(ApiKey::DescribeCluster, 0, 1),
];

/// The advertised range of `api_key`, or `None` when the broker does not serve it.
pub fn supported_range(api_key: ApiKey) -> Option<ApiVersionRange> {
    SUPPORTED_VERSIONS
        .iter()
        .copied()
        .find(|r| r.api_key == api_key)
}

/// ApiVersions' own range: what an UNSUPPORTED_VERSION answer lists (KIP-511), so a client
/// can retry with a version we speak.
pub fn api_versions_range() -> ApiVersionRange {
    // ApiVersions is always in the table (the test below guards this); the fallback keeps
    // this total without a panic path.
    supported_range(ApiKey::ApiVersions).unwrap_or(ApiVersionRange::new(ApiKey::ApiVersions, 0, 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_unique_and_decodable() {
        assert!(supported_range(ApiKey::ApiVersions).is_some());
        for pair in SUPPORTED_VERSIONS.windows(2) {
            assert!(
                (pair[0].api_key as i16) < (pair[1].api_key as i16),
                "SUPPORTED_VERSIONS must be sorted by key without duplicates"
            );
        }
        for r in SUPPORTED_VERSIONS {
            let lib = r.api_key.valid_versions();
            assert!(
                r.min <= r.max && r.min >= lib.min && r.max <= lib.max,
                "{:?} {}..={} outside kafka-protocol's {}..={}",
                r.api_key,
                r.min,
                r.max,
                lib.min,
                lib.max
            );
        }
    }

    #[test]
    fn api_versions_is_zero_to_three() {
        let r = api_versions_range();
        assert_eq!((r.min, r.max), (0, 3));
        assert!(r.contains(3) && !r.contains(4) && !r.contains(-1));
    }
}
