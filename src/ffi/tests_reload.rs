//! Rust-side tests of the reload, batch and silence exports: every pointer NULL, invalid
//! UTF-8, every status, buffers, and that the C view agrees with the Rust engine
//! (`tests/c/test_reload.c` covers the same ground from C, under valgrind).

use super::*;
use crate::Engine;
use crate::handle::{SignalId, SystemHandle};
use crate::policy::Policy;
use serde_json::{Value, json};
use std::ffi::{CStr, c_char};
use std::ptr;

/// The minimal test policy with a gauge `g` and a rule `g-max` (max of g over one bucket,
/// thresholds 1/2/3/4 for every grade) whose low thresholds are `low`.
fn policy(low: Value) -> String {
    let mut d: Value = serde_json::from_str(include_str!("../../tests/data/minimal.json")).unwrap();
    d["signals"]
        .as_array_mut()
        .unwrap()
        .push(json!({"id": "g", "kind": "gauge", "category": "physical_safety"}));
    d["rules"].as_array_mut().unwrap().push(json!({
        "id": "g-max", "category": "physical_safety", "signal": "g", "aggregate": "max",
        "window_ms": 60000, "thresholds": {"low": low, "medium": [1, 2, 3, 4],
        "high": [1, 2, 3, 4], "critical": [1, 2, 3, 4]}}));
    d.to_string()
}

const BOT: &str = r#"{"id": "bot", "sector": "retail", "data": "public",
    "autonomy": "human_in_the_loop", "users": 10}"#;

fn s(p: &str) -> (*const c_char, usize) {
    (p.as_ptr().cast(), p.len())
}

fn last_error() -> String {
    // SAFETY: NULL with cap 0 writes nothing; then `buf` has `n + 1` writable bytes.
    unsafe {
        let n = airisk_last_error(ptr::null_mut(), 0);
        let mut buf = vec![0u8; n + 1];
        airisk_last_error(buf.as_mut_ptr().cast(), buf.len());
        CStr::from_bytes_until_nul(&buf)
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned()
    }
}

fn cstr<'a>(p: *const c_char) -> Option<&'a str> {
    // SAFETY: the library returns NULL or NUL-terminated strings valid until free.
    (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_str().unwrap())
}

struct Eng(*mut airisk_engine);

impl Eng {
    fn new(policy: &str) -> Eng {
        let mut e = ptr::null_mut();
        let (p, n) = s(policy);
        // SAFETY: valid pointers.
        assert_eq!(unsafe { airisk_engine_new(p, n, &mut e) }, AIRISK_OK);
        Eng(e)
    }
    fn register(&self, profile: &str) -> u32 {
        let mut h = u32::MAX;
        let (p, n) = s(profile);
        // SAFETY: valid pointers.
        assert_eq!(unsafe { airisk_register(self.0, p, n, &mut h) }, AIRISK_OK);
        h
    }
    fn signal(&self, name: &str) -> u32 {
        let mut g = u32::MAX;
        let (p, n) = s(name);
        // SAFETY: valid pointers.
        assert_eq!(unsafe { airisk_signal(self.0, p, n, &mut g) }, AIRISK_OK);
        g
    }
    fn poll(&self) -> Vec<airisk_transition> {
        let mut out = [const { std::mem::MaybeUninit::<airisk_transition>::uninit() }; 32];
        let mut n = 0usize;
        // SAFETY: `out` holds 32 writable transitions; the first `n` are written.
        unsafe {
            assert_eq!(
                airisk_poll(self.0, out.as_mut_ptr().cast(), out.len(), &mut n),
                AIRISK_OK
            );
            out[..n].iter().map(|m| m.assume_init()).collect()
        }
    }
    fn report_json(&self) -> String {
        let mut n = 0usize;
        // SAFETY: a size query, then a buffer of `n + 1` bytes.
        unsafe {
            assert_eq!(
                airisk_last_reload_report(self.0, ptr::null_mut(), 0, &mut n),
                AIRISK_ERR_BUFFER
            );
            let mut buf = vec![0 as c_char; n + 1];
            let mut m = 0usize;
            assert_eq!(
                airisk_last_reload_report(self.0, buf.as_mut_ptr(), buf.len(), &mut m),
                AIRISK_OK
            );
            assert_eq!(m, n);
            CStr::from_ptr(buf.as_ptr()).to_str().unwrap().to_owned()
        }
    }
}

impl Drop for Eng {
    fn drop(&mut self) {
        // SAFETY: created by airisk_engine_new, freed once.
        unsafe { airisk_engine_free(self.0) };
    }
}

