//! A deliberately naive model of the engine's documented semantics, for comparing the
//! engine with its specification rather than with itself.
//!
//! The section signs in these comments name the parts of the specification, documented
//! for users in `docs/policy.md`: §1–§2 the evaluation ("Time, buckets and windows",
//! "Aggregates", "Levels, thresholds and the state machine", "System level and
//! escalation", "Responses"), §5 the event lines (`docs/formats.md`, "Event lines"), §7
//! "Incidents", §8 "Silences and inhibition", §9 "Detectors", §10 "Reload" (and batched
//! observations, `docs/formats.md`). Quoted phrases are the specification's words.
//!
//! Nothing here is fast or clever, on purpose:
//! - every accepted observation is kept in a plain list per (system, signal id), forever,
//!   with its arrival number and whether its bucket was still open when it arrived;
//! - every aggregate is recomputed from that list at every evaluation (no rings, no window
//!   caches, no arena, no shortcut for quiet rules) — detectors too: `ewma` and `cusum`
//!   replay every closed bucket from the first one at each evaluation;
//! - a rule that a reload restarts remembers the arrival number and the watermark of the
//!   reload, and reads only what arrived after it;
//! - every incident, closed ones included, stays in a list;
//! - the policy is read from its JSON document by [`policy::ModelPolicy::parse`], not
//!   through the engine's compiled form, so a mistake in the engine's compilation shows up.
//!
//! The only things taken from the crate are plain vocabulary types of its root (`Level`,
//! `Actions`, `Action`, `Scope`, `DueKind`, `ReportKind`, `IncidentEventKind`, and
//! `Transition` / `IncidentEvent` to convert the engine's output into the model's
//! comparable form).
//!
//! # Layout
//! - [`policy`]: the parsed document ([`policy::ModelPolicy`]).
//! - [`Model`]: the operations of the API, one method each ([`Model::register`],
//!   [`Model::observe`], [`Model::observe_many`], [`Model::tick`], [`Model::silence`],
//!   [`Model::unsilence`], [`Model::acknowledge`], [`Model::file_report`],
//!   [`Model::reload`]).
//! - [`SystemState`]: everything the model knows about one system.
//! - [`Model::evaluate`]: one evaluation of a list of rules of one system — rule
//!   transitions in order, each followed by the incident events it causes, then the
//!   system-scope transition, then muting, then the `overdue` events.
//! - [`Model::aggregate`]: one rule's value, recomputed from scratch — one match arm per
//!   aggregate; [`Model::detector`] for `ewma` and `cusum`.
//! - [`step`]: the per (system × rule) state machine.
//! - [`incidents`]: the incidents of one system.
#![allow(dead_code)]

pub mod generate;
pub mod incidents;
pub mod policy;

use airisk::{Action, Actions, DueKind, Level, ReportKind, Scope};
use incidents::{Cx, Ev, IncState, SysIncidents};
use policy::{Aggregate, ModelPolicy, ModelResponse, ModelRule, WARNINGS};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

// ---------------------------------------------------------------------------------------
// State.
// ---------------------------------------------------------------------------------------

/// One accepted observation.
#[derive(Debug, Clone, Copy)]
pub struct Obs {
    pub ts: i64,
    pub value: f64,
    /// Its number among every observation the model accepted (from 0).
    pub arrival: u64,
    /// Whether its bucket was still open when it arrived (§9: "later observations into a
    /// closed bucket do not change them").
    pub open: bool,
}

/// The state machine of one (system × rule) (§2 "Levels, thresholds and the state machine").
#[derive(Debug, Clone, Copy, Default)]
pub struct RuleState {
    /// C, the current level.
    pub level: Level,
    /// "for each level L the engine remembers since when `met(L, v)` has been true at every
    /// evaluation" (blue..red; `None` = not met at the last evaluation).
    pub met_since: [Option<i64>; 4],
    /// Since when D < C has held at every evaluation (`None` = it did not at the last one).
    pub below_since: Option<i64>,
    /// §10 "any other rule, and every new rule, starts empty": the rule reads only the
    /// observations whose arrival number is at least this (0 for a rule never restarted).
    pub epoch: u64,
    /// The system's watermark when a reload restarted the rule (`None`: never restarted,
    /// or restarted before the system had a watermark).
    pub reset_at: Option<i64>,
}

/// A silence (§8), as set by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelSilence {
    pub id: String,
    pub system: Option<String>,
    pub category: Option<String>,
    pub rule: Option<String>,
    pub starts: i64,
    pub ends: i64,
}

/// Everything the model knows about one registered system.
#[derive(Debug, Clone)]
pub struct SystemState {
    pub id: String,
    pub profile: Value,
    pub grade: usize,
    /// Index in the policy's `operator_types`.
    pub operator_type: usize,
    /// "the largest ts it has seen (from an observation of any of its signals, or from
    /// `tick`)".
    pub watermark: Option<i64>,
    /// The first watermark (for `silence_ms` before any observation of the signal, and the
    /// first bucket detectors consume).
    pub first_watermark: Option<i64>,
    /// Every accepted observation, per signal id, in arrival order. Never pruned; kept by
    /// id so that it outlives a reload.
    pub obs: HashMap<String, Vec<Obs>>,
    /// One per rule of the current policy, in its order.
    pub rules: Vec<RuleState>,
    /// "A system's level is the highest level of its rules" (plus escalation).
    pub level: Level,
    pub incidents: SysIncidents,
}

/// Why the model refused an operation. The harness compares these with the engine's
/// `Error` variants by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reject {
    /// "An observation whose bucket is `≤ idx(w) - B` is rejected as stale".
    Stale,
    /// "Values must be finite; counters must be ≥ 0." (and a signal repeated in a batch)
    Value,
    /// A handle or signal id the engine does not know.
    Unknown,
    /// A second system with the same id.
    Duplicate,
    /// A profile that names something the policy does not define.
    Profile,
    /// An invalid silence, or unsilencing an id that is not set.
    Silence,
    /// A reload refused.
    Reload,
    /// No incident with this id that is not closed.
    UnknownIncident,
    /// A report not owed, or a second acknowledgement.
    NotDue,
}

/// A transition, in a form both the model and the engine's output convert to, compared
/// field for field. (`system` and `grade` are the handle and rank; their ids are compared
/// too.)
#[derive(Debug, Clone)]
pub struct Tr {
    pub seq: u64,
    pub ts: i64,
    pub scope: Scope,
    pub system: u32,
    pub system_id: String,
    pub grade: u32,
    pub grade_id: String,
    pub rule: Option<u32>,
    pub rule_id: Option<String>,
    pub category: Option<String>,
    pub from: Level,
    pub to: Level,
    pub value: Option<f64>,
    pub threshold: Option<f64>,
    pub actions: Actions,
    pub report_within_s: Option<i64>,
    pub basis: Option<String>,
    pub silenced: Option<String>,
    pub inhibited_by: Option<String>,
    pub reason: Option<String>,
}

