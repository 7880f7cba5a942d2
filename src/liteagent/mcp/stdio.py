"""The client's stdio transport (the SDK's ``Transport`` protocol, POSIX): the server's stdout
read by the event loop straight into the session, messages written straight to its stdin (see
``lines``). The process is handled as the SDK's ``stdio_client`` does it: a session (process
group) of its own, the environment ``get_default_environment() | params.env``, stderr to
``errlog``; at the end, per the MCP lifecycle, stdin closed, 2 s to exit, then SIGTERM to the
whole group, 2 s more, then SIGKILL. Cancelled during that wait, it kills the group at once:
no server outlives its connection."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator
from typing import Any, TextIO

from .lines import Inbox, PipeWriter

GRACE_S = 2.0  # to exit after stdin closes, then again after SIGTERM


def usable(params: Any) -> bool:
    """Can this transport run ``params`` (else the SDK's stdio_client does)?"""
    return sys.platform != "win32" and params.encoding.lower().replace("-", "") == "utf8"


@contextlib.asynccontextmanager
async def stdio_pipes(params: Any, errlog: TextIO) -> AsyncIterator[tuple[Any, Any]]:
    from mcp.client.stdio import get_default_environment

    loop = asyncio.get_running_loop()
    inbox = Inbox()
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
