"""Approval before a tool runs and going on from the session (issue 20, sections 2-3, the core)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from liteagent import Agent, InMemorySession, ScriptedLLM, ScriptedReply, SQLiteSession, UsageError, tool
from liteagent.errors import RunConflict
from liteagent.events import ApprovalRequired

RAN: list[str] = []


@tool(needs_approval=True)
def delete(path: str) -> str:
    """Delete a file.

    Args:
        path: the file
    """
    RAN.append(path)
    return f"deleted {path}"


@tool
def add(a: int, b: int) -> int:
    """Add two numbers.

    Args:
        a: first
        b: second
    """
    return a + b


TWO = '<tool_call>{"name": "delete", "arguments": {"path": "/x"}}</tool_call><tool_call>{"name": "add", "arguments": {"a": 1, "b": 2}}</tool_call>'


@pytest.fixture(autouse=True)
def _clear() -> None:
    RAN.clear()


def test_a_run_stops_before_the_call_and_runs_the_others() -> None:
    session = InMemorySession()
    agent = Agent(ScriptedLLM([TWO, "done"]), [delete, add], protocol="hermes")
    events = list(agent.stream("delete /x, add 1 and 2", session=session))
    last = events[-1]
    assert isinstance(last, ApprovalRequired) and last.result.status == "needs_approval"
    assert [(p.tool, p.arguments) for p in last.pending] == [("delete", {"path": "/x"})]
    assert RAN == []  # not run
    assert any(m.role == "tool" and m.name == "add" for m in session.items)  # the other call ran
    assert Agent.status(session).state == "needs_approval"


def test_resume_approved_gives_the_uninterrupted_prompt_byte_for_byte() -> None:
    for protocol in ("hermes", "internlm2"):
        reply = (
            TWO
            if protocol == "hermes"
            else ('<|action_start|><|plugin|>\n{"name": "delete", "parameters": {"path": "/x"}}<|action_end|>\n')
        )
        paused_llm, plain_llm = ScriptedLLM([reply, "done"]), ScriptedLLM([reply, "done"])
        session = InMemorySession()
        agent = Agent(paused_llm, [delete, add], protocol=protocol)
        r = agent.run("q", session=session)
        r = agent.resume(session, approve=[r.pending[0].id])
        assert r.status == "ok" and r.answer == "done" and RAN == ["/x"]
        Agent(plain_llm, [delete, add], protocol=protocol, approvals={"delete": False}).run("q")
        assert paused_llm.prompts[-1] == plain_llm.prompts[-1]
        RAN.clear()


def test_rejection_reaches_the_model_with_its_reason() -> None:
    llm = ScriptedLLM([TWO, "ok"])
    agent = Agent(llm, [delete, add], protocol="hermes")
    session = InMemorySession()
    r = agent.run("q", session=session)
    r = agent.resume(session, reject={r.pending[0].id: "not that file"})
    assert RAN == [] and r.status == "ok"
    assert "not that file" in str(llm.prompts[-1]) and "did not approve" in str(llm.prompts[-1])


def test_always_approves_the_tool_for_the_rest_of_the_conversation() -> None:
    one = '<tool_call>{"name": "delete", "arguments": {"path": "/a"}}</tool_call>'
    two = '<tool_call>{"name": "delete", "arguments": {"path": "/b"}}</tool_call>'
    agent = Agent(ScriptedLLM([one, "a gone", two, "b gone"]), [delete], protocol="hermes")
    session = InMemorySession()
    r = agent.run("delete a", session=session)
    assert agent.resume(session, always=["delete"]).answer == "a gone"
    r = agent.run("delete b", session=session)  # no pause: approved "always"
    assert r.status == "ok" and RAN == ["/a", "/b"]


def test_bad_decisions_are_clear_errors_and_change_nothing() -> None:
    agent = Agent(ScriptedLLM([TWO, "done", "again"]), [delete, add], protocol="hermes")
    session = InMemorySession()
    r = agent.run("q", session=session)
    n = len(session.items)
    with pytest.raises(UsageError, match="not waiting for a decision"):
        agent.resume(session, approve=["call_99"])
    with pytest.raises(UsageError, match="wait for a decision"):
        agent.resume(session)  # nothing decided
    with pytest.raises(UsageError, match="wait for a decision"):
        agent.run("something else", session=session)
    with pytest.raises(UsageError, match="no tool"):
        agent.resume(session, always=["nosuch"])
    assert len(session.items) == n and RAN == []
    stale = r.pending[0].id
    agent.resume(session, approve=[stale])
    with pytest.raises(UsageError, match="nothing to resume"):
        agent.resume(session)
    with pytest.raises(UsageError):
        agent.resume(session, approve=[stale])  # stale: decided already
    assert RAN == ["/x"]


def test_rules_callable_fail_closed_and_agent_overrides() -> None:
    def risky(args: dict) -> bool:
        if args["path"] == "/boom":
            raise ValueError("rule broke")
        return args["path"].startswith("/")

    @tool(needs_approval=risky)
    def rm(path: str) -> str:
        """Remove.

        Args:
            path: what
        """
        RAN.append(path)
        return "ok"

    def call(path: str) -> str:
        return f'<tool_call>{{"name": "rm", "arguments": {{"path": "{path}"}}}}</tool_call>'

    assert Agent(ScriptedLLM([call("rel"), "x"]), [rm], protocol="hermes").run("q").status == "ok"
    assert Agent(ScriptedLLM([call("/abs"), "x"]), [rm], protocol="hermes").run("q").status == "needs_approval"
    assert Agent(ScriptedLLM([call("/boom"), "x"]), [rm], protocol="hermes").run("q").status == "needs_approval"
    gated = Agent(
        ScriptedLLM(['<tool_call>{"name": "add", "arguments": {"a": 1, "b": 2}}</tool_call>', "3"]),
        [add],
        protocol="hermes",
        approvals={"add": True},
    )
    assert gated.run("q").status == "needs_approval"
    with pytest.raises(UsageError, match="no tool"):
        Agent(ScriptedLLM([]), [add], approvals={"ad": True})


def test_partial_decisions_leave_the_rest_pending() -> None:
    both = (
        '<tool_call>{"name": "delete", "arguments": {"path": "/a"}}</tool_call>'
        '<tool_call>{"name": "delete", "arguments": {"path": "/b"}}</tool_call>'
    )
    agent = Agent(ScriptedLLM([both, "done"]), [delete], protocol="hermes")
    session = InMemorySession()
    r = agent.run("q", session=session)
    a, b = r.pending
    assert a.id != b.id
    r = agent.resume(session, approve=[a.id])
    assert r.status == "needs_approval" and [p.id for p in r.pending] == [b.id] and RAN == ["/a"]
    r = agent.resume(session, reject={b.id: "no"})
    assert r.status == "ok" and RAN == ["/a"]


def test_duplicate_ids_from_a_server_run_the_right_tool() -> None:
    reply = ScriptedReply(
        tool_calls=[
            {"id": "same", "name": "add", "arguments": {"a": 1, "b": 1}},
            {"id": "same", "name": "delete", "arguments": {"path": "/d"}},
        ]
    )
    agent = Agent(ScriptedLLM([reply, "done"]), [delete, add], protocol="openai")
    session = InMemorySession()
    r = agent.run("q", session=session)
    (p,) = r.pending
    assert p.tool == "delete"
    assert agent.resume(session, approve=[p.id]).status == "ok" and RAN == ["/d"]


def test_a_decided_call_never_runs_twice_when_the_model_then_fails() -> None:
    one = '<tool_call>{"name": "delete", "arguments": {"path": "/a"}}</tool_call>'
    llm = ScriptedLLM([one])  # no reply left after the call: the model fails
    agent = Agent(llm, [delete], protocol="hermes")
    session = InMemorySession()
    r = agent.run("q", session=session)
    r = agent.resume(session, approve=[r.pending[0].id])
    assert r.status == "error" and RAN == ["/a"]
    llm.outputs.append("gone")
    r = agent.resume(session)  # the model again, the call not
    assert r.answer == "gone" and RAN == ["/a"]


def test_a_cut_off_call_runs_again_only_if_idempotent() -> None:
    from liteagent import Message, ToolCall

    @tool(idempotent=True)
    def look(q: str) -> str:
        """Look.

        Args:
            q: what
        """
        RAN.append(q)
        return "seen"

    for fn, reran in ((look, True), (add, False)):
        RAN.clear()
        args = {"q": "x"} if fn is look else {"a": 1, "b": 2}
        name = "look" if fn is look else "add"
        session = InMemorySession(
            items=[Message("user", "q"), Message("assistant", "", [ToolCall(name, args, id="c1")])]
        )
        assert Agent.status(session).state == "cut_off"
        llm = ScriptedLLM(["done"])
        r = Agent(llm, [fn], protocol="hermes").resume(session)
        assert r.status == "ok"
        assert (RAN == ["x"]) is reran
        if not reran:
            assert "cut off while this call was running" in str(llm.prompts[-1])


def test_two_processes_resuming_one_run_one_wins(tmp_path) -> None:
    db = tmp_path / "s.db"
    agent = Agent(ScriptedLLM([TWO, "done"]), [delete, add], protocol="hermes")
    r = agent.run("q", session=SQLiteSession("s", db))
    # another process resumes first (the decision made there)
    code = textwrap.dedent(f"""
        import sys; sys.path.insert(0, {str(__import__("pathlib").Path(__file__).parent)!r})
        from test_approval import delete, add
        from liteagent import Agent, ScriptedLLM, SQLiteSession
        r = Agent(ScriptedLLM(["done there"]), [delete, add], protocol="hermes").resume(
            SQLiteSession("s", {str(db)!r}), approve=[{r.pending[0].id!r}])
        print(r.answer)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "done there", out.stderr
    with pytest.raises(UsageError):  # decided there: nothing waits here
        agent.resume(SQLiteSession("s", db), approve=[r.pending[0].id])


def test_the_claim_is_atomic(tmp_path) -> None:
    session = SQLiteSession("s", tmp_path / "s.db")
    agent = Agent(ScriptedLLM([TWO, "done"]), [delete, add], protocol="hermes")
    r = agent.run("q", session=session)
    steps = agent.resume_stream(session, approve=[r.pending[0].id])
    # another writer gets in between this resumer's read and its claim
    first = iter(steps)
    from liteagent import Message

    original = session.get_items_now

    def read_then_someone_writes(limit=None):
        items = original(limit)
        session.add_items_now([Message("control", name="resume", data={"approve": [], "reject": {}, "always": []})])
        return items

    session.get_items_now = read_then_someone_writes  # type: ignore[method-assign]
    with pytest.raises(RunConflict):
        next(first)
    assert RAN == []
