//! Server-sent events (the `text/event-stream` format that streamed model responses use).
//!
//! [`SseParser`] is the incremental parser: feed it byte chunks split anywhere (inside a line,
//! between `\r` and `\n`, inside a UTF-8 sequence) and it yields whole events, following the
//! WHATWG "event stream interpretation" rules. [`SseStream`] runs it over any stream of byte
//! chunks, such as a response [`Body`](crate::Body).

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_core::Stream;

/// One dispatched server-sent event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field, or `"message"` when the event named none.
    pub event: String,
    /// The `data:` lines joined with `\n`.
    pub data: String,
    /// The last event id seen on the stream so far (ids persist across events, per the spec).
    pub id: Option<String>,
    /// A `retry:` reconnection time sent with this event.
    pub retry: Option<Duration>,
}

/// Incremental `text/event-stream` parser.
#[derive(Debug, Default)]
pub struct SseParser {
    line: Vec<u8>,
    // A chunk ended in `\r`: a `\n` starting the next chunk belongs to the same line break.
    after_cr: bool,
    started: bool,
    data: String,
    has_data: bool,
    event: String,
    last_id: Option<String>,
    retry: Option<Duration>,
}

impl SseParser {
    /// A parser at the start of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses `chunk` and appends every event it completes to `out`.
    pub fn feed(&mut self, mut chunk: &[u8], out: &mut VecDeque<SseEvent>) {
        if !self.started && !chunk.is_empty() {
            // A byte-order mark is only allowed (and only stripped) at the very start, and it can
            // itself arrive split across chunks.
            const BOM: &[u8] = b"\xEF\xBB\xBF";
            let have = self.line.len();
            let take = (BOM.len() - have).min(chunk.len());
            if BOM[have..have + take] == chunk[..take] {
                self.line.extend_from_slice(&chunk[..take]);
                chunk = &chunk[take..];
                if self.line.len() < BOM.len() {
                    return;
                }
                self.line.clear();
            }
            self.started = true;
        }
        while !chunk.is_empty() {
            if self.after_cr {
                self.after_cr = false;
                if chunk[0] == b'\n' {
                    chunk = &chunk[1..];
                    continue;
                }
            }
            match chunk.iter().position(|&b| b == b'\n' || b == b'\r') {
                Some(pos) => {
                    self.after_cr = chunk[pos] == b'\r';
                    if self.line.is_empty() {
                        self.process_line(&chunk[..pos], out);
                    } else {
                        self.line.extend_from_slice(&chunk[..pos]);
                        let line = std::mem::take(&mut self.line);
                        self.process_line(&line, out);
                        self.line = line;
                        self.line.clear();
                    }
                    chunk = &chunk[pos + 1..];
                }
                None => {
                    self.line.extend_from_slice(chunk);
                    chunk = &[];
                }
            }
        }
    }

    fn process_line(&mut self, line: &[u8], out: &mut VecDeque<SseEvent>) {
        if line.is_empty() {
            self.dispatch(out);
            return;
        }
        if line[0] == b':' {
            return;
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &b""[..]),
        };
        match field {
            b"data" => {
                self.data.push_str(&String::from_utf8_lossy(value));
                self.data.push('\n');
                self.has_data = true;
            }
            b"event" => self.event = String::from_utf8_lossy(value).into_owned(),
            b"id" if !value.contains(&0) => {
                self.last_id = Some(String::from_utf8_lossy(value).into_owned());
            }
            b"retry" if !value.is_empty() && value.iter().all(u8::is_ascii_digit) => {
                if let Ok(ms) = std::str::from_utf8(value).unwrap_or("").parse::<u64>() {
                    self.retry = Some(Duration::from_millis(ms));
                }
            }
            _ => {}
        }
    }

    fn dispatch(&mut self, out: &mut VecDeque<SseEvent>) {
        let event = std::mem::take(&mut self.event);
        let retry = self.retry.take();
        if !self.has_data {
            self.data.clear();
            return;
        }
        self.has_data = false;
        let mut data = std::mem::take(&mut self.data);
        data.pop(); // the `\n` added after the last data line
        out.push_back(SseEvent {
            event: if event.is_empty() {
                "message".to_owned()
            } else {
                event
            },
            data,
            id: self.last_id.clone(),
            retry,
        });
    }
}

pin_project_lite::pin_project! {
    /// Parses a stream of byte chunks into [`SseEvent`]s.
    ///
    /// An event that the stream ends in the middle of (no blank line after it) is discarded, as the
    /// specification requires. Errors from the underlying stream are passed through.
    #[derive(Debug)]
    pub struct SseStream<S> {
        #[pin]
        inner: S,
        parser: SseParser,
        ready: VecDeque<SseEvent>,
        done: bool,
    }
}

impl<S> SseStream<S> {
    /// Parses `inner`.
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            parser: SseParser::new(),
            ready: VecDeque::new(),
            done: false,
        }
    }
}

