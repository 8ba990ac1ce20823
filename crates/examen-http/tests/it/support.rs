//! Loopback servers for the tests: a hyper server (HTTP/1.1 and HTTP/2, plain or TLS with a
//! fresh self-signed certificate) and a raw TCP server for misbehaviour hyper would not produce.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use examen_http::io::HyperIo;
use examen_http::{Bytes, CertificateDer};
use examen_rt::net::{TcpListener, TcpStream};
use examen_rt::JoinHandle;
use futures_util::{AsyncReadExt, AsyncWriteExt};
use http_body_util::{BodyExt, Full};

/// What a request looked like when it reached the server.
pub(crate) type Handler =
    Arc<dyn Fn(http::request::Parts, Bytes) -> http::Response<Full<Bytes>> + Send + Sync>;

/// Keeps spawned tasks alive for as long as the server value lives (dropping cancels them).
#[derive(Clone, Default)]
pub(crate) struct Tasks(Arc<Mutex<Vec<JoinHandle<()>>>>);

impl Tasks {
    pub(crate) fn spawn(&self, future: impl Future<Output = ()> + Send + 'static) {
        let handle = examen_rt::spawn(future);
        self.0.lock().unwrap().push(handle);
    }
}

impl<F> hyper::rt::Executor<F> for Tasks
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, future: F) {
        self.spawn(async move {
            future.await;
        });
    }
}

pub(crate) struct Server {
    pub(crate) addr: SocketAddr,
    /// Connections accepted so far.
    pub(crate) connections: Arc<AtomicUsize>,
    _tasks: Tasks,
}

impl Server {
    pub(crate) fn url(&self, scheme: &str, path: &str) -> String {
        format!("{scheme}://{}{path}", self.addr)
    }

    pub(crate) fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

pub(crate) enum Mode {
    Http1,
    /// HTTP/2 with prior knowledge on plain TCP.
    H2c,
    /// TLS; the protocol follows ALPN.
    Tls(Arc<rustls::ServerConfig>),
}

pub(crate) async fn hyper_server(mode: Mode, handler: Handler) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let tasks = Tasks::default();
    let mode = Arc::new(mode);
    {
        let tasks = tasks.clone();
        let connections = Arc::clone(&connections);
        tasks.clone().spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                connections.fetch_add(1, Ordering::SeqCst);
                let handler = Arc::clone(&handler);
                let mode = Arc::clone(&mode);
                let exec = tasks.clone();
                tasks.spawn(async move {
                    serve_connection(stream, &mode, handler, exec).await;
                });
            }
        });
    }
    Server {
        addr,
        connections,
        _tasks: tasks,
    }
}

async fn serve_connection(stream: TcpStream, mode: &Mode, handler: Handler, exec: Tasks) {
    let service =
        hyper::service::service_fn(move |request: http::Request<hyper::body::Incoming>| {
            let handler = Arc::clone(&handler);
            async move {
                let (parts, body) = request.into_parts();
                let body = body.collect().await?.to_bytes();
                Ok::<_, hyper::Error>(handler(parts, body))
            }
        });
    match mode {
        Mode::Http1 => {
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(HyperIo::new(stream), service)
                .await;
        }
        Mode::H2c => {
            let _ = hyper::server::conn::http2::Builder::new(exec)
                .serve_connection(HyperIo::new(stream), service)
                .await;
        }
        Mode::Tls(config) => {
            let acceptor = futures_rustls::TlsAcceptor::from(Arc::clone(config));
            let Ok(tls) = acceptor.accept(stream).await else {
                return;
            };
            let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
            if h2 {
                let _ = hyper::server::conn::http2::Builder::new(exec)
                    .serve_connection(HyperIo::new(tls), service)
                    .await;
            } else {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(HyperIo::new(tls), service)
                    .await;
            }
        }
    }
}

/// A server certificate for `localhost` and `127.0.0.1`, and the certificate to trust.
pub(crate) fn self_signed() -> (Arc<rustls::ServerConfig>, CertificateDer<'static>) {
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let cert = CertificateDer::from(certified.cert.der().to_vec());
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(certified.key_pair.serialize_der().into());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)
        .unwrap();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    (Arc::new(config), cert)
}

/// A TCP server that hands every accepted connection to `handle`.
pub(crate) async fn raw_server<F, Fut>(handle: F) -> Server
where
    F: Fn(TcpStream) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let tasks = Tasks::default();
    {
        let tasks = tasks.clone();
        let connections = Arc::clone(&connections);
        tasks.clone().spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                connections.fetch_add(1, Ordering::SeqCst);
                tasks.spawn(handle(stream));
            }
        });
    }
    Server {
        addr,
        connections,
        _tasks: tasks,
    }
}

/// Reads one request head (up to the blank line) and returns it as text.
pub(crate) async fn read_head(stream: &mut TcpStream) -> Option<String> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte).await.ok()? == 0 {
            return None;
        }
        head.push(byte[0]);
    }
    Some(String::from_utf8_lossy(&head).into_owned())
}

pub(crate) async fn write_all(stream: &mut TcpStream, bytes: &[u8]) {
    let _ = stream.write_all(bytes).await;
    let _ = stream.flush().await;
}

pub(crate) fn ok_text(text: &'static str) -> http::Response<Full<Bytes>> {
    http::Response::new(Full::new(Bytes::from_static(text.as_bytes())))
}

pub(crate) fn client_trusting(cert: CertificateDer<'static>) -> examen_http::ClientBuilder {
    examen_http::Client::builder()
        .proxy(examen_http::ProxyConfig::none())
        .webpki_roots(false)
        .add_root_certificate(cert)
}

pub(crate) fn plain_client() -> examen_http::ClientBuilder {
    examen_http::Client::builder().proxy(examen_http::ProxyConfig::none())
}
