//! `airisk-nats collect`: the output stream back in the replay format.
//!
//! Reads every message of `airisk.out.>` from the start, keys each by its message id
//! `"<system>/<kind>/<n>"` (the system id may itself contain `/`), drops duplicates (the
//! same id twice: output re-emitted after a failover that the server's duplicate window did
//! not catch), and, once no new message came for `idle`, prints each system's lines in `n`
//! order, systems by id. Every line is exactly what `airisk replay` prints for it. A
//! duplicate whose content differs from the first copy, or a gap in a system's `n`, is
//! reported (and makes the command fail): neither can happen unless something is broken.

use crate::setup::Deployment;
use crate::{OUTPUT_PREFIX, log};
use anyhow::anyhow;
use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, pull};
use bytes::Bytes;
use futures::StreamExt;
use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

/// What `collect` found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CollectReport {
    /// Messages read.
    pub messages: u64,
    /// Duplicates dropped (same id, same content).
    pub duplicates: u64,
    /// Duplicates whose content differed from the first copy (kept: the first).
    pub conflicts: u64,
    /// Messages whose id is not `"<system>/<kind>/<n>"` (skipped).
    pub malformed: u64,
    /// Systems with output.
    pub systems: u64,
    /// Lines printed.
    pub lines: u64,
    /// Output numbers missing from a system's sequence.
    pub missing: u64,
    /// Consumer sequence gaps healed by re-reading.
    pub gaps: u64,
}

impl CollectReport {
    /// Whether everything was consistent: no conflicting duplicate, no malformed id, no gap.
    pub fn clean(&self) -> bool {
        self.conflicts == 0 && self.malformed == 0 && self.missing == 0
    }
}

/// Output lines keyed by system, then by per-system number.
pub type Collected = BTreeMap<String, BTreeMap<u64, Bytes>>;

fn parse_id(id: &str) -> Option<(&str, &str, u64)> {
    let mut it = id.rsplitn(3, '/');
    let n = it.next()?.parse().ok()?;
    let kind = it.next()?;
    let system = it.next()?;
    (!system.is_empty() && !kind.is_empty()).then_some((system, kind, n))
}

/// Reads the output stream until `idle` passes without a new message.
///
/// # Errors
/// When the consumer cannot be created or the server stays unreachable.
pub async fn read(dep: &Deployment, idle: Duration) -> anyhow::Result<(Collected, CollectReport)> {
    let mut r = CollectReport::default();
    let mut out: Collected = BTreeMap::new();
    let stream = dep.output.clone();
    let mut applied = 0u64;
    let mut generation = 0;
    'consumer: loop {
        generation += 1;
        let name = format!("airisk-collect-{}-{generation}", crate::unix_us());
        let consumer = stream
            .create_consumer(pull::Config {
                name: Some(name.clone()),
                filter_subject: format!("{OUTPUT_PREFIX}>"),
                deliver_policy: if applied == 0 {
                    DeliverPolicy::All
                } else {
                    DeliverPolicy::ByStartSequence {
                        start_sequence: applied + 1,
                    }
                },
                ack_policy: AckPolicy::None,
                inactive_threshold: Duration::from_secs(10),
                ..Default::default()
            })
            .await
            .map_err(|e| anyhow!("creating a consumer on the output stream: {e}"))?;
        let mut messages = consumer
            .stream()
            .max_messages_per_batch(1000)
            .expires(Duration::from_secs(5))
            .heartbeat(Duration::from_secs(1))
            .messages()
            .await
            .map_err(|e| anyhow!("reading the output stream: {e}"))?;
        let mut expect = 1u64;
        loop {
            let m = match tokio::time::timeout(idle, messages.next()).await {
                Err(_) => break 'consumer,
                Ok(None) => continue 'consumer,
                Ok(Some(Err(e))) => {
                    log("collect", &format!("{e}; reading again"));
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue 'consumer;
                }
                Ok(Some(Ok(m))) => m,
            };
            let info = m.info().map_err(|e| anyhow!("{e}"))?;
            if info.consumer_sequence != expect {
                r.gaps += 1;
                continue 'consumer;
            }
            expect += 1;
            if info.stream_sequence <= applied {
                continue;
            }
            applied = info.stream_sequence;
            r.messages += 1;
            let id = m
                .headers
                .as_ref()
                .and_then(|h| h.get(async_nats::header::NATS_MESSAGE_ID))
                .map(|v| v.as_str().to_owned())
                .unwrap_or_default();
            let Some((system, _kind, n)) = parse_id(&id) else {
                r.malformed += 1;
                log(
                    "collect",
                    &format!(
                        "message {applied} has id {id:?}, not \"<system>/<kind>/<n>\"; skipped"
                    ),
                );
                continue;
            };
            let lines = out.entry(system.to_owned()).or_default();
            match lines.get(&n) {
                None => {
                    lines.insert(n, m.payload.clone());
                }
                Some(first) if *first == m.payload => r.duplicates += 1,
                Some(_) => {
                    r.conflicts += 1;
                    log(
                        "collect",
                        &format!("{id}: two different messages carry this id; kept the first"),
                    );
                }
            }
        }
    }
    r.systems = out.len() as u64;
    for (system, lines) in &out {
        let max = lines.keys().next_back().copied().unwrap_or(0);
        let missing = max - lines.len() as u64;
        if missing > 0 {
            r.missing += missing;
            let first_gap = (1..=max).find(|n| !lines.contains_key(n)).unwrap_or(0);
            log(
                "collect",
                &format!(
                    "system {system:?}: {missing} output lines missing (first: number {first_gap} of {max})"
                ),
            );
        }
        r.lines += lines.len() as u64;
    }
    Ok((out, r))
}

/// Writes the collected lines: per system (by id), in order, one per line.
///
/// # Errors
/// Write errors.
pub fn print<W: Write>(out: &Collected, w: &mut W) -> std::io::Result<()> {
    for lines in out.values() {
        for l in lines.values() {
            w.write_all(l)?;
            w.write_all(b"\n")?;
        }
    }
    w.flush()
}

#[cfg(test)]
mod tests {
    use super::parse_id;

    #[test]
    fn ids() {
        assert_eq!(parse_id("bot/transition/3"), Some(("bot", "transition", 3)));
        assert_eq!(
            parse_id("org/unit/bot/incident/12"),
            Some(("org/unit/bot", "incident", 12))
        );
        assert_eq!(parse_id("bot/transition/x"), None);
        assert_eq!(parse_id("transition/3"), None);
        assert_eq!(parse_id(""), None);
    }
}
