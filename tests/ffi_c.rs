//! The C ABI from C and C++: compiles the examples and the C/C++ tests in `tests/c/` with
//! the system compilers against the library cargo built for this test run, runs them, and
//! runs the C status test under valgrind where it is installed.
//!
//! `cargo test` compiles the library with all its crate types (`lib`, `staticlib`,
//! `cdylib`) but leaves `libairisk.a` / `libairisk.so` in the profile's `deps/` directory —
//! the directory of this test's executable — without copying them up to `target/debug/`
//! (only `cargo build` does that, so the copy there may be stale or missing). The test
//! therefore links the files next to its own executable, falling back to the parents.
//!
//! Compilers: `$CC` / `$CXX`, else `cc` / `c++`. Set `AIRISK_REQUIRE_VALGRIND=1` to fail
//! instead of skipping when valgrind is missing.
#![cfg(target_os = "linux")]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The system libraries a program linking `libairisk.a` needs, as measured with
/// `cargo rustc --lib --crate-type staticlib -- --print native-static-libs` (Linux, glibc).
const NATIVE_STATIC_LIBS: &[&str] = &[
    "-lgcc_s",
    "-lutil",
    "-lrt",
    "-lpthread",
    "-lm",
    "-ldl",
    "-lc",
];

const WARNINGS: &[&str] = &["-Wall", "-Wextra", "-Werror", "-pedantic"];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The directory holding the library cargo built for this run: the test executable's own
/// directory (`<target>/<profile>/deps`), else the nearest parent with `libairisk.a`.
fn lib_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let mut dir = exe.parent().map(Path::to_path_buf);
    while let Some(d) = dir {
        if d.join("libairisk.a").is_file() {
            return d;
        }
        dir = d.parent().map(Path::to_path_buf);
    }
    panic!(
        "libairisk.a not found above {}: the crate's staticlib is built by `cargo test` \
         (crate-type = [\"lib\", \"staticlib\", \"cdylib\"])",
        exe.display()
    );
}

/// A fresh directory for this test's binaries.
fn out_dir(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("ffi_c")
        .join(name);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[derive(Clone, Copy, PartialEq)]
enum Lang {
    C,
    Cxx,
}

#[derive(Clone, Copy, PartialEq)]
enum Link {
    Static,
    Shared,
}

fn compiler(lang: Lang) -> String {
    let (var, default) = match lang {
        Lang::C => ("CC", "cc"),
        Lang::Cxx => ("CXX", "c++"),
    };
    std::env::var(var)
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| default.to_owned())
}