#[test]
fn null_pointers_and_invalid_utf8_are_refused_and_write_nothing() {
    let e = Eng::new(&policy(json!([1, 2, 3, 4])));
    let h = e.register(BOT);
    let g = e.signal("g");
    let p = policy(json!([1, 2, 3, 5]));
    let (pj, pl) = s(&p);
    let nul = ptr::null_mut::<airisk_engine>();
    let np = ptr::null::<c_char>();
    let mut rep = airisk_reload_report {
        kept: 99,
        ..Default::default()
    };
    let mut lvl: airisk_level = 77;
    let mut n = 55usize;
    let mut buf = [0x41 as c_char; 8];
    let sil = r#"{"id": "s1", "starts": 0, "ends": 10}"#;
    let (sj, sl) = s(sil);
    let bad = [0x66u8, 0xff, 0x6f];
    let bp = bad.as_ptr().cast::<c_char>();
    // SAFETY: every pointer is NULL or valid for its use.
    unsafe {
        assert_eq!(airisk_engine_reload(nul, pj, pl, &mut rep), AIRISK_ERR_NULL);
        assert_eq!(airisk_engine_reload(e.0, np, pl, &mut rep), AIRISK_ERR_NULL);
        assert_eq!(airisk_engine_reload(e.0, np, 0, &mut rep), AIRISK_ERR_NULL);
        assert_eq!(
            airisk_engine_reload(e.0, pj, pl, ptr::null_mut()),
            AIRISK_ERR_NULL
        );
        assert!(last_error().contains("`out` is NULL"), "{}", last_error());
        assert_eq!(airisk_engine_reload(e.0, bp, 3, &mut rep), AIRISK_ERR_UTF8);
        assert_eq!(rep.kept, 99);

        assert_eq!(
            airisk_last_reload_report(nul, buf.as_mut_ptr(), 8, &mut n),
            AIRISK_ERR_NULL
        );
        assert_eq!(
            airisk_last_reload_report(e.0, ptr::null_mut(), 8, &mut n),
            AIRISK_ERR_NULL
        );
        assert_eq!(
            airisk_last_reload_report(e.0, buf.as_mut_ptr(), 8, ptr::null_mut()),
            AIRISK_ERR_NULL
        );
        assert_eq!((n, buf[0]), (55, 0x41));

        let sig = [g];
        let val = [1.0f64];
        assert_eq!(
            airisk_observe_many(nul, h, sig.as_ptr(), val.as_ptr(), 1, 0, &mut lvl),
            AIRISK_ERR_NULL
        );
        assert_eq!(
            airisk_observe_many(e.0, h, ptr::null(), val.as_ptr(), 1, 0, &mut lvl),
            AIRISK_ERR_NULL
        );
        assert_eq!(
            airisk_observe_many(e.0, h, sig.as_ptr(), ptr::null(), 1, 0, &mut lvl),
            AIRISK_ERR_NULL
        );
        assert_eq!(
            airisk_observe_many(e.0, h, sig.as_ptr(), val.as_ptr(), 1, 0, ptr::null_mut()),
            AIRISK_ERR_NULL
        );
        assert_eq!(lvl, 77);

        assert_eq!(airisk_silence(nul, sj, sl), AIRISK_ERR_NULL);
        assert_eq!(airisk_silence(e.0, np, sl), AIRISK_ERR_NULL);
        assert_eq!(airisk_silence(e.0, bp, 3), AIRISK_ERR_UTF8);
        assert_eq!(airisk_unsilence(nul, sj, 2), AIRISK_ERR_NULL);
        assert_eq!(airisk_unsilence(e.0, np, 2), AIRISK_ERR_NULL);
        assert_eq!(airisk_unsilence(e.0, bp, 3), AIRISK_ERR_UTF8);
    }
    // Nothing changed.
    let mut st = airisk_stats::default();
    // SAFETY: valid pointers.
    unsafe { assert_eq!(airisk_engine_stats(e.0, &mut st), AIRISK_OK) };
    assert_eq!(st.observed, 0);
    assert_eq!(e.report_json(), "null");
}

