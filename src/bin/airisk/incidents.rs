//! What `replay --reports` and `replay --html` know about incidents, gathered from the
//! event stream as it goes by: each incident's life (opened, escalated, acknowledged,
//! resolved, reopened, closed), every report it owed (initial, update, final) with its
//! deadline, filing and overdue mark, and, for the regulator's report, the rule transitions
//! of its category on its system (the evidence).
//!
//! `replay --reports DIR` writes, for every report that came due, whether it was filed or
//! not by the end of the log, `DIR/<incident id with / as _>.<kind>.json` and a `.md`
//! rendering of the same report: the fields of the CAC report form (国家网络安全事件报告管理办法),
//! labelled in Chinese and English.

use crate::common::{duration, iso, num};
use airisk::policy::{Aggregate, Direction, I18n};
use airisk::{
    Action, Classification, DueKind, IncidentEvent, IncidentEventKind, Level, Policy, Profile,
    ReportKind, Scope, Transition,
};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

/// Most evidence transitions kept per incident (a rule that flaps for days would otherwise
/// grow without bound); the report says how many more there were.
const MAX_EVIDENCE: usize = 200;
/// Most timeline events kept per incident.
const MAX_TIMELINE: usize = 200;

/// A system as registered.
#[derive(Clone, Default)]
pub struct SysMeta {
    pub name: Option<String>,
    pub operator: Option<String>,
    pub grade: String,
}

/// One report an incident owed.
#[derive(Clone)]
pub struct ReportDue {
    pub kind: ReportKind,
    /// 1 for the first of its kind, 2 for the second update, ...
    pub n: u32,
    /// When it became due.
    pub since: i64,
    /// Its deadline.
    pub by: i64,
    /// (filed at, late, reference).
    pub filed: Option<(i64, bool, Arc<str>)>,
    /// When the engine reported it overdue.
    pub overdue_at: Option<i64>,
    /// A final report no longer owed because the incident reopened (when).
    pub cancelled_at: Option<i64>,
}

impl ReportDue {
    fn open(&self) -> bool {
        self.filed.is_none() && self.cancelled_at.is_none()
    }

    /// `filed`, `filed_late`, `overdue`, `pending` (not filed, deadline not passed when the
    /// log ended) or `cancelled` (a final report the incident's reopening made moot).
    pub fn status(&self) -> &'static str {
        match (&self.filed, self.cancelled_at, self.overdue_at) {
            (Some((_, false, _)), _, _) => "filed",
            (Some((_, true, _)), _, _) => "filed_late",
            (None, Some(_), _) => "cancelled",
            (None, None, Some(_)) => "overdue",
            (None, None, None) => "pending",
        }
    }

    /// The file stem's suffix: `initial`, `update`, `update-2`, `final`.
    pub fn file_kind(&self) -> String {
        if self.n > 1 {
            format!("{}-{}", self.kind.name(), self.n)
        } else {
            self.kind.name().to_owned()
        }
    }
}

/// One incident, as the event stream told it.
pub struct Track {
    pub id: Arc<str>,
    pub system: Arc<str>,
    pub category: Arc<str>,
    pub category_name: Option<Arc<I18n>>,
    pub severity: Arc<str>,
    pub severity_rank: u32,
    pub severity_name: Option<Arc<I18n>>,
    pub reportable: bool,
    pub reportable_since: Option<i64>,
    pub operator_type: Arc<str>,
    pub opened_at: i64,
    pub resolved_at: Option<i64>,
    pub closed_at: Option<i64>,
    pub acknowledged: Option<(i64, Arc<str>)>,
    pub ack_by: Option<i64>,
    pub ack_overdue_at: Option<i64>,
    pub reports: Vec<ReportDue>,
    pub timeline: Vec<IncidentEvent>,
    pub timeline_omitted: u64,
    pub evidence: Vec<Transition>,
    pub evidence_omitted: u64,
}

impl Track {
    fn owed_mut(&mut self, kind: ReportKind) -> Option<&mut ReportDue> {
        self.reports
            .iter_mut()
            .rev()
            .find(|r| r.kind == kind && r.open())
    }

    fn add_report(&mut self, kind: ReportKind, since: i64, by: i64) {
        let n = self.reports.iter().filter(|r| r.kind == kind).count() as u32 + 1;
        self.reports.push(ReportDue {
            kind,
            n,
            since,
            by,
            filed: None,
            overdue_at: None,
            cancelled_at: None,
        });
    }

