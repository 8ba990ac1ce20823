//! Interrupts: [`Interrupts`] turns `SIGINT` and `SIGTERM` into a stream, on either backend, so
//! that an eval can stop starting samples, flush what finished and exit cleanly.

use std::fmt;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;

use crate::runtime::{expect_context, Spawner};

/// A signal that asks the program to stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Interrupt {
    /// `SIGINT`, usually Ctrl-C at a terminal.
    Interrupt,
    /// `SIGTERM`, usually from a process manager.
    Terminate,
}

impl Interrupt {
    /// The signal's conventional name.
    pub fn name(self) -> &'static str {
        match self {
            Interrupt::Interrupt => "SIGINT",
            Interrupt::Terminate => "SIGTERM",
        }
    }
}

impl fmt::Display for Interrupt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A stream of the `SIGINT` and `SIGTERM` signals this process receives from now on.
///
/// While one exists, those signals no longer end the process by default: the program decides.
/// Each signal is delivered once (signals that arrive together may be merged, as the OS does).
pub struct Interrupts {
    inner: Inner,
}

enum Inner {
    Tokio {
        interrupt: tokio::signal::unix::Signal,
        terminate: tokio::signal::unix::Signal,
    },
    Smol(async_signal::Signals),
}

impl fmt::Debug for Interrupts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Interrupts").finish_non_exhaustive()
    }
}

impl Interrupts {
    /// Starts listening for `SIGINT` and `SIGTERM`.
    pub fn new() -> io::Result<Interrupts> {
        let inner = match expect_context("signal::Interrupts::new").spawner {
            Spawner::Tokio => {
                use tokio::signal::unix::{signal, SignalKind};
                Inner::Tokio {
                    interrupt: signal(SignalKind::interrupt())?,
                    terminate: signal(SignalKind::terminate())?,
                }
            }
            Spawner::Smol(_) => Inner::Smol(async_signal::Signals::new([
                async_signal::Signal::Int,
                async_signal::Signal::Term,
            ])?),
        };
        Ok(Interrupts { inner })
    }

    /// The next signal.
    pub async fn next(&mut self) -> Option<Interrupt> {
        std::future::poll_fn(|cx| Pin::new(&mut *self).poll_next(cx)).await
    }
}

impl Stream for Interrupts {
    type Item = Interrupt;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Interrupt>> {
        match &mut self.inner {
            Inner::Tokio {
                interrupt,
                terminate,
            } => {
                if let Poll::Ready(received) = interrupt.poll_recv(cx) {
                    return Poll::Ready(received.map(|()| Interrupt::Interrupt));
                }
                terminate
                    .poll_recv(cx)
                    .map(|received| received.map(|()| Interrupt::Terminate))
            }
            Inner::Smol(signals) => match Pin::new(signals).poll_next(cx) {
                Poll::Ready(Some(Ok(async_signal::Signal::Int))) => {
                    Poll::Ready(Some(Interrupt::Interrupt))
                }
                Poll::Ready(Some(Ok(_))) => Poll::Ready(Some(Interrupt::Terminate)),
                Poll::Ready(Some(Err(_))) | Poll::Ready(None) => Poll::Ready(None),
                Poll::Pending => Poll::Pending,
            },
        }
    }
}
