"""The tools and scripted calls the observe tests share."""

from __future__ import annotations

import asyncio
import json

from liteagent import tool


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
