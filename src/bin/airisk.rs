//! `airisk` — the command line of the airisk library.
//!
//! ```text
//! airisk validate [--json] POLICY
//! airisk classify [--policy POLICY] [--format json|table] PROFILE...
//! airisk replay [--policy POLICY] [--html REPORT.html [--lang zh|en|both]] [--reports DIR] [--metrics FILE] [--journal FILE ...] EVENTS.jsonl|-
//! airisk test [-v] TESTS.json...
//! airisk journal verify [--expect-count N] [--expect-head HASH] [--json] FILE
//! airisk diff [--profiles DIR] [--json] OLD NEW
//! ```
//!
//! `airisk help COMMAND` (or `airisk COMMAND --help`) explains each command. Exit status:
//! 0 success, 1 failure (invalid input, rejected lines, failing tests, a broken journal),
//! 2 usage error. A thin layer over the library: see `airisk::replay` for the event-line
//! format.

#[path = "airisk/classify_table.rs"]
mod classify_table;
#[path = "airisk/common.rs"]
mod common;
#[path = "airisk/diff.rs"]
mod diff;
#[path = "airisk/incidents.rs"]
mod incidents;
#[path = "airisk/report.rs"]
mod report;
#[path = "airisk/testrun.rs"]
mod testrun;

use airisk::journal::{Anchor, Durability};
use airisk::replay::{Applied, ErrorKind, Event, LineError, ReplayHandler, ReplayStats, Replayer};
use airisk::{
    Classification, DueKind, Error, IncidentEvent, Issue, Level, Policy, Profile, Transition,
};
use clap::{Args, Parser, Subcommand, ValueEnum};
use common::{duration, iso};
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

const EXIT_STATUS: &str = "\
Exit status: 0 success; 1 invalid input, rejected event lines, failing tests or a broken
journal; 2 usage error. `airisk help COMMAND` explains a command.";

/// Grade AI applications by risk (分类分级) and replay their monitoring events through
/// graded early-warning rules.
#[derive(Parser)]
#[command(
    name = "airisk",
    version,
    arg_required_else_help = true,
    after_help = EXIT_STATUS,
    help_expected = true
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Check a policy document: `ok`, or every problem with its JSON path
    #[command(
        long_about = "\
Check a policy document.

Prints `ok` on stdout (exit 0), with the policy's size and any warnings on stderr.
Otherwise prints every problem, one per line as `json.path: reason`, on stderr (exit 1);
with --json, a JSON object on stdout instead: {\"ok\": false, \"file\": .., \"problems\":
[{\"path\": .., \"reason\": ..}]}.",
        after_help = "Example:\n    airisk validate seeds/policy/default.json"
    )]
    Validate(ValidateArgs),

    /// Grade profiles, with the factors and floors that explain each grade
    #[command(
        long_about = "\
Grade each profile under a policy: the grade, the score, every factor with its points
and legal basis, and the floors that held.

Output is JSON (one object per line when several profiles are given), or a table for
people with --format table, its labels and the policy's display names of grades, factors
and prohibited uses in Chinese, English or both (--lang zh|en|both; default both). A
profile that meets a prohibited use is still graded, with the use and its basis (it would
be refused registration). A bad profile prints every problem it has on stderr, as
`FILE: field: reason`, with the valid values and a \"did you mean\" suggestion for an
unknown id; the other profiles are still graded, and the exit status is 1.",
        after_help = "Examples:\n    airisk classify seeds/profiles/hospital-triage-chatbot.json\n    airisk classify --format table seeds/profiles/*.json\n    airisk classify --format table --lang zh seeds/profiles/hospital-triage-chatbot.json"
    )]
    Classify(ClassifyArgs),

    /// Replay an event log: transitions and incident events on stdout, rejected lines and a
    /// summary on stderr
    #[command(
        long_about = "\
Replay an event log (JSON Lines) through the engine.

