//! The S3 client a process makes from its environment, as AWS tools do.

use std::sync::Arc;

use super::client::{S3Client, S3Config, StaticCredentials};
use super::error::S3Error;
use super::sign::{Credentials, SecretKey};

/// An S3 client configured from the environment: region, endpoint and credentials.
pub fn client_from_env() -> Result<S3Client, S3Error> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let config = S3Config {
        region: var("AWS_REGION")
            .or_else(|| var("AWS_DEFAULT_REGION"))
            .unwrap_or_else(|| "us-east-1".into()),
        endpoint: var("AWS_ENDPOINT_URL_S3").or_else(|| var("AWS_ENDPOINT_URL")),
        ..S3Config::default()
    };
    let credentials = match (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY")) {
        (Some(id), Some(secret)) => Some(Credentials {
            access_key_id: id,
            secret_access_key: SecretKey::new(secret),
            session_token: var("AWS_SESSION_TOKEN").map(SecretKey::new),
            expires: None,
            source: "environment".into(),
        }),
        _ => None,
    };
    S3Client::new(config, Arc::new(StaticCredentials(credentials)))
}
