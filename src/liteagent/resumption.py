"""Going on with a run from its session alone: after a pause for approval, or after the process
that ran it was killed (during a tool, during the model's reply, between turns).

``resume`` reads where the run stands (``controls.tail``), checks the decisions against what
waits, claims the run (a ``resume`` control item appended only if nobody wrote since it read:
of two resumers exactly one goes on, the other gets :class:`RunConflict`), finishes the open
turn's calls and goes on with model turns as the uninterrupted run would have: the model's prompt
is the same bytes (control items are never rendered, and results are put in their calls' order).

A call whose result is recorded never runs again. A call recorded with no result started and its
outcome is unknown: it runs again only if its tool says it is idempotent, else the model reads
that it was interrupted and may not have completed.
"""

from __future__ import annotations

import time
from collections.abc import Generator
from typing import Any

from . import controls
from .actions.context import form_errors, with_defaults
from .approval import Decisions
from .engine import (
    LOAD,
    RESOLVE_PROTOCOL,
    Record,
    RunState,
    Settings,
    Steps,
    StopRun,
    answered,
    asking,
    call_key,
    caller_error,
    execute,
    failure_budget,
    turns,
)
from .errors import RunConflict, UsageError
from .messages import ActionReturn, ActionStatus, Message, ToolCall
from .results import PendingCall, Step

INTERRUPTED = (
    "the run was cut off while this call was running (its process ended): it may or may not have completed. "
    "Check its effect before calling it again."
)


def resume(agent: Settings, decisions: Decisions, events: bool = True) -> Steps:
    """The loop, going on from the session's last run (see the module's doc)."""
    start = time.perf_counter()
    items: list[Message] = yield LOAD
    t = controls.tail(items)
    always = _tool_names(agent, decisions.always)
    plan = settle(agent, t, decisions, always)
    history, before = controls.conversation(items)
    run = RunState(list(history), len(history), start, always=before | always, spec=agent.output)
    turn = replay(agent, run, history)
    approve = [cid for cid, what in plan.items() if what == "run" and cid in t.waiting and cid not in decisions.answers]
    reject = {cid: decisions.reject[cid] for cid in decisions.reject}
    given = {cid: answer for cid, answer in decisions.answers.items() if plan.get(cid) == "run"}
    if t.answers or given:  # calls that asked a person run again with the answers so far
        run.answers = {**t.answers, **{cid: [*t.waiting[cid].answers, a] for cid, a in given.items()}}
    try:  # the dialect first: a decision is written only when its calls can go on
        protocol: Any = yield RESOLVE_PROTOCOL
    except StopRun as stop:
        yield run.stop(stop.kind, stop.message, "error")
        return
    try:
        yield Record([controls.resume_item(approve, reject, sorted(always), given)])
    except StopRun:
        raise RunConflict(
            "this run was resumed or changed by another process first (its session changed since it was read): "
            "nothing was done here"
        ) from None
    try:
        if plan:  # the open turn's calls first
            ended = yield from finish(agent, protocol, run, t, plan, decisions, events)
            if ended is not None:
                yield ended
                return
        yield from turns(agent, protocol, run, turn, events)
    except StopRun as stop:  # a write the session refused
        yield run.stop(stop.kind, stop.message, "error")


def settle(agent: Settings, t: controls.Tail, d: Decisions, always: frozenset[str]) -> dict[str, str]:
    """What happens to each of the open turn's calls with no result: ``run``, ``reject``,
    ``interrupt`` or ``wait`` (still undecided). Decisions that fit nothing are errors."""
    if t.state == "done":
        raise UsageError("nothing to resume in this session: its last run ended with an answer (or it is empty)")
    if d and t.state != "needs_approval":
        raise UsageError("nothing in this session waits for a decision: resume it without approve/reject/always")
    waiting = ", ".join(t.waiting) or "none"
    for cid in [*d.approve, *d.reject, *d.answers]:
        if cid not in t.waiting:
            raise UsageError(f"call {cid!r} is not waiting for a decision (waiting: {waiting})")
    for cid in d.approve:
        if t.waiting[cid].question is not None:
            raise UsageError(
                f"call {cid!r} waits for an answer to its question, not an approval: pass answers={{id: ...}}"
            )
    for cid, answer in d.answers.items():
        check_answer(t.waiting[cid], answer)
    plan: dict[str, str] = {}
    started: list[str] = []  # tools of calls that started and have no result
    for c in t.calls:
        if c.id in t.answered:
            continue
        pending = t.waiting.get(c.id)
        if pending is not None:  # a refusal of this call wins over "always" for its tool
            if c.id in d.reject:
                plan[c.id] = "reject"
            elif pending.question is not None:  # a question: its answer runs it again
                plan[c.id] = "run" if c.id in d.answers else "wait"
            elif c.id in d.approve or pending.tool in always:
                if agent.executor.runs_with(c.name, c.arguments) != pending.arguments:
                    raise UsageError(
                        f"call {c.id!r} would now run with other arguments than the ones shown for approval "
                        "(its tool changed since?): refusing to run it"
                    )
                plan[c.id] = "run"
            else:
                plan[c.id] = "wait"
        elif c.id in t.rejected:
            plan[c.id] = "reject"
        else:  # approved before, or needed no approval: it started, and its outcome is unknown
            api = agent.executor.resolve(c.name)
            plan[c.id] = "run" if api is not None and api.spec.idempotent else "interrupt"
            started.append(c.name)
    if started:
        limits = [agent.executor.time_limit(name) for name in started]
        if controls.alive(t, None if None in limits else max(x for x in limits if x is not None)):
            raise RunConflict(
                f"this run's calls may still be running in process {t.by} (it started them at "
                f"{time.strftime('%H:%M:%S', time.localtime(t.at or 0))}): not resumed; "
                "go on when that process has ended (or its calls' time limits have passed)"
            )
    if t.waiting and all(what == "wait" for what in plan.values()):
        ids = ", ".join(f"{p.id} ({p.tool})" for p in t.pending)
        if all(p.question is not None for p in t.pending):
            raise UsageError(f"a tool's question waits for an answer: {ids}; pass answers={{id: ...}} (or reject)")
        raise UsageError(
            f"calls wait for a decision: {ids}; pass approve=[...], reject={{id: reason}} or always=[tool]"
        )
    return plan


