//! Transitions: a change of a rule's or a system's warning level, the only thing the
//! engine emits, with the response its new level calls for.

use crate::handle::SystemHandle;
use crate::level::{Actions, Level};
use crate::policy::Compiled;
use crate::policy::model::{I18n, Rule};
use crate::response::Response;
use crate::rule::Change;
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use std::sync::Arc;

/// Whether a transition is of one rule or of the whole system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// A rule's level changed.
    Rule,
    /// The system's level changed.
    System,
}

/// A change of a rule's or a system's level, with the response of its new level.
///
/// Serialises to the JSON line form (`system` is the system id, `grade` the grade id,
/// `rule` the rule id, `value`/`threshold` null when absent, `actions` in bit order):
///
/// ```json
/// {"seq": 7, "ts": 1764374400000, "scope": "rule", "system": "triage-bot", "grade": "high",
///  "rule": "hallucination-rate", "category": "hallucination", "from": "none", "to": "yellow",
///  "value": 0.061, "threshold": 0.05, "actions": ["notify_operator", "human_review"],
///  "report_within_s": 86400, "basis": "Art. 46"}
/// ```
///
/// A muted transition adds `"silenced"` (the silence's id) and/or `"inhibited_by"` (the
/// inhibition's id), its actions reduced to `log`. Display names from the policy follow
/// when it gives them: `"grade_name"`, `"rule_name"`
/// and `"category_name"`, each `{"zh": .., "en": ..}`. Cloning is cheap: strings are shared
/// with the engine.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    /// Engine-wide sequence number, from 1, +1 per transition emitted (delivered or not).
    pub seq: u64,
    /// Evaluation time: the system's watermark.
    pub ts: i64,
    /// Rule or system.
    pub scope: Scope,
    /// System handle.
    pub system: SystemHandle,
    /// System id.
    pub system_id: Arc<str>,
    /// Grade rank.
    pub grade: u32,
    /// Grade id.
    pub grade_id: Arc<str>,
    /// Rule index (None for system scope).
    pub rule: Option<u32>,
    /// Rule id.
    pub rule_id: Option<Arc<str>>,
    /// Category id.
    pub category: Option<Arc<str>>,
    /// Previous level.
    pub from: Level,
    /// New level.
    pub to: Level,
    /// The aggregate that caused it (None when the window was empty, or system scope).
    pub value: Option<f64>,
    /// Threshold of the new level (None for `none`, or system scope).
    pub threshold: Option<f64>,
    /// Actions of the new level's response.
    pub actions: Actions,
    /// Reporting deadline of the new level's response, in seconds.
    pub report_within_s: Option<i64>,
    /// Legal basis of the rule.
    pub basis: Option<Arc<str>>,
    /// The grade's display name, if the policy gives one.
    pub grade_name: Option<Arc<I18n>>,
    /// The rule's display name, if the policy gives one.
    pub rule_name: Option<Arc<I18n>>,
    /// The category's display name, if the policy gives one.
    pub category_name: Option<Arc<I18n>>,
    /// The silence that muted it (its actions are `log` only), if any.
    pub silenced: Option<Arc<str>>,
    /// The inhibition that muted it (its actions are `log` only), if any.
    pub inhibited_by: Option<Arc<str>>,
    /// Why it happened when not by evaluation: `policy_reload` for a rule that a reload
    /// reset or removed while it was above none.
    pub reason: Option<Arc<str>>,
}

/// Where a transition happened: the system and its grade.
pub(crate) struct At<'a> {
    pub policy: &'a Compiled,
    pub system: SystemHandle,
    pub system_id: &'a Arc<str>,
    pub grade: u32,
    pub ts: i64,
}

impl At<'_> {
    fn grade_id(&self) -> Arc<str> {
        self.policy.grades[self.grade as usize].id.clone()
    }
    fn grade_name(&self) -> Option<Arc<I18n>> {
        self.policy.tables.names.grades[self.grade as usize].clone()
    }
}

