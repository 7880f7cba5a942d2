"""Approval and going on in the web chat: calls that wait for a person are shown from the session
(tool, exact arguments, Approve / Reject with a reason / Always), each click resumes the run and
streams the rest; a reload and a restart of the server show the same; a run cut off by a restart
goes on. With Streamlit's AppTest for the page's logic, then in real headless Chromium against
`liteagent web` processes (restarted for real), both talking to the scripted model server."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from liteagent import SQLiteSession
from liteagent.messages import Message, ToolCall
from liteagent.web import runtime
from liteagent.web.store import ConversationStore

from .page import shown
from .test_browser import ARTIFACTS, CHROMIUM, FLAGS, _browser_or_skip

JOURNAL = '''
from liteagent import BaseAction, tool_api


class Journal(BaseAction):
    """A journal on disk: appending to it is a side effect a person approves."""

    @tool_api(needs_approval=True)
    def append(self, text: str) -> str:
        """Append a line to the journal.

        Args:
            text: the line
        """
        with open(PATH, "a", encoding="utf-8") as f:
            f.write(text + "\\n")
        return f"appended {len(text)} characters"

    @tool_api
    def count(self) -> str:
        """Count the journal's lines."""
        try:
            with open(PATH, encoding="utf-8") as f:
                return str(len(f.readlines()))
        except FileNotFoundError:
            return "0"
