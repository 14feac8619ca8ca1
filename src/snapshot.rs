//! Snapshot and restore: an engine's whole state as bytes, and one system's state for moving
//! it between engines.
//!
//! # Format (version 2, little-endian)
//! `"AIRISKSN"`, `u32` version, `u64` policy fingerprint, `u32` state words per system,
//! counters (`seq`, `dropped`, `rejected_unknown`, `observed`, `rejected_stale`,
//! `rejected_invalid` as `u64`), `u32` handles issued, then per handle: its id (`u32`
//! length + UTF-8), a `u8` presence flag and, when present, the system record (profile
//! JSON, then its state words); then the queued transitions in compact form; then an
//! FNV-1a 64 checksum of everything before it. A system export (`"AIRISKSY"`) is the same
//! system record with the version, fingerprint and word count in front and a checksum
//! after.
//!
//! A snapshot restores only under the same policy: the fingerprint of the canonical policy
//! document must match, so reformatting the JSON is fine but any change of a number, id or
//! rule is refused with [`Error::State`]. Version 1 snapshots (the first release) are not
//! read: their state layout is gone.

use crate::classify::Profile;
use crate::engine::Slot;
use crate::engine::{Engine, EngineOptions, SHARDS};
use crate::error::{Error, Result};
use crate::handle::SystemHandle;
use crate::hash::fnv1a;
use crate::incident::{Due, IncidentEvent, IncidentEventKind, ReportKind, SystemIncidents};
use crate::layout::SystemArena;
use crate::level::{Actions, Level};
use crate::policy::{Compiled, Policy};
use crate::response::Response;
use crate::rule::Change;
use crate::silence::Silence;
use crate::system::{IncidentSlot, SystemInfo};
use crate::transition::{At, Scope, Transition};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::sync::atomic::Ordering;

const MAGIC: &[u8; 8] = b"AIRISKSN";
const MAGIC_SYSTEM: &[u8; 8] = b"AIRISKSY";
/// Current snapshot format version.
pub const SNAPSHOT_VERSION: u32 = 2;

struct W(Vec<u8>);

impl W {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn i64(&mut self, v: i64) {
        self.u64(v as u64);
    }
    fn f64o(&mut self, v: Option<f64>) {
        match v {
            Some(x) => {
                self.u8(1);
                self.u64(x.to_bits());
            }
            None => self.u8(0),
        }
    }
    fn str(&mut self, s: &str) {
        self.u32(s.len() as u32);
        self.0.extend_from_slice(s.as_bytes());
    }
    fn checksum(mut self) -> Vec<u8> {
        let h = fnv1a(&self.0);
        self.u64(h);
        self.0
    }
}

struct R<'a> {
    b: &'a [u8],
    at: usize,
}

fn short() -> Error {
    Error::State("snapshot is truncated or corrupt".into())
}

impl<'a> R<'a> {
    /// Checks the trailing checksum and returns a reader over the content.
    fn open(bytes: &'a [u8], magic: &[u8; 8]) -> Result<R<'a>> {
        if bytes.len() < 8 + 4 + 8 || &bytes[..8] != magic {
            return Err(Error::State(format!(
                "not an airisk {} (bad magic)",
                if magic == MAGIC {
                    "snapshot"
                } else {
                    "system export"
                }
            )));
        }
        let (body, sum) = bytes.split_at(bytes.len() - 8);
        let want = u64::from_le_bytes(sum.try_into().map_err(|_| short())?);
        if fnv1a(body) != want {
            return Err(Error::State(
                "snapshot checksum mismatch: the data is corrupt".into(),
            ));
        }
        Ok(R { b: body, at: 8 })
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.at.checked_add(n).ok_or_else(short)?;
        let s = self.b.get(self.at..end).ok_or_else(short)?;
        self.at = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().map_err(|_| short())?,
        ))
    }
    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().map_err(|_| short())?,
        ))
    }
    fn i64(&mut self) -> Result<i64> {
        Ok(self.u64()? as i64)
    }
    fn f64o(&mut self) -> Result<Option<f64>> {
        Ok(match self.u8()? {
            0 => None,
            _ => Some(f64::from_bits(self.u64()?)),
        })
    }
    fn str(&mut self) -> Result<&'a str> {
        let n = self.u32()? as usize;
        std::str::from_utf8(self.take(n)?)
            .map_err(|_| Error::State("snapshot holds invalid UTF-8".into()))
    }
    fn done(&self) -> Result<()> {
        if self.at == self.b.len() {
            Ok(())
        } else {
            Err(Error::State("snapshot has trailing data".into()))
        }
    }
}

