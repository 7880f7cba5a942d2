"""Time limits for sync tools that run on the main thread, at the cost of two attribute writes.

A sync tool that runs right where it was called (no thread hop) can only be stopped by a signal:
a SIGALRM whose handler raises in the tool's frame. Arming a kernel timer per call
(``setitimer``) costs two system calls, ~2-3 us in a VM, more than the rest of a small tool call.
Instead a call writes its deadline into a slot here, and one watchdog thread, started on first use
and gone after a while without calls, looks at the slot every ``TICK`` seconds; when the call
running is past its deadline it sends SIGALRM to the main thread. The handler raises only if the
call the watchdog aimed at is still the one running (a call that has just finished is never hit by
a late signal). Limits are kept to about ``TICK`` (50 ms). Nested calls (a tool that calls tools)
each keep their own limit.

Where the program has a SIGALRM handler of its own it is put back after each call, as before.
"""

from __future__ import annotations

import _signal
import os
import signal
import threading
import time
from _thread import get_ident
from collections.abc import Callable
from typing import Any

TICK = 0.05  # how often the watchdog looks while it runs
IDLE_EXIT = 30.0  # the watchdog ends after this long without a call that has a limit
_SIGALRM = int(signal.SIGALRM) if hasattr(signal, "SIGALRM") else 0


class ToolTimedOut(BaseException):
    """Raised in a tool's frame when its limit passed (BaseException: a tool's ``except
    Exception`` cannot swallow it)."""


_CAN_SIGNAL = bool(_SIGALRM) and hasattr(signal, "pthread_kill")


_MAIN = [threading.main_thread().ident]  # the main thread's id (a forked child's is its own)


def _after_fork_in_child() -> None:
    # The child has only the thread that forked: no watchdog (the next call starts one), no call.
    _MAIN[0] = threading.main_thread().ident
    _slot.watching = False
    _slot.gen, _slot.deadline, _slot.target = 0, 0.0, 0
    global _lock
    _lock = threading.Lock()  # it may have been held by the parent's watchdog at the fork


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def available() -> bool:
    """Can this thread run a call under a limit without a thread? (the main thread, with signals)"""
    return _CAN_SIGNAL and get_ident() == _MAIN[0]


class _Slot:
    """The call running on the main thread under a limit: (generation, deadline); 0 = none."""

    gen = 0
    deadline = 0.0
    target = 0  # the generation the watchdog signalled
    last_used = 0.0
    watching = False
    counter = 0


_slot = _Slot()
_lock = threading.Lock()


def _on_alarm(signum: int, frame: Any) -> None:
    if _slot.gen and _slot.target == _slot.gen:
        raise ToolTimedOut()
    # a late signal for a call that already finished: nothing to do


def _watch(main_ident: int) -> None:
    slot = _slot
    while True:
        time.sleep(TICK)
        gen, deadline = slot.gen, slot.deadline
        if gen and time.monotonic() >= deadline and slot.target != gen:
            slot.target = gen
            try:
                signal.pthread_kill(main_ident, _SIGALRM)
            except (ProcessLookupError, OSError):  # the main thread is gone: the process is ending
                return
        with _lock:
            if not slot.gen and time.monotonic() - slot.last_used > IDLE_EXIT:
                slot.watching = False
                return


def _ensure_watchdog() -> None:
    with _lock:
        if not _slot.watching:
            _slot.watching = True
            threading.Thread(
                target=_watch, args=(threading.main_thread().ident,), name="liteagent-tool-deadlines", daemon=True
            ).start()


def call_with_limit(func: Callable[..., Any], kwargs: dict[str, Any], timeout: float) -> Any:
    """``func(**kwargs)`` on the main thread, raising :class:`ToolTimedOut` after ``timeout`` s."""
    current = _signal.getsignal(_SIGALRM)  # the raw handler: signal.getsignal builds an enum
    own = current is _on_alarm
    if not own:
        previous = signal.signal(signal.SIGALRM, _on_alarm)
    slot = _slot
    outer_gen, outer_deadline = slot.gen, slot.deadline  # a tool calling tools: restored after
    slot.counter += 1
    now = time.monotonic()
    deadline = now + timeout
    slot.gen, slot.deadline = slot.counter, min(deadline, outer_deadline) if outer_gen else deadline
    if not slot.watching:
        _ensure_watchdog()
    try:
        return func(**kwargs)
    finally:
        slot.gen, slot.deadline = outer_gen, outer_deadline
        slot.last_used = now
        if not own and previous not in (signal.SIG_DFL, None):
            signal.signal(signal.SIGALRM, previous)
