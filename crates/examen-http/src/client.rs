//! [`Client`]: requests, the connection pool, and responses whose bodies give their connection
//! back to the pool.
//!
//! # Pool
//!
//! Connections are keyed by scheme, host and port (the proxy in use is a function of those).
//! An HTTP/2 connection is shared by every request to its key; HTTP/1.1 connections are used by
//! one request at a time and return to an idle list (most recently used first) once the response
//! body has been read to the end. Idle connections older than the idle timeout are closed when
//! next seen. A pooled connection that turns out to be closed before the request was written is
//! replaced transparently; once any byte of a request may have been sent, the failure is
//! returned to the caller, who decides whether to retry.
//!
//! # Lifetime of connection tasks
//!
//! Each connection is driven by a task spawned with `examen_rt::spawn` whose handle the client
//! keeps. When the last [`Client`] clone and the last [`Response`]/[`Body`] from it are dropped,
//! those handles drop and every connection task ends: no task outlives the client.

use std::collections::{HashMap, VecDeque};
use std::future::Future as _;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_core::Stream;
use http::header::{HeaderName, HeaderValue, CONTENT_TYPE, HOST, PROXY_AUTHORIZATION, USER_AGENT};
use http::{HeaderMap, Method, StatusCode, Uri, Version};
use http_body::Body as _;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::client::conn::{http1, http2};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

use crate::connect::{self, Target};
use crate::error::{Error, Kind};
use crate::io::HyperIo;
use crate::proxy::{Proxy, ProxyConfig};
use crate::rt::{Executor, TaskSet, Timer};
use crate::sse::SseStream;

type ReqBody = Full<Bytes>;

const DEFAULT_USER_AGENT: &str = concat!("examen/", env!("CARGO_PKG_VERSION"));

/// Configures and builds a [`Client`].
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    connect_timeout: Duration,
    timeout: Option<Duration>,
    proxy: Option<ProxyConfig>,
    extra_roots: Vec<CertificateDer<'static>>,
    webpki_roots: bool,
    http2: bool,
    http2_prior_knowledge: bool,
    http2_keep_alive_interval: Option<Duration>,
    pool_idle_timeout: Duration,
    pool_max_idle_per_host: usize,
    user_agent: HeaderValue,
}

impl Default for ClientBuilder {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(30),
            timeout: None,
            proxy: None,
            extra_roots: Vec::new(),
            webpki_roots: true,
            http2: true,
            http2_prior_knowledge: false,
            http2_keep_alive_interval: None,
            pool_idle_timeout: Duration::from_secs(90),
            pool_max_idle_per_host: usize::MAX,
            user_agent: HeaderValue::from_static(DEFAULT_USER_AGENT),
        }
    }
}

impl ClientBuilder {
    /// Limit on opening a connection: TCP, proxy tunnel, TLS and the HTTP handshake together.
    /// Default 30 s.
    pub fn connect_timeout(mut self, limit: Duration) -> Self {
        self.connect_timeout = limit;
        self
    }

    /// Default limit on each request, from sending it to the end of the response body. A
    /// request's own [`Request::timeout`] takes precedence. Default: none.
    pub fn timeout(mut self, limit: Duration) -> Self {
        self.timeout = Some(limit);
        self
    }

    /// Uses `proxy` instead of reading `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY` at build time.
    pub fn proxy(mut self, proxy: ProxyConfig) -> Self {
        self.proxy = Some(proxy);
        self
    }

    /// Trusts `root` (DER) in addition to the built-in roots.
    pub fn add_root_certificate(mut self, root: CertificateDer<'static>) -> Self {
        self.extra_roots.push(root);
        self
    }

