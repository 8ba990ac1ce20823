//! HTTP/1.1 over a unix-domain socket ([`UnixClient`]), for local daemons that speak HTTP on
//! one (the Docker Engine API): requests with in-memory bodies, streamed response bodies, a
//! small keep-alive pool, and HTTP upgrades ([`UnixClient::upgrade`]) to a raw bidirectional
//! stream ([`Upgraded`]).
//!
//! The pool matters for latency: a connection whose response body was read to its end goes
//! back to the pool and carries the next request, so a daemon call costs one round trip rather
//! than a connect, a handshake and a round trip. A body dropped before its end takes its
//! connection with it (hyper cannot reuse a connection with unread bytes on it). An upgraded
//! connection is never pooled: it is the caller's stream from then on.
//!
//! There are no timeouts here: the callers (a sandbox's exec with its own deadline) bound the
//! whole exchange with `examen_rt::timeout`, and dropping any future or body cancels cleanly.

use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_io::{AsyncRead, AsyncWrite};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;

use crate::error::{Error, Kind};
use crate::io::HyperIo;
use crate::rt::TaskSet;

/// Idle connections kept per client; more than the concurrent requests one sandbox makes.
const MAX_IDLE: usize = 64;

type Sender = http1::SendRequest<Full<Bytes>>;

/// An HTTP/1.1 client for the server listening on one unix socket. Cheap to clone: clones
/// share the pool. Connection tasks end when the last clone (and every response that still
/// holds a connection) is dropped.
#[derive(Clone)]
pub struct UnixClient {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    idle: Mutex<Vec<Sender>>,
    tasks: Arc<TaskSet>,
}

impl std::fmt::Debug for UnixClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnixClient")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

impl UnixClient {
    /// A client for the socket at `path` (nothing is connected until the first request).
    pub fn new(path: impl Into<PathBuf>) -> UnixClient {
        UnixClient {
            inner: Arc::new(Inner {
                path: path.into(),
                idle: Mutex::new(Vec::new()),
                tasks: Arc::new(TaskSet::default()),
            }),
        }
    }

    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    fn describe(&self) -> String {
        format!("unix:{}", self.inner.path.display())
    }

    async fn connect(&self, upgrades: bool) -> Result<Sender, Error> {
        let stream = examen_rt::net::UnixStream::connect(&self.inner.path)
            .await
            .map_err(|err| Error::from_connect_io(err).with_host(&self.describe()))?;
        let (sender, connection) = http1::Builder::new()
            .handshake(HyperIo::new(stream))
            .await
            .map_err(|err| {
                Error::new(Kind::Connect)
                    .with_source(err)
                    .with_host(&self.describe())
            })?;
        self.inner.tasks.spawn(async move {
            // Errors reach the request that was using the connection.
            if upgrades {
                let _ = connection.with_upgrades().await;
            } else {
                let _ = connection.await;
            }
        });
        Ok(sender)
    }

    /// An idle pooled connection that is still open, waiting (briefly) for one whose last
    /// response has just ended to be ready again.
    async fn checkout(&self) -> Option<Sender> {
        loop {
            let mut sender = {
                let mut idle = self.inner.idle.lock().unwrap_or_else(|e| e.into_inner());
                idle.pop()?
            };
            if sender.is_closed() {
                continue;
            }
            if sender.ready().await.is_ok() {
                return Some(sender);
            }
        }
    }

    fn checkin(inner: &Inner, sender: Sender) {
        if sender.is_closed() {
            return;
        }
        let mut idle = inner.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < MAX_IDLE {
            idle.push(sender);
        }
    }