impl From<&airisk::Transition> for Tr {
    fn from(t: &airisk::Transition) -> Tr {
        let s = |x: &Option<std::sync::Arc<str>>| x.as_deref().map(str::to_owned);
        Tr {
            seq: t.seq,
            ts: t.ts,
            scope: t.scope,
            system: t.system.0,
            system_id: t.system_id.to_string(),
            grade: t.grade,
            grade_id: t.grade_id.to_string(),
            rule: t.rule,
            rule_id: s(&t.rule_id),
            category: s(&t.category),
            from: t.from,
            to: t.to,
            value: t.value,
            threshold: t.threshold,
            actions: t.actions,
            report_within_s: t.report_within_s,
            basis: s(&t.basis),
            silenced: s(&t.silenced),
            inhibited_by: s(&t.inhibited_by),
            reason: s(&t.reason),
        }
    }
}

/// One output, in emission order: transitions and incident events share one order (§7
/// "Order within one evaluation").
#[derive(Debug, Clone)]
pub enum Item {
    T(Tr),
    E(Ev),
}

/// What one operation emitted, in emission order.
#[derive(Debug, Clone, Default)]
pub struct Output {
    pub items: Vec<Item>,
}

/// Counters comparable with `Engine::stats`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    pub observed: u64,
    pub rejected_stale: u64,
    /// Non-finite values, negative counters, unknown handles or signals, repeated batch
    /// entries.
    pub rejected_invalid: u64,
}

/// What a rule's aggregate gave at one evaluation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Eval {
    Value(f64),
    /// "The value is *undefined* when ...".
    Undefined,
    /// `on_empty: "clear"` and "a window with no observations of its signal (nor of `per`)".
    Empty,
}

/// Plain window aggregates of one signal (recomputed from the observation list).
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub count: f64,
    pub sum: f64,
    pub min: f64,
    pub max: f64,
}

/// What a reload did, in the terms of the engine's `ReloadReport` (lists sorted).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReloadSummary {
    pub kept: Vec<String>,
    /// (rule, systems it restarts for, sorted).
    pub reset: Vec<(String, Vec<String>)>,
    pub added: Vec<String>,
    pub removed: Vec<String>,
    /// (system, grade before, grade after).
    pub regraded: Vec<(String, String, String)>,
    pub silences_removed: Vec<String>,
    pub transitions: u64,
}

/// The model: a policy, the registered systems (handle = index), the silences, `seq`s.
#[derive(Debug, Clone)]
pub struct Model {
    pub policy: ModelPolicy,
    pub systems: Vec<SystemState>,
    /// The last `seq` used: "`seq` starts at 1 and grows by 1 for every transition an
    /// engine emits".
    pub seq: u64,
    /// The incident stream's last `seq` ("their own stream, own `seq` from 1").
    pub ev_seq: u64,
    /// Observations accepted so far (the next one's arrival number).
    pub arrivals: u64,
    pub counters: Counters,
    pub silences: BTreeMap<String, ModelSilence>,
}

impl Model {
    pub fn new(doc: &Value) -> Model {
        Model {
            policy: ModelPolicy::parse(doc),
            systems: Vec::new(),
            seq: 0,
            ev_seq: 0,
            arrivals: 0,
            counters: Counters::default(),
            silences: BTreeMap::new(),
        }
    }

    fn push_tr(&mut self, mut t: Tr, out: &mut Output) {
        self.seq += 1;
        t.seq = self.seq;
        out.items.push(Item::T(t));
    }

    fn push_evs(&mut self, evs: Vec<Ev>, out: &mut Output) {
        for mut e in evs {
            self.ev_seq += 1;
            e.seq = self.ev_seq;
            out.items.push(Item::E(e));
        }
    }

    /// `register`: classify, fix the grade; handles are dense from 0 in registration order.
    /// "registering moves no clock".
    pub fn register(&mut self, profile: &Value) -> Result<u32, Reject> {
        let grade = self.policy.classify(profile).ok_or(Reject::Profile)?;
        let id = profile["id"].as_str().ok_or(Reject::Profile)?.to_owned();
        if self.systems.iter().any(|s| s.id == id) {
            return Err(Reject::Duplicate);
        }
        self.systems.push(SystemState {
            id,
            profile: profile.clone(),
            grade,
            operator_type: self.policy.operator_type(profile),
            watermark: None,
            first_watermark: None,
            obs: HashMap::new(),
            rules: vec![RuleState::default(); self.policy.rules.len()],
            level: Level::None,
            incidents: SysIncidents::default(),
        });
        Ok(self.systems.len() as u32 - 1)
    }

    /// "An observation whose bucket is `≤ idx(w) - B` is rejected as stale; [...] A system
    /// with no watermark yet rejects nothing as stale."
    fn stale(&self, h: u32, signal: usize, ts: i64) -> bool {
        let p = &self.policy;
        self.systems[h as usize]
            .watermark
            .is_some_and(|w| p.bucket(ts) <= p.bucket(w) - p.ring[signal])
    }

    /// Keeps an accepted observation and raises the watermark.
    fn accept(&mut self, h: u32, signal: usize, value: f64, ts: i64, w_before: Option<i64>) {
        let p = &self.policy;
        let sys = &mut self.systems[h as usize];
        let open = w_before.is_none_or(|w| p.bucket(ts) >= p.bucket(w));
        sys.obs
            .entry(p.signals[signal].id.clone())
            .or_default()
            .push(Obs {
                ts,
                value,
                arrival: self.arrivals,
                open,
            });
        self.arrivals += 1;
        self.counters.observed += 1;
        sys.watermark = Some(sys.watermark.map_or(ts, |w| w.max(ts)));
        sys.first_watermark.get_or_insert(ts);
    }

    /// `observe(s, x, value, ts)` where `signal` is the signal's id (`None`: an id the
    /// engine does not know).
    ///
    /// - "Values must be finite; counters must be ≥ 0." (checked first: an invalid value is
    ///   invalid whatever its time);
    /// - "An observation whose bucket is `≤ idx(w) - B` is rejected as stale; it changes
    ///   nothing."
    /// - "A late observation inside the ring is added to its own bucket" (here: it is kept
    ///   in the list with its own ts);
    /// - "Observing `(s, x)` evaluates, for system s, every rule whose `signal` or `per` is
    ///   x, at time w (after the observation is applied), in rule declaration order."
    /// - §7 "Every accepted observation, batch and tick checks the deadlines".
    ///
    /// Returns the system's level afterwards.
    pub fn observe(
        &mut self,
        h: u32,
        signal: Option<&str>,
        value: f64,
        ts: i64,
        out: &mut Output,
    ) -> Result<Level, Reject> {
        let p = &self.policy;
        let signal = signal.and_then(|s| p.signal_ix(s));
        let Some(signal) = signal.filter(|_| (h as usize) < self.systems.len()) else {
            self.counters.rejected_invalid += 1;
            return Err(Reject::Unknown);
        };
        if !value.is_finite() || (p.signals[signal].counter && value < 0.0) {
            self.counters.rejected_invalid += 1;
            return Err(Reject::Value);
        }
        if self.stale(h, signal, ts) {
            self.counters.rejected_stale += 1;
            return Err(Reject::Stale);
        }
        let w_before = self.systems[h as usize].watermark;
        self.accept(h, signal, value, ts, w_before);
        let rules: Vec<usize> = (0..self.policy.rules.len())
            .filter(|&r| self.policy.rules[r].reads(signal))
            .collect();
        self.evaluate(h, &rules, out);
        Ok(self.systems[h as usize].level)
    }

