//! `airisk replay --html`: the report is one self-contained, well-escaped HTML file, and a
//! real browser (headless Chromium) renders it to a non-blank page.
//!
//! The browser part is skipped, with a visible message, when `chromium` is not installed,
//! unless `AIRISK_REQUIRE_CHROMIUM=1` (CI sets it). Without image crates, "not blank" is
//! checked honestly but simply: Chromium's `--dump-dom` must show the parsed SVG charts, and
//! the PNG screenshot of the report must be several times larger than a screenshot of an
//! empty page taken the same way (PNG compresses a blank page to a few kilobytes; coloured
//! bands, text and tables do not compress that well).

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
        html.contains("threshold 1"),
        "the mark's title gives the threshold"
    );
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
            "<td class=\"inc\">{}</td>",
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
    assert!(html.contains("incidents 事件"));
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
        "--window-size=1280,1600",
    ])
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
