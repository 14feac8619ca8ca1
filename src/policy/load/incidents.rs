//! `incidents`: the incident and reporting model (optional).

use super::{i18n, id_section, known_id, opt_arc, warning_level};
use crate::hash::FastMap;
use crate::json::{Walker, idx, key};
use crate::level::{Action, Level};
use crate::policy::model::*;
use crate::response::Responses;
use serde_json::{Map, Value};
use std::sync::Arc;

const KEYS: &[&str] = &[
    "open_at",
    "severities",
    "severity_by_level",
    "severity_overrides",
    "report_at",
    "operator_types",
    "ack_within_s",
    "final_within_s",
    "basis",
    "description",
];

const P: &str = "incidents";

pub(super) fn incidents(
    w: &mut Walker,
    top: &Map<String, Value>,
    categories: &[Category],
    category_ix: &FastMap<Arc<str>, u32>,
) -> Option<IncidentsPolicy> {
    let v = Walker::opt(top, "incidents")?;
    let m = w.obj(v, P, KEYS)?;
    let open_at = w
        .req(m, P, "open_at")
        .and_then(|x| warning_level(w, x, &key(P, "open_at")));
    let (severities, sev_ix) = severities(w, m);
    let sev = |w: &mut Walker, v: &Value, path: &str| known_id(w, v, path, "severity", &sev_ix);
    let by_level = open_at.and_then(|o| severity_by_level(w, m, o, &sev));
    let overrides = open_at.map(|o| severity_overrides(w, m, o, category_ix, &sev));
    let report_at = w
        .req(m, P, "report_at")
        .and_then(|x| sev(w, x, &key(P, "report_at")));
    let operator_types = operator_types(w, m);
    let ack_within_s =
        Walker::opt(m, "ack_within_s").and_then(|x| seconds(w, x, &key(P, "ack_within_s")));
    let final_within_s = w
        .req(m, P, "final_within_s")
        .and_then(|x| seconds(w, x, &key(P, "final_within_s")));
    let basis = opt_arc(w, m, P, "basis");
    let _ = super::opt_string(w, m, P, "description");
    for (i, c) in categories.iter().enumerate() {
        if c.id.contains('/') {
            w.err(
                key(&idx("categories", i), "id"),
                format!(
                    "category id {:?} contains \"/\": with incidents, ids may not (an incident id is \"<system>/<category>/<n>\")",
                    &*c.id
                ),
            );
        }
    }
    let (by_level, overrides) = (by_level?, overrides?);
    check_monotone(w, open_at?, &by_level, &overrides, categories);
    Some(IncidentsPolicy {
        open_at: open_at?,
        severities,
        severity_by_level: by_level,
        severity_overrides: overrides,
        report_at: report_at?,
        operator_types,
        ack_within_s,
        final_within_s: final_within_s?,
        basis,
    })
}

/// Under an incidents policy the reporting duty lives on incidents: no response may ask
/// to report to the regulator.
pub(super) fn check_responses(w: &mut Walker, top: &Map<String, Value>, responses: &Responses) {
    if Walker::opt(top, "incidents").is_none() {
        return;
    }
    let why = "report_regulator is not allowed with an incidents section: reports are owed by incidents (incidents.report_at, operator_types), not by warning levels";
    for (slot, l) in Level::WARNINGS.into_iter().enumerate() {
        if responses.levels[slot]
            .actions
            .contains(Action::ReportRegulator)
        {
            w.err(key(&key("responses.levels", l.name()), "actions"), why);
        }
        if responses.levels[slot].report_within_s.is_some() {
            w.err(
                key(&key("responses.levels", l.name()), "report_within_s"),
                "report_within_s is not allowed with an incidents section: deadlines live on incidents",
            );
        }
    }
    for (i, o) in responses.overrides.iter().enumerate() {
        let p = idx("responses.overrides", i);
        if o.response.actions.contains(Action::ReportRegulator) {
            w.err(key(&p, "actions"), why);
        }
        if o.response.report_within_s.is_some() {
            w.err(
                key(&p, "report_within_s"),
                "report_within_s is not allowed with an incidents section: deadlines live on incidents",
            );
        }
    }
}

fn severities(w: &mut Walker, m: &Map<String, Value>) -> (Vec<Severity>, FastMap<Arc<str>, u32>) {
    let mut out = Vec::new();
    let mut ix = FastMap::default();
    let sp = key(P, "severities");
    let raw = w.req(m, P, "severities");
    if let Some(Value::Array(a)) = raw {
        if a.is_empty() {
            w.err(&sp, "at least one severity is needed");
        }
    }
    for (p, sm, id) in id_section(w, raw, &sp, &["id", "name", "description"]) {
        let _ = super::opt_string(w, sm, &p, "description");
        ix.insert(id.clone(), out.len() as u32);
        out.push(Severity {
            id,
            rank: out.len() as u32,
            name: i18n(w, sm.get("name"), &p),
        });
    }
    (out, ix)
}

