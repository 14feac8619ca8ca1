//! Status codes, their mapping from [`crate::Error`], and the per-thread last-error detail.

use crate::error::Error;
use std::borrow::Cow;
use std::cell::RefCell;
use std::ffi::c_char;

/// The result of every fallible `airisk_*` function: `AIRISK_OK` (0) on success, else one of
/// the positive `AIRISK_ERR_*` codes.
///
/// The numbers are frozen: a code is never renumbered or reused, new codes are only ever
/// appended. Codes are positive; `0` is success. Read the detail of the last failure on
/// this thread with `airisk_last_error`, and a static name with `airisk_status_str`.
pub type airisk_status = i32;

/// Success.
pub const AIRISK_OK: airisk_status = 0;
/// A required pointer argument (input, output or engine) was NULL.
pub const AIRISK_ERR_NULL: airisk_status = 1;
/// A string argument was not valid UTF-8.
pub const AIRISK_ERR_UTF8: airisk_status = 2;
/// A JSON document was malformed (syntax, duplicate keys).
pub const AIRISK_ERR_JSON: airisk_status = 3;
/// A policy parsed but failed validation; `airisk_last_error` lists every problem with its
/// JSON path.
pub const AIRISK_ERR_POLICY: airisk_status = 4;
/// A profile is malformed or names something the policy does not define;
/// `airisk_last_error` names the offending field.
pub const AIRISK_ERR_PROFILE: airisk_status = 5;
/// A system with this id is already registered.
pub const AIRISK_ERR_DUPLICATE: airisk_status = 6;
/// No registered system has this handle or id (or it was deregistered).
pub const AIRISK_ERR_UNKNOWN_SYSTEM: airisk_status = 7;
/// The policy defines no signal with this index or name.
pub const AIRISK_ERR_UNKNOWN_SIGNAL: airisk_status = 8;
/// An observation's value was rejected: not finite, a negative counter, or `ts_ms` equal to
/// `INT64_MIN`.
pub const AIRISK_ERR_VALUE: airisk_status = 9;
/// An observation was older than the system's window ring keeps; it changed nothing.
pub const AIRISK_ERR_STALE: airisk_status = 10;
/// A Rust panic was caught at the boundary (a bug in airisk: please report it with the
/// `airisk_last_error` detail). The engine can still be used and freed; what the failed
/// call changed is unspecified.
pub const AIRISK_ERR_PANIC: airisk_status = 11;
/// A caller-supplied buffer was too small; the needed length was reported.
pub const AIRISK_ERR_BUFFER: airisk_status = 12;
/// A size limit of the library was exceeded (document size, number of systems, ...).
pub const AIRISK_ERR_LIMIT: airisk_status = 13;
/// A snapshot or journal could not be read or does not fit this engine.
pub const AIRISK_ERR_STATE: airisk_status = 14;
/// An I/O error.
pub const AIRISK_ERR_IO: airisk_status = 15;
/// An argument was out of range or misaligned (for example a length above `PTRDIFF_MAX`).
pub const AIRISK_ERR_INVALID_ARGUMENT: airisk_status = 16;
/// An error the library could not classify more precisely (an error kind newer than this
/// mapping).
pub const AIRISK_ERR_INTERNAL: airisk_status = 17;
/// No incident with this id is open or awaiting its final report (it never existed, or it
/// closed).
pub const AIRISK_ERR_UNKNOWN_INCIDENT: airisk_status = 18;
/// What was acknowledged or filed is not owed now: the incident was already acknowledged,
/// or that report is not due (not reportable, not resolved, or `final` while the initial or
/// an update report is still owed). `airisk_last_error` says which.
pub const AIRISK_ERR_NOT_DUE: airisk_status = 19;
/// The profile meets a prohibited use of the policy: it cannot be registered (or updated
/// to), whatever its grade. `airisk_classify` still answers, with `prohibited` set.
pub const AIRISK_ERR_PROHIBITED: airisk_status = 20;
/// A silence was refused (a bad id, `ends` not after `starts`, or a rule or category
/// matcher the policy does not define), or no silence has the id given to
/// `airisk_unsilence`; `airisk_last_error` says which.
pub const AIRISK_ERR_SILENCE: airisk_status = 21;
/// A policy reload (or a restore under another policy, which reloads) was refused and
/// changed nothing: a registered system's profile is invalid or prohibited under the new
/// policy, or an open incident's category or severity is gone; `airisk_last_error` names
/// the systems or the incident.
pub const AIRISK_ERR_RELOAD: airisk_status = 22;

