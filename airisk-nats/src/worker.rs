//! `airisk-nats worker`: owns partitions through leases and runs one engine per partition.
//!
//! **Leases.** A worker writes a heartbeat `w.<name>` and claims partitions `p.<n>` in the
//! lease bucket, whose `max_age` is the lease TTL: a key not renewed within the TTL
//! disappears, and `create` (which succeeds only for an absent key) claims it. The revision
//! `create` returns is the claim's fencing token (revisions only grow). Every TTL/3 the worker
//! renews its heartbeat and each lease with a compare-and-set on the lease's revision; a
//! renewal that finds another revision means the lease was lost. A worker processes a
//! partition only while `now < (time the last successful renewal was sent) + TTL × 3/4`, a
//! deadline that ends before the server can expire the key, so the next owner's first event
//! comes after this owner's last one (checked before and after applying each message).
//!
//! **Fair share.** The live workers are the heartbeats present; each aims at ⌈P / live⌉
//! partitions, claims free ones up to that and hands extras back (snapshot, then delete the
//! lease), so a worker that joins gets its share and a dead worker's partitions are taken over
//! by the others once its leases expire.
//!
//! **A partition.** The owner fences the partition's snapshot pointer with its token
//! ([`crate::snapshot::SnapshotStore::fence`]), restores the snapshot (a fresh engine when
//! there is none), and reads `airisk.ev.<p>` from the sequence after it with an explicit-ack
//! pull consumer of its own. Each message's lines go through [`airisk::replay::Replayer`]
//! (so every line kind the core knows is applied as `airisk replay` applies it); its output
//! goes to `airisk.out.<p>` with message id `"<system>/<kind>/<n>"`, `n` counting that
//! system's output lines (kept in the snapshot, so it survives failover). A delivery whose
//! consumer sequence skips (a message lost in transit) makes the worker re-create the consumer
//! at the sequence after the last one applied; a redelivery of something already applied is
//! acknowledged and skipped (counted). Every `snapshot_every` events, after
//! `snapshot_interval` with unsaved events, when idle, and when the partition is handed back,
//! the worker waits for every output acknowledgement and writes a snapshot. Any failure
//! (server unreachable, an output not acknowledged) restarts the partition from its last
//! snapshot: output is re-emitted identically (same ids, same `seq`) and the output stream's
//! duplicate window (and `collect`) drops the copies.

use crate::setup::Deployment;
use crate::snapshot::{Fence, PartitionState, SnapshotStore, WriteError};
use crate::{LINES_HEADER, events_subject, log, output_subject, unix_us};
use airisk::replay::{LineError, ReplayHandler, Replayer};
use airisk::{Engine, IncidentEvent, Policy, Transition};
use anyhow::{Context as _, anyhow};
use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, pull};
use async_nats::jetstream::message::PublishMessage;
use futures::StreamExt;
use futures::stream::FuturesOrdered;
use std::collections::{BTreeMap, HashMap};
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Worker options.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// The worker's name (unique among live workers).
    pub name: String,
    /// The policy partitions start with (a snapshot carries its own after a reload).
    pub policy: Policy,
    /// Snapshot a partition after this many events.
    pub snapshot_every: u64,
    /// Snapshot a partition with unsaved events at least this often.
    pub snapshot_interval: Duration,
    /// Snapshot a partition with unsaved events after this long without events.
    pub idle_snapshot: Duration,
    /// Messages per pull request.
    pub fetch: usize,
    /// Bytes per pull request (at most).
    pub fetch_bytes: usize,
    /// Most output messages of one partition whose acknowledgement is outstanding.
    pub out_in_flight: usize,
    /// Most partitions this worker owns (None: no cap besides the fair share).
    pub max_partitions: Option<u32>,
    /// Append ownership events (JSON lines) to this file: `claim`, `resume`, `begin` (first
    /// event applied), `end` (last event applied), `release`, `fenced`, `lost`.
    pub trace: Option<PathBuf>,
    /// Most rejected lines printed one by one.
    pub max_printed_errors: u64,
}

impl WorkerOptions {
    /// Defaults for a worker named `name` running `policy`.
    pub fn new(name: &str, policy: Policy) -> WorkerOptions {
        WorkerOptions {
            name: name.to_owned(),
            policy,
            snapshot_every: 20_000,
            snapshot_interval: Duration::from_secs(10),
            idle_snapshot: Duration::from_millis(300),
            fetch: 1000,
            fetch_bytes: 1 << 20,
            out_in_flight: 4096,
            max_partitions: None,
            trace: None,
            max_printed_errors: 1000,
        }
    }
}

