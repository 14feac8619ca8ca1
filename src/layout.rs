//! The state arena of one system, and the one place that knows where things are in it.
//!
//! A system's whole monitoring state is one fixed-size block of 64-bit words (f64 values
//! are stored as their bits), so that an observation touches a few cache lines of one block
//! and a snapshot is a copy. [`Layout::plan`] computes every offset once per policy;
//! [`SystemArena`] reads and writes the block through named accessors. Nothing outside
//! this module does offset arithmetic.
//!
//! ```text
//! header      watermark, bucket of the watermark, system level + grade
//! bitsets     rings that are behind the watermark (stale), rules that are not quiet (active)
//! caches      window aggregates shared by the rules that read the same signal over the same
//!             window, grouped so that one observation reads neighbouring words, the busiest
//!             signal's group first (in the first cache lines, with the header)
//! levels      one byte per rule
//! last_ts     per signal read by a `silence_ms` rule: the largest accepted ts
//! first       the first watermark
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
            Aggregate::SilenceMs | Aggregate::Psi => 0,
            // A closed bucket's input: a counter's sum, a gauge's mean (skipped when empty),
            // or with `per` the bucket's rate (its `per` ring keeps the sum).
            Aggregate::Ewma | Aggregate::Cusum => Fields::SUM | Fields::COUNT,
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
    /// Where its "stale" bit is.
    pub stale: Bit,
}

/// A bit of a bitset in the arena: its word's offset and its mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Bit {
    pub at: u32,
    pub mask: u64,
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

/// The word offsets of the fields of one cache entry; [`CacheRef::NO`] for a field the
/// ring does not keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CacheRef {
    pub count: u32,
    pub sum: u32,
    pub min: u32,
    pub max: u32,
}

impl CacheRef {
    pub const NO: u32 = u32::MAX;
    const NONE: CacheRef = CacheRef {
        count: CacheRef::NO,
        sum: CacheRef::NO,
        min: CacheRef::NO,
        max: CacheRef::NO,
    };

    fn new(offset: u32, fields: Fields) -> CacheRef {
        let mut r = CacheRef::NONE;
        let mut i = offset;
        for (bit, slot) in [
            (Fields::COUNT, &mut r.count),
            (Fields::SUM, &mut r.sum),
            (Fields::MIN, &mut r.min),
            (Fields::MAX, &mut r.max),
        ] {
            if fields.0 & bit != 0 {
                *slot = i;
                i += 1;
            }
        }
        r
    }
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
    /// The fields of `sig_cache`.
    pub sig: CacheRef,
    /// The fields of `per_cache`.
    pub per: CacheRef,
    /// Where its "active" bit is.
    pub active: Bit,
    /// `ewma`/`cusum`: offset of its state (the statistic, then the inputs consumed).
    pub det: u32,
    /// `psi`: its histogram ring.
    pub hist: Option<HistLayout>,
}

/// A `psi` rule's ring of per-bucket histograms and its window's histogram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HistLayout {
    /// Offset of the ring's head (newest bucket index).
    pub head: u32,
    /// Offset of bucket 0's counts.
    pub buckets: u32,
    /// Offset of the window's counts.
    pub cache: u32,
    /// Buckets (the rule's window).
    pub len: u32,
    /// Bins per bucket.
    pub bins: u32,
}

/// Words of one rule's timers.
const TIMER_WORDS: u32 = 5;

// Header words (the first cache line also holds the bitsets and the first caches).
const WATERMARK: usize = 0;
const WB: usize = 1;
const META: usize = 2;
const HEADER_WORDS: u32 = 3;

