//! Datasets: reading samples from `.jsonl`, `.json` and `.csv` files (or
//! memory), mapping record fields to sample fields, auto ids, shuffling,
//! `limit` and `sample_id` selection (Inspect's `json_dataset`,
//! `csv_dataset`, `FieldSpec`, `MemoryDataset`).
//!
//! Differences from Inspect, by design:
//! - ids are assigned from 1 in file order *before* any shuffle (Inspect's
//!   `auto_id`), so an id names the same record whatever the seed;
//! - shuffles use [`crate::rng::SplitMix64`], not Python's
//!   Mersenne Twister: a seed gives a different (but reproducible) order.

mod read;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use examen_types::{ChatMessage, JsonObject, JsonValue};

use crate::rng::SplitMix64;
use crate::sample::{Sample, SampleId, SampleInput, Target};
use crate::scorer::rules::answer_character;
use crate::template::py_str;

pub use read::{DatasetFormat, Record};

/// Which record fields hold which sample fields (Inspect's `FieldSpec`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldSpec {
    /// Field holding the input (default `input`).
    pub input: String,
    /// Field holding the target (default `target`).
    pub target: String,
    /// Field holding the id (default `id`).
    pub id: String,
    /// Field holding the choices (default `choices`).
    pub choices: String,
    /// Fields copied into the metadata. When `None`, a `metadata` field
    /// holding an object (or a JSON string) is used.
    pub metadata: Option<Vec<String>>,
    /// Field holding the sample's sandbox (default `sandbox`): a type, `[type, config]`, an
    /// object, or a JSON list in a string.
    pub sandbox: String,
    /// Field holding the files copied into the sandbox (default `files`): an object (or a
    /// JSON string of one) from `[env:]path` to a file, a data URI or text.
    pub files: String,
    /// Field holding the setup script (default `setup`): a file or the script's text.
    pub setup: String,
}

impl Default for FieldSpec {
    fn default() -> Self {
        Self {
            input: "input".into(),
            target: "target".into(),
            id: "id".into(),
            choices: "choices".into(),
            metadata: None,
            sandbox: "sandbox".into(),
            files: "files".into(),
            setup: "setup".into(),
        }
    }
}

