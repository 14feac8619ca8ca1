//! Leases and fencing: two workers never process the same partition at the same time; a
//! paused owner that wakes up after losing its lease is fenced off; workers share the
//! partitions fairly and take over a dead worker's share.

mod common;

use airisk_nats::setup::{SetupOptions, ensure};
use airisk_nats::snapshot::{PartitionState, SnapshotStore, WriteError};
use common::*;
use std::collections::BTreeMap;
use std::io::Write as _;
use std::time::{Duration, Instant};

fn state(seq: u64, marker: u8) -> PartitionState {
    PartitionState {
        partition: 0,
        partitions: 16,
        stream_seq: seq,
        events: seq,
        rejected: 0,
        output_seqs: BTreeMap::new(),
        policy_fingerprint: 1,
        policy_doc: None,
        engine: vec![marker; 64],
    }
}

/// Fencing by lease revision, on the snapshot store itself: once a newer owner has fenced a
/// partition, the older owner's snapshot writes fail and its stale claim is refused.
#[test]
fn stale_owner_cannot_write_a_snapshot() {
    let Some(server) = Server::start() else {
        return;
    };
    block_on(async {
        let client = airisk_nats::connect(&airisk_nats::Connect {
            server: server.url(),
            name: "test".into(),
        })
        .await
        .unwrap();
        let js = airisk_nats::setup::context(client, 64);
        let dep = ensure(&js, &SetupOptions::default()).await.unwrap();
        let old = SnapshotStore::new(&dep, "old");
        let new = SnapshotStore::new(&dep, "new");
        let (mut f_old, s) = old.fence(0, 5).await.unwrap();
        assert!(s.is_none(), "no snapshot yet");
        old.write(&mut f_old, &state(10, 1)).await.unwrap();
        // A newer owner (a later lease revision) takes the partition: it finds the old
        // owner's snapshot...
        let (mut f_new, s) = new.fence(0, 9).await.unwrap();
        assert_eq!(s.unwrap(), state(10, 1));
        // ...and from now on the old owner cannot write, nor claim again with its token.
        assert!(matches!(
            old.write(&mut f_old, &state(20, 2)).await,
            Err(WriteError::Fenced)
        ));
        assert!(matches!(old.fence(0, 5).await, Err(WriteError::Fenced)));
        new.write(&mut f_new, &state(30, 3)).await.unwrap();
        let (ptr, _) = new.pointer(0).await.unwrap().unwrap();
        assert_eq!(
            (ptr.token, ptr.stream_seq, ptr.worker.as_str()),
            (9, 30, "new")
        );
        let loaded = new.load(ptr.object.as_deref().unwrap()).await.unwrap();
        assert_eq!(
            loaded,
            state(30, 3),
            "the pointer names the newer owner's snapshot"
        );
    });
}

