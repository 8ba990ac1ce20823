//! The `docker` provider (Inspect's `docker` sandbox): one compose project per sample, its
//! services as the sample's environments, default first.
//!
//! The compose CLI only brings a project up and takes it down. Everything else, execs,
//! files, liveness and the search for leftovers, goes through the Docker Engine API over
//! its unix socket ([`engine`]), so a tool call costs a few requests on kept-alive
//! connections instead of a CLI process, and tool concurrency is not capped by processes.
//!
//! How it differs from Inspect, on purpose:
//! - With no configuration the `default` service runs [`DEFAULT_IMAGE`] (set
//!   `EXAMEN_DOCKER_IMAGE` for another), not `aisiuk/inspect-tool-support`: no image is pulled
//!   unless a service needs one that is missing and is not marked `x-local: true`.
//! - Services that do not choose their networking (`network_mode:` or `networks:`) get
//!   `network_mode: none`; a sandbox reaches nothing unless its compose file says so.
//! - A compose file with neither a `default` nor an `x-default: true` service uses its first
//!   service as the default (Inspect refuses it).
//! - Generated services carry a `pids_limit`, so a fork bomb stays inside.
//! - `write_file` goes through the archive endpoint as root; for a container whose user is
//!   not root the file is then given to that user (`chown`), its new parents stay root's.
//!
//! Containers are labelled `examen.eval_id`, `examen.sample_id` and `examen.epoch` (through an
//! override compose file), so [`leftovers`](crate::SandboxProvider::leftovers) needs no state.

pub mod compose;
pub mod engine;

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::{
    BoxFuture, ExecRequest, ExecResult, Leftover, SampleInfo, Sandbox, SandboxConfig,
    SandboxConnection, SandboxEnvironments, SandboxError, SandboxProvider, DEFAULT_OUTPUT_LIMIT,
    MAX_READ_FILE_SIZE,
};
use compose::{ComposeFile, Source};
use engine::{Engine, EngineError, ExecOutput, ExecSpec, Tail};

/// The image of the generated `default` service when `EXAMEN_DOCKER_IMAGE` is not set
/// (`scripts/docker.sh up` builds it: Debian bookworm minbase with python3).
pub const DEFAULT_IMAGE: &str = "examen-sandbox:bookworm";

/// The variable naming another default image.
pub const IMAGE_ENV: &str = "EXAMEN_DOCKER_IMAGE";

/// The label carrying the eval id (and the prefix of the other two).
pub const EVAL_LABEL: &str = "examen.eval_id";

const PROJECT_LABEL: &str = "com.docker.compose.project";
const SERVICE_LABEL: &str = "com.docker.compose.service";

/// After `timeout` sends `SIGTERM`, how long before it sends `SIGKILL` (Inspect's `-k 5s`).
const KILL_AFTER: &str = "5s";
/// How much longer than a command's timeout the host waits for the daemon (Inspect's +10 s).
const HOST_SLACK: Duration = Duration::from_secs(10);

/// Makes `docker` sandboxes: a compose project per sample.
#[derive(Debug)]
pub struct DockerProvider {
    output_limit: usize,
    default_image: String,
    docker_host: Option<String>,
    up_timeout: Duration,
    down_timeout: Duration,
    engine: OnceLock<Result<Engine, String>>,
}

impl Default for DockerProvider {
    fn default() -> Self {
        DockerProvider {
            output_limit: DEFAULT_OUTPUT_LIMIT,
            default_image: std::env::var(IMAGE_ENV)
                .ok()
                .filter(|image| !image.is_empty())
                .unwrap_or_else(|| DEFAULT_IMAGE.to_owned()),
            docker_host: None,
            up_timeout: Duration::from_secs(600),
            down_timeout: Duration::from_secs(60),
            engine: OnceLock::new(),
        }
    }
}

impl DockerProvider {
    /// The provider as the environment configures it (`DOCKER_HOST`, `EXAMEN_DOCKER_IMAGE`).
    pub fn new() -> DockerProvider {
        DockerProvider::default()
    }

    /// Talking to the daemon at `host` (`unix://PATH`) rather than the environment's.
    pub fn with_docker_host(mut self, host: impl Into<String>) -> DockerProvider {
        self.docker_host = Some(host.into());
        self.engine = OnceLock::new();
        self
    }

