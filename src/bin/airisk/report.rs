//! `replay --html`: one self-contained HTML file (inline CSS and SVG, no script, no external
//! resource) showing, per system, its level over the replayed period, the rule transitions
//! as marks (value and threshold on hover, via SVG `<title>`), its incidents as spans from
//! opening to closing, a table of transitions with their actions, and, under a policy with
//! incidents, a table of the incidents with their reports' deadlines, filings and overdue
//! marks.

use crate::common::{duration, esc, iso, num};
use crate::incidents::{ReportDue, Track, Tracker};
use airisk::replay::ReplayStats;
use airisk::{Classification, Engine, Level, Policy, Profile, Scope, Transition};
use std::collections::HashMap;
use std::fmt::Write as _;

/// Most transitions the report keeps (a flapping log could emit millions; the report says
/// when it was cut).
const MAX_KEPT: usize = 100_000;

struct SysInfo {
    id: String,
    name: Option<String>,
    operator: Option<String>,
    sector: String,
    grade: String,
    grade_name: Option<String>,
    score: i64,
    floors: Vec<String>,
    registered_ts: Option<i64>,
}

/// Collects what the report needs while the log streams by: the registered systems and the
/// transitions (never the events).
pub struct Collector {
    policy: Policy,
    systems: Vec<SysInfo>,
    index: HashMap<String, usize>,
    transitions: Vec<Transition>,
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

fn zh(l: Level) -> &'static str {
    match l {
        Level::None => "无",
        Level::Blue => "蓝 IV",
        Level::Yellow => "黄 III",
        Level::Orange => "橙 II",
        Level::Red => "红 I",
    }
}

