"""An event loop with no thread of its own, run by the threads that wait on it.

A sync caller that hands a coroutine to a loop thread and waits pays two thread wake-ups per
call (~0.15 ms here, a fifth of a small MCP call). Here the waiting thread runs the loop itself
until its result is there. Several threads at once share it: one runs the loop (the driver),
the others hand it their coroutines and wait, and one of them takes over when it leaves.
Between calls a keeper thread runs the loop for a moment every ``KEEP_S`` seconds, so what
arrives while nobody waits (pings, notifications, a peer's exit) is taken in. A thread that
already runs another loop waits in a helper thread instead.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")
KEEP_S = 0.2  # how often an idle loop takes in what arrived
_HELPERS = concurrent.futures.ThreadPoolExecutor(thread_name_prefix="liteagent-loop")  # for callers on a loop


class _Job:
    """One awaitable run on the loop for one waiting thread."""

    __slots__ = ("done", "dropped", "make", "task", "thread")

    def __init__(self, make: Callable[[], Awaitable[Any]], thread: int) -> None:
        self.make, self.thread = make, thread
        self.task: asyncio.Future[Any] | None = None
        self.done = self.dropped = False


class SharedLoop:
    def __init__(self, name: str) -> None:
        self.name = name
        self._cv = threading.Condition(threading.Lock())  # guards _driver and the jobs' done flags
        self._driver: int | None = None  # the thread running the loop now
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing = threading.Event()
        self._keeper: threading.Thread | None = None

    @property
    def open(self) -> bool:
        return self._loop is not None and not self._loop.is_closed()

    def run(self, make: Callable[[], Awaitable[T]], timeout: float) -> T:
        """Run ``make()`` on the loop and return its result, waiting ``timeout`` seconds at most
        (then it is cancelled and TimeoutError raised)."""
        if asyncio._get_running_loop() is not None:  # this thread runs a loop: wait in a helper thread
            return _HELPERS.submit(self.run, make, timeout).result()
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
        """Run the loop until ``job`` is done or the deadline passes (this thread is the driver)."""
        if job.done:
            return
        timer = loop.call_later(max(0.0, deadline - time.monotonic()), loop.stop)
        sniffio_local = _sniffio_local()
        before = getattr(sniffio_local, "name", None)
        if sniffio_local is not None:
            # anyio (under the MCP SDK) asks sniffio at every stream operation; told, it skips
            # looking up the current task each time (a tenth of an MCP client's time per call)
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
                        target=self._keep, args=(loop, self._closing), name=f"liteagent-{self.name}", daemon=True
                    )
                    self._keeper.start()
        return loop

    def _keep(self, loop: asyncio.AbstractEventLoop, closing: threading.Event) -> None:
        """While nobody waits, let the loop take in what arrived, now and then."""
        while not closing.wait(KEEP_S):
            with self._cv:
                if self._driver is not None or loop.is_closed():
                    continue
                self._driver = me = threading.get_ident()
            try:
                job = _Job(_settle, me)
                self._start(loop, job)
                self._drive(loop, job, time.monotonic() + 1.0)
            except Exception:  # the keeper goes on; calls report their own errors
                pass
            finally:
                with self._cv:
                    self._driver = None
                    self._cv.notify_all()

    def close(self, timeout: float = 5.0) -> None:
        """Stop the keeper, cancel what is left on the loop, and close it (opened again on use)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        self._closing.set()
        keeper = self._keeper
        if keeper is not None and keeper is not threading.current_thread():
            keeper.join(timeout=timeout)
        with contextlib.suppress(TimeoutError):
            self.run(_cancel_the_rest, timeout)
        with self._cv:
            self._cv.wait_for(lambda: self._driver is None, timeout)  # a caller still leaving
            self._loop = None
            loop.close()


def _cancel(job: _Job) -> None:
    if job.task is not None:
        job.task.cancel()


async def _settle() -> None:
    for _ in range(8):  # a few rounds: a message read, dispatched, answered
        await asyncio.sleep(0)


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
