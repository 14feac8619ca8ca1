//! Snapshot and restore: an engine's whole state as bytes, and one system's state for moving
//! it between engines.
//!
//! # Format (version 3, little-endian)
//! `"AIRISKSN"`, `u32` version, `u64` policy fingerprint, `u32` state words per system,
//! the policy's canonical JSON (`u32` length + UTF-8), counters (`seq`, `dropped`,
//! `rejected_unknown`, `observed`, `rejected_stale`, `rejected_invalid` as `u64`), `u32`
//! handles issued, then per handle: its id (`u32` length + UTF-8), a `u8` presence flag
//! and, when present, the system record (profile JSON, its state words, operator type,
//! incidents JSON, and the private windows of rules a reload restarted); then the queued
//! transitions in compact form, the incident queue and the silences; then an FNV-1a 64
//! checksum of everything before it. A system export (`"AIRISKSY"`) is the same system
//! record with the version, fingerprint, word count and policy in front, its silences
//! after, and a checksum.
//!
//! # Restoring under another policy
//! Under the policy it was taken with (the same fingerprint of the canonical document, so
//! reformatting the JSON is fine), the state is restored as it was. Under any other policy
//! the state is rebuilt under the policy the snapshot carries, then moved to the new one by
//! the same migration as [`Engine::reload`]: what a reload would keep is kept, the rest
//! starts empty, rules reset or removed while above none emit their transitions to none
//! (`"reason": "policy_reload"`), and a profile or open incident the new policy does not
//! accept refuses the restore ([`Error::Reload`]). [`Engine::last_reload_report`] then
//! says what the migration did.
//!
//! Version 2 snapshots (before reloads were saved) are read too; they do not carry their
//! policy, so they restore only under the same policy ([`Error::State`] otherwise), and
//! hold no private windows. Version 1 snapshots (the first release) are not read: their
//! state layout is gone.

use crate::classify::Profile;
use crate::engine::Slot;
use crate::engine::{Engine, EngineOptions, SHARDS, remap_incidents};
use crate::error::{Error, Result};
use crate::handle::SystemHandle;
use crate::hash::fnv1a;
use crate::incident::{Due, IncidentEvent, IncidentEventKind, ReportKind, SystemIncidents};
use crate::layout::SystemArena;
use crate::level::{Actions, Level};
use crate::policy::model::I18n;
use crate::policy::{Compiled, Policy};
use crate::reload::{Fresh, FreshRing, SystemIn, incidents_fit, migrate, old_levels, plan};
use crate::response::Response;
use crate::rule::Change;
use crate::silence::Silence;
use crate::system::Pending;
use crate::system::{IncidentSlot, SystemInfo};
use crate::transition::{At, Scope, Transition};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::sync::atomic::Ordering;

const MAGIC: &[u8; 8] = b"AIRISKSN";
const MAGIC_SYSTEM: &[u8; 8] = b"AIRISKSY";
/// Current snapshot format version (written); versions 2 and 3 are read.
pub const SNAPSHOT_VERSION: u32 = 3;

/// The oldest version read.
const OLDEST_READ: u32 = 2;

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
    fn ostr(&mut self, s: Option<&str>) {
        match s {
            Some(s) => {
                self.u8(1);
                self.str(s);
            }
            None => self.u8(0),
        }
    }
    fn name(&mut self, n: Option<&I18n>) {
        match n {
            Some(n) => {
                self.u8(1);
                self.ostr(n.zh.as_deref());
                self.ostr(n.en.as_deref());
            }
            None => self.u8(0),
        }
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
    fn ostr(&mut self) -> Result<Option<Arc<str>>> {
        Ok(match self.u8()? {
            0 => None,
            _ => Some(Arc::from(self.str()?)),
        })
    }
    fn name(&mut self) -> Result<Option<Arc<I18n>>> {
        Ok(match self.u8()? {
            0 => None,
            _ => Some(Arc::new(I18n {
                zh: self.ostr()?.map(|s| s.to_string()),
                en: self.ostr()?.map(|s| s.to_string()),
            })),
        })
    }
    fn done(&self) -> Result<()> {
        if self.at == self.b.len() {
            Ok(())
        } else {
            Err(Error::State("snapshot has trailing data".into()))
        }
    }
}

