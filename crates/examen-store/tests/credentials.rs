//! The AWS credential chain from each source, with real files, a real `credential_process`,
//! loopback stubs for the container and instance-metadata endpoints, and moto's STS (started by
//! `scripts/s3.sh`) for role assumption and web identity. Secrets never show in `Debug` output
//! or errors.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use examen_store::s3::{AwsEnv, CredentialChain};

mod support;

fn http() -> examen_http::Client {
    examen_http::Client::new().unwrap()
}

fn chain(vars: &[(&str, &str)], home: Option<&Path>) -> CredentialChain {
    let vars = vars.iter().map(|(k, v)| (k.to_string(), v.to_string()));
    // No instance metadata unless a test asks for it.
    let mut env: Vec<(String, String)> = vec![("AWS_EC2_METADATA_DISABLED".into(), "true".into())];
    env.extend(vars);
    CredentialChain::new(AwsEnv::from_vars(env, home.map(Path::to_owned)), http())
}

/// A request the stub saw: method, path, headers (lower-case names).
type Seen = (String, String, Vec<(String, String)>);

/// A loopback HTTP stub: `answer(method, path, headers)` gives (status, body). Records requests.
struct Stub {
    url: String,
    requests: Arc<Mutex<Vec<Seen>>>,
}

fn stub(
    answer: impl Fn(&str, &str, &[(String, String)]) -> (u16, String) + Send + 'static,
) -> Stub {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let requests = Arc::new(Mutex::new(Vec::new()));
    let seen = requests.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let mut parts = line.split_whitespace();
            let (method, path) = (
                parts.next().unwrap_or("").to_owned(),
                parts.next().unwrap_or("").to_owned(),
            );
            let mut headers = Vec::new();
            let mut length = 0;
            loop {
                let mut header = String::new();
                reader.read_line(&mut header).unwrap();
                let header = header.trim_end();
                if header.is_empty() {
                    break;
                }
                let (name, value) = header.split_once(':').unwrap();
                let (name, value) = (name.trim().to_lowercase(), value.trim().to_owned());
                if name == "content-length" {
                    length = value.parse().unwrap();
                }
                headers.push((name, value));
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            let (status, text) = answer(&method, &path, &headers);
            seen.lock().unwrap().push((method, path, headers));
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                text.len()
            );
        }
    });
    Stub { url, requests }
}

fn expiring_json(id: &str, in_secs: i64) -> String {
    let when = time::OffsetDateTime::now_utc() + time::Duration::seconds(in_secs);
    let when = when
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    format!(
        r#"{{"Version": 1, "AccessKeyId": "{id}", "SecretAccessKey": "s3cr3t-{id}", "Token": "tok-{id}", "Expiration": "{when}"}}"#
    )
}

fn no_secret_in(text: &str) {
    assert!(!text.contains("s3cr3t"), "a secret leaked: {text}");
}

#[examen_rt::test]
async fn environment_keys_come_first() {
    let chain = chain(
        &[
            ("AWS_ACCESS_KEY_ID", "AKENV"),
            ("AWS_SECRET_ACCESS_KEY", "s3cr3t-env"),
            ("AWS_SESSION_TOKEN", "tok"),
        ],
        None,
    );
    let found = chain.credentials().await.unwrap().unwrap();
    assert_eq!(found.access_key_id, "AKENV");
    assert_eq!(found.secret_access_key.expose(), "s3cr3t-env");
    assert!(found.session_token.is_some());
    no_secret_in(&format!("{found:?} {chain:?}"));
}

