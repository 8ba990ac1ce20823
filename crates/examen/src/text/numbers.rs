//! Number parsing as Inspect's numeric scorers see it: Python's `float()`,
//! then Inspect's `unicode_number_to_float` fallback (Unicode minus signs,
//! vulgar fractions, superscript exponents, digits of any script, locale
//! grouping and Chinese numerals), and `format(x, ".5g")` normalisation.

use super::{py_isspace, unicode_decimal, unicode_digit, unicode_numeric};

/// Python's `float(s)`: `None` where Python raises `ValueError`.
/// Non-finite results (`inf`, `nan`) are returned as such.
pub(crate) fn py_float(s: &str) -> Option<f64> {
    // Python maps every Unicode decimal digit to ASCII and every space to ' '
    // before parsing, then strips the spaces.
    let mut ascii = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_ascii() {
            ascii.push(c);
        } else if let Some(d) = unicode_decimal(c) {
            ascii.push(char::from_digit(d, 10)?);
        } else if py_isspace(c) {
            ascii.push(' ');
        } else {
            return None;
        }
    }
    let trimmed = ascii.trim_matches(|c: char| py_isspace(c));
    let (sign, body) = match trimmed.as_bytes().first() {
        Some(b'+') => (1.0, &trimmed[1..]),
        Some(b'-') => (-1.0, &trimmed[1..]),
        _ => (1.0, trimmed),
    };
    let lower = body.to_ascii_lowercase();
    match lower.as_str() {
        "inf" | "infinity" => return Some(sign * f64::INFINITY),
        "nan" => return Some(f64::NAN),
        _ => {}
    }
    let cleaned = validate_decimal_literal(body)?;
    cleaned.parse::<f64>().ok().map(|v| sign * v)
}

/// Checks Python's float grammar (digits with single underscores between
/// them, optional fraction, optional exponent) and returns it without
/// underscores.
fn validate_decimal_literal(body: &str) -> Option<String> {
    let bytes = body.as_bytes();
    let mut idx = 0;
    let mut out = String::with_capacity(body.len());

    fn digit_part(bytes: &[u8], idx: &mut usize, out: &mut String) -> bool {
        let start = *idx;
        while *idx < bytes.len() {
            let b = bytes[*idx];
            if b.is_ascii_digit() {
                out.push(b as char);
                *idx += 1;
            } else if b == b'_'
                && *idx > start
                && bytes[*idx - 1].is_ascii_digit()
                && bytes.get(*idx + 1).is_some_and(u8::is_ascii_digit)
            {
                *idx += 1;
            } else {
                break;
            }
        }
        *idx > start
    }

    let has_int = digit_part(bytes, &mut idx, &mut out);
    let mut has_frac = false;
    if bytes.get(idx) == Some(&b'.') {
        out.push('.');
        idx += 1;
        has_frac = digit_part(bytes, &mut idx, &mut out);
    }
    if !has_int && !has_frac {
        return None;
    }
    if matches!(bytes.get(idx), Some(b'e' | b'E')) {
        out.push('e');
        idx += 1;
        if let Some(&sign @ (b'+' | b'-')) = bytes.get(idx) {
            out.push(sign as char);
            idx += 1;
        }
        if !digit_part(bytes, &mut idx, &mut out) {
            return None;
        }
    }
    (idx == bytes.len()).then_some(out)
}

/// Inspect's `is_finite_number`: `float(s)` succeeds and is finite.
pub(crate) fn is_finite_number(s: &str) -> bool {
    py_float(s).is_some_and(f64::is_finite)
}

/// Sentence and enclosing punctuation trimmed from a numeric word (operator
/// characters such as `<` or `~` are kept: they hedge the value).
const NUMERIC_PUNCTUATION_TRIM: &[char] = &[
    '!', '?', ':', ';', '(', ')', '[', ']', '{', '}', '\'', '"', '`',
];

/// Inspect's `_parse_number`: a finite number, or `None`.
pub(crate) fn parse_number(s: &str, trim_punctuation: bool) -> Option<f64> {
    let cleaned = if trim_punctuation {
        s.trim_matches(NUMERIC_PUNCTUATION_TRIM)
    } else {
        s
    };
    if let Some(v) = py_float(cleaned).filter(|v| v.is_finite()) {
        return Some(v);
    }
    unicode_number_to_float(cleaned).filter(|v| v.is_finite())
}

