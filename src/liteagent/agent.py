"""The agent: configuration (LLM, tools, dialect, prompts, limits) and the loop
render -> generate -> parse -> execute -> record, one small step each.

An Agent holds no conversation, so one agent serves many at once: a conversation lives in a
:class:`~liteagent.sessions.Session` passed as ``session=`` (without one, a call is a
one-question conversation). Async at the core (``astream``/``arun``); ``run``/``stream`` reuse
one event loop per thread, and so the LLM's connections, and work inside Jupyter too.
"""

from __future__ import annotations

import asyncio
import copy
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping
from typing import Any, Generic, Literal, overload

from typing_extensions import TypeVar

from . import controls, engine, sync_bridge, tracing
from .actions.executor import ActionExecutor
from .actions.tooldefs import ToolSet
from .approval import Decisions, Rule, check_rules
from .controls import Tail
from .errors import UsageError
from .events import (
    Event,
)
from .hooks import Fanout, RunHooks
from .limits import UsageLimits
from .llms.base import LLM, GenerationConfig
from .messages import Message
from .output import OutputSpec, as_spec
from .protocols import Protocol, get_protocol
from .results import RunResult, Step
from .runner import Drive, aiterate, alast, last
from .sessions import InMemorySession, Session, SQLiteSession

TOOL_CHOICES = ("auto", "required", "none")

T = TypeVar("T")
OutputT = TypeVar("OutputT", default=str)


