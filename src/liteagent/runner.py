"""The one driver of the loop: it runs ``engine.question`` for ``run``, ``stream``, ``arun`` and
``astream`` alike, doing each effect the engine asks for (load and record session items, stream a
model turn, run tool calls, resolve the dialect).

Written once, as a plain generator: what needs no waiting is done at once (an in-process
session, a sync-streaming model, a tool that runs inline), and what must be awaited comes out as
:class:`Await`, for the caller to resolve and send back. Two small adapters below differ only in
how they resolve it: without a loop (the sync API where every part answers at once) it is resolved
right where it comes up, on this thread's event loop (``resolve``); on a loop :func:`aiterate`
awaits it. A new kind of effect is one more branch here, for every API.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator
from typing import TYPE_CHECKING, Any
from typing import Protocol as Interface

from . import controls, engine, resumption, tracing
from .actions.context import HOST
from .agent_host import host_for
from .errors import LiteAgentError, LLMError
from .events import ApprovalRequired, ErrorEvent, FinalAnswer
from .hooks import Fanout, RunInfo, run_info
from .sessions import InMemorySession, SQLiteSession

if TYPE_CHECKING:
    from .approval import Decisions
    from .events import Event
    from .messages import ActionReturn, Message, ToolCall
    from .protocols import Protocol
    from .results import RunResult
    from .sessions import Session


class Driven(engine.Settings, Interface):
    """What the driver reads of its agent beyond the loop's settings (an Agent: this module sits
    below it)."""

    async def _ensure_protocol(self) -> Protocol: ...

    def _hooks(self) -> Fanout | None: ...


_LAST = (FinalAnswer, ErrorEvent, ApprovalRequired)  # the events that end a run


class Await:
    """An awaitable the driver needs resolved; send back its value (or throw its exception)."""

    __slots__ = ("aw",)

    def __init__(self, aw: Awaitable[Any]) -> None:
        self.aw = aw


NOW_SYNC = (InMemorySession, SQLiteSession)  # sessions with *_now methods, for a driver without a loop
NOW_ASYNC = (InMemorySession,)  # on a loop, SQLite's writes go to a thread (its add_items)


class Drive:
    """One question driven to its end. ``on_loop``: an event loop runs here (the async APIs, or
    the sync ones over a model that streams asynchronously); without one, a lone sync tool runs
    right on the caller's thread and SQLite is written at once."""

    __slots__ = ("agent", "events", "hooks", "info", "on_loop", "open_stream", "parent", "resolve", "session", "turn")

    def __init__(
        self, agent: Driven, session: Session, events: bool, resolve: Callable[[Awaitable[Any]], Any] | None = None
    ) -> None:
        self.agent, self.session, self.events = agent, session, events
        self.resolve = resolve  # without a loop: how an awaitable is resolved right here
        self.on_loop = resolve is None
        self.open_stream: Any = None  # a model stream left mid-way, for the async adapter to close
        self.hooks = agent._hooks()  # None: nobody observes (the common case costs one test per effect)
        self.parent = tracing.PARENT.get() if self.hooks is not None else None  # the trace it continues
        self.info: RunInfo | None = None
        self.turn = 0

    def steps(self, query: str | Message) -> Generator[Event | Await, Any, None]:
        """Events (the engine's: all, or without ``events`` only the last) and Awaits."""
        return self.run(engine.question(self.agent, query, self.events))

    def resume_steps(self, decisions: Decisions) -> Generator[Event | Await, Any, None]:
        """:meth:`steps` going on from the session's last run (``resumption.resume``)."""
        return self.run(resumption.resume(self.agent, decisions, self.events))

    def run(self, loop: engine.Steps) -> Generator[Event | Await, Any, None]:
        """Drive any of the engine's loops (``question``, ``recorded_turn``)."""
        agent, session, events = self.agent, self.session, self.events
        llm, executor, config = agent.llm, agent.executor, agent.config
        now = type(session) in (NOW_ASYNC if self.on_loop else NOW_SYNC)
        on_loop = self.on_loop
        sync_streaming = llm.sync_streaming  # it answers at once: no awaiting
        effects, Generate, Record, Execute, Load = (
            engine.EFFECTS, engine.Generate, engine.Record, engine.Execute, engine.Load,
        )  # fmt: skip
        send, throw = loop.send, loop.throw
        value: Any = None
        error: engine.StopRun | None = None
        length = 0  # the session's items as this run last read or wrote them
        hooks = self.hooks
        ended = hooks is None
        if hooks is not None:
            self.info = run_info(agent, self.parent)
            hooks.run_start(self.info)
        try:
            while True:
                try:
                    item: Any = throw(error) if error is not None else send(value)
                except StopIteration:
                    return
                value, error = None, None
                kind = type(item)
                if kind not in effects:  # an event: the common item
                    if hooks is not None and not ended and kind in _LAST:
                        ended = True
                        result = item.result
                        hooks.run_end(self.info, result, result.status if result is not None else "error")
                    yield item
                elif kind is Generate:
                    if item.record is not None:
                        if now:
                            wrote = session.add_items_at_now(item.record, length)  # type: ignore[attr-defined]
                        else:
                            wrote = yield from self._append(item.record, length)
                        if not wrote:  # nothing is asked
                            error = engine.StopRun("conflict", engine.CONFLICT)
                            continue
                        length += len(item.record)
                    before = self._turn_starts(item) if hooks is not None else None
                    try:
                        if sync_streaming:
                            if events:
                                for chunk in llm.stream_sync(item.request, config):
                                    yield from item.feed(chunk)
                            else:
                                for chunk in llm.stream_sync(item.request, config):
                                    item.feed(chunk)
                        else:
                            yield from self._stream(item)
                    except LLMError as exc:
                        error = engine.StopRun("llm", str(exc))
                    if before is not None:
                        self._turn_ends(item, before, error)
                elif kind is Record:  # appended only where the session is as this run left it
                    items = item.items
                    if now:
                        wrote = session.add_items_at_now(items, length)  # type: ignore[attr-defined]
                    else:
                        wrote = yield from self._append(items, length)
                    if wrote:
                        length += len(items)
                    else:
                        error = engine.StopRun("conflict", engine.CONFLICT)
                elif kind is Execute:  # the reply first, then each call's result as it ends
                    calls, said = item.calls, item.said
                    if said is not None:
                        if now:
                            wrote = session.add_items_at_now([said], length)  # type: ignore[attr-defined]
                        else:
                            wrote = yield from self._append([said], length)
                        if not wrote:  # nothing runs
                            error = engine.StopRun("conflict", engine.CONFLICT)
                            continue
                        length += 1
                    # alone: on a loop, if it runs inline (quick, or nothing else waits); without
                    # one, any sync tool, right on the caller's thread
                    if len(calls) == 1 and (
                        executor.runs_inline(calls[0].name) if on_loop else not executor.is_async(calls[0].name)
                    ):
                        c = calls[0]
                        if hooks is not None:
                            hooks.tool_start(self.info, self.turn, c)
                        asked = False
                        if executor.contextual:  # its ToolContext asks this agent (agent_host.py)
                            token, host = host_for(agent, self, c.id, c.name, item.answers.get(c.id))
                            try:
                                ret = executor.execute(c.name, c.arguments, c.id)
                            finally:
                                HOST.reset(token)
                            if host.question is not None:  # it waits for a person's answer
                                ret, asked = host.waiting(ret), True
                        else:
                            ret = executor.execute(c.name, c.arguments, c.id)
                        if hooks is not None:
                            hooks.tool_end(self.info, self.turn, c, ret)
                        msg = controls.question_item(c, ret) if asked else engine.tool_message(executor, c, ret)
                        if now:
                            wrote = session.add_items_at_now([msg], length)  # type: ignore[attr-defined]
                        else:
                            wrote = yield from self._append([msg], length)
                        if wrote:
                            length += 1
                            if not asked:
                                item.recorded = {c.id: msg}
                            value = [ret]
                        else:
                            error = engine.StopRun("conflict", engine.CONFLICT)
                    else:  # several at once
                        value, wrote = yield from self._wait(self._execute_recorded(item, length, now))
                        length += wrote
                        if wrote < len(calls):
                            error = engine.StopRun("conflict", engine.CONFLICT)
                elif kind is Load:
                    value = session.get_items_now() if now else (yield from self._wait(session.get_items()))  # type: ignore[attr-defined]
                    length = len(value)
                elif agent._protocol is not None:  # ResolveProtocol, already resolved
                    value = agent._protocol
                else:
                    try:
                        value = yield from self._wait(agent._ensure_protocol())
                    except LiteAgentError as exc:
                        error = engine.StopRun("llm", str(exc))
        finally:
            loop.close()
            if not ended:  # the caller stopped reading (or the run raised): the hooks hear of it
                hooks.run_end(self.info, None, "cancelled")  # type: ignore[union-attr]

    def _turn_starts(self, item: engine.Generate) -> dict[str, int]:
        """Tell the hooks a model turn starts; the usage so far (to give the turn's own)."""
        info = self.info
        assert info is not None and self.hooks is not None
        self.turn += 1
        if not info.model:  # "auto": the server's model, known by now
            info.model = self.agent.llm.model
        self.hooks.model_start(info, self.turn, item.request)
        return item.usage.copy()

    def _turn_ends(self, item: engine.Generate, before: dict[str, int], error: engine.StopRun | None) -> None:
        """Tell the hooks the model turn ended: its own usage, its finish reason or error."""
        assert self.hooks is not None
        usage = item.usage
        used = {k: v - before.get(k, 0) for k, v in usage.items() if v != before.get(k, 0)} if usage else {}
        failed = error.message if error is not None else None
        self.hooks.model_end(self.info, self.turn, used, item.finish, failed)

    async def _execute_recorded(self, item: engine.Execute, length: int, now: bool) -> tuple[list[ActionReturn], int]:
        """Run the calls concurrently, appending each result to the session as it ends (one at a
        time, each at the length the last left); returns the results in call order and how many
        were written (fewer than the calls: the session changed under this run)."""
        session, executor = self.session, self.agent.executor
        lock = asyncio.Lock()
        written: dict[str, Message] = {}  # results, by call id
        count = 0  # items written (a question's record too)
        refused = False
        answers = item.answers

        hooks, info, turn = self.hooks, self.info, self.turn

        async def one(call: ToolCall) -> ActionReturn:
            nonlocal refused, count
            if hooks is not None:
                hooks.tool_start(info, turn, call)
            host = None
            if executor.contextual:  # this task's own context: the host is this call's alone
                _, host = host_for(self.agent, self, call.id, call.name, answers.get(call.id))
            ret = await executor.aexecute(call.name, call.arguments, call_id=call.id)
            asked = host is not None and host.question is not None
            if asked:  # it waits for a person's answer
                ret = host.waiting(ret)  # type: ignore[union-attr]
            if hooks is not None:
                hooks.tool_end(info, turn, call, ret)
            msg = [controls.question_item(call, ret) if asked else engine.tool_message(executor, call, ret)]
            async with lock:
                if refused:
                    return ret
                at = length + count
                if now:
                    ok = session.add_items_at_now(msg, at)  # type: ignore[attr-defined]
                elif hasattr(session, "add_items_at"):
                    ok = await session.add_items_at(msg, at)  # type: ignore[attr-defined]
                else:
                    await session.add_items(msg)
                    ok = True
                if ok:
                    count += 1
                    if not asked:
                        written[call.id] = msg[0]
                else:
                    refused = True
            return ret

        results = list(await asyncio.gather(*(one(c) for c in item.calls)))
        item.recorded = written
        return results, count

    def _append(self, items: list[Message], length: int) -> Generator[Any, Any, bool]:
        """Append ``items`` where the session has ``length`` items (False: it has others now)."""
        session = self.session
        if hasattr(session, "add_items_at"):
            return bool((yield from self._wait(session.add_items_at(items, length))))  # type: ignore[attr-defined]
        yield from self._wait(session.add_items(items))  # a session of the five-method interface: appended as it is
        return True

    def _wait(self, aw: Awaitable[Any]) -> Generator[Any, Any, Any]:
        """An awaitable's value: resolved right here without a loop, else awaited by the adapter."""
        if self.resolve is not None:
            return self.resolve(aw)
        return (yield Await(aw))

    def _stream(self, item: engine.Generate) -> Generator[Any, Any, None]:
        """A model turn from a backend that streams asynchronously: one Await per chunk."""
        stream = self.agent.llm.astream(item.request, self.agent.config)
        following = stream.__anext__
        events = self.events
        self.open_stream = stream
        while True:
            try:
                chunk = yield Await(following())
            except StopAsyncIteration:
                break
            fed = item.feed(chunk)
            if events:
                yield from fed
        self.open_stream = None