/// Counters of a worker (all partitions together, since start).
#[derive(Debug, Default)]
pub struct WorkerStats {
    /// Event lines applied.
    pub events: AtomicU64,
    /// Event lines rejected (reported on stderr).
    pub rejected: AtomicU64,
    /// Output messages published.
    pub outputs: AtomicU64,
    /// Output messages the server already held (re-emitted after a restart; dropped).
    pub output_duplicates: AtomicU64,
    /// Deliveries of already-applied messages, acknowledged and skipped.
    pub redelivered: AtomicU64,
    /// Consumer sequence gaps (messages lost in transit), each healed by re-reading.
    pub gaps: AtomicU64,
    /// Snapshots written.
    pub snapshots: AtomicU64,
    /// Partitions claimed.
    pub claims: AtomicU64,
    /// Partition restarts from the last snapshot after an error.
    pub restarts: AtomicU64,
    /// Partitions given up because another owner fenced them.
    pub fenced: AtomicU64,
    /// Partitions given up because the lease lapsed or was lost.
    pub lost: AtomicU64,
    /// Partitions handed back (fair share or shutdown).
    pub released: AtomicU64,
}

impl WorkerStats {
    /// One line summary.
    pub fn summary(&self) -> String {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        format!(
            "events {} rejected {} outputs {} (duplicates dropped by the server {}) redelivered {} gaps {} snapshots {} claims {} restarts {} fenced {} lost {} released {}",
            g(&self.events),
            g(&self.rejected),
            g(&self.outputs),
            g(&self.output_duplicates),
            g(&self.redelivered),
            g(&self.gaps),
            g(&self.snapshots),
            g(&self.claims),
            g(&self.restarts),
            g(&self.fenced),
            g(&self.lost),
            g(&self.released)
        )
    }
}

/// How a partition task ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Exit {
    Released,
    LeaseLost,
    Fenced,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    Run,
    Release,
    Abort,
}

struct Shared {
    dep: Deployment,
    o: WorkerOptions,
    store: SnapshotStore,
    stats: Arc<WorkerStats>,
    epoch: Instant,
    trace: Option<Mutex<std::fs::File>>,
    printed: AtomicU64,
}

impl Shared {
    fn who(&self) -> String {
        format!("worker {}", self.o.name)
    }
    fn log(&self, msg: &str) {
        log(&self.who(), msg);
    }
    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }
    fn trace(&self, p: u32, token: u64, event: &str, seq: u64, t_us: u64) {
        if let Some(f) = &self.trace {
            let line = format!(
                "{{\"t_us\":{t_us},\"worker\":{},\"partition\":{p},\"token\":{token},\"event\":\"{event}\",\"seq\":{seq}}}\n",
                serde_json::to_string(&self.o.name).unwrap_or_default()
            );
            if let Ok(mut f) = f.lock() {
                let _ = f.write_all(line.as_bytes());
            }
        }
    }
}

struct Owned {
    token: u64,
    revision: u64,
    valid_until: Arc<AtomicU64>,
    stop: watch::Sender<Stop>,
    task: tokio::task::JoinHandle<Exit>,
    releasing: bool,
}

fn lease_key(p: u32) -> String {
    format!("p.{p}")
}

/// Runs a worker until `shutdown` completes, then hands its partitions back (each with a
/// final snapshot) and returns its counters.
///
/// The partitions run on the calling runtime over `dep`'s connection. The leases run on a
/// thread of their own, with a runtime and a server connection of their own, so that neither
/// busy partitions nor a connection full of deliveries can delay a renewal.
///
/// # Errors
/// When the trace file cannot be opened or the lease thread cannot start. Server trouble is
/// never fatal: the worker keeps retrying, and its leases lapse while it cannot renew them.
pub async fn run<F: std::future::Future<Output = ()>>(
    dep: Deployment,
    control: crate::Connect,
    o: WorkerOptions,
    shutdown: F,
) -> anyhow::Result<Arc<WorkerStats>> {
    let trace = match &o.trace {
        Some(path) => Some(Mutex::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("opening trace file {}", path.display()))?,
        )),
        None => None,
    };
    let stats = Arc::new(WorkerStats::default());
    let shared = Arc::new(Shared {
        store: SnapshotStore::new(&dep, &o.name),
        dep,
        o,
        stats: stats.clone(),
        epoch: Instant::now(),
        trace,
        printed: AtomicU64::new(0),
    });
    let data = tokio::runtime::Handle::current();
    let (stop_tx, stop_rx) = watch::channel(false);
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    let sh = shared.clone();
    std::thread::Builder::new()
        .name("airisk-leases".into())
        .spawn(move || {
            let r = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt.block_on(leases_main(sh, control, data, stop_rx)),
                Err(e) => Err(anyhow!("cannot start the lease runtime: {e}")),
            };
            let _ = done_tx.send(r);
        })
        .context("starting the lease thread")?;
    let mut done_rx = done_rx;
    tokio::select! {
        () = shutdown => {
            let _ = stop_tx.send(true);
            done_rx.await.map_err(|_| anyhow!("the lease thread died"))??;
        }
        r = &mut done_rx => r.map_err(|_| anyhow!("the lease thread died"))??,
    }
    shared.log(&format!("stopped: {}", stats.summary()));
    Ok(stats)
}

