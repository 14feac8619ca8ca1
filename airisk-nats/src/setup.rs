//! Streams and buckets of a deployment: created on first use by whichever command runs first
//! (idempotent: an existing stream or bucket is used as it is), and the deployment's
//! configuration record that makes every process agree on the partition count and the
//! policy.
//!
//! | name | kind | subjects / keys | retention and limits |
//! | --- | --- | --- | --- |
//! | `AIRISK_EVENTS` | stream | `airisk.ev.<p>` | file storage, limits retention (nothing is removed on ack: a worker taking a partition over re-reads from its snapshot's sequence), `max_age` 7 days, discard old, duplicate window 2 min |
//! | `AIRISK_OUTPUT` | stream | `airisk.out.<p>` | file storage, limits retention, `max_age` 7 days, discard old, duplicate window 10 min (longer than the worst re-emission lag: snapshot interval + takeover) |
//! | `airisk-leases` | KV | `p.<n>` leases, `w.<name>` heartbeats | history 1, file, `max_age` = the lease TTL (default 3 s): a key not renewed within the TTL disappears |
//! | `airisk-snapshots` | KV | `p.<n>` snapshot pointers, `config` | history 1, file, no age limit |
//! | `airisk-snapshot-data` | object store | one object per snapshot | file, no age limit; superseded objects are deleted by the writer |

use crate::{
    DEFAULT_PARTITIONS, EVENTS_PREFIX, EVENTS_STREAM, LEASE_BUCKET, OUTPUT_PREFIX, OUTPUT_STREAM,
    SNAPSHOT_BUCKET, SNAPSHOT_OBJECTS,
};
use anyhow::{Context as _, anyhow, bail};
use async_nats::jetstream::{self, kv, object_store, stream};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Age limit of both streams.
pub const STREAM_MAX_AGE: Duration = Duration::from_secs(7 * 24 * 3600);
/// Duplicate window of the event stream.
pub const EVENTS_DUPLICATE_WINDOW: Duration = Duration::from_secs(120);
/// Duplicate window of the output stream.
pub const OUTPUT_DUPLICATE_WINDOW: Duration = Duration::from_secs(600);
/// Default lease TTL (the lease bucket's `max_age`), used when the bucket is created.
pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(3);

/// What every process of a deployment must agree on; stored under `config` in the snapshot
/// bucket by the first process that runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentConfig {
    /// Number of partitions.
    pub partitions: u32,
    /// Fingerprint (hex) of the policy workers start partitions with (`--policy`).
    pub policy: String,
}

/// Handles on a deployment's streams and buckets.
#[derive(Clone)]
pub struct Deployment {
    /// The JetStream context.
    pub js: jetstream::Context,
    /// The event stream.
    pub events: stream::Stream,
    /// The output stream.
    pub output: stream::Stream,
    /// Leases and heartbeats.
    pub leases: kv::Store,
    /// Snapshot pointers and the configuration.
    pub snapshots: kv::Store,
    /// Snapshot records.
    pub objects: object_store::ObjectStore,
    /// The lease TTL (the lease bucket's `max_age`).
    pub lease_ttl: Duration,
    /// The configuration every process agreed on.
    pub config: DeploymentConfig,
}

/// Options for [`ensure`].
#[derive(Debug, Clone)]
pub struct SetupOptions {
    /// Partition count this process was started with.
    pub partitions: u32,
    /// Fingerprint of the policy this process was started with.
    pub policy_fingerprint: u64,
    /// Lease TTL to create the lease bucket with (an existing bucket keeps its own).
    pub lease_ttl: Duration,
}

impl Default for SetupOptions {
    fn default() -> Self {
        SetupOptions {
            partitions: DEFAULT_PARTITIONS,
            policy_fingerprint: airisk::Policy::default_policy().fingerprint(),
            lease_ttl: DEFAULT_LEASE_TTL,
        }
    }
}

/// A JetStream context with `in_flight` publish acknowledgements allowed at once.
pub fn context(client: async_nats::Client, in_flight: usize) -> jetstream::Context {
    jetstream::ContextBuilder::new()
        .timeout(Duration::from_secs(5))
        .max_ack_inflight(in_flight.max(1))
        .backpressure_on_inflight(true)
        .build(client)
}

