//! One module per verb; [`run`] dispatches a parsed command line to it.

pub(crate) mod env;
pub(crate) mod eval;
pub(crate) mod eval_retry;
pub(crate) mod list;
pub(crate) mod log;
pub(crate) mod sandbox;
pub(crate) mod score;

use examen_rt::CancelToken;

use crate::args::{Cli, Command};
use crate::display::Mode;
use crate::error::{CliError, Exit};

/// Runs the command inside the runtime `main` started. `cancel` stops an eval or a scoring run
/// (the seam for signal handling: cancelling it ends the run with exit code 130).
pub(crate) async fn run(cli: Cli, cancel: CancelToken) -> Result<Exit, CliError> {
    let mode = Mode::resolve(cli.command.run_args().and_then(|run| run.display));
    let open_files = crate::open_files::raise_limit();
    examen_model::set_connection_ceiling(open_files.connection_ceiling());
    let max_connections = match &cli.command {
        Command::Eval(args) => args.max_connections,
        Command::EvalRetry(args) => args.max_connections,
        Command::Score(args) => args.max_connections,
        _ => None,
    };
    if let Some(warning) = crate::open_files::clamp_warning(&open_files, max_connections) {
        eprintln!("warning: {warning}");
    }
    match cli.command {
        Command::Eval(args) => {
            let _watcher = watch_interrupts(cancel.clone());
            eval::run(*args, mode, cancel).await
        }
        Command::EvalRetry(args) => {
            let _watcher = watch_interrupts(cancel.clone());
            eval_retry::run(args, mode, cancel).await
        }
        Command::Score(args) => {
            let _watcher = watch_interrupts(cancel.clone());
            score::run(args, mode, cancel).await
        }
        Command::Log { command } => log::run(command).await,
        Command::List(args) => list::run(&args),
        Command::Env => env::run(),
        Command::Sandbox { command } => sandbox::run(command).await,
        Command::Reference(args) => crate::reference::run(&args),
    }
}

/// Cancels `cancel` on the first SIGINT or SIGTERM: the engine stops starting samples, cancels
/// those in flight and completes the logs as `cancelled` (exit code 130). A second signal ends
/// the process at once. The watcher stops when the returned handle is dropped. Only commands that
/// honour `cancel` install it, so the others keep the signals' default action.
fn watch_interrupts(cancel: CancelToken) -> Option<examen_rt::JoinHandle<()>> {
    let mut interrupts = examen_rt::signal::Interrupts::new().ok()?;
    Some(examen_rt::spawn(async move {
        if let Some(signal) = interrupts.next().await {
            eprintln!("{signal}: stopping and completing the logs (again to quit at once)");
            cancel.cancel();
        }
        if interrupts.next().await.is_some() {
            std::process::exit(i32::from(Exit::Interrupted.code()));
        }
    }))
}
