//! The policy document (策略): parsing, strict validation and the immutable compiled form.
//!
//! [`Policy::from_json`] parses the JSON of DESIGN.md section 2, checks every rule of the
//! contract, collects *all* problems (each with its JSON path) and, when there are none,
//! compiles the document: ids are interned to dense indexes, thresholds are resolved per grade
//! rank, and the per-signal window rings are sized. A [`Policy`] is immutable and cheap to
//! clone (an `Arc`); it is `Send + Sync`.

use crate::error::{Error, Issue, Result};
use crate::json::{Walker, idx, key, parse_strict};
use crate::level::{Action, Actions, Level};
use serde::Serialize;
use serde_json::{Map, Value};
use smallvec::SmallVec;
use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::sync::{Arc, OnceLock};

/// The default policy's JSON, compiled into the library (`seeds/policy/default.json`).
pub const DEFAULT_POLICY_JSON: &str = include_str!("../seeds/policy/default.json");

/// Largest policy document accepted, in bytes.
pub const MAX_POLICY_BYTES: usize = 4 << 20;
/// Most categories, signals or rules a policy may define (each).
pub const MAX_POLICY_ITEMS: usize = 1024;
/// Most entries in one classification table (sectors, capabilities, ...).
pub const MAX_FACTORS: usize = 4096;
/// Most window buckets per system, summed over its signals.
pub const MAX_BUCKETS_PER_SYSTEM: u64 = 1 << 20;
/// Largest absolute number of points a single factor may carry.
pub const MAX_POINTS: i64 = 1_000_000;

/// A text in Chinese and English.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct I18n {
    /// Chinese.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zh: Option<String>,
    /// English.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub en: Option<String>,
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
    index: HashMap<Arc<str>, usize, BuildHasherDefault<Fnv>>,
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

/// The condition of a floor: every present key must hold.
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
}

impl Aggregate {
    fn from_name(s: &str) -> Option<Aggregate> {
        Some(match s {
            "count" => Aggregate::Count,
            "sum" => Aggregate::Sum,
            "mean" => Aggregate::Mean,
            "max" => Aggregate::Max,
            "min" => Aggregate::Min,
            "rate" => Aggregate::Rate,
            "silence_ms" => Aggregate::SilenceMs,
            _ => return None,
        })
    }
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

/// A warning rule (预警规则), compiled.
#[derive(Debug, Clone, Serialize)]
pub struct Rule {
    /// Its id.
    pub id: Arc<str>,
    /// Declaration index (the C ABI's rule index).
    pub index: u32,
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
    /// Arena offset of this rule's record (state, then its caches).
    #[serde(skip)]
    pub(crate) rec: u32,
    /// Arena offset of its window cache of `signal`.
    #[serde(skip)]
    pub(crate) sig_cache: u32,
    /// Arena offset of its window cache of `per`.
    #[serde(skip)]
    pub(crate) per_cache: u32,
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

/// Actions and reporting deadline for a level.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Response {
    /// Actions (bits).
    pub actions: Actions,
    /// Deadline to report to the regulator, in seconds.
    pub report_within_s: Option<i64>,
}

/// A category-specific response.
#[derive(Debug, Clone, Serialize)]
pub struct Override {
    /// Category index.
    pub category: u32,
    /// Level it applies to.
    pub level: Level,
    /// The response.
    pub response: Response,
}

/// The response plan.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Responses {
    /// Per level, blue to red.
    pub levels: [Response; 4],
    /// Category overrides.
    pub overrides: Vec<Override>,
}

impl Responses {
    /// The response a transition to `level` in `category` carries.
    pub fn for_level(&self, level: Level, category: Option<u32>) -> Response {
        let Some(slot) = level.slot() else {
            return Response::default();
        };
        if let Some(c) = category {
            if let Some(o) = self
                .overrides
                .iter()
                .find(|o| o.category == c && o.level == level)
            {
                return o.response;
            }
        }
        self.levels[slot]
    }
}

/// Per-signal ring layout inside a system's state arena (see [`crate::window`]).
#[derive(Debug, Clone)]
pub(crate) struct RingSpec {
    /// Buckets kept (B).
    pub len: u32,
    /// Fields kept per bucket (bit set of `FIELD_*`).
    pub fields: u8,
    /// Offset of this ring's buckets in the arena (in words).
    pub offset: u32,
    /// The window caches fed by this ring: (window length in buckets, arena offset). One per
    /// rule reading the ring as `signal` or `per`; each sits in its rule's record.
    pub caches: SmallVec<[(u32, u32); 4]>,
}

impl RingSpec {
    /// Words per bucket (and per cache entry).
    #[inline]
    pub fn stride(&self) -> usize {
        self.fields.count_ones() as usize
    }
}

/// Words of a rule record before its caches: met_since ×4, below_since, level.
pub(crate) const RULE_WORDS: u32 = 6;

pub(crate) const FIELD_COUNT: u8 = 1;
pub(crate) const FIELD_SUM: u8 = 2;
pub(crate) const FIELD_MIN: u8 = 4;
pub(crate) const FIELD_MAX: u8 = 8;

