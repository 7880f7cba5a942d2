"""The web chat's SQLite store: per-owner conversations, persistence, export."""

from __future__ import annotations

import json

import pytest

from liteagent.web.store import ConversationStore


def test_store_roundtrip_export_and_owners(tmp_path):
    db = tmp_path / "chat.sqlite3"
    store = ConversationStore(db)
    cid = store.create("alice", "Weather", {"protocol": "hermes", "api_key": "sk-secret"})
    store.append(
        "alice",
        cid,
        [
            {"message": {"role": "user", "content": "北京天气？"}},
            {
                "message": {
                    "role": "assistant",
                    "content": "",
                    "tool_calls": [{"name": "Weather.forecast", "arguments": {"city": "北京"}, "id": "c0"}],
                }
            },
            {
                "message": {"role": "tool", "content": "晴", "name": "Weather.forecast", "tool_call_id": "c0"},
                "result": {"status": "success", "elapsed": 0.01, "result": [{"type": "text", "content": "晴"}]},
            },
            {"message": {"role": "assistant", "content": "北京晴。"}},
        ],
    )
    store.close()

    again = ConversationStore(db)  # after a restart
    assert [c.title for c in again.conversations("alice")] == ["Weather"]
    title, settings, records = again.load("alice", cid)
    assert title == "Weather" and settings["protocol"] == "hermes" and len(records) == 4
    exported = json.loads(again.export_json("alice", cid))
    assert "api_key" not in exported["settings"] and exported["records"][0]["message"]["content"] == "北京天气？"
    md = again.export_markdown("alice", cid)
    assert md.startswith("# Weather") and "**Tool call:** `Weather.forecast`" in md and "北京晴。" in md
    assert again.conversations("bob") == []
    with pytest.raises(KeyError):
        again.load("bob", cid)  # another owner cannot open it
    again.delete("bob", cid)  # nor delete it
    assert again.conversations("alice")
    again.delete("alice", cid)
    assert again.conversations("alice") == []
