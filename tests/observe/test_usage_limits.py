"""Usage limits: each kind, at and past its edge, per run (not per session), through run, stream,
arun and the CLI; a refused call leaves a conversation that goes on; bad limits are UsageErrors."""

from __future__ import annotations

import asyncio
import json

import pytest

from liteagent import Agent, InMemorySession, OpenAICompatibleLLM, ScriptedLLM, UsageError, tool
from liteagent.limits import UsageLimits

from ..conftest import TESTS
from .tools import cli_flags as flags

WEATHER = TESTS / "data" / "plugins" / "weather.py"
RAN: list[tuple[int, int]] = []


@tool
def add(a: int, b: int) -> int:
    """Add two numbers.

    Args:
        a: the first
        b: the second
    """
    RAN.append((a, b))
    return a + b


@pytest.fixture(autouse=True)
def _clear() -> None:
    RAN.clear()


def call(a: int, b: int = 1) -> str:
    return "<tool_call>\n" + json.dumps({"name": "add", "arguments": {"a": a, "b": b}}) + "\n</tool_call>"


def two(a: int, b: int) -> str:
    return call(a) + "\n" + call(b)


def http_agent(server, **limits) -> Agent:
    llm = OpenAICompatibleLLM(server.url, "scripted-model", max_retries=0)
    return Agent(llm, [add], "hermes", usage_limits=limits)


# the scripted server reports 10 prompt + 5 completion tokens for each streamed reply
@pytest.mark.parametrize(
    ("limits", "status", "turns", "words"),
    [
        ({"total_tokens": 15}, "usage_limit", 1, "used 15 total tokens, its limit is 15"),
        ({"total_tokens": 16}, "ok", 2, None),
        ({"input_tokens": 10}, "usage_limit", 1, "used 10 input tokens, its limit is 10"),
        ({"input_tokens": 11}, "ok", 2, None),
        ({"output_tokens": 5}, "usage_limit", 1, "used 5 output tokens, its limit is 5"),
        ({"output_tokens": 6}, "ok", 2, None),
        ({"model_calls": 1}, "usage_limit", 1, "limit of 1 model calls"),
        ({"model_calls": 2}, "ok", 2, None),
    ],
)
def test_token_and_model_call_limits_stop_before_the_next_model_call(server, limits, status, turns, words):
    server.replies = [call(1), "2"]
    result = http_agent(server, **limits).run("1+1?")
    assert (result.status, result.turns) == (status, turns)
    assert len([r for r in server.requests if r["body"]]) == turns  # no model call past the limit
    assert RAN == [(1, 1)]  # the first turn's call ran either way
    if words is None:
        assert result.answer == "2" and result.error is None
    else:
        assert words in result.error and result.answer == ""


def test_a_zero_limit_asks_the_model_nothing():
    llm = ScriptedLLM(["never"], model="m")
    result = Agent(llm, usage_limits={"model_calls": 0}).run("x")
    assert result.status == "usage_limit" and result.turns == 0 and llm.requests == []


def test_tool_calls_may_reach_the_limit_but_not_pass_it():
    session = InMemorySession()
    llm = ScriptedLLM([two(1, 2), call(3), "done", "a new answer"], model="m")
    agent = Agent(llm, [add], "hermes", usage_limits=UsageLimits(tool_calls=2))
    result = agent.run("x", session=session)
    assert RAN == [(1, 1), (2, 1)]  # two calls: exactly the limit
    assert result.status == "usage_limit" and result.turns == 2
    assert result.error == "the model asked for 1 more tool call after 2; the run's limit is 2"
    (refused,) = result.steps[-1].results
    assert refused.status.value == "rejected" and refused.call_id == "call_0"
    assert refused.error == f"not run: {result.error}"
    # the reply and its refused call are in the conversation: the next question goes on from it
    tail = [m.role for m in session.items]
    assert tail[-2:] == ["assistant", "tool"]
    assert agent.run("and now?", session=session).answer == "done"  # a new run: a new count
    sent = json.dumps(llm.requests[-1].messages)
    assert "not run: the model asked for 1 more tool call" in sent


def test_parallel_calls_that_would_pass_the_limit_are_all_refused():
    agent = Agent(ScriptedLLM([two(1, 2)], model="m"), [add], "hermes", usage_limits={"tool_calls": 1})
    result = agent.run("x")
    assert RAN == []  # none of the two ran, not even the first
    assert [r.status.value for r in result.steps[-1].results] == ["rejected", "rejected"]
    assert "2 more tool calls after 0" in result.error