/// The lease manager (see the [module docs](self)), on its own thread and connection;
/// partitions are spawned on `data`.
async fn leases_main(
    shared: Arc<Shared>,
    control: crate::Connect,
    data: tokio::runtime::Handle,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let client = crate::connect(&control).await?;
    let js = crate::setup::context(client, 1024);
    let leases = js
        .get_key_value(crate::LEASE_BUCKET)
        .await
        .map_err(|e| anyhow!("opening the lease bucket: {e}"))?;
    let ttl = shared.dep.lease_ttl;
    let tick = (ttl / 3).max(Duration::from_millis(50));
    let margin = ttl / 4;
    let partitions = shared.dep.config.partitions;
    let offset = (crate::fnv1a64(shared.o.name.as_bytes()) % u64::from(partitions)) as u32;
    let mut owned: BTreeMap<u32, Owned> = BTreeMap::new();
    let heartbeat_key = format!("w.{}", shared.o.name);
    shared.log(&format!(
        "started: {partitions} partitions, lease TTL {ttl:?}, renewing every {tick:?}"
    ));
    let heartbeat = |leases: async_nats::jetstream::kv::Store, key: String, name: String| async move {
        let v = serde_json::json!({"worker": name, "pid": std::process::id(), "unix_ms": crate::unix_ms()});
        leases.put(key, v.to_string().into()).await
    };
    if let Err(e) = heartbeat(leases.clone(), heartbeat_key.clone(), shared.o.name.clone()).await {
        shared.log(&format!("heartbeat failed: {e}"));
    }
    // Let the other workers' heartbeats become visible before taking a share.
    tokio::time::sleep(tick).await;
    let mut interval = tokio::time::interval(tick);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            _ = stop.changed() => break,
        }
        // Renew every lease at once (and the heartbeat, and count the live workers): a slow
        // server must not make one lease wait for another.
        let mut gone = Vec::new();
        let mut renewals = Vec::new();
        for (&p, ow) in owned.iter() {
            if ow.task.is_finished() {
                gone.push(p);
                continue;
            }
            let leases = leases.clone();
            let v = lease_value(&shared.o.name, ow.token);
            let rev = ow.revision;
            let sent = shared.now_ms();
            renewals.push(async move {
                let r = match leases.update(lease_key(p), v.into(), rev).await {
                    Ok(rev) => Ok(rev),
                    Err(e) => {
                        // Lost, or did the renewal fail in transit? The entry tells.
                        let lost = match leases.entry(lease_key(p)).await {
                            Ok(Some(en)) => {
                                en.revision != rev
                                    || en.operation != async_nats::jetstream::kv::Operation::Put
                            }
                            Ok(None) => true,
                            Err(_) => false,
                        };
                        Err((lost, e.to_string()))
                    }
                };
                (p, sent, r)
            });
        }
        let (results, hb, live) = tokio::join!(
            futures::future::join_all(renewals),
            heartbeat(leases.clone(), heartbeat_key.clone(), shared.o.name.clone()),
            live_workers(&leases)
        );
        if let Err(e) = hb {
            shared.log(&format!("heartbeat failed: {e}"));
        }
        for (p, sent, r) in results {
            let Some(ow) = owned.get_mut(&p) else {
                continue;
            };
            match r {
                Ok(rev) => {
                    ow.revision = rev;
                    ow.valid_until.store(
                        sent + ttl.as_millis() as u64 - margin.as_millis() as u64,
                        Ordering::Release,
                    );
                }
                Err((true, e)) => {
                    shared.log(&format!("partition {p}: lease lost ({e})"));
                    ow.valid_until.store(0, Ordering::Release);
                    ow.releasing = true;
                    let _ = ow.stop.send(Stop::Abort);
                }
                Err((false, e)) => {
                    shared.log(&format!(
                        "partition {p}: lease renewal failed ({e}); retrying"
                    ));
                }
            }
        }
        for p in gone {
            if let Some(ow) = owned.remove(&p) {
                let exit = ow.task.await.unwrap_or(Exit::LeaseLost);
                finish(&shared, &leases, p, &ow.stop, ow.token, ow.revision, exit).await;
            }
        }
        // Fair share.
        let live = live.unwrap_or(1).max(1);
        let mut target = partitions.div_ceil(live as u32);
        if let Some(m) = shared.o.max_partitions {
            target = target.min(m);
        }
        let active = owned.values().filter(|o| !o.releasing).count() as u32;
        if active > target {
            let extra = (active - target) as usize;
            for (&p, ow) in owned
                .iter_mut()
                .rev()
                .filter(|(_, o)| !o.releasing)
                .take(extra)
            {
                shared.log(&format!(
                    "partition {p}: handing back ({live} workers, share {target})"
                ));
                ow.releasing = true;
                let _ = ow.stop.send(Stop::Release);
            }
        } else if active < target {
            let mut want = target - active;
            for i in 0..partitions {
                if want == 0 {
                    break;
                }
                let p = (offset + i) % partitions;
                if owned.contains_key(&p) {
                    continue;
                }
                let sent = shared.now_ms();
                let Ok(token) = leases
                    .create(lease_key(p), lease_value(&shared.o.name, 0).into())
                    .await
                else {
                    continue;
                };
                want -= 1;
                shared.stats.claims.fetch_add(1, Ordering::Relaxed);
                shared.trace(p, token, "claim", 0, unix_us());
                let valid_until = Arc::new(AtomicU64::new(
                    sent + ttl.as_millis() as u64 - margin.as_millis() as u64,
                ));
                let (stop_tx, stop_rx) = watch::channel(Stop::Run);
                let task = data.spawn(partition_task(
                    shared.clone(),
                    p,
                    token,
                    valid_until.clone(),
                    stop_rx,
                ));
                owned.insert(
                    p,
                    Owned {
                        token,
                        revision: token,
                        valid_until,
                        stop: stop_tx,
                        task,
                        releasing: false,
                    },
                );
            }
        }
    }
    // Shutdown: hand everything back, keeping the leases alive while the final snapshots are
    // written.
    shared.log(&format!(
        "shutting down: handing back {} partitions",
        owned.len()
    ));
    for ow in owned.values() {
        let _ = ow.stop.send(Stop::Release);
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while owned.values().any(|o| !o.task.is_finished()) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
        if interval_due(&shared, &owned, tick) {
            for (&p, ow) in owned.iter_mut() {
                let sent = shared.now_ms();
                if let Ok(rev) = leases
                    .update(
                        lease_key(p),
                        lease_value(&shared.o.name, ow.token).into(),
                        ow.revision,
                    )
                    .await
                {
                    ow.revision = rev;
                    ow.valid_until.store(
                        sent + ttl.as_millis() as u64 - margin.as_millis() as u64,
                        Ordering::Release,
                    );
                }
            }
        }
    }
    for (p, ow) in std::mem::take(&mut owned) {
        ow.task.abort();
        let exit = ow.task.await.unwrap_or(Exit::LeaseLost);
        finish(&shared, &leases, p, &ow.stop, ow.token, ow.revision, exit).await;
    }
    let _ = leases.delete(&heartbeat_key).await;
    Ok(())
}