#[examen_rt::test]
async fn profiles_from_the_shared_files() {
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(home.path().join(".aws")).unwrap();
    std::fs::write(
        home.path().join(".aws/credentials"),
        "[default]\naws_access_key_id = AKDEFAULT\naws_secret_access_key = s3cr3t-d\n[work]\naws_access_key_id=AKWORK\naws_secret_access_key=s3cr3t-w\n",
    )
    .unwrap();
    std::fs::write(
        home.path().join(".aws/config"),
        "[profile work]\nregion = eu-central-1\n",
    )
    .unwrap();
    let default = chain(&[], Some(home.path()))
        .credentials()
        .await
        .unwrap()
        .unwrap();
    assert_eq!(default.access_key_id, "AKDEFAULT");
    let work = chain(&[("AWS_PROFILE", "work")], Some(home.path()));
    assert_eq!(
        work.credentials().await.unwrap().unwrap().access_key_id,
        "AKWORK"
    );
    assert_eq!(work.region().as_deref(), Some("eu-central-1"));
    // AWS_REGION wins over the profile's.
    let env_region = chain(
        &[("AWS_PROFILE", "work"), ("AWS_REGION", "ap-south-1")],
        Some(home.path()),
    );
    assert_eq!(env_region.region().as_deref(), Some("ap-south-1"));
    let missing = chain(&[("AWS_PROFILE", "nope")], Some(home.path()))
        .credentials()
        .await
        .unwrap_err();
    assert!(
        missing
            .to_string()
            .contains("AWS_PROFILE=nope: no such profile"),
        "{missing}"
    );
    // No source at all: anonymous.
    let empty = tempfile::tempdir().unwrap();
    assert!(chain(&[], Some(empty.path()))
        .credentials()
        .await
        .unwrap()
        .is_none());
}

#[examen_rt::test]
async fn credential_process_is_run_and_its_expiring_credentials_refreshed() {
    let dir = tempfile::tempdir().unwrap();
    let counter = dir.path().join("calls");
    let script = dir.path().join("creds.sh");
    // Each call prints credentials numbered by how often it ran, expiring in one minute
    // (within the five-minute refresh margin, so the next call runs it again).
    let when = (time::OffsetDateTime::now_utc() + time::Duration::seconds(60))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho x >> {c}\nn=$(wc -l < {c} | tr -d ' ')\nprintf '{{\"Version\": 1, \"AccessKeyId\": \"AKPROC%s\", \"SecretAccessKey\": \"s3cr3t-p\", \"SessionToken\": \"t\", \"Expiration\": \"{when}\"}}' \"$n\"\n",
            c = counter.display()
        ),
    )
    .unwrap();
    let config = dir.path().join("config");
    std::fs::write(
        &config,
        format!("[default]\ncredential_process = sh {}\n", script.display()),
    )
    .unwrap();
    let chain = chain(
        &[("AWS_CONFIG_FILE", config.to_str().unwrap())],
        Some(dir.path()),
    );
    let first = chain.credentials().await.unwrap().unwrap();
    assert_eq!(first.access_key_id, "AKPROC1");
    assert!(first.expires.is_some());
    let second = chain.credentials().await.unwrap().unwrap();
    assert_eq!(
        second.access_key_id, "AKPROC2",
        "expiring credentials must be fetched again"
    );

    let failing = dir.path().join("failing");
    std::fs::write(
        &failing,
        "[default]\ncredential_process = sh -c 'echo no-sso-session >&2; exit 3'\n",
    )
    .unwrap();
    let err = self::chain(
        &[("AWS_CONFIG_FILE", failing.to_str().unwrap())],
        Some(dir.path()),
    )
    .credentials()
    .await
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("profile `default`: credential_process") && err.contains("no-sso-session"),
        "{err}"
    );
}

