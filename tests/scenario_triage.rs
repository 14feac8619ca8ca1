//! `seeds/scenarios/triage-day.jsonl`: one day (Tuesday 2026-03-03, UTC) of the hospital
//! triage chatbot, one line per minute, with round numbers, so that every warning can be
//! derived by hand from `seeds/README.md` section 2.
//!
//! The chatbot's grade is 重大 `major` (seeds/README.md section 4), so rule
//! `hallucination-rate` warns when the Wilson lower bound (z = 1.96) of the flagged share of
//! the last hour (12 buckets of 5 min: the window at minute `w` starts at the beginning of the
//! 5-minute bucket 55 minutes before `w`'s) reaches blue 3%, yellow 5%, orange 10%, red 20%,
//! held for 5 min; it needs 200 interactions in the window; it lowers after 30 min under a
//! level's threshold × (1 − 0.1). Rule `hallucination-drift` (CUSUM) takes each closed
//! 5-minute bucket's flagged share x and keeps S ← max(0, S + x − 0.10 − 0.005); for the major
//! grade it is blue at 4 and yellow at 8.
//!
//! The day (written by `examples/gen_demo.rs`):
//! - interactions per minute: 4 (00:00–07:00), 30 (07:00–22:00), 8 (22:00–24:00);
//! - hallucinations flagged: 1 at hh:05, hh:15, ... during 07:00–22:00 (1 in 300); 2 per
//!   minute 13:30–15:00 (a knowledge-base update gone wrong); 4 per minute 15:00–20:00;
//!   back to 1 in 300 after the 20:00 rollback;
//! - one line per minute with that minute's heartbeat, interactions and flags (`"values"`,
//!   applied together, so each rule is evaluated once per minute, after all three); a tick
//!   every 5 minutes.
//!
//! Hand derivation (n interactions, k flagged in the window; L = Wilson lower bound):
//! - Before 13:30 the share is at most 1 in 300 (L < 0.3%): nothing. Until 00:49 the
//!   window has fewer than 200 interactions (4 a minute): undefined.
//! - Blue: 13:59: window 13:00–13:59, n = 1800, k = 3 (13:05, 13:15, 13:25) + 30 × 2 = 63 →
//!   L = 2.75%. 14:00: the window starts at 13:05, n = 56 × 30 = 1680, k = 3 + 31 × 2 = 65 →
//!   L = 3.05%, and ≥ 3% at every minute from then on (14:05: window 13:10–14:05, k = 2 +
//!   36 × 2 = 74 of 1680 → L = 3.52%): **blue at 14:05**.
//! - Yellow: 14:19: window 13:20–14:19, k = 1 + 50 × 2 = 101 of 1800 → L = 4.64%; 14:20:
//!   window 13:25–14:20, k = 1 + 51 × 2 = 103 of 1680 → L = 5.08%, ≥ 5% from then on
//!   (14:25: window 13:30–14:25, 112 of 1680 → 5.57%): **yellow at 14:25**.
//! - Orange: the 4-per-minute phase (15:00) fills the window. 15:39: window 14:40–15:39,
//!   n = 1800, k = 20 × 2 + 40 × 4 = 200 → L = 9.74%; 15:40: window 14:45–15:40, k = 15 × 2 +
//!   41 × 4 = 194 of 1680 → L = 10.11%, ≥ 10% from then on (15:45: window 14:50–15:45,
//!   k = 10 × 2 + 46 × 4 = 204 of 1680 → L = 10.67%): **orange at 15:45**. Red needs 20%:
//!   the share peaks at 4 in 30 (13.3%), never.
//! - `hallucination-drift`: every bucket before 15:00 has a share under the reference 10.5%
//!   (13:30–15:00: 10 of 150 = 6.7%), so S = 0. Each bucket of 15:00–19:55 has 20 of 150 =
//!   13.33%: S grows by 0.02833 per bucket, to 60 × 0.02833 = 1.7 when the 19:55 bucket
//!   closes, then falls after the rollback. It never reaches its blue line (4): a spike of
//!   five hours is the hourly rule's to judge; the CUSUM is for an excess that lasts.
//! - Clearing of `hallucination-rate`: after the 20:00 rollback the window loses 4 flags a
//!   minute. Orange holds while L ≥ 10% × 0.9 = 9%: 20:12: window 19:15–20:12, k = 45 × 4 +
//!   1 (20:05) = 181 of 1740 → L = 9.05%; 20:13: 181 of 1770 → L = 8.90% < 9%, and L keeps
//!   falling: the lowering timer runs from 20:13. 30 min later, at 20:43: window
//!   19:45–20:43, k = 15 × 4 + 4 = 64 of 1770 → L = 2.84%: blue holds (≥ 3% × 0.9 = 2.7%),
//!   so **orange → blue at 20:43**.
//! - 20:44: L = 2.79% (blue still holds, the timer resets); 20:45: window 19:50–20:45,
//!   k = 10 × 4 + 5 = 45 of 1680 → L = 2.01% < 2.7%: the timer runs from 20:45. 30 min later,
//!   at 21:15: window 20:20–21:15, k = 6 of 1680 → L = 0.16%: **blue → none at 21:15**.
//!
//! Every rule transition is followed by the same system-level transition (one rule moves).
//! Heartbeats arrive every minute: no heartbeat-silence warning.
//!
//! Incidents (seeds/README.md section 3): orange opens incident
//! `hospital-triage-chatbot/hallucination/1` at 15:45, severity 较大 `serious`, reportable;
//! the hospital names no operator type, so it is `other`: the initial report is due 4 h
//! later (19:45) and the acknowledgement 30 min later (16:15). The log files neither, so
//! the acknowledgement is overdue at 16:15 and the initial report at 19:45. The incident is
//! resolved when every rule of its category is back at none: at 21:15; the initial report
//! is still the earliest owed.

