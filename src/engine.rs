//! The monitoring and early-warning engine (技术监测 · 风险预警 · 应急响应).
//!
//! An [`Engine`] holds one immutable [`Policy`], a registry of systems, and per-system
//! state (windows, rule state machines, system level). Observations and ticks advance the
//! state; level changes come out as [`Transition`]s, either into a bounded queue (drained
//! with [`Engine::drain`]) or to a sink set with [`Engine::set_sink`].
//!
//! # Concurrency
//! `Engine` is `Send + Sync` and every method takes `&self`. Systems live in 64 shards
//! (handle mod 64), each behind its own `parking_lot::Mutex`; observing different systems on
//! different threads contends only when they share a shard. Registration takes the registry
//! lock and, briefly, the new system's shard lock; it does not block observations of other
//! shards. The sink is called with no engine lock held and may call back into the engine.
//!
//! # Time
//! The engine never reads a clock: every time is the caller's `ts_ms`.

use crate::classify::{Classification, Profile, classify};
use crate::error::{Error, Result};
use crate::journal::{Durability, Journal, OpenReport};
use crate::level::Level;
use crate::policy::{Aggregate, OnEmpty, Policy};
use crate::response::{Scope, Transition};
use crate::rule::{Change, Eval, RuleState, step};
use crate::window::{self, NONE, bucket_index};
use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};
use smallvec::SmallVec;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

/// A registered system's handle: dense, from 0, in registration order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SystemHandle(pub u32);

/// A signal's index in the policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SignalId(pub u32);

/// Counters of an engine (all since creation).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Observations accepted.
    pub observed: u64,
    /// Observations rejected because their bucket had left the ring.
    pub rejected_stale: u64,
    /// Observations rejected as invalid: non-finite value, negative counter, unknown
    /// handle or signal.
    pub rejected_invalid: u64,
    /// Transitions emitted (delivered or dropped); equals the last `seq`.
    pub transitions: u64,
    /// Transitions that found the queue full.
    pub dropped: u64,
    /// Systems currently registered.
    pub systems: u64,
    /// Journal records that could not be written (I/O errors); 0 without a journal.
    #[serde(default)]
    pub journal_errors: u64,
}

/// Engine options.
#[derive(Debug, Clone, Copy)]
pub struct EngineOptions {
    /// Capacity of the transition queue (default 65 536). A transition that finds it full is
    /// dropped and counted in [`Stats::dropped`]; its `seq` is still used, so consumers see
    /// the gap.
    pub queue_capacity: usize,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            queue_capacity: 65_536,
        }
    }
}

/// Most systems one engine registers (handles are `u32`; the cap bounds memory).
pub const MAX_SYSTEMS: u32 = 1 << 26;

/// A transition sink: called with each transition, on the thread that caused it, with no
/// engine lock held.
pub type Sink = Arc<dyn Fn(&Transition) + Send + Sync>;

pub(crate) const SHARD_BITS: u32 = 6;
pub(crate) const SHARDS: usize = 1 << SHARD_BITS;

/// One system's whole state.
#[derive(Debug, Clone)]
pub(crate) struct SystemState {
    pub id: Arc<str>,
    pub profile: Box<Profile>,
    pub grade: u32,
    /// Largest ts seen (observation or tick), or NONE.
    pub watermark: i64,
    /// First watermark, or NONE.
    pub first_watermark: i64,
    /// System level.
    pub level: Level,
    /// The state arena (see [`crate::window`]): `[0, S)` ring heads and `[S, 2S)` last
    /// observation times per signal (i64 bits), then rule records, then buckets.
    pub arena: Box<[u64]>,
}

#[derive(Default)]
pub(crate) struct ShardCounters {
    pub observed: u64,
    pub rejected_stale: u64,
    pub rejected_invalid: u64,
}

#[derive(Default)]
pub(crate) struct Shard {
    pub systems: Vec<Option<SystemState>>,
    pub counters: ShardCounters,
}

#[repr(align(128))]
pub(crate) struct Padded<T>(pub T);

