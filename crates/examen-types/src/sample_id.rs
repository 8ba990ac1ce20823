//! [`SampleId`]: a sample's id, an integer or a string as in Inspect (`int | str`),
//! shared by the engine, its logs and the models' callers.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A sample id: `int | str`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SampleId {
    /// An integer id.
    Int(i64),
    /// A string id.
    Str(String),
}

impl SampleId {
    /// Inspect's sort key for samples: string ids as-is, integer ids zero-padded
    /// to 20 digits (`sort_samples`).
    pub fn sort_key(&self) -> String {
        match self {
            SampleId::Int(i) => format!("{i:0>20}"),
            SampleId::Str(s) => s.clone(),
        }
    }

    /// Whether this id is the one a user named (on a command line or in a task
    /// file): integer ids also match their decimal text (`--sample-id 3`).
    pub fn matches(&self, selector: &str) -> bool {
        match self {
            SampleId::Int(i) => selector.trim().parse::<i64>().is_ok_and(|s| s == *i),
            SampleId::Str(s) => s == selector,
        }
    }
}

impl fmt::Display for SampleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SampleId::Int(i) => write!(f, "{i}"),
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
                i64::try_from(v)
                    .map(SampleId::Int)
                    .map_err(|_| E::custom("sample id out of range"))
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
