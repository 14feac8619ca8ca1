//! The exported functions.
//!
//! Every export runs its body inside [`boundary`] (panic boundary, last-error detail) and
//! checks every pointer before using it. Out-pointers are checked before any work is done,
//! so a call that fails changes nothing and writes nothing.

use super::boundary::{
    boundary, boundary_value, copy_truncated, out, reference, slice, str_arg, write_text,
};
use super::status::{
    AIRISK_ERR_BUFFER, AIRISK_ERR_INVALID_ARGUMENT, AIRISK_ERR_LIMIT, Detail, Fail, airisk_status,
    last_error_text, set_last_error, status_name,
};
use super::strings::{Strings, report_of};
use super::types::{
    AIRISK_DUE_ACK, AIRISK_DUE_FINAL, AIRISK_DUE_INITIAL, AIRISK_DUE_NONE, AIRISK_DUE_UPDATE,
    AIRISK_INCIDENT_ACKNOWLEDGED, AIRISK_INCIDENT_CLOSED, AIRISK_INCIDENT_ESCALATED,
    AIRISK_INCIDENT_OPENED, AIRISK_INCIDENT_OVERDUE, AIRISK_INCIDENT_REOPENED,
    AIRISK_INCIDENT_REPORT_FILED, AIRISK_INCIDENT_RESOLVED, airisk_classification,
    airisk_incident_cb, airisk_incident_event, airisk_level, airisk_observation,
    airisk_report_kind, airisk_rule_level, airisk_stats, airisk_transition, airisk_transition_cb,
};
use crate::classify::{Classification, Profile};
use crate::engine::{Engine, EngineOptions, IncidentSink, Sink};
use crate::handle::{SignalId, SystemHandle};
use crate::incident::IncidentEvent;
use crate::level::{Action, Level};
use crate::policy::Policy;
use crate::transition::Transition;
use std::ffi::{c_char, c_void};
use std::sync::Arc;

/// The C ABI version: `airisk_abi_version()` returns it and the header's
/// `AIRISK_ABI_VERSION` equals it. Bumped only on an incompatible change of the ABI.
pub(crate) const ABI_VERSION: u32 = 2;

/// An engine: a policy (replaced in place by `airisk_engine_reload`), the registered
/// systems and their monitoring state (incidents included), and the transition and
/// incident-event queues. Created by `airisk_engine_new` (or `_new_default`,
/// `_new_with_capacity`, `airisk_engine_restore`), released by `airisk_engine_free`.
///
/// Every function taking an engine may be called from many threads at once on the same
/// engine, except `airisk_engine_free`.
pub struct airisk_engine {
    /// The Rust engine.
    pub(super) engine: Engine,
    /// The C strings handed out (shared with the callbacks).
    pub(super) strings: Arc<Strings>,
}

impl airisk_engine {
    /// An engine for `policy`, with its string tables.
    fn new(policy: Policy, options: EngineOptions) -> airisk_engine {
        let strings = Arc::new(Strings::new(&policy));
        airisk_engine {
            engine: Engine::with_options(policy, options),
            strings,
        }
    }
}

/// # Safety
/// `e` is NULL or a live engine from `airisk_engine_new*`.
pub(super) unsafe fn engine<'a>(e: *const airisk_engine) -> Result<&'a airisk_engine, Fail> {
    // SAFETY: forwarded from this function's contract.
    unsafe { reference(e, "e") }
}

/// Creates an engine and hands it to C through `out`.
fn new_engine(
    policy: Policy,
    options: EngineOptions,
    out: super::boundary::Out<*mut airisk_engine>,
) {
    out.write(Box::into_raw(Box::new(airisk_engine::new(policy, options))));
}

/// The ABI version of the library, to compare with the header's `AIRISK_ABI_VERSION` at run
/// time. Never fails; thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn airisk_abi_version() -> u32 {
    ABI_VERSION
}

/// The library version (`"MAJOR.MINOR.PATCH"`), a static NUL-terminated string; equals the
/// header's `AIRISK_VERSION_STRING`. Never fails; thread-safe; do not free.
#[unsafe(no_mangle)]
pub extern "C" fn airisk_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// A static NUL-terminated description of any status value, such as
/// `"AIRISK_ERR_STALE: stale observation"`; `"unknown status"` for a value that is no
/// status. Never fails, never NULL; thread-safe; do not free.
#[unsafe(no_mangle)]
pub extern "C" fn airisk_status_str(status: i32) -> *const c_char {
    boundary_value(super::status::UNKNOWN_STATUS.as_ptr().cast(), || {
        status_name(status)
    })
}

/// The static NUL-terminated name of a level: `"none"`, `"blue"`, `"yellow"`, `"orange"`,
/// `"red"`, or `"unknown level"` for any other value. Never fails, never NULL; thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn airisk_level_str(level: u32) -> *const c_char {
    boundary_value(c"unknown level".as_ptr(), || {
        let s = match u8::try_from(level).ok().and_then(Level::from_u8) {
            Some(Level::None) => "none\0",
            Some(Level::Blue) => "blue\0",
            Some(Level::Yellow) => "yellow\0",
            Some(Level::Orange) => "orange\0",
            Some(Level::Red) => "red\0",
            None => "unknown level\0",
        };
        s.as_ptr().cast()
    })
}

/// The static NUL-terminated name of one action bit (`AIRISK_ACTION_*`), such as
/// `"notify_operator"`; `"unknown action"` for 0, several bits, or an unknown bit. Never
/// fails, never NULL; thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn airisk_action_str(action: u32) -> *const c_char {
    boundary_value(c"unknown action".as_ptr(), || {
        let s = match Action::ALL.into_iter().find(|a| *a as u32 == action) {
            Some(Action::Log) => "log\0",
            Some(Action::NotifyOperator) => "notify_operator\0",
            Some(Action::HumanReview) => "human_review\0",
            Some(Action::Throttle) => "throttle\0",
            Some(Action::Fallback) => "fallback\0",
            Some(Action::Suspend) => "suspend\0",
            Some(Action::ReportRegulator) => "report_regulator\0",
            Some(Action::PublicNotice) => "public_notice\0",
            None => "unknown action\0",
        };
        s.as_ptr().cast()
    })
}

/// The static NUL-terminated name of an incident event kind (`AIRISK_INCIDENT_*`), as in
/// the JSON form: `"opened"`, `"escalated"`, `"acknowledged"`, `"report_filed"`,
/// `"overdue"`, `"resolved"`, `"reopened"`, `"closed"`; `"unknown event"` for any other
/// value. Never fails, never NULL; thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn airisk_incident_event_str(event: u32) -> *const c_char {
    boundary_value(c"unknown event".as_ptr(), || {
        let s = match event {
            AIRISK_INCIDENT_OPENED => "opened\0",
            AIRISK_INCIDENT_ESCALATED => "escalated\0",
            AIRISK_INCIDENT_ACKNOWLEDGED => "acknowledged\0",
            AIRISK_INCIDENT_REPORT_FILED => "report_filed\0",
            AIRISK_INCIDENT_OVERDUE => "overdue\0",
            AIRISK_INCIDENT_RESOLVED => "resolved\0",
            AIRISK_INCIDENT_REOPENED => "reopened\0",
            AIRISK_INCIDENT_CLOSED => "closed\0",
            _ => "unknown event\0",
        };
        s.as_ptr().cast()
    })
}

