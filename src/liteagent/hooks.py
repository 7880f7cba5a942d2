"""What the loop's one driver tells observers as a run goes: the run's start and end, each model
turn (its request; then its usage, finish reason or error), each tool call (its call; then its
result). Tracing (``liteagent.tracing``), the CLI's timeline and your own code are all users of
these hooks: ``Agent(..., hooks=[MyHooks()])``.

Every event carries the run (its id, and what it runs on), the turn number and, for a tool call,
the call's id. A hook runs on the run's own thread or loop, so it must be quick; one that raises
is logged once and never reaches the run.
"""

from __future__ import annotations

import itertools
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .messages import ActionReturn, ToolCall
    from .request import Request
    from .results import RunResult

log = logging.getLogger("liteagent.hooks")

_FAILED: set[tuple[int, str]] = set()
_PREFIX = ""  # "run-{pid}-{start}-": made below, again in a forked child
_IDS = itertools.count(1)


def _new_process() -> None:
    """The run ids' prefix: this process's id and when it began (a forked child makes its own)."""
    global _PREFIX, _IDS
    _PREFIX = f"run-{os.getpid():x}-{time.time_ns() & 0xFFFFFF:06x}-"
    _IDS = itertools.count(1)


_new_process()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_process)


@dataclass(slots=True)
class RunInfo:
    """One run, as hooks see it. ``state``: a place for a hook's own per-run values (by key)."""

    run_id: str
    agent: str
    model: str
    provider: str
    server: str | None = None  # the model server's URL, where there is one
    max_tokens: int | None = None
    temperature: float | None = None
    started: float = field(default_factory=time.perf_counter)
    state: dict[str, Any] = field(default_factory=dict)
    parent: Any = None  # the trace context the run continues (an incoming ``traceparent``)


def new_run_id() -> str:
    """Unique in this process and across processes on one host (pid, the process's start, count)."""
    return f"{_PREFIX}{next(_IDS):x}"


class RunHooks:
    """Override what you need; every method does nothing by default."""

    def run_start(self, run: RunInfo) -> None:
        """Before anything: the question is about to be recorded and the model asked."""

    def run_end(self, run: RunInfo, result: RunResult[Any] | None, status: str) -> None:
        """The run ended: ``status`` is the result's (ok, needs_approval, max_turns, ...), or
        ``cancelled`` when its caller stopped reading it (``result`` is then None)."""

    def model_start(self, run: RunInfo, turn: int, request: Request) -> None:
        """Model turn ``turn`` (1-based) is about to be sent."""

    def model_end(self, run: RunInfo, turn: int, usage: dict[str, int], finish: str | None, error: str | None) -> None:
        """Model turn ``turn`` ended: its own token usage, finish reason, or the error that ended it."""

    def tool_start(self, run: RunInfo, turn: int, call: ToolCall) -> None:
        """A tool call of turn ``turn`` is about to run (calls of one turn may run concurrently)."""

    def tool_progress(
        self,
        run: RunInfo,
        turn: int,
        call_id: str,
        tool: str,
        progress: float,
        total: float | None,
        message: str | None,
    ) -> None:
        """A running tool said how far it is (``ToolContext.report_progress``, an MCP server's
        progress notifications)."""

    def tool_end(self, run: RunInfo, turn: int, call: ToolCall, result: ActionReturn) -> None:
        """The call ended: its result (status, error, time)."""


class Fanout:
    """Several hooks as one, each failure logged once per hook and method, never raised.

    Each event is a method of its own here (``fanout.model_start(run, turn, request)``), bound
    once to the hooks that override it: one hook's is a direct call, and an event nobody
    listens to costs a call that does nothing."""

    __slots__ = ("hooks", "model_end", "model_start", "run_end", "run_start", "tool_end", "tool_progress", "tool_start")

    # (run, ...) as RunHooks' methods take them
    run_start: Callable[..., None]
    run_end: Callable[..., None]
    model_start: Callable[..., None]
    model_end: Callable[..., None]
    tool_start: Callable[..., None]
    tool_progress: Callable[..., None]
    tool_end: Callable[..., None]

    def __init__(self, hooks: list[RunHooks]) -> None:
        self.hooks = hooks
        for method in _EVENTS:
            listeners = [(h, getattr(h, method)) for h in hooks if _listens(h, method)]
            setattr(self, method, _dispatch(method, listeners))

    def call(self, method: str, *args: Any) -> None:
        getattr(self, method)(*args)


