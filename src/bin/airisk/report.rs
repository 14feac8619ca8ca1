//! `replay --html`: one self-contained HTML file (inline CSS and SVG, no script, no external
//! resource) for operators and regulators:
//!
//! - a summary whose tiles count warning events once (a rule transition and the system
//!   transition it causes are one event; the system line is folded under its cause);
//! - every system's level over the replayed period, then per system its lanes (system
//!   level, incidents, silences and inhibition, each rule that moved) with the silenced and
//!   inhibited spans shaded, and a table of its transitions: the rule (display name and
//!   id), the value against the threshold with the comparison the rule's direction makes
//!   (`rate = 0.061 ≥ 0.05`, `mean = 0.78 ≤ 0.8`, `CUSUM S = 0.8 ≥ 0.5`), the legal basis,
//!   the actions (muted ones marked) and, without an incidents section, the reporting
//!   deadline;
//! - under a policy with incidents, a table of the incidents with every report's deadline,
//!   filing time and overdue mark.
//!
//! Layout: wide tables and timelines above 900 px; below (and on paper) compact timelines
//! and one card per row, so the deadline and the basis stay readable at 800 px. The print
//! stylesheet sets A4 pages with a running header, one system per page. Labels follow
//! `--lang zh|en|both`; fonts fall back through the common CJK families, so Chinese never
//! renders as empty boxes where one of them is installed.

use crate::common::{duration, esc, iso, num};
use crate::incidents::{ReportDue, Track, Tracker};
use airisk::policy::{Aggregate, Direction, I18n, Rule};
use airisk::replay::{Applied, Event, ReplayStats};
use airisk::{
    Action, Classification, Engine, Level, Policy, Profile, ReportKind, Scope, Silence, Transition,
};
use std::collections::HashMap;
use std::fmt::Write as _;

/// Most transitions the report keeps (a flapping log could emit millions; the report says
/// when it was cut).
const MAX_KEPT: usize = 100_000;

/// The language of the report's labels and of the names it takes from the policy.
#[derive(Clone, Copy, PartialEq, Eq, Default, Debug, clap::ValueEnum)]
pub enum Lang {
    /// Chinese
    Zh,
    /// English
    En,
    /// Both, English first
    #[default]
    Both,
}

struct SysInfo {
    id: String,
    name: Option<String>,
    operator: Option<String>,
    sector: String,
    grade: String,
    grade_name: Option<I18n>,
    score: i64,
    floors: Vec<String>,
    registered_ts: Option<i64>,
}

/// A silence as the log set it, and when it stopped applying.
struct SilenceSpan {
    silence: Silence,
    /// The time of the line that set it (it mutes nothing before it was set).
    set_at: i64,
    /// The time of the line that removed or replaced it, if any.
    removed_at: Option<i64>,
}

impl SilenceSpan {
    /// The event-time span during which it muted, if any.
    fn span(&self) -> Option<(i64, i64)> {
        let a = self.silence.starts.max(self.set_at);
        let b = self.silence.ends.min(self.removed_at.unwrap_or(i64::MAX));
        (b > a).then_some((a, b))
    }

    fn system_matches(&self, id: &str) -> bool {
        self.silence.system.as_deref().is_none_or(|s| s == id)
    }

    /// Whether it mutes this rule (of category `cat`).
    fn rule_matches(&self, rule: &str, cat: Option<&str>) -> bool {
        self.silence.rule.as_deref().is_none_or(|r| r == rule)
            && self
                .silence
                .category
                .as_deref()
                .is_none_or(|c| Some(c) == cat)
    }

    /// Whether it mutes system-scope transitions (no category or rule matcher).
    fn mutes_system(&self) -> bool {
        self.silence.category.is_none() && self.silence.rule.is_none()
    }
}

/// Collects what the report needs while the log streams by: the registered systems, the
/// silences and the transitions (never the observations).
pub struct Collector {
    policy: Policy,
    systems: Vec<SysInfo>,
    index: HashMap<String, usize>,
    transitions: Vec<Transition>,
    silences: Vec<SilenceSpan>,
    cut: u64,
}

fn color(l: Level) -> &'static str {
    match l {
        Level::None => "#e3e8ee",
        Level::Blue => "#1f6fd1",
        Level::Yellow => "#f2c200",
        Level::Orange => "#f07d00",
        Level::Red => "#d62828",
    }
}

fn level_zh(l: Level) -> &'static str {
    match l {
        Level::None => "无",
        Level::Blue => "蓝色",
        Level::Yellow => "黄色",
        Level::Orange => "橙色",
        Level::Red => "红色",
    }
}

fn level_roman(l: Level) -> &'static str {
    match l {
        Level::None => "",
        Level::Blue => "IV",
        Level::Yellow => "III",
        Level::Orange => "II",
        Level::Red => "I",
    }
}

/// Short names of actions for table cells (en, zh).
fn action_label(a: Action) -> (&'static str, &'static str) {
    match a {
        Action::Log => ("log", "记录"),
        Action::NotifyOperator => ("notify operator", "通知运营者"),
        Action::HumanReview => ("human review", "人工复核"),
        Action::Throttle => ("throttle", "限流"),
        Action::Fallback => ("fallback", "降级运行"),
        Action::Suspend => ("suspend", "暂停服务"),
        Action::ReportRegulator => ("report to regulator", "报告监管部门"),
        Action::PublicNotice => ("public notice", "向社会发布"),
    }
}

/// The quantity a rule's value is, for the comparison (en, zh).
fn quantity(r: &Rule) -> (&'static str, &'static str) {
    match r.aggregate {
        Aggregate::Count => ("count", "计数"),
        Aggregate::Sum => ("sum", "合计"),
        Aggregate::Mean => ("mean", "均值"),
        Aggregate::Max => ("max", "最大值"),
        Aggregate::Min => ("min", "最小值"),
        Aggregate::Rate if r.wilson_z.is_some() => ("rate (Wilson bound)", "比率 (Wilson 界)"),
        Aggregate::Rate => ("rate", "比率"),
        Aggregate::SilenceMs => ("silence", "静默时长"),
        Aggregate::Ewma => ("EWMA", "EWMA"),
        Aggregate::Cusum => ("CUSUM S", "CUSUM S"),
        Aggregate::Psi => ("PSI", "PSI"),
    }
}

/// A value of rule `r` for people (durations for `silence_ms`).
fn fmt_value(r: Option<&Rule>, v: f64) -> String {
    match r.map(|r| r.aggregate) {
        Some(Aggregate::SilenceMs) if v.is_finite() && v.abs() < 9.0e15 => duration(v as i64),
        _ => num(v),
    }
}

/// The labels of one language setting.
#[derive(Clone, Copy)]
struct Tx(Lang);

impl Tx {
    /// An HTML label: English, Chinese, or both (Chinese marked `lang="zh-Hans"` so the
    /// browser picks Simplified Chinese glyphs).
    fn h(self, en: &str, zh: &str) -> String {
        match self.0 {
            Lang::En => esc(en),
            Lang::Zh => format!("<span lang=\"zh-Hans\">{}</span>", esc(zh)),
            Lang::Both => format!(
                "{} <span class=\"zh\" lang=\"zh-Hans\">{}</span>",
                esc(en),
                esc(zh)
            ),
        }
    }

    /// A plain-text label (SVG titles, attributes).
    fn p(self, en: &str, zh: &str) -> String {
        match self.0 {
            Lang::En => en.to_owned(),
            Lang::Zh => zh.to_owned(),
            Lang::Both => format!("{en} · {zh}"),
        }
    }

    /// A policy display name as HTML, or `None` when the policy gives none.
    fn name(self, n: Option<&I18n>) -> Option<String> {
        let n = n?;
        let zh =
            n.zh.as_deref()
                .map(|z| format!("<span lang=\"zh-Hans\">{}</span>", esc(z)));
        let en = n.en.as_deref().map(esc);
        match (self.0, zh, en) {
            (_, None, None) => None,
            (Lang::Zh, Some(z), _) | (Lang::En, Some(z), None) => Some(z),
            (Lang::En, _, Some(e)) | (Lang::Zh, None, Some(e)) => Some(e),
            (Lang::Both, Some(z), Some(e)) => Some(format!("{z} · {e}")),
            (Lang::Both, Some(x), None) | (Lang::Both, None, Some(x)) => Some(x),
        }
    }

    /// A policy display name as plain text.
    fn name_plain(self, n: Option<&I18n>) -> Option<String> {
        let n = n?;
        match (self.0, &n.zh, &n.en) {
            (_, None, None) => None,
            (Lang::Zh, Some(z), _) | (Lang::En, Some(z), None) => Some(z.clone()),
            (Lang::En, _, Some(e)) | (Lang::Zh, None, Some(e)) => Some(e.clone()),
            (Lang::Both, Some(z), Some(e)) => Some(format!("{z} · {e}")),
            (Lang::Both, Some(x), None) | (Lang::Both, None, Some(x)) => Some(x.clone()),
        }
    }

    /// An id with its display name, the id left out where the English name only repeats
    /// it (`serious 较大 · Serious` reads `较大 · Serious`).
    fn id_name(self, id: &str, n: Option<&I18n>) -> String {
        let same = n
            .and_then(|n| n.en.as_deref())
            .is_some_and(|e| e.eq_ignore_ascii_case(id));
        match (self.0, self.name(n)) {
            (_, None) => esc(id),
            (Lang::Zh, Some(name)) => name,
            (_, Some(name)) if same => name,
            (_, Some(name)) => format!("{} {name}", esc(id)),
        }
    }

