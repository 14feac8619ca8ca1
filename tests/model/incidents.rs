//! Incidents (§7, `docs/policy.md` "Incidents"), naively: every incident a system ever had is kept in a list,
//! closed ones included, and each event is built from the incident's fields after the
//! change.

use super::Reject;
use super::policy::ModelIncidents;
use airisk::{DueKind, IncidentEventKind, Level, ReportKind};

/// "from the first warning at or above the policy's `open_at` level until its final
/// report".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncState {
    Open,
    Resolved,
    Closed,
}

/// Something owed by a deadline, and whether its `overdue` event was emitted ("once per
/// deadline").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owed {
    pub kind: DueKind,
    pub by: i64,
    pub overdue: bool,
}

/// One incident.
#[derive(Debug, Clone)]
pub struct Inc {
    /// `"<system id>/<category id>/<n>"`.
    pub id: String,
    pub category: String,
    pub state: IncState,
    /// Severity rank ("It never falls").
    pub severity: usize,
    /// "reportable once its severity ≥ `report_at`".
    pub reportable: bool,
    /// The system's operator type when it opened.
    pub operator_type: String,
    pub opened_at: i64,
    pub resolved_at: Option<i64>,
    pub acknowledged: Option<(i64, String)>,
    /// "At most one report of each kind is owed at a time."
    pub owed: Vec<Owed>,
    pub initial_filed: bool,
}

impl Inc {
    fn owes(&self, k: DueKind) -> Option<Owed> {
        self.owed.iter().copied().find(|o| o.kind == k)
    }

    fn set_owed(&mut self, kind: DueKind, by: i64) {
        self.owed.retain(|o| o.kind != kind);
        self.owed.push(Owed {
            kind,
            by,
            overdue: false,
        });
    }

    fn clear_owed(&mut self, kind: DueKind) {
        self.owed.retain(|o| o.kind != kind);
    }

    /// "`due` on an event = the earliest-deadline report still owed after the event (ties:
    /// initial, update, final; never ack), else null."
    pub fn due(&self) -> Option<(DueKind, i64)> {
        self.owed
            .iter()
            .filter(|o| o.kind != DueKind::Ack)
            .min_by_key(|o| (o.by, o.kind))
            .map(|o| (o.kind, o.by))
    }
}

/// An incident event, in a form both the model and the engine's output convert to,
/// compared field for field.
#[derive(Debug, Clone, PartialEq)]
pub struct Ev {
    pub seq: u64,
    pub ts: i64,
    pub event: IncidentEventKind,
    pub incident: String,
    pub system: u32,
    pub system_id: String,
    pub category: String,
    pub severity: String,
    pub severity_rank: u32,
    pub reportable: bool,
    pub operator_type: String,
    pub due: Option<(DueKind, i64)>,
    pub rule: Option<String>,
    pub rule_index: Option<u32>,
    pub level: Option<Level>,
    pub basis: Option<String>,
    pub report: Option<ReportKind>,
    pub late: Option<bool>,
    pub reference: Option<String>,
    pub by: Option<String>,
}

impl From<&airisk::IncidentEvent> for Ev {
    fn from(e: &airisk::IncidentEvent) -> Ev {
        Ev {
            seq: e.seq,
            ts: e.ts,
            event: e.event,
            incident: e.incident.to_string(),
            system: e.system.0,
            system_id: e.system_id.to_string(),
            category: e.category.to_string(),
            severity: e.severity.to_string(),
            severity_rank: e.severity_rank,
            reportable: e.reportable,
            operator_type: e.operator_type.to_string(),
            due: e.due.map(|d| (d.report, d.by)),
            rule: e.rule.as_deref().map(str::to_owned),
            rule_index: e.rule_index,
            level: e.level,
            basis: e.basis.as_deref().map(str::to_owned),
            report: e.report,
            late: e.late,
            reference: e.reference.as_deref().map(str::to_owned),
            by: e.by.as_deref().map(str::to_owned),
        }
    }
}

/// Where events happen: the system and the policy's section.
pub struct Cx<'a> {
    pub ip: &'a ModelIncidents,
    pub system: u32,
    pub system_id: &'a str,
    /// The system's operator type (it sets `initial_within_s`).
    pub operator_type: usize,
}

impl Cx<'_> {
    fn initial_within_ms(&self) -> i64 {
        self.ip.operator_types[self.operator_type].1 * 1000
    }
}

/// The rule transition that caused an event: (rule id, rule index, new level).
pub type Cause<'a> = Option<(&'a str, u32, Level)>;

/// Every incident of one system, in the order they opened, closed ones included.
#[derive(Debug, Clone, Default)]
pub struct SysIncidents {
    pub all: Vec<Inc>,
}

