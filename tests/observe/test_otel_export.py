"""``--otel``: spans sent over OTLP/HTTP (protobuf) to a collector stand-in on 127.0.0.1, by
``liteagent run`` (one trace, every span sent at a clean exit, the model server given the chat
span's ``traceparent``) and by ``liteagent serve`` (a request's ``traceparent`` continued)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

pytest.importorskip("opentelemetry.exporter.otlp.proto.http.trace_exporter")
pytest.importorskip("opentelemetry.proto.collector.trace.v1.trace_service_pb2")

from ..conftest import TESTS
from .otlp_receiver import OTLPReceiver

WEATHER = TESTS / "data" / "plugins" / "weather.py"
TWO_CALLS = (
    '<tool_call>\n{"name": "Weather.forecast", "arguments": {"city": "Oslo"}}\n</tool_call>\n'
    '<tool_call>\n{"name": "Weather.forecast", "arguments": {"city": "Bergen"}}\n</tool_call>'
)


@pytest.fixture
def receiver():
    with OTLPReceiver() as r:
        yield r


def otel_env(receiver: OTLPReceiver) -> dict[str, str]:
    return {
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_SERVICE_NAME": "liteagent-test",
    }


def headers_of(server) -> list[dict[str, str]]:
    """The request headers of each model call the scripted server got (names lower-cased)."""
    return [{k.lower(): v for k, v in r["headers"].items()} for r in server.requests if r["body"]]


def test_run_with_otel_sends_one_whole_trace_and_the_traceparent(cli, server, receiver):
    server.replies = [TWO_CALLS, "Sunny in Oslo and Bergen."]
    r = cli(
        "run", "Oslo and Bergen?", "--otel", "--base-url", server.url, "--model", "scripted-model",
        "--protocol", "hermes", "--plugin", f"{WEATHER}:Weather",
        env=otel_env(receiver),
    )  # fmt: skip
    assert r.code == 0, r.err
    assert r.out == "Sunny in Oslo and Bergen.\n"
    spans = list(receiver.spans)  # at once: the process sent everything before it exited
    assert sorted(s["name"] for s in spans) == [
        "chat scripted-model",
        "chat scripted-model",
        "execute_tool Weather.forecast",
        "execute_tool Weather.forecast",
        "invoke_agent liteagent",
    ]
    (root,) = [s for s in spans if s["parent"] is None]
    assert root["name"] == "invoke_agent liteagent"
    assert {s["trace_id"] for s in spans} == {root["trace_id"]}
    assert all(s["parent"] == root["span_id"] for s in spans if s is not root)
    assert root["resource"]["service.name"] == "liteagent-test" and root["scope"] == "liteagent"
    assert root["attributes"]["liteagent.run.status"] == "ok"
    assert root["attributes"]["gen_ai.provider.name"] == "openai"
    assert root["attributes"]["liteagent.usage.total_tokens"] == 30
    tools = [s for s in spans if s["name"].startswith("execute_tool")]
    assert sorted(s["attributes"]["gen_ai.tool.call.id"] for s in tools) == ["call_0", "call_1"]
    chats = [s for s in spans if s["name"].startswith("chat")]
    assert all(s["attributes"]["gen_ai.usage.input_tokens"] == 10 for s in chats)
    # each model call carried its own chat span's context
    sent = headers_of(server)
    assert len(sent) == 2
    parents = [h["traceparent"].split("-") for h in sent]
    assert all(p[0] == "00" and p[1] == root["trace_id"] for p in parents)
    assert sorted(p[2] for p in parents) == sorted(s["span_id"] for s in chats)


def test_run_without_otel_sends_nothing_and_no_traceparent(cli, server, receiver):
    server.replies = ["Hi."]
    r = cli("run", "hi", "--base-url", server.url, "--model", "scripted-model", env=otel_env(receiver))
    assert r.code == 0, r.err
    assert receiver.posts == 0
    assert all("traceparent" not in h for h in headers_of(server))


def test_run_with_otel_records_a_failed_model_call(cli, server, receiver):
    server.replies = [{"status": 400, "error": "bad request"}]
    r = cli("run", "hi", "--otel", "--base-url", server.url, "--model", "scripted-model", env=otel_env(receiver))
    assert r.code == 1 and r.err.count("\n") == 1
    spans = {s["name"]: s for s in receiver.spans}
    assert set(spans) == {"invoke_agent liteagent", "chat scripted-model"}
    assert spans["chat scripted-model"]["status"] == 2
    assert spans["chat scripted-model"]["attributes"]["error.type"] == "llm_error"
    assert spans["invoke_agent liteagent"]["status"] == 2


def start_service(server, receiver, tmp_path, monkeypatch, schedule_delay_ms: int, *extra: str):
    from ..test_serve import Service

    for k, v in otel_env(receiver).items():
        monkeypatch.setenv(k, v)  # the service's process inherits them
    # how long the batch processor holds spans before it sends them
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", str(schedule_delay_ms))
    return Service(server.url, "--otel", *extra, sessions=str(tmp_path / "s.sqlite3"))


def test_serve_with_otel_continues_the_callers_trace(server, receiver, tmp_path, monkeypatch):
    openai = pytest.importorskip("openai")
    trace_id, parent_id = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
    server.replies = [TWO_CALLS, "Sunny.", "Hi."]
    service = start_service(server, receiver, tmp_path, monkeypatch, schedule_delay_ms=50)
    try:
        client = openai.OpenAI(base_url=service.url, api_key="none", max_retries=0, timeout=30)
        r = client.chat.completions.create(
            model="liteagent",
            messages=[{"role": "user", "content": "Oslo and Bergen?"}],
            extra_headers={"traceparent": f"00-{trace_id}-{parent_id}-01"},
        )
        assert r.choices[0].message.content == "Sunny."
        r = client.chat.completions.create(model="liteagent", messages=[{"role": "user", "content": "x"}])
        assert r.choices[0].message.content == "Hi."
        spans = receiver.wait_for(7, where=lambda s: s["scope"] == "liteagent")  # sent while it runs
    finally:
        service.stop()
    roots = [s for s in spans if s["name"] == "invoke_agent liteagent"]
    assert len(roots) == 2
    (ours,) = [s for s in roots if s["trace_id"] == trace_id]
    assert ours["parent"] == parent_id  # the caller's span is the run's parent
    (other,) = [s for s in roots if s is not ours]
    assert other["trace_id"] != trace_id  # a request without traceparent is a trace of its own
    in_ours = [s for s in spans if s["trace_id"] == trace_id]
    assert sorted(s["name"] for s in in_ours) == [
        "chat scripted-model",
        "chat scripted-model",
        "execute_tool Weather.forecast",
        "execute_tool Weather.forecast",
        "invoke_agent liteagent",
    ]
    assert all(s["parent"] == ours["span_id"] for s in in_ours if s is not ours)
    sent = headers_of(server)
    assert [h["traceparent"].split("-")[1] for h in sent[:2]] == [trace_id, trace_id]
    assert sent[2]["traceparent"].split("-")[1] == other["trace_id"]


def ours_only(spans: list[dict]) -> list[dict]:
    """liteagent's spans (FastAPI makes its own server spans where a tracer provider is set)."""
    return [s for s in spans if s["scope"] == "liteagent"]


