"""Approvals and resumable runs in `liteagent serve` (issue 20), with the official `openai` client:
real `liteagent serve` processes on loopback, a scripted model server behind them, SQLite and Redis
stores shared between processes, a process killed mid-tool."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest

openai = pytest.importorskip("openai")

from liteagent import Message, SQLiteSession  # noqa: E402

from . import test_serve as serve_tests  # noqa: E402

redis_url = serve_tests.redis_url  # the fixture: a redis-server of the test's own

PLUGIN = '''
import asyncio, os
from pathlib import Path
from liteagent import BaseAction, tool_api

DIR = Path({dir!r})


def note(line):
    with open(DIR / "ran.log", "a") as f:
        f.write(f"{{os.getpid()}} {{line}}\\n")


async def wait_for_go():
    (DIR / "started").touch()
    while not (DIR / "go").exists():
        await asyncio.sleep(0.05)


class Files(BaseAction):
    """Files on the server."""

    @tool_api(needs_approval=True)
    def delete(self, path: str) -> str:
        """Delete a file.

        Args:
            path: the file to delete
        """
        note(f"delete {{path}}")
        return f"deleted {{path}}"

    @tool_api(needs_approval=True)
    async def wipe(self, path: str) -> str:
        """Wipe a disk (slow: it waits for the file "go").

        Args:
            path: the disk
        """
        await wait_for_go()
        note(f"wipe {{path}}")
        return f"wiped {{path}}"

    @tool_api
    async def copy(self, path: str) -> str:
        """Copy a file (slow: it waits for the file "go").

        Args:
            path: the file
        """
        await wait_for_go()
        note(f"copy {{path}}")
        return f"copied {{path}}"
'''


def call(tool: str, path: str) -> str:
    return f'<tool_call>{{"name": "Files.{tool}", "arguments": {{"path": "{path}"}}}}</tool_call>'


@pytest.fixture
def files(tmp_path: Path) -> Path:
    """The plugin file; its tools note what ran in ``ran.log`` beside it."""
    path = tmp_path / "files_plugin.py"
    path.write_text(PLUGIN.format(dir=str(tmp_path)))
    return path


@pytest.fixture
def service(server, tmp_path, files):
    made: list[serve_tests.Service] = []

    def make(sessions: str | None = None, *extra: str) -> serve_tests.Service:
        s = serve_tests.Service(
            server.url, "--plugin", f"{files}:Files", *extra, sessions=sessions or str(tmp_path / "sessions.sqlite3")
        )
        made.append(s)
        return s

    yield make
    for s in made:
        if s.proc.poll() is None:
            s.stop()


def ran(tmp_path: Path) -> list[str]:
    log = tmp_path / "ran.log"
    return [line.split(" ", 1)[1] for line in log.read_text().splitlines()] if log.exists() else []


def last_prompt(server) -> str:
    return json.dumps([r["body"] for r in server.requests if r["body"]][-1], ensure_ascii=False)


def ask(client, question: str, sid: str | None = None, **kw: Any) -> Any:
    if sid is not None:
        kw["user"] = sid
    return client.chat.completions.create(model="liteagent", messages=[{"role": "user", "content": question}], **kw)


def decide(client, sid: str | None, messages: list[dict[str, Any]] | None = None, **decision: Any) -> Any:
    """A follow-up request carrying only the decision (the history is the session's)."""
    kw: dict[str, Any] = {"extra_body": {"x_liteagent": decision}}
    if sid is not None:
        kw["user"] = sid
    stream = kw["extra_body"]["x_liteagent"].pop("stream", False)
    return client.chat.completions.create(model="liteagent", messages=messages or [], stream=stream, **kw)


def streamed(stream) -> dict[str, Any]:
    """A stream read the stock way: its text, the tool_calls deltas merged, its finish reasons,
    and the ``x_liteagent`` of every chunk."""
    out: dict[str, Any] = {"text": "", "calls": {}, "finish": [], "extra": []}
    for chunk in stream:
        if (chunk.model_extra or {}).get("x_liteagent"):
            out["extra"].append(chunk.model_extra["x_liteagent"])
        if not chunk.choices:
            continue
        choice = chunk.choices[0]
        out["text"] += choice.delta.content or ""
        for tc in choice.delta.tool_calls or []:
            got = out["calls"].setdefault(tc.index, {"id": tc.id, "name": "", "arguments": ""})
            got["name"] += tc.function.name or ""
            got["arguments"] += tc.function.arguments or ""
        if choice.finish_reason:
            out["finish"].append(choice.finish_reason)
    return out


def test_a_paused_run_answers_with_tool_calls_and_an_approval_resumes_it(service, server, tmp_path):
    server.replies = ["Deleting it. " + call("delete", "/srv/old"), "Deleted /srv/old."]
    c = service().client()
    r = ask(c, "Delete /srv/old", "a-1")
    choice = r.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content == "Deleting it."
    (tc,) = choice.message.tool_calls
    assert tc.type == "function" and tc.function.name == "Files.delete"
    assert json.loads(tc.function.arguments) == {"path": "/srv/old"}
    extra = choice.message.model_extra["x_liteagent"]
    pending = [{"id": tc.id, "tool": "Files.delete", "arguments": {"path": "/srv/old"}}]
    assert extra == {"type": "approval_required", "session": "a-1", "pending": pending}
    assert ran(tmp_path) == []  # nothing ran before the decision
    # an OpenAI client repeats the history, the assistant's tool_calls included: the session's is what counts
    history = [{"role": "user", "content": "Delete /srv/old"}, choice.message.model_dump(exclude_none=True)]
    r = decide(c, "a-1", history, approve=[tc.id])
    assert r.choices[0].message.content == "Deleted /srv/old." and r.choices[0].finish_reason == "stop"
    assert r.choices[0].message.tool_calls is None
    assert ran(tmp_path) == ["delete /srv/old"]
    assert "deleted /srv/old" in last_prompt(server)  # the result reached the model


def test_stream_pause_and_a_rejection_whose_reason_reaches_the_model(service, server, tmp_path):
    server.replies = [call("delete", "/etc/passwd"), "Understood, I left it."]
    c = service().client()
    paused = streamed(ask(c, "Clean up", "r-1", stream=True))
    assert paused["finish"] == ["tool_calls"]
    (tc,) = paused["calls"].values()
    assert tc["name"] == "Files.delete" and json.loads(tc["arguments"]) == {"path": "/etc/passwd"}
    last = paused["extra"][-1]
    assert last["type"] == "approval_required" and last["session"] == "r-1"
    assert last["pending"] == [{"id": tc["id"], "tool": "Files.delete", "arguments": {"path": "/etc/passwd"}}]
    answer = streamed(decide(c, "r-1", reject={tc["id"]: "that file is the system's"}, stream=True))
    assert answer["text"] == "Understood, I left it." and answer["finish"] == ["stop"]
    assert ran(tmp_path) == []
    assert "that file is the system's" in last_prompt(server)


def test_always_approves_the_tool_for_the_rest_of_the_conversation(service, server, tmp_path):
    server.replies = [call("delete", "/a"), "a gone", call("delete", "/b"), "b gone"]
    c = service().client()
    ask(c, "delete a", "al-1")
    r = decide(c, "al-1", always=["Files.delete"])
    assert r.choices[0].message.content == "a gone"
    r = ask(c, "delete b", "al-1")  # no pause this time
    assert r.choices[0].finish_reason == "stop" and r.choices[0].message.content == "b gone"
    assert ran(tmp_path) == ["delete /a", "delete /b"]


def test_bad_decisions_are_400_and_change_nothing(service, server, tmp_path):
    server.replies = [call("delete", "/x"), "done"]
    c = service().client()
    pid = ask(c, "delete x", "b-1").choices[0].message.tool_calls[0].id
    session = SQLiteSession("b-1", tmp_path / "sessions.sqlite3")
    before = session.get_items_now()
    with pytest.raises(openai.BadRequestError, match="not waiting for a decision"):
        decide(c, "b-1", approve=["call_nosuch"])
    with pytest.raises(openai.BadRequestError, match="no tool"):
        decide(c, "b-1", always=["Files.nosuch"])
    with pytest.raises(openai.BadRequestError, match="needs the session"):
        decide(c, None, approve=[pid])
    with pytest.raises(openai.BadRequestError, match="reject must map call ids to reasons"):
        decide(c, "b-1", reject={pid: 3})
    with pytest.raises(openai.BadRequestError, match="decides nothing"):
        decide(c, "b-1")
    assert session.get_items_now() == before and ran(tmp_path) == []
    decide(c, "b-1", approve=[pid])
    with pytest.raises(openai.BadRequestError, match="nothing to resume") as stale:
        decide(c, "b-1", approve=[pid])  # decided already
    assert stale.value.status_code == 400 and ran(tmp_path) == ["delete /x"]
    with pytest.raises(openai.BadRequestError, match="nothing to resume"):  # streamed: an error status too
        decide(c, "b-1", approve=[pid], stream=True)


def test_a_new_question_while_calls_wait_is_409_naming_them(service, server, tmp_path):
    server.replies = [call("delete", "/x") + call("delete", "/y")]
    c = service().client()
    ids = [tc.id for tc in ask(c, "delete both", "q-1").choices[0].message.tool_calls]
    assert len(ids) == 2
    for stream in (False, True):
        with pytest.raises(openai.ConflictError) as refused:
            ask(c, "something else", "q-1", stream=stream)
        assert all(i in refused.value.message for i in ids) and "x_liteagent" in refused.value.message
    assert len(server.completions) == 1 and ran(tmp_path) == []


def test_without_a_session_the_paused_run_is_kept_in_one_the_server_creates(service, server, tmp_path):
    server.replies = [call("delete", "/tmp/a"), "done without a session of mine"]
    c = service().client()
    r = ask(c, "delete it")
    extra = r.choices[0].message.model_extra["x_liteagent"]
    sid = extra["session"]
    assert sid.startswith("approval-") and r.choices[0].finish_reason == "tool_calls"
    r = decide(c, sid, approve=[extra["pending"][0]["id"]])
    assert r.choices[0].message.content == "done without a session of mine" and ran(tmp_path) == ["delete /tmp/a"]


def paused_in_one_resumed_in_another(first, second, server, tmp_path, sid: str) -> None:
    server.replies = [call("delete", "/shared"), "Deleted by the second process."]
    paused = streamed(ask(first.client(), "delete /shared", sid, stream=True))
    (tc,) = paused["calls"].values()
    r = decide(second.client(), sid, approve=[tc["id"]])
    assert r.choices[0].message.content == "Deleted by the second process."
    assert (tmp_path / "ran.log").read_text().split() == [str(second.proc.pid), "delete", "/shared"]


def test_a_decision_in_a_second_process_sharing_sqlite(service, server, tmp_path):
    paused_in_one_resumed_in_another(service(), service(), server, tmp_path, "x-sqlite")


def test_a_decision_in_a_second_process_sharing_redis(service, server, tmp_path, redis_url):
    paused_in_one_resumed_in_another(service(redis_url), service(redis_url), server, tmp_path, "x-redis")


def wait_for(path: Path) -> None:
    for _ in range(600):
        if path.exists():
            return
        time.sleep(0.05)
    raise AssertionError(f"{path} never appeared")


def in_thread(fn, *args: Any, **kw: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}

    def go() -> None:
        try:
            out["value"] = fn(*args, **kw)
        except Exception as exc:
            out["error"] = exc

    out["thread"] = threading.Thread(target=go, daemon=True)
    out["thread"].start()
    return out


@pytest.mark.parametrize("store", ["sqlite", "redis"])
def test_two_processes_deciding_at_once_one_goes_on_the_other_gets_409(service, server, tmp_path, store, request):
    sessions = request.getfixturevalue("redis_url") if store == "redis" else None
    one, two = service(sessions), service(sessions)
    server.replies = [call("wipe", "/dev/sdz"), "Wiped."]
    pid = ask(one.client(), "wipe sdz", "c-1").choices[0].message.tool_calls[0].id
    first = in_thread(decide, one.client(), "c-1", approve=[pid])
    wait_for(tmp_path / "started")  # the approved call runs in the first process
    with pytest.raises(openai.ConflictError, match="in progress"):
        decide(two.client(), "c-1", approve=[pid])
    with pytest.raises(openai.ConflictError, match="in progress"):  # a question neither: it is one run at a time
        ask(two.client(), "and then?", "c-1")
    (tmp_path / "go").touch()
    first["thread"].join(30)
    assert first["value"].choices[0].message.content == "Wiped."
    assert ran(tmp_path) == ["wipe /dev/sdz"]
    with pytest.raises(openai.BadRequestError, match="nothing to resume"):
        decide(two.client(), "c-1", approve=[pid])  # decided there


@pytest.mark.parametrize("stream", [False, True])
def test_a_run_cut_off_by_a_kill_goes_on_before_the_next_question(service, server, tmp_path, stream):
    db = str(tmp_path / "restart.sqlite3")
    first = service(db)
    server.replies = [call("copy", "/data"), "The copy was cut off; please check /data.", "Here is the next answer."]
    gone = in_thread(ask, first.client(), "copy /data", "k-1")
    wait_for(tmp_path / "started")  # the tool runs now
    os.kill(first.proc.pid, signal.SIGKILL)
    first.proc.wait(10)
    gone["thread"].join(30)
    assert isinstance(gone.get("error"), openai.APIConnectionError)
    assert ran(tmp_path) == []  # it never finished
    second = service(db)
    if stream:
        got = streamed(ask(second.client(), "And now?", "k-1", stream=True))
        text, finish = got["text"], got["finish"]
        resumed = [e for e in got["extra"] if e.get("type") == "resumed"]
        assert len(resumed) == 1
        resumed = resumed[0]
    else:
        r = ask(second.client(), "And now?", "k-1")
        text, finish, resumed = r.choices[0].message.content, [r.choices[0].finish_reason], r.model_extra["x_liteagent"]
    assert text == "Here is the next answer." and finish == ["stop"]
    assert resumed == {
        "type": "resumed",
        "state": "cut_off",
        "status": "ok",
        "answer": "The copy was cut off; please check /data.",
        "question_asked": True,
    }
    prompts = [r["body"] for r in server.requests if r["body"]]
    assert "cut off while this call was running" in json.dumps(prompts[1])  # not idempotent: not run again
    sent = [m["content"] for m in prompts[2]["messages"] if m["role"] == "user"]
    assert sent[0] == "copy /data" and sent[-1] == "And now?"
    assert ran(tmp_path) == []
    assert "The copy was cut off" in json.dumps(prompts[2])  # the resumed answer is history


def test_tool_results_without_the_model_s_reply_go_on_before_the_next_question(service, server, tmp_path):
    """The model failed after the tools ran (or the process ended between turns): the next request
    first lets the model answer the old question from the recorded results, then the new one."""
    server.replies = [serve_tests.CALL, {"status": 400, "error": "overloaded"}, "Sunny in Oslo.", "Yes, sunglasses."]
    c = service().client()
    with pytest.raises(openai.APIStatusError) as failed:
        ask(c, "Oslo?", "u-1")
    assert failed.value.status_code == 502
    r = ask(c, "Sunglasses?", "u-1")
    assert r.choices[0].message.content == "Yes, sunglasses."
    assert r.model_extra["x_liteagent"]["state"] == "unanswered"
    assert r.model_extra["x_liteagent"]["answer"] == "Sunny in Oslo."
    sent = [m for m in server.completions[-1]["messages"] if m["role"] in ("user", "assistant")]
    assert [m["content"] for m in sent][-2:] == ["Sunny in Oslo.", "Sunglasses?"]
    assert len(server.completions) == 4  # the question, its failed turn, the old answer, the new one


def test_another_process_resuming_first_is_409(server, tmp_path, files, free_port):
    """Two resumers that both got past the lease (it had run out): the store's atomic claim lets
    one go on; the other's RunConflict is a 409. The app is built from Python with
    AgentConfig(approve_tools=...); another process's claim is written between this one's read
    and its own, as the core's own test does."""
    uvicorn = pytest.importorskip("uvicorn")
    from liteagent import AgentConfig
    from liteagent.serve import create_app
    from liteagent.serve.factory import shared_executor
    from liteagent.serve.store import SQLiteStore

    class RacingStore(SQLiteStore):
        race = False

        def open(self, session_id: str, owner: str) -> Any:
            session = super().open(session_id, owner)
            if session is None or not self.race:
                return session
            read = session.get_items

            async def read_then_another_process_claims(limit: int | None = None) -> Any:
                items = await read(limit)
                if self.race:
                    self.race = False
                    claim = {"approve": [], "reject": {}, "always": ["Files.copy"], "by": "elsewhere:1", "at": 0}
                    await session.add_items([Message("control", name="resume", data=claim)])
                return items

            session.get_items = read_then_another_process_claims  # type: ignore[method-assign]
            return session

    config = AgentConfig(
        base_url=server.url, model="scripted-model", protocol="hermes", plugins=(f"{files}:Files",),
        approve_tools=("Files.copy",),
    )  # fmt: skip
    store = RacingStore(tmp_path / "race.sqlite3")
    app = create_app(config.build(shared_executor(config)), store)
    web = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=free_port, log_level="warning"))
    thread = threading.Thread(target=web.run, daemon=True)
    thread.start()
    try:
        while not web.started:
            time.sleep(0.02)
        c = openai.OpenAI(base_url=f"http://127.0.0.1:{free_port}/v1", api_key="none", max_retries=0, timeout=30)
        server.replies = [call("copy", "/f")]
        r = ask(c, "copy f", "rc-1")
        assert r.choices[0].finish_reason == "tool_calls"  # approve_tools made copy wait
        store.race = True
        with pytest.raises(openai.ConflictError, match="another process"):
            decide(c, "rc-1", approve=[r.choices[0].message.tool_calls[0].id])
        assert ran(tmp_path) == []
    finally:
        web.should_exit = True
        thread.join(10)
