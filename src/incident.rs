//! Incidents and reporting to the regulator (应急响应 · 事件报告).
//!
//! Warnings are early; most never become something a regulator must hear of. Under a
//! policy with an `incidents` section, a warning at or above `open_at` opens an
//! *incident* for its system and category; the incident carries the reporting duty:
//!
//! - **Opening.** Keyed by (system, category): when a rule of category c on system s
//!   reaches a level ≥ `open_at` and (s, c) has no incident that is not closed, one opens at
//!   that transition's time, with id `"<system>/<category>/<n>"` (n counts the key's
//!   incidents from 1).
//! - **Severity** is the highest, over the incident's life, of the severity mapped from the
//!   level of any rule of c on s; it never falls. A rise after opening is `escalated`.
//! - **Reporting.** Once its severity reaches `report_at` the incident is reportable and
//!   its initial report is due within the operator type's `initial_within_s`. An escalation
//!   of a reportable incident whose initial report is filed makes an update report due
//!   within the same time. A warning that opens no reportable incident asks for no report.
//! - **Acknowledgement.** With `ack_within_s`, an incident must be acknowledged that long
//!   after it opened.
//! - **Resolution.** When every rule of c on s is back at none the incident is resolved;
//!   a reportable one then owes a final report within `final_within_s` (filing it closes
//!   the incident), a non-reportable one closes at once. A rule rising to ≥ `open_at`
//!   again before closing reopens the same incident and cancels the final deadline.
//! - **Deadlines run on event time**: whenever the system is evaluated at watermark w, each
//!   owed report or acknowledgement whose deadline ≤ w emits one `overdue` event.
//!
//! Incident events are a stream of their own with their own `seq`; see [`IncidentEvent`].

use crate::handle::SystemHandle;
use crate::level::Level;
use crate::policy::Compiled;
use crate::policy::model::{I18n, IncidentsPolicy, Rule};
use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};
use std::sync::Arc;

/// What happened to an incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncidentEventKind {
    /// A rule of the category reached `open_at`; the incident opened.
    Opened,
    /// Its severity rose.
    Escalated,
    /// The operator acknowledged it.
    Acknowledged,
    /// A report was filed.
    ReportFiled,
    /// A report or the acknowledgement was not made by its deadline.
    Overdue,
    /// Every rule of the category is back at none.
    Resolved,
    /// A rule rose to `open_at` again before the incident closed.
    Reopened,
    /// The incident is over: resolved and, if reportable, its final report filed.
    Closed,
}

impl IncidentEventKind {
    /// The JSON name (`opened`, `report_filed`, ...).
    pub const fn name(self) -> &'static str {
        match self {
            IncidentEventKind::Opened => "opened",
            IncidentEventKind::Escalated => "escalated",
            IncidentEventKind::Acknowledged => "acknowledged",
            IncidentEventKind::ReportFiled => "report_filed",
            IncidentEventKind::Overdue => "overdue",
            IncidentEventKind::Resolved => "resolved",
            IncidentEventKind::Reopened => "reopened",
            IncidentEventKind::Closed => "closed",
        }
    }
}

/// A report to the regulator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportKind {
    /// The first report, once the incident is reportable.
    Initial,
    /// After an escalation of a reportable incident whose initial report was filed.
    Update,
    /// After resolution.
    Final,
}

impl ReportKind {
    /// The JSON name.
    pub const fn name(self) -> &'static str {
        match self {
            ReportKind::Initial => "initial",
            ReportKind::Update => "update",
            ReportKind::Final => "final",
        }
    }

    /// Parses a JSON name.
    pub fn from_name(s: &str) -> Option<ReportKind> {
        [ReportKind::Initial, ReportKind::Update, ReportKind::Final]
            .into_iter()
            .find(|k| k.name() == s)
    }
}

