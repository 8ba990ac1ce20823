//! The docker sandbox's own promises, beyond the conformance suite: isolation from the host
//! (network, files, processes), Inspect's compose rules (discovery, the default service,
//! `container_name`), labels, and nothing left behind after cleanup. On tokio and on smol.

mod support;

use support::sh;

use std::path::{Path, PathBuf};
use std::time::Duration;

use examen_sandbox::docker::{compose, DockerSandbox};
use examen_sandbox::{
    DockerProvider, ExecRequest, SampleInfo, SandboxConfig, SandboxEnvironments, SandboxError,
    SandboxProvider,
};

fn sample(tag: &str) -> SampleInfo {
    SampleInfo {
        task: format!("docker-{tag}"),
        eval_id: format!("eval{}", examen_types::short_uuid()),
        sample_id: format!("s-{tag}"),
        epoch: 2,
        ..SampleInfo::default()
    }
}

fn docker_sandbox<'a>(envs: &'a SandboxEnvironments, name: &str) -> &'a DockerSandbox {
    envs.get(name)
        .unwrap_or_else(|| panic!("no environment {name}"))
        .as_any()
        .downcast_ref::<DockerSandbox>()
        .expect("a docker sandbox")
}

/// The containers of compose project `project`, through the Engine API.
async fn project_containers(provider: &DockerProvider, project: &str) -> usize {
    let label = format!("com.docker.compose.project={project}");
    provider
        .engine()
        .unwrap()
        .containers_labelled(&[&label])
        .await
        .unwrap()
        .len()
}

