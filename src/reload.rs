//! Policy reload: a new policy in place, keeping every rule's state that the new policy
//! leaves meaning the same.
//!
//! A rule is **kept** for a system — its level, timers, window contents and detector state
//! carry over — when its definition (the parsed rule with its defaults, ids for its
//! signals and category; thresholds, display name, basis and description left out) is
//! unchanged, the new thresholds for the system's new grade equal the old ones for its old
//! grade, and its signals' window rings keep their size. Any other rule, and every new one,
//! starts empty at level none: its window sees only what arrives after the reload (a
//! private window covers the buckets it shares with kept rules until they leave it; a
//! detector skips the bucket that was open at the reload; a `silence_ms` rule counts from
//! the reload). A rule that is reset or removed while above none emits a transition to none
//! with `"reason": "policy_reload"`, at the system's watermark (reset rules, then removed
//! ones, then the system line), and these act on incidents like any other. Every system is
//! classified again; a profile the new policy rejects or prohibits fails the whole reload,
//! as does an incident that the new policy cannot carry (its category or severity gone).
//! Reload moves no clock. Reloading the identical policy changes nothing at all.

use crate::classify::{Profile, classify};
use crate::error::Error;
use crate::hash::FastMap;
use crate::layout::{Agg, NONE, SystemArena, load_agg, store_agg};
use crate::level::Level;
use crate::policy::model::{Aggregate, Rule};
use crate::policy::{Compiled, Policy};
use crate::rule::RuleEval;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// What a reload did (or, from [`ReloadReport::diff`], would do).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReloadReport {
    /// Fingerprint of the policy before, in hex.
    pub from_fingerprint: String,
    /// Fingerprint of the policy after, in hex.
    pub to_fingerprint: String,
    /// Systems re-classified.
    pub systems: u64,
    /// Rules in both policies kept for every system.
    pub kept: Vec<String>,
    /// Rules in both policies that start again, for some or every system.
    pub reset: Vec<RuleReset>,
    /// Rules only in the new policy.
    pub added: Vec<String>,
    /// Rules only in the old policy.
    pub removed: Vec<String>,
    /// Systems whose grade changed.
    pub regraded: Vec<Regraded>,
    /// Silences dropped because they name a rule or category the new policy lacks.
    pub silences_removed: Vec<String>,
    /// Profiles the new policy rejects or prohibits (a reload with any fails).
    pub problems: Vec<ProfileProblem>,
    /// Transitions to none emitted by the reload.
    pub transitions: u64,
}

/// A rule that starts again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleReset {
    /// Its id.
    pub rule: String,
    /// What changed: `definition`, `window ring size`, or `thresholds`.
    pub why: String,
    /// The systems it restarts for (every registered system when the definition or a ring
    /// changed; those whose grade's thresholds differ otherwise). Empty in a diff without
    /// profiles.
    pub systems: Vec<String>,
}

/// A system whose grade changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Regraded {
    /// System id.
    pub system: String,
    /// Grade id before.
    pub from: String,
    /// Grade id after.
    pub to: String,
}

/// A profile the new policy does not accept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileProblem {
    /// System id.
    pub system: String,
    /// Why.
    pub reason: String,
}

impl ReloadReport {
    /// What reloading `new` over `old` would do to systems with these profiles (each graded
    /// under `old` and under `new`), without an engine: `airisk diff`.
    pub fn diff(old: &Policy, new: &Policy, profiles: &[Profile]) -> ReloadReport {
        let systems: Vec<SystemIn<'_>> = profiles
            .iter()
            .map(|p| SystemIn {
                id: &p.id,
                profile: p,
                old_grade: classify(old, p).map(|c| c.grade_rank).ok(),
            })
            .collect();
        plan(old, new, &systems).0
    }

    /// The error of a reload with [`ReloadReport::problems`] (profiles the new policy does
    /// not accept); `Ok` when there are none.
    ///
    /// # Errors
    /// [`Error::Reload`] listing every system and why.
    pub fn refusal(&self) -> Result<(), Error> {
        if self.problems.is_empty() {
            return Ok(());
        }
        let list: Vec<String> = self
            .problems
            .iter()
            .map(|p| format!("{}: {}", p.system, p.reason))
            .collect();
        Err(Error::Reload(format!(
            "the new policy does not accept {} registered system(s): {}",
            list.len(),
            list.join("; ")
        )))
    }

    /// Whether the reload changes nothing (every rule kept, no system re-graded).
    pub fn is_empty(&self) -> bool {
        self.reset.is_empty()
            && self.added.is_empty()
            && self.removed.is_empty()
            && self.regraded.is_empty()
            && self.problems.is_empty()
            && self.silences_removed.is_empty()
    }
}

