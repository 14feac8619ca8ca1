//! Incidents and reporting: one test per rule of the incident model, with hand-computed
//! events. The policy: bucket 1 s; rules r1 (gauge g) and r2 (gauge h) in category c1,
//! r3 (gauge k) in c2, each the max over one bucket with thresholds blue 1, yellow 2,
//! orange 3, red 4; incidents open at orange; orange → serious, red → major (c2 red →
//! critical); reportable from serious; operator types other (4 h), state_organ (2 h), cii
//! (1 h); acknowledgement within 30 min; final report within 5 days.

use airisk::{
    DueKind, Engine, Error, IncidentEvent, IncidentEventKind as K, IncidentState, Level, Policy,
    Profile, ReportKind, Scope, SystemHandle, Transition,
};
use serde_json::{Value, json};

const H: i64 = 3_600_000;
const S: i64 = 1000;

fn policy_doc(report_at: &str, ack: bool) -> Value {
    let rule = |id: &str, signal: &str, cat: &str| {
        json!({"id": id, "category": cat, "signal": signal, "aggregate": "max",
               "window_ms": 1000, "basis": format!("basis of {id}"),
               "thresholds": {"low": [1, 2, 3, 4], "high": [1, 2, 3, 4]}})
    };
    let mut incidents = json!({
        "open_at": "orange",
        "severities": [{"id": "general"}, {"id": "serious"}, {"id": "major"}, {"id": "critical"}],
        "severity_by_level": {"orange": "serious", "red": "major"},
        "severity_overrides": [{"category": "c2", "level": "red", "severity": "critical"}],
        "report_at": report_at,
        "operator_types": [{"id": "other", "initial_within_s": 14400},
                           {"id": "state_organ", "initial_within_s": 7200},
                           {"id": "cii", "initial_within_s": 3600}],
        "final_within_s": 432000,
        "basis": "reporting measures"
    });
    if ack {
        incidents["ack_within_s"] = json!(1800);
    }
    json!({
        "schema": 1,
        "categories": [{"id": "c1"}, {"id": "c2"}],
        "grades": [{"id": "low"}, {"id": "high", "min_score": 5}],
        "classification": {"sectors": {"s0": 0}, "data": {"public": 0}, "autonomy": {"a": 0}},
        "bucket_ms": 1000,
        "signals": [{"id": "g", "kind": "gauge"}, {"id": "h", "kind": "gauge"},
                    {"id": "k", "kind": "gauge"}],
        "rules": [rule("r1", "g", "c1"), rule("r2", "h", "c1"), rule("r3", "k", "c2")],
        "responses": {"levels": {
            "blue": {"actions": ["log"]},
            "orange": {"actions": ["notify_operator", "throttle"]},
            "red": {"actions": ["notify_operator", "suspend"]}}},
        "incidents": incidents
    })
}

/// (event, incident, severity, due) of an event.
type Brief = (K, String, String, Option<(DueKind, i64)>);

struct T {
    e: Engine,
    h: SystemHandle,
}

impl T {
    fn new(report_at: &str, ack: bool, operator_type: Option<&str>) -> T {
        let e = Engine::new(Policy::from_value(policy_doc(report_at, ack)).unwrap());
        let mut p =
            json!({"id": "a", "sector": "s0", "data": "public", "autonomy": "a", "users": 1});
        if let Some(t) = operator_type {
            p["operator_type"] = json!(t);
        }
        let h = e.register(Profile::from_value(p).unwrap()).unwrap();
        T { e, h }
    }
    fn std() -> T {
        T::new("serious", true, None)
    }
    fn obs(&self, signal: &str, v: f64, ts: i64) {
        let s = self.e.signal(signal).unwrap();
        self.e.observe(self.h, s, v, ts).unwrap();
    }
    fn events(&self) -> Vec<IncidentEvent> {
        let mut v = Vec::new();
        self.e.drain_incidents(&mut v);
        v
    }
    fn transitions(&self) -> Vec<Transition> {
        let mut v = Vec::new();
        self.e.drain(&mut v);
        v
    }
    /// (event, incident, severity, due) of each event.
    fn brief(&self) -> Vec<Brief> {
        self.events()
            .into_iter()
            .map(|e| {
                (
                    e.event,
                    e.incident.to_string(),
                    e.severity.to_string(),
                    e.due.map(|d| (d.report, d.by)),
                )
            })
            .collect()
    }
}

