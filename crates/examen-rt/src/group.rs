//! Structured concurrency: [`TaskGroup`] (a nursery), [`ErrorGroup`], and the input-ordered
//! fan-out helpers [`collect`], [`collect_all`] and [`collect_limited`].
//!
//! **Invariants.** A group does not return until every child has stopped. The first failure
//! (error or panic) cancels every sibling. Errors are never dropped: the owner receives all of them
//! as an [`ErrorGroup`], or the first where the API says so. A child's panic is re-raised in the
//! owner once the siblings have stopped. Dropping a group, or the future awaiting it, cancels
//! every child.

use std::fmt;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};

use futures_util::stream::{FuturesUnordered, StreamExt};
use futures_util::FutureExt;

use crate::cancel::CancelToken;
use crate::runtime::{expect_context, spawn_on, JoinError, JoinHandle, PanicPayload, Spawner};

/// Several errors from one group of tasks, in the order they happened.
///
/// Its `Debug` and `Display` list every error, so none is lost when the group is printed.
pub struct ErrorGroup<E> {
    errors: Vec<E>,
}

impl<E> ErrorGroup<E> {
    /// Makes a group from at least one error.
    ///
    /// # Panics
    ///
    /// When `errors` is empty: an error group always holds an error.
    pub fn new(errors: Vec<E>) -> ErrorGroup<E> {
        assert!(!errors.is_empty(), "an ErrorGroup needs at least one error");
        ErrorGroup { errors }
    }

    /// The first error that happened.
    pub fn first(&self) -> &E {
        &self.errors[0]
    }

    /// Takes the first error that happened, dropping the others.
    pub fn into_first(self) -> E {
        self.errors
            .into_iter()
            .next()
            .expect("an ErrorGroup holds at least one error")
    }

    /// Every error, in order.
    pub fn errors(&self) -> &[E] {
        &self.errors
    }

    /// How many errors the group holds (at least one).
    pub fn len(&self) -> usize {
        self.errors.len()
    }

    /// Always `false`: a group holds at least one error. Present for clippy's `len_without_is_empty`.
    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    /// Iterates over the errors in order.
    pub fn iter(&self) -> std::slice::Iter<'_, E> {
        self.errors.iter()
    }
}

impl<E> IntoIterator for ErrorGroup<E> {
    type Item = E;
    type IntoIter = std::vec::IntoIter<E>;

    fn into_iter(self) -> Self::IntoIter {
        self.errors.into_iter()
    }
}

impl<E: fmt::Display> fmt::Display for ErrorGroup<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let [only] = self.errors.as_slice() {
            return only.fmt(f);
        }
        write!(f, "{} errors:", self.errors.len())?;
        for (index, error) in self.errors.iter().enumerate() {
            write!(f, "\n- Error {}: {error}", index + 1)?;
        }
        Ok(())
    }
}

impl<E: fmt::Debug> fmt::Debug for ErrorGroup<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "ErrorGroup ({} errors):", self.errors.len())?;
        for (index, error) in self.errors.iter().enumerate() {
            writeln!(f, "- Error {}: {error:?}", index + 1)?;
        }
        Ok(())
    }
}

impl<E: fmt::Debug + fmt::Display> std::error::Error for ErrorGroup<E> {}

/// How one child ended.
enum Outcome<T, E> {
    Done(T),
    Failed(E),
    Panicked(PanicPayload),
    Cancelled,
}

/// Runs `future` as a child of the scope whose signal is `cancel`: it stops when the signal is
/// set, and sets the signal itself when it fails or panics.
async fn child<T, E, Fut>(cancel: CancelToken, future: Fut) -> Outcome<T, E>
where
    Fut: Future<Output = Result<T, E>>,
{
    let guarded = AssertUnwindSafe(future).catch_unwind();
    match cancel.run_until_cancelled(guarded).await {
        Some(Ok(Ok(value))) => Outcome::Done(value),
        Some(Ok(Err(error))) => {
            cancel.cancel();
            Outcome::Failed(error)
        }
        Some(Err(payload)) => {
            cancel.cancel();
            Outcome::Panicked(payload)
        }
        None => Outcome::Cancelled,
    }
}

