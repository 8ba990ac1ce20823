//! The text rules of Inspect's built-in scorers, as pure functions over
//! strings: `match_str`, `includes`, SQuAD-style `exact`/`f1`, regex
//! extraction, `ANSWER:` patterns, multiple-choice answer parsing and the
//! model-graded `GRADE:` extraction.
//!
//! Each function mirrors the Inspect function of the same name (noted on
//! each), so that the same completion and target give the same verdict.

use std::collections::{BTreeSet, HashMap};
use std::sync::LazyLock;

use fancy_regex::Regex;

use crate::text::{
    casefold, is_finite_number, is_number, normalize_number, py_float, py_isnumeric,
    py_split_whitespace, py_strip, strip_numeric_punctuation, strip_punctuation, PY_PUNCTUATION,
};

/// Where `match` looks for the target in the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MatchLocation {
    /// The output starts with the target.
    Begin,
    /// The output ends with the target (Inspect's default).
    #[default]
    End,
    /// The target appears anywhere in the output.
    Any,
    /// The output equals the target.
    Exact,
}

impl MatchLocation {
    /// The name used in task files and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            MatchLocation::Begin => "begin",
            MatchLocation::End => "end",
            MatchLocation::Any => "any",
            MatchLocation::Exact => "exact",
        }
    }

    /// Parses `begin`, `end`, `any` or `exact`.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "begin" => MatchLocation::Begin,
            "end" => MatchLocation::End,
            "any" => MatchLocation::Any,
            "exact" => MatchLocation::Exact,
            _ => return None,
        })
    }
}

/// Inspect's `match_str`: returns the answer extracted from `value` and
/// whether it matches `target`.
pub fn match_str(
    value: &str,
    target: &str,
    location: MatchLocation,
    ignore_case: bool,
    ignore_punctuation: bool,
    numeric: bool,
) -> (String, bool) {
    let mut v = py_strip(value).to_string();
    let mut t = py_strip(target).to_string();
    let answer = v.clone();
    if ignore_case {
        v = casefold(&v);
        t = casefold(&t);
    }
    if numeric {
        t = strip_numeric_punctuation(&t);
    }
    if numeric && is_number(&t) {
        // The target is a number: compare numbers, never text (so "25" does
        // not "end with" 5).
        let v_clean = strip_numeric_punctuation(&v);
        let t_norm = normalize_number(&t, true);
        let words: Vec<&str> = py_split_whitespace(&v_clean).collect();
        let found = match location {
            MatchLocation::Begin => first_number_normalized(words.iter().copied()),
            MatchLocation::End => first_number_normalized(words.iter().rev().copied()),
            MatchLocation::Exact => normalize_number(&v_clean, false),
            MatchLocation::Any => {
                for word in words.iter().filter(|w| is_number(w)) {
                    let number = normalize_number(word, true);
                    if number == t_norm {
                        return (number, true);
                    }
                }
                return (answer, false);
            }
        };
        let matched = found == t_norm;
        return (found, matched);
    }
    if ignore_punctuation {
        v = strip_punctuation(&v).to_string();
        t = strip_punctuation(&t).to_string();
    }
    let matched = match location {
        MatchLocation::Begin => v.starts_with(&t),
        MatchLocation::End => v.ends_with(&t),
        MatchLocation::Exact => v == t,
        MatchLocation::Any => v.contains(&t),
    };
    (answer, matched)
}

fn first_number_normalized<'a>(mut words: impl Iterator<Item = &'a str>) -> String {
    words
        .find(|w| is_number(w))
        .map(|w| normalize_number(w, true))
        .unwrap_or_default()
}

/// Inspect's `includes` check.
pub fn includes(value: &str, target: &str, ignore_case: bool) -> (String, bool) {
    if ignore_case {
        let value = casefold(value);
        let matched = value.contains(&casefold(target));
        (value, matched)
    } else {
        (value.to_string(), value.contains(target))
    }
}

/// Inspect's `no_response`: the raw completion is empty or whitespace.
pub fn no_response(completion: &str) -> bool {
    py_strip(completion).is_empty()
}

// ---- exact / f1 (SQuAD normalisation) ------------------------------------

