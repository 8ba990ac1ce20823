//! Text rules shared by the scorers: Python-compatible whitespace, case
//! folding, punctuation stripping and number parsing.
//!
//! Inspect's scorers are written against Python's `str` methods and
//! `float()`. Scores only match Inspect's when those primitives behave the
//! same, so this module re-creates them (with tables generated from Python's
//! `unicodedata`, see `tools/gen_unicode_tables.py`) instead of using Rust's
//! slightly different notions of whitespace or lowercase.

mod numbers;
mod unicode_tables;

pub(crate) use numbers::{format_g, is_finite_number, is_number, normalize_number, py_float};

/// ASCII punctuation, as Python's `string.punctuation`.
pub(crate) const PY_PUNCTUATION: &str = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";

/// Python's `str.isspace`.
pub(crate) fn py_isspace(c: char) -> bool {
    if c.is_ascii() {
        return matches!(
            c,
            ' ' | '\t' | '\n' | '\r' | '\x0b' | '\x0c' | '\x1c'..='\x1f'
        );
    }
    unicode_tables::PY_SPACE.binary_search(&(c as u32)).is_ok()
}

/// Python's `str.splitlines()`: lines without their endings, split at every line boundary
/// Python knows (`\r\n` counts once); no empty last line for a trailing ending.
pub(crate) fn py_splitlines(s: &str) -> Vec<&str> {
    let is_break = |c: char| {
        matches!(
            c,
            '\n' | '\r'
                | '\x0b'
                | '\x0c'
                | '\x1c'
                | '\x1d'
                | '\x1e'
                | '\u{85}'
                | '\u{2028}'
                | '\u{2029}'
        )
    };
    let mut lines = Vec::new();
    let mut start = 0;
    let mut chars = s.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        if !is_break(c) {
            continue;
        }
        lines.push(&s[start..at]);
        start = at + c.len_utf8();
        if c == '\r' && matches!(chars.peek(), Some((_, '\n'))) {
            chars.next();
            start += 1;
        }
    }
    if start < s.len() {
        lines.push(&s[start..]);
    }
    lines
}

/// Python's `str.strip()` with no argument.
pub(crate) fn py_strip(s: &str) -> &str {
    s.trim_matches(py_isspace)
}

/// Python's `str.split()` with no argument: split on runs of whitespace.
pub(crate) fn py_split_whitespace(s: &str) -> impl Iterator<Item = &str> {
    s.split(py_isspace).filter(|part| !part.is_empty())
}

/// Python's `str.casefold`.
pub(crate) fn casefold(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_ascii() {
            out.push(c.to_ascii_lowercase());
            continue;
        }
        match unicode_tables::CASEFOLD.binary_search_by_key(&(c as u32), |&(cp, _)| cp) {
            Ok(idx) => out.push_str(unicode_tables::CASEFOLD[idx].1),
            Err(_) => out.extend(c.to_lowercase()),
        }
    }
    out
}

/// Python's `s.strip(string.whitespace + string.punctuation)`.
pub(crate) fn strip_punctuation(s: &str) -> &str {
    s.trim_matches(|c: char| {
        matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0b' | '\x0c') || PY_PUNCTUATION.contains(c)
    })
}

/// Inspect's `strip_numeric_punctuation`: drop currency symbols, thousands
/// separators and markdown emphasis, and a `.` that does not start a
/// fraction (so `"42."` reads as `42`).
pub(crate) fn strip_numeric_punctuation(s: &str) -> String {
    const STRIPPED: &[char] = &['$', ',', '£', '€', '*', '_'];
    let chars: Vec<char> = s.chars().collect();
    let mut unescaped = Vec::with_capacity(chars.len());
    let mut idx = 0;
    while idx < chars.len() {
        // A LaTeX escape such as `\$20` is the symbol itself.
        if chars[idx] == '\\' && idx + 1 < chars.len() && STRIPPED.contains(&chars[idx + 1]) {
            idx += 1;
        }
        unescaped.push(chars[idx]);
        idx += 1;
    }
    let kept: Vec<char> = unescaped
        .into_iter()
        .filter(|c| !STRIPPED.contains(c))
        .collect();
    let mut out = String::with_capacity(kept.len());
    for (idx, &c) in kept.iter().enumerate() {
        if c == '.' {
            let next_is_digit = kept.get(idx + 1).is_some_and(|&next| is_py_decimal(next));
            if !next_is_digit {
                continue;
            }
        }
        out.push(c);
    }
    out
}