    /// §10 "Batched observation": "All values are applied first, then each affected rule
    /// is evaluated once, in declaration order. [...] Each value is checked against the
    /// watermark before the call (stale per its signal's ring); any stale, invalid or
    /// repeated entry rejects the whole call and applies nothing (status `_STALE` when the
    /// only problem is staleness). An empty batch is a no-op."
    ///
    /// Counters count every entry of a rejected batch (an unknown handle counts at least
    /// one).
    pub fn observe_many(
        &mut self,
        h: u32,
        values: &[(Option<&str>, f64)],
        ts: i64,
        out: &mut Output,
    ) -> Result<Level, Reject> {
        let n = values.len() as u64;
        if h as usize >= self.systems.len() {
            self.counters.rejected_invalid += n.max(1);
            return Err(Reject::Unknown);
        }
        let p = &self.policy;
        let mut ix = Vec::new();
        for (s, v) in values {
            match s.and_then(|s| p.signal_ix(s)) {
                Some(i) => ix.push((i, *v)),
                None => {
                    self.counters.rejected_invalid += n;
                    return Err(Reject::Unknown);
                }
            }
        }
        if ix.is_empty() {
            return Ok(self.systems[h as usize].level);
        }
        let invalid = ix.iter().enumerate().any(|(i, &(s, v))| {
            !v.is_finite()
                || (p.signals[s].counter && v < 0.0)
                || ix[..i].iter().any(|&(x, _)| x == s)
        });
        if invalid {
            self.counters.rejected_invalid += n;
            return Err(Reject::Value);
        }
        if ix.iter().any(|&(s, _)| self.stale(h, s, ts)) {
            self.counters.rejected_stale += n;
            return Err(Reject::Stale);
        }
        let w_before = self.systems[h as usize].watermark;
        for &(s, v) in &ix {
            self.accept(h, s, v, ts, w_before);
        }
        let rules: Vec<usize> = (0..self.policy.rules.len())
            .filter(|&r| ix.iter().any(|&(s, _)| self.policy.rules[r].reads(s)))
            .collect();
        self.evaluate(h, &rules, out);
        Ok(self.systems[h as usize].level)
    }

    /// "`tick(now)` raises every registered system's watermark to `now` (never lowers it),
    /// then evaluates every rule of every system at its own watermark, systems in
    /// registration order."
    pub fn tick(&mut self, now: i64, out: &mut Output) {
        for sys in &mut self.systems {
            sys.watermark = Some(sys.watermark.map_or(now, |w| w.max(now)));
            sys.first_watermark.get_or_insert(now);
        }
        let all: Vec<usize> = (0..self.policy.rules.len()).collect();
        for h in 0..self.systems.len() as u32 {
            self.evaluate(h, &all, out);
        }
    }

    /// The levels of the rules of `category` on system `h`, now.
    fn category_levels(&self, h: u32, category: &str) -> Vec<Level> {
        self.policy
            .rules
            .iter()
            .zip(&self.systems[h as usize].rules)
            .filter(|(r, _)| r.category.as_deref() == Some(category))
            .map(|(_, st)| st.level)
            .collect()
    }

    /// §7: the incident events a rule transition causes, with `levels` the levels of its
    /// category's rules at that point.
    fn incident_step(
        &mut self,
        h: u32,
        cause: (&str, u32),
        category: Option<&str>,
        to: Level,
        levels: &[Level],
        out: &mut Output,
    ) {
        let (Some(ip), Some(category)) = (&self.policy.incidents, category) else {
            return;
        };
        let sys = &mut self.systems[h as usize];
        let cx = Cx {
            ip,
            system: h,
            system_id: &sys.id,
            operator_type: sys.operator_type,
        };
        let mut evs = Vec::new();
        let w = sys.watermark.unwrap();
        sys.incidents
            .on_rule_change(&cx, cause, category, to, w, levels, &mut evs);
        self.push_evs(evs, out);
    }

    /// One evaluation of `rules` (declaration order) for system `h` at its watermark:
    /// - each rule's aggregate and state machine, a rule-scope transition per change of
    ///   level, and right after it "the incident events it causes";
    /// - "Every change of a system's level emits a system-scope transition (no rule, no
    ///   category), after the rule transitions of the same evaluation";
    /// - muting (§8), judged "with the source rule's level after all rule transitions of
    ///   the same evaluation";
    /// - "Then the `overdue` events."
    pub fn evaluate(&mut self, h: u32, rules: &[usize], out: &mut Output) {
        let w = self.systems[h as usize]
            .watermark
            .expect("evaluated with a watermark");
        let start = out.items.len();
        for &r in rules {
            let eval = self.aggregate(h, r);
            let p = &self.policy;
            let rule = &p.rules[r];
            let sys = &mut self.systems[h as usize];
            let t = &rule.thresholds[sys.grade];
            if let Some((from, to, value)) = step(rule, t, &mut sys.rules[r], w, eval) {
                let resp = p.response(to, rule.category.as_deref());
                let tr = Tr {
                    seq: 0,
                    ts: w,
                    scope: Scope::Rule,
                    system: h,
                    system_id: sys.id.clone(),
                    grade: sys.grade as u32,
                    grade_id: p.grades[sys.grade].0.clone(),
                    rule: Some(r as u32),
                    rule_id: Some(rule.id.clone()),
                    category: rule.category.clone(),
                    from,
                    to,
                    value,
                    // "`threshold` is T of the new level (null for none)".
                    threshold: threshold_of(t, to),
                    actions: resp.actions,
                    report_within_s: resp.report_within_s,
                    basis: rule.basis.clone(),
                    silenced: None,
                    inhibited_by: None,
                    reason: None,
                };
                let (id, category) = (rule.id.clone(), rule.category.clone());
                self.push_tr(tr, out);
                if let Some(c) = category.as_deref() {
                    let levels = self.category_levels(h, c);
                    self.incident_step(h, (&id, r as u32), Some(c), to, &levels, out);
                }
            }
        }
        self.system_transition(h, out);
        self.mute(h, &mut out.items[start..]);
        self.check_overdue(h, out);
    }

    /// "Every change of a system's level emits a system-scope transition".
    fn system_transition(&mut self, h: u32, out: &mut Output) {
        let level = self.system_level(h);
        let sys = &self.systems[h as usize];
        if level == sys.level {
            return;
        }
        let resp = self.system_response(h, level);
        let tr = Tr {
            seq: 0,
            ts: sys.watermark.unwrap(),
            scope: Scope::System,
            system: h,
            system_id: sys.id.clone(),
            grade: sys.grade as u32,
            grade_id: self.policy.grades[sys.grade].0.clone(),
            rule: None,
            rule_id: None,
            category: None,
            from: sys.level,
            to: level,
            value: None,
            threshold: None,
            actions: resp.actions,
            report_within_s: resp.report_within_s,
            basis: None,
            silenced: None,
            inhibited_by: None,
            reason: None,
        };
        self.systems[h as usize].level = level;
        self.push_tr(tr, out);
    }

