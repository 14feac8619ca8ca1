//! The SM3-chained audit journal: every registration and transition is recorded; edits,
//! deletions, reordering and truncation are detected; a torn last line is repaired on open.

mod common;
use airisk::Engine;
use airisk::journal::{self, Durability, GENESIS, chain_hash};
use common::*;
use serde_json::json;
use std::path::PathBuf;

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("airisk-journal-{}-{name}", std::process::id()));
    let _ = std::fs::remove_file(&d);
    d
}

fn fill(path: &std::path::Path, d: Durability) -> u64 {
    let e = Engine::new(policy(json!([rule(json!({}))])));
    e.open_journal(path, d).unwrap();
    let a = e.register(profile("a", false)).unwrap();
    let b = e.register(profile("b", true)).unwrap();
    let g = e.signal("g").unwrap();
    for (i, v) in [1.0, 3.0, 0.0, 4.0].iter().enumerate() {
        e.observe(a, g, *v, i as i64 * 1000).unwrap();
        e.observe(b, g, *v, i as i64 * 1000).unwrap();
    }
    e.deregister(b).unwrap();
    let st = e.stats();
    assert_eq!(st.journal_errors, 0);
    3 + st.transitions
}

#[test]
fn every_registration_and_transition_is_recorded_and_verifies() {
    let p = tmp("ok");
    let n = fill(&p, Durability::EveryRecord);
    assert_eq!(journal::verify(&p).unwrap(), n);
    let text = std::fs::read_to_string(&p).unwrap();
    let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(first["kind"], "register");
    assert_eq!(first["system"], "a");
    assert_eq!(first["prev"], GENESIS);
    let t: serde_json::Value = serde_json::from_str(text.lines().nth(2).unwrap()).unwrap();
    assert_eq!(t["kind"], "transition");
    assert_eq!(t["seq"], 1);
    // Reopening continues the chain.
    let e = Engine::new(policy(json!([rule(json!({}))])));
    let rep = e.open_journal(&p, Durability::EveryN(8)).unwrap();
    assert_eq!((rep.records, rep.truncated_bytes), (n, 0));
    e.register(profile("c", false)).unwrap();
    e.close_journal();
    assert_eq!(journal::verify(&p).unwrap(), n + 1);
}

#[test]
fn the_documented_layout_verifies_with_openssl() {
    let p = tmp("openssl");
    fill(&p, Durability::Never);
    let text = std::fs::read_to_string(&p).unwrap();
    let line = text.lines().next().unwrap();
    let body = format!("{}}}", &line[..line.len() - 149]);
    let ours = chain_hash(GENESIS, body.as_bytes());
    assert!(line.ends_with(&format!("\"hash\":\"{ours}\"}}")));
    let input = format!("{GENESIS}{body}");
    let out = std::process::Command::new("openssl")
        .args(["dgst", "-sm3", "-r"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(input.as_bytes())?;
            c.wait_with_output()
        });
    match out {
        Ok(o) if o.status.success() => {
            let hex = String::from_utf8_lossy(&o.stdout);
            assert_eq!(hex.split_whitespace().next().unwrap(), ours);
        }
        _ => eprintln!("openssl with SM3 not available; the layout was checked in Rust only"),
    }
}

fn lines(p: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(p)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn write(p: &std::path::Path, l: &[String]) {
    std::fs::write(p, l.iter().map(|x| format!("{x}\n")).collect::<String>()).unwrap();
}

#[test]
fn tampering_is_detected_at_the_first_broken_line() {
    let p = tmp("tamper");
    fill(&p, Durability::Never);
    let orig = lines(&p);
    // Edited: a value changed in line 4.
    let mut l = orig.clone();
    l[3] = l[3].replacen("\"to\":\"", "\"to\":\"x", 1);
    write(&p, &l);
    let b = journal::verify(&p).unwrap_err();
    assert_eq!(b.line, 4, "{}", b.reason);
    assert!(b.reason.contains("edited"), "{}", b.reason);
    // Deleted: line 3 removed → line 3 (formerly 4) has a wrong prev.
    let mut l = orig.clone();
    l.remove(2);
    write(&p, &l);
    let b = journal::verify(&p).unwrap_err();
    assert_eq!(b.line, 3);
    assert!(b.reason.contains("prev"), "{}", b.reason);
    // Reordered.
    let mut l = orig.clone();
    l.swap(4, 5);
    write(&p, &l);
    assert_eq!(journal::verify(&p).unwrap_err().line, 5);
    // Truncated mid-record: reported as torn by verify.
    let mut bytes = std::fs::read(&p).unwrap();
    write(&p, &orig);
    bytes = std::fs::read(&p)
        .unwrap()
        .iter()
        .copied()
        .take(bytes.len() - 20)
        .collect();
    std::fs::write(&p, &bytes).unwrap();
    let b = journal::verify(&p).unwrap_err();
    assert_eq!(b.line, orig.len() as u64);
    assert!(b.reason.contains("torn"));
    // An engine refuses to append to a tampered journal.
    let mut l = orig.clone();
    l[1] = l[1].replacen("\"b\"", "\"B\"", 1);
    write(&p, &l);
    let e = Engine::new(policy(json!([rule(json!({}))])));
    assert!(e.open_journal(&p, Durability::Never).is_err());
}

#[test]
fn a_torn_last_line_is_truncated_on_open_and_the_rest_kept() {
    let p = tmp("torn");
    let n = fill(&p, Durability::Never);
    let mut bytes = std::fs::read(&p).unwrap();
    let torn = b"{\"kind\":\"transition\",\"seq\":99,\"ts\"";
    bytes.extend_from_slice(torn);
    std::fs::write(&p, &bytes).unwrap();
    let e = Engine::new(policy(json!([rule(json!({}))])));
    let rep = e.open_journal(&p, Durability::EveryRecord).unwrap();
    assert_eq!(rep.records, n);
    assert_eq!(rep.truncated_bytes, torn.len() as u64);
    e.register(profile("z", false)).unwrap();
    assert_eq!(journal::verify(&p).unwrap(), n + 1);
}