/// The static NUL-terminated name of a report or due kind (`AIRISK_REPORT_*` and
/// `AIRISK_DUE_*` share their values): `"none"`, `"initial"`, `"update"`, `"final"`,
/// `"ack"`; `"unknown report"` for any other value. Never fails, never NULL; thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn airisk_report_str(kind: u32) -> *const c_char {
    boundary_value(c"unknown report".as_ptr(), || {
        let s = match kind {
            AIRISK_DUE_NONE => "none\0",
            AIRISK_DUE_INITIAL => "initial\0",
            AIRISK_DUE_UPDATE => "update\0",
            AIRISK_DUE_FINAL => "final\0",
            AIRISK_DUE_ACK => "ack\0",
            _ => "unknown report\0",
        };
        s.as_ptr().cast()
    })
}

/// Copies the detail of this thread's last failed call (like `errno`: successful calls do
/// not clear it) into `buf`, NUL-terminated and truncated to `cap - 1` bytes at a UTF-8
/// character boundary, and returns its full length in bytes (without the NUL). With
/// `cap == 0` nothing is written and `buf` may be NULL; so
/// `airisk_last_error(NULL, 0) + 1` is the buffer size needed. Returns 0 (and writes an
/// empty string) when no call on this thread has failed yet.
///
/// For a policy error the detail lists every problem with its JSON path
/// (`rules[3].thresholds.high: thresholds must not decrease ...`); for a profile error it
/// names the offending field.
///
/// # Safety
/// If `cap > 0`, `buf` must be NULL (nothing is written) or valid for writes of `cap` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airisk_last_error(buf: *mut c_char, cap: usize) -> usize {
    boundary_value(0, || {
        let text = last_error_text();
        // SAFETY: the caller guarantees `buf` is NULL or valid for `cap` bytes.
        unsafe { copy_truncated(&text, buf, cap) };
        text.len()
    })
}

/// Creates an engine for the policy JSON document `(policy_json, len)` (UTF-8, no NUL
/// needed) with the default queue capacity (65536 transitions, and as many incident events).
///
/// On `AIRISK_OK`, `*out` is a new engine the caller owns and must release with
/// `airisk_engine_free`. On failure `*out` is left unchanged. Errors: `AIRISK_ERR_NULL`
/// (`policy_json` or `out` NULL), `AIRISK_ERR_UTF8`, `AIRISK_ERR_JSON` (malformed, with
/// line and column), `AIRISK_ERR_POLICY` (every validation problem with its JSON path in
/// `airisk_last_error`), `AIRISK_ERR_LIMIT` (document too large). Thread-safe.
///
/// # Safety
/// `policy_json` must be NULL or point to `len` readable bytes; `out` must be NULL or valid
/// for writing one pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airisk_engine_new(
    policy_json: *const c_char,
    len: usize,
    out: *mut *mut airisk_engine,
) -> airisk_status {
    // SAFETY: forwarded from this function's contract.
    unsafe {
        engine_new(
            "airisk_engine_new",
            policy_json,
            len,
            EngineOptions::default(),
            out,
        )
    }
}

/// As `airisk_engine_new`, with a transition queue, and an incident-event queue, of
/// `queue_capacity` entries each (0 is allowed: without a callback every transition or
/// incident event is then dropped and counted).
///
/// # Safety
/// As `airisk_engine_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airisk_engine_new_with_capacity(
    policy_json: *const c_char,
    len: usize,
    queue_capacity: usize,
    out: *mut *mut airisk_engine,
) -> airisk_status {
    // SAFETY: forwarded from this function's contract.
    unsafe {
        engine_new(
            "airisk_engine_new_with_capacity",
            policy_json,
            len,
            EngineOptions { queue_capacity },
            out,
        )
    }
}

/// # Safety
/// As `airisk_engine_new`.
unsafe fn engine_new(
    func: &'static str,
    policy_json: *const c_char,
    len: usize,
    options: EngineOptions,
    out: *mut *mut airisk_engine,
) -> airisk_status {
    boundary(func, || {
        // SAFETY: the caller guarantees `out` is NULL or writable.
        let out = unsafe { out_ptr(out) }?;
        // SAFETY: the caller guarantees `policy_json` is NULL or `len` readable bytes.
        let text = unsafe { str_arg(policy_json, len, "policy_json") }?;
        let policy = Policy::from_json(text)?;
        new_engine(policy, options, out);
        Ok(())
    })
}

/// # Safety
/// `p` is NULL or valid for writing one pointer.
unsafe fn out_ptr(
    p: *mut *mut airisk_engine,
) -> Result<super::boundary::Out<*mut airisk_engine>, Fail> {
    // SAFETY: forwarded from this function's contract.
    unsafe { out(p, "out") }
}

/// Creates an engine for the default policy compiled into the library (queue capacity
/// 65536). On `AIRISK_OK`, `*out` is a new engine the caller owns and must release with
/// `airisk_engine_free`; on failure (`AIRISK_ERR_NULL`) it is unchanged. Thread-safe.
///
/// # Safety
/// `out` must be NULL or valid for writing one pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airisk_engine_new_default(out: *mut *mut airisk_engine) -> airisk_status {
    boundary("airisk_engine_new_default", || {
        // SAFETY: the caller guarantees `out` is NULL or writable.
        let out = unsafe { out_ptr(out) }?;
        new_engine(Policy::default_policy(), EngineOptions::default(), out);
        Ok(())
    })
}

/// Releases an engine and every string it handed out (transition, incident-event,
/// rule-level and classification strings become dangling). NULL is a no-op. Must not be called twice on the same engine,
/// nor while another thread uses it, nor from inside its callback.
///
/// # Safety
/// `engine` must be NULL or an engine from `airisk_engine_new*` not yet freed, with no other
/// call on it in progress.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airisk_engine_free(engine: *mut airisk_engine) {
    if engine.is_null() {
        return;
    }
    boundary_value((), || {
        // SAFETY: the caller guarantees `engine` came from `Box::into_raw` in
        // `airisk_engine_new*`, is not freed yet and is not in use.
        drop(unsafe { Box::from_raw(engine) });
    })
}

/// Parses a profile, mapping a too-large document to a limit error.
fn profile(text: &str) -> Result<Profile, Fail> {
    Ok(Profile::from_json(text)?)
}

/// Classifies the profile JSON document `(profile_json, len)` under the engine's policy,
/// registering nothing. On `AIRISK_OK`, `*out` holds the grade rank, score and grade id, and
/// whether the profile meets a prohibited use (then its id and basis) — a prohibited
/// profile is still classified, so the caller can see why `airisk_register` refuses it
/// (its strings stay valid until `airisk_engine_free`); on failure `*out` is unchanged.
/// Errors: `AIRISK_ERR_NULL`, `AIRISK_ERR_UTF8`, `AIRISK_ERR_JSON`, `AIRISK_ERR_PROFILE`
/// (the offending field in `airisk_last_error`), `AIRISK_ERR_LIMIT`. Thread-safe.
///
/// # Safety
/// `e` must be NULL or a live engine; `profile_json` NULL or `len` readable bytes; `out`
/// NULL or valid for writing one `airisk_classification`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airisk_classify(
    e: *const airisk_engine,
    profile_json: *const c_char,
    len: usize,
    out: *mut airisk_classification,
) -> airisk_status {
    boundary("airisk_classify", || {
        // SAFETY: the caller guarantees each pointer is NULL or valid (see # Safety).
        let (e, out, text) = unsafe {
            (
                engine(e)?,
                self::out(out, "out")?,
                str_arg(profile_json, len, "profile_json")?,
            )
        };
        let c = e.engine.classify(&profile(text)?)?;
        out.write(classification(e, &c)?);
        Ok(())
    })
}

