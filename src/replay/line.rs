//! The event-line grammar: one JSON object per line, parsed strictly into an [`Event`].

use crate::classify::Profile;
use crate::error::Error;
use crate::incident::ReportKind;
use crate::silence::Silence;
use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use std::borrow::Cow;
use std::fmt;

/// Longest line [`super::Replayer::run`] accepts, in bytes (1 MiB). A longer line is skipped (and
/// reported as [`ErrorKind::TooLong`]) without being held in memory.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// One event of a log.
#[derive(Debug, Clone, PartialEq)]
pub enum Event<'a> {
    /// Register a system (classify it, fix its grade).
    Register {
        /// Informational time of the registration, if given.
        ts: Option<i64>,
        /// The system's profile (checked for its own rules, not yet against a policy).
        profile: Box<Profile>,
    },
    /// One observation of one signal of one system.
    Observe {
        /// Event time, ms.
        ts: i64,
        /// System id.
        system: Cow<'a, str>,
        /// Signal id.
        signal: Cow<'a, str>,
        /// The value (1 when the line leaves it out).
        value: f64,
    },
    /// Advance every system's clock to `ts` and evaluate every rule.
    Tick {
        /// The new time, ms.
        ts: i64,
    },
    /// Several observations of one system at one time (`{"op": "observe", "ts": ..,
    /// "system": "id", "values": {"interactions": 120, "hallucination_flagged": 7}}`),
    /// applied together ([`crate::Engine::observe_many`]).
    ObserveMany {
        /// Event time, ms.
        ts: i64,
        /// System id.
        system: Cow<'a, str>,
        /// (signal id, value) in the line's order (a repeated signal is kept, and rejected
        /// when applied).
        values: Vec<(Cow<'a, str>, f64)>,
    },
    /// Replace the policy (`{"op": "reload", "ts": .., "policy": {..}}`, or `"policy_file":
    /// "path"` relative to the log's folder).
    Reload {
        /// Informational time (a reload moves no clock).
        ts: i64,
        /// The policy document, or the file holding it.
        policy: PolicySource,
    },
    /// Acknowledge an incident (`{"op": "ack", "ts": .., "incident": "id", "by": ".."}`).
    Acknowledge {
        /// The caller's time, ms (moves no clock).
        ts: i64,
        /// Incident id.
        incident: Cow<'a, str>,
        /// Who acknowledges.
        by: Cow<'a, str>,
    },
    /// Set a silence (`{"op": "silence", "ts": .., "id": "s1", "system": .., "category": ..,
    /// "rule": .., "starts": .., "ends": .., "reason": .., "by": ..}`; the matchers, reason
    /// and by are optional).
    Silence {
        /// Informational time (setting a silence moves no clock).
        ts: i64,
        /// The silence.
        silence: Box<Silence>,
    },
    /// Remove a silence (`{"op": "unsilence", "ts": .., "id": "s1"}`).
    Unsilence {
        /// Informational time.
        ts: i64,
        /// The silence's id.
        id: Cow<'a, str>,
    },
    /// File a report of an incident (`{"op": "report", "ts": .., "incident": "id", "kind":
    /// "initial", "reference": ".."}`).
    FileReport {
        /// The caller's time, ms (moves no clock).
        ts: i64,
        /// Incident id.
        incident: Cow<'a, str>,
        /// Which report.
        kind: ReportKind,
        /// The caller's reference.
        reference: Cow<'a, str>,
    },
}

/// Where a reload line's policy comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum PolicySource {
    /// The document, inline.
    Inline(Box<serde_json::Value>),
    /// A path, relative to the log's folder when not absolute.
    File(String),
}

