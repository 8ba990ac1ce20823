//! [`CancelToken`]: a shared flag that wakes everyone waiting on it when set.

use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// A cancellation signal shared by a scope and its children. Cloning shares the same signal.
///
/// [`TaskGroup`](crate::TaskGroup) uses one to stop every child when the first fails; engines use
/// one to stop starting new work on an interrupt.
#[derive(Clone, Default)]
pub struct CancelToken {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    cancelled: AtomicBool,
    event: event_listener::Event,
}

impl fmt::Debug for CancelToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancelToken")
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}

impl CancelToken {
    /// A token that is not cancelled yet.
    pub fn new() -> CancelToken {
        CancelToken::default()
    }

    /// Sets the signal and wakes every waiter. Idempotent.
    pub fn cancel(&self) {
        if !self.inner.cancelled.swap(true, Ordering::SeqCst) {
            self.inner.event.notify(usize::MAX);
        }
    }

    /// Whether [`cancel`](Self::cancel) has been called.
    pub fn is_cancelled(&self) -> bool {
        self.inner.cancelled.load(Ordering::SeqCst)
    }

    /// Completes once the token is cancelled.
    pub async fn cancelled(&self) {
        loop {
            if self.is_cancelled() {
                return;
            }
            let listener = self.inner.event.listen();
            if self.is_cancelled() {
                return;
            }
            listener.await;
        }
    }

    /// Runs `future` until it finishes (`Some`) or the token is cancelled (`None`, and the future
    /// is dropped).
    ///
    /// A future that could finish by the time the cancellation is seen wins over it: whatever
    /// happened before [`cancel`](Self::cancel) was called (another task releasing this one, a
    /// reply arriving) is visible once the signal is, so the future is polled once more before
    /// it is given up. Without that second poll, a child released just before its group was
    /// cancelled could be reported as cancelled on another thread and its result lost.
    pub async fn run_until_cancelled<F: Future>(&self, future: F) -> Option<F::Output> {
        use std::task::Poll;
        let mut future = std::pin::pin!(future);
        let mut cancelled = std::pin::pin!(self.cancelled());
        std::future::poll_fn(|cx| {
            if let Poll::Ready(output) = future.as_mut().poll(cx) {
                return Poll::Ready(Some(output));
            }
            if cancelled.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            match future.as_mut().poll(cx) {
                Poll::Ready(output) => Poll::Ready(Some(output)),
                Poll::Pending => Poll::Ready(None),
            }
        })
        .await
    }
}