fn check_header(r: &mut R<'_>, policy: &Policy) -> Result<()> {
    let v = r.u32()?;
    if v != SNAPSHOT_VERSION {
        return Err(Error::State(format!(
            "snapshot format version {v} is not supported (this library reads {SNAPSHOT_VERSION})"
        )));
    }
    let fp = r.u64()?;
    if fp != policy.fingerprint() {
        return Err(Error::State(format!(
            "snapshot was taken under a different policy (fingerprint {fp:016x}; this policy is {:016x}): restore with the same policy",
            policy.fingerprint()
        )));
    }
    let words = r.u32()?;
    if words != policy.0.tables.layout.words {
        return Err(Error::State(
            "snapshot state layout does not match the policy".into(),
        ));
    }
    Ok(())
}

fn write_system(w: &mut W, slot: &Slot, words: &[u64]) {
    w.str(&serde_json::to_string(&*slot.info.profile).unwrap_or_default());
    for x in words {
        w.u64(*x);
    }
    w.u32(slot.incidents.operator_type);
    match &slot.incidents.state {
        Some(st) => w.str(&serde_json::to_string(&**st).unwrap_or_default()),
        None => w.str(""),
    }
}

/// Reads a system record; checks what a corrupt or hostile record could break.
fn read_system(
    r: &mut R<'_>,
    policy: &Policy,
    id: &str,
) -> Result<(SystemInfo, Vec<u64>, IncidentSlot)> {
    let profile = Profile::from_json(r.str()?)
        .map_err(|err| Error::State(format!("snapshot profile of {id:?}: {err}")))?;
    if profile.id != id {
        return Err(Error::State(
            "snapshot profile id does not match its system".into(),
        ));
    }
    let layout = &policy.0.tables.layout;
    let mut words = vec![0u64; layout.words as usize];
    for x in words.iter_mut() {
        *x = r.u64()?;
    }
    let a = SystemArena::new(layout, &mut words);
    if a.grade() as usize >= policy.grades().len() {
        return Err(Error::State("snapshot grade out of range".into()));
    }
    let operator_type = r.u32()?;
    let n_types = policy.incidents().map_or(1, |ip| ip.operator_types.len());
    if operator_type as usize >= n_types {
        return Err(Error::State("snapshot operator type out of range".into()));
    }
    let mut incidents = IncidentSlot::new(operator_type);
    let st = r.str()?;
    if !st.is_empty() {
        let mut state: SystemIncidents = serde_json::from_str(st)
            .map_err(|e| Error::State(format!("snapshot incidents of {id:?}: {e}")))?;
        check_incidents(policy, id, &mut state)?;
        incidents.state = Some(Box::new(state));
    }
    incidents.refresh();
    Ok((
        SystemInfo {
            id: Arc::from(id),
            profile: Box::new(profile),
        },
        words,
        incidents,
    ))
}

/// What a restored incident state must satisfy for the engine to use it safely.
fn check_incidents(policy: &Policy, id: &str, st: &mut SystemIncidents) -> Result<()> {
    let bad = |what: &str| Error::State(format!("snapshot incidents of {id:?}: {what}"));
    let ip = policy
        .incidents()
        .ok_or_else(|| bad("the policy has no incidents section"))?;
    for inc in &mut st.live {
        inc.category_ix = *policy
            .0
            .category_ix
            .get(&*inc.category)
            .ok_or_else(|| bad("unknown category"))?;
        if inc.severity_rank as usize >= ip.severities.len()
            || ip.severities[inc.severity_rank as usize].id != inc.severity
        {
            return Err(bad("severity out of range"));
        }
        if &*inc.system_id != id {
            return Err(bad("incident of another system"));
        }
    }
    for (c, _) in &st.opened {
        if *c as usize >= policy.categories().len() {
            return Err(bad("category out of range"));
        }
    }
    Ok(())
}

