//! `airisk diff OLD NEW [--profiles DIR] [--json]`: what reloading NEW over OLD would do —
//! the rules kept, reset, added and removed, the profiles whose grade changes or that NEW
//! refuses — without an engine ([`airisk::ReloadReport::diff`]), and which sections of
//! the documents differ. Exit 0 when the policies are the same (canonically), 1 when they
//! differ, 2 on error, like `diff`.

use airisk::{Policy, Profile, ReloadReport};
use clap::Args;
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Arguments of `airisk diff`.
#[derive(Args)]
pub struct DiffArgs {
    /// Grade these profiles under both policies: every *.json in DIR with an `id` (other
    /// JSON files, such as an expectations file, are skipped)
    #[arg(long, value_name = "DIR")]
    profiles: Option<PathBuf>,
    /// Print the reload report as one JSON object on stdout (with `sections`, the
    /// top-level sections that differ, and `same`)
    #[arg(long)]
    json: bool,
    /// The policy in force
    #[arg(value_name = "OLD")]
    old: PathBuf,
    /// The policy to reload
    #[arg(value_name = "NEW")]
    new: PathBuf,
}

/// Long help of the command.
pub const ABOUT: &str = "\
Show what reloading the policy NEW over OLD would do, without an engine: the rules a reload
keeps (their levels, timers, windows and detector state carry over), resets (they start
empty: their definition, a window ring's size, or their thresholds for a grade in use
changed), adds and removes; with --profiles, the systems whose grade changes and those NEW
refuses (a reload with any would be refused), and for which systems each rule resets.
Without profiles, a rule whose thresholds change for any grade is listed as reset. Also
lists the top-level sections of the documents that differ (responses, incidents, ...),
which a reload applies from the next evaluation on.

Exit status: 0 the policies are the same (canonically: reformatting does not count), 1
they differ, 2 error (a policy or a profile that cannot be read).";

/// Runs `airisk diff`.
pub fn run(a: DiffArgs) -> ExitCode {
    match diff(&a) {
        Ok(same) => ExitCode::from(if same { 0 } else { 1 }),
        Err(m) => {
            eprintln!("airisk: {m}");
            ExitCode::from(2)
        }
    }
}

fn load(path: &Path) -> Result<Policy, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    Policy::from_json(&text).map_err(|e| {
        let issues = e.issues();
        if issues.is_empty() {
            format!("{}: {e}", path.display())
        } else {
            let mut m = format!("{}: invalid policy", path.display());
            for i in issues {
                m.push_str("\n  ");
                m.push_str(&i.to_string());
            }
            m
        }
    })
}

/// The profiles of `dir`: every `*.json` whose top level is an object with an `id`, in
/// file-name order.
fn profiles(dir: &Path) -> Result<Vec<Profile>, String> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json") && p.is_file())
        .collect();
    paths.sort();
    let mut out = Vec::new();
    for p in paths {
        let text =
            std::fs::read_to_string(&p).map_err(|e| format!("cannot read {}: {e}", p.display()))?;
        let v: Value = serde_json::from_str(&text)
            .map_err(|e| format!("{}: invalid JSON: {e}", p.display()))?;
        if v.get("id").is_none() {
            continue;
        }
        // Read again as a profile document: duplicate keys are errors, as in `classify`.
        out.push(Profile::from_json(&text).map_err(|e| format!("{}: {e}", p.display()))?);
    }
    Ok(out)
}

/// Whether two JSON values are the same document (numbers compared as numbers).
fn same_json(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same_json(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_json(v, w)))
        }
        _ => a == b,
    }
}

/// Top-level sections present in either document whose contents differ, in key order.
fn sections(old: &Policy, new: &Policy) -> Vec<String> {
    let empty = serde_json::Map::new();
    let (a, b) = (
        old.source().as_object().unwrap_or(&empty),
        new.source().as_object().unwrap_or(&empty),
    );
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| match (a.get(*k), b.get(*k)) {
            (Some(x), Some(y)) => !same_json(x, y),
            _ => true,
        })
        .cloned()
        .collect()
}

/// Rules in both policies whose documents differ in their texts alone (name, basis,
/// description), in the new policy's order.
fn retexted(old: &Policy, new: &Policy) -> Vec<String> {
    let doc = |p: &Policy, id: &str| -> Option<Value> {
        p.source()["rules"]
            .as_array()?
            .iter()
            .find(|r| r["id"] == id)
            .cloned()
    };
    let untexted = |mut v: Value| {
        if let Some(m) = v.as_object_mut() {
            for k in ["name", "basis", "description"] {
                m.remove(k);
            }
        }
        v
    };
    new.rules()
        .iter()
        .filter(|r| match (doc(old, &r.id), doc(new, &r.id)) {
            (Some(a), Some(b)) => !same_json(&a, &b) && same_json(&untexted(a), &untexted(b)),
            _ => false,
        })
        .map(|r| r.id.to_string())
        .collect()
}

