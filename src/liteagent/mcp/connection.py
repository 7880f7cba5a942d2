"""One connection to one MCP server, owned by one task on a loop of its own.

The SDK's anyio cancel scopes must be exited by the task that entered them, so a single owner
task opens the ``mcp.Client`` and closes it; calls from any thread or event loop (the sync API,
the async API, the web chat's reruns) are handed to that loop and wait for their answer there.
Every wait is bounded: connect (default 10 s) and per call (default 60 s); a hung or killed server
gives an error, never a hang, and the next call reconnects. A stdio child gets only the
environment configured for it and never outlives its connection (nor the process: closed at exit).
"""

from __future__ import annotations

import _thread
import asyncio
import atexit
import concurrent.futures
import contextlib
import os
import threading
import weakref
from typing import Any

from ..errors import ToolError, ToolTimeout
from .config import MCPServerConfig

_LIVE: weakref.WeakSet[MCPConnection] = weakref.WeakSet()
CONNECTION_CLOSED = -32000  # the SDK's error code when the server's side of the transport closed
BASE_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")  # what a stdio child needs to start


class MCPConnection:
    def __init__(self, target: Any, name: str, connect_timeout: float = 10.0, call_timeout: float = 60.0) -> None:
        self.target, self.name = target, name
        self.connect_timeout, self.call_timeout = connect_timeout, call_timeout
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._client: Any = None
        self._stop: asyncio.Event | None = None
        self._owner: concurrent.futures.Future[None] | None = None
        self.tools: list[Any] = []
        _LIVE.add(self)

    # -- lifecycle (the owner task) -------------------------------------------------------------
    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None or self._loop.is_closed():
            loop = asyncio.new_event_loop()
            t = threading.Thread(target=_run_loop, args=(loop,), name=f"liteagent-mcp-{self.name}", daemon=True)
            t.start()
            self._loop, self._thread = loop, t
        return self._loop

    @property
    def alive(self) -> bool:
        return self._client is not None and self._owner is not None and not self._owner.done()

    def _wait_owner_gone(self, timeout: float = 5.0) -> None:
        owner = self._owner
        if owner is not None and not owner.done():
            with contextlib.suppress(Exception):
                owner.result(timeout=timeout)

    def connect(self) -> list[Any]:
        """Open the connection (once; again after it broke) and list the server's tools."""
        with self._lock:
            if self.alive:
                return self.tools
            if self._stop is not None and self._loop is not None and not self._loop.is_closed():
                self._loop.call_soon_threadsafe(self._stop.set)  # a broken connection: its owner closes it
            self._wait_owner_gone()
            loop = self._ensure_loop()
            ready: concurrent.futures.Future[list[Any]] = concurrent.futures.Future()
            self._owner = asyncio.run_coroutine_threadsafe(self._own(ready), loop)
            try:
                self.tools = ready.result(timeout=self.connect_timeout)
            except concurrent.futures.TimeoutError:
                self._cancel_owner()
                raise ToolError(
                    f"MCP server {self.name}: no answer within {self.connect_timeout:g} s of connecting"
                ) from None
            except Exception as exc:
                self._cancel_owner()
                raise ToolError(f"MCP server {self.name}: cannot connect ({_why(exc)})") from None
            return self.tools

    async def _own(self, ready: concurrent.futures.Future[list[Any]]) -> None:
        from mcp import Client

        self._stop = asyncio.Event()
        try:
            async with Client(_transport(self.target), read_timeout_seconds=self.call_timeout) as client:
                tools: list[Any] = []
                cursor = None
                while True:
                    page = await client.list_tools(cursor=cursor)
                    tools += page.tools
                    cursor = getattr(page, "next_cursor", None)
                    if not cursor:
                        break
                self._client = client
                ready.set_result(tools)
                await self._stop.wait()
        except BaseException as exc:
            if not ready.done():
                ready.set_exception(exc if isinstance(exc, Exception) else RuntimeError(repr(exc)))
            if not isinstance(exc, Exception):
                raise
        finally:
            self._client = None

    def _cancel_owner(self) -> None:
        if self._owner is not None and not self._owner.done():
            self._owner.cancel()
        self._client = None

    def close(self, timeout: float = 5.0) -> None:
        """Close the connection from its owner task (stdio child included), then stop the loop."""
        with self._lock:
            loop, owner, stop = self._loop, self._owner, self._stop
            if loop is None or loop.is_closed():
                return
            if owner is not None and not owner.done() and stop is not None:
                loop.call_soon_threadsafe(stop.set)
                try:
                    owner.result(timeout=timeout)
                except Exception:
                    owner.cancel()
            loop.call_soon_threadsafe(loop.stop)
            if self._thread is not None:
                self._thread.join(timeout=timeout)
            if not loop.is_running():
                loop.close()
            self._loop = None
            self._client = None

    # -- calls ------------------------------------------------------------------------------------
    async def call(self, tool: str, arguments: dict[str, Any], timeout: float | None = None) -> Any:
        """The CallToolResult of ``tool``, from any event loop or thread."""
        limit = timeout or self.call_timeout
        if not self.alive:
            await asyncio.get_running_loop().run_in_executor(None, self.connect)
        assert self._loop is not None
        fut = asyncio.run_coroutine_threadsafe(self._call(tool, arguments, limit), self._loop)
        try:
            return await asyncio.wait_for(asyncio.wrap_future(fut), limit + 2)
        except (asyncio.TimeoutError, TimeoutError):
            fut.cancel()
            raise ToolTimeout(f"MCP tool {self.name}.{tool} gave no answer within {limit:g} s") from None

    def call_sync(self, tool: str, arguments: dict[str, Any], timeout: float | None = None) -> Any:
        """The CallToolResult of ``tool``, blocking this thread (not an event loop's) meanwhile."""
        limit = timeout or self.call_timeout
        if not self.alive:
            self.connect()
        loop = self._loop
        assert loop is not None
        # A bare lock as the latch (run_coroutine_threadsafe's Future waits on a Condition):
        # the caller sleeps on it; the task's end releases it.
        done = _thread.allocate_lock()
        done.acquire()
        box: list[asyncio.Task[Any]] = []

        def start() -> None:
            task = loop.create_task(self._call(tool, arguments, limit))
            box.append(task)
            task.add_done_callback(lambda _t: done.release())

        loop.call_soon_threadsafe(start)
        if not done.acquire(timeout=limit + 2):
            loop.call_soon_threadsafe(lambda: box and box[0].cancel())  # runs after start(): FIFO
            raise ToolTimeout(f"MCP tool {self.name}.{tool} gave no answer within {limit:g} s")
        return box[0].result()

    async def _call(self, tool: str, arguments: dict[str, Any], limit: float) -> Any:
        from mcp import MCPError

        client = self._client
        if client is None:
            raise ToolError(f"MCP server {self.name} is not connected")
        try:
            # the SDK's read timeout bounds the call; the caller's wait (limit + 2 s) bounds the rest
            return await client.call_tool(tool, arguments, read_timeout_seconds=limit)
        except (asyncio.TimeoutError, TimeoutError):
            raise ToolTimeout(f"MCP tool {self.name}.{tool} gave no answer within {limit:g} s") from None
        except MCPError as exc:
            if exc.code == CONNECTION_CLOSED:
                self._drop()
            raise ToolError(f"MCP server {self.name}: {exc.message}") from None
        except Exception as exc:
            self._drop()  # the transport broke: the next call connects again
            raise ToolError(f"MCP server {self.name} failed the call ({_why(exc)})") from None

    def _drop(self) -> None:
        """Forget a broken connection; its owner task closes it (the next call reconnects)."""
        self._client = None
        if self._stop is not None:
            self._stop.set()


def _run_loop(loop: asyncio.AbstractEventLoop) -> None:
    """A connection's thread: its loop, forever. The thread runs nothing but asyncio, so it says
    so to sniffio, which anyio (under the SDK) asks at every stream operation; unasked, sniffio
    looks for the current task each time, a tenth of the client's time per call."""
    mark_asyncio_thread()
    loop.run_forever()


def mark_asyncio_thread() -> None:
    """Tell sniffio that this thread runs only asyncio (no lookup per anyio operation)."""
    try:
        import sniffio
    except ImportError:
        return
    sniffio.thread_local.name = "asyncio"


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
