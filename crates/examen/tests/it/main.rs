//! examen's integration tests, one binary (see each module for its area).

/// The sandbox tools for the tests (bubblewrap, docker through `scripts/docker.sh up`), shared
/// with examen-sandbox's.
#[path = "../../../examen-sandbox/tests/support/mod.rs"]
mod sandbox_support;
mod support;

/// Inspect's numbers on the same data: metrics, reducers, scorers.
mod crosscheck;
/// Reading datasets from real files: formats, field mapping, ids, errors.
mod datasets;
/// The runner end to end on mockllm, on both backends.
mod engine;
/// A fault-injecting OpenAI-compatible server on 127.0.0.1 (shared with examen-cli's tests).
mod fault_server;
/// Full evals against model APIs that fail in every way a network can.
mod faults;
/// Inspect's own reader on logs of real evals.
mod inspect_compat;
/// Logs written by examen-log and read back.
mod logs;
/// Limits and the error policy.
mod policy;
/// The `react` agent on scripted mockllm.
mod react;
/// Cancelling an eval, and continuing one from its log (`eval_retry`).
mod resume;
/// Samples in sandboxes: the provider lifecycle the runner drives, the task file's field.
mod sandboxes;
/// Task files: the example, the contract shape, and error locations.
mod taskfile;
/// The task-file parser on random and mutated text: errors, never panics.
mod taskfile_fuzz;
/// The `text_editor` built-in on real files: Inspect's answers and errors, undo, listings.
mod text_editor;
/// The tool loop on scripted mockllm: calls, errors, truncation, parallel stages, limits.
mod tools;
