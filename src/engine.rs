//! The engine: registry, shards, numbering and delivery (the user-facing docs are on
//! [`Engine`]).

use crate::classify::{Classification, Profile, classify};
use crate::error::{Error, Result};
use crate::handle::{SignalId, SystemHandle};
use crate::hash::FastMap;
use crate::incident::Refused;
use crate::incident::{Incident, IncidentEvent, ReportKind, system_of};
use crate::journal::{Durability, Journal, OpenReport};
use crate::layout::{NONE, SystemArena};
use crate::level::Level;
use crate::policy::{Compiled, Policy};
use crate::reload::{self, Fresh, ReloadReport, SystemIn, plan};
use crate::silence::{Silence, Silences};
use crate::system::{IncidentSlot, Output, Pending, Rejected, Sys, SystemInfo};
use crate::transition::Transition;
use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

/// Above this many registered systems, [`Engine::lookup_system`] looks for no suggestion
/// (the scan would cost more than an error path should).
const SUGGEST_MAX_SYSTEMS: usize = 10_000;

/// `"found"`, then `; did you mean "x"?` when one of `valid` is close.
fn quoted_with_suggestion<'a>(found: &str, valid: impl Iterator<Item = &'a str>) -> String {
    match crate::classify::suggest(found, valid) {
        Some(s) => format!("{found:?}; did you mean {s:?}?"),
        None => format!("{found:?}"),
    }
}

/// Counters of an engine (all since creation).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Observations accepted.
    pub observed: u64,
    /// Observations rejected because their bucket had left the ring.
    pub rejected_stale: u64,
    /// Observations rejected as invalid: non-finite value, negative counter, unknown
    /// handle or signal.
    pub rejected_invalid: u64,
    /// Transitions emitted (delivered or dropped); equals the last `seq`.
    pub transitions: u64,
    /// Transitions that found the queue full.
    pub dropped: u64,
    /// Systems currently registered.
    pub systems: u64,
    /// Journal records that could not be written (I/O errors); 0 without a journal.
    #[serde(default)]
    pub journal_errors: u64,
    /// Incident events emitted (delivered or dropped); equals the last incident `seq`.
    #[serde(default)]
    pub incident_events: u64,
    /// Incident events that found the incident queue full.
    #[serde(default)]
    pub incidents_dropped: u64,
}

/// Engine options.
#[derive(Debug, Clone, Copy)]
pub struct EngineOptions {
    /// Capacity of the transition queue (default 65 536). A transition that finds it full is
    /// dropped and counted in [`Stats::dropped`]; its `seq` is still used, so consumers see
    /// the gap.
    pub queue_capacity: usize,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            queue_capacity: 65_536,
        }
    }
}

/// Most systems one engine registers (handles are `u32`; the cap bounds memory).
pub const MAX_SYSTEMS: u32 = 1 << 26;

/// A transition sink: called with each transition, on the thread that caused it, with no
/// engine lock held.
pub type Sink = Arc<dyn Fn(&Transition) + Send + Sync>;

/// An incident-event sink: called with each incident event, on the thread that caused it,
/// with no engine lock held, in emission order among the transitions.
pub type IncidentSink = Arc<dyn Fn(&IncidentEvent) + Send + Sync>;

pub(crate) const SHARD_BITS: u32 = 6;
pub(crate) const SHARDS: usize = 1 << SHARD_BITS;

/// One cache line of a slab (rows of system state start on line boundaries).
#[derive(Clone, Copy)]
#[repr(C, align(64))]
pub(crate) struct Line([u64; 8]);

/// The words of rows `[row * lines, (row + 1) * lines)` of a slab.
#[inline]
fn row_words(slab: &mut [Line], row: u32, lines: usize) -> &mut [u64] {
    let at = row as usize * lines;
    let rows = &mut slab[at..at + lines];
    // SAFETY: `Line` is `repr(C)` around `[u64; 8]` (size 64, no padding), so `lines`
    // consecutive `Line`s are `8 * lines` consecutive, initialised `u64`s; the returned slice
    // borrows `slab` mutably for its whole life.
    unsafe { std::slice::from_raw_parts_mut(rows.as_mut_ptr().cast::<u64>(), lines * 8) }
}

#[inline]
fn row_words_ref(slab: &[Line], row: u32, lines: usize) -> &[u64] {
    let at = row as usize * lines;
    let rows = &slab[at..at + lines];
    // SAFETY: as in `row_words`, for a shared borrow.
    unsafe { std::slice::from_raw_parts(rows.as_ptr().cast::<u64>(), lines * 8) }
}

/// A registered system's place in its shard.
#[derive(Debug, Clone)]
pub(crate) struct Slot {
    pub info: SystemInfo,
    pub row: u32,
    pub incidents: IncidentSlot,
    /// Private windows of rules a reload restarted.
    pub fresh: Vec<Fresh>,
}

#[derive(Default)]
pub(crate) struct ShardCounters {
    pub observed: u64,
    pub rejected_stale: u64,
    pub rejected_invalid: u64,
}

/// The systems whose handle ≡ this shard's index (mod [`SHARDS`]), under one policy.
pub(crate) struct Shard {
    pub policy: Policy,
    /// Engine signal id → this policy's signal index (`u32::MAX`: not in the policy).
    sig_map: Arc<[u32]>,
    silences: Arc<RwLock<Silences>>,
    /// Every system's state block, `layout.words` words per row.
    slab: Vec<Line>,
    /// By slot (`handle >> SHARD_BITS`): the system, or `None` once deregistered.
    pub systems: Vec<Option<Slot>>,
    free_rows: Vec<u32>,
    pub counters: ShardCounters,
}

impl Shard {
    fn new(policy: Policy, sig_map: Arc<[u32]>, silences: Arc<RwLock<Silences>>) -> Shard {
        Shard {
            policy,
            sig_map,
            silences,
            slab: Vec::new(),
            systems: Vec::new(),
            free_rows: Vec::new(),
            counters: ShardCounters::default(),
        }
    }

    #[inline]
    fn lines(&self) -> usize {
        self.policy.0.tables.layout.words as usize / 8
    }

    /// A system of this shard, ready to evaluate.
    #[inline]
    pub fn sys(&mut self, h: SystemHandle) -> Option<Sys<'_>> {
        let slot = self
            .systems
            .get_mut((h.0 >> SHARD_BITS) as usize)?
            .as_mut()?;
        let c: &Compiled = &self.policy.0;
        let lines = c.tables.layout.words as usize / 8;
        Some(Sys {
            policy: c,
            handle: h,
            id: &slot.info.id,
            arena: SystemArena::new(&c.tables.layout, row_words(&mut self.slab, slot.row, lines)),
            incidents: &mut slot.incidents,
            silences: &self.silences,
            fresh: &mut slot.fresh,
        })
    }

    /// A system's slot and state words, read-only.
    pub fn get(&self, h: SystemHandle) -> Option<(&Slot, &[u64])> {
        let slot = self.systems.get((h.0 >> SHARD_BITS) as usize)?.as_ref()?;
        Some((slot, row_words_ref(&self.slab, slot.row, self.lines())))
    }

    /// Adds a system with the given state words (one row) and private windows at the next
    /// slot.
    pub fn push(
        &mut self,
        info: SystemInfo,
        words: &[u64],
        incidents: IncidentSlot,
        fresh: Vec<Fresh>,
    ) {
        let lines = self.lines();
        debug_assert_eq!(words.len(), lines * 8);
        let row = match self.free_rows.pop() {
            Some(r) => r,
            None => {
                let r = (self.slab.len() / lines.max(1)) as u32;
                self.slab.resize(self.slab.len() + lines, Line([0; 8]));
                r
            }
        };
        row_words(&mut self.slab, row, lines).copy_from_slice(words);
        self.systems.push(Some(Slot {
            info,
            row,
            incidents,
            fresh,
        }));
    }

    /// Moves every system of this shard to `policy`: `moved(slot)` gives each live slot's new
    /// state words, incident slot and private windows (rows are rebuilt in slot order).
    pub fn replace(
        &mut self,
        policy: Policy,
        mut moved: impl FnMut(usize, &mut Slot, &[u64]) -> (Vec<u64>, Vec<Fresh>),
    ) {
        let old_lines = self.lines();
        let new_lines = policy.0.tables.layout.words as usize / 8;
        let live = self.systems.iter().filter(|s| s.is_some()).count();
        let mut slab: Vec<Line> = Vec::with_capacity(live * new_lines);
        let mut row = 0u32;
        for (i, s) in self.systems.iter_mut().enumerate() {
            let Some(slot) = s.as_mut() else { continue };
            let old = row_words_ref(&self.slab, slot.row, old_lines).to_vec();
            let (words, fresh) = moved(i, slot, &old);
            slab.resize(slab.len() + new_lines, Line([0; 8]));
            row_words(&mut slab, row, new_lines).copy_from_slice(&words);
            slot.row = row;
            slot.fresh = fresh;
            row += 1;
        }
        self.slab = slab;
        self.free_rows.clear();
        self.policy = policy;
    }

    /// Removes a system; its row is reused by a later registration.
    fn remove(&mut self, h: SystemHandle) -> Option<Slot> {
        let slot = self
            .systems
            .get_mut((h.0 >> SHARD_BITS) as usize)
            .and_then(Option::take)?;
        self.free_rows.push(slot.row);
        Some(slot)
    }

    /// Keeps a deregistered handle's slot empty (restoring a snapshot).
    pub fn push_empty(&mut self) {
        self.systems.push(None);
    }
}

#[repr(align(128))]
pub(crate) struct Padded<T>(pub T);

/// Signal ids that outlive a policy: a signal keeps its id across reloads (ids are given in
/// the first policy's order, then to new signals as reloads bring them).
pub(crate) struct SignalIds {
    names: Vec<Arc<str>>,
    ix: FastMap<Arc<str>, u32>,
}

impl SignalIds {
    fn new(policy: &Policy) -> SignalIds {
        let mut s = SignalIds {
            names: Vec::new(),
            ix: FastMap::default(),
        };
        s.extend(policy);
        s
    }

    /// Gives an id to each signal of `policy` that has none.
    fn extend(&mut self, policy: &Policy) {
        for sig in policy.signals() {
            if !self.ix.contains_key(&*sig.id) {
                self.ix.insert(sig.id.clone(), self.names.len() as u32);
                self.names.push(sig.id.clone());
            }
        }
    }

    /// Engine signal id → `policy`'s signal index (`u32::MAX`: not in the policy).
    fn map_for(&self, policy: &Policy) -> Arc<[u32]> {
        self.names
            .iter()
            .map(|n| policy.0.signal_ix.get(n).copied().unwrap_or(u32::MAX))
            .collect()
    }
}

pub(crate) struct Registry {
    pub ids: HashMap<Arc<str>, u32>,
    /// Handle → id, for every handle ever issued (strings stay valid after deregistration).
    pub names: Vec<Arc<str>>,
}

pub(crate) struct Queue<T> {
    pub items: VecDeque<T>,
    pub cap: usize,
}

/// The open journal and the records waiting for their turn to be written.
struct JournalSlot {
    journal: Option<Journal>,
    /// Position of the next record to write.
    next: u64,
    /// Records whose turn has not come (an earlier position is still being prepared by
    /// another thread).
    waiting: BTreeMap<u64, Map<String, Value>>,
}

