"""The web chat shows a typed answer as formatted JSON, live and after a reload (Streamlit's
AppTest against the scripted server on 127.0.0.1)."""

from __future__ import annotations

import json

from ..web.conftest import app_test, web_env  # noqa: F401  (fixtures)

SCHEMA = {
    "type": "object",
    "properties": {"title": {"type": "string"}, "year": {"type": "integer"}},
    "required": ["title", "year"],
}


def final(args: dict) -> str:
    return "<tool_call>\n" + json.dumps({"name": "final_answer", "arguments": args}) + "\n</tool_call>"


def typed_json(at) -> list:
    return [json.loads(j.proto.body) for j in at.json]


def test_a_typed_answer_shows_as_json_live_and_after_reload(web_env, app_test, server):  # noqa: F811
    web_env(output_schema=SCHEMA, protocol="hermes")
    server.replies = [final({"title": "Attention", "year": 2017})]
    at = app_test()
    at.run()
    at.chat_input[0].set_value("A famous paper?").run()
    assert not at.exception, at.exception
    shown = typed_json(at)
    assert {"title": "Attention", "year": 2017} in shown
    assert any("validated JSON" in c.value for c in at.caption)
    assert not [e for e in at.expander if "final_answer" in e.label]  # not a tool panel
    timeline = [e for e in at.expander if e.label.startswith("Timeline")]  # where the answer's time went
    assert timeline and "turn 1:" in timeline[0].code[0].value
    again = app_test()
    again.run()  # a new page (a restarted server): the stored conversation, opened from the sidebar
    [b for b in again.sidebar.button if b.label.endswith("A famous paper?")][0].click().run()
    shown = typed_json(again)
    assert {"title": "Attention", "year": 2017} in shown