async fn ensure_stream(
    js: &jetstream::Context,
    name: &str,
    subject: String,
    duplicate_window: Duration,
) -> anyhow::Result<stream::Stream> {
    let config = stream::Config {
        name: name.to_owned(),
        description: Some("airisk-nats (see airisk-nats/README.md)".into()),
        subjects: vec![subject.clone()],
        retention: stream::RetentionPolicy::Limits,
        storage: stream::StorageType::File,
        discard: stream::DiscardPolicy::Old,
        max_age: STREAM_MAX_AGE,
        duplicate_window,
        ..Default::default()
    };
    let mut s = match js.get_stream(name).await {
        Ok(s) => s,
        Err(_) => match js.create_stream(config).await {
            Ok(s) => s,
            // Another process created it between our look-up and our creation.
            Err(e) => js
                .get_stream(name)
                .await
                .map_err(|_| anyhow!("cannot create stream {name}: {e}"))?,
        },
    };
    let info = s.info().await.with_context(|| format!("stream {name}"))?;
    if !info.config.subjects.contains(&subject) {
        bail!(
            "stream {name} exists with subjects {:?}, not {subject}: it belongs to something else",
            info.config.subjects
        );
    }
    Ok(s)
}

/// Opens key-value bucket `bucket`, creating it when absent. The bucket's stream is created
/// here with the settings `async-nats` gives a bucket, because `create_key_value` first reads
/// the account's JetStream info in a shape that nats-server 2.9 (Debian's) does not send.
async fn ensure_kv(
    js: &jetstream::Context,
    bucket: &str,
    description: &str,
    max_age: Duration,
) -> anyhow::Result<kv::Store> {
    if let Ok(s) = js.get_key_value(bucket).await {
        return Ok(s);
    }
    let config = stream::Config {
        name: format!("KV_{bucket}"),
        description: Some(description.to_owned()),
        subjects: vec![format!("$KV.{bucket}.>")],
        max_messages_per_subject: 1,
        max_age,
        storage: stream::StorageType::File,
        allow_rollup: true,
        deny_delete: true,
        deny_purge: false,
        allow_direct: true,
        discard: stream::DiscardPolicy::New,
        num_replicas: 1,
        ..Default::default()
    };
    if let Err(e) = js.create_stream(config).await {
        // Another process may have created it meanwhile.
        return js
            .get_key_value(bucket)
            .await
            .map_err(|_| anyhow!("cannot create key-value bucket {bucket}: {e}"));
    }
    js.get_key_value(bucket)
        .await
        .map_err(|e| anyhow!("cannot open key-value bucket {bucket}: {e}"))
}

/// Creates (or opens) the streams and buckets, and checks or records the deployment's
/// configuration.
///
/// # Errors
/// When the server is unreachable or has no JetStream, when a stream of the same name
/// belongs to something else, or when this process disagrees with the recorded
/// configuration (partition count, policy).
pub async fn ensure(js: &jetstream::Context, o: &SetupOptions) -> anyhow::Result<Deployment> {
    if o.partitions == 0 {
        bail!("--partitions must be at least 1");
    }
    let events = ensure_stream(
        js,
        EVENTS_STREAM,
        format!("{EVENTS_PREFIX}*"),
        EVENTS_DUPLICATE_WINDOW,
    )
    .await?;
    let output = ensure_stream(
        js,
        OUTPUT_STREAM,
        format!("{OUTPUT_PREFIX}*"),
        OUTPUT_DUPLICATE_WINDOW,
    )
    .await?;
    let leases = ensure_kv(
        js,
        LEASE_BUCKET,
        "airisk-nats partition leases and worker heartbeats",
        o.lease_ttl,
    )
    .await?;
    let lease_ttl = leases.stream.cached_info().config.max_age;
    if lease_ttl.is_zero() {
        bail!("bucket {LEASE_BUCKET} has no max_age: leases would never expire");
    }
    let snapshots = ensure_kv(
        js,
        SNAPSHOT_BUCKET,
        "airisk-nats snapshot pointers and configuration",
        Duration::ZERO,
    )
    .await?;
    let objects = match js.get_object_store(SNAPSHOT_OBJECTS).await {
        Ok(s) => s,
        Err(_) => match js
            .create_object_store(object_store::Config {
                bucket: SNAPSHOT_OBJECTS.into(),
                description: Some("airisk-nats partition snapshots".into()),
                storage: stream::StorageType::File,
                ..Default::default()
            })
            .await
        {
            Ok(s) => s,
            Err(e) => js
                .get_object_store(SNAPSHOT_OBJECTS)
                .await
                .map_err(|_| anyhow!("cannot create object store {SNAPSHOT_OBJECTS}: {e}"))?,
        },
    };
    let mine = DeploymentConfig {
        partitions: o.partitions,
        policy: format!("{:016x}", o.policy_fingerprint),
    };
    let config = agree(&snapshots, &mine).await?;
    Ok(Deployment {
        js: js.clone(),
        events,
        output,
        leases,
        snapshots,
        objects,
        lease_ttl,
        config,
    })
}

