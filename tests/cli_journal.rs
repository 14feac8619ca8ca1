//! `airisk replay --journal` writes a verifiable journal; `airisk journal verify` names the
//! first broken line.

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

#[test]
fn replay_writes_a_journal_that_verifies_and_tampering_is_named() {
    let j = tmp("demo.jsonl");
    let js = j.to_str().unwrap();
    let out = airisk(&[
        "replay",
        "seeds/demo/events.jsonl",
        "--journal",
        js,
        "--journal-sync",
        "never",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let transitions = String::from_utf8_lossy(&out.stdout).lines().count();
    let registrations = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds/demo/events.jsonl"),
    )
    .unwrap()
    .lines()
    .filter(|l| l.contains("\"register\""))
    .count();
    let v = airisk(&["journal", "verify", js]);
    assert!(v.status.success());
    assert_eq!(
        String::from_utf8_lossy(&v.stdout).trim(),
        format!("ok {} records", 1 + transitions + registrations) // + the session marker
    );
    // Edit one record: verify exits 1 naming line 5.
    let text = std::fs::read_to_string(&j).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    lines[4] = lines[4].replacen("\"kind\":\"", "\"kind\":\"x", 1);
    std::fs::write(&j, lines.join("\n") + "\n").unwrap();
    let v = airisk(&["journal", "verify", js]);
    assert_eq!(v.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&v.stdout).contains("broken at line 5"),
        "{v:?}"
    );
    // Replaying onto a tampered journal is refused.
    let out = airisk(&["replay", "seeds/demo/events.jsonl", "--journal", js]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 5"));
    // Usage errors.
    assert_eq!(airisk(&["journal", "check", js]).status.code(), Some(2));
    assert_eq!(
        airisk(&["replay", "seeds/demo/events.jsonl", "--journal-sync", "7"])
            .status
            .code(),
        Some(2)
    );
    let _ = std::fs::remove_file(&j);
}
