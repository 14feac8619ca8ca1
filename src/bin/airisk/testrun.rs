//! `airisk test`: policy unit tests in the style of `promtool test rules`.
//!
//! A test file is `{"tests": [TEST, ...]}`; each test names a policy (a path relative to the
//! test file; the default policy when absent), the profiles to register (inline objects or
//! paths), the events to replay (event lines as in `airisk replay`, acknowledgements and
//! report filings included, plus compact series of one signal or of several signals
//! observed together, and ticks), the transitions it expects
//! (exactly at a time) or forbids (within an interval), and likewise the incident events it
//! expects or forbids. See the README section "Policy tests".

use crate::common::{check_duplicate_keys, duration, num, when};
use crate::{Fail, read_text};
use airisk::replay::{Emitted, Event, Replayer, parse_line};
use airisk::{
    DueKind, IncidentEvent, IncidentEventKind, Level, Policy, Profile, ReportKind, Scope,
    Transition,
};
use serde::Deserialize;
use serde_json::Value;
use std::borrow::Cow;
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TestFile {
    #[serde(default)]
    description: Option<String>,
    tests: Vec<TestCase>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TestCase {
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    policy: Option<String>,
    #[serde(default)]
    profiles: Vec<Value>,
    #[serde(default)]
    events: Vec<Value>,
    #[serde(default)]
    expect: Vec<Expect>,
    #[serde(default)]
    expect_none: Vec<ExpectNone>,
    #[serde(default)]
    expect_incidents: Vec<ExpectIncident>,
    #[serde(default)]
    expect_no_incident: Vec<ExpectNoIncident>,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "lowercase")]
enum ScopeName {
    Rule,
    System,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    system: String,
    #[serde(default)]
    rule: Option<String>,
    #[serde(default)]
    scope: Option<ScopeName>,
    #[serde(default)]
    from: Option<Level>,
    to: Level,
    at: i64,
    #[serde(default)]
    value: Option<f64>,
    #[serde(default)]
    threshold: Option<f64>,
    #[serde(default)]
    actions: Option<Vec<airisk::Action>>,
    #[serde(default, deserialize_with = "some")]
    report_within_s: Option<Option<i64>>,
}

/// A field that may be `null`: absent → `None`, `null` → `Some(None)`.
fn some<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<i64>>, D::Error> {
    Option::<i64>::deserialize(d).map(Some)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectNone {
    system: String,
    #[serde(default)]
    rule: Option<String>,
    #[serde(default)]
    scope: Option<ScopeName>,
    from: i64,
    to: i64,
}

/// An incident event expected exactly at `at` (under a policy with an `incidents` section).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectIncident {
    system: String,
    #[serde(default)]
    category: Option<String>,
    #[serde(default)]
    incident: Option<String>,
    event: IncidentEventKind,
    at: i64,
    #[serde(default)]
    severity: Option<String>,
    #[serde(default)]
    reportable: Option<bool>,
    #[serde(default, deserialize_with = "some_due")]
    due: Option<Option<DueSpec>>,
    #[serde(default)]
    rule: Option<String>,
    #[serde(default)]
    level: Option<Level>,
    #[serde(default)]
    operator_type: Option<String>,
    #[serde(default)]
    report: Option<ReportKind>,
    #[serde(default)]
    late: Option<bool>,
}

/// `"due": {"report": "initial", "by": 3600000}` (or `null`: nothing owed).
#[derive(Deserialize, Clone, Copy)]
#[serde(deny_unknown_fields)]
struct DueSpec {
    report: DueKind,
    by: i64,
}

/// A field that may be `null`: absent → `None`, `null` → `Some(None)`.
fn some_due<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<DueSpec>>, D::Error> {
    Option::<DueSpec>::deserialize(d).map(Some)
}

/// No incident event (of this category, event kind and reportability, when given) from
/// `from` to `to`, both included.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectNoIncident {
    system: String,
    #[serde(default)]
    category: Option<String>,
    #[serde(default)]
    event: Option<IncidentEventKind>,
    #[serde(default)]
    reportable: Option<bool>,
    from: i64,
    to: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Series {
    system: String,
    signal: String,
    from: i64,
    every_ms: i64,
    values: String,
}

