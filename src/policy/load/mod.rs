//! Loading and validation: a JSON document becomes the [`Doc`] model, with *every* problem
//! collected as an [`Issue`] with its JSON path (`rules[3].thresholds.high: ...`).
//!
//! One function per section; [`document`] calls them in dependency order (categories and
//! grades before the tables and rules that name them). Helpers shared by the sections are
//! here: display names, optional strings, enum choices, id lists and id sections.

mod classification;
mod incidents;
mod responses;
mod rules;

use super::model::*;
use super::{MAX_POLICY_ITEMS, MAX_RULE_NAME};
use crate::error::Issue;
use crate::hash::FastMap;
use crate::json::{Walker, idx, key};
use crate::level::Level;
use crate::response::Responses;
use serde_json::{Map, Value};
use std::sync::Arc;

/// A validated policy document.
#[derive(Debug)]
pub(crate) struct Doc {
    pub policy_version: Option<String>,
    pub name: I18n,
    pub categories: Vec<Category>,
    pub category_ix: FastMap<Arc<str>, u32>,
    pub grades: Vec<Grade>,
    pub grade_ix: FastMap<Arc<str>, u32>,
    pub classification: ClassificationTables,
    pub bucket_ms: i64,
    pub signals: Vec<Signal>,
    pub signal_ix: FastMap<Arc<str>, u32>,
    pub rules: Vec<Rule>,
    pub escalation: Option<Escalation>,
    pub responses: Responses,
    pub incidents: Option<IncidentsPolicy>,
    pub inhibit: Vec<crate::silence::Inhibit>,
    /// Rule indexes by category.
    pub rules_by_category: Vec<Vec<u32>>,
    /// Problems that do not make the policy invalid (dead configuration).
    pub warnings: Vec<Issue>,
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
    "incidents",
    "inhibit",
];

/// Validates a whole document. `None` (or issues in `w`) when it is invalid.
pub(crate) fn document(w: &mut Walker, v: &Value) -> Option<Doc> {
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
    let (categories, category_ix) = categories(w, top);
    let (grades, grade_ix) = grades(w, top);
    let classification = classification::tables(w, top, &grade_ix);
    let bucket_ms = bucket_ms(w, top);
    let (signals, signal_ix) = signals(w, top, &category_ix);
    let ctx = rules::Context {
        signals: &signals,
        signal_ix: &signal_ix,
        category_ix: &category_ix,
        grades: &grades,
        grade_ix: &grade_ix,
        bucket_ms,
    };
    let rules = rules::rules(w, top, &ctx);
    let escalation = escalation(w, top);
    let mut warnings = classification::unusable_tables(&classification, top);
    let responses = responses::responses(w, top, &category_ix, &mut warnings);
    let incidents = incidents::incidents(w, top, &categories, &category_ix);
    let inhibit = rules::inhibit(w, top, &rules, &category_ix);
    incidents::check_responses(w, top, &responses);
    let mut rules_by_category = vec![Vec::new(); categories.len()];
    for r in &rules {
        if let Some(c) = r.category {
            rules_by_category[c as usize].push(r.index);
        }
    }
    lint(
        &categories,
        &grades,
        &classification,
        &rules,
        &inhibit,
        &mut warnings,
    );
    Some(Doc {
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
        escalation,
        responses,
        incidents,
        inhibit,
        rules_by_category,
        warnings,
    })
}

/// Warnings about a valid policy that is incomplete: an item without a legal basis, an
/// empty data or autonomy table, a grade for which no rule has any threshold.
fn lint(
    categories: &[Category],
    grades: &[Grade],
    t: &ClassificationTables,
    rules: &[Rule],
    inhibit: &[crate::silence::Inhibit],
    warnings: &mut Vec<Issue>,
) {
    let no_basis = |b: &Option<Arc<str>>| b.as_deref().is_none_or(|b| b.trim().is_empty());
    let mut warn = |path: String, reason: String| warnings.push(Issue { path, reason });
    for (i, c) in categories.iter().enumerate() {
        if no_basis(&c.basis) {
            warn(
                idx("categories", i),
                format!(
                    "category {:?} has no basis: name the law or standard behind it",
                    c.id
                ),
            );
        }
    }
    for (i, f) in t.floors.iter().enumerate() {
        if no_basis(&f.basis) {
            warn(
                idx("classification.floors", i),
                format!(
                    "floor {:?} has no basis: name the law or standard behind it",
                    f.id
                ),
            );
        }
    }
    for (i, p) in t.prohibited.iter().enumerate() {
        if no_basis(&p.basis) {
            warn(
                idx("classification.prohibited", i),
                format!(
                    "prohibited use {:?} has no basis: name the law or standard behind it",
                    p.id
                ),
            );
        }
    }
    for r in rules {
        if no_basis(&r.basis) {
            warn(
                idx("rules", r.index as usize),
                format!(
                    "rule {:?} has no basis: name the law or standard behind it",
                    r.id
                ),
            );
        }
    }
    for (i, x) in inhibit.iter().enumerate() {
        if no_basis(&x.basis) {
            warn(
                idx("inhibit", i),
                format!("inhibition {:?} has no basis: say why it may mute", x.id),
            );
        }
    }
    for (g, grade) in grades.iter().enumerate() {
        let any = rules.iter().any(|r| {
            r.thresholds
                .get(g)
                .is_some_and(|t| t.iter().any(Option::is_some))
        });
        if !any {
            warn(
                idx("grades", g),
                format!(
                    "no rule has a threshold for grade {:?}: a system of this grade can never warn",
                    grade.id
                ),
            );
        }
    }
}

