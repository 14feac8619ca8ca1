//! The exports of policy reload, batched observations and silences: `airisk_engine_reload`,
//! `airisk_last_reload_report`, `airisk_observe_many`, `airisk_silence`,
//! `airisk_unsilence`.

use super::api::{airisk_engine, engine};
use super::boundary::{boundary, out, slice, str_arg, write_text};
use super::status::{AIRISK_ERR_INTERNAL, AIRISK_ERR_JSON, AIRISK_ERR_LIMIT, Fail, airisk_status};
use super::types::airisk_level;
use crate::error::Error;
use crate::handle::{SignalId, SystemHandle};
use crate::policy::Policy;
use crate::reload::ReloadReport;
use crate::silence::Silence;
use smallvec::SmallVec;
use std::ffi::c_char;

/// What a policy reload did, in numbers (`airisk_engine_reload`); the whole report, with
/// every id, is JSON from `airisk_last_reload_report`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct airisk_reload_report {
    /// Systems re-classified (every registered system).
    pub systems: u64,
    /// Rules in both policies kept for every system (level, timers, window, detector).
    pub kept: u64,
    /// Rules in both policies that start again, for some or every system.
    pub reset: u64,
    /// Rules only in the new policy (they start empty at none).
    pub added: u64,
    /// Rules only in the old policy.
    pub removed: u64,
    /// Systems whose grade changed.
    pub regraded: u64,
    /// Silences removed because they name a rule or category the new policy lacks.
    pub silences_removed: u64,
    /// Transitions to none with `reason` `"policy_reload"` that the reload emitted (rules
    /// reset or removed while above none); system-scope transitions and incident events
    /// they cause are not counted.
    pub transitions: u64,
    /// Fingerprint of the policy before (FNV-1a 64 of its canonical JSON).
    pub from_fingerprint: u64,
    /// Fingerprint of the policy after.
    pub to_fingerprint: u64,
}

impl airisk_reload_report {
    fn of(r: &ReloadReport) -> airisk_reload_report {
        let fp = |s: &str| u64::from_str_radix(s, 16).unwrap_or(0);
        airisk_reload_report {
            systems: r.systems,
            kept: r.kept.len() as u64,
            reset: r.reset.len() as u64,
            added: r.added.len() as u64,
            removed: r.removed.len() as u64,
            regraded: r.regraded.len() as u64,
            silences_removed: r.silences_removed.len() as u64,
            transitions: r.transitions,
            from_fingerprint: fp(&r.from_fingerprint),
            to_fingerprint: fp(&r.to_fingerprint),
        }
    }
}

/// Replaces the engine's policy in place with the policy JSON document
/// `(policy_json, len)`, keeping the state of every rule whose meaning does not change.
///
/// Every system is classified again. A rule is kept for a system (level, timers, window
/// contents, detector state) when its definition (without thresholds, names and texts) is
/// unchanged, its thresholds for the system's new grade equal its old ones for the old
/// grade, and its signals' window rings keep their size; any other rule, and every new one,
/// starts empty at none. A rule reset or removed while above none emits a transition to
/// none whose `reason` is `"policy_reload"` (at the system's watermark; the reload moves no
/// clock), then the system-scope line and the incident events they cause, to the queue or
/// the callbacks. Signal indexes stay valid: a signal keeps its index across reloads (a
/// signal the new policy drops is `AIRISK_ERR_UNKNOWN_SIGNAL` until a policy brings it
/// back). Rule indexes follow the new policy. Silences naming a rule or category the new
/// policy lacks are removed.
///
/// Atomic and thread-safe: calls on other threads wait and then run wholly under the old
/// or wholly under the new policy; none is lost. On `AIRISK_OK`, `*out` holds the counts
/// (the whole report: `airisk_last_reload_report`). On failure nothing changes and `*out`
/// is unchanged. Errors: `AIRISK_ERR_NULL`, `AIRISK_ERR_UTF8`, `AIRISK_ERR_JSON`,
/// `AIRISK_ERR_POLICY` (every problem with its JSON path in `airisk_last_error`),
/// `AIRISK_ERR_LIMIT`, `AIRISK_ERR_RELOAD` (a registered system's profile is invalid or
/// prohibited under the new policy, or an open incident's category or severity is gone:
/// `airisk_last_error` names them).
///
/// # Safety
/// `e` must be NULL or a live engine; `policy_json` NULL or `len` readable bytes; `out`
/// NULL or valid for writing one `airisk_reload_report`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airisk_engine_reload(
    e: *mut airisk_engine,
    policy_json: *const c_char,
    len: usize,
    out: *mut airisk_reload_report,
) -> airisk_status {
    boundary("airisk_engine_reload", || {
        // SAFETY: the caller guarantees each pointer is NULL or valid (see # Safety).
        let (e, out, text) = unsafe {
            (
                engine(e)?,
                self::out(out, "out")?,
                str_arg(policy_json, len, "policy_json")?,
            )
        };
        let policy = Policy::from_json(text)?;
        let report = e.engine.reload(policy.clone())?;
        e.strings.set_policy(&policy);
        out.write(airisk_reload_report::of(&report));
        Ok(())
    })
}

