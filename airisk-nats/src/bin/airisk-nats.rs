//! `airisk-nats`: airisk across machines on NATS JetStream. See `airisk-nats --help` and the
//! crate's README ("Running across machines").

use airisk::Policy;
use airisk_nats::setup::{self, SetupOptions};
use airisk_nats::{Connect, collect, generate, publish, worker};
use anyhow::{Context as _, anyhow};
use clap::{Parser, Subcommand};
use std::io::{BufWriter, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(
    name = "airisk-nats",
    version,
    about = "Run airisk across machines: partitioned event lines on NATS JetStream, workers with leases and snapshots, a deduplicating collector",
    after_help = "The server comes from --server or NATS_URL (default nats://127.0.0.1:4222). Streams and buckets are created on first use. See airisk-nats/README.md."
)]
struct Cli {
    /// NATS server URL(s), comma-separated.
    #[arg(long, global = true, env = "NATS_URL", default_value = airisk_nats::DEFAULT_SERVER)]
    server: String,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Publish an event log (the `airisk replay` format) to the partitioned event stream.
    Publish {
        /// The deployment's policy (default: the built-in default policy); recorded so that
        /// workers started with another one refuse to run.
        #[arg(long)]
        policy: Option<PathBuf>,
        /// Number of partitions (every process of a deployment must agree).
        #[arg(long, env = "AIRISK_PARTITIONS", default_value_t = airisk_nats::DEFAULT_PARTITIONS)]
        partitions: u32,
        /// Most messages awaiting their acknowledgement.
        #[arg(long, default_value_t = 4096)]
        in_flight: usize,
        /// Most lines per message (consecutive lines of one partition, in log order); 1 for
        /// one message per line.
        #[arg(long, default_value_t = 64)]
        batch: usize,
        /// Most payload bytes per message.
        #[arg(long, default_value_t = 256 * 1024)]
        batch_bytes: usize,
        /// A partly filled message waits at most this long for more lines (ms).
        #[arg(long, default_value_t = 5)]
        linger_ms: u64,
        /// Message-id prefix (default: unique per run). Give a failed run's id again, within
        /// the stream's duplicate window, to publish its log again without duplicates.
        #[arg(long)]
        run_id: Option<String>,
        /// Keep retrying an unreachable server this long (seconds).
        #[arg(long, default_value_t = 120)]
        retry_for_s: u64,
        /// The event log (`-` for standard input).
        events: PathBuf,
    },
    /// Claim partitions and run an engine for each.
    Worker {
        /// The deployment's policy (default: the built-in default policy).
        #[arg(long)]
        policy: Option<PathBuf>,
        /// The worker's name, unique among running workers.
        #[arg(long, env = "AIRISK_WORKER")]
        name: String,
        /// Number of partitions (every process of a deployment must agree).
        #[arg(long, env = "AIRISK_PARTITIONS", default_value_t = airisk_nats::DEFAULT_PARTITIONS)]
        partitions: u32,
        /// Snapshot a partition after this many event lines.
        #[arg(long, default_value_t = 20_000)]
        snapshot_every: u64,
        /// Snapshot a partition with unsaved events at least this often (ms).
        #[arg(long, default_value_t = 10_000)]
        snapshot_ms: u64,
        /// Lease TTL in ms, used when the lease bucket is created (an existing bucket keeps
        /// its own).
        #[arg(long, default_value_t = 3000)]
        lease_ms: u64,
        /// Messages per pull request.
        #[arg(long, default_value_t = 1000)]
        fetch: usize,
        /// Own at most this many partitions.
        #[arg(long)]
        max_partitions: Option<u32>,
        /// Append ownership events (JSON lines) to this file.
        #[arg(long)]
        trace: Option<PathBuf>,
    },
    /// Print the output stream in the replay format, deduplicated, per system in order.
    Collect {
        /// Exit after this long without new output (ms).
        #[arg(long, default_value_t = 2000)]
        idle_ms: u64,
        /// Number of partitions (checked against the deployment).
        #[arg(long, env = "AIRISK_PARTITIONS", default_value_t = airisk_nats::DEFAULT_PARTITIONS)]
        partitions: u32,
        /// The deployment's policy (checked against the deployment).
        #[arg(long)]
        policy: Option<PathBuf>,
    },
    /// Create the streams and buckets (idempotent) and record the configuration.
    Setup {
        /// The deployment's policy.
        #[arg(long)]
        policy: Option<PathBuf>,
        /// Number of partitions.
        #[arg(long, env = "AIRISK_PARTITIONS", default_value_t = airisk_nats::DEFAULT_PARTITIONS)]
        partitions: u32,
        /// Lease TTL in ms for a new lease bucket.
        #[arg(long, default_value_t = 3000)]
        lease_ms: u64,
    },
    /// Show each partition's owner, snapshot and backlog, as JSON lines.
    Status {
        /// Number of partitions.
        #[arg(long, env = "AIRISK_PARTITIONS", default_value_t = airisk_nats::DEFAULT_PARTITIONS)]
        partitions: u32,
        /// The deployment's policy.
        #[arg(long)]
        policy: Option<PathBuf>,
    },
    /// Write a deterministic synthetic event log (for tests and throughput runs).
    Gen {
        /// Systems.
        #[arg(long, default_value_t = 520)]
        systems: usize,
        /// At least this many event lines.
        #[arg(long, default_value_t = 200_000)]
        events: u64,
        /// Random seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Include a few deliberately wrong lines.
        #[arg(long)]
        with_errors: bool,
        /// Output file (default: standard output).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

fn load_policy(path: Option<&Path>) -> anyhow::Result<Policy> {
    match path {
        None => Ok(Policy::default_policy()),
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("cannot read {}", p.display()))?;
            Policy::from_json(&text).map_err(|e| anyhow!("{}: invalid policy: {e}", p.display()))
        }
    }
}

