//! The policy fingerprint is a property of the document, not of the build: the same policy
//! with its keys reordered has the same fingerprint, and the value is pinned, so a build
//! with serde_json's `preserve_order` feature (tests/preserve-order/, run by CI) must find
//! the same number.

use airisk::{DEFAULT_POLICY_JSON, Policy};
use serde_json::Value;

/// FNV-1a 64 of the canonical JSON of `tests/data/minimal.json` (a fixed document).
pub const MINIMAL_FINGERPRINT: u64 = include!("data/minimal-fingerprint.txt");

fn reversed(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut out = serde_json::Map::new();
            let mut keys: Vec<&String> = m.keys().collect();
            keys.reverse();
            for k in keys {
                out.insert(k.clone(), reversed(&m[k]));
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(reversed).collect()),
        x => x.clone(),
    }
}

#[test]
fn fingerprint_is_pinned() {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/minimal.json"),
    )
    .unwrap();
    let p = Policy::from_json(&text).unwrap();
    assert_eq!(
        p.fingerprint(),
        MINIMAL_FINGERPRINT,
        "canonical JSON: {}",
        p.canonical_json()
    );
}

#[test]
fn key_order_and_formatting_do_not_change_the_fingerprint() {
    let v: Value = serde_json::from_str(DEFAULT_POLICY_JSON).unwrap();
    let pretty = serde_json::to_string_pretty(&reversed(&v)).unwrap();
    let a = Policy::from_json(DEFAULT_POLICY_JSON).unwrap();
    let b = Policy::from_json(&pretty).unwrap();
    assert_eq!(a.fingerprint(), b.fingerprint());
    assert_eq!(a.canonical_json(), b.canonical_json());
    let mut changed = v.clone();
    changed["bucket_ms"] = Value::from(60_000);
    assert_ne!(
        Policy::from_value(changed).unwrap().fingerprint(),
        a.fingerprint()
    );
}