/// The monitoring and early-warning engine (技术监测 · 风险预警 · 应急响应).
///
/// An engine holds one [`Policy`], a registry of systems and each system's state.
/// Observations and ticks advance the state; level changes come out as [`Transition`]s,
/// either into a bounded queue (drained with [`Engine::drain`]) or to a sink set with
/// [`Engine::set_sink`].
///
/// ```
/// use airisk::{Engine, Level, Policy, Profile};
///
/// let engine = Engine::new(Policy::default_policy());
/// let bus = engine.register(Profile::from_json(r#"{"id": "bus-1",
///     "sector": "autonomous_driving", "data": "personal", "autonomy": "autonomous",
///     "users": 20000}"#)?)?;
/// let incidents = engine.signal("safety_incidents").unwrap();
/// engine.observe(bus, incidents, 1.0, 1_764_374_400_000)?;
/// let mut out = Vec::new();
/// engine.drain(&mut out);
/// assert_eq!(out[0].rule_id.as_deref(), Some("safety-incidents"));
/// assert!(out[0].to > Level::None);
/// # Ok::<(), airisk::Error>(())
/// ```
///
/// # Concurrency
/// `Engine` is `Send + Sync` and every method takes `&self`. Systems live in 64 shards
/// (handle mod 64), each behind its own lock and holding its systems' states in one slab;
/// observing different systems on different threads contends only when they share a shard.
/// Registration takes the registry lock and, briefly, the new system's shard lock; it does
/// not block observations of other shards. The sink is called with no engine lock held and
/// may call back into the engine.
///
/// With a journal open, transitions are numbered and given their place in the journal under
/// the shard lock (a few instructions under one more small lock), and written after the
/// shard lock is released, in `seq` order: a slow disk (or `fsync` per record) delays only
/// the threads whose transitions wait to be written, never an observation of a system that
/// emits none.
///
/// # Time
/// The engine never reads a clock: every time is the caller's `ts_ms`, so the same input
/// always gives the same output.
///
/// # Snapshots
/// [`Engine::snapshot`] and [`Engine::restore`] save and rebuild the whole state;
/// [`Engine::snapshot_system`] and [`Engine::restore_system`] move one system between
/// engines. The bytes are versioned ([`crate::SNAPSHOT_VERSION`]) and checksummed and
/// carry the policy they were taken under: restored under another policy, the state is
/// migrated as by [`Engine::reload`].
pub struct Engine {
    policy: RwLock<Policy>,
    signal_ids: RwLock<SignalIds>,
    pub(crate) silences: Arc<RwLock<Silences>>,
    pub(crate) registry: RwLock<Registry>,
    pub(crate) count: AtomicU32,
    pub(crate) shards: Box<[Padded<Mutex<Shard>>]>,
    pub(crate) queue: Mutex<Queue<Transition>>,
    sink: RwLock<Option<Sink>>,
    has_sink: AtomicBool,
    pub(crate) seq: AtomicU64,
    /// Transitions numbered since the engine was made (not restored from a snapshot), by
    /// new level (`Level as usize`), for the metrics exposition.
    pub(crate) transitions_to: [AtomicU64; 5],
    pub(crate) dropped: AtomicU64,
    pub(crate) incident_queue: Mutex<Queue<IncidentEvent>>,
    incident_sink: RwLock<Option<IncidentSink>>,
    has_incident_sink: AtomicBool,
    pub(crate) incident_seq: AtomicU64,
    pub(crate) incidents_dropped: AtomicU64,
    pub(crate) rejected_unknown: AtomicU64,
    pub(crate) systems: AtomicU64,
    journal: Mutex<JournalSlot>,
    /// Journal positions handed out; taken together with `seq` when a journal is open.
    journal_pos: Mutex<u64>,
    has_journal: AtomicBool,
    journal_errors: AtomicU64,
    /// The report of the last reload (or of the migration of the last restore).
    pub(crate) last_reload: Mutex<Option<ReloadReport>>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("systems", &self.count.load(Ordering::Relaxed))
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// An engine for `policy` with default options.
    ///
    /// ```
    /// use airisk::{Engine, Policy};
    /// let engine = Engine::new(Policy::default_policy());
    /// assert_eq!(engine.stats().systems, 0);
    /// ```
    pub fn new(policy: Policy) -> Engine {
        Engine::with_options(policy, EngineOptions::default())
    }

    /// An engine for `policy`.
    ///
    /// ```
    /// use airisk::{Engine, EngineOptions, Policy, Profile};
    ///
    /// // A queue of one transition: the next one is dropped, and counted.
    /// let engine = Engine::with_options(Policy::default_policy(), EngineOptions { queue_capacity: 1 });
    /// let bot = engine.register(Profile::builder("bot", "finance", "personal", "autonomous", 10).build()?)?;
    /// engine.observe(bot, engine.lookup_signal("safety_incidents")?, 1.0, 0)?;
    /// assert_eq!(engine.queued(), 1);
    /// assert!(engine.stats().dropped >= 1);
    /// # Ok::<(), airisk::Error>(())
    /// ```
    pub fn with_options(policy: Policy, options: EngineOptions) -> Engine {
        let silences: Arc<RwLock<Silences>> = Arc::default();
        let signal_ids = SignalIds::new(&policy);
        let sig_map = signal_ids.map_for(&policy);
        Engine {
            shards: (0..SHARDS)
                .map(|_| {
                    Padded(Mutex::new(Shard::new(
                        policy.clone(),
                        sig_map.clone(),
                        silences.clone(),
                    )))
                })
                .collect(),
            signal_ids: RwLock::new(signal_ids),
            silences,
            policy: RwLock::new(policy),
            registry: RwLock::new(Registry {
                ids: HashMap::new(),
                names: Vec::new(),
            }),
            count: AtomicU32::new(0),
            queue: Mutex::new(Queue {
                items: VecDeque::new(),
                cap: options.queue_capacity,
            }),
            sink: RwLock::new(None),
            has_sink: AtomicBool::new(false),
            seq: AtomicU64::new(0),
            transitions_to: Default::default(),
            dropped: AtomicU64::new(0),
            incident_queue: Mutex::new(Queue {
                items: VecDeque::new(),
                cap: options.queue_capacity,
            }),
            incident_sink: RwLock::new(None),
            has_incident_sink: AtomicBool::new(false),
            incident_seq: AtomicU64::new(0),
            incidents_dropped: AtomicU64::new(0),
            rejected_unknown: AtomicU64::new(0),
            systems: AtomicU64::new(0),
            journal: Mutex::new(JournalSlot {
                journal: None,
                next: 0,
                waiting: BTreeMap::new(),
            }),
            journal_pos: Mutex::new(0),
            has_journal: AtomicBool::new(false),
            journal_errors: AtomicU64::new(0),
            last_reload: Mutex::new(None),
        }
    }

    /// The engine's policy.
    ///
    /// ```
    /// use airisk::{Engine, Policy};
    ///
    /// let engine = Engine::new(Policy::default_policy());
    /// assert_eq!(engine.policy().version(), Policy::default_policy().version());
    /// assert!(engine.policy().signals().iter().any(|s| &*s.id == "interactions"));
    /// ```
    pub fn policy(&self) -> Policy {
        self.policy.read().clone()
    }

    /// Classifies a profile under the engine's policy (registers nothing).
    ///
    /// ```
    /// use airisk::{Engine, FactorKind, Policy, Profile};
    ///
    /// let engine = Engine::new(Policy::default_policy());
    /// let bot = Profile::builder("bot", "healthcare_clinical", "sensitive_personal", "autonomous", 50_000)
    ///     .mitigation("human_review_process")
    ///     .build()?;
    /// let c = engine.classify(&bot)?;
    /// // The score is the sum of its factors, sector first; the grade is at least the score's.
    /// assert_eq!(c.score, c.factors.iter().map(|f| f.points).sum::<i64>());
    /// assert_eq!((c.factors[0].kind, &*c.factors[0].id), (FactorKind::Sector, "healthcare_clinical"));
    /// assert!(c.grade_rank >= c.score_grade_rank);
    /// // Classifying registers nothing.
    /// assert_eq!(engine.stats().systems, 0);
    /// # Ok::<(), airisk::Error>(())
    /// ```
    ///
    /// # Errors
    /// See [`classify`].
    pub fn classify(&self, profile: &Profile) -> Result<Classification> {
        classify(&self.policy.read(), profile)
    }

    /// The id of a signal of the policy, by name (hashes the name: keep the id, off the hot
    /// path). Ids follow the policy's order and stay valid across reloads. `None` when the
    /// policy defines no such signal; [`Engine::lookup_signal`] says so as an [`Error`].
    ///
    /// ```
    /// use airisk::{Engine, Policy};
    ///
    /// let engine = Engine::new(Policy::default_policy());
    /// let interactions = engine.signal("interactions").expect("the default policy has it");
    /// assert_eq!(engine.signal("interactions"), Some(interactions));
    /// assert_eq!(engine.signal("no_such_signal"), None);
    /// ```
    pub fn signal(&self, name: &str) -> Option<SignalId> {
        let p = self.policy.read();
        p.0.signal_ix.get(name)?;
        self.signal_ids.read().ix.get(name).map(|&i| SignalId(i))
    }

    /// [`Engine::signal`] as a [`Result`]: the id of a signal of the policy, by name, or an
    /// error that suggests the name probably meant (a typo, another case, a prefix: the
    /// rules of [`suggest`](crate::suggest)).
    ///
    /// ```
    /// use airisk::{Engine, Error, Policy};
    ///
    /// let engine = Engine::new(Policy::default_policy());
    /// assert_eq!(engine.lookup_signal("interactions")?, engine.signal("interactions").unwrap());
    /// let err = engine.lookup_signal("interactons").unwrap_err();
    /// assert!(matches!(err, Error::UnknownSignal(_)));
    /// assert_eq!(err.to_string(), r#"unknown signal "interactons"; did you mean "interactions"?"#);
    /// # Ok::<(), airisk::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::UnknownSignal`] with the name quoted and, when a signal's name is close,
    /// `; did you mean "…"?`.
    pub fn lookup_signal(&self, name: &str) -> Result<SignalId> {
        self.signal(name)
            .ok_or_else(|| self.unknown_signal_error(name))
    }

    #[cold]
    #[inline(never)]
    fn unknown_signal_error(&self, name: &str) -> Error {
        let p = self.policy.read();
        Error::UnknownSignal(quoted_with_suggestion(
            name,
            p.signals().iter().map(|s| &*s.id),
        ))
    }

    /// The handle of a registered system, by id. `None` when no registered system has
    /// this id (also after it was deregistered); [`Engine::lookup_system`] says so as an
    /// [`Error`].
    ///
    /// ```
    /// use airisk::{Engine, Policy, Profile};
    ///
    /// let engine = Engine::new(Policy::default_policy());
    /// let bus = engine.register(Profile::builder("bus-1", "autonomous_driving", "personal",
    ///                                            "autonomous", 20_000).build()?)?;
    /// assert_eq!(engine.system("bus-1"), Some(bus));
    /// engine.deregister(bus)?;
    /// assert_eq!(engine.system("bus-1"), None);
    /// # Ok::<(), airisk::Error>(())
    /// ```
    pub fn system(&self, id: &str) -> Option<SystemHandle> {
        self.registry.read().ids.get(id).map(|&h| SystemHandle(h))
    }

    /// [`Engine::system`] as a [`Result`]: the handle of a registered system, by id, or an
    /// error that suggests the id probably meant (by the rules of
    /// [`suggest`](crate::suggest), among the registered ids in the order they were
    /// registered; with more than 10 000 systems registered, no suggestion is looked for).
    ///
    /// ```
    /// use airisk::{Engine, Error, Policy, Profile};
    ///
    /// let engine = Engine::new(Policy::default_policy());
    /// let bus = engine.register(Profile::builder("bus-17", "autonomous_driving", "personal",
    ///                                            "autonomous", 20_000).build()?)?;
    /// assert_eq!(engine.lookup_system("bus-17")?, bus);
    /// let err = engine.lookup_system("Bus 17").unwrap_err();
    /// assert!(matches!(err, Error::UnknownSystemId(_)));
    /// assert_eq!(err.to_string(), r#"unknown system id "Bus 17"; did you mean "bus-17"?"#);
    /// # Ok::<(), airisk::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::UnknownSystemId`] with the id quoted and, when a registered id is close,
    /// `; did you mean "…"?`.
    pub fn lookup_system(&self, id: &str) -> Result<SystemHandle> {
        self.system(id).ok_or_else(|| self.unknown_system_error(id))
    }

    #[cold]
    #[inline(never)]
    fn unknown_system_error(&self, id: &str) -> Error {
        // The live ids in handle order, copied out so the scan holds no lock.
        let live: Vec<Arc<str>> = {
            let r = self.registry.read();
            if r.ids.len() > SUGGEST_MAX_SYSTEMS {
                Vec::new()
            } else {
                r.names
                    .iter()
                    .enumerate()
                    .filter(|(h, n)| r.ids.get(&***n) == Some(&(*h as u32)))
                    .map(|(_, n)| n.clone())
                    .collect()
            }
        };
        Error::UnknownSystemId(quoted_with_suggestion(id, live.iter().map(|n| &**n)))
    }

