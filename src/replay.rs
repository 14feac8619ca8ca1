//! Event logs (JSON Lines) and their replay through an engine.
//!
//! An event log is a text file with one JSON object per line (DESIGN.md section 5). Three
//! kinds of line exist:
//!
//! ```text
//! {"op": "register", "ts": 1764374400000, "profile": {"id": "triage-bot", ...}}
//! {"op": "observe", "ts": 1764374400000, "system": "triage-bot", "signal": "interactions", "value": 1}
//! {"ts": 1764374400000, "system": "triage-bot", "signal": "interactions"}
//! {"op": "tick", "ts": 1764374460000}
//! ```
//!
//! - `op` may be left out for an observation; `value` defaults to 1.
//! - The `ts` of a register line is informational and may be left out: registering moves no
//!   clock. `ts` is required for observe and tick lines and is an integer (milliseconds).
//! - Lines that are empty or only whitespace are ignored.
//! - Parsing is strict: a field the line's `op` does not take, or an unknown field, is an
//!   error; so is a wrong type. JSON escapes in ids (`"tri\u0061ge-bot"`) are decoded.
//!
//! [`parse_line`] parses one line into an [`Event`] without allocating for the usual
//! observation line (ids borrow from the line). A [`Replayer`] owns an [`Engine`], applies
//! events to it with id → handle caches, counts what happened in [`ReplayStats`], and hands
//! out the transitions the engine emitted. [`Replayer::run`] streams a whole log from any
//! [`BufRead`] in constant memory, reporting to a [`ReplayHandler`].
//!
//! ```
//! use airisk::Policy;
//! use airisk::replay::{Replayer, ReplayHandler};
//!
//! let log = br#"{"op": "register", "profile": {"id": "bot", "sector": "healthcare_clinical", "data": "sensitive_personal", "autonomy": "autonomous", "users": 10}}
//! {"ts": 0, "system": "bot", "signal": "safety_incidents"}
//! {"ts": 1, "system": "nobody", "signal": "heartbeat"}
//! "#;
//! struct Collect(Vec<String>, Vec<u64>);
//! impl ReplayHandler for Collect {
//!     fn transition(&mut self, t: &airisk::Transition) -> std::io::Result<()> {
//!         self.0.push(t.to_json());
//!         Ok(())
//!     }
//!     fn rejected(&mut self, line: u64, _e: &airisk::replay::LineError) -> std::io::Result<()> {
//!         self.1.push(line);
//!         Ok(())
//!     }
//! }
//! let mut r = Replayer::new(Policy::default_policy());
//! let mut c = Collect(Vec::new(), Vec::new());
//! r.run(&log[..], &mut c)?;
//! assert_eq!(c.1, vec![3]); // line 3 names an unregistered system
//! assert!(c.0[0].contains(r#""rule":"safety-incidents""#));
//! assert_eq!(r.stats().accepted, 2);
//! # Ok::<(), std::io::Error>(())
//! ```

use crate::classify::{Classification, Profile};
use crate::engine::{Engine, SignalId, Sink, SystemHandle};
use crate::error::Error;
use crate::level::Level;
use crate::policy::Policy;
use crate::response::{Scope, Transition};
use parking_lot::Mutex;
use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::io::{self, BufRead};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Longest line [`Replayer::run`] accepts, in bytes (1 MiB). A longer line is skipped (and
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
}

impl Event<'_> {
    /// The event's time, if it has one (a register line's is informational).
    pub fn ts(&self) -> Option<i64> {
        match self {
            Event::Register { ts, .. } => *ts,
            Event::Observe { ts, .. } | Event::Tick { ts } => Some(*ts),
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
        }
    }
}

/// Why a line was rejected: the key of the per-reason counts in [`ReplayStats`].
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
    /// Any other error of the engine (a limit).
    Other,
}

impl ErrorKind {
    /// Every kind, in the order summaries list them.
    pub const ALL: [ErrorKind; 11] = [
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
            ErrorKind::Other => "other",
        }
    }

    fn index(self) -> usize {
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
    #[serde(default)]
    profile: Option<serde_json::Value>,
}

fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
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
    let raw: RawLine<'_> = match serde_json::from_str(text) {
        Ok(r) => r,
        Err(e) => {
            let kind = match e.classify() {
                serde_json::error::Category::Data => ErrorKind::InvalidLine,
                _ => ErrorKind::MalformedJson,
            };
            let mut msg = json_message(&e);
            if kind == ErrorKind::InvalidLine {
                // Off the hot path: parse again, tracking the path, to name the field.
                let mut de = serde_json::Deserializer::from_str(text);
                if let Err(pe) = serde_path_to_error::deserialize::<_, RawLine<'_>>(&mut de) {
                    let path = pe.path().to_string();
                    if path != "." && !path.is_empty() {
                        msg = format!("field `{path}`: {msg}");
                    }
                }
            }
            let msg = if kind == ErrorKind::MalformedJson {
                format!("malformed JSON: {msg}")
            } else if msg.starts_with("invalid type") && e.column() <= 1 {
                format!("not an event: {msg} (each line must be one JSON object)")
            } else {
                msg
            };
            return Err(LineError::new(kind, msg));
        }
    };
    let op = raw.op.as_ref().map(|s| &*s.0).unwrap_or("observe");
    let reject = |field: &str, present: bool| -> Result<(), LineError> {
        if present {
            Err(LineError::invalid(format!(
                "field `{field}` is not allowed in a {op} line"
            )))
        } else {
            Ok(())
        }
    };
    let need = |field: &str| LineError::invalid(format!("missing field `{field}` ({op} line)"));
    match op {
        "observe" => {
            reject("profile", raw.profile.is_some())?;
            let ts = raw.ts.ok_or_else(|| need("ts"))?;
            let system = raw.system.ok_or_else(|| need("system"))?.0;
            let signal = raw.signal.ok_or_else(|| need("signal"))?.0;
            Ok(Some(Event::Observe {
                ts,
                system,
                signal,
                value: raw.value.unwrap_or(1.0),
            }))
        }
        "tick" => {
            reject("system", raw.system.is_some())?;
            reject("signal", raw.signal.is_some())?;
            reject("value", raw.value.is_some())?;
            reject("profile", raw.profile.is_some())?;
            let ts = raw.ts.ok_or_else(|| need("ts"))?;
            Ok(Some(Event::Tick { ts }))
        }
        "register" => {
            reject("system", raw.system.is_some())?;
            reject("signal", raw.signal.is_some())?;
            reject("value", raw.value.is_some())?;
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
        other => Err(LineError::new(
            ErrorKind::UnknownOp,
            format!("unknown op {other:?}: expected \"register\", \"observe\" or \"tick\""),
        )),
    }
}

/// What applying one event did.
#[derive(Debug, Clone, PartialEq)]
pub enum Applied {
    /// A system was registered.
    Registered {
        /// Its handle.
        handle: SystemHandle,
        /// Its classification under the engine's policy.
        classification: Box<Classification>,
    },
    /// An observation was accepted; the system's level after it.
    Observed(Level),
    /// A tick was applied.
    Ticked,
}

/// Counters of a replay (all since the [`Replayer`] was made).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayStats {
    /// Lines read (including blank ones).
    pub lines: u64,
    /// Blank lines (ignored).
    pub blank: u64,
    /// Bytes read.
    pub bytes: u64,
    /// Events (non-blank lines) read.
    pub events: u64,
    /// Events applied.
    pub accepted: u64,
    /// Register lines applied.
    pub registered: u64,
    /// Observe lines applied.
    pub observed: u64,
    /// Tick lines applied.
    pub ticks: u64,
    /// Events rejected, by [`ErrorKind`] (indexed in [`ErrorKind::ALL`] order; see
    /// [`ReplayStats::rejected_by`]).
    pub rejected: [u64; ErrorKind::ALL.len()],
    /// Transitions handed out, by scope (0 = rule, 1 = system) and new level (0 = none ...
    /// 4 = red).
    pub transitions: [[u64; 5]; 2],
    /// Earliest `ts` of an applied observe or tick line.
    pub first_ts: Option<i64>,
    /// Latest `ts` of an applied observe or tick line.
    pub last_ts: Option<i64>,
}

impl ReplayStats {
    /// Events rejected in all.
    pub fn rejected_total(&self) -> u64 {
        self.rejected.iter().sum()
    }

    /// Events rejected for this reason.
    pub fn rejected_by(&self, kind: ErrorKind) -> u64 {
        self.rejected[kind.index()]
    }

    /// Transitions handed out in all.
    pub fn transitions_total(&self) -> u64 {
        self.transitions.iter().flatten().sum()
    }

    /// Transitions to `level` (rule and system scope together).
    pub fn transitions_to(&self, level: Level) -> u64 {
        self.transitions[0][level as usize] + self.transitions[1][level as usize]
    }
}