/// What comes before the records.
struct Header<'a> {
    version: u32,
    fingerprint: u64,
    words: u32,
    /// The canonical JSON of the policy it was taken under (version 3).
    policy: Option<&'a str>,
}

fn read_header<'a>(r: &mut R<'a>) -> Result<Header<'a>> {
    let version = r.u32()?;
    if !(OLDEST_READ..=SNAPSHOT_VERSION).contains(&version) {
        return Err(Error::State(format!(
            "snapshot format version {version} is not supported (this library reads {OLDEST_READ} to {SNAPSHOT_VERSION})"
        )));
    }
    let fingerprint = r.u64()?;
    let words = r.u32()?;
    let policy = if version >= 3 { Some(r.str()?) } else { None };
    Ok(Header {
        version,
        fingerprint,
        words,
        policy,
    })
}

impl Header<'_> {
    /// The policy the state was written under: `policy` itself when the fingerprints
    /// match, else the policy the snapshot carries.
    fn source(&self, policy: &Policy) -> Result<Policy> {
        let src = if self.fingerprint == policy.fingerprint() {
            policy.clone()
        } else {
            let Some(text) = self.policy else {
                return Err(Error::State(format!(
                    "snapshot was taken under a different policy (fingerprint {:016x}; this policy is {:016x}) and, in format version {}, does not carry it: restore with the same policy",
                    self.fingerprint,
                    policy.fingerprint(),
                    self.version
                )));
            };
            let p = Policy::from_json(text)
                .map_err(|e| Error::State(format!("the snapshot's policy: {e}")))?;
            if p.fingerprint() != self.fingerprint {
                return Err(Error::State(
                    "the snapshot's policy does not match its fingerprint: the data is corrupt"
                        .into(),
                ));
            }
            p
        };
        if self.words != src.0.tables.layout.words {
            return Err(Error::State(
                "snapshot state layout does not match the policy".into(),
            ));
        }
        Ok(src)
    }
}

/// Writes the header of the current version.
fn write_header(w: &mut W, policy: &Policy) {
    w.u32(SNAPSHOT_VERSION);
    w.u64(policy.fingerprint());
    w.u32(policy.0.tables.layout.words);
    w.str(&policy.canonical_json());
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
    w.u32(slot.fresh.len() as u32);
    for f in &slot.fresh {
        w.u32(f.rule);
        w.i64(f.reload_bucket);
        w.i64(f.since);
        for ring in [&f.sig, &f.per] {
            match ring {
                None => w.u8(0),
                Some(r) => {
                    w.u8(1);
                    w.i64(r.head);
                    w.u32(r.buckets.len() as u32);
                    for b in &r.buckets {
                        for x in b {
                            w.u64(x.to_bits());
                        }
                    }
                }
            }
        }
    }
}

/// Reads the private windows of a system record (version 3), checked against `policy`:
/// each names a rule of the policy once, with rings of that rule's window.
fn read_fresh(r: &mut R<'_>, policy: &Policy, id: &str) -> Result<Vec<Fresh>> {
    let bad = |what: &str| Error::State(format!("snapshot private windows of {id:?}: {what}"));
    let rules = policy.rules();
    let n = r.u32()? as usize;
    if n > rules.len() {
        return Err(bad("more than one per rule"));
    }
    let mut out: Vec<Fresh> = Vec::with_capacity(n);
    for _ in 0..n {
        let rule = r.u32()?;
        let Some(rd) = rules.get(rule as usize) else {
            return Err(bad("rule out of range"));
        };
        if out.iter().any(|f| f.rule == rule) {
            return Err(bad("a rule twice"));
        }
        let reload_bucket = r.i64()?;
        let since = r.i64()?;
        let len = rd.window_buckets.max(1);
        let mut rings = [None, None];
        for ring in &mut rings {
            if r.u8()? == 0 {
                continue;
            }
            let head = r.i64()?;
            if r.u32()? != len {
                return Err(bad("ring size is not the rule's window"));
            }
            let mut fr = FreshRing::new(len, head);
            for b in fr.buckets.iter_mut() {
                for x in b.iter_mut() {
                    *x = f64::from_bits(r.u64()?);
                }
            }
            *ring = Some(fr);
        }
        let [sig, per] = rings;
        out.push(Fresh {
            rule,
            reload_bucket,
            since,
            sig,
            per,
        });
    }
    Ok(out)
}