/// A fresh directory for a test's compose files.
fn scratch(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "examen-docker-test-{tag}-{}",
        examen_types::short_uuid()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn config(path: &Path) -> SandboxConfig {
    SandboxConfig {
        config: Some(path.to_string_lossy().into_owned()),
    }
}

#[examen_rt::test]
async fn the_host_loopback_is_out_of_reach() {
    let Some(provider) = support::docker() else {
        return;
    };
    let listener = examen_rt::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    let envs = provider
        .sample_init(&SandboxConfig::default(), &sample("net"))
        .await
        .unwrap();
    let sandbox = envs.default_sandbox().unwrap().clone();
    let script = format!(
        "import socket\n\
         for host in ('127.0.0.1', '172.17.0.1', '10.0.2.2'):\n\
         \x20   try:\n\
         \x20       socket.create_connection((host, {port}), timeout=2)\n\
         \x20       print('connected', host)\n\
         \x20   except OSError as e:\n\
         \x20       print('refused', host)\n"
    );
    let tried = sandbox
        .exec(ExecRequest::new(["python3", "-c", &script]))
        .await
        .unwrap();
    assert_eq!(
        tried.stdout, "refused 127.0.0.1\nrefused 172.17.0.1\nrefused 10.0.2.2\n",
        "{tried:?}"
    );
    let interfaces = sandbox.exec(sh("ls /sys/class/net")).await.unwrap();
    assert_eq!(interfaces.stdout, "lo\n", "network_mode: none");
    let accepted = examen_rt::timeout(Duration::from_millis(200), listener.accept()).await;
    assert!(
        accepted.is_err(),
        "the host's listener accepted a connection from the sandbox"
    );
    provider
        .sample_cleanup(&SandboxConfig::default(), envs, false)
        .await
        .unwrap();
}

#[examen_rt::test]
async fn writes_stay_in_the_container() {
    let Some(provider) = support::docker() else {
        return;
    };
    let envs = provider
        .sample_init(&SandboxConfig::default(), &sample("fs"))
        .await
        .unwrap();
    let sandbox = envs.default_sandbox().unwrap().clone();
    let host_dir = scratch("fs");
    let by_exec = host_dir.join("by-exec");
    let by_file = host_dir.join("by-file");
    let wrote = sandbox
        .exec(sh(&format!(
            "mkdir -p {0} && echo x > {1} && cat {1}",
            host_dir.display(),
            by_exec.display()
        )))
        .await
        .unwrap();
    assert_eq!(wrote.stdout, "x\n", "the write happened, in the container");
    sandbox
        .write_file(&by_file.to_string_lossy(), b"y")
        .await
        .unwrap();
    assert_eq!(
        sandbox.read_text(&by_file.to_string_lossy()).await.unwrap(),
        "y"
    );
    assert!(!by_exec.exists() && !by_file.exists(), "reached the host");
    // Nor can a path climb out of the container's root (the daemon may refuse it, or keep
    // it inside: either way the host's file does not appear).
    let _ = sandbox
        .write_file(&format!("../../../..{}", by_file.display()), b"z")
        .await;
    assert!(!by_file.exists(), "reached the host through ..");
    provider
        .sample_cleanup(&SandboxConfig::default(), envs, false)
        .await
        .unwrap();
    std::fs::remove_dir_all(host_dir).unwrap();
}

/// Host processes whose command line passes `test`.
fn host_processes(test: impl Fn(&str) -> bool) -> usize {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(Result::ok)
        .filter(|entry| {
            std::fs::read(entry.path().join("cmdline"))
                .is_ok_and(|cmdline| test(&String::from_utf8_lossy(&cmdline)))
        })
        .count()
}

#[examen_rt::test]
async fn a_fork_bomb_and_a_process_ignoring_sigterm_are_gone_after_cleanup() {
    let Some(provider) = support::docker() else {
        return;
    };
    let envs = provider
        .sample_init(&SandboxConfig::default(), &sample("bomb"))
        .await
        .unwrap();
    let sandbox = envs.default_sandbox().unwrap().clone();
    let project = docker_sandbox(&envs, "default").project().to_owned();
    let marker = format!("examenbomb{}", examen_types::short_uuid());
    // The sleeper ignores SIGTERM under a name carrying the marker; the bomb's shells carry
    // it as their $0. Both are started in the background and the exec returns.
    let started = sandbox
        .exec(ExecRequest::new([
            "bash",
            "-c",
            &format!(
                "(trap '' TERM; exec -a sleeper-{marker} sleep 1000) >/dev/null 2>&1 &\n\
                 sh -c 'f() {{ f | f & }}; f' bomb-{marker} >/dev/null 2>&1 &\n\
                 echo started"
            ),
        ]))
        .await
        .unwrap();
    assert_eq!(started.stdout, "started\n");
    // Seen from the host while the container runs (so the check below can fail).
    let mut seen = 0;
    for _ in 0..100 {
        // By its name (argv[0]): the starting shell's script also mentions it, for a moment.
        let name = format!("sleeper-{marker}\0");
        seen = host_processes(|cmdline| cmdline.starts_with(&name));
        if seen > 0 {
            break;
        }
        examen_rt::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(seen, 1, "the sleeper runs");
    examen_rt::sleep(Duration::from_millis(500)).await;
    provider
        .sample_cleanup(&SandboxConfig::default(), envs, true)
        .await
        .unwrap();
    assert_eq!(project_containers(&provider, &project).await, 0);
    assert_eq!(
        host_processes(|cmdline| cmdline.contains(&marker)),
        0,
        "something survived"
    );
}

#[examen_rt::test]
async fn compose_files_are_found_and_the_default_service_comes_first() {
    let Some(provider) = support::docker() else {
        return;
    };
    let dir = scratch("compose");
    // Discovery in a directory, by Inspect's order: compose files, then a Dockerfile, then
    // the default image.
    assert_eq!(
        compose::resolve(None, &dir, "img").unwrap(),
        compose::Source::Image("img".to_owned())
    );
    std::fs::write(dir.join("Dockerfile"), "FROM examen-sandbox:bookworm\n").unwrap();
    assert_eq!(
        compose::resolve(None, &dir, "img").unwrap(),
        compose::Source::Dockerfile(dir.join("Dockerfile"))
    );
    std::fs::write(dir.join("docker-compose.yml"), "services: {}\n").unwrap();
    std::fs::write(dir.join("compose.yaml"), "services: {}\n").unwrap();
    assert_eq!(
        compose::resolve(None, &dir, "img").unwrap(),
        compose::Source::Compose(dir.join("compose.yaml"))
    );
    assert!(compose::resolve(Some("missing.yaml"), &dir, "img").is_err());

    let file = dir.join("two.yaml");
    std::fs::write(
        &file,
        "services:\n\
         \x20 aux:\n\
         \x20   image: examen-sandbox:bookworm\n\
         \x20   x-local: true\n\
         \x20   init: true\n\
         \x20   command: tail -f /dev/null\n\
         \x20   environment: [ROLE=aux]\n\
         \x20 main:\n\
         \x20   image: examen-sandbox:bookworm\n\
         \x20   x-local: true\n\
         \x20   x-default: true\n\
         \x20   init: true\n\
         \x20   working_dir: /srv\n\
         \x20   command: tail -f /dev/null\n\
         \x20   environment: [ROLE=main]\n",
    )
    .unwrap();
    let info = sample("two");
    let envs = provider.sample_init(&config(&file), &info).await.unwrap();
    assert_eq!(envs.names().collect::<Vec<_>>(), ["main", "aux"]);
    let role = envs
        .default_sandbox()
        .unwrap()
        .exec(sh("echo $ROLE; pwd; ls /sys/class/net"))
        .await
        .unwrap();
    assert_eq!(role.stdout, "main\n/srv\nlo\n", "the x-default service");
    let aux = envs
        .get("aux")
        .unwrap()
        .exec(sh("echo $ROLE"))
        .await
        .unwrap();
    assert_eq!(aux.stdout, "aux\n");
    let main = docker_sandbox(&envs, "main");
    let connection = envs.default_sandbox().unwrap().connection().unwrap();
    assert_eq!(connection.container.as_deref(), Some(main.container()));
    assert!(connection
        .command
        .contains("docker exec -it --workdir /srv"));
    // The labels carry the sample, so leftovers need no state file.
    let inspected = provider
        .engine()
        .unwrap()
        .inspect_container(main.container())
        .await
        .unwrap();
    let labels = &inspected["Config"]["Labels"];
    assert_eq!(labels["examen.eval_id"], info.eval_id.as_str());
    assert_eq!(labels["examen.sample_id"], "s-two");
    assert_eq!(labels["examen.epoch"], "2");
    let project = main.project().to_owned();
    assert!(project.starts_with("examen-docker-two-"), "{project}");
    assert_eq!(project_containers(&provider, &project).await, 2);
    provider
        .sample_cleanup(&config(&file), envs, false)
        .await
        .unwrap();
    assert_eq!(project_containers(&provider, &project).await, 0);
    std::fs::remove_dir_all(dir).unwrap();
}

#[examen_rt::test]
async fn a_dockerfile_gets_a_default_service_built_from_it() {
    let Some(provider) = support::docker() else {
        return;
    };
    let dir = scratch("build");
    let dockerfile = dir.join("Dockerfile");
    std::fs::write(
        &dockerfile,
        "FROM examen-sandbox:bookworm\nRUN echo built > /built\nWORKDIR /work\n",
    )
    .unwrap();
    let envs = provider
        .sample_init(&config(&dockerfile), &sample("build"))
        .await
        .unwrap();
    assert_eq!(envs.names().collect::<Vec<_>>(), ["default"]);
    let seen = envs
        .default_sandbox()
        .unwrap()
        .exec(sh("cat /built; pwd"))
        .await
        .unwrap();
    assert_eq!(seen.stdout, "built\n/work\n");
    provider
        .sample_cleanup(&config(&dockerfile), envs, false)
        .await
        .unwrap();
    std::fs::remove_dir_all(dir).unwrap();
}

#[examen_rt::test]
async fn container_name_and_missing_local_images_are_refused_clearly() {
    let Some(provider) = support::docker() else {
        return;
    };
    let dir = scratch("refused");
    let named = dir.join("named.yaml");
    std::fs::write(
        &named,
        "services:\n  default:\n    image: examen-sandbox:bookworm\n    container_name: fixed\n",
    )
    .unwrap();
    let error = provider
        .sample_init(&config(&named), &sample("named"))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, SandboxError::Invalid(m) if m.contains("container_name")),
        "{error}"
    );
    let missing = dir.join("missing.yaml");
    std::fs::write(
        &missing,
        "services:\n  default:\n    image: examen-no-such-image:latest\n    x-local: true\n",
    )
    .unwrap();
    let error = provider
        .sample_init(&config(&missing), &sample("missing"))
        .await
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("'examen-no-such-image:latest' (service 'default') is not present"),
        "{error}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[examen_rt::test]
async fn a_dead_container_is_unavailable_not_a_failed_command() {
    let Some(provider) = support::docker() else {
        return;
    };
    let envs = provider
        .sample_init(&SandboxConfig::default(), &sample("dead"))
        .await
        .unwrap();
    let sandbox = envs.default_sandbox().unwrap().clone();
    // PID 1 is the init (which ignores SIGKILL from inside); SIGTERM makes it end its child
    // and exit, which stops the container under the running command.
    let killed = sandbox.exec(sh("kill 1; sleep 5")).await;
    assert!(
        matches!(killed, Err(SandboxError::Unavailable(_))),
        "{killed:?}"
    );
    let after = sandbox.exec(sh("true")).await.unwrap_err();
    assert!(matches!(after, SandboxError::Unavailable(_)), "{after:?}");
    assert_eq!(
        after.kind(),
        examen_types::ToolCallErrorType::SandboxUnavailable
    );
    provider
        .sample_cleanup(&SandboxConfig::default(), envs, true)
        .await
        .unwrap();
}
