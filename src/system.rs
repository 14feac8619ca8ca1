//! One system's monitoring state and its evaluation: the layer under the engine.
//!
//! The engine finds a system (registry, shard lock) and hands its state here; this module
//! applies observations and ticks to it, evaluates the rules they concern
//! ([`crate::rule::evaluate`]), recomputes the system level with escalation, and builds the
//! transitions ([`Transition::of_rule`], [`Transition::of_system`]). The engine then
//! numbers and delivers them. Data flows down: engine → system → rule → window → layout.

use crate::classify::Profile;
use crate::detector::{bin, consume};
use crate::error::Error;
use crate::handle::SystemHandle;
use crate::incident::{
    Ctx, IncidentEvent, Refused, ReportKind, RuleRef, SystemIncidents, category_state,
};
use crate::layout::{NONE, SystemArena};
use crate::level::{Actions, Level};
use crate::policy::Compiled;
use crate::policy::model::{Aggregate, Detector, IncidentsPolicy, Rule, SignalKind};
use crate::reload::Fresh;
use crate::response::Response;
use crate::rule::{self, Change, Pass};
use crate::silence::{Silences, mute};
use crate::transition::{At, Transition};
use crate::window::bucket_index;
use parking_lot::RwLock;
use smallvec::SmallVec;
use std::sync::Arc;

/// What an evaluation emits, in emission order.
#[derive(Debug, Clone)]
pub(crate) enum Output {
    Transition(Transition),
    Incident(IncidentEvent),
}

/// Outputs produced while a shard lock is held, delivered after it is released. A `Vec`
/// allocates only when something is pushed, and is one word on the stack until then.
pub(crate) type Pending = Vec<Output>;

/// A system's incidents (under a policy with an `incidents` section).
#[derive(Debug, Clone)]
pub(crate) struct IncidentSlot {
    /// Index of the system's operator type in the policy's `operator_types`.
    pub operator_type: u32,
    /// The earliest deadline not yet reported overdue (`i64::MAX`: none), checked after
    /// every evaluation without touching the incidents themselves.
    pub next_due: i64,
    /// Incidents not closed, and counters; `None` until the first incident opens.
    pub state: Option<Box<SystemIncidents>>,
}

impl IncidentSlot {
    pub fn new(operator_type: u32) -> IncidentSlot {
        IncidentSlot {
            operator_type,
            next_due: i64::MAX,
            state: None,
        }
    }

    pub fn refresh(&mut self) {
        self.next_due = self.state.as_ref().map_or(i64::MAX, |s| s.next_deadline());
    }
}

/// The parts of a registered system that evaluation does not read.
#[derive(Debug, Clone)]
pub(crate) struct SystemInfo {
    pub id: Arc<str>,
    pub profile: Box<Profile>,
}

/// Why an observation was rejected (it changed nothing).
#[derive(Debug)]
pub(crate) enum Rejected {
    /// Its bucket has left the signal's ring.
    Stale(Error),
    /// Non-finite value, negative counter, or `ts == i64::MIN`.
    Invalid(Error),
}

/// A system being evaluated under one policy: its id, handle, state block and incidents.
pub(crate) struct Sys<'a> {
    pub policy: &'a Compiled,
    pub handle: SystemHandle,
    pub id: &'a Arc<str>,
    pub arena: SystemArena<'a>,
    pub incidents: &'a mut IncidentSlot,
    /// The engine's silences (read only when an evaluation emitted a transition).
    pub silences: &'a RwLock<Silences>,
    /// Private windows of rules that a policy reload restarted (usually empty).
    pub fresh: &'a mut Vec<Fresh>,
}

