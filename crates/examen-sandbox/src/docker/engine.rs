//! The Docker Engine API over its unix socket: where the daemon is (`DOCKER_HOST`, docker
//! contexts), the calls the docker sandbox makes (exec, archives, container and network
//! listings), and the multiplexed stdout/stderr framing of an exec's stream.
//!
//! One [`Engine`] keeps a pool of keep-alive connections (`examen_http::unix`), so an exec
//! costs three requests on open connections plus one upgraded connection, not a CLI process.

use std::path::{Path, PathBuf};
use std::time::Duration;

use examen_http::unix::{UnixClient, UnixResponse};
use examen_http::{Bytes, Method, StatusCode};
use futures_util::io::{AsyncReadExt, AsyncWriteExt};
use serde_json::{json, Value};

/// The API version every call names: the newest the Debian bookworm daemon (20.10) speaks;
/// newer daemons still accept it.
pub const API_VERSION: &str = "v1.41";

/// Where the daemon listens when nothing says otherwise.
pub const DEFAULT_SOCKET: &str = "/var/run/docker.sock";

/// A failed Engine API call.
#[derive(Debug)]
pub enum EngineError {
    /// The daemon could not be reached or the exchange broke.
    Http(examen_http::Error),
    /// The daemon answered with an error status and its message.
    Status(StatusCode, String),
    /// The daemon's answer was not what the API documents.
    Malformed(String),
}

impl std::fmt::Display for EngineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EngineError::Http(err) => write!(f, "{err}"),
            EngineError::Status(status, message) => write!(f, "{status}: {message}"),
            EngineError::Malformed(what) => write!(f, "unexpected answer from the daemon: {what}"),
        }
    }
}

impl std::error::Error for EngineError {}

impl EngineError {
    /// The status the daemon answered with, when it answered.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            EngineError::Status(status, _) => Some(*status),
            _ => None,
        }
    }
}

/// The daemon's socket as the docker CLI would find it: `DOCKER_HOST` (`unix://PATH`; other
/// schemes are refused with a message), else the current docker context's endpoint
/// (`DOCKER_CONTEXT`, else `currentContext` in `$DOCKER_CONFIG/config.json`), else
/// [`DEFAULT_SOCKET`].
pub fn socket_from_env() -> Result<PathBuf, String> {
    if let Ok(host) = std::env::var("DOCKER_HOST") {
        if !host.is_empty() {
            return socket_from_host(&host);
        }
    }
    let config_dir = std::env::var_os("DOCKER_CONFIG")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".docker")));
    let context = std::env::var("DOCKER_CONTEXT").ok().or_else(|| {
        let config = std::fs::read(config_dir.as_ref()?.join("config.json")).ok()?;
        let config: Value = serde_json::from_slice(&config).ok()?;
        config["currentContext"].as_str().map(str::to_owned)
    });
    match context.as_deref() {
        None | Some("") | Some("default") => Ok(PathBuf::from(DEFAULT_SOCKET)),
        Some(name) => {
            let host = config_dir
                .as_deref()
                .and_then(|dir| context_host(dir, name))
                .ok_or_else(|| {
                    format!("docker context `{name}` has no docker endpoint under $DOCKER_CONFIG/contexts (set DOCKER_HOST=unix://PATH)")
                })?;
            socket_from_host(&host)
        }
    }
}

/// `unix://PATH` as a path.
pub fn socket_from_host(host: &str) -> Result<PathBuf, String> {
    match host.strip_prefix("unix://") {
        Some(path) if !path.is_empty() => Ok(PathBuf::from(path)),
        _ => Err(format!(
            "DOCKER_HOST={host} is not supported: the docker sandbox talks to the daemon over a unix socket (unix:///path/to/docker.sock)"
        )),
    }
}

/// The docker endpoint of context `name`: the CLI stores each context's `meta.json` in a
/// directory named by a hash of the name, so they are read until one has that name.
fn context_host(config_dir: &Path, name: &str) -> Option<String> {
    for entry in std::fs::read_dir(config_dir.join("contexts/meta")).ok()? {
        let Ok(meta) = std::fs::read(entry.ok()?.path().join("meta.json")) else {
            continue;
        };
        let Ok(meta) = serde_json::from_slice::<Value>(&meta) else {
            continue;
        };
        if meta["Name"] == name {
            return meta["Endpoints"]["docker"]["Host"]
                .as_str()
                .map(str::to_owned);
        }
    }
    None
}

