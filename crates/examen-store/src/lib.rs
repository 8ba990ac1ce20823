//! Where logs live: local directories and `s3://bucket/prefix`, behind one small interface.
//!
//! Placeholder while the crate is built up.

#![warn(missing_docs, missing_debug_implementations)]
#![deny(clippy::print_stdout, clippy::print_stderr)]

pub mod s3;
