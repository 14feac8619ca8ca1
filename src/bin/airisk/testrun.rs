//! `airisk test`: policy unit tests in the style of `promtool test rules`.
//!
//! A test file is `{"tests": [TEST, ...]}`; each test names a policy (a path relative to the
//! test file; the default policy when absent), the profiles to register (inline objects or
//! paths), the events to replay (event lines as in `airisk replay`, plus compact series and
//! ticks), and the transitions it expects (exactly at a time) or forbids (within an
//! interval). See the README section "Policy tests".

use crate::common::{duration, num, when};
use crate::{Fail, read_text};
use airisk::replay::{Emitted, Event, Replayer, parse_line};
use airisk::{Level, Policy, Profile, Scope, Transition};
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Series {
    system: String,
    signal: String,
    from: i64,
    every_ms: i64,
    values: String,
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
        if obj.contains_key("values") {
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
        let ts: Vec<Transition> = emitted
            .into_iter()
            .filter_map(|o| match o {
                Emitted::Transition(t) => Some(t),
                Emitted::Incident(_) => None,
            })
            .collect();
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
        Ok(Outcome {
            failures,
            transitions: ts,
        })
    }
}

/// `airisk test [--verbose] TESTS.json...`
pub fn cmd_test(files: &[PathBuf], verbose: bool) -> Result<(), Fail> {
    let (mut passed, mut failed) = (0u64, 0u64);
    let mut out = std::io::stdout().lock();
    for path in files {
        let text = read_text(path)?;
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
