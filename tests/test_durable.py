"""A run killed with SIGKILL at each point (during a tool, during the model's reply, between
turns) goes on in a new process from its SQLite session: the final session is the uninterrupted
run's but for the interrupted call's result, and no recorded call runs again (issue 20, section
3). Two processes resuming one run at once: exactly one goes on, the other gets RunConflict
(SQLite and Redis). Approvals decided in another process over Redis.

The killed process is tests/durable_worker.py, talking to a scripted OpenAI-compatible server in
this process (the openai dialect, native calls, streamed); its tools log each run's start and end
in ``effects.log`` (how many times a call ran) and hold where told to (how a test kills it
mid-tool).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import durable_worker
from liteagent import ActionStatus, Agent, Message, ScriptedLLM, SQLiteSession, ToolCall
from liteagent.resumption import INTERRUPTED
from liteagent.sessions.redis import RedisSession
from scripted_server import ScriptedServer

WORKER = Path(__file__).parent / "durable_worker.py"
DONE = "All done."


def calls(*made: tuple[str, str, str, str]) -> dict[str, Any]:
    """A reply of native calls: (id, tool, argument name, value) each."""
    return {"tool_calls": [{"id": i, "name": t, "arguments": {k: v}} for i, t, k, v in made]}


NOTE_ONE = calls(("c1", "note", "text", "one"))
SECOND = {"note": calls(("c2", "note", "text", "two")), "lookup": calls(("c2", "lookup", "key", "two"))}


# -- a scripted server that can hold a reply half sent ----------------------------------------
@dataclass
class Held:
    """A reply the server begins and then holds: ``after`` stream events sent (0: not even the
    head), then nothing more until the client goes away."""

    reply: str | dict[str, Any]
    after: int = 0


class _Recorder:
    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.parts.append(data)

    async def drain(self) -> None:
        return None


class HoldingServer(ScriptedServer):
    """The scripted server, where a :class:`Held` reply stops mid-way (``holding`` is set once
    it does: the worker is waiting for the rest of the model's reply)."""

    def __init__(self, replies: list[Any]) -> None:
        super().__init__(replies)
        self.holding = threading.Event()
        self._hold: int | None = None

    def _next_reply(self, body: dict[str, Any]) -> Any:
        reply = super()._next_reply(body)
        # read by this reply's own _stream: no await comes between the two (delay is 0)
        self._hold = reply.after if isinstance(reply, Held) else None
        return reply.reply if isinstance(reply, Held) else reply

    async def _stream(self, writer: Any, text: str, tool_calls: list[dict[str, Any]], chat: bool) -> None:
        hold, self._hold = self._hold, None
        if hold is None:
            await super()._stream(writer, text, tool_calls, chat)
            return
        whole = _Recorder()
        await super()._stream(whole, text, tool_calls, chat)  # type: ignore[arg-type]
        if hold:  # the head, then the first events (one chunk each)
            for part in whole.parts[: 1 + hold]:
                writer.write(part)
            await writer.drain()
        self.holding.set()
        await asyncio.sleep(3600)  # cancelled when the server stops


@pytest.fixture
def servers() -> Iterator[Callable[[list[Any]], HoldingServer]]:
    made: list[HoldingServer] = []

    def make(replies: list[Any]) -> HoldingServer:
        made.append(HoldingServer(replies).start())  # type: ignore[arg-type]
        return made[-1]

    yield make
    for s in made:
        s.stop()


# -- the worker process -------------------------------------------------------------------------
@dataclass
class Place:
    """One conversation in a store, with the directory its tools write in."""

    store: str
    session_id: str
    dir: Path

    def effects(self) -> list[str]:
        log = self.dir / "effects.log"
        return log.read_text().splitlines() if log.exists() else []

    def items(self) -> list[Message]:
        if self.store.startswith("redis://"):
            return asyncio.run(RedisSession(self.session_id, self.store).get_items())
        return SQLiteSession(self.session_id, self.store).get_items_now()

    def argv(self, model: str, *args: str) -> list[str]:
        return [sys.executable, str(WORKER), self.store, self.session_id, model, str(self.dir), *args]


def start(place: Place, model: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(place.argv(model, *args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen[str]) -> dict[str, Any]:
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0 and out.strip(), err
    return json.loads(out.strip().splitlines()[-1])


def run(place: Place, model: str, *args: str) -> dict[str, Any]:
    return finish(start(place, model, *args))


def wait_for(ready: Callable[[], bool], proc: subprocess.Popen[str], what: str) -> None:
    """Until ``ready()`` (the worker got where it is killed); fails if the worker ended first."""
    for _ in range(3000):
        if ready():
            return
        if proc.poll() is not None:
            pytest.fail(f"the worker ended before {what}: {proc.communicate()}")
        time.sleep(0.01)
    pytest.fail(f"the worker never got to {what}")


def kill(proc: subprocess.Popen[str]) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()


def view(m: Message) -> tuple[Any, ...]:
    """What an item says (a control item's time and process left out)."""
    calls = [(c.id, c.name, c.arguments) for c in m.tool_calls]
    status = m.result.status.value if m.result is not None else None
    return m.role, m.content, m.name, m.tool_call_id, calls, status


def shown(items: list[Message]) -> list[tuple[Any, ...]]:
    return [view(m) for m in items if m.role != "control"]


def uninterrupted(tmp_path: Path, servers: Any, script: list[Any], monkeypatch: Any) -> tuple[Place, HoldingServer]:
    """The same conversation run to its end in this process, with the same tools (and the
    server that answered it: what the model was sent)."""
    plain = Place(str(tmp_path / "plain.db"), "plain", tmp_path / "plain")
    plain.dir.mkdir()
    monkeypatch.setattr(durable_worker, "EFFECTS", plain.dir)
    server = servers(list(script))
    r = durable_worker.agent(server.url).run("Write one, then two.", session=SQLiteSession("plain", plain.store))
    assert r.status == "ok" and r.answer == DONE
    return plain, server


@pytest.fixture
def place(tmp_path: Path) -> Place:
    d = tmp_path / "fx"
    d.mkdir()
    return Place(str(tmp_path / "s.db"), "conv-1", d)


# -- kill -9 at each point, resume in a new process ---------------------------------------------
def killed_during_tool(place: Place, servers: Any, tool: str) -> HoldingServer:
    (place.dir / "hold-two").touch()
    server = servers([NOTE_ONE, SECOND[tool]])
    proc = start(place, server.url, "ask", "Write one, then two.")
    wait_for((place.dir / "ready-two").exists, proc, "the second call")
    kill(proc)
    (place.dir / "hold-two").unlink()  # a run again goes to its end
    return server


@pytest.mark.parametrize("tool", ["note", "lookup"])
def test_killed_during_a_tool_resumes_without_running_a_recorded_call_again(place, servers, tool, monkeypatch):
    plain, plain_server = uninterrupted(place.dir.parent, servers, [NOTE_ONE, SECOND[tool], DONE], monkeypatch)
    killed_during_tool(place, servers, tool)
    assert Agent.status(SQLiteSession(place.session_id, place.store)).state == "cut_off"
    assert place.effects() == ["start note one", "end note one", f"start {tool} two"]

    server = servers([DONE])
    out = run(place, server.url, "resume")
    assert out["status"] == "ok" and out["answer"] == DONE
    got, want = shown(place.items()), shown(plain.items())
    sent, plain_sent = server.completions[-1]["messages"], plain_server.completions[-1]["messages"]
    if tool == "lookup":  # idempotent: it ran again, to its end
        assert got == want and sent == plain_sent
        assert place.effects()[3:] == ["start lookup two", "end lookup two"]
    else:  # not idempotent: the model reads that it was cut off
        (i,) = [n for n, w in enumerate(want) if w[0] == "tool" and w[3] == "c2"]
        assert got[:i] + got[i + 1 :] == want[:i] + want[i + 1 :]
        assert got[i][:4] == ("tool", f"Error (interrupted): {INTERRUPTED}", "note", "c2")
        assert got[i][5] == ActionStatus.INTERRUPTED.value
        assert place.effects()[3:] == []  # neither note ran again
        assert sent[:-1] == plain_sent[:-1] and INTERRUPTED in sent[-1]["content"]
    assert [m.name for m in place.items() if m.role == "control"] == ["resume"]


@pytest.mark.parametrize(
    ("point", "killed_script", "resumed_script", "before"),
    [
        ("during_first_reply", [Held(NOTE_ONE, after=1)], [NOTE_ONE, SECOND["note"], DONE], 1),
        ("during_a_later_reply", [NOTE_ONE, Held(SECOND["note"], after=1)], [SECOND["note"], DONE], 3),
        ("between_turns", [NOTE_ONE, Held(SECOND["note"], after=0)], [SECOND["note"], DONE], 3),
    ],
)
def test_killed_during_the_model_reply_or_between_turns(
    place, servers, monkeypatch, point, killed_script, resumed_script, before
):
    """The reply's part that came is lost (never recorded): the resumed run asks the model again
    from the last recorded item, and the final session is the uninterrupted run's, item for item."""
    plain, plain_server = uninterrupted(place.dir.parent, servers, [NOTE_ONE, SECOND["note"], DONE], monkeypatch)
    server = servers(killed_script)
    proc = start(place, server.url, "ask", "Write one, then two.")
    wait_for(server.holding.is_set, proc, "the held reply")
    kill(proc)
    items = place.items()
    assert shown(items) == shown(plain.items())[:before]  # the question, and what finished before the kill
    assert Agent.status(SQLiteSession(place.session_id, place.store)).state == "unanswered"
    ran = place.effects()

    resumed = servers(resumed_script)
    out = run(place, resumed.url, "resume")
    assert out["status"] == "ok" and out["answer"] == DONE
    assert shown(place.items()) == shown(plain.items())
    assert resumed.completions[-1]["messages"] == plain_server.completions[-1]["messages"]  # the same prompt
    assert place.effects()[: len(ran)] == ran  # what ran before the kill did not run again
    assert place.effects() == plain.effects()  # each call ran once, as in the uninterrupted run


def test_killed_during_an_approved_call_it_is_not_run_again(place, servers):
    """Paused in one process, approved in a second (killed while the call runs), resumed in a
    third: the approved call is not idempotent, so the model reads it was cut off."""
    (place.dir / "hold-a.txt").touch()
    remove = calls(("r1", "remove", "path", "a.txt"))
    out = run(place, servers([remove]).url, "ask", "Remove a.txt.")
    assert out["status"] == "needs_approval" and [p["id"] for p in out["pending"]] == ["r1"]
    proc = start(place, servers([]).url, "resume", "--approve", "r1")
    wait_for((place.dir / "ready-a.txt").exists, proc, "the approved call")
    kill(proc)
    assert Agent.status(SQLiteSession(place.session_id, place.store)).state == "cut_off"
    server = servers([DONE])
    out = run(place, server.url, "resume")
    assert out["status"] == "ok"
    assert place.effects() == ["start remove a.txt"]
    last = server.completions[-1]["messages"][-1]
    assert last["role"] == "tool" and INTERRUPTED in last["content"]


def test_killed_during_one_of_two_calls_the_finished_one_keeps_its_result(place, servers):
    (place.dir / "hold-b").touch()
    both = calls(("c1", "note", "text", "a"), ("c2", "note", "text", "b"))
    proc = start(place, servers([both]).url, "ask", "Write a and b.")
    wait_for(lambda: (place.dir / "ready-b").exists() and "end note a" in place.effects(), proc, "note a's end")
    kill(proc)
    answered = {m.tool_call_id: m.content for m in place.items() if m.role == "tool"}
    assert answered.get("c1") == "note a: done"  # "its result when it ends"


# -- two processes resume one run at once -------------------------------------------------------
def paused(place: Place, session_id: str) -> str:
    """A run paused before ``remove(session_id)``; returns the pending call's id."""
    call = f'<tool_call>{{"name": "remove", "arguments": {{"path": "{session_id}"}}}}</tool_call>'
    r = Agent(ScriptedLLM([call]), durable_worker.TOOLS, protocol="hermes").run(
        "q", session=durable_worker.store(place.store, session_id)
    )
    assert r.status == "needs_approval"
    return r.pending[0].id


def cut_off(place: Place, session_id: str) -> None:
    """A run whose process ended while ``lookup(session_id)`` ran (recorded, no result)."""
    items = [Message("user", "q"), Message("assistant", "", [ToolCall("lookup", {"key": session_id}, id="k1")])]
    asyncio.run(durable_worker.store(place.store, session_id).add_items(items))


def race(place: Place, rounds: int) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Two racer processes resume each of ``rounds`` runs at once (paused and cut-off ones in
    turn): both read the run before either claims it."""
    lines = []
    for k in range(rounds):
        sid = f"race-{k}"
        if k % 2:
            cut_off(place, sid)
            lines.append(sid)
        else:
            lines.append(f"{sid} {paused(place, sid)}")
    model = "scripted:" + DONE
    racers = [
        subprocess.Popen(
            [sys.executable, str(WORKER), place.store, "-", model, str(place.dir), "race", name],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("a", "b")
    ]
    try:
        outs = []
        for line in lines:
            for p in racers:
                assert p.stdin is not None
                p.stdin.write(line + "\n")
                p.stdin.flush()
            got = [json.loads(p.stdout.readline() or "{}") for p in racers]  # type: ignore[union-attr]
            outs.append((got[0], got[1]))
    finally:
        for p in racers:
            _, err = p.communicate(timeout=30)
            assert p.returncode == 0, err
    return outs


def check_race(place: Place, outs: list[tuple[dict[str, Any], dict[str, Any]]]) -> None:
    effects = place.effects()
    for k, (a, b) in enumerate(outs):
        won = [o for o in (a, b) if o.get("status") == "ok"]
        lost = [o for o in (a, b) if o.get("status") != "ok"]
        assert len(won) == 1 and won[0]["answer"] == DONE, (a, b)
        assert lost[0].get("error_type") == "RunConflict", lost
        assert "another process" in lost[0]["message"]
        tool = "lookup" if k % 2 else "remove"
        assert effects.count(f"start {tool} race-{k}") == 1, effects  # the call ran once
        assert effects.count(f"end {tool} race-{k}") == 1


def test_two_processes_resume_at_once_exactly_one_wins_sqlite(place):
    outs = race(place, 12)
    check_race(place, outs)


def test_two_processes_resume_at_once_exactly_one_wins_redis(place, redis_url):
    place = Place(redis_url, "-", place.dir)
    outs = race(place, 12)
    check_race(place, outs)


def test_a_resume_while_another_runs_the_calls_is_refused(place):
    cut_off(place, "late")
    place = Place(place.store, "late", place.dir)
    (place.dir / "hold-late").touch()
    first = start(place, "scripted:" + DONE, "resume")
    wait_for((place.dir / "ready-late").exists, first, "the first resumer's call")
    (place.dir / "hold-late").unlink()
    second = run(place, "scripted:" + DONE, "resume")
    (place.dir / "release-late").touch()
    finish(first)
    assert second.get("error_type") == "RunConflict"
    assert place.effects().count("start lookup late") == 1


# -- approvals decided in another process, over Redis -------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    exe = shutil.which("redis-server")
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server is not installed (apt-get install redis-server)")
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    proc = subprocess.Popen(
        [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
    )
    for _ in range(200):
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/0"
    proc.terminate()
    proc.wait(timeout=10)


def pause_here(place: Place, server: ScriptedServer, question: str) -> list[dict[str, Any]]:
    """Ask in this process; the run pauses for approval. Returns the pending calls."""
    r = durable_worker.agent(server.url).run(question, session=durable_worker.store(place.store, place.session_id))
    assert r.status == "needs_approval"
    return [p.to_dict() for p in r.pending]


def test_approval_decided_in_another_process_over_redis(place, servers, redis_url, monkeypatch):
    monkeypatch.setattr(durable_worker, "EFFECTS", place.dir)
    place = Place(redis_url, "ops-1", place.dir)
    server = servers([calls(("r1", "remove", "path", "/a")), DONE])
    pending = pause_here(place, server, "Remove /a.")
    assert run(place, server.url, "status") == {"state": "needs_approval", "pending": pending}
    n = len(place.items())
    for bad in (["--approve", "r9"], ["--reject", "r9=no"]):  # unknown ids: one clear line, nothing written
        out = run(place, server.url, "resume", *bad)
        assert out["error_type"] == "UsageError" and "'r9' is not waiting" in out["message"]
        assert "\n" not in out["message"]
    assert len(place.items()) == n and place.effects() == []

    out = run(place, server.url, "resume", "--approve", "r1")
    assert out["status"] == "ok" and out["answer"] == DONE
    assert place.effects() == ["start remove /a", "end remove /a"]
    n = len(place.items())
    out = run(place, server.url, "resume", "--approve", "r1")  # stale: decided, and the run ended
    assert out["error_type"] == "UsageError" and "nothing to resume" in out["message"]
    assert len(place.items()) == n and place.effects() == ["start remove /a", "end remove /a"]


def test_rejection_and_always_decided_in_another_process_over_redis(place, servers, redis_url, monkeypatch):
    monkeypatch.setattr(durable_worker, "EFFECTS", place.dir)
    place = Place(redis_url, "ops-2", place.dir)
    server = servers([calls(("r1", "remove", "path", "/etc")), "Kept /etc.", calls(("r2", "remove", "path", "/b"))])
    pause_here(place, server, "Remove /etc.")
    out = run(place, server.url, "resume", "--reject", "r1=never /etc")
    assert out["status"] == "ok" and out["answer"] == "Kept /etc."
    told = server.completions[-1]["messages"][-1]
    assert told["role"] == "tool" and "did not approve" in told["content"] and "never /etc" in told["content"]
    assert place.effects() == []

    (pending,) = pause_here(place, server, "Remove /b.")
    server.replies += ["Removed /b.", calls(("r3", "remove", "path", "/c")), "Removed /c."]
    out = run(place, server.url, "resume", "--always", "remove")
    assert out["status"] == "ok" and out["answer"] == "Removed /b." and pending["tool"] == "remove"
    out = run(place, server.url, "ask", "Remove /c.")  # a third process: no pause, "always" holds
    assert out["status"] == "ok" and out["answer"] == "Removed /c."
    assert place.effects() == ["start remove /b", "end remove /b", "start remove /c", "end remove /c"]
