"""The agent as one MCP tool, ``ask``, and the approvals its runs stop for: asked of the client
by elicitation where it declared that capability (a form per call), else answered with the
calls that wait and the session a follow-up ``ask`` decides them in.

Paused runs live in this server process's memory, by an id the server makes (unguessable: it
is the only key to a run), until they finish; a restart forgets them, and past 1024 waiting runs
the oldest is forgotten. In memory because ``mcp serve`` is one process: over stdio its one
client, over HTTP every client of that process, reaches the same runs."""

from __future__ import annotations

import json
import secrets
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import mcp.types as t
from mcp.shared.exceptions import MCPError
from mcp.types.version import HANDSHAKE_PROTOCOL_VERSIONS
from pydantic import ValidationError

from ..errors import RunConflict, UsageError
from ..results import PendingCall, RunResult
from ..sessions import InMemorySession

ASK_TOOL = "ask"
# Flat on purpose: Anthropic's API (so Claude clients) rejects oneOf/anyOf/allOf at a tool schema's
# top level, and some clients drop tools with a root if/then. "question or session" is enforced
# by the server, with a one-line error, and said in the descriptions.
ASK_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "question": {
            "type": "string",
            "description": "the question for the agent; required unless session is given (then leave it out)",
        },
        "session": {
            "type": "string",
            "description": "to decide on a run that stopped for approval: the session its result named",
        },
        "approve": {
            "type": "array",
            "items": {"type": "string"},
            "description": "with session: ids of the waiting calls to run",
        },
        "reject": {
            "type": "object",
            "additionalProperties": {"type": "string"},
            "description": "with session: ids of the waiting calls to refuse, each with the reason the agent reads",
        },
        "always": {
            "type": "array",
            "items": {"type": "string"},
            "description": "with session: tool names to run now and for the rest of this run without asking",
        },
    },
    "additionalProperties": False,
}
DECISIONS = ("approve", "reject", "always")
# The elicitation form for one call: a choice and an optional reason (primitive fields only).
DECISION_FORM: dict[str, Any] = {
    "type": "object",
    "properties": {
        "decision": {
            "type": "string",
            "title": "Decision",
            "enum": list(DECISIONS),
            "description": "approve: run this call; reject: refuse it; always: run it and later calls of this tool",
        },
        "reason": {"type": "string", "title": "Reason", "description": "why (a rejection's reason reaches the agent)"},
    },
    "required": ["decision"],
}


@dataclass(slots=True)
class AskArgs:
    """``ask``'s arguments: a new question, or decisions on the paused run ``session``."""

    question: str | None = None
    session: str | None = None
    approve: list[str] = field(default_factory=list)
    reject: dict[str, str] = field(default_factory=dict)
    always: list[str] = field(default_factory=list)

    @classmethod
    def parse(cls, args: dict[str, Any]) -> AskArgs:
        """Checked arguments; UsageError with one line naming the field otherwise."""
        unknown = sorted(set(args) - {"question", "session", *DECISIONS})
        if unknown:
            raise UsageError(
                f"unknown argument {unknown[0]!r}: ask takes question, or session with {', '.join(DECISIONS)}"
            )
        session, question = args.get("session"), args.get("question")
        if session is None:
            if not isinstance(question, str) or not question.strip():
                raise UsageError("question must be a non-empty string (or give session to decide on a paused run)")
            given = [d for d in DECISIONS if d in args]
            if given:
                raise UsageError(f"{given[0]} goes with session: the id of the run that waits for approval")
            return cls(question=question)
        if not isinstance(session, str) or not session:
            raise UsageError("session must be the id a result that needs approval named")
        if question is not None:
            raise UsageError("give question or session, not both: decide on the paused run first")
        out = cls(session=session, approve=_strings(args, "approve"), always=_strings(args, "always"))
        reject = args.get("reject", {})
        if not isinstance(reject, dict) or not all(isinstance(v, str) for v in reject.values()):
            raise UsageError('reject must be an object of call id to reason, e.g. {"call_1": "not that file"}')
        out.reject = dict(reject)
        if not (out.approve or out.reject or out.always):
            raise UsageError("with session, give approve, reject or always")
        return out


