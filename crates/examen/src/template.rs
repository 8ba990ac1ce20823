//! Prompt templates: Python `str.format` placeholders filled from named
//! values (sample metadata, the store, solver parameters).
//!
//! Inspect fills solver templates with `str.format` and leaves unknown
//! placeholders in place (`format_template(..., skip_unknown=True)`), so a
//! template written for Inspect renders the same text here: `{name}`,
//! `{name[key]}` / `{name[0]}` / `{name.key}` lookups, `{{`/`}}` escapes,
//! `!r`/`!s` conversions and the common format specs (`:>8`, `:.2f`, `:,`,
//! `:%`, `:05d`). Values print as Python prints them (`True`, `1.0`,
//! `['a', 'b']`).

use serde_json::{Map, Value as Json};

use crate::text::format_g;

/// The values a template can refer to.
pub type TemplateParams = Map<String, Json>;

/// A template that could not be parsed (an unmatched brace).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid template: {message}")]
pub struct TemplateError {
    message: String,
}

/// Fills `{placeholders}` in `template` from `params`; unknown placeholders
/// (and placeholders whose value is `null`) are kept as written.
pub fn format_template(template: &str, params: &TemplateParams) -> Result<String, TemplateError> {
    render(template, params, true)
}

/// Like [`format_template`] but an unknown placeholder is an error, as with
/// Python's plain `str.format` (used by the multiple choice templates).
pub fn format_strict(template: &str, params: &TemplateParams) -> Result<String, TemplateError> {
    render(template, params, false)
}

fn render(
    template: &str,
    params: &TemplateParams,
    skip_unknown: bool,
) -> Result<String, TemplateError> {
    let mut out = String::with_capacity(template.len());
    let mut chars = template.char_indices().peekable();
    while let Some((idx, c)) = chars.next() {
        match c {
            '{' => {
                if matches!(chars.peek(), Some((_, '{'))) {
                    chars.next();
                    out.push('{');
                    continue;
                }
                let start = idx + 1;
                let mut depth = 1;
                let mut end = None;
                for (j, c2) in chars.by_ref() {
                    match c2 {
                        '{' => depth += 1,
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                end = Some(j);
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                let Some(end) = end else {
                    return Err(TemplateError {
                        message: format!("single '{{' at offset {idx} is not closed"),
                    });
                };
                let field = &template[start..end];
                out.push_str(&render_field(field, params, skip_unknown)?);
            }
            '}' => {
                if matches!(chars.peek(), Some((_, '}'))) {
                    chars.next();
                    out.push('}');
                } else {
                    return Err(TemplateError {
                        message: format!("single '}}' at offset {idx} has no matching '{{'"),
                    });
                }
            }
            _ => out.push(c),
        }
    }
    Ok(out)
}

fn render_field(
    field: &str,
    params: &TemplateParams,
    skip_unknown: bool,
) -> Result<String, TemplateError> {
    let keep = || format!("{{{field}}}");
    // Split `name[key].attr!conv:spec`.
    let (head, spec) = split_spec(field);
    let (path, conversion) = match head.rsplit_once('!') {
        Some((path, conv)) if matches!(conv, "r" | "s" | "a") => (path, Some(conv)),
        _ => (head, None),
    };
    let Some(value) = lookup(path, params) else {
        if skip_unknown {
            return Ok(keep());
        }
        return Err(TemplateError {
            message: format!("no value for placeholder `{{{path}}}`"),
        });
    };
    if value.is_null() && skip_unknown {
        return Ok(keep());
    }
    let text = match conversion {
        Some("r") | Some("a") => py_repr(value),
        _ => {
            if spec.is_empty() {
                py_str(value)
            } else {
                match apply_spec(value, spec) {
                    Some(text) => text,
                    // Inspect keeps a placeholder whose format spec does not
                    // apply to the value.
                    None if skip_unknown => format!("{{{}:{spec}}}", py_str(value)),
                    None => {
                        return Err(TemplateError {
                            message: format!("format spec `{spec}` does not apply to `{path}`"),
                        })
                    }
                }
            }
        }
    };
    if conversion.is_some() && !spec.is_empty() {
        return Ok(apply_spec(&Json::String(text.clone()), spec).unwrap_or(text));
    }
    Ok(text)
}

fn split_spec(field: &str) -> (&str, &str) {
    // A ':' inside [...] is part of a key, not the start of a spec.
    let mut in_bracket = false;
    for (idx, c) in field.char_indices() {
        match c {
            '[' => in_bracket = true,
            ']' => in_bracket = false,
            ':' if !in_bracket => return (&field[..idx], &field[idx + 1..]),
            _ => {}
        }
    }
    (field, "")
}

fn lookup<'a>(path: &str, params: &'a TemplateParams) -> Option<&'a Json> {
    let first_end = path.find(['.', '[']).unwrap_or(path.len());
    let mut current = params.get(&path[..first_end])?;
    let mut rest = &path[first_end..];
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('.') {
            let end = after.find(['.', '[']).unwrap_or(after.len());
            current = current.as_object()?.get(&after[..end])?;
            rest = &after[end..];
        } else if let Some(after) = rest.strip_prefix('[') {
            let close = after.find(']')?;
            let key = &after[..close];
            current = match current {
                Json::Array(items) => items.get(key.parse::<usize>().ok()?)?,
                Json::Object(map) => map.get(key)?,
                _ => return None,
            };
            rest = &after[close + 1..];
        } else {
            return None;
        }
    }
    Some(current)
}

