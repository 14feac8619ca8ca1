//! The metrics exposition (`Engine::render_openmetrics`, `render_prometheus`, `airisk
//! replay --metrics`, `examples/metrics_http.rs`): a golden text for a small engine, the
//! OpenMetrics structure rules checked line by line, `promtool check metrics` on the demo's
//! exposition, and one scrape of the example server.
//!
//! promtool (Debian's `prometheus` package; `.ci/run` installs it) is looked up on PATH;
//! the promtool test is skipped with a message when it is missing, unless
//! `AIRISK_REQUIRE_PROMTOOL=1`.

use airisk::{Engine, Policy, Profile};
use std::collections::HashSet;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_airisk");

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Bucket 1 s; grades low (named) and high (score ≥ 5); gauges g and h; rules g-max
/// (category c1) and h-max (no category); incidents open at orange ("minor"), red is
/// "major" and reportable, initial report within 1 h, acknowledgement within 60 s.
const POLICY: &str = r#"{"schema": 1,
  "categories": [{"id": "c1", "name": {"zh": "类一", "en": "Cat one"}}, {"id": "c2"}],
  "grades": [{"id": "low", "name": {"zh": "低", "en": "Low"}}, {"id": "high", "min_score": 5}],
  "classification": {"sectors": {"s0": 0, "s9": 9}, "data": {"public": 0}, "autonomy": {"hitl": 0}},
  "bucket_ms": 1000,
  "signals": [{"id": "g", "kind": "gauge"}, {"id": "h", "kind": "gauge"}],
  "rules": [
    {"id": "g-max", "category": "c1", "signal": "g", "aggregate": "max", "window_ms": 1000,
     "thresholds": {"low": [1, 2, 3, 4], "high": [1, 2, 3, 4]}},
    {"id": "h-max", "signal": "h", "aggregate": "max", "window_ms": 1000,
     "thresholds": {"low": [1, 2, 3, 4], "high": [1, 2, 3, 4]}}],
  "responses": {"levels": {"blue": {"actions": ["log"]}, "orange": {"actions": ["notify_operator"]},
                           "red": {"actions": ["notify_operator", "suspend"]}}},
  "incidents": {"open_at": "orange",
    "severities": [{"id": "minor"}, {"id": "major"}],
    "severity_by_level": {"orange": "minor", "red": "major"},
    "report_at": "major",
    "operator_types": [{"id": "other", "initial_within_s": 3600}],
    "ack_within_s": 60, "final_within_s": 7200, "basis": "IB"}}"#;

fn profile(id: &str, sector: &str) -> Profile {
    let doc = serde_json::json!({"id": id, "sector": sector, "data": "public",
                                 "autonomy": "hitl", "users": 1});
    Profile::from_json(&doc.to_string()).unwrap()
}

/// Two systems, one with an id that needs escaping; `a` goes red (a reportable incident
/// whose acknowledgement is missed), `b` goes yellow on h-max; one stale and one invalid
/// observation are rejected.
fn small_engine() -> Engine {
    let e = Engine::new(Policy::from_json(POLICY).unwrap());
    let a = e.register(profile("a", "s0")).unwrap();
    let b = e
        .register(profile("b \"quoted\" \\ backslash", "s9"))
        .unwrap();
    let (g, h) = (e.signal("g").unwrap(), e.signal("h").unwrap());
    e.observe(a, g, 4.0, 10_000).unwrap();
    e.observe(b, h, 2.0, 10_000).unwrap();
    e.observe(b, g, 0.5, 10_000).unwrap();
    assert!(e.observe(a, g, 1.0, 5_000).is_err(), "stale");
    assert!(e.observe(a, g, f64::NAN, 10_000).is_err(), "invalid");
    // 61 s later a's acknowledgement is overdue; its rule is still red (the window holds
    // nothing newer, and without on_empty the level holds).
    e.tick(71_000);
    e
}

#[test]
fn golden_openmetrics_of_a_small_engine() {
    let e = small_engine();
    let mut text = String::new();
    e.render_openmetrics(&mut text);
    let golden = std::fs::read_to_string(root().join("tests/data/metrics-golden.txt")).unwrap();
    assert_eq!(
        text, golden,
        "the exposition changed; if on purpose, update tests/data/metrics-golden.txt"
    );
    check_openmetrics(&text);
}

