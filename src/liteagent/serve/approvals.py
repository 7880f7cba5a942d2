"""Approvals over the OpenAI-compatible API: a run that stops for a person's decision answers with
``finish_reason: "tool_calls"``, the waiting calls as standard ``tool_calls`` (exactly the arguments
that will run if approved) and ``x_liteagent: {"type": "approval_required", "session", "pending"}``;
the client decides in a follow-up request on that session with ``x_liteagent: {"approve": [ids],
"reject": {id: reason}, "always": [tool names]}`` in the body (the ``openai`` client:
``extra_body={"x_liteagent": {...}}``).

A tool's question for the person (``ToolContext.elicit``, an MCP server's form) goes the same way
to a client that says it can answer (``x_liteagent: {"elicitation": true}`` in its request, as an
MCP client declares the capability): the run stops, ``x_liteagent.type`` is ``input_required`` and
each pending call carries its ``question`` (``{"message", "schema"}``); the client answers in a
follow-up with ``x_liteagent: {"answers": {id: {"action": "accept", "content": {...}}}}`` (or
``"decline"``/``"cancel"`` as the action). A client that did not say so gets the question declined,
as nobody can answer it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ..actions.context import Elicited
from ..results import PendingCall, RunResult


class BadDecision(ValueError):
    """A request's ``x_liteagent`` that is not a decision (the message says why)."""


@dataclass(frozen=True)
class Decision:
    """What a follow-up request decides on the calls waiting in its session."""

    approve: list[str] = field(default_factory=list)
    reject: dict[str, str] = field(default_factory=dict)
    always: list[str] = field(default_factory=list)
    answers: dict[str, Elicited] = field(default_factory=dict)


FIELDS = ("approve", "reject", "always", "answers", "elicitation")


def _extra(body: dict[str, Any]) -> dict[str, Any] | None:
    extra = body.get("x_liteagent")
    if extra is None:
        return None
    if not isinstance(extra, dict):
        raise BadDecision(
            'x_liteagent must be an object: {"approve": [ids], "reject": {id: reason}, "always": [tools], '
            '"answers": {id: {"action", "content"}}, "elicitation": true}'
        )
    unknown = sorted(set(extra) - set(FIELDS))
    if unknown:
        raise BadDecision(f"x_liteagent: unknown field {unknown[0]!r}; known: {', '.join(FIELDS)}")
    return extra


def can_answer(body: dict[str, Any]) -> bool:
    """Does the client answer tools' questions (``x_liteagent.elicitation``)? Raises BadDecision."""
    extra = _extra(body) or {}
    said = extra.get("elicitation", False)
    if not isinstance(said, bool):
        raise BadDecision("x_liteagent.elicitation must be true or false")
    return said or bool(extra.get("answers"))


def decision_of(body: dict[str, Any]) -> Decision | None:
    """The request's decision (None: the request asks a question). Raises BadDecision."""
    extra = _extra(body)
    if extra is None or set(extra) == {"elicitation"}:  # a question, from a client that answers
        return None
    approve = _names(extra.get("approve"), "approve", "call ids")
    always = _names(extra.get("always"), "always", "tool names")
    reject = extra.get("reject") or {}
    if isinstance(reject, list) and all(isinstance(r, str) for r in reject):
        reject = dict.fromkeys(reject, "")
    if not isinstance(reject, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in reject.items()):
        raise BadDecision("x_liteagent.reject must map call ids to reasons (strings): {id: reason}")
    answers = _answers(extra.get("answers"))
    if not (approve or reject or always or answers):
        raise BadDecision(
            "x_liteagent decides nothing: give approve=[ids], reject={id: reason}, always=[tools] or answers={id: ...}"
        )
    return Decision(approve, dict(reject), always, answers)


def _answers(value: Any) -> dict[str, Elicited]:
    """``{id: {"action": "accept"|"decline"|"cancel", "content": {...}}}`` (MCP's ElicitResult)."""
    if value is None:
        return {}
    shape = 'x_liteagent.answers must map call ids to {"action": "accept"|"decline"|"cancel", "content": {...}}'
    if not isinstance(value, dict):
        raise BadDecision(shape)
    out = {}
    for cid, answer in value.items():
        if not isinstance(answer, dict) or answer.get("action") not in ("accept", "decline", "cancel"):
            raise BadDecision(shape)
        content = answer.get("content") or {}
        if not isinstance(content, dict) or set(answer) - {"action", "content"}:
            raise BadDecision(shape)
        out[str(cid)] = Elicited(answer["action"], dict(content))
    return out


def _names(value: Any, name: str, what: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise BadDecision(f"x_liteagent.{name} must be a list of {what} (strings)")
    return list(value)


def tool_calls(pending: list[PendingCall], *, indexed: bool = False) -> list[dict[str, Any]]:
    """The waiting calls as OpenAI ``tool_calls`` (``index`` too, for a stream's delta)."""
    out = []
    for i, p in enumerate(pending):
        call: dict[str, Any] = {
            "id": p.id,
            "type": "function",
            "function": {"name": p.tool, "arguments": json.dumps(p.arguments, ensure_ascii=False)},
        }
        out.append({"index": i, **call} if indexed else call)
    return out


def required(session_id: str, pending: list[PendingCall], **more: Any) -> dict[str, Any]:
    """The ``x_liteagent`` of a run that stopped for a person: for approval, or (every pending
    call a question) for answers."""
    kind = "input_required" if pending and all(p.question is not None for p in pending) else "approval_required"
    return {"type": kind, "session": session_id, "pending": [p.to_dict() for p in pending], **more}


def paused_text(result: RunResult) -> str | None:
    """What the model wrote before the calls that wait (None when nothing)."""
    for m in reversed(result.messages):
        if m.role == "assistant":
            return m.content or None
    return result.answer or None
