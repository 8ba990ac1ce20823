//! hyper's runtime seam (`Executor`, `Timer`) implemented with `examen_rt`, and the task set that
//! ties connection tasks to the client that made them.
//!
//! `examen_rt::JoinHandle` cancels its task on drop, so every connection task's handle is kept in
//! the client's [`TaskSet`]. Dropping the last clone of the client (and every response still
//! borrowing a connection) drops the set and so ends every connection task: nothing this crate
//! spawns outlives the client. The executor handed to hyper holds the set weakly, so hyper's own
//! spawned futures cannot keep the client alive in a cycle.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use examen_rt::JoinHandle;

/// Connection tasks belonging to one client.
#[derive(Debug, Default)]
pub(crate) struct TaskSet {
    handles: Mutex<Handles>,
}

#[derive(Debug, Default)]
struct Handles {
    running: Vec<JoinHandle<()>>,
    prune_at: usize,
}

impl TaskSet {
    pub(crate) fn spawn<F>(&self, future: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let handle = examen_rt::spawn(future);
        let mut handles = self.handles.lock().unwrap_or_else(|e| e.into_inner());
        // Finished handles are dropped in batches so the list stays proportional to the number
        // of live connections without a scan per spawn.
        if handles.running.len() >= handles.prune_at {
            handles.running.retain(|handle| !handle.is_finished());
            handles.prune_at = (handles.running.len() * 2).max(64);
        }
        handles.running.push(handle);
    }
}

/// `hyper::rt::Executor` on `examen_rt::spawn`, scoped to one client's [`TaskSet`].
#[derive(Clone, Debug)]
pub(crate) struct Executor {
    tasks: Weak<TaskSet>,
}

impl Executor {
    pub(crate) fn new(tasks: &Arc<TaskSet>) -> Self {
        Self {
            tasks: Arc::downgrade(tasks),
        }
    }
}

impl<F> hyper::rt::Executor<F> for Executor
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, future: F) {
        // With the client gone there is nobody left to serve: dropping the future is correct.
        if let Some(tasks) = self.tasks.upgrade() {
            tasks.spawn(async move {
                future.await;
            });
        }
    }
}

/// `hyper::rt::Timer` on `examen_rt::sleep` (used for HTTP/2 keep-alive pings).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Timer;

impl hyper::rt::Timer for Timer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(Sleep(examen_rt::sleep(duration)))
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        self.sleep(deadline.saturating_duration_since(Instant::now()))
    }
}

struct Sleep(examen_rt::Sleep);

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.0).poll(cx)
    }
}

impl hyper::rt::Sleep for Sleep {}
