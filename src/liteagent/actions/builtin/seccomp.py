"""A seccomp filter for the interpreter's sandbox: no setuid/setgid bits, no new namespaces, no
xattrs, no io_uring, no allocation past a file's size limit, and (where no memory cgroup counts
them) no memfds or SysV shared memory.

bubblewrap loads it (``--seccomp FD``). Written as raw classic BPF, so no libseccomp is needed.
It refuses (EPERM) every syscall that would create or chmod a file with S_ISUID or S_ISGID in its
mode, refuses the calls whose arguments BPF cannot inspect (``openat2``: the mode is in a struct;
``io_uring_setup``: its ring opens files by itself) with ENOSYS so libraries fall back, refuses
extended attributes (file capabilities) with ENOTSUP, new namespaces (``unshare``, ``setns``, a
``clone`` with namespace flags: EPERM; ``clone3``, whose flags BPF cannot read: ENOSYS, so libc
falls back to ``clone``), and any syscall of a foreign ABI (x32, i386).

``fallocate`` may only allocate within the file (mode 0, which RLIMIT_FSIZE caps) or punch holes:
``FALLOC_FL_KEEP_SIZE`` allocated 100 MB on disk under a 20 MB RLIMIT_FSIZE here (the size, which
the limit checks, stays 0); other modes get EOPNOTSUPP, which glibc's ``posix_fallocate`` answers
by writing. With ``count_shared_memory`` off (no memory cgroup: the watchdog sums resident pages,
and memfd or SysV pages held by a descriptor or an id are nobody's), ``memfd_create``,
``memfd_secret`` and ``shmget`` get ENOSYS, as on a kernel without them: 7 memfds x 448 MB held
3 GB against a 1 GB budget (issue 23).
"""

from __future__ import annotations

import errno
import platform
import struct

_LD_W_ABS = 0x20
_JEQ_K = 0x15
_JGE_K = 0x35
_JSET_K = 0x45
_RET_K = 0x06
_ALLOW = 0x7FFF0000
_ERRNO = 0x00050000
_SETID = 0o6000
_NEW_NAMESPACES = 0x7E020080  # CLONE_NEW{NS,CGROUP,UTS,IPC,USER,PID,NET,TIME}

_O_CREATE = 0o100 | 0o20000000  # O_CREAT, __O_TMPFILE: only then does open's mode argument count

_FALLOC_PUNCH_HOLE = 0x03  # FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE: frees blocks

# per machine: audit arch, {syscall: (index of its mode argument, of its flags argument or -1)},
# syscalls refused outright with their errno, the clone syscall, fallocate, the shared-memory
# makers (memfd_create, memfd_secret, shmget)
_TABLES: dict[str, tuple[int, dict[int, tuple[int, int]], dict[int, int], int, int, tuple[int, ...]]] = {
    "x86_64": (
        0xC000003E,
        # open creat mkdir mknod chmod fchmod | openat mkdirat mknodat fchmodat fchmodat2
        {2: (2, 1), 85: (1, -1), 83: (1, -1), 133: (1, -1), 90: (1, -1), 91: (1, -1), 257: (3, 2), 258: (2, -1),
         259: (2, -1), 268: (2, -1), 452: (2, -1)},
        # openat2, io_uring_setup, setxattr, lsetxattr, fsetxattr, setxattrat, clone3, unshare, setns
        {437: errno.ENOSYS, 425: errno.ENOSYS, 188: errno.ENOTSUP, 189: errno.ENOTSUP, 190: errno.ENOTSUP,
         463: errno.ENOTSUP, 435: errno.ENOSYS, 272: errno.EPERM, 308: errno.EPERM},
        56,
        285,
        (319, 447, 29),
    ),
    "aarch64": (
        0xC00000B7,
        # openat mkdirat mknodat fchmod fchmodat fchmodat2
        {56: (3, 2), 34: (2, -1), 33: (2, -1), 52: (1, -1), 53: (2, -1), 452: (2, -1)},
        {437: errno.ENOSYS, 425: errno.ENOSYS, 5: errno.ENOTSUP, 6: errno.ENOTSUP, 7: errno.ENOTSUP,
         463: errno.ENOTSUP, 435: errno.ENOSYS, 97: errno.EPERM, 268: errno.EPERM},
        220,
        47,
        (279, 447, 194),
    ),
}  # fmt: skip


def supported() -> bool:
    return platform.machine() in _TABLES


def _arg(idx: int) -> int:
    return 16 + 8 * idx  # seccomp_data.args[idx], its low 32 bits (little-endian)


def program(count_shared_memory: bool = True) -> bytes:
    """The compiled filter (an array of ``struct sock_filter``), as bubblewrap reads it.
    ``count_shared_memory``: a memory cgroup counts memfd and SysV pages, so they may be made."""
    arch, mode_args, refused, clone_nr, fallocate_nr, shm_makers = _TABLES[platform.machine()]
    if not count_shared_memory:
        refused = refused | dict.fromkeys(shm_makers, errno.ENOSYS)
    ins: list[tuple[int, int, int, int]] = []

    def emit(code: int, k: int, jt: int = 0, jf: int = 0) -> None:
        ins.append((code, jt, jf, k))

    emit(_LD_W_ABS, 4)  # seccomp_data.arch
    emit(_JEQ_K, arch, jt=1)
    emit(_RET_K, _ERRNO | errno.ENOSYS)  # a foreign ABI
    emit(_LD_W_ABS, 0)  # seccomp_data.nr; every block below leaves it loaded when it does not match
    if arch == 0xC000003E:
        emit(_JGE_K, 0x40000000, jt=0, jf=1)  # x32 syscalls
        emit(_RET_K, _ERRNO | errno.ENOSYS)
    for nr, err in refused.items():
        emit(_JEQ_K, nr, jt=0, jf=1)
        emit(_RET_K, _ERRNO | err)
    emit(_JEQ_K, fallocate_nr, jt=0, jf=5)  # fallocate(fd, mode, ...): mode 0 or a punched hole
    emit(_LD_W_ABS, _arg(1))
    emit(_JEQ_K, 0, jt=2)
    emit(_JEQ_K, _FALLOC_PUNCH_HOLE, jt=1)
    emit(_RET_K, _ERRNO | errno.EOPNOTSUPP)
    emit(_RET_K, _ALLOW)
    emit(_JEQ_K, clone_nr, jt=0, jf=4)  # clone(flags, ...): refuse namespace flags
    emit(_LD_W_ABS, _arg(0))
    emit(_JSET_K, _NEW_NAMESPACES, jt=0, jf=1)
    emit(_RET_K, _ERRNO | errno.EPERM)
    emit(_RET_K, _ALLOW)
    for nr, (mode, flags) in mode_args.items():
        if flags >= 0:
            emit(_JEQ_K, nr, jt=0, jf=6)
            emit(_LD_W_ABS, _arg(flags))
            emit(_JSET_K, _O_CREATE, jt=0, jf=3)  # not creating: the mode argument is junk
        else:
            emit(_JEQ_K, nr, jt=0, jf=4)
        emit(_LD_W_ABS, _arg(mode))
        emit(_JSET_K, _SETID, jt=0, jf=1)
        emit(_RET_K, _ERRNO | errno.EPERM)
        emit(_RET_K, _ALLOW)
    emit(_RET_K, _ALLOW)
    return b"".join(struct.pack("=HBBI", code, jt, jf, k) for code, jt, jf, k in ins)
