"""One connection to one MCP server, owned by one task on a loop of its own.

The SDK's anyio cancel scopes must be exited by the task that entered them, so a single owner
task opens the ``mcp.Client`` and closes it. The connection's loop has no thread of its own: the
thread that waits for an answer runs the loop itself until its answer is there (a hand-off to a
loop thread and back cost ~0.15 ms a call, a fifth of a small call's time). Calls from several
threads at once share it: one runs the loop, the others hand it their calls and wait, and take
over when it leaves. Between calls a keeper thread runs the loop for a moment every
``KEEP_S`` seconds, so pings, notifications and a server's exit are taken in while idle.
Every wait is bounded: connect (default 10 s) and per call (default 60 s); a hung or killed server
gives an error, never a hang, and the next call reconnects. A stdio child gets only the
environment configured for it and never outlives its connection (nor the process: closed at exit).
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import os
import re
import threading
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from ..errors import ToolError, ToolTimeout
from .config import MCPServerConfig

T = TypeVar("T")
_LIVE: weakref.WeakSet[MCPConnection] = weakref.WeakSet()
CONNECTION_CLOSED = -32000  # the SDK's error code when the server's side of the transport closed
BASE_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")  # what a stdio child needs to start
KEEP_S = 0.2  # how often an idle connection's loop takes in what arrived
_HELPERS = concurrent.futures.ThreadPoolExecutor(thread_name_prefix="liteagent-mcp")  # for callers on a loop


class _Job:
    """One awaitable run on the connection's loop for one waiting thread."""

    __slots__ = ("done", "dropped", "make", "task", "thread")

    def __init__(self, make: Callable[[], Awaitable[Any]], thread: int) -> None:
        self.make, self.thread = make, thread
        self.task: asyncio.Future[Any] | None = None
        self.done = self.dropped = False