/// The compiled policy. Reach it through [`Policy`]'s accessors.
#[derive(Debug)]
pub(crate) struct Compiled {
    pub source: Value,
    pub fingerprint: u64,
    pub policy_version: Option<String>,
    pub name: I18n,
    pub categories: Vec<Category>,
    pub category_ix: HashMap<Arc<str>, u32>,
    pub grades: Vec<Grade>,
    pub grade_ix: HashMap<Arc<str>, u32>,
    pub classification: ClassificationTables,
    pub bucket_ms: i64,
    pub signals: Vec<Signal>,
    pub signal_ix: HashMap<Arc<str>, u32>,
    pub rules: Vec<Rule>,
    /// Rules evaluated when a signal is observed (its `signal` or `per`), declaration order.
    pub by_signal: Vec<SmallVec<[u32; 4]>>,
    pub rings: Vec<RingSpec>,
    /// Words of a system's state arena.
    pub arena_words: u32,
    pub escalation: Option<Escalation>,
    pub responses: Responses,
    /// Problems that do not make the policy invalid (dead configuration).
    pub warnings: Vec<Issue>,
}

/// A validated, compiled, immutable policy. Cloning is cheap (shared).
#[derive(Debug, Clone)]
pub struct Policy(pub(crate) Arc<Compiled>);

impl Policy {
    /// Parses and validates a policy document.
    ///
    /// # Errors
    /// [`Error::Json`] for malformed JSON (with line and column; duplicate keys are
    /// malformed), [`Error::Limit`] for a document over [`MAX_POLICY_BYTES`], and
    /// [`Error::Policy`] listing every validation problem with its JSON path.
    pub fn from_json(text: &str) -> Result<Policy> {
        if text.len() > MAX_POLICY_BYTES {
            return Err(Error::Limit(format!(
                "policy is {} bytes; at most {MAX_POLICY_BYTES} are accepted",
                text.len()
            )));
        }
        let value = parse_strict(text).map_err(Error::Json)?;
        Policy::from_value(value)
    }

    /// Validates and compiles an already parsed document (see [`Policy::from_json`]).
    ///
    /// # Errors
    /// [`Error::Policy`] with every problem found.
    pub fn from_value(value: Value) -> Result<Policy> {
        let mut w = Walker::default();
        let compiled = compile(&mut w, &value);
        match compiled {
            Some(mut c) if w.issues.is_empty() => {
                let canon = serde_json::to_string(&value).unwrap_or_default();
                c.fingerprint = fnv1a(canon.as_bytes());
                c.source = value;
                Ok(Policy(Arc::new(c)))
            }
            _ => {
                if w.issues.is_empty() {
                    w.err("", "invalid policy");
                }
                Err(Error::Policy(w.issues))
            }
        }
    }

    /// The default policy compiled into the library ([`DEFAULT_POLICY_JSON`]). It is parsed
    /// once per process; later calls share it.
    pub fn default_policy() -> Policy {
        static CELL: OnceLock<Policy> = OnceLock::new();
        CELL.get_or_init(|| {
            Policy::from_json(DEFAULT_POLICY_JSON)
                .unwrap_or_else(|e| panic!("the embedded default policy is invalid: {e}"))
        })
        .clone()
    }

    /// `policy_version`, if set.
    pub fn version(&self) -> Option<&str> {
        self.0.policy_version.as_deref()
    }
    /// The policy's display name.
    pub fn name(&self) -> &I18n {
        &self.0.name
    }
    /// A 64-bit fingerprint of the canonical document (keys sorted, no whitespace).
    pub fn fingerprint(&self) -> u64 {
        self.0.fingerprint
    }
    /// The document as parsed.
    pub fn source(&self) -> &Value {
        &self.0.source
    }
    /// Categories in declaration order.
    pub fn categories(&self) -> &[Category] {
        &self.0.categories
    }
    /// The grade ladder, lowest first.
    pub fn grades(&self) -> &[Grade] {
        &self.0.grades
    }
    /// The grade with this id.
    pub fn grade(&self, id: &str) -> Option<&Grade> {
        self.0.grade_ix.get(id).map(|&i| &self.0.grades[i as usize])
    }
    /// The category with this id.
    pub fn category(&self, id: &str) -> Option<&Category> {
        self.0
            .category_ix
            .get(id)
            .map(|&i| &self.0.categories[i as usize])
    }
    /// Classification tables.
    pub fn classification(&self) -> &ClassificationTables {
        &self.0.classification
    }
    /// Bucket length in milliseconds.
    pub fn bucket_ms(&self) -> i64 {
        self.0.bucket_ms
    }
    /// Signals; a signal's index is its `SignalId`.
    pub fn signals(&self) -> &[Signal] {
        &self.0.signals
    }
    /// The signal with this id.
    pub fn signal(&self, id: &str) -> Option<&Signal> {
        self.0
            .signal_ix
            .get(id)
            .map(|&i| &self.0.signals[i as usize])
    }
    /// Rules in declaration order.
    pub fn rules(&self) -> &[Rule] {
        &self.0.rules
    }
    /// The rule with this id.
    pub fn rule(&self, id: &str) -> Option<&Rule> {
        self.0.rules.iter().find(|r| &*r.id == id)
    }
    /// Escalation, if any.
    pub fn escalation(&self) -> Option<&Escalation> {
        self.0.escalation.as_ref()
    }
    /// Response plan.
    pub fn responses(&self) -> &Responses {
        &self.0.responses
    }
    /// Problems found that do not make the policy invalid, each with its JSON path: parts of
    /// the document that can never take effect (an override for an undefined category).
    pub fn warnings(&self) -> &[Issue] {
        &self.0.warnings
    }

    /// Buckets kept per system, summed over signals (B for each signal).
    pub fn buckets_per_system(&self) -> u64 {
        self.0.rings.iter().map(|r| r.len as u64).sum()
    }
}

/// FNV-1a as a `Hasher` for the small, policy-controlled id tables of classification:
/// much cheaper than SipHash on short ids, and deterministic.
#[derive(Default)]
pub(crate) struct Fnv(u64);

