"""Flags -> AgentConfig: the one place the command line says how its agent is built."""

from __future__ import annotations

import argparse
import dataclasses
import json
from typing import TYPE_CHECKING, Any

from ..agent_config import AgentConfig
from ..errors import UsageError

if TYPE_CHECKING:
    from ..serve.config import ServeConfig

# AgentConfig settings whose flag has another name (argparse's attribute for it)
_ATTR = {"plugins": "plugin", "tool_timeout": "timeout", "approve_tools": "approve_tool"}


def agent_config(args: argparse.Namespace) -> AgentConfig:
    """The AgentConfig the flags say; a setting whose flag this subcommand lacks keeps its default.
    ``--timeout`` bounds both a model call and a tool call."""
    values = {}
    for f in dataclasses.fields(AgentConfig):
        attr = _ATTR.get(f.name, f.name)
        if hasattr(args, attr):
            values[f.name] = getattr(args, attr)
    path = getattr(args, "output_schema_file", None)
    if path is not None:
        values["output_schema"] = schema_file(path)
    return AgentConfig(**values)


def schema_file(path: str) -> dict[str, Any]:
    """The JSON Schema in ``--output-schema FILE`` (one-line errors: missing, not JSON, not an object)."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        raise UsageError(f"--output-schema: {path} not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"--output-schema: {path} cannot be read ({type(exc).__name__})") from None
    except ValueError as exc:
        raise UsageError(f"--output-schema: {path} is not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise UsageError(f"--output-schema: {path} holds a JSON {type(data).__name__}, not a schema object")
    return data


def serve_config(args: argparse.Namespace) -> ServeConfig:
    """``liteagent serve``'s flags as the service's configuration."""
    from ..serve.config import ServeConfig

    return ServeConfig(
        agent_config(args), sessions=args.sessions, server_key=args.server_key,
        served_name=args.served_name or "liteagent", max_body=args.max_body, run_timeout=args.run_timeout,
        host=args.host, allowed_hosts=tuple(args.allowed_host or ()), allowed_origins=tuple(args.allowed_origin or ()),
    )  # fmt: skip
