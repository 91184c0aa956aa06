//! Zig-zag LEB128 varints as used inside v2 records (protobuf `sint32`/`sint64`).

/// Appends a zig-zag varint (32-bit).
pub fn write_varint(out: &mut Vec<u8>, v: i32) {
    write_unsigned_varlong(out, ((v << 1) ^ (v >> 31)) as u32 as u64);
}

/// Appends a zig-zag varlong (64-bit).
pub fn write_varlong(out: &mut Vec<u8>, v: i64) {
    write_unsigned_varlong(out, ((v << 1) ^ (v >> 63)) as u64);
}

fn write_unsigned_varlong(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Reads a zig-zag varint from the front of `buf`; returns `(value, bytes consumed)`, or
/// `None` if the input ends early or the varint is longer than 5 bytes (or its 5th byte
/// carries bits beyond 32).
///
/// One- and two-byte encodings (|value| < 8192: record lengths, offset and timestamp deltas,
/// key and value lengths of small records) are decoded inline without the general loop.
#[inline]
pub fn read_varint(buf: &[u8]) -> Option<(i32, usize)> {
    let (raw, n) = match read_short(buf) {
        Some(short) => short,
        None => {
            let (raw, n) = read_unsigned(buf, 5)?;
            (u32::try_from(raw).ok()?, n)
        }
    };
    Some((((raw >> 1) as i32) ^ -((raw & 1) as i32), n))
}

/// Reads a zig-zag varlong (at most 10 bytes).
#[inline]
pub fn read_varlong(buf: &[u8]) -> Option<(i64, usize)> {
    let (raw, n) = match read_short(buf) {
        Some((raw, n)) => (raw as u64, n),
        None => read_unsigned(buf, 10)?,
    };
    Some((((raw >> 1) as i64) ^ -((raw & 1) as i64), n))
}

/// Fast path: a complete one- or two-byte unsigned varint at the front of `buf`. `None`
/// means "not that short" (longer, or input too short): the caller takes the general path,
/// which gives the same answer for those inputs.
#[inline(always)]
fn read_short(buf: &[u8]) -> Option<(u32, usize)> {
    match *buf {
        [b0, ..] if b0 & 0x80 == 0 => Some((b0 as u32, 1)),
        [b0, b1, ..] if b1 & 0x80 == 0 => Some(((b0 & 0x7f) as u32 | (b1 as u32) << 7, 2)),
        _ => None,
    }
}

#[cold]
fn read_unsigned(buf: &[u8], max_len: usize) -> Option<(u64, usize)> {
    let mut value = 0u64;
    for (i, &b) in buf.iter().take(max_len).enumerate() {
        value |= ((b & 0x7f) as u64) << (7 * i);
        if b & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_edge_values() {
        for v in [0, 1, -1, 63, -64, 64, i32::MAX, i32::MIN] {
            let mut out = Vec::new();
            write_varint(&mut out, v);
            assert_eq!(read_varint(&out), Some((v, out.len())));
        }
        for v in [0i64, -1, i64::MAX, i64::MIN, 1 << 40] {
            let mut out = Vec::new();
            write_varlong(&mut out, v);
            assert_eq!(read_varlong(&out), Some((v, out.len())));
        }
        // Known encodings: zig-zag(-1) = 1, zig-zag(1) = 2, 300 → [0xd8, 0x04].
        let mut out = Vec::new();
        write_varint(&mut out, -1);
        write_varint(&mut out, 1);
        write_varint(&mut out, 300);
        assert_eq!(out, vec![0x01, 0x02, 0xd8, 0x04]);
        assert_eq!(read_varint(&[0x80, 0x80]), None);
        assert_eq!(read_varint(&[0xff; 6]), None);
    }

    /// The reference decoder: the general loop only (what `read_varint`/`read_varlong` did
    /// before the short fast path).
    fn reference(buf: &[u8], max_len: usize) -> Option<(u64, usize)> {
        read_unsigned(buf, max_len)
    }

    #[test]
    fn fast_path_matches_general_loop_on_all_short_inputs() {
        // Every 1- and 2-byte input, alone and followed by more bytes.
        for b0 in 0..=255u8 {
            for b1 in 0..=255u8 {
                for buf in [
                    vec![b0],
                    vec![b0, b1],
                    vec![b0, b1, 0x01],
                    vec![b0, b1, 0x80, 0x00],
                ] {
                    let want32 = reference(&buf, 5).and_then(|(raw, n)| {
                        let raw = u32::try_from(raw).ok()?;
                        Some((((raw >> 1) as i32) ^ -((raw & 1) as i32), n))
                    });
                    assert_eq!(read_varint(&buf), want32, "{buf:02x?}");
                    let want64 = reference(&buf, 10)
                        .map(|(raw, n)| ((((raw >> 1) as i64) ^ -((raw & 1) as i64)), n));
                    assert_eq!(read_varlong(&buf), want64, "{buf:02x?}");
                }
            }
        }
    }

    #[test]
    fn boundaries_of_the_fast_path() {
        assert_eq!(read_varint(&[]), None);
        assert_eq!(read_varlong(&[]), None);
        // 1 byte: zig-zag 127 = -64; 2 bytes: largest is 0x3fff = zig-zag -8192.
        assert_eq!(read_varint(&[0x7f]), Some((-64, 1)));
        assert_eq!(read_varint(&[0x80, 0x01]), Some((64, 2)));
        assert_eq!(read_varint(&[0xff, 0x7f]), Some((-8192, 2)));
        assert_eq!(read_varint(&[0xfe, 0x7f, 0xff]), Some((8191, 2)));
        // 3 bytes goes through the general loop.
        assert_eq!(read_varint(&[0x80, 0x80, 0x01]), Some((8192, 3)));
        assert_eq!(read_varint(&[0x80, 0x80]), None);
        assert_eq!(read_varint(&[0x80]), None);
        // Non-minimal encodings are accepted, as Kafka's ByteUtils does.
        assert_eq!(read_varint(&[0x82, 0x00]), Some((1, 2)));
        // 5 bytes whose last carries bits beyond 32 are rejected for varint, not varlong.
        assert_eq!(read_varint(&[0xff, 0xff, 0xff, 0xff, 0x1f]), None);
        assert_eq!(
            read_varint(&[0xfe, 0xff, 0xff, 0xff, 0x0f]),
            Some((i32::MAX, 5))
        );
        assert_eq!(
            read_varlong(&[0xff, 0xff, 0xff, 0xff, 0x1f]),
            Some((-(1 << 32), 5))
        );
        assert_eq!(read_varlong(&[0xff; 11]), None);
        let mut out = Vec::new();
        write_varlong(&mut out, i64::MIN);
        assert_eq!(out.len(), 10);
        assert_eq!(read_varlong(&out), Some((i64::MIN, 10)));
    }
}
