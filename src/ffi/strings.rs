//! NUL-terminated copies of every string the engine hands out to C.
//!
//! Strings from the policy (rule ids, categories, bases, grade ids) are built once when the
//! engine is created; system ids are added at registration (or, failing that, the first
//! time a transition of the system is converted). Nothing is removed before the engine is
//! freed — also not on deregistration — so every `const char *` handed out stays valid
//! until `airisk_engine_free`. A `CString`'s bytes live in their own heap block, so growing
//! the tables never moves them.
//!
//! Every string is held as an `Arc<CStr>`: moving the `Arc` (when a table grows, or into the
//! intern map) leaves the bytes and every pointer into them valid, also under the Stacked
//! Borrows model Miri checks (a `CString` is a `Box`, and moving a `Box` would retag it).

use super::types::{AIRISK_NO_RULE, airisk_level, airisk_transition};
use crate::policy::Policy;
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

fn c_arc(s: &str) -> CStrArc {
    Arc::from(c_string(s))
}

/// The engine's string tables.
#[derive(Debug)]
pub(crate) struct Strings {
    /// Per rule index: id.
    rule_ids: Vec<CStrArc>,
    /// Per rule index: category id.
    rule_categories: Vec<Option<CStrArc>>,
    /// Per rule index: legal basis.
    rule_bases: Vec<Option<CStrArc>>,
    /// Per grade rank: id.
    grade_ids: Vec<CStrArc>,
    /// Per system handle: id.
    systems: RwLock<Vec<Option<CStrArc>>>,
    /// Any other string (a transition whose strings do not match the tables above, which
    /// the engine does not produce today): interned by content, kept until free.
    other: Mutex<HashMap<Box<str>, CStrArc>>,
}

fn same(c: &CStr, s: &str) -> bool {
    c.to_bytes() == s.as_bytes()
}

impl Strings {
    pub(crate) fn new(policy: &Policy) -> Strings {
        let cats = policy.categories();
        Strings {
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
            systems: RwLock::new(Vec::new()),
            other: Mutex::new(HashMap::new()),
        }
    }

    /// The id of grade `rank`, if the policy has it.
    pub(crate) fn grade(&self, rank: u32, id: &str) -> *const c_char {
        self.pick(self.grade_ids.get(rank as usize), Some(id))
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

    fn pick_opt(&self, entry: Option<&Option<CStrArc>>, s: Option<&str>) -> *const c_char {
        self.pick(entry.and_then(Option::as_ref), s)
    }

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
        let r = t.rule.map(|r| r as usize);
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
            rule_id: self.pick(r.and_then(|r| self.rule_ids.get(r)), t.rule_id.as_deref()),
            category: self.pick_opt(
                r.and_then(|r| self.rule_categories.get(r)),
                t.category.as_deref(),
            ),
            basis: self.pick_opt(r.and_then(|r| self.rule_bases.get(r)), t.basis.as_deref()),
            grade_id: self.grade(t.grade, &t.grade_id),
        }
    }
}
