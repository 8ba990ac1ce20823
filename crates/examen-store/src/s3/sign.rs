//! SigV4 signing of examen-http requests with `aws-sigv4` (runtime-free, no SDK client).

use std::fmt;
use std::time::SystemTime;

use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use examen_http::{HeaderName, HeaderValue, Request};

/// A secret access key: printed as `***` by `Debug`, read only to sign.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKey(String);

impl SecretKey {
    /// Wraps a secret access key.
    pub fn new(key: impl Into<String>) -> Self {
        Self(key.into())
    }

    /// The key itself, for signing.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// AWS credentials: a key pair, an optional session token and when they expire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    /// `AWS_ACCESS_KEY_ID`.
    pub access_key_id: String,
    /// `AWS_SECRET_ACCESS_KEY`.
    pub secret_access_key: SecretKey,
    /// `AWS_SESSION_TOKEN`, for temporary credentials.
    pub session_token: Option<SecretKey>,
    /// When temporary credentials stop working.
    pub expires: Option<SystemTime>,
    /// Where they came from (`environment`, `profile default`, ...), for messages.
    pub source: String,
}

/// The `x-amz-content-sha256` value for a request body.
pub(crate) fn payload_sha256(body: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(body))
}

/// Signs `request` in place for `service` in `region` (SigV4, headers), with the body's
/// SHA-256 in `x-amz-content-sha256`. The signature and token are set as sensitive headers.
pub(crate) fn sign_request(
    request: &mut Request,
    credentials: &Credentials,
    region: &str,
    service: &str,
    now: SystemTime,
) -> Result<(), String> {
    let hash = payload_sha256(request.body_bytes());
    request.headers_mut().insert(
        HeaderName::from_static("x-amz-content-sha256"),
        HeaderValue::from_str(&hash).map_err(|e| e.to_string())?,
    );
    let identity = aws_credential_types::Credentials::new(
        credentials.access_key_id.clone(),
        credentials.secret_access_key.expose().to_owned(),
        credentials
            .session_token
            .as_ref()
            .map(|t| t.expose().to_owned()),
        None,
        "examen",
    )
    .into();
    let mut settings = SigningSettings::default();
    // S3 signs the path as sent: no double encoding, no normalization.
    settings.percent_encoding_mode = aws_sigv4::http_request::PercentEncodingMode::Single;
    settings.uri_path_normalization_mode =
        aws_sigv4::http_request::UriPathNormalizationMode::Disabled;
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(now)
        .settings(settings)
        .build()
        .map_err(|e| e.to_string())?
        .into();
    let uri = request.uri().to_string();
    let headers: Vec<(String, String)> = request
        .headers()
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect();
    let signable = SignableRequest::new(
        request.method().as_str(),
        &uri,
        headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        SignableBody::Precomputed(hash),
    )
    .map_err(|e| e.to_string())?;
    let (instructions, _signature) = sign(signable, &params)
        .map_err(|e| e.to_string())?
        .into_parts();
    let (new_headers, _query) = instructions.into_parts();
    for header in new_headers {
        let name = HeaderName::from_bytes(header.name().as_bytes()).map_err(|e| e.to_string())?;
        let mut value = HeaderValue::from_str(header.value()).map_err(|e| e.to_string())?;
        // The signature and the session token: kept out of `Debug` and HTTP/2 compression.
        value.set_sensitive(header.sensitive() || name.as_str() == "authorization");
        request.headers_mut().insert(name, value);
    }
    Ok(())
}
