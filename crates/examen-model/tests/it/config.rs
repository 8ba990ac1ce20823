//! Model names, provider arguments, and where keys and base URLs come from (environment and
//! `.env` files found upward from a directory).

use std::path::PathBuf;

use examen_model::{get_model, Env, ModelOptions};

fn empty_env() -> ModelOptions {
    ModelOptions {
        env: Env::from_pairs(Vec::<(String, String)>::new()),
        ..ModelOptions::default()
    }
}

#[test]
fn bad_names_say_what_was_expected() {
    for name in ["gpt-4o", "/gpt-4o", "openai/", ""] {
        let err = get_model(name, empty_env()).unwrap_err();
        assert!(err.is_configuration());
        assert!(
            err.to_string().contains("expected `provider/model`"),
            "{err}"
        );
    }
    let err = get_model("openai-api/vllm", empty_env()).unwrap_err();
    assert!(
        err.to_string().contains("`openai-api/<service>/<model>`"),
        "{err}"
    );
}

#[test]
fn unknown_provider_lists_the_valid_ones() {
    let err = get_model("gemini/pro", empty_env()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "unknown model provider `gemini` in `gemini/pro`: expected one of `mockllm`, `openai`, \
         `anthropic`, `openai-api`"
    );
}

#[test]
fn openai_compatible_services_need_a_base_url() {
    let err = get_model(
        "openai-api/ollama/llama3",
        ModelOptions {
            env: Env::from_pairs([("OLLAMA_API_KEY", "x")]),
            ..ModelOptions::default()
        },
    )
    .unwrap_err();
    assert!(err.to_string().contains("set OLLAMA_BASE_URL"), "{err}");
}

#[test]
fn defaults_and_environment_base_urls() {
    let openai = get_model(
        "openai/gpt-4o",
        ModelOptions {
            env: Env::from_pairs([("OPENAI_API_KEY", "k")]),
            ..ModelOptions::default()
        },
    )
    .unwrap();
    assert_eq!(openai.base_url(), Some("https://api.openai.com/v1"));
    assert_eq!(openai.name(), "openai/gpt-4o");
    assert_eq!(openai.api_name(), "openai");
    let anthropic = get_model(
        "anthropic/claude-x",
        ModelOptions {
            env: Env::from_pairs([
                ("ANTHROPIC_API_KEY", "k"),
                ("ANTHROPIC_BASE_URL", "https://gateway.example/anthropic/"),
            ]),
            ..ModelOptions::default()
        },
    )
    .unwrap();
    assert_eq!(
        anthropic.base_url(),
        Some("https://gateway.example/anthropic")
    );
}

#[test]
fn provider_arguments_are_checked() {
    let mut options = empty_env();
    options.args.insert("latency".into(), "0.01".into());
    assert!(get_model("mockllm/model", options).is_ok());

    let mut options = empty_env();
    options.args.insert("temperature".into(), "1".into());
    let err = get_model("mockllm/model", options).unwrap_err();
    assert_eq!(
        err.to_string(),
        "mockllm: invalid model argument: unknown argument `temperature` (accepted: latency, script)"
    );

    let mut options = empty_env();
    options.api_key = Some(examen_model::Secret::new("k"));
    options.args.insert("http2".into(), "maybe".into());
    let err = get_model("openai/gpt-4o", options).unwrap_err();
    assert!(
        err.to_string().contains("`http2` expects true or false"),
        "{err}"
    );
}

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let path = std::env::temp_dir().join(format!("examen-model-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn dotenv_is_found_upward_and_the_environment_wins() {
    let root = TempDir::new("dotenv");
    let nested = root.0.join("project").join("src");
    std::fs::create_dir_all(&nested).unwrap();
    std::fs::write(
        root.0.join(".env"),
        "EXAMEN_TEST_ONLY_IN_DOTENV=from-file\nPATH=/not/the/real/path\n",
    )
    .unwrap();
    assert_eq!(
        examen_model::find_dotenv(&nested),
        Some(root.0.join(".env"))
    );
    let env = Env::process_from(&nested).unwrap();
    assert_eq!(
        env.get("EXAMEN_TEST_ONLY_IN_DOTENV").unwrap().as_deref(),
        Some("from-file")
    );
    // PATH is set in the process environment, so the file's value loses.
    assert_eq!(env.get("PATH").unwrap(), std::env::var("PATH").ok());
}

#[test]
fn dotenv_errors_name_file_and_line() {
    let root = TempDir::new("dotenv-bad");
    std::fs::write(root.0.join(".env"), "GOOD=1\nthis line is wrong\n").unwrap();
    let err = Env::process_from(&root.0).unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with(&format!("{}:2: ", root.0.join(".env").display())),
        "{text}"
    );
    assert!(text.contains("expected `KEY=value`"), "{text}");
}

#[test]
fn keys_from_a_dotenv_file_reach_the_provider() {
    let root = TempDir::new("dotenv-key");
    std::fs::write(
        root.0.join(".env"),
        "EXAMEN_TEST_SVC_API_KEY=sk-from-file\nEXAMEN_TEST_SVC_BASE_URL=http://127.0.0.1:1/v1\n",
    )
    .unwrap();
    let model = get_model(
        "openai-api/examen-test-svc/some-model",
        ModelOptions {
            env: Env::process_from(&root.0).unwrap(),
            ..ModelOptions::default()
        },
    )
    .unwrap();
    assert_eq!(model.base_url(), Some("http://127.0.0.1:1/v1"));
    assert!(!format!("{model:?}").contains("sk-from-file"));
}