/// Every status with its static name (NUL-terminated), in numeric order.
pub(crate) const STATUS_NAMES: [(airisk_status, &str); 23] = [
    (AIRISK_OK, "AIRISK_OK: success\0"),
    (
        AIRISK_ERR_NULL,
        "AIRISK_ERR_NULL: a required pointer is NULL\0",
    ),
    (
        AIRISK_ERR_UTF8,
        "AIRISK_ERR_UTF8: string is not valid UTF-8\0",
    ),
    (AIRISK_ERR_JSON, "AIRISK_ERR_JSON: malformed JSON\0"),
    (AIRISK_ERR_POLICY, "AIRISK_ERR_POLICY: invalid policy\0"),
    (AIRISK_ERR_PROFILE, "AIRISK_ERR_PROFILE: invalid profile\0"),
    (
        AIRISK_ERR_DUPLICATE,
        "AIRISK_ERR_DUPLICATE: system id already registered\0",
    ),
    (
        AIRISK_ERR_UNKNOWN_SYSTEM,
        "AIRISK_ERR_UNKNOWN_SYSTEM: unknown system\0",
    ),
    (
        AIRISK_ERR_UNKNOWN_SIGNAL,
        "AIRISK_ERR_UNKNOWN_SIGNAL: unknown signal\0",
    ),
    (AIRISK_ERR_VALUE, "AIRISK_ERR_VALUE: invalid value\0"),
    (AIRISK_ERR_STALE, "AIRISK_ERR_STALE: stale observation\0"),
    (
        AIRISK_ERR_PANIC,
        "AIRISK_ERR_PANIC: internal panic caught\0",
    ),
    (AIRISK_ERR_BUFFER, "AIRISK_ERR_BUFFER: buffer too small\0"),
    (AIRISK_ERR_LIMIT, "AIRISK_ERR_LIMIT: limit exceeded\0"),
    (AIRISK_ERR_STATE, "AIRISK_ERR_STATE: invalid state\0"),
    (AIRISK_ERR_IO, "AIRISK_ERR_IO: i/o error\0"),
    (
        AIRISK_ERR_INVALID_ARGUMENT,
        "AIRISK_ERR_INVALID_ARGUMENT: invalid argument\0",
    ),
    (AIRISK_ERR_INTERNAL, "AIRISK_ERR_INTERNAL: internal error\0"),
    (
        AIRISK_ERR_UNKNOWN_INCIDENT,
        "AIRISK_ERR_UNKNOWN_INCIDENT: unknown incident\0",
    ),
    (AIRISK_ERR_NOT_DUE, "AIRISK_ERR_NOT_DUE: not due\0"),
    (
        AIRISK_ERR_PROHIBITED,
        "AIRISK_ERR_PROHIBITED: prohibited use\0",
    ),
    (
        AIRISK_ERR_SILENCE,
        "AIRISK_ERR_SILENCE: invalid or unknown silence\0",
    ),
    (AIRISK_ERR_RELOAD, "AIRISK_ERR_RELOAD: reload refused\0"),
];

/// The name of a value that is no status.
pub(crate) const UNKNOWN_STATUS: &str = "unknown status\0";

/// The static, NUL-terminated name of a status (unknown values included).
pub(crate) fn status_name(status: i32) -> *const c_char {
    let s = usize::try_from(status)
        .ok()
        .and_then(|i| STATUS_NAMES.get(i))
        .filter(|(code, _)| *code == status)
        .map_or(UNKNOWN_STATUS, |(_, s)| *s);
    s.as_ptr().cast()
}

