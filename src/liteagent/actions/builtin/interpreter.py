"""PythonInterpreter: a stateful, sandboxed Python kernel per conversation (InternLM2's
``<|interpreter|>``). See ``sandbox.py`` for the confinement."""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import queue
import shutil
import signal
import subprocess
import threading
import time
import uuid
import weakref
from pathlib import Path
from typing import Any

from ...errors import ToolError, ToolTimeout
from ...messages import ResultItem
from ..base import BaseAction, tool_api
from . import sandbox, workdisk, workfolders

_LIVE: weakref.WeakSet[Kernel] = weakref.WeakSet()
MAX_LINE = 4 * 2**20  # one protocol line from the kernel; a longer one is dropped, never buffered whole
MAX_FIGURES = 20
MAX_FIGURE_BYTES = 20 * 2**20
WATCH_EVERY = 0.25  # seconds between the disk/memory watchdog's looks during a cell


class KernelDied(Exception):
    pass


def check_reply(raw: Any, cell_id: str) -> dict[str, Any] | None:
    """The kernel's reply for cell ``cell_id`` in a known shape, or None (not this cell's, or
    not a reply at all). Everything from the kernel is untrusted: a cell can write here too."""
    if not isinstance(raw, dict) or raw.get("id") != cell_id:
        return None
    out: dict[str, Any] = {"ok": raw.get("ok") is True, "interrupted": raw.get("interrupted") is True}
    for key in ("output", "error", "result"):
        v = raw.get(key)
        out[key] = v if isinstance(v, str) else None
    figs = raw.get("figures")
    out["figures"] = [f for f in figs if isinstance(f, str)][:MAX_FIGURES] if isinstance(figs, list) else []
    return out


