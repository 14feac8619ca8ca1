//! The metrics exposition: the engine's levels, counters and open incidents in the
//! OpenMetrics 1.0 text format (what Prometheus, Grafana Agent, VictoriaMetrics and the
//! OpenTelemetry collector scrape), and in the older Prometheus text format 0.0.4 (what the
//! node_exporter textfile collector and `promtool check metrics` read).
//!
//! The families, in this order:
//!
//! | family | type | labels | value |
//! | --- | --- | --- | --- |
//! | `airisk_system_level` | gauge | `system`, `grade` | the system's level: 0 none, 1 blue, 2 yellow, 3 orange, 4 red |
//! | `airisk_rule_level` | gauge | `system`, `rule`, `category` | each rule's level on each system (same scale) |
//! | `airisk_systems` | gauge | | systems registered |
//! | `airisk_observations` | counter | | observations accepted |
//! | `airisk_rejected` | counter | `reason` (`stale`, `invalid`) | observations rejected |
//! | `airisk_transitions` | counter | `to` (`none` … `red`) | transitions emitted, rule and system scope |
//! | `airisk_dropped` | counter | | transitions that found the queue full |
//! | `airisk_incident_events_dropped` | counter | | incident events that found their queue full |
//! | `airisk_incidents_open` | gauge | `severity` | incidents not closed, by severity (policies with `incidents`) |
//! | `airisk_reports_overdue` | gauge | `report` (`ack`, `initial`, `update`, `final`) | duties of incidents not closed whose deadline has passed unfiled (policies with `incidents`) |
//!
//! Counters carry the `_total` suffix on their samples; in OpenMetrics the `# HELP` and
//! `# TYPE` lines name the family without it, in the 0.0.4 format with it.

use crate::engine::Engine;
use crate::handle::SystemHandle;
use crate::incident::DueKind;
use crate::level::Level;
use crate::policy::{Compiled, Policy};
use std::fmt::{self, Write};
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// Which text format to write.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    /// OpenMetrics 1.0 (`application/openmetrics-text; version=1.0.0`).
    OpenMetrics,
    /// Prometheus text format 0.0.4 (`text/plain; version=0.0.4`).
    Prometheus,
}

/// Severities counted per pass over the systems (a policy with more takes more passes).
const SEV_CHUNK: usize = 16;

/// Whether `s` has a byte a label value must escape (`\\`, `"`, line feed), eight bytes
/// at a time (ids rarely have one; this keeps the common case to a scan and one copy).
fn needs_escape(s: &str) -> bool {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let has =
        |x: u64, b: u8| (x ^ (LO * b as u64)).wrapping_sub(LO) & !(x ^ (LO * b as u64)) & HI != 0;
    let bytes = s.as_bytes();
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let x = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        if has(x, b'\\') || has(x, b'"') || has(x, b'\n') {
            return true;
        }
    }
    chunks
        .remainder()
        .iter()
        .any(|&b| b == b'\\' || b == b'"' || b == b'\n')
}

/// Writes `s` as a label value: `\\`, `"` and line feeds escaped (both formats).
fn label_value<W: Write>(w: &mut W, s: &str) -> fmt::Result {
    if !needs_escape(s) {
        return w.write_str(s);
    }
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let esc = match b {
            b'\\' => "\\\\",
            b'"' => "\\\"",
            b'\n' => "\\n",
            _ => continue,
        };
        w.write_str(&s[start..i])?;
        w.write_str(esc)?;
        start = i + 1;
    }
    w.write_str(&s[start..])
}

/// A level's value and the line's end.
const DIGITS: [&str; 5] = ["0\n", "1\n", "2\n", "3\n", "4\n"];

/// A label value known clean (written as is) or to be escaped.
#[inline]
fn label<W: Write>(w: &mut W, s: &str, clean: bool) -> fmt::Result {
    if clean {
        w.write_str(s)
    } else {
        label_value(w, s)
    }
}

