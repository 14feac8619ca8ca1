//! The documentation in `docs/` stays complete and its links stay good:
//!
//! - every field the policy schema names (and so, by `tests/schemas.rs`, every field the
//!   library reads) is mentioned in `docs/policy.md`;
//! - every event-line op and field, every transition member and every incident-event member
//!   is mentioned in `docs/formats.md`;
//! - every function the C header declares is mentioned in `docs/c-abi.md`;
//! - every relative link of the documents (and its `#anchor`) points at something that
//!   exists, and no document refers to anything outside the repository.

use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn schema(name: &str) -> Value {
    serde_json::from_str(&read(&root().join(format!("schemas/{name}.schema.json")))).unwrap()
}

/// Every property name anywhere in a schema.
fn property_names(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::Object(p)) = m.get("properties") {
                out.extend(p.keys().cloned());
            }
            for x in m.values() {
                property_names(x, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| property_names(x, out)),
        _ => {}
    }
}

fn assert_mentions(doc: &str, names: impl IntoIterator<Item = String>, what: &str) {
    let text = read(&root().join(doc));
    let missing: Vec<String> = names
        .into_iter()
        .filter(|n| !text.contains(&format!("`{n}`")) && !text.contains(&format!("\"{n}\"")))
        .collect();
    assert!(
        missing.is_empty(),
        "{doc} does not mention these {what}: {missing:?}"
    );
}

#[test]
fn the_policy_reference_mentions_every_field() {
    let mut names = BTreeSet::new();
    property_names(&schema("policy"), &mut names);
    assert!(names.len() > 60, "{names:?}");
    assert_mentions("docs/policy.md", names, "policy fields");
    let aggregates = schema("policy")["$defs"]["rule"]["properties"]["aggregate"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_owned())
        .collect::<Vec<_>>();
    assert_eq!(aggregates.len(), 10);
    assert_mentions("docs/policy.md", aggregates, "aggregates");
    let actions: Vec<String> = schema("policy")["$defs"]["action"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_owned())
        .collect();
    assert_mentions("docs/policy.md", actions, "actions");
}

#[test]
fn the_formats_mention_every_op_and_member() {
    let mut names = BTreeSet::new();
    for s in ["profile", "event-line", "transition", "incident-event"] {
        property_names(&schema(s), &mut names);
    }
    let ops: Vec<String> = schema("event-line")["properties"]["op"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ops.len(), 8);
    names.extend(ops);
    let events: Vec<String> = schema("incident-event")["properties"]["event"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_owned())
        .collect();
    names.extend(events);
    // Every rejection kind a replay can report.
    names.extend(
        airisk::replay::ErrorKind::ALL
            .iter()
            .map(|k| k.name().to_owned()),
    );
    assert_mentions(
        "docs/formats.md",
        names,
        "formats members, ops, events and kinds",
    );
}

#[test]
fn the_c_guide_mentions_every_function_and_status() {
    let header = read(&root().join("include/airisk.h"));
    let mut names = BTreeSet::new();
    for line in header.lines() {
        // Declarations start at column 0 (`airisk_status airisk_x(`, `const char *airisk_y(`):
        // the identifier right before the first `(`.
        let is_decl = !line.starts_with([' ', '*', '#', '/', '}']) && !line.starts_with("typedef");
        if let (true, Some(paren)) = (is_decl, line.find('(')) {
            let head = &line[..paren];
            let name = head
                .rsplit(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .next()
                .unwrap_or("");
            if name.starts_with("airisk_") {
                names.insert(name.to_owned());
            }
        }
        if let Some(rest) = line.strip_prefix("#define AIRISK_ERR_") {
            let name = rest.split_whitespace().next().unwrap();
            names.insert(format!("AIRISK_ERR_{name}"));
        }
    }
    assert!(names.len() > 50, "{names:?}");
    assert_mentions("docs/c-abi.md", names, "C functions and statuses");
}

/// The GitHub anchor of a heading: lower case, punctuation dropped, spaces as hyphens.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

fn anchors(text: &str) -> BTreeSet<String> {
    let mut in_code = false;
    let mut out = BTreeSet::new();
    for line in text.lines() {
        if line.starts_with("```") {
            in_code = !in_code;
        } else if !in_code && line.starts_with('#') {
            out.insert(slug(line.trim_start_matches('#')));
        }
    }
    out
}

/// The targets of the Markdown links `](target)` outside code blocks.
fn links(text: &str) -> Vec<String> {
    let mut in_code = false;
    let mut out = Vec::new();
    for line in text.lines() {
        if line.starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if in_code {
            continue;
        }
        let mut rest = line;
        while let Some(i) = rest.find("](") {
            let after = &rest[i + 2..];
            let Some(end) = after.find(')') else { break };
            out.push(after[..end].to_owned());
            rest = &after[end..];
        }
    }
    out
}

#[test]
fn every_link_of_the_documents_resolves() {
    let docs = [
        "docs/policy.md",
        "docs/formats.md",
        "docs/c-abi.md",
        "examples/policy/README.md",
        "README.md",
    ];
    for doc in docs {
        let path = root().join(doc);
        let text = read(&path);
        let dir = path.parent().unwrap();
        for link in links(&text) {
            if link.starts_with("http://") || link.starts_with("https://") {
                continue;
            }
            let (file, anchor) = match link.split_once('#') {
                Some((f, a)) => (f, Some(a)),
                None => (link.as_str(), None),
            };
            let target = if file.is_empty() {
                path.clone()
            } else {
                dir.join(file)
            };
            assert!(
                target.exists(),
                "{doc}: the link {link:?} points at nothing"
            );
            if let Some(a) = anchor {
                let t = read(&target);
                assert!(
                    anchors(&t).contains(a),
                    "{doc}: the link {link:?} names no heading of {}",
                    target.display()
                );
            }
        }
    }
}

#[test]
fn no_document_refers_outside_the_repository() {
    for doc in [
        "docs/policy.md",
        "docs/formats.md",
        "docs/c-abi.md",
        "examples/policy/README.md",
        "README.md",
    ] {
        let text = read(&root().join(doc));
        for bad in ["DESIGN.md", "../shared", "shared/reference"] {
            assert!(!text.contains(bad), "{doc} refers to {bad}");
        }
    }
}