def _dispatch(method: str, listeners: list[tuple[RunHooks, Any]]) -> Callable[..., None]:
    """One event's dispatch to its listeners (one listener's with the event's own arguments:
    a call with ``*args`` costs twice as much)."""
    if not listeners:
        return _nothing
    if len(listeners) > 1:

        def each(*args: Any) -> None:
            for h, g in listeners:
                try:
                    g(*args)
                except Exception:
                    _failed(h, method)

        return each
    hook, f = listeners[0]
    arity = _ARITY[method]
    if arity > 5:  # a rare event (a tool's progress): the general form

        def one_n(*args: Any) -> None:
            try:
                f(*args)
            except Exception:
                _failed(hook, method)

        return one_n
    if arity == 1:

        def one1(a: Any) -> None:
            try:
                f(a)
            except Exception:
                _failed(hook, method)

        return one1
    if arity == 3:

        def one3(a: Any, b: Any, c: Any) -> None:
            try:
                f(a, b, c)
            except Exception:
                _failed(hook, method)

        return one3
    if arity == 4:

        def one4(a: Any, b: Any, c: Any, d: Any) -> None:
            try:
                f(a, b, c, d)
            except Exception:
                _failed(hook, method)

        return one4

    def one5(a: Any, b: Any, c: Any, d: Any, e: Any) -> None:
        try:
            f(a, b, c, d, e)
        except Exception:
            _failed(hook, method)

    return one5


def _nothing(*args: Any) -> None:
    pass


def _failed(hook: RunHooks, method: str) -> None:
    """Log a hook's failure (in its ``except``), once per hook object and method, across runs."""
    key = (id(hook), method)
    if key not in _FAILED:
        if len(_FAILED) > 4096:
            _FAILED.clear()
        _FAILED.add(key)
        log.exception("hook %s.%s failed (logged once; the run goes on)", type(hook).__name__, method)


def _listens(hook: Any, method: str) -> bool:
    """The hook does something on this event (not RunHooks' do-nothing method)."""
    bound = getattr(hook, method, None)
    return bound is not None and getattr(bound, "__func__", None) is not getattr(RunHooks, method)


_EVENTS = ("run_start", "run_end", "model_start", "model_end", "tool_start", "tool_progress", "tool_end")
_ARITY = {
    "run_start": 1, "run_end": 3, "model_start": 3, "model_end": 5, "tool_start": 3, "tool_progress": 7, "tool_end": 4,
}  # fmt: skip

#: the GenAI provider name of a backend, by its class's name
_PROVIDERS = {"OpenAICompatibleLLM": "openai", "LocalLLM": "llama_cpp", "ScriptedLLM": "liteagent.scripted"}


def provider_of(llm: Any) -> str:
    """The GenAI provider name for a backend."""
    name = type(llm).__name__
    return _PROVIDERS.get(name, name)


def run_info(agent: Any, parent: Any = None) -> RunInfo:
    llm = agent.llm
    config = agent.config
    return RunInfo(  # by position: a dataclass's keywords cost more
        new_run_id(),
        getattr(agent, "name", None) or "liteagent",
        str(getattr(llm, "model", "") or ""),
        provider_of(llm),
        getattr(llm, "base_url", None),
        config.max_tokens,
        config.temperature,
        time.perf_counter(),
        {},
        parent,
    )


__all__ = ["Fanout", "RunHooks", "RunInfo", "new_run_id", "provider_of", "run_info"]
