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

/// `airisk_transition.rule` of a system-scope transition, and `airisk_incident_event.rule`
/// of an event no rule transition caused: no rule.
pub const AIRISK_NO_RULE: u32 = u32::MAX;

/// `airisk_incident_event.level` of an event no rule transition caused: no level (distinct
/// from `AIRISK_LEVEL_NONE`, which a `resolved` event carries).
pub const AIRISK_NO_LEVEL: airisk_level = u32::MAX;

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
/// Action bit: report to the regulator within `report_within_s` (never under a policy with
/// an `incidents` section, whose reporting deadlines live on incidents).
pub const AIRISK_ACTION_REPORT_REGULATOR: u32 = 64;
/// Action bit: inform the public.
pub const AIRISK_ACTION_PUBLIC_NOTICE: u32 = 128;

/// What happened to an incident: one of the `AIRISK_INCIDENT_*` values.
pub type airisk_incident_event_kind = u32;

/// A rule of the category reached the policy's `open_at` level; the incident opened.
pub const AIRISK_INCIDENT_OPENED: airisk_incident_event_kind = 1;
/// Its severity rose.
pub const AIRISK_INCIDENT_ESCALATED: airisk_incident_event_kind = 2;
/// The operator acknowledged it (`airisk_acknowledge`).
pub const AIRISK_INCIDENT_ACKNOWLEDGED: airisk_incident_event_kind = 3;
/// A report was filed (`airisk_file_report`).
pub const AIRISK_INCIDENT_REPORT_FILED: airisk_incident_event_kind = 4;
/// A report or the acknowledgement was not made by its deadline.
pub const AIRISK_INCIDENT_OVERDUE: airisk_incident_event_kind = 5;
/// Every rule of the category is back at none.
pub const AIRISK_INCIDENT_RESOLVED: airisk_incident_event_kind = 6;
/// A rule rose to `open_at` again before the incident closed.
pub const AIRISK_INCIDENT_REOPENED: airisk_incident_event_kind = 7;
/// The incident is over: resolved and, if reportable, its final report filed.
pub const AIRISK_INCIDENT_CLOSED: airisk_incident_event_kind = 8;

/// A report to the regulator: one of the `AIRISK_REPORT_*` values. Each equals the
/// `AIRISK_DUE_*` value of the same name, so an event's `due` (other than
/// `AIRISK_DUE_ACK`) can be passed to `airisk_file_report` as is.
pub type airisk_report_kind = u32;

/// No report (`airisk_incident_event.report` of an event that is not `report_filed`).
pub const AIRISK_REPORT_NONE: airisk_report_kind = 0;
/// The initial report, once the incident is reportable.
pub const AIRISK_REPORT_INITIAL: airisk_report_kind = 1;
/// An update report, after an escalation of a reportable incident whose initial report
/// was filed.
pub const AIRISK_REPORT_UPDATE: airisk_report_kind = 2;
/// The final report, after resolution; filing it closes the incident.
pub const AIRISK_REPORT_FINAL: airisk_report_kind = 3;

/// What an incident owes by a deadline: one of the `AIRISK_DUE_*` values.
pub type airisk_due_kind = u32;

/// Nothing is owed.
pub const AIRISK_DUE_NONE: airisk_due_kind = 0;
/// The initial report (= `AIRISK_REPORT_INITIAL`).
pub const AIRISK_DUE_INITIAL: airisk_due_kind = 1;
/// An update report (= `AIRISK_REPORT_UPDATE`).
pub const AIRISK_DUE_UPDATE: airisk_due_kind = 2;
/// The final report (= `AIRISK_REPORT_FINAL`).
pub const AIRISK_DUE_FINAL: airisk_due_kind = 3;
/// The acknowledgement (only in `overdue` events).
pub const AIRISK_DUE_ACK: airisk_due_kind = 4;

/// The grade of a profile, as computed by `airisk_classify` (and `airisk_update_profile`).
///
/// The string fields are NUL-terminated UTF-8 owned by the engine, valid until
/// `airisk_engine_free`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct airisk_classification {
    /// Grade rank, 0 = the lowest grade of the policy's ladder.
    pub grade: u32,
    /// The classification score.
    pub score: i32,
    /// Grade id.
    pub grade_id: *const c_char,
    /// Whether the profile meets a prohibited use of the policy (the first one declared
    /// whose condition holds is named below). Such a profile is refused by
    /// `airisk_register` and `airisk_update_profile` (`AIRISK_ERR_PROHIBITED`).
    pub prohibited: bool,
    /// The prohibited use's id; NULL when `prohibited` is false.
    pub prohibited_id: *const c_char,
    /// The prohibited use's legal basis; NULL when `prohibited` is false or the policy
    /// gives none.
    pub prohibited_basis: *const c_char,
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
    /// Incident events emitted (delivered or dropped); equals the last incident event's
    /// `seq`.
    pub incident_events: u64,
    /// Incident events that found the incident queue full.
    pub incidents_dropped: u64,
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
    /// Deadline to report to the regulator, in seconds; -1 for none (always -1 under a
    /// policy with an `incidents` section: deadlines live on incident events).
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
    /// The grade's display name in Chinese; NULL where the policy gives none.
    pub grade_name_zh: *const c_char,
    /// The grade's display name in English; NULL where the policy gives none.
    pub grade_name_en: *const c_char,
    /// The rule's display name in Chinese; NULL for system scope or where the policy gives
    /// none.
    pub rule_name_zh: *const c_char,
    /// The rule's display name in English; NULL for system scope or where the policy gives
    /// none.
    pub rule_name_en: *const c_char,
    /// The rule's category's display name in Chinese; NULL for system scope or where the
    /// policy gives none.
    pub category_name_zh: *const c_char,
    /// The rule's category's display name in English; NULL for system scope or where the
    /// policy gives none.
    pub category_name_en: *const c_char,
    /// The id of the silence that muted it (its actions reduced to `AIRISK_ACTION_LOG`, or
    /// 0 for a change to none); NULL when no silence did (see `airisk_silence`).
    pub silenced: *const c_char,
    /// The id of the policy's inhibition that muted it; NULL when none did.
    pub inhibited_by: *const c_char,
    /// Why it happened when not by evaluation: `"policy_reload"` for a rule that a reload
    /// reset or removed while it was above none (`airisk_engine_reload`); NULL otherwise.
    /// For a removed rule, `rule` is its index in the policy before the reload.
    pub reason: *const c_char,
}

