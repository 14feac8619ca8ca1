//! `airisk` — the command line of the airisk library.
//!
//! ```text
//! airisk validate POLICY
//! airisk classify [--policy POLICY] [--format json|table] PROFILE...
//! airisk replay [--policy POLICY] [--html REPORT.html] EVENTS.jsonl|-
//! airisk test TESTS.json...
//! ```
//!
//! Exit status: 0 success, 1 failure (invalid input, rejected lines, failing tests), 2 usage
//! error. A thin layer over the library: see `airisk::replay` for the event-line format.

#[path = "airisk/common.rs"]
mod common;
#[path = "airisk/report.rs"]
mod report;
#[path = "airisk/testrun.rs"]
mod testrun;

use airisk::journal::Durability;
use airisk::replay::{Applied, ErrorKind, Event, LineError, ReplayHandler, ReplayStats, Replayer};
use airisk::{Classification, Error, Level, Policy, Profile, Transition};
use common::{duration, iso};
use std::ffi::OsString;
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

const USAGE: &str = "\
airisk — classify AI applications by risk grade and replay monitoring events

USAGE:
    airisk validate POLICY
        Check a policy document. Prints `ok`, or every problem with its JSON path.
    airisk classify [--policy POLICY] [--format json|table] PROFILE...
        Grade each profile, with the factors and floors that explain the grade.
        JSON (one line per profile when there are several) or a table for people.
    airisk replay [--policy POLICY] [--html REPORT.html] [--journal FILE
                  [--journal-sync record|N|never]] EVENTS.jsonl
        Replay an event log (JSON Lines; `-` reads stdin). Transitions go to stdout
        as JSON Lines, rejected lines and a summary to stderr. --html writes a
        self-contained visual report. --journal appends every registration and
        transition to an SM3-chained audit journal (fsync every record, every N
        records (default 1024), or never; always at the end).
    airisk journal verify FILE
        Verify an audit journal's hash chain: `ok` and the record count (exit 0), or
        the first broken line and why (exit 1).
    airisk test TESTS.json...
        Run policy unit tests (expected transitions at given times).

    Without --policy, the default policy compiled into the library is used.
    Options may come before or after the file names. `airisk help` prints this.

EXIT STATUS:
    0 success; 1 invalid input, rejected event lines or failing tests; 2 usage error.
";

/// How a command ends when it does not succeed.
pub(crate) enum Fail {
    /// Bad command line: message, then a hint to `--help`; exit 2.
    Usage(String),
    /// The message was printed already (or there is none); exit 1.
    Quiet,
    /// Print the message; exit 1.
    Msg(String),
}

type CmdResult = Result<(), Fail>;

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let result = dispatch(args);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Fail::Usage(m)) => {
            eprintln!("airisk: {m}\nRun `airisk --help` for usage.");
            ExitCode::from(2)
        }
        Err(Fail::Msg(m)) => {
            eprintln!("airisk: {m}");
            ExitCode::from(1)
        }
        Err(Fail::Quiet) => ExitCode::from(1),
    }
}

fn dispatch(args: Vec<OsString>) -> CmdResult {
    let mut it = args.into_iter();
    let Some(cmd) = it.next() else {
        eprint!("{USAGE}");
        return Err(Fail::Usage("no command given".into()));
    };
    let rest: Vec<OsString> = it.collect();
    match cmd.to_str() {
        Some("validate") => cmd_validate(Args::parse(rest, &[], &[])?),
        Some("classify") => cmd_classify(Args::parse(rest, &["--policy", "--format"], &[])?),
        Some("replay") => cmd_replay(Args::parse(
            rest,
            &["--policy", "--html", "--journal", "--journal-sync"],
            &[],
        )?),
        Some("journal") => cmd_journal(Args::parse(rest, &[], &[])?),
        Some("test") => testrun::cmd_test(Args::parse(rest, &[], &["--verbose", "-v"])?),
        Some("help" | "--help" | "-h") => {
            print!("{USAGE}");
            Ok(())
        }
        Some("--version" | "-V" | "version") => {
            println!("airisk {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        _ => Err(Fail::Usage(format!(
            "unknown command {:?}: expected validate, classify, replay, test or journal",
            cmd.to_string_lossy()
        ))),
    }
}