    /// Trusts every certificate in a PEM bundle (like the file `SSL_CERT_FILE` names).
    pub fn add_root_certificates_pem(mut self, pem: &[u8]) -> Result<Self, Error> {
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|err| {
                Error::new(Kind::Tls).with_source(format!("invalid PEM certificate: {err}"))
            })?;
            self.extra_roots.push(cert);
        }
        Ok(self)
    }

    /// Whether to trust Mozilla's root store (webpki-roots). Default true.
    pub fn webpki_roots(mut self, enabled: bool) -> Self {
        self.webpki_roots = enabled;
        self
    }

    /// Whether to offer HTTP/2 by ALPN on TLS connections. Default true.
    pub fn http2(mut self, enabled: bool) -> Self {
        self.http2 = enabled;
        self
    }

    /// Speaks HTTP/2 without negotiation on plain `http://` connections (h2c), for servers known
    /// to support it. Default false.
    pub fn http2_prior_knowledge(mut self, enabled: bool) -> Self {
        self.http2_prior_knowledge = enabled;
        self
    }

    /// Sends HTTP/2 pings at this interval to detect dead connections. Default: off.
    pub fn http2_keep_alive_interval(mut self, interval: Duration) -> Self {
        self.http2_keep_alive_interval = Some(interval);
        self
    }

    /// How long an idle HTTP/1.1 connection is kept for reuse. Default 90 s.
    pub fn pool_idle_timeout(mut self, limit: Duration) -> Self {
        self.pool_idle_timeout = limit;
        self
    }

    /// How many idle HTTP/1.1 connections to keep per host. Default: unlimited (callers bound
    /// concurrency themselves, and every connection they needed once is likely needed again).
    pub fn pool_max_idle_per_host(mut self, max: usize) -> Self {
        self.pool_max_idle_per_host = max;
        self
    }

    /// The `User-Agent` sent when a request sets none.
    pub fn user_agent(mut self, value: HeaderValue) -> Self {
        self.user_agent = value;
        self
    }

    /// Builds the client. Reads the proxy variables unless [`proxy`](Self::proxy) was given.
    /// Needs no runtime: tasks are spawned only when requests are sent.
    pub fn build(self) -> Result<Client, Error> {
        let proxy = match self.proxy {
            Some(proxy) => proxy,
            None => ProxyConfig::from_env()?,
        };
        let tls = connect::tls_config(&self.extra_roots, self.webpki_roots, self.http2)?;
        Ok(Client {
            inner: Arc::new(Inner {
                tls: futures_rustls::TlsConnector::from(tls),
                proxy,
                connect_timeout: self.connect_timeout,
                timeout: self.timeout,
                http2_prior_knowledge: self.http2_prior_knowledge,
                http2_keep_alive_interval: self.http2_keep_alive_interval,
                pool_idle_timeout: self.pool_idle_timeout,
                pool_max_idle_per_host: self.pool_max_idle_per_host,
                user_agent: self.user_agent,
                pool: Mutex::new(HashMap::new()),
                tasks: Arc::new(TaskSet::default()),
                connections_opened: AtomicU64::new(0),
                requests: AtomicU64::new(0),
            }),
        })
    }
}

/// An HTTP/1.1 and HTTP/2 client over `examen_rt` sockets, identical on tokio and smol.
///
/// Cheap to clone: clones share the connection pool.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("proxy", &self.inner.proxy)
            .field("connect_timeout", &self.inner.connect_timeout)
            .field("timeout", &self.inner.timeout)
            .finish_non_exhaustive()
    }
}

struct Inner {
    tls: futures_rustls::TlsConnector,
    proxy: ProxyConfig,
    connect_timeout: Duration,
    timeout: Option<Duration>,
    http2_prior_knowledge: bool,
    http2_keep_alive_interval: Option<Duration>,
    pool_idle_timeout: Duration,
    pool_max_idle_per_host: usize,
    user_agent: HeaderValue,
    pool: Mutex<HashMap<PoolKey, HostEntry>>,
    tasks: Arc<TaskSet>,
    connections_opened: AtomicU64,
    requests: AtomicU64,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct PoolKey {
    https: bool,
    host: String,
    port: u16,
}

#[derive(Default)]
struct HostEntry {
    h2: Option<http2::SendRequest<ReqBody>>,
    idle: VecDeque<IdleConn>,
}

struct IdleConn {
    sender: http1::SendRequest<ReqBody>,
    since: Instant,
}

enum Sender {
    H1(http1::SendRequest<ReqBody>),
    H2(http2::SendRequest<ReqBody>),
}

/// Counters for tests and diagnostics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientStats {
    /// Connections opened so far (TCP connects that completed their handshakes).
    pub connections_opened: u64,
    /// Requests sent so far.
    pub requests: u64,
}

