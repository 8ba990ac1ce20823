//! Docker for the tests: `scripts/docker.sh up` once per test process, and the provider
//! pointed at the daemon it prints.
//!
//! When docker cannot be had, a test says `SKIPPED: ...` and passes, except under `CI=true`,
//! where it fails: CI must run the docker sandbox for real.

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use examen_sandbox::DockerProvider;

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
