//! JSON as Python writes it: compact, with `NaN`, `Infinity` and `-Infinity` for
//! non-finite floats.
//!
//! Inspect serializes logs with pydantic's `ser_json_inf_nan="constants"`, so a NaN
//! score (the "unscored" sentinel) is the bare token `NaN`. `serde_json` writes
//! `null` for non-finite floats and refuses the token on input, so this module
//! owns both directions:
//!
//! - [`to_vec`] is a `serde::Serializer` that writes the same compact JSON as
//!   `serde_json::to_vec` except for non-finite floats;
//! - [`from_slice`] parses with `serde_json` after rewriting any bare
//!   `NaN`/`Infinity`/`-Infinity` tokens (outside strings) to `null`, which
//!   [`examen_types::Value`] and metric values read back as NaN.

use std::fmt::Display;
use std::io::Write;

use serde::ser::{self, Serialize};

/// Error from [`to_vec`].
#[derive(Debug)]
pub(crate) struct Error(String);

impl Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl ser::Error for Error {
    fn custom<T: Display>(msg: T) -> Self {
        Error(msg.to_string())
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error(e.to_string())
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error(e.to_string())
    }
}

/// Serializes `value` to compact JSON, writing non-finite floats as Python does.
pub(crate) fn to_vec<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, Error> {
    let mut out = Vec::with_capacity(256);
    value.serialize(&mut Ser { out: &mut out })?;
    Ok(out)
}

/// Parses JSON that may contain Python's non-finite constants.
pub(crate) fn from_slice<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> serde_json::Result<T> {
    if has_nonfinite_token(bytes) {
        serde_json::from_slice(&replace_nonfinite(bytes))
    } else {
        serde_json::from_slice(bytes)
    }
}

/// Checked on every sample read or prepared, so a vectorized search, not a
/// byte-by-byte window scan (which was 6% of the engine's CPU).
fn has_nonfinite_token(bytes: &[u8]) -> bool {
    memchr::memmem::find(bytes, b"NaN").is_some()
        || memchr::memmem::find(bytes, b"Infinity").is_some()
}

