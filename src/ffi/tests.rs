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

    // SAFETY (every call below): each pointer is either NULL or valid for its use.
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
fn unknown_codes_and_handles() {
    assert_eq!(cstr(airisk_status_str(-1)), "unknown status");
    assert_eq!(cstr(airisk_status_str(i32::MAX)), "unknown status");
    assert_eq!(cstr(airisk_status_str(i32::MIN)), "unknown status");
    assert_eq!(cstr(airisk_status_str(18)), "unknown status");
    for code in 0..=17 {
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
    assert_eq!(airisk_abi_version(), 1);

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
    assert_eq!(
        unsafe { airisk_engine_new(p, n, &mut out) },
        AIRISK_ERR_POLICY
    );
    assert!(out.is_null());
    let detail = last_error();
    assert!(detail.contains("rules[0].thresholds.high"), "{detail}");
    // SAFETY: valid pointers.
    assert_eq!(
        unsafe { airisk_engine_new(c"{".as_ptr(), 1, &mut out) },
        AIRISK_ERR_JSON
    );
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
