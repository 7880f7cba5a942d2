"""One connection to one MCP server, owned by one task on a loop of its own.

The SDK's anyio cancel scopes must be exited by the task that entered them, so a single owner
task opens the ``mcp.Client`` and closes it. The loop has no thread of its own: the threads that
wait for answers run it (``shared_loop``), and a keeper takes in what arrives between calls.
Every wait is bounded: connect (default 10 s) and per call (default 60 s); a hung or killed server
gives an error, never a hang, and the next call reconnects. A stdio child gets only the
environment configured for it and never outlives its connection (nor the process: closed at exit).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import threading
import time
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

from .. import tracing
from ..actions.context import ToolContext
from ..errors import ToolError, ToolTimeout
from .client_host import ClientCallbacks
from .config import MCPServerConfig
from .lines import TOO_LARGE
from .shared_loop import SharedLoop
from .stdio import StderrLog

_LIVE: weakref.WeakSet[MCPConnection] = weakref.WeakSet()
CONNECTION_CLOSED = -32000  # the SDK's error code when the server's side of the transport closed
REQUEST_TIMEOUT = -32001  # the SDK's, when its read timeout ends a request
BASE_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")  # what a stdio child needs to start


class MCPConnection:
    def __init__(
        self,
        target: Any,
        name: str,
        connect_timeout: float = 10.0,
        call_timeout: float = 60.0,
        protocol: str | None = None,
        max_result_bytes: int = 16 * 2**20,
    ) -> None:
        self.target, self.name = target, name
        self.max_result_bytes = max_result_bytes
        self.connect_timeout, self.call_timeout = connect_timeout, call_timeout
        if protocol is None and isinstance(target, MCPServerConfig):
            protocol = target.protocol
        self.protocol = protocol  # None: the handshake first over stdio, else "auto" (see _modes)
        self._lock = threading.Lock()  # one connect or close at a time
        self._loop = SharedLoop(f"mcp-{name}")  # run by the threads waiting on the connection
        self._client: Any = None
        self._stop: asyncio.Event | None = None
        self._owner: asyncio.Task[None] | None = None
        self.tools: list[Any] = []
        self._tasks: tuple[list[Any] | None, frozenset[str]] = (None, frozenset())  # of which list
        self._piped = False  # over liteagent's own stdio pipes (which limit a reply's size as it is read)
        self.stderr = StderrLog(name)  # a stdio child's
        self.callbacks = ClientCallbacks(
            name, getattr(target, "roots", None) or None, getattr(target, "sampling", None) or "allow"
        )
        _LIVE.add(self)

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
            _import_sdk()  # the SDK's own import is not the server's time to answer
            deadline = time.monotonic() + self.connect_timeout
            modes = _modes(self.protocol, self.target)
            for i, mode in enumerate(modes):

                async def open_(mode: str = mode) -> list[Any]:
                    ready: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
                    self._stop = asyncio.Event()
                    self._owner = asyncio.create_task(self._own(ready, mode))
                    return await ready

                try:
                    self.tools = self._loop.run(open_, max(0.0, deadline - time.monotonic()))
                    self.protocol = mode  # reconnects speak what worked
                    return self.tools
                except TimeoutError:
                    self._end_owner(cancel=True)
                    raise ToolError(
                        f"MCP server {self.name}: no answer within {self.connect_timeout:g} s of connecting"
                    ) from None
                except KeyRefused as exc:
                    self._end_owner(cancel=True)
                    raise ToolError(str(exc)) from None
                except Exception as exc:
                    self._end_owner(cancel=True)
                    if i + 1 < len(modes) and _refused(exc):
                        continue  # a server of the per-request era only: discover it instead
                    raise ToolError(
                        f"MCP server {self.name}: cannot connect ({_why(exc)}){self.stderr.tail()}"
                    ) from None
            raise AssertionError("unreachable")

    def _key_check(self, ready: asyncio.Future[list[Any]]) -> Callable[[Any], Awaitable[None]]:
        """An HTTP response hook: a server that refuses the key ends the connect at once, saying so
        (the SDK would retry it until the connect limit)."""
        headers = getattr(self.target, "headers", None) or {}
        oauth = getattr(self.target, "auth", None) == "oauth"  # a 401 starts its sign-in

        async def check(response: Any) -> None:
            status = response.status_code
            if status in (401, 403) and not ready.done() and not oauth:
                has_key = any(k.lower() in ("authorization", "x-api-key", "api-key") for k in headers)
                what = (
                    'the key in its "headers" is wrong'
                    if has_key
                    else 'it needs a key: add "headers": {"Authorization": "Bearer KEY"} to its entry'
                )
                ready.set_exception(
                    KeyRefused(f"MCP server {self.name}: the server refused the request (HTTP {status}): {what}")
                )

        return check

    async def _own(self, ready: asyncio.Future[list[Any]], mode: str) -> None:
        from mcp import Client, StdioServerParameters
        from mcp.client.stdio import stdio_client

        from .stdio import stdio_pipes, usable, watched

        stack = contextlib.ExitStack()
        try:
            target = _transport(self.target, self._key_check(ready))
            if isinstance(target, StdioServerParameters):
                # its stderr goes to a log file (a server's tracebacks are not the user's terminal's);
                # its exit is seen while the connection is idle too
                errlog = stack.enter_context(self.stderr.open(target))
                self._piped = usable(target)  # our pipes hold replies to the size limit as they come
                pipes = (
                    stdio_pipes(target, errlog, self.max_result_bytes)
                    if self._piped
                    else stdio_client(target, errlog=errlog)
                )
                target = watched(pipes, self._drop)
            async with Client(
                target, read_timeout_seconds=self.call_timeout, mode=mode, **self.callbacks.kwargs()
            ) as client:
                tools = await _list_tools(client)
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
            self._loop.run(end, timeout)
        except TimeoutError:
            with contextlib.suppress(TimeoutError):
                self._loop.run(lambda: _cancel_and_wait(owner), timeout)

    def close(self, timeout: float = 5.0) -> None:
        """Close the connection from its owner task (stdio child included); the loop goes too."""
        with self._lock:
            if not self._loop.open:
                return
            self._end_owner(timeout=timeout)
            self._loop.close(timeout)
            self._client = None

    def refresh_tools(self) -> list[Any]:
        """The server's tools read again (after its ``tools/list_changed``)."""
        self.callbacks.tools_changed = False
        client = self._client
        if client is None:
            return self.connect()

        async def again() -> list[Any]:
            return await _list_tools(client)

        try:
            self.tools = self._loop.run(again, self.connect_timeout)
        except Exception as exc:
            raise ToolError(f"MCP server {self.name}: cannot list its tools again ({_why(exc)})") from None
        return self.tools

    # -- calls ------------------------------------------------------------------------------------
    async def call(self, tool: str, arguments: dict[str, Any], timeout: float | None = None) -> Any:
        """The CallToolResult of ``tool``, awaited from any event loop (the wait is in a worker thread)."""
        trace = tracing.tool_context()  # read here: the worker thread does not see this task's context
        return await asyncio.get_running_loop().run_in_executor(None, self.call_sync, tool, arguments, timeout, trace)

    def call_sync(
        self,
        tool: str,
        arguments: dict[str, Any],
        timeout: float | None = None,
        trace: Any = None,
        context: ToolContext | None = None,
    ) -> Any:
        """The CallToolResult of ``tool``; this thread runs the connection's loop meanwhile. ``trace``:
        the trace context the call is made in, and carries to the server (default: the tool call
        being traced). ``context``: the call's ToolContext, whose host answers what the server asks
        meanwhile (a model reply, the person) and sees its progress."""
        if trace is None:
            trace = tracing.tool_context()
        limit = timeout or self.call_timeout
        if not self.alive:
            self.connect()
        before, self.callbacks.current = self.callbacks.current, context or self.callbacks.current
        try:
            # the SDK's read timeout bounds the call; this wait (limit + 2 s) bounds the rest
            return self._loop.run(lambda: self._call(tool, arguments, limit, trace), limit + 2)
        except TimeoutError:
            raise ToolTimeout(f"MCP tool {self.name}.{tool} gave no answer within {limit:g} s") from None
        finally:
            self.callbacks.current = before

    async def _call(self, tool: str, arguments: dict[str, Any], limit: float, trace: Any = None) -> Any:
        from mcp import MCPError

        client = self._client
        if client is None:
            raise ToolError(f"MCP server {self.name} is not connected")
        try:
            async with tracing.within(trace):  # the SDK puts the current trace in the request's _meta
                if tool in self._task_tools:
                    result = await self._call_as_task(client, tool, arguments, limit)
                else:
                    result = await client.call_tool(
                        tool, arguments, read_timeout_seconds=limit, progress_callback=self.callbacks.progress
                    )
        except (asyncio.TimeoutError, TimeoutError):
            raise ToolTimeout(f"MCP tool {self.name}.{tool} gave no answer within {limit:g} s") from None
        except MCPError as exc:
            if exc.code == TOO_LARGE:
                raise self._too_large(tool) from None
            if exc.code == REQUEST_TIMEOUT:  # the SDK's read timeout: a timeout, not a failure
                raise ToolTimeout(f"MCP tool {self.name}.{tool} gave no answer within {limit:g} s") from None
            if exc.code == CONNECTION_CLOSED:
                self._drop()
                raise ToolError(f"MCP server {self.name}: {exc.message}{self.stderr.tail()}") from None
            raise ToolError(f"MCP server {self.name}: {exc.message}") from None
        except RuntimeError as exc:
            if "structured content" in str(exc) or "output schema" in str(exc):  # the SDK's check of outputSchema
                raise ToolError(f"MCP tool {self.name}.{tool} answered outside its output schema: {exc}") from None
            self._drop()  # the transport broke: the next call connects again
            raise ToolError(f"MCP server {self.name} failed the call ({_why(exc)})") from None
        except Exception as exc:
            self._drop()  # the transport broke: the next call connects again
            raise ToolError(f"MCP server {self.name} failed the call ({_why(exc)})") from None
        if not self._piped and _size(result) > self.max_result_bytes:  # HTTP and in-process: seen once received
            raise self._too_large(tool)
        return result

    @property
    def _task_tools(self) -> frozenset[str]:
        """The tools the server runs only as tasks (``execution.taskSupport: required``), read
        once per tool list (a call asks on its hot path)."""
        tools = self.tools
        if self._tasks[0] is not tools:
            names = frozenset(
                t.name for t in tools if getattr(getattr(t, "execution", None), "task_support", None) == "required"
            )
            self._tasks = (tools, names)
        return self._tasks[1]

    async def _call_as_task(self, client: Any, tool: str, arguments: dict[str, Any], limit: float) -> Any:
        """A task-augmented call (2025-11-25): the server answers with a task at once, and
        ``tasks/result`` waits for its end (what it asks meanwhile is answered as for any call).
        The SDK validates every ``tools/call`` answer as a CallToolResult, so both requests go
        through its raw request (the one place liteagent reaches below its public API)."""
        import mcp.types as t

        send = getattr(getattr(client.session, "_dispatcher", None), "send_raw_request", None)
        if send is None:
            raise ToolError(f"MCP tool {self.name}.{tool} runs only as a task, which this MCP SDK cannot ask for")
        opts = {"timeout": limit}
        task = {"ttl": int(limit * 1000)}
        created = await send("tools/call", {"name": tool, "arguments": arguments, "task": task}, opts)
        task_id = (created.get("task") or {}).get("taskId")
        if not task_id:  # a server that ran it at once after all
            return t.CallToolResult.model_validate(created, by_name=False)
        raw = await send("tasks/result", {"taskId": task_id}, opts)
        return t.CallToolResult.model_validate(raw, by_name=False)

    def _too_large(self, tool: str) -> ToolError:
        return ToolError(
            f"MCP tool {self.name}.{tool} answered with more than {self.max_result_bytes / 2**20:g} MB "
            "(the result size limit, max_result_bytes); ask it for less"
        )

    def _drop(self) -> None:
        """Forget a broken connection; its owner task closes it (the next call reconnects)."""
        self._client = None
        if self._stop is not None:
            self._stop.set()


