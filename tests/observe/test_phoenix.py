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
    for _ in range(60):  # Phoenix writes what it receives in the background
        out = subprocess.run(
            [str(PHOENIX_PYTHON), "-c", READ_BACK, url, project], capture_output=True, text=True, timeout=60
        )
        assert out.returncode == 0, out.stderr[-2000:]
        spans = json.loads(out.stdout)
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
