//! Scripts: the turns of a conversation the server plays, in examen's mockllm script format.

use std::path::Path;

use serde_json::{Map, Value};

/// One turn of a script: the assistant message the server answers with.
///
/// A request whose `messages` hold `n` assistant messages is answered with turn `n` (from 0),
/// so every conversation plays the whole script, however many run side by side.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScriptTurn {
    /// The answer's text; `None` with tool calls sends no text (`"content": null` in Chat
    /// Completions, no text block in Messages), and without them an empty text.
    pub content: Option<String>,
    /// The tool calls the answer makes, in order (several make parallel calls).
    pub tool_calls: Vec<ScriptToolCall>,
}

impl ScriptTurn {
    /// A turn that answers `text` and calls no tool.
    pub fn text(text: impl Into<String>) -> ScriptTurn {
        ScriptTurn {
            content: Some(text.into()),
            tool_calls: Vec::new(),
        }
    }
}

/// One tool call of a [`ScriptTurn`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScriptToolCall {
    /// The name of the tool called.
    pub function: String,
    /// The call's arguments, sent in this order.
    pub arguments: Map<String, Value>,
    /// The call's id; `None` gives `call_{turn}_{index}`, turn and index counted from 0, so
    /// every client sees the same ids.
    pub id: Option<String>,
}

/// The id of a call that has none of its own: `call_{turn}_{index}`, both counted from 0.
pub(crate) fn default_call_id(turn: usize, index: usize) -> String {
    format!("call_{turn}_{index}")
}

/// Reads a script from a `.json` file holding a list of turns or a `.jsonl` file with one
/// turn per line (blank lines are skipped). A turn is the answer's text, or
/// `{"content": "...", "tool_calls": [{"function": "...", "arguments": {...}, "id": "..."}]}`
/// (`content` and each call's `id` are optional): examen's mockllm script format, read the
/// same way.
///
/// # Errors
///
/// A message naming the file and the line (`.jsonl`, and JSON syntax errors) or the turn,
/// counted from 1 (`.json`): `turns.json: turn 2: tool_calls[0] has no `function` name`.
pub fn read_script(path: &Path) -> Result<Vec<ScriptTurn>, String> {
    let shown = path.display();
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the script {shown}: {e}"))?;
    let jsonl = path.extension().is_some_and(|ext| ext == "jsonl");
    // Each turn with the line it came from (0 for a `.json` list).
    let turns: Vec<(usize, Value)> = if jsonl {
        text.lines()
            .enumerate()
            .filter(|(_, line)| !line.trim().is_empty())
            .map(|(i, line)| {
                serde_json::from_str(line)
                    .map(|turn| (i + 1, turn))
                    .map_err(|e| format!("{shown}:{}: {e}", i + 1))
            })
            .collect::<Result<_, _>>()?
    } else {
        match serde_json::from_str(&text) {
            Ok(Value::Array(turns)) => turns.into_iter().map(|turn| (0, turn)).collect(),
            Ok(_) => return Err(format!("{shown}: expected a JSON list of turns")),
            Err(e) => return Err(format!("{shown}:{}: {e}", e.line())),
        }
    };
    turns
        .into_iter()
        .enumerate()
        .map(|(index, (line, turn))| {
            parse_turn(turn).map_err(|e| match line {
                0 => format!("{shown}: turn {}: {e}", index + 1),
                line => format!("{shown}:{line}: {e}"),
            })
        })
        .collect()
}

/// One turn: its text, or `{content?, tool_calls?}`.
fn parse_turn(turn: Value) -> Result<ScriptTurn, String> {
    let (content, calls) = match turn {
        Value::String(text) => return Ok(ScriptTurn::text(text)),
        Value::Object(mut turn) => {
            let content = match turn.remove("content") {
                None | Some(Value::Null) => None,
                Some(Value::String(text)) => Some(text),
                Some(_) => return Err("`content` must be a string".to_owned()),
            };
            let calls = match turn.remove("tool_calls") {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Array(calls)) => calls,
                Some(_) => return Err("`tool_calls` must be a list".to_owned()),
            };
            if let Some(other) = turn.keys().next() {
                return Err(format!(
                    "unknown field `{other}`; expected content or tool_calls"
                ));
            }
            (content, calls)
        }
        _ => return Err("a turn is a string or {content, tool_calls}".to_owned()),
    };
    let mut tool_calls = Vec::with_capacity(calls.len());
    for (i, call) in calls.into_iter().enumerate() {
        let Value::Object(mut call) = call else {
            return Err(format!("tool_calls[{i}] must be {{function, arguments}}"));
        };
        let Some(Value::String(function)) = call.remove("function") else {
            return Err(format!("tool_calls[{i}] has no `function` name"));
        };
        let arguments = match call.remove("arguments") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(arguments)) => arguments,
            Some(_) => return Err(format!("tool_calls[{i}]: `arguments` must be an object")),
        };
        // As examen's mockllm reads it: an id that is not a string counts as absent.
        let id = match call.remove("id") {
            Some(Value::String(id)) => Some(id),
            _ => None,
        };
        tool_calls.push(ScriptToolCall {
            function,
            arguments,
            id,
        });
    }
    Ok(ScriptTurn {
        content,
        tool_calls,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_turn_is_text_or_content_with_tool_calls() {
        assert_eq!(parse_turn(json!("hi")).unwrap(), ScriptTurn::text("hi"));
        let turn = parse_turn(json!({"tool_calls": [
            {"function": "think", "arguments": {"thought": "a"}},
            {"function": "add", "arguments": {"x": 1, "y": 2}, "id": "mine"},
        ]}))
        .unwrap();
        assert_eq!(turn.content, None);
        assert_eq!(turn.tool_calls[0].function, "think");
        assert_eq!(turn.tool_calls[0].id, None);
        assert_eq!(turn.tool_calls[1].id.as_deref(), Some("mine"));
        let keys: Vec<&String> = turn.tool_calls[1].arguments.keys().collect();
        assert_eq!(keys, ["x", "y"]);
    }

    #[test]
    fn bad_turns_say_what_is_wrong() {
        for (turn, expected) in [
            (json!(3), "a turn is a string or {content, tool_calls}"),
            (json!({"content": 1}), "`content` must be a string"),
            (json!({"tool_calls": {}}), "`tool_calls` must be a list"),
            (json!({"text": "x"}), "unknown field `text`"),
            (json!({"tool_calls": ["think"]}), "tool_calls[0] must be"),
            (
                json!({"tool_calls": [{"arguments": {}}]}),
                "has no `function` name",
            ),
            (
                json!({"tool_calls": [{"function": "f", "arguments": []}]}),
                "tool_calls[0]: `arguments` must be an object",
            ),
        ] {
            let message = parse_turn(turn.clone()).unwrap_err();
            assert!(message.contains(expected), "{turn}: {message}");
        }
    }
}
