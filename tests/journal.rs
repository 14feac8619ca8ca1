//! The SM3-chained audit journal: every registration and transition is recorded; edits,
//! deletions and reordering are detected, truncation against an anchor; a torn last line is
//! repaired on open; re-opening continues the chain in a new session.

mod common;
use airisk::Engine;
use airisk::journal::{self, Anchor, Durability, GENESIS, IfExists, Journal, chain_hash};
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
    // The session marker, two registrations, one deregistration, the transitions.
    4 + st.transitions
}

#[test]
fn every_registration_and_transition_is_recorded_and_verifies() {
    let p = tmp("ok");
    let n = fill(&p, Durability::EveryRecord);
    assert_eq!(journal::verify(&p).unwrap(), n);
    let text = std::fs::read_to_string(&p).unwrap();
    let rec = |i: usize| -> serde_json::Value {
        serde_json::from_str(text.lines().nth(i).unwrap()).unwrap()
    };
    let marker = rec(0);
    assert_eq!(marker["kind"], "session");
    assert_eq!(marker["session"], 1);
    assert_eq!(marker["record"], 1);
    assert_eq!(marker["prev"], GENESIS);
    let first = rec(1);
    assert_eq!(first["kind"], "register");
    assert_eq!(first["system"], "a");
    assert_eq!(first["record"], 2);
    let t = rec(3);
    assert_eq!(t["kind"], "transition");
    assert_eq!(t["seq"], 1);
    assert_eq!(t["record"], 4);
}

