//! A deterministic synthetic event log (`airisk-nats gen`), for the failover tests and for
//! throughput runs: the same options always give the same bytes.
//!
//! `systems` clones of the example profiles in `seeds/profiles/` (ids like
//! `hospital-triage-chatbot-0042`; some ids hold `/` or Chinese characters, as ids may) are
//! registered, then every simulated minute each system reports a heartbeat, its interaction
//! count and its flagged outputs, with rarer attacks, safety incidents, disparity ratios and
//! review-queue ages; a `tick` follows every 5 minutes. Random episodes (bad output, lost
//! heartbeats, attacks) make rules rise and fall, so the log yields transitions at every
//! level. A few lines are deliberately wrong (an unknown system, a stale observation, a
//! malformed line), as real logs have them.

use std::fmt::Write as _;
use std::io::{self, Write};

/// Options of the generator.
#[derive(Debug, Clone)]
pub struct GenOptions {
    /// Systems registered.
    pub systems: usize,
    /// At least this many event lines (registrations included).
    pub events: u64,
    /// Seed of the random generator.
    pub seed: u64,
    /// Include deliberately wrong lines.
    pub with_errors: bool,
}

/// What was generated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GenReport {
    /// Lines written.
    pub lines: u64,
    /// Of those, ticks.
    pub ticks: u64,
    /// Simulated minutes.
    pub minutes: u64,
}

const PROFILES: [(&str, &str); 12] = [
    (
        "autonomous-bus",
        include_str!("../../seeds/profiles/autonomous-bus.json"),
    ),
    (
        "delivery-drone",
        include_str!("../../seeds/profiles/delivery-drone.json"),
    ),
    (
        "elderly-care-companion-robot",
        include_str!("../../seeds/profiles/elderly-care-companion-robot.json"),
    ),
    (
        "factory-quality-inspection",
        include_str!("../../seeds/profiles/factory-quality-inspection.json"),
    ),
    (
        "government-service-assistant",
        include_str!("../../seeds/profiles/government-service-assistant.json"),
    ),
    (
        "hospital-triage-chatbot",
        include_str!("../../seeds/profiles/hospital-triage-chatbot.json"),
    ),
    (
        "k12-tutoring-assistant",
        include_str!("../../seeds/profiles/k12-tutoring-assistant.json"),
    ),
    (
        "loan-approval-model",
        include_str!("../../seeds/profiles/loan-approval-model.json"),
    ),
    (
        "newsroom-text-generator",
        include_str!("../../seeds/profiles/newsroom-text-generator.json"),
    ),
    (
        "power-grid-load-forecaster",
        include_str!("../../seeds/profiles/power-grid-load-forecaster.json"),
    ),
    (
        "recruitment-screening",
        include_str!("../../seeds/profiles/recruitment-screening.json"),
    ),
    (
        "shopping-recommender",
        include_str!("../../seeds/profiles/shopping-recommender.json"),
    ),
];

/// Monday 2026-03-02 00:00:00 UTC.
const T0: i64 = 1_772_409_600_000;
const MIN: i64 = 60_000;

/// SplitMix64.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn f64(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    /// Poisson(λ) by Knuth's method (λ here is small).
    fn poisson(&mut self, lambda: f64) -> u64 {
        let l = (-lambda).exp();
        let (mut k, mut p) = (0u64, 1.0);
        loop {
            p *= self.f64();
            if p <= l {
                return k;
            }
            k += 1;
        }
    }
    fn binomial(&mut self, n: u64, p: f64) -> u64 {
        (0..n).filter(|_| self.f64() < p).count() as u64
    }
}

struct Sys {
    id: String,
    kind: usize,
    lambda: f64,
    bad_until: i64,
    silent_until: i64,
    attack_until: i64,
}

fn json_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

