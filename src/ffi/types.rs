//! Plain C data types and constants of the ABI.

use std::ffi::{c_char, c_void};

/// A warning level: one of the `AIRISK_LEVEL_*` values (0 = none ... 4 = red), ordered.
pub type airisk_level = u32;

/// No warning.
pub const AIRISK_LEVEL_NONE: airisk_level = 0;
/// Blue: level IV (一般).
pub const AIRISK_LEVEL_BLUE: airisk_level = 1;
/// Yellow: level III (较大).
pub const AIRISK_LEVEL_YELLOW: airisk_level = 2;
/// Orange: level II (重大).
pub const AIRISK_LEVEL_ORANGE: airisk_level = 3;
/// Red: level I (特别重大).
pub const AIRISK_LEVEL_RED: airisk_level = 4;

/// `airisk_transition.rule` of a system-scope transition (no rule).
pub const AIRISK_NO_RULE: u32 = u32::MAX;

/// Action bit: record the event.
pub const AIRISK_ACTION_LOG: u32 = 1;
/// Action bit: tell the system's operator.
pub const AIRISK_ACTION_NOTIFY_OPERATOR: u32 = 2;
/// Action bit: put decisions under human review.
pub const AIRISK_ACTION_HUMAN_REVIEW: u32 = 4;
/// Action bit: reduce the system's throughput.
pub const AIRISK_ACTION_THROTTLE: u32 = 8;
/// Action bit: switch to a fallback (non-AI or safer) path.
pub const AIRISK_ACTION_FALLBACK: u32 = 16;
/// Action bit: suspend the system.
pub const AIRISK_ACTION_SUSPEND: u32 = 32;
/// Action bit: report to the regulator within `report_within_s`.
pub const AIRISK_ACTION_REPORT_REGULATOR: u32 = 64;
/// Action bit: inform the public.
pub const AIRISK_ACTION_PUBLIC_NOTICE: u32 = 128;

/// The grade of a profile, as computed by `airisk_classify`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct airisk_classification {
    /// Grade rank, 0 = the lowest grade of the policy's ladder.
    pub grade: u32,
    /// The classification score.
    pub score: i32,
    /// Grade id (NUL-terminated); valid until `airisk_engine_free`.
    pub grade_id: *const c_char,
}

/// Counters of an engine, all since its creation.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct airisk_stats {
    /// Observations accepted.
    pub observed: u64,
    /// Observations rejected as stale.
    pub rejected_stale: u64,
    /// Observations rejected as invalid (non-finite value, negative counter, unknown system
    /// or signal).
    pub rejected_invalid: u64,
    /// Transitions emitted, delivered or dropped; equals the last `seq`.
    pub transitions: u64,
    /// Transitions that found the queue full.
    pub dropped: u64,
    /// Systems currently registered.
    pub systems: u64,
    /// Audit-journal records that could not be written (I/O errors); 0 without a journal.
    pub journal_errors: u64,
}

/// A change of a rule's or a system's warning level, with the response of its new level.
///
/// The string fields are NUL-terminated UTF-8 owned by the engine and stay valid until
/// `airisk_engine_free` (copy them to keep them longer); they are NULL where absent.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct airisk_transition {
    /// Engine-wide sequence number: from 1, +1 for every transition emitted (delivered or
    /// dropped), so a gap means a loss.
    pub seq: u64,
    /// Evaluation time (the system's watermark), in milliseconds.
    pub ts_ms: i64,
    /// System handle.
    pub system: u32,
    /// Rule index in the policy, or `AIRISK_NO_RULE` for a system-scope transition.
    pub rule: u32,
    /// Previous level (`AIRISK_LEVEL_*`).
    pub from: airisk_level,
    /// New level (`AIRISK_LEVEL_*`).
    pub to: airisk_level,
    /// The system's grade rank.
    pub grade: u32,
    /// The aggregate that caused the change; NaN when the window was empty or for system
    /// scope.
    pub value: f64,
    /// Threshold of the new level; NaN for `AIRISK_LEVEL_NONE` and for system scope.
    pub threshold: f64,
    /// Response actions of the new level (`AIRISK_ACTION_*` bits); 0 for a change to none.
    pub actions: u32,
    /// Deadline to report to the regulator, in seconds; -1 for none.
    pub report_within_s: i64,
    /// System id.
    pub system_id: *const c_char,
    /// Rule id; NULL for system scope.
    pub rule_id: *const c_char,
    /// Risk category id of the rule; NULL for system scope or a rule without category.
    pub category: *const c_char,
    /// Legal basis of the rule; NULL where the policy gives none and for system scope.
    pub basis: *const c_char,
    /// The system's grade id.
    pub grade_id: *const c_char,
}

/// One observation for `airisk_observe_batch`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct airisk_observation {
    /// System handle (from `airisk_register`).
    pub system: u32,
    /// Signal index (from `airisk_signal`).
    pub signal: u32,
    /// The value: finite; ≥ 0 for a counter.
    pub value: f64,
    /// Event time in milliseconds.
    pub ts_ms: i64,
}

/// A transition callback (see `airisk_set_callback`).
///
/// Called on the thread whose call caused the transition, with no engine lock held; `t` and
/// its strings' storage are valid during the call (the strings until `airisk_engine_free`).
/// It may call back into the engine (except `airisk_engine_free`). It must not unwind
/// (no C++ exception, no `longjmp`) out of the call.
pub type airisk_transition_cb =
    Option<unsafe extern "C" fn(t: *const airisk_transition, user: *mut c_void)>;