fn remove_punc(text: &str) -> String {
    if is_finite_number(text) {
        return text.to_string();
    }
    let stripped = strip_punctuation(text);
    if is_finite_number(stripped) {
        return stripped.to_string();
    }
    text.chars()
        .filter(|c| !PY_PUNCTUATION.contains(*c))
        .collect()
}

fn normalize_number_token(text: &str) -> String {
    match py_float(text).filter(|v| v.is_finite()) {
        Some(v) => crate::template::py_float_repr(v),
        None => text.to_string(),
    }
}

static ARTICLES: LazyLock<Regex> = LazyLock::new(|| static_regex(r"\b(a|an|the)\b"));

fn remove_articles(text: &str) -> String {
    ARTICLES.replace_all(text, " ").into_owned()
}

fn normalize_token(token: &str) -> String {
    let token = remove_punc(&casefold(token));
    let token = normalize_number_token(&token);
    let token = remove_articles(&token);
    py_split_whitespace(&token).collect::<Vec<_>>().join(" ")
}

/// Inspect's `_normalize` for `exact` and `f1`.
pub fn squad_normalize(text: &str, stop_words: Option<&[String]>) -> String {
    let folded_stop: Vec<String> = stop_words
        .unwrap_or_default()
        .iter()
        .map(|w| normalize_token(w))
        .collect();
    let tokens: Vec<String> = text
        .split([' ', '-'])
        .map(normalize_token)
        .filter(|t| !folded_stop.contains(t))
        .filter(|t| !py_strip(t).is_empty())
        .collect();
    py_strip(&tokens.join(" ")).to_string()
}

fn word_counts(text: &str, stop_words: Option<&[String]>) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for word in py_split_whitespace(&squad_normalize(text, stop_words)) {
        *counts.entry(word.to_string()).or_insert(0) += 1;
    }
    counts
}

fn f1_of_counts(answer: &HashMap<String, usize>, target: &HashMap<String, usize>) -> f64 {
    let overlap: usize = answer
        .iter()
        .map(|(word, n)| (*n).min(target.get(word).copied().unwrap_or(0)))
        .sum();
    let total = |m: &HashMap<String, usize>| m.values().sum::<usize>() as f64;
    let precision = if answer.is_empty() {
        1.0
    } else {
        overlap as f64 / total(answer)
    };
    let recall = if target.is_empty() {
        1.0
    } else {
        overlap as f64 / total(target)
    };
    if precision == 0.0 && recall == 0.0 {
        0.0
    } else {
        2.0 * precision * recall / (precision + recall)
    }
}

/// Inspect's `compute_f1` for one target.
pub fn compute_f1(answer: &str, target: &str, stop_words: Option<&[String]>) -> f64 {
    f1_of_counts(
        &word_counts(answer, stop_words),
        &word_counts(target, stop_words),
    )
}

/// Inspect's `max_f1_score`: the best F1 over the targets, rounded to two
/// decimals (targets with no words after normalisation are skipped).
pub fn max_f1_score(answer: &str, targets: &[String], stop_words: Option<&[String]>) -> f64 {
    let answer_counts = word_counts(answer, stop_words);
    let mut best: f64 = 0.0;
    for target in targets {
        let target_counts = word_counts(target, stop_words);
        if !target_counts.is_empty() {
            best = best.max(f1_of_counts(&answer_counts, &target_counts));
        }
    }
    python_round(best, 2)
}

/// Inspect's `max_exact_score`: 1.0 when the normalised answer equals a
/// non-empty normalised target.
pub fn max_exact_score(answer: &str, targets: &[String]) -> f64 {
    let answer_norm = squad_normalize(answer, None);
    let hit = targets.iter().any(|target| {
        let target_norm = squad_normalize(target, None);
        !target_norm.is_empty() && target_norm == answer_norm
    });
    if hit {
        1.0
    } else {
        0.0
    }
}

/// Python's `round(x, ndigits)`: round half to even on the decimal value
/// that the float represents.
pub(crate) fn python_round(x: f64, ndigits: i32) -> f64 {
    if !x.is_finite() {
        return x;
    }
    // Python rounds the exact binary value; formatting with enough digits
    // and reparsing reproduces that (Rust's formatter is exact).
    let text = format!("{:.*}", usize::try_from(ndigits).unwrap_or(0), x);
    text.parse().unwrap_or(x)
}