pub(crate) struct Registry {
    pub ids: HashMap<Arc<str>, u32>,
    /// Handle → id, for every handle ever issued (strings stay valid after deregistration).
    pub names: Vec<Arc<str>>,
}

pub(crate) struct Queue {
    pub items: VecDeque<Transition>,
    pub cap: usize,
}

/// Transitions produced while a shard lock is held, delivered after it is released.
type Pending = SmallVec<[Transition; 4]>;

/// The engine. See the [module docs](self).
pub struct Engine {
    pub(crate) policy: Policy,
    pub(crate) registry: RwLock<Registry>,
    pub(crate) count: AtomicU32,
    pub(crate) shards: Box<[Padded<Mutex<Shard>>]>,
    pub(crate) queue: Mutex<Queue>,
    sink: RwLock<Option<Sink>>,
    has_sink: AtomicBool,
    pub(crate) seq: AtomicU64,
    pub(crate) dropped: AtomicU64,
    pub(crate) rejected_unknown: AtomicU64,
    pub(crate) systems: AtomicU64,
    journal: Mutex<Option<Journal>>,
    has_journal: AtomicBool,
    journal_errors: AtomicU64,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("systems", &self.count.load(Ordering::Relaxed))
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// An engine for `policy` with default options.
    pub fn new(policy: Policy) -> Engine {
        Engine::with_options(policy, EngineOptions::default())
    }

    /// An engine for `policy`.
    pub fn with_options(policy: Policy, options: EngineOptions) -> Engine {
        Engine {
            policy,
            registry: RwLock::new(Registry {
                ids: HashMap::new(),
                names: Vec::new(),
            }),
            count: AtomicU32::new(0),
            shards: (0..SHARDS)
                .map(|_| Padded(Mutex::new(Shard::default())))
                .collect(),
            queue: Mutex::new(Queue {
                items: VecDeque::new(),
                cap: options.queue_capacity,
            }),
            sink: RwLock::new(None),
            has_sink: AtomicBool::new(false),
            seq: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            rejected_unknown: AtomicU64::new(0),
            systems: AtomicU64::new(0),
            journal: Mutex::new(None),
            has_journal: AtomicBool::new(false),
            journal_errors: AtomicU64::new(0),
        }
    }

    /// The engine's policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Classifies a profile under the engine's policy (registers nothing).
    ///
    /// # Errors
    /// See [`classify`].
    pub fn classify(&self, profile: &Profile) -> Result<Classification> {
        classify(&self.policy, profile)
    }

    /// The id of a signal, by name (hashes the name: keep the id, off the hot path).
    pub fn signal(&self, name: &str) -> Option<SignalId> {
        self.policy.0.signal_ix.get(name).map(|&i| SignalId(i))
    }

    /// The handle of a registered system, by id.
    pub fn system(&self, id: &str) -> Option<SystemHandle> {
        self.registry.read().ids.get(id).map(|&h| SystemHandle(h))
    }

    /// The id of the system with this handle (also after it was deregistered).
    pub fn system_id(&self, h: SystemHandle) -> Option<Arc<str>> {
        self.registry.read().names.get(h.0 as usize).cloned()
    }

    pub(crate) fn new_state(&self, profile: Profile, grade: u32) -> SystemState {
        let c = &self.policy.0;
        let ns = c.signals.len();
        let mut arena = vec![0u64; c.arena_words as usize].into_boxed_slice();
        for w in &mut arena[..2 * ns] {
            *w = NONE as u64;
        }
        for r in &c.rules {
            arena[r.rec as usize..r.rec as usize + 6].copy_from_slice(&RuleState::INITIAL);
        }
        for spec in &c.rings {
            // Initialise every bucket and cache (min = +inf, max = -inf).
            let mut h = NONE;
            window::advance(&mut arena, spec, &mut h, 0);
        }
        SystemState {
            id: Arc::from(profile.id.as_str()),
            profile: Box::new(profile),
            grade,
            watermark: NONE,
            first_watermark: NONE,
            level: Level::None,
            arena,
        }
    }

