//! Opening one connection: TCP through `examen_rt::net`, an optional proxy `CONNECT` tunnel, and
//! TLS (rustls with the `ring` provider) offering HTTP/2 and HTTP/1.1 by ALPN.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_io::{AsyncRead, AsyncWrite};
use futures_util::{AsyncReadExt, AsyncWriteExt};
use rustls::pki_types::{CertificateDer, ServerName};

use crate::error::{Error, Kind};
use crate::proxy::Proxy;

/// A connected byte stream, with or without TLS.
pub(crate) enum Conn {
    Plain(examen_rt::net::TcpStream),
    Tls(Box<futures_rustls::client::TlsStream<examen_rt::net::TcpStream>>),
}

impl Conn {
    /// Whether ALPN settled on HTTP/2.
    pub(crate) fn negotiated_h2(&self) -> bool {
        match self {
            Conn::Plain(_) => false,
            Conn::Tls(tls) => tls.get_ref().1.alpn_protocol() == Some(b"h2"),
        }
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(tcp) => Pin::new(tcp).poll_read(cx, buf),
            Conn::Tls(tls) => Pin::new(tls.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(tcp) => Pin::new(tcp).poll_write(cx, buf),
            Conn::Tls(tls) => Pin::new(tls.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(tcp) => Pin::new(tcp).poll_write_vectored(cx, bufs),
            Conn::Tls(tls) => Pin::new(tls.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(tcp) => Pin::new(tcp).poll_flush(cx),
            Conn::Tls(tls) => Pin::new(tls.as_mut()).poll_flush(cx),
        }
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(tcp) => Pin::new(tcp).poll_close(cx),
            Conn::Tls(tls) => Pin::new(tls.as_mut()).poll_close(cx),
        }
    }
}

/// Builds the rustls client configuration.
///
/// Roots are Mozilla's (webpki-roots) unless disabled, plus any the caller added. ALPN offers
/// `h2` first when HTTP/2 is enabled.
pub(crate) fn tls_config(
    extra_roots: &[CertificateDer<'static>],
    webpki_roots: bool,
    offer_h2: bool,
) -> Result<Arc<rustls::ClientConfig>, Error> {
    let mut roots = rustls::RootCertStore::empty();
    if webpki_roots {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    for root in extra_roots {
        roots.add(root.clone()).map_err(|err| {
            Error::new(Kind::Tls).with_source(format!("unusable root certificate: {err}"))
        })?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|err| Error::new(Kind::Tls).with_source(err))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = if offer_h2 {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    Ok(Arc::new(config))
}

/// Where one connection goes.
pub(crate) struct Target<'a> {
    pub(crate) https: bool,
    pub(crate) host: &'a str,
    pub(crate) port: u16,
    pub(crate) proxy: Option<&'a Proxy>,
}

/// How far opening a connection through a proxy got, so that a connect timeout can say whose
/// silence it was: the proxy's (no TCP connection, or no answer to `CONNECT`) or the target's.
#[derive(Debug, Default)]
pub(crate) struct Progress(AtomicU8);

/// A stage of [`Progress`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    /// Opening the TCP connection (to the proxy, when there is one).
    Tcp,
    /// Connected to the proxy, waiting for its answer to `CONNECT`.
    Tunnel,
    /// Past the proxy: TLS with the target and the HTTP handshake.
    Target,
}

impl Progress {
    fn set(&self, stage: Stage) {
        self.0.store(stage as u8, Ordering::Relaxed);
    }

    pub(crate) fn stage(&self) -> Stage {
        match self.0.load(Ordering::Relaxed) {
            0 => Stage::Tcp,
            1 => Stage::Tunnel,
            _ => Stage::Target,
        }
    }
}

/// Opens a connection to `target` (TCP, tunnel, TLS), recording how far it got in `progress`.
/// The caller bounds it with the connect timeout.
pub(crate) async fn connect(
    target: &Target<'_>,
    tls: &futures_rustls::TlsConnector,
    progress: &Progress,
) -> Result<Conn, Error> {
    let (tcp_host, tcp_port) = match target.proxy {
        Some(proxy) => (proxy.host.as_str(), proxy.port),
        None => (target.host, target.port),
    };
    let mut tcp = examen_rt::net::connect_tcp(tcp_host, tcp_port)
        .await
        .map_err(|err| {
            let err = Error::from_connect_io(err);
            match target.proxy {
                Some(proxy) => err.via_proxy(proxy.describe()),
                None => err,
            }
        })?;
    // Requests are written whole; waiting for ACKs (Nagle) only adds latency.
    let _ = tcp.set_nodelay(true);
    if !target.https {
        progress.set(Stage::Target);
        return Ok(Conn::Plain(tcp));
    }
    if let Some(proxy) = target.proxy {
        progress.set(Stage::Tunnel);
        tunnel(&mut tcp, target, proxy)
            .await
            .map_err(|err| err.via_proxy(proxy.describe()))?;
    }
    progress.set(Stage::Target);
    let server_name = ServerName::try_from(target.host.to_owned()).map_err(|_| {
        Error::new(Kind::InvalidRequest)
            .with_source(format!("`{}` is not a valid TLS server name", target.host))
    })?;
    let stream = tls
        .connect(server_name, tcp)
        .await
        .map_err(|err| Error::new(tls_or_connect(&err)).with_source(err))?;
    Ok(Conn::Tls(Box::new(stream)))
}

/// A reset during the handshake is a connection problem (retryable); anything rustls itself
/// rejected (certificate, protocol) is a TLS error.
fn tls_or_connect(err: &io::Error) -> Kind {
    match err.kind() {
        io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::UnexpectedEof
        | io::ErrorKind::BrokenPipe => Kind::Connect,
        _ => Kind::Tls,
    }
}

/// Asks an HTTP proxy for a `CONNECT` tunnel to the target.
async fn tunnel(
    tcp: &mut examen_rt::net::TcpStream,
    target: &Target<'_>,
    proxy: &Proxy,
) -> Result<(), Error> {
    let authority = if target.host.contains(':') {
        format!("[{}]:{}", target.host, target.port)
    } else {
        format!("{}:{}", target.host, target.port)
    };
    let mut head = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n").into_bytes();
    if let Some(auth) = &proxy.authorization {
        head.extend_from_slice(b"Proxy-Authorization: ");
        head.extend_from_slice(auth.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    head.extend_from_slice(b"\r\n");
    let proxy_error = |err: io::Error| Error::new(Kind::Proxy).with_source(err);
    tcp.write_all(&head).await.map_err(proxy_error)?;
    tcp.flush().await.map_err(proxy_error)?;

    // The proxy sends nothing after its response head until we start TLS, so reading in chunks
    // cannot swallow tunnelled bytes.
    let mut response = Vec::with_capacity(256);
    let mut chunk = [0u8; 512];
    loop {
        let n = tcp.read(&mut chunk).await.map_err(proxy_error)?;
        if n == 0 {
            return Err(Error::new(Kind::Proxy)
                .with_source("the proxy closed the connection during CONNECT".to_owned()));
        }
        response.extend_from_slice(&chunk[..n]);
        if response.windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
        if response.len() > 16 * 1024 {
            return Err(Error::new(Kind::Proxy)
                .with_source("the proxy's CONNECT response head is too large".to_owned()));
        }
    }
    let status_line = response
        .split(|&b| b == b'\n')
        .next()
        .map(|line| String::from_utf8_lossy(line).trim().to_owned())
        .unwrap_or_default();
    let status = status_line.split_whitespace().nth(1).unwrap_or("");
    match status {
        "200" => Ok(()),
        "407" => Err(Error::new(Kind::Proxy).with_source(
            "the proxy requires authentication (HTTP 407): check the credentials in HTTPS_PROXY"
                .to_owned(),
        )),
        _ => Err(Error::new(Kind::Proxy)
            .with_source(format!("the proxy refused CONNECT: `{status_line}`"))),
    }
}
