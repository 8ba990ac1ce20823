//! `examen eval` in a real pseudo-terminal: with stdout and stderr on a terminal (and no `CI`)
//! the default display is `rich`, so the progress bar is drawn and redrawn, and the results
//! panel follows; `NO_COLOR` removes the colours but not the bar.
//!
//! The PTY comes from rustix's safe wrappers: nothing to install on a CI machine.

use std::io::Read;
use std::process::Stdio;

use rustix::fs::{open, Mode, OFlags};
use rustix::pty::{grantpt, openpt, ptsname, unlockpt, OpenptFlags};
use rustix::termios::{tcsetwinsize, Winsize};

use crate::support::{backends, Sandbox};

/// Runs `examen ARGS` with its stdin, stdout and stderr on a new terminal; returns what the
/// terminal received and the exit code.
fn run_in_pty(sandbox: &Sandbox, args: &[&str], env: &[(&str, &str)]) -> (String, i32) {
    let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC).unwrap();
    grantpt(&master).unwrap();
    unlockpt(&master).unwrap();
    let name = ptsname(&master, Vec::new()).unwrap();
    let slave = open(
        name.as_c_str(),
        OFlags::RDWR | OFlags::NOCTTY,
        Mode::empty(),
    )
    .unwrap();
    tcsetwinsize(
        &slave,
        Winsize {
            ws_row: 40,
            ws_col: 140,
            ws_xpixel: 0,
            ws_ypixel: 0,
        },
    )
    .unwrap();
    let mut cmd = sandbox.examen(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.env("TERM", "xterm-256color")
        .stdin(Stdio::from(slave.try_clone().unwrap()))
        .stdout(Stdio::from(slave.try_clone().unwrap()))
        .stderr(Stdio::from(slave));
    let mut child = cmd.spawn().unwrap();
    // Our copies of the terminal's end are gone with `cmd`: reading the master ends (EIO) when
    // the child exits.
    drop(cmd);
    let reader = std::thread::spawn(move || {
        let mut master = std::fs::File::from(master);
        let mut screen = Vec::new();
        let mut chunk = [0u8; 8192];
        loop {
            match master.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => screen.extend_from_slice(&chunk[..n]),
            }
        }
        screen
    });
    let status = child.wait().unwrap();
    let screen = reader.join().unwrap();
    (
        String::from_utf8_lossy(&screen).into_owned(),
        status.code().unwrap_or(-1),
    )
}

/// Whether `text` sets a colour or text style (an SGR sequence `ESC [ ... m`).
fn has_sgr(text: &str) -> bool {
    text.split("\x1b[").skip(1).any(|rest| {
        let end = rest.find(|c: char| !(c.is_ascii_digit() || c == ';'));
        end.is_some_and(|i| rest[i..].starts_with('m'))
    })
}

#[test]
fn the_progress_bar_is_drawn_on_a_terminal() {
    for backend in backends() {
        let sandbox = Sandbox::new();
        let args = [
            "eval",
            "arithmetic/task.yaml",
            "--model",
            "mockllm/model",
            "-M",
            "latency=0.02",
            "--limit",
            "10",
            "--max-samples",
            "2",
            "--async-backend",
            backend,
        ];
        let (screen, code) = run_in_pty(&sandbox, &args, &[]);
        assert_eq!(code, 0, "{screen}");
        // The bar: label, a full bar, the count and the final status.
        let bar = screen
            .lines()
            .rev()
            .find(|l| l.contains("arithmetic · mockllm/model") && l.contains("20/20"))
            .unwrap_or_else(|| panic!("no finished bar in {screen:?}"));
        assert!(bar.contains("=========="), "{bar:?}");
        assert!(bar.contains("done"), "{bar:?}");
        // Drawn live: lines are cleared and rewritten in place.
        assert!(
            screen.contains("\x1b[2K") || screen.contains("\x1b[1A"),
            "{screen:?}"
        );
        // Then the results panel, in colour.
        assert!(
            screen.contains('╭') && screen.contains("success"),
            "{screen}"
        );
        assert!(has_sgr(&screen), "{screen:?}");

        let (screen, code) = run_in_pty(&sandbox, &args, &[("NO_COLOR", "1")]);
        assert_eq!(code, 0, "{screen}");
        assert!(screen.contains("20/20") && screen.contains('╭'), "{screen}");
        assert!(!has_sgr(&screen), "colour despite NO_COLOR: {screen:?}");
    }
}