/// Parsed arguments of one subcommand: options with a value, and positional arguments.
struct Args {
    opts: Vec<(&'static str, OsString)>,
    flags: Vec<&'static str>,
    /// Positional arguments, in order.
    pub files: Vec<PathBuf>,
}

impl Args {
    /// Splits `args` into `--name VALUE` / `--name=VALUE` options (only those in `known`)
    /// and positional arguments; `--` ends the options; `-` is positional (stdin).
    fn parse(
        args: Vec<OsString>,
        known: &[&'static str],
        known_flags: &[&'static str],
    ) -> Result<Args, Fail> {
        let mut opts = Vec::new();
        let mut flags = Vec::new();
        let mut files = Vec::new();
        let mut it = args.into_iter();
        let mut only_files = false;
        while let Some(a) = it.next() {
            let s = a.to_string_lossy();
            if only_files || s == "-" || !s.starts_with('-') {
                files.push(PathBuf::from(a));
                continue;
            }
            if s == "--" {
                only_files = true;
                continue;
            }
            if s == "--help" || s == "-h" {
                print!("{USAGE}");
                std::process::exit(0);
            }
            if let Some(&f) = known_flags.iter().find(|f| **f == s) {
                flags.push(f);
                continue;
            }
            let (name, inline) = match s.split_once('=') {
                Some((n, v)) => (n.to_owned(), Some(OsString::from(v))),
                None => (s.to_string(), None),
            };
            let Some(&k) = known.iter().find(|k| **k == name) else {
                return Err(Fail::Usage(format!("unknown option {name}")));
            };
            let v = match inline {
                Some(v) => v,
                None => it
                    .next()
                    .ok_or_else(|| Fail::Usage(format!("option {k} needs a value")))?,
            };
            if opts.iter().any(|(n, _)| *n == k) {
                return Err(Fail::Usage(format!("option {k} given twice")));
            }
            opts.push((k, v));
        }
        Ok(Args { opts, flags, files })
    }

    /// Whether a flag (an option without value) was given.
    pub fn flag(&self, name: &str) -> bool {
        self.flags.contains(&name)
    }

    fn opt(&self, name: &str) -> Option<&OsString> {
        self.opts.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }
}

/// Reads a whole file (or stdin for `-`) as UTF-8.
fn read_text(path: &Path) -> Result<String, Fail> {
    let mut s = String::new();
    let r = if path == Path::new("-") {
        io::stdin().read_to_string(&mut s).map(|_| ())
    } else {
        File::open(path).and_then(|mut f| f.read_to_string(&mut s).map(|_| ()))
    };
    r.map_err(|e| Fail::Msg(format!("cannot read {}: {e}", path.display())))?;
    Ok(s)
}

/// The lines that describe a policy error: one per issue, `path: reason`.
fn policy_error_lines(e: &Error) -> Vec<String> {
    match e {
        Error::Policy(issues) => issues.iter().map(|i| i.to_string()).collect(),
        e => vec![e.to_string()],
    }
}

/// Loads `--policy` (or the default policy). Prints every problem on failure.
fn load_policy(path: Option<&Path>) -> Result<Policy, Fail> {
    let Some(path) = path else {
        return Ok(Policy::default_policy());
    };
    let text = read_text(path)?;
    Policy::from_json(&text).map_err(|e| {
        let lines = policy_error_lines(&e);
        let mut m = format!("{}: invalid policy", path.display());
        for l in lines {
            m.push_str("\n  ");
            m.push_str(&l);
        }
        Fail::Msg(m)
    })
}

// ---------------------------------------------------------------- validate

fn cmd_validate(args: Args) -> CmdResult {
    let [path] = &args.files[..] else {
        return Err(Fail::Usage("validate takes exactly one policy file".into()));
    };
    let text = read_text(path)?;
    match Policy::from_json(&text) {
        Ok(p) => {
            println!("ok");
            for w in p.warnings() {
                eprintln!("warning: {w}");
            }
            eprintln!(
                "{}: policy {} — {} grades, {} categories, {} signals, {} rules, {} buckets per system",
                path.display(),
                p.version().unwrap_or("(no policy_version)"),
                p.grades().len(),
                p.categories().len(),
                p.signals().len(),
                p.rules().len(),
                p.buckets_per_system()
            );
            Ok(())
        }
        Err(e) => {
            let lines = policy_error_lines(&e);
            // The problems are the command's output (stdout). They are diagnostics too: on
            // stderr as well, unless both streams are the same terminal (no double print).
            let mut out = io::stdout().lock();
            for l in &lines {
                let _ = writeln!(out, "{l}");
            }
            let _ = out.flush();
            let shown_once = io::stdout().is_terminal() && io::stderr().is_terminal();
            let n = lines.len();
            eprintln!(
                "{}: invalid policy ({n} problem{})",
                path.display(),
                if n == 1 { "" } else { "s" }
            );
            if !shown_once {
                for l in &lines {
                    eprintln!("  {l}");
                }
            }
            Err(Fail::Quiet)
        }
    }
}

// ---------------------------------------------------------------- classify

#[derive(serde::Serialize)]
struct Classified<'a> {
    id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(flatten)]
    classification: &'a Classification,
}

fn cmd_classify(args: Args) -> CmdResult {
    let policy = load_policy(args.opt("--policy").map(Path::new))?;
    let table = match args.opt("--format").map(|s| s.to_string_lossy()) {
        None => false,
        Some(f) if f == "json" => false,
        Some(f) if f == "table" => true,
        Some(f) => {
            return Err(Fail::Usage(format!(
                "unknown format {f:?}: expected json or table"
            )));
        }
    };
    if args.files.is_empty() {
        return Err(Fail::Usage(
            "classify needs at least one profile file".into(),
        ));
    }
    let several = args.files.len() > 1;
    let mut failed = false;
    let mut out = io::stdout().lock();
    for (i, path) in args.files.iter().enumerate() {
        let result = read_text(path).and_then(|text| {
            let profile = Profile::from_json(&text).map_err(|e| Fail::Msg(e.to_string()))?;
            let c = airisk::classify(&policy, &profile).map_err(|e| Fail::Msg(e.to_string()))?;
            Ok((profile, c))
        });
        match result {
            Ok((p, c)) => {
                let r = if table {
                    if i > 0 {
                        let _ = writeln!(out);
                    }
                    write_table(&mut out, &p, &c, &policy)
                } else {
                    let v = Classified {
                        id: &p.id,
                        name: p.name.as_deref(),
                        classification: &c,
                    };
                    let s = if several {
                        serde_json::to_string(&v)
                    } else {
                        serde_json::to_string_pretty(&v)
                    };
                    writeln!(out, "{}", s.unwrap_or_default())
                };
                r.map_err(|e| {
                    if e.kind() == io::ErrorKind::BrokenPipe {
                        Fail::Quiet
                    } else {
                        Fail::Msg(format!("cannot write: {e}"))
                    }
                })?;
            }
            Err(Fail::Msg(m)) => {
                let _ = out.flush();
                eprintln!("airisk: {}: {m}", path.display());
                failed = true;
            }
            Err(f) => return Err(f),
        }
    }
    let _ = out.flush();
    if failed { Err(Fail::Quiet) } else { Ok(()) }
}

fn factor_label(f: &airisk::Factor) -> String {
    use airisk::FactorKind as K;
    let kind = match f.kind {
        K::Sector => "sector",
        K::Capability => "capability",
        K::Data => "data",
        K::Autonomy => "autonomy",
        K::Scale => "scale",
        K::VulnerableGroup => "vulnerable group",
        K::Mitigation => "mitigation",
    };
    if f.kind == K::Scale {
        format!("{kind} (users ≥ {})", f.id.trim_start_matches("min_users "))
    } else {
        format!("{kind} {}", f.id)
    }
}

fn write_table(
    out: &mut impl Write,
    p: &Profile,
    c: &Classification,
    policy: &Policy,
) -> io::Result<()> {
    let grade_name = |id: &str| {
        policy
            .grade(id)
            .and_then(|g| g.name.zh.clone().or(g.name.en.clone()))
            .map(|n| format!("{id} ({n})"))
            .unwrap_or_else(|| id.to_owned())
    };
    match &p.name {
        Some(n) => writeln!(out, "{} — {n}", p.id)?,
        None => writeln!(out, "{}", p.id)?,
    }
    writeln!(
        out,
        "grade {}   score {}   (by score alone: {})",
        grade_name(&c.grade),
        c.score,
        grade_name(&c.score_grade)
    )?;
    let labels: Vec<String> = c.factors.iter().map(factor_label).collect();
    let w = labels
        .iter()
        .map(|l| l.chars().count())
        .max()
        .unwrap_or(0)
        .max("factor".len());
    writeln!(out, "  {:<w$}  {:>6}  basis", "factor", "points")?;
    for (f, l) in c.factors.iter().zip(&labels) {
        writeln!(
            out,
            "  {l:<w$}  {:>+6}  {}",
            f.points,
            f.basis.as_deref().unwrap_or("—")
        )?;
    }
    writeln!(out, "  {:<w$}  {:>6}", "score", c.score)?;
    if c.floors.is_empty() {
        writeln!(out, "  floors that held: none")?;
    } else {
        writeln!(out, "  floors that held:")?;
        let fw = c
            .floors
            .iter()
            .map(|f| f.id.chars().count())
            .max()
            .unwrap_or(0);
        for f in &c.floors {
            writeln!(
                out,
                "    {:<fw$}  ≥ {:<12}  {}",
                f.id,
                f.grade_id,
                f.basis.as_deref().unwrap_or("—")
            )?;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------- replay

/// Most rejected lines printed one by one; the rest are only counted.
const MAX_PRINTED_ERRORS: u64 = 1000;

struct CliReplay<W: Write> {
    out: W,
    source: String,
    printed_errors: u64,
    report: Option<report::Collector>,
    progress: Option<Progress>,
}

struct Progress {
    start: Instant,
    last: Instant,
    total_bytes: Option<u64>,
    shown: bool,
}

impl<W: Write> ReplayHandler for CliReplay<W> {
    fn transition(&mut self, t: &Transition) -> io::Result<()> {
        serde_json::to_writer(&mut self.out, t)?;
        self.out.write_all(b"\n")?;
        if let Some(r) = &mut self.report {
            r.transition(t);
        }
        Ok(())
    }

    fn rejected(&mut self, line: u64, e: &LineError) -> io::Result<()> {
        self.printed_errors += 1;
        if self.printed_errors <= MAX_PRINTED_ERRORS {
            self.clear_progress();
            eprintln!(
                "{}:{line}: line {line}: {}: {}",
                self.source, e.kind, e.message
            );
        } else if self.printed_errors == MAX_PRINTED_ERRORS + 1 {
            self.clear_progress();
            eprintln!(
                "{}: more than {MAX_PRINTED_ERRORS} rejected lines; the rest are only counted in the summary",
                self.source
            );
        }
        Ok(())
    }

    fn applied(&mut self, _line: u64, event: &Event<'_>, result: &Applied) {
        if let (
            Some(r),
            Event::Register { ts, profile },
            Applied::Registered { classification, .. },
        ) = (&mut self.report, event, result)
        {
            r.register(profile, classification, ts.to_owned());
        }
    }

    fn progress(&mut self, stats: &ReplayStats) {
        let Some(p) = &mut self.progress else { return };
        let now = Instant::now();
        if now.duration_since(p.start) < Duration::from_secs(1)
            || now.duration_since(p.last) < Duration::from_millis(500)
        {
            return;
        }
        p.last = now;
        p.shown = true;
        let secs = now.duration_since(p.start).as_secs_f64();
        let pct = p
            .total_bytes
            .filter(|&t| t > 0)
            .map(|t| format!(" {:5.1}%", stats.bytes as f64 * 100.0 / t as f64))
            .unwrap_or_default();
        eprint!(
            "\r\x1b[K{}:{pct} {} lines, {:.2} M events/s",
            self.source,
            stats.lines,
            stats.events as f64 / secs / 1e6
        );
    }
}

impl<W: Write> CliReplay<W> {
    fn clear_progress(&mut self) {
        if let Some(p) = &mut self.progress {
            if p.shown {
                eprint!("\r\x1b[K");
                p.shown = false;
            }
        }
    }
}

fn cmd_replay(args: Args) -> CmdResult {
    let [path] = &args.files[..] else {
        return Err(Fail::Usage(if args.files.is_empty() {
            "replay needs an event log (a file, or - for stdin)".into()
        } else {
            "replay takes one event log".into()
        }));
    };
    let policy = load_policy(args.opt("--policy").map(Path::new))?;
    let html = args.opt("--html").map(PathBuf::from);
    let stdin = path == Path::new("-");
    let (input, total_bytes): (Box<dyn BufRead>, Option<u64>) = if stdin {
        (
            Box::new(BufReader::with_capacity(1 << 18, io::stdin())),
            None,
        )
    } else {
        let f = File::open(path)
            .map_err(|e| Fail::Msg(format!("cannot read {}: {e}", path.display())))?;
        let len = f.metadata().ok().map(|m| m.len());
        (Box::new(BufReader::with_capacity(1 << 18, f)), len)
    };
    let source = if stdin {
        "<stdin>".to_owned()
    } else {
        path.display().to_string()
    };
    let start = Instant::now();
    let mut handler = CliReplay {
        out: BufWriter::with_capacity(1 << 16, io::stdout().lock()),
        source: source.clone(),
        printed_errors: 0,
        report: html.as_ref().map(|_| report::Collector::new(&policy)),
        progress: io::stderr().is_terminal().then_some(Progress {
            start,
            last: start,
            total_bytes,
            shown: false,
        }),
    };
    let mut replayer = Replayer::new(policy);
    if let Some(jpath) = args.opt("--journal").map(PathBuf::from) {
        let durability = match args.opt("--journal-sync").map(|s| s.to_string_lossy()) {
            None => Durability::EveryN(1024),
            Some(s) if s == "record" => Durability::EveryRecord,
            Some(s) if s == "never" => Durability::Never,
            Some(s) => match s.parse::<u32>() {
                Ok(n) if n >= 1 => Durability::EveryN(n),
                _ => {
                    return Err(Fail::Usage(format!(
                        "--journal-sync takes record, never or a positive number; got {s:?}"
                    )));
                }
            },
        };
        let rep = replayer
            .engine()
            .open_journal(&jpath, durability)
            .map_err(|e| Fail::Msg(format!("journal {}: {e}", jpath.display())))?;
        if rep.truncated_bytes > 0 {
            eprintln!(
                "journal      {}: truncated a torn last record ({} bytes); {} records kept",
                jpath.display(),
                rep.truncated_bytes,
                rep.records
            );
        }
    } else if args.opt("--journal-sync").is_some() {
        return Err(Fail::Usage("--journal-sync needs --journal".into()));
    }
    let run = replayer
        .run(input, &mut handler)
        .and_then(|()| handler.out.flush());
    handler.clear_progress();
    let elapsed = start.elapsed();
    if let Err(e) = run {
        if e.kind() == io::ErrorKind::BrokenPipe {
            return Err(Fail::Quiet);
        }
        return Err(Fail::Msg(format!("{source}: {e}")));
    }
    let stats = replayer.stats().clone();
    print_summary(&source, &stats, &replayer, elapsed);
    if let Some(jpath) = args.opt("--journal") {
        let engine = replayer.engine();
        engine
            .sync_journal()
            .map_err(|e| Fail::Msg(format!("journal {}: {e}", Path::new(jpath).display())))?;
        let errors = engine.stats().journal_errors;
        if errors > 0 {
            return Err(Fail::Msg(format!(
                "journal {}: {errors} records could not be written",
                Path::new(jpath).display()
            )));
        }
        eprintln!("journal      {}", Path::new(jpath).display());
    }
    if let (Some(file), Some(collector)) = (&html, handler.report.take()) {
        let doc = collector.render(&source, &stats, replayer.engine());
        std::fs::write(file, doc)
            .map_err(|e| Fail::Msg(format!("cannot write {}: {e}", file.display())))?;
        eprintln!("report       {}", file.display());
    }
    if stats.rejected_total() > 0 {
        Err(Fail::Quiet)
    } else {
        Ok(())
    }
}

fn cmd_journal(args: Args) -> CmdResult {
    let (Some(verb), Some(file), 2) = (args.files.first(), args.files.get(1), args.files.len())
    else {
        return Err(Fail::Usage("usage: airisk journal verify FILE".into()));
    };
    if verb != Path::new("verify") {
        return Err(Fail::Usage(format!(
            "unknown journal command {:?}: expected verify",
            verb.display()
        )));
    }
    match airisk::journal::verify(file) {
        Ok(n) => {
            println!("ok {n} records");
            Ok(())
        }
        Err(b) if b.line == 0 => Err(Fail::Msg(format!("{}: {}", file.display(), b.reason))),
        Err(b) => {
            println!("broken at line {}: {}", b.line, b.reason);
            Err(Fail::Msg(format!(
                "{}:{}: journal broken: {}",
                file.display(),
                b.line,
                b.reason
            )))
        }
    }
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn print_summary(source: &str, s: &ReplayStats, replayer: &Replayer, elapsed: Duration) {
    let mut e = String::new();
    use std::fmt::Write as _;
    let _ = writeln!(e, "airisk replay: {source}");
    let _ = writeln!(
        e,
        "events       {} read, {} accepted ({} register, {} observe, {} tick), {} rejected",
        s.events,
        s.accepted,
        s.registered,
        s.observed,
        s.ticks,
        s.rejected_total()
    );
    if s.rejected_total() > 0 {
        let by: Vec<String> = ErrorKind::ALL
            .iter()
            .filter(|k| s.rejected_by(**k) > 0)
            .map(|k| format!("{} {}", k.name(), s.rejected_by(*k)))
            .collect();
        let _ = writeln!(e, "rejected     {}", by.join(", "));
    }
    if s.blank > 0 {
        let _ = writeln!(e, "blank lines  {}", s.blank);
    }
    let by_level = |scope: usize| {
        let parts: Vec<String> = Level::ALL
            .iter()
            .rev()
            .filter(|l| s.transitions[scope][**l as usize] > 0)
            .map(|l| format!("{} {}", l.name(), s.transitions[scope][*l as usize]))
            .collect();
        if parts.is_empty() {
            String::new()
        } else {
            format!(" ({})", parts.join(", "))
        }
    };
    let rule_n: u64 = s.transitions[0].iter().sum();
    let sys_n: u64 = s.transitions[1].iter().sum();
    let _ = writeln!(
        e,
        "transitions  {}: {rule_n} rule{}, {sys_n} system{}",
        s.transitions_total(),
        by_level(0),
        by_level(1)
    );
    if let (Some(a), Some(b)) = (s.first_ts, s.last_ts) {
        let _ = writeln!(
            e,
            "period       {} .. {} ({})",
            iso(a),
            iso(b),
            duration(b - a)
        );
    }
    let engine = replayer.engine();
    let handles = engine.systems();
    let mut at: [Vec<String>; 5] = Default::default();
    for h in &handles {
        if let (Ok(l), Some(id)) = (engine.system_level(*h), engine.system_id(*h)) {
            at[l as usize].push(id.to_string());
        }
    }
    let counts: Vec<String> = Level::ALL
        .iter()
        .rev()
        .map(|l| format!("{} {}", l.name(), at[*l as usize].len()))
        .collect();
    let _ = writeln!(
        e,
        "systems      {} at the end: {}",
        plural(handles.len() as u64, "system", "systems"),
        counts.join(", ")
    );
    for l in Level::ALL.iter().rev() {
        let ids = &at[*l as usize];
        if *l != Level::None && !ids.is_empty() {
            let shown: Vec<&str> = ids.iter().take(10).map(String::as_str).collect();
            let more = if ids.len() > 10 {
                format!(" and {} more", ids.len() - 10)
            } else {
                String::new()
            };
            let _ = writeln!(e, "  {:<10} {}{more}", l.name(), shown.join(", "));
        }
    }
    let secs = elapsed.as_secs_f64();
    let rate = if secs > 0.0 {
        s.events as f64 / secs
    } else {
        0.0
    };
    let _ = writeln!(
        e,
        "throughput   {} events in {:.3} s = {:.2} M events/s ({:.1} MB/s)",
        s.events,
        secs,
        rate / 1e6,
        if secs > 0.0 {
            s.bytes as f64 / secs / 1e6
        } else {
            0.0
        }
    );
    eprint!("{e}");
}
