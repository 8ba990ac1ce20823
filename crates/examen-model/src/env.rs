//! Where keys and base URLs come from: the process environment, then a `.env` file found by
//! walking up from the working directory. Variables already in the environment win over the file.
//!
//! The file is read once per process, the first time a model asks for a variable; the process
//! environment itself is never modified (changing it while other threads read it is unsound on
//! some platforms).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use crate::error::ModelError;

/// A source of configuration variables.
///
/// [`Env::process`] (the default) reads the environment and the `.env` file above the working
/// directory; [`Env::process_from`] looks for `.env` above another directory; [`Env::from_pairs`]
/// is a fixed map, for tests and embedding.
#[derive(Clone, Default)]
pub struct Env {
    source: Source,
}

#[derive(Clone, Default)]
enum Source {
    #[default]
    Process,
    ProcessWith(Arc<HashMap<String, String>>),
    Fixed(Arc<HashMap<String, String>>),
}

impl std::fmt::Debug for Env {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Values may be keys: list names only.
        let (kind, map) = match &self.source {
            Source::Process => return f.write_str("Env(process)"),
            Source::ProcessWith(map) => ("process+dotenv", map),
            Source::Fixed(map) => ("fixed", map),
        };
        let mut names: Vec<_> = map.keys().collect();
        names.sort();
        f.debug_tuple("Env").field(&kind).field(&names).finish()
    }
}

impl Env {
    /// The process environment, falling back to the `.env` file nearest above the working
    /// directory (read once per process).
    pub fn process() -> Self {
        Self::default()
    }

    /// The process environment, falling back to the `.env` file nearest above `dir` (read now).
    pub fn process_from(dir: &Path) -> Result<Self, ModelError> {
        let vars = match find_dotenv(dir) {
            Some(path) => read_dotenv(&path)?,
            None => HashMap::new(),
        };
        Ok(Self {
            source: Source::ProcessWith(Arc::new(vars)),
        })
    }

    /// Exactly these variables and nothing else.
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Self {
            source: Source::Fixed(Arc::new(
                pairs
                    .into_iter()
                    .map(|(k, v)| (k.into(), v.into()))
                    .collect(),
            )),
        }
    }

    /// The value of `name`, if set and not empty.
    pub fn get(&self, name: &str) -> Result<Option<String>, ModelError> {
        let non_empty = |value: Option<&String>| value.filter(|v| !v.is_empty()).cloned();
        let dotenv = match &self.source {
            Source::Fixed(map) => return Ok(non_empty(map.get(name))),
            Source::ProcessWith(map) => map.as_ref(),
            Source::Process => process_dotenv().as_ref().map_err(Clone::clone)?,
        };
        if let Ok(value) = std::env::var(name) {
            if !value.is_empty() {
                return Ok(Some(value));
            }
        }
        Ok(non_empty(dotenv.get(name)))
    }
}

fn process_dotenv() -> &'static Result<HashMap<String, String>, ModelError> {
    static DOTENV: OnceLock<Result<HashMap<String, String>, ModelError>> = OnceLock::new();
    DOTENV.get_or_init(|| {
        let Ok(cwd) = std::env::current_dir() else {
            return Ok(HashMap::new());
        };
        match find_dotenv(&cwd) {
            Some(path) => read_dotenv(&path),
            None => Ok(HashMap::new()),
        }
    })
}

/// The nearest `.env` at or above `start`.
pub fn find_dotenv(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .map(|dir| dir.join(".env"))
        .find(|candidate| candidate.is_file())
}

/// Reads and parses one `.env` file.
pub fn read_dotenv(path: &Path) -> Result<HashMap<String, String>, ModelError> {
    let text = std::fs::read_to_string(path)
        .map_err(|err| ModelError::dotenv(path, 0, err.to_string()))?;
    parse_dotenv(&text).map_err(|(line, why)| ModelError::dotenv(path, line, why))
}

