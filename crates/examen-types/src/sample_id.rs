//! [`SampleId`]: a sample's id, an integer or a string as in Inspect (`int | str`),
//! shared by the engine, its logs and the models' callers.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A sample id: `int | str`, compared as Inspect (Python) compares them: integers by value,
/// strings by text, an integer never equal to a string.
///
/// Integers are kept exactly from `i64::MIN` to `u64::MAX`: [`Int`](Self::Int) holds those
/// that fit an `i64`, [`UInt`](Self::UInt) the larger ones. A `UInt` holding a value that fits
/// an `i64` is still equal to (and hashes as) the `Int` of that value. Larger integers cannot
/// be read back from a log exactly (JSON readers without arbitrary precision turn them into
/// floats), so datasets refuse them.
#[derive(Debug, Clone)]
pub enum SampleId {
    /// An integer id.
    Int(i64),
    /// An integer id above `i64::MAX`.
    UInt(u64),
    /// A string id.
    Str(String),
}

/// What ids are compared, hashed and ordered by.
#[derive(PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Key<'a> {
    Int(i128),
    Str(&'a str),
}

impl SampleId {
    /// The longest id (in bytes of its text) an `.eval` log can hold: each sample is the zip
    /// member `samples/{id}_epoch_{epoch}.json`, and a zip member's name is at most 65,535
    /// bytes (with room for an epoch of 10 digits).
    pub const MAX_LEN: usize = 65_535 - "samples/_epoch_.json".len() - 10;

    /// An integer id of any value in `i64::MIN..=u64::MAX` (`None` outside it).
    pub fn int(value: i128) -> Option<SampleId> {
        if let Ok(i) = i64::try_from(value) {
            Some(SampleId::Int(i))
        } else {
            u64::try_from(value).ok().map(SampleId::UInt)
        }
    }

    /// The id's value if it is an integer.
    pub fn as_int(&self) -> Option<i128> {
        match self {
            SampleId::Int(i) => Some(i128::from(*i)),
            SampleId::UInt(u) => Some(i128::from(*u)),
            SampleId::Str(_) => None,
        }
    }

    fn key(&self) -> Key<'_> {
        match self {
            SampleId::Str(s) => Key::Str(s),
            other => Key::Int(other.as_int().unwrap_or_default()),
        }
    }

    /// Inspect's sort key for samples: string ids as-is, integer ids zero-padded
    /// to 20 digits (`sort_samples`).
    pub fn sort_key(&self) -> String {
        match self {
            SampleId::Int(i) => format!("{i:0>20}"),
            SampleId::UInt(u) => format!("{u:0>20}"),
            SampleId::Str(s) => s.clone(),
        }
    }

    /// Whether this id is the one a user named (on a command line or in a task
    /// file): integer ids also match their decimal text (`--sample-id 3`).
    pub fn matches(&self, selector: &str) -> bool {
        match self {
            SampleId::Str(s) => s == selector,
            int => selector.trim().parse::<i128>().ok() == int.as_int(),
        }
    }
}

impl PartialEq for SampleId {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for SampleId {}

impl std::hash::Hash for SampleId {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.key().hash(state);
    }
}

impl PartialOrd for SampleId {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for SampleId {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key().cmp(&other.key())
    }
}

impl fmt::Display for SampleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SampleId::Int(i) => write!(f, "{i}"),
            SampleId::UInt(u) => write!(f, "{u}"),
            SampleId::Str(s) => f.write_str(s),
        }
    }
}

impl From<i64> for SampleId {
    fn from(i: i64) -> Self {
        SampleId::Int(i)
    }
}

impl From<&str> for SampleId {
    fn from(s: &str) -> Self {
        SampleId::Str(s.to_owned())
    }
}

impl From<String> for SampleId {
    fn from(s: String) -> Self {
        SampleId::Str(s)
    }
}

impl Serialize for SampleId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            SampleId::Int(i) => s.serialize_i64(*i),
            SampleId::UInt(u) => s.serialize_u64(*u),
            SampleId::Str(v) => s.serialize_str(v),
        }
    }
}

impl<'de> Deserialize<'de> for SampleId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = SampleId;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an integer or string sample id")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<SampleId, E> {
                Ok(SampleId::Int(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<SampleId, E> {
                Ok(SampleId::int(i128::from(v)).unwrap_or(SampleId::UInt(v)))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<SampleId, E> {
                Ok(SampleId::Str(v.to_owned()))
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<SampleId, E> {
                Ok(SampleId::Str(v))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn integers_compare_by_value_across_the_whole_64_bit_range() {
        let big = SampleId::UInt(u64::MAX);
        let below = SampleId::UInt(u64::MAX - 1);
        assert_ne!(big, below);
        assert!(below < big);
        assert!(SampleId::Int(i64::MAX) < SampleId::UInt(1 << 63));
        assert_eq!(SampleId::UInt(5), SampleId::Int(5));
        let set: HashSet<SampleId> = [SampleId::UInt(5), SampleId::Int(5)].into_iter().collect();
        assert_eq!(set.len(), 1);
        assert_ne!(SampleId::Int(1), SampleId::from("1"));
        assert!(big.matches("18446744073709551615"));
        assert!(!big.matches("18446744073709551614"));
        assert_eq!(SampleId::int(-1), Some(SampleId::Int(-1)));
        assert_eq!(SampleId::int(1 << 64), None);
        assert_eq!(big.to_string(), "18446744073709551615");
    }

    #[test]
    fn ids_beyond_i64_survive_json() {
        let id: SampleId = serde_json::from_str("18446744073709551615").unwrap();
        assert!(matches!(id, SampleId::UInt(u64::MAX)), "{id:?}");
        assert_eq!(serde_json::to_string(&id).unwrap(), "18446744073709551615");
        let small: SampleId = serde_json::from_str("7").unwrap();
        assert!(matches!(small, SampleId::Int(7)));
    }
}
