//! Sockets for both backends: TCP ([`connect_tcp`], [`TcpStream`], [`TcpListener`]) and
//! unix-domain streams ([`UnixStream`], which the Docker Engine API is reached through).
//!
//! The streams implement the `futures-io` traits ([`AsyncRead`], [`AsyncWrite`]), which is
//! what the HTTP client and the test servers build on, whichever runtime is underneath.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_io::{AsyncRead, AsyncWrite};

use crate::runtime::{expect_context, Spawner};

/// `futures-io` for a socket type, by its backend's stream in `inner` (an [`Either`]).
macro_rules! delegate_io {
    ($socket:ty) => {
        impl AsyncRead for $socket {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut [u8],
            ) -> Poll<io::Result<usize>> {
                Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
            }
        }

        impl AsyncWrite for $socket {
            fn poll_write(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<io::Result<usize>> {
                Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
            }

            fn poll_write_vectored(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                bufs: &[io::IoSlice<'_>],
            ) -> Poll<io::Result<usize>> {
                Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
            }

            fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                Pin::new(&mut self.get_mut().inner).poll_flush(cx)
            }

            fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                Pin::new(&mut self.get_mut().inner).poll_close(cx)
            }
        }
    };
}

/// A TCP connection on the current runtime's reactor.
pub struct TcpStream {
    inner: Stream,
}

type Stream = Either<tokio::net::TcpStream, async_net::TcpStream>;

impl fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpStream")
            .field("local", &self.local_addr().ok())
            .field("peer", &self.peer_addr().ok())
            .finish()
    }
}

/// Connects to `host:port`, resolving the name off the async threads. Nagle's algorithm is turned
/// off, since examen's traffic is request/response.
pub async fn connect_tcp(host: &str, port: u16) -> io::Result<TcpStream> {
    let inner = match expect_context("connect_tcp").spawner {
        Spawner::Tokio => Stream::Tokio(tokio::net::TcpStream::connect((host, port)).await?),
        Spawner::Smol(_) => Stream::Smol(async_net::TcpStream::connect((host, port)).await?),
    };
    let stream = TcpStream { inner };
    stream.set_nodelay(true)?;
    Ok(stream)
}

impl TcpStream {
    /// Connects to an address without name resolution.
    pub async fn connect_addr(addr: SocketAddr) -> io::Result<TcpStream> {
        connect_tcp(&addr.ip().to_string(), addr.port()).await
    }

    /// The local address of the connection.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        match &self.inner {
            Stream::Tokio(stream) => stream.local_addr(),
            Stream::Smol(stream) => stream.local_addr(),
        }
    }

    /// The remote address of the connection.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        match &self.inner {
            Stream::Tokio(stream) => stream.peer_addr(),
            Stream::Smol(stream) => stream.peer_addr(),
        }
    }

    /// Sets `TCP_NODELAY`.
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        match &self.inner {
            Stream::Tokio(stream) => stream.set_nodelay(nodelay),
            Stream::Smol(stream) => stream.set_nodelay(nodelay),
        }
    }
}

delegate_io!(TcpStream);

/// A TCP listener on the current runtime's reactor (for servers and test servers).
pub struct TcpListener {
    inner: Listener,
}

enum Listener {
    Tokio(tokio::net::TcpListener),
    Smol(async_net::TcpListener),
}

impl fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpListener")
            .field("local", &self.local_addr().ok())
            .finish()
    }
}

impl TcpListener {
    /// Binds to `addr`, for example `"127.0.0.1:0"` for a free loopback port.
    pub async fn bind(addr: &str) -> io::Result<TcpListener> {
        let inner = match expect_context("TcpListener::bind").spawner {
            Spawner::Tokio => Listener::Tokio(tokio::net::TcpListener::bind(addr).await?),
            Spawner::Smol(_) => Listener::Smol(async_net::TcpListener::bind(addr).await?),
        };
        Ok(TcpListener { inner })
    }

