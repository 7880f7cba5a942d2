"""Host-side access to a kernel's work folder and processes. The kernel owns that folder and may
have planted symlinks anywhere in it: nothing here follows one. (The folder's parents are checked
when it is made, ``workfolders.py``: only its last step needs ``O_NOFOLLOW``.)"""

from __future__ import annotations

import errno
import os
import stat
import uuid
from pathlib import Path


def _open_dir_nofollow(work: Path) -> int:
    return os.open(work, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)


def safe_write(work: Path, name: str, data: bytes, uid: int | None = None) -> Path:
    """Write a new file named ``name`` (a plain name, made unique) into the work folder without
    following any link the kernel planted: write a fresh temporary file, then rename it."""
    clean = Path(name.replace("\x00", "")).name.strip() or "upload"
    if clean in (".", ".."):
        clean = "upload"
    dfd = _open_dir_nofollow(work)
    try:
        existing = set(os.listdir(dfd))
        stem, dot, suffix = clean.rpartition(".")
        if not stem:
            stem, dot, suffix = clean, "", ""
        target, n = clean, 1
        while target in existing:
            target = f"{stem}-{n}{dot}{suffix}"
            n += 1
        tmp = f".liteagent-upload-{uuid.uuid4().hex}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644, dir_fd=dfd)
        try:
            with os.fdopen(fd, "wb", closefd=False) as f:
                f.write(data)
            if uid is not None:
                os.fchown(fd, uid, uid)
        finally:
            os.close(fd)
        os.rename(tmp, target, src_dir_fd=dfd, dst_dir_fd=dfd)  # replaces a planted link, never follows it
        return work / target
    finally:
        os.close(dfd)


def read_inside(work: Path, path: str | os.PathLike[str], max_bytes: int) -> bytes:
    """The bytes of a regular file inside the work folder, reached without following any link.

    Raises ``ValueError`` for anything else (outside the folder, a link, a device, too big)."""
    p = Path(path)
    if not p.is_absolute():
        p = work / p
    try:
        rel = Path(os.path.normpath(p)).relative_to(work)
    except ValueError:
        raise ValueError(f"{path} is outside the work folder") from None
    parts = rel.parts
    if not parts or ".." in parts:
        raise ValueError(f"{path} is not a file in the work folder")
    fd = _open_dir_nofollow(work)
    try:
        for part in parts[:-1]:
            nfd = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
            os.close(fd)
            fd = nfd
        try:
            ffd = os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=fd)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise ValueError(f"{path} is a symbolic link") from None
            raise ValueError(f"{path}: {exc.strerror}") from None
        with os.fdopen(ffd, "rb") as f:
            st = os.fstat(f.fileno())
            if not stat.S_ISREG(st.st_mode):
                raise ValueError(f"{path} is not a regular file")
            if st.st_size > max_bytes:
                raise ValueError(f"{path} is larger than {max_bytes} bytes")
            return f.read(max_bytes + 1)[:max_bytes]
    except OSError as exc:
        raise ValueError(f"{path}: {exc.strerror}") from None
    finally:
        os.close(fd)


def disk_usage(work: Path, max_files: int) -> tuple[int, int]:
    """(bytes on disk, entries) of the work folder; stops counting past ``max_files`` entries."""
    total, count, stack = 0, 0, [str(work)]
    while stack and count <= max_files:
        top = stack.pop()
        try:
            with os.scandir(top) as it:
                for e in it:
                    count += 1
                    try:
                        st = e.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    total += st.st_blocks * 512
                    if stat.S_ISDIR(st.st_mode):
                        stack.append(e.path)
        except OSError:
            continue
    return total, count


def tree_rss(pid: int) -> int:
    """Resident bytes of ``pid`` and all its descendants (the kernel's whole process tree)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    page = os.sysconf("SC_PAGE_SIZE")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
            with open(f"/proc/{entry}/statm", "rb") as f:
                rss[int(entry)] = int(f.read().split()[1]) * page
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        total += rss.get(p, 0)
        stack.extend(children.get(p, ()))
    return total