    /// Registers a system: classifies it, fixes its grade, returns its handle.
    ///
    /// # Errors
    /// [`Error::Profile`] (see [`classify`]), [`Error::Duplicate`] if a registered system has
    /// the same id, [`Error::Limit`] past [`MAX_SYSTEMS`].
    pub fn register(&self, profile: Profile) -> Result<SystemHandle> {
        let cls = classify(&self.policy, &profile)?;
        let record = self
            .has_journal
            .load(Ordering::Acquire)
            .then(|| profile_record("register", &profile, &cls));
        let state = self.new_state(profile, cls.grade_rank);
        self.insert_state_journaled(state, record)
    }

    /// Registers a fully built system state under the next handle.
    pub(crate) fn insert_state(&self, state: SystemState) -> Result<SystemHandle> {
        self.insert_state_journaled(state, None)
    }

    fn insert_state_journaled(
        &self,
        state: SystemState,
        record: Option<serde_json::Map<String, serde_json::Value>>,
    ) -> Result<SystemHandle> {
        let id = state.id.clone();
        let mut reg = self.registry.write();
        if reg.ids.contains_key(&*id) {
            return Err(Error::Duplicate(id.to_string()));
        }
        let h = reg.names.len() as u32;
        if h >= MAX_SYSTEMS {
            return Err(Error::Limit(format!(
                "at most {MAX_SYSTEMS} systems per engine"
            )));
        }
        {
            let mut shard = self.shards[(h as usize) & (SHARDS - 1)].0.lock();
            let slot = (h >> SHARD_BITS) as usize;
            debug_assert_eq!(shard.systems.len(), slot);
            shard.systems.push(Some(state));
        }
        reg.ids.insert(id.clone(), h);
        reg.names.push(id);
        self.count.store(h + 1, Ordering::Release);
        self.systems.fetch_add(1, Ordering::Relaxed);
        if let Some(mut rec) = record {
            rec.insert("handle".into(), h.into());
            self.journal_record(&rec);
        }
        Ok(SystemHandle(h))
    }

    /// Stops evaluating a system and frees its state. Its handle is never reused and its id
    /// string stays valid; the id may be registered again (under a new handle).
    ///
    /// # Errors
    /// [`Error::UnknownSystem`] if the handle is not registered.
    pub fn deregister(&self, h: SystemHandle) -> Result<()> {
        let mut reg = self.registry.write();
        let removed = {
            let mut shard = self.shard(h).lock();
            shard
                .systems
                .get_mut((h.0 >> SHARD_BITS) as usize)
                .and_then(Option::take)
        };
        let Some(state) = removed else {
            return Err(Error::UnknownSystem(h.0));
        };
        reg.ids.remove(&*state.id);
        self.systems.fetch_sub(1, Ordering::Relaxed);
        if self.has_journal.load(Ordering::Acquire) {
            let mut rec = serde_json::Map::new();
            rec.insert("kind".into(), "deregister".into());
            rec.insert("system".into(), (*state.id).into());
            rec.insert("handle".into(), h.0.into());
            self.journal_record(&rec);
        }
        Ok(())
    }

    /// Re-classifies a registered system with a new profile (same id). Rule states are kept
    /// and are evaluated under the new grade's thresholds from the next evaluation on.
    ///
    /// # Errors
    /// [`Error::UnknownSystem`], [`Error::Profile`] (also when the id differs).
    pub fn update_profile(&self, h: SystemHandle, profile: Profile) -> Result<Classification> {
        let cls = classify(&self.policy, &profile)?;
        let mut shard = self.shard(h).lock();
        let Some(sys) = shard
            .systems
            .get_mut((h.0 >> SHARD_BITS) as usize)
            .and_then(Option::as_mut)
        else {
            return Err(Error::UnknownSystem(h.0));
        };
        if *sys.id != *profile.id {
            return Err(Error::profile(
                "id",
                format!(
                    "the profile's id {:?} is not the system's id {:?}",
                    profile.id, &*sys.id
                ),
            ));
        }
        sys.grade = cls.grade_rank;
        if self.has_journal.load(Ordering::Acquire) {
            let mut rec = profile_record("update_profile", &profile, &cls);
            rec.insert("handle".into(), h.0.into());
            self.journal_record(&rec);
        }
        *sys.profile = profile;
        Ok(cls)
    }