/// Something owed by a deadline: the acknowledgement or a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DueKind {
    /// The acknowledgement (`ack_within_s`).
    Ack,
    /// The initial report.
    Initial,
    /// An update report.
    Update,
    /// The final report.
    Final,
}

impl DueKind {
    /// The JSON name (`ack`, `initial`, `update`, `final`).
    pub const fn name(self) -> &'static str {
        match self {
            DueKind::Ack => "ack",
            DueKind::Initial => "initial",
            DueKind::Update => "update",
            DueKind::Final => "final",
        }
    }
}

impl From<ReportKind> for DueKind {
    fn from(k: ReportKind) -> DueKind {
        match k {
            ReportKind::Initial => DueKind::Initial,
            ReportKind::Update => DueKind::Update,
            ReportKind::Final => DueKind::Final,
        }
    }
}

/// A deadline: what is owed, by when (ms, event time).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Due {
    /// What is owed.
    pub report: DueKind,
    /// The deadline.
    pub by: i64,
}

/// Where an incident is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncidentState {
    /// A rule of its category is above none.
    Open,
    /// Every rule of its category is back at none; the final report is owed.
    Resolved,
    /// Over.
    Closed,
}

/// An acknowledgement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acknowledgement {
    /// When (caller's time).
    pub ts: i64,
    /// By whom.
    pub by: Arc<str>,
}

/// A filed report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FiledReport {
    /// Which report.
    pub report: ReportKind,
    /// When it was filed (caller's time).
    pub ts: i64,
    /// Its deadline.
    pub due_by: i64,
    /// Filed at or after its deadline.
    pub late: bool,
    /// The caller's reference (e.g. the regulator's receipt number).
    pub reference: Arc<str>,
}

/// Something owed, and whether its `overdue` event was emitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owed {
    /// What and by when.
    #[serde(flatten)]
    pub due: Due,
    /// Whether the deadline has passed (its `overdue` event was emitted).
    pub overdue: bool,
}

/// One event of an incident's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// Its time.
    pub ts: i64,
    /// What happened.
    pub event: IncidentEventKind,
}

/// An incident (事件): one episode of risk on one system in one category, from the first
/// warning at or above `open_at` until it closes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    /// `"<system id>/<category id>/<n>"`.
    pub id: Arc<str>,
    /// The system's handle.
    pub system: SystemHandle,
    /// The system's id.
    pub system_id: Arc<str>,
    /// The category's id.
    pub category: Arc<str>,
    /// Open, resolved or closed.
    pub state: IncidentState,
    /// The severity's id (the highest so far).
    pub severity: Arc<str>,
    /// The severity's rank in the policy's ladder.
    pub severity_rank: u32,
    /// Whether its severity has reached `report_at`.
    pub reportable: bool,
    /// The system's operator type (it sets the reporting deadlines).
    pub operator_type: Arc<str>,
    /// When it opened.
    pub opened_at: i64,
    /// When it was last resolved, if it is resolved.
    pub resolved_at: Option<i64>,
    /// The acknowledgement, if any.
    pub acknowledged: Option<Acknowledgement>,
    /// What it owes now (at most one of each kind).
    pub owed: Vec<Owed>,
    /// Reports filed so far.
    pub filed: Vec<FiledReport>,
    /// Its events so far.
    pub history: Vec<HistoryEntry>,
    #[serde(skip)]
    pub(crate) category_ix: u32,
}