/// Python's `str(value)` for a JSON value.
pub(crate) fn py_str(value: &Json) -> String {
    match value {
        Json::String(s) => s.clone(),
        _ => py_repr(value),
    }
}

/// Python's `repr(value)` for a JSON value.
pub(crate) fn py_repr(value: &Json) -> String {
    match value {
        Json::Null => "None".to_string(),
        Json::Bool(true) => "True".to_string(),
        Json::Bool(false) => "False".to_string(),
        Json::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => i.to_string(),
            (_, Some(u), _) => u.to_string(),
            (_, _, Some(f)) => py_float_repr(f),
            _ => n.to_string(),
        },
        Json::String(s) => py_str_repr(s),
        Json::Array(items) => {
            let parts: Vec<String> = items.iter().map(py_repr).collect();
            format!("[{}]", parts.join(", "))
        }
        Json::Object(map) => {
            let parts: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{}: {}", py_str_repr(k), py_repr(v)))
                .collect();
            format!("{{{}}}", parts.join(", "))
        }
    }
}

fn py_str_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// Python's `repr(float)`: the shortest round-tripping digits, in
/// scientific notation below 1e-4 and from 1e16 up.
pub(crate) fn py_float_repr(f: f64) -> String {
    if f.is_nan() {
        return "nan".to_string();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf" } else { "-inf" }.to_string();
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0.0" } else { "0.0" }.to_string();
    }
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if (-4..16).contains(&exp) {
        let plain = format!("{f}");
        if plain.contains('.') {
            plain
        } else {
            format!("{plain}.0")
        }
    } else {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.abs())
    }
}

struct Spec {
    fill: char,
    align: Option<char>,
    sign: Option<char>,
    zero: bool,
    width: usize,
    grouping: Option<char>,
    precision: Option<usize>,
    kind: Option<char>,
}

fn parse_spec(spec: &str) -> Option<Spec> {
    let chars: Vec<char> = spec.chars().collect();
    let mut idx = 0;
    let mut parsed = Spec {
        fill: ' ',
        align: None,
        sign: None,
        zero: false,
        width: 0,
        grouping: None,
        precision: None,
        kind: None,
    };
    let is_align = |c: char| matches!(c, '<' | '>' | '^' | '=');
    if chars.len() >= 2 && is_align(chars[1]) {
        parsed.fill = chars[0];
        parsed.align = Some(chars[1]);
        idx = 2;
    } else if chars.first().is_some_and(|&c| is_align(c)) {
        parsed.align = Some(chars[0]);
        idx = 1;
    }
    if let Some(&c @ ('+' | '-' | ' ')) = chars.get(idx) {
        parsed.sign = Some(c);
        idx += 1;
    }
    if chars.get(idx) == Some(&'0') {
        parsed.zero = true;
        idx += 1;
    }
    let width_start = idx;
    while chars.get(idx).is_some_and(char::is_ascii_digit) {
        idx += 1;
    }
    if idx > width_start {
        parsed.width = chars[width_start..idx]
            .iter()
            .collect::<String>()
            .parse()
            .ok()?;
    }
    if let Some(&c @ (',' | '_')) = chars.get(idx) {
        parsed.grouping = Some(c);
        idx += 1;
    }
    if chars.get(idx) == Some(&'.') {
        idx += 1;
        let start = idx;
        while chars.get(idx).is_some_and(char::is_ascii_digit) {
            idx += 1;
        }
        parsed.precision = Some(chars[start..idx].iter().collect::<String>().parse().ok()?);
    }
    if let Some(&c) = chars.get(idx) {
        parsed.kind = Some(c);
        idx += 1;
    }
    (idx == chars.len()).then_some(parsed)
}

