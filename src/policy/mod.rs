//! The policy (策略): one JSON document holding all configuration, validated strictly and
//! immutable once loaded.
//!
//! [`Policy::from_json`] parses the document, checks every rule of the format, collects
//! *all* problems (each with its JSON path, e.g. `rules[3].thresholds.high`) and, when there
//! are none, compiles it: ids become dense indexes, thresholds are resolved per grade rank,
//! and the per-system state layout is planned. A [`Policy`] is cheap to clone (shared) and
//! `Send + Sync`.
//!
//! ```
//! use airisk::Policy;
//!
//! let p = Policy::default_policy();
//! assert!(p.rule("hallucination-rate").is_some());
//! let err = Policy::from_json(r#"{"schema": 2}"#).unwrap_err();
//! assert!(err.issues().iter().any(|i| i.path == "schema"));
//! ```
//!
//! The module is organised as the document flows: [`model`] (what a policy says),
//! `load` (validation, with paths), `compile` (evaluation tables) and `canonical`
//! (the fingerprint).

mod canonical;
mod compile;
mod load;
pub mod model;

pub use model::{
    Aggregate, Category, ClassificationTables, Direction, Escalation, FactorDef, FactorTable,
    Floor, FloorWhen, Grade, I18n, IncidentsPolicy, OnEmpty, OperatorType, Prohibited, Rule,
    ScaleStep, Severity, SeverityOverride, Signal, SignalKind,
};

use crate::error::{Error, Issue, Result};
use crate::json::{Walker, parse_strict};
use crate::response::Responses;
use compile::Tables;
use load::Doc;
use parking_lot::Mutex;
use serde_json::Value;
use std::sync::{Arc, Weak};

/// The default policy's JSON, compiled into the library (`seeds/policy/default.json`).
pub const DEFAULT_POLICY_JSON: &str = include_str!("../../seeds/policy/default.json");

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
/// Longest display name, in bytes.
pub const MAX_RULE_NAME: usize = 1024;

/// The compiled policy: the document model, its evaluation tables, its source.
#[derive(Debug)]
pub(crate) struct Compiled {
    pub doc: Doc,
    pub tables: Tables,
    pub source: Value,
    pub fingerprint: u64,
}

impl std::ops::Deref for Compiled {
    type Target = Doc;
    fn deref(&self) -> &Doc {
        &self.doc
    }
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
        let doc = load::document(&mut w, &value);
        let doc = match doc {
            Some(d) if w.issues.is_empty() => d,
            _ => {
                if w.issues.is_empty() {
                    w.err("", "invalid policy");
                }
                return Err(Error::Policy(w.issues));
            }
        };
        let tables = compile::tables(&doc).map_err(|reason| {
            Error::Policy(vec![Issue {
                path: "rules".into(),
                reason,
            }])
        })?;
        let total_buckets = tables
            .layout
            .rings
            .iter()
            .map(|r| r.len as u64)
            .sum::<u64>();
        if total_buckets > MAX_BUCKETS_PER_SYSTEM {
            return Err(Error::Policy(vec![Issue {
                path: "rules".into(),
                reason: format!(
                    "the windows need {total_buckets} buckets per system; at most {MAX_BUCKETS_PER_SYSTEM} are allowed (use a larger bucket_ms or shorter windows)"
                ),
            }]));
        }
        Ok(Policy(Arc::new(Compiled {
            fingerprint: canonical::fingerprint(&value),
            doc,
            tables,
            source: value,
        })))
    }

    /// The default policy compiled into the library ([`DEFAULT_POLICY_JSON`]).
    ///
    /// It is parsed once and shared while any copy of it is alive; when the last copy is
    /// dropped (say, the last engine freed) its memory is released, so a process that is
    /// done with the library holds no allocation of it.
    pub fn default_policy() -> Policy {
        static CELL: Mutex<Weak<Compiled>> = Mutex::new(Weak::new());
        let mut cell = CELL.lock();
        if let Some(c) = cell.upgrade() {
            return Policy(c);
        }
        let p = Policy::from_json(DEFAULT_POLICY_JSON)
            .unwrap_or_else(|e| panic!("the embedded default policy is invalid: {e}"));
        *cell = Arc::downgrade(&p.0);
        p
    }

    /// `policy_version`, if set.
    pub fn version(&self) -> Option<&str> {
        self.0.policy_version.as_deref()
    }
    /// The policy's display name.
    pub fn name(&self) -> &I18n {
        &self.0.name
    }
    /// A 64-bit fingerprint (FNV-1a) of the canonical document: keys sorted, no whitespace,
    /// numbers in a fixed form. Reformatting the JSON or reordering its keys keeps it; any
    /// change of a value changes it.
    pub fn fingerprint(&self) -> u64 {
        self.0.fingerprint
    }
    /// The canonical JSON text the fingerprint is computed from.
    pub fn canonical_json(&self) -> String {
        canonical::canonical_json(&self.0.source)
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
    /// The inhibition entries (`inhibit`), in declaration order.
    pub fn inhibit(&self) -> &[crate::silence::Inhibit] {
        &self.0.inhibit
    }
    /// The incident and reporting model, if the policy has one.
    pub fn incidents(&self) -> Option<&IncidentsPolicy> {
        self.0.incidents.as_ref()
    }
    /// Problems found that do not make the policy invalid, each with its JSON path: parts of
    /// the document that can never take effect (an override for an undefined category), a
    /// category, floor, prohibited use, rule or inhibition without a basis, an empty
    /// `sectors`, `data` or `autonomy` table (no profile can then be classified), and a grade
    /// for which no rule has any threshold (a system of that grade can never warn).
    /// `airisk validate` prints them.
    pub fn warnings(&self) -> &[Issue] {
        &self.0.warnings
    }

    /// Buckets kept per system, summed over signals (B for each signal).
    pub fn buckets_per_system(&self) -> u64 {
        self.0
            .tables
            .layout
            .rings
            .iter()
            .map(|r| r.len as u64)
            .sum()
    }
}

/// Serialises as the policy document (the parsed source).
impl serde::Serialize for Policy {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.0.source.serialize(s)
    }
}

/// Deserialises a policy document and validates it ([`Policy::from_value`]); a duplicate
/// key in any object is an error (as in [`Policy::from_json`]), and validation problems
/// become one serde error listing them with their paths.
impl<'de> serde::Deserialize<'de> for Policy {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let v = crate::json::deserialize_strict(d)?;
        Policy::from_value(v).map_err(serde::de::Error::custom)
    }
}