/// Inspect's `_is_number`.
pub(crate) fn is_number(s: &str) -> bool {
    parse_number(s, true).is_some()
}

/// Inspect's `normalize_number`: `format(x, ".5g")`, or the text unchanged
/// when it is not a number.
pub(crate) fn normalize_number(s: &str, trim_punctuation: bool) -> String {
    match parse_number(s, trim_punctuation) {
        Some(v) => format_g(v, 5),
        None => s.to_string(),
    }
}

/// Python's `format(x, f".{precision}g")`.
pub(crate) fn format_g(x: f64, precision: usize) -> String {
    let precision = precision.max(1);
    if x.is_nan() {
        return "nan".to_string();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf" } else { "-inf" }.to_string();
    }
    if x == 0.0 {
        return if x.is_sign_negative() { "-0" } else { "0" }.to_string();
    }
    let sci = format!("{:.*e}", precision - 1, x);
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i64 = exp.parse().unwrap_or(0);
    let precision_i = i64::try_from(precision).unwrap_or(i64::MAX);
    if (-4..precision_i).contains(&exp) {
        let decimals = usize::try_from(precision_i - 1 - exp).unwrap_or(0);
        let fixed = format!("{x:.decimals$}");
        trim_fraction_zeros(&fixed)
    } else {
        let mantissa = trim_fraction_zeros(mantissa);
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.abs())
    }
}

fn trim_fraction_zeros(s: &str) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s.to_string()
    }
}

const MINUS_CHARS: &[char] = &['-', '\u{2212}', '\u{fe63}', '\u{ff0d}'];
const PLUS_CHARS: &[char] = &['+', '\u{ff0b}', '\u{fe62}'];
const DECIMAL_SEP_EXTRAS: &[char] = &['\u{66b}', '\u{ff0e}'];
const GROUP_SEPARATORS: &[char] = &[
    ',', '\u{ff0c}', '\u{fe50}', '\u{3001}', '\u{66c}', ' ', '\u{a0}', '\u{202f}', '\u{2009}',
    '\u{2007}', '\u{2008}', '\'', '\u{2019}', '\u{2bc}', '\u{ff07}',
];
const SUPERSCRIPT_DIGITS: &[char] = &[
    '\u{2070}', '\u{b9}', '\u{b2}', '\u{b3}', '\u{2074}', '\u{2075}', '\u{2076}', '\u{2077}',
    '\u{2078}', '\u{2079}',
];
const CH_NEG: &[char] = &['负', '負'];
const CH_POS: &[char] = &['正'];
const CH_DEC_WORDS: &[char] = &['点', '點'];

fn ch_digit(c: char) -> Option<u64> {
    Some(match c {
        '零' | '〇' | '○' => 0,
        '一' | '壹' | '幺' => 1,
        '二' | '贰' | '貳' | '两' | '兩' => 2,
        '三' | '叁' | '參' => 3,
        '四' | '肆' => 4,
        '五' | '伍' => 5,
        '六' | '陆' | '陸' => 6,
        '七' | '柒' => 7,
        '八' | '捌' => 8,
        '九' | '玖' => 9,
        _ => return None,
    })
}

fn ch_alt_tens(c: char) -> Option<u64> {
    Some(match c {
        '廿' => 20,
        '卅' => 30,
        '卌' => 40,
        _ => return None,
    })
}

fn ch_small_unit(c: char) -> Option<u64> {
    Some(match c {
        '十' | '拾' => 10,
        '百' | '佰' => 100,
        '千' | '仟' => 1000,
        _ => return None,
    })
}

fn ch_large_unit(c: char) -> Option<u64> {
    Some(match c {
        '万' | '萬' => 10_000,
        '亿' | '億' => 100_000_000,
        '兆' => 1_000_000_000_000,
        _ => return None,
    })
}

/// Inspect's `unicode_number_to_float`.
pub(crate) fn unicode_number_to_float(s: &str) -> Option<f64> {
    let text = s.trim_matches(py_isspace);
    if text.is_empty() {
        return None;
    }
    let (text, negative) = consume_leading_signs(text);
    let signed = |v: f64| if negative { -v } else { v };

    let chars: Vec<char> = text.chars().collect();
    if chars.len() == 1 {
        if let Some(v) = unicode_numeric(chars[0]) {
            return Some(signed(v));
        }
    }
    let (base_text, exponent) = split_superscript_exponent(&chars)?;
    let base = signed(parse_with_vulgar_fraction(&base_text)?);
    match exponent {
        Some(exp) => Some(base.powi(i32::try_from(exp).ok()?)),
        None => Some(base),
    }
}

