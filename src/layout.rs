//! The state arena of one system, and the one place that knows where things are in it.
//!
//! A system's whole monitoring state is one fixed-size block of 64-bit words (f64 values
//! are stored as their bits), so that an observation touches a few cache lines of one block
//! and a snapshot is a copy. [`Layout::plan`] computes every offset once per policy;
//! [`SystemArena`] reads and writes the block through named accessors. Nothing outside
//! this module does offset arithmetic.
//!
//! ```text
//! header      watermark, first watermark, bucket of the watermark, system level + grade
//! bitsets     rings that are behind the watermark (stale), rules that are not quiet (active)
//! levels      one byte per rule
//! last_ts     per signal read by a `silence_ms` rule: the largest accepted ts
//! caches      window aggregates shared by the rules that read the same signal over the same
//!             window, ordered so that one observation reads adjacent words
//! rules       per rule: met_since ×4 and below_since (the state machine's timers)
//! rings       per signal: its head (newest bucket index) then its buckets
//! ```
//!
//! Rings advance lazily: when the watermark enters a new bucket every ring is marked stale
//! (one store per 64 rings); a ring is brought up to date only when it is next written or
//! read, which clears the buckets that left its window and recomputes its caches.

use crate::level::Level;
use crate::policy::model::{Aggregate, OnEmpty, Rule, Signal};
use smallvec::SmallVec;

/// Sentinel for "no timestamp / no bucket yet".
pub(crate) const NONE: i64 = i64::MIN;

/// The fields a ring keeps per bucket (and each of its caches per window): a bit set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Fields(pub u8);

impl Fields {
    pub const COUNT: u8 = 1;
    pub const SUM: u8 = 2;
    pub const MIN: u8 = 4;
    pub const MAX: u8 = 8;

    /// Words per bucket (and per cache entry).
    #[inline]
    pub fn stride(self) -> usize {
        self.0.count_ones() as usize
    }

    /// The fields an aggregate needs of its signal's ring.
    fn for_signal(a: Aggregate, on_empty: OnEmpty) -> u8 {
        let clear = if on_empty == OnEmpty::Clear {
            Fields::COUNT
        } else {
            0
        };
        match a {
            Aggregate::Count => Fields::COUNT,
            Aggregate::Sum | Aggregate::Mean => Fields::SUM | Fields::COUNT,
            Aggregate::Max => Fields::MAX | Fields::COUNT,
            Aggregate::Min => Fields::MIN | Fields::COUNT,
            Aggregate::Rate => Fields::SUM | clear,
            Aggregate::SilenceMs => 0,
        }
    }
}

/// A window aggregate (of one bucket, or of a whole window). Fields a ring does not keep
/// read as 0 (count, sum) or ±∞ (min, max).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Agg {
    pub count: f64,
    pub sum: f64,
    pub min: f64,
    pub max: f64,
}

impl Agg {
    pub const EMPTY: Agg = Agg {
        count: 0.0,
        sum: 0.0,
        min: f64::INFINITY,
        max: f64::NEG_INFINITY,
    };

    /// Folds another aggregate into this one.
    #[inline]
    pub fn merge(&mut self, b: &Agg) {
        self.count += b.count;
        self.sum += b.sum;
        if b.min < self.min {
            self.min = b.min;
        }
        if b.max > self.max {
            self.max = b.max;
        }
    }
}

/// Reads an entry (a bucket or a cache) of `fields` layout.
#[inline]
pub(crate) fn load_agg(s: &[u64], fields: Fields) -> Agg {
    let f = fields.0;
    let mut i = 0;
    let mut a = Agg::EMPTY;
    if f & Fields::COUNT != 0 {
        a.count = f64::from_bits(s[i]);
        i += 1;
    }
    if f & Fields::SUM != 0 {
        a.sum = f64::from_bits(s[i]);
        i += 1;
    }
    if f & Fields::MIN != 0 {
        a.min = f64::from_bits(s[i]);
        i += 1;
    }
    if f & Fields::MAX != 0 {
        a.max = f64::from_bits(s[i]);
    }
    a
}