/// A system record, read.
struct Record {
    info: SystemInfo,
    words: Vec<u64>,
    incidents: IncidentSlot,
    fresh: Vec<Fresh>,
}

/// Reads a system record of format `version`; checks what a corrupt or hostile record
/// could break.
fn read_system(r: &mut R<'_>, policy: &Policy, id: &str, version: u32) -> Result<Record> {
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
    let fresh = if version >= 3 {
        read_fresh(r, policy, id)?
    } else {
        Vec::new()
    };
    Ok(Record {
        info: SystemInfo {
            id: Arc::from(id),
            profile: Box::new(profile),
        },
        words,
        incidents,
        fresh,
    })
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
        if crate::json::check_id(c).is_err() {
            return Err(bad("bad category id"));
        }
    }
    Ok(())
}

impl Engine {
    /// The engine's whole state as bytes: every system (profile, grade, handle), windows,
    /// rule states with their timers, system levels, `seq`, stats and the queued
    /// transitions. Taken at one consistent point (all shard locks held).
    ///
    /// ```
    /// use airisk::{Engine, Policy, Profile};
    ///
    /// let engine = Engine::new(Policy::default_policy());
    /// let bot = engine.register(Profile::builder("bot", "healthcare_clinical", "sensitive_personal",
    ///                                            "autonomous", 10).build()?)?;
    /// engine.observe(bot, engine.lookup_signal("safety_incidents")?, 1.0, 0)?;
    /// let bytes = engine.snapshot();
    /// // The restored engine is the same engine: levels, incidents, counters, queue.
    /// let copy = Engine::restore(Policy::default_policy(), &bytes)?;
    /// assert_eq!(copy.system_level(bot)?, engine.system_level(bot)?);
    /// assert_eq!(copy.incidents(), engine.incidents());
    /// assert_eq!(copy.stats(), engine.stats());
    /// assert_eq!(copy.queued(), engine.queued());
    /// # Ok::<(), airisk::Error>(())
    /// ```
    pub fn snapshot(&self) -> Vec<u8> {
        let reg = self.registry.read();
        let shards: Vec<_> = self.shards.iter().map(|s| s.0.lock()).collect();
        // The shards' policy: a reload holds every shard while it swaps policies.
        let policy = shards[0].policy.clone();
        let words = policy.0.tables.layout.words;
        let q = self.queue.lock();
        let mut w = W(Vec::with_capacity(
            64 + reg.names.len() * (words as usize * 8 + 256),
        ));
        w.0.extend_from_slice(MAGIC);
        write_header(&mut w, &policy);
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
            w.str(t.reason.as_deref().unwrap_or(""));
            // Version 3: the strings as they are (a transition queued before a reload
            // names a rule the policy may no longer have, or have at another index).
            w.str(&t.grade_id);
            w.ostr(t.rule_id.as_deref());
            w.ostr(t.category.as_deref());
            w.ostr(t.basis.as_deref());
            w.name(t.grade_name.as_deref());
            w.name(t.rule_name.as_deref());
            w.name(t.category_name.as_deref());
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

    /// Rebuilds an engine from [`Engine::snapshot`] bytes.
    ///
    /// Under the policy the snapshot was taken with, the state is restored as it was. Under
    /// another policy it is rebuilt under the policy the snapshot carries, then moved to
    /// `policy` as [`Engine::reload`] would move it: the transitions that migration causes
    /// are queued after the restored ones, and [`Engine::last_reload_report`] says what it
    /// kept and reset.
    ///
    /// ```
    /// use airisk::{Engine, Policy, Profile};
    /// let engine = Engine::new(Policy::default_policy());
    /// engine.register(Profile::from_json(r#"{"id": "bot", "sector": "healthcare_clinical",
    ///     "data": "sensitive_personal", "autonomy": "human_on_the_loop", "users": 1000}"#)?)?;
    /// let bytes = engine.snapshot();
    /// // A tuned policy: one threshold of one rule changes.
    /// let mut doc = Policy::default_policy().source().clone();
    /// doc["rules"][0]["thresholds"]["general"][0] = serde_json::json!(0.12);
    /// let tuned = Policy::from_value(doc)?;
    /// let restored = Engine::restore(tuned, &bytes)?;
    /// assert_eq!(restored.stats().systems, 1);
    /// assert!(restored.last_reload_report().is_some());
    /// # Ok::<(), airisk::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::State`] when the bytes are not a snapshot, are corrupt (checksum), are of an
    /// unknown version, or are of version 2 and were taken under a different policy;
    /// [`Error::Reload`] when the migration is refused (a profile or an open incident the
    /// new policy does not accept).
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
        let header = read_header(&mut r)?;
        let src = header.source(&policy)?;
        let e = restore_records(src.clone(), &mut r, header.version, options)?;
        if src.fingerprint() != policy.fingerprint() {
            e.reload(policy)?;
        }
        Ok(e)
    }

