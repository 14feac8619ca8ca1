//! `airisk replay --html`: the report is one self-contained, well-escaped HTML file; it
//! counts warning events once and folds system lines under their cause, states each
//! transition's value against its threshold with the comparison of the rule's direction
//! (detectors included) and its legal basis, shades silenced and inhibited spans, follows
//! `--lang`; and a real browser (headless Chromium) renders it so that the deadlines and
//! the basis stay readable at 1 400 and 800 px, Chinese renders with CJK glyphs, and it
//! prints on A4 with one system per page.
//!
//! The browser parts are skipped, with a visible message, when `chromium` is not installed,
//! unless `AIRISK_REQUIRE_CHROMIUM=1` (CI sets it). Layout is read two ways: a measuring
//! script appended to a copy of the page (the report itself has none) writes the layout
//! boxes into the title, read back with `--dump-dom`; and the screenshot of the same copy is
//! decoded (PNG, zlib via miniz_oxide) to check that text is really drawn inside them.
//! "Not blank" for the whole page is checked as before: the screenshot must be far larger
//! than one of an empty page (PNG compresses a blank page to a few kilobytes).

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

const BIN: &str = env!("CARGO_BIN_EXE_airisk");

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn tmp_dir() -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let d = std::env::temp_dir().join(format!(
        "airisk-report-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A small log with an id and a name full of characters HTML must escape.
fn tricky_log() -> String {
    let mut p: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("seeds/profiles/autonomous-bus.json")).unwrap(),
    )
    .unwrap();
    p["id"] = json!("bus<script>alert(1)</script>&\"'");
    p["name"] = json!("Bus <b>line</b> & \"friends\"");
    let id = p["id"].as_str().unwrap().to_owned();
    let mut lines = vec![json!({"op": "register", "ts": 0, "profile": p}).to_string()];
    for m in 0..120i64 {
        let ts = m * 60_000;
        lines.push(json!({"ts": ts, "system": id, "signal": "heartbeat"}).to_string());
        if m == 30 {
            lines.push(json!({"ts": ts, "system": id, "signal": "safety_incidents"}).to_string());
        }
        lines.push(json!({"op": "tick", "ts": ts}).to_string());
    }
    lines.join("\n")
}

fn replay_html(log: &Path, html: &Path) {
    let o = Command::new(BIN)
        .args(["replay", "--html"])
        .arg(html)
        .arg(log)
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn report_is_self_contained_and_escapes_everything() {
    let d = tmp_dir();
    let log = d.join("events.jsonl");
    std::fs::write(&log, tricky_log()).unwrap();
    let html_path = d.join("r.html");
    replay_html(&log, &html_path);
    let html = std::fs::read_to_string(&html_path).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.trim_end().ends_with("</html>"));
    // Nothing external and no script at all.
    assert!(!html.contains("<script"), "unescaped id or a script");
    assert!(!html.contains("src="));
    assert!(!html.contains("<link"));
    assert!(!html.contains("@import"));
    assert!(!html.contains("url("));
    // The only URL is the SVG namespace name, which is never fetched.
    assert!(
        !html
            .replace("http://www.w3.org/2000/svg", "")
            .contains("http")
    );
    // Escaped forms are there.
    assert!(html.contains("bus&lt;script&gt;alert(1)&lt;/script&gt;&amp;&quot;&#39;"));
    assert!(html.contains("Bus &lt;b&gt;line&lt;/b&gt; &amp; &quot;friends&quot;"));
    // Timeline and marks with hover titles, and the table with actions and deadlines.
    assert!(html.contains("<svg"));
    assert!(html.contains("<title>"));
    assert!(
        html.contains("sum = 1 ≥ 1"),
        "the value against the threshold, with the comparison"
    );
    assert!(html.contains("<td class=\"basis\""), "a basis column");
    assert!(html.contains("Art. 15"), "the rule's basis");
    assert!(html.contains("safety-incidents"));
    assert!(html.contains("suspend"));
    // Deadlines live on incidents: the transitions table has none (the default policy has
    // an incidents section), the incidents table has them.
    assert!(!html.contains("report to regulator by"));
    assert!(!html.contains("(within "));
    assert!(html.contains("Incidents and reports"));
    // The bus's operator runs critical information infrastructure: the orange at 0:30
    // opens an incident whose initial report is due 1 h later, at 01:30; nothing is filed,
    // so the acknowledgement (due 1:00) and the report are overdue by the end (2:00).
    let id = "bus&lt;script&gt;alert(1)&lt;/script&gt;&amp;&quot;&#39;/physical_safety/1";
    assert!(
        html.contains(&format!(
            "<span class=\"v\">{}<br>",
            id.replace('/', "/<wbr>")
        )),
        "incident row"
    );
    assert!(
        html.contains("initial by 01-01 01:30"),
        "the initial report's deadline"
    );
    assert_eq!(
        html.matches("<span class=\"overdue\">OVERDUE</span>")
            .count(),
        2,
        "ack and initial report"
    );
    // The incident's span on the system's timeline, with its details on hover.
    assert!(html.contains(">incidents · 事件</text>"));
    assert!(html.contains(&format!(
        "<title>incident {id}\nseverity serious 较大 (reportable)\nopened 1970-01-01T00:30:00Z"
    )));
}

