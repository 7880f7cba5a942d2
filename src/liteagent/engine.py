"""One question's loop, written once, without I/O: render -> generate -> parse -> execute ->
record, as a plain generator that yields events for the caller and *effects* for its driver
(load the session, record items, generate a model turn, run tool calls; ``effects``). One driver
(``runner.Drive``) runs it for ``run``, ``stream``, ``arun`` and ``astream``.

What a run does is in its session before it happens: a reply's calls are recorded before they
run, their results when they end, and calls a person must approve are recorded as pending and
the run stops (``ApprovalRequired``). ``resumption.resume`` goes on from the session alone.
A typed agent's answers are read and checked in ``answers``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Generator, Mapping
from typing import TYPE_CHECKING, Any

from . import answers, approval, controls
from .call_rules import call_decision, call_ends
from .context import fit
from .effects import (
    CONFLICT,
    EFFECTS,
    EMPTY_REPLY,
    LOAD,
    NO_RECORDS,
    RESOLVE_PROTOCOL,
    Effect,
    Execute,
    Generate,
    Load,
    Record,
    ResolveProtocol,
    RunState,
    Settings,
    Steps,
    StopRun,
    settled,
    tool_message,
)
from .errors import UsageError
from .events import ContextTrimmed, ErrorEvent, FinalAnswer, ToolResultEvent, TurnEnd
from .messages import ActionReturn, ActionStatus, Message, ResultItem, ToolCall
from .notes import REPEAT_NOTE, echoed_note
from .protocols.base import ParsedReply, ParseEvent
from .results import PendingCall, Step

#: module names for the members the loop compares with on every turn (an Enum member read off
#: its class goes through EnumType's ``__getattr__`` hook: some twenty times a global's cost)
_SUCCESS, _ARGS_ERROR, _INVALID_ACTION, _NEEDS_INPUT = (
    ActionStatus.SUCCESS,
    ActionStatus.ARGS_ERROR,
    ActionStatus.INVALID_ACTION,
    ActionStatus.NEEDS_INPUT,
)

if TYPE_CHECKING:
    from .actions.tooldefs import ToolSet
    from .output import OutputSpec
    from .protocols import Protocol

__all__ = [
    "CONFLICT",
    "EFFECTS",
    "EMPTY_REPLY",
    "LOAD",
    "NO_RECORDS",
    "RESOLVE_PROTOCOL",
    "Effect",
    "Execute",
    "Generate",
    "Load",
    "Record",
    "ResolveProtocol",
    "RunState",
    "Settings",
    "Steps",
    "StopRun",
    "question",
    "recorded_turn",
    "tool_message",
    "turns",
]


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
        run = RunState(list(history), len(history), start, always=always, spec=agent.output)
    else:
        run = RunState([], 0, start, spec=agent.output)
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
    spec = run.spec
    if spec is not None:
        protocol = answers.prompted(protocol, spec)
    known: dict[str, ActionReturn] | None = None
    limits = agent.usage_limits
    for turn in range(first_turn, agent.max_turns):
        if limits is not None:
            why = limits.before_model(run.usage, len(run.steps))
            if why is not None:
                yield run.stop("usage_limit", why, "usage_limit")
                return
        # "required" holds until a call has run; then the model may answer
        tool_choice = (
            "required" if run.call_pending else "auto" if agent.tool_choice == "required" else agent.tool_choice
        )
        toolset = agent.executor.tool_set()
        asked: OutputSpec | None = None  # a turn that asks for the answer alone (native mode)
        if spec is not None:
            toolset, tool_choice, asked = answers.offer(agent, spec, run, toolset, tool_choice)
        state, trimmed = ask(agent, protocol, run, tool_choice, toolset, events, asked)
        if trimmed is not None and events:
            yield trimmed
            state.start = time.perf_counter()  # the turn starts once that is passed on
        try:
            yield state  # the driver streams the model's reply into it
        except StopRun as stop:  # the model server failed
            yield run.stop(stop.kind, stop.message, "error")
            return
        made = reply(run, state, tool_choice)
        if type(made) is ErrorEvent:
            yield made
            return
        parsed, calls, last = made  # type: ignore[misc]
        if events:
            yield from last
        request = state.request
        if spec is not None:
            verdict, known = yield from answers.take(
                agent, spec, run, toolset, request, state, parsed, calls, turn, events
            )
            if verdict is not None:
                if verdict is not answers.RETRY:
                    yield verdict
                    return
                continue
        if not calls and tool_choice == "required" and len(agent.executor):
            # the server did not enforce it: the reply goes back to the model as a missing call
            calls = [ToolCall("", {}, raw="", error="a tool call is required here and the reply made none")]
        said = Message("assistant", parsed.text, calls, None, None, parsed.thinking or None)
        step = Step(parsed.text, calls, [], parsed.thinking, 0.0, state.ttft)
        run.steps.append(step)
        if not calls:
            run.history.append(said)
            yield Record([said])
            step.elapsed = time.perf_counter() - state.start
            if events:
                yield TurnEnd(turn + 1, step.elapsed, state.ttft, dict(run.usage), request)
            if state.finish == "length":  # never a short answer reported as complete
                note = "the answer was cut off at the model's token limit (raise max_tokens: --max-tokens on the command line)"
                yield FinalAnswer(parsed.text, run.result(parsed.text, "truncated", note))
            elif run.steps[0] is not step and (echo := echoed_note(parsed.text, run)) is not None:
                yield FinalAnswer(parsed.text, run.result(parsed.text, "no_answer", echo))
            else:
                yield FinalAnswer(parsed.text, run.result(parsed.text))
            return
        if len(calls) > 1:
            controls.distinct_ids(calls)
        if limits is not None:
            would_run = sum(1 for c in calls if c.error is None and call_key(c) not in run.done)  # not repeats
            why = limits.before_tools(run.tool_calls, would_run)
            if why is not None:  # recorded with each call refused: the conversation stays whole
                yield from refused(agent, run, said, calls, step, why, events)
                yield run.stop("usage_limit", why, "usage_limit")
                return
        if agent.approvals or agent.executor.gated:
            gated = gate(agent, run, calls, known)
            if gated:
                pending = yield from pause(agent, protocol, run, said, gated, step, events, known)
                step.elapsed = time.perf_counter() - state.start
                if events:
                    yield TurnEnd(turn + 1, step.elapsed, state.ttft, dict(run.usage), request)
                yield run.paused(pending)
                return
        run.history.append(said)
        # the calls recorded before they run, with who runs them; their results as each ends
        controls.running(said)
        lone = lone_call(run, calls, said, known)
        if lone is not None:  # the common turn: one call, to run
            results = yield lone[0]
            lone_ran(run, lone[0], lone[1], results)
        else:
            results = yield from execute(agent, protocol, run, calls, said, known)
        rec = run.recorded
        if len(rec) == len(calls):  # the common turn: the driver recorded every result
            tool_msgs = [rec[calls[0].id]] if len(calls) == 1 else [rec[c.id] for c in calls]
            run.recorded = NO_RECORDS
        elif any(r.status is _NEEDS_INPUT for r in results):  # a tool asked a person
            waiting = yield from questions(agent, run, calls, results, step, events)
            step.elapsed = time.perf_counter() - state.start
            if events:
                yield TurnEnd(turn + 1, step.elapsed, state.ttft, dict(run.usage), request)
            yield run.paused(waiting)
            return
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
        # an invalid final answer alone spends the output's retries, not the call errors' budget
        if not known or len(known) < len(calls):
            if len(results) == 1 and results[0].status is _SUCCESS:  # (failure_budget's common case)
                run.failures = 0
            else:
                stop_ev = failure_budget(agent, results, run)
                if stop_ev is not None:
                    yield stop_ev
                    return
    msg = f"stopped after {agent.max_turns} model turns without a final answer (raise max_turns, or ask more narrowly)"
    yield run.stop("max_turns", msg, "max_turns")


def refused(
    agent: Settings, run: RunState, said: Message, calls: list[ToolCall], step: Step, why: str, events: bool
) -> Steps:
    """Record the reply with each call answered as not run (a usage limit stopped the run)."""
    rets = [
        ActionReturn(c.name, c.arguments, ActionStatus.REJECTED, error=f"not run: {why}", call_id=c.id) for c in calls
    ]
    yield from settled(agent, run, said, calls, rets, step, events)


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


def questions(
    agent: Settings, run: RunState, calls: list[ToolCall], results: list[ActionReturn], step: Step, events: bool
) -> Generator[Any, Any, list[PendingCall]]:
    """A turn in which tools asked a person who answers later: the other calls' results recorded
    and passed on as usual; returns the questions (recorded as pending by the driver)."""
    done = [(c, r) for c, r in zip(calls, results, strict=True) if r.status is not ActionStatus.NEEDS_INPUT]
    if done:
        yield from answered(agent, run, [c for c, _ in done], [r for _, r in done], step, events)
    else:
        run.recorded = NO_RECORDS
    return [asking(c, r) for c, r in zip(calls, results, strict=True) if r.status is ActionStatus.NEEDS_INPUT]


def asking(call: ToolCall, ret: ActionReturn) -> PendingCall:
    """The pending question of a call that returned NEEDS_INPUT (as ``controls.question_item``
    recorded it)."""
    asked = ret.result[0].content
    question = {"message": asked["message"], "schema": asked["schema"]}
    return PendingCall(call.id, ret.name or call.name, call.arguments, question, list(asked["answers"]))


def unrecorded(run: RunState, tool_msgs: list[Message]) -> Steps:
    """Record the results the driver has not (it records those of the calls it ran)."""
    rest = [m for m in tool_msgs if m.tool_call_id not in run.recorded] if run.recorded else tool_msgs
    run.recorded = NO_RECORDS
    if rest:
        yield Record(rest)


def gate(
    agent: Settings, run: RunState, calls: list[ToolCall], known: Mapping[str, ActionReturn] | None = None
) -> list[tuple[ToolCall, dict[str, Any]]]:
    """The calls a person must approve first, each with the arguments it would run with. A call
    that would not run at all (unreadable, an unknown tool, arguments that do not fit, one
    answered here) needs no approval: the model is told why it failed, and nothing ran."""
    out = []
    for c in calls:
        if known and c.id in known:
            continue
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
    known: Mapping[str, ActionReturn] | None = None,
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
        results = yield from execute(agent, protocol, run, others, None, known)
        pending += yield from questions(agent, run, others, results, step, events)
    return pending


def needs_approval(agent: Settings, call: ToolCall, always: frozenset[str]) -> bool:
    return approval.needs_approval(agent.executor, agent.approvals, call, always)


def tool_name(agent: Settings, call: ToolCall) -> str:
    api = agent.executor.resolve(call.name)
    return api.name if api is not None else call.name


def ask(
    agent: Settings,
    protocol: Protocol,
    run: RunState,
    tool_choice: str,
    toolset: ToolSet,
    events: bool,
    asked: OutputSpec | None = None,
) -> tuple[Generate, ContextTrimmed | None]:
    """A model turn's effect, made one way for every run and recorded turn: the request fitted
    to the model's context (and what the fitting left out: an event), the grammar where decoding
    is constrained, a parser for the reply (without ``events`` it makes none). ``asked`` (native
    mode, no tools offered): the answer's ``response_format``, and its grammar. The caller yields
    the effect, then reads the reply with :func:`reply`."""
    tools = toolset if tool_choice != "none" else None  # the dialect sees definitions only
    history, trimmed = run.history, None
    llm = agent.llm
    budget = agent.context_tokens or llm.context_tokens
    if budget:
        room = budget - (agent.config.max_tokens or 0)

        def count(items: list[Message]) -> int:
            return llm.count_tokens(protocol.render(items, tools, tool_choice))

        history, turns, items = fit(run.history, count, room)
        if turns:
            trimmed = ContextTrimmed(turns, items, budget)
    request = protocol.render(history, tools, tool_choice)
    if asked is not None:
        request.extra["response_format"] = asked.response_format()
        if llm.supports_grammar and agent.constrain_calls:
            request.grammar = asked.value_grammar()
    elif llm.supports_grammar and agent.constrain_calls:
        choice = "answer" if run.must_answer else tool_choice
        if run.spec is not None and run.spec.mode == "tool":  # a call, the final answer's at least
            run.spec.check_grammar()
            choice = tool_choice
        request.grammar = agent.grammar(protocol, choice, toolset)
        # the question's first turn (as calibrated): after a result the model's own reply decides
        if choice == "auto" and run.spec is None and tools is not None and len(toolset) and not run.steps:
            request.decide = call_decision(agent, protocol, toolset)
        elif choice == "required" and request.grammar is not None:
            request.call_ends = call_ends(agent, protocol, toolset)
    parser = protocol.new_parser(toolset)
    if not events and hasattr(parser, "quiet"):  # a StreamParser
        parser.quiet = True  # nobody reads its events
    state = Generate(request, parser, time.perf_counter(), run.usage, run.unsaved)
    run.unsaved = None
    return state, trimmed


def reply(
    run: RunState, state: Generate, tool_choice: str
) -> tuple[ParsedReply, list[ToolCall], list[ParseEvent]] | ErrorEvent:
    """The reply the driver streamed into ``state``, read: (the parsed reply, its calls, the
    parser's last events), a call the token limit cut made unreadable; or the ErrorEvent that
    ends the run (an empty reply)."""
    if state.finish is None and state.ttft is None:  # not a word, not even a finish reason
        return run.stop("llm", EMPTY_REPLY, "error")
    parser = state.parser
    last = parser.finish()
    parsed: ParsedReply = parser.result()
    calls = parsed.calls if tool_choice != "none" else []
    if calls and state.finish == "length" and parsed.open_call:
        calls = [*calls[:-1], cut_off(calls[-1])]  # never run a call the token limit cut
    return parsed, calls, last


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
    state, trimmed = ask(agent, protocol, run, agent.tool_choice, toolset, True)
    if trimmed is not None:
        yield trimmed
        state.start = time.perf_counter()
    try:
        yield state
    except StopRun as stop:
        yield run.stop(stop.kind, stop.message, "error")
        return
    made = reply(run, state, agent.tool_choice)
    if type(made) is ErrorEvent:
        yield made
        return
    parsed, calls, last = made  # type: ignore[misc]
    yield from last
    text = parsed.text
    run.steps.append(Step(text, calls, [], parsed.thinking, time.perf_counter() - state.start, state.ttft))
    if state.finish == "length" and not calls:
        yield FinalAnswer(text, run.result(text, "truncated", "the answer was cut off at the model's token limit"))
    else:
        yield FinalAnswer(text, run.result(text))


def execute(
    agent: Settings,
    protocol: Protocol,
    run: RunState,
    calls: list[ToolCall],
    said: Message | None = None,
    known: Mapping[str, ActionReturn] | None = None,
) -> Generator[Any, Any, list[ActionReturn]]:
    """Results for the reply's calls (``said``, where given, is recorded first). Unreadable calls
    and repeats are answered here (a model that repeats a call it already made is told so, and
    where decoding is constrained its next turn must answer), and those in ``known`` (by call id:
    a typed agent's final answer, checked, not run); the rest go to the driver, which runs several
    at once concurrently and records the results it got (``run.recorded``)."""
    lone = lone_call(run, calls, said, known)
    if lone is not None:  # the common case
        ran: list[ActionReturn] = yield lone[0]
        lone_ran(run, lone[0], lone[1], ran)
        return ran
    keys = [call_key(c) for c in calls]
    run.must_answer = all(c.error is None and k in run.done for c, k in zip(calls, keys, strict=True)) and not known
    results: list[ActionReturn | None] = []
    todo: list[ToolCall] = []
    for call, key in zip(calls, keys, strict=True):
        if known and call.id in known:
            results.append(known[call.id])
        elif call.error is not None:
            status = (
                ActionStatus.ARGS_ERROR if call.name and call.name in agent.executor else ActionStatus.INVALID_ACTION
            )
            error = f"your tool call could not be read: {call.error}. Write it exactly as: {protocol.call_format_hint}"
            results.append(ActionReturn(call.name, {}, status, error=error, call_id=call.id))
        elif key in run.done:
            note = REPEAT_NOTE.format(name=call.name)
            done = run.done[key]
            results.append(
                ActionReturn(done.name, call.arguments, ActionStatus.SUCCESS, [ResultItem.text(note)], call_id=call.id)
            )
        else:
            results.append(None)
            todo.append(call)
    if todo:
        run.tool_calls += len(todo)
        ex = Execute(todo, said, run.answers)
        ran = yield ex
        run.recorded = ex.recorded
    else:
        if said is not None:
            yield Record([said])
        ran = []
    it = iter(ran)
    out: list[ActionReturn] = []
    run.repeated = []
    for key, answered_here in zip(keys, results, strict=True):
        again = False
        r = answered_here if answered_here is not None else next(it)
        if answered_here is None:
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


def lone_call(
    run: RunState, calls: list[ToolCall], said: Message | None, known: Mapping[str, ActionReturn] | None
) -> tuple[Execute, str] | None:
    """The effect that runs a reply's one call, and the call's key, where it simply runs
    (well-formed, not a repeat, not answered here: the common turn); None otherwise."""
    if len(calls) != 1 or known:
        return None
    call = calls[0]
    if call.error is not None:
        return None
    key = call_key(call)
    if key in run.done:
        return None
    run.tool_calls += 1
    return Execute(calls, said, run.answers), key


def lone_ran(run: RunState, ex: Execute, key: str, ran: list[ActionReturn]) -> None:
    """The run's state after :func:`lone_call`'s call ran (``ran``: its one result)."""
    run.recorded = ex.recorded
    r = ran[0]
    run.must_answer = False
    if r.status is _SUCCESS:
        run.done[key] = r
        run.call_pending = False
        run.repeated = [False]
    else:
        run.repeated = [key in run.failed]
        run.failed.add(key)


def cut_off(call: ToolCall) -> ToolCall:
    """The call the token limit cut, as one that could not be read: the model is told to retry."""
    why = "the reply was cut off at the token limit before this call was complete; write it again, shorter"
    return ToolCall(call.name, {}, id=call.id, raw=call.raw, kind=call.kind, error=why)


def failure_budget(agent: Settings, results: list[ActionReturn], run: RunState) -> ErrorEvent | None:
    """Turns whose calls all failed, in a row: calls the model got wrong, and calls it repeats
    though they already failed (a tool that keeps failing). At the budget the run ends with the
    last error, the tool's own."""
    if len(results) == 1:
        status = results[0].status
        failed = status is _ARGS_ERROR or status is _INVALID_ACTION or run.repeated[0]
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
    return status is _ARGS_ERROR or status is _INVALID_ACTION


_KEY_ENCODER = json.JSONEncoder(sort_keys=True, default=str)


def call_key(call: ToolCall) -> str:
    args = call.arguments
    return f"{call.name}\x00{_KEY_ENCODER.encode(args) if args else '{}'}"