/// Rewrites bare `NaN`, `Infinity` and `-Infinity` tokens (not inside strings)
/// to `null`.
fn replace_nonfinite(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    let mut in_string = false;
    while i < bytes.len() {
        let b = bytes[i];
        if in_string {
            out.push(b);
            if b == b'\\' {
                if let Some(&next) = bytes.get(i + 1) {
                    out.push(next);
                    i += 1;
                }
            } else if b == b'"' {
                in_string = false;
            }
            i += 1;
            continue;
        }
        match b {
            b'"' => {
                in_string = true;
                out.push(b);
                i += 1;
            }
            b'N' if bytes[i..].starts_with(b"NaN") => {
                out.extend_from_slice(b"null");
                i += 3;
            }
            b'I' if bytes[i..].starts_with(b"Infinity") => {
                out.extend_from_slice(b"null");
                i += 8;
            }
            b'-' if bytes[i..].starts_with(b"-Infinity") => {
                out.extend_from_slice(b"null");
                i += 9;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

struct Ser<'a> {
    out: &'a mut Vec<u8>,
}

impl Ser<'_> {
    fn write_str(&mut self, s: &str) -> Result<(), Error> {
        // serde_json's string escaping is exactly JSON's; reuse it.
        serde_json::to_writer(&mut *self.out, s)?;
        Ok(())
    }

    fn write_f64(&mut self, v: f64) -> Result<(), Error> {
        if v.is_nan() {
            self.out.extend_from_slice(b"NaN");
        } else if v.is_infinite() {
            self.out
                .extend_from_slice(if v > 0.0 { b"Infinity" } else { b"-Infinity" });
        } else {
            serde_json::to_writer(&mut *self.out, &v)?;
        }
        Ok(())
    }
}

/// State of a compound value being written: whether a separator is due.
struct Compound<'a, 'b> {
    ser: &'b mut Ser<'a>,
    first: bool,
    /// Closing bytes: `]`, `}`, or `]}` / `}}` for variants wrapped in an object.
    close: &'static [u8],
    /// A `serde_json` raw value: its one field is JSON text to write verbatim.
    raw: bool,
}

/// The struct name `serde_json` gives a raw value (a `RawValue`, or a sample id beyond 64
/// bits): its one field holds JSON text that is written as it is, as `serde_json` does.
const RAW_VALUE_TOKEN: &str = "$serde_json::private::RawValue";

impl Compound<'_, '_> {
    fn sep(&mut self) {
        if !self.first {
            self.ser.out.push(b',');
        }
        self.first = false;
    }
}

impl<'a, 'b> ser::Serializer for &'b mut Ser<'a> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Compound<'a, 'b>;
    type SerializeTuple = Compound<'a, 'b>;
    type SerializeTupleStruct = Compound<'a, 'b>;
    type SerializeTupleVariant = Compound<'a, 'b>;
    type SerializeMap = Compound<'a, 'b>;
    type SerializeStruct = Compound<'a, 'b>;
    type SerializeStructVariant = Compound<'a, 'b>;

    fn serialize_bool(self, v: bool) -> Result<(), Error> {
        self.out
            .extend_from_slice(if v { b"true" } else { b"false" });
        Ok(())
    }
    fn serialize_i8(self, v: i8) -> Result<(), Error> {
        self.serialize_i64(i64::from(v))
    }
    fn serialize_i16(self, v: i16) -> Result<(), Error> {
        self.serialize_i64(i64::from(v))
    }
    fn serialize_i32(self, v: i32) -> Result<(), Error> {
        self.serialize_i64(i64::from(v))
    }
    fn serialize_i64(self, v: i64) -> Result<(), Error> {
        write!(self.out, "{v}")?;
        Ok(())
    }
    fn serialize_i128(self, v: i128) -> Result<(), Error> {
        write!(self.out, "{v}")?;
        Ok(())
    }
    fn serialize_u8(self, v: u8) -> Result<(), Error> {
        self.serialize_u64(u64::from(v))
    }
    fn serialize_u16(self, v: u16) -> Result<(), Error> {
        self.serialize_u64(u64::from(v))
    }
    fn serialize_u32(self, v: u32) -> Result<(), Error> {
        self.serialize_u64(u64::from(v))
    }
    fn serialize_u64(self, v: u64) -> Result<(), Error> {
        write!(self.out, "{v}")?;
        Ok(())
    }
    fn serialize_u128(self, v: u128) -> Result<(), Error> {
        write!(self.out, "{v}")?;
        Ok(())
    }
    fn serialize_f32(self, v: f32) -> Result<(), Error> {
        self.write_f64(f64::from(v))
    }
    fn serialize_f64(self, v: f64) -> Result<(), Error> {
        self.write_f64(v)
    }
    fn serialize_char(self, v: char) -> Result<(), Error> {
        self.write_str(v.encode_utf8(&mut [0u8; 4]))
    }
    fn serialize_str(self, v: &str) -> Result<(), Error> {
        self.write_str(v)
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), Error> {
        use ser::SerializeSeq;
        let mut seq = self.serialize_seq(Some(v.len()))?;
        for b in v {
            seq.serialize_element(b)?;
        }
        seq.end()
    }
    fn serialize_none(self) -> Result<(), Error> {
        self.serialize_unit()
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Error> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), Error> {
        self.out.extend_from_slice(b"null");
        Ok(())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Error> {
        self.serialize_unit()
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), Error> {
        self.write_str(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        self.out.push(b'{');
        self.write_str(variant)?;
        self.out.push(b':');
        value.serialize(&mut *self)?;
        self.out.push(b'}');
        Ok(())
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Compound<'a, 'b>, Error> {
        self.out.push(b'[');
        Ok(Compound {
            ser: self,
            first: true,
            close: b"]",
            raw: false,
        })
    }
    fn serialize_tuple(self, len: usize) -> Result<Compound<'a, 'b>, Error> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        len: usize,
    ) -> Result<Compound<'a, 'b>, Error> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'a, 'b>, Error> {
        self.out.push(b'{');
        self.write_str(variant)?;
        self.out.extend_from_slice(b":[");
        Ok(Compound {
            ser: self,
            first: true,
            close: b"]}",
            raw: false,
        })
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Compound<'a, 'b>, Error> {
        self.out.push(b'{');
        Ok(Compound {
            ser: self,
            first: true,
            close: b"}",
            raw: false,
        })
    }
    fn serialize_struct(self, name: &'static str, len: usize) -> Result<Compound<'a, 'b>, Error> {
        if name == RAW_VALUE_TOKEN {
            return Ok(Compound {
                ser: self,
                first: true,
                close: b"",
                raw: true,
            });
        }
        self.serialize_map(Some(len))
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'a, 'b>, Error> {
        self.out.push(b'{');
        self.write_str(variant)?;
        self.out.extend_from_slice(b":{");
        Ok(Compound {
            ser: self,
            first: true,
            close: b"}}",
            raw: false,
        })
    }
}

impl ser::SerializeSeq for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.sep();
        value.serialize(&mut *self.ser)
    }
    fn end(self) -> Result<(), Error> {
        self.ser.out.extend_from_slice(self.close);
        Ok(())
    }
}

impl ser::SerializeTuple for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> Result<(), Error> {
        ser::SerializeSeq::end(self)
    }
}

impl ser::SerializeTupleStruct for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> Result<(), Error> {
        ser::SerializeSeq::end(self)
    }
}

impl ser::SerializeTupleVariant for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> Result<(), Error> {
        ser::SerializeSeq::end(self)
    }
}

