//! The publisher's recovery: a connection cut that swallows messages in flight (here a
//! loopback proxy that stops forwarding, then drops every connection for longer than the
//! acknowledgement timeout) makes the publisher find the last message the server stored and
//! publish the rest again, so the event stream is still the log, line for line, in order.

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const FORWARD: u8 = 0;
/// Client → server bytes are read and thrown away (lost in flight).
const SWALLOW: u8 = 1;
/// Every connection is closed and new ones are refused.
const DOWN: u8 = 2;

struct Proxy {
    port: u16,
    mode: Arc<AtomicU8>,
    conns: Arc<Mutex<Vec<TcpStream>>>,
}

impl Proxy {
    fn start(upstream: u16) -> Proxy {
        let listener = TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let mode = Arc::new(AtomicU8::new(FORWARD));
        let conns: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let (m, c) = (mode.clone(), conns.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                if m.load(Ordering::SeqCst) == DOWN {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                    continue;
                };
                {
                    let mut v = c.lock().unwrap();
                    v.push(client.try_clone().unwrap());
                    v.push(server.try_clone().unwrap());
                }
                pump(
                    client.try_clone().unwrap(),
                    server.try_clone().unwrap(),
                    m.clone(),
                    true,
                );
                pump(server, client, m.clone(), false);
            }
        });
        Proxy { port, mode, conns }
    }

    fn set(&self, mode: u8) {
        self.mode.store(mode, Ordering::SeqCst);
        if mode == DOWN {
            for s in self.conns.lock().unwrap().drain(..) {
                let _ = s.shutdown(Shutdown::Both);
            }
        }
    }
}

fn pump(mut from: TcpStream, mut to: TcpStream, mode: Arc<AtomicU8>, upstream: bool) {
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            match mode.load(Ordering::SeqCst) {
                SWALLOW if upstream => continue,
                DOWN => break,
                _ => {
                    if to.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = from.shutdown(Shutdown::Both);
        let _ = to.shutdown(Shutdown::Both);
    });
}

#[test]
fn publisher_resends_what_a_cut_connection_lost() {
    let Some(server) = Server::start() else {
        return;
    };
    let dir = TempDir::new("recovery");
    let log = dir.path("events.jsonl");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&log).unwrap());
        airisk_nats::generate::generate(
            &airisk_nats::generate::GenOptions {
                systems: 100,
                events: 60_000,
                seed: 3,
                with_errors: false,
            },
            &mut f,
        )
        .unwrap();
        f.flush().unwrap();
    }
    let want = log_lines(&log, 16);
    let messages: u64 = want.values().map(|v| v.len() as u64).sum();
    let (code, _, err) = run(&server, &["setup"], Duration::from_secs(30));
    assert_eq!(code, 0, "{err}");
    let proxy = Proxy::start(server.port);
    let out = std::fs::File::create(dir.path("publish.err")).unwrap();
    let mut child = std::process::Command::new(BIN)
        .args(["publish", "--batch", "1", "--in-flight", "512"])
        .arg(&log)
        .env("NATS_URL", format!("nats://127.0.0.1:{}", proxy.port))
        .stdout(std::process::Stdio::null())
        .stderr(out)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while events_messages(&server) < messages / 3 {
        assert!(Instant::now() < deadline, "no progress");
        std::thread::sleep(Duration::from_millis(5));
    }
    // Lose what is in flight, then be unreachable past the 5 s acknowledgement timeout.
    proxy.set(SWALLOW);
    std::thread::sleep(Duration::from_millis(300));
    proxy.set(DOWN);
    let cut_at = events_messages(&server);
    std::thread::sleep(Duration::from_secs(6));
    proxy.set(FORWARD);
    let deadline = Instant::now() + Duration::from_secs(120);
    let st = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        assert!(Instant::now() < deadline, "publish did not finish");
        std::thread::sleep(Duration::from_millis(20));
    };
    let perr = std::fs::read_to_string(dir.path("publish.err")).unwrap();
    assert!(st.success(), "publish: {perr}");
    let resent: u64 = perr
        .lines()
        .filter_map(|l| l.split("; publishing ").nth(1))
        .filter_map(|r| r.split(' ').next()?.parse::<u64>().ok())
        .sum();
    eprintln!("cut at {cut_at} of {messages} messages; {resent} published again");
    assert!(resent > 0, "the cut lost messages in flight: {perr}");
    assert_eq!(
        stream_lines(&server),
        want,
        "the event stream is the log, line for line, in order, once"
    );
}

/// A live feed on standard input: lines are published while the feed stays open (a partly
/// filled message waits only `--linger-ms`), not when the next line or the end comes.
#[test]
fn live_feed_lines_are_published_without_waiting_for_more() {
    let Some(server) = Server::start() else {
        return;
    };
    let (code, _, err) = run(&server, &["setup"], Duration::from_secs(30));
    assert_eq!(code, 0, "{err}");
    let dir = TempDir::new("live");
    let mut child = std::process::Command::new(BIN)
        .args(["publish", "-"])
        .env("NATS_URL", server.url())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(dir.path("publish.err")).unwrap())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let register = r#"{"op":"register","profile":{"id":"bot","sector":"healthcare_clinical","data":"sensitive_personal","autonomy":"autonomous","users":10}}"#;
    writeln!(stdin, "{register}").unwrap();
    writeln!(
        stdin,
        r#"{{"ts":0,"system":"bot","signal":"safety_incidents"}}"#
    )
    .unwrap();
    stdin.flush().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while events_messages(&server) == 0 {
        assert!(
            Instant::now() < deadline,
            "the lines were not published while the feed stayed open"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let lines: usize = stream_lines(&server).values().map(Vec::len).sum();
    assert_eq!(lines, 2);
    drop(stdin);
    assert!(child.wait().unwrap().success());
}
