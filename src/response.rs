//! Responses (应急响应) and transitions — the only thing the engine emits.

use crate::level::{Actions, Level};
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use std::sync::Arc;

pub use crate::policy::{Override, Response, Responses};

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
/// Serialises to the JSON form of DESIGN.md section 2 (`system` is the system id, `grade`
/// the grade id, `rule` the rule id, `value`/`threshold` null when absent, `actions` in bit
/// order). Cloning is cheap: strings are shared with the engine.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    /// Engine-wide sequence number, from 1, +1 per transition emitted (delivered or not).
    pub seq: u64,
    /// Evaluation time: the system's watermark.
    pub ts: i64,
    /// Rule or system.
    pub scope: Scope,
    /// System handle.
    pub system: u32,
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
}

impl Serialize for Transition {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(14))?;
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
        m.end()
    }
}

impl Transition {
    /// The JSON form, one line.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}
