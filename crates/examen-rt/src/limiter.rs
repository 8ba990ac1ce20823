//! [`CapacityLimiter`]: a fair (first come, first served) limit on how many holders run at once,
//! resizable at run time. It carries `max_connections`, `max_samples`, `max_tasks` and
//! `max_subprocesses`.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

/// A fair limiter: at most [`total`](Self::total) permits are out at once, and waiters are served
/// in the order they started waiting. Cloning shares the same limit.
#[derive(Clone)]
pub struct CapacityLimiter {
    inner: Arc<Mutex<State>>,
}

struct State {
    total: usize,
    borrowed: usize,
    next_id: u64,
    queue: VecDeque<u64>,
    waiters: HashMap<u64, Waiter>,
}

struct Waiter {
    granted: bool,
    waker: Option<Waker>,
}

impl State {
    /// Hands free capacity to the head of the queue, in order.
    fn grant(&mut self) {
        while self.borrowed < self.total {
            let Some(id) = self.queue.pop_front() else {
                return;
            };
            let waiter = self
                .waiters
                .get_mut(&id)
                .expect("a queued waiter is registered");
            waiter.granted = true;
            self.borrowed += 1;
            if let Some(waker) = waiter.waker.take() {
                waker.wake();
            }
        }
    }

    fn release(&mut self) {
        self.borrowed -= 1;
        self.grant();
    }
}

impl fmt::Debug for CapacityLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.lock();
        f.debug_struct("CapacityLimiter")
            .field("total", &state.total)
            .field("borrowed", &state.borrowed)
            .field("waiting", &state.queue.len())
            .finish()
    }
}

impl CapacityLimiter {
    /// A limiter with `total` permits. A total of zero holds every acquirer until it is raised.
    pub fn new(total: usize) -> CapacityLimiter {
        CapacityLimiter {
            inner: Arc::new(Mutex::new(State {
                total,
                borrowed: 0,
                next_id: 0,
                queue: VecDeque::new(),
                waiters: HashMap::new(),
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is consistent between statements, so a panic elsewhere cannot poison it in
        // a harmful way.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Waits for a permit, in first-come order. The permit is returned when it is dropped.
    ///
    /// Cancel-safe: dropping the future gives up the place in the queue (and passes on a permit
    /// that was granted but not yet taken).
    pub fn acquire(&self) -> Acquire {
        Acquire {
            limiter: self.clone(),
            id: None,
        }
    }

    /// A permit if one is free now and nobody is waiting ahead.
    pub fn try_acquire(&self) -> Option<Permit> {
        let mut state = self.lock();
        if state.queue.is_empty() && state.borrowed < state.total {
            state.borrowed += 1;
            Some(Permit {
                limiter: self.clone(),
            })
        } else {
            None
        }
    }

    /// Changes the number of permits. Raising it wakes waiters at once; lowering it below the
    /// number borrowed lets the holders finish and grants nothing new until they have.
    pub fn set_total(&self, total: usize) {
        let mut state = self.lock();
        state.total = total;
        state.grant();
    }

    /// The number of permits.
    pub fn total(&self) -> usize {
        self.lock().total
    }

    /// The number of permits out now.
    pub fn borrowed(&self) -> usize {
        self.lock().borrowed
    }

    /// How many acquirers are waiting.
    pub fn waiting(&self) -> usize {
        self.lock().queue.len()
    }

    /// Whether two handles share the same limit.
    pub fn same_as(&self, other: &CapacityLimiter) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

/// The future returned by [`CapacityLimiter::acquire`].
#[must_use = "futures do nothing unless awaited"]
pub struct Acquire {
    limiter: CapacityLimiter,
    id: Option<u64>,
}

impl fmt::Debug for Acquire {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Acquire")
            .field("queued", &self.id.is_some())
            .finish()
    }
}

impl Future for Acquire {
    type Output = Permit;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Permit> {
        let limiter = self.limiter.clone();
        let mut state = limiter.lock();
        match self.id {
            None => {
                if state.queue.is_empty() && state.borrowed < state.total {
                    state.borrowed += 1;
                    return Poll::Ready(Permit {
                        limiter: limiter.clone(),
                    });
                }
                let id = state.next_id;
                state.next_id += 1;
                state.queue.push_back(id);
                state.waiters.insert(
                    id,
                    Waiter {
                        granted: false,
                        waker: Some(cx.waker().clone()),
                    },
                );
                self.id = Some(id);
                Poll::Pending
            }
            Some(id) => {
                let waiter = state
                    .waiters
                    .get_mut(&id)
                    .expect("our waiter is registered");
                if waiter.granted {
                    state.waiters.remove(&id);
                    drop(state);
                    // The future is finished: its drop must not release the permit again.
                    self.id = None;
                    return Poll::Ready(Permit { limiter });
                }
                match &waiter.waker {
                    Some(waker) if waker.will_wake(cx.waker()) => {}
                    _ => waiter.waker = Some(cx.waker().clone()),
                }
                Poll::Pending
            }
        }
    }
}

impl Drop for Acquire {
    fn drop(&mut self) {
        let Some(id) = self.id.take() else {
            return;
        };
        let mut state = self.limiter.lock();
        if let Some(waiter) = state.waiters.remove(&id) {
            if waiter.granted {
                state.release();
            } else if let Some(position) = state.queue.iter().position(|queued| *queued == id) {
                state.queue.remove(position);
            }
        }
    }
}

/// One unit of a [`CapacityLimiter`]'s capacity, returned when dropped.
#[must_use = "a permit is released as soon as it is dropped"]
pub struct Permit {
    limiter: CapacityLimiter,
}

impl fmt::Debug for Permit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit").finish_non_exhaustive()
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.limiter.lock().release();
    }
}