const CSS: &str = r#"
:root { --fg: #1d2733; --muted: #5b6b7c; --line: #d5dde6; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", "Noto Sans", "Noto Sans CJK SC", sans-serif;
       color: var(--fg); margin: 0; background: #f6f8fa; }
header { background: #16212e; color: #fff; padding: 18px 28px; }
header h1 { margin: 0 0 4px; font-size: 22px; }
header p { margin: 0; color: #b8c4d0; }
main { padding: 16px 28px 40px; max-width: 1400px; }
section { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 14px 18px; margin: 14px 0; }
h2 { font-size: 17px; margin: 0 0 6px; }
h3 { font-size: 14px; margin: 14px 0 6px; color: var(--muted); }
.meta { color: var(--muted); margin: 0 0 8px; }
.stats { display: flex; flex-wrap: wrap; gap: 10px; margin: 8px 0 0; }
.stat { background: #f0f3f7; border-radius: 6px; padding: 6px 12px; }
.stat b { display: block; font-size: 18px; }
.chip { display: inline-block; min-width: 54px; text-align: center; border-radius: 4px; padding: 0 6px;
        font-size: 12px; font-weight: 600; color: #fff; }
.chip.none { color: #445; background: #e3e8ee; }
.chip.blue { background: #1f6fd1; } .chip.yellow { background: #f2c200; color: #222; }
.chip.orange { background: #f07d00; } .chip.red { background: #d62828; }
.grade { border: 1px solid var(--line); border-radius: 4px; padding: 0 6px; font-size: 12px; margin-left: 6px; }
table { border-collapse: collapse; width: 100%; font-size: 12.5px; }
th, td { text-align: left; padding: 3px 8px; border-bottom: 1px solid #edf1f5; vertical-align: top; }
th { color: var(--muted); font-weight: 600; background: #fafbfc; position: sticky; top: 0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.t, td.r { white-space: nowrap; font-variant-numeric: tabular-nums; }
tr.system td { background: #f7f9fc; font-weight: 600; }
svg { display: block; width: 100%; height: auto; }
svg text { font: 11px system-ui, sans-serif; fill: #3a4856; }
.legend span { margin-right: 14px; }
.sev { display: inline-block; border-radius: 4px; padding: 0 6px; font-size: 12px; font-weight: 600; color: #fff; }
.late { color: #b35c00; font-weight: 600; }
.overdue { color: #fff; background: #d62828; border-radius: 4px; padding: 0 5px; font-weight: 600; }
.ok { color: #23803a; }
ul.due { margin: 0; padding-left: 16px; }
ul.due li { white-space: nowrap; }
td.inc { font-weight: 600; min-width: 180px; }
.legend i { display: inline-block; width: 14px; height: 10px; border-radius: 2px; margin-right: 4px; vertical-align: middle; }
details summary { cursor: pointer; color: var(--muted); }
footer { color: var(--muted); font-size: 12px; padding: 0 28px 24px; }
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

fn sev_label(t: &Track) -> String {
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

/// One report's state in a table cell: `initial by 03-07 09:05`, then how it ended.
fn report_cell(r: &ReportDue) -> String {
    let short_time = tiny_time;
    let mut s = format!("<li>{} by {}", esc(&r.file_kind()), esc(&short_time(r.by)));
    match (&r.filed, r.cancelled_at, r.overdue_at) {
        (Some((ts, false, _)), _, _) => {
            let _ = write!(
                s,
                " — <span class=\"ok\">filed {}</span>",
                esc(&short_time(*ts))
            );
        }
        (Some((ts, true, _)), _, _) => {
            let _ = write!(
                s,
                " — <span class=\"late\">filed late {}</span>",
                esc(&short_time(*ts))
            );
        }
        (None, Some(c), _) => {
            let _ = write!(s, " — cancelled (reopened {})", esc(&short_time(c)));
        }
        (None, None, Some(_)) => s.push_str(" — <span class=\"overdue\">OVERDUE</span>"),
        (None, None, None) => s.push_str(" — not filed yet"),
    }
    s.push_str("</li>");
    s
}

fn incident_title(t: &Track, end: i64) -> String {
    let mut s = format!(
        "incident {}\nseverity {}{}\nopened {}",
        t.id,
        sev_label(t),
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

/// Tick step (ms) for an axis over `span` ms: at most ~12 ticks.
fn tick_step(span: i64) -> i64 {
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
        if span / s <= 12 {
            return s;
        }
    }
    let mut s = 604_800_000i64;
    while span / s > 12 {
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

struct Axis {
    t0: i64,
    t1: i64,
    left: f64,
    width: f64,
}

impl Axis {
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

fn transition_title(t: &Transition) -> String {
    let mut s = format!(
        "{}  {}\n{} → {}",
        iso(t.ts),
        t.rule_id.as_deref().unwrap_or("system level"),
        t.from,
        t.to
    );
    match (t.value, t.threshold) {
        (Some(v), Some(th)) => {
            let _ = write!(s, "\nvalue {}  threshold {}", num(v), num(th));
        }
        (Some(v), None) => {
            let _ = write!(s, "\nvalue {}", num(v));
        }
        (None, _) if t.scope == Scope::Rule => s.push_str("\nwindow empty"),
        _ => {}
    }
    if !t.actions.is_empty() {
        let a: Vec<&str> = t.actions.iter().map(|a| a.name()).collect();
        let _ = write!(s, "\nactions: {}", a.join(", "));
    }
    if let Some(r) = t.report_within_s {
        let _ = write!(s, "\nreport within {}", duration(r * 1000));
    }
    s
}

impl Collector {
    /// An empty collector.
    pub fn new(policy: &Policy) -> Collector {
        Collector {
            policy: policy.clone(),
            systems: Vec::new(),
            index: HashMap::new(),
            transitions: Vec::new(),
            cut: 0,
        }
    }

    /// A system was registered.
    pub fn register(&mut self, p: &Profile, c: &Classification, ts: Option<i64>) {
        let grade_name = self
            .policy
            .grade(&c.grade)
            .and_then(|g| g.name.zh.clone().or_else(|| g.name.en.clone()));
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

    /// A transition was emitted.
    pub fn transition(&mut self, t: &Transition) {
        if self.transitions.len() < MAX_KEPT {
            self.transitions.push(t.clone());
        } else {
            self.cut += 1;
        }
    }

    /// The whole HTML document.
    pub fn render(
        &self,
        source: &str,
        stats: &ReplayStats,
        engine: &Engine,
        incidents: Option<&Tracker>,
    ) -> String {
        let mut h = String::with_capacity(64 << 10);
        let (t0, t1) = match (stats.first_ts, stats.last_ts) {
            (Some(a), Some(b)) if b > a => (a, b),
            (Some(a), _) => (a, a + 60_000),
            _ => (0, 60_000),
        };
        let policy_label = self
            .policy
            .version()
            .map(|v| format!("policy {v}"))
            .unwrap_or_else(|| "policy (no version)".into());
        let _ = write!(
            h,
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
             <title>airisk report — {}</title>\n<style>{CSS}</style>\n</head>\n<body>\n",
            esc(source)
        );
        let _ = write!(
            h,
            "<header><h1>airisk — monitoring report 监测预警报告</h1><p>{} · {} · {} to {} ({})</p></header>\n<main>\n",
            esc(source),
            esc(&policy_label),
            esc(&iso(t0)),
            esc(&iso(t1)),
            esc(&duration(t1 - t0))
        );
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
        h.push_str("<section><h2>Summary</h2><div class=\"stats\">");
        let stat = |h: &mut String, n: String, label: &str| {
            let _ = write!(
                h,
                "<div class=\"stat\"><b>{}</b>{}</div>",
                esc(&n),
                esc(label)
            );
        };
        stat(&mut h, stats.events.to_string(), "events read");
        stat(&mut h, stats.accepted.to_string(), "accepted");
        stat(&mut h, stats.rejected_total().to_string(), "rejected");
        stat(&mut h, self.systems.len().to_string(), "systems");
        for l in Level::WARNINGS.iter().rev() {
            stat(
                &mut h,
                stats.transitions_to(*l).to_string(),
                &format!("transitions to {l}"),
            );
        }
        if incidents.is_some() {
            let c = &stats.incidents;
            stat(&mut h, c.incidents.len().to_string(), "incidents");
            stat(&mut h, c.reportable().to_string(), "reportable");
            stat(&mut h, c.filed_on_time.to_string(), "reports filed on time");
            stat(&mut h, c.filed_late.to_string(), "filed late");
            stat(&mut h, c.overdue.to_string(), "deadlines missed");
        }
        h.push_str("</div><p class=\"meta\" style=\"margin-top:10px\">Systems at the end: ");
        for l in Level::ALL.iter().rev() {
            let _ = write!(
                h,
                "<span class=\"chip {}\">{}</span> {} &nbsp; ",
                l.name(),
                l.name(),
                at_end[*l as usize]
            );
        }
        h.push_str("</p>");
        self.legend(&mut h);
        h.push_str("</section>\n");

        // Overview: every system's level on one chart.
        let axis = Axis {
            t0,
            t1,
            left: 250.0,
            width: 920.0,
        };
        h.push_str("<section><h2>All systems 系统预警级别</h2>");
        self.overview_svg(&mut h, &axis);
        h.push_str("</section>\n");
        if let Some(k) = incidents {
            self.incidents_table(&mut h, k);
        }

        // One section per system.
        let mut by_sys: HashMap<&str, Vec<&Transition>> = HashMap::new();
        for t in &self.transitions {
            by_sys.entry(&t.system_id).or_default().push(t);
        }
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
                &axis,
                end_level.get(s.id.as_str()).copied(),
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
            "</main>\n<footer>Generated by airisk {} (<code>airisk replay --html</code>). Times are UTC. \
             Hover a mark, a band or an incident span for its details.</footer>\n</body>\n</html>\n",
            env!("CARGO_PKG_VERSION")
        );
        h
    }

    fn legend(&self, h: &mut String) {
        h.push_str("<p class=\"legend meta\">");
        for l in Level::ALL {
            let _ = write!(
                h,
                "<span><i style=\"background:{}\"></i>{} ({})</span>",
                color(l),
                l.name(),
                zh(l)
            );
        }
        h.push_str("<span>◆ rule raised · ○ rule lowered</span></p>");
    }

    fn axis_svg(&self, h: &mut String, a: &Axis, top: f64, bottom: f64) {
        let step = tick_step(a.t1 - a.t0);
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

    fn overview_svg(&self, h: &mut String, a: &Axis) {
        let row = 26.0;
        let top = 8.0;
        let n = self.systems.len().max(1) as f64;
        let height = top + n * row + 24.0;
        let _ = write!(
            h,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 1200 {height:.0}\" role=\"img\" aria-label=\"system levels over time\">"
        );
        let mut sys_moves: HashMap<&str, Vec<&Transition>> = HashMap::new();
        for t in self.transitions.iter().filter(|t| t.scope == Scope::System) {
            sys_moves.entry(&t.system_id).or_default().push(t);
        }
        for (i, s) in self.systems.iter().enumerate() {
            let y = top + i as f64 * row;
            let _ = write!(
                h,
                "<text x=\"4\" y=\"{:.1}\"><a href=\"#sys-{}\">{}</a></text><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"#6b7b8c\">{}</text>",
                y + 15.0,
                i,
                esc(&truncate(&s.id, 26)),
                a.left - 8.0,
                y + 15.0,
                esc(&s.grade)
            );
            let moves = sys_moves
                .get(s.id.as_str())
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            self.lane(h, a, y + 3.0, row - 8.0, moves, &format!("{}: ", s.id));
        }
        self.axis_svg(h, a, top, top + n * row);
        h.push_str("</svg>");
    }

    fn incidents_table(&self, h: &mut String, k: &Tracker) {
        h.push_str("<section id=\"incidents\"><h2>Incidents and reports 事件与报告</h2>");
        if k.tracks.is_empty() {
            h.push_str("<p class=\"meta\">No incident opened: no warning reached the level that opens one.</p></section>\n");
            return;
        }
        let _ = write!(
            h,
            "<p class=\"meta\">{} incidents. A report is due by its deadline; OVERDUE marks one not filed when its deadline passed. \
             Spans on each system's timeline run from opening to closing (or the end of the log).</p>",
            k.tracks.len()
        );
        h.push_str(
            "<table><thead><tr><th>incident</th><th>system</th><th>category</th><th>severity</th><th>opened</th>\
             <th>acknowledged</th><th>reports due</th><th>state</th></tr></thead><tbody>",
        );
        let short_time = tiny_time;
        for t in &k.tracks {
            let sys_ix = self.index.get(&*t.system).copied().unwrap_or(0);
            let ack = match (&t.acknowledged, t.ack_overdue_at) {
                (Some((ts, by)), late) => format!(
                    "{} by {}{}",
                    esc(&short_time(*ts)),
                    esc(by),
                    if late.is_some() {
                        " <span class=\"late\">(late)</span>"
                    } else {
                        ""
                    }
                ),
                (None, Some(_)) => "<span class=\"overdue\">OVERDUE</span>".into(),
                (None, None) => match t.ack_by {
                    Some(b) if t.closed_at.is_none() => {
                        format!("not yet (due {})", esc(&short_time(b)))
                    }
                    _ => "—".into(),
                },
            };
            let reports = if t.reports.is_empty() {
                "— (not reportable)".to_owned()
            } else {
                format!(
                    "<ul class=\"due\">{}</ul>",
                    t.reports.iter().map(report_cell).collect::<String>()
                )
            };
            let state = match (t.closed_at, t.resolved_at) {
                (Some(c), _) => format!("closed {}", short_time(c)),
                (None, Some(r)) => format!("resolved {}", short_time(r)),
                (None, None) => "open".into(),
            };
            let _ = write!(
                h,
                "<tr><td class=\"inc\">{}</td><td><a href=\"#sys-{sys_ix}\">{}</a></td><td>{}</td>\
                 <td><span class=\"sev\" style=\"background:{}\">{}</span></td><td class=\"t\">{}</td>\
                 <td>{ack}</td><td>{reports}</td><td class=\"t\">{}</td></tr>",
                // Break long ids after each `/`.
                esc(&t.id).replace('/', "/<wbr>"),
                esc(&t.system),
                esc(&t.category),
                sev_color(t.severity_rank),
                esc(&sev_label(t)),
                esc(&short_time(t.opened_at)),
                esc(&state)
            );
        }
        h.push_str("</tbody></table></section>\n");
    }

    fn system_section(
        &self,
        h: &mut String,
        s: &SysInfo,
        ts: &[&Transition],
        incs: &[&Track],
        a: &Axis,
        end: Option<Level>,
    ) {
        let i = self.index.get(&s.id).copied().unwrap_or(0);
        let _ = write!(h, "<section id=\"sys-{i}\"><h2>{}", esc(&s.id));
        if let Some(n) = &s.name {
            let _ = write!(h, " — {}", esc(n));
        }
        let _ = write!(
            h,
            "<span class=\"grade\">grade {}{}</span>",
            esc(&s.grade),
            s.grade_name
                .as_ref()
                .map(|n| format!(" {}", esc(n)))
                .unwrap_or_default()
        );
        if let Some(l) = end {
            let _ = write!(
                h,
                " <span class=\"chip {}\" title=\"level at the end\">{}</span>",
                l.name(),
                l.name()
            );
        }
        h.push_str("</h2><p class=\"meta\">");
        let mut meta = vec![format!("sector {}", s.sector), format!("score {}", s.score)];
        if !s.floors.is_empty() {
            meta.push(format!("floors {}", s.floors.join(", ")));
        }
        if let Some(o) = &s.operator {
            meta.push(o.clone());
        }
        if let Some(t) = s.registered_ts {
            meta.push(format!("registered {}", iso(t)));
        }
        // Zoom on the system's own transitions (the overview shows the whole period).
        let zoomed;
        let a = match (ts.iter().map(|t| t.ts).min(), ts.iter().map(|t| t.ts).max()) {
            (Some(lo), Some(hi)) => {
                let pad = ((hi - lo) / 8).max(3_600_000);
                // Whole hours, within the replayed period.
                let hour = 3_600_000;
                let z0 = ((lo - pad).div_euclid(hour) * hour).max(a.t0);
                let z1 = (((hi + pad) + hour - 1).div_euclid(hour) * hour).min(a.t1);
                if z1 > z0 && (z0 > a.t0 || z1 < a.t1) {
                    meta.push(format!(
                        "timeline from {} to {}",
                        short_time(z0),
                        short_time(z1)
                    ));
                    zoomed = Axis {
                        t0: z0,
                        t1: z1,
                        left: a.left,
                        width: a.width,
                    };
                    &zoomed
                } else {
                    a
                }
            }
            _ => a,
        };
        let rule_moves = ts.iter().filter(|t| t.scope == Scope::Rule).count();
        meta.push(format!(
            "{} rule transitions, {} system transitions",
            rule_moves,
            ts.len() - rule_moves
        ));
        if !incs.is_empty() {
            meta.push(format!(
                "{} incident{}",
                incs.len(),
                if incs.len() == 1 { "" } else { "s" }
            ));
        }
        h.push_str(&esc(&meta.join(" · ")));
        h.push_str("</p>");

        // Lanes: the system level, then each rule that moved, in policy order.
        let mut rules: Vec<(u32, &str)> = Vec::new();
        for t in ts.iter().filter(|t| t.scope == Scope::Rule) {
            if let (Some(r), Some(id)) = (t.rule, t.rule_id.as_deref()) {
                if !rules.iter().any(|(x, _)| *x == r) {
                    rules.push((r, id));
                }
            }
        }
        rules.sort();
        let sys_row = 26.0;
        let row = 20.0;
        let top = 6.0;
        let inc_row = if incs.is_empty() { 0.0 } else { row };
        let bottom = top + sys_row + inc_row + rules.len() as f64 * row + 4.0;
        let _ = write!(
            h,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 1200 {:.0}\" role=\"img\" aria-label=\"levels of {}\">",
            bottom + 22.0,
            esc(&s.id)
        );
        let _ = write!(
            h,
            "<text x=\"4\" y=\"{:.1}\" style=\"font-weight:600\">system level</text>",
            top + 17.0
        );
        let sys_moves: Vec<&Transition> = ts
            .iter()
            .copied()
            .filter(|t| t.scope == Scope::System)
            .collect();
        self.lane(h, a, top + 2.0, sys_row - 6.0, &sys_moves, "system ");
        if !incs.is_empty() {
            let y = top + sys_row;
            let _ = write!(
                h,
                "<text x=\"14\" y=\"{:.1}\" style=\"font-weight:600\">incidents 事件</text>",
                y + 13.0
            );
            for t in incs {
                let end = t.closed_at.unwrap_or(a.t1);
                let x0 = a.x(t.opened_at);
                let x1 = a.x(end).max(x0 + 3.0);
                let _ = write!(
                    h,
                    "<rect x=\"{x0:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"12\" rx=\"3\" fill=\"{}\" stroke=\"{}\" stroke-width=\"{}\"><title>{}</title></rect>",
                    y + 2.0,
                    x1 - x0,
                    sev_color(t.severity_rank),
                    if t.overdue_reports().next().is_some() || t.ack_overdue_at.is_some() {
                        "#d62828"
                    } else {
                        "#1d2733"
                    },
                    if t.overdue_reports().next().is_some() {
                        2
                    } else {
                        1
                    },
                    esc(&incident_title(t, a.t1))
                );
            }
        }
        for (k, (r, id)) in rules.iter().enumerate() {
            let y = top + sys_row + inc_row + k as f64 * row;
            let cat = self
                .policy
                .rules()
                .get(*r as usize)
                .and_then(|rule| rule.category)
                .and_then(|c| self.policy.categories().get(c as usize))
                .map(|c| c.id.to_string())
                .unwrap_or_default();
            let _ = write!(
                h,
                "<text x=\"14\" y=\"{:.1}\">{}</text><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"#8a97a5\">{}</text>",
                y + 13.0,
                esc(&truncate(id, 28)),
                a.left - 8.0,
                y + 13.0,
                esc(&truncate(&cat, 16))
            );
            let moves: Vec<&Transition> =
                ts.iter().copied().filter(|t| t.rule == Some(*r)).collect();
            self.lane(h, a, y + 4.0, row - 8.0, &moves, &format!("{id}: "));
            for t in &moves {
                let x = a.x(t.ts);
                let cy = y + 8.0;
                let title = esc(&transition_title(t));
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
        self.axis_svg(h, a, top, bottom);
        h.push_str("</svg>");

        if ts.is_empty() {
            h.push_str("<p class=\"meta\">No transition: this system stayed at level none.</p>");
        } else {
            // Under an incidents policy transitions carry no reporting deadline: the
            // incidents table has them.
            let deadlines = self.policy.incidents().is_none();
            let _ = write!(
                h,
                "<details{}><summary>{} transitions (actions{})</summary>",
                if ts.len() <= 60 { " open" } else { "" },
                ts.len(),
                if deadlines {
                    " and reporting deadlines"
                } else {
                    ""
                }
            );
            h.push_str(
                "<table><thead><tr><th>#</th><th>time (UTC)</th><th>rule</th><th>category</th><th>from</th><th>to</th>\
                 <th>value</th><th>threshold</th><th>actions</th>",
            );
            if deadlines {
                h.push_str("<th>report to regulator by</th>");
            }
            h.push_str("</tr></thead><tbody>");
            for t in ts {
                let cls = if t.scope == Scope::System {
                    " class=\"system\""
                } else {
                    ""
                };
                let deadline = match t.report_within_s {
                    Some(r) => format!(
                        "{} (within {})",
                        short_time(t.ts + r * 1000),
                        duration(r * 1000)
                    ),
                    None => "—".into(),
                };
                let actions: Vec<&str> = t.actions.iter().map(|a| a.name()).collect();
                let _ = write!(
                    h,
                    "<tr{cls}><td class=\"num\">{}</td><td class=\"t\">{}</td><td class=\"r\">{}</td><td>{}</td>\
                     <td><span class=\"chip {}\">{}</span></td><td><span class=\"chip {}\">{}</span></td>\
                     <td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td>{}</tr>",
                    t.seq,
                    esc(&short_time(t.ts)),
                    esc(t.rule_id.as_deref().unwrap_or("(system level)")),
                    esc(t.category.as_deref().unwrap_or("")),
                    t.from.name(),
                    t.from.name(),
                    t.to.name(),
                    t.to.name(),
                    t.value.map(num).unwrap_or_else(|| "—".into()),
                    t.threshold.map(num).unwrap_or_else(|| "—".into()),
                    esc(&if actions.is_empty() {
                        "—".to_owned()
                    } else {
                        actions.join(", ")
                    }),
                    if deadlines {
                        format!("<td class=\"t\">{}</td>", esc(&deadline))
                    } else {
                        String::new()
                    }
                );
            }
            h.push_str("</tbody></table></details>");
        }
        h.push_str("</section>\n");
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(n - 1).collect();
        t.push('…');
        t
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
        assert_eq!(tick_step(7 * 86_400_000), 86_400_000);
        assert_eq!(tick_step(86_400_000), 10_800_000);
    }
}
