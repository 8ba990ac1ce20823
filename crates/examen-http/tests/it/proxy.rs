//! Proxies: a `CONNECT` tunnel for https (with Basic credentials), absolute-form requests for
//! plain http, and `NO_PROXY` bypass.

use std::sync::{Arc, Mutex};

use examen_http::{Proxy, ProxyConfig, Request};
use futures_util::{AsyncReadExt, AsyncWriteExt};

use crate::support::{
    hyper_server, ok_text, raw_server, read_head, self_signed, write_all, Mode, Server,
};

/// A CONNECT proxy that records each request head and tunnels to the requested address.
async fn connect_proxy(seen: Arc<Mutex<Vec<String>>>) -> Server {
    raw_server(move |mut client| {
        let seen = Arc::clone(&seen);
        async move {
            let Some(head) = read_head(&mut client).await else {
                return;
            };
            seen.lock().unwrap().push(head.clone());
            let target = head.split_whitespace().nth(1).unwrap().to_owned();
            let (host, port) = target.rsplit_once(':').unwrap();
            let Ok(upstream) = examen_rt::net::connect_tcp(host, port.parse().unwrap()).await
            else {
                write_all(&mut client, b"HTTP/1.1 502 Bad Gateway\r\n\r\n").await;
                return;
            };
            write_all(&mut client, b"HTTP/1.1 200 Connection established\r\n\r\n").await;
            let (mut client_read, mut client_write) = client.split();
            let (mut upstream_read, mut upstream_write) = upstream.split();
            let up = async {
                let _ = futures_util::io::copy(&mut client_read, &mut upstream_write).await;
                let _ = upstream_write.close().await;
            };
            let down = async {
                let _ = futures_util::io::copy(&mut upstream_read, &mut client_write).await;
                let _ = client_write.close().await;
            };
            futures_util::future::join(up, down).await;
        }
    })
    .await
}

#[examen_rt::test]
async fn https_goes_through_a_connect_tunnel_with_credentials() {
    let (config, cert) = self_signed();
    let origin = hyper_server(Mode::Tls(config), Arc::new(|_, _| ok_text("tunnelled"))).await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let proxy = connect_proxy(Arc::clone(&seen)).await;
    let proxy_config = ProxyConfig::none()
        .with_https(Proxy::parse(&format!("http://bob:p%40ss@{}", proxy.addr)).unwrap());
    let client = examen_http::Client::builder()
        .proxy(proxy_config)
        .webpki_roots(false)
        .add_root_certificate(cert)
        .build()
        .unwrap();
    let url = format!("https://localhost:{}/x", origin.addr.port());
    for _ in 0..2 {
        let response = client.send(Request::get(&url).unwrap()).await.unwrap();
        assert_eq!(response.text().await.unwrap(), "tunnelled");
    }
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "the tunnelled connection is reused");
    let port = origin.addr.port();
    assert!(
        seen[0].starts_with(&format!(
            "CONNECT localhost:{port} HTTP/1.1\r\nHost: localhost:{port}\r\n"
        )),
        "{}",
        seen[0]
    );
    // base64("bob:p@ss")
    assert!(
        seen[0].contains("Proxy-Authorization: Basic Ym9iOnBAc3M=\r\n"),
        "{}",
        seen[0]
    );
}

#[examen_rt::test]
async fn no_proxy_bypasses_the_tunnel() {
    let (config, cert) = self_signed();
    let origin = hyper_server(Mode::Tls(config), Arc::new(|_, _| ok_text("direct"))).await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let proxy = connect_proxy(Arc::clone(&seen)).await;
    let proxy_config = ProxyConfig::from_lookup(|name| match name {
        "HTTPS_PROXY" => Some(format!("http://{}", proxy.addr)),
        "NO_PROXY" => Some("example.com,localhost".to_owned()),
        _ => None,
    })
    .unwrap();
    let client = examen_http::Client::builder()
        .proxy(proxy_config)
        .webpki_roots(false)
        .add_root_certificate(cert)
        .build()
        .unwrap();
    let url = format!("https://localhost:{}/", origin.addr.port());
    let response = client.send(Request::get(&url).unwrap()).await.unwrap();
    assert_eq!(response.text().await.unwrap(), "direct");
    assert!(seen.lock().unwrap().is_empty());
    assert_eq!(proxy.connections(), 0);
}