    /// §7 "Overdue checks": "Every accepted observation, batch and tick checks the
    /// deadlines of the systems it concerns (a tick: every system) at their watermark w."
    fn check_overdue(&mut self, h: u32, out: &mut Output) {
        let Some(ip) = &self.policy.incidents else {
            return;
        };
        let sys = &mut self.systems[h as usize];
        let cx = Cx {
            ip,
            system: h,
            system_id: &sys.id,
            operator_type: sys.operator_type,
        };
        let mut evs = Vec::new();
        sys.incidents.overdue(&cx, sys.watermark.unwrap(), &mut evs);
        self.push_evs(evs, out);
    }

    /// §8 muting of the transitions in `items` (one evaluation's), at the rule levels now:
    /// - inhibition: "While the source rule on a system is at ≥ `at_least`, transitions of
    ///   that system's rules in the target categories are emitted with `"inhibited_by"`
    ///   [...] a rule never inhibits itself" (the smallest id when several inhibit: the
    ///   text says so for silences; the same reading here);
    /// - silences: "A rule transition at ts with starts ≤ ts < ends that matches is still
    ///   emitted, with `"silenced": "s1"` (the smallest matching id, by string order, when
    ///   several match) [...] A system-scope transition is muted only by a silence with no
    ///   category and no rule matcher."
    /// - "`actions` reduced to `["log"]` (a transition to none keeps its empty actions)".
    fn mute(&self, h: u32, items: &mut [Item]) {
        let p = &self.policy;
        let sys = &self.systems[h as usize];
        let level_of = |id: &str| p.rule_ix(id).map_or(Level::None, |r| sys.rules[r].level);
        for item in items {
            let Item::T(t) = item else { continue };
            if t.scope == Scope::Rule {
                t.inhibited_by = p
                    .inhibit
                    .iter()
                    .filter(|i| {
                        Some(&i.source) != t.rule_id.as_ref()
                            && t.category.as_ref().is_some_and(|c| i.targets.contains(c))
                            && level_of(&i.source) >= i.at_least
                    })
                    .map(|i| i.id.clone())
                    .min();
            }
            t.silenced = self
                .silences
                .values()
                .find(|s| {
                    s.starts <= t.ts
                        && t.ts < s.ends
                        && s.system.as_ref().is_none_or(|x| *x == t.system_id)
                        && match t.scope {
                            Scope::System => s.category.is_none() && s.rule.is_none(),
                            Scope::Rule => {
                                (s.category.is_none() || s.category == t.category)
                                    && (s.rule.is_none() || s.rule == t.rule_id)
                            }
                        }
                })
                .map(|s| s.id.clone());
            if t.silenced.is_some() || t.inhibited_by.is_some() {
                t.actions = if t.to == Level::None {
                    Actions::EMPTY
                } else {
                    [Action::Log].into_iter().collect()
                };
            }
        }
    }

    /// "A system's level is the highest level of its rules. With `escalation`, when at least
    /// `min_categories` distinct categories have a rule at ≥ `at_least`, the system level is
    /// raised by `raise_by` (capped at red)."
    pub fn system_level(&self, h: u32) -> Level {
        let sys = &self.systems[h as usize];
        let mut level = sys
            .rules
            .iter()
            .map(|r| r.level)
            .max()
            .unwrap_or(Level::None);
        if let Some(e) = self.policy.escalation {
            let mut cats: Vec<&str> = Vec::new();
            for (r, st) in self.policy.rules.iter().zip(&sys.rules) {
                if st.level >= e.at_least {
                    if let Some(c) = r.category.as_deref() {
                        if !cats.contains(&c) {
                            cats.push(c);
                        }
                    }
                }
            }
            if cats.len() >= e.min_categories {
                level = level.raised(e.raise_by);
            }
        }
        level
    }

    /// §7, "System-scope actions (replaces section 2 for every policy)": "a system-scope
    /// transition's actions are the union of its new level's response and the responses
    /// (with overrides) of the current levels of all the system's rules [...]; its
    /// `report_within_s` is the smallest non-null `report_within_s` among those responses
    /// [...]. A system transition to none has none."
    pub fn system_response(&self, h: u32, level: Level) -> ModelResponse {
        if level == Level::None {
            return ModelResponse::default();
        }
        let p = &self.policy;
        let sys = &self.systems[h as usize];
        let mut all = vec![p.response(level, None)];
        for (r, st) in p.rules.iter().zip(&sys.rules) {
            all.push(p.response(st.level, r.category.as_deref()));
        }
        ModelResponse {
            actions: Actions(all.iter().fold(0, |b, r| b | r.actions.0)),
            report_within_s: all.iter().filter_map(|r| r.report_within_s).min(),
        }
    }

