//! The client's error type: opaque, with predicates for the decisions callers make (retry or
//! not), in the manner of `hyper::Error`.

use std::fmt;
use std::time::Duration;

/// What went wrong with one request.
///
/// `Display` is one line naming the host and the failure. It never includes request headers,
/// so credentials carried in headers cannot leak through it.
pub struct Error {
    kind: Kind,
    host: Option<String>,
    /// The proxy the connection went to, when the failure was reaching it.
    proxy: Option<String>,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// The URL or request could not be used (scheme, host, header value).
    InvalidRequest,
    /// TCP connect failed: refused, unreachable, DNS.
    Connect,
    /// The connect phase (TCP, proxy tunnel, TLS, HTTP handshake) took longer than allowed.
    ConnectTimeout(Duration),
    /// The proxy refused or broke the tunnel.
    Proxy,
    /// The proxy variables are unusable (a scheme we do not speak, no host).
    ProxyConfig,
    /// TLS handshake or certificate failure.
    Tls,
    /// The request (up to the end of the response body) took longer than its timeout.
    Timeout(Duration),
    /// The connection was closed or reset before the response completed.
    Closed,
    /// An HTTP protocol error (malformed response and the like).
    Protocol,
    /// The response body failed while being read.
    Body,
}

impl Error {
    pub(crate) fn new(kind: Kind) -> Self {
        Self {
            kind,
            host: None,
            proxy: None,
            source: None,
        }
    }

    pub(crate) fn with_source(
        mut self,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        self.source = Some(source.into());
        self
    }

    pub(crate) fn with_host(mut self, host: &str) -> Self {
        if self.host.is_none() {
            self.host = Some(host.to_owned());
        }
        self
    }

    /// Marks the failure as one of reaching `proxy` (its description, without credentials).
    pub(crate) fn via_proxy(mut self, proxy: String) -> Self {
        self.proxy = Some(proxy);
        self
    }

    /// The proxy that could not be reached or that failed the tunnel (`127.0.0.1:3128
    /// (HTTPS_PROXY)`, never with credentials), when the failure was the proxy's.
    pub fn proxy(&self) -> Option<&str> {
        self.proxy.as_deref()
    }

    /// The proxy settings (`HTTPS_PROXY` and the like) are unusable; the message names the
    /// variable.
    pub fn is_proxy_config(&self) -> bool {
        self.kind == Kind::ProxyConfig
    }

    pub(crate) fn kind(&self) -> Kind {
        self.kind
    }

    /// Classifies a hyper error raised while a request was in flight.
    pub(crate) fn from_hyper(err: hyper::Error) -> Self {
        let kind = if err.is_incomplete_message()
            || err.is_closed()
            || err.is_canceled()
            || io_source(&err).is_some()
        {
            Kind::Closed
        } else if err.is_body_write_aborted() || err.is_user() {
            Kind::InvalidRequest
        } else {
            Kind::Protocol
        };
        Self::new(kind).with_source(err)
    }

    /// Classifies an I/O error from connecting.
    pub(crate) fn from_connect_io(err: std::io::Error) -> Self {
        Self::new(Kind::Connect).with_source(err)
    }

    /// The connection could not be made: refused, reset during setup, unreachable, DNS failure,
    /// TLS or proxy failure.
    pub fn is_connect(&self) -> bool {
        matches!(
            self.kind,
            Kind::Connect | Kind::ConnectTimeout(_) | Kind::Proxy | Kind::Tls
        )
    }

    /// A connect timeout or a request timeout elapsed.
    pub fn is_timeout(&self) -> bool {
        matches!(self.kind, Kind::Timeout(_) | Kind::ConnectTimeout(_))
    }

    /// The peer closed or reset the connection before the response was complete.
    pub fn is_closed(&self) -> bool {
        self.kind == Kind::Closed
    }

    /// The request itself was unusable; sending it again cannot help.
    pub fn is_invalid_request(&self) -> bool {
        matches!(self.kind, Kind::InvalidRequest | Kind::ProxyConfig)
    }

    /// TLS failed (handshake or certificate). Not worth retrying.
    pub fn is_tls(&self) -> bool {
        self.kind == Kind::Tls
    }

    /// Whether sending the same request again may succeed: connection refused or reset, dropped
    /// connections, timeouts, body read failures and protocol errors (a garbled response or a
    /// reset HTTP/2 stream, usually from a proxy or load balancer in trouble). TLS, proxy and
    /// request errors are not.
    pub fn is_transient(&self) -> bool {
        matches!(
            self.kind,
            Kind::Connect
                | Kind::ConnectTimeout(_)
                | Kind::Timeout(_)
                | Kind::Closed
                | Kind::Body
                | Kind::Protocol
        )
    }

    /// The underlying I/O error kind, if any (for example `ConnectionRefused`).
    pub fn io_error_kind(&self) -> Option<std::io::ErrorKind> {
        let source = self.source.as_deref()?;
        find_io(source).map(std::io::Error::kind)
    }

    fn describe(&self) -> String {
        match self.kind {
            Kind::InvalidRequest => "invalid request".into(),
            Kind::Connect => "connection failed".into(),
            Kind::ConnectTimeout(limit) => {
                format!("connect timed out after {}", fmt_duration(limit))
            }
            Kind::Proxy => "proxy tunnel failed".into(),
            Kind::ProxyConfig => "invalid proxy settings".into(),
            Kind::Tls => "TLS handshake failed".into(),
            Kind::Timeout(limit) => format!("request timed out after {}", fmt_duration(limit)),
            Kind::Closed => "connection closed before the response completed".into(),
            Kind::Protocol => "HTTP protocol error".into(),
            Kind::Body => "reading the response body failed".into(),
        }
    }
}

fn fmt_duration(duration: Duration) -> String {
    if duration.subsec_millis() == 0 && duration.as_secs() > 0 {
        format!("{}s", duration.as_secs())
    } else {
        format!("{}ms", duration.as_millis())
    }
}

fn io_source(err: &hyper::Error) -> Option<&std::io::Error> {
    find_io(err)
}

fn find_io<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a std::io::Error> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(err) = current {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            return Some(io);
        }
        current = err.source();
    }
    None
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.proxy, self.kind) {
            (Some(proxy), Kind::Connect) => write!(f, "connection to proxy {proxy} failed")?,
            (Some(proxy), Kind::ConnectTimeout(limit)) => write!(
                f,
                "connecting to proxy {proxy} timed out after {}",
                fmt_duration(limit)
            )?,
            (Some(proxy), Kind::Proxy) => write!(f, "proxy {proxy}: tunnel failed")?,
            (Some(proxy), _) => write!(f, "{} (via proxy {proxy})", self.describe())?,
            (None, _) => f.write_str(&self.describe())?,
        }
        if let Some(host) = &self.host {
            write!(f, " ({host})")?;
        }
        // The innermost cause is usually the informative one ("Connection refused (os error
        // 111)"); hyper's own chain adds little beyond it. Keep to one line.
        if let Some(source) = &self.source {
            let mut innermost: &(dyn std::error::Error + 'static) = source.as_ref();
            while let Some(next) = innermost.source() {
                innermost = next;
            }
            let text = innermost.to_string();
            let text = text.lines().next().unwrap_or("");
            if !text.is_empty() {
                write!(f, ": {text}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.kind)
            .field("host", &self.host)
            .field("proxy", &self.proxy)
            .field("source", &self.source)
            .finish()
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|s| s as &(dyn std::error::Error + 'static))
    }
}