impl Client {
    /// A client with default settings and the proxy taken from the environment.
    pub fn new() -> Result<Self, Error> {
        ClientBuilder::default().build()
    }

    /// Starts configuring a client.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// Counters since the client was built.
    pub fn stats(&self) -> ClientStats {
        ClientStats {
            connections_opened: self.inner.connections_opened.load(Ordering::Relaxed),
            requests: self.inner.requests.load(Ordering::Relaxed),
        }
    }

    /// The credentials of the proxies this client uses, in every form a server might echo
    /// them (see [`ProxyConfig::credentials`]), for redacting what servers send back.
    pub fn proxy_credentials(&self) -> Vec<String> {
        self.inner.proxy.credentials()
    }

    /// Sends `request` and returns once the response head has arrived.
    ///
    /// The request's timeout (or the client's) keeps running while the body is read.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future abandons the request; the connection it was using is closed rather
    /// than reused, since its state is unknown.
    pub async fn send(&self, request: Request) -> Result<Response, Error> {
        self.inner.requests.fetch_add(1, Ordering::Relaxed);
        let limit = request.timeout.or(self.inner.timeout);
        let deadline = limit.map(|limit| Instant::now() + limit);
        let host = request.host.clone();
        let exchange = self.exchange(request, limit, deadline);
        let result = match (limit, deadline) {
            (Some(limit), Some(deadline)) => examen_rt::timeout_at(deadline, exchange)
                .await
                .unwrap_or_else(|_| Err(Error::new(Kind::Timeout(limit)))),
            _ => exchange.await,
        };
        result.map_err(|err| err.with_host(&host))
    }

    async fn exchange(
        &self,
        request: Request,
        limit: Option<Duration>,
        deadline: Option<Instant>,
    ) -> Result<Response, Error> {
        let key = PoolKey {
            https: request.https,
            host: request.host.clone(),
            port: request.port,
        };
        let proxy = self.inner.proxy.proxy_for(key.https, &key.host).cloned();
        let absolute = request.uri.clone();
        let mut message = http::Request::new(Full::new(request.body));
        *message.method_mut() = request.method;
        *message.headers_mut() = request.headers;
        loop {
            let (sender, reused) = match self.checkout(&key).await {
                Some(sender) => (sender, true),
                None => (self.open(&key, proxy.as_ref()).await?, false),
            };
            let h2 = matches!(sender, Sender::H2(_));
            self.prepare(&mut message, &absolute, h2, &key, proxy.as_ref());
            let (outcome, h1_sender) = match sender {
                Sender::H2(mut sender) => (sender.try_send_request(message).await, None),
                Sender::H1(mut sender) => {
                    let outcome = sender.try_send_request(message).await;
                    (outcome, Some(sender))
                }
            };
            match outcome {
                Ok(response) => {
                    let (head, body) = response.into_parts();
                    let pooled = h1_sender.map(|sender| (key, sender));
                    return Ok(Response {
                        status: head.status,
                        version: head.version,
                        headers: head.headers,
                        body: Body {
                            incoming: Some(body),
                            pooled,
                            deadline: match (limit, deadline) {
                                (Some(limit), Some(deadline)) => Some((
                                    examen_rt::sleep(
                                        deadline.saturating_duration_since(Instant::now()),
                                    ),
                                    limit,
                                )),
                                _ => None,
                            },
                            client: Arc::clone(&self.inner),
                        },
                    });
                }
                Err(mut err) => match err.take_message() {
                    // The pooled connection died before our request reached it: nothing was
                    // sent, so a fresh connection can take it.
                    Some(returned) if reused => {
                        if h2 {
                            self.forget_h2(&key);
                        }
                        message = returned;
                    }
                    _ => return Err(Error::from_hyper(err.into_error())),
                },
            }
        }
    }