/// Several signals of one system on one grid, each step's values applied together as one
/// batched observation (`{"system", "from", "every_ms", "values": {"signal": "values", ..}}`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchSeries {
    system: String,
    from: i64,
    every_ms: i64,
    values: std::collections::BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Ticks {
    from: i64,
    until: i64,
    every_ms: i64,
}

/// Which transitions an expectation is about.
struct Selector<'a> {
    system: &'a str,
    rule: Option<&'a str>,
    scope: Option<ScopeName>,
}

impl Selector<'_> {
    fn matches(&self, t: &Transition) -> bool {
        if *t.system_id != *self.system {
            return false;
        }
        if let Some(r) = self.rule {
            if t.rule_id.as_deref() != Some(r) {
                return false;
            }
        }
        match self.scope {
            Some(ScopeName::System) => t.scope == Scope::System,
            Some(ScopeName::Rule) => t.scope == Scope::Rule,
            None => true,
        }
    }

    fn describe(&self) -> String {
        match (self.rule, self.scope) {
            (Some(r), _) => format!("{} rule {r}", self.system),
            (None, Some(ScopeName::System)) => format!("{} system level", self.system),
            (None, Some(ScopeName::Rule)) => format!("{} (any rule)", self.system),
            (None, None) => format!("{} (any rule or the system level)", self.system),
        }
    }
}

/// Expands a promtool-like values string into one optional value per step:
/// `v` (one value), `vxN` (v, N times), `a+bxN` / `a-bxN` (a, a+b, ..., a+N·b: N+1 values),
/// `_` (no observation at this step), `_xN` (N steps without observation).
pub fn expand_values(s: &str) -> Result<Vec<Option<f64>>, String> {
    let mut out = Vec::new();
    for item in s.split_whitespace() {
        let bad = |why: &str| format!("bad item {item:?} in values: {why}");
        let (head, count) = match item.rfind('x') {
            Some(i) => {
                let n: usize = item[i + 1..]
                    .parse()
                    .map_err(|_| bad("the count after `x` must be a whole number"))?;
                (&item[..i], Some(n))
            }
            None => (item, None),
        };
        if out.len() + count.unwrap_or(1) > 10_000_000 {
            return Err(bad("a series may have at most 10 000 000 steps"));
        }
        if head == "_" {
            out.extend(std::iter::repeat_n(None, count.unwrap_or(1)));
            continue;
        }
        let num = |t: &str| {
            t.parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| bad(&format!("{t:?} is not a number")))
        };
        // a+b / a-b: a sign after the first character that is not an exponent's.
        let b = head.char_indices().skip(1).find(|&(i, c)| {
            (c == '+' || c == '-') && !matches!(head.as_bytes()[i - 1], b'e' | b'E')
        });
        match (b, count) {
            (Some((i, _)), Some(n)) => {
                let a = num(&head[..i])?;
                let step = num(head[i..].trim_start_matches('+'))?;
                out.extend((0..=n).map(|k| Some(a + step * k as f64)));
            }
            (Some(_), None) => return Err(bad("`a+b` needs a count: `a+bxN`")),
            (None, Some(n)) => {
                let v = num(head)?;
                out.extend(std::iter::repeat_n(Some(v), n));
            }
            (None, None) => out.push(Some(num(head)?)),
        }
    }
    Ok(out)
}

