"""The data model every layer shares: messages, tool calls, action returns.

Prompts, UIs and saved sessions are views of these types; nothing else crosses module borders.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Literal

from .jsontext import dumps

#: ``control``: a record of the run itself (calls waiting for approval, a resume and its
#: decisions), kept in the session so a run can go on from it in any process; never rendered
Role = Literal["system", "user", "assistant", "tool", "control"]


class ActionStatus(str, Enum):
    """Outcome of one tool call. Values are the lower-case strings of the CLI's JSON."""

    SUCCESS = "success"
    ARGS_ERROR = "args_error"
    API_ERROR = "api_error"
    INVALID_ACTION = "invalid_action"
    TIMEOUT = "timeout"
    REJECTED = "rejected"  # a person did not approve the call: it did not run
    INTERRUPTED = "interrupted"  # the run was cut off while it ran: it may or may not have completed
    NEEDS_INPUT = "needs_input"  # it asked a person who answers later: it runs again with the answer


#: read by the hot paths as module names: an Enum member read off its class goes through
#: EnumType's ``__getattr__`` hook, some twenty times the cost of a global
_SUCCESS = ActionStatus.SUCCESS

ItemType = Literal["text", "json", "image", "file", "audio", "resource"]


@dataclass(slots=True)
class ResultItem:
    """One piece of a tool's result: text, a JSON value, the path of an image, audio clip or file,
    or a resource (``{"uri", "mimeType", "text" or "blob"}``: a document the tool hands over as
    MCP does, its text what the model reads)."""

    type: ItemType
    content: Any
    #: a JSON item's text as the model reads it, where it was already encoded (checking that a
    #: tool's value is JSON encodes it): set by the executor, never serialised
    encoded: str | None = field(default=None, compare=False, repr=False)
    #: MCP content annotations, as a server sent them (``audience``, ``priority``, ``lastModified``):
    #: kept with the item and passed on; an item whose audience leaves out the assistant is the
    #: person's, not given to the model
    annotations: dict[str, Any] | None = None

    @classmethod
    def text(cls, content: str) -> ResultItem:
        return cls("text", content)

    @classmethod
    def json(cls, content: Any) -> ResultItem:
        return cls("json", content)

    @classmethod
    def image(cls, path: str) -> ResultItem:
        return cls("image", str(path))

    @classmethod
    def file(cls, path: str) -> ResultItem:
        return cls("file", str(path))

    @classmethod
    def audio(cls, path: str) -> ResultItem:
        return cls("audio", str(path))

    @classmethod
    def resource(
        cls, uri: str, *, text: str | None = None, blob: str | None = None, mime_type: str | None = None
    ) -> ResultItem:
        """A resource by value: ``text``, or ``blob`` (base64) for binary content."""
        if (text is None) == (blob is None):
            raise ValueError("a resource has either text or blob (base64), not both or neither")
        content: dict[str, Any] = {"uri": str(uri)}
        if mime_type:
            content["mimeType"] = mime_type
        if text is not None:
            content["text"] = str(text)
        else:
            content["blob"] = str(blob)
        return cls("resource", content)

    def to_dict(self) -> dict[str, Any]:
        if self.annotations is None:
            return {"type": self.type, "content": self.content}
        return {"type": self.type, "content": self.content, "annotations": self.annotations}

    @property
    def for_model(self) -> bool:
        """Is the item the model's to read? (not when its audience names only the person)"""
        audience = (self.annotations or {}).get("audience")
        return not isinstance(audience, list) or "assistant" in audience


@dataclass(slots=True)
class ToolCall:
    """A call the model asked for. ``raw`` keeps the model's own text of it."""

    name: str
    arguments: dict[str, Any] = field(default_factory=dict)
    id: str = ""
    raw: str = ""
    kind: Literal["plugin", "interpreter"] = "plugin"
    error: str | None = None  # set when the markup could not be read: ``raw`` is what the model wrote

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"name": self.name, "arguments": self.arguments}
        if self.id:
            d["id"] = self.id
        if self.kind != "plugin":
            d["kind"] = self.kind
        if self.error is not None:
            d["error"] = self.error
            d["raw"] = self.raw
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ToolCall:
        return cls(
            name=d["name"],
            arguments=d.get("arguments") or {},
            id=d.get("id", ""),
            raw=d.get("raw", ""),
            kind=d.get("kind", "plugin"),
            error=d.get("error"),
        )


#: what the model reads of a result whose every item is for the person only (MCP ``audience``)
FOR_THE_PERSON = "[the tool's result is for the person only; it was shown to them]"
TRUNCATION_MARKER = "\n…[truncated: showing {shown} of {total} characters]"