async fn agree(kv: &kv::Store, mine: &DeploymentConfig) -> anyhow::Result<DeploymentConfig> {
    for _ in 0..5 {
        if let Some(v) = kv
            .get("config")
            .await
            .context("reading the deployment config")?
        {
            let theirs: DeploymentConfig = serde_json::from_slice(&v)
                .context("the deployment config record is not valid JSON")?;
            if theirs.partitions != mine.partitions {
                bail!(
                    "this deployment has {} partitions (recorded in {SNAPSHOT_BUCKET}/config); this process was started with --partitions {}",
                    theirs.partitions,
                    mine.partitions
                );
            }
            if theirs.policy != mine.policy {
                bail!(
                    "this deployment runs policy {} (fingerprint recorded in {SNAPSHOT_BUCKET}/config); this process was started with policy {}: give every process the same --policy",
                    theirs.policy,
                    mine.policy
                );
            }
            return Ok(theirs);
        }
        let doc = serde_json::to_vec(mine)?;
        if kv.create("config", doc.into()).await.is_ok() {
            return Ok(mine.clone());
        }
    }
    bail!("cannot read or record the deployment config in {SNAPSHOT_BUCKET}")
}

/// One partition's state, as `airisk-nats status` prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionStatus {
    /// The partition.
    pub partition: u32,
    /// The worker holding its lease, if any.
    pub owner: Option<String>,
    /// The stream sequence its latest snapshot covers (0: none).
    pub snapshot_seq: u64,
    /// Event lines that snapshot covers.
    pub snapshot_events: u64,
    /// Who wrote the snapshot pointer.
    pub snapshot_worker: Option<String>,
    /// The stream sequence of the partition's last event message (0: none).
    pub last_seq: u64,
    /// Whether the snapshot covers every event message of the partition.
    pub caught_up: bool,
}

/// Every partition's owner, snapshot and last event.
///
/// # Errors
/// When the server cannot be read.
pub async fn status(dep: &Deployment) -> anyhow::Result<Vec<PartitionStatus>> {
    let store = crate::snapshot::SnapshotStore::new(dep, "status");
    let mut out = Vec::new();
    for p in 0..dep.config.partitions {
        let owner = match dep.leases.entry(format!("p.{p}")).await {
            Ok(Some(e)) if e.operation == kv::Operation::Put => {
                serde_json::from_slice::<serde_json::Value>(&e.value)
                    .ok()
                    .and_then(|v| v["worker"].as_str().map(str::to_owned))
            }
            Ok(_) => None,
            Err(e) => bail!("reading lease p.{p}: {e}"),
        };
        let ptr = store.pointer(p).await?;
        let last_seq = match dep
            .events
            .get_last_raw_message_by_subject(&crate::events_subject(p))
            .await
        {
            Ok(m) => m.sequence,
            Err(e) if e.kind() == stream::LastRawMessageErrorKind::NoMessageFound => 0,
            Err(e) => bail!("reading the last event of partition {p}: {e}"),
        };
        let (snapshot_seq, snapshot_events, snapshot_worker) = match ptr {
            Some((ptr, _)) => (ptr.stream_seq, ptr.events, Some(ptr.worker)),
            None => (0, 0, None),
        };
        out.push(PartitionStatus {
            partition: p,
            owner,
            snapshot_seq,
            snapshot_events,
            snapshot_worker,
            last_seq,
            caught_up: snapshot_seq >= last_seq,
        });
    }
    Ok(out)
}