    /// The grade rank and profile of a registered system.
    ///
    /// # Errors
    /// [`Error::UnknownSystem`].
    pub fn system_profile(&self, h: SystemHandle) -> Result<(u32, Profile)> {
        let shard = self.shard(h).lock();
        match shard.systems.get((h.0 >> SHARD_BITS) as usize) {
            Some(Some(s)) => Ok((s.grade, (*s.profile).clone())),
            _ => Err(Error::UnknownSystem(h.0)),
        }
    }

    #[inline]
    pub(crate) fn shard(&self, h: SystemHandle) -> &Mutex<Shard> {
        &self.shards[(h.0 as usize) & (SHARDS - 1)].0
    }

    /// Records one observation and evaluates the rules that use the signal.
    ///
    /// Applies `(signal, value)` at `ts_ms` to the system's window, raises its watermark to
    /// `ts_ms` if later, then evaluates every rule whose `signal` or `per` is this signal, in
    /// declaration order, at the watermark. Returns the system's level afterwards. Performs
    /// no heap allocation unless a transition is emitted.
    ///
    /// # Errors
    /// [`Error::UnknownSystem`], [`Error::UnknownSignal`], [`Error::Value`] (non-finite, or a
    /// negative counter, or `ts_ms == i64::MIN`), [`Error::Stale`] (the bucket is at or
    /// before `idx(w) − B`). A rejected observation changes nothing but a counter.
    pub fn observe(
        &self,
        h: SystemHandle,
        signal: SignalId,
        value: f64,
        ts_ms: i64,
    ) -> Result<Level> {
        let c = &*self.policy.0;
        let Some(sig) = c.signals.get(signal.0 as usize) else {
            self.rejected_unknown.fetch_add(1, Ordering::Relaxed);
            return Err(Error::UnknownSignal(signal.0.to_string()));
        };
        let mut pending = Pending::new();
        let level;
        {
            let mut guard = self.shard(h).lock();
            let shard = &mut *guard;
            let Some(sys) = shard
                .systems
                .get_mut((h.0 >> SHARD_BITS) as usize)
                .and_then(Option::as_mut)
            else {
                drop(guard);
                self.rejected_unknown.fetch_add(1, Ordering::Relaxed);
                return Err(Error::UnknownSystem(h.0));
            };
            let bad = if !value.is_finite() {
                Some("value is not finite")
            } else if value < 0.0 && sig.kind == crate::policy::SignalKind::Counter {
                Some("a counter's value must be ≥ 0")
            } else if ts_ms == NONE {
                Some("ts_ms must be greater than i64::MIN")
            } else {
                None
            };
            if let Some(reason) = bad {
                shard.counters.rejected_invalid += 1;
                return Err(Error::Value {
                    signal: sig.id.to_string(),
                    value,
                    reason,
                });
            }
            let s = signal.0 as usize;
            let spec = &c.rings[s];
            let b = bucket_index(ts_ms, c.bucket_ms);
            let slot = b.rem_euclid(spec.len as i64) as usize;
            // Bucket of the watermark after this observation (one division at most).
            let wb = if sys.watermark == NONE || ts_ms > sys.watermark {
                // A newer observation is never stale.
                sys.watermark = ts_ms;
                b
            } else {
                let wb = bucket_index(sys.watermark, c.bucket_ms);
                let oldest = wb.saturating_sub(spec.len as i64);
                if b <= oldest {
                    shard.counters.rejected_stale += 1;
                    return Err(Error::Stale {
                        ts_ms,
                        bucket: b,
                        oldest_rejected: oldest,
                    });
                }
                wb
            };
            if sys.first_watermark == NONE {
                sys.first_watermark = ts_ms;
            }
            let mut head = sys.arena[s] as i64;
            window::advance(&mut sys.arena, spec, &mut head, wb);
            sys.arena[s] = head as u64;
            window::add_at(&mut sys.arena, spec, head, b, slot, value);
            let ns = c.signals.len();
            let last = sys.arena[ns + s] as i64;
            if last == NONE || ts_ms > last {
                sys.arena[ns + s] = ts_ms as u64;
            }
            shard.counters.observed += 1;
            let mut changed = false;
            for &r in &c.by_signal[s] {
                changed |= self.eval_rule(h, sys, r as usize, wb, &mut pending);
            }
            if changed {
                self.eval_system(h, sys, &mut pending);
            }
            level = sys.level;
            if !pending.is_empty() {
                self.sequence(&mut pending);
            }
        }
        if !pending.is_empty() {
            self.deliver(pending);
        }
        Ok(level)
    }