#[test]
fn without_incidents_the_report_keeps_the_deadline_column() {
    let d = tmp_dir();
    let mut p: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("seeds/policy/default.json")).unwrap(),
    )
    .unwrap();
    p.as_object_mut().unwrap().remove("incidents");
    let pol = d.join("p.json");
    std::fs::write(&pol, p.to_string()).unwrap();
    let log = d.join("events.jsonl");
    std::fs::write(&log, tricky_log()).unwrap();
    let html_path = d.join("r.html");
    let o = Command::new(BIN)
        .args(["replay", "--policy"])
        .arg(&pol)
        .arg("--html")
        .arg(&html_path)
        .arg(&log)
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let html = std::fs::read_to_string(&html_path).unwrap();
    assert!(html.contains("report to regulator by"));
    assert!(!html.contains("Incidents and reports"));
}

fn chromium() -> Option<PathBuf> {
    let required = std::env::var("AIRISK_REQUIRE_CHROMIUM").is_ok_and(|v| v == "1");
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        for dir in std::env::var("PATH").unwrap_or_default().split(':') {
            let p = Path::new(dir).join(name);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    if required {
        panic!("AIRISK_REQUIRE_CHROMIUM=1 but no chromium on PATH");
    }
    eprintln!(
        "SKIPPED: chromium is not installed; the report was not rendered in a browser \
         (install it, e.g. `apt-get install chromium`, or set AIRISK_REQUIRE_CHROMIUM=1 to make this an error)"
    );
    None
}

fn chromium_cmd(chrome: &Path, profile: &Path) -> Command {
    chromium_sized(chrome, profile, 1280, 1600)
}

fn chromium_sized(chrome: &Path, profile: &Path, w: u32, h: u32) -> Command {
    let mut c = Command::new(chrome);
    c.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        "--force-device-scale-factor=1",
    ])
    .arg(format!("--window-size={w},{h}"))
    .arg(format!("--user-data-dir={}", profile.display()));
    c
}

fn screenshot(chrome: &Path, d: &Path, page: &Path, png: &Path) -> u64 {
    let profile = d.join(format!(
        "profile-{}",
        png.file_stem().unwrap().to_string_lossy()
    ));
    let o = chromium_cmd(chrome, &profile)
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    assert!(
        png.is_file(),
        "chromium wrote no screenshot: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let bytes = std::fs::read(png).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    // IHDR: width and height (big-endian) at bytes 16..24.
    let w = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
    let h = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
    assert_eq!((w, h), (1280, 1600), "screenshot size");
    bytes.len() as u64
}

#[test]
fn chromium_renders_the_demo_report() {
    let Some(chrome) = chromium() else { return };
    let d = tmp_dir();
    let html = d.join("report.html");
    replay_html(&root().join("seeds/demo/events.jsonl"), &html);

    // The DOM as the browser parsed it has the charts and the transition tables.
    let o = chromium_cmd(&chrome, &d.join("profile-dom"))
        .arg("--dump-dom")
        .arg(format!("file://{}", html.display()))
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&o.stdout);
    assert!(dom.contains("<svg"), "no SVG in the rendered DOM");
    assert!(dom.matches("<rect").count() > 50, "too few timeline bands");
    assert!(dom.contains("hospital-triage-chatbot"));
    assert!(dom.contains("<table"));
    // The incidents table, with the drone's update report that was never filed.
    assert!(dom.contains("Incidents and reports"));
    assert!(dom.contains("delivery-drone/oversight_loss/1"));
    assert!(dom.contains("OVERDUE"));

    // Not blank: far larger than an empty page rendered the same way.
    let blank = d.join("blank.html");
    std::fs::write(&blank, "<!DOCTYPE html><html><body></body></html>").unwrap();
    let blank_size = screenshot(&chrome, &d, &blank, &d.join("blank.png"));
    let report_size = screenshot(&chrome, &d, &html, &d.join("report.png"));
    eprintln!("screenshot sizes: blank page {blank_size} B, report {report_size} B");
    assert!(
        report_size > 10 * blank_size && report_size > 50_000,
        "the report screenshot looks blank ({report_size} B vs {blank_size} B for an empty page)"
    );
}