/// The status of a library error. `Error` is `#[non_exhaustive]`: a variant added later
/// falls back to `AIRISK_ERR_INTERNAL` until it is mapped here.
pub(crate) fn status_of(e: &Error) -> airisk_status {
    #[allow(unreachable_patterns)]
    match e {
        Error::Json(_) => AIRISK_ERR_JSON,
        Error::Policy(_) => AIRISK_ERR_POLICY,
        Error::Profile(_) => AIRISK_ERR_PROFILE,
        Error::Duplicate(_) => AIRISK_ERR_DUPLICATE,
        Error::UnknownSystem(_) | Error::UnknownSystemId(_) => AIRISK_ERR_UNKNOWN_SYSTEM,
        Error::UnknownSignal(_) => AIRISK_ERR_UNKNOWN_SIGNAL,
        Error::Value { .. } => AIRISK_ERR_VALUE,
        Error::Stale { .. } => AIRISK_ERR_STALE,
        Error::State(_) => AIRISK_ERR_STATE,
        Error::Io(_) => AIRISK_ERR_IO,
        Error::Limit(_) => AIRISK_ERR_LIMIT,
        Error::UnknownIncident(_) => AIRISK_ERR_UNKNOWN_INCIDENT,
        Error::NotDue(_) => AIRISK_ERR_NOT_DUE,
        Error::Prohibited { .. } => AIRISK_ERR_PROHIBITED,
        Error::Silence(_) => AIRISK_ERR_SILENCE,
        Error::Reload(_) => AIRISK_ERR_RELOAD,
        _ => AIRISK_ERR_INTERNAL,
    }
}

/// What went wrong, kept until `airisk_last_error` formats it (formatting is deferred so a
/// rejected observation on a hot path costs no string formatting).
#[derive(Debug)]
pub(crate) enum Detail {
    /// A library error: formatted with its `Display` (the JSON path and reason for policies,
    /// the field for profiles).
    Error(Error),
    /// A boundary problem, prefixed with the function's name when formatted.
    Msg(Cow<'static, str>),
}

/// A failed call: its status and detail.
#[derive(Debug)]
pub(crate) struct Fail {
    /// The status returned.
    pub status: airisk_status,
    /// The detail recorded for `airisk_last_error`.
    pub detail: Detail,
}

impl Fail {
    /// A failure with a boundary message.
    pub(crate) fn new(status: airisk_status, msg: impl Into<Cow<'static, str>>) -> Fail {
        Fail {
            status,
            detail: Detail::Msg(msg.into()),
        }
    }

    /// `AIRISK_ERR_NULL` for the pointer parameter `param`.
    pub(crate) fn null(param: &'static str) -> Fail {
        Fail::new(AIRISK_ERR_NULL, NullMsg(param).to_string())
    }
}

/// "`param` is NULL", formatted only when read.
struct NullMsg(&'static str);

impl std::fmt::Display for NullMsg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "`{}` is NULL", self.0)
    }
}

impl From<Error> for Fail {
    fn from(e: Error) -> Fail {
        Fail {
            status: status_of(&e),
            detail: Detail::Error(e),
        }
    }
}

/// A thread's last failure.
struct LastError {
    /// The export that failed.
    func: &'static str,
    /// What went wrong.
    detail: Detail,
}

thread_local! {
    static LAST_ERROR: RefCell<Option<LastError>> = const { RefCell::new(None) };
}

/// Records the detail of a failed call of `func` for this thread.
pub(crate) fn set_last_error(func: &'static str, detail: Detail) {
    // `try_with`: during thread teardown the slot may be gone; the detail is then lost,
    // which is better than a panic.
    let _ = LAST_ERROR.try_with(|slot| {
        if let Ok(mut slot) = slot.try_borrow_mut() {
            *slot = Some(LastError { func, detail });
        }
    });
}

/// This thread's last error detail, formatted; empty when no call has failed.
pub(crate) fn last_error_text() -> String {
    LAST_ERROR
        .try_with(|slot| match &*slot.borrow() {
            None => String::new(),
            Some(LastError {
                detail: Detail::Error(e),
                ..
            }) => e.to_string(),
            Some(LastError {
                func,
                detail: Detail::Msg(m),
            }) => format!("{func}: {m}"),
        })
        .unwrap_or_default()
}