fn event(cx: &Cx<'_>, inc: &Inc, kind: IncidentEventKind, ts: i64, cause: Cause<'_>) -> Ev {
    Ev {
        seq: 0,
        ts,
        event: kind,
        incident: inc.id.clone(),
        system: cx.system,
        system_id: cx.system_id.to_owned(),
        category: inc.category.clone(),
        severity: cx.ip.severities[inc.severity].clone(),
        severity_rank: inc.severity as u32,
        reportable: inc.reportable,
        operator_type: inc.operator_type.clone(),
        due: inc.due(),
        rule: cause.map(|c| c.0.to_owned()),
        rule_index: cause.map(|c| c.1),
        level: cause.map(|c| c.2),
        // "Every incident event's `basis` is the incidents section's `basis`."
        basis: cx.ip.basis.clone(),
        report: None,
        late: None,
        reference: None,
        by: None,
    }
}

impl SysIncidents {
    /// The incident of `category` that is not closed, if any.
    fn live(&mut self, category: &str) -> Option<&mut Inc> {
        self.all
            .iter_mut()
            .find(|i| i.category == category && i.state != IncState::Closed)
    }

    /// The incidents that are not closed, in the order they opened.
    pub fn not_closed(&self) -> impl Iterator<Item = &Inc> {
        self.all.iter().filter(|i| i.state != IncState::Closed)
    }

    /// The events a rule transition of category `category` to `to` at `ts` causes, where
    /// `levels` are the levels of the category's rules at that point ("computed from the
    /// rule levels at that point (rules evaluated later in the same evaluation still have
    /// their old levels)").
    #[allow(clippy::too_many_arguments)]
    pub fn on_rule_change(
        &mut self,
        cx: &Cx<'_>,
        cause: (&str, u32),
        category: &str,
        to: Level,
        ts: i64,
        levels: &[Level],
        out: &mut Vec<Ev>,
    ) {
        let ip = cx.ip;
        let cause = Some((cause.0, cause.1, to));
        // "Severity = the highest, over the incident's life, of the severity mapped from
        // the level of any rule of c on s".
        let sev = levels
            .iter()
            .filter_map(|l| ip.severity(category, *l))
            .max();
        if to >= ip.open_at {
            let sev = sev.expect("a rule at open_at maps to a severity");
            match self.live(category) {
                None => {
                    // "When a rule of category c on system s reaches a level ≥ `open_at`
                    // and (s, c) has no incident that is not yet closed, an incident opens
                    // at that transition's ts. Its id is "<system id>/<category id>/<n>",
                    // n counting that key's incidents from 1."
                    let n = self.all.iter().filter(|i| i.category == category).count() + 1;
                    let mut inc = Inc {
                        id: format!("{}/{category}/{n}", cx.system_id),
                        category: category.to_owned(),
                        state: IncState::Open,
                        severity: sev,
                        reportable: sev >= ip.report_at,
                        operator_type: ip.operator_types[cx.operator_type].0.clone(),
                        opened_at: ts,
                        resolved_at: None,
                        acknowledged: None,
                        owed: Vec::new(),
                        initial_filed: false,
                    };
                    // "With `ack_within_s`, an incident not acknowledged by opened +
                    // ack_within_s is `overdue` (kind `ack`)."
                    if let Some(a) = ip.ack_within_s {
                        inc.set_owed(DueKind::Ack, ts + a * 1000);
                    }
                    // "At that moment (opening or escalation) the initial report is due by
                    // ts + `initial_within_s` of the system's operator type."
                    if inc.reportable {
                        inc.set_owed(DueKind::Initial, ts + cx.initial_within_ms());
                    }
                    out.push(event(cx, &inc, IncidentEventKind::Opened, ts, cause));
                    self.all.push(inc);
                }
                Some(inc) => {
                    // "A rule of c rising to ≥ `open_at` again before the incident is
                    // closed `reopened`s the same incident (the final deadline is
                    // cancelled)."
                    if inc.state == IncState::Resolved {
                        inc.state = IncState::Open;
                        inc.resolved_at = None;
                        inc.clear_owed(DueKind::Final);
                        out.push(event(cx, inc, IncidentEventKind::Reopened, ts, cause));
                    }
                    // "It never falls. A rise after opening is `escalated`."
                    if sev > inc.severity {
                        let was = inc.reportable;
                        inc.severity = sev;
                        inc.reportable = sev >= ip.report_at;
                        if inc.reportable && !was {
                            inc.set_owed(DueKind::Initial, ts + cx.initial_within_ms());
                        } else if was && inc.initial_filed && inc.owes(DueKind::Update).is_none() {
                            // "An escalation of a reportable incident whose initial report
                            // is filed makes an `update` report due by ts +
                            // `initial_within_s`"; "an escalation while an update is
                            // already owed keeps the existing deadline".
                            inc.set_owed(DueKind::Update, ts + cx.initial_within_ms());
                        }
                        out.push(event(cx, inc, IncidentEventKind::Escalated, ts, cause));
                    }
                }
            }
            return;
        }
        // "When every rule of c on s is back at `none`, the incident is `resolved` at that
        // ts."
        if levels.iter().any(|l| *l != Level::None) {
            return;
        }
        let Some(inc) = self.live(category) else {
            return;
        };
        if inc.state != IncState::Open {
            return;
        }
        inc.state = IncState::Resolved;
        inc.resolved_at = Some(ts);
        if inc.reportable {
            // "A reportable incident then needs a `final` report by ts + `final_within_s`".
            inc.set_owed(DueKind::Final, ts + ip.final_within_s * 1000);
        } else {
            // "A non-reportable incident closes when it resolves"; "Closed incidents owe
            // nothing."
            inc.owed.clear();
        }
        out.push(event(cx, inc, IncidentEventKind::Resolved, ts, cause));
        if !inc.reportable {
            inc.state = IncState::Closed;
            out.push(event(cx, inc, IncidentEventKind::Closed, ts, cause));
        }
    }

