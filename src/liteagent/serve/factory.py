"""Building the service from ``liteagent serve``'s flags, also in each uvicorn worker process
(``--workers N``: the flags travel in LITEAGENT_SERVE_ARGV)."""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

ARGV_ENV = "LITEAGENT_SERVE_ARGV"


def app_from_args(args: argparse.Namespace) -> Any:
    from ..agent_config import build_agent
    from ..cli.commands import build_executor
    from ..errors import UsageError
    from ..llms.local import data_dir
    from .app import create_app
    from .store import store_from_url

    if "PythonInterpreter" in (args.plugin or []):
        # one kernel would serve every caller's conversations: state and files shared across users
        raise UsageError(
            "liteagent serve does not offer PythonInterpreter: its kernel is per conversation, not per service"
        )
    executor = build_executor(args)
    agent = build_agent(args, executor)
    store = store_from_url(args.sessions, data_dir() / "serve-sessions.sqlite3")
    key = args.server_key or os.environ.get("LITEAGENT_SERVE_KEY") or None
    name = args.served_name or "liteagent"
    return create_app(
        agent, store, model_name=name, api_key=key, max_body_bytes=args.max_body, run_timeout=args.run_timeout
    )


def app_from_env() -> Any:
    """uvicorn's factory in worker processes."""
    from ..cli import build_parser

    argv = json.loads(os.environ[ARGV_ENV])
    return app_from_args(build_parser().parse_args(argv))
