"""One question's loop, written once, without I/O: render -> generate -> parse -> execute ->
record, as a plain generator that yields events for the caller and *effects* for its driver
(load the session, record items, generate a model turn, run tool calls). One driver
(``runner.Drive``) runs it for ``run``, ``stream``, ``arun`` and ``astream``.

What a run does is in its session before it happens: a reply's calls are recorded before they
run, their results when they end, and calls a person must approve are recorded as pending and
the run stops (``ApprovalRequired``). ``resumption.resume`` goes on from the session alone.
"""

from __future__ import annotations

import json
import time
from collections.abc import Generator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any
from typing import Protocol as Interface

from . import approval, controls
from .context import fit
from .errors import UsageError
from .events import ApprovalRequired, ContextTrimmed, ErrorEvent, Event, FinalAnswer, Progress, ToolResultEvent, TurnEnd
from .llms.base import Chunk
from .messages import ActionReturn, ActionStatus, Message, ResultItem, ToolCall
from .protocols.base import ParsedReply
from .request import Request
from .results import PendingCall, RunResult, Step

if TYPE_CHECKING:
    from .actions.executor import ActionExecutor
    from .actions.tooldefs import ToolSet
    from .llms.base import LLM, GenerationConfig
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
    _protocol: Protocol | None  # the dialect, once resolved (else the driver resolves it)

    def grammar(self, protocol: Protocol, tool_choice: str, toolset: ToolSet | None = None) -> str | None: ...


# -- effects: what the engine asks its driver to do -------------------------------------------
NO_RECORDS: Mapping[str, Message] = MappingProxyType({})


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
        if chunk.finish_reason:
            self.finish = chunk.finish_reason
        if self.ttft is None and (chunk.text or chunk.thinking or chunk.tool_calls):
            self.ttft = time.perf_counter() - self.start
        text = chunk.text
        if text and not (chunk.progress or chunk.thinking or chunk.tool_calls or chunk.usage):
            return self.parser.feed(text)  # the common chunk: only text
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
    what the driver wrote, by call id (a write the session refused stops the run)."""

    __slots__ = ("calls", "recorded", "said")

    def __init__(self, calls: list[ToolCall], said: Message | None = None) -> None:
        self.calls, self.said = calls, said
        self.recorded: Mapping[str, Message] = NO_RECORDS


def tool_message(executor: ActionExecutor, call: ToolCall, ret: ActionReturn) -> Message:
    """A call's result as the session keeps it and the model reads it."""
    return Message("tool", executor.format_result(ret), name=ret.name or call.name, tool_call_id=call.id, result=ret)


Effect = Load | ResolveProtocol | Record | Generate | Execute
EFFECTS = frozenset({Load, ResolveProtocol, Record, Generate, Execute})
Steps = Generator["Event | Effect", Any, None]
LOAD, RESOLVE_PROTOCOL = Load(), ResolveProtocol()  # no fields: one of each serves every run


@dataclass(slots=True)
class RunState:
    history: list[Message]  # the session's items, then this run's
    first_new: int
    start: float
    steps: list[Step] = field(default_factory=list)
    usage: dict[str, int] = field(default_factory=dict)
    failures: int = 0
    done: dict[str, ActionReturn] = field(default_factory=dict)  # calls that succeeded this question
    failed: set[str] = field(default_factory=set)  # calls that failed this question
    must_answer: bool = False
    call_pending: bool = False  # tool_choice "required" and no call has run yet
    repeated: list[bool] = field(default_factory=list)  # per result of the last turn: a failed call again
    always: frozenset[str] = controls.NO_TOOLS  # tools a person approved for the rest of the conversation
    recorded: Mapping[str, Message] = field(default_factory=dict)  # the last results the driver recorded, by id
    unsaved: list[Message] | None = None  # to record with the next model turn (the question)

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

    def paused(self, pending: list[PendingCall]) -> ApprovalRequired:
        result = self.result("", "needs_approval")
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


def question(agent: Settings, query: str | Message, events: bool = True) -> Steps:
    """The loop for one question. Drivers send back each effect's value, or throw StopRun.
    Without ``events`` (``Agent.run``: only the result is wanted) the only event is the last."""
    start = time.perf_counter()
    items: list[Message] = yield LOAD
    if items:  # a conversation goes on: not while calls wait or were cut off
        why = controls.blocked(items)
        if why is not None:
            raise UsageError(why)
        history, always = controls.conversation(items)
        run = RunState(list(history), len(history), start, always=always)
    else:
        run = RunState([], 0, start)
    run.call_pending = agent.tool_choice == "required"
    q = query if isinstance(query, Message) else Message("user", query)
    run.history.append(q)
    run.unsaved = [q]  # recorded before the model is asked (with its turn: one write)
    try:
        protocol = agent._protocol
        if protocol is None:  # not resolved yet (``auto`` may ask the server)
            protocol = yield RESOLVE_PROTOCOL
        yield from turns(agent, protocol, run, 0, events)
    except StopRun as stop:  # the model server failed to resolve the dialect, or a write was refused
        yield run.stop(stop.kind, stop.message, "error")