'''


def call(text: str, tool: str = "Journal.append") -> str:
    args = {"text": text} if tool.endswith("append") else {}
    return f"<tool_call>{json.dumps({'name': tool, 'arguments': args})}</tool_call>"


@pytest.fixture
def journal(tmp_path):
    """The plugin file (its journal in tmp_path) and the journal's path."""
    path = tmp_path / "journal.txt"
    plugin = tmp_path / "journal_plugin.py"
    plugin.write_text(f"PATH = {str(path)!r}\n" + JOURNAL)
    return f"{plugin}:Journal", path


def lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines() if path.exists() else []


def model_bodies(server) -> list[str]:
    """Each model request's body as text (what the model read)."""
    return [json.dumps(r["body"], ensure_ascii=False) for r in server.requests if r["body"] is not None]


# -- the page's logic, with AppTest ------------------------------------------------------------


@pytest.fixture
def journal_page(web_env, app_test, journal):
    spec, path = journal
    web_env(plugins=[spec], extra_specs=[spec])
    return app_test, path


def ask(at, text):
    at.chat_input[0].set_value(text).run()
    assert not at.exception, at.exception
    return at


def buttons(at, label):
    return [b for b in at.button if b.label == label]


def click(at, label, n=0):
    buttons(at, label)[n].click().run()
    assert not at.exception, at.exception


def test_approve_runs_the_tool_once_then_the_answer_streams(journal_page, server):
    app_test, path = journal_page
    server.replies = ["I will write it down." + call("buy milk"), "Written: buy milk."]
    at = ask(app_test("ann").run(), "Note: buy milk")
    assert lines(path) == []  # nothing ran before a decision
    assert [c.value for c in at.code if '"buy milk"' in c.value] == ['{\n  "text": "buy milk"\n}']
    assert any("waiting for approval" in e.label for e in at.expander)
    assert len(buttons(at, "Approve")) == len(buttons(at, "Reject")) == len(buttons(at, "Always")) == 1
    click(at, "Approve")
    assert lines(path) == ["buy milk"]
    assert "Written: buy milk." in shown(at)
    assert not buttons(at, "Approve")  # nothing waits any more
    panel = [e for e in at.expander if "Journal.append" in e.label.replace("\\", "")]
    assert panel and ":green[success]" in panel[0].label
    at.run()  # a later run of the page runs nothing again
    assert lines(path) == ["buy milk"] and len(model_bodies(server)) == 2


def test_several_calls_are_decided_one_by_one_and_a_reason_reaches_the_model(journal_page, server):
    app_test, path = journal_page
    server.replies = [call("first") + call("second"), "One written, one refused."]
    at = ask(app_test("bob").run(), "Write two lines")
    assert len(buttons(at, "Approve")) == 2
    click(at, "Approve", 0)  # the first runs now; the second still waits, the model is not asked yet
    assert lines(path) == ["first"] and len(model_bodies(server)) == 1
    assert len(buttons(at, "Approve")) == 1
    assert any('"second"' in c.value for c in at.code)
    reason = [x for x in at.text_input if x.label.startswith("Reason")]
    reason[0].set_value("not twice, please").run()
    click(at, "Reject")
    assert lines(path) == ["first"]
    assert "One written, one refused." in shown(at)
    last = model_bodies(server)[-1]
    assert "not twice, please" in last and "did not approve" in last
    assert any(":orange[rejected]" in e.label for e in at.expander)


def test_always_stops_asking_for_that_tool_in_the_conversation(journal_page, server):
    app_test, path = journal_page
    server.replies = [call("one"), "Noted one.", call("two"), "Noted two."]
    at = ask(app_test("cat").run(), "Note one")
    click(at, "Always")
    assert lines(path) == ["one"] and "Noted one." in shown(at)
    ask(at, "Note two")  # the same tool again: not asked
    assert lines(path) == ["one", "two"] and "Noted two." in shown(at)
    assert not buttons(at, "Approve")


def test_a_question_while_calls_wait_is_shown_back_and_not_sent(journal_page, server):
    app_test, path = journal_page
    server.replies = [call("x"), "Done."]
    at = ask(app_test("dan").run(), "Note x")
    ask(at, "And what about the weather?")
    assert len(model_bodies(server)) == 1  # not sent
    assert any("approve or reject them first" in w.value for w in at.warning)
    assert any(c.value == "And what about the weather?" for c in at.code)
    assert len(buttons(at, "Approve")) == 1  # still waiting, nothing lost
    click(at, "Approve")
    assert lines(path) == ["x"] and "Done." in shown(at)


def test_a_stale_click_is_refused_in_one_line_and_nothing_runs_twice(journal_page, server):
    app_test, path = journal_page
    server.replies = [call("once"), "Written once."]
    first = ask(app_test("kim").run(), "Note once")
    cid = first.query_params["c"]
    second = app_test("kim")  # the same conversation in a second tab
    second.query_params["c"] = cid[0] if isinstance(cid, list) else cid
    second.run()
    click(first, "Approve")
    click(second, "Approve")  # drawn before the first tab decided
    assert lines(path) == ["once"]
    assert [w.value for w in second.warning if "nothing to resume" in w.value]  # one line, no traceback
    assert "Written once." in shown(second) and not buttons(second, "Approve")


def test_every_label_is_in_every_language():
    from liteagent.web.i18n import LABELS

    for lang, labels in LABELS.items():
        assert set(labels) == set(LABELS["en"]), lang


def test_chinese_labels_on_the_buttons(journal_page, server):
    app_test, _ = journal_page
    server.replies = [call("中文")]
    at = app_test("lin")
    at.query_params["lang"] = "zh"
    ask(at.run(), "记一下")
    assert [len(buttons(at, x)) for x in ("批准", "拒绝", "始终允许")] == [1, 1, 1]


def test_operator_approve_tools_ask_first_and_rules_for_absent_plugins_are_harmless(web_env, app_test, server):
    # EnvChecker says nothing about approval; the operator asks for it (ArxivSearch is not enabled)
    web_env(plugins=["EnvChecker"], approve_tools=["EnvChecker", "ArxivSearch"])
    server.replies = [call("", "EnvChecker.check_torch_env"), "Checked."]
    at = ask(app_test("eve").run(), "Check")
    assert not at.error, [e.value for e in at.error]
    assert len(buttons(at, "Approve")) == 1
    click(at, "Approve")
    assert "Checked." in shown(at)


def _write_items(db: str, cid: str, items: list[Message]) -> None:
    import asyncio

    asyncio.run(SQLiteSession(cid, db).add_items(items))


def test_a_run_cut_off_by_a_restart_continues_on_click(web_env, app_test, server, journal):
    spec, _ = journal
    env = web_env(plugins=[spec], extra_specs=[spec])
    store = ConversationStore(env["db"])
    cid = store.create("fay", "Interrupted")
    store.close()
    count = ToolCall("Journal.count", {}, id="c1")
    _write_items(env["db"], cid, [Message("user", "How long is it?"), Message("assistant", "", tool_calls=[count])])
    server.replies = ["It may have been cut off; the journal is empty."]
    at = app_test("fay")
    at.query_params["c"] = cid  # the page's address after a reload
    at.run()
    assert any("cut off" in i.value for i in at.info)
    click(at, "Continue")
    assert "It may have been cut off; the journal is empty." in shown(at)
    assert "was cut off while this call was running" in model_bodies(server)[-1]  # not idempotent: not re-run
    assert not buttons(at, "Continue")


def test_a_new_question_on_a_cut_off_run_continues_it_first(web_env, app_test, server, journal):
    spec, _ = journal
    env = web_env(plugins=[spec], extra_specs=[spec])
    store = ConversationStore(env["db"])
    cid = store.create("gus", "Interrupted")
    store.close()
    count = ToolCall("Journal.count", {}, id="c1")
    _write_items(env["db"], cid, [Message("user", "Count it"), Message("assistant", "", tool_calls=[count])])
    server.replies = ["The count was interrupted.", "Hello!"]
    at = app_test("gus")
    at.query_params["c"] = cid
    at.run()
    ask(at, "Say hello")
    assert len(model_bodies(server)) == 2
    assert "The count was interrupted." in shown(at) and "Hello!" in shown(at)
    state = runtime.run_state(ConversationStore(env["db"]).load("gus", cid).items)
    assert state.state == "done"


def test_an_unanswered_question_continues(web_env, app_test, server):
    env = web_env()
    store = ConversationStore(env["db"])
    cid = store.create("hal", "Unanswered")
    store.close()
    _write_items(env["db"], cid, [Message("user", "Are you there?")])
    server.replies = ["Yes."]
    at = app_test("hal")
    at.query_params["c"] = cid
    at.run()
    assert any("no answer yet" in i.value for i in at.info)
    click(at, "Continue")
    assert "Yes." in shown(at)


def test_the_address_reopens_only_the_owners_conversation(web_env, app_test, server, journal):
    spec, _ = journal
    web_env(plugins=[spec], extra_specs=[spec])
    server.replies = [call("private")]
    at = ask(app_test("ida").run(), "Note private")
    cid = at.query_params["c"]
    cid = cid[0] if isinstance(cid, list) else cid
    other = app_test("mallory")
    other.query_params["c"] = cid
    other.run()
    assert not other.exception and not buttons(other, "Approve")
    assert not [c for c in other.code if "private" in c.value]
    same = app_test("ida")  # a reload: a new page session, the same address
    same.query_params["c"] = cid
    same.run()
    assert len(buttons(same, "Approve")) == 1 and any('"private"' in c.value for c in same.code)


def test_decisions_become_resume_arguments():
    d = runtime.Decision
    assert d("approve", "c1", "T.x").resume_args() == {"approve": ["c1"]}
    assert d("reject", "c1", "T.x", " too risky ").resume_args() == {"reject": {"c1": "too risky"}}
    assert d("always", "c1", "T.x").resume_args() == {"always": ["T.x"]}
    assert d("continue").resume_args() == {}


# -- in Chromium, against real `liteagent web` processes -----------------------------------------


class WebProcess:
    """`liteagent web` on one port and database, stopped and started again like a real restart."""

    def __init__(self, server, tmp_path: Path, port: int, plugin: str) -> None:
        self.args = [
            sys.executable, "-m", "liteagent", "web", "--port", str(port), "--base-url", server.url,
            "--model", "scripted-model", "--plugin", plugin, "--db", str(tmp_path / "web.sqlite3"),
        ]  # fmt: skip
        self.env = {**os.environ, "LITEAGENT_DATA_DIR": str(tmp_path / "data")}
        self.port = port
        self.log = tmp_path / "web.log"  # a file, not a pipe: a full pipe would block the server
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> str:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(self.args, env=self.env, stdout=subprocess.DEVNULL, stderr=log)
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return f"http://127.0.0.1:{self.port}/"
            except OSError:
                if self.proc.poll() is not None:
                    raise AssertionError(self.log.read_text(errors="replace")) from None
                time.sleep(0.2)
        raise AssertionError("liteagent web did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None


@pytest.fixture
def web_process(server, tmp_path, free_port, journal):
    spec, path = journal
    web = WebProcess(server, tmp_path, free_port, spec)
    yield web, path
    web.stop()


def _ask(page, text):
    box = page.get_by_placeholder("Ask something…")
    box.fill(text)
    box.press("Enter")


def _button(page, name):
    return page.get_by_role("button", name=name, exact=True)


def _wait_answer(page, text):
    page.get_by_text(text).first.wait_for(timeout=60_000)


def test_approve_reject_and_always_in_chromium(web_process, server):
    sync_playwright = _browser_or_skip()
    web, path = web_process
    url = web.start()
    server.replies = [
        call("milk"),
        "ANSWER-ONE: milk is written.",
        call("eggs"),
        "ANSWER-TWO: eggs were refused.",
        call("bread"),
        "ANSWER-THREE: bread is written.",
        call("butter"),
        "ANSWER-FOUR: butter is written, unasked.",
    ]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.goto(url)
            page.wait_for_selector("h1:has-text('liteagent')", timeout=30_000)
            _ask(page, "Note milk")
            _button(page, "Approve").wait_for(timeout=60_000)
            assert lines(path) == []
            _button(page, "Approve").click()
            _wait_answer(page, "ANSWER-ONE")
            assert lines(path) == ["milk"]

            _ask(page, "Note eggs")
            _button(page, "Reject").wait_for(timeout=60_000)
            reason = page.get_by_label("Reason, if you reject (the model reads it)")
            reason.fill("eggs are on the list already")
            reason.press("Enter")
            page.wait_for_timeout(500)
            _button(page, "Reject").click()
            _wait_answer(page, "ANSWER-TWO")
            assert lines(path) == ["milk"]
            assert "eggs are on the list already" in model_bodies(server)[-1]

            _ask(page, "Note bread")
            _button(page, "Always").wait_for(timeout=60_000)
            _button(page, "Always").click()
            _wait_answer(page, "ANSWER-THREE")
            _ask(page, "Note butter")
            _wait_answer(page, "ANSWER-FOUR")
            assert _button(page, "Approve").count() == 0  # not asked for the same tool again
            assert lines(path) == ["milk", "bread", "butter"]
        finally:
            browser.close()


HOSTILE_ARG = (
    '<script>window.pwned = 1</script><img src=x onerror="window.pwned = 2">'
    "<b>BOLD-TAG</b> [link](https://evil.example/arg) https://evil.example/bare"
)


def test_pending_calls_survive_reload_and_restart_and_hostile_arguments_stay_text_in_chromium(web_process, server):
    sync_playwright = _browser_or_skip()
    from playwright.sync_api import expect

    web, path = web_process
    url = web.start()
    server.replies = [call(HOSTILE_ARG), "ANSWER-AFTER-RESTART"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.goto(url)
            page.wait_for_selector("h1:has-text('liteagent')", timeout=30_000)
            _ask(page, "Note this")
            _button(page, "Approve").wait_for(timeout=60_000)
            page.wait_for_function("() => location.search.includes('c=')", timeout=30_000)
            address = page.url

            def still_pending():
                _button(page, "Approve").wait_for(timeout=60_000)
                main = page.locator("[data-testid=stMainBlockContainer]")  # the code block draws a moment later
                expect(main).to_contain_text(json.dumps({"text": HOSTILE_ARG})[1:-1], timeout=30_000)
                assert page.evaluate("() => window.pwned === undefined")
                assert page.locator("b:has-text('BOLD-TAG')").count() == 0
                assert page.locator("img[src=x]").count() == 0
                assert page.locator("a[href*='evil.example']").count() == 0
                assert lines(path) == []

            still_pending()
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "web-approval.png"), full_page=True)
            page.reload()
            still_pending()
            web.stop()
            web.start()  # the same database, a new process: nothing of the old one's memory
            page.goto(address)
            still_pending()
            _button(page, "Approve").click()
            _wait_answer(page, "ANSWER-AFTER-RESTART")
            assert lines(path) == [HOSTILE_ARG]
            page.reload()
            _wait_answer(page, "ANSWER-AFTER-RESTART")
            assert _button(page, "Approve").count() == 0 and lines(path) == [HOSTILE_ARG]
        finally:
            browser.close()


def test_the_operators_approve_tools_reach_the_page_and_stay_out_of_saved_settings():
    from liteagent import AgentConfig

    settings = runtime.Settings.from_config(
        AgentConfig(base_url="http://127.0.0.1:9/v1", approve_tools=("EnvChecker",))
    )
    assert settings.approve_tools == ["EnvChecker"]
    assert settings.agent_config().approve_tools == ("EnvChecker",)
    assert "approve_tools" not in settings.public()  # a reopened conversation cannot change them