    /// Sends `request` (its URI is a path such as `/v1.41/_ping`; the `Host` header is set to
    /// `localhost` when absent) and returns the response once its head has arrived.
    pub async fn send(&self, request: http::Request<Bytes>) -> Result<UnixResponse, Error> {
        let (mut parts, body) = request.into_parts();
        if !parts.headers.contains_key(http::header::HOST) {
            parts.headers.insert(
                http::header::HOST,
                http::HeaderValue::from_static("localhost"),
            );
        }
        let mut request = http::Request::from_parts(parts, Full::new(body));
        if let Some(mut sender) = self.checkout().await {
            match sender.try_send_request(request).await {
                Ok(response) => return Ok(self.response(response, sender)),
                Err(mut failed) => match failed.take_message() {
                    // The pooled connection was closed before our request went out: nothing
                    // reached the server, so it is sent again on a new connection.
                    Some(unsent) => request = unsent,
                    None => {
                        return Err(
                            Error::from_hyper(failed.into_error()).with_host(&self.describe())
                        )
                    }
                },
            }
        }
        let mut sender = self.connect(false).await?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|err| Error::from_hyper(err).with_host(&self.describe()))?;
        Ok(self.response(response, sender))
    }

    fn response(
        &self,
        response: http::Response<hyper::body::Incoming>,
        sender: Sender,
    ) -> UnixResponse {
        let (parts, body) = response.into_parts();
        UnixResponse {
            status: parts.status,
            headers: parts.headers,
            body,
            sender: Some(sender),
            client: self.inner.clone(),
            host: self.describe(),
        }
    }

    /// Sends `request` on a connection of its own, asking to upgrade it (the caller sets the
    /// `Connection: Upgrade` and `Upgrade` headers), and once the server answers
    /// `101 Switching Protocols` returns the connection as a raw stream. Any other answer is
    /// returned as `Err(Ok(response))` so the caller can read the server's message.
    pub async fn upgrade(
        &self,
        request: http::Request<Bytes>,
    ) -> Result<Upgraded, Result<UnixResponse, Error>> {
        let (mut parts, body) = request.into_parts();
        if !parts.headers.contains_key(http::header::HOST) {
            parts.headers.insert(
                http::header::HOST,
                http::HeaderValue::from_static("localhost"),
            );
        }
        let request = http::Request::from_parts(parts, Full::new(body));
        let mut sender = self.connect(true).await.map_err(Err)?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|err| Err(Error::from_hyper(err).with_host(&self.describe())))?;
        if response.status() != http::StatusCode::SWITCHING_PROTOCOLS {
            return Err(Ok(self.response(response, sender)));
        }
        let upgraded = hyper::upgrade::on(response).await.map_err(|err| {
            Err(Error::new(Kind::Protocol)
                .with_source(err)
                .with_host(&self.describe()))
        })?;
        Ok(Upgraded { inner: upgraded })
    }
}

/// A response from a [`UnixClient`]; its connection returns to the pool when the body has been
/// read to its end.
pub struct UnixResponse {
    status: http::StatusCode,
    headers: http::HeaderMap,
    body: hyper::body::Incoming,
    sender: Option<Sender>,
    client: Arc<Inner>,
    host: String,
}

impl std::fmt::Debug for UnixResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnixResponse")
            .field("status", &self.status)
            .field("headers", &self.headers)
            .finish_non_exhaustive()
    }
}

impl UnixResponse {
    /// The status code.
    pub fn status(&self) -> http::StatusCode {
        self.status
    }

    /// The headers.
    pub fn headers(&self) -> &http::HeaderMap {
        &self.headers
    }

    /// The next piece of the body as it arrives; `None` at its end (when the connection goes
    /// back to the pool).
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, Error> {
        loop {
            let Some(frame) = self.body.frame().await else {
                if let Some(sender) = self.sender.take() {
                    UnixClient::checkin(&self.client, sender);
                }
                return Ok(None);
            };
            let frame = frame.map_err(|err| {
                self.sender = None;
                Error::new(Kind::Body)
                    .with_source(err)
                    .with_host(&self.host)
            })?;
            if let Ok(data) = frame.into_data() {
                if !data.is_empty() {
                    return Ok(Some(data));
                }
            }
        }
    }

    /// The whole body.
    pub async fn bytes(mut self) -> Result<Bytes, Error> {
        let mut first: Option<Bytes> = None;
        let mut rest: Vec<u8> = Vec::new();
        while let Some(chunk) = self.chunk().await? {
            match &first {
                // One chunk is the common case: no copy.
                None if rest.is_empty() => first = Some(chunk),
                _ => {
                    if let Some(first) = first.take() {
                        rest.extend_from_slice(&first);
                    }
                    rest.extend_from_slice(&chunk);
                }
            }
        }
        Ok(match first {
            Some(only) => only,
            None => Bytes::from(rest),
        })
    }
}

/// An upgraded connection: raw bytes both ways, as `futures-io` traits. Closing it
/// ([`AsyncWrite::poll_close`]) shuts down the writing half only, so the server reads end of
/// input while its answer can still be read.
pub struct Upgraded {
    inner: hyper::upgrade::Upgraded,
}

impl std::fmt::Debug for Upgraded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upgraded").finish_non_exhaustive()
    }
}

impl AsyncRead for Upgraded {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        // `ReadBuf::new` over initialised memory keeps this safe code.
        let mut read = hyper::rt::ReadBuf::new(buf);
        match hyper::rt::Read::poll_read(Pin::new(&mut self.get_mut().inner), cx, read.unfilled()) {
            Poll::Ready(Ok(())) => Poll::Ready(Ok(read.filled().len())),
            Poll::Ready(Err(err)) => Poll::Ready(Err(err)),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncWrite for Upgraded {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        hyper::rt::Write::poll_write(Pin::new(&mut self.get_mut().inner), cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        hyper::rt::Write::poll_flush(Pin::new(&mut self.get_mut().inner), cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        hyper::rt::Write::poll_shutdown(Pin::new(&mut self.get_mut().inner), cx)
    }
}
