//! `airisk classify --format table [--lang zh|en|both]`: a classification as a table for
//! people, with the policy's display names of grades, factors and prohibited uses in the
//! chosen language(s). Columns are aligned by display width (a CJK character takes two
//! columns).

use airisk::policy::I18n;
use airisk::{Classification, Factor, FactorKind, Profile};
use clap::ValueEnum;
use std::io::{self, Write};

/// The language of a table's labels and display names.
#[derive(Clone, Copy, PartialEq, Eq, Debug, ValueEnum)]
pub enum Lang {
    /// Chinese labels; names in Chinese, ids in parentheses
    Zh,
    /// English labels; names in English
    En,
    /// English labels; names in Chinese and English
    Both,
}

/// Columns a string takes in a terminal: 2 for wide (CJK, full-width) characters, else 1.
pub fn width(s: &str) -> usize {
    s.chars()
        .map(|c| {
            let u = c as u32;
            let wide = (0x1100..=0x115F).contains(&u)
                || (0x2E80..=0x303E).contains(&u)
                || (0x3041..=0x33FF).contains(&u)
                || (0x3400..=0x4DBF).contains(&u)
                || (0x4E00..=0x9FFF).contains(&u)
                || (0xA000..=0xA4CF).contains(&u)
                || (0xAC00..=0xD7A3).contains(&u)
                || (0xF900..=0xFAFF).contains(&u)
                || (0xFE30..=0xFE4F).contains(&u)
                || (0xFF00..=0xFF60).contains(&u)
                || (0xFFE0..=0xFFE6).contains(&u);
            if wide { 2 } else { 1 }
        })
        .sum()
}

/// `s` padded with spaces to `w` display columns.
fn pad(s: &str, w: usize) -> String {
    let mut out = s.to_owned();
    out.extend(std::iter::repeat_n(' ', w.saturating_sub(width(s))));
    out
}

/// `s` right-aligned in `w` display columns.
fn lpad(s: &str, w: usize) -> String {
    let mut out: String = std::iter::repeat_n(' ', w.saturating_sub(width(s))).collect();
    out.push_str(s);
    out
}

/// A display name in `lang`: zh or en (each falling back to the other), or both as
/// `zh / en`.
fn name(n: Option<&I18n>, lang: Lang) -> Option<String> {
    let n = n?;
    let (zh, en) = (n.zh.as_deref(), n.en.as_deref());
    match lang {
        Lang::Zh => zh.or(en).map(str::to_owned),
        Lang::En => en.or(zh).map(str::to_owned),
        Lang::Both => match (zh, en) {
            (Some(z), Some(e)) => Some(format!("{z} / {e}")),
            (z, e) => z.or(e).map(str::to_owned),
        },
    }
}

/// An id with its display name: `major (重大 / Major)` in English or both, `重大 (major)` in
/// Chinese; the id alone when the policy gives no name.
fn named(id: &str, n: Option<&I18n>, lang: Lang) -> String {
    match (name(n, lang), lang) {
        (None, _) => id.to_owned(),
        (Some(n), Lang::Zh) => format!("{n} ({id})"),
        (Some(n), _) => format!("{id} ({n})"),
    }
}

/// The labels of one language.
struct Labels {
    grade: &'static str,
    score: &'static str,
    by_score: &'static str,
    factor: &'static str,
    points: &'static str,
    basis: &'static str,
    floors: &'static str,
    no_floors: &'static str,
    prohibited: &'static str,
    refused: &'static str,
}

const EN: Labels = Labels {
    grade: "grade",
    score: "score",
    by_score: "by score alone: ",
    factor: "factor",
    points: "points",
    basis: "basis",
    floors: "floors that held:",
    no_floors: "floors that held: none",
    prohibited: "PROHIBITED",
    refused: "refused registration whatever the grade",
};

const ZH: Labels = Labels {
    grade: "等级",
    score: "得分",
    by_score: "仅按得分：",
    factor: "因素",
    points: "分值",
    basis: "依据",
    floors: "适用的底线：",
    no_floors: "适用的底线：无",
    prohibited: "禁止",
    refused: "不予登记（无论等级）",
};

fn kind(k: FactorKind, lang: Lang) -> &'static str {
    use FactorKind as K;
    match (k, lang) {
        (K::Sector, Lang::Zh) => "行业",
        (K::Capability, Lang::Zh) => "能力",
        (K::Data, Lang::Zh) => "数据",
        (K::Autonomy, Lang::Zh) => "自主程度",
        (K::Scale, Lang::Zh) => "规模",
        (K::VulnerableGroup, Lang::Zh) => "弱势群体",
        (K::Mitigation, Lang::Zh) => "缓解措施",
        (K::Sector, _) => "sector",
        (K::Capability, _) => "capability",
        (K::Data, _) => "data",
        (K::Autonomy, _) => "autonomy",
        (K::Scale, _) => "scale",
        (K::VulnerableGroup, _) => "vulnerable group",
        (K::Mitigation, _) => "mitigation",
    }
}

