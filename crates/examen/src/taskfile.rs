//! Task files: a YAML description of a task, so that running an eval needs
//! no Rust. The shape (a contract; extend it, keep it working):
//!
//! ```yaml
//! name: arithmetic                 # required, not empty
//! dataset:
//!   path: arithmetic.jsonl         # relative to the task file: .jsonl, .json (array) or .csv
//!   fields: {input: question, target: answer, id: id, choices: options, metadata: [level]}
//!   shuffle: true                  # optional, with `seed: 42` (or `shuffle: 42`)
//!   limit: 100                     # optional, at least 1
//!   sample_id: [1, 2]              # optional; every id listed must be in the dataset
//! # or inline: dataset: {samples: [{input: "What is 1+1?", target: "2"}]}
//! solver:                          # run in order; default [generate]
//!   - system_message: "You are a careful calculator."
//!   - prompt_template: "{prompt}\nEnd with ANSWER: <number>"
//!   - generate
//! scorer: includes                 # a name, a list, or {match: {location: end, numeric: true}}
//! metrics: [accuracy, stderr]      # optional: replaces the scorers' metrics
//! epochs: {epochs: 3, reducer: [mean, pass_at_2]}   # or a number
//! config: {max_tokens: 64, temperature: 0}
//! fail_on_error: 0.1               # true, false, a fraction or a count
//! continue_on_fail: false
//! message_limit: 10                # also token_limit, time_limit, working_limit (seconds)
//! model_roles: {grader: mockllm/model}
//! ```
//!
//! Every record needs its input and its target field (`"target": ""` for a sample without
//! one), so that a misspelled field mapping is an error rather than empty targets.
//!
//! Every record needs its input and its target field (`"target": ""` for a sample without
//! one), so that a misspelled field mapping is an error rather than empty targets.
//!
//! Reading a task file has two steps. [`TaskSpec::parse`] reads the YAML
//! into a [`TaskSpec`]: plain data, with the shape of every field checked
//! and the position of every component kept. [`TaskSpec::build`] then
//! turns it into a [`Task`] through a [`Registry`] (which knows the
//! solvers, scorers, metrics and reducers by name) and the task file's
//! directory (which relative dataset paths are read from).
//! [`load_task_file`] does both with the built-in registry;
//! [`load_task_file_with`] takes a registry.
//!
//! Every error names the file, the line and the column, and says what was
//! expected; an unknown solver, scorer, metric or reducer lists the valid
//! names (see [`crate::registry`]).

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use examen_types::{GenerateConfig, JsonObject, JsonValue};
use indexmap::IndexMap;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_norway::Value as Yaml;

use crate::dataset::{
    record_to_exact_sample, Dataset, DatasetError, DatasetFormat, DatasetOptions, FieldSpec,
};
use crate::registry::{self, entry_parts, Kind, Registry};
use crate::sample::Sample;
use crate::task::{Epochs, FailOnError, Limits, Task};

/// A task file that cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TaskFileError {
    /// The file cannot be read.
    #[error("{}: cannot read task file: {source}", path.display())]
    Read {
        /// The task file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The YAML is malformed or does not have the expected shape.
    #[error("{}:{line}:{column}: {message}", path.display())]
    Parse {
        /// The task file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What was expected.
        message: String,
    },
    /// A `-T key=value` override cannot be applied, or gives a field a value
    /// it cannot have.
    #[error("{}: -T {arg}: {message}", path.display())]
    Arg {
        /// The task file.
        path: PathBuf,
        /// The override(s), as given (`config.temperature=hot`).
        arg: String,
        /// What was expected.
        message: String,
    },
    /// The dataset cannot be read.
    #[error("{}: dataset: {source}", path.display())]
    Dataset {
        /// The task file.
        path: PathBuf,
        /// The dataset error (naming the dataset file and line).
        source: DatasetError,
    },
}

/// Where something is written in a task file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    /// The task file.
    pub file: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
}

/// Where a part of a [`TaskSpec`] comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A place in the task file.
    File(Position),
    /// `-T` overrides of its top-level field.
    Arg {
        /// The task file.
        file: PathBuf,
        /// The overrides, as given (`scorer=includes`), joined by ` -T `.
        arg: String,
    },
}

/// A part of a [`TaskSpec`] with where it was written, so that building it
/// can fail with the file, line and column.
#[derive(Debug, Clone, PartialEq)]
pub struct Located<T> {
    /// The part.
    pub value: T,
    /// Where it was written.
    pub origin: Origin,
    /// Its path in the document, as errors name it (`scorer[1]`, `epochs`).
    pub path: String,
}

impl<T> Located<T> {
    /// An error about this part: `file:line:column: path: message`, or
    /// `file: -T arg: path: message` for an overridden field.
    pub fn error(&self, message: impl fmt::Display) -> TaskFileError {
        let message = format!("{}: {message}", self.path);
        match &self.origin {
            Origin::File(position) => TaskFileError::Parse {
                path: position.file.clone(),
                line: position.line,
                column: position.column,
                message,
            },
            Origin::Arg { file, arg } => TaskFileError::Arg {
                path: file.clone(),
                arg: arg.clone(),
                message,
            },
        }
    }
}

/// A solver, scorer or metric as a task file names it: `includes`, or
/// `{match: {numeric: true}}`.
#[derive(Debug, Clone, PartialEq)]
pub struct ComponentSpec {
    /// The registry name.
    pub name: String,
    /// The arguments (`None` when only the name is given).
    pub args: Option<Yaml>,
}

