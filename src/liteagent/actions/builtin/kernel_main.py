"""The code-interpreter kernel: a child process that runs cells in one persistent namespace.

Run as a script inside the sandbox. Protocol: one JSON object per line on the original stdin
(``{"id": ..., "code": ...}`` or ``{"interrupt": true}``) and on the original stdout (a hello,
then one reply per cell, carrying the cell's id). File descriptors 0-2 are re-pointed; everything
the cell writes to fd 1 and 2 (print, subprocesses, C code) is captured. The cell runs in this
process, so it could still write on the protocol pipe: the host trusts nothing it reads here
(replies are matched to their cell's id, paths are checked inside the work folder).
"""

from __future__ import annotations

import ast
import json
import os
import queue
import signal
import sys
import tempfile
import threading
import traceback
from typing import Any

KERNEL_PID = os.getpid()


def main() -> None:
    # descriptors bubblewrap was handed (host folders it mounted) must not reach a cell:
    # from one of them, a path lookup could walk the host's filesystem
    import resource

    os.closerange(3, resource.getrlimit(resource.RLIMIT_NOFILE)[0])
    drop_root()
    os.chdir(os.environ.get("HOME") or os.getcwd())
    proto_in = os.fdopen(os.dup(0), "rb", buffering=0)
    proto_out = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    work = os.getcwd()
    tmp = os.environ.get("TMPDIR") or work
    os.makedirs(tmp, exist_ok=True)
    capture, capture_path = tempfile.mkstemp(prefix="cell-output-", dir=tmp)
    os.unlink(capture_path)  # only the descriptor remains
    os.dup2(capture, 1)
    os.dup2(capture, 2)
    sys.stdout = open(1, "w", buffering=1, encoding="utf-8", errors="replace", closefd=False)
    sys.stderr = open(2, "w", buffering=1, encoding="utf-8", errors="replace", closefd=False)
    tempfile.tempdir = tmp

    cells: queue.SimpleQueue[dict[str, Any] | None] = queue.SimpleQueue()
    main_thread = threading.main_thread().ident
    state = threading.Lock()  # which cell runs, against an interrupt naming it
    running: list[Any] = [None]  # the id of the cell running now
    cancelled: set[Any] = set()  # cells interrupted before they started (a busy machine): never run
    in_cell = [False]  # SIGINT interrupts a cell only; between cells it is ignored
    signal.signal(signal.SIGINT, lambda *_: _interrupt(in_cell))

    def reader() -> None:
        for raw in proto_in:
            try:
                msg = json.loads(raw)
            except ValueError:
                continue
            if msg.get("interrupt"):
                with state:
                    target = msg.get("id")
                    if running[0] is not None and target in (None, running[0]):
                        if main_thread is not None:
                            signal.pthread_kill(main_thread, signal.SIGINT)
                    elif target is not None:
                        cancelled.add(target)
            else:
                cells.put(msg)
        cells.put(None)  # the parent went away

    threading.Thread(target=reader, daemon=True).start()
    send(proto_out, {"hello": True, "pid": KERNEL_PID, "python": sys.version.split()[0], **identity()})
    namespace: dict[str, Any] = {"__name__": "__main__", "__builtins__": __builtins__}
    figure_count = 0
    while True:
        msg = cells.get()
        if msg is None:
            os._exit(0)
        with state:
            skip = msg.get("id") in cancelled
            cancelled.discard(msg.get("id"))
            running[0] = None if skip else msg.get("id")
        reply = INTERRUPTED.copy() if skip else run_cell(str(msg.get("code", "")), namespace, in_cell)
        reply["id"] = msg.get("id")
        with state:
            running[0] = None
        if os.getpid() != KERNEL_PID:  # a process the cell forked: never a second kernel
            os._exit(0)
        _reap_children(0.5)  # let processes the cell forked finish writing their output
        sys.stdout.flush()
        sys.stderr.flush()
        os.lseek(capture, 0, os.SEEK_SET)
        reply["output"] = _read_capped(capture, 200_000)
        os.ftruncate(capture, 0)
        os.lseek(capture, 0, os.SEEK_SET)
        reply["figures"], figure_count = save_figures(work, figure_count)
        send(proto_out, reply)


