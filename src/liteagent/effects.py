"""What the loop and its driver share: the settings the loop reads of its agent, the effects it
asks its driver for (load and record session items, stream a model turn, run calls, resolve the
dialect), and one run's state. Below the loop (``engine``), its driver (``runner``) and the typed
answer's turns (``answers``): each imports this, it imports none of them."""

from __future__ import annotations

import time
from collections.abc import Generator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any
from typing import Protocol as Interface

from . import approval, controls
from .events import ApprovalRequired, ErrorEvent, Progress, ToolResultEvent
from .llms.base import Chunk
from .messages import ActionReturn, Message, ToolCall
from .request import Request
from .results import PendingCall, RunResult, Step

if TYPE_CHECKING:
    from .actions.executor import ActionExecutor
    from .actions.tooldefs import ToolSet
    from .events import Event
    from .limits import UsageLimits
    from .llms.base import LLM, GenerationConfig
    from .output import OutputError, OutputSpec
    from .protocols import Protocol


class Settings(Interface):
    """What the loop reads of its agent (an :class:`~liteagent.agent.Agent`): the loop knows the
    agent by these attributes only, so the agent module sits above this one."""

    llm: LLM
    executor: ActionExecutor
    config: GenerationConfig
    max_turns: int
    max_call_errors: int
    tool_choice: str
    constrain_calls: bool
    context_tokens: int | None
    approvals: dict[str, approval.Rule]
    output: OutputSpec | None  # what a final answer must be (None: text)
    output_retries: int
    usage_limits: UsageLimits | None
    _protocol: Protocol | None  # the dialect, once resolved (else the driver resolves it)

    def grammar(self, protocol: Protocol, tool_choice: str, toolset: ToolSet | None = None) -> str | None: ...


# -- effects: what the engine asks its driver to do -------------------------------------------
NO_RECORDS: Mapping[str, Message] = MappingProxyType({})
NO_ANSWERS: Mapping[str, list[dict[str, Any]]] = MappingProxyType({})


@dataclass(slots=True)
class Load:
    """The session's items (the driver sends back a list of Message)."""


@dataclass(slots=True)
class ResolveProtocol:
    """The dialect (``auto`` may need the served model's name); sends back a Protocol."""


@dataclass(slots=True)
class Record:
    """Append these items to the session, if nothing else was written to it since this run read
    or last wrote it (else the driver throws StopRun("conflict"): another run writes there)."""

    items: list[Message]


@dataclass(slots=True)
class Generate:
    """One model turn: record ``record`` first where given (the question: in the session before
    the model is asked), then stream ``request``, feed each chunk to :meth:`feed` and pass on the
    events it returns; send back nothing (this object then holds the reply, its parser, when
    the first token came and the finish reason)."""

    request: Request
    parser: Any
    start: float
    usage: dict[str, int]
    record: list[Message] | None = None
    ttft: float | None = None
    finish: str | None = None

    def feed(self, chunk: Chunk) -> list[Any]:
        """The parser's events for one chunk of the model's reply."""
        text, finish = chunk.text, chunk.finish_reason
        if finish:
            self.finish = finish
        if text and not (chunk.progress or chunk.thinking or chunk.tool_calls or chunk.usage):
            if self.ttft is None:  # the common chunk: only text
                self.ttft = time.perf_counter() - self.start
            return self.parser.feed(text)
        if self.ttft is None and (text or chunk.thinking or chunk.tool_calls):
            self.ttft = time.perf_counter() - self.start
        events: list[Any] = []
        if chunk.progress:
            events.append(Progress(*chunk.progress))
        if text:
            events += self.parser.feed(text)
        if chunk.thinking:
            events += self.parser.feed_thinking(chunk.thinking)
        if chunk.tool_calls:
            for d in chunk.tool_calls:
                self.parser.feed_tool_delta(d.index, d.id, d.name, d.arguments)
        if chunk.usage:
            for k, v in chunk.usage.items():
                self.usage[k] = self.usage.get(k, 0) + v
        return events


class Execute:
    """Record ``said`` first where given (the reply whose calls these are: in the session before
    any of them runs), then run the calls (well-formed, not repeats), recording each one's result
    as it ends (``tool_message``), and send back their ActionReturns in order. Several run
    concurrently, so a run cut off while one still runs keeps the others' results. ``recorded``:
    what the driver wrote, by call id (a write the session refused stops the run). ``answers``:
    a person's answers to calls' earlier questions, by call id (a resume after a question). A
    call whose tool asked a person who answers later comes back with status NEEDS_INPUT, recorded
    as a pending question (``controls.question_item``), not as a result."""

    __slots__ = ("answers", "calls", "recorded", "said")

    def __init__(
        self,
        calls: list[ToolCall],
        said: Message | None = None,
        answers: Mapping[str, list[dict[str, Any]]] = NO_ANSWERS,
    ) -> None:
        self.calls, self.said, self.answers = calls, said, answers
        self.recorded: Mapping[str, Message] = NO_RECORDS


