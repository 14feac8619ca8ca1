//! Helpers shared by the subcommands: time formatting, HTML escaping, strict JSON.

use std::fmt::Write as _;

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// `ts_ms` as an ISO 8601 UTC time: `2026-03-02T14:05:00Z` (with `.123` when it has ms).
pub fn iso(ts_ms: i64) -> String {
    let secs = ts_ms.div_euclid(1000);
    let ms = ts_ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let mut s = format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        sod / 3600,
        sod / 60 % 60,
        sod % 60
    );
    if ms != 0 {
        let _ = write!(s, ".{ms:03}");
    }
    s.push('Z');
    s
}

/// A time for people: ISO UTC for epoch-like values, `+1d02:05:00` for small ones (test
/// files often count from 0).
pub fn when(ts_ms: i64) -> String {
    if ts_ms.unsigned_abs() >= 100_000_000_000 {
        iso(ts_ms)
    } else {
        let sign = if ts_ms < 0 { "-" } else { "+" };
        let a = ts_ms.unsigned_abs();
        let (d, rem) = (a / 86_400_000, a % 86_400_000);
        let (h, m, s, ms) = (
            rem / 3_600_000,
            rem / 60_000 % 60,
            rem / 1000 % 60,
            rem % 1000,
        );
        let mut out = String::from(sign);
        if d > 0 {
            let _ = write!(out, "{d}d");
        }
        let _ = write!(out, "{h:02}:{m:02}:{s:02}");
        if ms != 0 {
            let _ = write!(out, ".{ms:03}");
        }
        out
    }
}

/// A duration for people: `250ms`, `45s`, `5m`, `2h 30m`, `1d 4h`.
pub fn duration(ms: i64) -> String {
    if ms < 0 {
        return format!("-{}", duration(ms.saturating_neg()));
    }
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let s = ms / 1000;
    let (d, h, m, sec) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    let mut parts = Vec::new();
    if d > 0 {
        parts.push(format!("{d}d"));
    }
    if h > 0 {
        parts.push(format!("{h}h"));
    }
    if m > 0 {
        parts.push(format!("{m}m"));
    }
    if sec > 0 || parts.is_empty() {
        parts.push(format!("{sec}s"));
    }
    parts.truncate(2);
    parts.join(" ")
}

/// A number for people: integers without a fraction, others with up to 4 significant
/// decimals.
pub fn num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else if v.abs() >= 1.0 {
        format!("{v:.3}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_owned()
    } else {
        let s = format!("{v:.6}");
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    }
}

/// Escapes text for HTML element content and quoted attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' && c != '\t' => {
                let _ = write!(out, "&#x{:x};", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// The first duplicate key in any object of the JSON document `text`, as the profile and
/// policy loaders report one: `tests[0].profiles[1]: duplicate key "sector" at line 7
/// column 31` (the path of the object, then where the repeated key ends). `Ok` for a
/// document with none (or one that is not well-formed JSON: the reader that follows says
/// why).
pub fn check_duplicate_keys(text: &str) -> Result<(), String> {
    use serde::de::{Deserializer, MapAccess, SeqAccess, Visitor};
    struct Unique;
    impl<'de> serde::Deserialize<'de> for Unique {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_any(Unique)
        }
    }
    impl<'de> Visitor<'de> for Unique {
        type Value = Unique;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("any JSON value")
        }
        fn visit_bool<E>(self, _: bool) -> Result<Unique, E> {
            Ok(Unique)
        }
        fn visit_i64<E>(self, _: i64) -> Result<Unique, E> {
            Ok(Unique)
        }
        fn visit_u64<E>(self, _: u64) -> Result<Unique, E> {
            Ok(Unique)
        }
        fn visit_f64<E>(self, _: f64) -> Result<Unique, E> {
            Ok(Unique)
        }
        fn visit_str<E>(self, _: &str) -> Result<Unique, E> {
            Ok(Unique)
        }
        fn visit_unit<E>(self) -> Result<Unique, E> {
            Ok(Unique)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Unique, A::Error> {
            while seq.next_element::<Unique>()?.is_some() {}
            Ok(Unique)
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Unique, A::Error> {
            let mut seen = std::collections::HashSet::new();
            while let Some(k) = map.next_key::<String>()? {
                if !seen.insert(k.clone()) {
                    return Err(serde::de::Error::custom(format_args!(
                        "duplicate key {k:?}"
                    )));
                }
                map.next_value::<Unique>()?;
            }
            Ok(Unique)
        }
    }
    let mut de = serde_json::Deserializer::from_str(text);
    match serde_path_to_error::deserialize::<_, Unique>(&mut de) {
        Err(e) if e.inner().is_data() => {
            let path = e.path().to_string();
            if path == "." || path.is_empty() {
                Err(e.into_inner().to_string())
            } else {
                Err(format!("{path}: {}", e.into_inner()))
            }
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_times() {
        assert_eq!(iso(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso(1_764_374_400_000), "2025-11-29T00:00:00Z");
        assert_eq!(iso(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(iso(-1000), "1969-12-31T23:59:59Z");
        assert_eq!(when(300_000), "+00:05:00");
        assert_eq!(when(90_000_000), "+1d01:00:00");
        assert_eq!(duration(0), "0ms");
        assert_eq!(duration(3_600_000 * 26 + 60_000), "1d 2h");
        assert_eq!(duration(14_400_000), "4h");
        assert_eq!(num(0.061), "0.061");
        assert_eq!(num(3.0), "3");
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }

    #[test]
    fn duplicate_keys_are_found_anywhere_with_their_path() {
        assert_eq!(
            check_duplicate_keys(r#"{"a": [1, {"b": 2}], "c": {"a": 1}}"#),
            Ok(())
        );
        assert_eq!(
            check_duplicate_keys(r#"{"a": 1, "a": 2}"#),
            Err(r#"duplicate key "a" at line 1 column 12"#.into())
        );
        assert_eq!(
            check_duplicate_keys("{\"t\": [{}, {\"p\": [{\"x\": 1,\n \"x\": 1}]}]}"),
            Err(r#"t[1].p[0]: duplicate key "x" at line 2 column 4"#.into())
        );
        // Not JSON: left to the reader that follows.
        assert_eq!(check_duplicate_keys("{"), Ok(()));
    }
}
