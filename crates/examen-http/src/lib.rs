//! HTTP/1.1 and HTTP/2 client for examen: hyper 1.x and rustls (ring) over `examen_rt` sockets,
//! so it behaves identically on tokio and smol and never starts a runtime of its own.
//!
//! # Brief overview
//!
//! - [`Client`] (built with [`ClientBuilder`]) sends a [`Request`] and returns a [`Response`],
//!   pooling connections per scheme, host and port: HTTP/1.1 with keep-alive, HTTP/2 when ALPN
//!   selects it (or by prior knowledge on plain HTTP).
//! - Proxies come from `HTTPS_PROXY`/`HTTP_PROXY`/`ALL_PROXY`/`NO_PROXY` ([`ProxyConfig`]);
//!   `https://` goes through a `CONNECT` tunnel.
//! - Timeouts: one for connecting (TCP, tunnel, TLS, handshake), one for each request covering
//!   the exchange up to the end of the response body.
//! - [`Error`] is opaque with predicates ([`Error::is_transient`], [`Error::is_timeout`], ...)
//!   so callers can decide about retries without matching on text.
//! - [`sse`] parses `text/event-stream` bodies; [`retry_after`] reads `Retry-After`.
//! - [`io::HyperIo`] adapts any `futures-io` stream to hyper's I/O traits (also used by test
//!   servers built on hyper's server half).
//! - [`unix::UnixClient`] speaks HTTP/1.1 to a daemon on a unix socket (the Docker Engine
//!   API), with keep-alive reuse, streamed bodies and HTTP upgrades to raw streams.
//!
//! # Example
//!
//! ```no_run
//! # async fn demo() -> Result<(), examen_http::Error> {
//! let client = examen_http::Client::new()?;
//! let request = examen_http::Request::post("https://api.example.com/v1/echo")?
//!     .bearer_auth("sk-...")?
//!     .json(r#"{"hello":"world"}"#);
//! let response = client.send(request).await?;
//! println!("{} {}", response.status(), response.text().await?);
//! # Ok(()) }
//! ```
//!
//! # Lifetime of tasks
//!
//! Connection tasks are spawned with `examen_rt::spawn` and their handles are held by the
//! client. When the last clone of a [`Client`] and every [`Response`]/[`Body`] it produced have
//! been dropped, all its connection tasks end.
//!
//! # Cancel safety
//!
//! Dropping a [`Client::send`] future or a [`Body`] abandons the request. The HTTP/1.1
//! connection it used is closed, never reused; an HTTP/2 connection only resets that stream.
//!
//! # Secrets
//!
//! Credentials belong in headers set with [`Request::secret_header`] or
//! [`Request::bearer_auth`], which mark them sensitive: `Debug` prints them as `Sensitive`, and
//! [`Error`] messages never contain request headers.

#![warn(missing_docs, missing_debug_implementations)]
// Libraries never print: progress and warnings reach the user through the caller.
#![deny(clippy::print_stdout, clippy::print_stderr)]

mod client;
mod connect;
mod error;
pub mod io;
mod proxy;
mod retry_after;
mod rt;
pub mod sse;
pub mod unix;

pub use bytes::Bytes;
pub use client::{Body, Client, ClientBuilder, ClientStats, Request, Response};
pub use error::Error;
pub use http::{self, header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Version};
pub use proxy::{percent_decode, Proxy, ProxyConfig};
pub use retry_after::{parse_retry_after, retry_after};
pub use rustls::pki_types::CertificateDer;

/// `url` without any `user:password@` part, for messages (a URL that does not parse is cut the
/// same way, by text).
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return match url.rfind('@') {
            // `user:pw@host:port` without a scheme.
            Some(at) if !url[..at].contains('/') => format!("***@{}", &url[at + 1..]),
            _ => url.to_owned(),
        };
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://***@{}", &rest[at + 1..]),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn urls_lose_their_credentials() {
        assert_eq!(
            super::redact_url("https://user:pw@host:8000/v1?k=1"),
            "https://***@host:8000/v1?k=1"
        );
        assert_eq!(super::redact_url("http://host/a@b"), "http://host/a@b");
        assert_eq!(super::redact_url("u:secret@proxy:3128"), "***@proxy:3128");
        assert_eq!(super::redact_url("not a url"), "not a url");
    }
}