/// `epochs`: a count and the reducers' names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EpochsSpec {
    /// The number of epochs (at least 1).
    pub epochs: usize,
    /// The reducers' names (`mean`, `pass_at_2`, or registered ones).
    pub reducers: Vec<String>,
}

/// Where a dataset's samples come from.
#[derive(Debug, Clone, PartialEq)]
pub enum DatasetSource {
    /// A file, relative to the task file's directory (or absolute).
    Path(PathBuf),
    /// Samples written in the task file.
    Samples(Vec<Sample>),
}

/// `dataset`: the samples' source and how to read them.
#[derive(Debug, Clone)]
pub struct DatasetSpec {
    /// The file or the inline samples.
    pub source: DatasetSource,
    /// Field mapping, format, shuffling, limit and name. A `shuffle: true`
    /// without a seed has been given a random seed already.
    pub options: DatasetOptions,
    /// `sample_id`: the ids to keep.
    pub sample_id: Option<Vec<String>>,
}

/// A task file as data: every field read and its shape checked, nothing
/// built yet (see the [module docs](self)).
#[derive(Debug, Clone)]
pub struct TaskSpec {
    /// The task file (named in errors).
    pub file: PathBuf,
    /// The file's text as written, before any `-T` override (recorded in the log so that
    /// `eval-retry` can rebuild the task when the file is gone).
    pub text: Arc<str>,
    /// `name`.
    pub name: String,
    /// `version`.
    pub version: u32,
    /// `dataset`.
    pub dataset: Located<DatasetSpec>,
    /// `solver`, in order (empty: `[generate]`).
    pub solver: Vec<Located<ComponentSpec>>,
    /// `scorer`.
    pub scorer: Vec<Located<ComponentSpec>>,
    /// `metrics` (`None`: the scorers' own).
    pub metrics: Option<Vec<Located<ComponentSpec>>>,
    /// `epochs`.
    pub epochs: Option<Located<EpochsSpec>>,
    /// `config`.
    pub config: GenerateConfig,
    /// `fail_on_error`.
    pub fail_on_error: Option<FailOnError>,
    /// `continue_on_fail`.
    pub continue_on_fail: Option<bool>,
    /// `message_limit`, `token_limit`, `time_limit`, `working_limit`.
    pub limits: Limits,
    /// `model_roles`.
    pub model_roles: IndexMap<String, String>,
    /// `metadata`.
    pub metadata: JsonObject,
    /// `sandbox`.
    pub sandbox: Option<examen_sandbox::SandboxSpec>,
    /// The `-T` overrides applied, as `{key: value}` (recorded in the log).
    pub args: JsonObject,
}

impl TaskSpec {
    /// Reads a task file.
    pub fn load(path: impl AsRef<Path>) -> Result<TaskSpec, TaskFileError> {
        Self::load_with_args(path, &[])
    }

    /// Reads a task file with `-T key=value` overrides applied in order
    /// (see [`load_task_file_with_args`]).
    pub fn load_with_args(
        path: impl AsRef<Path>,
        args: &[(String, String)],
    ) -> Result<TaskSpec, TaskFileError> {
        let path = path.as_ref();
        let text = read(path)?;
        Self::parse_with_args(&text, path, args)
    }

    /// Parses task-file text; `path` names the file in errors.
    pub fn parse(text: &str, path: &Path) -> Result<TaskSpec, TaskFileError> {
        let raw = parse_raw(text).map_err(|e| parse_error(path, text, &e))?;
        Ok(locate(raw, text, path, &[]))
    }

    /// [`parse`](Self::parse) with `-T key=value` overrides applied in order.
    pub fn parse_with_args(
        text: &str,
        path: &Path,
        args: &[(String, String)],
    ) -> Result<TaskSpec, TaskFileError> {
        if args.is_empty() {
            return Self::parse(text, path);
        }
        let arg_error = |arg: String, message: String| TaskFileError::Arg {
            path: path.to_path_buf(),
            arg,
            message,
        };
        let mut doc: Yaml = if text.trim().is_empty() {
            Yaml::Mapping(serde_norway::Mapping::new())
        } else {
            serde_norway::from_str(text).map_err(|e| parse_error(path, text, &e))?
        };
        let mut recorded = JsonObject::new();
        for (key, value) in args {
            let parsed: Yaml = serde_norway::from_str(value).map_err(|e| {
                arg_error(
                    format!("{key}={value}"),
                    format!("the value is not valid YAML: {}", strip_location(&e)),
                )
            })?;
            let json = serde_json::to_value(&parsed)
                .map_err(|e| arg_error(format!("{key}={value}"), e.to_string()))?;
            set_field(&mut doc, key, parsed)
                .map_err(|why| arg_error(format!("{key}={value}"), why))?;
            recorded.insert(key.clone(), json);
        }
        let edited = serde_norway::to_string(&doc).map_err(|e| {
            let all: Vec<String> = args.iter().map(|(k, v)| format!("{k}={v}")).collect();
            arg_error(all.join(" -T "), e.to_string())
        })?;
        let raw = match parse_raw(&edited) {
            Ok(raw) => raw,
            Err(e) => return Err(override_error(text, &edited, path, args, &e)),
        };
        let mut spec = locate(raw, text, path, args);
        spec.args = recorded;
        Ok(spec)
    }

