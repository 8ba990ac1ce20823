//! examen's eval engine: run a task (dataset → solver chain → scorers →
//! metrics) against one or more models, with Inspect AI's vocabulary and
//! Inspect's numbers.
//!
//! # Brief overview
//!
//! - [`Task`] (in [`task`]): a [`Dataset`](dataset::Dataset), [`Solver`]s,
//!   [`Scorer`]s, epochs with [`Reducer`]s, limits and an
//!   error policy. Build one in Rust with [`Task::new`] or read a YAML task
//!   file with [`taskfile::load_task_file`].
//! - [`dataset`]: `.jsonl`, `.json` and `.csv` files with field mapping,
//!   auto ids, shuffling, `limit` and `sample_id` selection.
//! - [`solver`]: `generate`, `system_message`, `user_message`,
//!   `prompt_template`, `chain_of_thought`, `multiple_choice`,
//!   `self_critique`, `chain`; they change a [`TaskState`]
//!   and call models through [`SampleContext`].
//! - [`scorer`]: `match`, `includes`, `exact`, `f1`, `pattern`, `answer`,
//!   `choice`, `model_graded_qa`, `model_graded_fact`, with Inspect's text
//!   rules ([`scorer::rules`]).
//! - [`metric`] and [`reducer`]: `accuracy`, `mean`, `stderr`, `std`, `var`,
//!   `bootstrap_stderr`, `grouped`; epoch reducers `mean`, `median`, `mode`,
//!   `max`, `majority`, `at_least_k`, `pass_at_k`.
//! - [`registry`]: the names task files use, with one-line descriptions
//!   (what `examen list` prints).
//! - [`score_log`] (in [`score`]): re-scores an existing log, examen's or
//!   Inspect's, with other scorers or its own, into a new log.
//! - [`eval`] (in [`runner`]): runs tasks × models × samples × epochs under
//!   `examen-rt` structured concurrency, reports [`EvalEvent`]s on a channel
//!   and hands finished samples to a log sink ([`runner::LogDir`] writes
//!   Inspect-compatible logs; [`runner::MemoryLog`] keeps them in memory).
//!   Cancelling [`EvalOptions::cancel`] stops it and completes the logs as
//!   `cancelled`.
//! - [`eval_retry`] (with [`runner::PreviousEval`]): continues an eval from
//!   its log, whatever state it was left in (crashed, cancelled, failed):
//!   samples that finished are carried over, never sent to the model again;
//!   errored and missing ones run.
//!
//! The engine never prints. It runs identically on tokio and smol: the same
//! task gives the same samples, scores and metrics on both.
//!
//! # Example
//!
//! ```
//! use examen::{dataset::Dataset, sample::Sample, scorer, solver, EvalOptions, Task};
//! use examen_model::{MockLlm, Model};
//! use examen_types::ModelOutput;
//!
//! let dataset = Dataset::from_samples(vec![Sample::new("What is 1+1?", "2")]).unwrap();
//! let task = Task::new("arithmetic", dataset)
//!     .solver(solver::generate())
//!     .scorer(scorer::includes());
//! let model = Model::from_mock(MockLlm::from_fn(|_| ModelOutput::from_text("mockllm/model", "2")));
//! let outcomes = examen_rt::run(examen_rt::Backend::Tokio, examen::eval(vec![task], vec![model], EvalOptions::default(), None)).unwrap();
//! assert_eq!(outcomes[0].results.as_ref().and_then(|r| r.metric("includes", "accuracy")), Some(1.0));
//! ```
//!
//! # Differences from Inspect, by design
//!
//! - Shuffles use a seeded SplitMix64 ([`rng`]), not Python's Mersenne
//!   Twister: a seed gives a reproducible order, but not Inspect's order.
//!   `bootstrap_stderr` resamples with the same generator (seed 0 unless
//!   given), so it is reproducible where Inspect's varies run to run.
//! - Auto ids count from 1 in file order, before any shuffle.
//! - Results keep each score's value, answer and reason (not its
//!   explanation or metadata, which the log has), so reductions carry no
//!   explanations and `majority` records no `panel` votes.
//! - Templates are Python format strings with the common format specs; the
//!   regular expressions of `pattern` and `answer` use fancy-regex, which
//!   covers Python's syntax (lookaround, lazy quantifiers, `\Z`).

#![warn(missing_docs, missing_debug_implementations)]
// Libraries never print: progress and warnings reach the user through the caller.
#![deny(clippy::print_stdout, clippy::print_stderr)]

pub mod context;
pub mod dataset;
pub mod metric;
pub mod reducer;
pub mod registry;
pub mod rng;
pub mod runner;
pub mod sample;
pub mod score;
pub mod scorer;
pub mod solver;
pub mod state;
pub mod task;
pub mod taskfile;
pub mod template;
mod text;
pub mod tool;
pub mod transcript;

pub use context::{BoxFuture, LimitExceeded, ModelRef, SampleContext, SampleError, ToolCalls};
pub use metric::{Metric, MetricError, SampleScore};
pub use reducer::{Reducer, ScoreReducer};
pub use registry::{Args, Registry};
pub use sample::{Sample, SampleInput, Target};
pub use state::TaskState;
pub use taskfile::{TaskFileError, TaskSpec};

// The facade: a program that extends examen needs only this crate.
pub use examen_model as model;
pub use examen_rt as rt;
pub use examen_sandbox as sandbox;
pub use examen_types as types;

pub use examen_log::LogFormat;
pub use examen_model::{
    get_model, register_model_api, ApiError, MockLlm, Model, ModelApi, ModelError, ModelOptions,
    ModelSpec,
};
pub use examen_rt::{run, Backend};
pub use examen_types::{
    ChatMessage, ChatMessageAssistant, GenerateConfig, JsonObject, JsonValue, ModelOutput,
    ModelUsage, SampleId, Score, ToolCall, ToolChoice, ToolInfo, ToolParams, Value,
};
pub use runner::{eval, eval_retry, EvalEvent, EvalOptions, EvalOutcome};
pub use score::{score_log, ScoreAction, ScoreError, ScoreOptions, ScoreOutcome};
pub use scorer::{DynScorer, IntoScorer, Scorer};
pub use solver::{DynSolver, IntoSolver, Solver};
pub use task::Task;