#[test]
fn prometheus_format_names_counters_with_total_and_has_no_eof() {
    let e = small_engine();
    let (mut om, mut prom) = (String::new(), String::new());
    e.render_openmetrics(&mut om);
    e.render_prometheus(&mut prom);
    assert!(prom.contains("# TYPE airisk_observations_total counter\n"));
    assert!(prom.contains("# HELP airisk_transitions_total "));
    assert!(!prom.contains("# TYPE airisk_observations counter"));
    assert!(!prom.contains("# EOF"));
    // The samples are the same lines.
    let samples = |t: &str| -> Vec<String> {
        t.lines()
            .filter(|l| !l.starts_with('#'))
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(samples(&om), samples(&prom));
    // Appends: a second render after the first doubles the text.
    let n = om.len();
    e.render_openmetrics(&mut om);
    assert_eq!(om.len(), 2 * n);
}

/// The OpenMetrics rules the text must follow, checked line by line: every family has
/// one HELP and one TYPE before its samples; families are not repeated or interleaved;
/// counter samples are `<family>_total`, others the family name; label values are quoted
/// with `\\`, `\"` and `\n` escaped; no two samples share a name and label set; values are
/// non-negative integers; the text ends with `# EOF` and a line feed.
fn check_openmetrics(text: &str) {
    assert!(text.ends_with("# EOF\n"), "no final # EOF");
    let body = &text[..text.len() - "# EOF\n".len()];
    assert!(!body.contains("# EOF"), "# EOF before the end");
    let mut families: HashSet<String> = HashSet::new();
    let mut series: HashSet<String> = HashSet::new();
    let mut current: Option<(String, Option<String>, bool)> = None; // name, type, help
    for (i, line) in body.lines().enumerate() {
        let at = format!("line {}: {line:?}", i + 1);
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split(' ').next().unwrap().to_owned();
            if current.as_ref().is_none_or(|c| c.0 != name) {
                assert!(families.insert(name.clone()), "family repeated: {at}");
                current = Some((name, None, true));
            } else {
                let c = current.as_mut().unwrap();
                assert!(!c.2, "second HELP: {at}");
                c.2 = true;
            }
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut it = rest.split(' ');
            let (name, kind) = (it.next().unwrap().to_owned(), it.next().unwrap().to_owned());
            assert!(["counter", "gauge"].contains(&kind.as_str()), "{at}");
            assert!(
                !name.ends_with("_total"),
                "a family named with _total: {at}"
            );
            if current.as_ref().is_none_or(|c| c.0 != name) {
                assert!(families.insert(name.clone()), "family repeated: {at}");
                current = Some((name, Some(kind), false));
            } else {
                let c = current.as_mut().unwrap();
                assert!(c.1.is_none(), "second TYPE: {at}");
                c.1 = Some(kind);
            }
            continue;
        }
        assert!(!line.starts_with('#'), "unexpected comment: {at}");
        let (fam, kind, help) = current.clone().expect("a sample before any family");
        let kind = kind.expect("a sample before its TYPE");
        assert!(help, "a family without HELP: {at}");
        let (name_labels, value) = line.rsplit_once(' ').expect("sample without value");
        assert!(value.parse::<u64>().is_ok(), "value {value:?}: {at}");
        let name = name_labels.split('{').next().unwrap();
        let want = if kind == "counter" {
            format!("{fam}_total")
        } else {
            fam.clone()
        };
        assert_eq!(name, want, "sample outside its family: {at}");
        if let Some(labels) = name_labels.strip_prefix(name).filter(|l| !l.is_empty()) {
            check_labels(labels, &at);
        }
        assert!(
            series.insert(name_labels.to_owned()),
            "duplicate series: {at}"
        );
    }
}

/// `{k="v",k2="v2"}` with only `\\`, `\"` and `\n` escapes in values.
fn check_labels(s: &str, at: &str) {
    let inner = s
        .strip_prefix('{')
        .and_then(|x| x.strip_suffix('}'))
        .unwrap_or_else(|| panic!("labels not braced: {at}"));
    let mut chars = inner.chars().peekable();
    loop {
        let key: String = chars.by_ref().take_while(|&c| c != '=').collect();
        assert!(
            !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "label name {key:?}: {at}"
        );
        assert_eq!(chars.next(), Some('"'), "unquoted value: {at}");
        loop {
            match chars.next() {
                Some('\\') => assert!(
                    matches!(chars.next(), Some('\\' | '"' | 'n')),
                    "bad escape: {at}"
                ),
                Some('"') => break,
                Some('\n') | None => panic!("unterminated value: {at}"),
                Some(_) => {}
            }
        }
        match chars.next() {
            None => break,
            Some(',') => {}
            Some(c) => panic!("{c:?} after a label: {at}"),
        }
    }
}

