//! `ConfigError`: why a broker or topic configuration was refused. Every message is one line
//! worded like Kafka's `ConfigException`, so operators recognise it.

use std::path::PathBuf;

/// A configuration problem. `Display` is a single line naming the key, the value and the rule.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A value that does not parse as its type or breaks a rule (Kafka's
    /// `ConfigException(name, value, message)`).
    #[error("Invalid value {value} for configuration {key}: {reason}")]
    InvalidValue {
        key: String,
        value: String,
        reason: String,
    },
    /// A required key is absent.
    #[error("Missing required configuration \"{key}\" which has no default value.")]
    Missing { key: String },
    /// A topic override whose key is not a topic config.
    #[error("Unknown topic config name: {0}")]
    UnknownTopicConfig(String),
    /// A `--override` argument that is not `key=value`.
    #[error("Invalid value {0} for command line option --override: expected key=value")]
    MalformedOverride(String),
    /// The properties file could not be read.
    #[error("Unable to read config file {}: {source}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The properties file is not valid `.properties` syntax.
    #[error("Unable to parse config file {}: {message}", .path.display())]
    Syntax { path: PathBuf, message: String },
}

impl ConfigError {
    /// Builds [`ConfigError::InvalidValue`]. Control characters in the value are escaped so the
    /// message stays on one line (a properties value may contain `\n` escapes).
    pub fn invalid(
        key: impl Into<String>,
        value: impl AsRef<str>,
        reason: impl Into<String>,
    ) -> Self {
        ConfigError::InvalidValue {
            key: key.into(),
            value: one_line(value.as_ref()),
            reason: one_line(&reason.into()),
        }
    }

    /// The configuration key this error is about, when there is one.
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::InvalidValue { key, .. } | ConfigError::Missing { key } => Some(key),
            ConfigError::UnknownTopicConfig(key) => Some(key),
            _ => None,
        }
    }
}

/// Escapes control characters (`\n` → `\\n`, others as `\u{..}`).
fn one_line(s: &str) -> String {
    if !s.chars().any(char::is_control) {
        return s.to_string();
    }
    s.chars()
        .map(|c| match c {
            '\n' => "\\n".to_string(),
            '\r' => "\\r".to_string(),
            '\t' => "\\t".to_string(),
            c if c.is_control() => c.escape_unicode().to_string(),
            c => c.to_string(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_kafka_like_and_single_line() {
        let e = ConfigError::invalid("num.partitions", "abc", "Not a number of type INT");
        assert_eq!(
            e.to_string(),
            "Invalid value abc for configuration num.partitions: Not a number of type INT"
        );
        assert_eq!(e.key(), Some("num.partitions"));
        let e = ConfigError::Missing {
            key: "zookeeper.connect".into(),
        };
        assert_eq!(
            e.to_string(),
            "Missing required configuration \"zookeeper.connect\" which has no default value."
        );
        let e = ConfigError::invalid("k", "a\nb", "r");
        assert_eq!(e.to_string(), "Invalid value a\\nb for configuration k: r");
        let e = ConfigError::Io {
            path: PathBuf::from("/x/server.properties"),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "not found"),
        };
        assert!(e.to_string().contains("/x/server.properties"));
        assert!(!e.to_string().contains('\n'));
        assert_eq!(
            ConfigError::UnknownTopicConfig("x".into()).to_string(),
            "Unknown topic config name: x"
        );
    }
}
