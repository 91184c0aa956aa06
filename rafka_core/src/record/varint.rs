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
/// `None` if the input ends early or the varint is longer than 5 bytes.
pub fn read_varint(buf: &[u8]) -> Option<(i32, usize)> {
    let (raw, n) = read_unsigned(buf, 5)?;
    let raw = u32::try_from(raw).ok()?;
    Some((((raw >> 1) as i32) ^ -((raw & 1) as i32), n))
}

/// Reads a zig-zag varlong (at most 10 bytes).
pub fn read_varlong(buf: &[u8]) -> Option<(i64, usize)> {
    let (raw, n) = read_unsigned(buf, 10)?;
    Some((((raw >> 1) as i64) ^ -((raw & 1) as i64), n))
}

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
}