    fn push_evidence(&mut self, t: &Transition) {
        if self.evidence.len() < MAX_EVIDENCE {
            self.evidence.push(t.clone());
        } else {
            self.evidence_omitted += 1;
        }
    }

    /// Whether a report is owed and late at the end (for marks in tables).
    pub fn overdue_reports(&self) -> impl Iterator<Item = &ReportDue> {
        self.reports
            .iter()
            .filter(|r| r.open() && r.overdue_at.is_some())
    }
}

/// The rule transitions of one (system, category) since its rules were last all at none,
/// while no incident of it is live: the start of a possible incident's evidence.
#[derive(Default)]
struct Episode {
    levels: Vec<(u32, Level)>,
    transitions: Vec<Transition>,
    omitted: u64,
}

type Key = (Arc<str>, Arc<str>);

/// Follows the incident stream (and, with evidence, the rule transitions).
pub struct Tracker {
    policy: Policy,
    evidence: bool,
    pub systems: HashMap<String, SysMeta>,
    pub tracks: Vec<Track>,
    index: HashMap<Arc<str>, usize>,
    live: HashMap<Key, usize>,
    episodes: HashMap<Key, Episode>,
}

impl Tracker {
    /// A tracker; with `evidence`, it keeps the transitions each report cites.
    pub fn new(policy: &Policy, evidence: bool) -> Tracker {
        Tracker {
            policy: policy.clone(),
            evidence,
            systems: HashMap::new(),
            tracks: Vec::new(),
            index: HashMap::new(),
            live: HashMap::new(),
            episodes: HashMap::new(),
        }
    }

    /// A system was registered.
    pub fn register(&mut self, p: &Profile, c: &Classification) {
        self.systems.insert(
            p.id.clone(),
            SysMeta {
                name: p.name.clone(),
                operator: p.operator.clone(),
                grade: c.grade.to_string(),
            },
        );
    }

    /// A transition was emitted (before the incident events it causes).
    pub fn transition(&mut self, t: &Transition) {
        if !self.evidence || t.scope != Scope::Rule {
            return;
        }
        let (Some(cat), Some(rule)) = (&t.category, t.rule) else {
            return;
        };
        let key: Key = (t.system_id.clone(), cat.clone());
        if let Some(&i) = self.live.get(&key) {
            self.tracks[i].push_evidence(t);
            return;
        }
        let ep = self.episodes.entry(key.clone()).or_default();
        match ep.levels.iter_mut().find(|(r, _)| *r == rule) {
            Some(x) => x.1 = t.to,
            None => ep.levels.push((rule, t.to)),
        }
        if ep.transitions.len() < MAX_EVIDENCE {
            ep.transitions.push(t.clone());
        } else {
            ep.omitted += 1;
        }
        if ep.levels.iter().all(|(_, l)| *l == Level::None) {
            self.episodes.remove(&key);
        }
    }