    /// Fits the message to the connection it is about to use.
    fn prepare(
        &self,
        message: &mut http::Request<ReqBody>,
        absolute: &Uri,
        h2: bool,
        key: &PoolKey,
        proxy: Option<&Proxy>,
    ) {
        let headers = message.headers_mut();
        if !headers.contains_key(USER_AGENT) {
            headers.insert(USER_AGENT, self.inner.user_agent.clone());
        }
        if h2 {
            headers.remove(HOST);
            *message.version_mut() = Version::HTTP_2;
            *message.uri_mut() = absolute.clone();
            return;
        }
        if !headers.contains_key(HOST) {
            let default_port = if key.https { 443 } else { 80 };
            let host = if key.host.contains(':') {
                format!("[{}]", key.host)
            } else {
                key.host.clone()
            };
            let value = if key.port == default_port {
                host
            } else {
                format!("{host}:{}", key.port)
            };
            if let Ok(value) = HeaderValue::try_from(value) {
                headers.insert(HOST, value);
            }
        }
        *message.version_mut() = Version::HTTP_11;
        let forward_proxy = proxy.filter(|_| !key.https);
        if let Some(auth) = forward_proxy.and_then(|proxy| proxy.authorization.clone()) {
            message.headers_mut().insert(PROXY_AUTHORIZATION, auth);
        }
        *message.uri_mut() = if forward_proxy.is_some() {
            absolute.clone()
        } else {
            let origin = absolute
                .path_and_query()
                .map_or("/", http::uri::PathAndQuery::as_str);
            Uri::try_from(origin).unwrap_or_else(|_| Uri::from_static("/"))
        };
    }

    async fn checkout(&self, key: &PoolKey) -> Option<Sender> {
        loop {
            let mut sender = {
                let mut pool = self.inner.pool.lock().unwrap_or_else(|e| e.into_inner());
                let entry = pool.get_mut(key)?;
                if let Some(h2) = &entry.h2 {
                    if !h2.is_closed() {
                        return Some(Sender::H2(h2.clone()));
                    }
                    entry.h2 = None;
                }
                let now = Instant::now();
                while entry.idle.front().is_some_and(|idle| {
                    now.duration_since(idle.since) >= self.inner.pool_idle_timeout
                }) {
                    entry.idle.pop_front();
                }
                entry.idle.pop_back()?.sender
            };
            if sender.is_closed() {
                continue;
            }
            // A connection goes back to the pool when its response body ends, which can be a
            // moment before hyper's connection task has marked it ready for the next request.
            if sender.ready().await.is_ok() {
                return Some(Sender::H1(sender));
            }
        }
    }

    fn checkin(&self, key: PoolKey, sender: http1::SendRequest<ReqBody>) {
        if sender.is_closed() {
            return;
        }
        let mut pool = self.inner.pool.lock().unwrap_or_else(|e| e.into_inner());
        let entry = pool.entry(key).or_default();
        if entry.idle.len() < self.inner.pool_max_idle_per_host {
            entry.idle.push_back(IdleConn {
                sender,
                since: Instant::now(),
            });
        }
    }

    fn forget_h2(&self, key: &PoolKey) {
        let mut pool = self.inner.pool.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(entry) = pool.get_mut(key) {
            if entry.h2.as_ref().is_some_and(http2::SendRequest::is_closed) {
                entry.h2 = None;
            }
        }
    }

    async fn open(&self, key: &PoolKey, proxy: Option<&Proxy>) -> Result<Sender, Error> {
        let limit = self.inner.connect_timeout;
        let progress = connect::Progress::default();
        let opening = async {
            let target = Target {
                https: key.https,
                host: &key.host,
                port: key.port,
                proxy,
            };
            let conn = connect::connect(&target, &self.inner.tls, &progress).await?;
            let h2 = conn.negotiated_h2()
                || (!key.https && proxy.is_none() && self.inner.http2_prior_knowledge);
            let io = HyperIo::new(conn);
            let tasks = &self.inner.tasks;
            if h2 {
                let mut builder = http2::Builder::new(Executor::new(tasks));
                builder.timer(Timer);
                if let Some(interval) = self.inner.http2_keep_alive_interval {
                    builder.keep_alive_interval(interval);
                }
                let (sender, connection) = builder
                    .handshake(io)
                    .await
                    .map_err(|err| Error::new(Kind::Connect).with_source(err))?;
                tasks.spawn(async move {
                    // Errors reach the requests that were using the connection.
                    let _ = connection.await;
                });
                let mut pool = self.inner.pool.lock().unwrap_or_else(|e| e.into_inner());
                let entry = pool.entry(key.clone()).or_default();
                if entry.h2.as_ref().is_none_or(http2::SendRequest::is_closed) {
                    entry.h2 = Some(sender.clone());
                }
                Ok(Sender::H2(sender))
            } else {
                let (sender, connection) = http1::Builder::new()
                    .handshake(io)
                    .await
                    .map_err(|err| Error::new(Kind::Connect).with_source(err))?;
                tasks.spawn(async move {
                    let _ = connection.await;
                });
                Ok(Sender::H1(sender))
            }
        };
        let sender = examen_rt::timeout(limit, opening)
            .await
            .unwrap_or_else(|_| {
                let err = Error::new(Kind::ConnectTimeout(limit));
                // A silent proxy is not a silent model server: say which one it was.
                Err(match (proxy, progress.stage()) {
                    (Some(proxy), connect::Stage::Tcp) => err.via_proxy(proxy.describe()),
                    (Some(proxy), connect::Stage::Tunnel) => err
                        .via_proxy(proxy.describe())
                        .with_source("no answer to CONNECT".to_owned()),
                    _ => err,
                })
            })?;
        self.inner
            .connections_opened
            .fetch_add(1, Ordering::Relaxed);
        Ok(sender)
    }
}

