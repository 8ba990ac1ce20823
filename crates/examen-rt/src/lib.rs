//! Runtime-agnostic structured concurrency for examen: the counterpart of Python's anyio.
//!
//! Every async feature of examen runs on **tokio** (the default) or **smol**, chosen at run time with
//! [`Backend`]. This crate is the only place in the workspace that names either runtime; everything
//! else is written against the primitives here:
//!
//! | need | here |
//! |---|---|
//! | start a runtime and run a future | [`run`], [`current_backend`] |
//! | time | [`sleep`], [`timeout`], [`timeout_at`], [`move_on_after`], [`fail_after`] |
//! | structured concurrency | [`TaskGroup`], [`ErrorGroup`], [`collect`], [`collect_all`], [`collect_limited`] |
//! | cleanup that must finish | [`shield`], [`shield_with_grace`] |
//! | channels and ordering | [`channel`], [`ordered`] |
//! | shared limits | [`CapacityLimiter`] |
//! | blocking work, processes, sockets | [`to_thread`], [`process::run`], [`net::connect_tcp`] |
//! | interrupts (`SIGINT`, `SIGTERM`) | [`signal::Interrupts`] |
//! | tests on both backends | [`test`] (`#[examen_rt::test]`) |
//!
//! # Example
//!
//! ```
//! use examen_rt::{Backend, collect};
//!
//! let squares = examen_rt::run(Backend::Smol, async {
//!     collect((0..4u64).map(|n| move || async move { Ok::<_, std::io::Error>(n * n) })).await
//! });
//! assert_eq!(squares.unwrap(), vec![0, 1, 4, 9]);
//! ```
//!
//! # Cancellation
//!
//! Cancelling work means dropping its future: every `.await` is a cancellation point. A
//! [`TaskGroup`] cancels its children when it is dropped or when the first child fails, and
//! [`JoinHandle`]s abort their task when dropped, so no task outlives the scope that started it.
//! A child that is in the middle of a poll on another worker thread when it is cancelled finishes
//! that poll and is then dropped: it never resumes past an `.await`. Cleanup that must complete goes
//! through [`shield`], which [`run`] waits for before it shuts the runtime down.

#![warn(missing_docs, missing_debug_implementations)]
// Libraries never print: progress and warnings reach the user through the caller.
#![deny(clippy::print_stdout, clippy::print_stderr)]

mod backend;
mod blocking;
mod cancel;
mod channel;
mod group;
mod limiter;
pub mod net;
mod ordered;
pub mod process;
mod runtime;
pub mod signal;
mod time;

pub use backend::{Backend, UnknownBackend, ASYNC_BACKEND_ENV};
pub use blocking::to_thread;
pub use cancel::CancelToken;
pub use channel::{channel, Receiver, SendError, Sender, TrySendError};
pub use group::{collect, collect_all, collect_limited, ErrorGroup, TaskGroup};
pub use limiter::{Acquire, CapacityLimiter, Permit};
pub use ordered::{ordered, Ordered};
pub use runtime::{
    current_backend, run, shield, shield_detached, shield_with_grace, spawn, yield_now, JoinError,
    JoinHandle, Outstanding, OutstandingGuard, DEFAULT_SHIELD_GRACE,
};
pub use time::{fail_after, move_on_after, sleep, timeout, timeout_at, Elapsed, Sleep, Timeout};

/// Runs one `async fn` test body once on tokio and once on smol.
///
/// ```
/// #[examen_rt::test]
/// async fn sleeps() {
///     examen_rt::sleep(std::time::Duration::from_millis(1)).await;
/// }
/// // expands to the tests `sleeps::tokio` and `sleeps::smol`
/// ```
pub use examen_rt_macros::test;