// ---------------------------------------------------------------- report v2, without a browser

/// Runs `airisk replay` with `args` (the HTML path and the log among them); returns stdout.
fn replay_with(args: &[&std::ffi::OsStr]) -> String {
    let o = Command::new(BIN).arg("replay").args(args).output().unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

fn demo_report(d: &Path, lang: &str) -> (String, Vec<Value>) {
    let html = d.join(format!("demo-{lang}.html"));
    let out = replay_with(&[
        "--html".as_ref(),
        html.as_os_str(),
        "--lang".as_ref(),
        lang.as_ref(),
        root().join("seeds/demo/events.jsonl").as_os_str(),
    ]);
    let lines = out
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .collect();
    (std::fs::read_to_string(html).unwrap(), lines)
}

#[test]
fn labels_follow_lang_and_fonts_fall_back_to_cjk_families() {
    let d = tmp_dir();
    let (zh, _) = demo_report(&d, "zh");
    let (en, _) = demo_report(&d, "en");
    let (both, _) = demo_report(&d, "both");
    assert!(zh.contains("<html lang=\"zh-Hans\">"));
    assert!(zh.contains("监测预警报告") && !zh.contains("monitoring report</h1>"));
    assert!(zh.contains("报告监管时限") || zh.contains("事件与报告"));
    assert!(en.contains("<html lang=\"en\">"));
    assert!(en.contains("monitoring report") && !en.contains("监测预警报告</span></h1>"));
    assert!(!en.contains("事件与报告"));
    assert!(
        both.contains("monitoring report <span class=\"zh\" lang=\"zh-Hans\">监测预警报告</span>")
    );
    // Names from the policy follow the language: the hallucination rule's display name.
    assert!(zh.contains("幻觉率") && !zh.contains("Hallucination rate"));
    assert!(en.contains("Hallucination rate") && !en.contains("幻觉率"));
    assert!(both.contains("幻觉率</span> · Hallucination rate"));
    // The default is both.
    let html = d.join("default.html");
    replay_html(&root().join("seeds/demo/events.jsonl"), &html);
    assert_eq!(std::fs::read_to_string(html).unwrap(), both);
    for page in [&zh, &en, &both] {
        assert!(page.contains(
            "\"Noto Sans CJK SC\", \"Source Han Sans SC\", \"PingFang SC\", \"Microsoft YaHei\", sans-serif"
        ));
        assert!(!page.contains("<script"));
    }
    // A bad language is a usage error.
    let o = Command::new(BIN)
        .args(["replay", "--html", "x.html", "--lang", "fr", "-"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
}

/// A system line comes right after the rule transitions of its evaluation (same system and
/// time, the next seq).
fn caused(lines: &[Value], i: usize) -> bool {
    let t = &lines[i];
    i > 0 && {
        let p = &lines[i - 1];
        p["kind"] == "transition"
            && p["scope"] == "rule"
            && p["system"] == t["system"]
            && p["ts"] == t["ts"]
            && p["seq"].as_u64().unwrap() + 1 == t["seq"].as_u64().unwrap()
    }
}

#[test]
fn warning_events_count_once_with_system_lines_folded_under_their_cause() {
    let d = tmp_dir();
    let (html, lines) = demo_report(&d, "en");
    let ts: Vec<Value> = lines
        .into_iter()
        .filter(|l| l["kind"] == "transition")
        .collect();
    let rank = |l: &Value| {
        ["none", "blue", "yellow", "orange", "red"]
            .iter()
            .position(|x| l == x)
            .unwrap()
    };
    for level in ["red", "orange", "yellow", "blue"] {
        let rule_raised = ts
            .iter()
            .filter(|t| {
                t["scope"] == "rule" && t["to"] == level && rank(&t["to"]) > rank(&t["from"])
            })
            .count();
        let all = ts.iter().filter(|t| t["to"] == level).count();
        assert!(all > rule_raised, "the demo has system lines to {level}");
        assert!(
            html.contains(&format!("<b>{rule_raised}</b>{level} warnings</div>")),
            "{level}: {rule_raised} warning events (of {all} lines)"
        );
    }
    let system: Vec<usize> = (0..ts.len())
        .filter(|&i| ts[i]["scope"] == "system")
        .collect();
    let folded = system.iter().filter(|&&i| caused(&ts, i)).count();
    assert!(folded > 0);
    assert_eq!(html.matches("<tr class=\"sysline\">").count(), folded);
    assert_eq!(
        html.matches("<tr class=\"system\">").count(),
        system.len() - folded,
        "system lines without a rule transition before them stand alone"
    );
    // Each folded line sits right under its cause's row.
    assert!(!html.contains("</tbody></table></details><tr class=\"sysline\">"));
    assert!(html.contains("</td></tr><tr class=\"sysline\"><td colspan="));
}

#[test]
fn comparisons_follow_each_rules_direction_and_the_basis_is_shown() {
    let d = tmp_dir();
    let (html, lines) = demo_report(&d, "en");
    // The loan model's selection-rate disparity fires *below* its thresholds.
    assert!(
        html.contains("mean = 0.8405 ≤ 0.85"),
        "a rule with direction below"
    );
    assert!(
        html.contains("rate (Wilson bound) = 0.113473 ≥ 0.1"),
        "an above rule"
    );
    assert!(
        html.contains("silence = 2h ≥ 2h"),
        "silence_ms reads as a duration"
    );
    // Clearing states the bound it fell under.
    assert!(html.contains("rate (Wilson bound) = 0.021311 &lt; 0.027 (0.03 − 10 %)"));
    // Every rule transition's basis is in the table.
    for t in lines
        .iter()
        .filter(|l| l["kind"] == "transition" && l["scope"] == "rule")
    {
        let basis = t["basis"].as_str().unwrap();
        let cell = format!(
            "<td class=\"basis\" data-label=\"Basis\"><span class=\"v\">{}</span></td>",
            esc(basis)
        );
        assert!(html.contains(&cell), "basis of {t}");
    }
}

/// HTML escaping as the report does it (for building expected cells).
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn small_policy(rules: Value, inhibit: Value) -> Value {
    json!({
        "schema": 1,
        "categories": [{"id": "c1", "basis": "B1"}, {"id": "c2", "basis": "B2"}, {"id": "c3"}],
        "grades": [{"id": "low"}, {"id": "high", "min_score": 5}],
        "classification": {"sectors": {"s0": 0}, "data": {"public": 0}, "autonomy": {"hitl": 0}},
        "bucket_ms": 1000,
        "signals": [
            {"id": "x", "kind": "gauge", "category": "c1"},
            {"id": "c", "kind": "counter", "category": "c1"},
            {"id": "hb", "kind": "counter", "category": "c3"},
            {"id": "g", "kind": "gauge", "category": "c2"}
        ],
        "rules": rules,
        "inhibit": inhibit,
        "responses": {"levels": {
            "blue": {"actions": ["log", "notify_operator"]},
            "yellow": {"actions": ["notify_operator"]},
            "orange": {"actions": ["notify_operator", "throttle"]},
            "red": {"actions": ["notify_operator", "suspend"]}}}
    })
}

fn run_small(d: &Path, policy: &Value, events: &[Value]) -> (String, Vec<Value>) {
    let pol = d.join("policy.json");
    std::fs::write(&pol, policy.to_string()).unwrap();
    let log = d.join("events.jsonl");
    let mut text = vec![
        json!({"op": "register", "ts": 0, "profile": {"id": "s", "sector": "s0", "data": "public", "autonomy": "hitl", "users": 1}})
            .to_string(),
    ];
    text.extend(events.iter().map(Value::to_string));
    std::fs::write(&log, text.join("\n")).unwrap();
    let html = d.join("small.html");
    let out = replay_with(&[
        "--policy".as_ref(),
        pol.as_os_str(),
        "--html".as_ref(),
        html.as_os_str(),
        "--lang".as_ref(),
        "en".as_ref(),
        log.as_os_str(),
    ]);
    let lines = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (std::fs::read_to_string(html).unwrap(), lines)
}

#[test]
fn detector_rules_read_as_their_statistic_against_the_threshold() {
    let d = tmp_dir();
    let th = |t: f64| json!({"low": [t, null, null, null], "high": [t, null, null, null]});
    let policy = small_policy(
        json!([
            {"id": "x-ewma", "signal": "x", "aggregate": "ewma", "alpha": 0.5, "thresholds": th(0.5)},
            {"id": "c-cusum", "signal": "c", "aggregate": "cusum", "target": 1, "slack": 0.5,
             "side": "up", "thresholds": th(2.0)},
            {"id": "x-psi", "signal": "x", "aggregate": "psi", "window_ms": 10000,
             "bins": [0.5], "reference": [0.9, 0.1], "thresholds": th(0.2)}
        ]),
        json!([]),
    );
    let (html, lines) = run_small(
        &d,
        &policy,
        &[
            json!({"ts": 0, "system": "s", "signal": "x", "value": 1}),
            json!({"ts": 0, "system": "s", "signal": "c", "value": 5}),
            // Closes bucket 0: EWMA s = 1; CUSUM S = 5 − 1 − 0.5 = 3.5.
            json!({"ts": 1000, "system": "s", "signal": "x", "value": 1}),
            json!({"ts": 1000, "system": "s", "signal": "c", "value": 0}),
        ],
    );
    let rules: Vec<&str> = lines
        .iter()
        .filter(|l| l["scope"] == "rule")
        .map(|l| l["rule"].as_str().unwrap())
        .collect();
    assert!(
        rules.contains(&"x-ewma") && rules.contains(&"c-cusum") && rules.contains(&"x-psi"),
        "{rules:?}"
    );
    assert!(html.contains("EWMA = 1 ≥ 0.5"), "ewma");
    assert!(html.contains("CUSUM S = 3.5 ≥ 2"), "cusum");
    let psi = lines.iter().find(|l| l["rule"] == "x-psi").unwrap()["value"]
        .as_f64()
        .unwrap();
    assert!(
        html.contains(&format!("PSI = {} ≥ 0.2", fmt6(psi))),
        "psi {psi}"
    );
    assert!(html.contains("title=\"CUSUM of closed buckets, target 1, slack 0.5, side up\""));
}

/// A number as the report prints it below 1: up to 6 decimals, trailing zeros cut.
fn fmt6(v: f64) -> String {
    if v >= 1.0 {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        let s = format!("{v:.6}");
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    }
}

#[test]
fn silenced_and_inhibited_spans_are_shaded_and_muted_rows_marked() {
    let d = tmp_dir();
    // A silence (the maintenance scenario).
    let html = d.join("upgrade.html");
    let out = replay_with(&[
        "--html".as_ref(),
        html.as_os_str(),
        root()
            .join("seeds/scenarios/triage-upgrade.jsonl")
            .as_os_str(),
    ]);
    let html = std::fs::read_to_string(html).unwrap();
    let muted: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|l| l.get("silenced").is_some())
        .collect();
    assert!(!muted.is_empty());
    let id = muted[0]["silenced"].as_str().unwrap();
    // One badge per muted transition (rule rows and folded system lines).
    assert_eq!(
        html.matches("<span class=\"badge silenced\"").count(),
        muted.len()
    );
    assert!(html.contains(&format!("静默</span> {id}</span>")));
    // Shaded on the system lane (a matcher-free silence), its own lane and the rule lane,
    // in both renderings of the timeline; the hover text says who set it and why.
    assert!(html.matches("class=\"shade-silenced\"").count() >= 6);
    assert!(html.contains(&format!("<title>silence {id} from ")));
    assert!(html.contains("set by ops@hospital.example"));

    // An inhibition: telemetry silent long enough (hb-silence orange) inhibits c2.
    let th = json!({"low": [1, 2, 3, 4], "high": [1, 2, 3, 4]});
    let policy = small_policy(
        json!([
            {"id": "hb-silence", "signal": "hb", "aggregate": "silence_ms", "category": "c3",
             "thresholds": {"low": [1000, 2000, 3000, 4000], "high": [1000, 2000, 3000, 4000]}},
            {"id": "g-max", "signal": "g", "aggregate": "max", "window_ms": 1000, "thresholds": th}
        ]),
        json!([{"id": "telemetry-down", "source": {"rule": "hb-silence", "at_least": "orange"},
                "target": {"categories": ["c2"]}, "basis": "test"}]),
    );
    let (html, lines) = run_small(
        &d,
        &policy,
        &[
            json!({"ts": 0, "system": "s", "signal": "hb"}),
            json!({"op": "tick", "ts": 3500}),
            json!({"ts": 4000, "system": "s", "signal": "g", "value": 5}),
        ],
    );
    let inhibited = lines
        .iter()
        .filter(|l| l["inhibited_by"] == "telemetry-down")
        .count();
    assert!(inhibited >= 1, "{lines:?}");
    assert_eq!(
        html.matches("<span class=\"badge inhibited\"").count(),
        inhibited
    );
    assert!(html.contains("<tr class=\"muted\">"));
    assert!(html.matches("class=\"shade-inhibited\"").count() >= 2);
    assert!(html.contains("<title>inhibition telemetry-down while hb-silence ≥ orange (test)"));
    assert!(html.contains("<b>1</b>inhibited</div>"));
}

// ---------------------------------------------------------------- report v2, in a browser

/// A decoded PNG: width, height, RGBA pixels.
struct Image {
    w: usize,
    h: usize,
    rgba: Vec<u8>,
}

/// Decodes the 8-bit RGB / RGBA, non-interlaced PNGs Chromium writes.
fn decode_png(bytes: &[u8]) -> Image {
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    let (mut w, mut h, mut channels) = (0usize, 0usize, 0usize);
    let mut idat = Vec::new();
    let mut at = 8;
    while at + 8 <= bytes.len() {
        let len = u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        let kind = &bytes[at + 4..at + 8];
        let data = &bytes[at + 8..at + 8 + len];
        match kind {
            b"IHDR" => {
                w = u32::from_be_bytes(data[0..4].try_into().unwrap()) as usize;
                h = u32::from_be_bytes(data[4..8].try_into().unwrap()) as usize;
                assert_eq!(data[8], 8, "bit depth");
                channels = match data[9] {
                    2 => 3,
                    6 => 4,
                    c => panic!("colour type {c}"),
                };
                assert_eq!(data[12], 0, "interlaced");
            }
            b"IDAT" => idat.extend_from_slice(data),
            b"IEND" => break,
            _ => {}
        }
        at += 12 + len;
    }
    let raw = miniz_oxide::inflate::decompress_to_vec_zlib(&idat).expect("zlib");
    let stride = w * channels;
    assert_eq!(raw.len(), h * (stride + 1));
    let mut px = vec![0u8; h * stride];
    for y in 0..h {
        let filter = raw[y * (stride + 1)];
        let line = &raw[y * (stride + 1) + 1..(y + 1) * (stride + 1)];
        for x in 0..stride {
            let a = if x >= channels {
                px[y * stride + x - channels]
            } else {
                0
            };
            let b = if y > 0 { px[(y - 1) * stride + x] } else { 0 };
            let c = if x >= channels && y > 0 {
                px[(y - 1) * stride + x - channels]
            } else {
                0
            };
            let v = match filter {
                0 => line[x],
                1 => line[x].wrapping_add(a),
                2 => line[x].wrapping_add(b),
                3 => line[x].wrapping_add(((a as u16 + b as u16) / 2) as u8),
                4 => {
                    let p = a as i16 + b as i16 - c as i16;
                    let (pa, pb, pc) = (
                        (p - a as i16).abs(),
                        (p - b as i16).abs(),
                        (p - c as i16).abs(),
                    );
                    let pred = if pa <= pb && pa <= pc {
                        a
                    } else if pb <= pc {
                        b
                    } else {
                        c
                    };
                    line[x].wrapping_add(pred)
                }
                f => panic!("filter {f}"),
            };
            px[y * stride + x] = v;
        }
    }
    let rgba = if channels == 4 {
        px
    } else {
        px.chunks(3).flat_map(|p| [p[0], p[1], p[2], 255]).collect()
    };
    Image { w, h, rgba }
}

impl Image {
    /// Pixels inside the rectangle (CSS px at scale 1) dark enough to be text.
    fn ink(&self, r: &Rect) -> usize {
        let (x0, y0) = (r.l.max(0.0) as usize, r.t.max(0.0) as usize);
        let (x1, y1) = (
            (r.r.ceil() as usize).min(self.w),
            (r.b.ceil() as usize).min(self.h),
        );
        let mut n = 0;
        for y in y0..y1 {
            for x in x0..x1 {
                let p = &self.rgba[(y * self.w + x) * 4..];
                if p[0].max(p[1]).max(p[2]) < 120 {
                    n += 1;
                }
            }
        }
        n
    }
}

#[derive(Debug, Clone, serde::Deserialize)]
struct Rect {
    l: f64,
    t: f64,
    r: f64,
    b: f64,
    vis: String,
    fs: f64,
    text: String,
}

#[derive(Debug, serde::Deserialize)]
struct Measured {
    w: f64,
    due: Vec<Rect>,
    basis: Vec<Rect>,
    zh: Vec<Rect>,
}

/// Measures the report in the browser at `width`: a copy of the page with, when `focus`
/// names a section id, every other part hidden (so that section is on the first screen),
/// and a measuring script appended (the report itself has none) that writes the layout
/// boxes of the deadline cells, the basis cells and the first Chinese label into the
/// title, read back with `--dump-dom`. Then a screenshot of the same copy.
fn measure(
    chrome: &Path,
    d: &Path,
    page: &Path,
    width: u32,
    focus: Option<&str>,
) -> (Measured, Image) {
    let html = std::fs::read_to_string(page).unwrap();
    let hide = focus
        .map(|id| format!("<style>header, footer, main > section:not(#{id}) {{ display: none !important; }}</style>"))
        .unwrap_or_default();
    let script = r#"<script>
(function () {
  function boxes(sel) {
    return Array.prototype.slice.call(document.querySelectorAll(sel))
      .filter(function (e) { return e.getClientRects().length > 0; })
      .slice(0, 40)
      .map(function (e) {
        var r = e.getBoundingClientRect(), cs = getComputedStyle(e);
        return {l: r.left, t: r.top, r: r.right, b: r.bottom, vis: cs.visibility,
                fs: parseFloat(cs.fontSize), text: e.textContent.trim().slice(0, 120)};
      });
  }
  document.title = JSON.stringify({w: window.innerWidth, due: boxes('td.due'),
    basis: boxes('td.basis'), zh: boxes('[lang="zh-Hans"]')});
})();
</script>"#;
    let copy = html.replacen("</body>", &format!("{hide}{script}</body>"), 1);
    let tag = format!("{width}-{}", focus.unwrap_or("all"));
    let test_page = d.join(format!("measure-{tag}.html"));
    std::fs::write(&test_page, copy).unwrap();
    let o = chromium_sized(chrome, &d.join(format!("p-dom-{tag}")), width, 1600)
        .arg("--dump-dom")
        .arg(format!("file://{}", test_page.display()))
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&o.stdout);
    let title = dom
        .split_once("<title>")
        .and_then(|(_, r)| r.split_once("</title>"))
        .map(|(t, _)| t)
        .unwrap_or_else(|| {
            panic!(
                "no title in the DOM: {}",
                String::from_utf8_lossy(&o.stderr)
            )
        });
    let json = title
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    let m: Measured = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}"));
    assert_eq!(m.w, width as f64, "viewport width");
    let png = d.join(format!("shot-{tag}.png"));
    chromium_sized(chrome, &d.join(format!("p-shot-{tag}")), width, 1600)
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}", test_page.display()))
        .output()
        .unwrap();
    let img = decode_png(&std::fs::read(&png).unwrap());
    assert_eq!((img.w, img.h), (width as usize, 1600));
    (m, img)
}