impl Engine {
    /// The engine's whole state as bytes: every system (profile, grade, handle), windows,
    /// rule states with their timers, system levels, `seq`, stats and the queued
    /// transitions. Taken at one consistent point (all shard locks held).
    pub fn snapshot(&self) -> Vec<u8> {
        let policy = self.policy();
        let words = policy.0.tables.layout.words;
        let reg = self.registry.read();
        let shards: Vec<_> = self.shards.iter().map(|s| s.0.lock()).collect();
        let q = self.queue.lock();
        let mut w = W(Vec::with_capacity(
            64 + reg.names.len() * (words as usize * 8 + 256),
        ));
        w.0.extend_from_slice(MAGIC);
        w.u32(SNAPSHOT_VERSION);
        w.u64(policy.fingerprint());
        w.u32(words);
        w.u64(self.seq.load(Ordering::Acquire));
        w.u64(self.dropped.load(Ordering::Relaxed));
        w.u64(self.rejected_unknown.load(Ordering::Relaxed));
        let (mut o, mut st, mut inv) = (0, 0, 0);
        for sh in &shards {
            o += sh.counters.observed;
            st += sh.counters.rejected_stale;
            inv += sh.counters.rejected_invalid;
        }
        w.u64(o);
        w.u64(st);
        w.u64(inv);
        w.u32(reg.names.len() as u32);
        for (h, id) in reg.names.iter().enumerate() {
            w.str(id);
            match shards[h & (SHARDS - 1)].get(SystemHandle(h as u32)) {
                Some((slot, words)) => {
                    w.u8(1);
                    write_system(&mut w, slot, words);
                }
                None => w.u8(0),
            }
        }
        w.u32(q.items.len() as u32);
        for t in &q.items {
            w.u64(t.seq);
            w.i64(t.ts);
            w.u8(matches!(t.scope, Scope::System) as u8);
            w.u32(t.system.0);
            w.u32(t.grade);
            w.u32(t.rule.unwrap_or(u32::MAX));
            w.u8(t.from as u8);
            w.u8(t.to as u8);
            w.f64o(t.value);
            w.f64o(t.threshold);
            w.u32(t.actions.0);
            w.i64(t.report_within_s.unwrap_or(-1));
            w.str(t.silenced.as_deref().unwrap_or(""));
            w.str(t.inhibited_by.as_deref().unwrap_or(""));
        }
        let iq = self.incident_queue.lock();
        w.u64(self.incident_seq.load(Ordering::Acquire));
        w.u64(self.incidents_dropped.load(Ordering::Relaxed));
        let events: Vec<EventRec> = iq.items.iter().map(EventRec::from).collect();
        w.str(&serde_json::to_string(&events).unwrap_or_default());
        let silences: Vec<Silence> = self.silences.read().list().cloned().collect();
        w.str(&serde_json::to_string(&silences).unwrap_or_default());
        w.checksum()
    }

    /// Rebuilds an engine from [`Engine::snapshot`] bytes, under the same policy.
    ///
    /// # Errors
    /// [`Error::State`] when the bytes are not a snapshot, are corrupt (checksum), are of an
    /// unknown version, or were taken under a different policy.
    pub fn restore(policy: Policy, bytes: &[u8]) -> Result<Engine> {
        Engine::restore_with_options(policy, bytes, EngineOptions::default())
    }

