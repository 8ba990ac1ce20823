//! The README's first command, exactly as written.
//!
//! The first line of README.md's first ```sh block is the command a new user runs. It must be
//! `cargo run [--release] [-p examen-cli] -- <examen arguments>` (or `examen <arguments>`). The
//! test takes the arguments exactly as written and runs them with the `examen` binary cargo
//! built for the tests (once per backend, chosen with `EXAMEN_ASYNC_BACKEND`), in a copy of the
//! repository's `examples/` (so relative paths resolve as they do from the repository root, and
//! the logs land in a temp directory): `cargo run --release --` is replaced by the binary,
//! nothing else is changed.

use crate::support::{backends, run, workspace, Sandbox};

/// The first command of the first ```sh block, without a trailing `# comment`.
fn first_command(readme: &str) -> Option<String> {
    let mut in_sh = false;
    for line in readme.lines() {
        let trimmed = line.trim();
        if !in_sh {
            in_sh = trimmed == "```sh" || trimmed == "```bash" || trimmed == "```console";
            continue;
        }
        if trimmed.starts_with("```") {
            return None;
        }
        let command = trimmed.trim_start_matches("$ ");
        if command.is_empty() || command.starts_with('#') {
            continue;
        }
        let command = match command.find(" #") {
            Some(comment) => &command[..comment],
            None => command,
        };
        return Some(command.trim().to_string());
    }
    None
}

/// The examen arguments of a README command, or why it is not an examen command.
fn examen_args(command: &str) -> Result<Vec<String>, String> {
    let words: Vec<String> = command.split_whitespace().map(str::to_string).collect();
    match words.first().map(String::as_str) {
        Some("examen") => return Ok(words[1..].to_vec()),
        Some("cargo") if words.get(1).map(String::as_str) == Some("run") => {}
        _ => return Err(format!("`{command}` does not run examen")),
    }
    let separator = words
        .iter()
        .position(|w| w == "--")
        .ok_or_else(|| format!("`{command}` passes no arguments to examen (no `--`)"))?;
    let cargo_args = &words[2..separator];
    let mut rest = cargo_args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--release" | "-q" | "--quiet" | "--locked" => {}
            "-p" | "--package" => {
                let package = rest.next().map(String::as_str);
                if package != Some("examen-cli") {
                    return Err(format!(
                        "`{command}` runs package {package:?}, not examen-cli"
                    ));
                }
            }
            "--bin" => {
                let bin = rest.next().map(String::as_str);
                if bin != Some("examen") {
                    return Err(format!("`{command}` runs binary {bin:?}, not examen"));
                }
            }
            other => return Err(format!("`{command}`: unexpected cargo argument `{other}`")),
        }
    }
    Ok(words[separator + 1..].to_vec())
}

/// Copies the repository's `examples/<name>` into the sandbox at the same relative path as from
/// the repository root, so the README's relative paths resolve as written.
fn copy_example(sandbox: &Sandbox, name: &str) {
    let examples = sandbox.path().join("examples").join(name);
    std::fs::create_dir_all(&examples).unwrap();
    for entry in std::fs::read_dir(workspace().join("examples").join(name)).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, examples.join(path.file_name().unwrap())).unwrap();
    }
}

#[test]
fn the_parser_reads_the_intended_forms() {
    let readme = "# x\n\n```sh\n# set up\ncargo run --release -- eval examples/a/task.yaml --model mockllm/model   # run\ncargo test\n```\n";
    let command = first_command(readme).unwrap();
    assert_eq!(
        command,
        "cargo run --release -- eval examples/a/task.yaml --model mockllm/model"
    );
    assert_eq!(
        examen_args(&command).unwrap(),
        ["eval", "examples/a/task.yaml", "--model", "mockllm/model"]
    );
    assert!(examen_args("cargo run --release -p examen-rt --example fan_out").is_err());
    assert_eq!(
        examen_args("examen list solvers").unwrap(),
        ["list", "solvers"]
    );
}

#[test]
fn the_readme_first_command_runs_as_written() {
    let readme = std::fs::read_to_string(workspace().join("README.md")).unwrap();
    let command = first_command(&readme).expect("README.md has a ```sh block with a command");
    let args = examen_args(&command).unwrap_or_else(|why| {
        panic!("the README's first command should run examen on the example task: {why}")
    });
    for backend in backends() {
        let sandbox = Sandbox::on(backend);
        copy_example(&sandbox, "arithmetic");
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = run(&mut sandbox.examen(&args));
        assert_eq!(out.code, 0, "`{command}` failed on {backend}: {out:?}");
        assert!(out.stdout.contains("success"), "{}", out.stdout);
        assert_eq!(sandbox.logs("logs").len(), 1, "{out:?}");
    }
}

