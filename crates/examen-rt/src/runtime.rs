//! Starting a runtime ([`run`]), knowing which one runs us ([`current_backend`]), spawning tasks
//! ([`spawn`], [`JoinHandle`]) and shielding cleanup from cancellation ([`shield`]).
//!
//! Each runtime thread carries a [`Context`] in a thread-local: the backend, a handle to spawn on,
//! and the tracker of outstanding shielded work that [`run`] waits for before shutting down.

use std::any::Any;
use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use futures_util::FutureExt;

use crate::backend::Backend;

/// A panic payload, as `std::panic::catch_unwind` gives it.
pub(crate) type PanicPayload = Box<dyn Any + Send + 'static>;

/// What one runtime thread knows about the runtime it belongs to.
#[derive(Clone)]
pub(crate) struct Context {
    pub(crate) spawner: Spawner,
    pub(crate) outstanding: Arc<Outstanding>,
}

#[derive(Clone)]
pub(crate) enum Spawner {
    /// tokio's own thread-local context says which runtime to spawn on.
    Tokio,
    Smol(Arc<async_executor::Executor<'static>>),
}

impl Spawner {
    fn backend(&self) -> Backend {
        match self {
            Spawner::Tokio => Backend::Tokio,
            Spawner::Smol(_) => Backend::Smol,
        }
    }
}

thread_local! {
    static CONTEXT: RefCell<Option<Context>> = const { RefCell::new(None) };
}

/// Installs `context` on this thread until the guard drops, restoring what was there before.
pub(crate) struct ContextGuard {
    previous: Option<Context>,
}

impl ContextGuard {
    pub(crate) fn enter(context: Option<Context>) -> ContextGuard {
        let previous = CONTEXT.with(|slot| std::mem::replace(&mut *slot.borrow_mut(), context));
        ContextGuard { previous }
    }
}

impl Drop for ContextGuard {
    fn drop(&mut self) {
        let previous = self.previous.take();
        CONTEXT.with(|slot| *slot.borrow_mut() = previous);
    }
}

fn set_context(context: Option<Context>) {
    CONTEXT.with(|slot| *slot.borrow_mut() = context);
}

pub(crate) fn context() -> Option<Context> {
    CONTEXT.with(|slot| slot.borrow().clone())
}

pub(crate) fn expect_context(what: &str) -> Context {
    context().unwrap_or_else(|| {
        panic!(
            "examen_rt::{what} was called outside an examen runtime: start one with examen_rt::run"
        )
    })
}

/// Which backend the calling code runs under, or `None` outside an examen runtime (the
/// counterpart of Python's `sniffio.current_async_library`).
///
/// Code inside [`to_thread`](crate::to_thread) closures runs outside the runtime and sees `None`
/// on both backends.
pub fn current_backend() -> Option<Backend> {
    CONTEXT.with(|slot| slot.borrow().as_ref().map(|ctx| ctx.spawner.backend()))
}

/// Counts work still running that someone must wait for: each piece holds an
/// [`OutstandingGuard`] until it is done, and [`wait_idle`](Self::wait_idle) waits for the
/// count to reach zero. [`run`] counts shielded work and blocking calls this way; it suits any
/// work started where it cannot be awaited (cleanup begun in a `Drop`).
#[derive(Debug, Default)]
pub struct Outstanding {
    count: AtomicUsize,
    done: event_listener::Event,
}

impl Outstanding {
    /// Counts one more piece of work, until the guard drops.
    pub fn enter(self: &Arc<Self>) -> OutstandingGuard {
        self.count.fetch_add(1, Ordering::SeqCst);
        OutstandingGuard(self.clone())
    }

    /// Waits until no piece of work is counted.
    pub async fn wait_idle(&self) {
        loop {
            if self.count.load(Ordering::SeqCst) == 0 {
                return;
            }
            let listener = self.done.listen();
            if self.count.load(Ordering::SeqCst) == 0 {
                return;
            }
            listener.await;
        }
    }
}

/// One piece of work counted by an [`Outstanding`], until it drops.
#[derive(Debug)]
pub struct OutstandingGuard(Arc<Outstanding>);

impl Drop for OutstandingGuard {
    fn drop(&mut self) {
        if self.0.count.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.done.notify(usize::MAX);
        }
    }
}

fn worker_threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .max(2)
}