    /// An incident event was emitted.
    pub fn incident(&mut self, e: &IncidentEvent) {
        let ip = self.policy.incidents();
        if e.event == IncidentEventKind::Opened && !self.index.contains_key(&e.incident) {
            let key: Key = (e.system_id.clone(), e.category.clone());
            let ep = self.episodes.remove(&key).unwrap_or_default();
            let mut t = Track {
                id: e.incident.clone(),
                system: e.system_id.clone(),
                category: e.category.clone(),
                category_name: e.category_name.clone(),
                severity: e.severity.clone(),
                severity_rank: e.severity_rank,
                severity_name: e.severity_name.clone(),
                reportable: e.reportable,
                reportable_since: e.reportable.then_some(e.ts),
                operator_type: e.operator_type.clone(),
                opened_at: e.ts,
                resolved_at: None,
                closed_at: None,
                acknowledged: None,
                ack_by: ip
                    .and_then(|p| p.ack_within_s)
                    .map(|s| e.ts.saturating_add(s.saturating_mul(1000))),
                ack_overdue_at: None,
                reports: Vec::new(),
                timeline: Vec::new(),
                timeline_omitted: 0,
                evidence: ep.transitions,
                evidence_omitted: ep.omitted,
            };
            if let Some(d) = e.due.filter(|d| d.report == DueKind::Initial) {
                t.add_report(ReportKind::Initial, e.ts, d.by);
            }
            self.index.insert(e.incident.clone(), self.tracks.len());
            self.live.insert(key, self.tracks.len());
            self.tracks.push(t);
        }
        let Some(&i) = self.index.get(&e.incident) else {
            return;
        };
        let final_ms = ip.map_or(0, |p| p.final_within_s.saturating_mul(1000));
        let t = &mut self.tracks[i];
        if t.timeline.len() < MAX_TIMELINE {
            t.timeline.push(e.clone());
        } else {
            t.timeline_omitted += 1;
        }
        if e.severity_rank > t.severity_rank {
            t.severity = e.severity.clone();
            t.severity_rank = e.severity_rank;
            t.severity_name = e.severity_name.clone();
        }
        match e.event {
            IncidentEventKind::Opened => {}
            IncidentEventKind::Escalated => {
                if e.reportable && !t.reportable {
                    t.reportable = true;
                    t.reportable_since = Some(e.ts);
                }
                // A report the escalation made due (not one already owed).
                let kind = e.due.and_then(|d| match d.report {
                    DueKind::Initial => Some((ReportKind::Initial, d.by)),
                    DueKind::Update => Some((ReportKind::Update, d.by)),
                    _ => None,
                });
                if let Some((k, by)) = kind {
                    if t.owed_mut(k).is_none() {
                        t.add_report(k, e.ts, by);
                    }
                }
            }
            IncidentEventKind::Acknowledged => {
                t.acknowledged = Some((e.ts, e.by.clone().unwrap_or_else(|| Arc::from(""))));
            }
            IncidentEventKind::ReportFiled => {
                if let Some(kind) = e.report {
                    let late = e.late.unwrap_or(false);
                    let reference = e.reference.clone().unwrap_or_else(|| Arc::from(""));
                    if let Some(r) = t.owed_mut(kind) {
                        r.filed = Some((e.ts, late, reference));
                    }
                }
            }
            IncidentEventKind::Overdue => {
                if let Some(d) = e.due {
                    let kind = match d.report {
                        DueKind::Ack => None,
                        DueKind::Initial => Some(ReportKind::Initial),
                        DueKind::Update => Some(ReportKind::Update),
                        DueKind::Final => Some(ReportKind::Final),
                    };
                    match kind {
                        None => t.ack_overdue_at = Some(e.ts),
                        Some(k) => {
                            if let Some(r) = t
                                .reports
                                .iter_mut()
                                .rev()
                                .find(|r| r.kind == k && r.open() && r.by == d.by)
                            {
                                r.overdue_at = Some(e.ts);
                            }
                        }
                    }
                }
            }
            IncidentEventKind::Resolved => {
                t.resolved_at = Some(e.ts);
                if e.reportable {
                    let by = e.ts.saturating_add(final_ms);
                    // A final report cancelled by a reopening comes due again.
                    match t
                        .reports
                        .iter_mut()
                        .find(|r| r.kind == ReportKind::Final && r.filed.is_none())
                    {
                        Some(r) => {
                            r.since = e.ts;
                            r.by = by;
                            r.cancelled_at = None;
                            r.overdue_at = None;
                        }
                        None => t.add_report(ReportKind::Final, e.ts, by),
                    }
                }
            }
            IncidentEventKind::Reopened => {
                t.resolved_at = None;
                if let Some(r) = t.owed_mut(ReportKind::Final) {
                    r.cancelled_at = Some(e.ts);
                }
            }
            IncidentEventKind::Closed => {
                t.closed_at = Some(e.ts);
                let key: Key = (t.system.clone(), t.category.clone());
                self.live.remove(&key);
            }
        }
    }

    /// Every report that came due: (incident, report), incidents in opening order.
    pub fn reports(&self) -> impl Iterator<Item = (&Track, &ReportDue)> {
        self.tracks
            .iter()
            .flat_map(|t| t.reports.iter().map(move |r| (t, r)))
    }
}

// ------------------------------------------------------------------ names

/// A display name in both languages: `较大 · Serious`, or whichever is given.
fn both(n: Option<&I18n>) -> Option<String> {
    let n = n?;
    match (&n.zh, &n.en) {
        (Some(z), Some(e)) => Some(format!("{z} · {e}")),
        (Some(x), None) | (None, Some(x)) => Some(x.clone()),
        (None, None) => None,
    }
}

fn named(id: &str, n: Option<&I18n>) -> String {
    match both(n) {
        Some(s) => format!("{s} (`{id}`)"),
        None => format!("`{id}`"),
    }
}

/// `{"zh": .., "en": ..}` (either may be absent), or null.
fn i18n_json(n: Option<&I18n>) -> J {
    match n {
        Some(n) if !n.is_empty() => {
            let mut o = Vec::new();
            if let Some(z) = &n.zh {
                o.push(("zh", v(z)));
            }
            if let Some(e) = &n.en {
                o.push(("en", v(e)));
            }
            J::O(o)
        }
        _ => J::V(Value::Null),
    }
}