impl std::hash::Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for b in bytes {
            h ^= *b as u64;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= *b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn i18n(w: &mut Walker, v: Option<&Value>, path: &str) -> I18n {
    let Some(v) = v else { return I18n::default() };
    let p = key(path, "name");
    if let Value::String(s) = v {
        return I18n {
            zh: None,
            en: Some(s.clone()),
        };
    }
    let Some(m) = w.obj(v, &p, &["zh", "en"]) else {
        return I18n::default();
    };
    let mut t = |k: &str| Walker::opt(m, k).and_then(|x| w.str(x, &key(&p, k)).map(str::to_owned));
    I18n {
        zh: t("zh"),
        en: t("en"),
    }
}

fn opt_string(w: &mut Walker, m: &Map<String, Value>, path: &str, k: &str) -> Option<String> {
    Walker::opt(m, k).and_then(|v| w.str(v, &key(path, k)).map(str::to_owned))
}

fn opt_arc(w: &mut Walker, m: &Map<String, Value>, path: &str, k: &str) -> Option<Arc<str>> {
    opt_string(w, m, path, k).map(Arc::from)
}

fn non_negative_ms(w: &mut Walker, m: &Map<String, Value>, path: &str, k: &str) -> i64 {
    match Walker::opt(m, k) {
        None => 0,
        Some(v) => match w.int(v, &key(path, k)) {
            Some(x) if x >= 0 => x,
            Some(x) => {
                w.err(key(path, k), format!("must be ≥ 0, found {x}"));
                0
            }
            None => 0,
        },
    }
}

/// A list of ids, each checked against a known set.
fn id_list(
    w: &mut Walker,
    v: &Value,
    path: &str,
    what: &str,
    known: &dyn Fn(&str) -> Option<Arc<str>>,
) -> Vec<Arc<str>> {
    let mut out = Vec::new();
    let Some(a) = w.arr(v, path) else { return out };
    for (i, x) in a.iter().enumerate() {
        let p = idx(path, i);
        if let Some(s) = w.str(x, &p) {
            match known(s) {
                Some(a) => out.push(a),
                None => w.err(p, format!("unknown {what} {s:?}")),
            }
        }
    }
    out
}

fn factor_table(w: &mut Walker, v: Option<&Value>, path: &str) -> FactorTable {
    let mut t = FactorTable::default();
    let Some(v) = v else { return t };
    let Some(m) = w.map(v, path) else { return t };
    if m.len() > MAX_FACTORS {
        w.err(
            path,
            format!("{} entries; at most {MAX_FACTORS} are allowed", m.len()),
        );
        return t;
    }
    for (k, x) in m {
        let p = key(path, k);
        if let Err(r) = crate::json::check_id(k) {
            w.err(&p, r);
            continue;
        }
        let (points, name, basis) = match x {
            Value::Object(_) => {
                let Some(o) = w.obj(x, &p, &["score", "name", "basis", "description"]) else {
                    continue;
                };
                let points = w
                    .req(o, &p, "score")
                    .and_then(|s| w.int(s, &key(&p, "score")));
                let name = i18n(w, o.get("name"), &p);
                let basis = opt_arc(w, o, &p, "basis");
                let _ = opt_string(w, o, &p, "description");
                (points, name, basis)
            }
            other => (w.int(other, &p), I18n::default(), None),
        };
        let Some(points) = points else { continue };
        if points.abs() > MAX_POINTS {
            w.err(&p, format!("points must be within ±{MAX_POINTS}"));
            continue;
        }
        let id: Arc<str> = Arc::from(k.as_str());
        t.index.insert(id.clone(), t.entries.len());
        t.entries.push(FactorDef {
            id,
            points,
            name,
            basis,
        });
    }
    t
}

fn actions(w: &mut Walker, v: Option<&Value>, path: &str) -> Actions {
    let mut bits = 0u32;
    let Some(v) = v else { return Actions(0) };
    let Some(a) = w.arr(v, path) else {
        return Actions(0);
    };
    for (i, x) in a.iter().enumerate() {
        let p = idx(path, i);
        if let Some(s) = w.str(x, &p) {
            match Action::from_name(s) {
                Some(act) => bits |= act as u32,
                None => w.err(
                    p,
                    format!(
                        "unknown action {s:?} (expected one of: {})",
                        Action::ALL.map(|a| a.name()).join(", ")
                    ),
                ),
            }
        }
    }
    Actions(bits)
}

fn response(w: &mut Walker, m: &Map<String, Value>, path: &str) -> Response {
    let actions = actions(w, m.get("actions"), &key(path, "actions"));
    let report_within_s = match Walker::opt(m, "report_within_s") {
        None => None,
        Some(v) => match w.int(v, &key(path, "report_within_s")) {
            Some(x) if x >= 0 => Some(x),
            Some(x) => {
                w.err(
                    key(path, "report_within_s"),
                    format!("must be ≥ 0, found {x}"),
                );
                None
            }
            None => None,
        },
    };
    Response {
        actions,
        report_within_s,
    }
}

fn warning_level(w: &mut Walker, v: &Value, path: &str) -> Option<Level> {
    let s = w.str(v, path)?;
    match Level::from_name(s) {
        Some(Level::None) | None => {
            w.err(
                path,
                format!("unknown level {s:?} (expected blue, yellow, orange or red)"),
            );
            None
        }
        l => l,
    }
}

/// Interns a list section of objects with unique ids; returns the (path, object, id) triples.
fn id_section<'a>(
    w: &mut Walker,
    v: Option<&'a Value>,
    path: &str,
    allowed: &[&str],
) -> Vec<(String, &'a Map<String, Value>, Arc<str>)> {
    let mut out: Vec<(String, &Map<String, Value>, Arc<str>)> = Vec::new();
    let Some(v) = v else { return out };
    let Some(a) = w.arr(v, path) else { return out };
    if a.len() > MAX_POLICY_ITEMS {
        w.err(
            path,
            format!(
                "{} entries; at most {MAX_POLICY_ITEMS} are allowed",
                a.len()
            ),
        );
        return out;
    }
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, x) in a.iter().enumerate() {
        let p = idx(path, i);
        let Some(m) = w.obj(x, &p, allowed) else {
            continue;
        };
        let Some(idv) = w.req(m, &p, "id") else {
            continue;
        };
        let Some(id) = w.id(idv, &key(&p, "id")) else {
            continue;
        };
        if let Some(first) = seen.insert(id, i) {
            w.err(
                key(&p, "id"),
                format!("duplicate id {id:?} (first defined at {path}[{first}])"),
            );
            continue;
        }
        out.push((p, m, Arc::from(id)));
    }
    out
}

