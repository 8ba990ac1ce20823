//! TCP on loopback: the same bytes go through on both backends.

use futures_util::io::{AsyncReadExt, AsyncWriteExt};

#[examen_rt::test]
async fn echo_over_loopback() {
    let listener = examen_rt::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = examen_rt::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut buf = vec![0u8; 5];
        stream.read_exact(&mut buf).await.unwrap();
        buf.reverse();
        stream.write_all(&buf).await.unwrap();
        stream.close().await.unwrap();
    });
    let mut client = examen_rt::net::connect_tcp("localhost", port)
        .await
        .unwrap();
    client.write_all(b"hello").await.unwrap();
    let mut reply = Vec::new();
    client.read_to_end(&mut reply).await.unwrap();
    assert_eq!(reply, b"olleh");
    server.await.unwrap();
}

#[examen_rt::test]
async fn connection_refused_is_an_error() {
    // Bind then drop to find a port that nobody listens on.
    let port = {
        let listener = examen_rt::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap();
        listener.local_addr().unwrap().port()
    };
    let err = examen_rt::net::connect_tcp("127.0.0.1", port)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
}
