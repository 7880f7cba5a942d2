"""A work folder's own size-limited filesystem: an ext4 image beside the folder, loop-mounted on it.

Why: a watchdog is not a limit. ``posix_fallocate`` of 30 files x 512 MB took 0.12 s (16 GB against
a 1 GB budget, issue 23); with fallocate refused, plain writes still ran at 5 GB/s here (1.8 GB/s
one byte per block, as glibc's fallback does), so any check between cells is outrun. A filesystem
of ``disk_mb`` cannot be: writes past it fail with ENOSPC, and ``-N`` caps its entries.

Why ext4 on a loop device and not a tmpfs (both mount here, as root): tmpfs pages are memory,
charged to the writer's memory cgroup (the kernel's) and lost when unmounted, while a conversation's
folder must outlive its kernel and the server. The image is sparse (``discard`` gives deleted
blocks back to the host's disk). Needs root, ``/dev/loop-control`` and ``mkfs.ext4``; without them
the interpreter falls back to accounting (``Confinement`` says so). Everything by descriptor: the
image is opened ``O_NOFOLLOW`` in the folder's checked parent, the mount target is
``/proc/self/fd/N`` of the folder opened ``O_NOFOLLOW``.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import os
import shutil
import stat
import struct
import subprocess
from pathlib import Path

from .workfolders import open_trusted_dir, open_work

LOOP_MAJOR = 7
_LOOP_CTL_GET_FREE = 0x4C82
_LOOP_CONFIGURE = 0x4C0A  # Linux 5.8+: attach and set flags at once
_LOOP_SET_FD, _LOOP_SET_STATUS64, _LOOP_GET_STATUS64 = 0x4C00, 0x4C04, 0x4C05
_LO_FLAGS_AUTOCLEAR = 4  # the device lets go of the image when the filesystem is unmounted
_INFO64 = 232  # sizeof(struct loop_info64); lo_device, lo_inode: its first two u64, lo_flags at 52
_MS_NOSUID, _MS_NODEV = 2, 4
_MNT_DETACH = 2
_SBIN = "/usr/local/sbin:/usr/sbin:/sbin:/usr/bin:/bin"

_libc = ctypes.CDLL(None, use_errno=True)


def _mkfs() -> str | None:
    return shutil.which("mkfs.ext4", path=_SBIN)


def unavailable() -> str | None:
    """Why no work-folder filesystem can be made here, or None if one can."""
    if os.geteuid() != 0:
        return "mounting a size-limited filesystem needs root"
    if not os.path.exists("/dev/loop-control"):
        return "no loop devices (/dev/loop-control)"
    if _mkfs() is None:
        return "mkfs.ext4 is not installed (e2fsprogs)"
    return None


class WorkDisk:
    """The mounted filesystem of one work folder."""

    def __init__(self, work: Path, root_fd: int, size: int, mounted_here: bool) -> None:
        self.work, self.root_fd, self.size, self.mounted_here = work, root_fd, size, mounted_here

    @property
    def entries(self) -> int:
        """How many files and folders the filesystem can hold."""
        try:
            return os.fstatvfs(self.root_fd).f_files
        except OSError:
            return 0

    @property
    def image(self) -> Path:
        return image_path(self.work)

    def nearly_full(self) -> float | None:
        """MB still free when little is left, else None. ext4 holds back min(2%, 4096 blocks) for
        itself: a write got ENOSPC with 2 MB of a 40 MB image still listed free here."""
        try:
            st = os.fstatvfs(self.root_fd)
        except OSError:
            return None
        free = st.f_bavail * st.f_frsize
        held_back = min(self.size // 50, 4096 * st.f_frsize)
        return free / 2**20 if free < self.size // 20 + held_back or st.f_favail < 2 else None

    def release(self, remove_image: bool = False) -> None:
        """Unmount (lazily: a process still inside keeps it until it ends); the loop device then
        lets go of the image. With ``remove_image``, the image goes too."""
        fd, self.root_fd = self.root_fd, -1
        if fd < 0:
            return
        try:
            if self.mounted_here or remove_image:
                _libc.umount2(f"/proc/self/fd/{fd}".encode(), _MNT_DETACH)
        finally:
            os.close(fd)
        if remove_image:
            with contextlib.suppress(OSError, ValueError):
                parent = open_trusted_dir(self.work.parent)
                try:
                    os.unlink(self.image.name, dir_fd=parent)
                finally:
                    os.close(parent)


def image_path(work: Path) -> Path:
    return work.parent / f".{work.name}.disk"


def attach(work: Path, disk_mb: int, max_files: int) -> WorkDisk:
    """Mount a ``disk_mb`` filesystem on ``work`` (made on first use, kept beside it as
    ``.NAME.disk``); what the folder held before moves into it. Raises ``OSError`` or
    ``ValueError`` when it cannot be done (the caller falls back and says so)."""
    parent = open_trusted_dir(work.parent)
    under = open_work(work)
    try:
        img = os.open(image_path(work).name, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                      dir_fd=parent)  # fmt: skip
        try:
            fcntl.flock(img, fcntl.LOCK_EX)  # one process sets it up at a time
            ist = os.fstat(img)
            if not stat.S_ISREG(ist.st_mode) or ist.st_uid != os.geteuid() or ist.st_nlink != 1:
                raise ValueError(f"{image_path(work)} is not this user's own disk image: remove it")
            wst, pst = os.fstat(under), os.fstat(parent)
            if wst.st_dev != pst.st_dev:  # already a mount point: ours, left by a process that ended?
                if not _backed_by(wst.st_dev, ist):
                    raise ValueError(f"the work folder {work} is a mount point of something else: unmount it")
                return WorkDisk(work, os.dup(under), ist.st_size, mounted_here=False)
            fresh = ist.st_size == 0
            if fresh:
                os.ftruncate(img, disk_mb * 2**20)
            try:
                root = _mount(work, parent, img, fresh, max_files)
            except BaseException:
                if fresh:  # no half-made image: the next try starts over
                    os.ftruncate(img, 0)
                raise
            disk = WorkDisk(work, root, os.fstat(img).st_size, mounted_here=True)
            try:
                _move_in(under, root)
            except OSError:
                pass  # what did not fit stays in the folder beneath, hidden but not lost
            return disk
        finally:
            fcntl.flock(img, fcntl.LOCK_UN)  # explicitly: the loop device shares this open file
            os.close(img)
    finally:
        os.close(under)
        os.close(parent)


def _loop_device(img: int) -> tuple[int, int]:
    """A free loop device attached to the image (autoclear): (its descriptor, its number)."""
    ctl = os.open("/dev/loop-control", os.O_RDWR | os.O_CLOEXEC)
    try:
        for _ in range(20):
            n = fcntl.ioctl(ctl, _LOOP_CTL_GET_FREE)
            dev = os.open(f"/dev/loop{n}", os.O_RDWR | os.O_CLOEXEC)
            info = bytearray(_INFO64)
            struct.pack_into("=I", info, 52, _LO_FLAGS_AUTOCLEAR)
            try:
                try:
                    fcntl.ioctl(dev, _LOOP_CONFIGURE, struct.pack("=II", img, 0) + bytes(info) + bytes(64))
                except OSError as exc:
                    if exc.errno not in (errno.EINVAL, errno.ENOTTY):
                        raise
                    fcntl.ioctl(dev, _LOOP_SET_FD, img)
                    fcntl.ioctl(dev, _LOOP_SET_STATUS64, bytes(info))
                return dev, n
            except OSError as exc:
                os.close(dev)
                if exc.errno != errno.EBUSY:  # taken by another process in between: try the next
                    raise
        raise OSError(errno.EBUSY, "no free loop device")
    finally:
        os.close(ctl)


def _mount(work: Path, parent: int, img: int, fresh: bool, max_files: int) -> int:
    dev, n = _loop_device(img)
    try:
        path = f"/dev/loop{n}"
        if fresh:
            # 128-byte inodes and no journal: a 20 MB image keeps 17 of its MB usable (16 with a
            # journal); -m 0: nothing reserved for root, the kernel never is root
            inodes = min(max_files, os.fstat(img).st_size // 2048)  # a small image keeps most of its room
            cmd = [_mkfs() or "mkfs.ext4", "-q", "-F", "-m", "0", "-I", "128", "-N", str(inodes),
                   "-O", "^has_journal", "-E", "root_owner=0:0,nodiscard", path]  # fmt: skip
        else:  # a process that ended without unmounting may have left it unclean
            cmd = [shutil.which("e2fsck", path=_SBIN) or "e2fsck", "-p", path]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env={"PATH": _SBIN})
        if r.returncode not in (0, 1):  # e2fsck: 1 is "errors corrected"
            raise OSError(errno.EIO, f"{cmd[0]} failed: {(r.stderr or r.stdout).strip()[:200]}")
        under = os.open(work.name, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
        try:
            rc = _libc.mount(path.encode(), f"/proc/self/fd/{under}".encode(), b"ext4", _MS_NOSUID | _MS_NODEV,
                             b"discard")  # fmt: skip
            if rc != 0:
                err = ctypes.get_errno()
                raise OSError(err, f"mounting {path} on {work}: {os.strerror(err)}")
        finally:
            os.close(under)
        root = os.open(work.name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
        if os.fstat(root).st_dev != os.makedev(LOOP_MAJOR, n):
            os.close(root)
            raise OSError(errno.EIO, f"{work} is not the filesystem just mounted there")
        os.fchmod(root, 0o700)
        if fresh:
            with contextlib.suppress(OSError):
                os.rmdir("lost+found", dir_fd=root)  # the model sees an empty folder
        return root
    finally:
        os.close(dev)  # the mount holds the device now; autoclear frees it after unmounting


def _backed_by(dev: int, image: os.stat_result) -> bool:
    """Is the block device ``dev`` a loop device attached to ``image``?"""
    if os.major(dev) != LOOP_MAJOR:
        return False
    try:
        fd = os.open(f"/dev/loop{os.minor(dev)}", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        info = fcntl.ioctl(fd, _LOOP_GET_STATUS64, bytes(_INFO64))
    except OSError:
        return False
    finally:
        os.close(fd)
    lo_device, lo_inode = struct.unpack_from("=QQ", info)
    return (lo_device, lo_inode) == (image.st_dev, image.st_ino)


def _move_in(src: int, dst: int, depth: int = 0) -> None:
    """Move what the folder beneath holds (uploads made while nothing was mounted) into the
    filesystem: regular files and folders, by descriptor; anything else stays beneath."""
    for name in os.listdir(src):
        st = os.stat(name, dir_fd=src, follow_symlinks=False)
        if stat.S_ISDIR(st.st_mode) and depth < 64:
            with contextlib.suppress(FileExistsError):
                os.mkdir(name, 0o700, dir_fd=dst)
            s = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=src)
            d = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dst)
            try:
                _move_in(s, d, depth + 1)
            finally:
                os.close(s)
                os.close(d)
            with contextlib.suppress(OSError):
                os.rmdir(name, dir_fd=src)
        elif stat.S_ISREG(st.st_mode):
            # the newer copy wins (an upload made beneath while nothing was mounted): written under
            # a fresh name, then renamed over whatever has its name, never through it
            tmp = f".liteagent-move-{os.getpid()}"
            s = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=src)
            try:
                with contextlib.suppress(OSError):
                    os.unlink(tmp, dir_fd=dst)
                d = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                            dir_fd=dst)  # fmt: skip
                try:
                    while os.sendfile(d, s, None, 2**20):
                        pass
                finally:
                    os.close(d)
            finally:
                os.close(s)
            try:
                os.rename(tmp, name, src_dir_fd=dst, dst_dir_fd=dst)
            except OSError:  # a folder of that name: the file stays beneath
                os.unlink(tmp, dir_fd=dst)
                continue
            os.unlink(name, dir_fd=src)
