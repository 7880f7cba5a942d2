"""Record a model's replies and answer from them: offline, deterministic agent tests against real
model behaviour.

``RecordingLLM(llm, FILE)`` (``--record FILE``) appends one JSON line per model call: the request
as canonical bytes (what the model was sent: messages or prompt, tools, grammar, sampling
settings; never a key or a header) with their SHA-256, and the streamed chunks with their
timing. ``ReplayLLM(FILE)`` (``--replay FILE``) answers each request from the file: strict, so a
request that is not in it is an error showing where it first differs from the nearest recorded
one; ``speed`` 0 (default) replays at once, 1 at the recorded pace.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
import time
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

from ..errors import LLMError, UsageError
from ..request import Request
from .base import LLM, Chunk, GenerationConfig, ToolCallDelta

VERSION = 1


def request_bytes(model: str, request: Request, config: GenerationConfig | None) -> bytes:
    """What a model call asks, as canonical bytes (the same request: the same bytes)."""
    cfg = config or GenerationConfig()
    doc: dict[str, Any] = {"model": model, **request.to_dict()}
    if request.grammar:
        doc["grammar"] = request.grammar
    doc["max_tokens"], doc["temperature"], doc["top_p"] = cfg.max_tokens, cfg.temperature, cfg.top_p
    if cfg.extra:
        doc["config_extra"] = cfg.extra
    return json.dumps(doc, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str).encode("utf-8")


def _chunk_dict(chunk: Chunk, at: float) -> dict[str, Any]:
    d: dict[str, Any] = {"t": round(at, 6)}
    if chunk.text:
        d["text"] = chunk.text
    if chunk.thinking:
        d["thinking"] = chunk.thinking
    if chunk.tool_calls:
        d["tool_calls"] = [
            {"index": t.index, "id": t.id, "name": t.name, "arguments": t.arguments} for t in chunk.tool_calls
        ]
    if chunk.finish_reason:
        d["finish_reason"] = chunk.finish_reason
    if chunk.usage:
        d["usage"] = chunk.usage
    return d


def _chunk_of(d: dict[str, Any]) -> Chunk:
    calls = d.get("tool_calls")
    return Chunk(
        text=d.get("text", ""),
        thinking=d.get("thinking", ""),
        tool_calls=[ToolCallDelta(c["index"], c.get("id"), c.get("name"), c.get("arguments")) for c in calls]
        if calls
        else None,
        finish_reason=d.get("finish_reason"),
        usage=d.get("usage"),
    )


class RecordingLLM(LLM):
    """``llm``, with each call appended to ``path`` (JSON lines) once its reply has ended."""

    def __init__(self, llm: LLM, path: str | Path) -> None:
        self.inner = llm
        self.path = Path(path)
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8"):
                pass
        except OSError as exc:
            raise UsageError(f"`record=` {path}: cannot write there ({exc.strerror or exc})") from None

    # the backend as it is, but for the recording
    @property
    def model(self) -> str:  # type: ignore[override]
        return self.inner.model

    @model.setter
    def model(self, value: str) -> None:
        self.inner.model = value

    @property
    def supports_grammar(self) -> bool:  # type: ignore[override]
        return self.inner.supports_grammar

    @property
    def sync_streaming(self) -> bool:  # type: ignore[override]
        return self.inner.sync_streaming

    @property
    def context_tokens(self) -> int | None:  # type: ignore[override]
        return self.inner.context_tokens

    def count_tokens(self, request: Request) -> int:
        return self.inner.count_tokens(request)

    async def resolve_model(self) -> str:
        return await self.inner.resolve_model()

    async def aclose(self) -> None:
        await self.inner.aclose()

    def __getattr__(self, name: str) -> Any:  # base_url, config, ... of the backend
        return getattr(self.inner, name)

    def _write(self, request: Request, config: GenerationConfig | None, chunks: list[dict[str, Any]]) -> None:
        raw = request_bytes(self.inner.model, request, config)
        line = {
            "v": VERSION,
            "sha256": hashlib.sha256(raw).hexdigest(),
            "request": raw.decode("utf-8"),
            "chunks": chunks,
        }
        text = json.dumps(line, ensure_ascii=False) + "\n"
        with self._lock, self.path.open("a", encoding="utf-8") as f:
            f.write(text)

    def stream_sync(self, request: Request, config: GenerationConfig | None = None) -> Iterator[Chunk]:
        start, got = time.perf_counter(), []
        for chunk in self.inner.stream_sync(request, config):
            got.append(_chunk_dict(chunk, time.perf_counter() - start))
            yield chunk
        self._write(request, config, got)

    async def astream(self, request: Request, config: GenerationConfig | None = None) -> AsyncIterator[Chunk]:
        start, got = time.perf_counter(), []
        async for chunk in self.inner.astream(request, config):
            got.append(_chunk_dict(chunk, time.perf_counter() - start))
            yield chunk
        self._write(request, config, got)


class ReplayLLM(LLM):
    """Answers from a recording. Strict: a request the file does not hold is an LLMError naming
    where it first differs from the nearest recorded request. The same request asked several
    times gets its recorded replies in order (then the last again)."""

    sync_streaming = True

    def __init__(self, path: str | Path, speed: float = 0.0, model: str | None = None) -> None:
        if speed < 0:
            raise UsageError(f"`replay_speed=` {speed!r} must be 0 (at once) or more (1: as recorded)")
        self.path, self.speed = Path(path), speed
        self.sync_streaming = speed == 0  # at the recorded pace it waits: on an event loop, asynchronously
        self._replies: dict[str, deque[list[dict[str, Any]]]] = defaultdict(deque)
        self._last: dict[str, list[dict[str, Any]]] = {}
        self._requests: list[str] = []
        models: list[str] = []
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            raise UsageError(f"`replay=` {path}: no such recording") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"`replay=` {path}: cannot read it ({type(exc).__name__})") from None
        for n, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
                digest, request, chunks = entry["sha256"], entry["request"], entry["chunks"]
                models.append(json.loads(request).get("model") or "")
            except (ValueError, KeyError, TypeError, AttributeError):
                raise UsageError(f"`replay=` {path} line {n}: not a recorded model call") from None
            self._replies[digest].append(chunks)
            self._last[digest] = chunks
            self._requests.append(request)
        if not self._requests:
            raise UsageError(f"`replay=` {path}: the recording is empty")
        self.model = model if model is not None else (models[0] if models else "")

    def _reply(self, request: Request, config: GenerationConfig | None) -> list[dict[str, Any]]:
        raw = request_bytes(self.model, request, config)
        digest = hashlib.sha256(raw).hexdigest()
        queue = self._replies.get(digest)
        if queue:
            return queue.popleft() if len(queue) > 1 else queue[0]
        if digest in self._last:
            return self._last[digest]
        raise LLMError(self._miss(raw.decode("utf-8")))

    def _miss(self, asked: str) -> str:
        """Where ``asked`` first differs from the recorded request sharing the longest prefix."""

        def common(a: str, b: str) -> int:
            n = min(len(a), len(b))
            i = 0
            while i < n and a[i] == b[i]:
                i += 1
            return i

        best = max(self._requests, key=lambda r: common(asked, r))
        at = common(asked, best)
        lo = max(0, at - 40)
        return (
            f"this request is not in the recording {self.path} ({len(self._requests)} calls); it differs from the "
            f"nearest recorded one at byte {at}: recorded {best[lo : at + 60]!r}, asked {asked[lo : at + 60]!r}"
        )

    def stream_sync(self, request: Request, config: GenerationConfig | None = None) -> Iterator[Chunk]:
        start = time.perf_counter()
        for d in self._reply(request, config):
            if self.speed:
                wait = d.get("t", 0) / self.speed - (time.perf_counter() - start)
                if wait > 0:
                    time.sleep(wait)
            yield _chunk_of(d)

    async def astream(self, request: Request, config: GenerationConfig | None = None) -> AsyncIterator[Chunk]:
        start = time.perf_counter()
        for d in self._reply(request, config):
            if self.speed:
                wait = d.get("t", 0) / self.speed - (time.perf_counter() - start)
                if wait > 0:
                    await asyncio.sleep(wait)
            yield _chunk_of(d)


__all__ = ["RecordingLLM", "ReplayLLM", "request_bytes"]
