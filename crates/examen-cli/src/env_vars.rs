//! The one list of `EXAMEN_*` environment variables, and how their values are layered under the
//! flags: flag > environment > `.env` > task file > default.
//!
//! Every option of every command has a variable named `EXAMEN_<OPTION>` ([`ENV_VARS`]; a test
//! checks that none is missing). Values are read from the process environment, then from the
//! nearest `.env` file at or above the working directory. A value is used only when the option
//! is not on the command line: it is appended to the arguments as `--option=value` and parsed by
//! clap like a flag, so it is validated the same way, and an invalid one is reported with the
//! variable's name and where it came from. Task-file values sit below all of these because the
//! engine lets every option it receives override the task file.
//!
//! The reference in `docs/src/env.md` is generated from this list and the options' help
//! ([`markdown`], also printed by `examen env`); a test fails when the file drifts.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::PathBuf;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::parser::ValueSource;
use clap::{ArgMatches, Command, CommandFactory, FromArgMatches};

use crate::args::Cli;
use crate::error::CliError;

/// How a variable's text becomes arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Form {
    /// One value, given to the option as is (lists use the option's own separator, a comma).
    Value,
    /// `KEY=VALUE` items separated by whitespace, each given to the option once.
    Pairs,
    /// A switch: `1`, `true`, `yes` or `on` sets it; `0`, `false`, `no`, `off` leave it unset.
    Flag,
}

/// One environment variable and the option it stands for.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EnvVar {
    /// The variable, `EXAMEN_<OPTION>`.
    pub(crate) name: &'static str,
    /// The option's long name, without `--`.
    pub(crate) long: &'static str,
    pub(crate) form: Form,
}

const fn var(name: &'static str, long: &'static str, form: Form) -> EnvVar {
    EnvVar { name, long, form }
}

/// Every `EXAMEN_*` variable. An option with the same name in several commands means the same
/// thing in each, so one variable serves them all.
pub(crate) const ENV_VARS: &[EnvVar] = &[
    var("EXAMEN_DISPLAY", "display", Form::Value),
    var("EXAMEN_ASYNC_BACKEND", "async-backend", Form::Value),
    var("EXAMEN_MODEL", "model", Form::Value),
    var("EXAMEN_MODEL_BASE_URL", "model-base-url", Form::Value),
    var("EXAMEN_MODEL_ARGS", "model-args", Form::Pairs),
    var("EXAMEN_MODEL_ROLE", "model-role", Form::Pairs),
    var("EXAMEN_TASK_ARGS", "task-args", Form::Pairs),
    var("EXAMEN_LIMIT", "limit", Form::Value),
    var("EXAMEN_SAMPLE_ID", "sample-id", Form::Value),
    var("EXAMEN_EPOCHS", "epochs", Form::Value),
    var("EXAMEN_EPOCHS_REDUCER", "epochs-reducer", Form::Value),
    var("EXAMEN_FAIL_ON_ERROR", "fail-on-error", Form::Value),
    var("EXAMEN_RETRY_ON_ERROR", "retry-on-error", Form::Value),
    var("EXAMEN_MESSAGE_LIMIT", "message-limit", Form::Value),
    var("EXAMEN_TOKEN_LIMIT", "token-limit", Form::Value),
    var("EXAMEN_TIME_LIMIT", "time-limit", Form::Value),
    var("EXAMEN_WORKING_LIMIT", "working-limit", Form::Value),
    var("EXAMEN_MAX_CONNECTIONS", "max-connections", Form::Value),
    var("EXAMEN_MAX_SAMPLES", "max-samples", Form::Value),
    var("EXAMEN_MAX_TASKS", "max-tasks", Form::Value),
    var("EXAMEN_MAX_SANDBOXES", "max-sandboxes", Form::Value),
    var("EXAMEN_SANDBOX", "sandbox", Form::Value),
    var(
        "EXAMEN_NO_SANDBOX_CLEANUP",
        "no-sandbox-cleanup",
        Form::Flag,
    ),
    var("EXAMEN_DRY_RUN", "dry-run", Form::Flag),
    var("EXAMEN_MAX_RETRIES", "max-retries", Form::Value),
    var("EXAMEN_TIMEOUT", "timeout", Form::Value),
    var("EXAMEN_ATTEMPT_TIMEOUT", "attempt-timeout", Form::Value),
    var("EXAMEN_MAX_TOKENS", "max-tokens", Form::Value),
    var("EXAMEN_TEMPERATURE", "temperature", Form::Value),
    var("EXAMEN_SEED", "seed", Form::Value),
    var("EXAMEN_LOG_DIR", "log-dir", Form::Value),
    var("EXAMEN_LOG_FORMAT", "log-format", Form::Value),
    var("EXAMEN_LOG_BUFFER", "log-buffer", Form::Value),
    var("EXAMEN_TAGS", "tags", Form::Value),
    var("EXAMEN_METADATA", "metadata", Form::Pairs),
    var("EXAMEN_NO_SCORE", "no-score", Form::Flag),
    var("EXAMEN_JSON", "json", Form::Flag),
    var("EXAMEN_SCORER", "scorer", Form::Value),
    var("EXAMEN_ACTION", "action", Form::Value),
    var("EXAMEN_OVERWRITE", "overwrite", Form::Flag),
    var("EXAMEN_HEADER_ONLY", "header-only", Form::Flag),
    var("EXAMEN_STATUS", "status", Form::Value),
    var("EXAMEN_TO", "to", Form::Value),
    var("EXAMEN_OUTPUT_DIR", "output-dir", Form::Value),
];

