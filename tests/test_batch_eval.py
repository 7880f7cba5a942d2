"""`liteagent batch` and `liteagent eval` (issue 15) against a scripted model server."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest

from .conftest import TESTS

SAMPLE = TESTS / "data" / "bfcl_sample"
WEATHER = TESTS / "data" / "plugins" / "weather.py"


# The scorer's rules: tests/test_bfcl_checker.py.


# -- eval ------------------------------------------------------------------------------------------
def right_reply(case_line: dict, answer: list | None) -> str:
    if not answer:
        return "None of these functions fits."
    calls = []
    for gt in answer:
        ((name, params),) = gt.items()
        args = {k: v[0] for k, v in params.items() if v and v[0] != ""}
        for k, v in args.items():  # a dict answer holds a list of allowed values per key: send the first
            if isinstance(v, dict):
                args[k] = {kk: vv[0] for kk, vv in v.items() if vv and vv[0] != ""}
        calls.append(f"<tool_call>{json.dumps({'name': name, 'arguments': args})}</tool_call>")
    return "".join(calls)


def test_eval_scores_every_category(cli, server, tmp_path):
    replies = []
    for cat in ["simple_python", "multiple", "irrelevance"]:
        cases = [json.loads(x) for x in (SAMPLE / f"BFCL_v4_{cat}.json").read_text().splitlines()]
        ans_path = SAMPLE / "possible_answer" / f"BFCL_v4_{cat}.json"
        answers = (
            {json.loads(x)["id"]: json.loads(x)["ground_truth"] for x in ans_path.read_text().splitlines()}
            if ans_path.exists()
            else {}
        )
        for i, c in enumerate(cases):
            reply = right_reply(c, answers.get(c["id"]))
            replies.append(reply if i != 0 else "I will not call anything.")  # the first of each is wrong
    server.replies = replies
    out = tmp_path / "cases.jsonl"
    r = cli("eval", "--data", str(SAMPLE), "--categories", "simple_python,multiple,irrelevance", "--concurrency", "1",
            "--base-url", server.url, "--model", "scripted-model", "--protocol", "hermes", "--json", "--out", str(out))  # fmt: skip
    assert r.code == 0, r.err
    cats = json.loads(r.out)["dialects"]["hermes"]["categories"]
    assert cats["simple_python"]["cases"] == 4 and cats["simple_python"]["correct"] == 3
    assert cats["multiple"]["correct"] == 3
    assert cats["irrelevance"]["correct"] == 4  # the first "wrong" reply to an irrelevance case is right: no call
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(rows) == 12 and all("why" in x for x in rows)


# -- batch -----------------------------------------------------------------------------------------
def write_rows(path, n, bad=()):
    with open(path, "w") as f:
        for i in range(n):
            row = {"id": f"r{i}", "question": f"Weather in city {i}?"}
            if i in bad:
                row = {"id": f"r{i}", "messages": "not a list"}
            f.write(json.dumps(row) + "\n")


def test_batch_runs_rows_keeps_error_rows_and_bounds_concurrency(cli, server, tmp_path):
    server.delay = 0.2
    server.default_reply = "Sunny."
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_rows(inp, 12, bad={5})
    r = cli("batch", str(inp), "--out", str(out), "--concurrency", "3", "--base-url", server.url,
            "--model", "scripted-model", "--plugin", f"{WEATHER}:Weather")  # fmt: skip
    assert r.code == 1  # one row failed: said, not hidden
    rows = {x["id"]: x for x in map(json.loads, out.read_text().splitlines())}
    assert set(rows) == {f"r{i}" for i in range(12)}
    assert rows["r5"]["status"] == "error" and "messages" in rows["r5"]["error"]
    assert rows["r0"]["answer"] == "Sunny." and rows["r0"]["status"] == "ok" and "steps" in rows["r0"]
    assert server.max_in_flight <= 3
    again = cli("batch", str(inp), "--out", str(out), "--base-url", server.url, "--model", "scripted-model")
    assert again.code == 2 and "--resume" in again.err  # never overwrites a result file silently


def test_batch_rows_with_their_own_tools_record_calls(cli, server, tmp_path):
    server.replies = ['<tool_call>{"name": "lookup", "arguments": {"q": "x"}}</tool_call>']
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    tools = [
        {
            "name": "lookup",
            "description": "Look up.",
            "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
        }
    ]
    inp.write_text(json.dumps({"id": 1, "question": "find x", "tools": tools}) + "\n")
    r = cli(
        "batch",
        str(inp),
        "--out",
        str(out),
        "--base-url",
        server.url,
        "--model",
        "scripted-model",
        "--protocol",
        "hermes",
    )
    assert r.code == 0, r.err
    row = json.loads(out.read_text())
    assert row["steps"][0]["tool_calls"] == [{"name": "lookup", "arguments": {"q": "x"}}]


def test_resume_after_a_kill_gives_every_id_once(server, tmp_path):
    server.delay = 0.3
    server.default_reply = "Sunny."
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_rows(inp, 30)
    args = [sys.executable, "-m", "liteagent", "batch", str(inp), "--out", str(out), "--concurrency", "4",
            "--base-url", server.url, "--model", "scripted-model", "--plugin", f"{WEATHER}:Weather"]  # fmt: skip
    proc = subprocess.Popen(args, stderr=subprocess.DEVNULL)
    for _ in range(100):
        if out.exists() and len(out.read_text().splitlines()) >= 6:
            break
        time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)  # a crash: no cleanup at all
    proc.wait()
    before = len(out.read_text().splitlines())
    assert 0 < before < 30
    r = subprocess.run([*args, "--resume"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    ids = [json.loads(x)["id"] for x in out.read_text().splitlines() if x.strip()]
    assert sorted(ids) == sorted(f"r{i}" for i in range(30)) and len(ids) == 30


def test_the_ray_backend_gives_the_local_output(cli, server, tmp_path):
    pytest.importorskip("ray", reason="Ray is not installed (pip install 'ray[serve]')")
    server.default_reply = "Sunny."
    inp = tmp_path / "in.jsonl"
    write_rows(inp, 50, bad={7})
    local, ray_out = tmp_path / "local.jsonl", tmp_path / "ray.jsonl"
    common = ["--base-url", server.url, "--model", "scripted-model", "--plugin", f"{WEATHER}:Weather"]
    assert cli("batch", str(inp), "--out", str(local), *common).code == 1
    r = cli(
        "batch", str(inp), "--out", str(ray_out), "--batch-backend", "ray", "--concurrency", "8", *common, timeout=300
    )
    assert r.code == 1, r.err

    def summary(p):
        return {x["id"]: (x["status"], x.get("answer")) for x in map(json.loads, p.read_text().splitlines())}

    assert summary(ray_out) == summary(local)


def test_eval_samples_at_bfcls_temperature_unless_told(cli, server):
    """BFCL's own runs use temperature 0.001 (``bfcl generate``): eval sends it to the model server
    unless ``--temperature`` says otherwise, so its figures are read the way the leaderboard's are."""
    base = ["eval", "--data", str(SAMPLE), "--categories", "irrelevance", "--limit", "1", "--base-url", server.url,
            "--model", "scripted-model", "--protocol", "hermes", "--json"]  # fmt: skip
    server.replies = ["No call."]
    r = cli(*base)
    assert r.code == 0, r.err
    server.replies = ["No call."]
    r = cli(*base, "--temperature", "0.7")
    assert r.code == 0, r.err
    sent = [q["body"].get("temperature") for q in server.requests if q["path"].endswith("/chat/completions")]
    assert sent == [0.001, 0.7]


