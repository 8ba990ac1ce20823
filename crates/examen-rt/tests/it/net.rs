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

/// A unix socket: bytes both ways, and closing the writing half lets the peer read to the end
/// while the reply still comes back (what a hijacked Docker exec needs for standard input).
#[examen_rt::test]
async fn unix_stream_echoes_after_a_half_close() {
    let dir = std::env::temp_dir().join(format!("examen-rt-unix-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{:?}.sock", examen_rt::current_backend()));
    let _ = std::fs::remove_file(&path);
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    // The peer is a plain thread: it reads to end of file, which only the half-close gives it.
    let server = std::thread::spawn(move || {
        use std::io::{Read, Write};
        let (mut stream, _) = listener.accept().unwrap();
        let mut buf = Vec::new();
        stream.read_to_end(&mut buf).unwrap();
        buf.reverse();
        stream.write_all(&buf).unwrap();
    });
    let mut client = examen_rt::net::UnixStream::connect(&path).await.unwrap();
    client.write_all(b"hello").await.unwrap();
    client.close().await.unwrap();
    let mut reply = Vec::new();
    client.read_to_end(&mut reply).await.unwrap();
    assert_eq!(reply, b"olleh");
    server.join().unwrap();
    let _ = std::fs::remove_file(&path);
}

#[examen_rt::test]
async fn a_unix_socket_nobody_listens_on_is_an_error() {
    let err = examen_rt::net::UnixStream::connect("/nonexistent/examen.sock")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
}