    /// Keeping `limit` bytes of each output stream of a command.
    pub fn with_output_limit(mut self, limit: usize) -> DockerProvider {
        self.output_limit = limit;
        self
    }

    /// With `image` for the generated `default` service.
    pub fn with_default_image(mut self, image: impl Into<String>) -> DockerProvider {
        self.default_image = image.into();
        self
    }

    /// The Engine API client, made on first use.
    pub fn engine(&self) -> Result<&Engine, SandboxError> {
        let made = self.engine.get_or_init(|| {
            let socket = match &self.docker_host {
                Some(host) => engine::socket_from_host(host)?,
                None => engine::socket_from_env()?,
            };
            Ok(Engine::new(socket))
        });
        made.as_ref()
            .map_err(|why| SandboxError::Invalid(why.clone()))
    }

    /// The daemon answers, or a message that says where it was looked for.
    async fn reachable(&self) -> Result<&Engine, SandboxError> {
        let engine = self.engine()?;
        engine.ping().await.map_err(|e| {
            SandboxError::Invalid(format!(
                "the docker sandbox cannot reach the Docker daemon at unix://{}: {e} (start dockerd, or set DOCKER_HOST=unix:///path/to/docker.sock)",
                engine.socket().display()
            ))
        })?;
        Ok(engine)
    }

    fn compose(&self, engine: &Engine, project: &Project) -> std::process::Command {
        let mut command = compose::compose_command();
        command
            .env(
                "DOCKER_HOST",
                format!("unix://{}", engine.socket().display()),
            )
            .arg("-p")
            .arg(&project.name);
        for file in &project.files {
            command.arg("-f").arg(file);
        }
        command
    }

    /// Takes a project down: `compose down --volumes`, then whatever is still labelled with
    /// it through the API (a compose that failed or timed out), then its generated files.
    async fn down(&self, engine: &Engine, project: &Project) -> Result<(), SandboxError> {
        let mut command = self.compose(engine, project);
        command.args(["down", "--volumes"]);
        let _ = examen_rt::process::run(command, None, Some(self.down_timeout)).await;
        let removed = engine
            .remove_project(&project.name)
            .await
            .map_err(|e| io_error(format!("removing compose project {}", project.name), e));
        let dir = project.dir.clone();
        let _ = examen_rt::to_thread(move || std::fs::remove_dir_all(dir)).await;
        removed
    }