class Kernel:
    """One sandboxed kernel process and the pipe to it. Thread-safe; one cell at a time."""

    def __init__(self, work: Path, limits: sandbox.Limits) -> None:
        self.work, self.limits = work, limits
        self.proc: subprocess.Popen[bytes] | None = None
        self.confinement: sandbox.Confinement | None = None
        self._cgroup: sandbox.Cgroup | None = None
        self._replies: queue.Queue[Any] = queue.Queue()
        self._lock = threading.Lock()
        self.started_at = 0.0
        self.uid = sandbox.sandbox_uid(work)
        self.disk: workdisk.WorkDisk | None = None  # the work folder's own filesystem, once mounted
        self.no_disk: str | None = None  # why there is none, once that is known
        self._before: dict[int, tuple[int, int]] = {}  # the work folder as the running cell found it
        self.pid = os.getpid()  # a forked child inherits this object, not the kernel or the mount
        _LIVE.add(self)

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def attach_disk(self) -> None:
        """Mount the work folder's own size-limited filesystem, once, where this system can."""
        if self.disk is not None or self.no_disk is not None:
            return
        self.no_disk = workdisk.unavailable()
        if self.no_disk is None:
            try:
                self.disk = workdisk.attach(self.work, self.limits.disk_mb, self.limits.max_files)
            except (OSError, ValueError) as exc:
                self.no_disk = f"mounting one failed: {exc}"

    def release_disk(self, remove_image: bool = False) -> None:
        disk, self.disk = self.disk, None
        self.no_disk = None
        if disk is not None:
            disk.release(remove_image)

    def start(self, timeout: float = 30.0) -> None:
        try:
            self.attach_disk()
            sandbox.prepare_work(self.work, self.uid)
        except (OSError, ValueError) as exc:
            raise ToolError(f"the Python kernel cannot start: {exc}") from None
        launch = sandbox.build(self.work, self.limits, disk=self.disk, no_disk=self.no_disk or "")
        self.confinement, self._cgroup = launch.confinement, launch.cgroup
        self._replies = queue.Queue()
        t = time.perf_counter()
        try:
            self.proc = subprocess.Popen(
                launch.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                **launch.popen_kwargs(),
            )  # fmt: skip
        finally:
            launch.close_fds()
        threading.Thread(target=self._read, args=(self.proc, self._replies), daemon=True).start()
        try:
            hello = self._replies.get(timeout=timeout)
        except queue.Empty:
            self.kill()
            raise ToolError(f"the Python kernel did not start within {timeout:g} s") from None
        if not (isinstance(hello, dict) and hello.get("hello")):
            code = self.proc.wait()
            self.kill()
            raise ToolError(f"the Python kernel failed to start (exit code {code})")
        if self.uid is not None and not (
            hello.get("uid") == hello.get("euid") == self.uid and hello.get("cap_eff") == "0000000000000000"
        ):
            self.kill()
            raise ToolError(
                f"the Python kernel did not drop root (uid {hello.get('uid')}, capabilities {hello.get('cap_eff')}); "
                "refusing to run code in it"
            )
        self.started_at = time.perf_counter() - t

    @staticmethod
    def _read(proc: subprocess.Popen[bytes], out: queue.Queue[Any]) -> None:
        assert proc.stdout is not None
        stream, skipping = proc.stdout, False
        while True:
            line = stream.readline(MAX_LINE)
            if not line:
                break
            if not line.endswith(b"\n"):  # over MAX_LINE: drop it up to its end
                skipping = True
                continue
            if skipping:
                skipping = False
                continue
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

    def _over_budget(self, disk_at_start: int) -> str | None:
        """Why the running cell must be stopped, if it must: the work folder grew past its disk
        budget (where no filesystem of that size holds it), or (without a memory cgroup) the
        kernel's processes hold more than its memory."""
        lim = self.limits
        if self.disk is None:
            used, entries = sandbox.disk_usage(self.work, lim.max_files)
            if entries > lim.max_files:
                return f"the work folder holds more than {lim.max_files} files and folders"
            if used > lim.disk_mb * 2**20 and used > disk_at_start:
                return f"the work folder grew past its disk budget of {lim.disk_mb} MB"
        if self.proc is not None and not (self._cgroup is not None and self._cgroup.memory):
            if sandbox.tree_rss(self.proc.pid) > lim.memory_mb * 2**20:
                return f"the kernel's processes used more than {lim.memory_mb} MB of memory together"
        return None

    def _wait_reply(self, cell_id: str, timeout: float, disk_at_start: int) -> dict[str, Any] | str | None:
        """The cell's reply; None at the deadline; a string: why the watchdog stopped the kernel.
        Raises KernelDied when the kernel's stream ends."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            try:
                raw = self._replies.get(timeout=min(WATCH_EVERY, left))
            except queue.Empty:
                why = self._over_budget(disk_at_start)
                if why is not None:
                    return why
                continue
            if raw is None:
                raise KernelDied()
            reply = check_reply(raw, cell_id)
            if reply is not None:
                return reply

    def _stop_over_budget(self, why: str) -> dict[str, Any]:
        """Stop the kernel and take back what the cell wrote past the disk budget."""
        self.kill()
        if self.disk is None:
            lim = self.limits
            removed = workfolders.trim(self.work, lim.disk_mb * 2**20, lim.max_files, self._before)
            if removed:
                shown = ", ".join(removed[:5]) + (f" and {len(removed) - 5} more" if len(removed) > 5 else "")
                why += f"; what the cell added past it was removed ({shown})"
        return {"died": True, "reason": why}

    def execute(self, code: str, timeout: float, grace: float = 10.0) -> dict[str, Any]:
        """Run one cell. On timeout: interrupt, then kill and restart if it will not stop."""
        with self._lock:
            if not self.alive:
                self.start()
            cell_id = uuid.uuid4().hex
            disk_at_start = 0
            if self.disk is None:  # accounting, where no filesystem holds the budget
                disk_at_start = sandbox.disk_usage(self.work, self.limits.max_files)[0]
                self._before = workfolders.snapshot(self.work)
            try:
                self._send({"id": cell_id, "code": code})
                reply = self._wait_reply(cell_id, timeout, disk_at_start)
                if reply is None:
                    with contextlib.suppress(KernelDied):
                        self._send({"interrupt": True, "id": cell_id})  # a cell not started yet never runs
                    reply = self._wait_reply(cell_id, grace, disk_at_start)
                    if reply is None:
                        self.kill()
                        return {"timed_out": True, "restarted": True}
                    if isinstance(reply, dict):
                        reply["timed_out"] = True
                if isinstance(reply, str):
                    return self._stop_over_budget(reply)
                why = self._over_budget(disk_at_start)
                if why is not None:
                    return self._stop_over_budget(why)
                if self.disk is not None:  # the filesystem held the budget: say when it is nearly spent
                    reply["disk_left"] = self.disk.nearly_full()
                return reply
            except KernelDied:
                code_ = self.proc.wait(timeout=5) if self.proc else None
                self.kill()
                return {"died": True, "exit_code": code_}

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
                if cg.empty():
                    break
                time.sleep(0.02)
            cg.remove()


@atexit.register
def _kill_all() -> None:
    mine = [k for k in _LIVE if k.pid == os.getpid()]
    for k in mine:
        k.kill()
    for interp in list(_OWNED):
        if interp.kernel.pid == os.getpid():
            interp.close()
    for k in mine:  # a folder the caller named keeps its disk image, unmounted
        k.release_disk()


_OWNED: weakref.WeakSet[PythonInterpreter] = weakref.WeakSet()  # their temporary folders go at exit


class PythonInterpreter(BaseAction):
    """Run Python code in a stateful, sandboxed notebook kernel (one per conversation): variables persist between runs; printed output, the value of the last expression, errors and matplotlib figures come back.

    Args:
        work_dir: the conversation's work folder (the only host folder the code sees); a new
            private folder by default, removed by ``close()``.
        timeout: default seconds one run may take before it is interrupted.
        memory_mb: memory budget of the whole kernel (all its processes).
        max_processes: process-count limit (fork bombs end there).
        network: let code use the network (off by default).
        cpu_seconds: CPU-time limit for the kernel's lifetime (it restarts after).
        max_output: characters of output shown to the model.
        sandbox_root: a folder holding many conversations' folders; ``work_dir`` must lie inside it.
            (No folder but ``work_dir`` is ever mounted into the sandbox.)
        disk_mb: disk budget of the work folder.
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
        disk_mb: int = 1024,
    ) -> None:
        super().__init__(name=name)
        self._owns_folder = work_dir is None
        if work_dir is None:
            # this process's own 0700 root: never a fixed, shared name in /tmp (a local user made
            # /tmp/liteagent-sandboxes first and steered root's chmod/chown with a link, issue 23)
            self.work_dir = workfolders.private_root() / uuid.uuid4().hex
        else:
            # the folder itself is never followed if it is a link: only the way to it is resolved
            given = Path(os.path.abspath(work_dir))
            self.work_dir = given.parent.resolve() / given.name
            root = Path(sandbox_root).resolve() if sandbox_root is not None else None
            if root is not None and root not in self.work_dir.parents:
                raise ValueError(f"work_dir {self.work_dir} is not inside sandbox_root {root}")
            if root is not None:  # it holds other conversations' folders: nobody else may change it
                os.close(workfolders.open_trusted_dir(root))
        # figures are copied here, out of the kernel's reach (it could swap them for links later)
        self.results_dir = self.work_dir.parent / f".{self.work_dir.name}.results"
        self.default_timeout = timeout
        self.max_output = max_output
        limits = sandbox.Limits(
            memory_mb=memory_mb, cpu_seconds=cpu_seconds, max_processes=max_processes, network=network,
            disk_mb=disk_mb,
        )  # fmt: skip
        sandbox.prepare_work(self.work_dir, sandbox.sandbox_uid(self.work_dir))  # refuses a wrong folder
        self.kernel = Kernel(self.work_dir, limits)
        if self._owns_folder:
            _OWNED.add(self)  # only once there is something to clean up

    def write_file(self, name: str, data: bytes) -> Path:
        """Put a file (an upload) into the work folder for the code to read; never follows a
        link the code planted. Returns the path it was written to (made unique)."""
        return sandbox.safe_write(self.work_dir, name, data, self.kernel.uid)

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
            if reply.get("reason"):
                why = f"the Python kernel was stopped: {reply['reason']}"
            else:
                why = (
                    f"the Python kernel died (exit code {reply.get('exit_code')}; a memory, CPU or process "
                    "limit may have been reached)"
                )
            raise ToolError(why + "; it restarts on the next run with empty state" + notes)
        if reply.get("restarted"):
            raise ToolTimeout(
                f"the code ran past {limit} s and did not stop when interrupted; the kernel was restarted "
                "and its state is lost" + notes
            )
        if reply.get("disk_left") is not None:
            notes = (
                f"\n[the work folder is nearly full: {reply['disk_left']:.1f} MB of its disk budget of "
                f"{self.kernel.limits.disk_mb} MB left; delete files to make room]" + notes
            )
        figures, figure_notes = self._copy_figures(reply.get("figures", []))
        text = self._format(reply, figures, figure_notes)
        if reply.get("timed_out"):
            raise ToolTimeout(f"the code ran past {limit} s and was interrupted; variables are kept.\n{text}".rstrip())
        if not reply.get("ok"):
            raise ToolError(text + notes)  # the traceback, for the model to fix its code
        return [ResultItem.text(text + notes)] + [ResultItem.image(p) for p in figures]

    def _copy_figures(self, paths: list[str]) -> tuple[list[str], list[str]]:
        """Host copies of the figures the kernel named: regular files inside the work folder only."""
        out, notes = [], []
        for p in paths:
            try:
                data = sandbox.read_inside(self.work_dir, p, MAX_FIGURE_BYTES)
            except ValueError as exc:
                notes.append(f"[figure refused: {exc}]")
                continue
            if not data.startswith(b"\x89PNG\r\n\x1a\n"):
                notes.append(f"[figure refused: {p} is not a PNG image]")
                continue
            self.results_dir.mkdir(mode=0o700, exist_ok=True)
            target = self.results_dir / f"{uuid.uuid4().hex[:12]}-{Path(p).name}"
            target.write_bytes(data)
            out.append(str(target))
        return out, notes

    def _format(self, reply: dict[str, Any], figures: list[str], figure_notes: list[str]) -> str:
        parts = []
        if reply.get("output"):
            parts.append(reply["output"].rstrip("\n"))
        if reply.get("error") and not reply.get("interrupted"):
            parts.append(reply["error"])
        if reply.get("result") is not None:
            parts.append(f"Out: {reply['result']}")
        for p in figures:
            parts.append(f"[figure saved: {p}]")
        parts += figure_notes
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
        kernel = getattr(self, "kernel", None)  # None when __init__ refused the folder
        if kernel is None:
            return
        kernel.kill()
        kernel.release_disk(remove_image=self._owns_folder)
        if self._owns_folder:
            shutil.rmtree(self.work_dir, ignore_errors=True)
            shutil.rmtree(self.results_dir, ignore_errors=True)

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()
