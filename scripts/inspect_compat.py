"""Inspect compatibility checks for examen's eval logs.

Run with the venv made by scripts/inspect-venv.sh (pinned inspect-ai).

  check EXPECTED.json LOG...
      Reads each LOG with Inspect's own reader and checks it against the expected
      values (a JSON file written by examen's test):
        {"status": "success", "samples": 6,
         "scores": {"<id>:<epoch>": {"<scorer>": <value>}},
         "metrics": {"<score name>[/<reducer>]": {"<metric>": <value>}}}
      Checks: read_eval_log (full and header_only), read_eval_log_sample_summaries,
      `inspect log dump` (and `--header-only`), status, sample counts, every sample's
      scores and every metric (floats compared to 1e-9; NaN equals NaN). A
      "samples" value of null skips the sample checks. EXPECTED maps each log path
      to its expected values ("*" for any other log); NaN is written as null.
      Prints one line per log and exits non-zero on the first mismatch.

  generate OUT_DIR
      Runs a small task with Inspect itself on mockllm/model, offline, writing one
      .eval and one .json log to OUT_DIR, and prints (stdout, JSON) what Inspect
      reports for them: {"logs": [...], "status", "samples", "scores", "metrics"}.
      examen's test reads those logs and compares.

  shapes OUT_DIR
      Runs two small tasks with Inspect on mockllm/model: one with a `grouped` metric and
      a task config, one whose every sample errors (fail_on_error=False); prints (stdout,
      JSON) the parts of their logs Inspect's viewer relies on: whether there are
      results, each metric's params, the scorers' metric options, model_generate_config,
      plan.config, whether eval.config has `score`, and the mockllm model event's call
      record. examen's test writes the same tasks and compares.

  multiturn OUT_DIR
      Runs a three-turn conversation (system message, three generates with a user
      message between each) with Inspect on mockllm/model, writing one .eval and one
      .json log (condensed by Inspect's recorder: inputs pooled in `events_data`,
      model events holding `input_refs` and `call.call_refs`), and prints
      {"logs": [...]}. examen's test reads them and re-condenses what it read.

  agent TASK.yaml SCRIPT.jsonl OUT_DIR
      Runs one of examples/agent's tasks with Inspect itself: its samples, its solvers
      (system_message, use_tools([think()]), generate(), react(prompt, tools, attempts))
      and includes(), on mockllm/model playing SCRIPT
      (each sample gets the whole script, samples one at a time), writing one .eval log
      to OUT_DIR; prints {"logs": [...]}.

  agent-server TASK.yaml MODEL OUT_DIR
      Runs the same kind of task (tools think, bash and python; bash and python in
      Inspect's `local` sandbox) with Inspect against a real model API, MODEL such as
      `openai-api/mock/mock-model` or `anthropic/claude-x` with its base URL and key in
      the environment (examen's test points them at examen-mock-server on 127.0.0.1),
      samples one at a time, writing one .eval log to OUT_DIR; prints {"logs": [...]}.

  transcript LOG...
      Reads each LOG with Inspect's reader and prints, per sample "<id>:<epoch>", its
      messages (role, text, tool calls as function and arguments, tool_call_id, function,
      error), its tool events (function, arguments, result, error, and the type of
      the span around it), its spans (type:name, in order) and its score events
      (intermediate or not, value), so that two logs of the same conversation can be
      compared.

  inputs LOG...
      Reads each LOG with Inspect's reader (`read_eval_log`, then
      `resolve_sample_events_data`) and prints (stdout, JSON) every model event's
      resolved input and raw request messages:
        {LOG: {"<id>:<epoch>": [{"input": [message...], "call_messages": [...]}]}}
      (messages dumped with exclude_none; "call_messages" null without a call).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any


def _offline_tokens() -> None:
    # mockllm counts prompt tokens with tiktoken's o200k_base, which downloads its
    # vocabulary on first use; there is no network here, so count approximately.
    import inspect_ai.model._model as model_mod
    import inspect_ai.model._tokens as tokens_mod

    def count_text_tokens(text: str) -> int:
        return max(1, len(text) // 4)

    tokens_mod.count_text_tokens = count_text_tokens
    model_mod.count_text_tokens = count_text_tokens


def _same(a: Any, b: Any) -> bool:
    # JSON has no NaN: the expected side writes it as null
    if isinstance(a, float) and math.isnan(a) and b is None:
        return True
    if isinstance(a, bool) or isinstance(b, bool):
        return a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return abs(a - b) <= 1e-9 * max(1.0, abs(a), abs(b))
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return a == b


class Mismatch(Exception):
    pass


def _expect(what: str, got: Any, want: Any) -> None:
    if not _same(got, want):
        raise Mismatch(f"{what}: got {got!r}, expected {want!r}")


def _metrics(log: Any) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    if log.results is None:
        return out
    for score in log.results.scores:
        # One score per scorer and reducer: "match" alone, or "match/mean" with reducers.
        key = score.name if score.reducer is None else f"{score.name}/{score.reducer}"
        out[key] = {name: m.value for name, m in score.metrics.items()}
    return out


def _sample_scores(samples: Any) -> dict[str, dict[str, Any]]:
    return {
        f"{s.id}:{s.epoch}": {k: v.value for k, v in (s.scores or {}).items()}
        for s in samples
    }


def _inspect_cli() -> list[str]:
    exe = Path(sys.executable).with_name("inspect")
    if exe.exists():
        return [str(exe)]
    return [sys.executable, "-m", "inspect_ai._cli.main"]


def check_log(path: str, expected: dict[str, Any]) -> None:
    from inspect_ai.log import read_eval_log, read_eval_log_sample_summaries

    header = read_eval_log(path, header_only=True)
    _expect("header_only status", header.status, expected["status"])
    _expect("header_only samples", header.samples, None)
    _expect("header_only metrics", _metrics(header), expected["metrics"])

    full = read_eval_log(path)
    _expect("status", full.status, expected["status"])
    _expect("eval_id", full.eval.eval_id, header.eval.eval_id)
    _expect("metrics", _metrics(full), expected["metrics"])
    if expected.get("samples") is not None:
        samples = full.samples or []
        _expect("sample count", len(samples), expected["samples"])
        _expect("sample scores", _sample_scores(samples), expected["scores"])
        if "int_ids" in expected:
            # Integer ids are Python ints of the written value, however large.
            int_ids = sorted(f"{s.id}:{s.epoch}" for s in samples if isinstance(s.id, int))
            _expect("integer ids", int_ids, sorted(expected["int_ids"]))
        if full.results is not None and expected["status"] == "success":
            _expect("results.completed_samples", full.results.completed_samples, expected["samples"])

        summaries = read_eval_log_sample_summaries(path)
        _expect("summary count", len(summaries), expected["samples"])
        _expect("summary scores", _sample_scores(summaries), expected["scores"])

    dump = subprocess.run(
        [*_inspect_cli(), "log", "dump", path],
        capture_output=True,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
    )
    if dump.returncode != 0:
        raise Mismatch(f"inspect log dump failed: {dump.stderr.strip()[-2000:]}")
    dumped = json.loads(dump.stdout)
    _expect("dump status", dumped["status"], expected["status"])
    if expected.get("samples") is not None:
        _expect("dump sample count", len(dumped.get("samples") or []), expected["samples"])
    dump_header = subprocess.run(
        [*_inspect_cli(), "log", "dump", "--header-only", path],
        capture_output=True,
        text=True,
    )
    if dump_header.returncode != 0:
        raise Mismatch(f"inspect log dump --header-only failed: {dump_header.stderr.strip()[-2000:]}")
    _expect("dump --header-only status", json.loads(dump_header.stdout)["status"], expected["status"])


def cmd_check(expected_path: str, logs: list[str]) -> int:
    expected_all = json.loads(Path(expected_path).read_text())
    failed = 0
    for log in logs:
        expected = expected_all[log] if log in expected_all else expected_all["*"]
        try:
            check_log(log, expected)
            print(f"ok: {log}")
        except Mismatch as ex:
            print(f"FAIL: {log}: {ex}")
            failed += 1
        except Exception as ex:  # a reader error is a failure to report, not a crash
            print(f"FAIL: {log}: {type(ex).__name__}: {ex}")
            failed += 1
    print(f"{len(logs) - failed} passed, {failed} failed")
    return 1 if failed else 0


def cmd_generate(out_dir: str) -> int:
    _offline_tokens()
    from inspect_ai import Task, eval
    from inspect_ai.dataset import Sample
    from inspect_ai.scorer import includes
    from inspect_ai.solver import generate

    task = Task(
        name="inspect_compat",
        dataset=[
            Sample(id=1, input="What is 1+1?", target="2"),
            Sample(id="b", input="Say hi", target="Default output from mockllm/model"),
            Sample(id=3, input="Say anything", target="output"),
        ],
        solver=[generate()],
        scorer=[includes()],
    )
    result: dict[str, Any] = {"logs": []}
    for fmt in ("eval", "json"):
        logs = eval(
            task,
            model="mockllm/model",
            log_dir=out_dir,
            log_format=fmt,
            epochs=2,
            display="none",
        )
        log = logs[0]
        if log.status != "success":
            raise SystemExit(f"Inspect run failed: {log.error}")
        result["logs"].append(log.location)
        result["status"] = log.status
        result["samples"] = len(log.samples or [])
        result["scores"] = _sample_scores(log.samples or [])
        result["metrics"] = _metrics(log)
    print(json.dumps(result))
    return 0


def _shapes(log: Any) -> dict[str, Any]:
    """What examen must write as Inspect does, for the viewer (see `shapes` above)."""
    header = json.loads(log.model_dump_json(exclude_none=True))
    out: dict[str, Any] = {
        "status": header["status"],
        "has_results": "results" in header,
        "model_generate_config": header["eval"]["model_generate_config"],
        "plan_config": header["plan"]["config"],
        "config_has_score": "score" in header["eval"]["config"],
    }
    if log.results is not None:
        out["metric_params"] = {
            name: metric["params"]
            for name, metric in header["results"]["scores"][0]["metrics"].items()
        }
        out["scorer_metric_options"] = {
            m["name"].removeprefix("inspect_ai/"): m["options"]
            for m in header["eval"]["scorers"][0]["metrics"]
        }
    for sample in log.samples or []:
        for event in sample.events:
            if event.event == "model" and event.call is not None:
                call = json.loads(event.call.model_dump_json(exclude_none=True))
                out["call"] = {
                    "request_model": call["request"]["model"],
                    "request_keys": sorted(call["request"]),
                    "request_contents": [m["content"] for m in call["request"]["messages"]],
                    "response": call["response"],
                }
                return out
    return out


def cmd_shapes(out_dir: str) -> int:
    _offline_tokens()
    from inspect_ai import Task, eval
    from inspect_ai.dataset import Sample
    from inspect_ai.model import GenerateConfig
    from inspect_ai.scorer import accuracy, grouped, match, stderr
    from inspect_ai.solver import generate, solver

    samples = [
        Sample(id=1, input="What is 1+1?", target="2", metadata={"level": "a"}),
        Sample(id=2, input="Say output", target="output", metadata={"level": "b"}),
    ]
    grouped_task = Task(
        name="shapes",
        dataset=samples,
        solver=[generate()],
        scorer=match(),
        metrics=[grouped(accuracy(), "level"), stderr()],
        config=GenerateConfig(temperature=0.5),
    )

    @solver
    def fails():  # type: ignore[no-untyped-def]
        async def solve(state, generate):  # type: ignore[no-untyped-def]
            raise RuntimeError("every sample errors")

        return solve

    errored_task = Task(
        name="errored",
        dataset=samples,
        solver=[fails()],
        scorer=match(),
        metrics=[grouped(accuracy(), "level"), stderr()],
        config=GenerateConfig(temperature=0.5),
    )
    result: dict[str, Any] = {}
    for key, task, kwargs in [
        ("grouped", grouped_task, {}),
        ("errored", errored_task, {"fail_on_error": False}),
    ]:
        log = eval(
            task,
            model="mockllm/model",
            log_dir=out_dir,
            log_format="json",
            display="none",
            **kwargs,
        )[0]
        result[key] = _shapes(log)
    print(json.dumps(result))
    return 0


def cmd_multiturn(out_dir: str) -> int:
    _offline_tokens()
    from inspect_ai import Task, eval
    from inspect_ai.dataset import Sample
    from inspect_ai.scorer import includes
    from inspect_ai.solver import generate, system_message, user_message

    task = Task(
        name="multiturn",
        dataset=[Sample(id=1, input="Turn one", target="mockllm")],
        solver=[
            system_message("Be brief."),
            generate(),
            user_message("Turn two"),
            generate(),
            user_message("Turn three"),
            generate(),
        ],
        scorer=[includes()],
    )
    result: dict[str, Any] = {"logs": []}
    for fmt in ("eval", "json"):
        log = eval(
            task, model="mockllm/model", log_dir=out_dir, log_format=fmt, display="none"
        )[0]
        if log.status != "success":
            raise SystemExit(f"Inspect run failed: {log.error}")
        result["logs"].append(log.location)
    print(json.dumps(result))
    return 0


def cmd_inputs(logs: list[str]) -> int:
    from inspect_ai.log import read_eval_log, resolve_sample_events_data

    out: dict[str, Any] = {}
    for path in logs:
        per: dict[str, Any] = {}
        for sample in read_eval_log(path).samples or []:
            sample = resolve_sample_events_data(sample)
            events = []
            for event in sample.events:
                if event.event != "model":
                    continue
                call_messages = None
                if event.call is not None:
                    request = event.call.request
                    key = next(
                        (k for k in ("messages", "contents", "input", "inputs") if k in request),
                        None,
                    )
                    call_messages = request.get(key) if key else None
                events.append(
                    {
                        "input": [
                            json.loads(m.model_dump_json(exclude_none=True))
                            for m in event.input
                        ],
                        "input_refs": event.input_refs,
                        "call_messages": call_messages,
                    }
                )
            per[f"{sample.id}:{sample.epoch}"] = events
        out[path] = per
    print(json.dumps(out))
    return 0


def _agent_task(task_path: str) -> Any:
    """examples/agent-style task YAML as an Inspect Task: its samples, its solvers
    (system_message, use_tools, generate(), react(prompt, tools, attempts)), its config and
    includes(); tools from think, bash and python, with Inspect's `local` sandbox when a tool
    runs commands."""
    import yaml
    from inspect_ai import Task
    from inspect_ai.agent import react
    from inspect_ai.dataset import Sample
    from inspect_ai.model import GenerateConfig
    from inspect_ai.scorer import includes
    from inspect_ai.solver import generate, system_message, use_tools
    from inspect_ai.tool import bash, python, think

    spec = yaml.safe_load(Path(task_path).read_text())
    samples = [
        Sample(id=s["id"], input=s["input"], target=s["target"])
        for s in spec["dataset"]["samples"]
    ]
    known = {"think": think, "bash": bash, "python": python}
    used: set[str] = set()

    def tools(names: Any) -> list[Any]:
        for name in names:
            if name not in known:
                raise SystemExit(f"cannot translate tool {name!r}")
        used.update(names)
        return [known[name]() for name in names]

    def solver_step(step: Any) -> Any:
        if step == "generate":
            return generate()
        (name, args), = step.items()
        if name == "system_message":
            return system_message(args)
        if name == "use_tools":
            return use_tools(tools(args))
        if name == "react":
            return react(
                prompt=args.get("prompt"),
                tools=tools(args.get("tools", [])),
                attempts=args.get("attempts", 1),
            )
        raise SystemExit(f"cannot translate solver step {step!r}")

    steps = spec["solver"] if isinstance(spec["solver"], list) else [spec["solver"]]
    solver = [solver_step(step) for step in steps]
    return Task(
        name=spec["name"],
        dataset=samples,
        solver=solver,
        scorer=[includes()],
        config=GenerateConfig(**spec.get("config", {})),
        sandbox="local" if used & {"bash", "python"} else None,
    ), len(samples)


def cmd_agent(task_path: str, script_path: str, out_dir: str) -> int:
    _offline_tokens()
    from inspect_ai import eval
    from inspect_ai.model import ModelOutput, get_model
    from inspect_ai.tool import ToolCall

    task, sample_count = _agent_task(task_path)
    turns = []
    for index, line in enumerate(Path(script_path).read_text().splitlines()):
        if not line.strip():
            continue
        turn = json.loads(line)
        if isinstance(turn, str):
            turns.append(ModelOutput.from_content("mockllm/model", turn))
            continue
        calls = [
            ToolCall(
                id=c.get("id", f"call_{index + 1}_{i + 1}"),
                function=c["function"],
                arguments=c.get("arguments", {}),
            )
            for i, c in enumerate(turn.get("tool_calls", []))
        ]
        output = ModelOutput.for_tool_call("mockllm/model", calls[0].function, calls[0].arguments, tool_call_id=calls[0].id, content=turn.get("content"))
        output.choices[0].message.tool_calls = calls
        turns.append(output)
    # A copy of each turn per sample: react appends the answer to the output's message in
    # place, so shared objects would carry one sample's answer into the next.
    outputs = [turn.model_copy(deep=True) for _ in range(sample_count) for turn in turns]
    model = get_model("mockllm/model", custom_outputs=outputs)
    log = eval(task, model=model, log_dir=out_dir, display="none", max_samples=1)[0]
    if log.status != "success":
        raise SystemExit(f"Inspect run failed: {log.error}")
    print(json.dumps({"logs": [log.location]}))
    return 0


def cmd_agent_server(task_path: str, model: str, out_dir: str) -> int:
    _offline_tokens()
    from inspect_ai import eval

    task, _ = _agent_task(task_path)
    log = eval(task, model=model, log_dir=out_dir, display="none", max_samples=1)[0]
    if log.status != "success":
        raise SystemExit(f"Inspect run failed: {log.error}")
    print(json.dumps({"logs": [log.location]}))
    return 0


def _error(error: Any) -> dict[str, Any] | None:
    """A ToolCallError (a dataclass in Inspect) as a plain dict."""
    import dataclasses

    return dataclasses.asdict(error) if error is not None else None


def cmd_transcript(logs: list[str]) -> int:
    from inspect_ai.log import read_eval_log

    out: dict[str, Any] = {}
    for path in logs:
        per: dict[str, Any] = {}
        for sample in read_eval_log(path).samples or []:
            messages = []
            for m in sample.messages:
                messages.append(
                    {
                        "role": m.role,
                        "text": m.text,
                        "tool_calls": [
                            {
                                "id": c.id,
                                "function": c.function,
                                "arguments": c.arguments,
                                # how the viewer shows the call (the tool's viewer)
                                "view": c.view.model_dump() if c.view else None,
                            }
                            for c in (getattr(m, "tool_calls", None) or [])
                        ],
                        "tool_call_id": getattr(m, "tool_call_id", None),
                        "function": getattr(m, "function", None),
                        "error": _error(getattr(m, "error", None)),
                    }
                )
            spans = {e.id: e.type for e in sample.events if e.event == "span_begin"}
            parents = {e.id: e.parent_id for e in sample.events if e.event == "span_begin"}
            tools = []
            for i, e in enumerate(sample.events):
                if e.event != "tool":
                    continue
                before = sample.events[i - 1] if i > 0 else None
                tools.append(
                    {
                        "id": e.id,
                        "function": e.function,
                        "arguments": e.arguments,
                        "result": e.result if isinstance(e.result, str) else str(e.result),
                        "error": _error(e.error),
                        "view": e.view.model_dump() if e.view else None,
                        # the span just opened around the event, and whether the event
                        # sits in that span's parent (Inspect's placement)
                        "span": spans.get(before.id) if before is not None and before.event == "span_begin" else None,
                        "in_enclosing_span": before is not None
                        and before.event == "span_begin"
                        and parents.get(before.id) == e.span_id,
                    }
                )
            span_names = [
                f"{e.type}:{e.name}" for e in sample.events if e.event == "span_begin"
            ]
            scores = [
                {"intermediate": e.intermediate, "value": e.score.value}
                for e in sample.events
                if e.event == "score"
            ]
            per[f"{sample.id}:{sample.epoch}"] = {
                "messages": messages,
                "tools": tools,
                "spans": span_names,
                "scores": scores,
            }
        out[path] = per
    print(json.dumps(out))
    return 0


def cmd_s3_read(dir_url: str) -> int:
    """Inspect's own S3 layer lists and reads every log under DIR_URL (AWS_ENDPOINT_URL)."""
    from inspect_ai.log import list_eval_logs, read_eval_log

    out = []
    for info in list_eval_logs(dir_url):
        header = read_eval_log(info.name, header_only=True)
        full = read_eval_log(info.name)
        out.append(
            {
                "name": info.name,
                "size": info.size,
                "status": header.status,
                "task_id": header.eval.task_id,
                "samples": len(full.samples or []),
                "ids": sorted(f"{s.id}:{s.epoch}" for s in full.samples or []),
            }
        )
    print(json.dumps(out))
    return 0


