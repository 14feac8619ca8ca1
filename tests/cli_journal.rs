//! `airisk replay --journal` writes a verifiable journal and continues it in a new session;
//! `airisk journal verify` names the first broken line, prints the count and head to anchor,
//! and catches a cut at a record boundary against them.

use std::path::{Path, PathBuf};
use std::process::Command;

fn airisk(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_airisk"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap()
}

fn tmp(name: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("airisk-cli-journal-{}-{name}", std::process::id()));
    let _ = std::fs::remove_file(&p);
    p
}

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Replays the demo into `journal`; returns the number of lines printed (transitions and
/// incident events).
fn replay_demo(journal: &str, extra: &[&str]) -> (std::process::Output, usize) {
    let mut args = vec![
        "replay",
        "seeds/demo/events.jsonl",
        "--journal",
        journal,
        "--journal-sync",
        "never",
    ];
    args.extend_from_slice(extra);
    let out = airisk(&args);
    let n = stdout(&out).lines().count();
    (out, n)
}

fn demo_registrations() -> usize {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds/demo/events.jsonl"))
        .unwrap()
        .lines()
        .filter(|l| l.contains("\"register\""))
        .count()
}

/// `ok N records (K sessions)` and `head HASH` → (N, HASH).
fn verified(o: &std::process::Output) -> (u64, String) {
    assert!(o.status.success(), "{}", stderr(o));
    let text = stdout(o);
    let mut lines = text.lines();
    let first = lines.next().unwrap();
    let n = first
        .strip_prefix("ok ")
        .and_then(|r| r.split(' ').next())
        .unwrap()
        .parse()
        .unwrap();
    let head = lines
        .next()
        .unwrap()
        .strip_prefix("head ")
        .unwrap()
        .to_owned();
    assert_eq!(head.len(), 64);
    (n, head)
}

#[test]
fn replay_writes_a_journal_that_verifies_and_tampering_is_named() {
    let j = tmp("demo.jsonl");
    let js = j.to_str().unwrap();
    let (out, printed) = replay_demo(js, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    // A session marker, every registration, every transition and every incident event.
    let records = 1 + printed + demo_registrations();
    let kinds = |text: &str, kind: &str| {
        text.lines()
            .filter(|l| l.contains(&format!("\"kind\":\"{kind}\"")))
            .count()
    };
    let journal = std::fs::read_to_string(&j).unwrap();
    let printed_text = stdout(&out);
    for kind in ["transition", "incident"] {
        assert_eq!(
            kinds(&journal, kind),
            kinds(&printed_text, kind),
            "{kind} records"
        );
    }
    assert!(kinds(&journal, "incident") > 0);
    let v = airisk(&["journal", "verify", js]);
    assert_eq!(
        stdout(&v).lines().next().unwrap(),
        format!("ok {records} records (1 session)")
    );
    let (_, head) = verified(&v);
    // The replay summary names the same count and head.
    assert!(
        stderr(&out).contains(&format!("{records} records (1 session), head {head}")),
        "{}",
        stderr(&out)
    );
    // Edit one record: verify exits 1 naming line 5, once, on stderr.
    let text = std::fs::read_to_string(&j).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    lines[4] = lines[4].replacen("\"kind\":\"", "\"kind\":\"x", 1);
    std::fs::write(&j, lines.join("\n") + "\n").unwrap();
    let v = airisk(&["journal", "verify", js]);
    assert_eq!(v.status.code(), Some(1));
    assert_eq!(stdout(&v), "");
    let e = stderr(&v);
    assert_eq!(e.matches("broken at line 5").count(), 1, "{e}");
    assert!(e.contains("edited"), "{e}");
    // --json: the verdict on stdout.
    let v = airisk(&["journal", "verify", "--json", js]);
    assert_eq!(v.status.code(), Some(1));
    let r: serde_json::Value = serde_json::from_str(&stdout(&v)).unwrap();
    assert_eq!(
        (r["ok"].as_bool(), r["line"].as_u64()),
        (Some(false), Some(5))
    );
    // Replaying onto a tampered journal is refused.
    let out = airisk(&["replay", "seeds/demo/events.jsonl", "--journal", js]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("line 5"));
    // Usage errors.
    assert_eq!(airisk(&["journal", "check", js]).status.code(), Some(2));
    assert_eq!(
        airisk(&["replay", "seeds/demo/events.jsonl", "--journal-sync", "7"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        airisk(&["journal", "verify", "--expect-head", "abc", js])
            .status
            .code(),
        Some(2)
    );
    let _ = std::fs::remove_file(&j);
}

#[test]
fn a_journal_cut_at_a_record_boundary_fails_against_its_anchor() {
    let j = tmp("cut.jsonl");
    let js = j.to_str().unwrap();
    let (out, _) = replay_demo(js, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let (n, head) = verified(&airisk(&["journal", "verify", js]));
    let count = n.to_string();
    // The anchor holds on the intact journal.
    for args in [
        vec!["--expect-count", count.as_str()],
        vec!["--expect-head", head.as_str()],
        vec![
            "--expect-count",
            count.as_str(),
            "--expect-head",
            head.as_str(),
        ],
    ] {
        let mut a = vec!["journal", "verify"];
        a.extend(args.iter());
        a.push(js);
        verified(&airisk(&a));
    }
    // Cut the last three records, exactly at a line boundary: the chain alone says ok...
    let text = std::fs::read_to_string(&j).unwrap();
    let keep: Vec<&str> = text.lines().take(n as usize - 3).collect();
    std::fs::write(&j, keep.join("\n") + "\n").unwrap();
    assert_eq!(verified(&airisk(&["journal", "verify", js])).0, n - 3);
    // ...the anchor does not, with a clear message and exit 1.
    let o = airisk(&["journal", "verify", "--expect-count", &count, js]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains(&format!(
            "truncated: {} records where at least {n} were anchored",
            n - 3
        )),
        "{}",
        stderr(&o)
    );
    let o = airisk(&["journal", "verify", "--expect-head", &head, js]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains(&format!("no record has the anchored head {head}")),
        "{}",
        stderr(&o)
    );
    let o = airisk(&[
        "journal",
        "verify",
        "--expect-count",
        &count,
        "--expect-head",
        &head,
        "--json",
        js,
    ]);
    assert_eq!(o.status.code(), Some(1));
    let r: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(r["ok"], false);
    assert!(r["reason"].as_str().unwrap().contains("truncated"), "{r}");
    let _ = std::fs::remove_file(&j);
}

#[test]
fn replaying_again_continues_the_journal_and_journal_new_refuses_it() {
    let j = tmp("again.jsonl");
    let js = j.to_str().unwrap();
    let (out, t1) = replay_demo(js, &["--journal-new"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let (n1, head1) = verified(&airisk(&["journal", "verify", js]));
    // --journal-new refuses an existing file and leaves it as it was.
    let before = std::fs::read(&j).unwrap();
    let (out, _) = replay_demo(js, &["--journal-new"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("already exists"), "{}", stderr(&out));
    assert_eq!(std::fs::read(&j).unwrap(), before);
    // Without it, a second run continues the chain in session 2.
    let (out, t2) = replay_demo(js, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(t1, t2);
    let v = airisk(&["journal", "verify", js]);
    let (n2, _) = verified(&v);
    assert_eq!(n2, 2 * n1);
    assert!(stdout(&v).starts_with(&format!("ok {n2} records (2 sessions)")));
    let text = std::fs::read_to_string(&j).unwrap();
    let recs: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let marker = &recs[n1 as usize];
    assert_eq!(marker["kind"], "session");
    assert_eq!(marker["session"], 2);
    assert_eq!(marker["record"], n1 + 1);
    assert_eq!(marker["prev"], head1.as_str());
    // Record numbers run on through both sessions; transition seq starts again after the
    // marker (it counts one run's transitions).
    assert!(
        recs.iter()
            .enumerate()
            .all(|(i, r)| r["record"] == i as u64 + 1)
    );
    let first_t = recs[n1 as usize..]
        .iter()
        .find(|r| r["kind"] == "transition")
        .unwrap();
    assert_eq!(first_t["seq"], 1);
    // The first anchor still holds on the grown journal.
    let o = airisk(&[
        "journal",
        "verify",
        "--expect-count",
        &n1.to_string(),
        "--expect-head",
        &head1,
        js,
    ]);
    verified(&o);
    assert!(stderr(&o).contains(&format!("{n1} records were added after record {n1}")));
    let _ = std::fs::remove_file(&j);
}
