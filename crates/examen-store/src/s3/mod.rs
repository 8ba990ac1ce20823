//! S3 over examen-http.

mod sign;
pub use sign::{Credentials, SecretKey};
