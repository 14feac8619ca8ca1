//! Partition snapshots and their fenced store.
//!
//! A snapshot of partition `p` is the partition's engine state ([`airisk::Engine::snapshot`]:
//! every system's profile, windows, rule states and level, plus the engine's `seq` counter, so
//! a restored engine numbers its transitions exactly as the lost one would have), the
//! per-system output counters that name output messages, and the last stream sequence of
//! `airisk.ev.<p>` applied to that state. It is stored in two steps:
//!
//! 1. the record ([`PartitionState::encode`]) goes to a new object of the object store
//!    [`crate::SNAPSHOT_OBJECTS`] (objects are chunked, so a partition of many systems is not
//!    bound by the server's message size);
//! 2. the pointer ([`Pointer`]) under `p.<n>` in the KV bucket [`crate::SNAPSHOT_BUCKET`] is
//!    moved to it with a compare-and-set on the pointer's revision.
//!
//! **Fencing.** A worker that claims a partition first rewrites its pointer with its own lease
//! revision (the fencing token, [`SnapshotStore::fence`]), refusing to do so when the pointer
//! already carries a newer token. Every later write is a compare-and-set on the revision that
//! worker last wrote, so once a new owner has fenced the pointer, every write of an older
//! owner (a worker that was paused past its lease TTL, say) fails with
//! [`WriteError::Fenced`] and that worker gives the partition up. A pointer only ever moves
//! forward from an owner's point of view: a reader always finds the newest snapshot of the
//! current owner, or of the one before it.

use crate::SNAPSHOT_BUCKET;
use crate::setup::Deployment;
use anyhow::{Context as _, anyhow, bail};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use tokio::io::AsyncReadExt;

const MAGIC: &[u8; 8] = b"AIRISKNP";
/// Version of the snapshot record format.
pub const RECORD_VERSION: u32 = 1;

/// What a partition snapshot holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionState {
    /// The partition.
    pub partition: u32,
    /// The deployment's partition count.
    pub partitions: u32,
    /// The last stream sequence of the event stream applied to this state (0: none).
    pub stream_seq: u64,
    /// Event lines applied to this partition so far (all owners together).
    pub events: u64,
    /// Event lines rejected so far.
    pub rejected: u64,
    /// Output messages per system so far: the next output of system `s` is numbered
    /// `output_seqs[s] + 1`.
    pub output_seqs: BTreeMap<String, u64>,
    /// Fingerprint of the engine's policy.
    pub policy_fingerprint: u64,
    /// The engine's policy document, when it differs from the deployment's starting policy
    /// (after a `reload` line).
    pub policy_doc: Option<Vec<u8>>,
    /// [`airisk::Engine::snapshot`] of the partition's engine.
    pub engine: Vec<u8>,
}

struct W(Vec<u8>);

impl W {
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn bytes(&mut self, b: &[u8]) {
        self.u64(b.len() as u64);
        self.0.extend_from_slice(b);
    }
}

struct R<'a>(&'a [u8]);

impl<'a> R<'a> {
    fn take(&mut self, n: usize) -> anyhow::Result<&'a [u8]> {
        if self.0.len() < n {
            bail!("snapshot record is truncated");
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn u32(&mut self) -> anyhow::Result<u32> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into()?))
    }
    fn u64(&mut self) -> anyhow::Result<u64> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into()?))
    }
    fn bytes(&mut self) -> anyhow::Result<&'a [u8]> {
        let n = usize::try_from(self.u64()?)?;
        self.take(n)
    }
}

impl PartitionState {
    /// The record as bytes: `"AIRISKNP"`, version, partition, partitions, stream sequence,
    /// events, rejected, policy fingerprint, the output counters (count, then id and counter
    /// each), the policy document (empty when absent), the engine snapshot, and an FNV-1a 64
    /// checksum of everything before it (little-endian; lengths as `u64`).
    pub fn encode(&self) -> Vec<u8> {
        let mut w = W(Vec::with_capacity(self.engine.len() + 256));
        w.0.extend_from_slice(MAGIC);
        w.u32(RECORD_VERSION);
        w.u32(self.partition);
        w.u32(self.partitions);
        w.u64(self.stream_seq);
        w.u64(self.events);
        w.u64(self.rejected);
        w.u64(self.policy_fingerprint);
        w.u64(self.output_seqs.len() as u64);
        for (id, n) in &self.output_seqs {
            w.bytes(id.as_bytes());
            w.u64(*n);
        }
        w.bytes(self.policy_doc.as_deref().unwrap_or_default());
        w.bytes(&self.engine);
        let sum = crate::fnv1a64(&w.0);
        w.u64(sum);
        w.0
    }

