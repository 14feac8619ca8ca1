//! `seeds/scenarios/triage-upgrade.jsonl`: a planned one-hour model upgrade of the hospital
//! triage chatbot (grade 重大 `major`), Wednesday 2026-03-04 00:00–06:00 UTC.
//!
//! - At 01:45 the operator sets silence `upgrade-2026-03-04` on the chatbot, 01:50–03:30,
//!   with its reason and who set it.
//! - The telemetry stops after the 02:00 heartbeat and resumes at 03:01. Rule
//!   `heartbeat-silence` (major: blue 10 min, yellow 30 min, orange 60 min, red 120 min;
//!   evaluated on heartbeats and on the 5-minute ticks) goes blue at 02:10, yellow at
//!   02:30, orange at 03:00; at 03:01 the silence is 0 and after `clear_for_ms` (10 min) it
//!   falls to none at 03:11.
//! - Every one of those transitions, and the system lines, fall inside the window: they are
//!   emitted with `"silenced"` and only `log` — no notification, no human review, no
//!   fallback (the orange override of `oversight_loss`).
//! - The muting law: orange still opens incident `…/oversight_loss/1` (serious, reportable,
//!   initial report due 4 h later, acknowledgement 30 min later), exactly as without the
//!   silence. The operator acknowledges at 03:05 and files the initial report at 03:20.

use airisk::replay::{Emitted, Replayer};
use airisk::{IncidentEventKind as K, Level, Policy, Transition};

const DAY: i64 = 1_772_582_400_000;
const M: i64 = 60_000;

fn run(text: &str) -> (Vec<Transition>, Vec<airisk::IncidentEvent>) {
    let mut r = Replayer::new(Policy::default_policy());
    for line in text.lines() {
        r.apply_line(line.as_bytes()).expect("every line applies");
    }
    let mut out = Vec::new();
    r.take(&mut out);
    let (mut t, mut i) = (Vec::new(), Vec::new());
    for o in out {
        match o {
            Emitted::Transition(x) => t.push(x),
            Emitted::Incident(x) => i.push(x),
        }
    }
    (t, i)
}

fn scenario() -> String {
    std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("seeds/scenarios/triage-upgrade.jsonl"),
    )
    .unwrap()
}

#[test]
fn the_planned_upgrade_is_muted_but_its_incident_is_not() {
    let text = scenario();
    let (muted, inc) = run(&text);
    let rule: Vec<(i64, Level, Level)> = muted
        .iter()
        .filter(|t| t.rule_id.is_some())
        .map(|t| (t.ts, t.from, t.to))
        .collect();
    assert_eq!(
        rule,
        vec![
            (DAY + 130 * M, Level::None, Level::Blue),
            (DAY + 150 * M, Level::Blue, Level::Yellow),
            (DAY + 180 * M, Level::Yellow, Level::Orange),
            (DAY + 191 * M, Level::Orange, Level::None),
        ]
    );
    for t in &muted {
        assert_eq!(t.silenced.as_deref(), Some("upgrade-2026-03-04"), "{t:?}");
        let want: Vec<&str> = if t.to == Level::None {
            vec![]
        } else {
            vec!["log"]
        };
        assert_eq!(t.actions.iter().map(|a| a.name()).collect::<Vec<_>>(), want);
    }
    // The same night without the silence line: the same transitions, with their actions.
    let plain_text: String = text
        .lines()
        .filter(|l| !l.contains(r#""op":"silence""#))
        .map(|l| format!("{l}\n"))
        .collect();
    let (plain, plain_inc) = run(&plain_text);
    assert_eq!(plain.len(), muted.len());
    let orange = plain
        .iter()
        .find(|t| t.to == Level::Orange && t.rule_id.is_some())
        .unwrap();
    assert!(orange.actions.iter().any(|a| a.name() == "fallback"));
    for (p, m) in plain.iter().zip(&muted) {
        assert_eq!(
            (p.seq, p.ts, p.from, p.to, p.value),
            (m.seq, m.ts, m.from, m.to, m.value)
        );
    }
    // The incident and the operator's handling of it are the same with or without it.
    assert_eq!(inc, plain_inc);
    let ev: Vec<(K, i64)> = inc.iter().map(|e| (e.event, e.ts)).collect();
    assert_eq!(
        ev,
        vec![
            (K::Opened, DAY + 180 * M),
            (K::Acknowledged, DAY + 185 * M),
            (K::Resolved, DAY + 191 * M),
            (K::ReportFiled, DAY + 200 * M),
        ]
    );
    assert_eq!(
        &*inc[0].incident,
        "hospital-triage-chatbot/oversight_loss/1"
    );
    assert_eq!(inc[0].due.map(|d| d.by), Some(DAY + 180 * M + 4 * 60 * M));
    assert_eq!(inc[3].late, Some(false));
}

#[test]
fn the_journal_shows_the_silence_and_who_set_it() {
    let dir = std::env::temp_dir().join(format!("airisk-upgrade-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("journal.jsonl");
    let _ = std::fs::remove_file(&path);
    let mut r = Replayer::new(Policy::default_policy());
    r.engine()
        .open_journal(&path, airisk::Durability::Never)
        .unwrap();
    for line in scenario().lines() {
        r.apply_line(line.as_bytes()).unwrap();
    }
    r.engine().close_journal();
    let text = std::fs::read_to_string(&path).unwrap();
    let silence: serde_json::Value = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|v| v["kind"] == "silence")
        .expect("a silence record");
    assert_eq!(silence["id"], "upgrade-2026-03-04");
    assert_eq!(silence["by"], "ops@hospital.example");
    assert!(silence["reason"].as_str().unwrap().contains("CHG-1042"));
    assert!(airisk::journal::verify(&path).is_ok());
    let _ = std::fs::remove_dir_all(&dir);
}
