"""The agent: configuration (LLM, tools, dialect, prompts, limits) and the loop
render -> generate -> parse -> execute -> record, one small step each.

An Agent holds no conversation, so one agent serves many at once: a conversation lives in a
:class:`~liteagent.sessions.Session` passed as ``session=`` (without one, a call is a
one-question conversation). Async at the core (``astream``/``arun``); ``run``/``stream`` reuse
one event loop per thread, and so the LLM's connections, and work inside Jupyter too.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any

from . import engine, sync_bridge
from .actions.executor import ActionExecutor
from .errors import LiteAgentError, LLMError, UsageError
from .events import (
    ErrorEvent,
    Event,
    FinalAnswer,
)
from .llms.base import LLM, GenerationConfig
from .messages import ActionReturn, Message, ToolCall
from .protocols import Protocol, get_protocol
from .results import RunResult, Step
from .sessions import InMemorySession, Session, SQLiteSession

TOOL_CHOICES = ("auto", "required", "none")


class Agent:
    """An LLM with plugins, speaking one dialect. Configuration only: safe to share between
    concurrent conversations.

    Args:
        llm: the backend (``OpenAICompatibleLLM``, ``ScriptedLLM``, the embedded model…).
        plugins: an :class:`ActionExecutor`, or plugins to build one from.
        protocol: a :class:`Protocol` or its name (``auto`` picks by model name).
        max_turns: model turns per question; reaching it is reported as ``status="max_turns"``.
        max_call_errors: turns in a row whose calls all failed (unreadable, unknown tool, bad
            arguments) before the agent gives up; each failure goes back to the model first.
        tool_choice: ``auto`` (may call), ``required`` (must call on the first turn), ``none``.
        temperature / max_tokens: sampling settings for every model turn.
        system_prompt / plugin_prompt: override the dialect's defaults (ignored when ``protocol``
            is a Protocol instance, which carries its own: passing both is an error).
        constrain_calls: on backends that support it (the embedded model), decode under the
            dialect's grammar: a plain answer or a well-formed call to a real tool.
        context_tokens: the model's context size; the oldest turns are left out of a prompt that
            would not fit. Default: what the backend knows (the embedded model's ``n_ctx``).
    """

    def __init__(
        self,
        llm: LLM,
        plugins: ActionExecutor | Iterable[Any] | None = None,
        protocol: Protocol | str = "auto",
        *,
        max_turns: int = 8,
        max_call_errors: int = 3,
        tool_choice: str = "auto",
        temperature: float | None = None,
        max_tokens: int | None = 1024,
        system_prompt: str | None = None,
        plugin_prompt: str | None = None,
        constrain_calls: bool = True,
        context_tokens: int | None = None,
    ) -> None:
        if max_turns < 1:
            raise UsageError("max_turns must be 1 or more")
        if tool_choice not in TOOL_CHOICES:
            raise UsageError(f"tool_choice must be auto, required or none, not {tool_choice!r}")
        if isinstance(protocol, Protocol) and (system_prompt is not None or plugin_prompt is not None):
            raise UsageError(
                "system_prompt/plugin_prompt go to the Protocol when you pass one: Protocol(system_prompt=…)"
            )
        self.llm = llm
        self.executor = plugins if isinstance(plugins, ActionExecutor) else ActionExecutor(plugins or [])
        self._protocol_arg = protocol
        self._system_prompt, self._plugin_prompt = system_prompt, plugin_prompt
        self._protocol: Protocol | None = protocol if isinstance(protocol, Protocol) else None
        if self._protocol is None and (protocol != "auto" or llm.model):
            self._protocol = get_protocol(str(protocol), llm.model, system_prompt, plugin_prompt)
        self.max_turns = max_turns
        self.max_call_errors = max_call_errors
        self.tool_choice = tool_choice
        self.config = GenerationConfig(temperature=temperature, max_tokens=max_tokens)
        self.constrain_calls = constrain_calls
        self.context_tokens = context_tokens
        self._grammar_cache: tuple[Any, str | None] | None = None

    @property
    def protocol(self) -> Protocol:
        if self._protocol is None:
            self._protocol = get_protocol(
                str(self._protocol_arg), self.llm.model, self._system_prompt, self._plugin_prompt
            )
        return self._protocol

    def grammar(self, protocol: Protocol, tool_choice: str) -> str | None:
        """The dialect's decoding grammar for these tools, built once per tool set."""
        key = (protocol.name, tool_choice, self.executor.uid, self.executor.version)
        if self._grammar_cache is None or self._grammar_cache[0] != key:
            self._grammar_cache = (key, protocol.grammar(self.executor.tool_set(), tool_choice))
        return self._grammar_cache[1]

    async def _ensure_protocol(self) -> Protocol:
        if self._protocol is None:
            await self.llm.resolve_model()  # "auto" needs the served model's name
        return self.protocol

    # -- the loop: engine.question, run by one of two drivers ---------------------------------
    async def astream(self, query: str | Message, session: Session | None = None) -> AsyncIterator[Event]:
        """Answer ``query`` in ``session`` (a new one-question conversation without it), yielding
        events as they happen; the last is FinalAnswer or ErrorEvent, each carrying the result."""
        session = session if session is not None else InMemorySession()
        steps = engine.question(self, query)
        send, throw = steps.send, steps.throw
        value: Any = None
        error: engine.StopRun | None = None
        effects, Generate = engine.EFFECTS, engine.Generate
        while True:
            item: Any
            try:
                item = throw(error) if error is not None else send(value)
            except StopIteration:
                return
            value, error = None, None
            kind = type(item)
            if kind not in effects:  # an event: the common item
                yield item
            elif kind is Generate:
                try:
                    if self.llm.sync_streaming:  # it answers at once: no async generator needed
                        for chunk in self.llm.stream_sync(item.request, self.config):
                            for ev in item.feed(chunk):
                                yield ev
                    else:
                        async for chunk in self.llm.astream(item.request, self.config):
                            for ev in item.feed(chunk):
                                yield ev
                except LLMError as exc:
                    error = engine.StopRun("llm", str(exc))
            else:
                now = self._effect_now(item, session)
                value, error = now if now is not None else await self._effect(item, session)

    def _effect_now(self, item: Any, session: Session) -> tuple[Any, None] | None:
        """The effects that need no await, done at once: an in-memory session's items, a lone
        sync call that would run inline anyway (``ActionExecutor.runs_inline``). None: await
        :meth:`_effect`."""
        kind = type(item)
        if kind is engine.Record:
            if type(session) is InMemorySession:
                session.add_items_now(item.items)
                return None, None
        elif kind is engine.Execute:
            calls = item.calls
            if len(calls) == 1 and self.executor.runs_inline(calls[0].name):
                c = calls[0]
                return [self.executor.execute(c.name, c.arguments, call_id=c.id)], None
        elif kind is engine.Load:
            if type(session) is InMemorySession:
                return session.get_items_now(), None
        elif self._protocol is not None:  # ResolveProtocol, already resolved
            return self._protocol, None
        return None

    async def _effect(self, item: Any, session: Session) -> tuple[Any, engine.StopRun | None]:
        """What the async drivers do for every effect but Generate: (value to send, or error)."""
        kind = type(item)
        if kind is engine.Record:
            await session.add_items(item.items)
        elif kind is engine.Execute:
            return await self._execute(item.calls), None
        elif kind is engine.Load:
            return await session.get_items(), None
        else:  # ResolveProtocol
            try:
                return await self._ensure_protocol(), None
            except LiteAgentError as exc:
                return None, engine.StopRun("llm", str(exc))
        return None, None

    async def _execute(self, calls: list[ToolCall]) -> list[ActionReturn]:
        if len(calls) == 1:  # alone: a sync tool may run right here when nothing else waits
            c = calls[0]
            return [await self.executor.aexecute(c.name, c.arguments, call_id=c.id, alone=True)]
        return list(await asyncio.gather(*(self.executor.aexecute(c.name, c.arguments, call_id=c.id) for c in calls)))

    def _stream_sync(self, query: str | Message, session: Session, events: bool = True) -> Iterator[Event]:
        """The sync driver: no event loop, for parts that all answer at once (see ``_sync_capable``).
        Without ``events`` only the last event comes (``run`` wants the result only)."""
        steps = engine.question(self, query, events)
        send, throw = steps.send, steps.throw
        value: Any = None
        error: engine.StopRun | None = None
        effects, Generate, Record, Execute, Load = (
            engine.EFFECTS,
            engine.Generate,
            engine.Record,
            engine.Execute,
            engine.Load,
        )
        item: Any
        while True:
            try:
                item = throw(error) if error is not None else send(value)
            except StopIteration:
                return
            value, error = None, None
            kind = type(item)
            if kind not in effects:
                yield item
            elif kind is Generate:
                try:
                    if events:
                        for chunk in self.llm.stream_sync(item.request, self.config):
                            yield from item.feed(chunk)
                    else:
                        for chunk in self.llm.stream_sync(item.request, self.config):
                            item.feed(chunk)
                except LLMError as exc:
                    error = engine.StopRun("llm", str(exc))
            elif kind is Record:
                session.add_items_now(item.items)  # type: ignore[attr-defined]
            elif kind is Execute:
                calls = item.calls
                if len(calls) == 1 and not self.executor.is_async(calls[0].name):
                    c = calls[0]
                    value = [self.executor.execute(c.name, c.arguments, call_id=c.id)]
                else:  # async tools, or several calls at once: on this thread's loop
                    value = sync_bridge.thread_loop().run_until_complete(self._execute(calls))
            elif kind is Load:
                value = session.get_items_now()  # type: ignore[attr-defined]
            else:  # ResolveProtocol
                try:
                    value = self.protocol if self._protocol is not None else sync_bridge.run_sync(self._ensure_protocol)
                except LiteAgentError as exc:
                    error = engine.StopRun("llm", str(exc))

    def _sync_capable(self, session: Session | None) -> bool:
        """Can ``run``/``stream`` go without an event loop? The model streams synchronously, the
        session is in-process, and no event loop runs in this thread (Jupyter's would be busy)."""
        if not self.llm.sync_streaming or not (session is None or type(session) in _SYNC_SESSIONS):
            return False
        return asyncio._get_running_loop() is None  # no exception to raise and catch, unlike get_running_loop

    async def arun(self, query: str | Message, session: Session | None = None) -> RunResult:
        """Answer ``query``; the result carries the answer, steps, new messages, timing, usage.
        (The async driver without events: only the result is wanted.)"""
        session = session if session is not None else InMemorySession()
        steps = engine.question(self, query, events=False)
        value: Any = None
        error: engine.StopRun | None = None
        while True:
            item: Any
            try:
                item = steps.throw(error) if error is not None else steps.send(value)
            except StopIteration:
                raise AssertionError("agent stream ended without a final event") from None
            value, error = None, None
            kind = type(item)
            if kind is engine.Generate:
                try:
                    if self.llm.sync_streaming:
                        for chunk in self.llm.stream_sync(item.request, self.config):
                            item.feed(chunk)
                    else:
                        async for chunk in self.llm.astream(item.request, self.config):
                            item.feed(chunk)
                except LLMError as exc:
                    error = engine.StopRun("llm", str(exc))
            elif kind in engine.EFFECTS:
                now = self._effect_now(item, session)
                value, error = now if now is not None else await self._effect(item, session)
            else:  # without events the only one is the last
                assert isinstance(item, (FinalAnswer, ErrorEvent)) and item.result is not None, item
                steps.close()
                return item.result

    # -- sync API -------------------------------------------------------------------------------
    def run(self, query: str | Message, session: Session | None = None) -> RunResult:
        """Sync :meth:`arun`: without an event loop where every part answers at once, else on
        this thread's reused loop (inside a running loop, such as Jupyter's, a background one)."""
        if self._sync_capable(session):
            # without events the only one is the last: FinalAnswer or ErrorEvent
            steps = self._stream_sync(query, session if session is not None else InMemorySession(), events=False)
            last = next(steps, None)
            assert isinstance(last, (FinalAnswer, ErrorEvent)), "agent stream ended without a final event"
            for _ in steps:  # the driver's end (nothing more comes)
                pass
            assert last.result is not None, "the final event carries no result"
            return last.result
        return sync_bridge.run_sync(lambda: self.arun(query, session))

    def stream(self, query: str | Message, session: Session | None = None) -> Iterator[Event]:
        """Sync :meth:`astream`: without an event loop where every part answers at once, else
        in batches from this thread's reused event loop."""
        if self._sync_capable(session):
            return self._stream_sync(query, session if session is not None else InMemorySession())
        return sync_bridge.iterate_sync(lambda: self.astream(query, session))


_SYNC_SESSIONS = (InMemorySession, SQLiteSession)  # answer at once: *_now methods


__all__ = ["Agent", "RunResult", "Step"]