fn factor_label(f: &Factor, lang: Lang) -> String {
    let k = kind(f.kind, lang);
    if f.kind == FactorKind::Scale {
        let users = f.id.trim_start_matches("min_users ");
        match lang {
            Lang::Zh => format!("{k}（用户 ≥ {users}）"),
            _ => format!("{k} (users ≥ {users})"),
        }
    } else {
        format!("{k} {}", named(&f.id, f.name.as_deref(), lang))
    }
}

/// Writes `c`, the classification of `p`, as a table.
pub fn write(out: &mut impl Write, p: &Profile, c: &Classification, lang: Lang) -> io::Result<()> {
    let l = if lang == Lang::Zh { &ZH } else { &EN };
    match &p.name {
        Some(n) => writeln!(out, "{} — {n}", p.id)?,
        None => writeln!(out, "{}", p.id)?,
    }
    writeln!(
        out,
        "{} {}   {} {}   ({}{})",
        l.grade,
        named(&c.grade, c.grade_name.as_deref(), lang),
        l.score,
        c.score,
        l.by_score,
        named(&c.score_grade, c.score_grade_name.as_deref(), lang)
    )?;
    let labels: Vec<String> = c.factors.iter().map(|f| factor_label(f, lang)).collect();
    let w = labels
        .iter()
        .map(|s| width(s))
        .chain([width(l.factor), width(l.score)])
        .max()
        .unwrap_or(0);
    writeln!(
        out,
        "  {}  {}  {}",
        pad(l.factor, w),
        lpad(l.points, 6),
        l.basis
    )?;
    for (f, label) in c.factors.iter().zip(&labels) {
        writeln!(
            out,
            "  {}  {:>+6}  {}",
            pad(label, w),
            f.points,
            f.basis.as_deref().unwrap_or("—")
        )?;
    }
    writeln!(out, "  {}  {:>6}", pad(l.score, w), c.score)?;
    if c.floors.is_empty() {
        writeln!(out, "  {}", l.no_floors)?;
    } else {
        writeln!(out, "  {}", l.floors)?;
        let fw = c.floors.iter().map(|f| width(&f.id)).max().unwrap_or(0);
        let grades: Vec<String> = c
            .floors
            .iter()
            .map(|f| named(&f.grade_id, f.grade_name.as_deref(), lang))
            .collect();
        let gw = grades.iter().map(|g| width(g)).max().unwrap_or(0);
        for (f, g) in c.floors.iter().zip(&grades) {
            writeln!(
                out,
                "    {}  ≥ {}  {}",
                pad(&f.id, fw),
                pad(g, gw),
                f.basis.as_deref().unwrap_or("—")
            )?;
        }
    }
    if let Some(x) = &c.prohibited {
        let sep = if lang == Lang::Zh { "：" } else { ": " };
        writeln!(
            out,
            "  {}{sep}{} — {}",
            l.prohibited,
            named(&x.id, x.name.as_deref(), lang),
            l.refused
        )?;
        writeln!(out, "    {} {}", l.basis, x.basis.as_deref().unwrap_or("—"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cjk_takes_two_columns() {
        assert_eq!(width("abc"), 3);
        assert_eq!(width("重大"), 4);
        assert_eq!(width("行业 临床诊疗 (x)"), 2 * 2 + 1 + 4 * 2 + 4);
        assert_eq!(pad("重大", 6), "重大  ");
        assert_eq!(lpad("分值", 6), "  分值");
    }

    #[test]
    fn names_fall_back_and_combine() {
        let both = I18n {
            zh: Some("重大".into()),
            en: Some("Major".into()),
        };
        let en_only = I18n {
            zh: None,
            en: Some("Major".into()),
        };
        assert_eq!(named("major", Some(&both), Lang::Zh), "重大 (major)");
        assert_eq!(named("major", Some(&both), Lang::En), "major (Major)");
        assert_eq!(
            named("major", Some(&both), Lang::Both),
            "major (重大 / Major)"
        );
        assert_eq!(named("major", Some(&en_only), Lang::Zh), "Major (major)");
        assert_eq!(named("major", Some(&en_only), Lang::Both), "major (Major)");
        assert_eq!(named("major", None, Lang::Zh), "major");
    }
}
