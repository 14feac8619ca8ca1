//! The JSON Schemas in `schemas/` (draft 2020-12) describe what airisk accepts and emits:
//!
//! - every policy, profile and event line in the repository is valid, and so is every
//!   transition and incident event that replaying the demo, the scenarios and the walk-through
//!   prints (and a log that exercises every op, detector, silence, inhibition and reload);
//! - **every document the library accepts is schema-valid**: every single change of a policy
//!   that uses every feature, of a profile and of one line of each op (a value removed, made
//!   null, given another type, an unknown key added) that the library still accepts must
//!   pass the schema too, so the schema never refuses what `airisk` takes;
//! - documents both the library and the schema must refuse are refused by both.
//!
//! The schemas cannot check what spans fields (ids that must exist or be unique, increasing
//! scores and thresholds, sums), so the converse does not hold: `airisk validate` remains the
//! authority. The schemas refer to each other by relative file names.

use airisk::replay::{Emitted, Replayer, parse_line};
use airisk::{Policy, Profile};
use jsonschema::{Registry, Validator};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

const BIN: &str = env!("CARGO_BIN_EXE_airisk");
const BASE: &str = "https://airisk.invalid/schemas/";
const NAMES: [&str; 5] = [
    "policy",
    "profile",
    "event-line",
    "transition",
    "incident-event",
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn schema_doc(name: &str) -> Value {
    let p = root().join("schemas").join(format!("{name}.schema.json"));
    serde_json::from_str(&read(&p)).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

struct Schemas {
    policy: Validator,
    profile: Validator,
    event: Validator,
    transition: Validator,
    incident: Validator,
}

/// The five validators; relative `$ref`s between the files resolve through a registry
/// holding all of them (nothing is fetched).
fn schemas() -> &'static Schemas {
    static S: OnceLock<Schemas> = OnceLock::new();
    S.get_or_init(|| {
        let docs: Vec<(String, Value)> = NAMES
            .iter()
            .map(|n| (format!("{BASE}{n}.schema.json"), schema_doc(n)))
            .collect();
        let registry = Registry::new()
            .extend(docs.iter().map(|(u, d)| (u.as_str(), d.clone())))
            .expect("schema URIs")
            .prepare()
            .expect("the schemas' references resolve");
        let build = |i: usize| {
            jsonschema::options()
                .with_draft(jsonschema::Draft::Draft202012)
                .with_base_uri(docs[i].0.clone())
                .with_registry(&registry)
                .build(&docs[i].1)
                .unwrap_or_else(|e| panic!("{}: {e}", NAMES[i]))
        };
        Schemas {
            policy: build(0),
            profile: build(1),
            event: build(2),
            transition: build(3),
            incident: build(4),
        }
    })
}

/// Panics with every schema error when `v` is not valid.
fn assert_valid(v: &Validator, doc: &Value, what: &str) {
    let errors: Vec<String> = v
        .iter_errors(doc)
        .map(|e| format!("  at {}: {e}", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{what} does not match its schema:\n{}",
        errors.join("\n")
    );
}

fn files(dir: &str, ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(root().join(dir))
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == ext))
        .collect();
    v.sort();
    v
}

/// The non-blank lines of an event log, parsed.
fn log_lines(p: &Path) -> Vec<Value> {
    read(p)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
        .collect()
}

#[test]
fn the_schemas_are_valid_draft_2020_12_schemas() {
    for n in NAMES {
        let doc = schema_doc(n);
        assert_eq!(
            doc["$schema"], "https://json-schema.org/draft/2020-12/schema",
            "{n}"
        );
        if let Err(e) = jsonschema::meta::validate(&doc) {
            panic!("{n}.schema.json is not a valid schema: {e}");
        }
    }
    let _ = schemas();
}

