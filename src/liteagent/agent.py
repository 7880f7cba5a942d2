"""The agent: configuration (LLM, tools, dialect, prompts, limits) and the loop
render -> generate -> parse -> execute -> record, one small step each.

An Agent holds no conversation, so one agent serves many at once: a conversation lives in a
:class:`~liteagent.sessions.Session` passed as ``session=`` (without one, a call is a
one-question conversation). Async at the core (``astream``/``arun``); ``run``/``stream`` reuse
one event loop per thread, and so the LLM's connections, and work inside Jupyter too.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from . import sync_bridge
from .actions.executor import ActionExecutor
from .context import fit
from .errors import LiteAgentError, LLMError, UsageError
from .events import (
    ContextTrimmed,
    ErrorEvent,
    Event,
    FinalAnswer,
    TextDelta,
    ToolCallEvent,
    ToolResultEvent,
    TurnEnd,
)
from .llms.base import LLM, GenerationConfig
from .messages import ActionReturn, ActionStatus, Message, ResultItem, ToolCall
from .protocols import Protocol, get_protocol
from .protocols.base import ParsedReply, Request
from .sessions import InMemorySession, Session

TOOL_CHOICES = ("auto", "required", "none")


@dataclass(slots=True)
class Step:
    """One model turn: what it said, the calls it made and what they returned."""

    text: str
    tool_calls: list[ToolCall] = field(default_factory=list)
    results: list[ActionReturn] = field(default_factory=list)
    thinking: str = ""
    elapsed: float = 0.0
    ttft: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "thinking": self.thinking,
            "tool_calls": [c.to_dict() for c in self.tool_calls],
            "results": [r.to_dict() for r in self.results],
            "elapsed": round(self.elapsed, 6),
            "ttft": None if self.ttft is None else round(self.ttft, 6),
        }


@dataclass(slots=True)
class RunResult:
    """What one question produced. ``status``: ok, truncated (the answer hit the token limit:
    ``answer`` is what came, ``error`` says so), max_turns, call_errors or error."""

    answer: str
    steps: list[Step]
    messages: list[Message]
    status: str = "ok"
    error: str | None = None
    turns: int = 0
    elapsed: float = 0.0
    usage: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "answer": self.answer,
            "status": self.status,
            "error": self.error,
            "steps": [s.to_dict() for s in self.steps],
            "messages": [m.to_dict() for m in self.messages],
            "turns": self.turns,
            "elapsed": round(self.elapsed, 6),
            "usage": self.usage,
        }


@dataclass
class _Run:
    """One question's state while the loop runs; nothing of it outlives the run."""

    session: Session
    history: list[Message]  # the session's items, then this run's
    first_new: int
    start: float
    steps: list[Step] = field(default_factory=list)
    usage: dict[str, int] = field(default_factory=dict)
    failures: int = 0
    done: dict[str, ActionReturn] = field(default_factory=dict)  # calls that succeeded this question
    must_answer: bool = False

    async def record(self, *messages: Message) -> None:
        self.history.extend(messages)
        await self.session.add_items(list(messages))

    def result(self, answer: str, status: str = "ok", error: str | None = None) -> RunResult:
        return RunResult(
            answer=answer,
            steps=self.steps,
            messages=self.history[self.first_new :],
            status=status,
            error=error,
            turns=len(self.steps),
            elapsed=time.perf_counter() - self.start,
            usage=dict(self.usage),
        )

    def stop(self, kind: str, message: str, status: str) -> ErrorEvent:
        return ErrorEvent(kind, message, self.result("", status, message))


