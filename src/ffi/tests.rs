//! Rust-side tests of the C ABI: every export with NULL for each pointer, invalid UTF-8,
//! unknown codes and handles, too-small buffers, the panic boundary, and the status
//! mapping. The C programs in `tests/c/` cover the same ground from C.

use super::boundary::{boundary, copy_truncated};
use super::status::{Detail, Fail, status_of};
use super::strings::{Strings, c_string};
use super::*;
use crate::error::{Error, Issue};
use crate::level::{Actions, Level};
use crate::policy::Policy;
use crate::transition::{Scope, Transition};
use std::ffi::{CStr, c_char, c_void};
use std::ptr;
use std::sync::Arc;

const POLICY: &str = include_str!("../../tests/data/minimal.json");
const BOT: &str = r#"{"id": "bot", "sector": "healthcare", "data": "personal",
    "autonomy": "human_in_the_loop", "users": 10}"#;

fn s(p: &str) -> (*const c_char, usize) {
    (p.as_ptr().cast(), p.len())
}

fn last_error() -> String {
    // SAFETY: NULL with cap 0 writes nothing.
    let n = unsafe { airisk_last_error(ptr::null_mut(), 0) };
    let mut buf = vec![0u8; n + 1];
    // SAFETY: `buf` has `n + 1` writable bytes.
    let m = unsafe { airisk_last_error(buf.as_mut_ptr().cast(), buf.len()) };
    assert_eq!(m, n);
    CStr::from_bytes_until_nul(&buf)
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned()
}

fn cstr<'a>(p: *const c_char) -> &'a str {
    assert!(!p.is_null());
    // SAFETY: the library returns NUL-terminated strings that outlive the test's use.
    unsafe { CStr::from_ptr(p) }.to_str().unwrap()
}

struct Eng(*mut airisk_engine);

impl Eng {
    fn new() -> Eng {
        let mut e = ptr::null_mut();
        let (p, n) = s(POLICY);
        // SAFETY: valid pointers.
        assert_eq!(unsafe { airisk_engine_new(p, n, &mut e) }, AIRISK_OK);
        assert!(!e.is_null());
        Eng(e)
    }
    fn register(&self, profile: &str) -> u32 {
        let mut h = u32::MAX;
        let (p, n) = s(profile);
        // SAFETY: valid pointers.
        assert_eq!(unsafe { airisk_register(self.0, p, n, &mut h) }, AIRISK_OK);
        h
    }
}

impl Drop for Eng {
    fn drop(&mut self) {
        // SAFETY: created by airisk_engine_new, freed once.
        unsafe { airisk_engine_free(self.0) };
    }
}

#[test]
fn every_export_rejects_null_pointers() {
    let e = Eng::new();
    let h = e.register(BOT);
    let (pj, pl) = s(BOT);
    let (kj, kl) = s("interactions");
    let mut u = 0xABCD_u32;
    let mut sz = 0xABCD_usize;
    let mut lvl: airisk_level = 77;
    let mut cls = airisk_classification {
        grade: 9,
        score: -9,
        grade_id: ptr::null(),
        prohibited: true,
        prohibited_id: ptr::null(),
        prohibited_basis: ptr::null(),
    };
    let mut st = airisk_stats::default();
    let mut buf = [0 as c_char; 16];
    let mut tr = [const { std::mem::MaybeUninit::<airisk_transition>::uninit() }; 2];
    let tr = tr.as_mut_ptr().cast::<airisk_transition>();
    let ob = airisk_observation {
        system: h,
        signal: 0,
        value: 1.0,
        ts_ms: 0,
    };
    let nul = ptr::null_mut::<airisk_engine>();
    let null = AIRISK_ERR_NULL;
    let np = ptr::null::<c_char>();

    // SAFETY: every call below passes pointers that are either NULL or valid for its use.
    unsafe {
        let mut out = ptr::null_mut();
        assert_eq!(airisk_engine_new(np, 0, &mut out), null);
        assert_eq!(airisk_engine_new(pj, pl, ptr::null_mut()), null);
        assert_eq!(airisk_engine_new_default(ptr::null_mut()), null);
        assert_eq!(airisk_engine_new_with_capacity(np, 0, 1, &mut out), null);
        assert!(out.is_null());

        assert_eq!(airisk_classify(nul, pj, pl, &mut cls), null);
        assert_eq!(airisk_classify(e.0, np, pl, &mut cls), null);
        assert_eq!(airisk_classify(e.0, pj, pl, ptr::null_mut()), null);
        assert_eq!((cls.grade, cls.score), (9, -9));

        assert_eq!(
            airisk_classify_explain(nul, pj, pl, buf.as_mut_ptr(), 16, &mut sz),
            null
        );
        assert_eq!(
            airisk_classify_explain(e.0, np, pl, buf.as_mut_ptr(), 16, &mut sz),
            null
        );
        assert_eq!(
            airisk_classify_explain(e.0, pj, pl, ptr::null_mut(), 16, &mut sz),
            null
        );
        assert_eq!(
            airisk_classify_explain(e.0, pj, pl, buf.as_mut_ptr(), 16, ptr::null_mut()),
            null
        );

        assert_eq!(airisk_register(nul, pj, pl, &mut u), null);
        assert_eq!(airisk_register(e.0, np, pl, &mut u), null);
        assert_eq!(airisk_register(e.0, pj, pl, ptr::null_mut()), null);
        assert!(last_error().contains("out_system"), "{}", last_error());
        assert_eq!(airisk_deregister(nul, h), null);
        assert_eq!(airisk_system_lookup(nul, pj, 3, &mut u), null);
        assert_eq!(airisk_system_lookup(e.0, np, 3, &mut u), null);
        assert_eq!(airisk_system_lookup(e.0, pj, 3, ptr::null_mut()), null);
        assert_eq!(airisk_signal(nul, kj, kl, &mut u), null);
        assert_eq!(airisk_signal(e.0, np, kl, &mut u), null);
        assert_eq!(airisk_signal(e.0, kj, kl, ptr::null_mut()), null);
        assert_eq!(u, 0xABCD);

        assert_eq!(airisk_observe(nul, h, 0, 1.0, 0, &mut lvl), null);
        assert_eq!(airisk_observe(e.0, h, 0, 1.0, 0, ptr::null_mut()), null);
        assert_eq!(
            airisk_observe_named(nul, kj, 3, kj, kl, 1.0, 0, &mut lvl),
            null
        );
        assert_eq!(
            airisk_observe_named(e.0, np, 3, kj, kl, 1.0, 0, &mut lvl),
            null
        );
        assert_eq!(
            airisk_observe_named(e.0, kj, 3, np, kl, 1.0, 0, &mut lvl),
            null
        );
        assert_eq!(
            airisk_observe_named(e.0, kj, 3, kj, kl, 1.0, 0, ptr::null_mut()),
            null
        );
        assert_eq!(lvl, 77);
        assert_eq!(airisk_observe_batch(nul, &ob, 1, &mut sz), null);
        assert_eq!(airisk_observe_batch(e.0, ptr::null(), 1, &mut sz), null);
        assert_eq!(airisk_observe_batch(e.0, &ob, 1, ptr::null_mut()), null);
        assert_eq!(sz, 0xABCD);
        assert_eq!(airisk_tick(nul, 0), null);
        assert_eq!(airisk_poll(nul, tr, 2, &mut sz), null);
        assert_eq!(airisk_poll(e.0, ptr::null_mut(), 2, &mut sz), null);
        assert_eq!(airisk_poll(e.0, tr, 2, ptr::null_mut()), null);
        assert_eq!(sz, 0xABCD);
        assert_eq!(airisk_set_callback(nul, None, ptr::null_mut()), null);
        assert_eq!(airisk_system_level(nul, h, &mut lvl), null);
        assert_eq!(airisk_system_level(e.0, h, ptr::null_mut()), null);
        assert_eq!(airisk_engine_stats(nul, &mut st), null);
        assert_eq!(airisk_engine_stats(e.0, ptr::null_mut()), null);
        assert_eq!(st, airisk_stats::default());
        airisk_engine_free(ptr::null_mut());
        assert_eq!(airisk_last_error(ptr::null_mut(), 10), last_error().len());

        // Nothing was observed, registered or counted by the failed calls.
        assert_eq!(airisk_engine_stats(e.0, &mut st), AIRISK_OK);
        assert_eq!((st.observed, st.rejected_invalid, st.systems), (0, 0, 1));
    }
}

