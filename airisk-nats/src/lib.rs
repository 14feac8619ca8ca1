//! # airisk-nats — airisk across machines, on NATS JetStream
//!
//! Systems are independent, so the work of an airisk engine partitions by system id. This
//! crate moves event lines (the `airisk replay` format) through a
//! JetStream stream cut into `P` partitions, runs workers that each embed one engine per
//! partition they own, and collects their output back into the replay format:
//!
//! - [`publish`]: reads an event log and publishes each line to `airisk.ev.<partition>`
//!   ([`route`] decides which partitions), in order, with publish acknowledgements, a bounded
//!   number of messages in flight and a chain of expected message ids that keeps the stream an
//!   exact, ordered prefix of the log even when the server restarts mid-publish.
//! - [`worker`]: claims partitions through leases in a JetStream key-value bucket, consumes
//!   each owned partition in order with an explicit-ack pull consumer, feeds the engine,
//!   publishes transitions to `airisk.out.<partition>` with message id
//!   `"<system>/<kind>/<per-system seq>"`, and stores snapshots ([`snapshot`]) that a worker
//!   taking the partition over restores.
//! - [`collect`]: reads `airisk.out.>` and prints the output in the replay format,
//!   deduplicated, per system in order.
//! - [`setup`]: creates the streams and buckets (idempotent) and checks that every process
//!   of a deployment agrees on the partition count and the policy.
//! - [`generate`]: a deterministic synthetic event log, for tests and throughput runs.
//!
//! The core crate `airisk` is used through its public API only, and it never sees tokio:
//! vendors who embed the library compile none of this.
#![warn(missing_docs)]

pub mod collect;
pub mod generate;
pub mod publish;
pub mod setup;
pub mod snapshot;
pub mod worker;

use serde::Deserialize;
use std::borrow::Cow;
use std::time::Duration;

/// The stream of event lines (subjects `airisk.ev.<partition>`).
pub const EVENTS_STREAM: &str = "AIRISK_EVENTS";
/// The stream of output lines: transitions, and incident events once the engine emits them
/// (subjects `airisk.out.<partition>`).
pub const OUTPUT_STREAM: &str = "AIRISK_OUTPUT";
/// Subject prefix of event lines; the partition number follows.
pub const EVENTS_PREFIX: &str = "airisk.ev.";
/// Subject prefix of output lines; the partition number follows.
pub const OUTPUT_PREFIX: &str = "airisk.out.";
/// Key-value bucket of partition leases (`p.<n>`) and worker heartbeats (`w.<name>`). Its
/// `max_age` is the lease TTL.
pub const LEASE_BUCKET: &str = "airisk-leases";
/// Key-value bucket of snapshot pointers (`p.<n>`) and the deployment's configuration
/// (`config`).
pub const SNAPSHOT_BUCKET: &str = "airisk-snapshots";
/// Object store holding the snapshot records the pointers name.
pub const SNAPSHOT_OBJECTS: &str = "airisk-snapshot-data";
/// Default number of partitions.
pub const DEFAULT_PARTITIONS: u32 = 16;
/// Default server address when neither `--server` nor `NATS_URL` is given.
pub const DEFAULT_SERVER: &str = "nats://127.0.0.1:4222";

/// Header carrying the line number(s), in the published log, of an event message's line(s)
/// (comma-separated when a message holds several lines).
pub const LINES_HEADER: &str = "Airisk-Lines";

/// FNV-1a 64 of `bytes`.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The partition of a system id: FNV-1a 64 of its UTF-8 bytes mod `partitions`.
///
/// # Panics
/// Never for `partitions` ≥ 1; `partitions` = 0 is treated as 1.
pub fn partition_of(system: &str, partitions: u32) -> u32 {
    (fnv1a64(system.as_bytes()) % u64::from(partitions.max(1))) as u32
}

/// The system id of an incident id `"<system id>/<category id>/<n>"`: all but its last two
/// `/`-separated segments (system ids may contain `/`; category ids may not). `None` when the
/// id has fewer than three segments or an empty system part.
pub fn incident_system(incident: &str) -> Option<&str> {
    let mut it = incident.rsplitn(3, '/');
    let (_n, _category, system) = (it.next()?, it.next()?, it.next()?);
    (!system.is_empty()).then_some(system)
}

/// Where an event line goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route<'a> {
    /// To the partition of this system.
    System(Cow<'a, str>),
    /// To every partition (the line names no system: `tick`, `reload`, ...).
    Broadcast,
}

impl Route<'_> {
    /// The partitions this route reaches, out of `partitions`.
    pub fn partitions(&self, partitions: u32) -> RouteTargets {
        match self {
            Route::System(s) => RouteTargets::One(partition_of(s, partitions)),
            Route::Broadcast => RouteTargets::All(partitions.max(1)),
        }
    }
}

/// The partitions a [`Route`] reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteTargets {
    /// One partition.
    One(u32),
    /// Partitions `0..n`.
    All(u32),
}

impl IntoIterator for RouteTargets {
    type Item = u32;
    type IntoIter = std::ops::Range<u32>;
    fn into_iter(self) -> Self::IntoIter {
        match self {
            RouteTargets::One(p) => p..p + 1,
            RouteTargets::All(n) => 0..n,
        }
    }
}

#[derive(Deserialize)]
struct ProfileId<'a> {
    #[serde(borrow, default)]
    id: Option<Cow<'a, str>>,
}

/// The fields routing reads; every other field of the line is ignored, so line kinds added
/// later route without code changes.
#[derive(Deserialize)]
struct RouteFields<'a> {
    #[serde(borrow, default)]
    system: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    profile: Option<ProfileId<'a>>,
    #[serde(borrow, default)]
    incident: Option<Cow<'a, str>>,
}

