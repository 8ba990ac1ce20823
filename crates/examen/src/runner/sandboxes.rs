//! The run's sandboxes: which sandbox each sample gets (Inspect's `resolve_sandbox`), the
//! providers and limits behind them, and one sample's sandboxes from `sample_init` (with the
//! sample's `files` and `setup`) to `sample_cleanup`, or to the report of what was kept under
//! `--no-sandbox-cleanup`.
//!
//! A sample's sandboxes belong to its scope: [`SampleSandboxes`] takes them down when the
//! sample ends, and, dropped because the sample was cancelled, still takes them down,
//! shielded, as interrupted. Each distinct sandbox (type and configuration) is counted while
//! its samples' sandboxes are up, so its `task_cleanup` runs after the last of them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use examen_sandbox::{
    ExecRequest, ProviderRegistry, SampleInfo, Sandbox, SandboxConfig, SandboxConnection,
    SandboxEnvironments, SandboxProvider, SandboxSpec,
};
use examen_types::JsonValue;

use crate::sample::Sample;
use crate::task::Task;

/// How long a sample's `setup` script may run (Inspect's `INSPECT_SANDBOX_SETUP_TIMEOUT`
/// default, which the same variable overrides here).
pub const SETUP_TIMEOUT: Duration = Duration::from_secs(300);

/// Sandboxes a run kept under `--no-sandbox-cleanup`: one sample's, with how to get into
/// each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptSandbox {
    /// The sandbox type (`local`, `docker`...): `examen sandbox cleanup TYPE` removes them.
    pub provider: String,
    /// The sample.
    pub sample_id: String,
    /// The epoch.
    pub epoch: usize,
    /// Each environment's name and how to get a shell in it.
    pub environments: Vec<(String, SandboxConnection)>,
}

/// One distinct sandbox of a run (a type and its configuration), and the samples' sandboxes
/// of it not taken down yet, which its `task_cleanup` waits for: a cancelled sample is
/// dropped whenever its runtime gets to it (after the run's future has moved on), so its
/// cleanup is counted rather than awaited where it starts.
#[derive(Clone)]
pub(crate) struct TaskSandbox {
    pub(crate) spec: SandboxSpec,
    pub(crate) provider: Arc<dyn SandboxProvider>,
    pub(crate) config: SandboxConfig,
    pub(crate) live: Arc<examen_rt::Outstanding>,
    /// `max_sandboxes` for this sandbox's type, shared by every configuration of the type.
    limiter: Option<examen_rt::CapacityLimiter>,
    /// Where the sandboxes go under `--no-sandbox-cleanup` (`None`: they are taken down).
    kept: Option<Arc<Mutex<Vec<KeptSandbox>>>>,
}

/// The sandboxes of one task's run.
#[derive(Default)]
pub(crate) struct TaskSandboxes {
    /// Each distinct sandbox, in the order samples first use it.
    pub(crate) distinct: Vec<TaskSandbox>,
    /// Which of [`distinct`](Self::distinct) each sample (by position) uses; `None` for a
    /// sample with no sandbox (its tools get an implicit local working directory).
    of_sample: Vec<Option<usize>>,
    /// Each sample's own `sandbox` in the log's form (`EvalSample.sandbox`), read once here.
    logged: Vec<Option<JsonValue>>,
    eval_id: String,
    task: String,
    /// Whether sandboxes are taken down (no `--no-sandbox-cleanup`).
    cleanup: bool,
    kept: Arc<Mutex<Vec<KeptSandbox>>>,
}

