//! `OffsetMap`: the log cleaner's key → last-offset map (Kafka's `SkimpyOffsetMap`), an
//! open-addressing hash table in a fixed memory budget that stores only a 16-byte hash of each
//! key plus the key's latest offset (24 bytes per slot), never the key itself.
//!
//! Sizing: `memory / 24` slots, where `memory` is `log.cleaner.dedupe.buffer.size /
//! log.cleaner.threads` (see [`OffsetMap::new`]). The cleaner stops adding keys once the map
//! holds `slots × log.cleaner.io.buffer.load.factor` entries ([`OffsetMap::is_full`]); what was
//! not mapped is cleaned by a later pass.
//!
//! # Hash and collision risk
//! Kafka hashes keys with MD5. No MD5 implementation is available here without a new crate,
//! so the 16-byte digest is two 64-bit SipHash-1-3 values (`std`'s `DefaultHasher`, fixed
//! keys) over the key prefixed by two different seeds. The map is in memory only and rebuilt
//! for every cleaning, so the digest does not need to match Kafka's or to be stable across
//! Rust releases. Two keys are confused only if all 128 bits collide: for `n` distinct keys the
//! probability is about `n² / 2¹²⁹` (≈ 10⁻²² for a billion keys) — the same order as Kafka's
//! MD5 map. A collision would make the cleaner treat the older of the two keys as superseded
//! and drop its latest value. SipHash with public fixed keys is not a defence against keys
//! crafted to collide; Kafka's MD5 is not either.
//!
//! Probing follows Kafka: the first 13 attempts take 4-byte windows at successive byte offsets
//! of the digest, later attempts step linearly.

use std::hash::{DefaultHasher, Hasher};

/// Bytes of one slot: 16-byte digest + 8-byte offset (as in Kafka's `SkimpyOffsetMap`).
pub const BYTES_PER_ENTRY: usize = 24;
/// Digest size in bytes.
pub const HASH_SIZE: usize = 16;

const SEED_HI: u64 = 0x243f_6a88_85a3_08d3;
const SEED_LO: u64 = 0x1319_8a2e_0370_7344;

/// The 16-byte key digest as two words; `(0, 0)` marks an empty slot, so a real digest of
/// zero is remapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Digest(u64, u64);

impl Digest {
    fn of(key: &[u8]) -> Digest {
        let mut a = DefaultHasher::new();
        a.write_u64(SEED_HI);
        a.write(key);
        let mut b = DefaultHasher::new();
        b.write_u64(SEED_LO);
        b.write(key);
        let (hi, lo) = (a.finish(), b.finish());
        if hi == 0 && lo == 0 {
            Digest(0, 1)
        } else {
            Digest(hi, lo)
        }
    }

    fn bytes(self) -> [u8; HASH_SIZE] {
        let mut out = [0u8; HASH_SIZE];
        out[..8].copy_from_slice(&self.0.to_be_bytes());
        out[8..].copy_from_slice(&self.1.to_be_bytes());
        out
    }
}

/// A bounded key-hash → offset map; see the module doc.
pub struct OffsetMap {
    memory: usize,
    slots: usize,
    load_factor: f64,
    /// `slots × [hash hi, hash lo, offset]`; allocated on first use.
    table: Vec<u64>,
    entries: usize,
    latest_offset: i64,
    lookups: u64,
    probes: u64,
}

impl OffsetMap {
    /// A map using at most `memory` bytes (at least one slot) that reports itself full at
    /// `slots × load_factor` entries (`load_factor` is clamped to `(0, 1]`; at least one entry
    /// always fits). Memory is only allocated when the first key is added.
    pub fn new(memory: usize, load_factor: f64) -> OffsetMap {
        let slots = (memory / BYTES_PER_ENTRY).max(1);
        let load_factor = if load_factor.is_finite() && load_factor > 0.0 {
            load_factor.min(1.0)
        } else {
            1.0
        };
        OffsetMap {
            memory,
            slots,
            load_factor,
            table: Vec::new(),
            entries: 0,
            latest_offset: -1,
            lookups: 0,
            probes: 0,
        }
    }

    /// The memory budget given to [`OffsetMap::new`].
    pub fn memory(&self) -> usize {
        self.memory
    }

    /// Number of slots (`memory / 24`).
    pub fn slots(&self) -> usize {
        self.slots
    }