#[test]
fn invalid_utf8_is_reported() {
    let e = Eng::new();
    let bad = b"{\"id\": \"\xff\"}";
    let (p, n) = (bad.as_ptr().cast::<c_char>(), bad.len());
    let mut u = 5u32;
    let mut lvl = 5u32;
    let mut cls = airisk_classification {
        grade: 5,
        score: 5,
        grade_id: ptr::null(),
        prohibited: true,
        prohibited_id: ptr::null(),
        prohibited_basis: ptr::null(),
    };
    let mut sz = 5usize;
    let mut out = ptr::null_mut();
    // SAFETY: valid pointers and lengths.
    unsafe {
        assert_eq!(airisk_engine_new(p, n, &mut out), AIRISK_ERR_UTF8);
        assert!(out.is_null());
        assert!(last_error().contains("offset 8"), "{}", last_error());
        assert_eq!(airisk_register(e.0, p, n, &mut u), AIRISK_ERR_UTF8);
        assert_eq!(airisk_classify(e.0, p, n, &mut cls), AIRISK_ERR_UTF8);
        assert_eq!(
            airisk_classify_explain(e.0, p, n, ptr::null_mut(), 0, &mut sz),
            AIRISK_ERR_UTF8
        );
        assert_eq!(airisk_signal(e.0, p, n, &mut u), AIRISK_ERR_UTF8);
        assert_eq!(airisk_system_lookup(e.0, p, n, &mut u), AIRISK_ERR_UTF8);
        let (k, kl) = s("interactions");
        assert_eq!(
            airisk_observe_named(e.0, p, n, k, kl, 1.0, 0, &mut lvl),
            AIRISK_ERR_UTF8
        );
        assert_eq!(
            airisk_observe_named(e.0, k, kl, p, n, 1.0, 0, &mut lvl),
            AIRISK_ERR_UTF8
        );
    }
    assert_eq!((u, lvl, sz, cls.grade), (5, 5, 5, 5));
}

#[test]
fn lengths_beyond_isize_max_are_invalid_arguments() {
    let e = Eng::new();
    let mut u = 0u32;
    let mut sz = 0usize;
    let ob = airisk_observation {
        system: 0,
        signal: 0,
        value: 1.0,
        ts_ms: 0,
    };
    // SAFETY: the length check fails before any read.
    unsafe {
        assert_eq!(
            airisk_signal(e.0, c"x".as_ptr(), usize::MAX, &mut u),
            AIRISK_ERR_INVALID_ARGUMENT
        );
        assert_eq!(
            airisk_observe_batch(e.0, &ob, usize::MAX / 8, &mut sz),
            AIRISK_ERR_INVALID_ARGUMENT
        );
    }
}