/// The C form of a classification: `AIRISK_ERR_LIMIT` if the score does not fit `int32_t`.
fn classification(e: &airisk_engine, c: &Classification) -> Result<airisk_classification, Fail> {
    let score = i32::try_from(c.score).map_err(|_| {
        Fail::new(
            AIRISK_ERR_LIMIT,
            format!("score {} does not fit in int32_t", c.score),
        )
    })?;
    let (prohibited_id, prohibited_basis) = match &c.prohibited {
        Some(p) => e.strings.prohibited(&p.id, p.basis.as_deref()),
        None => (std::ptr::null(), std::ptr::null()),
    };
    Ok(airisk_classification {
        grade: c.grade_rank,
        score,
        grade_id: e.strings.grade(c.grade_rank, &c.grade),
        prohibited: c.prohibited.is_some(),
        prohibited_id,
        prohibited_basis,
    })
}

/// Classifies a profile (as `airisk_classify`) and writes the whole explanation — grade,
/// score, every factor with its points, every floor that held, and their legal bases — as
/// one JSON object into `buf`, NUL-terminated.
///
/// `*out_len` receives the JSON's length in bytes, without the NUL. If `cap` is at most that
/// length, the call returns `AIRISK_ERR_BUFFER`, writes nothing to `buf` and still sets
/// `*out_len` (allocate `*out_len + 1` bytes and call again); `buf` may be NULL when `cap`
/// is 0. On any other failure nothing is written. Thread-safe.
///
/// # Safety
/// `e` must be NULL or a live engine; `profile_json` NULL or `len` readable bytes; `buf`
/// NULL or valid for writing `cap` bytes; `out_len` NULL or valid for writing one `size_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airisk_classify_explain(
    e: *const airisk_engine,
    profile_json: *const c_char,
    len: usize,
    buf: *mut c_char,
    cap: usize,
    out_len: *mut usize,
) -> airisk_status {
    boundary("airisk_classify_explain", || {
        // SAFETY: the caller guarantees each pointer is NULL or valid (see # Safety).
        let (e, out_len, text) = unsafe {
            (
                engine(e)?,
                out(out_len, "out_len")?,
                str_arg(profile_json, len, "profile_json")?,
            )
        };
        if buf.is_null() && cap > 0 {
            return Err(Fail::null("buf"));
        }
        let c = e.engine.classify(&profile(text)?)?;
        let json = serde_json::to_string(&c).map_err(|err| {
            Fail::new(
                super::status::AIRISK_ERR_INTERNAL,
                format!("cannot serialise the classification: {err}"),
            )
        })?;
        // SAFETY: `buf` is non-NULL when `cap > 0` (checked above) and valid for `cap` bytes.
        unsafe { write_text(&json, "the explanation", buf, cap, out_len) }
    })
}

/// Registers a system described by the profile JSON document `(profile_json, len)`:
/// classifies it, fixes its grade, starts monitoring it. On `AIRISK_OK`, `*out_system` is
/// its handle (dense from 0, never reused); on failure it is unchanged and nothing is
/// registered. Errors: `AIRISK_ERR_NULL`, `AIRISK_ERR_UTF8`, `AIRISK_ERR_JSON`,
/// `AIRISK_ERR_PROFILE` (also an unknown `operator_type`), `AIRISK_ERR_DUPLICATE` (a
/// registered system has this id), `AIRISK_ERR_PROHIBITED` (the profile meets a prohibited
/// use: `airisk_classify` says which), `AIRISK_ERR_LIMIT`. Thread-safe.
///
/// # Safety
/// `e` must be NULL or a live engine; `profile_json` NULL or `len` readable bytes;
/// `out_system` NULL or valid for writing one `uint32_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airisk_register(
    e: *mut airisk_engine,
    profile_json: *const c_char,
    len: usize,
    out_system: *mut u32,
) -> airisk_status {
    boundary("airisk_register", || {
        // SAFETY: the caller guarantees each pointer is NULL or valid (see # Safety).
        let (e, out, text) = unsafe {
            (
                engine(e)?,
                out(out_system, "out_system")?,
                str_arg(profile_json, len, "profile_json")?,
            )
        };
        let p = profile(text)?;
        let id = p.id.clone();
        let h = e.engine.register(p)?;
        e.strings.add_system(h.0, &id);
        out.write(h.0);
        Ok(())
    })
}

/// Stops monitoring a system and frees its state. Its handle is never reused; its id string
/// (as seen in transitions) stays valid until `airisk_engine_free`; the id may be registered
/// again, under a new handle. Errors: `AIRISK_ERR_NULL`, `AIRISK_ERR_UNKNOWN_SYSTEM`.
/// Thread-safe.
///
/// # Safety
/// `e` must be NULL or a live engine.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airisk_deregister(e: *mut airisk_engine, system: u32) -> airisk_status {
    boundary("airisk_deregister", || {
        // SAFETY: the caller guarantees `e` is NULL or a live engine.
        let e = unsafe { engine(e) }?;
        e.engine.deregister(SystemHandle(system))?;
        Ok(())
    })
}

/// The handle of the registered system with id `(id, len)`. On `AIRISK_OK`, `*out_system`
/// is its handle; on failure it is unchanged. Errors: `AIRISK_ERR_NULL`, `AIRISK_ERR_UTF8`,
/// `AIRISK_ERR_UNKNOWN_SYSTEM`. Hashes the id: keep the handle. Thread-safe.
///
/// # Safety
/// `e` must be NULL or a live engine; `id` NULL or `len` readable bytes; `out_system` NULL
/// or valid for writing one `uint32_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airisk_system_lookup(
    e: *const airisk_engine,
    id: *const c_char,
    len: usize,
    out_system: *mut u32,
) -> airisk_status {
    boundary("airisk_system_lookup", || {
        // SAFETY: the caller guarantees each pointer is NULL or valid (see # Safety).
        let (e, out, id) = unsafe {
            (
                engine(e)?,
                out(out_system, "out_system")?,
                str_arg(id, len, "id")?,
            )
        };
        let h = lookup_system(e, id)?;
        out.write(h.0);
        Ok(())
    })
}

/// The handle of the registered system `id`, else `AIRISK_ERR_UNKNOWN_SYSTEM` (the message
/// suggests a close id).
fn lookup_system(e: &airisk_engine, id: &str) -> Result<SystemHandle, Fail> {
    Ok(e.engine.lookup_system(id)?)
}

/// The index of the signal `name`, else `AIRISK_ERR_UNKNOWN_SIGNAL` (the message suggests
/// a close name).
fn lookup_signal(e: &airisk_engine, name: &str) -> Result<SignalId, Fail> {
    Ok(e.engine.lookup_signal(name)?)
}