/// A system going into a plan.
pub(crate) struct SystemIn<'a> {
    pub id: &'a str,
    pub profile: &'a Profile,
    /// Its grade under the old policy (`None`: the old policy rejected it too).
    pub old_grade: Option<u32>,
}

/// One system's part of a plan.
pub(crate) struct SystemPlan {
    pub new_grade: u32,
    pub operator_type: u32,
    /// Per new rule: the old rule's index when the rule is kept for this system.
    pub keep: Vec<Option<u32>>,
    /// Per new rule: the old rule with its id, kept or not.
    pub matched: Vec<Option<u32>>,
}

/// The definition of a rule that decides whether its state means the same after a reload.
fn definition(c: &Compiled, r: &Rule) -> Value {
    let sig = |i: u32| c.signals[i as usize].id.to_string();
    json!({
        "id": &*r.id,
        "category": r.category.map(|i| c.categories[i as usize].id.to_string()),
        "signal": sig(r.signal),
        "per": r.per.map(sig),
        "aggregate": r.aggregate,
        "window_ms": r.window_ms,
        "min_samples": r.min_samples,
        "direction": r.direction,
        "for_ms": r.for_ms,
        "clear_for_ms": r.clear_for_ms,
        "hysteresis": r.hysteresis,
        "on_empty": r.on_empty,
        "wilson_z": r.wilson_z,
        "detector": r.detector,
    })
}

/// A rule of the new policy against the old one, whatever the system.
struct RuleMatch {
    old: Option<u32>,
    same_definition: bool,
    same_rings: bool,
}

fn ring_len(c: &Compiled, signal: &str) -> Option<u32> {
    c.signal_ix
        .get(signal)
        .map(|&i| c.tables.layout.rings[i as usize].len)
}

fn match_rules(c0: &Compiled, c1: &Compiled) -> Vec<RuleMatch> {
    let old_ix: FastMap<&str, u32> = c0.rules.iter().map(|r| (&*r.id, r.index)).collect();
    c1.rules
        .iter()
        .map(|r1| {
            let Some(&i0) = old_ix.get(&*r1.id) else {
                return RuleMatch {
                    old: None,
                    same_definition: false,
                    same_rings: false,
                };
            };
            let r0 = &c0.rules[i0 as usize];
            let same_rings = r1.inputs().all(|s| {
                let id = &c1.signals[s as usize].id;
                ring_len(c0, id) == Some(c1.tables.layout.rings[s as usize].len)
            });
            RuleMatch {
                old: Some(i0),
                same_definition: definition(c0, r0) == definition(c1, r1),
                same_rings,
            }
        })
        .collect()
}

