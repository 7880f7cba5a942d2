"""RunHooks: what the one driver tells observers, in order, through every API (run, stream,
arun, astream; in-process and over HTTP); a cancelled stream; a hook that raises."""

from __future__ import annotations

import asyncio
import logging

import liteagent.hooks
from liteagent import Agent, OpenAICompatibleLLM, ScriptedLLM, tool
from liteagent.hooks import RunHooks, RunInfo, new_run_id

from .tools import TWO, add, call, fail, wait


class Recorder(RunHooks):
    def __init__(self) -> None:
        self.seen: list[tuple] = []
        self.runs: list[RunInfo] = []
        self.results: list = []

    def run_start(self, run):
        self.runs.append(run)
        self.seen.append(("run_start",))

    def model_start(self, run, turn, request):
        assert run is self.runs[-1]
        self.seen.append(("model_start", turn))

    def model_end(self, run, turn, usage, finish, error):
        assert run is self.runs[-1]
        self.seen.append(("model_end", turn, dict(usage), finish, error))

    def tool_start(self, run, turn, call):
        assert run is self.runs[-1]
        self.seen.append(("tool_start", turn, call.id, call.name, dict(call.arguments)))

    def tool_end(self, run, turn, call, result):
        assert run is self.runs[-1]
        self.seen.append(("tool_end", turn, call.id, result.status.value))

    def run_end(self, run, result, status):
        assert run is self.runs[-1]
        self.results.append(result)
        self.seen.append(("run_end", status))

    def kinds(self) -> list[str]:
        return [e[0] for e in self.seen]


EXPECTED_TWO_TURNS = [
    "run_start",
    "model_start",
    "model_end",
    "tool_start",
    "tool_start",
    "tool_end",
    "tool_end",
    "model_start",
    "model_end",
    "run_end",
]


def check_two_turns(rec: Recorder, answer: str) -> None:
    kinds = rec.kinds()
    # both calls start before either ends: they run concurrently
    assert kinds in (EXPECTED_TWO_TURNS, [*EXPECTED_TWO_TURNS[:4], "tool_end", "tool_start", *EXPECTED_TWO_TURNS[6:]])
    starts = sorted(e[1:] for e in rec.seen if e[0] == "tool_start")
    assert starts == [(1, "call_0", "add", {"a": 1, "b": 2}), (1, "call_1", "add", {"a": 3, "b": 4})]
    ends = sorted(e[1:] for e in rec.seen if e[0] == "tool_end")
    assert ends == [(1, "call_0", "success"), (1, "call_1", "success")]
    assert [e[1] for e in rec.seen if e[0] in ("model_start", "model_end")] == [1, 1, 2, 2]
    assert [e[3:] for e in rec.seen if e[0] == "model_end"] == [("stop", None), ("stop", None)]
    assert rec.seen[-1] == ("run_end", "ok") and rec.results[-1].answer == answer


def test_a_two_turn_run_with_parallel_calls_in_order():
    rec = Recorder()
    agent = Agent(ScriptedLLM([TWO, "3 and 7"], model="qwen"), [add], hooks=[rec], name="calc")
    result = agent.run("sums?")
    assert result.status == "ok"
    check_two_turns(rec, "3 and 7")
    assert rec.results == [result]
    (run,) = rec.runs
    assert (run.agent, run.model, run.provider, run.server, run.max_tokens) == (
        "calc",
        "qwen",
        "liteagent.scripted",
        None,
        1024,
    )


def test_the_async_apis_tell_the_same():
    async def go() -> tuple[Recorder, Recorder]:
        a, b = Recorder(), Recorder()
        await Agent(ScriptedLLM([TWO, "done"], model="qwen"), [add], hooks=[a]).arun("sums?")
        events = [ev async for ev in Agent(ScriptedLLM([TWO, "done"], model="qwen"), [add], hooks=[b]).astream("x")]
        assert events[-1].type == "final"
        return a, b

    a, b = asyncio.run(go())
    check_two_turns(a, "done")
    check_two_turns(b, "done")
    assert a.runs[0].agent == "liteagent"  # the default name


def test_run_ids_are_unique():
    rec = Recorder()
    agent = Agent(ScriptedLLM(["a", "b", "c"], model="qwen"), hooks=[rec])
    for q in "xyz":
        agent.run(q)
    other = Recorder()
    Agent(ScriptedLLM(["d"], model="qwen"), hooks=[other]).run("w")
    ids = [r.run_id for r in rec.runs + other.runs] + [new_run_id() for _ in range(100)]
    assert len(set(ids)) == len(ids) == 104
    assert all(i.startswith("run-") for i in ids)