def _strings(args: dict[str, Any], name: str) -> list[str]:
    value = args.get(name, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise UsageError(f"{name} must be a list of strings")
    return value


class PausedRuns:
    """Runs waiting for approval, by id, in memory; past ``limit`` the oldest is forgotten."""

    def __init__(self, limit: int = 1024) -> None:
        self.limit = limit
        self._runs: OrderedDict[str, InMemorySession] = OrderedDict()

    @staticmethod
    def new() -> InMemorySession:
        return InMemorySession(secrets.token_urlsafe(16))

    def keep(self, session: InMemorySession) -> str:
        self._runs[session.session_id] = session
        while len(self._runs) > self.limit:
            self._runs.popitem(last=False)
        return session.session_id

    def get(self, session_id: str) -> InMemorySession | None:
        return self._runs.get(session_id)

    def drop(self, session_id: str) -> None:
        self._runs.pop(session_id, None)


@dataclass(slots=True)
class Answers:
    """The client's decisions on pending calls, gathered as ``Agent.aresume`` takes them."""

    approve: list[str] = field(default_factory=list)
    reject: dict[str, str] = field(default_factory=dict)
    always: list[str] = field(default_factory=list)

    def add(self, call: PendingCall, reply: Any) -> None:
        decision, reason = decision_of(reply)
        if decision == "reject":
            self.reject[call.id] = reason
            return
        self.approve.append(call.id)
        if decision == "always" and call.tool not in self.always:
            self.always.append(call.tool)

    def resume_args(self, pending: list[PendingCall]) -> dict[str, Any]:
        # A tool one call of which was refused is not approved for good (the core would run the
        # refused call too): its other calls run once each instead.
        refused = {p.tool for p in pending if p.id in self.reject}
        return {"approve": self.approve, "reject": self.reject, "always": [a for a in self.always if a not in refused]}


def decision_of(reply: Any) -> tuple[str, str]:
    """(decision, reason) from an elicitation's reply; anything but a clear yes is a refusal."""
    if not isinstance(reply, t.ElicitResult):
        return "reject", "the MCP client gave no answer"
    if reply.action != "accept":
        return "reject", "declined by the MCP client" if reply.action == "decline" else "cancelled by the MCP client"
    content = reply.content or {}
    decision, reason = content.get("decision"), content.get("reason")
    if decision not in DECISIONS:
        return "reject", "the MCP client's answer named no decision (approve, reject or always)"
    if decision == "reject":
        return "reject", reason if isinstance(reason, str) and reason.strip() else "rejected by the MCP client"
    return str(decision), ""


def approval_request(call: PendingCall) -> t.ElicitRequestFormParams:
    """The form asking about one call: its tool and the exact arguments that will run."""
    arguments = json.dumps(call.arguments, ensure_ascii=False)
    message = (
        f"The agent wants to run {call.tool} with these arguments:\n{arguments}\n"
        f"approve runs it once, always runs it and later {call.tool} calls of this run, "
        "reject refuses it (the agent reads your reason)."
    )
    return t.ElicitRequestFormParams(message=message, requested_schema=DECISION_FORM)


def form_elicitation(ctx: Any) -> str | None:
    """How this request can ask the client: ``request`` (a server-to-client request, handshake
    era), ``inline`` (an InputRequiredResult the client answers in a retry, 2026-07-28 on), or
    None (no form elicitation declared; a bare ``elicitation: {}`` counts as forms)."""
    caps = ctx.session.client_capabilities
    elicitation = caps.elicitation if caps is not None else None
    if elicitation is None or (elicitation.form is None and elicitation.url is not None):
        return None
    return "request" if ctx.protocol_version in HANDSHAKE_PROTOCOL_VERSIONS else "inline"


class AskTool:
    """``ask``: runs the agent, and sees its approvals through (see the module's doc)."""

    def __init__(self, agent: Any, paused: PausedRuns | None = None) -> None:
        self.agent = agent
        self.paused = paused if paused is not None else PausedRuns()

    def tool(self) -> t.Tool:
        return t.Tool(
            name=ASK_TOOL,
            description=(
                "Ask the liteagent agent (it may use its own tools). When its run stops for approval, the "
                "result names the session and the waiting calls: call ask again with session and approve, "
                "reject or always."
            ),
            input_schema=ASK_SCHEMA,
        )

    async def call(self, ctx: Any, params: t.CallToolRequestParams) -> t.CallToolResult | t.InputRequiredResult:
        if params.request_state is not None:  # a retry carrying the answers to our forms
            return await self._answered(ctx, params.request_state, params.input_responses or {})
        try:
            args = AskArgs.parse(params.arguments or {})
        except UsageError as exc:
            return error_result(f"ask: {exc}")
        if args.session is None:
            session = self.paused.new()
            result = await self.agent.arun(args.question, session)
            return await self._settle(ctx, session, result)
        found = self.paused.get(args.session)
        if found is None:
            return error_result(f"ask: {_gone(args.session)}")
        return await self._resume(ctx, found, {"approve": args.approve, "reject": args.reject, "always": args.always})

    async def _answered(
        self, ctx: Any, session_id: str, responses: dict[str, Any]
    ) -> t.CallToolResult | t.InputRequiredResult:
        session = self.paused.get(session_id)
        if session is None:
            return error_result(f"ask: {_gone(session_id)}")
        pending = (await self.agent.astatus(session)).pending
        answers = Answers()
        for call in pending:
            answers.add(call, responses.get(call.id))
        return await self._resume(ctx, session, answers.resume_args(pending))

    async def _resume(
        self, ctx: Any, session: InMemorySession, decisions: dict[str, Any]
    ) -> t.CallToolResult | t.InputRequiredResult:
        try:
            result = await self.agent.aresume(session, **decisions)
        except (UsageError, RunConflict) as exc:  # nothing was run or written
            return error_result(f"ask: {exc}")
        return await self._settle(ctx, session, result)

    async def _settle(
        self, ctx: Any, session: InMemorySession, result: RunResult
    ) -> t.CallToolResult | t.InputRequiredResult:
        """The run's end: its answer; or, stopped for approval, the client's forms (asked here,
        or sent back to be answered in a retry), or the calls that wait where it has none."""
        if result.status == "needs_approval":
            how = form_elicitation(ctx)
            if how == "inline":
                requests: t.InputRequests = {p.id: t.ElicitRequest(params=approval_request(p)) for p in result.pending}
                return t.InputRequiredResult(input_requests=requests, request_state=self.paused.keep(session))
            answers = await ask_client(ctx, result.pending) if how == "request" else None
            if answers is None:
                return pending_result(self.paused.keep(session), result.pending)
            return await self._resume(ctx, session, answers.resume_args(result.pending))  # may stop again
        self.paused.drop(session.session_id)
        if result.status not in ("ok", "truncated"):
            return error_result(f"the agent did not answer: {result.error}")
        return t.CallToolResult(content=[t.TextContent(text=result.answer)])


async def ask_client(ctx: Any, pending: list[PendingCall]) -> Answers | None:
    """One form per call, in order, over the request's back channel (a call whose tool was just
    approved for good is not asked about); None where the client cannot be asked after all."""
    answers = Answers()
    for call in pending:
        if call.tool in answers.always:
            answers.approve.append(call.id)
            continue
        form = approval_request(call)
        try:
            reply = await ctx.session.elicit_form(
                form.message, form.requested_schema, related_request_id=ctx.request_id
            )
        except (MCPError, ValidationError):  # no back channel, or the client refused forms
            return None
        answers.add(call, reply)
    return answers


def pending_result(session_id: str, pending: list[PendingCall]) -> t.CallToolResult:
    """The calls that wait, and how to decide them, as text and as structured content."""
    lines = [f"The agent's run stopped for approval (session {session_id}); nothing below has run:"]
    lines += [f"- {p.id}: {p.tool} {json.dumps(p.arguments, ensure_ascii=False)}" for p in pending]
    example = {"session": session_id, "approve": [pending[0].id]}
    lines.append(
        f"Decide with another ask call: {json.dumps(example)}, or "
        f'"reject": {{"{pending[0].id}": "the reason the agent reads"}}, or "always": ["{pending[0].tool}"].'
    )
    structured = {"status": "needs_approval", "session": session_id, "pending": [p.to_dict() for p in pending]}
    return t.CallToolResult(content=[t.TextContent(text="\n".join(lines))], structured_content=structured)


def _gone(session_id: str) -> str:
    return (
        f"no run waits for approval in session {session_id!r} (finished, never made, or forgotten: paused "
        "runs live in this server's memory)"
    )


def error_result(text: str) -> t.CallToolResult:
    return t.CallToolResult(content=[t.TextContent(text=text)], is_error=True)


__all__ = ["ASK_SCHEMA", "ASK_TOOL", "DECISION_FORM", "AskArgs", "AskTool", "PausedRuns", "pending_result"]