#[test]
fn unknown_names_suggest_the_one_probably_meant() {
    let e = Eng::new();
    e.register(BOT);
    let mut u = 0xABCD_u32;
    let (p, n) = s("interactons");
    // SAFETY: valid pointers.
    assert_eq!(
        unsafe { airisk_signal(e.0, p, n, &mut u) },
        AIRISK_ERR_UNKNOWN_SIGNAL
    );
    assert!(
        last_error().ends_with(r#"unknown signal "interactons"; did you mean "interactions"?"#),
        "{}",
        last_error()
    );
    let (p, n) = s("BOT");
    // SAFETY: valid pointers.
    assert_eq!(
        unsafe { airisk_system_lookup(e.0, p, n, &mut u) },
        AIRISK_ERR_UNKNOWN_SYSTEM
    );
    assert!(
        last_error().ends_with(r#"unknown system id "BOT"; did you mean "bot"?"#),
        "{}",
        last_error()
    );
    let (p, n) = s("zzz");
    // SAFETY: valid pointers.
    assert_eq!(
        unsafe { airisk_system_lookup(e.0, p, n, &mut u) },
        AIRISK_ERR_UNKNOWN_SYSTEM
    );
    assert!(
        last_error().ends_with(r#"unknown system id "zzz""#),
        "{}",
        last_error()
    );
    assert_eq!(u, 0xABCD);
}

#[test]
fn unknown_codes_and_handles() {
    assert_eq!(cstr(airisk_status_str(-1)), "unknown status");
    assert_eq!(cstr(airisk_status_str(i32::MAX)), "unknown status");
    assert_eq!(cstr(airisk_status_str(i32::MIN)), "unknown status");
    assert_eq!(cstr(airisk_status_str(23)), "unknown status");
    for code in 0..=22 {
        let name = cstr(airisk_status_str(code));
        assert!(name.starts_with("AIRISK_"), "{code}: {name}");
    }
    assert!(cstr(airisk_status_str(AIRISK_ERR_PANIC)).starts_with("AIRISK_ERR_PANIC:"));
    assert_eq!(cstr(airisk_level_str(5)), "unknown level");
    assert_eq!(cstr(airisk_level_str(u32::MAX)), "unknown level");
    assert_eq!(cstr(airisk_level_str(AIRISK_LEVEL_ORANGE)), "orange");
    assert_eq!(cstr(airisk_action_str(0)), "unknown action");
    assert_eq!(cstr(airisk_action_str(6)), "unknown action");
    assert_eq!(cstr(airisk_action_str(1 << 8)), "unknown action");
    assert_eq!(cstr(airisk_action_str(AIRISK_ACTION_THROTTLE)), "throttle");
    assert_eq!(cstr(airisk_version()), env!("CARGO_PKG_VERSION"));
    assert_eq!(airisk_abi_version(), 2);
    assert_eq!(cstr(airisk_incident_event_str(0)), "unknown event");
    assert_eq!(cstr(airisk_incident_event_str(9)), "unknown event");
    assert_eq!(
        cstr(airisk_incident_event_str(AIRISK_INCIDENT_REPORT_FILED)),
        "report_filed"
    );
    assert_eq!(cstr(airisk_report_str(AIRISK_REPORT_FINAL)), "final");
    assert_eq!(cstr(airisk_report_str(AIRISK_DUE_ACK)), "ack");
    assert_eq!(cstr(airisk_report_str(AIRISK_DUE_NONE)), "none");
    assert_eq!(cstr(airisk_report_str(5)), "unknown report");

    let e = Eng::new();
    let h = e.register(BOT);
    let mut lvl = 9u32;
    // SAFETY: valid pointers.
    unsafe {
        assert_eq!(
            airisk_observe(e.0, h + 1, 0, 1.0, 0, &mut lvl),
            AIRISK_ERR_UNKNOWN_SYSTEM
        );
        assert_eq!(
            airisk_observe(e.0, h, 99, 1.0, 0, &mut lvl),
            AIRISK_ERR_UNKNOWN_SIGNAL
        );
        assert_eq!(
            airisk_observe(e.0, h, 0, f64::NAN, 0, &mut lvl),
            AIRISK_ERR_VALUE
        );
        assert_eq!(
            airisk_observe(e.0, h, 0, -1.0, 0, &mut lvl),
            AIRISK_ERR_VALUE
        );
        assert_eq!(
            airisk_system_level(e.0, 1234, &mut lvl),
            AIRISK_ERR_UNKNOWN_SYSTEM
        );
        assert_eq!(airisk_deregister(e.0, 1234), AIRISK_ERR_UNKNOWN_SYSTEM);
        assert_eq!(lvl, 9);
        assert_eq!(
            airisk_observe(e.0, h, 0, 1.0, 60_000_000, &mut lvl),
            AIRISK_OK
        );
        assert_eq!(
            airisk_observe(e.0, h, 0, 1.0, 0, &mut lvl),
            AIRISK_ERR_STALE
        );
        let mut u = 0u32;
        let (p, n) = s(BOT);
        assert_eq!(airisk_register(e.0, p, n, &mut u), AIRISK_ERR_DUPLICATE);
        assert_eq!(u, 0);
    }
}

#[test]
fn buffers_too_small() {
    let e = Eng::new();
    let (p, n) = s(BOT);
    let mut len = 0usize;
    // SAFETY: valid pointers; `buf` holds `cap` bytes.
    unsafe {
        assert_eq!(
            airisk_classify_explain(e.0, p, n, ptr::null_mut(), 0, &mut len),
            AIRISK_ERR_BUFFER
        );
        assert!(len > 0);
        let mut buf = vec![b'x' as c_char; len + 1];
        let mut len2 = 0usize;
        assert_eq!(
            airisk_classify_explain(e.0, p, n, buf.as_mut_ptr(), len, &mut len2),
            AIRISK_ERR_BUFFER
        );
        assert_eq!(len2, len);
        assert!(buf.iter().all(|&c| c == b'x' as c_char));
        assert_eq!(
            airisk_classify_explain(e.0, p, n, buf.as_mut_ptr(), len + 1, &mut len2),
            AIRISK_OK
        );
        let json = cstr(buf.as_ptr());
        assert_eq!(json.len(), len);
        let v: serde_json::Value = serde_json::from_str(json).unwrap();
        assert_eq!(v["grade"], "medium");
        assert!(v["factors"].as_array().is_some_and(|f| f.len() == 3));
    }
}

#[test]
fn last_error_truncates_at_char_boundaries() {
    let text = "ab€d"; // € is 3 bytes
    let mut buf = [b'x' as c_char; 8];
    // SAFETY: `buf` has 8 bytes; each call passes cap ≤ 8.
    unsafe {
        copy_truncated(text, buf.as_mut_ptr(), 4);
        assert_eq!(cstr(buf.as_ptr()), "ab");
        copy_truncated(text, buf.as_mut_ptr(), 6);
        assert_eq!(cstr(buf.as_ptr()), "ab€");
        copy_truncated(text, buf.as_mut_ptr(), 1);
        assert_eq!(cstr(buf.as_ptr()), "");
        buf[0] = b'x' as c_char;
        copy_truncated(text, buf.as_mut_ptr(), 0);
        assert_eq!(buf[0], b'x' as c_char);
        copy_truncated(text, ptr::null_mut(), 5);
    }
}

#[test]
fn policy_errors_carry_their_path() {
    let bad = POLICY.replace("[0.02, 0.05, 0.10, 0.20]", "[0.20, 0.05, 0.10, 0.20]");
    assert_ne!(bad, POLICY);
    let mut out = ptr::null_mut();
    let (p, n) = s(&bad);
    // SAFETY: valid pointers.
    let status = unsafe { airisk_engine_new(p, n, &mut out) };
    assert_eq!(status, AIRISK_ERR_POLICY);
    assert!(out.is_null());
    let detail = last_error();
    assert!(detail.contains("rules[0].thresholds.high"), "{detail}");
    // SAFETY: valid pointers.
    let status = unsafe { airisk_engine_new(c"{".as_ptr(), 1, &mut out) };
    assert_eq!(status, AIRISK_ERR_JSON);
}

#[test]
fn panics_become_a_status_with_detail() {
    let status = boundary("airisk_test", || panic!("boom {}", 42));
    assert_eq!(status, AIRISK_ERR_PANIC);
    let detail = last_error();
    assert!(detail.starts_with("airisk_test: "), "{detail}");
    assert!(detail.contains("boom 42"), "{detail}");
    let status = boundary("airisk_test", || {
        Err(Fail::new(AIRISK_ERR_INVALID_ARGUMENT, "nope"))
    });
    assert_eq!(status, AIRISK_ERR_INVALID_ARGUMENT);
    assert_eq!(last_error(), "airisk_test: nope");
    assert_eq!(boundary("airisk_test", || Ok(())), AIRISK_OK);
    // Success does not clear the detail.
    assert_eq!(last_error(), "airisk_test: nope");
}

#[test]
fn last_error_is_per_thread() {
    let _ = boundary("airisk_here", || Err(Fail::new(AIRISK_ERR_IO, "main")));
    std::thread::spawn(|| {
        assert_eq!(last_error(), "");
        let _ = boundary("airisk_there", || Err(Fail::new(AIRISK_ERR_IO, "other")));
        assert_eq!(last_error(), "airisk_there: other");
    })
    .join()
    .unwrap();
    assert_eq!(last_error(), "airisk_here: main");
}

#[test]
fn every_error_variant_has_a_status() {
    let issue = Issue {
        path: "rules[0]".into(),
        reason: "bad".into(),
    };
    let cases = [
        (Error::Json("x".into()), AIRISK_ERR_JSON),
        (Error::Policy(vec![issue.clone()]), AIRISK_ERR_POLICY),
        (Error::Profile(issue), AIRISK_ERR_PROFILE),
        (Error::Duplicate("x".into()), AIRISK_ERR_DUPLICATE),
        (Error::UnknownSystem(1), AIRISK_ERR_UNKNOWN_SYSTEM),
        (
            Error::UnknownSystemId("x".into()),
            AIRISK_ERR_UNKNOWN_SYSTEM,
        ),
        (Error::UnknownSignal("x".into()), AIRISK_ERR_UNKNOWN_SIGNAL),
        (
            Error::Value {
                signal: "x".into(),
                value: 1.0,
                reason: "r",
            },
            AIRISK_ERR_VALUE,
        ),
        (
            Error::Stale {
                ts_ms: 0,
                bucket: 0,
                oldest_rejected: 0,
            },
            AIRISK_ERR_STALE,
        ),
        (Error::State("x".into()), AIRISK_ERR_STATE),
        (Error::Io("x".into()), AIRISK_ERR_IO),
        (Error::Limit("x".into()), AIRISK_ERR_LIMIT),
        (
            Error::UnknownIncident("a/c/1".into()),
            AIRISK_ERR_UNKNOWN_INCIDENT,
        ),
        (Error::NotDue("x".into()), AIRISK_ERR_NOT_DUE),
        (Error::Silence("x".into()), AIRISK_ERR_SILENCE),
        (Error::Reload("x".into()), AIRISK_ERR_RELOAD),
        (
            Error::Prohibited {
                id: "p".into(),
                basis: None,
            },
            AIRISK_ERR_PROHIBITED,
        ),
    ];
    for (e, want) in cases {
        assert_eq!(status_of(&e), want, "{e:?}");
        let text = e.to_string();
        let f = Fail::from(e);
        assert_eq!(f.status, want);
        assert!(matches!(f.detail, Detail::Error(_)));
        let _ = boundary("airisk_test", || Err(f));
        // Library errors are reported with their own message, unprefixed.
        assert_eq!(last_error(), text);
    }
}

#[test]
fn transitions_convert_with_engine_owned_strings() {
    let policy = Policy::from_json(POLICY).unwrap();
    let strings = Strings::new(&policy);
    strings.add_system(0, "bot");
    let t = Transition {
        seq: 3,
        ts: 1000,
        scope: Scope::Rule,
        system: crate::SystemHandle(0),
        system_id: Arc::from("bot"),
        grade: 2,
        grade_id: Arc::from("high"),
        rule: Some(0),
        rule_id: Some(Arc::from("hallucination-rate")),
        category: Some(Arc::from("hallucination")),
        from: Level::None,
        to: Level::Yellow,
        value: Some(0.07),
        threshold: Some(0.05),
        actions: Actions(6),
        report_within_s: Some(86400),
        basis: Some(Arc::from("Art. 46")),
        grade_name: None,
        rule_name: None,
        category_name: None,
        silenced: None,
        inhibited_by: None,
        reason: None,
    };
    let c = strings.transition(&t);
    assert_eq!((c.seq, c.ts_ms, c.system, c.rule), (3, 1000, 0, 0));
    assert_eq!((c.from, c.to, c.grade, c.actions), (0, 2, 2, 6));
    assert_eq!(
        (c.value, c.threshold, c.report_within_s),
        (0.07, 0.05, 86400)
    );
    assert_eq!(cstr(c.system_id), "bot");
    assert_eq!(cstr(c.rule_id), "hallucination-rate");
    assert_eq!(cstr(c.category), "hallucination");
    assert_eq!(cstr(c.basis), "Art. 46");
    assert_eq!(cstr(c.grade_id), "high");
    // The same table entries every time.
    let c2 = strings.transition(&t);
    assert_eq!(c.system_id, c2.system_id);
    assert_eq!(c.rule_id, c2.rule_id);

    // System scope: no rule, NaN value and threshold, NULL strings, -1 deadline.
    let sys = Transition {
        scope: Scope::System,
        rule: None,
        rule_id: None,
        category: None,
        basis: None,
        value: None,
        threshold: None,
        report_within_s: None,
        system: crate::SystemHandle(7), // not recorded at registration: added on first use
        system_id: Arc::from("late"),
        ..t.clone()
    };
    let c = strings.transition(&sys);
    assert_eq!(c.rule, AIRISK_NO_RULE);
    assert!(c.value.is_nan() && c.threshold.is_nan());
    assert_eq!(c.report_within_s, -1);
    assert!(c.rule_id.is_null() && c.category.is_null() && c.basis.is_null());
    assert_eq!(cstr(c.system_id), "late");

    // Strings that match no table entry are interned, not lost.
    let odd = Transition {
        rule_id: Some(Arc::from("renamed")),
        basis: Some(Arc::from("with\0nul")),
        grade: 99,
        grade_id: Arc::from("mystery"),
        ..t
    };
    let c = strings.transition(&odd);
    assert_eq!(cstr(c.rule_id), "renamed");
    assert_eq!(cstr(c.basis), "with");
    assert_eq!(cstr(c.grade_id), "mystery");
    assert_eq!(c_string("a\0b").as_bytes(), b"a");
}

unsafe extern "C" fn count_cb(t: *const airisk_transition, user: *mut c_void) {
    // SAFETY: `user` is the `Vec<u64>` the test passed; `t` is valid during the call.
    unsafe { (*user.cast::<Vec<u64>>()).push((*t).seq) };
}

#[test]
fn callback_poll_and_strings_outlive_deregistration() {
    let e = Eng::new();
    let h = e.register(BOT);
    let mut sig = 0u32;
    let (k, kl) = s("hallucination_flagged");
    let (n, nl) = s("interactions");
    let mut seqs: Vec<u64> = Vec::new();
    // SAFETY: valid pointers; `seqs` outlives the callback's use (reset before drop).
    unsafe {
        assert_eq!(airisk_signal(e.0, k, kl, &mut sig), AIRISK_OK);
        let mut inter = 0u32;
        assert_eq!(airisk_signal(e.0, n, nl, &mut inter), AIRISK_OK);
        let mut lvl = 0u32;
        // 30 interactions and 9 flagged a minute: a 30 % rate, orange for the medium grade
        // once 200 interactions are in the window and it has held for 5 minutes.
        let t0 = 1_764_374_400_000i64;
        let make_obs = |system: u32| -> Vec<airisk_observation> {
            (0..20)
                .flat_map(|m| {
                    let ts = t0 + m * 60_000;
                    [
                        airisk_observation {
                            system,
                            signal: inter,
                            value: 30.0,
                            ts_ms: ts,
                        },
                        airisk_observation {
                            system,
                            signal: sig,
                            value: 9.0,
                            ts_ms: ts,
                        },
                    ]
                })
                .collect()
        };
        let obs = make_obs(h);
        let mut accepted = 0usize;
        assert_eq!(
            airisk_observe_batch(e.0, obs.as_ptr(), obs.len(), &mut accepted),
            AIRISK_OK
        );
        assert_eq!(accepted, obs.len());
        assert_eq!(airisk_system_level(e.0, h, &mut lvl), AIRISK_OK);
        assert!(lvl > AIRISK_LEVEL_NONE);

        let mut out = [const { std::mem::MaybeUninit::<airisk_transition>::uninit() }; 8];
        let mut got = 0usize;
        assert_eq!(
            airisk_poll(e.0, out.as_mut_ptr().cast(), out.len(), &mut got),
            AIRISK_OK
        );
        assert!(got >= 2);
        let first = out[0].assume_init();
        assert_eq!(first.seq, 1);
        assert_eq!(cstr(first.rule_id), "hallucination-rate");
        let system_id = first.system_id;
        assert_eq!(airisk_deregister(e.0, h), AIRISK_OK);
        assert_eq!(cstr(system_id), "bot");

        // Callback mode: a re-registered system gets a new handle and its own string.
        let h2 = e.register(BOT);
        assert_ne!(h2, h);
        let user = (&mut seqs as *mut Vec<u64>).cast::<c_void>();
        assert_eq!(airisk_set_callback(e.0, Some(count_cb), user), AIRISK_OK);
        let obs = make_obs(h2);
        assert_eq!(
            airisk_observe_batch(e.0, obs.as_ptr(), obs.len(), &mut accepted),
            AIRISK_OK
        );
        assert_eq!(accepted, obs.len());
        assert_eq!(airisk_set_callback(e.0, None, ptr::null_mut()), AIRISK_OK);
    }
    assert!(seqs.len() >= 2);
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1));
}

/// A small incidents policy: gauge `g` drives rule `g-max` (category c1, named), gauge `h`
/// rule `h-max` (c2, unnamed), each the max over 1 s with thresholds 1 2 3 4; incidents
/// open at orange (severity minor, not reportable) and red makes them major (reportable,
/// initial report within 1 h, acknowledgement within 60 s, final within 2 h); profiles in
/// sector s9 with autonomy `auto` are prohibited (p1).
const INCIDENT_POLICY: &str = r#"{"schema": 1,
  "categories": [{"id": "c1", "name": {"zh": "类一", "en": "Cat one"}}, {"id": "c2"}],
  "grades": [{"id": "low", "name": {"zh": "低", "en": "Low"}}, {"id": "high", "min_score": 5}],
  "classification": {"sectors": {"s0": 0, "s9": 9}, "data": {"public": 0},
    "autonomy": {"hitl": 0, "auto": 0},
    "prohibited": [{"id": "p1", "when": {"sectors": ["s9"], "autonomy": ["auto"]},
                    "basis": "PB"}]},
  "bucket_ms": 1000,
  "signals": [{"id": "g", "kind": "gauge"}, {"id": "h", "kind": "gauge"}],
  "rules": [
    {"id": "g-max", "name": {"zh": "规则g", "en": "Rule g"}, "category": "c1", "basis": "B1",
     "signal": "g", "aggregate": "max", "window_ms": 1000, "on_empty": "clear",
     "thresholds": {"low": [1, 2, 3, 4], "high": [1, 2, 3, 4]}},
    {"id": "h-max", "category": "c2", "signal": "h", "aggregate": "max", "window_ms": 1000,
     "on_empty": "clear", "thresholds": {"low": [1, 2, 3, 4], "high": [1, 2, 3, 4]}}],
  "responses": {"levels": {"blue": {"actions": ["log"]},
    "orange": {"actions": ["notify_operator"]},
    "red": {"actions": ["notify_operator", "suspend"]}}},
  "incidents": {"open_at": "orange",
    "severities": [{"id": "minor", "name": {"zh": "一般", "en": "General"}}, {"id": "major"}],
    "severity_by_level": {"orange": "minor", "red": "major"}, "report_at": "major",
    "operator_types": [{"id": "other", "initial_within_s": 3600},
                       {"id": "cii", "initial_within_s": 600}],
    "ack_within_s": 60, "final_within_s": 7200, "basis": "IB"}}"#;

