//! Classification and grading (分类分级): a [`Profile`] and a [`Policy`] give a
//! [`Classification`] — grade, score, and the explanation of both.

use crate::error::{Error, Issue, Result};
use crate::json::check_id;
use crate::policy::model::I18n;
use crate::policy::{FactorTable, FloorWhen, Policy};
use serde::{Deserialize, Serialize};
use smallvec::SmallVec;
use std::sync::Arc;

/// Most entries in one list of a profile (capabilities, vulnerable groups, mitigations).
pub const MAX_PROFILE_LIST: usize = 256;
/// Largest profile document accepted, in bytes.
pub const MAX_PROFILE_BYTES: usize = 64 << 10;

/// The description of one AI application: what [`classify`] grades and
/// [`Engine::register`](crate::Engine::register) monitors. Build one with
/// [`Profile::builder`], or parse one with [`Profile::from_json`] / [`Profile::parse`].
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
    /// The operator's type for incident reporting (an id of the policy's
    /// `incidents.operator_types`; default: the first). Any value is accepted by a policy
    /// without an `incidents` section.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator_type: Option<String>,
}

/// The fields of a profile, in the order problems are reported.
const PROFILE_FIELDS: [&str; 11] = [
    "id",
    "sector",
    "capabilities",
    "data",
    "autonomy",
    "users",
    "vulnerable_groups",
    "mitigations",
    "name",
    "operator",
    "operator_type",
];

impl Profile {
    /// Starts building a profile in code, from its five required fields; lists start
    /// empty. [`ProfileBuilder::build`] runs the checks that parsing runs.
    ///
    /// ```
    /// use airisk::{Engine, Policy, Profile};
    ///
    /// let profile = Profile::builder("triage-bot", "healthcare_clinical", "sensitive_personal",
    ///                                "human_on_the_loop", 150_000)
    ///     .capability("generative")
    ///     .capability("automated_decision")
    ///     .vulnerable_group("patients")
    ///     .mitigation("human_review_process")
    ///     .name("Hospital triage chatbot")
    ///     .operator("City Hospital")
    ///     .build()?;
    /// let engine = Engine::new(Policy::default_policy());
    /// assert_eq!(engine.classify(&profile)?.grade.as_ref(), "major");
    /// engine.register(profile)?;
    /// # Ok::<(), airisk::Error>(())
    /// ```
    pub fn builder(
        id: impl Into<String>,
        sector: impl Into<String>,
        data: impl Into<String>,
        autonomy: impl Into<String>,
        users: u64,
    ) -> ProfileBuilder {
        ProfileBuilder(Profile {
            id: id.into(),
            sector: sector.into(),
            capabilities: Vec::new(),
            data: data.into(),
            autonomy: autonomy.into(),
            users,
            vulnerable_groups: Vec::new(),
            mitigations: Vec::new(),
            name: None,
            operator: None,
            operator_type: None,
        })
    }

    /// Parses and checks a profile document (unknown and duplicate fields are errors).
    ///
    /// # Errors
    /// [`Error::Json`] for malformed JSON, [`Error::Limit`] for a document over
    /// [`MAX_PROFILE_BYTES`], [`Error::Profile`] with the first problem (its field and
    /// a plain-language reason; [`Profile::parse`] gives every problem).
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
    /// [`Error::Profile`] with the first problem (field order: `id`, `sector`,
    /// `capabilities`, `data`, `autonomy`, `users`, `vulnerable_groups`, `mitigations`,
    /// `name`, `operator`, then unknown fields).
    pub fn from_value(v: serde_json::Value) -> Result<Profile> {
        let mut issues = Vec::new();
        match read_profile(&v, None, &mut issues) {
            Some(p) if issues.is_empty() => Ok(p),
            _ => Err(Error::Profile(issues.into_iter().next().unwrap_or(Issue {
                path: String::new(),
                reason: "invalid profile".into(),
            }))),
        }
    }

