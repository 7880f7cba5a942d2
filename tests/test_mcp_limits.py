"""MCP calls within their limits (issue 23, item 12): the tool timeout and the result size."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

pytest.importorskip("mcp")

from mcp import StdioServerParameters

from liteagent import ActionExecutor
from liteagent.mcp import MCPToolkit

DATA = Path(__file__).resolve().parent / "data"
DEMO = DATA / "mcp_demo_server.py"
sys.path.insert(0, str(DATA))
import mcp_demo_server  # noqa: E402


def test_the_tool_timeout_bounds_mcp_calls_too(cli, tmp_path):
    cfg = tmp_path / "mcp.json"
    cfg.write_text(json.dumps({"mcpServers": {"demo": {"command": sys.executable, "args": [str(DEMO)]}}}))
    r = cli("call", "demo.slow", "--args", '{"seconds": 8}', "--mcp", str(cfg), "--timeout", "1")
    out = json.loads(r.out)
    assert r.code == 1 and out["status"] == "timeout", out
    assert "within 1 s" in out["error"]


@pytest.mark.parametrize("transport", ["stdio", "in-process"])
def test_an_mcp_result_past_its_size_limit_is_its_own_error(transport):
    # 40 MB of text against an 8 MB limit: an error result that says so (over stdio the line is
    # dropped as it arrives), not a timeout; the connection stays usable.
    target = StdioServerParameters(command=sys.executable, args=[str(DEMO)]) if transport == "stdio" else None
    tk = MCPToolkit(target or mcp_demo_server.server, name="demo", call_timeout=30, max_result_bytes=8 * 2**20)
    try:
        ex = ActionExecutor([tk])
        r = ex.execute("demo.big", {"megabytes": 40})
        assert r.status.value == "api_error", (r.status, r.error)
        assert "more than 8 MB" in (r.error or "") and "max_result_bytes" in (r.error or "")
        ok = ex.execute("demo.big", {"megabytes": 1})
        assert ok.ok and len(ok.result[0].content) == 2**20
    finally:
        tk.close()


# -- connecting (issue 25, item 5): each server on its own, a limit you can set, a refused key said -----
MUTE = "import time; time.sleep(600)"  # a server that never answers the handshake


def _servers(tmp_path, **entries) -> Path:
    cfg = tmp_path / "servers.json"
    cfg.write_text(json.dumps({"mcpServers": entries}))
    return cfg


def test_a_server_that_does_not_connect_leaves_out_only_its_own_tools(cli, tmp_path):
    cfg = _servers(
        tmp_path,
        demo={"command": sys.executable, "args": [str(DEMO)]},
        mute={"command": sys.executable, "args": ["-c", MUTE], "connect_timeout": 2},
    )
    r = cli("call", "demo.echo", "--args", '{"text": "hi"}', "--mcp", str(cfg))
    out = json.loads(r.out)
    assert r.code == 0 and out["status"] == "success", (r.err, out)
    assert "MCP server mute: no answer within 2 s of connecting; its tools are left out" in r.err
    assert "Traceback" not in r.err
    # the flag sets the limit of every server whose entry names none
    cfg = _servers(
        tmp_path,
        demo={"command": sys.executable, "args": [str(DEMO)]},
        mute={"command": sys.executable, "args": ["-c", MUTE]},
    )
    # (5 s: a Python server's own start, under a loaded machine, takes over 1 s)
    r = cli("tools", "--mcp", str(cfg), "--mcp-connect-timeout", "5", "--format", "openai")
    assert r.code == 0 and "demo__echo" in r.out and "no answer within 5 s" in r.err


def test_when_no_server_connects_it_is_the_error(cli, tmp_path):
    cfg = _servers(tmp_path, mute={"command": sys.executable, "args": ["-c", MUTE]})
    r = cli("tools", "--mcp", str(cfg), "--mcp-connect-timeout", "1")
    assert r.code != 0 and "MCP server mute: no answer within 1 s" in r.err and "Traceback" not in r.err
    bad = _servers(tmp_path, x={"command": "x", "connect_timeout": "soon"})
    r = cli("tools", "--mcp", str(bad))
    assert r.code == 2 and "connect_timeout must be a number of seconds" in r.err


RENDEZVOUS = """
import os, runpy, sys, time
folder, demo = sys.argv[1], sys.argv[2]
open(os.path.join(folder, f"started-{os.getpid()}"), "w").close()
for _ in range(400):  # answers only once all three were started: connected one after another, none would
    if len(os.listdir(folder)) >= 3:
        sys.argv = [demo]
        runpy.run_path(demo, run_name="__main__")
        break
    time.sleep(0.05)
time.sleep(600)
"""


def test_servers_connect_at_once_each_within_its_own_limit(tmp_path):
    from liteagent.agent_config import mcp_toolkits

    meet = tmp_path / "meet"
    meet.mkdir()
    script = tmp_path / "rendezvous.py"
    script.write_text(RENDEZVOUS)
    entry = {"command": sys.executable, "args": [str(script), str(meet), str(DEMO)]}
    mute = {"command": sys.executable, "args": ["-c", MUTE], "connect_timeout": 2}  # its own limit wins
    cfg = _servers(tmp_path, a=entry, b=entry, c=entry, mute=mute)
    kits = mcp_toolkits([str(cfg)], connect_timeout=40)
    try:
        assert sorted(k.name for k in kits) == ["a", "b", "c"]  # the silent one left out, the others whole
        assert len(list(meet.iterdir())) == 3
    finally:
        for k in kits:
            k.close()


def test_a_wrong_or_missing_key_is_said_at_once(tmp_path):
    import socket
    import subprocess
    import time

    from liteagent import ToolError

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "liteagent", "mcp", "serve", "--transport", "http", "--port", str(port),
         "--plugin", "EnvChecker", "--server-key", "k3y"],
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        for _ in range(200):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        url = f"http://127.0.0.1:{port}/mcp"
        from liteagent.mcp import MCPServerConfig

        for headers, said in (
            ({"Authorization": "Bearer wrong"}, 'the key in its "headers" is wrong'),
            ({}, 'it needs a key: add "headers": {"Authorization": "Bearer KEY"}'),
        ):
            kit = MCPToolkit(MCPServerConfig("w", url=url, headers=headers), connect_timeout=120)
            with pytest.raises(ToolError) as err:  # at once: not "no answer within 120 s" at the limit
                kit.api_specs()
            kit.close()
            assert "MCP server w: the server refused the request (HTTP 401)" in str(err.value)
            assert said in str(err.value)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