fn b(k: K, id: &str, sev: &str, due: Option<(DueKind, i64)>) -> Brief {
    (k, id.into(), sev.into(), due)
}

#[test]
fn opens_at_exactly_open_at_not_below() {
    let t = T::std();
    t.obs("g", 2.0, 1000); // yellow: below open_at
    assert!(t.events().is_empty());
    t.obs("g", 3.0, 2000); // orange: opens
    let ev = t.events();
    assert_eq!(ev.len(), 1);
    let e = &ev[0];
    assert_eq!(
        serde_json::to_value(e).unwrap(),
        json!({"kind": "incident", "seq": 1, "ts": 2000, "event": "opened",
               "incident": "a/c1/1", "system": "a", "category": "c1", "severity": "serious",
               "reportable": true, "operator_type": "other",
               "due": {"report": "initial", "by": 2000 + 4 * H},
               "rule": "r1", "level": "orange", "basis": "reporting measures"})
    );
    let inc = t.e.incident("a/c1/1").unwrap();
    assert_eq!(inc.state, IncidentState::Open);
    assert_eq!(inc.opened_at, 2000);
    assert_eq!(t.e.incidents().len(), 1);
    // `to_json` is that object on one line.
    let line = e.to_json();
    assert!(!line.contains('\n'), "{line}");
    assert_eq!(
        serde_json::from_str::<Value>(&line).unwrap(),
        serde_json::to_value(e).unwrap()
    );
}

/// The report kinds' JSON names (`report` lines of a replay log, `report_filed` events,
/// `due`), each parsed back by `from_name`; no other name parses.
#[test]
fn report_kinds_have_their_json_names() {
    for (k, name) in [
        (ReportKind::Initial, "initial"),
        (ReportKind::Update, "update"),
        (ReportKind::Final, "final"),
    ] {
        assert_eq!(k.name(), name);
        assert_eq!(ReportKind::from_name(name), Some(k));
        assert_eq!(serde_json::to_value(k).unwrap(), json!(name));
    }
    for other in ["ack", "Initial", "", "initial "] {
        assert_eq!(ReportKind::from_name(other), None, "{other:?}");
    }
}

#[test]
fn severity_rises_and_never_falls() {
    let t = T::std();
    t.obs("g", 3.0, 1000); // orange: opened serious
    t.obs("g", 4.0, 2000); // red: escalated to major
    t.obs("g", 3.0, 3000); // back to orange: severity stays major, no event
    let e = t.events();
    assert_eq!(
        e.iter()
            .map(|e| (e.event, e.severity.to_string(), e.level))
            .collect::<Vec<_>>(),
        vec![
            (K::Opened, "serious".into(), Some(Level::Orange)),
            (K::Escalated, "major".into(), Some(Level::Red)),
        ]
    );
    assert_eq!(t.e.incident("a/c1/1").unwrap().severity.as_ref(), "major");
    // Another rule of the same category at orange raises nothing either.
    t.obs("h", 3.0, 4000);
    assert!(t.events().is_empty());
}

#[test]
fn severity_comes_from_any_rule_of_the_category_and_overrides_by_category() {
    let t = T::std();
    t.obs("g", 3.0, 1000); // r1 orange: c1 opened serious
    t.obs("h", 4.0, 1000); // r2 red: c1 escalated major (same incident)
    t.obs("k", 4.0, 1000); // r3 red in c2: the override gives critical
    let e = t.brief();
    assert_eq!(
        e,
        vec![
            b(
                K::Opened,
                "a/c1/1",
                "serious",
                Some((DueKind::Initial, 1000 + 4 * H))
            ),
            b(
                K::Escalated,
                "a/c1/1",
                "major",
                Some((DueKind::Initial, 1000 + 4 * H))
            ),
            b(
                K::Opened,
                "a/c2/1",
                "critical",
                Some((DueKind::Initial, 1000 + 4 * H))
            ),
        ]
    );
}

