//! [`S3Client`]: the S3 calls a log store makes, signed with SigV4 and sent over examen-http,
//! with retries where S3 allows them.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use examen_http::{Bytes, HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode};

use super::error::{S3Error, S3ErrorKind};
use super::sign::{sign_request, Credentials};
use super::xml;

/// A boxed future, for the credential provider seam.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where an [`S3Client`] gets its credentials from (the AWS chain, or fixed ones in tests).
pub trait ProvideCredentials: Send + Sync + fmt::Debug {
    /// Current credentials; `None` sends requests unsigned (anonymous access). Called before
    /// each request, so a provider refreshes expiring credentials here.
    fn credentials(&self) -> BoxFuture<'_, Result<Option<Credentials>, String>>;
}

/// Fixed credentials (or none: anonymous).
#[derive(Debug, Clone)]
pub struct StaticCredentials(pub Option<Credentials>);

impl ProvideCredentials for StaticCredentials {
    fn credentials(&self) -> BoxFuture<'_, Result<Option<Credentials>, String>> {
        let credentials = self.0.clone();
        Box::pin(async move { Ok(credentials) })
    }
}

/// How to reach S3.
#[derive(Debug, Clone)]
pub struct S3Config {
    /// The region requests are signed for (`AWS_REGION`), `us-east-1` by default.
    pub region: String,
    /// A custom endpoint (`AWS_ENDPOINT_URL_S3`/`AWS_ENDPOINT_URL`: MinIO, R2, moto), else AWS's.
    pub endpoint: Option<String>,
    /// Path-style addressing (`{endpoint}/{bucket}/{key}`); default: on for custom endpoints
    /// and for bucket names with dots, off (virtual-hosted) for AWS.
    pub path_style: Option<bool>,
    /// Attempts per request, the first included (5xx, throttling, dropped connections).
    pub max_attempts: u32,
    /// First backoff between attempts (doubling, with jitter, up to 10 s).
    pub initial_backoff: Duration,
}

impl Default for S3Config {
    fn default() -> Self {
        Self {
            region: "us-east-1".into(),
            endpoint: None,
            path_style: None,
            max_attempts: 8,
            initial_backoff: Duration::from_millis(100),
        }
    }
}

/// One object of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    /// The key.
    pub key: String,
    /// Bytes.
    pub size: u64,
    /// `LastModified`.
    pub last_modified: SystemTime,
    /// The ETag, with its quotes.
    pub etag: String,
}

/// A multipart upload left in progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingUpload {
    /// The object's key.
    pub key: String,
    /// The upload's id.
    pub upload_id: String,
    /// When it was started.
    pub initiated: Option<SystemTime>,
}

/// A write's precondition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// Write whatever is there.
    None,
    /// Only if no object has the key (`If-None-Match: *`).
    Absent,
    /// Only if the object still has this ETag (`If-Match`).
    Matches(String),
}

/// One part of a multipart upload, as completed.
#[derive(Debug, Clone)]
pub struct CompletedPart {
    /// 1-based.
    pub number: u32,
    /// The part's ETag.
    pub etag: String,
}

/// A body read back: bytes, the object's total size and ETag.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// The bytes asked for.
    pub bytes: Bytes,
    /// The whole object's size.
    pub total_size: u64,
    /// The object's ETag.
    pub etag: String,
}

/// An S3 client: cheap to clone, shared by every log of a run.
#[derive(Clone)]
pub struct S3Client {
    inner: Arc<Inner>,
}

struct Inner {
    http: examen_http::Client,
    config: S3Config,
    credentials: Arc<dyn ProvideCredentials>,
    uploaded: std::sync::atomic::AtomicU64,
}

impl fmt::Debug for S3Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Client")
            .field("region", &self.inner.config.region)
            .field("endpoint", &self.inner.config.endpoint)
            .field("credentials", &self.inner.credentials)
            .finish()
    }
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

