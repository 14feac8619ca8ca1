//! The engine agrees with a naive model of its evaluation semantics (`docs/policy.md`:
//! windows, aggregates, levels, escalation, responses).
//!
//! For random valid policies and random logs (registrations, observations — late, stale,
//! invalid, of unknown signals —, ticks that jump far ahead, times near 0 and negative),
//! the engine (through its public Rust API) and the model of `tests/model` must:
//! - accept or reject every operation alike, with the same kind of error (stale, invalid
//!   value, unknown handle or signal, duplicate), and return the same system level from
//!   `observe`;
//! - emit the same transitions after every operation, field for field (seq, ts, scope,
//!   system, grade, rule, category, from, to, value, threshold, actions, report_within_s,
//!   basis); values compare exactly (see `tests/model/generate.rs` for why they can);
//! - end with the same watermarks, rule levels, system levels and counters.
//!
//! A failing case prints the minimal policy (JSON) and log (`airisk replay` lines) that
//! proptest shrank it to, and the first operation where the two disagree.
//!
//! Runs [`DEFAULT_CASES`] cases of up to [`DEFAULT_OPS`] operations by default (about 5 s
//! of CPU in debug). For a long run set `AIRISK_MODEL_CASES` (cases) and, for longer logs,
//! `AIRISK_MODEL_OPS` (most operations per log):
//! `AIRISK_MODEL_CASES=20000 AIRISK_MODEL_OPS=300 cargo test --test model_agreement`.

mod model;

use airisk::{Engine, Error, Level, Policy, Profile, SignalId, SystemHandle};
use model::generate::{Case, Op, Sig, case};
use model::{Model, Output, Reject, Tr};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

/// Cases run by default (override with `AIRISK_MODEL_CASES=N`).
const DEFAULT_CASES: u32 = 1000;

/// Most operations in one generated log, after the first 1–3 registrations (override with
/// `AIRISK_MODEL_OPS=N`).
const DEFAULT_OPS: usize = 80;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The engine's error as the model's kind of rejection.
fn kind(e: &Error) -> Reject {
    match e {
        Error::Stale { .. } => Reject::Stale,
        Error::Value { .. } => Reject::Value,
        Error::UnknownSystem(_) | Error::UnknownSignal(_) => Reject::Unknown,
        Error::Duplicate(_) => Reject::Duplicate,
        Error::Profile(_) => Reject::Profile,
        other => panic!("unexpected engine error {other:?}"),
    }
}

fn same_f64(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (Some(x), Some(y)) => x == y || (x.is_nan() && y.is_nan()),
        (None, None) => true,
        _ => false,
    }
}

/// Field-for-field equality of an engine transition and the model's.
fn same(engine: &Tr, model: &Tr) -> bool {
    engine.seq == model.seq
        && engine.ts == model.ts
        && engine.scope == model.scope
        && engine.system == model.system
        && engine.system_id == model.system_id
        && engine.grade == model.grade
        && engine.grade_id == model.grade_id
        && engine.rule == model.rule
        && engine.rule_id == model.rule_id
        && engine.category == model.category
        && engine.from == model.from
        && engine.to == model.to
        && same_f64(engine.value, model.value)
        && same_f64(engine.threshold, model.threshold)
        && engine.actions == model.actions
        && engine.report_within_s == model.report_within_s
        && engine.basis == model.basis
}

fn show(ts: &[Tr]) -> String {
    ts.iter()
        .map(|t| {
            format!(
                "\n    seq {} ts {} {:?} sys {} ({}, grade {} {}) rule {:?} {:?} cat {:?}: {} -> {} \
                 value {:?} threshold {:?} actions {:?} report {:?} basis {:?}",
                t.seq,
                t.ts,
                t.scope,
                t.system,
                t.system_id,
                t.grade,
                t.grade_id,
                t.rule,
                t.rule_id,
                t.category,
                t.from,
                t.to,
                t.value,
                t.threshold,
                t.actions.iter().map(|a| a.name()).collect::<Vec<_>>(),
                t.report_within_s,
                t.basis
            )
        })
        .collect()
}