/// Whether the leases should be renewed now (during shutdown): when the earliest validity
/// is less than two ticks away.
fn interval_due(shared: &Shared, owned: &BTreeMap<u32, Owned>, tick: Duration) -> bool {
    let now = shared.now_ms();
    owned
        .values()
        .map(|o| o.valid_until.load(Ordering::Acquire))
        .min()
        .is_some_and(|v| v < now + 2 * tick.as_millis() as u64)
}

async fn finish(
    shared: &Shared,
    leases: &async_nats::jetstream::kv::Store,
    p: u32,
    stop: &watch::Sender<Stop>,
    token: u64,
    revision: u64,
    exit: Exit,
) {
    let _ = stop.send(Stop::Abort);
    let (counter, event) = match exit {
        Exit::Released => (&shared.stats.released, "release"),
        Exit::LeaseLost => (&shared.stats.lost, "lost"),
        Exit::Fenced => (&shared.stats.fenced, "fenced"),
    };
    counter.fetch_add(1, Ordering::Relaxed);
    shared.trace(p, token, event, 0, unix_us());
    // Give the lease back at once (only if it is still ours), so the next owner need not
    // wait for the TTL.
    let _ = leases
        .delete_expect_revision(lease_key(p), Some(revision))
        .await;
    shared.log(&format!("partition {p}: {event}"));
}

fn lease_value(worker: &str, token: u64) -> String {
    serde_json::json!({"worker": worker, "token": token}).to_string()
}

async fn live_workers(leases: &async_nats::jetstream::kv::Store) -> anyhow::Result<usize> {
    let mut keys = leases.keys().await.map_err(|e| anyhow!("{e}"))?;
    let mut n = 0;
    while let Some(k) = keys.next().await {
        if k.map_err(|e| anyhow!("{e}"))?.starts_with("w.") {
            n += 1;
        }
    }
    Ok(n)
}