/// A connection pool to one Docker daemon.
#[derive(Debug, Clone)]
pub struct Engine {
    client: UnixClient,
}

/// What an exec runs and how (the body of `POST /containers/{id}/exec`).
#[derive(Debug, Clone, Default)]
pub struct ExecSpec {
    /// The command.
    pub cmd: Vec<String>,
    /// `K=V` additions to its environment.
    pub env: Vec<String>,
    /// Its working directory (absolute).
    pub workdir: String,
    /// Its user (`None`: the container's).
    pub user: Option<String>,
}

pub use examen_rt::process::Tail;

/// What an exec wrote, kept to a limit per stream.
#[derive(Debug, Default)]
pub struct ExecOutput {
    /// The end of its standard output.
    pub stdout: Tail,
    /// The end of its standard error.
    pub stderr: Tail,
}

/// Splits Docker's multiplexed exec stream: frames of an 8-byte header (stream type, three
/// zero bytes, a big-endian `u32` length) and that many bytes of payload.
#[derive(Debug, Default)]
struct Demux {
    pending: Vec<u8>,
}

impl Demux {
    /// Takes in `data` and hands each complete frame's payload to `out`, by stream.
    fn feed(&mut self, data: &[u8], out: &mut ExecOutput) -> Result<(), EngineError> {
        self.pending.extend_from_slice(data);
        let mut at = 0;
        while self.pending.len() - at >= 8 {
            let header = &self.pending[at..at + 8];
            let len = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
            let kind = header[0];
            if self.pending.len() - at - 8 < len {
                break;
            }
            let payload = &self.pending[at + 8..at + 8 + len];
            match kind {
                0 | 1 => out.stdout.push(payload),
                // 3 is the daemon's own error stream (a failed start), shown as stderr.
                2 | 3 => out.stderr.push(payload),
                other => {
                    return Err(EngineError::Malformed(format!(
                        "exec stream frame of type {other}"
                    )))
                }
            }
            at += 8 + len;
        }
        self.pending.drain(..at);
        Ok(())
    }

    fn finish(&self) -> Result<(), EngineError> {
        if self.pending.is_empty() {
            Ok(())
        } else {
            Err(EngineError::Malformed(format!(
                "exec stream ended inside a frame ({} bytes pending)",
                self.pending.len()
            )))
        }
    }
}

/// Percent-encodes a query value (everything but unreserved characters).
pub fn query_escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~/".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// `{"label": [labels...]}` as a `filters=` query value.
pub fn label_filter(labels: &[&str]) -> String {
    query_escape(&json!({ "label": labels }).to_string())
}

impl Engine {
    /// A pool for the daemon listening at `socket`.
    pub fn new(socket: impl Into<PathBuf>) -> Engine {
        Engine {
            client: UnixClient::new(socket),
        }
    }

    /// The daemon's socket.
    pub fn socket(&self) -> &Path {
        self.client.path()
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        body: Bytes,
    ) -> Result<UnixResponse, EngineError> {
        let mut request = examen_http::http::Request::builder()
            .method(method)
            .uri(format!("/{API_VERSION}{path}"));
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let request = request
            .body(body)
            .map_err(|e| EngineError::Malformed(e.to_string()))?;
        self.client.send(request).await.map_err(EngineError::Http)
    }