impl Event<'_> {
    /// The event's time, if it has one (a register line's is informational).
    pub fn ts(&self) -> Option<i64> {
        match self {
            Event::Register { ts, .. } => *ts,
            Event::Observe { ts, .. }
            | Event::Tick { ts }
            | Event::Acknowledge { ts, .. }
            | Event::FileReport { ts, .. }
            | Event::Silence { ts, .. }
            | Event::Unsilence { ts, .. }
            | Event::ObserveMany { ts, .. }
            | Event::Reload { ts, .. } => Some(*ts),
        }
    }

    /// The event with its ids owned, independent of the line it was parsed from.
    pub fn into_owned(self) -> Event<'static> {
        match self {
            Event::Register { ts, profile } => Event::Register { ts, profile },
            Event::Observe {
                ts,
                system,
                signal,
                value,
            } => Event::Observe {
                ts,
                system: Cow::Owned(system.into_owned()),
                signal: Cow::Owned(signal.into_owned()),
                value,
            },
            Event::Tick { ts } => Event::Tick { ts },
            Event::Silence { ts, silence } => Event::Silence { ts, silence },
            Event::ObserveMany { ts, system, values } => Event::ObserveMany {
                ts,
                system: Cow::Owned(system.into_owned()),
                values: values
                    .into_iter()
                    .map(|(s, v)| (Cow::Owned(s.into_owned()), v))
                    .collect(),
            },
            Event::Reload { ts, policy } => Event::Reload { ts, policy },
            Event::Unsilence { ts, id } => Event::Unsilence {
                ts,
                id: Cow::Owned(id.into_owned()),
            },
            Event::Acknowledge { ts, incident, by } => Event::Acknowledge {
                ts,
                incident: Cow::Owned(incident.into_owned()),
                by: Cow::Owned(by.into_owned()),
            },
            Event::FileReport {
                ts,
                incident,
                kind,
                reference,
            } => Event::FileReport {
                ts,
                incident: Cow::Owned(incident.into_owned()),
                kind,
                reference: Cow::Owned(reference.into_owned()),
            },
        }
    }
}

/// Why a line was rejected: the key of the per-reason counts in [`super::ReplayStats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Not well-formed JSON, or not valid UTF-8.
    MalformedJson,
    /// Well-formed JSON but not an event line: not an object, a missing or unknown field,
    /// a field of the wrong type.
    InvalidLine,
    /// `op` is not `register`, `observe` or `tick`.
    UnknownOp,
    /// The line is longer than [`MAX_LINE_BYTES`].
    TooLong,
    /// The profile of a register line is malformed or names something the policy lacks.
    InvalidProfile,
    /// A system with the profile's id is already registered.
    DuplicateSystem,
    /// No system with this id is registered.
    UnknownSystem,
    /// The policy defines no signal with this id.
    UnknownSignal,
    /// The engine rejected the value: not finite, or a negative counter.
    InvalidValue,
    /// The observation's bucket has already left the system's window ring.
    Stale,
    /// The profile meets a prohibited use of the policy.
    Prohibited,
    /// No incident with this id is open or awaiting its final report.
    UnknownIncident,
    /// A silence is invalid, or the silence to remove does not exist.
    InvalidSilence,
    /// A reload line's policy is invalid or cannot be read, or the reload was refused.
    ReloadRefused,
    /// The acknowledgement or report is not owed.
    NotDue,
    /// Any other error of the engine (a limit).
    Other,
}

impl ErrorKind {
    /// Every kind, in the order summaries list them.
    pub const ALL: [ErrorKind; 16] = [
        ErrorKind::MalformedJson,
        ErrorKind::InvalidLine,
        ErrorKind::UnknownOp,
        ErrorKind::TooLong,
        ErrorKind::InvalidProfile,
        ErrorKind::DuplicateSystem,
        ErrorKind::UnknownSystem,
        ErrorKind::UnknownSignal,
        ErrorKind::InvalidValue,
        ErrorKind::Stale,
        ErrorKind::Prohibited,
        ErrorKind::UnknownIncident,
        ErrorKind::InvalidSilence,
        ErrorKind::ReloadRefused,
        ErrorKind::NotDue,
        ErrorKind::Other,
    ];