/// Every box is laid out inside the viewport's width, visible, with text; the first one
/// with text (on the first screen) shows ink in the screenshot.
fn assert_readable(
    what: &str,
    boxes: &[Rect],
    width: u32,
    img: &Image,
    pattern: impl Fn(&str) -> bool,
) {
    assert!(!boxes.is_empty(), "{what}: none rendered at {width} px");
    for b in boxes {
        assert!(
            b.l >= 0.0 && b.r <= width as f64 + 0.5 && b.r - b.l > 40.0,
            "{what} cut off or squeezed at {width} px: {b:?}"
        );
        assert_eq!(b.vis, "visible", "{what}: {b:?}");
        assert!(b.fs >= 11.0, "{what}: font {} px at {width} px", b.fs);
        assert!(pattern(&b.text), "{what}: {b:?}");
    }
    // The first with more than a dash.
    let first = boxes
        .iter()
        .find(|b| b.text.chars().count() > 3)
        .unwrap_or_else(|| panic!("{what}: only empty cells: {boxes:?}"));
    assert!(
        first.b <= img.h as f64,
        "{what} not on the first screen: {first:?}"
    );
    let ink = img.ink(first);
    assert!(
        ink > 40,
        "{what}: the screenshot shows no text in {first:?} ({ink} dark pixels)"
    );
}