class MCPConnection:
    def __init__(
        self,
        target: Any,
        name: str,
        connect_timeout: float = 10.0,
        call_timeout: float = 60.0,
        protocol: str | None = None,
    ) -> None:
        self.target, self.name = target, name
        self.connect_timeout, self.call_timeout = connect_timeout, call_timeout
        if protocol is None and isinstance(target, MCPServerConfig):
            protocol = target.protocol
        self.protocol = protocol  # None: the handshake first over stdio, else "auto" (see _modes)
        self._lock = threading.Lock()  # one connect or close at a time
        self._cv = threading.Condition(threading.Lock())  # guards _driver and the jobs' done flags
        self._driver: int | None = None  # the thread running the loop now
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing = threading.Event()
        self._keeper: threading.Thread | None = None
        self._client: Any = None
        self._stop: asyncio.Event | None = None
        self._owner: asyncio.Task[None] | None = None
        self.tools: list[Any] = []
        self.log_path: Path | None = None  # a stdio child's stderr
        self._log_start = 0
        _LIVE.add(self)

    # -- running the loop in the waiting thread ----------------------------------------------------
    def _run(self, make: Callable[[], Awaitable[T]], timeout: float) -> T:
        """Run ``make()`` on the connection's loop and return its result, waiting ``timeout``
        seconds at most (then it is cancelled and TimeoutError raised)."""
        if asyncio._get_running_loop() is not None:  # this thread runs a loop: wait in a helper thread
            return _HELPERS.submit(self._run, make, timeout).result()
        loop = self._ensure_loop()
        deadline = time.monotonic() + timeout
        job = _Job(make, threading.get_ident())
        cv = self._cv
        with cv:
            lead = self._driver is None
            if lead:
                self._driver = job.thread
        if lead:
            self._start(loop, job)
        else:
            loop.call_soon_threadsafe(self._start, loop, job)
        while True:
            if lead:
                try:
                    self._drive(loop, job, deadline)
                finally:
                    with cv:
                        self._driver = None
                        cv.notify_all()
            with cv:
                while not job.done and self._driver is not None:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    cv.wait(left)
                if job.done:
                    break
                if deadline - time.monotonic() <= 0:
                    job.dropped = True
                    loop.call_soon_threadsafe(_cancel, job)
                    raise TimeoutError
                lead = self._driver is None
                if lead:
                    self._driver = job.thread
        assert job.task is not None
        return job.task.result()

    def _start(self, loop: asyncio.AbstractEventLoop, job: _Job) -> None:
        if job.dropped:
            return
        job.task = task = asyncio.ensure_future(job.make(), loop=loop)
        task.add_done_callback(lambda _t: self._finished(loop, job))

    def _finished(self, loop: asyncio.AbstractEventLoop, job: _Job) -> None:
        with self._cv:
            job.done = True
            self._cv.notify_all()
        if job.thread == threading.get_ident():  # the thread waiting for it runs the loop: it may go
            loop.stop()

    def _drive(self, loop: asyncio.AbstractEventLoop, job: _Job, deadline: float) -> None:
        """Run the loop until ``job`` is done or the deadline passes (this thread holds the role)."""
        if job.done:
            return
        timer = loop.call_later(max(0.0, deadline - time.monotonic()), loop.stop)
        sniffio_local = _sniffio_local()
        before = getattr(sniffio_local, "name", None)
        if sniffio_local is not None:
            # anyio (under the SDK) asks sniffio at every stream operation; told, it skips looking
            # up the current task each time (a tenth of the client's time per call)
            sniffio_local.name = "asyncio"
        try:
            loop.run_forever()
        except BaseException:
            # a signal (a tool limit, ^C) ended the wait: the job is abandoned, its task cancelled
            job.dropped = True
            loop.call_soon_threadsafe(_cancel, job)
            raise
        finally:
            timer.cancel()
            if sniffio_local is not None:
                sniffio_local.name = before

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        loop = self._loop
        if loop is None or loop.is_closed():
            with self._cv:
                loop = self._loop
                if loop is None or loop.is_closed():
                    loop = self._loop = asyncio.new_event_loop()
                    self._closing = threading.Event()
                    self._keeper = threading.Thread(
                        target=self._keep, args=(loop, self._closing), name=f"liteagent-mcp-{self.name}", daemon=True
                    )
                    self._keeper.start()
        return loop

    def _keep(self, loop: asyncio.AbstractEventLoop, closing: threading.Event) -> None:
        """While the connection is idle, let its loop take in what arrived, now and then."""
        while not closing.wait(KEEP_S):
            with self._cv:
                if self._driver is not None or loop.is_closed():
                    continue
                self._driver = threading.get_ident()
            try:
                job = _Job(_settle, self._driver)
                self._start(loop, job)
                self._drive(loop, job, time.monotonic() + 1.0)
            except Exception:  # the keeper goes on; calls report their own errors
                pass
            finally:
                with self._cv:
                    self._driver = None
                    self._cv.notify_all()

    # -- lifecycle (the owner task) -------------------------------------------------------------
    @property
    def alive(self) -> bool:
        return self._client is not None and self._owner is not None and not self._owner.done()

    def connect(self) -> list[Any]:
        """Open the connection (once; again after it broke) and list the server's tools."""
        with self._lock:
            if self.alive:
                return self.tools
            self._end_owner()  # a broken connection: its owner closes it
            loop = self._ensure_loop()
            deadline = time.monotonic() + self.connect_timeout
            modes = _modes(self.protocol, self.target)
            for i, mode in enumerate(modes):

                async def open_(mode: str = mode) -> list[Any]:
                    ready: asyncio.Future[list[Any]] = loop.create_future()
                    self._stop = asyncio.Event()
                    self._owner = loop.create_task(self._own(ready, mode))
                    return await ready

                try:
                    self.tools = self._run(open_, max(0.0, deadline - time.monotonic()))
                    self.protocol = mode  # reconnects speak what worked
                    return self.tools
                except TimeoutError:
                    self._end_owner(cancel=True)
                    raise ToolError(
                        f"MCP server {self.name}: no answer within {self.connect_timeout:g} s of connecting"
                    ) from None
                except Exception as exc:
                    self._end_owner(cancel=True)
                    if i + 1 < len(modes) and _refused(exc):
                        continue  # a server of the per-request era only: discover it instead
                    raise ToolError(
                        f"MCP server {self.name}: cannot connect ({_why(exc)}){self.stderr_tail()}"
                    ) from None
            raise AssertionError("unreachable")

    async def _own(self, ready: asyncio.Future[list[Any]], mode: str) -> None:
        from mcp import Client, StdioServerParameters
        from mcp.client.stdio import stdio_client

        from .stdio import stdio_pipes, usable

        stack = contextlib.ExitStack()
        try:
            target = _transport(self.target)
            if isinstance(target, StdioServerParameters):
                # its stderr goes to a log file (a server's tracebacks are not the user's terminal's);
                # its exit is seen while the connection is idle too
                errlog = stack.enter_context(self._open_log(target))
                pipes = stdio_pipes(target, errlog) if usable(target) else stdio_client(target, errlog=errlog)
                target = _watched(pipes, self._drop)
            async with Client(target, read_timeout_seconds=self.call_timeout, mode=mode) as client:
                tools: list[Any] = []
                cursor = None
                while True:
                    page = await client.list_tools(cursor=cursor)
                    tools += page.tools
                    cursor = getattr(page, "next_cursor", None)
                    if not cursor:
                        break
                self._client = client
                if not ready.done():
                    ready.set_result(tools)
                assert self._stop is not None
                await self._stop.wait()
        except BaseException as exc:
            if not ready.done():
                ready.set_exception(exc if isinstance(exc, Exception) else RuntimeError(repr(exc)))
            if not isinstance(exc, Exception):
                raise
        finally:
            self._client = None
            stack.close()

    def _open_log(self, params: Any) -> Any:
        """The stdio child's stderr: appended to ``mcp-logs/NAME.log`` in the data directory
        (started afresh past 1 MB)."""
        from ..llms.local import data_dir

        folder = data_dir() / "mcp-logs"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / (re.sub(r"[^A-Za-z0-9_.-]", "_", self.name) + ".log")
        with contextlib.suppress(OSError):
            if path.stat().st_size > 2**20:
                os.replace(path, path.with_suffix(".log.1"))
        log = open(path, "a", encoding="utf-8", errors="replace")  # closed with the owner (its ExitStack)
        log.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} {params.command} {' '.join(params.args)}\n")
        log.flush()
        self.log_path, self._log_start = path, log.tell()
        return log

    def stderr_tail(self) -> str:
        """What the stdio child last wrote to its stderr in this connection, and where the rest is."""
        path = self.log_path
        if path is None:
            return ""
        try:
            with open(path, "rb") as f:
                f.seek(self._log_start)
                lines = [ln.strip() for ln in f.read()[-4096:].decode("utf-8", "replace").splitlines() if ln.strip()]
        except OSError:
            return ""
        last = _printable(lines[-1])[:300] if lines else ""
        return f"; its stderr ends: {last} (all of it: {path})" if last else ""

    def _end_owner(self, cancel: bool = False, timeout: float = 5.0) -> None:
        """Have the owner task close the connection (stdio child included) and wait for it."""
        owner, stop = self._owner, self._stop
        self._client = None
        if owner is None or owner.done():
            return

        async def end() -> None:
            if cancel:
                owner.cancel()
            elif stop is not None:
                stop.set()
            await asyncio.wait({owner})

        try:
            self._run(end, timeout)
        except TimeoutError:
            with contextlib.suppress(TimeoutError):
                self._run(lambda: _cancel_and_wait(owner), timeout)

    def close(self, timeout: float = 5.0) -> None:
        """Close the connection from its owner task (stdio child included); the loop goes too."""
        with self._lock:
            loop = self._loop
            if loop is None or loop.is_closed():
                return
            self._end_owner(timeout=timeout)
            self._closing.set()
            keeper = self._keeper
            if keeper is not None and keeper is not threading.current_thread():
                keeper.join(timeout=timeout)
            with contextlib.suppress(TimeoutError):
                self._run(_cancel_the_rest, timeout)  # what calls left behind
            with self._cv:
                self._cv.wait_for(lambda: self._driver is None, timeout)  # a caller still leaving
                self._loop = None
                loop.close()
            self._client = None

    # -- calls ------------------------------------------------------------------------------------
    async def call(self, tool: str, arguments: dict[str, Any], timeout: float | None = None) -> Any:
        """The CallToolResult of ``tool``, awaited from any event loop (the wait is in a worker thread)."""
        return await asyncio.get_running_loop().run_in_executor(None, self.call_sync, tool, arguments, timeout)

    def call_sync(self, tool: str, arguments: dict[str, Any], timeout: float | None = None) -> Any:
        """The CallToolResult of ``tool``; this thread runs the connection's loop meanwhile."""
        limit = timeout or self.call_timeout
        if not self.alive:
            self.connect()
        try:
            # the SDK's read timeout bounds the call; this wait (limit + 2 s) bounds the rest
            return self._run(lambda: self._call(tool, arguments, limit), limit + 2)
        except TimeoutError:
            raise ToolTimeout(f"MCP tool {self.name}.{tool} gave no answer within {limit:g} s") from None

    async def _call(self, tool: str, arguments: dict[str, Any], limit: float) -> Any:
        from mcp import MCPError

        client = self._client
        if client is None:
            raise ToolError(f"MCP server {self.name} is not connected")
        try:
            return await client.call_tool(tool, arguments, read_timeout_seconds=limit)
        except (asyncio.TimeoutError, TimeoutError):
            raise ToolTimeout(f"MCP tool {self.name}.{tool} gave no answer within {limit:g} s") from None
        except MCPError as exc:
            if exc.code == CONNECTION_CLOSED:
                self._drop()
                raise ToolError(f"MCP server {self.name}: {exc.message}{self.stderr_tail()}") from None
            raise ToolError(f"MCP server {self.name}: {exc.message}") from None
        except Exception as exc:
            self._drop()  # the transport broke: the next call connects again
            raise ToolError(f"MCP server {self.name} failed the call ({_why(exc)})") from None

    def _drop(self) -> None:
        """Forget a broken connection; its owner task closes it (the next call reconnects)."""
        self._client = None
        if self._stop is not None:
            self._stop.set()


