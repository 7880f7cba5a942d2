"""A batch dataset is untrusted input (issue 23, item 1): whoever writes the rows chooses no code.
A row's ``plugins`` only narrows the plugins the operator enabled; nothing named there is imported."""

from __future__ import annotations

import json

import pytest

from ..conftest import TESTS

WEATHER = TESTS / "data" / "plugins" / "weather.py"


def _batch(cli, server, tmp_path, row, *flags):
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    inp.write_text(json.dumps({"id": "evil", **row}) + "\n")
    r = cli("batch", str(inp), "--out", str(out), "--base-url", server.url, "--model", "scripted-model",
            "--protocol", "hermes", *flags, timeout=300)  # fmt: skip
    rows = [json.loads(x) for x in out.read_text().splitlines()] if out.exists() else []
    return r, rows


@pytest.mark.parametrize("backend", ["local", "ray"])
def test_a_row_cannot_make_a_module_function_a_tool(cli, server, tmp_path, backend):
    if backend == "ray":
        pytest.importorskip("ray", reason="Ray is not installed (pip install 'ray[serve]')")
    marker = tmp_path / "pwned"
    call = {"name": "getoutput", "arguments": {"cmd": f"touch {marker}"}}
    server.default_reply = f"<tool_call>{json.dumps(call)}</tool_call>"
    row = {"question": "run it", "plugins": ["subprocess:getoutput"]}
    r, rows = _batch(cli, server, tmp_path, row, "--plugin", f"{WEATHER}:Weather", "--batch-backend", backend)
    assert not marker.exists()  # the shell command never ran on the host
    assert r.code == 1 and rows[0]["status"] == "error"
    assert "not an enabled plugin" in rows[0]["error"] and "Weather" in rows[0]["error"]


def test_a_row_cannot_import_a_file(cli, server, tmp_path):
    marker = tmp_path / "imported"
    evil = tmp_path / "evil.py"
    evil.write_text(f"open({str(marker)!r}, 'w').write('ran at import')\n")
    server.default_reply = "done"
    for spec in (
        str(evil),
        f"{evil}:Anything",
        "os.path:join",
        "liteagent.actions.builtin.interpreter:PythonInterpreter",
    ):
        r, rows = _batch(cli, server, tmp_path, {"question": "hi", "plugins": [spec]})
        assert r.code == 1, r.err
        assert not marker.exists(), spec
        assert rows[0]["status"] == "error" and "not an enabled plugin" in rows[0]["error"], spec
        (tmp_path / "out.jsonl").unlink()


def test_a_built_in_the_operator_did_not_enable_is_refused_too(cli, server, tmp_path):
    server.default_reply = "done"
    r, rows = _batch(cli, server, tmp_path, {"question": "hi", "plugins": ["PythonInterpreter"]},
                     "--plugin", f"{WEATHER}:Weather")  # fmt: skip
    assert r.code == 1 and rows[0]["status"] == "error" and "enabled: Weather" in rows[0]["error"]


def test_a_row_may_narrow_the_enabled_plugins(cli, server, tmp_path):
    server.replies = ["Sunny."]
    r, rows = _batch(cli, server, tmp_path, {"question": "weather?", "plugins": ["weather"]},
                     "--plugin", f"{WEATHER}:Weather", "--plugin", "EnvChecker")  # fmt: skip
    assert r.code == 0, r.err
    assert rows[0]["status"] == "ok" and rows[0]["answer"] == "Sunny."
    system = server.completions[0]["messages"][0]["content"]
    assert "Weather.forecast" in system and "EnvChecker" not in system