    /// The observations of signal `signal` on system `h` that rule state `st` may read
    /// (those that arrived since it last started).
    fn seen<'a>(
        &'a self,
        h: u32,
        signal: usize,
        st: &'a RuleState,
    ) -> impl Iterator<Item = &'a Obs> + 'a {
        self.systems[h as usize]
            .obs
            .get(&self.policy.signals[signal].id)
            .into_iter()
            .flatten()
            .filter(move |o| o.arrival >= st.epoch)
    }

    /// The observations of `signal` that rule `r` reads on system `h`, in the window of `n`
    /// buckets ending at the bucket of w: "indexes `idx(w)-n+1 ..= idx(w)`", aggregated by
    /// a plain scan.
    pub fn window(&self, h: u32, r: usize, signal: usize, n: i64) -> Window {
        let sys = &self.systems[h as usize];
        let top = self.policy.bucket(sys.watermark.unwrap());
        let mut a = Window {
            count: 0.0,
            sum: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        };
        for o in self.seen(h, signal, &sys.rules[r]) {
            let b = self.policy.bucket(o.ts);
            if top - n < b && b <= top {
                a.count += 1.0;
                a.sum += o.value;
                a.min = a.min.min(o.value);
                a.max = a.max.max(o.value);
            }
        }
        a
    }

    /// Rule `r`'s value for system `h` at its watermark, from scratch (§2 "Aggregates over
    /// the window", "The value is *undefined* when", `on_empty`, `wilson_z`; §9).
    pub fn aggregate(&self, h: u32, r: usize) -> Eval {
        let rule = &self.policy.rules[r];
        let sys = &self.systems[h as usize];
        let st = &sys.rules[r];
        let w = sys.watermark.unwrap();
        let min = rule.min_samples;
        match &rule.aggregate {
            // "w − the largest ts among the signal's accepted observations; before any,
            // w − the system's first watermark". No window, never undefined. A rule a
            // reload restarted counts from the reload (the engine's documented reading of
            // §10 "starts empty": `reload` module docs).
            Aggregate::SilenceMs => {
                let last = self.seen(h, rule.signal, st).map(|o| o.ts).max();
                let since = match (last, st.reset_at) {
                    (Some(a), Some(b)) => a.max(b),
                    (a, b) => a.or(b).or(sys.first_watermark).unwrap(),
                };
                Eval::Value((w - since) as f64)
            }
            Aggregate::Ewma { .. } | Aggregate::Cusum { .. } => self.detector(h, r),
            Aggregate::Psi { bins, reference } => {
                // "over the rule's window (as `mean` is), c_i = observations in bin i (bin 1
                // is x < e1, bin i is e_{i-1} ≤ x < e_i, bin B is x ≥ e_{B-1}), n = Σ c_i,
                // undefined when n < max(1, min_samples). a_i = (c_i + 0.5)/(n + 0.5·B),
                // r_i = max(p_i, 1e-4), value = Σ (a_i − r_i)·ln(a_i / r_i)."
                let top = self.policy.bucket(w);
                let nb = rule.window_buckets;
                let mut c = vec![0.0f64; bins.len() + 1];
                for o in self.seen(h, rule.signal, st) {
                    let b = self.policy.bucket(o.ts);
                    if top - nb < b && b <= top {
                        let i = bins.iter().filter(|e| **e <= o.value).count();
                        c[i] += 1.0;
                    }
                }
                let n: f64 = c.iter().sum();
                if rule.clear_on_empty && n == 0.0 {
                    return Eval::Empty;
                }
                if n < min.max(1.0) {
                    return Eval::Undefined;
                }
                let big_b = c.len() as f64;
                let mut v = 0.0;
                for (ci, pi) in c.iter().zip(reference) {
                    let a = (ci + 0.5) / (n + 0.5 * big_b);
                    let r = pi.max(1e-4);
                    v += (a - r) * (a / r).ln();
                }
                Eval::Value(v)
            }
            Aggregate::Rate => {
                let k = self.window(h, r, rule.signal, rule.window_buckets);
                let per = rule.per.expect("rate has per");
                let n = self.window(h, r, per, rule.window_buckets);
                if rule.clear_on_empty && k.count == 0.0 && n.count == 0.0 {
                    return Eval::Empty;
                }
                // "`rate` has a denominator sum of 0 or below `min_samples`".
                if n.sum == 0.0 || n.sum < min {
                    return Eval::Undefined;
                }
                match rule.wilson_z {
                    None => Eval::Value(k.sum / n.sum),
                    Some(z) => Eval::Value(wilson(k.sum, n.sum, z, rule.above)),
                }
            }
            agg => {
                let a = self.window(h, r, rule.signal, rule.window_buckets);
                if rule.clear_on_empty && a.count == 0.0 {
                    return Eval::Empty;
                }
                match agg {
                    // "`count`/`sum` have fewer than `min_samples` observations".
                    Aggregate::Count | Aggregate::Sum if a.count < min => Eval::Undefined,
                    Aggregate::Count => Eval::Value(a.count),
                    Aggregate::Sum => Eval::Value(a.sum),
                    // "`mean`/`max`/`min` have fewer than max(1, `min_samples`)".
                    _ if a.count < min.max(1.0) => Eval::Undefined,
                    Aggregate::Mean => Eval::Value(a.sum / a.count),
                    Aggregate::Max => Eval::Value(a.max),
                    Aggregate::Min => Eval::Value(a.min),
                    _ => unreachable!(),
                }
            }
        }
    }

    /// An `ewma` or `cusum` rule's value, replaying every closed bucket from the first:
    /// - "A bucket is **closed** when the system's watermark moves into a later bucket.
    ///   [...] consume the buckets it closes, once each, in bucket order, starting from the
    ///   bucket of the system's first watermark (a jump closes every bucket in between,
    ///   empty ones included); later observations into a closed bucket do not change them."
    ///   Closed buckets are those before the watermark's; a bucket's content is what
    ///   arrived while it was open.
    /// - "Per closed bucket the input x is: for `per` rules, sum of `signal` / sum of `per`
    ///   in that bucket (skipped when the `per` sum is 0); for a counter, the bucket's sum
    ///   (0 when empty); for a gauge, the bucket's mean (skipped when empty)."
    /// - "the value is undefined until `min_samples` inputs (at least 1) were consumed."
    /// - A rule a reload restarted starts with the bucket after the one open at the reload
    ///   (the engine's documented reading of "starts empty": that bucket holds
    ///   observations from before the reload; `reload` module docs).
    ///
    /// Runs of empty buckets of a counter feed zeros one at a time, stopping when the state
    /// no longer changes (`ewma` at 0, `cusum` at 0 or with μ + k = 0 on its side): the
    /// generator keeps `1 − α` a power of two there, so `ewma` reaches 0 within about 1100
    /// zeros. Only a `cusum` run of more than 4096 zeros is taken at once, as
    /// `max(0, S + m·c)`: S and c are multiples of 1/8 far below 2^49 there, so that is
    /// the same number as m additions clamped at 0.
    pub fn detector(&self, h: u32, r: usize) -> Eval {
        let p = &self.policy;
        let rule = &p.rules[r];
        let sys = &self.systems[h as usize];
        let st = &sys.rules[r];
        let w = sys.watermark.unwrap();
        let first = match st.reset_at {
            Some(at) => p.bucket(at) + 1,
            None => p.bucket(sys.first_watermark.unwrap()),
        };
        let last = p.bucket(w) - 1;
        let sums = |signal: usize| {
            let mut m: BTreeMap<i64, (f64, f64)> = BTreeMap::new();
            for o in self.seen(h, signal, st).filter(|o| o.open) {
                let b = p.bucket(o.ts);
                if first <= b && b <= last {
                    let e = m.entry(b).or_insert((0.0, 0.0));
                    e.0 += 1.0;
                    e.1 += o.value;
                }
            }
            m
        };
        let sig = sums(rule.signal);
        let per = rule.per.map(sums);
        let counter = p.signals[rule.signal].counter;
        let input = |b: i64| -> Option<f64> {
            let (count, sum) = sig.get(&b).copied().unwrap_or((0.0, 0.0));
            match &per {
                Some(per) => {
                    let d = per.get(&b).map_or(0.0, |x| x.1);
                    (d != 0.0).then(|| sum / d)
                }
                None if counter => Some(sum),
                None => (count != 0.0).then(|| sum / count),
            }
        };
        let (mut s, mut consumed) = (0.0f64, 0u64);
        let feed = |s: f64, consumed: u64, x: f64| -> f64 {
            match rule.aggregate {
                // "s = x for the first consumed x, then s ← a·x + (1−a)·s".
                Aggregate::Ewma { alpha } => {
                    if consumed == 0 {
                        x
                    } else {
                        alpha * x + (1.0 - alpha) * s
                    }
                }
                // "S starts at 0; up: S ← max(0, S + x − μ − k); down: S ← max(0, S + μ − k
                // − x)".
                Aggregate::Cusum {
                    target,
                    slack,
                    up: true,
                } => (s + x - target - slack).max(0.0),
                Aggregate::Cusum {
                    target,
                    slack,
                    up: false,
                } => (s + target - slack - x).max(0.0),
                _ => unreachable!(),
            }
        };
        // The buckets with an observation of the signal or of `per`; the others are empty.
        let mut busy: Vec<i64> = sig.keys().copied().collect();
        if let Some(per) = &per {
            busy.extend(per.keys());
        }
        busy.sort();
        busy.dedup();
        let mut b = first;
        let feed_empty = |s: &mut f64, consumed: &mut u64, m: i64| {
            // A run of m empty buckets: only a counter without `per` gives inputs (zeros).
            if m <= 0 || rule.per.is_some() || !counter {
                return;
            }
            if let (Aggregate::Cusum { target, slack, up }, true) = (&rule.aggregate, m > 4096) {
                let c = if *up { -target - slack } else { target - slack };
                *s = (*s + m as f64 * c).max(0.0);
                *consumed += m as u64;
                return;
            }
            for i in 0..m {
                let next = feed(*s, *consumed, 0.0);
                let same = next.to_bits() == s.to_bits() && *consumed > 0;
                *s = next;
                *consumed += 1;
                if same {
                    *consumed += (m - i - 1) as u64;
                    return;
                }
                assert!(i < 20_000, "the generator keeps ewma runs of zeros short");
            }
        };
        for &nb in &busy {
            feed_empty(&mut s, &mut consumed, nb - b);
            if let Some(x) = input(nb) {
                s = feed(s, consumed, x);
                consumed += 1;
            }
            b = nb + 1;
        }
        feed_empty(&mut s, &mut consumed, last + 1 - b);
        if (consumed as f64) < rule.min_samples.max(1.0) {
            Eval::Undefined
        } else {
            Eval::Value(s)
        }
    }

    // -----------------------------------------------------------------------------------
    // Silences (§8).
    // -----------------------------------------------------------------------------------

    /// `engine.silence(Silence)`: "system, category and rule are optional matchers (absent =
    /// any)". A silence whose window is empty (ends ≤ starts) or whose rule or category
    /// matcher names what the policy lacks is refused (the engine's documented checks);
    /// setting an id again replaces it.
    pub fn silence(&mut self, s: ModelSilence) -> Result<(), Reject> {
        if !self.silence_fits(&s) || s.ends <= s.starts {
            return Err(Reject::Silence);
        }
        self.silences.insert(s.id.clone(), s);
        Ok(())
    }

    fn silence_fits(&self, s: &ModelSilence) -> bool {
        let p = &self.policy;
        s.category.as_ref().is_none_or(|c| p.categories.contains(c))
            && s.rule.as_ref().is_none_or(|r| p.rule_ix(r).is_some())
    }

    /// `engine.unsilence(id)`: an id that is not set is an error.
    pub fn unsilence(&mut self, id: &str) -> Result<(), Reject> {
        self.silences.remove(id).map(|_| ()).ok_or(Reject::Silence)
    }

    // -----------------------------------------------------------------------------------
    // Caller actions on incidents (§7).
    // -----------------------------------------------------------------------------------

    /// The system of an incident id: "an incident id's system id is all but its last two
    /// `/`-separated segments".
    fn incident_system(&self, id: &str) -> Option<u32> {
        let mut parts: Vec<&str> = id.split('/').collect();
        if parts.len() < 3 {
            return None;
        }
        parts.truncate(parts.len() - 2);
        let sys = parts.join("/");
        self.systems
            .iter()
            .position(|s| s.id == sys)
            .map(|h| h as u32)
    }

    /// "acknowledge(incident, ts, by)"; "they move no clock".
    pub fn acknowledge(
        &mut self,
        id: &str,
        ts: i64,
        by: &str,
        out: &mut Output,
    ) -> Result<(), Reject> {
        let h = self.incident_system(id).ok_or(Reject::UnknownIncident)?;
        let ip = self
            .policy
            .incidents
            .as_ref()
            .ok_or(Reject::UnknownIncident)?;
        let sys = &mut self.systems[h as usize];
        let cx = Cx {
            ip,
            system: h,
            system_id: &sys.id,
            operator_type: sys.operator_type,
        };
        let e = sys.incidents.acknowledge(&cx, id, ts, by)?;
        self.push_evs(vec![e], out);
        Ok(())
    }

    /// "file_report(incident, kind, ts, reference) where kind is `initial`, `update` or
    /// `final`"; "they move no clock".
    pub fn file_report(
        &mut self,
        id: &str,
        kind: ReportKind,
        ts: i64,
        reference: &str,
        out: &mut Output,
    ) -> Result<(), Reject> {
        let h = self.incident_system(id).ok_or(Reject::UnknownIncident)?;
        let ip = self
            .policy
            .incidents
            .as_ref()
            .ok_or(Reject::UnknownIncident)?;
        let sys = &mut self.systems[h as usize];
        let cx = Cx {
            ip,
            system: h,
            system_id: &sys.id,
            operator_type: sys.operator_type,
        };
        let mut evs = Vec::new();
        sys.incidents
            .file_report(&cx, id, kind, ts, reference, &mut evs)?;
        self.push_evs(evs, out);
        Ok(())
    }

    /// Every incident id: those not closed, then the closed ones, each in the order the
    /// systems registered and then opened them.
    pub fn incident_ids(&self) -> Vec<String> {
        let all = || self.systems.iter().flat_map(|s| s.incidents.all.iter());
        all()
            .filter(|i| i.state != IncState::Closed)
            .chain(all().filter(|i| i.state == IncState::Closed))
            .map(|i| i.id.clone())
            .collect()
    }

    // -----------------------------------------------------------------------------------
    // Reload (§10).
    // -----------------------------------------------------------------------------------

    /// `engine.reload(policy)`:
    /// - "Atomic: an invalid policy changes nothing. Every system is re-classified; a
    ///   profile that is invalid or prohibited under the new policy fails the whole
    ///   reload." An incident that is not closed and that the new policy cannot carry (no
    ///   incidents section, or its category or severity gone) fails it too (the engine's
    ///   documented reading: `Engine::reload`).
    /// - "A rule is **kept** (level, timers, window contents, detector state) when its
    ///   canonical definition [...] is unchanged, the new `thresholds[new grade of the
    ///   system]` equals the old `thresholds[old grade]`, and its signals' ring sizes are
    ///   unchanged; any other rule, and every new rule, starts empty at level none. Reload
    ///   moves no clock."
    /// - "A rule that is removed, or reset, while above none emits a transition to none
    ///   with `"reason": "policy_reload"`, at the system's watermark (systems in
    ///   registration order; reset rules, then removed ones, then the system-scope line);
    ///   these transitions act on incidents like any other." Like any other, they should
    ///   be handled one by one (§7: "computed from the rule levels at that point"): a rule
    ///   whose reload transition comes later still has its old level. The engine computes
    ///   them from the levels after the whole reload instead (two rules of a category
    ///   above none, both reset or removed: it resolves the incident at the first one's
    ///   transition, naming that rule). Until that is settled, the model follows the
    ///   engine; `AIRISK_MODEL_STRICT_RELOAD=1` switches it to the one-by-one reading
    ///   ([`strict_reload_order`]). They are muted as usual (by the silences set before
    ///   the reload).
    /// - Silences naming a rule or category the new policy lacks are dropped (the engine's
    ///   documented reading).
    pub fn reload(&mut self, doc: &Value, out: &mut Output) -> Result<ReloadSummary, Reject> {
        let p1 = ModelPolicy::parse(doc);
        let mut grades = Vec::new();
        for sys in &self.systems {
            grades.push(p1.classify(&sys.profile).ok_or(Reject::Reload)?);
        }
        for sys in &self.systems {
            for inc in sys.incidents.not_closed() {
                let severity = &self.policy.incidents.as_ref().unwrap().severities[inc.severity];
                let fits = p1.incidents.as_ref().is_some_and(|ip| {
                    p1.categories.contains(&inc.category) && ip.severities.contains(severity)
                });
                if !fits {
                    return Err(Reject::Reload);
                }
            }
        }
        let p0 = std::mem::replace(&mut self.policy, p1.clone());
        let mut summary = ReloadSummary::default();
        let old_ix = |id: &str| p0.rule_ix(id);
        // Per new rule: its old index, whether definition and rings are unchanged.
        let matched: Vec<(Option<usize>, bool)> = (0..p1.rules.len())
            .map(|r1| {
                let id = &p1.rules[r1].id;
                let Some(r0) = old_ix(id) else {
                    return (None, false);
                };
                let same_rings = [Some(p1.rules[r1].signal), p1.rules[r1].per]
                    .into_iter()
                    .flatten()
                    .all(|s| {
                        let sid = &p1.signals[s].id;
                        p0.ring_of(sid) == Some(p1.ring[s])
                    });
                (
                    Some(r0),
                    same_rings && p0.definition(r0) == p1.definition(r1),
                )
            })
            .collect();
        summary.added = p1
            .rules
            .iter()
            .filter(|r| old_ix(&r.id).is_none())
            .map(|r| r.id.clone())
            .collect();
        summary.removed = p0
            .rules
            .iter()
            .filter(|r| p1.rule_ix(&r.id).is_none())
            .map(|r| r.id.clone())
            .collect();
        let mut reset: BTreeMap<String, Vec<String>> = BTreeMap::new();
        // Per system: per new rule, the old index when kept.
        let mut keeps: Vec<Vec<Option<usize>>> = Vec::new();
        for (sys, &g1) in self.systems.iter().zip(&grades) {
            let g0 = sys.grade;
            if p0.grades[g0].0 != p1.grades[g1].0 {
                summary.regraded.push((
                    sys.id.clone(),
                    p0.grades[g0].0.clone(),
                    p1.grades[g1].0.clone(),
                ));
            }
            let keep: Vec<Option<usize>> = matched
                .iter()
                .enumerate()
                .map(|(r1, &(r0, same))| {
                    let r0 = r0?;
                    let kept = same && p0.rules[r0].thresholds[g0] == p1.rules[r1].thresholds[g1];
                    if !kept {
                        reset
                            .entry(p1.rules[r1].id.clone())
                            .or_default()
                            .push(sys.id.clone());
                    }
                    kept.then_some(r0)
                })
                .collect();
            keeps.push(keep);
        }
        for (r1, &(r0, same)) in matched.iter().enumerate() {
            let Some(r0) = r0 else { continue };
            let id = &p1.rules[r1].id;
            if reset.contains_key(id) {
                continue;
            }
            // Without systems, thresholds are judged grade by grade (by id).
            let differs = self.systems.is_empty()
                && p1.grades.iter().enumerate().any(|(g1, (gid, _))| {
                    p0.grades
                        .iter()
                        .position(|(x, _)| x == gid)
                        .map(|g0| p0.rules[r0].thresholds[g0])
                        != Some(p1.rules[r1].thresholds[g1])
                });
            if !same || differs {
                reset.insert(id.clone(), Vec::new());
            } else {
                summary.kept.push(id.clone());
            }
        }
        summary.reset = reset
            .into_iter()
            .map(|(r, mut s)| {
                s.sort();
                (r, s)
            })
            .collect();
        // Move every system to the new policy.
        let mut olds: Vec<Vec<RuleState>> = Vec::new();
        for (h, sys) in self.systems.iter_mut().enumerate() {
            let keep = &keeps[h];
            let old = std::mem::take(&mut sys.rules);
            sys.rules = keep
                .iter()
                .map(|k| match k {
                    Some(r0) => old[*r0],
                    None => RuleState {
                        epoch: self.arrivals,
                        reset_at: sys.watermark,
                        ..RuleState::default()
                    },
                })
                .collect();
            olds.push(old);
            sys.grade = grades[h];
            sys.operator_type = p1.operator_type(&sys.profile);
            if let (Some(i0), Some(i1)) = (&p0.incidents, &p1.incidents) {
                // (Closed incidents are never read again but for their numbers.)
                for inc in sys
                    .incidents
                    .all
                    .iter_mut()
                    .filter(|i| i.state != IncState::Closed)
                {
                    if let Some(s) = i1
                        .severities
                        .iter()
                        .position(|x| *x == i0.severities[inc.severity])
                    {
                        inc.severity = s;
                    }
                }
            }
        }
        // The transitions, systems in registration order.
        for h in 0..self.systems.len() {
            let start = out.items.len();
            let old = &olds[h];
            // (old rule index, new index if any), in emission order: reset rules in the
            // new order, then removed ones in the old order; only those above none.
            let mut emit: Vec<(usize, Option<usize>)> = Vec::new();
            for (r1, k) in keeps[h].iter().enumerate() {
                if let (Some(r0), None) = (matched[r1].0, k) {
                    if old[r0].level != Level::None {
                        emit.push((r0, Some(r1)));
                    }
                }
            }
            for (r0, rule) in p0.rules.iter().enumerate() {
                if p1.rule_ix(&rule.id).is_none() && old[r0].level != Level::None {
                    emit.push((r0, None));
                }
            }
            for (i, &(r0, r1)) in emit.iter().enumerate() {
                let rule = &p0.rules[r0];
                let sys = &self.systems[h];
                let tr = Tr {
                    seq: 0,
                    ts: sys.watermark.unwrap(),
                    scope: Scope::Rule,
                    system: h as u32,
                    system_id: sys.id.clone(),
                    grade: sys.grade as u32,
                    grade_id: p1.grades[sys.grade].0.clone(),
                    // The rule's index in the policy that has it: the new one, else the old.
                    rule: Some(r1.unwrap_or(r0) as u32),
                    rule_id: Some(rule.id.clone()),
                    // The transition is of the rule as it was: its category and basis.
                    category: rule.category.clone(),
                    from: old[r0].level,
                    to: Level::None,
                    value: None,
                    threshold: None,
                    actions: Actions::EMPTY,
                    report_within_s: None,
                    basis: rule.basis.clone(),
                    silenced: None,
                    inhibited_by: None,
                    reason: Some("policy_reload".into()),
                };
                self.push_tr(tr, out);
                summary.transitions += 1;
                // Incidents follow the rule's category under the new policy; the levels
                // of its rules at this point: kept and already emitted rules at their
                // new levels, rules whose reload transition comes later at their old.
                let Some(c) = rule.category.clone().filter(|c| p1.categories.contains(c)) else {
                    continue;
                };
                let later = if strict_reload_order() {
                    &emit[i + 1..]
                } else {
                    &[][..]
                };
                let mut levels = Vec::new();
                for (r1, (rule1, st)) in p1.rules.iter().zip(&self.systems[h].rules).enumerate() {
                    if rule1.category.as_deref() == Some(&c) {
                        let pending = later.iter().find(|(_, x)| *x == Some(r1));
                        levels.push(pending.map_or(st.level, |(r0, _)| old[*r0].level));
                    }
                }
                for &(r0, r1) in later {
                    if r1.is_none() && p0.rules[r0].category.as_deref() == Some(&c) {
                        levels.push(old[r0].level);
                    }
                }
                self.incident_step(
                    h as u32,
                    (&rule.id, r1.unwrap_or(r0) as u32),
                    Some(&c),
                    Level::None,
                    &levels,
                    out,
                );
            }
            self.system_transition(h as u32, out);
            self.mute(h as u32, &mut out.items[start..]);
        }
        let gone: Vec<String> = self
            .silences
            .values()
            .filter(|s| !self.silence_fits(s))
            .map(|s| s.id.clone())
            .collect();
        for id in &gone {
            self.silences.remove(id);
        }
        summary.silences_removed = gone;
        summary.kept.sort();
        summary.added.sort();
        summary.removed.sort();
        summary.regraded.sort();
        Ok(summary)
    }
}

