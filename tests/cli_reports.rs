//! `airisk replay --reports DIR`: one JSON and one Markdown document per report to the
//! regulator that came due, with the fields of the CAC report form in Chinese and English;
//! the demo's reports in `seeds/demo/reports/` are what the replay writes today.

use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

const BIN: &str = env!("CARGO_BIN_EXE_airisk");

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn tmp_dir() -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let d = std::env::temp_dir().join(format!(
        "airisk-reports-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(root())
        .output()
        .expect("run airisk")
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Every file of a directory: name → bytes.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

fn profile(name: &str) -> Value {
    let path = root().join("seeds/profiles").join(format!("{name}.json"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn read_json(dir: &Path, name: &str) -> Value {
    let path = dir.join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

#[test]
fn the_demo_reports_are_what_the_replay_writes() {
    let d = tmp_dir();
    let out = d.join("reports");
    let o = run(&[
        "replay",
        "seeds/demo/events.jsonl",
        "--reports",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    let written = files(&out);
    let committed = files(&root().join("seeds/demo/reports"));
    let names = |m: &BTreeMap<String, Vec<u8>>| m.keys().cloned().collect::<Vec<_>>();
    assert_eq!(
        names(&written),
        names(&committed),
        "seeds/demo/reports is stale: regenerate it with \
         `cargo run --release -- replay seeds/demo/events.jsonl --reports seeds/demo/reports` \
         (after removing the old files)"
    );
    for (name, bytes) in &written {
        assert!(
            committed[name] == *bytes,
            "seeds/demo/reports/{name} differs from what the replay writes now; regenerate it \
             with `cargo run --release -- replay seeds/demo/events.jsonl --reports seeds/demo/reports`"
        );
    }
    // At least three reports came due, and the week shows each way a report can go.
    let statuses: Vec<String> = written
        .keys()
        .filter(|n| n.ends_with(".json"))
        .map(|n| read_json(&out, n)["status"].as_str().unwrap().to_owned())
        .collect();
    assert!(statuses.len() >= 3, "{statuses:?}");
    for s in ["filed", "filed_late", "overdue", "pending"] {
        assert!(
            statuses.iter().any(|x| x == s),
            "no {s} report: {statuses:?}"
        );
    }
    assert!(
        err(&o).contains(&format!(
            "reports      {}: {} reports ({} files)",
            out.display(),
            statuses.len(),
            2 * statuses.len()
        )),
        "{}",
        err(&o)
    );
}

/// The bus line (critical grade, a CII operator): a safety incident at 0:10 (orange), the
/// acknowledgement at 0:15 and the initial report at 0:20, a second safety incident at
/// 0:40 (red: the incident becomes critical) and no update report; heartbeats and ticks
/// every 5 min until 2:00.
fn bus_log() -> String {
    let bus = "autonomous-bus/physical_safety/1";
    let mut log = vec![json!({"op": "register", "ts": 0, "profile": profile("autonomous-bus")})];
    for m in (0..=120).step_by(5) {
        let ts = m * 60_000;
        log.push(json!({"ts": ts, "system": "autonomous-bus", "signal": "heartbeat"}));
        if m == 10 || m == 40 {
            log.push(json!({"ts": ts, "system": "autonomous-bus", "signal": "safety_incidents"}));
        }
        log.push(json!({"op": "tick", "ts": ts}));
        if m == 15 {
            log.push(
                json!({"op": "ack", "ts": ts, "incident": bus, "by": "control-centre supervisor"}),
            );
        }
        if m == 20 {
            log.push(json!({"op": "report", "ts": ts, "incident": bus, "kind": "initial", "reference": "GA-0001"}));
        }
    }
    log.iter()
        .map(Value::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn a_report_carries_the_fields_of_the_cac_form_in_both_languages() {
    let d = tmp_dir();
    let log = d.join("bus.jsonl");
    std::fs::write(&log, bus_log()).unwrap();
    let out = d.join("reports");
    let o = run(&[
        "replay",
        log.to_str().unwrap(),
        "--reports",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    // Two reports came due: the initial report (filed) and, after the escalation to
    // critical at 0:40, an update report due 1 h later (1:40), never filed. The incident is
    // not resolved, so no final report is due.
    assert_eq!(
        files(&out).keys().cloned().collect::<Vec<_>>(),
        vec![
            "autonomous-bus_physical_safety_1.initial.json",
            "autonomous-bus_physical_safety_1.initial.md",
            "autonomous-bus_physical_safety_1.update.json",
            "autonomous-bus_physical_safety_1.update.md",
        ]
    );
    let j = read_json(&out, "autonomous-bus_physical_safety_1.initial.json");
    let s = |k: &str| j[k].as_str().unwrap_or_default().to_owned();
    assert_eq!(s("report"), "initial");
    assert_eq!(s("status"), "filed");
    assert_eq!(s("incident"), "autonomous-bus/physical_safety/1");
    // CAC measures Art. 4: a CII operator reports to the protection department and the
    // public security organ, within 1 h.
    assert_eq!(j["report_to"]["zh"], "保护工作部门、公安机关");
    assert_eq!(s("operator"), "Example transit operator (fictional)");
    assert_eq!(s("operator_type"), "cii");
    assert_eq!(j["operator_type_name"]["zh"], "关键信息基础设施运营者");
    assert_eq!(s("system"), "autonomous-bus");
    assert_eq!(s("grade"), "critical");
    assert_eq!(s("category"), "physical_safety");
    assert_eq!(j["category_name"]["en"], "Physical safety");
    // As of its filing (0:20) the incident was serious; it became critical at 0:40.
    assert_eq!(s("severity"), "serious");
    assert_eq!(j["severity_name"]["zh"], "较大");
    assert_eq!(s("discovered_at"), "1970-01-01T00:10:00Z");
    assert_eq!(s("deadline"), "1970-01-01T01:10:00Z");
    assert_eq!(j["due_within_s"], 3600);
    assert_eq!(s("filed_at"), "1970-01-01T00:20:00Z");
    assert_eq!(j["late"], false);
    assert_eq!(s("reference"), "GA-0001");
    assert_eq!(j["acknowledged"]["by"], "control-centre supervisor");
    assert_eq!(s("as_of"), "1970-01-01T00:20:00Z");
    // What happened: the transition that opened it, with value, threshold, window, basis.
    let ev = j["evidence"].as_array().unwrap();
    assert_eq!(ev.len(), 1, "{j}");
    assert_eq!(ev[0]["rule"], "safety-incidents");
    assert_eq!(
        (ev[0]["from"].as_str(), ev[0]["to"].as_str()),
        (Some("none"), Some("orange"))
    );
    assert_eq!(
        (ev[0]["value"].as_f64(), ev[0]["threshold"].as_f64()),
        (Some(1.0), Some(1.0))
    );
    assert_eq!(ev[0]["comparison"], "≥");
    assert_eq!(
        (ev[0]["aggregate"].as_str(), ev[0]["window_ms"].as_i64()),
        (Some("sum"), Some(3_600_000))
    );
    assert!(ev[0]["basis"].as_str().unwrap().contains("Art. 15"));
    assert_eq!(
        j["measures"],
        json!([
            "log",
            "notify_operator",
            "human_review",
            "fallback",
            "suspend"
        ])
    );
    assert!(
        j["basis"]
            .as_str()
            .unwrap()
            .contains("国家网络安全事件报告管理办法")
    );
    // Members come in the order of the form.
    let text =
        std::fs::read_to_string(out.join("autonomous-bus_physical_safety_1.initial.json")).unwrap();
    let at = |k: &str| text.find(&format!("\"{k}\":")).unwrap();
    assert!(
        at("report") < at("incident")
            && at("incident") < at("operator")
            && at("operator") < at("system")
    );
    assert!(
        at("severity") < at("discovered_at")
            && at("deadline") < at("filed_at")
            && at("filed_at") < at("evidence")
    );

    let u = read_json(&out, "autonomous-bus_physical_safety_1.update.json");
    assert_eq!(u["status"], "overdue");
    assert_eq!(u["severity"], "critical");
    assert_eq!(u["due_since"], "1970-01-01T00:40:00Z");
    assert_eq!(u["deadline"], "1970-01-01T01:40:00Z");
    assert_eq!(u["overdue_since"], "1970-01-01T01:40:00Z");
    assert!(u["filed_at"].is_null());
    assert_eq!(u["evidence"].as_array().unwrap().len(), 2);
    assert!(
        u["measures"]
            .as_array()
            .unwrap()
            .contains(&json!("public_notice"))
    );

    // The Markdown rendering: every field labelled in Chinese and English.
    let md =
        std::fs::read_to_string(out.join("autonomous-bus_physical_safety_1.update.md")).unwrap();
    for label in [
        "# 网络安全事件续报 · Update report",
        "| 报告对象 Report to | 保护工作部门、公安机关 · ",
        "| 运营者 Operator | Example transit operator (fictional) |",
        "| 运营者类型 Operator type | 关键信息基础设施运营者 · Critical information infrastructure operators (`cii`) |",
        "| 系统 System | `autonomous-bus` — ",
        "| 事件类别 Category | 人身与物理安全 · Physical safety (`physical_safety`) |",
        "| 事件级别 Severity | 特别重大 · Critical (`critical`) |",
        "| 发现时间 Discovered at | 1970-01-01 00:10 UTC (北京时间 08:10) |",
        "| 报告时限 Deadline | 1970-01-01 01:40 UTC (北京时间 09:40); 1h after the escalation 级别上升后 |",
        "| 报送时间 Filed at | 未报送 not filed — 已逾期 overdue",
        "## 事件经过 What happened",
        "| 1970-01-01 00:40 | `safety-incidents` 人身与物理安全事件 · Physical-safety incidents | 橙 orange → **红 red** | 2 | ≥ 2 | sum over 1h |",
        "## 应对措施 Measures the responses called for",
        "- 暂停人工智能功能 · Suspend the AI function (`suspend`)",
        "- 向公众或受影响者通报 · Inform the public or the people affected (`public_notice`)",
        "## 事件时间线 Incident timeline",
        "| 1970-01-01 01:40 | 逾期 overdue | 特别重大 critical | missed: update by 1970-01-01 01:40 |",
    ] {
        assert!(md.contains(label), "missing {label:?} in:\n{md}");
    }
    assert!(
        err(&o).contains("2 reports (4 files): 1 filed on time, 0 late, 1 overdue, 0 not yet due"),
        "{}",
        err(&o)
    );
}

#[test]
fn a_rule_of_direction_below_is_cited_with_at_most() {
    // The loan model (significant grade): the approval-rate ratio between groups at 0.65
    // every 5 min; selection-disparity (direction below) meets orange (≤ 0.7) from 0:00
    // and rises to it after 30 min.
    let d = tmp_dir();
    let mut log =
        vec![json!({"op": "register", "profile": profile("loan-approval-model")}).to_string()];
    for m in (0..=60).step_by(5) {
        log.push(
            json!({"ts": m * 60_000, "system": "loan-approval-model", "signal": "disparity_ratio", "value": 0.65})
                .to_string(),
        );
    }
    let f = d.join("loan.jsonl");
    std::fs::write(&f, log.join("\n")).unwrap();
    let out = d.join("r");
    let o = run(&[
        "replay",
        f.to_str().unwrap(),
        "--reports",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    let j = read_json(&out, "loan-approval-model_discrimination_1.initial.json");
    // The category's warnings in order: the EWMA trend's blue (defined after 4 inputs, at
    // 0:20), then the hourly rule's orange that opened the incident.
    assert_eq!(j["evidence"][0]["rule"], "selection-disparity-trend");
    assert_eq!(j["evidence"][0]["aggregate"], "ewma");
    assert_eq!(j["evidence"][0]["threshold"], 0.9);
    assert_eq!(j["evidence"][1]["rule"], "selection-disparity");
    assert_eq!(j["evidence"][1]["comparison"], "≤");
    assert_eq!(j["evidence"][1]["threshold"], 0.7);
    assert_eq!(j["discovered_at"], "1970-01-01T00:30:00Z");
    // An ordinary operator: the provincial cyberspace administration, within 4 h.
    assert_eq!(j["report_to"]["zh"], "属地省级网信部门");
    assert_eq!(j["deadline"], "1970-01-01T04:30:00Z");
    assert_eq!(j["status"], "pending");
    let md = std::fs::read_to_string(out.join("loan-approval-model_discrimination_1.initial.md"))
        .unwrap();
    assert!(md.contains("| 0.65 | ≤ 0.7 | mean over 1h |"), "{md}");
    assert!(
        md.contains("未报送 not filed (the log ends at 1970-01-01 01:00 UTC"),
        "{md}"
    );
}

#[test]
fn reports_need_a_policy_with_incidents() {
    let d = tmp_dir();
    let mut p: Value = serde_json::from_str(include_str!("../seeds/policy/default.json")).unwrap();
    p.as_object_mut().unwrap().remove("incidents");
    let pol = d.join("p.json");
    std::fs::write(&pol, p.to_string()).unwrap();
    let out = d.join("r");
    let o = run(&[
        "replay",
        "--policy",
        pol.to_str().unwrap(),
        "--reports",
        out.to_str().unwrap(),
        "seeds/demo/events.jsonl",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        err(&o).contains("the policy has no `incidents` section"),
        "{}",
        err(&o)
    );
    assert!(!out.exists(), "nothing written");
}

/// The README's excerpt of a demo report is a true excerpt: every line of it is in the
/// committed report, in the same order.
#[test]
fn the_readme_shows_an_excerpt_of_a_demo_report() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let section = &readme[readme
        .find("\n## Incidents and reporting")
        .expect("the section")..];
    let start = section.find("```text\n").expect("the excerpt") + "```text\n".len();
    let excerpt = &section[start..start + section[start..].find("```").unwrap()];
    let report = std::fs::read_to_string(
        root().join("seeds/demo/reports/autonomous-bus_physical_safety_1.initial.md"),
    )
    .unwrap();
    let mut from = 0;
    let mut shown = 0;
    for line in excerpt.lines().filter(|l| !l.is_empty() && *l != "…") {
        let at = report[from..]
            .find(&format!("{line}\n"))
            .unwrap_or_else(|| panic!("README excerpt line not in the report (in order): {line}"));
        from += at + line.len();
        shown += 1;
    }
    assert!(shown >= 20, "{shown} lines");
}