def turns(agent: Settings, protocol: Protocol, run: RunState, first_turn: int, events: bool) -> Steps:
    """Model turns until an answer, a pause, or a limit."""
    for turn in range(first_turn, agent.max_turns):
        # "required" holds until a call has run; then the model may answer
        tool_choice = (
            "required" if run.call_pending else "auto" if agent.tool_choice == "required" else agent.tool_choice
        )
        made = yield from model_turn(agent, protocol, run, tool_choice, agent.executor.tool_set(), events)
        if type(made) is ErrorEvent:
            yield made
            return
        request, state, parsed, calls = made  # type: ignore[misc]
        if not calls and tool_choice == "required" and len(agent.executor):
            # the server did not enforce it: the reply goes back to the model as a missing call
            calls = [ToolCall("", {}, raw="", error="a tool call is required here and the reply made none")]
        said = Message("assistant", parsed.text, calls, thinking=parsed.thinking or None)
        step = Step(parsed.text, calls, [], parsed.thinking, 0.0, state.ttft)
        run.steps.append(step)
        if not calls:
            run.history.append(said)
            yield Record([said])
            step.elapsed = time.perf_counter() - state.start
            if events:
                yield TurnEnd(turn + 1, step.elapsed, state.ttft, dict(run.usage), request)
            if state.finish == "length":  # never a short answer reported as complete
                note = "the answer was cut off at the model's token limit (raise max_tokens)"
                yield FinalAnswer(parsed.text, run.result(parsed.text, "truncated", note))
            else:
                yield FinalAnswer(parsed.text, run.result(parsed.text))
            return
        if len(calls) > 1:
            controls.distinct_ids(calls)
        if agent.approvals or agent.executor.gated:
            gated = gate(agent, run, calls)
            if gated:
                pending = yield from pause(agent, protocol, run, said, gated, step, events)
                step.elapsed = time.perf_counter() - state.start
                if events:
                    yield TurnEnd(turn + 1, step.elapsed, state.ttft, dict(run.usage), request)
                yield run.paused(pending)
                return
        run.history.append(said)
        # the calls recorded before they run, with who runs them; their results as each ends
        results = yield from execute(agent, protocol, run, calls, controls.running(said))
        rec = run.recorded
        if len(rec) == len(calls):  # the common turn: the driver recorded every result
            tool_msgs = [rec[c.id] for c in calls]
            run.recorded = NO_RECORDS
        else:
            tool_msgs = [
                rec.get(c.id) or tool_message(agent.executor, c, r) for c, r in zip(calls, results, strict=True)
            ]
            yield from unrecorded(run, tool_msgs)
        step.results.extend(results)
        run.history.extend(tool_msgs)
        step.elapsed = time.perf_counter() - state.start
        if events:
            for call, ret in zip(calls, results, strict=True):
                yield ToolResultEvent(call, ret)
            yield TurnEnd(turn + 1, step.elapsed, state.ttft, dict(run.usage), request)
        stop_ev = failure_budget(agent, results, run)
        if stop_ev is not None:
            yield stop_ev
            return
    msg = f"stopped after {agent.max_turns} model turns without a final answer (raise max_turns, or ask more narrowly)"
    yield run.stop("max_turns", msg, "max_turns")


def answered(
    agent: Settings, run: RunState, calls: list[ToolCall], results: list[ActionReturn], step: Step, events: bool
) -> Steps:
    """Record calls' results (in the session, the history, the step) and pass them on."""
    rec = run.recorded
    tool_msgs = [rec.get(c.id) or tool_message(agent.executor, c, r) for c, r in zip(calls, results, strict=True)]
    step.results.extend(results)
    run.history.extend(tool_msgs)
    yield from unrecorded(run, tool_msgs)
    if events:
        for call, ret in zip(calls, results, strict=True):
            yield ToolResultEvent(call, ret)


def unrecorded(run: RunState, tool_msgs: list[Message]) -> Steps:
    """Record the results the driver has not (it records those of the calls it ran)."""
    rest = [m for m in tool_msgs if m.tool_call_id not in run.recorded] if run.recorded else tool_msgs
    run.recorded = NO_RECORDS
    if rest:
        yield Record(rest)


