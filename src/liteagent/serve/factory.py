"""Building the service from a ServeConfig, also in each uvicorn worker process (``--workers N``:
the configuration travels as JSON in LITEAGENT_SERVE_CONFIG) and on Ray Serve replicas."""

from __future__ import annotations

import gc
import json
import logging
import os
import sys
from contextlib import suppress
from typing import Any

from ..actions.executor import ActionExecutor
from ..agent_config import AgentConfig
from ..tracing import OTEL_ENV, setup_otlp
from .config import ServeConfig

CONFIG_ENV = "LITEAGENT_SERVE_CONFIG"
_INTERPRETER_MODULE = "liteagent.actions.builtin.interpreter"


def check_service(config: ServeConfig) -> None:
    """Everything ``app_from_config`` would refuse, checked once before worker processes start
    (a worker that refuses would only be restarted)."""
    executor = shared_executor(config.agent)
    executor.close()
    for plugin in executor.plugins:
        close = getattr(plugin, "close", None)  # a plugin with resources of its own (a kernel, a connection)
        if close is not None:
            with suppress(Exception):
                close()


def app_from_config(config: ServeConfig) -> Any:
    """The FastAPI app serving ``config.agent`` with ``config``'s store, key and limits."""
    from ..llms.local import data_dir
    from ..logs import setup_logging
    from .app import create_app
    from .store import store_from_url

    setup_logging()  # errors of runs (the model server's answer, tracebacks) and one line per request
    logging.getLogger("liteagent.serve").setLevel(logging.INFO)
    agent = config.agent.build(shared_executor(config.agent))
    store = store_from_url(config.sessions, data_dir() / "serve-sessions.sqlite3")
    key = config.server_key or os.environ.get("LITEAGENT_SERVE_KEY") or None
    return create_app(
        agent, store, model_name=config.served_name, api_key=key, max_body_bytes=config.max_body,
        run_timeout=config.run_timeout, bound_host=config.host, allowed_hosts=config.allowed_hosts,
        allowed_origins=config.allowed_origins,
    )  # fmt: skip


def app_from_env() -> Any:
    """uvicorn's factory in worker processes."""
    provider = setup_otlp() if os.environ.get(OTEL_ENV) else None  # `serve --otel --workers N`
    app = app_from_config(ServeConfig.from_dict(json.loads(os.environ[CONFIG_ENV])))
    if provider is not None:  # a worker sends the spans it holds when it shuts down (uvicorn stops it by signal)
        app.router.add_event_handler("shutdown", provider.shutdown)
    return app


def shared_executor(config: AgentConfig, service: str = "liteagent serve") -> ActionExecutor:
    """The plugins of a service that many callers share (``service`` names it in the error),
    without a PythonInterpreter: one kernel would serve every caller's
    conversations (state and files shared across users). Judged by the loaded objects, not the
    spelling of the plugin spec: a module path, a subclass, an entry point, or a plugin file that
    creates one inside its own plugin."""
    from ..errors import UsageError

    before = set(map(id, _interpreters()))
    executor = config.build_executor()
    found: list[Any] = [p for p in executor.plugins if _is_interpreter(p)]
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