    /// [`Engine::restore`] with options (queue capacity). Queued transitions beyond the
    /// capacity are counted as dropped.
    ///
    /// # Errors
    /// As [`Engine::restore`].
    pub fn restore_with_options(
        policy: Policy,
        bytes: &[u8],
        options: EngineOptions,
    ) -> Result<Engine> {
        let mut r = R::open(bytes, MAGIC)?;
        check_header(&mut r, &policy)?;
        let e = Engine::with_options(policy.clone(), options);
        let seq = r.u64()?;
        let dropped = r.u64()?;
        let unknown = r.u64()?;
        let (o, st, inv) = (r.u64()?, r.u64()?, r.u64()?);
        let n = r.u32()?;
        let mut names: Vec<Arc<str>> = Vec::with_capacity(n.min(1 << 20) as usize);
        {
            let mut reg = e.registry.write();
            for h in 0..n {
                let id: Arc<str> = Arc::from(r.str()?);
                let present = r.u8()? != 0;
                let mut shard = e.shards[(h as usize) & (SHARDS - 1)].0.lock();
                if present {
                    let (info, words, incidents) = read_system(&mut r, &policy, &id)?;
                    if reg.ids.insert(id.clone(), h).is_some() {
                        return Err(Error::State(format!("snapshot registers {id:?} twice")));
                    }
                    shard.push(info, &words, incidents);
                    e.systems.fetch_add(1, Ordering::Relaxed);
                } else {
                    shard.push_empty();
                }
                names.push(id);
            }
            reg.names = names;
            e.count.store(n, Ordering::Release);
        }
        let nq = r.u32()?;
        let reg = e.registry.read();
        let mut q = e.queue.lock();
        let mut extra_dropped = 0;
        let c = &policy.0;
        for _ in 0..nq {
            let seq_t = r.u64()?;
            let ts = r.i64()?;
            let system_scope = r.u8()? != 0;
            let system = r.u32()?;
            let grade = r.u32()?;
            let rule = r.u32()?;
            let from = Level::from_u8(r.u8()?).ok_or_else(short)?;
            let to = Level::from_u8(r.u8()?).ok_or_else(short)?;
            let value = r.f64o()?;
            let threshold = r.f64o()?;
            let actions = Actions(r.u32()?);
            let rep = r.i64()?;
            let silenced = r.str()?;
            let inhibited_by = r.str()?;
            let system_id = reg.names.get(system as usize).ok_or_else(short)?;
            if grade as usize >= c.grades.len() {
                return Err(short());
            }
            let at = At {
                policy: c,
                system: SystemHandle(system),
                system_id,
                grade,
                ts,
            };
            let response = Response {
                actions,
                report_within_s: (rep >= 0).then_some(rep),
            };
            let mut t = if system_scope {
                Transition::of_system(&at, from, to, response)
            } else {
                let rd = c.rules.get(rule as usize).ok_or_else(short)?;
                let change = Change {
                    from,
                    to,
                    value,
                    threshold,
                };
                Transition::of_rule(&at, rd, change, response)
            };
            t.seq = seq_t;
            t.silenced = (!silenced.is_empty()).then(|| Arc::from(silenced));
            t.inhibited_by = (!inhibited_by.is_empty()).then(|| Arc::from(inhibited_by));
            if q.items.len() < q.cap {
                q.items.push_back(t);
            } else {
                extra_dropped += 1;
            }
        }
        drop(q);
        let incident_seq = r.u64()?;
        let incidents_dropped = r.u64()?;
        let events: Vec<EventRec> = serde_json::from_str(r.str()?)
            .map_err(|e| Error::State(format!("snapshot incident queue: {e}")))?;
        let mut iq = e.incident_queue.lock();
        let mut extra_idropped = 0;
        for ev in events {
            let ev = ev.into_event(&reg.names, &policy.0)?;
            if iq.items.len() < iq.cap {
                iq.items.push_back(ev);
            } else {
                extra_idropped += 1;
            }
        }
        drop(iq);
        e.incident_seq.store(incident_seq, Ordering::Release);
        e.incidents_dropped
            .store(incidents_dropped + extra_idropped, Ordering::Relaxed);
        read_silences(&mut r, &e)?;
        drop(reg);
        r.done()?;
        e.seq.store(seq, Ordering::Release);
        e.dropped.store(dropped + extra_dropped, Ordering::Relaxed);
        e.rejected_unknown.store(unknown, Ordering::Relaxed);
        {
            let mut s0 = e.shards[0].0.lock();
            s0.counters.observed = o;
            s0.counters.rejected_stale = st;
            s0.counters.rejected_invalid = inv;
        }
        Ok(e)
    }

    /// One system's state (profile, grade, windows, rule states, level) as bytes, to move it
    /// to another engine with [`Engine::restore_system`]. The system stays registered here.
    ///
    /// # Errors
    /// [`Error::UnknownSystem`].
    pub fn snapshot_system(&self, h: SystemHandle) -> Result<Vec<u8>> {
        let shard = self.shard(h).lock();
        let (slot, words) = shard.get(h).ok_or(Error::UnknownSystem(h.0))?;
        let policy = &shard.policy;
        let mut w = W(Vec::with_capacity(256 + words.len() * 8));
        w.0.extend_from_slice(MAGIC_SYSTEM);
        w.u32(SNAPSHOT_VERSION);
        w.u64(policy.fingerprint());
        w.u32(policy.0.tables.layout.words);
        w.str(&slot.info.id);
        write_system(&mut w, slot, words);
        let silences: Vec<Silence> = self
            .silences
            .read()
            .of_system(&slot.info.id)
            .cloned()
            .collect();
        w.str(&serde_json::to_string(&silences).unwrap_or_default());
        Ok(w.checksum())
    }

