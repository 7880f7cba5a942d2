"""PythonInterpreter: stateful, sandboxed, and honest about its sandbox."""

from __future__ import annotations

import os
import socket
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from liteagent import ActionExecutor, ActionStatus
from liteagent.actions.builtin import sandbox
from liteagent.actions.builtin.interpreter import PythonInterpreter

# Without bubblewrap these skip locally, and fail in CI, which must have it.
NEEDS_BWRAP = pytest.mark.skipif(
    not sandbox.bwrap_works() and not os.environ.get("CI"), reason="bubblewrap is not available here"
)


@pytest.fixture
def py():
    interp = PythonInterpreter(timeout=20)
    ex = ActionExecutor([interp])

    def run(code: str, timeout: int = 20):
        return ex.execute("PythonInterpreter", {"command": code, "timeout": timeout})

    run.interp = interp  # type: ignore[attr-defined]
    yield run
    interp.close()
    ex.close()


def text(r) -> str:
    return r.result[0].content if r.result else ""


def test_state_persists_and_last_expression_shows(py):
    assert text(py("x = 21\nprint('hello')")) == "hello"
    assert text(py("x * 2")) == "Out: 42"


def test_errors_come_back_as_tracebacks(py):
    r = py("print('before'); 1/0")
    assert r.status is ActionStatus.API_ERROR  # a raised exception is a failed call, with its traceback
    assert "ZeroDivisionError: division by zero" in r.error and 'File "<cell>"' in r.error
    assert "before" in r.error
    r = py("def (:")
    assert r.status is ActionStatus.API_ERROR and "SyntaxError" in r.error


def test_infinite_loop_ends_at_timeout_and_next_run_works(py):
    py("kept = 'yes'")
    r = py("while True: pass", timeout=1)
    assert r.status is ActionStatus.TIMEOUT and "interrupted" in r.error
    assert text(py("kept")) == "Out: 'yes'"


def test_an_interrupt_reaches_only_the_cell_it_names_even_one_not_started(py):
    # a busy machine: the timeout of a cell can fire before the kernel has even started it; the
    # interrupt must not be lost (the cell would run unbounded and the kernel be restarted) nor hit
    # the cell running before it
    py("kept = 'yes'")
    kernel = py.interp.kernel
    with kernel._lock:
        kernel._send({"id": "first", "code": "import time; time.sleep(1.5); done = 1"})
        kernel._send({"id": "second", "code": "second_ran = True"})
        kernel._send({"interrupt": True, "id": "second"})
        first = kernel._wait_reply("first", 60, 0)
        second = kernel._wait_reply("second", 60, 0)
    assert isinstance(first, dict) and first["ok"] and not first.get("interrupted")
    assert isinstance(second, dict) and second.get("interrupted")
    assert text(py("(kept, done, 'second_ran' in globals())")) == "Out: ('yes', 1, False)"


def test_blocking_sleep_is_interrupted(py):
    r = py("import time; time.sleep(60)", timeout=1)
    assert r.status is ActionStatus.TIMEOUT
    assert text(py("1 + 1")) == "Out: 2"


def test_10gb_allocation_fails_inside_without_harming_the_host(py):
    r = py("b = bytearray(10 * 1024**3)")
    assert "MemoryError" in (r.error or "")
    assert text(py("'still alive'")) == "Out: 'still alive'"


def test_fork_bomb_is_contained(py):
    r = py("import os\nwhile True:\n    os.fork()", timeout=15)
    assert r.status in (ActionStatus.API_ERROR, ActionStatus.TIMEOUT)
    assert "Resource temporarily unavailable" in (r.error or "") or r.status is ActionStatus.TIMEOUT
    assert text(py("'after the bomb'")) == "Out: 'after the bomb'"
    # the host can still start processes
    import subprocess

    assert subprocess.run(["true"]).returncode == 0


@NEEDS_BWRAP
def test_network_off_cannot_reach_host_loopback(py):
    class Hello(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"reached")

        def log_message(self, *a):
            pass

    httpd = HTTPServer(("127.0.0.1", 0), Hello)
    port = httpd.server_address[1]
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        # the server is reachable from here ...
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            pass
        # ... and not from inside the sandbox
        r = py(f"import urllib.request\nurllib.request.urlopen('http://127.0.0.1:{port}/', timeout=3).read()")
        assert r.status is ActionStatus.API_ERROR and "reached" not in r.error
        assert "URLError" in r.error or "refused" in r.error or "unreachable" in r.error.lower()
    finally:
        httpd.shutdown()
        httpd.server_close()