def tool_message(executor: ActionExecutor, call: ToolCall, ret: ActionReturn) -> Message:
    """A call's result as the session keeps it and the model reads it."""
    # by position (role, content, tool_calls, name, tool_call_id, thinking, result): keywords cost more
    return Message("tool", executor.format_result(ret), [], ret.name or call.name, call.id, None, ret)


def settled(
    agent: Settings,
    run: RunState,
    said: Message,
    calls: list[ToolCall],
    rets: list[ActionReturn],
    step: Step,
    events: bool,
) -> Generator[Any, Any, None]:
    """Record a reply whose calls were answered without running (``rets``, in call order): the
    reply and the results in one write, in the history and the step; their events."""
    msgs = [tool_message(agent.executor, c, r) for c, r in zip(calls, rets, strict=True)]
    step.results.extend(rets)
    run.history += [said, *msgs]
    yield Record([said, *msgs])
    if events:
        for c, r in zip(calls, rets, strict=True):
            yield ToolResultEvent(c, r)


Effect = Load | ResolveProtocol | Record | Generate | Execute
EFFECTS = frozenset({Load, ResolveProtocol, Record, Generate, Execute})
Steps = Generator["Event | Effect", Any, None]
LOAD, RESOLVE_PROTOCOL = Load(), ResolveProtocol()  # no fields: one of each serves every run


class RunState:
    """One run's state, as the loop keeps it (written out: a dataclass's generated ``__init__``
    with its default factories costs about twice as much, and one is made per question)."""

    __slots__ = (
        "always",
        "answers",
        "call_pending",
        "done",
        "failed",
        "failures",
        "first_new",
        "history",
        "must_answer",
        "native_final",
        "output_tries",
        "recorded",
        "repeated",
        "spec",
        "start",
        "steps",
        "tool_calls",
        "unsaved",
        "usage",
    )

    def __init__(
        self,
        history: list[Message],
        first_new: int,
        start: float,
        always: frozenset[str] = controls.NO_TOOLS,
        spec: OutputSpec | None = None,
    ) -> None:
        self.history = history  # the session's items, then this run's
        self.first_new = first_new
        self.start = start
        self.steps: list[Step] = []
        self.usage: dict[str, int] = {}
        self.failures = 0
        self.done: dict[str, ActionReturn] = {}  # calls that succeeded this question
        self.failed: set[str] = set()  # calls that failed this question
        self.must_answer = False
        self.call_pending = False  # tool_choice "required" and no call has run yet
        self.repeated: list[bool] = []  # per result of the last turn: a failed call again
        self.always = always  # tools a person approved for the rest of the conversation
        self.recorded: Mapping[str, Message] = NO_RECORDS  # the last results the driver recorded, by id
        self.unsaved: list[Message] | None = None  # to record with the next model turn (the question)
        self.spec = spec  # a typed agent's output
        self.output_tries = 0  # invalid typed answers so far
        self.native_final = False  # native mode: the next turn offers no tools and asks for the value
        self.tool_calls = 0  # calls this run has run (usage limits)
        #: a person's answers to calls' questions, by id
        self.answers: Mapping[str, list[dict[str, Any]]] = NO_ANSWERS

    def result(
        self, answer: str, status: str = "ok", error: str | None = None, output: Any = None, data: Any = None
    ) -> RunResult:
        typed = self.spec is not None
        if not typed and (status == "ok" or status == "truncated"):
            output = answer
        steps = self.steps
        # by position (answer, steps, messages, status, error, turns, elapsed, usage, pending,
        # output, output_errors, typed, output_data): keywords cost more
        return RunResult(
            answer,
            steps,
            self.history[self.first_new :],
            status,
            error,
            len(steps),
            time.perf_counter() - self.start,
            dict(self.usage),
            [],
            output,
            [],
            typed,
            data,
        )

    def invalid(self, errors: list[OutputError], tries: int) -> ErrorEvent:
        shown = "; ".join(map(str, errors[:3])) + (f" (and {len(errors) - 3} more)" if len(errors) > 3 else "")
        message = f"the model's answer did not fit the output type after {tries} tries: {shown}"
        event = self.stop("invalid_output", message, "invalid_output")
        assert event.result is not None
        event.result.output_errors = list(errors)
        return event

    def stop(self, kind: str, message: str, status: str) -> ErrorEvent:
        return ErrorEvent(kind, message, self.result("", status, message))

    def paused(self, pending: list[PendingCall]) -> ApprovalRequired:
        asks = all(p.question is not None for p in pending)
        result = self.result("", "needs_input" if asks else "needs_approval")
        result.pending = pending
        return ApprovalRequired(pending, result)


#: a write the session refused: something else wrote to it since this run read it
CONFLICT = "the conversation changed while this run was going (another run writes to it): this run stopped"

#: a model turn that brought nothing: no text, no call, no finish reason (a backend that ended
#: without a word): an error, never an empty answer (an empty answer comes with its "stop")
EMPTY_REPLY = "the model sent an empty reply (no text, no tool call and no finish reason): no answer came"


class StopRun(Exception):
    """A driver's effect failed in a way that ends the run (the model server, say)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind, self.message = kind, message