async def _list_tools(client: Any) -> list[Any]:
    tools: list[Any] = []
    cursor = None
    while True:
        page = await client.list_tools(cursor=cursor)
        tools += page.tools
        cursor = getattr(page, "next_cursor", None)
        if not cursor:
            return tools


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

    exc = _cause(exc)

    if isinstance(exc, MCPError):
        return exc.code != CONNECTION_CLOSED
    return isinstance(exc, RuntimeError) and "protocol version" in str(exc)


async def _cancel_and_wait(task: asyncio.Future[Any]) -> None:
    task.cancel()
    await asyncio.wait({task})


def _cause(exc: BaseException) -> BaseException:
    """An ExceptionGroup from a task group: its first cause; anything else as it is."""
    while getattr(exc, "exceptions", None):
        exc = exc.exceptions[0]  # type: ignore[attr-defined]
    return exc


def _why(exc: BaseException) -> str:
    exc = _cause(exc)
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class KeyRefused(ToolError):
    """An HTTP server answered 401/403 while connecting."""


def _import_sdk() -> None:
    import mcp
    import mcp.client.stdio
    import mcp.client.streamable_http  # noqa: F401


def _transport(target: Any, on_response: Callable[[Any], Awaitable[None]] | None = None) -> Any:
    """What ``mcp.Client`` takes for a config entry: stdio parameters or an HTTP transport (whose
    responses ``on_response`` sees)."""
    if not isinstance(target, MCPServerConfig):
        return target  # a Server, an MCPServer, a URL, StdioServerParameters: as given
    if target.url:
        from mcp.client.streamable_http import streamable_http_client
        from mcp.shared._httpx_utils import create_mcp_http_client

        auth = None
        if target.auth == "oauth":
            from .oauth import oauth_provider

            auth = oauth_provider(target)
        client = create_mcp_http_client(headers=target.headers or None, auth=auth)
        if on_response is not None:
            client.event_hooks = {"request": [], "response": [on_response]}
        return streamable_http_client(target.url, http_client=client)
    from mcp import StdioServerParameters

    env = {k: os.environ[k] for k in BASE_ENV if k in os.environ} | target.env
    assert target.command is not None
    return StdioServerParameters(command=target.command, args=list(target.args), env=env, cwd=target.cwd)


def _close_all() -> None:
    for conn in list(_LIVE):
        with contextlib.suppress(Exception):
            conn.close(timeout=3)


# At exit, connections close (an HTTP session is ended with a DELETE) while thread pools still take
# work: resolving "localhost" runs in one. Plain atexit runs after concurrent.futures has shut them
# ("cannot schedule new futures after shutdown"); threading's exit hooks run first, newest first.
_at_threading_exit = getattr(threading, "_register_atexit", None)
if _at_threading_exit is not None:
    _at_threading_exit(_close_all)
else:  # pragma: no cover - every CPython liteagent supports has it
    atexit.register(_close_all)


def _size(result: Any) -> int:
    """About the bytes of a CallToolResult's content: its texts and encoded data."""
    n = 0
    for block in getattr(result, "content", None) or []:
        for attr in ("text", "data"):
            v = getattr(block, attr, None)
            if isinstance(v, str):
                n += len(v)
        res = getattr(block, "resource", None)
        for attr in ("text", "blob"):
            v = getattr(res, attr, None)
            if isinstance(v, str):
                n += len(v)
    if getattr(result, "structured_content", None) is not None:
        import json

        n += len(json.dumps(result.structured_content, default=str))
    return n