impl<S, E> Stream for SseStream<S>
where
    S: Stream<Item = Result<Bytes, E>>,
{
    type Item = Result<SseEvent, E>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut this = self.project();
        loop {
            if let Some(event) = this.ready.pop_front() {
                return Poll::Ready(Some(Ok(event)));
            }
            if *this.done {
                return Poll::Ready(None);
            }
            match this.inner.as_mut().poll_next(cx) {
                Poll::Ready(Some(Ok(chunk))) => this.parser.feed(&chunk, this.ready),
                Poll::Ready(Some(Err(err))) => return Poll::Ready(Some(Err(err))),
                Poll::Ready(None) => *this.done = true,
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_chunks(chunks: &[&[u8]]) -> Vec<SseEvent> {
        let mut parser = SseParser::new();
        let mut out = VecDeque::new();
        for chunk in chunks {
            parser.feed(chunk, &mut out);
        }
        out.into_iter().collect()
    }

    /// Feeds `input` split at every possible pair of points and checks each gives `expected`.
    fn check_all_splits(input: &[u8], expected: &[SseEvent]) {
        for first in 0..=input.len() {
            for second in first..=input.len() {
                let got = parse_chunks(&[&input[..first], &input[first..second], &input[second..]]);
                assert_eq!(got, expected, "split at {first} and {second}");
            }
        }
    }

    fn message(data: &str) -> SseEvent {
        SseEvent {
            event: "message".into(),
            data: data.into(),
            id: None,
            retry: None,
        }
    }

    #[test]
    fn openai_style_stream_split_anywhere() {
        let input = b"data: {\"a\":1}\n\ndata: {\"b\":\"\xC3\xA9\"}\n\ndata: [DONE]\n\n";
        check_all_splits(
            input,
            &[
                message("{\"a\":1}"),
                message("{\"b\":\"\u{e9}\"}"),
                message("[DONE]"),
            ],
        );
    }

    #[test]
    fn anthropic_style_named_events_with_crlf() {
        let input = b"event: message_start\r\ndata: {\"x\":1}\r\n\r\n: keep-alive\r\n\r\nevent: ping\r\ndata: {}\r\n\r\n";
        let start = SseEvent {
            event: "message_start".into(),
            ..message("{\"x\":1}")
        };
        let ping = SseEvent {
            event: "ping".into(),
            ..message("{}")
        };
        check_all_splits(input, &[start, ping]);
    }

    #[test]
    fn lone_cr_line_endings_and_multiline_data() {
        check_all_splits(
            b"data:one\rdata: two\r\rdata\r\r",
            &[message("one\ntwo"), message("")],
        );
    }

    #[test]
    fn bom_stripped_only_at_start() {
        check_all_splits(b"\xEF\xBB\xBFdata: x\n\n", &[message("x")]);
        // A BOM later in the stream is part of a field name, which is then unknown and ignored.
        assert_eq!(
            parse_chunks(&[b"data: x\n\n\xEF\xBB\xBFdata: y\n\n"]),
            [message("x")]
        );
    }

    #[test]
    fn ids_persist_and_retry_is_parsed() {
        let events = parse_chunks(&[
            b"id: 7\nretry: 1500\ndata: a\n\ndata: b\n\nretry: x1\nid\ndata: c\n\n",
        ]);
        assert_eq!(events[0].id.as_deref(), Some("7"));
        assert_eq!(events[0].retry, Some(Duration::from_millis(1500)));
        assert_eq!(events[1].id.as_deref(), Some("7"));
        assert_eq!(events[1].retry, None);
        // An empty `id` resets the id; a malformed `retry` is ignored.
        assert_eq!(events[2].id.as_deref(), Some(""));
        assert_eq!(events[2].retry, None);
    }

    #[test]
    fn events_without_data_are_not_dispatched_and_unterminated_tail_is_dropped() {
        assert_eq!(
            parse_chunks(&[b"event: lonely\n\ndata: kept\n\ndata: cut off"]),
            [message("kept")]
        );
    }

    #[test]
    fn stream_adapter_passes_events_and_errors() {
        let chunks: Vec<Result<Bytes, &str>> = vec![
            Ok(Bytes::from_static(b"data: a\n")),
            Ok(Bytes::from_static(b"\ndata: b\n\n")),
            Err("boom"),
        ];
        let stream = SseStream::new(futures_util::stream::iter(chunks));
        let got: Vec<_> = futures_executor_block_on(stream);
        assert_eq!(got, vec![Ok(message("a")), Ok(message("b")), Err("boom")]);
    }

    fn futures_executor_block_on<S: Stream + Unpin>(mut stream: S) -> Vec<S::Item> {
        // The stream above never returns Pending, so a no-op waker suffices.
        let waker = futures_util::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        let mut items = Vec::new();
        while let Poll::Ready(Some(item)) = Pin::new(&mut stream).poll_next(&mut cx) {
            items.push(item);
        }
        items
    }
}