/// Parses `.env` text: `KEY=value` lines, optional `export `, `#` comments, single quotes
/// (literal) and double quotes (with `\n`, `\t`, `\"`, `\\` escapes, possibly spanning lines).
/// Errors carry the 1-based line number.
pub fn parse_dotenv(text: &str) -> Result<HashMap<String, String>, (usize, String)> {
    let mut vars = HashMap::new();
    let lines: Vec<&str> = text.lines().collect();
    let mut index = 0;
    while index < lines.len() {
        let line_number = index + 1;
        let line = lines[index].trim();
        index += 1;
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").map_or(line, str::trim_start);
        let Some((key, raw)) = line.split_once('=') else {
            return Err((
                line_number,
                format!("expected `KEY=value`, found `{}`", first_word(line)),
            ));
        };
        let key = key.trim();
        if key.is_empty()
            || !key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
        {
            return Err((line_number, format!("`{key}` is not a valid variable name")));
        }
        let raw = raw.trim_start();
        let value = if let Some(rest) = raw.strip_prefix('"') {
            let mut collected = rest.to_owned();
            loop {
                if let Some(end) = closing_double_quote(&collected) {
                    collected.truncate(end);
                    break;
                }
                if index >= lines.len() {
                    return Err((
                        line_number,
                        format!("unterminated double quote for `{key}`"),
                    ));
                }
                collected.push('\n');
                collected.push_str(lines[index]);
                index += 1;
            }
            unescape(&collected)
        } else if let Some(rest) = raw.strip_prefix('\'') {
            match rest.find('\'') {
                Some(end) => rest[..end].to_owned(),
                None => {
                    return Err((
                        line_number,
                        format!("unterminated single quote for `{key}`"),
                    ))
                }
            }
        } else {
            // An unquoted value ends at ` #` (an inline comment).
            let value = match raw.find(" #") {
                Some(comment) => &raw[..comment],
                None => raw,
            };
            value.trim_end().to_owned()
        };
        vars.insert(key.to_owned(), value);
    }
    Ok(vars)
}

fn first_word(line: &str) -> &str {
    // Never echo a whole line: it may be a key pasted without its name.
    let word = line.split_whitespace().next().unwrap_or("");
    if word.len() > 24 {
        "<long value>"
    } else {
        word
    }
}

fn closing_double_quote(text: &str) -> Option<usize> {
    let mut escaped = false;
    for (pos, c) in text.char_indices() {
        match c {
            '\\' if !escaped => escaped = true,
            '"' if !escaped => return Some(pos),
            _ => escaped = false,
        }
    }
    None
}

fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_common_forms() {
        let vars = parse_dotenv(
            "# comment\n\nOPENAI_API_KEY=sk-abc\nexport ANTHROPIC_API_KEY = 'lit $x # not comment'\n\
             VLLM_BASE_URL=http://localhost:8000/v1 # trailing comment\n\
             MULTI=\"line one\\nline \\\"two\\\"\nline three\"\nEMPTY=\n",
        )
        .unwrap();
        assert_eq!(vars["OPENAI_API_KEY"], "sk-abc");
        assert_eq!(vars["ANTHROPIC_API_KEY"], "lit $x # not comment");
        assert_eq!(vars["VLLM_BASE_URL"], "http://localhost:8000/v1");
        assert_eq!(vars["MULTI"], "line one\nline \"two\"\nline three");
        assert_eq!(vars["EMPTY"], "");
    }

    #[test]
    fn errors_name_the_line_and_do_not_echo_values() {
        let err = parse_dotenv("A=1\nsk-proj-0123456789abcdefghijklmnop\n").unwrap_err();
        assert_eq!(err.0, 2);
        assert!(!err.1.contains("0123456789"), "{}", err.1);
        let err = parse_dotenv("A=\"open\nB=2\n").unwrap_err();
        assert_eq!(err.0, 1);
        assert!(err.1.contains("unterminated"), "{}", err.1);
        assert_eq!(parse_dotenv("BAD KEY=1").unwrap_err().0, 1);
    }

    #[test]
    fn fixed_env_ignores_empty_values() {
        let env = Env::from_pairs([("A", "1"), ("B", "")]);
        assert_eq!(env.get("A").unwrap().as_deref(), Some("1"));
        assert_eq!(env.get("B").unwrap(), None);
        assert_eq!(env.get("C").unwrap(), None);
        assert!(!format!("{env:?}").contains('1'));
    }
}