    /// Reads a record written by [`PartitionState::encode`].
    ///
    /// # Errors
    /// When the bytes are not a record, are corrupt (checksum), or of another version.
    pub fn decode(bytes: &[u8]) -> anyhow::Result<PartitionState> {
        if bytes.len() < MAGIC.len() + 12 || &bytes[..8] != MAGIC {
            bail!("not an airisk-nats snapshot record (bad magic)");
        }
        let (body, sum) = bytes.split_at(bytes.len() - 8);
        if crate::fnv1a64(body) != u64::from_le_bytes(sum.try_into()?) {
            bail!("snapshot record checksum mismatch: the data is corrupt");
        }
        let mut r = R(&body[8..]);
        let v = r.u32()?;
        if v != RECORD_VERSION {
            bail!(
                "snapshot record version {v} is not supported (this build reads {RECORD_VERSION})"
            );
        }
        let partition = r.u32()?;
        let partitions = r.u32()?;
        let stream_seq = r.u64()?;
        let events = r.u64()?;
        let rejected = r.u64()?;
        let policy_fingerprint = r.u64()?;
        let n = r.u64()?;
        let mut output_seqs = BTreeMap::new();
        for _ in 0..n {
            let id = std::str::from_utf8(r.bytes()?)
                .context("snapshot record holds a system id that is not UTF-8")?
                .to_owned();
            output_seqs.insert(id, r.u64()?);
        }
        let doc = r.bytes()?;
        let policy_doc = (!doc.is_empty()).then(|| doc.to_vec());
        let engine = r.bytes()?.to_vec();
        if !r.0.is_empty() {
            bail!("snapshot record has trailing data");
        }
        Ok(PartitionState {
            partition,
            partitions,
            stream_seq,
            events,
            rejected,
            output_seqs,
            policy_fingerprint,
            policy_doc,
            engine,
        })
    }
}

/// The KV record under `p.<n>` that names a partition's current snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pointer {
    /// The partition.
    pub partition: u32,
    /// The stream sequence the snapshot covers (0 when there is no snapshot yet).
    pub stream_seq: u64,
    /// The object holding the record, if there is a snapshot.
    pub object: Option<String>,
    /// The fencing token: the lease revision of the owner that wrote this pointer.
    pub token: u64,
    /// That owner's name.
    pub worker: String,
    /// Record size in bytes.
    pub bytes: u64,
    /// Event lines the snapshot covers.
    pub events: u64,
    /// When it was written (Unix ms; informational).
    pub written_unix_ms: u64,
}

/// Why a snapshot write failed.
#[derive(Debug)]
pub enum WriteError {
    /// Another owner has fenced the partition: this worker must stop processing it.
    Fenced,
    /// Anything else (server unreachable, ...): the write may be retried.
    Other(anyhow::Error),
}

impl std::fmt::Display for WriteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WriteError::Fenced => f.write_str("fenced: a newer owner holds the partition"),
            WriteError::Other(e) => write!(f, "{e:#}"),
        }
    }
}

impl std::error::Error for WriteError {}

/// The right to write one partition's snapshots: obtained by [`SnapshotStore::fence`].
#[derive(Debug, Clone)]
pub struct Fence {
    /// The partition.
    pub partition: u32,
    /// The fencing token (the owner's lease revision).
    pub token: u64,
    /// The pointer's revision as this owner last wrote it.
    pub revision: u64,
    /// The pointer as this owner last wrote it.
    pub pointer: Pointer,
}

/// Reads and writes partition snapshots (see the [module docs](self)).
#[derive(Clone)]
pub struct SnapshotStore {
    dep: Deployment,
    worker: String,
}