def gate(agent: Settings, run: RunState, calls: list[ToolCall]) -> list[tuple[ToolCall, dict[str, Any]]]:
    """The calls a person must approve first, each with the arguments it would run with. A call
    that would not run at all (unreadable, an unknown tool, arguments that do not fit) needs no
    approval: the model is told why it failed, and nothing ran."""
    out = []
    for c in calls:
        if c.error is None and call_key(c) not in run.done and needs_approval(agent, c, run.always):
            runs_with = agent.executor.runs_with(c.name, c.arguments)
            if runs_with is not None:
                out.append((c, runs_with))
    return out


def pause(
    agent: Settings,
    protocol: Protocol,
    run: RunState,
    said: Message,
    gated: list[tuple[ToolCall, dict[str, Any]]],
    step: Step,
    events: bool,
) -> Generator[Any, Any, list[PendingCall]]:
    """Stop before ``gated`` calls: record them as pending together with the reply (the session
    alone is enough to go on), and run the reply's other calls. A pending call shows what it
    would run with (validated, defaults filled in), which the resume checks again."""
    controls.fresh_ids([c for c, _ in gated], run.history)
    pending = [PendingCall(c.id, tool_name(agent, c), runs_with) for c, runs_with in gated]
    run.history.append(said)
    others = [c for c in said.tool_calls if all(c is not g for g, _ in gated)]
    asked = [c.arguments for c, _ in gated]
    yield Record([controls.running(said) if others else said, controls.pending_item(pending, asked)])
    if others:
        results = yield from execute(agent, protocol, run, others)
        yield from answered(agent, run, others, results, step, events)
    return pending


def needs_approval(agent: Settings, call: ToolCall, always: frozenset[str]) -> bool:
    return approval.needs_approval(agent.executor, agent.approvals, call, always)


def tool_name(agent: Settings, call: ToolCall) -> str:
    api = agent.executor.resolve(call.name)
    return api.name if api is not None else call.name


def model_turn(
    agent: Settings, protocol: Protocol, run: RunState, tool_choice: str, toolset: ToolSet, events: bool
) -> Generator[Any, Any, tuple[Request, Generate, ParsedReply, list[ToolCall]] | ErrorEvent]:
    """One model turn, made one way for every run and recorded turn: the request fitted to the
    context, the reply streamed and parsed, a call the token limit cut made unreadable. Returns the
    turn (request, Generate, parsed reply, calls), or the ErrorEvent that ends the run (the model server failed, an empty reply)."""
    request, trimmed = render(agent, protocol, run, tool_choice, toolset)
    if trimmed is not None and events:
        yield trimmed
    state = Generate(request, protocol.new_parser(toolset), time.perf_counter(), run.usage, run.unsaved)
    run.unsaved = None
    try:
        yield state
    except StopRun as stop:
        return run.stop(stop.kind, stop.message, "error")
    if state.finish is None and state.ttft is None:  # not a word, not even a finish reason
        return run.stop("llm", EMPTY_REPLY, "error")
    last = state.parser.finish()
    if events:
        yield from last
    parsed: ParsedReply = state.parser.result()
    calls = parsed.calls if tool_choice != "none" else []
    if calls and state.finish == "length" and parsed.open_call:
        calls = [*calls[:-1], cut_off(calls[-1])]  # never run a call the token limit cut
    return request, state, parsed, calls


def recorded_turn(agent: Settings, history: list[Message], toolset: ToolSet) -> Steps:
    """One model turn whose calls are recorded, not executed (tools known only by their schemas:
    BFCL cases, batch rows with their own ``tools``). The last event is FinalAnswer, whose result's
    one step holds the calls (unreadable ones with their error), or ErrorEvent."""
    run = RunState(list(history), len(history), time.perf_counter())
    try:
        protocol: Protocol = yield RESOLVE_PROTOCOL
    except StopRun as stop:
        yield run.stop(stop.kind, stop.message, "error")
        return
    made = yield from model_turn(agent, protocol, run, agent.tool_choice, toolset, True)
    if type(made) is ErrorEvent:
        yield made
        return
    _, state, parsed, calls = made  # type: ignore[misc]
    text = parsed.text
    run.steps.append(Step(text, calls, [], parsed.thinking, time.perf_counter() - state.start, state.ttft))
    if state.finish == "length" and not calls:
        yield FinalAnswer(text, run.result(text, "truncated", "the answer was cut off at the model's token limit"))
    else:
        yield FinalAnswer(text, run.result(text))


def render(
    agent: Settings, protocol: Protocol, run: RunState, tool_choice: str, toolset: ToolSet
) -> tuple[Request, ContextTrimmed | None]:
    """The request for this turn, fitted to the model's context; the grammar where decoding is
    constrained."""
    tools = toolset if tool_choice != "none" else None  # the dialect sees definitions only
    history, trimmed = run.history, None
    budget = agent.context_tokens or agent.llm.context_tokens
    if budget:
        room = budget - (agent.config.max_tokens or 0)

        def count(items: list[Message]) -> int:
            return agent.llm.count_tokens(protocol.render(items, tools, tool_choice))

        history, turns, items = fit(run.history, count, room)
        if turns:
            trimmed = ContextTrimmed(turns, items, budget)
    request = protocol.render(history, tools, tool_choice)
    if agent.llm.supports_grammar and agent.constrain_calls:
        request.grammar = agent.grammar(protocol, "answer" if run.must_answer else tool_choice, toolset)
    return request, trimmed