    /// A short snake_case name (`malformed_json`, `unknown_system`, `stale`, ...).
    pub const fn name(self) -> &'static str {
        match self {
            ErrorKind::MalformedJson => "malformed_json",
            ErrorKind::InvalidLine => "invalid_line",
            ErrorKind::UnknownOp => "unknown_op",
            ErrorKind::TooLong => "too_long",
            ErrorKind::InvalidProfile => "invalid_profile",
            ErrorKind::DuplicateSystem => "duplicate_system",
            ErrorKind::UnknownSystem => "unknown_system",
            ErrorKind::UnknownSignal => "unknown_signal",
            ErrorKind::InvalidValue => "invalid_value",
            ErrorKind::Stale => "stale",
            ErrorKind::Prohibited => "prohibited",
            ErrorKind::UnknownIncident => "unknown_incident",
            ErrorKind::InvalidSilence => "invalid_silence",
            ErrorKind::ReloadRefused => "reload_refused",
            ErrorKind::NotDue => "not_due",
            ErrorKind::Other => "other",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A rejected line: what kind of problem, and a precise, readable reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    /// The kind (for counting).
    pub kind: ErrorKind,
    /// The reason, in words (`unknown system "bot-7": no register line for it came first`).
    pub message: String,
}

impl LineError {
    /// A line error of `kind` with `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> LineError {
        LineError {
            kind,
            message: message.into(),
        }
    }

    fn invalid(message: impl Into<String>) -> LineError {
        LineError::new(ErrorKind::InvalidLine, message)
    }

    /// The line error an engine error stands for.
    pub fn from_engine(e: &Error) -> LineError {
        let kind = match e {
            Error::Profile(_) | Error::Json(_) => ErrorKind::InvalidProfile,
            Error::Duplicate(_) => ErrorKind::DuplicateSystem,
            Error::UnknownSystem(_) | Error::UnknownSystemId(_) => ErrorKind::UnknownSystem,
            Error::UnknownSignal(_) => ErrorKind::UnknownSignal,
            Error::Value { .. } => ErrorKind::InvalidValue,
            Error::Stale { .. } => ErrorKind::Stale,
            Error::Prohibited { .. } => ErrorKind::Prohibited,
            Error::UnknownIncident(_) => ErrorKind::UnknownIncident,
            Error::Silence(_) => ErrorKind::InvalidSilence,
            Error::Reload(_) | Error::Policy(_) => ErrorKind::ReloadRefused,
            Error::NotDue(_) => ErrorKind::NotDue,
            _ => ErrorKind::Other,
        };
        LineError::new(kind, e.to_string())
    }
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for LineError {}

/// A string field that borrows from the line when it has no escapes.
struct Str<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Str<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Str<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Str<'de>, E> {
                Ok(Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Str<'de>, E> {
                Ok(Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Str<'de>, E> {
                Ok(Str(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// Every field any line may have; which ones a line may use depends on its `op`. A field
/// that is present must have a value of its type (`null` is not "absent").
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLine<'a> {
    #[serde(borrow, default, deserialize_with = "present_str")]
    op: Option<Str<'a>>,
    #[serde(default, deserialize_with = "present")]
    ts: Option<i64>,
    #[serde(borrow, default, deserialize_with = "present_str")]
    system: Option<Str<'a>>,
    #[serde(borrow, default, deserialize_with = "present_str")]
    signal: Option<Str<'a>>,
    #[serde(default, deserialize_with = "present")]
    value: Option<f64>,
    #[serde(default, deserialize_with = "present_strict")]
    profile: Option<serde_json::Value>,
    #[serde(borrow, default, deserialize_with = "present_str")]
    incident: Option<Str<'a>>,
    #[serde(borrow, default, deserialize_with = "present_str")]
    by: Option<Str<'a>>,
    #[serde(borrow, default, deserialize_with = "present_str")]
    kind: Option<Str<'a>>,
    #[serde(borrow, default, deserialize_with = "present_str")]
    reference: Option<Str<'a>>,
    #[serde(borrow, default, deserialize_with = "present_str")]
    id: Option<Str<'a>>,
    #[serde(borrow, default, deserialize_with = "present_str")]
    category: Option<Str<'a>>,
    #[serde(borrow, default, deserialize_with = "present_str")]
    rule: Option<Str<'a>>,
    #[serde(default, deserialize_with = "present")]
    starts: Option<i64>,
    #[serde(default, deserialize_with = "present")]
    ends: Option<i64>,
    #[serde(borrow, default, deserialize_with = "present_str")]
    reason: Option<Str<'a>>,
    #[serde(borrow, default, deserialize_with = "present_values")]
    values: Option<Vec<(Str<'a>, f64)>>,
    #[serde(default, deserialize_with = "present_strict")]
    policy: Option<serde_json::Value>,
    #[serde(borrow, default, deserialize_with = "present_str")]
    policy_file: Option<Str<'a>>,
}

/// The fields of an observe line, alone: most lines of a log are observations, and parsing
/// them into this small struct instead of [`RawLine`] (whose size the rarer ops' fields
/// make large) saves the copies of that struct. A line with any other field fails here and
/// is parsed again as a [`RawLine`], so both paths accept the same lines with the same result
/// (`fast_path_agrees_with_the_full_parser` checks it).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ObserveLine<'a> {
    #[serde(borrow, default, deserialize_with = "present_str")]
    op: Option<Str<'a>>,
    #[serde(default, deserialize_with = "present")]
    ts: Option<i64>,
    #[serde(borrow, default, deserialize_with = "present_str")]
    system: Option<Str<'a>>,
    #[serde(borrow, default, deserialize_with = "present_str")]
    signal: Option<Str<'a>>,
    #[serde(default, deserialize_with = "present")]
    value: Option<f64>,
    #[serde(borrow, default, deserialize_with = "present_values")]
    values: Option<Vec<(Str<'a>, f64)>>,
}

/// `values`: an object of signal → number, read in order with repeated keys kept.
fn present_values<'de: 'a, 'a, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Vec<(Str<'a>, f64)>>, D::Error> {
    struct V<'a>(std::marker::PhantomData<&'a ()>);
    impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
        type Value = Vec<(Str<'a>, f64)>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an object of signal ids to numbers")
        }
        fn visit_map<A: de::MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(k) = m.next_key::<Str<'a>>()? {
                let v: f64 = m.next_value()?;
                out.push((k, v));
            }
            Ok(out)
        }
    }
    d.deserialize_map(V(std::marker::PhantomData)).map(Some)
}