fn severity_by_level(
    w: &mut Walker,
    m: &Map<String, Value>,
    open_at: Level,
    sev: &dyn Fn(&mut Walker, &Value, &str) -> Option<u32>,
) -> Option<[Option<u32>; 4]> {
    let bp = key(P, "severity_by_level");
    let bm = w
        .req(m, P, "severity_by_level")
        .and_then(|v| w.obj(v, &bp, &["blue", "yellow", "orange", "red"]))?;
    let mut out = [None; 4];
    let before = w.issues.len();
    for (slot, l) in Level::WARNINGS.into_iter().enumerate() {
        let lp = key(&bp, l.name());
        match Walker::opt(bm, l.name()) {
            Some(v) if l < open_at => {
                let _ = sev(w, v, &lp);
                w.err(
                    lp,
                    format!(
                        "{} is below open_at ({}): warnings at this level open no incident",
                        l.name(),
                        open_at.name()
                    ),
                );
            }
            Some(v) => out[slot] = sev(w, v, &lp),
            None if l >= open_at => w.err(
                lp,
                format!(
                    "missing: severity_by_level must give a severity for open_at ({}) and every level above it",
                    open_at.name()
                ),
            ),
            None => {}
        }
    }
    (w.issues.len() == before).then_some(out)
}

fn severity_overrides(
    w: &mut Walker,
    m: &Map<String, Value>,
    open_at: Level,
    category_ix: &FastMap<Arc<str>, u32>,
    sev: &dyn Fn(&mut Walker, &Value, &str) -> Option<u32>,
) -> Vec<SeverityOverride> {
    let mut out: Vec<SeverityOverride> = Vec::new();
    let op = key(P, "severity_overrides");
    let Some(v) = Walker::opt(m, "severity_overrides") else {
        return out;
    };
    let Some(a) = w.arr(v, &op) else { return out };
    for (i, x) in a.iter().enumerate() {
        let p = idx(&op, i);
        let Some(om) = w.obj(x, &p, &["category", "level", "severity"]) else {
            continue;
        };
        let category = w
            .req(om, &p, "category")
            .and_then(|c| known_id(w, c, &key(&p, "category"), "category", category_ix));
        let level = w
            .req(om, &p, "level")
            .and_then(|l| warning_level(w, l, &key(&p, "level")));
        let severity = w
            .req(om, &p, "severity")
            .and_then(|s| sev(w, s, &key(&p, "severity")));
        if let Some(l) = level {
            if l < open_at {
                w.err(
                    key(&p, "level"),
                    format!(
                        "{} is below open_at ({}): warnings at this level open no incident",
                        l.name(),
                        open_at.name()
                    ),
                );
                continue;
            }
        }
        let (Some(category), Some(level), Some(severity)) = (category, level, severity) else {
            continue;
        };
        if out
            .iter()
            .any(|o| o.category == category && o.level == level)
        {
            w.err(&p, "duplicate override for this category and level");
            continue;
        }
        out.push(SeverityOverride {
            category,
            level,
            severity,
        });
    }
    out
}

/// Within a category, severity must not decrease as the level rises.
fn check_monotone(
    w: &mut Walker,
    open_at: Level,
    by_level: &[Option<u32>; 4],
    overrides: &[SeverityOverride],
    categories: &[Category],
) {
    let effective = |c: Option<u32>, l: Level| {
        c.and_then(|c| {
            overrides
                .iter()
                .find(|o| o.category == c && o.level == l)
                .map(|o| o.severity)
        })
        .or_else(|| l.slot().and_then(|s| by_level[s]))
    };
    let mut check = |c: Option<u32>, path: String| {
        let mut prev: Option<(Level, u32)> = None;
        for l in Level::WARNINGS.into_iter().filter(|l| *l >= open_at) {
            let Some(s) = effective(c, l) else { continue };
            if let Some((pl, ps)) = prev {
                if s < ps {
                    w.err(
                        &path,
                        format!(
                            "severity must not decrease as the level rises: {} maps to a lower severity than {}{}",
                            l.name(),
                            pl.name(),
                            c.map(|c| format!(" for category {:?}", &*categories[c as usize].id))
                                .unwrap_or_default()
                        ),
                    );
                    return;
                }
            }
            prev = Some((l, s));
        }
    };
    check(None, key(P, "severity_by_level"));
    let mut seen = Vec::new();
    for o in overrides {
        if !seen.contains(&o.category) {
            seen.push(o.category);
            check(Some(o.category), key(P, "severity_overrides"));
        }
    }
}

fn operator_types(w: &mut Walker, m: &Map<String, Value>) -> Vec<OperatorType> {
    let mut out = Vec::new();
    let tp = key(P, "operator_types");
    let raw = w.req(m, P, "operator_types");
    if let Some(Value::Array(a)) = raw {
        if a.is_empty() {
            w.err(
                &tp,
                "at least one operator type is needed (the first is the default)",
            );
        }
    }
    for (p, om, id) in id_section(
        w,
        raw,
        &tp,
        &["id", "initial_within_s", "name", "description"],
    ) {
        let within = w
            .req(om, &p, "initial_within_s")
            .and_then(|x| seconds(w, x, &key(&p, "initial_within_s")));
        let _ = super::opt_string(w, om, &p, "description");
        let name = i18n(w, om.get("name"), &p);
        if let Some(initial_within_s) = within {
            out.push(OperatorType {
                id,
                initial_within_s,
                name,
            });
        }
    }
    out
}

/// A number of seconds: an integer ≥ 0.
fn seconds(w: &mut Walker, v: &Value, path: &str) -> Option<i64> {
    match w.int(v, path)? {
        x if x >= 0 => Some(x),
        x => {
            w.err(path, format!("must be ≥ 0 seconds, found {x}"));
            None
        }
    }
}