fn has_time(s: &str) -> bool {
    // `01-01 01:30`, `2026-03-03 15:05`.
    s.as_bytes().windows(5).any(|w| {
        w[0].is_ascii_digit()
            && w[1].is_ascii_digit()
            && w[2] == b':'
            && w[3].is_ascii_digit()
            && w[4].is_ascii_digit()
    })
}

#[test]
fn chromium_keeps_deadlines_and_basis_readable_at_1400_and_800_px() {
    let Some(chrome) = chromium() else { return };
    let d = tmp_dir();
    let demo = d.join("demo.html");
    replay_html(&root().join("seeds/demo/events.jsonl"), &demo);
    // Without an incidents section the deadline is a column of the transitions table.
    let mut p: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("seeds/policy/default.json")).unwrap(),
    )
    .unwrap();
    p.as_object_mut().unwrap().remove("incidents");
    // Deadlines on the responses instead (section 2's model).
    let within = |level: &str| match level {
        "yellow" => json!(86_400),
        "orange" => json!(14_400),
        "red" => json!(3_600),
        _ => Value::Null,
    };
    for (level, r) in p["responses"]["levels"].as_object_mut().unwrap() {
        r["report_within_s"] = within(level);
    }
    for o in p["responses"]["overrides"].as_array_mut().unwrap() {
        o["report_within_s"] = within(o["level"].as_str().unwrap());
    }
    let pol = d.join("no-incidents.json");
    std::fs::write(&pol, p.to_string()).unwrap();
    let log = d.join("tricky.jsonl");
    std::fs::write(&log, tricky_log()).unwrap();
    let plain = d.join("plain.html");
    replay_with(&[
        "--policy".as_ref(),
        pol.as_os_str(),
        "--html".as_ref(),
        plain.as_os_str(),
        log.as_os_str(),
    ]);

    for width in [1400, 800] {
        // The incidents table: every report's deadline.
        let (m, img) = measure(&chrome, &d, &demo, width, Some("incidents"));
        assert_readable("incident deadline", &m.due, width, &img, |t| {
            t.contains(" by ") && has_time(t)
        });
        // A system's transitions: the basis of each.
        let (m, img) = measure(&chrome, &d, &demo, width, Some("sys-0"));
        assert_readable("basis", &m.basis, width, &img, |t| t.contains("Art. 46"));
        // The transitions table's deadline column (a policy without incidents).
        let (m, img) = measure(&chrome, &d, &plain, width, Some("sys-0"));
        assert_readable("transition deadline", &m.due, width, &img, |t| {
            has_time(t) || t == "—"
        });
        assert!(m.due.iter().any(|b| b.text.contains("(within")));
        // A Chinese label, with the header shown: it has width, and full-width glyphs
        // (every Han character one em wide), which a CJK font gives and a Latin fallback
        // drawing boxes does not.
        let (m, img) = measure(&chrome, &d, &demo, width, None);
        let h1 =
            m.zh.iter()
                .find(|b| b.text == "监测预警报告")
                .expect("the title's Chinese");
        let w = h1.r - h1.l;
        assert!(w > 0.0, "the Chinese label has no width");
        assert!(
            (w - 6.0 * h1.fs).abs() <= 0.1 * 6.0 * h1.fs,
            "监测预警报告 is {w} px wide at {} px: not full-width CJK glyphs",
            h1.fs
        );
        assert!(
            img.ink(h1) > 0 || h1.b > img.h as f64,
            "no ink under the Chinese title"
        );
    }
}