fn outcome_of<T, E>(joined: Result<Outcome<T, E>, JoinError>) -> Outcome<T, E> {
    match joined {
        Ok(outcome) => outcome,
        Err(JoinError::Cancelled) => Outcome::Cancelled,
        Err(JoinError::Panicked(payload)) => Outcome::Panicked(payload),
    }
}

/// A nursery: a scope that owns the tasks spawned into it.
///
/// Children start running as soon as they are spawned, on the runtime's worker threads.
/// [`join`](Self::join) waits for all of them. The first child to fail cancels its siblings, and
/// `join` returns every error that happened. A child's panic cancels the siblings and is re-raised
/// by `join`. Dropping the group, or the future awaiting `join`, cancels every child.
///
/// ```
/// use examen_rt::{Backend, TaskGroup};
///
/// examen_rt::run(Backend::Tokio, async {
///     let mut group = TaskGroup::new();
///     for n in 0..3 {
///         group.spawn(move || async move {
///             if n == 1 { Err(format!("child {n} failed")) } else { Ok(()) }
///         });
///     }
///     let errors = group.join().await.unwrap_err();
///     assert_eq!(errors.into_first(), "child 1 failed");
/// });
/// ```
#[must_use = "a TaskGroup cancels its children when dropped; call join()"]
pub struct TaskGroup<E> {
    spawner: Spawner,
    cancel: CancelToken,
    children: FuturesUnordered<JoinHandle<Outcome<(), E>>>,
}

impl<E> fmt::Debug for TaskGroup<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskGroup")
            .field("children", &self.children.len())
            .field("cancelled", &self.cancel.is_cancelled())
            .finish()
    }
}

impl<E: Send + 'static> Default for TaskGroup<E> {
    fn default() -> Self {
        TaskGroup::new()
    }
}

impl<E: Send + 'static> TaskGroup<E> {
    /// An empty group on the current runtime.
    ///
    /// # Panics
    ///
    /// Outside an examen runtime.
    pub fn new() -> TaskGroup<E> {
        TaskGroup {
            spawner: expect_context("TaskGroup::new").spawner,
            cancel: CancelToken::new(),
            children: FuturesUnordered::new(),
        }
    }

    /// Starts `start()` as a child of this group.
    ///
    /// If the group has already been cancelled (a sibling failed) the child is cancelled at once.
    pub fn spawn<F, Fut>(&mut self, start: F)
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
    {
        let cancel = self.cancel.clone();
        let handle = spawn_on(&self.spawner, async move { child(cancel, start()).await });
        self.children.push(handle);
    }

    /// The group's cancellation signal: cancelling it stops every child, as a failure would,
    /// but adds no error.
    pub fn cancel_token(&self) -> &CancelToken {
        &self.cancel
    }

    /// How many children have been spawned and not yet collected by `join`.
    pub fn len(&self) -> usize {
        self.children.len()
    }

    /// Whether no child is waiting to be joined.
    pub fn is_empty(&self) -> bool {
        self.children.is_empty()
    }

    /// Waits for every child to stop. `Ok(())` when all succeeded (or were cancelled through
    /// [`cancel_token`](Self::cancel_token)), otherwise every error, in the order they happened.
    ///
    /// # Panics
    ///
    /// Re-raises the first child panic, after every sibling has stopped.
    pub async fn join(mut self) -> Result<(), ErrorGroup<E>> {
        let mut errors = Vec::new();
        let mut panic: Option<PanicPayload> = None;
        while let Some(joined) = self.children.next().await {
            match outcome_of(joined) {
                Outcome::Done(()) | Outcome::Cancelled => {}
                Outcome::Failed(error) => errors.push(error),
                Outcome::Panicked(payload) => {
                    panic.get_or_insert(payload);
                }
            }
        }
        if let Some(payload) = panic {
            panic::resume_unwind(payload);
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ErrorGroup::new(errors))
        }
    }
}

