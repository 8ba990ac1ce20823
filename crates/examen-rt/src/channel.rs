//! Bounded multi-producer, multi-consumer channels: [`channel`], [`Sender`], [`Receiver`].
//!
//! Both halves are `Clone`. The channel closes for receivers when the last [`Sender`] is dropped
//! (receivers drain what is buffered, then see the end), and for senders when the last
//! [`Receiver`] is dropped (a send hands its value back in [`SendError`]). Runtime-independent.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;

/// Makes a bounded channel holding at most `capacity` values in flight.
///
/// # Panics
///
/// When `capacity` is zero.
pub fn channel<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    assert!(
        capacity > 0,
        "examen_rt::channel needs a capacity of at least 1"
    );
    let (sender, receiver) = async_channel::bounded(capacity);
    (
        Sender { inner: sender },
        Receiver {
            inner: Box::pin(receiver),
        },
    )
}

/// The sending half of a [`channel`]. Clone it for more producers.
pub struct Sender<T> {
    inner: async_channel::Sender<T>,
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        Sender {
            inner: self.inner.clone(),
        }
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("len", &self.inner.len())
            .field("closed", &self.inner.is_closed())
            .finish()
    }
}

impl<T> Sender<T> {
    /// Sends `value`, waiting while the channel is full. Fails, handing `value` back, once every
    /// receiver is gone.
    pub async fn send(&self, value: T) -> Result<(), SendError<T>> {
        self.inner.send(value).await.map_err(|err| SendError(err.0))
    }

    /// Sends `value` from blocking code (a [`to_thread`](crate::to_thread) closure, a plain
    /// thread), parking the thread while the channel is full. Never call it on an async thread.
    pub fn send_blocking(&self, value: T) -> Result<(), SendError<T>> {
        self.inner
            .send_blocking(value)
            .map_err(|err| SendError(err.0))
    }

    /// Sends `value` if there is room now.
    pub fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        self.inner.try_send(value).map_err(|err| match err {
            async_channel::TrySendError::Full(value) => TrySendError::Full(value),
            async_channel::TrySendError::Closed(value) => TrySendError::Closed(value),
        })
    }

    /// Whether every receiver is gone.
    pub fn is_closed(&self) -> bool {
        self.inner.is_closed()
    }

    /// How many values are buffered.
    pub fn len(&self) -> usize {
        self.inner.len()
    }

    /// Whether nothing is buffered.
    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }
}

/// The receiving half of a [`channel`]: clone it for more consumers (each value goes to exactly
/// one of them). It is a [`Stream`] that ends when the last sender is dropped.
pub struct Receiver<T> {
    // Boxed so that `Receiver` is `Unpin` and `StreamExt::next` works on it directly.
    inner: Pin<Box<async_channel::Receiver<T>>>,
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Self {
        Receiver {
            inner: Box::pin((*self.inner).clone()),
        }
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("len", &self.inner.len())
            .field("closed", &self.inner.is_closed())
            .finish()
    }
}

impl<T> Receiver<T> {
    /// The next value, or `None` once the channel is empty and every sender is gone.
    pub async fn recv(&self) -> Option<T> {
        self.inner.recv().await.ok()
    }

    /// The next value, from blocking code, parking the thread while the channel is empty. `None`
    /// once the channel is empty and every sender is gone. Never call it on an async thread.
    pub fn recv_blocking(&self) -> Option<T> {
        self.inner.recv_blocking().ok()
    }

    /// A value if one is buffered now.
    pub fn try_recv(&self) -> Option<T> {
        self.inner.try_recv().ok()
    }

    /// How many values are buffered.
    pub fn len(&self) -> usize {
        self.inner.len()
    }

    /// Whether nothing is buffered.
    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }

    /// Closes the channel from the receiving side: senders fail from now on; buffered values can
    /// still be received.
    pub fn close(&self) {
        self.inner.close();
    }
}

impl<T> Stream for Receiver<T> {
    type Item = T;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.inner.as_mut().poll_next(cx)
    }
}

/// Every receiver is gone; the value that could not be sent is handed back.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SendError<T>(pub T);

impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SendError(..)")
    }
}

impl<T> fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("sending into a closed channel")
    }
}

impl<T> std::error::Error for SendError<T> {}

/// Why [`Sender::try_send`] did not send; the value is handed back.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum TrySendError<T> {
    /// The channel is full.
    Full(T),
    /// Every receiver is gone.
    Closed(T),
}

impl<T> TrySendError<T> {
    /// The value that was not sent.
    pub fn into_inner(self) -> T {
        match self {
            TrySendError::Full(value) | TrySendError::Closed(value) => value,
        }
    }
}

impl<T> fmt::Debug for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySendError::Full(_) => f.write_str("Full(..)"),
            TrySendError::Closed(_) => f.write_str("Closed(..)"),
        }
    }
}

impl<T> fmt::Display for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySendError::Full(_) => f.write_str("sending into a full channel"),
            TrySendError::Closed(_) => f.write_str("sending into a closed channel"),
        }
    }
}

impl<T> std::error::Error for TrySendError<T> {}
