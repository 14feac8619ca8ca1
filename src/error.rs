//! The one error type of the crate.

use serde::Serialize;

/// One problem found in a policy document: where it is (a JSON path such as
/// `rules[3].thresholds.high`) and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Issue {
    /// JSON path of the offending value; empty for the document itself.
    pub path: String,
    /// A plain-language reason.
    pub reason: String,
}

impl std::fmt::Display for Issue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.reason)
        } else {
            write!(f, "{}: {}", self.path, self.reason)
        }
    }
}

/// Every error airisk reports. Each message names what was wrong and where.
///
/// The variants map one to one onto the C ABI's statuses (`airisk_status`).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input was not well-formed JSON (or had duplicate keys, or was too large).
    #[error("invalid JSON: {0}")]
    Json(String),
    /// The policy parsed but failed validation; every problem found is listed.
    #[error("invalid policy: {}", join_issues(.0))]
    Policy(Vec<Issue>),
    /// A profile is malformed or names something the policy does not define.
    #[error("invalid profile: {0}")]
    Profile(Issue),
    /// A system with this id is already registered.
    #[error("duplicate system id {0:?}")]
    Duplicate(String),
    /// No registered system has this handle (or it was deregistered).
    #[error("unknown system handle {0}")]
    UnknownSystem(u32),
    /// No registered system has this id: the id, quoted, and a suggestion when a
    /// registered id is close (`"bus 17"; did you mean "bus-17"?`; see
    /// [`Engine::lookup_system`](crate::Engine::lookup_system)).
    #[error("unknown system id {0}")]
    UnknownSystemId(String),
    /// The policy defines no signal with this id or index: the index as a number, or the
    /// name, quoted, and a suggestion when a signal's name is close
    /// (`"interactons"; did you mean "interactions"?`; see
    /// [`Engine::lookup_signal`](crate::Engine::lookup_signal)).
    #[error("unknown signal {0}")]
    UnknownSignal(String),
    /// An observation's value is not acceptable (non-finite, or a negative counter).
    #[error("invalid value {value} for signal {signal:?}: {reason}")]
    Value {
        /// Signal id.
        signal: String,
        /// The rejected value.
        value: f64,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// The observation's bucket has already left the system's ring.
    #[error(
        "stale observation at ts {ts_ms}: bucket {bucket} is at or before {oldest_rejected}, the newest bucket that has left the window ring"
    )]
    Stale {
        /// The observation's timestamp.
        ts_ms: i64,
        /// Its bucket index.
        bucket: i64,
        /// `idx(w) - B`: buckets at or below this are stale.
        oldest_rejected: i64,
    },
    /// The profile meets a prohibited use of the policy (`classification.prohibited`): it is
    /// refused registration, whatever its grade.
    #[error("prohibited use {id:?}: the profile meets its condition{}", basis.as_ref().map(|b| format!(" (basis: {b})")).unwrap_or_default())]
    Prohibited {
        /// The prohibited use's id.
        id: String,
        /// Its legal basis.
        basis: Option<String>,
    },
    /// No incident with this id is open or resolved (it never existed, or it closed).
    #[error(
        "unknown incident {0:?}: no incident with this id is open or awaiting its final report"
    )]
    UnknownIncident(String),
    /// What was acknowledged or filed is not owed now.
    #[error("not due: {0}")]
    NotDue(String),
    /// A silence is invalid (its window, or a matcher naming something the policy lacks),
    /// or no silence has the id given to remove.
    #[error("silence: {0}")]
    Silence(String),
    /// A policy reload was refused (nothing changed): a registered system or an open
    /// incident does not fit the new policy.
    #[error("reload refused: {0}")]
    Reload(String),
    /// A snapshot or journal could not be read or does not fit this engine.
    #[error("state: {0}")]
    State(String),
    /// An I/O error (journal files).
    #[error("i/o: {0}")]
    Io(String),
    /// A limit of the library was exceeded (sizes are capped; see the README).
    #[error("limit exceeded: {0}")]
    Limit(String),
}

fn join_issues(v: &[Issue]) -> String {
    let mut s = String::new();
    for (i, e) in v.iter().enumerate() {
        if i > 0 {
            s.push_str("; ");
        }
        s.push_str(&e.to_string());
    }
    s
}

impl Error {
    pub(crate) fn profile(path: impl Into<String>, reason: impl Into<String>) -> Error {
        Error::Profile(Issue {
            path: path.into(),
            reason: reason.into(),
        })
    }

    /// The policy issues, if this is a policy error.
    pub fn issues(&self) -> &[Issue] {
        match self {
            Error::Policy(v) => v,
            _ => &[],
        }
    }
}

/// `Result` with airisk's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
