//! Server-sent events read from a live streamed response.

use examen_http::sse::SseEvent;
use examen_http::Request;
use futures_util::StreamExt;

use crate::support::{plain_client, raw_server, read_head, write_all};

#[examen_rt::test]
async fn chunked_event_stream_is_parsed_across_chunk_boundaries() {
    let server = raw_server(|mut stream| async move {
        let _ = read_head(&mut stream).await;
        write_all(
            &mut stream,
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n",
        )
        .await;
        // Chunks split inside a field name, between CR and LF, and inside a UTF-8 sequence.
        for piece in [
            &b"event: delta\r"[..],
            b"\ndat",
            b"a: {\"t\":\"caf\xC3",
            b"\xA9\"}\r\n\r\ndata: [DONE]\n\n",
        ] {
            let chunk = [format!("{:x}\r\n", piece.len()).as_bytes(), piece, b"\r\n"].concat();
            write_all(&mut stream, &chunk).await;
        }
        write_all(&mut stream, b"0\r\n\r\n").await;
    })
    .await;
    let client = plain_client().build().unwrap();
    let response = client
        .send(Request::get(&server.url("http", "/stream")).unwrap())
        .await
        .unwrap();
    let events: Vec<SseEvent> = response.sse().map(|event| event.unwrap()).collect().await;
    let names: Vec<_> = events.iter().map(|e| e.event.as_str()).collect();
    let data: Vec<_> = events.iter().map(|e| e.data.as_str()).collect();
    assert_eq!(names, ["delta", "message"]);
    assert_eq!(data, ["{\"t\":\"caf\u{e9}\"}", "[DONE]"]);
}