fn lookup_var(long: &str) -> Option<&'static EnvVar> {
    ENV_VARS.iter().find(|v| v.long == long)
}

/// Where a value came from, for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Origin {
    Environment,
    DotEnv(PathBuf),
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::Environment => f.write_str("the environment"),
            Origin::DotEnv(path) => write!(f, "{}", path.display()),
        }
    }
}

/// The environment and the `.env` file, read once at start-up.
#[derive(Debug, Default)]
pub(crate) struct EnvSources {
    process: HashMap<String, String>,
    dotenv: Option<(PathBuf, HashMap<String, String>)>,
}

impl EnvSources {
    /// The process environment and the `.env` nearest above the working directory.
    pub(crate) fn load() -> Result<EnvSources, CliError> {
        let process = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .filter(|(k, _)| k.starts_with("EXAMEN_"))
            .collect();
        let dotenv = match std::env::current_dir()
            .ok()
            .and_then(|cwd| examen_model::find_dotenv(&cwd))
        {
            Some(path) => {
                let vars = examen_model::read_dotenv(&path).map_err(CliError::usage)?;
                Some((path, vars))
            }
            None => None,
        };
        Ok(EnvSources { process, dotenv })
    }

    #[cfg(test)]
    pub(crate) fn from_maps(
        process: &[(&str, &str)],
        dotenv: Option<(&str, &[(&str, &str)])>,
    ) -> EnvSources {
        let map = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
                .collect()
        };
        EnvSources {
            process: map(process),
            dotenv: dotenv.map(|(path, pairs)| (PathBuf::from(path), map(pairs))),
        }
    }

    /// The variable's value (empty counts as unset) and where it came from.
    pub(crate) fn get(&self, name: &str) -> Option<(String, Origin)> {
        if let Some(value) = self.process.get(name).filter(|v| !v.trim().is_empty()) {
            return Some((value.clone(), Origin::Environment));
        }
        let (path, vars) = self.dotenv.as_ref()?;
        let value = vars.get(name).filter(|v| !v.trim().is_empty())?;
        Some((value.clone(), Origin::DotEnv(path.clone())))
    }
}

/// The command with `[env: EXAMEN_X]` added to the help of every option that has a variable.
pub(crate) fn command() -> Command {
    let mut cmd = annotate(Cli::command());
    for name in ["eval", "eval-retry", "score"] {
        cmd = cmd.mut_subcommand(name, |sub| {
            sub.mut_arg("async_backend", |arg| {
                let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
                arg.help(format!(
                    "{help} [default: {}]",
                    examen_rt::Backend::default().name()
                ))
            })
        });
    }
    cmd
}

