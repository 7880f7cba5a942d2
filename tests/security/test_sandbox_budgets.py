"""Attacks on the interpreter's work folders and budgets (issue 23, items 2-4).

Each failed on the code before the fix: a local user steered root's chmod/chown through a shared
``/tmp/liteagent-sandboxes``, ``posix_fallocate`` put 16 GB on disk against a 1 GB budget, and
memfds and files in the sandbox's own writable ``/`` held 6 GB against a 1 GB memory budget.

The local-user cases run as an unprivileged user the test creates (``useradd``): that needs root,
as CI has; elsewhere they skip and say why. That user runs this checkout's code with a Python it
may execute (``-I``, the source and site-packages put on ``sys.path``): nothing is made readable
for it that was not already.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import stat
import subprocess
import sys
import tempfile
import textwrap
import uuid
from pathlib import Path

import pydantic
import pytest

import liteagent
from liteagent import ActionExecutor
from liteagent.actions.builtin import sandbox, workdisk
from liteagent.actions.builtin.interpreter import PythonInterpreter

pytestmark = pytest.mark.skipif(
    not sandbox.bwrap_works() and not os.environ.get("CI"), reason="bubblewrap is not available here"
)

MB = 2**20


def make(**kw):
    interp = PythonInterpreter(**kw)
    ex = ActionExecutor([interp])

    def run(code: str, timeout: int = 60):
        return ex.execute("PythonInterpreter", {"command": code, "timeout": timeout})

    return interp, run


def out(r) -> str:
    return (r.result[0].content if r.result else "") + (r.error or "")


# ---------------------------------------------------------------------------- a local user


class LocalUser:
    """An unprivileged account made for the test, and a way to run this checkout's code as it."""

    def __init__(self, name: str, base: Path) -> None:
        pw = pwd.getpwnam(name)
        self.name, self.uid, self.gid, self.base = name, pw.pw_uid, pw.pw_gid, base
        src = str(Path(liteagent.__file__).resolve().parent.parent)
        site = str(Path(pydantic.__file__).resolve().parent.parent)
        self.path = [src, site]
        self.python = ""
        version = f"{sys.version_info[0]}.{sys.version_info[1]}"
        for cand in (sys.executable, os.path.realpath(sys.executable), f"/usr/bin/python{version}",
                     f"/usr/local/bin/python{version}"):  # fmt: skip
            try:
                r = self.run("import liteagent.actions.builtin.interpreter", python=cand)
            except OSError:  # not executable by this user (a venv whose Python lies under /root)
                continue
            if r.returncode == 0:
                self.python = cand
                break

    def run(self, code: str, env: dict[str, str] | None = None, python: str = "", timeout: float = 180):
        prelude = f"import sys; sys.path[:0] = {self.path!r}\n"
        return subprocess.run(
            [python or self.python, "-I", "-c", prelude + textwrap.dedent(code)],
            user=self.uid, group=self.gid, extra_groups=[], cwd=self.base, capture_output=True, text=True,
            timeout=timeout, env={"PATH": "/usr/bin:/bin", "HOME": str(self.base), "LANG": "C.UTF-8", **(env or {})},
        )  # fmt: skip