    /// Raises every registered system's watermark to `now_ms` (never lowers it), then
    /// evaluates every rule of every system at its own watermark, systems in registration
    /// order.
    pub fn tick(&self, now_ms: i64) {
        let n = self.count.load(Ordering::Acquire);
        for h in 0..n {
            let h = SystemHandle(h);
            let mut pending = Pending::new();
            {
                let mut shard = self.shard(h).lock();
                let Some(sys) = shard
                    .systems
                    .get_mut((h.0 >> SHARD_BITS) as usize)
                    .and_then(Option::as_mut)
                else {
                    continue;
                };
                self.tick_system(h, sys, now_ms, &mut pending);
                if !pending.is_empty() {
                    self.sequence(&mut pending);
                }
            }
            if !pending.is_empty() {
                self.deliver(pending);
            }
        }
    }

    fn tick_system(&self, h: SystemHandle, sys: &mut SystemState, now_ms: i64, p: &mut Pending) {
        if now_ms != NONE && (sys.watermark == NONE || now_ms > sys.watermark) {
            sys.watermark = now_ms;
        }
        if sys.first_watermark == NONE && sys.watermark != NONE {
            sys.first_watermark = sys.watermark;
        }
        if sys.watermark == NONE {
            return;
        }
        let mut changed = false;
        let wb = bucket_index(sys.watermark, self.policy.0.bucket_ms);
        for r in 0..self.policy.0.rules.len() {
            changed |= self.eval_rule(h, sys, r, wb, p);
        }
        if changed {
            self.eval_system(h, sys, p);
        }
    }

    /// Evaluates one rule at the system's watermark; pushes a transition if its level changed.
    #[inline]
    fn eval_rule(
        &self,
        h: SystemHandle,
        sys: &mut SystemState,
        r: usize,
        wb: i64,
        p: &mut Pending,
    ) -> bool {
        let c = &*self.policy.0;
        let rule = &c.rules[r];
        let w = sys.watermark;
        let rec_at = rule.rec as usize;
        let mut st = RuleState::load(&sys.arena[rec_at..rec_at + 6]);
        let eval = self.aggregate(sys, r, wb, st.is_quiet());
        if eval == Eval::Unchanged {
            return false;
        }
        let change = step(rule, sys.grade as usize, &mut st, w, eval);
        st.store(&mut sys.arena[rec_at..rec_at + 6]);
        let Some(Change {
            from,
            to,
            value,
            threshold,
        }) = change
        else {
            return false;
        };
        let resp = c.responses.for_level(to, rule.category);
        p.push(Transition {
            seq: 0,
            ts: w,
            scope: Scope::Rule,
            system: h.0,
            system_id: sys.id.clone(),
            grade: sys.grade,
            grade_id: c.grades[sys.grade as usize].id.clone(),
            rule: Some(rule.index),
            rule_id: Some(rule.id.clone()),
            category: rule.category.map(|i| c.categories[i as usize].id.clone()),
            from,
            to,
            value,
            threshold,
            actions: resp.actions,
            report_within_s: resp.report_within_s,
            basis: rule.basis.clone(),
        });
        true
    }

