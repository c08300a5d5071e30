//! Injected randomness: where session ids (and later event-id salts and backoff jitter)
//! come from.
//!
//! The machines never reach for a global random source. They take an [`Entropy`]: the
//! operating system's CSPRNG by default ([`OsEntropy`], feature `os-rng`), or a
//! deterministic source in tests ([`SeededEntropy`]).

/// A source of random bytes.
pub trait Entropy: Send {
    /// Fills `buf` with random bytes.
    fn fill(&mut self, buf: &mut [u8]);
}

/// The operating system's CSPRNG, through `getrandom`. Session ids drawn from it meet
/// `SRV-SEC-8`, `SRV-SEC-9` and `SRV-SESS-2`.
#[cfg(feature = "os-rng")]
#[derive(Debug, Default, Clone, Copy)]
pub struct OsEntropy;

#[cfg(feature = "os-rng")]
impl Entropy for OsEntropy {
    fn fill(&mut self, buf: &mut [u8]) {
        // The OS generator failing is not peer input; there is no safe way to go on
        // minting session ids without it.
        getrandom::fill(buf).expect("the operating system's random source failed");
    }
}

/// A deterministic, **not** cryptographic source (SplitMix64) for tests, simulations and
/// fuzzing. Never use it for real session ids.
#[derive(Debug, Clone)]
pub struct SeededEntropy {
    state: u64,
}

impl SeededEntropy {
    /// A source that always yields the same bytes for the same seed.
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

impl Entropy for SeededEntropy {
    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let bytes = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }
}

impl<E: Entropy + ?Sized> Entropy for Box<E> {
    fn fill(&mut self, buf: &mut [u8]) {
        (**self).fill(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_source_is_deterministic_and_seed_dependent() {
        let (mut a, mut b, mut c) = (
            SeededEntropy::new(1),
            SeededEntropy::new(1),
            SeededEntropy::new(2),
        );
        let (mut x, mut y, mut z) = ([0u8; 13], [0u8; 13], [0u8; 13]);
        a.fill(&mut x);
        b.fill(&mut y);
        c.fill(&mut z);
        assert_eq!(x, y);
        assert_ne!(x, z);
    }

    #[cfg(feature = "os-rng")]
    #[test]
    fn os_source_fills() {
        let mut a = [0u8; 32];
        let mut b = [0u8; 32];
        OsEntropy.fill(&mut a);
        OsEntropy.fill(&mut b);
        assert_ne!(a, b);
    }
}