/// One HTTP request: method, absolute `http://` or `https://` URL, headers, a body in memory and
/// an optional timeout.
///
/// `Debug` shows header names but hides values marked sensitive (see [`Request::bearer_auth`]).
#[derive(Debug, Clone)]
pub struct Request {
    method: Method,
    uri: Uri,
    https: bool,
    host: String,
    port: u16,
    headers: HeaderMap,
    body: Bytes,
    timeout: Option<Duration>,
}

impl Request {
    /// A request for `url`, which must be absolute with an `http` or `https` scheme.
    pub fn new(method: Method, url: &str) -> Result<Self, Error> {
        let invalid = |why: String| Error::new(Kind::InvalidRequest).with_source(why);
        // The messages below quote the URL: never with its credentials.
        let shown = crate::redact_url(url);
        let url_text = url;
        let url = shown.as_str();
        let uri = Uri::try_from(url_text)
            .map_err(|err| invalid(format!("invalid URL `{url}`: {err}")))?;
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => {
                return Err(invalid(format!(
                    "URL `{url}` must start with `http://` or `https://`"
                )))
            }
        };
        let host = uri
            .host()
            .filter(|host| !host.is_empty())
            .ok_or_else(|| invalid(format!("URL `{url}` has no host")))?;
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
            return Err(invalid(
                "credentials in the URL are not supported; send them in a header".to_owned(),
            ));
        }
        Ok(Self {
            method,
            uri,
            https,
            host,
            port,
            headers: HeaderMap::new(),
            body: Bytes::new(),
            timeout: None,
        })
    }

    /// A `GET` request.
    pub fn get(url: &str) -> Result<Self, Error> {
        Self::new(Method::GET, url)
    }

    /// A `POST` request.
    pub fn post(url: &str) -> Result<Self, Error> {
        Self::new(Method::POST, url)
    }

    /// Sets a header, replacing any previous value.
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.insert(name, value);
        self
    }

    /// Sets a header whose value is a credential: it is marked sensitive, so `Debug` output and
    /// HTTP/2 header compression leave it out.
    pub fn secret_header(mut self, name: HeaderName, value: &str) -> Result<Self, Error> {
        let mut value = HeaderValue::try_from(value).map_err(|_| {
            Error::new(Kind::InvalidRequest).with_source(format!(
                "the value for header `{name}` contains characters not allowed in a header"
            ))
        })?;
        value.set_sensitive(true);
        self.headers.insert(name, value);
        Ok(self)
    }

    /// Sets `Authorization: Bearer <token>`, marked sensitive.
    pub fn bearer_auth(self, token: &str) -> Result<Self, Error> {
        self.secret_header(http::header::AUTHORIZATION, &format!("Bearer {token}"))
    }

    /// Sets a JSON body and `Content-Type: application/json`.
    pub fn json(mut self, body: impl Into<Bytes>) -> Self {
        self.headers
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        self.body = body.into();
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    /// Limits the whole exchange, from sending to the end of the response body.
    pub fn timeout(mut self, limit: Duration) -> Self {
        self.timeout = Some(limit);
        self
    }

    /// The method.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The URL.
    pub fn uri(&self) -> &Uri {
        &self.uri
    }

    /// The headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The headers, to change.
    pub fn headers_mut(&mut self) -> &mut HeaderMap {
        &mut self.headers
    }

    /// The body.
    pub fn body_bytes(&self) -> &Bytes {
        &self.body
    }
}