fn zh_en(z: &str, e: &str) -> J {
    J::O(vec![("zh", v(z)), ("en", v(e))])
}

fn report_name(kind: ReportKind) -> (&'static str, &'static str) {
    match kind {
        ReportKind::Initial => ("初次报告", "Initial report"),
        ReportKind::Update => ("续报", "Update report"),
        ReportKind::Final => ("总结报告", "Final (summary) report"),
    }
}

/// Where the CAC measures (Art. 4) send an operator's first report, by the operator types
/// they name; `None` for an operator type they do not.
fn report_to(operator_type: &str) -> Option<(&'static str, &'static str)> {
    match operator_type {
        "cii" => Some((
            "保护工作部门、公安机关",
            "the protection department (保护工作部门) and the public security organ",
        )),
        "state_organ" => Some((
            "本部门网信工作机构",
            "the cyberspace affairs office of the operator's own department",
        )),
        "other" => Some((
            "属地省级网信部门",
            "the provincial cyberspace administration where the operator is located",
        )),
        _ => None,
    }
}

fn action_name(a: Action) -> (&'static str, &'static str) {
    match a {
        Action::Log => ("记录预警", "Log the warning"),
        Action::NotifyOperator => ("通知运营者", "Notify the operator"),
        Action::HumanReview => ("人工复核输出", "Put a person on the outputs (human review)"),
        Action::Throttle => ("限流", "Throttle the service"),
        Action::Fallback => (
            "切换至安全模式或人工流程",
            "Fall back to a safe mode or a manual process",
        ),
        Action::Suspend => ("暂停人工智能功能", "Suspend the AI function"),
        Action::ReportRegulator => ("向监管部门报告", "Report to the regulator"),
        Action::PublicNotice => (
            "向公众或受影响者通报",
            "Inform the public or the people affected",
        ),
    }
}

fn status_words(status: &str) -> (&'static str, &'static str) {
    match status {
        "filed" => ("已按时报送", "filed on time"),
        "filed_late" => ("已报送（逾期）", "filed late"),
        "overdue" => ("未报送，已逾期", "not filed, overdue"),
        "pending" => ("未报送，尚未到期", "not filed, deadline not yet passed"),
        _ => (
            "已取消（事件重新打开）",
            "cancelled (the incident reopened)",
        ),
    }
}

fn event_words(k: IncidentEventKind) -> &'static str {
    match k {
        IncidentEventKind::Opened => "事件开启 opened",
        IncidentEventKind::Escalated => "级别上升 escalated",
        IncidentEventKind::Acknowledged => "已确认 acknowledged",
        IncidentEventKind::ReportFiled => "已报送 report filed",
        IncidentEventKind::Overdue => "逾期 overdue",
        IncidentEventKind::Resolved => "已消除 resolved",
        IncidentEventKind::Reopened => "重新开启 reopened",
        IncidentEventKind::Closed => "已关闭 closed",
    }
}

fn level_zh(l: Level) -> &'static str {
    match l {
        Level::None => "无",
        Level::Blue => "蓝",
        Level::Yellow => "黄",
        Level::Orange => "橙",
        Level::Red => "红",
    }
}

/// The aggregate's JSON name (`rate`, `silence_ms`, ...), as the policy writes it.
fn aggregate_name(a: Aggregate) -> String {
    serde_json::to_value(a)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// `2026-03-07 08:05 UTC (北京时间 16:05)`; the Beijing date too when it differs.
fn utc_and_beijing(ts: i64) -> String {
    let u = iso(ts);
    let b = iso(ts + 8 * 3_600_000);
    let (ud, ut) = (&u[..10], &u[11..16]);
    let (bd, bt) = (&b[..10], &b[11..16]);
    if ud == bd {
        format!("{ud} {ut} UTC (北京时间 {bt})")
    } else {
        format!("{ud} {ut} UTC (北京时间 {bd} {bt})")
    }
}

// ------------------------------------------------------------------ one report

/// One evidence transition, as the report shows it.
struct Evidence<'a> {
    t: &'a Transition,
    cmp: &'static str,
    aggregate: Option<Aggregate>,
    window_ms: Option<i64>,
}