    /// The id of the system with this handle (also after it was deregistered).
    ///
    /// ```
    /// use airisk::{Engine, Policy, Profile};
    ///
    /// let engine = Engine::new(Policy::default_policy());
    /// let bot = engine.register(Profile::builder("bot", "finance", "personal", "autonomous", 10).build()?)?;
    /// assert_eq!(engine.system_id(bot).as_deref(), Some("bot"));
    /// engine.deregister(bot)?;
    /// assert_eq!(engine.system_id(bot).as_deref(), Some("bot"));
    /// # Ok::<(), airisk::Error>(())
    /// ```
    pub fn system_id(&self, h: SystemHandle) -> Option<Arc<str>> {
        self.registry.read().names.get(h.0 as usize).cloned()
    }

    #[inline]
    pub(crate) fn shard(&self, h: SystemHandle) -> &Mutex<Shard> {
        &self.shards[(h.0 as usize) & (SHARDS - 1)].0
    }

    /// Registers a system: classifies it, fixes its grade, returns its handle.
    ///
    /// ```
    /// use airisk::{Engine, Error, Level, Policy, Profile};
    ///
    /// let engine = Engine::new(Policy::default_policy());
    /// let profile = Profile::builder("triage-bot", "healthcare_clinical", "sensitive_personal",
    ///                                "human_on_the_loop", 50_000).build()?;
    /// let bot = engine.register(profile.clone())?;
    /// assert_eq!(engine.system("triage-bot"), Some(bot));
    /// assert_eq!(engine.system_level(bot)?, Level::None);
    /// // Its grade is fixed at registration: the classification of its profile.
    /// let (rank, _) = engine.system_profile(bot)?;
    /// assert_eq!(rank, engine.classify(&profile)?.grade_rank);
    /// // An id is registered once.
    /// assert!(matches!(engine.register(profile), Err(Error::Duplicate(id)) if id == "triage-bot"));
    /// assert_eq!(engine.stats().systems, 1);
    /// # Ok::<(), airisk::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Profile`] (see [`classify`]), [`Error::Duplicate`] if a registered system has
    /// the same id, [`Error::Limit`] past [`MAX_SYSTEMS`].
    pub fn register(&self, profile: Profile) -> Result<SystemHandle> {
        self.register_classified(profile).map(|(h, _)| h)
    }

    /// [`Engine::register`], also returning the classification it made.
    ///
    /// ```
    /// use airisk::{Engine, Policy, Profile};
    ///
    /// let engine = Engine::new(Policy::default_policy());
    /// let profile = Profile::builder("bot", "education", "personal", "autonomous", 10)
    ///     .vulnerable_group("minors")
    ///     .build()?;
    /// let expected = engine.classify(&profile)?;
    /// let (bot, classification) = engine.register_classified(profile)?;
    /// assert_eq!(classification, expected);
    /// assert_eq!(engine.system_profile(bot)?.0, classification.grade_rank);
    /// # Ok::<(), airisk::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`Engine::register`].
    pub fn register_classified(&self, profile: Profile) -> Result<(SystemHandle, Classification)> {
        // Classified and laid out under the engine's policy; again if a reload swaps it
        // before the system is in.
        loop {
            let policy = self.policy();
            let cls = classify(&policy, &profile)?;
            let record = self
                .has_journal
                .load(Ordering::Acquire)
                .then(|| profile_record("register", &profile, &cls));
            let mut words = policy.0.tables.layout.template.to_vec();
            SystemArena::new(&policy.0.tables.layout, &mut words).set_grade(cls.grade_rank);
            if let Some(p) = &cls.prohibited {
                return Err(Error::Prohibited {
                    id: p.id.to_string(),
                    basis: p.basis.as_deref().map(str::to_owned),
                });
            }
            let incidents = IncidentSlot::new(operator_type(&policy, &profile));
            let info = SystemInfo {
                id: Arc::from(profile.id.as_str()),
                profile: Box::new(profile.clone()),
            };
            let inserted = self.insert_then(
                &policy,
                info,
                &words,
                incidents,
                Vec::new(),
                record,
                |_, _, _| {},
            )?;
            if let Some(h) = inserted {
                return Ok((h, cls));
            }
        }
    }