/// Where everything of a system's state is, for one policy.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    /// Words per system (a multiple of 8: whole cache lines).
    pub words: u32,
    stale: u32,
    levels: u32,
    first_watermark: u32,
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
                stale: Bit::default(),
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
                sig: CacheRef::NONE,
                per: CacheRef::NONE,
                active: Bit::default(),
                det: 0,
                hist: None,
            });
        }

        let bitset_words = |n: usize| n.div_ceil(64) as u64;
        let mut at: u64 = HEADER_WORDS as u64;
        let stale = at;
        at += bitset_words(ns);
        let active = at;
        at += bitset_words(rules.len());
        let bit = |base: u64, i: usize| Bit {
            at: (base + (i / 64) as u64) as u32,
            mask: 1 << (i % 64),
        };
        for (i, r) in rings.iter_mut().enumerate() {
            r.stale = bit(stale, i);
        }
        for (i, rl) in rule_layouts.iter_mut().enumerate() {
            rl.active = bit(active, i);
        }
        // The caches one observation reads sit together, right after the header: for each
        // signal, busiest first, its own caches and those of the other signal of every rule
        // it evaluates (a rate's numerator next to its denominator).
        let mut readers = vec![0usize; ns];
        for r in rules {
            for s in r.inputs() {
                readers[s as usize] += 1;
            }
        }
        let mut by_use: Vec<usize> = (0..ns).collect();
        by_use.sort_by_key(|&s| std::cmp::Reverse(readers[s]));
        let mut placed = vec![false; caches.len()];
        let mut order = Vec::with_capacity(caches.len());
        for s in by_use {
            for (r, rl) in rules.iter().zip(&rule_layouts) {
                if r.inputs().any(|i| i as usize == s) {
                    for c in [rl.per_cache, rl.sig_cache].into_iter().flatten() {
                        if !placed[c as usize] {
                            placed[c as usize] = true;
                            order.push(c as usize);
                        }
                    }
                }
            }
        }
        for c in order {
            caches[c].offset = at.min(MAX_WORDS) as u32;
            at += rings[caches[c].ring as usize].fields.stride() as u64;
        }
        let levels = at;
        at += rules.len().div_ceil(8) as u64;
        let mut last_ts = vec![None; ns];
        for (s, used) in silence.iter().enumerate() {
            if *used {
                last_ts[s] = Some(at as u32);
                at += 1;
            }
        }
        let first_watermark = at;
        at += 1;
        for (rl, r) in rule_layouts.iter_mut().zip(rules) {
            rl.timers = at.min(MAX_WORDS) as u32;
            at += TIMER_WORDS as u64;
            if r.aggregate.consumes_buckets() {
                rl.det = at.min(MAX_WORDS) as u32;
                at += 2;
            }
            if let Some(crate::policy::model::Detector::Psi { reference, .. }) = &r.detector {
                let (len, bins) = (r.window_buckets.max(1), reference.len() as u32);
                let head = at.min(MAX_WORDS) as u32;
                let buckets = head + 1;
                let cache = buckets + len * bins;
                at += 1 + (len as u64 + 1) * bins as u64;
                rl.hist = Some(HistLayout {
                    head,
                    buckets,
                    cache,
                    len,
                    bins,
                });
            }
            let cref = |c: Option<u32>| match c {
                Some(c) => {
                    let c = caches[c as usize];
                    CacheRef::new(c.offset, rings[c.ring as usize].fields)
                }
                None => CacheRef::NONE,
            };
            rl.sig = cref(rl.sig_cache);
            rl.per = cref(rl.per_cache);
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
            levels: levels as u32,
            first_watermark: first_watermark as u32,
            rings,
            caches,
            rules: rule_layouts,
            last_ts,
            template: Box::new([]),
        };
        layout.template = layout.fresh();
        Ok(layout)
    }

    /// The grade rank held in a state block's header.
    pub fn grade_of(words: &[u64]) -> u32 {
        (words[META] >> 8) as u32
    }

    /// The state of a system that has seen nothing (every timer and time unset, every
    /// bucket and cache empty).
    fn fresh(&self) -> Box<[u64]> {
        let mut a = vec![0u64; self.words as usize].into_boxed_slice();
        a[WATERMARK] = NONE as u64;
        a[self.first_watermark as usize] = NONE as u64;
        a[WB] = NONE as u64;
        for off in self.last_ts.iter().flatten() {
            a[*off as usize] = NONE as u64;
        }
        for r in &self.rules {
            let t = r.timers as usize;
            a[t..t + TIMER_WORDS as usize].fill(NONE as u64);
            if let Some(h) = r.hist {
                a[h.head as usize] = NONE as u64;
            }
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
        self.i64_at(self.layout.first_watermark as usize)
    }
    #[inline]
    pub fn set_first_watermark(&mut self, w: i64) {
        self.words[self.layout.first_watermark as usize] = w as u64;
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
    /// Marks ring `s` as behind the watermark's bucket.
    pub fn mark_ring_stale(&mut self, s: usize) {
        let b = self.layout.rings[s].stale;
        self.words[b.at as usize] |= b.mask;
    }

    /// Marks ring `s` as current.
    pub fn clear_ring_stale(&mut self, s: usize) {
        let b = self.layout.rings[s].stale;
        self.words[b.at as usize] &= !b.mask;
    }

    /// Whether ring `s` is marked behind the watermark's bucket.
    pub fn ring_stale_bit(&self, s: usize) -> bool {
        self.bit(self.layout.rings[s].stale)
    }

    /// Sets ring `s`'s head (the newest bucket index it holds).
    pub fn set_ring_head(&mut self, s: usize, head: i64) {
        let h = self.layout.rings[s].head as usize;
        if self.layout.rings[s].stores() {
            self.words[h] = head as u64;
        }
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

    /// Whether a bit of a bitset is set.
    #[inline]
    pub fn bit(&self, b: Bit) -> bool {
        self.words[b.at as usize] & b.mask != 0
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

    /// Rule `r`'s state machine (its timers are at `timers`: [`RuleLayout::timers`]).
    #[inline]
    pub fn rule_state(&self, r: usize, timers: u32) -> RuleState {
        let t = timers as usize;
        let w = &self.words[t..t + TIMER_WORDS as usize];
        RuleState {
            level: self.rule_level(r),
            met_since: [w[0] as i64, w[1] as i64, w[2] as i64, w[3] as i64],
            below_since: w[4] as i64,
        }
    }

    /// Stores rule `r`'s state machine (and whether it is quiet).
    #[inline]
    pub fn set_rule_state(&mut self, r: usize, timers: u32, st: &RuleState) {
        let t = timers as usize;
        let w = &mut self.words[t..t + TIMER_WORDS as usize];
        for (x, m) in w.iter_mut().zip(st.met_since) {
            *x = m as u64;
        }
        w[4] = st.below_since as u64;
        let li = self.layout.levels as usize + r / 8;
        let shift = (r % 8) * 8;
        self.words[li] = (self.words[li] & !(0xff << shift)) | (st.level as u64) << shift;
        let b = self.layout.rules[r].active;
        if st.is_quiet() {
            self.words[b.at as usize] &= !b.mask;
        } else {
            self.words[b.at as usize] |= b.mask;
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

    /// An `ewma`/`cusum` rule's state at `det`: (statistic, inputs consumed).
    #[inline]
    pub fn detector(&self, det: u32) -> (f64, u64) {
        let d = det as usize;
        (f64::from_bits(self.words[d]), self.words[d + 1])
    }

    #[inline]
    pub fn set_detector(&mut self, det: u32, stat: f64, consumed: u64) {
        let d = det as usize;
        self.words[d] = stat.to_bits();
        self.words[d + 1] = consumed;
    }

    /// Bucket `b`'s aggregate in ring `s`, if the ring holds that bucket as current data
    /// (its head is `b`: an observation reached it); otherwise the bucket is empty.
    pub fn bucket_if_head(&self, s: usize, b: i64) -> Agg {
        let ring = &self.layout.rings[s];
        if !ring.stores() || self.ring_head(s) != b {
            return Agg::EMPTY;
        }
        let stride = ring.fields.stride();
        let o = ring.buckets as usize + b.rem_euclid(ring.len as i64) as usize * stride;
        load_agg(&self.words[o..o + stride], ring.fields)
    }

    /// Brings a histogram ring up to the watermark's bucket: clears the buckets that left
    /// it and recomputes the window's counts.
    pub fn current_hist(&mut self, h: &HistLayout) {
        let to = self.wb();
        let head = self.i64_at(h.head as usize);
        if head == to {
            return;
        }
        let (len, bins) = (h.len as i64, h.bins as usize);
        let base = h.buckets as usize;
        if head == NONE || to.saturating_sub(head) >= len {
            self.words[base..base + len as usize * bins].fill(0f64.to_bits());
        } else if to > head {
            let mut slot = head.rem_euclid(len);
            for _ in 0..to - head {
                slot = if slot + 1 == len { 0 } else { slot + 1 };
                let o = base + slot as usize * bins;
                self.words[o..o + bins].fill(0f64.to_bits());
            }
        }
        self.words[h.head as usize] = to as u64;
        let c = h.cache as usize;
        for i in 0..bins {
            let mut n = 0.0;
            for k in 0..len as usize {
                n += f64::from_bits(self.words[base + k * bins + i]);
            }
            self.words[c + i] = n.to_bits();
        }
    }

    /// Counts one observation in bin `bin` of bucket `b` (the ring is current and `b` is
    /// inside the signal's ring), and in the window's counts when `b` is in the window.
    pub fn add_hist(&mut self, h: &HistLayout, b: i64, bin: usize) {
        let head = self.wb();
        if b <= head.saturating_sub(h.len as i64) {
            return;
        }
        let o = h.buckets as usize + b.rem_euclid(h.len as i64) as usize * h.bins as usize + bin;
        self.words[o] = (f64::from_bits(self.words[o]) + 1.0).to_bits();
        let c = h.cache as usize + bin;
        self.words[c] = (f64::from_bits(self.words[c]) + 1.0).to_bits();
    }

    /// The window's counts of a (current) histogram ring.
    pub fn hist_counts(&self, h: &HistLayout) -> &[u64] {
        let c = h.cache as usize;
        &self.words[c..c + h.bins as usize]
    }

    /// A field of a cache entry ([`CacheRef`]); `default` when the ring does not keep it.
    #[inline]
    pub fn field(&self, off: u32, default: f64) -> f64 {
        match self.words.get(off as usize) {
            Some(&w) => f64::from_bits(w),
            None => default,
        }
    }

    /// The newest bucket index ring `s` holds, or `NONE` (always for a ring that stores
    /// nothing: it has no head word, and its offset 0 is the watermark's).
    #[inline]
    pub fn ring_head(&self, s: usize) -> i64 {
        let ring = &self.layout.rings[s];
        if !ring.stores() {
            return NONE;
        }
        self.i64_at(ring.head as usize)
    }

    /// Brings ring `s` up to the watermark's bucket if it is behind (its `stale` bit is
    /// `stale`): clears the buckets that left it and recomputes its caches.
    #[inline]
    pub fn current_ring(&mut self, s: usize, stale: Bit) {
        if self.bit(stale) {
            self.advance_ring(s);
        }
    }

    #[inline(never)]
    fn advance_ring(&mut self, s: usize) {
        let ring = &self.layout.rings[s];
        self.words[ring.stale.at as usize] &= !ring.stale.mask;
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
