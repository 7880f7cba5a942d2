"""What one request runs in its conversation: a decision on calls waiting for a person (the run
goes on with ``Agent.aresume``), or a question. Before a question, a run that a crash or restart cut
off goes on first (``aresume`` with no decisions), so that its calls get their results and its
question its answer; then the new question is answered. If that resumed run stops for approval or
fails, the request answers with that and the question is not asked."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from ..agent import Agent, RunResult
from ..events import ApprovalRequired, ErrorEvent, FinalAnswer
from ..results import PendingCall
from ..sessions import Session
from .approvals import Decision
from .store import SessionStore

ANSWER, RESUMED = "answer", "resumed"  # which run an event belongs to


class Waiting(Exception):
    """A question in a conversation whose calls wait for a decision."""

    def __init__(self, pending: list[PendingCall]) -> None:
        ids = ", ".join(f"{p.id} ({p.tool})" for p in pending)
        if all(p.question is not None for p in pending):
            super().__init__(
                f"a tool's question waits for an answer in this conversation: {ids}; send x_liteagent "
                '{"answers": {id: {"action": "accept", "content": {...}}}} on this session first'
            )
        else:
            super().__init__(
                f"calls wait for a decision in this conversation: {ids}; send x_liteagent "
                '{"approve": [ids]} or {"reject": {id: reason}} on this session first'
            )
        self.pending = pending


@dataclass
class Job:
    """One request's work (:meth:`prepare` first). ``sid`` is empty for a stateless request (its
    history in ``session``, in memory); a run of it that stops for approval is kept in a new stored
    session (:meth:`keep`)."""

    agent: Agent
    session: Session
    sid: str
    question: str | None = None  # None: ``decision`` says what to do
    decision: Decision | None = None
    store: SessionStore | None = None
    owner: str = ""
    resumed: RunResult | None = None  # the cut-off run that went on first, once it has
    resumed_state: str = ""  # its state before: cut_off or unanswered

    @property
    def question_asked(self) -> bool:
        """After a cut-off run went on: did it end with an answer, so the question is asked too?
        (If it stopped for approval or failed, the request answers with that instead.)"""
        return self.resumed is not None and self.resumed.status in ("ok", "truncated")

    async def prepare(self) -> None:
        """Before a question in a stored session: does a cut-off run go on first (``resumed_state``
        set)? Raises Waiting when calls wait for a decision. Read under the conversation's lease."""
        if self.decision is not None or not self.sid:
            return
        t = await Agent.astatus(self.session)
        if t.state == "needs_approval":
            raise Waiting(t.pending)
        # "unanswered" with calls: their results are in, the model's reply to them is not (the model
        # failed, or the process ended between turns). Without calls the question itself got no
        # answer: a new one replaces it, as the core allows (a client retrying after a failure
        # sends the same question again).
        if t.state == "cut_off" or (t.state == "unanswered" and t.calls):
            self.resumed_state = t.state

    async def run(self) -> RunResult:
        """The request's result (the resumed run's, when that one did not end with an answer)."""
        d = self.decision
        if d is not None:
            return await self.agent.aresume(self.session, d.approve, d.reject, d.always, d.answers)
        if self.resumed_state:
            self.resumed = await self.agent.aresume(self.session)
            if not self.question_asked:
                return self.resumed
        assert self.question is not None
        return await self.agent.arun(self.question, self.session)

    async def events(self) -> AsyncIterator[tuple[str, Any]]:
        """The events of :meth:`run`, each with the run it belongs to (ANSWER or RESUMED)."""
        d = self.decision
        if d is not None:
            async for ev in _closing(self.agent.aresume_stream(self.session, d.approve, d.reject, d.always, d.answers)):
                yield ANSWER, ev
            return
        if self.resumed_state:
            async for ev in _closing(self.agent.aresume_stream(self.session)):
                if isinstance(ev, (FinalAnswer, ApprovalRequired, ErrorEvent)):
                    self.resumed = ev.result
                yield RESUMED, ev
                if isinstance(ev, (ApprovalRequired, ErrorEvent)) or (
                    isinstance(ev, FinalAnswer) and not self.question_asked
                ):
                    return
        assert self.question is not None
        async for ev in _closing(self.agent.astream(self.question, self.session)):
            yield ANSWER, ev

    async def keep(self) -> str:
        """The session id a client decides in: a stateless run's items go to a new stored session."""
        if self.sid or self.store is None:
            return self.sid
        sid = f"approval-{uuid.uuid4().hex}"
        stored = self.store.open(sid, self.owner)
        assert stored is not None  # a fresh id has no other owner
        await stored.add_items(await self.session.get_items())
        self.sid = sid
        return sid


async def _closing(events: Any) -> AsyncIterator[Any]:
    """``events`` (an async generator), closed when the reader stops early (the run stops too)."""
    try:
        async for ev in events:
            yield ev
    finally:
        await events.aclose()
