from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from scripted_server import ScriptedServer

TESTS = Path(__file__).parent
FIXTURES = TESTS / "fixtures"

# Tests talk only to 127.0.0.1: a built-in plugin that a model decides to call (ArxivSearch in the
# default set) must never reach the internet. Port 9 (discard) on loopback refuses at once.
os.environ["LITEAGENT_ARXIV_URL"] = "http://127.0.0.1:9/api/query"
os.environ.pop("LITEAGENT_IMAGE_URL", None)


@dataclass
class CliResult:
    code: int
    out: str
    err: str


def run_cli(*args: str, stdin: str | None = None, env: dict[str, str] | None = None, timeout: float = 60) -> CliResult:
    """Run the real ``liteagent`` command in a subprocess."""
    full_env = {**os.environ, "PYTHONIOENCODING": "utf-8", **(env or {})}
    full_env.pop("LITEAGENT_DEBUG", None)
    p = subprocess.run(
        [sys.executable, "-m", "liteagent", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        cwd=TESTS.parent,
    )
    return CliResult(p.returncode, p.stdout, p.stderr)


@pytest.fixture
def cli():
    return run_cli


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    s = ScriptedServer().start()
    yield s
    s.stop()


@pytest.fixture
def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
