//! Docker for the tests: `scripts/docker.sh up` once per test process, and the provider
//! pointed at the daemon it prints.
//!
//! When docker cannot be had, a test says `SKIPPED: ...` and passes, except under `CI=true`,
//! where it fails: CI must run the docker sandbox for real.

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use std::sync::Arc;

use examen_sandbox::{
    DockerProvider, ExecRequest, SampleInfo, Sandbox, SandboxConfig, SandboxEnvironments,
    SandboxProvider,
};

/// The `DOCKER_HOST` `scripts/docker.sh up` printed, or why there is none.
fn docker_host() -> &'static Result<String, String> {
    static HOST: OnceLock<Result<String, String>> = OnceLock::new();
    HOST.get_or_init(|| {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/docker.sh");
        let out = Command::new("bash")
            .arg(&script)
            .arg("up")
            .output()
            .map_err(|e| format!("running {}: {e}", script.display()))?;
        if !out.status.success() {
            return Err(format!(
                "scripts/docker.sh up failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        let stdout = String::from_utf8_lossy(&out.stdout);
        stdout
            .lines()
            .find_map(|line| line.strip_prefix("DOCKER_HOST="))
            .map(str::to_owned)
            .ok_or_else(|| format!("scripts/docker.sh up printed no DOCKER_HOST: {stdout}"))
    })
}

/// The docker provider on the tests' daemon; `None` (after saying why) when there is none
/// outside CI. Panics under `CI=true` when docker cannot be started.
#[allow(dead_code)] // Reason: each test binary uses its own part of this module.
pub(crate) fn docker() -> Option<DockerProvider> {
    match docker_host() {
        Ok(host) => Some(DockerProvider::new().with_docker_host(host.clone())),
        Err(why) => {
            let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
            assert!(!ci, "docker is required under CI=true: {why}");
            // Straight to the terminal: libtest captures the output of passing tests, and a
            // skip nobody sees reads as a pass.
            use std::io::Write as _;
            let _ = writeln!(std::io::stderr(), "SKIPPED: docker sandbox tests: {why}");
            None
        }
    }
}

/// The tests' daemon's socket path, for the tests that check on it directly.
#[allow(dead_code)] // Reason: each test binary uses its own part of this module.
pub(crate) fn docker_socket() -> Option<String> {
    docker_host()
        .as_ref()
        .ok()
        .map(|host| host.trim_start_matches("unix://").to_owned())
}

/// Whether bubblewrap is here to test the `bwrap` provider: without it the provider is
/// skipped, with a word, except on CI (`CI=true`), where that fails the test.
#[allow(dead_code)] // Reason: each test binary uses its own part of this module.
pub(crate) fn bwrap_available() -> bool {
    let found = std::env::var_os("EXAMEN_BWRAP").map_or_else(
        || {
            std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
                .any(|dir| dir.join("bwrap").is_file())
        },
        |path| std::path::Path::new(&path).is_file(),
    );
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "bubblewrap (`bwrap`) is missing on CI: install the `bubblewrap` package"
        );
        eprintln!("SKIPPED: the bwrap provider, as bubblewrap (`bwrap`) is not installed");
    }
    found
}

/// One sample's sandboxes from `provider`, and the way to take them down.
#[allow(dead_code)] // Reason: each test binary uses its own part of this module.
pub(crate) struct Sample {
    provider: Arc<dyn SandboxProvider>,
    pub(crate) envs: Option<SandboxEnvironments>,
}

#[allow(dead_code)] // Reason: each test binary uses its own part of this module.
impl Sample {
    pub(crate) async fn start(provider: Arc<dyn SandboxProvider>) -> Sample {
        let envs = provider
            .sample_init(&SandboxConfig::default(), &SampleInfo::default())
            .await
            .unwrap_or_else(|e| panic!("{}: sample_init failed: {e}", provider.name()));
        Sample {
            provider,
            envs: Some(envs),
        }
    }

    pub(crate) fn sandbox(&self) -> Arc<dyn Sandbox> {
        self.envs
            .as_ref()
            .and_then(|envs| envs.default_sandbox())
            .cloned()
            .expect("a default sandbox")
    }

    pub(crate) async fn cleanup(mut self, interrupted: bool) {
        let envs = self.envs.take().expect("not cleaned up yet");
        self.provider
            .sample_cleanup(&SandboxConfig::default(), envs, interrupted)
            .await
            .unwrap_or_else(|e| panic!("{}: sample_cleanup failed: {e}", self.provider.name()));
    }
}

#[allow(dead_code)] // Reason: each test binary uses its own part of this module.
pub(crate) fn sh(script: &str) -> ExecRequest {
    ExecRequest::new(["sh", "-c", script])
}
