"""The agent against a real HTTP server on 127.0.0.1 (tests/scripted_server.py), in every dialect."""

from __future__ import annotations

import asyncio
import json
import threading
import time

import pytest

from liteagent import BaseAction, tool_api
from liteagent.agent import Agent
from liteagent.llms import OpenAICompatibleLLM
from liteagent.sessions import InMemorySession, load_items, save_items

from .conftest import TESTS
from .scripted_server import ScriptedServer

GOLDEN = TESTS / "golden"


class Weather(BaseAction):
    """Weather forecasts for cities."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[dict] = []

    @tool_api
    def forecast(self, city: str, days: int = 1) -> dict:
        """Forecast the weather of a city.

        Args:
            city: the city name
            days: how many days ahead
        """
        self.calls.append({"city": city, "days": days})
        return {"city": city, "days": days, "sky": "晴 ☀"}


def agent_for(server: ScriptedServer, protocol: str, **kw) -> tuple[Agent, Weather]:
    w = Weather()
    llm = OpenAICompatibleLLM(server.url, "scripted-model", backoff=0.01)
    return Agent(llm, [w], protocol=protocol, **kw), w


def post_bodies(server: ScriptedServer) -> list[dict]:
    return [r["body"] for r in server.requests if r["body"] is not None]


def test_internlm2_two_turns_byte_exact(server):
    server.replies = [
        '我来查一下。<|action_start|><|plugin|>\n{"name": "Weather.forecast", "parameters": {"city": "上海", "days": "2"}}',
        "上海未来两天晴。",
    ]
    agent, w = agent_for(server, "internlm2")
    result = agent.run("上海天气怎么样？")
    assert result.status == "ok" and result.answer == "上海未来两天晴。"
    assert w.calls == [{"city": "上海", "days": 2}]  # parsed, validated, coerced
    first, second = post_bodies(server)
    for body in (first, second):
        assert server.requests[1]["path"] == "/v1/completions"
        assert body["stop"] == ["<|im_end|>", "<|action_end|>"]
        assert body["skip_special_tokens"] is False
        assert "session_id" not in body
        assert body["stream"] is True and body["model"] == "scripted-model"
    assert first["prompt"] == (GOLDEN / "internlm2_turn1.txt").read_text(encoding="utf-8")
    assert second["prompt"] == (GOLDEN / "internlm2_turn2.txt").read_text(encoding="utf-8")
    assert (
        '<|im_start|>environment name=<|plugin|>\n{"city": "上海", "days": 2, "sky": "晴 ☀"}<|im_end|>\n'
        in second["prompt"]
    )
    assert [m.role for m in result.messages] == ["user", "assistant", "tool", "assistant"]
    step = result.steps[0]
    assert step.tool_calls[0].name == "Weather.forecast" and step.results[0].status.value == "success"


def test_internlm2_conversation_continues_across_questions(server):
    server.replies = ["你好！", "再见！"]
    agent, _ = agent_for(server, "internlm2")
    session = InMemorySession()
    agent.run("你好", session=session)
    agent.run("再见", session=session)
    prompt = post_bodies(server)[1]["prompt"]
    assert prompt.endswith(
        "<|im_start|>user\n你好<|im_end|>\n<|im_start|>assistant\n你好！<|im_end|>\n"
        "<|im_start|>user\n再见<|im_end|>\n<|im_start|>assistant\n"
    )


def test_hermes_flow(server):
    server.replies = [
        '<tool_call>\n{"name": "Weather.forecast", "arguments": {"city": "Paris"}}\n</tool_call>',
        "Paris: sunny.",
    ]
    agent, w = agent_for(server, "hermes")
    r = agent.run("Weather in Paris?")
    assert r.answer == "Paris: sunny." and w.calls == [{"city": "Paris", "days": 1}]
    first, second = post_bodies(server)
    assert server.requests[1]["path"] == "/v1/chat/completions"
    system = first["messages"][0]
    assert system["role"] == "system" and "<tools>" in system["content"]
    assert '"name": "Weather.forecast"' in system["content"]
    assert "tools" not in first  # text dialect: tools live in the prompt
    assert second["messages"][-2] == {
        "role": "assistant",
        "content": '<tool_call>\n{"name": "Weather.forecast", "arguments": {"city": "Paris"}}\n</tool_call>',
    }
    assert second["messages"][-1] == {
        "role": "user",
        "content": '<tool_response>\n{"city": "Paris", "days": 1, "sky": "晴 ☀"}\n</tool_response>',
    }


def test_openai_native_flow(server):
    server.replies = [
        {
            "text": "",
            "tool_calls": [{"id": "call_9", "name": "Weather__forecast", "arguments": {"city": "Oslo", "days": 3}}],
        },
        "Oslo: snow.",
    ]
    agent, w = agent_for(server, "openai", tool_choice="required")
    r = agent.run("Oslo?")
    assert r.answer == "Oslo: snow." and w.calls == [{"city": "Oslo", "days": 3}]
    first, second = post_bodies(server)
    assert first["tools"][0]["function"]["name"] == "Weather__forecast"
    assert first["tool_choice"] == "required"
    assert second["tool_choice"] == "auto"  # forced once, later turns may answer
    assert second["messages"][-2]["tool_calls"][0] == {
        "id": "call_9",
        "type": "function",
        "function": {"name": "Weather__forecast", "arguments": '{"city": "Oslo", "days": 3}'},
    }
    assert second["messages"][-1] == {
        "role": "tool",
        "tool_call_id": "call_9",
        "content": '{"city": "Oslo", "days": 3, "sky": "晴 ☀"}',
    }


def test_react_flow(server):
    server.replies = [
        'Thought: I need the forecast.\nAction: Weather.forecast\nAction Input: {"city": "Rome"}\nObservation: invented',
        "Thought: I have it.\nFinal Answer: Rome is sunny.",
    ]
    agent, w = agent_for(server, "react")
    r = agent.run("Rome?")
    assert r.answer == "Rome is sunny." and w.calls == [{"city": "Rome", "days": 1}]
    first, second = post_bodies(server)
    assert first["stop"] == ["Observation:"]
    assert (
        second["messages"][-2]["content"]
        == 'Thought: I need the forecast.\nAction: Weather.forecast\nAction Input: {"city": "Rome"}'
    )
    assert second["messages"][-1]["content"].startswith("Observation: {")


@pytest.mark.parametrize(
    "bad, feedback",
    [
        (
            '<|action_start|><|plugin|>\n{"name": "Weather.forecast", "parameters": {city: }<|action_end|>',
            "could not be read",
        ),
        (
            '<|action_start|><|plugin|>\n{"name": "Weather.nowcast", "parameters": {"city": "X"}}',
            "unknown tool 'Weather.nowcast'; valid tools: Weather.forecast",
        ),
        (
            '<|action_start|><|plugin|>\n{"name": "Weather.forecast", "parameters": {"days": "many"}}',
            "invalid arguments for Weather.forecast",
        ),
    ],
    ids=["malformed-json", "unknown-tool", "bad-arguments"],
)
def test_errors_fed_back_then_corrected(server, bad, feedback):
    server.replies = [
        bad,
        '<|action_start|><|plugin|>\n{"name": "Weather.forecast", "parameters": {"city": "Lima"}}',
        "Lima: fog.",
    ]
    agent, w = agent_for(server, "internlm2")
    r = agent.run("Lima?")
    assert r.status == "ok" and r.answer == "Lima: fog."
    assert w.calls == [{"city": "Lima", "days": 1}]  # ran once, with the corrected call
    prompts = [b["prompt"] for b in post_bodies(server)]
    assert len(prompts) == 3 and prompts[0] != prompts[1]  # never the identical prompt again
    env = prompts[1].rsplit("<|im_start|>environment name=<|plugin|>\n", 1)[1]
    assert feedback in env


def test_500_then_success_is_retried(server, caplog):
    server.replies = [{"status": 500, "error": "engine warming up"}, "Hello."]
    agent, _ = agent_for(server, "hermes")
    with caplog.at_level("WARNING", logger="liteagent.llm"):
        r = agent.run("hi")
    assert r.answer == "Hello."
    assert len(post_bodies(server)) == 2
    assert any("retry 1/3" in rec.message for rec in caplog.records)  # logged, never silent


def test_4xx_is_not_retried(server):
    server.replies = [{"status": 400, "error": "prompt too long"}]
    agent, _ = agent_for(server, "hermes")
    r = agent.run("hi")
    assert r.status == "error" and "answered 400: prompt too long" in r.error
    assert len(post_bodies(server)) == 1


def test_max_turns_reached_is_reported(server):
    n = iter(range(100))
    server.default_reply = lambda body: (
        '<|action_start|><|plugin|>\n{"name": "Weather.forecast", "parameters": {"city": "X' + str(next(n)) + '"}}'
    )
    agent, w = agent_for(server, "internlm2", max_turns=3)
    r = agent.run("loop forever")
    assert r.status == "max_turns" and "stopped after 3 model turns" in r.error
    assert len(w.calls) == 3 and r.turns == 3


def test_repeated_identical_call_is_not_run_again(server):
    call = '<tool_call>{"name": "Weather.forecast", "arguments": {"city": "Bern"}}</tool_call>'
    server.replies = [call, call, "Bern: clear."]
    agent, w = agent_for(server, "hermes")
    r = agent.run("Bern?")
    assert r.answer == "Bern: clear." and w.calls == [{"city": "Bern", "days": 1}]
    note = post_bodies(server)[2]["messages"][-1]["content"]
    assert "You already called Weather.forecast with these arguments" in note


def test_unknown_model_is_a_clear_error(server):
    llm = OpenAICompatibleLLM(server.url, "no-such-model")
    r = Agent(llm, [], protocol="hermes").run("hi")
    assert r.status == "error"
    assert "does not serve model 'no-such-model'; it serves: scripted-model" in r.error


def test_model_picked_from_server_and_auto_protocol(server):
    server.models = ("internlm2_5-7b-chat",)
    server.replies = ["ok"]
    agent = Agent(OpenAICompatibleLLM(server.url), [Weather()])
    assert agent.run("hi").answer == "ok"
    assert agent.protocol.name == "internlm2" and post_bodies(server)[0]["model"] == "internlm2_5-7b-chat"


def test_non_streaming_and_api_key(server):
    server.replies = ["plain"]
    llm = OpenAICompatibleLLM(server.url, "scripted-model", api_key="sk-test", stream=False)
    assert Agent(llm, [], protocol="hermes").run("hi").answer == "plain"
    post = [r for r in server.requests if r["body"] is not None][0]
    assert post["headers"]["Authorization"] == "Bearer sk-test"
    assert post["body"]["stream"] is False


def test_several_calls_in_one_reply_run_concurrently(server):
    spans: list[tuple[float, float]] = []
    lock = threading.Lock()

    class Slow(BaseAction):
        """Slow tool."""

        @tool_api
        def wait(self, n: int) -> int:
            """Wait a bit.

            Args:
                n: id
            """
            t0 = time.monotonic()
            time.sleep(0.3)
            with lock:
                spans.append((t0, time.monotonic()))
            return n

    server.replies = [
        "".join(f'<tool_call>{{"name": "Slow.wait", "arguments": {{"n": {i}}}}}</tool_call>' for i in range(3)),
        "done",
    ]
    agent = Agent(OpenAICompatibleLLM(server.url, "scripted-model"), [Slow()], protocol="hermes")
    r = agent.run("go")
    assert r.answer == "done" and len(r.steps[0].results) == 3
    latest_start = max(s for s, _ in spans)
    earliest_end = min(e for _, e in spans)
    assert latest_start < earliest_end  # all three were running at the same moment


def test_stream_events_in_order(server):
    server.replies = [
        'Checking.<tool_call>{"name": "Weather.forecast", "arguments": {"city": "Kyiv"}}</tool_call>',
        "Kyiv: rain.",
    ]
    agent, _ = agent_for(server, "hermes")
    types = [ev.type for ev in agent.stream("Kyiv?")]
    assert types[0] == "text"
    assert types.index("tool_call") < types.index("tool_result") < types.index("turn_end")
    assert types[-1] == "final"
    text = (
        "".join(ev.text for ev in agent.stream("again?") if ev.type == "text")
        if server.replies.append("Again.") is None
        else ""
    )
    assert text == "Again."


def test_run_inside_running_event_loop(server):
    server.replies = ["from a notebook"]
    agent, _ = agent_for(server, "hermes")

    async def notebook_cell():
        return agent.run("hi")  # Jupyter: a loop is already running

    assert asyncio.run(notebook_cell()).answer == "from a notebook"


def test_history_save_and_load(server, tmp_path):
    server.replies = [
        '<tool_call>{"name": "Weather.forecast", "arguments": {"city": "Nice"}}</tool_call>',
        "Nice: sun.",
    ]
    agent, _ = agent_for(server, "hermes")
    session = InMemorySession()
    agent.run("Nice?", session=session)
    path = tmp_path / "chat.json"
    save_items(session.items, path)
    saved = json.loads(path.read_text(encoding="utf-8"))
    assert saved["items"][1]["tool_calls"][0]["name"] == "Weather.forecast"
    assert saved["items"][2]["result"]["result"][0]["type"] == "json"  # the tool's JSON, kept
    assert [m.to_dict() for m in load_items(path)] == [m.to_dict() for m in session.items]