    /// One system's state (profile, grade, windows, rule states, level) as bytes, to move it
    /// to another engine with [`Engine::restore_system`]. The system stays registered here.
    ///
    /// ```
    /// use airisk::{Engine, Policy, Profile};
    ///
    /// let here = Engine::new(Policy::default_policy());
    /// let bot = here.register(Profile::builder("bot", "healthcare_clinical", "sensitive_personal",
    ///                                          "autonomous", 10).build()?)?;
    /// here.observe(bot, here.lookup_signal("safety_incidents")?, 1.0, 0)?;
    /// let bytes = here.snapshot_system(bot)?;
    /// let there = Engine::new(Policy::default_policy());
    /// let moved = there.restore_system(&bytes)?;
    /// assert_eq!(there.system_level(moved)?, here.system_level(bot)?);
    /// assert_eq!(there.rule_levels(moved)?, here.rule_levels(bot)?);
    /// // Still registered here: deregister it to complete a move.
    /// here.deregister(bot)?;
    /// # Ok::<(), airisk::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::UnknownSystem`].
    pub fn snapshot_system(&self, h: SystemHandle) -> Result<Vec<u8>> {
        let shard = self.shard(h).lock();
        let (slot, words) = shard.get(h).ok_or(Error::UnknownSystem(h.0))?;
        let policy = &shard.policy;
        let mut w = W(Vec::with_capacity(256 + words.len() * 8));
        w.0.extend_from_slice(MAGIC_SYSTEM);
        write_header(&mut w, policy);
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

    /// Registers a system exported by [`Engine::snapshot_system`] under a new handle of
    /// this engine, with its windows, rule states, incidents and silences.
    ///
    /// An export taken under another policy is moved to this engine's policy as
    /// [`Engine::reload`] would move it: what a reload would keep is kept, the rest starts
    /// empty, each rule reset or removed while above none emits its transition to none
    /// (`"reason": "policy_reload"`) and the system line follows; silences naming what this
    /// policy lacks are dropped. [`Engine::last_reload_report`] then says what the
    /// migration did.
    ///
    /// ```
    /// use airisk::{Engine, Error, Policy, Profile};
    ///
    /// let here = Engine::new(Policy::default_policy());
    /// let bot = here.register(Profile::builder("bot", "healthcare_clinical", "sensitive_personal",
    ///                                          "autonomous", 10).build()?)?;
    /// here.observe(bot, here.lookup_signal("safety_incidents")?, 1.0, 0)?;
    /// let bytes = here.snapshot_system(bot)?;
    /// let there = Engine::new(Policy::default_policy());
    /// let moved = there.restore_system(&bytes)?;
    /// // Its open incident came along, and can be acknowledged there.
    /// there.acknowledge("bot/physical_safety/1", 60_000, "duty officer")?;
    /// // Once per engine; and damaged bytes are refused.
    /// assert!(matches!(there.restore_system(&bytes), Err(Error::Duplicate(_))));
    /// assert!(matches!(there.restore_system(&bytes[..bytes.len() - 1]), Err(Error::State(_))));
    /// assert_eq!(there.systems(), [moved]);
    /// # Ok::<(), airisk::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::State`] (corrupt, an unknown format version, or a version-2 export of
    /// another policy), [`Error::Duplicate`] if the id is registered, [`Error::Reload`]
    /// when this policy does not accept the system's profile or cannot carry its open
    /// incidents.
    pub fn restore_system(&self, bytes: &[u8]) -> Result<SystemHandle> {
        let mut r = R::open(bytes, MAGIC_SYSTEM)?;
        let header = read_header(&mut r)?;
        let body = r.at;
        loop {
            let policy = self.policy();
            let src = header.source(&policy)?;
            let mut r = R { b: r.b, at: body };
            let id = r.str()?.to_owned();
            let rec = read_system(&mut r, &src, &id, header.version)?;
            let silences: Vec<Silence> = serde_json::from_str(r.str()?)
                .map_err(|e| Error::State(format!("snapshot silences: {e}")))?;
            r.done()?;
            let inserted = if src.fingerprint() == policy.fingerprint() {
                for s in &silences {
                    s.check(&policy)
                        .map_err(|e| Error::State(format!("snapshot silences: {e}")))?;
                }
                let h = self.insert_then(
                    &policy,
                    rec.info,
                    &rec.words,
                    rec.incidents,
                    rec.fresh,
                    None,
                    |_, _, _| {},
                )?;
                h.map(|h| (h, silences, None))
            } else {
                self.restore_migrating(&src, &policy, rec, silences)?
            };
            // `None`: a reload came between; do it again under the engine's new policy.
            let Some((h, silences, report)) = inserted else {
                continue;
            };
            {
                let mut set = self.silences.write();
                for s in silences {
                    set.set(s);
                }
            }
            if report.is_some() {
                *self.last_reload.lock() = report;
            }
            return Ok(h);
        }
    }

    /// Registers a system record taken under `src`, moved to `policy` (the engine's); the
    /// silences that fit `policy`, and the migration's report. `None` when the engine's
    /// policy is no longer `policy`.
    #[allow(clippy::type_complexity)]
    fn restore_migrating(
        &self,
        src: &Policy,
        policy: &Policy,
        mut rec: Record,
        silences: Vec<Silence>,
    ) -> Result<Option<(SystemHandle, Vec<Silence>, Option<crate::ReloadReport>)>> {
        let id = rec.info.id.clone();
        let old_grade = SystemArena::new(&src.0.tables.layout, &mut rec.words).grade();
        let (mut report, plans) = plan(
            src,
            policy,
            &[SystemIn {
                id: &id,
                profile: &rec.info.profile,
                old_grade: Some(old_grade),
            }],
        );
        report.refusal()?;
        let Some(Some(sp)) = plans.into_iter().next() else {
            return Err(Error::Reload(format!(
                "the policy does not accept the system {id:?}"
            )));
        };
        if let Some(st) = &rec.incidents.state {
            incidents_fit(policy, &id, st)?;
        }
        let levels = old_levels(&src.0, &rec.words);
        let (words, fresh) = migrate(&src.0, &policy.0, &rec.words, &rec.fresh, &sp);
        rec.incidents.operator_type = sp.operator_type;
        if let Some(st) = rec.incidents.state.as_mut() {
            remap_incidents(st, policy);
        }
        rec.incidents.refresh();
        let (kept, gone): (Vec<Silence>, Vec<Silence>) =
            silences.into_iter().partition(|s| s.check(policy).is_ok());
        report.silences_removed = gone.into_iter().map(|s| s.id).collect();
        let mut transitions = 0;
        let h = self.insert_then(
            policy,
            rec.info,
            &words,
            rec.incidents,
            fresh,
            None,
            |shard, h, out: &mut Pending| {
                if let Some(mut sys) = shard.sys(h) {
                    sys.reload_outputs(&src.0, old_grade, &levels, &sp.matched, &sp.keep, out);
                }
                transitions = out
                    .iter()
                    .filter(
                        |o| matches!(o, crate::system::Output::Transition(t) if t.reason.is_some()),
                    )
                    .count() as u64;
            },
        )?;
        report.transitions = transitions;
        Ok(h.map(|h| (h, kept, Some(report))))
    }
}

/// The records of a whole snapshot after its header, restored under `policy` (the one it
/// was taken with).
fn restore_records(
    policy: Policy,
    r: &mut R<'_>,
    version: u32,
    options: EngineOptions,
) -> Result<Engine> {
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
                let rec = read_system(r, &policy, &id, version)?;
                if reg.ids.insert(id.clone(), h).is_some() {
                    return Err(Error::State(format!("snapshot registers {id:?} twice")));
                }
                shard.push(rec.info, &rec.words, rec.incidents, rec.fresh);
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
        let reason = r.str()?;
        let system_id = reg.names.get(system as usize).ok_or_else(short)?;
        let t = if version >= 3 {
            Transition {
                seq: seq_t,
                ts,
                scope: if system_scope {
                    Scope::System
                } else {
                    Scope::Rule
                },
                system: SystemHandle(system),
                system_id: system_id.clone(),
                grade,
                grade_id: Arc::from(r.str()?),
                rule: (!system_scope).then_some(rule),
                rule_id: r.ostr()?,
                category: r.ostr()?,
                from,
                to,
                value,
                threshold,
                actions,
                report_within_s: (rep >= 0).then_some(rep),
                basis: r.ostr()?,
                grade_name: r.name()?,
                rule_name: r.name()?,
                category_name: r.name()?,
                silenced: (!silenced.is_empty()).then(|| Arc::from(silenced)),
                inhibited_by: (!inhibited_by.is_empty()).then(|| Arc::from(inhibited_by)),
                reason: (!reason.is_empty()).then(|| Arc::from(reason)),
            }
        } else {
            // Version 2: the strings come from the policy, by index.
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
            t.reason = (!reason.is_empty()).then(|| Arc::from(reason));
            t
        };
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
    read_silences(r, &e)?;
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
    /// Display names of the category, severity and rule as they were (version 3; version 2
    /// looks them up in the policy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    names: Option<[Option<NameRec>; 3]>,
}

/// A display name in a snapshot.
#[derive(Serialize, Deserialize)]
struct NameRec {
    zh: Option<String>,
    en: Option<String>,
}

impl NameRec {
    fn of(n: &Option<Arc<I18n>>) -> Option<NameRec> {
        n.as_ref().map(|n| NameRec {
            zh: n.zh.clone(),
            en: n.en.clone(),
        })
    }
    fn into_name(n: Option<NameRec>) -> Option<Arc<I18n>> {
        n.map(|n| Arc::new(I18n { zh: n.zh, en: n.en }))
    }
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
            names: Some([
                NameRec::of(&e.category_name),
                NameRec::of(&e.severity_name),
                NameRec::of(&e.rule_name),
            ]),
        }
    }
}

impl EventRec {
    fn into_event(self, names: &[Arc<str>], c: &Compiled) -> Result<IncidentEvent> {
        let system_id = names.get(self.system as usize).cloned().ok_or_else(short)?;
        let (category_name, severity_name, rule_name) = match self.names {
            Some([cat, sev, rule]) => (
                NameRec::into_name(cat),
                NameRec::into_name(sev),
                NameRec::into_name(rule),
            ),
            None => (
                c.category_ix
                    .get(&*self.category)
                    .and_then(|&i| c.tables.names.categories[i as usize].clone()),
                c.tables
                    .names
                    .severities
                    .get(self.severity_rank as usize)
                    .cloned()
                    .flatten(),
                self.rule_index
                    .and_then(|r| c.tables.names.rules.get(r as usize).cloned().flatten()),
            ),
        };
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
            severity_name,
            rule_name,
            reference: self.reference,
            by: self.by,
        })
    }
}
