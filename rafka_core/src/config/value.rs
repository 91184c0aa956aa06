//! `ConfigValue`: a parsed configuration value, and the conversion from the raw string of a
//! properties file the way Kafka's `ConfigDef.parseType` does it (and back, as
//! `ConfigDef.convertToString` prints it for DescribeConfigs).

use std::fmt;

use super::def::ConfigType;

/// A typed configuration value. `Null` is Kafka's `null` (unset key without a default).
#[derive(Clone, PartialEq)]
pub enum ConfigValue {
    Bool(bool),
    Int(i32),
    Short(i16),
    Long(i64),
    Double(f64),
    /// Also used for `CLASS` values (the class name).
    String(String),
    List(Vec<String>),
    /// A secret; `Display`/`Debug` print `[hidden]` like Kafka's `Password`.
    Password(String),
    Null,
}

/// What Kafka prints instead of a password.
pub const HIDDEN: &str = "[hidden]";

impl ConfigValue {
    /// Parses `raw` as `kind`. The error is Kafka's reason text (the caller adds key and value).
    pub fn parse(kind: ConfigType, raw: &str) -> Result<ConfigValue, String> {
        let trimmed = java_trim(raw);
        match kind {
            ConfigType::Boolean => {
                if trimmed.eq_ignore_ascii_case("true") {
                    Ok(ConfigValue::Bool(true))
                } else if trimmed.eq_ignore_ascii_case("false") {
                    Ok(ConfigValue::Bool(false))
                } else {
                    Err("Expected value to be either true or false".to_string())
                }
            }
            ConfigType::Int => trimmed
                .parse::<i32>()
                .map(ConfigValue::Int)
                .map_err(|_| "Not a number of type INT".to_string()),
            ConfigType::Short => trimmed
                .parse::<i16>()
                .map(ConfigValue::Short)
                .map_err(|_| "Not a number of type SHORT".to_string()),
            ConfigType::Long => trimmed
                .parse::<i64>()
                .map(ConfigValue::Long)
                .map_err(|_| "Not a number of type LONG".to_string()),
            ConfigType::Double => parse_java_double(trimmed)
                .map(ConfigValue::Double)
                .ok_or_else(|| "Not a number of type DOUBLE".to_string()),
            ConfigType::String | ConfigType::Class => Ok(ConfigValue::String(trimmed.to_string())),
            ConfigType::Password => Ok(ConfigValue::Password(trimmed.to_string())),
            ConfigType::List => Ok(ConfigValue::List(parse_list(trimmed))),
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, ConfigValue::Null)
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            ConfigValue::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// `Int`, or a `Short` widened.
    pub fn as_int(&self) -> Option<i32> {
        match self {
            ConfigValue::Int(v) => Some(*v),
            ConfigValue::Short(v) => Some(i32::from(*v)),
            _ => None,
        }
    }

    pub fn as_short(&self) -> Option<i16> {
        match self {
            ConfigValue::Short(v) => Some(*v),
            _ => None,
        }
    }

    /// `Long`, or an `Int`/`Short` widened.
    pub fn as_long(&self) -> Option<i64> {
        match self {
            ConfigValue::Long(v) => Some(*v),
            ConfigValue::Int(v) => Some(i64::from(*v)),
            ConfigValue::Short(v) => Some(i64::from(*v)),
            _ => None,
        }
    }

    pub fn as_double(&self) -> Option<f64> {
        match self {
            ConfigValue::Double(v) => Some(*v),
            _ => None,
        }
    }

    /// The text of a `String` (or `CLASS`) value. Passwords are not returned here on purpose;
    /// use [`ConfigValue::as_password`].
    pub fn as_str(&self) -> Option<&str> {
        match self {
            ConfigValue::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_list(&self) -> Option<&[String]> {
        match self {
            ConfigValue::List(l) => Some(l),
            _ => None,
        }
    }

    /// The secret of a `Password` value.
    pub fn as_password(&self) -> Option<&str> {
        match self {
            ConfigValue::Password(p) => Some(p),
            _ => None,
        }
    }

    /// Kafka's string form (`ConfigDef.convertToString`): lists joined with `,`, doubles as Java
    /// prints them, passwords as `[hidden]`, `None` for null.
    pub fn to_kafka_string(&self) -> Option<String> {
        match self {
            ConfigValue::Password(_) => Some(HIDDEN.to_string()),
            other => other.to_raw_string(),
        }
    }

    /// Like [`ConfigValue::to_kafka_string`] but with the password revealed; for re-parsing a
    /// value as another key (topic defaults taken from broker values).
    pub(crate) fn to_raw_string(&self) -> Option<String> {
        match self {
            ConfigValue::Bool(b) => Some(b.to_string()),
            ConfigValue::Int(v) => Some(v.to_string()),
            ConfigValue::Short(v) => Some(v.to_string()),
            ConfigValue::Long(v) => Some(v.to_string()),
            ConfigValue::Double(v) => Some(java_double_string(*v)),
            ConfigValue::String(s) | ConfigValue::Password(s) => Some(s.clone()),
            ConfigValue::List(l) => Some(l.join(",")),
            ConfigValue::Null => None,
        }
    }
}

impl fmt::Display for ConfigValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.to_kafka_string() {
            Some(s) => f.write_str(&s),
            None => f.write_str("null"),
        }
    }
}

// Hand-written so that a password never reaches a log through `{:?}`.
impl fmt::Debug for ConfigValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigValue::Bool(b) => write!(f, "Bool({b})"),
            ConfigValue::Int(v) => write!(f, "Int({v})"),
            ConfigValue::Short(v) => write!(f, "Short({v})"),
            ConfigValue::Long(v) => write!(f, "Long({v})"),
            ConfigValue::Double(v) => write!(f, "Double({v})"),
            ConfigValue::String(s) => write!(f, "String({s:?})"),
            ConfigValue::List(l) => write!(f, "List({l:?})"),
            ConfigValue::Password(_) => write!(f, "Password({HIDDEN})"),
            ConfigValue::Null => f.write_str("Null"),
        }
    }
}