// ---- regular expressions ----------------------------------------------------

/// Compiles a regular expression written for Python's `re` module.
///
/// fancy-regex covers Python's syntax (lookaround, lazy quantifiers, named
/// groups); `\Z` is translated to its Rust spelling `\z`.
pub fn compile_python_regex(pattern: &str) -> Result<Regex, Box<fancy_regex::Error>> {
    Regex::new(&translate_python_regex(pattern)).map_err(Box::new)
}

fn translate_python_regex(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('Z') => out.push_str("\\z"),
                Some(next) => {
                    out.push('\\');
                    out.push(next);
                }
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn static_regex(pattern: &str) -> Regex {
    // Only called with the constant patterns in this module, which are
    // covered by tests; a failure here is a bug in examen, not user input.
    match compile_python_regex(pattern) {
        Ok(re) => re,
        Err(e) => panic!("built-in pattern {pattern:?} does not compile: {e}"),
    }
}

/// `ANSWER: <letter>` (the last occurrence).
pub const ANSWER_PATTERN_LETTER: &str =
    r"(?is)ANSWER\s*:\s*([A-Za-z])(?:[^\w]|\n|$)(?!.*ANSWER\s*:)";
/// `ANSWER: <word>` (the last occurrence).
pub const ANSWER_PATTERN_WORD: &str =
    r"(?is)ANSWER\s*:\s*(\S+?)(?=[.,;:!?]?\s*(?:\n|$))(?!.*ANSWER\s*:)";
/// `ANSWER: <rest of the final line>`.
pub const ANSWER_PATTERN_LINE: &str = r"(?i)ANSWER\s*:\s*([^\n]+)\s*\Z";

/// The outcome of the `pattern` scorer's extraction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PatternOutcome {
    /// The pattern matched; `answer` is what is reported, `correct` the verdict.
    Matched {
        /// The extracted answer, if any.
        answer: Option<String>,
        /// Whether it matches a target.
        correct: bool,
    },
    /// The pattern did not match the output.
    NotMatched,
}

/// Inspect's `pattern` scorer logic.
pub fn pattern_match(
    regex: &Regex,
    completion: &str,
    targets: &[String],
    ignore_case: bool,
    match_all: bool,
) -> PatternOutcome {
    let Ok(Some(caps)) = regex.captures(completion) else {
        return PatternOutcome::NotMatched;
    };
    let mut groups: Vec<Option<String>> = (1..caps.len())
        .map(|idx| caps.get(idx).map(|m| m.as_str().to_string()))
        .collect();
    if groups.is_empty() {
        groups.push(caps.get(0).map(|m| m.as_str().to_string()));
    }
    let lower = |s: &str| {
        if ignore_case {
            s.to_lowercase()
        } else {
            s.to_string()
        }
    };
    let target_set: Vec<String> = targets.iter().map(|t| lower(t)).collect();
    let matches_target = |m: &str| target_set.contains(&lower(m));
    if match_all {
        let present: Vec<&String> = groups.iter().flatten().collect();
        let found = !present.is_empty() && present.iter().all(|m| matches_target(m));
        let answer = found.then(|| targets.concat());
        PatternOutcome::Matched {
            answer,
            correct: found,
        }
    } else {
        let found = groups.iter().flatten().find(|m| matches_target(m)).cloned();
        let correct = found.is_some();
        let answer = match found {
            Some(found) => Some(found),
            None if groups.len() == 1 => groups[0].clone(),
            None => None,
        };
        PatternOutcome::Matched { answer, correct }
    }
}

// ---- multiple choice ----------------------------------------------------

/// Inspect's `answer_character`: 0 → `A`, …, 25 → `Z`, then `1`, `2`, ….
pub fn answer_character(index: usize) -> String {
    if index < 26 {
        char::from(b'A' + u8::try_from(index).unwrap_or(0)).to_string()
    } else {
        (index - 25).to_string()
    }
}