/// An event of an incident: the incident stream's only item.
///
/// Serialises to one JSON line:
///
/// ```json
/// {"kind": "incident", "seq": 3, "ts": 1764374400000, "event": "opened",
///  "incident": "bus-1/physical_safety/1", "system": "bus-1", "category": "physical_safety",
///  "severity": "critical", "reportable": true, "operator_type": "cii",
///  "due": {"report": "initial", "by": 1764378000000}, "rule": "safety-incidents",
///  "level": "red", "basis": "..."}
/// ```
///
/// `due` is the earliest-deadline report still owed after the event (ties: initial,
/// update, final; never the acknowledgement), or null; for `overdue` it is the one missed,
/// which may be `ack`. Events caused by a rule transition (`opened`, `reopened`,
/// `escalated`, `resolved`, the `closed` right after it) carry that transition's rule and
/// new level; the others carry null. `report_filed` adds `report`, `late` and `reference`;
/// `acknowledged` adds `by`. Display names from the policy follow when it gives them:
/// `"category_name"`, `"severity_name"`, `"rule_name"`, each `{"zh": .., "en": ..}`.
#[derive(Debug, Clone, PartialEq)]
pub struct IncidentEvent {
    /// Incident-stream sequence number, from 1 (separate from transitions' `seq`).
    pub seq: u64,
    /// Event time: the system's watermark, or the caller's time for an acknowledgement or
    /// a filing.
    pub ts: i64,
    /// What happened.
    pub event: IncidentEventKind,
    /// The incident's id.
    pub incident: Arc<str>,
    /// The system's handle.
    pub system: SystemHandle,
    /// The system's id.
    pub system_id: Arc<str>,
    /// The category's id.
    pub category: Arc<str>,
    /// The severity's id after the event.
    pub severity: Arc<str>,
    /// The severity's rank.
    pub severity_rank: u32,
    /// Whether the incident is reportable after the event.
    pub reportable: bool,
    /// The system's operator type.
    pub operator_type: Arc<str>,
    /// See the type's docs.
    pub due: Option<Due>,
    /// The rule whose transition caused the event.
    pub rule: Option<Arc<str>>,
    /// That rule's index.
    pub rule_index: Option<u32>,
    /// That transition's new level.
    pub level: Option<Level>,
    /// The incidents section's basis.
    pub basis: Option<Arc<str>>,
    /// `report_filed`: which report.
    pub report: Option<ReportKind>,
    /// `report_filed`: filed at or after its deadline.
    pub late: Option<bool>,
    /// `report_filed`: the caller's reference.
    pub reference: Option<Arc<str>>,
    /// `acknowledged`: by whom.
    pub by: Option<Arc<str>>,
    /// The category's display name, if the policy gives one.
    pub category_name: Option<Arc<I18n>>,
    /// The severity's display name, if the policy gives one.
    pub severity_name: Option<Arc<I18n>>,
    /// The rule's display name, if the policy gives one (events caused by a transition).
    pub rule_name: Option<Arc<I18n>>,
}

impl IncidentEvent {
    /// The JSON form, one line.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

impl Serialize for IncidentEvent {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("kind", "incident")?;
        m.serialize_entry("seq", &self.seq)?;
        m.serialize_entry("ts", &self.ts)?;
        m.serialize_entry("event", &self.event)?;
        m.serialize_entry("incident", &*self.incident)?;
        m.serialize_entry("system", &*self.system_id)?;
        m.serialize_entry("category", &*self.category)?;
        m.serialize_entry("severity", &*self.severity)?;
        m.serialize_entry("reportable", &self.reportable)?;
        m.serialize_entry("operator_type", &*self.operator_type)?;
        m.serialize_entry("due", &self.due)?;
        m.serialize_entry("rule", &self.rule.as_deref())?;
        m.serialize_entry("level", &self.level)?;
        m.serialize_entry("basis", &self.basis.as_deref())?;
        if let Some(r) = self.report {
            m.serialize_entry("report", &r)?;
        }
        if let Some(l) = self.late {
            m.serialize_entry("late", &l)?;
        }
        if let Some(r) = &self.reference {
            m.serialize_entry("reference", &**r)?;
        }
        if let Some(b) = &self.by {
            m.serialize_entry("by", &**b)?;
        }
        if let Some(n) = &self.category_name {
            m.serialize_entry("category_name", &**n)?;
        }
        if let Some(n) = &self.severity_name {
            m.serialize_entry("severity_name", &**n)?;
        }
        if let Some(n) = &self.rule_name {
            m.serialize_entry("rule_name", &**n)?;
        }
        m.end()
    }
}

