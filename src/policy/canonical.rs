//! The canonical form of a policy document, and its fingerprint.
//!
//! The fingerprint identifies a policy across builds and machines (snapshots and journals
//! record it), so it must not depend on how the document was written or on how
//! serde_json happens to be built: object keys are written sorted by their UTF-8 bytes
//! whatever the map's own order (serde_json's `preserve_order` feature keeps insertion
//! order), there is no whitespace, strings are escaped minimally (`"` `\` and control
//! characters, as `\n` `\t` ... or `\u00XX`), integers are written in decimal, and other
//! numbers in the shortest form that reads back to the same `f64` (Rust's `{:?}`), with
//! `-0.0` written as `0`.

use crate::hash::fnv1a;
use serde_json::Value;
use std::fmt::Write;

/// The canonical JSON text of `v`.
pub(crate) fn canonical_json(v: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, v);
    out
}

/// FNV-1a 64 of the canonical JSON of `v`.
pub(crate) fn fingerprint(v: &Value) -> u64 {
    fnv1a(canonical_json(v).as_bytes())
}

fn write_value(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                let _ = write!(out, "{i}");
            } else if let Some(u) = n.as_u64() {
                let _ = write!(out, "{u}");
            } else if let Some(f) = n.as_f64() {
                write_f64(out, f);
            }
        }
        Value::String(s) => write_str(out, s),
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, x);
            }
            out.push(']');
        }
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort_unstable_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_str(out, k);
                out.push(':');
                write_value(out, &m[k]);
            }
            out.push('}');
        }
    }
}

fn write_f64(out: &mut String, f: f64) {
    if f == 0.0 {
        out.push('0');
    } else if f.fract() == 0.0 && f.abs() < 1e15 {
        // An integral float (1.0) and the integer 1 are the same number to a reader.
        let _ = write!(out, "{}", f as i64);
    } else {
        let _ = write!(out, "{f:?}");
    }
}

fn write_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_sorted_numbers_fixed_strings_escaped() {
        let v = json!({"b": [1, 2.5, -0.0, 1.0, 1e300], "a": {"z": null, "é": "x\"\n\u{1}"}, "A": true});
        assert_eq!(
            canonical_json(&v),
            r#"{"A":true,"a":{"z":null,"é":"x\"\n\u0001"},"b":[1,2.5,0,1,1e300]}"#
        );
    }

    #[test]
    fn fingerprint_ignores_key_order() {
        let a: Value = serde_json::from_str(r#"{"x": 1, "y": {"p": [1, 2], "q": "s"}}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"y": {"q": "s", "p": [1, 2]}, "x": 1}"#).unwrap();
        assert_eq!(fingerprint(&a), fingerprint(&b));
        assert_ne!(fingerprint(&a), fingerprint(&json!({"x": 2})));
    }
}
