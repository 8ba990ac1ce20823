//! Which sandbox a task or sample asks for ([`SandboxSpec`], Inspect's
//! `SandboxEnvironmentSpec`), in each form Inspect accepts, and Inspect's rule for combining a
//! task's with a sample's ([`SandboxSpec::resolve`]).

use examen_types::JsonValue;

/// A sandbox type and its configuration (usually a file: `compose.yaml`, `values.yaml`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxSpec {
    /// The provider's name (`local`, `docker`, ...).
    pub kind: String,
    /// Its configuration, as given (`None`: the provider's default).
    pub config: Option<String>,
}

impl SandboxSpec {
    /// A spec of `kind` with no configuration.
    pub fn new(kind: impl Into<String>) -> SandboxSpec {
        SandboxSpec {
            kind: kind.into(),
            config: None,
        }
    }

    /// The command line's `--sandbox TYPE[:CONFIG]`.
    pub fn parse_cli(text: &str) -> Result<SandboxSpec, String> {
        let (kind, config) = match text.split_once(':') {
            Some((kind, config)) => (kind, Some(config)),
            None => (text, None),
        };
        if kind.is_empty() {
            return Err(format!(
                "`--sandbox {text}`: expected TYPE or TYPE:CONFIG (for example `docker` or `docker:compose.yaml`)"
            ));
        }
        if config == Some("") {
            return Err(format!(
                "`--sandbox {text}`: the configuration after `:` is empty; leave out the `:` for the type's default"
            ));
        }
        Ok(SandboxSpec {
            kind: kind.to_owned(),
            config: config.map(str::to_owned),
        })
    }

    /// A task file's or dataset field's `sandbox`: a type (`docker`), a type and its
    /// configuration (`[docker, compose.yaml]`), an object (`{type: docker, config:
    /// compose.yaml}`), or, in a dataset field, a JSON list in a string (`'["docker",
    /// "compose.yaml"]'`). `null` is no sandbox.
    pub fn from_json(value: &JsonValue) -> Result<Option<SandboxSpec>, String> {
        const EXPECTED: &str =
            "expected a sandbox type (`docker`), [type, config] or {type: ..., config: ...}";
        let spec = |kind: &JsonValue, config: Option<&JsonValue>| {
            let kind = match kind {
                JsonValue::String(kind) if !kind.is_empty() => kind.clone(),
                other => return Err(format!("the sandbox type must be a name, got {other}")),
            };
            let config = match config {
                None | Some(JsonValue::Null) => None,
                Some(JsonValue::String(config)) => Some(config.clone()),
                Some(other) => {
                    return Err(format!(
                    "the `{kind}` sandbox's configuration must be a file name or text, got {other}"
                ))
                }
            };
            Ok(Some(SandboxSpec { kind, config }))
        };
        match value {
            JsonValue::Null => Ok(None),
            JsonValue::String(text) if text.trim_start().starts_with('[') => {
                let parsed: JsonValue = serde_json::from_str(text)
                    .map_err(|e| format!("`{text}` is not a JSON list: {e}; {EXPECTED}"))?;
                Self::from_json(&parsed)
            }
            JsonValue::String(_) => spec(value, None),
            JsonValue::Array(items) => match items.as_slice() {
                [kind] => spec(kind, None),
                [kind, config] => spec(kind, Some(config)),
                _ => Err(format!("a list of {} items; {EXPECTED}", items.len())),
            },
            JsonValue::Object(map) => {
                if let Some(unknown) = map.keys().find(|k| *k != "type" && *k != "config") {
                    return Err(format!("unknown field `{unknown}`; {EXPECTED}"));
                }
                let kind = map
                    .get("type")
                    .ok_or_else(|| format!("the object has no `type`; {EXPECTED}"))?;
                spec(kind, map.get("config"))
            }
            other => Err(format!("got {other}; {EXPECTED}")),
        }
    }

    /// As the log records it (`eval.sandbox`, `sample.sandbox`): `{"type": ..., "config": ...}`,
    /// without `config` when there is none.
    pub fn to_json(&self) -> JsonValue {
        let mut map = examen_types::JsonObject::new();
        map.insert("type".to_owned(), JsonValue::String(self.kind.clone()));
        if let Some(config) = &self.config {
            map.insert("config".to_owned(), JsonValue::String(config.clone()));
        }
        JsonValue::Object(map)
    }

    /// Inspect's `resolve_sandbox`: the task's type wins; a sample's configuration replaces the
    /// task's when the sample names the same type, or when it is a Dockerfile or compose file
    /// and the task's type takes those (`docker_compatible`). With no task sandbox, the
    /// sample's own is used. The second value says why a sample's configuration was left out, for a
    /// warning, when it was.
    pub fn resolve(
        task: Option<&SandboxSpec>,
        sample: Option<&SandboxSpec>,
        docker_compatible: impl Fn(&str) -> bool,
    ) -> (Option<SandboxSpec>, Option<String>) {
        let Some(task) = task else {
            return (sample.cloned(), None);
        };
        let Some((sample, sample_config)) =
            sample.and_then(|s| s.config.as_ref().map(|config| (s, config)))
        else {
            return (Some(task.clone()), None);
        };
        let carried = sample.kind == task.kind
            || (is_docker_compatible_config(sample_config) && docker_compatible(&task.kind));
        if carried {
            let resolved = SandboxSpec {
                kind: task.kind.clone(),
                config: Some(sample_config.clone()),
            };
            return (Some(resolved), None);
        }
        let why = format!(
            "a sample declares sandbox `{}` with configuration `{sample_config}`, which the task's `{}` sandbox does not use",
            sample.kind, task.kind
        );
        (Some(task.clone()), Some(why))
    }
}