    /// Parses a profile document and reports **every** problem, each with its field path
    /// and a plain-language reason. With a policy, the ids (sector, capabilities, data
    /// class, autonomy, vulnerable groups, mitigations) are checked against its tables too,
    /// and an unknown one comes with a "did you mean" suggestion and the valid values.
    ///
    /// ```
    /// use airisk::{Policy, Profile};
    ///
    /// let policy = Policy::default_policy();
    /// let problems = Profile::parse(r#"{"id": "bot", "sector": "healthcare", "data": "personal",
    ///     "autonomy": "autonomous", "users": "many", "capabilities": ["generatve"]}"#,
    ///     Some(&policy)).unwrap_err();
    /// let paths: Vec<&str> = problems.iter().map(|i| i.path.as_str()).collect();
    /// assert_eq!(paths, ["sector", "capabilities[0]", "users"]);
    /// assert!(problems[0].reason.starts_with(
    ///     r#"unknown sector "healthcare"; did you mean "healthcare_clinical"? valid: "#));
    /// assert_eq!(problems[2].reason, r#"users must be a whole number ≥ 0, found "many""#);
    /// ```
    ///
    /// # Errors
    /// Every problem found. Malformed JSON and an oversized document are one problem at
    /// the empty path.
    pub fn parse(text: &str, policy: Option<&Policy>) -> std::result::Result<Profile, Vec<Issue>> {
        let doc_issue = |reason: String| {
            vec![Issue {
                path: String::new(),
                reason,
            }]
        };
        if text.len() > MAX_PROFILE_BYTES {
            return Err(doc_issue(format!(
                "profile is {} bytes; at most {MAX_PROFILE_BYTES} are accepted",
                text.len()
            )));
        }
        let v =
            crate::json::parse_strict(text).map_err(|e| doc_issue(format!("invalid JSON: {e}")))?;
        let mut issues = Vec::new();
        match read_profile(&v, policy, &mut issues) {
            Some(p) if issues.is_empty() => Ok(p),
            _ => Err(issues),
        }
    }

    /// Checks the profile's own rules, independent of a policy: the id's format, the
    /// lists' sizes, and no value listed twice in a list (each would add its points again).
    ///
    /// ```
    /// use airisk::{Error, Profile};
    ///
    /// let mut p = Profile::builder("bot", "finance", "personal", "autonomous", 10).build()?;
    /// p.capabilities = vec!["generative".into(), "profiling".into(), "generative".into()];
    /// match p.check() {
    ///     Err(Error::Profile(i)) => {
    ///         assert_eq!(i.path, "capabilities[2]");
    ///         assert_eq!(i.reason, r#"capability "generative" is listed twice (also at capabilities[0]); list each once"#);
    ///     }
    ///     other => panic!("{other:?}"),
    /// }
    /// # Ok::<(), airisk::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Profile`] naming the field (and, for a repeated value, its index).
    pub fn check(&self) -> Result<()> {
        check_id(&self.id).map_err(|r| Error::profile("id", r))?;
        for (k, list) in [
            ("capabilities", &self.capabilities),
            ("vulnerable_groups", &self.vulnerable_groups),
            ("mitigations", &self.mitigations),
        ] {
            if list.len() > MAX_PROFILE_LIST {
                return Err(Error::profile(k, list_too_long(list.len())));
            }
            if let Some((i, first)) = first_repeat(list) {
                return Err(Error::profile(
                    format!("{k}[{i}]"),
                    listed_twice(k, &list[i], first),
                ));
            }
        }
        Ok(())
    }
}

fn list_too_long(n: usize) -> String {
    format!("{n} entries; at most {MAX_PROFILE_LIST} are allowed")
}

/// The first entry of `list` equal to an earlier one: its index and the earlier one's.
/// Allocates nothing (lists have at most [`MAX_PROFILE_LIST`] entries).
fn first_repeat(list: &[String]) -> Option<(usize, usize)> {
    (1..list.len()).find_map(|i| list[..i].iter().position(|x| *x == list[i]).map(|j| (i, j)))
}