/// The index of the signal named `(name, len)` in the policy, for `airisk_observe`. On
/// `AIRISK_OK`, `*out_signal` is set; on failure it is unchanged. Errors: `AIRISK_ERR_NULL`,
/// `AIRISK_ERR_UTF8`, `AIRISK_ERR_UNKNOWN_SIGNAL`. Hashes the name: look it up once, off the
/// hot path. Thread-safe.
///
/// # Safety
/// `e` must be NULL or a live engine; `name` NULL or `len` readable bytes; `out_signal` NULL
/// or valid for writing one `uint32_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airisk_signal(
    e: *const airisk_engine,
    name: *const c_char,
    len: usize,
    out_signal: *mut u32,
) -> airisk_status {
    boundary("airisk_signal", || {
        // SAFETY: the caller guarantees each pointer is NULL or valid (see # Safety).
        let (e, out, name) = unsafe {
            (
                engine(e)?,
                out(out_signal, "out_signal")?,
                str_arg(name, len, "name")?,
            )
        };
        out.write(lookup_signal(e, name)?.0);
        Ok(())
    })
}

/// Records one observation `(system, signal, value, ts_ms)` and evaluates the rules that use
/// the signal. On `AIRISK_OK`, `*out_level` is the system's level afterwards. Transitions go
/// to the queue or the callback. On failure the observation changes nothing but a counter
/// and `*out_level` is unchanged. Errors: `AIRISK_ERR_NULL`, `AIRISK_ERR_UNKNOWN_SYSTEM`,
/// `AIRISK_ERR_UNKNOWN_SIGNAL`, `AIRISK_ERR_VALUE` (NaN, infinite, a negative counter, or
/// `ts_ms == INT64_MIN`), `AIRISK_ERR_STALE` (older than the window ring keeps). The hot
/// path: no allocation unless a transition is emitted. Thread-safe.
///
/// # Safety
/// `e` must be NULL or a live engine; `out_level` NULL or valid for writing one
/// `airisk_level`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airisk_observe(
    e: *mut airisk_engine,
    system: u32,
    signal: u32,
    value: f64,
    ts_ms: i64,
    out_level: *mut airisk_level,
) -> airisk_status {
    boundary("airisk_observe", || {
        // SAFETY: the caller guarantees each pointer is NULL or valid (see # Safety).
        let (e, out) = unsafe { (engine(e)?, out(out_level, "out_level")?) };
        let level = e
            .engine
            .observe(SystemHandle(system), SignalId(signal), value, ts_ms)?;
        out.write(level as airisk_level);
        Ok(())
    })
}

/// As `airisk_observe`, naming the system by its id `(system_id, system_len)` and the signal
/// by its name `(signal, signal_len)`. Hashes both strings: for streams, look the handle and
/// signal up once and use `airisk_observe`. Additional errors: `AIRISK_ERR_UTF8`, and
/// `AIRISK_ERR_UNKNOWN_SYSTEM` / `AIRISK_ERR_UNKNOWN_SIGNAL` for unknown names.
///
/// # Safety
/// `e` must be NULL or a live engine; `system_id` NULL or `system_len` readable bytes;
/// `signal` NULL or `signal_len` readable bytes; `out_level` NULL or valid for writing one
/// `airisk_level`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airisk_observe_named(
    e: *mut airisk_engine,
    system_id: *const c_char,
    system_len: usize,
    signal: *const c_char,
    signal_len: usize,
    value: f64,
    ts_ms: i64,
    out_level: *mut airisk_level,
) -> airisk_status {
    boundary("airisk_observe_named", || {
        // SAFETY: the caller guarantees each pointer is NULL or valid (see # Safety).
        let (e, out, id, name) = unsafe {
            (
                engine(e)?,
                out(out_level, "out_level")?,
                str_arg(system_id, system_len, "system_id")?,
                str_arg(signal, signal_len, "signal")?,
            )
        };
        let h = lookup_system(e, id)?;
        let s = lookup_signal(e, name)?;
        let level = e.engine.observe(h, s, value, ts_ms)?;
        out.write(level as airisk_level);
        Ok(())
    })
}

/// Applies the `n` observations at `obs` in order, as `airisk_observe` would one by one:
/// every valid one is applied, every rejected one (unknown system or signal, bad value,
/// stale) is skipped and counted in the stats. Returns `AIRISK_OK` when the arguments are
/// valid, even if some observations were rejected; `*out_accepted` is then the number
/// applied, and when it is less than `n`, `airisk_last_error` describes the first rejected
/// observation (its index and reason). `obs` may be NULL only when `n` is 0. On failure
/// (`AIRISK_ERR_NULL`, `AIRISK_ERR_INVALID_ARGUMENT`) nothing is applied and
/// `*out_accepted` is unchanged. Thread-safe.
///
/// # Safety
/// `e` must be NULL or a live engine; `obs` NULL or `n` readable `airisk_observation`s;
/// `out_accepted` NULL or valid for writing one `size_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airisk_observe_batch(
    e: *mut airisk_engine,
    obs: *const airisk_observation,
    n: usize,
    out_accepted: *mut usize,
) -> airisk_status {
    boundary("airisk_observe_batch", || {
        // SAFETY: the caller guarantees each pointer is NULL or valid (see # Safety).
        let (e, out, obs) = unsafe {
            (
                engine(e)?,
                out(out_accepted, "out_accepted")?,
                slice(obs, n, "obs", true)?,
            )
        };
        let mut accepted = 0usize;
        let mut first_error = None;
        for (i, o) in obs.iter().enumerate() {
            match e
                .engine
                .observe(SystemHandle(o.system), SignalId(o.signal), o.value, o.ts_ms)
            {
                Ok(_) => accepted += 1,
                Err(err) if first_error.is_none() => first_error = Some((i, err)),
                Err(_) => {}
            }
        }
        if let Some((i, err)) = first_error {
            set_last_error(
                "airisk_observe_batch",
                Detail::Msg(
                    format!(
                        "{} of {n} observations rejected; the first, obs[{i}]: {err}",
                        n - accepted
                    )
                    .into(),
                ),
            );
        }
        out.write(accepted);
        Ok(())
    })
}

/// Raises every registered system's watermark to `now_ms` (never lowers it), then evaluates
/// every rule of every system, systems in registration order; transitions go to the queue or
/// the callback. Use it to advance time when no observations arrive (silence rules, windows
/// emptying). Errors: `AIRISK_ERR_NULL`. Thread-safe.
///
/// # Safety
/// `e` must be NULL or a live engine.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airisk_tick(e: *mut airisk_engine, now_ms: i64) -> airisk_status {
    boundary("airisk_tick", || {
        // SAFETY: the caller guarantees `e` is NULL or a live engine.
        let e = unsafe { engine(e) }?;
        e.engine.tick(now_ms);
        Ok(())
    })
}

