//! A fast, unkeyed hasher for the machine's own tables: stream and connection handles
//! (counters) and the ids of live sessions (128 random bits the machine minted, or
//! restored from a store its nodes filled). SipHash, the std default, guards a table
//! against keys an attacker picks; no table here holds such keys (a peer's session id is
//! only ever looked up, never inserted), so its cost (about a fifth of an in-session
//! request's hashing and mixing, by callgrind) buys nothing.
//!
//! Each 8-byte word is xored in and the state multiplied by an odd constant (a bijection,
//! so distinct counters never collide), and `finish` folds the high half into the low
//! one, since the table takes its bucket from the low bits and its tag from the high ones.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// An odd constant with well-spread bits (from the golden ratio, 2^64 / φ, made odd).
const MIX: u64 = 0x9e37_79b9_7f4a_7c15;

#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct FastHasher(u64);

impl FastHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(23) ^ word).wrapping_mul(MIX);
    }
}

impl Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes(c.try_into().expect("8 bytes")));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(w) ^ ((rest.len() as u64) << 56));
        }
    }

    fn write_u8(&mut self, n: u8) {
        self.add(u64::from(n));
    }

    fn write_u32(&mut self, n: u32) {
        self.add(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }

    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    fn finish(&self) -> u64 {
        self.0 ^ (self.0 >> 29)
    }
}

/// A `HashMap` with [`FastHasher`].
pub(crate) type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FastHasher>>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::hash::BuildHasher;

    fn hash_of(v: impl std::hash::Hash) -> u64 {
        BuildHasherDefault::<FastHasher>::default().hash_one(v)
    }

    #[test]
    fn counters_and_ids_spread_over_the_low_bits_and_the_tag() {
        // Sequential handles spread over a table's low bits at least as well as random
        // hashes would (4096 keys into 4096 buckets: about 2589 distinct).
        let low: HashSet<u64> = (0u64..4096).map(|n| hash_of(n) & 4095).collect();
        assert!(low.len() > 2400, "{} distinct buckets of 4096", low.len());
        // The 7 top bits hashbrown uses as tags take many values.
        let tags: HashSet<u64> = (0u64..4096).map(|n| hash_of(n) >> 57).collect();
        assert!(tags.len() > 100, "{} distinct tags", tags.len());
        // Strings that differ in one byte or in length hash apart.
        assert_ne!(hash_of("0123456789abcdef"), hash_of("0123456789abcdeg"));
        assert_ne!(hash_of("abc"), hash_of("abc\0"));
    }
}