/// What a repeated entry of the list `k` is: each entry adds its points, so one listed
/// twice would count twice.
fn listed_twice(k: &str, value: &str, first: usize) -> String {
    let what = match k {
        "capabilities" => "capability",
        "vulnerable_groups" => "vulnerable group",
        _ => "mitigation",
    };
    format!("{what} {value:?} is listed twice (also at {k}[{first}]); list each once")
}

/// Builds a [`Profile`] in code: see [`Profile::builder`].
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until .build() is called"]
pub struct ProfileBuilder(Profile);

impl ProfileBuilder {
    /// Adds a capability (a key of `classification.capabilities`).
    pub fn capability(mut self, capability: impl Into<String>) -> Self {
        self.0.capabilities.push(capability.into());
        self
    }

    /// Adds a vulnerable group served (a key of `classification.vulnerable_groups`).
    pub fn vulnerable_group(mut self, group: impl Into<String>) -> Self {
        self.0.vulnerable_groups.push(group.into());
        self
    }

    /// Adds a mitigation in place (a key of `classification.mitigations`).
    pub fn mitigation(mut self, mitigation: impl Into<String>) -> Self {
        self.0.mitigations.push(mitigation.into());
        self
    }

    /// Sets the display name.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.0.name = Some(name.into());
        self
    }

    /// Sets the operator.
    pub fn operator(mut self, operator: impl Into<String>) -> Self {
        self.0.operator = Some(operator.into());
        self
    }

    /// Sets the operator's type for incident reporting (an id of the policy's
    /// `incidents.operator_types`).
    pub fn operator_type(mut self, operator_type: impl Into<String>) -> Self {
        self.0.operator_type = Some(operator_type.into());
        self
    }

    /// The profile, after the checks that parsing runs ([`Profile::check`]: the id is
    /// 1–128 bytes of UTF-8 without control characters; lists have at most
    /// [`MAX_PROFILE_LIST`] entries, none of them twice). Ids are checked against a policy when the profile is
    /// classified or registered ([`profile_issues`] lists every problem at once).
    ///
    /// ```
    /// use airisk::{Error, Profile};
    ///
    /// let err = Profile::builder("", "finance", "personal", "autonomous", 10).build().unwrap_err();
    /// assert!(matches!(err, Error::Profile(ref i) if i.path == "id"));
    /// ```
    ///
    /// # Errors
    /// [`Error::Profile`] naming the field.
    pub fn build(self) -> Result<Profile> {
        self.0.check()?;
        Ok(self.0)
    }
}

/// A JSON value for a message: compact, at most about 40 characters.
fn shown(v: &serde_json::Value) -> String {
    let s = v.to_string();
    if s.chars().count() <= 40 {
        s
    } else {
        let cut: String = s.chars().take(37).collect();
        format!("{cut}…")
    }
}

