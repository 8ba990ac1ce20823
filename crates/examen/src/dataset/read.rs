//! Reading raw records (field name → JSON value) from dataset files, each
//! with the line it starts on so that errors can point at it.

use std::path::Path;

use examen_types::{JsonObject, JsonValue};
use serde_json::value::RawValue;

use super::DatasetError;

/// One raw record: field name to value.
pub type Record = JsonObject;

/// A record as read from a file: its fields, the line it starts on and, when its id is a
/// number a [`JsonValue`] cannot hold exactly (an integer beyond 64 bits), the id's literal
/// text, so that the id is kept exactly as written.
pub(super) struct FileRecord {
    pub line: usize,
    pub fields: Record,
    pub id_literal: Option<String>,
}

impl FileRecord {
    fn new(line: usize, fields: Record, raw: &str, id_field: &str) -> FileRecord {
        let inexact = matches!(
            fields.get(id_field),
            Some(JsonValue::Number(n)) if n.as_i64().is_none() && n.as_u64().is_none()
        );
        // Only then is the record read again, for the literal text of that one field.
        let id_literal = inexact
            .then(|| serde_json::from_str::<std::collections::HashMap<String, &RawValue>>(raw))
            .and_then(Result::ok)
            .and_then(|raw_fields| raw_fields.get(id_field).map(|v| v.get().to_owned()));
        FileRecord {
            line,
            fields,
            id_literal,
        }
    }
}

/// A dataset file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatasetFormat {
    /// One JSON object per line.
    Jsonl,
    /// A JSON array of objects (or a single object).
    Json,
    /// Comma-separated values with a header row.
    Csv,
}

impl DatasetFormat {
    /// The format named by a file extension (`.jsonl`, `.json`, `.csv`).
    pub fn from_path(path: &Path) -> Option<Self> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "jsonl" | "ndjson" => Some(DatasetFormat::Jsonl),
            "json" => Some(DatasetFormat::Json),
            "csv" => Some(DatasetFormat::Csv),
            _ => None,
        }
    }
}