    /// Builds the task through `registry`; `dir` is the task file's
    /// directory, which relative dataset paths are read from. Reads the
    /// dataset.
    pub fn build(&self, dir: &Path, registry: &Registry) -> Result<Task, TaskFileError> {
        let path = &self.file;
        let dataset_error = |source| TaskFileError::Dataset {
            path: path.clone(),
            source,
        };
        let spec = &self.dataset.value;
        let mut dataset = match &spec.source {
            DatasetSource::Path(relative) => {
                let full = dir.join(relative);
                if !full.is_file() {
                    return Err(self.dataset.error(format!(
                        "dataset file `{}` not found (looked for {})",
                        relative.display(),
                        full.display()
                    )));
                }
                Dataset::read(full, &spec.options).map_err(dataset_error)?
            }
            DatasetSource::Samples(samples) => {
                if samples.is_empty() {
                    return Err(dataset_error(DatasetError::Empty {
                        location: "<inline>".into(),
                    }));
                }
                let mut dataset = Dataset::from_samples(samples.clone()).map_err(dataset_error)?;
                // Inline samples' files are beside the task file.
                crate::dataset::resolve_sample_files(&mut dataset.samples, dir);
                dataset.name = spec.options.name.clone();
                if let Some(seed) = spec.options.shuffle {
                    dataset.shuffle(seed);
                }
                if let Some(seed) = spec.options.shuffle_choices {
                    dataset.shuffle_choices(seed).map_err(|message| {
                        dataset_error(DatasetError::Record {
                            path: path.clone(),
                            line: 0,
                            message,
                        })
                    })?;
                }
                if let Some(limit) = spec.options.limit {
                    dataset.limit(limit);
                }
                dataset
            }
        };
        if let Some(ids) = &spec.sample_id {
            let all = dataset.describe_ids();
            let unmatched = dataset.select_ids(ids);
            if !unmatched.is_empty() {
                let named: Vec<String> = unmatched.iter().map(|id| format!("`{id}`")).collect();
                return Err(dataset_error(DatasetError::Selection {
                    location: dataset
                        .location
                        .clone()
                        .unwrap_or_else(|| "<inline>".into()),
                    message: format!(
                        "`sample_id` names no sample with id {}; the dataset's ids are {all}",
                        named.join(", ")
                    ),
                }));
            }
        }
        let mut task = Task::new(self.name.clone(), dataset);
        task.version = self.version;
        for entry in &self.solver {
            let c = &entry.value;
            let solver = registry
                .build_solver(&c.name, c.args.as_ref())
                .map_err(|m| entry.error(m))?;
            task.solvers.push(solver);
        }
        for entry in &self.scorer {
            let c = &entry.value;
            let scorer = registry
                .build_scorer(&c.name, c.args.as_ref())
                .map_err(|m| entry.error(m))?;
            task.scorers.push(scorer);
        }
        if let Some(metrics) = &self.metrics {
            let mut built = Vec::new();
            for entry in metrics {
                let c = &entry.value;
                built.push(
                    registry
                        .build_metric(&c.name, c.args.as_ref())
                        .map_err(|m| entry.error(m))?,
                );
            }
            task.metrics = Some(built);
        }
        if let Some(epochs) = &self.epochs {
            let mut reducers = Vec::new();
            for name in &epochs.value.reducers {
                reducers.push(registry.build_reducer(name).map_err(|m| epochs.error(m))?);
            }
            for reducer in &reducers {
                if let Some(k) = reducer.k().filter(|k| *k > epochs.value.epochs) {
                    return Err(epochs.error(format!(
                        "reducer `{}` requires {k} epochs however the task has only {}",
                        reducer.name(),
                        epochs.value.epochs
                    )));
                }
            }
            task.epochs = Epochs {
                epochs: epochs.value.epochs,
                reducers,
            };
        }
        task.config = self.config.clone();
        task.fail_on_error = self.fail_on_error;
        task.continue_on_fail = self.continue_on_fail;
        task.limits = self.limits;
        task.model_roles = self
            .model_roles
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        task.metadata = self.metadata.clone();
        task.sandbox = self.sandbox.clone();
        task.source_file = Some(path.clone());
        task.source_text = Some(self.text.clone());
        task.args = self.args.clone();
        Ok(task)
    }
}