/// Starts a fresh multi-threaded runtime of `backend`, runs `future` to completion on the calling
/// thread, waits for shielded cleanup and blocking calls it left behind, and shuts the runtime down.
///
/// Tasks still running when `future` completes are cancelled. Nothing of the runtime outlives
/// this call. Panics in `future` propagate to the caller.
pub fn run<F: Future>(backend: Backend, future: F) -> F::Output {
    // On the heap from here: a whole eval is a large future, and each frame on the way down
    // to the executor would hold a copy of it in debug builds (tokio boxes large futures in
    // `block_on` for the same reason).
    let future = Box::pin(future);
    match backend {
        Backend::Tokio => run_tokio(future),
        Backend::Smol => run_smol(future),
    }
}

fn run_tokio<F: Future>(future: F) -> F::Output {
    let outstanding = Arc::new(Outstanding::default());
    let context = Context {
        spawner: Spawner::Tokio,
        outstanding: outstanding.clone(),
    };
    let on_start = {
        let context = context.clone();
        move || set_context(Some(context.clone()))
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(worker_threads())
        .enable_io()
        .enable_time()
        .on_thread_start(on_start)
        .on_thread_stop(|| set_context(None))
        .build()
        .expect("examen_rt: failed to start the tokio runtime");
    let output = {
        let _guard = ContextGuard::enter(Some(context));
        runtime.block_on(async {
            let output = future.await;
            outstanding.wait_idle().await;
            output
        })
    };
    drop(runtime);
    output
}

fn run_smol<F: Future>(future: F) -> F::Output {
    let executor = Arc::new(async_executor::Executor::new());
    let outstanding = Arc::new(Outstanding::default());
    let context = Context {
        spawner: Spawner::Smol(executor.clone()),
        outstanding: outstanding.clone(),
    };
    let (stop, stopped) = async_channel::bounded::<()>(1);
    // The calling thread runs the executor too: one thread per core in all, as tokio
    // has.
    let workers: Vec<_> = (0..worker_threads() - 1)
        .map(|index| {
            let executor = executor.clone();
            let context = context.clone();
            let stopped = stopped.clone();
            std::thread::Builder::new()
                .name(format!("examen-smol-{index}"))
                .spawn(move || {
                    let _guard = ContextGuard::enter(Some(context));
                    // `recv` fails once `stop` is dropped, which ends this worker.
                    let _ = async_io::block_on(executor.run(stopped.recv()));
                })
                .expect("examen_rt: failed to start a smol worker thread")
        })
        .collect();
    let output = {
        let _guard = ContextGuard::enter(Some(context));
        let output = panic::catch_unwind(AssertUnwindSafe(|| {
            async_io::block_on(executor.run(async {
                let output = future.await;
                outstanding.wait_idle().await;
                output
            }))
        }));
        drop(stop);
        for worker in workers {
            let _ = worker.join();
        }
        output
    };
    // Dropping the executor cancels (drops) every task still in it, as tokio's shutdown does.
    drop(executor);
    match output {
        Ok(output) => output,
        Err(payload) => panic::resume_unwind(payload),
    }
}

/// Why awaiting a [`JoinHandle`] gave no value.
pub enum JoinError {
    /// The task was cancelled before it finished.
    Cancelled,
    /// The task panicked; the payload can be re-raised with [`std::panic::resume_unwind`].
    Panicked(PanicPayload),
}

impl JoinError {
    /// Whether the task was cancelled.
    pub fn is_cancelled(&self) -> bool {
        matches!(self, JoinError::Cancelled)
    }

    /// Whether the task panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self, JoinError::Panicked(_))
    }

    /// Re-raises the task's panic in the caller, or panics saying the task was cancelled.
    pub fn resume(self) -> ! {
        match self {
            JoinError::Panicked(payload) => panic::resume_unwind(payload),
            JoinError::Cancelled => panic!("examen_rt: the task was cancelled"),
        }
    }
}

impl fmt::Debug for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JoinError::Cancelled => f.write_str("JoinError::Cancelled"),
            JoinError::Panicked(payload) => {
                write!(f, "JoinError::Panicked({:?})", panic_message(payload))
            }
        }
    }
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JoinError::Cancelled => f.write_str("task was cancelled"),
            JoinError::Panicked(payload) => write!(f, "task panicked: {}", panic_message(payload)),
        }
    }
}

impl std::error::Error for JoinError {}

pub(crate) fn panic_message(payload: &PanicPayload) -> &str {
    if let Some(message) = payload.downcast_ref::<&'static str>() {
        message
    } else if let Some(message) = payload.downcast_ref::<String>() {
        message
    } else {
        "<non-string panic payload>"
    }
}