const SYS: &str = r#"{"id": "a", "sector": "s0", "data": "public", "autonomy": "hitl",
    "users": 1}"#;
const BANNED: &str = r#"{"id": "a", "sector": "s9", "data": "public", "autonomy": "auto",
    "users": 1}"#;

fn incident_engine() -> Eng {
    let mut e = ptr::null_mut();
    let (p, n) = s(INCIDENT_POLICY);
    // SAFETY: valid pointers.
    let st = unsafe { airisk_engine_new(p, n, &mut e) };
    assert_eq!(st, AIRISK_OK, "{}", last_error());
    Eng(e)
}

fn poll_incidents(e: &Eng) -> Vec<airisk_incident_event> {
    let mut out = [const { std::mem::MaybeUninit::<airisk_incident_event>::uninit() }; 16];
    let mut n = 0usize;
    // SAFETY: `out` holds 16 writable events.
    let st = unsafe { airisk_poll_incidents(e.0, out.as_mut_ptr().cast(), out.len(), &mut n) };
    assert_eq!(st, AIRISK_OK);
    // SAFETY: the first `n` were written.
    out[..n]
        .iter()
        .map(|m| unsafe { m.assume_init() })
        .collect()
}

#[test]
fn new_exports_reject_null_pointers() {
    let e = incident_engine();
    let h = e.register(SYS);
    let nul = ptr::null_mut::<airisk_engine>();
    let np = ptr::null::<c_char>();
    let null = AIRISK_ERR_NULL;
    let (pj, pl) = s(SYS);
    let (id, il) = s("a/c1/1");
    let mut cls = airisk_classification {
        grade: 9,
        score: -9,
        grade_id: ptr::null(),
        prohibited: true,
        prohibited_id: ptr::null(),
        prohibited_basis: ptr::null(),
    };
    let mut sz = 0xABCD_usize;
    let mut u = 0xABCD_u32;
    let mut levels = [airisk_rule_level {
        rule: 9,
        level: 9,
        rule_id: ptr::null(),
    }; 2];
    let mut buf = [0u8; 8];
    let mut ev = [const { std::mem::MaybeUninit::<airisk_incident_event>::uninit() }; 2];
    let ev = ev.as_mut_ptr().cast::<airisk_incident_event>();
    // SAFETY: every call below passes pointers that are either NULL or valid for its use.
    unsafe {
        assert_eq!(airisk_update_profile(nul, h, pj, pl, &mut cls), null);
        assert_eq!(airisk_update_profile(e.0, h, np, pl, &mut cls), null);
        assert_eq!(airisk_update_profile(e.0, h, pj, pl, ptr::null_mut()), null);
        assert_eq!((cls.grade, cls.score), (9, -9));
        assert_eq!(
            airisk_rule_levels(nul, h, levels.as_mut_ptr(), 2, &mut sz),
            null
        );
        assert_eq!(
            airisk_rule_levels(e.0, h, ptr::null_mut(), 2, &mut sz),
            null
        );
        assert_eq!(
            airisk_rule_levels(e.0, h, levels.as_mut_ptr(), 2, ptr::null_mut()),
            null
        );
        assert_eq!(airisk_journal_sync(nul), null);
        assert_eq!(airisk_journal_close(nul), null);
        assert_eq!(
            airisk_snapshot_system(nul, h, buf.as_mut_ptr(), 8, &mut sz),
            null
        );
        assert_eq!(
            airisk_snapshot_system(e.0, h, ptr::null_mut(), 8, &mut sz),
            null
        );
        assert_eq!(
            airisk_snapshot_system(e.0, h, buf.as_mut_ptr(), 8, ptr::null_mut()),
            null
        );
        assert_eq!(airisk_restore_system(nul, buf.as_ptr(), 8, &mut u), null);
        assert_eq!(airisk_restore_system(e.0, ptr::null(), 8, &mut u), null);
        assert_eq!(airisk_restore_system(e.0, ptr::null(), 0, &mut u), null);
        assert_eq!(
            airisk_restore_system(e.0, buf.as_ptr(), 8, ptr::null_mut()),
            null
        );
        assert_eq!(airisk_poll_incidents(nul, ev, 2, &mut sz), null);
        assert_eq!(
            airisk_poll_incidents(e.0, ptr::null_mut(), 2, &mut sz),
            null
        );
        assert_eq!(airisk_poll_incidents(e.0, ev, 2, ptr::null_mut()), null);
        assert_eq!(sz, 0xABCD);
        assert_eq!(u, 0xABCD);
        assert_eq!(
            airisk_set_incident_callback(nul, None, ptr::null_mut()),
            null
        );
        assert_eq!(airisk_acknowledge(nul, id, il, 0, id, il), null);
        assert_eq!(airisk_acknowledge(e.0, np, il, 0, id, il), null);
        assert_eq!(airisk_acknowledge(e.0, id, il, 0, np, 0), null);
        assert!(last_error().contains("`by`"), "{}", last_error());
        assert_eq!(
            airisk_file_report(nul, id, il, AIRISK_REPORT_INITIAL, 0, id, il),
            null
        );
        assert_eq!(
            airisk_file_report(e.0, np, il, AIRISK_REPORT_INITIAL, 0, id, il),
            null
        );
        assert_eq!(
            airisk_file_report(e.0, id, il, AIRISK_REPORT_INITIAL, 0, np, 0),
            null
        );
        assert!(last_error().contains("`reference`"), "{}", last_error());
        // Unknown enum values are invalid arguments, checked before the incident.
        for kind in [AIRISK_REPORT_NONE, 4, u32::MAX] {
            assert_eq!(
                airisk_file_report(e.0, id, il, kind, 0, id, il),
                AIRISK_ERR_INVALID_ARGUMENT
            );
        }
        let bad = b"\xff";
        let (bp, bl) = (bad.as_ptr().cast::<c_char>(), bad.len());
        assert_eq!(airisk_acknowledge(e.0, bp, bl, 0, id, il), AIRISK_ERR_UTF8);
        assert_eq!(airisk_acknowledge(e.0, id, il, 0, bp, bl), AIRISK_ERR_UTF8);
        assert_eq!(
            airisk_file_report(e.0, id, il, AIRISK_REPORT_FINAL, 0, bp, bl),
            AIRISK_ERR_UTF8
        );
        assert_eq!(
            airisk_update_profile(e.0, h, bp, bl, &mut cls),
            AIRISK_ERR_UTF8
        );
        assert_eq!(
            airisk_acknowledge(e.0, id, il, 0, id, il),
            AIRISK_ERR_UNKNOWN_INCIDENT
        );
    }
    assert!(poll_incidents(&e).is_empty());
}