#[test]
fn escalation_after_the_initial_report_makes_an_update_due() {
    let t = T::std();
    t.obs("g", 3.0, 1000);
    t.e.file_report("a/c1/1", ReportKind::Initial, 5000, "R-1")
        .unwrap();
    t.obs("g", 4.0, 10_000); // escalated: update due 10 s + 4 h
    let e = t.brief();
    assert_eq!(e[1].0, K::ReportFiled);
    assert_eq!(e[1].3, None); // nothing owed after the initial report (ack is never `due`)
    assert_eq!(
        e[2],
        b(
            K::Escalated,
            "a/c1/1",
            "major",
            Some((DueKind::Update, 10_000 + 4 * H))
        )
    );
    // A second escalation while the update is owed keeps its deadline.
    let t2 = T::std();
    t2.obs("k", 3.0, 1000); // c2 serious
    t2.e.file_report("a/c2/1", ReportKind::Initial, 2000, "R")
        .unwrap();
    t2.obs("k", 4.0, 3000); // critical (override): update due 3 s + 4 h
    let e = t2.brief();
    assert_eq!(e[2].3, Some((DueKind::Update, 3000 + 4 * H)));
    // An escalation before the initial report owes no update: the initial covers it.
    let t3 = T::std();
    t3.obs("g", 3.0, 1000);
    t3.obs("g", 4.0, 2000);
    let e = t3.brief();
    assert_eq!(e[1].3, Some((DueKind::Initial, 1000 + 4 * H)));
}

#[test]
fn deadline_exactly_at_the_watermark_is_overdue_one_ms_before_is_not() {
    let t = T::new("serious", false, Some("cii")); // 1 h
    t.obs("g", 3.0, 0); // initial due by 1 h
    t.events();
    t.obs("k", 0.0, H - 1);
    assert!(t.events().is_empty());
    t.obs("k", 0.0, H);
    let e = t.events();
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].event, K::Overdue);
    assert_eq!(e[0].ts, H);
    assert_eq!(
        e[0].due.map(|d| (d.report, d.by)),
        Some((DueKind::Initial, H))
    );
    assert_eq!((e[0].rule.as_deref(), e[0].level), (None, None));
    // Once per deadline.
    t.obs("k", 0.0, H + 1);
    t.e.tick(2 * H);
    assert!(t.events().is_empty());
}

#[test]
fn filing_late_is_allowed_and_marked() {
    let t = T::new("serious", false, Some("cii"));
    t.obs("g", 3.0, 0);
    t.e.file_report("a/c1/1", ReportKind::Initial, H, "late one")
        .unwrap(); // at the deadline
    let e = t.events();
    let f = e.last().unwrap();
    assert_eq!(f.event, K::ReportFiled);
    assert_eq!((f.report, f.late), (Some(ReportKind::Initial), Some(true)));
    assert_eq!(
        serde_json::to_value(f).unwrap()["reference"],
        json!("late one")
    );
    let t = T::new("serious", false, Some("cii"));
    t.obs("g", 3.0, 0);
    t.e.file_report("a/c1/1", ReportKind::Initial, H - 1, "x")
        .unwrap();
    assert_eq!(t.events().last().unwrap().late, Some(false));
}

#[test]
fn acknowledgement_overdue_then_late_acknowledgement() {
    let t = T::std();
    t.obs("g", 3.0, 0); // ack due by 30 min
    t.e.tick(30 * 60 * S);
    let e = t.events();
    let o = e.last().unwrap();
    assert_eq!(o.event, K::Overdue);
    assert_eq!(
        o.due.map(|d| (d.report, d.by)),
        Some((DueKind::Ack, 30 * 60 * S))
    );
    t.e.acknowledge("a/c1/1", 31 * 60 * S, "duty officer")
        .unwrap();
    let a = t.events();
    assert_eq!(a[0].event, K::Acknowledged);
    assert_eq!(
        serde_json::to_value(&a[0]).unwrap()["by"],
        json!("duty officer")
    );
    assert_eq!(a[0].due.map(|d| d.report), Some(DueKind::Initial));
    assert!(matches!(
        t.e.acknowledge("a/c1/1", 32 * 60 * S, "again"),
        Err(Error::NotDue(_))
    ));
}

#[test]
fn resolve_then_final_due_then_closed() {
    let t = T::std();
    t.obs("g", 3.0, 0);
    t.obs("h", 2.0, 0); // r2 yellow: the category is not all none yet
    t.e.file_report("a/c1/1", ReportKind::Initial, 10, "R1")
        .unwrap();
    t.events();
    t.obs("g", 0.0, 1000); // r1 none; r2 still yellow: not resolved
    assert!(t.events().is_empty());
    // The final report is not due while the incident is open.
    assert!(matches!(
        t.e.file_report("a/c1/1", ReportKind::Final, 1500, "F"),
        Err(Error::NotDue(_))
    ));
    t.obs("h", 0.0, 2000); // every rule of c1 at none: resolved, final due in 5 days
    let e = t.brief();
    assert_eq!(
        e,
        vec![b(
            K::Resolved,
            "a/c1/1",
            "serious",
            Some((DueKind::Final, 2000 + 120 * H))
        )]
    );
    assert_eq!(
        t.e.incident("a/c1/1").unwrap().state,
        IncidentState::Resolved
    );
    t.e.file_report("a/c1/1", ReportKind::Final, 3000, "F1")
        .unwrap();
    let e = t.brief();
    assert_eq!(
        e.iter().map(|x| x.0).collect::<Vec<_>>(),
        vec![K::ReportFiled, K::Closed]
    );
    assert!(t.e.incident("a/c1/1").is_none());
    assert!(matches!(
        t.e.acknowledge("a/c1/1", 4000, "x"),
        Err(Error::UnknownIncident(_))
    ));
}