@dataclass(slots=True)
class ActionReturn:
    """What running one call produced: status, typed result items, error text, elapsed seconds."""

    name: str
    arguments: dict[str, Any]
    status: ActionStatus
    result: list[ResultItem] = field(default_factory=list)
    error: str | None = None
    elapsed: float = 0.0
    call_id: str = ""

    @property
    def ok(self) -> bool:
        return self.status is _SUCCESS

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "arguments": self.arguments,
            "status": self.status.value,
            "result": [item.to_dict() for item in self.result],
            "error": self.error,
            "elapsed": round(self.elapsed, 6),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ActionReturn:
        return cls(
            name=d["name"],
            arguments=d.get("arguments") or {},
            status=ActionStatus(d["status"]),
            result=[ResultItem(i["type"], i["content"], annotations=i.get("annotations")) for i in d.get("result", [])],
            error=d.get("error"),
            elapsed=d.get("elapsed", 0.0),
            call_id=d.get("call_id", ""),
        )

    def format_for_model(self, max_chars: int | None = 8000) -> str:
        """The text the model reads back: the error, or the result items, cut with a marker.

        Text items carry the readable form; JSON items are shown only when there is no text item
        (a tool that returns both gives the same data twice, and tokens are dear).
        """
        result = self.result
        if self.status is not _SUCCESS:
            body = f"Error ({self.status.value}): {self.error}"
        elif (
            len(result) == 1 and result[0].type in ("text", "json") and result[0].annotations is None
        ):  # the common result
            item = result[0]
            if item.type == "text":
                body = str(item.content)
            else:
                body = item.encoded if item.encoded is not None else dumps(item.content)
        else:
            shown = [i for i in self.result if i.annotations is None or i.for_model]
            has_text = any(i.type == "text" for i in shown)
            parts: list[str] = []
            if result and not shown:
                parts.append(FOR_THE_PERSON)
            for item in shown:
                if item.type == "text":
                    parts.append(str(item.content))
                elif item.type == "json":
                    if not has_text:
                        parts.append(item.encoded if item.encoded is not None else dumps(item.content))
                elif item.type == "resource" and isinstance(item.content, dict):
                    res = item.content
                    text = res.get("text")
                    parts.append(str(text) if isinstance(text, str) else f"[resource: {res.get('uri', '')}]")
                else:
                    parts.append(f"[{item.type}: {item.content}]")
            body = "\n".join(parts)
        if max_chars is None or len(body) <= max_chars:  # (truncate, without its call)
            return body
        return truncate(body, max_chars)


def truncate(text: str, max_chars: int | None) -> str:
    """Cut ``text`` to ``max_chars`` with a visible marker saying how much was dropped."""
    if max_chars is None or len(text) <= max_chars:
        return text
    return text[:max_chars] + TRUNCATION_MARKER.format(shown=max_chars, total=len(text))


@dataclass(slots=True)
class Message:
    """One turn of a conversation.

    ``name`` marks sub-roles: a system turn named ``plugin``/``interpreter``, a user turn named
    ``file`` (an uploaded file), a tool turn named after the tool it answers.
    """

    role: Role
    content: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    name: str | None = None
    tool_call_id: str | None = None
    thinking: str | None = None
    #: a tool turn's whole result (every item: text, JSON, images, files; status, error);
    #: ``content`` is the text the model reads
    result: ActionReturn | None = None
    #: the run's own record: a control item's, or on a reply whose calls ran, who ran them
    #: (see :mod:`liteagent.controls`); never shown to the model
    data: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"role": self.role, "content": self.content}
        if self.tool_calls:
            d["tool_calls"] = [c.to_dict() for c in self.tool_calls]
        if self.name is not None:
            d["name"] = self.name
        if self.tool_call_id is not None:
            d["tool_call_id"] = self.tool_call_id
        if self.thinking:
            d["thinking"] = self.thinking
        if self.result is not None:
            d["result"] = {**self.result.to_dict(), "call_id": self.result.call_id}
        if self.data is not None:
            d["data"] = self.data
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Message:
        return cls(
            role=d["role"],
            content=d.get("content") or "",
            tool_calls=[ToolCall.from_dict(c) for c in d.get("tool_calls", [])],
            name=d.get("name"),
            tool_call_id=d.get("tool_call_id"),
            thinking=d.get("thinking"),
            result=ActionReturn.from_dict(d["result"]) if d.get("result") else None,
            data=d.get("data"),
        )