/// Plans a reload of `systems` from `c0` to `c1`: the report, and for each system that
/// the new policy accepts, what to keep.
pub(crate) fn plan(
    p0: &Policy,
    p1: &Policy,
    systems: &[SystemIn<'_>],
) -> (ReloadReport, Vec<Option<SystemPlan>>) {
    let (c0, c1) = (&*p0.0, &*p1.0);
    let matches = match_rules(c0, c1);
    let new_policy = p1;
    let mut report = ReloadReport {
        from_fingerprint: format!("{:016x}", c0.fingerprint),
        to_fingerprint: format!("{:016x}", c1.fingerprint),
        systems: systems.len() as u64,
        ..ReloadReport::default()
    };
    let in_new: FastMap<&str, ()> = c1.rules.iter().map(|r| (&*r.id, ())).collect();
    report.removed = c0
        .rules
        .iter()
        .filter(|r| !in_new.contains_key(&*r.id))
        .map(|r| r.id.to_string())
        .collect();
    let mut resets: Vec<RuleReset> = Vec::new();
    let mut plans = Vec::with_capacity(systems.len());
    for sys in systems {
        let cls = match classify(new_policy, sys.profile) {
            Ok(c) => c,
            Err(e) => {
                report.problems.push(ProfileProblem {
                    system: sys.id.to_owned(),
                    reason: e.to_string(),
                });
                plans.push(None);
                continue;
            }
        };
        if let Some(p) = &cls.prohibited {
            report.problems.push(ProfileProblem {
                system: sys.id.to_owned(),
                reason: Error::Prohibited {
                    id: p.id.to_string(),
                    basis: p.basis.as_deref().map(str::to_owned),
                }
                .to_string(),
            });
            plans.push(None);
            continue;
        }
        let g1 = cls.grade_rank;
        if let Some(g0) = sys.old_grade {
            if c0.grades[g0 as usize].id != c1.grades[g1 as usize].id {
                report.regraded.push(Regraded {
                    system: sys.id.to_owned(),
                    from: c0.grades[g0 as usize].id.to_string(),
                    to: c1.grades[g1 as usize].id.to_string(),
                });
            }
        }
        let mut keep = Vec::with_capacity(c1.rules.len());
        for (r1, m) in c1.rules.iter().zip(&matches) {
            let Some(i0) = m.old else {
                keep.push(None);
                continue;
            };
            let why = if !m.same_definition {
                Some("definition")
            } else if !m.same_rings {
                Some("window ring size")
            } else {
                match sys.old_grade {
                    Some(g0)
                        if c0.rules[i0 as usize].thresholds[g0 as usize]
                            == r1.thresholds[g1 as usize] =>
                    {
                        None
                    }
                    _ => Some("thresholds"),
                }
            };
            match why {
                None => keep.push(Some(i0)),
                Some(why) => {
                    keep.push(None);
                    match resets.iter_mut().find(|x| *x.rule == *r1.id) {
                        Some(x) => x.systems.push(sys.id.to_owned()),
                        None => resets.push(RuleReset {
                            rule: r1.id.to_string(),
                            why: why.to_owned(),
                            systems: vec![sys.id.to_owned()],
                        }),
                    }
                }
            }
        }
        let operator_type = match (c1.incidents.as_ref(), &sys.profile.operator_type) {
            (Some(ip), Some(t)) => ip.operator_type(t).unwrap_or(0),
            _ => 0,
        };
        plans.push(Some(SystemPlan {
            new_grade: g1,
            operator_type,
            keep,
            matched: matches.iter().map(|m| m.old).collect(),
        }));
    }
    // Without systems, judge by the rules alone: a rule whose thresholds differ for a grade
    // (by id) restarts for systems of that grade.
    for (r1, m) in c1.rules.iter().zip(&matches) {
        let Some(i0) = m.old else {
            report.added.push(r1.id.to_string());
            continue;
        };
        if resets.iter().any(|x| *x.rule == *r1.id) {
            continue;
        }
        let why = if !m.same_definition {
            Some("definition")
        } else if !m.same_rings {
            Some("window ring size")
        } else if systems.is_empty() {
            let r0 = &c0.rules[i0 as usize];
            let differs = c1.grades.iter().any(|g| {
                c0.grade_ix
                    .get(&*g.id)
                    .map(|&g0| &r0.thresholds[g0 as usize])
                    != Some(&r1.thresholds[g.rank as usize])
            });
            differs.then_some("thresholds")
        } else {
            None
        };
        match why {
            Some(why) => resets.push(RuleReset {
                rule: r1.id.to_string(),
                why: why.to_owned(),
                systems: Vec::new(),
            }),
            None => report.kept.push(r1.id.to_string()),
        }
    }
    report.reset = resets;
    (report, plans)
}

/// A rule's private window after a reload: what arrived since, until its window holds only
/// buckets that opened after the reload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Fresh {
    /// The rule's index.
    pub rule: u32,
    /// The bucket that was open at the reload.
    pub reload_bucket: i64,
    /// The watermark at the reload.
    pub since: i64,
    /// The private ring of its signal (windowed rules).
    pub sig: Option<FreshRing>,
    /// The private ring of its `per` signal.
    pub per: Option<FreshRing>,
}

/// A small ring of aggregates (one per bucket).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct FreshRing {
    /// The newest bucket it holds.
    pub head: i64,
    /// Per bucket (slot `b mod len`): count, sum, min, max.
    pub buckets: Vec<[f64; 4]>,
}

impl FreshRing {
    pub(crate) fn new(len: u32, head: i64) -> FreshRing {
        FreshRing {
            head,
            buckets: vec![empty(); len.max(1) as usize],
        }
    }

    fn advance(&mut self, to: i64) {
        let len = self.buckets.len() as i64;
        if to <= self.head {
            return;
        }
        if to.saturating_sub(self.head) >= len {
            self.buckets.fill(empty());
        } else {
            for b in self.head + 1..=to {
                self.buckets[b.rem_euclid(len) as usize] = empty();
            }
        }
        self.head = to;
    }

    fn add(&mut self, wb: i64, b: i64, value: f64) {
        self.advance(wb);
        let len = self.buckets.len() as i64;
        if b <= self.head.saturating_sub(len) {
            return;
        }
        let x = &mut self.buckets[b.rem_euclid(len) as usize];
        x[0] += 1.0;
        x[1] += value;
        x[2] = x[2].min(value);
        x[3] = x[3].max(value);
    }

