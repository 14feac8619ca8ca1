//! The `airisk` command line, run as a process: every subcommand's success path, exit
//! codes, error reporting (JSON paths, line numbers), stdin input and option placement.

use serde_json::{Value, json};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

const BIN: &str = env!("CARGO_BIN_EXE_airisk");

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn profile_path(name: &str) -> PathBuf {
    root().join("seeds/profiles").join(format!("{name}.json"))
}

/// A fresh directory under the system temp dir (no tempfile crate).
fn tmp_dir() -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let d = std::env::temp_dir().join(format!(
        "airisk-cli-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(root())
        .output()
        .expect("run airisk")
}

fn run_stdin(args: &[&str], input: &str) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .current_dir(root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn airisk");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn out(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn err(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exit code")
}

fn profile_json(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(profile_path(name)).unwrap()).unwrap()
}

fn register_line(name: &str) -> String {
    json!({"op": "register", "ts": 0, "profile": profile_json(name)}).to_string()
}

// ------------------------------------------------------------------ validate

#[test]
fn validate_accepts_the_default_policy() {
    let o = run(&["validate", "seeds/policy/default.json"]);
    assert_eq!(code(&o), 0, "{}", err(&o));
    assert_eq!(out(&o), "ok\n");
}

#[test]
fn validate_summary_counts_in_singular_and_plural() {
    let d = tmp_dir();
    let mut p: Value =
        serde_json::from_str(include_str!("../examples/policy/minimal.json")).unwrap();
    // One signal, one rule over one bucket.
    p["signals"] = json!([{"id": "errors", "kind": "counter", "category": "reliability"}]);
    p["rules"] = json!([{"id": "errors", "signal": "errors", "aggregate": "sum",
        "window_ms": 60000, "thresholds": {"low": [1, 2, 3, 4], "high": [1, 2, 3, 4]}}]);
    let one = write(&d, "one.json", &p.to_string());
    let o = run(&["validate", one.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", err(&o));
    assert!(
        err(&o).ends_with(" — 2 grades, 1 category, 1 signal, 1 rule, 1 bucket per system\n"),
        "{}",
        err(&o)
    );
    let o = run(&["validate", "seeds/policy/default.json"]);
    assert!(
        err(&o)
            .contains(" — 5 grades, 19 categories, 41 signals, 35 rules, 452 buckets per system"),
        "{}",
        err(&o)
    );
}

#[test]
fn validate_lists_every_problem_with_its_json_path() {
    let mut p: Value = serde_json::from_str(include_str!("../seeds/policy/default.json")).unwrap();
    // Two problems: thresholds that decrease for direction "above", and an unknown field.
    p["rules"][3]["thresholds"]["major"] = json!([0.5, 0.1, 0.2, 0.3]);
    p["rules"][0]["colour"] = json!("red");
    let d = tmp_dir();
    let f = write(&d, "bad.json", &p.to_string());
    let o = run(&["validate", f.to_str().unwrap()]);
    assert_eq!(code(&o), 1);
    // Each problem once, on stderr; nothing on stdout.
    assert_eq!(out(&o), "");
    let e = err(&o);
    let with = |prefix: &str, word: &str| {
        e.lines()
            .filter(|l| l.starts_with(prefix) && l.contains(word))
            .count()
    };
    assert_eq!(with("rules[3].thresholds.major", ""), 1, "{e}");
    assert_eq!(with("rules[0]", "colour"), 1, "{e}");
    assert!(
        e.lines()
            .last()
            .unwrap()
            .ends_with("bad.json: invalid policy (2 problems)"),
        "{e}"
    );
    // --json: the same problems as one JSON object on stdout, nothing on stderr.
    let o = run(&["validate", "--json", f.to_str().unwrap()]);
    assert_eq!(code(&o), 1);
    assert_eq!(err(&o), "");
    let v: Value = serde_json::from_str(&out(&o)).unwrap();
    assert_eq!(v["ok"], false);
    let problems = v["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 2, "{v}");
    assert!(
        problems
            .iter()
            .any(|p| p["path"] == "rules[3].thresholds.major"
                && p["reason"].as_str().unwrap().contains("must not decrease")),
        "{v}"
    );
    let o = run(&["validate", "--json", "seeds/policy/default.json"]);
    assert_eq!(code(&o), 0);
    let v: Value = serde_json::from_str(&out(&o)).unwrap();
    assert_eq!(
        (v["ok"].as_bool(), v["rules"].as_u64()),
        (Some(true), Some(35))
    );
}

#[test]
fn validate_reports_malformed_json_and_missing_files() {
    let d = tmp_dir();
    let f = write(&d, "broken.json", "{\"schema\": 1,\n  \"grades\": [}");
    let o = run(&["validate", f.to_str().unwrap()]);
    assert_eq!(code(&o), 1);
    assert!(err(&o).contains("line 2"), "{}", err(&o));
    assert_eq!(err(&o).matches("line 2").count(), 1, "{}", err(&o));
    let o = run(&["validate", "/nonexistent/policy.json"]);
    assert_eq!(code(&o), 1);
    assert!(err(&o).contains("cannot read"), "{}", err(&o));
}

// ------------------------------------------------------------------ classify

#[test]
fn classify_prints_grade_score_and_explanation() {
    let o = run(&["classify", "seeds/profiles/hospital-triage-chatbot.json"]);
    assert_eq!(code(&o), 0, "{}", err(&o));
    let v: Value = serde_json::from_str(&out(&o)).unwrap();
    assert_eq!(v["grade"], "major");
    assert_eq!(v["score"], 10);
    assert_eq!(v["id"], "hospital-triage-chatbot");
    assert_eq!(v["score_grade"], "significant");
    let factors = v["factors"].as_array().unwrap();
    let sum: i64 = factors.iter().map(|f| f["points"].as_i64().unwrap()).sum();
    assert_eq!(sum, 10);
    assert!(factors.iter().all(|f| f["basis"].is_string()));
    let floors: Vec<&str> = v["floors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap())
        .collect();
    assert!(
        floors.contains(&"clinical-automated-decision"),
        "{floors:?}"
    );
}

#[test]
fn classify_matches_every_expected_example_as_json_lines() {
    let expected: Value =
        serde_json::from_str(include_str!("../seeds/profiles/expected.json")).unwrap();
    let mut names: Vec<String> = expected.as_object().unwrap().keys().cloned().collect();
    names.sort();
    let paths: Vec<String> = names
        .iter()
        .map(|n| format!("seeds/profiles/{n}"))
        .collect();
    let mut args = vec!["classify"];
    args.extend(paths.iter().map(String::as_str));
    let o = run(&args);
    assert_eq!(code(&o), 0, "{}", err(&o));
    let text = out(&o);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), names.len(), "one JSON per line:\n{text}");
    for (line, name) in lines.iter().zip(&names) {
        let v: Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["grade"], expected[name]["grade"], "{name}");
        assert_eq!(v["score"], expected[name]["score"], "{name}");
    }
}

#[test]
fn classify_table_shows_factors_points_basis_and_floors() {
    let o = run(&[
        "classify",
        "--format",
        "table",
        "seeds/profiles/autonomous-bus.json",
    ]);
    assert_eq!(code(&o), 0, "{}", err(&o));
    let t = out(&o);
    assert!(t.contains("grade critical"), "{t}");
    assert!(t.contains("score 12"), "{t}");
    assert!(
        t.contains("factor") && t.contains("points") && t.contains("basis"),
        "{t}"
    );
    assert!(
        t.contains("sector autonomous_driving") && t.contains("+5"),
        "{t}"
    );
    assert!(
        t.contains("mitigation safety_validation") && t.contains("-1"),
        "{t}"
    );
    assert!(t.contains("driverless-passenger-service"), "{t}");
}

#[test]
fn classify_rejects_a_bad_profile_naming_the_field() {
    let d = tmp_dir();
    let mut p = profile_json("shopping-recommender");
    p["sector"] = json!("time_travel");
    let bad = write(&d, "bad.json", &p.to_string());
    let o = run(&["classify", bad.to_str().unwrap()]);
    assert_eq!(code(&o), 1);
    assert!(out(&o).is_empty());
    let e = err(&o);
    assert!(e.contains("sector") && e.contains("time_travel"), "{e}");

    let missing = write(&d, "missing.json", r#"{"id": "x", "sector": "finance"}"#);
    let o = run(&["classify", missing.to_str().unwrap()]);
    assert_eq!(code(&o), 1);
    assert!(err(&o).contains("data"), "{}", err(&o));

    // A good and a bad profile: the good one is printed, the exit status is still 1.
    let o = run(&[
        "classify",
        "seeds/profiles/delivery-drone.json",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 1);
    assert!(out(&o).contains("\"delivery-drone\""));
}

#[test]
fn classify_reports_every_problem_of_a_profile_once_in_plain_words() {
    let d = tmp_dir();
    // Three bad fields: a sector that is close to a valid one, a typo in a capability,
    // and users that are not a number.
    let p = json!({"id": "bot", "sector": "healthcare", "data": "personal",
                   "autonomy": "human_in_the_loop", "users": "many",
                   "capabilities": ["generatve"]});
    let bad = write(&d, "three.json", &p.to_string());
    let o = run(&["classify", bad.to_str().unwrap()]);
    assert_eq!(code(&o), 1);
    assert_eq!(out(&o), "");
    let e = err(&o);
    let name = bad.to_str().unwrap();
    let lines: Vec<&str> = e.lines().collect();
    assert_eq!(lines.len(), 3, "{e}");
    assert!(
        lines[0].starts_with(&format!(
            "{name}: sector: unknown sector \"healthcare\"; did you mean \"healthcare_clinical\"? valid: "
        )),
        "{e}"
    );
    assert!(lines[0].contains("healthcare_patient_services"), "{e}");
    assert!(
        lines[1].starts_with(&format!(
            "{name}: capabilities[0]: unknown capability \"generatve\"; did you mean \"generative\"?"
        )),
        "{e}"
    );
    assert_eq!(
        lines[2],
        format!("{name}: users: users must be a whole number ≥ 0, found \"many\"")
    );
    for jargon in ["expected u64", "invalid type", "`"] {
        assert!(!e.contains(jargon), "{e}");
    }
}

#[test]
fn duplicate_keys_and_repeated_list_values_are_refused_by_every_command() {
    let d = tmp_dir();
    let prof = r#"{"id": "bot", "sector": "finance", "sector": "education", "data": "personal", "autonomy": "autonomous", "users": 1}"#;
    let dup_key = write(&d, "dup-key.json", prof);
    let twice = write(
        &d,
        "twice.json",
        r#"{"id": "bot", "sector": "finance", "capabilities": ["generative", "profiling", "generative"],
            "data": "personal", "autonomy": "autonomous", "users": 1}"#,
    );
    // classify: a file profile.
    let o = run(&["classify", dup_key.to_str().unwrap()]);
    assert_eq!(code(&o), 1);
    assert_eq!(
        err(&o),
        format!(
            "{}: invalid JSON: duplicate key \"sector\" at line 1 column 43\n",
            dup_key.display()
        )
    );
    let o = run(&["classify", twice.to_str().unwrap()]);
    assert_eq!(code(&o), 1);
    assert_eq!(
        err(&o),
        format!(
            "{}: capabilities[2]: capability \"generative\" is listed twice (also at capabilities[0]); list each once\n",
            twice.display()
        )
    );
    // replay: inline profiles and policies.
    let log = [
        format!(r#"{{"op": "register", "ts": 0, "profile": {prof}}}"#),
        r#"{"op": "register", "ts": 0, "profile": {"id": "b", "sector": "finance", "data": "personal", "autonomy": "autonomous", "users": 1, "mitigations": ["bias_audit", "bias_audit"]}}"#.to_owned(),
        r#"{"op": "reload", "ts": 1, "policy": {"schema": 1, "schema": 1}}"#.to_owned(),
    ];
    let o = run_stdin(&["replay", "-"], &(log.join("\n") + "\n"));
    assert_eq!(code(&o), 1);
    let e = err(&o);
    let lines: Vec<&str> = e.lines().take(3).collect();
    assert_eq!(
        lines,
        [
            "<stdin>:1: invalid profile: profile: invalid JSON: duplicate key \"sector\" at column 82 [invalid_profile]",
            "<stdin>:2: invalid profile: profile.mitigations[1]: mitigation \"bias_audit\" is listed twice (also at mitigations[0]); list each once [invalid_profile]",
            "<stdin>:3: the reload's policy is invalid: policy: invalid JSON: duplicate key \"schema\" at column 58 [reload_refused]",
        ],
        "{e}"
    );
    assert!(e.contains("systems      0 systems at the end"), "{e}");
    // test: an inline profile of a test file.
    let t = format!(r#"{{"tests": [{{"name": "dup", "profiles": [{prof}]}}]}}"#);
    let f = write(&d, "dup-tests.json", &t);
    let o = run(&["test", f.to_str().unwrap()]);
    assert_eq!(code(&o), 1);
    assert!(
        out(&o).starts_with(&format!(
            "{}: invalid test file: tests[0].profiles[0]: duplicate key \"sector\" at line 1 column 83\n",
            f.display()
        )),
        "{}",
        out(&o)
    );
    // diff --profiles: a profile of the folder.
    let dir = d.join("profiles");
    std::fs::create_dir_all(&dir).unwrap();
    write(&dir, "bot.json", prof);
    let o = run(&[
        "diff",
        "seeds/policy/default.json",
        "seeds/policy/default.json",
        "--profiles",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 2);
    assert!(
        err(&o).contains("bot.json: invalid JSON: duplicate key \"sector\" at line 1 column 43"),
        "{}",
        err(&o)
    );
}

#[test]
fn classify_uses_the_given_policy_wherever_the_option_is() {
    let mut p: Value = serde_json::from_str(include_str!("../seeds/policy/default.json")).unwrap();
    // Make shopping worth 10 more points: general (7) becomes critical (17).
    p["classification"]["sectors"]["consumer_services"]["score"] = json!(11);
    let d = tmp_dir();
    let pol = write(&d, "p.json", &p.to_string());
    for args in [
        vec![
            "classify",
            "--policy",
            pol.to_str().unwrap(),
            "seeds/profiles/shopping-recommender.json",
        ],
        vec![
            "classify",
            "seeds/profiles/shopping-recommender.json",
            "--policy",
            pol.to_str().unwrap(),
        ],
    ] {
        let o = run(&args);
        assert_eq!(code(&o), 0, "{}", err(&o));
        let v: Value = serde_json::from_str(&out(&o)).unwrap();
        assert_eq!(v["score"], 17);
        assert_eq!(v["grade"], "critical");
    }
}

// ------------------------------------------------------------------ replay

/// The transition form of `docs/formats.md` (14 members), plus `"kind": "transition"` under
/// a policy with incidents (`kind`), plus the display names the policy gives.
fn check_transition_form(v: &Value, kind: bool) {
    let core = [
        "seq",
        "ts",
        "scope",
        "system",
        "grade",
        "rule",
        "category",
        "from",
        "to",
        "value",
        "threshold",
        "actions",
        "report_within_s",
        "basis",
    ];
    for k in core {
        assert!(v.get(k).is_some(), "missing {k} in {v}");
    }
    let names = ["grade_name", "rule_name", "category_name"];
    let o = v.as_object().unwrap();
    for k in o.keys() {
        assert!(
            core.contains(&k.as_str()) || names.contains(&k.as_str()) || (kind && k == "kind"),
            "unexpected member {k} in {v}"
        );
    }
    if kind {
        assert_eq!(v["kind"], "transition", "{v}");
    }
}

fn json_lines(o: &Output) -> Vec<Value> {
    out(o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn replay_prints_transitions_as_json_lines_and_a_summary() {
    let d = tmp_dir();
    let log = [
        register_line("autonomous-bus"),
        r#"{"op": "observe", "ts": 600000, "system": "autonomous-bus", "signal": "safety_incidents", "value": 1}"#.into(),
        r#"{"ts": 600000, "system": "autonomous-bus", "signal": "heartbeat"}"#.into(),
        r#"{"op": "tick", "ts": 800000}"#.into(),
    ]
    .join("\n");
    let f = write(&d, "events.jsonl", &log);
    let o = run(&["replay", f.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", err(&o));
    let lines = json_lines(&o);
    // The rule's transition, the incident it opened (right after it), the system's.
    assert_eq!(lines.len(), 3, "{}", out(&o));
    // `kind` comes first in each line, transitions and incident events alike.
    for l in out(&o).lines() {
        assert!(l.starts_with(r#"{"kind":""#), "{l}");
    }
    let (r, i, s) = (&lines[0], &lines[1], &lines[2]);
    check_transition_form(r, true);
    check_transition_form(s, true);
    assert_eq!(r["seq"], 1);
    assert_eq!(r["ts"], 600000);
    assert_eq!(r["scope"], "rule");
    assert_eq!(r["system"], "autonomous-bus");
    assert_eq!(r["grade"], "critical");
    assert_eq!(r["rule"], "safety-incidents");
    assert_eq!(r["category"], "physical_safety");
    assert_eq!(
        (r["from"].as_str(), r["to"].as_str()),
        (Some("none"), Some("orange"))
    );
    assert_eq!(r["threshold"], 1.0);
    // Deadlines live on incidents: transitions carry none, and no report_regulator.
    assert!(r["report_within_s"].is_null(), "{r}");
    let actions = r["actions"].as_array().unwrap();
    assert!(actions.contains(&json!("suspend")), "{r}");
    assert!(!actions.contains(&json!("report_regulator")), "{r}");
    assert_eq!(r["rule_name"]["zh"], "人身与物理安全事件");
    // The incident: the bus operator runs critical information infrastructure (1 h).
    assert_eq!(i["kind"], "incident", "{i}");
    assert_eq!(i["seq"], 1);
    assert_eq!(i["ts"], 600000);
    assert_eq!(i["event"], "opened");
    assert_eq!(i["incident"], "autonomous-bus/physical_safety/1");
    assert_eq!(i["severity"], "serious");
    assert_eq!(i["reportable"], true);
    assert_eq!(i["operator_type"], "cii");
    assert_eq!(
        i["due"],
        json!({"report": "initial", "by": 600000 + 3_600_000})
    );
    assert_eq!(
        (i["rule"].as_str(), i["level"].as_str()),
        (Some("safety-incidents"), Some("orange"))
    );
    assert!(
        i["basis"]
            .as_str()
            .unwrap()
            .contains("国家网络安全事件报告管理办法"),
        "{i}"
    );
    assert_eq!(s["seq"], 2);
    assert_eq!(s["scope"], "system");
    assert!(s["rule"].is_null() && s["value"].is_null() && s["threshold"].is_null());
    let e = err(&o);
    assert!(e.contains("4 read, 4 accepted"), "{e}");
    assert!(e.contains("1 register, 2 observe, 1 tick"), "{e}");
    assert!(e.contains("0 rejected"), "{e}");
    assert!(e.contains("orange 1"), "{e}");
    assert!(
        e.contains("incidents    1 (serious 1), 1 reportable; 1 incident event\n"),
        "{e}"
    );
    assert!(
        e.contains("reporting    0 reports filed on time, 0 late; 0 deadlines missed\n"),
        "{e}"
    );
    assert!(e.contains("events/s"), "{e}");
}

#[test]
fn replay_summary_counts_silence_lines_and_muted_transitions() {
    let o = run(&["replay", "seeds/scenarios/triage-upgrade.jsonl"]);
    assert_eq!(code(&o), 0, "{}", err(&o));
    let lines = json_lines(&o);
    let silenced = lines
        .iter()
        .filter(|v| v["kind"] == "transition" && v.get("silenced").is_some_and(|x| !x.is_null()))
        .count();
    assert!(silenced > 0);
    let e = err(&o);
    // Every accepted line is in the breakdown.
    let events = e.lines().find(|l| l.starts_with("events ")).unwrap();
    assert!(events.contains(", 1 silence/unsilence)"), "{e}");
    assert!(
        e.contains(&format!(
            "muted        {silenced} transitions (actions reduced to log): {silenced} silenced, 0 inhibited, 0 both"
        )),
        "{e}"
    );
}

/// The default policy without its `incidents` section.
fn policy_without_incidents(d: &Path) -> PathBuf {
    let mut p: Value = serde_json::from_str(include_str!("../seeds/policy/default.json")).unwrap();
    p.as_object_mut().unwrap().remove("incidents").unwrap();
    write(d, "no-incidents.json", &p.to_string())
}

#[test]
fn replay_under_a_policy_without_incidents_prints_transitions_as_before() {
    let d = tmp_dir();
    let pol = policy_without_incidents(&d);
    let log = format!(
        "{}\n{}\n",
        register_line("autonomous-bus"),
        r#"{"ts": 600000, "system": "autonomous-bus", "signal": "safety_incidents"}"#,
    );
    let o = run_stdin(&["replay", "--policy", pol.to_str().unwrap(), "-"], &log);
    assert_eq!(code(&o), 0, "{}", err(&o));
    let lines = json_lines(&o);
    // No incident, no `kind`: the rule's and the system's transitions only.
    assert_eq!(lines.len(), 2, "{}", out(&o));
    for v in &lines {
        check_transition_form(v, false);
        assert!(v.get("kind").is_none(), "{v}");
    }
    assert!(
        out(&o).starts_with(r#"{"seq":1,"ts":600000,"scope":"rule""#),
        "{}",
        out(&o)
    );
    assert!(!err(&o).contains("incidents"), "{}", err(&o));
    // An ack line is rejected: there is no incident to acknowledge.
    let o = run_stdin(
        &["replay", "--policy", pol.to_str().unwrap(), "-"],
        &format!(
            "{log}{}\n",
            r#"{"op": "ack", "ts": 700000, "incident": "autonomous-bus/physical_safety/1", "by": "me"}"#
        ),
    );
    assert_eq!(code(&o), 1);
    assert!(err(&o).contains("<stdin>:3: "), "{}", err(&o));
    assert!(err(&o).contains("[unknown_incident]"), "{}", err(&o));
}

#[test]
fn replay_prints_incident_events_in_emission_order_and_counts_them() {
    let d = tmp_dir();
    let bus = "autonomous-bus/physical_safety/1";
    let mut log = vec![register_line("autonomous-bus")];
    // Heartbeats and ticks every 5 min for 2 h; one safety incident at 0:10, a second at
    // 0:40 (red: critical); acknowledged at 0:15, the initial report filed at 0:20 (on
    // time); the escalation at 0:40 makes an update report due 1 h later (1:40), filed at
    // 1:45 (late).
    for m in (0..=120).step_by(5) {
        let ts = m * 60_000;
        log.push(json!({"ts": ts, "system": "autonomous-bus", "signal": "heartbeat"}).to_string());
        if m == 10 || m == 40 {
            log.push(
                json!({"ts": ts, "system": "autonomous-bus", "signal": "safety_incidents"})
                    .to_string(),
            );
        }
        log.push(json!({"op": "tick", "ts": ts}).to_string());
        match m {
            15 => log.push(json!({"op": "ack", "ts": ts, "incident": bus, "by": "supervisor"}).to_string()),
            20 => log.push(json!({"op": "report", "ts": ts, "incident": bus, "kind": "initial", "reference": "R-1"}).to_string()),
            105 => log.push(json!({"op": "report", "ts": ts, "incident": bus, "kind": "update", "reference": "R-2"}).to_string()),
            _ => {}
        }
    }
    // Filing a report that is not owed is rejected with its line number.
    log.push(json!({"op": "report", "ts": 7_300_000, "incident": bus, "kind": "update", "reference": "R-3"}).to_string());
    let f = write(&d, "incidents.jsonl", &log.join("\n"));
    let o = run(&["replay", f.to_str().unwrap()]);
    assert_eq!(code(&o), 1, "{}", err(&o));
    let e = err(&o);
    let last = log.len();
    assert!(
        e.lines().any(
            |l| l.starts_with(&format!("{}:{last}: ", f.display())) && l.ends_with("[not_due]")
        ),
        "{e}"
    );
    let lines = json_lines(&o);
    let events: Vec<&Value> = lines.iter().filter(|v| v["kind"] == "incident").collect();
    let kinds: Vec<(&str, i64)> = events
        .iter()
        .map(|v| (v["event"].as_str().unwrap(), v["ts"].as_i64().unwrap()))
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("opened", 600_000),
            ("acknowledged", 900_000),
            ("report_filed", 1_200_000),
            ("escalated", 2_400_000),
            ("overdue", 6_000_000),
            ("report_filed", 6_300_000),
        ],
        "{}",
        out(&o)
    );
    // Incident events have their own seq, from 1, without gaps.
    for (k, v) in events.iter().enumerate() {
        assert_eq!(v["seq"], k as u64 + 1, "{v}");
    }
    assert_eq!(events[3]["severity"], "critical");
    assert_eq!(
        events[3]["due"],
        json!({"report": "update", "by": 6_000_000})
    );
    assert_eq!(
        events[4]["due"],
        json!({"report": "update", "by": 6_000_000})
    );
    assert_eq!(
        (events[5]["report"].as_str(), events[5]["late"].as_bool()),
        (Some("update"), Some(true))
    );
    assert_eq!(events[1]["by"], "supervisor");
    assert_eq!(events[2]["reference"], "R-1");
    // Each incident event comes right after the transition that caused it.
    let pos = |pred: &dyn Fn(&Value) -> bool| lines.iter().position(pred).unwrap();
    let red = pos(&|v| v["kind"] == "transition" && v["to"] == "red" && v["scope"] == "rule");
    assert_eq!(lines[red + 1]["event"], "escalated");
    assert_eq!(lines[red + 2]["scope"], "system");
    assert!(
        e.contains("incidents    1 (critical 1), 1 reportable; 6 incident events"),
        "{e}"
    );
    assert!(
        e.contains("reporting    1 report filed on time, 1 late; 1 deadline missed (update 1)"),
        "{e}"
    );
    assert!(e.contains("3 ack/report"), "{e}");
}

#[test]
fn replay_reports_bad_lines_with_their_numbers_and_goes_on() {
    let d = tmp_dir();
    let lines = [
        register_line("delivery-drone"), // 1
        String::new(),                   // 2 blank
        r#"{"ts": 0, "system": "delivery-drone", "signal": "heartbeat"}"#.into(), // 3 ok
        "{not json".into(),              // 4
        r#"{"op": "teleport", "ts": 1}"#.into(), // 5
        r#"{"ts": 5, "system": "ghost", "signal": "heartbeat"}"#.into(), // 6
        r#"{"ts": 5, "system": "delivery-drone", "signal": "vibes"}"#.into(), // 7
        r#"{"ts": 5, "system": "delivery-drone", "signal": "operations", "value": -2}"#.into(), // 8
        r#"{"op": "tick", "ts": 86400000}"#.into(), // 9 ok
        r#"{"ts": 10, "system": "delivery-drone", "signal": "operations"}"#.into(), // 10 stale
        register_line("delivery-drone"), // 11 duplicate
        r#"{"ts": 86400000, "system": "delivery-drone", "signal": "heartbeat", "extra": 1}"#.into(), // 12
        r#"{"op": "tick"}"#.into(), // 13
        r#"{"ts": 86400001, "system": "delivery-drone", "signal": "heartbeat"}"#.into(), // 14 ok
    ];
    let f = write(&d, "bad.jsonl", &lines.join("\n"));
    let o = run(&["replay", f.to_str().unwrap()]);
    assert_eq!(code(&o), 1);
    let e = err(&o);
    let name = f.to_str().unwrap();
    for (line, what) in [
        (4, "malformed_json"),
        (5, "unknown_op"),
        (6, "unknown_system"),
        (7, "unknown_signal"),
        (8, "invalid_value"),
        (10, "stale"),
        (11, "duplicate_system"),
        (12, "extra"),
        (13, "missing field `ts`"),
    ] {
        let prefix = format!("{name}:{line}: ");
        assert!(
            e.lines()
                .any(|l| l.starts_with(&prefix) && l.contains(what)),
            "line {line} ({what}) not reported:\n{e}"
        );
    }
    // One line number per error: `FILE:6: unknown system "ghost": ... [unknown_system]`.
    let ghost = e
        .lines()
        .find(|l| l.starts_with(&format!("{name}:6: ")))
        .unwrap();
    assert_eq!(
        ghost,
        format!(
            "{name}:6: unknown system \"ghost\": no register line for it came before [unknown_system]"
        )
    );
    assert!(!e.contains(": line "), "{e}");
    for ok in [1, 2, 3, 9, 14] {
        assert!(
            !e.contains(&format!("{name}:{ok}:")),
            "line {ok} wrongly reported:\n{e}"
        );
    }
    // The good lines were applied: the 1-day tick made the drone's heartbeat silent.
    let t: Vec<Value> = out(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        t.iter()
            .any(|v| v["rule"] == "heartbeat-silence" && v["to"] == "red"),
        "{}",
        out(&o)
    );
    assert!(e.contains("13 read, 4 accepted"), "{e}");
    assert!(e.contains("9 rejected"), "{e}");
    assert!(e.contains("stale 1"), "{e}");
}

#[test]
fn replay_reads_stdin_and_options_after_the_file() {
    let mut p: Value = serde_json::from_str(include_str!("../seeds/policy/default.json")).unwrap();
    p["policy_version"] = json!("test-9");
    let d = tmp_dir();
    let pol = write(&d, "p.json", &p.to_string());
    let log = format!(
        "{}\n{}\n",
        register_line("autonomous-bus"),
        r#"{"ts": 60000, "system": "autonomous-bus", "signal": "safety_incidents"}"#
    );
    // The rule's transition, the incident it opens, the system's transition.
    let o = run_stdin(&["replay", "-", "--policy", pol.to_str().unwrap()], &log);
    assert_eq!(code(&o), 0, "{}", err(&o));
    assert_eq!(out(&o).lines().count(), 3);
    assert!(err(&o).contains("<stdin>"), "{}", err(&o));
    let o = run_stdin(&["replay", "--policy", pol.to_str().unwrap(), "-"], &log);
    assert_eq!(code(&o), 0);
    assert_eq!(out(&o).lines().count(), 3);
    // Bad lines on stdin are numbered too (once), with their kind in brackets.
    let o = run_stdin(&["replay", "-"], &format!("{log}\n\n[]\n"));
    assert_eq!(code(&o), 1);
    let e = err(&o);
    let line = e
        .lines()
        .find(|l| l.starts_with("<stdin>:5: "))
        .unwrap_or("");
    assert!(line.ends_with(" [invalid_line]"), "{e}");
    assert!(!line.contains("line 5"), "{e}");
}

#[test]
fn replay_decodes_json_escapes_in_ids_and_tolerates_crlf() {
    let mut p = profile_json("autonomous-bus");
    p["id"] = json!("bus \"7\"");
    let log = format!(
        "{}\r\n{}\r\n",
        json!({"op": "register", "profile": p}),
        r#"{"ts": 1, "system": "bus \"\u0037\"", "signal": "safety_\u0069ncidents"}"#
    );
    let o = run_stdin(&["replay", "-"], &log);
    assert_eq!(code(&o), 0, "{}", err(&o));
    let first: Value = serde_json::from_str(out(&o).lines().next().unwrap()).unwrap();
    assert_eq!(first["system"], "bus \"7\"");
}

#[test]
fn replay_summary_counts_one_event_in_the_singular() {
    let o = run_stdin(
        &["replay", "-"],
        &format!("{}\n", register_line("autonomous-bus")),
    );
    assert_eq!(code(&o), 0, "{}", err(&o));
    assert!(
        err(&o).contains("\nthroughput   1 event in "),
        "{}",
        err(&o)
    );
    assert!(
        err(&o).contains("\nsystems      1 system at the end"),
        "{}",
        err(&o)
    );
}

#[test]
fn replay_without_problems_exits_zero_even_without_transitions() {
    let o = run_stdin(&["replay", "-"], "\n\n");
    assert_eq!(code(&o), 0, "{}", err(&o));
    assert!(out(&o).is_empty());
}

// ------------------------------------------------------------------ usage

#[test]
fn usage_errors_exit_2() {
    for args in [
        vec![],
        vec!["frobnicate"],
        vec!["replay"],
        vec!["replay", "a", "b"],
        vec!["replay", "--colour", "x", "f"],
        vec!["classify", "--format", "xml", "p.json"],
        vec!["classify", "--policy"],
        vec!["validate"],
    ] {
        let o = run(&args);
        assert_eq!(code(&o), 2, "{args:?}: {}", err(&o));
        assert!(err(&o).contains("airisk"), "{args:?}");
    }
    let o = run(&["--help"]);
    assert_eq!(code(&o), 0);
    for cmd in ["validate", "classify", "replay", "test", "journal"] {
        assert!(out(&o).contains(cmd));
    }
    // A mistyped command or option gets a suggestion.
    let o = run(&["valdate", "p.json"]);
    assert_eq!(code(&o), 2);
    assert!(err(&o).contains("'validate'"), "{}", err(&o));
    let o = run(&["replay", "--polcy", "p.json", "e.jsonl"]);
    assert_eq!(code(&o), 2);
    assert!(err(&o).contains("'--policy'"), "{}", err(&o));
    // An option given twice is an error, not a silent choice.
    let o = run(&["classify", "--policy", "a", "--policy", "b", "p.json"]);
    assert_eq!(code(&o), 2, "{}", err(&o));
}

#[test]
fn every_command_has_its_own_help() {
    // `airisk help CMD`, `airisk CMD --help` and `airisk CMD -h` all work (exit 0, stdout).
    let expect: [(&[&str], &[&str]); 6] = [
        (&["validate"], &["POLICY", "--json", "json.path: reason"]),
        (
            &["classify"],
            &["--policy", "--format", "table", "PROFILE", "did you mean"],
        ),
        (
            &["replay"],
            &[
                "EVENTS.jsonl",
                "--html",
                "--reports",
                "\"op\": \"ack\"",
                "\"op\": \"report\"",
                "\"kind\": \"incident\"",
                "--journal",
                "--journal-sync",
                "--journal-new",
                "\"op\": \"register\"",
                "FILE:LINE: reason [kind]",
            ],
        ),
        (
            &["test"],
            &[
                "-v, --verbose",
                "TESTS.json",
                "passed",
                "expect_incidents",
                "expect_no_incident",
            ],
        ),
        (&["journal"], &["verify"]),
        (
            &["journal", "verify"],
            &["--expect-count", "--expect-head", "--json", "head"],
        ),
    ];
    for (cmd, words) in expect {
        let mut help = vec!["help"];
        help.extend_from_slice(cmd);
        let mut long = cmd.to_vec();
        long.push("--help");
        for args in [help, long] {
            let o = run(&args);
            assert_eq!(code(&o), 0, "{args:?}: {}", err(&o));
            let text = out(&o);
            for w in words {
                assert!(text.contains(w), "{args:?} lacks {w:?}:\n{text}");
            }
        }
    }
    // The short form lists the flags too, `-v` of `test` included.
    let o = run(&["test", "-h"]);
    assert_eq!(code(&o), 0);
    assert!(out(&o).contains("-v, --verbose"), "{}", out(&o));
    let o = run(&["--version"]);
    assert_eq!(out(&o), format!("airisk {}\n", env!("CARGO_PKG_VERSION")));
}

// ------------------------------------------------------------------ test

#[test]
fn the_default_policy_tests_pass() {
    let o = run(&["test", "seeds/tests/default-policy.json"]);
    assert_eq!(code(&o), 0, "{}{}", out(&o), err(&o));
    let text = out(&o);
    let summary = text.lines().last().unwrap();
    let passed: u32 = summary.split(' ').next().unwrap().parse().unwrap();
    assert!(passed >= 20, "{summary}");
    assert_eq!(summary, format!("{passed} passed, 0 failed"));
    // Every rule of the default policy is named by some expectation.
    let tests: Value =
        serde_json::from_str(include_str!("../seeds/tests/default-policy.json")).unwrap();
    let named: Vec<&str> = tests["tests"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|t| t["expect"].as_array().unwrap())
        .filter_map(|e| e["rule"].as_str())
        .collect();
    let policy: Value = serde_json::from_str(include_str!("../seeds/policy/default.json")).unwrap();
    for r in policy["rules"].as_array().unwrap() {
        let id = r["id"].as_str().unwrap();
        assert!(
            named.contains(&id),
            "no test expects a transition of rule {id}"
        );
    }
    // The reporting model is tested too: incidents opened with each initial deadline the
    // tests' profiles have (CII 1 h, other operators 4 h), and warnings that report nothing.
    let all = tests["tests"].as_array().unwrap();
    let opened: Vec<(&str, i64)> = all
        .iter()
        .flat_map(|t| t["expect_incidents"].as_array().into_iter().flatten())
        .filter(|e| e["event"] == "opened" && e["due"]["report"] == "initial")
        .map(|e| {
            (
                e["operator_type"].as_str().unwrap_or("?"),
                e["due"]["by"].as_i64().unwrap() - e["at"].as_i64().unwrap(),
            )
        })
        .collect();
    assert!(opened.contains(&("cii", 3_600_000)), "{opened:?}");
    assert!(opened.contains(&("other", 14_400_000)), "{opened:?}");
    let quiet = all
        .iter()
        .filter(|t| {
            t["expect_no_incident"]
                .as_array()
                .is_some_and(|a| !a.is_empty())
        })
        .count();
    assert!(quiet >= 4, "{quiet} tests forbid incidents");
    // No expectation asks for report_regulator any more: responses do not carry it.
    for t in all {
        for e in t["expect"].as_array().into_iter().flatten() {
            assert!(
                !e["actions"].to_string().contains("report_regulator"),
                "{}: {e}",
                t["name"]
            );
        }
    }
}

/// The example of the README's "Policy tests" section passes.
#[test]
fn the_readme_policy_test_example_passes() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let section = &readme[readme.find("\n### Policy tests").expect("the section")..];
    let start = section.find("```json\n").unwrap() + "```json\n".len();
    let example = &section[start..start + section[start..].find("```").unwrap()];
    // Its paths are relative to seeds/tests/.
    let seeds = root().join("seeds");
    let text = example
        .replace("../policy/", &format!("{}/policy/", seeds.display()))
        .replace("../profiles/", &format!("{}/profiles/", seeds.display()));
    let d = tmp_dir();
    let f = write(&d, "readme-example.json", &text);
    let o = run(&["test", f.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", out(&o));
    let t = out(&o);
    assert!(t.trim_end().ends_with("1 passed, 0 failed"), "{t}");
    let v: Value = serde_json::from_str(&text).unwrap();
    assert!(
        v["tests"][0]["expect_incidents"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
    );
}

fn wrong_tests() -> Value {
    json!({"tests": [
        {"name": "right", "profiles": [profile_path("autonomous-bus").to_str().unwrap()],
         "events": [{"tick": 0}, {"op": "tick", "ts": 300000}],
         "expect": [{"system": "autonomous-bus", "rule": "heartbeat-silence", "to": "blue", "at": 300000}]},
        {"name": "deliberately wrong", "profiles": [profile_json("autonomous-bus")],
         "events": [{"ticks": {"from": 0, "until": 1800000, "every_ms": 300000}}],
         "expect": [
            {"system": "autonomous-bus", "rule": "heartbeat-silence", "to": "yellow", "at": 900000},
            {"system": "autonomous-bus", "rule": "safety-incidents", "to": "red", "at": 0}],
         "expect_none": [{"system": "autonomous-bus", "scope": "system", "from": 0, "to": 400000}]}
    ]})
}

#[test]
fn a_wrong_expectation_fails_with_a_readable_message() {
    let d = tmp_dir();
    let f = write(&d, "wrong.json", &wrong_tests().to_string());
    let o = run(&["test", f.to_str().unwrap()]);
    assert_eq!(code(&o), 1);
    let t = out(&o);
    assert!(t.contains("ok    right"), "{t}");
    assert!(t.contains("FAIL  deliberately wrong"), "{t}");
    // What was expected, in words and with its time...
    assert!(
        t.contains("autonomous-bus rule heartbeat-silence → yellow at +00:15:00 (900000)"),
        "{t}"
    );
    // ...and what happened instead, nearest first in time, with how far off it was.
    assert!(
        t.contains("heartbeat-silence blue → yellow at +00:10:00 (600000), 5m early"),
        "{t}"
    );
    assert!(
        t.contains("rule safety-incidents had no transition at all"),
        "{t}"
    );
    assert!(
        t.contains("expect_none[0]: no transition of autonomous-bus system level"),
        "{t}"
    );
    assert!(t.contains("system level none → blue at +00:05:00"), "{t}");
    assert!(t.trim_end().ends_with("1 passed, 1 failed"), "{t}");
}

#[test]
fn a_wrong_incident_expectation_fails_with_what_happened_instead() {
    let d = tmp_dir();
    let bus = profile_path("autonomous-bus");
    let t = json!({"tests": [
        {"name": "incident right", "profiles": [bus.to_str().unwrap()],
         "events": [{"ts": 600000, "system": "autonomous-bus", "signal": "safety_incidents"}],
         "expect_incidents": [{"system": "autonomous-bus", "category": "physical_safety", "event": "opened",
                               "at": 600000, "severity": "serious", "due": {"report": "initial", "by": 4200000}}],
         "expect_no_incident": [{"system": "autonomous-bus", "event": "overdue", "from": 0, "to": 600000}]},
        {"name": "incident wrong", "profiles": [bus.to_str().unwrap()],
         "events": [{"ts": 600000, "system": "autonomous-bus", "signal": "safety_incidents"},
                    {"tick": 2400000}],
         "expect_incidents": [
            {"system": "autonomous-bus", "category": "physical_safety", "event": "opened", "at": 600000,
             "due": {"report": "initial", "by": 15000000}},
            {"system": "autonomous-bus", "category": "hallucination", "event": "opened", "at": 600000}],
         "expect_no_incident": [{"system": "autonomous-bus", "reportable": true, "from": 0, "to": 3600000}]}
    ]});
    let f = write(&d, "incidents.json", &t.to_string());
    let o = run(&["test", f.to_str().unwrap()]);
    assert_eq!(code(&o), 1);
    let t = out(&o);
    assert!(t.contains("ok    incident right"), "{t}");
    assert!(t.contains("FAIL  incident wrong"), "{t}");
    // The deadline expected, and the one the engine gave (a CII operator: 1 h, not 4 h).
    assert!(
        t.contains("expect_incidents[0]: autonomous-bus physical_safety incident opened at +00:10:00 (600000), due initial by +04:10:00 (15000000)"),
        "{t}"
    );
    assert!(
        t.contains("autonomous-bus/physical_safety/1 opened at +00:10:00 (600000), severity serious, reportable, due initial by +01:10:00 (4200000), rule safety-incidents orange"),
        "{t}"
    );
    // (The bus sends no heartbeat: at the 0:40 tick its telemetry has been silent for 30
    // min, red for a critical grade, which opens an oversight_loss incident too.)
    assert!(
        t.contains("but autonomous-bus hallucination had no incident event at all (3 incident events of system autonomous-bus in this test)"),
        "{t}"
    );
    // The acknowledgement, due at 0:40, is overdue at the 0:40 tick.
    assert!(
        t.contains("expect_no_incident[0]: no reportable incident event of autonomous-bus from +00:00:00 to +01:00:00"),
        "{t}"
    );
    assert!(t.contains("overdue at +00:40:00 (2400000), severity serious, reportable, missed ack by +00:40:00 (2400000)"), "{t}");
    assert!(t.trim_end().ends_with("1 passed, 1 failed"), "{t}");
    // Incident expectations need a policy with incidents.
    let pol = policy_without_incidents(&d);
    let t = json!({"tests": [{"name": "no model", "policy": pol.to_str().unwrap(), "profiles": [bus.to_str().unwrap()],
        "expect_incidents": [{"system": "autonomous-bus", "event": "opened", "at": 0}]}]});
    let f = write(&d, "nomodel.json", &t.to_string());
    let o = run(&["test", f.to_str().unwrap()]);
    assert_eq!(code(&o), 1);
    assert!(out(&o).contains("ERROR no model"), "{}", out(&o));
    assert!(out(&o).contains("no `incidents` section"), "{}", out(&o));
}

#[test]
fn a_broken_test_file_is_reported_with_its_path() {
    let d = tmp_dir();
    let f = write(
        &d,
        "broken.json",
        r#"{"tests": [{"name": "x", "expect": [{"system": "a", "rule": "r", "to": "purple", "at": 0}]}]}"#,
    );
    let o = run(&["test", f.to_str().unwrap()]);
    assert_eq!(code(&o), 1);
    assert!(out(&o).contains("tests[0].expect[0].to"), "{}", out(&o));
    let f = write(
        &d,
        "badevent.json",
        r#"{"tests": [{"name": "y", "events": [{"system": "a", "signal": "s", "from": 0, "every_ms": 1000, "values": "1x2 oops"}]}]}"#,
    );
    let o = run(&["test", f.to_str().unwrap()]);
    assert_eq!(code(&o), 1);
    assert!(out(&o).contains("ERROR y"), "{}", out(&o));
    assert!(out(&o).contains("\"oops\""), "{}", out(&o));
    // An unknown incident event is named with its path.
    let f = write(
        &d,
        "badincident.json",
        r#"{"tests": [{"name": "z", "expect_incidents": [{"system": "a", "event": "exploded", "at": 0}]}]}"#,
    );
    let o = run(&["test", f.to_str().unwrap()]);
    assert_eq!(code(&o), 1);
    assert!(
        out(&o).contains("tests[0].expect_incidents[0].event"),
        "{}",
        out(&o)
    );
}

// ------------------------------------------------------------------ reload lines

#[test]
fn replay_reads_policy_file_relative_to_the_log() {
    let dir = tmp_dir().join("sub");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(
        root().join("seeds/policy/default.json"),
        dir.join("next.json"),
    )
    .unwrap();
    let log = format!(
        "{}\n{{\"op\":\"reload\",\"ts\":1,\"policy_file\":\"next.json\"}}\n",
        register_line("hospital-triage-chatbot")
    );
    let log = write(&dir, "log.jsonl", &log);
    // Run from the repository root: next.json is not there, only beside the log.
    let o = run(&["replay", log.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", err(&o));
    assert!(!err(&o).contains("reload_refused"), "{}", err(&o));
    // From stdin there is no log folder: the current directory is used, and it lacks next.json.
    let o = run_stdin(&["replay", "-"], &std::fs::read_to_string(&log).unwrap());
    assert_eq!(code(&o), 1, "{}", err(&o));
    assert!(err(&o).contains("reload_refused"), "{}", err(&o));
}
