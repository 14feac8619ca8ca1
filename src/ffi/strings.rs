//! NUL-terminated copies of every string the engine hands out to C.
//!
//! Strings from the policy (rule ids, categories, bases, grade and severity ids, display
//! names) are built when the engine is created and again for each policy a reload brings
//! (the tables of earlier policies are kept); system ids are added at registration (or,
//! failing that, the first time a transition of the system is converted). Strings that
//! only exist at run time — incident ids, the caller's references and `by` names, silence
//! and inhibition ids, reasons — and any string that matches no table entry (a transition
//! emitted under the policy before a reload) are interned by content on first use. Nothing
//! is removed before the engine is freed — also not on deregistration or reload — so every
//! `const char *` handed out stays valid until `airisk_engine_free`. A `CString`'s bytes
//! live in their own heap block, so growing the tables never moves them.
//!
//! Every string is held as an `Arc<CStr>`: moving the `Arc` (when a table grows, or into the
//! intern map) leaves the bytes and every pointer into them valid, also under the Stacked
//! Borrows model Miri checks (a `CString` is a `Box`, and moving a `Box` would retag it).

use super::types::{
    AIRISK_DUE_ACK, AIRISK_DUE_FINAL, AIRISK_DUE_INITIAL, AIRISK_DUE_NONE, AIRISK_DUE_UPDATE,
    AIRISK_INCIDENT_ACKNOWLEDGED, AIRISK_INCIDENT_CLOSED, AIRISK_INCIDENT_ESCALATED,
    AIRISK_INCIDENT_OPENED, AIRISK_INCIDENT_OVERDUE, AIRISK_INCIDENT_REOPENED,
    AIRISK_INCIDENT_REPORT_FILED, AIRISK_INCIDENT_RESOLVED, AIRISK_NO_LEVEL, AIRISK_NO_RULE,
    AIRISK_REPORT_FINAL, AIRISK_REPORT_INITIAL, AIRISK_REPORT_NONE, AIRISK_REPORT_UPDATE,
    airisk_due_kind, airisk_incident_event, airisk_incident_event_kind, airisk_level,
    airisk_report_kind, airisk_transition,
};
use crate::incident::{DueKind, IncidentEvent, IncidentEventKind, ReportKind};
use crate::policy::Policy;
use crate::policy::model::I18n;
use crate::transition::Transition;
use parking_lot::{Mutex, RwLock};
use std::collections::HashMap;
use std::ffi::{CStr, CString, c_char};
use std::ptr;
use std::sync::Arc;

/// A `CString` of `s`, cut at its first NUL byte (ids never contain one; free text might).
pub(crate) fn c_string(s: &str) -> CString {
    let end = s.find('\0').unwrap_or(s.len());
    CString::new(&s[..end]).unwrap_or_default()
}

/// A shared C string (see the module docs for why not a `CString`).
pub(crate) type CStrArc = Arc<CStr>;

/// A shared C string of `s` (cut at its first NUL byte).
fn c_arc(s: &str) -> CStrArc {
    Arc::from(c_string(s))
}

/// A display name's two languages, `None` where absent.
#[derive(Debug, Default)]
struct Name {
    /// Chinese.
    zh: Option<CStrArc>,
    /// English.
    en: Option<CStrArc>,
}

impl Name {
    /// The C strings of a policy display name (`None`: no name).
    fn of(n: Option<&Arc<I18n>>) -> Name {
        Name {
            zh: n.and_then(|n| n.zh.as_deref()).map(c_arc),
            en: n.and_then(|n| n.en.as_deref()).map(c_arc),
        }
    }
}

/// The C code of an incident event kind.
pub(crate) fn event_code(k: IncidentEventKind) -> airisk_incident_event_kind {
    match k {
        IncidentEventKind::Opened => AIRISK_INCIDENT_OPENED,
        IncidentEventKind::Escalated => AIRISK_INCIDENT_ESCALATED,
        IncidentEventKind::Acknowledged => AIRISK_INCIDENT_ACKNOWLEDGED,
        IncidentEventKind::ReportFiled => AIRISK_INCIDENT_REPORT_FILED,
        IncidentEventKind::Overdue => AIRISK_INCIDENT_OVERDUE,
        IncidentEventKind::Resolved => AIRISK_INCIDENT_RESOLVED,
        IncidentEventKind::Reopened => AIRISK_INCIDENT_REOPENED,
        IncidentEventKind::Closed => AIRISK_INCIDENT_CLOSED,
    }
}