fn read(path: &Path) -> Result<String, TaskFileError> {
    std::fs::read_to_string(path).map_err(|source| TaskFileError::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn dir_of(path: &Path) -> PathBuf {
    path.parent().map(Path::to_path_buf).unwrap_or_default()
}

/// Reads a task file into a [`Task`] (loading its dataset), with the
/// built-in registry.
pub fn load_task_file(path: impl AsRef<Path>) -> Result<Task, TaskFileError> {
    load_task_file_with(path, &[], Registry::builtin_ref())
}

/// Parses task-file text with the built-in registry; `path` names the file
/// in errors and anchors relative dataset paths.
pub fn parse_task(text: &str, path: &Path) -> Result<Task, TaskFileError> {
    parse_task_with(text, path, &[], Registry::builtin_ref())
}

/// Reads a task file with overrides applied in order (`-T key=value`): each
/// sets a top-level field (`epochs=3`) or, with dots, a field of a nested
/// mapping (`config.temperature=0.5`, `dataset.limit=5`). Values are YAML,
/// so `3` is a number, `true` a boolean and `[a, b]` a list. The overrides
/// are kept in [`Task::args`] (and so in the log, for a retry).
///
/// An error in an overridden field names the override; any other error
/// names the file's line and column as [`load_task_file`] does.
pub fn load_task_file_with_args(
    path: impl AsRef<Path>,
    args: &[(String, String)],
) -> Result<Task, TaskFileError> {
    load_task_file_with(path, args, Registry::builtin_ref())
}

/// [`load_task_file_with_args`] on task-file text.
pub fn parse_task_with_args(
    text: &str,
    path: &Path,
    args: &[(String, String)],
) -> Result<Task, TaskFileError> {
    parse_task_with(text, path, args, Registry::builtin_ref())
}

/// [`load_task_file_with_args`] through `registry` (which may hold custom
/// solvers, scorers, metrics, reducers and tools).
pub fn load_task_file_with(
    path: impl AsRef<Path>,
    args: &[(String, String)],
    registry: &Registry,
) -> Result<Task, TaskFileError> {
    let path = path.as_ref();
    let text = read(path)?;
    parse_task_with(&text, path, args, registry)
}

/// [`load_task_file_with`] on task-file text.
pub fn parse_task_with(
    text: &str,
    path: &Path,
    args: &[(String, String)],
    registry: &Registry,
) -> Result<Task, TaskFileError> {
    TaskSpec::parse_with_args(text, path, args)?.build(&dir_of(path), registry)
}

fn parse_raw(text: &str) -> Result<RawTask, serde_norway::Error> {
    serde_norway::from_str::<RawTask>(text)
}

/// The spec of a parsed document, each component placed: in `text` (the
/// file as written), or on the `-T` overrides of its top-level field.
fn locate(raw: RawTask, text: &str, file: &Path, args: &[(String, String)]) -> TaskSpec {
    let origin = |field: &str, index: Option<usize>| -> Origin {
        let blamed: Vec<String> = args
            .iter()
            .filter(|(key, _)| key.split('.').next() == Some(field))
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        if !blamed.is_empty() {
            return Origin::Arg {
                file: file.to_path_buf(),
                arg: blamed.join(" -T "),
            };
        }
        match probe(text, field, index) {
            Some((line, column)) => Origin::File(Position {
                file: file.to_path_buf(),
                line,
                column,
            }),
            None if !args.is_empty() => Origin::Arg {
                file: file.to_path_buf(),
                arg: args
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(" -T "),
            },
            None => Origin::File(Position {
                file: file.to_path_buf(),
                line: 1,
                column: 1,
            }),
        }
    };
    let place = |field: &str, index: Option<usize>| -> (Origin, String) {
        let path = match index {
            Some(i) => format!("{field}[{i}]"),
            None => field.to_string(),
        };
        (origin(field, index), path)
    };
    let components = |field: &str, list: Components| -> Vec<Located<ComponentSpec>> {
        let single = list.single;
        list.items
            .into_iter()
            .enumerate()
            .map(|(i, value)| {
                let (origin, path) = place(field, (!single).then_some(i));
                Located {
                    value,
                    origin,
                    path,
                }
            })
            .collect()
    };
    let (dataset_origin, dataset_path) = place("dataset", None);
    TaskSpec {
        file: file.to_path_buf(),
        text: Arc::from(text),
        name: raw.name.0,
        version: raw.version,
        dataset: Located {
            value: raw.dataset,
            origin: dataset_origin,
            path: dataset_path,
        },
        solver: raw
            .solver
            .map(|s| components("solver", s.0))
            .unwrap_or_default(),
        scorer: raw
            .scorer
            .map(|s| components("scorer", s.0))
            .unwrap_or_default(),
        metrics: raw.metrics.map(|m| components("metrics", m.0)),
        epochs: raw.epochs.map(|value| {
            let (origin, path) = place("epochs", None);
            Located {
                value,
                origin,
                path,
            }
        }),
        config: raw.config.map(|c| c.0).unwrap_or_default(),
        fail_on_error: raw.fail_on_error,
        continue_on_fail: raw.continue_on_fail,
        limits: Limits {
            message_limit: raw.message_limit,
            token_limit: raw.token_limit,
            time_limit: raw.time_limit,
            working_limit: raw.working_limit,
        },
        model_roles: raw.model_roles.unwrap_or_default(),
        metadata: raw.metadata.unwrap_or_default(),
        sandbox: raw.sandbox.map(|s| s.0),
        args: JsonObject::new(),
    }
}

const PROBE: &str = "\u{1}examen-probe\u{1}";

/// The line and column serde reports for the node `field` (or its element
/// `index`) of the top-level mapping of `text`: where an error raised while
/// reading that node points, so that a build error points where a parse
/// error would.
fn probe(text: &str, field: &str, index: Option<usize>) -> Option<(usize, usize)> {
    struct Root<'a> {
        field: &'a str,
        index: Option<usize>,
    }
    impl<'de> Visitor<'de> for Root<'_> {
        type Value = ();
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a mapping")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            while let Some(key) = map.next_key::<Yaml>()? {
                if key.as_str() == Some(self.field) {
                    return map.next_value_seed(Node { index: self.index });
                }
                map.next_value::<de::IgnoredAny>()?;
            }
            Err(de::Error::custom("the field is not in the file"))
        }
    }
    struct Node {
        index: Option<usize>,
    }
    impl<'de> DeserializeSeed<'de> for Node {
        type Value = ();
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_any(self)
        }
    }
    impl<'de> Visitor<'de> for Node {
        type Value = ();
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("anything")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            if let Some(index) = self.index {
                for _ in 0..index {
                    seq.next_element::<de::IgnoredAny>()?;
                }
                seq.next_element_seed(Node { index: None })?;
            }
            Err(de::Error::custom(PROBE))
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
            Yaml::deserialize(de::value::MapAccessDeserializer::new(map))?;
            Err(de::Error::custom(PROBE))
        }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
            Err(E::custom(PROBE))
        }
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
            Err(E::custom(PROBE))
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
            Err(E::custom(PROBE))
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
            Err(E::custom(PROBE))
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
            Err(E::custom(PROBE))
        }
        fn visit_unit<E: de::Error>(self) -> Result<(), E> {
            Err(E::custom(PROBE))
        }
        fn visit_none<E: de::Error>(self) -> Result<(), E> {
            Err(E::custom(PROBE))
        }
    }
    let result = serde_norway::Deserializer::from_str(text).deserialize_map(Root { field, index });
    match result {
        Err(e) if e.to_string().contains(PROBE) => e.location().map(|l| (l.line(), l.column())),
        _ => None,
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTask {
    name: TaskName,
    #[serde(default)]
    version: u32,
    dataset: DatasetSpec,
    #[serde(default)]
    solver: Option<ComponentsOf<0>>,
    #[serde(default)]
    scorer: Option<ComponentsOf<1>>,
    #[serde(default)]
    metrics: Option<ComponentsOf<2>>,
    #[serde(default)]
    epochs: Option<EpochsSpec>,
    #[serde(default)]
    config: Option<ConfigSpec>,
    #[serde(default)]
    fail_on_error: Option<FailOnError>,
    #[serde(default)]
    continue_on_fail: Option<bool>,
    #[serde(default)]
    message_limit: Option<usize>,
    #[serde(default)]
    token_limit: Option<u64>,
    #[serde(default)]
    time_limit: Option<f64>,
    #[serde(default)]
    working_limit: Option<f64>,
    #[serde(default)]
    model_roles: Option<IndexMap<String, String>>,
    #[serde(default)]
    metadata: Option<JsonObject>,
    #[serde(default)]
    sandbox: Option<SandboxField>,
}

/// `sandbox`, in any of Inspect's forms (see [`examen_sandbox::SandboxSpec::from_json`]).
struct SandboxField(examen_sandbox::SandboxSpec);

impl<'de> Deserialize<'de> for SandboxField {
    /// Checked inside the visitor, so that an error carries the line it is on.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        fn spec<E: de::Error>(value: JsonValue) -> Result<SandboxField, E> {
            match examen_sandbox::SandboxSpec::from_json(&value) {
                Ok(Some(spec)) => Ok(SandboxField(spec)),
                Ok(None) => Err(E::custom("expected a sandbox type")),
                Err(why) => Err(E::custom(why)),
            }
        }
        impl<'de> Visitor<'de> for V {
            type Value = SandboxField;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a sandbox type (`docker`), [type, config] or {type: ..., config: ...}")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<SandboxField, E> {
                spec(JsonValue::String(v.to_owned()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<SandboxField, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<JsonValue>()? {
                    items.push(item);
                }
                spec(JsonValue::Array(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<SandboxField, A::Error> {
                let mut object = JsonObject::new();
                while let Some((key, value)) = map.next_entry::<String, JsonValue>()? {
                    object.insert(key, value);
                }
                spec(JsonValue::Object(object))
            }
        }
        d.deserialize_any(V)
    }
}

/// One component entry: a name, or `{name: arguments}`.
struct Entry<const K: u8>(ComponentSpec);

/// `solver`, `scorer` or `metrics`: one entry or a list of them.
struct Components {
    items: Vec<ComponentSpec>,
    /// Written as one entry, not a list (errors name `scorer`, not `scorer[0]`).
    single: bool,
}

const fn kind_of(k: u8) -> Kind {
    match k {
        0 => Kind::Solver,
        1 => Kind::Scorer,
        _ => Kind::Metric,
    }
}

fn component(kind: Kind, value: Yaml) -> Result<ComponentSpec, String> {
    let (name, args) = entry_parts(kind, value)?;
    Ok(ComponentSpec { name, args })
}

impl<'de, const K: u8> Deserialize<'de> for Entry<K> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<const K: u8>;
        impl<'de, const K: u8> Visitor<'de> for V<K> {
            type Value = Entry<K>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(
                    f,
                    "a {} name or a `{{name: arguments}}` mapping",
                    kind_of(K).as_str()
                )
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                component(kind_of(K), Yaml::String(v.to_string()))
                    .map(Entry)
                    .map_err(E::custom)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                let value = Yaml::deserialize(de::value::MapAccessDeserializer::new(map))?;
                component(kind_of(K), value)
                    .map(Entry)
                    .map_err(de::Error::custom)
            }
        }
        d.deserialize_any(V::<K>)
    }
}