    /// Registers a system exported by [`Engine::snapshot_system`] (from an engine with the
    /// same policy) under a new handle of this engine, with its windows and rule states.
    ///
    /// # Errors
    /// [`Error::State`] (corrupt, other policy), [`Error::Duplicate`] if the id is registered.
    pub fn restore_system(&self, bytes: &[u8]) -> Result<SystemHandle> {
        let policy = self.policy();
        let mut r = R::open(bytes, MAGIC_SYSTEM)?;
        check_header(&mut r, &policy)?;
        let id = r.str()?.to_owned();
        let (info, words, incidents) = read_system(&mut r, &policy, &id)?;
        let silences: Vec<Silence> = serde_json::from_str(r.str()?)
            .map_err(|e| Error::State(format!("snapshot silences: {e}")))?;
        r.done()?;
        for s in &silences {
            s.check(&policy)
                .map_err(|e| Error::State(format!("snapshot silences: {e}")))?;
        }
        let h = self.insert(info, &words, incidents, None)?;
        for s in silences {
            self.silences.write().set(s);
        }
        Ok(h)
    }
}

/// Reads the silences of a snapshot into `e`.
fn read_silences(r: &mut R<'_>, e: &Engine) -> Result<()> {
    let silences: Vec<Silence> = serde_json::from_str(r.str()?)
        .map_err(|err| Error::State(format!("snapshot silences: {err}")))?;
    let policy = e.policy();
    let mut set = e.silences.write();
    for s in silences {
        s.check(&policy)
            .map_err(|err| Error::State(format!("snapshot silences: {err}")))?;
        set.set(s);
    }
    Ok(())
}

/// A queued incident event, whole, for snapshots.
#[derive(Serialize, Deserialize)]
struct EventRec {
    seq: u64,
    ts: i64,
    event: IncidentEventKind,
    incident: Arc<str>,
    system: u32,
    category: Arc<str>,
    severity: Arc<str>,
    severity_rank: u32,
    reportable: bool,
    operator_type: Arc<str>,
    due: Option<Due>,
    rule: Option<Arc<str>>,
    rule_index: Option<u32>,
    level: Option<Level>,
    basis: Option<Arc<str>>,
    report: Option<ReportKind>,
    late: Option<bool>,
    reference: Option<Arc<str>>,
    by: Option<Arc<str>>,
}

impl From<&IncidentEvent> for EventRec {
    fn from(e: &IncidentEvent) -> EventRec {
        EventRec {
            seq: e.seq,
            ts: e.ts,
            event: e.event,
            incident: e.incident.clone(),
            system: e.system.0,
            category: e.category.clone(),
            severity: e.severity.clone(),
            severity_rank: e.severity_rank,
            reportable: e.reportable,
            operator_type: e.operator_type.clone(),
            due: e.due,
            rule: e.rule.clone(),
            rule_index: e.rule_index,
            level: e.level,
            basis: e.basis.clone(),
            report: e.report,
            late: e.late,
            reference: e.reference.clone(),
            by: e.by.clone(),
        }
    }
}

impl EventRec {
    fn into_event(self, names: &[Arc<str>], c: &Compiled) -> Result<IncidentEvent> {
        let system_id = names.get(self.system as usize).cloned().ok_or_else(short)?;
        let category_name = c
            .category_ix
            .get(&*self.category)
            .and_then(|&i| c.tables.names.categories[i as usize].clone());
        Ok(IncidentEvent {
            seq: self.seq,
            ts: self.ts,
            event: self.event,
            incident: self.incident,
            system: SystemHandle(self.system),
            system_id,
            category: self.category,
            severity: self.severity,
            severity_rank: self.severity_rank,
            reportable: self.reportable,
            operator_type: self.operator_type,
            due: self.due,
            rule: self.rule,
            rule_index: self.rule_index,
            level: self.level,
            basis: self.basis,
            report: self.report,
            late: self.late,
            category_name,
            severity_name: c
                .tables
                .names
                .severities
                .get(self.severity_rank as usize)
                .cloned()
                .flatten(),
            rule_name: self
                .rule_index
                .and_then(|r| c.tables.names.rules.get(r as usize).cloned().flatten()),
            reference: self.reference,
            by: self.by,
        })
    }
}