/// Why a caller's action on an incident was refused (it changed nothing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refused {
    /// No incident with this id is open or resolved (it never was, or it closed).
    Unknown,
    /// What was filed is not owed (with the reason).
    NotDue(String),
}

/// One system's incidents that are not closed, and its counters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct SystemIncidents {
    /// Incidents not closed, in the order they opened.
    pub live: Vec<Incident>,
    /// Per category id: incidents opened so far (the next one's n is this + 1). Kept by id,
    /// so numbering survives a policy reload that reorders categories.
    pub opened: Vec<(Arc<str>, u32)>,
}

/// What an incident needs to know about its system and policy to emit events.
pub(crate) struct Ctx<'a> {
    pub policy: &'a Compiled,
    pub ip: &'a IncidentsPolicy,
    pub system: SystemHandle,
    pub system_id: &'a Arc<str>,
    pub operator_type: u32,
}

impl Ctx<'_> {
    fn operator_type_id(&self) -> Arc<str> {
        self.ip.operator_types[self.operator_type as usize]
            .id
            .clone()
    }
    fn initial_within_ms(&self) -> i64 {
        self.ip.operator_types[self.operator_type as usize]
            .initial_within_s
            .saturating_mul(1000)
    }
}

/// The rule whose transition causes incident events (a rule of the current policy, or one
/// a reload removed).
#[derive(Clone)]
pub(crate) struct RuleRef {
    pub id: Arc<str>,
    pub index: u32,
    pub name: Option<Arc<I18n>>,
}

impl RuleRef {
    /// A rule of `policy`.
    pub fn of(policy: &Compiled, rule: &Rule) -> RuleRef {
        RuleRef {
            id: rule.id.clone(),
            index: rule.index,
            name: policy.tables.names.rules[rule.index as usize].clone(),
        }
    }
}

/// The cause of an event: the rule transition, if any.
#[derive(Clone, Copy)]
pub(crate) struct Cause<'a> {
    pub rule: Option<&'a RuleRef>,
    pub level: Option<Level>,
}

impl Incident {
    fn owed(&self, k: DueKind) -> Option<&Owed> {
        self.owed.iter().find(|o| o.due.report == k)
    }

    fn set_owed(&mut self, k: DueKind, by: i64) {
        self.owed.retain(|o| o.due.report != k);
        self.owed.push(Owed {
            due: Due { report: k, by },
            overdue: false,
        });
        self.owed.sort_by_key(|o| o.due.report);
    }

    fn clear_owed(&mut self, k: DueKind) -> Option<Owed> {
        let i = self.owed.iter().position(|o| o.due.report == k)?;
        Some(self.owed.remove(i))
    }

    /// The earliest-deadline report still owed (ties: initial, update, final; never ack).
    fn next_report(&self) -> Option<Due> {
        self.owed
            .iter()
            .filter(|o| o.due.report != DueKind::Ack)
            .min_by_key(|o| (o.due.by, o.due.report))
            .map(|o| o.due)
    }

    fn event(
        &mut self,
        cx: &Ctx<'_>,
        kind: IncidentEventKind,
        ts: i64,
        cause: Cause<'_>,
    ) -> IncidentEvent {
        self.history.push(HistoryEntry { ts, event: kind });
        IncidentEvent {
            seq: 0,
            ts,
            event: kind,
            incident: self.id.clone(),
            system: cx.system,
            system_id: cx.system_id.clone(),
            category: self.category.clone(),
            severity: self.severity.clone(),
            severity_rank: self.severity_rank,
            reportable: self.reportable,
            operator_type: self.operator_type.clone(),
            due: self.next_report(),
            rule: cause.rule.map(|r| r.id.clone()),
            rule_index: cause.rule.map(|r| r.index),
            level: cause.level,
            basis: cx.ip.basis.clone(),
            report: None,
            late: None,
            reference: None,
            by: None,
            category_name: cx.policy.tables.names.categories[self.category_ix as usize].clone(),
            severity_name: cx.policy.tables.names.severities[self.severity_rank as usize].clone(),
            rule_name: cause.rule.and_then(|r| r.name.clone()),
        }
    }

