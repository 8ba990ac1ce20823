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
    let mut bytes = random_16();
    // UUID version 4, RFC 4122 variant.
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    encode(u128::from_be_bytes(bytes))
}

/// Random bytes the OS gave this thread, handed out 16 at a time: a run makes
/// several ids per sample, and a `getrandom` call for each was ~5% of the
/// engine's CPU. (No fork clones the buffer: examen only spawns with exec.)
fn random_16() -> [u8; 16] {
    use std::cell::RefCell;
    const REFILL: usize = 4096;
    thread_local! {
        static POOL: RefCell<(Box<[u8; REFILL]>, usize)> =
            RefCell::new((Box::new([0; REFILL]), REFILL));
    }
    POOL.with(|pool| {
        let (buffer, used) = &mut *pool.borrow_mut();
        if *used == REFILL {
            if getrandom::fill(&mut buffer[..]).is_err() {
                // Reason: ids need uniqueness, not secrecy; if the OS source is
                // unavailable fall back to std's randomly keyed hasher plus the clock.
                return fallback_random();
            }
            *used = 0;
        }
        let mut out = [0; 16];
        out.copy_from_slice(&buffer[*used..*used + 16]);
        *used += 16;
        out
    })
}

fn encode(number: u128) -> String {
    // 57^10 fits in a u64: peel ten digits per u128 division and do the rest in
    // u64 arithmetic (a u128 division per digit was most of an id's cost).
    const CHUNK: u128 = 57u128.pow(10);
    let mut digits = [ALPHABET[0]; LENGTH];
    let mut number = number;
    let mut end = LENGTH;
    while end > 0 {
        let mut chunk = (number % CHUNK) as u64;
        number /= CHUNK;
        // Digits come out least significant first; shortuuid prints the most
        // significant first, zero-padded on the left.
        for slot in digits[end.saturating_sub(10)..end].iter_mut().rev() {
            *slot = ALPHABET[(chunk % 57) as usize];
            chunk /= 57;
        }
        end = end.saturating_sub(10);
    }
    digits.iter().map(|&b| char::from(b)).collect()
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
        // Python: shortuuid.int_to_string(2**128 - 1, alphabet, padding=22)
        assert_eq!(encode(u128::MAX), "oZEq7ovRbLq6UnGMPwc8B5");
    }

    /// The chunked encoding agrees with plain digit-by-digit base57 everywhere,
    /// chunk boundaries included.
    #[test]
    fn chunked_encoding_matches_digit_by_digit() {
        fn slow(mut number: u128) -> String {
            let mut out = Vec::new();
            while number > 0 {
                out.push(ALPHABET[(number % 57) as usize]);
                number /= 57;
            }
            out.resize(LENGTH, ALPHABET[0]);
            out.reverse();
            String::from_utf8(out).unwrap()
        }
        let mut edges = vec![0, 1, 56, 57, u128::MAX, u128::MAX - 1];
        for k in [10u32, 20] {
            let p = 57u128.pow(k);
            edges.extend([p - 1, p, p + 1]);
        }
        let random = (0..10_000).map(|_| u128::from_be_bytes(random_16()));
        for number in edges.into_iter().chain(random) {
            assert_eq!(encode(number), slow(number), "{number}");
        }
    }
}
