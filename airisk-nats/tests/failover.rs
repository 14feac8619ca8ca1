//! The failover law: killing workers at any moment loses and
//! duplicates nothing. A generated log of ≥ 200 000 events for ≥ 500 systems goes through 16
//! partitions and 3 workers; `kill -9` takes one worker at a random moment and a second one
//! later; once every event is consumed, `collect`'s output per system equals `airisk replay`
//! of the same log on one process — transitions (and, once the engine emits them, incident
//! events), per-system order, values — apart from `seq`, which is per partition (and which
//! must then be exactly 1..n within each partition). Three rounds, three kill moments; the
//! third round publishes while the workers run.
//!
//! Sizes can be lowered for a quick local run with `AIRISK_NATS_SYSTEMS` and
//! `AIRISK_NATS_EVENTS`; CI uses the defaults.

mod common;

use common::*;
use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

const PARTITIONS: u32 = 16;
const LEASE_MS: &str = "1500";

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn wait_for(what: &str, within: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

struct Round {
    kill_to_resume_ms: Vec<u64>,
    secs: f64,
}

#[allow(clippy::too_many_arguments)]
fn round(
    n: usize,
    seed: u64,
    log: &Path,
    want: &PerSystem,
    total: usize,
    log_lines: &BTreeMap<u32, Vec<u64>>,
    concurrent: bool,
) -> Round {
    let started = Instant::now();
    let server = Server::start().expect("nats-server");
    let dir = TempDir::new("failover");
    let (code, _, err) = run(
        &server,
        &["setup", "--lease-ms", LEASE_MS],
        Duration::from_secs(30),
    );
    assert_eq!(code, 0, "setup: {err}");
    let log_s = log.to_str().unwrap();
    let mut publisher = None;
    // Default batching (one message per line is covered by the server restart test).
    let batch = "64";
    if !concurrent {
        let mut p = spawn(
            &server,
            &dir,
            "publish",
            &["publish", "--batch", batch, log_s],
        );
        let st = p.wait(Duration::from_secs(300));
        // 1: the log holds malformed lines on purpose (reported, not published).
        assert_eq!(st.code(), Some(1), "publish: {}", p.stderr_text());
    }
    let names = ["w1", "w2", "w3"];
    let mut workers: Vec<Proc> = names
        .iter()
        .map(|w| {
            let trace = dir.path(&format!("{w}.trace"));
            spawn(
                &server,
                &dir,
                w,
                &[
                    "worker",
                    "--name",
                    w,
                    "--snapshot-every",
                    "5000",
                    "--trace",
                    trace.to_str().unwrap(),
                ],
            )
        })
        .collect();
    if concurrent {
        publisher = Some(spawn(
            &server,
            &dir,
            "publish",
            &["publish", "--batch", batch, log_s],
        ));
    }
    let mut rng = Rng(seed);
    let fractions = [rng.range(0.1, 0.4), rng.range(0.5, 0.85)];
    let first = (rng.next() % 3) as usize;
    let second = (first + 1 + (rng.next() % 2) as usize) % 3;
    let mut killed_at: BTreeMap<String, u64> = BTreeMap::new();
    for (f, victim) in fractions.iter().zip([first, second]) {
        let at = (f * total as f64) as u64;
        wait_for(&format!("{at} outputs"), Duration::from_secs(300), || {
            output_messages(&server) >= at
        });
        workers[victim].kill9();
        killed_at.insert(names[victim].to_owned(), airisk_nats::unix_us());
        eprintln!(
            "round {n}: kill -9 {} at {:.0}% of the output ({} outputs)",
            names[victim],
            f * 100.0,
            output_messages(&server)
        );
    }
    if let Some(mut p) = publisher {
        let st = p.wait(Duration::from_secs(300));
        assert_eq!(st.code(), Some(1), "publish: {}", p.stderr_text());
    }
    wait_caught_up(&server, Duration::from_secs(300));
    assert_eq!(
        &stream_lines(&server),
        log_lines,
        "round {n}: the event stream is the log, partition by partition"
    );
    let (code, out, err) = run(
        &server,
        &["collect", "--idle-ms", "1000"],
        Duration::from_secs(120),
    );
    assert_eq!(code, 0, "collect: {err}");
    let (got, seqs) = per_system(&out);
    if let Some(d) = diff(want, &got) {
        panic!("round {n}: collect differs from airisk replay: {d}");
    }
    check_partition_seqs(&seqs, PARTITIONS).unwrap_or_else(|e| panic!("round {n}: {e}"));
    // Ownership: nobody processed a partition while another did, and every partition of a
    // killed worker was resumed by another.
    let events: Vec<TraceEvent> = names
        .iter()
        .flat_map(|w| read_trace(&dir.path(&format!("{w}.trace"))))
        .collect();
    check_no_overlap(&intervals(&events, &killed_at)).unwrap_or_else(|e| panic!("round {n}: {e}"));
    let mut kill_to_resume_ms = Vec::new();
    for (victim, &t_kill) in &killed_at {
        let mut held: BTreeMap<u32, bool> = BTreeMap::new();
        let mut sorted: Vec<&TraceEvent> = events.iter().filter(|e| e.t_us < t_kill).collect();
        sorted.sort_by_key(|e| e.t_us);
        for e in sorted {
            if e.worker == *victim {
                match e.event.as_str() {
                    "claim" => {
                        held.insert(e.partition, true);
                    }
                    "release" | "lost" | "fenced" => {
                        held.insert(e.partition, false);
                    }
                    _ => {}
                }
            }
        }
        for (&p, _) in held.iter().filter(|(_, h)| **h) {
            let resumed = events
                .iter()
                .filter(|e| {
                    e.partition == p
                        && e.worker != *victim
                        && e.event == "resume"
                        && e.t_us > t_kill
                })
                .map(|e| e.t_us)
                .min()
                .unwrap_or_else(|| panic!("round {n}: partition {p} of {victim} never resumed"));
            kill_to_resume_ms.push((resumed - t_kill) / 1000);
        }
    }
    assert!(
        !kill_to_resume_ms.is_empty(),
        "the killed workers held partitions"
    );
    // The survivor stops cleanly: final snapshots, leases handed back.
    for w in workers.iter_mut().filter(|w| w.child.is_some()) {
        let st = w.stop(Duration::from_secs(60));
        assert!(st.success(), "{} exit: {st:?}\n{}", w.name, w.stderr_text());
    }
    Round {
        kill_to_resume_ms,
        secs: started.elapsed().as_secs_f64(),
    }
}

#[test]
fn failover_law_with_kill_9_at_three_moments() {
    if nats_server().is_none() {
        return;
    }
    let systems = env_or("AIRISK_NATS_SYSTEMS", 520) as usize;
    let events = env_or("AIRISK_NATS_EVENTS", 200_000);
    let dir = TempDir::new("failover-log");
    let log = dir.path("events.jsonl");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&log).unwrap());
        let r = airisk_nats::generate::generate(
            &airisk_nats::generate::GenOptions {
                systems,
                events,
                seed: 1,
                with_errors: true,
            },
            &mut f,
        )
        .unwrap();
        f.flush().unwrap();
        assert!(r.lines >= events);
    }
    let t = Instant::now();
    let (want, _) = per_system(&reference(&log));
    let total: usize = want.values().map(Vec::len).sum();
    eprintln!(
        "reference: {total} output lines for {} systems ({:.1} s)",
        want.len(),
        t.elapsed().as_secs_f64()
    );
    assert!(
        want.len() * 2 >= systems && total >= systems * 2,
        "the log gives most systems output to compare ({} systems, {total} lines)",
        want.len()
    );
    let lines = log_lines(&log, PARTITIONS);
    for (n, seed) in [0xa11ce_u64, 0xb0b, 0xc0ffee].into_iter().enumerate() {
        let r = round(n + 1, seed, &log, &want, total, &lines, n == 2);
        eprintln!(
            "round {}: passed in {:.1} s; kill-to-resume per partition (ms): {:?}",
            n + 1,
            r.secs,
            r.kill_to_resume_ms
        );
        assert!(
            r.kill_to_resume_ms.iter().all(|&ms| ms < 20_000),
            "partitions resumed within 20 s of the kill"
        );
    }
}
