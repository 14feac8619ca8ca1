//! One system's monitoring state and its evaluation: the layer under the engine.
//!
//! The engine finds a system (registry, shard lock) and hands its state here; this module
//! applies observations and ticks to it, evaluates the rules they concern
//! ([`crate::rule::evaluate`]), recomputes the system level with escalation, and builds the
//! transitions ([`Transition::of_rule`], [`Transition::of_system`]). The engine then
//! numbers and delivers them. Data flows down: engine → system → rule → window → layout.

use crate::classify::Profile;
use crate::error::Error;
use crate::handle::SystemHandle;
use crate::layout::{NONE, SystemArena};
use crate::level::Level;
use crate::policy::Compiled;
use crate::policy::model::SignalKind;
use crate::rule;
use crate::transition::{At, Transition};
use crate::window::bucket_index;
use smallvec::SmallVec;
use std::sync::Arc;

/// Transitions produced while a shard lock is held, delivered after it is released.
pub(crate) type Pending = SmallVec<[Transition; 4]>;

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

/// A system being evaluated under one policy: its id, handle and state block.
pub(crate) struct Sys<'a> {
    pub policy: &'a Compiled,
    pub handle: SystemHandle,
    pub id: &'a Arc<str>,
    pub arena: SystemArena<'a>,
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
        let c = self.policy;
        let sig = &c.signals[s];
        let bad = if !value.is_finite() {
            Some("value is not finite")
        } else if value < 0.0 && sig.kind == SignalKind::Counter {
            Some("a counter's value must be ≥ 0")
        } else if ts == NONE {
            Some("ts_ms must be greater than i64::MIN")
        } else {
            None
        };
        if let Some(reason) = bad {
            return Err(Rejected::Invalid(Error::Value {
                signal: sig.id.to_string(),
                value,
                reason,
            }));
        }
        let b = bucket_index(ts, c.bucket_ms);
        let a = &mut self.arena;
        let w = a.watermark();
        if w == NONE || ts > w {
            // A newer observation is never stale.
            a.set_watermark(ts);
            if a.first_watermark() == NONE {
                a.set_first_watermark(ts);
            }
            if a.wb() != b {
                a.set_wb(b);
            }
        } else {
            let oldest = a.wb().saturating_sub(a.layout.rings[s].len as i64);
            if b <= oldest {
                return Err(Rejected::Stale(Error::Stale {
                    ts_ms: ts,
                    bucket: b,
                    oldest_rejected: oldest,
                }));
            }
        }
        a.current_ring(s);
        a.add(s, b, value);
        a.note_ts(s, ts);
        let rules = &c.tables.by_signal[s];
        if self.evaluate_rules(rules.iter().copied(), out) {
            self.evaluate_level(out);
        }
        Ok(())
    }

    /// Raises the watermark to `now` (never lowers it), then evaluates every rule and the
    /// system level. A system that has no watermark and gets none evaluates nothing.
    pub fn tick(&mut self, now: i64, out: &mut Pending) {
        let c = self.policy;
        let a = &mut self.arena;
        if now != NONE && (a.watermark() == NONE || now > a.watermark()) {
            a.set_watermark(now);
            if a.first_watermark() == NONE {
                a.set_first_watermark(now);
            }
            let b = bucket_index(now, c.bucket_ms);
            if a.wb() != b {
                a.set_wb(b);
            }
        }
        if a.watermark() == NONE {
            return;
        }
        if self.evaluate_rules(0..c.rules.len() as u32, out) {
            self.evaluate_level(out);
        }
    }

    /// Evaluates `rules` in order; pushes a transition for each change. Whether any changed.
    #[inline]
    fn evaluate_rules(&mut self, rules: impl Iterator<Item = u32>, out: &mut Pending) -> bool {
        let c = self.policy;
        let t = &c.tables;
        let mut changed = false;
        for r in rules {
            let r = r as usize;
            let rule = &c.rules[r];
            if let Some(ch) =
                rule::evaluate(rule, &t.layout.rules[r], &t.lowest[r], &mut self.arena)
            {
                let resp = c.responses.for_level(ch.to, rule.category);
                out.push(Transition::of_rule(&self.at(), rule, ch, resp));
                changed = true;
            }
        }
        changed
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
            let resp = self.policy.responses.for_level(level, None);
            out.push(Transition::of_system(&self.at(), from, level, resp));
        }
    }
}