#[test]
fn final_cannot_be_filed_while_the_initial_is_owed() {
    let t = T::std();
    t.obs("g", 3.0, 0);
    t.obs("g", 0.0, 1000); // resolved; initial still owed
    let e = t.brief();
    assert_eq!(e[1].0, K::Resolved);
    // `due` is the earliest-deadline report: the initial (4 h) before the final (5 d).
    assert_eq!(e[1].3, Some((DueKind::Initial, 4 * H)));
    let err =
        t.e.file_report("a/c1/1", ReportKind::Final, 2000, "F")
            .unwrap_err();
    assert!(
        matches!(err, Error::NotDue(ref m) if m.contains("initial")),
        "{err}"
    );
}

#[test]
fn reopening_before_close_cancels_the_final_deadline_and_keeps_the_acknowledgement() {
    let t = T::std();
    t.obs("g", 3.0, 0);
    t.e.acknowledge("a/c1/1", 5, "op").unwrap();
    t.e.file_report("a/c1/1", ReportKind::Initial, 10, "R")
        .unwrap();
    t.obs("g", 0.0, 1000); // resolved: final owed
    t.events();
    t.obs("g", 3.0, 2000); // reopened (same incident), final cancelled
    let e = t.brief();
    assert_eq!(e, vec![b(K::Reopened, "a/c1/1", "serious", None)]);
    let inc = t.e.incident("a/c1/1").unwrap();
    assert_eq!(inc.state, IncidentState::Open);
    assert!(inc.owed.is_empty());
    assert!(inc.acknowledged.is_some());
    // Reopened at red: reopened, then escalated (update due).
    t.obs("g", 0.0, 3000);
    t.events();
    t.obs("g", 4.0, 4000);
    let e = t.brief();
    assert_eq!(
        e,
        vec![
            b(K::Reopened, "a/c1/1", "serious", None),
            b(
                K::Escalated,
                "a/c1/1",
                "major",
                Some((DueKind::Update, 4000 + 4 * H))
            ),
        ]
    );
}

#[test]
fn a_new_incident_after_close_gets_the_next_number() {
    let t = T::std();
    t.obs("g", 3.0, 0);
    t.e.file_report("a/c1/1", ReportKind::Initial, 1, "R")
        .unwrap();
    t.obs("g", 0.0, 1000);
    t.e.file_report("a/c1/1", ReportKind::Final, 1500, "F")
        .unwrap();
    t.events();
    t.obs("g", 3.0, 2000);
    assert_eq!(t.brief()[0].1, "a/c1/2");
}

#[test]
fn a_non_reportable_incident_never_asks_for_a_report() {
    let t = T::new("major", false, None); // orange (serious) is below report_at
    t.obs("g", 3.0, 0);
    let e = t.events();
    assert_eq!(
        (e[0].event, e[0].reportable, e[0].due),
        (K::Opened, false, None)
    );
    assert!(matches!(
        t.e.file_report("a/c1/1", ReportKind::Initial, 10, "R"),
        Err(Error::NotDue(_))
    ));
    // No transition carries a reporting deadline under an incidents policy.
    assert!(t.transitions().iter().all(|x| x.report_within_s.is_none()));
    t.e.tick(30 * 24 * H);
    assert!(t.events().is_empty(), "nothing is ever overdue");
    // Resolving closes it at once.
    t.obs("g", 0.0, 30 * 24 * H + 1000);
    assert_eq!(
        t.brief().iter().map(|x| x.0).collect::<Vec<_>>(),
        vec![K::Resolved, K::Closed]
    );
    assert!(t.e.incidents().is_empty());
    // Escalating to major makes it reportable: initial due from the escalation.
    let t = T::new("major", false, None);
    t.obs("g", 3.0, 0);
    t.obs("g", 4.0, 1000);
    let e = t.events();
    assert_eq!(
        (
            e[1].event,
            e[1].reportable,
            e[1].due.map(|d| (d.report, d.by))
        ),
        (K::Escalated, true, Some((DueKind::Initial, 1000 + 4 * H)))
    );
}