fn categories(w: &mut Walker, top: &Map<String, Value>) -> (Vec<Category>, FastMap<Arc<str>, u32>) {
    let mut categories = Vec::new();
    let mut ix = FastMap::default();
    if top.get("categories").is_none() {
        w.err("categories", "missing required field");
    }
    for (p, m, id) in id_section(
        w,
        top.get("categories"),
        "categories",
        &["id", "name", "basis", "description"],
    ) {
        ix.insert(id.clone(), categories.len() as u32);
        categories.push(Category {
            id,
            name: i18n(w, m.get("name"), &p),
            basis: opt_arc(w, m, &p, "basis"),
            description: opt_string(w, m, &p, "description"),
        });
    }
    (categories, ix)
}

fn grades(w: &mut Walker, top: &Map<String, Value>) -> (Vec<Grade>, FastMap<Arc<str>, u32>) {
    let mut grades: Vec<Grade> = Vec::new();
    let mut ix = FastMap::default();
    let raw = w.req(top, "", "grades");
    let section = id_section(
        w,
        raw,
        "grades",
        &["id", "name", "min_score", "description"],
    );
    if let Some(Value::Array(a)) = raw {
        if a.len() < 2 || a.len() > 8 {
            w.err(
                "grades",
                format!("a policy defines 2 to 8 grades; found {}", a.len()),
            );
        }
    }
    let mut last_min: Option<(i64, Arc<str>)> = None;
    for (i, (p, m, id)) in section.into_iter().enumerate() {
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
            if let Some((prev, prev_id)) = &last_min {
                if ms <= *prev {
                    w.err(
                        key(&p, "min_score"),
                        format!(
                            "min_score must be strictly increasing: {ms} is not above {prev} (grade {prev_id:?})"
                        ),
                    );
                }
            }
            last_min = Some((ms, id.clone()));
        }
        let _ = opt_string(w, m, &p, "description");
        ix.insert(id.clone(), grades.len() as u32);
        grades.push(Grade {
            id,
            rank: grades.len() as u32,
            name: i18n(w, m.get("name"), &p),
            min_score,
        });
    }
    (grades, ix)
}

fn bucket_ms(w: &mut Walker, top: &Map<String, Value>) -> i64 {
    match Walker::opt(top, "bucket_ms") {
        None => 60_000,
        Some(b) => match w.int(b, "bucket_ms") {
            Some(x) if x > 0 => x,
            Some(x) => {
                w.err("bucket_ms", format!("must be positive, found {x}"));
                60_000
            }
            None => 60_000,
        },
    }
}

fn signals(
    w: &mut Walker,
    top: &Map<String, Value>,
    category_ix: &FastMap<Arc<str>, u32>,
) -> (Vec<Signal>, FastMap<Arc<str>, u32>) {
    let mut signals = Vec::new();
    let mut ix = FastMap::default();
    let raw = w.req(top, "", "signals");
    for (p, m, id) in id_section(
        w,
        raw,
        "signals",
        &["id", "kind", "category", "description", "unit"],
    ) {
        let kind = w.req(m, &p, "kind").and_then(|k| {
            choice(
                w,
                k,
                &key(&p, "kind"),
                "kind",
                &[
                    ("counter", SignalKind::Counter),
                    ("gauge", SignalKind::Gauge),
                ],
            )
        });
        let category = Walker::opt(m, "category")
            .and_then(|c| known_id(w, c, &key(&p, "category"), "category", category_ix));
        let mut description = opt_string(w, m, &p, "description");
        if let Some(unit) = opt_string(w, m, &p, "unit") {
            description = Some(match description {
                Some(d) => format!("{d} [{unit}]"),
                None => format!("[{unit}]"),
            });
        }
        ix.insert(id.clone(), signals.len() as u32);
        signals.push(Signal {
            id,
            index: signals.len() as u32,
            kind: kind.unwrap_or(SignalKind::Counter),
            category,
            description,
        });
    }
    (signals, ix)
}

