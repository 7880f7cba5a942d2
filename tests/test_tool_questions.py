"""A tool's question for a person who answers later (issue 24: elicitation in the web chat and a
`serve` client, through the same channel as tool approval): under ``ask_person="pause"`` the run
stops with the question recorded in its session, and ``resume(answers=...)`` in any process runs
the call again with the answer; the model then sees what an uninterrupted run would have shown."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from liteagent import Agent, InMemorySession, ScriptedLLM, SQLiteSession, UsageError, tool
from liteagent.actions.context import Elicited, ToolContext
from liteagent.events import ApprovalRequired

BOOKED: list[str] = []
FORM = {
    "type": "object",
    "properties": {
        "seat": {"type": "string", "enum": ["aisle", "window"]},
        "meal": {"type": "boolean", "default": True},
    },
    "required": ["seat"],
}


@tool
def book(flight: str, ctx: ToolContext) -> str:
    """Book a flight, asking the traveller for a seat.

    Args:
        flight: the flight number
    """
    answer = ctx.elicit(f"Which seat on {flight}?", FORM)
    if not answer.accepted:
        return f"not booked ({answer.action})"
    BOOKED.append(f"{flight}:{answer.content['seat']}")  # the side effect after the question
    return f"booked {flight}, {answer.content['seat']} seat, meal {answer.content['meal']}"


@tool
def book_twice(flight: str, ctx: ToolContext) -> str:
    """Book a flight, asking for a seat and then a name.

    Args:
        flight: the flight number
    """
    seat = ctx.elicit("Seat?", FORM)
    name = ctx.elicit("Name?", {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]})
    BOOKED.append(f"{flight}:{seat.content.get('seat')}:{name.content.get('name')}")
    return f"{name.content.get('name')} booked on {flight} ({seat.content.get('seat')})"


@tool
def add(a: int, b: int) -> int:
    """Add two numbers.

    Args:
        a: first
        b: second
    """
    return a + b


CALL = '<tool_call>{"name": "book", "arguments": {"flight": "LA123"}}</tool_call>'
BOTH = CALL + '<tool_call>{"name": "add", "arguments": {"a": 1, "b": 2}}</tool_call>'


@pytest.fixture(autouse=True)
def _clear() -> None:
    BOOKED.clear()


def test_the_run_stops_with_the_question_and_the_answer_runs_the_call_again() -> None:
    session = InMemorySession()
    llm = ScriptedLLM([CALL, "done"])
    agent = Agent(llm, [book], protocol="hermes", ask_person="pause")
    events = list(agent.stream("book LA123", session=session))
    last = events[-1]
    assert isinstance(last, ApprovalRequired) and last.result.status == "needs_input"
    (p,) = last.result.pending
    assert p.kind == "question" and p.tool == "book" and p.arguments == {"flight": "LA123"}
    assert p.question == {"message": "Which seat on LA123?", "schema": FORM}
    assert BOOKED == [] and not any(m.role == "tool" for m in session.items)  # no result recorded
    assert Agent.status(session).state == "needs_approval" and Agent.status(session).pending[0].question
    r = agent.resume(session, answers={p.id: {"seat": "aisle"}})
    assert r.status == "ok" and r.answer == "done" and BOOKED == ["LA123:aisle"]
    # the form's default filled in; the model read the result of the call that ran with the answer
    assert "booked LA123, aisle seat, meal True" in str(llm.prompts[-1])


def test_after_the_answer_the_prompt_is_byte_identical_to_a_person_answering_at_once() -> None:
    for protocol, reply in (
        ("hermes", CALL),
        (
            "internlm2",
            '<|action_start|><|plugin|>\n{"name": "book", "parameters": {"flight": "LA123"}}<|action_end|>\n',
        ),
    ):
        paused_llm, plain_llm = ScriptedLLM([reply, "done"]), ScriptedLLM([reply, "done"])
        session = InMemorySession()
        agent = Agent(paused_llm, [book], protocol=protocol, ask_person="pause")
        r = agent.run("q", session=session)
        assert agent.resume(session, answers={r.pending[0].id: {"seat": "window"}}).status == "ok"
        at_once = Agent(
            plain_llm, [book], protocol=protocol, ask_person=lambda m, s: Elicited("accept", {"seat": "window"})
        )
        assert at_once.run("q").status == "ok"
        assert paused_llm.prompts[-1] == plain_llm.prompts[-1]
        assert BOOKED == ["LA123:window", "LA123:window"]
        BOOKED.clear()


def test_the_other_calls_of_the_turn_run_and_keep_their_results() -> None:
    llm = ScriptedLLM([BOTH, "done"])
    session = InMemorySession()
    agent = Agent(llm, [book, add], protocol="hermes", ask_person="pause")
    r = agent.run("q", session=session)
    assert r.status == "needs_input" and [p.tool for p in r.pending] == ["book"]
    assert [m.name for m in session.items if m.role == "tool"] == ["add"]  # it ran
    r = agent.resume(session, answers={r.pending[0].id: "decline"})
    assert r.status == "ok" and BOOKED == []
    # the results in the calls' order, as an uninterrupted run records them
    prompt = str(llm.prompts[-1])
    assert "not booked (decline)" in prompt and prompt.index("not booked (decline)") < prompt.rindex("3")


def test_a_second_question_stops_the_run_again_and_both_answers_reach_the_rerun() -> None:
    call = '<tool_call>{"name": "book_twice", "arguments": {"flight": "LA9"}}</tool_call>'
    llm = ScriptedLLM([call, "done"])
    session = InMemorySession()
    agent = Agent(llm, [book_twice], protocol="hermes", ask_person="pause")
    r = agent.run("q", session=session)
    cid = r.pending[0].id
    assert r.pending[0].question["message"] == "Seat?"
    r = agent.resume(session, answers={cid: {"seat": "aisle"}})
    assert r.status == "needs_input" and r.pending[0].question["message"] == "Name?"
    assert r.pending[0].answers == [{"action": "accept", "content": {"seat": "aisle", "meal": True}}]
    assert BOOKED == []
    r = agent.resume(session, answers={cid: {"name": "Ada"}})
    assert r.status == "ok" and BOOKED == ["LA9:aisle:Ada"]
    assert "Ada booked on LA9 (aisle)" in str(llm.prompts[-1])


def test_wrong_answers_are_clear_errors_and_change_nothing() -> None:
    agent = Agent(ScriptedLLM([CALL, "done"]), [book], protocol="hermes", ask_person="pause")
    session = InMemorySession()
    r = agent.run("q", session=session)
    cid = r.pending[0].id
    n = len(session.items)
    with pytest.raises(UsageError, match="does not fit its form"):
        agent.resume(session, answers={cid: {"seat": "roof"}})
    with pytest.raises(UsageError, match="does not fit its form"):
        agent.resume(session, answers={cid: {}})  # the required seat left out
    with pytest.raises(UsageError, match="not an approval"):
        agent.resume(session, approve=[cid])
    with pytest.raises(UsageError, match="not waiting"):
        agent.resume(session, answers={"call_9": {"seat": "aisle"}})
    with pytest.raises(UsageError, match="waits for an answer"):
        agent.resume(session)
    with pytest.raises(UsageError, match="waits for an answer"):
        agent.run("something else", session=session)
    with pytest.raises(UsageError, match="decline"):
        agent.resume(session, answers={cid: 5})
    assert len(session.items) == n and BOOKED == []
    assert agent.resume(session, reject={cid: "no flights today"}).status == "ok"  # refusing the call
    assert BOOKED == []


def test_without_pause_a_question_nobody_can_answer_is_declined() -> None:
    r = Agent(ScriptedLLM([CALL, "done"]), [book], protocol="hermes").run("q")
    assert r.status == "ok" and BOOKED == [] and "not booked (decline)" in str(r.steps[0].results[0].result[0].content)
    with pytest.raises(UsageError, match="pause"):
        Agent(ScriptedLLM(["x"]), [book], ask_person="later")  # type: ignore[arg-type]


def test_a_tool_that_swallows_the_stop_still_waits_for_the_answer() -> None:
    @tool
    def stubborn(ctx: ToolContext) -> str:
        """Ask, and carry on whatever happens."""
        try:
            ctx.elicit("Sure?", {"type": "object", "properties": {}})
        except Exception:
            pass
        BOOKED.append("went on")
        return "went on"

    call = '<tool_call>{"name": "stubborn", "arguments": {}}</tool_call>'
    session = InMemorySession()
    agent = Agent(ScriptedLLM([call, "done"]), [stubborn], protocol="hermes", ask_person="pause")
    r = agent.run("q", session=session)
    assert r.status == "needs_input" and not any(m.role == "tool" for m in session.items)
    assert agent.resume(session, answers={r.pending[0].id: {}}).status == "ok"


def test_the_answer_comes_from_another_process(tmp_path) -> None:
    db = tmp_path / "s.db"
    llm_replies = [CALL, "done"]
    agent = Agent(ScriptedLLM(llm_replies), [book], protocol="hermes", ask_person="pause")
    r = agent.run("q", session=SQLiteSession("c1", db))
    cid = r.pending[0].id
    script = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(__file__.rsplit("/", 1)[0])!r})
        from test_tool_questions import book, BOOKED, CALL
        from liteagent import Agent, ScriptedLLM, SQLiteSession
        agent = Agent(ScriptedLLM(["done"]), [book], protocol="hermes", ask_person="pause")
        r = agent.resume(SQLiteSession("c1", {str(db)!r}), answers={{{cid!r}: {{"seat": "window"}}}})
        print(r.status, r.answer, BOOKED)
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[0] == "ok done ['LA123:window']"
    assert Agent.status(SQLiteSession("c1", db)).state == "done"


def test_on_a_loop_calls_run_at_once_and_the_asking_one_waits() -> None:
    import asyncio

    @tool
    async def ask_city(ctx: ToolContext) -> str:
        """Ask for a city."""
        answer = await ctx.aelicit("City?", {"type": "object", "properties": {"city": {"type": "string"}}})
        return f"{answer.action}:{answer.content.get('city', '')}"

    two = '<tool_call>{"name": "ask_city", "arguments": {}}</tool_call><tool_call>{"name": "book", "arguments": {"flight": "X1"}}</tool_call>'
    session = InMemorySession()
    llm = ScriptedLLM([two, "done"])
    agent = Agent(llm, [ask_city, book], protocol="hermes", ask_person="pause")

    async def go():
        r = await agent.arun("q", session=session)
        assert r.status == "needs_input" and sorted(p.tool for p in r.pending) == ["ask_city", "book"]
        ids = {p.tool: p.id for p in r.pending}
        r = await agent.aresume(session, answers={ids["book"]: "cancel"})  # one answered: the other still waits
        assert r.status == "needs_input" and [p.tool for p in r.pending] == ["ask_city"]
        return await agent.aresume(session, answers={ids["ask_city"]: {"city": "Rome"}})

    r = asyncio.run(go())
    assert r.status == "ok" and r.answer == "done"
    # the results in the calls' order in what the model reads, whichever was answered first
    prompt = str(llm.prompts[-1])
    assert -1 < prompt.index("accept:Rome") < prompt.index("not booked (cancel)")


def test_answers_reach_the_call_on_the_sync_api_over_an_event_loop_too() -> None:
    class Stored(InMemorySession):  # a session the sync API drives on an event loop
        pass

    session = Stored()
    agent = Agent(ScriptedLLM([CALL, "one", CALL, "two"]), [book], protocol="hermes", ask_person="pause")
    r = agent.run("q", session=session)
    r = agent.resume(session, answers={r.pending[0].id: {"seat": "window", "meal": False}})
    assert r.status == "ok" and BOOKED == ["LA123:window"]
    r = agent.run("again", session=session)
    events = list(agent.resume_stream(session, answers={r.pending[0].id: {"seat": "aisle"}}))
    assert events[-1].result.answer == "two" and BOOKED == ["LA123:window", "LA123:aisle"]
