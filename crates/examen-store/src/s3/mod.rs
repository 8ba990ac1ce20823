//! S3 over examen-http: SigV4-signed requests ([`S3Client`]) and the log upload that makes
//! each flush cost only its new bytes ([`LogObject`]).

mod client;
mod credentials;
mod env;
mod error;
mod sign;
mod upload;
mod xml;

pub use client::{
    BoxFuture, CompletedPart, Condition, Fetched, ObjectInfo, PendingUpload, ProvideCredentials,
    S3Client, S3Config, StaticCredentials,
};
pub use credentials::{AwsEnv, CredentialChain, CredentialsError};
pub use env::client_from_env;
pub use error::{S3Error, S3ErrorKind};
pub use sign::{Credentials, SecretKey};
pub use upload::{abort_stale_uploads, Frozen, LogObject, UploadStats, MIN_PART};
