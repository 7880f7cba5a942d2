"""Usage limits (checked before the next model call and the next tool calls) and ``run -v``'s
timeline, through the API and the real command against the scripted server."""

from __future__ import annotations

import json

import pytest

from liteagent import Agent, InMemorySession, OpenAICompatibleLLM, ScriptedLLM, UsageError, tool
from liteagent.limits import UsageLimits

from ..conftest import TESTS

WEATHER = TESTS / "data" / "plugins" / "weather.py"
CALL = '<tool_call>{"name": "Weather.forecast", "arguments": {"city": "Oslo"}}</tool_call>'


@tool
def add(a: int, b: int) -> int:
    """Add two numbers.

    Args:
        a: the first
        b: the second
    """
    add.runs += 1  # type: ignore[attr-defined]
    return a + b


def call(a: int) -> str:
    return "<tool_call>\n" + json.dumps({"name": "add", "arguments": {"a": a, "b": 1}}) + "\n</tool_call>"


def test_a_tool_call_limit_stops_before_the_call_and_keeps_the_conversation():
    add.runs = 0  # type: ignore[attr-defined]
    session = InMemorySession()
    llm = ScriptedLLM([call(1), call(2) + "\n" + call(3), "done", "next answer"], model="qwen")
    agent = Agent(llm, [add], usage_limits={"tool_calls": 2})
    result = agent.run("x", session=session)
    assert result.status == "usage_limit" and "limit is 2" in result.error
    assert add.runs == 1  # the second reply's two calls would pass the limit: neither ran
    refused = result.steps[-1].results
    assert [r.status.value for r in refused] == ["rejected", "rejected"] and "not run" in refused[0].error
    assert agent.run("and then?", session=session).answer == "done"  # the conversation goes on


def test_model_call_and_token_limits(server):
    llm = ScriptedLLM([call(1), call(2), "done"], model="qwen")
    result = Agent(llm, [add], usage_limits=UsageLimits(model_calls=2)).run("x")
    assert result.status == "usage_limit" and result.turns == 2 and "2 model calls" in result.error
    server.replies = ["Sunny."]
    plain = Agent(OpenAICompatibleLLM(server.url, "scripted-model", max_retries=0), usage_limits={"total_tokens": 15})
    result = plain.run("x")  # the scripted server reports 10 + 5 tokens a turn: one turn fits
    assert result.status == "ok" and result.usage["total_tokens"] == 15
    server.replies = [CALL, "Sunny."]
    from liteagent.actions.loader import load_plugin

    weather = Agent(
        OpenAICompatibleLLM(server.url, "scripted-model", max_retries=0),
        load_plugin(f"{WEATHER}:Weather"),
        protocol="hermes",
        usage_limits={"total_tokens": 15},
    )
    result = weather.run("x")
    assert result.status == "usage_limit" and "15 total tokens" in result.error and result.turns == 1


@pytest.mark.parametrize(
    "bad", [{"tokens": 3}, {"tool_calls": -1}, {"model_calls": 1.5}, {"total_tokens": True}, ["tool_calls"]]
)
def test_bad_limits_are_usage_errors(bad):
    with pytest.raises(UsageError):
        Agent(ScriptedLLM([]), usage_limits=bad)


def test_the_cli_limits_and_timeline(cli, server):
    server.replies = [CALL, CALL.replace("Oslo", "Bergen"), "Sunny."]  # (a repeat would not run: not counted)
    flags = ["--base-url", server.url, "--model", "scripted-model", "--protocol", "hermes"]
    r = cli("run", "Oslo?", "--plugin", f"{WEATHER}:Weather", "--max-tool-calls", "1", *flags)
    assert r.code == 1 and r.err.count("\n") == 1 and "limit is 1" in r.err and "Traceback" not in r.err
    server.replies = [CALL, "Sunny."]
    r = cli("run", "Oslo?", "--plugin", f"{WEATHER}:Weather", "-v", *flags)
    assert r.code == 0 and r.out == "Sunny.\n"
    lines = r.err.splitlines()
    assert any("turn 1 · model" in x and "tokens 10 in, 5 out" in x for x in lines)
    assert any("tool Weather.forecast (call_0)" in x and "success" in x for x in lines)
    assert "run ok · 2 turns" in lines[-1] and "tokens 20 in, 10 out" in lines[-1]
    r = cli("run", "x", "--max-total-tokens", "0", *flags)
    assert r.code == 2 and "--max-total-tokens" in r.err
