"""What the typed-output tests share: output types, scripted calls and request readers."""

from __future__ import annotations

import json
from dataclasses import dataclass

from pydantic import BaseModel
from typing_extensions import TypedDict

from liteagent import (
    tool,
)

from ..scripted_server import ScriptedServer


# -- types and helpers ---------------------------------------------------------------------------
class Person(BaseModel):
    name: str
    age: int


@dataclass
class Point:
    x: int
    y: int


class Movie(TypedDict):
    title: str
    year: int


CITY_SCHEMA = {
    "type": "object",
    "title": "City",
    "properties": {"city": {"type": "string"}, "population": {"type": "integer", "minimum": 0}},
    "required": ["city", "population"],
    "additionalProperties": False,
}


def hermes_call(arguments: object, name: str = "final_answer") -> str:
    """A hermes (qwen) tool call, as the model writes it."""
    return "<tool_call>\n" + json.dumps({"name": name, "arguments": arguments}) + "\n</tool_call>"


def native_call(arguments: object, name: str = "final_answer", call_id: str = "c1") -> dict:
    """One native (openai dialect) tool call for ScriptedReply.tool_calls."""
    return {"id": call_id, "name": name, "arguments": json.dumps(arguments)}


def contents(request) -> str:
    """All message text of one request."""
    return "\n".join(str(m.get("content") or "") for m in request.messages)


def last_content(request) -> str:
    return str(request.messages[-1].get("content") or "")


def tool_names(request) -> list[str]:
    return [t["function"]["name"] for t in request.tools or []]


def make_lookup():
    calls: list[str] = []

    @tool
    def lookup(name: str) -> dict:
        """Look a person up.

        Args:
            name: the person's name
        """
        calls.append(name)
        return {"name": name, "age": 42}

    return lookup, calls


def post_bodies(server: ScriptedServer) -> list[dict]:
    return [r["body"] for r in server.requests if r["body"] is not None]