/// Writes the report of the engine's last successful reload as one JSON object into
/// `buf`, NUL-terminated: `from_fingerprint`, `to_fingerprint` (hex), `systems`, `kept`,
/// `added`, `removed` (rule ids), `reset` (`[{"rule", "why", "systems"}]`: `why` is
/// `"definition"`, `"window ring size"` or `"thresholds"`), `regraded`
/// (`[{"system", "from", "to"}]`, grade ids), `silences_removed`, `problems` (empty after
/// a reload that succeeded) and `transitions`. After `airisk_engine_restore` under another
/// policy than the snapshot's, it is the report of that migration. Before any, the JSON is
/// `null`.
///
/// `*out_len` receives the JSON's length in bytes, without the NUL. If `cap` is at most
/// that length, the call returns `AIRISK_ERR_BUFFER`, writes nothing to `buf` and still
/// sets `*out_len` (allocate `*out_len + 1` bytes and call again; a reload on another
/// thread in between may change the length); `buf` may be NULL when `cap` is 0. Errors:
/// `AIRISK_ERR_NULL` (`e`, `out_len`, or `buf` with `cap > 0`). Thread-safe.
///
/// # Safety
/// `e` must be NULL or a live engine; `buf` NULL or valid for writing `cap` bytes;
/// `out_len` NULL or valid for writing one `size_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airisk_last_reload_report(
    e: *const airisk_engine,
    buf: *mut c_char,
    cap: usize,
    out_len: *mut usize,
) -> airisk_status {
    boundary("airisk_last_reload_report", || {
        // SAFETY: the caller guarantees each pointer is NULL or valid (see # Safety).
        let (e, out_len) = unsafe { (engine(e)?, out(out_len, "out_len")?) };
        if buf.is_null() && cap > 0 {
            return Err(Fail::null("buf"));
        }
        let json = serde_json::to_string(&e.engine.last_reload_report()).map_err(|err| {
            Fail::new(
                AIRISK_ERR_INTERNAL,
                format!("cannot serialise the report: {err}"),
            )
        })?;
        // SAFETY: `buf` is non-NULL when `cap > 0` (checked above) and valid for `cap` bytes.
        unsafe { write_text(&json, "the report", buf, cap, out_len) }
    })
}

/// Records `n` observations of one system at one time — `values[i]` of signal
/// `signals[i]` — then evaluates each rule that reads any of them once, in declaration
/// order, so a rate never dips between two signals of one period. The order of the
/// entries never changes the result. Each value is checked against the system's watermark
/// before the call; any invalid entry (a signal given twice, an unknown signal, a
/// non-finite value, a negative counter) or stale entry rejects the whole call and applies
/// nothing (`AIRISK_ERR_STALE` only when staleness is the only problem; the rejected
/// entries are counted in the stats). `n` = 0 is a no-op (`signals` and `values` may then
/// be NULL). On `AIRISK_OK`, `*out_level` is the system's level afterwards; on failure it
/// is unchanged. Errors: `AIRISK_ERR_NULL`, `AIRISK_ERR_INVALID_ARGUMENT` (misaligned
/// arrays, or `n` too large), `AIRISK_ERR_UNKNOWN_SYSTEM`, `AIRISK_ERR_UNKNOWN_SIGNAL`,
/// `AIRISK_ERR_VALUE`, `AIRISK_ERR_STALE`. No allocation for up to 16 entries unless a
/// transition is emitted. Thread-safe.
///
/// # Safety
/// `e` must be NULL or a live engine; `signals` NULL or `n` readable `uint32_t`s;
/// `values` NULL or `n` readable `double`s; `out_level` NULL or valid for writing one
/// `airisk_level`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airisk_observe_many(
    e: *mut airisk_engine,
    system: u32,
    signals: *const u32,
    values: *const f64,
    n: usize,
    ts_ms: i64,
    out_level: *mut airisk_level,
) -> airisk_status {
    boundary("airisk_observe_many", || {
        // SAFETY: the caller guarantees each pointer is NULL or valid (see # Safety).
        let (e, out, signals, values) = unsafe {
            (
                engine(e)?,
                out(out_level, "out_level")?,
                slice(signals, n, "signals", true)?,
                slice(values, n, "values", true)?,
            )
        };
        let batch: SmallVec<[(SignalId, f64); 16]> = signals
            .iter()
            .zip(values)
            .map(|(&s, &v)| (SignalId(s), v))
            .collect();
        let level = e.engine.observe_many(SystemHandle(system), &batch, ts_ms)?;
        out.write(level as airisk_level);
        Ok(())
    })
}

