"""What ``Agent.stream`` yields. Each event is a small typed record; ``type`` names it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from .messages import ActionReturn, ToolCall

if TYPE_CHECKING:
    from .results import PendingCall, RunResult


@dataclass(slots=True)
class TextDelta:
    """A piece of the answer text, as it arrives."""

    text: str
    type: Literal["text"] = "text"


@dataclass(slots=True)
class ThinkingDelta:
    """A piece of the model's thinking (``<think>``, ReAct ``Thought:``, reasoning_content)."""

    text: str
    type: Literal["thinking"] = "thinking"


@dataclass(slots=True)
class TextReset:
    """The text streamed so far in this turn was thinking after all (a lone ``</think>``)."""

    type: Literal["text_reset"] = "text_reset"


@dataclass(slots=True)
class ToolCallEvent:
    """The model asked for a call (``call.error`` is set when its markup could not be read)."""

    call: ToolCall
    type: Literal["tool_call"] = "tool_call"


@dataclass(slots=True)
class ToolResultEvent:
    call: ToolCall
    result: ActionReturn
    type: Literal["tool_result"] = "tool_result"


@dataclass(slots=True)
class TurnEnd:
    """One model turn is over; ``request`` is exactly what the model was sent."""

    turn: int
    elapsed: float
    ttft: float | None = None
    usage: dict[str, int] = field(default_factory=dict)
    request: Any = None
    type: Literal["turn_end"] = "turn_end"


@dataclass(slots=True)
class Progress:
    """The model works before its first token: ``stage`` (reading prompt) and how far (0-1)."""

    stage: str
    fraction: float
    type: Literal["progress"] = "progress"


@dataclass(slots=True)
class ContextTrimmed:
    """History plus tools would not fit the model's context: the oldest ``turns`` (whole
    questions with their calls and results, ``messages`` items in all) were left out of the
    prompt. The session still holds them."""

    turns: int
    messages: int
    context_tokens: int
    type: Literal["context_trimmed"] = "context_trimmed"


@dataclass(slots=True)
class FinalAnswer:
    """The run's answer: ``answer`` the model's text, ``output`` the validated typed answer
    (``Agent(output_type=...)``; the text for an untyped agent)."""

    answer: str
    result: RunResult[Any]
    type: Literal["final"] = "final"

    @property
    def output(self) -> Any:
        return self.result.output


@dataclass(slots=True)
class ErrorEvent:
    """Something stopped the run: ``kind`` is max_turns, llm, call_errors or cancelled.
    ``result`` is the run so far (status and error set), as ``FinalAnswer`` carries it on success."""

    kind: str
    message: str
    result: RunResult | None = None
    type: Literal["error"] = "error"


@dataclass(slots=True)
class ApprovalRequired:
    """The run stopped for a person (the last event of such a run): before calls they must
    approve, or for the answer to a question a tool asked (a pending call whose ``question`` is
    set; ``status="needs_input"`` when every pending call is one). ``pending`` holds them,
    ``result`` the run so far (``status="needs_approval"``). The session records it;
    ``Agent.resume(session, approve=[...], reject={...}, answers={...})`` goes on, in any process."""

    pending: list[PendingCall]
    result: RunResult
    type: Literal["approval_required"] = "approval_required"


Event = (
    TextDelta
    | ThinkingDelta
    | TextReset
    | ToolCallEvent
    | ToolResultEvent
    | TurnEnd
    | ContextTrimmed
    | Progress
    | FinalAnswer
    | ErrorEvent
    | ApprovalRequired
)


def event_to_dict(ev: Any) -> dict[str, Any]:
    if isinstance(ev, (ToolCallEvent,)):
        return {"type": ev.type, "call": ev.call.to_dict()}
    if isinstance(ev, ToolResultEvent):
        return {"type": ev.type, "call": ev.call.to_dict(), "result": ev.result.to_dict()}
    if isinstance(ev, FinalAnswer):
        if ev.result.typed:
            return {"type": ev.type, "answer": ev.answer, "output": ev.result.output_data}
        return {"type": ev.type, "answer": ev.answer}
    if isinstance(ev, TurnEnd):
        return {"type": ev.type, "turn": ev.turn, "elapsed": ev.elapsed, "ttft": ev.ttft, "usage": ev.usage}
    if isinstance(ev, ApprovalRequired):
        return {"type": ev.type, "pending": [p.to_dict() for p in ev.pending]}
    if isinstance(ev, ErrorEvent):
        return {"type": ev.type, "kind": ev.kind, "message": ev.message}
    if isinstance(ev, TextReset):
        return {"type": ev.type}
    if isinstance(ev, Progress):
        return {"type": ev.type, "stage": ev.stage, "fraction": ev.fraction}
    if isinstance(ev, ContextTrimmed):
        return {"type": ev.type, "turns": ev.turns, "messages": ev.messages, "context_tokens": ev.context_tokens}
    return {"type": ev.type, "text": ev.text}