#[test]
fn every_policy_in_the_repository_matches() {
    let mut paths = files("seeds/policy", "json");
    paths.extend(
        ["tests/data/minimal.json", "tests/data/design-example.json"].map(|p| root().join(p)),
    );
    paths.push(root().join("examples/policy/minimal.json"));
    for p in paths {
        let text = read(&p);
        Policy::from_json(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        let doc: Value = serde_json::from_str(&text).unwrap();
        assert_valid(&schemas().policy, &doc, &p.display().to_string());
    }
    assert_valid(
        &schemas().policy,
        &kitchen_sink(),
        "the kitchen-sink policy",
    );
}

#[test]
fn every_profile_in_the_repository_matches() {
    let mut paths: Vec<PathBuf> = files("seeds/profiles", "json")
        .into_iter()
        // Not a profile: the grades the default policy gives the others.
        .filter(|p| !p.ends_with("expected.json"))
        .collect();
    assert!(paths.len() >= 10, "the seed profiles");
    paths.push(root().join("tests/data/design-profile.json"));
    paths.push(root().join("examples/policy/clinic-bot.json"));
    for p in paths {
        let text = read(&p);
        Profile::from_json(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        let doc: Value = serde_json::from_str(&text).unwrap();
        assert_valid(&schemas().profile, &doc, &p.display().to_string());
    }
}

/// The event logs of the repository: the demo, the scenarios and the walk-through.
fn logs() -> Vec<PathBuf> {
    let mut v = vec![root().join("seeds/demo/events.jsonl")];
    v.extend(files("seeds/scenarios", "jsonl"));
    v.push(root().join("examples/policy/events.jsonl"));
    v
}

#[test]
fn every_event_line_in_the_repository_matches() {
    let mut n = 0;
    for p in logs() {
        for (i, line) in log_lines(&p).iter().enumerate() {
            let bytes = serde_json::to_vec(line).unwrap();
            parse_line(&bytes)
                .unwrap_or_else(|e| panic!("{}:{}: {e}", p.display(), i + 1))
                .expect("not blank");
            assert_valid(
                &schemas().event,
                line,
                &format!("{}:{}", p.display(), i + 1),
            );
            n += 1;
        }
    }
    assert!(n > 20_000, "the demo's lines were read ({n})");
    for line in sink_log() {
        assert_valid(
            &schemas().event,
            &line,
            &format!("kitchen-sink log: {line}"),
        );
    }
}

/// Validates one output line of `airisk replay` (or of a replayer) by its kind.
fn check_output(line: &Value, what: &str) -> &'static str {
    let s = schemas();
    if line["kind"] == "incident" {
        assert_valid(&s.incident, line, what);
        "incident"
    } else {
        assert_valid(&s.transition, line, what);
        "transition"
    }
}

#[test]
fn what_replaying_the_repository_logs_prints_matches() {
    for (log, policy) in [
        ("seeds/demo/events.jsonl", None),
        ("seeds/scenarios/triage-day.jsonl", None),
        ("seeds/scenarios/triage-upgrade.jsonl", None),
        (
            "examples/policy/events.jsonl",
            Some("examples/policy/minimal.json"),
        ),
    ] {
        let mut cmd = Command::new(BIN);
        cmd.arg("replay").current_dir(root());
        if let Some(p) = policy {
            cmd.args(["--policy", p]);
        }
        let out = cmd.arg(log).output().expect("run airisk replay");
        assert!(
            out.status.success(),
            "{log}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8(out.stdout).unwrap();
        let (mut transitions, mut incidents) = (0, 0);
        for (i, l) in stdout.lines().enumerate() {
            let v: Value = serde_json::from_str(l).unwrap();
            match check_output(&v, &format!("{log} output line {}", i + 1)) {
                "incident" => incidents += 1,
                _ => transitions += 1,
            }
        }
        assert!(transitions > 0, "{log}: no transition");
        if log.contains("demo") {
            assert!(incidents > 0, "the demo opens incidents");
        }
    }
}

/// A policy that uses every section and field the loader reads.
fn kitchen_sink() -> Value {
    json!({
      "schema": 1,
      "policy_version": "sink-1",
      "name": "Kitchen sink",
      "categories": [
        {"id": "quality", "name": {"zh": "质量", "en": "Quality"}, "basis": "Art. 46", "description": "q"},
        {"id": "safety", "name": {"en": "Safety"}, "basis": "Art. 15"},
        {"id": "ops"}
      ],
      "grades": [
        {"id": "low", "name": {"zh": "低"}, "min_score": null, "description": "d"},
        {"id": "high", "name": "High", "min_score": 3}
      ],
      "classification": {
        "sectors": {"general": 0, "health": {"score": 2, "name": {"en": "Health"}, "basis": "Art. 23", "description": "h"}},
        "capabilities": {"generative": 1, "actuation": 2},
        "data": {"public": 0, "personal": 1},
        "autonomy": {"hitl": 0, "auto": 1},
        "scale": [{"min_users": 1000, "score": 1, "basis": "scale"}, {"min_users": 100000, "score": 2}],
        "vulnerable_groups": {"minors": 2},
        "mitigations": {"review": -1},
        "floors": [{"id": "auto-actuation", "when": {"capabilities": ["actuation"], "autonomy": ["auto"], "min_users": 1},
                    "grade": "high", "basis": "Art. 15", "description": "f"}],
        "prohibited": [{"id": "minors-auto", "name": {"en": "No"}, "when": {"sectors": ["health"], "vulnerable_groups": ["minors"], "data": ["personal"]},
                        "basis": "b", "description": "p"}]
      },
      "bucket_ms": 60000,
      "signals": [
        {"id": "requests", "kind": "counter", "description": "r", "unit": "1"},
        {"id": "errors", "kind": "counter", "category": "quality"},
        {"id": "latency", "kind": "gauge", "category": "quality", "unit": "ms"},
        {"id": "heartbeat", "kind": "counter", "category": "ops"},
        {"id": "harms", "kind": "counter", "category": "safety"}
      ],
      "rules": [
        {"id": "error-rate", "name": {"zh": "错误率", "en": "Error rate"}, "basis": "Art. 46", "description": "e",
         "signal": "errors", "aggregate": "rate", "per": "requests", "window_ms": 600000, "min_samples": 10,
         "wilson_z": 1.0, "direction": "above", "for_ms": 0, "clear_for_ms": 120000, "hysteresis": 0.1, "on_empty": "hold",
         "thresholds": {"low": [0.2, 0.3, 0.4, 0.5], "high": [0.05, 0.1, 0.2, 0.3]}},
        {"id": "latency-max", "signal": "latency", "aggregate": "max", "window_ms": 300000,
         "thresholds": {"low": [500, null, null, null], "high": [300, 600, null, null]}},
        {"id": "latency-min", "signal": "latency", "aggregate": "min", "window_ms": 300000, "direction": "below",
         "on_empty": "clear", "thresholds": {"low": [1, null, null, null], "high": [2, 1, null, null]}},
        {"id": "latency-mean", "signal": "latency", "aggregate": "mean", "window_ms": 300000, "min_samples": 2,
         "thresholds": {"low": [400, null, null, null], "high": [250, null, null, null]}},
        {"id": "request-sum", "category": "ops", "signal": "requests", "aggregate": "sum", "window_ms": 60000,
         "thresholds": {"low": [1000, null, null, null], "high": [1000, null, null, null]}},
        {"id": "heartbeat-silence", "signal": "heartbeat", "aggregate": "silence_ms",
         "thresholds": {"low": [180000, 300000, 600000, null], "high": [120000, 240000, 480000, null]}},
        {"id": "error-ewma", "signal": "errors", "per": "requests", "aggregate": "ewma", "alpha": 0.5,
         "thresholds": {"low": [0.5, null, null, null], "high": [0.2, null, null, null]}},
        {"id": "harm-cusum", "signal": "harms", "aggregate": "cusum", "target": 0, "slack": 0.5, "side": "up",
         "thresholds": {"low": [1, null, null, null], "high": [1, 2, null, null]}},
        {"id": "latency-psi", "signal": "latency", "aggregate": "psi", "window_ms": 600000,
         "bins": [100, 200], "reference": [0.5, 0.3, 0.2],
         "thresholds": {"low": [0.25, null, null, null], "high": [0.1, 0.25, null, null]}},
        {"id": "harm-count", "signal": "harms", "aggregate": "count", "window_ms": 3600000,
         "thresholds": {"low": [1, 2, 3, 4], "high": [1, 1, 2, 3]}}
      ],
      "escalation": {"min_categories": 2, "at_least": "yellow", "raise_by": 1},
      "responses": {
        "levels": {"blue": {"actions": ["log"]}, "yellow": {"actions": ["log", "notify_operator"], "report_within_s": null},
                   "orange": {"actions": ["log", "notify_operator", "human_review", "throttle"]},
                   "red": {"actions": ["log", "notify_operator", "fallback", "suspend", "public_notice"]}},
        "overrides": [{"category": "safety", "level": "orange", "actions": ["log", "suspend"]}]
      },
      "incidents": {
        "open_at": "orange",
        "severities": [{"id": "serious", "name": {"zh": "较大"}}, {"id": "major", "description": "m"}, {"id": "critical"}],
        "severity_by_level": {"orange": "serious", "red": "major"},
        "severity_overrides": [{"category": "safety", "level": "red", "severity": "critical"}],
        "report_at": "serious",
        "operator_types": [{"id": "other", "initial_within_s": 14400, "name": {"en": "Other"}, "description": "o"},
                           {"id": "cii", "initial_within_s": 3600}],
        "ack_within_s": 1800,
        "final_within_s": 86400,
        "basis": "CAC 2025",
        "description": "i"
      },
      "inhibit": [{"id": "telemetry-down", "source": {"rule": "heartbeat-silence", "at_least": "yellow"},
                   "target": {"categories": ["quality"]}, "basis": "b", "description": "t"}]
    })
}

fn sink_profile() -> Value {
    json!({"id": "bot", "sector": "health", "capabilities": ["generative"], "data": "personal",
           "autonomy": "hitl", "users": 5000, "vulnerable_groups": [], "mitigations": ["review"],
           "name": "Bot", "operator": "Op", "operator_type": "cii"})
}

/// A log over the kitchen-sink policy with every op: batched and single observations,
/// silences, a policy reload (inline) that resets a rule above none, acknowledgement and
/// reports.
fn sink_log() -> Vec<Value> {
    let m = 60_000i64;
    let mut v = vec![json!({"op": "register", "ts": 0, "profile": sink_profile()})];
    let mut ts = 0;
    for (req, err, lat) in [
        (50, 1, 150.0),
        (50, 10, 250.0),
        (50, 20, 320.0),
        (50, 30, 650.0),
        (50, 30, 650.0),
    ] {
        ts += m;
        v.push(json!({"op": "observe", "ts": ts, "system": "bot", "values": {"requests": req, "errors": err}}));
        v.push(json!({"ts": ts, "system": "bot", "signal": "latency", "value": lat}));
        v.push(json!({"op": "observe", "ts": ts, "system": "bot", "signal": "heartbeat"}));
    }
    v.push(json!({"op": "ack", "ts": ts, "incident": "bot/quality/1", "by": "duty officer"}));
    v.push(json!({"op": "report", "ts": ts + 1000, "incident": "bot/quality/1", "kind": "initial", "reference": "R-1"}));
    v.push(json!({"op": "silence", "ts": ts, "id": "maint", "system": "bot", "starts": ts, "ends": ts + 30 * m,
                  "reason": "maintenance", "by": "ops"}));
    ts += m;
    v.push(json!({"ts": ts, "system": "bot", "signal": "harms", "value": 3}));
    v.push(json!({"op": "tick", "ts": ts + 9 * m}));
    v.push(json!({"op": "unsilence", "ts": ts + 9 * m, "id": "maint"}));
    let mut changed = kitchen_sink();
    changed["rules"][0]["thresholds"]["high"] = json!([0.06, 0.11, 0.21, 0.31]);
    v.push(json!({"op": "reload", "ts": ts + 9 * m, "policy": changed}));
    v.push(json!({"op": "tick", "ts": ts + 60 * m}));
    v
}

#[test]
fn what_a_log_with_every_feature_emits_matches() {
    let policy = Policy::from_value(kitchen_sink()).expect("the kitchen-sink policy is valid");
    let mut r = Replayer::new(policy);
    let mut lines: Vec<Value> = Vec::new();
    for (i, l) in sink_log().iter().enumerate() {
        let bytes = serde_json::to_vec(l).unwrap();
        r.apply_line(&bytes)
            .unwrap_or_else(|e| panic!("kitchen-sink log line {}: {e}", i + 1));
        let mut emitted = Vec::new();
        r.take(&mut emitted);
        for e in emitted {
            let mut out = Vec::new();
            match e {
                Emitted::Transition(t) => t.write_json(&mut out, true).unwrap(),
                Emitted::Incident(ev) => serde_json::to_writer(&mut out, &ev).unwrap(),
            }
            lines.push(serde_json::from_slice(&out).unwrap());
        }
    }
    let has = |k: &str, v: &str| {
        lines
            .iter()
            .any(|l| l.get(k).and_then(Value::as_str) == Some(v))
    };
    let present = |k: &str| lines.iter().any(|l| l.get(k).is_some());
    for (k, v) in [
        ("scope", "system"),
        ("kind", "incident"),
        ("event", "opened"),
        ("event", "acknowledged"),
        ("event", "report_filed"),
        ("reason", "policy_reload"),
        ("silenced", "maint"),
        ("inhibited_by", "telemetry-down"),
    ] {
        assert!(
            has(k, v),
            "the log should emit a line with {k} = {v}:\n{lines:#?}"
        );
    }
    assert!(
        present("rule_name") && present("severity_name"),
        "display names"
    );
    for (i, l) in lines.iter().enumerate() {
        check_output(l, &format!("kitchen-sink output {}: {l}", i + 1));
    }
}

// ------------------------------------------------------------------ agreement with the code

/// Every document one change away from `doc`: at each value, the value removed (in an
/// object), set to null, or replaced by a value of each other JSON type; at each object, an
/// unknown key added.
fn single_changes(doc: &Value) -> Vec<Value> {
    fn paths(v: &Value, at: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
        out.push(at.clone());
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    at.push(Step::Key(k.clone()));
                    paths(x, at, out);
                    at.pop();
                }
            }
            Value::Array(a) => {
                for (i, x) in a.iter().enumerate() {
                    at.push(Step::Index(i));
                    paths(x, at, out);
                    at.pop();
                }
            }
            _ => {}
        }
    }
    let mut all = Vec::new();
    paths(doc, &mut Vec::new(), &mut all);
    let replacements = [
        Value::Null,
        json!(0),
        json!(-1),
        json!(1.5),
        json!(1e30),
        json!("x"),
        json!(""),
        json!(true),
        json!([]),
        json!(["x"]),
        json!({}),
    ];
    let mut out = Vec::new();
    for p in all {
        if p.is_empty() {
            continue;
        }
        for r in &replacements {
            let mut d = doc.clone();
            *at_mut(&mut d, &p) = r.clone();
            out.push(d);
        }
        if let Some((Step::Key(k), parent)) = p.split_last() {
            let mut d = doc.clone();
            if let Value::Object(m) = at_mut(&mut d, parent) {
                m.remove(k);
            }
            out.push(d);
        }
        let mut d = doc.clone();
        if let Value::Object(m) = at_mut(&mut d, &p) {
            m.insert("zz_unknown".into(), json!(1));
            out.push(d);
        }
    }
    out
}