/// Java's `String.trim()`: strips every char up to U+0020 at both ends (not Unicode spaces).
pub(crate) fn java_trim(s: &str) -> &str {
    s.trim_matches(|c: char| c <= ' ')
}

/// Kafka's LIST parsing: empty → empty list, else split on `\s*,\s*` keeping empty items.
fn parse_list(trimmed: &str) -> Vec<String> {
    if trimmed.is_empty() {
        return Vec::new();
    }
    trimmed
        .split(',')
        .map(|item| {
            item.trim_matches(|c: char| c.is_ascii_whitespace() || c == '\x0B')
                .to_string()
        })
        .collect()
}

/// `Double.parseDouble` for the spellings people write: Rust's float grammar plus Java's
/// optional `d`/`f` suffix (`0.5d`).
fn parse_java_double(s: &str) -> Option<f64> {
    let body = match s.strip_suffix(['d', 'D', 'f', 'F']) {
        Some(b) if b.ends_with(|c: char| c.is_ascii_digit() || c == '.') => b,
        _ => s,
    };
    body.parse::<f64>().ok()
}

/// `Double.toString`: plain decimal for 1e-3 <= |v| < 1e7 (always with a fraction digit),
/// otherwise `d.dddE±n`; e.g. `0.9`, `1.0`, `1.7976931348623157E308`.
pub(crate) fn java_double_string(v: f64) -> String {
    if v.is_nan() {
        return "NaN".to_string();
    }
    if v.is_infinite() {
        return if v > 0.0 { "Infinity" } else { "-Infinity" }.to_string();
    }
    if v == 0.0 {
        return if v.is_sign_negative() { "-0.0" } else { "0.0" }.to_string();
    }
    let abs = v.abs();
    if (1e-3..1e7).contains(&abs) {
        let s = v.to_string();
        if s.contains('.') {
            s
        } else {
            format!("{s}.0")
        }
    } else {
        // Rust's `{:e}` gives the shortest round-trip digits, like Java: "1.7976931348623157e308".
        let s = format!("{v:e}");
        match s.split_once('e') {
            Some((mantissa, exp)) if mantissa.contains('.') => format!("{mantissa}E{exp}"),
            Some((mantissa, exp)) => format!("{mantissa}.0E{exp}"),
            None => s,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(kind: ConfigType, raw: &str) -> Result<ConfigValue, String> {
        ConfigValue::parse(kind, raw)
    }

    #[test]
    fn booleans_are_case_insensitive_and_trimmed() {
        assert_eq!(
            parse(ConfigType::Boolean, " TRUE "),
            Ok(ConfigValue::Bool(true))
        );
        assert_eq!(
            parse(ConfigType::Boolean, "False"),
            Ok(ConfigValue::Bool(false))
        );
        assert_eq!(
            parse(ConfigType::Boolean, "yes"),
            Err("Expected value to be either true or false".to_string())
        );
    }

    #[test]
    fn numbers() {
        assert_eq!(parse(ConfigType::Int, " 42\t"), Ok(ConfigValue::Int(42)));
        assert_eq!(parse(ConfigType::Int, "-1"), Ok(ConfigValue::Int(-1)));
        assert_eq!(
            parse(ConfigType::Int, "abc"),
            Err("Not a number of type INT".to_string())
        );
        assert_eq!(
            parse(ConfigType::Int, "2147483648"),
            Err("Not a number of type INT".to_string())
        );
        assert_eq!(parse(ConfigType::Short, "3"), Ok(ConfigValue::Short(3)));
        assert_eq!(
            parse(ConfigType::Short, "40000"),
            Err("Not a number of type SHORT".to_string())
        );
        assert_eq!(
            parse(ConfigType::Long, "9223372036854775807"),
            Ok(ConfigValue::Long(i64::MAX))
        );
        assert_eq!(
            parse(ConfigType::Long, "1.5"),
            Err("Not a number of type LONG".to_string())
        );
        assert_eq!(
            parse(ConfigType::Double, "0.5"),
            Ok(ConfigValue::Double(0.5))
        );
        assert_eq!(
            parse(ConfigType::Double, "0.5d"),
            Ok(ConfigValue::Double(0.5))
        );
        assert_eq!(
            parse(ConfigType::Double, "1e3"),
            Ok(ConfigValue::Double(1000.0))
        );
        assert_eq!(
            parse(ConfigType::Double, "1.7976931348623157E308"),
            Ok(ConfigValue::Double(f64::MAX))
        );
        assert_eq!(
            parse(ConfigType::Double, "x"),
            Err("Not a number of type DOUBLE".to_string())
        );
    }

    #[test]
    fn lists() {
        assert_eq!(parse(ConfigType::List, ""), Ok(ConfigValue::List(vec![])));
        assert_eq!(
            parse(ConfigType::List, "   "),
            Ok(ConfigValue::List(vec![]))
        );
        assert_eq!(
            parse(ConfigType::List, " a , b,c "),
            Ok(ConfigValue::List(vec!["a".into(), "b".into(), "c".into()]))
        );
        // Kafka keeps empty items (split with limit -1).
        assert_eq!(
            parse(ConfigType::List, "a,,b,"),
            Ok(ConfigValue::List(vec![
                "a".into(),
                "".into(),
                "b".into(),
                "".into()
            ]))
        );
    }

    #[test]
    fn strings_and_passwords() {
        assert_eq!(
            parse(ConfigType::String, "  x y "),
            Ok(ConfigValue::String("x y".into()))
        );
        let p = parse(ConfigType::Password, " s3cret ").unwrap();
        assert_eq!(p.as_password(), Some("s3cret"));
        assert_eq!(p.to_string(), "[hidden]");
        assert_eq!(format!("{p:?}"), "Password([hidden])");
        assert_eq!(p.to_kafka_string().as_deref(), Some("[hidden]"));
        assert_eq!(p.as_str(), None);
    }

    #[test]
    fn kafka_string_forms() {
        assert_eq!(
            ConfigValue::Double(0.9).to_kafka_string().as_deref(),
            Some("0.9")
        );
        assert_eq!(
            ConfigValue::Double(1.0).to_kafka_string().as_deref(),
            Some("1.0")
        );
        assert_eq!(
            ConfigValue::Double(f64::MAX).to_kafka_string().as_deref(),
            Some("1.7976931348623157E308")
        );
        assert_eq!(java_double_string(1e7), "1.0E7");
        assert_eq!(java_double_string(1.5e-4), "1.5E-4");
        assert_eq!(
            ConfigValue::List(vec!["a".into(), "b".into()])
                .to_kafka_string()
                .as_deref(),
            Some("a,b")
        );
        assert_eq!(ConfigValue::Null.to_kafka_string(), None);
        assert_eq!(ConfigValue::Null.to_string(), "null");
    }
}
