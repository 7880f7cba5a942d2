"""Replies that hold no answer (issue 23, item 9): a stream of only ``data: [DONE]``, a usage or
role chunk and then [DONE], a whole reply with no choices. Each once gave an empty answer with
status ok and exit 0; each must be an error the user sees. What real servers send for an
answer that is empty (vLLM, llama.cpp, Ollama, lmdeploy: a finish_reason "stop") stays an
empty answer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest

from liteagent import Agent, BaseAction, OpenAICompatibleLLM, ScriptedLLM, tool_api
from liteagent.events import ErrorEvent, FinalAnswer
from liteagent.llms.base import LLM, Chunk, GenerationConfig
from liteagent.protocols.base import Request

DIALECTS = ["internlm2", "hermes", "openai", "react"]
DONE = "[DONE]"
USAGE = {"choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 0, "total_tokens": 9}}


class Clock(BaseAction):
    """Time."""

    @tool_api
    def now(self) -> str:
        """The time."""
        return "12:00"


def agent_for(server, dialect: str, stream: bool = True, retries: int = 1) -> Agent:
    llm = OpenAICompatibleLLM(server.url, "scripted-model", max_retries=retries, backoff=0.01, stream=stream)
    return Agent(llm, [Clock()], protocol=dialect)


def chat(delta: dict, finish: str | None = None) -> dict:
    return {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


def text(piece: str, finish: str | None = None) -> dict:  # /v1/completions (internlm2)
    return {"choices": [{"index": 0, "text": piece, "finish_reason": finish}]}


def piece(dialect: str, content: str | None, finish: str | None = None) -> dict:
    return text(content or "", finish) if dialect == "internlm2" else chat({"content": content}, finish)


def assert_error(result, *words: str) -> None:
    assert result.status == "error", (result.status, result.answer, result.error)
    assert result.answer == ""
    assert result.error and "\n" not in result.error
    for w in words:
        assert w in result.error, result.error


# -- the attack: nothing came, and that is not an answer ------------------------------------------
EMPTY_STREAMS = {
    "only [DONE]": lambda d: [DONE],
    "a usage chunk, then [DONE]": lambda d: [USAGE, DONE],
    "vLLM's role chunk, then [DONE]": lambda d: [chat({"role": "assistant", "content": ""}), DONE],
    "an empty piece, then [DONE]": lambda d: [piece(d, ""), DONE],
}


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("case", list(EMPTY_STREAMS))
def test_a_stream_with_no_answer_is_an_error(server, dialect, case):
    server.default_reply = {"sse": EMPTY_STREAMS[case](dialect)}
    result = agent_for(server, dialect).run("What time is it?")
    assert_error(result, "empty reply", server.url)
    assert len(server.completions) == 2  # retried once (logged), then reported


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_stream_with_no_answer_ends_the_event_stream_with_an_error_event(server, dialect):
    server.default_reply = {"sse": [DONE]}
    events = list(agent_for(server, dialect).stream("What time is it?"))
    assert not any(isinstance(e, FinalAnswer) for e in events)
    last = events[-1]
    assert isinstance(last, ErrorEvent) and last.kind == "llm" and "empty reply" in last.message
    assert last.result is not None and last.result.status == "error"

    async def go():
        return [e async for e in agent_for(server, dialect).astream("What time is it?")]

    assert isinstance(asyncio.run(go())[-1], ErrorEvent)


def test_an_empty_stream_that_a_retry_answers_is_answered_and_logged(server, caplog):
    server.replies = [{"sse": [DONE]}, "Noon."]
    with caplog.at_level("WARNING", logger="liteagent.llm"):
        result = agent_for(server, "hermes").run("What time is it?")
    assert result.status == "ok" and result.answer == "Noon."
    assert any("the reply was empty" in m for m in caplog.messages)  # never a silent retry


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize(
    ("body", "why"),
    [
        ({"id": "x", "object": "chat.completion", "choices": []}, "no choices"),
        ({"id": "x", "object": "chat.completion"}, "no choices"),
        (
            {"choices": [{"index": 0, "message": {"role": "assistant", "content": None}, "finish_reason": None}]},
            "no text, tool call or finish_reason",
        ),
        ({"choices": [{"index": 0, "text": "", "finish_reason": None}]}, "no text, tool call or finish_reason"),
    ],
)
def test_a_whole_reply_with_no_answer_is_an_error(server, dialect, body, why):
    server.default_reply = {"body": body}
    assert_error(agent_for(server, dialect, stream=False).run("What time is it?"), "empty reply", why)


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("reason", ["abort", "error"])
def test_a_reply_the_server_aborted_is_an_error_not_a_short_answer(server, dialect, reason):
    # vLLM ends a request its engine aborted or failed with finish_reason "abort" / "error"
    server.default_reply = {"sse": [piece(dialect, "It is no"), piece(dialect, "", reason), DONE]}
    result = agent_for(server, dialect).run("What time is it?")
    assert_error(result, repr(reason))
    assert "It is no" not in (result.error or "")
    whole = {"index": 0, "message": {"role": "assistant", "content": "It is no"}, "finish_reason": reason}
    if dialect == "internlm2":
        whole = {"index": 0, "text": "It is no", "finish_reason": reason}
    server.default_reply = {"body": {"choices": [whole]}}
    assert_error(agent_for(server, dialect, stream=False).run("What time is it?"), repr(reason), "not a complete")


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_stream_closed_before_done_with_nothing_is_an_error(server, dialect):
    server.default_reply = {"sse": [USAGE]}  # then the connection ends: no finish_reason, no [DONE]
    assert_error(agent_for(server, dialect).run("What time is it?"), "broke off")


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_stream_cut_off_mid_answer_is_an_error(server, dialect):
    server.default_reply = {"sse": [piece(dialect, "It is noo")]}  # no finish_reason, no [DONE]
    result = agent_for(server, dialect).run("What time is it?")
    assert_error(result, "broke off")
    assert len(server.completions) == 1  # part of it came: not retried, not used


@pytest.mark.parametrize(
    "events",
    [
        [{"choices": "not a list"}, DONE],
        [{"choices": ["not an object"]}, DONE],
        [{"choices": [{"index": 0, "delta": ["x"], "finish_reason": None}]}, DONE],
        [chat({"content": {"nested": "object"}}, "stop"), DONE],
        [chat({"content": "hi"}, 7), DONE],  # type: ignore[arg-type]
        [chat({"tool_calls": [{"index": "0", "function": {"name": "Clock__now"}}]}, "tool_calls"), DONE],
        [chat({"tool_calls": [{"index": 0, "function": {"name": ["x"]}}]}, "tool_calls"), DONE],
    ],
)
def test_events_shaped_unlike_openai_are_a_clear_error_not_a_crash(server, events):
    server.default_reply = {"sse": events}
    assert_error(agent_for(server, "openai").run("What time is it?"), "not OpenAI's")


# -- what real servers send for an empty answer stays an empty answer ------------------------------
LEGITIMATE = {
    # vLLM / lmdeploy: a role chunk, the content, a last chunk with the finish reason, usage, [DONE]
    "vllm": [chat({"role": "assistant", "content": ""}), chat({}, "stop"), USAGE, DONE],
    # llama.cpp's server: the finish reason rides on a chunk whose content is null
    "llama.cpp": [chat({"role": "assistant", "content": None}), chat({"content": None}, "stop"), DONE],
    # Ollama's /v1: one chunk with an empty content and the finish reason
    "ollama": [chat({"role": "assistant", "content": ""}, "stop"), DONE],
    # a finish reason, then the connection closes without [DONE]
    "no [DONE]": [chat({"content": ""}, "stop")],
}


@pytest.mark.parametrize("case", list(LEGITIMATE))
@pytest.mark.parametrize("dialect", ["hermes", "openai", "react"])
def test_an_empty_answer_with_its_finish_reason_is_an_empty_answer(server, dialect, case):
    server.default_reply = {"sse": LEGITIMATE[case]}
    result = agent_for(server, dialect).run("Say nothing.")
    assert (result.status, result.answer, result.error) == ("ok", "", None)
    assert len(server.completions) == 1


def test_an_empty_completion_with_its_finish_reason_is_an_empty_answer(server):
    server.default_reply = {"sse": [text("", "stop"), DONE]}  # lmdeploy's /v1/completions
    assert agent_for(server, "internlm2").run("Say nothing.").status == "ok"
    server.default_reply = {"body": {"choices": [{"index": 0, "text": "", "finish_reason": "stop"}]}}
    assert agent_for(server, "internlm2", stream=False).run("Say nothing.").status == "ok"


def test_text_then_done_without_a_finish_reason_is_complete(server):
    # [DONE] is the server's own word that the reply is over; some proxies drop finish_reason
    server.default_reply = {"sse": [chat({"content": "Noon."}), DONE]}
    result = agent_for(server, "hermes").run("What time is it?")
    assert (result.status, result.answer) == ("ok", "Noon.")


# -- any backend: a turn that brought nothing is an error; ScriptedLLM's "" is an empty answer -----
class Silent(LLM):
    """A backend that ends its reply without a single chunk."""

    sync_streaming = True
    model = "silent"

    def stream_sync(self, request: Request, config: GenerationConfig | None = None) -> Iterator[Chunk]:
        yield from ()

    async def astream(self, request: Request, config: GenerationConfig | None = None) -> AsyncIterator[Chunk]:
        for c in self.stream_sync(request, config):
            yield c


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_backend_that_sends_nothing_is_an_error_in_every_driver(dialect):
    agent = Agent(Silent(), [Clock()], protocol=dialect)
    assert_error(agent.run("What time is it?"), "empty reply")
    assert_error(asyncio.run(agent.arun("What time is it?")), "empty reply")
    last = list(agent.stream("What time is it?"))[-1]
    assert isinstance(last, ErrorEvent) and last.kind == "llm"


@pytest.mark.parametrize("dialect", DIALECTS)
def test_scripted_empty_output_is_an_empty_answer(dialect):
    result = Agent(ScriptedLLM([""]), [Clock()], protocol=dialect).run("Say nothing.")
    assert (result.status, result.answer) == ("ok", "")


# -- the CLI: exit 1, one line naming the problem, no traceback; an empty answer exits 0 -----------
def test_cli_run_reports_an_empty_stream(cli, server):
    server.default_reply = {"sse": [DONE]}
    r = cli("run", "--base-url", server.url, "--model", "scripted-model", "--plugin", "EnvChecker", "Time?")
    assert r.code == 1 and r.out == ""
    errors = [line for line in r.err.splitlines() if line.startswith("liteagent: error:")]
    assert len(errors) == 1 and "empty reply" in errors[0]
    assert "Traceback" not in r.err
    r = cli("run", "--json", "--base-url", server.url, "--model", "scripted-model", "--plugin", "EnvChecker", "Time?")
    assert r.code == 1 and '"status": "error"' in r.out


def test_cli_run_prints_an_empty_answer_and_exits_0(cli, server):
    server.default_reply = {"sse": LEGITIMATE["vllm"]}
    r = cli("run", "--base-url", server.url, "--model", "scripted-model", "--protocol", "hermes", "Say nothing.")
    assert (r.code, r.out, r.err) == (0, "\n", "")