    /// A level chip.
    fn chip(self, l: Level) -> String {
        let text = match self.0 {
            Lang::En => esc(l.name()),
            Lang::Zh => format!("<span lang=\"zh-Hans\">{}</span>", level_zh(l)),
            Lang::Both if l == Level::None => "none".to_owned(),
            Lang::Both => format!("{} <span lang=\"zh-Hans\">{}</span>", l.name(), level_zh(l)),
        };
        format!("<span class=\"chip {}\">{text}</span>", l.name())
    }

    fn action(self, a: Action) -> String {
        let (en, zh) = action_label(a);
        match self.0 {
            Lang::En | Lang::Both => esc(en),
            Lang::Zh => format!("<span lang=\"zh-Hans\">{zh}</span>"),
        }
    }
}

const CSS: &str = r#"
:root { --fg: #1d2733; --muted: #5b6b7c; --line: #d5dde6;
  --font: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, "Noto Sans CJK SC", "Source Han Sans SC", "PingFang SC", "Microsoft YaHei", sans-serif; }
* { box-sizing: border-box; }
body { font: 14px/1.45 var(--font); color: var(--fg); margin: 0; background: #f6f8fa; }
header { background: #16212e; color: #fff; padding: 18px 28px; }
header h1 { margin: 0 0 4px; font-size: 22px; }
header p { margin: 0; color: #b8c4d0; }
main { padding: 16px 28px 40px; max-width: 1400px; }
section { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 14px 18px; margin: 14px 0; }
h2 { font-size: 17px; margin: 0 0 6px; }
h3 { font-size: 14px; margin: 14px 0 6px; color: var(--muted); }
.zh { font-weight: inherit; }
.meta { color: var(--muted); margin: 0 0 8px; }
.stats { display: flex; flex-wrap: wrap; gap: 10px; margin: 8px 0 0; }
.stat { background: #f0f3f7; border-radius: 6px; padding: 6px 12px; min-width: 96px; }
.stat b { display: block; font-size: 18px; }
.stat.l-red { border-left: 5px solid #d62828; } .stat.l-orange { border-left: 5px solid #f07d00; }
.stat.l-yellow { border-left: 5px solid #f2c200; } .stat.l-blue { border-left: 5px solid #1f6fd1; }
.stat.warn b { color: #b00020; }
.chip { display: inline-block; min-width: 44px; text-align: center; border-radius: 4px; padding: 0 6px;
        font-size: 12px; font-weight: 600; color: #fff; white-space: nowrap; }
.chip.none { color: #445; background: #e3e8ee; }
.chip.blue { background: #1f6fd1; } .chip.yellow { background: #f2c200; color: #222; }
.chip.orange { background: #f07d00; } .chip.red { background: #d62828; }
.grade { border: 1px solid var(--line); border-radius: 4px; padding: 0 6px; font-size: 12px; margin-left: 6px; font-weight: 600; }
table { border-collapse: collapse; width: 100%; font-size: 12.5px; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid #edf1f5; vertical-align: top; }
th { color: var(--muted); font-weight: 600; background: #fafbfc; }
td.t { white-space: nowrap; font-variant-numeric: tabular-nums; }
td.lv { white-space: nowrap; }
td.cmp { font-variant-numeric: tabular-nums; white-space: nowrap; }
td.basis { min-width: 180px; max-width: 340px; color: #33414f; }
td.due, td.reports { min-width: 150px; font-variant-numeric: tabular-nums; }
code, .id { font: 11.5px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; color: var(--muted); }
.rname { font-weight: 600; }
tr.sysline td { background: #f7f9fc; color: #33414f; font-size: 12px; padding-left: 28px; }
tr.system td { background: #f7f9fc; font-weight: 600; }
tr.muted td { background: #f4f4f6; }
.badge { display: inline-block; border-radius: 4px; padding: 0 5px; font-size: 11px; font-weight: 600; margin-left: 4px; white-space: nowrap; }
.badge.silenced { background: #e2e6ea; color: #34404c; border: 1px dashed #6b7b8c; }
.badge.inhibited { background: #f3e6d8; color: #6b3e00; border: 1px dashed #a0642b; }
.badge.esc { background: #fde2e2; color: #8b0000; }
.tl { display: block; width: 100%; height: auto; }
.tl.narrow { display: none; }
svg text { font: 11px var(--font); fill: #3a4856; }
.legend span { margin-right: 14px; white-space: nowrap; }
.legend i { display: inline-block; width: 14px; height: 10px; border-radius: 2px; margin-right: 4px; vertical-align: middle; }
.sev { display: inline-block; border-radius: 4px; padding: 0 6px; font-size: 12px; font-weight: 600; color: #fff; white-space: nowrap; }
.late { color: #b35c00; font-weight: 600; }
.overdue { color: #fff; background: #d62828; border-radius: 4px; padding: 0 5px; font-weight: 600; white-space: nowrap; }
.ok { color: #23803a; }
ul.due { margin: 0; padding-left: 16px; }
ul.due li { margin: 0 0 2px; }
.nw { white-space: nowrap; }
td.inc { font-weight: 600; min-width: 170px; }
details summary { cursor: pointer; color: var(--muted); }
footer { color: var(--muted); font-size: 12px; padding: 0 28px 24px; }
.phead { display: none; }
/* Narrow screens and paper: compact timelines, one card per table row (every cell labelled,
   nothing cut off). */
@media print, (max-width: 900px) {
  header { padding: 12px 16px; }
  header h1 { font-size: 19px; }
  main { padding: 8px 12px 24px; }
  section { padding: 10px 12px; }
  .tl.wide { display: none; }
  .tl.narrow { display: block; }
  table.cards, table.cards tbody, table.cards tr, table.cards td { display: block; width: 100%; max-width: none; min-width: 0; }
  table.cards thead { display: none; }
  table.cards tr { border: 1px solid var(--line); border-radius: 6px; margin: 0 0 8px; padding: 4px 0; break-inside: avoid; }
  table.cards tr.sysline { margin-top: -6px; border-top: 0; border-radius: 0 0 6px 6px; }
  table.cards td { display: flex; gap: 10px; border: 0; padding: 2px 10px; white-space: normal; }
  table.cards td::before { content: attr(data-label); flex: 0 0 9.5em; color: var(--muted); font-weight: 600; font-size: 11.5px; }
  table.cards tr.sysline td::before { content: none; }
  table.cards td > .v { flex: 1 1 auto; min-width: 0; overflow-wrap: anywhere; }
  tr.sysline td { padding-left: 10px; }
}
@page { size: A4; margin: 16mm 12mm 14mm;
  @top-left { content: "airisk — monitoring report · 监测预警报告"; font: 9pt var(--font); color: #5b6b7c; }
  @top-right { content: counter(page) " / " counter(pages); font: 9pt var(--font); color: #5b6b7c; } }
@media print {
  body { background: #fff; font-size: 10.5pt; -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  main { max-width: none; padding: 0; }
  header { background: #fff; color: var(--fg); border-bottom: 2px solid var(--fg); padding: 0 0 6px; }
  header p { color: var(--muted); }
  section { border: 0; border-radius: 0; padding: 0; margin: 0 0 10px; }
  section.system { break-before: page; }
  .phead { display: block; font-size: 9pt; color: var(--muted); border-bottom: 1px solid var(--line); margin: 0 0 6px; }
  details summary { display: none; }
  a { color: inherit; text-decoration: none; }
  footer { padding: 8px 0 0; }
}
"#;

/// The colour of an incident span by its severity's rank (purples, darker when graver).
fn sev_color(rank: u32) -> &'static str {
    match rank {
        0 => "#a493c9",
        1 => "#7e5cb8",
        2 => "#5b2f9c",
        _ => "#3a0f6e",
    }
}

fn sev_label(tx: Tx, t: &Track) -> String {
    tx.id_name(&t.severity, t.severity_name.as_deref())
}

fn sev_plain(t: &Track) -> String {
    match t.severity_name.as_deref().and_then(|n| n.zh.clone()) {
        Some(z) => format!("{} {z}", t.severity),
        None => t.severity.to_string(),
    }
}

/// `03-07 09:05` (month-day hour:minute, UTC) for the incidents table.
fn tiny_time(ts: i64) -> String {
    let s = iso(ts);
    format!("{} {}", &s[5..10], &s[11..16])
}

/// One report's line in the incidents table: kind and deadline (`initial by 03-07 09:05`),
/// then how it ended (filed when, filed late, cancelled, OVERDUE, not filed yet).
fn report_cell(tx: Tx, r: &ReportDue) -> String {
    let (en, zh) = match r.kind {
        ReportKind::Initial => ("initial", "初次报告"),
        ReportKind::Update => ("update", "续报"),
        ReportKind::Final => ("final", "总结报告"),
    };
    let n = if r.n > 1 {
        format!(" {}", r.n)
    } else {
        String::new()
    };
    let by = esc(&tiny_time(r.by));
    let mut s = match tx.0 {
        Lang::En => format!("<li><span class=\"nw\">{en}{n} by {by}</span>"),
        Lang::Zh => {
            format!("<li><span lang=\"zh-Hans\">{zh}{n} 时限</span> <span class=\"nw\">{by}</span>")
        }
        Lang::Both => format!(
            "<li><span class=\"zh\" lang=\"zh-Hans\">{zh}</span> <span class=\"nw\">{en}{n} by {by}</span>"
        ),
    };
    match (&r.filed, r.cancelled_at, r.overdue_at) {
        (Some((ts, false, _)), _, _) => {
            let _ = write!(
                s,
                " · <span class=\"ok\">{} <span class=\"nw\">{}</span></span>",
                tx.h("filed", "已报送"),
                esc(&tiny_time(*ts))
            );
        }
        (Some((ts, true, _)), _, _) => {
            let _ = write!(
                s,
                " · <span class=\"late\">{} <span class=\"nw\">{}</span></span>",
                tx.h("filed late", "逾期报送"),
                esc(&tiny_time(*ts))
            );
        }
        (None, Some(c), _) => {
            let _ = write!(
                s,
                " · {} <span class=\"nw\">{}</span>",
                tx.h("cancelled (reopened)", "已取消 (事件重新打开)"),
                esc(&tiny_time(c))
            );
        }
        (None, None, Some(_)) => {
            s.push_str(" · ");
            s.push_str(&overdue_mark(tx));
        }
        (None, None, None) => {
            let _ = write!(s, " · {}", tx.h("not filed yet", "尚未报送"));
        }
    }
    s.push_str("</li>");
    s
}

/// The OVERDUE mark (its Chinese beside it, not inside, in both languages).
fn overdue_mark(tx: Tx) -> String {
    match tx.0 {
        Lang::En => "<span class=\"overdue\">OVERDUE</span>".into(),
        Lang::Zh => "<span class=\"overdue\" lang=\"zh-Hans\">已超时</span>".into(),
        Lang::Both => {
            "<span class=\"overdue\">OVERDUE</span> <span class=\"zh\" lang=\"zh-Hans\">已超时</span>".into()
        }
    }
}

fn incident_title(t: &Track, end: i64) -> String {
    let mut s = format!(
        "incident {}\nseverity {}{}\nopened {}",
        t.id,
        sev_plain(t),
        if t.reportable { " (reportable)" } else { "" },
        iso(t.opened_at)
    );
    if let Some(r) = t.resolved_at {
        let _ = write!(s, "\nresolved {}", iso(r));
    }
    match t.closed_at {
        Some(c) => {
            let _ = write!(s, "\nclosed {}", iso(c));
        }
        None => {
            let _ = write!(s, "\nnot closed at the end ({})", iso(end));
        }
    }
    for r in &t.reports {
        let _ = write!(
            s,
            "\n{} report by {}: {}",
            r.file_kind(),
            iso(r.by),
            r.status()
        );
    }
    s
}

/// Tick step (ms) for an axis over `span` ms: at most `max` ticks.
fn tick_step(span: i64, max: i64) -> i64 {
    const STEPS: [i64; 12] = [
        1_000,
        10_000,
        60_000,
        300_000,
        900_000,
        3_600_000,
        10_800_000,
        21_600_000,
        43_200_000,
        86_400_000,
        172_800_000,
        604_800_000,
    ];
    for s in STEPS {
        if span / s <= max {
            return s;
        }
    }
    let mut s = 604_800_000i64;
    while span / s > max {
        s *= 2;
    }
    s
}

fn tick_label(ts: i64, step: i64) -> String {
    let full = iso(ts);
    // 2026-03-02T14:05:00Z
    let date = &full[5..10];
    let time = &full[11..16];
    if step >= 86_400_000 {
        date.to_owned()
    } else if full[11..19] == *"00:00:00" {
        format!("{date} {time}")
    } else if step < 60_000 {
        full[11..19].to_owned()
    } else {
        time.to_owned()
    }
}

/// The geometry of one rendering of a timeline: wide (screens over 900 px) or narrow
/// (narrow screens and paper), so labels keep a readable size in both.
#[derive(Clone, Copy)]
struct Geom {
    class: &'static str,
    /// Total width of the viewBox.
    total: f64,
    /// Width of the label column.
    left: f64,
    /// Most characters of a label (CJK counting two).
    label: usize,
    /// Most ticks on the axis.
    ticks: i64,
}

const WIDE: Geom = Geom {
    class: "tl wide",
    total: 1200.0,
    left: 250.0,
    label: 30,
    ticks: 12,
};
const NARROW: Geom = Geom {
    class: "tl narrow",
    total: 740.0,
    left: 170.0,
    label: 24,
    ticks: 6,
};

#[derive(Clone, Copy)]
struct Axis {
    t0: i64,
    t1: i64,
    left: f64,
    width: f64,
}

impl Axis {
    fn new(t0: i64, t1: i64, g: Geom) -> Axis {
        Axis {
            t0,
            t1,
            left: g.left,
            width: g.total - g.left - 24.0,
        }
    }

    fn x(&self, ts: i64) -> f64 {
        let span = (self.t1 - self.t0).max(1) as f64;
        self.left + ((ts - self.t0) as f64 / span).clamp(0.0, 1.0) * self.width
    }
}

/// Segments (from, to, level) of a lane whose transitions (in order) are `moves`.
fn segments(moves: &[(i64, Level)], t0: i64, t1: i64) -> Vec<(i64, i64, Level)> {
    let mut out = Vec::new();
    let mut at = t0;
    let mut level = Level::None;
    for &(ts, to) in moves {
        let ts = ts.clamp(t0, t1);
        if ts > at {
            out.push((at, ts, level));
        }
        at = at.max(ts);
        level = to;
    }
    if t1 > at || out.is_empty() {
        out.push((at, t1.max(at), level));
    }
    out
}

/// `2026-03-03 14:05` (seconds and milliseconds only when not zero), for tables.
fn short_time(ts: i64) -> String {
    let s = iso(ts);
    let s = s.trim_end_matches('Z').replacen('T', " ", 1);
    s.strip_suffix(":00").map(str::to_owned).unwrap_or(s)
}

/// Width of a label in half-width cells (CJK and other wide characters count two).
fn cells(c: char) -> usize {
    if (c as u32) >= 0x1100 { 2 } else { 1 }
}

fn truncate(s: &str, n: usize) -> String {
    let total: usize = s.chars().map(cells).sum();
    if total <= n {
        return s.to_owned();
    }
    let mut out = String::new();
    let mut w = 0;
    for c in s.chars() {
        if w + cells(c) > n.saturating_sub(1) {
            break;
        }
        w += cells(c);
        out.push(c);
    }
    out.push('…');
    out
}

/// The comparison that a transition's new level rests on, in the rule's terms:
/// `rate = 0.061 ≥ 0.05` (raised), `mean = 0.83 ≤ 0.85 (0.8 + 5 % hysteresis)` (lowered
/// to a level it still holds), `rate = 0.02 < 0.045 (…)` (cleared), `window empty`.
fn comparison(tx: Tx, t: &Transition, rule: Option<&Rule>) -> String {
    if t.reason.as_deref() == Some("policy_reload") {
        return tx.p(
            "policy reload: rule reset or removed",
            "策略重载：规则重置或移除",
        );
    }
    let Some(r) = rule else {
        // A rule the report's policy does not know (a reload added it): plain numbers.
        return match (t.value, t.threshold) {
            (Some(v), Some(th)) => {
                format!("{} · {} {}", num(v), tx.p("threshold", "阈值"), num(th))
            }
            (Some(v), None) => num(v),
            _ => "—".into(),
        };
    };
    let (q_en, q_zh) = quantity(r);
    let q = if tx.0 == Lang::Zh { q_zh } else { q_en };
    let Some(v) = t.value else {
        return tx.p("window empty (no value)", "窗口内无数据");
    };
    let v_s = fmt_value(Some(r), v);
    let above = r.direction == Direction::Above;
    let h = r.hysteresis;
    let pct = num(h * 100.0);
    if t.to > t.from {
        let th = t
            .threshold
            .map(|x| fmt_value(Some(r), x))
            .unwrap_or("?".into());
        return format!("{q} = {v_s} {} {th}", if above { "≥" } else { "≤" });
    }
    let thresholds = r.thresholds.get(t.grade as usize);
    if t.to == Level::None {
        // No level at or below the old one is held: the value is past the lowest used
        // threshold's holding bound.
        let low = thresholds.and_then(|ts| ts.iter().flatten().next().copied());
        return match low {
            Some(tl) => {
                let bound = if above {
                    tl * (1.0 - h)
                } else {
                    tl * (1.0 + h)
                };
                let mut s = format!(
                    "{q} = {v_s} {} {}",
                    if above { "<" } else { ">" },
                    fmt_value(Some(r), bound)
                );
                if h > 0.0 {
                    let _ = write!(
                        s,
                        " ({} {} {pct} %)",
                        fmt_value(Some(r), tl),
                        if above { "−" } else { "+" }
                    );
                }
                s
            }
            None => format!("{q} = {v_s}"),
        };
    }
    // Lowered to a level it still holds.
    match t.threshold {
        Some(th) => {
            let bound = if above {
                th * (1.0 - h)
            } else {
                th * (1.0 + h)
            };
            let mut s = format!(
                "{q} = {v_s} {} {}",
                if above { "≥" } else { "≤" },
                fmt_value(Some(r), bound)
            );
            if h > 0.0 {
                let _ = write!(
                    s,
                    " ({} {} {pct} %)",
                    fmt_value(Some(r), th),
                    if above { "−" } else { "+" }
                );
            }
            s
        }
        None => format!("{q} = {v_s}"),
    }
}

/// The detector's parameters, for a hover title (read from the policy document).
fn detector_note(policy: &Policy, r: &Rule) -> Option<String> {
    let doc = policy
        .source()
        .get("rules")?
        .as_array()?
        .iter()
        .find(|x| x.get("id").and_then(|i| i.as_str()) == Some(&*r.id))?;
    let f = |k: &str| doc.get(k).and_then(serde_json::Value::as_f64).map(num);
    match r.aggregate {
        Aggregate::Ewma => Some(format!(
            "EWMA of closed buckets, alpha {}",
            f("alpha").unwrap_or_default()
        )),
        Aggregate::Cusum => Some(format!(
            "CUSUM of closed buckets, target {}, slack {}, side {}",
            f("target").unwrap_or_default(),
            f("slack").unwrap_or_else(|| "0".into()),
            doc.get("side").and_then(|v| v.as_str()).unwrap_or("up")
        )),
        Aggregate::Psi => Some(format!(
            "population stability index over the window, {} bins against the reference",
            doc.get("reference")
                .and_then(|v| v.as_array())
                .map_or(0, Vec::len)
        )),
        _ => None,
    }
}

fn transition_title(t: &Transition, rule: Option<&Rule>) -> String {
    let mut s = format!(
        "{}  {}\n{} → {}",
        iso(t.ts),
        t.rule_id.as_deref().unwrap_or("system level"),
        t.from,
        t.to
    );
    if t.scope == Scope::Rule {
        let _ = write!(s, "\n{}", comparison(Tx(Lang::En), t, rule));
    }
    if !t.actions.is_empty() {
        let a: Vec<&str> = t.actions.iter().map(|a| a.name()).collect();
        let _ = write!(s, "\nactions: {}", a.join(", "));
    }
    if let Some(id) = &t.silenced {
        let _ = write!(s, "\nsilenced by {id}");
    }
    if let Some(id) = &t.inhibited_by {
        let _ = write!(s, "\ninhibited by {id}");
    }
    if let Some(r) = t.report_within_s {
        let _ = write!(s, "\nreport within {}", duration(r * 1000));
    }
    s
}

/// One row of a system's transitions table: a rule transition, with the system transition
/// it caused folded under it; or a system transition with no rule transition before it.
struct Row<'a> {
    t: &'a Transition,
    system: Option<&'a Transition>,
    /// The system line raised the level above every rule's (escalation).
    escalated: bool,
}

/// Groups a system's transitions (in emission order) into rows: a system line comes right
/// after the rule transitions of its evaluation (same time, the next `seq`) and is folded
/// under the last of them.
fn rows<'a>(ts: &[&'a Transition]) -> Vec<Row<'a>> {
    let mut out: Vec<Row<'a>> = Vec::new();
    let mut levels: HashMap<u32, Level> = HashMap::new();
    for &t in ts {
        match (t.scope, t.rule) {
            (Scope::Rule, Some(r)) => {
                levels.insert(r, t.to);
                out.push(Row {
                    t,
                    system: None,
                    escalated: false,
                });
            }
            _ => {
                let top = levels.values().copied().max().unwrap_or(Level::None);
                let escalated = t.to > top;
                match out.last_mut() {
                    Some(last)
                        if last.system.is_none()
                            && last.t.scope == Scope::Rule
                            && last.t.ts == t.ts
                            && last.t.seq + 1 == t.seq =>
                    {
                        last.system = Some(t);
                        last.escalated = escalated;
                    }
                    _ => out.push(Row {
                        t,
                        system: None,
                        escalated,
                    }),
                }
            }
        }
    }
    out
}

/// Warning events counted once: rule transitions that raised a level (by new level), rule
/// transitions back to none, escalations, muted rule transitions.
#[derive(Default)]
struct Counts {
    raised: [u64; 5],
    lowered: u64,
    cleared: u64,
    escalations: u64,
    silenced: u64,
    inhibited: u64,
}

impl Counts {
    fn add(&mut self, rows: &[Row<'_>]) {
        for r in rows {
            let t = r.t;
            if t.scope == Scope::Rule {
                if t.to > t.from {
                    self.raised[t.to as usize] += 1;
                } else if t.to == Level::None {
                    self.cleared += 1;
                } else {
                    self.lowered += 1;
                }
                self.silenced += t.silenced.is_some() as u64;
                self.inhibited += t.inhibited_by.is_some() as u64;
            }
            if r.escalated && (r.system.is_some() || t.scope == Scope::System) {
                self.escalations += 1;
            }
        }
    }
}

impl Collector {
    /// An empty collector.
    pub fn new(policy: &Policy) -> Collector {
        Collector {
            policy: policy.clone(),
            systems: Vec::new(),
            index: HashMap::new(),
            transitions: Vec::new(),
            silences: Vec::new(),
            cut: 0,
        }
    }

    /// A system was registered.
    pub fn register(&mut self, p: &Profile, c: &Classification, ts: Option<i64>) {
        let grade_name = self.policy.grade(&c.grade).map(|g| g.name.clone());
        self.index.insert(p.id.clone(), self.systems.len());
        self.systems.push(SysInfo {
            id: p.id.clone(),
            name: p.name.clone(),
            operator: p.operator.clone(),
            sector: p.sector.clone(),
            grade: c.grade.to_string(),
            grade_name,
            score: c.score,
            floors: c.floors.iter().map(|f| f.id.to_string()).collect(),
            registered_ts: ts,
        });
    }

    /// An event was applied: keeps what the report shows of silences.
    pub fn applied(&mut self, event: &Event<'_>, result: &Applied) {
        match (event, result) {
            (Event::Silence { ts, silence }, Applied::Silenced) => {
                // Setting an id that is set replaces it.
                for s in self.silences.iter_mut() {
                    if s.silence.id == silence.id && s.removed_at.is_none() {
                        s.removed_at = Some(*ts);
                    }
                }
                self.silences.push(SilenceSpan {
                    silence: (**silence).clone(),
                    set_at: *ts,
                    removed_at: None,
                });
            }
            (Event::Unsilence { ts, id }, Applied::Unsilenced) => {
                for s in self.silences.iter_mut() {
                    if s.silence.id == **id && s.removed_at.is_none() {
                        s.removed_at = Some(*ts);
                    }
                }
            }
            _ => {}
        }
    }

    /// A transition was emitted.
    pub fn transition(&mut self, t: &Transition) {
        if self.transitions.len() < MAX_KEPT {
            self.transitions.push(t.clone());
        } else {
            self.cut += 1;
        }
    }

    fn rule(&self, t: &Transition) -> Option<&Rule> {
        self.policy.rule(t.rule_id.as_deref()?)
    }

    /// The whole HTML document.
    pub fn render(
        &self,
        source: &str,
        stats: &ReplayStats,
        engine: &Engine,
        incidents: Option<&Tracker>,
        lang: Lang,
    ) -> String {
        let tx = Tx(lang);
        let mut h = String::with_capacity(64 << 10);
        let (t0, t1) = match (stats.first_ts, stats.last_ts) {
            (Some(a), Some(b)) if b > a => (a, b),
            (Some(a), _) => (a, a + 60_000),
            _ => (0, 60_000),
        };
        let policy_word = match lang {
            Lang::En => "policy",
            Lang::Zh => "策略",
            Lang::Both => "policy 策略",
        };
        let policy_label = match self.policy.version() {
            Some(v) => format!("{policy_word} {v}"),
            None => format!("{policy_word} (no version)"),
        };
        let _ = write!(
            h,
            "<!DOCTYPE html>\n<html lang=\"{}\">\n<head>\n<meta charset=\"utf-8\">\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
             <meta name=\"color-scheme\" content=\"light\">\n\
             <title>airisk report — {}</title>\n<style>{CSS}</style>\n</head>\n<body>\n",
            if lang == Lang::Zh { "zh-Hans" } else { "en" },
            esc(source)
        );
        let _ = write!(
            h,
            "<header><h1>airisk — {}</h1><p>{} · {} · {} → {} ({})</p></header>\n<main>\n",
            tx.h("monitoring report", "监测预警报告"),
            esc(source),
            esc(&policy_label),
            esc(&iso(t0)),
            esc(&iso(t1)),
            esc(&duration(t1 - t0))
        );

        // Per system, its transitions in emission order, and their rows.
        let mut by_sys: HashMap<&str, Vec<&Transition>> = HashMap::new();
        for t in &self.transitions {
            by_sys.entry(&t.system_id).or_default().push(t);
        }
        let mut counts = Counts::default();
        for s in &self.systems {
            if let Some(ts) = by_sys.get(s.id.as_str()) {
                counts.add(&rows(ts));
            }
        }

        // Summary.
        let mut at_end = [0u64; 5];
        let mut end_level: HashMap<&str, Level> = HashMap::new();
        for hd in engine.systems() {
            if let (Ok(l), Some(id)) = (engine.system_level(hd), engine.system_id(hd)) {
                at_end[l as usize] += 1;
                if let Some(&i) = self.index.get(&*id) {
                    end_level.insert(&self.systems[i].id, l);
                }
            }
        }
        let _ = write!(
            h,
            "<section id=\"summary\"><h2>{}</h2><div class=\"stats\">",
            tx.h("Summary", "概况")
        );
        let stat = |h: &mut String, n: u64, label: String, class: &str| {
            let _ = write!(h, "<div class=\"stat {class}\"><b>{n}</b>{label}</div>");
        };
        stat(&mut h, stats.events, tx.h("events read", "读取事件"), "");
        stat(&mut h, stats.accepted, tx.h("accepted", "已接受"), "");
        stat(
            &mut h,
            stats.rejected_total(),
            tx.h("rejected", "已拒绝"),
            if stats.rejected_total() > 0 {
                "warn"
            } else {
                ""
            },
        );
        stat(
            &mut h,
            self.systems.len() as u64,
            tx.h("systems", "系统"),
            "",
        );
        for l in Level::WARNINGS.iter().rev() {
            stat(
                &mut h,
                counts.raised[*l as usize],
                tx.h(
                    &format!("{} warnings", l.name()),
                    &format!("{}预警", level_zh(*l)),
                ),
                &format!("l-{}", l.name()),
            );
        }
        if counts.escalations > 0 {
            stat(
                &mut h,
                counts.escalations,
                tx.h("escalations", "系统级升级"),
                "",
            );
        }
        stat(&mut h, counts.cleared, tx.h("cleared", "解除"), "");
        if counts.silenced + counts.inhibited > 0 {
            stat(&mut h, counts.silenced, tx.h("silenced", "静默"), "");
            stat(&mut h, counts.inhibited, tx.h("inhibited", "抑制"), "");
        }
        if incidents.is_some() {
            let c = &stats.incidents;
            stat(
                &mut h,
                c.incidents.len() as u64,
                tx.h("incidents", "事件"),
                "",
            );
            stat(&mut h, c.reportable(), tx.h("reportable", "需报告"), "");
            stat(
                &mut h,
                c.filed_on_time,
                tx.h("reports on time", "按时报送"),
                "",
            );
            stat(
                &mut h,
                c.filed_late,
                tx.h("filed late", "逾期报送"),
                if c.filed_late > 0 { "warn" } else { "" },
            );
            stat(
                &mut h,
                c.overdue,
                tx.h("deadlines missed", "超时未报"),
                if c.overdue > 0 { "warn" } else { "" },
            );
        }
        let _ = write!(
            h,
            "</div><p class=\"meta\" style=\"margin-top:10px\">{}</p><p class=\"meta\">{}: {} · {}: ",
            tx.h(
                "A warning event is one rule transition; the system-level transition it causes is shown under it and not counted again.",
                "一次预警事件即一条规则级别变化；由其引起的系统级别变化列于其下，不重复计数。"
            ),
            tx.h("Transition lines in all (rule and system)", "级别变化记录总数 (规则与系统)"),
            stats.transitions_total(),
            tx.h("systems at the end", "结束时各级系统数"),
        );
        for l in Level::ALL.iter().rev() {
            let _ = write!(h, "{} {} &nbsp; ", tx.chip(*l), at_end[*l as usize]);
        }
        h.push_str("</p>");
        self.legend(&mut h, tx);
        h.push_str("</section>\n");

        // Overview: every system's level on one chart.
        let _ = write!(
            h,
            "<section id=\"overview\"><h2>{}</h2>",
            tx.h("All systems", "系统预警级别")
        );
        for g in [WIDE, NARROW] {
            self.overview_svg(&mut h, &Axis::new(t0, t1, g), g, tx);
        }
        h.push_str("</section>\n");
        if let Some(k) = incidents {
            self.incidents_table(&mut h, k, tx);
        }

        // One section per system.
        let mut incs: HashMap<&str, Vec<&Track>> = HashMap::new();
        for t in incidents.iter().flat_map(|k| k.tracks.iter()) {
            incs.entry(&t.system).or_default().push(t);
        }
        for s in &self.systems {
            let ts = by_sys.get(s.id.as_str()).map(Vec::as_slice).unwrap_or(&[]);
            let is = incs.get(s.id.as_str()).map(Vec::as_slice).unwrap_or(&[]);
            self.system_section(
                &mut h,
                s,
                ts,
                is,
                (t0, t1),
                end_level.get(s.id.as_str()).copied(),
                tx,
            );
        }
        if self.cut > 0 {
            let _ = write!(
                h,
                "<section><p>The report kept the first {MAX_KEPT} transitions; {} more are not shown (they are all on stdout).</p></section>",
                self.cut
            );
        }
        let _ = write!(
            h,
            "</main>\n<footer>{} airisk {} (<code>airisk replay --html</code>). {}</footer>\n</body>\n</html>\n",
            tx.h("Generated by", "生成工具"),
            env!("CARGO_PKG_VERSION"),
            tx.h(
                "Times are UTC. Hover a mark, a band, an incident or a shaded span for its details.",
                "时间为 UTC。将指针悬停在标记、色带、事件或阴影区间上可查看详情。"
            )
        );
        h
    }

    fn legend(&self, h: &mut String, tx: Tx) {
        h.push_str("<p class=\"legend meta\">");
        for l in Level::ALL {
            let label = match tx.0 {
                Lang::En => format!("{} {}", l.name(), level_roman(l)),
                Lang::Zh => format!("{} {}", level_zh(l), level_roman(l)),
                Lang::Both => format!("{} ({} {})", l.name(), level_zh(l), level_roman(l)),
            };
            let _ = write!(
                h,
                "<span><i style=\"background:{}\"></i>{}</span>",
                color(l),
                esc(label.trim())
            );
        }
        let _ = write!(
            h,
            "<span><i style=\"background:#6b7b8c;opacity:.35;outline:1px dashed #34404c\"></i>{}</span>\
             <span><i style=\"background:#a0642b;opacity:.35;outline:1px dashed #6b3e00\"></i>{}</span>\
             <span>◆ {} · ○ {}</span></p>",
            tx.h("silenced", "静默"),
            tx.h("inhibited", "抑制"),
            tx.h("rule raised", "规则升级"),
            tx.h("rule lowered", "规则降级")
        );
    }

    fn axis_svg(&self, h: &mut String, a: &Axis, g: Geom, top: f64, bottom: f64) {
        let step = tick_step(a.t1 - a.t0, g.ticks);
        let mut t = a.t0.div_euclid(step) * step;
        if t < a.t0 {
            t += step;
        }
        while t <= a.t1 {
            let x = a.x(t);
            let _ = write!(
                h,
                "<line x1=\"{x:.1}\" y1=\"{top:.1}\" x2=\"{x:.1}\" y2=\"{bottom:.1}\" stroke=\"#c9d2dc\" stroke-width=\"1\" stroke-dasharray=\"2 3\"/>\
                 <text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
                bottom + 13.0,
                esc(&tick_label(t, step))
            );
            t += step;
        }
    }

    fn lane(
        &self,
        h: &mut String,
        a: &Axis,
        y: f64,
        height: f64,
        moves: &[&Transition],
        tooltip_prefix: &str,
    ) {
        let steps: Vec<(i64, Level)> = moves.iter().map(|t| (t.ts, t.to)).collect();
        for (from, to, level) in segments(&steps, a.t0, a.t1) {
            let x0 = a.x(from);
            let x1 = a.x(to).max(x0 + 0.8);
            let _ = write!(
                h,
                "<rect x=\"{x0:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{height:.1}\" fill=\"{}\"><title>{}{} from {} to {} ({})</title></rect>",
                x1 - x0,
                color(level),
                esc(tooltip_prefix),
                level,
                esc(&iso(from)),
                esc(&iso(to)),
                esc(&duration(to - from))
            );
        }
    }

    /// A shaded span over a lane (silenced or inhibited).
    fn shade(
        h: &mut String,
        a: &Axis,
        span: (i64, i64),
        y: f64,
        height: f64,
        kind: Muting,
        title: &str,
    ) {
        if span.1 <= a.t0 || span.0 >= a.t1 {
            return;
        }
        let x0 = a.x(span.0);
        let x1 = a.x(span.1).max(x0 + 2.0);
        let (fill, stroke) = match kind {
            Muting::Silence => ("#6b7b8c", "#34404c"),
            Muting::Inhibit => ("#a0642b", "#6b3e00"),
        };
        let _ = write!(
            h,
            "<rect class=\"{}\" x=\"{x0:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{fill}\" fill-opacity=\"0.3\" stroke=\"{stroke}\" stroke-width=\"1\" stroke-dasharray=\"3 2\"><title>{}</title></rect>",
            match kind {
                Muting::Silence => "shade-silenced",
                Muting::Inhibit => "shade-inhibited",
            },
            y - 1.0,
            x1 - x0,
            height + 2.0,
            esc(title)
        );
    }

    fn overview_svg(&self, h: &mut String, a: &Axis, g: Geom, tx: Tx) {
        let row = 26.0;
        let top = 8.0;
        let n = self.systems.len().max(1) as f64;
        let height = top + n * row + 24.0;
        let _ = write!(
            h,
            "<svg class=\"{}\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {} {height:.0}\" role=\"img\" aria-label=\"{}\">",
            g.class,
            g.total,
            esc(&tx.p("system levels over time", "各系统预警级别随时间变化"))
        );
        let mut sys_moves: HashMap<&str, Vec<&Transition>> = HashMap::new();
        for t in self.transitions.iter().filter(|t| t.scope == Scope::System) {
            sys_moves.entry(&t.system_id).or_default().push(t);
        }
        for (i, s) in self.systems.iter().enumerate() {
            let y = top + i as f64 * row;
            let grade = match (tx.0, tx.name_plain(s.grade_name.as_ref())) {
                (Lang::Zh, Some(n)) => n,
                _ => s.grade.clone(),
            };
            let _ = write!(
                h,
                "<text x=\"4\" y=\"{:.1}\"><a href=\"#sys-{}\">{}</a></text><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"#6b7b8c\">{}</text>",
                y + 15.0,
                i,
                esc(&truncate(&s.id, g.label - 8)),
                a.left - 8.0,
                y + 15.0,
                esc(&truncate(&grade, if g.total > 1000.0 { 11 } else { 9 }))
            );
            let moves = sys_moves
                .get(s.id.as_str())
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            self.lane(h, a, y + 3.0, row - 8.0, moves, &format!("{}: ", s.id));
        }
        self.axis_svg(h, a, g, top, top + n * row);
        h.push_str("</svg>");
    }

    fn incidents_table(&self, h: &mut String, k: &Tracker, tx: Tx) {
        let _ = write!(
            h,
            "<section id=\"incidents\"><h2>{}</h2>",
            tx.h("Incidents and reports", "事件与报告")
        );
        if k.tracks.is_empty() {
            let _ = writeln!(
                h,
                "<p class=\"meta\">{}</p></section>",
                tx.h(
                    "No incident opened: no warning reached the level that opens one.",
                    "未发生事件：没有预警达到开启事件的级别。"
                )
            );
            return;
        }
        let n = k.tracks.len();
        let en = format!(
            "{n} {}. Each report owed is listed with its deadline and when it was filed; OVERDUE marks one not filed when its deadline passed. Spans on each system's timeline run from opening to closing (or the end of the log).",
            if n == 1 { "incident" } else { "incidents" }
        );
        let zh = "每份应报报告列出时限与报送时间；已超时表示时限届满仍未报送。各系统时间轴上的色带从事件开启到关闭 (或日志结束)。";
        let _ = write!(
            h,
            "<p class=\"meta\">{}</p>",
            match tx.0 {
                Lang::En => esc(&en),
                Lang::Zh => format!("<span lang=\"zh-Hans\">{n} 起事件。{zh}</span>"),
                Lang::Both => format!(
                    "{} <span class=\"zh\" lang=\"zh-Hans\">{zh}</span>",
                    esc(&en)
                ),
            }
        );
        let cols = [
            tx.h("Incident", "事件"),
            tx.h("Severity", "事件级别"),
            tx.h("Opened", "开启"),
            tx.h("Acknowledged", "确认"),
            tx.h("Reports: due by · filed", "报告：时限 · 报送"),
            tx.h("State", "状态"),
        ];
        h.push_str("<table class=\"cards incidents\"><thead><tr>");
        for c in &cols {
            let _ = write!(h, "<th>{c}</th>");
        }
        h.push_str("</tr></thead><tbody>");
        let label = |i: usize| esc(&strip_tags(&cols[i]));
        for t in &k.tracks {
            let sys_ix = self.index.get(&*t.system).copied().unwrap_or(0);
            let ack = match (&t.acknowledged, t.ack_overdue_at) {
                (Some((ts, by)), late) => format!(
                    "<span class=\"nw\">{}</span> {} {}{}",
                    esc(&tiny_time(*ts)),
                    tx.h("by", "由"),
                    esc(by),
                    if late.is_some() {
                        format!(" <span class=\"late\">({})</span>", tx.h("late", "逾期"))
                    } else {
                        String::new()
                    }
                ),
                (None, Some(_)) => overdue_mark(tx),
                (None, None) => match t.ack_by {
                    Some(b) if t.closed_at.is_none() => format!(
                        "{} <span class=\"nw\">{}</span>",
                        tx.h("not yet, due by", "尚未确认，时限"),
                        esc(&tiny_time(b))
                    ),
                    _ => "—".into(),
                },
            };
            let reports = if t.reports.is_empty() {
                format!("— {}", tx.h("(not reportable)", "(无需报告)"))
            } else {
                format!(
                    "<ul class=\"due\">{}</ul>",
                    t.reports
                        .iter()
                        .map(|r| report_cell(tx, r))
                        .collect::<String>()
                )
            };
            let state = match (t.closed_at, t.resolved_at) {
                (Some(c), _) => format!("{} {}", tx.h("closed", "已关闭"), esc(&tiny_time(c))),
                (None, Some(r)) => format!("{} {}", tx.h("resolved", "已解除"), esc(&tiny_time(r))),
                (None, None) => tx.h("open", "进行中"),
            };
            let category = match tx.name(t.category_name.as_deref()) {
                Some(n) => format!("{n} <code>{}</code>", esc(&t.category)),
                None => format!("<code>{}</code>", esc(&t.category)),
            };
            let _ = write!(
                h,
                "<tr><td class=\"inc\" data-label=\"{}\"><span class=\"v\">{}<br><a href=\"#sys-{sys_ix}\">{}</a> · {category}</span></td>\
                 <td data-label=\"{}\"><span class=\"v\"><span class=\"sev\" style=\"background:{}\">{}</span></span></td>\
                 <td class=\"t\" data-label=\"{}\"><span class=\"v\">{}</span></td>\
                 <td data-label=\"{}\"><span class=\"v\">{ack}</span></td>\
                 <td class=\"reports due\" data-label=\"{}\"><span class=\"v\">{reports}</span></td>\
                 <td class=\"t\" data-label=\"{}\"><span class=\"v\">{state}</span></td></tr>",
                label(0),
                // Break long ids after each `/`.
                esc(&t.id).replace('/', "/<wbr>"),
                esc(&t.system),
                label(1),
                sev_color(t.severity_rank),
                sev_label(tx, t),
                label(2),
                esc(&tiny_time(t.opened_at)),
                label(3),
                label(4),
                label(5),
            );
        }
        h.push_str("</tbody></table></section>\n");
    }

    /// The silences and inhibitions that touched system `s`: (span, kind, title, mutes the
    /// system line, which rule ids it mutes: `None` = every rule).
    fn mutings(&self, s: &SysInfo, ts: &[&Transition]) -> Vec<Muted<'_>> {
        let mut out = Vec::new();
        for sp in &self.silences {
            if !sp.system_matches(&s.id) {
                continue;
            }
            let Some(span) = sp.span() else { continue };
            let x = &sp.silence;
            let mut title = format!("silence {} from {} to {}", x.id, iso(span.0), iso(span.1));
            for (k, v) in [("category", &x.category), ("rule", &x.rule)] {
                if let Some(v) = v {
                    let _ = write!(title, "\n{k} {v}");
                }
            }
            if let Some(r) = &x.reason {
                let _ = write!(title, "\nreason: {r}");
            }
            if let Some(b) = &x.by {
                let _ = write!(title, "\nset by {b}");
            }
            title.push_str("\nactions reduced to log; levels, incidents and deadlines unchanged");
            out.push(Muted {
                span,
                kind: Muting::Silence,
                label: x.id.clone(),
                title,
                silence: Some(sp),
                inhibit_targets: Vec::new(),
            });
        }
        // Inhibitions: while the source rule is at or above `at_least`.
        for inh in self.policy.inhibit() {
            let Some(src) = self.policy.rules().get(inh.source_rule as usize) else {
                continue;
            };
            let targets: Vec<String> = inh
                .targets
                .iter()
                .filter_map(|&c| self.policy.categories().get(c as usize))
                .map(|c| c.id.to_string())
                .collect();
            let mut since: Option<i64> = None;
            let mut spans = Vec::new();
            for t in ts.iter().filter(|t| t.rule_id.as_deref() == Some(&*src.id)) {
                match (since, t.to >= inh.at_least) {
                    (None, true) => since = Some(t.ts),
                    (Some(a), false) => {
                        spans.push((a, t.ts));
                        since = None;
                    }
                    _ => {}
                }
            }
            if let Some(a) = since {
                spans.push((a, i64::MAX));
            }
            for span in spans {
                out.push(Muted {
                    span,
                    kind: Muting::Inhibit,
                    label: inh.id.to_string(),
                    title: format!(
                        "inhibition {} while {} ≥ {}{}\ntarget categories: {}\nactions reduced to log; levels, incidents and deadlines unchanged",
                        inh.id,
                        src.id,
                        inh.at_least,
                        inh.basis.as_deref().map(|b| format!(" ({b})")).unwrap_or_default(),
                        targets.join(", ")
                    ),
                    silence: None,
                    inhibit_targets: targets.clone(),
                });
            }
        }
        out
    }

    #[allow(clippy::too_many_arguments)]
    fn system_section(
        &self,
        h: &mut String,
        s: &SysInfo,
        ts: &[&Transition],
        incs: &[&Track],
        period: (i64, i64),
        end: Option<Level>,
        tx: Tx,
    ) {
        let i = self.index.get(&s.id).copied().unwrap_or(0);
        let _ = write!(
            h,
            "<section class=\"system\" id=\"sys-{i}\"><div class=\"phead\">{} · {}</div><h2>{}",
            esc(&s.id),
            tx.h("monitoring report", "监测预警报告"),
            esc(&s.id)
        );
        if let Some(n) = &s.name {
            let _ = write!(h, " — {}", esc(n));
        }
        let _ = write!(
            h,
            "<span class=\"grade\">{} {}</span>",
            tx.h("grade", "分级"),
            tx.id_name(&s.grade, s.grade_name.as_ref()),
        );
        if let Some(l) = end {
            let _ = write!(h, " {}", tx.chip(l));
        }
        h.push_str("</h2><p class=\"meta\">");
        let mut meta = vec![
            format!("{} {}", tx.p("sector", "行业"), s.sector),
            format!("{} {}", tx.p("score", "评分"), s.score),
        ];
        if !s.floors.is_empty() {
            meta.push(format!(
                "{} {}",
                tx.p("floors", "下限"),
                s.floors.join(", ")
            ));
        }
        if let Some(o) = &s.operator {
            meta.push(o.clone());
        }
        if let Some(t) = s.registered_ts {
            meta.push(format!("{} {}", tx.p("registered", "登记"), iso(t)));
        }
        // Zoom on the system's own transitions (the overview shows the whole period).
        let (mut z0, mut z1) = period;
        if let (Some(lo), Some(hi)) = (ts.iter().map(|t| t.ts).min(), ts.iter().map(|t| t.ts).max())
        {
            let pad = ((hi - lo) / 8).max(3_600_000);
            let hour = 3_600_000;
            let a0 = ((lo - pad).div_euclid(hour) * hour).max(period.0);
            let a1 = (((hi + pad) + hour - 1).div_euclid(hour) * hour).min(period.1);
            if a1 > a0 && (a0 > period.0 || a1 < period.1) {
                meta.push(format!(
                    "{} {} → {}",
                    tx.p("timeline", "时间轴"),
                    short_time(a0),
                    short_time(a1)
                ));
                (z0, z1) = (a0, a1);
            }
        }
        let rows = rows(ts);
        let mut c = Counts::default();
        c.add(&rows);
        let raised: u64 = c.raised.iter().sum();
        let events = if raised == 1 {
            "warning event"
        } else {
            "warning events"
        };
        meta.push(match tx.0 {
            Lang::En => format!("{raised} {events}, {} cleared", c.cleared),
            Lang::Zh => format!("{raised} 次预警事件，{} 次解除", c.cleared),
            Lang::Both => format!(
                "{raised} {events}, {} cleared · {raised} 次预警，{} 次解除",
                c.cleared, c.cleared
            ),
        });
        if !incs.is_empty() {
            let word = if incs.len() == 1 {
                "incident"
            } else {
                "incidents"
            };
            meta.push(format!("{} {}", incs.len(), tx.p(word, "起事件")));
        }
        h.push_str(&esc(&meta.join(" · ")));
        h.push_str("</p>");

        let mutings = self.mutings(s, ts);
        for g in [WIDE, NARROW] {
            self.system_svg(h, s, ts, incs, &mutings, Axis::new(z0, z1, g), g, tx);
        }

        if ts.is_empty() {
            let _ = write!(
                h,
                "<p class=\"meta\">{}</p>",
                tx.h(
                    "No transition: this system stayed at level none.",
                    "无级别变化：该系统始终处于无预警状态。"
                )
            );
        } else {
            self.transitions_table(h, &rows, tx);
        }
        h.push_str("</section>\n");
    }

    #[allow(clippy::too_many_arguments)]
    fn system_svg(
        &self,
        h: &mut String,
        s: &SysInfo,
        ts: &[&Transition],
        incs: &[&Track],
        mutings: &[Muted],
        a: Axis,
        g: Geom,
        tx: Tx,
    ) {
        // Lanes: the system level, incidents, muting, then each rule that moved, in
        // policy order.
        let mut rules: Vec<(u32, &str, Option<&str>)> = Vec::new();
        for t in ts.iter().filter(|t| t.scope == Scope::Rule) {
            if let (Some(r), Some(id)) = (t.rule, t.rule_id.as_deref()) {
                if !rules.iter().any(|(x, _, _)| *x == r) {
                    rules.push((r, id, t.category.as_deref()));
                }
            }
        }
        rules.sort();
        let sys_row = 26.0;
        let row = 20.0;
        let top = 6.0;
        let inc_row = if incs.is_empty() { 0.0 } else { row };
        let mute_row = if mutings.is_empty() { 0.0 } else { row };
        let lanes_top = top + sys_row + inc_row + mute_row;
        let bottom = lanes_top + rules.len() as f64 * row + 4.0;
        let _ = write!(
            h,
            "<svg class=\"{}\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {} {:.0}\" role=\"img\" aria-label=\"{} {}\">",
            g.class,
            g.total,
            bottom + 22.0,
            esc(&tx.p("levels of", "预警级别：")),
            esc(&s.id)
        );
        let _ = write!(
            h,
            "<text x=\"4\" y=\"{:.1}\" style=\"font-weight:600\">{}</text>",
            top + 17.0,
            esc(&tx.p("system level", "系统级别"))
        );
        let sys_moves: Vec<&Transition> = ts
            .iter()
            .copied()
            .filter(|t| t.scope == Scope::System)
            .collect();
        self.lane(h, &a, top + 2.0, sys_row - 6.0, &sys_moves, "system ");
        for m in mutings.iter().filter(|m| m.mutes_system()) {
            Self::shade(h, &a, m.span, top + 2.0, sys_row - 6.0, m.kind, &m.title);
        }
        if !incs.is_empty() {
            let y = top + sys_row;
            let _ = write!(
                h,
                "<text x=\"14\" y=\"{:.1}\" style=\"font-weight:600\">{}</text>",
                y + 13.0,
                esc(&tx.p("incidents", "事件"))
            );
            for t in incs {
                let end = t.closed_at.unwrap_or(a.t1);
                let x0 = a.x(t.opened_at);
                let x1 = a.x(end).max(x0 + 3.0);
                let overdue = t.overdue_reports().next().is_some();
                let _ = write!(
                    h,
                    "<rect x=\"{x0:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"12\" rx=\"3\" fill=\"{}\" stroke=\"{}\" stroke-width=\"{}\"><title>{}</title></rect>",
                    y + 2.0,
                    x1 - x0,
                    sev_color(t.severity_rank),
                    if overdue || t.ack_overdue_at.is_some() {
                        "#d62828"
                    } else {
                        "#1d2733"
                    },
                    if overdue { 2 } else { 1 },
                    esc(&incident_title(t, a.t1))
                );
            }
        }
        if !mutings.is_empty() {
            let y = top + sys_row + inc_row;
            let _ = write!(
                h,
                "<text x=\"14\" y=\"{:.1}\" style=\"font-weight:600\">{}</text>",
                y + 13.0,
                esc(&tx.p("silenced / inhibited", "静默 / 抑制"))
            );
            for m in mutings {
                Self::shade(h, &a, m.span, y + 3.0, 10.0, m.kind, &m.title);
                let (s0, s1) = (m.span.0.max(a.t0), m.span.1.min(a.t1));
                if s1 > s0 && a.x(s1) - a.x(s0) > 8.0 * m.label.chars().count() as f64 {
                    let _ = write!(
                        h,
                        "<text x=\"{:.1}\" y=\"{:.1}\" style=\"font-size:9px\">{}</text>",
                        a.x(s0) + 3.0,
                        y + 12.0,
                        esc(&m.label)
                    );
                }
            }
        }
        for (k, (r, id, cat)) in rules.iter().enumerate() {
            let y = lanes_top + k as f64 * row;
            let label = match tx.0 {
                Lang::Zh => self
                    .policy
                    .rules()
                    .get(*r as usize)
                    .filter(|x| &*x.id == *id)
                    .and_then(|x| x.name.zh.clone())
                    .unwrap_or_else(|| id.to_string()),
                _ => id.to_string(),
            };
            let cat_label = match tx.0 {
                Lang::Zh => cat
                    .and_then(|c| self.policy.category(c))
                    .and_then(|c| c.name.zh.clone())
                    .or(cat.map(str::to_owned))
                    .unwrap_or_default(),
                _ => cat.unwrap_or("").to_owned(),
            };
            let _ = write!(
                h,
                "<text x=\"14\" y=\"{:.1}\">{}</text><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"#8a97a5\">{}</text>",
                y + 13.0,
                esc(&truncate(&label, g.label - 2)),
                a.left - 8.0,
                y + 13.0,
                esc(&if g.total > 1000.0 {
                    truncate(&cat_label, 16)
                } else {
                    String::new()
                })
            );
            let moves: Vec<&Transition> =
                ts.iter().copied().filter(|t| t.rule == Some(*r)).collect();
            self.lane(h, &a, y + 4.0, row - 8.0, &moves, &format!("{id}: "));
            for m in mutings.iter().filter(|m| m.mutes_rule(id, *cat)) {
                Self::shade(h, &a, m.span, y + 4.0, row - 8.0, m.kind, &m.title);
            }
            for t in &moves {
                let x = a.x(t.ts);
                let cy = y + 8.0;
                let title = esc(&transition_title(t, self.rule(t)));
                if t.to > t.from {
                    let _ = write!(
                        h,
                        "<path d=\"M{x:.1} {:.1} L{:.1} {cy:.1} L{x:.1} {:.1} L{:.1} {cy:.1} Z\" fill=\"{}\" stroke=\"#1d2733\" stroke-width=\"1\"><title>{title}</title></path>",
                        cy - 6.0,
                        x + 6.0,
                        cy + 6.0,
                        x - 6.0,
                        color(t.to)
                    );
                } else {
                    let _ = write!(
                        h,
                        "<circle cx=\"{x:.1}\" cy=\"{cy:.1}\" r=\"4.5\" fill=\"#fff\" stroke=\"{}\" stroke-width=\"2\"><title>{title}</title></circle>",
                        if t.to == Level::None {
                            "#6b7b8c"
                        } else {
                            color(t.to)
                        }
                    );
                }
            }
        }
        self.axis_svg(h, &a, g, top, bottom);
        h.push_str("</svg>");
    }

    fn transitions_table(&self, h: &mut String, rows: &[Row<'_>], tx: Tx) {
        // Under an incidents policy transitions carry no reporting deadline: the incidents
        // table has them.
        let deadlines = self.policy.incidents().is_none();
        let mut cols = vec![
            tx.h("Time (UTC)", "时间 (UTC)"),
            tx.h("Rule", "规则"),
            tx.h("Level", "级别"),
            tx.h("Value vs threshold", "数值与阈值"),
            tx.h("Basis", "依据"),
            tx.h("Actions", "响应措施"),
        ];
        if deadlines {
            cols.push(tx.h("report to regulator by", "报告监管时限"));
        }
        let labels: Vec<String> = cols.iter().map(|c| esc(&strip_tags(c))).collect();
        let _ = write!(
            h,
            "<details open><summary>{} {}</summary><table class=\"cards transitions\"><thead><tr>",
            rows.len(),
            tx.h(
                "rule transitions (each system-level line folded under its cause)",
                "条规则级别变化 (系统级别变化列于其起因之下)"
            )
        );
        for c in &cols {
            let _ = write!(h, "<th>{c}</th>");
        }
        h.push_str("</tr></thead><tbody>");
        for row in rows {
            let t = row.t;
            let muted = t.silenced.is_some() || t.inhibited_by.is_some();
            let cls = match (t.scope, muted) {
                (Scope::System, _) => " class=\"system\"",
                (_, true) => " class=\"muted\"",
                _ => "",
            };
            let rule = self.rule(t);
            let rule_cell = match t.scope {
                Scope::System => tx.h("(system level)", "(系统级别)"),
                Scope::Rule => {
                    let id = t.rule_id.as_deref().unwrap_or("");
                    let name = tx
                        .name(t.rule_name.as_deref())
                        .map(|n| format!("<span class=\"rname\">{n}</span><br>"))
                        .unwrap_or_default();
                    let cat = match (tx.name(t.category_name.as_deref()), t.category.as_deref()) {
                        (Some(n), _) => format!(" · {n}"),
                        (None, Some(c)) => format!(" · {}", esc(c)),
                        _ => String::new(),
                    };
                    format!("{name}<code>{}</code>{cat}", esc(id))
                }
            };
            let cmp = match t.scope {
                Scope::Rule => esc(&comparison(tx, t, rule)),
                Scope::System if row.escalated => tx.h("escalation", "系统级升级"),
                Scope::System => "—".into(),
            };
            let cmp_title = rule
                .and_then(|r| detector_note(&self.policy, r))
                .map(|n| format!(" title=\"{}\"", esc(&n)))
                .unwrap_or_default();
            let basis = t.basis.as_deref().map(esc).unwrap_or_else(|| "—".into());
            let actions = self.actions_cell(t, tx);
            let _ = write!(
                h,
                "<tr{cls}><td class=\"t\" data-label=\"{}\"><span class=\"v\">{}</span></td>\
                 <td class=\"r\" data-label=\"{}\"><span class=\"v\">{rule_cell}</span></td>\
                 <td class=\"lv\" data-label=\"{}\"><span class=\"v\">{} → {}</span></td>\
                 <td class=\"cmp\" data-label=\"{}\"{cmp_title}><span class=\"v\">{cmp}</span></td>\
                 <td class=\"basis\" data-label=\"{}\"><span class=\"v\">{basis}</span></td>\
                 <td class=\"act\" data-label=\"{}\"><span class=\"v\">{actions}</span></td>",
                labels[0],
                esc(&short_time(t.ts)),
                labels[1],
                labels[2],
                tx.chip(t.from),
                tx.chip(t.to),
                labels[3],
                labels[4],
                labels[5],
            );
            if deadlines {
                let _ = write!(
                    h,
                    "<td class=\"due\" data-label=\"{}\"><span class=\"v\">{}</span></td>",
                    labels[6],
                    deadline(t, tx)
                );
            }
            h.push_str("</tr>");
            if let Some(s) = row.system {
                let _ = write!(
                    h,
                    "<tr class=\"sysline\"><td colspan=\"{}\"><span class=\"v\">↳ {} {} → {}{} · {}{}</span></td></tr>",
                    cols.len(),
                    tx.h("system level", "系统级别"),
                    tx.chip(s.from),
                    tx.chip(s.to),
                    if row.escalated {
                        format!(
                            " <span class=\"badge esc\">{}</span>",
                            tx.h("escalation", "系统级升级")
                        )
                    } else {
                        String::new()
                    },
                    self.actions_cell(s, tx),
                    if deadlines && s.report_within_s.is_some() {
                        format!(
                            " · {} <span class=\"due\">{}</span>",
                            tx.h("report by", "报告时限"),
                            deadline(s, tx)
                        )
                    } else {
                        String::new()
                    }
                );
            }
        }
        h.push_str("</tbody></table></details>");
    }

    fn actions_cell(&self, t: &Transition, tx: Tx) -> String {
        let mut s = if t.actions.is_empty() {
            "—".to_owned()
        } else {
            t.actions
                .iter()
                .map(|a| tx.action(a))
                .collect::<Vec<_>>()
                .join(", ")
        };
        if let Some(id) = &t.silenced {
            let _ = write!(
                s,
                " <span class=\"badge silenced\" title=\"{}\">{} {}</span>",
                esc(&tx.p(
                    "muted by a silence: actions reduced to log; levels, incidents and deadlines unchanged",
                    "被静默：仅记录；级别、事件与报告时限不变"
                )),
                tx.h("silenced", "静默"),
                esc(id)
            );
        }
        if let Some(id) = &t.inhibited_by {
            let _ = write!(
                s,
                " <span class=\"badge inhibited\" title=\"{}\">{} {}</span>",
                esc(&tx.p(
                    "muted by an inhibition: actions reduced to log; levels, incidents and deadlines unchanged",
                    "被抑制：仅记录；级别、事件与报告时限不变"
                )),
                tx.h("inhibited by", "抑制于"),
                esc(id)
            );
        }
        s
    }
}

/// `2026-03-03 15:05 (within 1h)`, or `—`.
fn deadline(t: &Transition, tx: Tx) -> String {
    match t.report_within_s {
        Some(r) => format!(
            "<span class=\"nw\">{}</span> ({} {})",
            esc(&short_time(t.ts + r * 1000)),
            tx.h("within", "时限"),
            esc(&duration(r * 1000))
        ),
        None => "—".into(),
    }
}

/// The text of an HTML label (for `data-label` attributes).
fn strip_tags(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_tag = false;
    for c in s.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&amp;", "&")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Muting {
    Silence,
    Inhibit,
}

/// A span during which transitions of a system were muted.
struct Muted<'a> {
    span: (i64, i64),
    kind: Muting,
    label: String,
    title: String,
    silence: Option<&'a SilenceSpan>,
    inhibit_targets: Vec<String>,
}

impl Muted<'_> {
    fn mutes_system(&self) -> bool {
        self.silence.is_some_and(SilenceSpan::mutes_system)
    }

    fn mutes_rule(&self, rule: &str, cat: Option<&str>) -> bool {
        match self.silence {
            Some(s) => s.rule_matches(rule, cat),
            None => cat.is_some_and(|c| self.inhibit_targets.iter().any(|x| x == c)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lane_segments_follow_transitions() {
        let s = segments(
            &[(10, Level::Blue), (20, Level::Red), (30, Level::None)],
            0,
            40,
        );
        assert_eq!(
            s,
            vec![
                (0, 10, Level::None),
                (10, 20, Level::Blue),
                (20, 30, Level::Red),
                (30, 40, Level::None)
            ]
        );
        assert_eq!(tick_step(7 * 86_400_000, 12), 86_400_000);
        assert_eq!(tick_step(86_400_000, 12), 10_800_000);
        assert_eq!(tick_step(86_400_000, 6), 21_600_000);
    }

    #[test]
    fn truncation_counts_wide_characters_twice() {
        assert_eq!(truncate("abc", 3), "abc");
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("幻觉率高", 6), "幻觉…");
    }

    #[test]
    fn labels_strip_to_text() {
        assert_eq!(
            strip_tags("Basis <span class=\"zh\" lang=\"zh-Hans\">依据</span>"),
            "Basis 依据"
        );
    }
}
