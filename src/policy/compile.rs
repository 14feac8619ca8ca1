//! Compilation: a validated [`Doc`] becomes the tables the engine evaluates with.
//!
//! - which rules an observation of each signal evaluates (its `signal` or `per`), in
//!   declaration order;
//! - each rule's compiled parameters (its window caches, its lowest used threshold per
//!   grade: what a quiet rule is compared with);
//! - the state arena's [`Layout`].

use super::load::Doc;
use crate::layout::Layout;
use crate::policy::model::{Aggregate, I18n, SignalKind};
use crate::rule::RuleEval;
use smallvec::SmallVec;
use std::sync::Arc;

/// The evaluation tables of a policy.
#[derive(Debug)]
pub(crate) struct Tables {
    /// Per signal: the rules an observation of it evaluates, in declaration order.
    pub by_signal: Vec<SmallVec<[u32; 8]>>,
    /// Per rule: its compiled parameters.
    pub rules: Vec<RuleEval>,
    /// The `ewma` and `cusum` rules (they consume closed buckets), in declaration order.
    pub detectors: Vec<u32>,
    /// Per signal: its `psi` rules (each keeps its own histogram ring).
    pub psi_by_signal: Vec<SmallVec<[u32; 2]>>,
    /// Where each system's state lives.
    pub layout: Layout,
    /// Display names (shared by every transition and incident event that carries them).
    pub names: Names,
}

/// Display names of the policy's items, `None` where the policy gives none.
#[derive(Debug, Default)]
pub(crate) struct Names {
    pub grades: Vec<Option<Arc<I18n>>>,
    pub categories: Vec<Option<Arc<I18n>>>,
    pub rules: Vec<Option<Arc<I18n>>>,
    pub severities: Vec<Option<Arc<I18n>>>,
    /// The factor tables' names, by [`crate::FactorKind`] (sectors, capabilities, data,
    /// autonomy, vulnerable groups, mitigations; the scale has none), in table order.
    pub factors: [Vec<Option<Arc<I18n>>>; 6],
    /// The prohibited uses' names, in declaration order.
    pub prohibited: Vec<Option<Arc<I18n>>>,
}

fn shared(n: &I18n) -> Option<Arc<I18n>> {
    (!n.is_empty()).then(|| Arc::new(n.clone()))
}

pub(crate) fn tables(doc: &Doc) -> Result<Tables, String> {
    let mut by_signal: Vec<SmallVec<[u32; 8]>> = vec![SmallVec::new(); doc.signals.len()];
    for r in &doc.rules {
        for s in r.inputs() {
            by_signal[s as usize].push(r.index);
        }
    }
    let layout = Layout::plan(&doc.signals, &doc.rules)?;
    let rules = doc
        .rules
        .iter()
        .zip(&layout.rules)
        .map(|(r, at)| {
            let counter = doc.signals[r.signal as usize].kind == SignalKind::Counter;
            RuleEval::new(r, *at, &layout.rings, counter)
        })
        .collect();
    let detectors = doc
        .rules
        .iter()
        .filter(|r| r.aggregate.consumes_buckets())
        .map(|r| r.index)
        .collect();
    let mut psi_by_signal: Vec<SmallVec<[u32; 2]>> = vec![SmallVec::new(); doc.signals.len()];
    for r in doc.rules.iter().filter(|r| r.aggregate == Aggregate::Psi) {
        psi_by_signal[r.signal as usize].push(r.index);
    }
    let names = Names {
        grades: doc.grades.iter().map(|g| shared(&g.name)).collect(),
        categories: doc.categories.iter().map(|c| shared(&c.name)).collect(),
        rules: doc.rules.iter().map(|r| shared(&r.name)).collect(),
        severities: doc
            .incidents
            .iter()
            .flat_map(|i| i.severities.iter())
            .map(|s| shared(&s.name))
            .collect(),
        factors: {
            let t = &doc.classification;
            let of = |table: &crate::policy::FactorTable| {
                table.entries().iter().map(|f| shared(&f.name)).collect()
            };
            [
                of(&t.sectors),
                of(&t.capabilities),
                of(&t.data),
                of(&t.autonomy),
                of(&t.vulnerable_groups),
                of(&t.mitigations),
            ]
        },
        prohibited: doc
            .classification
            .prohibited
            .iter()
            .map(|p| shared(&p.name))
            .collect(),
    };
    Ok(Tables {
        by_signal,
        rules,
        detectors,
        psi_by_signal,
        layout,
        names,
    })
}
