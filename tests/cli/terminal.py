"""The real ``liteagent`` command on a pseudo-terminal: wait for what it writes, type answers."""

from __future__ import annotations

import os
import pty
import select
import signal
import sys
import time

from ..conftest import TESTS


class Terminal:
    """``liteagent ARGS`` with stdin, stdout and stderr on a pseudo-terminal (its controlling
    terminal: Ctrl-C is a SIGINT, as for a person)."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        full_env = {**os.environ, "PYTHONIOENCODING": "utf-8", "COLUMNS": "200", **(env or {})}
        full_env.pop("LITEAGENT_DEBUG", None)
        pid, fd = pty.fork()
        if pid == 0:  # the child: become the command
            os.chdir(TESTS.parent)
            # as at a person's terminal: a test run from a background job (whose shell ignores
            # SIGINT) must not hand that on, or Ctrl-C would do nothing
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            os.execve(sys.executable, [sys.executable, "-m", "liteagent", *args], full_env)
        self.pid, self.fd = pid, fd
        self.out = ""  # all it wrote so far
        self.seen = 0  # how far expect() has read
        self.code: int | None = None

    def _read(self, wait: float) -> bool:
        ready, _, _ = select.select([self.fd], [], [], wait)
        if not ready:
            return True
        try:
            data = os.read(self.fd, 65536)
        except OSError:  # the child ended and the terminal closed
            return False
        if not data:
            return False
        self.out += data.decode("utf-8", "replace")
        return True

    def expect(self, text: str, timeout: float = 60) -> str:
        """Wait until ``text`` shows after what was expected before; what came up to its end."""
        deadline = time.monotonic() + timeout
        while text not in self.out[self.seen :]:
            if time.monotonic() > deadline or not self._read(0.1):
                self.kill()  # a failed test leaves no command running (later tests count child processes)
                raise AssertionError(f"{text!r} never came; the terminal shows:\n{self.out[self.seen :]}")
        end = self.out.index(text, self.seen) + len(text)
        before, self.seen = self.out[self.seen : end], end
        return before

    def kill(self) -> None:
        """End the command at once, if it still runs."""
        try:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass

    def type(self, keys: str) -> None:
        os.write(self.fd, keys.encode("utf-8"))

    def wait(self, timeout: float = 60) -> int:
        """Read to the end; the exit code."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self._read(0.1):
            pass
        pid, status = os.waitpid(self.pid, os.WNOHANG)
        while pid == 0 and time.monotonic() < deadline:  # the terminal closed as it exits
            time.sleep(0.05)
            pid, status = os.waitpid(self.pid, os.WNOHANG)
        if pid == 0:  # still running past the time allowed
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
            raise AssertionError(f"the command did not end; the terminal shows:\n{self.out}")
        os.close(self.fd)
        self.code = os.waitstatus_to_exitcode(status)
        return self.code
