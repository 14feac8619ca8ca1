//! The replay library API (`airisk::replay`): line parsing, the streaming driver, its
//! counters, and equivalence with driving the engine directly.

use airisk::replay::{
    Applied, ErrorKind, Event, LineError, MAX_LINE_BYTES, ReplayHandler, ReplayStats, Replayer,
    parse_line,
};
use airisk::{Engine, Level, Policy, Profile, Scope, Transition};
use serde_json::json;
use std::borrow::Cow;
use std::io::BufReader;

fn profile(name: &str) -> serde_json::Value {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("seeds/profiles")
        .join(format!("{name}.json"));
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

#[derive(Default)]
struct Collect {
    transitions: Vec<Transition>,
    rejected: Vec<(u64, LineError)>,
    applied: Vec<u64>,
    progress: u32,
}

impl ReplayHandler for Collect {
    fn transition(&mut self, t: &Transition) -> std::io::Result<()> {
        self.transitions.push(t.clone());
        Ok(())
    }
    fn rejected(&mut self, line: u64, e: &LineError) -> std::io::Result<()> {
        self.rejected.push((line, e.clone()));
        Ok(())
    }
    fn applied(&mut self, line: u64, _: &Event<'_>, _: &Applied) {
        self.applied.push(line);
    }
    fn progress(&mut self, _: &ReplayStats) {
        self.progress += 1;
    }
}

#[test]
fn parse_line_reads_the_three_kinds() {
    let reg = json!({"op": "register", "ts": 5, "profile": profile("delivery-drone")}).to_string();
    match parse_line(reg.as_bytes()).unwrap().unwrap() {
        Event::Register { ts, profile } => {
            assert_eq!(ts, Some(5));
            assert_eq!(profile.id, "delivery-drone");
        }
        e => panic!("{e:?}"),
    }
    // register's ts is informational and may be left out.
    let reg = json!({"op": "register", "profile": profile("delivery-drone")}).to_string();
    assert!(matches!(
        parse_line(reg.as_bytes()).unwrap(),
        Some(Event::Register { ts: None, .. })
    ));
    assert_eq!(
        parse_line(br#"{"op":"tick","ts":-7}"#).unwrap(),
        Some(Event::Tick { ts: -7 })
    );
    assert_eq!(
        parse_line(br#"{"op":"observe","ts":1,"system":"a","signal":"b","value":0.25}"#).unwrap(),
        Some(Event::Observe {
            ts: 1,
            system: Cow::Borrowed("a"),
            signal: Cow::Borrowed("b"),
            value: 0.25
        })
    );
    // Field order does not matter; value defaults to 1; integers are fine as values.
    let e = parse_line(br#"{"signal":"b","value":3,"system":"a","ts":2}"#)
        .unwrap()
        .unwrap();
    assert_eq!(e.ts(), Some(2));
    let Event::Observe { value, .. } = e else {
        panic!()
    };
    assert_eq!(value, 3.0);
}

#[test]
fn parse_line_is_strict_and_precise() {
    let cases: &[(&str, ErrorKind, &str)] = &[
        ("{\"ts\":1,", ErrorKind::MalformedJson, "column"),
        (
            "\"just a string\"",
            ErrorKind::InvalidLine,
            "must be one JSON object, found a string",
        ),
        (
            r#"{"op":"observe","ts":1.5,"system":"a","signal":"b"}"#,
            ErrorKind::InvalidLine,
            "ts",
        ),
        (
            r#"{"op":"observe","ts":"1","system":"a","signal":"b"}"#,
            ErrorKind::InvalidLine,
            "string",
        ),
        (
            r#"{"ts":1,"system":"a","signal":"b","value":null}"#,
            ErrorKind::InvalidLine,
            "null",
        ),
        (
            r#"{"ts":1,"system":7,"signal":"b"}"#,
            ErrorKind::InvalidLine,
            "field `system`: expected a string, found 7 (column 18)",
        ),
        (
            r#"{"ts":1,"system":"a"}"#,
            ErrorKind::InvalidLine,
            "missing field `signal`",
        ),
        (
            r#"{"ts":1,"system":"a","signal":"b","sytem":"c"}"#,
            ErrorKind::InvalidLine,
            "sytem",
        ),
        (
            r#"{"ts":1,"ts":2,"system":"a","signal":"b"}"#,
            ErrorKind::InvalidLine,
            "duplicate field",
        ),
        (r#"{"op":"TICK","ts":1}"#, ErrorKind::UnknownOp, "\"TICK\""),
        (
            r#"{"op":"tick","ts":1,"value":2}"#,
            ErrorKind::InvalidLine,
            "`value` is not allowed in a tick line",
        ),
        (
            r#"{"op":"register","ts":1}"#,
            ErrorKind::InvalidLine,
            "missing field `profile`",
        ),
        (
            r#"{"op":"register","profile":{"id":"x","sector":"s","data":"d","autonomy":"a","users":-1}}"#,
            ErrorKind::InvalidProfile,
            "users",
        ),
        (
            r#"{"op":"register","profile":{"id":"","sector":"s","data":"d","autonomy":"a","users":1}}"#,
            ErrorKind::InvalidProfile,
            "id",
        ),
        (
            r#"{"op":"register","profile":[]}"#,
            ErrorKind::InvalidProfile,
            "profile",
        ),
        // A duplicate key inside an inline profile or policy is refused, as the profile
        // and policy loaders refuse one in a file (it used to keep the last value).
        (
            r#"{"op":"register","profile":{"id":"x","sector":"finance","sector":"education","data":"d","autonomy":"a","users":1}}"#,
            ErrorKind::InvalidProfile,
            r#"invalid profile: profile: invalid JSON: duplicate key "sector" at column 64"#,
        ),
        (
            r#"{"op":"register","profile":{"id":"x","capabilities":["a","a"],"sector":"s","data":"d","autonomy":"a","users":1}}"#,
            ErrorKind::InvalidProfile,
            r#"profile.capabilities[1]: capability "a" is listed twice (also at capabilities[0])"#,
        ),
        (
            r#"{"op":"reload","ts":5,"policy":{"schema":1,"grades":[{"id":"a","id":"b"}]}}"#,
            ErrorKind::ReloadRefused,
            r#"the reload's policy is invalid: policy.grades[0]: invalid JSON: duplicate key "id" at column 67"#,
        ),
    ];
    for (line, kind, needle) in cases {
        let e = parse_line(line.as_bytes()).unwrap_err();
        assert_eq!(e.kind, *kind, "{line}: {e}");
        assert!(e.message.contains(needle), "{line}: {e:?} lacks {needle:?}");
    }
    let e = parse_line(b"{\"ts\":1,\"system\":\"\xff\",\"signal\":\"b\"}").unwrap_err();
    assert_eq!(e.kind, ErrorKind::MalformedJson);
    assert!(e.message.contains("UTF-8"), "{e}");
}

#[test]
fn replayer_counts_lines_events_and_reasons() {
    let log = format!(
        "{}\n\n{}\n{}\n{}\n{}\n   \n{}\n",
        json!({"op": "register", "profile": profile("autonomous-bus")}),
        r#"{"ts": 10, "system": "autonomous-bus", "signal": "safety_incidents"}"#,
        r#"{"ts": 10, "system": "autonomous-bus", "signal": "safety_incidents", "value": -1}"#,
        r#"{"ts": 11, "system": "nobody", "signal": "heartbeat"}"#,
        r#"{"op": "tick", "ts": 20}"#,
        r#"oops"#,
    );
    let log = format!(
        "{log}{}\n",
        r#"{"ts": 21, "system": "autonomous-bus", "values": {"heartbeat": 1, "interactions": 5}}"#
    );
    let mut r = Replayer::new(Policy::default_policy());
    let mut c = Collect::default();
    r.run(log.as_bytes(), &mut c).unwrap();
    let s = r.stats();
    assert_eq!(s.lines, 9);
    assert_eq!(s.blank, 2);
    assert_eq!(s.events, 7);
    // The values line counts once among the lines and twice among the observations.
    assert_eq!(
        (
            s.accepted,
            s.registered,
            s.observed,
            s.observations,
            s.ticks
        ),
        (4, 1, 2, 3, 1)
    );
    assert_eq!(s.rejected_total(), 3);
    assert_eq!(s.rejected_by(ErrorKind::InvalidValue), 1);
    assert_eq!(s.rejected_by(ErrorKind::UnknownSystem), 1);
    assert_eq!(s.rejected_by(ErrorKind::MalformedJson), 1);
    assert_eq!(s.bytes, log.len() as u64);
    assert_eq!((s.first_ts, s.last_ts), (Some(10), Some(21)));
    let lines: Vec<u64> = c.rejected.iter().map(|(l, _)| *l).collect();
    assert_eq!(lines, vec![4, 5, 8]);
    assert_eq!(c.applied, vec![1, 3, 6, 9]);
    // safety incident: rule orange + system orange.
    assert_eq!(s.transitions_total(), 2);
    assert_eq!(s.transitions_to(Level::Orange), 2);
    assert_eq!(s.transitions[1][Level::Orange as usize], 1);
    assert_eq!(
        c.transitions[0].rule_id.as_deref(),
        Some("safety-incidents")
    );
}

#[test]
fn overlong_lines_are_skipped_without_being_held() {
    let big = format!(
        "{{\"ts\": 1, \"system\": \"{}\", \"signal\": \"heartbeat\"}}",
        "x".repeat(MAX_LINE_BYTES + 10)
    );
    let log = format!("{big}\n{{\"op\": \"tick\", \"ts\": 5}}\n");
    let mut r = Replayer::new(Policy::default_policy());
    let mut c = Collect::default();
    // A small buffer: the long line crosses many refills.
    r.run(BufReader::with_capacity(4096, log.as_bytes()), &mut c)
        .unwrap();
    assert_eq!(c.rejected.len(), 1);
    assert_eq!(c.rejected[0].0, 1);
    assert_eq!(c.rejected[0].1.kind, ErrorKind::TooLong);
    assert_eq!(c.applied, vec![2]);
    assert_eq!(r.stats().bytes, log.len() as u64);
}

#[test]
fn lines_split_across_buffer_refills_and_a_last_line_without_newline() {
    let mut log = String::new();
    log.push_str(&json!({"op": "register", "profile": profile("delivery-drone")}).to_string());
    log.push('\n');
    for i in 0..2000 {
        log.push_str(&format!(
            "{{\"ts\": {}, \"system\": \"delivery-drone\", \"signal\": \"operations\"}}\r\n",
            i * 1000
        ));
    }
    log.push_str(r#"{"op": "tick", "ts": 99999999}"#);
    for cap in [16, 100, 4096] {
        let mut r = Replayer::new(Policy::default_policy());
        let mut c = Collect::default();
        r.run(BufReader::with_capacity(cap, log.as_bytes()), &mut c)
            .unwrap();
        assert!(c.rejected.is_empty(), "cap {cap}: {:?}", c.rejected.first());
        assert_eq!(r.stats().accepted, 2002, "cap {cap}");
        assert_eq!(r.stats().ticks, 1);
        assert!(
            c.transitions
                .iter()
                .any(|t| t.rule_id.as_deref() == Some("heartbeat-silence")),
            "cap {cap}"
        );
    }
}

/// The replayer gives exactly the transitions of the same calls made on an engine.
#[test]
fn replay_equals_direct_engine_calls_on_the_demo_week() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds/demo/events.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut r = Replayer::new(Policy::default_policy());
    let mut c = Collect::default();
    r.run(text.as_bytes(), &mut c).unwrap();
    assert!(c.rejected.is_empty());

    let e = Engine::new(Policy::default_policy());
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        match v["op"].as_str().unwrap_or("observe") {
            "register" => {
                e.register(Profile::from_value(v["profile"].clone()).unwrap())
                    .unwrap();
            }
            "tick" => e.tick(v["ts"].as_i64().unwrap()),
            // The operators' acknowledgements and reports (they emit incident events only).
            "ack" => e
                .acknowledge(
                    v["incident"].as_str().unwrap(),
                    v["ts"].as_i64().unwrap(),
                    v["by"].as_str().unwrap(),
                )
                .unwrap(),
            "report" => e
                .file_report(
                    v["incident"].as_str().unwrap(),
                    airisk::ReportKind::from_name(v["kind"].as_str().unwrap()).unwrap(),
                    v["ts"].as_i64().unwrap(),
                    v["reference"].as_str().unwrap(),
                )
                .unwrap(),
            // One period's signals in one line: applied together.
            _ if v["values"].is_object() => {
                let h = e.system(v["system"].as_str().unwrap()).unwrap();
                let values: Vec<(airisk::SignalId, f64)> = v["values"]
                    .as_object()
                    .unwrap()
                    .iter()
                    .map(|(s, x)| (e.signal(s).unwrap(), x.as_f64().unwrap()))
                    .collect();
                e.observe_many(h, &values, v["ts"].as_i64().unwrap())
                    .unwrap();
            }
            _ => {
                let h = e.system(v["system"].as_str().unwrap()).unwrap();
                let s = e.signal(v["signal"].as_str().unwrap()).unwrap();
                e.observe(
                    h,
                    s,
                    v["value"].as_f64().unwrap_or(1.0),
                    v["ts"].as_i64().unwrap(),
                )
                .unwrap();
            }
        }
    }
    let mut direct = Vec::new();
    e.drain(&mut direct);
    assert_eq!(c.transitions, direct);

    // The demo week shows every colour, on rules and on systems, and ends quiet.
    for l in Level::WARNINGS {
        assert!(
            c.transitions
                .iter()
                .any(|t| t.to == l && t.scope == Scope::Rule),
            "no rule transition to {l}"
        );
        assert!(
            c.transitions
                .iter()
                .any(|t| t.to == l && t.scope == Scope::System),
            "no system transition to {l}"
        );
    }
    let systems: std::collections::BTreeSet<&str> =
        c.transitions.iter().map(|t| &*t.system_id).collect();
    assert!(systems.len() >= 6, "{systems:?}");
    // The policy's escalation shows: a system level above its highest rule level.
    assert!(c.transitions.iter().any(|t| t.scope == Scope::System
        && &*t.system_id == "government-service-assistant"
        && t.to == Level::Orange));
    for h in r.engine().systems() {
        assert_eq!(r.engine().system_level(h).unwrap(), Level::None);
    }
    // The two drift stories (seeds/demo/README.md, "Drift caught early"): the detector rule
    // reaches the level before the plain rule of its category does; the EWMA by days.
    let first = |system: &str, rule: &str, to: Level| {
        c.transitions
            .iter()
            .find(|t| &*t.system_id == system && t.rule_id.as_deref() == Some(rule) && t.to == to)
            .map(|t| t.ts)
            .unwrap_or_else(|| panic!("no {rule} → {to} on {system}"))
    };
    const DAY: i64 = 86_400_000;
    for (system, detector, plain, to, by) in [
        (
            "loan-approval-model",
            "selection-disparity-trend",
            "selection-disparity",
            Level::Blue,
            DAY,
        ),
        (
            "customer-service-voice-bot",
            "hallucination-drift",
            "hallucination-rate",
            Level::Yellow,
            0,
        ),
    ] {
        let (d, p) = (first(system, detector, to), first(system, plain, to));
        assert!(d + by < p, "{system}: {detector} at {d}, {plain} at {p}");
    }
    // One line per system and period: every observation line of the demo is batched.
    assert!(
        text.lines()
            .filter(|l| l.contains("\"system\""))
            .all(|l| l.contains("\"values\""))
    );
}

#[test]
fn a_replayer_can_wrap_an_engine_with_systems_already_registered() {
    let e = Engine::new(Policy::default_policy());
    e.register(Profile::from_value(profile("autonomous-bus")).unwrap())
        .unwrap();
    let mut r = Replayer::with_engine(e);
    let ev = parse_line(br#"{"ts": 0, "system": "autonomous-bus", "signal": "safety_incidents"}"#)
        .unwrap()
        .unwrap();
    assert_eq!(r.apply(&ev).unwrap(), Applied::Observed(Level::Orange));
    assert!(r.has_pending());
    let mut out = Vec::new();
    // The rule and system transitions, and the incident the orange warning opened.
    assert_eq!(r.take(&mut out), 3);
    assert!(!r.has_pending());
    assert_eq!(r.take(&mut out), 0);
    // The engine's sink is removed when the replayer lets it go.
    let e = r.into_engine();
    e.tick(10);
    let mut q = Vec::new();
    e.drain(&mut q);
    assert!(q.iter().all(|t| t.ts == 10));
}

#[test]
fn the_replayer_never_panics_on_odd_bytes() {
    let mut r = Replayer::new(Policy::default_policy());
    let reg = json!({"op": "register", "profile": profile("delivery-drone")}).to_string();
    r.apply_line(reg.as_bytes()).unwrap();
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let samples: &[&[u8]] = &[
        br#"{"ts":9223372036854775807,"system":"delivery-drone","signal":"operations"}"#,
        br#"{"ts":-9223372036854775808,"system":"delivery-drone","signal":"operations"}"#,
        br#"{"op":"tick","ts":-9223372036854775808}"#,
        br#"{"ts":1,"system":"delivery-drone","signal":"operations","value":1e308}"#,
        br#"{"ts":1,"system":"delivery-drone","signal":"operations","value":-0.0}"#,
        b"{\"ts\":1,\"system\":\"delivery-drone\",\"signal\":\"operations\"}\x00",
        b"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
    ];
    for s in samples {
        let _ = r.apply_line(s);
    }
    // Random mutations of a valid line.
    let base =
        br#"{"op":"observe","ts":123,"system":"delivery-drone","signal":"near_misses","value":2}"#;
    for _ in 0..5000 {
        let mut v = base.to_vec();
        for _ in 0..3 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let i = (seed as usize) % v.len();
            v[i] = (seed >> 32) as u8;
        }
        let _ = r.apply_line(&v);
    }
    assert!(r.stats().lines > 5000);
}
