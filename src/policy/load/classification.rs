//! `classification`: the factor tables, the scale, floors and prohibited uses.

use super::{i18n, id_list, id_section, opt_arc, opt_string};
use crate::error::Issue;
use crate::hash::FastMap;
use crate::json::{Walker, idx, key};
use crate::policy::MAX_FACTORS;
use crate::policy::MAX_POINTS;
use crate::policy::model::*;
use serde_json::{Map, Value};
use std::sync::Arc;

const KEYS: &[&str] = &[
    "sectors",
    "capabilities",
    "data",
    "autonomy",
    "scale",
    "vulnerable_groups",
    "mitigations",
    "floors",
    "prohibited",
];

const WHEN_KEYS: &[&str] = &[
    "sectors",
    "capabilities",
    "data",
    "autonomy",
    "vulnerable_groups",
    "min_users",
];

pub(super) fn tables(
    w: &mut Walker,
    top: &Map<String, Value>,
    grade_ix: &FastMap<Arc<str>, u32>,
) -> ClassificationTables {
    let mut t = ClassificationTables::default();
    let Some(cv) = w.req(top, "", "classification") else {
        return t;
    };
    let cp = "classification";
    let Some(c) = w.obj(cv, cp, KEYS) else {
        return t;
    };
    t.sectors = factor_table(w, c.get("sectors"), &key(cp, "sectors"));
    t.capabilities = factor_table(w, c.get("capabilities"), &key(cp, "capabilities"));
    t.data = factor_table(w, c.get("data"), &key(cp, "data"));
    t.autonomy = factor_table(w, c.get("autonomy"), &key(cp, "autonomy"));
    t.vulnerable_groups =
        factor_table(w, c.get("vulnerable_groups"), &key(cp, "vulnerable_groups"));
    t.mitigations = factor_table(w, c.get("mitigations"), &key(cp, "mitigations"));
    if let Some(sv) = Walker::opt(c, "scale") {
        t.scale = scale(w, sv, &key(cp, "scale"));
    }
    for (p, m, id) in id_section(
        w,
        Walker::opt(c, "floors"),
        "classification.floors",
        &["id", "when", "grade", "basis", "description"],
    ) {
        let grade = w
            .req(m, &p, "grade")
            .and_then(|g| super::known_id(w, g, &key(&p, "grade"), "grade", grade_ix));
        let when = w
            .req(m, &p, "when")
            .map(|wv| when(w, wv, &key(&p, "when"), &t));
        let basis = opt_arc(w, m, &p, "basis");
        let _ = opt_string(w, m, &p, "description");
        if let (Some(grade), Some(when)) = (grade, when) {
            t.floors.push(Floor {
                id,
                when,
                grade,
                basis,
            });
        }
    }
    for (p, m, id) in id_section(
        w,
        Walker::opt(c, "prohibited"),
        "classification.prohibited",
        &["id", "when", "basis", "name", "description"],
    ) {
        let when = w
            .req(m, &p, "when")
            .map(|wv| when(w, wv, &key(&p, "when"), &t));
        let basis = opt_arc(w, m, &p, "basis");
        let name = i18n(w, m.get("name"), &p);
        let _ = opt_string(w, m, &p, "description");
        if let Some(when) = when {
            t.prohibited.push(Prohibited {
                id,
                when,
                basis,
                name,
            });
        }
    }
    t
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
        t.push(FactorDef {
            id: Arc::from(k.as_str()),
            points,
            name,
            basis,
        });
    }
    t
}

fn scale(w: &mut Walker, sv: &Value, sp: &str) -> Vec<ScaleStep> {
    let mut out = Vec::new();
    let Some(a) = w.arr(sv, sp) else { return out };
    let mut prev: Option<u64> = None;
    for (i, x) in a.iter().enumerate() {
        let p = idx(sp, i);
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
        let (Some(mu), Some(score)) = (mu, score) else {
            continue;
        };
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
        out.push(ScaleStep {
            id: Arc::from(format!("min_users {mu}")),
            min_users: mu,
            score,
            basis,
        });
    }
    out
}

/// The condition of a floor or a prohibited use.
fn when(w: &mut Walker, wv: &Value, wp: &str, t: &ClassificationTables) -> FloorWhen {
    let mut when = FloorWhen::default();
    let Some(wm) = w.obj(wv, wp, WHEN_KEYS) else {
        return when;
    };
    let mut list = |k: &str, what: &str, table: &FactorTable| {
        wm.get(k).map(|lv| {
            id_list(w, lv, &key(wp, k), what, &|s| {
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
            w.err(key(wp, "min_users"), "expected a non-negative integer");
        }
    }
    if wm.is_empty() {
        w.err(wp, "a condition needs at least one key");
    }
    when
}

/// Warnings for the tables every profile draws a value from (`sectors`, `data`, `autonomy`)
/// when one is empty or absent: the policy is valid, but no profile can be classified or
/// registered under it.
pub(super) fn unusable_tables(t: &ClassificationTables, top: &Map<String, Value>) -> Vec<Issue> {
    if !matches!(top.get("classification"), Some(Value::Object(_))) {
        return Vec::new();
    }
    let mut out = Vec::new();
    for (k, example, table) in [
        ("sectors", "general", &t.sectors),
        ("data", "public", &t.data),
        ("autonomy", "human_in_the_loop", &t.autonomy),
    ] {
        if table.entries().is_empty() {
            let field = match k {
                "sectors" => "sector",
                "data" => "data class",
                _ => "autonomy",
            };
            out.push(Issue {
                path: key("classification", k),
                reason: format!(
                    "empty or absent: no profile can be classified or registered, since every profile names its {field} (add at least one entry, e.g. {{\"{example}\": 0}})"
                ),
            });
        }
    }
    out
}