#[test]
fn reload_statuses_counts_report_and_strings() {
    let e = Eng::new(&policy(json!([1, 2, 3, 4])));
    let h = e.register(BOT);
    let g = e.signal("g");
    let mut lvl = 0;
    // SAFETY: valid pointers throughout.
    unsafe {
        assert_eq!(airisk_observe(e.0, h, g, 2.5, 1000, &mut lvl), AIRISK_OK);
        assert_eq!(lvl, AIRISK_LEVEL_YELLOW);
        e.poll();
        let mut rep = airisk_reload_report {
            kept: 99,
            ..Default::default()
        };
        // Malformed JSON, an invalid policy (with its path), a refused reload: nothing
        // changes, `rep` untouched.
        let (bj, bl) = s("{\"schema\": ");
        assert_eq!(airisk_engine_reload(e.0, bj, bl, &mut rep), AIRISK_ERR_JSON);
        let mut bad: Value = serde_json::from_str(&policy(json!([1, 2, 3, 4]))).unwrap();
        bad["rules"][1]["window_ms"] = json!(-1);
        let bad = bad.to_string();
        let (bj, bl) = s(&bad);
        assert_eq!(
            airisk_engine_reload(e.0, bj, bl, &mut rep),
            AIRISK_ERR_POLICY
        );
        assert!(
            last_error().contains("rules[1].window_ms"),
            "{}",
            last_error()
        );
        let mut strict: Value = serde_json::from_str(&policy(json!([1, 2, 3, 4]))).unwrap();
        strict["classification"]["prohibited"] =
            json!([{"id": "no-retail", "when": {"sectors": ["retail"]}}]);
        let strict = strict.to_string();
        let (bj, bl) = s(&strict);
        assert_eq!(
            airisk_engine_reload(e.0, bj, bl, &mut rep),
            AIRISK_ERR_RELOAD
        );
        assert!(last_error().contains("bot"), "{}", last_error());
        assert_eq!(rep.kept, 99);
        assert_eq!(e.report_json(), "null");
        assert!(e.poll().is_empty());

        // g-max's low thresholds change: reset, yellow → none with the reason.
        let p = policy(json!([1, 2, 3, 5]));
        let (pj, pl) = s(&p);
        assert_eq!(airisk_engine_reload(e.0, pj, pl, &mut rep), AIRISK_OK);
        assert_eq!(
            (
                rep.systems,
                rep.kept,
                rep.reset,
                rep.added,
                rep.removed,
                rep.regraded,
                rep.transitions
            ),
            (1, 1, 1, 0, 0, 0, 1)
        );
        let fp = |doc: &str| Policy::from_json(doc).unwrap().fingerprint();
        assert_eq!(rep.from_fingerprint, fp(&policy(json!([1, 2, 3, 4]))));
        assert_eq!(rep.to_fingerprint, fp(&p));
        let t = e.poll();
        assert_eq!(t.len(), 2);
        assert_eq!(cstr(t[0].rule_id), Some("g-max"));
        assert_eq!(
            (t[0].from, t[0].to),
            (AIRISK_LEVEL_YELLOW, AIRISK_LEVEL_NONE)
        );
        assert_eq!(cstr(t[0].reason), Some("policy_reload"));
        assert_eq!(cstr(t[0].silenced), None);
        assert_eq!(t[1].rule, AIRISK_NO_RULE);
        assert_eq!(cstr(t[1].reason), None);
        let json: Value = serde_json::from_str(&e.report_json()).unwrap();
        assert_eq!(json["reset"][0]["rule"], "g-max");
        assert_eq!(json["reset"][0]["why"], "thresholds");
        assert_eq!(json["kept"], json!(["hallucination-rate"]));
        // The same as the Rust engine's report.
        let r = Engine::new(Policy::from_json(&policy(json!([1, 2, 3, 4]))).unwrap());
        let rh = r.register(crate::Profile::from_json(BOT).unwrap()).unwrap();
        r.observe(rh, SignalId(2), 2.5, 1000).unwrap();
        let rr = r.reload(Policy::from_json(&p).unwrap()).unwrap();
        assert_eq!(json, serde_json::to_value(&rr).unwrap());

        // A buffer one byte short: AIRISK_ERR_BUFFER, the length, nothing written.
        let len = e.report_json().len();
        let mut buf = vec![0x41 as c_char; len];
        let mut n = 0;
        assert_eq!(
            airisk_last_reload_report(e.0, buf.as_mut_ptr(), len, &mut n),
            AIRISK_ERR_BUFFER
        );
        assert_eq!(n, len);
        assert!(buf.iter().all(|&c| c == 0x41));

        // A policy that adds a rule in front: rule indexes and ids follow the new policy.
        let mut front: Value = serde_json::from_str(&p).unwrap();
        let first = json!({"id": "g-min", "category": "physical_safety", "signal": "g",
            "aggregate": "min", "direction": "below", "window_ms": 60000,
            "thresholds": {"low": [0, -1, -2, -3], "medium": [0, -1, -2, -3],
            "high": [0, -1, -2, -3], "critical": [0, -1, -2, -3]}});
        front["rules"].as_array_mut().unwrap().insert(0, first);
        let front = front.to_string();
        let (fj, fl) = s(&front);
        assert_eq!(airisk_engine_reload(e.0, fj, fl, &mut rep), AIRISK_OK);
        assert_eq!((rep.kept, rep.added), (2, 1));
        let mut levels = [airisk_rule_level {
            rule: 9,
            level: 9,
            rule_id: ptr::null(),
        }; 3];
        let mut n = 0usize;
        assert_eq!(
            airisk_rule_levels(e.0, h, levels.as_mut_ptr(), 3, &mut n),
            AIRISK_OK
        );
        let ids: Vec<_> = levels[..n].iter().map(|l| cstr(l.rule_id)).collect();
        assert_eq!(
            ids,
            vec![Some("g-min"), Some("hallucination-rate"), Some("g-max")]
        );
        // Signal indexes stay valid.
        assert_eq!(e.signal("g"), g);
        assert_eq!(airisk_observe(e.0, h, g, 3.5, 2000, &mut lvl), AIRISK_OK);
        let t = e.poll();
        assert_eq!(cstr(t[0].rule_id), Some("g-max"));
        assert_eq!(t[0].rule, 2);
        assert_eq!(cstr(t[0].category), Some("physical_safety"));
    }
}