/// Writes `v` in decimal without the formatting machinery (one call per sample).
fn write_u64<W: Write>(w: &mut W, mut v: u64) -> fmt::Result {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    // Only ASCII digits were written.
    w.write_str(std::str::from_utf8(&buf[i..]).unwrap_or("0"))
}

/// The metadata lines of a family. `name` is the family's name (without `_total`);
/// counters' lines name `name_total` in the 0.0.4 format.
fn family<W: Write>(w: &mut W, f: Format, name: &str, kind: &str, help: &str) -> fmt::Result {
    let suffix = if kind == "counter" && f == Format::Prometheus {
        "_total"
    } else {
        ""
    };
    writeln!(w, "# HELP {name}{suffix} {help}")?;
    writeln!(w, "# TYPE {name}{suffix} {kind}")
}

/// One sample with labels given as (name, value) pairs.
fn sample<W: Write>(w: &mut W, name: &str, labels: &[(&str, &str)], value: u64) -> fmt::Result {
    w.write_str(name)?;
    if !labels.is_empty() {
        w.write_char('{')?;
        for (i, (k, v)) in labels.iter().enumerate() {
            if i > 0 {
                w.write_char(',')?;
            }
            w.write_str(k)?;
            w.write_str("=\"")?;
            label_value(w, v)?;
            w.write_char('"')?;
        }
        w.write_char('}')?;
    }
    w.write_char(' ')?;
    write_u64(w, value)?;
    w.write_char('\n')
}

/// A `fmt::Write` that only counts bytes (the first pass of the C function).
#[derive(Default)]
pub(crate) struct Count(pub usize);

impl Write for Count {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0 += s.len();
        Ok(())
    }
}

impl Engine {
    /// Appends the engine's metrics to `out` in the OpenMetrics 1.0 text format, ending
    /// with `# EOF`: each system's level and grade, each rule's level on each system, the
    /// counters of [`Engine::stats`] and, under a policy with `incidents`, the incidents
    /// not closed by severity and the reporting duties overdue. Serve it with the content
    /// type `application/openmetrics-text; version=1.0.0; charset=utf-8`.
    ///
    /// ```
    /// use airisk::{Engine, Policy, Profile};
    /// let engine = Engine::new(Policy::default_policy());
    /// engine.register(Profile::from_json(r#"{"id": "bus-1", "sector": "autonomous_driving",
    ///     "data": "personal", "autonomy": "autonomous", "users": 20000}"#)?)?;
    /// let mut text = String::new();
    /// engine.render_openmetrics(&mut text);
    /// let grade = engine.system_profile(engine.system("bus-1").unwrap())?.0;
    /// let grade = engine.policy().grades()[grade as usize].id.clone();
    /// assert!(text.contains(&format!("airisk_system_level{{system=\"bus-1\",grade=\"{grade}\"}} 0\n")));
    /// assert!(text.contains("# TYPE airisk_observations counter\nairisk_observations_total 0\n"));
    /// assert!(text.ends_with("# EOF\n"));
    /// # Ok::<(), airisk::Error>(())
    /// ```
    ///
    /// Levels are numbers (0 none, 1 blue, 2 yellow, 3 orange, 4 red), so an alert reads
    /// `airisk_system_level >= 3`. Systems come in registration order, rules in policy
    /// order; a system is read under its shard's lock, so each line is consistent, but the
    /// text is not one atomic cut of a running engine. `airisk_transitions_total` counts
    /// since the engine was made (a restored engine starts it again at 0, which Prometheus
    /// reads as a counter reset); the other counters continue across snapshots.
    ///
    /// Performs no heap allocation when `out` has the capacity for the text (reuse one
    /// `String`, cleared, between scrapes).
    pub fn render_openmetrics(&self, out: &mut String) {
        // Writing to a `String` cannot fail.
        let _ = self.write_metrics(out, Format::OpenMetrics);
    }

    /// Appends the same metrics as [`Engine::render_openmetrics`] in the Prometheus text
    /// format 0.0.4 (`text/plain; version=0.0.4`): counters' `# HELP` and `# TYPE` lines
    /// name the `_total` sample, and there is no `# EOF`. For readers of that older format:
    /// the node_exporter textfile collector, `promtool check metrics`, scrapers that do not
    /// ask for OpenMetrics. Allocation-free like it.
    pub fn render_prometheus(&self, out: &mut String) {
        let _ = self.write_metrics(out, Format::Prometheus);
    }

