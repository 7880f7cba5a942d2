"""Where the service keeps conversations: a SQLite file (one machine) or Redis (many). A session
id is bound to the API key that created it: another key gets "not found"."""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from pathlib import Path
from typing import Any

from ..sessions import RedisSession, Session, SQLiteSession


def key_owner(api_key: str | None) -> str:
    """A key's stable, non-reversible identity (keys themselves are never stored)."""
    return hashlib.sha256((api_key or "").encode()).hexdigest()[:32]


class SessionStore:
    """``open(session_id, owner)`` -> the conversation's Session, or None when another key owns it."""

    def open(self, session_id: str, owner: str) -> Session | None:  # pragma: no cover - interface
        raise NotImplementedError


class SQLiteStore(SessionStore):
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        SQLiteSession("__init__", self.path)  # creates the file (0600) and the session tables
        self._local = threading.local()
        db = self._db()
        with db:
            db.execute("CREATE TABLE IF NOT EXISTS owners (session_id TEXT PRIMARY KEY, owner TEXT NOT NULL)")

    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(str(self.path), timeout=30, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            self._local.db = db
        return db

    def open(self, session_id: str, owner: str) -> Session | None:
        db = self._db()
        with db:
            db.execute("INSERT OR IGNORE INTO owners (session_id, owner) VALUES (?, ?)", (session_id, owner))
            (got,) = db.execute("SELECT owner FROM owners WHERE session_id = ?", (session_id,)).fetchone()
        if got != owner:
            return None
        return SQLiteSession(session_id, self.path)


class RedisStore(SessionStore):
    def __init__(self, url: str, prefix: str = "liteagent:") -> None:
        import redis

        self.client = redis.Redis.from_url(url)
        self.prefix = prefix

    def open(self, session_id: str, owner: str) -> Session | None:
        key = f"{self.prefix}owner:{session_id}"
        self.client.set(key, owner, nx=True)
        got = self.client.get(key)
        if isinstance(got, bytes):
            got = got.decode()
        if got != owner:
            return None
        return RedisSession(session_id, self.client, prefix=f"{self.prefix}session:")


def store_from_url(url: str | None, default_path: Path) -> SessionStore:
    """``redis://…`` -> Redis; ``sqlite:///path`` or a path -> SQLite; None -> SQLite at ``default_path``."""
    if not url:
        return SQLiteStore(default_path)
    if url.startswith(("redis://", "rediss://", "unix://")):
        return RedisStore(url)
    path = url.removeprefix("sqlite:///") if url.startswith("sqlite:///") else url
    return SQLiteStore(path)


__all__: list[Any] = ["RedisStore", "SQLiteStore", "SessionStore", "key_owner", "store_from_url"]
