//! [`to_thread`]: blocking work off the async worker threads.

use std::panic::{self, AssertUnwindSafe};

use crate::runtime::{expect_context, ContextGuard, Spawner};

/// Runs the blocking function `f` on a thread pool meant for blocking work (tokio's
/// `spawn_blocking`, or the `blocking` crate's pool under smol) and waits for its result.
///
/// A panic in `f` is re-raised in the caller. Threads cannot be interrupted: if the caller is
/// cancelled, `f` still runs to its end, and [`run`](crate::run) waits for it before shutting
/// down. `f` runs outside the runtime ([`current_backend`](crate::current_backend) is `None` there).
pub async fn to_thread<F, T>(f: F) -> T
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let context = expect_context("to_thread");
    let guard = context.outstanding.enter();
    let job = move || {
        let _outstanding = guard;
        let _outside = ContextGuard::enter(None);
        panic::catch_unwind(AssertUnwindSafe(f))
    };
    let result = match context.spawner {
        Spawner::Tokio => tokio::task::spawn_blocking(job)
            .await
            .unwrap_or_else(|err| {
                if err.is_panic() {
                    Err(err.into_panic())
                } else {
                    panic!("examen_rt::to_thread: the runtime shut down under the call")
                }
            }),
        Spawner::Smol(_) => {
            // `blocking`'s task would be cancelled, and `f` never run, if the caller were
            // cancelled before a pool thread took it; tokio runs it regardless. Detach on drop
            // so that both backends keep the same promise: `f` runs to its end.
            DetachOnDrop(Some(blocking::unblock(job))).await
        }
    };
    match result {
        Ok(value) => value,
        Err(payload) => panic::resume_unwind(payload),
    }
}

/// Awaits a `blocking` task, detaching it (so that it still runs) when dropped before it ends.
struct DetachOnDrop<T>(Option<blocking::Task<T>>);

impl<T> std::future::Future for DetachOnDrop<T> {
    type Output = T;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<T> {
        let task = self
            .0
            .as_mut()
            .expect("examen_rt: to_thread polled after it completed");
        let output = std::task::ready!(std::pin::Pin::new(task).poll(cx));
        self.0 = None;
        std::task::Poll::Ready(output)
    }
}

impl<T> Drop for DetachOnDrop<T> {
    fn drop(&mut self) {
        if let Some(task) = self.0.take() {
            task.detach();
        }
    }
}