@dataclass(slots=True)
class _Reply:
    parsed: ParsedReply
    finish: str | None
    ttft: float | None


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

    async def _ensure_protocol(self) -> Protocol:
        if self._protocol is None:
            await self.llm.resolve_model()  # "auto" needs the served model's name
        return self.protocol

    # -- the loop -----------------------------------------------------------------------------
    async def astream(self, query: str | Message, session: Session | None = None) -> AsyncIterator[Event]:
        """Answer ``query`` in ``session`` (a new one-question conversation without it), yielding
        events as they happen; the last is FinalAnswer or ErrorEvent, each carrying the result."""
        session = session if session is not None else InMemorySession()
        history = await session.get_items()
        run = _Run(session, history, len(history), time.perf_counter())
        await run.record(query if isinstance(query, Message) else Message("user", query))
        try:
            protocol = await self._ensure_protocol()
        except LiteAgentError as exc:
            yield run.stop("llm", str(exc), "error")
            return
        for turn in range(self.max_turns):
            tool_choice = self.tool_choice if turn == 0 or self.tool_choice != "required" else "auto"
            request, trimmed = self._render(protocol, run, tool_choice)
            if trimmed is not None:
                yield trimmed
            turn_start = time.perf_counter()
            parser = protocol.new_parser(self.executor)
            reply: _Reply | None = None
            try:
                async for item in self._generate(request, parser, run, turn_start):
                    if isinstance(item, _Reply):
                        reply = item
                    else:
                        yield item
            except LLMError as exc:
                yield run.stop("llm", str(exc), "error")
                return
            assert reply is not None
            parsed = reply.parsed
            calls = parsed.calls if tool_choice != "none" else []
            await run.record(Message("assistant", parsed.text, tool_calls=calls, thinking=parsed.thinking or None))
            step = Step(parsed.text, calls, [], parsed.thinking, 0.0, reply.ttft)
            run.steps.append(step)
            if not calls:
                step.elapsed = time.perf_counter() - turn_start
                yield TurnEnd(turn + 1, step.elapsed, reply.ttft, dict(run.usage), request)
                if reply.finish == "length":  # never a short answer reported as complete
                    note = "the answer was cut off at the model's token limit (raise max_tokens)"
                    yield FinalAnswer(parsed.text, run.result(parsed.text, "truncated", note))
                else:
                    yield FinalAnswer(parsed.text, run.result(parsed.text))
                return
            results = await self._execute_all(calls, protocol, run)
            for call, ret in zip(calls, results, strict=True):
                step.results.append(ret)
                tool_msg = Message(
                    "tool",
                    self.executor.format_result(ret),
                    name=ret.name or call.name,
                    tool_call_id=call.id,
                    result=ret,
                )
                await run.record(tool_msg)
                yield ToolResultEvent(call, ret)
            step.elapsed = time.perf_counter() - turn_start
            yield TurnEnd(turn + 1, step.elapsed, reply.ttft, dict(run.usage), request)
            stop = self._failure_budget(results, run)
            if stop is not None:
                yield stop
                return
        msg = (
            f"stopped after {self.max_turns} model turns without a final answer (raise max_turns, or ask more narrowly)"
        )
        yield run.stop("max_turns", msg, "max_turns")

    def _render(self, protocol: Protocol, run: _Run, tool_choice: str) -> tuple[Request, ContextTrimmed | None]:
        """The request for this turn, fitted to the model's context; the grammar where decoding
        is constrained."""
        tools = self.executor if tool_choice != "none" else None
        history, trimmed = run.history, None
        budget = self.context_tokens or self.llm.context_tokens
        if budget:
            room = budget - (self.config.max_tokens or 0)

            def count(items: list[Message]) -> int:
                return self.llm.count_tokens(protocol.render(items, tools, tool_choice))

            history, turns, items = fit(run.history, count, room)
            if turns:
                trimmed = ContextTrimmed(turns, items, budget)
        request = protocol.render(history, tools, tool_choice)
        if self.llm.supports_grammar and self.constrain_calls:
            request.grammar = self._grammar(protocol, "answer" if run.must_answer else tool_choice)
        return request, trimmed

    async def _generate(
        self, request: Request, parser: Any, run: _Run, turn_start: float
    ) -> AsyncIterator[Event | _Reply]:
        """Stream one model turn through the dialect's parser; the last item is the _Reply."""
        ttft: float | None = None
        finish: str | None = None
        async for chunk in self.llm.astream(request, self.config):
            if chunk.finish_reason:
                finish = chunk.finish_reason
            if ttft is None and (chunk.text or chunk.thinking or chunk.tool_calls):
                ttft = time.perf_counter() - turn_start
            if chunk.text:
                for ev in parser.feed(chunk.text):
                    yield ev
            if chunk.thinking:
                for ev in parser.feed_thinking(chunk.thinking):
                    yield ev
            if chunk.tool_calls:
                for d in chunk.tool_calls:
                    parser.feed_tool_delta(d.index, d.id, d.name, d.arguments)
            if chunk.usage:
                for k, v in chunk.usage.items():
                    run.usage[k] = run.usage.get(k, 0) + v
        for ev in parser.finish():
            yield ev
        yield _Reply(parser.result(), finish, ttft)

    def _failure_budget(self, results: list[ActionReturn], run: _Run) -> ErrorEvent | None:
        if not all(r.status in _CALLER_ERRORS for r in results):
            run.failures = 0
            return None
        run.failures += 1
        if run.failures < self.max_call_errors:
            return None
        msg = f"the model's calls failed {run.failures} turns in a row; last error: {results[-1].error}"
        return run.stop("call_errors", msg, "call_errors")

    def _grammar(self, protocol: Protocol, tool_choice: str) -> str | None:
        key = (protocol.name, tool_choice, self.executor.uid, self.executor.version)
        if self._grammar_cache is None or self._grammar_cache[0] != key:
            self._grammar_cache = (key, protocol.grammar(self.executor, tool_choice))
        return self._grammar_cache[1]

    async def _execute_all(self, calls: list[ToolCall], protocol: Protocol, run: _Run) -> list[ActionReturn]:
        """Run the reply's calls (several at once concurrently). A model that repeats a call it
        already made (small models loop) is told so instead, and where decoding is constrained
        its next turn must answer."""
        keys = [_call_key(c) for c in calls]
        run.must_answer = all(c.error is None and k in run.done for c, k in zip(calls, keys, strict=True))
        if len(calls) == 1:
            return [await self._execute(calls[0], keys[0], protocol, run.done, alone=True)]
        return list(
            await asyncio.gather(*(self._execute(c, k, protocol, run.done) for c, k in zip(calls, keys, strict=True)))
        )

    async def _execute(
        self, call: ToolCall, key: str, protocol: Protocol, done: dict[str, ActionReturn], alone: bool = False
    ) -> ActionReturn:
        if call.error is None and key in done:
            note = f"You already called {call.name} with these arguments; its result is above. Use it to answer now."
            return ActionReturn(
                done[key].name, call.arguments, ActionStatus.SUCCESS, [ResultItem.text(note)], call_id=call.id
            )
        if call.error is not None:
            status = (
                ActionStatus.ARGS_ERROR if call.name and call.name in self.executor else ActionStatus.INVALID_ACTION
            )
            error = f"your tool call could not be read: {call.error}. Write it exactly as: {protocol.call_format_hint}"
            return ActionReturn(call.name, {}, status, error=error, call_id=call.id)
        ret = await self.executor.aexecute(call.name, call.arguments, call_id=call.id, alone=alone)
        if ret.ok:
            done[key] = ret
        return ret

    async def arun(self, query: str | Message, session: Session | None = None) -> RunResult:
        """Answer ``query``; the result carries the answer, steps, new messages, timing, usage."""
        result: RunResult | None = None
        # Drain the stream to its end: an abandoned async generator costs a finalizer round-trip.
        async for ev in self.astream(query, session):
            if isinstance(ev, (FinalAnswer, ErrorEvent)):
                result = ev.result
        assert result is not None, "agent stream ended without a final event"
        return result

    # -- sync wrappers --------------------------------------------------------------------------
    def run(self, query: str | Message, session: Session | None = None) -> RunResult:
        """Sync :meth:`arun`, on this thread's reused event loop (inside a running loop, such as
        Jupyter's, on a background thread's)."""
        return sync_bridge.run_sync(lambda: self.arun(query, session))

    def stream(self, query: str | Message, session: Session | None = None) -> Iterator[Event]:
        """Sync :meth:`astream`: events come in batches from this thread's reused event loop."""
        return sync_bridge.iterate_sync(lambda: self.astream(query, session))


_CALLER_ERRORS = {ActionStatus.ARGS_ERROR, ActionStatus.INVALID_ACTION}
_KEY_ENCODER = json.JSONEncoder(sort_keys=True, default=str)


def _call_key(call: ToolCall) -> str:
    return f"{call.name}\x00{_KEY_ENCODER.encode(call.arguments)}"


__all__ = ["Agent", "RunResult", "Step", "TextDelta", "ToolCallEvent"]
