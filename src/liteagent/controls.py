"""Control items: a run's own records in its session, so that the session alone is enough to go on
from a pause or a crash, in any process.

A session is a list of :class:`~liteagent.messages.Message`; control items are ones with role
``control``, never rendered into a prompt:

- ``pending``: written together with the assistant message whose calls need a person's approval;
  ``data = {"calls": [{"id", "tool", "arguments"}, ...]}`` (exactly what will run if approved).
- ``pending`` with a ``question`` in a call's entry: written after a call whose tool asked a
  person who answers later (``ToolContext.elicit`` under ``ask_person="pause"``), in place of its
  result: ``{"id", "tool", "arguments", "question": {"message", "schema"}, "answers": [...]}``
  (``answers``: those given to its earlier questions; it runs again from its start with them).
- ``resume``: written when a run goes on (``Agent.resume``): the decisions
  (``approve``: ids, ``reject``: id -> reason, ``always``: tool names, ``answers``: id -> the
  person's answer ``{"action", "content"}``) and who resumed. Written
  only if nothing else was written since the resumer read the session (the store's atomic
  append), so it is also the claim that makes one resumer the only one.

A call's state is read from the items: it is recorded (in its assistant message) before it runs,
its result is a ``tool`` item; pending until a ``resume`` decides it; a recorded call with no
result that was not waiting is one whose run was cut off (unknown outcome).
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass, field
from typing import Any

from .errors import UsageError
from .messages import Message, ToolCall
from .results import PendingCall

PENDING, RESUME = "pending", "resume"
NO_TOOLS: frozenset[str] = frozenset()
HOST = socket.gethostname()
#: how long a run on another machine is taken to still run its calls after it started them,
#: beyond their tools' time limits (a tool with no limit: a day, unless its process is seen gone)
LEASE_MARGIN_S, NO_LIMIT_LEASE_S = 30.0, 86400.0


_HOLDER = [f"{HOST}:{os.getpid()}"]


def _forked() -> None:
    _HOLDER[0] = f"{HOST}:{os.getpid()}"


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forked)


def holder() -> str:
    """Who runs calls now: this host and process (a fork is another holder)."""
    return _HOLDER[0]


def running(said: Message) -> Message:
    """``said`` (a reply whose calls are about to run) marked with who runs them and since when,
    in its ``data``: another process can then tell a run still going from one cut off (see
    :func:`alive`)."""
    # to the millisecond, as resume_item's (round(t, 3) costs some ten times as much)
    said.data = {"by": _HOLDER[0], "at": round(time.time() * 1000) / 1000}
    return said


def pending_item(calls: list[PendingCall], asked: list[dict[str, Any]]) -> Message:
    """``asked``: each call's arguments as the model wrote them, kept where they differ from
    what it would run with (``call_arguments``), so the record is checked against its call."""
    out = []
    for c, raw in zip(calls, asked, strict=True):
        d = c.to_dict()
        if raw != c.arguments:
            d["call_arguments"] = raw
        out.append(d)
    return Message("control", name=PENDING, data={"calls": out})


def question_item(call: ToolCall, ret: Any) -> Message:
    """The record of a call that waits for a person's answer (``ret``: its NEEDS_INPUT return,
    whose one item holds the question and the answers so far)."""
    asked = ret.result[0].content
    d = {
        "id": call.id,
        "tool": ret.name or call.name,
        "arguments": call.arguments,
        "question": {"message": asked["message"], "schema": asked["schema"]},
        "answers": asked["answers"],
    }
    return Message("control", name=PENDING, data={"calls": [d]})


def resume_item(
    approve: list[str], reject: dict[str, str], always: list[str], answers: dict[str, dict[str, Any]] | None = None
) -> Message:
    data: dict[str, Any] = {"approve": approve, "reject": reject, "always": always}
    if answers:
        data["answers"] = answers
    data["by"] = holder()
    data["at"] = round(time.time(), 3)
    return Message("control", name=RESUME, data=data)


def conversation(items: list[Message]) -> tuple[list[Message], frozenset[str]]:
    """The items the model sees (control items left out; each turn's results in its calls'
    order, as an uninterrupted run records them) and the tools approved "always"."""
    for m in items:
        if m.role == "control":
            break
    else:  # the common session: no run ever paused or resumed
        return items, NO_TOOLS
    always: set[str] = set()
    shown: list[Message] = []
    for m in items:
        if m.role != "control":
            shown.append(m)
        elif m.name == RESUME and m.data:
            always.update(str(t) for t in m.data.get("always") or ())
    return in_call_order(shown), frozenset(always)


def in_call_order(items: list[Message]) -> list[Message]:
    out: list[Message] = []
    order: dict[str, int] = {}
    block: list[Message] = []

    def flush() -> None:
        block.sort(key=lambda m: order.get(m.tool_call_id or "", len(order)))  # stable
        out.extend(block)
        block.clear()

    for m in items:
        if m.role == "tool":
            block.append(m)
            continue
        flush()
        out.append(m)
        if m.role == "assistant" and m.tool_calls:
            order = {c.id: i for i, c in enumerate(m.tool_calls)}
    flush()
    return out


@dataclass(slots=True)
class Tail:
    """Where the session's last run stands.

    ``state``: ``done`` (it ended with an answer, or the session is empty), ``needs_approval``
    (calls wait for a decision), ``cut_off`` (calls were recorded and have no result: the process
    ended while they ran) or ``unanswered`` (the question has no answer yet: the model failed or
    the process ended during its reply or between turns)."""

    state: str = "done"
    calls: list[ToolCall] = field(default_factory=list)  # the open turn's calls, in order
    answered: set[str] = field(default_factory=set)  # ids with a result
    waiting: dict[str, PendingCall] = field(default_factory=dict)  # not decided yet
    approved: set[str] = field(default_factory=set)  # decided earlier: approved (so it started)
    rejected: dict[str, str] = field(default_factory=dict)  # decided earlier, result not recorded
    answers: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # a question's answers so far, by id
    by: str | None = None  # who last started the open turn's calls (host:pid), and when
    at: float | None = None

    @property
    def pending(self) -> list[PendingCall]:
        return list(self.waiting.values())


def tail(items: list[Message]) -> Tail:
    """Read the last run's state from the session's items (fail closed: a record that does not
    match its call is an error, never a call run on a guess)."""
    i = len(items) - 1
    while i >= 0 and items[i].role in ("tool", "control"):
        i -= 1
    if i < 0:
        return Tail("unanswered" if any(m.role == "tool" for m in items) else "done")
    last = items[i]
    if last.role == "user":
        return Tail("unanswered")
    if last.role != "assistant":
        return Tail("done")
    if not last.tool_calls:
        return Tail("done")
    t = Tail("unanswered", list(last.tool_calls))
    if last.data is not None:
        t.by, t.at = _holder(last.data)
    ids = [c.id for c in last.tool_calls]
    if len(set(ids)) != len(ids):
        raise UsageError(
            f"the session's last turn has calls with the same id ({', '.join(ids)}): cannot tell them apart"
        )
    by_id = {c.id: c for c in last.tool_calls}
    for m in items[i + 1 :]:
        if m.role == "tool":
            t.answered.add(m.tool_call_id or "")
        elif m.name == PENDING and m.data is not None:
            for p, asked in _pending_calls(m.data):
                call = by_id.get(p.id)
                if call is None or call.arguments != asked:
                    raise UsageError(
                        f"the session's record of pending call {p.id!r} does not match the call the model made: "
                        "refusing to run it (the session was changed?)"
                    )
                t.waiting[p.id] = p
                t.approved.discard(p.id)  # a call that ran again and asked another question
        elif m.name == RESUME and m.data is not None:
            t.by, t.at = _holder(m.data)
            for cid in m.data.get("approve") or ():
                if t.waiting.pop(cid, None) is not None:
                    t.approved.add(cid)
            given = m.data.get("answers")
            for cid, answer in (given if isinstance(given, dict) else {}).items():
                asked = t.waiting.get(cid)
                if asked is not None and asked.question is not None and isinstance(answer, dict):
                    del t.waiting[cid]
                    t.approved.add(cid)  # it runs again: started, like an approved call
                    t.answers[cid] = [*asked.answers, answer]
            for cid, why in (m.data.get("reject") or {}).items():
                if t.waiting.pop(cid, None) is not None:
                    t.rejected[cid] = str(why)
    for cid in t.answered:
        t.waiting.pop(cid, None)
        t.approved.discard(cid)
        t.rejected.pop(cid, None)
    if t.waiting:
        t.state = "needs_approval"
    elif any(c.id not in t.answered for c in t.calls):
        t.state = "cut_off"
    return t


def _holder(data: dict[str, Any]) -> tuple[str | None, float | None]:
    by, at = data.get("by"), data.get("at")
    return (by if isinstance(by, str) else None), (float(at) if isinstance(at, (int, float)) else None)


def alive(t: Tail, lease_s: float | None) -> bool:
    """Might the process that last started the open turn's calls still be running them? On this
    host: while that process lives (this very process counts as not: it is here, resuming); on
    another: until its lease ends (``lease_s`` after it started them; None: no time limit)."""
    if t.by is None:
        return False
    host, _, pid_text = t.by.rpartition(":")
    if host == HOST and pid_text.isdigit():
        pid = int(pid_text)
        if pid == os.getpid():
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except OSError:  # it exists, owned by someone else
            return True
        return True
    lease = NO_LIMIT_LEASE_S if lease_s is None else lease_s + LEASE_MARGIN_S
    return t.at is not None and time.time() < t.at + lease


def _pending_calls(data: dict[str, Any]) -> list[tuple[PendingCall, Any]]:
    """A pending record's calls, each with the arguments its call was made with (a record of
    another shape is an error: never a call run on a guess)."""
    out = []
    calls = data.get("calls")
    for d in calls if isinstance(calls, list) else [calls]:
        if (
            not isinstance(d, dict)
            or not isinstance(d.get("id"), str)
            or not isinstance(d.get("tool"), str)
            or not isinstance(d.get("arguments"), dict)
        ):
            raise UsageError(
                "the session's record of pending calls is malformed (each needs an id, a tool and arguments): "
                "refusing to go on (the session was changed?)"
            )
        out.append((PendingCall.from_dict(d), d.get("call_arguments", d["arguments"])))
    return out


def blocked(items: list[Message]) -> str | None:
    """Why a new question cannot be asked in this session yet, or None. (A question with no
    answer does not block: asking again is how a user retries after the model failed.)"""
    if not items or (items[-1].role in ("user", "assistant") and not items[-1].tool_calls):
        return None  # the common tail: an answer, or a question
    t = tail(items)
    if t.state == "needs_approval":
        ids = ", ".join(f"{p.id} ({p.tool})" for p in t.pending)
        if all(p.question is not None for p in t.pending):
            return f"a tool's question waits for an answer in this conversation: {ids}; resume it with answers={{id: ...}} first"
        return f"calls wait for a decision in this conversation: {ids}; resume it with approve=[...] or reject={{...}} first"
    if t.state == "cut_off":
        return "this conversation's last run was cut off while tools ran; resume it first (Agent.resume(session))"
    return None


def fresh_ids(calls: list[ToolCall], earlier: list[Message]) -> None:
    """Give calls ids no call ``earlier`` in the conversation has (a decision names a call by its
    id: a stale one must never match a new call)."""
    seen = {c.id for m in earlier if m.role == "assistant" for c in m.tool_calls}
    mine: set[str] = set()
    for n, c in enumerate(calls):
        if not c.id or c.id in seen or c.id in mine:
            base = c.id or "call"
            k = len(earlier) + n
            while f"{base}_{k}" in seen or f"{base}_{k}" in mine:
                k += 1
            c.id = f"{base}_{k}"
        mine.add(c.id)


def distinct_ids(calls: list[ToolCall]) -> None:
    """One reply's calls with distinct ids (a server may repeat one): results are matched by id."""
    ids = [c.id for c in calls]
    if len(set(ids)) == len(ids):
        return
    mine: set[str] = set()
    for n, c in enumerate(calls):
        if c.id in mine or not c.id:
            c.id = f"{c.id or 'call'}_{n}"
        mine.add(c.id)


__all__ = [
    "Tail",
    "alive",
    "blocked",
    "conversation",
    "distinct_ids",
    "fresh_ids",
    "in_call_order",
    "pending_item",
    "question_item",
    "resume_item",
    "running",
    "tail",
]
