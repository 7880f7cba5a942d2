"""Conversations of the web chat, in SQLite: listed, resumed after a restart, deleted, exported.

Each conversation belongs to an owner (one browser's id), so two browsers never see each
other's history. A record is one message plus, for tool messages, the full ActionReturn (what
the page shows: images, JSON, status, time), not only the text the model read.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA = """
PRAGMA journal_mode=WAL;
CREATE TABLE IF NOT EXISTS conversations (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    title TEXT NOT NULL,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    settings TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS conversations_owner ON conversations(owner, updated);
CREATE TABLE IF NOT EXISTS records (
    conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (conversation_id, seq)
);
"""


@dataclass(frozen=True)
class ConversationInfo:
    id: str
    title: str
    created: float
    updated: float


class ConversationStore:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser()
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        # every user's messages: readable by this user only (SQLite gives -wal/-shm the same mode)
        os.close(os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600))
        os.chmod(self.path, 0o600)
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(SCHEMA)
        self._lock = threading.Lock()

    def close(self) -> None:
        self._db.close()

    def create(self, owner: str, title: str = "New chat", settings: dict[str, Any] | None = None) -> str:
        cid = uuid.uuid4().hex
        now = time.time()
        with self._lock:
            self._db.execute(
                "INSERT INTO conversations (id, owner, title, created, updated, settings) VALUES (?, ?, ?, ?, ?, ?)",
                (cid, owner, title, now, now, json.dumps(settings or {}, ensure_ascii=False)),
            )
        return cid

    def conversations(self, owner: str, limit: int = -1, offset: int = 0) -> list[ConversationInfo]:
        """``owner``'s conversations, the most recently updated first (a page of them with ``limit``)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, title, created, updated FROM conversations WHERE owner = ? "
                "ORDER BY updated DESC LIMIT ? OFFSET ?",
                (owner, limit, offset),
            ).fetchall()
        return [ConversationInfo(*r) for r in rows]

    def count(self, owner: str) -> int:
        with self._lock:
            (n,) = self._db.execute("SELECT COUNT(*) FROM conversations WHERE owner = ?", (owner,)).fetchone()
        return int(n)

    def _check(self, owner: str, cid: str) -> tuple[str, dict[str, Any]]:
        row = self._db.execute(
            "SELECT title, settings FROM conversations WHERE id = ? AND owner = ?", (cid, owner)
        ).fetchone()
        if row is None:
            raise KeyError(cid)
        return row[0], json.loads(row[1])

    def load(self, owner: str, cid: str) -> tuple[str, dict[str, Any], list[dict[str, Any]]]:
        """(title, settings, records) of one of ``owner``'s conversations (KeyError if not theirs)."""
        with self._lock:
            title, settings = self._check(owner, cid)
            rows = self._db.execute(
                "SELECT data FROM records WHERE conversation_id = ? ORDER BY seq", (cid,)
            ).fetchall()
        return title, settings, [json.loads(r[0]) for r in rows]

    def append(
        self,
        owner: str,
        cid: str,
        records: list[dict[str, Any]],
        title: str | None = None,
        settings: dict[str, Any] | None = None,
    ) -> None:
        with self._lock:
            self._check(owner, cid)
            (n,) = self._db.execute("SELECT COUNT(*) FROM records WHERE conversation_id = ?", (cid,)).fetchone()
            self._db.execute("BEGIN")
            try:
                self._db.executemany(
                    "INSERT INTO records (conversation_id, seq, data) VALUES (?, ?, ?)",
                    [(cid, n + i, json.dumps(r, ensure_ascii=False)) for i, r in enumerate(records)],
                )
                sets: list[str] = ["updated = ?"]
                args: list[Any] = [time.time()]
                if title is not None:
                    sets.append("title = ?")
                    args.append(title)
                if settings is not None:
                    sets.append("settings = ?")
                    args.append(json.dumps(settings, ensure_ascii=False))
                self._db.execute(f"UPDATE conversations SET {', '.join(sets)} WHERE id = ?", (*args, cid))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def delete(self, owner: str, cid: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM conversations WHERE id = ? AND owner = ?", (cid, owner))

    def export_json(self, owner: str, cid: str) -> str:
        title, settings, records = self.load(owner, cid)
        return json.dumps(
            {"title": title, "settings": _public(settings), "records": records}, ensure_ascii=False, indent=2
        )

    def export_markdown(self, owner: str, cid: str) -> str:
        title, _settings, records = self.load(owner, cid)
        out = [f"# {title}", ""]
        for rec in records:
            m = rec["message"]
            if m["role"] == "user" and m.get("name") == "file":
                out += [f"**User uploaded a file:** `{m['content']}`", ""]
            elif m["role"] == "user":
                out += ["**User:**", "", m["content"], ""]
            elif m["role"] == "assistant":
                if m.get("content"):
                    out += ["**Assistant:**", "", m["content"], ""]
                for c in m.get("tool_calls", []):
                    out += [
                        f"**Tool call:** `{c['name']}` `{json.dumps(c.get('arguments', {}), ensure_ascii=False)}`",
                        "",
                    ]
            elif m["role"] == "tool":
                r = rec.get("result") or {}
                out += [
                    f"**Result** ({r.get('status', '?')}, {r.get('elapsed', 0):.2f} s):",
                    "",
                    "```",
                    m["content"],
                    "```",
                    "",
                ]
        return "\n".join(out)


def _public(settings: dict[str, Any]) -> dict[str, Any]:
    """Settings fit to export: never the API key."""
    return {k: v for k, v in settings.items() if k != "api_key"}
