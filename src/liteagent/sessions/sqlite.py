"""A session in a SQLite file (the standard library's sqlite3, WAL): several processes may share
one file; a conversation written by one renders the same prompt bytes when another reopens it."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from ..jsontext import dumps
from ..messages import Message

SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    created REAL NOT NULL,
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS items (
    session_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (session_id, seq)
);
"""


class SQLiteSession:
    """One conversation (``session_id``) in the SQLite file at ``path`` (created 0600).

    Items are stored as JSON of :meth:`Message.to_dict`, tool results with all their items.
    Connections are per thread; writes are transactions, so processes may interleave safely.
    """

    def __init__(self, session_id: str, path: str | os.PathLike[str] = "liteagent-sessions.sqlite3") -> None:
        self.session_id = session_id
        self.path = Path(path).expanduser()
        self._local = threading.local()
        if not self.path.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            os.close(os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600))
        db = self._db()
        with db:
            db.execute(
                "INSERT OR IGNORE INTO sessions (id, created, updated) VALUES (?, ?, ?)",
                (session_id, time.time(), time.time()),
            )

    def _db(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(str(self.path), timeout=30, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(SCHEMA)
            self._local.db = db
        return db

    async def get_items(self, limit: int | None = None) -> list[Message]:
        return self.get_items_now(limit)

    async def add_items(self, items: list[Message]) -> None:
        self.add_items_now(items)

    # SQLite answers at once: the sync driver (Agent.run without an event loop) calls these directly
    def get_items_now(self, limit: int | None = None) -> list[Message]:
        db = self._db()
        if limit is None:
            rows = db.execute("SELECT data FROM items WHERE session_id = ? ORDER BY seq", (self.session_id,))
        else:
            rows = db.execute(
                "SELECT data FROM (SELECT seq, data FROM items WHERE session_id = ? ORDER BY seq DESC LIMIT ?) "
                "ORDER BY seq",
                (self.session_id, max(0, limit)),
            )
        return [Message.from_dict(json.loads(r[0])) for r in rows.fetchall()]

    def add_items_now(self, items: list[Message]) -> None:
        self._append(items, None)

    async def add_items_at(self, items: list[Message], length: int) -> bool:
        return self._append(items, length)

    def add_items_at_now(self, items: list[Message], length: int) -> bool:
        """Append ``items`` if the session holds ``length`` items (nothing written since the
        caller read it): atomic between processes; False, writing nothing, otherwise."""
        return self._append(items, length)

    def _append(self, items: list[Message], length: int | None) -> bool:
        if not items and length is None:
            return True
        db = self._db()
        data: list[Any] = [dumps(m.to_dict()) for m in items]
        with db:  # one transaction, the write lock taken first: the next seq and the rows together
            db.execute("BEGIN IMMEDIATE")
            (top,) = db.execute(
                "SELECT COALESCE(MAX(seq), -1) FROM items WHERE session_id = ?", (self.session_id,)
            ).fetchone()
            if length is not None and top + 1 != length:  # seqs run 0.. with no gap: top + 1 items
                return False
            db.executemany(
                "INSERT INTO items (session_id, seq, data) VALUES (?, ?, ?)",
                [(self.session_id, top + 1 + i, d) for i, d in enumerate(data)],
            )
            db.execute("UPDATE sessions SET updated = ? WHERE id = ?", (time.time(), self.session_id))
        return True

    async def pop_item(self) -> Message | None:
        db = self._db()
        with db:
            row = db.execute(
                "SELECT seq, data FROM items WHERE session_id = ? ORDER BY seq DESC LIMIT 1", (self.session_id,)
            ).fetchone()
            if row is None:
                return None
            db.execute("DELETE FROM items WHERE session_id = ? AND seq = ?", (self.session_id, row[0]))
        return Message.from_dict(json.loads(row[1]))

    async def clear(self) -> None:
        db = self._db()
        with db:
            db.execute("DELETE FROM items WHERE session_id = ?", (self.session_id,))

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None

    def __repr__(self) -> str:
        return f"SQLiteSession({self.session_id!r}, {str(self.path)!r})"
