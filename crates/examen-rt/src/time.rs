//! Time: [`sleep`], and deadlines on futures ([`timeout`], [`timeout_at`], [`move_on_after`],
//! [`fail_after`]). Each uses the timer of the runtime it is polled on.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::runtime::{expect_context, Spawner};

/// A future that completes at a point in time. Made by [`sleep`].
#[must_use = "futures do nothing unless awaited"]
pub struct Sleep {
    timer: Timer,
}

enum Timer {
    Tokio(Pin<Box<tokio::time::Sleep>>),
    Smol(async_io::Timer),
}

impl fmt::Debug for Sleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sleep").finish_non_exhaustive()
    }
}

impl Sleep {
    fn until(deadline: Instant) -> Sleep {
        let timer = match expect_context("sleep").spawner {
            Spawner::Tokio => Timer::Tokio(Box::pin(tokio::time::sleep_until(deadline.into()))),
            Spawner::Smol(_) => Timer::Smol(async_io::Timer::at(deadline)),
        };
        Sleep { timer }
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        match &mut self.timer {
            Timer::Tokio(sleep) => sleep.as_mut().poll(cx),
            Timer::Smol(timer) => Pin::new(timer).poll(cx).map(|_| ()),
        }
    }
}

/// Waits for `duration` to pass.
///
/// # Panics
///
/// When created outside an examen runtime.
pub fn sleep(duration: Duration) -> Sleep {
    Sleep::until(deadline_after(duration))
}

fn deadline_after(duration: Duration) -> Instant {
    // A duration too large to represent is as good as forever: about a century.
    Instant::now()
        .checked_add(duration)
        .unwrap_or_else(|| Instant::now() + Duration::from_secs(100 * 365 * 24 * 3600))
}

/// The deadline passed before the future finished.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Elapsed {
    after: Option<Duration>,
}

impl Elapsed {
    /// How long the future was given, when known.
    pub fn duration(&self) -> Option<Duration> {
        self.after
    }
}

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.after {
            Some(after) => write!(f, "deadline passed after {after:?}"),
            None => f.write_str("deadline passed"),
        }
    }
}

impl std::error::Error for Elapsed {}

pin_project_lite::pin_project! {
    /// A future with a deadline. Made by [`timeout`] and [`timeout_at`].
    #[must_use = "futures do nothing unless awaited"]
    pub struct Timeout<F> {
        #[pin]
        future: F,
        sleep: Sleep,
        after: Option<Duration>,
    }
}

impl<F> fmt::Debug for Timeout<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timeout")
            .field("after", &self.after)
            .finish_non_exhaustive()
    }
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        // The future goes first so that work finishing right at the deadline is not thrown away.
        if let Poll::Ready(output) = this.future.poll(cx) {
            return Poll::Ready(Ok(output));
        }
        match Pin::new(this.sleep).poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(Elapsed { after: *this.after })),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// Runs `future` for at most `duration`; on expiry the future is dropped (cancelled) and
/// [`Elapsed`] returned.
pub fn timeout<F: Future>(duration: Duration, future: F) -> Timeout<F> {
    Timeout {
        future,
        sleep: Sleep::until(deadline_after(duration)),
        after: Some(duration),
    }
}

/// Runs `future` until `deadline`; on expiry the future is dropped and [`Elapsed`] returned.
pub fn timeout_at<F: Future>(deadline: Instant, future: F) -> Timeout<F> {
    Timeout {
        future,
        sleep: Sleep::until(deadline),
        after: None,
    }
}

/// Runs `future` for at most `duration` and gives `None` when time ran out (anyio's
/// `move_on_after`): the work is abandoned quietly.
pub async fn move_on_after<F: Future>(duration: Duration, future: F) -> Option<F::Output> {
    timeout(duration, future).await.ok()
}

/// Runs `future` for at most `duration` and fails with [`Elapsed`] when time ran out (anyio's
/// `fail_after`). The same as [`timeout`], under the name structured-concurrency code expects.
pub async fn fail_after<F: Future>(duration: Duration, future: F) -> Result<F::Output, Elapsed> {
    timeout(duration, future).await
}