/// Characters kept as they are in a key's path (RFC 3986 unreserved, and `/`).
fn encode(text: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'_' | b'.' | b'~')
            || (keep_slash && b == b'/')
        {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn header_value(text: &str) -> Result<HeaderValue, S3Error> {
    HeaderValue::from_str(text).map_err(|_| {
        S3Error::new(
            S3ErrorKind::Other,
            "s3",
            format!("`{text}` is not a valid header value"),
        )
    })
}

fn parse_iso(text: &str) -> Option<SystemTime> {
    let t =
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
    Some(
        SystemTime::UNIX_EPOCH
            + Duration::from_nanos(u64::try_from(t.unix_timestamp_nanos()).ok()?),
    )
}

/// The ETag S3 gives an object completed from these parts: the MD5 of the parts' MD5s, then
/// `-N`. Lets a retried completion recognise that its first attempt went through.
fn multipart_etag(parts: &[CompletedPart]) -> Option<String> {
    use md5::Digest;
    let mut md5 = md5::Md5::new();
    for part in parts {
        md5.update(hex::decode(part.etag.trim_matches('"')).ok()?);
    }
    Some(format!(
        "\"{}-{}\"",
        hex::encode(md5.finalize()),
        parts.len()
    ))
}

fn md5_etag(body: &[u8]) -> String {
    use md5::Digest;
    format!("\"{}\"", hex::encode(md5::Md5::digest(body)))
}

fn same_etag(a: &str, b: &str) -> bool {
    a.trim_matches('"') == b.trim_matches('"')
}

impl S3Client {
    /// A client for `config`, with credentials from `credentials`.
    pub fn new(
        config: S3Config,
        credentials: Arc<dyn ProvideCredentials>,
    ) -> Result<Self, S3Error> {
        let http = examen_http::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(600))
            // HTTP/1.1: parts upload in parallel over several connections, as S3 expects.
            .http2(false)
            .build()
            .map_err(|e| S3Error::new(S3ErrorKind::Other, "s3", e.to_string()))?;
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                config,
                credentials,
                uploaded: std::sync::atomic::AtomicU64::new(0),
            }),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &S3Config {
        &self.inner.config
    }

    /// Request body bytes this client has sent (including retried attempts).
    pub fn bytes_uploaded(&self) -> u64 {
        self.inner
            .uploaded
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    fn path_style(&self, bucket: &str) -> bool {
        self.inner
            .config
            .path_style
            .unwrap_or(self.inner.config.endpoint.is_some() || bucket.contains('.'))
    }

    fn url(&self, bucket: &str, key: &str, query: &[(&str, &str)]) -> String {
        let config = &self.inner.config;
        let key = encode(key, true);
        let mut url = match (&config.endpoint, self.path_style(bucket)) {
            (Some(endpoint), true) => {
                format!(
                    "{}/{}/{key}",
                    endpoint.trim_end_matches('/'),
                    encode(bucket, false)
                )
            }
            (Some(endpoint), false) => {
                let (scheme, host) = endpoint.split_once("://").unwrap_or(("https", endpoint));
                format!("{scheme}://{bucket}.{}/{key}", host.trim_end_matches('/'))
            }
            (None, true) => format!("https://s3.{}.amazonaws.com/{bucket}/{key}", config.region),
            (None, false) => format!("https://{bucket}.s3.{}.amazonaws.com/{key}", config.region),
        };
        for (i, (name, value)) in query.iter().enumerate() {
            url.push(if i == 0 { '?' } else { '&' });
            url.push_str(&encode(name, false));
            if !value.is_empty() || *name != "uploads" {
                url.push('=');
                url.push_str(&encode(value, false));
            }
        }
        url
    }

    fn target(bucket: &str, key: &str) -> String {
        if key.is_empty() {
            format!("s3://{bucket}")
        } else {
            format!("s3://{bucket}/{key}")
        }
    }

    /// Sends one request (rebuilt for every attempt), retrying 5xx, throttling and dropped
    /// connections with backoff. Returns the answer for any status below 300 (and 304/412
    /// are errors for the caller to read through [`Self::fail`]).
    async fn send(
        &self,
        method: Method,
        bucket: &str,
        key: &str,
        query: &[(&str, &str)],
        headers: &[(HeaderName, HeaderValue)],
        body: Bytes,
    ) -> Result<Answer, S3Error> {
        let target = Self::target(bucket, key);
        let url = self.url(bucket, key, query);
        let config = &self.inner.config;
        let mut backoff = config.initial_backoff;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut request = Request::new(method.clone(), &url)
                .map_err(|e| S3Error::new(S3ErrorKind::Other, &target, e.to_string()))?
                .body(body.clone());
            for (name, value) in headers {
                request.headers_mut().insert(name.clone(), value.clone());
            }
            let credentials = self
                .inner
                .credentials
                .credentials()
                .await
                .map_err(|e| S3Error::new(S3ErrorKind::Credentials, &target, e))?;
            if let Some(credentials) = &credentials {
                sign_request(
                    &mut request,
                    credentials,
                    &config.region,
                    "s3",
                    SystemTime::now(),
                )
                .map_err(|e| {
                    S3Error::new(
                        S3ErrorKind::Credentials,
                        &target,
                        format!("could not sign the request: {e}"),
                    )
                })?;
            }
            self.inner
                .uploaded
                .fetch_add(body.len() as u64, std::sync::atomic::Ordering::Relaxed);
            let outcome = match self.inner.http.send(request).await {
                Ok(response) => {
                    let status = response.status();
                    let headers = response.headers().clone();
                    match response.bytes().await {
                        Ok(body) => Ok(Answer {
                            status,
                            headers,
                            body,
                        }),
                        Err(e) => Err(e),
                    }
                }
                Err(e) => Err(e),
            };
            let retry = match &outcome {
                Ok(answer) => {
                    answer.status.is_server_error()
                        || answer.status == StatusCode::TOO_MANY_REQUESTS
                        // A CompleteMultipartUpload can fail after its 200 head, in the body.
                        || (answer.status == StatusCode::OK
                            && method == Method::POST
                            && answer.body.starts_with(b"<?xml")
                            && contains(&answer.body, b"<Error>"))
                }
                Err(e) => e.is_transient() || e.is_timeout() || e.is_closed() || e.is_connect(),
            };
            if retry && attempt < config.max_attempts {
                let jitter = SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .map_or(0, |d| d.subsec_nanos());
                let wait = backoff.mul_f64(0.5 + f64::from(jitter % 1000) / 2000.0);
                examen_rt::sleep(wait).await;
                backoff = (backoff * 2).min(Duration::from_secs(10));
                continue;
            }
            return match outcome {
                Ok(answer) if answer.status.is_success() && !retry => Ok(answer),
                Ok(answer) => {
                    Err(self.fail(&target, bucket, answer, credentials.as_ref(), attempt))
                }
                Err(e) => Err(S3Error::new(
                    S3ErrorKind::Unavailable,
                    &target,
                    format!(
                        "{e} (after {attempt} attempt{})",
                        if attempt == 1 { "" } else { "s" }
                    ),
                )),
            };
        }
    }

    /// The one-line error for an answer S3 refused.
    fn fail(
        &self,
        target: &str,
        bucket: &str,
        answer: Answer,
        credentials: Option<&Credentials>,
        attempts: u32,
    ) -> S3Error {
        let text = String::from_utf8_lossy(&answer.body);
        let parsed: xml::Error = xml::parse(&text).unwrap_or_default();
        let region_header = answer
            .headers
            .get("x-amz-bucket-region")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let region = &self.inner.config.region;
        let said = if parsed.message.is_empty() {
            String::new()
        } else {
            format!(" (S3 said: {})", parsed.message)
        };
        let status = answer.status;
        let code = parsed.code.as_str();
        if status == StatusCode::MOVED_PERMANENTLY
            || code == "PermanentRedirect"
            || code == "AuthorizationHeaderMalformed"
                && (parsed.region.is_some() || region_header.is_some())
            || code == "IllegalLocationConstraintException"
        {
            let other = parsed.region.or(region_header);
            let message = match &other {
                Some(other) => format!(
                    "bucket `{bucket}` is in region `{other}`, not `{region}`: set AWS_REGION={other}"
                ),
                None => format!("bucket `{bucket}` is not in region `{region}`; set AWS_REGION to its region"),
            };
            return S3Error::new(S3ErrorKind::WrongRegion { region: other }, target, message);
        }
        match (status.as_u16(), code) {
            (404, "NoSuchBucket") => S3Error::new(
                S3ErrorKind::NoSuchBucket,
                target,
                format!("bucket `{bucket}` does not exist{}", self.where_suffix()),
            ),
            (404, "NoSuchUpload") => S3Error::new(S3ErrorKind::NoSuchUpload, target, format!("the multipart upload is gone{said}")),
            (404, _) => S3Error::new(S3ErrorKind::NotFound, target, "no such object"),
            (412, _) | (409, "ConditionalRequestConflict") => S3Error::new(
                S3ErrorKind::Conflict,
                target,
                "another writer changed this object since it was last read or written (a conditional write lost)",
            ),
            (401 | 403, _) => {
                let who = match credentials {
                    Some(c) => format!(" with credentials from {}", c.source),
                    None => ": no AWS credentials were found, so the request was sent unsigned"
                        .to_owned(),
                };
                let code = if code.is_empty() { "AccessDenied" } else { code };
                S3Error::new(
                    S3ErrorKind::AccessDenied,
                    target,
                    format!("access denied ({code}){who}{said}"),
                )
            }
            _ => S3Error::new(
                if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
                    S3ErrorKind::Unavailable
                } else {
                    S3ErrorKind::Other
                },
                target,
                format!(
                    "S3 answered {status}{}{said}{}",
                    if code.is_empty() { String::new() } else { format!(" {code}") },
                    if attempts > 1 { format!(" after {attempts} attempts") } else { String::new() }
                ),
            ),
        }
    }

    fn where_suffix(&self) -> String {
        match &self.inner.config.endpoint {
            Some(endpoint) => format!(" at {endpoint}"),
            None => format!(" (region {})", self.inner.config.region),
        }
    }

    /// Every object under `prefix` (all of them, or only this level's when `delimiter` is
    /// set), page by page.
    pub async fn list(
        &self,
        bucket: &str,
        prefix: &str,
        recursive: bool,
    ) -> Result<Vec<ObjectInfo>, S3Error> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut query = vec![("list-type", "2"), ("prefix", prefix)];
            if !recursive {
                query.push(("delimiter", "/"));
            }
            if let Some(token) = &token {
                query.push(("continuation-token", token.as_str()));
            }
            let answer = self
                .send(Method::GET, bucket, "", &query, &[], Bytes::new())
                .await?;
            let page: xml::ListBucketResult = xml::parse(&String::from_utf8_lossy(&answer.body))
                .map_err(|e| S3Error::new(S3ErrorKind::Other, Self::target(bucket, prefix), e))?;
            for object in page.contents {
                out.push(ObjectInfo {
                    last_modified: parse_iso(&object.last_modified)
                        .unwrap_or(SystemTime::UNIX_EPOCH),
                    key: object.key,
                    size: object.size,
                    etag: object.etag,
                });
            }
            match (page.is_truncated, page.next_continuation_token) {
                (true, Some(next)) => token = Some(next),
                _ => return Ok(out),
            }
        }
    }

    /// Checks that `bucket` exists and can be listed under `prefix` (one request).
    pub async fn probe(&self, bucket: &str, prefix: &str) -> Result<(), S3Error> {
        let query = [("list-type", "2"), ("max-keys", "1"), ("prefix", prefix)];
        self.send(Method::GET, bucket, "", &query, &[], Bytes::new())
            .await
            .map(|_| ())
    }

    /// The object's size, mtime and ETag, or `None` when there is none.
    pub async fn head(&self, bucket: &str, key: &str) -> Result<Option<ObjectInfo>, S3Error> {
        match self
            .send(Method::HEAD, bucket, key, &[], &[], Bytes::new())
            .await
        {
            Ok(answer) => {
                let header = |name: &str| {
                    answer
                        .headers
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                };
                Ok(Some(ObjectInfo {
                    key: key.to_owned(),
                    size: header("content-length").parse().unwrap_or(0),
                    last_modified: httpdate::parse_http_date(header("last-modified"))
                        .unwrap_or(SystemTime::UNIX_EPOCH),
                    etag: header("etag").to_owned(),
                }))
            }
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Reads the object, or `range` (`bytes=...` syntax: `a-b` or `-n` for the last n bytes).
    pub async fn get(
        &self,
        bucket: &str,
        key: &str,
        range: Option<&str>,
    ) -> Result<Fetched, S3Error> {
        let mut headers = Vec::new();
        if let Some(range) = range {
            headers.push((
                examen_http::header::RANGE,
                header_value(&format!("bytes={range}"))?,
            ));
        }
        let answer = match self
            .send(Method::GET, bucket, key, &[], &headers, Bytes::new())
            .await
        {
            // A suffix longer than the object: S3 answers 416 for an empty object only.
            Err(e) if matches!(e.kind(), S3ErrorKind::Other) && e.to_string().contains("416") => {
                return Ok(Fetched {
                    bytes: Bytes::new(),
                    total_size: 0,
                    etag: String::new(),
                })
            }
            other => other?,
        };
        let header = |name: &str| {
            answer
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned()
        };
        let total_size = match header("content-range").rsplit_once('/') {
            Some((_, total)) => total.parse().unwrap_or(answer.body.len() as u64),
            None => answer.body.len() as u64,
        };
        Ok(Fetched {
            total_size,
            etag: header("etag"),
            bytes: answer.body,
        })
    }

    fn condition_headers(condition: &Condition) -> Result<Vec<(HeaderName, HeaderValue)>, S3Error> {
        Ok(match condition {
            Condition::None => Vec::new(),
            Condition::Absent => vec![(
                examen_http::header::IF_NONE_MATCH,
                HeaderValue::from_static("*"),
            )],
            Condition::Matches(etag) => vec![(examen_http::header::IF_MATCH, header_value(etag)?)],
        })
    }

    /// Writes the whole object (`PutObject`, up to 5 GiB) if `condition` holds; returns its ETag.
    pub async fn put(
        &self,
        bucket: &str,
        key: &str,
        body: Bytes,
        condition: &Condition,
    ) -> Result<String, S3Error> {
        let headers = Self::condition_headers(condition)?;
        let expected = md5_etag(&body);
        match self
            .send(Method::PUT, bucket, key, &[], &headers, body)
            .await
        {
            Ok(answer) => Ok(answer
                .headers
                .get("etag")
                .and_then(|v| v.to_str().ok())
                .map_or(expected, str::to_owned)),
            // A retried conditional write whose first attempt went through loses to itself.
            Err(e) if e.is_conflict() => match self.head(bucket, key).await? {
                Some(info) if same_etag(&info.etag, &expected) => Ok(info.etag),
                _ => Err(e),
            },
            Err(e) => Err(e),
        }
    }

    /// Deletes the object (no error when it is already gone).
    pub async fn delete(&self, bucket: &str, key: &str) -> Result<(), S3Error> {
        match self
            .send(Method::DELETE, bucket, key, &[], &[], Bytes::new())
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Starts a multipart upload; returns its id.
    pub async fn create_multipart(&self, bucket: &str, key: &str) -> Result<String, S3Error> {
        let answer = self
            .send(
                Method::POST,
                bucket,
                key,
                &[("uploads", "")],
                &[],
                Bytes::new(),
            )
            .await?;
        let result: xml::InitiateMultipartUploadResult =
            xml::parse(&String::from_utf8_lossy(&answer.body))
                .map_err(|e| S3Error::new(S3ErrorKind::Other, Self::target(bucket, key), e))?;
        Ok(result.upload_id)
    }

    /// Uploads part `number` (1-based; every part but the last at least 5 MiB).
    pub async fn upload_part(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        number: u32,
        body: Bytes,
    ) -> Result<CompletedPart, S3Error> {
        let n = number.to_string();
        let answer = self
            .send(
                Method::PUT,
                bucket,
                key,
                &[("partNumber", &n), ("uploadId", upload_id)],
                &[],
                body,
            )
            .await?;
        let etag = answer
            .headers
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        Ok(CompletedPart { number, etag })
    }

    /// Makes part `number` from bytes `first..=last` of `source_key` in the same bucket,
    /// server-side (`UploadPartCopy`), only if the source still has ETag `source_etag`.
    #[allow(clippy::too_many_arguments)]
    pub async fn upload_part_copy(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        number: u32,
        source_key: &str,
        first: u64,
        last: u64,
        source_etag: &str,
    ) -> Result<CompletedPart, S3Error> {
        let n = number.to_string();
        let headers = vec![
            (
                HeaderName::from_static("x-amz-copy-source"),
                header_value(&format!(
                    "/{}/{}",
                    encode(bucket, false),
                    encode(source_key, true)
                ))?,
            ),
            (
                HeaderName::from_static("x-amz-copy-source-range"),
                header_value(&format!("bytes={first}-{last}"))?,
            ),
            (
                HeaderName::from_static("x-amz-copy-source-if-match"),
                header_value(source_etag)?,
            ),
        ];
        let answer = self
            .send(
                Method::PUT,
                bucket,
                key,
                &[("partNumber", &n), ("uploadId", upload_id)],
                &headers,
                Bytes::new(),
            )
            .await?;
        let result: xml::WithETag = xml::parse(&String::from_utf8_lossy(&answer.body))
            .map_err(|e| S3Error::new(S3ErrorKind::Other, Self::target(bucket, key), e))?;
        Ok(CompletedPart {
            number,
            etag: result.etag,
        })
    }

    /// Completes the upload from `parts` if `condition` holds; returns the new ETag.
    pub async fn complete_multipart(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        parts: &[CompletedPart],
        condition: &Condition,
    ) -> Result<String, S3Error> {
        let mut body = String::from("<CompleteMultipartUpload>");
        for part in parts {
            body.push_str(&format!(
                "<Part><PartNumber>{}</PartNumber><ETag>{}</ETag></Part>",
                part.number,
                xml::escape(&part.etag)
            ));
        }
        body.push_str("</CompleteMultipartUpload>");
        let headers = Self::condition_headers(condition)?;
        let expected = multipart_etag(parts);
        match self
            .send(
                Method::POST,
                bucket,
                key,
                &[("uploadId", upload_id)],
                &headers,
                Bytes::from(body),
            )
            .await
        {
            Ok(answer) => {
                let result: xml::WithETag = xml::parse(&String::from_utf8_lossy(&answer.body))
                    .map_err(|e| S3Error::new(S3ErrorKind::Other, Self::target(bucket, key), e))?;
                Ok(result.etag)
            }
            // A retry of a completion that went through: the upload is gone, or the object's
            // ETag moved on (to ours).
            Err(e) if e.is_conflict() || *e.kind() == S3ErrorKind::NoSuchUpload => {
                match (self.head(bucket, key).await?, expected) {
                    (Some(info), Some(expected)) if same_etag(&info.etag, &expected) => {
                        Ok(info.etag)
                    }
                    _ => Err(e),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// Abandons the upload and frees its parts.
    pub async fn abort_multipart(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
    ) -> Result<(), S3Error> {
        match self
            .send(
                Method::DELETE,
                bucket,
                key,
                &[("uploadId", upload_id)],
                &[],
                Bytes::new(),
            )
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if *e.kind() == S3ErrorKind::NoSuchUpload => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Multipart uploads in progress for keys starting with `prefix`.
    pub async fn list_multipart_uploads(
        &self,
        bucket: &str,
        prefix: &str,
    ) -> Result<Vec<PendingUpload>, S3Error> {
        let mut out = Vec::new();
        let mut markers: Option<(String, String)> = None;
        loop {
            let mut query = vec![("uploads", ""), ("prefix", prefix)];
            if let Some((key, id)) = &markers {
                query.push(("key-marker", key.as_str()));
                query.push(("upload-id-marker", id.as_str()));
            }
            let answer = self
                .send(Method::GET, bucket, "", &query, &[], Bytes::new())
                .await?;
            let page: xml::ListMultipartUploadsResult =
                xml::parse(&String::from_utf8_lossy(&answer.body)).map_err(|e| {
                    S3Error::new(S3ErrorKind::Other, Self::target(bucket, prefix), e)
                })?;
            for upload in page.upload {
                out.push(PendingUpload {
                    initiated: parse_iso(&upload.initiated),
                    key: upload.key,
                    upload_id: upload.upload_id,
                });
            }
            match (
                page.is_truncated,
                page.next_key_marker,
                page.next_upload_id_marker,
            ) {
                (true, Some(key), Some(id)) => markers = Some((key, id)),
                _ => return Ok(out),
            }
        }
    }

    /// Creates a bucket (for tests and first set-up).
    pub async fn create_bucket(&self, bucket: &str) -> Result<(), S3Error> {
        let body = if self.inner.config.region == "us-east-1" {
            Bytes::new()
        } else {
            Bytes::from(format!(
                "<CreateBucketConfiguration><LocationConstraint>{}</LocationConstraint></CreateBucketConfiguration>",
                self.inner.config.region
            ))
        };
        match self.send(Method::PUT, bucket, "", &[], &[], body).await {
            Ok(_) => Ok(()),
            Err(e) if e.to_string().contains("BucketAlreadyOwnedByYou") => Ok(()),
            Err(e) => Err(e),
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(status: u16, headers: &[(&'static str, &str)], body: &str) -> S3Error {
        let client = S3Client::new(S3Config::default(), Arc::new(StaticCredentials(None))).unwrap();
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        let answer = Answer {
            status: StatusCode::from_u16(status).unwrap(),
            headers: map,
            body: Bytes::from(body.to_owned()),
        };
        client.fail("s3://logs/a.eval", "logs", answer, None, 1)
    }

    #[test]
    fn refusals_are_one_line_errors_naming_bucket_and_region() {
        let moved = refused(
            301,
            &[("x-amz-bucket-region", "eu-west-1")],
            "<Error><Code>PermanentRedirect</Code><Message>m</Message></Error>",
        );
        assert_eq!(
            moved.to_string(),
            "s3://logs/a.eval: bucket `logs` is in region `eu-west-1`, not `us-east-1`: set AWS_REGION=eu-west-1"
        );
        let missing = refused(
            404,
            &[],
            "<Error><Code>NoSuchBucket</Code><Message>m</Message></Error>",
        );
        assert_eq!(*missing.kind(), S3ErrorKind::NoSuchBucket);
        assert!(missing
            .to_string()
            .contains("bucket `logs` does not exist (region us-east-1)"));
        let denied = refused(
            403,
            &[],
            "<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>",
        );
        assert!(
            denied
                .to_string()
                .contains("access denied (AccessDenied): no AWS credentials were found"),
            "{denied}"
        );
        assert!(refused(412, &[], "").is_conflict());
    }

    #[test]
    fn keys_are_percent_encoded_but_slashes() {
        assert_eq!(encode("logs/a b+c.eval", true), "logs/a%20b%2Bc.eval");
        assert_eq!(encode("a/b", false), "a%2Fb");
    }

    #[test]
    fn multipart_etag_is_md5_of_part_md5s() {
        // Two parts whose MD5s are known: md5("a"), md5("b").
        let parts = [
            CompletedPart {
                number: 1,
                etag: md5_etag(b"a"),
            },
            CompletedPart {
                number: 2,
                etag: md5_etag(b"b"),
            },
        ];
        let mut both = hex::decode(md5_etag(b"a").trim_matches('"')).unwrap();
        both.extend(hex::decode(md5_etag(b"b").trim_matches('"')).unwrap());
        let expected = format!("\"{}-2\"", md5_etag(&both).trim_matches('"'));
        assert_eq!(multipart_etag(&parts).unwrap(), expected);
    }
}