type Caught<T> = Result<T, PanicPayload>;
type CancelFuture<T> = Pin<Box<dyn Future<Output = Option<Caught<T>>> + Send>>;

enum HandleState<T> {
    Tokio(tokio::task::JoinHandle<Caught<T>>),
    Smol(async_executor::Task<Caught<T>>),
    SmolCancelling(CancelFuture<T>),
    Done,
}

/// An owned handle to a spawned task: await it for the task's output.
///
/// Dropping a `JoinHandle` cancels its task (unlike tokio's, which detaches): in examen no task
/// outlives the scope that holds its handle. The task's panic is caught on the task and handed to
/// the awaiting code as [`JoinError::Panicked`], identically on both backends.
#[must_use = "dropping a JoinHandle cancels its task"]
pub struct JoinHandle<T> {
    state: HandleState<T>,
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state {
            HandleState::Tokio(_) => "tokio",
            HandleState::Smol(_) => "smol",
            HandleState::SmolCancelling(_) => "smol (cancelling)",
            HandleState::Done => "done",
        };
        f.debug_struct("JoinHandle").field("task", &state).finish()
    }
}

impl<T: Send + 'static> JoinHandle<T> {
    /// Asks the task to stop at its next `.await`. Awaiting the handle afterwards waits until
    /// the task's future has been dropped and gives [`JoinError::Cancelled`] (or the output, if
    /// the task finished first).
    pub fn abort(&mut self) {
        match std::mem::replace(&mut self.state, HandleState::Done) {
            HandleState::Tokio(handle) => {
                handle.abort();
                self.state = HandleState::Tokio(handle);
            }
            HandleState::Smol(task) => {
                self.state = HandleState::SmolCancelling(Box::pin(task.cancel()));
            }
            other => self.state = other,
        }
    }

    /// Cancels the task and waits until it has stopped: `Some(output)` when it had already
    /// finished, `None` when it was cancelled. A panic in the task is re-raised here.
    pub async fn cancel(mut self) -> Option<T> {
        self.abort();
        match (&mut self).await {
            Ok(output) => Some(output),
            Err(JoinError::Cancelled) => None,
            Err(err @ JoinError::Panicked(_)) => err.resume(),
        }
    }

    /// Whether the task has finished (its output may not have been taken yet).
    pub fn is_finished(&self) -> bool {
        match &self.state {
            HandleState::Tokio(handle) => handle.is_finished(),
            HandleState::Smol(task) => task.is_finished(),
            HandleState::SmolCancelling(_) => false,
            HandleState::Done => true,
        }
    }

    /// Lets the task run on without a handle. Only [`shield`] uses this: everything else in
    /// examen keeps its tasks scoped.
    fn detach(mut self) {
        match std::mem::replace(&mut self.state, HandleState::Done) {
            HandleState::Tokio(handle) => drop(handle),
            HandleState::Smol(task) => task.detach(),
            HandleState::SmolCancelling(_) | HandleState::Done => {}
        }
    }
}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        if let HandleState::Tokio(handle) = &self.state {
            handle.abort();
        }
        // A smol task is cancelled when its `Task` drops, which happens right after this.
    }
}

impl<T: Send + 'static> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let caught = match &mut self.state {
            HandleState::Tokio(handle) => match futures_util::ready!(handle.poll_unpin(cx)) {
                Ok(caught) => Some(caught),
                Err(err) if err.is_panic() => Some(Err(err.into_panic())),
                Err(_) => None,
            },
            HandleState::Smol(task) => Some(futures_util::ready!(task.poll_unpin(cx))),
            HandleState::SmolCancelling(cancel) => futures_util::ready!(cancel.as_mut().poll(cx)),
            HandleState::Done => panic!("examen_rt: JoinHandle polled after it completed"),
        };
        self.state = HandleState::Done;
        Poll::Ready(match caught {
            Some(Ok(output)) => Ok(output),
            Some(Err(payload)) => Err(JoinError::Panicked(payload)),
            None => Err(JoinError::Cancelled),
        })
    }
}

/// Spawns `future` on the current runtime's worker threads.
///
/// Prefer [`TaskGroup`](crate::TaskGroup) or [`collect`](crate::collect), which scope their
/// tasks; a bare `spawn` is for building such scopes. Dropping the returned handle cancels the task.
///
/// # Panics
///
/// When called outside an examen runtime.
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let context = expect_context("spawn");
    spawn_on(&context.spawner, future)
}

