"""The pitfalls of DESIGN section 12 (peers' bugs in pausable, durable runs), one named test each.

Where each is proved (tests/test_approval.py and tests/test_durable.py attack some of them too):

- an approval ignored after the state's JSON round trip (openai-agents #4244):
  ``test_pitfall_approval_survives_json_round_trip``; over Redis, from other processes:
  test_durable ``test_approval_decided_in_another_process_over_redis``
- an infinite re-interrupt (openai-agents #2487): ``test_pitfall_no_infinite_reinterrupt``
- an interruption dropped silently; ambiguous state must fail closed (openai-agents #4264):
  ``test_pitfall_ambiguous_state_fails_closed``, ``test_pitfall_a_cut_off_run_is_never_dropped``,
  ``test_pitfall_a_malformed_pending_record_is_a_clear_error``
- duplicate call ids running the wrong tool (pydantic-ai #6241):
  ``test_pitfall_duplicate_call_ids_run_right_tool`` (test_approval: one reply, in memory)
- a trailing call treated as approved (pydantic-ai #3350): ``test_pitfall_trailing_call_not_approved``
  (test_approval ``test_partial_decisions_leave_the_rest_pending``: two calls)
- the approver shown other arguments than those executed (pydantic-ai #6968):
  ``test_pitfall_approver_sees_executed_arguments``,
  ``test_pitfall_approver_sees_validated_arguments_and_defaults``
- pending state lost on reload (openai-agents #4830): ``test_pitfall_pending_survives_reload``
- a decision consumed and the tool run before a failure (agent-framework #7458):
  ``test_pitfall_decision_not_consumed_before_failure``,
  ``test_pitfall_decision_kept_when_the_run_fails_before_the_call``
  (test_approval ``test_a_decided_call_never_runs_twice_when_the_model_then_fails``)
- the interrupted node re-run, side effects twice (LangGraph #7780, #6208):
  ``test_pitfall_interrupted_node_not_rerun``; killed mid-call: test_durable
  ``test_killed_during_a_tool_resumes_without_running_a_recorded_call_again``
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import durable_worker
from liteagent import (
    ActionStatus,
    Agent,
    InMemorySession,
    Message,
    OpenAICompatibleLLM,
    ScriptedLLM,
    SQLiteSession,
    ToolCall,
    UsageError,
    tool,
)
from liteagent.results import PendingCall
from scripted_server import ScriptedServer

WORKER = Path(__file__).parent / "durable_worker.py"


def hermes(*made: tuple[str, dict[str, Any]]) -> str:
    return "".join(f"<tool_call>{json.dumps({'name': n, 'arguments': a})}</tool_call>" for n, a in made)


def native(*made: tuple[str, str, dict[str, Any]]) -> dict[str, Any]:
    return {"tool_calls": [{"id": i, "name": n, "arguments": a} for i, n, a in made]}


@pytest.fixture
def effects(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The worker's tools (note, lookup, remove) write here; returns the log."""
    monkeypatch.setattr(durable_worker, "EFFECTS", tmp_path)
    return tmp_path / "effects.log"


def ran(log: Path) -> list[str]:
    return (
        [line.removeprefix("end ") for line in log.read_text().splitlines() if line.startswith("end ")]
        if log.exists()
        else []
    )


def agent(replies: list[Any], **kw: Any) -> Agent:
    return Agent(ScriptedLLM(replies), durable_worker.TOOLS, protocol="hermes", **kw)


def worker(db: Path, session_id: str, model: str, d: Path, *args: str) -> dict[str, Any]:
    argv = [sys.executable, str(WORKER), str(db), session_id, model, str(d), *args]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout.strip().splitlines()[-1])


def test_pitfall_approval_survives_json_round_trip(tmp_path, effects):
    """All that is left of a paused run is JSON text in the store: rebuilt from that alone, an
    approval runs the call (once, with no new pause), and "always" holds on later questions."""
    db = tmp_path / "s.db"
    a = agent([hermes(("remove", {"path": "a.txt"})), "Removed.", hermes(("remove", {"path": "b.txt"})), "Both."])
    r = a.run("Remove a.txt.", session=SQLiteSession("c", db))
    rows = sqlite3.connect(db).execute("SELECT data FROM items WHERE session_id = 'c' ORDER BY seq").fetchall()
    rebuilt = InMemorySession(items=[Message.from_dict(json.loads(row[0])) for row in rows])
    assert [(p.id, p.tool, p.arguments) for p in Agent.status(rebuilt).pending] == [
        (r.pending[0].id, "remove", {"path": "a.txt"})
    ]
    done = a.resume(rebuilt, approve=[r.pending[0].id], always=["remove"])
    assert done.status == "ok" and done.answer == "Removed." and ran(effects) == ["remove a.txt"]
    # and back through JSON once more: "always" is in the record, not in this process
    again = [Message.from_dict(json.loads(json.dumps(m.to_dict()))) for m in rebuilt.items]
    r = a.run("Remove b.txt.", session=InMemorySession(items=again))
    assert r.status == "ok" and r.answer == "Both." and ran(effects) == ["remove a.txt", "remove b.txt"]