/// Reads a profile from JSON, collecting every problem (and, with a policy, every id the
/// policy does not define). Returns the profile when every field could be read.
fn read_profile(
    v: &serde_json::Value,
    policy: Option<&Policy>,
    issues: &mut Vec<Issue>,
) -> Option<Profile> {
    use serde_json::Value;
    let mut err = |path: String, reason: String| issues.push(Issue { path, reason });
    let Value::Object(m) = v else {
        err(
            String::new(),
            format!(
                "a profile must be a JSON object, found {}",
                crate::json::type_name(v)
            ),
        );
        return None;
    };
    let t = policy.map(|p| &p.0.classification);
    let mut ok = true;
    // A required or optional string field.
    let string = |k: &'static str,
                  required: bool,
                  err: &mut dyn FnMut(String, String)|
     -> Option<Option<String>> {
        match m.get(k) {
            None if required => {
                err(k.to_owned(), format!("required field {k} is missing"));
                None
            }
            None => Some(None),
            Some(Value::Null) if !required => Some(None),
            Some(Value::String(s)) => Some(Some(s.clone())),
            Some(other) => {
                err(
                    k.to_owned(),
                    format!("{k} must be a string, found {}", shown(other)),
                );
                None
            }
        }
    };
    // A list of strings.
    let list = |k: &'static str, err: &mut dyn FnMut(String, String)| -> Option<Vec<String>> {
        match m.get(k) {
            None => Some(Vec::new()),
            Some(Value::Array(a)) => {
                if a.len() > MAX_PROFILE_LIST {
                    err(k.to_owned(), list_too_long(a.len()));
                    return None;
                }
                let mut out: Vec<String> = Vec::with_capacity(a.len());
                let mut good = true;
                for (i, x) in a.iter().enumerate() {
                    match x {
                        Value::String(s) => {
                            let earlier = a[..i].iter().position(|y| y.as_str() == Some(s));
                            if let Some(first) = earlier {
                                // Reported, and the list still checked against the policy.
                                err(format!("{k}[{i}]"), listed_twice(k, s, first));
                            }
                            out.push(s.clone());
                        }
                        other => {
                            good = false;
                            err(
                                format!("{k}[{i}]"),
                                format!(
                                    "each entry of {k} must be a string, found {}",
                                    shown(other)
                                ),
                            );
                        }
                    }
                }
                good.then_some(out)
            }
            Some(other) => {
                err(
                    k.to_owned(),
                    format!("{k} must be a list of strings, found {}", shown(other)),
                );
                None
            }
        }
    };
    let mut e = |path: String, reason: String| err(path, reason);
    let id = string("id", true, &mut e).flatten();
    if let Some(id) = &id {
        if let Err(r) = check_id(id) {
            e("id".into(), r);
        }
    }
    let sector = string("sector", true, &mut e).flatten();
    if let (Some(s), Some(t)) = (&sector, t) {
        if let Some(r) = unknown_id(&t.sectors, "sector", s) {
            e("sector".into(), r);
        }
    }
    let capabilities = list("capabilities", &mut e);
    if let (Some(l), Some(t)) = (&capabilities, t) {
        for (i, c) in l.iter().enumerate().filter(|(i, v)| !l[..*i].contains(v)) {
            if let Some(r) = unknown_id(&t.capabilities, "capability", c) {
                e(format!("capabilities[{i}]"), r);
            }
        }
    }
    let data = string("data", true, &mut e).flatten();
    if let (Some(s), Some(t)) = (&data, t) {
        if let Some(r) = unknown_id(&t.data, "data class", s) {
            e("data".into(), r);
        }
    }
    let autonomy = string("autonomy", true, &mut e).flatten();
    if let (Some(s), Some(t)) = (&autonomy, t) {
        if let Some(r) = unknown_id(&t.autonomy, "autonomy", s) {
            e("autonomy".into(), r);
        }
    }
    let users = match m.get("users") {
        None => {
            e(
                "users".into(),
                "required field users is missing (the number of users, a whole number ≥ 0)".into(),
            );
            None
        }
        Some(v) => match v.as_u64() {
            Some(n) => Some(n),
            None => {
                // 2^64: the first whole number beyond u64::MAX.
                const BEYOND: f64 = 18_446_744_073_709_551_616.0;
                let why = match v.as_f64() {
                    Some(f) if f.fract() == 0.0 && f >= BEYOND => format!(
                        "users must be a whole number from 0 to {}, found {}",
                        u64::MAX,
                        shown(v)
                    ),
                    // 1000.0 or 1e3: a whole number in range, written as a float.
                    Some(f) if f.fract() == 0.0 && f >= 0.0 => format!(
                        "users must be written as a whole number without a fraction or exponent, found {}",
                        shown(v)
                    ),
                    _ => format!("users must be a whole number ≥ 0, found {}", shown(v)),
                };
                e("users".into(), why);
                None
            }
        },
    };
    let vulnerable_groups = list("vulnerable_groups", &mut e);
    if let (Some(l), Some(t)) = (&vulnerable_groups, t) {
        for (i, g) in l.iter().enumerate().filter(|(i, v)| !l[..*i].contains(v)) {
            if let Some(r) = unknown_id(&t.vulnerable_groups, "vulnerable group", g) {
                e(format!("vulnerable_groups[{i}]"), r);
            }
        }
    }
    let mitigations = list("mitigations", &mut e);
    if let (Some(l), Some(t)) = (&mitigations, t) {
        for (i, x) in l.iter().enumerate().filter(|(i, v)| !l[..*i].contains(v)) {
            if let Some(r) = unknown_id(&t.mitigations, "mitigation", x) {
                e(format!("mitigations[{i}]"), r);
            }
        }
    }
    let name = string("name", false, &mut e);
    let operator = string("operator", false, &mut e);
    let operator_type = string("operator_type", false, &mut e);
    if let (Some(Some(ot)), Some(ip)) = (&operator_type, policy.and_then(|p| p.incidents())) {
        if ip.operator_type(ot).is_none() {
            e(
                "operator_type".into(),
                unknown_value(
                    "operator type",
                    ot,
                    ip.operator_types.iter().map(|o| &*o.id),
                ),
            );
        }
    }
    for k in m.keys() {
        if !PROFILE_FIELDS.contains(&k.as_str()) {
            ok = false;
            e(
                k.clone(),
                unknown_value("field", k, PROFILE_FIELDS.iter().copied()),
            );
        }
    }
    Some(Profile {
        id: id?,
        sector: sector?,
        capabilities: capabilities?,
        data: data?,
        autonomy: autonomy?,
        users: users?,
        vulnerable_groups: vulnerable_groups?,
        mitigations: mitigations?,
        name: name?,
        operator: operator?,
        operator_type: operator_type?,
    })
    .filter(|_| ok)
}