    /// The value of rule `r`'s aggregate at the system's watermark.
    #[inline]
    fn aggregate(&self, sys: &mut SystemState, r: usize, wb: i64, quiet: bool) -> Eval {
        let c = &*self.policy.0;
        let rule = &c.rules[r];
        let w = sys.watermark;
        let s = rule.signal as usize;
        if rule.aggregate == Aggregate::SilenceMs {
            let last = sys.arena[c.signals.len() + s] as i64;
            let last = if last != NONE {
                last
            } else {
                sys.first_watermark
            };
            return Eval::Value(w.saturating_sub(last) as f64);
        }
        let spec = &c.rings[s];
        let mut head = sys.arena[s] as i64;
        window::advance(&mut sys.arena, spec, &mut head, wb);
        sys.arena[s] = head as u64;
        let a = window::cached(&sys.arena, spec, rule.sig_cache);
        let min = rule.min_samples as f64;
        if rule.aggregate == Aggregate::Rate {
            let per = rule.per.unwrap_or(rule.signal) as usize;
            let pspec = &c.rings[per];
            let mut head = sys.arena[per] as i64;
            window::advance(&mut sys.arena, pspec, &mut head, wb);
            sys.arena[per] = head as u64;
            let d = window::cached(&sys.arena, pspec, rule.per_cache);
            if rule.on_empty == OnEmpty::Clear && a.count == 0.0 && d.count == 0.0 {
                return Eval::Empty;
            }
            if d.sum == 0.0 || d.sum < min {
                return Eval::Undefined;
            }
            let v = match rule.wilson_z {
                // A quiet rule whose raw proportion cannot meet its lowest threshold stays
                // quiet: for p in [0, 1] the Wilson interval contains p, so the bound used
                // (lower for "above", upper for "below") cannot meet it either.
                Some(_)
                    if quiet
                        && (0.0..=1.0).contains(&(a.sum / d.sum))
                        && !crate::rule::may_meet(rule, sys.grade as usize, a.sum / d.sum) =>
                {
                    return Eval::Unchanged;
                }
                Some(z) => window::wilson(
                    a.sum,
                    d.sum,
                    z,
                    rule.direction == crate::policy::Direction::Above,
                ),
                None => a.sum / d.sum,
            };
            return Eval::Value(v);
        }
        if rule.on_empty == OnEmpty::Clear && a.count == 0.0 {
            return Eval::Empty;
        }
        match rule.aggregate {
            Aggregate::Count | Aggregate::Sum => {
                if a.count < min {
                    Eval::Undefined
                } else if rule.aggregate == Aggregate::Count {
                    Eval::Value(a.count)
                } else {
                    Eval::Value(a.sum)
                }
            }
            Aggregate::Mean | Aggregate::Max | Aggregate::Min => {
                if a.count < min.max(1.0) {
                    Eval::Undefined
                } else {
                    Eval::Value(match rule.aggregate {
                        Aggregate::Mean => a.sum / a.count,
                        Aggregate::Max => a.max,
                        _ => a.min,
                    })
                }
            }
            Aggregate::Rate | Aggregate::SilenceMs => Eval::Undefined,
        }
    }

    /// Recomputes the system level; pushes a system-scope transition if it changed.
    fn eval_system(&self, h: SystemHandle, sys: &mut SystemState, p: &mut Pending) {
        let c = &*self.policy.0;
        let rule_level = |r: &crate::policy::Rule| {
            Level::from_u8(sys.arena[r.rec as usize + 5] as u8).unwrap_or(Level::None)
        };
        let mut level = c.rules.iter().map(rule_level).max().unwrap_or(Level::None);
        if let Some(esc) = c.escalation {
            let mut seen = [0u64; 16];
            for r in &c.rules {
                if rule_level(r) >= esc.at_least {
                    if let Some(cat) = r.category {
                        seen[(cat >> 6) as usize & 15] |= 1 << (cat & 63);
                    }
                }
            }
            let n: u32 = seen.iter().map(|w| w.count_ones()).sum();
            if n >= esc.min_categories {
                level = level.raised(esc.raise_by);
            }
        }
        if level != sys.level {
            let from = sys.level;
            sys.level = level;
            let resp = c.responses.for_level(level, None);
            p.push(Transition {
                seq: 0,
                ts: sys.watermark,
                scope: Scope::System,
                system: h.0,
                system_id: sys.id.clone(),
                grade: sys.grade,
                grade_id: c.grades[sys.grade as usize].id.clone(),
                rule: None,
                rule_id: None,
                category: None,
                from,
                to: level,
                value: None,
                threshold: None,
                actions: resp.actions,
                report_within_s: resp.report_within_s,
                basis: None,
            });
        }
    }