    async fn start(
        &self,
        engine: &Engine,
        config: &SandboxConfig,
        sample: &SampleInfo,
    ) -> Result<(Arc<Project>, ComposeFile), SandboxError> {
        let cwd = std::env::current_dir().map_err(|source| SandboxError::Io {
            what: "finding the working directory".to_owned(),
            source,
        })?;
        let source = compose::resolve(config.config.as_deref(), &cwd, &self.default_image)?;
        let name = compose::project_name(&sample.task);
        let dir = std::env::temp_dir()
            .join("examen-docker-compose")
            .join(&name);
        let main = match &source {
            Source::Compose(path) => path.clone(),
            _ => dir.join("compose.json"),
        };
        let override_file = dir.join("override.json");
        let generated = match &source {
            Source::Compose(_) => None,
            other => Some(compose::generated(other).to_string()),
        };
        let labels = [
            (EVAL_LABEL, sample.eval_id.clone()),
            ("examen.sample_id", sample.sample_id.clone()),
            ("examen.epoch", sample.epoch.to_string()),
        ];
        let (made_dir, main_file) = (dir.clone(), main.clone());
        let file = examen_rt::to_thread(move || -> Result<ComposeFile, SandboxError> {
            let io = |what: &str, source| SandboxError::Io {
                what: what.to_owned(),
                source,
            };
            std::fs::create_dir_all(&made_dir)
                .map_err(|e| io("making the compose directory", e))?;
            if let Some(text) = &generated {
                std::fs::write(&main_file, text).map_err(|e| io("writing the compose file", e))?;
            }
            let text = std::fs::read_to_string(&main_file)
                .map_err(|e| io(&format!("reading {}", main_file.display()), e))?;
            let file = compose::parse(&text, &main_file)?;
            let overrides = compose::labels_override(&file, &labels);
            std::fs::write(&override_file, overrides.to_string())
                .map_err(|e| io("writing the compose override", e))?;
            Ok(file)
        })
        .await;
        let project = Arc::new(Project {
            name,
            files: vec![main, dir.join("override.json")],
            dir,
        });
        let file = match file {
            Ok(file) => file,
            Err(e) => {
                let dir = project.dir.clone();
                let _ = examen_rt::to_thread(move || std::fs::remove_dir_all(dir)).await;
                return Err(e);
            }
        };
        // Images are never pulled unless missing, and never when marked local (a generated
        // service's image is local by definition).
        for service in &file.services {
            let Some(image) = service.image.as_deref().filter(|_| !service.build) else {
                continue;
            };
            let present = engine
                .image_present(image)
                .await
                .map_err(|e| io_error(format!("looking for image {image}"), e))?;
            if present {
                continue;
            }
            if service.x_local || !matches!(source, Source::Compose(_)) {
                let _ = self.down(engine, &project).await;
                return Err(SandboxError::Invalid(format!(
                    "docker image '{image}' (service '{}') is not present, and a local image is never pulled: build it (examen's default image comes from scripts/docker.sh up) or set {IMAGE_ENV}",
                    service.name
                )));
            }
            let mut pull = self.compose(engine, &project);
            pull.args(["pull", &service.name]);
            let pulled = examen_rt::process::run(pull, None, Some(self.up_timeout)).await;
            if !pulled.as_ref().is_ok_and(|out| out.status.success()) {
                let _ = self.down(engine, &project).await;
                let why = match pulled {
                    Ok(out) => String::from_utf8_lossy(&out.stderr).trim().to_owned(),
                    Err(e) => e.to_string(),
                };
                return Err(SandboxError::Invalid(format!(
                    "docker image '{image}' (service '{}') is not present and could not be pulled: {why}. If it is built locally, add 'x-local: true' to the service",
                    service.name
                )));
            }
        }
        Ok((project, file))
    }

