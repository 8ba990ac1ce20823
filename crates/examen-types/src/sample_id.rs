//! [`SampleId`]: a sample's id, an integer or a string as in Inspect (`int | str`),
//! shared by the engine, its logs and the models' callers.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A sample id: `int | str`, compared as Inspect (Python) compares them: integers by value,
/// strings by text, an integer never equal to a string.
///
/// Integers of any size are kept exactly, as Python keeps them: [`Int`](Self::Int) holds
/// those that fit an `i64`, [`UInt`](Self::UInt) those up to `u64::MAX` and
/// [`Big`](Self::Big) the rest, as decimal text. Build them with [`SampleId::int`] or
/// [`SampleId::parse_int`], which pick the variant, so that each value has one form; a
/// `UInt` holding a value that fits an `i64` is still equal to (and hashes as) that `Int`.
///
/// In JSON an id beyond 64 bits is written as a plain integer literal, as Inspect writes it,
/// and read back exactly when serde_json reads it directly (as every log reader here does);
/// a reader that goes through `f64` sees it rounded.
#[derive(Debug, Clone)]
pub enum SampleId {
    /// An integer id.
    Int(i64),
    /// An integer id above `i64::MAX`.
    UInt(u64),
    /// An integer id outside `i64::MIN..=u64::MAX`, as canonical decimal text (a `-` for a
    /// negative value, no leading zeros).
    Big(Box<str>),
    /// A string id.
    Str(String),
}

/// What ids are compared, hashed and ordered by: integers by value, then strings.
#[derive(PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Key<'a> {
    /// Below `i64::MIN`: the larger the magnitude (longer, then greater digits), the smaller.
    Negative(std::cmp::Reverse<(usize, &'a str)>),
    Small(i128),
    /// Above `u64::MAX`: by length, then digits.
    Positive((usize, &'a str)),
    Str(&'a str),
}

impl SampleId {
    /// The longest id (in bytes of its text) an `.eval` log can hold: each sample is the zip
    /// member `samples/{id}_epoch_{epoch}.json`, and a zip member's name is at most 65,535
    /// bytes (with room for an epoch of 10 digits).
    pub const MAX_LEN: usize = 65_535 - "samples/_epoch_.json".len() - 10;

    /// The integer id of `value`.
    pub fn int(value: i128) -> SampleId {
        if let Ok(i) = i64::try_from(value) {
            SampleId::Int(i)
        } else if let Ok(u) = u64::try_from(value) {
            SampleId::UInt(u)
        } else {
            SampleId::Big(value.to_string().into())
        }
    }

    /// The integer id written as `text`: an optional `-` and decimal digits, of any length
    /// (`None` for anything else, such as `+1`, `1.0` or `0x1`). Leading zeros are allowed
    /// and dropped, as Python's `int()` drops them.
    pub fn parse_int(text: &str) -> Option<SampleId> {
        let (negative, digits) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let digits = digits.trim_start_matches('0');
        if digits.len() <= 38 {
            let magnitude: i128 = if digits.is_empty() {
                0
            } else {
                digits.parse().ok()?
            };
            return Some(SampleId::int(if negative { -magnitude } else { magnitude }));
        }
        let sign = if negative { "-" } else { "" };
        Some(SampleId::Big(format!("{sign}{digits}").into()))
    }

    /// The integer id of a float with no fractional part, as pydantic turns `2.0` into the
    /// id `2` (`None` for a fraction, an infinity or NaN).
    pub fn from_whole_f64(value: f64) -> Option<SampleId> {
        if !value.is_finite() || value.fract() != 0.0 {
            return None;
        }
        // `{:.0}` prints the float's exact value, however large.
        SampleId::parse_int(&format!("{value:.0}"))
    }

    /// The id's value if it is an integer that fits an `i128`.
    pub fn as_int(&self) -> Option<i128> {
        match self {
            SampleId::Int(i) => Some(i128::from(*i)),
            SampleId::UInt(u) => Some(i128::from(*u)),
            SampleId::Big(text) => text.parse().ok(),
            SampleId::Str(_) => None,
        }
    }

    /// Whether the id is an integer.
    pub fn is_int(&self) -> bool {
        !matches!(self, SampleId::Str(_))
    }

    fn key(&self) -> Key<'_> {
        match self {
            SampleId::Int(i) => Key::Small(i128::from(*i)),
            SampleId::UInt(u) => Key::Small(i128::from(*u)),
            SampleId::Big(text) => match text.strip_prefix('-') {
                Some(digits) => Key::Negative(std::cmp::Reverse((digits.len(), digits))),
                None => Key::Positive((text.len(), text)),
            },
            SampleId::Str(s) => Key::Str(s),
        }
    }

    /// Inspect's sort key for samples: string ids as-is, integer ids zero-padded
    /// to 20 digits (`sort_samples`).
    pub fn sort_key(&self) -> String {
        match self {
            SampleId::Int(i) => format!("{i:0>20}"),
            SampleId::UInt(u) => format!("{u:0>20}"),
            SampleId::Big(text) => text.to_string(),
            SampleId::Str(s) => s.clone(),
        }
    }

    /// Whether this id is the one a user named (on a command line or in a task
    /// file): integer ids also match their decimal text (`--sample-id 3`).
    pub fn matches(&self, selector: &str) -> bool {
        match self {
            SampleId::Str(s) => s == selector,
            int => SampleId::parse_int(selector.trim()).is_some_and(|named| named == *int),
        }
    }

    /// The id of a JSON literal (`"a"`, `7`, `18446744073709551616`, `2.0`), exactly.
    fn from_json_literal(raw: &str) -> Result<SampleId, String> {
        let raw = raw.trim();
        if raw.starts_with('"') {
            return serde_json::from_str(raw)
                .map(SampleId::Str)
                .map_err(|e| e.to_string());
        }
        if let Some(id) = SampleId::parse_int(raw) {
            return Ok(id);
        }
        match serde_json::from_str::<f64>(raw) {
            Ok(value) => SampleId::from_whole_f64(value)
                .ok_or_else(|| format!("a sample id is an integer or a string, found {raw}")),
            Err(_) => Err(format!(
                "expected an integer or string sample id, found {raw}"
            )),
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
            SampleId::Big(text) => f.write_str(text),
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

/// serde_json's name for its raw-value newtype: asked for it, serde_json's deserializer hands
/// over the literal text of the value (so integers of any size arrive exactly), and its
/// serializer writes a raw value verbatim. Other formats see an ordinary newtype. A test
/// below fails if serde_json ever renames it.
const RAW_VALUE_TOKEN: &str = "$serde_json::private::RawValue";

impl Serialize for SampleId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            SampleId::Int(i) => s.serialize_i64(*i),
            SampleId::UInt(u) => s.serialize_u64(*u),
            SampleId::Big(text) => {
                struct Literal<'a>(&'a str);
                impl Serialize for Literal<'_> {
                    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                        use serde::ser::SerializeStruct;
                        let mut raw = s.serialize_struct(RAW_VALUE_TOKEN, 1)?;
                        raw.serialize_field(RAW_VALUE_TOKEN, self.0)?;
                        raw.end()
                    }
                }
                Literal(text).serialize(s)
            }
            SampleId::Str(v) => s.serialize_str(v),
        }
    }
}