fn escalation(w: &mut Walker, top: &Map<String, Value>) -> Option<Escalation> {
    let ev = Walker::opt(top, "escalation")?;
    let ep = "escalation";
    let m = w.obj(ev, ep, &["min_categories", "at_least", "raise_by"])?;
    let min_categories = w.req(m, ep, "min_categories").and_then(|x| {
        let r = w.int(x, "escalation.min_categories")?;
        if r < 1 {
            w.err(
                "escalation.min_categories",
                format!("must be at least 1, found {r}"),
            );
            return None;
        }
        if r > MAX_POLICY_ITEMS as i64 {
            w.err(
                "escalation.min_categories",
                format!("must be at most {MAX_POLICY_ITEMS}, found {r}"),
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
}

// ---------- helpers shared by the sections ----------

/// A display name: `{"zh": .., "en": ..}`, or a plain string (taken as English).
pub(super) fn i18n(w: &mut Walker, v: Option<&Value>, path: &str) -> I18n {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return I18n::default();
    };
    let p = key(path, "name");
    if let Value::String(s) = v {
        check_name_len(w, &p, s);
        return I18n {
            zh: None,
            en: Some(s.clone()),
        };
    }
    let Some(m) = w.obj(v, &p, &["zh", "en"]) else {
        return I18n::default();
    };
    let mut t = |k: &str| {
        let kp = key(&p, k);
        let s = Walker::opt(m, k).and_then(|x| w.str(x, &kp).map(str::to_owned))?;
        check_name_len(w, &kp, &s);
        Some(s)
    };
    I18n {
        zh: t("zh"),
        en: t("en"),
    }
}

fn check_name_len(w: &mut Walker, path: &str, s: &str) {
    if s.len() > MAX_RULE_NAME {
        w.err(
            path,
            format!(
                "name is {} bytes long; at most {MAX_RULE_NAME} are allowed",
                s.len()
            ),
        );
    }
}

pub(super) fn opt_string(
    w: &mut Walker,
    m: &Map<String, Value>,
    path: &str,
    k: &str,
) -> Option<String> {
    Walker::opt(m, k).and_then(|v| w.str(v, &key(path, k)).map(str::to_owned))
}

pub(super) fn opt_arc(
    w: &mut Walker,
    m: &Map<String, Value>,
    path: &str,
    k: &str,
) -> Option<Arc<str>> {
    opt_string(w, m, path, k).map(Arc::from)
}

/// A string that must be one of `options` (an issue naming them otherwise).
pub(super) fn choice<T: Copy>(
    w: &mut Walker,
    v: &Value,
    path: &str,
    what: &str,
    options: &[(&str, T)],
) -> Option<T> {
    let s = w.str(v, path)?;
    let found = options.iter().find(|(n, _)| *n == s).map(|(_, t)| *t);
    if found.is_none() {
        let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
        w.err(
            path,
            format!("unknown {what} {s:?} (expected {})", one_of(&names)),
        );
    }
    found
}

/// An optional field that must be one of `options`; `default` when absent or invalid.
pub(super) fn opt_choice<T: Copy>(
    w: &mut Walker,
    m: &Map<String, Value>,
    path: &str,
    k: &str,
    options: &[(&str, T)],
    default: T,
) -> T {
    Walker::opt(m, k)
        .and_then(|v| choice(w, v, &key(path, k), k, options))
        .unwrap_or(default)
}

/// "a, b or c".
fn one_of(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
}

/// A string naming an id of `table`, as its index.
pub(super) fn known_id(
    w: &mut Walker,
    v: &Value,
    path: &str,
    what: &str,
    table: &FastMap<Arc<str>, u32>,
) -> Option<u32> {
    let s = w.str(v, path)?;
    let r = table.get(s).copied();
    if r.is_none() {
        w.err(path, format!("unknown {what} {s:?}"));
    }
    r
}

/// An optional duration in milliseconds, ≥ 0 (0 when absent).
pub(super) fn non_negative_ms(w: &mut Walker, m: &Map<String, Value>, path: &str, k: &str) -> i64 {
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
pub(super) fn id_list(
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

/// A warning level name (`blue` .. `red`; `none` is not a warning level).
pub(super) fn warning_level(w: &mut Walker, v: &Value, path: &str) -> Option<Level> {
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

/// A list section of objects with unique ids: the (path, object, id) of each valid entry.
pub(super) fn id_section<'a>(
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
    let mut seen: FastMap<&str, usize> = FastMap::default();
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
