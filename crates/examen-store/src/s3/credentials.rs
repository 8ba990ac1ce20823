//! [`CredentialChain`]: AWS credentials, region and endpoint found the way AWS tools find them,
//! with no SDK: environment keys, web identity (`AWS_WEB_IDENTITY_TOKEN_FILE` + `AWS_ROLE_ARN`,
//! as on Kubernetes), the profile in `~/.aws/credentials` and `~/.aws/config` (static keys,
//! `credential_process`, `role_arn` with `source_profile` or `web_identity_token_file`),
//! container credentials, then instance metadata (IMDSv2). Temporary credentials are cached and
//! refreshed five minutes before they expire; callers share one refresh.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use examen_http::{Bytes, HeaderName, HeaderValue, Method, Request};
use serde::Deserialize;

use super::client::{BoxFuture, ProvideCredentials};
use super::sign::{sign_request, Credentials, SecretKey};

/// A snapshot of the environment variables and home directory the chain reads (tests pass
/// their own instead of changing the process's).
#[derive(Clone, Default)]
pub struct AwsEnv {
    vars: HashMap<String, String>,
    home: Option<PathBuf>,
}

impl fmt::Debug for AwsEnv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Names only: values may be secrets.
        let mut names: Vec<&String> = self.vars.keys().collect();
        names.sort();
        f.debug_struct("AwsEnv")
            .field("vars", &names)
            .field("home", &self.home)
            .finish()
    }
}

impl AwsEnv {
    /// This process's `AWS_*` variables and `$HOME`.
    pub fn from_process() -> Self {
        Self::from_vars(
            std::env::vars().filter(|(k, _)| k.starts_with("AWS_")),
            std::env::var_os("HOME").map(PathBuf::from),
        )
    }

    /// Given variables and home directory.
    pub fn from_vars(
        vars: impl IntoIterator<Item = (String, String)>,
        home: Option<PathBuf>,
    ) -> Self {
        Self {
            vars: vars.into_iter().filter(|(_, v)| !v.is_empty()).collect(),
            home,
        }
    }

    fn var(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }

    fn file(&self, var: &str, default: &str) -> Option<PathBuf> {
        match self.var(var) {
            Some(path) => Some(PathBuf::from(path)),
            None => self.home.as_ref().map(|home| home.join(default)),
        }
    }
}

/// A credential source that failed: one line naming it, never a secret.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CredentialsError(String);

/// The AWS credential chain (see the module docs). Cheap to clone.
#[derive(Clone)]
pub struct CredentialChain {
    inner: Arc<Inner>,
}

struct Inner {
    env: AwsEnv,
    http: examen_http::Client,
    profile: String,
    /// `[section] → key → value` of the credentials file, then the config file's profiles.
    profiles: Result<HashMap<String, HashMap<String, String>>, String>,
    cache: futures_util::lock::Mutex<Option<Option<Credentials>>>,
}

impl fmt::Debug for CredentialChain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CredentialChain")
            .field("profile", &self.inner.profile)
            .field("env", &self.inner.env)
            .finish_non_exhaustive()
    }
}

/// Parses an AWS INI file into `section → key → value`; in the config file `[profile NAME]`
/// is profile NAME. Indented lines (nested settings such as `s3 =`) are skipped.
fn parse_ini(text: &str, config: bool) -> HashMap<String, HashMap<String, String>> {
    let mut out: HashMap<String, HashMap<String, String>> = HashMap::new();
    let mut section: Option<String> = None;
    for line in text.lines() {
        if line.starts_with([' ', '\t']) {
            continue;
        }
        let line = line.trim();
        if line.is_empty() || line.starts_with(['#', ';']) {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let name = name.trim();
            let name = if config {
                name.strip_prefix("profile ").map_or(name, str::trim)
            } else {
                name
            };
            section = Some(name.to_owned());
            continue;
        }
        if let (Some(section), Some((key, value))) = (&section, line.split_once('=')) {
            out.entry(section.clone())
                .or_default()
                .insert(key.trim().to_lowercase(), value.trim().to_owned());
        }
    }
    out
}

