//! Inspect-style short unique ids (what Python's `shortuuid.uuid()` produces).

/// The base57 alphabet of `shortuuid`: digits and letters without the look-alikes
/// `0`, `1`, `I`, `O` and `l`.
const ALPHABET: &[u8; 57] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

/// Length of a base57-encoded 128-bit UUID.
const LENGTH: usize = 22;

/// A new random id: a version-4 UUID encoded in base57, most significant digit first,
/// left-padded to 22 characters, exactly as `shortuuid.uuid()` does. Inspect uses these
/// for message ids, event ids and the eval/run/task ids of a log.
pub fn short_uuid() -> String {
    let mut bytes = [0u8; 16];
    if getrandom::fill(&mut bytes).is_err() {
        // Reason: ids need uniqueness, not secrecy; if the OS source is unavailable
        // fall back to std's randomly keyed hasher plus the clock.
        bytes = fallback_random();
    }
    // UUID version 4, RFC 4122 variant.
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    encode(u128::from_be_bytes(bytes))
}

fn encode(mut number: u128) -> String {
    let mut out = String::with_capacity(LENGTH);
    while number > 0 {
        let digit = (number % 57) as usize;
        number /= 57;
        out.push(char::from(ALPHABET[digit]));
    }
    while out.len() < LENGTH {
        out.push(char::from(ALPHABET[0]));
    }
    // Digits were produced least significant first; shortuuid prints the most
    // significant first (padding zeros lead).
    out.chars().rev().collect()
}

fn fallback_random() -> [u8; 16] {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let mut out = [0u8; 16];
    for (i, chunk) in out.chunks_mut(8).enumerate() {
        let mut h = RandomState::new().build_hasher();
        h.write_u128(nanos);
        h.write_usize(i);
        chunk.copy_from_slice(&h.finish().to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_22_base57_chars_and_distinct() {
        let a = short_uuid();
        let b = short_uuid();
        assert_eq!(a.len(), 22);
        assert!(a.bytes().all(|c| ALPHABET.contains(&c)));
        assert_ne!(a, b);
    }

    #[test]
    fn encoding_matches_shortuuid() {
        // shortuuid.ShortUUID().encode(uuid.UUID(int=0)) == "2" * 22
        assert_eq!(encode(0), "2".repeat(22));
        // shortuuid.ShortUUID().encode(uuid.UUID("12345678-1234-5678-1234-567812345678"))
        assert_eq!(
            encode(0x1234_5678_1234_5678_1234_5678_1234_5678),
            "5FdNqEYASQvT6ZhBtUuVoV"
        );
    }
}