impl TaskSandboxes {
    /// Resolves every sample's sandbox as Inspect does: the eval's `--sandbox` replaces the
    /// task's; the task's type wins over a sample's, whose configuration is carried over when
    /// the types match (or it is a Dockerfile or compose file and the type takes those).
    /// Relative configuration files are found against the task file's directory. Returns
    /// the sandboxes and the warnings to show (a sample configuration left out).
    pub(crate) fn resolve(
        task: &Task,
        samples: &[Sample],
        eval_sandbox: Option<&SandboxSpec>,
        max_sandboxes: Option<usize>,
        cleanup: bool,
        eval_id: &str,
    ) -> Result<(TaskSandboxes, Vec<String>), String> {
        let mut registry = ProviderRegistry::default();
        if let Some(provider) = &task.sandbox_provider {
            registry.register(provider.clone());
        }
        let task_dir = task
            .source_file
            .as_deref()
            .and_then(Path::parent)
            .map(Path::to_path_buf);
        let task_spec = eval_sandbox.or(task.sandbox.as_ref());
        let mut sandboxes = TaskSandboxes {
            eval_id: eval_id.to_owned(),
            task: task.name.clone(),
            cleanup,
            ..TaskSandboxes::default()
        };
        let mut warnings = Vec::new();
        let mut limiters: HashMap<String, Option<examen_rt::CapacityLimiter>> = HashMap::new();
        for sample in samples {
            let sample_spec = match &sample.sandbox {
                None => None,
                Some(value) => SandboxSpec::from_json(value)
                    .map_err(|e| format!("sample {}: sandbox: {e}", sample_name(sample)))?,
            };
            sandboxes
                .logged
                .push(sample_spec.as_ref().map(SandboxSpec::to_json));
            let (spec, why) = SandboxSpec::resolve(task_spec, sample_spec.as_ref(), |kind| {
                registry
                    .get(kind)
                    .is_ok_and(|provider| provider.is_docker_compatible())
            });
            if let Some(why) = why {
                if !warnings.contains(&why) {
                    warnings.push(why);
                }
            }
            let Some(mut spec) = spec else {
                sandboxes.of_sample.push(None);
                continue;
            };
            spec.config = spec
                .config
                .map(|config| resolve_config(&config, task_dir.as_deref()));
            let index = match sandboxes.distinct.iter().position(|s| s.spec == spec) {
                Some(index) => index,
                None => {
                    let provider = registry.get(&spec.kind).map_err(|e| e.to_string())?;
                    let limiter = limiters
                        .entry(spec.kind.clone())
                        .or_insert_with(|| {
                            max_sandboxes
                                .or_else(|| provider.default_concurrency())
                                .map(|total| examen_rt::CapacityLimiter::new(total.max(1)))
                        })
                        .clone();
                    sandboxes.distinct.push(TaskSandbox {
                        config: SandboxConfig {
                            config: spec.config.clone(),
                        },
                        spec,
                        provider,
                        live: Arc::default(),
                        limiter,
                        kept: (!cleanup).then(|| sandboxes.kept.clone()),
                    });
                    sandboxes.distinct.len() - 1
                }
            };
            sandboxes.of_sample.push(Some(index));
        }
        Ok((sandboxes, warnings))
    }

    /// The sandbox the sample at `position` uses.
    pub(crate) fn of_sample(&self, position: usize) -> Option<&TaskSandbox> {
        let index = (*self.of_sample.get(position)?)?;
        self.distinct.get(index)
    }

    /// What the run's eval log records as `eval.sandbox`: the sandbox every sample shares,
    /// if they share one.
    pub(crate) fn shared_spec(&self) -> Option<&SandboxSpec> {
        match self.distinct.as_slice() {
            [one] => Some(&one.spec),
            _ => None,
        }
    }

    /// What was kept under `--no-sandbox-cleanup`, by sample.
    pub(crate) fn take_kept(&self) -> Vec<KeptSandbox> {
        let mut kept = std::mem::take(&mut *self.kept.lock().unwrap_or_else(|e| e.into_inner()));
        kept.sort_by(|a, b| (&a.sample_id, a.epoch).cmp(&(&b.sample_id, b.epoch)));
        kept
    }

    /// Whether sandboxes are taken down (no `--no-sandbox-cleanup`).
    pub(crate) fn cleanup(&self) -> bool {
        self.cleanup
    }

    /// The sample's own `sandbox` at `position`, as the log records it.
    pub(crate) fn logged_spec(&self, position: usize) -> Option<JsonValue> {
        self.logged.get(position).cloned().flatten()
    }
}

fn sample_name(sample: &Sample) -> String {
    sample
        .id
        .as_ref()
        .map_or_else(|| "(no id)".to_owned(), |id| format!("`{id}`"))
}

/// A relative configuration file, found against the task file's directory when it is there
/// (Inspect runs the task's sandbox set-up from that directory).
fn resolve_config(config: &str, task_dir: Option<&Path>) -> String {
    let path = Path::new(config);
    if path.is_absolute() || config.contains('\n') {
        return config.to_owned();
    }
    match task_dir.map(|dir| dir.join(path)) {
        Some(found) if found.exists() => found.display().to_string(),
        _ => config.to_owned(),
    }
}