def cmd_s3_write(dir_url: str) -> int:
    """Inspect writes a small mockllm eval into DIR_URL."""
    _offline_tokens()
    from inspect_ai import Task, eval
    from inspect_ai.dataset import Sample
    from inspect_ai.scorer import includes
    from inspect_ai.solver import generate

    task = Task(
        name="inspect_s3",
        dataset=[Sample(id=i, input=f"What is {i}+1?", target=str(i + 1)) for i in range(1, 6)],
        solver=[generate()],
        scorer=[includes()],
    )
    log = eval(task, model="mockllm/model", log_dir=dir_url, display="none")[0]
    if log.status != "success":
        raise SystemExit(f"Inspect run failed: {log.error}")
    print(json.dumps({"location": log.location, "samples": len(log.samples or [])}))
    return 0


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "s3-read":
        return cmd_s3_read(argv[1])
    if len(argv) == 2 and argv[0] == "s3-write":
        return cmd_s3_write(argv[1])
    if len(argv) >= 3 and argv[0] == "check":
        return cmd_check(argv[1], argv[2:])
    if len(argv) == 2 and argv[0] == "generate":
        return cmd_generate(argv[1])
    if len(argv) == 2 and argv[0] == "shapes":
        return cmd_shapes(argv[1])
    if len(argv) == 2 and argv[0] == "multiturn":
        return cmd_multiturn(argv[1])
    if len(argv) >= 2 and argv[0] == "inputs":
        return cmd_inputs(argv[1:])
    if len(argv) == 4 and argv[0] == "agent":
        return cmd_agent(argv[1], argv[2], argv[3])
    if len(argv) == 4 and argv[0] == "agent-server":
        return cmd_agent_server(argv[1], argv[2], argv[3])
    if len(argv) >= 2 and argv[0] == "transcript":
        return cmd_transcript(argv[1:])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