fn consume_leading_signs(s: &str) -> (&str, bool) {
    let mut negative = false;
    let mut text = s.trim_start_matches(py_isspace);
    while let Some(c) = text.chars().next() {
        if MINUS_CHARS.contains(&c) || CH_NEG.contains(&c) {
            negative = !negative;
        } else if !(PLUS_CHARS.contains(&c) || CH_POS.contains(&c)) {
            break;
        }
        text = text[c.len_utf8()..].trim_start_matches(py_isspace);
    }
    (text, negative)
}

/// Splits a trailing superscript exponent (`³`, `⁻²`). The outer `None`
/// means the text is not a number at all.
fn split_superscript_exponent(chars: &[char]) -> Option<(Vec<char>, Option<i64>)> {
    let stripped = |cs: &[char]| -> Vec<char> {
        let start = cs.iter().position(|&c| !py_isspace(c)).unwrap_or(cs.len());
        let end = cs
            .iter()
            .rposition(|&c| !py_isspace(c))
            .map_or(start, |e| e + 1);
        cs[start..end.max(start)].to_vec()
    };
    let mut end = chars.len();
    while end > 0 && (py_isspace(chars[end - 1]) || GROUP_SEPARATORS.contains(&chars[end - 1])) {
        end -= 1;
    }
    if end == 0 {
        return Some((stripped(chars), None));
    }
    let mut start = end;
    while start > 0 && SUPERSCRIPT_DIGITS.contains(&chars[start - 1]) {
        start -= 1;
    }
    if start == end {
        return Some((stripped(chars), None));
    }
    if start > 0 && matches!(chars[start - 1], '\u{207b}' | '\u{207a}') {
        start -= 1;
    }
    let base: Vec<char> = {
        let mut b = chars[..start].to_vec();
        while b.last().is_some_and(|&c| py_isspace(c)) {
            b.pop();
        }
        b
    };
    if base.is_empty() {
        return Some((stripped(chars), None));
    }
    let mut exp_text = String::new();
    for &c in &chars[start..end] {
        match c {
            '\u{207b}' => exp_text.push('-'),
            '\u{207a}' => exp_text.push('+'),
            _ => exp_text.push(char::from_digit(unicode_digit(c)?, 10)?),
        }
    }
    let exponent: i64 = exp_text.parse().ok()?;
    Some((base, Some(exponent)))
}

fn fraction_char_value(c: char) -> Option<f64> {
    unicode_numeric(c).filter(|v| *v > 0.0 && *v < 1.0)
}

fn parse_with_vulgar_fraction(chars: &[char]) -> Option<f64> {
    if chars.is_empty() {
        return None;
    }
    let hits: Vec<(usize, f64)> = chars
        .iter()
        .enumerate()
        .filter_map(|(idx, &c)| fraction_char_value(c).map(|v| (idx, v)))
        .collect();
    match hits.as_slice() {
        [] => parse_core_number(chars),
        [(idx, frac)] => {
            let tail = &chars[idx + 1..];
            if tail
                .iter()
                .any(|&c| !(py_isspace(c) || GROUP_SEPARATORS.contains(&c)))
            {
                return None;
            }
            let head = trim_chars(&chars[..*idx]);
            let head_value = if head.is_empty() {
                0.0
            } else {
                parse_core_number(head)?
            };
            Some(head_value + frac)
        }
        _ => None,
    }
}

fn trim_chars(chars: &[char]) -> &[char] {
    let start = chars
        .iter()
        .position(|&c| !py_isspace(c))
        .unwrap_or(chars.len());
    let end = chars
        .iter()
        .rposition(|&c| !py_isspace(c))
        .map_or(start, |e| e + 1);
    &chars[start..end.max(start)]
}

fn parse_core_number(chars: &[char]) -> Option<f64> {
    let chars = trim_chars(chars);
    if chars.is_empty() {
        return None;
    }
    if looks_like_chinese_numeral(chars) {
        if let Some(v) = parse_chinese_number(chars) {
            return Some(v);
        }
    }
    if let Some(v) = parse_generic_unicode_digits(chars) {
        return Some(v);
    }
    if chars.len() == 1 {
        return unicode_numeric(chars[0]);
    }
    None
}

