"""How the code interpreter's kernel process is confined, with what this system offers.

- bubblewrap (``bwrap``), where it runs: the whole filesystem read-only except the conversation's
  work folder, other conversations' folders hidden, no network (a new network namespace: not even
  the host's 127.0.0.1), a private PID namespace (killing it kills every process the code made).
- resource limits on every system: address space (memory), CPU seconds, file size; the number of
  processes by a pids cgroup where one can be made (root) or RLIMIT_NPROC (other users).
- a clean environment: no API keys or tokens, only PATH/HOME/LANG/TMPDIR and matplotlib settings.

``describe()`` says in plain words which of these hold, so the tool never pretends.
"""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

KERNEL = Path(__file__).with_name("kernel_main.py")


@dataclass
class Limits:
    memory_mb: int = 1024
    cpu_seconds: int = 600
    max_processes: int = 64
    max_file_mb: int = 512
    network: bool = False


@dataclass
class Confinement:
    """What was applied to one kernel, for the tool's result and the README."""

    filesystem: str
    network: str
    processes: str
    memory: str
    notes: list[str] = field(default_factory=list)

    def describe(self) -> str:
        return (
            f"filesystem: {self.filesystem}; network: {self.network}; processes: {self.processes}; "
            f"memory: {self.memory}"
        )

    @property
    def complete(self) -> bool:
        return not self.notes


_BWRAP_OK: bool | None = None


def bwrap_works() -> bool:
    """Is bubblewrap installed and allowed to make namespaces here? (asked once per process)"""
    global _BWRAP_OK
    if _BWRAP_OK is None:
        exe = shutil.which("bwrap")
        if exe is None:
            _BWRAP_OK = False
        else:
            try:
                r = subprocess.run(
                    [exe, "--ro-bind", "/", "/", "--unshare-net", "--unshare-pid", "--die-with-parent", "true"],
                    capture_output=True,
                    timeout=10,
                )
                _BWRAP_OK = r.returncode == 0
            except (OSError, subprocess.TimeoutExpired):
                _BWRAP_OK = False
    return _BWRAP_OK


def clean_env(work: Path) -> dict[str, str]:
    """The kernel's whole environment: nothing from ours, so no keys or tokens leak in."""
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(work),
        "TMPDIR": str(work / ".tmp"),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": str(work / ".liteagent" / "matplotlib"),
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
        "OPENBLAS_NUM_THREADS": "1",
    }


class PidsCgroup:
    """A pids (and memory) cgroup for one kernel, where this process may create one (root)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def create(cls, limits: Limits) -> PidsCgroup | None:
        if os.geteuid() != 0:
            return None
        name = f"liteagent-{uuid.uuid4().hex[:12]}"
        v1 = Path("/sys/fs/cgroup/pids")
        v2 = Path("/sys/fs/cgroup")
        try:
            if (v1 / "pids.max").exists() or (v1 / "cgroup.procs").exists():
                path = v1 / name
                path.mkdir()
            elif "pids" in (v2 / "cgroup.controllers").read_text():
                with contextlib.suppress(OSError):
                    (v2 / "cgroup.subtree_control").write_text("+pids +memory")
                path = v2 / name
                path.mkdir()
                with contextlib.suppress(OSError):
                    (path / "memory.max").write_text(str(limits.memory_mb * 2**20))
            else:
                return None
            (path / "pids.max").write_text(str(limits.max_processes))
            return cls(path)
        except OSError:
            return None

    def procs_file(self) -> str:
        return str(self.path / "cgroup.procs")

    def remove(self) -> None:
        with contextlib.suppress(OSError):
            self.path.rmdir()


def build(
    work: Path, hide: Path | None, limits: Limits
) -> tuple[list[str], dict[str, Any], Confinement, PidsCgroup | None]:
    """argv, Popen keyword arguments, and what confinement they give, for a kernel in ``work``."""
    python = [sys.executable, "-I", str(KERNEL)]
    cgroup = PidsCgroup.create(limits)
    notes: list[str] = []
    if bwrap_works():
        argv = ["bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
        if hide is not None:  # other conversations' folders vanish; this one is writable
            argv += ["--tmpfs", str(hide), "--bind", str(work), str(work), "--remount-ro", str(hide)]
        else:
            argv += ["--bind", str(work), str(work)]
        argv += ["--unshare-pid", "--unshare-ipc", "--unshare-uts", "--die-with-parent", "--chdir", str(work)]
        if not limits.network:
            argv.append("--unshare-net")
        argv += python
        filesystem = "read-only except the work folder (bubblewrap)"
        network = "on" if limits.network else "off (own network namespace, bubblewrap)"
    else:
        argv = python
        filesystem = "NOT isolated: bubblewrap is not available, code can write wherever this user can"
        network = "on" if limits.network else "NOT isolated: bubblewrap is not available, code can reach the network"
        notes.append("install bubblewrap (apt-get install bubblewrap) to isolate the filesystem and network")
    uid_limited = os.geteuid() != 0
    if cgroup is not None:
        processes = f"at most {limits.max_processes} (pids cgroup)"
    elif uid_limited:
        processes = f"at most {limits.max_processes} more for this user (RLIMIT_NPROC)"
    else:
        processes = "NOT limited: running as root without a usable pids cgroup"
        notes.append("no process-count limit could be applied")
    procs_file = cgroup.procs_file() if cgroup is not None else None

    def preexec() -> None:  # runs in the child, before exec
        if procs_file is not None:
            with open(procs_file, "w") as f:
                f.write(str(os.getpid()))
        mem = limits.memory_mb * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
        resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 5))
        fsize = limits.max_file_mb * 2**20
        resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if uid_limited and procs_file is None:
            current = _process_count()
            resource.setrlimit(resource.RLIMIT_NPROC, (current + limits.max_processes,) * 2)

    kwargs: dict[str, Any] = {
        "cwd": str(work),
        "env": clean_env(work),
        "preexec_fn": preexec,
        "start_new_session": True,
        "stdin": subprocess.PIPE,
        "stdout": subprocess.PIPE,
        "stderr": subprocess.DEVNULL,
    }
    confinement = Confinement(
        filesystem=filesystem,
        network=network,
        processes=processes,
        memory=f"at most {limits.memory_mb} MB address space, {limits.cpu_seconds} CPU seconds",
        notes=notes,
    )
    return argv, kwargs, confinement, cgroup


def _process_count() -> int:
    uid = os.getuid()
    n = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.stat(f"/proc/{entry}").st_uid == uid:
                    n += 1
            except OSError:
                continue
    return n