#[test]
fn the_readme_agent_command_runs_as_written() {
    // Issue 14: examples/agent on scripted mockllm, from the README's own line.
    let readme = std::fs::read_to_string(workspace().join("README.md")).unwrap();
    let command = readme
        .lines()
        .map(str::trim)
        .find(|line| line.starts_with("examen eval examples/agent/"))
        .expect("README.md shows the agent example's command");
    let args = examen_args(command).unwrap_or_else(|why| panic!("{why}"));
    for backend in backends() {
        let sandbox = Sandbox::on(backend);
        copy_example(&sandbox, "agent");
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = run(&mut sandbox.examen(&args));
        assert_eq!(out.code, 0, "`{command}` failed on {backend}: {out:?}");
        assert!(out.stdout.contains("accuracy 1.000"), "{}", out.stdout);
        let logs = sandbox.logs("logs");
        let log = examen_log::read_log(&logs[0], examen_log::ReadOptions::default()).unwrap();
        for sample in log.samples.iter().flatten() {
            let roles: Vec<&str> = sample.messages.iter().map(|m| m.role()).collect();
            assert_eq!(roles, ["system", "user", "assistant", "tool", "assistant"]);
            assert!(sample.events.iter().any(|e| e.kind() == "tool"));
        }
    }
}

/// The README's sandbox block (the lines after its `examples/sandbox` command, continuations
/// joined and comments dropped), each command's examen arguments.
fn sandbox_block(readme: &str) -> Vec<Vec<String>> {
    let start = readme
        .find("examen eval examples/sandbox/")
        .expect("README.md shows the sandbox example's commands");
    let block = &readme[start
        ..readme[start..]
            .find("```")
            .map_or(readme.len(), |e| start + e)];
    let joined = block.replace("\\\n", " ");
    joined
        .lines()
        .map(|line| line.split(" # ").next().unwrap_or(line).trim())
        .filter(|line| !line.is_empty())
        .map(|line| examen_args(line).unwrap_or_else(|why| panic!("{why}")))
        .collect()
}

#[test]
fn the_readme_sandbox_commands_run_as_written() {
    let readme = std::fs::read_to_string(workspace().join("README.md")).unwrap();
    let commands = sandbox_block(&readme);
    assert_eq!(commands.len(), 3, "{commands:?}");
    let bwrap = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .any(|dir| dir.join("bwrap").is_file());
    if !bwrap {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "bwrap is missing on CI"
        );
        eprintln!("SKIPPED: the README's bwrap line, as bubblewrap is not installed");
    }
    for backend in backends() {
        let sandbox = Sandbox::on(backend);
        copy_example(&sandbox, "sandbox");
        // Sandboxes are made under the temporary directory: this test's own, so that the
        // cleanup it runs sees only its own.
        let tmp = sandbox.path().join("tmp");
        std::fs::create_dir_all(&tmp).unwrap();
        let examen = |args: &[String]| {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let mut cmd = sandbox.examen(&args);
            cmd.env("TMPDIR", &tmp);
            run(&mut cmd)
        };
        let out = examen(&commands[0]);
        assert_eq!(out.code, 0, "{backend}: {out:?}");
        assert!(out.stdout.contains("accuracy 1.000"), "{}", out.stdout);
        let log =
            examen_log::read_log(&sandbox.logs("logs")[0], examen_log::ReadOptions::default())
                .unwrap();
        let sample = &log.samples.as_ref().unwrap()[0];
        let tool = sample.messages.iter().find(|m| m.role() == "tool").unwrap();
        assert_eq!(
            tool.text(),
            "3\nready\n",
            "the files and the setup were there"
        );
        if !bwrap {
            continue;
        }
        let out = examen(&commands[1]);
        assert_eq!(out.code, 0, "{backend}: {out:?}");
        assert!(
            out.stderr
                .contains("Sandboxes kept (--no-sandbox-cleanup):"),
            "{}",
            out.stderr
        );
        assert!(
            out.stderr
                .contains("Remove them with `examen sandbox cleanup bwrap`"),
            "{}",
            out.stderr
        );
        let kept = || {
            std::fs::read_dir(&tmp)
                .unwrap()
                .filter(|e| {
                    e.as_ref()
                        .unwrap()
                        .file_name()
                        .to_string_lossy()
                        .starts_with("examen-bwrap-")
                })
                .count()
        };
        assert_eq!(kept(), 1);
        let out = examen(&commands[2]);
        assert_eq!(out.code, 0, "{backend}: {out:?}");
        assert!(out.stdout.contains("1 removed"), "{}", out.stdout);
        assert_eq!(kept(), 0, "examen sandbox cleanup removed it");
    }
}
