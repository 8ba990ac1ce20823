//! Requests end to end: keep-alive, HTTP/2 by ALPN and by prior knowledge, TLS trust, timeouts
//! and the error classes callers use to decide about retries.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use examen_http::{header, HeaderValue, Request, StatusCode, Version};
use futures_util::AsyncReadExt;

use crate::support::{
    client_trusting, hyper_server, ok_text, plain_client, raw_server, read_head, self_signed,
    write_all, Mode,
};

/// Echoes what the server saw so tests can check the exact request shape.
fn echo_handler() -> crate::support::Handler {
    Arc::new(|parts: http::request::Parts, body| {
        let mut seen = format!("{} {} {:?}\n", parts.method, parts.uri, parts.version);
        let mut names: Vec<_> = parts
            .headers
            .keys()
            .map(|k| k.as_str().to_owned())
            .collect();
        names.sort();
        for name in names {
            let value = parts.headers.get(&name).unwrap().to_str().unwrap();
            seen.push_str(&format!("{name}: {value}\n"));
        }
        seen.push_str(&String::from_utf8_lossy(&body));
        http::Response::builder()
            .status(201)
            .header("x-echo", "yes")
            .body(http_body_util::Full::new(examen_http::Bytes::from(seen)))
            .unwrap()
    })
}

