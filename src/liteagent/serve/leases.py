"""Who runs a conversation now: one lease per session id in the shared store, taken for each
request that runs in the session. The session's items cannot tell a run cut off by a crash from one
that another process is still running (both end with calls that have no result), so a request
resumes a cut-off run only when no live process holds its lease; and two requests never run in one
conversation at once. A lease names its holder (host, pid, the process's start time, the request)
and lasts at most the run's time limit; on the same host, a holder whose process is gone (killed)
holds nothing."""

from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path

_HOST = socket.gethostname()


def _started(pid: int) -> str:
    """The process's start time in clock ticks since boot (``/proc/PID/stat`` field 22): with the
    pid, it tells a process from a later one that got the same pid. Empty where there is no /proc."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[1].split()[19]  # fields after the command name, which may hold spaces


_PROCESS = f"{_HOST}:{os.getpid()}:{_started(os.getpid())}"


def new_holder() -> str:
    """A holder id for one request of this process."""
    return f"{_PROCESS}:{uuid.uuid4().hex[:12]}"


def holder_alive(holder: str) -> bool:
    """False only when the holder's process is known to be gone: it ran on this host and no process
    with its pid and start time exists. A holder on another host counts as alive (its lease ends
    with its time limit)."""
    host, _, rest = holder.partition(":")
    pid_text, _, rest = rest.partition(":")
    started, _, _ = rest.partition(":")
    if host != _HOST or not pid_text.isdigit():
        return True
    pid = int(pid_text)
    if started:
        return _started(pid) == started
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def describe(holder: str) -> str:
    """``host:pid`` of a holder, for messages."""
    host, _, rest = holder.partition(":")
    return f"{host}:{rest.partition(':')[0]}" if rest else holder