    /// Registers a system with its state words and private windows, laid out for `policy`,
    /// under the next handle, then runs `then` under the same locks (so no other call sees
    /// the system before it ran); what `then` emits is numbered and delivered like any
    /// output (and journaled before `record`). `Ok(None)`, changing nothing, when the
    /// engine's policy is no longer `policy` (a reload came between: lay it out again).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn insert_then(
        &self,
        policy: &Policy,
        info: SystemInfo,
        words: &[u64],
        mut incidents: IncidentSlot,
        fresh: Vec<Fresh>,
        record: Option<Map<String, Value>>,
        then: impl FnOnce(&mut Shard, SystemHandle, &mut Pending),
    ) -> Result<Option<SystemHandle>> {
        let id = info.id.clone();
        // A reload swaps the policy with the registry lock held.
        let mut reg = self.registry.write();
        if !Arc::ptr_eq(&self.policy.read().0, &policy.0) {
            return Ok(None);
        }
        if reg.ids.contains_key(&*id) {
            return Err(Error::Duplicate(id.to_string()));
        }
        let h = reg.names.len() as u32;
        if h >= MAX_SYSTEMS {
            return Err(Error::Limit(format!(
                "at most {MAX_SYSTEMS} systems per engine"
            )));
        }
        if let Some(st) = incidents.state.as_mut() {
            for i in &mut st.live {
                i.system = SystemHandle(h);
            }
        }
        let mut pending = Pending::new();
        let journal_at;
        {
            let mut shard = self.shard(SystemHandle(h)).lock();
            shard.push(info, words, incidents, fresh);
            reg.ids.insert(id.clone(), h);
            reg.names.push(id);
            self.count.store(h + 1, Ordering::Release);
            self.systems.fetch_add(1, Ordering::Relaxed);
            then(&mut shard, SystemHandle(h), &mut pending);
            journal_at = if pending.is_empty() {
                None
            } else {
                self.sequence(&mut pending)
            };
        }
        if let Some(mut rec) = record {
            rec.insert("handle".into(), h.into());
            self.journal_record(rec);
        }
        drop(reg);
        if !pending.is_empty() || journal_at.is_some() {
            self.deliver(pending, journal_at);
        }
        Ok(Some(SystemHandle(h)))
    }

    /// Stops evaluating a system and frees its state. Its handle is never reused and its id
    /// string stays valid; the id may be registered again (under a new handle).
    ///
    /// ```
    /// use airisk::{Engine, Error, Policy, Profile};
    ///
    /// let engine = Engine::new(Policy::default_policy());
    /// let bot = engine.register(Profile::builder("bot", "finance", "personal", "autonomous", 10).build()?)?;
    /// engine.deregister(bot)?;
    /// assert_eq!(engine.system("bot"), None);
    /// assert!(matches!(engine.system_level(bot), Err(Error::UnknownSystem(_))));
    /// assert!(matches!(engine.deregister(bot), Err(Error::UnknownSystem(_))));
    /// // The id is free again, under a new handle.
    /// let again = engine.register(Profile::builder("bot", "finance", "personal", "autonomous", 10).build()?)?;
    /// assert_ne!(again, bot);
    /// # Ok::<(), airisk::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::UnknownSystem`] if the handle is not registered.
    pub fn deregister(&self, h: SystemHandle) -> Result<()> {
        let mut reg = self.registry.write();
        let Some(slot) = self.shard(h).lock().remove(h) else {
            return Err(Error::UnknownSystem(h.0));
        };
        reg.ids.remove(&*slot.info.id);
        self.systems.fetch_sub(1, Ordering::Relaxed);
        if self.has_journal.load(Ordering::Acquire) {
            let mut rec = Map::new();
            rec.insert("kind".into(), "deregister".into());
            rec.insert("system".into(), (*slot.info.id).into());
            rec.insert("handle".into(), h.0.into());
            self.journal_record(rec);
        }
        Ok(())
    }

    /// Re-classifies a registered system with a new profile (same id). Rule states are kept
    /// and are evaluated under the new grade's thresholds from the next evaluation on.
    ///
    /// ```
    /// use airisk::{Engine, Error, Policy, Profile};
    ///
    /// let engine = Engine::new(Policy::default_policy());
    /// let small = Profile::builder("bot", "finance", "personal", "autonomous", 10).build()?;
    /// let bot = engine.register(small.clone())?;
    /// // The same application, now with millions of users: graded again, same handle.
    /// let big = Profile::builder("bot", "finance", "personal", "autonomous", 5_000_000).build()?;
    /// let c = engine.update_profile(bot, big.clone())?;
    /// assert!(c.score > engine.classify(&small)?.score);
    /// assert_eq!(engine.system_profile(bot)?, (c.grade_rank, big));
    /// // The id is the system's own.
    /// let other = Profile::builder("other", "finance", "personal", "autonomous", 10).build()?;
    /// assert!(matches!(engine.update_profile(bot, other), Err(Error::Profile(_))));
    /// # Ok::<(), airisk::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::UnknownSystem`], [`Error::Profile`] (also when the id differs).
    pub fn update_profile(&self, h: SystemHandle, profile: Profile) -> Result<Classification> {
        let (policy, cls, mut shard) = loop {
            let policy = self.policy();
            let cls = classify(&policy, &profile)?;
            let shard = self.shard(h).lock();
            // Classified under the shard's policy (else a reload came between: again).
            if Arc::ptr_eq(&shard.policy.0, &policy.0) {
                break (policy, cls, shard);
            }
        };
        let Some(mut sys) = shard.sys(h) else {
            return Err(Error::UnknownSystem(h.0));
        };
        if **sys.id != *profile.id {
            return Err(Error::profile(
                "id",
                format!(
                    "the profile's id {:?} is not the system's id {:?}",
                    profile.id, &**sys.id
                ),
            ));
        }
        if let Some(p) = &cls.prohibited {
            return Err(Error::Prohibited {
                id: p.id.to_string(),
                basis: p.basis.as_deref().map(str::to_owned),
            });
        }
        sys.arena.set_grade(cls.grade_rank);
        sys.incidents.operator_type = operator_type(&policy, &profile);
        let record = self.has_journal.load(Ordering::Acquire).then(|| {
            let mut rec = profile_record("update_profile", &profile, &cls);
            rec.insert("handle".into(), h.0.into());
            rec
        });
        if let Some(Some(slot)) = shard.systems.get_mut((h.0 >> SHARD_BITS) as usize) {
            *slot.info.profile = profile;
        }
        drop(shard);
        if let Some(rec) = record {
            self.journal_record(rec);
        }
        Ok(cls)
    }

    /// The grade rank and profile of a registered system.
    ///
    /// ```
    /// use airisk::{Engine, Policy, Profile};
    ///
    /// let engine = Engine::new(Policy::default_policy());
    /// let profile = Profile::builder("bot", "finance", "personal", "autonomous", 10).build()?;
    /// let bot = engine.register(profile.clone())?;
    /// let (rank, kept) = engine.system_profile(bot)?;
    /// assert_eq!(kept, profile);
    /// assert_eq!(&*engine.policy().grades()[rank as usize].id, &*engine.classify(&profile)?.grade);
    /// # Ok::<(), airisk::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::UnknownSystem`].
    pub fn system_profile(&self, h: SystemHandle) -> Result<(u32, Profile)> {
        let mut shard = self.shard(h).lock();
        let grade = shard.sys(h).ok_or(Error::UnknownSystem(h.0))?.arena.grade();
        let (slot, _) = shard.get(h).ok_or(Error::UnknownSystem(h.0))?;
        Ok((grade, (*slot.info.profile).clone()))
    }

    /// Records one observation and evaluates the rules that use the signal.
    ///
    /// Applies `(signal, value)` at `ts_ms` to the system's window, raises its watermark to
    /// `ts_ms` if later, then evaluates every rule whose `signal` or `per` is this signal, in
    /// declaration order, at the watermark. Returns the system's level afterwards. Performs
    /// no heap allocation unless a transition is emitted.
    ///
    /// ```
    /// use airisk::{Engine, Level, Policy, Profile};
    /// let engine = Engine::new(Policy::default_policy());
    /// let h = engine.register(Profile::from_json(r#"{"id": "bot", "sector": "healthcare_clinical",
    ///     "data": "sensitive_personal", "autonomy": "autonomous", "users": 10}"#)?)?;
    /// let incidents = engine.signal("safety_incidents").unwrap();
    /// assert!(engine.observe(h, incidents, 1.0, 1_764_374_400_000)? > Level::None);
    /// # Ok::<(), airisk::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::UnknownSystem`], [`Error::UnknownSignal`], [`Error::Value`] (non-finite, or a
    /// negative counter, or `ts_ms == i64::MIN`), [`Error::Stale`] (the bucket is at or
    /// before `idx(w) − B`). A rejected observation changes nothing but a counter.
    pub fn observe(
        &self,
        h: SystemHandle,
        signal: SignalId,
        value: f64,
        ts_ms: i64,
    ) -> Result<Level> {
        let mut pending = Pending::new();
        let level;
        let journal_at;
        {
            let mut guard = self.shard(h).lock();
            let shard = &mut *guard;
            let s = shard.sig_map.get(signal.0 as usize).copied();
            let Some(mut sys) = shard.sys(h) else {
                drop(guard);
                self.rejected_unknown.fetch_add(1, Ordering::Relaxed);
                return Err(Error::UnknownSystem(h.0));
            };
            let Some(s) = s.filter(|&s| s != u32::MAX) else {
                drop(guard);
                self.rejected_unknown.fetch_add(1, Ordering::Relaxed);
                return Err(Error::UnknownSignal(signal.0.to_string()));
            };
            match sys.observe(s as usize, value, ts_ms, &mut pending) {
                Ok(()) => {}
                Err(Rejected::Stale(e)) => {
                    shard.counters.rejected_stale += 1;
                    return Err(e);
                }
                Err(Rejected::Invalid(e)) => {
                    shard.counters.rejected_invalid += 1;
                    return Err(e);
                }
            }
            level = sys.arena.level();
            shard.counters.observed += 1;
            journal_at = if pending.is_empty() {
                None
            } else {
                self.sequence(&mut pending)
            };
        }
        if !pending.is_empty() || journal_at.is_some() {
            self.deliver(pending, journal_at);
        }
        Ok(level)
    }

    /// Records several observations of one system at one time (a period's signals that
    /// arrive together), then evaluates each rule that reads any of them once, in
    /// declaration order: a rate never dips between two lines of one period. The order of
    /// the values never changes the result. Each value is checked against the watermark
    /// before the call; any invalid, repeated or stale entry rejects the whole batch and
    /// applies nothing. An empty batch is a no-op. Returns the system's level afterwards.
    ///
    /// ```
    /// use airisk::{Engine, Policy, Profile};
    /// let engine = Engine::new(Policy::default_policy());
    /// let bot = engine.register(Profile::from_json(r#"{"id": "bot", "sector": "healthcare_clinical",
    ///     "data": "sensitive_personal", "autonomy": "human_on_the_loop", "users": 1000}"#)?)?;
    /// let (n, k) = (engine.signal("interactions").unwrap(), engine.signal("hallucination_flagged").unwrap());
    /// engine.observe_many(bot, &[(n, 120.0), (k, 7.0)], 1_764_374_400_000)?;
    /// assert_eq!(engine.stats().observed, 2);
    /// # Ok::<(), airisk::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`Engine::observe`] ([`Error::Stale`] only when staleness is the only problem;
    /// [`Error::Value`] also for a signal given twice).
    pub fn observe_many(
        &self,
        h: SystemHandle,
        values: &[(SignalId, f64)],
        ts_ms: i64,
    ) -> Result<Level> {
        let mut pending = Pending::new();
        let level;
        let journal_at;
        {
            let mut guard = self.shard(h).lock();
            let shard = &mut *guard;
            // The policy's signal indexes, and the first unknown id (reported after an
            // unknown system, which comes first).
            // (On the stack for up to 8 values.)
            let mut stack = [(0usize, 0f64); 8];
            let mut heap = Vec::new();
            let idx: &mut [(usize, f64)] = if values.len() <= stack.len() {
                &mut stack[..values.len()]
            } else {
                heap.resize(values.len(), (0, 0.0));
                &mut heap
            };
            let mut unknown = None;
            for (slot, &(s, v)) in idx.iter_mut().zip(values) {
                match shard.sig_map.get(s.0 as usize).copied() {
                    Some(i) if i != u32::MAX => *slot = (i as usize, v),
                    _ => {
                        unknown = Some(s);
                        break;
                    }
                }
            }
            let Some(mut sys) = shard.sys(h) else {
                drop(guard);
                self.rejected_unknown
                    .fetch_add(values.len().max(1) as u64, Ordering::Relaxed);
                return Err(Error::UnknownSystem(h.0));
            };
            if let Some(s) = unknown {
                drop(guard);
                self.rejected_unknown
                    .fetch_add(values.len() as u64, Ordering::Relaxed);
                return Err(Error::UnknownSignal(s.0.to_string()));
            }
            match sys.observe_many(idx, ts_ms, &mut pending) {
                Ok(()) => {}
                Err(Rejected::Stale(e)) => {
                    shard.counters.rejected_stale += values.len() as u64;
                    return Err(e);
                }
                Err(Rejected::Invalid(e)) => {
                    shard.counters.rejected_invalid += values.len() as u64;
                    return Err(e);
                }
            }
            level = sys.arena.level();
            shard.counters.observed += values.len() as u64;
            journal_at = if pending.is_empty() {
                None
            } else {
                self.sequence(&mut pending)
            };
        }
        if !pending.is_empty() || journal_at.is_some() {
            self.deliver(pending, journal_at);
        }
        Ok(level)
    }

    /// Raises every registered system's watermark to `now_ms` (never lowers it), then
    /// evaluates every rule of every system at its own watermark, systems in registration
    /// order.
    ///
    /// ```
    /// use airisk::{Engine, Level, Policy, Profile};
    ///
    /// let engine = Engine::new(Policy::default_policy());
    /// let bus = engine.register(Profile::builder("bus", "autonomous_driving", "personal",
    ///                                            "autonomous", 20_000).build()?)?;
    /// let t0 = 1_764_374_400_000;
    /// engine.observe(bus, engine.lookup_signal("heartbeat")?, 1.0, t0)?;
    /// assert_eq!(engine.system_level(bus)?, Level::None);
    /// // An hour without a heartbeat: only the clock can say so.
    /// engine.tick(t0 + 3_600_000);
    /// assert_eq!(engine.watermark(bus)?, Some(t0 + 3_600_000));
    /// assert!(engine.system_level(bus)? > Level::None);
    /// let mut out = Vec::new();
    /// engine.drain(&mut out);
    /// assert!(out.iter().any(|t| t.rule_id.as_deref() == Some("heartbeat-silence")));
    /// # Ok::<(), airisk::Error>(())
    /// ```
    pub fn tick(&self, now_ms: i64) {
        let n = self.count.load(Ordering::Acquire);
        for h in 0..n {
            let h = SystemHandle(h);
            let mut pending = Pending::new();
            let journal_at;
            {
                let mut shard = self.shard(h).lock();
                let Some(mut sys) = shard.sys(h) else {
                    continue;
                };
                sys.tick(now_ms, &mut pending);
                journal_at = if pending.is_empty() {
                    None
                } else {
                    self.sequence(&mut pending)
                };
            }
            if !pending.is_empty() || journal_at.is_some() {
                self.deliver(pending, journal_at);
            }
        }
    }

    /// Numbers the outputs (called with the shard lock held, so a system's outputs are
    /// numbered in the order they happened): transitions with `seq`, incident events with
    /// their own sequence. What has no sink is queued here too, under the queue lock taken
    /// before numbering, so each queue is in sequence order. With a journal open, returns
    /// the journal position of the first output and copies to write there.
    fn sequence(&self, p: &mut Pending) -> Option<(u64, Pending)> {
        let mut queue = (!self.has_sink.load(Ordering::Acquire)).then(|| self.queue.lock());
        let mut iqueue =
            (!self.has_incident_sink.load(Ordering::Acquire)).then(|| self.incident_queue.lock());
        let number = |p: &mut Pending| {
            for o in p.iter_mut() {
                match o {
                    Output::Transition(t) => {
                        t.seq = self.seq.fetch_add(1, Ordering::AcqRel) + 1;
                        self.transitions_to[t.to as usize].fetch_add(1, Ordering::Relaxed);
                    }
                    Output::Incident(e) => {
                        e.seq = self.incident_seq.fetch_add(1, Ordering::AcqRel) + 1
                    }
                }
            }
        };
        let journaled = if self.has_journal.load(Ordering::Acquire) {
            let mut pos = self.journal_pos.lock();
            let first = *pos;
            *pos += p.len() as u64;
            number(p);
            Some((first, p.clone()))
        } else {
            number(p);
            None
        };
        if queue.is_some() || iqueue.is_some() {
            p.retain(|o| match o {
                Output::Transition(t) => match queue.as_mut() {
                    Some(q) => {
                        push_bounded(q, t.clone(), &self.dropped);
                        false
                    }
                    None => true,
                },
                Output::Incident(e) => match iqueue.as_mut() {
                    Some(q) => {
                        push_bounded(q, e.clone(), &self.incidents_dropped);
                        false
                    }
                    None => true,
                },
            });
        }
        journaled
    }

    /// After the shard lock is released: writes the journal records of `journal_at`, then
    /// hands what was sequenced for the sinks to them, in emission order.
    fn deliver(&self, p: Pending, journal_at: Option<(u64, Pending)>) {
        if let Some((first, outs)) = journal_at {
            let recs: Vec<Map<String, Value>> = outs.iter().map(output_record).collect();
            self.journal_write(first, recs);
        }
        if p.is_empty() {
            return;
        }
        let sink = self.sink.read().clone();
        let isink = self.incident_sink.read().clone();
        for o in p {
            match o {
                Output::Transition(t) => match &sink {
                    Some(f) => f(&t),
                    // The sink was removed between sequencing and delivery: queue it.
                    None => push_bounded(&mut self.queue.lock(), t, &self.dropped),
                },
                Output::Incident(e) => match &isink {
                    Some(f) => f(&e),
                    None => {
                        push_bounded(&mut self.incident_queue.lock(), e, &self.incidents_dropped)
                    }
                },
            }
        }
    }

    /// Journals one record that is not a transition, in its place among the transitions.
    fn journal_record(&self, rec: Map<String, Value>) {
        if !self.has_journal.load(Ordering::Acquire) {
            return;
        }
        let first = {
            let mut pos = self.journal_pos.lock();
            *pos += 1;
            *pos - 1
        };
        self.journal_write(first, std::iter::once(rec));
    }

    /// Writes records at positions `first, first + 1, ...`, after every earlier position:
    /// records whose turn has not come wait until the thread holding the earlier positions
    /// writes them.
    fn journal_write(&self, first: u64, recs: impl IntoIterator<Item = Map<String, Value>>) {
        let mut slot = self.journal.lock();
        let s = &mut *slot;
        for (i, r) in recs.into_iter().enumerate() {
            s.waiting.insert(first + i as u64, r);
        }
        while let Some(r) = s.waiting.remove(&s.next) {
            s.next += 1;
            if let Some(j) = s.journal.as_mut() {
                if j.append(&r).is_err() {
                    self.journal_errors.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }

    /// Opens (or creates) an audit journal at `path` and records every later registration,
    /// deregistration, profile update, transition, incident event, silence set or removed,
    /// and reload in it (see [`crate::journal`]). An
    /// existing file is verified first and continued in a new session; a torn last line is
    /// truncated (reported). Replaces any journal already open. A record that cannot be
    /// written is counted in [`Stats::journal_errors`]; the engine goes on.
    /// [`Engine::create_journal`] refuses an existing file instead.
    ///
    /// ```
    /// use airisk::{Durability, Engine, Policy, Profile};
    ///
    /// let path = std::env::temp_dir().join(format!("airisk-doc-open-{}.jsonl", std::process::id()));
    /// # let _ = std::fs::remove_file(&path);
    /// let engine = Engine::new(Policy::default_policy());
    /// let report = engine.open_journal(&path, Durability::Never)?;
    /// assert_eq!((report.records, report.session), (0, 1));
    /// engine.register(Profile::builder("bot", "finance", "personal", "autonomous", 10).build()?)?;
    /// engine.close_journal();
    /// // A session marker, then the registration.
    /// assert_eq!(airisk::journal::verify(&path).unwrap(), 2);
    /// // Opened again, the journal goes on in a second session.
    /// let again = engine.open_journal(&path, Durability::Never)?;
    /// assert_eq!((again.records, again.session), (2, 2));
    /// engine.close_journal();
    /// # std::fs::remove_file(&path).unwrap();
    /// # Ok::<(), airisk::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Io`], or [`Error::State`] when the existing file does not verify.
    pub fn open_journal(
        &self,
        path: &std::path::Path,
        durability: Durability,
    ) -> Result<OpenReport> {
        let (j, report) = Journal::open(path, durability)?;
        self.use_journal(j);
        Ok(report)
    }

    /// [`Engine::open_journal`] for a new journal only: creates the file at `path`, and
    /// refuses (changing nothing, the engine keeping any journal already open) when a file
    /// exists there, even an empty one. For a caller that must never continue, or mix
    /// its records into, a journal left by another run. Whether the file exists is decided
    /// atomically when it is created ([`Journal::create`]).
    ///
    /// ```
    /// use airisk::{Durability, Engine, Error, Policy};
    ///
    /// let path = std::env::temp_dir().join(format!("airisk-doc-create-new-{}.jsonl", std::process::id()));
    /// # let _ = std::fs::remove_file(&path);
    /// let engine = Engine::new(Policy::default_policy());
    /// let report = engine.create_journal(&path, Durability::EveryRecord)?;
    /// assert_eq!((report.records, report.session), (0, 1));
    /// engine.close_journal();
    /// let err = engine.create_journal(&path, Durability::EveryRecord).unwrap_err();
    /// assert!(matches!(err, Error::Io(ref m) if m.contains("already exists")
    ///                                         && m.contains(&*path.to_string_lossy())));
    /// # std::fs::remove_file(&path).unwrap();
    /// # Ok::<(), airisk::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Io`] naming the path when a file exists there, or when the file cannot be
    /// created or written.
    pub fn create_journal(
        &self,
        path: &std::path::Path,
        durability: Durability,
    ) -> Result<OpenReport> {
        let (j, report) = Journal::create(path, durability)?;
        self.use_journal(j);
        Ok(report)
    }

    /// Makes `j` the engine's journal, writing what the previous one still has pending.
    fn use_journal(&self, j: Journal) {
        let pos = self.journal_pos.lock();
        let mut slot = self.journal.lock();
        Self::flush_waiting(&mut slot, &self.journal_errors);
        slot.journal = Some(j);
        slot.next = *pos;
        self.has_journal.store(true, Ordering::Release);
    }

    /// Writes what is still waiting (positions whose writer is gone are skipped and counted
    /// as errors), so the journal can be swapped or closed.
    fn flush_waiting(slot: &mut JournalSlot, errors: &AtomicU64) {
        let waiting = std::mem::take(&mut slot.waiting);
        for (at, r) in waiting {
            if at > slot.next {
                errors.fetch_add(at - slot.next, Ordering::Relaxed);
            }
            slot.next = at + 1;
            if let Some(j) = slot.journal.as_mut() {
                if j.append(&r).is_err() {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }

    /// Closes the journal (syncing it unless its durability is `Never`).
    ///
    /// ```
    /// use airisk::{Durability, Engine, Policy, Profile};
    ///
    /// let path = std::env::temp_dir().join(format!("airisk-doc-close-{}.jsonl", std::process::id()));
    /// # let _ = std::fs::remove_file(&path);
    /// let engine = Engine::new(Policy::default_policy());
    /// engine.create_journal(&path, Durability::Never)?;
    /// engine.register(Profile::builder("a", "finance", "personal", "autonomous", 10).build()?)?;
    /// engine.close_journal();
    /// // Not journaled: the journal is closed.
    /// engine.register(Profile::builder("b", "finance", "personal", "autonomous", 10).build()?)?;
    /// assert_eq!(airisk::journal::verify(&path).unwrap(), 2); // the session marker and "a"
    /// # std::fs::remove_file(&path).unwrap();
    /// # Ok::<(), airisk::Error>(())
    /// ```
    pub fn close_journal(&self) {
        let _pos = self.journal_pos.lock();
        let mut slot = self.journal.lock();
        self.has_journal.store(false, Ordering::Release);
        Self::flush_waiting(&mut slot, &self.journal_errors);
        slot.journal = None;
    }

    /// Forces the journal's records to stable storage, if a journal is open.
    ///
    /// ```
    /// use airisk::{Durability, Engine, Policy, Profile};
    ///
    /// let path = std::env::temp_dir().join(format!("airisk-doc-sync-{}.jsonl", std::process::id()));
    /// # let _ = std::fs::remove_file(&path);
    /// let engine = Engine::new(Policy::default_policy());
    /// engine.sync_journal()?; // no journal: nothing to do
    /// engine.create_journal(&path, Durability::EveryN(1000))?;
    /// engine.register(Profile::builder("a", "finance", "personal", "autonomous", 10).build()?)?;
    /// engine.sync_journal()?; // on disk now, before the 1000th record
    /// assert_eq!(airisk::journal::verify(&path).unwrap(), 2);
    /// # engine.close_journal();
    /// # std::fs::remove_file(&path).unwrap();
    /// # Ok::<(), airisk::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Io`].
    pub fn sync_journal(&self) -> Result<()> {
        match self.journal.lock().journal.as_mut() {
            Some(j) => j.sync(),
            None => Ok(()),
        }
    }

    /// Sets (or with `None`, removes) the transition sink. With a sink, transitions go to it
    /// instead of the queue; transitions already queued stay there.
    ///
    /// The sink runs on the thread whose call caused the transition, with no engine lock
    /// held (it may call the engine). Transitions caused on one thread reach it in order;
    /// transitions caused on different threads (two threads observing one system, or a
    /// reload while another thread observes) may reach it in either order: their `seq`
    /// gives the order in which the engine decided them. The queue ([`Engine::drain`]) is
    /// always in `seq` order.
    ///
    /// ```
    /// use airisk::{Engine, Policy, Profile, Transition};
    /// use std::sync::{Arc, Mutex};
    ///
    /// let engine = Engine::new(Policy::default_policy());
    /// let seen: Arc<Mutex<Vec<Transition>>> = Arc::default();
    /// let to = seen.clone();
    /// engine.set_sink(Some(Arc::new(move |t: &Transition| to.lock().unwrap().push(t.clone()))));
    /// let bot = engine.register(Profile::builder("bot", "finance", "personal", "autonomous", 10).build()?)?;
    /// engine.observe(bot, engine.lookup_signal("safety_incidents")?, 1.0, 0)?;
    /// // Delivered to the sink, in seq order, and not queued.
    /// let seqs: Vec<u64> = seen.lock().unwrap().iter().map(|t| t.seq).collect();
    /// assert_eq!(seqs, [1, 2]); // the rule's transition, then the system's
    /// assert_eq!(engine.queued(), 0);
    /// engine.set_sink(None); // back to the queue
    /// # Ok::<(), airisk::Error>(())
    /// ```
    pub fn set_sink(&self, sink: Option<Sink>) {
        let mut s = self.sink.write();
        self.has_sink.store(sink.is_some(), Ordering::Release);
        *s = sink;
    }

    /// Moves every queued transition into `out` (appending), oldest first; returns how many.
    ///
    /// ```
    /// # use airisk::{Engine, Policy, Profile};
    /// # let engine = Engine::new(Policy::default_policy());
    /// # let bot = engine.register(Profile::builder("bot", "healthcare_clinical", "sensitive_personal",
    /// #                                            "autonomous", 10).build()?)?;
    /// # let t0 = 1_764_374_400_000;
    /// // A safety incident at t0 raises the bot's safety rule and the bot itself, and opens an
    /// // incident (the default policy opens one at orange).
    /// engine.observe(bot, engine.lookup_signal("safety_incidents")?, 1.0, t0)?;
    /// let mut out = Vec::new();
    /// assert_eq!(engine.drain(&mut out), 2);
    /// assert_eq!((out[0].scope, out[0].rule_id.as_deref()), (Scope::Rule, Some("safety-incidents")));
    /// assert_eq!((out[1].scope, out[1].to), (Scope::System, engine.system_level(bot)?));
    /// assert_eq!(engine.drain(&mut out), 0); // the queue is empty now
    /// # use airisk::Scope;
    /// # Ok::<(), airisk::Error>(())
    /// ```
    pub fn drain(&self, out: &mut Vec<Transition>) -> usize {
        let mut q = self.queue.lock();
        let n = q.items.len();
        out.extend(q.items.drain(..));
        n
    }

    /// Moves up to `max` queued transitions into `out`, oldest first; returns how many.
    ///
    /// ```
    /// # use airisk::{Engine, Policy, Profile};
    /// # let engine = Engine::new(Policy::default_policy());
    /// # let bot = engine.register(Profile::builder("bot", "healthcare_clinical", "sensitive_personal",
    /// #                                            "autonomous", 10).build()?)?;
    /// # let t0 = 1_764_374_400_000;
    /// // A safety incident at t0 raises the bot's safety rule and the bot itself, and opens an
    /// // incident (the default policy opens one at orange).
    /// engine.observe(bot, engine.lookup_signal("safety_incidents")?, 1.0, t0)?;
    /// let mut out = Vec::new();
    /// assert_eq!(engine.drain_up_to(&mut out, 1), 1);
    /// assert_eq!(engine.queued(), 1);
    /// assert_eq!(engine.drain_up_to(&mut out, 10), 1);
    /// assert_eq!(out.iter().map(|t| t.seq).collect::<Vec<_>>(), [1, 2]);
    /// # Ok::<(), airisk::Error>(())
    /// ```
    pub fn drain_up_to(&self, out: &mut Vec<Transition>, max: usize) -> usize {
        let mut q = self.queue.lock();
        let n = q.items.len().min(max);
        out.extend(q.items.drain(..n));
        n
    }

    /// Transitions waiting in the queue.
    pub fn queued(&self) -> usize {
        self.queue.lock().items.len()
    }

    /// Replaces the engine's policy in place, keeping the state of every rule whose meaning
    /// does not change (see [`ReloadReport`] for what is kept, reset, added and removed).
    ///
    /// Atomic: every system is classified again first, and a profile the new policy rejects
    /// or prohibits, or an open incident the new policy cannot carry (its category or
    /// severity gone, or no `incidents` section), fails the reload and changes nothing. A
    /// rule reset or removed while above none emits a transition to none with `"reason":
    /// "policy_reload"` (then the system line, and the incident events they cause).
    /// Silences naming a rule or category the new policy lacks are removed (listed in the
    /// report). Signal ids stay valid: a signal keeps its id across reloads; a signal the
    /// new policy drops is unknown until a policy brings it back.
    ///
    /// Concurrency: the reload holds every shard for its duration, so each observation on
    /// another thread is evaluated wholly under the old policy or wholly under the new one,
    /// and none is lost (it waits).
    ///
    /// ```
    /// use airisk::{Engine, Policy, Profile};
    /// let engine = Engine::new(Policy::default_policy());
    /// engine.register(Profile::from_json(r#"{"id": "bot", "sector": "healthcare_clinical",
    ///     "data": "sensitive_personal", "autonomy": "human_on_the_loop", "users": 1000}"#)?)?;
    /// let report = engine.reload(Policy::default_policy())?;
    /// assert!(report.is_empty() && report.reset.is_empty());
    /// # Ok::<(), airisk::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Reload`] saying which systems or incidents stand in the way.
    pub fn reload(&self, policy: Policy) -> Result<ReloadReport> {
        let (report, pending) = self.reload_locked(policy)?;
        if self.has_journal.load(Ordering::Acquire) {
            let mut m = Map::new();
            m.insert("kind".into(), "reload".into());
            m.insert(
                "report".into(),
                serde_json::to_value(&report).unwrap_or_default(),
            );
            self.journal_record(m);
        }
        *self.last_reload.lock() = Some(report.clone());
        if let Some((p, journal_at)) = pending {
            self.deliver(p, journal_at);
        }
        Ok(report)
    }

    /// The report of the last successful [`Engine::reload`] — or of the migration of a
    /// snapshot restored under another policy ([`Engine::restore`],
    /// [`Engine::restore_system`]) when that came later; `None` before any.
    ///
    /// ```
    /// use airisk::{Engine, Policy};
    ///
    /// let engine = Engine::new(Policy::default_policy());
    /// assert!(engine.last_reload_report().is_none());
    /// let report = engine.reload(Policy::default_policy())?;
    /// assert_eq!(engine.last_reload_report(), Some(report));
    /// # Ok::<(), airisk::Error>(())
    /// ```
    pub fn last_reload_report(&self) -> Option<ReloadReport> {
        self.last_reload.lock().clone()
    }

    #[allow(clippy::type_complexity)]
    fn reload_locked(
        &self,
        policy: Policy,
    ) -> Result<(ReloadReport, Option<(Pending, Option<(u64, Pending)>)>)> {
        let reg = self.registry.write();
        let mut guards: Vec<_> = self.shards.iter().map(|s| s.0.lock()).collect();
        let old = self.policy();
        // Every live system, in registration order: (handle, id, profile, old grade).
        let mut live: Vec<(u32, Arc<str>, Profile, u32)> = Vec::new();
        for h in 0..reg.names.len() as u32 {
            let shard = &guards[(h as usize) & (SHARDS - 1)];
            if let Some((slot, words)) = shard.get(SystemHandle(h)) {
                live.push((
                    h,
                    slot.info.id.clone(),
                    (*slot.info.profile).clone(),
                    crate::layout::Layout::grade_of(words),
                ));
            }
        }
        let systems: Vec<SystemIn<'_>> = live
            .iter()
            .map(|(_, id, p, g)| SystemIn {
                id,
                profile: p,
                old_grade: Some(*g),
            })
            .collect();
        let (mut report, plans) = plan(&old, &policy, &systems);
        report.refusal()?;
        // Open incidents must fit the new policy.
        for (h, id, _, _) in &live {
            let shard = &guards[(*h as usize) & (SHARDS - 1)];
            let Some((slot, _)) = shard.get(SystemHandle(*h)) else {
                continue;
            };
            let Some(st) = &slot.incidents.state else {
                continue;
            };
            reload::incidents_fit(&policy, id, st)?;
        }
        // Move every shard's systems to the new policy.
        let mut by_handle: FastMap<u32, (usize, u32)> = FastMap::default();
        for (i, (h, _, _, g)) in live.iter().enumerate() {
            by_handle.insert(*h, (i, *g));
        }
        let mut old_levels: Vec<Vec<Level>> = vec![Vec::new(); live.len()];
        for (si, shard) in guards.iter_mut().enumerate() {
            shard.replace(policy.clone(), |slot_ix, slot, words| {
                let h = ((slot_ix as u32) << SHARD_BITS) | si as u32;
                let (i, _) = by_handle[&h];
                let Some(plan) = plans[i].as_ref() else {
                    return (words.to_vec(), Vec::new());
                };
                old_levels[i] = reload::old_levels(&old.0, words);
                slot.incidents.operator_type = plan.operator_type;
                if let Some(st) = slot.incidents.state.as_mut() {
                    remap_incidents(st, &policy);
                }
                slot.incidents.refresh();
                reload::migrate(&old.0, &policy.0, words, &slot.fresh, plan)
            });
        }
        // The transitions the reload causes, systems in registration order.
        let mut pending = Pending::new();
        for (i, (h, _, _, g0)) in live.iter().enumerate() {
            let Some(plan) = plans[i].as_ref() else {
                continue;
            };
            let shard = &mut guards[(*h as usize) & (SHARDS - 1)];
            if let Some(mut sys) = shard.sys(SystemHandle(*h)) {
                sys.reload_outputs(
                    &old.0,
                    *g0,
                    &old_levels[i],
                    &plan.matched,
                    &plan.keep,
                    &mut pending,
                );
            }
        }
        report.transitions = pending
            .iter()
            .filter(|o| matches!(o, Output::Transition(t) if t.reason.is_some()))
            .count() as u64;
        // Silences that name what the new policy lacks go.
        {
            let mut sil = self.silences.write();
            let gone: Vec<String> = sil
                .list()
                .filter(|s| s.check(&policy).is_err())
                .map(|s| s.id.clone())
                .collect();
            for id in &gone {
                sil.remove(id);
            }
            report.silences_removed = gone;
        }
        {
            let mut ids = self.signal_ids.write();
            ids.extend(&policy);
            let map = ids.map_for(&policy);
            for g in guards.iter_mut() {
                g.sig_map = map.clone();
            }
        }
        *self.policy.write() = policy;
        let journal_at = if pending.is_empty() {
            None
        } else {
            self.sequence(&mut pending)
        };
        drop(guards);
        drop(reg);
        Ok((report, Some((pending, journal_at))))
    }

    /// Sets a silence (replacing one with the same id): from `starts` (inclusive) to `ends`
    /// (exclusive), matching transitions are emitted muted (see [`Silence`]). Journaled.
    ///
    /// ```
    /// use airisk::{Engine, Policy, Silence};
    /// let engine = Engine::new(Policy::default_policy());
    /// engine.silence(Silence { id: "upgrade".into(), system: Some("triage-bot".into()),
    ///     category: None, rule: Some("heartbeat-silence".into()), starts: 0, ends: 3_600_000,
    ///     reason: Some("model upgrade".into()), by: Some("ops".into()) })?;
    /// assert_eq!(engine.silences().len(), 1);
    /// # Ok::<(), airisk::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Silence`]: a bad id, `ends ≤ starts`, or a rule or category matcher the
    /// policy does not define.
    pub fn silence(&self, s: Silence) -> Result<()> {
        s.check(&self.policy())?;
        let record = self.has_journal.load(Ordering::Acquire).then(|| {
            let mut m = match serde_json::to_value(&s) {
                Ok(Value::Object(m)) => m,
                _ => Map::new(),
            };
            m.insert("kind".into(), "silence".into());
            m
        });
        self.silences.write().set(s);
        if let Some(r) = record {
            self.journal_record(r);
        }
        Ok(())
    }

    /// Removes the silence `id` (journaled).
    ///
    /// ```
    /// use airisk::{Engine, Error, Policy, Silence};
    ///
    /// let engine = Engine::new(Policy::default_policy());
    /// engine.silence(Silence { id: "upgrade".into(), system: Some("bot".into()), category: None,
    ///     rule: None, starts: 0, ends: 3_600_000, reason: None, by: None })?;
    /// engine.unsilence("upgrade")?;
    /// assert!(engine.silences().is_empty());
    /// assert!(matches!(engine.unsilence("upgrade"), Err(Error::Silence(_))));
    /// # Ok::<(), airisk::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Silence`] if no silence has this id.
    pub fn unsilence(&self, id: &str) -> Result<()> {
        if self.silences.write().remove(id).is_none() {
            return Err(Error::Silence(format!("no silence has the id {id:?}")));
        }
        if self.has_journal.load(Ordering::Acquire) {
            let mut m = Map::new();
            m.insert("kind".into(), "unsilence".into());
            m.insert("id".into(), id.into());
            self.journal_record(m);
        }
        Ok(())
    }

    /// The silences set, in id order.
    pub fn silences(&self) -> Vec<Silence> {
        self.silences.read().list().cloned().collect()
    }

    /// Sets (or with `None`, removes) the incident-event sink. With a sink, incident events
    /// go to it instead of the incident queue, each right after the transition that caused
    /// it (when a transition sink is set too).
    ///
    /// ```
    /// use airisk::{Engine, IncidentEvent, IncidentEventKind, Policy, Profile};
    /// use std::sync::{Arc, Mutex};
    ///
    /// let engine = Engine::new(Policy::default_policy());
    /// let opened: Arc<Mutex<Vec<String>>> = Arc::default();
    /// let to = opened.clone();
    /// engine.set_incident_sink(Some(Arc::new(move |e: &IncidentEvent| {
    ///     if e.event == IncidentEventKind::Opened {
    ///         to.lock().unwrap().push(e.incident.to_string());
    ///     }
    /// })));
    /// let bot = engine.register(Profile::builder("bot", "healthcare_clinical", "sensitive_personal",
    ///                                            "autonomous", 10).build()?)?;
    /// engine.observe(bot, engine.lookup_signal("safety_incidents")?, 1.0, 0)?;
    /// assert_eq!(*opened.lock().unwrap(), ["bot/physical_safety/1"]);
    /// assert_eq!(engine.queued_incidents(), 0);
    /// # Ok::<(), airisk::Error>(())
    /// ```
    pub fn set_incident_sink(&self, sink: Option<IncidentSink>) {
        let mut s = self.incident_sink.write();
        self.has_incident_sink
            .store(sink.is_some(), Ordering::Release);
        *s = sink;
    }

    /// Moves every queued incident event into `out` (appending), oldest first; returns how
    /// many.
    ///
    /// ```
    /// # use airisk::{Engine, Policy, Profile};
    /// # let engine = Engine::new(Policy::default_policy());
    /// # let bot = engine.register(Profile::builder("bot", "healthcare_clinical", "sensitive_personal",
    /// #                                            "autonomous", 10).build()?)?;
    /// # let t0 = 1_764_374_400_000;
    /// // A safety incident at t0 raises the bot's safety rule and the bot itself, and opens an
    /// // incident (the default policy opens one at orange).
    /// engine.observe(bot, engine.lookup_signal("safety_incidents")?, 1.0, t0)?;
    /// use airisk::IncidentEventKind;
    /// let mut events = Vec::new();
    /// assert_eq!(engine.drain_incidents(&mut events), 1);
    /// let opened = &events[0];
    /// assert_eq!(opened.event, IncidentEventKind::Opened);
    /// assert_eq!((&*opened.incident, &*opened.category), ("bot/physical_safety/1", "physical_safety"));
    /// assert_eq!(opened.system, bot);
    /// # Ok::<(), airisk::Error>(())
    /// ```
    pub fn drain_incidents(&self, out: &mut Vec<IncidentEvent>) -> usize {
        let mut q = self.incident_queue.lock();
        let n = q.items.len();
        out.extend(q.items.drain(..));
        n
    }

    /// Moves up to `max` queued incident events into `out`, oldest first; returns how many.
    pub fn drain_incidents_up_to(&self, out: &mut Vec<IncidentEvent>, max: usize) -> usize {
        let mut q = self.incident_queue.lock();
        let n = q.items.len().min(max);
        out.extend(q.items.drain(..n));
        n
    }

    /// Incident events waiting in the incident queue.
    pub fn queued_incidents(&self) -> usize {
        self.incident_queue.lock().items.len()
    }

    /// Every incident that is not closed (open, or resolved and awaiting its final report),
    /// systems in registration order, each system's in the order they opened. Closed
    /// incidents live on in the event stream (and the journal), not in the engine.
    ///
    /// ```
    /// # use airisk::{Engine, Policy, Profile};
    /// # let engine = Engine::new(Policy::default_policy());
    /// # let bot = engine.register(Profile::builder("bot", "healthcare_clinical", "sensitive_personal",
    /// #                                            "autonomous", 10).build()?)?;
    /// # let t0 = 1_764_374_400_000;
    /// // A safety incident at t0 raises the bot's safety rule and the bot itself, and opens an
    /// // incident (the default policy opens one at orange).
    /// engine.observe(bot, engine.lookup_signal("safety_incidents")?, 1.0, t0)?;
    /// use airisk::IncidentState;
    /// let open = engine.incidents();
    /// assert_eq!(open.len(), 1);
    /// assert_eq!((&*open[0].id, open[0].state, open[0].opened_at), ("bot/physical_safety/1", IncidentState::Open, t0));
    /// # Ok::<(), airisk::Error>(())
    /// ```
    pub fn incidents(&self) -> Vec<Incident> {
        let n = self.count.load(Ordering::Acquire);
        let mut out = Vec::new();
        for h in 0..n {
            let h = SystemHandle(h);
            let shard = self.shard(h).lock();
            if let Some((slot, _)) = shard.get(h) {
                if let Some(st) = &slot.incidents.state {
                    out.extend(st.live.iter().cloned());
                }
            }
        }
        out
    }

    /// The incident with this id, if it is not closed.
    ///
    /// ```
    /// # use airisk::{Engine, Policy, Profile};
    /// # let engine = Engine::new(Policy::default_policy());
    /// # let bot = engine.register(Profile::builder("bot", "healthcare_clinical", "sensitive_personal",
    /// #                                            "autonomous", 10).build()?)?;
    /// # let t0 = 1_764_374_400_000;
    /// // A safety incident at t0 raises the bot's safety rule and the bot itself, and opens an
    /// // incident (the default policy opens one at orange).
    /// engine.observe(bot, engine.lookup_signal("safety_incidents")?, 1.0, t0)?;
    /// let incident = engine.incident("bot/physical_safety/1").expect("opened by the observation");
    /// assert_eq!(incident.system, bot);
    /// // What is owed, and by when: an acknowledgement first.
    /// assert!(incident.owed.iter().all(|o| o.due.by > t0 && !o.overdue));
    /// assert!(engine.incident("bot/physical_safety/2").is_none());
    /// # Ok::<(), airisk::Error>(())
    /// ```
    pub fn incident(&self, id: &str) -> Option<Incident> {
        let h = self.system(system_of(id)?)?;
        let shard = self.shard(h).lock();
        let (slot, _) = shard.get(h)?;
        slot.incidents
            .state
            .as_ref()?
            .live
            .iter()
            .find(|i| &*i.id == id)
            .cloned()
    }

    /// Runs a caller's action on the system of incident `id`, then numbers and delivers
    /// the events it emitted.
    fn incident_action(
        &self,
        id: &str,
        act: impl FnOnce(&mut Sys<'_>, &mut Pending) -> std::result::Result<(), Refused>,
    ) -> Result<()> {
        let unknown = || Error::UnknownIncident(id.to_owned());
        let h = system_of(id)
            .and_then(|s| self.system(s))
            .ok_or_else(unknown)?;
        let mut pending = Pending::new();
        let journal_at;
        {
            let mut shard = self.shard(h).lock();
            let mut sys = shard.sys(h).ok_or_else(unknown)?;
            act(&mut sys, &mut pending).map_err(|r| match r {
                Refused::Unknown => unknown(),
                Refused::NotDue(why) => Error::NotDue(why),
            })?;
            journal_at = self.sequence(&mut pending);
        }
        self.deliver(pending, journal_at);
        Ok(())
    }

    /// Acknowledges incident `id` at `ts_ms` (the caller's time; moves no clock), by `by`.
    /// Allowed once per incident, with or without `ack_within_s`.
    ///
    /// ```
    /// # use airisk::{Engine, Policy, Profile};
    /// # let engine = Engine::new(Policy::default_policy());
    /// # let bot = engine.register(Profile::builder("bot", "healthcare_clinical", "sensitive_personal",
    /// #                                            "autonomous", 10).build()?)?;
    /// # let t0 = 1_764_374_400_000;
    /// // A safety incident at t0 raises the bot's safety rule and the bot itself, and opens an
    /// // incident (the default policy opens one at orange).
    /// engine.observe(bot, engine.lookup_signal("safety_incidents")?, 1.0, t0)?;
    /// use airisk::Error;
    /// engine.acknowledge("bot/physical_safety/1", t0 + 60_000, "duty officer")?;
    /// let ack = engine.incident("bot/physical_safety/1").unwrap().acknowledged.unwrap();
    /// assert_eq!((ack.ts, &*ack.by), (t0 + 60_000, "duty officer"));
    /// // Once only; and only an incident that exists.
    /// assert!(matches!(engine.acknowledge("bot/physical_safety/1", t0 + 120_000, "x"), Err(Error::NotDue(_))));
    /// assert!(matches!(engine.acknowledge("bot/nothing/1", t0, "x"), Err(Error::UnknownIncident(_))));
    /// # Ok::<(), airisk::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::UnknownIncident`] (no such incident, or it is closed), [`Error::NotDue`]
    /// (already acknowledged).
    pub fn acknowledge(&self, id: &str, ts_ms: i64, by: &str) -> Result<()> {
        self.incident_action(id, |sys, out| sys.acknowledge(id, ts_ms, by, out))
    }

    /// Files report `kind` of incident `id` at `ts_ms` (the caller's time; moves no clock)
    /// with the caller's `reference`. Filing at or after the deadline is allowed and marked
    /// late. Filing the final report closes the incident.
    ///
    /// ```
    /// # use airisk::{Engine, Policy, Profile};
    /// # let engine = Engine::new(Policy::default_policy());
    /// # let bot = engine.register(Profile::builder("bot", "healthcare_clinical", "sensitive_personal",
    /// #                                            "autonomous", 10).build()?)?;
    /// # let t0 = 1_764_374_400_000;
    /// // A safety incident at t0 raises the bot's safety rule and the bot itself, and opens an
    /// // incident (the default policy opens one at orange).
    /// engine.observe(bot, engine.lookup_signal("safety_incidents")?, 1.0, t0)?;
    /// use airisk::{Error, ReportKind};
    /// let id = "bot/physical_safety/1";
    /// engine.file_report(id, ReportKind::Initial, t0 + 600_000, "SZ-2026-0017")?;
    /// let filed = &engine.incident(id).unwrap().filed[0];
    /// assert_eq!((filed.report, &*filed.reference, filed.late), (ReportKind::Initial, "SZ-2026-0017", false));
    /// // The final report is owed only once the incident is resolved.
    /// assert!(matches!(engine.file_report(id, ReportKind::Final, t0 + 700_000, "x"), Err(Error::NotDue(_))));
    /// # Ok::<(), airisk::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::UnknownIncident`] (no such incident, or it is closed), [`Error::NotDue`]
    /// (that report is not owed, or `final` while the initial or an update report is owed).
    pub fn file_report(
        &self,
        id: &str,
        kind: ReportKind,
        ts_ms: i64,
        reference: &str,
    ) -> Result<()> {
        self.incident_action(id, |sys, out| {
            sys.file_report(id, kind, ts_ms, reference, out)
        })
    }

    /// The current level of a system.
    ///
    /// ```
    /// use airisk::{Engine, Level, Policy, Profile};
    ///
    /// let engine = Engine::new(Policy::default_policy());
    /// let bot = engine.register(Profile::builder("bot", "finance", "personal", "autonomous", 10).build()?)?;
    /// assert_eq!(engine.system_level(bot)?, Level::None);
    /// let level = engine.observe(bot, engine.lookup_signal("safety_incidents")?, 1.0, 0)?;
    /// assert!(level > Level::None);
    /// assert_eq!(engine.system_level(bot)?, level);
    /// # Ok::<(), airisk::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::UnknownSystem`].
    pub fn system_level(&self, h: SystemHandle) -> Result<Level> {
        let mut shard = self.shard(h).lock();
        Ok(shard.sys(h).ok_or(Error::UnknownSystem(h.0))?.arena.level())
    }

    /// The current level of every rule of a system, in rule order.
    ///
    /// ```
    /// # use airisk::{Engine, Policy, Profile};
    /// # let engine = Engine::new(Policy::default_policy());
    /// # let bot = engine.register(Profile::builder("bot", "healthcare_clinical", "sensitive_personal",
    /// #                                            "autonomous", 10).build()?)?;
    /// # let t0 = 1_764_374_400_000;
    /// // A safety incident at t0 raises the bot's safety rule and the bot itself, and opens an
    /// // incident (the default policy opens one at orange).
    /// engine.observe(bot, engine.lookup_signal("safety_incidents")?, 1.0, t0)?;
    /// use airisk::Level;
    /// let levels = engine.rule_levels(bot)?;
    /// let policy = engine.policy();
    /// assert_eq!(levels.len(), policy.rules().len());
    /// // Named by zipping with the policy's rules.
    /// let raised: Vec<(&str, Level)> = policy.rules().iter().map(|r| &*r.id).zip(levels)
    ///     .filter(|(_, l)| *l > Level::None).collect();
    /// assert_eq!(raised.len(), 1);
    /// assert_eq!(raised[0], ("safety-incidents", engine.system_level(bot)?));
    /// # Ok::<(), airisk::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::UnknownSystem`].
    pub fn rule_levels(&self, h: SystemHandle) -> Result<Vec<Level>> {
        let mut shard = self.shard(h).lock();
        let sys = shard.sys(h).ok_or(Error::UnknownSystem(h.0))?;
        Ok(sys.arena.rule_levels().collect())
    }

    /// [`Engine::rule_levels`] with each rule's id, read together (a reload cannot come
    /// between).
    pub(crate) fn rule_levels_named(&self, h: SystemHandle) -> Result<Vec<(Arc<str>, Level)>> {
        let mut shard = self.shard(h).lock();
        let sys = shard.sys(h).ok_or(Error::UnknownSystem(h.0))?;
        let ids = sys.policy.rules.iter().map(|r| r.id.clone());
        Ok(ids.zip(sys.arena.rule_levels()).collect())
    }

    /// The system's watermark (largest time seen), if any.
    ///
    /// ```
    /// use airisk::{Engine, Policy, Profile};
    ///
    /// let engine = Engine::new(Policy::default_policy());
    /// let bot = engine.register(Profile::builder("bot", "finance", "personal", "autonomous", 10).build()?)?;
    /// assert_eq!(engine.watermark(bot)?, None);
    /// let interactions = engine.lookup_signal("interactions")?;
    /// engine.observe(bot, interactions, 1.0, 120_000)?;
    /// engine.observe(bot, interactions, 1.0, 60_000)?; // late, but within the ring
    /// assert_eq!(engine.watermark(bot)?, Some(120_000));
    /// engine.tick(180_000);
    /// assert_eq!(engine.watermark(bot)?, Some(180_000));
    /// # Ok::<(), airisk::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::UnknownSystem`].
    pub fn watermark(&self, h: SystemHandle) -> Result<Option<i64>> {
        let mut shard = self.shard(h).lock();
        let w = shard
            .sys(h)
            .ok_or(Error::UnknownSystem(h.0))?
            .arena
            .watermark();
        Ok((w != NONE).then_some(w))
    }

    /// Handles of the registered systems, in registration order.
    ///
    /// ```
    /// use airisk::{Engine, Policy, Profile};
    ///
    /// let engine = Engine::new(Policy::default_policy());
    /// let p = |id: &str| Profile::builder(id, "finance", "personal", "autonomous", 10).build();
    /// let (a, b, c) = (engine.register(p("a")?)?, engine.register(p("b")?)?, engine.register(p("c")?)?);
    /// engine.deregister(b)?;
    /// assert_eq!(engine.systems(), [a, c]);
    /// # Ok::<(), airisk::Error>(())
    /// ```
    pub fn systems(&self) -> Vec<SystemHandle> {
        let reg = self.registry.read();
        let mut v: Vec<SystemHandle> = reg.ids.values().map(|&h| SystemHandle(h)).collect();
        v.sort();
        v
    }

    /// The engine's counters.
    ///
    /// ```
    /// # use airisk::{Engine, Policy, Profile};
    /// # let engine = Engine::new(Policy::default_policy());
    /// # let bot = engine.register(Profile::builder("bot", "healthcare_clinical", "sensitive_personal",
    /// #                                            "autonomous", 10).build()?)?;
    /// # let t0 = 1_764_374_400_000;
    /// // A safety incident at t0 raises the bot's safety rule and the bot itself, and opens an
    /// // incident (the default policy opens one at orange).
    /// engine.observe(bot, engine.lookup_signal("safety_incidents")?, 1.0, t0)?;
    /// let signal = engine.lookup_signal("interactions")?;
    /// assert!(engine.observe(bot, signal, -1.0, t0).is_err()); // a negative counter
    /// let s = engine.stats();
    /// assert_eq!((s.systems, s.observed, s.rejected_invalid), (1, 1, 1));
    /// assert_eq!((s.transitions, s.incident_events, s.dropped), (2, 1, 0));
    /// # Ok::<(), airisk::Error>(())
    /// ```
    pub fn stats(&self) -> Stats {
        let mut s = Stats::default();
        for sh in self.shards.iter() {
            let g = sh.0.lock();
            s.observed += g.counters.observed;
            s.rejected_stale += g.counters.rejected_stale;
            s.rejected_invalid += g.counters.rejected_invalid;
        }
        s.rejected_invalid += self.rejected_unknown.load(Ordering::Relaxed);
        s.transitions = self.seq.load(Ordering::Acquire);
        s.dropped = self.dropped.load(Ordering::Relaxed);
        s.systems = self.systems.load(Ordering::Relaxed);
        s.journal_errors = self.journal_errors.load(Ordering::Relaxed);
        s.incident_events = self.incident_seq.load(Ordering::Acquire);
        s.incidents_dropped = self.incidents_dropped.load(Ordering::Relaxed);
        s
    }

    /// Bytes of state one registered system holds under this policy (its state block and
    /// the fixed part), not counting its profile's strings.
    pub fn state_bytes_per_system(&self) -> usize {
        let p = self.policy();
        std::mem::size_of::<Slot>()
            + std::mem::size_of::<Profile>()
            + p.0.tables.layout.words as usize * 8
    }
}

fn profile_record(kind: &str, profile: &Profile, cls: &Classification) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("kind".into(), kind.into());
    m.insert("system".into(), profile.id.clone().into());
    m.insert("grade".into(), (*cls.grade).into());
    m.insert("score".into(), cls.score.into());
    m.insert(
        "profile".into(),
        serde_json::to_value(profile).unwrap_or_default(),
    );
    m
}

/// The journal record of an output: its JSON form with its `kind`.
fn output_record(o: &Output) -> Map<String, Value> {
    let v = match o {
        Output::Transition(t) => serde_json::to_value(t),
        Output::Incident(e) => serde_json::to_value(e),
    };
    let mut m = match v {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    };
    if let Output::Transition(_) = o {
        m.insert("kind".into(), "transition".into());
    }
    m
}

/// Maps a system's open incidents to a new policy's category and severity indexes (the
/// reload checked that they exist).
pub(crate) fn remap_incidents(st: &mut crate::incident::SystemIncidents, policy: &Policy) {
    for inc in &mut st.live {
        if let Some(&c) = policy.0.category_ix.get(&*inc.category) {
            inc.category_ix = c;
        }
        if let Some(ip) = policy.incidents() {
            if let Some(s) = ip.severities.iter().position(|s| s.id == inc.severity) {
                inc.severity_rank = s as u32;
            }
        }
    }
}

fn push_bounded<T>(q: &mut Queue<T>, item: T, dropped: &AtomicU64) {
    if q.items.len() >= q.cap {
        dropped.fetch_add(1, Ordering::Relaxed);
    } else {
        q.items.push_back(item);
    }
}

/// The index of a profile's operator type (the first when it names none, or when the
/// policy has no incidents section).
fn operator_type(policy: &Policy, profile: &Profile) -> u32 {
    match (policy.incidents(), &profile.operator_type) {
        (Some(ip), Some(t)) => ip.operator_type(t).unwrap_or(0),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    fn engine() -> Engine {
        let p = Policy::from_json(
            r#"{"schema": 1, "categories": [{"id": "c"}],
                "grades": [{"id": "low"}, {"id": "high", "min_score": 5}],
                "classification": {"sectors": {"s": 0}, "data": {"public": 0}, "autonomy": {"a": 0}},
                "bucket_ms": 1000,
                "signals": [{"id": "n", "kind": "counter", "category": "c"}],
                "rules": [{"id": "r", "signal": "n", "aggregate": "count", "window_ms": 1000,
                           "thresholds": {"low": [2, null, null, null], "high": [2, null, null, null]}}]}"#,
        )
        .unwrap();
        let e = Engine::new(p);
        for i in 0..65 {
            let profile = Profile::from_json(&format!(
                r#"{{"id": "s{i}", "sector": "s", "data": "public", "autonomy": "a", "users": 1}}"#
            ))
            .unwrap();
            e.register(profile).unwrap();
        }
        e
    }

    /// A journal write in progress (here: its lock held) delays only the thread whose
    /// transition waits to be written, never a system of the same shard: the shard lock is
    /// released before journal records are written. (With the journal written under the
    /// shard lock, the second observation below blocked until the journal was released.)
    #[test]
    fn a_slow_journal_does_not_hold_the_shard_lock() {
        let e = Arc::new(engine());
        let path = std::env::temp_dir().join(format!(
            "airisk-engine-slow-journal-{}.jsonl",
            std::process::id()
        ));
        let _ = std::fs::remove_file(&path);
        e.open_journal(&path, Durability::Never).unwrap();
        let n = e.signal("n").unwrap();
        let (s0, s64) = (SystemHandle(0), SystemHandle(64));
        assert!(std::ptr::eq(e.shard(s0), e.shard(s64)));
        e.observe(s0, n, 1.0, 0).unwrap();
        let held = e.journal.lock();
        // Thread B: this observation raises s0's rule, so it has a record to journal.
        let (done_b, b_done) = mpsc::channel();
        let eb = e.clone();
        let b = std::thread::spawn(move || {
            eb.observe(s0, n, 1.0, 1).unwrap();
            done_b.send(()).unwrap();
        });
        // Wait until B has numbered its transition (it then waits for the journal); a
        // bound, so an engine that never raises fails here instead of hanging. (Under Miri
        // the whole test takes about 20 s of real time: a longer bound there.)
        let bound = Duration::from_secs(if cfg!(miri) { 600 } else { 30 });
        let deadline = std::time::Instant::now() + bound;
        while e.stats().transitions < 2 {
            assert!(
                std::time::Instant::now() < deadline,
                "B's observation raised no transition"
            );
            std::thread::yield_now();
        }
        // Thread C: a quiet observation of another system of the same shard.
        let (done_c, c_done) = mpsc::channel();
        let ec = e.clone();
        let c = std::thread::spawn(move || {
            ec.observe(s64, n, 1.0, 1).unwrap();
            done_c.send(()).unwrap();
        });
        assert!(
            c_done.recv_timeout(bound).is_ok(),
            "an observation of the same shard waited for the journal"
        );
        assert!(b_done.try_recv().is_err(), "B waits for the journal");
        drop(held);
        b_done.recv_timeout(bound).unwrap();
        b.join().unwrap();
        c.join().unwrap();
        e.close_journal();
        let text = std::fs::read_to_string(&path).unwrap();
        let seqs: Vec<u64> = text
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v["kind"] == "transition")
            .map(|v| v["seq"].as_u64().unwrap())
            .collect();
        assert_eq!(seqs, vec![1, 2]);
        let _ = std::fs::remove_file(&path);
    }

    /// Journal order is `seq` order even when threads finish their writes out of order.
    #[test]
    fn journal_order_is_seq_order_across_threads() {
        let e = Arc::new(engine());
        let path = std::env::temp_dir().join(format!(
            "airisk-engine-journal-order-{}.jsonl",
            std::process::id()
        ));
        let _ = std::fs::remove_file(&path);
        e.open_journal(&path, Durability::Never).unwrap();
        let n = e.signal("n").unwrap();
        std::thread::scope(|s| {
            for t in 0..4u32 {
                let e = e.clone();
                s.spawn(move || {
                    for i in 0..400i64 {
                        let h = SystemHandle((t * 16 + (i as u32 % 16)) % 65);
                        let _ = e.observe(h, n, 1.0, (i / 32) * 1000);
                    }
                });
            }
        });
        e.close_journal();
        let text = std::fs::read_to_string(&path).unwrap();
        let seqs: Vec<u64> = text
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v["kind"] == "transition")
            .map(|v| v["seq"].as_u64().unwrap())
            .collect();
        assert!(seqs.len() > 100, "{}", seqs.len());
        assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>());
        assert!(crate::journal::verify(&path).is_ok());
        let _ = std::fs::remove_file(&path);
    }

    /// A reload's private windows (of the rules it added or restarted) last only until the
    /// shared state says the same, then go: a windowed rule's once its window holds only
    /// buckets opened after the reload (checked when the watermark enters a bucket, a tick
    /// included), a `silence_ms` rule's at the first observation of its signal at or after
    /// the reload (at that observation, not at the next bucket). Kept longer they would
    /// only cost memory, snapshot bytes and a slower evaluation of every later observation,
    /// so no transition shows it: this test looks at the system's state.
    #[test]
    fn a_reloads_private_windows_are_dropped_once_the_shared_state_agrees() {
        let policy = |extra: &str| {
            Policy::from_json(&format!(
                r#"{{"schema": 1, "categories": [{{"id": "c"}}],
                "grades": [{{"id": "low"}}, {{"id": "high", "min_score": 5}}],
                "classification": {{"sectors": {{"s": 0}}, "data": {{"public": 0}}, "autonomy": {{"a": 0}}}},
                "bucket_ms": 1000,
                "signals": [{{"id": "n", "kind": "counter", "category": "c"}},
                            {{"id": "hb", "kind": "gauge", "category": "c"}}],
                "rules": [{{"id": "r", "signal": "n", "aggregate": "count", "window_ms": 3000,
                            "thresholds": {{"low": [20, null, null, null], "high": [20, null, null, null]}}}}
                          {extra}]}}"#
            ))
            .unwrap()
        };
        let e = Engine::new(policy(""));
        let h = e
            .register(
                Profile::from_json(
                    r#"{"id": "s", "sector": "s", "data": "public", "autonomy": "a", "users": 1}"#,
                )
                .unwrap(),
            )
            .unwrap();
        let fresh = |e: &Engine| -> Vec<u32> {
            let shard = e.shard(h).lock();
            let slot = shard.systems[(h.0 >> SHARD_BITS) as usize]
                .as_ref()
                .unwrap();
            slot.fresh.iter().map(|f| f.rule).collect()
        };
        let (n, hb) = (e.signal("n").unwrap(), e.signal("hb").unwrap());
        e.observe(h, n, 1.0, 0).unwrap();
        e.observe(h, hb, 1.0, 0).unwrap();
        e.observe(h, n, 1.0, 10_000).unwrap();
        e.reload(policy(
            r#", {"id": "wide", "signal": "n", "aggregate": "count", "window_ms": 3000,
                  "thresholds": {"low": [50, null, null, null], "high": [50, null, null, null]}},
                {"id": "quiet", "signal": "hb", "aggregate": "silence_ms",
                  "thresholds": {"low": [60000, null, null, null], "high": [60000, null, null, null]}}"#,
        ))
        .unwrap();
        // `wide` shares the ring of `n` (kept, same size) with `r`, which holds what came
        // before the reload: it counts in a private window.
        assert_eq!(fresh(&e), [1, 2], "both added rules start private windows");
        // Bucket 11: the reload's bucket (10) is still inside `wide`'s window, and no
        // heartbeat since the reload.
        e.observe(h, n, 1.0, 11_000).unwrap();
        assert_eq!(fresh(&e), [1, 2]);
        // A heartbeat after the reload, in the same bucket: `quiet` reads the shared
        // last heartbeat from now on.
        e.observe(h, hb, 1.0, 11_500).unwrap();
        assert_eq!(fresh(&e), [1], "dropped at the heartbeat");
        e.observe(h, n, 1.0, 12_999).unwrap();
        assert_eq!(
            fresh(&e),
            [1],
            "bucket 12: the window 10..=12 still has bucket 10"
        );
        // Bucket 13: `wide`'s window is buckets 11..=13, all after the reload.
        e.tick(13_000);
        assert!(
            fresh(&e).is_empty(),
            "dropped when the watermark entered bucket 13"
        );
    }
}