/// `unknown sector "x"; did you mean "y"? valid: a, b, c` when `table` lacks `id`.
fn unknown_id(table: &FactorTable, what: &str, id: &str) -> Option<String> {
    if table.get(id).is_some() {
        return None;
    }
    Some(unknown_value(
        what,
        id,
        table.entries().iter().map(|f| &*f.id),
    ))
}

/// The message for a value that is not one of `valid`: a suggestion when one is close,
/// then every valid value.
pub(crate) fn unknown_value<'a>(
    what: &str,
    found: &str,
    valid: impl Iterator<Item = &'a str> + Clone,
) -> String {
    let mut m = format!("unknown {what} {found:?}");
    if let Some(s) = suggest(found, valid.clone()) {
        m.push_str(&format!("; did you mean {s:?}?"));
    }
    let all: Vec<&str> = valid.collect();
    // `...; did you mean "x"? valid: a, b` — the question mark ends the suggestion.
    let sep = if m.ends_with('?') { " " } else { "; " };
    if all.is_empty() {
        m.push_str(&format!("{sep}the policy defines no {what}"));
    } else {
        m.push_str(sep);
        m.push_str("valid: ");
        m.push_str(&all.join(", "));
    }
    m
}

/// The valid value closest to `found`, if one is close enough to be a likely typo or
/// abbreviation. Both sides are compared after normalising case and separators (`-`, `.`
/// and spaces read as `_`); the first rule that matches decides, in this order:
///
/// 1. the same value;
/// 2. within a third of the value's length in edits (at least one; adjacent
///    transpositions count as one edit), fewest edits first;
/// 3. `found` is the value's first word or words (`healthcare` → `healthcare_clinical`);
/// 4. `found` begins the value (`health` → `healthcare_clinical`, `fin` → `finance`);
///    at least 3 characters;
/// 5. `found` is a later word or words of the value (`clinical` → `healthcare_clinical`);
/// 6. `found` begins a later word (`clin` → `healthcare_clinical`); at least 3 characters;
/// 7. `found` occurs anywhere in the value (`ealthcar`); at least 4 characters.
///
/// Within rules 3 to 7 the shortest value wins; remaining ties go to the earlier value, so
/// the answer depends only on `found` and the order of `valid`.
///
/// ```
/// use airisk::suggest;
///
/// let sectors = ["public_health", "healthcare_clinical", "healthcare_patient_services", "finance"];
/// let s = |x| suggest(x, sectors.iter().copied());
/// assert_eq!(s("finanse"), Some("finance"));
/// assert_eq!(s("health"), Some("healthcare_clinical"));
/// assert_eq!(s("Public-Health"), Some("public_health"));
/// assert_eq!(s("retail"), None);
/// ```
pub fn suggest<'a>(found: &str, valid: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let norm = normalise(found.trim());
    if norm.is_empty() {
        return None;
    }
    let n = norm.chars().count();
    // (rule, extra characters or edits): lower is closer.
    let mut best: Option<((u8, usize), &str)> = None;
    let mut cand = String::new();
    for v in valid {
        cand.clear();
        cand.extend(v.chars().map(normal_char));
        let Some(score) = closeness(&norm, n, &cand) else {
            continue;
        };
        if best.is_none_or(|(b, _)| score < b) {
            best = Some((score, v));
        }
    }
    best.map(|(_, v)| v)
}