/// Whether reload transitions act on incidents one by one, rules whose reload transition
/// comes later still at their old level (`AIRISK_MODEL_STRICT_RELOAD=1`), or from the
/// levels after the whole reload (the engine's current behaviour; see [`Model::reload`]).
pub fn strict_reload_order() -> bool {
    std::env::var("AIRISK_MODEL_STRICT_RELOAD").is_ok_and(|v| v == "1")
}

/// "the Wilson score bound of p = k/n (k, n the window sums, with k taken as n when k > n,
/// so p ≤ 1): the lower bound for `above`, the upper bound for `below`:
/// `(p + z²/2n ∓ z·sqrt(p(1−p)/n + z²/4n²)) / (1 + z²/n)`".
///
/// Computed term by term in the order the formula is written, which is the only place the
/// model's floating point could differ from another correct implementation: `z²/2n` as
/// `z²/(2n)`, `z²/4n²` as `z²/(4·n·n)`, `p(1−p)/n` as `(p·(1−p))/n`.
pub fn wilson(k: f64, n: f64, z: f64, above: bool) -> f64 {
    let k = if k > n { n } else { k };
    let p = k / n;
    let z2 = z * z;
    let centre = p + z2 / (2.0 * n);
    let spread = z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    let denom = 1.0 + z2 / n;
    if above {
        (centre - spread) / denom
    } else {
        (centre + spread) / denom
    }
}

