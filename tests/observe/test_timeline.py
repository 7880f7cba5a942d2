"""``liteagent run -v``: the run's timeline on stderr, one line per model turn and tool call as
they end; the Timeline hook itself on each kind of ending."""

from __future__ import annotations

import io
import json
import re

from liteagent import Agent, OpenAICompatibleLLM, ScriptedLLM, tool
from liteagent.cli.timeline import Timeline

from ..conftest import TESTS
from .tools import add, call
from .tools import cli_flags as flags

WEATHER = TESTS / "data" / "plugins" / "weather.py"
CALL = '<tool_call>{"name": "Weather.forecast", "arguments": {"city": "Oslo"}}</tool_call>'
LINE = re.compile(r"^\[ *\d+\.\d{3} s\] \S")  # "[  0.012 s] ..."


@tool
def fail(reason: str) -> str:
    """Always fails.

    Args:
        reason: why
    """
    raise RuntimeError(f"\x1b[31mbroken\x1b[0m: {reason}\nsecond line of the traceback")


def timeline(agent_llm, tools=(), **kw) -> tuple[list[str], object]:
    out = io.StringIO()
    result = Agent(agent_llm, list(tools), "hermes", hooks=[Timeline(out)], **kw).run("x")
    lines = out.getvalue().splitlines()
    assert lines and all(LINE.match(x) for x in lines), lines
    return [x.split("] ", 1)[1] for x in lines], result


def test_a_two_turn_run_with_parallel_calls():
    two = call("add", {"a": 1, "b": 2}) + "\n" + call("add", {"a": 3, "b": 4})
    lines, result = timeline(ScriptedLLM([two, "3 and 7"], model="qwen"), [add])
    assert result.answer == "3 and 7" and len(lines) == 6
    assert lines[0].startswith("run run-") and lines[0].endswith(" · liteagent.scripted qwen")
    assert lines[1].startswith("turn 1 · model ") and lines[1].endswith(" s · stop")
    tools = sorted(lines[2:4])
    assert tools[0].startswith("turn 1 · tool add (call_0) ") and tools[0].endswith(" s · success")
    assert tools[1].startswith("turn 1 · tool add (call_1) ") and tools[1].endswith(" s · success")
    assert lines[4].startswith("turn 2 · model ") and lines[4].endswith(" s · stop")
    assert lines[5].startswith("run ok · 2 turns · ") and "tokens" not in lines[5]  # none reported


def test_a_tool_error_is_one_clean_line():
    lines, _ = timeline(ScriptedLLM([call("fail", {"reason": "x"}), "it failed"], model="m"), [fail])
    (line,) = [x for x in lines if " · tool " in x]
    assert line.startswith("turn 1 · tool fail (call_0) ")
    assert line.endswith(" s · api_error: RuntimeError: broken: x")  # the first line, no escapes
    assert "\x1b" not in line and "second line" not in "\n".join(lines)


def test_a_model_error_and_the_tokens_over_http(server):
    server.replies = [call("add", {"a": 1, "b": 2}), "3"]
    lines, result = timeline(OpenAICompatibleLLM(server.url, "scripted-model", max_retries=0), [add])
    assert result.answer == "3"
    assert lines[0].endswith(" · openai scripted-model")
    models = [x for x in lines if " · model " in x]
    assert len(models) == 2 and all(" · tokens 10 in, 5 out · " in x for x in models)
    assert lines[-1].startswith("run ok · 2 turns · ") and lines[-1].endswith(" · tokens 20 in, 10 out")

    server.replies = [{"status": 400, "error": "no such model"}]
    lines, result = timeline(OpenAICompatibleLLM(server.url, "scripted-model", max_retries=0))
    assert result.status == "error"
    assert lines[1].startswith("turn 1 · model ") and " · error: " in lines[1] and "no such model" in lines[1]
    assert lines[2].startswith("run error · 0 turns")


def test_cancelled_and_waiting_runs():
    out = io.StringIO()
    events = Agent(ScriptedLLM(["a long answer"], chunk_size=2, model="m"), hooks=[Timeline(out)]).stream("x")
    next(events)
    events.close()
    assert out.getvalue().splitlines()[-1].endswith("] run cancelled")

    @tool(needs_approval=True)
    def delete(path: str) -> str:
        """Delete a file.

        Args:
            path: the file
        """
        return path

    lines, result = timeline(ScriptedLLM([call("delete", {"path": "/x"})], model="m"), [delete])
    assert result.status == "needs_approval"
    assert lines[-2].startswith("run needs_approval · 1 turns")
    assert lines[-1] == "waits for approval: delete (call_0)"


def test_usage_limit_run():
    lines, _ = timeline(ScriptedLLM([call("add", {"a": 1, "b": 2})], model="m"), [add], usage_limits={"tool_calls": 0})
    assert lines[-1].startswith("run usage_limit · 1 turns")
    assert not any(" · tool " in x for x in lines)  # the refused call never ran


def test_run_v_prints_the_timeline_on_stderr(cli, server):
    server.replies = [CALL, "Sunny."]
    r = cli("run", "Oslo?", "-v", *flags(server))
    assert r.code == 0 and r.out == "Sunny.\n"  # stdout: the answer alone
    lines = r.err.splitlines()
    assert all(LINE.match(x) for x in lines), lines
    body = [x.split("] ", 1)[1] for x in lines]
    assert body[0].startswith("run run-") and body[0].endswith("openai scripted-model")
    assert body[1].startswith("turn 1 · model ") and "tokens 10 in, 5 out" in body[1]
    assert body[2].startswith("turn 1 · tool Weather.forecast (call_0) ") and body[2].endswith("success")
    assert body[3].startswith("turn 2 · model ")
    assert body[4].startswith("run ok · 2 turns") and len(body) == 5


def test_run_without_v_prints_no_timeline_and_json_stays_clean(cli, server):
    server.replies = [CALL, "Sunny."]
    r = cli("run", "Oslo?", "--quiet", *flags(server))
    assert r.code == 0 and "turn 1 · model" not in r.err and "run ok" not in r.err
    server.replies = [CALL, "Sunny."]
    r = cli("run", "Oslo?", "-v", "--json", *flags(server))
    assert r.code == 0 and json.loads(r.out)["answer"] == "Sunny."
    assert "turn 1 · model" in r.err and "run ok" in r.err


def test_resume_v_prints_the_continuations_timeline(cli, server, tmp_path):
    session = str(tmp_path / "s.sqlite3")
    server.replies = [CALL, "Sunny."]
    r = cli("run", "Oslo?", "--approve-tool", "Weather.forecast", "--session", session, *flags(server))
    assert r.code == 4, r.err
    r = cli("resume", "--session", session, "--approve", "call_0", "-v", *flags(server))
    assert r.code == 0 and r.out == "Sunny.\n", r.err
    assert "tool Weather.forecast (call_0)" in r.err and "run ok" in r.err