#[examen_rt::test]
async fn container_credentials_with_their_token() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let server = stub(move |_, path, headers| {
        let authorized = headers
            .iter()
            .any(|(k, v)| k == "authorization" && v == "container-token");
        if path != "/creds" || !authorized {
            return (401, "no".into());
        }
        let n = counted.fetch_add(1, Ordering::SeqCst) + 1;
        (200, expiring_json(&format!("AKCONT{n}"), 3600))
    });
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "container-token\n").unwrap();
    let url = format!("{}/creds", server.url);
    let chain = chain(
        &[
            ("AWS_CONTAINER_CREDENTIALS_FULL_URI", &url),
            (
                "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
                token.to_str().unwrap(),
            ),
        ],
        Some(dir.path()),
    );
    let found = chain.credentials().await.unwrap().unwrap();
    assert_eq!(found.access_key_id, "AKCONT1");
    assert_eq!(
        found.session_token.as_ref().unwrap().expose(),
        "tok-AKCONT1"
    );
    // An hour left: cached, not asked again.
    assert_eq!(
        chain.credentials().await.unwrap().unwrap().access_key_id,
        "AKCONT1"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[examen_rt::test]
async fn instance_metadata_with_an_imdsv2_token() {
    let server = stub(|method, path, headers| {
        let has = |name: &str, value: &str| headers.iter().any(|(k, v)| k == name && v == value);
        match (method, path) {
            ("PUT", "/latest/api/token")
                if has("x-aws-ec2-metadata-token-ttl-seconds", "21600") =>
            {
                (200, "imds-token".into())
            }
            (_, _) if !has("x-aws-ec2-metadata-token", "imds-token") => {
                (401, "token needed".into())
            }
            ("GET", "/latest/meta-data/iam/security-credentials/") => (200, "my-role\n".into()),
            ("GET", "/latest/meta-data/iam/security-credentials/my-role") => {
                (200, expiring_json("AKIMDS", 3600))
            }
            _ => (404, "".into()),
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let vars = vec![(
        "AWS_EC2_METADATA_SERVICE_ENDPOINT".to_string(),
        server.url.clone(),
    )];
    let chain = CredentialChain::new(AwsEnv::from_vars(vars, Some(dir.path().to_owned())), http());
    let found = chain.credentials().await.unwrap().unwrap();
    assert_eq!(found.access_key_id, "AKIMDS");
    assert!(found.source.contains("my-role"), "{}", found.source);
    assert_eq!(server.requests.lock().unwrap().len(), 3);
}

#[examen_rt::test]
async fn roles_are_assumed_through_sts() {
    let Some(endpoint) = support::s3_endpoint() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let token_file: PathBuf = dir.path().join("token");
    std::fs::write(&token_file, "a.jwt.token").unwrap();
    // Web identity from the environment, as on Kubernetes.
    let web = chain(
        &[
            ("AWS_ENDPOINT_URL", &endpoint),
            ("AWS_WEB_IDENTITY_TOKEN_FILE", token_file.to_str().unwrap()),
            ("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/examen-logs"),
        ],
        Some(dir.path()),
    );
    let found = web.credentials().await.unwrap().unwrap();
    assert!(
        found.session_token.is_some() && found.expires.is_some(),
        "{found:?}"
    );
    assert!(found.source.contains("web identity"), "{}", found.source);
    // A profile assuming a role with its source profile's keys.
    std::fs::write(
        dir.path().join("config"),
        "[profile base]\naws_access_key_id = AKBASE\naws_secret_access_key = s3cr3t-b\n[profile ops]\nrole_arn = arn:aws:iam::123456789012:role/ops\nsource_profile = base\n",
    )
    .unwrap();
    let config = dir.path().join("config");
    let assumed = chain(
        &[
            ("AWS_ENDPOINT_URL", &endpoint),
            ("AWS_CONFIG_FILE", config.to_str().unwrap()),
            ("AWS_PROFILE", "ops"),
        ],
        Some(dir.path()),
    );
    let found = assumed.credentials().await.unwrap().unwrap();
    assert_ne!(found.access_key_id, "AKBASE");
    assert!(found.session_token.is_some());
    assert!(
        found
            .source
            .contains("assumed role arn:aws:iam::123456789012:role/ops"),
        "{}",
        found.source
    );
    no_secret_in(&format!("{assumed:?}"));
}

#[examen_rt::test]
async fn an_unreachable_sts_names_the_source_not_the_secret() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("config"),
        "[profile base]\naws_access_key_id = AKBASE\naws_secret_access_key = s3cr3t-b\n[profile ops]\nrole_arn = arn:aws:iam::1:role/ops\nsource_profile = base\n",
    )
    .unwrap();
    let config = dir.path().join("config");
    let server = stub(|_, _, _| {
        (403, "<ErrorResponse><Error><Code>AccessDenied</Code><Message>not allowed</Message></Error></ErrorResponse>".into())
    });
    let err = chain(
        &[
            ("AWS_ENDPOINT_URL_STS", &server.url),
            ("AWS_CONFIG_FILE", config.to_str().unwrap()),
            ("AWS_PROFILE", "ops"),
        ],
        Some(dir.path()),
    )
    .credentials()
    .await
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("profile `ops`") && err.contains("AccessDenied not allowed"),
        "{err}"
    );
    no_secret_in(&err);
    // The AssumeRole request was signed with the source profile's key.
    let requests = server.requests.lock().unwrap();
    let auth = requests[0]
        .2
        .iter()
        .find(|(k, _)| k == "authorization")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    assert!(
        auth.starts_with("AWS4-HMAC-SHA256 Credential=AKBASE/"),
        "{auth}"
    );
}
