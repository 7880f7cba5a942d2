"""Sessions: typed items kept losslessly in memory and in SQLite; one agent, many conversations;
the context limit."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap

import pytest

from liteagent import Agent, InMemorySession, ScriptedLLM, SQLiteSession
from liteagent.actions import BaseAction, tool_api
from liteagent.events import ContextTrimmed
from liteagent.messages import ResultItem


class Lab(BaseAction):
    """Lab results."""

    @tool_api
    def measure(self, sample: str) -> list[ResultItem]:
        """Measure a sample.

        Args:
            sample: the sample's name
        """
        return [
            ResultItem.text(f"{sample}: pH 7.1"),
            ResultItem.json({"sample": sample, "ph": 7.1, "notes": ["ok", "ünïcode"]}),
            ResultItem.image("/data/plots/ph.png"),
        ]

    @tool_api
    def fail(self) -> str:
        """Always fails."""
        raise RuntimeError("the lab is closed")


SCRIPTS = {
    "hermes": [
        "<think>plan</think>" + '<tool_call>{"name": "Lab.measure", "arguments": {"sample": "A"}}</tool_call>',
        '<tool_call>{"name": "Lab.fail", "arguments": {}}</tool_call>',
        "A has pH 7.1.",
        "Yes, neutral.",
    ],
    "internlm2": [
        '<|action_start|><|plugin|>\n{"name": "Lab.measure", "parameters": {"sample": "A"}}<|action_end|>',
        '<|action_start|><|plugin|>\n{"name": "Lab.fail", "parameters": {}}<|action_end|>',
        "A has pH 7.1.",
        "Yes, neutral.",
    ],
}


def converse(session, protocol="hermes"):
    llm = ScriptedLLM(list(SCRIPTS[protocol]))
    agent = Agent(llm, [Lab()], protocol=protocol)
    agent.run("Measure A", session=session)
    agent.run("Is that neutral?", session=session)
    return llm.prompts


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_items_round_trip_losslessly(kind, tmp_path):
    session = InMemorySession() if kind == "memory" else SQLiteSession("s1", tmp_path / "s.sqlite3")
    converse(session)
    items = asyncio.run(session.get_items())
    if kind == "sqlite":
        items = asyncio.run(SQLiteSession("s1", tmp_path / "s.sqlite3").get_items())  # a new connection
    roles = [m.role for m in items]
    assert roles == ["user", "assistant", "tool", "assistant", "tool", "assistant", "user", "assistant"]
    assert items[1].thinking == "plan"
    ok = items[2].result
    assert ok is not None and [i.type for i in ok.result] == ["text", "json", "image"]
    assert ok.result[1].content == {"sample": "A", "ph": 7.1, "notes": ["ok", "ünïcode"]}
    assert ok.result[2].content == "/data/plots/ph.png"
    failed = items[4].result
    assert failed is not None and failed.status.value == "api_error" and "the lab is closed" in failed.error
    assert items[1].tool_calls[0].id == items[2].tool_call_id
    # pop and clear
    last = asyncio.run(session.pop_item())
    assert last is not None and last.content == "Yes, neutral."
    assert len(asyncio.run(session.get_items())) == 7
    assert [m.content for m in asyncio.run(session.get_items(limit=2))] == ["A has pH 7.1.", "Is that neutral?"]
    asyncio.run(session.clear())
    assert asyncio.run(session.get_items()) == []


def test_a_conversation_reopened_in_another_process_renders_the_same_bytes(tmp_path):
    db = tmp_path / "s.sqlite3"
    prompts = converse(SQLiteSession("conv", db), "internlm2")
    code = textwrap.dedent(f"""
        import json, sys
        sys.path.insert(0, {str(tmp_path.parent)!r})
        from liteagent import Agent, ScriptedLLM, SQLiteSession
        sys.path.insert(0, {str(__file__.rsplit("/", 1)[0])!r})
        from test_sessions import Lab
        llm = ScriptedLLM(["Bye."])
        Agent(llm, [Lab()], protocol="internlm2").run("Thanks", session=SQLiteSession("conv", {str(db)!r}))
        print(json.dumps(llm.prompts[0]))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    reopened = json.loads(out.stdout)
    # the new process's prompt is the old conversation's last prompt, its answer, and the new question
    expected = prompts[-1] + "Yes, neutral.<|im_end|>\n<|im_start|>user\nThanks<|im_end|>\n<|im_start|>assistant\n"
    assert reopened == expected


def test_one_agent_serves_two_interleaved_conversations():
    def reply(request):
        last = request.prompt.rsplit("<|im_start|>user\n", 1)[1].split("<|im_end|>", 1)[0]
        return f"echo {last}"

    agent = Agent(ScriptedLLM([reply] * 6), [Lab()], protocol="internlm2")
    a, b = InMemorySession(), InMemorySession()

    async def talk(session, words):
        for w in words:
            await agent.arun(w, session)
            await asyncio.sleep(0)

    async def both():
        await asyncio.gather(talk(a, ["a1", "a2", "a3"]), talk(b, ["b1", "b2", "b3"]))

    asyncio.run(both())
    assert [m.content for m in a.items] == ["a1", "echo a1", "a2", "echo a2", "a3", "echo a3"]
    assert [m.content for m in b.items] == ["b1", "echo b1", "b2", "echo b2", "b3", "echo b3"]


def test_without_a_session_each_call_is_its_own_conversation():
    llm = ScriptedLLM(["one", "two"])
    agent = Agent(llm, [], protocol="hermes")
    agent.run("first")
    agent.run("second")
    assert [m["content"] for m in llm.prompts[1] if m["role"] == "user"] == ["second"]


def test_old_turns_are_dropped_whole_when_the_context_is_full():
    llm = ScriptedLLM(['<tool_call>{"name": "Lab.measure", "arguments": {"sample": "X"}}</tool_call>', "done"] * 12)
    agent = Agent(llm, [Lab()], protocol="hermes", context_tokens=1200, max_tokens=200)
    session = InMemorySession()
    trimmed = []
    for i in range(12):
        events = list(agent.stream(f"question {i} " + "words " * 40, session=session))
        trimmed += [e for e in events if isinstance(e, ContextTrimmed)]
        assert events[-1].type == "final", events[-1]
    assert trimmed and trimmed[-1].turns >= 1
    last = llm.prompts[-1]
    assert last[0]["role"] == "system" and "<tools>" in last[0]["content"]  # system and tools stay
    users = [m["content"] for m in last if m["role"] == "user" and not m["content"].startswith("<tool_response>")]
    assert users[-1].startswith("question 11") and not any(u.startswith("question 0 ") for u in users)
    # a call is never without its result: every assistant call is followed by its tool response
    for i, m in enumerate(last):
        if m["role"] == "assistant" and "<tool_call>" in m["content"]:
            assert last[i + 1]["content"].startswith("<tool_response>")
    assert len(session.items) == 12 * 4  # the session keeps everything