    /// Waits for the next connection.
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let (inner, addr) = match &self.inner {
            Listener::Tokio(listener) => {
                let (stream, addr) = listener.accept().await?;
                (Stream::Tokio(stream), addr)
            }
            Listener::Smol(listener) => {
                let (stream, addr) = listener.accept().await?;
                (Stream::Smol(stream), addr)
            }
        };
        let stream = TcpStream { inner };
        stream.set_nodelay(true)?;
        Ok((stream, addr))
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        match &self.inner {
            Listener::Tokio(listener) => listener.local_addr(),
            Listener::Smol(listener) => listener.local_addr(),
        }
    }
}

/// A unix-domain stream socket on the current runtime's reactor. Closing it (`poll_close`)
/// shuts down the writing half only (the peer reads end of file; reading goes on), which is
/// how a hijacked Docker exec stream is told its standard input has ended.
pub struct UnixStream {
    inner: Unix,
}

type Unix = Either<tokio::net::UnixStream, async_net::unix::UnixStream>;

impl fmt::Debug for UnixStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let backend = match self.inner {
            Unix::Tokio(_) => "tokio",
            Unix::Smol(_) => "smol",
        };
        f.debug_struct("UnixStream")
            .field("backend", &backend)
            .finish()
    }
}

impl UnixStream {
    /// Connects to the socket at `path`.
    pub async fn connect(path: impl AsRef<Path>) -> io::Result<UnixStream> {
        let path = path.as_ref();
        let inner = match expect_context("UnixStream::connect").spawner {
            Spawner::Tokio => Unix::Tokio(tokio::net::UnixStream::connect(path).await?),
            Spawner::Smol(_) => Unix::Smol(async_net::unix::UnixStream::connect(path).await?),
        };
        Ok(UnixStream { inner })
    }
}

delegate_io!(UnixStream);

/// A socket of the tokio backend or the smol one: the `futures-io` adapter every socket type
/// here shares (tokio's streams speak tokio's traits; `poll_close` is tokio's `poll_shutdown`,
/// which shuts down the writing half).
enum Either<T, S> {
    Tokio(T),
    Smol(S),
}

impl<T, S> AsyncRead for Either<T, S>
where
    T: tokio::io::AsyncRead + Unpin,
    S: AsyncRead + Unpin,
{
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Either::Tokio(stream) => {
                let mut read_buf = tokio::io::ReadBuf::new(buf);
                match tokio::io::AsyncRead::poll_read(Pin::new(stream), cx, &mut read_buf) {
                    Poll::Ready(Ok(())) => Poll::Ready(Ok(read_buf.filled().len())),
                    Poll::Ready(Err(err)) => Poll::Ready(Err(err)),
                    Poll::Pending => Poll::Pending,
                }
            }
            Either::Smol(stream) => Pin::new(stream).poll_read(cx, buf),
        }
    }
}

impl<T, S> AsyncWrite for Either<T, S>
where
    T: tokio::io::AsyncWrite + Unpin,
    S: AsyncWrite + Unpin,
{
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Either::Tokio(stream) => tokio::io::AsyncWrite::poll_write(Pin::new(stream), cx, buf),
            Either::Smol(stream) => Pin::new(stream).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Either::Tokio(stream) => {
                tokio::io::AsyncWrite::poll_write_vectored(Pin::new(stream), cx, bufs)
            }
            Either::Smol(stream) => Pin::new(stream).poll_write_vectored(cx, bufs),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Either::Tokio(stream) => tokio::io::AsyncWrite::poll_flush(Pin::new(stream), cx),
            Either::Smol(stream) => Pin::new(stream).poll_flush(cx),
        }
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Either::Tokio(stream) => tokio::io::AsyncWrite::poll_shutdown(Pin::new(stream), cx),
            Either::Smol(stream) => Pin::new(stream).poll_close(cx),
        }
    }
}