    fn window(&mut self, wb: i64) -> Agg {
        self.advance(wb);
        let mut a = Agg::EMPTY;
        for x in &self.buckets {
            a.merge(&Agg {
                count: x[0],
                sum: x[1],
                min: x[2],
                max: x[3],
            });
        }
        a
    }
}

fn empty() -> [f64; 4] {
    [0.0, 0.0, f64::INFINITY, f64::NEG_INFINITY]
}

impl Fresh {
    /// Whether the rule's shared window no longer holds pre-reload data at bucket `wb`.
    pub fn expired(&self, ev: &RuleEval, wb: i64) -> bool {
        match ev.aggregate {
            Aggregate::SilenceMs | Aggregate::Ewma | Aggregate::Cusum => {
                wb > self.reload_bucket && ev.aggregate != Aggregate::SilenceMs
            }
            _ => {
                let n = self.sig.as_ref().map_or(1, |r| r.buckets.len()) as i64;
                wb >= self.reload_bucket.saturating_add(n)
            }
        }
    }

    /// Counts an accepted observation of signal `s` (bucket `b`) if the rule reads it.
    pub fn add(&mut self, ev: &RuleEval, wb: i64, s: u32, b: i64, value: f64) {
        if s == ev.signal {
            if let Some(r) = self.sig.as_mut() {
                r.add(wb, b, value);
            }
        }
        if Some(s) == ev.per {
            if let Some(r) = self.per.as_mut() {
                r.add(wb, b, value);
            }
        }
    }

    /// The private window sums at bucket `wb`.
    pub fn inputs(&mut self, wb: i64) -> crate::window::AggInputs {
        crate::window::AggInputs {
            sig: self.sig.as_mut().map_or(Agg::EMPTY, |r| r.window(wb)),
            per: self.per.as_mut().map_or(Agg::EMPTY, |r| r.window(wb)),
        }
    }
}

