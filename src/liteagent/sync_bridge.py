"""Sync calls into the async core, cheaply: one event loop per thread, kept and reused (so the
LLM's connections are reused across ``Agent.run`` calls), and, where a loop already runs in this
thread (Jupyter), one background thread with its own loop."""

from __future__ import annotations

import asyncio
import atexit
import collections
import threading
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")

_local = threading.local()
_loops: weakref.WeakSet[asyncio.AbstractEventLoop] = weakref.WeakSet()  # closed at exit, if still alive
_background: tuple[threading.Thread, asyncio.AbstractEventLoop] | None = None
_bg_lock = threading.Lock()
_cleanups: list[Callable[[], Awaitable[None]]] = []


def thread_loop() -> asyncio.AbstractEventLoop:
    """This thread's loop, made on first use and kept (never set as the thread's current loop)."""
    loop: asyncio.AbstractEventLoop | None = getattr(_local, "loop", None)
    if loop is None or loop.is_closed():
        loop = asyncio.new_event_loop()
        _local.loop = loop
        _loops.add(loop)
    return loop


def _in_running_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _background_loop() -> asyncio.AbstractEventLoop:
    global _background
    with _bg_lock:
        if _background is None or not _background[0].is_alive():
            loop = asyncio.new_event_loop()
            _loops.add(loop)
            t = threading.Thread(target=loop.run_forever, name="liteagent-loop", daemon=True)
            t.start()
            _background = (t, loop)
        return _background[1]


def run_sync(make: Callable[[], Awaitable[T]]) -> T:
    """Run the coroutine ``make()`` to its end from sync code."""
    if _in_running_loop():  # Jupyter: not on this thread's busy loop
        return asyncio.run_coroutine_threadsafe(_as_coro(make), _background_loop()).result()
    return thread_loop().run_until_complete(_as_coro(make))


async def _as_coro(make: Callable[[], Awaitable[T]]) -> T:
    return await make()


def iterate_sync(make: Callable[[], AsyncIterator[T]], background: bool = False) -> Iterator[T]:
    """Iterate the async generator ``make()`` from sync code. On this thread's loop the generator
    runs until it truly waits, and its items are handed over in batches (no thread, no queue).
    ``background``: on the process's one background loop instead (for callers whose threads are
    short-lived, like a web server's script threads: connections then outlive each thread)."""
    if background or _in_running_loop():
        yield from _iterate_in_background(make)
        return
    loop = thread_loop()
    buf: collections.deque[T] = collections.deque()
    state: dict[str, Any] = {"done": False, "exc": None, "waiter": None}

    async def pump() -> None:
        try:
            async for item in make():
                buf.append(item)
                w = state["waiter"]
                if w is not None and not w.done():
                    w.set_result(None)
        except BaseException as exc:
            state["exc"] = exc
        finally:
            state["done"] = True
            w = state["waiter"]
            if w is not None and not w.done():
                w.set_result(None)

    task = loop.create_task(pump())
    try:
        while True:
            while buf:
                yield buf.popleft()
            if state["done"]:
                break
            state["waiter"] = loop.create_future()
            loop.run_until_complete(state["waiter"])
        if state["exc"] is not None:
            raise state["exc"]
    finally:
        if not task.done():  # the consumer stopped early: end the generator on its loop
            task.cancel()
            loop.run_until_complete(asyncio.gather(task, return_exceptions=True))


def _iterate_in_background(make: Callable[[], AsyncIterator[T]]) -> Iterator[T]:
    import queue

    q: queue.SimpleQueue[Any] = queue.SimpleQueue()
    done = object()

    async def pump() -> None:
        try:
            async for item in make():
                q.put((True, item))
        except BaseException as exc:
            q.put((False, exc))
        q.put(done)

    fut = asyncio.run_coroutine_threadsafe(pump(), _background_loop())
    try:
        while True:
            got = q.get()
            if got is done:
                break
            ok, value = got
            if not ok:
                raise value
            yield value
    finally:
        if not fut.done():
            fut.cancel()


def on_exit(cleanup: Callable[[], Awaitable[None]]) -> None:
    """Run ``cleanup()`` (closing connections) on the loops made here, at interpreter exit."""
    _cleanups.append(cleanup)


@atexit.register
def _close_loops() -> None:
    for loop in list(_loops):
        if loop.is_closed() or loop.is_running():
            continue
        for c in _cleanups:
            try:
                loop.run_until_complete(c())
            except Exception:
                pass
        try:
            loop.run_until_complete(loop.shutdown_asyncgens())
        except Exception:
            pass
        loop.close()
