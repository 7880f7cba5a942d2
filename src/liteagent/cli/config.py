"""Flags -> AgentConfig: the one place the command line says how its agent is built."""

from __future__ import annotations

import argparse
import dataclasses
from typing import TYPE_CHECKING

from ..agent_config import AgentConfig

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
    return AgentConfig(**values)


def serve_config(args: argparse.Namespace) -> ServeConfig:
    """``liteagent serve``'s flags as the service's configuration."""
    from ..serve.config import ServeConfig

    return ServeConfig(
        agent_config(args), sessions=args.sessions, server_key=args.server_key,
        served_name=args.served_name or "liteagent", max_body=args.max_body, run_timeout=args.run_timeout,
        host=args.host, allowed_hosts=tuple(args.allowed_host or ()), allowed_origins=tuple(args.allowed_origin or ()),
    )  # fmt: skip