impl Evidence<'_> {
    fn show(&self, v: f64) -> String {
        match self.aggregate {
            Some(Aggregate::SilenceMs) => duration(v as i64),
            Some(Aggregate::Rate) => format!("{} ({:.2}%)", num(v), v * 100.0),
            _ => num(v),
        }
    }

    fn value(&self) -> String {
        match self.t.value {
            Some(v) => self.show(v),
            None => "—（窗口为空 window empty）".into(),
        }
    }

    fn threshold(&self) -> String {
        match self.t.threshold {
            Some(th) if self.t.to > self.t.from => format!("{} {}", self.cmp, self.show(th)),
            Some(th) => self.show(th),
            None => "—".into(),
        }
    }

    fn window(&self) -> String {
        match (self.aggregate, self.window_ms) {
            (Some(Aggregate::SilenceMs), _) => "since the last observation 自最近一次上报".into(),
            (Some(a), Some(w)) => format!("{} over {}", aggregate_name(a), duration(w)),
            _ => "—".into(),
        }
    }
}

/// A JSON value whose objects keep their members in the order given (serde_json's own
/// objects sort them).
pub enum J {
    V(Value),
    O(Vec<(&'static str, J)>),
    A(Vec<J>),
}

impl serde::Serialize for J {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        match self {
            J::V(x) => x.serialize(s),
            J::O(members) => {
                let mut m = s.serialize_map(Some(members.len()))?;
                for (k, x) in members {
                    m.serialize_entry(k, x)?;
                }
                m.end()
            }
            J::A(items) => {
                let mut q = s.serialize_seq(Some(items.len()))?;
                for x in items {
                    q.serialize_element(x)?;
                }
                q.end()
            }
        }
    }
}

fn v(x: impl serde::Serialize) -> J {
    J::V(serde_json::to_value(x).unwrap_or(Value::Null))
}

/// The document of one report, as JSON and Markdown.
pub struct Document {
    pub stem: String,
    pub json: J,
    pub md: String,
}

impl Tracker {
    fn evidence_of<'a>(&'a self, t: &'a Transition) -> Evidence<'a> {
        let rule = t.rule_id.as_deref().and_then(|id| self.policy.rule(id));
        Evidence {
            t,
            cmp: match rule.map(|r| r.direction) {
                Some(Direction::Below) => "≤",
                _ => "≥",
            },
            aggregate: rule.map(|r| r.aggregate),
            window_ms: rule.and_then(|r| r.window_ms),
        }
    }