/// Moves up to `cap` queued transitions into `out[0 .. *out_n]`, oldest first (in `seq`
/// order), and sets `*out_n`. Their strings stay valid until `airisk_engine_free`. `out`
/// may be NULL only when `cap` is 0 (then `*out_n` is 0 and nothing is dequeued). On failure
/// (`AIRISK_ERR_NULL`, `AIRISK_ERR_INVALID_ARGUMENT`) nothing is dequeued or written. The
/// queue is bounded (65536 by default): a transition that finds it full is counted in
/// `airisk_stats.dropped` (its `seq` is skipped). Thread-safe: concurrent polls each get
/// distinct transitions.
///
/// # Safety
/// `e` must be NULL or a live engine; `out` NULL or valid for writing `cap`
/// `airisk_transition`s; `out_n` NULL or valid for writing one `size_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airisk_poll(
    e: *mut airisk_engine,
    out: *mut airisk_transition,
    cap: usize,
    out_n: *mut usize,
) -> airisk_status {
    boundary("airisk_poll", || {
        // SAFETY: the caller guarantees each pointer is NULL or valid (see # Safety).
        let (e, out_n) = unsafe { (engine(e)?, self::out(out_n, "out_n")?) };
        if cap == 0 {
            out_n.write(0);
            return Ok(());
        }
        if out.is_null() {
            return Err(Fail::null("out"));
        }
        if !out.is_aligned() {
            return Err(Fail::new(
                AIRISK_ERR_INVALID_ARGUMENT,
                "`out` is not suitably aligned",
            ));
        }
        let mut v: Vec<Transition> = Vec::new();
        let n = e.engine.drain_up_to(&mut v, cap);
        for (i, t) in v.iter().enumerate() {
            let c = e.strings.transition(t);
            // SAFETY: `out` is non-NULL, aligned and valid for `cap` elements (caller
            // contract); `i < n ≤ cap`.
            unsafe { out.add(i).write(c) };
        }
        out_n.write(n);
        Ok(())
    })
}

/// The caller's `user` pointer, handed back to the caller's callback.
struct UserData(*mut c_void);

// SAFETY: airisk never dereferences the pointer; it only passes it back to the callback,
// on whichever thread causes a transition. `airisk_set_callback`'s contract makes the
// caller responsible for `user` being usable from those threads.
unsafe impl Send for UserData {}
// SAFETY: as for `Send`: the pointer is only copied, never dereferenced, by airisk.
unsafe impl Sync for UserData {}

impl UserData {
    /// The pointer, for the callback.
    fn get(&self) -> *mut c_void {
        self.0
    }
}

/// Sets the transition callback: from now on every transition is passed to
/// `cb(t, user)` instead of the queue — on the thread whose call caused it, with no engine
/// lock held, `t` valid during the call (its strings until `airisk_engine_free`). The
/// callback may call the engine again (observe, tick, poll, set_callback, ...), but not
/// `airisk_engine_free`, and must not unwind (no C++ exception, no `longjmp`). With `cb`
/// NULL, transitions return to the queue (`user` is ignored). Transitions already queued
/// stay queued. A callback already running on another thread may still finish after this
/// returns. Errors: `AIRISK_ERR_NULL` (`e`). Thread-safe.
///
/// # Safety
/// `e` must be NULL or a live engine; `cb` must be NULL or a function safe to call with
/// `user` from any thread that calls into this engine, until it is replaced or the engine
/// is freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airisk_set_callback(
    e: *mut airisk_engine,
    cb: airisk_transition_cb,
    user: *mut c_void,
) -> airisk_status {
    boundary("airisk_set_callback", || {
        // SAFETY: the caller guarantees `e` is NULL or a live engine.
        let e = unsafe { engine(e) }?;
        let sink: Option<Sink> = cb.map(|cb| {
            let strings = Arc::clone(&e.strings);
            let user = UserData(user);
            let sink: Sink = Arc::new(move |t: &Transition| {
                let c = strings.transition(t);
                // SAFETY: the caller of `airisk_set_callback` guaranteed `cb` may be called
                // with `user` on this thread; `&c` is valid for the duration of the call.
                unsafe { cb(&c, user.get()) }
            });
            sink
        });
        e.engine.set_sink(sink);
        Ok(())
    })
}

/// The current level of a system (the highest of its rules, raised by escalation). On
/// `AIRISK_OK`, `*out` is set; on failure (`AIRISK_ERR_NULL`, `AIRISK_ERR_UNKNOWN_SYSTEM`)
/// it is unchanged. Thread-safe.
///
/// # Safety
/// `e` must be NULL or a live engine; `out` NULL or valid for writing one `airisk_level`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airisk_system_level(
    e: *const airisk_engine,
    system: u32,
    out: *mut airisk_level,
) -> airisk_status {
    boundary("airisk_system_level", || {
        // SAFETY: the caller guarantees each pointer is NULL or valid (see # Safety).
        let (e, out) = unsafe { (engine(e)?, self::out(out, "out")?) };
        let level = e.engine.system_level(SystemHandle(system))?;
        out.write(level as airisk_level);
        Ok(())
    })
}

/// The engine's counters. On `AIRISK_OK`, `*out` is set; on failure (`AIRISK_ERR_NULL`) it
/// is unchanged. Thread-safe (a snapshot; counters of concurrent calls may or may not be
/// included).
///
/// # Safety
/// `e` must be NULL or a live engine; `out` NULL or valid for writing one `airisk_stats`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airisk_engine_stats(
    e: *const airisk_engine,
    out: *mut airisk_stats,
) -> airisk_status {
    boundary("airisk_engine_stats", || {
        // SAFETY: the caller guarantees each pointer is NULL or valid (see # Safety).
        let (e, out) = unsafe { (engine(e)?, self::out(out, "out")?) };
        let s = e.engine.stats();
        out.write(airisk_stats {
            observed: s.observed,
            rejected_stale: s.rejected_stale,
            rejected_invalid: s.rejected_invalid,
            transitions: s.transitions,
            dropped: s.dropped,
            systems: s.systems,
            journal_errors: s.journal_errors,
            incident_events: s.incident_events,
            incidents_dropped: s.incidents_dropped,
        });
        Ok(())
    })
}

/// Writes the engine's whole state (systems, windows, rule states and timers, levels,
/// `seq`, stats, queued transitions) into `(buf, cap)` as an opaque, versioned,
/// checksummed byte string for `airisk_engine_restore`. `*out_len` receives the number of
/// bytes the snapshot needs. When `cap` is smaller, nothing is written to `buf`, `*out_len`
/// still receives the needed size and the status is `AIRISK_ERR_BUFFER` (a size query is
/// `buf = NULL, cap = 0`). The state may change between a size query and the real call:
/// allocate some slack or retry. Thread-safe (taken at one consistent point).
///
/// # Safety
/// `e` must be NULL or a live engine; `buf` NULL or valid for writing `cap` bytes; `out_len`
/// NULL or valid for writing one `size_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airisk_snapshot(
    e: *const airisk_engine,
    buf: *mut u8,
    cap: usize,
    out_len: *mut usize,
) -> airisk_status {
    boundary("airisk_snapshot", || {
        // SAFETY: the caller guarantees each pointer is NULL or valid (see # Safety).
        let (e, out_len) = unsafe { (engine(e)?, out(out_len, "out_len")?) };
        if buf.is_null() && cap > 0 {
            return Err(Fail::null("buf"));
        }
        let bytes = e.engine.snapshot();
        // SAFETY: the caller guarantees `buf` is valid for `cap` bytes (non-NULL: checked).
        unsafe { copy_bytes(&bytes, buf, cap, out_len) }
    })
}