Each line is one event:
  {\"op\": \"register\", \"ts\": 0, \"profile\": {..}}
  {\"op\": \"observe\", \"ts\": 60000, \"system\": \"id\", \"signal\": \"interactions\", \"value\": 12}
      (`op` may be left out for observe; `value` defaults to 1)
  {\"op\": \"observe\", \"ts\": 60000, \"system\": \"id\", \"values\": {\"interactions\": 120, \"hallucination_flagged\": 7}}
      (one period's signals at once: all applied, then each rule evaluated once)
  {\"op\": \"tick\", \"ts\": 120000}
  {\"op\": \"ack\", \"ts\": 130000, \"incident\": \"id/category/1\", \"by\": \"duty officer\"}
  {\"op\": \"report\", \"ts\": 140000, \"incident\": \"id/category/1\", \"kind\": \"initial\", \"reference\": \"..\"}
      (kind: initial, update or final)
  {\"op\": \"silence\", \"ts\": 150000, \"id\": \"s1\", \"system\": \"id\", \"starts\": .., \"ends\": .., \"reason\": \"..\", \"by\": \"..\"}
  {\"op\": \"unsilence\", \"ts\": 200000, \"id\": \"s1\"}
  {\"op\": \"reload\", \"ts\": 230000, \"policy_file\": \"next-policy.json\"}
      (or \"policy\": {..} inline; a file is relative to the log's folder)
Times are milliseconds of the caller's clock; blank lines are skipped.

Every change of a warning level is printed on stdout as one JSON line. Under a policy with
an `incidents` section, incident events (opened, escalated, acknowledged, report_filed,
overdue, resolved, reopened, closed) are printed among them in the order they happened,
each with \"kind\": \"incident\", and transitions carry \"kind\": \"transition\". A rejected
line is reported on stderr as `FILE:LINE: reason [kind]` and skipped; a summary (events,
rejections by kind, transitions by level, transitions muted by silences or inhibition,
incidents by severity, reports filed on time and late, missed deadlines, systems at each
level at the end, events per second) follows on stderr. The exit status is 1 if any line was rejected. Memory use does not grow with the
log (except what --html and --reports keep). Progress is shown only when stderr is a
terminal.

--reports DIR writes, for every report to the regulator that came due (initial, update,
final; filed or not by the end of the log), DIR/<incident id with / as _>.<kind>.json and
a .md rendering: the fields of the CAC incident report form (operator, operator type,
system, category, severity, discovered at, deadline, filed at or overdue, the warnings with
value, threshold, window and basis, the measures the responses called for), in Chinese and
English.

--metrics FILE writes the engine's metrics at the end of the log in the OpenMetrics text
format (airisk_system_level, airisk_rule_level, airisk_observations_total,
airisk_rejected_total, airisk_transitions_total, airisk_dropped_total,
airisk_incidents_open, ...), the text a Prometheus scrape of a live engine returns.",
        after_help = "Examples:\n    airisk replay seeds/demo/events.jsonl --html report.html --reports reports/\n    airisk replay --journal audit.jsonl --journal-sync record - < events.jsonl"
    )]
    Replay(ReplayArgs),

    /// Run policy unit tests (transitions and incident events expected at given times)
    #[command(
        long_about = "\
Run policy unit tests: each test registers profiles, replays events (event lines, `ack`
and `report` lines included, compact series and ticks) and checks what it expects:

  expect             a transition exactly at a time: {\"system\", \"rule\" or \"scope\":
                     \"system\", \"to\", \"at\"}, optionally from, value, threshold, actions,
                     report_within_s
  expect_none        no transition of a system (rule, scope) from `from` to `to`
  expect_incidents   an incident event exactly at a time: {\"system\", \"event\", \"at\"},
                     optionally category, incident, severity, reportable, due ({\"report\":
                     \"initial\", \"by\": ..} or null), rule, level, operator_type, report,
                     late
  expect_no_incident no incident event of a system (category, event, reportable) from
                     `from` to `to`

Incident expectations need a policy with an `incidents` section. Prints one line per test,
what happened instead for a failing expectation (the nearest transitions or incident
events, and how early or late each was), and `N passed, M failed` (exit 1 on any
failure).",
        after_help = "Example:\n    airisk test seeds/tests/default-policy.json"
    )]
    Test(TestArgs),

    /// Audit-journal tools
    #[command(subcommand)]
    Journal(JournalCmd),

    /// What reloading a new policy would keep, reset, add and remove, and which profiles
    /// change grade (exit 0 same, 1 different, 2 error)
    #[command(
        long_about = diff::ABOUT,
        after_help = "Example:\n    airisk diff --profiles seeds/profiles seeds/policy/default.json tuned.json"
    )]
    Diff(diff::DiffArgs),

    /// Print the version
    #[command(hide = true)]
    Version,
}

#[derive(Args)]
struct ValidateArgs {
    /// The policy document (JSON; - reads stdin)
    #[arg(value_name = "POLICY")]
    policy: PathBuf,
    /// Print the result as one JSON object on stdout (problems included)
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    /// JSON, pretty for one profile, one object per line for several
    Json,
    /// A table for people
    Table,
}

#[derive(Args)]
struct ClassifyArgs {
    /// Policy document (default: the policy compiled into airisk)
    #[arg(long, value_name = "POLICY")]
    policy: Option<PathBuf>,
    /// Output format
    #[arg(long, value_enum, default_value = "json")]
    format: Format,
    /// Language of a table's labels and of the policy's display names (JSON carries both)
    #[arg(long, value_enum, default_value = "both")]
    lang: classify_table::Lang,
    /// Profile documents (JSON; - reads stdin)
    #[arg(value_name = "PROFILE", required = true)]
    profiles: Vec<PathBuf>,
}

#[derive(Args)]
struct ReplayArgs {
    /// Policy document (default: the policy compiled into airisk)
    #[arg(long, value_name = "POLICY")]
    policy: Option<PathBuf>,
    /// Also write a self-contained HTML report (no scripts, nothing fetched)
    #[arg(long, value_name = "REPORT.html")]
    html: Option<PathBuf>,
    /// Language of the HTML report's labels (names from the policy follow it too)
    #[arg(
        long,
        value_enum,
        value_name = "zh|en|both",
        default_value = "both",
        requires = "html"
    )]
    lang: report::Lang,
    /// Write the engine's metrics at the end of the log (levels of every system and rule,
    /// counters, open incidents) to FILE, in the OpenMetrics text format
    #[arg(long, value_name = "FILE")]
    metrics: Option<PathBuf>,
    /// Format of --metrics: openmetrics, or prometheus (text format 0.0.4, e.g. for the
    /// node_exporter textfile collector)
    #[arg(long, value_enum, default_value = "openmetrics", requires = "metrics")]
    metrics_format: MetricsFormat,
    /// Write every report to the regulator that came due into DIR, as JSON and Markdown
    /// (needs a policy with an `incidents` section)
    #[arg(long, value_name = "DIR")]
    reports: Option<PathBuf>,
    /// Append every registration and transition to this SM3-chained audit journal. An
    /// existing journal is verified, then continued in a new session
    #[arg(long, value_name = "FILE")]
    journal: Option<PathBuf>,
    /// When to fsync the journal: every `record`, every N records, or `never` (always at
    /// the end)
    #[arg(long, value_name = "record|N|never", default_value = "1024", requires = "journal",
          value_parser = parse_sync)]
    journal_sync: Durability,
    /// Refuse to write into a journal file that already exists, instead of continuing it
    #[arg(long, requires = "journal")]
    journal_new: bool,
    /// The event log (JSON Lines; - reads stdin)
    #[arg(value_name = "EVENTS.jsonl")]
    events: PathBuf,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum MetricsFormat {
    /// OpenMetrics 1.0 text, ending with `# EOF`
    Openmetrics,
    /// Prometheus text format 0.0.4
    Prometheus,
}

fn parse_sync(s: &str) -> Result<Durability, String> {
    match s {
        "record" => Ok(Durability::EveryRecord),
        "never" => Ok(Durability::Never),
        n => match n.parse::<u32>() {
            Ok(n) if n >= 1 => Ok(Durability::EveryN(n)),
            _ => Err("expected record, never or a positive number of records".into()),
        },
    }
}

#[derive(Args)]
struct TestArgs {
    /// Also list every transition of passing tests
    #[arg(short, long)]
    verbose: bool,
    /// Test files ({"tests": [..]}; paths inside are relative to the file)
    #[arg(value_name = "TESTS.json", required = true)]
    files: Vec<PathBuf>,
}

#[derive(Subcommand)]
enum JournalCmd {
    /// Verify a journal's hash chain; print its record count and head hash
    #[command(
        long_about = "\
Verify an audit journal's SM3 hash chain from the first record to the last.

Intact: prints `ok N records (K sessions)` and `head HASH` on stdout (exit 0). Keep the
count and the head somewhere else (a ticket, a regulator's system): a hash chain cannot
tell a journal cut at a record boundary from one that ended there, but --expect-count and
--expect-head can. A journal that has grown since the anchor was taken still passes, as
long as the anchored records are unchanged.

Broken: prints `FILE: broken at line N: reason` on stderr (exit 1): an edited, deleted,
inserted or reordered record, a torn last line, or an anchor that no longer holds. With
--json, one JSON object on stdout instead.",
        after_help = "Example:\n    airisk journal verify audit.jsonl\n    airisk journal verify --expect-count 96 --expect-head 3f1c…e0 audit.jsonl"
    )]
    Verify(VerifyArgs),
}

#[derive(Args)]
struct VerifyArgs {
    /// The journal had at least N records when anchored
    #[arg(long, value_name = "N")]
    expect_count: Option<u64>,
    /// The head hash when anchored (the hash of record N with --expect-count)
    #[arg(long, value_name = "HASH", value_parser = parse_hash)]
    expect_head: Option<String>,
    /// Print the result as one JSON object on stdout
    #[arg(long)]
    json: bool,
    /// The journal file
    #[arg(value_name = "FILE")]
    file: PathBuf,
}

fn parse_hash(s: &str) -> Result<String, String> {
    let h = s.trim().to_ascii_lowercase();
    if h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(h)
    } else {
        Err("expected 64 hexadecimal digits (an SM3 hash, as `journal verify` prints it)".into())
    }
}

/// How a command ends when it does not succeed.
pub(crate) enum Fail {
    /// The message was printed already (or there is none); exit 1.
    Quiet,
    /// Print the message; exit 1.
    Msg(String),
    /// Problems with a document, each with its JSON path; exit 1.
    Problems(Vec<Issue>),
}

type CmdResult = Result<(), Fail>;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // Help and version go to stdout (exit 0); usage errors to stderr, named as this
        // program's (exit 2).
        Err(e) if !e.use_stderr() => e.exit(),
        Err(e) => {
            let text = e.render().to_string();
            match text.strip_prefix("error: ") {
                Some(rest) => eprint!("airisk: {rest}"),
                None => eprint!("{text}"),
            }
            return ExitCode::from(2);
        }
    };
    let result = match cli.cmd {
        Cmd::Validate(a) => cmd_validate(a),
        Cmd::Classify(a) => cmd_classify(a),
        Cmd::Replay(a) => cmd_replay(a),
        Cmd::Test(a) => testrun::cmd_test(&a.files, a.verbose),
        Cmd::Journal(JournalCmd::Verify(a)) => cmd_verify(a),
        Cmd::Diff(a) => return diff::run(a),
        Cmd::Version => {
            println!("airisk {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Fail::Msg(m)) => {
            eprintln!("airisk: {m}");
            ExitCode::from(1)
        }
        Err(Fail::Problems(issues)) => {
            for i in issues {
                eprintln!("airisk: {i}");
            }
            ExitCode::from(1)
        }
        Err(Fail::Quiet) => ExitCode::from(1),
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

/// Loads `--policy` (or the default policy). Prints every problem on failure.
fn load_policy(path: Option<&Path>) -> Result<Policy, Fail> {
    let Some(path) = path else {
        return Ok(Policy::default_policy());
    };
    let text = read_text(path)?;
    Policy::from_json(&text).map_err(|e| {
        let issues = issues_of(&e);
        let mut m = format!(
            "{}: invalid policy ({} problem{}; `airisk validate` lists them too)",
            path.display(),
            issues.len(),
            plural_s(issues.len())
        );
        for i in issues {
            m.push_str("\n  ");
            m.push_str(&i.to_string());
        }
        Fail::Msg(m)
    })
}

// ---------------------------------------------------------------- validate

fn issues_of(e: &Error) -> Vec<Issue> {
    match e {
        Error::Policy(issues) => issues.clone(),
        e => vec![Issue {
            path: String::new(),
            reason: e.to_string(),
        }],
    }
}

fn plural_s(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn cmd_validate(a: ValidateArgs) -> CmdResult {
    let path = &a.policy;
    let result = read_text(path)
        .and_then(|text| Policy::from_json(&text).map_err(|e| Fail::Problems(issues_of(&e))));
    match (result, a.json) {
        (Ok(p), false) => {
            println!("ok");
            for w in p.warnings() {
                eprintln!("warning: {w}");
            }
            let n = |n: usize, one, many| plural(n as u64, one, many);
            eprintln!(
                "{}: policy {} — {}, {}, {}, {}, {} per system",
                path.display(),
                p.version().unwrap_or("(no policy_version)"),
                n(p.grades().len(), "grade", "grades"),
                n(p.categories().len(), "category", "categories"),
                n(p.signals().len(), "signal", "signals"),
                n(p.rules().len(), "rule", "rules"),
                plural(p.buckets_per_system(), "bucket", "buckets")
            );
            Ok(())
        }
        (Ok(p), true) => {
            let v = serde_json::json!({
                "ok": true,
                "file": path.display().to_string(),
                "policy_version": p.version(),
                "warnings": p.warnings().iter().map(|w| w.to_string()).collect::<Vec<_>>(),
                "grades": p.grades().len(),
                "categories": p.categories().len(),
                "signals": p.signals().len(),
                "rules": p.rules().len(),
            });
            println!("{v}");
            Ok(())
        }
        (Err(f), json) => {
            let problems = match f {
                Fail::Problems(p) => p,
                Fail::Msg(m) => vec![Issue {
                    path: String::new(),
                    reason: m,
                }],
                Fail::Quiet => Vec::new(),
            };
            if json {
                let v = serde_json::json!({
                    "ok": false,
                    "file": path.display().to_string(),
                    "problems": problems,
                });
                println!("{v}");
            } else {
                // Each problem once, on stderr; stdout stays empty.
                let mut err = io::stderr().lock();
                for i in &problems {
                    let _ = writeln!(err, "{i}");
                }
                let n = problems.len();
                let _ = writeln!(
                    err,
                    "{}: invalid policy ({n} problem{})",
                    path.display(),
                    plural_s(n)
                );
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

fn cmd_classify(a: ClassifyArgs) -> CmdResult {
    let policy = load_policy(a.policy.as_deref())?;
    let table = a.format == Format::Table;
    let several = a.profiles.len() > 1;
    let mut failed = false;
    let mut out = io::stdout().lock();
    let mut shown = 0;
    for path in &a.profiles {
        let result = read_text(path).and_then(|text| {
            // Every problem of the profile at once, checked against the policy.
            let profile = Profile::parse(&text, Some(&policy)).map_err(Fail::Problems)?;
            let c = airisk::classify(&policy, &profile).map_err(|e| Fail::Msg(e.to_string()))?;
            Ok((profile, c))
        });
        match result {
            Ok((p, c)) => {
                let r = if table {
                    if shown > 0 {
                        let _ = writeln!(out);
                    }
                    classify_table::write(&mut out, &p, &c, a.lang)
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
                shown += 1;
                r.map_err(|e| {
                    if e.kind() == io::ErrorKind::BrokenPipe {
                        Fail::Quiet
                    } else {
                        Fail::Msg(format!("cannot write: {e}"))
                    }
                })?;
            }
            Err(f) => {
                let _ = out.flush();
                failed = true;
                let lines = match f {
                    Fail::Problems(issues) => issues,
                    Fail::Msg(m) => vec![Issue {
                        path: String::new(),
                        reason: m,
                    }],
                    Fail::Quiet => Vec::new(),
                };
                let mut err = io::stderr().lock();
                for i in lines {
                    let _ = writeln!(err, "{}: {i}", path.display());
                }
            }
        }
    }
    let _ = out.flush();
    if failed { Err(Fail::Quiet) } else { Ok(()) }
}

// ---------------------------------------------------------------- replay

/// Most rejected lines printed one by one; the rest are only counted.
const MAX_PRINTED_ERRORS: u64 = 1000;

struct CliReplay<W: Write> {
    out: W,
    source: String,
    printed_errors: u64,
    report: Option<report::Collector>,
    /// Incidents, for --html and --reports.
    tracker: Option<incidents::Tracker>,
    /// Under an incidents policy, transitions are printed with `"kind": "transition"`.
    kind_transition: bool,
    /// `overdue` events by what was missed (ack, initial, update, final).
    overdue: [u64; 4],
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
        t.write_json(&mut self.out, self.kind_transition)?;
        self.out.write_all(b"\n")?;
        if let Some(r) = &mut self.report {
            r.transition(t);
        }
        if let Some(k) = &mut self.tracker {
            k.transition(t);
        }
        Ok(())
    }

    fn incident(&mut self, e: &IncidentEvent) -> io::Result<()> {
        serde_json::to_writer(&mut self.out, e)?;
        self.out.write_all(b"\n")?;
        if e.event == airisk::IncidentEventKind::Overdue {
            if let Some(d) = e.due {
                self.overdue[match d.report {
                    DueKind::Ack => 0,
                    DueKind::Initial => 1,
                    DueKind::Update => 2,
                    DueKind::Final => 3,
                }] += 1;
            }
        }
        if let Some(k) = &mut self.tracker {
            k.incident(e);
        }
        Ok(())
    }

    fn rejected(&mut self, line: u64, e: &LineError) -> io::Result<()> {
        self.printed_errors += 1;
        if self.printed_errors <= MAX_PRINTED_ERRORS {
            self.clear_progress();
            eprintln!("{}:{line}: {} [{}]", self.source, e.message, e.kind);
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
        if let Some(r) = &mut self.report {
            r.applied(event, result);
        }
        if let (Event::Register { ts, profile }, Applied::Registered { classification, .. }) =
            (event, result)
        {
            if let Some(r) = &mut self.report {
                r.register(profile, classification, ts.to_owned());
            }
            if let Some(k) = &mut self.tracker {
                k.register(profile, classification);
            }
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

fn cmd_replay(a: ReplayArgs) -> CmdResult {
    let path = &a.events;
    let policy = load_policy(a.policy.as_deref())?;
    let html = a.html.clone();
    let has_incidents = policy.incidents().is_some();
    if let (Some(dir), false) = (&a.reports, has_incidents) {
        return Err(Fail::Msg(format!(
            "--reports {}: the policy has no `incidents` section, so no report to the regulator can come due",
            dir.display()
        )));
    }
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
        tracker: (has_incidents && (html.is_some() || a.reports.is_some()))
            .then(|| incidents::Tracker::new(&policy, a.reports.is_some())),
        kind_transition: has_incidents,
        overdue: [0; 4],
        progress: io::stderr().is_terminal().then_some(Progress {
            start,
            last: start,
            total_bytes,
            shown: false,
        }),
    };
    let mut replayer = Replayer::new(policy);
    if !stdin {
        // `policy_file` paths of reload lines are relative to the log's folder.
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
        replayer.set_base_dir(dir.unwrap_or(Path::new(".")));
    }
    if let Some(jpath) = &a.journal {
        if a.journal_new {
            // Created here, atomically, so that an existing file is never continued.
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(jpath)
                .map_err(|e| {
                    Fail::Msg(if e.kind() == io::ErrorKind::AlreadyExists {
                        format!(
                            "journal {} already exists; --journal-new refuses to continue it (leave out --journal-new to continue it in a new session)",
                            jpath.display()
                        )
                    } else {
                        format!("journal {}: {e}", jpath.display())
                    })
                })?;
        }
        let rep = replayer
            .engine()
            .open_journal(jpath, a.journal_sync)
            .map_err(|e| Fail::Msg(format!("journal {}: {e}", jpath.display())))?;
        if rep.truncated_bytes > 0 {
            eprintln!(
                "journal      {}: truncated a torn last record ({}); {} kept",
                jpath.display(),
                plural(rep.truncated_bytes, "byte", "bytes"),
                plural(rep.records, "record", "records")
            );
        }
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
    print_summary(&source, &stats, &replayer, elapsed, &handler.overdue);
    if let Some(jpath) = &a.journal {
        let engine = replayer.engine();
        engine
            .sync_journal()
            .map_err(|e| Fail::Msg(format!("journal {}: {e}", jpath.display())))?;
        let errors = engine.stats().journal_errors;
        if errors > 0 {
            return Err(Fail::Msg(format!(
                "journal {}: {} could not be written",
                jpath.display(),
                plural(errors, "record", "records")
            )));
        }
        // Re-read: the count and head to anchor outside, and a check of what was written.
        match airisk::journal::verify_chain(jpath, None) {
            Ok(v) => eprintln!(
                "journal      {}: {} ({}), head {}",
                jpath.display(),
                plural(v.records, "record", "records"),
                plural(v.sessions, "session", "sessions"),
                v.head
            ),
            Err(b) => {
                return Err(Fail::Msg(format!(
                    "journal {}: broken at line {} after writing: {}",
                    jpath.display(),
                    b.line,
                    b.reason
                )));
            }
        }
    }
    if let (Some(dir), Some(tracker)) = (&a.reports, &handler.tracker) {
        let end = stats.last_ts.unwrap_or(0);
        let [filed, late, overdue, pending, cancelled] = tracker
            .write_reports(dir, end)
            .map_err(|e| Fail::Msg(format!("cannot write reports into {}: {e}", dir.display())))?;
        let n = filed + late + overdue + pending + cancelled;
        let mut parts = vec![format!("{} filed on time", filed), format!("{late} late")];
        parts.push(format!("{overdue} overdue"));
        parts.push(format!("{pending} not yet due"));
        if cancelled > 0 {
            parts.push(format!("{cancelled} cancelled"));
        }
        eprintln!(
            "reports      {}: {} ({} files): {}",
            dir.display(),
            plural(n, "report", "reports"),
            2 * n,
            parts.join(", ")
        );
    }
    if let (Some(file), Some(collector)) = (&html, handler.report.take()) {
        let doc = collector.render(
            &source,
            &stats,
            replayer.engine(),
            handler.tracker.as_ref(),
            a.lang,
        );
        std::fs::write(file, doc)
            .map_err(|e| Fail::Msg(format!("cannot write {}: {e}", file.display())))?;
        eprintln!("report       {}", file.display());
    }
    if let Some(file) = &a.metrics {
        let mut text = String::new();
        match a.metrics_format {
            MetricsFormat::Openmetrics => replayer.engine().render_openmetrics(&mut text),
            MetricsFormat::Prometheus => replayer.engine().render_prometheus(&mut text),
        }
        std::fs::write(file, text)
            .map_err(|e| Fail::Msg(format!("cannot write {}: {e}", file.display())))?;
        eprintln!("metrics      {}", file.display());
    }
    if stats.rejected_total() > 0 {
        Err(Fail::Quiet)
    } else {
        Ok(())
    }
}

// ---------------------------------------------------------------- journal verify

fn cmd_verify(a: VerifyArgs) -> CmdResult {
    let anchor = (a.expect_count.is_some() || a.expect_head.is_some()).then(|| Anchor {
        records: a.expect_count,
        head: a.expect_head.clone(),
    });
    let file = &a.file;
    match (airisk::journal::verify_chain(file, anchor.as_ref()), a.json) {
        (Ok(v), false) => {
            println!(
                "ok {} ({})",
                plural(v.records, "record", "records"),
                plural(v.sessions, "session", "sessions")
            );
            println!("head {}", v.head);
            if let Some(n) = a.expect_count {
                if v.records > n {
                    let added = v.records - n;
                    eprintln!(
                        "{}: the anchor holds; {} added after record {n}",
                        file.display(),
                        if added == 1 {
                            "1 record was".to_owned()
                        } else {
                            format!("{added} records were")
                        }
                    );
                }
            }
            Ok(())
        }
        (Ok(v), true) => {
            let j = serde_json::json!({"ok": true, "file": file.display().to_string(),
                "records": v.records, "sessions": v.sessions, "head": v.head});
            println!("{j}");
            Ok(())
        }
        (Err(b), true) => {
            let j = serde_json::json!({"ok": false, "file": file.display().to_string(),
                "line": b.line, "reason": b.reason});
            println!("{j}");
            Err(Fail::Quiet)
        }
        (Err(b), false) if b.line == 0 => Err(Fail::Msg(format!(
            "cannot read {}: {}",
            file.display(),
            b.reason
        ))),
        (Err(b), false) => {
            eprintln!(
                "{}: broken at line {}: {}",
                file.display(),
                b.line,
                b.reason
            );
            Err(Fail::Quiet)
        }
    }
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn print_summary(
    source: &str,
    s: &ReplayStats,
    replayer: &Replayer,
    elapsed: Duration,
    overdue: &[u64; 4],
) {
    let mut e = String::new();
    use std::fmt::Write as _;
    let _ = writeln!(e, "airisk replay: {source}");
    let _ = writeln!(
        e,
        "events       {} read, {} accepted ({} register, {} observe{}, {} tick{}{}{}), {} rejected",
        s.events,
        s.accepted,
        s.registered,
        s.observed,
        if s.observations != s.observed {
            format!(" ({})", plural(s.observations, "value", "values"))
        } else {
            String::new()
        },
        s.ticks,
        if s.reloads > 0 {
            format!(", {} reload", s.reloads)
        } else {
            String::new()
        },
        if s.incident_actions > 0 {
            format!(", {} ack/report", s.incident_actions)
        } else {
            String::new()
        },
        if s.silence_actions > 0 {
            format!(", {} silence/unsilence", s.silence_actions)
        } else {
            String::new()
        },
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
    let muted: u64 = s.muted.iter().sum();
    if muted > 0 {
        let [silenced, inhibited, both] = s.muted;
        let _ = writeln!(
            e,
            "muted        {} (actions reduced to log): {silenced} silenced, {inhibited} inhibited, {both} both",
            plural(muted, "transition", "transitions")
        );
    }
    if replayer.engine().policy().incidents().is_some() {
        let c = &s.incidents;
        let by: Vec<String> = c
            .by_severity()
            .iter()
            .rev()
            .map(|(id, n)| format!("{id} {n}"))
            .collect();
        let _ = writeln!(
            e,
            "incidents    {}{}, {} reportable; {}",
            c.incidents.len(),
            if by.is_empty() {
                String::new()
            } else {
                format!(" ({})", by.join(", "))
            },
            c.reportable(),
            plural(c.events, "incident event", "incident events")
        );
        let missed: Vec<String> = ["ack", "initial", "update", "final"]
            .iter()
            .zip(overdue)
            .filter(|(_, n)| **n > 0)
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        let _ = writeln!(
            e,
            "reporting    {} filed on time, {} late; {} missed{}",
            plural(c.filed_on_time, "report", "reports"),
            c.filed_late,
            plural(c.overdue, "deadline", "deadlines"),
            if missed.is_empty() {
                String::new()
            } else {
                format!(" ({})", missed.join(", "))
            }
        );
    }
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
        "throughput   {} in {:.3} s = {:.2} M events/s ({:.1} MB/s)",
        plural(s.events, "event", "events"),
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
