//! Test harness: a private nats-server on a free loopback port with JetStream in a temporary
//! directory (stopped when the guard drops, also on panic), processes of the `airisk-nats`
//! binary, and the single-process reference (`airisk replay`).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

static DIRS: AtomicU32 = AtomicU32::new(0);

/// A temporary directory, removed on drop unless `AIRISK_KEEP_TMP` is set.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let n = DIRS.fetch_add(1, Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!(
            "airisk-nats-{tag}-{}-{n}-{}",
            std::process::id(),
            airisk_nats::unix_us()
        ));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::env::var_os("AIRISK_KEEP_TMP").is_some() {
            eprintln!("kept {}", self.0.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// The nats-server executable, if installed. Without it the tests skip, unless
/// `AIRISK_REQUIRE_NATS` is set (CI sets it), in which case they fail.
pub fn nats_server() -> Option<PathBuf> {
    let found = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/bin")])
        .map(|d| d.join("nats-server"))
        .find(|p| p.is_file());
    if found.is_none() {
        assert!(
            std::env::var_os("AIRISK_REQUIRE_NATS").is_none(),
            "nats-server is not installed (apt-get install nats-server) and AIRISK_REQUIRE_NATS is set"
        );
        eprintln!("SKIPPED: nats-server is not installed (apt-get install nats-server)");
    }
    found
}

/// A nats-server with JetStream on 127.0.0.1:<free port>, storing in its own temporary
/// directory. Killed (and its directory removed) on drop.
pub struct Server {
    bin: PathBuf,
    pub port: u16,
    pub dir: TempDir,
    child: Option<Child>,
    starts: u32,
}

fn free_port() -> u16 {
    TcpListener::bind(("127.0.0.1", 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Server {
    pub fn start() -> Option<Server> {
        let bin = nats_server()?;
        let mut s = Server {
            bin,
            port: free_port(),
            dir: TempDir::new("server"),
            child: None,
            starts: 0,
        };
        s.spawn();
        Some(s)
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    fn spawn(&mut self) {
        self.starts += 1;
        let log = File::create(self.dir.path(&format!("server-{}.log", self.starts))).unwrap();
        let child = Command::new(&self.bin)
            .args(["-js", "-a", "127.0.0.1", "-p"])
            .arg(self.port.to_string())
            .arg("-sd")
            .arg(self.dir.path("js"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("starting nats-server");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                break;
            }
            assert!(Instant::now() < deadline, "nats-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the server gracefully (SIGTERM: it flushes its file store) and starts it again on
    /// the same port and store after `down`.
    pub fn restart(&mut self, down: Duration) {
        if let Some(mut c) = self.child.take() {
            signal(c.id(), "TERM");
            let deadline = Instant::now() + Duration::from_secs(20);
            while c.try_wait().unwrap().is_none() {
                assert!(Instant::now() < deadline, "nats-server did not stop");
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        std::thread::sleep(down);
        self.spawn();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Sends a signal (`TERM`, `STOP`, `CONT`, `KILL`) to a process.
pub fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "kill -{sig} {pid} failed");
}

/// A running `airisk-nats` process, killed on drop.
pub struct Proc {
    pub name: String,
    pub child: Option<Child>,
    pub stderr: PathBuf,
}

impl Proc {
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }
    /// SIGTERM, then waits for the exit status (at most `within`).
    pub fn stop(&mut self, within: Duration) -> std::process::ExitStatus {
        let mut c = self.child.take().expect("running");
        signal(c.id(), "TERM");
        let deadline = Instant::now() + within;
        loop {
            if let Some(s) = c.try_wait().unwrap() {
                return s;
            }
            if Instant::now() > deadline {
                let _ = c.kill();
                panic!("{} did not stop within {within:?}", self.name);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    pub fn wait(&mut self, within: Duration) -> std::process::ExitStatus {
        let mut c = self.child.take().expect("running");
        let deadline = Instant::now() + within;
        loop {
            if let Some(s) = c.try_wait().unwrap() {
                return s;
            }
            if Instant::now() > deadline {
                let _ = c.kill();
                panic!(
                    "{} did not finish within {within:?}; stderr:\n{}",
                    self.name,
                    std::fs::read_to_string(&self.stderr).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    pub fn stderr_text(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub const BIN: &str = env!("CARGO_BIN_EXE_airisk-nats");

/// Starts `airisk-nats ARGS` against `server`, stdout to `dir/<name>.out`, stderr to
/// `dir/<name>.err`.
pub fn spawn(server: &Server, dir: &TempDir, name: &str, args: &[&str]) -> Proc {
    let out = File::create(dir.path(&format!("{name}.out"))).unwrap();
    let err_path = dir.path(&format!("{name}.err"));
    let err = File::create(&err_path).unwrap();
    let child = Command::new(BIN)
        .args(args)
        .env("NATS_URL", server.url())
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .expect("starting airisk-nats");
    Proc {
        name: name.to_owned(),
        child: Some(child),
        stderr: err_path,
    }
}

/// Runs `airisk-nats ARGS` to completion; returns (status, stdout, stderr).
pub fn run(server: &Server, args: &[&str], within: Duration) -> (i32, String, String) {
    let dir = TempDir::new("run");
    let mut p = spawn(server, &dir, "run", args);
    let st = p.wait(within);
    let out = std::fs::read_to_string(dir.path("run.out")).unwrap();
    let err = std::fs::read_to_string(dir.path("run.err")).unwrap();
    (st.code().unwrap_or(-1), out, err)
}

/// The `airisk` executable for the reference replay: `AIRISK_BIN` if set, else built now
/// from this workspace into its own target directory (so it is never stale, and the build
/// does not wait on the lock of the `cargo test` that runs us).
pub fn airisk_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("AIRISK_BIN") {
        let p = PathBuf::from(p);
        assert!(p.is_file(), "AIRISK_BIN={} is not a file", p.display());
        return p;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let target = root.join("target").join("airisk-nats-ref");
    let cargo = option_env!("CARGO").unwrap_or("cargo");
    let st = Command::new(cargo)
        .args(["build", "--quiet", "--bin", "airisk", "--manifest-path"])
        .arg(root.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", &target)
        .status()
        .expect("running cargo build --bin airisk");
    assert!(st.success(), "cargo build --bin airisk failed");
    target.join("debug").join("airisk")
}

/// Output lines of one system, in order, each without its `seq` (which is per partition).
pub type PerSystem = BTreeMap<String, Vec<serde_json::Value>>;

/// `seq` of each output line by (system, kind): transitions and incident events (see
/// `docs/formats.md`) are numbered separately.
pub type Seqs = BTreeMap<(String, String), Vec<u64>>;

/// Groups output lines (one JSON object per line) by system, keeping their order, and
/// returns them with the `seq` of each line (to check seq per partition).
pub fn per_system(text: &str) -> (PerSystem, Seqs) {
    let mut out = PerSystem::new();
    let mut seqs = Seqs::new();
    for l in text.lines().filter(|l| !l.trim().is_empty()) {
        let mut v: serde_json::Value = serde_json::from_str(l).expect("output line is JSON");
        let system = v["system"]
            .as_str()
            .expect("output line names its system")
            .to_owned();
        let seq = v
            .as_object_mut()
            .unwrap()
            .remove("seq")
            .and_then(|s| s.as_u64())
            .expect("output line has seq");
        let kind = v["kind"].as_str().unwrap_or("transition").to_owned();
        seqs.entry((system.clone(), kind)).or_default().push(seq);
        out.entry(system).or_default().push(v);
    }
    (out, seqs)
}

/// Runs `airisk replay` on `log`; returns its stdout.
pub fn reference(log: &Path) -> String {
    let out = Command::new(airisk_bin())
        .arg("replay")
        .arg(log)
        .stderr(Stdio::null())
        .output()
        .expect("running airisk replay");
    // Exit status 1 means some lines were rejected (the generated log has a few on purpose).
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "airisk replay failed: {:?}",
        out.status
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Compares per-system output; returns a description of the first differences.
pub fn diff(want: &PerSystem, got: &PerSystem) -> Option<String> {
    let mut msgs = Vec::new();
    for (s, w) in want {
        match got.get(s) {
            None => msgs.push(format!("system {s:?}: {} lines missing entirely", w.len())),
            Some(g) if g != w => {
                let i = w
                    .iter()
                    .zip(g)
                    .position(|(a, b)| a != b)
                    .unwrap_or(w.len().min(g.len()));
                msgs.push(format!(
                    "system {s:?}: {} lines expected, {} got; first difference at line {}: want {} got {}",
                    w.len(),
                    g.len(),
                    i + 1,
                    w.get(i).map_or("-".into(), |v| v.to_string()),
                    g.get(i).map_or("-".into(), |v| v.to_string())
                ))
            }
            _ => {}
        }
    }
    for s in got.keys().filter(|s| !want.contains_key(*s)) {
        msgs.push(format!(
            "system {s:?}: output that the reference does not have"
        ));
    }
    (!msgs.is_empty()).then(|| {
        let n = msgs.len();
        msgs.truncate(10);
        format!("{n} systems differ:\n  {}", msgs.join("\n  "))
    })
}

/// Within each partition, the `seq` of the collected lines of each kind must be exactly
/// 1..=n: the partition's engine numbered its output as one uninterrupted engine would have.
pub fn check_partition_seqs(seqs: &Seqs, partitions: u32) -> Result<(), String> {
    let mut by_part: BTreeMap<(u32, &str), Vec<u64>> = BTreeMap::new();
    for ((s, kind), v) in seqs {
        by_part
            .entry((airisk_nats::partition_of(s, partitions), kind))
            .or_default()
            .extend(v);
    }
    for ((p, kind), mut v) in by_part {
        v.sort_unstable();
        let n = v.len() as u64;
        if v.iter().copied().ne(1..=n) {
            return Err(format!(
                "partition {p}, {kind}: seq is not 1..={n} (first {:?}, last {:?})",
                v.first(),
                v.last()
            ));
        }
    }
    Ok(())
}

/// One ownership event of a worker trace.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct TraceEvent {
    pub t_us: u64,
    pub worker: String,
    pub partition: u32,
    pub token: u64,
    pub event: String,
    pub seq: u64,
}

pub fn read_trace(path: &Path) -> Vec<TraceEvent> {
    let Ok(f) = File::open(path) else {
        return Vec::new();
    };
    BufReader::new(f)
        .lines()
        .map_while(Result::ok)
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(&l).expect("trace line"))
        .collect()
}

/// Processing intervals per partition: (worker, token, first apply, last apply), from
/// `begin`/`end` pairs; an interval without `end` (the worker was killed) ends at `killed_at`
/// of that worker (µs), or is open.
pub fn intervals(
    events: &[TraceEvent],
    killed_at: &BTreeMap<String, u64>,
) -> BTreeMap<u32, Vec<(String, u64, u64, u64)>> {
    let mut open: BTreeMap<(u32, String, u64), u64> = BTreeMap::new();
    let mut out: BTreeMap<u32, Vec<(String, u64, u64, u64)>> = BTreeMap::new();
    let mut sorted = events.to_vec();
    sorted.sort_by_key(|e| e.t_us);
    for e in &sorted {
        let k = (e.partition, e.worker.clone(), e.token);
        match e.event.as_str() {
            "begin" => {
                open.insert(k, e.t_us);
            }
            "end" => {
                if let Some(b) = open.remove(&k) {
                    out.entry(e.partition).or_default().push((
                        e.worker.clone(),
                        e.token,
                        b,
                        e.t_us,
                    ));
                }
            }
            _ => {}
        }
    }
    for ((p, w, token), b) in open {
        let end = killed_at.get(&w).copied().unwrap_or(u64::MAX);
        out.entry(p).or_default().push((w, token, b, end));
    }
    out
}

/// Checks that no two workers' processing intervals of a partition overlap.
pub fn check_no_overlap(iv: &BTreeMap<u32, Vec<(String, u64, u64, u64)>>) -> Result<(), String> {
    for (p, v) in iv {
        let mut v = v.clone();
        v.sort_by_key(|x| x.2);
        for w in v.windows(2) {
            let (a, b) = (&w[0], &w[1]);
            if b.2 < a.3 {
                return Err(format!(
                    "partition {p}: {} (token {}) processed until {} µs but {} (token {}) began at {} µs",
                    a.0, a.1, a.3, b.0, b.1, b.2
                ));
            }
        }
    }
    Ok(())
}

/// A small deterministic random source for test choices.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    pub fn f64(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.f64()
    }
}

/// Messages in the output stream (a progress measure), via the library.
pub fn output_messages(server: &Server) -> u64 {
    block_on(async {
        let client = async_nats::connect(server.url()).await.ok()?;
        let js = async_nats::jetstream::new(client);
        let mut s = js.get_stream(airisk_nats::OUTPUT_STREAM).await.ok()?;
        Some(s.info().await.ok()?.state.messages)
    })
    .unwrap_or(0)
}

/// Messages in the event stream.
pub fn events_messages(server: &Server) -> u64 {
    block_on(async {
        let client = async_nats::connect(server.url()).await.ok()?;
        let js = async_nats::jetstream::new(client);
        let mut s = js.get_stream(airisk_nats::EVENTS_STREAM).await.ok()?;
        Some(s.info().await.ok()?.state.messages)
    })
    .unwrap_or(0)
}

/// `airisk-nats status`, parsed.
pub fn status(server: &Server) -> Vec<airisk_nats::setup::PartitionStatus> {
    let (code, out, err) = run(server, &["status"], Duration::from_secs(30));
    assert_eq!(code, 0, "status failed: {err}");
    out.lines()
        .map(|l| serde_json::from_str(l).expect("status line"))
        .collect()
}

pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// Waits until every partition's snapshot covers its last event (all events consumed).
pub fn wait_caught_up(
    server: &Server,
    within: Duration,
) -> Vec<airisk_nats::setup::PartitionStatus> {
    let deadline = Instant::now() + within;
    loop {
        let st = status(server);
        if st.iter().all(|s| s.caught_up) {
            return st;
        }
        assert!(
            Instant::now() < deadline,
            "not caught up within {within:?}: {:?}",
            st.iter().filter(|s| !s.caught_up).collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Every partition's lines as published: line numbers in stream order (from the
/// `Airisk-Lines` header), read back with the library.
pub fn stream_lines(server: &Server) -> BTreeMap<u32, Vec<u64>> {
    block_on(async {
        let client = async_nats::connect(server.url()).await.unwrap();
        let js = async_nats::jetstream::new(client);
        let stream = js.get_stream(airisk_nats::EVENTS_STREAM).await.unwrap();
        let consumer = stream
            .create_consumer(async_nats::jetstream::consumer::pull::Config {
                ack_policy: async_nats::jetstream::consumer::AckPolicy::None,
                ..Default::default()
            })
            .await
            .unwrap();
        let mut out: BTreeMap<u32, Vec<u64>> = BTreeMap::new();
        let mut msgs = consumer.messages().await.unwrap();
        use futures::StreamExt;
        while let Ok(Some(m)) = tokio::time::timeout(Duration::from_secs(2), msgs.next()).await {
            let m = m.unwrap();
            let p: u32 = m.subject.rsplit('.').next().unwrap().parse().unwrap();
            let lines = m
                .headers
                .as_ref()
                .unwrap()
                .get(airisk_nats::LINES_HEADER)
                .unwrap();
            out.entry(p)
                .or_default()
                .extend(lines.as_str().split(',').map(|x| x.parse::<u64>().unwrap()));
        }
        out
    })
}

/// Every partition's lines as publishing `log` must store them: line numbers in log order
/// (malformed lines are not published; a line that names no system goes to every partition).
pub fn log_lines(log: &Path, partitions: u32) -> BTreeMap<u32, Vec<u64>> {
    let text = std::fs::read(log).unwrap();
    let mut out: BTreeMap<u32, Vec<u64>> = BTreeMap::new();
    for (i, line) in text.split(|&b| b == b'\n').enumerate() {
        if let Ok(Some(_)) = airisk::replay::parse_line(line) {
            for p in airisk_nats::route(line).unwrap().partitions(partitions) {
                out.entry(p).or_default().push(i as u64 + 1);
            }
        }
    }
    out
}
