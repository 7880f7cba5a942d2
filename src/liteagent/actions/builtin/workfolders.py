"""Where the interpreter's work folders live, who owns them, and how host code walks them.

Work folders never lie in a folder another user could write: by default under a private root that
this process makes with ``mkdtemp`` (0700, its owner and mode checked by descriptor; ``/tmp`` is
shared, a fixed name there was claimed by a local user first in issue 23). A folder given by the
caller must be reached through folders only root or this user can change. Every change to a work
folder goes through descriptors opened with ``O_NOFOLLOW`` (``fchmod``, ``fchown``, ``unlinkat``):
the kernel owns the folder's contents and may have planted links anywhere in it. A folder whose
owner or mode is wrong is refused, never fixed up.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import hmac
import os
import shutil
import stat
import tempfile
import threading
from pathlib import Path

UID_RANGE_ENV = "LITEAGENT_SANDBOX_UIDS"  # "START:COUNT", the host uids kernels may run as
MAX_DEPTH = 256  # folders nested deeper than this inside a work folder are left as they are
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC

# ---------------------------------------------------------------------------- the sandbox's uid

# A per-process secret: the uid of a work folder's kernel is not something a local user can
# compute in advance from the folder's path (it was a plain hash of it). Files a previous process's
# kernel made carry its uid; prepare_work gives them to the new one before a kernel starts.
_SECRET = os.urandom(32)


def uid_range() -> tuple[int, int]:
    raw = os.environ.get(UID_RANGE_ENV)
    if raw:
        first, _, n = raw.partition(":")
        return int(first), max(1, int(n or 1))
    top = 0
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/uid_map").read_text().splitlines():
            inside, _, length = (int(x) for x in line.split())
            top = max(top, inside + length)
    if top >= 2_000_000_000:
        return 1_800_000_000, 100_000_000
    return 40_000, 20_000  # a container mapping 65536 uids: below nobody and systemd's dynamic uids


def sandbox_uid(work: Path) -> int | None:
    """The host uid a kernel for ``work`` runs as: its own per work folder when we are root
    (None otherwise: an ordinary user's kernel runs as that user, who owns nothing of root's)."""
    if os.geteuid() != 0:
        return None
    start, count = uid_range()
    mac = hmac.new(_SECRET, os.path.realpath(work).encode(), hashlib.sha256).digest()
    return start + int.from_bytes(mac[:8], "big") % count


def _is_sandbox_uid(uid: int) -> bool:
    start, count = uid_range()
    return os.geteuid() == 0 and start <= uid < start + count


# ---------------------------------------------------------------------------- trusted folders


def _mode(st: os.stat_result) -> str:
    return f"{stat.S_IMODE(st.st_mode):04o}"


def _may_hold(st: os.stat_result) -> bool:
    """May a folder with this status hold ours? Only if no one but root and this user can rename
    or replace its entries: theirs and not writable by others, or sticky (as /tmp is)."""
    return st.st_uid in (0, os.geteuid()) and (not st.st_mode & 0o022 or bool(st.st_mode & stat.S_ISVTX))


def _open_checked(path: Path) -> int:
    """A descriptor of ``path`` (resolved), each folder on the way opened with ``O_NOFOLLOW`` and
    held to ``_may_hold``. Raises ``ValueError`` naming the folder that fails."""
    real = Path(os.path.realpath(path))
    fd = os.open("/", _DIR)
    here = Path("/")
    try:
        for part in real.parts[1:]:
            st = os.fstat(fd)
            if not _may_hold(st):
                raise ValueError(
                    f"{here} can be changed by other users (owner uid {st.st_uid}, mode {_mode(st)}): "
                    f"{path} must lie in folders that only root and uid {os.geteuid()} can change"
                )
            here = here / part
            try:
                nfd = os.open(part, _DIR, dir_fd=fd)
            except OSError as exc:
                raise ValueError(f"{here}: {exc.strerror}") from None
            os.close(fd)
            fd = nfd
        return fd
    except BaseException:
        os.close(fd)
        raise


def open_trusted_dir(path: Path, private: bool = False) -> int:
    """A descriptor of the folder ``path``, reached through folders that only root or this user
    can change; the folder itself must belong to this user and be writable by no one else (with
    ``private``: mode 0700). A wrong one is refused, not fixed up: ``ValueError`` says what to do."""
    fd = _open_checked(path)
    st = os.fstat(fd)
    me = os.geteuid()
    why = ""
    if st.st_uid != me:
        why = f"belongs to uid {st.st_uid}, not to uid {me}"
    elif (private and stat.S_IMODE(st.st_mode) != 0o700) or st.st_mode & 0o022:
        why = f"has mode {_mode(st)}, must be " + ("0700" if private else "writable by its owner only")
    if why:
        os.close(fd)
        raise ValueError(f"the sandbox folder {path} {why}: remove it or choose another folder")
    return fd


_ROOTS: dict[int, Path] = {}  # per process id: a forked child makes its own
_ROOTS_LOCK = threading.Lock()


def private_root() -> Path:
    """This process's own folder for work folders: made by ``mkdtemp`` (0700, a name nobody could
    claim first) in a temporary folder only root may rename entries of, checked by descriptor,
    removed at exit."""
    pid = os.getpid()
    with _ROOTS_LOCK:
        if pid not in _ROOTS:
            _ROOTS[pid] = _make_private_root()
        return _ROOTS[pid]


def _make_private_root() -> Path:
    base = Path(tempfile.gettempdir())
    fd = _open_checked(base)
    try:
        if not _may_hold(os.fstat(fd)):
            raise ValueError(f"the temporary folder {base} can be changed by other users and is not sticky")
    finally:
        os.close(fd)
    path = Path(tempfile.mkdtemp(prefix=f"liteagent-{os.geteuid()}-", dir=base))
    os.close(open_trusted_dir(path, private=True))
    return path


@atexit.register
def _remove_private_root() -> None:
    path = _ROOTS.pop(os.getpid(), None)
    if path is not None:
        shutil.rmtree(path, ignore_errors=True)  # descriptor-based: it follows no link


# ---------------------------------------------------------------------------- work folders


def open_work(work: Path, create: bool = True) -> int:
    """A descriptor of the work folder: its parent checked (``open_trusted_dir``), the folder made
    0700 if missing, refused if it is a link or belongs to someone else."""
    parent = open_trusted_dir(work.parent)
    try:
        if create:
            with contextlib.suppress(FileExistsError):
                os.mkdir(work.name, 0o700, dir_fd=parent)
        try:
            fd = os.open(work.name, _DIR, dir_fd=parent)
        except OSError as exc:
            if os.path.islink(work):
                raise ValueError(f"the work folder {work} is a symbolic link: give the folder itself") from None
            raise ValueError(f"the work folder {work}: {exc.strerror}") from None
    finally:
        os.close(parent)
    st = os.fstat(fd)
    if st.st_uid != os.geteuid() and not _is_sandbox_uid(st.st_uid):
        os.close(fd)
        raise ValueError(f"the work folder {work} belongs to uid {st.st_uid}: remove it or choose another folder")
    return fd


def prepare_work(work: Path, uid: int | None) -> None:
    """Create the work folder (0700) and give it and everything in it to the kernel's uid, by
    descriptor. Runs while no kernel lives (nothing can swap entries under us)."""
    fd = open_work(work)
    try:
        os.fchmod(fd, 0o700)
        if uid is not None:
            os.fchown(fd, uid, uid)
            for parts, st in walk(fd):
                if st.st_uid != uid or st.st_gid != uid:
                    with contextlib.suppress(OSError), _at(fd, parts[:-1]) as dfd:
                        os.chown(parts[-1], uid, uid, dir_fd=dfd, follow_symlinks=False)
    finally:
        os.close(fd)


Entry = tuple[tuple[str, ...], os.stat_result]


def walk(top: int, prefix: tuple[str, ...] = ()) -> list[Entry]:
    """(path parts, lstat) of everything under ``top``, each folder after its contents. Folders are
    opened with ``O_NOFOLLOW``: a link is reported, never entered. Deeper than MAX_DEPTH: skipped."""
    out: list[Entry] = []
    try:
        names = os.listdir(top)
    except OSError:
        return out
    for name in names:
        try:
            st = os.stat(name, dir_fd=top, follow_symlinks=False)
        except OSError:
            continue
        if stat.S_ISDIR(st.st_mode) and len(prefix) < MAX_DEPTH:
            try:
                sub = os.open(name, _DIR, dir_fd=top)
            except OSError:
                continue
            try:
                out += walk(sub, (*prefix, name))
            finally:
                os.close(sub)
        out.append(((*prefix, name), st))
    return out


@contextlib.contextmanager
def _at(top: int, parts: tuple[str, ...]):  # type: ignore[no-untyped-def]
    """A descriptor of the folder ``parts`` below ``top``, walked with ``O_NOFOLLOW``."""
    fd = os.dup(top)
    try:
        for part in parts:
            nfd = os.open(part, _DIR, dir_fd=fd)
            os.close(fd)
            fd = nfd
        yield fd
    finally:
        os.close(fd)


def snapshot(work: Path) -> dict[int, tuple[int, int]]:
    """inode -> (size, blocks) of everything in the work folder, taken before a cell runs."""
    with contextlib.suppress(OSError):
        fd = os.open(work, _DIR)
        try:
            return {st.st_ino: (st.st_size, st.st_blocks) for _, st in walk(fd)}
        finally:
            os.close(fd)
    return {}


def trim(work: Path, budget: int, max_entries: int, before: dict[int, tuple[int, int]]) -> list[str]:
    """Take back what a cell added past the disk budget (its kernel is stopped): new files go,
    largest first, then grown files are cut back to their old size, until the folder fits; past
    ``max_entries``, new entries go too. Returns the paths removed or cut, inside the folder."""
    fd = os.open(work, _DIR)
    done: list[str] = []
    try:
        entries = walk(fd)
        used = sum(st.st_blocks * 512 for _, st in entries)
        count = len(entries)
        new = sorted((e for e in entries if e[1].st_ino not in before), key=lambda e: -e[1].st_blocks)
        for parts, st in new:
            if used <= budget:
                break
            if stat.S_ISREG(st.st_mode):
                with contextlib.suppress(OSError), _at(fd, parts[:-1]) as dfd:
                    os.unlink(parts[-1], dir_fd=dfd)
                    used -= st.st_blocks * 512
                    count -= 1
                    done.append("/".join(parts))
        for parts, st in entries:
            old = before.get(st.st_ino)
            if used <= budget:
                break
            if old is not None and stat.S_ISREG(st.st_mode) and st.st_blocks > old[1]:
                with contextlib.suppress(OSError), _at(fd, parts[:-1]) as dfd:
                    ffd = os.open(parts[-1], os.O_WRONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dfd)
                    try:
                        os.ftruncate(ffd, old[0])
                        used -= (st.st_blocks - os.fstat(ffd).st_blocks) * 512
                    finally:
                        os.close(ffd)
                    done.append("/".join(parts))
        for parts, st in entries:  # each folder after its contents: an emptied new folder goes too
            if count <= max_entries:
                break
            if st.st_ino in before or "/".join(parts) in done:
                continue
            with contextlib.suppress(OSError), _at(fd, parts[:-1]) as dfd:
                if stat.S_ISDIR(st.st_mode):
                    os.rmdir(parts[-1], dir_fd=dfd)
                else:
                    os.unlink(parts[-1], dir_fd=dfd)
                count -= 1
                done.append("/".join(parts))
    finally:
        os.close(fd)
    return done