#[test]
fn incidents_through_the_c_api() {
    let e = incident_engine();
    let h = e.register(SYS);
    let (g, gl) = s("g");
    let mut sig = 0u32;
    let mut lvl = 0u32;
    // SAFETY: valid pointers.
    unsafe {
        assert_eq!(airisk_signal(e.0, g, gl, &mut sig), AIRISK_OK);
        assert_eq!(airisk_observe(e.0, h, sig, 3.0, 1000, &mut lvl), AIRISK_OK);
    }
    assert_eq!(lvl, AIRISK_LEVEL_ORANGE);
    let evs = poll_incidents(&e);
    assert_eq!(evs.len(), 1);
    let o = evs[0];
    assert_eq!(
        (o.seq, o.ts_ms, o.event, o.system),
        (1, 1000, AIRISK_INCIDENT_OPENED, h)
    );
    assert_eq!(cstr(o.incident), "a/c1/1");
    assert_eq!(cstr(o.system_id), "a");
    assert_eq!(cstr(o.category), "c1");
    assert_eq!(
        (cstr(o.severity), o.severity_rank, o.reportable),
        ("minor", 0, false)
    );
    assert_eq!(cstr(o.operator_type), "other");
    assert_eq!((o.due, o.due_by), (AIRISK_DUE_NONE, i64::MIN));
    assert_eq!(
        (o.rule, o.level, cstr(o.rule_id)),
        (0, AIRISK_LEVEL_ORANGE, "g-max")
    );
    assert_eq!(cstr(o.basis), "IB");
    assert_eq!((o.report, o.late), (AIRISK_REPORT_NONE, -1));
    assert!(o.reference.is_null() && o.by.is_null());
    assert_eq!(
        (cstr(o.category_name_zh), cstr(o.category_name_en)),
        ("类一", "Cat one")
    );
    assert_eq!(
        (cstr(o.severity_name_zh), cstr(o.severity_name_en)),
        ("一般", "General")
    );
    assert_eq!(
        (cstr(o.rule_name_zh), cstr(o.rule_name_en)),
        ("规则g", "Rule g")
    );

    // Red: escalated, reportable, initial report due within 1 h.
    // SAFETY: valid pointers.
    unsafe { assert_eq!(airisk_observe(e.0, h, sig, 4.0, 2000, &mut lvl), AIRISK_OK) };
    let evs = poll_incidents(&e);
    assert_eq!(evs.len(), 1);
    let x = evs[0];
    assert_eq!(
        (x.seq, x.event, x.reportable),
        (2, AIRISK_INCIDENT_ESCALATED, true)
    );
    assert_eq!((cstr(x.severity), x.severity_rank), ("major", 1));
    assert!(x.severity_name_zh.is_null() && x.severity_name_en.is_null());
    assert_eq!((x.due, x.due_by), (AIRISK_DUE_INITIAL, 2000 + 3_600_000));
    // The same incident id string every time.
    assert_eq!(x.incident, o.incident);

    let (id, il) = s("a/c1/1");
    let (by, bl) = s("ops");
    let (rf, rl) = s("R-1");
    // SAFETY: valid pointers.
    unsafe {
        assert_eq!(airisk_acknowledge(e.0, id, il, 5000, by, bl), AIRISK_OK);
        assert_eq!(
            airisk_acknowledge(e.0, id, il, 6000, by, bl),
            AIRISK_ERR_NOT_DUE
        );
        assert!(
            last_error().contains("already acknowledged"),
            "{}",
            last_error()
        );
        assert_eq!(
            airisk_file_report(e.0, id, il, AIRISK_REPORT_FINAL, 6000, rf, rl),
            AIRISK_ERR_NOT_DUE
        );
        assert_eq!(
            airisk_file_report(e.0, id, il, AIRISK_REPORT_INITIAL, 6000, rf, rl),
            AIRISK_OK
        );
    }
    let evs = poll_incidents(&e);
    assert_eq!(evs.len(), 2);
    let (a, f) = (evs[0], evs[1]);
    assert_eq!(
        (a.event, a.ts_ms, cstr(a.by)),
        (AIRISK_INCIDENT_ACKNOWLEDGED, 5000, "ops")
    );
    assert_eq!((a.rule, a.level), (AIRISK_NO_RULE, AIRISK_NO_LEVEL));
    assert!(a.rule_id.is_null() && a.rule_name_zh.is_null());
    assert_eq!(
        (f.event, f.report, f.late),
        (AIRISK_INCIDENT_REPORT_FILED, AIRISK_REPORT_INITIAL, 0)
    );
    assert_eq!(cstr(f.reference), "R-1");
    assert_eq!(f.due, AIRISK_DUE_NONE);

    // Callback mode: resolution, then filing the final report from inside the callback.
    struct St {
        e: *mut airisk_engine,
        kinds: Vec<u32>,
        filed: airisk_status,
    }
    unsafe extern "C" fn on_event(ev: *const airisk_incident_event, user: *mut c_void) {
        // The callback is re-entered (the report filed below is delivered to it before that
        // call returns), so no `&mut St` lives across the call: each access to the state goes
        // through the raw pointer (a reference held across it is invalidated by the inner
        // call's; Miri reports that as undefined behaviour).
        let st = user.cast::<St>();
        // SAFETY: `ev` is valid during the call.
        let ev = unsafe { &*ev };
        // SAFETY: `user` is the test's `St`; no reference to it is live here.
        unsafe { (*st).kinds.push(ev.event) };
        if ev.event == AIRISK_INCIDENT_RESOLVED {
            assert_eq!(ev.due, AIRISK_DUE_FINAL);
            // SAFETY: the incident string is valid until the engine is freed.
            let id = unsafe { CStr::from_ptr(ev.incident) }.to_bytes();
            // SAFETY: as above.
            let e = unsafe { (*st).e };
            // SAFETY: valid pointers; re-entrant calls are allowed.
            let filed = unsafe {
                airisk_file_report(
                    e,
                    id.as_ptr().cast(),
                    id.len(),
                    ev.due,
                    ev.ts_ms,
                    c"F".as_ptr(),
                    1,
                )
            };
            // SAFETY: as above (the inner calls have returned).
            unsafe { (*st).filed = filed };
        }
    }
    let mut st = St {
        e: e.0,
        kinds: Vec::new(),
        filed: -1,
    };
    // SAFETY: `st` outlives the callback's use (reset before the end of the test).
    unsafe {
        assert_eq!(
            airisk_set_incident_callback(e.0, Some(on_event), (&mut st as *mut St).cast()),
            AIRISK_OK
        );
        assert_eq!(airisk_tick(e.0, 10_000), AIRISK_OK);
        assert_eq!(
            airisk_set_incident_callback(e.0, None, ptr::null_mut()),
            AIRISK_OK
        );
    }
    assert_eq!(st.filed, AIRISK_OK);
    assert_eq!(
        st.kinds,
        [
            AIRISK_INCIDENT_RESOLVED,
            AIRISK_INCIDENT_REPORT_FILED,
            AIRISK_INCIDENT_CLOSED
        ]
    );
    assert!(poll_incidents(&e).is_empty());
    // SAFETY: valid pointers.
    unsafe {
        assert_eq!(
            airisk_acknowledge(e.0, id, il, 0, by, bl),
            AIRISK_ERR_UNKNOWN_INCIDENT
        );
    }
    let mut stats = airisk_stats::default();
    // SAFETY: valid pointers.
    unsafe { assert_eq!(airisk_engine_stats(e.0, &mut stats), AIRISK_OK) };
    assert_eq!((stats.incident_events, stats.incidents_dropped), (7, 0));
}

