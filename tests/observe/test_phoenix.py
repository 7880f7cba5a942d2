"""End to end with a real trace store: Arize Phoenix (from the package index, in its own venv:
`.ci/run` makes `.venv-phoenix`) started on 127.0.0.1, `liteagent run --otel` sending its spans
there over OTLP/HTTP, and the spans read back with Phoenix's own client."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from ..conftest import TESTS

ROOT = Path(__file__).resolve().parents[2]
PHOENIX_PYTHON = Path(os.environ.get("LITEAGENT_PHOENIX_PYTHON") or ROOT / ".venv-phoenix" / "bin" / "python")
WEATHER = TESTS / "data" / "plugins" / "weather.py"
CALL = '<tool_call>{"name": "Weather.forecast", "arguments": {"city": "Oslo"}}</tool_call>'

READ_BACK = """
import json, sys
from phoenix.client import Client
spans = Client(base_url=sys.argv[1]).spans.get_spans(project_identifier=sys.argv[2], limit=100)
print(json.dumps([{"name": s["name"], "trace": s["context"]["trace_id"], "id": s["context"]["span_id"],
                   "parent": s.get("parent_id"), "attributes": s["attributes"],
                   "status": s.get("status_code")} for s in spans]))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def phoenix(tmp_path_factory):
    if not PHOENIX_PYTHON.exists():
        if os.environ.get("LITEAGENT_REQUIRE_PHOENIX"):
            pytest.fail(f"Phoenix is required here and {PHOENIX_PYTHON} is missing (.ci/run makes it)")
        pytest.skip(f"no Phoenix venv at {PHOENIX_PYTHON} (.ci/run makes it)")
    port, grpc = free_port(), free_port()
    env = {
        **os.environ,
        "PHOENIX_WORKING_DIR": str(tmp_path_factory.mktemp("phoenix")),
        "PHOENIX_HOST": "127.0.0.1",
        "PHOENIX_PORT": str(port),
        "PHOENIX_GRPC_PORT": str(grpc),
        "PHOENIX_TELEMETRY_ENABLED": "false",
    }
    proc = subprocess.Popen(
        [str(PHOENIX_PYTHON), "-m", "phoenix.server.main", "serve"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            try:
                urllib.request.urlopen(f"{url}/healthz", timeout=1).read()
                break
            except OSError:
                if proc.poll() is not None:
                    pytest.fail(f"Phoenix did not start: {proc.stderr.read()[-2000:] if proc.stderr else ''}")
                time.sleep(0.5)
        else:
            pytest.fail("Phoenix did not answer /healthz within 120 s")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def spans_in(url: str, project: str, want: int) -> list[dict]:
    spans: list[dict] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # Phoenix writes what it receives in the background
        out = subprocess.run(
            [str(PHOENIX_PYTHON), "-c", READ_BACK, url, project], capture_output=True, text=True, timeout=60
        )
        spans = json.loads(out.stdout) if out.returncode == 0 else []  # 404 until the project's first span
        assert out.returncode == 0 or "404" in out.stderr, out.stderr[-2000:]
        if len(spans) >= want:
            return spans
        time.sleep(0.5)
    return spans


def test_a_run_with_otel_lands_in_phoenix_as_one_trace(phoenix, server):
    server.replies = [CALL, "Sunny in Oslo."]
    env = {
        **os.environ,
        "OTEL_EXPORTER_OTLP_ENDPOINT": phoenix,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_SERVICE_NAME": "liteagent-e2e",
        "OTEL_RESOURCE_ATTRIBUTES": "openinference.project.name=liteagent-e2e",
    }
    run = subprocess.run(
        [sys.executable, "-m", "liteagent", "run", "Weather in Oslo?", "--otel", "--base-url", server.url,
         "--model", "scripted-model", "--protocol", "hermes", "--plugin", f"{WEATHER}:Weather"],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "Sunny in Oslo."
    spans = spans_in(phoenix, "liteagent-e2e", 4)
    by_name = {s["name"]: s for s in spans}
    assert sorted(s["name"] for s in spans) == ["chat scripted-model"] * 2 + [
        "execute_tool Weather.forecast",
        "invoke_agent liteagent",
    ]
    root = by_name["invoke_agent liteagent"]
    assert {s["trace"] for s in spans} == {root["trace"]} and root["parent"] is None
    assert all(s["parent"] == root["id"] for s in spans if s is not root)
    chat = by_name["chat scripted-model"]["attributes"]
    assert chat["gen_ai.operation.name"] == "chat" and chat["gen_ai.usage.input_tokens"] == 10
    assert chat["gen_ai.request.model"] == "scripted-model" and chat["server.address"] == "127.0.0.1"
    tool = by_name["execute_tool Weather.forecast"]["attributes"]
    assert tool["gen_ai.tool.name"] == "Weather.forecast" and tool["gen_ai.tool.call.id"]
    assert (
        root["attributes"]["liteagent.run.status"] == "ok" and root["attributes"]["liteagent.usage.total_tokens"] == 30
    )
    assert "Oslo" not in json.dumps(spans)  # contents are not recorded unless asked for
    # the model server got the chat span's traceparent
    sent = [{k.lower(): v for k, v in r["headers"].items()} for r in server.requests if r["body"]]
    assert len(sent) == 2 and all(h["traceparent"].split("-")[1] == root["trace"] for h in sent)


def otel_env(phoenix: str, project: str) -> dict[str, str]:
    return {
        **os.environ,
        "OTEL_EXPORTER_OTLP_ENDPOINT": phoenix,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_RESOURCE_ATTRIBUTES": f"openinference.project.name={project}",
    }


def test_serve_continues_an_incoming_traceparent(phoenix, server):
    openai = pytest.importorskip("openai")
    server.replies = ["Hello."]
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "liteagent", "serve", "--otel", "--port", str(port), "--base-url", server.url,
         "--model", "scripted-model", "--plugin", "EnvChecker"],
        env=otel_env(phoenix, "liteagent-serve"), stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    trace_id, parent_id = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1).read()
                break
            except OSError:
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else "serve died"
                time.sleep(0.1)
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="none", max_retries=0)
        r = client.chat.completions.create(
            model="liteagent",
            messages=[{"role": "user", "content": "hi"}],
            extra_headers={"traceparent": f"00-{trace_id}-{parent_id}-01"},
        )
        assert r.choices[0].message.content == "Hello."
    finally:
        proc.terminate()  # a clean exit: the batch processor sends what it holds
        proc.wait(timeout=30)
    spans = [s for s in spans_in(phoenix, "liteagent-serve", 2) if s["name"].startswith(("invoke_agent", "chat"))]
    assert len(spans) == 2 and {s["trace"] for s in spans} == {trace_id}  # (other spans: the health checks')
    root = next(s for s in spans if s["name"] == "invoke_agent liteagent")
    assert root["parent"] == parent_id


