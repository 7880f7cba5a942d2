"""The tools and scripted calls the observe tests share."""

from __future__ import annotations

import asyncio
import json

from liteagent import tool

from ..conftest import TESTS

WEATHER = TESTS / "data" / "plugins" / "weather.py"


@tool
def add(a: int, b: int) -> int:
    """Add two numbers.

    Args:
        a: the first
        b: the second
    """
    return a + b


@tool
def fail(reason: str) -> str:
    """Always fails.

    Args:
        reason: why
    """
    raise RuntimeError(f"broken: {reason}")


@tool
async def wait() -> str:
    """Waits for a long time."""
    await asyncio.sleep(3600)
    return "waited"


def call(name: str, args: dict) -> str:
    """A hermes-dialect call, as the model writes it."""
    return "<tool_call>\n" + json.dumps({"name": name, "arguments": args}) + "\n</tool_call>"


TWO = call("add", {"a": 1, "b": 2}) + "\n" + call("add", {"a": 3, "b": 4})  # two parallel calls


def cli_flags(server) -> list[str]:
    """``liteagent run`` against the scripted server, hermes dialect, the weather plugin."""
    return ["--base-url", server.url, "--model", "scripted-model", "--protocol", "hermes",
            "--plugin", f"{WEATHER}:Weather"]  # fmt: skip
