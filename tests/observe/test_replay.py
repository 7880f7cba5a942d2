"""Record a run's model calls against the scripted server, answer from the recording in a new
process: the same events and result, offline; a changed request fails naming where it differs;
no key in the file."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from liteagent import Agent, OpenAICompatibleLLM, UsageError
from liteagent.errors import LLMError
from liteagent.events import event_to_dict
from liteagent.llms.replay import RecordingLLM, ReplayLLM

from ..conftest import TESTS

WEATHER = TESTS / "data" / "plugins" / "weather.py"
CALL = '<tool_call>{"name": "Weather.forecast", "arguments": {"city": "Oslo"}}</tool_call>'


def weather():
    sys.path.insert(0, str(WEATHER.parent))
    from weather import Weather  # type: ignore[import-not-found]

    return Weather()


def shape(events: list) -> list[dict]:
    """Events without their timings."""
    out = []
    for ev in events:
        d = event_to_dict(ev)
        for k in ("elapsed", "ttft"):
            d.pop(k, None)
        if d["type"] == "tool_result":
            d["result"].pop("elapsed", None)
        out.append(d)
    return out


def test_a_recorded_run_replays_identically(server, tmp_path):
    server.replies = [CALL, "Sunny in Oslo."]
    path = tmp_path / "run.jsonl"
    llm = RecordingLLM(OpenAICompatibleLLM(server.url, "scripted-model", api_key="sk-SECRET-123", max_retries=0), path)
    live = list(Agent(llm, [weather()], protocol="hermes").stream("Weather in Oslo?"))
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    assert len(lines) == 2 and all(len(x["sha256"]) == 64 for x in lines)
    assert "sk-SECRET-123" not in path.read_text() and "Authorization" not in path.read_text()
    replayed = list(Agent(ReplayLLM(path), [weather()], protocol="hermes").stream("Weather in Oslo?"))
    assert shape(replayed) == shape(live)
    assert replayed[-1].result.answer == "Sunny in Oslo." and replayed[-1].result.usage == live[-1].result.usage


def test_a_changed_request_is_an_error_naming_the_difference(server, tmp_path):
    server.replies = ["Sunny."]
    path = tmp_path / "run.jsonl"
    Agent(RecordingLLM(OpenAICompatibleLLM(server.url, "scripted-model", max_retries=0), path), protocol="hermes").run(
        "Weather in Oslo?"
    )
    result = Agent(ReplayLLM(path), protocol="hermes").run("Weather in Bergen?")
    assert result.status == "error"
    assert "not in the recording" in result.error and "Bergen" in result.error and "Oslo" in result.error
    with pytest.raises(LLMError):
        list(ReplayLLM(path).stream_sync(Agent(ReplayLLM(path), protocol="hermes").protocol.render([], None)))


def test_the_cli_records_and_replays_in_a_new_process(cli, server, tmp_path):
    server.replies = [CALL, "Sunny in Oslo."]
    path = tmp_path / "cli.jsonl"
    flags = ["--plugin", f"{WEATHER}:Weather", "--protocol", "hermes", "--json"]
    live = cli("run", "Oslo?", "--base-url", server.url, "--model", "scripted-model", "--record", str(path), *flags)
    assert live.code == 0, live.err
    asked = len(server.requests)
    again = subprocess.run(
        [sys.executable, "-m", "liteagent", "run", "Oslo?", "--replay", str(path), *flags],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert again.returncode == 0, again.stderr
    assert len(server.requests) == asked  # the recording answered: no request reached a model
    a, b = json.loads(live.out), json.loads(again.stdout)
    assert b["answer"] == a["answer"] == "Sunny in Oslo."
    assert [s["tool_calls"] for s in b["steps"]] == [s["tool_calls"] for s in a["steps"]]
    assert [[r["status"] for r in s["results"]] for s in b["steps"]] == [["success"], []]
    changed = subprocess.run(
        [sys.executable, "-m", "liteagent", "run", "Bergen?", "--replay", str(path), *flags],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert changed.returncode == 1 and "not in the recording" in changed.stderr and "Traceback" not in changed.stderr


def test_bad_recordings_are_one_line_errors(tmp_path):
    with pytest.raises(UsageError, match="no such recording"):
        ReplayLLM(tmp_path / "missing.jsonl")
    bad = tmp_path / "bad.jsonl"
    bad.write_text("not json\n")
    with pytest.raises(UsageError, match="line 1: not a recorded model call"):
        ReplayLLM(bad)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(UsageError, match="empty"):
        ReplayLLM(empty)
    with pytest.raises(UsageError, match="replay_speed"):
        ReplayLLM(bad, speed=-1)