/// The C code of a report kind.
pub(crate) fn report_code(k: ReportKind) -> airisk_report_kind {
    match k {
        ReportKind::Initial => AIRISK_REPORT_INITIAL,
        ReportKind::Update => AIRISK_REPORT_UPDATE,
        ReportKind::Final => AIRISK_REPORT_FINAL,
    }
}

/// The report kind of a C code; `None` for `AIRISK_REPORT_NONE` and unknown values.
pub(crate) fn report_of(code: airisk_report_kind) -> Option<ReportKind> {
    match code {
        AIRISK_REPORT_INITIAL => Some(ReportKind::Initial),
        AIRISK_REPORT_UPDATE => Some(ReportKind::Update),
        AIRISK_REPORT_FINAL => Some(ReportKind::Final),
        _ => None,
    }
}

/// The C code of what is due.
pub(crate) fn due_code(k: DueKind) -> airisk_due_kind {
    match k {
        DueKind::Ack => AIRISK_DUE_ACK,
        DueKind::Initial => AIRISK_DUE_INITIAL,
        DueKind::Update => AIRISK_DUE_UPDATE,
        DueKind::Final => AIRISK_DUE_FINAL,
    }
}

/// The engine's string tables.
#[derive(Debug)]
pub(crate) struct Strings {
    /// The tables of the engine's policy.
    tables: RwLock<Arc<Tables>>,
    /// The tables of the policies reloads replaced: held, never read, so that the strings
    /// they handed out stay valid.
    #[allow(dead_code)]
    retired: Mutex<Vec<Arc<Tables>>>,
    /// Per system handle: id.
    systems: RwLock<Vec<Option<CStrArc>>>,
    /// Any other string (run-time strings, and a transition whose strings do not match the
    /// tables): interned by content, kept until free.
    other: Mutex<HashMap<Box<str>, CStrArc>>,
}

/// The strings of one policy.
#[derive(Debug)]
struct Tables {
    /// Per rule index: id.
    rule_ids: Vec<CStrArc>,
    /// Per rule index: category id.
    rule_categories: Vec<Option<CStrArc>>,
    /// Per rule index: legal basis.
    rule_bases: Vec<Option<CStrArc>>,
    /// Per grade rank: id.
    grade_ids: Vec<CStrArc>,
    /// Per grade rank: display name.
    grade_names: Vec<Name>,
    /// Per rule index: display name.
    rule_names: Vec<Name>,
    /// Per rule index: its category's display name.
    rule_category_names: Vec<Name>,
    /// Per severity rank: id.
    severity_ids: Vec<CStrArc>,
    /// Per severity rank: display name.
    severity_names: Vec<Name>,
}

/// Whether the C string `c` holds exactly `s`.
fn same(c: &CStr, s: &str) -> bool {
    c.to_bytes() == s.as_bytes()
}

impl Tables {
    /// The strings of `policy`.
    fn new(policy: &Policy) -> Tables {
        let cats = policy.categories();
        let names = &policy.0.tables.names;
        let name = |v: &[Option<Arc<I18n>>], i: usize| Name::of(v.get(i).and_then(Option::as_ref));
        Tables {
            grade_names: (0..policy.grades().len())
                .map(|i| name(&names.grades, i))
                .collect(),
            rule_names: (0..policy.rules().len())
                .map(|i| name(&names.rules, i))
                .collect(),
            rule_category_names: policy
                .rules()
                .iter()
                .map(|r| match r.category {
                    Some(c) => name(&names.categories, c as usize),
                    None => Name::default(),
                })
                .collect(),
            severity_ids: policy
                .incidents()
                .map(|ip| ip.severities.iter().map(|s| c_arc(&s.id)).collect())
                .unwrap_or_default(),
            severity_names: policy
                .incidents()
                .map(|ip| {
                    (0..ip.severities.len())
                        .map(|i| name(&names.severities, i))
                        .collect()
                })
                .unwrap_or_default(),
            rule_ids: policy.rules().iter().map(|r| c_arc(&r.id)).collect(),
            rule_categories: policy
                .rules()
                .iter()
                .map(|r| {
                    r.category
                        .and_then(|c| cats.get(c as usize))
                        .map(|c| c_arc(&c.id))
                })
                .collect(),
            rule_bases: policy
                .rules()
                .iter()
                .map(|r| r.basis.as_deref().map(c_arc))
                .collect(),
            grade_ids: policy.grades().iter().map(|g| c_arc(&g.id)).collect(),
        }
    }
}

