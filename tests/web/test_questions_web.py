"""A tool's question for the person in the web chat (issue 24): the run stops with the question (in
its session: a reload or a restart shows it again), the page shows the tool's words and a field per
property of its form, Send resumes the run with the answer (the tool runs again with it), Decline
declines; an answer that does not fit the form is said in one line and the question stays. AppTest
for the page's logic, then real headless Chromium against a `liteagent web` process restarted for
real, both talking to the scripted model server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .page import shown
from .test_approval_web import WebProcess, _ask, _button, _wait_answer, buttons, model_bodies
from .test_browser import ARTIFACTS, CHROMIUM, FLAGS, _browser_or_skip

BOOKING = '''
from liteagent import BaseAction, tool_api
from liteagent.actions.context import ToolContext

FORM = {
    "type": "object",
    "properties": {
        "seat": {"type": "string", "title": "Seat", "enum": ["aisle", "window"], "enumNames": ["Aisle", "Window"]},
        "bags": {"type": "integer", "title": "Bags", "minimum": 0, "maximum": 3},
        "meal": {"type": "boolean", "title": "Meal", "default": True},
        "name": {"type": "string", "title": "Name on the ticket", "description": "as in the passport"},
    },
    "required": ["seat", "name"],
}


class Booking(BaseAction):
    """Flight bookings: the traveller chooses the seat."""

    @tool_api
    def book(self, flight: str, ctx: ToolContext) -> str:
        """Book a flight.

        Args:
            flight: the flight number
        """
        answer = ctx.elicit(MESSAGE.format(flight=flight), FORM)
        if not answer.accepted:
            return f"not booked ({answer.action})"
        c = answer.content
        line = f"{flight} {c['name']} {c['seat']} bags={c.get('bags', 0)} meal={c['meal']}"
        with open(PATH, "a", encoding="utf-8") as f:  # the side effect, after the question
            f.write(line + "\\n")
        return "booked: " + line
'''


def call(flight: str = "LA123") -> str:
    return f"<tool_call>{json.dumps({'name': 'Booking.book', 'arguments': {'flight': flight}})}</tool_call>"


def booked(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines() if path.exists() else []


@pytest.fixture
def booking(tmp_path):
    """The plugin file (asking MESSAGE; its bookings written to tmp_path) and the bookings' path."""

    def make(message: str = "Which seat on {flight}?") -> tuple[str, Path]:
        path = tmp_path / "bookings.txt"
        plugin = tmp_path / "booking_plugin.py"
        plugin.write_text(f"PATH = {str(path)!r}\nMESSAGE = {message!r}\n" + BOOKING)
        return f"{plugin}:Booking", path

    return make


@pytest.fixture
def booking_page(web_env, app_test, booking):
    spec, path = booking()
    web_env(plugins=[spec], extra_specs=[spec])
    return app_test, path


def field(widgets, label):
    (w,) = [w for w in widgets if w.label.replace("\\", "") == label]
    return w


def ask(at, text):
    at.chat_input[0].set_value(text).run()
    assert not at.exception, at.exception
    return at


def test_the_form_is_shown_and_send_runs_the_tool_with_the_answer(booking_page, server):
    app_test, path = booking_page
    server.replies = [call(), "Booked you an aisle seat."]
    at = ask(app_test("ann").run(), "Book LA123")
    assert booked(path) == []
    assert any(x.value == "Which seat on LA123?" for x in at.text)  # the tool's words, as text
    assert any("waiting for your answer" in e.label for e in at.expander)
    seat, bags, meal, name = (
        field(at.selectbox, "Seat *"), field(at.number_input, "Bags"), field(at.checkbox, "Meal"),
        field(at.text_input, "Name on the ticket *"),
    )  # fmt: skip
    assert meal.value is True and seat.value is None  # the form's default; no choice made for the person
    assert name.help == "as in the passport"
    seat.set_value("aisle")
    bags.set_value(2)
    name.set_value("Ada Lovelace")
    at.button(key=[b.key for b in at.button if b.label == "Send answer"][0]).click().run()
    assert not at.exception, at.exception
    assert booked(path) == ["LA123 Ada Lovelace aisle bags=2 meal=True"]
    assert "Booked you an aisle seat." in shown(at)
    assert "booked: LA123 Ada Lovelace aisle bags=2 meal=True" in model_bodies(server)[-1]
    assert not [b for b in at.button if b.label == "Send answer"]  # nothing waits any more


def test_decline_reaches_the_tool_and_the_model(booking_page, server):
    app_test, path = booking_page
    server.replies = [call(), "You declined, so nothing was booked."]
    at = ask(app_test("bob").run(), "Book LA123")
    buttons(at, "Decline")[0].click().run()
    assert booked(path) == [] and "You declined, so nothing was booked." in shown(at)
    assert "not booked (decline)" in model_bodies(server)[-1]