impl RawLine<'_> {
    /// The fields present, by name (`op` and `ts` aside).
    fn present(&self) -> [(&'static str, bool); 17] {
        [
            ("system", self.system.is_some()),
            ("signal", self.signal.is_some()),
            ("value", self.value.is_some()),
            ("profile", self.profile.is_some()),
            ("incident", self.incident.is_some()),
            ("by", self.by.is_some()),
            ("kind", self.kind.is_some()),
            ("reference", self.reference.is_some()),
            ("id", self.id.is_some()),
            ("category", self.category.is_some()),
            ("rule", self.rule.is_some()),
            ("starts", self.starts.is_some()),
            ("ends", self.ends.is_some()),
            ("reason", self.reason.is_some()),
            ("values", self.values.is_some()),
            ("policy", self.policy.is_some()),
            ("policy_file", self.policy_file.is_some()),
        ]
    }
}

/// The fields each op takes (besides `op` and `ts`).
const OPS: &[(&str, &[&str])] = &[
    ("observe", &["system", "signal", "value", "values"]),
    ("reload", &["policy", "policy_file"]),
    ("tick", &[]),
    ("register", &["profile"]),
    ("ack", &["incident", "by"]),
    ("report", &["incident", "kind", "reference"]),
    (
        "silence",
        &[
            "id", "system", "category", "rule", "starts", "ends", "reason", "by",
        ],
    ),
    ("unsilence", &["id"]),
];

fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// A JSON value with no duplicate key in any of its objects (a profile, a policy).
fn present_strict<'de, D: Deserializer<'de>>(d: D) -> Result<Option<serde_json::Value>, D::Error> {
    crate::json::deserialize_strict(d).map(Some)
}