@NEEDS_BWRAP
def test_writes_outside_the_work_folder_fail(py, tmp_path):
    target = tmp_path / "escape.txt"
    r = py(f"open({str(target)!r}, 'w').write('x')")
    assert r.status is ActionStatus.API_ERROR and ("No such file" in r.error or "Read-only" in r.error)
    assert not target.exists()
    err = py("open('/etc/liteagent-test', 'w')").error
    assert "Read-only" in err or "Permission" in err or "No such file" in err
    r = py("open('notes.txt', 'w').write('inside'); open('notes.txt').read()")
    assert text(r) == "Out: 'inside'"
    assert (py.interp.work_dir / "notes.txt").read_text() == "inside"


def test_environment_holds_no_keys(py, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret")
    monkeypatch.setenv("LITEAGENT_API_KEY", "secret2")
    monkeypatch.setenv("HF_TOKEN", "hf_secret")
    out = text(py("import os; sorted(os.environ)"))
    for leaked in ("OPENAI_API_KEY", "LITEAGENT_API_KEY", "HF_TOKEN", "secret"):
        assert leaked not in out
    assert "PATH" in out


@NEEDS_BWRAP
def test_two_conversations_share_nothing():
    a, b = PythonInterpreter(), PythonInterpreter()
    ea, eb = ActionExecutor([a]), ActionExecutor([b])
    try:
        ea.execute("PythonInterpreter", {"command": "secret = 'a'; open('a.txt', 'w').write('a')"})
        r = eb.execute("PythonInterpreter", {"command": "secret"})
        assert "NameError" in r.error
        r = eb.execute("PythonInterpreter", {"command": f"import os; os.path.exists({str(a.work_dir / 'a.txt')!r})"})
        assert text(r) == "Out: False"  # the other conversation's folder is hidden
        assert a.work_dir != b.work_dir
    finally:
        a.close()
        b.close()


def test_dead_kernel_is_reported_and_restarted(py):
    py("x = 1")
    r = py("import os, signal; os.kill(os.getpid(), signal.SIGKILL)")
    assert r.status is ActionStatus.API_ERROR and "kernel died" in r.error
    assert "NameError" in py("x").error  # a fresh kernel
    assert text(py("2 + 2")) == "Out: 4"


def test_output_is_cut_for_the_model():
    interp = PythonInterpreter(max_output=100)
    try:
        r = ActionExecutor([interp]).execute("PythonInterpreter", {"command": "print('x' * 5000)"})
        assert len(text(r)) < 200 and "output cut" in text(r)
    finally:
        interp.close()


def test_matplotlib_figures_become_image_items(py):
    pytest.importorskip("matplotlib")
    r = py("import matplotlib.pyplot as plt\nplt.plot([1, 2, 3], [1, 4, 9])\nplt.title('squares')")
    images = [i for i in r.result if i.type == "image"]
    assert len(images) == 1
    assert os.path.getsize(images[0].content) > 1000
    assert open(images[0].content, "rb").read(8) == b"\x89PNG\r\n\x1a\n"


def test_sandbox_is_described_plainly(py):
    py("1")
    c = py.interp.kernel.confinement
    assert c is not None
    if sandbox.bwrap_works():
        assert "only Python and system libraries" in c.filesystem and c.network.startswith("off")
    else:
        assert "NOT isolated" in c.filesystem
        assert "sandbox incomplete" in text(py("1"))


def test_internlm2_interpreter_calls_route_here():
    from liteagent.agent import Agent
    from liteagent.llms import ScriptedLLM

    interp = PythonInterpreter()
    llm = ScriptedLLM(["<|action_start|><|interpreter|>\n```python\nsum(range(10))\n```", "The sum is 45."])
    agent = Agent(llm, [interp], protocol="internlm2")
    try:
        r = agent.run("sum 0..9")
        assert r.answer == "The sum is 45."
        assert r.steps[0].results[0].result[0].content == "Out: 45"
        second = llm.prompts[1]
        assert "<|im_start|>system name=<|interpreter|>\n" in second
        assert "<|im_start|>environment name=<|interpreter|>\nOut: 45<|im_end|>" in second
    finally:
        interp.close()
