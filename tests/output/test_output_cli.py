"""``liteagent run/resume/batch`` with a typed answer, as the real command against the scripted
model server: the validated JSON on stdout, exit code 5 for an answer that never fits."""

from __future__ import annotations

import json

from ..conftest import TESTS

WEATHER = TESTS / "data" / "plugins" / "weather.py"
SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "sky": {"enum": ["sunny", "rain", "snow"]}},
    "required": ["city", "sky"],
    "additionalProperties": False,
}
CALL = '<tool_call>{"name": "Weather.forecast", "arguments": {"city": "Oslo"}}</tool_call>'


def final(args: dict) -> str:
    return "<tool_call>\n" + json.dumps({"name": "final_answer", "arguments": args}) + "\n</tool_call>"


def bodies(server) -> list[dict]:
    return [r["body"] for r in server.requests if r["body"]]


def flags(server) -> list[str]:
    return ["--base-url", server.url, "--model", "scripted-model", "--protocol", "hermes"]


def test_run_prints_the_validated_json(cli, server, tmp_path):
    schema = tmp_path / "sky.json"
    schema.write_text(json.dumps(SCHEMA))
    server.replies = [CALL, final({"city": "Oslo", "sky": "sunny"})]
    r = cli("run", "Oslo?", "--output-schema", str(schema), "--plugin", f"{WEATHER}:Weather", *flags(server))
    assert r.code == 0, r.err
    assert r.out.count("\n") == 1 and json.loads(r.out) == {"city": "Oslo", "sky": "sunny"}
    assert "Weather.forecast" in json.dumps(bodies(server)[0])  # the real tool was offered and ran
    assert "sunny" in json.dumps(bodies(server)[1])  # (its result reached the model)


def test_run_json_trace_has_output_and_errors(cli, server, tmp_path):
    schema = tmp_path / "sky.json"
    schema.write_text(json.dumps(SCHEMA))
    server.replies = [final({"city": "Oslo", "sky": "fog"}), final({"city": "Oslo", "sky": "rain"})]
    r = cli("run", "Oslo?", "--json", "--output-schema", str(schema), *flags(server))
    assert r.code == 0, r.err
    out = json.loads(r.out)
    assert out["output"] == {"city": "Oslo", "sky": "rain"} and out["output_errors"] == [] and out["turns"] == 2
    retry = json.dumps(bodies(server)[1]["messages"][-1])
    assert "$.sky" in retry and "must be one of" in retry


def test_an_answer_that_never_fits_exits_5(cli, server, tmp_path):
    schema = tmp_path / "sky.json"
    schema.write_text(json.dumps(SCHEMA))
    server.replies = [final({"city": "Oslo"})] * 2
    r = cli("run", "Oslo?", "--output-schema", str(schema), "--output-retries", "1", *flags(server))
    assert r.code == 5 and r.out == ""
    assert r.err.count("\n") == 1 and "missing required field sky" in r.err and "Traceback" not in r.err
    assert len(bodies(server)) == 2


def test_output_type_names_a_python_class(cli, server, tmp_path):
    module = tmp_path / "paper.py"
    module.write_text(
        "from pydantic import BaseModel\n\n"
        "class Paper(BaseModel):\n    title: str\n    year: int\n    authors: list[str]\n"
    )
    server.replies = [final({"title": "Attention", "year": 2017, "authors": ["Vaswani"]})]
    r = cli("run", "a paper", "--output-type", f"{module}:Paper", *flags(server))
    assert r.code == 0, r.err
    assert json.loads(r.out) == {"title": "Attention", "year": 2017, "authors": ["Vaswani"]}


def test_bad_output_flags_are_one_line_usage_errors(cli, server, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({"type": 12}))
    cases = [
        (["--output-schema", str(tmp_path / "missing.json")], "not found"),
        (["--output-schema", str(bad)], "is not JSON"),
        (["--output-schema", str(wrong)], "not valid JSON Schema"),
        (["--output-type", "nosuchmodule_xyz:Thing"], "output type"),
        (["--output-type", f"{tmp_path}/none.py"], "pkg.module:Name"),
        (["--output-schema", str(wrong), "--output-type", "x:Y"], "not both"),
        (["--output-retries", "-1"], "0 or more"),
    ]
    for extra, words in cases:
        r = cli("run", "x", *extra, *flags(server))
        assert r.code == 2, (extra, r.err)
        assert words in r.err and r.err.count("\n") == 1 and "Traceback" not in r.err, (extra, r.err)
    assert not server.requests  # nothing was asked


def test_batch_writes_output_per_row(cli, server, tmp_path):
    schema = tmp_path / "sky.json"
    schema.write_text(json.dumps(SCHEMA))
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    inp.write_text("".join(json.dumps({"id": f"r{i}", "question": f"city {i}?"}) + "\n" for i in range(3)))

    def reply(body):
        question = body["messages"][-1]["content"]
        return final({"city": question.split()[1].rstrip("?"), "sky": "snow"})

    server.replies = [reply] * 3
    r = cli("batch", str(inp), "--out", str(out), "--output-schema", str(schema), "--concurrency", "1", *flags(server))
    assert r.code == 0, r.err
    rows = {x["id"]: x for x in map(json.loads, out.read_text().splitlines())}
    assert {k: v["output"] for k, v in rows.items()} == {f"r{i}": {"city": str(i), "sky": "snow"} for i in range(3)}