/// One test's events, expanded and ready to sort: (ts, event, where it came from).
type Timed = (i64, Event<'static>, String);

fn expand_events(events: &[Value]) -> Result<Vec<Timed>, String> {
    let mut out: Vec<Timed> = Vec::new();
    for (i, v) in events.iter().enumerate() {
        let at = format!("events[{i}]");
        let obj = v
            .as_object()
            .ok_or_else(|| format!("{at}: an event must be a JSON object"))?;
        // `values` as a string: a series of one signal; as an object with `from`: a batched
        // series; as an object with `ts`: an observe line with several values (below).
        if obj.get("values").is_some_and(Value::is_object) && obj.contains_key("from") {
            let s: BatchSeries = serde_path_to_error::deserialize(v)
                .map_err(|e| format!("{at} (batched series): {e}"))?;
            if s.every_ms <= 0 {
                return Err(format!("{at}.every_ms: must be positive"));
            }
            if s.values.is_empty() {
                return Err(format!("{at}.values: name at least one signal"));
            }
            let mut cols = Vec::with_capacity(s.values.len());
            for (signal, vals) in &s.values {
                let vals = expand_values(vals).map_err(|e| format!("{at}.values.{signal}: {e}"))?;
                cols.push((signal, vals));
            }
            let steps = cols.iter().map(|(_, v)| v.len()).max().unwrap_or(0);
            for k in 0..steps {
                let ts = s.from + s.every_ms * k as i64;
                let values: Vec<(Cow<'static, str>, f64)> = cols
                    .iter()
                    .filter_map(|(sig, v)| {
                        v.get(k)
                            .copied()
                            .flatten()
                            .map(|x| (Cow::Owned((*sig).clone()), x))
                    })
                    .collect();
                if !values.is_empty() {
                    out.push((
                        ts,
                        Event::ObserveMany {
                            ts,
                            system: Cow::Owned(s.system.clone()),
                            values,
                        },
                        format!("{at} step {k}"),
                    ));
                }
            }
        } else if obj.get("values").is_some_and(Value::is_string) {
            let s: Series =
                serde_path_to_error::deserialize(v).map_err(|e| format!("{at} (series): {e}"))?;
            if s.every_ms <= 0 {
                return Err(format!("{at}.every_ms: must be positive"));
            }
            let vals = expand_values(&s.values).map_err(|e| format!("{at}.values: {e}"))?;
            for (k, val) in vals.into_iter().enumerate() {
                let ts = s.from + s.every_ms * k as i64;
                if let Some(value) = val {
                    out.push((
                        ts,
                        Event::Observe {
                            ts,
                            system: Cow::Owned(s.system.clone()),
                            signal: Cow::Owned(s.signal.clone()),
                            value,
                        },
                        format!("{at} step {k}"),
                    ));
                }
            }
        } else if let Some(t) = obj.get("ticks") {
            if obj.len() != 1 {
                return Err(format!("{at}: a ticks item has only the key `ticks`"));
            }
            let t: Ticks =
                serde_path_to_error::deserialize(t).map_err(|e| format!("{at}.ticks: {e}"))?;
            if t.every_ms <= 0 {
                return Err(format!("{at}.ticks.every_ms: must be positive"));
            }
            if (t.until - t.from) / t.every_ms > 10_000_000 {
                return Err(format!("{at}.ticks: more than 10 000 000 ticks"));
            }
            let mut ts = t.from;
            while ts <= t.until {
                out.push((ts, Event::Tick { ts }, format!("{at} tick {}", when(ts))));
                ts += t.every_ms;
            }
        } else if let Some(t) = obj.get("tick") {
            let ts = t
                .as_i64()
                .filter(|_| obj.len() == 1)
                .ok_or_else(|| format!("{at}: write a tick as {{\"tick\": TS}} (an integer)"))?;
            out.push((ts, Event::Tick { ts }, at));
        } else {
            let line = serde_json::to_vec(v).map_err(|e| format!("{at}: {e}"))?;
            let ev = parse_line(&line)
                .map_err(|e| format!("{at}: {e}"))?
                .ok_or_else(|| format!("{at}: empty event"))?
                .into_owned();
            let ts = ev.ts().unwrap_or(i64::MIN);
            out.push((ts, ev, at));
        }
    }
    // Merge by time; events at the same time keep their order in the file.
    out.sort_by_key(|(ts, _, _)| *ts);
    Ok(out)
}

struct Runner {
    base: PathBuf,
    policies: HashMap<PathBuf, Policy>,
    verbose: bool,
}

struct Outcome {
    failures: Vec<String>,
    transitions: Vec<Transition>,
    incidents: Vec<IncidentEvent>,
}

fn due_words(kind: DueKind, by: i64) -> String {
    format!("{} by {} ({by})", kind.name(), when(by))
}

/// One incident event in words: `bus/physical_safety/1 opened at +00:10:00 (600000),
/// severity serious, reportable, due initial by +01:10:00 (4200000), rule safety-incidents
/// orange`.
fn describe_i(e: &IncidentEvent, at: Option<i64>) -> String {
    let mut s = format!(
        "{} {} at {} ({})",
        e.incident,
        e.event.name(),
        when(e.ts),
        e.ts
    );
    if let Some(at) = at {
        let d = e.ts - at;
        if d != 0 {
            s.push_str(&format!(
                ", {} {}",
                duration(d.abs()),
                if d < 0 { "early" } else { "late" }
            ));
        }
    }
    s.push_str(&format!(", severity {}", e.severity));
    s.push_str(if e.reportable {
        ", reportable"
    } else {
        ", not reportable"
    });
    match (e.event, e.due) {
        (IncidentEventKind::Overdue, Some(d)) => {
            s.push_str(&format!(", missed {}", due_words(d.report, d.by)));
        }
        (_, Some(d)) => s.push_str(&format!(", due {}", due_words(d.report, d.by))),
        (_, None) => s.push_str(", nothing due"),
    }
    if let (Some(r), Some(l)) = (&e.rule, e.level) {
        s.push_str(&format!(", rule {r} {l}"));
    }
    if let Some(r) = e.report {
        s.push_str(&format!(
            ", report {}{}",
            r.name(),
            if e.late == Some(true) {
                " (late)"
            } else {
                " (on time)"
            }
        ));
    }
    if let Some(b) = &e.by {
        s.push_str(&format!(", by {b:?}"));
    }
    s
}

fn describe_t(t: &Transition, at: Option<i64>) -> String {
    let mut s = format!(
        "{} {} → {} at {} ({})",
        t.rule_id.as_deref().unwrap_or("system level"),
        t.from,
        t.to,
        when(t.ts),
        t.ts
    );
    if let Some(at) = at {
        let d = t.ts - at;
        if d != 0 {
            s.push_str(&format!(
                ", {} {}",
                duration(d.abs()),
                if d < 0 { "early" } else { "late" }
            ));
        }
    }
    if let Some(v) = t.value {
        s.push_str(&format!(", value {}", num(v)));
    }
    if let Some(th) = t.threshold {
        s.push_str(&format!(", threshold {}", num(th)));
    }
    if !t.actions.is_empty() {
        let a: Vec<&str> = t.actions.iter().map(|a| a.name()).collect();
        s.push_str(&format!(", actions [{}]", a.join(", ")));
    }
    if let Some(r) = t.report_within_s {
        s.push_str(&format!(", report within {r} s"));
    }
    s
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

impl Runner {
    fn policy(&mut self, rel: Option<&str>) -> Result<Policy, String> {
        let Some(rel) = rel else {
            return Ok(Policy::default_policy());
        };
        let path = self.base.join(rel);
        if let Some(p) = self.policies.get(&path) {
            return Ok(p.clone());
        }
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read policy {}: {e}", path.display()))?;
        let p = Policy::from_json(&text).map_err(|e| {
            let mut m = format!("policy {} is invalid:", path.display());
            for i in e.issues() {
                m.push_str(&format!("\n    {i}"));
            }
            if e.issues().is_empty() {
                m.push_str(&format!(" {e}"));
            }
            m
        })?;
        self.policies.insert(path, p.clone());
        Ok(p)
    }

    fn profile(&self, v: &Value, i: usize) -> Result<Profile, String> {
        match v {
            Value::String(rel) => {
                let path = self.base.join(rel);
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| format!("profiles[{i}]: cannot read {}: {e}", path.display()))?;
                Profile::from_json(&text)
                    .map_err(|e| format!("profiles[{i}] ({}): {e}", path.display()))
            }
            Value::Object(_) => {
                Profile::from_value(v.clone()).map_err(|e| format!("profiles[{i}]: {e}"))
            }
            _ => Err(format!(
                "profiles[{i}]: a profile is an object or a path (string)"
            )),
        }
    }

    /// Runs one test. `Err` is a broken test (cannot run); `Ok` lists failed expectations.
    fn run(&mut self, t: &TestCase) -> Result<Outcome, String> {
        let policy = self.policy(t.policy.as_deref())?;
        let mut r = Replayer::new(policy);
        for (i, p) in t.profiles.iter().enumerate() {
            let p = self.profile(p, i)?;
            r.apply(&Event::Register {
                ts: None,
                profile: Box::new(p),
            })
            .map_err(|e| format!("profiles[{i}]: {e}"))?;
        }
        let events = expand_events(&t.events)?;
        let mut failures = Vec::new();
        for (_, ev, at) in &events {
            if let Err(e) = r.apply(ev) {
                failures.push(format!("{at} was rejected: {e}"));
            }
        }
        let mut emitted = Vec::new();
        r.take(&mut emitted);
        let mut ts: Vec<Transition> = Vec::new();
        let mut incidents: Vec<IncidentEvent> = Vec::new();
        for o in emitted {
            match o {
                Emitted::Transition(t) => ts.push(t),
                Emitted::Incident(e) => incidents.push(e),
            }
        }
        let has_incidents = r.engine().policy().incidents().is_some();
        if !has_incidents && (!t.expect_incidents.is_empty() || !t.expect_no_incident.is_empty()) {
            return Err(
                "expect_incidents / expect_no_incident: the test's policy has no `incidents` section, so no incident can open"
                    .into(),
            );
        }
        for (i, e) in t.expect.iter().enumerate() {
            if e.rule.is_none() && e.scope.is_none() {
                return Err(format!(
                    "expect[{i}]: give `rule` (a rule id) or `\"scope\": \"system\"`"
                ));
            }
            let sel = Selector {
                system: &e.system,
                rule: e.rule.as_deref(),
                scope: e.scope,
            };
            let hit = ts.iter().any(|t| {
                sel.matches(t)
                    && t.to == e.to
                    && t.ts == e.at
                    && e.from.is_none_or(|f| t.from == f)
                    && e.value.is_none_or(|v| t.value.is_some_and(|x| close(x, v)))
                    && e.threshold
                        .is_none_or(|v| t.threshold.is_some_and(|x| close(x, v)))
                    && e.actions
                        .as_ref()
                        .is_none_or(|a| t.actions.iter().eq(a.iter().copied()))
                    && e.report_within_s.is_none_or(|r| t.report_within_s == r)
            });
            if hit {
                continue;
            }
            let mut m = format!(
                "expect[{i}]: {} {}→ {} at {} ({})",
                sel.describe(),
                e.from.map(|f| format!("{f} ")).unwrap_or_default(),
                e.to,
                when(e.at),
                e.at
            );
            if let Some(v) = e.value {
                m.push_str(&format!(" with value {}", num(v)));
            }
            if let Some(v) = e.threshold {
                m.push_str(&format!(" with threshold {}", num(v)));
            }
            if let Some(a) = &e.actions {
                let names: Vec<&str> = a.iter().map(|a| a.name()).collect();
                m.push_str(&format!(" with actions [{}]", names.join(", ")));
            }
            if let Some(r) = e.report_within_s {
                match r {
                    Some(r) => m.push_str(&format!(" reporting within {r} s")),
                    None => m.push_str(" with no reporting deadline"),
                }
            }
            let mut near: Vec<&Transition> = ts.iter().filter(|t| sel.matches(t)).collect();
            if near.is_empty() {
                let n = ts.iter().filter(|t| *t.system_id == *e.system).count();
                m.push_str(&format!(
                    "\n      but {} had no transition at all ({n} transition{} of system {} in this test)",
                    sel.describe(),
                    if n == 1 { "" } else { "s" },
                    e.system
                ));
            } else {
                near.sort_by_key(|t| (t.ts - e.at).abs());
                near.truncate(5);
                near.sort_by_key(|t| t.seq);
                m.push_str("\n      got instead (nearest in time):");
                for t in near {
                    m.push_str(&format!("\n        {}", describe_t(t, Some(e.at))));
                }
            }
            failures.push(m);
        }
        for (i, e) in t.expect_none.iter().enumerate() {
            let sel = Selector {
                system: &e.system,
                rule: e.rule.as_deref(),
                scope: e.scope,
            };
            let bad: Vec<&Transition> = ts
                .iter()
                .filter(|t| sel.matches(t) && t.ts >= e.from && t.ts <= e.to)
                .collect();
            if bad.is_empty() {
                continue;
            }
            let mut m = format!(
                "expect_none[{i}]: no transition of {} from {} to {} ({}..{})\n      but got:",
                sel.describe(),
                when(e.from),
                when(e.to),
                e.from,
                e.to
            );
            for t in bad.iter().take(5) {
                m.push_str(&format!("\n        {}", describe_t(t, None)));
            }
            if bad.len() > 5 {
                m.push_str(&format!("\n        ... and {} more", bad.len() - 5));
            }
            failures.push(m);
        }
        self.check_incidents(t, &incidents, &mut failures);
        Ok(Outcome {
            failures,
            transitions: ts,
            incidents,
        })
    }

    /// Checks `expect_incidents` and `expect_no_incident` against the incident events.
    fn check_incidents(&self, t: &TestCase, events: &[IncidentEvent], failures: &mut Vec<String>) {
        let about = |system: &str, category: Option<&str>| match category {
            Some(c) => format!("{system} {c}"),
            None => system.to_owned(),
        };
        for (i, e) in t.expect_incidents.iter().enumerate() {
            let near_sel = |x: &&IncidentEvent| {
                *x.system_id == *e.system
                    && e.category.as_deref().is_none_or(|c| *x.category == *c)
                    && e.incident.as_deref().is_none_or(|id| *x.incident == *id)
            };
            let hit = events.iter().filter(near_sel).any(|x| {
                x.event == e.event
                    && x.ts == e.at
                    && e.severity.as_deref().is_none_or(|s| *x.severity == *s)
                    && e.reportable.is_none_or(|r| x.reportable == r)
                    && e.due.is_none_or(|d| match (d, x.due) {
                        (None, None) => true,
                        (Some(d), Some(g)) => d.report == g.report && d.by == g.by,
                        _ => false,
                    })
                    && e.rule
                        .as_deref()
                        .is_none_or(|r| x.rule.as_deref() == Some(r))
                    && e.level.is_none_or(|l| x.level == Some(l))
                    && e.operator_type
                        .as_deref()
                        .is_none_or(|o| *x.operator_type == *o)
                    && e.report.is_none_or(|r| x.report == Some(r))
                    && e.late.is_none_or(|l| x.late == Some(l))
            });
            if hit {
                continue;
            }
            let who = match &e.incident {
                Some(id) => format!("incident {id}"),
                None => format!("{} incident", about(&e.system, e.category.as_deref())),
            };
            let mut m = format!(
                "expect_incidents[{i}]: {who} {} at {} ({})",
                e.event.name(),
                when(e.at),
                e.at
            );
            if let Some(s) = &e.severity {
                m.push_str(&format!(" with severity {s}"));
            }
            match e.reportable {
                Some(true) => m.push_str(", reportable"),
                Some(false) => m.push_str(", not reportable"),
                None => {}
            }
            match e.due {
                Some(Some(d)) if e.event == IncidentEventKind::Overdue => {
                    m.push_str(&format!(", missing {}", due_words(d.report, d.by)));
                }
                Some(Some(d)) => m.push_str(&format!(", due {}", due_words(d.report, d.by))),
                Some(None) => m.push_str(", with nothing due"),
                None => {}
            }
            if let Some(r) = &e.rule {
                m.push_str(&format!(", rule {r}"));
            }
            if let Some(l) = e.level {
                m.push_str(&format!(" at level {l}"));
            }
            if let Some(o) = &e.operator_type {
                m.push_str(&format!(", operator type {o}"));
            }
            if let Some(r) = e.report {
                m.push_str(&format!(", report {}", r.name()));
            }
            match e.late {
                Some(true) => m.push_str(" filed late"),
                Some(false) => m.push_str(" filed on time"),
                None => {}
            }
            let mut near: Vec<&IncidentEvent> = events.iter().filter(near_sel).collect();
            if near.is_empty() {
                let n = events.iter().filter(|x| *x.system_id == *e.system).count();
                m.push_str(&format!(
                    "\n      but {} had no incident event at all ({n} incident event{} of system {} in this test)",
                    about(&e.system, e.category.as_deref()),
                    if n == 1 { "" } else { "s" },
                    e.system
                ));
            } else {
                near.sort_by_key(|x| ((x.ts - e.at).abs(), x.event != e.event));
                near.truncate(5);
                near.sort_by_key(|x| x.seq);
                m.push_str("\n      got instead (nearest in time):");
                for x in near {
                    m.push_str(&format!("\n        {}", describe_i(x, Some(e.at))));
                }
            }
            failures.push(m);
        }
        for (i, e) in t.expect_no_incident.iter().enumerate() {
            let bad: Vec<&IncidentEvent> = events
                .iter()
                .filter(|x| {
                    *x.system_id == *e.system
                        && e.category.as_deref().is_none_or(|c| *x.category == *c)
                        && e.event.is_none_or(|k| x.event == k)
                        && e.reportable.is_none_or(|r| x.reportable == r)
                        && x.ts >= e.from
                        && x.ts <= e.to
                })
                .collect();
            if bad.is_empty() {
                continue;
            }
            let mut what = String::from("no");
            if e.reportable == Some(true) {
                what.push_str(" reportable");
            } else if e.reportable == Some(false) {
                what.push_str(" non-reportable");
            }
            what.push_str(" incident");
            if let Some(k) = e.event {
                what.push_str(&format!(" {}", k.name()));
            }
            let mut m = format!(
                "expect_no_incident[{i}]: {what} event of {} from {} to {} ({}..{})\n      but got:",
                about(&e.system, e.category.as_deref()),
                when(e.from),
                when(e.to),
                e.from,
                e.to
            );
            for x in bad.iter().take(5) {
                m.push_str(&format!("\n        {}", describe_i(x, None)));
            }
            if bad.len() > 5 {
                m.push_str(&format!("\n        ... and {} more", bad.len() - 5));
            }
            failures.push(m);
        }
    }
}

/// `airisk test [--verbose] TESTS.json...`
pub fn cmd_test(files: &[PathBuf], verbose: bool) -> Result<(), Fail> {
    let (mut passed, mut failed) = (0u64, 0u64);
    let mut out = std::io::stdout().lock();
    for path in files {
        let text = read_text(path)?;
        // Inline profiles, policies and events are read as strictly as their own files.
        if let Err(e) = check_duplicate_keys(&text) {
            let _ = writeln!(out, "{}: invalid test file: {e}", path.display());
            failed += 1;
            continue;
        }
        let file: TestFile = {
            let mut de = serde_json::Deserializer::from_str(&text);
            match serde_path_to_error::deserialize(&mut de) {
                Ok(f) => f,
                Err(e) => {
                    let _ = writeln!(out, "{}: invalid test file: {e}", path.display());
                    failed += 1;
                    continue;
                }
            }
        };
        let _ = file.description;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let mut runner = Runner {
            base,
            policies: HashMap::new(),
            verbose,
        };
        let n = file.tests.len();
        let _ = writeln!(
            out,
            "{}: {n} test{}",
            path.display(),
            if n == 1 { "" } else { "s" }
        );
        for (i, t) in file.tests.iter().enumerate() {
            let _ = &t.description;
            match runner.run(t) {
                Ok(o) if o.failures.is_empty() => {
                    passed += 1;
                    let _ = writeln!(out, "  ok    {}", t.name);
                    if runner.verbose {
                        for tr in &o.transitions {
                            let _ = writeln!(
                                out,
                                "          {} {}",
                                tr.system_id,
                                describe_t(tr, None)
                            );
                        }
                        for e in &o.incidents {
                            let _ = writeln!(out, "          incident {}", describe_i(e, None));
                        }
                    }
                }
                Ok(o) => {
                    failed += 1;
                    let _ = writeln!(out, "  FAIL  {} (tests[{i}])", t.name);
                    for f in &o.failures {
                        let _ = writeln!(out, "    {f}");
                    }
                    if runner.verbose {
                        let _ = writeln!(out, "    all transitions of this test:");
                        for tr in &o.transitions {
                            let _ =
                                writeln!(out, "        {} {}", tr.system_id, describe_t(tr, None));
                        }
                        if !o.incidents.is_empty() {
                            let _ = writeln!(out, "    all incident events of this test:");
                            for e in &o.incidents {
                                let _ = writeln!(out, "        {}", describe_i(e, None));
                            }
                        }
                    }
                }
                Err(e) => {
                    failed += 1;
                    let _ = writeln!(out, "  ERROR {} (tests[{i}]): {e}", t.name);
                }
            }
        }
    }
    let _ = writeln!(out, "{passed} passed, {failed} failed");
    let _ = out.flush();
    if failed > 0 { Err(Fail::Quiet) } else { Ok(()) }
}

#[cfg(test)]
mod tests {
    use super::expand_values;

    #[test]
    fn values_expand_like_promtool() {
        let v = |s: &str| expand_values(s).unwrap();
        assert_eq!(v("1x3"), vec![Some(1.0); 3]);
        assert_eq!(
            v("-2+4x3"),
            vec![Some(-2.0), Some(2.0), Some(6.0), Some(10.0)]
        );
        assert_eq!(
            v("5-1x2 _ 7"),
            vec![Some(5.0), Some(4.0), Some(3.0), None, Some(7.0)]
        );
        assert_eq!(v("_x2 1e3"), vec![None, None, Some(1000.0)]);
        assert_eq!(v("2.5e-1"), vec![Some(0.25)]);
        assert!(expand_values("1+1").is_err());
        assert!(expand_values("ax2").is_err());
        assert!(expand_values("1xq").is_err());
    }
}
