"""OpenTelemetry spans through ``OTelHooks`` on an explicit tracer provider (the SDK's in-memory
exporter): the whole span tree of a two-turn run with two parallel calls, in process and over
HTTP; errors of the model and of a tool; cancelled runs; contents only when asked; opentelemetry
never imported while tracing is off."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import pytest

from liteagent import Agent, OpenAICompatibleLLM, ScriptedLLM, tool
from liteagent.hooks import RunHooks

sdk = pytest.importorskip("opentelemetry.sdk.trace")
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # noqa: E402
from opentelemetry.trace import SpanKind, StatusCode  # noqa: E402

from liteagent.tracing import CAPTURE_ENV, OTelHooks  # noqa: E402

from ..conftest import TESTS  # noqa: E402
from .tools import TWO, add, call, fail, wait  # noqa: E402

CONTENT_KEYS = (
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "gen_ai.tool.call.arguments",
    "gen_ai.tool.call.result",
)


class Ids(RunHooks):
    def __init__(self) -> None:
        self.ids: list[str] = []

    def run_start(self, run):
        self.ids.append(run.run_id)


@pytest.fixture
def exporter():
    return InMemorySpanExporter()


@pytest.fixture
def provider(exporter):
    p = sdk.TracerProvider()
    p.add_span_processor(SimpleSpanProcessor(exporter))
    yield p
    p.shutdown()


def tree(spans):
    """The root and its children; every span of one trace, every child directly under the root."""
    roots = [s for s in spans if s.parent is None]
    assert len(roots) == 1, [s.name for s in spans]
    root = roots[0]
    children = [s for s in spans if s is not root]
    assert all(s.parent.span_id == root.context.span_id for s in children)
    assert {s.context.trace_id for s in spans} == {root.context.trace_id}
    return root, children


def test_the_span_tree_of_two_turns_with_two_parallel_calls(provider, exporter):
    ids = Ids()
    agent = Agent(
        ScriptedLLM([TWO, "3 and 7"], model="qwen"), [add], "hermes", hooks=[OTelHooks(provider), ids], name="calc"
    )
    assert agent.run("sums?").status == "ok"
    spans = exporter.get_finished_spans()
    root, children = tree(spans)
    assert root.name == "invoke_agent calc" and root.kind == SpanKind.INTERNAL
    assert root.status.status_code == StatusCode.UNSET
    assert {k: root.attributes[k] for k in root.attributes if not k.startswith("liteagent.usage.")} == {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.name": "calc",
        "gen_ai.provider.name": "liteagent.scripted",
        "gen_ai.request.model": "qwen",
        "liteagent.run.id": ids.ids[0],
        "liteagent.run.status": "ok",
        "liteagent.run.turns": 2,
    }
    chats = sorted((s for s in children if s.name == "chat qwen"), key=lambda s: s.start_time)
    tools = sorted(
        (s for s in children if s.name == "execute_tool add"), key=lambda s: s.attributes["gen_ai.tool.call.id"]
    )
    assert len(chats) == 2 and len(tools) == 2 and len(children) == 4
    for chat in chats:
        assert chat.kind == SpanKind.CLIENT and chat.status.status_code == StatusCode.UNSET
        assert dict(chat.attributes) == {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "liteagent.scripted",
            "gen_ai.request.model": "qwen",
            "gen_ai.request.max_tokens": 1024,
            "gen_ai.response.finish_reasons": ("stop",),
        }  # no usage (the scripted model reports none), no server
    for i, t in enumerate(tools):
        assert t.kind == SpanKind.INTERNAL and t.status.status_code == StatusCode.UNSET
        assert dict(t.attributes) == {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": "add",
            "gen_ai.tool.call.id": f"call_{i}",
            "gen_ai.tool.type": "function",
        }
    # the calls run between the two model turns, everything within the run
    assert all(chats[0].end_time <= t.start_time and t.end_time <= chats[1].start_time for t in tools)
    assert all(root.start_time <= s.start_time and s.end_time <= root.end_time for s in children)


def test_over_http_usage_server_and_the_traceparent_sent(provider, exporter, server):
    server.replies = [TWO, "3 and 7"]
    llm = OpenAICompatibleLLM(server.url, "scripted-model", max_retries=0)
    agent = Agent(llm, [add], "hermes", hooks=[OTelHooks(provider)], temperature=0.5)
    assert agent.run("sums?").answer == "3 and 7"
    root, children = tree(exporter.get_finished_spans())
    port = int(server.url.split(":")[2].split("/")[0])
    chats = [s for s in children if s.name == "chat scripted-model"]
    assert len(chats) == 2 and len(children) == 4
    for chat in chats:
        a = chat.attributes
        assert a["gen_ai.provider.name"] == "openai" and a["gen_ai.request.temperature"] == 0.5
        assert (a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"]) == (10, 5)
        assert (a["server.address"], a["server.port"]) == ("127.0.0.1", port)
    assert root.attributes["liteagent.usage.prompt_tokens"] == 20
    assert root.attributes["liteagent.usage.completion_tokens"] == 10
    assert root.attributes["liteagent.usage.total_tokens"] == 30
    assert not any(k.startswith("gen_ai.usage.") for k in root.attributes)  # counted once, on the chats
    sent = [{k.lower(): v for k, v in r["headers"].items()} for r in server.requests if r["body"]]
    got = sorted(h["traceparent"].split("-")[2] for h in sent)
    assert got == sorted(format(c.context.span_id, "016x") for c in chats)
    assert all(h["traceparent"].split("-")[1] == format(root.context.trace_id, "032x") for h in sent)
    assert all(r["body"]["stream_options"] == {"include_usage": True} for r in server.requests if r["body"])


def test_concurrent_runs_keep_their_own_traces(provider, exporter, server):
    server.delay = 0.05  # both runs' model calls are in flight at once
    server.default_reply = "hi"
    agent = Agent(OpenAICompatibleLLM(server.url, "scripted-model", max_retries=0), hooks=[OTelHooks(provider)])

    async def go() -> None:
        await asyncio.gather(*(agent.arun(q) for q in ("a", "b", "c")))

    asyncio.run(go())
    assert server.max_in_flight > 1
    spans = exporter.get_finished_spans()
    roots = [s for s in spans if s.parent is None]
    assert len(roots) == 3 and len({r.context.trace_id for r in roots}) == 3
    for root in roots:
        (chat,) = [s for s in spans if s.parent is not None and s.parent.span_id == root.context.span_id]
        assert chat.context.trace_id == root.context.trace_id
    sent = sorted(r["headers"]["Traceparent"].split("-")[2] for r in server.requests if r["body"])
    assert sent == sorted(format(s.context.span_id, "016x") for s in spans if s.parent is not None)


def test_a_model_error_marks_the_chat_and_the_run(provider, exporter, server):
    server.replies = [{"status": 500, "error": "the GPU caught fire"}]
    agent = Agent(OpenAICompatibleLLM(server.url, "scripted-model", max_retries=0), hooks=[OTelHooks(provider)])
    result = agent.run("x")
    assert result.status == "error"
    root, (chat,) = tree(exporter.get_finished_spans())
    assert chat.status.status_code == StatusCode.ERROR and chat.attributes["error.type"] == "llm_error"
    assert "gen_ai.response.finish_reasons" not in chat.attributes
    assert root.status.status_code == StatusCode.ERROR and root.attributes["error.type"] == "error"
    assert root.attributes["liteagent.run.status"] == "error"
    assert root.status.description and root.status.description in result.error


def test_a_tool_error_marks_its_span_only(provider, exporter):
    llm = ScriptedLLM([call("fail", {"reason": "x"}) + "\n" + call("add", {"a": 1, "b": 1}), "it failed"], model="m")
    result = Agent(llm, [fail, add], "hermes", hooks=[OTelHooks(provider)]).run("try")
    assert result.status == "ok"
    root, children = tree(exporter.get_finished_spans())
    spans = {s.name: s for s in children}
    bad = spans["execute_tool fail"]
    assert bad.status.status_code == StatusCode.ERROR and bad.attributes["error.type"] == "api_error"
    assert "broken: x" in bad.status.description
    assert spans["execute_tool add"].status.status_code == StatusCode.UNSET
    assert root.status.status_code == StatusCode.UNSET


def test_a_usage_limit_and_a_pause_for_approval_on_the_root(provider, exporter):
    agent = Agent(
        ScriptedLLM([TWO], model="m"), [add], "hermes", hooks=[OTelHooks(provider)], usage_limits={"tool_calls": 1}
    )
    assert agent.run("x").status == "usage_limit"
    root, children = tree(exporter.get_finished_spans())
    assert root.status.status_code == StatusCode.ERROR and root.attributes["error.type"] == "usage_limit"
    assert [s.name for s in children] == ["chat m"]  # the refused calls never ran: no tool spans
    exporter.clear()

    @tool(needs_approval=True)
    def delete(path: str) -> str:
        """Delete a file.

        Args:
            path: the file
        """
        return path

    agent = Agent(ScriptedLLM([call("delete", {"path": "/x"})], model="m"), [delete], hooks=[OTelHooks(provider)])
    assert agent.run("x").status == "needs_approval"
    root, _ = tree(exporter.get_finished_spans())
    assert root.status.status_code == StatusCode.UNSET
    assert root.attributes["liteagent.approval.pending"] == ("call_0:delete",)


def test_a_run_cancelled_mid_reply_ends_every_span(provider, exporter):
    agent = Agent(ScriptedLLM(["a long answer"], chunk_size=2, model="m"), hooks=[OTelHooks(provider)])
    events = agent.stream("x")
    assert next(events).type == "text"
    events.close()
    root, (chat,) = tree(exporter.get_finished_spans())  # both ended: the exporter has them
    assert root.attributes["liteagent.run.status"] == "cancelled" and root.attributes["error.type"] == "cancelled"
    assert root.status.status_code == StatusCode.ERROR
    assert chat.status.status_code == StatusCode.ERROR and chat.attributes["error.type"] == "cancelled"


def test_a_run_cancelled_while_a_tool_runs_ends_the_tool_span(provider, exporter):
    class Started(RunHooks):
        def __init__(self) -> None:
            self.event = asyncio.Event()

        def tool_start(self, run, turn, call):
            self.event.set()

    async def go() -> None:
        started = Started()
        agent = Agent(
            ScriptedLLM([call("wait", {})], model="m"), [wait], "hermes", hooks=[OTelHooks(provider), started]
        )
        events = agent.astream("x")
        async for ev in events:
            if ev.type == "tool_call":
                break
        task = asyncio.ensure_future(events.__anext__())  # the tool starts, then waits
        await asyncio.wait_for(started.event.wait(), 30)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await events.aclose()

    asyncio.run(go())
    root, children = tree(exporter.get_finished_spans())
    assert root.attributes["liteagent.run.status"] == "cancelled"
    assert sorted(s.name for s in children) == ["chat m", "execute_tool wait"]
    (tool_span,) = [s for s in children if s.name == "execute_tool wait"]
    assert tool_span.status.status_code == StatusCode.ERROR and tool_span.attributes["error.type"] == "cancelled"


def contents(spans) -> dict[str, str]:
    return {k: v for s in spans for k, v in s.attributes.items() if k in CONTENT_KEYS}


def test_contents_are_not_recorded_by_default(provider, exporter, monkeypatch):
    monkeypatch.delenv(CAPTURE_ENV, raising=False)
    agent = Agent(ScriptedLLM([call("add", {"a": 41, "b": 1}), "forty-two"], model="m"), [add], "hermes",
                  hooks=[OTelHooks(provider)])  # fmt: skip
    agent.run("what is fourty-one plus one?")
    spans = exporter.get_finished_spans()
    assert contents(spans) == {}
    text = json.dumps([dict(s.attributes) for s in spans])
    assert "fourty-one" not in text and "forty-two" not in text


@pytest.mark.parametrize("how", ["argument", "env"])
def test_contents_are_recorded_when_asked(provider, exporter, monkeypatch, how):
    if how == "env":
        monkeypatch.setenv(CAPTURE_ENV, "true")
        hooks = OTelHooks(provider)
    else:
        monkeypatch.setenv(CAPTURE_ENV, "false")
        hooks = OTelHooks(provider, capture=True)
    agent = Agent(ScriptedLLM([call("add", {"a": 41, "b": 1}), "forty-two"], model="m"), [add], "hermes", hooks=[hooks])
    agent.run("what is fourty-one plus one?")
    spans = {s.name: s for s in exporter.get_finished_spans()}
    assert "fourty-one" in spans["chat m"].attributes["gen_ai.input.messages"]
    assert json.loads(spans["execute_tool add"].attributes["gen_ai.tool.call.arguments"]) == {"a": 41, "b": 1}
    assert "42" in spans["execute_tool add"].attributes["gen_ai.tool.call.result"]
    out = json.loads(spans["invoke_agent liteagent"].attributes["gen_ai.output.messages"])
    assert out == [{"role": "assistant", "content": "forty-two"}]


def test_capture_false_wins_over_the_environment(provider, exporter, monkeypatch):
    monkeypatch.setenv(CAPTURE_ENV, "true")
    Agent(ScriptedLLM(["hi"], model="m"), hooks=[OTelHooks(provider, capture=False)]).run("secret question")
    assert contents(exporter.get_finished_spans()) == {}


def test_a_failing_tracer_never_reaches_the_run(exporter):
    class Exploding(SimpleSpanProcessor):
        def on_end(self, span):
            raise RuntimeError("the exporter is down")

    provider = sdk.TracerProvider()
    provider.add_span_processor(Exploding(exporter))
    agent = Agent(ScriptedLLM([call("add", {"a": 1, "b": 2}), "3"], model="m"), [add], "hermes",
                  hooks=[OTelHooks(provider)])  # fmt: skip
    assert agent.run("x").answer == "3"


def test_a_cancelled_run_leaves_no_traceparent_behind(provider, exporter, server):
    server.replies = ["a long answer, in many little pieces", "plain"]

    async def go() -> None:
        traced = Agent(OpenAICompatibleLLM(server.url, "scripted-model", max_retries=0), hooks=[OTelHooks(provider)])
        events = traced.astream("x")
        assert (await events.__anext__()).type == "text"
        await events.aclose()
        plain = Agent(OpenAICompatibleLLM(server.url, "scripted-model", max_retries=0))  # no tracing at all
        assert (await plain.arun("y")).answer == "plain"

    asyncio.run(go())
    sent = [{k.lower(): v for k, v in r["headers"].items()} for r in server.requests if r["body"]]
    assert len(sent) == 2 and "traceparent" in sent[0]
    assert "traceparent" not in sent[1]


NOT_IMPORTED = """
import sys
sys.path.insert(0, sys.argv[2])
from liteagent import Agent, OpenAICompatibleLLM, ScriptedLLM, tool

@tool
def add(a: int, b: int) -> int:
    '''Add.

    Args:
        a: a
        b: b
    '''
    return a + b

call = '<tool_call>\\n{"name": "add", "arguments": {"a": 1, "b": 2}}\\n</tool_call>'
assert Agent(ScriptedLLM([call, "3"], model="qwen"), [add], "hermes").run("x").answer == "3"
assert list(Agent(ScriptedLLM(["hi"], model="qwen")).stream("x"))[-1].type == "final"
assert Agent(OpenAICompatibleLLM(sys.argv[1], "scripted-model", max_retries=0)).run("x").answer == "over http"
print('opentelemetry' in ' '.join(sys.modules))
"""


def test_opentelemetry_is_not_imported_while_no_provider_is_configured(server):
    server.replies = ["over http"]
    out = subprocess.run(
        [sys.executable, "-c", NOT_IMPORTED, server.url, str(TESTS)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
    sent = [{k.lower(): v for k, v in r["headers"].items()} for r in server.requests if r["body"]]
    assert sent and "traceparent" not in sent[0]