    /// Brings the project up and waits until every service's container runs (and is healthy,
    /// when it has a healthcheck): compose v1 has no `up --wait`.
    async fn up(
        &self,
        engine: &Engine,
        project: &Project,
        file: &ComposeFile,
    ) -> Result<Vec<Value>, SandboxError> {
        let mut command = self.compose(engine, project);
        command.args(["up", "--detach"]);
        let out = examen_rt::process::run(command, None, Some(self.up_timeout))
            .await
            .map_err(|e| SandboxError::Invalid(format!("docker compose up failed: {e}")))?;
        if !out.status.success() {
            return Err(SandboxError::Invalid(format!(
                "docker compose up failed for project {}: {}",
                project.name,
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        let label = format!("{PROJECT_LABEL}={}", project.name);
        let deadline = Instant::now() + self.up_timeout;
        let mut delay = Duration::from_millis(20);
        loop {
            let containers = engine
                .containers_labelled(&[&label])
                .await
                .map_err(|e| io_error(format!("listing project {}", project.name), e))?;
            let mut ready = Vec::new();
            for service in &file.services {
                let Some(listed) = containers
                    .iter()
                    .find(|c| c["Labels"][SERVICE_LABEL] == service.name.as_str())
                else {
                    break;
                };
                let id = listed["Id"].as_str().unwrap_or_default();
                let inspected = engine
                    .inspect_container(id)
                    .await
                    .map_err(|e| io_error(format!("inspecting container {id}"), e))?;
                let state = &inspected["State"];
                if state["Status"] == "exited" || state["Status"] == "dead" {
                    return Err(SandboxError::Invalid(format!(
                        "service '{}' of project {} exited (code {}) instead of running",
                        service.name, project.name, state["ExitCode"]
                    )));
                }
                let health = state["Health"]["Status"].as_str();
                if state["Running"] != true || matches!(health, Some("starting")) {
                    break;
                }
                if health == Some("unhealthy") {
                    return Err(SandboxError::Invalid(format!(
                        "service '{}' of project {} is unhealthy",
                        service.name, project.name
                    )));
                }
                ready.push(inspected);
            }
            if ready.len() == file.services.len() {
                return Ok(ready);
            }
            if Instant::now() >= deadline {
                return Err(SandboxError::Invalid(format!(
                    "project {}'s services were not all running after {:?}",
                    project.name, self.up_timeout
                )));
            }
            examen_rt::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_millis(250));
        }
    }
}

fn io_error(what: String, error: EngineError) -> SandboxError {
    SandboxError::Io {
        what,
        source: std::io::Error::other(error.to_string()),
    }
}

/// A compose project: its name, its files, and the directory of the ones examen wrote.
#[derive(Debug)]
struct Project {
    name: String,
    files: Vec<PathBuf>,
    dir: PathBuf,
}

impl SandboxProvider for DockerProvider {
    fn name(&self) -> &str {
        "docker"
    }

    fn default_concurrency(&self) -> Option<usize> {
        let cpus = std::thread::available_parallelism().map_or(1, usize::from);
        Some(2 * cpus)
    }

    fn is_docker_compatible(&self) -> bool {
        true
    }

    fn task_init<'a>(
        &'a self,
        _task: &'a str,
        _config: &'a SandboxConfig,
    ) -> BoxFuture<'a, Result<(), SandboxError>> {
        Box::pin(async move { self.reachable().await.map(drop) })
    }

    fn sample_init<'a>(
        &'a self,
        config: &'a SandboxConfig,
        sample: &'a SampleInfo,
    ) -> BoxFuture<'a, Result<SandboxEnvironments, SandboxError>> {
        Box::pin(async move {
            let engine = self.reachable().await?;
            let (project, file) = self.start(engine, config, sample).await?;
            let containers = match self.up(engine, &project, &file).await {
                Ok(containers) => containers,
                Err(e) => {
                    let _ = self.down(engine, &project).await;
                    return Err(e);
                }
            };
            let default = compose::default_service(&file.services).unwrap_or("default");
            let mut order: Vec<usize> = (0..file.services.len()).collect();
            order.sort_by_key(|&i| file.services[i].name != default);
            let mut envs = SandboxEnvironments::new();
            for i in order {
                let inspected = &containers[i];
                let working_dir = inspected["Config"]["WorkingDir"]
                    .as_str()
                    .filter(|dir| !dir.is_empty())
                    .unwrap_or("/")
                    .to_owned();
                let user = inspected["Config"]["User"]
                    .as_str()
                    .filter(|u| !u.is_empty() && *u != "root" && *u != "0" && *u != "0:0")
                    .map(str::to_owned);
                let sandbox = DockerSandbox {
                    engine: engine.clone(),
                    project: project.clone(),
                    service: file.services[i].name.clone(),
                    container_id: inspected["Id"].as_str().unwrap_or_default().to_owned(),
                    container_name: inspected["Name"]
                        .as_str()
                        .unwrap_or_default()
                        .trim_start_matches('/')
                        .to_owned(),
                    working_dir,
                    non_root_user: user,
                    output_limit: self.output_limit,
                };
                envs.insert(file.services[i].name.clone(), Arc::new(sandbox));
            }
            Ok(envs)
        })
    }

    fn sample_cleanup<'a>(
        &'a self,
        _config: &'a SandboxConfig,
        environments: SandboxEnvironments,
        _interrupted: bool,
    ) -> BoxFuture<'a, Result<(), SandboxError>> {
        Box::pin(async move {
            let mut projects: Vec<Arc<Project>> = Vec::new();
            for sandbox in environments.of_type::<DockerSandbox>() {
                if !projects.iter().any(|p| Arc::ptr_eq(p, &sandbox.project)) {
                    projects.push(sandbox.project.clone());
                }
            }
            if projects.is_empty() {
                return Ok(());
            }
            let engine = self.engine()?;
            for project in projects {
                self.down(engine, &project).await?;
            }
            Ok(())
        })
    }

    fn leftovers(&self) -> BoxFuture<'_, Result<Vec<Leftover>, SandboxError>> {
        Box::pin(async move {
            let engine = self.reachable().await?;
            let containers = engine
                .containers_labelled(&[EVAL_LABEL])
                .await
                .map_err(|e| io_error("listing labelled containers".to_owned(), e))?;
            let mut found: Vec<Leftover> = Vec::new();
            for container in containers {
                let labels = &container["Labels"];
                let Some(project) = labels[PROJECT_LABEL].as_str() else {
                    continue;
                };
                let name = container["Names"][0]
                    .as_str()
                    .unwrap_or_default()
                    .trim_start_matches('/')
                    .to_owned();
                match found.iter_mut().find(|l| l.id == project) {
                    Some(leftover) => leftover.description.push_str(&format!(", {name}")),
                    None => found.push(Leftover {
                        id: project.to_owned(),
                        eval_id: labels[EVAL_LABEL].as_str().unwrap_or_default().to_owned(),
                        description: format!("compose project {project}: containers {name}"),
                    }),
                }
            }
            found.sort_by(|a, b| a.id.cmp(&b.id));
            Ok(found)
        })
    }

    fn remove_leftover<'a>(
        &'a self,
        leftover: &'a Leftover,
    ) -> BoxFuture<'a, Result<(), SandboxError>> {
        Box::pin(async move {
            let id = &leftover.id;
            let valid = id.starts_with("examen-")
                && id
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_".contains(&b));
            if !valid {
                return Err(SandboxError::Invalid(format!(
                    "`{id}` is not a docker sandbox's compose project (they are named examen-...)"
                )));
            }
            let engine = self.reachable().await?;
            // The compose files may be long gone: the API removes by label alone.
            engine
                .remove_project(id)
                .await
                .map_err(|e| io_error(format!("removing compose project {id}"), e))?;
            let dir = std::env::temp_dir().join("examen-docker-compose").join(id);
            let _ = examen_rt::to_thread(move || std::fs::remove_dir_all(dir)).await;
            Ok(())
        })
    }
}