/// Writes `a` into an entry of `fields` layout.
#[inline]
pub(crate) fn store_agg(s: &mut [u64], fields: Fields, a: &Agg) {
    let f = fields.0;
    let mut i = 0;
    if f & Fields::COUNT != 0 {
        s[i] = a.count.to_bits();
        i += 1;
    }
    if f & Fields::SUM != 0 {
        s[i] = a.sum.to_bits();
        i += 1;
    }
    if f & Fields::MIN != 0 {
        s[i] = a.min.to_bits();
        i += 1;
    }
    if f & Fields::MAX != 0 {
        s[i] = a.max.to_bits();
    }
}

/// Adds one observation to an entry of `fields` layout.
#[inline]
pub(crate) fn add_to(s: &mut [u64], fields: Fields, value: f64) {
    let f = fields.0;
    let mut i = 0;
    if f & Fields::COUNT != 0 {
        s[i] = (f64::from_bits(s[i]) + 1.0).to_bits();
        i += 1;
    }
    if f & Fields::SUM != 0 {
        s[i] = (f64::from_bits(s[i]) + value).to_bits();
        i += 1;
    }
    if f & Fields::MIN != 0 {
        if value < f64::from_bits(s[i]) {
            s[i] = value.to_bits();
        }
        i += 1;
    }
    if f & Fields::MAX != 0 && value > f64::from_bits(s[i]) {
        s[i] = value.to_bits();
    }
}

/// One signal's ring of buckets.
#[derive(Debug, Clone)]
pub(crate) struct RingLayout {
    /// Buckets kept (B): the largest window of any rule reading the signal, at least 1.
    pub len: u32,
    /// Fields kept per bucket (none: the ring stores nothing, only B matters).
    pub fields: Fields,
    /// Offset of the ring's head word (meaningful when `fields` is not empty).
    pub head: u32,
    /// Offset of bucket 0.
    pub buckets: u32,
    /// The caches this ring feeds (indexes into [`Layout::caches`]).
    pub caches: SmallVec<[u32; 4]>,
}

impl RingLayout {
    /// Whether the ring stores anything.
    #[inline]
    pub fn stores(&self) -> bool {
        self.fields.0 != 0
    }
}

/// A window aggregate kept up to date for the rules that read it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CacheLayout {
    /// The ring (signal index) it aggregates.
    pub ring: u32,
    /// Window length in buckets.
    pub n: u32,
    /// Offset of its entry.
    pub offset: u32,
}

/// Where one rule's state and inputs are.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RuleLayout {
    /// Offset of the timers: met_since ×4, below_since.
    pub timers: u32,
    /// The cache of its signal's window (windowed aggregates).
    pub sig_cache: Option<u32>,
    /// The cache of its `per` signal's window (`rate`).
    pub per_cache: Option<u32>,
}

/// Words of one rule's timers.
const TIMER_WORDS: u32 = 5;

// Header words.
const WATERMARK: usize = 0;
const FIRST_WATERMARK: usize = 1;
const WB: usize = 2;
const META: usize = 3;
const HEADER_WORDS: u32 = 4;

/// Where everything of a system's state is, for one policy.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    /// Words per system (a multiple of 8: whole cache lines).
    pub words: u32,
    stale: u32,
    active: u32,
    levels: u32,
    /// Per signal: its ring.
    pub rings: Vec<RingLayout>,
    /// Shared window caches.
    pub caches: Vec<CacheLayout>,
    /// Per rule.
    pub rules: Vec<RuleLayout>,
    /// Per signal: the offset of its last accepted ts, for signals a `silence_ms` rule reads.
    pub last_ts: Vec<Option<u32>>,
    /// The state of a system that has seen nothing.
    pub template: Box<[u64]>,
}