/// Futures larger than this are boxed before they are handed to smol's executor (tokio's own
/// threshold in debug builds).
const BOX_FUTURE_THRESHOLD: usize = 2048;

pub(crate) fn spawn_on<F>(spawner: &Spawner, future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    // Panics are caught on the task itself so both backends hand them over the same way.
    let future = AssertUnwindSafe(future).catch_unwind();
    let state = match spawner {
        // As tokio does for large futures: on the heap at once, not copied down the
        // executor's spawn path (each debug-build frame would hold a copy, and a run's
        // futures are tens of kilobytes).
        Spawner::Smol(executor) if std::mem::size_of_val(&future) > BOX_FUTURE_THRESHOLD => {
            HandleState::Smol(executor.spawn(Box::pin(future)))
        }
        Spawner::Tokio => HandleState::Tokio(
            tokio::runtime::Handle::try_current()
                .expect("examen_rt: the tokio context is missing on an examen tokio thread")
                .spawn(future),
        ),
        Spawner::Smol(executor) => HandleState::Smol(executor.spawn(future)),
    };
    JoinHandle { state }
}

/// How long shielded cleanup may run by default before it is abandoned.
pub const DEFAULT_SHIELD_GRACE: Duration = Duration::from_secs(30);

/// Runs `future` to completion even if the caller is cancelled, within [`DEFAULT_SHIELD_GRACE`].
///
/// Use it for cleanup that must happen: flushing a log, killing a subprocess. The work runs as
/// its own task; dropping the returned future stops waiting for it but does not stop it, and
/// [`run`] waits for it before shutting down. Returns `None` when the grace period expired first.
pub async fn shield<F>(future: F) -> Option<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    shield_with_grace(DEFAULT_SHIELD_GRACE, future).await
}

/// [`shield`] with an explicit grace period.
pub async fn shield_with_grace<F>(grace: Duration, future: F) -> Option<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let context = expect_context("shield");
    let mut future = Box::pin(AssertUnwindSafe(future).catch_unwind());
    // Counted as outstanding before its first poll: that poll may already make progress others
    // see (the caller's caller may then leave `run`'s future), and `run` must not shut down
    // between that progress and the moment the work becomes a task of its own.
    let guard = context.outstanding.enter();
    // Work that finishes without waiting (a send into a channel with room, say) needs no task
    // of its own: nothing can cancel it between its start and its end. Only work that waits is
    // moved to a task, which then polls it again with its own waker.
    match std::future::poll_fn(|cx| Poll::Ready(future.as_mut().poll(cx))).await {
        Poll::Ready(Ok(output)) => return Some(output),
        Poll::Ready(Err(payload)) => panic::resume_unwind(payload),
        Poll::Pending => {}
    }
    let (done, result) = async_channel::bounded(1);
    let task = spawn_on(&context.spawner, async move {
        let _guard = guard;
        let output = crate::time::timeout(grace, future).await;
        let _ = done.send(output).await;
    });
    task.detach();
    match result.recv().await {
        Ok(Ok(Ok(output))) => Some(output),
        Ok(Ok(Err(payload))) => panic::resume_unwind(payload),
        Ok(Err(_elapsed)) => None,
        // The runtime shut down under the task: nothing finished.
        Err(_) => None,
    }
}

/// Starts `future` now as shielded cleanup that nobody awaits, within [`DEFAULT_SHIELD_GRACE`]:
/// the form of [`shield`] for a `Drop` implementation, where there is no caller left to await
/// anything (a sample's sandbox, say, whose sample was cancelled mid-way).
///
/// [`run`] waits for it before shutting down, as for [`shield`]. It has no output: the future
/// reports its own errors. Panics when called outside an examen runtime.
pub fn shield_detached<F>(future: F)
where
    F: Future<Output = ()> + Send + 'static,
{
    let context = expect_context("shield_detached");
    let guard = context.outstanding.enter();
    let task = spawn_on(&context.spawner, async move {
        let _guard = guard;
        // Past its grace period the cleanup is abandoned, as `shield`'s is.
        let _ = crate::time::timeout(DEFAULT_SHIELD_GRACE, future).await;
    });
    task.detach();
}

/// Yields once to the scheduler, letting other tasks run. A cancellation point.
pub async fn yield_now() {
    let mut yielded = false;
    std::future::poll_fn(move |cx| {
        if yielded {
            Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
    .await
}