/// Three workers share 16 partitions (at most ⌈16/3⌉ = 6 each, all 16 owned); when one is
/// killed the other two take its share (8 each).
#[test]
fn workers_share_partitions_and_take_over_a_dead_share() {
    let Some(server) = Server::start() else {
        return;
    };
    let dir = TempDir::new("share");
    let (code, _, err) = run(
        &server,
        &["setup", "--lease-ms", "1000"],
        Duration::from_secs(30),
    );
    assert_eq!(code, 0, "{err}");
    let mut workers: Vec<Proc> = ["s1", "s2", "s3"]
        .iter()
        .map(|w| spawn(&server, &dir, w, &["worker", "--name", w]))
        .collect();
    let owners = |server: &Server| -> BTreeMap<String, usize> {
        let mut m = BTreeMap::new();
        for s in status(server) {
            *m.entry(s.owner.unwrap_or_default()).or_default() += 1;
        }
        m
    };
    let settled = |server: &Server, want: &[&str], cap: usize| -> BTreeMap<String, usize> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let m = owners(server);
            let ok = !m.contains_key("")
                && m.len() == want.len()
                && want
                    .iter()
                    .all(|w| m.get(*w).is_some_and(|&n| n >= 1 && n <= cap));
            if ok {
                return m;
            }
            assert!(
                Instant::now() < deadline,
                "no fair share within 30 s: {m:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let m = settled(&server, &["s1", "s2", "s3"], 6);
    eprintln!("three workers: {m:?}");
    workers[1].kill9();
    let t = Instant::now();
    let m = settled(&server, &["s1", "s3"], 8);
    eprintln!(
        "after kill -9 of s2: {m:?} ({} ms)",
        t.elapsed().as_millis()
    );
    for w in workers.iter_mut().filter(|w| w.child.is_some()) {
        assert!(
            w.stop(Duration::from_secs(30)).success(),
            "{}",
            w.stderr_text()
        );
    }
}

/// A worker paused (SIGSTOP) past its lease TTL while it holds partitions with events
/// waiting: the other worker takes them over; when the paused one wakes up it must not apply
/// anything more (its lease lapsed) and gives the partitions up. Processing intervals never
/// overlap, and the output still equals `airisk replay`.
#[test]
fn paused_owner_never_processes_alongside_the_new_owner() {
    let Some(server) = Server::start() else {
        return;
    };
    let dir = TempDir::new("pause");
    let log = dir.path("events.jsonl");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&log).unwrap());
        airisk_nats::generate::generate(
            &airisk_nats::generate::GenOptions {
                systems: 120,
                events: 40_000,
                seed: 9,
                with_errors: false,
            },
            &mut f,
        )
        .unwrap();
        f.flush().unwrap();
    }
    let (want, _) = per_system(&reference(&log));
    let (code, _, err) = run(
        &server,
        &["setup", "--lease-ms", "1000"],
        Duration::from_secs(30),
    );
    assert_eq!(code, 0, "{err}");
    let traces = [dir.path("a.trace"), dir.path("b.trace")];
    let mut a = spawn(
        &server,
        &dir,
        "a",
        &[
            "worker",
            "--name",
            "a",
            "--trace",
            traces[0].to_str().unwrap(),
        ],
    );
    // a owns everything first.
    let deadline = Instant::now() + Duration::from_secs(30);
    while status(&server)
        .iter()
        .any(|s| s.owner.as_deref() != Some("a"))
    {
        assert!(Instant::now() < deadline, "a did not claim the partitions");
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut b = spawn(
        &server,
        &dir,
        "b",
        &[
            "worker",
            "--name",
            "b",
            "--trace",
            traces[1].to_str().unwrap(),
        ],
    );
    // Pause a, then give its partitions events to process.
    signal(a.pid(), "STOP");
    let paused = airisk_nats::unix_us();
    let (code, _, err) = run(
        &server,
        &["publish", log.to_str().unwrap()],
        Duration::from_secs(300),
    );
    assert_eq!(code, 0, "publish: {err}");
    // b takes over (a's leases expire) and processes; wake a up while b is at it.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !status(&server)
        .iter()
        .any(|s| s.owner.as_deref() == Some("b"))
    {
        assert!(Instant::now() < deadline, "b took nothing over");
        std::thread::sleep(Duration::from_millis(50));
    }
    signal(a.pid(), "CONT");
    wait_caught_up(&server, Duration::from_secs(300));
    let (code, out, err) = run(
        &server,
        &["collect", "--idle-ms", "1000"],
        Duration::from_secs(120),
    );
    assert_eq!(code, 0, "collect: {err}");
    let (got, _) = per_system(&out);
    if let Some(d) = diff(&want, &got) {
        panic!("collect differs from airisk replay: {d}");
    }
    for w in [&mut a, &mut b] {
        assert!(
            w.stop(Duration::from_secs(60)).success(),
            "{}",
            w.stderr_text()
        );
    }
    let events: Vec<TraceEvent> = traces.iter().flat_map(|t| read_trace(t)).collect();
    check_no_overlap(&intervals(&events, &BTreeMap::new())).unwrap();
    // a held partitions when paused and gave them up afterwards, without applying anything
    // after the pause.
    let a_after: Vec<&TraceEvent> = events
        .iter()
        .filter(|e| e.worker == "a" && e.t_us > paused)
        .collect();
    assert!(
        a_after
            .iter()
            .any(|e| e.event == "lost" || e.event == "fenced"),
        "a gave its partitions up after waking: {a_after:?}"
    );
    let old_tokens: Vec<u64> = events
        .iter()
        .filter(|e| e.worker == "a" && e.event == "claim" && e.t_us < paused)
        .map(|e| e.token)
        .collect();
    assert!(!old_tokens.is_empty());
    assert!(
        !a_after
            .iter()
            .any(|e| e.event == "begin" && old_tokens.contains(&e.token)),
        "a applied nothing under its old leases after the pause: {a_after:?}"
    );
    assert!(
        events.iter().any(|e| e.worker == "b" && e.event == "begin"),
        "b processed the events"
    );
}