def test_eval_compares_dialects_side_by_side(cli, server):
    server.default_reply = "None of these fits."
    r = cli("eval", "--data", str(SAMPLE), "--categories", "irrelevance", "--compare", "hermes,react",
            "--base-url", server.url, "--model", "scripted-model")  # fmt: skip
    assert r.code == 0, r.err
    lines = [x for x in r.out.splitlines() if "irrelevance" in x]
    assert [x.split()[0] for x in lines] == ["hermes", "react"] and all("100.0%" in x for x in lines)


def test_resume_after_a_crash_mid_line_loses_no_row(cli, server, tmp_path):
    server.default_reply = "Sunny."
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_rows(inp, 4)
    done = {"id": "r0", "answer": "Sunny.", "status": "ok"}
    cut = json.dumps({"id": "r1", "answer": "Sun", "status": "ok"})[:25]  # the crash came mid-write
    out.write_text(json.dumps(done) + "\n" + cut)
    r = cli("batch", str(inp), "--out", str(out), "--resume", "--base-url", server.url, "--model", "scripted-model")
    assert r.code == 0, r.err
    assert "cut short" in r.err  # said, not silently repaired
    rows = [json.loads(x) for x in out.read_text().splitlines()]  # every line is whole JSON
    assert sorted(x["id"] for x in rows) == ["r0", "r1", "r2", "r3"]
