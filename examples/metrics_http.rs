//! Serves an engine's metrics over HTTP for Prometheus to scrape, with nothing but the
//! standard library: `GET /metrics` answers the OpenMetrics text when the scraper asks for
//! it (Prometheus does, in its `Accept` header), else the Prometheus text format 0.0.4.
//!
//! ```text
//! cargo run --example metrics_http -- [ADDR] [--requests N] [EVENTS.jsonl]
//! cargo run --example metrics_http -- 127.0.0.1:9464 seeds/demo/events.jsonl
//! curl -H 'Accept: application/openmetrics-text' http://127.0.0.1:9464/metrics
//! ```
//!
//! ADDR defaults to 127.0.0.1:9464. The example replays EVENTS.jsonl (if given) into an
//! engine under the default policy and then serves that engine's final state; with
//! `--requests N` it exits after N requests. In a service the engine is shared (an
//! `Arc<Engine>`) between the threads that observe and this one: `render_openmetrics`
//! takes `&self` and locks one shard at a time, so scrapes do not stop observations.
//!
//! One connection at a time, one request per connection: a scrape endpoint needs no more.
//! The text is rendered into one `String` reused across scrapes (no allocation once it is
//! large enough).

use airisk::replay::{ReplayHandler, Replayer};
use airisk::{Engine, Policy};
use std::io::{self, BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

/// The OpenMetrics content type.
pub const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// The Prometheus text format 0.0.4 content type.
pub const PROMETHEUS: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Most bytes of a request head read before giving up on it.
const MAX_HEAD: usize = 16 * 1024;

/// Serves `GET /metrics` on `listener` from `engine`, `max_requests` times (forever
/// without), one connection at a time.
///
/// # Errors
/// Accepting a connection failed.
pub fn serve(listener: &TcpListener, engine: &Engine, max_requests: Option<u64>) -> io::Result<()> {
    let mut body = String::new();
    for (served, stream) in (1u64..).zip(listener.incoming()) {
        // A client that misbehaves costs its own connection only.
        if let Err(e) = handle(stream?, engine, &mut body) {
            eprintln!("metrics_http: {e}");
        }
        if max_requests.is_some_and(|m| served >= m) {
            break;
        }
    }
    Ok(())
}

fn handle(stream: TcpStream, engine: &Engine, body: &mut String) -> io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut accept = String::new();
    let mut read = request_line.len();
    loop {
        let mut line = String::new();
        let n = reader.read_line(&mut line)?;
        read += n;
        if n == 0 || line == "\r\n" || line == "\n" || read > MAX_HEAD {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            if k.eq_ignore_ascii_case("accept") {
                accept = v.trim().to_owned();
            }
        }
    }
    let mut parts = request_line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let mut out = stream;
    if method != "GET" {
        return respond(
            &mut out,
            "405 Method Not Allowed",
            "text/plain",
            "GET only\n",
        );
    }
    if path != "/metrics" && !path.starts_with("/metrics?") {
        return respond(&mut out, "404 Not Found", "text/plain", "see /metrics\n");
    }
    body.clear();
    let content_type = if accept.contains("application/openmetrics-text") {
        engine.render_openmetrics(body);
        OPENMETRICS
    } else {
        engine.render_prometheus(body);
        PROMETHEUS
    };
    respond(&mut out, "200 OK", content_type, body)
}

fn respond(out: &mut TcpStream, status: &str, content_type: &str, body: &str) -> io::Result<()> {
    write!(
        out,
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    out.write_all(body.as_bytes())?;
    out.flush()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut addr = "127.0.0.1:9464".to_owned();
    let mut requests = None;
    let mut events = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--requests" => requests = Some(args.next().ok_or("--requests N")?.parse::<u64>()?),
            a if a.ends_with(".jsonl") => events = Some(a.to_owned()),
            a => addr = a.to_owned(),
        }
    }
    let mut replayer = Replayer::new(Policy::default_policy());
    if let Some(path) = events {
        struct Quiet;
        impl ReplayHandler for Quiet {}
        let file = std::fs::File::open(&path).map_err(|e| format!("{path}: {e}"))?;
        replayer.run(BufReader::new(file), &mut Quiet)?;
    }
    let listener = TcpListener::bind(&addr)?;
    println!("listening on http://{}/metrics", listener.local_addr()?);
    io::stdout().flush()?;
    serve(&listener, replayer.engine(), requests)?;
    Ok(())
}
