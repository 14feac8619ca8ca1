//! Silences and inhibition: muting a transition's actions without hiding anything.
//!
//! - A **silence** is set by the caller (a planned maintenance window, say): a rule
//!   transition of a matching system, category and rule at `ts` with `starts ≤ ts < ends`
//!   is still emitted, with `silenced` naming the silence (the smallest matching id, by
//!   string order) and its actions reduced to `log` (a transition to none keeps its empty
//!   actions). A system-scope transition is muted only by a silence with no category and no
//!   rule matcher.
//! - **Inhibition** is policy (`inhibit`): while a source rule of a system is at or above
//!   `at_least` (judged after all the rule transitions of the same evaluation), transitions
//!   of that system's rules in the target categories carry `inhibited_by` and only `log`.
//!   A rule never inhibits itself.
//!
//! **The muting law**: silences and inhibitions change those two fields and the actions of
//! the transitions they mute, and nothing else — levels, timers, `seq`, incidents and their
//! deadlines evolve exactly as without them. A silence never delays or removes a report
//! that is due.
//!
//! Setting a silence whose id is already set **replaces** it (like updating a silence in
//! Alertmanager); [`crate::Engine::unsilence`] removes one.

use crate::error::{Error, Result};
use crate::hash::FastMap;
use crate::json::check_id;
use crate::level::{Action, Actions, Level};
use crate::policy::Compiled;
use crate::system::Output;
use crate::transition::{Scope, Transition};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// A silence: a time window during which matching transitions are muted (their actions
/// reduced to `log`), never hidden.
///
/// ```
/// use airisk::Silence;
/// let s: Silence = serde_json::from_str(r#"{"id": "upgrade-42", "system": "triage-bot",
///     "starts": 1000, "ends": 3601000, "reason": "model upgrade", "by": "ops"}"#)?;
/// assert!(s.covers(1000) && !s.covers(3_601_000));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Silence {
    /// Its id (1–128 bytes, no control characters).
    pub id: String,
    /// Only this system (absent: any).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    /// Only rules of this category (absent: any).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// Only this rule (absent: any).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// First instant muted (ms, inclusive).
    pub starts: i64,
    /// End of the window (ms, exclusive).
    pub ends: i64,
    /// Why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Who set it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
}

impl Silence {
    /// Whether `ts` is in the window: `starts ≤ ts < ends`.
    pub fn covers(&self, ts: i64) -> bool {
        self.starts <= ts && ts < self.ends
    }

    /// Whether it can mute a system-scope transition (no category and no rule matcher).
    pub fn mutes_system_scope(&self) -> bool {
        self.category.is_none() && self.rule.is_none()
    }

    /// Checks the silence against `policy`: a valid id, `ends > starts`, and matchers that
    /// name a rule and a category the policy defines.
    ///
    /// # Errors
    /// [`Error::Silence`] saying what is wrong.
    pub fn check(&self, policy: &crate::Policy) -> Result<()> {
        let bad = |m: String| Err(Error::Silence(format!("silence {:?}: {m}", self.id)));
        if let Err(r) = check_id(&self.id) {
            return Err(Error::Silence(format!("silence id: {r}")));
        }
        if let Some(s) = &self.system {
            if let Err(r) = check_id(s) {
                return bad(format!("system: {r}"));
            }
        }
        if self.ends <= self.starts {
            return bad(format!(
                "ends ({}) must be after starts ({})",
                self.ends, self.starts
            ));
        }
        if let Some(c) = &self.category {
            if policy.category(c).is_none() {
                return bad(crate::classify::unknown_value(
                    "category",
                    c,
                    policy.categories().iter().map(|x| &*x.id),
                ));
            }
        }
        if let Some(r) = &self.rule {
            if policy.rule(r).is_none() {
                return bad(crate::classify::unknown_value(
                    "rule",
                    r,
                    policy.rules().iter().map(|x| &*x.id),
                ));
            }
        }
        Ok(())
    }
}

/// The silences set on an engine, indexed by system so that muting a transition looks at
/// the silences of its system and those without a system matcher only.
#[derive(Debug, Default, Clone)]
pub(crate) struct Silences {
    /// Every silence, by id (string order).
    all: BTreeMap<String, Silence>,
    /// Ids of the silences with a system matcher, by system id.
    by_system: FastMap<String, BTreeSet<String>>,
    /// Ids of the silences without a system matcher.
    any_system: BTreeSet<String>,
}