fn looks_like_chinese_numeral(chars: &[char]) -> bool {
    chars.iter().any(|&c| {
        ch_digit(c).is_some()
            || ch_small_unit(c).is_some()
            || ch_large_unit(c).is_some()
            || ch_alt_tens(c).is_some()
            || CH_DEC_WORDS.contains(&c)
            || CH_NEG.contains(&c)
            || CH_POS.contains(&c)
    })
}

fn char_to_ascii_digit(c: char) -> Option<u32> {
    if c.is_ascii_digit() {
        return c.to_digit(10);
    }
    unicode_decimal(c)
        .or_else(|| unicode_digit(c))
        .or_else(|| ch_digit(c).and_then(|d| u32::try_from(d).ok()))
}

fn parse_generic_unicode_digits(chars: &[char]) -> Option<f64> {
    let last_dot = chars.iter().rposition(|&c| c == '.');
    let last_comma = chars.iter().rposition(|&c| c == ',');
    let decimal_char = match (last_dot, last_comma) {
        (Some(dot), Some(comma)) => Some(if dot > comma { '.' } else { ',' }),
        (Some(_), None) => Some('.'),
        (None, Some(comma)) => {
            let tail_digits = chars[comma + 1..]
                .iter()
                .filter(|&&c| char_to_ascii_digit(c).is_some())
                .count();
            ((1..=3).contains(&tail_digits)).then_some(',')
        }
        (None, None) => None,
    };

    let mut out = String::new();
    let mut seen_decimal = false;
    let mut seen_exp = false;
    let mut idx = 0;
    while idx < chars.len() {
        let c = chars[idx];
        if (c == 'e' || c == 'E') && !seen_exp {
            if out.is_empty() {
                return None;
            }
            out.push(c);
            seen_exp = true;
            idx += 1;
            if let Some(&next) = chars.get(idx) {
                if PLUS_CHARS.contains(&next) {
                    out.push('+');
                    idx += 1;
                } else if MINUS_CHARS.contains(&next) {
                    out.push('-');
                    idx += 1;
                }
            }
            continue;
        }
        if DECIMAL_SEP_EXTRAS.contains(&c) || decimal_char == Some(c) {
            if seen_decimal {
                return None;
            }
            out.push('.');
            seen_decimal = true;
            idx += 1;
            continue;
        }
        if GROUP_SEPARATORS.contains(&c)
            || py_isspace(c)
            || (decimal_char.is_some() && (c == ',' || c == '.') && Some(c) != decimal_char)
        {
            idx += 1;
            continue;
        }
        if let Some(d) = char_to_ascii_digit(c) {
            out.push(char::from_digit(d, 10)?);
            idx += 1;
            continue;
        }
        return None;
    }
    if out.is_empty()
        || out
            .chars()
            .all(|c| matches!(c, '.' | 'e' | 'E' | '+' | '-'))
    {
        return None;
    }
    py_float(&out)
}

fn parse_chinese_number(chars: &[char]) -> Option<f64> {
    let split_at = chars
        .iter()
        .position(|c| CH_DEC_WORDS.contains(c))
        .or_else(|| chars.iter().position(|&c| c == '\u{ff0e}'))
        .or_else(|| chars.iter().position(|&c| c == '.'));
    let (integer_part, frac_part) = match split_at {
        Some(idx) => (&chars[..idx], &chars[idx + 1..]),
        None => (chars, &chars[chars.len()..]),
    };
    let has_units = integer_part.iter().any(|&c| {
        ch_small_unit(c).is_some() || ch_large_unit(c).is_some() || ch_alt_tens(c).is_some()
    });
    let int_value: f64 = if has_units {
        parse_chinese_integer_with_units(integer_part)? as f64
    } else {
        let mut digits = String::new();
        for &c in integer_part {
            if py_isspace(c) {
                continue;
            }
            digits.push(char::from_digit(char_to_ascii_digit(c)?, 10)?);
        }
        if digits.is_empty() {
            0.0
        } else {
            digits.parse::<f64>().ok()?
        }
    };
    let mut frac_value = 0.0;
    let mut base = 0.1;
    for &c in frac_part {
        if py_isspace(c) {
            continue;
        }
        frac_value += f64::from(char_to_ascii_digit(c)?) * base;
        base /= 10.0;
    }
    Some(int_value + frac_value)
}

