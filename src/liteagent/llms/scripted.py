"""ScriptedLLM: a test double that replays given replies and records every request.

Users test their own agents with it, as we do::

    llm = ScriptedLLM(['<tool_call>{"name": "add", "arguments": {"a": 1, "b": 2}}</tool_call>', "3"])
    agent = Agent(llm, [add], protocol="hermes")
    assert agent.run("1+2?").answer == "3"
    assert "add" in llm.requests[0].messages[0]["content"]
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ..errors import LLMError
from ..request import Request
from .base import LLM, Chunk, GenerationConfig, ToolCallDelta


@dataclass(slots=True)
class ScriptedReply:
    """One reply: text and, for the openai dialect, native tool calls ``{"name", "arguments"}``."""

    text: str = ""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    thinking: str = ""
    #: the finish reason to report (default: "tool_calls" with native calls, else "stop");
    #: "length" plays a reply cut off at the token limit
    finish_reason: str | None = None


class ScriptedLLM(LLM):
    """Replays ``outputs`` in order, one per model turn, optionally in chunks of ``chunk_size``.

    An output may be a string, a :class:`ScriptedReply`, or a callable taking the request and
    returning either (to answer based on what was sent).
    """

    def __init__(
        self,
        outputs: Iterable[str | ScriptedReply | Callable[[Request], str | ScriptedReply]],
        chunk_size: int | None = None,
        model: str = "scripted",
    ) -> None:
        self.outputs = list(outputs)
        self.chunk_size = chunk_size
        self.model = model
        self.requests: list[Request] = []
        self._next = 0

    @property
    def prompts(self) -> list[Any]:
        """What each turn sent: the raw prompt, or the chat messages."""
        return [r.prompt if r.prompt is not None else r.messages for r in self.requests]

    def reset(self) -> None:
        self._next = 0
        self.requests.clear()

    sync_streaming = True

    async def astream(self, request: Request, config: GenerationConfig | None = None) -> AsyncIterator[Chunk]:
        for chunk in self.stream_sync(request, config):
            yield chunk

    def stream_sync(self, request: Request, config: GenerationConfig | None = None) -> Iterator[Chunk]:
        self.requests.append(request)
        if self._next >= len(self.outputs):
            raise LLMError(f"ScriptedLLM has no reply left: {len(self.outputs)} were given and all are used")
        out = self.outputs[self._next]
        self._next += 1
        if callable(out):
            out = out(request)
        reply = out if isinstance(out, ScriptedReply) else ScriptedReply(text=out)
        if reply.thinking:
            yield Chunk(thinking=reply.thinking)
        text, size = reply.text, self.chunk_size
        if text:
            if not size or size >= len(text):
                yield Chunk(text=text)
            else:
                for i in range(0, len(text), size):
                    yield Chunk(text=text[i : i + size])
        if reply.tool_calls:
            import json

            deltas = [
                ToolCallDelta(
                    index=i,
                    id=c.get("id", f"call_{i}"),
                    name=c["name"],
                    arguments=c["arguments"]
                    if isinstance(c.get("arguments"), str)
                    else json.dumps(c.get("arguments", {})),
                )
                for i, c in enumerate(reply.tool_calls)
            ]
            yield Chunk(tool_calls=deltas)
        yield Chunk(finish_reason=reply.finish_reason or ("tool_calls" if reply.tool_calls else "stop"))
