//! Extending examen from Rust: a custom solver ([`solver`]), scorer
//! ([`scorer`]), metric ([`metric`]), model API ([`model_api`]) and tool
//! ([`tool`]), each registered by name and used from `task.yaml` (in this
//! directory), with nothing but the `examen` crate.
//!
//! ```no_run
//! let task = examen_example_custom::registry()
//!     .load_task_file("examples/custom/task.yaml", &[])
//!     .unwrap();
//! ```

#![warn(missing_docs)]

pub mod metric;
pub mod model_api;
pub mod scorer;
pub mod solver;
pub mod tool;

use examen::Registry;

/// The built-in registry with this crate's solver, scorer, metric and tool;
/// also registers the `echo` model API (process-wide, as model APIs are).
pub fn registry() -> Registry {
    examen::register_model_api("echo", model_api::factory);
    let mut registry = Registry::builtin();
    registry
        .solver(
            "shout",
            "upper-case the prompt and add a suffix",
            solver::factory,
        )
        .scorer(
            "exact_case",
            "the answer equals a target, case included",
            scorer::factory,
        )
        .metric(
            "correct_count",
            "how many samples were correct",
            metric::factory,
        )
        .tool("add", "add two integers", tool::factory);
    registry
}
