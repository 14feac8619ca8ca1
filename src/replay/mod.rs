//! Event logs (JSON Lines) and their replay through an engine.
//!
//! An event log is a text file with one JSON object per line; `docs/formats.md` in the
//! repository describes every op (`register`, `observe` with one `signal` or several
//! `values`, `tick`, `ack`, `report`, `silence`, `unsilence`, `reload`) and
//! `schemas/event-line.schema.json` is its JSON Schema. The most common lines:
//!
//! ```text
//! {"op": "register", "ts": 1764374400000, "profile": {"id": "triage-bot", ...}}
//! {"op": "observe", "ts": 1764374400000, "system": "triage-bot", "signal": "interactions", "value": 1}
//! {"ts": 1764374400000, "system": "triage-bot", "signal": "interactions"}
//! {"op": "observe", "ts": 1764374400000, "system": "triage-bot", "values": {"interactions": 3, "hallucination_flagged": 1}}
//! {"op": "tick", "ts": 1764374460000}
//! ```
//!
//! - `op` may be left out for an observation; `value` defaults to 1.
//! - The `ts` of a register line is informational and may be left out: registering moves no
//!   clock. `ts` is required on every other line and is an integer (milliseconds).
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

mod line;

pub use line::{ErrorKind, Event, LineError, MAX_LINE_BYTES, PolicySource, parse_line};

use crate::classify::Classification;
use crate::engine::{Engine, IncidentSink, Sink};
use crate::handle::{SignalId, SystemHandle};
use crate::hash::FastMap;
use crate::incident::{IncidentEvent, IncidentEventKind};
use crate::level::Level;
use crate::policy::Policy;
use crate::transition::{Scope, Transition};
use parking_lot::Mutex;
use std::fmt;
use std::io::{self, BufRead};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

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
    /// The policy was reloaded.
    Reloaded(Box<crate::reload::ReloadReport>),
    /// A silence was set.
    Silenced,
    /// A silence was removed.
    Unsilenced,
    /// An incident was acknowledged.
    Acknowledged,
    /// An incident report was filed.
    ReportFiled,
}

/// What the engine emitted, in emission order: a transition, or an incident event.
#[derive(Debug, Clone, PartialEq)]
pub enum Emitted {
    /// A transition.
    Transition(Transition),
    /// An incident event.
    Incident(IncidentEvent),
}

/// Counts of the incident stream (see [`ReplayStats::incidents`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IncidentCounts {
    /// Incident events handed out.
    pub events: u64,
    /// Per incident id: its highest severity (rank, id) and whether it became reportable.
    pub incidents: std::collections::BTreeMap<Arc<str>, (u32, Arc<str>, bool)>,
    /// Reports filed before their deadline.
    pub filed_on_time: u64,
    /// Reports filed at or after their deadline.
    pub filed_late: u64,
    /// `overdue` events (reports and acknowledgements missed).
    pub overdue: u64,
}

impl IncidentCounts {
    fn count(&mut self, e: &IncidentEvent) {
        self.events += 1;
        let entry = self.incidents.entry(e.incident.clone()).or_insert((
            e.severity_rank,
            e.severity.clone(),
            e.reportable,
        ));
        if e.severity_rank > entry.0 {
            *entry = (e.severity_rank, e.severity.clone(), entry.2);
        }
        entry.2 |= e.reportable;
        match e.event {
            IncidentEventKind::ReportFiled if e.late == Some(true) => self.filed_late += 1,
            IncidentEventKind::ReportFiled => self.filed_on_time += 1,
            IncidentEventKind::Overdue => self.overdue += 1,
            _ => {}
        }
    }

    /// Incidents seen, by severity id (highest severity each reached), in severity order.
    pub fn by_severity(&self) -> Vec<(Arc<str>, u64)> {
        let mut v: Vec<(u32, Arc<str>, u64)> = Vec::new();
        for (rank, id, _) in self.incidents.values() {
            match v.iter_mut().find(|x| x.0 == *rank) {
                Some(x) => x.2 += 1,
                None => v.push((*rank, id.clone(), 1)),
            }
        }
        v.sort_by_key(|x| x.0);
        v.into_iter().map(|(_, id, n)| (id, n)).collect()
    }

