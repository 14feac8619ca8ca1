//! The README's Rust program is `examples/quickstart.rs`, verbatim: `cargo test` compiles
//! that example as a crate of its own (as a user's `src/main.rs` would be) and runs the
//! README's copy as a doctest, so the text a newcomer pastes compiles and runs. The README
//! also shows the `Cargo.toml` line it needs.

use std::path::PathBuf;

fn read(p: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(p);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The body of the first fenced block with `info` after `heading`.
fn block_after<'a>(text: &'a str, heading: &str, info: &str) -> &'a str {
    let at = text
        .find(heading)
        .unwrap_or_else(|| panic!("no {heading:?}"));
    let fence = format!("```{info}\n");
    let start = at + text[at..].find(&fence).expect("a code block") + fence.len();
    let end = start
        + text[start..]
            .find("\n```")
            .expect("an unterminated code block")
        + 1;
    &text[start..end]
}

#[test]
fn the_readme_rust_program_is_examples_quickstart() {
    let readme = read("README.md");
    let shown = block_after(&readme, "## Using it from Rust", "rust");
    let example = read("examples/quickstart.rs");
    assert_eq!(
        shown, example,
        "the README's Rust program differs from examples/quickstart.rs: change both"
    );
    assert!(
        shown.contains("fn main()"),
        "a whole main.rs, not a fragment"
    );
    assert!(
        !shown.lines().any(|l| l.trim_start().starts_with("# ")),
        "no lines hidden from the reader (rustdoc's `# `)"
    );
}

#[test]
fn the_readme_shows_the_cargo_toml_line() {
    let readme = read("README.md");
    let toml = block_after(&readme, "## Using it from Rust", "toml");
    assert!(toml.starts_with("[dependencies]\n"), "{toml}");
    let line = toml.lines().nth(1).unwrap();
    assert!(line.starts_with("airisk = { path = "), "{line}");
    assert!(line.contains("default-features = false"), "{line}");
    let name = read("Cargo.toml");
    assert!(
        name.contains("\nname = \"airisk\"\n"),
        "the package is called airisk"
    );
}