/// A sample's sandboxes while it runs. Dropped before [`finish`](Self::finish) (the sample
/// was cancelled), it takes them down anyway, shielded, as interrupted.
pub(crate) struct SampleSandboxes {
    task: TaskSandbox,
    envs: Option<SandboxEnvironments>,
    sample_id: String,
    epoch: usize,
    /// Counts these sandboxes in the task's `live` until they are taken down.
    live: Option<examen_rt::OutstandingGuard>,
    /// The `max_sandboxes` slot, given back when they are down.
    permit: Option<examen_rt::Permit>,
}

impl SampleSandboxes {
    /// Makes the sandboxes of one sample (waiting for a `max_sandboxes` slot), writes its
    /// `files` and runs its `setup` script. A failure after `sample_init` takes down what was
    /// made before returning.
    pub(crate) async fn start(
        task: &TaskSandbox,
        sandboxes: &TaskSandboxes,
        sample: &Sample,
        epoch: usize,
    ) -> Result<SampleSandboxes, String> {
        let permit = match &task.limiter {
            Some(limiter) => Some(limiter.acquire().await),
            None => None,
        };
        let sample_id = sample
            .id
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default();
        let info = SampleInfo {
            task: sandboxes.task.clone(),
            eval_id: sandboxes.eval_id.clone(),
            sample_id: sample_id.clone(),
            epoch: epoch as u64,
            metadata: sample.metadata.clone().unwrap_or_default(),
        };
        let provider = task.provider.name().to_owned();
        let envs = init_detached(task, info)
            .await
            .map_err(|e| format!("sandbox `{provider}`: {e}"))?;
        let none = envs.default_sandbox().is_none();
        let made = SampleSandboxes {
            live: Some(task.live.enter()),
            task: task.clone(),
            envs: Some(envs),
            sample_id,
            epoch,
            permit,
        };
        if none {
            let _ = made.finish(true).await;
            return Err(format!(
                "sandbox `{provider}`: the provider made no environments for the sample"
            ));
        }
        let prepared = async {
            let envs = made.envs.as_ref().expect("made above");
            if let Some(files) = &sample.files {
                copy_files(files, envs).await?;
            }
            if let Some(setup) = &sample.setup {
                run_setup(setup, envs).await?;
            }
            Ok::<(), String>(())
        };
        match prepared.await {
            Ok(()) => Ok(made),
            Err(why) => {
                // Inspect's order: a sample whose files or setup failed is cleaned up as
                // interrupted, and fails.
                if let Err(cleanup) = made.finish(true).await {
                    return Err(format!("{why} (and its sandbox cleanup failed: {cleanup})"));
                }
                Err(why)
            }
        }
    }

    /// The environments, for the sample's tools.
    pub(crate) fn environments(&self) -> Option<SandboxEnvironments> {
        self.envs.clone()
    }

    /// Takes the sandboxes down (shielded from cancellation, within its grace period), or,
    /// under `--no-sandbox-cleanup`, records them as kept.
    pub(crate) async fn finish(mut self, interrupted: bool) -> Result<(), String> {
        let Some(envs) = self.envs.take() else {
            return Ok(());
        };
        if let Some(kept) = self.keep(&envs) {
            self.record_kept(kept);
            return Ok(());
        }
        let task = self.task.clone();
        let live = self.live.take();
        let permit = self.permit.take();
        let cleaned = examen_rt::shield(async move {
            let _held = (live, permit);
            task.provider
                .sample_cleanup(&task.config, envs, interrupted)
                .await
        })
        .await;
        match cleaned {
            Some(Ok(())) => Ok(()),
            Some(Err(e)) => Err(e.to_string()),
            None => Err("it did not finish within its grace period".to_owned()),
        }
    }

    /// What to report for `envs` when they are to be kept.
    fn keep(&self, envs: &SandboxEnvironments) -> Option<KeptSandbox> {
        self.task.kept.as_ref()?;
        let environments = envs
            .names()
            .filter_map(|name| {
                let connection = envs.get(name)?.connection().ok()?;
                Some((name.to_owned(), connection))
            })
            .collect();
        Some(KeptSandbox {
            provider: self.task.provider.name().to_owned(),
            sample_id: self.sample_id.clone(),
            epoch: self.epoch,
            environments,
        })
    }

    fn record_kept(&mut self, kept: KeptSandbox) {
        if let Some(list) = &self.task.kept {
            list.lock().unwrap_or_else(|e| e.into_inner()).push(kept);
        }
        self.live.take();
        self.permit.take();
    }
}