/// Inspect's `is_docker_compatible_config` for a file name: a Dockerfile (`Dockerfile`,
/// `name.Dockerfile`, `Dockerfile.name`) or a compose file (`compose.yaml`, `compose.yml`,
/// `docker-compose.yaml`, `docker-compose.yml`, `*-compose.yaml`, `*.compose.yaml`).
pub fn is_docker_compatible_config(config: &str) -> bool {
    let path = std::path::Path::new(config);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let stem = path
        .file_stem()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let compose = matches!(
        &*name,
        "compose.yaml" | "compose.yml" | "docker-compose.yaml" | "docker-compose.yml"
    ) || name.ends_with("-compose.yaml")
        || name.ends_with(".compose.yaml");
    let dockerfile = stem == "Dockerfile" || path.extension().is_some_and(|e| e == "Dockerfile");
    compose || dockerfile
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(kind: &str, config: Option<&str>) -> SandboxSpec {
        SandboxSpec {
            kind: kind.to_owned(),
            config: config.map(str::to_owned),
        }
    }

    #[test]
    fn every_form_inspect_accepts() {
        let (bare, full) = (spec("docker", None), spec("docker", Some("compose.yaml")));
        let (docker, with) = (Some(bare.clone()), Some(full.clone()));
        assert_eq!(SandboxSpec::from_json(&json!("docker")).unwrap(), docker);
        assert_eq!(SandboxSpec::from_json(&json!(["docker"])).unwrap(), docker);
        assert_eq!(
            SandboxSpec::from_json(&json!(["docker", "compose.yaml"])).unwrap(),
            with
        );
        assert_eq!(
            SandboxSpec::from_json(&json!({"type": "docker", "config": "compose.yaml"})).unwrap(),
            with
        );
        assert_eq!(
            SandboxSpec::from_json(&json!(r#"["docker", "compose.yaml"]"#)).unwrap(),
            with
        );
        assert_eq!(SandboxSpec::from_json(&json!(null)).unwrap(), None);
        assert_eq!(SandboxSpec::parse_cli("docker").unwrap(), bare);
        assert_eq!(SandboxSpec::parse_cli("docker:compose.yaml").unwrap(), full);
        assert_eq!(
            full.to_json(),
            json!({"type": "docker", "config": "compose.yaml"})
        );
        assert_eq!(spec("local", None).to_json(), json!({"type": "local"}));
    }

    #[test]
    fn bad_forms_say_what_was_expected() {
        let error = |v: JsonValue| SandboxSpec::from_json(&v).unwrap_err();
        assert!(error(json!(3)).contains("expected a sandbox type"));
        assert!(error(json!(["a", "b", "c"])).contains("a list of 3 items"));
        assert!(error(json!({"kind": "docker"})).contains("unknown field `kind`"));
        assert!(error(json!({"config": "x"})).contains("no `type`"));
        assert!(error(json!(["docker", 5])).contains("configuration must be a file name"));
        assert!(error(json!("[oops")).contains("is not a JSON list"));
        assert!(SandboxSpec::parse_cli(":x")
            .unwrap_err()
            .contains("expected TYPE"));
        assert!(SandboxSpec::parse_cli("docker:")
            .unwrap_err()
            .contains("is empty"));
    }

    #[test]
    fn the_task_type_wins_and_a_sample_config_carries_over_as_inspect_does() {
        let docker_like = |kind: &str| kind == "docker";
        let task = spec("docker", Some("compose.yaml"));
        // No task sandbox: the sample's own (Inspect's `elif sample.sandbox is not None`).
        assert_eq!(
            SandboxSpec::resolve(None, Some(&task), docker_like),
            (Some(task.clone()), None)
        );
        assert_eq!(SandboxSpec::resolve(None, None, docker_like), (None, None));
        // Same type: the sample's configuration.
        let sample = spec("docker", Some("other/compose.yaml"));
        assert_eq!(
            SandboxSpec::resolve(Some(&task), Some(&sample), docker_like).0,
            Some(spec("docker", Some("other/compose.yaml")))
        );
        // Another type with a compose file, into a docker-compatible task type: carried over.
        let sample = spec("k8s", Some("web-compose.yaml"));
        assert_eq!(
            SandboxSpec::resolve(Some(&task), Some(&sample), docker_like).0,
            Some(spec("docker", Some("web-compose.yaml")))
        );
        // Another type with its own configuration: the task's, and a reason to warn.
        let sample = spec("k8s", Some("values.yaml"));
        let (resolved, why) = SandboxSpec::resolve(Some(&task), Some(&sample), docker_like);
        assert_eq!(resolved, Some(task.clone()));
        assert!(why.unwrap().contains("does not use"));
        // A sample type without configuration changes nothing.
        assert_eq!(
            SandboxSpec::resolve(Some(&task), Some(&spec("local", None)), docker_like),
            (Some(task.clone()), None)
        );
    }

    #[test]
    fn docker_compatible_files_are_inspects() {
        for yes in [
            "compose.yaml",
            "dir/compose.yml",
            "docker-compose.yaml",
            "docker-compose.yml",
            "web-compose.yaml",
            ".compose.yaml",
            "Dockerfile",
            "images/web.Dockerfile",
            "Dockerfile.web",
        ] {
            assert!(is_docker_compatible_config(yes), "{yes}");
        }
        for no in [
            "values.yaml",
            "compose.json",
            "composer.yaml",
            "Dockerfiles",
        ] {
            assert!(!is_docker_compatible_config(no), "{no}");
        }
    }
}
