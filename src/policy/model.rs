//! The policy's document model: what a validated policy says, as plain public types.
//!
//! These types are produced by validation and read by classification, by the evaluation
//! tables and by users who inspect a policy. They
//! serialise to JSON for display; the document itself is [`super::Policy::source`].

use crate::hash::FastMap;
use crate::level::Level;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// A text in Chinese and English.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct I18n {
    /// Chinese.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zh: Option<String>,
    /// English.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub en: Option<String>,
}

impl I18n {
    /// Whether neither language is given.
    pub fn is_empty(&self) -> bool {
        self.zh.is_none() && self.en.is_none()
    }
}

/// A risk category (分类), e.g. hallucination, with its legal basis.
#[derive(Debug, Clone, Serialize)]
pub struct Category {
    /// Its id.
    pub id: Arc<str>,
    /// Display names.
    pub name: I18n,
    /// Legal basis (e.g. "Art. 46").
    pub basis: Option<Arc<str>>,
    /// Free text.
    pub description: Option<String>,
}

/// A rung of the grade ladder (分级). `rank` 0 is the lowest.
#[derive(Debug, Clone, Serialize)]
pub struct Grade {
    /// Its id.
    pub id: Arc<str>,
    /// Position in the ladder, 0 = lowest.
    pub rank: u32,
    /// Display names.
    pub name: I18n,
    /// Lowest score of this grade (absent for the first grade).
    pub min_score: Option<i64>,
}

/// Points of one classification factor value (a sector, a capability, ...).
#[derive(Debug, Clone, Serialize)]
pub struct FactorDef {
    /// Its id.
    pub id: Arc<str>,
    /// Points added to the score (may be negative).
    pub points: i64,
    /// Display names.
    pub name: I18n,
    /// Legal basis.
    pub basis: Option<Arc<str>>,
}

/// A table of factor values (`classification.sectors`, ...), in document order.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(transparent)]
pub struct FactorTable {
    entries: Vec<FactorDef>,
    #[serde(skip)]
    index: FastMap<Arc<str>, usize>,
}

impl FactorTable {
    /// The entry with this id.
    pub fn get(&self, id: &str) -> Option<&FactorDef> {
        self.index.get(id).map(|&i| &self.entries[i])
    }
    /// The entry with this id and its position in the table.
    pub(crate) fn get_ix(&self, id: &str) -> Option<(u32, &FactorDef)> {
        self.index.get(id).map(|&i| (i as u32, &self.entries[i]))
    }
    /// All entries.
    pub fn entries(&self) -> &[FactorDef] {
        &self.entries
    }
    /// Appends an entry (ids are unique: the caller checked).
    pub(crate) fn push(&mut self, f: FactorDef) {
        self.index.insert(f.id.clone(), self.entries.len());
        self.entries.push(f);
    }
}

/// One step of `classification.scale`.
#[derive(Debug, Clone, Serialize)]
pub struct ScaleStep {
    /// The step's name in explanations: `min_users N`.
    pub id: Arc<str>,
    /// Users at or above which this step applies.
    pub min_users: u64,
    /// Points.
    pub score: i64,
    /// Legal basis.
    pub basis: Option<Arc<str>>,
}

/// The condition of a floor (or of a prohibited use): every present key must hold.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FloorWhen {
    /// Sector in this list.
    pub sectors: Option<Vec<Arc<str>>>,
    /// Any capability in this list.
    pub capabilities: Option<Vec<Arc<str>>>,
    /// Data class in this list.
    pub data: Option<Vec<Arc<str>>>,
    /// Autonomy in this list.
    pub autonomy: Option<Vec<Arc<str>>>,
    /// Any vulnerable group in this list.
    pub vulnerable_groups: Option<Vec<Arc<str>>>,
    /// Users at least this many.
    pub min_users: Option<u64>,
    /// The same lists as indexes into their tables (what classification compares).
    #[serde(skip)]
    pub(crate) ix: FloorIx,
}

/// A floor's id lists as table indexes.
#[derive(Debug, Clone, Default)]
pub(crate) struct FloorIx {
    pub sectors: Option<Vec<u32>>,
    pub capabilities: Option<Vec<u32>>,
    pub data: Option<Vec<u32>>,
    pub autonomy: Option<Vec<u32>>,
    pub vulnerable_groups: Option<Vec<u32>>,
}

/// A grade floor: when its condition holds, the grade is at least `grade`.
#[derive(Debug, Clone, Serialize)]
pub struct Floor {
    /// Its id.
    pub id: Arc<str>,
    /// Condition.
    pub when: FloorWhen,
    /// Rank of the floor grade.
    pub grade: u32,
    /// Legal basis.
    pub basis: Option<Arc<str>>,
}