    /// The OpenMetrics text written to any `fmt::Write` (the C function writes it straight
    /// into the caller's buffer).
    pub(crate) fn write_openmetrics<W: Write>(&self, w: &mut W) -> fmt::Result {
        self.write_metrics(w, Format::OpenMetrics)
    }

    fn write_metrics<W: Write>(&self, w: &mut W, f: Format) -> fmt::Result {
        let n = self.count.load(Ordering::Acquire);
        let handles = (0..n).map(SystemHandle);

        family(
            w,
            f,
            "airisk_system_level",
            "gauge",
            "Warning level of each system: 0 none, 1 blue (IV), 2 yellow (III), 3 orange (II), 4 red (I).",
        )?;
        for h in handles.clone() {
            let mut shard = self.shard(h).lock();
            let Some(sys) = shard.sys(h) else { continue };
            let grade = &sys.policy.grades[sys.arena.grade() as usize].id;
            let level = sys.arena.level() as u64;
            sample(
                w,
                "airisk_system_level",
                &[("system", sys.id), ("grade", grade)],
                level,
            )?;
        }

        family(
            w,
            f,
            "airisk_rule_level",
            "gauge",
            "Warning level of each rule on each system: 0 none, 1 blue, 2 yellow, 3 orange, 4 red.",
        )?;
        // The hot family (systems × rules lines): pieces written whole, ids scanned for
        // escapes once per system (the system id) and once per policy (rule and category
        // ids), not once per line.
        // (The policy is held, so a reload during the scrape cannot free it and put another
        // at its address.)
        let mut policy_seen: Option<(Policy, bool)> = None;
        for h in handles.clone() {
            let mut shard = self.shard(h).lock();
            let ids_clean = match &policy_seen {
                Some((q, clean)) if Arc::ptr_eq(&q.0, &shard.policy.0) => *clean,
                _ => {
                    let p: &Compiled = &shard.policy.0;
                    let clean = !p.rules.iter().any(|r| needs_escape(&r.id))
                        && !p.categories.iter().any(|c| needs_escape(&c.id));
                    policy_seen = Some((shard.policy.clone(), clean));
                    clean
                }
            };
            let Some(sys) = shard.sys(h) else { continue };
            let p: &Compiled = sys.policy;
            let sys_clean = !needs_escape(sys.id);
            for (r, rule) in p.rules.iter().enumerate() {
                w.write_str("airisk_rule_level{system=\"")?;
                label(w, sys.id, sys_clean)?;
                w.write_str("\",rule=\"")?;
                label(w, &rule.id, ids_clean)?;
                if let Some(c) = rule.category {
                    w.write_str("\",category=\"")?;
                    label(w, &p.categories[c as usize].id, ids_clean)?;
                }
                w.write_str("\"} ")?;
                w.write_str(DIGITS[sys.arena.rule_level(r) as usize])?;
            }
        }

        let st = self.stats();
        family(w, f, "airisk_systems", "gauge", "Systems registered.")?;
        sample(w, "airisk_systems", &[], st.systems)?;
        family(
            w,
            f,
            "airisk_observations",
            "counter",
            "Observations accepted.",
        )?;
        sample(w, "airisk_observations_total", &[], st.observed)?;
        family(
            w,
            f,
            "airisk_rejected",
            "counter",
            "Observations rejected: stale (its bucket had left the window) or invalid (non-finite value, negative counter, unknown system or signal).",
        )?;
        sample(
            w,
            "airisk_rejected_total",
            &[("reason", "stale")],
            st.rejected_stale,
        )?;
        sample(
            w,
            "airisk_rejected_total",
            &[("reason", "invalid")],
            st.rejected_invalid,
        )?;
        family(
            w,
            f,
            "airisk_transitions",
            "counter",
            "Transitions emitted (rule and system scope, delivered or dropped), by new level.",
        )?;
        for l in Level::ALL {
            let v = self.transitions_to[l as usize].load(Ordering::Relaxed);
            sample(w, "airisk_transitions_total", &[("to", l.name())], v)?;
        }
        family(
            w,
            f,
            "airisk_dropped",
            "counter",
            "Transitions that found the queue full (their seq numbers are skipped).",
        )?;
        sample(w, "airisk_dropped_total", &[], st.dropped)?;
        family(
            w,
            f,
            "airisk_incident_events_dropped",
            "counter",
            "Incident events that found the incident queue full.",
        )?;
        sample(
            w,
            "airisk_incident_events_dropped_total",
            &[],
            st.incidents_dropped,
        )?;

        let policy = self.policy();
        if let Some(ip) = policy.incidents() {
            family(
                w,
                f,
                "airisk_incidents_open",
                "gauge",
                "Incidents not closed (open, or resolved and awaiting the final report), by severity.",
            )?;
            // Overdue duties by kind, counted in the first pass.
            let mut overdue = [0u64; 4];
            for (chunk, sevs) in ip.severities.chunks(SEV_CHUNK).enumerate() {
                let base = chunk * SEV_CHUNK;
                let mut open = [0u64; SEV_CHUNK];
                for h in handles.clone() {
                    let mut shard = self.shard(h).lock();
                    let Some(sys) = shard.sys(h) else { continue };
                    let Some(st) = sys.incidents.state.as_deref() else {
                        continue;
                    };
                    for inc in &st.live {
                        let r = inc.severity_rank as usize;
                        if (base..base + SEV_CHUNK).contains(&r) {
                            open[r - base] += 1;
                        }
                        if chunk == 0 {
                            for o in inc.owed.iter().filter(|o| o.overdue) {
                                overdue[due_index(o.due.report)] += 1;
                            }
                        }
                    }
                }
                for (s, count) in sevs.iter().zip(open) {
                    sample(w, "airisk_incidents_open", &[("severity", &s.id)], count)?;
                }
            }
            family(
                w,
                f,
                "airisk_reports_overdue",
                "gauge",
                "Duties of incidents not closed whose deadline passed unfiled: the acknowledgement and the initial, update and final reports.",
            )?;
            for (k, v) in ["ack", "initial", "update", "final"].iter().zip(overdue) {
                sample(w, "airisk_reports_overdue", &[("report", k)], v)?;
            }
        }
        if f == Format::OpenMetrics {
            w.write_str("# EOF\n")?;
        }
        Ok(())
    }
}