#[test]
fn operator_types_set_the_initial_deadline() {
    for (ty, within) in [
        (None, 4 * H),
        (Some("other"), 4 * H),
        (Some("state_organ"), 2 * H),
        (Some("cii"), H),
    ] {
        let t = T::new("serious", false, ty);
        t.obs("g", 3.0, 1000);
        let e = t.events();
        assert_eq!(e[0].due.map(|d| d.by), Some(1000 + within), "{ty:?}");
        assert_eq!(&*e[0].operator_type, ty.unwrap_or("other"));
    }
}

#[test]
fn an_unknown_operator_type_is_a_profile_error() {
    let e = Engine::new(Policy::from_value(policy_doc("serious", false)).unwrap());
    let p = Profile::from_value(json!({"id": "a", "sector": "s0", "data": "public",
        "autonomy": "a", "users": 1, "operator_type": "ministry"}))
    .unwrap();
    match e.register(p) {
        Err(Error::Profile(i)) => {
            assert_eq!(i.path, "operator_type");
            assert!(
                i.reason.contains("unknown operator type \"ministry\""),
                "{}",
                i.reason
            );
            assert!(i.reason.contains("cii"), "{}", i.reason);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn incident_events_follow_their_transition_and_overdue_comes_last() {
    // Two rules of c1 in one tick: r1 then r2; the system line after both; then overdue.
    let t = T::new("serious", false, Some("cii"));
    t.obs("k", 3.0, 0); // c2 opened at 0: initial due 1 h
    t.transitions();
    t.events();
    let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let (g1, g2) = (got.clone(), got.clone());
    t.e.set_sink(Some(std::sync::Arc::new(move |x: &Transition| {
        g1.lock().unwrap().push(format!(
            "T {} {}",
            x.rule_id.as_deref().unwrap_or("system"),
            x.to
        ))
    })));
    t.e.set_incident_sink(Some(std::sync::Arc::new(move |x: &IncidentEvent| {
        g2.lock()
            .unwrap()
            .push(format!("I {} {}", x.event.name(), x.incident))
    })));
    // One observation of g at 1 h: r1 red → c1 opened, then the system line (orange →
    // red), then c2's initial report is overdue (its deadline is this watermark).
    t.obs("g", 4.0, H);
    assert_eq!(
        *got.lock().unwrap(),
        vec![
            "T r1 red".to_string(),
            "I opened a/c1/1".into(),
            "T system red".into(),
            "I overdue a/c2/1".into(),
        ]
    );
    // System-scope transitions never open incidents.
    assert!(t.e.incident("a/c1/2").is_none());
}

#[test]
fn system_line_asks_for_the_union_of_the_rules_responses() {
    // Without incidents too: the system transition's actions include the rule's override.
    let t = T::std();
    t.obs("g", 4.0, 0); // r1 red: notify_operator + suspend; system red likewise
    t.obs("k", 3.0, 0); // r3 orange: notify_operator + throttle; the system stays red
    let tr = t.transitions();
    let sys: Vec<&Transition> = tr.iter().filter(|x| x.scope == Scope::System).collect();
    assert_eq!(sys.len(), 1);
    let names: Vec<&str> = sys[0].actions.iter().map(|a| a.name()).collect();
    assert_eq!(names, vec!["notify_operator", "suspend"]);
}

#[test]
fn validation_of_the_incidents_section_names_paths() {
    let issues = |doc: Value| -> Vec<String> {
        Policy::from_value(doc)
            .unwrap_err()
            .issues()
            .iter()
            .map(|i| i.to_string())
            .collect()
    };
    let mut d = policy_doc("serious", true);
    d["incidents"]["severity_by_level"] = json!({"yellow": "general", "orange": "serious"});
    let i = issues(d);
    assert!(
        i.iter()
            .any(|x| x.starts_with("incidents.severity_by_level.yellow:")),
        "{i:?}"
    );
    assert!(
        i.iter()
            .any(|x| x.starts_with("incidents.severity_by_level.red: missing")),
        "{i:?}"
    );
    let mut d = policy_doc("serious", true);
    d["incidents"]["severity_overrides"] =
        json!([{"category": "c2", "level": "red", "severity": "general"}]);
    let i = issues(d);
    assert!(i.iter().any(|x| x.contains("must not decrease")), "{i:?}");
    let mut d = policy_doc("serious", true);
    d["responses"]["levels"]["red"]["actions"] = json!(["report_regulator"]);
    let i = issues(d);
    assert!(i.iter().any(|x| x.starts_with("responses.levels.red.actions: report_regulator is not allowed")), "{i:?}");
    let mut d = policy_doc("serious", true);
    d["categories"][0]["id"] = json!("c/1");
    d["rules"][0]["category"] = json!("c/1");
    d["rules"][1]["category"] = json!("c/1");
    let i = issues(d);
    assert!(
        i.iter().any(|x| x.starts_with("categories[0].id:")),
        "{i:?}"
    );
    let mut d = policy_doc("serious", true);
    d["incidents"]["report_at"] = json!("huge");
    d["incidents"]["final_within_s"] = json!(-1);
    d["incidents"]["colour"] = json!(1);
    let i = issues(d);
    assert!(
        i.iter()
            .any(|x| x.starts_with("incidents.report_at: unknown severity")),
        "{i:?}"
    );
    assert!(
        i.iter().any(|x| x.starts_with("incidents.final_within_s:")),
        "{i:?}"
    );
    assert!(
        i.iter()
            .any(|x| x.starts_with("incidents.colour: unknown field")),
        "{i:?}"
    );
}

#[test]
fn unknown_incidents_and_reports_not_due_change_nothing() {
    let t = T::std();
    assert!(matches!(
        t.e.acknowledge("a/c1/1", 0, "x"),
        Err(Error::UnknownIncident(_))
    ));
    assert!(matches!(
        t.e.acknowledge("nonsense", 0, "x"),
        Err(Error::UnknownIncident(_))
    ));
    t.obs("g", 3.0, 0);
    t.events();
    assert!(matches!(
        t.e.file_report("a/c1/1", ReportKind::Update, 1, "x"),
        Err(Error::NotDue(_))
    ));
    assert!(t.events().is_empty());
    assert_eq!(t.e.stats().incident_events, 1);
}

#[test]
fn snapshots_carry_incidents() {
    let t = T::std();
    t.obs("g", 3.0, 0);
    t.e.acknowledge("a/c1/1", 1, "op").unwrap();
    let bytes = t.e.snapshot();
    let r = Engine::restore(t.e.policy(), &bytes).unwrap();
    assert_eq!(r.incidents(), t.e.incidents());
    let mut q = Vec::new();
    r.drain_incidents(&mut q);
    assert_eq!(q, t.events());
    assert_eq!(r.stats().incident_events, 2);
    // A system export moves its incidents too.
    let other = Engine::new(t.e.policy());
    let h = other
        .restore_system(&t.e.snapshot_system(t.h).unwrap())
        .unwrap();
    assert_eq!(other.incident("a/c1/1").unwrap().system, h);
    other
        .file_report("a/c1/1", ReportKind::Initial, 2, "R")
        .unwrap();
}

/// Each kind of output goes to its own sink or, without one, to its own queue, whatever
/// the other kind does: with only a transition sink the incident events queue, with only
/// an incident sink the transitions queue, and nothing reaches both or neither.
#[test]
fn one_sink_set_the_other_kind_still_queues() {
    use std::sync::{Arc, Mutex};
    // A transition sink only.
    let t = T::std();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    t.e.set_sink(Some(Arc::new(move |x: &Transition| {
        s.lock().unwrap().push(x.seq)
    })));
    t.obs("g", 3.0, 1000);
    assert_eq!(
        seen.lock().unwrap().len(),
        2,
        "the rule's and the system's transitions"
    );
    assert_eq!(t.e.queued(), 0);
    assert_eq!(t.e.queued_incidents(), 1);
    assert_eq!(t.brief()[0].0, K::Opened);
    // An incident sink only.
    let t = T::std();
    let opened = Arc::new(Mutex::new(Vec::new()));
    let o = opened.clone();
    t.e.set_incident_sink(Some(Arc::new(move |e: &IncidentEvent| {
        o.lock().unwrap().push(e.incident.to_string())
    })));
    t.obs("g", 3.0, 1000);
    assert_eq!(*opened.lock().unwrap(), ["a/c1/1"]);
    assert_eq!(t.e.queued_incidents(), 0);
    assert_eq!(t.e.queued(), 2);
    assert_eq!(t.transitions().len(), 2);
}