fn present_str<'de: 'a, 'a, D: Deserializer<'de>>(d: D) -> Result<Option<Str<'a>>, D::Error> {
    Str::deserialize(d).map(Some)
}

fn is_blank(line: &[u8]) -> bool {
    line.iter().all(|b| b.is_ascii_whitespace())
}

/// serde_json says "at line 1 column 17"; on one line, the column is what helps.
fn json_message(e: &serde_json::Error) -> String {
    let msg = e.to_string();
    match msg.rfind(" at line ") {
        Some(i) => format!("{} at column {}", &msg[..i], e.column()),
        None => msg,
    }
}

/// A data error in plain words: serde's `invalid type: string "x", expected i64 at line 1
/// column 9` becomes `expected a whole number, found string "x" (column 9)`.
fn plain_data_error(e: &serde_json::Error) -> String {
    let msg = e.to_string();
    let body = msg.rfind(" at line ").map_or(msg.as_str(), |i| &msg[..i]);
    let rest = body
        .strip_prefix("invalid type: ")
        .or_else(|| body.strip_prefix("invalid value: "));
    let Some((found, want)) = rest.and_then(|r| r.split_once(", expected ")) else {
        return json_message(e);
    };
    let want = match want {
        "i64" | "u64" | "i32" | "u32" => "a whole number",
        "f64" => "a number",
        "a borrowed string" => "a string",
        w if w.starts_with("struct ") || w == "a map" => "a JSON object",
        w => w,
    };
    let found = match found {
        "sequence" => "an array".to_owned(),
        "map" => "an object".to_owned(),
        f => match f.split_once(" `") {
            Some(("integer" | "floating point", n)) => n.trim_end_matches('`').to_owned(),
            _ => f.to_owned(),
        },
    };
    format!("expected {want}, found {found} (column {})", e.column())
}

/// Parses one event line (without its line terminator; a trailing `\r` is tolerated).
///
/// Returns `Ok(None)` for a blank line. An observation line whose ids have no JSON escapes
/// borrows them from `line` and allocates nothing.
///
/// # Errors
/// A [`LineError`] of kind [`ErrorKind::MalformedJson`] (with the column), or
/// [`ErrorKind::UnknownOp`], [`ErrorKind::InvalidLine`] (naming the field), or
/// [`ErrorKind::InvalidProfile`] (naming the profile field).
pub fn parse_line(line: &[u8]) -> Result<Option<Event<'_>>, LineError> {
    if is_blank(line) {
        return Ok(None);
    }
    let Ok(text) = std::str::from_utf8(line) else {
        let at = std::str::from_utf8(line)
            .err()
            .map_or(0, |e| e.valid_up_to());
        return Err(LineError::new(
            ErrorKind::MalformedJson,
            format!("malformed JSON: invalid UTF-8 at byte {}", at + 1),
        ));
    };
    if let Ok(o) = serde_json::from_str::<ObserveLine<'_>>(text) {
        if o.op.as_ref().is_none_or(|op| op.0 == "observe") {
            return observe_event(o.ts, o.system, o.signal, o.value, o.values).map(Some);
        }
    }
    parse_full(text)
}

/// An observe line's event from its fields (shared by the fast path and [`parse_full`]).
fn observe_event<'a>(
    ts: Option<i64>,
    system: Option<Str<'a>>,
    signal: Option<Str<'a>>,
    value: Option<f64>,
    values: Option<Vec<(Str<'a>, f64)>>,
) -> Result<Event<'a>, LineError> {
    let need = |field: &str| LineError::invalid(format!("missing field `{field}` (observe line)"));
    let ts = || ts.ok_or_else(|| need("ts"));
    match values {
        Some(values) => {
            if signal.is_some() || value.is_some() {
                return Err(LineError::invalid(
                    "an observe line takes either `signal` (and `value`) or `values`, not both",
                ));
            }
            Ok(Event::ObserveMany {
                ts: ts()?,
                system: system.ok_or_else(|| need("system"))?.0,
                values: values.into_iter().map(|(k, v)| (k.0, v)).collect(),
            })
        }
        None => Ok(Event::Observe {
            ts: ts()?,
            system: system.ok_or_else(|| need("system"))?.0,
            signal: signal.ok_or_else(|| need("signal"))?.0,
            value: value.unwrap_or(1.0),
        }),
    }
}