const TOP: &[&str] = &[
    "schema",
    "policy_version",
    "name",
    "categories",
    "grades",
    "classification",
    "bucket_ms",
    "signals",
    "rules",
    "escalation",
    "responses",
];

const RULE_KEYS: &[&str] = &[
    "id",
    "category",
    "basis",
    "description",
    "signal",
    "aggregate",
    "per",
    "window_ms",
    "min_samples",
    "direction",
    "thresholds",
    "for_ms",
    "clear_for_ms",
    "hysteresis",
    "on_empty",
    "wilson_z",
];

fn compile(w: &mut Walker, v: &Value) -> Option<Compiled> {
    let top = w.obj(v, "", TOP)?;
    if let Some(s) = w.req(top, "", "schema") {
        if s.as_i64() != Some(1) {
            w.err(
                "schema",
                format!("unsupported schema {s}; this library reads schema 1"),
            );
        }
    }
    let policy_version = opt_string(w, top, "", "policy_version");
    let name = i18n(w, top.get("name"), "");

    // Categories.
    let mut categories = Vec::new();
    let mut category_ix = HashMap::new();
    if top.get("categories").is_none() {
        w.err("categories", "missing required field");
    }
    for (p, m, id) in id_section(
        w,
        top.get("categories"),
        "categories",
        &["id", "name", "basis", "description"],
    ) {
        category_ix.insert(id.clone(), categories.len() as u32);
        categories.push(Category {
            id,
            name: i18n(w, m.get("name"), &p),
            basis: opt_arc(w, m, &p, "basis"),
            description: opt_string(w, m, &p, "description"),
        });
    }

    // Grades.
    let mut grades: Vec<Grade> = Vec::new();
    let mut grade_ix = HashMap::new();
    let graw = w.req(top, "", "grades");
    let gsec = id_section(
        w,
        graw,
        "grades",
        &["id", "name", "min_score", "description"],
    );
    if let Some(Value::Array(a)) = graw {
        if a.len() < 2 || a.len() > 8 {
            w.err(
                "grades",
                format!("a policy defines 2 to 8 grades; found {}", a.len()),
            );
        }
    }
    let mut last_min: Option<(i64, String)> = None;
    for (i, (p, m, id)) in gsec.into_iter().enumerate() {
        let min_score = match Walker::opt(m, "min_score") {
            Some(x) => w.int(x, &key(&p, "min_score")),
            None => {
                if i > 0 {
                    w.err(
                        key(&p, "min_score"),
                        "every grade but the first needs a min_score",
                    );
                }
                None
            }
        };
        if let Some(ms) = min_score {
            if let Some((prev, ref prev_id)) = last_min {
                if ms <= prev {
                    w.err(
                        key(&p, "min_score"),
                        format!(
                            "min_score must be strictly increasing: {ms} is not above {prev} (grade {prev_id:?})"
                        ),
                    );
                }
            }
            last_min = Some((ms, id.to_string()));
        }
        let _ = opt_string(w, m, &p, "description");
        grade_ix.insert(id.clone(), grades.len() as u32);
        grades.push(Grade {
            id,
            rank: grades.len() as u32,
            name: i18n(w, m.get("name"), &p),
            min_score,
        });
    }

    // Classification.
    let mut classification = ClassificationTables::default();
    if let Some(cv) = w.req(top, "", "classification") {
        if let Some(c) = w.obj(
            cv,
            "classification",
            &[
                "sectors",
                "capabilities",
                "data",
                "autonomy",
                "scale",
                "vulnerable_groups",
                "mitigations",
                "floors",
            ],
        ) {
            let cp = "classification";
            classification.sectors = factor_table(w, c.get("sectors"), &key(cp, "sectors"));
            classification.capabilities =
                factor_table(w, c.get("capabilities"), &key(cp, "capabilities"));
            classification.data = factor_table(w, c.get("data"), &key(cp, "data"));
            classification.autonomy = factor_table(w, c.get("autonomy"), &key(cp, "autonomy"));
            classification.vulnerable_groups =
                factor_table(w, c.get("vulnerable_groups"), &key(cp, "vulnerable_groups"));
            classification.mitigations =
                factor_table(w, c.get("mitigations"), &key(cp, "mitigations"));
            if let Some(sv) = Walker::opt(c, "scale") {
                let sp = key(cp, "scale");
                if let Some(a) = w.arr(sv, &sp) {
                    let mut prev: Option<u64> = None;
                    for (i, x) in a.iter().enumerate() {
                        let p = idx(&sp, i);
                        let Some(m) = w.obj(x, &p, &["min_users", "score", "basis"]) else {
                            continue;
                        };
                        let mu = w.req(m, &p, "min_users").and_then(|x| {
                            let r = x.as_u64();
                            if r.is_none() {
                                w.err(key(&p, "min_users"), "expected a non-negative integer");
                            }
                            r
                        });
                        let score = w
                            .req(m, &p, "score")
                            .and_then(|x| w.int(x, &key(&p, "score")));
                        let basis = opt_arc(w, m, &p, "basis");
                        if let (Some(mu), Some(score)) = (mu, score) {
                            if let Some(pv) = prev {
                                if mu <= pv {
                                    w.err(
                                        key(&p, "min_users"),
                                        format!("min_users must increase: {mu} is not above {pv}"),
                                    );
                                }
                            }
                            if score.abs() > MAX_POINTS {
                                w.err(
                                    key(&p, "score"),
                                    format!("points must be within ±{MAX_POINTS}"),
                                );
                            }
                            prev = Some(mu);
                            classification.scale.push(ScaleStep {
                                id: Arc::from(format!("min_users {mu}")),
                                min_users: mu,
                                score,
                                basis,
                            });
                        }
                    }
                }
            }
            // Floors.
            let fl = id_section(
                w,
                Walker::opt(c, "floors"),
                "classification.floors",
                &["id", "when", "grade", "basis", "description"],
            );
            for (p, m, id) in fl {
                let grade = w.req(m, &p, "grade").and_then(|g| {
                    let gp = key(&p, "grade");
                    let s = w.str(g, &gp)?;
                    let r = grade_ix.get(s).copied();
                    if r.is_none() {
                        w.err(gp, format!("unknown grade {s:?}"));
                    }
                    r
                });
                let mut when = FloorWhen::default();
                if let Some(wv) = w.req(m, &p, "when") {
                    let wp = key(&p, "when");
                    if let Some(wm) = w.obj(
                        wv,
                        &wp,
                        &[
                            "sectors",
                            "capabilities",
                            "data",
                            "autonomy",
                            "vulnerable_groups",
                            "min_users",
                        ],
                    ) {
                        let t = &classification;
                        let mut list = |k: &str, what: &str, table: &FactorTable| {
                            wm.get(k).map(|lv| {
                                id_list(w, lv, &key(&wp, k), what, &|s| {
                                    table.get(s).map(|f| f.id.clone())
                                })
                            })
                        };
                        when.sectors = list("sectors", "sector", &t.sectors);
                        when.capabilities = list("capabilities", "capability", &t.capabilities);
                        when.data = list("data", "data class", &t.data);
                        when.autonomy = list("autonomy", "autonomy", &t.autonomy);
                        when.vulnerable_groups = list(
                            "vulnerable_groups",
                            "vulnerable group",
                            &t.vulnerable_groups,
                        );
                        let ix = |l: &Option<Vec<Arc<str>>>, table: &FactorTable| {
                            l.as_ref().map(|v| {
                                v.iter()
                                    .filter_map(|s| table.get_ix(s).map(|(i, _)| i))
                                    .collect()
                            })
                        };
                        when.ix = FloorIx {
                            sectors: ix(&when.sectors, &t.sectors),
                            capabilities: ix(&when.capabilities, &t.capabilities),
                            data: ix(&when.data, &t.data),
                            autonomy: ix(&when.autonomy, &t.autonomy),
                            vulnerable_groups: ix(&when.vulnerable_groups, &t.vulnerable_groups),
                        };
                        if let Some(mu) = wm.get("min_users") {
                            when.min_users = mu.as_u64();
                            if when.min_users.is_none() {
                                w.err(key(&wp, "min_users"), "expected a non-negative integer");
                            }
                        }
                        if wm.is_empty() {
                            w.err(&wp, "a floor needs at least one condition");
                        }
                    }
                }
                let basis = opt_arc(w, m, &p, "basis");
                let _ = opt_string(w, m, &p, "description");
                if let Some(grade) = grade {
                    classification.floors.push(Floor {
                        id,
                        when,
                        grade,
                        basis,
                    });
                }
            }
        }
    }

    // Buckets.
    let bucket_ms = match Walker::opt(top, "bucket_ms") {
        None => 60_000,
        Some(b) => match w.int(b, "bucket_ms") {
            Some(x) if x > 0 => x,
            Some(x) => {
                w.err("bucket_ms", format!("must be positive, found {x}"));
                60_000
            }
            None => 60_000,
        },
    };

    // Signals.
    let mut signals = Vec::new();
    let mut signal_ix = HashMap::new();
    let sraw = w.req(top, "", "signals");
    for (p, m, id) in id_section(
        w,
        sraw,
        "signals",
        &["id", "kind", "category", "description", "unit"],
    ) {
        let kind = w.req(m, &p, "kind").and_then(|k| {
            let kp = key(&p, "kind");
            match w.str(k, &kp)? {
                "counter" => Some(SignalKind::Counter),
                "gauge" => Some(SignalKind::Gauge),
                other => {
                    w.err(
                        kp,
                        format!("unknown kind {other:?} (expected counter or gauge)"),
                    );
                    None
                }
            }
        });
        let category = Walker::opt(m, "category").and_then(|c| {
            let cp = key(&p, "category");
            let s = w.str(c, &cp)?;
            let r = category_ix.get(s).copied();
            if r.is_none() {
                w.err(cp, format!("unknown category {s:?}"));
            }
            r
        });
        let mut description = opt_string(w, m, &p, "description");
        if let Some(unit) = opt_string(w, m, &p, "unit") {
            description = Some(match description {
                Some(d) => format!("{d} [{unit}]"),
                None => format!("[{unit}]"),
            });
        }
        signal_ix.insert(id.clone(), signals.len() as u32);
        signals.push(Signal {
            id,
            index: signals.len() as u32,
            kind: kind.unwrap_or(SignalKind::Counter),
            category,
            description,
        });
    }

    // Rules.
    let mut rules = Vec::new();
    let rraw = w.req(top, "", "rules");
    for (p, m, id) in id_section(w, rraw, "rules", RULE_KEYS) {
        if let Some(r) = compile_rule(
            w,
            &p,
            m,
            id,
            rules.len() as u32,
            &signals,
            &signal_ix,
            &category_ix,
            &grades,
            &grade_ix,
            bucket_ms,
        ) {
            rules.push(r);
        }
    }

    // Escalation.
    let escalation = Walker::opt(top, "escalation").and_then(|ev| {
        let ep = "escalation";
        let m = w.obj(ev, ep, &["min_categories", "at_least", "raise_by"])?;
        let min_categories = w.req(m, ep, "min_categories").and_then(|x| {
            let r = w.int(x, "escalation.min_categories")?;
            if r < 1 || r > MAX_POLICY_ITEMS as i64 {
                w.err(
                    "escalation.min_categories",
                    format!("must be at least 1, found {r}"),
                );
                return None;
            }
            Some(r as u32)
        });
        let at_least = w
            .req(m, ep, "at_least")
            .and_then(|x| warning_level(w, x, "escalation.at_least"));
        let raise_by = match Walker::opt(m, "raise_by") {
            None => Some(1),
            Some(x) => w.int(x, "escalation.raise_by").and_then(|r| {
                if !(1..=4).contains(&r) {
                    w.err("escalation.raise_by", format!("must be 1 to 4, found {r}"));
                    None
                } else {
                    Some(r as u32)
                }
            }),
        };
        Some(Escalation {
            min_categories: min_categories?,
            at_least: at_least?,
            raise_by: raise_by?,
        })
    });

    // Responses.
    let mut warnings: Vec<Issue> = Vec::new();
    let mut responses = Responses::default();
    if let Some(rv) = Walker::opt(top, "responses") {
        if let Some(m) = w.obj(rv, "responses", &["levels", "overrides"]) {
            if let Some(lv) = Walker::opt(m, "levels") {
                if let Some(lm) =
                    w.obj(lv, "responses.levels", &["blue", "yellow", "orange", "red"])
                {
                    for lvl in Level::WARNINGS {
                        if let Some(x) = Walker::opt(lm, lvl.name()) {
                            let p = key("responses.levels", lvl.name());
                            if let Some(rm) = w.obj(x, &p, &["actions", "report_within_s"]) {
                                responses.levels[lvl.slot().unwrap_or(0)] = response(w, rm, &p);
                            }
                        }
                    }
                }
            }
            if let Some(ov) = Walker::opt(m, "overrides") {
                if let Some(a) = w.arr(ov, "responses.overrides") {
                    for (i, x) in a.iter().enumerate() {
                        let p = idx("responses.overrides", i);
                        let Some(om) =
                            w.obj(x, &p, &["category", "level", "actions", "report_within_s"])
                        else {
                            continue;
                        };
                        // An override for a category the policy does not define can never
                        // apply; it is dropped with a warning rather than refused, so that a
                        // shared response plan can cover categories some policies lack.
                        let category = w.req(om, &p, "category").and_then(|c| {
                            let cp = key(&p, "category");
                            let s = w.str(c, &cp)?;
                            let r = category_ix.get(s).copied();
                            if r.is_none() {
                                warnings.push(Issue {
                                    path: cp,
                                    reason: format!(
                                        "category {s:?} is not defined by this policy; the override never applies"
                                    ),
                                });
                            }
                            r
                        });
                        let level = w
                            .req(om, &p, "level")
                            .and_then(|l| warning_level(w, l, &key(&p, "level")));
                        let resp = response(w, om, &p);
                        if let (Some(category), Some(level)) = (category, level) {
                            if responses
                                .overrides
                                .iter()
                                .any(|o| o.category == category && o.level == level)
                            {
                                w.err(&p, "duplicate override for this category and level");
                            }
                            responses.overrides.push(Override {
                                category,
                                level,
                                response: resp,
                            });
                        }
                    }
                }
            }
        }
    }

    // Ring layout.
    let mut rings: Vec<RingSpec> = signals
        .iter()
        .map(|_| RingSpec {
            len: 1,
            fields: 0,
            offset: 0,
            caches: SmallVec::new(),
        })
        .collect();
    let mut by_signal: Vec<SmallVec<[u32; 4]>> = vec![SmallVec::new(); signals.len()];
    for r in &rules {
        by_signal[r.signal as usize].push(r.index);
        if let Some(per) = r.per {
            if per != r.signal {
                by_signal[per as usize].push(r.index);
            }
        }
        let n = r.window_buckets.max(1);
        let s = &mut rings[r.signal as usize];
        s.len = s.len.max(n);
        let clear = r.on_empty == OnEmpty::Clear;
        s.fields |= match r.aggregate {
            Aggregate::Count => FIELD_COUNT,
            Aggregate::Sum => FIELD_SUM | FIELD_COUNT,
            Aggregate::Mean => FIELD_SUM | FIELD_COUNT,
            Aggregate::Max => FIELD_MAX | FIELD_COUNT,
            Aggregate::Min => FIELD_MIN | FIELD_COUNT,
            Aggregate::Rate => FIELD_SUM | if clear { FIELD_COUNT } else { 0 },
            Aggregate::SilenceMs => 0,
        };
        if let Some(per) = r.per {
            let s = &mut rings[per as usize];
            s.len = s.len.max(n);
            s.fields |= FIELD_SUM | if clear { FIELD_COUNT } else { 0 };
        }
    }
    // Arena layout: heads and last_ts per signal, then one record per rule (state and its
    // window caches, so evaluating a rule touches one place), then the rings' buckets.
    let mut offset: u64 = 2 * signals.len() as u64;
    for r in &mut rules {
        let n = r.window_buckets.max(1);
        r.rec = offset.min(u32::MAX as u64) as u32;
        offset += RULE_WORDS as u64;
        if r.aggregate != Aggregate::SilenceMs {
            let ring = &mut rings[r.signal as usize];
            r.sig_cache = offset.min(u32::MAX as u64) as u32;
            ring.caches.push((n, r.sig_cache));
            offset += ring.stride() as u64;
        }
        if let Some(p) = r.per {
            let ring = &mut rings[p as usize];
            r.per_cache = offset.min(u32::MAX as u64) as u32;
            ring.caches.push((n, r.per_cache));
            offset += ring.stride() as u64;
        }
    }
    for r in &mut rings {
        r.offset = offset.min(u32::MAX as u64) as u32;
        offset += r.len as u64 * r.stride() as u64;
    }
    let total_buckets: u64 = rings.iter().map(|r| r.len as u64).sum();
    if total_buckets > MAX_BUCKETS_PER_SYSTEM {
        w.err(
            "rules",
            format!(
                "the windows need {total_buckets} buckets per system; at most {MAX_BUCKETS_PER_SYSTEM} are allowed (use a larger bucket_ms or shorter windows)"
            ),
        );
    }

    Some(Compiled {
        source: Value::Null,
        fingerprint: 0,
        policy_version,
        name,
        categories,
        category_ix,
        grades,
        grade_ix,
        classification,
        bucket_ms,
        signals,
        signal_ix,
        rules,
        by_signal,
        rings,
        arena_words: offset.min(u32::MAX as u64) as u32,
        escalation,
        responses,
        warnings,
    })
}

