//! Integration tests for examen-http against real servers on 127.0.0.1, each test on tokio and on
//! smol.

mod client;
mod proxy;
mod sse;
mod support;