async def aiterate(drive: Drive, steps: Generator[Any, Any, None]) -> AsyncIterator[Event]:
    """The async adapter: each Await awaited here."""
    send, throw = steps.send, steps.throw
    value: Any = None
    exc: BaseException | None = None
    try:
        while True:
            try:
                item = throw(exc) if exc is not None else send(value)
            except StopIteration:
                return
            value, exc = None, None
            if type(item) is Await:
                try:
                    value = await item.aw
                except BaseException as e:  # cancellation too: the driver's finally runs
                    exc = e
            else:
                yield item
    finally:
        steps.close()
        stream, drive.open_stream = drive.open_stream, None
        if stream is not None:  # left mid-turn (the caller stopped reading): end the model's reply
            with contextlib.suppress(Exception):  # already ended by what stopped the run
                await stream.aclose()


def last(events: Iterator[Event]) -> RunResult[Any]:
    """The run's result, from its final event (``run``: without events only the last comes)."""
    final: Any = None
    for final in events:  # noqa: B007 (to the driver's end: nothing more comes)
        pass
    return _result(final)


async def alast(events: AsyncIterator[Event]) -> RunResult[Any]:
    """:func:`last` for the async driver."""
    final: Any = None
    async for final in events:  # noqa: B007
        pass
    return _result(final)


def _result(final: Any) -> RunResult[Any]:
    assert isinstance(final, (FinalAnswer, ErrorEvent, ApprovalRequired)) and final.result is not None, (
        "the run ended without a result"
    )
    return final.result


__all__ = ["Await", "Drive", "aiterate", "alast", "last"]