/// `Components` of kind `K` (0 solver, 1 scorer, 2 metric).
struct ComponentsOf<const K: u8>(Components);

impl<'de, const K: u8> Deserialize<'de> for ComponentsOf<K> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<const K: u8>;
        impl<'de, const K: u8> Visitor<'de> for V<K> {
            type Value = ComponentsOf<K>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let kind = kind_of(K).as_str();
                write!(
                    f,
                    "a {kind} name, a `{{name: arguments}}` mapping, or a list of them"
                )
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                let one = component(kind_of(K), Yaml::String(v.to_string())).map_err(E::custom)?;
                Ok(ComponentsOf(Components {
                    items: vec![one],
                    single: true,
                }))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                let value = Yaml::deserialize(de::value::MapAccessDeserializer::new(map))?;
                let one = component(kind_of(K), value).map_err(de::Error::custom)?;
                Ok(ComponentsOf(Components {
                    items: vec![one],
                    single: true,
                }))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut items = Vec::new();
                while let Some(Entry(item)) = seq.next_element::<Entry<K>>()? {
                    items.push(item);
                }
                Ok(ComponentsOf(Components {
                    items,
                    single: false,
                }))
            }
        }
        d.deserialize_any(V::<K>)
    }
}

/// Blames an error in the edited task file on the overrides of the
/// top-level field it is in, or else on the file itself.
fn override_error(
    text: &str,
    edited: &str,
    path: &Path,
    args: &[(String, String)],
    error: &serde_norway::Error,
) -> TaskFileError {
    let field = error
        .location()
        .and_then(|location| top_level_key(edited, location.line()));
    let blamed: Vec<String> = args
        .iter()
        .filter(|(key, _)| field.as_deref() == key.split('.').next())
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    if !blamed.is_empty() {
        return TaskFileError::Arg {
            path: path.to_path_buf(),
            arg: blamed.join(" -T "),
            message: strip_location(error),
        };
    }
    // Not in an overridden field: the file's own error, at its own line.
    match parse_raw(text) {
        Err(original) => parse_error(path, text, &original),
        Ok(_) => {
            let all: Vec<String> = args.iter().map(|(k, v)| format!("{k}={v}")).collect();
            TaskFileError::Arg {
                path: path.to_path_buf(),
                arg: all.join(" -T "),
                message: strip_location(error),
            }
        }
    }
}

