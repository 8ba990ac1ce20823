//! `Task`: a dataset, a solver chain, scorers, epochs, limits and an error
//! policy, assembled with a builder (Inspect's `Task`).
//!
//! ```
//! use examen::{dataset::Dataset, sample::Sample, scorer, solver, Task};
//!
//! let dataset = Dataset::from_samples(vec![Sample::new("What is 1+1?", "2")]).unwrap();
//! let task = Task::new("arithmetic", dataset)
//!     .solver(solver::system_message("You are a careful calculator."))
//!     .solver(solver::generate())
//!     .scorer(scorer::includes())
//!     .epochs(3, vec![examen::reducer::Reducer::Mean]);
//! assert_eq!(task.epochs.epochs, 3);
//! ```

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use examen_types::{GenerateConfig, JsonObject};

use crate::dataset::Dataset;
use crate::metric::Metric;
use crate::reducer::Reducer;
use crate::scorer::DynScorer;
use crate::solver::{self, DynSolver};

/// How many epochs to run and how to combine their scores.
#[derive(Debug, Clone, PartialEq)]
pub struct Epochs {
    /// Number of times each sample runs (at least 1).
    pub epochs: usize,
    /// Reducers; empty means Inspect's default (`mean`, reported without a
    /// reducer name).
    pub reducers: Vec<Reducer>,
}

impl Default for Epochs {
    fn default() -> Self {
        Self {
            epochs: 1,
            reducers: Vec::new(),
        }
    }
}

/// When sample errors fail the task (Inspect's `fail_on_error`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FailOnError {
    /// `true`: any error fails the task (the default); `false`: never.
    Bool(bool),
    /// Fail once at least this fraction (below 1) of the sample runs errored.
    Fraction(f64),
    /// Fail once at least this many sample runs errored.
    Count(u64),
}

impl Default for FailOnError {
    fn default() -> Self {
        FailOnError::Bool(true)
    }
}

impl FailOnError {
    /// Inspect's `_should_eval_fail`.
    pub fn should_fail(&self, errors: u64, total: u64) -> bool {
        match *self {
            FailOnError::Bool(false) => false,
            FailOnError::Bool(true) => errors > 0,
            FailOnError::Fraction(f) => errors > 0 && errors as f64 >= f * total as f64,
            FailOnError::Count(n) => errors >= n,
        }
    }
}

/// Written as Inspect records it (`true`, `0.1`, `5`); read back by the one `Deserialize`
/// (in `taskfile.rs`), which task files, logs and retries share.
impl serde::Serialize for FailOnError {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match *self {
            FailOnError::Bool(b) => s.serialize_bool(b),
            FailOnError::Fraction(f) => s.serialize_f64(f),
            FailOnError::Count(n) => s.serialize_u64(n),
        }
    }
}

/// Per-sample limits. A sample that reaches one stops solving, is scored
/// and is recorded with the limit (it is not an error).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Limits {
    /// Maximum messages in the conversation.
    pub message_limit: Option<usize>,
    /// Maximum tokens used by the sample's model calls.
    pub token_limit: Option<u64>,
    /// Maximum wall-clock seconds for the solvers.
    pub time_limit: Option<f64>,
    /// Maximum working seconds (wall clock less time spent waiting for a
    /// model connection).
    pub working_limit: Option<f64>,
}

impl Limits {
    /// `self`, with every limit set in `overrides` replacing it.
    pub fn merge(&self, overrides: &Limits) -> Limits {
        Limits {
            message_limit: overrides.message_limit.or(self.message_limit),
            token_limit: overrides.token_limit.or(self.token_limit),
            time_limit: overrides.time_limit.or(self.time_limit),
            working_limit: overrides.working_limit.or(self.working_limit),
        }
    }
}

/// An evaluation task.
#[derive(Debug, Clone)]
pub struct Task {
    /// The task's name.
    pub name: String,
    /// Version number (recorded in the log).
    pub version: u32,
    /// The samples.
    pub dataset: Dataset,
    /// The solvers, run in order (default: `generate`).
    pub solvers: Vec<Arc<dyn DynSolver>>,
    /// The scorers.
    pub scorers: Vec<Arc<dyn DynScorer>>,
    /// Metrics that replace every scorer's own metrics.
    pub metrics: Option<Vec<Arc<dyn Metric>>>,
    /// Epochs and reducers.
    pub epochs: Epochs,
    /// Generation options for the task's model calls.
    pub config: GenerateConfig,
    /// Per-sample limits.
    pub limits: Limits,
    /// When errors fail the task.
    pub fail_on_error: Option<FailOnError>,
    /// Keep running after `fail_on_error` trips, failing at the end.
    pub continue_on_fail: Option<bool>,
    /// Model roles the task binds by default (`grader: openai/gpt-4o`).
    pub model_roles: HashMap<String, String>,
    /// Free-form metadata (recorded in the log).
    pub metadata: JsonObject,
    /// The task file it was read from.
    pub source_file: Option<PathBuf>,
    /// That file's text as it was read (recorded in the log, so that a retry can rebuild the
    /// task when the file is gone).
    pub source_text: Option<Arc<str>>,
    /// The task-file overrides it was loaded with (`-T key=value`, see
    /// [`load_task_file_with_args`](crate::taskfile::load_task_file_with_args)),
    /// recorded as the log's `task_args` so a retry loads the same task.
    pub args: JsonObject,
    /// The sandbox each sample's tools run in (`None`: an implicit local one per sample).
    pub sandbox: Option<examen_sandbox::SandboxSpec>,
    /// The provider of that sandbox, when it is not one of the built-in ones found by the
    /// spec's type (a custom provider from Rust).
    pub sandbox_provider: Option<Arc<dyn examen_sandbox::SandboxProvider>>,
}

