"""The agent loop: render -> generate -> parse -> execute -> append results -> repeat.

Async at the core (``astream``/``arun``); ``run``/``stream`` are sync wrappers that also work where
an event loop is already running (Jupyter). The conversation is kept across questions.
"""

from __future__ import annotations

import asyncio
import json
import queue
import threading
import time
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .actions.executor import ActionExecutor
from .errors import LiteAgentError, LLMError, UsageError
from .events import (
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

CALL_FORMAT_HINT = {
    "internlm2": '<|action_start|><|plugin|>\n{"name": "Tool.api", "parameters": {...}}<|action_end|>',
    "hermes": '<tool_call>\n{"name": "Tool.api", "arguments": {...}}\n</tool_call>',
    "react": 'Action: Tool.api\nAction Input: {"key": "value"}',
    "openai": "a tool call whose arguments are a JSON object",
}


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


class Agent:
    """An LLM with plugins, speaking one dialect.

    Args:
        llm: the backend (``OpenAICompatibleLLM``, ``ScriptedLLM``, the embedded model…).
        plugins: an :class:`ActionExecutor`, or plugins to build one from.
        protocol: a :class:`Protocol` or its name (``auto`` picks by model name).
        max_turns: model turns per question; reaching it is reported as ``status="max_turns"``.
        max_call_errors: turns in a row whose calls all failed (unreadable, unknown tool, bad
            arguments) before the agent gives up; each failure goes back to the model first.
        tool_choice: ``auto`` (may call), ``required`` (must call on the first turn), ``none``.
        system_prompt / plugin_prompt: override the dialect's defaults.
        constrain_calls: on backends that support it (the embedded model), decode under a
            grammar that admits only a plain answer or a well-formed call to a real tool.
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
        history: list[Message] | None = None,
        constrain_calls: bool = True,
    ) -> None:
        self.llm = llm
        self.executor = plugins if isinstance(plugins, ActionExecutor) else ActionExecutor(plugins or [])
        self._protocol_arg = protocol
        self._system_prompt, self._plugin_prompt = system_prompt, plugin_prompt
        self._protocol: Protocol | None = protocol if isinstance(protocol, Protocol) else None
        if self._protocol is None and (protocol != "auto" or llm.model):
            self._protocol = get_protocol(str(protocol), llm.model, system_prompt, plugin_prompt)
        if max_turns < 1:
            raise UsageError("max_turns must be 1 or more")
        if tool_choice not in ("auto", "required", "none"):
            raise UsageError(f"tool_choice must be auto, required or none, not {tool_choice!r}")
        self.max_turns = max_turns
        self.max_call_errors = max_call_errors
        self.tool_choice = tool_choice
        self.config = GenerationConfig(temperature=temperature, max_tokens=max_tokens)
        self.messages: list[Message] = list(history or [])
        self.last_request: Any = None
        self.constrain_calls = constrain_calls
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

    # -- conversation -------------------------------------------------------------------------
    def reset(self) -> None:
        self.messages.clear()

    def save(self, path: str | Path) -> None:
        data = {"version": 1, "protocol": self.protocol.name, "messages": [m.to_dict() for m in self.messages]}
        Path(path).write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")

    def load(self, path: str | Path) -> None:
        p = Path(path)
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
            messages = [Message.from_dict(m) for m in (data["messages"] if isinstance(data, dict) else data)]
        except FileNotFoundError:
            raise UsageError(f"no conversation file at {p}") from None
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise UsageError(f"{p} is not a saved liteagent conversation ({type(exc).__name__}: {exc})") from None
        self.messages = messages

    # -- the loop -----------------------------------------------------------------------------
    async def astream(self, query: str | Message) -> AsyncIterator[Event]:
        """Answer ``query``, yielding events as they happen; the last is FinalAnswer or ErrorEvent."""
        start = time.perf_counter()
        first_new = len(self.messages)
        self.messages.append(query if isinstance(query, Message) else Message("user", query))
        steps: list[Step] = []
        usage: dict[str, int] = {}
        failures = 0
        executor = self.executor
        try:
            protocol = await self._ensure_protocol()
        except LiteAgentError as exc:
            yield self._stop(ErrorEvent("llm", str(exc)), steps, first_new, start, usage, "error")
            return
        done: dict[str, ActionReturn] = {}  # calls that succeeded for this question
        must_answer = False
        for turn in range(self.max_turns):
            tool_choice = self.tool_choice
            if tool_choice == "required" and turn > 0:
                tool_choice = "auto"  # forced once; later turns may answer
            request = protocol.render(self.messages, executor if tool_choice != "none" else None, tool_choice)
            if self.llm.supports_grammar and self.constrain_calls:
                request.grammar = self._grammar(protocol.name, "answer" if must_answer else tool_choice)
            self.last_request = request
            parser = protocol.new_parser(executor)
            turn_start = time.perf_counter()
            ttft: float | None = None
            finish: str | None = None
            try:
                async for chunk in self.llm.astream(request, self.config):
                    if chunk.finish_reason:
                        finish = chunk.finish_reason
                    if chunk.text:
                        if ttft is None:
                            ttft = time.perf_counter() - turn_start
                        for ev in parser.feed(chunk.text):
                            yield ev
                    if chunk.thinking:
                        if ttft is None:
                            ttft = time.perf_counter() - turn_start
                        for ev in parser.feed_thinking(chunk.thinking):
                            yield ev
                    if chunk.tool_calls:
                        if ttft is None:
                            ttft = time.perf_counter() - turn_start
                        for d in chunk.tool_calls:
                            parser.feed_tool_delta(d.index, d.id, d.name, d.arguments)
                    if chunk.usage:
                        for k, v in chunk.usage.items():
                            usage[k] = usage.get(k, 0) + v
                for ev in parser.finish():
                    yield ev
            except LLMError as exc:
                yield self._stop(ErrorEvent("llm", str(exc)), steps, first_new, start, usage, "error")
                return
            reply = parser.result()
            calls = reply.calls if tool_choice != "none" else []
            self.messages.append(Message("assistant", reply.text, tool_calls=calls, thinking=reply.thinking or None))
            step = Step(reply.text, calls, [], reply.thinking, 0.0, ttft)
            steps.append(step)
            if not calls:
                step.elapsed = time.perf_counter() - turn_start
                yield TurnEnd(turn + 1, step.elapsed, ttft, dict(usage))
                if finish == "length":  # never a short answer reported as complete
                    note = "the answer was cut off at the model's token limit (raise max_tokens)"
                    result = self._result(reply.text, steps, first_new, start, usage, "truncated", note)
                else:
                    result = self._result(reply.text, steps, first_new, start, usage, "ok", None)
                yield FinalAnswer(reply.text, result)
                return
            # A model that repeats a call it already made (small models loop) is told so instead
            # of running it again, and where decoding is constrained its next turn must answer.
            keys = [_call_key(c) for c in calls]
            repeats = [c.error is None and k in done for c, k in zip(calls, keys, strict=True)]
            if len(calls) == 1:
                results = [await self._execute(calls[0], keys[0], protocol, done)]
            else:  # several calls in one reply run concurrently
                results = list(
                    await asyncio.gather(
                        *(self._execute(c, k, protocol, done) for c, k in zip(calls, keys, strict=True))
                    )
                )
            must_answer = all(repeats)
            for call, ret in zip(calls, results, strict=False):
                step.results.append(ret)
                self.messages.append(
                    Message("tool", executor.format_result(ret), name=ret.name or call.name, tool_call_id=call.id)
                )
                yield ToolResultEvent(call, ret)
            step.elapsed = time.perf_counter() - turn_start
            yield TurnEnd(turn + 1, step.elapsed, ttft, dict(usage))
            if all(r.status in _CALLER_ERRORS for r in results):
                failures += 1
                if failures >= self.max_call_errors:
                    msg = f"the model's calls failed {failures} turns in a row; last error: {results[-1].error}"
                    yield self._stop(ErrorEvent("call_errors", msg), steps, first_new, start, usage, "call_errors")
                    return
            else:
                failures = 0
        msg = (
            f"stopped after {self.max_turns} model turns without a final answer "
            "(raise max_turns / --max-turns, or ask more narrowly)"
        )
        yield self._stop(ErrorEvent("max_turns", msg), steps, first_new, start, usage, "max_turns")

    def _grammar(self, protocol: str, tool_choice: str) -> str | None:
        key = (protocol, tool_choice, self.executor.uid, self.executor.version)
        if self._grammar_cache is None or self._grammar_cache[0] != key:
            from .protocols.grammar import grammar_for

            self._grammar_cache = (key, grammar_for(protocol, self.executor, tool_choice))
        return self._grammar_cache[1]

    async def _execute(
        self, call: ToolCall, key: str, protocol: Protocol, done: dict[str, ActionReturn]
    ) -> ActionReturn:
        if call.error is None and key in done:
            note = f"You already called {call.name} with these arguments; its result is above. Use it to answer now."
            return ActionReturn(
                done[key].name, call.arguments, ActionStatus.SUCCESS, [ResultItem.text(note)], call_id=call.id
            )
        ret = await self._execute_new(call, protocol)
        if ret.ok:
            done[key] = ret
        return ret

    async def _execute_new(self, call: ToolCall, protocol: Protocol) -> ActionReturn:
        if call.error is not None:
            hint = CALL_FORMAT_HINT.get(protocol.name, "")
            status = (
                ActionStatus.ARGS_ERROR if call.name and call.name in self.executor else ActionStatus.INVALID_ACTION
            )
            return ActionReturn(
                call.name,
                {},
                status,
                error=f"your tool call could not be read: {call.error}. Write it exactly as: {hint}",
                call_id=call.id,
            )
        return await self.executor.aexecute(call.name, call.arguments, call_id=call.id)

    def _result(
        self,
        answer: str,
        steps: list[Step],
        first_new: int,
        start: float,
        usage: dict[str, int],
        status: str,
        error: str | None,
    ) -> RunResult:
        return RunResult(
            answer=answer,
            steps=steps,
            messages=self.messages[first_new:],
            status=status,
            error=error,
            turns=len(steps),
            elapsed=time.perf_counter() - start,
            usage=dict(usage),
        )

    def _stop(
        self, ev: ErrorEvent, steps: list[Step], first_new: int, start: float, usage: dict[str, int], status: str
    ) -> ErrorEvent:
        self._last_result = self._result("", steps, first_new, start, usage, status, ev.message)
        return ev

    async def arun(self, query: str | Message) -> RunResult:
        """Answer ``query``; the result carries the answer, steps, new messages, timing, usage."""
        result: RunResult | None = None
        # Drain the stream to its end: an abandoned async generator costs a finalizer round-trip.
        async for ev in self.astream(query):
            if isinstance(ev, FinalAnswer):
                result = ev.result
            elif isinstance(ev, ErrorEvent):
                result = self._last_result
        assert result is not None, "agent stream ended without a final event"
        return result

    # -- sync wrappers --------------------------------------------------------------------------
    def run(self, query: str | Message) -> RunResult:
        """Sync :meth:`arun`; inside a running event loop (Jupyter) it runs on a thread of its own."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self._arun_and_close(query))
        box: list[Any] = []
        t = threading.Thread(target=lambda: box.append(_capture(lambda: asyncio.run(self._arun_and_close(query)))))
        t.start()
        t.join()
        return _unwrap(box[0])

    async def _arun_and_close(self, query: str | Message) -> RunResult:
        try:
            return await self.arun(query)
        finally:
            await self.llm.aclose()

    def stream(self, query: str | Message) -> Iterator[Event]:
        """Sync :meth:`astream`: events are produced on a worker thread and handed over in batches."""
        q: queue.SimpleQueue[Any] = queue.SimpleQueue()
        done = object()

        async def pump() -> None:
            try:
                async for ev in self.astream(query):
                    q.put(ev)
            finally:
                await self.llm.aclose()

        def work() -> None:
            try:
                asyncio.run(pump())
            except BaseException as exc:  # handed to the consumer, raised there
                q.put(_Failure(exc))
            q.put(done)

        t = threading.Thread(target=work, daemon=True)
        t.start()
        while True:
            item = q.get()
            if item is done:
                break
            if isinstance(item, _Failure):
                raise item.exc
            yield item
        t.join()


_CALLER_ERRORS = {ActionStatus.ARGS_ERROR, ActionStatus.INVALID_ACTION}


_KEY_ENCODER = json.JSONEncoder(sort_keys=True, default=str)


def _call_key(call: ToolCall) -> str:
    return f"{call.name}\x00{_KEY_ENCODER.encode(call.arguments)}"


class _Failure:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def _capture(fn: Any) -> Any:
    try:
        return fn()
    except BaseException as exc:
        return _Failure(exc)


def _unwrap(value: Any) -> Any:
    if isinstance(value, _Failure):
        raise value.exc
    return value


__all__ = ["Agent", "RunResult", "Step", "TextDelta", "ToolCallEvent"]