impl Strings {
    /// The tables of `policy`'s strings (no system ids yet).
    pub(crate) fn new(policy: &Policy) -> Strings {
        Strings {
            tables: RwLock::new(Arc::new(Tables::new(policy))),
            retired: Mutex::new(Vec::new()),
            systems: RwLock::new(Vec::new()),
            other: Mutex::new(HashMap::new()),
        }
    }

    /// Switches to the tables of `policy` (after a reload), keeping the old ones alive.
    pub(crate) fn set_policy(&self, policy: &Policy) {
        let new = Arc::new(Tables::new(policy));
        let old = std::mem::replace(&mut *self.tables.write(), new);
        self.retired.lock().push(old);
    }

    /// The current tables.
    fn tables(&self) -> Arc<Tables> {
        self.tables.read().clone()
    }

    /// The id of grade `rank`, if the policy has it.
    pub(crate) fn grade(&self, rank: u32, id: &str) -> *const c_char {
        self.pick(self.tables().grade_ids.get(rank as usize), Some(id))
    }

    /// The id of rule `index`, which is `id` (the table's copy when it matches, else an
    /// interned one).
    pub(crate) fn rule_id(&self, index: usize, id: &str) -> *const c_char {
        self.pick(self.tables().rule_ids.get(index), Some(id))
    }

    /// Records the id of a newly registered system.
    pub(crate) fn add_system(&self, handle: u32, id: &str) {
        let mut v = self.systems.write();
        let i = handle as usize;
        if v.len() <= i {
            v.resize_with(i + 1, || None);
        }
        if v[i].is_none() {
            v[i] = Some(c_arc(id));
        }
    }

    /// The id of system `handle` (recorded now if its registration has not yet been).
    fn system(&self, handle: u32, id: &str) -> *const c_char {
        {
            let v = self.systems.read();
            if let Some(Some(c)) = v.get(handle as usize) {
                if same(c, id) {
                    return c.as_ptr();
                }
                drop(v);
                return self.intern(id);
            }
        }
        // A transition of a system whose registration call has not recorded its id yet.
        self.add_system(handle, id);
        let v = self.systems.read();
        match v.get(handle as usize) {
            Some(Some(c)) if same(c, id) => c.as_ptr(),
            _ => {
                drop(v);
                self.intern(id)
            }
        }
    }

    /// The table entry if it equals `s`, else an interned copy of `s`; NULL for `None`.
    fn pick(&self, entry: Option<&CStrArc>, s: Option<&str>) -> *const c_char {
        match (entry, s) {
            (_, None) => ptr::null(),
            (Some(c), Some(s)) if same(c, s) => c.as_ptr(),
            (_, Some(s)) => self.intern(s),
        }
    }

    /// As [`Strings::pick`], for a table whose entries may be absent.
    fn pick_opt(&self, entry: Option<&Option<CStrArc>>, s: Option<&str>) -> *const c_char {
        self.pick(entry.and_then(Option::as_ref), s)
    }

    /// The two languages of a display name: the table's entries if they match, else
    /// interned copies; NULL where absent.
    fn name(&self, entry: Option<&Name>, n: Option<&Arc<I18n>>) -> (*const c_char, *const c_char) {
        let zh = n.and_then(|n| n.zh.as_deref());
        let en = n.and_then(|n| n.en.as_deref());
        (
            self.pick(entry.and_then(|e| e.zh.as_ref()), zh),
            self.pick(entry.and_then(|e| e.en.as_ref()), en),
        )
    }

    /// An interned copy of `s`; NULL for `None`.
    fn intern_opt(&self, s: Option<&str>) -> *const c_char {
        s.map_or(ptr::null(), |s| self.intern(s))
    }

    /// The id and basis of a prohibited use, interned (classification is off the hot path).
    pub(crate) fn prohibited(
        &self,
        id: &str,
        basis: Option<&str>,
    ) -> (*const c_char, *const c_char) {
        (self.intern(id), self.intern_opt(basis))
    }