/// Writes the log to `w`.
///
/// # Errors
/// Write errors.
pub fn generate<W: Write>(o: &GenOptions, w: &mut W) -> io::Result<GenReport> {
    let mut rng = Rng(o.seed ^ 0x5eed_a1b2_c3d4_e5f6);
    let mut r = GenReport::default();
    let mut line = String::with_capacity(256);
    let mut systems = Vec::with_capacity(o.systems);
    for k in 0..o.systems {
        let kind = k % PROFILES.len();
        let (base, doc) = PROFILES[kind];
        let id = if k % 53 == 7 {
            format!("org-{}/{base}-{k:04}", k % 5)
        } else if k % 61 == 11 {
            format!("智能体-{base}-{k:04}")
        } else {
            format!("{base}-{k:04}")
        };
        let mut p: serde_json::Value = serde_json::from_str(doc).map_err(io::Error::other)?;
        p["id"] = serde_json::Value::String(id.clone());
        writeln!(w, "{{\"op\":\"register\",\"ts\":{T0},\"profile\":{p}}}")?;
        r.lines += 1;
        systems.push(Sys {
            id,
            kind,
            lambda: 5.0 + rng.f64() * 25.0,
            bad_until: i64::MIN,
            silent_until: i64::MIN,
            attack_until: i64::MIN,
        });
    }
    let mut minute = 0i64;
    while r.lines < o.events {
        let ts = T0 + minute * MIN;
        for s in &mut systems {
            let sid = json_str(&s.id);
            if rng.f64() < 0.006 {
                s.bad_until = ts + (40 + rng.below(120) as i64) * MIN;
            }
            if rng.f64() < 0.003 {
                s.silent_until = ts + (10 + rng.below(50) as i64) * MIN;
            }
            if rng.f64() < 0.002 {
                s.attack_until = ts + (5 + rng.below(30) as i64) * MIN;
            }
            let mut obs =
                |line: &mut String, t: i64, signal: &str, v: Option<f64>| -> io::Result<()> {
                    line.clear();
                    let _ = write!(
                        line,
                        "{{\"ts\":{t},\"system\":{sid},\"signal\":\"{signal}\""
                    );
                    if let Some(v) = v {
                        let _ = write!(line, ",\"value\":{v}");
                    }
                    line.push('}');
                    writeln!(w, "{line}")?;
                    r.lines += 1;
                    Ok(())
                };
            if ts >= s.silent_until {
                obs(&mut line, ts, "heartbeat", None)?;
            }
            let n = rng.poisson(s.lambda);
            if n > 0 {
                let t = ts + rng.below(MIN as u64) as i64;
                obs(&mut line, t, "interactions", Some(n as f64))?;
                let p = if ts < s.bad_until { 0.25 } else { 0.004 };
                let k = rng.binomial(n, p);
                if k > 0 {
                    obs(&mut line, t, "hallucination_flagged", Some(k as f64))?;
                }
            }
            if ts < s.attack_until && rng.f64() < 0.3 {
                obs(&mut line, ts, "attack_detected", None)?;
            }
            match PROFILES[s.kind].0 {
                "autonomous-bus" | "delivery-drone" | "elderly-care-companion-robot" => {
                    obs(
                        &mut line,
                        ts,
                        "operations",
                        Some(1.0 + rng.below(20) as f64),
                    )?;
                    if rng.f64() < 0.0015 {
                        obs(&mut line, ts, "safety_incidents", None)?;
                    }
                }
                "loan-approval-model" | "recruitment-screening" if minute % 10 == 0 => {
                    let bad = ts < s.bad_until;
                    let v = if bad {
                        0.55 + rng.f64() * 0.2
                    } else {
                        0.86 + rng.f64() * 0.12
                    };
                    obs(
                        &mut line,
                        ts,
                        "disparity_ratio",
                        Some((v * 1000.0).round() / 1000.0),
                    )?;
                }
                "government-service-assistant" | "hospital-triage-chatbot" if minute % 5 == 0 => {
                    let age = if ts < s.bad_until {
                        2000 + rng.below(6000)
                    } else {
                        rng.below(600)
                    };
                    obs(&mut line, ts, "review_queue_age_s", Some(age as f64))?;
                }
                _ => {}
            }
        }
        if o.with_errors && minute % 97 == 13 {
            // A stale observation, an unknown system, a malformed line.
            let s = &systems[(minute as usize) % systems.len()];
            writeln!(
                w,
                "{{\"ts\":{},\"system\":{},\"signal\":\"interactions\",\"value\":3}}",
                ts - 48 * 60 * MIN,
                json_str(&s.id)
            )?;
            writeln!(
                w,
                "{{\"ts\":{ts},\"system\":\"nobody-{minute}\",\"signal\":\"heartbeat\"}}"
            )?;
            writeln!(w, "{{\"ts\":{ts},\"system\":\"broken\"")?;
            r.lines += 3;
        }
        minute += 1;
        if minute % 5 == 0 {
            writeln!(w, "{{\"op\":\"tick\",\"ts\":{}}}", T0 + minute * MIN)?;
            r.lines += 1;
            r.ticks += 1;
        }
    }
    r.minutes = minute as u64;
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_parsable() {
        let o = GenOptions {
            systems: 30,
            events: 3000,
            seed: 7,
            with_errors: true,
        };
        let (mut a, mut b) = (Vec::new(), Vec::new());
        let ra = generate(&o, &mut a).unwrap();
        generate(&o, &mut b).unwrap();
        assert_eq!(a, b);
        assert!(ra.lines >= 3000);
        let text = String::from_utf8(a).unwrap();
        assert_eq!(text.lines().count() as u64, ra.lines);
        let bad = text
            .lines()
            .filter(|l| airisk::replay::parse_line(l.as_bytes()).is_err())
            .count();
        assert!(bad >= 1, "the malformed lines are there");
        assert!(text.contains("org-"), "ids with a slash");
    }
}
