"""Newline-delimited JSON-RPC on pipes, for both ends of a stdio connection: what the event loop
reads goes line by line, parsed, straight into the session's read stream, and each message is
written straight to the pipe. The SDK's stdio transports put a task between pipe and session
each way (a loop round per message, ~0.1 ms a call on each side)."""

from __future__ import annotations

import asyncio
import math
import re
from typing import Any

import anyio

MAX_LINE = 64 * 2**20  # the longest message read from a pipe
HIGH = 64  # messages waiting before the pipe is read no further (resumed at half)


TOO_LARGE = -32090  # our JSON-RPC error code (the SDK uses -32000..-32042) for an answer dropped for its size
_EDGE = 2048  # bytes kept of each end of a line being dropped: where its id is
_ID_HEAD = re.compile(rb'^\s*\{\s*(?:"jsonrpc"\s*:\s*"2\.0"\s*,\s*)?"id"\s*:\s*(-?\d+|"[^"\\]{0,200}")')
_ID_TAIL = re.compile(rb'"id"\s*:\s*(-?\d+|"[^"\\]{0,200}")\s*\}\s*$')


class Inbox:
    """Lines in, messages out: each whole line parsed as JSON-RPC and put in the read stream
    (a line that is not JSON-RPC as the error, which the SDK reports); reading the pipe pauses
    while more than ``HIGH`` messages wait. ``stream`` is the session's read stream.

    A line longer than ``max_line`` is never held whole: it is dropped as it arrives, and when its
    id can be read from either end (SDKs put it first or last) the waiting request gets an error
    response (``TOO_LARGE``) at once instead of waiting for its timeout."""

    def __init__(self, max_line: int = MAX_LINE) -> None:
        self._send, receive = anyio.create_memory_object_stream[Any](math.inf)
        self.stream = InboxStream(receive, self)
        self.pipe: Any = None  # the read transport: paused and resumed
        self.paused = False
        self.max_line = max_line
        self._parts: list[bytes] = []  # the line so far (joined once it ends: linear in its size)
        self._size = 0
        self._head: bytes | None = None  # set while dropping a line too long: its first bytes
        self._end = b""  # and its last bytes

    def feed(self, data: bytes) -> None:
        start = 0
        while True:
            nl = data.find(b"\n", start)
            piece = data[start:] if nl < 0 else data[start:nl]
            if self._head is not None:
                self._end = (self._end + piece)[-_EDGE:]
            else:
                self._parts.append(piece)
                self._size += len(piece)
                if self._size > self.max_line:
                    joined = b"".join(self._parts)
                    self._head, self._end = joined[:_EDGE], joined[-_EDGE:]
                    self._parts, self._size = [], 0
            if nl < 0:
                return
            if self._head is not None:
                self._put(self._too_large(self._head, self._end))
                self._head, self._end = None, b""
            else:
                line = self._parts[0] if len(self._parts) == 1 else b"".join(self._parts)
                self._parts, self._size = [], 0
                if line.strip():
                    self._put(_parse(line))
            start = nl + 1

    def _too_large(self, head: bytes, end: bytes) -> Any:
        import mcp.types as t
        from mcp.shared.message import SessionMessage

        found = _ID_HEAD.match(head) or _ID_TAIL.search(end)
        why = f"a message over {self.max_line / 2**20:g} MB was dropped"
        if found is None:
            return ValueError(why)
        raw = found.group(1)
        rid: Any = raw[1:-1].decode("utf-8", "replace") if raw.startswith(b'"') else int(raw)
        error = t.JSONRPCError(jsonrpc="2.0", id=rid, error=t.ErrorData(code=TOO_LARGE, message=why))
        return SessionMessage(error)

    def _put(self, item: Any) -> None:
        try:
            self._send.send_nowait(item)
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            return
        if self.pipe is not None and not self.paused and self.stream.waiting() > HIGH:
            self.paused = True
            self.pipe.pause_reading()

    def taken(self) -> None:
        if self.paused and self.stream.waiting() <= HIGH // 2:
            self.paused = False
            if self.pipe is not None and not self.pipe.is_closing():
                self.pipe.resume_reading()

    def close(self) -> None:
        """The pipe's end: the stream ends after what it holds."""
        self._send.close()


class InboxStream:
    """The session's read stream (the SDK's ReadStream protocol) over an Inbox."""

    def __init__(self, inner: Any, inbox: Inbox) -> None:
        self._inner, self._inbox = inner, inbox

    def waiting(self) -> int:
        return int(self._inner.statistics().current_buffer_used)

    async def receive(self) -> Any:
        item = await self._inner.receive()
        if self._inbox.paused:
            self._inbox.taken()
        return item

    def __aiter__(self) -> InboxStream:
        return self

    async def __anext__(self) -> Any:
        try:
            return await self.receive()
        except anyio.EndOfStream:
            raise StopAsyncIteration from None

    async def aclose(self) -> None:
        self._inner.close()

    async def __aenter__(self) -> InboxStream:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self._inner.close()


def _parse(line: bytes) -> Any:
    import mcp.types as t
    from mcp.shared.message import SessionMessage

    try:
        return SessionMessage(t.jsonrpc_message_adapter.validate_json(line, by_name=False))
    except Exception as exc:
        return exc


def encode(item: Any) -> bytes:
    """A SessionMessage as one line of JSON."""
    return item.message.model_dump_json(by_alias=True, exclude_unset=True).encode("utf-8") + b"\n"


class FdWriter:
    """A write stream onto a blocking pipe descriptor (the server's stdout): each message written
    whole before ``send`` returns."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    async def send(self, item: Any) -> None:
        import os

        data = memoryview(encode(item))
        while data:  # a write cut short (a signal mid-write) goes on where it stopped
            data = data[os.write(self.fd, data) :]

    async def aclose(self) -> None:
        return None

    async def __aenter__(self) -> FdWriter:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        return None


class PipeWriter:
    """A write stream onto an asyncio write transport (a child's stdin), waiting while the pipe
    is full; a closed pipe raises what the SDK reads as the connection closed."""

    def __init__(self, pipe: asyncio.WriteTransport) -> None:
        self.pipe = pipe
        self.room: asyncio.Future[None] | None = None  # set while the pipe is full

    async def send(self, item: Any) -> None:
        if self.pipe.is_closing():
            raise anyio.BrokenResourceError
        self.pipe.write(encode(item))
        while self.room is not None and not self.pipe.is_closing():
            await asyncio.shield(self.room)

    def pause(self) -> None:
        if self.room is None:
            self.room = asyncio.get_running_loop().create_future()

    def resume(self) -> None:
        room, self.room = self.room, None
        if room is not None and not room.done():
            room.set_result(None)

    async def aclose(self) -> None:
        self.resume()

    async def __aenter__(self) -> PipeWriter:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self.resume()