def execute(
    agent: Settings, protocol: Protocol, run: RunState, calls: list[ToolCall], said: Message | None = None
) -> Generator[Any, Any, list[ActionReturn]]:
    """Results for the reply's calls (``said``, where given, is recorded first). Unreadable calls
    and repeats are answered here (a model that repeats a call it already made is told so, and
    where decoding is constrained its next turn must answer); the rest go to the driver, which
    runs several at once concurrently and records the results it got (``run.recorded``)."""
    keys = [call_key(c) for c in calls]
    if len(calls) == 1 and calls[0].error is None and keys[0] not in run.done:  # the common case
        ex = Execute(calls, said)
        ran: list[ActionReturn] = yield ex
        run.recorded = ex.recorded
        r = ran[0]
        run.must_answer = False
        if r.ok:
            run.done[keys[0]] = r
            run.call_pending = False
            run.repeated = [False]
        else:
            run.repeated = [keys[0] in run.failed]
            run.failed.add(keys[0])
        return ran
    run.must_answer = all(c.error is None and k in run.done for c, k in zip(calls, keys, strict=True))
    results: list[ActionReturn | None] = []
    todo: list[ToolCall] = []
    for call, key in zip(calls, keys, strict=True):
        if call.error is not None:
            status = (
                ActionStatus.ARGS_ERROR if call.name and call.name in agent.executor else ActionStatus.INVALID_ACTION
            )
            error = f"your tool call could not be read: {call.error}. Write it exactly as: {protocol.call_format_hint}"
            results.append(ActionReturn(call.name, {}, status, error=error, call_id=call.id))
        elif key in run.done:
            note = f"You already called {call.name} with these arguments; its result is above. Use it to answer now."
            done = run.done[key]
            results.append(
                ActionReturn(done.name, call.arguments, ActionStatus.SUCCESS, [ResultItem.text(note)], call_id=call.id)
            )
        else:
            results.append(None)
            todo.append(call)
    if todo:
        ex = Execute(todo, said)
        ran = yield ex
        run.recorded = ex.recorded
    else:
        if said is not None:
            yield Record([said])
        ran = []
    it = iter(ran)
    out: list[ActionReturn] = []
    run.repeated = []
    for key, known in zip(keys, results, strict=True):
        again = False
        r = known if known is not None else next(it)
        if known is None:
            if r.ok:
                run.done[key] = r
                run.call_pending = False
            elif key in run.failed:
                again = True
            else:
                run.failed.add(key)
        out.append(r)
        run.repeated.append(again)
    return out


def cut_off(call: ToolCall) -> ToolCall:
    """The call the token limit cut, as one that could not be read: the model is told to retry."""
    why = "the reply was cut off at the token limit before this call was complete; write it again, shorter"
    return ToolCall(call.name, {}, id=call.id, raw=call.raw, kind=call.kind, error=why)


def failure_budget(agent: Settings, results: list[ActionReturn], run: RunState) -> ErrorEvent | None:
    """Turns whose calls all failed, in a row: calls the model got wrong, and calls it repeats
    though they already failed (a tool that keeps failing). At the budget the run ends with the
    last error, the tool's own."""
    if len(results) == 1:
        failed = caller_error(results[0].status) or run.repeated[0]
    else:
        failed = all(caller_error(r.status) or again for r, again in zip(results, run.repeated, strict=True))
    if not failed:
        run.failures = 0
        return None
    run.failures += 1
    if run.failures < agent.max_call_errors:
        return None
    last = results[-1]
    error = " ".join(str(last.error).split())  # one line (a dialect's call format spans several)
    if caller_error(last.status):
        msg = f"the model's calls failed {run.failures} turns in a row; last error: {error}"
    else:
        msg = f"{last.name} kept failing ({run.failures} turns in a row, the same call): {error}"
    return run.stop("call_errors", msg, "call_errors")


def caller_error(status: ActionStatus) -> bool:
    """Did the model get the call wrong? (identity checks: an Enum's hash runs Python code)"""
    return status is ActionStatus.ARGS_ERROR or status is ActionStatus.INVALID_ACTION


_KEY_ENCODER = json.JSONEncoder(sort_keys=True, default=str)


def call_key(call: ToolCall) -> str:
    args = call.arguments
    return f"{call.name}\x00{_KEY_ENCODER.encode(args) if args else '{}'}"