fn normal_char(c: char) -> char {
    match c {
        '-' | ' ' | '.' => '_',
        c => c.to_ascii_lowercase(),
    }
}

fn normalise(s: &str) -> String {
    s.chars().map(normal_char).collect()
}

/// How close the normalised `v` is to the normalised `norm` (of `n` characters), as (rule
/// of [`suggest`], edits or extra characters); `None` when it is not close.
fn closeness(norm: &str, n: usize, v: &str) -> Option<(u8, usize)> {
    if v == norm {
        return Some((1, 0));
    }
    let m = v.chars().count();
    let limit = (m / 3).max(1);
    if m.abs_diff(n) <= limit {
        let d = edit_distance(norm, v);
        if d <= limit {
            return Some((2, d));
        }
    }
    if m <= n {
        return None;
    }
    let extra = m - n;
    // Byte positions where `norm` occurs in `v`, and whether each is at a word boundary.
    let starts_word = |i: usize| i == 0 || v.as_bytes()[i - 1] == b'_';
    let ends_word = |i: usize| i + norm.len() == v.len() || v.as_bytes()[i + norm.len()] == b'_';
    let mut rule = u8::MAX;
    let at = (0..v.len()).filter(|&i| v.is_char_boundary(i) && v[i..].starts_with(norm));
    for i in at {
        let r = match (i == 0, starts_word(i), ends_word(i)) {
            (true, _, true) => 3,
            (true, _, false) if n >= 3 => 4,
            (false, true, true) => 5,
            (false, true, false) if n >= 3 => 6,
            _ if n >= 4 => 7,
            _ => continue,
        };
        rule = rule.min(r);
    }
    (rule != u8::MAX).then_some((rule, extra))
}

/// Optimal-string-alignment distance (Levenshtein plus adjacent transpositions), on chars.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    if a.len() > 256 || b.len() > 256 {
        return usize::MAX;
    }
    let w = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * w];
    for i in 0..=a.len() {
        d[i * w] = i;
    }
    for (j, x) in d.iter_mut().enumerate().take(w) {
        *x = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[(i - 1) * w + j] + 1)
                .min(d[i * w + j - 1] + 1)
                .min(d[(i - 1) * w + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[(i - 2) * w + j - 2] + 1);
            }
            d[i * w + j] = v;
        }
    }
    d[a.len() * w + b.len()]
}

/// Every problem of `profile` under `policy`, in field order: the profile's own rules
/// ([`Profile::check`]) and every sector, capability, data class, autonomy, vulnerable
/// group and mitigation the policy does not define, each with a "did you mean"
/// suggestion where one is close and the list of valid values. Empty when [`classify`]
/// would succeed. [`classify`]'s [`Error::Profile`] is the first of these.
///
/// ```
/// use airisk::{Policy, Profile, profile_issues};
///
/// let p = Profile::builder("bot", "healthcare", "personal", "self_driving", 10)
///     .capability("generative")
///     .build()?;
/// let issues = profile_issues(&Policy::default_policy(), &p);
/// assert_eq!(issues.len(), 2);
/// assert_eq!(issues[1].path, "autonomy");
/// assert!(issues[1].reason.ends_with("valid: autonomous, human_in_the_loop, human_on_the_loop"));
/// # Ok::<(), airisk::Error>(())
/// ```
pub fn profile_issues(policy: &Policy, profile: &Profile) -> Vec<Issue> {
    let mut issues = Vec::new();
    // The profile as JSON goes through the same reader as a document, so a built profile
    // and a parsed one get the same messages.
    match serde_json::to_value(profile) {
        Ok(v) => {
            read_profile(&v, Some(policy), &mut issues);
        }
        Err(e) => issues.push(Issue {
            path: String::new(),
            reason: e.to_string(),
        }),
    }
    issues
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
    /// The value's display name (`{"zh": .., "en": ..}`), where the policy gives one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<Arc<I18n>>,
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
    /// The display name of the floor's grade, where the policy gives one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grade_name: Option<Arc<I18n>>,
}

