"""PythonInterpreter: a stateful, sandboxed Python kernel per conversation (InternLM2's
``<|interpreter|>``). See ``sandbox.py`` for the confinement."""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import queue
import signal
import subprocess
import tempfile
import threading
import time
import uuid
import weakref
from pathlib import Path
from typing import Any

from ...errors import ToolError, ToolTimeout
from ...messages import ResultItem
from ..base import BaseAction, tool_api
from . import sandbox

_LIVE: weakref.WeakSet[Kernel] = weakref.WeakSet()
SANDBOX_ROOT = Path(tempfile.gettempdir()) / "liteagent-sandboxes"


class KernelDied(Exception):
    pass


class Kernel:
    """One sandboxed kernel process and the pipe to it. Thread-safe; one cell at a time."""

    def __init__(self, work: Path, hide: Path | None, limits: sandbox.Limits) -> None:
        self.work, self.hide, self.limits = work, hide, limits
        self.proc: subprocess.Popen[bytes] | None = None
        self.confinement: sandbox.Confinement | None = None
        self._cgroup: sandbox.PidsCgroup | None = None
        self._replies: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._lock = threading.Lock()
        self.started_at = 0.0
        _LIVE.add(self)

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout: float = 30.0) -> None:
        (self.work / ".tmp").mkdir(parents=True, exist_ok=True)
        argv, kwargs, self.confinement, self._cgroup = sandbox.build(self.work, self.hide, self.limits)
        self._replies = queue.Queue()
        t = time.perf_counter()
        self.proc = subprocess.Popen(argv, **kwargs)
        threading.Thread(target=self._read, args=(self.proc, self._replies), daemon=True).start()
        try:
            hello = self._replies.get(timeout=timeout)
        except queue.Empty:
            self.kill()
            raise ToolError(f"the Python kernel did not start within {timeout:g} s") from None
        if hello is None:
            code = self.proc.wait()
            self.kill()
            raise ToolError(f"the Python kernel failed to start (exit code {code})")
        self.started_at = time.perf_counter() - t

    @staticmethod
    def _read(proc: subprocess.Popen[bytes], out: queue.Queue[dict[str, Any] | None]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            try:
                out.put(json.loads(line))
            except ValueError:
                continue
        out.put(None)  # end of stream: the kernel is gone

    def _send(self, msg: dict[str, Any]) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        try:
            self.proc.stdin.write((json.dumps(msg) + "\n").encode())
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            raise KernelDied() from None

    def execute(self, code: str, timeout: float, grace: float = 3.0) -> dict[str, Any]:
        """Run one cell. On timeout: interrupt, then kill and restart if it will not stop."""
        with self._lock:
            if not self.alive:
                self.start()
            try:
                self._send({"code": code})
                reply = self._replies.get(timeout=timeout)
            except queue.Empty:
                with contextlib.suppress(KernelDied):
                    self._send({"interrupt": True})
                try:
                    reply = self._replies.get(timeout=grace)
                except queue.Empty:
                    reply = None
                if reply is None:
                    self.kill()
                    return {"timed_out": True, "restarted": True}
                reply["timed_out"] = True
                return reply
            except KernelDied:
                reply = None
            if reply is None:
                code_ = self.proc.wait(timeout=5) if self.proc else None
                self.kill()
                return {"died": True, "exit_code": code_}
            return reply

    def kill(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(Exception):
                proc.kill()
            with contextlib.suppress(Exception):
                proc.wait(timeout=5)
            for stream in (proc.stdin, proc.stdout):
                with contextlib.suppress(Exception):
                    if stream is not None:
                        stream.close()
        if self._cgroup is not None:
            cg, self._cgroup = self._cgroup, None
            for _ in range(50):  # the pids in it exit a moment after the kill
                if not Path(cg.procs_file()).exists() or not Path(cg.procs_file()).read_text().strip():
                    break
                time.sleep(0.02)
            cg.remove()


@atexit.register
def _kill_all() -> None:
    for k in list(_LIVE):
        k.kill()


class PythonInterpreter(BaseAction):
    """Run Python code in a stateful, sandboxed notebook kernel (one per conversation): variables persist between runs; printed output, the value of the last expression, errors and matplotlib figures come back.

    Args:
        work_dir: the conversation's work folder (the only place code may write); a new
            private folder by default.
        timeout: default seconds one run may take before it is interrupted.
        memory_mb: address-space limit of the kernel process.
        max_processes: process-count limit (fork bombs end there).
        network: let code use the network (off by default).
        cpu_seconds: CPU-time limit for the kernel's lifetime (it restarts after).
        max_output: characters of output shown to the model.
        sandbox_root: a folder holding many conversations' folders (``work_dir`` among them):
            the others are hidden from this kernel.
    """

    interpreter = True  # the internlm2 dialect routes <|interpreter|> calls here

    def __init__(
        self,
        work_dir: str | os.PathLike[str] | None = None,
        timeout: int = 20,
        memory_mb: int = 1024,
        max_processes: int = 64,
        network: bool = False,
        cpu_seconds: int = 600,
        max_output: int = 8000,
        sandbox_root: str | os.PathLike[str] | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        if work_dir is None:
            SANDBOX_ROOT.mkdir(parents=True, exist_ok=True)
            self.work_dir = SANDBOX_ROOT / uuid.uuid4().hex
            hide: Path | None = SANDBOX_ROOT
        else:
            self.work_dir = Path(work_dir).resolve()
            hide = Path(sandbox_root).resolve() if sandbox_root is not None else None
            if hide is not None and hide not in self.work_dir.parents:
                raise ValueError(f"work_dir {self.work_dir} is not inside sandbox_root {hide}")
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.default_timeout = timeout
        self.max_output = max_output
        limits = sandbox.Limits(
            memory_mb=memory_mb, cpu_seconds=cpu_seconds, max_processes=max_processes, network=network
        )
        self.kernel = Kernel(self.work_dir, hide, limits)

    @tool_api(timeout=330)
    def run(self, command: str, timeout: int = 20) -> list[ResultItem]:
        """Run Python code in the notebook kernel and return its output.

        Args:
            command: the Python code to run; the value of its last expression is shown
            timeout: seconds before the run is interrupted (1-300)
        """
        limit = max(1, min(int(timeout or self.default_timeout), 300))
        reply = self.kernel.execute(command, limit)
        notes = self._sandbox_notes()
        if reply.get("died"):
            raise ToolError(
                f"the Python kernel died (exit code {reply.get('exit_code')}; a memory, CPU or process "
                "limit may have been reached); it restarts on the next run with empty state" + notes
            )
        if reply.get("restarted"):
            raise ToolTimeout(
                f"the code ran past {limit} s and did not stop when interrupted; the kernel was restarted "
                "and its state is lost" + notes
            )
        text = self._format(reply)
        if reply.get("timed_out"):
            raise ToolTimeout(f"the code ran past {limit} s and was interrupted; variables are kept.\n{text}".rstrip())
        items = [ResultItem.text(text + notes)]
        items += [ResultItem.image(p) for p in reply.get("figures", [])]
        return items

    def _format(self, reply: dict[str, Any]) -> str:
        parts = []
        if reply.get("output"):
            parts.append(reply["output"].rstrip("\n"))
        if reply.get("error") and not reply.get("interrupted"):
            parts.append(reply["error"])
        if reply.get("result") is not None:
            parts.append(f"Out: {reply['result']}")
        for p in reply.get("figures", []):
            parts.append(f"[figure saved: {p}]")
        text = "\n".join(parts) if parts else "(no output)"
        if len(text) > self.max_output:
            text = text[: self.max_output] + f"\n…[output cut: {len(text)} characters in all]"
        return text

    def _sandbox_notes(self) -> str:
        c = self.kernel.confinement
        if c is None or c.complete:
            return ""
        return f"\n[sandbox incomplete: {c.describe()}]"

    def close(self) -> None:
        self.kernel.kill()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.kernel.kill()