/// Copies `bytes` into `(buf, cap)` and reports its length through `out_len`; when `cap`
/// is smaller, writes only the length and fails with `AIRISK_ERR_BUFFER`.
///
/// # Safety
/// `buf` must be valid for writes of `cap` bytes, and non-NULL unless `cap` is 0.
unsafe fn copy_bytes(
    bytes: &[u8],
    buf: *mut u8,
    cap: usize,
    out_len: super::boundary::Out<usize>,
) -> Result<(), Fail> {
    if cap < bytes.len() {
        out_len.write(bytes.len());
        return Err(Fail::new(
            AIRISK_ERR_BUFFER,
            format!("the snapshot needs {} bytes; `cap` is {cap}", bytes.len()),
        ));
    }
    if !bytes.is_empty() {
        // SAFETY: `buf` is non-NULL (cap ≥ len > 0) and valid for `cap ≥ bytes.len()`
        // bytes (caller contract); `bytes` is Rust-owned, so no overlap.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), buf, bytes.len()) };
    }
    out_len.write(bytes.len());
    Ok(())
}

/// Creates an engine from the policy JSON `(policy_json, len)` and a snapshot
/// `(snapshot, snapshot_len)` written by `airisk_snapshot` under the same policy. On
/// `AIRISK_OK`, `*out` is a new engine the caller owns (release with `airisk_engine_free`);
/// on failure it is unchanged. Errors: `AIRISK_ERR_NULL`, `AIRISK_ERR_UTF8`,
/// `AIRISK_ERR_JSON`, `AIRISK_ERR_POLICY`, `AIRISK_ERR_STATE` (not a snapshot, corrupt,
/// another format version, or taken under a different policy — the detail says which).
/// Passing `policy_json = NULL, len = 0` uses the default policy. Thread-safe.
///
/// # Safety
/// `policy_json` NULL or `len` readable bytes; `snapshot` NULL or `snapshot_len` readable
/// bytes; `out` NULL or valid for writing one pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airisk_engine_restore(
    policy_json: *const c_char,
    len: usize,
    snapshot: *const u8,
    snapshot_len: usize,
    out: *mut *mut airisk_engine,
) -> airisk_status {
    boundary("airisk_engine_restore", || {
        // SAFETY: the caller guarantees `out` is NULL or writable.
        let out = unsafe { out_ptr(out) }?;
        // SAFETY: the caller guarantees `snapshot` is NULL or `snapshot_len` readable bytes.
        let bytes = unsafe { slice(snapshot, snapshot_len, "snapshot", false) }?;
        let policy = if policy_json.is_null() && len == 0 {
            Policy::default_policy()
        } else {
            // SAFETY: the caller guarantees `policy_json` is `len` readable bytes.
            Policy::from_json(unsafe { str_arg(policy_json, len, "policy_json") }?)?
        };
        let strings = Arc::new(Strings::new(&policy));
        let engine = Engine::restore(policy, bytes)?;
        let mut h = 0u32;
        while let Some(id) = engine.system_id(SystemHandle(h)) {
            strings.add_system(h, &id);
            h += 1;
        }
        out.write(Box::into_raw(Box::new(airisk_engine { engine, strings })));
        Ok(())
    })
}

/// Opens (creating if absent) an SM3-chained audit journal at the UTF-8 path `(path, len)`
/// and records every later registration, deregistration and transition in it. An existing
/// journal is verified first; a torn last line (a crash mid-write) is truncated and
/// everything before it kept; a journal that does not verify is refused
/// (`AIRISK_ERR_STATE`, the first broken line in `airisk_last_error`). `durability`: 0 never
/// fsync, 1 fsync every record, N ≥ 2 every N records. Replaces a journal already open.
/// Errors: `AIRISK_ERR_NULL`, `AIRISK_ERR_UTF8`, `AIRISK_ERR_IO`, `AIRISK_ERR_STATE`.
/// Records that later fail to write are counted in `airisk_stats.journal_errors`; the
/// engine goes on. Thread-safe.
///
/// # Safety
/// `e` must be NULL or a live engine; `path` NULL or `len` readable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airisk_journal_open(
    e: *mut airisk_engine,
    path: *const c_char,
    len: usize,
    durability: u32,
) -> airisk_status {
    boundary("airisk_journal_open", || {
        // SAFETY: the caller guarantees each pointer is NULL or valid (see # Safety).
        let (e, path) = unsafe { (engine(e)?, str_arg(path, len, "path")?) };
        e.engine.open_journal(
            std::path::Path::new(path),
            crate::journal::Durability::from_u32(durability),
        )?;
        Ok(())
    })
}

/// `airisk_journal_open` for a new journal only: creates the file at the UTF-8 path
/// `(path, len)` and starts recording in it. When a file exists at the path (even an empty
/// one) it fails with `AIRISK_ERR_IO` (`airisk_last_error` names the path), leaves the file
/// untouched and changes nothing: a journal already open stays open. Whether the file
/// exists is decided atomically when it is created, so two processes racing for one path
/// cannot both succeed. `durability` as in `airisk_journal_open`. Errors:
/// `AIRISK_ERR_NULL`, `AIRISK_ERR_UTF8`, `AIRISK_ERR_IO`. Thread-safe.
///
/// # Safety
/// `e` must be NULL or a live engine; `path` NULL or `len` readable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airisk_journal_create(
    e: *mut airisk_engine,
    path: *const c_char,
    len: usize,
    durability: u32,
) -> airisk_status {
    boundary("airisk_journal_create", || {
        // SAFETY: the caller guarantees each pointer is NULL or valid (see # Safety).
        let (e, path) = unsafe { (engine(e)?, str_arg(path, len, "path")?) };
        e.engine.create_journal(
            std::path::Path::new(path),
            crate::journal::Durability::from_u32(durability),
        )?;
        Ok(())
    })
}

/// Forces the audit journal's records to stable storage (fsync), whatever its durability;
/// without an open journal it does nothing. Errors: `AIRISK_ERR_NULL`, `AIRISK_ERR_IO`.
/// Thread-safe.
///
/// # Safety
/// `e` must be NULL or a live engine.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airisk_journal_sync(e: *mut airisk_engine) -> airisk_status {
    boundary("airisk_journal_sync", || {
        // SAFETY: the caller guarantees `e` is NULL or a live engine.
        let e = unsafe { engine(e) }?;
        e.engine.sync_journal()?;
        Ok(())
    })
}

/// Closes the audit journal (writing what is pending, and syncing it unless its
/// durability is 0); later events are not journaled until `airisk_journal_open`. Without
/// an open journal it does nothing. Records that cannot be written are counted in
/// `airisk_stats.journal_errors`. Errors: `AIRISK_ERR_NULL`. Thread-safe.
///
/// # Safety
/// `e` must be NULL or a live engine.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airisk_journal_close(e: *mut airisk_engine) -> airisk_status {
    boundary("airisk_journal_close", || {
        // SAFETY: the caller guarantees `e` is NULL or a live engine.
        let e = unsafe { engine(e) }?;
        e.engine.close_journal();
        Ok(())
    })
}