#[derive(Clone)]
enum Step {
    Key(String),
    Index(usize),
}

fn at_mut<'a>(v: &'a mut Value, path: &[Step]) -> &'a mut Value {
    path.iter().fold(v, |v, s| match s {
        Step::Key(k) => &mut v[k.as_str()],
        Step::Index(i) => &mut v[*i],
    })
}

/// Runs `accepts` (the library) and the schema over every single change of `doc`: whatever
/// the library accepts, the schema must accept. Returns (changes, accepted by the library,
/// refused by both), so a caller can check the test exercised both sides.
fn agree(
    doc: &Value,
    schema: &Validator,
    accepts: impl Fn(&Value) -> bool,
    what: &str,
) -> (usize, usize, usize) {
    let changes = single_changes(doc);
    let (mut accepted, mut both_refuse) = (0, 0);
    for d in &changes {
        let code = accepts(d);
        let valid = schema.is_valid(d);
        if code {
            accepted += 1;
            if !valid {
                let errors: Vec<String> = schema
                    .iter_errors(d)
                    .map(|e| format!("  at {}: {e}", e.instance_path()))
                    .collect();
                panic!(
                    "{what}: the library accepts a document the schema refuses:\n{}\n{}",
                    serde_json::to_string(d).unwrap(),
                    errors.join("\n")
                );
            }
        } else if !valid {
            both_refuse += 1;
        }
    }
    (changes.len(), accepted, both_refuse)
}

