//! A listener endpoint (`NAME://host:port`) and the security protocols a listener can map to.
//!
//! The same type is parsed from `listeners` / `advertised.listeners`, written into
//! `/brokers/ids/<id>` and decoded back by the controller, so the textual form must round-trip.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// Kafka's `SecurityProtocol` enum (names are what appears in configs and in ZooKeeper).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SecurityProtocol {
    Plaintext,
    Ssl,
    SaslPlaintext,
    SaslSsl,
}

impl SecurityProtocol {
    pub const ALL: [SecurityProtocol; 4] = [
        SecurityProtocol::Plaintext,
        SecurityProtocol::Ssl,
        SecurityProtocol::SaslPlaintext,
        SecurityProtocol::SaslSsl,
    ];

    /// The name Kafka uses for this protocol (`PLAINTEXT`, `SASL_SSL`, ...).
    pub fn name(self) -> &'static str {
        match self {
            SecurityProtocol::Plaintext => "PLAINTEXT",
            SecurityProtocol::Ssl => "SSL",
            SecurityProtocol::SaslPlaintext => "SASL_PLAINTEXT",
            SecurityProtocol::SaslSsl => "SASL_SSL",
        }
    }

    /// Kafka's numeric id (used in UpdateMetadata v0-v3 endpoints).
    pub fn id(self) -> i16 {
        match self {
            SecurityProtocol::Plaintext => 0,
            SecurityProtocol::Ssl => 1,
            SecurityProtocol::SaslPlaintext => 2,
            SecurityProtocol::SaslSsl => 3,
        }
    }
}

impl fmt::Display for SecurityProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for SecurityProtocol {
    type Err = EndPointError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let upper = s.trim().to_ascii_uppercase();
        SecurityProtocol::ALL
            .into_iter()
            .find(|p| p.name() == upper)
            .ok_or_else(|| EndPointError::UnknownSecurityProtocol(s.trim().to_string()))
    }
}

/// Why an endpoint string could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndPointError {
    #[error("unable to parse {0} to a broker endpoint (expected LISTENER_NAME://host:port)")]
    Malformed(String),
    #[error("no security protocol defined for listener {0}")]
    UnmappedListener(String),
    #[error("unknown security protocol {0}")]
    UnknownSecurityProtocol(String),
}

/// One listener endpoint. An empty `host` means "all interfaces" when binding and
/// "the default host" when advertised, exactly as in Kafka.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct EndPoint {
    pub host: String,
    pub port: u16,
    pub listener_name: String,
    pub security_protocol: SecurityProtocol,
}

impl EndPoint {
    /// Parses `NAME://host:port` (IPv6 hosts in brackets), resolving the listener name
    /// through `protocol_map` (listener name → protocol).
    pub fn parse(
        s: &str,
        protocol_map: &BTreeMap<String, SecurityProtocol>,
    ) -> Result<EndPoint, EndPointError> {
        let s = s.trim();
        let malformed = || EndPointError::Malformed(s.to_string());
        let (name, rest) = s.split_once("://").ok_or_else(malformed)?;
        if name.is_empty() {
            return Err(malformed());
        }
        let (host, port) = rest.rsplit_once(':').ok_or_else(malformed)?;
        let host = match host.strip_prefix('[') {
            Some(h) => h.strip_suffix(']').ok_or_else(malformed)?,
            None => host,
        };
        let port: u16 = port.parse().map_err(|_| malformed())?;
        let listener_name = name.to_ascii_uppercase();
        let security_protocol = *protocol_map
            .get(&listener_name)
            .ok_or_else(|| EndPointError::UnmappedListener(listener_name.clone()))?;
        Ok(EndPoint {
            host: host.to_string(),
            port,
            listener_name,
            security_protocol,
        })
    }

    /// `NAME://host:port` as written into `/brokers/ids/<id>` (IPv6 hosts bracketed).
    pub fn connection_string(&self) -> String {
        if self.host.contains(':') {
            format!("{}://[{}]:{}", self.listener_name, self.host, self.port)
        } else {
            format!("{}://{}:{}", self.listener_name, self.host, self.port)
        }
    }
}

impl fmt::Display for EndPoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.connection_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn default_map() -> BTreeMap<String, SecurityProtocol> {
        SecurityProtocol::ALL
            .into_iter()
            .map(|p| (p.name().to_string(), p))
            .collect()
    }

    #[test]
    fn parses_and_round_trips() {
        let map = default_map();
        for s in [
            "PLAINTEXT://kafka1:9092",
            "SSL://:9093",
            "PLAINTEXT://[::1]:9092",
        ] {
            let ep = EndPoint::parse(s, &map).unwrap();
            assert_eq!(ep.connection_string(), s);
        }
        let ep = EndPoint::parse("plaintext://h:1", &map).unwrap();
        assert_eq!(ep.listener_name, "PLAINTEXT");
        assert_eq!(ep.security_protocol, SecurityProtocol::Plaintext);
    }

    #[test]
    fn rejects_bad_input() {
        let map = default_map();
        assert!(matches!(
            EndPoint::parse("FOO://h:1", &map),
            Err(EndPointError::UnmappedListener(_))
        ));
        assert!(EndPoint::parse("PLAINTEXT://h", &map).is_err());
        assert!(EndPoint::parse("PLAINTEXT://h:99999", &map).is_err());
        assert!(EndPoint::parse("h:1", &map).is_err());
        assert!("BOGUS".parse::<SecurityProtocol>().is_err());
    }
}