fn check(what: &str, cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {what} ({cmd:?}): {e}"));
    if !out.status.success() {
        panic!(
            "{what} failed ({}):\n{cmd:?}\n--- stdout\n{}\n--- stderr\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    out
}

/// Compiles and links `sources` (relative to the crate root) into `out/name`.
fn build(name: &str, lang: Lang, std: &str, sources: &[&str], link: Link) -> PathBuf {
    let dir = out_dir(name);
    let exe = dir.join(name);
    let lib = lib_dir();
    let mut cmd = Command::new(compiler(lang));
    cmd.arg(format!("-std={std}"))
        .args(WARNINGS)
        .arg("-g")
        .arg("-pthread")
        .arg("-I")
        .arg(root().join("include"))
        .arg("-I")
        .arg(root().join("tests/c"));
    for s in sources {
        cmd.arg(root().join(s));
    }
    match link {
        // The archive by path (so the shared library next to it is not picked).
        Link::Static => {
            cmd.arg(lib.join("libairisk.a")).args(NATIVE_STATIC_LIBS);
        }
        Link::Shared => {
            cmd.arg("-L")
                .arg(&lib)
                .arg("-lairisk")
                .arg(format!("-Wl,-rpath,{}", lib.display()));
        }
    }
    cmd.arg("-o").arg(&exe);
    check(&format!("compiling {name}"), &mut cmd);
    exe
}

fn run(exe: &Path) -> String {
    // cargo puts the profile directory on LD_LIBRARY_PATH, which outranks the program's
    // RUNPATH; a `libairisk.so` left there by an earlier `cargo build` may be stale, so the
    // directory of the library just built goes first.
    let mut path = std::ffi::OsString::from(lib_dir());
    if let Some(old) = std::env::var_os("LD_LIBRARY_PATH") {
        path.push(":");
        path.push(old);
    }
    let out = check(
        &format!("running {}", exe.display()),
        Command::new(exe)
            .current_dir(root())
            .env("LD_LIBRARY_PATH", path),
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Writes to the real stderr, bypassing the test harness's capture, so the line is seen.
fn notice(msg: &str) {
    let _ = writeln!(std::io::stderr(), "{msg}");
}

fn valgrind_available() -> bool {
    Command::new("valgrind")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Runs `exe` under valgrind's memcheck with its default leak kinds: any memory error, or
/// a block definitely or possibly lost, fails. (The library keeps no process-wide
/// allocation once its engines are freed: the cached default policy is held weakly.)
fn run_valgrind(exe: &Path) {
    run_valgrind_with(exe, &[]);
}

/// [`run_valgrind`] with arguments for the program.
fn run_valgrind_with(exe: &Path, args: &[&str]) {
    if !valgrind_available() {
        if std::env::var_os("AIRISK_REQUIRE_VALGRIND").is_some_and(|v| v != "0") {
            panic!("valgrind not installed, and AIRISK_REQUIRE_VALGRIND is set");
        }
        notice("valgrind not installed; skipped");
        return;
    }
    check(
        &format!("valgrind {}", exe.display()),
        Command::new("valgrind")
            .args([
                "--error-exitcode=1",
                "--leak-check=full",
                "--track-origins=yes",
                "-q",
            ])
            .arg(exe)
            .args(args)
            .current_dir(root()),
    );
}

#[test]
fn c_example_monitor_static() {
    let exe = build(
        "monitor",
        Lang::C,
        "c11",
        &["examples/c/monitor.c"],
        Link::Static,
    );
    let out = run(&exe);
    for want in [
        "registered system 0: grade",
        "rule hallucination-rate (hallucination): none -> blue",
        "rule safety-incidents (physical_safety): none -> orange",
        "system level: none -> orange",
        "suspend",
        "heartbeat-silence",
        "Hallucination rate (幻觉 · Hallucination)",
        "incident warehouse-robot/physical_safety/1 opened: serious (较大), reportable; initial report due by",
        "incident warehouse-robot/physical_safety/1 acknowledged",
        "incident warehouse-robot/physical_safety/1 report_filed",
        "initial report CAC-2025-0001",
        "incident triage-bot/hallucination/1 opened",
    ] {
        assert!(out.contains(want), "monitor output lacks {want:?}:\n{out}");
    }
    assert!(!out.contains("(late)"), "{out}");
    run_valgrind(&exe);
}

#[test]
fn c_example_monitor_shared() {
    let exe = build(
        "monitor_shared",
        Lang::C,
        "c11",
        &["examples/c/monitor.c"],
        Link::Shared,
    );
    // Really linked against the shared library.
    let bytes = std::fs::read(&exe).unwrap();
    assert!(
        bytes.windows(12).any(|w| w == b"libairisk.so"),
        "the program does not reference libairisk.so"
    );
    let out = run(&exe);
    assert!(out.contains("-> orange"), "{out}");
}

#[test]
fn cpp_example_monitor() {
    let exe = build(
        "monitor_cpp",
        Lang::Cxx,
        "c++17",
        &["examples/cpp/monitor.cpp"],
        Link::Static,
    );
    let out = run(&exe);
    for want in [
        "rule hallucination-rate (hallucination): none -> blue",
        "rule safety-incidents (physical_safety): none -> orange",
        "rejected as expected: AIRISK_ERR_VALUE",
        "人身与物理安全事件 · Physical-safety incidents",
        "incident warehouse-robot/physical_safety/1 opened: serious (较大), reportable; initial report due by",
        "incident warehouse-robot/physical_safety/1 report_filed: serious (较大), reportable, initial report CAC-2025-0001",
        "incident triage-bot/hallucination/1 acknowledged",
    ] {
        assert!(
            out.contains(want),
            "monitor_cpp output lacks {want:?}:\n{out}"
        );
    }
    run_valgrind(&exe);
}

#[test]
fn c_status_paths() {
    let exe = build(
        "test_status",
        Lang::C,
        "c11",
        &["tests/c/test_status.c"],
        Link::Static,
    );
    let out = run(&exe);
    assert!(out.contains("all"), "{out}");
    run_valgrind(&exe);
}

#[test]
fn c_snapshot_restore_and_journal() {
    let exe = build(
        "test_state",
        Lang::C,
        "c11",
        &["tests/c/test_state.c"],
        Link::Static,
    );
    let out = run(&exe);
    assert!(out.contains("all"), "{out}");
    run_valgrind(&exe);
}

#[test]
fn c_incidents_prohibited_and_names() {
    let exe = build(
        "test_incidents",
        Lang::C,
        "c11",
        &["tests/c/test_incidents.c"],
        Link::Static,
    );
    let out = run(&exe);
    assert!(out.contains("all"), "{out}");
    run_valgrind(&exe);
}

#[test]
fn c_metrics_buffer_sizes() {
    let exe = build(
        "test_metrics",
        Lang::C,
        "c11",
        &["tests/c/test_metrics.c"],
        Link::Static,
    );
    let out = run(&exe);
    assert!(out.contains("all"), "{out}");
    run_valgrind(&exe);
}

#[test]
fn c_reload_batches_and_silences() {
    let exe = build(
        "test_reload",
        Lang::C,
        "c11",
        &["tests/c/test_reload.c"],
        Link::Static,
    );
    let out = run(&exe);
    assert!(out.contains("all"), "{out}");
    // Under valgrind (one thread at a time), fewer reloads.
    run_valgrind_with(&exe, &["50"]);
}

#[test]
fn c_threads() {
    let exe = build(
        "test_threads",
        Lang::C,
        "c11",
        &["tests/c/test_threads.c"],
        Link::Static,
    );
    let out = run(&exe);
    assert!(out.contains("all"), "{out}");
    // Under valgrind (which runs one thread at a time), fewer observations.
    run_valgrind_with(&exe, &["100"]);
}

#[test]
fn c_header_twice_in_every_c_standard() {
    for std in ["c99", "c11", "c17"] {
        let exe = build(
            &format!("double_include_{std}"),
            Lang::C,
            std,
            &["tests/c/test_double_include.c"],
            Link::Static,
        );
        run(&exe);
    }
}

#[test]
fn cpp_includes_the_c_header() {
    let exe = build(
        "test_header_cpp",
        Lang::Cxx,
        "c++17",
        &["tests/c/test_header_cpp.cpp"],
        Link::Static,
    );
    run(&exe);
    run_valgrind(&exe);
    // The plain header also compiles as C++11.
    check(
        "airisk.h as C++11",
        Command::new(compiler(Lang::Cxx))
            .args(["-std=c++11", "-fsyntax-only", "-x", "c++"])
            .args(WARNINGS)
            .arg(root().join("include/airisk.h")),
    );
}

#[test]
fn cpp_wrapper() {
    let exe = build(
        "test_hpp",
        Lang::Cxx,
        "c++17",
        &["tests/c/test_hpp.cpp"],
        Link::Static,
    );
    let out = run(&exe);
    assert!(out.contains("all"), "{out}");
    run_valgrind(&exe);
}

/// `airisk.pc.in` lists the measured system libraries, and a program builds against an
/// installed (staged) static library with nothing but `pkg-config --static` flags.
#[test]
fn pkg_config_static_link() {
    let template = std::fs::read_to_string(root().join("airisk.pc.in")).unwrap();
    let private = template
        .lines()
        .find_map(|l| l.strip_prefix("Libs.private:"))
        .expect("airisk.pc.in has Libs.private")
        .trim()
        .to_owned();
    assert_eq!(private, NATIVE_STATIC_LIBS.join(" "));

    if !Command::new("pkg-config")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        notice("pkg-config not installed; pkg-config link test skipped");
        return;
    }
    // Stage an installation: prefix/{include,lib,lib/pkgconfig}, static library only.
    let prefix = out_dir("pkg_config").join("prefix");
    let _ = std::fs::remove_dir_all(&prefix);
    std::fs::create_dir_all(prefix.join("include")).unwrap();
    std::fs::create_dir_all(prefix.join("lib/pkgconfig")).unwrap();
    for h in ["airisk.h", "airisk.hpp"] {
        std::fs::copy(
            root().join("include").join(h),
            prefix.join("include").join(h),
        )
        .unwrap();
    }
    std::fs::copy(
        lib_dir().join("libairisk.a"),
        prefix.join("lib/libairisk.a"),
    )
    .unwrap();
    let pc = template
        .replace("@PREFIX@", prefix.to_str().unwrap())
        .replace("@VERSION@", env!("CARGO_PKG_VERSION"));
    std::fs::write(prefix.join("lib/pkgconfig/airisk.pc"), pc).unwrap();

    let pkg = |args: &[&str]| {
        let out = check(
            "pkg-config",
            Command::new("pkg-config")
                .args(args)
                .env("PKG_CONFIG_PATH", prefix.join("lib/pkgconfig")),
        );
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    assert_eq!(pkg(&["--modversion", "airisk"]), env!("CARGO_PKG_VERSION"));
    let flags = pkg(&["--static", "--cflags", "--libs", "airisk"]);
    let exe = prefix.join("monitor");
    check(
        "compiling monitor.c with pkg-config flags",
        Command::new(compiler(Lang::C))
            .args(["-std=c11"])
            .args(WARNINGS)
            .arg(root().join("examples/c/monitor.c"))
            .args(flags.split_whitespace())
            .arg("-o")
            .arg(&exe),
    );
    assert!(run(&exe).contains("-> orange"));
}

#[test]
fn c_struct_layouts_match_the_committed_table() {
    let exe = build(
        "test_layout",
        Lang::C,
        "c99",
        &["tests/c/test_layout.c"],
        Link::Static,
    );
    run(&exe);
}

/// `offset_of!` of every field of the ABI's structs, as `("struct.field", offset)`.
fn rust_offsets() -> Vec<(String, usize)> {
    macro_rules! offsets {
        ($($t:ident { $($f:ident),+ $(,)? })+) => {
            vec![$($((
                format!("{}.{}", stringify!($t), stringify!($f)),
                std::mem::offset_of!(airisk::ffi::$t, $f),
            )),+),+]
        };
    }
    offsets! {
        airisk_classification {
            grade, score, grade_id, prohibited, prohibited_id, prohibited_basis,
        }
        airisk_stats {
            observed, rejected_stale, rejected_invalid, transitions, dropped, systems,
            journal_errors, incident_events, incidents_dropped,
        }
        airisk_observation { system, signal, value, ts_ms }
        airisk_transition {
            seq, ts_ms, system, rule, from, to, grade, value, threshold, actions,
            report_within_s, system_id, rule_id, category, basis, grade_id, grade_name_zh,
            grade_name_en, rule_name_zh, rule_name_en, category_name_zh, category_name_en,
            silenced, inhibited_by, reason,
        }
        airisk_incident_event {
            seq, ts_ms, event, system, incident, system_id, category, severity, severity_rank,
            reportable, operator_type, due, due_by, rule, level, rule_id, basis, report, late,
            reference, by, category_name_zh, category_name_en, severity_name_zh,
            severity_name_en, rule_name_zh, rule_name_en,
        }
        airisk_rule_level { rule, level, rule_id }
        airisk_reload_report {
            systems, kept, reset, added, removed, regraded, silences_removed, transitions,
            from_fingerprint, to_fingerprint,
        }
    }
}

/// The committed table `tests/c/abi_layout.h`: `("struct.field", offset, since)`.
fn layout_table() -> Vec<(String, usize, u32)> {
    let text = std::fs::read_to_string(root().join("tests/c/abi_layout.h")).unwrap();
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("AIRISK_LAYOUT("))
        .map(|l| {
            let parts: Vec<&str> = l.trim_end_matches(')').split(',').map(str::trim).collect();
            assert_eq!(parts.len(), 4, "bad table line {l:?}");
            (
                format!("{}.{}", parts[0], parts[1]),
                parts[2].parse().unwrap(),
                parts[3].parse().unwrap(),
            )
        })
        .collect()
}

/// The fields of every struct the header defines, in declaration order, as "struct.field".
fn header_fields() -> Vec<String> {
    let header = std::fs::read_to_string(root().join("include/airisk.h")).unwrap();
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    let mut in_comment = false;
    for line in header.lines() {
        let l = line.trim();
        if let Some(name) = l
            .strip_prefix("typedef struct ")
            .and_then(|r| r.strip_suffix(" {"))
        {
            current = Some(name.to_owned());
            continue;
        }
        let Some(name) = &current else { continue };
        if l.starts_with('}') {
            current = None;
            continue;
        }
        if l.starts_with("/*") {
            in_comment = true;
        }
        if in_comment {
            in_comment = !l.ends_with("*/");
            continue;
        }
        if let Some(decl) = l.strip_suffix(';') {
            let field = decl.rsplit([' ', '*']).next().unwrap();
            out.push(format!("{name}.{field}"));
        }
    }
    out
}

/// Every field keeps the offset the committed table gives it (so fields are only ever
/// appended), and every field the header declares is in the table.
#[test]
fn struct_layouts_match_the_committed_table() {
    let table = layout_table();
    let abi = airisk::ffi::airisk_abi_version();
    let mut names: Vec<&str> = table.iter().map(|t| t.0.as_str()).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), table.len(), "a field is listed twice");
    for (name, _, since) in &table {
        assert!((1..=abi).contains(since), "{name}: since {since}");
    }
    let declared = header_fields();
    assert!(declared.len() > 60, "{declared:?}");
    for f in &declared {
        assert!(
            table.iter().any(|t| &t.0 == f),
            "{f} is declared in the header but not in tests/c/abi_layout.h"
        );
    }
    // The table lists each struct's fields in header order, at increasing offsets.
    let in_header: Vec<&(String, usize, u32)> = declared
        .iter()
        .map(|f| table.iter().find(|t| &t.0 == f).unwrap())
        .collect();
    for w in in_header.windows(2) {
        let same_struct = w[0].0.split('.').next() == w[1].0.split('.').next();
        if same_struct {
            assert!(w[1].1 > w[0].1, "{} is not after {}", w[1].0, w[0].0);
        }
    }
    let rust = rust_offsets();
    assert_eq!(
        rust.len(),
        table.len(),
        "the Rust list and the table differ in length"
    );
    if cfg!(target_pointer_width = "64") {
        for (name, offset, _) in &table {
            let r = rust.iter().find(|r| &r.0 == name);
            assert_eq!(r.map(|r| r.1), Some(*offset), "{name}");
        }
    }
}
