//! `airisk diff OLD NEW [--profiles DIR] [--json]`: the default policy (a frozen copy, so
//! this test does not follow every tuning of `seeds/`) against a tuned copy — one rule's
//! thresholds for one grade, a rule added and one removed, a sector score that re-grades a
//! profile, a response and a display name — with the expected output committed under
//! `tests/data/reload/`; the JSON report equals what `Engine::reload` reports for the same
//! systems; exit 0 same, 1 different, 2 error.

use airisk::{Engine, Policy, Profile, ReloadReport};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_airisk");
const OLD: &str = "tests/data/reload/default-policy.json";
const NEW: &str = "tests/data/reload/default-tuned.json";
const PROFILES: &str = "tests/data/reload/profiles";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(root())
        .output()
        .expect("run airisk")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn expected(name: &str) -> String {
    std::fs::read_to_string(root().join("tests/data/reload").join(name)).unwrap()
}

fn tmp(name: &str, body: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("airisk-cli-diff-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    let p = d.join(name);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, body).unwrap();
    p
}

fn policy(path: &str) -> Policy {
    Policy::from_json(&std::fs::read_to_string(root().join(path)).unwrap()).unwrap()
}

fn profiles(dir: &Path) -> Vec<Profile> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v.iter()
        .filter_map(|p| {
            let t = std::fs::read_to_string(p).unwrap();
            let j: Value = serde_json::from_str(&t).unwrap();
            j.get("id")
                .is_some()
                .then(|| Profile::from_value(j).unwrap())
        })
        .collect()
}

#[test]
fn the_default_policy_against_a_tuned_copy_gives_the_expected_report() {
    let out = run(&["diff", "--profiles", PROFILES, OLD, NEW]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), expected("diff-default-tuned.txt"));
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
    // What the human form says, in words a reader checks.
    let s = text(&out.stdout);
    for want in [
        "sections that differ: classification, policy_version, responses, rules",
        "reset (thresholds) for ai-code-assistant, ai-companion-app, hospital-triage-chatbot: hallucination-rate",
        "added: hallucination-burst",
        "removed: over-refusal-rate",
        "new texts only: complaint-rate",
        "re-graded ai-code-assistant: general -> significant",
    ] {
        assert!(s.contains(want), "lacks {want:?}:\n{s}");
    }
    // Without profiles, by the rules alone: only the rule whose thresholds changed resets.
    let out = run(&["diff", OLD, NEW]);
    assert_eq!(out.status.code(), Some(1));
    let s = text(&out.stdout);
    assert!(
        s.contains("rules: 30 kept (by the rules alone), 1 reset, 1 added, 1 removed"),
        "{s}"
    );
    assert!(
        s.contains("  reset (thresholds): hallucination-rate\n"),
        "{s}"
    );
    assert!(!s.contains("profiles:"), "{s}");
}

#[test]
fn the_json_report_is_what_a_reload_of_those_systems_reports() {
    let out = run(&["diff", "--json", "--profiles", PROFILES, OLD, NEW]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stdout), expected("diff-default-tuned.json"));
    let mut v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["same"], json!(false));
    assert_eq!(
        v["sections"],
        json!(["classification", "policy_version", "responses", "rules"])
    );
    let m = v.as_object_mut().unwrap();
    m.remove("same");
    m.remove("sections");
    let report: ReloadReport = serde_json::from_value(v).unwrap();
    // The library's diff, and an engine with those systems registered, say the same.
    let (old, new) = (policy(OLD), policy(NEW));
    let ps = profiles(&root().join(PROFILES));
    assert_eq!(ps.len(), 5);
    assert_eq!(ReloadReport::diff(&old, &new, &ps), report);
    let e = Engine::new(old);
    for p in ps {
        e.register(p).unwrap();
    }
    assert_eq!(e.reload(new).unwrap(), report);
}

#[test]
fn the_same_policy_exits_0_even_reformatted() {
    let out = run(&["diff", "--profiles", PROFILES, OLD, OLD]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        text(&out.stdout).contains("the policies are the same"),
        "{}",
        text(&out.stdout)
    );
    let compact: Value =
        serde_json::from_str(&std::fs::read_to_string(root().join(OLD)).unwrap()).unwrap();
    let p = tmp("compact.json", &compact.to_string());
    let out = run(&["diff", "--json", OLD, p.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["same"], json!(true));
    assert_eq!(v["reset"], json!([]));
    assert_eq!(v["sections"], json!([]));
}

#[test]
fn the_live_default_policy_and_a_copy_tuned_here() {
    // The policy in seeds/ as it is now, and a copy with the first rule's thresholds for
    // its first grade raised by half.
    let live = "seeds/policy/default.json";
    assert_eq!(run(&["diff", live, live]).status.code(), Some(0));
    let mut d: Value =
        serde_json::from_str(&std::fs::read_to_string(root().join(live)).unwrap()).unwrap();
    let rule = d["rules"][0]["id"].as_str().unwrap().to_owned();
    let grade = d["grades"][0]["id"].as_str().unwrap().to_owned();
    let t = &mut d["rules"][0]["thresholds"][&grade];
    for x in t.as_array_mut().unwrap() {
        if let Some(f) = x.as_f64() {
            *x = json!(f * 1.5);
        }
    }
    let p = tmp("live-tuned.json", &d.to_string());
    let out = run(&["diff", live, p.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let s = text(&out.stdout);
    assert!(s.contains("sections that differ: rules\n"), "{s}");
    assert!(
        s.contains(&format!("  reset (thresholds): {rule}\n")),
        "{s}"
    );
}

#[test]
fn errors_exit_2_with_the_reason() {
    let out = run(&["diff", "tests/data/reload/nope.json", NEW]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("cannot read tests/data/reload/nope.json"));
    let mut bad: Value =
        serde_json::from_str(&std::fs::read_to_string(root().join(OLD)).unwrap()).unwrap();
    bad["rules"][2]["window_ms"] = json!(-1);
    let p = tmp("bad.json", &bad.to_string());
    let out = run(&["diff", OLD, p.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("rules[2].window_ms"),
        "{}",
        text(&out.stderr)
    );
    assert!(out.stdout.is_empty());
    // A file of the profiles folder with an id that is no profile.
    let dir = tmp("profiles/x.json", r#"{"id": "x", "sector": 7}"#);
    let out = run(&[
        "diff",
        "--profiles",
        dir.parent().unwrap().to_str().unwrap(),
        OLD,
        NEW,
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("x.json"),
        "{}",
        text(&out.stderr)
    );
    // Usage errors too.
    assert_eq!(run(&["diff", OLD]).status.code(), Some(2));
    let out = run(&["diff", "--profiles", "no/such/dir", OLD, NEW]);
    assert_eq!(out.status.code(), Some(2));
}