#[test]
fn chromium_prints_the_report_on_a4_one_system_per_page() {
    let Some(chrome) = chromium() else { return };
    let d = tmp_dir();
    let html = d.join("demo.html");
    replay_html(&root().join("seeds/demo/events.jsonl"), &html);
    let pdf = d.join("demo.pdf");
    let o = chromium_cmd(&chrome, &d.join("p-pdf"))
        .arg("--no-pdf-header-footer")
        .arg(format!("--print-to-pdf={}", pdf.display()))
        .arg(format!("file://{}", html.display()))
        .output()
        .unwrap();
    let bytes = std::fs::read(&pdf)
        .unwrap_or_else(|e| panic!("no PDF ({e}): {}", String::from_utf8_lossy(&o.stderr)));
    assert!(bytes.starts_with(b"%PDF-"));
    let text = String::from_utf8_lossy(&bytes);
    // Pages: the page tree's count.
    let count = text
        .match_indices("/Count ")
        .map(|(i, _)| {
            text[i + 7..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
                .parse::<u32>()
                .unwrap_or(0)
        })
        .max()
        .unwrap();
    let systems = 9;
    assert!(
        count > systems,
        "{count} pages for 9 systems (each starts a page) and the summary"
    );
    // A4: 595.28 × 841.89 pt.
    let media = text
        .find("/MediaBox [")
        .map(|i| &text[i + 11..i + 60])
        .unwrap();
    let nums: Vec<f64> = media
        .split(']')
        .next()
        .unwrap()
        .split_whitespace()
        .map(|n| n.parse().unwrap())
        .collect();
    assert!(
        (nums[2] - 595.28).abs() < 1.5 && (nums[3] - 841.89).abs() < 1.5,
        "page size {nums:?} is not A4"
    );
    // The print stylesheet: system sections start a page, a running header.
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("section.system { break-before: page; }"));
    assert!(page.contains("@page { size: A4;"));
    assert!(page.contains("@top-left { content: \"airisk — monitoring report"));
}