/// T of `level` in a grade's row (`None` for none, or an unused level).
pub fn threshold_of(t: &[Option<f64>; 4], level: Level) -> Option<f64> {
    WARNINGS.iter().position(|l| *l == level).and_then(|i| t[i])
}

/// "`met(L, v)`: v ≥ T[L] (`above`) or v ≤ T[L] (`below`)."
fn met(rule: &ModelRule, v: f64, t: f64) -> bool {
    if rule.above { v >= t } else { v <= t }
}

/// "`held(L, v)`: v ≥ T[L]·(1−h) (`above`) or v ≤ T[L]·(1+h) (`below`)."
fn held(rule: &ModelRule, v: f64, t: f64) -> bool {
    if rule.above {
        v >= t * (1.0 - rule.hysteresis)
    } else {
        v <= t * (1.0 + rule.hysteresis)
    }
}

/// One evaluation of a rule's state machine at watermark `w` with thresholds `t` (the row of
/// the system's grade). Returns `(from, to, value)` when C changed.
///
/// - "Raising: for each level L the engine remembers since when `met(L, v)` has been true at
///   every evaluation. The current level C rises to the highest L that has been met for
///   ≥ `for_ms`." An unused level (null T) is never met.
/// - "Lowering: D = the highest L ≤ C with `held(L, v)`, or none. If D < C at every
///   evaluation for ≥ `clear_for_ms`, C falls to D as computed at that evaluation."
///   Reading of a point the text leaves open: an evaluation that raises C does not also
///   judge lowering, and restarts the lowering timer (it can only matter for negative
///   thresholds with hysteresis, where met(L) does not imply held(L)).
/// - "An undefined value changes no level and resets every pending timer of that rule."
/// - `on_empty: "clear"`: an empty window "resets the raising timers and counts as D = none
///   for lowering".
/// - "`value` is the aggregate that caused it (null when the window was empty)".
pub fn step(
    rule: &ModelRule,
    t: &[Option<f64>; 4],
    st: &mut RuleState,
    w: i64,
    eval: Eval,
) -> Option<(Level, Level, Option<f64>)> {
    let (d, value) = match eval {
        Eval::Undefined => {
            st.met_since = [None; 4];
            st.below_since = None;
            return None;
        }
        Eval::Empty => {
            st.met_since = [None; 4];
            (Level::None, None)
        }
        Eval::Value(v) => {
            for (since, th) in st.met_since.iter_mut().zip(t) {
                let now_met = th.is_some_and(|th| met(rule, v, th));
                *since = if now_met {
                    Some(since.unwrap_or(w))
                } else {
                    None
                };
            }
            let raise_to = (0..4)
                .rev()
                .find(|&i| st.met_since[i].is_some_and(|since| w - since >= rule.for_ms))
                .map_or(Level::None, |i| WARNINGS[i]);
            if raise_to > st.level {
                let from = st.level;
                st.level = raise_to;
                st.below_since = None;
                return Some((from, raise_to, Some(v)));
            }
            let d = (0..4)
                .rev()
                .filter(|&i| WARNINGS[i] <= st.level)
                .find(|&i| t[i].is_some_and(|th| held(rule, v, th)))
                .map_or(Level::None, |i| WARNINGS[i]);
            (d, Some(v))
        }
    };
    if d < st.level {
        let since = *st.below_since.get_or_insert(w);
        if w - since >= rule.clear_for_ms {
            let from = st.level;
            st.level = d;
            st.below_since = None;
            return Some((from, d, value));
        }
    } else {
        st.below_since = None;
    }
    None
}

/// An incident as both sides report it at the end: id, state, severity rank, reportable,
/// opened at, resolved at, what is owed (kind, by, overdue), the acknowledgement.
pub type IncidentView = (
    String,
    IncState,
    usize,
    bool,
    i64,
    Option<i64>,
    Vec<(DueKind, i64, bool)>,
    Option<(i64, String)>,
);

/// The state of an incident the engine reports (`Engine::incidents`), for comparing the
/// final states.
pub fn incident_summary(i: &incidents::Inc) -> IncidentView {
    let mut owed: Vec<(DueKind, i64, bool)> =
        i.owed.iter().map(|o| (o.kind, o.by, o.overdue)).collect();
    owed.sort();
    (
        i.id.clone(),
        i.state,
        i.severity,
        i.reportable,
        i.opened_at,
        i.resolved_at,
        owed,
        i.acknowledged.clone(),
    )
}
