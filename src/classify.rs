//! Classification and grading (分类分级): a [`Profile`] and a [`Policy`] give a
//! [`Classification`] — grade, score, and the explanation of both.

use crate::error::{Error, Result};
use crate::json::check_id;
use crate::policy::{FactorTable, Policy};
use serde::{Deserialize, Serialize};
use smallvec::SmallVec;
use std::sync::Arc;

/// Most entries in one list of a profile (capabilities, vulnerable groups, mitigations).
pub const MAX_PROFILE_LIST: usize = 256;
/// Largest profile document accepted, in bytes.
pub const MAX_PROFILE_BYTES: usize = 64 << 10;

/// The description of one AI application (DESIGN.md "Profile").
///
/// `id`, `sector`, `data`, `autonomy` and `users` are required; lists default to empty.
/// Unknown fields are rejected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// System id: 1–128 bytes of UTF-8 without control characters.
    pub id: String,
    /// Application sector (a key of `classification.sectors`).
    pub sector: String,
    /// Capabilities (keys of `classification.capabilities`).
    #[serde(default)]
    pub capabilities: Vec<String>,
    /// Most sensitive data class processed (a key of `classification.data`).
    pub data: String,
    /// Degree of autonomy (a key of `classification.autonomy`).
    pub autonomy: String,
    /// Number of users.
    pub users: u64,
    /// Vulnerable groups served.
    #[serde(default)]
    pub vulnerable_groups: Vec<String>,
    /// Mitigations in place.
    #[serde(default)]
    pub mitigations: Vec<String>,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Operator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<String>,
}

impl Profile {
    /// Parses and checks a profile document (unknown and duplicate fields are errors).
    ///
    /// # Errors
    /// [`Error::Json`] for malformed JSON, [`Error::Profile`] naming the offending field.
    pub fn from_json(text: &str) -> Result<Profile> {
        if text.len() > MAX_PROFILE_BYTES {
            return Err(Error::Limit(format!(
                "profile is {} bytes; at most {MAX_PROFILE_BYTES} are accepted",
                text.len()
            )));
        }
        let v = crate::json::parse_strict(text).map_err(Error::Json)?;
        Profile::from_value(v)
    }

    /// Builds a profile from parsed JSON, then [`Profile::check`]s it.
    ///
    /// # Errors
    /// [`Error::Profile`] naming the offending field.
    pub fn from_value(v: serde_json::Value) -> Result<Profile> {
        let p: Profile = serde_path_to_error::deserialize(&v).map_err(|e| {
            let path = e.path().to_string();
            let path = if path == "." { String::new() } else { path };
            let inner = e.into_inner().to_string();
            let path = if path.is_empty() {
                field_in_message(&inner).unwrap_or_default()
            } else {
                path
            };
            Error::profile(path, inner)
        })?;
        p.check()?;
        Ok(p)
    }