/// Runs one case through the engine and the model; the first disagreement, described.
fn run(case: &Case) -> Result<(), String> {
    let policy = Policy::from_json(&case.policy.to_string())
        .map_err(|e| format!("the generator made an invalid policy: {e}"))?;
    let engine = Engine::new(policy);
    let mut model = Model::new(&case.policy);
    let nsig = model.policy.signals.len() as u32;
    let lines = case.log_lines();
    let mut got = Vec::new();
    for (i, op) in case.log.iter().enumerate() {
        let at = || format!("operation #{i} {}", lines[i]);
        let mut out = Output::default();
        match op {
            Op::Register { profile } => {
                let e = Profile::from_value(profile.clone())
                    .and_then(|p| engine.register(p))
                    .map(|h| h.0)
                    .map_err(|e| kind(&e));
                let m = model.register(profile);
                if e != m {
                    return Err(format!("{}: engine {e:?}, model {m:?}", at()));
                }
            }
            Op::Observe {
                system,
                signal,
                value,
                ts,
            } => {
                let sid = match signal {
                    Sig::Known(s) => {
                        let id = &model.policy.signals[*s].id;
                        engine.signal(id).expect("the engine knows the signal")
                    }
                    Sig::Unknown(k) => SignalId(nsig + k),
                };
                let e = engine
                    .observe(SystemHandle(*system), sid, *value, *ts)
                    .map_err(|e| kind(&e));
                let s = match signal {
                    Sig::Known(s) => *s,
                    Sig::Unknown(_) => usize::MAX,
                };
                let m = model.observe(*system, s, *value, *ts, &mut out);
                if e != m {
                    return Err(format!(
                        "{}: engine returned {e:?}, model {m:?} (Ok = the system's level after it)",
                        at()
                    ));
                }
            }
            Op::Tick { ts } => {
                engine.tick(*ts);
                model.tick(*ts, &mut out);
            }
        }
        got.clear();
        engine.drain(&mut got);
        let e: Vec<Tr> = got.iter().map(Tr::from).collect();
        let m = &out.transitions;
        if e.len() != m.len() || e.iter().zip(m).any(|(a, b)| !same(a, b)) {
            return Err(format!(
                "{}: transitions differ\n  engine:{}\n  model:{}",
                at(),
                show(&e),
                show(m)
            ));
        }
        for (h, sys) in model.systems.iter().enumerate() {
            let w = engine.watermark(SystemHandle(h as u32)).unwrap();
            if w != sys.watermark {
                return Err(format!(
                    "{}: watermark of {}: engine {w:?}, model {:?}",
                    at(),
                    sys.id,
                    sys.watermark
                ));
            }
        }
    }
    for (h, sys) in model.systems.iter().enumerate() {
        let h = SystemHandle(h as u32);
        let rules: Vec<Level> = sys.rules.iter().map(|r| r.level).collect();
        let e = (
            engine.rule_levels(h).unwrap(),
            engine.system_level(h).unwrap(),
        );
        if e != (rules.clone(), sys.level) {
            return Err(format!(
                "at the end, {}: engine levels {e:?}, model {:?}",
                sys.id,
                (rules, sys.level)
            ));
        }
    }
    let st = engine.stats();
    let c = &model.counters;
    let e = (
        st.observed,
        st.rejected_stale,
        st.rejected_invalid,
        st.transitions,
    );
    let m = (c.observed, c.rejected_stale, c.rejected_invalid, model.seq);
    if e != m {
        return Err(format!(
            "at the end, stats (observed, stale, invalid, transitions): engine {e:?}, model {m:?}"
        ));
    }
    Ok(())
}

#[test]
fn engine_agrees_with_the_model() {
    let mut runner = TestRunner::new(Config {
        cases: env_or("AIRISK_MODEL_CASES", DEFAULT_CASES),
        max_shrink_iters: 20_000,
        ..Config::default()
    });
    let result = runner.run(&case(env_or("AIRISK_MODEL_OPS", DEFAULT_OPS).max(1)), |c| {
        run(&c).map_err(TestCaseError::fail)?;
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}