def test_pitfall_no_infinite_reinterrupt(effects):
    """An approved call is never asked about again: not when the model repeats it (answered from
    its result, not run again), not when the run is resumed after the model failed."""
    call = hermes(("remove", {"path": "a.txt"}))
    llm = ScriptedLLM([call, call])  # then no reply left: the model fails
    a = Agent(llm, durable_worker.TOOLS, protocol="hermes")
    session = InMemorySession()
    r = a.run("Remove a.txt.", session=session)
    r = a.resume(session, approve=[r.pending[0].id])
    assert r.status == "error" and r.pending == []  # the model's repeat: no new pause
    assert "already called remove" in str(llm.prompts[-1])
    llm.outputs.append("Removed.")
    r = a.resume(session)
    assert r.status == "ok" and r.answer == "Removed." and r.pending == []
    assert ran(effects) == ["remove a.txt"]
    with pytest.raises(UsageError, match="nothing to resume"):
        a.resume(session)


def paused_items() -> list[Message]:
    session = InMemorySession()
    r = agent([hermes(("remove", {"path": "a.txt"}))]).run("q", session=session)
    assert r.status == "needs_approval"
    return [Message.from_dict(m.to_dict()) for m in session.items]


def test_pitfall_ambiguous_state_fails_closed(effects):
    """A record that does not match its call (arguments changed, an id no call has, two calls
    with one id) is an error on status and resume: nothing runs, nothing is written."""
    changed = paused_items()
    assert changed[-1].data is not None
    changed[-1].data["calls"][0]["arguments"] = {"path": "/etc/passwd"}
    unknown = paused_items()
    assert unknown[-1].data is not None
    unknown[-1].data["calls"][0]["id"] = "nobody"
    twins = paused_items()
    twins[1].tool_calls.append(ToolCall("remove", {"path": "b.txt"}, id=twins[1].tool_calls[0].id))
    for items, says in ((changed, "does not match"), (unknown, "does not match"), (twins, "same id")):
        session = InMemorySession(items=items)
        with pytest.raises(UsageError, match=says):
            Agent.status(session)
        for pending in (p.id for m in items if m.data for p in map(PendingCall.from_dict, m.data["calls"])):
            with pytest.raises(UsageError, match=says):
                agent(["x"]).resume(session, approve=[pending])
        with pytest.raises(UsageError, match=says):
            agent(["x"]).resume(session, always=["remove"])
        with pytest.raises(UsageError, match=says):
            agent(["x"]).run("something else", session=session)
        assert len(session.items) == len(items)
    assert ran(effects) == []


def test_pitfall_a_cut_off_run_is_never_dropped(effects):
    """A run cut off mid-call cannot be talked past: a new question is refused until it is
    resumed, and then the model reads that the call was interrupted."""
    items = [Message("user", "q"), Message("assistant", "", [ToolCall("note", {"text": "x"}, id="n1")])]
    session = InMemorySession(items=items)
    assert Agent.status(session).state == "cut_off"
    with pytest.raises(UsageError, match="resume it first"):
        agent(["x"]).run("and now?", session=session)
    llm = ScriptedLLM(["It may not have been written."])
    r = Agent(llm, durable_worker.TOOLS, protocol="hermes").resume(session)
    assert r.status == "ok" and ran(effects) == []
    (told,) = [m for m in session.items if m.role == "tool"]
    assert told.result is not None and told.result.status is ActionStatus.INTERRUPTED
    assert "may or may not have completed" in str(llm.prompts[-1])


def test_pitfall_a_malformed_pending_record_is_a_clear_error(effects):
    for broken in (
        {"calls": [{"id": "x"}]},
        {"calls": "junk"},
        {"calls": [{"id": "x", "tool": "t", "arguments": "a"}]},
    ):
        items = paused_items()
        items[-1] = Message("control", name="pending", data=broken)
        with pytest.raises(UsageError):
            Agent.status(InMemorySession(items=items))
    assert ran(effects) == []