    /// The report document for `r` of `t`, as the log stood at `end` (its last time).
    pub fn document(&self, t: &Track, r: &ReportDue, end: i64) -> Document {
        let ip = self.policy.incidents();
        let meta = self.systems.get(&*t.system).cloned().unwrap_or_default();
        let as_of = r.filed.as_ref().map_or(end, |f| f.0).max(r.since);
        let evidence: Vec<Evidence<'_>> = t
            .evidence
            .iter()
            .filter(|x| x.ts <= as_of)
            .map(|x| self.evidence_of(x))
            .collect();
        let timeline: Vec<&IncidentEvent> = t.timeline.iter().filter(|e| e.ts <= as_of).collect();
        // The severity as of the report (it never falls, so the last event's).
        let (severity, severity_name) = match timeline.last() {
            Some(e) => (e.severity.clone(), e.severity_name.clone()),
            None => (t.severity.clone(), t.severity_name.clone()),
        };
        let mut measures = airisk::Actions::default();
        for e in &evidence {
            measures.0 |= e.t.actions.0;
        }
        let op = ip.and_then(|p| p.operator_types.iter().find(|o| o.id == t.operator_type));
        let op_name = op.map(|o| &o.name);
        let within = r.by - r.since;
        let grade = self.policy.grade(&meta.grade);
        let status = r.status();
        let (rz, re) = report_name(r.kind);
        let to = report_to(&t.operator_type);
        let stem = format!("{}.{}", t.id.replace('/', "_"), r.file_kind());
        let basis = ip.and_then(|p| p.basis.as_deref());

        // ---- JSON (members in the order of the form)
        let ev_json: Vec<J> = evidence
            .iter()
            .map(|e| {
                J::O(vec![
                    ("seq", v(e.t.seq)),
                    ("at", v(iso(e.t.ts))),
                    ("rule", v(e.t.rule_id.as_deref())),
                    ("rule_name", i18n_json(e.t.rule_name.as_deref())),
                    ("from", v(e.t.from)),
                    ("to", v(e.t.to)),
                    ("value", v(e.t.value)),
                    ("comparison", v((e.t.to > e.t.from).then_some(e.cmp))),
                    ("threshold", v(e.t.threshold)),
                    ("aggregate", v(e.aggregate.map(aggregate_name))),
                    ("window_ms", v(e.window_ms)),
                    ("basis", v(e.t.basis.as_deref())),
                    ("actions", v(e.t.actions)),
                ])
            })
            .collect();
        let tl_json: Vec<J> = timeline
            .iter()
            .map(|e| {
                let mut o = vec![
                    ("seq", v(e.seq)),
                    ("at", v(iso(e.ts))),
                    ("event", v(e.event)),
                    ("severity", v(&*e.severity)),
                    (
                        "due",
                        match e.due {
                            Some(d) => J::O(vec![("report", v(d.report)), ("by", v(iso(d.by)))]),
                            None => J::V(Value::Null),
                        },
                    ),
                ];
                if let (Some(rule), Some(level)) = (&e.rule, e.level) {
                    o.push(("rule", v(&**rule)));
                    o.push(("level", v(level)));
                }
                if let Some(k) = e.report {
                    o.push(("report", v(k)));
                    o.push(("late", v(e.late)));
                    o.push(("reference", v(e.reference.as_deref())));
                }
                if let Some(b) = &e.by {
                    o.push(("by", v(&**b)));
                }
                J::O(o)
            })
            .collect();
        let json = J::O(vec![
            ("report", v(r.kind)),
            ("report_name", zh_en(rz, re)),
            ("incident", v(&*t.id)),
            ("status", v(status)),
            (
                "report_to",
                to.map_or(J::V(Value::Null), |(z, e)| zh_en(z, e)),
            ),
            ("operator", v(&meta.operator)),
            ("operator_type", v(&*t.operator_type)),
            ("operator_type_name", i18n_json(op_name)),
            ("system", v(&*t.system)),
            ("system_name", v(&meta.name)),
            ("grade", v(&meta.grade)),
            ("grade_name", i18n_json(grade.map(|g| &g.name))),
            ("category", v(&*t.category)),
            ("category_name", i18n_json(t.category_name.as_deref())),
            ("severity", v(&*severity)),
            ("severity_name", i18n_json(severity_name.as_deref())),
            ("discovered_at", v(iso(t.opened_at))),
            ("reportable_since", v(t.reportable_since.map(iso))),
            ("due_since", v(iso(r.since))),
            ("deadline", v(iso(r.by))),
            ("due_within_s", v(within / 1000)),
            ("filed_at", v(r.filed.as_ref().map(|f| iso(f.0)))),
            ("late", v(r.filed.as_ref().map(|f| f.1))),
            ("reference", v(r.filed.as_ref().map(|f| &*f.2))),
            ("overdue_since", v(r.overdue_at.map(iso))),
            ("cancelled_at", v(r.cancelled_at.map(iso))),
            (
                "acknowledged",
                v(t.acknowledged
                    .as_ref()
                    .filter(|a| a.0 <= as_of)
                    .map(|(ts, by)| json!({"at": iso(*ts), "by": &**by}))),
            ),
            (
                "resolved_at",
                v(t.resolved_at.filter(|x| *x <= as_of).map(iso)),
            ),
            ("closed_at", v(t.closed_at.filter(|x| *x <= as_of).map(iso))),
            ("as_of", v(iso(as_of))),
            ("evidence", J::A(ev_json)),
            ("evidence_omitted", v(t.evidence_omitted)),
            ("measures", v(measures)),
            ("timeline", J::A(tl_json)),
            ("basis", v(basis)),
            ("policy_version", v(self.policy.version())),
        ]);

        // ---- Markdown
        let mut m = String::new();
        let _ = writeln!(m, "# 网络安全事件{rz} · {re}\n");
        let (sz, se) = status_words(status);
        let _ = writeln!(
            m,
            "**事件编号 Incident** `{}` · **状态 Status** {sz} · {se}\n",
            t.id
        );
        m.push_str("| 字段 Field | 内容 Value |\n| --- | --- |\n");
        let mut row = |label: &str, value: String| {
            let _ = writeln!(m, "| {label} | {} |", value.replace('|', "\\|"));
        };
        row("报告类型 Report", format!("{rz} · {re}"));
        row(
            "报告对象 Report to",
            match to {
                Some((z, e)) => format!("{z} · {e}"),
                None => "— (the policy's operator type is not one the CAC measures name)".into(),
            },
        );
        row(
            "运营者 Operator",
            meta.operator.clone().unwrap_or_else(|| "—".into()),
        );
        row("运营者类型 Operator type", named(&t.operator_type, op_name));
        row(
            "系统 System",
            match &meta.name {
                Some(n) => format!("`{}` — {n}", t.system),
                None => format!("`{}`", t.system),
            },
        );
        row(
            "风险等级 Risk grade",
            named(&meta.grade, grade.map(|g| &g.name)),
        );
        row(
            "事件类别 Category",
            named(&t.category, t.category_name.as_deref()),
        );
        row(
            "事件级别 Severity",
            named(&severity, severity_name.as_deref()),
        );
        row("发现时间 Discovered at", utc_and_beijing(t.opened_at));
        if let Some(s) = t.reportable_since.filter(|s| *s != t.opened_at) {
            row("应报告起始 Reportable since", utc_and_beijing(s));
        }
        let from_what = match r.kind {
            ReportKind::Initial => "after it became reportable 成为应报告事件后",
            ReportKind::Update => "after the escalation 级别上升后",
            ReportKind::Final => "after resolution 事件消除后",
        };
        row(
            "报告时限 Deadline",
            format!(
                "{}; {} {from_what}",
                utc_and_beijing(r.by),
                duration(within)
            ),
        );
        row(
            "报送时间 Filed at",
            match &r.filed {
                Some((ts, late, reference)) => format!(
                    "{}{}, reference 编号 `{reference}`",
                    utc_and_beijing(*ts),
                    if *late { " — 逾期 late" } else { "" }
                ),
                None => match (r.cancelled_at, r.overdue_at) {
                    (Some(c), _) => format!(
                        "未报送 not filed: 事件于 {} 重新开启 the incident reopened",
                        utc_and_beijing(c)
                    ),
                    (None, Some(o)) => format!(
                        "未报送 not filed — 已逾期 overdue (reported overdue at {})",
                        utc_and_beijing(o)
                    ),
                    (None, None) => format!(
                        "未报送 not filed (the log ends at {}, before the deadline)",
                        utc_and_beijing(end)
                    ),
                },
            },
        );
        row(
            "确认 Acknowledged",
            match t.acknowledged.as_ref().filter(|a| a.0 <= as_of) {
                Some((ts, by)) => format!("{} by {by}", utc_and_beijing(*ts)),
                None => "—".into(),
            },
        );
        if let Some(x) = t.resolved_at.filter(|x| *x <= as_of) {
            row("消除时间 Resolved at", utc_and_beijing(x));
        }
        row("依据 Basis", basis.unwrap_or("—").to_owned());
        row("截至 As of", utc_and_beijing(as_of));

        m.push_str("\n## 事件经过 What happened\n\n");
        if evidence.is_empty() {
            m.push_str("No rule transition of this category before the report's time.\n");
        } else {
            m.push_str(
                "The warnings of this category on this system, as the monitoring rules raised and lowered them. \
                 本系统该类别的预警变化：\n\n",
            );
            m.push_str(
                "| 时间 Time (UTC) | 规则 Rule | 级别 Level | 数值 Value | 阈值 Threshold | 窗口 Window | 依据 Basis |\n\
                 | --- | --- | --- | --- | --- | --- | --- |\n",
            );
            for e in &evidence {
                let rule = e.t.rule_id.as_deref().unwrap_or("");
                let rule_cell = match both(e.t.rule_name.as_deref()) {
                    Some(n) => format!("`{rule}` {n}"),
                    None => format!("`{rule}`"),
                };
                let _ = writeln!(
                    m,
                    "| {} | {} | {} {} → **{} {}** | {} | {} | {} | {} |",
                    &iso(e.t.ts)[..16].replace('T', " "),
                    rule_cell.replace('|', "\\|"),
                    level_zh(e.t.from),
                    e.t.from,
                    level_zh(e.t.to),
                    e.t.to,
                    e.value(),
                    e.threshold(),
                    e.window(),
                    e.t.basis.as_deref().unwrap_or("—").replace('|', "\\|"),
                );
            }
            if t.evidence_omitted > 0 {
                let _ = match t.evidence_omitted {
                    1 => writeln!(m, "\n1 later transition is not listed."),
                    n => writeln!(m, "\n{n} later transitions are not listed."),
                };
            }
        }
        m.push_str("\n## 应对措施 Measures the responses called for\n\n");
        if measures.is_empty() {
            m.push_str("—\n");
        }
        for a in measures.iter() {
            let (z, e) = action_name(a);
            let _ = writeln!(m, "- {z} · {e} (`{}`)", a.name());
        }
        m.push_str("\n## 事件时间线 Incident timeline\n\n");
        m.push_str("| 时间 Time (UTC) | 事件 Event | 级别 Severity | 说明 Detail |\n| --- | --- | --- | --- |\n");
        for e in &timeline {
            let mut detail: Vec<String> = Vec::new();
            if let (Some(rule), Some(level)) = (&e.rule, e.level) {
                detail.push(format!("`{rule}` → {level}"));
            }
            if let Some(k) = e.report {
                detail.push(format!(
                    "{} report{}, reference `{}`",
                    k.name(),
                    if e.late == Some(true) {
                        " (late 逾期)"
                    } else {
                        ""
                    },
                    e.reference.as_deref().unwrap_or("")
                ));
            }
            if let Some(b) = &e.by {
                detail.push(format!("by {b}"));
            }
            if let Some(d) = e.due {
                let what = if e.event == IncidentEventKind::Overdue {
                    "missed"
                } else {
                    "next due"
                };
                detail.push(format!(
                    "{what}: {} by {}",
                    d.report.name(),
                    &iso(d.by)[..16].replace('T', " ")
                ));
            }
            let _ = writeln!(
                m,
                "| {} | {} | {} | {} |",
                &iso(e.ts)[..16].replace('T', " "),
                event_words(e.event),
                match e.severity_name.as_deref().and_then(|n| n.zh.as_deref()) {
                    Some(z) => format!("{z} {}", e.severity),
                    None => e.severity.to_string(),
                },
                detail.join("; ").replace('|', "\\|")
            );
        }
        if t.timeline_omitted > 0 {
            let _ = match t.timeline_omitted {
                1 => writeln!(m, "\n1 later event is not listed."),
                n => writeln!(m, "\n{n} later events are not listed."),
            };
        }
        let _ = write!(
            m,
            "\n---\n\nGenerated by `airisk replay --reports` from the monitoring log{}. \
             Times are UTC; Beijing time (UTC+8) in parentheses. \
             由 airisk 根据监测日志生成。\n",
            match self.policy.version() {
                Some(v) => format!(" under policy {v}"),
                None => String::new(),
            }
        );
        Document { stem, json, md: m }
    }