/// The records of the file at `path`; `id_field` names the field whose literal text is kept
/// when a JSON value would round it (see [`FileRecord`]).
pub(super) fn read_records(
    path: &Path,
    format: DatasetFormat,
    id_field: &str,
) -> Result<Vec<FileRecord>, DatasetError> {
    let bytes = std::fs::read(path).map_err(|source| DatasetError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let record_error = |line: usize, message: String| DatasetError::Record {
        path: path.to_path_buf(),
        line,
        message,
    };
    let text = std::str::from_utf8(&bytes).map_err(|e| {
        let line = bytes[..e.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1;
        record_error(line, format!("the file is not valid UTF-8: {e}"))
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // A JSON syntax error at `line` of the file, `column` of that line.
    let syntax_error = |line: usize, column: usize, e: &serde_json::Error| DatasetError::Syntax {
        path: path.to_path_buf(),
        line,
        column,
        message: format!("invalid JSON: {}", without_position(e)),
    };
    match format {
        DatasetFormat::Jsonl => read_jsonl(text, id_field, &record_error, &syntax_error),
        DatasetFormat::Json => read_json(text, id_field, &record_error, &syntax_error),
        DatasetFormat::Csv => read_csv(text, &record_error),
    }
}

/// serde_json's message without its ` at line L column C` (positions in the text it was
/// given, which for a `.jsonl` record is one line, not the file).
fn without_position(e: &serde_json::Error) -> String {
    let message = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    message
        .strip_suffix(&suffix)
        .map_or(message.clone(), str::to_string)
}

type SyntaxError<'a> = &'a dyn Fn(usize, usize, &serde_json::Error) -> DatasetError;

fn read_jsonl(
    text: &str,
    id_field: &str,
    record_error: &dyn Fn(usize, String) -> DatasetError,
    syntax_error: SyntaxError<'_>,
) -> Result<Vec<FileRecord>, DatasetError> {
    let mut records = Vec::new();
    for (idx, line) in text.lines().enumerate() {
        let line_number = idx + 1;
        if line.trim().is_empty() {
            continue;
        }
        // Each record is parsed alone, so serde's line is 1 and its column is the line's.
        let value: JsonValue =
            serde_json::from_str(line).map_err(|e| syntax_error(line_number, e.column(), &e))?;
        match value {
            JsonValue::Object(map) => {
                records.push(FileRecord::new(line_number, map, line, id_field));
            }
            other => {
                return Err(record_error(
                    line_number,
                    format!(
                        "expected a JSON object (one record per line), found {}",
                        describe(&other)
                    ),
                ))
            }
        }
    }
    Ok(records)
}

fn read_json(
    text: &str,
    id_field: &str,
    record_error: &dyn Fn(usize, String) -> DatasetError,
    syntax_error: SyntaxError<'_>,
) -> Result<Vec<FileRecord>, DatasetError> {
    let line_of = |fragment: &str| {
        // The raw values borrow from `text`, so their offset is a position in it.
        let offset = (fragment.as_ptr() as usize).saturating_sub(text.as_ptr() as usize);
        text[..offset.min(text.len())].matches('\n').count() + 1
    };
    let top: &RawValue =
        serde_json::from_str(text).map_err(|e| syntax_error(e.line(), e.column(), &e))?;
    let trimmed = top.get().trim_start();
    let raw_records: Vec<&RawValue> = if trimmed.starts_with('[') {
        serde_json::from_str(top.get())
            .map_err(|e| record_error(e.line(), format!("invalid JSON: {e}")))?
    } else {
        vec![top]
    };
    let mut records = Vec::with_capacity(raw_records.len());
    for raw in raw_records {
        let line = line_of(raw.get());
        let value: JsonValue = serde_json::from_str(raw.get())
            .map_err(|e| record_error(line, format!("invalid JSON: {e}")))?;
        match value {
            JsonValue::Object(map) => records.push(FileRecord::new(line, map, raw.get(), id_field)),
            other => {
                return Err(record_error(
                    line,
                    format!(
                        "expected a JSON object for each record, found {}",
                        describe(&other)
                    ),
                ))
            }
        }
    }
    Ok(records)
}

fn read_csv(
    text: &str,
    record_error: &dyn Fn(usize, String) -> DatasetError,
) -> Result<Vec<FileRecord>, DatasetError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| record_error(csv_line(&e), format!("cannot read the CSV header: {e}")))?
        .clone();
    let mut records = Vec::new();
    for row in reader.records() {
        let row = row.map_err(|e| record_error(csv_line(&e), format!("malformed CSV: {e}")))?;
        let line = row
            .position()
            .map_or(0, |p| usize::try_from(p.line()).unwrap_or(0));
        if row.len() != headers.len() {
            let plural = if row.len() == 1 { "" } else { "s" };
            return Err(record_error(
                line,
                format!(
                    "the row has {} field{plural}, the header has {}",
                    row.len(),
                    headers.len()
                ),
            ));
        }
        if row.iter().all(|v| v.trim().is_empty()) {
            continue;
        }
        let mut record = Record::new();
        for (name, value) in headers.iter().zip(row.iter()) {
            record.insert(name.to_string(), JsonValue::String(value.to_string()));
        }
        records.push(FileRecord {
            line,
            fields: record,
            id_literal: None,
        });
    }
    Ok(records)
}

fn csv_line(e: &csv::Error) -> usize {
    e.position()
        .map_or(0, |p| usize::try_from(p.line()).unwrap_or(0))
}

fn describe(value: &JsonValue) -> &'static str {
    match value {
        JsonValue::Null => "null",
        JsonValue::Bool(_) => "a bool",
        JsonValue::Number(_) => "a number",
        JsonValue::String(_) => "a string",
        JsonValue::Array(_) => "an array",
        JsonValue::Object(_) => "an object",
    }
}