    /// Assigns sequence numbers (called with the shard lock held, so a system's transitions
    /// are numbered in the order they happened). Without a sink, the transitions are queued
    /// here too, under the queue lock, so the queue is in `seq` order.
    fn sequence(&self, p: &mut Pending) {
        let mut queue = (!self.has_sink.load(Ordering::Acquire)).then(|| self.queue.lock());
        let mut journal = self
            .has_journal
            .load(Ordering::Acquire)
            .then(|| self.journal.lock());
        for t in p.iter_mut() {
            t.seq = self.seq.fetch_add(1, Ordering::AcqRel) + 1;
            if let Some(Some(j)) = journal.as_deref_mut() {
                if j.append(&transition_record(t)).is_err() {
                    self.journal_errors.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        if let Some(q) = queue.as_mut() {
            for t in p.drain(..) {
                if q.items.len() >= q.cap {
                    self.dropped.fetch_add(1, Ordering::Relaxed);
                } else {
                    q.items.push_back(t);
                }
            }
        }
    }

    fn journal_record(&self, rec: &serde_json::Map<String, serde_json::Value>) {
        if let Some(j) = self.journal.lock().as_mut() {
            if j.append(rec).is_err() {
                self.journal_errors.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Opens (or creates) an audit journal at `path` and records every later registration,
    /// deregistration, profile update and transition in it (see [`crate::journal`]). An
    /// existing file is verified first and a torn last line is truncated (reported). Replaces
    /// any journal already open. A record that cannot be written is counted in
    /// [`Stats::journal_errors`]; the engine goes on.
    ///
    /// # Errors
    /// [`Error::Io`], or [`Error::State`] when the existing file does not verify.
    pub fn open_journal(
        &self,
        path: &std::path::Path,
        durability: Durability,
    ) -> Result<OpenReport> {
        let (j, report) = Journal::open(path, durability)?;
        let mut slot = self.journal.lock();
        *slot = Some(j);
        self.has_journal.store(true, Ordering::Release);
        Ok(report)
    }

    /// Closes the journal (syncing it unless its durability is `Never`).
    pub fn close_journal(&self) {
        let mut slot = self.journal.lock();
        self.has_journal.store(false, Ordering::Release);
        *slot = None;
    }

    /// Forces the journal's records to stable storage, if a journal is open.
    ///
    /// # Errors
    /// [`Error::Io`].
    pub fn sync_journal(&self) -> Result<()> {
        match self.journal.lock().as_mut() {
            Some(j) => j.sync(),
            None => Ok(()),
        }
    }

    /// Hands transitions sequenced for the sink to it (no engine lock held).
    fn deliver(&self, p: Pending) {
        if p.is_empty() {
            return;
        }
        let sink = self.sink.read().clone();
        match sink {
            Some(f) => {
                for t in &p {
                    f(t);
                }
            }
            None => {
                // The sink was removed between sequencing and delivery: queue them.
                let mut q = self.queue.lock();
                for t in p {
                    if q.items.len() >= q.cap {
                        self.dropped.fetch_add(1, Ordering::Relaxed);
                    } else {
                        q.items.push_back(t);
                    }
                }
            }
        }
    }

    /// Sets (or with `None`, removes) the transition sink. With a sink, transitions go to it
    /// instead of the queue; transitions already queued stay there.
    pub fn set_sink(&self, sink: Option<Sink>) {
        let mut s = self.sink.write();
        self.has_sink.store(sink.is_some(), Ordering::Release);
        *s = sink;
    }

    /// Moves every queued transition into `out` (appending), oldest first; returns how many.
    pub fn drain(&self, out: &mut Vec<Transition>) -> usize {
        let mut q = self.queue.lock();
        let n = q.items.len();
        out.extend(q.items.drain(..));
        n
    }

    /// Moves up to `max` queued transitions into `out`, oldest first; returns how many.
    pub fn drain_up_to(&self, out: &mut Vec<Transition>, max: usize) -> usize {
        let mut q = self.queue.lock();
        let n = q.items.len().min(max);
        out.extend(q.items.drain(..n));
        n
    }

    /// Transitions waiting in the queue.
    pub fn queued(&self) -> usize {
        self.queue.lock().items.len()
    }

    /// The current level of a system.
    ///
    /// # Errors
    /// [`Error::UnknownSystem`].
    pub fn system_level(&self, h: SystemHandle) -> Result<Level> {
        let shard = self.shard(h).lock();
        match shard.systems.get((h.0 >> SHARD_BITS) as usize) {
            Some(Some(s)) => Ok(s.level),
            _ => Err(Error::UnknownSystem(h.0)),
        }
    }

    /// The current level of every rule of a system, in rule order.
    ///
    /// # Errors
    /// [`Error::UnknownSystem`].
    pub fn rule_levels(&self, h: SystemHandle) -> Result<Vec<Level>> {
        let shard = self.shard(h).lock();
        match shard.systems.get((h.0 >> SHARD_BITS) as usize) {
            Some(Some(s)) => Ok(self
                .policy
                .0
                .rules
                .iter()
                .map(|r| Level::from_u8(s.arena[r.rec as usize + 5] as u8).unwrap_or(Level::None))
                .collect()),
            _ => Err(Error::UnknownSystem(h.0)),
        }
    }

    /// The system's watermark (largest time seen), if any.
    ///
    /// # Errors
    /// [`Error::UnknownSystem`].
    pub fn watermark(&self, h: SystemHandle) -> Result<Option<i64>> {
        let shard = self.shard(h).lock();
        match shard.systems.get((h.0 >> SHARD_BITS) as usize) {
            Some(Some(s)) => Ok((s.watermark != NONE).then_some(s.watermark)),
            _ => Err(Error::UnknownSystem(h.0)),
        }
    }

    /// Handles of the registered systems, in registration order.
    pub fn systems(&self) -> Vec<SystemHandle> {
        let reg = self.registry.read();
        let mut v: Vec<SystemHandle> = reg.ids.values().map(|&h| SystemHandle(h)).collect();
        v.sort();
        v
    }

    /// The engine's counters.
    pub fn stats(&self) -> Stats {
        let mut s = Stats::default();
        for sh in self.shards.iter() {
            let g = sh.0.lock();
            s.observed += g.counters.observed;
            s.rejected_stale += g.counters.rejected_stale;
            s.rejected_invalid += g.counters.rejected_invalid;
        }
        s.rejected_invalid += self.rejected_unknown.load(Ordering::Relaxed);
        s.transitions = self.seq.load(Ordering::Acquire);
        s.dropped = self.dropped.load(Ordering::Relaxed);
        s.systems = self.systems.load(Ordering::Relaxed);
        s.journal_errors = self.journal_errors.load(Ordering::Relaxed);
        s
    }

    /// Bytes of state one registered system holds under this policy (buckets, timestamps,
    /// rule states and the fixed part), not counting its profile's strings.
    pub fn state_bytes_per_system(&self) -> usize {
        let c = &*self.policy.0;
        std::mem::size_of::<SystemState>()
            + std::mem::size_of::<Profile>()
            + c.arena_words as usize * 8
    }
}

fn profile_record(
    kind: &str,
    profile: &Profile,
    cls: &Classification,
) -> serde_json::Map<String, serde_json::Value> {
    let mut m = serde_json::Map::new();
    m.insert("kind".into(), kind.into());
    m.insert("system".into(), profile.id.clone().into());
    m.insert("grade".into(), (*cls.grade).into());
    m.insert("score".into(), cls.score.into());
    m.insert(
        "profile".into(),
        serde_json::to_value(profile).unwrap_or_default(),
    );
    m
}

fn transition_record(t: &Transition) -> serde_json::Map<String, serde_json::Value> {
    let mut m = match serde_json::to_value(t) {
        Ok(serde_json::Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    };
    m.insert("kind".into(), "transition".into());
    m
}
