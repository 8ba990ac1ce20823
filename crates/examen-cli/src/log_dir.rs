//! The log directory the CLI hands the engine: the engine's [`LogDir`], except that each task ×
//! model run gets its own `task_id`, as in Inspect.
//!
//! The engine gives a task one `task_id` for all its models, and log files are named
//! `{created}_{task}_{task_id}` with `created` to the second, so one task run against two models
//! in the same second would name two logs alike and the second writer would corrupt the first.
//! Reported in /work/requests-examen.txt (item 6); delete this wrapper once the engine gives
//! each run its own id.

use std::sync::Arc;

use examen::runner::log::{EvalLogger, LogSink, LogSinkError, TaskStart};
use examen::runner::LogDir;
use examen::BoxFuture;

pub(crate) struct CliLogDir(pub(crate) LogDir);

impl EvalLogger for CliLogDir {
    fn open<'a>(
        &'a self,
        start: &'a TaskStart,
    ) -> BoxFuture<'a, Result<Arc<dyn LogSink>, LogSinkError>> {
        Box::pin(async move {
            let mut start = start.clone();
            start.task_id = examen_types::short_uuid();
            self.0.open(&start).await
        })
    }
}
