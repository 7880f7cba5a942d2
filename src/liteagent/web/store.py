"""Conversations of the web chat: listed, resumed after a restart, deleted, exported.

The items of each conversation live in a :class:`~liteagent.SQLiteSession` in the same file (one
history format for the whole library: typed items, tool results with every item); this store
keeps only what the page adds beside them: owner, title, settings, and errors shown inline.
Each conversation belongs to an owner (one browser's id), so two browsers never see each
other's history.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..messages import Message
from ..sessions import SQLiteSession
from ..sessions.sqlite import SCHEMA as SESSION_SCHEMA

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
CREATE TABLE IF NOT EXISTS errors (
    conversation_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    message TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS timelines (
    conversation_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    summary TEXT NOT NULL,
    body TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class ConversationInfo:
    id: str
    title: str
    created: float
    updated: float


@dataclass
class Conversation:
    """One conversation as the page shows it: its items, and the errors after the item count
    they followed."""

    id: str
    title: str
    settings: dict[str, Any]
    items: list[Message]
    errors: list[tuple[int, str]]
    timelines: list[tuple[int, str, str]] = field(default_factory=list)  # (after, summary, lines): each answer's


class ConversationStore:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser()
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        # every user's messages: readable by this user only (SQLite gives -wal/-shm the same mode)
        os.close(os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600))
        os.chmod(self.path, 0o600)
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None, timeout=30)
        self._db.executescript(SCHEMA + SESSION_SCHEMA)
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

    def session(self, owner: str, cid: str) -> SQLiteSession:
        """The conversation's items, as the agent reads and writes them (KeyError if not ``owner``'s)."""
        with self._lock:
            self._check(owner, cid)
        return SQLiteSession(cid, self.path)

    def load(self, owner: str, cid: str) -> Conversation:
        with self._lock:
            title, settings = self._check(owner, cid)
            rows = self._db.execute("SELECT data FROM items WHERE session_id = ? ORDER BY seq", (cid,)).fetchall()
            errors = self._db.execute(
                "SELECT position, message FROM errors WHERE conversation_id = ? ORDER BY rowid", (cid,)
            ).fetchall()
            timelines = self._db.execute(
                "SELECT position, summary, body FROM timelines WHERE conversation_id = ? ORDER BY rowid", (cid,)
            ).fetchall()
        items = [Message.from_dict(json.loads(r[0])) for r in rows]
        return Conversation(
            cid, title, settings, items, [(int(p), m) for p, m in errors], [(int(p), a, b) for p, a, b in timelines]
        )

    def add_timeline(self, owner: str, cid: str, position: int, summary: str, body: str) -> None:
        with self._lock:
            self._check(owner, cid)
            self._db.execute(
                "INSERT INTO timelines (conversation_id, position, summary, body) VALUES (?, ?, ?, ?)",
                (cid, position, summary, body),
            )

    def add_error(self, owner: str, cid: str, position: int, message: str) -> None:
        with self._lock:
            self._check(owner, cid)
            self._db.execute(
                "INSERT INTO errors (conversation_id, position, message) VALUES (?, ?, ?)", (cid, position, message)
            )

    def touch(self, owner: str, cid: str, settings: dict[str, Any] | None = None) -> None:
        """Mark the conversation updated (it moves to the top), with the settings its last turn used."""
        with self._lock:
            self._check(owner, cid)
            if settings is None:
                self._db.execute("UPDATE conversations SET updated = ? WHERE id = ?", (time.time(), cid))
            else:
                self._db.execute(
                    "UPDATE conversations SET updated = ?, settings = ? WHERE id = ?",
                    (time.time(), json.dumps(settings, ensure_ascii=False), cid),
                )

    def delete(self, owner: str, cid: str) -> None:
        with self._lock:
            try:
                self._check(owner, cid)
            except KeyError:
                return
            self._db.execute("BEGIN")
            self._db.execute("DELETE FROM items WHERE session_id = ?", (cid,))
            self._db.execute("DELETE FROM sessions WHERE id = ?", (cid,))
            self._db.execute("DELETE FROM errors WHERE conversation_id = ?", (cid,))
            self._db.execute("DELETE FROM timelines WHERE conversation_id = ?", (cid,))
            self._db.execute("DELETE FROM conversations WHERE id = ?", (cid,))
            self._db.execute("COMMIT")

    def export_json(self, owner: str, cid: str) -> str:
        c = self.load(owner, cid)
        return json.dumps(
            {
                "title": c.title,
                "settings": _public(c.settings),
                "items": [m.to_dict() for m in c.items],
                "errors": [{"after": p, "message": m} for p, m in c.errors],
            },
            ensure_ascii=False,
            indent=2,
        )

    def export_markdown(self, owner: str, cid: str) -> str:
        c = self.load(owner, cid)
        out = [f"# {c.title}", ""]
        for m in c.items:
            if m.role == "user" and m.name == "file":
                try:
                    info = json.loads(m.content)
                    out += [f"**User uploaded a file:** `{Path(info['path']).name}` ({info['size']} bytes)", ""]
                except (ValueError, KeyError, TypeError):
                    out += [f"**User uploaded a file:** `{m.content}`", ""]
            elif m.role == "user":
                out += ["**User:**", "", m.content, ""]
            elif m.role == "assistant":
                if m.content:
                    out += ["**Assistant:**", "", m.content, ""]
                for call in m.tool_calls:
                    args = json.dumps(call.arguments, ensure_ascii=False)
                    out += [f"**Tool call:** `{call.name}` `{args}`", ""]
            elif m.role == "tool":
                r = m.result
                status = r.status.value if r else "?"
                elapsed = r.elapsed if r else 0.0
                out += [f"**Result** ({status}, {elapsed:.2f} s):", "", "```", m.content, "```", ""]
        for _, message in c.errors:
            out += [f"**Error:** {message}", ""]
        return "\n".join(out)


def _public(settings: dict[str, Any]) -> dict[str, Any]:
    """Settings fit to export: never the API key."""
    return {k: v for k, v in settings.items() if k != "api_key"}