/// The top-level key whose block holds `line` (1-based) of block-style YAML.
fn top_level_key(yaml: &str, line: usize) -> Option<String> {
    yaml.lines()
        .take(line)
        .filter(|l| !l.starts_with([' ', '-', '#']) && !l.is_empty())
        .filter_map(|l| l.split_once(':').map(|(key, _)| key.trim().to_string()))
        .last()
}

fn strip_location(error: &serde_norway::Error) -> String {
    let mut message = error.to_string();
    if let Some(idx) = message.rfind(" at line ") {
        message.truncate(idx);
    }
    message
}

/// Sets `key` (dotted for nested mappings) in a YAML document.
fn set_field(doc: &mut Yaml, key: &str, value: Yaml) -> Result<(), String> {
    let parts: Vec<&str> = key.split('.').collect();
    if parts.iter().any(|p| p.trim().is_empty()) {
        return Err("a key is a field name, or names joined by dots (config.temperature)".into());
    }
    let mut node = doc;
    for (depth, part) in parts.iter().enumerate() {
        let Yaml::Mapping(map) = node else {
            return Err(format!(
                "`{}` is not a mapping, so it has no field `{part}`",
                parts[..depth].join(".")
            ));
        };
        let name = Yaml::String((*part).to_string());
        if depth + 1 == parts.len() {
            map.insert(name, value);
            return Ok(());
        }
        node = map
            .entry(name)
            .or_insert_with(|| Yaml::Mapping(serde_norway::Mapping::new()));
    }
    Ok(())
}

fn parse_error(path: &Path, text: &str, error: &serde_norway::Error) -> TaskFileError {
    let message = strip_location(error);
    let (line, column) = match error.location() {
        Some(location) => (location.line(), location.column()),
        // Errors about the document as a whole (a missing field) point at its start.
        None => (1, 1),
    };
    let message = if message.starts_with("missing field") && text.trim().is_empty() {
        "the task file is empty; expected a mapping with at least `name` and `dataset`".to_string()
    } else {
        message
    };
    TaskFileError::Parse {
        path: path.to_path_buf(),
        line,
        column,
        message,
    }
}

/// A task's name: a string with something in it (an empty `name:` is YAML's null, which
/// would otherwise become a task called `null`).
struct TaskName(String);