#[test]
fn observe_many_statuses_match_the_rust_engine() {
    let e = Eng::new(&policy(json!([1, 2, 3, 4])));
    let h = e.register(BOT);
    let (g, n, k) = (
        e.signal("g"),
        e.signal("interactions"),
        e.signal("hallucination_flagged"),
    );
    let mut lvl: airisk_level = 77;
    // SAFETY: valid pointers; arrays of the length passed.
    unsafe {
        // n = 0: a no-op, NULL arrays allowed; the level is written.
        assert_eq!(
            airisk_observe_many(e.0, h, ptr::null(), ptr::null(), 0, 0, &mut lvl),
            AIRISK_OK
        );
        assert_eq!(lvl, AIRISK_LEVEL_NONE);
        lvl = 77;
        let call = |sig: &[u32], val: &[f64], ts: i64, lvl: &mut airisk_level| {
            assert_eq!(sig.len(), val.len());
            airisk_observe_many(e.0, h, sig.as_ptr(), val.as_ptr(), sig.len(), ts, lvl)
        };
        assert_eq!(
            airisk_observe_many(e.0, h + 7, [g].as_ptr(), [1.0].as_ptr(), 1, 0, &mut lvl),
            AIRISK_ERR_UNKNOWN_SYSTEM
        );
        assert_eq!(
            call(&[g, 99], &[1.0, 1.0], 0, &mut lvl),
            AIRISK_ERR_UNKNOWN_SIGNAL
        );
        assert_eq!(call(&[g, g], &[1.0, 2.0], 0, &mut lvl), AIRISK_ERR_VALUE);
        assert!(last_error().contains("more than once"), "{}", last_error());
        assert_eq!(
            call(&[g, n], &[f64::NAN, 1.0], 0, &mut lvl),
            AIRISK_ERR_VALUE
        );
        assert_eq!(call(&[k, n], &[1.0, -1.0], 0, &mut lvl), AIRISK_ERR_VALUE);
        assert_eq!(lvl, 77);
        assert_eq!(
            call(&[g, n, k], &[2.5, 10.0, 1.0], 3_600_000, &mut lvl),
            AIRISK_OK
        );
        assert_eq!(lvl, AIRISK_LEVEL_YELLOW);
        // g's ring is one bucket: a minute back is stale; with a bad value too, VALUE.
        assert_eq!(call(&[g], &[1.0], 0, &mut lvl), AIRISK_ERR_STALE);
        assert_eq!(
            call(&[g, n], &[1.0, f64::INFINITY], 0, &mut lvl),
            AIRISK_ERR_VALUE
        );
        let mut st = airisk_stats::default();
        assert_eq!(airisk_engine_stats(e.0, &mut st), AIRISK_OK);
        assert_eq!(st.observed, 3);
        assert_eq!(st.rejected_stale, 1);
        // The Rust engine, fed the same, agrees.
        let r = Engine::new(Policy::from_json(&policy(json!([1, 2, 3, 4]))).unwrap());
        let rh = r.register(crate::Profile::from_json(BOT).unwrap()).unwrap();
        let ids = |x: &[u32], v: &[f64]| -> Vec<(SignalId, f64)> {
            x.iter()
                .map(|&s| SignalId(s))
                .zip(v.iter().copied())
                .collect()
        };
        r.observe_many(rh, &ids(&[g, n, k], &[2.5, 10.0, 1.0]), 3_600_000)
            .unwrap();
        let mut rt = Vec::new();
        r.drain(&mut rt);
        let ct = e.poll();
        assert_eq!(ct.len(), rt.len());
        for (c, t) in ct.iter().zip(&rt) {
            assert_eq!(
                (c.seq, c.ts_ms, c.from, c.to),
                (t.seq, t.ts, t.from as u32, t.to as u32)
            );
            assert_eq!(cstr(c.rule_id), t.rule_id.as_deref());
        }
        let _ = SystemHandle(rh.0);
    }
}