def test_each_model_turn_reports_its_own_usage_over_http(server):
    server.replies = [call("add", {"a": 1, "b": 2}), "3"]
    rec = Recorder()
    agent = Agent(OpenAICompatibleLLM(server.url, "scripted-model", max_retries=0), [add], "hermes", hooks=[rec])
    result = agent.run("1+2?")
    assert result.answer == "3"
    usage = [e[2] for e in rec.seen if e[0] == "model_end"]
    assert usage == [{"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}] * 2  # not running totals
    assert result.usage["total_tokens"] == 30
    (run,) = rec.runs
    assert run.provider == "openai" and run.server == server.url and run.model == "scripted-model"


def test_a_model_error_and_a_tool_error_reach_the_hooks(server):
    server.replies = [{"status": 400, "error": "no such thing"}]
    rec = Recorder()
    agent = Agent(OpenAICompatibleLLM(server.url, "scripted-model", max_retries=0), hooks=[rec])
    assert agent.run("x").status == "error"
    assert rec.kinds() == ["run_start", "model_start", "model_end", "run_end"]
    _, turn, usage, finish, error = rec.seen[2]
    assert turn == 1 and error and "no such thing" in error
    assert finish is None and usage == {}
    assert rec.seen[-1] == ("run_end", "error")

    rec = Recorder()
    Agent(ScriptedLLM([call("fail", {"reason": "x"}), "it failed"], model="qwen"), [fail], hooks=[rec]).run("x")
    assert ("tool_end", 1, "call_0", "api_error") in rec.seen and rec.seen[-1] == ("run_end", "ok")


def test_other_endings_reach_run_end():
    rec = Recorder()
    loop = [call("add", {"a": i, "b": 1}) for i in range(3)]
    Agent(ScriptedLLM(loop, model="qwen"), [add], hooks=[rec], max_turns=2).run("x")
    assert rec.seen[-1] == ("run_end", "max_turns") and rec.results[-1].status == "max_turns"

    @tool(needs_approval=True)
    def delete(path: str) -> str:
        """Delete a file.

        Args:
            path: the file
        """
        return path

    rec = Recorder()
    Agent(ScriptedLLM([call("delete", {"path": "/x"})], model="qwen"), [delete], hooks=[rec]).run("x")
    assert rec.seen[-1] == ("run_end", "needs_approval") and rec.results[-1].pending
    assert "tool_start" not in rec.kinds()  # nothing ran


def test_a_stream_the_caller_stops_reading_ends_cancelled():
    rec = Recorder()
    agent = Agent(ScriptedLLM([call("add", {"a": 1, "b": 2}), "3"], model="qwen"), [add], hooks=[rec])
    for ev in agent.stream("x"):
        if ev.type == "tool_call":
            break  # the generator is dropped here, so closed
    assert rec.seen[-1] == ("run_end", "cancelled") and rec.results[-1] is None
    assert rec.kinds().count("run_end") == 1


def test_a_cancelled_stream_mid_reply_ends_once_on_every_api(server):
    # sync over a sync model, async, and sync over an HTTP model (run on a loop behind the scenes)
    rec = Recorder()
    events = Agent(ScriptedLLM(["a long answer"], chunk_size=2, model="qwen"), hooks=[rec]).stream("x")
    assert next(events).type == "text"
    events.close()
    assert rec.kinds() == ["run_start", "model_start", "run_end"] and rec.seen[-1] == ("run_end", "cancelled")

    async def go(rec: Recorder) -> None:
        events = Agent(ScriptedLLM(["a long answer"], chunk_size=2, model="qwen"), hooks=[rec]).astream("x")
        assert (await events.__anext__()).type == "text"
        await events.aclose()

    rec = Recorder()
    asyncio.run(go(rec))
    assert rec.kinds() == ["run_start", "model_start", "run_end"] and rec.seen[-1] == ("run_end", "cancelled")

    # over HTTP the sync stream runs on a loop, ahead of its reader: stop it before the tool ends
    server.replies = [call("wait", {})]
    rec = Recorder()
    agent = Agent(OpenAICompatibleLLM(server.url, "scripted-model", max_retries=0), [wait], "hermes", hooks=[rec])
    events = agent.stream("x")
    assert next(e for e in events if e.type == "tool_call").call.name == "wait"
    events.close()
    kinds = rec.kinds()  # how far it got before the close: the timing's (the call is read mid-reply)
    assert kinds[:2] == ["run_start", "model_start"] and kinds.count("run_end") == 1
    assert "tool_end" not in kinds and rec.seen[-1] == ("run_end", "cancelled")


class Broken(RunHooks):
    """Raises in every method."""

    def __getattribute__(self, name):
        if name in ("run_start", "run_end", "model_start", "model_end", "tool_start", "tool_end"):

            def boom(*args):
                raise RuntimeError(f"a bug in {name}")

            return boom
        return super().__getattribute__(name)


def test_a_hook_that_raises_never_reaches_the_run_and_is_logged_once(caplog, monkeypatch):
    # what was logged is remembered by object id: forget the hooks of earlier tests (their ids can recur)
    monkeypatch.setattr(liteagent.hooks, "_FAILED", set(), raising=False)
    caplog.set_level(logging.ERROR, logger="liteagent.hooks")
    broken, rec = Broken(), Recorder()
    agent = Agent(ScriptedLLM([TWO, "done"] * 2, model="qwen"), [add], hooks=[broken, rec])
    assert agent.run("x").answer == "done"
    assert agent.run("y").answer == "done"
    assert rec.kinds().count("run_end") == 2 and rec.kinds().count("tool_end") == 4  # the others still hear
    logged = [r for r in caplog.records if r.name == "liteagent.hooks"]
    # once per hook and method, over both runs: six methods
    assert len(logged) == 6
    assert all(r.exc_info is not None for r in logged)
    assert sorted(r.getMessage().split()[1] for r in logged) == sorted(
        f"Broken.{m}" for m in ("run_start", "run_end", "model_start", "model_end", "tool_start", "tool_end")
    )

    caplog.clear()
    another = Broken()  # another hook object: its own failures are logged too
    Agent(ScriptedLLM(["hi"], model="qwen"), hooks=[another, broken]).run("x")
    assert len([r for r in caplog.records if r.name == "liteagent.hooks"]) == 4  # run and model, start and end


def test_hooks_keep_their_own_state_per_run():
    class Timer(RunHooks):
        def __init__(self) -> None:
            self.turns: list[int] = []

        def model_start(self, run, turn, request):
            run.state["n"] = run.state.get("n", 0) + 1

        def run_end(self, run, result, status):
            self.turns.append(run.state["n"])

    t = Timer()
    agent = Agent(ScriptedLLM([call("add", {"a": 1, "b": 2}), "3", "hi"], model="qwen"), [add], hooks=[t])
    agent.run("x")
    agent.run("y")
    assert t.turns == [2, 1]