/// Largest silence document accepted (bytes).
const MAX_SILENCE_BYTES: usize = 64 * 1024;

/// Sets a silence given as the JSON document `(silence_json, len)`: `{"id": "s1",
/// "system": "id", "category": "id", "rule": "id", "starts": ts, "ends": ts, "reason":
/// "..", "by": ".."}`, where `system`, `category` and `rule` are optional matchers (absent:
/// any) and `reason` and `by` optional texts. From `starts` (inclusive) to `ends`
/// (exclusive), a matching rule transition is still emitted, with `silenced` naming the
/// silence (the smallest id, by byte order, when several match) and its actions reduced to
/// `AIRISK_ACTION_LOG` (a change to none keeps 0); a system-scope transition is muted only
/// by a silence without category and rule matchers. Levels, timers, `seq`, incidents and
/// their deadlines are never changed by a silence. A silence with the id of one already
/// set replaces it. Journaled. Errors: `AIRISK_ERR_NULL`, `AIRISK_ERR_UTF8`,
/// `AIRISK_ERR_JSON` (malformed, duplicate keys), `AIRISK_ERR_LIMIT` (above 64 KiB),
/// `AIRISK_ERR_SILENCE` (a missing, mistyped or unknown field with its path, a bad id,
/// `ends` not after `starts`, a rule or category the policy does not define).
/// On failure nothing changes. Thread-safe.
///
/// # Safety
/// `e` must be NULL or a live engine; `silence_json` NULL or `len` readable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airisk_silence(
    e: *mut airisk_engine,
    silence_json: *const c_char,
    len: usize,
) -> airisk_status {
    boundary("airisk_silence", || {
        // SAFETY: the caller guarantees each pointer is NULL or valid (see # Safety).
        let (e, text) = unsafe { (engine(e)?, str_arg(silence_json, len, "silence_json")?) };
        if text.len() > MAX_SILENCE_BYTES {
            return Err(Fail::new(
                AIRISK_ERR_LIMIT,
                format!(
                    "the silence is {} bytes; at most {MAX_SILENCE_BYTES} are accepted",
                    text.len()
                ),
            ));
        }
        let value = crate::json::parse_strict(text)
            .map_err(|m| Fail::new(AIRISK_ERR_JSON, format!("malformed silence: {m}")))?;
        let silence: Silence = serde_path_to_error::deserialize(value).map_err(|err| {
            let path = err.path().to_string();
            let at = if path == "." {
                String::new()
            } else {
                format!("{path}: ")
            };
            Fail::from(Error::Silence(format!("{at}{}", err.into_inner())))
        })?;
        e.engine.silence(silence)?;
        Ok(())
    })
}

/// Removes the silence with id `(id, len)`: later transitions are no longer muted by it
/// (those it muted stay as they were emitted). Journaled. Errors: `AIRISK_ERR_NULL`,
/// `AIRISK_ERR_UTF8`, `AIRISK_ERR_SILENCE` (no silence has this id). Thread-safe.
///
/// # Safety
/// `e` must be NULL or a live engine; `id` NULL or `len` readable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airisk_unsilence(
    e: *mut airisk_engine,
    id: *const c_char,
    len: usize,
) -> airisk_status {
    boundary("airisk_unsilence", || {
        // SAFETY: the caller guarantees each pointer is NULL or valid (see # Safety).
        let (e, id) = unsafe { (engine(e)?, str_arg(id, len, "id")?) };
        e.engine.unsilence(id)?;
        Ok(())
    })
}
