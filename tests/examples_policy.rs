//! The walk-through of `examples/policy/README.md` stays true: every `console` block's
//! commands are run with the real `airisk` and must print what the README shows, the files
//! the README quotes are the files in the folder, and the minimal policy is valid without
//! a warning.
//!
//! A `console` block is a list of `$ airisk ARGS` lines, each followed by its expected
//! output: stdout, then stderr, line by line; a line `…` stands for any number of lines. A
//! command that ends in `# exits N` must exit with status N (otherwise 0). Arguments are
//! split on spaces (the README uses no quoting) and run from the repository's root.

use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_airisk");

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(p: &str) -> String {
    std::fs::read_to_string(root().join(p)).unwrap_or_else(|e| panic!("{p}: {e}"))
}

/// The fenced blocks of `text` with the given info string, in order.
fn blocks<'a>(text: &'a str, info: &str) -> Vec<&'a str> {
    let fence = format!("```{info}\n");
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find(&fence) {
        let body = &rest[i + fence.len()..];
        let end = body.find("\n```").expect("an unterminated code block");
        out.push(&body[..end + 1]);
        rest = &body[end + 4..];
    }
    out
}

/// Whether `actual` matches `expected`, where an expected line `…` matches any number of
/// actual lines.
fn matches(expected: &[&str], actual: &[&str]) -> bool {
    match expected.split_first() {
        None => actual.is_empty(),
        Some((&"…", rest)) => (0..=actual.len()).any(|k| matches(rest, &actual[k..])),
        Some((e, rest)) => actual
            .split_first()
            .is_some_and(|(a, arest)| a == e && matches(rest, arest)),
    }
}

/// One command of a console block: its arguments, expected exit status and output.
struct Step<'a> {
    line: &'a str,
    args: Vec<&'a str>,
    status: i32,
    expected: Vec<&'a str>,
}

fn steps(block: &str) -> Vec<Step<'_>> {
    let mut out: Vec<Step<'_>> = Vec::new();
    for line in block.lines() {
        if let Some(cmd) = line.strip_prefix("$ ") {
            let (cmd, status) = match cmd.split_once("# exits ") {
                Some((c, n)) => (c.trim_end(), n.trim().parse().expect("# exits N")),
                None => (cmd, 0),
            };
            let mut words = cmd.split_whitespace();
            assert_eq!(
                words.next(),
                Some("airisk"),
                "{line}: not an airisk command"
            );
            out.push(Step {
                line,
                args: words.collect(),
                status,
                expected: Vec::new(),
            });
        } else {
            out.last_mut()
                .unwrap_or_else(|| panic!("output before any command: {line}"))
                .expected
                .push(line);
        }
    }
    out
}

#[test]
fn every_command_of_the_walk_through_prints_what_it_shows() {
    let readme = read("examples/policy/README.md");
    let consoles = blocks(&readme, "console");
    assert!(consoles.len() >= 5, "the walk-through has its five steps");
    let mut seen = Vec::new();
    for block in consoles {
        for step in steps(block) {
            let out = Command::new(BIN)
                .args(&step.args)
                .current_dir(root())
                .output()
                .expect("run airisk");
            let stdout = String::from_utf8(out.stdout).unwrap();
            let stderr = String::from_utf8(out.stderr).unwrap();
            let actual: Vec<&str> = stdout.lines().chain(stderr.lines()).collect();
            assert!(
                matches(&step.expected, &actual),
                "{}\nexpected (… = any lines):\n{}\nactual (stdout, then stderr):\n{}",
                step.line,
                step.expected.join("\n"),
                actual.join("\n")
            );
            assert_eq!(
                out.status.code(),
                Some(step.status),
                "{}: exit status",
                step.line
            );
            seen.push(step.args[0].to_owned());
        }
    }
    for cmd in ["validate", "classify", "replay", "test"] {
        assert!(seen.iter().any(|c| c == cmd), "no `airisk {cmd}` step");
    }
}

#[test]
fn the_files_shown_are_the_files_in_the_folder() {
    let readme = read("examples/policy/README.md");
    let json = blocks(&readme, "json");
    assert_eq!(json[0], read("examples/policy/minimal.json"), "the policy");
    assert_eq!(
        json[1],
        read("examples/policy/clinic-bot.json"),
        "the profile"
    );
    let events = read("examples/policy/events.jsonl");
    assert!(
        events.starts_with(json[2]),
        "the README's event lines are the first lines of events.jsonl"
    );
}

#[test]
fn the_minimal_policy_is_valid_without_warnings_and_grades_the_profile() {
    let policy = airisk::Policy::from_json(&read("examples/policy/minimal.json")).unwrap();
    assert!(policy.warnings().is_empty(), "{:?}", policy.warnings());
    assert_eq!(policy.rules().len(), 1, "a one-rule policy");
    let profile = airisk::Profile::from_json(&read("examples/policy/clinic-bot.json")).unwrap();
    let c = airisk::classify(&policy, &profile).unwrap();
    assert_eq!((&*c.grade, c.score), ("high", 3));
}

/// The validation error the README quotes is the one `airisk validate` prints for it.
#[test]
fn the_quoted_validation_error_is_real() {
    let readme = read("examples/policy/README.md");
    let bad = read("examples/policy/minimal.json")
        .replace("\"window_ms\": 600000", "\"window_ms\": 90000");
    let dir = std::env::temp_dir().join(format!("airisk-examples-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path: &Path = &dir.join("bad.json");
    std::fs::write(path, bad).unwrap();
    let out = Command::new(BIN)
        .arg("validate")
        .arg(path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    let first = stderr.lines().next().unwrap();
    assert!(
        readme.contains(&format!("`{first}`")),
        "the README quotes {first:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
