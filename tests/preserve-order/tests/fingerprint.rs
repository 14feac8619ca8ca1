//! airisk built with serde_json's `preserve_order` feature: maps keep insertion order, yet
//! the fingerprint of a policy is the same number as in a default build
//! (`tests/data/minimal-fingerprint.txt`, checked by airisk's own `tests/fingerprint.rs`).

use airisk::Policy;

const MINIMAL_FINGERPRINT: u64 = include!("../../data/minimal-fingerprint.txt");

#[test]
fn preserve_order_is_on_in_this_build() {
    let v: serde_json::Value = serde_json::from_str(r#"{"b": 1, "a": 2}"#).unwrap();
    assert_eq!(serde_json::to_string(&v).unwrap(), r#"{"b":1,"a":2}"#);
}

#[test]
fn fingerprint_is_the_same_as_in_a_default_build() {
    let text = include_str!("../../data/minimal.json");
    let p = Policy::from_json(text).unwrap();
    assert_eq!(p.fingerprint(), MINIMAL_FINGERPRINT, "{}", p.canonical_json());
    // Reordering the keys changes serde_json's output under preserve_order, not the
    // fingerprint.
    let v: serde_json::Value = serde_json::from_str(text).unwrap();
    let mut m: Vec<(String, serde_json::Value)> = v.as_object().unwrap().clone().into_iter().collect();
    m.reverse();
    let reordered = serde_json::Value::Object(m.into_iter().collect());
    assert_ne!(
        serde_json::to_string(&reordered).unwrap(),
        serde_json::to_string(&v).unwrap()
    );
    assert_eq!(Policy::from_value(reordered).unwrap().fingerprint(), MINIMAL_FINGERPRINT);
}