async fn partition_task(
    shared: Arc<Shared>,
    p: u32,
    token: u64,
    valid_until: Arc<AtomicU64>,
    mut stop: watch::Receiver<Stop>,
) -> Exit {
    let mut attempt = 0u32;
    loop {
        let mut part = PartitionRun {
            shared: &shared,
            p,
            token,
            valid_until: &valid_until,
            first_apply: None,
            last_apply_us: 0,
        };
        let r = part.run(&mut stop).await;
        part.trace_end();
        match r {
            Ok(exit) => return exit,
            Err(e) => {
                shared.stats.restarts.fetch_add(1, Ordering::Relaxed);
                shared.log(&format!(
                    "partition {p}: {e:#}; restarting from the last snapshot"
                ));
                attempt += 1;
                let pause = Duration::from_millis((100 * u64::from(attempt)).min(1000));
                tokio::select! {
                    _ = tokio::time::sleep(pause) => {}
                    _ = stop.changed() => {}
                }
                if *stop.borrow() != Stop::Run {
                    return if *stop.borrow() == Stop::Release {
                        Exit::Released
                    } else {
                        Exit::LeaseLost
                    };
                }
                if shared.now_ms() >= valid_until.load(Ordering::Acquire) {
                    return Exit::LeaseLost;
                }
            }
        }
    }
}

/// One output line: a transition or an incident event.
#[derive(Debug, Clone)]
pub enum Output {
    /// A transition (kind `transition`); `true` when the policy has incidents, so the line
    /// carries `"kind": "transition"` as `airisk replay` prints it.
    Transition(Transition, bool),
    /// An incident event (kind `incident`).
    Incident(IncidentEvent),
}

impl Output {
    /// The kind, as used in message ids.
    pub fn kind(&self) -> &'static str {
        match self {
            Output::Transition(..) => "transition",
            Output::Incident(_) => "incident",
        }
    }
    /// The system it belongs to.
    pub fn system(&self) -> &str {
        match self {
            Output::Transition(t, _) => &t.system_id,
            Output::Incident(e) => &e.system_id,
        }
    }
    /// The line `airisk replay` prints for it.
    pub fn to_json(&self) -> Vec<u8> {
        match self {
            Output::Transition(t, kind) => {
                let mut v = Vec::new();
                let _ = t.write_json(&mut v, *kind);
                v
            }
            Output::Incident(e) => serde_json::to_vec(e).unwrap_or_default(),
        }
    }
}

/// Collects what the replayer hands out for one message.
struct Apply<'a> {
    out: &'a mut Vec<Output>,
    rejected: &'a mut Vec<(u64, LineError)>,
    base: u64,
    /// Whether the engine's policy has incidents (transitions then carry their kind).
    kinds: bool,
}

impl ReplayHandler for Apply<'_> {
    fn transition(&mut self, t: &Transition) -> std::io::Result<()> {
        self.out.push(Output::Transition(t.clone(), self.kinds));
        Ok(())
    }
    fn incident(&mut self, e: &IncidentEvent) -> std::io::Result<()> {
        self.out.push(Output::Incident(e.clone()));
        Ok(())
    }
    fn rejected(&mut self, line: u64, e: &LineError) -> std::io::Result<()> {
        self.rejected.push((line - self.base, e.clone()));
        Ok(())
    }
}

use crate::publish::AckFuture;

struct PartitionRun<'a> {
    shared: &'a Arc<Shared>,
    p: u32,
    token: u64,
    valid_until: &'a AtomicU64,
    first_apply: Option<u64>,
    last_apply_us: u64,
}

struct Live {
    replayer: Replayer,
    fence: Fence,
    applied: u64,
    events: u64,
    rejected: u64,
    output_seqs: HashMap<Box<str>, u64>,
    since_snapshot: u64,
    last_snapshot: Instant,
    outputs: FuturesOrdered<AckFuture>,
    /// The snapshot being written in the background (it hands the fence back).
    writer: Option<tokio::task::JoinHandle<(Fence, Result<(), WriteError>)>>,
}

/// Counts one output acknowledgement.
fn count_ack(
    stats: &WorkerStats,
    r: Result<
        async_nats::jetstream::publish::PublishAck,
        async_nats::jetstream::context::PublishError,
    >,
) -> anyhow::Result<()> {
    match r {
        Ok(a) => {
            let c = if a.duplicate {
                &stats.output_duplicates
            } else {
                &stats.outputs
            };
            c.fetch_add(1, Ordering::Relaxed);
            Ok(())
        }
        Err(e) => Err(anyhow!("an output was not acknowledged: {e}")),
    }
}