    /// "every due report, or acknowledgement, of s's incidents whose deadline ≤ w and that
    /// was not filed emits one `overdue` event (once per deadline)"; "`overdue` events carry
    /// `ts` = w and `due.by` = the missed deadline; they come in deadline order, then in the
    /// order the incidents opened, then ack, initial, update, final. Closed incidents owe
    /// nothing."
    pub fn overdue(&mut self, cx: &Cx<'_>, w: i64, out: &mut Vec<Ev>) {
        let mut missed: Vec<(i64, usize, DueKind)> = Vec::new();
        for (i, inc) in self.all.iter().enumerate() {
            if inc.state == IncState::Closed {
                continue;
            }
            for o in &inc.owed {
                if !o.overdue && o.by <= w {
                    missed.push((o.by, i, o.kind));
                }
            }
        }
        missed.sort();
        for (by, i, kind) in missed {
            let inc = &mut self.all[i];
            for o in inc.owed.iter_mut().filter(|o| o.kind == kind) {
                o.overdue = true;
            }
            let mut e = event(cx, inc, IncidentEventKind::Overdue, w, None);
            // "for `overdue` it names the missed one, which may be `ack`".
            e.due = Some((kind, by));
            out.push(e);
        }
    }

    fn find(&mut self, id: &str) -> Result<&mut Inc, Reject> {
        self.all
            .iter_mut()
            .find(|i| i.id == id && i.state != IncState::Closed)
            .ok_or(Reject::UnknownIncident)
    }

    /// "acknowledge(incident, ts, by)": "Acknowledging is allowed once per incident, with
    /// or without `ack_within_s`; acknowledging again, or a closed incident, is an error."
    pub fn acknowledge(&mut self, cx: &Cx<'_>, id: &str, ts: i64, by: &str) -> Result<Ev, Reject> {
        let inc = self.find(id)?;
        if inc.acknowledged.is_some() {
            return Err(Reject::NotDue);
        }
        inc.acknowledged = Some((ts, by.to_owned()));
        inc.clear_owed(DueKind::Ack);
        let mut e = event(cx, inc, IncidentEventKind::Acknowledged, ts, None);
        e.by = Some(by.to_owned());
        Ok(e)
    }

    /// "file_report(incident, kind, ts, reference) [...] Unknown incident or a kind that is
    /// not due is an error"; "filing `final` while an initial or update report is still
    /// owed is an error (not due). Filing `final` emits `report_filed` then `closed`."
    /// "Filing late is allowed and emits `report_filed` with `"late": true`" ("filed at
    /// ts ≥ its deadline").
    pub fn file_report(
        &mut self,
        cx: &Cx<'_>,
        id: &str,
        kind: ReportKind,
        ts: i64,
        reference: &str,
        out: &mut Vec<Ev>,
    ) -> Result<(), Reject> {
        let inc = self.find(id)?;
        let due_kind = match kind {
            ReportKind::Initial => DueKind::Initial,
            ReportKind::Update => DueKind::Update,
            ReportKind::Final => DueKind::Final,
        };
        let owed = inc.owes(due_kind).ok_or(Reject::NotDue)?;
        if kind == ReportKind::Final
            && (inc.owes(DueKind::Initial).is_some() || inc.owes(DueKind::Update).is_some())
        {
            return Err(Reject::NotDue);
        }
        inc.clear_owed(due_kind);
        if kind == ReportKind::Initial {
            inc.initial_filed = true;
        }
        let mut e = event(cx, inc, IncidentEventKind::ReportFiled, ts, None);
        e.report = Some(kind);
        e.late = Some(ts >= owed.by);
        e.reference = Some(reference.to_owned());
        out.push(e);
        if kind == ReportKind::Final {
            inc.state = IncState::Closed;
            inc.owed.clear();
            out.push(event(cx, inc, IncidentEventKind::Closed, ts, None));
        }
        Ok(())
    }
}