/// The result of classification, explaining itself. Display names from the policy follow
/// the ids when it gives them (`grade_name`, `score_grade_name`, each factor's and floor
/// grade's name, the prohibited use's name), each `{"zh": .., "en": ..}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Classification {
    /// Final grade id.
    pub grade: Arc<str>,
    /// Final grade rank (0 = lowest).
    pub grade_rank: u32,
    /// The final grade's display name, where the policy gives one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grade_name: Option<Arc<I18n>>,
    /// The score.
    pub score: i64,
    /// Grade from the score alone.
    pub score_grade: Arc<str>,
    /// Rank of `score_grade`.
    pub score_grade_rank: u32,
    /// The score grade's display name, where the policy gives one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score_grade_name: Option<Arc<I18n>>,
    /// Every term of the score, in formula order.
    pub factors: Vec<Factor>,
    /// Every floor that held.
    pub floors: Vec<FloorHit>,
    /// The first prohibited use (`classification.prohibited`) whose condition holds: such a
    /// profile is refused registration ([`crate::Error::Prohibited`]), whatever its grade.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prohibited: Option<ProhibitedHit>,
}

/// A prohibited use whose condition a profile meets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProhibitedHit {
    /// Its id.
    pub id: Arc<str>,
    /// Its legal basis.
    pub basis: Option<Arc<str>>,
    /// Its display name, where the policy gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<Arc<I18n>>,
}

/// Looks `id` up in `table`: its factor (named from `names`, the table's display names) and
/// its index in the table.
#[inline]
fn lookup(
    table: &FactorTable,
    names: &[Option<Arc<I18n>>],
    kind: FactorKind,
    id: &str,
) -> Option<(Factor, u32)> {
    table.get_ix(id).map(|(i, f)| {
        (
            Factor {
                kind,
                id: f.id.clone(),
                points: f.points,
                basis: f.basis.clone(),
                name: names.get(i as usize).cloned().flatten(),
            },
            i,
        )
    })
}