/// Inspect's `answer_index`: the inverse of [`answer_character`].
pub fn answer_index(answer: &str) -> Result<usize, String> {
    let mut chars = answer.chars();
    if let (Some(c), None) = (chars.next(), chars.next()) {
        if c.is_alphabetic() {
            let upper = c.to_uppercase().next().unwrap_or(c);
            let idx = u32::from(upper).wrapping_sub(u32::from('A'));
            return usize::try_from(idx)
                .map_err(|_| format!("unexpected multiple choice answer: {answer}"));
        }
    }
    if py_isnumeric(answer) {
        let n: usize = answer.parse().map_err(|_| {
            format!("unexpected multiple choice answer: {answer} (must be a letter or number)")
        })?;
        if n == 0 {
            return Err(format!(
                "unexpected multiple choice answer: {answer} (numeric choices start at 1)"
            ));
        }
        return Ok(25 + n);
    }
    Err(format!(
        "unexpected multiple choice answer: {answer} (must be a letter or number)"
    ))
}

static MC_DOLLAR: LazyLock<Regex> =
    LazyLock::new(|| static_regex(r"\x24\s*([A-Za-z\d][A-Za-z\d ,]*?)\s*\x24"));
static MC_BOLD: LazyLock<Regex> =
    LazyLock::new(|| static_regex(r"\*\*\s*([A-Za-z\d][A-Za-z\d ,]*?)\s*\*\*"));
static MC_PAREN: LazyLock<Regex> =
    LazyLock::new(|| static_regex(r"(?i)(^|[:,])(\s*)\(([A-Za-z\d])\)(?=\s*(?:,|\.|\n|\Z))"));
static MC_STRICT: LazyLock<Regex> =
    LazyLock::new(|| static_regex(r"(?im)^ANSWER\s*:\s*([A-Za-z\d ,]+)\s*(?:$|\n|\.)"));
static MC_LENIENT: LazyLock<Regex> =
    LazyLock::new(|| static_regex(r"(?i)ANSWER\s*:\s*([A-Za-z\d ,]+)(?:[^\w]|\n|$|\.)"));

/// Inspect's `parse_answers`: the letters in the last `ANSWER:` line of a
/// multiple-choice completion (empty when none are valid).
pub fn parse_mc_answers(
    completion: &str,
    n_choices: usize,
    multiple_correct: bool,
) -> BTreeSet<String> {
    let completion = MC_DOLLAR.replace_all(completion, "$1");
    let completion = MC_BOLD.replace_all(&completion, "$1");
    let completion = MC_PAREN.replace_all(&completion, "$1$2$3").into_owned();

    let mut matches: Vec<String> = MC_STRICT
        .captures_iter(&completion)
        .flatten()
        .filter_map(|c| c.get(1).map(|m| m.as_str().to_string()))
        .collect();
    if matches.is_empty() {
        matches = MC_LENIENT
            .captures_iter(&completion)
            .flatten()
            .filter_map(|c| c.get(1).map(|m| m.as_str().to_string()))
            .collect();
    }
    let Some(matched) = matches.pop() else {
        return BTreeSet::new();
    };
    let matched = py_strip(&matched).trim_end_matches('.').to_uppercase();
    let allowed: BTreeSet<String> = (0..n_choices).map(answer_character).collect();
    if multiple_correct {
        let compact = matched.replace(" AND ", ",").replace(' ', "");
        let split_comma: BTreeSet<String> = compact
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        if split_comma.is_subset(&allowed) {
            return split_comma;
        }
        let split_nothing: BTreeSet<String> = compact.chars().map(|c| c.to_string()).collect();
        if split_nothing.is_subset(&allowed) {
            return split_nothing;
        }
    } else {
        let tokens: Vec<&str> = matched.split(',').filter(|s| !s.is_empty()).collect();
        if let [only] = tokens.as_slice() {
            if allowed.contains(*only) {
                return BTreeSet::from([(*only).to_string()]);
            }
        }
    }
    BTreeSet::new()
}