/// Parses a non-blank UTF-8 line with every field any op may have.
fn parse_full(text: &str) -> Result<Option<Event<'_>>, LineError> {
    let raw: RawLine<'_> = match serde_json::from_str(text) {
        Ok(r) => r,
        Err(e) => {
            let kind = match e.classify() {
                serde_json::error::Category::Data => ErrorKind::InvalidLine,
                _ => ErrorKind::MalformedJson,
            };
            let not_object = kind == ErrorKind::InvalidLine && !text.trim_start().starts_with('{');
            let mut msg = if kind == ErrorKind::InvalidLine {
                plain_data_error(&e)
            } else {
                json_message(&e)
            };
            if kind == ErrorKind::InvalidLine && !not_object {
                // Off the hot path: parse again, tracking the path, to name the field.
                let mut de = serde_json::Deserializer::from_str(text);
                if let Err(pe) = serde_path_to_error::deserialize::<_, RawLine<'_>>(&mut de) {
                    let path = pe.path().to_string();
                    // A duplicate key in a profile or a policy is what the profile and
                    // policy loaders call it (the line itself is well formed).
                    if msg.starts_with(crate::json::DUPLICATE_KEY) {
                        let msg = format!("{path}: invalid JSON: {msg}");
                        match path.split(['.', '[']).next() {
                            Some("profile") => {
                                return Err(LineError::new(
                                    ErrorKind::InvalidProfile,
                                    format!("invalid profile: {msg}"),
                                ));
                            }
                            Some("policy") => {
                                return Err(LineError::new(
                                    ErrorKind::ReloadRefused,
                                    format!("the reload's policy is invalid: {msg}"),
                                ));
                            }
                            _ => {}
                        }
                    }
                    if path != "." && !path.is_empty() {
                        msg = format!("field `{path}`: {msg}");
                    }
                }
            }
            let msg = if kind == ErrorKind::MalformedJson {
                format!("malformed JSON: {msg}")
            } else if not_object {
                let found = match text.trim_start().as_bytes().first() {
                    Some(b'"') => "a string",
                    Some(b'[') => "an array",
                    Some(b't' | b'f') => "a boolean",
                    Some(b'n') => "null",
                    _ => "a number",
                };
                format!("not an event: each line must be one JSON object, found {found}")
            } else {
                msg
            };
            return Err(LineError::new(kind, msg));
        }
    };
    let op = raw.op.as_ref().map(|s| &*s.0).unwrap_or("observe");
    let Some((_, allowed)) = OPS.iter().find(|(o, _)| *o == op) else {
        let names: Vec<String> = OPS.iter().map(|(o, _)| format!("{o:?}")).collect();
        return Err(LineError::new(
            ErrorKind::UnknownOp,
            format!("unknown op {op:?}: expected one of {}", names.join(", ")),
        ));
    };
    for (field, present) in raw.present() {
        if present && !allowed.contains(&field) {
            return Err(LineError::invalid(format!(
                "field `{field}` is not allowed in a {op} line"
            )));
        }
    }
    let need = |field: &str| LineError::invalid(format!("missing field `{field}` ({op} line)"));
    let ts = || raw.ts.ok_or_else(|| need("ts"));
    match op {
        "observe" => observe_event(raw.ts, raw.system, raw.signal, raw.value, raw.values).map(Some),
        "reload" => {
            let policy = match (raw.policy, raw.policy_file) {
                (Some(v), None) => PolicySource::Inline(Box::new(v)),
                (None, Some(f)) => PolicySource::File(f.0.into_owned()),
                _ => {
                    return Err(LineError::invalid(
                        "a reload line takes exactly one of `policy` (the document) or `policy_file` (a path)",
                    ));
                }
            };
            Ok(Some(Event::Reload { ts: ts()?, policy }))
        }
        "tick" => Ok(Some(Event::Tick { ts: ts()? })),
        "register" => {
            let v = raw.profile.ok_or_else(|| need("profile"))?;
            let profile = Profile::from_value(v).map_err(|e| match e {
                Error::Profile(issue) if !issue.path.is_empty() => LineError::new(
                    ErrorKind::InvalidProfile,
                    format!("invalid profile: profile.{issue}"),
                ),
                e => LineError::new(ErrorKind::InvalidProfile, e.to_string()),
            })?;
            Ok(Some(Event::Register {
                ts: raw.ts,
                profile: Box::new(profile),
            }))
        }
        "silence" => {
            let own = |s: Option<Str<'_>>| s.map(|s| s.0.into_owned());
            Ok(Some(Event::Silence {
                ts: ts()?,
                silence: Box::new(Silence {
                    id: raw.id.ok_or_else(|| need("id"))?.0.into_owned(),
                    system: own(raw.system),
                    category: own(raw.category),
                    rule: own(raw.rule),
                    starts: raw.starts.ok_or_else(|| need("starts"))?,
                    ends: raw.ends.ok_or_else(|| need("ends"))?,
                    reason: own(raw.reason),
                    by: own(raw.by),
                }),
            }))
        }
        "unsilence" => Ok(Some(Event::Unsilence {
            ts: ts()?,
            id: raw.id.ok_or_else(|| need("id"))?.0,
        })),
        "ack" => Ok(Some(Event::Acknowledge {
            ts: ts()?,
            incident: raw.incident.ok_or_else(|| need("incident"))?.0,
            by: raw.by.ok_or_else(|| need("by"))?.0,
        })),
        _ => {
            let ts = ts()?;
            let incident = raw.incident.ok_or_else(|| need("incident"))?.0;
            let k = raw.kind.ok_or_else(|| need("kind"))?.0;
            let kind = ReportKind::from_name(&k).ok_or_else(|| {
                LineError::invalid(format!(
                    "field `kind`: unknown report kind {k:?} (expected \"initial\", \"update\" or \"final\")"
                ))
            })?;
            Ok(Some(Event::FileReport {
                ts,
                incident,
                kind,
                reference: raw.reference.ok_or_else(|| need("reference"))?.0,
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_observe_borrowing_ids() {
        let l = br#"{"ts": 5, "system": "a", "signal": "heartbeat"}"#;
        match parse_line(l).unwrap().unwrap() {
            Event::Observe {
                ts,
                system,
                signal,
                value,
            } => {
                assert_eq!((ts, value), (5, 1.0));
                assert!(matches!(system, Cow::Borrowed("a")));
                assert_eq!(signal, "heartbeat");
            }
            e => panic!("{e:?}"),
        }
    }

    #[test]
    fn decodes_escapes_in_ids() {
        let l = br#"{"op":"observe","ts":5,"system":"tri\u0061ge \"x\"","signal":"s","value":2.5}"#;
        let Some(Event::Observe { system, value, .. }) = parse_line(l).unwrap() else {
            panic!()
        };
        assert_eq!(system, "triage \"x\"");
        assert_eq!(value, 2.5);
    }

    /// Lines built from the observe fields, other ops' fields, wrong types, nulls, repeats,
    /// escapes and broken JSON: the fast path plus its fallback must give exactly what the
    /// full parser gives.
    #[test]
    // Safe code over serde_json: under Miri (scripts/nightly.sh) even 64 cases took 11
    // minutes, for no unsafe code of ours.
    #[cfg_attr(miri, ignore = "safe code; minutes under Miri")]
    fn fast_path_agrees_with_the_full_parser() {
        use proptest::prelude::*;
        let field = prop_oneof![
            Just(r#""op":"observe""#.to_string()),
            Just(r#""op":"tick""#.to_string()),
            Just(r#""op":"silence""#.to_string()),
            Just(r#""op":7"#.to_string()),
            Just(r#""op":null"#.to_string()),
            (-3i64..3).prop_map(|t| format!(r#""ts":{t}"#)),
            Just(r#""ts":1.5"#.to_string()),
            Just(r#""ts":"1""#.to_string()),
            Just(r#""system":"a""#.to_string()),
            Just(r#""system":"a"b""#.to_string()),
            Just(r#""system":null"#.to_string()),
            Just(r#""signal":"heartbeat""#.to_string()),
            Just(r#""signal":1"#.to_string()),
            (-2.0f64..2.0).prop_map(|v| format!(r#""value":{v}"#)),
            Just(r#""value":1e400"#.to_string()),
            Just(r#""value":"x""#.to_string()),
            Just(r#""values":{"interactions":3,"hallucination_flagged":1}"#.to_string()),
            Just(r#""values":{"interactions":3,"interactions":4}"#.to_string()),
            Just(r#""values":{}"#.to_string()),
            Just(r#""values":[1]"#.to_string()),
            Just(r#""id":"s1""#.to_string()),
            Just(r#""starts":1"#.to_string()),
            Just(r#""ends":2"#.to_string()),
            Just(r#""colour":1"#.to_string()),
            Just(r#""profile":{"id":"x"}"#.to_string()),
        ];
        let line = (
            proptest::collection::vec(field, 0..7),
            prop_oneof![Just(""), Just(" "), Just(","), Just("}")],
        )
            .prop_map(|(fields, tail)| format!("{{{}}}{tail}", fields.join(",")));
        let mut runner =
            proptest::test_runner::TestRunner::new(proptest::test_runner::Config::with_cases(4096));
        runner
            .run(&line, |l| {
                let full = parse_full(&l);
                prop_assert_eq!(parse_line(l.as_bytes()), full, "line {}", l);
                Ok(())
            })
            .unwrap();
    }

    #[test]
    fn rejects_with_precise_reasons() {
        let k = |l: &str| parse_line(l.as_bytes()).unwrap_err();
        assert_eq!(k("{").kind, ErrorKind::MalformedJson);
        assert_eq!(k("[1]").kind, ErrorKind::InvalidLine);
        assert_eq!(k(r#"{"op":"jump","ts":1}"#).kind, ErrorKind::UnknownOp);
        let e = k(r#"{"ts":1,"system":"a","signal":"b","colour":1}"#);
        assert_eq!(e.kind, ErrorKind::InvalidLine);
        assert!(e.message.contains("colour"), "{e}");
        let e = k(r#"{"op":"tick","ts":1,"system":"a"}"#);
        assert!(
            e.message.contains("`system` is not allowed in a tick"),
            "{e}"
        );
        let e = k(r#"{"system":"a","signal":"b"}"#);
        assert!(e.message.contains("missing field `ts`"), "{e}");
        let e = k(r#"{"op":"register","profile":{"id":"x"}}"#);
        assert_eq!(e.kind, ErrorKind::InvalidProfile);
        assert!(e.message.contains("sector"), "{e}");
        assert!(parse_line(b"  \t").unwrap().is_none());
    }

    /// `null` is never "absent" in an event line: not for the documents either.
    #[test]
    fn null_documents_are_not_absent() {
        let k = |l: &str| parse_line(l.as_bytes()).unwrap_err();
        let e = k(r#"{"op":"tick","ts":1,"profile":null}"#);
        assert_eq!(e.kind, ErrorKind::InvalidLine);
        assert!(e.message.contains("`profile` is not allowed"), "{e}");
        let e = k(r#"{"op":"tick","ts":1,"policy":null}"#);
        assert!(e.message.contains("`policy` is not allowed"), "{e}");
        let e = k(r#"{"op":"register","ts":1,"profile":null}"#);
        assert_eq!(e.kind, ErrorKind::InvalidProfile);
        assert!(e.message.contains("found null"), "{e}");
        let e = k(r#"{"op":"reload","ts":1,"policy":null,"policy_file":"p.json"}"#);
        assert!(e.message.contains("exactly one of"), "{e}");
    }
}