impl Task {
    /// A task over `dataset` with the default solver (`generate`) and no scorer.
    pub fn new(name: impl Into<String>, dataset: Dataset) -> Self {
        Self {
            name: name.into(),
            version: 0,
            dataset,
            solvers: Vec::new(),
            scorers: Vec::new(),
            metrics: None,
            epochs: Epochs::default(),
            config: GenerateConfig::default(),
            limits: Limits::default(),
            fail_on_error: None,
            continue_on_fail: None,
            model_roles: HashMap::new(),
            metadata: JsonObject::new(),
            source_file: None,
            source_text: None,
            args: JsonObject::new(),
            sandbox: None,
            sandbox_provider: None,
        }
    }

    /// Adds a solver (solvers run in the order they are added).
    #[must_use]
    pub fn solver(mut self, solver: Arc<dyn DynSolver>) -> Self {
        self.solvers.push(solver);
        self
    }

    /// Adds a scorer.
    #[must_use]
    pub fn scorer(mut self, scorer: Arc<dyn DynScorer>) -> Self {
        self.scorers.push(scorer);
        self
    }

    /// Replaces the scorers' metrics.
    #[must_use]
    pub fn metrics(mut self, metrics: Vec<Arc<dyn Metric>>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Runs each sample `epochs` times and combines the scores with `reducers`.
    #[must_use]
    pub fn epochs(mut self, epochs: usize, reducers: Vec<Reducer>) -> Self {
        self.epochs = Epochs {
            epochs: epochs.max(1),
            reducers,
        };
        self
    }

    /// Sets the generation options.
    #[must_use]
    pub fn config(mut self, config: GenerateConfig) -> Self {
        self.config = config;
        self
    }

    /// Sets the per-sample limits.
    #[must_use]
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Runs each sample's tools in a sandbox of `spec`'s type (a built-in provider, found by
    /// name): each sample gets its own, made before its solvers and taken down after.
    #[must_use]
    pub fn sandbox(mut self, spec: examen_sandbox::SandboxSpec) -> Self {
        self.sandbox = Some(spec);
        self
    }

    /// Runs each sample's tools in sandboxes of a custom `provider` (with `config`).
    #[must_use]
    pub fn sandbox_provider(
        mut self,
        provider: Arc<dyn examen_sandbox::SandboxProvider>,
        config: Option<String>,
    ) -> Self {
        self.sandbox = Some(examen_sandbox::SandboxSpec {
            kind: provider.name().to_owned(),
            config,
        });
        self.sandbox_provider = Some(provider);
        self
    }

    /// Sets the error policy.
    #[must_use]
    pub fn fail_on_error(mut self, policy: FailOnError) -> Self {
        self.fail_on_error = Some(policy);
        self
    }

    /// Binds a model role (e.g. `grader`) to a model name by default.
    #[must_use]
    pub fn model_role(mut self, role: impl Into<String>, model: impl Into<String>) -> Self {
        self.model_roles.insert(role.into(), model.into());
        self
    }

    /// The solvers that run: the configured ones, or `generate`.
    pub fn effective_solvers(&self) -> Vec<Arc<dyn DynSolver>> {
        if self.solvers.is_empty() {
            vec![solver::generate()]
        } else {
            self.solvers.clone()
        }
    }

    /// Checks the epochs and reducers fit together (a `pass_at_k` needs at
    /// least `k` epochs).
    pub fn validate(&self) -> Result<(), String> {
        for reducer in &self.epochs.reducers {
            if let Some(k) = reducer.k() {
                if k > self.epochs.epochs {
                    return Err(format!(
                        "reducer `{}` requires {k} epochs however the task has only {} epoch{}",
                        reducer.name(),
                        self.epochs.epochs,
                        if self.epochs.epochs == 1 { "" } else { "s" }
                    ));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fail_on_error_like_inspect() {
        assert!(FailOnError::Bool(true).should_fail(1, 100));
        assert!(!FailOnError::Bool(true).should_fail(0, 100));
        assert!(!FailOnError::Bool(false).should_fail(100, 100));
        assert!(!FailOnError::Fraction(0.1).should_fail(9, 100));
        assert!(FailOnError::Fraction(0.1).should_fail(10, 100));
        assert!(!FailOnError::Count(3).should_fail(2, 100));
        assert!(FailOnError::Count(3).should_fail(3, 100));
    }

    #[test]
    fn reducers_need_enough_epochs() {
        let task = Task::new("t", Dataset::default())
            .epochs(2, vec![Reducer::PassAt { k: 3, value: 1.0 }]);
        assert_eq!(
            task.validate(),
            Err(
                "reducer `pass_at_3` requires 3 epochs however the task has only 2 epochs"
                    .to_string()
            )
        );
    }
}