def test_an_answer_that_does_not_fit_is_said_and_the_question_stays(booking_page, server):
    app_test, path = booking_page
    server.replies = [call(), "Booked."]
    at = ask(app_test("cat").run(), "Book LA123")
    field(at.selectbox, "Seat *").set_value("window")  # the required name left empty
    at.button(key=[b.key for b in at.button if b.label == "Send answer"][0]).click().run()
    assert not at.exception and booked(path) == []
    assert [w.value for w in at.warning if "does not fit its form" in w.value]
    assert [b for b in at.button if b.label == "Send answer"] and len(model_bodies(server)) == 1
    ask(at, "And the weather?")  # a new message while the question waits: shown back, not sent
    assert len(model_bodies(server)) == 1


def test_in_chromium_the_question_survives_a_restart_and_its_words_stay_text(booking, server, tmp_path, free_port):
    sync_playwright = _browser_or_skip()
    hostile = "<img src=x onerror='window.pwned=1'> **Seat** on {flight}? [link](https://evil.example/q)"
    spec, path = booking(hostile)
    web = WebProcess(server, tmp_path, free_port, spec)
    server.replies = [call("LA9"), "ANSWER-BOOKED: window seat on LA9."]
    try:
        url = web.start()
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 1100})
                page.goto(url)
                page.wait_for_selector("h1:has-text('liteagent')", timeout=30_000)
                _ask(page, "Book LA9")
                _button(page, "Send answer").wait_for(timeout=60_000)
                page.wait_for_function("() => location.search.includes('c=')", timeout=30_000)
                address = page.url
                web.stop()
                web.start()  # a new process on the same database: the question is read from the session
                page.goto(address)
                _button(page, "Send answer").wait_for(timeout=60_000)
                page.get_by_text("**Seat** on LA9?", exact=False).first.wait_for(timeout=30_000)
                assert page.evaluate("() => window.pwned === undefined")
                assert page.locator("a[href*='evil.example']").count() == 0
                assert page.locator("img[src=x]").count() == 0
                ARTIFACTS.mkdir(exist_ok=True)
                page.screenshot(path=str(ARTIFACTS / "web-question.png"), full_page=True)
                assert booked(path) == []
                _button(page, "Decline").click()  # the fields are filled in the server-everything test below
                _wait_answer(page, "ANSWER-BOOKED")
                assert booked(path) == [] and "not booked (decline)" in model_bodies(server)[-1]
                page.reload()
                _wait_answer(page, "ANSWER-BOOKED")
                assert _button(page, "Send answer").count() == 0
            finally:
                browser.close()
    finally:
        web.stop()


def test_in_chromium_server_everythings_form_is_answered_in_the_web_chat(server, tmp_path, free_port):
    """The reference MCP server's 13-field form (trigger-elicitation-request), asked during a call
    the web chat's agent makes, answered on the page; the call is made again with the answer."""
    from tests.mcp_suite.test_server_everything import EVERYTHING, _node

    sync_playwright = _browser_or_skip()
    cfg = tmp_path / "servers.json"
    cfg.write_text(json.dumps({"mcpServers": {"everything": {"command": _node(), "args": [str(EVERYTHING), "stdio"]}}}))
    web = WebProcess(server, tmp_path, free_port, "EnvChecker")  # and the --mcp file's server, on at first
    web.args += ["--mcp", str(cfg)]
    call = '<tool_call>{"name": "everything__trigger-elicitation-request", "arguments": {}}</tool_call>'
    server.replies = [call, "ANSWER-FORM: thanks, Ada."]
    try:
        url = web.start()
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 2400})
                page.goto(url)
                page.wait_for_selector("h1:has-text('liteagent')", timeout=30_000)
                _ask(page, "Fill in the form")
                _button(page, "Send answer").wait_for(timeout=90_000)
                page.get_by_text("Please provide inputs for the following fields:").first.wait_for(timeout=30_000)
                page.get_by_role("textbox", name="String *", exact=True).fill("Ada Lovelace")
                page.get_by_role("combobox", name="Titled Single Select Enum", exact=True).click()
                page.get_by_role("option", name="Wonder Woman").click()
                ARTIFACTS.mkdir(exist_ok=True)
                page.screenshot(path=str(ARTIFACTS / "web-everything-form.png"), full_page=True)
                _button(page, "Send answer").click()
                _wait_answer(page, "ANSWER-FORM")
            finally:
                browser.close()
    finally:
        web.stop()
    said = model_bodies(server)[-1]
    assert "Ada Lovelace" in said and "hero-3" in said and "42" in said  # its answer, the defaults filled in
