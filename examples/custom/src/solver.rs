//! A custom solver: shouts the prompt (upper case, plus a suffix).

use examen::{Args, ChatMessage, SampleContext, SampleError, Solver, TaskState};

/// Rewrites the last user message in upper case, followed by `suffix`.
#[derive(Debug)]
pub struct Shout {
    /// Appended to the prompt.
    pub suffix: String,
}

impl Solver for Shout {
    fn name(&self) -> &str {
        "shout"
    }

    async fn solve(&self, state: &mut TaskState, _ctx: &SampleContext) -> Result<(), SampleError> {
        let prompt = state
            .user_prompt_text()
            .ok_or_else(|| SampleError::failed("shout: no prompt"))?;
        // Any error converts with `?`: here, a prompt that is not valid UTF-8 after a round trip.
        let prompt = String::from_utf8(prompt.into_bytes())?;
        state
            .messages
            .retain(|m| !matches!(m, ChatMessage::User(_)));
        let text = format!("{}{}", prompt.to_uppercase(), self.suffix);
        state.messages.push(ChatMessage::user(text));
        Ok(())
    }
}

/// `shout` or `{shout: {suffix: "!"}}`.
pub fn factory(args: &Args<'_>) -> Result<Shout, String> {
    let suffix = args.json()["suffix"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    Ok(Shout { suffix })
}
