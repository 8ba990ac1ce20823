//! Scores and score values (Inspect's `Score`, `Value` and `value_to_float`).

use indexmap::IndexMap;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use crate::{JsonObject, JsonValue};

/// A scalar score value: `str | int | float | bool`.
#[derive(Debug, Clone)]
pub enum Scalar {
    /// A string, e.g. `"C"`.
    Str(String),
    /// An integer.
    Int(i64),
    /// A float (may be NaN, the "unscored" sentinel).
    Float(f64),
    /// A bool.
    Bool(bool),
}

/// A score value (`Value`): a scalar, a list of scalars, or a dict of scalars
/// (dict values may be `None`). Integers, floats and bools keep their JSON type.
///
/// `null` at the top level reads as `Float(NaN)`: Inspect writes the NaN sentinel
/// as the constant `NaN`, and JSON encoders without that constant write `null`.
#[derive(Debug, Clone)]
pub enum Value {
    /// A string, e.g. `"C"`.
    Str(String),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A bool.
    Bool(bool),
    /// A list of scalars.
    List(Vec<Scalar>),
    /// A dict of scalars or `None`, key order preserved.
    Dict(IndexMap<String, Option<Scalar>>),
}

impl Scalar {
    /// Numeric view (bools as 0/1), as Python's `==` compares numbers.
    fn as_number(&self) -> Option<f64> {
        match self {
            Scalar::Int(i) => Some(*i as f64),
            Scalar::Float(f) => Some(*f),
            Scalar::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
            Scalar::Str(_) => None,
        }
    }

    fn to_value(&self) -> Value {
        match self {
            Scalar::Str(s) => Value::Str(s.clone()),
            Scalar::Int(i) => Value::Int(*i),
            Scalar::Float(f) => Value::Float(*f),
            Scalar::Bool(b) => Value::Bool(*b),
        }
    }
}

/// Python `==` semantics: `1 == 1.0 == True`, NaN unequal to everything.
impl PartialEq for Scalar {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Scalar::Str(a), Scalar::Str(b)) => a == b,
            (Scalar::Int(a), Scalar::Int(b)) => a == b,
            _ => match (self.as_number(), other.as_number()) {
                (Some(a), Some(b)) => a == b,
                _ => false,
            },
        }
    }
}

/// Python `==` semantics (see [`Scalar`]); lists and dicts compare element-wise.
impl PartialEq for Value {
    fn eq(&self, other: &Self) -> bool {
        match (self.as_scalar(), other.as_scalar()) {
            (Some(a), Some(b)) => a == b,
            (None, None) => match (self, other) {
                (Value::List(a), Value::List(b)) => a == b,
                (Value::Dict(a), Value::Dict(b)) => {
                    a.len() == b.len() && a.iter().all(|(k, v)| b.get(k) == Some(v))
                }
                _ => false,
            },
            _ => false,
        }
    }
}

impl Value {
    /// The value as a scalar, when it is one.
    pub fn as_scalar(&self) -> Option<Scalar> {
        match self {
            Value::Str(s) => Some(Scalar::Str(s.clone())),
            Value::Int(i) => Some(Scalar::Int(*i)),
            Value::Float(f) => Some(Scalar::Float(*f)),
            Value::Bool(b) => Some(Scalar::Bool(*b)),
            Value::List(_) | Value::Dict(_) => None,
        }
    }

    /// The value as a float, using the default mapping ([`value_to_float`]).
    pub fn to_float(&self) -> f64 {
        value_to_float(self)
    }

    /// True for a float NaN (the "unscored" sentinel that metrics skip).
    pub fn is_nan(&self) -> bool {
        matches!(self, Value::Float(f) if f.is_nan())
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Str(s.to_owned())
    }
}
impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Str(s)
    }
}
impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Int(i)
    }
}
impl From<f64> for Value {
    fn from(f: f64) -> Self {
        Value::Float(f)
    }
}
impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