/// Decides where an event line goes by reading its JSON generically:
///
/// 1. a string `system` field: that system's partition (observe lines, a silence scoped to
///    a system, ...);
/// 2. else a `profile` object with a string `id`: that system (register lines);
/// 3. else a string `incident` field: the incident's system (`ack`, `report` lines; see
///    [`incident_system`]);
/// 4. else every partition (`tick`, `reload`, a silence for every system, ...).
///
/// # Errors
/// A message when the line is not a JSON object or one of those fields has the wrong type
/// (lines the core parser accepts never do), or an incident id names no system.
pub fn route(line: &[u8]) -> Result<Route<'_>, String> {
    let f: RouteFields<'_> =
        serde_json::from_slice(line).map_err(|e| format!("cannot route: {e}"))?;
    if let Some(s) = f.system {
        return Ok(Route::System(s));
    }
    if let Some(id) = f.profile.and_then(|p| p.id) {
        return Ok(Route::System(id));
    }
    if let Some(inc) = f.incident {
        return match incident_system(&inc) {
            Some(s) => Ok(Route::System(Cow::Owned(s.to_owned()))),
            None => Err(format!(
                "cannot route: incident id {inc:?} is not \"<system>/<category>/<n>\""
            )),
        };
    }
    Ok(Route::Broadcast)
}

/// The subject of partition `p`'s event lines.
pub fn events_subject(p: u32) -> String {
    format!("{EVENTS_PREFIX}{p}")
}

/// The subject of partition `p`'s output lines.
pub fn output_subject(p: u32) -> String {
    format!("{OUTPUT_PREFIX}{p}")
}

/// Options of the connection to the server shared by every command.
#[derive(Debug, Clone)]
pub struct Connect {
    /// Server URL(s), comma-separated (`nats://127.0.0.1:4222`).
    pub server: String,
    /// Client name shown in the server's monitoring.
    pub name: String,
}

/// Connects with settings suited to a long-running worker: retries the first connection,
/// reconnects forever with a short capped backoff, logs connection events on stderr.
///
/// # Errors
/// When the URL is invalid.
pub async fn connect(c: &Connect) -> anyhow::Result<async_nats::Client> {
    let who = c.name.clone();
    let opts = async_nats::ConnectOptions::new()
        .name(&c.name)
        .retry_on_initial_connect()
        .max_reconnects(None)
        .connection_timeout(Duration::from_secs(2))
        .request_timeout(Some(Duration::from_secs(5)))
        .subscription_capacity(1 << 18)
        .client_capacity(1 << 14)
        .reconnect_delay_callback(|attempts| {
            Duration::from_millis((50 * attempts as u64).clamp(50, 1000))
        })
        .event_callback(move |e| {
            let who = who.clone();
            async move {
                if !matches!(e, async_nats::Event::Closed) {
                    log(&who, &format!("nats: {e}"));
                }
            }
        });
    opts.connect(c.server.as_str())
        .await
        .map_err(|e| anyhow::anyhow!("cannot connect to {}: {e}", c.server))
}

/// Milliseconds since the Unix epoch (for logs and traces only; the engine never reads it).
pub fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Microseconds since the Unix epoch (for traces).
pub fn unix_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// One log line on stderr: `<unix ms> <who>: <message>`.
pub fn log(who: &str, msg: &str) {
    eprintln!("{} {who}: {msg}", unix_ms());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_vectors() {
        // Published FNV-1a 64 test vectors.
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
        assert_eq!(
            partition_of("foobar", 16),
            (0x8594_4171_f739_67e8u64 % 16) as u32
        );
        assert_eq!(partition_of("x", 0), 0);
    }

    #[test]
    fn incident_ids() {
        assert_eq!(incident_system("bus-1/physical_safety/1"), Some("bus-1"));
        assert_eq!(
            incident_system("org/unit/bot/hallucination/12"),
            Some("org/unit/bot")
        );
        assert_eq!(incident_system("bus-1/1"), None);
        assert_eq!(incident_system("/c/1"), None);
    }

    #[test]
    fn routes() {
        fn r(l: &str) -> Result<Route<'_>, String> {
            route(l.as_bytes())
        }
        assert_eq!(
            r(r#"{"ts":1,"system":"a","signal":"s"}"#).unwrap(),
            Route::System("a".into())
        );
        assert_eq!(
            r(r#"{"op":"observe","ts":1,"system":"a\u0062","values":{"x":1}}"#).unwrap(),
            Route::System("ab".into())
        );
        assert_eq!(
            r(r#"{"op":"register","profile":{"id":"p","sector":"x"}}"#).unwrap(),
            Route::System("p".into())
        );
        assert_eq!(
            r(r#"{"op":"ack","ts":1,"incident":"a/b/c/1","by":"me"}"#).unwrap(),
            Route::System("a/b".into())
        );
        assert_eq!(r(r#"{"op":"tick","ts":1}"#).unwrap(), Route::Broadcast);
        assert_eq!(
            r(r#"{"op":"reload","ts":1,"policy":{"system":"not a top-level field"}}"#).unwrap(),
            Route::Broadcast
        );
        assert_eq!(
            r(r#"{"op":"unsilence","ts":1,"id":"s1"}"#).unwrap(),
            Route::Broadcast
        );
        assert!(r(r#"{"op":"ack","incident":"nope"}"#).is_err());
        assert!(r("[1]").is_err());
        assert!(r(r#"{"system":5}"#).is_err());
        let all: Vec<u32> = Route::Broadcast.partitions(4).into_iter().collect();
        assert_eq!(all, vec![0, 1, 2, 3]);
    }
}