    /// Incidents that became reportable.
    pub fn reportable(&self) -> u64 {
        self.incidents.values().filter(|x| x.2).count() as u64
    }
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
    /// Observe lines applied (a line with `values` counts once).
    pub observed: u64,
    /// Observations applied: one per single observe line, one per entry of a `values` line.
    pub observations: u64,
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
    /// Acknowledgement and report lines applied.
    pub incident_actions: u64,
    /// Silence and unsilence lines applied.
    pub silence_actions: u64,
    /// Reload lines applied.
    pub reloads: u64,
    /// Transitions muted, by cause: silenced only, inhibited only, both.
    pub muted: [u64; 3],
    /// The incident stream.
    pub incidents: IncidentCounts,
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

type IdMap<V> = FastMap<Box<str>, V>;

/// The engine's signal ids by name.
fn signal_ids(engine: &Engine) -> IdMap<SignalId> {
    let mut signals = IdMap::default();
    for s in engine.policy().signals() {
        if let Some(id) = engine.signal(&s.id) {
            signals.insert(Box::from(&*s.id), id);
        }
    }
    signals
}

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
    /// An incident event the engine emitted, in emission order among the transitions (each
    /// right after the transition that caused it). An error stops the replay.
    ///
    /// # Errors
    /// Whatever the handler's output fails with.
    fn incident(&mut self, _e: &IncidentEvent) -> io::Result<()> {
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
/// The replayer installs sinks on its engine (replacing any others), so transitions and
/// incident events are never dropped whatever the engine's queue capacity; take them, in
/// emission order, with [`Replayer::take`] (or let [`Replayer::run`] pass them to a
/// handler). It keeps
/// local caches from system id to handle and signal id to [`SignalId`], so an observation
/// costs two hash lookups on short strings and no lock but the engine's own.
pub struct Replayer {
    engine: Engine,
    /// The folder `policy_file` paths of reload lines are relative to.
    base: Option<std::path::PathBuf>,
    systems: IdMap<SystemHandle>,
    signals: IdMap<SignalId>,
    /// The last system looked up (logs often have runs of lines of one system).
    last_id: String,
    last_handle: Option<SystemHandle>,
    pending: Arc<Mutex<Vec<Emitted>>>,
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
    /// engine's sinks; what is already queued in the engine stays there.
    pub fn with_engine(engine: Engine) -> Replayer {
        let pending: Arc<Mutex<Vec<Emitted>>> = Arc::default();
        let has_pending = Arc::new(AtomicBool::new(false));
        let (p, h) = (pending.clone(), has_pending.clone());
        let sink: Sink = Arc::new(move |t: &Transition| {
            p.lock().push(Emitted::Transition(t.clone()));
            h.store(true, Ordering::Release);
        });
        engine.set_sink(Some(sink));
        let (p, h) = (pending.clone(), has_pending.clone());
        let isink: IncidentSink = Arc::new(move |e: &IncidentEvent| {
            p.lock().push(Emitted::Incident(e.clone()));
            h.store(true, Ordering::Release);
        });
        engine.set_incident_sink(Some(isink));
        let signals = signal_ids(&engine);
        Replayer {
            engine,
            base: None,
            systems: IdMap::default(),
            signals,
            last_id: String::new(),
            last_handle: None,
            pending,
            has_pending,
            stats: ReplayStats::default(),
        }
    }

    /// Sets the folder that `policy_file` paths of reload lines are relative to (usually the
    /// log's folder; the current directory when unset).
    pub fn set_base_dir(&mut self, dir: impl Into<std::path::PathBuf>) {
        self.base = Some(dir.into());
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The counters so far.
    pub fn stats(&self) -> &ReplayStats {
        &self.stats
    }

    /// The engine, its sinks removed.
    pub fn into_engine(self) -> Engine {
        self.engine.set_sink(None);
        self.engine.set_incident_sink(None);
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
    /// [`Replayer::take`]. Does not count the event in [`ReplayStats`] (see
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
            Event::ObserveMany { ts, system, values } => {
                let h = self.handle(system)?;
                let mut v: Vec<(SignalId, f64)> = Vec::with_capacity(values.len());
                for (name, x) in values {
                    let Some(&s) = self.signals.get(&**name) else {
                        return Err(LineError::new(
                            ErrorKind::UnknownSignal,
                            format!("unknown signal {name:?}: the policy does not define it"),
                        ));
                    };
                    v.push((s, *x));
                }
                self.engine
                    .observe_many(h, &v, *ts)
                    .map(Applied::Observed)
                    .map_err(|e| LineError::from_engine(&e))
            }
            Event::Reload { policy, .. } => {
                let policy = self.load_policy(policy)?;
                let report = self
                    .engine
                    .reload(policy)
                    .map_err(|e| LineError::from_engine(&e))?;
                self.signals = signal_ids(&self.engine);
                Ok(Applied::Reloaded(Box::new(report)))
            }
            Event::Silence { silence, .. } => self
                .engine
                .silence((**silence).clone())
                .map(|()| Applied::Silenced)
                .map_err(|e| LineError::from_engine(&e)),
            Event::Unsilence { id, .. } => self
                .engine
                .unsilence(id)
                .map(|()| Applied::Unsilenced)
                .map_err(|e| LineError::from_engine(&e)),
            Event::Acknowledge { ts, incident, by } => self
                .engine
                .acknowledge(incident, *ts, by)
                .map(|()| Applied::Acknowledged)
                .map_err(|e| LineError::from_engine(&e)),
            Event::FileReport {
                ts,
                incident,
                kind,
                reference,
            } => self
                .engine
                .file_report(incident, *kind, *ts, reference)
                .map(|()| Applied::ReportFiled)
                .map_err(|e| LineError::from_engine(&e)),
            Event::Register { profile, .. } => {
                let (handle, classification) = self
                    .engine
                    .register_classified((**profile).clone())
                    .map_err(|e| LineError::from_engine(&e))?;
                self.systems.insert(Box::from(profile.id.as_str()), handle);
                Ok(Applied::Registered {
                    handle,
                    classification: Box::new(classification),
                })
            }
        }
    }

    /// The policy of a reload line.
    fn load_policy(&self, source: &PolicySource) -> Result<Policy, LineError> {
        let refused = |m: String| LineError::new(ErrorKind::ReloadRefused, m);
        match source {
            PolicySource::Inline(v) => Policy::from_value((**v).clone())
                .map_err(|e| refused(format!("the reload's policy is invalid: {e}"))),
            PolicySource::File(f) => {
                let path = match &self.base {
                    Some(b) if std::path::Path::new(f).is_relative() => b.join(f),
                    _ => std::path::PathBuf::from(f),
                };
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| refused(format!("cannot read {}: {e}", path.display())))?;
                Policy::from_json(&text).map_err(|e| {
                    refused(format!("the policy in {} is invalid: {e}", path.display()))
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
                    s.observations += 1;
                }
                s.first_ts = Some(s.first_ts.map_or(*ts, |f| f.min(*ts)));
                s.last_ts = Some(s.last_ts.map_or(*ts, |l| l.max(*ts)));
            }
            Event::Acknowledge { .. } | Event::FileReport { .. } => s.incident_actions += 1,
            Event::Silence { .. } | Event::Unsilence { .. } => s.silence_actions += 1,
            Event::ObserveMany { ts, values, .. } => {
                s.observed += 1;
                s.observations += values.len() as u64;
                s.first_ts = Some(s.first_ts.map_or(*ts, |f| f.min(*ts)));
                s.last_ts = Some(s.last_ts.map_or(*ts, |l| l.max(*ts)));
            }
            Event::Reload { .. } => s.reloads += 1,
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

    /// Whether transitions or incident events are waiting to be taken.
    #[inline]
    pub fn has_pending(&self) -> bool {
        self.has_pending.load(Ordering::Acquire)
    }

    /// Moves what the engine emitted so far into `out` (appending, in emission order),
    /// counts it in [`ReplayStats`], and returns how many.
    pub fn take(&mut self, out: &mut Vec<Emitted>) -> usize {
        if !self.has_pending.swap(false, Ordering::AcqRel) {
            return 0;
        }
        let mut p = self.pending.lock();
        let n = p.len();
        for o in p.iter() {
            match o {
                Emitted::Transition(t) => {
                    let scope = usize::from(t.scope == Scope::System);
                    self.stats.transitions[scope][t.to as usize] += 1;
                    match (&t.silenced, &t.inhibited_by) {
                        (Some(_), None) => self.stats.muted[0] += 1,
                        (None, Some(_)) => self.stats.muted[1] += 1,
                        (Some(_), Some(_)) => self.stats.muted[2] += 1,
                        (None, None) => {}
                    }
                }
                Emitted::Incident(e) => self.stats.incidents.count(e),
            }
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
        let mut out: Vec<Emitted> = Vec::new();
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
            if self.has_pending() {
                self.take(&mut out);
                for o in out.drain(..) {
                    match o {
                        Emitted::Transition(t) => handler.transition(&t)?,
                        Emitted::Incident(e) => handler.incident(&e)?,
                    }
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

/// Position of the first `\n` (memchr: SIMD where the CPU has it).
#[inline]
fn find_newline(b: &[u8]) -> Option<usize> {
    memchr::memchr(b'\n', b)
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
