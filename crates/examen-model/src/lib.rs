//! examen's model layer: one [`Model`] handle over a built-in mock and real providers that talk
//! HTTP (through `examen-http`) identically on tokio and smol.
//!
//! # Brief overview
//!
//! - [`get_model`] turns `provider/model` into a [`Model`]: `mockllm/model`, `openai/<model>`,
//!   `anthropic/<model>`, and `openai-api/<service>/<model>` for any OpenAI-compatible server
//!   (vLLM, SGLang, Ollama, Together, Groq, OpenRouter, ...).
//! - Keys and base URLs come from [`ModelOptions`], then the environment, then the nearest `.env`
//!   file above the working directory ([`Env`]); variables already set win over the file.
//!   `openai` reads `OPENAI_API_KEY`/`OPENAI_BASE_URL`, `anthropic` reads
//!   `ANTHROPIC_API_KEY`/`ANTHROPIC_BASE_URL`, `openai-api/<service>` reads
//!   `<SERVICE>_API_KEY`/`<SERVICE>_BASE_URL`.
//! - [`Model::generate`] returns a [`Generation`]: the [`ModelOutput`], the retries made, the raw
//!   request/response JSON, and working time separated from time spent waiting for a connection
//!   slot.
//! - [`MockLlm`] answers `Default output from mockllm/model` without a network, or what a test
//!   scripts.
//! - The data types (`ChatMessage`, `GenerateConfig`, `ModelOutput`, ...) are examen-types',
//!   re-exported here.
//!
//! # Example
//!
//! ```
//! use examen_model::{get_model, ChatMessage, GenerateConfig, ModelOptions};
//!
//! examen_rt::run(examen_rt::Backend::Smol, async {
//!     let model = get_model("mockllm/model", ModelOptions::default()).unwrap();
//!     let input = [ChatMessage::user("Hi")];
//!     let generation = model.generate(&input, &[], &GenerateConfig::default()).await.unwrap();
//!     assert_eq!(generation.output.completion, "Default output from mockllm/model");
//! });
//! ```
//!
//! Create a model once and clone it: clones share the connection pool, the usage and retry
//! counters and (like every model with the same provider, base URL and key) the connection limit.
//!
//! # Retries
//!
//! Retried: HTTP 408, 409, 429 and 5xx; connection refused or reset; a connection dropped
//! mid-response; an attempt that outlives `attempt_timeout`; a 2xx body that is not JSON. The
//! wait is exponential with full jitter ([`Backoff`]) and at least the server's `Retry-After`
//! (seconds, HTTP date, or `retry-after-ms`). Retrying stops after `max_retries` retries or when
//! the total `timeout` is used up; with neither set it goes on, as in Inspect. The whole
//! `timeout` is used: when the next backoff would cross it, a last attempt is made halfway
//! through what is left, bounded by the rest (unless the server's `Retry-After` alone reaches
//! past it). Every retry is counted ([`Model::retries`]) and listed with its reason
//! ([`Generation::retries`], [`ModelError::retries`]).
//!
//! Timeouts are seconds, fractions allowed, and must be greater than 0. Each attempt is bounded
//! by `attempt_timeout`, by default [`DEFAULT_ATTEMPT_TIMEOUT`] (600 s, the request timeout of
//! Inspect's HTTP clients), so a server that never answers costs a retry, not a hung sample.
//!
//! Not retried: other 4xx. 401 and 403 give `<provider>: authentication failed (HTTP 401):
//! <the server's message>; hint: check <VARIABLE>`. Every error keeps the server's own message
//! whole (up to 64 KiB, on one line), with the API key and proxy credentials redacted; the
//! retry list ([`RetryRecord`]) keeps only the short reason (`HTTP 429 Too Many Requests`).
//!
//! # Options a provider does not send
//!
//! A generation option the provider's API has no field for (`top_k` or `best_of` to `openai/`,
//! `seed` to `anthropic/`) is left out of the request, and a warning naming the option and the
//! provider is raised once per option for the model: [`Model::take_warnings`] hands them to the
//! caller (the CLI shows them as `warning: ...` lines); this crate never prints.
//!
//! # Connection limit
//!
//! `max_connections` (default 10) bounds the requests in flight for one provider, base URL and
//! key across the whole process, with a fair (first come, first served) limiter. A slot is held
//! only while an attempt is in flight, not during backoff. The time spent waiting for a slot is
//! reported apart ([`Generation::limiter_wait`]) so it is not counted as working time.
//!
//! # Secrets
//!
//! API keys are held in [`Secret`], whose `Debug`/`Display` print `***`. They travel only in
//! request headers (marked sensitive), never in [`ModelCall`] bodies or error messages.

#![warn(missing_docs, missing_debug_implementations)]
// Libraries never print: progress and warnings reach the user through the caller.
#![deny(clippy::print_stdout, clippy::print_stderr)]

mod api;
mod env;
mod error;
mod model;
mod providers;
mod retry;
mod secret;

pub use api::{
    model_apis, register_model_api, ApiError, IntoProvider, ModelApi, ModelSpec, Provider,
};
pub use env::{find_dotenv, parse_dotenv, read_dotenv, Env};
pub use error::ModelError;
pub use model::{
    connection_ceiling, get_model, set_connection_ceiling, Generation, Model, ModelCall,
    ModelOptions, DEFAULT_ATTEMPT_TIMEOUT, DEFAULT_MAX_CONNECTIONS,
};
pub use providers::mock::{MockLlm, DEFAULT_OUTPUT};
pub use retry::{Backoff, RetryRecord};
pub use secret::Secret;

pub use examen_types::{
    ChatCompletionChoice, ChatMessage, ChatMessageAssistant, ChatMessageSystem, ChatMessageTool,
    ChatMessageUser, Content, GenerateConfig, MessageContent, ModelOutput, ModelUsage, StopReason,
    ToolCall, ToolChoice, ToolFunction, ToolInfo, ToolParams,
};