/// Inspect's `_score_target` parsing for the `choice` scorer: the target
/// positions named by the targets (`"A"`, `"A, C"`, `"AC"`, `"27"`).
pub fn choice_target_positions(targets: &[String], n_choices: usize) -> Result<Vec<usize>, String> {
    let mut answers: Vec<String> = Vec::new();
    for target in targets {
        for token in py_split_whitespace(&target.replace(',', " ")) {
            if py_isnumeric(token) {
                answers.push(token.to_string());
            } else {
                answers.extend(token.chars().map(|c| c.to_string()));
            }
        }
    }
    let positions = answers
        .iter()
        .map(|a| answer_index(a))
        .collect::<Result<Vec<_>, _>>()?;
    let out_of_range: Vec<&str> = answers
        .iter()
        .zip(&positions)
        .filter(|(_, &p)| p >= n_choices)
        .map(|(a, _)| a.as_str())
        .collect();
    if !out_of_range.is_empty() {
        return Err(format!(
            "choice scorer target references answer(s) beyond the task's {n_choices} choices: {}",
            out_of_range.join(", ")
        ));
    }
    Ok(positions)
}

// ---- model graded -----------------------------------------------------------

const GRADE_SPACING: &str =
    r"[\s\x{200b}\x{200c}\x{200d}\x{200e}\x{200f}\x{2060}\x{2063}\x{feff}]*";

/// Inspect's `DEFAULT_GRADE_PATTERN` (the last `GRADE: C|P|I`).
pub fn default_grade_pattern() -> String {
    format!(r"(?is).*(?<!\w)GRADE(?!\w){GRADE_SPACING}:{GRADE_SPACING}([CPI])")
}

static PERMISSIVE_GRADE: LazyLock<Regex> = LazyLock::new(|| {
    static_regex(&format!(
        r"(?is).*(?<!\w)GRADE(?!\w){GRADE_SPACING}:{GRADE_SPACING}(\w*)"
    ))
});

/// How a grader's verdict is read from its completion.
#[derive(Debug, Clone)]
pub enum GradeRule {
    /// Default instructions: any final `GRADE:` word, validated against the
    /// grades that were offered (`C`/`I`, plus `P` with partial credit).
    Offered {
        /// Whether `P` was offered.
        partial_credit: bool,
    },
    /// A custom pattern or custom instructions: the pattern's first group.
    Pattern {
        /// The compiled pattern.
        regex: Regex,
        /// Whether this is Inspect's default pattern (which gets the
        /// spelled-out-word normalisation).
        is_default: bool,
    },
}

impl GradeRule {
    /// The rule Inspect applies for these scorer arguments.
    pub fn new(
        instructions_given: bool,
        grade_pattern: Option<&str>,
        partial_credit: bool,
    ) -> Result<Self, Box<fancy_regex::Error>> {
        match grade_pattern {
            Some(pattern) => Ok(GradeRule::Pattern {
                regex: compile_python_regex(pattern)?,
                is_default: false,
            }),
            None if instructions_given => Ok(GradeRule::Pattern {
                regex: compile_python_regex(&default_grade_pattern())?,
                is_default: true,
            }),
            None => Ok(GradeRule::Offered { partial_credit }),
        }
    }

    /// The grade in `completion`, or `None` when it cannot be read.
    pub fn extract(&self, completion: &str) -> Option<String> {
        let (regex, normalise, offered): (Regex, bool, Option<&[&str]>) = match self {
            GradeRule::Offered { partial_credit } => (
                PERMISSIVE_GRADE.clone(),
                true,
                Some(if *partial_credit {
                    &["C", "P", "I"]
                } else {
                    &["C", "I"]
                }),
            ),
            GradeRule::Pattern { regex, is_default } => (regex.clone(), *is_default, None),
        };
        let value = regex
            .captures(completion)
            .ok()
            .flatten()
            .and_then(|c| c.get(1).map(|m| m.as_str().to_string()))?;
        if !normalise {
            return Some(value);
        }
        let trimmed = py_strip(&value);
        let grade = match trimmed.to_lowercase().as_str() {
            "c" | "correct" => "C".to_string(),
            "i" | "incorrect" => "I".to_string(),
            "p" | "partial" => "P".to_string(),
            _ if trimmed.chars().count() == 1 => trimmed.to_uppercase(),
            _ => return None,
        };
        match offered {
            Some(offered) if !offered.contains(&grade.as_str()) => None,
            _ => Some(grade),
        }
    }
}

