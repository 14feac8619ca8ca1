//! `responses`: the response plan per level and its category overrides.

use super::warning_level;
use crate::error::Issue;
use crate::hash::FastMap;
use crate::json::{Walker, idx, key};
use crate::level::{Action, Actions, Level};
use crate::response::{Override, Response, Responses};
use serde_json::{Map, Value};
use std::sync::Arc;

pub(super) fn responses(
    w: &mut Walker,
    top: &Map<String, Value>,
    category_ix: &FastMap<Arc<str>, u32>,
    warnings: &mut Vec<Issue>,
) -> Responses {
    let mut responses = Responses::default();
    let Some(rv) = Walker::opt(top, "responses") else {
        return responses;
    };
    let Some(m) = w.obj(rv, "responses", &["levels", "overrides"]) else {
        return responses;
    };
    if let Some(lv) = Walker::opt(m, "levels") {
        if let Some(lm) = w.obj(lv, "responses.levels", &["blue", "yellow", "orange", "red"]) {
            for (slot, lvl) in Level::WARNINGS.into_iter().enumerate() {
                if let Some(x) = Walker::opt(lm, lvl.name()) {
                    let p = key("responses.levels", lvl.name());
                    if let Some(rm) = w.obj(x, &p, &["actions", "report_within_s"]) {
                        responses.levels[slot] = response(w, rm, &p);
                    }
                }
            }
        }
    }
    if let Some(ov) = Walker::opt(m, "overrides") {
        if let Some(a) = w.arr(ov, "responses.overrides") {
            for (i, x) in a.iter().enumerate() {
                let p = idx("responses.overrides", i);
                if let Some(o) = override_entry(w, x, &p, category_ix, warnings) {
                    if responses
                        .overrides
                        .iter()
                        .any(|e| e.category == o.category && e.level == o.level)
                    {
                        w.err(&p, "duplicate override for this category and level");
                    }
                    responses.overrides.push(o);
                }
            }
        }
    }
    responses
}

fn override_entry(
    w: &mut Walker,
    x: &Value,
    p: &str,
    category_ix: &FastMap<Arc<str>, u32>,
    warnings: &mut Vec<Issue>,
) -> Option<Override> {
    let om = w.obj(x, p, &["category", "level", "actions", "report_within_s"])?;
    // An override for a category the policy does not define can never apply; it is dropped
    // with a warning rather than refused, so that a shared response plan can cover
    // categories some policies lack.
    let category = w.req(om, p, "category").and_then(|c| {
        let cp = key(p, "category");
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
        .req(om, p, "level")
        .and_then(|l| warning_level(w, l, &key(p, "level")));
    let response = response(w, om, p);
    Some(Override {
        category: category?,
        level: level?,
        response,
    })
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