def _modes(protocol: str | None, target: Any) -> tuple[str, ...]:
    """The SDK's ``mode`` values to try, in order. Unset, a stdio server is spoken to in the
    handshake era first: its session lives as long as the pipe, and the per-request envelope of
    the 2026-07-28 era costs an SDK server ~0.13 ms a call (a fifth of a small call) for nothing
    a pipe needs; a server that refuses the handshake is discovered instead. Anything else
    (HTTP, an in-process server) gets the SDK's default, ``auto``."""
    if protocol is not None:
        return (protocol,)
    from mcp import StdioServerParameters

    stdio = isinstance(target, StdioServerParameters) or (isinstance(target, MCPServerConfig) and not target.url)
    return ("legacy", "auto") if stdio else ("auto",)


def _refused(exc: BaseException) -> bool:
    """Did the server answer the handshake with a refusal (rather than fail to answer)?"""
    from mcp import MCPError

    while getattr(exc, "exceptions", None):  # an ExceptionGroup from a task group: its first cause
        exc = exc.exceptions[0]  # type: ignore[attr-defined]

    if isinstance(exc, MCPError):
        return exc.code != CONNECTION_CLOSED
    return isinstance(exc, RuntimeError) and "protocol version" in str(exc)


@contextlib.asynccontextmanager
async def _watched(transport: Any, on_end: Callable[[], None]) -> AsyncIterator[tuple[Any, Any]]:
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


