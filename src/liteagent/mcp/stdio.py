"""The client's stdio transport (the SDK's ``Transport`` protocol, POSIX): the server's stdout
read by the event loop straight into the session, messages written straight to its stdin (see
``lines``). The process is handled as the SDK's ``stdio_client`` does it: a session (process
group) of its own, the environment ``get_default_environment() | params.env``, stderr to
``errlog``; at the end, per the MCP lifecycle, stdin closed, 2 s to exit, then SIGTERM to the
whole group, 2 s more, then SIGKILL. Cancelled during that wait, it kills the group at once:
no server outlives its connection. Also here: the child's stderr log, and a read stream that
tells when the child's side ended."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from .lines import Inbox, PipeWriter

GRACE_S = 2.0  # to exit after stdin closes, then again after SIGTERM


def usable(params: Any) -> bool:
    """Can this transport run ``params`` (else the SDK's stdio_client does)?"""
    return sys.platform != "win32" and params.encoding.lower().replace("-", "") == "utf8"


@contextlib.asynccontextmanager
async def stdio_pipes(params: Any, errlog: TextIO, max_line: int | None = None) -> AsyncIterator[tuple[Any, Any]]:
    from mcp.client.stdio import get_default_environment

    from .lines import Inbox, PipeWriter

    loop = asyncio.get_running_loop()
    inbox = Inbox(max_line) if max_line else Inbox()
    transport, proto = await loop.subprocess_exec(
        lambda: _ServerPipes(inbox),
        params.command,
        *params.args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=errlog,
        env=get_default_environment() | (params.env or {}),
        cwd=params.cwd,
        start_new_session=True,
    )
    try:
        stdin = transport.get_pipe_transport(0)
        inbox.pipe = transport.get_pipe_transport(1)
        assert isinstance(stdin, asyncio.WriteTransport)
        proto.writer = PipeWriter(stdin)
        yield inbox.stream, proto.writer
    finally:
        import anyio

        with anyio.CancelScope(shield=True):  # the session's teardown must not cut the server's
            await _stop(transport, proto, inbox)


class _ServerPipes(asyncio.SubprocessProtocol):
    def __init__(self, inbox: Inbox) -> None:
        self.inbox = inbox
        self.writer: PipeWriter | None = None
        self.exited = asyncio.get_running_loop().create_future()

    def pipe_data_received(self, fd: int, data: bytes | str) -> None:
        if fd == 1 and isinstance(data, bytes):
            self.inbox.feed(data)

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        if fd == 1:
            self.inbox.close()  # the server's output ended: the session sees the connection close
        elif fd == 0 and self.writer is not None:
            self.writer.resume()  # a writer waiting for room finds the pipe closed

    def pause_writing(self) -> None:
        if self.writer is not None:
            self.writer.pause()

    def resume_writing(self) -> None:
        if self.writer is not None:
            self.writer.resume()

    def process_exited(self) -> None:
        if not self.exited.done():
            self.exited.set_result(None)
        self.inbox.close()


async def _stop(transport: asyncio.SubprocessTransport, proto: _ServerPipes, inbox: Inbox) -> None:
    """Close stdin, give the server time to exit, then signal its whole group (spec order)."""
    inbox.close()
    pgid = transport.get_pid()
    try:
        stdin = transport.get_pipe_transport(0)
        if stdin is not None:
            stdin.close()
        if not await _exited(proto, GRACE_S):
            _signal_group(pgid, signal.SIGTERM)
            if not await _exited(proto, GRACE_S):
                _signal_group(pgid, signal.SIGKILL)
                await _exited(proto, GRACE_S)
    except BaseException:
        _signal_group(pgid, signal.SIGKILL)  # cancelled while waiting: no waiting, no survivor
        raise
    finally:
        transport.close()


async def _exited(proto: _ServerPipes, timeout: float) -> bool:
    try:
        await asyncio.wait_for(asyncio.shield(proto.exited), timeout)
        return True
    except (asyncio.TimeoutError, TimeoutError):
        return False


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


class StderrLog:
    """A stdio child's stderr: appended to ``mcp-logs/NAME.log`` in the data directory (started
    afresh past 1 MB), not over the user's terminal; its last line goes into error messages."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.path: Path | None = None
        self._start = 0

    def open(self, params: Any) -> TextIO:
        """The file to hand the child as its stderr (the caller closes it)."""
        from .client_host import log_path

        path = log_path(self.name)
        path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(OSError):
            if path.stat().st_size > 2**20:
                os.replace(path, path.with_suffix(".log.1"))
        log = open(path, "a", encoding="utf-8", errors="replace")  # the caller closes it
        log.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} {params.command} {' '.join(params.args)}\n")
        log.flush()
        self.path, self._start = path, log.tell()
        return log

    def tail(self) -> str:
        """``; its stderr ends: LINE (all of it: PATH)`` for this connection's child, or ``""``."""
        if self.path is None:
            return ""
        try:
            with open(self.path, "rb") as f:
                f.seek(self._start)
                text = f.read()[-4096:].decode("utf-8", "replace")
        except OSError:
            return ""
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        last = _printable(lines[-1])[:300] if lines else ""
        return f"; its stderr ends: {last} (all of it: {self.path})" if last else ""


def _printable(text: str) -> str:
    """A server's text for an error line: control characters (terminal escapes) shown, not sent."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


@contextlib.asynccontextmanager
async def watched(transport: Any, on_end: Callable[[], None]) -> AsyncIterator[tuple[Any, Any]]:
    """``transport`` with its read stream watched: ``on_end`` is called when the server's side
    ends (its process exited), so the connection is known broken before the next call."""
    async with transport as (read, write):
        yield _EndWatch(read, on_end), write


class _EndWatch:
    """A transport's read stream that calls ``on_end`` at its end; otherwise just the stream."""

    def __init__(self, inner: Any, on_end: Callable[[], None]) -> None:
        self._inner, self._on_end = inner, on_end

    @property
    def last_context(self) -> Any:
        return getattr(self._inner, "last_context", None)

    async def receive(self) -> Any:
        try:
            return await self._inner.receive()
        except Exception:
            self._on_end()
            raise

    def __aiter__(self) -> _EndWatch:
        return self

    async def __anext__(self) -> Any:
        try:
            return await self._inner.__anext__()
        except BaseException as exc:
            if isinstance(exc, (StopAsyncIteration, Exception)):
                self._on_end()
            raise

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def __aenter__(self) -> _EndWatch:
        await self._inner.__aenter__()
        return self

    async def __aexit__(self, *exc: Any) -> Any:
        return await self._inner.__aexit__(*exc)