fn key(p: u32) -> String {
    format!("p.{p}")
}

impl SnapshotStore {
    /// A store acting for `worker`.
    pub fn new(dep: &Deployment, worker: &str) -> SnapshotStore {
        SnapshotStore {
            dep: dep.clone(),
            worker: worker.to_owned(),
        }
    }

    /// The current pointer of partition `p` and its revision, if any.
    ///
    /// # Errors
    /// When the server cannot be read or the pointer is not valid JSON.
    pub async fn pointer(&self, p: u32) -> anyhow::Result<Option<(Pointer, u64)>> {
        let e = self
            .dep
            .snapshots
            .entry(key(p))
            .await
            .with_context(|| format!("reading {SNAPSHOT_BUCKET}/p.{p}"))?;
        match e {
            Some(e) if e.operation == async_nats::jetstream::kv::Operation::Put => {
                let ptr: Pointer = serde_json::from_slice(&e.value)
                    .with_context(|| format!("{SNAPSHOT_BUCKET}/p.{p} is not a pointer"))?;
                Ok(Some((ptr, e.revision)))
            }
            _ => Ok(None),
        }
    }

    /// Takes the snapshot pointer of partition `p` for the owner with fencing token `token`
    /// (rewrites it with that token, so writes of older owners fail from now on) and loads
    /// the snapshot it names.
    ///
    /// # Errors
    /// [`WriteError::Fenced`] when the pointer already carries a newer token (this claim is
    /// stale); [`WriteError::Other`] when the server fails or the record is unreadable.
    pub async fn fence(
        &self,
        p: u32,
        token: u64,
    ) -> Result<(Fence, Option<PartitionState>), WriteError> {
        let kv = &self.dep.snapshots;
        let mut last_err = None;
        for _ in 0..8 {
            let current = self.pointer(p).await.map_err(WriteError::Other)?;
            let mut ptr = match &current {
                Some((ptr, _)) if ptr.token > token => return Err(WriteError::Fenced),
                Some((ptr, _)) => ptr.clone(),
                None => Pointer {
                    partition: p,
                    stream_seq: 0,
                    object: None,
                    token,
                    worker: String::new(),
                    bytes: 0,
                    events: 0,
                    written_unix_ms: 0,
                },
            };
            ptr.token = token;
            ptr.worker = self.worker.clone();
            let doc = serde_json::to_vec(&ptr).map_err(|e| WriteError::Other(e.into()))?;
            let r = match &current {
                None => kv
                    .create(key(p), doc.into())
                    .await
                    .map_err(|e| anyhow!("{e}")),
                Some((_, rev)) => kv
                    .update(key(p), doc.into(), *rev)
                    .await
                    .map_err(|e| anyhow!("{e}")),
            };
            match r {
                Ok(revision) => {
                    let state = match &ptr.object {
                        Some(name) => Some(self.load(name).await.map_err(WriteError::Other)?),
                        None => None,
                    };
                    if let Some(s) = &state
                        && (s.partition != p || s.stream_seq != ptr.stream_seq)
                    {
                        return Err(WriteError::Other(anyhow!(
                            "snapshot object {:?} holds partition {} at seq {}, but its pointer says partition {p} at seq {}",
                            ptr.object,
                            s.partition,
                            s.stream_seq,
                            ptr.stream_seq
                        )));
                    }
                    return Ok((
                        Fence {
                            partition: p,
                            token,
                            revision,
                            pointer: ptr,
                        },
                        state,
                    ));
                }
                // Lost a race with another writer: read again.
                Err(e) => last_err = Some(e),
            }
        }
        Err(WriteError::Other(anyhow!(
            "cannot fence partition {p}: {}",
            last_err.map_or_else(String::new, |e| format!("{e:#}"))
        )))
    }

