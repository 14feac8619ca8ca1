//! Strict JSON reading shared by the policy and profile loaders: duplicate keys are errors,
//! and a small walker that collects every problem with its JSON path.

use crate::error::Issue;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::fmt;

/// Parses `text` into a [`Value`], rejecting duplicate keys in any object.
///
/// Errors carry serde_json's line and column. Nesting deeper than serde_json's limit (128)
/// is an error, not a stack overflow.
pub(crate) fn parse_strict(text: &str) -> Result<Value, String> {
    let mut de = serde_json::Deserializer::from_str(text);
    let v = StrictValue::deserialize_from(&mut de).map_err(|e| e.to_string())?;
    de.end().map_err(|e| e.to_string())?;
    Ok(v)
}

/// Deserialises one JSON value, rejecting duplicate keys in any object: for a value inside
/// a larger document (the profile or policy of an event line); [`parse_strict`] reads a
/// whole document. The error is [`DUPLICATE_KEY`] and the key, quoted.
pub(crate) fn deserialize_strict<'de, D: Deserializer<'de>>(d: D) -> Result<Value, D::Error> {
    StrictValue::deserialize_from(d)
}

/// How the error of a duplicate key begins.
pub(crate) const DUPLICATE_KEY: &str = "duplicate key ";

struct StrictValue(Value);

impl StrictValue {
    fn deserialize_from<'de, D: Deserializer<'de>>(d: D) -> Result<Value, D::Error> {
        d.deserialize_any(StrictVisitor)
    }
}

impl<'de> de::Deserialize<'de> for StrictValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(StrictValue)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        serde_json::Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("number out of range"))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut v = Vec::new();
        while let Some(StrictValue(x)) = seq.next_element()? {
            v.push(x);
        }
        Ok(Value::Array(v))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut m = Map::new();
        while let Some(k) = map.next_key::<String>()? {
            if m.contains_key(&k) {
                return Err(de::Error::custom(format_args!("{DUPLICATE_KEY}{k:?}")));
            }
            let StrictValue(v) = map.next_value()?;
            m.insert(k, v);
        }
        Ok(Value::Object(m))
    }
}

/// Collects issues while walking a JSON value.
#[derive(Default)]
pub(crate) struct Walker {
    pub issues: Vec<Issue>,
}

/// `a.b`, `a[3]` style path joining.
pub(crate) fn key(path: &str, k: &str) -> String {
    if path.is_empty() {
        k.to_owned()
    } else {
        format!("{path}.{k}")
    }
}

pub(crate) fn idx(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

impl Walker {
    pub fn err(&mut self, path: impl Into<String>, reason: impl Into<String>) {
        self.issues.push(Issue {
            path: path.into(),
            reason: reason.into(),
        });
    }

    /// `v` as an object whose keys are all in `allowed` (each other key is an issue).
    pub fn obj<'a>(
        &mut self,
        v: &'a Value,
        path: &str,
        allowed: &[&str],
    ) -> Option<&'a Map<String, Value>> {
        match v {
            Value::Object(m) => {
                for k in m.keys() {
                    if !allowed.contains(&k.as_str()) {
                        self.err(
                            key(path, k),
                            format!(
                                "unknown field {k:?} (expected one of: {})",
                                allowed.join(", ")
                            ),
                        );
                    }
                }
                Some(m)
            }
            other => {
                self.err(
                    path,
                    format!("expected an object, found {}", type_name(other)),
                );
                None
            }
        }
    }

    /// `v` as an object whose keys are free (a map of ids).
    pub fn map<'a>(&mut self, v: &'a Value, path: &str) -> Option<&'a Map<String, Value>> {
        match v {
            Value::Object(m) => Some(m),
            other => {
                self.err(
                    path,
                    format!("expected an object, found {}", type_name(other)),
                );
                None
            }
        }
    }

    pub fn arr<'a>(&mut self, v: &'a Value, path: &str) -> Option<&'a [Value]> {
        match v {
            Value::Array(a) => Some(a),
            other => {
                self.err(
                    path,
                    format!("expected an array, found {}", type_name(other)),
                );
                None
            }
        }
    }

    /// A required field; an issue if absent.
    pub fn req<'a>(&mut self, m: &'a Map<String, Value>, path: &str, k: &str) -> Option<&'a Value> {
        let v = m.get(k);
        if v.is_none() {
            self.err(key(path, k), "missing required field");
        }
        v
    }

    /// An optional field; JSON `null` counts as absent.
    pub fn opt<'a>(m: &'a Map<String, Value>, k: &str) -> Option<&'a Value> {
        m.get(k).filter(|v| !v.is_null())
    }

    pub fn str<'a>(&mut self, v: &'a Value, path: &str) -> Option<&'a str> {
        match v {
            Value::String(s) => Some(s),
            other => {
                self.err(
                    path,
                    format!("expected a string, found {}", type_name(other)),
                );
                None
            }
        }
    }

    /// An id: 1–128 bytes, no control characters.
    pub fn id<'a>(&mut self, v: &'a Value, path: &str) -> Option<&'a str> {
        let s = self.str(v, path)?;
        match check_id(s) {
            Ok(()) => Some(s),
            Err(r) => {
                self.err(path, r);
                None
            }
        }
    }

    pub fn int(&mut self, v: &Value, path: &str) -> Option<i64> {
        match v.as_i64() {
            Some(i) => Some(i),
            None => {
                if let Some(f) = v.as_f64() {
                    self.err(path, format!("expected an integer, found {f}"));
                } else if v.is_u64() {
                    self.err(path, "integer too large");
                } else {
                    self.err(path, format!("expected an integer, found {}", type_name(v)));
                }
                None
            }
        }
    }

    pub fn num(&mut self, v: &Value, path: &str) -> Option<f64> {
        match v.as_f64() {
            Some(f) if f.is_finite() => Some(f),
            Some(_) => {
                self.err(path, "number is not finite");
                None
            }
            None => {
                self.err(path, format!("expected a number, found {}", type_name(v)));
                None
            }
        }
    }
}

/// Checks the id rule: 1–128 bytes of UTF-8 without control characters.
pub(crate) fn check_id(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err("id must not be empty".into());
    }
    if s.len() > 128 {
        return Err(format!(
            "id is {} bytes long; at most 128 are allowed",
            s.len()
        ));
    }
    // Control characters are C0 (bytes 0x00–0x1F), DEL (0x7F) and C1 (U+0080–U+009F,
    // encoded 0xC2 0x80–0x9F): a byte scan finds them without decoding.
    let b = s.as_bytes();
    let bad = b.iter().enumerate().any(|(i, &x)| {
        x < 0x20
            || x == 0x7f
            || (x == 0xc2 && b.get(i + 1).is_some_and(|y| (0x80..0xa0).contains(y)))
    });
    if bad {
        if let Some(c) = s.chars().find(|c| c.is_control()) {
            return Err(format!("id contains the control character {c:?}"));
        }
    }
    Ok(())
}