    /// The body of a response with a success status; the daemon's message otherwise.
    async fn ok_body(response: UnixResponse) -> Result<Bytes, EngineError> {
        let status = response.status();
        let body = response.bytes().await.map_err(EngineError::Http)?;
        if status.is_success() {
            return Ok(body);
        }
        let message = serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|v| v["message"].as_str().map(str::to_owned))
            .unwrap_or_else(|| String::from_utf8_lossy(&body).trim().to_owned());
        Err(EngineError::Status(status, message))
    }

    /// A call whose answer is JSON (`Value::Null` for an empty body).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, EngineError> {
        let (content_type, body) = match body {
            Some(body) => (Some("application/json"), Bytes::from(body.to_string())),
            None => (None, Bytes::new()),
        };
        let response = self.send(method, path, content_type, body).await?;
        let body = Self::ok_body(response).await?;
        if body.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&body).map_err(|e| EngineError::Malformed(e.to_string()))
    }

    /// `GET /_ping`: the daemon answers.
    pub async fn ping(&self) -> Result<(), EngineError> {
        let response = self.send(Method::GET, "/_ping", None, Bytes::new()).await?;
        Self::ok_body(response).await.map(drop)
    }

    /// `GET /containers/{id}/json`.
    pub async fn inspect_container(&self, id: &str) -> Result<Value, EngineError> {
        self.call(Method::GET, &format!("/containers/{id}/json"), None)
            .await
    }

    /// `GET /containers/json?all=1&filters=...`: every container with all of `labels`
    /// (`key` or `key=value`).
    pub async fn containers_labelled(&self, labels: &[&str]) -> Result<Vec<Value>, EngineError> {
        let path = format!("/containers/json?all=1&filters={}", label_filter(labels));
        match self.call(Method::GET, &path, None).await? {
            Value::Array(containers) => Ok(containers),
            other => Err(EngineError::Malformed(format!("container list {other}"))),
        }
    }

    /// `GET /images/{name}/json` answered: the image is here.
    pub async fn image_present(&self, name: &str) -> Result<bool, EngineError> {
        match self
            .call(
                Method::GET,
                &format!("/images/{}/json", query_escape(name)),
                None,
            )
            .await
        {
            Ok(_) => Ok(true),
            Err(EngineError::Status(StatusCode::NOT_FOUND, _)) => Ok(false),
            Err(other) => Err(other),
        }
    }

    /// Removes what a compose project made: its containers (killed), their anonymous volumes,
    /// and the project's networks and volumes.
    pub async fn remove_project(&self, project: &str) -> Result<(), EngineError> {
        let label = format!("com.docker.compose.project={project}");
        for container in self.containers_labelled(&[&label]).await? {
            let Some(id) = container["Id"].as_str() else {
                continue;
            };
            match self
                .call(
                    Method::DELETE,
                    &format!("/containers/{id}?force=1&v=1"),
                    None,
                )
                .await
            {
                Ok(_) | Err(EngineError::Status(StatusCode::NOT_FOUND, _)) => {}
                // Already being removed (a `compose down` racing us).
                Err(EngineError::Status(StatusCode::CONFLICT, _)) => {}
                Err(other) => return Err(other),
            }
        }
        let filter = label_filter(&[&label]);
        let networks = self
            .call(Method::GET, &format!("/networks?filters={filter}"), None)
            .await?;
        for network in networks.as_array().into_iter().flatten() {
            if let Some(id) = network["Id"].as_str() {
                match self
                    .call(Method::DELETE, &format!("/networks/{id}"), None)
                    .await
                {
                    Ok(_) | Err(EngineError::Status(StatusCode::NOT_FOUND, _)) => {}
                    Err(other) => return Err(other),
                }
            }
        }
        let volumes = self
            .call(Method::GET, &format!("/volumes?filters={filter}"), None)
            .await?;
        for volume in volumes["Volumes"].as_array().into_iter().flatten() {
            if let Some(name) = volume["Name"].as_str() {
                match self
                    .call(
                        Method::DELETE,
                        &format!("/volumes/{}?force=1", query_escape(name)),
                        None,
                    )
                    .await
                {
                    Ok(_) | Err(EngineError::Status(StatusCode::NOT_FOUND, _)) => {}
                    Err(other) => return Err(other),
                }
            }
        }
        Ok(())
    }

    /// Runs `spec` in `container` with `input` on its standard input (closed after it),
    /// adding what it writes to `output` as it arrives (so a caller that gives up early keeps
    /// what came), and returns its exit code.
    pub async fn exec(
        &self,
        container: &str,
        spec: &ExecSpec,
        input: Option<&[u8]>,
        output: &mut ExecOutput,
    ) -> Result<i64, EngineError> {
        let mut create = json!({
            "AttachStdin": input.is_some(),
            "AttachStdout": true,
            "AttachStderr": true,
            "Tty": false,
            "Cmd": spec.cmd,
            "WorkingDir": spec.workdir,
        });
        if !spec.env.is_empty() {
            create["Env"] = json!(spec.env);
        }
        if let Some(user) = &spec.user {
            create["User"] = json!(user);
        }
        let created = self
            .call(
                Method::POST,
                &format!("/containers/{container}/exec"),
                Some(create),
            )
            .await?;
        let id = created["Id"]
            .as_str()
            .ok_or_else(|| EngineError::Malformed(format!("exec create answered {created}")))?
            .to_owned();

        // The daemon hijacks the connection of `start` whatever we ask; asking for the upgrade
        // makes that explicit to hyper and gives a stream we can also write stdin into.
        let request = examen_http::http::Request::builder()
            .method(Method::POST)
            .uri(format!("/{API_VERSION}/exec/{id}/start"))
            .header("content-type", "application/json")
            .header("connection", "Upgrade")
            .header("upgrade", "tcp")
            .body(Bytes::from_static(br#"{"Detach":false,"Tty":false}"#))
            .map_err(|e| EngineError::Malformed(e.to_string()))?;
        let stream = match self.client.upgrade(request).await {
            Ok(stream) => stream,
            Err(Ok(response)) => {
                // Not upgraded: an error status (or a daemon that answers 200 and streams).
                let status = response.status();
                if status.is_success() {
                    return Err(EngineError::Malformed(format!(
                        "exec start answered {status} instead of upgrading"
                    )));
                }
                return Err(Self::ok_body(response).await.err().unwrap_or_else(|| {
                    EngineError::Malformed(format!("exec start answered {status}"))
                }));
            }
            Err(Err(err)) => return Err(EngineError::Http(err)),
        };
        let (mut reader, mut writer) = stream.split();
        let write = async {
            if let Some(input) = input {
                // A command that exits without reading all of its input breaks the pipe: that
                // is its business, not an error of the exec.
                let _ = writer.write_all(input).await;
            }
            // End of input: the daemon closes the command's stdin when our half closes.
            let _ = writer.close().await;
        };
        let read = async {
            let mut demux = Demux::default();
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = reader
                    .read(&mut buf)
                    .await
                    .map_err(|e| EngineError::Malformed(format!("exec stream: {e}")))?;
                if n == 0 {
                    break;
                }
                demux.feed(&buf[..n], output)?;
            }
            demux.finish()
        };
        let ((), read) = futures_util::future::join(write, read).await;
        read?;

        // The stream ends when the process's output closes; its exit code is recorded a moment
        // later, so the inspect is repeated while the daemon still says it runs.
        let mut delay = Duration::from_millis(1);
        loop {
            let state = self
                .call(Method::GET, &format!("/exec/{id}/json"), None)
                .await?;
            if state["Running"] != Value::Bool(true) {
                if let Some(code) = state["ExitCode"].as_i64() {
                    return Ok(code);
                }
            }
            examen_rt::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_millis(50));
        }
    }

    /// `PUT /containers/{id}/archive?path=DIR`: extracts `tar` into `dir`, refusing to
    /// replace a directory with a file.
    pub async fn put_archive(
        &self,
        container: &str,
        dir: &str,
        tar: Vec<u8>,
    ) -> Result<(), EngineError> {
        let path = format!(
            "/containers/{container}/archive?path={}&noOverwriteDirNonDir=true",
            query_escape(dir)
        );
        let response = self
            .send(
                Method::PUT,
                &path,
                Some("application/x-tar"),
                Bytes::from(tar),
            )
            .await?;
        Self::ok_body(response).await.map(drop)
    }

    /// `GET /containers/{id}/archive?path=PATH`: the path's stat (from the
    /// `X-Docker-Container-Path-Stat` header) and the response that streams its tar.
    pub async fn get_archive(
        &self,
        container: &str,
        path: &str,
    ) -> Result<(PathStat, UnixResponse), EngineError> {
        let uri = format!(
            "/containers/{container}/archive?path={}",
            query_escape(path)
        );
        let response = self.send(Method::GET, &uri, None, Bytes::new()).await?;
        if !response.status().is_success() {
            return Err(Self::ok_body(response)
                .await
                .err()
                .unwrap_or_else(|| EngineError::Malformed("archive".to_owned())));
        }
        let stat = response
            .headers()
            .get("x-docker-container-path-stat")
            .and_then(|v| v.to_str().ok())
            .and_then(PathStat::parse)
            .ok_or_else(|| EngineError::Malformed("archive without a path stat".to_owned()))?;
        Ok((stat, response))
    }
}