/// A small, fast hasher for short ids (the FxHash function); not DoS-resistant, which is fine
/// for a replay cache whose keys are the log's own ids.
#[derive(Default, Clone, Copy)]
struct IdHasher(u64);

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl IdHasher {
    #[inline]
    fn add(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(SEED);
    }
}

impl Hasher for IdHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes([
                c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7],
            ]));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut b = [0u8; 8];
            b[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(b));
        }
    }
    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(i as u64);
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

type IdMap<V> = HashMap<Box<str>, V, BuildHasherDefault<IdHasher>>;

/// Receives what [`Replayer::run`] finds, line by line. Every method has a default that
/// ignores its input.
pub trait ReplayHandler {
    /// A transition the engine emitted, in `seq` order. An error stops the replay.
    ///
    /// # Errors
    /// Whatever the handler's output fails with.
    fn transition(&mut self, _t: &Transition) -> io::Result<()> {
        Ok(())
    }
    /// A line was rejected (`line` counts from 1, blank lines included).
    ///
    /// # Errors
    /// Whatever the handler's output fails with.
    fn rejected(&mut self, _line: u64, _error: &LineError) -> io::Result<()> {
        Ok(())
    }
    /// A line was applied.
    fn applied(&mut self, _line: u64, _event: &Event<'_>, _result: &Applied) {}
    /// Called every 65 536 lines with the stats so far (for progress displays).
    fn progress(&mut self, _stats: &ReplayStats) {}
}

/// Applies events to an [`Engine`] and hands out the transitions it emits.
///
/// The replayer installs a sink on its engine (replacing any other), so transitions are
/// never dropped whatever the engine's queue capacity; take them with
/// [`Replayer::take_transitions`] (or let [`Replayer::run`] pass them to a handler). It keeps
/// local caches from system id to handle and signal id to [`SignalId`], so an observation
/// costs two hash lookups on short strings and no lock but the engine's own.
pub struct Replayer {
    engine: Engine,
    systems: IdMap<SystemHandle>,
    signals: IdMap<SignalId>,
    /// The last system looked up (logs often have runs of lines of one system).
    last_id: String,
    last_handle: Option<SystemHandle>,
    pending: Arc<Mutex<Vec<Transition>>>,
    has_pending: Arc<AtomicBool>,
    stats: ReplayStats,
}

impl fmt::Debug for Replayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Replayer")
            .field("engine", &self.engine)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Replayer {
    /// A replayer over a new engine for `policy`.
    pub fn new(policy: Policy) -> Replayer {
        Replayer::with_engine(Engine::new(policy))
    }

    /// A replayer over `engine` (which may already have systems registered). Replaces the
    /// engine's sink; transitions already queued in the engine stay there.
    pub fn with_engine(engine: Engine) -> Replayer {
        let pending: Arc<Mutex<Vec<Transition>>> = Arc::default();
        let has_pending = Arc::new(AtomicBool::new(false));
        let (p, h) = (pending.clone(), has_pending.clone());
        let sink: Sink = Arc::new(move |t: &Transition| {
            p.lock().push(t.clone());
            h.store(true, Ordering::Release);
        });
        engine.set_sink(Some(sink));
        let mut signals = IdMap::default();
        for s in engine.policy().signals() {
            signals.insert(Box::from(&*s.id), SignalId(s.index));
        }
        Replayer {
            engine,
            systems: IdMap::default(),
            signals,
            last_id: String::new(),
            last_handle: None,
            pending,
            has_pending,
            stats: ReplayStats::default(),
        }
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The counters so far.
    pub fn stats(&self) -> &ReplayStats {
        &self.stats
    }

    /// The engine, its sink removed.
    pub fn into_engine(self) -> Engine {
        self.engine.set_sink(None);
        self.engine
    }

    #[inline]
    fn handle(&mut self, id: &str) -> Result<SystemHandle, LineError> {
        if let Some(h) = self.last_handle {
            if self.last_id == id {
                return Ok(h);
            }
        }
        if let Some(&h) = self.systems.get(id) {
            self.last_id.clear();
            self.last_id.push_str(id);
            self.last_handle = Some(h);
            return Ok(h);
        }
        match self.engine.system(id) {
            Some(h) => {
                self.systems.insert(Box::from(id), h);
                Ok(h)
            }
            None => Err(LineError::new(
                ErrorKind::UnknownSystem,
                format!("unknown system {id:?}: no register line for it came before"),
            )),
        }
    }

    /// Applies one event to the engine. Transitions it causes wait in the replayer until
    /// [`Replayer::take_transitions`]. Does not count the event in [`ReplayStats`] (see
    /// [`Replayer::apply_line`]).
    ///
    /// # Errors
    /// A [`LineError`] for an unknown system or signal, or what the engine rejected
    /// (duplicate or invalid profile, stale observation, invalid value).
    pub fn apply(&mut self, event: &Event<'_>) -> Result<Applied, LineError> {
        match event {
            Event::Observe {
                ts,
                system,
                signal,
                value,
            } => {
                let h = self.handle(system)?;
                let Some(&s) = self.signals.get(&**signal) else {
                    return Err(LineError::new(
                        ErrorKind::UnknownSignal,
                        format!("unknown signal {signal:?}: the policy does not define it"),
                    ));
                };
                self.engine
                    .observe(h, s, *value, *ts)
                    .map(Applied::Observed)
                    .map_err(|e| LineError::from_engine(&e))
            }
            Event::Tick { ts } => {
                self.engine.tick(*ts);
                Ok(Applied::Ticked)
            }
            Event::Register { profile, .. } => {
                let classification = self
                    .engine
                    .classify(profile)
                    .map_err(|e| LineError::from_engine(&e))?;
                let handle = self
                    .engine
                    .register((**profile).clone())
                    .map_err(|e| LineError::from_engine(&e))?;
                self.systems.insert(Box::from(profile.id.as_str()), handle);
                Ok(Applied::Registered {
                    handle,
                    classification: Box::new(classification),
                })
            }
        }
    }

    fn count(&mut self, event: &Event<'_>) {
        let s = &mut self.stats;
        s.accepted += 1;
        match event {
            Event::Register { .. } => s.registered += 1,
            Event::Observe { ts, .. } | Event::Tick { ts } => {
                if matches!(event, Event::Tick { .. }) {
                    s.ticks += 1;
                } else {
                    s.observed += 1;
                }
                s.first_ts = Some(s.first_ts.map_or(*ts, |f| f.min(*ts)));
                s.last_ts = Some(s.last_ts.map_or(*ts, |l| l.max(*ts)));
            }
        }
    }

    /// Parses and applies one line, counting it in [`ReplayStats`]. `Ok(None)` for a blank
    /// line. Never panics, whatever the bytes.
    ///
    /// # Errors
    /// See [`parse_line`] and [`Replayer::apply`].
    pub fn apply_line(&mut self, line: &[u8]) -> Result<Option<Applied>, LineError> {
        self.stats.bytes += line.len() as u64;
        self.step_line(line).map(|o| o.map(|(_, a)| a))
    }

    fn step_line<'l>(&mut self, line: &'l [u8]) -> Result<Option<(Event<'l>, Applied)>, LineError> {
        self.stats.lines += 1;
        let event = match parse_line(line) {
            Ok(None) => {
                self.stats.blank += 1;
                return Ok(None);
            }
            Ok(Some(e)) => e,
            Err(e) => {
                self.stats.events += 1;
                self.stats.rejected[e.kind.index()] += 1;
                return Err(e);
            }
        };
        self.stats.events += 1;
        match self.apply(&event) {
            Ok(a) => {
                self.count(&event);
                Ok(Some((event, a)))
            }
            Err(e) => {
                self.stats.rejected[e.kind.index()] += 1;
                Err(e)
            }
        }
    }

    /// Whether transitions are waiting to be taken.
    #[inline]
    pub fn has_transitions(&self) -> bool {
        self.has_pending.load(Ordering::Acquire)
    }

    /// Moves the transitions emitted so far into `out` (appending, in `seq` order), counts
    /// them in [`ReplayStats::transitions`], and returns how many.
    pub fn take_transitions(&mut self, out: &mut Vec<Transition>) -> usize {
        if !self.has_pending.swap(false, Ordering::AcqRel) {
            return 0;
        }
        let mut p = self.pending.lock();
        let n = p.len();
        for t in p.iter() {
            let scope = usize::from(t.scope == Scope::System);
            self.stats.transitions[scope][t.to as usize] += 1;
        }
        out.append(&mut p);
        n
    }

    /// Streams a whole log: reads `input` line by line (one reused buffer; lines longer than
    /// [`MAX_LINE_BYTES`] are skipped as [`ErrorKind::TooLong`] without being held), applies
    /// each line, and passes every transition and every rejected line to `handler`, in
    /// order. Memory stays constant whatever the log's size.
    ///
    /// # Errors
    /// An I/O error reading `input`, or the first error the handler returns.
    pub fn run<R: BufRead, H: ReplayHandler + ?Sized>(
        &mut self,
        mut input: R,
        handler: &mut H,
    ) -> io::Result<()> {
        let mut buf: Vec<u8> = Vec::with_capacity(1024);
        let mut out: Vec<Transition> = Vec::new();
        loop {
            let line_no = self.stats.lines + 1;
            // Fast path: the whole line is in the reader's buffer; parse it in place.
            let available = match input.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if available.is_empty() {
                break;
            }
            let result = if let Some(i) = find_newline(available) {
                let line = trim_cr(&available[..i]);
                self.stats.bytes += i as u64 + 1;
                let r = self.dispatch_line(line, line_no, handler);
                input.consume(i + 1);
                r
            } else {
                // Slow path: the line runs past the buffer; copy it (capped).
                buf.clear();
                let (n, complete) = read_line_capped(&mut input, &mut buf, MAX_LINE_BYTES)?;
                self.stats.bytes += n as u64;
                if complete {
                    let line = match &buf[..] {
                        [rest @ .., b'\n'] => rest,
                        all => all,
                    };
                    self.dispatch_line(trim_cr(line), line_no, handler)
                } else {
                    self.stats.lines += 1;
                    self.stats.events += 1;
                    self.stats.rejected[ErrorKind::TooLong.index()] += 1;
                    Err(LineError::new(
                        ErrorKind::TooLong,
                        format!("line is {n} bytes long; at most {MAX_LINE_BYTES} are accepted"),
                    ))
                }
            };
            if let Err(e) = result {
                handler.rejected(line_no, &e)?;
            }
            if self.has_transitions() {
                self.take_transitions(&mut out);
                for t in out.drain(..) {
                    handler.transition(&t)?;
                }
            }
            if line_no & 0xffff == 0 {
                handler.progress(&self.stats);
            }
        }
        Ok(())
    }
}

impl Replayer {
    #[inline]
    fn dispatch_line<H: ReplayHandler + ?Sized>(
        &mut self,
        line: &[u8],
        line_no: u64,
        handler: &mut H,
    ) -> Result<(), LineError> {
        match self.step_line(line) {
            Ok(Some((event, applied))) => {
                handler.applied(line_no, &event, &applied);
                Ok(())
            }
            Ok(None) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

#[inline]
fn trim_cr(line: &[u8]) -> &[u8] {
    match line {
        [rest @ .., b'\r'] => rest,
        all => all,
    }
}

/// Position of the first `\n`, eight bytes at a time.
#[inline]
fn find_newline(b: &[u8]) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    const NL: u64 = LO * b'\n' as u64;
    let mut chunks = b.chunks_exact(8);
    let mut i = 0;
    for c in &mut chunks {
        let w = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) ^ NL;
        let z = w.wrapping_sub(LO) & !w & HI;
        if z != 0 {
            return Some(i + (z.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&c| c == b'\n')
        .map(|p| i + p)
}

/// Reads one line (through `\n`) into `buf`, holding at most `max + 1` bytes of it; the rest
/// of a longer line is read and thrown away. Returns the line's full length and whether it
/// fit.
fn read_line_capped<R: BufRead>(
    input: &mut R,
    buf: &mut Vec<u8>,
    max: usize,
) -> io::Result<(usize, bool)> {
    let mut total = 0usize;
    let mut fits = true;
    loop {
        let available = match input.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            return Ok((total, fits));
        }
        let (used, done) = match find_newline(available) {
            Some(i) => (i + 1, true),
            None => (available.len(), false),
        };
        if fits {
            if buf.len() + used > max + 1 {
                fits = false;
                buf.clear();
            } else {
                buf.extend_from_slice(&available[..used]);
            }
        }
        total += used;
        input.consume(used);
        if done {
            return Ok((total, fits));
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

    #[test]
    fn finds_newlines() {
        for n in 0..40 {
            let mut v = vec![b'a'; n];
            assert_eq!(find_newline(&v), None);
            v.push(b'\n');
            v.extend_from_slice(b"x\n");
            assert_eq!(find_newline(&v), Some(n));
        }
        assert_eq!(find_newline(b"\x8a\x0b\n"), Some(2));
    }

    #[test]
    fn capped_reader_skips_long_lines() {
        let data = format!("{}\nshort\n", "x".repeat(100));
        let mut r = data.as_bytes();
        let mut buf = Vec::new();
        assert_eq!(
            read_line_capped(&mut r, &mut buf, 10).unwrap(),
            (101, false)
        );
        buf.clear();
        assert_eq!(read_line_capped(&mut r, &mut buf, 10).unwrap(), (6, true));
        assert_eq!(buf, b"short\n");
    }
}