fn apply_spec(value: &Json, spec: &str) -> Option<String> {
    let spec = parse_spec(spec)?;
    let (body, numeric) = match value {
        Json::String(s) => {
            if !matches!(spec.kind, None | Some('s'))
                || spec.sign.is_some()
                || spec.grouping.is_some()
            {
                return None;
            }
            let text = match spec.precision {
                Some(p) => s.chars().take(p).collect(),
                None => s.clone(),
            };
            (text, false)
        }
        Json::Number(_) | Json::Bool(_) => {
            let f = match value {
                Json::Bool(b) => f64::from(u8::from(*b)),
                _ => value.as_f64()?,
            };
            let is_int = value.is_i64() || value.is_u64() || value.is_boolean();
            (format_number(f, is_int, &spec)?, true)
        }
        _ => {
            if spec.kind.is_some() || spec.precision.is_some() {
                return None;
            }
            (py_str(value), false)
        }
    };
    let len = body.chars().count();
    if len >= spec.width {
        return Some(body);
    }
    let pad = spec.width - len;
    let (fill, align) = if spec.zero && spec.align.is_none() && numeric {
        ('0', '=')
    } else {
        (
            spec.fill,
            spec.align.unwrap_or(if numeric { '>' } else { '<' }),
        )
    };
    let fill_str = |n: usize| std::iter::repeat_n(fill, n).collect::<String>();
    Some(match align {
        '<' => format!("{body}{}", fill_str(pad)),
        '^' => format!("{}{body}{}", fill_str(pad / 2), fill_str(pad - pad / 2)),
        '=' => {
            let (sign, digits) = match body.chars().next() {
                Some(c @ ('-' | '+' | ' ')) => (c.to_string(), body[1..].to_string()),
                _ => (String::new(), body.clone()),
            };
            format!("{sign}{}{digits}", fill_str(pad))
        }
        _ => format!("{}{body}", fill_str(pad)),
    })
}

fn format_number(f: f64, is_int: bool, spec: &Spec) -> Option<String> {
    let mut body = match spec.kind {
        None if is_int && spec.precision.is_none() => format!("{}", f.abs() as i128),
        Some('d') if is_int => format!("{}", f.abs() as i128),
        Some('d') => return None,
        Some('f' | 'F') => format!("{:.*}", spec.precision.unwrap_or(6), f.abs()),
        Some('%') => format!("{:.*}%", spec.precision.unwrap_or(6), f.abs() * 100.0),
        Some('e' | 'E') => {
            let s = format!("{:.*e}", spec.precision.unwrap_or(6), f.abs());
            let (m, e) = s.split_once('e')?;
            let e: i32 = e.parse().ok()?;
            let text = format!("{m}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs());
            if spec.kind == Some('E') {
                text.to_uppercase()
            } else {
                text
            }
        }
        Some('g' | 'G') => format_g(f.abs(), spec.precision.unwrap_or(6)),
        None => match spec.precision {
            Some(p) => format_g(f.abs(), p),
            None => py_float_repr(f.abs()),
        },
        _ => return None,
    };
    if let Some(sep) = spec.grouping {
        body = group_thousands(&body, sep);
    }
    let negative =
        f.is_sign_negative() && f != 0.0 || (f == 0.0 && f.is_sign_negative() && !is_int);
    let sign = if negative {
        "-"
    } else {
        match spec.sign {
            Some('+') => "+",
            Some(' ') => " ",
            _ => "",
        }
    };
    Some(format!("{sign}{body}"))
}

/// Inserts `sep` between groups of three digits of the leading integer
/// part of `body` (Python's `,` and `_` format options).
pub(crate) fn group_thousands(body: &str, sep: char) -> String {
    let int_end = body
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(body.len());
    let (int_part, rest) = body.split_at(int_end);
    let groups: Vec<&str> = int_part
        .as_bytes()
        .rchunks(3)
        .rev()
        .map(|chunk| std::str::from_utf8(chunk).unwrap_or_default())
        .collect();
    format!("{}{rest}", groups.join(&sep.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn params(v: Json) -> TemplateParams {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn fills_known_and_keeps_unknown() {
        let p = params(json!({"prompt": "What is 2+2?", "level": 3, "none": null}));
        let out = format_template("{prompt}\nLevel {level} {unknown} {none} {{x}}", &p);
        assert_eq!(
            out.as_deref(),
            Ok("What is 2+2?\nLevel 3 {unknown} {none} {x}")
        );
    }

    #[test]
    fn python_value_rendering() {
        let p = params(json!({"b": true, "f": 1.0, "l": ["a", 2], "d": {"k": "v"}, "big": 1e20}));
        let out = format_template("{b} {f} {l} {d} {big}", &p);
        assert_eq!(out.as_deref(), Ok("True 1.0 ['a', 2] {'k': 'v'} 1e+20"));
    }

    #[test]
    fn lookups_and_specs() {
        let p = params(json!({"d": {"k": [10, 20]}, "x": 1.23456, "n": 1234567, "s": "ab"}));
        assert_eq!(
            format_template("{d[k][1]} {d.k[0]}", &p).as_deref(),
            Ok("20 10")
        );
        assert_eq!(
            format_template("{x:.2f}|{n:,}|{s:>4}|{n:010d}|{s!r}", &p).as_deref(),
            Ok("1.23|1,234,567|  ab|0001234567|'ab'")
        );
        assert_eq!(
            format_template("{x:%}", &params(json!({"x": 0.5}))).as_deref(),
            Ok("50.000000%")
        );
    }

    #[test]
    fn unmatched_braces_are_errors() {
        let p = TemplateParams::new();
        assert!(format_template("{oops", &p).is_err());
        assert!(format_template("oops}", &p).is_err());
        assert!(format_strict("{missing}", &p).is_err());
    }
}