impl ser::SerializeMap for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        self.sep();
        key.serialize(KeySer {
            ser: &mut *self.ser,
        })?;
        self.ser.out.push(b':');
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        value.serialize(&mut *self.ser)
    }
    fn end(self) -> Result<(), Error> {
        self.ser.out.extend_from_slice(self.close);
        Ok(())
    }
}

impl ser::SerializeStruct for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        if self.raw {
            // The field is a string of JSON text: written as a string, then unquoted.
            let quoted = to_vec(value)?;
            let text: String = serde_json::from_slice(&quoted)?;
            serde_json::from_str::<&serde_json::value::RawValue>(&text)?;
            self.ser.out.extend_from_slice(text.as_bytes());
            return Ok(());
        }
        self.sep();
        self.ser.write_str(key)?;
        self.ser.out.push(b':');
        value.serialize(&mut *self.ser)
    }
    fn end(self) -> Result<(), Error> {
        self.ser.out.extend_from_slice(self.close);
        Ok(())
    }
}

impl ser::SerializeStructVariant for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        ser::SerializeStruct::serialize_field(self, key, value)
    }
    fn end(self) -> Result<(), Error> {
        ser::SerializeStruct::end(self)
    }
}

/// Map keys: strings as-is, numbers and bools quoted (as `serde_json` does).
struct KeySer<'a, 'b> {
    ser: &'b mut Ser<'a>,
}

impl KeySer<'_, '_> {
    fn quoted(self, s: impl Display) -> Result<(), Error> {
        self.ser.write_str(&s.to_string())
    }
}

fn key_must_be_string() -> Error {
    Error("JSON object key must be a string".into())
}

