//! Generates the demo event logs of `airisk`.
//!
//! ```text
//! cargo run --release --example gen_demo                  # seeds/demo/events.jsonl + README.md,
//!                                                         # seeds/scenarios/triage-day.jsonl
//! cargo run --release --example gen_demo -- --seed 7      # another week (same story, other noise)
//! cargo run --release --example gen_demo -- --large 2000000 [--large-out target/demo-large.jsonl]
//!                                                         # a large log for throughput runs
//! ```
//!
//! **The demo week** (`seeds/demo/events.jsonl`): ten AI applications from the example
//! profiles in `seeds/profiles/`, from grade 低 to 特别重大, monitored under the default
//! policy from Monday 2026-03-02 00:00 UTC for seven days. Traffic follows a daily curve
//! with seeded noise (a hand-rolled SplitMix64 generator: the same seed always gives the same
//! file). To keep the file small, every system reports once per 5 minutes (one line with the
//! counts of the period, stamped with the period's start, which is also the policy's bucket)
//! and a `tick` follows every 5 minutes. Into that background the generator writes eight
//! stories, each one a reason a reader can follow to a warning: a hallucination spike, a
//! slow bias drift and a slow hallucination creep (which the detector rules catch days
//! before the plain rules), a jailbreak campaign, a telemetry outage, a physical-safety
//! incident, a review backlog with an ignored stop command, and a PII leak (see
//! `seeds/demo/README.md`, which this program also writes, with the warnings that the replay
//! gives, computed by replaying the log through the library).
//!
//! **The triage day** (`seeds/scenarios/triage-day.jsonl`): one day of the hospital triage
//! chatbot at one-minute resolution, with round, noise-free numbers so that every warning
//! can be derived by hand (`tests/scenario_triage.rs` does).
//!
//! Both write one line per system and period with all the signals of that period
//! (`"values"`), as a production system sends them: a rate is then evaluated once per
//! period, after its signal and its denominator are both applied.
//!
//! **The large log** (`--large N`): at least N events, many clones of the example systems
//! reporting every minute, for throughput measurements. It is written under `target/` and
//! never committed.

use airisk::replay::{ReplayHandler, Replayer};
use airisk::{IncidentEvent, IncidentEventKind, Level, Policy, Scope, Transition};
use serde_json::Value;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// Monday 2026-03-02 00:00:00 UTC.
const T0: i64 = 1_772_409_600_000;
const MIN: i64 = 60_000;
const SLOT: i64 = 5 * MIN;
const HOUR: i64 = 60 * MIN;
const DAY: i64 = 24 * HOUR;

/// SplitMix64 (Steele, Lea, Flood 2014): tiny, fast, good enough for simulated traffic.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal (Box–Muller).
    fn normal(&mut self) -> f64 {
        let u1 = self.f64().max(1e-300);
        let u2 = self.f64();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }

    /// Poisson(λ): Knuth's method for small λ, a rounded normal for large λ.
    fn poisson(&mut self, lambda: f64) -> u64 {
        if lambda <= 0.0 {
            return 0;
        }
        if lambda > 30.0 {
            return (lambda + lambda.sqrt() * self.normal()).round().max(0.0) as u64;
        }
        let l = (-lambda).exp();
        let mut k = 0;
        let mut p = 1.0;
        loop {
            p *= self.f64();
            if p <= l {
                return k;
            }
            k += 1;
        }
    }

    /// Binomial(n, p) approximated by Poisson(n·p), capped at n (p is small here).
    fn binomial(&mut self, n: u64, p: f64) -> u64 {
        self.poisson(n as f64 * p).min(n)
    }
}

/// Writes event lines.
struct Log<W: Write> {
    w: W,
    lines: u64,
}

impl<W: Write> Log<W> {
    fn register(&mut self, ts: i64, profile: &Value) -> io::Result<()> {
        self.lines += 1;
        writeln!(
            self.w,
            r#"{{"op":"register","ts":{ts},"profile":{}}}"#,
            serde_json::to_string(profile).unwrap_or_default()
        )
    }

    /// An observation; `value` 1 is left out (it is the default).
    fn obs(&mut self, ts: i64, system: &str, signal: &str, value: f64) -> io::Result<()> {
        self.lines += 1;
        if value == 1.0 {
            writeln!(
                self.w,
                r#"{{"ts":{ts},"system":"{system}","signal":"{signal}"}}"#
            )
        } else if value.fract() == 0.0 {
            writeln!(
                self.w,
                r#"{{"ts":{ts},"system":"{system}","signal":"{signal}","value":{}}}"#,
                value as i64
            )
        } else {
            writeln!(
                self.w,
                r#"{{"ts":{ts},"system":"{system}","signal":"{signal}","value":{value:.3}}}"#
            )
        }
    }

    /// One period's signals of one system, in one line (`"values"`: applied together, so
    /// a rate and its denominator are evaluated once, after both). Counters with nothing
    /// to report are left out; nothing is written when nothing is left.
    fn batch(&mut self, ts: i64, system: &str, values: &[(&str, f64)]) -> io::Result<()> {
        let mut m = serde_json::Map::new();
        for (signal, v) in values {
            if *v == 0.0 && !GAUGES.contains(signal) {
                continue;
            }
            let n = if v.fract() == 0.0 {
                serde_json::Number::from(*v as i64)
            } else {
                serde_json::Number::from_f64((v * 1000.0).round() / 1000.0)
                    .unwrap_or_else(|| serde_json::Number::from(0))
            };
            m.insert((*signal).to_owned(), Value::Number(n));
        }
        if m.is_empty() {
            return Ok(());
        }
        self.lines += 1;
        writeln!(
            self.w,
            r#"{{"ts":{ts},"system":"{system}","values":{}}}"#,
            Value::Object(m)
        )
    }