fn load_profiles(env: &AwsEnv) -> Result<HashMap<String, HashMap<String, String>>, String> {
    let mut merged: HashMap<String, HashMap<String, String>> = HashMap::new();
    for (path, config) in [
        (env.file("AWS_CONFIG_FILE", ".aws/config"), true),
        (
            env.file("AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials"),
            false,
        ),
    ] {
        let Some(path) = path else { continue };
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                for (name, keys) in parse_ini(&text, config) {
                    merged.entry(name).or_default().extend(keys);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(format!("{}: {e}", path.display())),
        }
    }
    Ok(merged)
}

/// Refresh temporary credentials this long before they expire.
const REFRESH_BEFORE: Duration = Duration::from_secs(5 * 60);

fn parse_time(text: &str) -> Option<SystemTime> {
    let t =
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(t.unix_timestamp()).ok()?))
}

fn form_encode(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| {
            let enc = |s: &str| {
                s.bytes()
                    .map(|b| {
                        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                            (b as char).to_string()
                        } else {
                            format!("%{b:02X}")
                        }
                    })
                    .collect::<String>()
            };
            format!("{}={}", enc(k), enc(v))
        })
        .collect::<Vec<_>>()
        .join("&")
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct StsResponse {
    #[serde(alias = "AssumeRoleResult", alias = "AssumeRoleWithWebIdentityResult")]
    result: StsResult,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct StsResult {
    credentials: StsCredentials,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct StsCredentials {
    access_key_id: String,
    secret_access_key: String,
    session_token: Option<String>,
    expiration: Option<String>,
}

/// What `credential_process`, container and instance metadata endpoints answer.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct JsonCredentials {
    access_key_id: String,
    secret_access_key: String,
    #[serde(alias = "Token")]
    session_token: Option<String>,
    expiration: Option<String>,
}

impl JsonCredentials {
    fn into_credentials(self, source: String) -> Credentials {
        Credentials {
            access_key_id: self.access_key_id,
            secret_access_key: SecretKey::new(self.secret_access_key),
            session_token: self.session_token.map(SecretKey::new),
            expires: self.expiration.as_deref().and_then(parse_time),
            source,
        }
    }
}

impl CredentialChain {
    /// The chain over `env`, making its STS and metadata requests with `http`.
    pub fn new(env: AwsEnv, http: examen_http::Client) -> Self {
        let profile = env
            .var("AWS_PROFILE")
            .or_else(|| env.var("AWS_DEFAULT_PROFILE"))
            .unwrap_or("default")
            .to_owned();
        let profiles = load_profiles(&env);
        Self {
            inner: Arc::new(Inner {
                env,
                http,
                profile,
                profiles,
                cache: futures_util::lock::Mutex::new(None),
            }),
        }
    }

    fn profile_setting(&self, name: &str) -> Option<String> {
        self.inner
            .profiles
            .as_ref()
            .ok()?
            .get(&self.inner.profile)?
            .get(name)
            .cloned()
    }

    /// `AWS_REGION`, `AWS_DEFAULT_REGION`, then the profile's `region`.
    pub fn region(&self) -> Option<String> {
        let env = &self.inner.env;
        env.var("AWS_REGION")
            .or_else(|| env.var("AWS_DEFAULT_REGION"))
            .map(str::to_owned)
            .or_else(|| self.profile_setting("region"))
    }

    /// `AWS_ENDPOINT_URL_<SERVICE>`, `AWS_ENDPOINT_URL`, then the profile's `endpoint_url`.
    pub fn endpoint_url(&self, service: &str) -> Option<String> {
        let env = &self.inner.env;
        env.var(&format!("AWS_ENDPOINT_URL_{}", service.to_uppercase()))
            .or_else(|| env.var("AWS_ENDPOINT_URL"))
            .map(str::to_owned)
            .or_else(|| self.profile_setting("endpoint_url"))
    }

    /// Current credentials, `None` when no source has any (requests then go unsigned).
    pub async fn credentials(&self) -> Result<Option<Credentials>, CredentialsError> {
        let mut cache = self.inner.cache.lock().await;
        if let Some(cached) = &*cache {
            let fresh = match cached.as_ref().and_then(|c| c.expires) {
                Some(expires) => SystemTime::now() + REFRESH_BEFORE < expires,
                None => true,
            };
            if fresh {
                return Ok(cached.clone());
            }
        }
        let found = self.resolve().await?;
        *cache = Some(found.clone());
        Ok(found)
    }

    async fn resolve(&self) -> Result<Option<Credentials>, CredentialsError> {
        let env = &self.inner.env;
        if let (Some(id), Some(secret)) = (
            env.var("AWS_ACCESS_KEY_ID"),
            env.var("AWS_SECRET_ACCESS_KEY"),
        ) {
            return Ok(Some(Credentials {
                access_key_id: id.to_owned(),
                secret_access_key: SecretKey::new(secret),
                session_token: env.var("AWS_SESSION_TOKEN").map(SecretKey::new),
                expires: None,
                source: "the environment (AWS_ACCESS_KEY_ID)".into(),
            }));
        }
        if let (Some(token_file), Some(role)) = (
            env.var("AWS_WEB_IDENTITY_TOKEN_FILE"),
            env.var("AWS_ROLE_ARN"),
        ) {
            let session = env.var("AWS_ROLE_SESSION_NAME").unwrap_or("examen");
            return self
                .web_identity(
                    Path::new(token_file),
                    role,
                    session,
                    "AWS_WEB_IDENTITY_TOKEN_FILE",
                )
                .await
                .map(Some);
        }
        let profiles = self
            .inner
            .profiles
            .as_ref()
            .map_err(|e| CredentialsError(e.clone()))?;
        let explicit = env.var("AWS_PROFILE").is_some();
        match profiles.get(&self.inner.profile) {
            Some(_) => {
                if let Some(found) = self
                    .profile_credentials(profiles, &self.inner.profile, 0)
                    .await?
                {
                    return Ok(Some(found));
                }
            }
            None if explicit => {
                return Err(CredentialsError(format!(
                    "AWS_PROFILE={}: no such profile in ~/.aws/config or ~/.aws/credentials",
                    self.inner.profile
                )))
            }
            None => {}
        }
        if let Some(found) = self.container().await? {
            return Ok(Some(found));
        }
        Ok(self.instance_metadata().await)
    }

    fn profile_credentials<'a>(
        &'a self,
        profiles: &'a HashMap<String, HashMap<String, String>>,
        name: &'a str,
        depth: usize,
    ) -> BoxFuture<'a, Result<Option<Credentials>, CredentialsError>> {
        Box::pin(async move {
            let what = format!("profile `{name}`");
            let Some(profile) = profiles.get(name) else {
                return Err(CredentialsError(format!("{what}: no such profile")));
            };
            if depth > 8 {
                return Err(CredentialsError(format!(
                    "{what}: source_profile chain is too long (a loop?)"
                )));
            }
            if let Some(role) = profile.get("role_arn") {
                let session = profile
                    .get("role_session_name")
                    .map_or("examen", String::as_str);
                if let Some(token_file) = profile.get("web_identity_token_file") {
                    return self
                        .web_identity(Path::new(token_file), role, session, &what)
                        .await
                        .map(Some);
                }
                let Some(source) = profile.get("source_profile") else {
                    return Err(CredentialsError(format!(
                        "{what}: role_arn needs source_profile or web_identity_token_file"
                    )));
                };
                let base = if source == name {
                    // A profile that is its own source uses its own static keys.
                    static_keys(profile, &what)
                } else {
                    self.profile_credentials(profiles, source, depth + 1)
                        .await?
                };
                let Some(base) = base else {
                    return Err(CredentialsError(format!(
                        "{what}: source profile `{source}` has no credentials"
                    )));
                };
                return self
                    .assume_role(&base, role, session, &what)
                    .await
                    .map(Some);
            }
            if let Some(found) = static_keys(profile, &what) {
                return Ok(Some(found));
            }
            if let Some(command) = profile.get("credential_process") {
                return self.credential_process(command, &what).await.map(Some);
            }
            Ok(None)
        })
    }

    async fn credential_process(
        &self,
        command: &str,
        what: &str,
    ) -> Result<Credentials, CredentialsError> {
        let mut cmd = std::process::Command::new("sh");
        cmd.arg("-c").arg(command);
        let output = examen_rt::process::run(cmd, None, Some(Duration::from_secs(60)))
            .await
            .map_err(|e| {
                CredentialsError(format!("{what}: credential_process `{command}`: {e}"))
            })?;
        if !output.status.success() {
            return Err(CredentialsError(format!(
                "{what}: credential_process `{command}` failed ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            )));
        }
        let parsed: JsonCredentials = serde_json::from_slice(&output.stdout).map_err(|e| {
            CredentialsError(format!(
                "{what}: credential_process `{command}` printed no credentials JSON \
                 ({{\"Version\": 1, \"AccessKeyId\", \"SecretAccessKey\", ...}}): {e}"
            ))
        })?;
        Ok(parsed.into_credentials(format!("{what} (credential_process)")))
    }

    fn sts_endpoint(&self) -> String {
        self.endpoint_url("sts").unwrap_or_else(|| {
            format!(
                "https://sts.{}.amazonaws.com",
                self.region().unwrap_or_else(|| "us-east-1".into())
            )
        })
    }

    async fn sts(
        &self,
        form: String,
        sign_with: Option<&Credentials>,
        what: &str,
    ) -> Result<Credentials, CredentialsError> {
        let endpoint = self.sts_endpoint();
        let fail = |e: String| CredentialsError(format!("{what}: STS at {endpoint}: {e}"));
        let mut request = Request::new(
            Method::POST,
            &format!("{}/", endpoint.trim_end_matches('/')),
        )
        .map_err(|e| fail(e.to_string()))?
        .header(
            examen_http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        )
        .body(Bytes::from(form))
        .timeout(Duration::from_secs(30));
        if let Some(base) = sign_with {
            let region = self.region().unwrap_or_else(|| "us-east-1".into());
            sign_request(&mut request, base, &region, "sts", SystemTime::now()).map_err(fail)?;
        }
        let response = self
            .inner
            .http
            .send(request)
            .await
            .map_err(|e| fail(e.to_string()))?;
        let status = response.status();
        let body = response.text().await.map_err(|e| fail(e.to_string()))?;
        if !status.is_success() {
            let message = super::xml::parse::<super::xml::StsError>(&body)
                .map(|e| format!("{} {}", e.error.code, e.error.message))
                .unwrap_or_default();
            return Err(fail(format!("answered {status} {message}")));
        }
        let parsed: StsResponse = super::xml::parse(&body).map_err(fail)?;
        let c = parsed.result.credentials;
        Ok(Credentials {
            access_key_id: c.access_key_id,
            secret_access_key: SecretKey::new(c.secret_access_key),
            session_token: c.session_token.map(SecretKey::new),
            expires: c.expiration.as_deref().and_then(parse_time),
            source: what.to_owned(),
        })
    }

    async fn assume_role(
        &self,
        base: &Credentials,
        role: &str,
        session: &str,
        what: &str,
    ) -> Result<Credentials, CredentialsError> {
        let form = form_encode(&[
            ("Action", "AssumeRole"),
            ("Version", "2011-06-15"),
            ("RoleArn", role),
            ("RoleSessionName", session),
        ]);
        self.sts(form, Some(base), &format!("{what} (assumed role {role})"))
            .await
    }

    async fn web_identity(
        &self,
        token_file: &Path,
        role: &str,
        session: &str,
        what: &str,
    ) -> Result<Credentials, CredentialsError> {
        let token = std::fs::read_to_string(token_file).map_err(|e| {
            CredentialsError(format!(
                "{what}: web identity token {}: {e}",
                token_file.display()
            ))
        })?;
        let form = form_encode(&[
            ("Action", "AssumeRoleWithWebIdentity"),
            ("Version", "2011-06-15"),
            ("RoleArn", role),
            ("RoleSessionName", session),
            ("WebIdentityToken", token.trim()),
        ]);
        self.sts(form, None, &format!("{what} (web identity, role {role})"))
            .await
    }

    async fn container(&self) -> Result<Option<Credentials>, CredentialsError> {
        let env = &self.inner.env;
        let url = match (
            env.var("AWS_CONTAINER_CREDENTIALS_FULL_URI"),
            env.var("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"),
        ) {
            (Some(full), _) => full.to_owned(),
            (None, Some(relative)) => format!("http://169.254.170.2{relative}"),
            (None, None) => return Ok(None),
        };
        let token = match (
            env.var("AWS_CONTAINER_AUTHORIZATION_TOKEN"),
            env.var("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"),
        ) {
            (Some(token), _) => Some(token.to_owned()),
            (None, Some(file)) => Some(
                std::fs::read_to_string(file)
                    .map_err(|e| {
                        CredentialsError(format!(
                            "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE {file}: {e}"
                        ))
                    })?
                    .trim()
                    .to_owned(),
            ),
            (None, None) => None,
        };
        let what = "container credentials";
        let fail = |e: String| {
            CredentialsError(format!("{what} at {}: {e}", examen_http::redact_url(&url)))
        };
        let mut request = Request::get(&url)
            .map_err(|e| fail(e.to_string()))?
            .timeout(Duration::from_secs(5));
        if let Some(token) = token {
            request = request
                .secret_header(examen_http::header::AUTHORIZATION, &token)
                .map_err(|e| fail(e.to_string()))?;
        }
        let response = self
            .inner
            .http
            .send(request)
            .await
            .map_err(|e| fail(e.to_string()))?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| fail(e.to_string()))?;
        if !status.is_success() {
            return Err(fail(format!("answered {status}")));
        }
        let parsed: JsonCredentials =
            serde_json::from_slice(&body).map_err(|e| fail(e.to_string()))?;
        Ok(Some(parsed.into_credentials(what.into())))
    }

    /// IMDSv2; any failure means "no credentials here" (most machines are not EC2 instances).
    async fn instance_metadata(&self) -> Option<Credentials> {
        let env = &self.inner.env;
        if env
            .var("AWS_EC2_METADATA_DISABLED")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
        {
            return None;
        }
        let base = env
            .var("AWS_EC2_METADATA_SERVICE_ENDPOINT")
            .unwrap_or("http://169.254.169.254")
            .trim_end_matches('/')
            .to_owned();
        let limit = Duration::from_secs(1);
        let token_request = Request::new(Method::PUT, &format!("{base}/latest/api/token"))
            .ok()?
            .header(
                HeaderName::from_static("x-aws-ec2-metadata-token-ttl-seconds"),
                HeaderValue::from_static("21600"),
            )
            .timeout(limit);
        let token = examen_rt::timeout(limit, async {
            let response = self.inner.http.send(token_request).await.ok()?;
            response.status().is_success().then_some(())?;
            response.text().await.ok()
        })
        .await
        .ok()??;
        let base = &base;
        let token = &token;
        let get = |path: String| async move {
            let request = Request::get(&format!("{base}{path}"))
                .ok()?
                .secret_header(HeaderName::from_static("x-aws-ec2-metadata-token"), token)
                .ok()?
                .timeout(Duration::from_secs(5));
            let response = self.inner.http.send(request).await.ok()?;
            response.status().is_success().then_some(())?;
            response.text().await.ok()
        };
        let roles = get("/latest/meta-data/iam/security-credentials/".into()).await?;
        let role = roles.lines().next()?.trim().to_owned();
        let body = get(format!("/latest/meta-data/iam/security-credentials/{role}")).await?;
        let parsed: JsonCredentials = serde_json::from_str(&body).ok()?;
        Some(parsed.into_credentials(format!("instance metadata (role {role})")))
    }
}

fn static_keys(profile: &HashMap<String, String>, what: &str) -> Option<Credentials> {
    Some(Credentials {
        access_key_id: profile.get("aws_access_key_id")?.clone(),
        secret_access_key: SecretKey::new(profile.get("aws_secret_access_key")?.clone()),
        session_token: profile
            .get("aws_session_token")
            .cloned()
            .map(SecretKey::new),
        expires: None,
        source: what.to_owned(),
    })
}

impl ProvideCredentials for CredentialChain {
    fn credentials(&self) -> BoxFuture<'_, Result<Option<Credentials>, String>> {
        Box::pin(async move {
            CredentialChain::credentials(self)
                .await
                .map_err(|e| e.to_string())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ini_files_read_as_aws_tools_read_them() {
        let config = "[default]\nregion = eu-west-1\n[profile dev]\nrole_arn = arn:aws:iam::1:role/r\nsource_profile = default\ns3 =\n  addressing_style = path\n# comment\n";
        let parsed = parse_ini(config, true);
        assert_eq!(parsed["default"]["region"], "eu-west-1");
        assert_eq!(parsed["dev"]["source_profile"], "default");
        assert!(!parsed["dev"].contains_key("addressing_style"));
        let credentials = parse_ini("[dev]\naws_access_key_id=AKID\n", false);
        assert_eq!(credentials["dev"]["aws_access_key_id"], "AKID");
    }
}