static STRUCTURAL_DELIMITER: LazyLock<Regex> =
    LazyLock::new(|| static_regex(r"(?i)\[(BEGIN|END) DATA\]"));

/// Inspect's `neutralize_structural_delimiters`: `[END DATA]` becomes
/// `[END-DATA]` so graded text cannot close the grader's data block.
pub fn neutralize_structural_delimiters(text: &str) -> String {
    STRUCTURAL_DELIMITER
        .replace_all(text, |caps: &fancy_regex::Captures<'_>| {
            caps[0].replace(' ', "-")
        })
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn match_str_text_locations() {
        assert_eq!(
            match_str(
                "The answer is Paris.",
                "paris",
                MatchLocation::End,
                true,
                true,
                false
            ),
            ("The answer is Paris.".into(), true)
        );
        assert!(
            !match_str(
                "Paris is it",
                "paris",
                MatchLocation::End,
                true,
                true,
                false
            )
            .1
        );
        assert!(
            match_str(
                "Paris is it",
                "paris",
                MatchLocation::Begin,
                true,
                true,
                false
            )
            .1
        );
        assert!(
            match_str(
                "I think Paris is it",
                "paris",
                MatchLocation::Any,
                true,
                true,
                false
            )
            .1
        );
        assert!(match_str(" Paris! ", "paris", MatchLocation::Exact, true, true, false).1);
        assert!(!match_str("Paris", "paris", MatchLocation::Exact, false, true, false).1);
    }

    #[test]
    fn match_str_numeric() {
        assert_eq!(
            match_str(
                "so the total is $1,000.",
                "1000",
                MatchLocation::End,
                true,
                true,
                true
            ),
            ("1000".into(), true)
        );
        assert_eq!(
            match_str("25", "5", MatchLocation::End, true, true, true),
            ("25".into(), false)
        );
        assert_eq!(
            match_str("42 then 7", "42", MatchLocation::Begin, true, true, true),
            ("42".into(), true)
        );
        assert_eq!(
            match_str("it is 3.0 or 4", "3", MatchLocation::Any, true, true, true),
            ("3".into(), true)
        );
        assert_eq!(
            match_str("(42)", "42", MatchLocation::Exact, true, true, true),
            ("(42)".into(), false)
        );
        assert_eq!(
            match_str("60%", "60", MatchLocation::End, true, true, true),
            ("".into(), false)
        );
        // A non-numeric target falls back to text matching.
        assert!(match_str("answer: 60%", "60%", MatchLocation::End, true, true, true).1);
    }

    #[test]
    fn includes_casefolds() {
        assert!(includes("STRASSE", "straße", true).1);
        assert!(!includes("Paris", "paris", false).1);
    }

    #[test]
    fn squad_normalisation_and_f1() {
        assert_eq!(
            squad_normalize("The  Cat-sat, on a mat!", None),
            "cat sat on mat"
        );
        assert_eq!(squad_normalize("3.14.", None), "3.14");
        assert_eq!(max_exact_score("the Cat", &s(&["cat"])), 1.0);
        assert_eq!(max_exact_score("the", &s(&["a"])), 0.0);
        // answer {cat, sat}, target {cat, sat, down}: p = 1, r = 2/3, f1 = 0.8
        assert_eq!(max_f1_score("cat sat", &s(&["cat sat down"]), None), 0.8);
        assert_eq!(max_f1_score("dog", &s(&["cat"]), None), 0.0);
        // repeated tokens pay their precision cost: p = 1/2, r = 1, f1 = 2/3
        assert_eq!(max_f1_score("cat cat", &s(&["cat"]), None), 0.67);
    }

    #[test]
    fn answer_patterns() {
        let letter = compile_python_regex(ANSWER_PATTERN_LETTER).unwrap_or_else(|e| panic!("{e}"));
        let outcome = pattern_match(
            &letter,
            "ANSWER: A\nWait, ANSWER: C",
            &s(&["C"]),
            true,
            false,
        );
        assert_eq!(
            outcome,
            PatternOutcome::Matched {
                answer: Some("C".into()),
                correct: true
            }
        );
        let line = compile_python_regex(ANSWER_PATTERN_LINE).unwrap_or_else(|e| panic!("{e}"));
        let outcome = pattern_match(
            &line,
            "reasoning\nANSWER: New York City",
            &s(&["new york city"]),
            true,
            false,
        );
        assert_eq!(
            outcome,
            PatternOutcome::Matched {
                answer: Some("New York City".into()),
                correct: true
            }
        );
        let word = compile_python_regex(ANSWER_PATTERN_WORD).unwrap_or_else(|e| panic!("{e}"));
        let outcome = pattern_match(&word, "ANSWER: yes.", &s(&["no"]), true, false);
        assert_eq!(
            outcome,
            PatternOutcome::Matched {
                answer: Some("yes".into()),
                correct: false
            }
        );
        assert_eq!(
            pattern_match(&word, "no answer here", &s(&["no"]), true, false),
            PatternOutcome::NotMatched
        );
    }

    #[test]
    fn pattern_match_all_groups() {
        let re = compile_python_regex(r"(\d+) and (\d+)").unwrap_or_else(|e| panic!("{e}"));
        let outcome = pattern_match(&re, "1 and 1", &s(&["1"]), true, true);
        assert_eq!(
            outcome,
            PatternOutcome::Matched {
                answer: Some("1".into()),
                correct: true
            }
        );
        let outcome = pattern_match(&re, "1 and 2", &s(&["1"]), true, true);
        assert_eq!(
            outcome,
            PatternOutcome::Matched {
                answer: None,
                correct: false
            }
        );
    }

    #[test]
    fn mc_answers() {
        assert_eq!(
            parse_mc_answers("ANSWER: B", 4, false),
            BTreeSet::from(["B".to_string()])
        );
        assert_eq!(
            parse_mc_answers("thinking...\nANSWER: b.", 4, false),
            BTreeSet::from(["B".to_string()])
        );
        assert_eq!(
            parse_mc_answers("ANSWER: $C$", 4, false),
            BTreeSet::from(["C".to_string()])
        );
        assert_eq!(
            parse_mc_answers("ANSWER: (D)", 4, false),
            BTreeSet::from(["D".to_string()])
        );
        assert_eq!(parse_mc_answers("ANSWER: E", 4, false), BTreeSet::new());
        assert_eq!(
            parse_mc_answers("ANSWER: A, C", 4, true),
            BTreeSet::from(["A".to_string(), "C".to_string()])
        );
        assert_eq!(
            parse_mc_answers("ANSWER: AC", 4, true),
            BTreeSet::from(["A".to_string(), "C".to_string()])
        );
        assert_eq!(
            parse_mc_answers("ANSWER: A and B", 4, true),
            BTreeSet::from(["A".to_string(), "B".to_string()])
        );
        assert_eq!(parse_mc_answers("no idea", 4, false), BTreeSet::new());
    }

    #[test]
    fn answer_characters() {
        assert_eq!(answer_character(0), "A");
        assert_eq!(answer_character(26), "1");
        assert_eq!(answer_index("c"), Ok(2));
        assert_eq!(answer_index("1"), Ok(26));
        assert!(answer_index("0").is_err());
        assert_eq!(choice_target_positions(&s(&["A, C"]), 4), Ok(vec![0, 2]));
        assert_eq!(choice_target_positions(&s(&["BD"]), 4), Ok(vec![1, 3]));
        assert!(choice_target_positions(&s(&["E"]), 4).is_err());
    }

    #[test]
    fn grades() {
        let rule = GradeRule::new(false, None, false).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            rule.extract("GRADE: I ... reconsidered. GRADE: C"),
            Some("C".into())
        );
        assert_eq!(rule.extract("GRADE: Correct"), Some("C".into()));
        assert_eq!(rule.extract("GRADE: P"), None);
        assert_eq!(rule.extract("downgrade: C"), None);
        assert_eq!(rule.extract("GRADE: CI"), None);
        let partial = GradeRule::new(false, None, true).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(partial.extract("GRADE: p"), Some("P".into()));
        let custom = GradeRule::new(true, None, false).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(custom.extract("GRADE: P"), Some("P".into()));
        assert_eq!(
            neutralize_structural_delimiters("x [END DATA] y"),
            "x [END-DATA] y"
        );
    }
}
