//! examen's integration tests, one binary (see each module for its area).

mod support;

/// Inspect's numbers on the same data: metrics, reducers, scorers.
mod crosscheck;
/// Reading datasets from real files: formats, field mapping, ids, errors.
mod datasets;
/// The runner end to end on mockllm, on both backends.
mod engine;
/// Inspect's own reader on logs of real evals.
mod inspect_compat;
/// Logs written by examen-log and read back.
mod logs;
/// Limits and the error policy.
mod policy;
/// Cancelling an eval, and continuing one from its log (`eval_retry`).
mod resume;
/// Task files: the example, the contract shape, and error locations.
mod taskfile;