    /// Loads the record in object `name`.
    ///
    /// # Errors
    /// When the object is missing or unreadable, or the record is corrupt.
    pub async fn load(&self, name: &str) -> anyhow::Result<PartitionState> {
        let mut obj = self
            .dep
            .objects
            .get(name)
            .await
            .map_err(|e| anyhow!("snapshot object {name:?}: {e}"))?;
        let mut buf = Vec::new();
        obj.read_to_end(&mut buf)
            .await
            .with_context(|| format!("reading snapshot object {name:?}"))?;
        PartitionState::decode(&buf).with_context(|| format!("snapshot object {name:?}"))
    }

    /// Writes `state` as partition `fence.partition`'s snapshot and moves the pointer to it,
    /// if `fence` still holds the pointer. On success `fence` holds the new revision, and the
    /// superseded object is deleted.
    ///
    /// # Errors
    /// [`WriteError::Fenced`] when a newer owner has fenced the pointer (the new object is
    /// deleted again); [`WriteError::Other`] when the server fails.
    pub async fn write(&self, fence: &mut Fence, state: &PartitionState) -> Result<(), WriteError> {
        let p = fence.partition;
        let bytes = state.encode();
        let name = format!(
            "p{p}-t{}-s{}-e{}",
            fence.token, state.stream_seq, state.events
        );
        let mut reader: &[u8] = &bytes;
        self.dep
            .objects
            .put(name.as_str(), &mut reader)
            .await
            .map_err(|e| WriteError::Other(anyhow!("writing snapshot object {name}: {e}")))?;
        let ptr = Pointer {
            partition: p,
            stream_seq: state.stream_seq,
            object: Some(name.clone()),
            token: fence.token,
            worker: self.worker.clone(),
            bytes: bytes.len() as u64,
            events: state.events,
            written_unix_ms: crate::unix_ms(),
        };
        let doc = serde_json::to_vec(&ptr).map_err(|e| WriteError::Other(e.into()))?;
        match self
            .dep
            .snapshots
            .update(key(p), doc.into(), fence.revision)
            .await
        {
            Ok(rev) => {
                let old = std::mem::replace(&mut fence.pointer, ptr);
                fence.revision = rev;
                if let Some(old) = old.object.filter(|o| *o != name) {
                    let objects = self.dep.objects.clone();
                    tokio::spawn(async move {
                        let _ = objects.delete(&old).await;
                    });
                }
                Ok(())
            }
            Err(e) => {
                // Fenced, or did the update fail in transit? The pointer tells.
                let moved = match self.pointer(p).await {
                    Ok(Some((cur, rev))) => {
                        if rev != fence.revision && cur.object.as_deref() == Some(&name) {
                            // Our write landed; only its acknowledgement was lost.
                            fence.revision = rev;
                            fence.pointer = cur;
                            return Ok(());
                        }
                        rev != fence.revision
                    }
                    _ => false,
                };
                if moved {
                    let _ = self.dep.objects.delete(&name).await;
                    Err(WriteError::Fenced)
                } else {
                    Err(WriteError::Other(anyhow!(
                        "moving the snapshot pointer of partition {p}: {e}"
                    )))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> PartitionState {
        let mut output_seqs = BTreeMap::new();
        output_seqs.insert("bot-1".to_owned(), 7);
        output_seqs.insert("分诊/机器人".to_owned(), 1);
        PartitionState {
            partition: 3,
            partitions: 16,
            stream_seq: 12_345,
            events: 999,
            rejected: 2,
            output_seqs,
            policy_fingerprint: 0xfeed,
            policy_doc: None,
            engine: vec![1, 2, 3, 4, 5],
        }
    }

    #[test]
    fn record_round_trips() {
        let s = sample();
        assert_eq!(PartitionState::decode(&s.encode()).unwrap(), s);
        let mut t = sample();
        t.policy_doc = Some(b"{}".to_vec());
        assert_eq!(PartitionState::decode(&t.encode()).unwrap(), t);
    }

    #[test]
    fn corrupt_records_are_refused() {
        let b = sample().encode();
        for i in [0, 9, 20, b.len() / 2, b.len() - 1] {
            let mut c = b.clone();
            c[i] ^= 0x40;
            assert!(PartitionState::decode(&c).is_err(), "flip at {i}");
        }
        assert!(PartitionState::decode(&b[..b.len() - 3]).is_err());
        assert!(PartitionState::decode(b"").is_err());
    }
}
