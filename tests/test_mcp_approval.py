"""Approvals in ``liteagent mcp serve --agent`` (issue 20): the ``ask`` tool's run stops before a
tool that needs approval; a client that declared elicitation is asked with a form per call (by a
server-to-client request in the handshake era, by an InputRequiredResult the client answers in a
retry from 2026-07-28 on), one that did not gets the waiting calls and decides with a follow-up
``ask``. Official SDK clients, a real server process over stdio, the scripted model server."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("mcp")

import mcp.types as t
from mcp import Client, StdioServerParameters

from liteagent import Agent, ScriptedLLM, tool
from liteagent.mcp.ask import ASK_SCHEMA, DECISION_FORM
from liteagent.mcp.server import build_server

PLUGIN = '''
from liteagent import tool


@tool(needs_approval=True)
def note(path: str, text: str) -> str:
    """Append a line to a file.

    Args:
        path: the file
        text: the line
    """
    with open(path, "a") as f:
        f.write(text + "\\n")
    return f"noted in {path}"
'''


def _call(path: Path, text: str) -> str:
    args = json.dumps({"path": str(path), "text": text})
    return f'<tool_call>{{"name": "note", "arguments": {args}}}</tool_call>'


@pytest.fixture
def plugin(tmp_path: Path) -> Path:
    f = tmp_path / "notes.py"
    f.write_text(PLUGIN)
    return f


def _serve(plugin: Path, url: str) -> StdioServerParameters:
    """The real ``liteagent mcp serve --agent`` as a child over stdio, its model the scripted server."""
    return StdioServerParameters(
        command=sys.executable,
        args=["-m", "liteagent", "mcp", "serve", "--agent", "--base-url", url, "--model", "scripted-model",
              "--protocol", "hermes", "--plugin", f"{plugin}:note"],
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )  # fmt: skip


class Person:
    """An elicitation callback answering from a script, recording what it was shown."""

    def __init__(self, *answers: t.ElicitResult) -> None:
        self.answers = list(answers)
        self.asked: list[t.ElicitRequestFormParams] = []

    async def __call__(self, ctx: Any, params: Any) -> t.ElicitResult:
        self.asked.append(params)
        return self.answers.pop(0)


def accept(decision: str, reason: str | None = None) -> t.ElicitResult:
    content: dict[str, Any] = {"decision": decision}
    if reason is not None:
        content["reason"] = reason
    return t.ElicitResult(action="accept", content=content)


def _sent(server: Any) -> str:
    """Everything the model was sent, as one text."""
    return json.dumps(server.completions, ensure_ascii=False)


# -- over stdio, a real server process -------------------------------------------------------------
def test_a_client_with_elicitation_approves_and_the_tool_runs_once(server, plugin, tmp_path):
    # The SDK's default client speaks 2026-07-28 here: the forms come back in an InputRequiredResult
    # and the client answers them in a retry. The run stops twice; each form names the tool and
    # the exact arguments.
    out = tmp_path / "out.txt"
    server.replies = [_call(out, "first"), _call(out, "second ünïcode"), "Both noted."]
    person = Person(accept("approve"), accept("approve"))

    async def go() -> t.CallToolResult:
        async with Client(_serve(plugin, server.url), elicitation_callback=person) as c:
            assert c.session.protocol_version == "2026-07-28"
            return await c.call_tool("ask", {"question": "note two lines"})

    result = asyncio.run(go())
    assert not result.is_error and result.content[0].text == "Both noted."
    assert out.read_text() == "first\nsecond ünïcode\n"  # each ran exactly once
    assert [p.requested_schema for p in person.asked] == [DECISION_FORM, DECISION_FORM]
    first, second = (p.message for p in person.asked)
    assert "note" in first and json.dumps({"path": str(out), "text": "first"}) in first
    assert json.dumps({"path": str(out), "text": "second ünïcode"}, ensure_ascii=False) in second


def test_a_rejection_by_form_reaches_the_model_with_its_reason(server, plugin, tmp_path):
    # The handshake era: the server asks by a server-to-client request while the call is open.
    out = tmp_path / "out.txt"
    server.replies = [_call(out, "x"), "Understood, I did not write it."]
    person = Person(accept("reject", "not in that folder, please"))

    async def go() -> t.CallToolResult:
        async with Client(_serve(plugin, server.url), mode="legacy", elicitation_callback=person) as c:
            assert c.session.protocol_version == "2025-11-25"
            return await c.call_tool("ask", {"question": "note x"})

    result = asyncio.run(go())
    assert not result.is_error and result.content[0].text == "Understood, I did not write it."
    assert not out.exists()
    assert len(person.asked) == 1
    assert "not in that folder, please" in json.dumps(server.completions[-1], ensure_ascii=False)


def test_without_elicitation_the_result_lists_the_calls_and_a_follow_up_decides(server, plugin, tmp_path):
    out = tmp_path / "out.txt"
    server.replies = [_call(out, "later"), "Noted later."]

    async def go() -> tuple[t.CallToolResult, ...]:
        async with Client(_serve(plugin, server.url)) as c:
            waiting = await c.call_tool("ask", {"question": "note later"})
            nothing_ran = not out.exists()
            session = waiting.structured_content["session"]
            call_id = waiting.structured_content["pending"][0]["id"]
            wrong = await c.call_tool("ask", {"session": session, "approve": ["no-such-call"]})
            done = await c.call_tool("ask", {"session": session, "approve": [call_id]})
            again = await c.call_tool("ask", {"session": session, "approve": [call_id]})
            assert nothing_ran
            return waiting, wrong, done, again

    waiting, wrong, done, again = asyncio.run(go())
    assert not waiting.is_error
    s = waiting.structured_content
    assert s["status"] == "needs_approval" and len(s["session"]) >= 20
    assert s["pending"] == [
        {"id": s["pending"][0]["id"], "tool": "note", "arguments": {"path": str(out), "text": "later"}}
    ]
    text = waiting.content[0].text
    assert s["session"] in text and s["pending"][0]["id"] in text and '"approve"' in text and "note" in text
    assert wrong.is_error and "\n" not in wrong.content[0].text and "no-such-call" in wrong.content[0].text
    assert not done.is_error and done.content[0].text == "Noted later."
    assert out.read_text() == "later\n"  # once: the wrong decision ran nothing, the repeat found no run
    assert again.is_error and "no run waits" in again.content[0].text


def test_over_http_a_paused_run_is_decided_from_another_connection(server, plugin, tmp_path, free_port):
    # Streamable HTTP, many clients: the run one connection left waiting is decided by a second
    # (the session id is the key); a client with elicitation on the same server is asked instead.
    out = tmp_path / "out.txt"
    server.replies = [_call(out, "one"), "Noted one.", _call(out, "two"), "Noted two."]
    proc = subprocess.Popen(
        [sys.executable, "-m", "liteagent", "mcp", "serve", "--agent", "--transport", "http", "--port", str(free_port),
         "--base-url", server.url, "--model", "scripted-model", "--protocol", "hermes", "--plugin", f"{plugin}:note"],
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{free_port}/mcp"
    person = Person(accept("approve"))

    async def go() -> tuple[t.CallToolResult, t.CallToolResult]:
        async with Client(url) as first:
            waiting = (await first.call_tool("ask", {"question": "note one"})).structured_content
        async with Client(url) as second:
            decided = await second.call_tool(
                "ask", {"session": waiting["session"], "approve": [waiting["pending"][0]["id"]]}
            )
        async with Client(url, elicitation_callback=person) as third:
            asked = await third.call_tool("ask", {"question": "note two"})
        return decided, asked

    try:
        _wait_for_port(free_port)
        decided, asked = asyncio.run(go())
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert decided.content[0].text == "Noted one." and asked.content[0].text == "Noted two."
    assert out.read_text() == "one\ntwo\n" and len(person.asked) == 1


def _wait_for_port(port: int) -> None:
    for _ in range(200):
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError(f"nothing listens on 127.0.0.1:{port}")


# -- in memory: the same server object, quicker --------------------------------------------------
@tool(needs_approval=True)
def wipe(name: str) -> str:
    """Wipe a named thing.

    Args:
        name: what to wipe
    """
    WIPED.append(name)
    return f"wiped {name}"


WIPED: list[str] = []


def _wipe(*names: str) -> str:
    return "".join(f'<tool_call>{{"name": "wipe", "arguments": {{"name": "{n}"}}}}</tool_call>' for n in names)


def _ask(agent: Agent, calls: list[dict[str, Any]], **client: Any) -> list[t.CallToolResult]:
    async def go() -> list[t.CallToolResult]:
        async with Client(build_server(agent.executor, agent), **client) as c:
            return [await c.call_tool("ask", args) for args in calls]

    return asyncio.run(go())


@pytest.fixture(autouse=True)
def _clear() -> None:
    WIPED.clear()


@pytest.mark.parametrize("mode", ["legacy", "auto"])
def test_a_declined_or_cancelled_form_is_a_refusal_the_model_reads(mode):
    llm = ScriptedLLM([_wipe("a", "b"), "Nothing wiped."])
    agent = Agent(llm, [wipe], protocol="hermes")
    person = Person(t.ElicitResult(action="decline"), t.ElicitResult(action="cancel"))
    (result,) = _ask(agent, [{"question": "wipe a and b"}], mode=mode, elicitation_callback=person)
    assert result.content[0].text == "Nothing wiped." and WIPED == []
    last = json.dumps(llm.prompts[-1], ensure_ascii=False, default=str)
    assert "declined by the MCP client" in last and "cancelled by the MCP client" in last


def test_always_in_a_form_runs_the_tool_without_asking_again_in_the_run():
    # Handshake era, forms one by one: after "always", the turn's other wipe is not asked about,
    # and neither is the next turn's.
    llm = ScriptedLLM([_wipe("a", "b"), _wipe("c"), "All wiped."])
    agent = Agent(llm, [wipe], protocol="hermes")
    person = Person(accept("always"))
    (result,) = _ask(agent, [{"question": "wipe a, b, c"}], mode="legacy", elicitation_callback=person)
    assert result.content[0].text == "All wiped." and WIPED == ["a", "b", "c"]
    assert len(person.asked) == 1


def test_a_reject_wins_over_always_for_the_same_tool_in_one_round():
    # 2026-07-28: both forms come at once; "always" on one wipe and "reject" on the other runs
    # the first once and refuses the second, as the person said.
    llm = ScriptedLLM([_wipe("a", "b"), "Wiped a only."])
    agent = Agent(llm, [wipe], protocol="hermes")
    person = Person(accept("always"), accept("reject", "keep b"))
    (result,) = _ask(agent, [{"question": "wipe a and b"}], elicitation_callback=person)
    assert result.content[0].text == "Wiped a only." and WIPED == ["a"]
    assert "keep b" in json.dumps(llm.prompts[-1], ensure_ascii=False, default=str)


def test_bad_arguments_and_decisions_are_one_line_errors_and_run_nothing():
    llm = ScriptedLLM([_wipe("a"), "Wiped."])
    agent = Agent(llm, [wipe], protocol="hermes")

    async def go() -> tuple[list[t.CallToolResult], t.CallToolResult]:
        async with Client(build_server(agent.executor, agent)) as c:
            waiting = (await c.call_tool("ask", {"question": "wipe a"})).structured_content
            assert waiting["status"] == "needs_approval"
            sid, cid = waiting["session"], waiting["pending"][0]["id"]
            bad = [
                await c.call_tool("ask", {}),
                await c.call_tool("ask", {"question": "again?", "session": sid}),
                await c.call_tool("ask", {"question": "x", "approve": [cid]}),
                await c.call_tool("ask", {"session": sid}),
                await c.call_tool("ask", {"session": sid, "approve": cid}),
                await c.call_tool("ask", {"session": sid, "reject": {cid: 3}}),
                await c.call_tool("ask", {"session": sid, "approve": [cid], "reject": {cid: "no"}}),
                await c.call_tool("ask", {"session": sid, "always": ["no_such_tool"]}),
                await c.call_tool("ask", {"session": "not-a-session", "approve": [cid]}),
                await c.call_tool("ask", {"session": sid, "approve": [cid], "extra": 1}),
            ]
            ran_before = list(WIPED)
            good = await c.call_tool("ask", {"session": sid, "approve": [cid]})
            assert ran_before == []
            return bad, good

    bad, good = asyncio.run(go())
    for r in bad:
        assert r.is_error and r.content[0].text.startswith("ask: ") and "\n" not in r.content[0].text
    texts = [r.content[0].text for r in bad]
    assert "question must be" in texts[0] and "not both" in texts[1] and "goes with session" in texts[2]
    assert "approve must be a list" in texts[4] and "reject must be an object" in texts[5]
    assert "approved and rejected at once" in texts[6] and "no_such_tool" in texts[7]
    assert "not-a-session" in texts[8] and "'extra'" in texts[9]
    assert good.content[0].text == "Wiped." and WIPED == ["a"]


def test_the_ask_schema_is_flat_and_says_question_or_session():
    agent = Agent(ScriptedLLM(["hi"]), [wipe], protocol="hermes")

    async def go() -> t.Tool:
        async with Client(build_server(agent.executor, agent)) as c:
            return next(x for x in (await c.list_tools()).tools if x.name == "ask")

    ask = asyncio.run(go())
    assert ask.input_schema == ASK_SCHEMA
    # no combinator at the top (Anthropic's API refuses them) and nothing claimed required that isn't
    assert not {"oneOf", "anyOf", "allOf", "if", "not", "required"} & set(ask.input_schema)
    assert set(ask.input_schema["properties"]) == {"question", "session", "approve", "reject", "always"}
    assert "unless session" in ask.input_schema["properties"]["question"]["description"]


def test_a_client_whose_forms_fail_gets_the_waiting_calls_instead():
    # Elicitation declared, but the client answers the form with an error: the run stays waiting
    # and the result lists it, as for a client without forms; nothing ran.
    async def broken(ctx: Any, params: Any) -> t.ErrorData:
        return t.ErrorData(code=t.INVALID_REQUEST, message="no person here")

    agent = Agent(ScriptedLLM([_wipe("a"), "Wiped."]), [wipe], protocol="hermes")
    (result,) = _ask(agent, [{"question": "wipe a"}], mode="legacy", elicitation_callback=broken)
    assert not result.is_error and result.structured_content["status"] == "needs_approval" and WIPED == []
    assert result.structured_content["pending"][0]["arguments"] == {"name": "a"}
