"""Building the service from ``liteagent serve``'s flags, also in each uvicorn worker process
(``--workers N``: the flags travel in LITEAGENT_SERVE_ARGV)."""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import sys
from contextlib import suppress
from typing import Any

ARGV_ENV = "LITEAGENT_SERVE_ARGV"
_INTERPRETER_MODULE = "liteagent.actions.builtin.interpreter"


def check_flags(args: argparse.Namespace) -> None:
    """The serve flags that can be wrong on their own, as one-line usage errors."""
    from ..errors import UsageError
    from .guard import host_error, origin_error

    for flag, values, why_not in (
        ("--allowed-host", args.allowed_host, host_error),
        ("--allowed-origin", args.allowed_origin, origin_error),
    ):
        for value in values or []:
            why = why_not(value)
            if why is not None:
                raise UsageError(f"{flag} {value!r}: {why}")


def check_args(args: argparse.Namespace) -> None:
    """Everything ``app_from_args`` would refuse, checked once before worker processes start
    (a worker that refuses would only be restarted)."""
    check_flags(args)
    from ..cli.commands import build_executor

    executor = shared_executor(args, build_executor)
    executor.close()
    for plugin in executor.plugins:
        with suppress(Exception):
            plugin.close()


def app_from_args(args: argparse.Namespace) -> Any:
    from ..agent_config import build_agent
    from ..cli.commands import build_executor
    from ..cli.logs import setup_logging
    from ..llms.local import data_dir
    from .app import create_app
    from .store import store_from_url

    check_flags(args)
    setup_logging()  # errors of runs (the model server's answer, tracebacks) and one line per request
    logging.getLogger("liteagent.serve").setLevel(logging.INFO)
    executor = shared_executor(args, build_executor)
    agent = build_agent(args, executor)
    store = store_from_url(args.sessions, data_dir() / "serve-sessions.sqlite3")
    key = args.server_key or os.environ.get("LITEAGENT_SERVE_KEY") or None
    name = args.served_name or "liteagent"
    return create_app(
        agent, store, model_name=name, api_key=key, max_body_bytes=args.max_body, run_timeout=args.run_timeout,
        bound_host=args.host, allowed_hosts=args.allowed_host or [], allowed_origins=args.allowed_origin or [],
    )  # fmt: skip


def shared_executor(args: argparse.Namespace, build_executor: Any, service: str = "liteagent serve") -> Any:
    """The plugins of a service that many callers share (``service`` names it in the error),
    without a PythonInterpreter: one kernel would serve every caller's
    conversations (state and files shared across users). Judged by the loaded objects, not the
    spelling of ``--plugin``: a module path, a subclass, an entry point, or a plugin file that
    creates one inside its own plugin."""
    from ..errors import UsageError

    before = set(map(id, _interpreters()))
    executor = build_executor(args)
    found = [p for p in executor.plugins if _is_interpreter(p)]
    found += [i for i in _interpreters() if id(i) not in before and all(i is not f for f in found)]
    if not found:
        return executor
    names = sorted({type(i).__name__ for i in found})
    held = [p.name for p in executor.plugins if not _is_interpreter(p) and _holds(p, found)]
    for i in found:
        with suppress(Exception):
            i.close()  # its temporary work folder goes now
    executor.close()
    what = ", ".join(names) + (f" (inside plugin {', '.join(held)})" if held else "")
    kind = "" if names == ["PythonInterpreter"] else " (a PythonInterpreter)"
    raise UsageError(
        f"{service} does not offer PythonInterpreter: {what}{kind} would run one kernel shared by "
        "every caller's conversations; serve without it"
    )


def _interpreter_class() -> type | None:
    module = sys.modules.get(_INTERPRETER_MODULE)  # not imported: no interpreter can exist
    return getattr(module, "PythonInterpreter", None) if module is not None else None


def _is_interpreter(obj: Any) -> bool:
    cls = _interpreter_class()
    return cls is not None and issubclass(type(obj), cls)  # type(), not isinstance: no proxies asked


def _interpreters() -> list[Any]:
    """Every PythonInterpreter (or subclass) alive in this process."""
    cls = _interpreter_class()
    if cls is None:
        return []
    return [o for o in gc.get_objects() if issubclass(type(o), cls)]


def _holds(plugin: Any, found: list[Any]) -> bool:
    values = vars(plugin).values() if hasattr(plugin, "__dict__") else ()
    return any(v is f for v in values for f in found)


def app_from_env() -> Any:
    """uvicorn's factory in worker processes."""
    from ..cli import build_parser

    argv = json.loads(os.environ[ARGV_ENV])
    return app_from_args(build_parser().parse_args(argv))
