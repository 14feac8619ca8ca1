//! `airisk classify` and `airisk validate` as a reader sees them: display names in the
//! table (`--lang zh|en|both`) and in JSON, a golden Chinese table, the prohibited case, and
//! the warnings of `validate`.

use serde_json::Value;
use std::path::PathBuf;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_airisk");

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

fn out(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn err(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

const TRIAGE: &str = "seeds/profiles/hospital-triage-chatbot.json";
const BANNED: &str = "tests/data/prohibited-social-scoring.json";
const GOLDEN_ZH: &str = "tests/data/golden/classify-hospital-triage-chatbot.zh.txt";

/// The Chinese table of one profile, byte for byte.
#[test]
fn classify_table_in_chinese_is_the_golden_file() {
    let o = run(&["classify", "--format", "table", "--lang", "zh", TRIAGE]);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    let want = std::fs::read_to_string(root().join(GOLDEN_ZH)).unwrap();
    assert_eq!(
        out(&o),
        want,
        "the table changed; if on purpose, regenerate with \
         `cargo run -- classify --format table --lang zh {TRIAGE} > {GOLDEN_ZH}`"
    );
    // What the golden file shows: Chinese labels and names, the ids in parentheses.
    for s in [
        "等级 重大 (major)   得分 10   (仅按得分：较大 (significant))",
        "行业 临床诊疗 (healthcare_clinical)",
        "缓解措施 人工复核机制 (human_review_process)",
        "规模（用户 ≥ 100000）",
        "适用的底线：",
        "clinical-automated-decision  ≥ 重大 (major)",
    ] {
        assert!(want.contains(s), "{s}");
    }
}

/// Columns line up by display width: every factor row's points end in the same column as
/// the header's, with Chinese characters counted as two columns.
#[test]
fn the_chinese_table_lines_up() {
    let text = std::fs::read_to_string(root().join(GOLDEN_ZH)).unwrap();
    let width = |s: &str| -> usize {
        s.chars()
            .map(|c| if (c as u32) >= 0x2E80 { 2 } else { 1 })
            .sum()
    };
    let lines: Vec<&str> = text.lines().collect();
    let header = lines.iter().find(|l| l.contains("分值")).unwrap();
    let end = width(&header[..header.find("分值").unwrap() + "分值".len()]);
    let mut rows = 0;
    // A row's points: the first " +N" or " -N" (a basis may hold "-" later, as in years).
    let points = |l: &str| {
        let b = l.as_bytes();
        (1..b.len().saturating_sub(1)).find(|&i| {
            b[i - 1] == b' ' && (b[i] == b'+' || b[i] == b'-') && b[i + 1].is_ascii_digit()
        })
    };
    for l in &lines {
        let Some(sign) = points(l) else { continue };
        let digits = l[sign + 1..].find(' ').unwrap();
        assert_eq!(width(&l[..sign + 1 + digits]), end, "{l}");
        rows += 1;
    }
    assert!(rows >= 8, "{rows}");
}

#[test]
fn classify_table_in_english_and_in_both() {
    let o = run(&["classify", "--format", "table", "--lang", "en", TRIAGE]);
    let en = out(&o);
    assert!(
        en.contains("grade major (Major)   score 10   (by score alone: significant (Significant))"),
        "{en}"
    );
    assert!(en.contains("sector healthcare_clinical (Clinical diagnosis and treatment)"));
    assert!(!en.contains("重大 /"), "{en}");
    // Without --lang: both languages.
    let o = run(&["classify", "--format", "table", TRIAGE]);
    let both = out(&o);
    assert!(
        both.contains("grade major (重大 / Major)   score 10"),
        "{both}"
    );
    assert!(both.contains("patients (患者 / Patients)"), "{both}");
    assert!(
        both.contains("≥ significant (较大 / Significant)"),
        "{both}"
    );
    let o = run(&["classify", "--format", "table", "--lang", "fr", TRIAGE]);
    assert_eq!(o.status.code(), Some(2), "{}", err(&o));
}

/// The JSON explanation carries the display names next to the ids.
#[test]
fn classify_json_names_grades_factors_and_floors() {
    let o = run(&["classify", TRIAGE]);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    let v: Value = serde_json::from_str(&out(&o)).unwrap();
    assert_eq!(v["grade"], "major");
    assert_eq!(v["grade_name"]["zh"], "重大");
    assert_eq!(v["grade_name"]["en"], "Major");
    assert_eq!(v["score_grade_name"]["zh"], "较大");
    let sector = &v["factors"][0];
    assert_eq!(sector["kind"], "sector");
    assert_eq!(sector["name"]["zh"], "临床诊疗");
    let scale = v["factors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "scale")
        .unwrap();
    assert!(scale.get("name").is_none(), "a scale step has no name");
    assert_eq!(v["floors"][0]["grade_name"]["en"], "Major");
    assert!(v.get("prohibited").is_none());
}

/// A prohibited use: classify still answers, naming the use, its basis and its name; the
/// table says the system would be refused; replay refuses the registration.
#[test]
fn the_prohibited_case_through_the_cli() {
    let o = run(&["classify", BANNED]);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    let v: Value = serde_json::from_str(&out(&o)).unwrap();
    assert_eq!(
        (v["grade"].as_str(), v["score"].as_i64()),
        (Some("major"), Some(15))
    );
    assert_eq!(v["prohibited"]["id"], "social-scoring-by-public-authority");
    assert!(
        v["prohibited"]["basis"]
            .as_str()
            .unwrap()
            .starts_with("PIPL Art. 24 para. 3")
    );
    assert_eq!(v["prohibited"]["name"]["zh"], "公权力机关的全自动社会评分");
    for (lang, want) in [
        (
            "zh",
            "禁止：公权力机关的全自动社会评分 (social-scoring-by-public-authority) — 不予登记",
        ),
        (
            "en",
            "PROHIBITED: social-scoring-by-public-authority (Social scoring by a public authority with no person deciding) — refused registration",
        ),
    ] {
        let o = run(&["classify", "--format", "table", "--lang", lang, BANNED]);
        assert!(out(&o).contains(want), "{lang}: {}", out(&o));
    }
    let profile: Value =
        serde_json::from_str(&std::fs::read_to_string(root().join(BANNED)).unwrap()).unwrap();
    let dir = std::env::temp_dir().join(format!("airisk-cli-classify-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("banned.jsonl");
    std::fs::write(
        &log,
        format!(
            "{}\n",
            serde_json::json!({"op": "register", "ts": 0, "profile": profile})
        ),
    )
    .unwrap();
    let o = run(&["replay", log.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let e = err(&o);
    assert!(
        e.contains(":1: prohibited use \"social-scoring-by-public-authority\"")
            && e.contains("[prohibited]"),
        "{e}"
    );
    assert_eq!(out(&o), "", "nothing registered, nothing emitted");
    let _ = std::fs::remove_dir_all(&dir);
}

fn write_policy(name: &str, edit: impl FnOnce(&mut Value)) -> PathBuf {
    let mut p: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("tests/data/minimal.json")).unwrap(),
    )
    .unwrap();
    edit(&mut p);
    let dir = std::env::temp_dir().join(format!("airisk-cli-lint-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, p.to_string()).unwrap();
    path
}

/// `validate` accepts an incomplete policy but warns, on stderr and in --json, each warning
/// with its JSON path.
#[test]
fn validate_warns_without_failing() {
    let path = write_policy("incomplete.json", |p| {
        p["categories"][1].as_object_mut().unwrap().remove("basis");
        p["rules"][0].as_object_mut().unwrap().remove("basis");
        p["classification"]["floors"][0]
            .as_object_mut()
            .unwrap()
            .remove("basis");
        p["classification"]["autonomy"] = serde_json::json!({});
        p["rules"][0]["thresholds"]["low"] = serde_json::json!([null, null, null, null]);
    });
    let path = path.to_str().unwrap();
    let o = run(&["validate", path]);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    assert_eq!(out(&o), "ok\n");
    let e = err(&o);
    let warnings: Vec<&str> = e.lines().filter(|l| l.starts_with("warning: ")).collect();
    for want in [
        "warning: categories[1]: category \"discrimination\" has no basis",
        "warning: classification.floors[0]: floor \"autonomy-in-public-space\" has no basis",
        "warning: classification.autonomy: empty or absent",
        "warning: rules[0]: rule \"hallucination-rate\" has no basis",
        "warning: grades[0]: no rule has a threshold for grade \"low\"",
    ] {
        assert!(warnings.iter().any(|w| w.starts_with(want)), "{want}\n{e}");
    }
    assert_eq!(warnings.len(), 5, "{e}");
    let o = run(&["validate", "--json", path]);
    assert_eq!(o.status.code(), Some(0));
    let v: Value = serde_json::from_str(&out(&o)).unwrap();
    assert_eq!(v["ok"], true);
    let w = v["warnings"].as_array().unwrap();
    assert_eq!(w.len(), 5, "{v}");
    assert!(w.iter().any(|x| {
        x.as_str()
            .unwrap()
            .starts_with("classification.autonomy: empty or absent")
    }));
    // The default policy and the minimal one have none.
    for p in ["seeds/policy/default.json", "tests/data/minimal.json"] {
        let o = run(&["validate", p]);
        assert!(!err(&o).contains("warning:"), "{p}: {}", err(&o));
    }
}
