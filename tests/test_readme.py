"""The README's Python snippets run, in order, in one namespace, so the README cannot drift.
The model server they name (127.0.0.1:23333, lmdeploy's port) is the scripted one here."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from scripted_server import ScriptedServer

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def test_readme_has_python_snippets():
    assert len(BLOCKS) >= 3


def _start_service(upstream_port: int, tmp_path) -> subprocess.Popen:
    """`liteagent serve` on the README's port 8000, with the README's key, before its client snippet."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "liteagent", "serve", "--port", "8000", "--server-key", "KEY", "--base-url",
         f"http://127.0.0.1:{upstream_port}/v1", "--plugin", "EnvChecker", "--sessions", str(tmp_path / "s.sqlite3")],
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    for _ in range(200):
        try:
            urllib.request.urlopen("http://127.0.0.1:8000/health", timeout=1).read()
            return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("liteagent serve did not start")


@pytest.mark.skipif(
    not (_port_free(23333) and _port_free(8000)), reason="something already listens on 127.0.0.1:23333 or :8000"
)
def test_readme_python_snippets_run(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(ROOT))  # `from examples.weather import Weather`, as from the repository's folder
    call = '<tool_call>{"name": "Weather.forecast", "arguments": {"city": "Shanghai", "days": 2}}</tool_call>'
    # the typed answer: a village first (the README's validator sends it back), then Tokyo
    final = '<tool_call>{{"name": "final_answer", "arguments": {}}}</tool_call>'.format
    typed = [
        final('{"name": "Hamlet", "country": "Japan", "population_millions": 0.001}'),
        final('{"name": "Tokyo", "country": "Japan", "population_millions": 37.4}'),
    ]
    server = ScriptedServer(
        replies=[call, "Sunny for two days.", call, "Sunny.", "Cloudy tomorrow.", *typed, "No GPU here."], port=23333
    ).start()
    service = None
    try:
        namespace: dict = {"__name__": "readme"}
        for block in BLOCKS:
            if "127.0.0.1:8000" in block and service is None:
                service = _start_service(23333, tmp_path)
            exec(compile(block, str(README), "exec"), namespace)
    finally:
        if service is not None:
            service.terminate()
            service.wait(timeout=10)
        server.stop()
    out = capsys.readouterr().out
    assert "Sunny for two days." in out and "final" in out and "No GPU here." in out
    assert "needs_approval" in out and "Done: /etc/motd is gone." in out  # decided in a second process
    assert "ok name='Tokyo' country='Japan' population_millions=37.4" in out  # typed, after the validator's retry
    retry = [r["body"] for r in server.requests if r["body"] and "Hamlet" in str(r["body"])][-1]
    assert "a million people or more" in str(retry["messages"][-1])
    assert type(namespace["person"]).__name__ == "Person"  # the embedded model's answer fits the schema
    # the lasting conversation really lasted: the second question saw the first
    last = [r["body"] for r in server.requests if r["body"] and "Shanghai" in str(r["body"])][-1]
    users = [m["content"] for m in last["messages"] if m["role"] == "user" and "<tool_response>" not in m["content"]]
    assert users == ["Weather in Shanghai?", "And tomorrow?"]
    assert (tmp_path / "conversations.sqlite3").exists()


@pytest.mark.skipif(
    not (_port_free(23333) and _port_free(8000)), reason="something already listens on 127.0.0.1:23333 or :8000"
)
@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_each_snippet_runs_alone_without_any_server(index, tmp_path):
    """Copied alone into a fresh interpreter in the repository's folder, with no model server and
    no service: each snippet ends normally, a missing server said in one line, never a traceback."""
    work = tmp_path / "repo"
    shutil.copytree(ROOT / "examples", work / "examples")  # the files the README names, as a clone has them
    out = subprocess.run([sys.executable, "-c", BLOCKS[index]], cwd=work, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr[-2000:]
    if "127.0.0.1:23333" in BLOCKS[index] and ".run(" in BLOCKS[index]:  # it asks the model
        assert "cannot reach" in out.stdout, out.stdout
    if "127.0.0.1:8000" in BLOCKS[index]:
        assert "not running" in out.stdout, out.stdout


def test_every_file_the_readme_names_is_in_the_repository():
    text = README.read_text(encoding="utf-8")
    named = set(re.findall(r"(?<![\w/.])((?:examples|tests/data|bench|docs)/[\w./-]+\.\w+)", text))
    named |= set(re.findall(r"(?<![\w/.])((?:examples|tests/data)/[\w-]+)(?=[\s`])", text))
    assert "examples/weather.py" in named and "examples/questions.jsonl" in named
    missing = sorted(p for p in named if not (ROOT / p.split(":")[0]).exists())
    assert not missing, missing
    assert "../shared" not in text
    block = BLOCKS[0]
    assert (ROOT / "examples" / "weather.py").read_text(encoding="utf-8").endswith(block)
