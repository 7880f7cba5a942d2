"""`liteagent mcp serve` against the official MCP conformance suite (every server scenario of the
pinned release, pending ones included), serving tests/mcp_suite/conformance_plugins.py: plain
liteagent plugins named as the suite expects."""

from __future__ import annotations

import json
import re
import subprocess

from .harness import free_port, harness, start_server


def _scenarios(cmd: list[str]) -> list[str]:
    out = subprocess.run([*cmd, "list"], capture_output=True, text=True, timeout=120, check=True).stdout
    server_part = out.split("Client scenarios")[0]
    return re.findall(r"^\s+- ([a-z0-9-]+)", server_part, flags=re.M)


def test_every_server_scenario_of_the_suite_passes(tmp_path):
    cmd = harness()
    expected = _scenarios(cmd)
    assert len(expected) >= 30, expected  # the release lists 32 server scenarios
    port = free_port()
    server = start_server(port)
    try:
        run = subprocess.run(
            [*cmd, "server", "--url", f"http://127.0.0.1:{port}/mcp", "--suite", "all", "-o", str(tmp_path)],
            capture_output=True,
            text=True,
            timeout=600,
        )
    finally:
        server.terminate()
        server.wait(timeout=30)
    results: dict[str, list[dict]] = {}
    for checks in tmp_path.glob("server-*/checks.json"):
        name = re.sub(r"^server-|-\d{4}-\d\d-\d\dT.*$", "", checks.parent.name)
        results[name] = json.loads(checks.read_text())
    assert sorted(results) == sorted(expected), run.stdout[-3000:]
    failed = {
        name: [c.get("errorMessage") for c in checks if c["status"] == "FAILURE"]
        for name, checks in results.items()
        if any(c["status"] == "FAILURE" for c in checks)
    }
    assert not failed, failed
    assert run.returncode == 0, run.stdout[-3000:]
    assert "Total:" in run.stdout and " 0 failed" in run.stdout.split("Total:")[-1]
