"""liteagent's client against the reference server `@modelcontextprotocol/server-everything`
(npm, pinned in .ci/mcp-conformance): all 17 tools listed over stdio and HTTP and callable,
sampling answered by the agent's (scripted) model, its 13-field form answered by a person at a
real terminal, progress seen by the run's hooks."""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest

from liteagent import ActionExecutor, Agent, ScriptedLLM
from liteagent.hooks import RunHooks
from liteagent.mcp import MCPServerConfig, MCPToolkit

from ..cli.terminal import Terminal
from .harness import HERE, free_port, harness

EVERYTHING = HERE / "@modelcontextprotocol" / "server-everything" / "dist" / "index.js"
TOOLS = {
    "echo": {"message": "hi"},
    "get-annotated-message": {"messageType": "success", "includeImage": True},
    "get-env": {},
    "get-resource-links": {"count": 2},
    "get-resource-reference": {"resourceType": "Text", "resourceId": 2},
    "get-structured-content": {"location": "Chicago"},
    "get-sum": {"a": 2, "b": 3},
    "get-tiny-image": {},
    "gzip-file-as-resource": {"name": "hello.gz", "data": "data:text/plain;base64,aGVsbG8="},
    "toggle-simulated-logging": {},
    "toggle-subscriber-updates": {},
    "trigger-long-running-operation": {"duration": 1, "steps": 2},
    "get-roots-list": {},
    "trigger-elicitation-request": {},
    "trigger-url-elicitation": {"url": "https://example.com/verify", "elicitationId": "e-1"},
    "trigger-sampling-request": {"prompt": "Say hi"},
    "simulate-research-query": {"topic": "cats"},
}


def _node() -> str:
    node = harness()[0]
    if not EVERYTHING.is_file():
        pytest.skip("server-everything is not installed (npm ci --prefix .ci/mcp-conformance)")
    return node


def _stdio(tmp_path) -> MCPServerConfig:
    return MCPServerConfig("everything", command=_node(), args=(str(EVERYTHING), "stdio"), cwd=str(tmp_path))


