//! The tests' S3-protocol server (moto on 127.0.0.1, started once per test binary by
//! `scripts/s3.sh up`), with the request body bytes it has received. Without it the S3 tests
//! are skipped, except under `CI=true`, where they fail.

use std::io::{Read, Write};
use std::sync::{Arc, OnceLock};

use crate::support::workspace;

/// The running server.
#[derive(Debug)]
pub(crate) struct S3Server {
    endpoint: String,
}

/// The server, started on first use; `None` (the test is skipped) when it cannot start,
/// outside CI.
pub(crate) fn s3_server() -> Option<&'static S3Server> {
    static SERVER: OnceLock<Result<S3Server, String>> = OnceLock::new();
    let server = SERVER.get_or_init(|| {
        let out = std::process::Command::new("bash")
            .arg(workspace().join("scripts/s3.sh"))
            .arg("up")
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let endpoint = text
            .lines()
            .find_map(|line| line.strip_prefix("AWS_ENDPOINT_URL="))
            .ok_or_else(|| format!("scripts/s3.sh up printed no endpoint: {text}"))?;
        Ok(S3Server {
            endpoint: endpoint.trim().to_owned(),
        })
    });
    match server {
        Ok(server) => Some(server),
        Err(why) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("CI=true and the S3 server could not start: {why}")
        }
        Err(why) => {
            eprintln!("SKIPPED: the S3 server could not start (scripts/s3.sh up): {why}");
            None
        }
    }
}

impl S3Server {
    /// The environment a client needs (fixed test credentials: the server does not check them).
    pub(crate) fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_ACCESS_KEY_ID", "examen-test".into()),
            ("AWS_SECRET_ACCESS_KEY", "examen-test-secret".into()),
            ("AWS_REGION", "us-east-1".into()),
        ]
    }

    /// A client of examen's own.
    pub(crate) fn client(&self) -> examen_store::s3::S3Client {
        let credentials = examen_store::s3::Credentials {
            access_key_id: "examen-test".into(),
            secret_access_key: examen_store::s3::SecretKey::new("examen-test-secret"),
            session_token: None,
            expires: None,
            source: "the tests".into(),
        };
        examen_store::s3::S3Client::new(
            examen_store::s3::S3Config {
                endpoint: Some(self.endpoint.clone()),
                ..examen_store::s3::S3Config::default()
            },
            Arc::new(examen_store::s3::StaticCredentials(Some(credentials))),
        )
        .unwrap()
    }

    fn request(&self, method: &str, path: &str) -> String {
        let address = self.endpoint.trim_start_matches("http://");
        let mut stream = std::net::TcpStream::connect(address).unwrap();
        write!(
            stream,
            "{method} {path} HTTP/1.0\r\nHost: {address}\r\nContent-Length: 0\r\n\r\n"
        )
        .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        answer
    }

    /// Creates a bucket.
    pub(crate) fn create_bucket(&self, name: &str) {
        let answer = self.request("PUT", &format!("/{name}"));
        assert!(
            answer.starts_with("HTTP/1.0 200") || answer.starts_with("HTTP/1.1 200"),
            "{answer}"
        );
    }

    /// Request body bytes the server has read for `bucket` (tests running at once each use a
    /// bucket of their own).
    pub(crate) fn body_bytes(&self, bucket: &str) -> u64 {
        let answer = self.request("GET", "/_examen/stats");
        let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
        let json: serde_json::Value = serde_json::from_str(body).unwrap();
        json["by_bucket"][bucket].as_u64().unwrap_or(0)
    }
}