def drop_root() -> None:
    """Started as root (bubblewrap kept CAP_SETUID/CAP_SETGID for this): become the work folder's
    unprivileged uid. Leaving uid 0 clears every capability."""
    uid = os.environ.pop("LITEAGENT_KERNEL_UID", None)
    if uid is None:
        return
    n = int(uid)
    os.setgroups([])
    os.setresgid(n, n, n)
    os.setresuid(n, n, n)


def identity() -> dict[str, Any]:
    """Who this kernel is, for the host to check before it runs any cell."""
    caps = "?"
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("CapEff:"):
                    caps = line.split()[1]
    except OSError:
        pass
    return {"uid": os.getuid(), "euid": os.geteuid(), "cap_eff": caps}


def _reap_children(budget: float) -> None:
    import time

    deadline = time.monotonic() + budget
    while time.monotonic() < deadline:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return  # no children left
        if pid == 0:
            time.sleep(0.01)


def send(out: Any, msg: dict[str, Any]) -> None:
    out.write(json.dumps(msg) + "\n")
    out.flush()


def _read_capped(fd: int, limit: int) -> str:
    data = b""
    while len(data) <= limit:
        piece = os.read(fd, 65536)
        if not piece:
            break
        data += piece
    text = data[:limit].decode("utf-8", "replace")
    if len(data) > limit:
        text += "\n…[output cut]"
    return text


INTERRUPTED = {"ok": False, "interrupted": True, "error": "KeyboardInterrupt: the cell was interrupted", "result": None}


def _interrupt(in_cell: list[bool]) -> None:
    if in_cell[0]:
        raise KeyboardInterrupt


def run_cell(code: str, namespace: dict[str, Any], in_cell: list[bool] | None = None) -> dict[str, Any]:
    """Run one cell; the value of a last bare expression is the result, as in Jupyter."""
    try:
        tree = ast.parse(code, "<cell>", "exec")
    except SyntaxError:
        return {"ok": False, "error": traceback.format_exc(limit=0).strip(), "result": None}
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        expr = tree.body.pop()
        assert isinstance(expr, ast.Expr)
        last = ast.Expression(expr.value)
    flag = in_cell if in_cell is not None else [False]
    try:
        flag[0] = True
        try:
            exec(compile(tree, "<cell>", "exec"), namespace)
            value = eval(compile(last, "<cell>", "eval"), namespace) if last is not None else None
        finally:
            flag[0] = False
    except KeyboardInterrupt:
        return INTERRUPTED.copy()
    except BaseException as exc:  # the cell's error is a result, not the kernel's
        if isinstance(exc, SystemExit):
            return {"ok": False, "error": f"SystemExit: {exc.code}", "result": None}
        tb = exc.__traceback__.tb_next if exc.__traceback__ else None
        text = "".join(traceback.format_exception(type(exc), exc, tb))
        return {"ok": False, "error": text.strip(), "result": None}
    return {"ok": True, "error": None, "result": None if value is None else _repr(value)}


def _repr(value: Any) -> str:
    try:
        return repr(value)
    except Exception as exc:
        return f"<unrepresentable {type(value).__name__}: {exc}>"


def save_figures(work: str, count: int) -> tuple[list[str], int]:
    """Save and close every open matplotlib figure; their paths become image results."""
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is None:
        return [], count
    paths = []
    try:
        for num in plt.get_fignums():
            count += 1
            folder = os.path.join(work, "figures")
            os.makedirs(folder, exist_ok=True)
            path = os.path.join(folder, f"figure-{count}.png")
            plt.figure(num).savefig(path, dpi=100, bbox_inches="tight")
            paths.append(path)
        plt.close("all")
    except Exception as exc:
        print(f"[saving figures failed: {exc}]", file=sys.stderr)
    return paths, count


if __name__ == "__main__":
    main()