impl<'de> Deserialize<'de> for SampleId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::{Error, MapAccess};
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = SampleId;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an integer or string sample id")
            }
            // serde_json, asked for its raw value: `{TOKEN: "<literal text>"}`.
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<SampleId, A::Error> {
                let key: Option<std::borrow::Cow<'de, str>> = map.next_key()?;
                if key.as_deref() != Some(RAW_VALUE_TOKEN) {
                    return Err(A::Error::invalid_type(
                        serde::de::Unexpected::Map,
                        &"an integer or string sample id",
                    ));
                }
                let raw: std::borrow::Cow<'de, str> = map.next_value()?;
                SampleId::from_json_literal(&raw).map_err(A::Error::custom)
            }
            // Any other deserializer: the value itself.
            fn visit_newtype_struct<D: Deserializer<'de>>(
                self,
                d: D,
            ) -> Result<SampleId, D::Error> {
                d.deserialize_any(self)
            }
            fn visit_i64<E: Error>(self, v: i64) -> Result<SampleId, E> {
                Ok(SampleId::Int(v))
            }
            fn visit_u64<E: Error>(self, v: u64) -> Result<SampleId, E> {
                Ok(SampleId::int(i128::from(v)))
            }
            fn visit_i128<E: Error>(self, v: i128) -> Result<SampleId, E> {
                Ok(SampleId::int(v))
            }
            fn visit_u128<E: Error>(self, v: u128) -> Result<SampleId, E> {
                Ok(match i128::try_from(v) {
                    Ok(v) => SampleId::int(v),
                    Err(_) => SampleId::Big(v.to_string().into()),
                })
            }
            fn visit_f64<E: Error>(self, v: f64) -> Result<SampleId, E> {
                SampleId::from_whole_f64(v).ok_or_else(|| {
                    E::custom(format!("a sample id is an integer or a string, found {v}"))
                })
            }
            fn visit_str<E: Error>(self, v: &str) -> Result<SampleId, E> {
                Ok(SampleId::Str(v.to_owned()))
            }
            fn visit_string<E: Error>(self, v: String) -> Result<SampleId, E> {
                Ok(SampleId::Str(v))
            }
        }
        d.deserialize_newtype_struct(RAW_VALUE_TOKEN, V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    const TWO_POW_64: &str = "18446744073709551616";
    const TWO_POW_64_PLUS_1: &str = "18446744073709551617";

    fn int(text: &str) -> SampleId {
        SampleId::parse_int(text).unwrap_or_else(|| panic!("{text} is an integer"))
    }

    #[test]
    fn integers_compare_by_value_at_any_size() {
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
        assert_eq!(big.to_string(), "18446744073709551615");

        // Beyond 64 bits, as Python keeps them: distinct, ordered, matched by their text.
        let (a, b) = (int(TWO_POW_64), int(TWO_POW_64_PLUS_1));
        assert!(matches!(a, SampleId::Big(_)), "{a:?}");
        assert_ne!(a, b);
        assert!(big < a && a < b);
        let huge = int(&format!("1{}", "0".repeat(60)));
        assert!(b < huge);
        let minus_a = int(&format!("-{TWO_POW_64}"));
        assert!(minus_a < SampleId::Int(i64::MIN));
        assert!(int(&format!("-1{}", "0".repeat(60))) < minus_a);
        assert!(huge < SampleId::from(""), "integers sort before strings");
        let set: HashSet<SampleId> = [a.clone(), b.clone(), int(&format!("000{TWO_POW_64}"))]
            .into_iter()
            .collect();
        assert_eq!(set.len(), 2);
        assert!(a.matches(TWO_POW_64) && !a.matches(TWO_POW_64_PLUS_1));
        assert_eq!(b.to_string(), TWO_POW_64_PLUS_1);

        // One form per value.
        assert!(matches!(SampleId::int(-1), SampleId::Int(-1)));
        assert!(matches!(int("-0"), SampleId::Int(0)));
        assert!(matches!(
            int("0018446744073709551615"),
            SampleId::UInt(u64::MAX)
        ));
        assert!(matches!(SampleId::int(1 << 64), SampleId::Big(_)));
        assert_eq!(SampleId::int(1 << 64), a);
        for not_int in ["", "-", "+1", "1.0", "0x1", " 1", "1e3"] {
            assert!(SampleId::parse_int(not_int).is_none(), "{not_int:?}");
        }
        assert_eq!(SampleId::from_whole_f64(2.0), Some(SampleId::Int(2)));
        assert_eq!(SampleId::from_whole_f64(2f64.powi(64)), Some(a));
        assert_eq!(SampleId::from_whole_f64(2.5), None);
        assert_eq!(SampleId::from_whole_f64(f64::NAN), None);
    }

    #[test]
    fn ids_of_any_size_survive_json_exactly() {
        for text in [
            "7",
            "-3",
            "18446744073709551615",
            TWO_POW_64,
            TWO_POW_64_PLUS_1,
            "-18446744073709551617",
            "123456789012345678901234567890123456789012345678901234567890",
        ] {
            let id: SampleId = serde_json::from_str(text).unwrap();
            assert_eq!(id.to_string(), text);
            assert_eq!(serde_json::to_string(&id).unwrap(), text);
            // Nested, as in a log record, and through a reader on bytes.
            let record = format!(r#"{{"id": {text}, "ids": [{text}, "s"]}}"#);
            #[derive(Deserialize, Serialize)]
            struct Record {
                id: SampleId,
                ids: Vec<SampleId>,
            }
            let parsed: Record = serde_json::from_reader(record.as_bytes()).unwrap();
            assert_eq!(parsed.id, id);
            assert_eq!(parsed.ids, [id.clone(), SampleId::from("s")]);
            assert_eq!(
                serde_json::to_string(&parsed).unwrap(),
                format!(r#"{{"id":{text},"ids":[{text},"s"]}}"#)
            );
            // From a parsed `Value` only what an f64 holds survives, but the id is read.
            let via_value: SampleId =
                serde_json::from_value(serde_json::from_str(text).unwrap()).unwrap();
            assert!(via_value.is_int());
        }
        let small: SampleId = serde_json::from_str("7").unwrap();
        assert!(matches!(small, SampleId::Int(7)));
        let text: SampleId = serde_json::from_str(r#""a\"b""#).unwrap();
        assert_eq!(text, SampleId::from("a\"b"));
        assert_eq!(
            serde_json::from_str::<SampleId>("2.0").unwrap(),
            SampleId::Int(2)
        );
        let fraction = serde_json::from_str::<SampleId>("2.5").unwrap_err();
        assert!(
            fraction.to_string().contains("integer or a string"),
            "{fraction}"
        );
        assert!(serde_json::from_str::<SampleId>("true").is_err());
        assert!(serde_json::from_str::<SampleId>("null").is_err());
    }
}