impl Silences {
    /// Sets `s`, replacing a silence with the same id; the one replaced, if any.
    pub fn set(&mut self, s: Silence) -> Option<Silence> {
        let old = self.remove(&s.id);
        match &s.system {
            Some(sys) => {
                self.by_system
                    .entry(sys.clone())
                    .or_default()
                    .insert(s.id.clone());
            }
            None => {
                self.any_system.insert(s.id.clone());
            }
        }
        self.all.insert(s.id.clone(), s);
        old
    }

    /// Removes the silence `id`.
    pub fn remove(&mut self, id: &str) -> Option<Silence> {
        let s = self.all.remove(id)?;
        match &s.system {
            Some(sys) => {
                if let Some(set) = self.by_system.get_mut(sys) {
                    set.remove(id);
                    if set.is_empty() {
                        self.by_system.remove(sys);
                    }
                }
            }
            None => {
                self.any_system.remove(id);
            }
        }
        Some(s)
    }

    /// Every silence, in id order.
    pub fn list(&self) -> impl Iterator<Item = &Silence> {
        self.all.values()
    }

    /// The silences whose system matcher is `system`.
    pub fn of_system<'a>(&'a self, system: &str) -> impl Iterator<Item = &'a Silence> + 'a {
        self.by_system
            .get(system)
            .into_iter()
            .flatten()
            .filter_map(|id| self.all.get(id))
    }

    pub fn is_empty(&self) -> bool {
        self.all.is_empty()
    }

    /// The smallest id of a silence that mutes `t`.
    fn muting(&self, t: &Transition) -> Option<&str> {
        let matches = |s: &&Silence| {
            s.covers(t.ts)
                && match t.scope {
                    Scope::System => s.mutes_system_scope(),
                    Scope::Rule => {
                        s.category
                            .as_deref()
                            .is_none_or(|c| t.category.as_deref() == Some(c))
                            && s.rule
                                .as_deref()
                                .is_none_or(|r| t.rule_id.as_deref() == Some(r))
                    }
                }
        };
        let mine = self
            .by_system
            .get(&*t.system_id)
            .into_iter()
            .flatten()
            .filter_map(|id| self.all.get(id))
            .find(matches);
        let any = self
            .any_system
            .iter()
            .filter_map(|id| self.all.get(id))
            .find(matches);
        match (mine, any) {
            (Some(a), Some(b)) => Some(if a.id <= b.id { &a.id } else { &b.id }),
            (a, b) => a.or(b).map(|s| s.id.as_str()),
        }
    }
}

/// A compiled `inhibit` entry.
#[derive(Debug, Clone, Serialize)]
pub struct Inhibit {
    /// Its id.
    pub id: Arc<str>,
    /// The source rule's index.
    pub source_rule: u32,
    /// The level the source rule must be at, at least.
    pub at_least: Level,
    /// Target category indexes.
    pub targets: Vec<u32>,
    /// Legal basis.
    pub basis: Option<Arc<str>>,
}

/// Mutes the transitions `outputs` holds (one evaluation's): inhibition from the rule
/// levels after the evaluation (`level(r)`), then silences. Touches nothing but
/// `silenced`, `inhibited_by` and `actions`.
pub(crate) fn mute(
    c: &Compiled,
    silences: Option<&Silences>,
    level: impl Fn(usize) -> Level,
    outputs: &mut [Output],
) {
    for o in outputs {
        let Output::Transition(t) = o else { continue };
        if t.scope == Scope::Rule {
            // Judged by the transition's own rule id and category, not by its index: a
            // transition that a reload emits for a rule it removed names a rule (and maybe
            // a category) the policy no longer has.
            let (rule, cat) = (t.rule_id.as_deref(), t.category.as_deref());
            t.inhibited_by = c
                .inhibit
                .iter()
                .filter(|i| {
                    rule != Some(&*c.rules[i.source_rule as usize].id)
                        && cat.is_some_and(|cat| {
                            i.targets
                                .iter()
                                .any(|&x| &*c.categories[x as usize].id == cat)
                        })
                        && level(i.source_rule as usize) >= i.at_least
                })
                .map(|i| &i.id)
                .min()
                .cloned();
        }
        if let Some(s) = silences {
            t.silenced = s.muting(t).map(Arc::from);
        }
        if t.silenced.is_some() || t.inhibited_by.is_some() {
            t.actions = if t.to == Level::None {
                Actions::EMPTY
            } else {
                Actions(Action::Log as u32)
            };
        }
    }
}