/// Re-classifies the registered system `system` with the profile JSON document
/// `(profile_json, len)`, whose `id` must be the system's. Its rule states are kept and are
/// evaluated under the new grade's thresholds from the next evaluation on; its operator
/// type (incident deadlines) follows the new profile. On `AIRISK_OK`, `*out` is the new
/// classification (as `airisk_classify`); on failure it is unchanged and the system keeps
/// its old profile. Errors: `AIRISK_ERR_NULL`, `AIRISK_ERR_UTF8`, `AIRISK_ERR_JSON`,
/// `AIRISK_ERR_PROFILE` (also an `id` other than the system's), `AIRISK_ERR_UNKNOWN_SYSTEM`,
/// `AIRISK_ERR_PROHIBITED`, `AIRISK_ERR_LIMIT`. Thread-safe.
///
/// # Safety
/// `e` must be NULL or a live engine; `profile_json` NULL or `len` readable bytes; `out`
/// NULL or valid for writing one `airisk_classification`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airisk_update_profile(
    e: *mut airisk_engine,
    system: u32,
    profile_json: *const c_char,
    len: usize,
    out: *mut airisk_classification,
) -> airisk_status {
    boundary("airisk_update_profile", || {
        // SAFETY: the caller guarantees each pointer is NULL or valid (see # Safety).
        let (e, out, text) = unsafe {
            (
                engine(e)?,
                self::out(out, "out")?,
                str_arg(profile_json, len, "profile_json")?,
            )
        };
        let p = profile(text)?;
        // Check that the result converts (the score fits) before changing anything.
        classification(e, &e.engine.classify(&p)?)?;
        let c = e.engine.update_profile(SystemHandle(system), p)?;
        out.write(classification(e, &c)?);
        Ok(())
    })
}

/// The current level of every rule of system `system`, in rule order: `out[i]` is rule
/// `i` with its id. `*out_n` receives the number of rules of the policy. When `cap` is
/// smaller, nothing is written to `out`, `*out_n` still receives the number needed and the
/// status is `AIRISK_ERR_BUFFER` (a size query is `out = NULL, cap = 0`; the number changes
/// only with `airisk_engine_reload`). Other errors (`AIRISK_ERR_NULL`, `AIRISK_ERR_UNKNOWN_SYSTEM`,
/// `AIRISK_ERR_INVALID_ARGUMENT` for a misaligned `out`) write nothing. Thread-safe.
///
/// # Safety
/// `e` must be NULL or a live engine; `out` NULL or valid for writing `cap`
/// `airisk_rule_level`s; `out_n` NULL or valid for writing one `size_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airisk_rule_levels(
    e: *const airisk_engine,
    system: u32,
    out: *mut airisk_rule_level,
    cap: usize,
    out_n: *mut usize,
) -> airisk_status {
    boundary("airisk_rule_levels", || {
        // SAFETY: the caller guarantees each pointer is NULL or valid (see # Safety).
        let (e, out_n) = unsafe { (engine(e)?, self::out(out_n, "out_n")?) };
        if out.is_null() && cap > 0 {
            return Err(Fail::null("out"));
        }
        if !out.is_null() && !out.is_aligned() {
            return Err(Fail::new(
                AIRISK_ERR_INVALID_ARGUMENT,
                "`out` is not suitably aligned",
            ));
        }
        let levels = e.engine.rule_levels_named(SystemHandle(system))?;
        if cap < levels.len() {
            out_n.write(levels.len());
            return Err(Fail::new(
                AIRISK_ERR_BUFFER,
                format!("the policy has {} rules; `cap` is {cap}", levels.len()),
            ));
        }
        for (i, (id, l)) in levels.iter().enumerate() {
            let c = airisk_rule_level {
                rule: i as u32,
                level: *l as airisk_level,
                rule_id: e.strings.rule_id(i, id),
            };
            // SAFETY: `out` is non-NULL (cap ≥ len > i), aligned and valid for `cap`
            // elements (caller contract).
            unsafe { out.add(i).write(c) };
        }
        out_n.write(levels.len());
        Ok(())
    })
}

/// Writes one system's state (profile, grade, windows, rule states and timers, level, its
/// incidents) into `(buf, cap)` as an opaque, versioned, checksummed byte string for
/// `airisk_restore_system` on an engine with the same policy — to move the system to
/// another engine. The system stays registered here. Buffer conventions as
/// `airisk_snapshot`: `*out_len` receives the size needed; when `cap` is smaller, nothing
/// is written to `buf` and the status is `AIRISK_ERR_BUFFER`. Other errors:
/// `AIRISK_ERR_NULL`, `AIRISK_ERR_UNKNOWN_SYSTEM` (`*out_len` unchanged). Thread-safe.
///
/// # Safety
/// `e` must be NULL or a live engine; `buf` NULL or valid for writing `cap` bytes; `out_len`
/// NULL or valid for writing one `size_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airisk_snapshot_system(
    e: *const airisk_engine,
    system: u32,
    buf: *mut u8,
    cap: usize,
    out_len: *mut usize,
) -> airisk_status {
    boundary("airisk_snapshot_system", || {
        // SAFETY: the caller guarantees each pointer is NULL or valid (see # Safety).
        let (e, out_len) = unsafe { (engine(e)?, out(out_len, "out_len")?) };
        if buf.is_null() && cap > 0 {
            return Err(Fail::null("buf"));
        }
        let bytes = e.engine.snapshot_system(SystemHandle(system))?;
        // SAFETY: the caller guarantees `buf` is valid for `cap` bytes (non-NULL: checked).
        unsafe { copy_bytes(&bytes, buf, cap, out_len) }
    })
}

/// Registers the system exported by `airisk_snapshot_system` in `(snapshot, len)` (from
/// an engine with the same policy) under a new handle of this engine, with its windows,
/// rule states and incidents. Its transitions and incident events continue this engine's
/// sequences. On `AIRISK_OK`, `*out_system` is its handle; on failure it is unchanged and
/// nothing is registered. Errors: `AIRISK_ERR_NULL`, `AIRISK_ERR_STATE` (not a system
/// snapshot, corrupt, another format version, or another policy — the detail says which),
/// `AIRISK_ERR_DUPLICATE` (a registered system has its id), `AIRISK_ERR_LIMIT`.
/// Thread-safe.
///
/// # Safety
/// `e` must be NULL or a live engine; `snapshot` NULL or `len` readable bytes;
/// `out_system` NULL or valid for writing one `uint32_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airisk_restore_system(
    e: *mut airisk_engine,
    snapshot: *const u8,
    len: usize,
    out_system: *mut u32,
) -> airisk_status {
    boundary("airisk_restore_system", || {
        // SAFETY: the caller guarantees each pointer is NULL or valid (see # Safety).
        let (e, out, bytes) = unsafe {
            (
                engine(e)?,
                self::out(out_system, "out_system")?,
                slice(snapshot, len, "snapshot", false)?,
            )
        };
        let h = e.engine.restore_system(bytes)?;
        if let Some(id) = e.engine.system_id(h) {
            e.strings.add_system(h.0, &id);
        }
        out.write(h.0);
        Ok(())
    })
}