fn diff(a: &DiffArgs) -> Result<bool, String> {
    let old = load(&a.old)?;
    let new = load(&a.new)?;
    let profiles = match &a.profiles {
        Some(dir) => Some(profiles(dir)?),
        None => None,
    };
    let report = ReloadReport::diff(&old, &new, profiles.as_deref().unwrap_or(&[]));
    let same = old.fingerprint() == new.fingerprint();
    let sections = if same {
        Vec::new()
    } else {
        sections(&old, &new)
    };
    let out = std::io::stdout();
    let mut w = out.lock();
    let written = if a.json {
        let mut v = serde_json::to_value(&report).map_err(|e| e.to_string())?;
        v["sections"] = serde_json::json!(sections);
        v["same"] = Value::Bool(same);
        writeln!(w, "{v}")
    } else {
        human(
            &mut w,
            a,
            &old,
            &new,
            &report,
            &sections,
            profiles.as_deref(),
        )
    };
    written.map_err(|e| format!("cannot write: {e}"))?;
    Ok(same)
}

fn version(p: &Policy) -> String {
    p.version().map_or_else(
        || "(no policy_version)".to_owned(),
        |v| format!("policy {v}"),
    )
}

fn human(
    w: &mut impl Write,
    a: &DiffArgs,
    old: &Policy,
    new: &Policy,
    r: &ReloadReport,
    sections: &[String],
    profiles: Option<&[Profile]>,
) -> std::io::Result<()> {
    writeln!(
        w,
        "old  {}  {}  fingerprint {}",
        a.old.display(),
        version(old),
        r.from_fingerprint
    )?;
    writeln!(
        w,
        "new  {}  {}  fingerprint {}",
        a.new.display(),
        version(new),
        r.to_fingerprint
    )?;
    if r.from_fingerprint == r.to_fingerprint {
        writeln!(
            w,
            "the policies are the same: a reload keeps every rule's state and changes nothing"
        )?;
        return Ok(());
    }
    writeln!(w, "sections that differ: {}", sections.join(", "))?;
    let whom = if profiles.is_some() {
        "for every system"
    } else {
        "(by the rules alone)"
    };
    writeln!(
        w,
        "rules: {} kept {whom}, {} reset, {} added, {} removed",
        r.kept.len(),
        r.reset.len(),
        r.added.len(),
        r.removed.len()
    )?;
    // Resets with the same cause and systems on one line, in rule order.
    let mut groups: Vec<(&str, &[String], Vec<&str>)> = Vec::new();
    for x in &r.reset {
        match groups
            .iter_mut()
            .find(|g| g.0 == x.why && g.1 == x.systems.as_slice())
        {
            Some(g) => g.2.push(&x.rule),
            None => groups.push((&x.why, &x.systems, vec![&x.rule])),
        }
    }
    for (why, systems, rules) in groups {
        let whom = if systems.is_empty() {
            String::new()
        } else {
            format!(" for {}", systems.join(", "))
        };
        let n = if rules.len() > 1 {
            format!(" ({} rules)", rules.len())
        } else {
            String::new()
        };
        writeln!(w, "  reset ({why}){whom}: {}{n}", rules.join(", "))?;
    }
    if !r.added.is_empty() {
        writeln!(w, "  added: {}", r.added.join(", "))?;
    }
    if !r.removed.is_empty() {
        writeln!(w, "  removed: {}", r.removed.join(", "))?;
    }
    let texts = retexted(old, new);
    if !texts.is_empty() {
        writeln!(w, "  new texts only: {}", texts.join(", "))?;
    }
    if let (Some(p), Some(dir)) = (profiles, &a.profiles) {
        writeln!(
            w,
            "profiles: {} in {}, {} re-graded, {} refused by the new policy",
            p.len(),
            dir.display(),
            r.regraded.len(),
            r.problems.len()
        )?;
        for x in &r.regraded {
            writeln!(w, "  re-graded {}: {} -> {}", x.system, x.from, x.to)?;
        }
        for x in &r.problems {
            writeln!(w, "  refused {}: {}", x.system, x.reason)?;
        }
        if !r.problems.is_empty() {
            writeln!(
                w,
                "a reload with these systems registered would be refused and change nothing"
            )?;
        }
    }
    Ok(())
}