#[examen_rt::test]
async fn plain_http_is_sent_to_the_proxy_in_absolute_form() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let proxy = {
        let seen = Arc::clone(&seen);
        raw_server(move |mut stream| {
            let seen = Arc::clone(&seen);
            async move {
                while let Some(head) = read_head(&mut stream).await {
                    seen.lock().unwrap().push(head);
                    write_all(
                        &mut stream,
                        b"HTTP/1.1 200 OK\r\ncontent-length: 7\r\n\r\nproxied",
                    )
                    .await;
                }
            }
        })
        .await
    };
    let client = examen_http::Client::builder()
        .proxy(ProxyConfig::none().with_http(Proxy::parse(&format!("{}", proxy.addr)).unwrap()))
        .build()
        .unwrap();
    let response = client
        .send(Request::get("http://model.invalid:8000/v1/models?a=b").unwrap())
        .await
        .unwrap();
    assert_eq!(response.text().await.unwrap(), "proxied");
    let seen = seen.lock().unwrap().clone();
    assert!(
        seen[0].starts_with("GET http://model.invalid:8000/v1/models?a=b HTTP/1.1\r\n"),
        "{}",
        seen[0]
    );
    assert!(
        seen[0].contains("host: model.invalid:8000\r\n"),
        "{}",
        seen[0]
    );
}

#[examen_rt::test]
async fn a_refusing_proxy_is_a_connect_error() {
    let proxy = raw_server(|mut stream| async move {
        let _ = read_head(&mut stream).await;
        write_all(
            &mut stream,
            b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n",
        )
        .await;
        let mut rest = [0u8; 1];
        let _ = stream.read(&mut rest).await;
    })
    .await;
    let client = examen_http::Client::builder()
        .proxy(ProxyConfig::none().with_https(Proxy::parse(&proxy.addr.to_string()).unwrap()))
        .build()
        .unwrap();
    let err = client
        .send(Request::get("https://api.example.com/").unwrap())
        .await
        .unwrap_err();
    assert!(err.is_connect(), "{err:?}");
    assert!(err.to_string().contains("407"), "{err}");
}

#[examen_rt::test]
async fn a_dead_proxy_is_named_as_the_proxy() {
    let listener = examen_rt::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let dead = format!("http://carol:pa55-SECRET@{addr}");
    let config =
        ProxyConfig::from_lookup(|name| (name == "HTTPS_PROXY").then(|| dead.clone())).unwrap();
    let client = examen_http::Client::builder()
        .proxy(config)
        .build()
        .unwrap();
    let err = client
        .send(Request::get("https://api.example.com/").unwrap())
        .await
        .unwrap_err();
    assert!(err.is_connect(), "{err:?}");
    assert_eq!(
        err.io_error_kind(),
        Some(std::io::ErrorKind::ConnectionRefused)
    );
    assert_eq!(err.proxy(), Some(format!("{addr} (HTTPS_PROXY)").as_str()));
    let text = err.to_string();
    assert!(
        text.starts_with(&format!(
            "connection to proxy {addr} (HTTPS_PROXY) failed (api.example.com)"
        )),
        "{text}"
    );
    assert!(
        !text.contains("SECRET") && !format!("{err:?}").contains("SECRET"),
        "{text}"
    );
}

#[test]
fn bad_proxy_variables_are_a_proxy_configuration_error() {
    let err = ProxyConfig::from_lookup(|name| {
        (name == "ALL_PROXY").then(|| "socks5://dan:SECRET@p:1080".to_owned())
    })
    .unwrap_err();
    assert!(err.is_proxy_config(), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("ALL_PROXY"), "{text}");
    assert!(!text.contains("SECRET"), "{text}");
}