fn parse_chinese_integer_with_units(chars: &[char]) -> Option<u64> {
    let mut total: u64 = 0;
    let mut section: u64 = 0;
    let mut number: u64 = 0;
    for &c in chars {
        if py_isspace(c) {
            continue;
        }
        if let Some(v) = ch_alt_tens(c) {
            section = section.checked_add(v)?;
        } else if matches!(c, '零' | '〇' | '○') {
            continue;
        } else if let Some(d) = ch_digit(c) {
            number = d;
        } else if let Some(d) = char_to_ascii_digit(c) {
            number = u64::from(d);
        } else if let Some(unit) = ch_small_unit(c) {
            section =
                section.checked_add(if number == 0 { 1 } else { number }.checked_mul(unit)?)?;
            number = 0;
        } else if let Some(unit) = ch_large_unit(c) {
            section = section.checked_add(number)?;
            number = 0;
            total = total.checked_add(section.checked_mul(unit)?)?;
            section = 0;
        } else {
            return None;
        }
    }
    section = section.checked_add(number)?;
    total.checked_add(section)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_float_grammar() {
        assert_eq!(py_float(" 1_000.5 "), Some(1000.5));
        assert_eq!(py_float("1e3"), Some(1000.0));
        assert_eq!(py_float(".5"), Some(0.5));
        assert_eq!(py_float("5."), Some(5.0));
        assert_eq!(py_float("-Infinity"), Some(f64::NEG_INFINITY));
        assert_eq!(py_float("١٢"), Some(12.0));
        assert_eq!(py_float("1__0"), None);
        assert_eq!(py_float("_1"), None);
        assert_eq!(py_float("1e"), None);
        assert_eq!(py_float("."), None);
        assert_eq!(py_float("0x10"), None);
        assert_eq!(py_float(""), None);
    }

    #[test]
    fn format_g_like_python() {
        assert_eq!(format_g(42.0, 5), "42");
        assert_eq!(format_g(1.234567891, 5), "1.2346");
        assert_eq!(format_g(123456.0, 5), "1.2346e+05");
        assert_eq!(format_g(0.0001, 5), "0.0001");
        assert_eq!(format_g(0.00001, 5), "1e-05");
        assert_eq!(format_g(99999.5, 5), "1e+05");
        assert_eq!(format_g(-0.0, 5), "-0");
        assert_eq!(format_g(1.5, 5), "1.5");
    }

    #[test]
    fn unicode_numbers() {
        assert_eq!(unicode_number_to_float("2½"), Some(2.5));
        assert_eq!(unicode_number_to_float("−½"), Some(-0.5));
        assert_eq!(unicode_number_to_float("3²"), Some(9.0));
        assert_eq!(unicode_number_to_float("-2²"), Some(4.0));
        assert_eq!(unicode_number_to_float("十二"), Some(12.0));
        assert_eq!(unicode_number_to_float("三百零五"), Some(305.0));
        assert_eq!(unicode_number_to_float("一万二千"), Some(12000.0));
        assert_eq!(unicode_number_to_float("二〇二五"), Some(2025.0));
        assert_eq!(unicode_number_to_float("Ⅻ"), Some(12.0));
        assert_eq!(unicode_number_to_float("1'000"), Some(1000.0));
        assert_eq!(unicode_number_to_float("1,5"), Some(1.5));
        assert_eq!(unicode_number_to_float("１２"), Some(12.0));
        assert_eq!(unicode_number_to_float("abc"), None);
    }

    #[test]
    fn parse_number_trims_sentence_punctuation_only() {
        assert_eq!(parse_number("(42)", true), Some(42.0));
        assert_eq!(parse_number("(42)", false), None);
        assert_eq!(parse_number("<42", true), None);
        assert_eq!(parse_number("nan", true), None);
        assert_eq!(normalize_number("42.0", true), "42");
        assert_eq!(normalize_number("abc", true), "abc");
    }

    /// Inspect's `normalize_number` on the fixture inputs
    /// (`tests/fixtures/gen_inspect_numbers.py`).
    #[test]
    fn normalize_number_matches_inspect() {
        let fixture: serde_json::Value =
            serde_json::from_str(include_str!("../../tests/fixtures/inspect_numbers.json"))
                .unwrap_or_default();
        let pairs = fixture["normalize_number"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert!(pairs.len() >= 10);
        for pair in pairs {
            let (input, expected) = (
                pair[0].as_str().unwrap_or_default(),
                pair[1].as_str().unwrap_or_default(),
            );
            assert_eq!(
                normalize_number(input, true),
                expected,
                "normalize_number({input:?})"
            );
        }
    }
}
