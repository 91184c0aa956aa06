//! Which `__consumer_offsets` partition (and so which broker) coordinates a group: Kafka's
//! `Utils.abs(groupId.hashCode) % partitionCount` with Java's `String.hashCode` (spec
//! protocol-apis.md §7). The same scheme maps transactional ids onto `__transaction_state`.

/// Java's `String.hashCode`: `h = 31 * h + c` over the UTF-16 code units, wrapping at 32 bits.
pub fn java_string_hash_code(s: &str) -> i32 {
    s.encode_utf16().fold(0i32, |h, unit| {
        h.wrapping_mul(31).wrapping_add(i32::from(unit))
    })
}

/// Kafka's `Utils.abs`: `|n|`, except that `i32::MIN` maps to 0 (not a bit mask).
pub fn kafka_abs(n: i32) -> i32 {
    if n == i32::MIN {
        0
    } else {
        n.abs()
    }
}

/// The partition of `key` among `partition_count` partitions (`partition_count` ≥ 1; a
/// non-positive count is treated as 1).
pub fn partition_for(key: &str, partition_count: i32) -> i32 {
    kafka_abs(java_string_hash_code(key)) % partition_count.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_codes_match_java() {
        assert_eq!(java_string_hash_code(""), 0);
        assert_eq!(java_string_hash_code("a"), 97);
        assert_eq!(java_string_hash_code("hello"), 99_162_322);
        // "polygenelubricants".hashCode() == Integer.MIN_VALUE in Java.
        assert_eq!(java_string_hash_code("polygenelubricants"), i32::MIN);
        // A supplementary character counts as two UTF-16 units (surrogates).
        assert_eq!(java_string_hash_code("\u{1F600}"), 31 * 0xD83D + 0xDE00);
        // Wrap-around: "my-group".hashCode() is negative in Java (-1906497762).
        assert_eq!(java_string_hash_code("my-group"), -1_906_497_762);
    }

    #[test]
    fn partition_uses_kafka_abs() {
        assert_eq!(kafka_abs(i32::MIN), 0);
        assert_eq!(kafka_abs(-5), 5);
        assert_eq!(partition_for("polygenelubricants", 50), 0);
        assert_eq!(partition_for("hello", 50), 99_162_322 % 50);
        let negative = java_string_hash_code("console-consumer-12345");
        assert_eq!(
            partition_for("console-consumer-12345", 50),
            kafka_abs(negative) % 50
        );
        assert_eq!(partition_for("x", 0), 0);
    }
}