/// A prohibited use (`classification.prohibited`): a profile whose condition holds is refused
/// registration, whatever its score.
#[derive(Debug, Clone, Serialize)]
pub struct Prohibited {
    /// Its id.
    pub id: Arc<str>,
    /// Condition (as for floors).
    pub when: FloorWhen,
    /// Legal basis.
    pub basis: Option<Arc<str>>,
    /// Display names.
    pub name: I18n,
}

/// The classification tables (`classification`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct ClassificationTables {
    /// Sector points.
    pub sectors: FactorTable,
    /// Capability points.
    pub capabilities: FactorTable,
    /// Data class points.
    pub data: FactorTable,
    /// Autonomy points.
    pub autonomy: FactorTable,
    /// Steps by number of users, increasing `min_users`.
    pub scale: Vec<ScaleStep>,
    /// Vulnerable group points.
    pub vulnerable_groups: FactorTable,
    /// Mitigation points (usually negative).
    pub mitigations: FactorTable,
    /// Floors.
    pub floors: Vec<Floor>,
    /// Prohibited uses, in declaration order (the first that holds is the one named).
    pub prohibited: Vec<Prohibited>,
}

/// Kind of a signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SignalKind {
    /// Each observation adds its value (≥ 0).
    Counter,
    /// Each observation is a sample.
    Gauge,
}

/// A signal (监测指标).
#[derive(Debug, Clone, Serialize)]
pub struct Signal {
    /// Its id.
    pub id: Arc<str>,
    /// Dense index (the `SignalId`).
    pub index: u32,
    /// Counter or gauge.
    pub kind: SignalKind,
    /// Category index, if any.
    pub category: Option<u32>,
    /// Free text.
    pub description: Option<String>,
}

/// A window aggregate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Aggregate {
    /// Number of observations.
    Count,
    /// Sum of values.
    Sum,
    /// Mean of values.
    Mean,
    /// Largest value.
    Max,
    /// Smallest value.
    Min,
    /// Sum of the signal over sum of `per`.
    Rate,
    /// Milliseconds since the signal was last observed.
    SilenceMs,
    /// Exponentially weighted moving average of closed buckets' inputs.
    Ewma,
    /// One-sided cumulative sum of closed buckets' deviations from a target.
    Cusum,
    /// Population stability index of the window's distribution against a reference.
    Psi,
}

impl Aggregate {
    /// Every aggregate with its JSON name.
    pub(crate) const NAMES: &'static [(&'static str, Aggregate)] = &[
        ("count", Aggregate::Count),
        ("sum", Aggregate::Sum),
        ("mean", Aggregate::Mean),
        ("max", Aggregate::Max),
        ("min", Aggregate::Min),
        ("rate", Aggregate::Rate),
        ("silence_ms", Aggregate::SilenceMs),
        ("ewma", Aggregate::Ewma),
        ("cusum", Aggregate::Cusum),
        ("psi", Aggregate::Psi),
    ];

    /// Whether the aggregate is computed over `window_ms` (all but `silence_ms`, `ewma`
    /// and `cusum`).
    pub fn windowed(self) -> bool {
        !matches!(
            self,
            Aggregate::SilenceMs | Aggregate::Ewma | Aggregate::Cusum
        )
    }

    /// Whether the aggregate consumes closed buckets (`ewma`, `cusum`).
    pub fn consumes_buckets(self) -> bool {
        matches!(self, Aggregate::Ewma | Aggregate::Cusum)
    }
}

/// Which deviations a CUSUM accumulates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// Upward: S ← max(0, S + x − μ − k).
    Up,
    /// Downward: S ← max(0, S + μ − k − x).
    Down,
}

/// The parameters of a detector aggregate.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Detector {
    /// `ewma`: s = x for the first input, then s ← α·x + (1 − α)·s.
    Ewma {
        /// α in (0, 1].
        alpha: f64,
    },
    /// `cusum`: S starts at 0; see [`Side`].
    Cusum {
        /// μ, the in-control mean.
        target: f64,
        /// k ≥ 0, the allowance.
        slack: f64,
        /// Up or down.
        side: Side,
    },
    /// `psi`: bins and the reference distribution.
    Psi {
        /// The B − 1 inner bin edges, strictly increasing.
        bins: Vec<f64>,
        /// The B reference proportions (≥ 0, summing to 1).
        reference: Vec<f64>,
    },
}

/// Which side of the thresholds is bad.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Values at or above a threshold meet it.
    Above,
    /// Values at or below a threshold meet it.
    Below,
}

/// What an empty window means for a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OnEmpty {
    /// The aggregate is computed as usual (often undefined: levels hold).
    Hold,
    /// An empty window resets raising timers and counts as `none` for lowering.
    Clear,
}