    /// Raises the severity to `sev` (if higher) at `ts`: `escalated`, and the reports that
    /// the rise makes due.
    fn raise(
        &mut self,
        cx: &Ctx<'_>,
        sev: u32,
        ts: i64,
        cause: Cause<'_>,
        out: &mut Vec<IncidentEvent>,
    ) {
        if sev <= self.severity_rank {
            return;
        }
        self.set_severity(cx, sev);
        let was = self.reportable;
        self.reportable = sev >= cx.ip.report_at;
        let within = cx.initial_within_ms();
        if self.reportable && !was {
            self.set_owed(DueKind::Initial, ts.saturating_add(within));
        } else if was
            && self.filed.iter().any(|f| f.report == ReportKind::Initial)
            && self.owed(DueKind::Update).is_none()
        {
            self.set_owed(DueKind::Update, ts.saturating_add(within));
        }
        out.push(self.event(cx, IncidentEventKind::Escalated, ts, cause));
    }

    fn set_severity(&mut self, cx: &Ctx<'_>, sev: u32) {
        self.severity_rank = sev;
        self.severity = cx.ip.severities[sev as usize].id.clone();
    }
}

impl SystemIncidents {
    fn live_mut(&mut self, category: u32) -> Option<&mut Incident> {
        self.live.iter_mut().find(|i| i.category_ix == category)
    }

    /// The events a rule transition of `rule` (category `category`) to `to` at `ts`
    /// causes. `severity` is the highest severity the category's rules' current levels map
    /// to (`None` when none is at `open_at`); `all_none` says whether every rule of the
    /// category is at none.
    #[allow(clippy::too_many_arguments)]
    pub fn on_rule_change(
        &mut self,
        cx: &Ctx<'_>,
        rule: &RuleRef,
        category: u32,
        to: Level,
        ts: i64,
        severity: Option<u32>,
        all_none: bool,
        out: &mut Vec<IncidentEvent>,
    ) {
        let cause = Cause {
            rule: Some(rule),
            level: Some(to),
        };
        if to >= cx.ip.open_at {
            let sev = severity.unwrap_or(0);
            match self.live_mut(category) {
                None => self.open(cx, category, sev, ts, cause, out),
                Some(inc) => {
                    if inc.state == IncidentState::Resolved {
                        inc.state = IncidentState::Open;
                        inc.resolved_at = None;
                        inc.clear_owed(DueKind::Final);
                        out.push(inc.event(cx, IncidentEventKind::Reopened, ts, cause));
                    }
                    inc.raise(cx, sev, ts, cause, out);
                }
            }
            return;
        }
        if !all_none {
            return;
        }
        let Some(pos) = self
            .live
            .iter()
            .position(|i| i.category_ix == category && i.state == IncidentState::Open)
        else {
            return;
        };
        let inc = &mut self.live[pos];
        inc.state = IncidentState::Resolved;
        inc.resolved_at = Some(ts);
        if inc.reportable {
            inc.set_owed(
                DueKind::Final,
                ts.saturating_add(cx.ip.final_within_s.saturating_mul(1000)),
            );
        } else {
            // A non-reportable incident owes nothing more; nor its acknowledgement.
            inc.owed.clear();
        }
        out.push(inc.event(cx, IncidentEventKind::Resolved, ts, cause));
        if !inc.reportable {
            inc.state = IncidentState::Closed;
            out.push(inc.event(cx, IncidentEventKind::Closed, ts, cause));
            self.live.remove(pos);
        }
    }