use airisk::replay::{ReplayHandler, Replayer};
use airisk::{DueKind, IncidentEvent, IncidentEventKind, Level, Policy, Scope, Transition};
use std::io::BufReader;

/// Tuesday 2026-03-03 00:00 UTC.
const DAY: i64 = 1_772_496_000_000;

fn at(h: i64, m: i64) -> i64 {
    DAY + (h * 60 + m) * 60_000
}

#[derive(Default)]
struct Collect {
    transitions: Vec<Transition>,
    incidents: Vec<IncidentEvent>,
    rejected: Vec<u64>,
}

impl ReplayHandler for Collect {
    fn transition(&mut self, t: &Transition) -> std::io::Result<()> {
        self.transitions.push(t.clone());
        Ok(())
    }
    fn incident(&mut self, e: &IncidentEvent) -> std::io::Result<()> {
        self.incidents.push(e.clone());
        Ok(())
    }
    fn rejected(&mut self, line: u64, _: &airisk::replay::LineError) -> std::io::Result<()> {
        self.rejected.push(line);
        Ok(())
    }
}

#[test]
fn triage_day_gives_exactly_the_hand_derived_warnings() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds/scenarios/triage-day.jsonl");
    let file = std::fs::File::open(&path).expect("seeds/scenarios/triage-day.jsonl");
    let mut r = Replayer::new(Policy::default_policy());
    let mut c = Collect::default();
    r.run(BufReader::new(file), &mut c).unwrap();
    assert!(c.rejected.is_empty(), "rejected lines {:?}", c.rejected);
    let s = r.stats();
    assert_eq!(s.registered, 1);
    // 1440 minute lines (heartbeat, interactions and flags together), 289 ticks.
    assert_eq!(s.ticks, 289);
    assert_eq!(s.first_ts, Some(DAY));
    assert_eq!(s.last_ts, Some(DAY + 86_400_000));

    use Level::*;
    let expected = [
        (at(14, 5), None, Blue, 0.03),
        (at(14, 25), Blue, Yellow, 0.05),
        (at(15, 45), Yellow, Orange, 0.1),
        (at(20, 43), Orange, Blue, 0.03),
    ];
    let rule: Vec<&Transition> = c
        .transitions
        .iter()
        .filter(|t| t.scope == Scope::Rule)
        .collect();
    let got: Vec<(i64, Level, Level)> = rule.iter().map(|t| (t.ts, t.from, t.to)).collect();
    let mut want: Vec<(i64, Level, Level)> =
        expected.iter().map(|&(ts, f, t, _)| (ts, f, t)).collect();
    want.push((at(21, 15), Blue, None));
    assert_eq!(got, want, "rule transitions (ts, from, to)");
    for t in &rule {
        assert_eq!(t.rule_id.as_deref(), Some("hallucination-rate"));
        assert_eq!(t.category.as_deref(), Some("hallucination"));
        assert_eq!(&*t.grade_id, "major");
    }
    for (t, (_, _, _, th)) in rule.iter().zip(expected) {
        assert_eq!(t.threshold, Some(th));
    }
    // The Wilson bounds derived above, at the evaluation that moved the level.
    let values: Vec<f64> = rule.iter().map(|t| t.value.unwrap()).collect();
    for (v, want) in values.iter().zip([0.0352, 0.0557, 0.1067, 0.0284, 0.0016]) {
        assert!((v - want).abs() < 5e-4, "value {v} vs hand-derived {want}");
    }
    // Responses: orange throttles; deadlines live on incidents, not on transitions.
    assert!(rule.iter().all(|t| t.report_within_s.is_none()));
    assert!(rule[2].actions.contains(airisk::Action::Throttle));
    assert!(rule[4].actions.is_empty());
    // The incident the orange warning opened, and what it owed.
    use IncidentEventKind as K;
    let h = 3_600_000;
    type Ev = (K, i64, Option<(DueKind, i64)>);
    let got: Vec<Ev> = c
        .incidents
        .iter()
        .map(|e| (e.event, e.ts, e.due.map(|d| (d.report, d.by))))
        .collect();
    assert_eq!(
        got,
        vec![
            (
                K::Opened,
                at(15, 45),
                Some((DueKind::Initial, at(15, 45) + 4 * h))
            ),
            (K::Overdue, at(16, 15), Some((DueKind::Ack, at(16, 15)))),
            (K::Overdue, at(19, 45), Some((DueKind::Initial, at(19, 45)))),
            (
                K::Resolved,
                at(21, 15),
                Some((DueKind::Initial, at(19, 45)))
            ),
        ]
    );
    assert!(c.incidents.iter().all(
        |e| &*e.incident == "hospital-triage-chatbot/hallucination/1"
            && &*e.severity == "serious"
            && e.reportable
    ));

    // The system level follows the one rule, transition for transition.
    let system: Vec<(i64, Level, Level)> = c
        .transitions
        .iter()
        .filter(|t| t.scope == Scope::System)
        .map(|t| (t.ts, t.from, t.to))
        .collect();
    assert_eq!(system, want);
    // Sequence numbers: 1..=10, each rule transition followed by its system transition.
    let seqs: Vec<u64> = c.transitions.iter().map(|t| t.seq).collect();
    assert_eq!(seqs, (1..=10).collect::<Vec<u64>>());
    assert!(
        c.transitions
            .chunks(2)
            .all(|p| p[0].scope == Scope::Rule && p[1].scope == Scope::System)
    );
    assert_eq!(
        r.engine().system_level(r.engine().systems()[0]).unwrap(),
        None
    );
}