fn annotate(mut cmd: Command) -> Command {
    let ids: Vec<(String, &'static str)> = cmd
        .get_arguments()
        .filter_map(|arg| {
            let var = lookup_var(arg.get_long()?)?;
            Some((arg.get_id().to_string(), var.name))
        })
        .collect();
    for (id, name) in ids {
        cmd = cmd.mut_arg(id, |arg| {
            let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
            arg.help(format!("{help} [env: {name}]"))
        });
    }
    let subcommands: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .collect();
    for name in subcommands {
        cmd = cmd.mut_subcommand(name, annotate);
    }
    cmd
}

/// One value taken from a variable, as the arguments it adds.
struct Injected {
    var: &'static EnvVar,
    value: String,
    origin: Origin,
    args: Vec<OsString>,
}

/// Parses the command line with the variables layered under it.
///
/// Errors: clap's own (usage, `--help`, `--version`), or a variable whose value is not valid
/// for its option (naming the variable and where it was set).
pub(crate) fn parse(argv: Vec<OsString>, sources: &EnvSources) -> Result<Cli, ParseError> {
    let mut cmd = command();
    // A lenient pass finds the subcommand and the options given on the command line, even
    // when a required option is missing that a variable will supply.
    let lenient = cmd.clone().ignore_errors(true).try_get_matches_from(&argv);
    let injected = match lenient {
        Ok(matches) => injections(&mut cmd.clone(), &matches, sources)?,
        Err(_) => Vec::new(),
    };
    // Injected options go before a `--`, after which everything is positional.
    let mut full = argv;
    let at = full.iter().position(|a| a == "--").unwrap_or(full.len());
    let added: Vec<OsString> = injected
        .iter()
        .flat_map(|item| item.args.iter().cloned())
        .collect();
    full.splice(at..at, added);
    let matches = cmd
        .try_get_matches_from_mut(&full)
        .map_err(|err| blame(err, &injected))?;
    Cli::from_arg_matches(&matches).map_err(|err| ParseError::Clap(err.with_cmd(&cmd)))
}

/// A failed parse.
#[derive(Debug)]
pub(crate) enum ParseError {
    /// clap's error, printed as clap prints it (help and version included).
    Clap(clap::Error),
    /// A variable with an invalid value.
    Env(CliError),
}

fn injections(
    cmd: &mut Command,
    matches: &ArgMatches,
    sources: &EnvSources,
) -> Result<Vec<Injected>, ParseError> {
    cmd.build();
    let mut leaf_cmd: &Command = cmd;
    let mut leaf_matches = matches;
    while let Some((name, sub_matches)) = leaf_matches.subcommand() {
        match leaf_cmd.find_subcommand(name) {
            Some(sub) => {
                leaf_cmd = sub;
                leaf_matches = sub_matches;
            }
            None => break,
        }
    }
    let mut out = Vec::new();
    for arg in leaf_cmd.get_arguments() {
        let Some(var) = arg.get_long().and_then(lookup_var) else {
            continue;
        };
        let given = leaf_matches
            .try_contains_id(arg.get_id().as_str())
            .unwrap_or(false)
            && leaf_matches.value_source(arg.get_id().as_str()) == Some(ValueSource::CommandLine);
        if given {
            continue;
        }
        let Some((value, origin)) = sources.get(var.name) else {
            continue;
        };
        let args = match var.form {
            Form::Value => vec![OsString::from(format!("--{}={}", var.long, value.trim()))],
            Form::Pairs => value
                .split_whitespace()
                .map(|item| OsString::from(format!("--{}={item}", var.long)))
                .collect(),
            Form::Flag => match parse_switch(&value) {
                Some(true) => vec![OsString::from(format!("--{}", var.long))],
                Some(false) => Vec::new(),
                None => {
                    return Err(ParseError::Env(CliError::usage(format!(
                        "{}={value} (from {origin}): expected true or false (1/0, yes/no, on/off)",
                        var.name
                    ))))
                }
            },
        };
        out.push(Injected {
            var,
            value,
            origin,
            args,
        });
    }
    Ok(out)
}

fn parse_switch(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// Rewrites an error caused by an injected value so that it names the variable.
fn blame(err: clap::Error, injected: &[Injected]) -> ParseError {
    let culprit = match err.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(arg)) => injected.iter().find(|item| {
            arg.strip_prefix("--")
                .and_then(|rest| rest.strip_prefix(item.var.long))
                .is_some_and(|tail| tail.is_empty() || tail.starts_with([' ', '=', '[', '<']))
        }),
        _ => None,
    };
    let Some(item) = culprit else {
        return ParseError::Clap(err);
    };
    if matches!(
        err.kind(),
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
    ) {
        return ParseError::Clap(err);
    }
    // clap's message up to its first blank line (the value's error and the possible values),
    // folded onto one line.
    let text = err.to_string();
    let reason: Vec<&str> = text
        .lines()
        .take_while(|line| !line.trim().is_empty())
        .map(str::trim)
        .collect();
    let reason = reason.join(" ");
    let reason = reason.strip_prefix("error: ").unwrap_or(&reason);
    ParseError::Env(CliError::usage(format!(
        "{}={} (from {}): {reason}",
        item.var.name, item.value, item.origin
    )))
}