impl Transition {
    /// A rule's change, carrying `response`.
    pub(crate) fn of_rule(at: &At<'_>, rule: &Rule, change: Change, response: Response) -> Self {
        let c = at.policy;
        Transition {
            seq: 0,
            ts: at.ts,
            scope: Scope::Rule,
            system: at.system,
            system_id: at.system_id.clone(),
            grade: at.grade,
            grade_id: at.grade_id(),
            rule: Some(rule.index),
            rule_id: Some(rule.id.clone()),
            category: rule.category.map(|i| c.categories[i as usize].id.clone()),
            from: change.from,
            to: change.to,
            value: change.value,
            threshold: change.threshold,
            actions: response.actions,
            report_within_s: response.report_within_s,
            basis: rule.basis.clone(),
            grade_name: at.grade_name(),
            rule_name: c.tables.names.rules[rule.index as usize].clone(),
            category_name: rule
                .category
                .and_then(|i| c.tables.names.categories[i as usize].clone()),
            silenced: None,
            inhibited_by: None,
            reason: None,
        }
    }

    /// The system level's change, carrying `response`.
    pub(crate) fn of_system(at: &At<'_>, from: Level, to: Level, response: Response) -> Self {
        Transition {
            seq: 0,
            ts: at.ts,
            scope: Scope::System,
            system: at.system,
            system_id: at.system_id.clone(),
            grade: at.grade,
            grade_id: at.grade_id(),
            rule: None,
            rule_id: None,
            category: None,
            from,
            to,
            value: None,
            threshold: None,
            actions: response.actions,
            report_within_s: response.report_within_s,
            basis: None,
            grade_name: at.grade_name(),
            rule_name: None,
            category_name: None,
            silenced: None,
            inhibited_by: None,
            reason: None,
        }
    }

    /// The JSON form, one line.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Writes the JSON form (no newline); with `kind`, as `{"kind":"transition",...}`: the
    /// form `airisk replay` prints under a policy with incidents, where transitions and
    /// incident events share one stream.
    ///
    /// # Errors
    /// Whatever writing to `w` fails with.
    pub fn write_json<W: std::io::Write>(&self, mut w: W, kind: bool) -> std::io::Result<()> {
        if !kind {
            return serde_json::to_writer(w, self).map_err(std::io::Error::other);
        }
        let body = serde_json::to_vec(self).map_err(std::io::Error::other)?;
        w.write_all(b"{\"kind\":\"transition\",")?;
        w.write_all(&body[1..])
    }
}

impl Serialize for Transition {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("seq", &self.seq)?;
        m.serialize_entry("ts", &self.ts)?;
        m.serialize_entry("scope", &self.scope)?;
        m.serialize_entry("system", &*self.system_id)?;
        m.serialize_entry("grade", &*self.grade_id)?;
        m.serialize_entry("rule", &self.rule_id.as_deref())?;
        m.serialize_entry("category", &self.category.as_deref())?;
        m.serialize_entry("from", &self.from)?;
        m.serialize_entry("to", &self.to)?;
        m.serialize_entry("value", &self.value.filter(|v| v.is_finite()))?;
        m.serialize_entry("threshold", &self.threshold)?;
        m.serialize_entry("actions", &self.actions)?;
        m.serialize_entry("report_within_s", &self.report_within_s)?;
        m.serialize_entry("basis", &self.basis.as_deref())?;
        if let Some(r) = &self.reason {
            m.serialize_entry("reason", &**r)?;
        }
        if let Some(s) = &self.silenced {
            m.serialize_entry("silenced", &**s)?;
        }
        if let Some(i) = &self.inhibited_by {
            m.serialize_entry("inhibited_by", &**i)?;
        }
        if let Some(n) = &self.grade_name {
            m.serialize_entry("grade_name", &**n)?;
        }
        if let Some(n) = &self.rule_name {
            m.serialize_entry("rule_name", &**n)?;
        }
        if let Some(n) = &self.category_name {
            m.serialize_entry("category_name", &**n)?;
        }
        m.end()
    }
}