#[test]
fn prohibited_profiles_classify_but_do_not_register() {
    let e = incident_engine();
    let (p, n) = s(BANNED);
    let mut cls = std::mem::MaybeUninit::<airisk_classification>::uninit();
    let mut h = 77u32;
    // SAFETY: valid pointers.
    unsafe {
        assert_eq!(airisk_classify(e.0, p, n, cls.as_mut_ptr()), AIRISK_OK);
        let c = cls.assume_init();
        assert!(c.prohibited);
        assert_eq!(
            (cstr(c.prohibited_id), cstr(c.prohibited_basis)),
            ("p1", "PB")
        );
        assert_eq!(airisk_register(e.0, p, n, &mut h), AIRISK_ERR_PROHIBITED);
        assert!(last_error().contains("p1"), "{}", last_error());
        assert_eq!(h, 77);
        // Not prohibited: flag false, strings NULL.
        let (q, m) = s(SYS);
        assert_eq!(airisk_classify(e.0, q, m, cls.as_mut_ptr()), AIRISK_OK);
        let c = cls.assume_init();
        assert!(!c.prohibited && c.prohibited_id.is_null() && c.prohibited_basis.is_null());
        // Updating a registered system to a prohibited profile is refused too.
        h = e.register(SYS);
        let mut out = airisk_classification {
            grade: 9,
            score: 9,
            grade_id: ptr::null(),
            prohibited: false,
            prohibited_id: ptr::null(),
            prohibited_basis: ptr::null(),
        };
        assert_eq!(
            airisk_update_profile(e.0, h, p, n, &mut out),
            AIRISK_ERR_PROHIBITED
        );
        assert_eq!((out.grade, out.score), (9, 9));
        let big = SYS.replace("s0", "s9");
        let (b, bl) = s(&big);
        assert_eq!(airisk_update_profile(e.0, h, b, bl, &mut out), AIRISK_OK);
        assert_eq!((out.grade, out.score, cstr(out.grade_id)), (1, 9, "high"));
        assert!(!out.prohibited);
        assert_eq!(
            airisk_update_profile(e.0, h + 1, b, bl, &mut out),
            AIRISK_ERR_UNKNOWN_SYSTEM
        );
        let other = SYS.replace("\"a\"", "\"b\"");
        let (o, ol) = s(&other);
        assert_eq!(
            airisk_update_profile(e.0, h, o, ol, &mut out),
            AIRISK_ERR_PROFILE
        );
    }
}