    fn tick(&mut self, ts: i64) -> io::Result<()> {
        self.lines += 1;
        writeln!(self.w, r#"{{"op":"tick","ts":{ts}}}"#)
    }

    /// An operator's action on an incident: an acknowledgement or a report filed.
    fn action(&mut self, a: &OperatorAction) -> io::Result<()> {
        self.lines += 1;
        let line = match a.what {
            Act::Ack(by) => {
                serde_json::json!({"op": "ack", "ts": a.ts, "incident": a.incident, "by": by})
            }
            Act::Report(kind, reference) => serde_json::json!({"op": "report", "ts": a.ts,
                "incident": a.incident, "kind": kind, "reference": reference}),
        };
        writeln!(self.w, "{line}")
    }
}

/// What an operator does about an incident.
enum Act {
    /// Acknowledge it (by whom).
    Ack(&'static str),
    /// File a report (kind, the regulator's receipt number).
    Report(&'static str, &'static str),
}

struct OperatorAction {
    ts: i64,
    incident: &'static str,
    what: Act,
}

/// The operators' acknowledgements and reports in the demo week, in time order. The
/// incidents and their deadlines are those the replay gives (seeds/demo/README.md): an
/// acknowledgement is due 30 min after an incident opens; the initial report 4 h after it
/// becomes reportable (1 h for the bus line, whose operator runs critical information
/// infrastructure); an update report 4 h after an escalation once the initial report is
/// filed; the final report 30 days after resolution. The receipt numbers are fictional.
fn operator_actions() -> Vec<OperatorAction> {
    let a = |ts, incident, what| OperatorAction { ts, incident, what };
    let triage = "hospital-triage-chatbot/hallucination/1";
    let robot = "elderly-care-companion-robot/oversight_loss/1";
    let drone = "delivery-drone/oversight_loss/1";
    let gov = "government-service-assistant/network_security/1";
    let bus = "autonomous-bus/physical_safety/1";
    let k12 = "k12-tutoring-assistant/personal_information/1";
    let mut v = vec![
        // Triage: opened Tue 15:45; everything on time; closed by the final report Thu.
        a(
            at(1, 15, 58),
            triage,
            Act::Ack("clinical safety officer on call"),
        ),
        a(
            at(1, 17, 30),
            triage,
            Act::Report("initial", "SZ-WX-2026-0303-017"),
        ),
        a(
            at(3, 10, 0),
            triage,
            Act::Report("final", "SZ-WX-2026-0305-009"),
        ),
        // Care robot: opened Wed 15:20; the initial report (due 19:20) is filed late.
        a(at(2, 15, 40), robot, Act::Ack("care-home duty manager")),
        a(
            at(2, 19, 50),
            robot,
            Act::Report("initial", "SZ-WX-2026-0304-022"),
        ),
        a(
            at(4, 14, 0),
            robot,
            Act::Report("final", "SZ-WX-2026-0306-004"),
        ),
        // Government assistant: opened Thu 15:25 by the prompt-injection rate; a state organ
        // (initial report due 2 h later, 17:25), on time.
        a(
            at(3, 15, 40),
            gov,
            Act::Ack("government service duty officer"),
        ),
        a(
            at(3, 16, 50),
            gov,
            Act::Report("initial", "SZ-WX-2026-0305-031"),
        ),
        // Drone: opened Fri 11:25, initial report on time; the escalation to red at 15:25
        // makes an update report due at 19:25, which is never filed: overdue.
        a(at(4, 11, 40), drone, Act::Ack("flight operations lead")),
        a(
            at(4, 13, 0),
            drone,
            Act::Report("initial", "SZ-WX-2026-0306-011"),
        ),
        // Bus: opened Sat 08:05, CII operator: initial report due 09:05, filed 08:50.
        a(at(5, 8, 12), bus, Act::Ack("control-centre supervisor")),
        a(
            at(5, 8, 50),
            bus,
            Act::Report("initial", "SZ-GA-2026-0307-002"),
        ),
        // K-12 tutor: opened Sun 11:30, initial report on time.
        a(at(6, 11, 45), k12, Act::Ack("data protection officer")),
        a(
            at(6, 14, 0),
            k12,
            Act::Report("initial", "SZ-WX-2026-0308-005"),
        ),
    ];
    v.sort_by_key(|a| a.ts);
    v
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn profile(id: &str) -> Value {
    let path = root().join("seeds/profiles").join(format!("{id}.json"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Daily traffic curve: `night` at 04:00, rising to `peak` at 16:00 (UTC hours).
fn diurnal(ts: i64, night: f64, peak: f64) -> f64 {
    let h = (ts - T0).rem_euclid(DAY) as f64 / HOUR as f64;
    let bump = 0.5 - 0.5 * (2.0 * std::f64::consts::PI * (h - 4.0) / 24.0).cos();
    night + (peak - night) * bump
}

/// `true` when `ts` is in [day d + from_h, day d + to_h) (hours may pass 24).
fn during(ts: i64, d: i64, from_h: f64, to_h: f64) -> bool {
    let a = T0 + d * DAY + (from_h * HOUR as f64) as i64;
    let b = T0 + d * DAY + (to_h * HOUR as f64) as i64;
    ts >= a && ts < b
}

fn at(d: i64, h: i64, m: i64) -> i64 {
    T0 + d * DAY + h * HOUR + m * MIN
}

const TRIAGE: &str = "hospital-triage-chatbot";
const LOAN: &str = "loan-approval-model";
const GOV: &str = "government-service-assistant";
const DRONE: &str = "delivery-drone";
const BUS: &str = "autonomous-bus";
const K12: &str = "k12-tutoring-assistant";
const ROBOT: &str = "elderly-care-companion-robot";
const FACTORY: &str = "factory-quality-inspection";
const SHOP: &str = "shopping-recommender";
const VOICE: &str = "customer-service-voice-bot";

const SYSTEMS: [&str; 10] = [
    TRIAGE, LOAN, GOV, DRONE, BUS, K12, ROBOT, FACTORY, SHOP, VOICE,
];

/// Gauges: a zero is a sample (a counter's zero is left out of a line).
const GAUGES: [&str; 2] = ["disparity_ratio", "review_queue_age_s"];

/// The voice bot's creep: the flagged share on Monday 00:00, its rise per day, and when the
/// knowledge base is updated (the share falls back to 3%).
const VB_P0: f64 = 0.08;
const VB_SLOPE: f64 = 0.02;
const VB_FIX: i64 = T0 + 3 * DAY + 14 * HOUR;

/// The demo week. Every incident is described in `README_STORY` below. Each system reports
/// one line per 5-minute period with all its signals of that period (`"values"`).
fn demo_week<W: Write>(log: &mut Log<W>, seed: u64) -> io::Result<()> {
    let mut rng = Rng(seed);
    // The voice bot's own generator, so that adding it left the other systems' noise as it was.
    let mut rng_vb = Rng(seed ^ 0x5eed_7015_cb07_0001);
    for id in SYSTEMS {
        log.register(T0, &profile(id))?;
    }
    let actions = operator_actions();
    let mut next_action = actions.iter().peekable();
    let end = T0 + 7 * DAY;
    let mut ts = T0;
    while ts < end {
        // --- hospital-triage-chatbot (major): hallucination spike Tue 13:15–21:00.
        let n = rng.poisson(diurnal(ts, 25.0, 160.0));
        let p = if during(ts, 1, 13.25, 15.0) {
            0.06
        } else if during(ts, 1, 15.0, 21.0) {
            0.14
        } else {
            0.004
        };
        let flagged = rng.binomial(n, p);
        log.batch(
            ts,
            TRIAGE,
            &[
                ("heartbeat", 1.0),
                ("interactions", n as f64),
                ("hallucination_flagged", flagged as f64),
            ],
        )?;

        // --- loan-approval-model (significant): after a change in the applicant mix, the
        // approval-rate ratio between groups slides from 0.95 (Mon 12:00) by 0.025 a day; a
        // retrained model restores it on Sat 12:00. Recomputed every 30 minutes on the
        // trailing day of decisions (hence little noise).
        let n = rng.poisson(diurnal(ts, 8.0, 60.0));
        let mut b = vec![("heartbeat", 1.0), ("interactions", n as f64)];
        if (ts - T0) % (30 * MIN) == 0 {
            let (a, b2) = (at(0, 12, 0), at(5, 12, 0));
            let base = if ts >= a && ts < b2 {
                0.95 - 0.025 * (ts - a) as f64 / DAY as f64
            } else {
                0.95
            };
            let v = (base + 0.006 * rng.normal()).clamp(0.0, 1.0);
            b.push(("disparity_ratio", (v * 1000.0).round() / 1000.0));
        }
        log.batch(ts, LOAN, &b)?;

        // --- government-service-assistant (significant): jailbreak campaign Thu 14:00–17:00.
        let n = rng.poisson(diurnal(ts, 40.0, 420.0));
        let campaign = during(ts, 3, 14.0, 17.0);
        let attacker = if campaign { rng.poisson(28.0) } else { 0 };
        let injections = rng.binomial(n, 0.0005) + attacker * 9 / 10;
        let harmful = rng.binomial(n, 0.0002) + if campaign { rng.poisson(9.0) } else { 0 };
        let mut b = vec![
            ("heartbeat", 1.0),
            ("interactions", (n + attacker) as f64),
            ("prompt_injection_detected", injections as f64),
            ("harmful_content_flagged", harmful as f64),
        ];
        for (h, m, k) in [(14, 40, 1), (15, 10, 1), (15, 25, 2)] {
            if ts == at(3, h, m) {
                b.push(("attack_detected", k as f64));
            }
        }
        if ts == at(3, 15, 45) {
            // The agent's form-filling tool was abused to read citizens' records.
            b.push(("pii_exposed_records", 12_400.0));
        }
        log.batch(ts, GOV, &b)?;

        // --- delivery-drone (significant): telemetry outage Fri 09:30–16:00 (nothing at all
        // arrives: no heartbeat, no operations).
        let outage = during(ts, 4, 9.5, 16.0);
        if !outage {
            let mut b = vec![("heartbeat", 1.0)];
            let flying = during(ts, (ts - T0) / DAY, 6.0, 22.0);
            if flying {
                let ops = rng.poisson(diurnal(ts, 5.0, 30.0));
                b.push(("operations", ops as f64));
                b.push(("near_misses", rng.binomial(ops, 0.0008) as f64));
            }
            log.batch(ts, DRONE, &b)?;
        }

        // --- autonomous-bus (critical): near misses at a construction detour Sat 07:30–08:40,
        // then a collision at 08:40 (a cyclist grazed). The line is suspended until Sun 06:00.
        let mut b = vec![("heartbeat", 1.0)];
        let day = (ts - T0) / DAY;
        let suspended = ts >= at(5, 8, 45) && ts < at(6, 6, 0);
        if during(ts, day, 5.5, 23.5) && !suspended {
            let segs = rng.poisson(diurnal(ts, 20.0, 55.0));
            let p = if during(ts, 5, 7.5, 8.75) {
                0.035
            } else {
                0.0002
            };
            b.push(("operations", segs as f64));
            b.push(("near_misses", rng.binomial(segs, p) as f64));
        }
        if ts == at(5, 8, 40) {
            b.push(("safety_incidents", 1.0));
        }
        log.batch(ts, BUS, &b)?;

        // --- k12-tutoring-assistant (significant): PII leak found Sun 09:00 (1 400 pupils in a
        // public log bucket), full scope known at 11:30 (12 100 more).
        let h = (ts - T0).rem_euclid(DAY) as f64 / HOUR as f64;
        let school = if (8.0..17.0).contains(&h) || (18.0..21.5).contains(&h) {
            120.0
        } else {
            6.0
        };
        let mut b = vec![
            ("heartbeat", 1.0),
            ("interactions", rng.poisson(school) as f64),
        ];
        if ts == at(6, 9, 0) {
            b.push(("pii_exposed_records", 1_400.0));
        }
        if ts == at(6, 11, 30) {
            b.push(("pii_exposed_records", 12_100.0));
        }
        log.batch(ts, K12, &b)?;

        // --- elderly-care-companion-robot (major): a stop command not honoured in time
        // (Wed 15:20); the review queue backs up on the Saturday night shift (22:00–02:00).
        let mut b = vec![
            ("heartbeat", 1.0),
            ("operations", rng.poisson(diurnal(ts, 2.0, 14.0)) as f64),
        ];
        if ts == at(2, 15, 20) {
            b.push(("intervention_failures", 1.0));
        }
        let (b0, b1) = (at(5, 22, 0), at(6, 2, 0));
        if ts >= b0 && ts < b1 {
            // Oldest pending review: grows from 10 min to 1 h 50 min, then staff catch up.
            let age = 600 + (ts - b0) / 1000 * 6000 / ((b1 - b0) / 1000);
            b.push(("review_queue_age_s", age as f64));
        } else if (ts - T0) % (15 * MIN) == 0 {
            let age = (rng.f64() * 240.0).round();
            b.push(("review_queue_age_s", age));
        }
        log.batch(ts, ROBOT, &b)?;

        // --- factory-quality-inspection (low): nothing happens; a control.
        log.batch(
            ts,
            FACTORY,
            &[
                ("heartbeat", 1.0),
                ("interactions", rng.poisson(300.0) as f64),
            ],
        )?;

        // --- shopping-recommender (general): a pricing glitch Sat 19:00–22:00 makes users
        // complain.
        let n = rng.poisson(diurnal(ts, 300.0, 2400.0));
        let p = if during(ts, 5, 19.0, 22.0) {
            0.009
        } else {
            0.0004
        };
        let complaints = rng.binomial(n, p);
        log.batch(
            ts,
            SHOP,
            &[
                ("heartbeat", 1.0),
                ("interactions", n as f64),
                ("consumer_complaints", complaints as f64),
            ],
        )?;

        // --- customer-service-voice-bot (general): a tariff plan launched on Monday is
        // missing from the bot's knowledge base; as more callers ask about it, the share of
        // answers flagged as wrong creeps up from VB_P0 by VB_SLOPE a day until the knowledge
        // base is updated (VB_FIX).
        let n = rng_vb.poisson(diurnal(ts, 10.0, 50.0));
        let p = if ts < VB_FIX {
            VB_P0 + VB_SLOPE * (ts - T0) as f64 / DAY as f64
        } else {
            0.03
        };
        let flagged = rng_vb.binomial(n, p);
        log.batch(
            ts,
            VOICE,
            &[
                ("heartbeat", 1.0),
                ("interactions", n as f64),
                ("hallucination_flagged", flagged as f64),
            ],
        )?;

        log.tick(ts)?;
        // The operators' actions of this 5-minute period, after its events.
        while let Some(a) = next_action.next_if(|a| a.ts < ts + SLOT) {
            log.action(a)?;
        }
        ts += SLOT;
    }
    Ok(())
}

/// The triage day: Tuesday 2026-03-03, one line per minute (all its signals), round numbers.
///
/// - interactions per minute: 4 (00:00–07:00), 30 (07:00–22:00), 8 (22:00–24:00);
/// - hallucination_flagged: 1 every 10 minutes at hh:m5 during 07:00–22:00 (a baseline of
///   1 in 300); 2 per minute 13:30–15:00 (a knowledge-base update gone wrong, 1 in 15);
///   4 per minute 15:00–20:00 (1 in 7.5); back to the baseline after the 20:00 rollback;
/// - heartbeat every minute; a tick every 5 minutes.
fn triage_day<W: Write>(log: &mut Log<W>) -> io::Result<()> {
    let day = T0 + DAY;
    log.register(day, &profile(TRIAGE))?;
    for m in 0..24 * 60 {
        let ts = day + m * MIN;
        let h = m / 60;
        let n = if h < 7 {
            4
        } else if h < 22 {
            30
        } else {
            8
        };
        let flagged = if (13 * 60 + 30..15 * 60).contains(&m) {
            2
        } else if (15 * 60..20 * 60).contains(&m) {
            4
        } else if (7..22).contains(&h) && m % 10 == 5 {
            1
        } else {
            0
        };
        log.batch(
            ts,
            TRIAGE,
            &[
                ("heartbeat", 1.0),
                ("interactions", n as f64),
                ("hallucination_flagged", flagged as f64),
            ],
        )?;
        if m % 5 == 0 {
            log.tick(ts)?;
        }
    }
    log.tick(day + DAY)?;
    Ok(())
}

/// Many clones of the example systems, reporting as production systems do: one observation
/// per request (`interactions`, value 1) and per flagged output, a heartbeat per minute per
/// system, and a tick per minute. Now and then a clone has a bad hour or two (15% of its
/// outputs flagged as hallucinated, a few confirmed attacks), so warnings occur.
fn large<W: Write>(log: &mut Log<W>, events: u64, seed: u64) -> io::Result<()> {
    let mut rng = Rng(seed ^ 0x1a2b_3c4d);
    let ids = [
        TRIAGE,
        LOAN,
        GOV,
        DRONE,
        BUS,
        K12,
        ROBOT,
        FACTORY,
        SHOP,
        "newsroom-text-generator",
        "power-grid-load-forecaster",
        "recruitment-screening",
    ];
    let clones = 25;
    let mut systems = Vec::new();
    for k in 0..clones {
        for id in ids {
            let mut p = profile(id);
            let name = format!("{id}-{k:03}");
            p["id"] = Value::String(name.clone());
            log.register(T0, &p)?;
            systems.push(name);
        }
    }
    let mut ts = T0;
    let mut incident: Vec<i64> = vec![i64::MIN; systems.len()];
    while log.lines < events {
        for (i, s) in systems.iter().enumerate() {
            if rng.f64() < 0.0002 {
                incident[i] = ts + HOUR + (rng.f64() * 2.0 * HOUR as f64) as i64;
            }
            let bad = ts < incident[i];
            log.obs(ts, s, "heartbeat", 1.0)?;
            let n = rng.poisson(diurnal(ts, 4.0, 30.0));
            let p = if bad { 0.15 } else { 0.003 };
            for k in 0..n {
                let t = ts + (k as i64 * MIN) / n as i64;
                log.obs(t, s, "interactions", 1.0)?;
                if rng.f64() < p {
                    log.obs(t, s, "hallucination_flagged", 1.0)?;
                }
                if rng.f64() < 0.001 {
                    log.obs(t, s, "prompt_injection_detected", 1.0)?;
                }
            }
            if bad && rng.f64() < 0.02 {
                log.obs(ts, s, "attack_detected", 1.0)?;
            }
        }
        log.tick(ts)?;
        ts += MIN;
    }
    Ok(())
}

/// Collects the transitions and incident events of a replay (for the README).
#[derive(Default)]
struct Collect(Vec<Transition>, u64, Vec<IncidentEvent>);

impl ReplayHandler for Collect {
    fn transition(&mut self, t: &Transition) -> io::Result<()> {
        self.0.push(t.clone());
        Ok(())
    }
    fn incident(&mut self, e: &IncidentEvent) -> io::Result<()> {
        self.2.push(e.clone());
        Ok(())
    }
    fn rejected(&mut self, _: u64, _: &airisk::replay::LineError) -> io::Result<()> {
        self.1 += 1;
        Ok(())
    }
}

/// `Tue 15:45` within the demo week; a date (`2026-04-02 21:45`) after it.
fn hm(ts: i64) -> String {
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    let d = (ts - T0).div_euclid(DAY);
    let r = (ts - T0).rem_euclid(DAY);
    let name = match DAYS.get(d as usize) {
        Some(n) => (*n).to_owned(),
        None => {
            // Days since 1970-01-01 to a civil date (H. Hinnant's algorithm).
            let z = ts.div_euclid(DAY) + 719_468;
            let (era, doe) = (z.div_euclid(146_097), z.rem_euclid(146_097));
            let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
            let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
            let mp = (5 * doy + 2) / 153;
            let day = doy - (153 * mp + 2) / 5 + 1;
            let month = if mp < 10 { mp + 3 } else { mp - 9 };
            let year = yoe + era * 400 + i64::from(month <= 2);
            format!("{year}-{month:02}-{day:02}")
        }
    };
    format!("{name} {:02}:{:02}", r / HOUR, r / MIN % 60)
}

fn fmt_value(t: &Transition) -> String {
    let below = Policy::default_policy()
        .rule(t.rule_id.as_deref().unwrap_or(""))
        .is_some_and(|r| r.direction == airisk::policy::Direction::Below);
    let cmp = if below { "≤" } else { "≥" };
    match (t.value, t.threshold) {
        (Some(v), Some(th)) if t.to > t.from => format!("{} {cmp} {}", short(v), short(th)),
        (Some(v), _) => short(v),
        (None, _) => "window empty".into(),
    }
}

fn short(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{}", v as i64)
    } else if v.abs() < 1.0 {
        format!("{v:.4}")
    } else {
        format!("{v:.2}")
    }
}

const README_STORY: &str = r#"# The demo week

`events.jsonl` is one week (Monday 2026-03-02 00:00 UTC to Sunday 24:00) of ten AI
applications monitored by `airisk` under the default policy (`seeds/policy/default.json`).
It was written by `cargo run --release --example gen_demo` (seeded; the same seed always
gives the same file). Replay it with

```sh
cargo run --release -- replay seeds/demo/events.jsonl --html target/report.html
```

and open `target/report.html` (a screenshot is in `report.png`).

## How the log is made

- The profiles are the examples of `seeds/profiles/` (their grades are derived in
  `seeds/README.md` section 4). Each system is registered at the start.
- Traffic follows a daily curve (quietest at 04:00, busiest at 16:00 UTC) with Poisson
  noise from a seeded SplitMix64 generator.
- To keep the file small, each system reports once per 5 minutes: one line with all its
  signals of the period (for example `"values": {"heartbeat": 1, "interactions": 143,
  "hallucination_flagged": 1}`), stamped with the start of the period — which is also the
  policy's 5-minute bucket. The values of one line are applied together, so a rate and its
  denominator are judged once, after both. A counter with nothing to report that period is
  left out. Every system sends a heartbeat every 5 minutes, and a `tick` follows every 5
  minutes, so silence is measured.
- Background rates sit well below every threshold (for example 0.4% of triage answers
  flagged as hallucinated, where the major grade warns at 3%), and the Wilson lower bound
  keeps noise on small samples from raising warnings.
- The operators' acknowledgements and reports to the regulator are `ack` and `report`
  lines, written where an operator would act (the times and receipt numbers are made up).
  All are on time but two: the care robot's initial report is filed 30 min after its
  deadline, and the drone operator never files the update report its incident's escalation
  calls for, so it shows as overdue.

## The systems and what happens to them

| system | sector | grade | the week |
| --- | --- | --- | --- |
| `hospital-triage-chatbot` | healthcare_clinical | 重大 major | **Tue 13:15** a knowledge-base update makes it misstate triage criteria: 6% of answers are flagged as hallucinated, 14% from 15:00. Rolled back at 21:00. |
| `loan-approval-model` | finance | 较大 significant | **Mon 12:00 – Sat 12:00** after a change in the applicant mix, the approval-rate ratio between applicant groups (four-fifths rule; recomputed every 30 min on the trailing day of decisions) slides from 0.95 by 0.025 a day. A retrained model restores 0.95 at **Sat 12:00**. |
| `government-service-assistant` | government_services | 较大 significant | **Thu 14:00 – 17:00** a jailbreak campaign: ~28 crafted requests per 5 minutes, 90% detected as prompt injections, ~9 harmful answers per 5 minutes get out, 4 confirmed attacks on its tools, and at 15:45 the abuse of the form-filling tool is found to have exposed 12 400 citizens' records. Three categories at yellow or above at once: the policy's escalation raises the system level by one. |
| `delivery-drone` | low_altitude | 较大 significant | **Fri 09:30 – 16:00** the telemetry pipeline fails: the last heartbeat arrives at 09:25, then no data at all until 16:00. |
| `autonomous-bus` | autonomous_driving | 特别重大 critical | **Sat 07:30** a construction detour causes emergency braking on 3.5% of segments; **08:40** a cyclist is grazed. The line is suspended until Sunday 06:00. |
| `k12-tutoring-assistant` | education | 重大 major | **Sun 09:00** transcripts with 1 400 pupils' names are found in a public log bucket; at **11:30** the full scope is known: 12 100 more. |
| `elderly-care-companion-robot` | elderly_care | 重大 major | **Wed 15:20** a caregiver's stop command is not honoured in time (one intervention failure). **Sat 22:00 – Sun 02:00** the night shift is short-staffed and the oldest item waiting for mandatory human review ages from 10 min to 1 h 50 min. |
| `factory-quality-inspection` | industrial_manufacturing | 低 low | Nothing happens: the control. |
| `shopping-recommender` | consumer_services | 一般 general | **Sat 19:00 – 22:00** a pricing glitch: 0.9% of sessions end in a complaint. |
| `customer-service-voice-bot` | consumer_services | 一般 general | A tariff plan launched on Monday is missing from the bot's knowledge base. As more callers ask about it, the share of answers flagged as wrong creeps up from 8% (Mon 00:00) by 2 points a day. The knowledge base is updated on **Thu 14:00** (3% after that). 120 to 600 calls an hour. |

## What the replay reports

Every warning the replay gives (rule transitions; times UTC), computed by replaying
`events.jsonl` through the library when the file was generated. The system-level
transitions follow from these (the highest rule level, raised by escalation) and are in the
replay's output and report too. Warnings carry actions only: the duty to report belongs to
incidents (next section).
"#;

fn write_readme(path: &Path, events: &Path, seed: u64) -> io::Result<()> {
    let mut r = Replayer::new(Policy::default_policy());
    let mut c = Collect::default();
    let f = io::BufReader::new(File::open(events)?);
    r.run(f, &mut c)?;
    assert_eq!(c.1, 0, "the demo log must have no rejected line");
    let stats = r.stats().clone();
    let size = std::fs::metadata(events)?.len();
    let mut s = String::from(README_STORY);
    for id in SYSTEMS {
        let rows: Vec<&Transition> =
            c.0.iter()
                .filter(|t| &*t.system_id == id && t.scope == Scope::Rule)
                .collect();
        let _ = writeln!(s, "\n### `{id}`\n");
        if rows.is_empty() {
            s.push_str("No warning all week.\n");
            continue;
        }
        s.push_str(
            "| time | rule | from → to | value | response |\n| --- | --- | --- | --- | --- |\n",
        );
        for t in rows {
            let actions: Vec<&str> = t.actions.iter().map(|a| a.name()).collect();
            let resp = match (actions.is_empty(), t.report_within_s) {
                (true, _) => "—".to_owned(),
                (false, Some(r)) => format!(
                    "{}; report within {} h",
                    actions.join(", "),
                    r as f64 / 3600.0
                ),
                (false, None) => actions.join(", "),
            };
            // The incident event this transition caused, if any.
            let caused = c.2.iter().find(|e| {
                e.ts == t.ts
                    && e.rule == t.rule_id
                    && e.level == Some(t.to)
                    && matches!(
                        e.event,
                        IncidentEventKind::Opened
                            | IncidentEventKind::Escalated
                            | IncidentEventKind::Reopened
                    )
            });
            let resp = match caused {
                Some(e) => format!("{resp}; incident {} ({})", e.event.name(), e.severity),
                None => resp,
            };
            let _ = writeln!(
                s,
                "| {} | `{}` | {} → **{}** | {} | {} |",
                hm(t.ts),
                t.rule_id.as_deref().unwrap_or(""),
                t.from,
                t.to,
                fmt_value(t),
                resp
            );
        }
        let sys: Vec<String> =
            c.0.iter()
                .filter(|t| &*t.system_id == id && t.scope == Scope::System)
                .map(|t| format!("{} {}", hm(t.ts), t.to))
                .collect();
        let _ = writeln!(s, "\nSystem level: {}.", sys.join(" → "));
    }
    drift_section(&mut s, &c.0);
    incidents_section(&mut s, &c.2);
    let engine = r.engine();
    let mut by_level = [0u64; 5];
    for h in engine.systems() {
        if let Ok(l) = engine.system_level(h) {
            by_level[l as usize] += 1;
        }
    }
    let _ = write!(
        s,
        "\n## Numbers\n\n- {} lines, {} bytes ({:.1} MB), seed {seed}: {} register, {} observe, {} tick, {} ack and report lines; no rejected line.\n\
         - {} transitions: {} rule, {} system. By new level: red {}, orange {}, yellow {}, blue {}, none {}.\n\
         - {} incidents ({}), {} reportable, {} incident events; reports filed: {} on time, {} late; {} deadlines missed.\n\
         - Systems at the end of the week: red {}, orange {}, yellow {}, blue {}, none {}.\n",
        stats.lines,
        size,
        size as f64 / 1e6,
        stats.registered,
        stats.observed,
        stats.ticks,
        stats.incident_actions,
        stats.transitions_total(),
        stats.transitions[0].iter().sum::<u64>(),
        stats.transitions[1].iter().sum::<u64>(),
        stats.transitions_to(Level::Red),
        stats.transitions_to(Level::Orange),
        stats.transitions_to(Level::Yellow),
        stats.transitions_to(Level::Blue),
        stats.transitions_to(Level::None),
        stats.incidents.incidents.len(),
        stats
            .incidents
            .by_severity()
            .iter()
            .rev()
            .map(|(id, n)| format!("{id} {n}"))
            .collect::<Vec<_>>()
            .join(", "),
        stats.incidents.reportable(),
        stats.incidents.events,
        stats.incidents.filed_on_time,
        stats.incidents.filed_late,
        stats.incidents.overdue,
        by_level[4],
        by_level[3],
        by_level[2],
        by_level[1],
        by_level[0],
    );
    s.push_str(
        "\n## The triage day\n\n`seeds/scenarios/triage-day.jsonl` (written by the same program) is one day, Tuesday \
         2026-03-03, of `hospital-triage-chatbot` alone, one line per minute, with round numbers and no noise: 30 \
         interactions a minute by day, 1 flagged hallucination in 300, then 2 a minute from 13:30 and 4 a minute \
         from 15:00 until a rollback at 20:00. `hallucination-rate` goes blue at 14:05, yellow at 14:25, orange at \
         15:45, back to blue at 20:43 and to none at 21:15; `tests/scenario_triage.rs` derives each of these by \
         hand.\n",
    );
    s.push_str(
        "\n## Regenerating\n\n```sh\ncargo run --release --example gen_demo            # events.jsonl, this README and seeds/scenarios/triage-day.jsonl\n\
         cargo run --release -- replay seeds/demo/events.jsonl --reports seeds/demo/reports   # reports/\n\
         cargo run --release --example gen_demo -- --seed 7  # the same story with other noise\n\
         cargo run --release --example gen_demo -- --large 2000000   # target/demo-large.jsonl, for throughput\n```\n\n\
         `tests/cli_reports.rs` checks that `reports/` is what the replay writes today.\n",
    );
    std::fs::write(path, s)
}

/// The first transition of `system`'s `rule` to `to`.
fn first<'a>(ts: &'a [Transition], system: &str, rule: &str, to: Level) -> &'a Transition {
    ts.iter()
        .find(|t| &*t.system_id == system && t.rule_id.as_deref() == Some(rule) && t.to == to)
        .unwrap_or_else(|| panic!("the demo week has no {rule} → {to} on {system}"))
}

/// `3 h 25 min` (whole minutes).
fn span(ms: i64) -> String {
    let m = ms / MIN;
    let (d, h, m) = (m / (24 * 60), m / 60 % 24, m % 60);
    let mut parts = Vec::new();
    if d > 0 {
        parts.push(format!("{d} d"));
    }
    if h > 0 {
        parts.push(format!("{h} h"));
    }
    if m > 0 || parts.is_empty() {
        parts.push(format!("{m} min"));
    }
    parts.join(" ")
}

/// `## Drift caught early`: the two slow stories, the detector's warning against the plain
/// rule's, both as the replay gives them.
fn drift_section(s: &mut String, ts: &[Transition]) {
    s.push_str(
        "\n## Drift caught early\n\n\
         Two stories are slow creeps that a plain threshold rule sees late. The detector rules of the \
         default policy (seeds/README.md section 2.4) see them first; both columns are the replay's.\n\n\
         | system | detector | plain rule | earlier by |\n| --- | --- | --- | --- |\n",
    );
    let rows = [
        (
            LOAN,
            "selection-disparity-trend",
            "selection-disparity",
            Level::Blue,
        ),
        (
            VOICE,
            "hallucination-drift",
            "hallucination-rate",
            Level::Yellow,
        ),
    ];
    for (system, detector, plain, to) in rows {
        let d = first(ts, system, detector, to);
        let p = first(ts, system, plain, to);
        let _ = writeln!(
            s,
            "| `{system}` | `{detector}` → {to} at **{}** ({}) | `{plain}` → {to} at **{}** ({}) | {} |",
            hm(d.ts),
            fmt_value(d),
            hm(p.ts),
            fmt_value(p),
            span(p.ts - d.ts)
        );
    }
    s.push_str(
        "\n- **Loan model, EWMA.** The ratio slides by 0.025 a day from Monday noon. The hourly mean of \
         `selection-disparity` warns when it reaches the grade's line (0.85); the EWMA of \
         `selection-disparity-trend` averages about ten half-hourly samples, so its own line can sit \
         nearer to the model's usual ratio (0.9) without firing on noise.\n\
         - **Voice bot, CUSUM.** The flagged share creeps up by 2 points a day. The hourly \
         `hallucination-rate` (blue at a Wilson lower bound of 10%, yellow at 15%) comes and goes with \
         the noise near its line: blue and none several times from Tuesday evening. \
         `hallucination-drift` adds up how far each 5-minute rate is above the TC260 gate (10%, plus a \
         slack of 0.5 point): once the excess has lasted, its warning stays, and it asks for human \
         review (yellow) before the hourly rule does.",
    );
    // What adding up costs: the CUSUM falls back only when its sum has drained.
    let fix = ts
        .iter()
        .filter(|t| &*t.system_id == VOICE && t.ts >= VB_FIX && t.to == Level::None)
        .map(|t| t.ts)
        .max();
    if let Some(back) = fix {
        let _ = write!(
            s,
            " It also remembers: after the knowledge base is updated ({}) the warnings end at {}, {} \
             later, the price of adding up.",
            hm(VB_FIX),
            hm(back),
            span(back - VB_FIX)
        );
    }
    s.push('\n');
}

/// `## Incidents and reports`: each incident's events, and the reports it owed.
fn incidents_section(s: &mut String, events: &[IncidentEvent]) {
    s.push_str(
        "\n## Incidents and reports\n\n\
         An incident opens when a rule reaches orange; its severity follows the highest level of its \
         category's rules (orange 较大 serious, red 重大 major; physical safety at red 特别重大 critical). \
         From 较大 it must be reported: the initial report within 4 h (1 h for the bus line, whose operator \
         runs critical information infrastructure), an update report within the same time after an \
         escalation once the initial one is filed, a final report within 30 days of resolution; an \
         acknowledgement within 30 min. The events below are the replay's (times UTC); `reports/` holds \
         the report documents `airisk replay --reports` writes from them.\n",
    );
    let mut ids: Vec<&str> = Vec::new();
    for e in events {
        if !ids.contains(&&*e.incident) {
            ids.push(&e.incident);
        }
    }
    for id in ids {
        let _ = writeln!(
            s,
            "\n### `{id}`\n\n| time | event | severity | detail |\n| --- | --- | --- | --- |"
        );
        for e in events.iter().filter(|e| &*e.incident == id) {
            let mut detail: Vec<String> = Vec::new();
            if let (Some(r), Some(l)) = (&e.rule, e.level) {
                detail.push(format!("`{r}` → {l}"));
            }
            if let Some(k) = e.report {
                detail.push(format!(
                    "{} report filed{}, `{}`",
                    k.name(),
                    if e.late == Some(true) {
                        " **late**"
                    } else {
                        " on time"
                    },
                    e.reference.as_deref().unwrap_or("")
                ));
            }
            if let Some(b) = &e.by {
                detail.push(format!("by {b}"));
            }
            match (e.event, e.due) {
                (IncidentEventKind::Overdue, Some(d)) => {
                    detail.push(format!("**{} missed** (due {})", d.report.name(), hm(d.by)))
                }
                (_, Some(d)) => detail.push(format!("{} report due {}", d.report.name(), hm(d.by))),
                (_, None) => {}
            }
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} |",
                hm(e.ts),
                e.event.name(),
                e.severity,
                detail.join("; ")
            );
        }
    }
}

fn open(path: &Path) -> io::Result<Log<BufWriter<File>>> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    Ok(Log {
        w: BufWriter::with_capacity(1 << 16, File::create(path)?),
        lines: 0,
    })
}