def test_pitfall_duplicate_call_ids_run_right_tool(tmp_path, effects):
    """A server that gives every call the same id, in one reply and again in the next turn: each
    decision reaches exactly its call, each result its call, and a decision on an earlier turn's
    id never matches a later call."""
    with ScriptedServer() as server:
        server.replies = [
            native(
                ("dup", "remove", {"path": "a.txt"}),
                ("dup", "note", {"text": "x"}),
                ("dup", "remove", {"path": "b.txt"}),
            ),
            native(("dup", "remove", {"path": "c.txt"})),
            "Done.",
        ]
        a = Agent(OpenAICompatibleLLM(server.url, "scripted-model"), durable_worker.TOOLS, protocol="openai")
        session = SQLiteSession("c", tmp_path / "s.db")
        r = a.run("Tidy up.", session=session)
        by_path = {p.arguments["path"]: p.id for p in r.pending}
        assert sorted(by_path) == ["a.txt", "b.txt"] and len(set(by_path.values())) == 2
        assert ran(effects) == ["note x"]
        r = a.resume(session, approve=[by_path["b.txt"]], reject={by_path["a.txt"]: "keep a"})
        assert r.status == "needs_approval" and ran(effects) == ["note x", "remove b.txt"]
        (later,) = r.pending
        assert later.arguments == {"path": "c.txt"} and later.id not in by_path.values()
        with pytest.raises(UsageError, match="not waiting"):
            a.resume(session, approve=[by_path["b.txt"]])  # the earlier turn's id
        assert a.resume(session, approve=[later.id]).answer == "Done."
        sent = server.completions[1]["messages"]
    assert ran(effects) == ["note x", "remove b.txt", "remove c.txt"]
    ids = [c["id"] for c in sent[-4]["tool_calls"]]
    results = {m["tool_call_id"]: m["content"] for m in sent[-3:]}
    assert len(set(ids)) == 3 and [m["tool_call_id"] for m in sent[-3:]] == ids  # each result after its call
    assert "keep a" in results[ids[0]] and results[ids[1]] == "note x: done"
    assert results[ids[2]] == "remove b.txt: done"


def test_pitfall_trailing_call_not_approved(effects):
    """Approving one call of a reply approves that one only: the calls after it wait, whether
    they come after other gated calls or after calls that needed no approval."""
    reply = hermes(
        ("remove", {"path": "a.txt"}),
        ("note", {"text": "x"}),
        ("remove", {"path": "b.txt"}),
        ("remove", {"path": "c.txt"}),
    )
    a = agent([reply, "Done."])
    session = InMemorySession()
    r = a.run("q", session=session)
    first, *trailing = r.pending
    assert [p.arguments["path"] for p in trailing] == ["b.txt", "c.txt"]
    r = a.resume(session, approve=[first.id])
    assert r.status == "needs_approval" and [p.id for p in r.pending] == [p.id for p in trailing]
    assert ran(effects) == ["note x", "remove a.txt"]
    r = a.resume(session, reject={trailing[0].id: "no"})
    assert r.status == "needs_approval" and [p.id for p in r.pending] == [trailing[1].id]
    assert ran(effects) == ["note x", "remove a.txt"]

    def only_abs(args: dict[str, Any]) -> bool:
        return str(args["path"]).startswith("/")

    gated = agent(
        [hermes(("remove", {"path": "rel.txt"}), ("remove", {"path": "/abs"})), "x"], approvals={"remove": only_abs}
    )
    r = gated.run("q", session=InMemorySession())
    assert [p.arguments for p in r.pending] == [{"path": "/abs"}]
    assert ran(effects) == ["note x", "remove a.txt", "remove rel.txt"]  # the trailing /abs did not run


GOT: list[dict[str, Any]] = []


@tool(needs_approval=True)
def transfer(account: str, amount: int, memo: dict, dry_run: bool = True) -> str:
    """Transfer money.

    Args:
        account: where to
        amount: how much, in cents
        memo: a note for the books
        dry_run: only pretend
    """
    GOT.append({"account": account, "amount": amount, "memo": memo, "dry_run": dry_run})
    return "sent"


def test_pitfall_approver_sees_executed_arguments(tmp_path):
    """What the approver is shown, read back from the store in a new session object, is what
    the tool is called with: nested values, unicode, big numbers, every argument."""
    GOT.clear()
    args = {"account": "DE89 3704 ✓", "amount": 2**53 + 1, "memo": {"lines": ["a", {"b": 0.1}]}, "dry_run": False}
    db = tmp_path / "s.db"
    a = Agent(ScriptedLLM([hermes(("transfer", args)), "Sent."]), [transfer], protocol="hermes")
    a.run("Pay.", session=SQLiteSession("c", db))
    (shown,) = Agent.status(SQLiteSession("c", db)).pending
    assert shown.arguments == args
    assert a.resume(SQLiteSession("c", db), approve=[shown.id]).status == "ok"
    assert GOT == [shown.arguments]