/// A warning rule (预警规则).
#[derive(Debug, Clone, Serialize)]
pub struct Rule {
    /// Its id.
    pub id: Arc<str>,
    /// Declaration index (the C ABI's rule index).
    pub index: u32,
    /// Display names.
    pub name: I18n,
    /// Category index (the rule's own, else its signal's), if any.
    pub category: Option<u32>,
    /// Legal basis.
    pub basis: Option<Arc<str>>,
    /// Free text.
    pub description: Option<String>,
    /// Signal index.
    pub signal: u32,
    /// Aggregate.
    pub aggregate: Aggregate,
    /// Denominator signal index for `rate`.
    pub per: Option<u32>,
    /// Window length (absent for `silence_ms`).
    pub window_ms: Option<i64>,
    /// Window length in buckets (0 for `silence_ms`).
    pub window_buckets: u32,
    /// Minimum observations (or denominator sum for `rate`).
    pub min_samples: u64,
    /// Above or below.
    pub direction: Direction,
    /// Per grade rank: thresholds for blue, yellow, orange, red (`None` = unused).
    pub thresholds: Vec<[Option<f64>; 4]>,
    /// How long a level must be met before it is raised to.
    pub for_ms: i64,
    /// How long the level must be below the current one before it falls.
    pub clear_for_ms: i64,
    /// Hysteresis fraction in [0, 1).
    pub hysteresis: f64,
    /// Empty-window behaviour.
    pub on_empty: OnEmpty,
    /// Wilson score z for `rate`.
    pub wilson_z: Option<f64>,
    /// Detector parameters (`ewma`, `cusum`, `psi`).
    pub detector: Option<Detector>,
}

impl Rule {
    /// The signals whose observation evaluates this rule: `signal`, then `per` if different.
    pub fn inputs(&self) -> impl Iterator<Item = u32> + '_ {
        std::iter::once(self.signal).chain(self.per.filter(|&p| p != self.signal))
    }
}

/// System-level escalation.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Escalation {
    /// Distinct categories needed.
    pub min_categories: u32,
    /// Level those categories' rules must be at, at least.
    pub at_least: Level,
    /// Levels to raise the system level by.
    pub raise_by: u32,
}

/// A rung of the incident severity ladder (`incidents.severities`).
#[derive(Debug, Clone, Serialize)]
pub struct Severity {
    /// Its id.
    pub id: Arc<str>,
    /// Position in the ladder, 0 = lowest.
    pub rank: u32,
    /// Display names.
    pub name: I18n,
}

/// A kind of operator and its first-report deadline (`incidents.operator_types`).
#[derive(Debug, Clone, Serialize)]
pub struct OperatorType {
    /// Its id.
    pub id: Arc<str>,
    /// Seconds from the moment an incident becomes reportable to the initial report's
    /// deadline (also an update report's, from an escalation).
    pub initial_within_s: i64,
    /// Display names.
    pub name: I18n,
}

/// A category-specific severity for one warning level (`incidents.severity_overrides`).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct SeverityOverride {
    /// Category index.
    pub category: u32,
    /// Warning level.
    pub level: Level,
    /// Severity rank.
    pub severity: u32,
}

/// The incident and reporting model (`incidents`): when a warning opens an incident, how
/// severe it is, when it must be reported, and by when.
#[derive(Debug, Clone, Serialize)]
pub struct IncidentsPolicy {
    /// A rule reaching this level (or above) opens an incident for its category.
    pub open_at: Level,
    /// The severity ladder, lowest first.
    pub severities: Vec<Severity>,
    /// Per warning level (blue..red): the severity rank it maps to (`None` below `open_at`).
    pub severity_by_level: [Option<u32>; 4],
    /// Category-specific replacements of `severity_by_level`.
    pub severity_overrides: Vec<SeverityOverride>,
    /// Incidents at this severity rank or above are reportable.
    pub report_at: u32,
    /// Operator types; the first is the default of a profile that names none.
    pub operator_types: Vec<OperatorType>,
    /// Seconds after opening by which an incident must be acknowledged, if set.
    pub ack_within_s: Option<i64>,
    /// Seconds after resolution by which a reportable incident's final report is due.
    pub final_within_s: i64,
    /// Legal basis of the reporting duty (carried by every incident event).
    pub basis: Option<Arc<str>>,
}

impl IncidentsPolicy {
    /// The severity rank a rule of `category` at `level` maps to; `None` below `open_at`.
    pub fn severity(&self, category: u32, level: Level) -> Option<u32> {
        if level < self.open_at {
            return None;
        }
        self.severity_overrides
            .iter()
            .find(|o| o.category == category && o.level == level)
            .map(|o| o.severity)
            .or_else(|| level.slot().and_then(|s| self.severity_by_level[s]))
    }

    /// The operator type with this id, as its index.
    pub fn operator_type(&self, id: &str) -> Option<u32> {
        self.operator_types
            .iter()
            .position(|o| &*o.id == id)
            .map(|i| i as u32)
    }
}