/// What the daemon says about a path it archives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathStat {
    /// Its size in bytes.
    pub size: u64,
    /// It is a directory.
    pub is_dir: bool,
    /// It is a symbolic link, to this target.
    pub link_target: Option<String>,
}

impl PathStat {
    /// Parses the header: base64 of `{"name","size","mode","mtime","linkTarget"}`, `mode`
    /// being a Go `os.FileMode`.
    fn parse(header: &str) -> Option<PathStat> {
        let json = base64_decode(header)?;
        let stat: Value = serde_json::from_slice(&json).ok()?;
        let mode = stat["mode"].as_u64()?;
        // Go's os.ModeDir and os.ModeSymlink.
        let is_dir = mode & (1 << 31) != 0;
        let is_link = mode & (1 << 27) != 0;
        Some(PathStat {
            size: stat["size"].as_u64().unwrap_or(0),
            is_dir,
            link_target: is_link
                .then(|| stat["linkTarget"].as_str().unwrap_or("").to_owned())
                .filter(|t| !t.is_empty()),
        })
    }
}

/// Standard base64 (padding optional), for the one header that carries it.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0;
    for c in text.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_split_across_reads_reach_their_streams() {
        let mut wire = Vec::new();
        for (kind, payload) in [(1u8, &b"out"[..]), (2, b"err"), (1, b""), (1, b"more")] {
            wire.extend_from_slice(&[kind, 0, 0, 0]);
            wire.extend_from_slice(&(payload.len() as u32).to_be_bytes());
            wire.extend_from_slice(payload);
        }
        let mut output = ExecOutput {
            stdout: Tail::new(100),
            stderr: Tail::new(100),
        };
        let mut demux = Demux::default();
        for piece in wire.chunks(3) {
            demux.feed(piece, &mut output).unwrap();
        }
        demux.finish().unwrap();
        assert_eq!(output.stdout.finish(), (b"outmore".to_vec(), 0));
        assert_eq!(output.stderr.finish(), (b"err".to_vec(), 0));

        let mut cut = Demux::default();
        cut.feed(&[1, 0, 0, 0, 0, 0, 0, 5, b'a'], &mut ExecOutput::default())
            .unwrap();
        assert!(cut.finish().is_err(), "a frame cut short is an error");
    }

    #[test]
    fn a_tail_keeps_the_end_and_counts_the_rest() {
        let mut tail = Tail::new(4);
        for _ in 0..100_000 {
            tail.push(b"ab");
        }
        tail.push(b"XYZ");
        assert_eq!(tail.finish(), (b"bXYZ".to_vec(), 200_003 - 4));
    }

    #[test]
    fn hosts_and_path_stats_parse() {
        assert_eq!(
            socket_from_host("unix:///tmp/d.sock").unwrap(),
            PathBuf::from("/tmp/d.sock")
        );
        assert!(socket_from_host("tcp://127.0.0.1:2375")
            .unwrap_err()
            .contains("not supported"));
        // {"name":"etc","size":4096,"mode":2147484141,"mtime":"...","linkTarget":""}
        let dir = "eyJuYW1lIjoiZXRjIiwic2l6ZSI6NDA5NiwibW9kZSI6MjE0NzQ4NDE0MSwibXRpbWUiOiIyMDI0LTAxLTAxVDAwOjAwOjAwWiIsImxpbmtUYXJnZXQiOiIifQ==";
        assert_eq!(
            PathStat::parse(dir),
            Some(PathStat {
                size: 4096,
                is_dir: true,
                link_target: None
            })
        );
        assert_eq!(
            label_filter(&["a=b"]),
            "%7B%22label%22%3A%5B%22a%3Db%22%5D%7D"
        );
    }
}