    fn open(
        &mut self,
        cx: &Ctx<'_>,
        category: u32,
        sev: u32,
        ts: i64,
        cause: Cause<'_>,
        out: &mut Vec<IncidentEvent>,
    ) {
        let cat = cx.policy.categories[category as usize].id.clone();
        let n = match self.opened.iter_mut().find(|(c, _)| *c == cat) {
            Some((_, n)) => {
                *n += 1;
                *n
            }
            None => {
                self.opened.push((cat.clone(), 1));
                1
            }
        };
        let mut inc = Incident {
            id: Arc::from(format!("{}/{}/{n}", cx.system_id, cat)),
            system: cx.system,
            system_id: cx.system_id.clone(),
            category: cat,
            state: IncidentState::Open,
            severity: cx.ip.severities[sev as usize].id.clone(),
            severity_rank: sev,
            reportable: sev >= cx.ip.report_at,
            operator_type: cx.operator_type_id(),
            opened_at: ts,
            resolved_at: None,
            acknowledged: None,
            owed: Vec::new(),
            filed: Vec::new(),
            history: Vec::new(),
            category_ix: category,
        };
        if let Some(a) = cx.ip.ack_within_s {
            inc.set_owed(DueKind::Ack, ts.saturating_add(a.saturating_mul(1000)));
        }
        if inc.reportable {
            inc.set_owed(DueKind::Initial, ts.saturating_add(cx.initial_within_ms()));
        }
        out.push(inc.event(cx, IncidentEventKind::Opened, ts, cause));
        self.live.push(inc);
    }

    /// `overdue` events for what is owed by `w` and not yet reported overdue: by deadline,
    /// then in the order the incidents opened, then ack, initial, update, final.
    pub fn check_overdue(&mut self, cx: &Ctx<'_>, w: i64, out: &mut Vec<IncidentEvent>) {
        let mut missed: Vec<(i64, usize, DueKind)> = Vec::new();
        for (i, inc) in self.live.iter().enumerate() {
            for o in &inc.owed {
                if !o.overdue && o.due.by <= w {
                    missed.push((o.due.by, i, o.due.report));
                }
            }
        }
        missed.sort();
        for (by, i, k) in missed {
            let inc = &mut self.live[i];
            if let Some(o) = inc.owed.iter_mut().find(|o| o.due.report == k) {
                o.overdue = true;
            }
            let mut e = inc.event(
                cx,
                IncidentEventKind::Overdue,
                w,
                Cause {
                    rule: None,
                    level: None,
                },
            );
            e.due = Some(Due { report: k, by });
            out.push(e);
        }
    }

    /// The earliest deadline not yet reported overdue, or `i64::MAX`.
    pub fn next_deadline(&self) -> i64 {
        self.live
            .iter()
            .flat_map(|i| i.owed.iter())
            .filter(|o| !o.overdue)
            .map(|o| o.due.by)
            .min()
            .unwrap_or(i64::MAX)
    }

    fn find(&mut self, id: &str) -> Result<&mut Incident, Refused> {
        self.live
            .iter_mut()
            .find(|i| &*i.id == id)
            .ok_or(Refused::Unknown)
    }

    /// Acknowledges incident `id` at `ts`.
    pub fn acknowledge(
        &mut self,
        cx: &Ctx<'_>,
        id: &str,
        ts: i64,
        by: &str,
    ) -> Result<IncidentEvent, Refused> {
        let inc = self.find(id)?;
        if let Some(a) = &inc.acknowledged {
            return Err(Refused::NotDue(format!(
                "incident {id:?} was already acknowledged (at {} by {:?})",
                a.ts, a.by
            )));
        }
        let by: Arc<str> = Arc::from(by);
        inc.acknowledged = Some(Acknowledgement { ts, by: by.clone() });
        inc.clear_owed(DueKind::Ack);
        let mut e = inc.event(
            cx,
            IncidentEventKind::Acknowledged,
            ts,
            Cause {
                rule: None,
                level: None,
            },
        );
        e.by = Some(by);
        Ok(e)
    }

