"""A tool's question over `liteagent serve` (issue 24), with the official `openai` client: a client
that says it answers (``x_liteagent: {"elicitation": true}``) gets the run stopped with the
question (``input_required``); its answer in a follow-up on the session, from any server process
sharing the store, runs the tool again with it. A client that did not say so gets the question
declined. Real `liteagent serve` processes on loopback, a scripted model server behind them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

openai = pytest.importorskip("openai")

from . import test_serve as serve_tests  # noqa: E402
from .test_serve_approval import ask, decide, last_prompt, streamed  # noqa: E402

PLUGIN = '''
from pathlib import Path
from liteagent import BaseAction, tool_api
from liteagent.actions.context import ToolContext

DIR = Path({dir!r})
FORM = {{
    "type": "object",
    "properties": {{"seat": {{"type": "string", "enum": ["aisle", "window"]}}, "meal": {{"type": "boolean", "default": False}}}},
    "required": ["seat"],
}}


class Flights(BaseAction):
    """Flight bookings."""

    @tool_api
    def book(self, flight: str, ctx: ToolContext) -> str:
        """Book a flight; the traveller picks the seat.

        Args:
            flight: the flight number
        """
        answer = ctx.elicit(f"Which seat on {{flight}}?", FORM)
        if not answer.accepted:
            return f"not booked ({{answer.action}})"
        with open(DIR / "booked.log", "a") as f:
            f.write(f"{{flight}} {{answer.content['seat']}} meal={{answer.content['meal']}}\\n")
        return f"booked {{flight}}: {{answer.content['seat']}}"
'''

CALL = '<tool_call>{"name": "Flights.book", "arguments": {"flight": "LA7"}}</tool_call>'
FORM = {
    "type": "object",
    "properties": {
        "seat": {"type": "string", "enum": ["aisle", "window"]},
        "meal": {"type": "boolean", "default": False},
    },
    "required": ["seat"],
}


@pytest.fixture
def service(server, tmp_path):
    plugin = tmp_path / "flights_plugin.py"
    plugin.write_text(PLUGIN.format(dir=str(tmp_path)))
    made: list[serve_tests.Service] = []

    def make() -> serve_tests.Service:
        s = serve_tests.Service(
            server.url, "--plugin", f"{plugin}:Flights", sessions=str(tmp_path / "sessions.sqlite3")
        )
        made.append(s)
        return s

    yield make
    for s in made:
        if s.proc.poll() is None:
            s.stop()


def booked(tmp_path: Path) -> list[str]:
    log = tmp_path / "booked.log"
    return log.read_text().splitlines() if log.exists() else []


ANSWERS = {"extra_body": {"x_liteagent": {"elicitation": True}}}


def test_the_question_stops_the_run_and_the_answer_from_another_process_books(service, server, tmp_path):
    server.replies = ["Booking it. " + CALL, "Booked an aisle seat on LA7."]
    one, two = service(), service()  # two processes sharing the SQLite store
    r = ask(one.client(), "Book LA7", "q-1", **ANSWERS)
    choice = r.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content == "Booking it."
    (tc,) = choice.message.tool_calls
    assert tc.function.name == "Flights.book" and json.loads(tc.function.arguments) == {"flight": "LA7"}
    extra = choice.message.model_extra["x_liteagent"]
    question = {"message": "Which seat on LA7?", "schema": FORM}
    pending = [{"id": tc.id, "tool": "Flights.book", "arguments": {"flight": "LA7"}, "question": question}]
    assert extra == {"type": "input_required", "session": "q-1", "pending": pending}
    assert booked(tmp_path) == []
    r = decide(two.client(), "q-1", answers={tc.id: {"action": "accept", "content": {"seat": "aisle"}}})
    assert r.choices[0].message.content == "Booked an aisle seat on LA7." and r.choices[0].finish_reason == "stop"
    assert booked(tmp_path) == ["LA7 aisle meal=False"]  # the form's default filled in
    assert "booked LA7: aisle" in last_prompt(server)


def test_streamed_and_declined(service, server, tmp_path):
    server.replies = [CALL, "Nothing booked."]
    c = service().client()
    paused = streamed(ask(c, "Book LA7", "q-2", stream=True, **ANSWERS))
    assert paused["finish"] == ["tool_calls"]
    (tc,) = paused["calls"].values()
    last = paused["extra"][-1]
    assert last["type"] == "input_required" and last["pending"][0]["question"]["message"] == "Which seat on LA7?"
    answer = streamed(decide(c, "q-2", answers={tc["id"]: {"action": "decline"}}, stream=True))
    assert answer["text"] == "Nothing booked." and answer["finish"] == ["stop"]
    assert booked(tmp_path) == [] and "not booked (decline)" in last_prompt(server)


def test_bad_answers_are_one_line_400s_and_the_question_stays(service, server, tmp_path):
    server.replies = [CALL, "ok"]
    c = service().client()
    tc = ask(c, "Book LA7", "q-3", **ANSWERS).choices[0].message.tool_calls[0]
    for bad, words in (
        ({tc.id: {"seat": "aisle"}}, "x_liteagent.answers must map"),  # not an ElicitResult
        ({tc.id: {"action": "accept", "content": {"seat": "roof"}}}, "does not fit its form"),
        ({"call_x": {"action": "accept", "content": {}}}, "not waiting"),
    ):
        with pytest.raises(openai.BadRequestError) as err:
            decide(c, "q-3", answers=bad)
        assert words in str(err.value) and "Traceback" not in str(err.value)
    with pytest.raises(openai.ConflictError) as err:  # 409, as for calls waiting for approval
        ask(c, "Something else", "q-3")
    assert "waits for an answer" in str(err.value)
    assert booked(tmp_path) == []
    r = decide(c, "q-3", answers={tc.id: {"action": "accept", "content": {"seat": "window", "meal": True}}})
    assert r.choices[0].finish_reason == "stop" and booked(tmp_path) == ["LA7 window meal=True"]


def test_a_client_that_did_not_say_it_answers_gets_the_question_declined(service, server, tmp_path):
    server.replies = [CALL, "I could not book it without a seat."]
    r = ask(service().client(), "Book LA7", "q-4")
    assert (
        r.choices[0].finish_reason == "stop" and r.choices[0].message.content == "I could not book it without a seat."
    )
    assert "not booked (decline)" in last_prompt(server) and booked(tmp_path) == []