#[test]
fn rule_levels_and_system_snapshots() {
    let e = incident_engine();
    let h = e.register(SYS);
    let mut lvl = 0u32;
    let mut n = 0usize;
    let mut levels = [airisk_rule_level {
        rule: 9,
        level: 9,
        rule_id: ptr::null(),
    }; 3];
    // SAFETY: valid pointers; `levels` holds 3.
    unsafe {
        assert_eq!(airisk_observe(e.0, h, 1, 2.5, 1000, &mut lvl), AIRISK_OK);
        assert_eq!(
            airisk_rule_levels(e.0, h, ptr::null_mut(), 0, &mut n),
            AIRISK_ERR_BUFFER
        );
        assert_eq!(n, 2);
        n = 0;
        assert_eq!(
            airisk_rule_levels(e.0, h, levels.as_mut_ptr(), 1, &mut n),
            AIRISK_ERR_BUFFER
        );
        assert_eq!((n, levels[0].rule), (2, 9));
        assert_eq!(
            airisk_rule_levels(e.0, h + 1, levels.as_mut_ptr(), 3, &mut n),
            AIRISK_ERR_UNKNOWN_SYSTEM
        );
        assert_eq!(
            airisk_rule_levels(e.0, h, levels.as_mut_ptr(), 3, &mut n),
            AIRISK_OK
        );
        assert_eq!(n, 2);
        assert_eq!(
            (levels[0].rule, levels[0].level, cstr(levels[0].rule_id)),
            (0, 0, "g-max")
        );
        assert_eq!(
            (levels[1].rule, levels[1].level, cstr(levels[1].rule_id)),
            (1, 2, "h-max")
        );
        assert_eq!(levels[2].rule, 9);

        // A system snapshot moves the system to another engine.
        let mut need = 0usize;
        assert_eq!(
            airisk_snapshot_system(e.0, h, ptr::null_mut(), 0, &mut need),
            AIRISK_ERR_BUFFER
        );
        assert!(need > 16);
        let mut buf = vec![0u8; need];
        let mut got = 0usize;
        assert_eq!(
            airisk_snapshot_system(e.0, h, buf.as_mut_ptr(), need - 1, &mut got),
            AIRISK_ERR_BUFFER
        );
        assert_eq!(got, need);
        assert!(buf.iter().all(|&b| b == 0));
        got = 0;
        assert_eq!(
            airisk_snapshot_system(e.0, h + 1, buf.as_mut_ptr(), need, &mut got),
            AIRISK_ERR_UNKNOWN_SYSTEM
        );
        assert_eq!(got, 0);
        assert_eq!(
            airisk_snapshot_system(e.0, h, buf.as_mut_ptr(), need, &mut got),
            AIRISK_OK
        );
        assert_eq!(got, need);
        let mut u = 77u32;
        assert_eq!(
            airisk_restore_system(e.0, buf.as_ptr(), need, &mut u),
            AIRISK_ERR_DUPLICATE
        );
        let other = incident_engine();
        other.register(&SYS.replace("\"a\"", "\"z\""));
        assert_eq!(
            airisk_restore_system(other.0, buf.as_ptr(), need - 1, &mut u),
            AIRISK_ERR_STATE
        );
        assert_eq!(u, 77);
        assert_eq!(
            airisk_restore_system(other.0, buf.as_ptr(), need, &mut u),
            AIRISK_OK
        );
        assert_eq!(u, 1);
        assert_eq!(airisk_system_level(other.0, u, &mut lvl), AIRISK_OK);
        assert_eq!(lvl, AIRISK_LEVEL_YELLOW);
        // Its transitions carry its id.
        assert_eq!(
            airisk_observe(other.0, u, 1, 0.0, 2000, &mut lvl),
            AIRISK_OK
        );
        let mut tr = [const { std::mem::MaybeUninit::<airisk_transition>::uninit() }; 4];
        assert_eq!(
            airisk_poll(other.0, tr.as_mut_ptr().cast(), 4, &mut n),
            AIRISK_OK
        );
        assert!(n >= 1);
        assert_eq!(cstr(tr[0].assume_init().system_id), "a");
        // Another policy's engine would migrate it, but that policy does not accept its
        // profile: refused, nothing registered.
        let minimal = Eng::new();
        u = 77;
        assert_eq!(
            airisk_restore_system(minimal.0, buf.as_ptr(), need, &mut u),
            AIRISK_ERR_RELOAD
        );
        assert!(last_error().contains("does not accept"), "{}", last_error());
        assert_eq!(u, 77);
        // Corrupt bytes are a state error.
        assert_eq!(
            airisk_restore_system(minimal.0, buf.as_ptr(), need - 1, &mut u),
            AIRISK_ERR_STATE
        );
        // No journal: sync and close do nothing.
        assert_eq!(airisk_journal_sync(e.0), AIRISK_OK);
        assert_eq!(airisk_journal_close(e.0), AIRISK_OK);
    }
}