impl Drop for SampleSandboxes {
    fn drop(&mut self) {
        let Some(envs) = self.envs.take() else {
            return;
        };
        if let Some(kept) = self.keep(&envs) {
            self.record_kept(kept);
            return;
        }
        let task = self.task.clone();
        let held = (self.live.take(), self.permit.take());
        examen_rt::shield_detached(async move {
            let _held = held;
            // The sample was cancelled: there is no record left to put a failure in.
            // What a failed cleanup leaves is labelled for `examen sandbox cleanup`.
            let _ = task.provider.sample_cleanup(&task.config, envs, true).await;
        });
    }
}

/// Environments made by `sample_init` that nobody took: dropped with them still inside (the
/// sample was cancelled while they were being made, or before it received them), it takes
/// them down, shielded, as interrupted.
struct Made {
    task: TaskSandbox,
    envs: Option<SandboxEnvironments>,
    /// Counts the environments in the task's `live` until they are taken down.
    live: Option<examen_rt::OutstandingGuard>,
}

impl Drop for Made {
    fn drop(&mut self) {
        if let Some(envs) = self.envs.take() {
            let task = self.task.clone();
            let live = self.live.take();
            examen_rt::shield_detached(async move {
                let _live = live;
                let _ = task.provider.sample_cleanup(&task.config, envs, true).await;
            });
        }
    }
}

/// `sample_init`, run as detached shielded work: a sample cancelled while a provider makes its
/// environments (a container coming up) would otherwise drop the provider's future half-way and
/// leave what it made behind. Whatever it makes reaches the sample, or is taken down.
async fn init_detached(
    task: &TaskSandbox,
    info: SampleInfo,
) -> Result<SandboxEnvironments, examen_sandbox::SandboxError> {
    let (sender, receiver) = examen_rt::channel(1);
    let task = task.clone();
    // Counted from now, so that the task's cleanup waits for this sample's environments.
    let live = task.live.enter();
    examen_rt::shield_detached(async move {
        let made = task.provider.sample_init(&task.config, &info).await;
        let made = made.map(|envs| Made {
            task,
            envs: Some(envs),
            live: Some(live),
        });
        // A receiver that is gone drops `made`, which takes the environments down.
        let _ = sender.send(made).await;
    });
    match receiver.recv().await {
        Some(made) => {
            let mut made = made?;
            Ok(made.envs.take().expect("made with environments"))
        }
        None => Err(examen_sandbox::SandboxError::Unavailable(
            "the sandbox provider stopped while making the sample's environments".to_owned(),
        )),
    }
}

/// Writes a sample's `files` (Inspect's `copy_sandbox_environment_files`): keys are
/// `[env:]path`; a value is a file or directory on this machine (a directory's files go
/// under the key), a data URI, or literal text.
async fn copy_files(
    files: &examen_types::JsonObject,
    envs: &SandboxEnvironments,
) -> Result<(), String> {
    for (key, value) in files {
        let JsonValue::String(source) = value else {
            return Err(format!(
                "sample file `{key}`: expected a file name, a data URI or text, got {value}"
            ));
        };
        let (env, path) = match key.split_once(':') {
            Some((env, path)) => {
                let Some(sandbox) = envs.get(env) else {
                    return Err(format!(
                        "Environment referenced in sample file not found: '{key}'. Note that ':' can be optionally used to specify an explicit environment name for sample files (e.g. 'envname:file') so cannot be used as a character within filenames."
                    ));
                };
                (sandbox, path)
            }
            None => (
                envs.default_sandbox().expect("checked at start"),
                key.as_str(),
            ),
        };
        for (target, contents) in read_source(path, source).await? {
            env.write_file(&target, &contents)
                .await
                .map_err(|e| format!("sample file `{key}`: writing {target}: {e}"))?;
        }
    }
    Ok(())
}

