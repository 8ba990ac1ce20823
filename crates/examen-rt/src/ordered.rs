//! [`ordered`]: re-sequencing indexed results so a consumer sees them in input order.

use std::collections::BTreeMap;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;

pin_project_lite::pin_project! {
    /// A stream of values in index order. Made by [`ordered`].
    #[must_use = "streams do nothing unless polled"]
    #[derive(Debug)]
    pub struct Ordered<S, T> {
        #[pin]
        inner: S,
        next: usize,
        waiting: BTreeMap<usize, T>,
        inner_done: bool,
    }
}

/// Re-sequences `(index, value)` pairs that arrive in any order into values in index order
/// 0, 1, 2, …: each value is yielded as soon as every value before it has been.
///
/// Memory is bounded by the out-of-order window: only values that arrived ahead of a missing
/// index are held. Indices must be unique. If the input ends with gaps (an index never came), the
/// values held after a gap are yielded in index order at the end rather than lost.
pub fn ordered<S, T>(stream: S) -> Ordered<S, T>
where
    S: Stream<Item = (usize, T)>,
{
    Ordered {
        inner: stream,
        next: 0,
        waiting: BTreeMap::new(),
        inner_done: false,
    }
}

impl<S, T> Ordered<S, T> {
    /// How many values are held waiting for an earlier index.
    pub fn waiting(&self) -> usize {
        self.waiting.len()
    }
}

impl<S, T> Stream for Ordered<S, T>
where
    S: Stream<Item = (usize, T)>,
{
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let mut this = self.project();
        loop {
            if let Some(value) = this.waiting.remove(this.next) {
                *this.next += 1;
                return Poll::Ready(Some(value));
            }
            if *this.inner_done {
                // Only gaps remain: hand over what is left, in order.
                return Poll::Ready(this.waiting.pop_first().map(|(index, value)| {
                    *this.next = index + 1;
                    value
                }));
            }
            match this.inner.as_mut().poll_next(cx) {
                Poll::Ready(Some((index, value))) => {
                    if index == *this.next {
                        *this.next += 1;
                        return Poll::Ready(Some(value));
                    }
                    if index < *this.next {
                        // A repeated or late index cannot be put in order; pass it on rather
                        // than lose it.
                        return Poll::Ready(Some(value));
                    }
                    this.waiting.insert(index, value);
                }
                Poll::Ready(None) => *this.inner_done = true,
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}
