"""Hooks and OpenTelemetry spans, with the SDK's in-memory exporter: the span tree of a run with
two parallel tool calls, an LLM error, a tool error, a cancelled run; contents only when asked."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from liteagent import Agent, OpenAICompatibleLLM, ScriptedLLM
from liteagent.hooks import RunHooks

sdk = pytest.importorskip("opentelemetry.sdk.trace")
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # noqa: E402
from opentelemetry.trace import StatusCode  # noqa: E402

from liteagent.tracing import OTelHooks  # noqa: E402

from .tools import add, call, fail  # noqa: E402


@pytest.fixture
def traced():
    exporter = InMemorySpanExporter()
    provider = sdk.TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))

    def make(llm, tools=(), capture: bool | None = None, **kw) -> Agent:
        return Agent(llm, list(tools), protocol="hermes", hooks=[OTelHooks(provider, capture=capture)], **kw)

    make.spans = exporter.get_finished_spans  # type: ignore[attr-defined]
    return make


def tree(spans) -> tuple:
    root = next(s for s in spans if s.parent is None)
    children = [s for s in spans if s.parent is not None]
    assert all(s.parent.span_id == root.context.span_id for s in children)
    assert {s.context.trace_id for s in spans} == {root.context.trace_id}
    return root, children


def test_the_span_tree_of_a_run_with_two_parallel_calls(traced):
    two = call("add", {"a": 1, "b": 2}) + "\n" + call("add", {"a": 3, "b": 4})
    agent = traced(ScriptedLLM([two, "3 and 7"], model="qwen"), [add], name="calc")
    assert agent.run("sums?").status == "ok"
    root, children = tree(traced.spans())
    assert root.name == "invoke_agent calc"
    assert (
        root.attributes["gen_ai.operation.name"] == "invoke_agent" and root.attributes["liteagent.run.status"] == "ok"
    )
    names = sorted(s.name for s in children)
    assert names == ["chat qwen", "chat qwen", "execute_tool add", "execute_tool add"]
    tools = [s for s in children if s.name == "execute_tool add"]
    assert sorted(s.attributes["gen_ai.tool.call.id"] for s in tools) == ["call_0", "call_1"]
    assert all(s.attributes["gen_ai.tool.name"] == "add" and s.status.status_code == StatusCode.UNSET for s in tools)
    chats = [s for s in children if s.name == "chat qwen"]
    assert all(s.attributes["gen_ai.operation.name"] == "chat" for s in chats)
    assert [s.attributes["gen_ai.response.finish_reasons"] for s in chats] == [("stop",), ("stop",)]
    assert "gen_ai.input.messages" not in json.dumps([dict(s.attributes) for s in traced.spans()])


def test_a_tool_error_marks_its_span(traced):
    agent = traced(ScriptedLLM([call("fail", {"reason": "x"}), "It failed."], model="qwen"), [fail])
    agent.run("try")
    span = next(s for s in traced.spans() if s.name == "execute_tool fail")
    assert span.status.status_code == StatusCode.ERROR and span.attributes["error.type"] == "api_error"


def test_an_llm_error_marks_the_chat_and_the_run(traced, server):
    server.replies = [{"status": 500}]
    agent = traced(OpenAICompatibleLLM(server.url, "scripted-model", max_retries=0))
    result = agent.run("x")
    assert result.status == "error"
    root, children = tree(traced.spans())
    (chat,) = children
    assert chat.status.status_code == StatusCode.ERROR and chat.attributes["error.type"] == "llm_error"
    port = int(server.url.rsplit(":", 1)[1].split("/")[0])
    assert chat.attributes["server.address"] == "127.0.0.1" and chat.attributes["server.port"] == port
    assert root.status.status_code == StatusCode.ERROR and root.attributes["error.type"] == "error"


def test_usage_is_on_the_chat_spans_and_totals_on_the_root(traced, server):
    server.replies = ["hi"]
    traced(OpenAICompatibleLLM(server.url, "scripted-model", max_retries=0)).run("x")
    root, (chat,) = tree(traced.spans())
    assert chat.attributes["gen_ai.usage.input_tokens"] == 10 and chat.attributes["gen_ai.usage.output_tokens"] == 5
    assert "gen_ai.usage.input_tokens" not in root.attributes  # counted once
    assert root.attributes["liteagent.usage.prompt_tokens"] == 10
    body = next(r["body"] for r in server.requests if r["body"])
    assert body["stream_options"] == {"include_usage": True}


def test_a_cancelled_run_still_ends_its_spans(traced):
    agent = traced(ScriptedLLM([call("add", {"a": 1, "b": 2}), "3"], model="qwen"), [add])
    events = agent.stream("x")
    for ev in events:
        if ev.type == "tool_call":
            break
    events.close()
    spans = traced.spans()
    root = next(s for s in spans if s.parent is None)
    assert root.attributes["liteagent.run.status"] == "cancelled" and root.status.status_code == StatusCode.ERROR
    assert all(s.end_time is not None for s in spans)


def test_contents_only_when_asked(traced, monkeypatch):
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    agent = traced(ScriptedLLM([call("add", {"a": 1, "b": 2}), "three"], model="qwen"), [add])
    agent.run("one plus two?")
    attrs = {s.name: dict(s.attributes) for s in traced.spans()}
    assert "one plus two?" in attrs["chat qwen"]["gen_ai.input.messages"]
    assert json.loads(attrs["execute_tool add"]["gen_ai.tool.call.arguments"]) == {"a": 1, "b": 2}


class Recorder(RunHooks):
    def __init__(self) -> None:
        self.seen: list[tuple] = []

    def run_start(self, run):
        self.seen.append(("run_start", run.run_id))

    def model_start(self, run, turn, request):
        self.seen.append(("model_start", turn))

    def model_end(self, run, turn, usage, finish, error):
        self.seen.append(("model_end", turn, finish))

    def tool_start(self, run, turn, call):
        self.seen.append(("tool_start", turn, call.id))

    def tool_end(self, run, turn, call, result):
        self.seen.append(("tool_end", turn, call.id, result.status.value))

    def run_end(self, run, result, status):
        self.seen.append(("run_end", status))


class Broken(RunHooks):
    def model_start(self, run, turn, request):
        raise RuntimeError("a bug in the hook")


def test_hooks_see_every_step_and_a_broken_hook_never_reaches_the_run(caplog):
    rec = Recorder()
    agent = Agent(
        ScriptedLLM([call("add", {"a": 1, "b": 2}), "3"] * 2, model="qwen"), [add], hooks=[Broken(), rec, Broken()]
    )
    assert agent.run("x").answer == "3" and agent.run("y").status == "ok"
    first = rec.seen[: len(rec.seen) // 2]
    assert [e[0] for e in first] == [
        "run_start", "model_start", "model_end", "tool_start", "tool_end", "model_start", "model_end", "run_end",
    ]  # fmt: skip
    assert first[3] == ("tool_start", 1, "call_0") and first[4] == ("tool_end", 1, "call_0", "success")
    assert first[-1] == ("run_end", "ok")
    assert rec.seen[0][1] != rec.seen[len(rec.seen) // 2][1]  # a new run id each run
    assert sum("a bug in the hook" in r.getMessage() or "failed" in r.getMessage() for r in caplog.records) == 2


def test_opentelemetry_is_not_imported_while_tracing_is_off():
    code = (
        "import sys\n"
        "from liteagent import Agent, ScriptedLLM\n"
        "Agent(ScriptedLLM(['hi'])).run('x')\n"
        "print(any(m.split('.')[0] == 'opentelemetry' for m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_a_configured_tracer_provider_turns_tracing_on_by_itself():
    code = (
        "from opentelemetry import trace\n"
        "from opentelemetry.sdk.trace import TracerProvider\n"
        "from opentelemetry.sdk.trace.export import SimpleSpanProcessor\n"
        "from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter\n"
        "exporter = InMemorySpanExporter(); provider = TracerProvider()\n"
        "provider.add_span_processor(SimpleSpanProcessor(exporter)); trace.set_tracer_provider(provider)\n"
        "from liteagent import Agent, ScriptedLLM\n"
        "with trace.get_tracer('app').start_as_current_span('request') as outer:\n"
        "    Agent(ScriptedLLM(['hi'])).run('x')\n"
        "spans = {s.name: s for s in exporter.get_finished_spans()}\n"
        "print(sorted(spans), spans['invoke_agent liteagent'].parent.span_id == spans['request'].context.span_id)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "['chat scripted', 'invoke_agent liteagent', 'request'] True"