fn main() -> io::Result<()> {
    let mut seed = 20_260_302u64;
    let mut large_n: Option<u64> = None;
    let mut large_out = root().join("target/demo-large.jsonl");
    let mut out_dir = root().join("seeds");
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = |name: &str| {
            args.next()
                .unwrap_or_else(|| panic!("{name} needs a value"))
        };
        match a.as_str() {
            "--seed" => seed = val("--seed").parse().expect("--seed N"),
            "--large" => large_n = Some(val("--large").parse().expect("--large N")),
            "--large-out" => large_out = PathBuf::from(val("--large-out")),
            "--out" => out_dir = PathBuf::from(val("--out")),
            "-h" | "--help" => {
                println!(
                    "gen_demo [--seed N] [--out SEEDS_DIR] [--large N [--large-out PATH]]\n\
                     Writes SEEDS_DIR/demo/events.jsonl, SEEDS_DIR/demo/README.md and\n\
                     SEEDS_DIR/scenarios/triage-day.jsonl; with --large, only the large log."
                );
                return Ok(());
            }
            other => panic!("unknown argument {other:?} (try --help)"),
        }
    }
    if let Some(n) = large_n {
        let mut log = open(&large_out)?;
        large(&mut log, n, seed)?;
        log.w.flush()?;
        let size = std::fs::metadata(&large_out)?.len();
        eprintln!(
            "{}: {} lines, {:.1} MB",
            large_out.display(),
            log.lines,
            size as f64 / 1e6
        );
        return Ok(());
    }
    let events = out_dir.join("demo/events.jsonl");
    let mut log = open(&events)?;
    demo_week(&mut log, seed)?;
    log.w.flush()?;
    drop(log);
    write_readme(&out_dir.join("demo/README.md"), &events, seed)?;
    eprintln!(
        "{}: {} bytes",
        events.display(),
        std::fs::metadata(&events)?.len()
    );
    let triage = out_dir.join("scenarios/triage-day.jsonl");
    let mut log = open(&triage)?;
    triage_day(&mut log)?;
    log.w.flush()?;
    eprintln!("{}: {} lines", triage.display(), log.lines);
    Ok(())
}