/// An event of an incident (under a policy with an `incidents` section): its opening,
/// escalation, acknowledgement, a filed report, a missed deadline, its resolution,
/// reopening or closing. Incident events have their own stream (`airisk_poll_incidents`,
/// `airisk_set_incident_callback`) and their own `seq`.
///
/// The string fields are NUL-terminated UTF-8 owned by the engine and stay valid until
/// `airisk_engine_free` (copy them to keep them longer); they are NULL where absent. The
/// engine keeps one copy of each distinct incident id, reference and `by` name it hands
/// out, so its memory grows with their number until it is freed.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct airisk_incident_event {
    /// Incident-stream sequence number: from 1, +1 for every incident event emitted
    /// (delivered or dropped), so a gap means a loss. Independent of transitions' `seq`.
    pub seq: u64,
    /// Event time in milliseconds: the system's watermark, or the caller's time for an
    /// acknowledgement or a filing.
    pub ts_ms: i64,
    /// What happened (`AIRISK_INCIDENT_*`).
    pub event: airisk_incident_event_kind,
    /// System handle.
    pub system: u32,
    /// The incident's id, `"<system id>/<category id>/<n>"`.
    pub incident: *const c_char,
    /// System id.
    pub system_id: *const c_char,
    /// Risk category id.
    pub category: *const c_char,
    /// Severity id after the event (the highest so far; it never falls).
    pub severity: *const c_char,
    /// Severity rank in the policy's ladder, 0 = lowest.
    pub severity_rank: u32,
    /// Whether the incident is reportable after the event (its severity reached the
    /// policy's `report_at`).
    pub reportable: bool,
    /// The system's operator type (it sets the reporting deadlines).
    pub operator_type: *const c_char,
    /// The earliest-deadline report still owed after the event (`AIRISK_DUE_INITIAL`,
    /// `_UPDATE`, `_FINAL`), or `AIRISK_DUE_NONE`; for `overdue`, what was missed (which may
    /// be `AIRISK_DUE_ACK`).
    pub due: airisk_due_kind,
    /// The deadline of `due`, in milliseconds; `INT64_MIN` when `due` is `AIRISK_DUE_NONE`.
    pub due_by: i64,
    /// Index of the rule whose transition caused the event (`opened`, `reopened`,
    /// `escalated`, `resolved`, the `closed` right after it), else `AIRISK_NO_RULE`.
    pub rule: u32,
    /// That transition's new level (`AIRISK_LEVEL_*`), else `AIRISK_NO_LEVEL`.
    pub level: airisk_level,
    /// That rule's id; NULL when `rule` is `AIRISK_NO_RULE`.
    pub rule_id: *const c_char,
    /// Legal basis of the reporting duty (the policy's incidents section); NULL where the
    /// policy gives none.
    pub basis: *const c_char,
    /// `report_filed`: which report (`AIRISK_REPORT_*`); else `AIRISK_REPORT_NONE`.
    pub report: airisk_report_kind,
    /// `report_filed`: 1 if filed at or after its deadline, 0 if on time; -1 for any other
    /// event.
    pub late: i32,
    /// `report_filed`: the caller's reference; else NULL.
    pub reference: *const c_char,
    /// `acknowledged`: by whom; else NULL.
    pub by: *const c_char,
    /// The category's display name in Chinese; NULL where the policy gives none.
    pub category_name_zh: *const c_char,
    /// The category's display name in English; NULL where the policy gives none.
    pub category_name_en: *const c_char,
    /// The severity's display name in Chinese; NULL where the policy gives none.
    pub severity_name_zh: *const c_char,
    /// The severity's display name in English; NULL where the policy gives none.
    pub severity_name_en: *const c_char,
    /// The rule's display name in Chinese; NULL without a rule or where the policy gives
    /// none.
    pub rule_name_zh: *const c_char,
    /// The rule's display name in English; NULL without a rule or where the policy gives
    /// none.
    pub rule_name_en: *const c_char,
}

/// The current level of one rule of a system (`airisk_rule_levels`).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct airisk_rule_level {
    /// Rule index in the policy.
    pub rule: u32,
    /// Its current level (`AIRISK_LEVEL_*`).
    pub level: airisk_level,
    /// Rule id (NUL-terminated, owned by the engine, valid until `airisk_engine_free`).
    pub rule_id: *const c_char,
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

/// An incident-event callback (see `airisk_set_incident_callback`).
///
/// Called on the thread whose call caused the event, with no engine lock held; `ev` and
/// its strings' storage are valid during the call (the strings until
/// `airisk_engine_free`). It may call back into the engine (except `airisk_engine_free`).
/// It must not unwind (no C++ exception, no `longjmp`) out of the call.
pub type airisk_incident_cb =
    Option<unsafe extern "C" fn(ev: *const airisk_incident_event, user: *mut c_void)>;