/// One service of a sample's compose project.
#[derive(Debug)]
pub struct DockerSandbox {
    engine: Engine,
    project: Arc<Project>,
    service: String,
    container_id: String,
    container_name: String,
    working_dir: String,
    non_root_user: Option<String>,
    output_limit: usize,
}

impl DockerSandbox {
    /// The container's name.
    pub fn container(&self) -> &str {
        &self.container_name
    }

    /// The compose project's name.
    pub fn project(&self) -> &str {
        &self.project.name
    }

    /// The service's name.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// The working directory (the image's `WORKDIR`, else `/`).
    pub fn working_dir(&self) -> &str {
        &self.working_dir
    }

    fn resolve(&self, path: &str) -> String {
        if path.starts_with('/') {
            path.to_owned()
        } else if self.working_dir.ends_with('/') {
            format!("{}{path}", self.working_dir)
        } else {
            format!("{}/{path}", self.working_dir)
        }
    }

    /// The sandbox is gone when its container no longer runs.
    async fn alive(&self) -> bool {
        match self.engine.inspect_container(&self.container_id).await {
            Ok(state) => state["State"]["Running"] == true,
            Err(EngineError::Status(status, _)) => status.as_u16() != 404,
            // The daemon did not answer: that is not the container's death.
            Err(_) => true,
        }
    }

    fn gone(&self, why: impl std::fmt::Display) -> SandboxError {
        SandboxError::Unavailable(format!(
            "container {} (service '{}'): {why}",
            self.container_name, self.service
        ))
    }

    async fn engine_failure(&self, what: &str, error: EngineError) -> SandboxError {
        if matches!(error.status().map(|s| s.as_u16()), Some(404 | 409)) || !self.alive().await {
            return self.gone(error);
        }
        io_error(
            format!("{what} in container {}", self.container_name),
            error,
        )
    }
}

