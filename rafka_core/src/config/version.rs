//! Kafka's inter-broker protocol / message format versions (`ApiVersion`, later `MetadataVersion`):
//! the accepted spellings of `inter.broker.protocol.version` and `log.message.format.version`,
//! their order, and the record format each one implies.

use std::fmt;

/// `(version, release)` in Kafka's order: a later entry is a newer version. Versions after
/// 3.9-IV0 are not listed because the broker does not speak them (Kafka 3.9 marks 4.0-IV0 as
/// unstable too).
const VERSIONS: &[(&str, &str)] = &[
    ("0.8.0", "0.8.0"),
    ("0.8.1", "0.8.1"),
    ("0.8.2", "0.8.2"),
    ("0.9.0", "0.9.0"),
    ("0.10.0-IV0", "0.10.0"),
    ("0.10.0-IV1", "0.10.0"),
    ("0.10.1-IV0", "0.10.1"),
    ("0.10.1-IV1", "0.10.1"),
    ("0.10.1-IV2", "0.10.1"),
    ("0.10.2-IV0", "0.10.2"),
    ("0.11.0-IV0", "0.11.0"),
    ("0.11.0-IV1", "0.11.0"),
    ("0.11.0-IV2", "0.11.0"),
    ("1.0-IV0", "1.0"),
    ("1.1-IV0", "1.1"),
    ("2.0-IV0", "2.0"),
    ("2.0-IV1", "2.0"),
    ("2.1-IV0", "2.1"),
    ("2.1-IV1", "2.1"),
    ("2.1-IV2", "2.1"),
    ("2.2-IV0", "2.2"),
    ("2.2-IV1", "2.2"),
    ("2.3-IV0", "2.3"),
    ("2.3-IV1", "2.3"),
    ("2.4-IV0", "2.4"),
    ("2.4-IV1", "2.4"),
    ("2.5-IV0", "2.5"),
    ("2.6-IV0", "2.6"),
    ("2.7-IV0", "2.7"),
    ("2.7-IV1", "2.7"),
    ("2.7-IV2", "2.7"),
    ("2.8-IV0", "2.8"),
    ("2.8-IV1", "2.8"),
    ("3.0-IV0", "3.0"),
    ("3.0-IV1", "3.0"),
    ("3.1-IV0", "3.1"),
    ("3.2-IV0", "3.2"),
    ("3.3-IV0", "3.3"),
    ("3.3-IV1", "3.3"),
    ("3.3-IV2", "3.3"),
    ("3.3-IV3", "3.3"),
    ("3.4-IV0", "3.4"),
    ("3.5-IV0", "3.5"),
    ("3.5-IV1", "3.5"),
    ("3.5-IV2", "3.5"),
    ("3.6-IV0", "3.6"),
    ("3.6-IV1", "3.6"),
    ("3.6-IV2", "3.6"),
    ("3.7-IV0", "3.7"),
    ("3.7-IV1", "3.7"),
    ("3.7-IV2", "3.7"),
    ("3.7-IV3", "3.7"),
    ("3.7-IV4", "3.7"),
    ("3.8-IV0", "3.8"),
    ("3.9-IV0", "3.9"),
];

/// One inter-broker protocol version; ordered oldest to newest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProtocolVersion(u8);

impl ProtocolVersion {
    /// 0.10.0-IV0: message format v1 (timestamps).
    pub const KAFKA_0_10_0_IV0: ProtocolVersion = ProtocolVersion(4);
    /// 0.10.0-IV1: SASL handshake between brokers.
    pub const KAFKA_0_10_0_IV1: ProtocolVersion = ProtocolVersion(5);
    /// 0.11.0-IV0: message format v2 (record batches).
    pub const KAFKA_0_11_0_IV0: ProtocolVersion = ProtocolVersion(10);
    /// 2.1-IV0: zstd allowed for internal topics.
    pub const KAFKA_2_1_IV0: ProtocolVersion = ProtocolVersion(17);
    /// 2.7-IV0: feature versioning (`/feature` znode).
    pub const KAFKA_2_7_IV0: ProtocolVersion = ProtocolVersion(28);
    /// 2.7-IV2: AlterIsr replaces direct ZooKeeper ISR writes by leaders.
    pub const KAFKA_2_7_IV2: ProtocolVersion = ProtocolVersion(30);
    /// 2.8-IV0: topic ids.
    pub const KAFKA_2_8_IV0: ProtocolVersion = ProtocolVersion(31);
    /// 3.0-IV1: `log.message.format.version` is ignored from here on (KIP-724).
    pub const KAFKA_3_0_IV1: ProtocolVersion = ProtocolVersion(34);
    /// The newest version this broker speaks (Kafka 3.9's latest production version).
    pub const LATEST: ProtocolVersion = ProtocolVersion((VERSIONS.len() - 1) as u8);