@pytest.fixture
def http_everything():
    node = _node()
    port = free_port()
    proc = subprocess.Popen(
        [node, str(EVERYTHING), "streamableHttp"],
        env={**os.environ, "PORT": str(port)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    import socket

    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    yield MCPServerConfig("everything", url=f"http://127.0.0.1:{port}/mcp")
    proc.terminate()
    proc.wait(timeout=10)


class Seen(RunHooks):
    def __init__(self) -> None:
        self.progress: list[tuple] = []

    def tool_progress(self, run, turn, call_id, tool, progress, total, message) -> None:
        self.progress.append((progress, total))


def _results(cfg) -> dict[str, object]:
    kit = MCPToolkit(cfg)
    ex = ActionExecutor([kit])
    try:
        listed = sorted(api.spec.name for api in ex.apis)
        return {"listed": listed, **{name: ex.execute(f"everything.{name}", args) for name, args in TOOLS.items()}}
    finally:
        kit.close()


def _check_all(got: dict[str, object]) -> None:
    assert got["listed"] == sorted(TOOLS)  # all 17 (the SDK's client without callbacks sees 13)
    for name in TOOLS:
        ret = got[name]
        # sampling needs a model (none in a bare executor): a clear error; everything else runs
        if name == "trigger-sampling-request":
            assert not ret.ok and "no model can be asked" in ret.error, ret
        else:
            assert ret.ok, (name, ret)
    assert got["get-sum"].result[0].content == "The sum of 2 and 3 is 5."
    assert any(i.type == "image" for i in got["get-tiny-image"].result)
    assert "decline" in str(got["trigger-elicitation-request"].to_dict())  # nobody to ask: declined
    assert "Research Report: cats" in got["simulate-research-query"].result[0].content  # a task-only tool
    assert got["get-structured-content"].result[-1].type == "json"


def test_all_17_tools_over_stdio(tmp_path):
    got = _results(_stdio(tmp_path))
    _check_all(got)
    roots = got["get-roots-list"].result[0].content
    assert os.getcwd() in roots  # the work folder is the root by default


def test_all_17_tools_over_http(http_everything):
    _check_all(_results(http_everything))


def test_sampling_is_answered_by_the_agents_model_and_progress_reaches_hooks(tmp_path):
    kit = MCPToolkit(_stdio(tmp_path))
    call = '<tool_call>{"name": "everything__%s", "arguments": %s}</tool_call>'
    llm = ScriptedLLM(
        [
            call % ("trigger-sampling-request", '{"prompt": "Say hi"}'),
            "HI FROM THE AGENT'S MODEL",
            call % ("trigger-long-running-operation", '{"duration": 1, "steps": 2}'),
            "finished",
        ]
    )
    hooks = Seen()
    result = Agent(llm, plugins=[kit], protocol="hermes", hooks=[hooks]).run("go")
    kit.close()
    tools = [m.content for m in result.messages if m.role == "tool"]
    assert result.answer == "finished"
    assert "HI FROM THE AGENT'S MODEL" in tools[0]
    assert hooks.progress == [(1, 2), (2, 2)]


def test_a_person_answers_the_servers_form_at_a_real_terminal(tmp_path):
    cfg = tmp_path / "servers.json"
    cfg.write_text(json.dumps({"mcpServers": {"everything": {"command": _node(), "args": [str(EVERYTHING), "stdio"]}}}))
    term = Terminal("call", "everything.trigger-elicitation-request", "--mcp", str(cfg))
    term.expect("Please provide inputs for the following fields:")
    term.expect("[a]nswer / [d]ecline / [c]ancel")
    term.type("a\r")
    term.expect("String (string): ")
    term.type("\r")  # the only required field: asked again
    term.expect("an answer is needed")
    term.type("Ada Lovelace\r")
    term.expect("Boolean (boolean, Enter to leave out): ")
    term.type("maybe\r")
    term.expect("answer yes or no; again")
    term.type("y\r")
    term.expect("default 'It was a dark and stormy night.'")
    term.type("\r")
    for _ in range(3):  # email, uri, date: left out
        term.expect("Enter to leave out): ")
        term.type("\r")
    term.expect("Integer (integer, default 42): ")
    term.type("7\r")
    term.expect("Number in range 1-1000 (number, default 3.14): ")
    term.type("\r")
    term.expect("Untitled Single Select Enum (one of")
    term.type("3\r")  # Joey
    term.expect("Untitled Multiple Select Enum (several of")
    term.type("1, Drums\r")
    term.expect("Titled Single Select Enum (one of")
    term.type("Wonder Woman\r")
    term.expect("Titled Multiple Select Enum (several of")
    term.type("\r")
    term.expect("Legacy Titled Single Select Enum (one of")
    term.type("2\r")
    assert term.wait() == 0
    out = term.out[term.seen :]
    raw = json.loads(out[out.index("{") : out.rindex("}") + 1])
    text = "\n".join(i["content"] for i in raw["result"] if i["type"] == "text")
    for expected in (
        '"name": "Ada Lovelace"',
        '"check": true',
        '"integer": 7',
        '"untitledSingleSelectEnum": "Joey"',
        '"untitledMultipleSelectEnum": [\n      "Guitar",\n      "Drums"\n    ]',
        '"titledSingleSelectEnum": "hero-3"',
        '"legacyTitledEnum": "pet-2"',
        '"number": 3.14',
        '"titledMultipleSelectEnum": [\n      "fish-1"\n    ]',
    ):
        assert expected in text, text
    assert '"email"' not in text


def test_a_localhost_http_server_is_left_cleanly_at_exit(http_everything, tmp_path):
    """The session's DELETE at exit resolves "localhost" in a thread pool: it ran after pools shut
    ("Session termination failed: cannot schedule new futures after shutdown")."""
    url = http_everything.url.replace("127.0.0.1", "localhost")
    cfg = tmp_path / "servers.json"
    cfg.write_text(json.dumps({"mcpServers": {"everything": {"url": url}}}))
    import sys

    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "liteagent",
            "call",
            "everything.echo",
            "--args",
            '{"message": "bye"}',
            "--mcp",
            str(cfg),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0 and "Echo: bye" in run.stdout, run.stderr
    assert "Session termination failed" not in run.stderr and "Traceback" not in run.stderr, run.stderr
