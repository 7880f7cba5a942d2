"""A final answer that is liteagent's own note to the model, not the model's words, is never
reported as status ok (issue 25: a 135M model "answered" with the note a repeated call got)."""

from __future__ import annotations

import json

from liteagent import Agent, ScriptedLLM, ToolError, tool

from .conftest import TESTS
from .observe.tools import add

CALL = '<tool_call>{"name": "add", "arguments": {"a": 1, "b": 2}}</tool_call>'
REPEAT = "You already called add with these arguments; its result is above. Use it to answer now."


@tool
def check() -> str:
    """Check the sandbox."""
    return "Out: 3\n[sandbox incomplete: no seccomp filter on this kernel]"


@tool
def fetch(url: str) -> str:
    """Fetch a page.

    Args:
        url: the page
    """
    raise ToolError("the host example.org is not on the allowed list of this deployment")


def run(replies: list[str], tools: list) -> object:
    return Agent(ScriptedLLM(replies), tools, protocol="hermes").run("question")


def test_a_repeated_calls_note_echoed_back_is_no_answer():
    result = run([CALL, CALL, REPEAT], [add])
    assert result.status == "no_answer" and result.answer == REPEAT
    assert "repeats liteagent's own note" in result.error and "You already called add" in result.error


def test_an_error_or_a_sandbox_note_echoed_back_is_no_answer():
    call = '<tool_call>{"name": "fetch", "arguments": {"url": "http://example.org"}}</tool_call>'
    result = run([call, "Error: the host example.org is not on the allowed list of this deployment"], [fetch])
    assert result.status == "no_answer", result
    sandbox = '<tool_call>{"name": "check", "arguments": {}}</tool_call>'
    result = run([sandbox, "[sandbox incomplete: no seccomp filter on this kernel]"], [check])
    assert result.status == "no_answer", result


def test_the_models_own_words_are_an_answer():
    assert run([CALL, "1 + 2 = 3."], [add]).status == "ok"
    call = '<tool_call>{"name": "fetch", "arguments": {"url": "http://example.org"}}</tool_call>'
    said = "I could not fetch it: that host is not allowed here, so I cannot say what the page holds."
    assert run([call, said], [fetch]).status == "ok"
    sandbox = '<tool_call>{"name": "check", "arguments": {}}</tool_call>'
    assert run([sandbox, "The result is 3."], [check]).status == "ok"
    assert run(["A first answer with no call at all, long enough to compare."], [add]).status == "ok"


def test_the_cli_says_it_and_exits_1(cli, server):
    plugin = TESTS / "data" / "plugins" / "weather.py"
    call = '<tool_call>{"name": "Weather.forecast", "arguments": {"city": "Oslo"}}</tool_call>'
    note = "You already called Weather.forecast with these arguments; its result is above. Use it to answer now."
    server.replies = [call, call, note]
    r = cli("run", "Oslo?", "--json", "--base-url", server.url, "--plugin", f"{plugin}:Weather")
    out = json.loads(r.out)
    assert r.code == 1 and out["status"] == "no_answer" and "own note" in out["error"]