impl<E> Drop for TaskGroup<E> {
    fn drop(&mut self) {
        // Each JoinHandle aborts its task when dropped; setting the signal as well stops children
        // that are between polls on another thread at their very next check.
        self.cancel.cancel();
    }
}

/// What the fan-out helpers do on the first error.
#[derive(Clone, Copy, PartialEq, Eq)]
enum OnError {
    /// Keep only the first error.
    First,
    /// Keep every error that happened before the siblings stopped.
    All,
}

/// Runs every function's future concurrently (at most `limit` at once), giving the values in
/// input order, or the errors. The first error cancels the rest.
async fn fan_out<I, F, Fut, T, E>(
    funcs: I,
    limit: Option<usize>,
    on_error: OnError,
) -> Result<Vec<T>, ErrorGroup<E>>
where
    I: IntoIterator<Item = F>,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = Result<T, E>> + Send,
    T: Send + 'static,
    E: Send + 'static,
{
    let spawner = expect_context("collect").spawner;
    let cancel = CancelToken::new();
    // Cancels the children if this future is dropped before they finish.
    let _cancel_on_drop = CancelOnDrop(cancel.clone());
    let limit = limit.unwrap_or(usize::MAX).max(1);
    let mut pending = funcs.into_iter().enumerate();
    let mut running = FuturesUnordered::new();
    let mut slots: Vec<Option<T>> = Vec::new();
    let mut errors = Vec::new();
    let mut panic: Option<PanicPayload> = None;

    loop {
        while running.len() < limit && !cancel.is_cancelled() {
            let Some((index, func)) = pending.next() else {
                break;
            };
            if slots.len() <= index {
                slots.resize_with(index + 1, || None);
            }
            let cancel = cancel.clone();
            let handle = spawn_on(&spawner, async move { child(cancel, func()).await });
            running.push(handle.map(move |joined| (index, joined)));
        }
        let Some((index, joined)) = running.next().await else {
            break;
        };
        match outcome_of(joined) {
            Outcome::Done(value) => slots[index] = Some(value),
            Outcome::Failed(error) => {
                if on_error == OnError::All || errors.is_empty() {
                    errors.push(error);
                }
            }
            Outcome::Panicked(payload) => {
                panic.get_or_insert(payload);
            }
            Outcome::Cancelled => {}
        }
    }
    if let Some(payload) = panic {
        panic::resume_unwind(payload);
    }
    if !errors.is_empty() {
        return Err(ErrorGroup::new(errors));
    }
    Ok(slots
        .into_iter()
        .map(|slot| slot.expect("every child finished without error"))
        .collect())
}

struct CancelOnDrop(CancelToken);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

/// Runs the futures made by `funcs` concurrently and gives their values in input order; the
/// first error cancels the rest and is returned (the counterpart of Inspect's `tg_collect`).
///
/// A panic in any of them cancels the rest and is re-raised here.
pub async fn collect<I, F, Fut, T, E>(funcs: I) -> Result<Vec<T>, E>
where
    I: IntoIterator<Item = F>,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = Result<T, E>> + Send,
    T: Send + 'static,
    E: Send + 'static,
{
    fan_out(funcs, None, OnError::First)
        .await
        .map_err(ErrorGroup::into_first)
}

/// Like [`collect`], but returns every error that happened before the siblings stopped.
pub async fn collect_all<I, F, Fut, T, E>(funcs: I) -> Result<Vec<T>, ErrorGroup<E>>
where
    I: IntoIterator<Item = F>,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = Result<T, E>> + Send,
    T: Send + 'static,
    E: Send + 'static,
{
    fan_out(funcs, None, OnError::All).await
}

/// Like [`collect`], with at most `limit` futures running at once. Functions are only called when
/// a slot is free, so a long input costs memory for `limit` tasks, not for all of them.
pub async fn collect_limited<I, F, Fut, T, E>(limit: usize, funcs: I) -> Result<Vec<T>, E>
where
    I: IntoIterator<Item = F>,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = Result<T, E>> + Send,
    T: Send + 'static,
    E: Send + 'static,
{
    fan_out(funcs, Some(limit), OnError::First)
        .await
        .map_err(ErrorGroup::into_first)
}