def test_pitfall_approver_sees_validated_arguments_and_defaults():
    GOT.clear()
    args = {"account": "x", "amount": "100", "memo": {}}
    a = Agent(ScriptedLLM([hermes(("transfer", args)), "Sent."]), [transfer], protocol="hermes")
    session = InMemorySession()
    (shown,) = a.run("Pay.", session=session).pending
    a.resume(session, approve=[shown.id])
    assert GOT == [shown.arguments]


def test_pitfall_pending_survives_reload(tmp_path, effects):
    """A process that only has the store (a reloaded page, another server) sees the same
    pending calls, after a partial decision too, and may not ask past them."""
    db = tmp_path / "s.db"
    a = agent([hermes(("remove", {"path": "a.txt"}), ("remove", {"path": "b.txt"})), "Done."])
    r = a.run("q", session=SQLiteSession("c", db))
    seen = worker(db, "c", "scripted:x", tmp_path, "status")
    assert seen == {"state": "needs_approval", "pending": [p.to_dict() for p in r.pending]}
    r2 = a.resume(SQLiteSession("c", db), approve=[r.pending[0].id])
    assert (
        worker(db, "c", "scripted:x", tmp_path, "status")["pending"]
        == [r.pending[1].to_dict()]
        == [p.to_dict() for p in r2.pending]
    )
    out = worker(db, "c", "scripted:x", tmp_path, "ask", "something else")
    assert out["error_type"] == "UsageError" and r.pending[1].id in out["message"]
    assert ran(effects) == ["remove a.txt"]


def test_pitfall_decision_not_consumed_before_failure(tmp_path, effects):
    """The model server fails after an approved call ran: its result is recorded, and going on
    runs the model again, never the call."""
    with ScriptedServer() as server:
        server.replies = [native(("r1", "remove", {"path": "a.txt"})), {"status": 400, "error": "bad"}, "Removed."]
        a = Agent(
            OpenAICompatibleLLM(server.url, "scripted-model", max_retries=0), durable_worker.TOOLS, protocol="openai"
        )
        session = SQLiteSession("c", tmp_path / "s.db")
        a.run("Remove a.txt.", session=session)
        r = a.resume(session, approve=["r1"])
        assert r.status == "error" and ran(effects) == ["remove a.txt"]
        assert Agent.status(session).state == "unanswered"
        r = a.resume(SQLiteSession("c", tmp_path / "s.db"))
        assert r.status == "ok" and r.answer == "Removed."
        assert server.completions[-1]["messages"][-1]["content"] == "remove a.txt: done"
    assert ran(effects) == ["remove a.txt"]


def test_pitfall_decision_kept_when_the_run_fails_before_the_call(tmp_path, effects):
    with ScriptedServer() as server:
        server.replies = [native(("r1", "remove", {"path": "a.txt"})), "Removed."]
        session = SQLiteSession("c", tmp_path / "s.db")
        Agent(OpenAICompatibleLLM(server.url, "scripted-model"), durable_worker.TOOLS, protocol="openai").run(
            "Remove a.txt.", session=session
        )
        down = OpenAICompatibleLLM("http://127.0.0.1:9/v1", max_retries=0)  # auto: asks the server its model
        r = Agent(down, durable_worker.TOOLS, protocol="auto").resume(session, approve=["r1"])
        assert r.status == "error" and ran(effects) == []
        up = Agent(OpenAICompatibleLLM(server.url, "scripted-model"), durable_worker.TOOLS, protocol="openai")
        # either fix keeps the person's yes: the call still waits, or it runs on the next resume
        again = ["r1"] if Agent.status(session).state == "needs_approval" else []
        r = up.resume(session, approve=again)
        assert r.answer == "Removed." and ran(effects) == ["remove a.txt"]


def test_pitfall_interrupted_node_not_rerun(tmp_path, effects):
    """A reply whose other call ran before the pause: resumed in another process, only the
    approved call runs; the other one and the model's paused turn are not done again."""
    db = tmp_path / "s.db"
    with ScriptedServer() as server:
        server.replies = [native(("n1", "note", {"text": "x"}), ("r1", "remove", {"path": "a.txt"})), "Done."]
        a = Agent(OpenAICompatibleLLM(server.url, "scripted-model"), durable_worker.TOOLS, protocol="openai")
        assert a.run("q", session=SQLiteSession("c", db)).status == "needs_approval"
        assert ran(effects) == ["note x"]
        out = worker(db, "c", server.url, tmp_path, "resume", "--approve", "r1")
        assert out["status"] == "ok" and out["answer"] == "Done."
        assert len(server.completions) == 2  # the paused turn was not asked again
    assert effects.read_text().splitlines() == ["start note x", "end note x", "start remove a.txt", "end remove a.txt"]