#[test]
fn the_policy_schema_accepts_every_policy_the_library_accepts() {
    let accepts = |d: &Value| Policy::from_value(d.clone()).is_ok();
    for (doc, what) in [
        (kitchen_sink(), "kitchen sink"),
        (
            serde_json::from_str(&read(&root().join("examples/policy/minimal.json"))).unwrap(),
            "examples/policy/minimal.json",
        ),
    ] {
        let (n, accepted, refused) = agree(&doc, &schemas().policy, accepts, what);
        assert!(
            n > 500 && accepted > 100 && refused > 100,
            "{what}: {n} changes, {accepted} accepted, {refused} refused by both"
        );
    }
}

#[test]
fn the_profile_schema_accepts_every_profile_the_library_accepts() {
    let accepts = |d: &Value| Profile::from_value(d.clone()).is_ok();
    let (n, accepted, refused) = agree(&sink_profile(), &schemas().profile, accepts, "profile");
    assert!(
        n > 100 && accepted > 10 && refused > 50,
        "{n} {accepted} {refused}"
    );
}

#[test]
fn the_event_line_schema_accepts_every_line_the_library_accepts() {
    let accepts =
        |d: &Value| parse_line(&serde_json::to_vec(d).unwrap()).is_ok_and(|e| e.is_some());
    let mut lines = sink_log();
    // The reload line's inline policy is checked by the policy test; keep this one small.
    lines.retain(|l| l["op"] != "reload");
    lines.push(json!({"op": "reload", "ts": 5, "policy_file": "next.json"}));
    lines.push(json!({"op": "observe", "ts": 5, "system": "bot", "signal": "latency", "value": 3}));
    lines.push(json!({"op": "report", "ts": 5, "incident": "bot/quality/1", "kind": "final", "reference": ""}));
    lines.push(json!({"op": "silence", "ts": 5, "id": "s", "category": "quality", "rule": "error-rate", "starts": 1, "ends": 2}));
    let mut ops = std::collections::BTreeSet::new();
    for l in &lines {
        ops.insert(
            l.get("op")
                .and_then(Value::as_str)
                .unwrap_or("observe")
                .to_owned(),
        );
        let (n, accepted, refused) = agree(l, &schemas().event, accepts, &format!("line {l}"));
        assert!(
            n > 10 && accepted > 0 && refused > 0,
            "{l}: {n} {accepted} {refused}"
        );
    }
    assert_eq!(ops.len(), 8, "every op: {ops:?}");
}