#[test]
fn display_names_and_incident_events_convert() {
    use crate::incident::{Due, DueKind, IncidentEvent, IncidentEventKind, ReportKind};
    use crate::policy::model::I18n;
    let policy = Policy::from_json(INCIDENT_POLICY).unwrap();
    let strings = Strings::new(&policy);
    strings.add_system(0, "a");
    let i18n = |zh: Option<&str>, en: Option<&str>| {
        Some(Arc::new(I18n {
            zh: zh.map(str::to_owned),
            en: en.map(str::to_owned),
        }))
    };
    let t = Transition {
        seq: 1,
        ts: 1000,
        scope: Scope::Rule,
        system: crate::SystemHandle(0),
        system_id: Arc::from("a"),
        grade: 0,
        grade_id: Arc::from("low"),
        rule: Some(0),
        rule_id: Some(Arc::from("g-max")),
        category: Some(Arc::from("c1")),
        from: Level::None,
        to: Level::Orange,
        value: Some(3.0),
        threshold: Some(3.0),
        actions: Actions(2),
        report_within_s: None,
        basis: Some(Arc::from("B1")),
        grade_name: i18n(Some("低"), Some("Low")),
        rule_name: i18n(Some("规则g"), Some("Rule g")),
        category_name: i18n(Some("类一"), Some("Cat one")),
        silenced: None,
        inhibited_by: None,
        reason: None,
    };
    let c = strings.transition(&t);
    assert_eq!(
        (cstr(c.grade_name_zh), cstr(c.grade_name_en)),
        ("低", "Low")
    );
    assert_eq!(
        (cstr(c.rule_name_zh), cstr(c.rule_name_en)),
        ("规则g", "Rule g")
    );
    assert_eq!(
        (cstr(c.category_name_zh), cstr(c.category_name_en)),
        ("类一", "Cat one")
    );
    // Table entries: the same pointers every time.
    assert_eq!(strings.transition(&t).rule_name_zh, c.rule_name_zh);
    // Absent names, or one language only, are NULL; names that match no table entry are
    // interned.
    let u = Transition {
        grade_name: None,
        rule_name: i18n(None, Some("Renamed")),
        category_name: None,
        ..t.clone()
    };
    let c = strings.transition(&u);
    assert!(c.grade_name_zh.is_null() && c.grade_name_en.is_null());
    assert!(c.rule_name_zh.is_null());
    assert_eq!(cstr(c.rule_name_en), "Renamed");
    assert!(c.category_name_zh.is_null() && c.category_name_en.is_null());

    let ev = IncidentEvent {
        seq: 4,
        ts: 9000,
        event: IncidentEventKind::ReportFiled,
        incident: Arc::from("a/c1/1"),
        system: crate::SystemHandle(0),
        system_id: Arc::from("a"),
        category: Arc::from("c1"),
        severity: Arc::from("major"),
        severity_rank: 1,
        reportable: true,
        operator_type: Arc::from("cii"),
        due: Some(Due {
            report: DueKind::Update,
            by: 12_000,
        }),
        rule: None,
        rule_index: None,
        level: None,
        basis: Some(Arc::from("IB")),
        report: Some(ReportKind::Initial),
        late: Some(true),
        reference: Some(Arc::from("ref\0cut")),
        by: None,
        category_name: i18n(Some("类一"), None),
        severity_name: None,
        rule_name: None,
    };
    let c = strings.incident_event(&ev);
    assert_eq!(
        (c.seq, c.ts_ms, c.event, c.system),
        (4, 9000, AIRISK_INCIDENT_REPORT_FILED, 0)
    );
    assert_eq!(
        (cstr(c.incident), cstr(c.system_id), cstr(c.category)),
        ("a/c1/1", "a", "c1")
    );
    assert_eq!(
        (cstr(c.severity), c.severity_rank, c.reportable),
        ("major", 1, true)
    );
    assert_eq!(cstr(c.operator_type), "cii");
    assert_eq!((c.due, c.due_by), (AIRISK_DUE_UPDATE, 12_000));
    assert_eq!((c.rule, c.level), (AIRISK_NO_RULE, AIRISK_NO_LEVEL));
    assert!(c.rule_id.is_null() && c.by.is_null());
    assert_eq!((c.report, c.late), (AIRISK_REPORT_INITIAL, 1));
    assert_eq!(cstr(c.reference), "ref");
    assert_eq!(cstr(c.basis), "IB");
    assert_eq!(cstr(c.category_name_zh), "类一");
    assert!(c.category_name_en.is_null() && c.severity_name_zh.is_null());
    assert!(c.rule_name_zh.is_null() && c.rule_name_en.is_null());
    let late = IncidentEvent {
        late: Some(false),
        due: Some(Due {
            report: DueKind::Ack,
            by: 1,
        }),
        ..ev.clone()
    };
    let d = strings.incident_event(&late);
    assert_eq!((d.late, d.due), (0, AIRISK_DUE_ACK));
    // Interned strings are shared by content.
    assert_eq!(d.incident, c.incident);
    assert_eq!(d.reference, c.reference);
}

#[test]
fn misaligned_outputs_are_invalid_arguments() {
    let e = incident_engine();
    let h = e.register(SYS);
    // Room for two of each, from an odd address: misaligned for every struct. (A `Vec<u8>`
    // buffer is only 1-aligned: where it starts decides the offset; Miri places it anywhere.)
    let mut bytes = vec![0u8; 2 * std::mem::size_of::<airisk_incident_event>() + 16];
    let start = bytes.as_mut_ptr();
    let base = start.wrapping_add(1 - start.addr() % 2);
    let mut n = 77usize;
    // SAFETY: the pointers are checked (and refused) before any write.
    unsafe {
        assert_eq!(
            airisk_poll_incidents(e.0, base.cast(), 2, &mut n),
            AIRISK_ERR_INVALID_ARGUMENT
        );
        assert_eq!(
            airisk_rule_levels(e.0, h, base.cast(), 2, &mut n),
            AIRISK_ERR_INVALID_ARGUMENT
        );
        assert!(last_error().contains("aligned"), "{}", last_error());
    }
    assert_eq!(n, 77);
    assert!(bytes.iter().all(|&b| b == 0));
}