/// A response head with its body still to be read.
#[derive(Debug)]
pub struct Response {
    status: StatusCode,
    version: Version,
    headers: HeaderMap,
    body: Body,
}

impl Response {
    /// The status code.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The protocol version the connection speaks.
    pub fn version(&self) -> Version {
        self.version
    }

    /// The headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// Reads the whole body.
    pub async fn bytes(self) -> Result<Bytes, Error> {
        self.body.collect().await
    }

    /// Reads the whole body as UTF-8 (invalid sequences replaced).
    pub async fn text(self) -> Result<String, Error> {
        let bytes = self.bytes().await?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// The body as a stream of chunks.
    pub fn into_body(self) -> Body {
        self.body
    }

    /// The body parsed as server-sent events.
    pub fn sse(self) -> SseStream<Body> {
        SseStream::new(self.body)
    }
}

/// A response body: a [`Stream`] of byte chunks.
///
/// Reading it to the end returns an HTTP/1.1 connection to the pool; dropping it early closes
/// that connection. The request timeout keeps running while it is read.
pub struct Body {
    incoming: Option<Incoming>,
    pooled: Option<(PoolKey, http1::SendRequest<ReqBody>)>,
    deadline: Option<(examen_rt::Sleep, Duration)>,
    // Keeps the connection tasks alive while the body is read, even if the client is dropped.
    client: Arc<Inner>,
}

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Body")
            .field("done", &self.incoming.is_none())
            .finish_non_exhaustive()
    }
}

impl Body {
    /// Reads the rest of the body into one buffer.
    pub async fn collect(mut self) -> Result<Bytes, Error> {
        use futures_util::StreamExt;
        let mut first: Option<Bytes> = None;
        let mut rest: Vec<u8> = Vec::new();
        while let Some(chunk) = self.next().await {
            let chunk = chunk?;
            match &first {
                None => first = Some(chunk),
                Some(head) => {
                    if rest.is_empty() {
                        let hint = self
                            .incoming
                            .as_ref()
                            .and_then(|body| body.size_hint().exact())
                            .unwrap_or(0);
                        rest.reserve(head.len() + chunk.len() + hint as usize);
                        rest.extend_from_slice(head);
                    }
                    rest.extend_from_slice(&chunk);
                }
            }
        }
        Ok(if rest.is_empty() {
            first.unwrap_or_default()
        } else {
            Bytes::from(rest)
        })
    }

    fn finish(&mut self) {
        self.incoming = None;
        if let Some((key, sender)) = self.pooled.take() {
            Client {
                inner: Arc::clone(&self.client),
            }
            .checkin(key, sender);
        }
    }
}

impl Stream for Body {
    type Item = Result<Bytes, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            let Some(incoming) = this.incoming.as_mut() else {
                return Poll::Ready(None);
            };
            if let Some((sleep, limit)) = this.deadline.as_mut() {
                if Pin::new(sleep).poll(cx).is_ready() {
                    let limit = *limit;
                    // The connection is mid-response; it cannot be reused.
                    this.incoming = None;
                    this.pooled = None;
                    return Poll::Ready(Some(Err(Error::new(Kind::Timeout(limit)))));
                }
            }
            match Pin::new(incoming).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => {
                    this.finish();
                    return Poll::Ready(None);
                }
                Poll::Ready(Some(Ok(frame))) => {
                    if let Ok(data) = frame.into_data() {
                        if !data.is_empty() {
                            return Poll::Ready(Some(Ok(data)));
                        }
                    }
                }
                Poll::Ready(Some(Err(err))) => {
                    this.incoming = None;
                    this.pooled = None;
                    let err = Error::from_hyper(err);
                    let err = if err.kind() == Kind::Closed {
                        err
                    } else {
                        Error::new(Kind::Body).with_source(err)
                    };
                    return Poll::Ready(Some(Err(err)));
                }
            }
        }
    }
}