/// Most words one system's state may take (2^32 - 1 offsets).
const MAX_WORDS: u64 = u32::MAX as u64 - 64;

impl Layout {
    /// Plans the arena of `rules` over `signals`.
    ///
    /// # Errors
    /// A reason when the state would not fit 32-bit offsets (the policy loader caps
    /// buckets well below that).
    pub fn plan(signals: &[Signal], rules: &[Rule]) -> Result<Layout, String> {
        let ns = signals.len();
        let mut rings: Vec<RingLayout> = (0..ns)
            .map(|_| RingLayout {
                len: 1,
                fields: Fields(0),
                head: 0,
                buckets: 0,
                caches: SmallVec::new(),
            })
            .collect();
        let mut silence = vec![false; ns];
        for r in rules {
            let n = r.window_buckets.max(1);
            let s = &mut rings[r.signal as usize];
            s.len = s.len.max(n);
            s.fields.0 |= Fields::for_signal(r.aggregate, r.on_empty);
            if r.aggregate == Aggregate::SilenceMs {
                silence[r.signal as usize] = true;
            }
            if let Some(per) = r.per {
                let s = &mut rings[per as usize];
                s.len = s.len.max(n);
                s.fields.0 |= Fields::SUM
                    | if r.on_empty == OnEmpty::Clear {
                        Fields::COUNT
                    } else {
                        0
                    };
            }
        }

        // Caches, one per (signal, window), in the order rules read them: a rate rule's
        // denominator first, then its numerator, so the rules evaluated together by one
        // observation read neighbouring words.
        let mut caches: Vec<CacheLayout> = Vec::new();
        let mut cache_of = |ring: u32, n: u32, rings: &mut [RingLayout]| -> u32 {
            if let Some(i) = caches.iter().position(|c| c.ring == ring && c.n == n) {
                return i as u32;
            }
            caches.push(CacheLayout { ring, n, offset: 0 });
            let i = caches.len() as u32 - 1;
            rings[ring as usize].caches.push(i);
            i
        };
        let mut rule_layouts = Vec::with_capacity(rules.len());
        for r in rules {
            let n = r.window_buckets.max(1);
            let per_cache = r.per.map(|p| cache_of(p, n, &mut rings));
            let sig_cache = r
                .aggregate
                .windowed()
                .then(|| cache_of(r.signal, n, &mut rings));
            rule_layouts.push(RuleLayout {
                timers: 0,
                sig_cache,
                per_cache,
            });
        }

        let bitset_words = |n: usize| n.div_ceil(64) as u64;
        let mut at: u64 = HEADER_WORDS as u64;
        let stale = at;
        at += bitset_words(ns);
        let active = at;
        at += bitset_words(rules.len());
        let levels = at;
        at += rules.len().div_ceil(8) as u64;
        let mut last_ts = vec![None; ns];
        for (s, used) in silence.iter().enumerate() {
            if *used {
                last_ts[s] = Some(at as u32);
                at += 1;
            }
        }
        for c in &mut caches {
            c.offset = at.min(MAX_WORDS) as u32;
            at += rings[c.ring as usize].fields.stride() as u64;
        }
        for rl in &mut rule_layouts {
            rl.timers = at.min(MAX_WORDS) as u32;
            at += TIMER_WORDS as u64;
        }
        for r in &mut rings {
            if r.stores() {
                r.head = at.min(MAX_WORDS) as u32;
                at += 1;
                r.buckets = at.min(MAX_WORDS) as u32;
                at += r.len as u64 * r.fields.stride() as u64;
            }
        }
        let words = at.div_ceil(8) * 8;
        if words > MAX_WORDS {
            return Err(format!(
                "the policy needs {words} words of state per system; at most {MAX_WORDS} fit"
            ));
        }
        let mut layout = Layout {
            words: words as u32,
            stale: stale as u32,
            active: active as u32,
            levels: levels as u32,
            rings,
            caches,
            rules: rule_layouts,
            last_ts,
            template: Box::new([]),
        };
        layout.template = layout.fresh();
        Ok(layout)
    }