fn replay_metrics(dir: &Path, format: Option<&str>) -> String {
    let file = dir.join(format!("metrics-{}.txt", format.unwrap_or("default")));
    let mut cmd = Command::new(BIN);
    cmd.arg("replay")
        .arg("--metrics")
        .arg(&file)
        .arg(root().join("seeds/demo/events.jsonl"))
        .stdout(Stdio::null());
    if let Some(f) = format {
        cmd.args(["--metrics-format", f]);
    }
    let o = cmd.output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    std::fs::read_to_string(&file).unwrap()
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("airisk-metrics-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn replay_writes_the_final_exposition_of_the_demo() {
    let d = tmp("replay");
    let text = replay_metrics(&d, None);
    check_openmetrics(&text);
    // The demo has 10 systems and ends with every system back at none; its summary on
    // stderr says the same (the numbers below are the replay's, not chosen here).
    assert_eq!(text.matches("airisk_system_level{").count(), 10);
    assert!(text.contains("airisk_systems 10\n"));
    let rules = Policy::default_policy().rules().len();
    assert_eq!(text.matches("airisk_rule_level{").count(), 10 * rules);
    // The same as a direct replay of the log through the library.
    let mut rp = airisk::replay::Replayer::new(Policy::default_policy());
    let input = std::fs::read(root().join("seeds/demo/events.jsonl")).unwrap();
    struct Null;
    impl airisk::replay::ReplayHandler for Null {}
    rp.run(&input[..], &mut Null).unwrap();
    let mut direct = String::new();
    rp.engine().render_openmetrics(&mut direct);
    assert_eq!(text, direct);
    let st = rp.engine().stats();
    assert!(text.contains(&format!("airisk_observations_total {}\n", st.observed)));
    let by_level: u64 = text
        .lines()
        .filter(|l| l.starts_with("airisk_transitions_total{"))
        .map(|l| l.rsplit_once(' ').unwrap().1.parse::<u64>().unwrap())
        .sum();
    assert_eq!(by_level, st.transitions);
}

fn promtool() -> Option<PathBuf> {
    for dir in std::env::var("PATH").unwrap_or_default().split(':') {
        let p = Path::new(dir).join("promtool");
        if p.is_file() {
            return Some(p);
        }
    }
    if std::env::var("AIRISK_REQUIRE_PROMTOOL").is_ok_and(|v| v == "1") {
        panic!("AIRISK_REQUIRE_PROMTOOL=1 but no promtool on PATH");
    }
    eprintln!(
        "SKIPPED: promtool is not installed (Debian: the `prometheus` package); set \
         AIRISK_REQUIRE_PROMTOOL=1 to make this an error"
    );
    None
}

fn promtool_check(promtool: &Path, text: &str) -> (i32, String) {
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    let mut out = String::from_utf8_lossy(&o.stdout).into_owned();
    out.push_str(&String::from_utf8_lossy(&o.stderr));
    (o.status.code().unwrap_or(-1), out)
}

/// `promtool check metrics` parses the Prometheus text format 0.0.4 and lints it. The
/// demo's exposition in that format passes with no remark at all. The OpenMetrics
/// rendering also parses (exit status 1 would be a parse error); its only remarks are the
/// known difference of the two formats: the 0.0.4 parser reads a counter's `_total` sample
/// as a family of its own, without HELP, because OpenMetrics names the family without
/// `_total`. Each such remark is checked to be about a counter family declared so.
#[test]
fn promtool_checks_the_demo_exposition() {
    let Some(promtool) = promtool() else { return };
    let d = tmp("promtool");
    let prom = replay_metrics(&d, Some("prometheus"));
    let (code, out) = promtool_check(&promtool, &prom);
    assert_eq!((code, out.trim()), (0, ""), "promtool on the 0.0.4 text");

    let om = replay_metrics(&d, None);
    let (code, out) = promtool_check(&promtool, &om);
    assert_ne!(
        code, 1,
        "promtool could not parse the OpenMetrics text: {out}"
    );
    let counters: Vec<&str> = om
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.strip_suffix(" counter"))
        .collect();
    assert!(counters.len() >= 5);
    let remarks: Vec<&str> = out.lines().filter(|l| !l.trim().is_empty()).collect();
    for r in &remarks {
        let name = r
            .strip_suffix(" no help text")
            .unwrap_or_else(|| panic!("unexpected promtool remark on the OpenMetrics text: {r}"));
        let family = name.strip_suffix("_total").unwrap_or_else(|| panic!("{r}"));
        assert!(counters.contains(&family), "{r}");
    }
    assert_eq!(remarks.len(), counters.len(), "{out}");
}

/// The server of `examples/metrics_http.rs`, compiled into this test.
#[path = "../examples/metrics_http.rs"]
#[allow(dead_code)]
mod metrics_http;