def test_an_mcp_tool_call_joins_the_agents_trace(phoenix, server, tmp_path):
    env = otel_env(phoenix, "liteagent-mcp")
    cfg = tmp_path / "mcp.json"
    server_env = {k: v for k, v in env.items() if k.startswith("OTEL_")}
    cfg.write_text(
        json.dumps(
            {
                "mcpServers": {
                    "w": {
                        "command": sys.executable,
                        "args": ["-m", "liteagent", "mcp", "serve", "--otel", "--plugin", f"{WEATHER}:Weather"],
                        "env": server_env,
                    }
                }
            }
        )
    )
    server.replies = ['<tool_call>{"name": "w.Weather__forecast", "arguments": {"city": "Oslo"}}</tool_call>', "Sunny."]
    run = subprocess.run(
        [sys.executable, "-m", "liteagent", "run", "Oslo?", "--otel", "--base-url", server.url, "--model",
         "scripted-model", "--protocol", "hermes", "--mcp", str(cfg)],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    spans = spans_in(phoenix, "liteagent-mcp", 5)
    tool = next(s for s in spans if s["name"].startswith("execute_tool"))
    by_id = {s["id"]: s for s in spans}

    def under_tool(s: dict) -> bool:
        while s.get("parent") in by_id:
            s = by_id[s["parent"]]
            if s is tool:
                return True
        return False

    # the MCP server's own span (its SDK's, in the other process) sits under the agent's tool call
    served = [s for s in spans if s["name"] == "tools/call Weather__forecast"]
    assert served and all(s["trace"] == tool["trace"] and under_tool(s) for s in served), [
        (s["name"], s["trace"][:6], s["parent"]) for s in spans
    ]