    /// The state of a system that has seen nothing (every timer and time unset, every
    /// bucket and cache empty).
    fn fresh(&self) -> Box<[u64]> {
        let mut a = vec![0u64; self.words as usize].into_boxed_slice();
        a[WATERMARK] = NONE as u64;
        a[FIRST_WATERMARK] = NONE as u64;
        a[WB] = NONE as u64;
        for off in self.last_ts.iter().flatten() {
            a[*off as usize] = NONE as u64;
        }
        for r in &self.rules {
            let t = r.timers as usize;
            a[t..t + TIMER_WORDS as usize].fill(NONE as u64);
        }
        for c in &self.caches {
            let f = self.rings[c.ring as usize].fields;
            let o = c.offset as usize;
            store_agg(&mut a[o..o + f.stride()], f, &Agg::EMPTY);
        }
        for r in &self.rings {
            if r.stores() {
                a[r.head as usize] = NONE as u64;
                let stride = r.fields.stride();
                let b = r.buckets as usize;
                for s in a[b..b + stride * r.len as usize].chunks_exact_mut(stride) {
                    store_agg(s, r.fields, &Agg::EMPTY);
                }
            }
        }
        a
    }
}

/// The timers of one rule's state machine, plus its level.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct RuleState {
    /// Current level.
    pub level: Level,
    /// For blue..red: since when `met` has held at every evaluation (`NONE` = not met).
    pub met_since: [i64; 4],
    /// Since when the lowering target has been below the current level (`NONE` = not).
    pub below_since: i64,
}

impl RuleState {
    /// No level and no timer.
    pub const QUIET: RuleState = RuleState {
        level: Level::None,
        met_since: [NONE; 4],
        below_since: NONE,
    };

    /// No level, no timer running: the state of a rule that has nothing to report.
    #[inline]
    pub fn is_quiet(&self) -> bool {
        *self == RuleState::QUIET
    }
}

/// One system's state block, read and written through its [`Layout`].
pub(crate) struct SystemArena<'a> {
    pub layout: &'a Layout,
    pub words: &'a mut [u64],
}

