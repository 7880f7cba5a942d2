"""The model backend interface: a request in, text chunks out. Backends know nothing of tools
beyond passing a native ``tools`` list through."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

from ..request import Request

DEFAULT_MODEL_NAME = "smollm2-135m-instruct"  # the embedded model's name (it picks the dialect)


@dataclass(slots=True)
class ToolCallDelta:
    """A fragment of a native tool call (OpenAI streaming splits them)."""

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str | None = None


@dataclass(slots=True)
class Chunk:
    text: str = ""
    thinking: str = ""
    tool_calls: list[ToolCallDelta] | None = None
    finish_reason: str | None = None
    usage: dict[str, int] | None = None
    #: (stage, fraction 0-1) while the backend works before its first token (reading the prompt)
    progress: tuple[str, float] | None = None


@dataclass(slots=True)
class GenerationConfig:
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = 1024
    extra: dict[str, Any] = field(default_factory=dict)


class LLM(ABC):
    """Where tokens come from. Implement ``astream``; ``model`` names the model (used by ``auto``)."""

    model: str = ""
    #: the model server's URL, where there is one (traces name it)
    base_url: str | None = None
    #: whether ``Request.grammar`` (GBNF) constrains decoding here
    supports_grammar: bool = False
    #: whether ``stream_sync`` answers without an event loop (then ``Agent.run`` needs none)
    sync_streaming: bool = False

    @abstractmethod
    def astream(self, request: Request, config: GenerationConfig | None = None) -> AsyncIterator[Chunk]:
        """Yield the reply in chunks. Raise :class:`liteagent.errors.LLMError` on failure."""

    def stream_sync(self, request: Request, config: GenerationConfig | None = None) -> Iterator[Chunk]:
        """The reply in chunks, from sync code; only where ``sync_streaming`` is true."""
        raise NotImplementedError(f"{type(self).__name__} streams asynchronously only")

    #: the model's context size in tokens, where the backend knows it (None: unknown)
    context_tokens: int | None = None

    def count_tokens(self, request: Request) -> int:
        """Tokens ``request`` takes in the model's context. Backends without a tokenizer here
        estimate on the safe side: one token per 3 bytes of the prompt or messages and tools."""
        if request.prompt is not None:
            size = len(request.prompt.encode("utf-8"))
        else:
            size = sum(len(str(m.get("content") or "").encode("utf-8")) + 8 for m in request.messages or [])
            if request.tools:
                size += len(json.dumps(request.tools, ensure_ascii=False).encode("utf-8"))
        return size // 3 + 1

    async def aclose(self) -> None:
        """Release connections."""

    async def resolve_model(self) -> str:
        """The served model's name (a server may be asked); used by protocol ``auto``."""
        return self.model
