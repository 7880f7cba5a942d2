"""Limits on sync tools run on the main thread (``actions/deadline.py``): a watchdog thread and
SIGALRM, no timer system call per call. Each test attacks one promise: the tool is stopped, a
finished call is never hit by a late signal, nested calls keep their own limits, a tool blocked in
a system call is woken, and a program's own SIGALRM handler survives."""

from __future__ import annotations

import signal
import time

import pytest

from liteagent import ActionExecutor, tool
from liteagent.actions import deadline
from liteagent.messages import ActionStatus


@tool
def spin(seconds: float) -> str:
    """Busy-loop in Python.

    Args:
        seconds: for how long
    """
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass
    return "spun"


@tool
def nap(seconds: float) -> str:
    """Sleep in one system call.

    Args:
        seconds: for how long
    """
    time.sleep(seconds)
    return "rested"


def test_busy_and_sleeping_tools_are_stopped_near_their_limit():
    ex = ActionExecutor([spin, nap], timeout=0.3)
    for name in ("spin", "nap"):
        t = time.monotonic()
        r = ex.execute(name, {"seconds": 5})
        took = time.monotonic() - t
        assert r.status is ActionStatus.TIMEOUT and "0.3 s" in r.error, r
        assert 0.25 <= took < 0.3 + 4 * deadline.TICK, took


def test_a_call_that_ends_just_in_time_is_not_hit_by_a_late_signal():
    # Calls that finish right around their limit, back to back: a signal meant for one call must
    # never interrupt the next one (which has plenty of time).
    ex = ActionExecutor([spin], timeout=0.1)
    long_limit = ActionExecutor([spin], timeout=30)
    for _ in range(15):
        ex.execute("spin", {"seconds": 0.1})
        r = long_limit.execute("spin", {"seconds": 0.06})
        assert r.ok, r


def test_nested_calls_keep_their_own_limits():
    inner = ActionExecutor([nap], timeout=0.2)

    @tool
    def outer() -> str:
        """Calls a tool, then keeps going past its own limit."""
        first = inner.execute("nap", {"seconds": 5})  # the inner limit fires first
        assert first.status is ActionStatus.TIMEOUT
        time.sleep(5)  # then the outer limit must still hold
        return "never"

    ex = ActionExecutor([outer], timeout=0.6)
    t = time.monotonic()
    r = ex.execute("outer")
    assert r.status is ActionStatus.TIMEOUT, r
    assert time.monotonic() - t < 0.6 + 4 * deadline.TICK


def test_a_programs_own_alarm_handler_is_kept():
    seen: list[int] = []
    previous = signal.signal(signal.SIGALRM, lambda s, f: seen.append(s))
    try:
        ex = ActionExecutor([nap], timeout=0.2)
        assert ex.execute("nap", {"seconds": 5}).status is ActionStatus.TIMEOUT
        assert ex.execute("nap", {"seconds": 0.01}).ok
        handler = signal.getsignal(signal.SIGALRM)
        assert callable(handler) and handler.__name__ == "<lambda>"
        signal.raise_signal(signal.SIGALRM)
        assert seen == [signal.SIGALRM]
    finally:
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture(autouse=True)
def _default_alarm_handler():
    yield
    # later tests see the default state: our handler may stay installed, which is harmless
    assert deadline._slot.gen == 0


def test_a_forked_child_keeps_limits():
    import os

    ex = ActionExecutor([nap], timeout=0.2)
    assert ex.execute("nap", {"seconds": 5}).status is ActionStatus.TIMEOUT  # the parent's watchdog runs
    pid = os.fork()
    if pid == 0:  # the child: only this thread came along; its limits must still hold
        r = ex.execute("nap", {"seconds": 5})
        os._exit(0 if r.status is ActionStatus.TIMEOUT else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