impl Sandbox for DockerSandbox {
    fn exec(&self, request: ExecRequest) -> BoxFuture<'_, Result<ExecResult, SandboxError>> {
        Box::pin(async move {
            if request.cmd.is_empty() {
                return Err(SandboxError::Invalid("exec needs a command".to_owned()));
            }
            let mut cmd = Vec::new();
            if let Some(timeout) = request.timeout {
                // Inside the container too: dropping our end of the stream would leave the
                // command running there.
                cmd.extend([
                    "timeout".to_owned(),
                    "-k".to_owned(),
                    KILL_AFTER.to_owned(),
                    format!("{}s", timeout.as_secs_f64()),
                ]);
            }
            cmd.extend(request.cmd.iter().cloned());
            let spec = ExecSpec {
                cmd,
                env: request
                    .env
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect(),
                workdir: match &request.cwd {
                    Some(cwd) => self.resolve(cwd),
                    None => self.working_dir.clone(),
                },
                user: request.user.clone(),
            };
            let mut output = ExecOutput {
                stdout: Tail::new(self.output_limit),
                stderr: Tail::new(self.output_limit),
            };
            let started = Instant::now();
            let run = self.engine.exec(
                &self.container_id,
                &spec,
                request.input.as_deref(),
                &mut output,
            );
            let code = match request.timeout {
                Some(timeout) => examen_rt::timeout(timeout + HOST_SLACK, run).await.ok(),
                None => Some(run.await),
            };
            let (stdout, stdout_truncated) = output.stdout.finish();
            let (stderr, stderr_truncated) = output.stderr.finish();
            let mut result = ExecResult {
                success: false,
                returncode: -1,
                stdout: String::from_utf8_lossy(&stdout).into_owned(),
                stderr: String::from_utf8_lossy(&stderr).into_owned(),
                stdout_truncated,
                stderr_truncated,
            };
            let code = match code {
                None => {
                    return Err(SandboxError::Timeout {
                        partial: Box::new(result),
                    })
                }
                Some(Err(error)) => return Err(self.engine_failure("exec", error).await),
                Some(Ok(code)) => i32::try_from(code).unwrap_or(-1),
            };
            // A command that could not start: the daemon (20.10) answers 126 with the runtime's
            // message on stdout. It is the command's error, and a missing program is 127 as
            // a shell (and newer daemons) say.
            let mut code = code;
            if code == 126 && result.stdout.starts_with("OCI runtime exec failed") {
                if result.stdout.contains("executable file not found")
                    || result.stdout.contains("no such file or directory")
                {
                    code = 127;
                }
                result.stderr = std::mem::take(&mut result.stdout).trim_end().to_owned();
            }
            result.returncode = code;
            result.success = code == 0;
            if let Some(timeout) = request.timeout {
                // `timeout` exits 124; when its SIGKILL also reached itself, 137 (or 143),
                // which only counts once the time is up.
                let late = started.elapsed() >= timeout;
                if code == 124 || (late && (code == 137 || code == 143)) {
                    return Err(SandboxError::Timeout {
                        partial: Box::new(result),
                    });
                }
            }
            // A death by signal may have been the container's: then the sandbox is gone. The
            // daemon marks a container stopped a moment after its processes were killed, so it
            // is asked a few times before the death counts as the command's own.
            if code > 128 {
                for _ in 0..5 {
                    if !self.alive().await {
                        return Err(
                            self.gone(format!("stopped while running a command (exit {code})"))
                        );
                    }
                    examen_rt::sleep(Duration::from_millis(20)).await;
                }
            }
            Ok(result)
        })
    }

    fn write_file<'a>(
        &'a self,
        path: &'a str,
        contents: &'a [u8],
    ) -> BoxFuture<'a, Result<(), SandboxError>> {
        Box::pin(async move {
            let target = self.resolve(path);
            let tar = tar_one_file(target.trim_start_matches('/'), contents).map_err(|source| {
                SandboxError::Io {
                    what: format!("packing {path}"),
                    source,
                }
            })?;
            // Extracted at `/`, so the daemon makes the missing parent directories.
            if let Err(error) = self.engine.put_archive(&self.container_id, "/", tar).await {
                let message = error.to_string();
                return Err(if message.contains("cannot overwrite directory") {
                    SandboxError::IsADirectory {
                        path: path.to_owned(),
                    }
                } else if message.contains("not a directory") {
                    SandboxError::FileNotFound {
                        path: path.to_owned(),
                    }
                } else if error.status().map(|s| s.as_u16()) == Some(403)
                    || message.contains("permission denied")
                    || message.contains("read-only")
                {
                    SandboxError::PermissionDenied {
                        path: path.to_owned(),
                    }
                } else {
                    self.engine_failure(&format!("writing {path}"), error).await
                });
            }
            if let Some(user) = &self.non_root_user {
                // The archive was written as root; the file is the container user's, as a
                // file its own commands wrote would be.
                let owner = user.split(':').next().unwrap_or(user);
                let chown = ExecRequest::new(["chown", "--", owner, &target]).user("root");
                let result = self.exec(chown).await?;
                if !result.success {
                    return Err(SandboxError::Io {
                        what: format!("giving {path} to {owner}"),
                        source: std::io::Error::other(result.stderr),
                    });
                }
            }
            Ok(())
        })
    }

    fn read_file<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<Vec<u8>, SandboxError>> {
        Box::pin(async move {
            let mut target = self.resolve(path);
            // Symbolic links are followed, as `cat` would (the archive holds the link itself).
            for _ in 0..16 {
                let (stat, response) =
                    match self.engine.get_archive(&self.container_id, &target).await {
                        Ok(found) => found,
                        Err(EngineError::Status(status, _)) if status.as_u16() == 404 => {
                            return Err(SandboxError::FileNotFound {
                                path: path.to_owned(),
                            })
                        }
                        Err(error) => {
                            return Err(self
                                .engine_failure(&format!("reading {path}"), error)
                                .await)
                        }
                    };
                if let Some(link) = &stat.link_target {
                    target = if link.starts_with('/') {
                        link.clone()
                    } else {
                        let parent = target.rsplit_once('/').map_or("", |(dir, _)| dir);
                        format!("{parent}/{link}")
                    };
                    continue;
                }
                if stat.is_dir {
                    return Err(SandboxError::IsADirectory {
                        path: path.to_owned(),
                    });
                }
                if stat.size > MAX_READ_FILE_SIZE {
                    return Err(SandboxError::TooLarge {
                        path: path.to_owned(),
                        size: stat.size,
                        limit: MAX_READ_FILE_SIZE,
                    });
                }
                let body = response
                    .bytes()
                    .await
                    .map_err(|e| io_error(format!("reading {path}"), EngineError::Http(e)))?;
                return untar_one_file(&body).map_err(|source| SandboxError::Io {
                    what: format!("unpacking {path}"),
                    source,
                });
            }
            Err(SandboxError::Invalid(format!(
                "{path}: too many levels of symbolic links"
            )))
        })
    }

    fn connection(&self) -> Result<SandboxConnection, SandboxError> {
        let socket = self.engine.socket().to_string_lossy().into_owned();
        // The daemon may be a private one: the command names it, so it works as printed.
        let host = if socket == engine::DEFAULT_SOCKET {
            String::new()
        } else {
            format!(
                "DOCKER_HOST={} ",
                crate::shell_quote(&format!("unix://{socket}"))
            )
        };
        Ok(SandboxConnection {
            kind: "docker".to_owned(),
            command: format!(
                "{host}docker exec -it --workdir {} {} bash -l",
                crate::shell_quote(&self.working_dir),
                crate::shell_quote(&self.container_name)
            ),
            container: Some(self.container_name.clone()),
        })
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// A tar of one regular file at `path` (relative), owned by root, mode 0644.
fn tar_one_file(path: &str, contents: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::with_capacity(contents.len() + 2048));
    let mut header = tar::Header::new_gnu();
    header.set_size(contents.len() as u64);
    header.set_mode(0o644);
    header.set_uid(0);
    header.set_gid(0);
    header.set_entry_type(tar::EntryType::Regular);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    header.set_mtime(now);
    builder.append_data(&mut header, path, contents)?;
    builder.into_inner()
}

/// The contents of the first regular file in a tar.
fn untar_one_file(tar: &[u8]) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut archive = tar::Archive::new(tar);
    for entry in archive.entries()? {
        let mut entry = entry?;
        if entry.header().entry_type().is_file() {
            let mut contents = Vec::with_capacity(entry.size() as usize);
            entry.read_to_end(&mut contents)?;
            return Ok(contents);
        }
    }
    Err(std::io::Error::other("the archive holds no regular file"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_file_round_trips_through_tar() {
        let long = format!("{}/file.bin", "d".repeat(150));
        let data: Vec<u8> = (0..=255).collect();
        let tar = super::tar_one_file(&long, &data).unwrap();
        assert_eq!(super::untar_one_file(&tar).unwrap(), data);
    }
}
