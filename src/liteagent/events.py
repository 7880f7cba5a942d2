"""What ``Agent.stream`` yields. Each event is a small typed record; ``type`` names it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from .messages import ActionReturn, ToolCall

if TYPE_CHECKING:
    from .agent import RunResult


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
    turn: int
    elapsed: float
    ttft: float | None = None
    usage: dict[str, int] = field(default_factory=dict)
    type: Literal["turn_end"] = "turn_end"


@dataclass(slots=True)
class FinalAnswer:
    answer: str
    result: RunResult
    type: Literal["final"] = "final"


@dataclass(slots=True)
class ErrorEvent:
    """Something stopped the run: ``kind`` is max_turns, llm, call_errors or cancelled."""

    kind: str
    message: str
    type: Literal["error"] = "error"


Event = TextDelta | ThinkingDelta | TextReset | ToolCallEvent | ToolResultEvent | TurnEnd | FinalAnswer | ErrorEvent


def event_to_dict(ev: Any) -> dict[str, Any]:
    if isinstance(ev, (ToolCallEvent,)):
        return {"type": ev.type, "call": ev.call.to_dict()}
    if isinstance(ev, ToolResultEvent):
        return {"type": ev.type, "call": ev.call.to_dict(), "result": ev.result.to_dict()}
    if isinstance(ev, FinalAnswer):
        return {"type": ev.type, "answer": ev.answer}
    if isinstance(ev, TurnEnd):
        return {"type": ev.type, "turn": ev.turn, "elapsed": ev.elapsed, "ttft": ev.ttft, "usage": ev.usage}
    if isinstance(ev, ErrorEvent):
        return {"type": ev.type, "kind": ev.kind, "message": ev.message}
    if isinstance(ev, TextReset):
        return {"type": ev.type}
    return {"type": ev.type, "text": ev.text}