    /// Checks the profile's own rules (id format, list sizes), independent of a policy.
    ///
    /// # Errors
    /// [`Error::Profile`] naming the field.
    pub fn check(&self) -> Result<()> {
        check_id(&self.id).map_err(|r| Error::profile("id", r))?;
        for (k, list) in [
            ("capabilities", &self.capabilities),
            ("vulnerable_groups", &self.vulnerable_groups),
            ("mitigations", &self.mitigations),
        ] {
            if list.len() > MAX_PROFILE_LIST {
                return Err(Error::profile(
                    k,
                    format!(
                        "{} entries; at most {MAX_PROFILE_LIST} are allowed",
                        list.len()
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// serde's "missing field `x`" / "unknown field `x`" → `x`.
fn field_in_message(msg: &str) -> Option<String> {
    let start = msg.find('`')? + 1;
    let end = msg[start..].find('`')? + start;
    Some(msg[start..end].to_owned())
}

/// What a factor is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FactorKind {
    /// `classification.sectors`.
    Sector,
    /// `classification.capabilities`.
    Capability,
    /// `classification.data`.
    Data,
    /// `classification.autonomy`.
    Autonomy,
    /// `classification.scale`.
    Scale,
    /// `classification.vulnerable_groups`.
    VulnerableGroup,
    /// `classification.mitigations`.
    Mitigation,
}

/// One term of the score.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Factor {
    /// Which table.
    pub kind: FactorKind,
    /// The id in that table (for scale: the step's `min_users` as text).
    pub id: Arc<str>,
    /// Points contributed.
    pub points: i64,
    /// Legal basis, where the policy gives one.
    pub basis: Option<Arc<str>>,
}

/// A floor that held.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FloorHit {
    /// Floor id.
    pub id: Arc<str>,
    /// Rank of the floor's grade.
    pub grade: u32,
    /// Id of the floor's grade.
    pub grade_id: Arc<str>,
    /// Legal basis.
    pub basis: Option<Arc<str>>,
}

/// The result of classification, explaining itself.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Classification {
    /// Final grade id.
    pub grade: Arc<str>,
    /// Final grade rank (0 = lowest).
    pub grade_rank: u32,
    /// The score.
    pub score: i64,
    /// Grade from the score alone.
    pub score_grade: Arc<str>,
    /// Rank of `score_grade`.
    pub score_grade_rank: u32,
    /// Every term of the score, in formula order.
    pub factors: Vec<Factor>,
    /// Every floor that held.
    pub floors: Vec<FloorHit>,
}

/// Where a looked-up id sits in the profile: a field, or an element of a list field.
#[derive(Clone, Copy)]
enum At {
    Field(&'static str),
    Item(&'static str, usize),
}

/// Looks `id` up in `table`: its factor and its index in the table.
fn lookup(
    table: &FactorTable,
    kind: FactorKind,
    at: At,
    what: &str,
    id: &str,
) -> Result<(Factor, u32)> {
    match table.get_ix(id) {
        Some((i, f)) => Ok((
            Factor {
                kind,
                id: f.id.clone(),
                points: f.points,
                basis: f.basis.clone(),
            },
            i,
        )),
        // The path is formatted only on failure: classification allocates nothing but
        // its explanation.
        None => Err(Error::profile(
            match at {
                At::Field(f) => f.to_owned(),
                At::Item(f, i) => format!("{f}[{i}]"),
            },
            format!("unknown {what} {id:?}: the policy does not define it"),
        )),
    }
}

/// A floor key holds when it is absent or when any of the profile's values is in its list.
#[inline]
fn any_in(list: &Option<Vec<u32>>, values: &[u32]) -> bool {
    match list {
        None => true,
        Some(l) => values.iter().any(|v| l.contains(v)),
    }
}

/// Classifies `profile` under `policy` (DESIGN.md "Classification").
///
/// score = sector + Σ capabilities + data + autonomy + scale step + Σ vulnerable groups +
/// Σ mitigations; the score grade is the last grade whose `min_score` ≤ score (else the
/// first); the grade is the highest of the score grade and every floor that holds, so
/// mitigations never lower a grade below a floor. Allocates only the explanation.
///
/// # Errors
/// [`Error::Profile`] when the profile is malformed or names a sector, capability, data
/// class, autonomy, group or mitigation that the policy does not define.
pub fn classify(policy: &Policy, profile: &Profile) -> Result<Classification> {
    profile.check()?;
    let c = &policy.0;
    let t = &c.classification;
    let n = 3
        + profile.capabilities.len()
        + 1
        + profile.vulnerable_groups.len()
        + profile.mitigations.len();
    let mut factors = Vec::with_capacity(n);
    let (f, sector) = lookup(
        &t.sectors,
        FactorKind::Sector,
        At::Field("sector"),
        "sector",
        &profile.sector,
    )?;
    factors.push(f);
    let mut caps: SmallVec<[u32; 8]> = SmallVec::new();
    for (i, cap) in profile.capabilities.iter().enumerate() {
        let (f, ix) = lookup(
            &t.capabilities,
            FactorKind::Capability,
            At::Item("capabilities", i),
            "capability",
            cap,
        )?;
        factors.push(f);
        caps.push(ix);
    }
    let (f, data) = lookup(
        &t.data,
        FactorKind::Data,
        At::Field("data"),
        "data class",
        &profile.data,
    )?;
    factors.push(f);
    let (f, autonomy) = lookup(
        &t.autonomy,
        FactorKind::Autonomy,
        At::Field("autonomy"),
        "autonomy",
        &profile.autonomy,
    )?;
    factors.push(f);
    if let Some(step) = t.scale.iter().rev().find(|s| s.min_users <= profile.users) {
        factors.push(Factor {
            kind: FactorKind::Scale,
            id: step.id.clone(),
            points: step.score,
            basis: step.basis.clone(),
        });
    }
    let mut groups: SmallVec<[u32; 4]> = SmallVec::new();
    for (i, g) in profile.vulnerable_groups.iter().enumerate() {
        let (f, ix) = lookup(
            &t.vulnerable_groups,
            FactorKind::VulnerableGroup,
            At::Item("vulnerable_groups", i),
            "vulnerable group",
            g,
        )?;
        factors.push(f);
        groups.push(ix);
    }
    for (i, m) in profile.mitigations.iter().enumerate() {
        factors.push(
            lookup(
                &t.mitigations,
                FactorKind::Mitigation,
                At::Item("mitigations", i),
                "mitigation",
                m,
            )?
            .0,
        );
    }
    let score: i64 = factors.iter().map(|f| f.points).sum();
    let score_rank = c
        .grades
        .iter()
        .rposition(|g| g.min_score.is_some_and(|m| m <= score))
        .unwrap_or(0) as u32;
    let mut rank = score_rank;
    let mut floors = Vec::new();
    for f in &t.floors {
        let wh = &f.when.ix;
        let holds = any_in(&wh.sectors, &[sector])
            && any_in(&wh.capabilities, &caps)
            && any_in(&wh.data, &[data])
            && any_in(&wh.autonomy, &[autonomy])
            && any_in(&wh.vulnerable_groups, &groups)
            && f.when.min_users.is_none_or(|m| profile.users >= m);
        if holds {
            rank = rank.max(f.grade);
            floors.push(FloorHit {
                id: f.id.clone(),
                grade: f.grade,
                grade_id: c.grades[f.grade as usize].id.clone(),
                basis: f.basis.clone(),
            });
        }
    }
    Ok(Classification {
        grade: c.grades[rank as usize].id.clone(),
        grade_rank: rank,
        score,
        score_grade: c.grades[score_rank as usize].id.clone(),
        score_grade_rank: score_rank,
        factors,
        floors,
    })
}