def one_answer(service) -> None:
    import openai

    client = openai.OpenAI(base_url=service.url, api_key="none", max_retries=0, timeout=30)
    r = client.chat.completions.create(model="liteagent", messages=[{"role": "user", "content": "hi"}])
    assert r.choices[0].message.content == "Hello."


def stop_with(service, sig: int) -> None:
    service.proc.send_signal(sig)
    try:
        service.proc.wait(timeout=30)
    finally:
        service.stop()


def test_serve_sends_the_spans_it_holds_when_interrupted(server, receiver, tmp_path, monkeypatch):
    pytest.importorskip("openai")
    server.replies = ["Hello."]
    service = start_service(server, receiver, tmp_path, monkeypatch, schedule_delay_ms=600_000)
    one_answer(service)
    assert receiver.spans == []  # held by the batch processor
    stop_with(service, signal.SIGINT)
    assert sorted(s["name"] for s in ours_only(receiver.spans)) == ["chat scripted-model", "invoke_agent liteagent"]


def test_serve_sends_the_spans_it_holds_when_terminated(server, receiver, tmp_path, monkeypatch):
    pytest.importorskip("openai")
    server.replies = ["Hello."]
    service = start_service(server, receiver, tmp_path, monkeypatch, schedule_delay_ms=600_000)
    one_answer(service)
    assert receiver.spans == []  # held by the batch processor
    stop_with(service, signal.SIGTERM)  # how systemd, docker and kubernetes stop a service
    assert sorted(s["name"] for s in ours_only(receiver.spans)) == ["chat scripted-model", "invoke_agent liteagent"]


def test_otel_without_the_exporter_is_one_line(tmp_path):
    # a Python whose OpenTelemetry has no OTLP exporter: the CLI says what to install
    blocker = tmp_path / "sitecustomize.py"
    blocker.write_text(
        "import sys\n"
        "class _Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.startswith('opentelemetry.exporter'):\n"
        "            raise ImportError(name)\n"
        "sys.meta_path.insert(0, _Block())\n"
    )
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    p = subprocess.run(
        [sys.executable, "-m", "liteagent", "run", "x", "--otel", "--base-url", "http://127.0.0.1:9/v1"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert p.returncode == 2, p.stderr
    assert p.stderr.count("\n") == 1 and "liteagent[otel]" in p.stderr


def test_serve_workers_send_the_spans_they_hold_when_terminated(server, receiver, tmp_path, monkeypatch):
    pytest.importorskip("openai")
    server.replies = ["Hello."]
    service = start_service(server, receiver, tmp_path, monkeypatch, 600_000, "--workers", "2")
    one_answer(service)
    stop_with(service, signal.SIGTERM)
    assert sorted(s["name"] for s in ours_only(receiver.spans)) == ["chat scripted-model", "invoke_agent liteagent"]