def test_limits_count_per_run_not_per_session():
    session = InMemorySession()
    agent = Agent(ScriptedLLM([call(1), "a", call(2), "b"], model="m"), [add], "hermes", usage_limits={"tool_calls": 1})
    assert agent.run("x", session=session).answer == "a"
    assert agent.run("y", session=session).answer == "b"
    assert RAN == [(1, 1), (2, 1)]


def test_the_stream_and_async_apis_end_the_same_way(server):
    server.replies = [call(1), "2"]
    events = list(http_agent(server, total_tokens=15).stream("x"))
    last = events[-1]
    assert last.type == "error" and last.result.status == "usage_limit"
    assert "15 total tokens" in last.result.error

    agent = Agent(ScriptedLLM([two(1, 2)], model="m"), [add], "hermes", usage_limits={"tool_calls": 1})
    result = asyncio.run(agent.arun("x"))
    assert result.status == "usage_limit" and RAN == [(1, 1)]  # the http run's call only


def test_usage_limits_values():
    assert Agent(ScriptedLLM([]), usage_limits=UsageLimits()).usage_limits is None  # no limit set: none
    assert Agent(ScriptedLLM([]), usage_limits={}).usage_limits is None
    assert Agent(ScriptedLLM([]), usage_limits={"tool_calls": None}).usage_limits is None
    limits = UsageLimits.of({"total_tokens": 100, "model_calls": 0})
    assert limits == UsageLimits(total_tokens=100, model_calls=0)
    assert Agent(ScriptedLLM([]), usage_limits=limits).usage_limits is limits
    with pytest.raises(AttributeError):
        limits.total_tokens = 5  # type: ignore[misc]


@pytest.mark.parametrize(
    ("bad", "words"),
    [
        ({"max_tokens": 3}, "unknown limit 'max_tokens'"),
        ({"tool_calls": -1}, "tool_calls must be a whole number"),
        ({"input_tokens": "10"}, "input_tokens must be a whole number"),
        ({"output_tokens": 2.0}, "output_tokens must be a whole number"),
        ({"model_calls": False}, "model_calls must be a whole number"),
        (5, "usage_limits is a dict or UsageLimits"),
    ],
)
def test_bad_limits_say_what_is_wrong(bad, words):
    with pytest.raises(UsageError, match=words):
        Agent(ScriptedLLM([]), usage_limits=bad)


def test_bad_limits_in_the_class_too():
    with pytest.raises(UsageError):
        UsageLimits(total_tokens=-5)


CALL = '<tool_call>{"name": "Weather.forecast", "arguments": {"city": "Oslo"}}</tool_call>'


def test_cli_max_total_tokens(cli, server):
    server.replies = [CALL, "Sunny."]
    r = cli("run", "Oslo?", "--max-total-tokens", "15", *flags(server))
    assert r.code == 1 and r.out == ""
    assert r.err.count("\n") == 1 and "15 total tokens" in r.err and r.err.startswith("liteagent: error:")
    server.replies = [CALL, "Sunny."]
    r = cli("run", "Oslo?", "--max-total-tokens", "16", *flags(server))
    assert r.code == 0 and r.out == "Sunny.\n"


def test_cli_max_tool_calls_with_json_shows_the_refused_calls(cli, server):
    server.replies = [CALL + CALL.replace("Oslo", "Bergen")]
    r = cli("run", "Oslo and Bergen?", "--max-tool-calls", "1", "--json", *flags(server))
    assert r.code == 1 and r.err.count("\n") == 1 and "limit is 1" in r.err
    out = json.loads(r.out)
    assert out["status"] == "usage_limit"
    assert [x["status"] for x in out["steps"][-1]["results"]] == ["rejected", "rejected"]


@pytest.mark.parametrize("flag", ["--max-total-tokens", "--max-tool-calls"])
@pytest.mark.parametrize("value", ["0", "-3", "many"])
def test_cli_bad_limit_values(cli, flag, value):
    r = cli("run", "x", flag, value, "--base-url", "http://127.0.0.1:9/v1")
    assert r.code == 2 and r.err.count("\n") == 1 and flag in r.err


def test_a_repeated_call_does_not_count_toward_the_tool_call_limit():
    # the model repeats its call; it is answered from the first result, nothing runs again
    agent = Agent(ScriptedLLM([call(1), call(1), "2"], model="m"), [add], "hermes", usage_limits={"tool_calls": 1})
    result = agent.run("x")
    assert RAN == [(1, 1)]
    assert result.status == "ok" and result.answer == "2", result.error


def test_a_repeated_call_runs_once_without_limits():
    # the control: without a limit the repeat is answered from the first result, the run goes on
    result = Agent(ScriptedLLM([call(1), call(1), "2"], model="m"), [add], "hermes").run("x")
    assert RAN == [(1, 1)] and result.status == "ok" and result.answer == "2"
