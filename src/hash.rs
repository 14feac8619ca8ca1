//! Hashing: one function for stable fingerprints and checksums, one hasher for maps.
//!
//! - [`fnv1a`] (FNV-1a, 64 bits) is the crate's *stable* hash: the policy fingerprint, the
//!   checksums of snapshots and the partition of a system id (`fnv1a(id) % P`) use it. Its
//!   value never changes between builds or versions.
//! - Maps keyed by short ids use [`FastMap`], rustc-hash's `FxHasher` (the hasher of the
//!   Rust compiler): several times cheaper than SipHash on short keys. It is not
//!   DoS-resistant, so the registry of system ids, whose keys come from callers, keeps std's
//!   randomly keyed SipHash.

/// FNV-1a 64 of `bytes`.
///
/// ```
/// assert_eq!(airisk::fnv1a(b""), 0xcbf2_9ce4_8422_2325);
/// assert_eq!(airisk::fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
/// ```
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= *b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// A hash map with the crate's fast hasher (for keys the policy or the caller's own log
/// controls).
pub(crate) type FastMap<K, V> = rustc_hash::FxHashMap<K, V>;