    /// Files report `kind` of incident `id` at `ts`.
    pub fn file_report(
        &mut self,
        cx: &Ctx<'_>,
        id: &str,
        kind: ReportKind,
        ts: i64,
        reference: &str,
        out: &mut Vec<IncidentEvent>,
    ) -> Result<(), Refused> {
        let pos = self
            .live
            .iter()
            .position(|i| &*i.id == id)
            .ok_or(Refused::Unknown)?;
        let inc = &mut self.live[pos];
        let Some(owed) = inc.owed(kind.into()).copied() else {
            return Err(Refused::NotDue(format!(
                "no {} report of incident {id:?} is due{}",
                kind.name(),
                match kind {
                    ReportKind::Final if inc.state == IncidentState::Open =>
                        " (the incident is not resolved)",
                    _ if !inc.reportable => " (the incident is not reportable)",
                    _ => "",
                }
            )));
        };
        if kind == ReportKind::Final {
            if let Some(o) = inc
                .owed
                .iter()
                .find(|o| matches!(o.due.report, DueKind::Initial | DueKind::Update))
            {
                return Err(Refused::NotDue(format!(
                    "the final report of incident {id:?} cannot be filed while its {} report is owed",
                    o.due.report.name()
                )));
            }
        }
        inc.clear_owed(kind.into());
        let late = ts >= owed.due.by;
        let reference: Arc<str> = Arc::from(reference);
        inc.filed.push(FiledReport {
            report: kind,
            ts,
            due_by: owed.due.by,
            late,
            reference: reference.clone(),
        });
        let none = Cause {
            rule: None,
            level: None,
        };
        let mut e = inc.event(cx, IncidentEventKind::ReportFiled, ts, none);
        e.report = Some(kind);
        e.late = Some(late);
        e.reference = Some(reference);
        out.push(e);
        if kind == ReportKind::Final {
            inc.state = IncidentState::Closed;
            inc.owed.clear();
            out.push(inc.event(cx, IncidentEventKind::Closed, ts, none));
            self.live.remove(pos);
        }
        Ok(())
    }
}

/// The system id of an incident id: all but its last two `/`-separated segments.
pub(crate) fn system_of(incident: &str) -> Option<&str> {
    let (rest, _n) = incident.rsplit_once('/')?;
    let (system, _category) = rest.rsplit_once('/')?;
    (!system.is_empty()).then_some(system)
}

/// The severity the rules of `category` call for now, and whether all are at none.
pub(crate) fn category_state(
    ip: &IncidentsPolicy,
    rules: &[u32],
    category: u32,
    level: impl Fn(usize) -> Level,
) -> (Option<u32>, bool) {
    let mut sev: Option<u32> = None;
    let mut all_none = true;
    for &r in rules {
        let l = level(r as usize);
        if l != Level::None {
            all_none = false;
        }
        if let Some(s) = ip.severity(category, l) {
            sev = Some(sev.map_or(s, |x| x.max(s)));
        }
    }
    (sev, all_none)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_id_is_all_but_the_last_two_segments() {
        assert_eq!(system_of("bus-1/physical_safety/1"), Some("bus-1"));
        assert_eq!(system_of("a/b/c/hallucination/12"), Some("a/b/c"));
        assert_eq!(system_of("x/1"), None);
        assert_eq!(system_of("/c/1"), None);
    }

    #[test]
    fn due_kinds_order_ack_initial_update_final() {
        let mut v = [
            DueKind::Final,
            DueKind::Update,
            DueKind::Initial,
            DueKind::Ack,
        ];
        v.sort();
        assert_eq!(
            v,
            [
                DueKind::Ack,
                DueKind::Initial,
                DueKind::Update,
                DueKind::Final
            ]
        );
        assert_eq!(DueKind::from(ReportKind::Final), DueKind::Final);
    }
}