    /// The interned copy of `s`, made on first use and kept until the engine is freed.
    fn intern(&self, s: &str) -> *const c_char {
        let mut m = self.other.lock();
        if let Some(c) = m.get(s) {
            return c.as_ptr();
        }
        let c = c_arc(s);
        let p = c.as_ptr();
        // Moving the Arc into the map moves a pointer, not the bytes `p` points to.
        m.insert(s.into(), c);
        p
    }

    /// The C form of a transition; its strings point into these tables.
    pub(crate) fn transition(&self, t: &Transition) -> airisk_transition {
        let tb = self.tables();
        let r = t.rule.map(|r| r as usize);
        let (gz, ge) = self.name(tb.grade_names.get(t.grade as usize), t.grade_name.as_ref());
        let (rz, re) = self.name(r.and_then(|r| tb.rule_names.get(r)), t.rule_name.as_ref());
        let (cz, ce) = self.name(
            r.and_then(|r| tb.rule_category_names.get(r)),
            t.category_name.as_ref(),
        );
        airisk_transition {
            seq: t.seq,
            ts_ms: t.ts,
            system: t.system.0,
            rule: t.rule.unwrap_or(AIRISK_NO_RULE),
            from: t.from as airisk_level,
            to: t.to as airisk_level,
            grade: t.grade,
            value: t.value.unwrap_or(f64::NAN),
            threshold: t.threshold.unwrap_or(f64::NAN),
            actions: t.actions.0,
            report_within_s: t.report_within_s.unwrap_or(-1),
            system_id: self.system(t.system.0, &t.system_id),
            rule_id: self.pick(r.and_then(|r| tb.rule_ids.get(r)), t.rule_id.as_deref()),
            category: self.pick_opt(
                r.and_then(|r| tb.rule_categories.get(r)),
                t.category.as_deref(),
            ),
            basis: self.pick_opt(r.and_then(|r| tb.rule_bases.get(r)), t.basis.as_deref()),
            grade_id: self.pick(tb.grade_ids.get(t.grade as usize), Some(&t.grade_id)),
            grade_name_zh: gz,
            grade_name_en: ge,
            rule_name_zh: rz,
            rule_name_en: re,
            category_name_zh: cz,
            category_name_en: ce,
            silenced: self.intern_opt(t.silenced.as_deref()),
            inhibited_by: self.intern_opt(t.inhibited_by.as_deref()),
            reason: self.intern_opt(t.reason.as_deref()),
        }
    }

    /// The C form of an incident event; its strings point into these tables (incident ids,
    /// references and `by` names are interned).
    pub(crate) fn incident_event(&self, e: &IncidentEvent) -> airisk_incident_event {
        let tb = self.tables();
        let r = e.rule_index.map(|r| r as usize);
        let s = e.severity_rank as usize;
        let (cz, ce) = self.name(None, e.category_name.as_ref());
        let (sz, se) = self.name(tb.severity_names.get(s), e.severity_name.as_ref());
        let (rz, re) = self.name(r.and_then(|r| tb.rule_names.get(r)), e.rule_name.as_ref());
        airisk_incident_event {
            seq: e.seq,
            ts_ms: e.ts,
            event: event_code(e.event),
            system: e.system.0,
            incident: self.intern(&e.incident),
            system_id: self.system(e.system.0, &e.system_id),
            category: self.intern(&e.category),
            severity: self.pick(tb.severity_ids.get(s), Some(&e.severity)),
            severity_rank: e.severity_rank,
            reportable: e.reportable,
            operator_type: self.intern(&e.operator_type),
            due: e.due.map_or(AIRISK_DUE_NONE, |d| due_code(d.report)),
            due_by: e.due.map_or(i64::MIN, |d| d.by),
            rule: e.rule_index.unwrap_or(AIRISK_NO_RULE),
            level: e.level.map_or(AIRISK_NO_LEVEL, |l| l as airisk_level),
            rule_id: self.pick(r.and_then(|r| tb.rule_ids.get(r)), e.rule.as_deref()),
            basis: self.intern_opt(e.basis.as_deref()),
            report: e.report.map_or(AIRISK_REPORT_NONE, report_code),
            late: e.late.map_or(-1, i32::from),
            reference: self.intern_opt(e.reference.as_deref()),
            by: self.intern_opt(e.by.as_deref()),
            category_name_zh: cz,
            category_name_en: ce,
            severity_name_zh: sz,
            severity_name_en: se,
            rule_name_zh: rz,
            rule_name_en: re,
        }
    }
}