#[test]
fn documents_both_refuse() {
    let s = schemas();
    let policy = |f: &dyn Fn(&mut Value)| {
        let mut d = kitchen_sink();
        f(&mut d);
        d
    };
    let bad_policies: Vec<(&str, Value)> = vec![
        (
            "unknown top-level field",
            policy(&|d| d["colour"] = json!("red")),
        ),
        ("schema 2", policy(&|d| d["schema"] = json!(2))),
        (
            "one grade",
            policy(&|d| d["grades"] = json!([{"id": "only"}])),
        ),
        (
            "a second grade without min_score",
            policy(&|d| d["grades"][1].as_object_mut().unwrap().clear()),
        ),
        (
            "an id with a control character",
            policy(&|d| d["signals"][0]["id"] = json!("a\u{7}b")),
        ),
        (
            "silence_ms with a window",
            policy(&|d| d["rules"][5]["window_ms"] = json!(60000)),
        ),
        (
            "rate without per",
            policy(&|d| {
                d["rules"][0].as_object_mut().unwrap().remove("per");
            }),
        ),
        (
            "mean with per",
            policy(&|d| d["rules"][3]["per"] = json!("requests")),
        ),
        (
            "count without a window",
            policy(&|d| {
                d["rules"][9].as_object_mut().unwrap().remove("window_ms");
            }),
        ),
        (
            "three thresholds",
            policy(&|d| d["rules"][1]["thresholds"]["low"] = json!([1, 2, 3])),
        ),
        (
            "hysteresis 1",
            policy(&|d| d["rules"][0]["hysteresis"] = json!(1)),
        ),
        (
            "wilson_z on max",
            policy(&|d| d["rules"][1]["wilson_z"] = json!(1.96)),
        ),
        (
            "alpha on cusum",
            policy(&|d| d["rules"][7]["alpha"] = json!(0.5)),
        ),
        ("alpha 0", policy(&|d| d["rules"][6]["alpha"] = json!(0))),
        (
            "cusum below",
            policy(&|d| d["rules"][7]["direction"] = json!("below")),
        ),
        (
            "on_empty on ewma",
            policy(&|d| d["rules"][6]["on_empty"] = json!("clear")),
        ),
        (
            "psi without reference",
            policy(&|d| {
                d["rules"][8].as_object_mut().unwrap().remove("reference");
            }),
        ),
        (
            "unknown action",
            policy(&|d| d["responses"]["levels"]["red"]["actions"] = json!(["page"])),
        ),
        (
            "report_regulator under incidents",
            policy(&|d| d["responses"]["levels"]["red"]["actions"] = json!(["report_regulator"])),
        ),
        (
            "report_within_s under incidents",
            policy(&|d| d["responses"]["overrides"][0]["report_within_s"] = json!(60)),
        ),
        (
            "a category id with / under incidents",
            policy(&|d| d["categories"][2]["id"] = json!("a/b")),
        ),
        (
            "no severity for red",
            policy(&|d| {
                d["incidents"]["severity_by_level"]
                    .as_object_mut()
                    .unwrap()
                    .remove("red");
            }),
        ),
        (
            "a severity below open_at",
            policy(&|d| d["incidents"]["severity_by_level"]["yellow"] = json!("serious")),
        ),
        (
            "escalation raise_by 5",
            policy(&|d| d["escalation"]["raise_by"] = json!(5)),
        ),
        (
            "an empty floor condition",
            policy(&|d| d["classification"]["floors"][0]["when"] = json!({})),
        ),
        (
            "points beyond a million",
            policy(&|d| d["classification"]["sectors"]["general"] = json!(2_000_000)),
        ),
        ("bucket_ms 0", policy(&|d| d["bucket_ms"] = json!(0))),
        (
            "no target categories",
            policy(&|d| d["inhibit"][0]["target"]["categories"] = json!([])),
        ),
    ];
    for (what, d) in &bad_policies {
        assert!(
            Policy::from_value(d.clone()).is_err(),
            "the library accepts a policy with {what}"
        );
        assert!(
            !s.policy.is_valid(d),
            "the schema accepts a policy with {what}"
        );
    }
    let profile = |f: &dyn Fn(&mut Value)| {
        let mut d = sink_profile();
        f(&mut d);
        d
    };
    for (what, d) in [
        (
            "no users",
            profile(&|d| {
                d.as_object_mut().unwrap().remove("users");
            }),
        ),
        ("negative users", profile(&|d| d["users"] = json!(-1))),
        ("users as text", profile(&|d| d["users"] = json!("2000"))),
        ("an unknown field", profile(&|d| d["colour"] = json!("red"))),
        ("an empty id", profile(&|d| d["id"] = json!(""))),
        (
            "null capabilities",
            profile(&|d| d["capabilities"] = Value::Null),
        ),
        (
            "a number among capabilities",
            profile(&|d| d["capabilities"] = json!([1])),
        ),
        (
            "a capability listed twice",
            profile(&|d| d["capabilities"] = json!(["generative", "generative"])),
        ),
        (
            "a mitigation listed twice",
            profile(&|d| d["mitigations"] = json!(["bias_audit", "bias_audit"])),
        ),
    ] {
        assert!(
            Profile::from_value(d.clone()).is_err(),
            "the library accepts a profile with {what}"
        );
        assert!(
            !s.profile.is_valid(&d),
            "the schema accepts a profile with {what}"
        );
    }
    for line in [
        r#"{"op": "tick"}"#,
        r#"{"op": "tick", "ts": null}"#,
        r#"{"op": "tick", "ts": 1, "system": "a"}"#,
        r#"{"op": "jump", "ts": 1}"#,
        r#"{"ts": 1, "system": "a"}"#,
        r#"{"ts": 1, "system": "a", "signal": "s", "values": {"s": 1}}"#,
        r#"{"ts": 1, "system": "a", "values": {"s": "1"}}"#,
        r#"{"ts": 1, "system": "a", "signal": "s", "colour": 1}"#,
        r#"{"op": "register", "profile": {"id": "x"}}"#,
        r#"{"op": "report", "ts": 1, "incident": "a/b/1", "kind": "interim", "reference": "r"}"#,
        r#"{"op": "ack", "ts": 1, "incident": "a/b/1"}"#,
        r#"{"op": "reload", "ts": 1}"#,
        r#"{"op": "reload", "ts": 1, "policy_file": "a", "policy": {"schema": 1}}"#,
        r#"{"op": "silence", "ts": 1, "id": "s", "starts": 1}"#,
        r#"{"op": "unsilence", "ts": 1}"#,
    ] {
        let v: Value = serde_json::from_str(line).unwrap();
        assert!(
            parse_line(line.as_bytes()).is_err(),
            "the library accepts {line}"
        );
        assert!(!s.event.is_valid(&v), "the schema accepts {line}");
    }
    let t = json!({"seq": 1, "ts": 0, "scope": "system", "system": "a", "grade": "low", "rule": null,
                   "category": null, "from": "none", "to": "blue", "value": null, "threshold": null,
                   "actions": ["log"], "report_within_s": null, "basis": null});
    assert_valid(&s.transition, &t, "a system transition");
    for bad in [
        json!({"rule": "r"}),
        json!({"to": "purple"}),
        json!({"actions": ["page"]}),
        json!({"seq": 0}),
        json!({"kind": "incident"}),
        json!({"to": "none"}),
        json!({"extra": 1}),
    ] {
        let mut d = t.clone();
        for (k, v) in bad.as_object().unwrap() {
            d[k] = v.clone();
        }
        assert!(
            !s.transition.is_valid(&d),
            "the schema accepts the transition {d}"
        );
    }
    let e = json!({"kind": "incident", "seq": 2, "ts": 5, "event": "report_filed", "incident": "bot/quality/1",
                   "system": "bot", "category": "quality", "severity": "serious", "reportable": true,
                   "operator_type": "cii", "due": null, "rule": null, "level": null, "basis": "b",
                   "report": "initial", "late": false, "reference": "R-1"});
    assert_valid(&s.incident, &e, "a filing");
    for bad in [
        json!({"reference": null}),
        json!({"event": "filed"}),
        json!({"event": "opened"}),
        json!({"incident": "bot-quality-1"}),
        json!({"due": {"report": "ack", "by": 5}}),
        json!({"by": "someone"}),
        json!({"kind": "transition"}),
    ] {
        let mut d = e.clone();
        for (k, v) in bad.as_object().unwrap() {
            d[k] = v.clone();
        }
        assert!(
            !s.incident.is_valid(&d),
            "the schema accepts the incident event {d}"
        );
    }
}