/// Moves up to `cap` queued incident events into `out[0 .. *out_n]`, oldest first (in
/// `seq` order), and sets `*out_n`; as `airisk_poll` for transitions. Their strings stay
/// valid until `airisk_engine_free`. `out` may be NULL only when `cap` is 0 (then `*out_n`
/// is 0 and nothing is dequeued). On failure (`AIRISK_ERR_NULL`,
/// `AIRISK_ERR_INVALID_ARGUMENT` for a misaligned `out`) nothing is dequeued or written.
/// The incident queue is bounded like the transition queue (the engine's queue capacity):
/// an event that finds it full is counted in `airisk_stats.incidents_dropped` (its `seq`
/// is skipped). Without an `incidents` section in the policy there are no incident events.
/// Thread-safe: concurrent polls each get distinct events.
///
/// # Safety
/// `e` must be NULL or a live engine; `out` NULL or valid for writing `cap`
/// `airisk_incident_event`s; `out_n` NULL or valid for writing one `size_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airisk_poll_incidents(
    e: *mut airisk_engine,
    out: *mut airisk_incident_event,
    cap: usize,
    out_n: *mut usize,
) -> airisk_status {
    boundary("airisk_poll_incidents", || {
        // SAFETY: the caller guarantees each pointer is NULL or valid (see # Safety).
        let (e, out_n) = unsafe { (engine(e)?, self::out(out_n, "out_n")?) };
        if cap == 0 {
            out_n.write(0);
            return Ok(());
        }
        if out.is_null() {
            return Err(Fail::null("out"));
        }
        if !out.is_aligned() {
            return Err(Fail::new(
                AIRISK_ERR_INVALID_ARGUMENT,
                "`out` is not suitably aligned",
            ));
        }
        let mut v: Vec<IncidentEvent> = Vec::new();
        let n = e.engine.drain_incidents_up_to(&mut v, cap);
        for (i, ev) in v.iter().enumerate() {
            let c = e.strings.incident_event(ev);
            // SAFETY: `out` is non-NULL, aligned and valid for `cap` elements (caller
            // contract); `i < n ≤ cap`.
            unsafe { out.add(i).write(c) };
        }
        out_n.write(n);
        Ok(())
    })
}

/// Sets the incident-event callback, with the semantics of `airisk_set_callback`: from
/// now on every incident event is passed to `cb(ev, user)` instead of the incident queue —
/// on the thread whose call caused it, with no engine lock held, `ev` valid during the call
/// (its strings until `airisk_engine_free`), right after the transition that caused it when
/// a transition callback is set too. The callback may call the engine again (acknowledge,
/// file a report, poll, ...), but not `airisk_engine_free`, and must not unwind. With `cb`
/// NULL, events return to the queue (`user` is ignored). Events already queued stay
/// queued. A callback already running on another thread may still finish after this
/// returns. Errors: `AIRISK_ERR_NULL` (`e`). Thread-safe.
///
/// # Safety
/// `e` must be NULL or a live engine; `cb` must be NULL or a function safe to call with
/// `user` from any thread that calls into this engine, until it is replaced or the engine
/// is freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airisk_set_incident_callback(
    e: *mut airisk_engine,
    cb: airisk_incident_cb,
    user: *mut c_void,
) -> airisk_status {
    boundary("airisk_set_incident_callback", || {
        // SAFETY: the caller guarantees `e` is NULL or a live engine.
        let e = unsafe { engine(e) }?;
        let sink: Option<IncidentSink> = cb.map(|cb| {
            let strings = Arc::clone(&e.strings);
            let user = UserData(user);
            let sink: IncidentSink = Arc::new(move |ev: &IncidentEvent| {
                let c = strings.incident_event(ev);
                // SAFETY: the caller of `airisk_set_incident_callback` guaranteed `cb` may
                // be called with `user` on this thread; `&c` is valid during the call.
                unsafe { cb(&c, user.get()) }
            });
            sink
        });
        e.engine.set_incident_sink(sink);
        Ok(())
    })
}

/// Acknowledges the incident with id `(incident, len)` at `ts_ms` (the caller's time; it
/// moves no clock), by `(by, by_len)` (who acknowledged; may be empty). Emits an
/// `acknowledged` event; allowed once per incident, whether or not the policy sets an
/// acknowledgement deadline. Errors: `AIRISK_ERR_NULL`, `AIRISK_ERR_UTF8`,
/// `AIRISK_ERR_UNKNOWN_INCIDENT` (no such incident, or it is closed),
/// `AIRISK_ERR_NOT_DUE` (already acknowledged). On failure nothing changes. Thread-safe.
///
/// # Safety
/// `e` must be NULL or a live engine; `incident` NULL or `len` readable bytes; `by` NULL
/// or `by_len` readable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airisk_acknowledge(
    e: *mut airisk_engine,
    incident: *const c_char,
    len: usize,
    ts_ms: i64,
    by: *const c_char,
    by_len: usize,
) -> airisk_status {
    boundary("airisk_acknowledge", || {
        // SAFETY: the caller guarantees each pointer is NULL or valid (see # Safety).
        let (e, id, by) = unsafe {
            (
                engine(e)?,
                str_arg(incident, len, "incident")?,
                str_arg(by, by_len, "by")?,
            )
        };
        e.engine.acknowledge(id, ts_ms, by)?;
        Ok(())
    })
}

/// Files report `kind` (`AIRISK_REPORT_INITIAL`, `_UPDATE` or `_FINAL`) of the incident
/// with id `(incident, len)` at `ts_ms` (the caller's time; it moves no clock), with the
/// caller's `(reference, ref_len)` (such as the regulator's receipt number; may be empty).
/// Emits `report_filed` (late when `ts_ms` is at or after the deadline — filing late is
/// allowed), and `closed` after a final report. Errors: `AIRISK_ERR_NULL`,
/// `AIRISK_ERR_UTF8`, `AIRISK_ERR_INVALID_ARGUMENT` (`kind` is not one of the three),
/// `AIRISK_ERR_UNKNOWN_INCIDENT` (no such incident, or it is closed), `AIRISK_ERR_NOT_DUE`
/// (that report is not owed now, or `final` while the initial or an update report is
/// owed). On failure nothing changes. Thread-safe.
///
/// # Safety
/// `e` must be NULL or a live engine; `incident` NULL or `len` readable bytes;
/// `reference` NULL or `ref_len` readable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airisk_file_report(
    e: *mut airisk_engine,
    incident: *const c_char,
    len: usize,
    kind: airisk_report_kind,
    ts_ms: i64,
    reference: *const c_char,
    ref_len: usize,
) -> airisk_status {
    boundary("airisk_file_report", || {
        // SAFETY: the caller guarantees each pointer is NULL or valid (see # Safety).
        let (e, id, reference) = unsafe {
            (
                engine(e)?,
                str_arg(incident, len, "incident")?,
                str_arg(reference, ref_len, "reference")?,
            )
        };
        let kind = report_of(kind).ok_or_else(|| {
            Fail::new(
                AIRISK_ERR_INVALID_ARGUMENT,
                format!(
                    "`kind` {kind} is not AIRISK_REPORT_INITIAL (1), AIRISK_REPORT_UPDATE (2) \
                     or AIRISK_REPORT_FINAL (3)"
                ),
            )
        })?;
        e.engine.file_report(id, kind, ts_ms, reference)?;
        Ok(())
    })
}