#[test]
fn silences_through_the_c_api() {
    let e = Eng::new(&policy(json!([1, 2, 3, 4])));
    let h = e.register(BOT);
    let g = e.signal("g");
    let mut lvl = 0;
    let set = |json: &str| {
        let (p, n) = s(json);
        // SAFETY: valid pointers.
        unsafe { airisk_silence(e.0, p, n) }
    };
    let unset = |id: &str| {
        let (p, n) = s(id);
        // SAFETY: valid pointers.
        unsafe { airisk_unsilence(e.0, p, n) }
    };
    assert_eq!(set("{\"id\": "), AIRISK_ERR_JSON);
    assert_eq!(
        set(r#"{"id": "a", "id": "b", "starts": 0, "ends": 1}"#),
        AIRISK_ERR_JSON
    );
    assert_eq!(set(r#"{"id": "a", "ends": 1}"#), AIRISK_ERR_SILENCE);
    assert!(last_error().contains("starts"), "{}", last_error());
    assert_eq!(
        set(r#"{"id": "a", "starts": "x", "ends": 1}"#),
        AIRISK_ERR_SILENCE
    );
    assert!(last_error().contains("starts"), "{}", last_error());
    assert_eq!(
        set(r#"{"id": "a", "starts": 0, "ends": 1, "colour": "red"}"#),
        AIRISK_ERR_SILENCE
    );
    assert!(last_error().contains("colour"), "{}", last_error());
    assert_eq!(
        set(r#"{"id": "a", "starts": 5, "ends": 5}"#),
        AIRISK_ERR_SILENCE
    );
    assert!(last_error().contains("ends"), "{}", last_error());
    assert_eq!(
        set(r#"{"id": "a", "rule": "g-maxx", "starts": 0, "ends": 5}"#),
        AIRISK_ERR_SILENCE
    );
    assert!(last_error().contains("g-max"), "{}", last_error());
    assert_eq!(
        set(r#"{"id": "", "starts": 0, "ends": 5}"#),
        AIRISK_ERR_SILENCE
    );
    let big = format!(
        r#"{{"id": "a", "starts": 0, "ends": 5, "reason": "{}"}}"#,
        "x".repeat(70_000)
    );
    assert_eq!(set(&big), AIRISK_ERR_LIMIT);
    assert_eq!(unset("nope"), AIRISK_ERR_SILENCE);
    assert!(last_error().contains("nope"), "{}", last_error());
    // A silence of g-max from 0 to 2000: its transition at 1000 is muted, with its id.
    assert_eq!(
        set(
            r#"{"id": "maint", "system": "bot", "rule": "g-max", "starts": 0, "ends": 2000,
            "reason": "upgrade", "by": "ops"}"#
        ),
        AIRISK_OK
    );
    // SAFETY: valid pointers.
    unsafe { assert_eq!(airisk_observe(e.0, h, g, 2.5, 1000, &mut lvl), AIRISK_OK) };
    let t = e.poll();
    assert_eq!(cstr(t[0].silenced), Some("maint"));
    assert_eq!(t[0].actions, AIRISK_ACTION_LOG);
    assert_eq!(cstr(t[0].inhibited_by), None);
    // The system line is not muted by a silence with a rule matcher.
    assert_eq!(t[1].rule, AIRISK_NO_RULE);
    assert_eq!(cstr(t[1].silenced), None);
    assert_eq!(unset("maint"), AIRISK_OK);
    assert_eq!(unset("maint"), AIRISK_ERR_SILENCE);
    // SAFETY: valid pointers.
    unsafe { assert_eq!(airisk_observe(e.0, h, g, 3.5, 1500, &mut lvl), AIRISK_OK) };
    let t = e.poll();
    assert_eq!(cstr(t[0].silenced), None);
    assert_ne!(t[0].actions, AIRISK_ACTION_LOG);
}