fn due_index(k: DueKind) -> usize {
    match k {
        DueKind::Ack => 0,
        DueKind::Initial => 1,
        DueKind::Update => 2,
        DueKind::Final => 3,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        let mut s = String::new();
        label_value(&mut s, "a\"b\\c\nd é").unwrap();
        assert_eq!(s, "a\\\"b\\\\c\\nd é");
        let mut s = String::new();
        sample(&mut s, "x", &[("a", "1"), ("b", "\"")], 7).unwrap();
        assert_eq!(s, "x{a=\"1\",b=\"\\\"\"} 7\n");
    }

    #[test]
    fn escape_scan_finds_every_position() {
        for len in 0..20 {
            let clean = "a".repeat(len);
            assert!(!needs_escape(&clean));
            for at in 0..len {
                for c in ['\\', '"', '\n'] {
                    let mut t: Vec<char> = clean.chars().collect();
                    t[at] = c;
                    let t: String = t.into_iter().collect();
                    assert!(needs_escape(&t), "{t:?}");
                }
            }
        }
        // Bytes next to the escaped ones (0x5b, 0x21, 0x0b) and multi-byte UTF-8 are clean.
        assert!(!needs_escape("[!\u{b}é幻觉率-abc_def"));
        for v in [0, 7, 10, 99, 12345, u64::MAX] {
            let mut s = String::new();
            write_u64(&mut s, v).unwrap();
            assert_eq!(s, v.to_string());
        }
    }
}