async fn deployment(
    server: &str,
    who: &str,
    partitions: u32,
    policy: &Policy,
    lease_ms: u64,
    in_flight: usize,
) -> anyhow::Result<setup::Deployment> {
    let client = airisk_nats::connect(&Connect {
        server: server.to_owned(),
        name: who.to_owned(),
    })
    .await?;
    let js = setup::context(client, in_flight);
    setup::ensure(
        &js,
        &SetupOptions {
            partitions,
            policy_fingerprint: policy.fingerprint(),
            lease_ttl: Duration::from_millis(lease_ms.max(100)),
        },
    )
    .await
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            std::future::pending::<()>().await;
            return;
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.cmd {
        Cmd::Publish {
            policy,
            partitions,
            in_flight,
            batch,
            batch_bytes,
            linger_ms,
            run_id,
            retry_for_s,
            events,
        } => {
            let policy = load_policy(policy.as_deref())?;
            let run_id = run_id.unwrap_or_else(publish::default_run_id);
            publish::check_run_id(&run_id)?;
            let source = events.display().to_string();
            let dep = deployment(
                &cli.server,
                &format!("airisk-nats publish {source}"),
                partitions,
                &policy,
                3000,
                in_flight + 64,
            )
            .await?;
            let input: Box<dyn std::io::Read + Send> = if events == Path::new("-") {
                Box::new(std::io::stdin())
            } else {
                Box::new(
                    std::fs::File::open(&events)
                        .with_context(|| format!("cannot read {source}"))?,
                )
            };
            let start = Instant::now();
            let mut o = publish::PublishOptions::new(&source);
            o.partitions = partitions;
            o.in_flight = in_flight.max(1);
            o.batch = batch.max(1);
            o.batch_bytes = batch_bytes.max(1);
            o.linger = Duration::from_millis(linger_ms);
            o.run_id = run_id.clone();
            o.retry_for = Duration::from_secs(retry_for_s);
            let r = publish::publish(&dep, input, &o).await?;
            let secs = start.elapsed().as_secs_f64();
            eprintln!(
                "airisk-nats publish: {source}: {} lines, {} events published as {} messages ({} partitions, run {run_id}) in {secs:.2} s ({:.0} events/s); {} rejected; {} recoveries, {} messages sent again ({} already stored)",
                r.lines,
                r.events,
                r.messages,
                partitions,
                r.events as f64 / secs.max(1e-9),
                r.rejected,
                r.recoveries,
                r.resent,
                r.duplicates
            );
            Ok(if r.rejected > 0 {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        Cmd::Worker {
            policy,
            name,
            partitions,
            snapshot_every,
            snapshot_ms,
            lease_ms,
            fetch,
            max_partitions,
            trace,
        } => {
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '='))
            {
                return Err(anyhow!(
                    "--name {name:?}: use letters, digits, '-', '_' and '=' only (it becomes a key)"
                ));
            }
            let policy = load_policy(policy.as_deref())?;
            let dep = deployment(
                &cli.server,
                &format!("airisk-nats worker {name}"),
                partitions,
                &policy,
                lease_ms,
                10_000,
            )
            .await?;
            let mut o = worker::WorkerOptions::new(&name, policy);
            o.snapshot_every = snapshot_every.max(1);
            o.snapshot_interval = Duration::from_millis(snapshot_ms.max(10));
            o.fetch = fetch.max(1);
            o.max_partitions = max_partitions;
            o.trace = trace;
            let control = Connect {
                server: cli.server.clone(),
                name: format!("airisk-nats worker {name} (leases)"),
            };
            let stats = worker::run(dep, control, o, shutdown_signal()).await?;
            eprintln!("airisk-nats worker {name}: {}", stats.summary());
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Collect {
            idle_ms,
            partitions,
            policy,
        } => {
            let policy = load_policy(policy.as_deref())?;
            let dep = deployment(
                &cli.server,
                "airisk-nats collect",
                partitions,
                &policy,
                3000,
                64,
            )
            .await?;
            let (out, r) = collect::read(&dep, Duration::from_millis(idle_ms)).await?;
            let stdout = std::io::stdout();
            let mut w = BufWriter::with_capacity(1 << 16, stdout.lock());
            if let Err(e) = collect::print(&out, &mut w) {
                if e.kind() == std::io::ErrorKind::BrokenPipe {
                    return Ok(ExitCode::from(1));
                }
                return Err(e.into());
            }
            eprintln!(
                "airisk-nats collect: {} messages, {} duplicates dropped, {} conflicting duplicates, {} malformed ids, {} systems, {} lines, {} missing, {} gaps re-read",
                r.messages,
                r.duplicates,
                r.conflicts,
                r.malformed,
                r.systems,
                r.lines,
                r.missing,
                r.gaps
            );
            Ok(if r.clean() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Cmd::Setup {
            policy,
            partitions,
            lease_ms,
        } => {
            let policy = load_policy(policy.as_deref())?;
            let dep = deployment(
                &cli.server,
                "airisk-nats setup",
                partitions,
                &policy,
                lease_ms,
                64,
            )
            .await?;
            println!(
                "ok: {} partitions, policy {}, lease TTL {} ms",
                dep.config.partitions,
                dep.config.policy,
                dep.lease_ttl.as_millis()
            );
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Status { partitions, policy } => {
            let policy = load_policy(policy.as_deref())?;
            let dep = deployment(
                &cli.server,
                "airisk-nats status",
                partitions,
                &policy,
                3000,
                64,
            )
            .await?;
            let stdout = std::io::stdout();
            let mut w = stdout.lock();
            for s in airisk_nats::setup::status(&dep).await? {
                if writeln!(w, "{}", serde_json::to_string(&s)?).is_err() {
                    return Ok(ExitCode::from(1));
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Gen {
            systems,
            events,
            seed,
            with_errors,
            out,
        } => {
            let o = generate::GenOptions {
                systems: systems.max(1),
                events,
                seed,
                with_errors,
            };
            let r = match &out {
                Some(p) => {
                    let f = std::fs::File::create(p)
                        .with_context(|| format!("cannot write {}", p.display()))?;
                    let mut w = BufWriter::with_capacity(1 << 16, f);
                    let r = generate::generate(&o, &mut w)?;
                    w.flush()?;
                    r
                }
                None => {
                    let stdout = std::io::stdout();
                    let mut w = BufWriter::with_capacity(1 << 16, stdout.lock());
                    let r = generate::generate(&o, &mut w)?;
                    w.flush()?;
                    r
                }
            };
            eprintln!(
                "airisk-nats gen: {} lines ({} systems, {} simulated minutes, {} ticks)",
                r.lines, o.systems, r.minutes, r.ticks
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("airisk-nats: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match rt.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("airisk-nats: {e:#}");
            ExitCode::from(2)
        }
    }
}