class Agent(Generic[OutputT]):
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
        approvals: which tools a person approves before each call, by tool or plugin name
            (``"*"``: every tool): True, False, or a callable of the call's arguments; overrides
            the tools' own ``needs_approval``. A run that reaches such a call stops with
            ``status="needs_approval"``; :meth:`resume` goes on.
        output_type: what the final answer must be: a pydantic model, a dataclass, a TypedDict,
            ``list[...]``, a ``Literal``, a plain type, or a JSON Schema dict. ``result.output`` is
            then the validated object (``result.answer`` stays the model's text). Default: text.
        output_mode: ``auto`` (= ``tool``), ``tool`` (a final-answer tool whose arguments are the
            answer), ``native`` (``response_format`` on a turn with no tools) or ``prompted``
            (the schema in the instructions).
        output_validators: callables of the validated answer, run on final answers only; one may
            raise :class:`~liteagent.ModelRetry` to send the answer back with its reason.
        output_retries: invalid answers sent back to the model before the run ends with
            ``status="invalid_output"`` (and ``result.output_errors``).
        hooks: observers of each run (:class:`~liteagent.hooks.RunHooks`): its start and end,
            model turns, tool calls. OpenTelemetry spans are added by themselves when the
            application has configured a tracer provider.
        name: the agent's name in traces (default: liteagent).
        usage_limits: per run: ``{"total_tokens": N, "tool_calls": N, "model_calls": N}`` (also
            input_tokens, output_tokens) or a :class:`~liteagent.limits.UsageLimits`; a run
            that would pass one ends with ``status="usage_limit"``.
        ask_person: how a tool's question for the person is answered (``ToolContext.elicit``,
            an MCP server's elicitation): ``(message, schema) -> Elicited`` (or awaitable);
            ``"pause"``: the run stops with ``status="needs_input"`` and the question in
            ``result.pending``, recorded in the session; ``resume(session, answers={id: ...})``
            runs the call again with the answer (a tool should ask before its side effects);
            None: asked of whoever runs the agent where someone can answer, else declined.
    """

    @overload
    def __init__(
        self: Agent[str],
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
        approvals: Mapping[str, Rule] | None = None,
        output_type: None = None,
        output_mode: str = "auto",
        output_validators: Iterable[Callable[[Any], Any]] = (),
        output_retries: int = 2,
        hooks: Iterable[RunHooks] = (),
        name: str | None = None,
        usage_limits: UsageLimits | Mapping[str, int] | None = None,
        ask_person: Callable[[str, dict[str, Any]], Any] | Literal["pause"] | None = None,
    ) -> None: ...

    @overload
    def __init__(
        self: Agent[T],
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
        approvals: Mapping[str, Rule] | None = None,
        output_type: type[T],
        output_mode: str = "auto",
        output_validators: Iterable[Callable[[T], T]] = (),
        output_retries: int = 2,
        hooks: Iterable[RunHooks] = (),
        name: str | None = None,
        usage_limits: UsageLimits | Mapping[str, int] | None = None,
        ask_person: Callable[[str, dict[str, Any]], Any] | Literal["pause"] | None = None,
    ) -> None: ...

    @overload
    def __init__(
        self: Agent[Any],
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
        approvals: Mapping[str, Rule] | None = None,
        output_type: Any,
        output_mode: str = "auto",
        output_validators: Iterable[Callable[[Any], Any]] = (),
        output_retries: int = 2,
        hooks: Iterable[RunHooks] = (),
        name: str | None = None,
        usage_limits: UsageLimits | Mapping[str, int] | None = None,
        ask_person: Callable[[str, dict[str, Any]], Any] | Literal["pause"] | None = None,
    ) -> None: ...

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
        approvals: Mapping[str, Rule] | None = None,
        output_type: Any = None,
        output_mode: str = "auto",
        output_validators: Iterable[Callable[[Any], Any]] = (),
        output_retries: int = 2,
        hooks: Iterable[RunHooks] = (),
        name: str | None = None,
        usage_limits: UsageLimits | Mapping[str, int] | None = None,
        ask_person: Callable[[str, dict[str, Any]], Any] | Literal["pause"] | None = None,
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
        self.approvals: dict[str, Rule] = dict(approvals or {})
        if self.approvals:
            check_rules(self.executor, self.approvals)
        self.output: OutputSpec | None = as_spec(output_type, output_mode, output_validators)
        self.output_retries = _retries(output_retries)
        self.hooks: list[RunHooks] = list(hooks)
        self.name = name
        self.usage_limits = UsageLimits.of(usage_limits)
        if isinstance(ask_person, str) and ask_person != "pause":
            raise UsageError(f"ask_person is a callable, 'pause' or None, not {ask_person!r}")
        self.ask_person = ask_person
        if self.output is not None and self.output.mode == "tool":
            self.output.with_tools(self.executor.tool_set())  # a tool named final_answer: an error now

    def with_output(
        self,
        output_type: Any,
        output_mode: str = "auto",
        output_validators: Iterable[Callable[[Any], Any]] = (),
        output_retries: int | None = None,
    ) -> Agent[Any]:
        """This agent answering with ``output_type`` (a shallow copy: same model, tools, limits)."""
        other: Agent[Any] = copy.copy(self)
        other.output = as_spec(output_type, output_mode, output_validators)
        if output_retries is not None:
            other.output_retries = _retries(output_retries)
        if other.output is not None and other.output.mode == "tool":
            other.output.with_tools(other.executor.tool_set())
        return other

    def _hooks(self) -> Fanout | None:
        """Who observes this agent's runs: its ``hooks``, and OpenTelemetry spans when the
        application has configured a tracer provider (None: nobody, the common case)."""
        otel = tracing.configured_hooks() if "opentelemetry.trace" in sys.modules else None
        if otel is None and not self.hooks:
            return None
        hooks = [*self.hooks, otel] if otel is not None else list(self.hooks)
        made = self.__dict__.get("_fanout")
        if made is None or made.hooks != hooks:  # made again when the hooks change
            made = self._fanout = Fanout(hooks)
        return made

    @property
    def protocol(self) -> Protocol:
        if self._protocol is None:
            self._protocol = get_protocol(
                str(self._protocol_arg), self.llm.model, self._system_prompt, self._plugin_prompt
            )
        return self._protocol

    def grammar(self, protocol: Protocol, tool_choice: str, toolset: ToolSet | None = None) -> str | None:
        """The dialect's decoding grammar for these tools (the agent's by default), built once per
        tool set (in the process: agents with the same tools share it)."""
        tools = toolset if toolset is not None else self.executor.tool_set()
        key = (type(protocol), protocol.name, tool_choice, tools.key)
        grammar = _GRAMMARS.get(key, _MISSING)
        if grammar is _MISSING:
            if len(_GRAMMARS) >= 64:
                _GRAMMARS.clear()
            grammar = _GRAMMARS[key] = protocol.grammar(tools, tool_choice)
        return grammar  # type: ignore[return-value]

    async def _ensure_protocol(self) -> Protocol:
        if self._protocol is None:
            await self.llm.resolve_model()  # "auto" needs the served model's name
        return self.protocol

    async def aresolve_protocol(self) -> Protocol:
        """The dialect, asking the server for its model's name first where ``auto`` needs it."""
        return await self._ensure_protocol()

    def arecord_turn(self, history: list[Message], tools: ToolSet) -> AsyncIterator[Event]:
        """One model turn on ``history`` with ``tools`` offered, whose calls are recorded, not
        executed (``engine.recorded_turn``): its events, the last a FinalAnswer whose result's one
        step holds the calls, or an ErrorEvent. Stop reading early and the model stops too."""
        drive = Drive(self, InMemorySession(), True)
        return aiterate(drive, drive.run(engine.recorded_turn(self, history, tools)))

    # -- the loop: engine.question, run by the one driver (runner.Drive) -----------------------
    def astream(self, query: str | Message, session: Session | None = None) -> AsyncIterator[Event]:
        """Answer ``query`` in ``session`` (a new one-question conversation without it), yielding
        events as they happen; the last is FinalAnswer or ErrorEvent, each carrying the result."""
        drive = Drive(self, session if session is not None else InMemorySession(), True)
        return aiterate(drive, drive.steps(query))

    def _stream_sync(self, query: str | Message, session: Session, events: bool = True) -> Iterator[Event]:
        """The driver without a loop (see ``_sync_capable``); an Await (async tools, several calls
        at once, resolving the dialect) runs on this thread's loop. Without ``events`` only the
        last event comes."""
        return Drive(self, session, events, _on_thread_loop).steps(query)  # type: ignore[return-value]  # no Await comes

    def _sync_capable(self, session: Session | None) -> bool:
        """Can ``run``/``stream`` go without an event loop? The model streams synchronously, the
        session is in-process, and no event loop runs in this thread (Jupyter's would be busy)."""
        if not self.llm.sync_streaming or not (session is None or type(session) in _SYNC_SESSIONS):
            return False
        return asyncio._get_running_loop() is None  # no exception to raise and catch, unlike get_running_loop

    async def arun(self, query: str | Message, session: Session | None = None) -> RunResult[OutputT]:
        """Answer ``query``; the result carries the answer, steps, new messages, timing, usage."""
        drive = Drive(self, session if session is not None else InMemorySession(), False)
        return await alast(aiterate(drive, drive.steps(query)))  # without events: only the last comes

    # -- going on from a session: after a pause for approval, or a run cut off ------------------
    def aresume_stream(
        self,
        session: Session,
        approve: Iterable[str] | str = (),
        reject: Mapping[str, str] | Iterable[str] | None = None,
        always: Iterable[str] | str = (),
        answers: Mapping[str, Any] | None = None,
    ) -> AsyncIterator[Event]:
        """Go on with the session's last run, in any process: ``approve`` (call ids) run,
        ``reject`` ({id: reason}) go back to the model as refused with the reason, ``always``
        (tool names) approves those tools for the rest of the conversation, ``answers`` ({id: a dict
        of the form's values, "decline" or "cancel"}) answer the questions tools asked (each such
        call runs again from its start, its questions answered in order). Without decisions, a
        run that was cut off (its process killed) goes on from its last recorded item. Events as
        :meth:`astream` gives them. Errors: a decision on a call that is not waiting, a session
        with nothing to resume (UsageError); another process resumed it first (RunConflict)."""
        decisions = Decisions.of(approve, reject, always, answers)
        drive = Drive(self, session, True)
        return aiterate(drive, drive.resume_steps(decisions))

    async def aresume(
        self,
        session: Session,
        approve: Iterable[str] | str = (),
        reject: Mapping[str, str] | Iterable[str] | None = None,
        always: Iterable[str] | str = (),
        answers: Mapping[str, Any] | None = None,
    ) -> RunResult[OutputT]:
        """:meth:`aresume_stream`'s result (a run may stop for approval again: see its status)."""
        decisions = Decisions.of(approve, reject, always, answers)
        drive = Drive(self, session, False)
        return await alast(aiterate(drive, drive.resume_steps(decisions)))

    def resume(
        self,
        session: Session,
        approve: Iterable[str] | str = (),
        reject: Mapping[str, str] | Iterable[str] | None = None,
        always: Iterable[str] | str = (),
        answers: Mapping[str, Any] | None = None,
    ) -> RunResult[OutputT]:
        """Sync :meth:`aresume`."""
        decisions = Decisions.of(approve, reject, always, answers)
        if self._sync_capable(session):
            return last(Drive(self, session, False, _on_thread_loop).resume_steps(decisions))  # type: ignore[arg-type]
        return sync_bridge.run_sync(
            lambda: self.aresume(session, decisions.approve, decisions.reject, decisions.always, decisions.given())
        )

    def resume_stream(
        self,
        session: Session,
        approve: Iterable[str] | str = (),
        reject: Mapping[str, str] | Iterable[str] | None = None,
        always: Iterable[str] | str = (),
        answers: Mapping[str, Any] | None = None,
    ) -> Iterator[Event]:
        """Sync :meth:`aresume_stream`."""
        decisions = Decisions.of(approve, reject, always, answers)
        if self._sync_capable(session):
            return Drive(self, session, True, _on_thread_loop).resume_steps(decisions)  # type: ignore[return-value]
        return sync_bridge.iterate_sync(
            lambda: self.aresume_stream(
                session, decisions.approve, decisions.reject, decisions.always, decisions.given()
            )
        )

    @staticmethod
    async def astatus(session: Session) -> Tail:
        """Where the session's last run stands: ``state`` is done, needs_approval (``pending``
        holds the calls), cut_off (tools were running when its process ended: resume it before
        the next question) or unanswered (the question has no answer yet: resume, or ask again)."""
        return controls.tail(await session.get_items())

    @staticmethod
    def status(session: Session) -> Tail:
        """Sync :meth:`astatus`."""
        return sync_bridge.run_sync(lambda: Agent.astatus(session))

    # -- sync API -------------------------------------------------------------------------------
    def run(self, query: str | Message, session: Session | None = None) -> RunResult[OutputT]:
        """Sync :meth:`arun`: without an event loop where every part answers at once, else on
        this thread's reused loop (inside a running loop, such as Jupyter's, a background one)."""
        if self._sync_capable(session):
            drive = Drive(self, session if session is not None else InMemorySession(), False, _on_thread_loop)
            return last(drive.run(engine.question(self, query, False)))  # type: ignore[arg-type]  # no Await comes
        return sync_bridge.run_sync(lambda: self.arun(query, session))

    def stream(self, query: str | Message, session: Session | None = None) -> Iterator[Event]:
        """Sync :meth:`astream`: without an event loop where every part answers at once, else
        in batches from this thread's reused event loop."""
        if self._sync_capable(session):
            return self._stream_sync(query, session if session is not None else InMemorySession())
        return sync_bridge.iterate_sync(lambda: self.astream(query, session))


_SYNC_SESSIONS = (InMemorySession, SQLiteSession)  # answer at once: *_now methods
_GRAMMARS: dict[tuple[Any, ...], str | None] = {}  # by dialect, tool choice and ToolSet.key
_MISSING = object()


def _retries(n: Any) -> int:
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        raise UsageError(f"output_retries must be a whole number, 0 or more, not {n!r}")
    return n


def _on_thread_loop(aw: Awaitable[Any]) -> Any:
    """The sync driver's way to wait (async tools, several calls at once, resolving the dialect)."""
    return sync_bridge.thread_loop().run_until_complete(aw)


__all__ = ["Agent", "RunResult", "Step"]