#[examen_rt::test]
async fn http1_request_shape_and_keep_alive() {
    let server = hyper_server(Mode::Http1, echo_handler()).await;
    let client = plain_client().build().unwrap();
    for round in 0..5 {
        let request = Request::post(&server.url("http", "/v1/chat?x=1"))
            .unwrap()
            .header(
                header::HeaderName::from_static("x-round"),
                HeaderValue::from(round),
            )
            .json(r#"{"a":1}"#);
        let response = client.send(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        assert_eq!(response.version(), Version::HTTP_11);
        assert_eq!(response.headers()["x-echo"], "yes");
        let text = response.text().await.unwrap();
        let expected = format!(
            "POST /v1/chat?x=1 HTTP/1.1\ncontent-length: 7\ncontent-type: application/json\n\
             host: {}\nuser-agent: examen/{}\nx-round: {round}\n{{\"a\":1}}",
            server.addr,
            env!("CARGO_PKG_VERSION")
        );
        assert_eq!(text, expected);
    }
    assert_eq!(server.connections(), 1, "keep-alive reuses one connection");
    assert_eq!(client.stats().connections_opened, 1);
    assert_eq!(client.stats().requests, 5);
}

#[examen_rt::test]
async fn concurrent_http1_requests_open_one_connection_each_and_then_reuse_them() {
    let server = hyper_server(Mode::Http1, Arc::new(|_, _| ok_text("ok"))).await;
    let client = plain_client().build().unwrap();
    for _ in 0..3 {
        let results = examen_rt::collect((0..8).map(|_| {
            let client = client.clone();
            let url = server.url("http", "/");
            move || async move { client.send(Request::get(&url)?).await?.text().await }
        }))
        .await
        .unwrap();
        assert!(results.iter().all(|text| text == "ok"));
    }
    // At most 8 requests were ever in flight together, so at most 8 connections exist.
    assert!(server.connections() <= 8, "{}", server.connections());
    assert_eq!(client.stats().requests, 24);
}

#[examen_rt::test]
async fn tls_negotiates_http2_and_shares_one_connection() {
    let (config, cert) = self_signed();
    let server = hyper_server(Mode::Tls(config), echo_handler()).await;
    let client = client_trusting(cert).build().unwrap();
    let url = format!("https://localhost:{}/v1/messages", server.addr.port());
    let first = client
        .send(Request::post(&url).unwrap().json("{}"))
        .await
        .unwrap();
    assert_eq!(first.version(), Version::HTTP_2);
    let text = first.text().await.unwrap();
    assert!(
        text.starts_with(&format!(
            "POST https://localhost:{}/v1/messages HTTP/2.0\n",
            server.addr.port()
        )),
        "{text}"
    );
    let results = examen_rt::collect((0..10).map(|_| {
        let client = client.clone();
        let url = url.clone();
        move || async move { client.send(Request::get(&url)?).await?.bytes().await }
    }))
    .await
    .unwrap();
    assert_eq!(results.len(), 10);
    assert_eq!(
        server.connections(),
        1,
        "HTTP/2 multiplexes on one connection"
    );
}

#[examen_rt::test]
async fn tls_http1_when_http2_is_disabled() {
    let (config, cert) = self_signed();
    let server = hyper_server(Mode::Tls(config), Arc::new(|_, _| ok_text("hello"))).await;
    let client = client_trusting(cert).http2(false).build().unwrap();
    let url = format!("https://127.0.0.1:{}/", server.addr.port());
    for _ in 0..3 {
        let response = client.send(Request::get(&url).unwrap()).await.unwrap();
        assert_eq!(response.version(), Version::HTTP_11);
        assert_eq!(response.text().await.unwrap(), "hello");
    }
    assert_eq!(server.connections(), 1);
}

#[examen_rt::test]
async fn h2c_prior_knowledge() {
    let server = hyper_server(Mode::H2c, Arc::new(|_, _| ok_text("h2c"))).await;
    let client = plain_client().http2_prior_knowledge(true).build().unwrap();
    let response = client
        .send(Request::get(&server.url("http", "/")).unwrap())
        .await
        .unwrap();
    assert_eq!(response.version(), Version::HTTP_2);
    assert_eq!(response.text().await.unwrap(), "h2c");
}

#[examen_rt::test]
async fn untrusted_certificate_is_a_tls_error_not_worth_retrying() {
    let (config, _cert) = self_signed();
    let server = hyper_server(Mode::Tls(config), Arc::new(|_, _| ok_text("no"))).await;
    let client = plain_client().build().unwrap();
    let url = format!("https://localhost:{}/", server.addr.port());
    let err = client.send(Request::get(&url).unwrap()).await.unwrap_err();
    assert!(err.is_tls(), "{err:?}");
    assert!(!err.is_transient());
    assert!(err.to_string().contains("TLS"), "{err}");
}

#[examen_rt::test]
async fn refused_connection_is_transient() {
    let listener = examen_rt::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let client = plain_client().build().unwrap();
    let err = client
        .send(Request::get(&format!("http://127.0.0.1:{port}/")).unwrap())
        .await
        .unwrap_err();
    assert!(err.is_connect() && err.is_transient(), "{err:?}");
    assert_eq!(
        err.io_error_kind(),
        Some(std::io::ErrorKind::ConnectionRefused)
    );
    assert!(err.to_string().contains("127.0.0.1"), "{err}");
}

#[examen_rt::test]
async fn dropped_connection_is_closed_and_transient() {
    let server = raw_server(|mut stream| async move {
        let _ = read_head(&mut stream).await;
        drop(stream);
    })
    .await;
    let client = plain_client().build().unwrap();
    let err = client
        .send(Request::get(&server.url("http", "/")).unwrap())
        .await
        .unwrap_err();
    assert!(err.is_closed() && err.is_transient(), "{err:?}");
}

#[examen_rt::test]
async fn timeout_covers_a_server_that_never_answers() {
    let server = raw_server(|mut stream| async move {
        let _ = read_head(&mut stream).await;
        // Hold the connection open without answering until the client gives up.
        let mut rest = [0u8; 1];
        let _ = stream.read(&mut rest).await;
    })
    .await;
    let client = plain_client().build().unwrap();
    let request = Request::get(&server.url("http", "/"))
        .unwrap()
        .timeout(Duration::from_millis(50));
    let err = client.send(request).await.unwrap_err();
    assert!(err.is_timeout() && err.is_transient(), "{err:?}");
    assert!(err.to_string().contains("timed out after 50ms"), "{err}");
}

#[examen_rt::test]
async fn timeout_keeps_running_while_the_body_is_read() {
    let server = raw_server(|mut stream| async move {
        let _ = read_head(&mut stream).await;
        write_all(
            &mut stream,
            b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc",
        )
        .await;
        let mut rest = [0u8; 1];
        let _ = stream.read(&mut rest).await;
    })
    .await;
    let client = plain_client()
        .timeout(Duration::from_millis(50))
        .build()
        .unwrap();
    let response = client
        .send(Request::get(&server.url("http", "/")).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let err = response.bytes().await.unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
}

#[examen_rt::test]
async fn truncated_body_is_closed_and_transient() {
    let server = raw_server(|mut stream| async move {
        let _ = read_head(&mut stream).await;
        write_all(
            &mut stream,
            b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc",
        )
        .await;
    })
    .await;
    let client = plain_client().build().unwrap();
    let response = client
        .send(Request::get(&server.url("http", "/")).unwrap())
        .await
        .unwrap();
    let err = response.bytes().await.unwrap_err();
    assert!(err.is_transient(), "{err:?}");
}

#[examen_rt::test]
async fn dropping_the_client_closes_its_idle_connections() {
    let (closed_tx, closed_rx) = examen_rt::channel::<()>(1);
    let served = Arc::new(AtomicUsize::new(0));
    let server = {
        let served = Arc::clone(&served);
        raw_server(move |mut stream| {
            let closed_tx = closed_tx.clone();
            let served = Arc::clone(&served);
            async move {
                while read_head(&mut stream).await.is_some() {
                    served.fetch_add(1, Ordering::SeqCst);
                    write_all(
                        &mut stream,
                        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok",
                    )
                    .await;
                }
                // The client closed the connection: read returned end of stream.
                let _ = closed_tx.send(()).await;
            }
        })
        .await
    };
    let client = plain_client().build().unwrap();
    let response = client
        .send(Request::get(&server.url("http", "/")).unwrap())
        .await
        .unwrap();
    assert_eq!(response.text().await.unwrap(), "ok");
    // The connection now sits idle in the pool with its task alive.
    drop(client);
    assert_eq!(closed_rx.recv().await, Some(()));
    assert_eq!(served.load(Ordering::SeqCst), 1);
}

#[examen_rt::test]
async fn connect_timeout_applies_to_the_tls_handshake() {
    // Accepts TCP but never speaks TLS.
    let server = raw_server(|mut stream| async move {
        let mut rest = [0u8; 1024];
        while stream.read(&mut rest).await.is_ok_and(|n| n > 0) {}
    })
    .await;
    let client = plain_client()
        .connect_timeout(Duration::from_millis(50))
        .build()
        .unwrap();
    let url = format!("https://localhost:{}/", server.addr.port());
    let err = client.send(Request::get(&url).unwrap()).await.unwrap_err();
    assert!(err.is_timeout() && err.is_connect(), "{err:?}");
}

#[test]
fn bad_urls_and_secret_headers() {
    for url in ["ftp://x/", "/relative", "http://", "https://user:pw@host/"] {
        let err = Request::get(url).unwrap_err();
        assert!(err.is_invalid_request(), "{url}: {err:?}");
        assert!(!err.to_string().contains("pw@"), "{err}");
    }
    let request = Request::get("https://api.example.com/")
        .unwrap()
        .bearer_auth("sk-very-secret")
        .unwrap();
    let debug = format!("{request:?}");
    assert!(!debug.contains("sk-very-secret"), "{debug}");
    assert!(request.headers()[header::AUTHORIZATION].is_sensitive());
}

#[test]
fn client_futures_are_send() {
    fn assert_send<T: Send>(_: &T) {}
    fn assert_send_sync<T: Send + Sync + Clone>() {}
    assert_send_sync::<examen_http::Client>();
    let client = plain_client().build().unwrap();
    let future = client.send(Request::get("http://127.0.0.1:1/").unwrap());
    assert_send(&future);
    let body_is_send = |body: examen_http::Body| {
        let future = body.collect();
        assert_send(&future);
    };
    let _ = body_is_send;
}