/// Moves one system's state words from `c0`'s layout to `c1`'s. Returns the new words and
/// the private windows the reset rules need. `keep[r1]` is the old index of a kept rule.
pub(crate) fn migrate(
    c0: &Compiled,
    c1: &Compiled,
    old: &[u64],
    old_fresh: &[Fresh],
    plan: &SystemPlan,
) -> (Vec<u64>, Vec<Fresh>) {
    let (l0, l1) = (&c0.tables.layout, &c1.tables.layout);
    let mut oldw = old.to_vec();
    let a0 = SystemArena::new(l0, &mut oldw);
    let mut neww = l1.template.to_vec();
    let mut a1 = SystemArena::new(l1, &mut neww);
    let w = a0.watermark();
    a1.set_grade(plan.new_grade);
    a1.set_level(a0.level());
    if w == NONE {
        // Nothing seen yet: every rule starts empty anyway.
        return (neww, Vec::new());
    }
    a1.set_watermark(w);
    a1.set_first_watermark(a0.first_watermark());
    let wb = a0.wb();
    // Every ring behind the watermark's bucket (as after any move of the watermark); the
    // rings that carry over current are cleared below.
    a1.set_wb(wb);
    // Which new signals a kept rule reads: their rings carry over.
    let mut needed = vec![false; c1.signals.len()];
    for (r1, k) in c1.rules.iter().zip(&plan.keep) {
        if k.is_some() {
            for s in r1.inputs() {
                needed[s as usize] = true;
            }
        }
    }
    let mut migrated = vec![false; c1.signals.len()];
    for (s1, sig) in c1.signals.iter().enumerate() {
        let Some(&s0) = c0.signal_ix.get(&*sig.id) else {
            a1.mark_ring_stale(s1);
            continue;
        };
        let (r0, r1) = (&l0.rings[s0 as usize], &l1.rings[s1]);
        if let (Some(_), Some(_)) = (l0.last_ts[s0 as usize], l1.last_ts[s1]) {
            a1.note_ts(s1, a0.last_ts(s0 as usize));
        }
        if !r1.stores() {
            // Nothing kept but the stale bit (which reading the ring clears): as it was.
            if !a0.ring_stale_bit(s0 as usize) {
                a1.clear_ring_stale(s1);
            }
            continue;
        }
        if !needed[s1] || r0.len != r1.len {
            a1.mark_ring_stale(s1);
            continue;
        }
        migrated[s1] = true;
        // Buckets, field by field (a field the old ring lacked reads as empty).
        a1.set_ring_head(s1, a0.ring_head(s0 as usize));
        let (st0, st1) = (r0.fields.stride(), r1.fields.stride());
        for slot in 0..r1.len as usize {
            let agg = if r0.stores() {
                let o = r0.buckets as usize + slot * st0;
                load_agg(&a0.words[o..o + st0], r0.fields)
            } else {
                Agg::EMPTY
            };
            let o = r1.buckets as usize + slot * st1;
            store_agg(&mut a1.words[o..o + st1], r1.fields, &agg);
        }
        if a0.ring_stale_bit(s0 as usize) {
            a1.mark_ring_stale(s1);
        } else {
            a1.clear_ring_stale(s1);
        }
        // Caches: the old one of the same window carried over, a new one computed.
        for &ci in &r1.caches {
            let cl1 = l1.caches[ci as usize];
            let agg = match l0.caches.iter().find(|c| c.ring == s0 && c.n == cl1.n) {
                Some(cl0) if r0.stores() => {
                    let o = cl0.offset as usize;
                    load_agg(&a0.words[o..o + st0], r0.fields)
                }
                _ => a1.window(s1, cl1.n),
            };
            let o = cl1.offset as usize;
            store_agg(&mut a1.words[o..o + st1], r1.fields, &agg);
        }
    }
    let mut fresh = Vec::new();
    for (i1, (r1, k)) in c1.rules.iter().zip(&plan.keep).enumerate() {
        let ev1 = &c1.tables.rules[i1];
        if let Some(i0) = *k {
            let ev0 = &c0.tables.rules[i0 as usize];
            let st = a0.rule_state(i0 as usize, ev0.at.timers);
            a1.set_rule_state(i1, ev1.at.timers, &st);
            if r1.aggregate.consumes_buckets() {
                let (stat, n) = a0.detector(ev0.at.det);
                a1.set_detector(ev1.at.det, stat, n);
            }
            if let (Some(h0), Some(h1)) = (ev0.at.hist, ev1.at.hist) {
                let n = (1 + (h0.len + 1) * h0.bins) as usize;
                let (o0, o1) = (h0.head as usize, h1.head as usize);
                a1.words[o1..o1 + n].copy_from_slice(&a0.words[o0..o0 + n]);
            }
            if let Some(f) = old_fresh.iter().find(|f| f.rule == i0) {
                let mut f = f.clone();
                f.rule = i1 as u32;
                fresh.push(f);
            }
            continue;
        }
        // A rule that starts again: a private window where it shares data with kept rules.
        let reads_migrated = r1.inputs().any(|s| migrated[s as usize]);
        let special = matches!(
            r1.aggregate,
            Aggregate::SilenceMs | Aggregate::Ewma | Aggregate::Cusum
        );
        if special || (reads_migrated && r1.aggregate != Aggregate::Psi) {
            let n = r1.window_buckets.max(1);
            let windowed = r1.aggregate.windowed();
            fresh.push(Fresh {
                rule: i1 as u32,
                reload_bucket: wb,
                since: w,
                sig: windowed.then(|| FreshRing::new(n, wb)),
                per: (windowed && r1.per.is_some()).then(|| FreshRing::new(n, wb)),
            });
        }
    }
    (neww, fresh)
}

/// Whether `policy` can carry the incidents of system `id` that are not closed.
///
/// # Errors
/// [`Error::Reload`] naming the first incident whose category or severity `policy` lacks
/// (or every incident when it has no `incidents` section).
pub(crate) fn incidents_fit(
    policy: &Policy,
    id: &str,
    st: &crate::incident::SystemIncidents,
) -> Result<(), Error> {
    for inc in &st.live {
        let why = match policy.incidents() {
            None => Some("the new policy has no incidents section".to_owned()),
            Some(ip) => {
                if policy.category(&inc.category).is_none() {
                    Some(format!("it has no category {:?}", &*inc.category))
                } else if !ip.severities.iter().any(|s| s.id == inc.severity) {
                    Some(format!("it has no severity {:?}", &*inc.severity))
                } else {
                    None
                }
            }
        };
        if let Some(why) = why {
            return Err(Error::Reload(format!(
                "incident {:?} of system {id:?} is not closed and the new policy cannot carry it: {why}; file its reports (or keep the category) before reloading",
                &*inc.id
            )));
        }
    }
    Ok(())
}

/// Levels of the old rules, by old index, for the transitions a reload emits.
pub(crate) fn old_levels(c0: &Compiled, old: &[u64]) -> Vec<Level> {
    let mut w = old.to_vec();
    let a = SystemArena::new(&c0.tables.layout, &mut w);
    a.rule_levels().collect()
}
