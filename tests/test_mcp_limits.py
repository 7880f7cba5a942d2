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