def check_answer(pending: PendingCall, answer: dict[str, Any]) -> None:
    """An answer fits what it answers: a question's form (the form's defaults filled in first)."""
    if pending.question is None:
        raise UsageError(f"call {pending.id!r} waits for an approval, not an answer: pass approve=[...] or reject")
    action = answer.get("action")
    if action not in ("accept", "decline", "cancel"):
        raise UsageError(f"an answer's action is accept, decline or cancel, not {action!r}")
    if action == "accept":
        schema = pending.question.get("schema") or {}
        answer["content"] = with_defaults(answer.get("content") or {}, schema)
        wrong = form_errors(answer["content"], schema)
        if wrong:
            raise UsageError(f"the answer to call {pending.id!r} does not fit its form: {wrong}")


def finish(
    agent: Settings,
    protocol: Any,
    run: RunState,
    t: controls.Tail,
    plan: dict[str, str],
    d: Decisions,
    events: bool,
) -> Generator[Any, Any, Any]:
    """The open turn's calls: approved and idempotent ones run, the rest answered; returns the
    event that ends the run (calls still wait, or the failure budget is spent) or None."""
    to_run = [c for c in t.calls if plan.get(c.id) == "run"]
    ran = iter((yield from execute(agent, protocol, run, to_run)) if to_run else [])
    repeated = iter(run.repeated if to_run else [])
    calls: list[ToolCall] = []
    results: list[ActionReturn] = []
    again: list[bool] = []
    asked: dict[str, PendingCall] = {}  # calls that ran again and asked another question
    for c in t.calls:
        what = plan.get(c.id)
        if what is None or what == "wait":
            continue
        if what == "run":
            r, rep = next(ran), next(repeated)
            if r.status is ActionStatus.NEEDS_INPUT:
                asked[c.id] = t.waiting[c.id] = asking(c, r)
                continue
        elif what == "reject":
            why = d.reject.get(c.id, t.rejected.get(c.id, ""))
            error = "a person did not approve this call, so it did not run" + (f": {why}" if why else "")
            r, rep = ActionReturn(c.name, c.arguments, ActionStatus.REJECTED, error=error, call_id=c.id), False
        else:
            r, rep = ActionReturn(c.name, c.arguments, ActionStatus.INTERRUPTED, error=INTERRUPTED, call_id=c.id), False
        calls.append(c)
        results.append(r)
        again.append(rep)
    step = Step("", calls, [])
    run.steps.append(step)
    if calls:
        yield from answered(agent, run, calls, results, step, events)
        run.history = controls.in_call_order(run.history)
    still = [t.waiting[c.id] for c in t.calls if plan.get(c.id) == "wait" or c.id in asked]
    if still:
        return run.paused(still)
    if not calls:
        return None
    run.repeated = again
    return failure_budget(agent, results, run)


def replay(agent: Settings, run: RunState, history: list[Message]) -> int:
    """What the run knew when it stopped (calls done and failed, turns in a row that failed, a
    call still required), read from its items; returns the model turns it has used."""
    q = len(history) - 1
    while q >= 0 and history[q].role != "user":
        q -= 1
    run.call_pending = agent.tool_choice == "required"
    turns = 0
    results: dict[str, ActionReturn] = {}
    for m in history[q + 1 :]:
        if m.role == "tool" and m.result is not None:
            results[m.tool_call_id or ""] = m.result
    for m in history[q + 1 :]:
        if m.role != "assistant":
            continue
        turns += 1
        failed_all, complete = True, True
        for c in m.tool_calls:
            r = results.get(c.id)
            if r is None:
                complete = False
                continue
            key = call_key(c)
            if r.ok:
                run.done.setdefault(key, r)
                run.call_pending = False
                failed_all = False
            else:
                rep = key in run.failed
                run.failed.add(key)
                failed_all = failed_all and (caller_error(r.status) or rep)
        if m.tool_calls and complete:
            run.failures = run.failures + 1 if failed_all else 0
    return turns


def _tool_names(agent: Settings, names: list[str]) -> frozenset[str]:
    out = set()
    for name in names:
        api = agent.executor.resolve(name)
        if api is None:
            raise UsageError(
                f"always names {name!r}, which is no tool of this agent (tools: {', '.join(agent.executor.names())})"
            )
        out.add(api.name)
    return frozenset(out)


__all__ = ["INTERRUPTED", "replay", "resume", "settle"]
