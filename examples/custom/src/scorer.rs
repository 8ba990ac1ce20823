//! A custom scorer: the answer equals the target exactly, case included.

use examen::scorer::{CORRECT, INCORRECT};
use examen::{Args, SampleContext, SampleError, Score, Scorer, Target, TaskState};

/// `C` when the completion is one of the targets, character for character.
#[derive(Debug)]
pub struct ExactCase;

impl Scorer for ExactCase {
    fn name(&self) -> &str {
        "exact_case"
    }

    async fn score(
        &self,
        state: &TaskState,
        target: &Target,
        _ctx: &SampleContext,
    ) -> Result<Option<Score>, SampleError> {
        let answer = state.output.completion.clone();
        let correct = target.as_list().contains(&answer);
        let score = Score::new(if correct { CORRECT } else { INCORRECT });
        Ok(Some(score.with_answer(answer)))
    }
}

/// Takes no arguments.
pub fn factory(args: &Args<'_>) -> Result<ExactCase, String> {
    args.none()?;
    Ok(ExactCase)
}