/// `examples/metrics_http.rs` serves the exposition on 127.0.0.1; one scrape over plain
/// HTTP/1.1 gets it with the OpenMetrics content type (and one more, not asking for
/// OpenMetrics, the 0.0.4 text).
#[test]
fn example_http_server_is_scraped_once() {
    let d = tmp("http");
    let mut rp = airisk::replay::Replayer::new(Policy::default_policy());
    let input = std::fs::read(root().join("seeds/demo/events.jsonl")).unwrap();
    struct Null;
    impl airisk::replay::ReplayHandler for Null {}
    rp.run(&input[..], &mut Null).unwrap();
    let engine = rp.engine();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let get = |accept: &str| -> (String, String) {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        write!(
            s,
            "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nAccept: {accept}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut resp = String::new();
        s.read_to_string(&mut resp).unwrap();
        let (head, body) = resp.split_once("\r\n\r\n").unwrap();
        (head.to_owned(), body.to_owned())
    };
    let ((head, body), (head2, body2)) = std::thread::scope(|sc| {
        let server = sc.spawn(|| metrics_http::serve(&listener, engine, Some(2)));
        let first = get("application/openmetrics-text;version=1.0.0,text/plain;q=0.5");
        let second = get("text/plain");
        server.join().unwrap().unwrap();
        (first, second)
    });
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(
        head.contains("Content-Type: application/openmetrics-text; version=1.0.0; charset=utf-8"),
        "{head}"
    );
    assert!(
        head.contains(&format!("Content-Length: {}", body.len())),
        "{head}"
    );
    check_openmetrics(&body);
    assert_eq!(
        body,
        replay_metrics(&d, None),
        "not the demo's final exposition"
    );
    assert!(
        head2.contains("Content-Type: text/plain; version=0.0.4; charset=utf-8"),
        "{head2}"
    );
    assert!(body2.contains("# TYPE airisk_observations_total counter"));
    assert!(!body2.contains("# EOF"));
}

/// Ids of the policy (rule, category, grade, severity) are escaped too.
#[test]
fn policy_ids_are_escaped_in_labels() {
    let doc = POLICY
        .replace("\"g-max\"", "\"g\\\"max\\\\\"")
        .replace("{\"id\": \"c1\"", "{\"id\": \"c\\\"1\"")
        .replace("\"category\": \"c1\"", "\"category\": \"c\\\"1\"");
    let e = Engine::new(Policy::from_json(&doc).unwrap());
    let a = e.register(profile("a", "s0")).unwrap();
    e.observe(a, e.signal("g").unwrap(), 2.0, 1_000).unwrap();
    let mut text = String::new();
    e.render_openmetrics(&mut text);
    assert!(
        text.contains(
            "airisk_rule_level{system=\"a\",rule=\"g\\\"max\\\\\",category=\"c\\\"1\"} 2\n"
        ),
        "{text}"
    );
    check_openmetrics(&text);
}

/// The README's scrape configuration and alert rules: `promtool check config` accepts
/// them, and `promtool test rules` shows both alerts firing on sample series.
#[test]
fn readme_prometheus_config_and_alert_rules_work() {
    let Some(promtool) = promtool() else { return };
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let block = |first: &str| -> String {
        let start = readme
            .find(&format!("```yaml\n{first}\n"))
            .unwrap_or_else(|| panic!("README has no yaml block starting {first}"));
        let body = &readme[start + "```yaml\n".len()..];
        body[..body.find("```").unwrap()].to_owned()
    };
    let d = tmp("readme-prom");
    std::fs::write(d.join("prometheus.yml"), block("# prometheus.yml")).unwrap();
    std::fs::write(d.join("airisk-alerts.yml"), block("# airisk-alerts.yml")).unwrap();
    let check = Command::new(&promtool)
        .args(["check", "config", "prometheus.yml"])
        .current_dir(&d)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    std::fs::write(
        d.join("alerts-test.yml"),
        r#"rule_files: ["airisk-alerts.yml"]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'airisk_system_level{system="bus-1",grade="critical"}'
        values: '0 3 3 3'
      - series: 'airisk_system_level{system="bot",grade="low"}'
        values: '2 2 2 2'
      - series: 'airisk_reports_overdue{report="initial"}'
        values: '0 0 1 1'
      - series: 'airisk_reports_overdue{report="ack"}'
        values: '1 1 1 1'
    alert_rule_test:
      - eval_time: 3m
        alertname: AIRiskSystemOrangeOrRed
        exp_alerts:
          - exp_labels: {severity: page, system: bus-1, grade: critical}
            exp_annotations:
              summary: "bus-1 (grade critical) is at warning level 3 (3 orange, 4 red)"
      - eval_time: 3m
        alertname: AIRiskReportOverdue
        exp_alerts:
          - exp_labels: {severity: page, report: initial}
            exp_annotations:
              summary: "1 initial report(s) to the regulator past their deadline"
"#,
    )
    .unwrap();
    let test = Command::new(&promtool)
        .args(["test", "rules", "alerts-test.yml"])
        .current_dir(&d)
        .output()
        .unwrap();
    assert!(
        test.status.success(),
        "{}{}",
        String::from_utf8_lossy(&test.stdout),
        String::from_utf8_lossy(&test.stderr)
    );
}