def _printable(text: str) -> str:
    """A server's text for an error line: control characters (terminal escapes) shown, not sent."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _cancel(job: _Job) -> None:
    if job.task is not None:
        job.task.cancel()


async def _settle() -> None:
    for _ in range(8):  # a few rounds: a message read, dispatched, answered
        await asyncio.sleep(0)


async def _cancel_and_wait(task: asyncio.Future[Any]) -> None:
    task.cancel()
    await asyncio.wait({task})


async def _cancel_the_rest() -> None:
    me = asyncio.current_task()
    rest = [t for t in asyncio.all_tasks() if t is not me]
    for t in rest:
        t.cancel()
    if rest:
        await asyncio.wait(rest)


def _sniffio_local() -> Any:
    try:
        import sniffio
    except ImportError:
        return None
    return sniffio.thread_local


def mark_asyncio_thread() -> None:
    """Tell sniffio that this thread runs only asyncio (no lookup per anyio operation)."""
    local = _sniffio_local()
    if local is not None:
        local.name = "asyncio"


def _why(exc: BaseException) -> str:
    inner = getattr(exc, "exceptions", None)  # an ExceptionGroup from a task group: its first cause
    if inner:
        return _why(inner[0])
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _transport(target: Any) -> Any:
    """What ``mcp.Client`` takes for a config entry: stdio parameters or an HTTP transport."""
    if not isinstance(target, MCPServerConfig):
        return target  # a Server, an MCPServer, a URL, StdioServerParameters: as given
    if target.url:
        if not target.headers:
            return target.url
        import httpx2
        from mcp.client.streamable_http import streamable_http_client

        return streamable_http_client(target.url, http_client=httpx2.AsyncClient(headers=target.headers))
    from mcp import StdioServerParameters

    env = {k: os.environ[k] for k in BASE_ENV if k in os.environ} | target.env
    assert target.command is not None
    return StdioServerParameters(command=target.command, args=list(target.args), env=env, cwd=target.cwd)


@atexit.register
def _close_all() -> None:
    for conn in list(_LIVE):
        with contextlib.suppress(Exception):
            conn.close(timeout=3)