impl<'a> SystemArena<'a> {
    /// Wraps a block of `layout.words` words.
    #[inline]
    pub fn new(layout: &'a Layout, words: &'a mut [u64]) -> SystemArena<'a> {
        debug_assert_eq!(words.len(), layout.words as usize);
        SystemArena { layout, words }
    }

    #[inline]
    fn i64_at(&self, i: usize) -> i64 {
        self.words[i] as i64
    }

    /// Largest ts seen (observation or tick), or `NONE`.
    #[inline]
    pub fn watermark(&self) -> i64 {
        self.i64_at(WATERMARK)
    }
    #[inline]
    pub fn set_watermark(&mut self, w: i64) {
        self.words[WATERMARK] = w as u64;
    }
    /// The first watermark, or `NONE`.
    #[inline]
    pub fn first_watermark(&self) -> i64 {
        self.i64_at(FIRST_WATERMARK)
    }
    #[inline]
    pub fn set_first_watermark(&mut self, w: i64) {
        self.words[FIRST_WATERMARK] = w as u64;
    }
    /// Bucket index of the watermark, or `NONE`.
    #[inline]
    pub fn wb(&self) -> i64 {
        self.i64_at(WB)
    }
    /// Moves the watermark's bucket; every ring is then behind it until advanced.
    #[inline]
    pub fn set_wb(&mut self, b: i64) {
        self.words[WB] = b as u64;
        let (s, n) = (
            self.layout.stale as usize,
            self.layout.rings.len().div_ceil(64),
        );
        self.words[s..s + n].fill(u64::MAX);
    }
    /// The system level.
    #[inline]
    pub fn level(&self) -> Level {
        Level::from_u8(self.words[META] as u8).unwrap_or(Level::None)
    }
    #[inline]
    pub fn set_level(&mut self, l: Level) {
        self.words[META] = (self.words[META] & !0xff) | l as u64;
    }
    /// The system's grade rank.
    #[inline]
    pub fn grade(&self) -> u32 {
        (self.words[META] >> 8) as u32
    }
    #[inline]
    pub fn set_grade(&mut self, g: u32) {
        self.words[META] = (self.words[META] & 0xff) | (g as u64) << 8;
    }

    /// Whether ring `s` is behind the watermark's bucket.
    #[inline]
    pub fn ring_stale(&self, s: usize) -> bool {
        self.words[self.layout.stale as usize + s / 64] & (1 << (s % 64)) != 0
    }
    #[inline]
    fn clear_ring_stale(&mut self, s: usize) {
        self.words[self.layout.stale as usize + s / 64] &= !(1 << (s % 64));
    }

    /// Whether rule `r` is not quiet (has a level or a running timer).
    #[inline]
    pub fn active(&self, r: usize) -> bool {
        self.words[self.layout.active as usize + r / 64] & (1 << (r % 64)) != 0
    }

    /// The level of rule `r`.
    #[inline]
    pub fn rule_level(&self, r: usize) -> Level {
        let w = self.words[self.layout.levels as usize + r / 8];
        Level::from_u8((w >> ((r % 8) * 8)) as u8).unwrap_or(Level::None)
    }

    /// The levels of every rule, in rule order.
    pub fn rule_levels(&self) -> impl Iterator<Item = Level> + '_ {
        (0..self.layout.rules.len()).map(|r| self.rule_level(r))
    }

    /// Rule `r`'s state machine.
    #[inline]
    pub fn rule_state(&self, r: usize) -> RuleState {
        let t = self.layout.rules[r].timers as usize;
        let w = &self.words[t..t + TIMER_WORDS as usize];
        RuleState {
            level: self.rule_level(r),
            met_since: [w[0] as i64, w[1] as i64, w[2] as i64, w[3] as i64],
            below_since: w[4] as i64,
        }
    }

    /// Stores rule `r`'s state machine (and whether it is quiet).
    #[inline]
    pub fn set_rule_state(&mut self, r: usize, st: &RuleState) {
        let t = self.layout.rules[r].timers as usize;
        let w = &mut self.words[t..t + TIMER_WORDS as usize];
        for (x, m) in w.iter_mut().zip(st.met_since) {
            *x = m as u64;
        }
        w[4] = st.below_since as u64;
        let li = self.layout.levels as usize + r / 8;
        let shift = (r % 8) * 8;
        self.words[li] = (self.words[li] & !(0xff << shift)) | (st.level as u64) << shift;
        let ai = self.layout.active as usize + r / 64;
        let bit = 1u64 << (r % 64);
        if st.is_quiet() {
            self.words[ai] &= !bit;
        } else {
            self.words[ai] |= bit;
        }
    }

    /// The largest accepted ts of signal `s` (tracked for `silence_ms` signals), or `NONE`.
    #[inline]
    pub fn last_ts(&self, s: usize) -> i64 {
        match self.layout.last_ts[s] {
            Some(o) => self.i64_at(o as usize),
            None => NONE,
        }
    }

    /// Records an accepted observation of signal `s` at `ts` for `silence_ms`.
    #[inline]
    pub fn note_ts(&mut self, s: usize, ts: i64) {
        if let Some(o) = self.layout.last_ts[s] {
            let o = o as usize;
            if self.words[o] as i64 == NONE || ts > self.words[o] as i64 {
                self.words[o] = ts as u64;
            }
        }
    }

    /// The aggregate held by cache `c`.
    #[inline]
    pub fn cache(&self, c: u32) -> Agg {
        let cl = self.layout.caches[c as usize];
        let f = self.layout.rings[cl.ring as usize].fields;
        let o = cl.offset as usize;
        load_agg(&self.words[o..o + f.stride()], f)
    }

    /// The newest bucket index ring `s` holds, or `NONE`.
    #[inline]
    pub fn ring_head(&self, s: usize) -> i64 {
        self.i64_at(self.layout.rings[s].head as usize)
    }

    /// Brings ring `s` up to the watermark's bucket if it is behind: clears the buckets
    /// that left it and recomputes its caches.
    #[inline]
    pub fn current_ring(&mut self, s: usize) {
        if self.ring_stale(s) {
            self.advance_ring(s);
        }
    }

    #[inline(never)]
    fn advance_ring(&mut self, s: usize) {
        self.clear_ring_stale(s);
        let ring = &self.layout.rings[s];
        if !ring.stores() {
            return;
        }
        let to = self.wb();
        let head = self.ring_head(s);
        let stride = ring.fields.stride();
        let len = ring.len as i64;
        let base = ring.buckets as usize;
        if head == NONE || to.saturating_sub(head) >= len {
            for b in self.words[base..base + stride * ring.len as usize].chunks_exact_mut(stride) {
                store_agg(b, ring.fields, &Agg::EMPTY);
            }
        } else if to > head {
            // Count steps rather than indexes, so i64::MAX cannot overflow.
            let mut slot = head.rem_euclid(len);
            for _ in 0..to - head {
                slot = if slot + 1 == len { 0 } else { slot + 1 };
                let o = base + slot as usize * stride;
                store_agg(&mut self.words[o..o + stride], ring.fields, &Agg::EMPTY);
            }
        }
        self.words[ring.head as usize] = to as u64;
        for &c in &ring.caches {
            let cl = self.layout.caches[c as usize];
            let a = self.window(s, cl.n);
            let o = cl.offset as usize;
            store_agg(&mut self.words[o..o + stride], ring.fields, &a);
        }
    }

    /// Aggregates the last `n` buckets of ring `s` ending at its head, by scanning them (the
    /// reference the caches are computed from).
    pub fn window(&self, s: usize, n: u32) -> Agg {
        let ring = &self.layout.rings[s];
        let mut a = Agg::EMPTY;
        let head = self.ring_head(s);
        if !ring.stores() || head == NONE {
            return a;
        }
        let stride = ring.fields.stride();
        let len = ring.len as i64;
        let n = (n as i64).clamp(1, len);
        let first = (head.rem_euclid(len) - n + 1).rem_euclid(len) as usize;
        let base = ring.buckets as usize;
        let r = &self.words[base..base + stride * ring.len as usize];
        let n = n as usize;
        let run1 = (ring.len as usize - first).min(n);
        let slots = r[first * stride..(first + run1) * stride]
            .chunks_exact(stride)
            .chain(r[..(n - run1) * stride].chunks_exact(stride));
        for b in slots {
            a.merge(&load_agg(b, ring.fields));
        }
        a
    }

    /// Adds an observation of signal `s` at bucket `b` (the ring is current and the bucket
    /// is inside it) to its bucket and to every cache whose window holds `b`.
    #[inline]
    pub fn add(&mut self, s: usize, b: i64, value: f64) {
        let ring = &self.layout.rings[s];
        if !ring.stores() {
            return;
        }
        let stride = ring.fields.stride();
        let head = self.wb();
        let o = ring.buckets as usize + b.rem_euclid(ring.len as i64) as usize * stride;
        add_to(&mut self.words[o..o + stride], ring.fields, value);
        for &c in &ring.caches {
            let cl = self.layout.caches[c as usize];
            if b > head.saturating_sub(cl.n as i64) {
                let o = cl.offset as usize;
                add_to(&mut self.words[o..o + stride], ring.fields, value);
            }
        }
    }
}