impl Serialize for Scalar {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Scalar::Str(v) => s.serialize_str(v),
            Scalar::Int(v) => s.serialize_i64(*v),
            Scalar::Float(v) => s.serialize_f64(*v),
            Scalar::Bool(v) => s.serialize_bool(*v),
        }
    }
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Str(v) => s.serialize_str(v),
            Value::Int(v) => s.serialize_i64(*v),
            Value::Float(v) => s.serialize_f64(*v),
            Value::Bool(v) => s.serialize_bool(*v),
            Value::List(v) => v.serialize(s),
            Value::Dict(v) => v.serialize(s),
        }
    }
}

/// Reads any JSON scalar; `null` maps to `None` (the caller decides what it means).
struct ScalarVisitor;

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Option<Scalar>;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a string, number or bool")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Some(Scalar::Bool(v)))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Some(Scalar::Int(v)))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Some(match i64::try_from(v) {
            Ok(i) => Scalar::Int(i),
            Err(_) => Scalar::Float(v as f64),
        }))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Some(Scalar::Float(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Some(Scalar::Str(v.to_owned())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Some(Scalar::Str(v)))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(ScalarVisitor)
    }
}

struct OptScalar(Option<Scalar>);

impl<'de> Deserialize<'de> for OptScalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ScalarVisitor).map(OptScalar)
    }
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // A null inside a list is the NaN sentinel written by a JSON encoder that
        // lacks the NaN constant.
        Ok(d.deserialize_any(ScalarVisitor)?
            .unwrap_or(Scalar::Float(f64::NAN)))
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Value;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a score value (string, number, bool, list or dict of scalars)")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
                Ok(Value::Bool(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
                Ok(Value::Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
                Ok(match i64::try_from(v) {
                    Ok(i) => Value::Int(i),
                    Err(_) => Value::Float(v as f64),
                })
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
                Ok(Value::Float(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
                Ok(Value::Str(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
                Ok(Value::Str(v))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
                Ok(Value::Float(f64::NAN))
            }
            fn visit_none<E: de::Error>(self) -> Result<Value, E> {
                Ok(Value::Float(f64::NAN))
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
                d.deserialize_any(V)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
                let mut out = Vec::new();
                while let Some(s) = seq.next_element::<Scalar>()? {
                    out.push(s);
                }
                Ok(Value::List(out))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
                let mut out = IndexMap::new();
                while let Some((k, v)) = map.next_entry::<String, OptScalar>()? {
                    out.insert(k, v.0);
                }
                Ok(Value::Dict(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// Score produced by a scorer (`Score`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Score {
    /// Score value.
    pub value: Value,
    /// Answer extracted from the model output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<String>,
    /// Explanation of the score.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explanation: Option<String>,
    /// Machine-readable reason for an abnormal score (e.g. `grader_failed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Additional metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<JsonObject>,
    /// Edit history (`ScoreEdit` objects, kept as raw JSON; always emitted).
    #[serde(default)]
    pub history: Vec<JsonValue>,
}

impl Score {
    /// A score with only a value.
    pub fn new(value: impl Into<Value>) -> Self {
        Self {
            value: value.into(),
            answer: None,
            explanation: None,
            reason: None,
            metadata: None,
            history: Vec::new(),
        }
    }

    /// A score that is kept but skipped by metrics and reducers: value NaN
    /// (Inspect's `Score.unscored`).
    pub fn unscored(reason: Option<String>) -> Self {
        Self {
            reason,
            ..Self::new(f64::NAN)
        }
    }

    /// Sets the answer (builder style).
    #[must_use]
    pub fn with_answer(mut self, answer: impl Into<String>) -> Self {
        self.answer = Some(answer.into());
        self
    }

    /// Sets the explanation (builder style).
    #[must_use]
    pub fn with_explanation(mut self, explanation: impl Into<String>) -> Self {
        self.explanation = Some(explanation.into());
        self
    }

    /// The value as a float with the default mapping ([`value_to_float`]).
    pub fn as_float(&self) -> f64 {
        value_to_float(&self.value)
    }
}

/// Maps score values to floats (Inspect's `value_to_float(correct, incorrect,
/// partial, noanswer)`).
///
/// In order: a value equal (Python `==`) to `correct` is 1.0, to `partial` 0.5, to
/// `incorrect` or `noanswer` 0.0; numbers and bools are cast; strings are
/// lower-cased and `yes`/`true` give 1.0, `no`/`false` 0.0, and a string holding a
/// finite number gives that number; anything else (lists, dicts, other strings)
/// gives 0.0.
#[derive(Debug, Clone, PartialEq)]
pub struct ValueToFloat {
    /// Value for a correct answer (default `"C"`), mapped to 1.0.
    pub correct: Value,
    /// Value for an incorrect answer (default `"I"`), mapped to 0.0.
    pub incorrect: Value,
    /// Value for partial credit (default `"P"`), mapped to 0.5.
    pub partial: Value,
    /// Value for no answer (default `"N"`), mapped to 0.0.
    pub noanswer: Value,
}

impl Default for ValueToFloat {
    fn default() -> Self {
        Self {
            correct: Value::from("C"),
            incorrect: Value::from("I"),
            partial: Value::from("P"),
            noanswer: Value::from("N"),
        }
    }
}

impl ValueToFloat {
    /// Converts one value.
    pub fn convert(&self, value: &Value) -> f64 {
        if *value == self.correct {
            return 1.0;
        }
        if *value == self.partial {
            return 0.5;
        }
        if *value == self.incorrect || *value == self.noanswer {
            return 0.0;
        }
        match value {
            Value::Int(i) => *i as f64,
            Value::Float(f) => *f,
            Value::Bool(b) => f64::from(u8::from(*b)),
            Value::Str(s) => {
                let lower = s.to_lowercase();
                match lower.as_str() {
                    "yes" | "true" => 1.0,
                    "no" | "false" => 0.0,
                    _ => parse_python_float(&lower)
                        .filter(|f| f.is_finite())
                        .unwrap_or(0.0),
                }
            }
            Value::List(_) | Value::Dict(_) => 0.0,
        }
    }

    /// Converts one scalar (reducers apply the mapping to list and dict elements).
    pub fn convert_scalar(&self, scalar: &Scalar) -> f64 {
        self.convert(&scalar.to_value())
    }
}

/// Converts a value with the default sentinels (`C`=1, `P`=0.5, `I`=`N`=0).
pub fn value_to_float(value: &Value) -> f64 {
    ValueToFloat::default().convert(value)
}

/// Parses a string the way Python's `float()` does for finite-number syntax:
/// surrounding whitespace is ignored and single underscores between digits are
/// allowed. Returns `None` for anything `float()` would reject.
fn parse_python_float(s: &str) -> Option<f64> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    let bytes = s.as_bytes();
    let mut cleaned = String::with_capacity(s.len());
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'_' {
            let prev_digit = i > 0 && bytes[i - 1].is_ascii_digit();
            let next_digit = bytes.get(i + 1).is_some_and(u8::is_ascii_digit);
            if !(prev_digit && next_digit) {
                return None;
            }
        } else {
            cleaned.push(char::from(b));
        }
    }
    // Rust accepts a few spellings Python rejects or treats differently; only plain
    // decimal syntax matters here because non-finite results are rejected anyway.
    if !cleaned
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.' | b'e' | b'E'))
    {
        return None;
    }
    cleaned.parse::<f64>().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(json: &str) -> Value {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn default_sentinels() {
        // Expected values worked out by hand from Inspect's value_to_float.
        assert_eq!(value_to_float(&v(r#""C""#)), 1.0);
        assert_eq!(value_to_float(&v(r#""I""#)), 0.0);
        assert_eq!(value_to_float(&v(r#""P""#)), 0.5);
        assert_eq!(value_to_float(&v(r#""N""#)), 0.0);
        // case-sensitive sentinels: "c" is not "C", and not a number either
        assert_eq!(value_to_float(&v(r#""c""#)), 0.0);
    }

    #[test]
    fn strings() {
        assert_eq!(value_to_float(&v(r#""Yes""#)), 1.0);
        assert_eq!(value_to_float(&v(r#""TRUE""#)), 1.0);
        assert_eq!(value_to_float(&v(r#""no""#)), 0.0);
        assert_eq!(value_to_float(&v(r#""False""#)), 0.0);
        assert_eq!(value_to_float(&v(r#""0.25""#)), 0.25);
        assert_eq!(value_to_float(&v(r#"" -3 ""#)), -3.0);
        assert_eq!(value_to_float(&v(r#""1e3""#)), 1000.0);
        assert_eq!(value_to_float(&v(r#""1_000""#)), 1000.0);
        assert_eq!(value_to_float(&v(r#""_1""#)), 0.0);
        assert_eq!(value_to_float(&v(r#""nan""#)), 0.0);
        assert_eq!(value_to_float(&v(r#""inf""#)), 0.0);
        assert_eq!(value_to_float(&v(r#""1e999""#)), 0.0);
        assert_eq!(value_to_float(&v(r#""maybe""#)), 0.0);
        assert_eq!(value_to_float(&v(r#""""#)), 0.0);
    }

    #[test]
    fn numbers_bools_and_containers() {
        assert_eq!(value_to_float(&v("1")), 1.0);
        assert_eq!(value_to_float(&v("0.75")), 0.75);
        assert_eq!(value_to_float(&v("-2")), -2.0);
        assert_eq!(value_to_float(&v("true")), 1.0);
        assert_eq!(value_to_float(&v("false")), 0.0);
        assert_eq!(value_to_float(&v("[1, 2]")), 0.0);
        assert_eq!(value_to_float(&v(r#"{"a": 1}"#)), 0.0);
        assert!(value_to_float(&v("null")).is_nan());
    }

    #[test]
    fn numeric_sentinels_use_python_equality() {
        // value_to_float(correct=10, incorrect=0) maps 10, 10.0 to 1 and False to 0.
        let f = ValueToFloat {
            correct: Value::Int(10),
            incorrect: Value::Int(0),
            ..ValueToFloat::default()
        };
        assert_eq!(f.convert(&Value::Int(10)), 1.0);
        assert_eq!(f.convert(&Value::Float(10.0)), 1.0);
        assert_eq!(f.convert(&Value::Bool(false)), 0.0);
        assert_eq!(f.convert(&Value::Int(7)), 7.0);
        // True == 1, so a correct=1 sentinel matches True
        let g = ValueToFloat {
            correct: Value::Int(1),
            partial: Value::Int(2),
            ..ValueToFloat::default()
        };
        assert_eq!(g.convert(&Value::Bool(true)), 1.0);
        assert_eq!(g.convert(&Value::Float(2.0)), 0.5);
        assert_eq!(g.convert_scalar(&Scalar::Int(2)), 0.5);
    }

    #[test]
    fn value_keeps_json_types() {
        assert!(matches!(v("1"), Value::Int(1)));
        assert!(matches!(v("1.0"), Value::Float(_)));
        assert!(matches!(v("true"), Value::Bool(true)));
        assert_eq!(serde_json::to_string(&v("1.0")).unwrap(), "1.0");
        assert_eq!(serde_json::to_string(&v("1")).unwrap(), "1");
        let d = v(r#"{"b": 1, "a": null, "c": "x"}"#);
        assert_eq!(
            serde_json::to_string(&d).unwrap(),
            r#"{"b":1,"a":null,"c":"x"}"#
        );
        assert!(serde_json::from_str::<Value>(r#"[[1]]"#).is_err());
        assert!(serde_json::from_str::<Value>(r#"{"a": [1]}"#).is_err());
    }
}