/// A dataset could not be read or is invalid. Each error names the file
/// and, where there is one, the line.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DatasetError {
    /// The file could not be read.
    #[error("{path}: cannot read dataset: {source}")]
    Io {
        /// The dataset file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A record is malformed or cannot be turned into a sample.
    #[error("{path}:{line}: {message}")]
    Record {
        /// The dataset file (or `<inline>`).
        path: PathBuf,
        /// 1-based line of the record (for `.json`, the line of the error).
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A file is not valid JSON: the file's line and column, and what the parser expected.
    #[error("{path}:{line}:{column}: {message}")]
    Syntax {
        /// The dataset file.
        path: PathBuf,
        /// 1-based line in the file.
        line: usize,
        /// 1-based column in that line.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// Two samples have the same id.
    #[error("{location}: duplicate sample id `{id}` (first used by sample {first_position}, again by sample {position}); ids must be unique")]
    DuplicateId {
        /// The dataset file (or `<inline>`).
        location: String,
        /// The id.
        id: String,
        /// 1-based position of the first sample with it.
        first_position: usize,
        /// 1-based position of the second.
        position: usize,
    },
    /// The dataset holds no sample.
    #[error("{location}: the dataset has no samples; expected at least one record")]
    Empty {
        /// The dataset file (or `<inline>`).
        location: String,
    },
    /// A selection of samples (`limit`, `sample_id`) that selects none, or names an id the
    /// dataset does not have.
    #[error("{location}: {message}")]
    Selection {
        /// The dataset file (or `<inline>`).
        location: String,
        /// What was selected, and what the dataset has.
        message: String,
    },
    /// The file extension is not one examen reads.
    #[error("{path}: unsupported dataset format; expected a .jsonl, .json or .csv file")]
    UnknownFormat {
        /// The dataset file.
        path: PathBuf,
    },
}

/// How to read a dataset file.
#[derive(Debug, Clone, Default)]
pub struct DatasetOptions {
    /// Field mapping.
    pub fields: FieldSpec,
    /// The format; by default taken from the file extension.
    pub format: Option<DatasetFormat>,
    /// Shuffle the samples with this seed.
    pub shuffle: Option<u64>,
    /// Shuffle each sample's choices (and remap its letter targets) with this seed.
    pub shuffle_choices: Option<u64>,
    /// Keep only the first `limit` samples (after shuffling).
    pub limit: Option<usize>,
    /// Dataset name (default: the file stem).
    pub name: Option<String>,
}

/// An ordered, in-memory list of samples.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Dataset {
    /// Name (recorded in the log).
    pub name: Option<String>,
    /// Where it was read from (recorded in the log).
    pub location: Option<String>,
    /// Whether it was shuffled after reading.
    pub shuffled: bool,
    /// The samples, each with an id.
    pub samples: Vec<Sample>,
}

impl Dataset {
    /// A dataset of in-memory samples: samples without an id get their
    /// 1-based position; duplicate ids are an error.
    pub fn from_samples(samples: Vec<Sample>) -> Result<Dataset, DatasetError> {
        let mut dataset = Dataset {
            name: None,
            location: None,
            shuffled: false,
            samples,
        };
        dataset.assign_ids("<inline>")?;
        Ok(dataset)
    }

    /// Reads a `.jsonl`, `.json` or `.csv` file.
    pub fn read(path: impl AsRef<Path>, options: &DatasetOptions) -> Result<Dataset, DatasetError> {
        let path = path.as_ref();
        let format = match options.format {
            Some(format) => format,
            None => DatasetFormat::from_path(path).ok_or_else(|| DatasetError::UnknownFormat {
                path: path.to_path_buf(),
            })?,
        };
        let records = read::read_records(path, format, &options.fields.id)?;
        if records.is_empty() {
            return Err(DatasetError::Empty {
                location: path.display().to_string(),
            });
        }
        if format == DatasetFormat::Csv {
            // Every row has the header's columns: a missing input or target column is the
            // header's fault.
            for (what, column) in [
                ("input", &options.fields.input),
                ("target", &options.fields.target),
            ] {
                if let Some(first) = records.first().filter(|r| !r.fields.contains_key(column)) {
                    let columns: Vec<String> =
                        first.fields.keys().map(|k| format!("`{k}`")).collect();
                    return Err(DatasetError::Record {
                        path: path.to_path_buf(),
                        line: 1,
                        message: format!(
                            "no `{column}` column: the header has {}; name the {what} column \
                             with `fields: {{{what}: <column>}}`",
                            columns.join(", ")
                        ),
                    });
                }
            }
        }
        let mut samples = Vec::with_capacity(records.len());
        for record in records {
            let id_literal = record.id_literal.as_deref();
            let sample = record_to_exact_sample(&record.fields, id_literal, &options.fields)
                .map_err(|message| DatasetError::Record {
                    path: path.to_path_buf(),
                    line: record.line,
                    message,
                })?;
            samples.push(sample);
        }
        if let Some(dir) = path.parent() {
            resolve_sample_files(&mut samples, dir);
        }
        let mut dataset = Dataset {
            name: options
                .name
                .clone()
                .or_else(|| path.file_stem().map(|s| s.to_string_lossy().into_owned())),
            location: Some(path.display().to_string()),
            shuffled: false,
            samples,
        };
        dataset.assign_ids(&path.display().to_string())?;
        if let Some(seed) = options.shuffle {
            dataset.shuffle(seed);
        }
        if let Some(seed) = options.shuffle_choices {
            dataset
                .shuffle_choices(seed)
                .map_err(|message| DatasetError::Record {
                    path: path.to_path_buf(),
                    line: 0,
                    message,
                })?;
        }
        if let Some(limit) = options.limit {
            dataset.limit(limit);
        }
        Ok(dataset)
    }

    fn assign_ids(&mut self, location: &str) -> Result<(), DatasetError> {
        let mut seen: HashMap<String, usize> = HashMap::new();
        for (idx, sample) in self.samples.iter_mut().enumerate() {
            let id = sample
                .id
                .get_or_insert_with(|| SampleId::Int(i64::try_from(idx + 1).unwrap_or(i64::MAX)));
            check_id_length(id).map_err(|e| DatasetError::Record {
                path: PathBuf::from(location),
                line: 0,
                message: format!("sample {}: its id {e}", idx + 1),
            })?;
            // An int 1 and a string "1" would share a log entry name.
            let key = id.to_string();
            if let Some(first) = seen.insert(key.clone(), idx + 1) {
                return Err(DatasetError::DuplicateId {
                    location: location.to_string(),
                    id: key,
                    first_position: first,
                    position: idx + 1,
                });
            }
        }
        Ok(())
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// Shuffles the samples with `seed` (see [`crate::rng`] for the order).
    pub fn shuffle(&mut self, seed: u64) {
        SplitMix64::new(seed).shuffle(&mut self.samples);
        self.shuffled = true;
    }

    /// Shuffles each sample's choices with `seed` and remaps letter targets
    /// (Inspect's `shuffle_choices`).
    pub fn shuffle_choices(&mut self, seed: u64) -> Result<(), String> {
        let mut rng = SplitMix64::new(seed);
        for sample in &mut self.samples {
            let Some(choices) = sample.choices.as_mut() else {
                continue;
            };
            let mut positions: Vec<usize> = (0..choices.len()).collect();
            rng.shuffle(&mut positions);
            let shuffled: Vec<String> = positions.iter().map(|&p| choices[p].clone()).collect();
            let mut letter_for_original = vec![String::new(); positions.len()];
            for (new_idx, &original) in positions.iter().enumerate() {
                letter_for_original[original] = answer_character(new_idx);
            }
            let remap = |t: &str| -> Result<String, String> {
                let idx = crate::scorer::rules::answer_index(t)?;
                letter_for_original.get(idx).cloned().ok_or_else(|| {
                    format!(
                        "sample {}: target `{t}` names no choice",
                        sample.id.clone().unwrap_or(SampleId::Int(0))
                    )
                })
            };
            sample.target = match &sample.target {
                Target::One(t) => Target::One(remap(t)?),
                Target::Many(ts) => {
                    Target::Many(ts.iter().map(|t| remap(t)).collect::<Result<_, _>>()?)
                }
            };
            *choices = shuffled;
        }
        Ok(())
    }

    /// Keeps the first `limit` samples.
    pub fn limit(&mut self, limit: usize) {
        self.samples.truncate(limit);
    }

    /// Keeps the samples in `range` (0-based, like Inspect's `--limit 10,20`
    /// which selects samples 10 to 19).
    pub fn slice(&mut self, start: usize, end: usize) {
        let end = end.min(self.samples.len());
        let start = start.min(end);
        self.samples = self.samples.drain(start..end).collect();
    }

    /// A few of the ids, for messages: `1, 2, 3, ... (20 samples)`.
    pub fn describe_ids(&self) -> String {
        const SHOWN: usize = 5;
        let ids: Vec<String> = self
            .samples
            .iter()
            .filter_map(|s| s.id.as_ref())
            .take(SHOWN)
            .map(|id| format!("`{id}`"))
            .collect();
        let mut text = ids.join(", ");
        if self.samples.len() > SHOWN {
            text.push_str(&format!(", ... ({} samples)", self.samples.len()));
        }
        text
    }

    /// Why an eval's selection (`limit`, `sample_id`) would run none of these samples, if it
    /// would: an eval of nothing reports `0/0` and a NaN metric as a success.
    pub fn empty_selection(&self, limit: Option<usize>, ids: Option<&[String]>) -> Option<String> {
        if limit == Some(0) {
            return Some("`limit` 0 selects no samples; expected a limit of at least 1".into());
        }
        let ids = ids?;
        let selected = self.samples.iter().any(|s| {
            s.id.as_ref()
                .is_some_and(|id| ids.iter().any(|sel| id.matches(sel)))
        });
        (!selected).then(|| {
            format!(
                "`sample_id` {} selects no samples; the dataset's ids are {}",
                ids.join(","),
                self.describe_ids()
            )
        })
    }

    /// Keeps only the samples whose id is listed (`"3"` selects id 3).
    /// Returns the selectors that matched no sample.
    pub fn select_ids(&mut self, ids: &[String]) -> Vec<String> {
        let unmatched = ids
            .iter()
            .filter(|sel| {
                !self
                    .samples
                    .iter()
                    .any(|s| s.id.as_ref().is_some_and(|id| id.matches(sel)))
            })
            .cloned()
            .collect();
        self.samples.retain(|s| {
            s.id.as_ref()
                .is_some_and(|id| ids.iter().any(|sel| id.matches(sel)))
        });
        unmatched
    }
}

fn is_missing(value: Option<&JsonValue>) -> bool {
    matches!(value, None | Some(JsonValue::Null))
}

/// Inspect's `record_to_sample` for a field spec.
pub fn record_to_sample(record: &Record, fields: &FieldSpec) -> Result<Sample, String> {
    record_to_exact_sample(record, None, fields)
}

/// [`record_to_sample`], given the id field's literal text for when the record's value has
/// rounded it (an integer beyond 64 bits), so that the id is kept exactly.
pub fn record_to_exact_sample(
    record: &Record,
    id_literal: Option<&str>,
    fields: &FieldSpec,
) -> Result<Sample, String> {
    let metadata = match &fields.metadata {
        Some(names) => {
            let mut meta = JsonObject::new();
            for name in names {
                meta.insert(
                    name.clone(),
                    record.get(name).cloned().unwrap_or(JsonValue::Null),
                );
            }
            Some(meta)
        }
        None => match record.get("metadata") {
            None | Some(JsonValue::Null) => None,
            Some(JsonValue::Object(map)) => Some(map.clone()),
            Some(JsonValue::String(text)) => match serde_json::from_str::<JsonValue>(text) {
                Ok(JsonValue::Object(map)) => Some(map),
                Ok(_) => return Err("the `metadata` field must hold a JSON object".into()),
                Err(e) => return Err(format!("the `metadata` field is not valid JSON: {e}")),
            },
            Some(other) => {
                return Err(format!(
                    "unexpected type for the `metadata` field: {}",
                    json_type(other)
                ))
            }
        },
    };
    Ok(Sample {
        input: read_input(record.get(&fields.input), &fields.input)?,
        target: read_target(record.get(&fields.target), &fields.target)?,
        choices: read_choices(record.get(&fields.choices)),
        id: read_id(record.get(&fields.id), id_literal, &fields.id)?,
        metadata,
        sandbox: read_sandbox(record.get(&fields.sandbox), &fields.sandbox)?,
        files: read_files(record.get(&fields.files), &fields.files)?,
        setup: match record.get(&fields.setup) {
            None | Some(JsonValue::Null) => None,
            Some(JsonValue::String(text)) => Some(text.clone()),
            Some(other) => {
                return Err(format!(
                    "the `{}` field must be a file name or the script's text, got {}",
                    fields.setup,
                    json_type(other)
                ))
            }
        },
    })
}

/// A sample's sandbox, checked and written in the log's form (`{"type": ..., "config": ...}`).
fn read_sandbox(value: Option<&JsonValue>, field: &str) -> Result<Option<JsonValue>, String> {
    let Some(value) = value else {
        return Ok(None);
    };
    match examen_sandbox::SandboxSpec::from_json(value) {
        Ok(spec) => Ok(spec.as_ref().map(examen_sandbox::SandboxSpec::to_json)),
        Err(e) => Err(format!("the `{field}` field: {e}")),
    }
}

/// A sample's files: an object of strings, or a JSON string holding one (as a CSV cell).
fn read_files(value: Option<&JsonValue>, field: &str) -> Result<Option<JsonObject>, String> {
    let map = match value {
        None | Some(JsonValue::Null) => return Ok(None),
        Some(JsonValue::Object(map)) => map.clone(),
        Some(JsonValue::String(text)) if text.trim().is_empty() => return Ok(None),
        Some(JsonValue::String(text)) => match serde_json::from_str::<JsonValue>(text) {
            Ok(JsonValue::Object(map)) => map,
            _ => {
                return Err(format!(
                    "the `{field}` field must hold an object from file names to contents"
                ))
            }
        },
        Some(other) => {
            return Err(format!(
                "the `{field}` field must be an object from file names to contents, got {}",
                json_type(other)
            ))
        }
    };
    if let Some((name, value)) = map.iter().find(|(_, v)| !v.is_string()) {
        return Err(format!(
            "the `{field}` field: `{name}` must be a file name, a data URI or text, got {}",
            json_type(value)
        ));
    }
    Ok(Some(map))
}

/// Inspect's `resolve_sample_files`: a sample's sandbox configuration, files and setup that
/// name a file beside the dataset (relative to `dir`) are made to name it wherever the eval
/// runs. Anything else (text, data URIs, absolute paths) is kept as it is.
pub fn resolve_sample_files(samples: &mut [Sample], dir: &Path) {
    let resolve = |text: &mut String| {
        if text.is_empty() || text.starts_with("data:") || Path::new(text.as_str()).is_absolute() {
            return;
        }
        // A name too long for the file system is text, not a file (as Inspect's `OSError`).
        let candidate = dir.join(text.as_str());
        if std::fs::symlink_metadata(&candidate).is_ok() {
            *text = candidate.display().to_string();
        }
    };
    for sample in samples {
        if let Some(JsonValue::Object(spec)) = &mut sample.sandbox {
            if let Some(JsonValue::String(config)) = spec.get_mut("config") {
                resolve(config);
            }
        }
        if let Some(files) = &mut sample.files {
            for value in files.values_mut() {
                if let JsonValue::String(source) = value {
                    resolve(source);
                }
            }
        }
        if let Some(setup) = &mut sample.setup {
            resolve(setup);
        }
    }
}

fn json_type(value: &JsonValue) -> &'static str {
    match value {
        JsonValue::Null => "null",
        JsonValue::Bool(_) => "bool",
        JsonValue::Number(_) => "number",
        JsonValue::String(_) => "string",
        JsonValue::Array(_) => "array",
        JsonValue::Object(_) => "object",
    }
}

fn read_input(value: Option<&JsonValue>, field: &str) -> Result<SampleInput, String> {
    match value {
        None | Some(JsonValue::Null) => Err(format!("no input: the record has no `{field}` field")),
        Some(JsonValue::String(s)) if s.is_empty() => {
            Err(format!("no input: the `{field}` field is empty"))
        }
        Some(JsonValue::String(s)) => Ok(SampleInput::Text(s.clone())),
        Some(JsonValue::Array(items)) if items.is_empty() => {
            Err(format!("no input: the `{field}` field is empty"))
        }
        Some(JsonValue::Array(items)) => {
            let mut messages = Vec::with_capacity(items.len());
            for (idx, item) in items.iter().enumerate() {
                let role = item.get("role").and_then(JsonValue::as_str);
                if !matches!(role, Some("system" | "user" | "assistant" | "tool")) {
                    return Err(format!("message {} of `{field}`: `role` must be one of system, user, assistant, tool", idx + 1));
                }
                if item.get("content").is_none_or(JsonValue::is_null) {
                    return Err(format!(
                        "message {} of `{field}`: `content` is required",
                        idx + 1
                    ));
                }
                let message: ChatMessage = serde_json::from_value(item.clone()).map_err(|e| {
                    format!(
                        "message {} of `{field}` is not a chat message: {e}",
                        idx + 1
                    )
                })?;
                messages.push(message);
            }
            Ok(SampleInput::Messages(messages))
        }
        Some(other) => Err(format!(
            "`{field}` must be a string or a list of chat messages, found {}",
            json_type(other)
        )),
    }
}

/// A record without its target field is an error, as one without its input is: a misspelled
/// `fields: {target: ...}` would otherwise give every sample an empty target. A sample with
/// no target says so with an empty one (`"target": ""`).
fn read_target(value: Option<&JsonValue>, field: &str) -> Result<Target, String> {
    match value {
        None | Some(JsonValue::Null) => Err(format!(
            "no target: the record has no `{field}` field (name the target field with \
             `fields: {{target: <field>}}`; a sample without a target has `\"{field}\": \"\"`)"
        )),
        Some(JsonValue::Array(items)) => Ok(Target::Many(items.iter().map(py_str).collect())),
        Some(other) => Ok(Target::One(py_str(other))),
    }
}

fn read_choices(value: Option<&JsonValue>) -> Option<Vec<String>> {
    match value {
        _ if is_missing(value) => None,
        Some(JsonValue::Array(items)) => Some(
            items
                .iter()
                .map(py_str)
                .filter(|c| !crate::text::py_strip(c).is_empty())
                .collect(),
        ),
        Some(JsonValue::String(s)) => {
            let mut parts: Vec<&str> = s.split(',').collect();
            if parts.len() == 1 {
                parts = crate::text::py_split_whitespace(s).collect();
            }
            Some(
                parts
                    .into_iter()
                    .map(crate::text::py_strip)
                    .filter(|c| !c.is_empty())
                    .map(str::to_string)
                    .collect(),
            )
        }
        Some(other) => Some(vec![py_str(other)]),
        None => None,
    }
}

/// An id as Inspect reads it (`int | str`, through pydantic): integers exactly, of any size
/// (from `literal`, the field's text, when the JSON value rounds it), a float with no
/// fractional part as that integer (`2.0` is the id `2`), other floats refused.
fn read_id(
    value: Option<&JsonValue>,
    literal: Option<&str>,
    field: &str,
) -> Result<Option<SampleId>, String> {
    let id = match value {
        _ if is_missing(value) => None,
        Some(JsonValue::String(s)) if s.is_empty() => None,
        Some(JsonValue::String(s)) => Some(SampleId::Str(s.clone())),
        Some(JsonValue::Number(n)) => {
            if let Some(i) = n.as_i64() {
                Some(SampleId::Int(i))
            } else if let Some(u) = n.as_u64() {
                Some(SampleId::UInt(u))
            } else if let Some(exact) = literal.and_then(|text| SampleId::parse_int(text.trim())) {
                Some(exact)
            } else {
                let f = n.as_f64().unwrap_or(f64::NAN);
                // A float in the 64-bit range came from a float literal, not a rounded integer.
                let in_64_bits = (-(2f64.powi(63))..2f64.powi(64)).contains(&f);
                match SampleId::from_whole_f64(f) {
                    Some(id) if literal.is_some() || in_64_bits => Some(id),
                    Some(_) => {
                        // No text to read it from (inline samples in YAML): the value was
                        // rounded on the way in.
                        return Err(format!(
                            "`{field}` is {n}, an integer beyond 64 bits that cannot be read \
                             exactly here; write it as a string, or put the samples in a \
                             .jsonl file, which keeps integer ids of any size"
                        ));
                    }
                    None => {
                        return Err(format!(
                            "`{field}` is {n}, which is not a whole number; a sample id is a \
                             string or an integer (quote it to keep it as text: \"{n}\")"
                        ))
                    }
                }
            }
        }
        Some(other) => {
            return Err(format!(
                "`{field}` must be a string or an integer, found {}",
                json_type(other)
            ))
        }
        None => None,
    };
    if let Some(id) = &id {
        check_id_length(id).map_err(|e| format!("`{field}` {e}"))?;
    }
    Ok(id)
}

/// Refuses an id too long for an `.eval` log (see [`SampleId::MAX_LEN`]).
fn check_id_length(id: &SampleId) -> Result<(), String> {
    let len = id.to_string().len();
    if len > SampleId::MAX_LEN {
        return Err(format!(
            "is {len} bytes long; sample ids are at most {} bytes (an .eval log stores each \
             sample under a file named after its id, and zip file names are at most 65,535 \
             bytes)",
            SampleId::MAX_LEN
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record(v: JsonValue) -> Record {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn default_fields() {
        let r = record(json!({"input": "2+2?", "target": 4, "id": 7, "metadata": {"level": 1}}));
        let s = record_to_sample(&r, &FieldSpec::default()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.input, SampleInput::Text("2+2?".into()));
        assert_eq!(s.target, Target::One("4".into()));
        assert_eq!(s.id, Some(SampleId::Int(7)));
        assert_eq!(
            s.metadata.and_then(|m| m.get("level").cloned()),
            Some(json!(1))
        );
    }

    #[test]
    fn mapped_fields_and_choices() {
        let fields = FieldSpec {
            input: "question".into(),
            target: "answer".into(),
            choices: "options".into(),
            metadata: Some(vec!["level".into(), "missing".into()]),
            ..FieldSpec::default()
        };
        let r = record(
            json!({"question": "q", "answer": ["A", "B"], "options": "x, y,,z", "level": "easy"}),
        );
        let s = record_to_sample(&r, &fields).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.target, Target::Many(vec!["A".into(), "B".into()]));
        assert_eq!(s.choices, Some(vec!["x".into(), "y".into(), "z".into()]));
        let meta = s.metadata.unwrap_or_default();
        assert_eq!(meta.get("level"), Some(&json!("easy")));
        assert_eq!(meta.get("missing"), Some(&JsonValue::Null));
    }

    #[test]
    fn chat_inputs() {
        let r = record(
            json!({"input": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}], "target": ""}),
        );
        let s = record_to_sample(&r, &FieldSpec::default()).unwrap_or_else(|e| panic!("{e}"));
        let SampleInput::Messages(m) = &s.input else {
            panic!("messages")
        };
        assert_eq!(m.len(), 2);
        assert_eq!(s.input.text(), "hi");
        let bad = record(json!({"input": [{"role": "robot", "content": "x"}], "target": ""}));
        assert!(record_to_sample(&bad, &FieldSpec::default()).is_err());
    }

    #[test]
    fn missing_input_is_an_error() {
        let err = record_to_sample(&record(json!({"target": "x"})), &FieldSpec::default());
        assert_eq!(
            err,
            Err("no input: the record has no `input` field".to_string())
        );
    }

    #[test]
    fn auto_ids_and_duplicates() {
        let d = Dataset::from_samples(vec![
            Sample::new("a", ""),
            Sample::new("b", "").with_id("x"),
            Sample::new("c", ""),
        ]);
        let ids: Vec<_> = d
            .unwrap_or_default()
            .samples
            .into_iter()
            .filter_map(|s| s.id)
            .collect();
        assert_eq!(
            ids,
            vec![
                SampleId::Int(1),
                SampleId::Str("x".into()),
                SampleId::Int(3)
            ]
        );
        let dup =
            Dataset::from_samples(vec![Sample::new("a", ""), Sample::new("b", "").with_id(1)]);
        assert!(matches!(
            dup,
            Err(DatasetError::DuplicateId {
                first_position: 1,
                position: 2,
                ..
            })
        ));
        let str_int = Dataset::from_samples(vec![
            Sample::new("a", "").with_id("1"),
            Sample::new("b", "").with_id(1),
        ]);
        assert!(str_int.is_err());
    }

    #[test]
    fn shuffle_limit_select() {
        let samples: Vec<Sample> = (0..20).map(|i| Sample::new(format!("q{i}"), "")).collect();
        let mut a = Dataset::from_samples(samples.clone()).unwrap_or_default();
        let mut b = Dataset::from_samples(samples).unwrap_or_default();
        a.shuffle(42);
        b.shuffle(42);
        assert_eq!(a, b);
        assert!(a.shuffled);
        a.limit(5);
        assert_eq!(a.len(), 5);
        let mut c = b.clone();
        let unmatched = c.select_ids(&["3".into(), "17".into(), "99".into()]);
        assert_eq!(unmatched, vec!["99".to_string()]);
        let mut ids: Vec<_> = c.samples.iter().filter_map(|s| s.id.clone()).collect();
        ids.sort();
        assert_eq!(ids, vec![SampleId::Int(3), SampleId::Int(17)]);
    }

    #[test]
    fn shuffle_choices_remaps_targets() {
        let s = Sample::new("q", "A").with_choices(["right", "w1", "w2", "w3"]);
        let mut d = Dataset::from_samples(vec![s]).unwrap_or_default();
        d.shuffle_choices(3).unwrap_or_else(|e| panic!("{e}"));
        let s = &d.samples[0];
        let Target::One(letter) = &s.target else {
            panic!("one target")
        };
        let idx = crate::scorer::rules::answer_index(letter).unwrap_or(99);
        assert_eq!(s.choices.as_ref().map(|c| c[idx].as_str()), Some("right"));
    }
}