/// The files a `files` value stands for, with where each goes: one for a file, a data URI
/// or text, and each file under a directory (at its relative path under `target`).
async fn read_source(target: &str, source: &str) -> Result<Vec<(String, Vec<u8>)>, String> {
    if source.starts_with("data:") {
        return Ok(vec![(target.to_owned(), decode_data_uri(source)?)]);
    }
    let target = target.to_owned();
    let source = source.to_owned();
    examen_rt::to_thread(move || {
        let path = PathBuf::from(&source);
        // Like Inspect: an empty string, or anything that is not a path on this machine
        // (too long, or no such file), is the file's text.
        let is = |check: fn(&Path) -> bool| !source.is_empty() && check(&path);
        if is(Path::is_dir) {
            let mut found = Vec::new();
            collect_dir(&path, &path, &target, &mut found)
                .map_err(|e| format!("sample file `{target}`: reading {source}: {e}"))?;
            return Ok(found);
        }
        if is(Path::is_file) {
            let contents = std::fs::read(&path)
                .map_err(|e| format!("sample file `{target}`: reading {source}: {e}"))?;
            return Ok(vec![(target, contents)]);
        }
        Ok(vec![(target, source.into_bytes())])
    })
    .await
}

fn collect_dir(
    root: &Path,
    dir: &Path,
    target: &str,
    found: &mut Vec<(String, Vec<u8>)>,
) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for entry in entries {
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            collect_dir(root, &path, target, found)?;
        } else if path.is_file() {
            let relative = path.strip_prefix(root).unwrap_or(&path);
            let name = Path::new(target).join(relative).display().to_string();
            found.push((name, std::fs::read(&path)?));
        }
    }
    Ok(())
}

/// The bytes of a `data:` URI (`data:[type][;base64],payload`).
fn decode_data_uri(uri: &str) -> Result<Vec<u8>, String> {
    use base64::Engine as _;
    let Some((header, payload)) = uri.split_once(',') else {
        return Err(format!(
            "`{}`: a data URI needs a `,` before its payload",
            shorten(uri)
        ));
    };
    if header.ends_with(";base64") {
        base64::engine::general_purpose::STANDARD
            .decode(payload.trim())
            .map_err(|e| format!("`{}`: invalid base64: {e}", shorten(uri)))
    } else {
        Ok(examen_http::percent_decode(payload))
    }
}

fn shorten(text: &str) -> String {
    match text.char_indices().nth(40) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text.to_owned(),
    }
}

/// Runs a sample's `setup` (Inspect's `setup_sandbox_environment`): the script (a file, a
/// data URI or its text; `#!/usr/bin/env bash` added when it has no shebang) is written to
/// `/tmp/<uuid>` in the default environment, run once, and removed.
async fn run_setup(setup: &str, envs: &SandboxEnvironments) -> Result<(), String> {
    let sandbox: &Arc<dyn Sandbox> = envs.default_sandbox().expect("checked at start");
    let mut script = read_source("setup", setup)
        .await?
        .into_iter()
        .next()
        .map(|(_, contents)| contents)
        .unwrap_or_default();
    if !String::from_utf8_lossy(&script)
        .trim_start()
        .starts_with("#!")
    {
        let mut with_shebang = b"#!/usr/bin/env bash\n\n".to_vec();
        with_shebang.extend_from_slice(&script);
        script = with_shebang;
    }
    let path = format!("/tmp/{}", examen_types::short_uuid());
    sandbox
        .write_file(&path, &script)
        .await
        .map_err(|e| format!("Failed to write the setup script for sample: {e}"))?;
    let timeout = std::env::var("INSPECT_SANDBOX_SETUP_TIMEOUT")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .map_or(SETUP_TIMEOUT, Duration::from_secs);
    let run = ExecRequest::new(["sh", "-c", "chmod +x \"$1\" && exec \"$1\"", "setup", &path])
        .timeout(timeout);
    let result = match sandbox.exec(run).await {
        Ok(result) => result,
        Err(examen_sandbox::SandboxError::Timeout { .. }) => {
            return Err("Timed out executing setup command in sandbox".to_owned())
        }
        Err(e) => return Err(format!("Failed to execute setup script for sample: {e}")),
    };
    if !result.success {
        return Err(format!(
            "Failed to execute setup script for sample: {}",
            result.stderr
        ));
    }
    // The script is gone before the solvers start; a failure to remove it is not the
    // sample's.
    let _ = sandbox.exec(ExecRequest::new(["rm", "-f", &path])).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_uris_decode_base64_and_percent_escapes() {
        assert_eq!(
            decode_data_uri("data:text/plain;base64,aGVsbG8=").unwrap(),
            b"hello"
        );
        assert_eq!(decode_data_uri("data:,a%20b%zz").unwrap(), b"a b%zz");
        assert!(decode_data_uri("data:text/plain;base64").is_err());
        assert!(decode_data_uri("data:;base64,***")
            .unwrap_err()
            .contains("invalid base64"));
    }
}