    /// Parses a version the way Kafka's `fromVersionString` does: `2.8-IV1`, or a release
    /// (`2.8`, `0.10.2`) meaning its newest internal version; anything after the release digits
    /// (`2.8.2`, `0.8.2.1`) is ignored. The error text is Kafka's.
    pub fn parse(s: &str) -> Result<ProtocolVersion, String> {
        let mut segments: Vec<&str> = s.split('.').collect();
        // Java's String.split drops trailing empty segments ("2.8." has two).
        while segments.len() > 1 && segments.last() == Some(&"") {
            segments.pop();
        }
        let wanted = if s.starts_with("0.") { 3 } else { 2 };
        let key = if wanted >= segments.len() {
            s.to_string()
        } else {
            segments[..wanted].join(".")
        };
        // A full version wins; otherwise a release maps to its newest internal version.
        let found = VERSIONS
            .iter()
            .position(|(v, _)| *v == key)
            .or_else(|| VERSIONS.iter().rposition(|(_, release)| *release == key));
        match found.and_then(|i| u8::try_from(i).ok()) {
            Some(i) => Ok(ProtocolVersion(i)),
            None => Err(format!("Version {s} is not a valid version")),
        }
    }

    /// Every known version, oldest first.
    pub fn all() -> impl Iterator<Item = ProtocolVersion> {
        (0..VERSIONS.len()).filter_map(|i| u8::try_from(i).ok().map(ProtocolVersion))
    }

    /// The full version string (`2.8-IV1`).
    pub fn version(self) -> &'static str {
        VERSIONS[usize::from(self.0)].0
    }

    /// The release (`2.8`).
    pub fn short_version(self) -> &'static str {
        VERSIONS[usize::from(self.0)].1
    }

    /// The newest record batch format (magic) this version allows: 0, 1 or 2.
    pub fn record_version(self) -> u8 {
        if self < Self::KAFKA_0_10_0_IV0 {
            0
        } else if self < Self::KAFKA_0_11_0_IV0 {
            1
        } else {
            2
        }
    }

    /// The oldest version that supports record format `record_version`.
    pub fn min_supported_for(record_version: u8) -> ProtocolVersion {
        match record_version {
            0 => ProtocolVersion(0),
            1 => Self::KAFKA_0_10_0_IV0,
            _ => Self::KAFKA_0_11_0_IV0,
        }
    }

    pub fn is_at_least(self, other: ProtocolVersion) -> bool {
        self >= other
    }
}

impl fmt::Display for ProtocolVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.version())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_constants_match_the_table() {
        assert_eq!(ProtocolVersion::KAFKA_0_10_0_IV0.version(), "0.10.0-IV0");
        assert_eq!(ProtocolVersion::KAFKA_0_10_0_IV1.version(), "0.10.0-IV1");
        assert_eq!(ProtocolVersion::KAFKA_0_11_0_IV0.version(), "0.11.0-IV0");
        assert_eq!(ProtocolVersion::KAFKA_2_1_IV0.version(), "2.1-IV0");
        assert_eq!(ProtocolVersion::KAFKA_2_7_IV0.version(), "2.7-IV0");
        assert_eq!(ProtocolVersion::KAFKA_2_7_IV2.version(), "2.7-IV2");
        assert_eq!(ProtocolVersion::KAFKA_2_8_IV0.version(), "2.8-IV0");
        assert_eq!(ProtocolVersion::KAFKA_3_0_IV1.version(), "3.0-IV1");
        assert_eq!(ProtocolVersion::LATEST.version(), "3.9-IV0");
    }

    #[test]
    fn parses_like_kafka() {
        let v = |s| ProtocolVersion::parse(s).map(|v| v.version());
        assert_eq!(v("2.8-IV1"), Ok("2.8-IV1"));
        assert_eq!(v("2.8"), Ok("2.8-IV1"));
        assert_eq!(v("2.8.2"), Ok("2.8-IV1"));
        assert_eq!(v("0.10.0"), Ok("0.10.0-IV1"));
        assert_eq!(v("0.10.0.1"), Ok("0.10.0-IV1"));
        assert_eq!(v("0.8.2.1"), Ok("0.8.2"));
        assert_eq!(v("3.9"), Ok("3.9-IV0"));
        assert_eq!(v("1.0"), Ok("1.0-IV0"));
        assert_eq!(
            ProtocolVersion::parse("4.0"),
            Err("Version 4.0 is not a valid version".to_string())
        );
        assert!(ProtocolVersion::parse("abc").is_err());
        assert!(ProtocolVersion::parse("").is_err());
    }

    #[test]
    fn ordering_and_record_versions() {
        let p = |s| ProtocolVersion::parse(s).unwrap();
        assert!(p("2.7-IV2") < p("2.8-IV0"));
        assert!(p("2.8").is_at_least(ProtocolVersion::KAFKA_2_7_IV2));
        assert_eq!(p("0.9.0").record_version(), 0);
        assert_eq!(p("0.10.2").record_version(), 1);
        assert_eq!(p("0.11.0").record_version(), 2);
        assert_eq!(
            ProtocolVersion::min_supported_for(1).short_version(),
            "0.10.0"
        );
        assert_eq!(ProtocolVersion::all().count(), VERSIONS.len());
    }
}