/// The Unicode `decimal` value of a character (Python's `unicodedata.decimal`).
pub(crate) fn unicode_decimal(c: char) -> Option<u32> {
    if c.is_ascii_digit() {
        return c.to_digit(10);
    }
    numeric_entry(c).and_then(|(decimal, _, _)| u32::try_from(decimal).ok())
}

/// The Unicode `digit` value of a character (Python's `unicodedata.digit`).
pub(crate) fn unicode_digit(c: char) -> Option<u32> {
    if c.is_ascii_digit() {
        return c.to_digit(10);
    }
    numeric_entry(c).and_then(|(_, digit, _)| u32::try_from(digit).ok())
}

/// The Unicode `numeric` value of a character (Python's `unicodedata.numeric`).
pub(crate) fn unicode_numeric(c: char) -> Option<f64> {
    numeric_entry(c).map(|(_, _, numeric)| numeric)
}

/// Python's `str.isnumeric` for a whole string.
pub(crate) fn py_isnumeric(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| unicode_numeric(c).is_some())
}

/// Python's `\d` in a `str` pattern (a Unicode decimal digit).
pub(crate) fn is_py_decimal(c: char) -> bool {
    unicode_decimal(c).is_some()
}

fn numeric_entry(c: char) -> Option<(i8, i8, f64)> {
    let table = unicode_tables::NUMERIC;
    table
        .binary_search_by_key(&(c as u32), |entry| entry.0)
        .ok()
        .map(|idx| (table[idx].1, table[idx].2, table[idx].3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitlines_matches_python() {
        // Python: "a\nb\r\nc\rd\x0ce\u2028f\n".splitlines()
        assert_eq!(
            py_splitlines("a\nb\r\nc\rd\x0ce\u{2028}f\n"),
            ["a", "b", "c", "d", "e", "f"]
        );
        assert_eq!(py_splitlines("x\n\n"), ["x", ""]);
        assert!(py_splitlines("").is_empty());
        assert_eq!(py_splitlines("no end"), ["no end"]);
    }

    #[test]
    fn casefold_matches_python() {
        assert_eq!(casefold("Straße"), "strasse");
        assert_eq!(casefold("ΟΔΟΣ"), "οδοσ");
        assert_eq!(casefold("ABC"), "abc");
    }

    #[test]
    fn strip_punctuation_strips_both_ends_only() {
        assert_eq!(strip_punctuation("  (Paris!). "), "Paris");
        assert_eq!(strip_punctuation("a.b"), "a.b");
    }

    #[test]
    fn strip_numeric_punctuation_like_inspect() {
        assert_eq!(strip_numeric_punctuation("$1,000.50"), "1000.50");
        assert_eq!(strip_numeric_punctuation("42."), "42");
        assert_eq!(strip_numeric_punctuation("is 42. Done"), "is 42 Done");
        assert_eq!(strip_numeric_punctuation("\\$20"), "20");
        assert_eq!(strip_numeric_punctuation("**7**"), "7");
    }

    #[test]
    fn python_whitespace() {
        assert!(py_isspace('\u{1f}'));
        assert!(py_isspace('\u{3000}'));
        assert!(!py_isspace('\u{200b}'));
        assert_eq!(py_strip("\u{a0} x \n"), "x");
    }

    #[test]
    fn numeric_predicates() {
        assert!(py_isnumeric("12"));
        assert!(py_isnumeric("½"));
        assert!(!py_isnumeric("1a"));
    }
}
