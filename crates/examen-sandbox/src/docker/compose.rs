//! Compose files for the docker sandbox: which one a sample uses (Inspect's discovery
//! rules), what it says about its services (the default one, `container_name`, `x-local`
//! images, networking), the files examen writes next to it (a generated main file when there
//! is none, and an override adding labels and `network_mode: none`), and the `docker-compose`
//! command lines for `up` and `down`, the only two things the compose CLI is used for.
//!
//! Generated files are JSON, which is YAML too, so they need no YAML writer.

use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value};
use yaml_rust2::{Yaml, YamlLoader};

use crate::SandboxError;

/// The compose files looked for in the working directory, in Inspect's order.
pub const COMPOSE_FILES: [&str; 4] = [
    "compose.yaml",
    "compose.yml",
    "docker-compose.yaml",
    "docker-compose.yml",
];

/// Where a sample's services come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A compose file.
    Compose(PathBuf),
    /// A Dockerfile: a `default` service built from it.
    Dockerfile(PathBuf),
    /// No configuration: a `default` service from this image.
    Image(String),
}

/// The configuration's source by Inspect's rules: an explicit file (relative to `cwd`), else a
/// compose file in `cwd`, else a `Dockerfile` in `cwd`, else `default_image`.
pub fn resolve(
    config: Option<&str>,
    cwd: &Path,
    default_image: &str,
) -> Result<Source, SandboxError> {
    if let Some(config) = config {
        let path = cwd.join(config);
        if !path.is_file() {
            return Err(SandboxError::Invalid(format!(
                "docker sandbox configuration {} does not exist",
                path.display()
            )));
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_lowercase())
            .unwrap_or_default();
        return Ok(if name.contains("dockerfile") {
            Source::Dockerfile(path)
        } else {
            Source::Compose(path)
        });
    }
    for name in COMPOSE_FILES {
        let path = cwd.join(name);
        if path.is_file() {
            return Ok(Source::Compose(path));
        }
    }
    let dockerfile = cwd.join("Dockerfile");
    if dockerfile.is_file() {
        return Ok(Source::Dockerfile(dockerfile));
    }
    Ok(Source::Image(default_image.to_owned()))
}

/// A service as examen needs to know it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    /// Its name.
    pub name: String,
    /// It says `x-default: true`.
    pub x_default: bool,
    /// Its image, when it names one.
    pub image: Option<String>,
    /// It is built (`build:`), so its image need not exist beforehand.
    pub build: bool,
    /// It says `x-local: true`: its image is never pulled.
    pub x_local: bool,
    /// It chooses its own networking (`network_mode:` or `networks:`).
    pub networking: bool,
}

/// A compose file's services and version.
#[derive(Debug, Clone)]
pub struct ComposeFile {
    /// Its top-level `version:`, which an override file must repeat (compose v1 refuses to
    /// merge files of different versions).
    pub version: Option<String>,
    /// Its services, in the file's order.
    pub services: Vec<Service>,
}

fn yaml_str(yaml: &Yaml) -> Option<String> {
    match yaml {
        Yaml::String(s) | Yaml::Real(s) => Some(s.clone()),
        Yaml::Integer(i) => Some(i.to_string()),
        _ => None,
    }
}

/// Reads a compose file's text; `container_name` is refused (epochs would collide on it).
pub fn parse(text: &str, path: &Path) -> Result<ComposeFile, SandboxError> {
    let invalid = |why: String| SandboxError::Invalid(format!("{}: {why}", path.display()));
    let docs = YamlLoader::load_from_str(text).map_err(|e| invalid(e.to_string()))?;
    let doc = docs
        .first()
        .ok_or_else(|| invalid("empty compose file".to_owned()))?;
    let version = yaml_str(&doc["version"]);
    let Yaml::Hash(services) = &doc["services"] else {
        return Err(invalid("no `services:` in the compose file".to_owned()));
    };
    let mut out = Vec::new();
    for (name, service) in services {
        let name = yaml_str(name).ok_or_else(|| invalid("a service name is not text".into()))?;
        if let Some(container_name) = yaml_str(&service["container_name"]) {
            return Err(invalid(format!(
                "service '{name}' sets container_name ('{container_name}'), which is not permitted: container names are provisioned by compose, and a fixed one would collide between epochs and samples"
            )));
        }
        out.push(Service {
            x_default: service["x-default"].as_bool() == Some(true),
            image: yaml_str(&service["image"]),
            build: !service["build"].is_badvalue() && !service["build"].is_null(),
            x_local: service["x-local"].as_bool() == Some(true),
            networking: !service["network_mode"].is_badvalue()
                || !service["networks"].is_badvalue(),
            name,
        });
    }
    if out.is_empty() {
        return Err(invalid("the compose file has no services".to_owned()));
    }
    Ok(ComposeFile {
        version,
        services: out,
    })
}

