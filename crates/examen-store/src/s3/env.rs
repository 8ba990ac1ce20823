//! The S3 client a process makes from its environment, as AWS tools do.

use std::sync::Arc;

use super::client::{S3Client, S3Config};
use super::credentials::{AwsEnv, CredentialChain};
use super::error::{S3Error, S3ErrorKind};

/// An S3 client configured from the environment: region and endpoint (`AWS_REGION`,
/// `AWS_ENDPOINT_URL_S3`, the profile's), credentials from the [`CredentialChain`].
pub fn client_from_env() -> Result<S3Client, S3Error> {
    let http = examen_http::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(5))
        .build()
        .map_err(|e| S3Error::new(S3ErrorKind::Other, "s3", e.to_string()))?;
    let chain = CredentialChain::new(AwsEnv::from_process(), http);
    let config = S3Config {
        region: chain.region().unwrap_or_else(|| "us-east-1".into()),
        endpoint: chain.endpoint_url("s3"),
        ..S3Config::default()
    };
    S3Client::new(config, Arc::new(chain))
}
