//! The seam between `futures-io` byte streams (what `examen_rt::net` and `futures-rustls` give us)
//! and hyper's own `rt::Read`/`rt::Write` traits.
//!
//! hyper reads into uninitialised memory through an `unsafe` cursor API; the workspace denies
//! `unsafe_code`, so [`HyperIo`] reads into a small owned buffer and copies it into hyper's cursor
//! with the safe `put_slice`. The copy costs far less than the syscall that filled the buffer.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_io::{AsyncRead, AsyncWrite};

/// Size of the staging buffer one read can fill; hyper's own read buffer starts at 8 KiB.
const READ_CHUNK: usize = 16 * 1024;

/// Wraps a `futures-io` stream so hyper can drive it.
///
/// Usable on both sides of a connection: the client in this crate and test servers built on
/// hyper's server half.
pub struct HyperIo<T> {
    inner: T,
    staging: Box<[u8]>,
}

impl<T> std::fmt::Debug for HyperIo<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HyperIo").finish_non_exhaustive()
    }
}

impl<T> HyperIo<T> {
    /// Wraps `inner`.
    pub fn new(inner: T) -> Self {
        Self {
            inner,
            staging: vec![0; READ_CHUNK].into_boxed_slice(),
        }
    }

    /// The wrapped stream.
    pub fn get_ref(&self) -> &T {
        &self.inner
    }

    /// Unwraps the stream.
    pub fn into_inner(self) -> T {
        self.inner
    }
}

impl<T: AsyncRead + Unpin> hyper::rt::Read for HyperIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let want = buf.remaining().min(this.staging.len());
        if want == 0 {
            return Poll::Ready(Ok(()));
        }
        match Pin::new(&mut this.inner).poll_read(cx, &mut this.staging[..want]) {
            Poll::Ready(Ok(n)) => {
                buf.put_slice(&this.staging[..n]);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(err)) => Poll::Ready(Err(err)),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: AsyncWrite + Unpin> hyper::rt::Write for HyperIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_close(cx)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }
}
