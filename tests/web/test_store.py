"""The web chat's store: per-owner conversations whose items live in SQLiteSession, persistence,
errors in place, export."""

from __future__ import annotations

import asyncio
import json

import pytest

from liteagent.messages import ActionReturn, ActionStatus, Message, ResultItem, ToolCall
from liteagent.web.store import ConversationStore


def test_store_roundtrip_export_and_owners(tmp_path):
    db = tmp_path / "chat.sqlite3"
    store = ConversationStore(db)
    cid = store.create("alice", "Weather", {"protocol": "hermes", "api_key": "sk-secret"})
    call = ToolCall("Weather.forecast", {"city": "北京"}, id="c0")
    ret = ActionReturn(
        "Weather.forecast", {"city": "北京"}, ActionStatus.SUCCESS, [ResultItem.text("晴")], elapsed=0.01
    )
    items = [
        Message("user", "北京天气？"),
        Message("assistant", "", tool_calls=[call]),
        Message("tool", "晴", name="Weather.forecast", tool_call_id="c0", result=ret),
        Message("assistant", "北京晴。"),
    ]
    asyncio.run(store.session("alice", cid).add_items(items))
    store.add_error("alice", cid, 4, "later: the server went away")
    store.close()

    again = ConversationStore(db)  # after a restart
    assert [c.title for c in again.conversations("alice")] == ["Weather"]
    conv = again.load("alice", cid)
    assert conv.title == "Weather" and conv.settings["protocol"] == "hermes"
    assert [m.to_dict() for m in conv.items] == [m.to_dict() for m in items]
    assert conv.items[2].result is not None and conv.items[2].result.result[0].content == "晴"
    assert conv.errors == [(4, "later: the server went away")]
    exported = json.loads(again.export_json("alice", cid))
    assert "api_key" not in exported["settings"] and exported["items"][0]["content"] == "北京天气？"
    md = again.export_markdown("alice", cid)
    assert md.startswith("# Weather") and "**Tool call:** `Weather.forecast`" in md and "北京晴。" in md
    assert again.conversations("bob") == []
    with pytest.raises(KeyError):
        again.load("bob", cid)  # another owner cannot open it
    with pytest.raises(KeyError):
        again.session("bob", cid)
    again.delete("bob", cid)  # nor delete it
    assert again.conversations("alice")
    again.delete("alice", cid)
    assert again.conversations("alice") == []