#[allow(clippy::too_many_arguments)]
fn compile_rule(
    w: &mut Walker,
    p: &str,
    m: &Map<String, Value>,
    id: Arc<str>,
    index: u32,
    signals: &[Signal],
    signal_ix: &HashMap<Arc<str>, u32>,
    category_ix: &HashMap<Arc<str>, u32>,
    grades: &[Grade],
    grade_ix: &HashMap<Arc<str>, u32>,
    bucket_ms: i64,
) -> Option<Rule> {
    let before = w.issues.len();
    let sig_ref = |w: &mut Walker, k: &str| -> Option<u32> {
        let v = Walker::opt(m, k)?;
        let kp = key(p, k);
        let s = w.str(v, &kp)?;
        let r = signal_ix.get(s).copied();
        if r.is_none() {
            w.err(kp, format!("unknown signal {s:?}"));
        }
        r
    };
    if m.get("signal").is_none() {
        w.err(key(p, "signal"), "missing required field");
    }
    let signal = sig_ref(w, "signal");
    let per = sig_ref(w, "per");
    let category = match Walker::opt(m, "category") {
        Some(c) => {
            let cp = key(p, "category");
            let s = w.str(c, &cp);
            match s.and_then(|s| category_ix.get(s).copied()) {
                Some(i) => Some(i),
                None => {
                    if let Some(s) = s {
                        w.err(cp, format!("unknown category {s:?}"));
                    }
                    None
                }
            }
        }
        None => signal.and_then(|s| signals[s as usize].category),
    };
    let basis = opt_arc(w, m, p, "basis");
    let description = opt_string(w, m, p, "description");
    let aggregate = w.req(m, p, "aggregate").and_then(|a| {
        let ap = key(p, "aggregate");
        let s = w.str(a, &ap)?;
        let r = Aggregate::from_name(s);
        if r.is_none() {
            w.err(
                ap,
                format!(
                    "unknown aggregate {s:?} (expected count, sum, mean, max, min, rate or silence_ms)"
                ),
            );
        }
        r
    });
    if aggregate == Some(Aggregate::Rate) && m.get("per").is_none() {
        w.err(
            key(p, "per"),
            "aggregate \"rate\" needs \"per\" (the denominator signal)",
        );
    }
    if aggregate.is_some() && aggregate != Some(Aggregate::Rate) && m.get("per").is_some() {
        w.err(
            key(p, "per"),
            "\"per\" is only allowed with aggregate \"rate\"",
        );
    }
    let mut window_ms = None;
    let mut window_buckets = 0u32;
    match (aggregate, Walker::opt(m, "window_ms")) {
        (Some(Aggregate::SilenceMs), Some(_)) => {
            w.err(
                key(p, "window_ms"),
                "aggregate \"silence_ms\" takes no window_ms",
            );
        }
        (Some(Aggregate::SilenceMs), None) | (None, _) => {}
        (Some(_), None) => w.err(key(p, "window_ms"), "missing required field"),
        (Some(_), Some(v)) => {
            if let Some(x) = w.int(v, &key(p, "window_ms")) {
                if x <= 0 || x % bucket_ms != 0 {
                    w.err(
                        key(p, "window_ms"),
                        format!("window_ms must be a positive multiple of bucket_ms ({bucket_ms}); found {x}"),
                    );
                } else if x / bucket_ms > MAX_BUCKETS_PER_SYSTEM as i64 {
                    w.err(
                        key(p, "window_ms"),
                        format!(
                            "window of {} buckets; at most {MAX_BUCKETS_PER_SYSTEM} are allowed",
                            x / bucket_ms
                        ),
                    );
                } else {
                    window_ms = Some(x);
                    window_buckets = (x / bucket_ms) as u32;
                }
            }
        }
    }
    let min_samples = match Walker::opt(m, "min_samples") {
        None => 0,
        Some(v) => match v.as_u64() {
            Some(x) => x,
            None => {
                w.err(key(p, "min_samples"), "expected a non-negative integer");
                0
            }
        },
    };
    let direction = match Walker::opt(m, "direction") {
        None => Direction::Above,
        Some(v) => match w.str(v, &key(p, "direction")) {
            Some("above") => Direction::Above,
            Some("below") => Direction::Below,
            Some(other) => {
                w.err(
                    key(p, "direction"),
                    format!("unknown direction {other:?} (expected above or below)"),
                );
                Direction::Above
            }
            None => Direction::Above,
        },
    };
    let for_ms = non_negative_ms(w, m, p, "for_ms");
    let clear_for_ms = non_negative_ms(w, m, p, "clear_for_ms");
    let hysteresis = match Walker::opt(m, "hysteresis") {
        None => 0.0,
        Some(v) => match w.num(v, &key(p, "hysteresis")) {
            Some(h) if (0.0..1.0).contains(&h) => h,
            Some(h) => {
                w.err(
                    key(p, "hysteresis"),
                    format!("hysteresis must be in [0, 1); found {h}"),
                );
                0.0
            }
            None => 0.0,
        },
    };
    let on_empty = match Walker::opt(m, "on_empty") {
        None => OnEmpty::Hold,
        Some(v) => match w.str(v, &key(p, "on_empty")) {
            Some("hold") => OnEmpty::Hold,
            Some("clear") => OnEmpty::Clear,
            Some(other) => {
                w.err(
                    key(p, "on_empty"),
                    format!("unknown on_empty {other:?} (expected hold or clear)"),
                );
                OnEmpty::Hold
            }
            None => OnEmpty::Hold,
        },
    };
    let wilson_z = match Walker::opt(m, "wilson_z") {
        None => None,
        Some(v) => {
            let z = w.num(v, &key(p, "wilson_z"));
            if aggregate.is_some() && aggregate != Some(Aggregate::Rate) {
                w.err(
                    key(p, "wilson_z"),
                    "wilson_z is only allowed with aggregate \"rate\"",
                );
            }
            match z {
                Some(z) if z > 0.0 => Some(z),
                Some(z) => {
                    w.err(
                        key(p, "wilson_z"),
                        format!("wilson_z must be positive; found {z}"),
                    );
                    None
                }
                None => None,
            }
        }
    };

    // Thresholds, one row per grade.
    let mut thresholds = vec![[None; 4]; grades.len()];
    let tp = key(p, "thresholds");
    if let Some(tv) = w.req(m, p, "thresholds") {
        if let Some(tm) = w.map(tv, &tp) {
            for (g, row) in tm {
                let gp = key(&tp, g);
                let Some(&rank) = grade_ix.get(g.as_str()) else {
                    w.err(gp, format!("unknown grade {g:?}"));
                    continue;
                };
                let Some(a) = w.arr(row, &gp) else { continue };
                if a.len() != 4 {
                    w.err(
                        &gp,
                        format!(
                            "expected 4 thresholds (blue, yellow, orange, red), found {}",
                            a.len()
                        ),
                    );
                    continue;
                }
                let mut out = [None; 4];
                for (i, x) in a.iter().enumerate() {
                    if x.is_null() {
                        continue;
                    }
                    out[i] = w.num(x, &idx(&gp, i));
                }
                let mut prev: Option<(usize, f64)> = None;
                for (i, t) in out.iter().enumerate() {
                    let Some(t) = *t else { continue };
                    if let Some((pi, pt)) = prev {
                        let bad = match direction {
                            Direction::Above => t < pt,
                            Direction::Below => t > pt,
                        };
                        if bad {
                            let (verb, dname) = match direction {
                                Direction::Above => ("decrease", "above"),
                                Direction::Below => ("increase", "below"),
                            };
                            w.err(
                                &gp,
                                format!(
                                    "thresholds must not {verb} for direction {dname:?}: {} is {t} after {} {pt}",
                                    Level::WARNINGS[i].name(),
                                    Level::WARNINGS[pi].name()
                                ),
                            );
                        }
                    }
                    prev = Some((i, t));
                }
                thresholds[rank as usize] = out;
            }
            for g in grades {
                if !tm.contains_key(&*g.id) {
                    w.err(
                        key(&tp, &g.id),
                        format!("grade {:?} has no thresholds", &*g.id),
                    );
                }
            }
        }
    }
    if w.issues.len() != before {
        return None;
    }
    Some(Rule {
        id,
        index,
        category,
        basis,
        description,
        signal: signal?,
        aggregate: aggregate?,
        per,
        window_ms,
        window_buckets,
        min_samples,
        direction,
        thresholds,
        for_ms,
        clear_for_ms,
        hysteresis,
        on_empty,
        wilson_z,
        rec: 0,
        sig_cache: 0,
        per_cache: 0,
    })
}

/// Serialises as the policy document (the parsed source).
impl Serialize for Policy {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.0.source.serialize(s)
    }
}

/// Deserialises a policy document and validates it ([`Policy::from_value`]); validation
/// problems become one serde error listing them with their paths.
impl<'de> serde::Deserialize<'de> for Policy {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        Policy::from_value(v).map_err(serde::de::Error::custom)
    }
}