/// The error of a profile that names an id the policy lacks: the first of its issues.
/// Out of line: classification formats nothing unless it fails.
#[cold]
#[inline(never)]
fn unknown_id_error(policy: &Policy, profile: &Profile) -> Error {
    match profile_issues(policy, profile).into_iter().next() {
        Some(i) => Error::Profile(i),
        None => Error::profile("", "the profile does not fit the policy"),
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

/// A profile's values as table indexes, for floor and prohibited-use conditions.
struct Values<'a> {
    sector: u32,
    caps: &'a [u32],
    data: u32,
    autonomy: u32,
    groups: &'a [u32],
    users: u64,
}

/// Whether a floor's (or a prohibited use's) condition holds: every present key does.
#[inline(always)]
fn holds(when: &FloorWhen, v: &Values<'_>) -> bool {
    let wh = &when.ix;
    any_in(&wh.sectors, &[v.sector])
        && any_in(&wh.capabilities, v.caps)
        && any_in(&wh.data, &[v.data])
        && any_in(&wh.autonomy, &[v.autonomy])
        && any_in(&wh.vulnerable_groups, v.groups)
        && when.min_users.is_none_or(|m| v.users >= m)
}

/// Classifies `profile` under `policy`.
///
/// score = sector + Σ capabilities + data + autonomy + scale step + Σ vulnerable groups +
/// Σ mitigations; the score grade is the last grade whose `min_score` ≤ score (else the
/// first); the grade is the highest of the score grade and every floor that holds, so
/// mitigations never lower a grade below a floor. Allocates only the explanation.
///
/// # Errors
/// [`Error::Profile`] when the profile is malformed or names a sector, capability, data
/// class, autonomy, group or mitigation that the policy does not define: the first of
/// [`profile_issues`], with a "did you mean" suggestion and the valid values
/// (`sector: unknown sector "healthcare"; did you mean "healthcare_clinical"? valid: …`).
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
    let fail = || unknown_id_error(policy, profile);
    let names = &c.tables.names;
    let [n_sec, n_cap, n_data, n_aut, n_grp, n_mit] = &names.factors;
    let (f, sector) =
        lookup(&t.sectors, n_sec, FactorKind::Sector, &profile.sector).ok_or_else(fail)?;
    factors.push(f);
    let mut caps: SmallVec<[u32; 8]> = SmallVec::new();
    for cap in &profile.capabilities {
        let (f, ix) =
            lookup(&t.capabilities, n_cap, FactorKind::Capability, cap).ok_or_else(fail)?;
        factors.push(f);
        caps.push(ix);
    }
    let (f, data) = lookup(&t.data, n_data, FactorKind::Data, &profile.data).ok_or_else(fail)?;
    factors.push(f);
    let (f, autonomy) =
        lookup(&t.autonomy, n_aut, FactorKind::Autonomy, &profile.autonomy).ok_or_else(fail)?;
    factors.push(f);
    if let Some(step) = t.scale.iter().rev().find(|s| s.min_users <= profile.users) {
        factors.push(Factor {
            kind: FactorKind::Scale,
            id: step.id.clone(),
            points: step.score,
            basis: step.basis.clone(),
            name: None,
        });
    }
    let mut groups: SmallVec<[u32; 4]> = SmallVec::new();
    for g in &profile.vulnerable_groups {
        let (f, ix) =
            lookup(&t.vulnerable_groups, n_grp, FactorKind::VulnerableGroup, g).ok_or_else(fail)?;
        factors.push(f);
        groups.push(ix);
    }
    for m in &profile.mitigations {
        factors.push(
            lookup(&t.mitigations, n_mit, FactorKind::Mitigation, m)
                .ok_or_else(fail)?
                .0,
        );
    }
    let score: i64 = factors.iter().map(|f| f.points).sum();
    let score_rank = c
        .grades
        .iter()
        .rposition(|g| g.min_score.is_some_and(|m| m <= score))
        .unwrap_or(0) as u32;
    if let (Some(ot), Some(ip)) = (&profile.operator_type, c.incidents.as_ref()) {
        if ip.operator_type(ot).is_none() {
            return Err(fail());
        }
    }
    let values = Values {
        sector,
        caps: &caps,
        data,
        autonomy,
        groups: &groups,
        users: profile.users,
    };
    let mut rank = score_rank;
    let mut floors = Vec::new();
    for f in &t.floors {
        if holds(&f.when, &values) {
            rank = rank.max(f.grade);
            floors.push(FloorHit {
                id: f.id.clone(),
                grade: f.grade,
                grade_id: c.grades[f.grade as usize].id.clone(),
                basis: f.basis.clone(),
                grade_name: names.grades[f.grade as usize].clone(),
            });
        }
    }
    Ok(Classification {
        grade: c.grades[rank as usize].id.clone(),
        grade_rank: rank,
        grade_name: names.grades[rank as usize].clone(),
        score,
        score_grade: c.grades[score_rank as usize].id.clone(),
        score_grade_rank: score_rank,
        score_grade_name: names.grades[score_rank as usize].clone(),
        factors,
        floors,
        prohibited: t
            .prohibited
            .iter()
            .zip(&names.prohibited)
            .find(|(p, _)| holds(&p.when, &values))
            .map(|(p, name)| ProhibitedHit {
                id: p.id.clone(),
                basis: p.basis.clone(),
                name: name.clone(),
            }),
    })
}
