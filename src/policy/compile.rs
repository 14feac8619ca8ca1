//! Compilation: a validated [`Doc`] becomes the tables the engine evaluates with.
//!
//! - which rules an observation of each signal evaluates (its `signal` or `per`), in
//!   declaration order;
//! - each rule's lowest used threshold per grade (what a quiet rule is compared with);
//! - the state arena's [`Layout`].

use super::load::Doc;
use crate::layout::Layout;
use crate::rule::lowest_thresholds;
use smallvec::SmallVec;

/// The evaluation tables of a policy.
#[derive(Debug)]
pub(crate) struct Tables {
    /// Per signal: the rules an observation of it evaluates, in declaration order.
    pub by_signal: Vec<SmallVec<[u32; 8]>>,
    /// Per rule, per grade rank: the lowest used threshold.
    pub lowest: Vec<Vec<Option<f64>>>,
    /// Where each system's state lives.
    pub layout: Layout,
}

pub(crate) fn tables(doc: &Doc) -> Result<Tables, String> {
    let mut by_signal: Vec<SmallVec<[u32; 8]>> = vec![SmallVec::new(); doc.signals.len()];
    for r in &doc.rules {
        for s in r.inputs() {
            by_signal[s as usize].push(r.index);
        }
    }
    Ok(Tables {
        by_signal,
        lowest: doc.rules.iter().map(lowest_thresholds).collect(),
        layout: Layout::plan(&doc.signals, &doc.rules)?,
    })
}
