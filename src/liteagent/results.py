"""What a run produces: its steps (one per model turn) and its result. Below the loop and every
app that reads results (they import this; it imports only the message types)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic

from typing_extensions import TypeVar

from .messages import ActionReturn, Message, ToolCall

if TYPE_CHECKING:
    from .output import OutputError

#: what ``RunResult.output`` is: the agent's ``output_type`` (``str`` for an untyped agent)
OutputT = TypeVar("OutputT", default=str)


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
class PendingCall:
    """A call waiting for a person: for a decision (what will run, exactly, if it is approved),
    or, where ``question`` is set, for an answer to what its tool asked while it ran
    (``{"message": text, "schema": the form, a JSON Schema object}``); ``answers``: the answers
    it was given before (it runs again from its start, each earlier question answered so)."""

    id: str
    tool: str
    arguments: dict[str, Any]
    question: dict[str, Any] | None = None
    answers: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"id": self.id, "tool": self.tool, "arguments": self.arguments}
        if self.question is not None:
            d["question"] = self.question
            if self.answers:
                d["answers"] = self.answers
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PendingCall:
        q = d.get("question")
        question = (
            {"message": str(q.get("message", "")), "schema": dict(q.get("schema") or {})}
            if isinstance(q, dict)
            else None
        )
        answers = [a for a in d.get("answers") or () if isinstance(a, dict)] if question is not None else []
        return cls(str(d["id"]), str(d["tool"]), dict(d.get("arguments") or {}), question, answers)

    @property
    def kind(self) -> str:
        """``approval`` or ``question``."""
        return "approval" if self.question is None else "question"


#: the statuses of a run that stopped for a person (``Agent.resume`` goes on)
PAUSED = frozenset({"needs_approval", "needs_input"})


@dataclass(slots=True)
class RunResult(Generic[OutputT]):
    """What one question produced. ``status``: ok, truncated (the answer hit the token limit:
    ``answer`` is what came, ``error`` says so), needs_approval (the run stopped before calls a
    person must approve: ``pending`` holds them; ``Agent.resume`` goes on), needs_input (a tool
    asked a person a question: ``pending`` holds it; ``Agent.resume(answers=...)`` goes on), invalid_output (a
    typed agent's answers did not validate within its retries: ``output_errors`` says why),
    max_turns, call_errors or error.

    ``output``: the validated answer, an ``output_type`` instance (a dict for a JSON Schema), or
    the answer text for an untyped agent; None when the run did not end with a valid answer.
    ``answer`` stays the model's own text (for a typed answer, its JSON)."""

    answer: str
    steps: list[Step]
    messages: list[Message]
    status: str = "ok"
    error: str | None = None
    turns: int = 0
    elapsed: float = 0.0
    usage: dict[str, int] = field(default_factory=dict)
    pending: list[PendingCall] = field(default_factory=list)
    output: OutputT | None = None
    output_errors: list[OutputError] = field(default_factory=list)
    typed: bool = False  # the agent has an output_type
    output_data: Any = None  # the validated output as JSON data (typed runs)

    @property
    def output_json(self) -> str | None:
        """The validated output as one line of JSON (typed runs that ended with one)."""
        if not self.typed or self.output is None:
            return None
        return json.dumps(self.output_data, ensure_ascii=False)

    def to_dict(self) -> dict[str, Any]:
        d = {
            "answer": self.answer,
            "status": self.status,
            "error": self.error,
            "pending": [p.to_dict() for p in self.pending],
            "steps": [s.to_dict() for s in self.steps],
            "messages": [m.to_dict() for m in self.messages],
            "turns": self.turns,
            "elapsed": round(self.elapsed, 6),
            "usage": self.usage,
        }
        if self.typed:
            d["output"] = self.output_data if self.output is not None else None
            d["output_errors"] = [e.to_dict() for e in self.output_errors]
        return d


__all__ = ["PAUSED", "OutputT", "PendingCall", "RunResult", "Step"]