impl PartitionRun<'_> {
    fn valid(&self) -> bool {
        self.shared.now_ms() < self.valid_until.load(Ordering::Acquire)
    }

    fn trace_end(&mut self) {
        if self.first_apply.take().is_some() {
            self.shared
                .trace(self.p, self.token, "end", 0, self.last_apply_us);
        }
    }

    async fn run(&mut self, stop: &mut watch::Receiver<Stop>) -> anyhow::Result<Exit> {
        let sh = self.shared.clone();
        let p = self.p;
        if !self.valid() {
            return Ok(Exit::LeaseLost);
        }
        let t0 = Instant::now();
        let (fence, state) = match sh.store.fence(p, self.token).await {
            Ok(x) => x,
            Err(WriteError::Fenced) => return Ok(Exit::Fenced),
            Err(WriteError::Other(e)) => return Err(e),
        };
        let previous = fence.pointer.clone();
        let mut live = match state {
            Some(s) => {
                let policy = if s.policy_fingerprint == sh.o.policy.fingerprint() {
                    sh.o.policy.clone()
                } else {
                    let doc = s.policy_doc.as_deref().ok_or_else(|| {
                        anyhow!(
                            "snapshot runs policy {:016x}, which is not this worker's, and does not carry it",
                            s.policy_fingerprint
                        )
                    })?;
                    Policy::from_json(std::str::from_utf8(doc)?)
                        .map_err(|e| anyhow!("snapshot's policy: {e}"))?
                };
                let engine = Engine::restore(policy, &s.engine)
                    .map_err(|e| anyhow!("restoring partition {p}: {e}"))?;
                Live {
                    replayer: Replayer::with_engine(engine),
                    fence,
                    applied: s.stream_seq,
                    events: s.events,
                    rejected: s.rejected,
                    output_seqs: s
                        .output_seqs
                        .into_iter()
                        .map(|(k, v)| (k.into_boxed_str(), v))
                        .collect(),
                    since_snapshot: 0,
                    last_snapshot: Instant::now(),
                    outputs: FuturesOrdered::new(),
                    writer: None,
                }
            }
            None => Live {
                replayer: Replayer::new(sh.o.policy.clone()),
                applied: fence.pointer.stream_seq,
                fence,
                events: 0,
                rejected: 0,
                output_seqs: HashMap::new(),
                since_snapshot: 0,
                last_snapshot: Instant::now(),
                outputs: FuturesOrdered::new(),
                writer: None,
            },
        };
        sh.log(&format!(
            "partition {p}: resumed after seq {} ({} events; snapshot by {:?}) in {} ms",
            live.applied,
            live.events,
            previous.worker,
            t0.elapsed().as_millis()
        ));
        sh.trace(p, self.token, "resume", live.applied, unix_us());
        let stream = sh.dep.events.clone();
        let mut generation = 0u32;
        let mut last_consumer: Option<String> = None;
        loop {
            generation += 1;
            if let Some(old) = last_consumer.take() {
                let s = stream.clone();
                tokio::spawn(async move {
                    let _ = s.delete_consumer(&old).await;
                });
            }
            let name = format!("airisk-p{p}-t{}-g{generation}", self.token);
            let first = stream
                .get_info()
                .await
                .map(|i| i.state.first_sequence)
                .unwrap_or(0);
            if live.applied > 0 && first > live.applied + 1 {
                sh.log(&format!(
                    "partition {p}: ERROR the event stream now starts at seq {first}, but this partition has applied only through {}: events in between were removed by the stream's limits and are lost to this partition",
                    live.applied
                ));
            }
            let consumer = stream
                .create_consumer(pull::Config {
                    name: Some(name.clone()),
                    durable_name: Some(name.clone()),
                    description: Some(format!("airisk-nats worker {} partition {p}", sh.o.name)),
                    filter_subject: events_subject(p),
                    deliver_policy: DeliverPolicy::ByStartSequence {
                        start_sequence: live.applied + 1,
                    },
                    ack_policy: AckPolicy::Explicit,
                    ack_wait: Duration::from_secs(60),
                    max_ack_pending: (sh.o.fetch as i64 * 4).max(1000),
                    inactive_threshold: Duration::from_secs(30),
                    ..Default::default()
                })
                .await
                .map_err(|e| anyhow!("creating consumer {name}: {e}"))?;
            last_consumer = Some(name.clone());
            let mut messages = consumer
                .stream()
                .max_messages_per_batch(sh.o.fetch)
                // Bounded bytes in flight per partition, so the server never holds more for
                // this connection than its slow-consumer limit (it would cut the connection).
                .max_bytes_per_batch(sh.o.fetch_bytes)
                .expires(Duration::from_secs(5))
                .heartbeat(Duration::from_secs(2))
                .messages()
                .await
                .map_err(|e| anyhow!("pulling from {name}: {e}"))?;
            let mut expect_cseq = 1u64;
            loop {
                let next = tokio::select! {
                    biased;
                    r = stop.changed() => {
                        // A dropped sender means the lease manager is gone: stop.
                        let s = if r.is_err() { Stop::Abort } else { *stop.borrow() };
                        match s {
                            Stop::Run => continue,
                            Stop::Release => {
                                let r = if live.since_snapshot > 0 && self.valid() {
                                    self.snapshot(&mut live, true).await
                                } else {
                                    self.join_writer(&mut live).await
                                };
                                if let Err(e) = r {
                                    sh.log(&format!("partition {p}: final snapshot failed: {e:#}"));
                                }
                                let _ = stream.delete_consumer(&name).await;
                                return Ok(Exit::Released);
                            }
                            Stop::Abort => return Ok(Exit::LeaseLost),
                        }
                    }
                    r = live.outputs.next(), if !live.outputs.is_empty() => {
                        self.output_acked(r)?;
                        continue;
                    }
                    m = tokio::time::timeout(sh.o.idle_snapshot, messages.next()) => m,
                };
                let msg = match next {
                    Err(_idle) => {
                        if live.since_snapshot > 0 {
                            if !self.valid() {
                                return Ok(Exit::LeaseLost);
                            }
                            match self.snapshot(&mut live, false).await? {
                                Some(exit) => return Ok(exit),
                                None => continue,
                            }
                        }
                        continue;
                    }
                    Ok(None) => break,
                    Ok(Some(Err(e))) => {
                        sh.log(&format!(
                            "partition {p}: consumer {name}: {e}; re-creating it"
                        ));
                        break;
                    }
                    Ok(Some(Ok(m))) => m,
                };
                if live.writer.as_ref().is_some_and(|w| w.is_finished())
                    && let Some(exit) = self.join_writer(&mut live).await?
                {
                    return Ok(exit);
                }
                let info = msg.info().map_err(|e| anyhow!("{e}"))?;
                let (sseq, cseq) = (info.stream_sequence, info.consumer_sequence);
                if cseq != expect_cseq {
                    sh.stats.gaps.fetch_add(1, Ordering::Relaxed);
                    sh.log(&format!(
                        "partition {p}: consumer sequence {cseq} where {expect_cseq} was due (a delivery was lost); re-reading from seq {}",
                        live.applied + 1
                    ));
                    break;
                }
                expect_cseq += 1;
                if sseq <= live.applied {
                    sh.stats.redelivered.fetch_add(1, Ordering::Relaxed);
                    let _ = msg.ack().await;
                    continue;
                }
                if !self.valid() {
                    return Ok(Exit::LeaseLost);
                }
                let t_begin = unix_us();
                let mut out = Vec::new();
                let mut rejected = Vec::new();
                let base = live.replayer.stats().lines;
                let before = live.replayer.stats().accepted;
                let kinds = live.replayer.engine().policy().incidents().is_some();
                live.replayer
                    .run(
                        &msg.payload[..],
                        &mut Apply {
                            out: &mut out,
                            rejected: &mut rejected,
                            base,
                            kinds,
                        },
                    )
                    .map_err(|e| anyhow!("applying seq {sseq}: {e}"))?;
                // The apply counts only if the lease was still held when it ended.
                if !self.valid() {
                    return Ok(Exit::LeaseLost);
                }
                let t_end = unix_us();
                if self.first_apply.is_none() {
                    self.first_apply = Some(t_begin);
                    sh.trace(p, self.token, "begin", sseq, t_begin);
                }
                self.last_apply_us = t_end;
                let lines = live.replayer.stats().lines - base;
                let accepted = live.replayer.stats().accepted - before;
                live.events += lines;
                live.since_snapshot += lines;
                live.rejected += rejected.len() as u64;
                sh.stats.events.fetch_add(accepted, Ordering::Relaxed);
                if !rejected.is_empty() {
                    self.report_rejected(&msg, &rejected);
                }
                live.applied = sseq;
                for o in out {
                    self.publish_output(&mut live, o).await?;
                }
                let _ = msg.ack().await;
                if (live.since_snapshot >= sh.o.snapshot_every
                    || live.last_snapshot.elapsed() >= sh.o.snapshot_interval)
                    && let Some(exit) = self.snapshot(&mut live, false).await?
                {
                    return Ok(exit);
                }
            }
            // Re-create the consumer at the sequence after the last one applied.
            tokio::time::sleep(Duration::from_millis(50)).await;
            if !self.valid() {
                return Ok(Exit::LeaseLost);
            }
        }
    }

    fn report_rejected(&self, msg: &async_nats::jetstream::Message, rejected: &[(u64, LineError)]) {
        let sh = self.shared;
        let lines: Vec<&str> = msg
            .headers
            .as_ref()
            .and_then(|h| h.get(LINES_HEADER))
            .map(|v| v.as_str().split(',').collect())
            .unwrap_or_default();
        for (i, e) in rejected {
            sh.stats.rejected.fetch_add(1, Ordering::Relaxed);
            let n = sh.printed.fetch_add(1, Ordering::Relaxed) + 1;
            let line = lines
                .get((*i as usize).saturating_sub(1))
                .copied()
                .unwrap_or("?");
            if n <= sh.o.max_printed_errors {
                sh.log(&format!(
                    "partition {}: line {line}: {}: {}",
                    self.p, e.kind, e.message
                ));
            } else if n == sh.o.max_printed_errors + 1 {
                sh.log("more rejected lines; the rest are only counted");
            }
        }
    }

    async fn publish_output(&mut self, live: &mut Live, o: Output) -> anyhow::Result<()> {
        let sh = self.shared;
        let n = {
            let c = live.output_seqs.entry(Box::from(o.system())).or_insert(0);
            *c += 1;
            *c
        };
        let id = format!("{}/{}/{n}", o.system(), o.kind());
        let msg = PublishMessage::build()
            .payload(o.to_json().into())
            .message_id(&id);
        let fut = sh
            .dep
            .js
            .send_publish(output_subject(self.p), msg)
            .await
            .map_err(|e| anyhow!("publishing output {id}: {e}"))?;
        live.outputs.push_back(Box::pin(async move { fut.await }));
        while live.outputs.len() > sh.o.out_in_flight {
            let r = live.outputs.next().await;
            self.output_acked(r)?;
        }
        Ok(())
    }

    fn output_acked(
        &self,
        r: Option<
            Result<
                async_nats::jetstream::publish::PublishAck,
                async_nats::jetstream::context::PublishError,
            >,
        >,
    ) -> anyhow::Result<()> {
        match r {
            Some(r) => count_ack(&self.shared.stats, r),
            None => Ok(()),
        }
    }

    /// Waits for the snapshot being written, if any. `Some(exit)` when the partition must be
    /// given up.
    async fn join_writer(&mut self, live: &mut Live) -> anyhow::Result<Option<Exit>> {
        let Some(w) = live.writer.take() else {
            return Ok(None);
        };
        let (fence, r) = w
            .await
            .map_err(|e| anyhow!("the snapshot writer failed: {e}"))?;
        live.fence = fence;
        match r {
            Ok(()) => {
                self.shared.stats.snapshots.fetch_add(1, Ordering::Relaxed);
                Ok(None)
            }
            Err(WriteError::Fenced) => {
                self.shared.log(&format!(
                    "partition {}: fenced: a newer owner holds it",
                    self.p
                ));
                Ok(Some(Exit::Fenced))
            }
            Err(WriteError::Other(e)) => Err(e),
        }
    }

    /// Takes a snapshot of the partition as it is now and writes it in the background: once
    /// every output published so far is acknowledged, the record is stored and the pointer
    /// moved (processing goes on meanwhile; the next snapshot waits for this one). With
    /// `wait`, returns only when it is written. `Some(exit)` when the partition must be given
    /// up.
    async fn snapshot(&mut self, live: &mut Live, wait: bool) -> anyhow::Result<Option<Exit>> {
        let sh = self.shared.clone();
        if let Some(exit) = self.join_writer(live).await? {
            return Ok(Some(exit));
        }
        if !self.valid() {
            return Ok(Some(Exit::LeaseLost));
        }
        let engine = live.replayer.engine();
        let policy = engine.policy();
        let fp = policy.fingerprint();
        let state = PartitionState {
            partition: self.p,
            partitions: sh.dep.config.partitions,
            stream_seq: live.applied,
            events: live.events,
            rejected: live.rejected,
            output_seqs: live
                .output_seqs
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect(),
            policy_fingerprint: fp,
            policy_doc: (fp != sh.o.policy.fingerprint())
                .then(|| serde_json::to_vec(&policy).unwrap_or_default()),
            engine: engine.snapshot(),
        };
        let mut outputs = std::mem::take(&mut live.outputs);
        let mut fence = live.fence.clone();
        let store = sh.store.clone();
        let stats = sh.stats.clone();
        live.writer = Some(tokio::spawn(async move {
            while let Some(r) = outputs.next().await {
                if let Err(e) = count_ack(&stats, r) {
                    return (fence, Err(WriteError::Other(e)));
                }
            }
            let r = store.write(&mut fence, &state).await;
            (fence, r)
        }));
        live.since_snapshot = 0;
        live.last_snapshot = Instant::now();
        if wait {
            return self.join_writer(live).await;
        }
        Ok(None)
    }
}
