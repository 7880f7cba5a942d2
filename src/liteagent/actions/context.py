"""What a running tool may ask of whoever called it: report progress, log, ask the caller's model
(sampling), ask the person (elicitation).

A tool declares a parameter annotated ``ToolContext`` (it is left out of the tool's schema) and
gets one per call. The same tool works wherever it runs: behind ``liteagent mcp serve`` the
context speaks MCP to the client (``notifications/progress`` when the client asked for it,
``notifications/message``, ``sampling/createMessage``, ``elicitation/create``); in liteagent's
own agent progress and logs go to the run's log, sampling to the agent's own model, and a
question for the person to whoever can answer it (declined when nobody can).

Every method has an async form (``await ctx.aelicit(...)``) for async tools and a sync form
(``ctx.elicit(...)``) for sync tools, which run in worker threads when they take a context.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from ..errors import ToolError

log = logging.getLogger("liteagent.tools")

LogLevel = Literal["debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"]
_PY_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "notice": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
    "alert": logging.CRITICAL,
    "emergency": logging.CRITICAL,
}


@dataclass(slots=True)
class Elicited:
    """A person's answer to :meth:`ToolContext.elicit`: ``accept`` (with ``content``, the form's
    values), ``decline`` or ``cancel``."""

    action: Literal["accept", "decline", "cancel"]
    content: dict[str, Any] = field(default_factory=dict)

    @property
    def accepted(self) -> bool:
        return self.action == "accept"


class ToolHost(Protocol):
    """Whoever runs a tool call and answers its context (an MCP client's session, an agent)."""

    async def progress(self, progress: float, total: float | None, message: str | None) -> None: ...

    async def log(self, level: LogLevel, data: Any, logger: str | None) -> None: ...

    async def sample(self, messages: list[dict[str, Any]], max_tokens: int, system: str | None) -> str: ...

    async def elicit(self, message: str, schema: dict[str, Any]) -> Elicited: ...


class LocalHost:
    """The host when nothing else answers: progress and logs into liteagent's log, no model to
    sample, nobody to ask (every question declined). Subclassed by hosts that can do more."""

    def __init__(self, tool: str = "") -> None:
        self.tool = tool

    async def progress(self, progress: float, total: float | None, message: str | None) -> None:
        log.info("progress %s", progress_text(self.tool or "tool", progress, total, message))

    async def log(self, level: LogLevel, data: Any, logger: str | None) -> None:
        log.log(_PY_LEVELS.get(level, logging.INFO), "%s: %s", logger or self.tool or "tool", data)

    async def sample(self, messages: list[dict[str, Any]], max_tokens: int, system: str | None) -> str:
        raise ToolError("no model can be asked here (sampling is not available to this tool call)")

    async def elicit(self, message: str, schema: dict[str, Any]) -> Elicited:
        log.info("%s asked a question nobody here can answer (declined): %s", self.tool or "tool", message)
        return Elicited("decline")


def progress_text(tool: str, progress: float, total: float | None, message: str | None) -> str:
    """A tool's progress as people read it: ``search: 2/5 · reading page 2``."""
    of = f"/{total:g}" if total is not None else ""
    return f"{tool}: {progress:g}{of}" + (f" · {message}" if message else "")


class InputNeeded(Exception):
    """Raised inside a tool whose question waits for a person who answers later (an agent with
    ``ask_person="pause"``: the web chat, ``liteagent serve``): the run stops with the question,
    and a resume with the answer runs the call again from its start, its n-th question answered
    from the answers given so far. A tool that asks should therefore ask before its side effects."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return f"waiting for a person's answer: {self.message}"


#: the host of the calls started in this context (set by an MCP server per request, by an agent per run)
HOST: contextvars.ContextVar[ToolHost | None] = contextvars.ContextVar("liteagent_tool_host", default=None)


GONE = "the run this tool call belonged to has ended; nobody can hear it now"


class ToolContext:
    """Handed to a tool that declares a ``ToolContext`` parameter; see the module's text."""

    __slots__ = ("_loop", "call_id", "host", "tool")

    def __init__(
        self,
        tool: str,
        call_id: str = "",
        host: ToolHost | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self.tool = tool
        self.call_id = call_id
        self.host: ToolHost = host if host is not None else LocalHost(tool)
        self._loop = loop  # the loop the host's coroutines run on (None: a sync caller)

    # -- async ---------------------------------------------------------------------------------
    async def areport_progress(self, progress: float, total: float | None = None, message: str | None = None) -> None:
        """Say how far the call is (``progress`` of ``total``, with an optional message)."""
        await self.host.progress(float(progress), None if total is None else float(total), message)

    async def alog(self, message: Any, level: LogLevel = "info", logger: str | None = None) -> None:
        """A log line for the caller (MCP: ``notifications/message`` at the client's level)."""
        if level not in _PY_LEVELS:
            raise ValueError(f"log level must be one of {', '.join(_PY_LEVELS)}, not {level!r}")
        await self.host.log(level, message, logger)

    async def asample(
        self, prompt: str | list[dict[str, Any]], *, max_tokens: int = 512, system: str | None = None
    ) -> str:
        """The caller's model's reply to ``prompt`` (a text, or messages ``{"role", "content"}``)."""
        messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else list(prompt)
        return await self.host.sample(messages, int(max_tokens), system)

    async def aelicit(self, message: str, schema: dict[str, Any] | None = None) -> Elicited:
        """Ask the person: ``message``, and a form of flat fields (a JSON Schema object of
        strings, numbers, booleans and enums). Declined when nobody can answer."""
        form = schema if schema is not None else {"type": "object", "properties": {}}
        if not isinstance(form, dict) or form.get("type") != "object":
            raise ValueError("an elicitation's schema must be a JSON Schema object ({'type': 'object', ...})")
        answer = await self.host.elicit(message, form)
        if answer.accepted:  # fields the person left out get the form's defaults (SEP-1034)
            answer.content = with_defaults(answer.content, form)
        return answer

    # -- sync ----------------------------------------------------------------------------------
    def report_progress(self, progress: float, total: float | None = None, message: str | None = None) -> None:
        self._wait(lambda: self.areport_progress(progress, total, message), "report_progress")

    def log(self, message: Any, level: LogLevel = "info", logger: str | None = None) -> None:
        self._wait(lambda: self.alog(message, level, logger), "log")

    def sample(self, prompt: str | list[dict[str, Any]], *, max_tokens: int = 512, system: str | None = None) -> str:
        return self._wait(lambda: self.asample(prompt, max_tokens=max_tokens, system=system), "sample")

    def elicit(self, message: str, schema: dict[str, Any] | None = None) -> Elicited:
        return self._wait(lambda: self.aelicit(message, schema), "elicit")

    def _wait(self, make: Callable[[], Awaitable[Any]], what: str) -> Any:
        loop = self._loop
        if loop is not None and loop.is_closed():
            raise ToolError(GONE)  # the call was started on a loop whose run is over
        if loop is None:
            if _running_loop() is None:
                return asyncio.run(_awaited(make))
            # a sync call made on a thread whose loop runs (and waits for it): a thread of its own
            with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="liteagent-ctx") as pool:
                return pool.submit(asyncio.run, _awaited(make)).result()
        if _running_loop() is loop:
            raise RuntimeError(f"an async tool must await ctx.a{what}(...), not call ctx.{what}(...)")
        coro = _awaited(make)
        try:
            future = asyncio.run_coroutine_threadsafe(coro, loop)
        except RuntimeError:  # the loop closed: its run is over
            coro.close()
            raise ToolError(GONE) from None
        while True:  # never waits on a loop that stopped (its run ended while this tool ran)
            try:
                return future.result(timeout=0.25)
            except concurrent.futures.TimeoutError:
                if loop.is_closed() or not loop.is_running():
                    future.cancel()
                    raise ToolError(GONE) from None
            except RuntimeError:
                if loop.is_closed() or not loop.is_running():
                    raise ToolError(GONE) from None
                raise

    def __repr__(self) -> str:
        return f"ToolContext(tool={self.tool!r}, call_id={self.call_id!r})"


async def _awaited(make: Callable[[], Awaitable[Any]]) -> Any:
    return await make()


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def context_for(tool: str, call_id: str, *, in_loop: bool) -> ToolContext:
    """The context of a call starting now: this context's host, bound to the running loop when
    the call was started from async code."""
    loop = _running_loop() if in_loop else None
    return ToolContext(tool, call_id, HOST.get(), loop)


def form_choices(prop: dict[str, Any]) -> list[tuple[Any, str]]:
    """A form field's choices as (value, title): ``enum`` (with the legacy ``enumNames``) or
    ``oneOf``/``anyOf`` of ``const`` (with ``title``); for an array field, pass its ``items``."""
    if isinstance(prop.get("enum"), list):
        given = prop.get("enumNames")
        names: list[Any] = given if isinstance(given, list) else []
        return [(v, str(names[i]) if i < len(names) else str(v)) for i, v in enumerate(prop["enum"])]
    options = prop.get("oneOf") or prop.get("anyOf") or []
    if not isinstance(options, list):
        return []
    return [(o["const"], str(o.get("title", o["const"]))) for o in options if isinstance(o, dict) and "const" in o]


def with_defaults(content: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """The person's answer with each field they left out set to the form's default (SEP-1034)."""
    out = dict(content or {})
    for key, prop in (schema.get("properties") or {}).items():
        if key not in out and isinstance(prop, dict) and "default" in prop:
            out[key] = prop["default"]
    return out


def form_errors(content: dict[str, Any], schema: dict[str, Any]) -> str | None:
    """Why an answer does not fit its form (None when it does)."""
    import jsonschema

    try:
        error = jsonschema.exceptions.best_match(
            jsonschema.validators.validator_for(schema)(schema).iter_errors(content)
        )
    except jsonschema.SchemaError:
        return None
    if error is None:
        return None
    where = ".".join(str(p) for p in error.path) or "answer"
    return f"{where}: {error.message}"


__all__ = [
    "HOST",
    "Elicited",
    "InputNeeded",
    "LocalHost",
    "ToolContext",
    "ToolHost",
    "context_for",
    "form_errors",
    "with_defaults",
]