impl<'a, 'b> ser::Serializer for KeySer<'a, 'b> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = ser::Impossible<(), Error>;
    type SerializeTuple = ser::Impossible<(), Error>;
    type SerializeTupleStruct = ser::Impossible<(), Error>;
    type SerializeTupleVariant = ser::Impossible<(), Error>;
    type SerializeMap = ser::Impossible<(), Error>;
    type SerializeStruct = ser::Impossible<(), Error>;
    type SerializeStructVariant = ser::Impossible<(), Error>;

    fn serialize_bool(self, v: bool) -> Result<(), Error> {
        self.quoted(v)
    }
    fn serialize_i8(self, v: i8) -> Result<(), Error> {
        self.quoted(v)
    }
    fn serialize_i16(self, v: i16) -> Result<(), Error> {
        self.quoted(v)
    }
    fn serialize_i32(self, v: i32) -> Result<(), Error> {
        self.quoted(v)
    }
    fn serialize_i64(self, v: i64) -> Result<(), Error> {
        self.quoted(v)
    }
    fn serialize_u8(self, v: u8) -> Result<(), Error> {
        self.quoted(v)
    }
    fn serialize_u16(self, v: u16) -> Result<(), Error> {
        self.quoted(v)
    }
    fn serialize_u32(self, v: u32) -> Result<(), Error> {
        self.quoted(v)
    }
    fn serialize_u64(self, v: u64) -> Result<(), Error> {
        self.quoted(v)
    }
    fn serialize_f32(self, _v: f32) -> Result<(), Error> {
        Err(key_must_be_string())
    }
    fn serialize_f64(self, _v: f64) -> Result<(), Error> {
        Err(key_must_be_string())
    }
    fn serialize_char(self, v: char) -> Result<(), Error> {
        self.quoted(v)
    }
    fn serialize_str(self, v: &str) -> Result<(), Error> {
        self.ser.write_str(v)
    }
    fn serialize_bytes(self, _v: &[u8]) -> Result<(), Error> {
        Err(key_must_be_string())
    }
    fn serialize_none(self) -> Result<(), Error> {
        Err(key_must_be_string())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Error> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), Error> {
        Err(key_must_be_string())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Error> {
        Err(key_must_be_string())
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), Error> {
        self.ser.write_str(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Result<(), Error> {
        Err(key_must_be_string())
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq, Error> {
        Err(key_must_be_string())
    }
    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple, Error> {
        Err(key_must_be_string())
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleStruct, Error> {
        Err(key_must_be_string())
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant, Error> {
        Err(key_must_be_string())
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap, Error> {
        Err(key_must_be_string())
    }
    fn serialize_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStruct, Error> {
        Err(key_must_be_string())
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant, Error> {
        Err(key_must_be_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use examen_types::{Score, Value};
    use serde_json::json;

    #[test]
    fn matches_serde_json_for_finite_data() {
        let v = json!({
            "a": [1, -2, 3.5, 1e300, true, null, "x\"y\n\u{1}é"],
            "b": {"nested": {}},
            "c": [],
            "d": 0.1,
        });
        assert_eq!(to_vec(&v).unwrap(), serde_json::to_vec(&v).unwrap());
        let score = Score::new("C").with_answer("2");
        assert_eq!(to_vec(&score).unwrap(), serde_json::to_vec(&score).unwrap());
        let mut m = std::collections::BTreeMap::new();
        m.insert(3u32, "x");
        assert_eq!(to_vec(&m).unwrap(), br#"{"3":"x"}"#);
    }

    #[test]
    fn nonfinite_floats_use_python_constants() {
        let score = Score::unscored(None);
        assert_eq!(to_vec(&score).unwrap(), br#"{"value":NaN,"history":[]}"#);
        assert_eq!(
            to_vec(&[f64::INFINITY, f64::NEG_INFINITY]).unwrap(),
            b"[Infinity,-Infinity]"
        );
    }

    #[test]
    fn reads_python_constants_outside_strings_only() {
        let text =
            br#"{"value":NaN,"s":"NaN and -Infinity","l":[Infinity,-Infinity],"history":[]}"#;
        let v: serde_json::Value = from_slice(text).unwrap();
        assert_eq!(v["s"], "NaN and -Infinity");
        assert_eq!(v["l"], json!([null, null]));
        let score: Score = from_slice(br#"{"value":NaN,"history":[]}"#).unwrap();
        assert!(matches!(score.value, Value::Float(f) if f.is_nan()));
        // escaped quote inside a string does not end it
        let v: serde_json::Value = from_slice(br#"["a\"NaN", NaN]"#).unwrap();
        assert_eq!(v, json!(["a\"NaN", null]));
    }
}