/// Reads every record of a journal as JSON.
fn records(p: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(p)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn reopening_continues_the_chain_in_a_new_session() {
    let p = tmp("sessions");
    let n = fill(&p, Durability::Never);
    let head1 = journal::verify_chain(&p, None).unwrap().head;
    // A second engine (a second run) opens the same file: its transitions start again at
    // seq 1, but the journal's record numbers go on and a marker opens session 2.
    let n2 = fill(&p, Durability::EveryN(8));
    let v = journal::verify_chain(&p, None).unwrap();
    assert_eq!((v.records, v.sessions), (n + n2, 2));
    let all = records(&p);
    for (i, r) in all.iter().enumerate() {
        assert_eq!(r["record"], i as u64 + 1, "{r}");
    }
    let marker = &all[n as usize];
    assert_eq!(marker["kind"], "session");
    assert_eq!(marker["session"], 2);
    assert_eq!(
        marker["prev"],
        head1.as_str(),
        "the chain links to the previous head"
    );
    let seqs: Vec<u64> = all
        .iter()
        .filter(|r| r["kind"] == "transition")
        .map(|r| r["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs.iter().filter(|&&s| s == 1).count(), 2, "{seqs:?}");
    // The library reports the session it started.
    let e = Engine::new(policy(json!([rule(json!({}))])));
    let rep = e.open_journal(&p, Durability::Never).unwrap();
    assert_eq!((rep.records, rep.session), (n + n2, 3));
    e.close_journal();
    assert_eq!(journal::verify(&p).unwrap(), n + n2 + 1);
}

#[test]
fn refusing_an_existing_journal_leaves_it_untouched() {
    let p = tmp("refuse");
    let (j, rep) = Journal::open_with(&p, Durability::Never, IfExists::Refuse).unwrap();
    assert_eq!((rep.records, rep.session), (0, 1));
    assert_eq!(j.records(), 1);
    drop(j);
    let before = std::fs::read(&p).unwrap();
    let e = Journal::open_with(&p, Durability::Never, IfExists::Refuse).unwrap_err();
    assert!(e.to_string().contains("already exists"), "{e}");
    assert_eq!(std::fs::read(&p).unwrap(), before);
}

#[test]
fn create_journal_starts_a_new_file_and_refuses_any_existing_one() {
    let e = Engine::new(policy(json!([rule(json!({}))])));
    // A fresh path: a new journal, session 1, recording as open_journal does.
    let p = tmp("create");
    let rep = e.create_journal(&p, Durability::Never).unwrap();
    assert_eq!(
        rep,
        journal::OpenReport {
            records: 0,
            truncated_bytes: 0,
            session: 1
        }
    );
    e.register(profile("a", false)).unwrap();
    e.sync_journal().unwrap();
    let before = std::fs::read(&p).unwrap();
    assert_eq!(journal::verify(&p).unwrap(), 2);

    // The same path again: refused with an i/o error naming it; the file is untouched and
    // the open journal stays open (the next registration lands in it).
    let err = e.create_journal(&p, Durability::Never).unwrap_err();
    match &err {
        airisk::Error::Io(m) => {
            assert!(m.contains(&*p.to_string_lossy()), "{m}");
            assert!(m.contains("already exists"), "{m}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(std::fs::read(&p).unwrap(), before);
    e.register(profile("b", false)).unwrap();
    e.sync_journal().unwrap();
    assert_eq!(journal::verify(&p).unwrap(), 3);

    // An empty file is refused too (open_journal, or IfExists::Refuse, would take it).
    let empty = tmp("create-empty");
    std::fs::write(&empty, b"").unwrap();
    assert!(matches!(
        e.create_journal(&empty, Durability::Never),
        Err(airisk::Error::Io(_))
    ));
    assert_eq!(std::fs::read(&empty).unwrap(), b"");
    e.register(profile("c", false)).unwrap();
    e.close_journal();
    assert_eq!(journal::verify(&p).unwrap(), 4);

    // open_journal is unchanged: it continues the file in a new session.
    let rep = e.open_journal(&p, Durability::Never).unwrap();
    assert_eq!((rep.records, rep.session), (4, 2));
    e.close_journal();
    // A path that cannot be created: an i/o error naming it.
    let bad = std::path::Path::new("/nonexistent-dir/journal.jsonl");
    match e.create_journal(bad, Durability::Never) {
        Err(airisk::Error::Io(m)) => {
            assert!(m.starts_with("/nonexistent-dir/journal.jsonl: "), "{m}")
        }
        other => panic!("{other:?}"),
    }
    for f in [&p, &empty] {
        std::fs::remove_file(f).unwrap();
    }
}

#[test]
fn two_engines_racing_to_create_one_journal_cannot_both_win() {
    let p = tmp("race");
    for round in 0..20 {
        let _ = std::fs::remove_file(&p);
        let engines: Vec<Engine> = (0..4)
            .map(|_| Engine::new(policy(json!([rule(json!({}))]))))
            .collect();
        let wins = std::thread::scope(|s| {
            let hs: Vec<_> = engines
                .iter()
                .map(|e| s.spawn(|| e.create_journal(&p, Durability::Never).is_ok()))
                .collect();
            hs.into_iter()
                .map(|h| h.join().unwrap())
                .filter(|won| *won)
                .count()
        });
        assert_eq!(wins, 1, "round {round}");
        for e in &engines {
            e.close_journal();
        }
        assert_eq!(
            journal::verify(&p).unwrap(),
            1,
            "round {round}: one session marker"
        );
    }
    std::fs::remove_file(&p).unwrap();
}

#[test]
fn a_cut_at_a_record_boundary_is_caught_by_an_anchor() {
    let p = tmp("anchor");
    let n = fill(&p, Durability::Never);
    let v = journal::verify_chain(&p, None).unwrap();
    assert_eq!(v.records, n);
    let full = Anchor {
        records: Some(v.records),
        head: Some(v.head.clone()),
    };
    assert_eq!(journal::verify_chain(&p, Some(&full)).unwrap(), v);
    // Cut the last two records: the chain alone still verifies...
    let mut l = lines(&p);
    l.truncate(l.len() - 2);
    write(&p, &l);
    assert_eq!(journal::verify(&p).unwrap(), n - 2);
    // ...but not against the count, nor the head, nor both.
    for anchor in [
        Anchor {
            records: Some(n),
            head: None,
        },
        Anchor {
            records: None,
            head: Some(v.head.clone()),
        },
        full,
    ] {
        let b = journal::verify_chain(&p, Some(&anchor)).unwrap_err();
        assert_eq!(b.line, n - 1, "{anchor:?}: {}", b.reason);
        assert!(
            b.reason.contains("truncated") || b.reason.contains("no record has"),
            "{}",
            b.reason
        );
    }
    // A journal that grew after the anchor was taken still holds it.
    let short = journal::verify_chain(&p, None).unwrap();
    fill(&p, Durability::Never);
    let grown = Anchor {
        records: Some(short.records),
        head: Some(short.head.clone()),
    };
    assert!(journal::verify_chain(&p, Some(&grown)).unwrap().records > short.records);
    // A head that belongs to another record number is refused.
    let wrong = Anchor {
        records: Some(short.records - 1),
        head: Some(short.head),
    };
    let b = journal::verify_chain(&p, Some(&wrong)).unwrap_err();
    assert!(b.reason.contains("not the anchored head"), "{}", b.reason);
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
    l[2] = l[2].replacen("\"b\"", "\"B\"", 1);
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
    assert_eq!(journal::verify(&p).unwrap(), n + 2);
}

/// A line that is not a record (garbage, an empty line, an object without the record
/// fields, a record cut short of its hash) is reported at its line by `verify`, and
/// `Journal::open` refuses to continue such a journal, naming the line and leaving the file
/// as it was.
#[test]
fn a_line_that_is_not_a_record_is_broken_at_its_line() {
    let p = tmp("garbage");
    fill(&p, Durability::Never);
    let orig = lines(&p);
    let cut = orig[3][..orig[3].len() / 2].to_string();
    for bad in [
        "not json",
        "",
        "{}",
        "{\"kind\":\"transition\"}",
        cut.as_str(),
    ] {
        let mut l = orig.clone();
        l.insert(3, bad.to_string());
        write(&p, &l);
        let b = journal::verify(&p).unwrap_err();
        assert_eq!(b.line, 4, "{bad:?}: {}", b.reason);
        let before = std::fs::read(&p).unwrap();
        let err = Journal::open(&p, Durability::Never).unwrap_err();
        assert!(
            matches!(err, airisk::Error::State(ref m) if m.contains("broken at line 4")),
            "{bad:?}: {err}"
        );
        assert_eq!(std::fs::read(&p).unwrap(), before, "{bad:?}");
    }
}

/// An opened journal knows its record count and head (the last record's hash): those of
/// the file plus the session marker it writes on open, the same as `verify_chain` finds.
#[test]
fn an_open_journal_reports_its_records_and_head() {
    let p = tmp("head");
    let n = fill(&p, Durability::Never);
    let before = journal::verify_chain(&p, None).unwrap();
    assert_eq!(before.records, n);
    let (j, rep) = Journal::open(&p, Durability::EveryRecord).unwrap();
    assert_eq!(rep.records, n);
    assert_eq!(j.records(), n + 1, "the session marker");
    assert_ne!(j.head(), before.head);
    let after = journal::verify_chain(&p, None).unwrap();
    assert_eq!(
        (j.records(), j.head()),
        (after.records, after.head.as_str())
    );
    // The marker links to the head before it.
    let last: serde_json::Value = serde_json::from_str(lines(&p).last().unwrap()).unwrap();
    assert_eq!(last["prev"], before.head.as_str());
    assert_eq!(last["hash"], j.head());
}