    /// Writes every report document into `dir` (created if missing). Returns the counts
    /// by status, in the order filed, filed_late, overdue, pending, cancelled.
    pub fn write_reports(&self, dir: &Path, end: i64) -> std::io::Result<[u64; 5]> {
        std::fs::create_dir_all(dir)?;
        let mut counts = [0u64; 5];
        for (t, r) in self.reports() {
            let d = self.document(t, r, end);
            let mut j = serde_json::to_string_pretty(&d.json).unwrap_or_default();
            j.push('\n');
            std::fs::write(dir.join(format!("{}.json", d.stem)), j)?;
            std::fs::write(dir.join(format!("{}.md", d.stem)), &d.md)?;
            let i = match r.status() {
                "filed" => 0,
                "filed_late" => 1,
                "overdue" => 2,
                "pending" => 3,
                _ => 4,
            };
            counts[i] += 1;
        }
        Ok(counts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn due(kind: ReportKind, n: u32) -> ReportDue {
        ReportDue {
            kind,
            n,
            since: 0,
            by: 3_600_000,
            filed: None,
            overdue_at: None,
            cancelled_at: None,
        }
    }

    #[test]
    fn reports_are_named_by_kind_and_count_and_say_how_they_stand() {
        assert_eq!(due(ReportKind::Initial, 1).file_kind(), "initial");
        assert_eq!(due(ReportKind::Update, 1).file_kind(), "update");
        assert_eq!(due(ReportKind::Update, 2).file_kind(), "update-2");
        let mut r = due(ReportKind::Final, 1);
        assert_eq!(r.status(), "pending");
        r.overdue_at = Some(3_600_000);
        assert_eq!(r.status(), "overdue");
        r.filed = Some((3_700_000, true, Arc::from("x")));
        assert_eq!(r.status(), "filed_late");
        r.filed = Some((3_500_000, false, Arc::from("x")));
        assert_eq!(r.status(), "filed");
        let mut c = due(ReportKind::Final, 1);
        c.cancelled_at = Some(1);
        assert_eq!(c.status(), "cancelled");
        assert_eq!(
            report_to("cii").map(|x| x.0),
            Some("保护工作部门、公安机关")
        );
        assert_eq!(report_to("robotics_lab"), None);
        assert_eq!(utc_and_beijing(0), "1970-01-01 00:00 UTC (北京时间 08:00)");
        assert_eq!(
            utc_and_beijing(16 * 3_600_000),
            "1970-01-01 16:00 UTC (北京时间 1970-01-02 00:00)"
        );
    }
}