impl<'de> Deserialize<'de> for TaskName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = TaskName;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("the task's name, a non-empty string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<TaskName, E> {
                if v.trim().is_empty() {
                    Err(E::custom(EMPTY_NAME))
                } else {
                    Ok(TaskName(v.to_string()))
                }
            }
            fn visit_unit<E: de::Error>(self) -> Result<TaskName, E> {
                Err(E::custom(EMPTY_NAME))
            }
            fn visit_none<E: de::Error>(self) -> Result<TaskName, E> {
                Err(E::custom(EMPTY_NAME))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<TaskName, E> {
                Err(E::custom(format!(
                    "`name` must be a string, found the boolean {v}; quote it"
                )))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<TaskName, E> {
                Ok(TaskName(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<TaskName, E> {
                Ok(TaskName(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<TaskName, E> {
                Err(E::custom(format!(
                    "`name` must be a string, found the number {v}; quote it"
                )))
            }
        }
        d.deserialize_any(V)
    }
}

const EMPTY_NAME: &str = "`name` is empty; expected the task's name (a non-empty string)";

struct ConfigSpec(GenerateConfig);

impl<'de> Deserialize<'de> for ConfigSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ConfigSpec;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping of generation options (max_tokens, temperature, ...)")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<ConfigSpec, A::Error> {
                let value = Yaml::deserialize(de::value::MapAccessDeserializer::new(map))?;
                registry::generate_config(Some(value))
                    .map(ConfigSpec)
                    .map_err(de::Error::custom)
            }
        }
        d.deserialize_map(V)
    }
}

impl<'de> Deserialize<'de> for EpochsSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = EpochsSpec;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number of epochs, or `{epochs: N, reducer: name or [names]}`")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<EpochsSpec, E> {
                let epochs = usize::try_from(v).map_err(E::custom)?;
                if epochs == 0 {
                    return Err(E::custom("epochs must be at least 1"));
                }
                Ok(EpochsSpec {
                    epochs,
                    reducers: Vec::new(),
                })
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<EpochsSpec, E> {
                u64::try_from(v)
                    .map_err(|_| E::custom("epochs must be at least 1"))
                    .and_then(|v| self.visit_u64(v))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<EpochsSpec, A::Error> {
                #[derive(Deserialize)]
                #[serde(deny_unknown_fields)]
                struct Raw {
                    epochs: usize,
                    #[serde(default)]
                    reducer: Option<Yaml>,
                }
                let raw = Raw::deserialize(de::value::MapAccessDeserializer::new(map))?;
                if raw.epochs == 0 {
                    return Err(de::Error::custom("epochs must be at least 1"));
                }
                let names: Vec<Yaml> = match raw.reducer {
                    None | Some(Yaml::Null) => Vec::new(),
                    Some(Yaml::Sequence(items)) => items,
                    Some(one) => vec![one],
                };
                let mut reducers = Vec::new();
                for name in names {
                    let name = name
                        .as_str()
                        .ok_or_else(|| {
                            de::Error::custom("a reducer is a name such as `mean` or `pass_at_2`")
                        })?
                        .to_string();
                    reducers.push(name);
                }
                Ok(EpochsSpec {
                    epochs: raw.epochs,
                    reducers,
                })
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for FailOnError {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = FailOnError;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("true, false, a fraction below 1, or a count of errors")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<FailOnError, E> {
                Ok(FailOnError::Bool(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<FailOnError, E> {
                Ok(if v == 0 {
                    FailOnError::Fraction(0.0)
                } else {
                    FailOnError::Count(v)
                })
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<FailOnError, E> {
                u64::try_from(v)
                    .map_err(|_| E::custom("must not be negative"))
                    .and_then(|v| self.visit_u64(v))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<FailOnError, E> {
                if v.is_nan() || v < 0.0 {
                    Err(E::custom("must not be negative"))
                } else if v < 1.0 {
                    Ok(FailOnError::Fraction(v))
                } else if v.fract() == 0.0 {
                    Ok(FailOnError::Count(v as u64))
                } else {
                    Err(E::custom(
                        "a value of 1 or more is a count of errors and must be whole",
                    ))
                }
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFields {
    input: Option<String>,
    target: Option<String>,
    id: Option<String>,
    choices: Option<String>,
    metadata: Option<Vec<String>>,
    sandbox: Option<String>,
    files: Option<String>,
    setup: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDataset {
    path: Option<String>,
    samples: Option<Vec<IndexMap<String, InlineField>>>,
    format: Option<String>,
    name: Option<String>,
    fields: Option<RawFields>,
    shuffle: Option<Yaml>,
    seed: Option<u64>,
    shuffle_choices: Option<Yaml>,
    limit: Option<usize>,
    sample_id: Option<Yaml>,
}

/// A field of an inline sample: a JSON value, or an integer wider than 64 bits (which YAML
/// reads exactly and a JSON value cannot hold), kept as its decimal text so that an id keeps
/// its exact value.
enum InlineField {
    Json(JsonValue),
    WideInt(String),
}

impl InlineField {
    fn into_json(self) -> JsonValue {
        match self {
            InlineField::Json(value) => value,
            // As near as a JSON number can be; an id is read from the text instead.
            InlineField::WideInt(text) => text
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map_or(JsonValue::Null, JsonValue::Number),
        }
    }
}

impl<'de> Deserialize<'de> for InlineField {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = InlineField;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a value")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<InlineField, E> {
                Ok(InlineField::Json(v.into()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<InlineField, E> {
                Ok(InlineField::Json(v.into()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<InlineField, E> {
                Ok(InlineField::Json(v.into()))
            }
            fn visit_i128<E: de::Error>(self, v: i128) -> Result<InlineField, E> {
                Ok(i64::try_from(v).map_or_else(
                    |_| InlineField::WideInt(v.to_string()),
                    |v| InlineField::Json(v.into()),
                ))
            }
            fn visit_u128<E: de::Error>(self, v: u128) -> Result<InlineField, E> {
                Ok(u64::try_from(v).map_or_else(
                    |_| InlineField::WideInt(v.to_string()),
                    |v| InlineField::Json(v.into()),
                ))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<InlineField, E> {
                Ok(InlineField::Json(
                    serde_json::Number::from_f64(v).map_or(JsonValue::Null, JsonValue::Number),
                ))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<InlineField, E> {
                Ok(InlineField::Json(v.into()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<InlineField, E> {
                Ok(InlineField::Json(v.into()))
            }
            fn visit_unit<E: de::Error>(self) -> Result<InlineField, E> {
                Ok(InlineField::Json(JsonValue::Null))
            }
            fn visit_none<E: de::Error>(self) -> Result<InlineField, E> {
                Ok(InlineField::Json(JsonValue::Null))
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<InlineField, D::Error> {
                InlineField::deserialize(d)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<InlineField, A::Error> {
                JsonValue::deserialize(de::value::SeqAccessDeserializer::new(seq))
                    .map(InlineField::Json)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<InlineField, A::Error> {
                JsonValue::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(InlineField::Json)
            }
        }
        d.deserialize_any(V)
    }
}

fn seed_of(what: &str, value: Option<Yaml>, seed: Option<u64>) -> Result<Option<u64>, String> {
    match value {
        None | Some(Yaml::Bool(false)) | Some(Yaml::Null) => {
            if seed.is_some() && what == "shuffle" {
                return Err("`seed` is set but `shuffle` is not; add `shuffle: true`".into());
            }
            Ok(None)
        }
        // Without a seed the order changes from run to run, as in Inspect.
        Some(Yaml::Bool(true)) => Ok(Some(seed.unwrap_or_else(random_seed))),
        Some(Yaml::Number(n)) => match (n.as_u64(), seed) {
            (Some(s), None) => Ok(Some(s)),
            (Some(_), Some(_)) => Err(format!(
                "pass either an integer `{what}` seed or `seed`, not both"
            )),
            (None, _) => Err(format!(
                "`{what}` must be true, false or a non-negative integer seed"
            )),
        },
        Some(_) => Err(format!(
            "`{what}` must be true, false or a non-negative integer seed"
        )),
    }
}

fn random_seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    (nanos as u64) ^ u64::from(std::process::id()).rotate_left(32)
}

impl TryFrom<RawDataset> for DatasetSpec {
    type Error = String;

    fn try_from(raw: RawDataset) -> Result<Self, String> {
        let defaults = FieldSpec::default();
        let fields = match raw.fields {
            Some(f) => FieldSpec {
                input: f.input.unwrap_or(defaults.input),
                target: f.target.unwrap_or(defaults.target),
                id: f.id.unwrap_or(defaults.id),
                choices: f.choices.unwrap_or(defaults.choices),
                metadata: f.metadata,
                sandbox: f.sandbox.unwrap_or(defaults.sandbox),
                files: f.files.unwrap_or(defaults.files),
                setup: f.setup.unwrap_or(defaults.setup),
            },
            None => defaults,
        };
        let format = match raw.format.as_deref() {
            None => None,
            Some("jsonl") => Some(DatasetFormat::Jsonl),
            Some("json") => Some(DatasetFormat::Json),
            Some("csv") => Some(DatasetFormat::Csv),
            Some(other) => {
                return Err(format!(
                    "unknown dataset format `{other}`; expected one of: jsonl, json, csv"
                ))
            }
        };
        let sample_id = match raw.sample_id {
            None | Some(Yaml::Null) => None,
            Some(Yaml::Sequence(items)) => {
                Some(items.iter().map(id_text).collect::<Result<_, _>>()?)
            }
            Some(one) => Some(vec![id_text(&one)?]),
        };
        let options = DatasetOptions {
            fields: fields.clone(),
            format,
            shuffle: seed_of("shuffle", raw.shuffle, raw.seed)?,
            shuffle_choices: seed_of("shuffle_choices", raw.shuffle_choices, None)?,
            limit: match raw.limit {
                Some(0) => {
                    return Err(
                        "`limit: 0` selects no samples; expected a limit of at least 1".into(),
                    )
                }
                limit => limit,
            },
            name: raw.name,
        };
        let source = match (raw.path, raw.samples) {
            (Some(_), Some(_)) => return Err("give either `path` or `samples`, not both".into()),
            (None, None) => {
                return Err(
                    "expected `path` (a .jsonl, .json or .csv file) or inline `samples`".into(),
                )
            }
            (Some(path), None) => {
                let relative = PathBuf::from(&path);
                if options.format.is_none() && DatasetFormat::from_path(&relative).is_none() {
                    return Err(format!("dataset path `{path}`: unsupported format; expected a .jsonl, .json or .csv file (or set `format`)"));
                }
                DatasetSource::Path(relative)
            }
            (None, Some(records)) => {
                let mut samples = Vec::with_capacity(records.len());
                for (idx, record) in records.into_iter().enumerate() {
                    let id_literal = match record.get(&fields.id) {
                        Some(InlineField::WideInt(text)) => Some(text.clone()),
                        _ => None,
                    };
                    let record: JsonObject = record
                        .into_iter()
                        .map(|(name, field)| (name, field.into_json()))
                        .collect();
                    samples.push(
                        record_to_exact_sample(&record, id_literal.as_deref(), &fields)
                            .map_err(|e| format!("samples[{idx}]: {e}"))?,
                    );
                }
                DatasetSource::Samples(samples)
            }
        };
        Ok(DatasetSpec {
            source,
            options,
            sample_id,
        })
    }
}

fn id_text(value: &Yaml) -> Result<String, String> {
    match value {
        Yaml::String(s) => Ok(s.clone()),
        Yaml::Number(n) => Ok(n.to_string()),
        _ => Err("a sample id is a string or an integer".into()),
    }
}

impl<'de> Deserialize<'de> for DatasetSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = DatasetSpec;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "a mapping with `path` (a .jsonl, .json or .csv file) or inline `samples`",
                )
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<DatasetSpec, A::Error> {
                let raw = RawDataset::deserialize(de::value::MapAccessDeserializer::new(map))?;
                DatasetSpec::try_from(raw).map_err(de::Error::custom)
            }
        }
        d.deserialize_map(V)
    }
}