@pytest.fixture(scope="module")
def base():
    """A folder every user may pass through (0755), holding a /tmp of our own (1777)."""
    d = Path(tempfile.mkdtemp(prefix="liteagent-test-"))
    d.chmod(0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def local_user(base):
    if os.geteuid() != 0:
        pytest.skip("needs root to create an unprivileged user (CI runs as root)")
    if shutil.which("useradd") is None:
        pytest.skip("useradd is not installed")
    name = "la-" + uuid.uuid4().hex[:10]
    subprocess.run(["useradd", "--system", "--no-create-home", "--user-group", "--shell", "/usr/sbin/nologin", name],
                   check=True, capture_output=True)  # fmt: skip
    try:
        user = LocalUser(name, base)
        if not user.python:
            pytest.skip(f"no Python that user {name} may run can import liteagent from {user.path}")
        yield user
    finally:
        subprocess.run(["userdel", name], capture_output=True)


def shared_tmp(base: Path) -> Path:
    """A fresh stand-in for the host's /tmp: world-writable, sticky."""
    d = base / uuid.uuid4().hex[:8]
    d.mkdir()
    d.chmod(0o1777)
    return d


def user_interpreter(user: LocalUser, tmp: Path, code: str, **kw) -> dict:
    """Run ``code`` as a cell of a PythonInterpreter made by ``user``; its result, status,
    confinement and the work folder's bytes on disk afterwards, as JSON."""
    script = f"""
        import json
        from liteagent import ActionExecutor
        from liteagent.actions.builtin import sandbox, workdisk
        from liteagent.actions.builtin.interpreter import PythonInterpreter
        interp = PythonInterpreter(**{kw!r})
        ex = ActionExecutor([interp])
        results = []
        for code in {[code, code]!r}:
            r = ex.execute("PythonInterpreter", {{"command": code, "timeout": 60}})
            results.append({{"status": r.status.name, "out": (r.result[0].content if r.result else "") + (r.error or ""),
                             "disk": sandbox.disk_usage(interp.work_dir, 1000)[0]}})
        again = ex.execute("PythonInterpreter", {{"command": "1 + 1"}})
        print(json.dumps({{"runs": results, "again": again.result[0].content if again.result else again.error,
                          "confinement": interp.kernel.confinement.describe()}}))
        interp.close()
    """
    r = user.run(script, env={"TMPDIR": str(tmp)})
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr and "Exception ignored" not in r.stderr, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------- item 2: the folders


def test_a_local_users_folder_in_tmp_steers_no_chmod_or_chown(local_user, base):
    """Root's work folders never lie in a folder a local user made: a link planted there (here
    with the folder's name known, as a race won) leads root's chmod and chown nowhere."""
    tmp = shared_tmp(base)
    target = base / ("root-owned-" + uuid.uuid4().hex[:6])
    target.mkdir(mode=0o755)
    (target / "keep").write_text("root's")
    name = uuid.uuid4().hex
    r = local_user.run(
        f"import os\nos.mkdir({str(tmp / 'liteagent-sandboxes')!r}, 0o777)\n"
        f"os.chmod({str(tmp / 'liteagent-sandboxes')!r}, 0o777)\n"
        f"os.symlink({str(target)!r}, {str(tmp / 'liteagent-sandboxes' / name)!r})"
    )
    assert r.returncode == 0, r.stderr
    root_side = f"""
        import uuid
        uuid.uuid4 = lambda: uuid.UUID({name!r})  # the attacker guessed (or raced to) the folder's name
        from liteagent.actions.builtin.interpreter import PythonInterpreter
        try:
            PythonInterpreter().close()
        except Exception as exc:
            print("refused:", exc)
    """
    subprocess.run([sys.executable, "-c", textwrap.dedent(root_side)], env={**os.environ, "TMPDIR": str(tmp)},
                   capture_output=True, text=True, timeout=120)  # fmt: skip
    st = target.stat()
    assert (stat.S_IMODE(st.st_mode), st.st_uid) == (0o755, 0), "root changed a folder a local user pointed it at"
    assert (target / "keep").stat().st_uid == 0
    assert (target / "keep").read_text() == "root's"


def test_a_local_user_can_use_the_interpreter_after_root_did(local_user, base):
    tmp = shared_tmp(base)
    root_side = """
        from liteagent import ActionExecutor
        from liteagent.actions.builtin.interpreter import PythonInterpreter
        interp = PythonInterpreter()
        print(ActionExecutor([interp]).execute("PythonInterpreter", {"command": "6 * 7"}).result[0].content)
    """
    r = subprocess.run([sys.executable, "-c", textwrap.dedent(root_side)], env={**os.environ, "TMPDIR": str(tmp)},
                       capture_output=True, text=True, timeout=120)  # fmt: skip
    assert "Out: 42" in r.stdout, r.stderr
    got = user_interpreter(local_user, tmp, "'mine'")
    assert got["runs"][0]["out"] == "Out: 'mine'" and got["again"] == "Out: 2"
    assert list(tmp.iterdir()) == [], "a folder was left behind in /tmp"


def test_a_foreign_or_open_sandbox_root_is_refused_not_fixed(tmp_path):
    root = tmp_path / "conversations"
    root.mkdir(mode=0o777)
    root.chmod(0o777)  # anyone may plant a link here
    with pytest.raises(ValueError) as info:
        PythonInterpreter(work_dir=root / "c1", sandbox_root=root)
    assert str(root) in str(info.value)
    assert stat.S_IMODE(root.stat().st_mode) == 0o777 and not (root / "c1").exists()  # refused, not fixed up
    root.chmod(0o700)
    link = root / "c2"
    link.symlink_to(tmp_path)
    with pytest.raises(ValueError) as info:
        PythonInterpreter(work_dir=link, sandbox_root=root)
    assert "link" in str(info.value)
    assert stat.S_IMODE(tmp_path.stat().st_mode) == 0o700


# ---------------------------------------------------------------------------- item 3: the disk budget


FALLOCATE = """
import os
made = []
for i in range(6):
    try:
        fd = os.open(f'fa-{i}', os.O_CREAT | os.O_WRONLY, 0o600)
        os.posix_fallocate(fd, 0, 16 * 2**20)
        os.close(fd)
        made.append(i)
    except OSError as e:
        made.append(e.strerror)
made
"""


@pytest.mark.parametrize("mount", [True, False], ids=["own-filesystem", "accounting"])
def test_fallocate_cannot_outrun_the_disk_budget(mount, monkeypatch):
    if not mount:  # as where no filesystem can be mounted (not root, no loop devices)
        monkeypatch.setattr(workdisk, "unavailable", lambda: "no loop devices (test)")
    interp, run = make(disk_mb=20)
    try:
        for _ in range(2):  # and the next cell cannot do it again
            r = run(FALLOCATE)
            assert sandbox.disk_usage(interp.work_dir, 1000)[0] <= 20 * MB, out(r)
            assert "No space left" in out(r) or "disk budget" in out(r)  # the model is told
        assert run("1 + 1").result[0].content.startswith("Out: 2")
    finally:
        interp.close()


def test_fallocate_cannot_outrun_the_disk_budget_of_a_local_user(local_user, base):
    got = user_interpreter(local_user, shared_tmp(base), FALLOCATE, disk_mb=20)
    for run in got["runs"]:
        assert run["disk"] <= 20 * MB, run
    assert got["again"].startswith("Out: 2")
    assert "NOT a hard limit" in got["confinement"]  # said plainly where no filesystem can be mounted


def test_fallocate_keep_size_cannot_pass_the_file_size_limit():
    """FALLOC_FL_KEEP_SIZE allocates blocks without growing the size that RLIMIT_FSIZE checks."""
    interp, run = make(disk_mb=20)
    try:
        r = run(
            "import ctypes, ctypes.util, os\n"
            "libc = ctypes.CDLL(None, use_errno=True)\n"
            "fd = os.open('kept', os.O_CREAT | os.O_WRONLY, 0o600)\n"
            "rc = libc.fallocate(fd, 1, ctypes.c_long(0), ctypes.c_long(64 * 2**20))\n"
            "(rc, os.strerror(ctypes.get_errno()) if rc else '', os.fstat(fd).st_blocks * 512)"
        )
        assert sandbox.disk_usage(interp.work_dir, 1000)[0] <= 20 * MB, out(r)
        rc, _, blocks = eval(r.result[0].content.removeprefix("Out: "))
        assert rc == -1 and blocks == 0
    finally:
        interp.close()


def test_the_work_folder_keeps_uploads_and_outlives_its_interpreter(tmp_path):
    work = tmp_path / "conversation"
    interp, run = make(work_dir=work, disk_mb=20)
    try:
        interp.write_file("data.csv", b"a,b\n")  # before any kernel (or filesystem) exists
        assert run("open('data.csv').read()").result[0].content == "Out: 'a,b\\n'"
        run("open('notes.txt', 'w').write('kept')")
    finally:
        interp.close()
    assert not os.path.ismount(work)  # closed: unmounted
    interp, run = make(work_dir=work, disk_mb=20)
    try:
        assert run("sorted(os.listdir()) if (os := __import__('os')) else 0").result[0].content == (
            "Out: ['data.csv', 'notes.txt']"
        )
    finally:
        interp.close()


# ---------------------------------------------------------------------------- item 4: the memory budget


HOARD = """
import os, time
keep, res, held = [], {}, 0
def fill(fd, mb):
    block = b'\\1' * 2**20
    for _ in range(mb):
        os.write(fd, block)
for i in range(6):
    try:
        fd = os.memfd_create(f'm{i}')
        keep.append(fd)
        fill(fd, 64)
        held += 64
    except OSError as e:
        res['memfd'] = e.strerror
        break
for p in ('/big', '/etc/big', '/dev/big', '/dev/shm/big'):
    try:
        fd = os.open(p, os.O_CREAT | os.O_WRONLY, 0o600)
        keep.append(fd)
        fill(fd, 64)
        held += 64
        res[p] = 'written'
    except OSError as e:
        res[p] = e.strerror
time.sleep(1)  # a watchdog's turn
res['held'] = held
res
"""


def _check_hoard(status: str, text: str, budget: int) -> None:
    if status == "SUCCESS":
        res = eval(text.removeprefix("Out: "))
        assert res["held"] <= budget, res
        for p in ("/big", "/etc/big", "/dev/big"):
            assert res[p] != "written", res  # read-only; /dev/shm is a size-limited tmpfs
    else:  # stopped: the budget held by ending the kernel
        assert "memory" in text or "died" in text, text


def test_memfd_and_writable_mounts_count_against_memory_for_a_local_user(local_user, base):
    got = user_interpreter(local_user, shared_tmp(base), HOARD, memory_mb=256)
    for run in got["runs"]:
        _check_hoard(run["status"], run["out"], 256)
    assert got["again"] == "Out: 2"


@pytest.mark.parametrize("cgroups", [True, False], ids=["cgroup", "no-cgroup"])
def test_memfd_counts_against_memory(cgroups, monkeypatch):
    if not cgroups:
        monkeypatch.setattr(sandbox.Cgroup, "create", classmethod(lambda cls, limits: None))
    interp, run = make(memory_mb=256)
    try:
        r = run(HOARD)
        _check_hoard(r.status.name, out(r), 256)
        assert run("1 + 1").result[0].content.startswith("Out: 2")
    finally:
        interp.close()