/// The Markdown reference of every variable, generated from [`ENV_VARS`] and the options'
/// help. `docs/src/env.md` holds its output.
pub(crate) fn markdown() -> String {
    let mut cmd = Cli::command();
    cmd.build();
    // Per variable: the commands that have its option, and each command's help for it.
    let mut uses: Vec<(&'static EnvVar, Vec<(String, String)>)> =
        ENV_VARS.iter().map(|var| (var, Vec::new())).collect();
    visit(&cmd, "examen", &mut |path, arg| {
        let Some(long) = arg.get_long() else { return };
        if let Some((_, seen)) = uses.iter_mut().find(|(var, _)| var.long == long) {
            let label = if arg.is_global_set() {
                "all commands".to_string()
            } else {
                format!("`{path}`")
            };
            if !seen.iter().any(|(l, _)| *l == label) {
                let help = arg
                    .get_help()
                    .map(ToString::to_string)
                    .unwrap_or_default()
                    .replace('\n', " ");
                seen.push((label, help));
            }
        }
    });
    let mut out = String::new();
    out.push_str(
        "# Environment variables\n\n\
         <!-- Generated by `examen env` from crates/examen-cli/src/env_vars.rs; do not edit. -->\n\n\
         Every option of the `examen` command line has an environment variable \
         `EXAMEN_<OPTION>`. A value is taken, in order of precedence, from:\n\n\
         1. the option on the command line;\n\
         2. the variable in the environment;\n\
         3. the variable in the nearest `.env` file at or above the working directory;\n\
         4. the task file (for options that a task file also sets, such as `epochs`);\n\
         5. the default.\n\n\
         An empty value counts as unset. Lists take the option's own separator (a comma); \
         `KEY=VALUE` options take several pairs separated by whitespace; switches take \
         `1`/`true`/`yes`/`on` or `0`/`false`/`no`/`off`. A value that is not valid for its \
         option is reported with the variable's name and where it was set.\n\n\
         | Variable | Option | Commands | Description |\n\
         |---|---|---|---|\n",
    );
    for (var, seen) in &uses {
        let form = match var.form {
            Form::Value => "",
            Form::Pairs => " (whitespace-separated `KEY=VALUE` pairs)",
            Form::Flag => " (switch)",
        };
        let commands: Vec<&str> = seen.iter().map(|(label, _)| label.as_str()).collect();
        let mut helps: Vec<String> = Vec::new();
        for (label, help) in seen {
            if seen.iter().all(|(_, other)| other == help) {
                helps = vec![help.clone()];
                break;
            }
            helps.push(format!("{label}: {help}"));
        }
        let _ = writeln!(
            out,
            "| `{}` | `--{}` | {} | {}{} |",
            var.name,
            var.long,
            commands.join(", "),
            helps.join("; ").replace('|', "\\|"),
            form
        );
    }
    out
}

fn visit(cmd: &Command, path: &str, f: &mut dyn FnMut(&str, &clap::Arg)) {
    for arg in cmd.get_arguments() {
        f(path, arg);
    }
    for sub in cmd.get_subcommands() {
        visit(sub, &format!("{path} {}", sub.get_name()), f);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::{Command as Verb, DisplayMode};

    fn argv(args: &[&str]) -> Vec<OsString> {
        std::iter::once("examen")
            .chain(args.iter().copied())
            .map(OsString::from)
            .collect()
    }

    fn eval_args(cli: Cli) -> crate::args::EvalArgs {
        match cli.command {
            Verb::Eval(args) => *args,
            other => panic!("expected eval, got {other:?}"),
        }
    }

    #[test]
    fn every_option_has_a_variable_named_after_it() {
        let mut cmd = Cli::command();
        cmd.build();
        let mut missing = Vec::new();
        visit(&cmd, "examen", &mut |path, arg| {
            let Some(long) = arg.get_long() else { return };
            if long == "help" || long == "version" {
                return;
            }
            match lookup_var(long) {
                Some(var) => {
                    let expected =
                        format!("EXAMEN_{}", long.to_ascii_uppercase().replace('-', "_"));
                    assert_eq!(var.name, expected);
                }
                None => missing.push(format!("{path} --{long}")),
            }
        });
        assert!(
            missing.is_empty(),
            "options without a variable: {missing:?}"
        );
        let mut names: Vec<_> = ENV_VARS.iter().map(|v| v.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ENV_VARS.len(), "a variable is declared twice");
    }

    #[test]
    fn flag_beats_environment_beats_dotenv() {
        let sources = EnvSources::from_maps(
            &[("EXAMEN_MODEL", "env/model"), ("EXAMEN_EPOCHS", "3")],
            Some((
                "/x/.env",
                &[
                    ("EXAMEN_MODEL", "dotenv/model"),
                    ("EXAMEN_EPOCHS", "7"),
                    ("EXAMEN_MAX_TOKENS", "12"),
                    ("EXAMEN_DISPLAY", "none"),
                ],
            )),
        );
        let cli = parse(argv(&["eval", "t.yaml", "--model", "flag/model"]), &sources).unwrap();
        assert_eq!(
            cli.command.run_args().and_then(|run| run.display),
            Some(DisplayMode::None)
        );
        let args = eval_args(cli);
        assert_eq!(args.model, ["flag/model"]);
        assert_eq!(args.epochs, Some(3));
        assert_eq!(args.max_tokens, Some(12));
    }

    #[test]
    fn lists_pairs_and_switches_from_variables() {
        let sources = EnvSources::from_maps(
            &[
                ("EXAMEN_MODEL", "a/b,c/d"),
                ("EXAMEN_TASK_ARGS", "epochs=2  config.temperature=0.5"),
                ("EXAMEN_NO_SCORE", "yes"),
                ("EXAMEN_JSON", "0"),
            ],
            None,
        );
        let args = eval_args(parse(argv(&["eval", "t.yaml"]), &sources).unwrap());
        assert_eq!(args.model, ["a/b", "c/d"]);
        assert_eq!(
            args.task_args,
            [
                ("epochs".to_string(), "2".to_string()),
                ("config.temperature".to_string(), "0.5".to_string())
            ]
        );
        assert!(args.no_score);
        assert!(!args.json);
    }

    #[test]
    fn variables_go_before_a_double_dash() {
        let sources = EnvSources::from_maps(&[("EXAMEN_MODEL", "a/b")], None);
        let args = eval_args(parse(argv(&["eval", "--", "--odd-name.yaml"]), &sources).unwrap());
        assert_eq!(args.model, ["a/b"]);
        assert_eq!(args.tasks, [std::path::PathBuf::from("--odd-name.yaml")]);
    }

    #[test]
    fn a_required_option_can_come_from_a_variable() {
        let sources =
            EnvSources::from_maps(&[("EXAMEN_TO", "json"), ("EXAMEN_OUTPUT_DIR", "out")], None);
        let cli = parse(argv(&["log", "convert", "a.eval"]), &sources).unwrap();
        assert!(matches!(cli.command, Verb::Log { .. }));
    }

    #[test]
    fn invalid_values_name_the_variable_and_its_origin() {
        let sources = EnvSources::from_maps(&[], Some(("/p/.env", &[("EXAMEN_LIMIT", "ten")])));
        let err = match parse(argv(&["eval", "t.yaml"]), &sources) {
            Err(ParseError::Env(err)) => err.to_string(),
            other => panic!("expected an env error, got {other:?}"),
        };
        assert!(
            err.starts_with("EXAMEN_LIMIT=ten (from /p/.env): "),
            "{err}"
        );
        assert!(err.contains("10-20"), "{err}");
        let sources = EnvSources::from_maps(&[("EXAMEN_JSON", "maybe")], None);
        assert!(matches!(
            parse(argv(&["eval", "t.yaml"]), &sources),
            Err(ParseError::Env(_))
        ));
    }

    #[test]
    fn empty_values_count_as_unset() {
        let sources = EnvSources::from_maps(
            &[("EXAMEN_MODEL", "")],
            Some(("/p/.env", &[("EXAMEN_MODEL", "dotenv/m")])),
        );
        let args = eval_args(parse(argv(&["eval", "t.yaml"]), &sources).unwrap());
        assert_eq!(args.model, ["dotenv/m"]);
    }

    #[test]
    fn help_names_the_variables() {
        let mut cmd = command();
        cmd.build();
        let help = cmd
            .find_subcommand_mut("eval")
            .unwrap()
            .render_help()
            .to_string();
        assert!(help.contains("EXAMEN_MAX_CONNECTIONS]"), "{help}");
        assert!(help.contains("EXAMEN_ASYNC_BACKEND]"), "{help}");
    }

    /// `docs/src/env.md` is this list's output; set `UPDATE_DOCS=1` to rewrite it.
    #[test]
    fn docs_env_md_is_generated_from_the_list() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/src/env.md");
        let expected = markdown();
        if std::env::var_os("UPDATE_DOCS").is_some() {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &expected).unwrap();
        }
        let actual = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            actual == expected,
            "docs/src/env.md is out of date: run `UPDATE_DOCS=1 cargo test -p examen-cli docs_env_md` \
             (or `examen env > docs/src/env.md`)"
        );
        for var in ENV_VARS {
            assert!(actual.contains(var.name));
        }
    }
}