impl Sys<'_> {
    /// Applies an observation of signal `s` at `ts` and evaluates the rules that read the
    /// signal, in declaration order, at the watermark after it; then the system level.
    #[inline]
    pub fn observe(
        &mut self,
        s: usize,
        value: f64,
        ts: i64,
        out: &mut Pending,
    ) -> Result<(), Rejected> {
        self.check_value(s, value, ts)?;
        self.check_stale(s, ts)?;
        let b = self.advance(ts);
        self.apply(s, b, value, ts);
        let rules = &self.policy.tables.by_signal[s];
        self.evaluate(rules.iter().copied(), Some(s as u32), out);
        Ok(())
    }

    /// Applies several observations of one system at one time (each signal at most once):
    /// every value first, then each rule that reads any of the signals once, in declaration
    /// order. Any invalid, repeated or stale entry rejects the whole batch and applies
    /// nothing (stale only when staleness is the only problem). An empty batch is a no-op.
    pub fn observe_many(
        &mut self,
        values: &[(usize, f64)],
        ts: i64,
        out: &mut Pending,
    ) -> Result<(), Rejected> {
        if values.is_empty() {
            return Ok(());
        }
        for (i, &(s, v)) in values.iter().enumerate() {
            self.check_value(s, v, ts)?;
            if values[..i].iter().any(|&(x, _)| x == s) {
                return Err(Rejected::Invalid(Error::Value {
                    signal: self.policy.signals[s].id.to_string(),
                    value: v,
                    reason: "the signal appears more than once in the batch",
                }));
            }
        }
        for &(s, _) in values {
            self.check_stale(s, ts)?;
        }
        let b = self.advance(ts);
        let n = self.policy.rules.len();
        if n <= 64 {
            // One word of rule bits; its set bits in increasing order are the rules that
            // read any of the values, in declaration order.
            // Every ring of the batch is current after its apply: the one read by the most
            // rules is passed as the observed signal, so they skip that check.
            let (mut mask, mut busiest, mut most) = (0u64, values[0].0, 0);
            for &(s, v) in values {
                self.apply(s, b, v, ts);
                let rules = &self.policy.tables.by_signal[s];
                if rules.len() > most {
                    (busiest, most) = (s, rules.len());
                }
                for &r in rules {
                    mask |= 1 << r;
                }
            }
            let rules = std::iter::from_fn(move || {
                (mask != 0).then(|| {
                    let r = mask.trailing_zeros();
                    mask &= mask - 1;
                    r
                })
            });
            self.evaluate(rules, Some(busiest as u32), out);
            return Ok(());
        }
        let mut affected: SmallVec<[u64; 4]> = SmallVec::from_elem(0, n.div_ceil(64));
        for &(s, v) in values {
            self.apply(s, b, v, ts);
            for &r in &self.policy.tables.by_signal[s] {
                affected[r as usize / 64] |= 1 << (r % 64);
            }
        }
        let rules = (0..n as u32).filter(|&r| affected[r as usize / 64] & (1 << (r % 64)) != 0);
        self.evaluate(rules, None, out);
        Ok(())
    }

    /// A value must be finite, a counter's ≥ 0, and `ts` above `i64::MIN`.
    #[inline]
    fn check_value(&self, s: usize, value: f64, ts: i64) -> Result<(), Rejected> {
        let sig = &self.policy.signals[s];
        let bad = if !value.is_finite() {
            Some("value is not finite")
        } else if value < 0.0 && sig.kind == SignalKind::Counter {
            Some("a counter's value must be ≥ 0")
        } else if ts == NONE {
            Some("ts_ms must be greater than i64::MIN")
        } else {
            None
        };
        match bad {
            Some(reason) => Err(Rejected::Invalid(Error::Value {
                signal: sig.id.to_string(),
                value,
                reason,
            })),
            None => Ok(()),
        }
    }

    /// An observation of signal `s` at `ts` is stale when it is not newer than the
    /// watermark and its bucket is at or before `idx(w) − B`.
    #[inline]
    fn check_stale(&self, s: usize, ts: i64) -> Result<(), Rejected> {
        let a = &self.arena;
        let w = a.watermark();
        if w == NONE || ts > w {
            return Ok(());
        }
        let b = bucket_index(ts, self.policy.bucket_ms);
        let oldest = a.wb().saturating_sub(a.layout.rings[s].len as i64);
        if b <= oldest {
            return Err(Rejected::Stale(Error::Stale {
                ts_ms: ts,
                bucket: b,
                oldest_rejected: oldest,
            }));
        }
        Ok(())
    }

    /// Adds an accepted observation of signal `s` (bucket `b`, time `ts`) to the state.
    #[inline(always)]
    fn apply(&mut self, s: usize, b: i64, value: f64, ts: i64) {
        let a = &mut self.arena;
        a.current_ring(s, a.layout.rings[s].stale);
        a.add(s, b, value);
        a.note_ts(s, ts);
        let psi = &self.policy.tables.psi_by_signal[s];
        if !psi.is_empty() {
            self.add_psi(psi, b, value);
        }
        if !self.fresh.is_empty() {
            self.add_fresh(s, b, value, ts);
        }
    }

    /// Counts an accepted observation in the private windows that read its signal.
    #[cold]
    fn add_fresh(&mut self, s: usize, b: i64, value: f64, ts: i64) {
        let (c, wb) = (self.policy, self.arena.wb());
        for f in self.fresh.iter_mut() {
            f.add(&c.tables.rules[f.rule as usize], wb, s as u32, b, value);
        }
        let _ = ts;
        if !self.fresh.is_empty() {
            self.expire_fresh();
        }
    }

    /// Counts an observation in the histograms of the `psi` rules of its signal.
    #[cold]
    fn add_psi(&mut self, rules: &[u32], b: i64, value: f64) {
        for &r in rules {
            let ev = &self.policy.tables.rules[r as usize];
            if let (Some(h), Some(Detector::Psi { bins, .. })) = (&ev.at.hist, &ev.detector) {
                self.arena.current_hist(h);
                self.arena.add_hist(h, b, bin(bins, value));
            }
        }
    }

    /// Raises the watermark to `ts` if it is newer; returns `ts`'s bucket. When the
    /// watermark enters a later bucket, the buckets it closes are consumed by the `ewma` and
    /// `cusum` rules.
    #[inline]
    fn advance(&mut self, ts: i64) -> i64 {
        let b = bucket_index(ts, self.policy.bucket_ms);
        let a = &mut self.arena;
        let w = a.watermark();
        if w == NONE || ts > w {
            a.set_watermark(ts);
            if a.first_watermark() == NONE {
                a.set_first_watermark(ts);
            }
            let old = a.wb();
            if old != b {
                if old != NONE && !self.policy.tables.detectors.is_empty() {
                    self.close_buckets(old, b - 1);
                }
                self.arena.set_wb(b);
                if !self.fresh.is_empty() {
                    self.expire_fresh();
                }
            }
        }
        b
    }

    /// The detectors consume the closed buckets `from ..= to`.
    #[cold]
    fn close_buckets(&mut self, from: i64, to: i64) {
        let c = self.policy;
        for &r in &c.tables.detectors {
            let ev = &c.tables.rules[r as usize];
            // A detector restarted by a reload skips the bucket that was open at the reload.
            let skip = self
                .fresh
                .iter()
                .any(|f| f.rule == r && f.reload_bucket == from);
            consume(ev, &mut self.arena, from, to, ev.counter, skip);
        }
    }

    /// Drops the private windows that the shared windows have caught up with.
    fn expire_fresh(&mut self) {
        let (c, wb) = (self.policy, self.arena.wb());
        let last_ts = |s: u32| self.arena.last_ts(s as usize);
        self.fresh.retain(|f| {
            let ev = &c.tables.rules[f.rule as usize];
            let caught_up = match ev.aggregate {
                Aggregate::SilenceMs => last_ts(ev.signal) >= f.since,
                _ => f.expired(ev, wb),
            };
            !caught_up
        });
    }

    /// One evaluation: `rules` in order, the system level, muting, then the deadlines.
    #[inline]
    fn evaluate(
        &mut self,
        rules: impl Iterator<Item = u32>,
        observed: Option<u32>,
        out: &mut Pending,
    ) {
        let start = out.len();
        if self.evaluate_rules(rules, observed, out) {
            self.evaluate_level(out);
        }
        if out.len() > start {
            self.mute(&mut out[start..]);
        }
        if self.arena.watermark() >= self.incidents.next_due {
            self.check_overdue(out);
        }
    }

    /// Applies silences and inhibition to the transitions of this evaluation.
    fn mute(&self, outputs: &mut [Output]) {
        let c = self.policy;
        let silences = self.silences.read();
        if c.inhibit.is_empty() && silences.is_empty() {
            return;
        }
        let a = &self.arena;
        mute(
            c,
            (!silences.is_empty()).then_some(&*silences),
            |r| a.rule_level(r),
            outputs,
        );
    }

    /// Raises the watermark to `now` (never lowers it), then evaluates every rule and the
    /// system level. A system that has no watermark and gets none evaluates nothing.
    pub fn tick(&mut self, now: i64, out: &mut Pending) {
        let c = self.policy;
        if now != NONE {
            self.advance(now);
        }
        if self.arena.watermark() == NONE {
            return;
        }
        self.evaluate(0..c.rules.len() as u32, None, out);
    }

    /// Evaluates `rules` in order; pushes a transition for each change. Whether any changed.
    #[inline]
    fn evaluate_rules(
        &mut self,
        rules: impl Iterator<Item = u32>,
        observed: Option<u32>,
        out: &mut Pending,
    ) -> bool {
        let c = self.policy;
        let pass = Pass {
            grade: self.arena.grade() as usize,
            w: self.arena.watermark(),
            observed,
            fresh: !self.fresh.is_empty(),
        };
        if pass.fresh {
            return self.evaluate_rules_fresh(rules, &pass, out);
        }
        let mut changed = false;
        for r in rules {
            let r = r as usize;
            if let Some(ch) =
                rule::evaluate(&c.rules[r], &c.tables.rules[r], &pass, &mut self.arena)
            {
                self.rule_changed(r, ch, out);
                changed = true;
            }
        }
        changed
    }

    /// [`Self::evaluate_rules`] for a system with private windows (for a while after a
    /// policy reload). Out of line: the common loop stays tight.
    #[cold]
    #[inline(never)]
    fn evaluate_rules_fresh(
        &mut self,
        rules: impl Iterator<Item = u32>,
        pass: &Pass,
        out: &mut Pending,
    ) -> bool {
        let c = self.policy;
        let mut changed = false;
        for r in rules {
            let r = r as usize;
            let (rule, ev) = (&c.rules[r], &c.tables.rules[r]);
            let change = match self.fresh.iter_mut().find(|f| f.rule == r as u32) {
                Some(f) => rule::evaluate_fresh(rule, ev, pass, &mut self.arena, f),
                None => rule::evaluate(rule, ev, pass, &mut self.arena),
            };
            if let Some(ch) = change {
                self.rule_changed(r, ch, out);
                changed = true;
            }
        }
        changed
    }

    /// Emits rule `r`'s transition and the incident events it causes.
    #[inline(never)]
    fn rule_changed(&mut self, r: usize, ch: Change, out: &mut Pending) {
        let c = self.policy;
        let rule = &c.rules[r];
        let resp = c.responses.for_level(ch.to, rule.category);
        out.push(Output::Transition(Transition::of_rule(
            &self.at(),
            rule,
            ch,
            resp,
        )));
        if let (Some(ip), Some(cat)) = (&c.incidents, rule.category) {
            self.incident_step(ip, &RuleRef::of(c, rule), cat, ch.to, out);
        }
    }

    /// The incident events a rule transition causes, computed from the rule levels at this
    /// point of the evaluation. Out of line: the rule loop stays tight.
    #[cold]
    #[inline(never)]
    pub(crate) fn incident_step(
        &mut self,
        ip: &IncidentsPolicy,
        rule: &RuleRef,
        category: u32,
        to: Level,
        out: &mut Pending,
    ) {
        let c = self.policy;
        let a = &self.arena;
        let (severity, all_none) =
            category_state(ip, &c.rules_by_category[category as usize], category, |r| {
                a.rule_level(r)
            });
        let cx = Ctx {
            policy: c,
            ip,
            system: self.handle,
            system_id: self.id,
            operator_type: self.incidents.operator_type,
        };
        let state = self.incidents.state.get_or_insert_with(Default::default);
        let mut events = Vec::new();
        state.on_rule_change(
            &cx,
            rule,
            category,
            to,
            a.watermark(),
            severity,
            all_none,
            &mut events,
        );
        out.extend(events.into_iter().map(Output::Incident));
        self.incidents.refresh();
    }

    /// `overdue` events for every deadline at or before the watermark.
    fn check_overdue(&mut self, out: &mut Pending) {
        let (Some(ip), Some(state)) = (&self.policy.incidents, self.incidents.state.as_mut())
        else {
            return;
        };
        let cx = Ctx {
            policy: self.policy,
            ip,
            system: self.handle,
            system_id: self.id,
            operator_type: self.incidents.operator_type,
        };
        let mut events = Vec::new();
        state.check_overdue(&cx, self.arena.watermark(), &mut events);
        out.extend(events.into_iter().map(Output::Incident));
        self.incidents.refresh();
    }

    /// Acknowledges one of this system's incidents (moves no clock).
    pub fn acknowledge(
        &mut self,
        id: &str,
        ts: i64,
        by: &str,
        out: &mut Pending,
    ) -> Result<(), Refused> {
        let (Some(ip), Some(state)) = (&self.policy.incidents, self.incidents.state.as_mut())
        else {
            return Err(Refused::Unknown);
        };
        let cx = Ctx {
            policy: self.policy,
            ip,
            system: self.handle,
            system_id: self.id,
            operator_type: self.incidents.operator_type,
        };
        let e = state.acknowledge(&cx, id, ts, by)?;
        out.push(Output::Incident(e));
        self.incidents.refresh();
        Ok(())
    }

    /// Files a report of one of this system's incidents (moves no clock).
    pub fn file_report(
        &mut self,
        id: &str,
        kind: ReportKind,
        ts: i64,
        reference: &str,
        out: &mut Pending,
    ) -> Result<(), Refused> {
        let (Some(ip), Some(state)) = (&self.policy.incidents, self.incidents.state.as_mut())
        else {
            return Err(Refused::Unknown);
        };
        let cx = Ctx {
            policy: self.policy,
            ip,
            system: self.handle,
            system_id: self.id,
            operator_type: self.incidents.operator_type,
        };
        let mut events = Vec::new();
        state.file_report(&cx, id, kind, ts, reference, &mut events)?;
        out.extend(events.into_iter().map(Output::Incident));
        self.incidents.refresh();
        Ok(())
    }

    /// The outputs of a policy reload for this system, whose state was just moved to this
    /// policy: a transition to none (`"reason": "policy_reload"`) for each rule reset
    /// (then each removed) while above none under `old`, their incident events, the system
    /// line if the level changed, all muted as usual. `old_levels` are the rules' levels
    /// under `old`; `matched[r]` is new rule r's old index, `keep[r]` whether it is kept.
    pub fn reload_outputs(
        &mut self,
        old: &Compiled,
        old_grade: u32,
        old_levels: &[Level],
        matched: &[Option<u32>],
        keep: &[Option<u32>],
        out: &mut Pending,
    ) {
        let c = self.policy;
        let start = out.len();
        let reason: Arc<str> = Arc::from("policy_reload");
        let at_old = At {
            policy: old,
            system: self.handle,
            system_id: self.id,
            grade: old_grade,
            ts: self.arena.watermark(),
        };
        let mut emit =
            |sys: &mut Sys<'_>, rule_old: &Rule, rule_new: Option<&Rule>, from: Level| {
                let change = Change {
                    from,
                    to: Level::None,
                    value: None,
                    threshold: None,
                };
                let mut t = Transition::of_rule(&at_old, rule_old, change, Response::default());
                let now = sys.at();
                t.grade = now.grade;
                t.grade_id = c.grades[now.grade as usize].id.clone();
                t.grade_name = c.tables.names.grades[now.grade as usize].clone();
                if let Some(r) = rule_new {
                    t.rule = Some(r.index);
                    t.rule_name = c.tables.names.rules[r.index as usize].clone();
                }
                t.reason = Some(reason.clone());
                out.push(Output::Transition(t));
                // Incidents follow the rule's category under the new policy.
                let cat_id = rule_old
                    .category
                    .map(|i| old.categories[i as usize].id.clone());
                if let (Some(ip), Some(cat)) = (
                    &c.incidents,
                    cat_id.and_then(|id| c.category_ix.get(&*id).copied()),
                ) {
                    let rref = match rule_new {
                        Some(r) => RuleRef::of(c, r),
                        None => RuleRef {
                            id: rule_old.id.clone(),
                            index: rule_old.index,
                            name: old.tables.names.rules[rule_old.index as usize].clone(),
                        },
                    };
                    sys.incident_step(ip, &rref, cat, Level::None, out);
                }
            };
        for (i1, (m, k)) in matched.iter().zip(keep).enumerate() {
            if let (Some(i0), None) = (m, k) {
                let from = old_levels[*i0 as usize];
                if from != Level::None {
                    emit(self, &old.rules[*i0 as usize], Some(&c.rules[i1]), from);
                }
            }
        }
        for r0 in &old.rules {
            if !c.rules.iter().any(|r| r.id == r0.id) {
                let from = old_levels[r0.index as usize];
                if from != Level::None {
                    emit(self, r0, None, from);
                }
            }
        }
        self.evaluate_level(out);
        if out.len() > start {
            self.mute(&mut out[start..]);
        }
    }

    /// Where the system is now (for building transitions).
    fn at(&self) -> At<'_> {
        At {
            policy: self.policy,
            system: self.handle,
            system_id: self.id,
            grade: self.arena.grade(),
            ts: self.arena.watermark(),
        }
    }

    /// The system level its rules call for now: the highest rule level, raised by
    /// escalation when enough distinct categories are at or above its level.
    pub fn computed_level(&self) -> Level {
        let c = self.policy;
        let a = &self.arena;
        let mut level = a.rule_levels().max().unwrap_or(Level::None);
        if let Some(esc) = c.escalation {
            let mut seen = [0u64; 16];
            for (r, l) in a.rule_levels().enumerate() {
                if l >= esc.at_least {
                    if let Some(cat) = c.rules[r].category {
                        seen[(cat >> 6) as usize & 15] |= 1 << (cat & 63);
                    }
                }
            }
            let n: u32 = seen.iter().map(|w| w.count_ones()).sum();
            if n >= esc.min_categories {
                level = level.raised(esc.raise_by);
            }
        }
        level
    }

    /// Recomputes the system level; pushes a system-scope transition if it changed.
    pub fn evaluate_level(&mut self, out: &mut Pending) {
        let level = self.computed_level();
        let from = self.arena.level();
        if level != from {
            self.arena.set_level(level);
            let resp = self.system_response(level);
            out.push(Output::Transition(Transition::of_system(
                &self.at(),
                from,
                level,
                resp,
            )));
        }
    }

    /// The response of a system-scope transition to `level`: the union of the level's
    /// response and the responses (with overrides) of the current levels of all the
    /// system's rules, so the system line never asks for less than a rule line; the
    /// deadline is the smallest of theirs. Nothing for `none`.
    fn system_response(&self, level: Level) -> Response {
        if level == Level::None {
            return Response::default();
        }
        let r = &self.policy.responses;
        let mut out = r.for_level(level, None);
        for (i, l) in self.arena.rule_levels().enumerate() {
            if l == Level::None {
                continue;
            }
            let x = r.for_level(l, self.policy.rules[i].category);
            out.actions = Actions(out.actions.0 | x.actions.0);
            out.report_within_s = match (out.report_within_s, x.report_within_s) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        out
    }
}
