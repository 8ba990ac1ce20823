//! The providers behind a [`Model`](crate::Model): the mock, and the HTTP APIs with their wire
//! formats.

pub(crate) mod anthropic;
pub(crate) mod http;
pub(crate) mod mock;
pub(crate) mod openai;