    /// Number of distinct key digests stored.
    pub fn size(&self) -> usize {
        self.entries
    }

    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }

    /// Entries at which the cleaner stops mapping (`slots × load factor`, at least 1).
    pub fn max_desired_size(&self) -> usize {
        ((self.slots as f64 * self.load_factor) as usize).clamp(1, self.slots)
    }

    /// True once [`OffsetMap::max_desired_size`] entries are stored.
    pub fn is_full(&self) -> bool {
        self.entries >= self.max_desired_size()
    }

    /// The largest offset stored since the last clear (−1 when none).
    pub fn latest_offset(&self) -> i64 {
        self.latest_offset
    }

    /// `size / slots`.
    pub fn utilization(&self) -> f64 {
        self.entries as f64 / self.slots as f64
    }

    /// Average probes per lookup/insert since the last clear (1.0 = no collisions).
    pub fn collision_rate(&self) -> f64 {
        if self.lookups == 0 {
            0.0
        } else {
            self.probes as f64 / self.lookups as f64
        }
    }

    /// Forgets every entry (the table is zeroed only if something was stored).
    pub fn clear(&mut self) {
        if self.entries > 0 {
            self.table.fill(0);
        }
        self.entries = 0;
        self.latest_offset = -1;
        self.lookups = 0;
        self.probes = 0;
    }

    /// Kafka's `positionOf`: the slot for probe `attempt` of `digest`.
    fn slot_of(&self, digest: &[u8; HASH_SIZE], attempt: usize) -> usize {
        let at = attempt.min(HASH_SIZE - 4);
        let window =
            i32::from_be_bytes([digest[at], digest[at + 1], digest[at + 2], digest[at + 3]]);
        let probe = (window as i64 + attempt.saturating_sub(HASH_SIZE - 4) as i64) & 0x7fff_ffff;
        (probe as u64 % self.slots as u64) as usize
    }

    /// Records `offset` as the latest offset of `key`. Returns false (and stores nothing) only
    /// when the key is new and every slot is taken.
    pub fn put(&mut self, key: &[u8], offset: i64) -> bool {
        if self.table.is_empty() {
            self.table = vec![0u64; self.slots * 3];
        }
        let digest = Digest::of(key);
        let bytes = digest.bytes();
        self.lookups += 1;
        for attempt in 0..self.slots + HASH_SIZE {
            self.probes += 1;
            let slot = self.slot_of(&bytes, attempt) * 3;
            let (hi, lo) = (self.table[slot], self.table[slot + 1]);
            if hi == 0 && lo == 0 {
                if self.entries >= self.slots {
                    return false;
                }
                self.table[slot] = digest.0;
                self.table[slot + 1] = digest.1;
                self.table[slot + 2] = offset as u64;
                self.entries += 1;
                self.latest_offset = self.latest_offset.max(offset);
                return true;
            }
            if hi == digest.0 && lo == digest.1 {
                self.table[slot + 2] = offset as u64;
                self.latest_offset = self.latest_offset.max(offset);
                return true;
            }
        }
        false
    }

    /// The latest offset stored for `key`, if any.
    pub fn get(&mut self, key: &[u8]) -> Option<i64> {
        if self.entries == 0 {
            return None;
        }
        let digest = Digest::of(key);
        let bytes = digest.bytes();
        self.lookups += 1;
        for attempt in 0..self.slots + HASH_SIZE {
            self.probes += 1;
            let slot = self.slot_of(&bytes, attempt) * 3;
            let (hi, lo) = (self.table[slot], self.table[slot + 1]);
            if hi == 0 && lo == 0 {
                return None;
            }
            if hi == digest.0 && lo == digest.1 {
                return Some(self.table[slot + 2] as i64);
            }
        }
        None
    }
}

impl std::fmt::Debug for OffsetMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OffsetMap")
            .field("slots", &self.slots)
            .field("entries", &self.entries)
            .field("latest_offset", &self.latest_offset)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_get_update_and_clear() {
        let mut m = OffsetMap::new(24 * 100, 0.9);
        assert_eq!(m.slots(), 100);
        assert_eq!(m.max_desired_size(), 90);
        assert_eq!(m.get(b"a"), None);
        for i in 0..50i64 {
            assert!(m.put(format!("key-{i}").as_bytes(), i));
        }
        assert_eq!(m.size(), 50);
        assert!(m.put(b"key-7", 70));
        assert_eq!(m.size(), 50);
        assert_eq!(m.get(b"key-7"), Some(70));
        assert_eq!(m.get(b"key-8"), Some(8));
        assert_eq!(m.get(b"missing"), None);
        assert_eq!(m.latest_offset(), 70);
        m.clear();
        assert_eq!(m.size(), 0);
        assert_eq!(m.latest_offset(), -1);
        assert_eq!(m.get(b"key-7"), None);
    }

    #[test]
    fn fills_every_slot_then_refuses_new_keys() {
        let mut m = OffsetMap::new(24 * 7, 1.0);
        for i in 0..7i64 {
            assert!(m.put(&i.to_be_bytes(), i));
        }
        assert!(m.is_full());
        assert!(!m.put(b"one too many", 8));
        assert!(m.put(&3i64.to_be_bytes(), 33));
        for i in 0..7i64 {
            let expected = if i == 3 { 33 } else { i };
            assert_eq!(m.get(&i.to_be_bytes()), Some(expected));
        }
    }

    #[test]
    fn tiny_budget_still_has_one_slot() {
        let m = OffsetMap::new(0, 0.5);
        assert_eq!(m.slots(), 1);
        assert_eq!(m.max_desired_size(), 1);
    }

    #[test]
    fn digests_differ_for_similar_keys() {
        assert_ne!(Digest::of(b"a"), Digest::of(b"b"));
        assert_ne!(Digest::of(b""), Digest::of(b"\0"));
        assert_eq!(Digest::of(b"same"), Digest::of(b"same"));
    }
}
