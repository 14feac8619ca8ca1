//! A restart of nats-server itself in the middle of a run (JetStream file storage) loses
//! nothing: the publisher resumes after the last message the server stored (the stream then
//! holds every message exactly once, in log order per partition), the workers restart their
//! partitions from their snapshots, and `collect` equals `airisk replay`.

mod common;

use common::*;
use std::io::Write as _;
use std::time::{Duration, Instant};

const PARTITIONS: u32 = 16;

#[test]
fn server_restart_mid_run_loses_nothing() {
    let Some(mut server) = Server::start() else {
        return;
    };
    let dir = TempDir::new("restart");
    let log = dir.path("events.jsonl");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&log).unwrap());
        airisk_nats::generate::generate(
            &airisk_nats::generate::GenOptions {
                systems: 200,
                events: 80_000,
                seed: 5,
                with_errors: false,
            },
            &mut f,
        )
        .unwrap();
        f.flush().unwrap();
    }
    let (want, _) = per_system(&reference(&log));
    let total: usize = want.values().map(Vec::len).sum();
    assert!(total > 100, "enough output to compare ({total})");
    let (code, _, err) = run(
        &server,
        &["setup", "--lease-ms", "1500"],
        Duration::from_secs(30),
    );
    assert_eq!(code, 0, "setup: {err}");
    let mut workers: Vec<Proc> = ["r1", "r2"]
        .iter()
        .map(|w| {
            spawn(
                &server,
                &dir,
                w,
                &["worker", "--name", w, "--snapshot-every", "3000"],
            )
        })
        .collect();
    // One message per line, so the restart finds the publisher mid-log with messages in
    // flight; the server stays down longer than the publish acknowledgement timeout (5 s), so
    // the publisher has to recover from failed acknowledgements.
    let want_lines = log_lines(&log, PARTITIONS);
    let messages: u64 = want_lines.values().map(|v| v.len() as u64).sum();
    let mut publisher = spawn(
        &server,
        &dir,
        "publish",
        &[
            "publish",
            "--batch",
            "1",
            "--in-flight",
            "256",
            log.to_str().unwrap(),
        ],
    );
    let deadline = Instant::now() + Duration::from_secs(120);
    while events_messages(&server) < messages * 2 / 5 {
        assert!(Instant::now() < deadline, "no progress before the restart");
        std::thread::sleep(Duration::from_millis(10));
    }
    eprintln!(
        "restarting nats-server at {} of {messages} event messages, {} outputs",
        events_messages(&server),
        output_messages(&server)
    );
    server.restart(Duration::from_secs(6));
    let st = publisher.wait(Duration::from_secs(300));
    let perr = publisher.stderr_text();
    assert_eq!(st.code(), Some(0), "publish: {perr}");
    assert!(
        perr.contains("recovering"),
        "the restart hit the publisher mid-log (else this test proves less): {perr}"
    );
    wait_caught_up(&server, Duration::from_secs(300));
    // The stream holds every line once, in log order within each partition.
    assert_eq!(
        stream_lines(&server),
        want_lines,
        "the event stream is the log, partition by partition"
    );
    let (code, out, err) = run(
        &server,
        &["collect", "--idle-ms", "1000"],
        Duration::from_secs(120),
    );
    assert_eq!(code, 0, "collect: {err}");
    let (got, seqs) = per_system(&out);
    if let Some(d) = diff(&want, &got) {
        panic!("collect differs from airisk replay after a server restart: {d}");
    }
    check_partition_seqs(&seqs, PARTITIONS).unwrap();
    for w in &mut workers {
        let st = w.stop(Duration::from_secs(60));
        assert!(st.success(), "{}: {st:?}\n{}", w.name, w.stderr_text());
    }
}