/// The default service: the one marked `x-default: true`, else the one named `default`, else
/// the first (Inspect has no third rule: it refuses such a file).
pub fn default_service(services: &[Service]) -> Option<&str> {
    services
        .iter()
        .find(|s| s.x_default)
        .or_else(|| services.iter().find(|s| s.name == "default"))
        .or_else(|| services.first())
        .map(|s| s.name.as_str())
}

/// The `default` service examen generates for a Dockerfile or an image: Inspect's
/// (`tail -f /dev/null` under an init, no network, a 1 s stop grace), plus a limit on
/// processes so a fork bomb stays inside its container.
pub fn generated(source: &Source) -> Value {
    let mut service = json!({
        "command": "tail -f /dev/null",
        "init": true,
        "network_mode": "none",
        "stop_grace_period": "1s",
        "pids_limit": 1024,
    });
    match source {
        Source::Dockerfile(path) => {
            let dir = path.parent().unwrap_or(Path::new("/"));
            let file = path.file_name().map(|n| n.to_string_lossy().into_owned());
            service["build"] = json!({ "context": dir, "dockerfile": file });
        }
        Source::Image(image) => service["image"] = json!(image),
        Source::Compose(_) => {}
    }
    json!({ "services": { "default": service } })
}

/// The override examen adds to every project: labels on each service's containers (so
/// leftovers are found by eval id with no state file) and `network_mode: none` for services
/// that do not choose their own networking.
pub fn labels_override(file: &ComposeFile, labels: &[(&str, String)]) -> Value {
    let labels: Map<String, Value> = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), json!(v)))
        .collect();
    let mut services = Map::new();
    for service in &file.services {
        let mut entry = json!({ "labels": labels });
        if !service.networking {
            entry["network_mode"] = json!("none");
        }
        services.insert(service.name.clone(), entry);
    }
    let mut doc = json!({ "services": services });
    if let Some(version) = &file.version {
        doc["version"] = json!(version);
    }
    doc
}

/// A compose project name, `examen-{task}-{6 random}`: the task lowercased to compose's
/// alphabet and cut to 12 characters, as Inspect names its projects.
pub fn project_name(task: &str) -> String {
    let mut cleaned = String::new();
    for c in task.to_lowercase().chars() {
        let c = if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
            c
        } else {
            '-'
        };
        if !(c == '-' && cleaned.ends_with('-')) {
            cleaned.push(c);
        }
    }
    let mut task: String = cleaned.chars().take(12).collect();
    while task.ends_with('_') || task.ends_with('-') {
        task.pop();
    }
    let task = task.trim_start_matches(['-', '_']);
    let task = if task.is_empty() { "task" } else { task };
    let random: String = examen_types::short_uuid()
        .to_lowercase()
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(6)
        .collect();
    format!("examen-{task}-{random}")
}

/// The compose CLI: `docker-compose` (v1) when it is on `PATH`, else the `docker compose`
/// plugin.
pub fn compose_command() -> std::process::Command {
    let on_path = |name: &str| {
        std::env::var_os("PATH")
            .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(name).is_file()))
    };
    if on_path("docker-compose") {
        std::process::Command::new("docker-compose")
    } else {
        let mut command = std::process::Command::new("docker");
        command.arg("compose");
        command
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services_defaults_and_container_name() {
        let file = parse(
            "version: '3.8'\nservices:\n  a:\n    image: x\n    x-local: true\n  b:\n    build: .\n    x-default: true\n    network_mode: bridge\n",
            Path::new("c.yaml"),
        )
        .unwrap();
        assert_eq!(file.version.as_deref(), Some("3.8"));
        assert_eq!(default_service(&file.services), Some("b"));
        assert!(file.services[0].x_local && !file.services[0].build);
        assert!(file.services[1].build && file.services[1].networking);
        let overridden = labels_override(&file, &[("examen.eval_id", "e".to_owned())]);
        assert_eq!(overridden["services"]["a"]["network_mode"], "none");
        assert!(overridden["services"]["b"].get("network_mode").is_none());
        assert_eq!(overridden["version"], "3.8");

        let plain = parse(
            "services:\n  first:\n    image: x\n  default:\n    image: y\n",
            Path::new("c.yaml"),
        )
        .unwrap();
        assert_eq!(default_service(&plain.services), Some("default"));
        let only = parse("services:\n  one:\n    image: x\n", Path::new("c.yaml")).unwrap();
        assert_eq!(default_service(&only.services), Some("one"));

        let named = parse(
            "services:\n  default:\n    image: x\n    container_name: fixed\n",
            Path::new("c.yaml"),
        )
        .unwrap_err();
        assert!(named.to_string().contains("container_name"), "{named}");
    }

    #[test]
    fn project_names_fit_compose() {
        let name = project_name("My Task: with/odd__chars!!");
        let (prefix, random) = name.rsplit_once('-').unwrap();
        assert_eq!(prefix, "examen-my-task-with");
        assert_eq!(random.len(), 6);
        assert!(project_name("").starts_with("examen-task-"));
    }
}
