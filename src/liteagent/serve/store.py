"""Where the service keeps conversations: a SQLite file (one machine) or Redis (many). A session
id is bound to the API key that created it: another key gets "not found". The store also holds
each conversation's run lease (see :mod:`.leases`)."""

from __future__ import annotations

import hashlib
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from ..sessions import RedisSession, Session, SQLiteSession
from .leases import holder_alive


def key_owner(api_key: str | None) -> str:
    """A key's stable, non-reversible identity (keys themselves are never stored)."""
    return hashlib.sha256((api_key or "").encode()).hexdigest()[:32]


class SessionStore:
    """``open(session_id, owner)`` -> the conversation's Session, or None when another key owns it."""

    def open(self, session_id: str, owner: str) -> Session | None:  # pragma: no cover - interface
        raise NotImplementedError

    def acquire(self, session_id: str, holder: str, seconds: float) -> str | None:  # pragma: no cover
        """Take the conversation's run lease for ``holder`` for at most ``seconds``: None when
        taken, else the live holder that has it (a lease past its time or whose holder's process
        is gone is taken over)."""
        raise NotImplementedError

    def release(self, session_id: str, holder: str) -> None:  # pragma: no cover - interface
        """Give the lease back if ``holder`` still has it."""
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
            db.execute(
                "CREATE TABLE IF NOT EXISTS leases"
                " (session_id TEXT PRIMARY KEY, holder TEXT NOT NULL, until REAL NOT NULL)"
            )

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

    def acquire(self, session_id: str, holder: str, seconds: float) -> str | None:
        db = self._db()
        db.execute("BEGIN IMMEDIATE")  # the read and the write as one, against other processes
        try:
            row = db.execute("SELECT holder, until FROM leases WHERE session_id = ?", (session_id,)).fetchone()
            now = time.time()
            if row is not None and row[1] > now and holder_alive(row[0]):
                return str(row[0])
            db.execute(
                "INSERT OR REPLACE INTO leases (session_id, holder, until) VALUES (?, ?, ?)",
                (session_id, holder, now + seconds),
            )
            return None
        finally:
            db.commit()

    def release(self, session_id: str, holder: str) -> None:
        db = self._db()
        with db:
            db.execute("DELETE FROM leases WHERE session_id = ? AND holder = ?", (session_id, holder))


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

    def acquire(self, session_id: str, holder: str, seconds: float) -> str | None:
        key = f"{self.prefix}lease:{session_id}"
        ms = max(1, int(seconds * 1000))
        for _ in range(2):
            if self.client.set(key, holder, nx=True, px=ms):
                return None
            got = self.client.get(key)
            if got is None:
                continue  # it ended just now
            other = got.decode() if isinstance(got, bytes) else str(got)
            if holder_alive(other):
                return other
            self.client.eval(_DELETE_IF, 1, key, other)  # its process is gone: take over
        return None if self.client.set(key, holder, nx=True, px=ms) else "another process"

    def release(self, session_id: str, holder: str) -> None:
        self.client.eval(_DELETE_IF, 1, f"{self.prefix}lease:{session_id}", holder)


_DELETE_IF = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"


def store_from_url(url: str | None, default_path: Path) -> SessionStore:
    """``redis://…`` -> Redis; ``sqlite:///path`` or a path -> SQLite; None -> SQLite at ``default_path``."""
    if not url:
        return SQLiteStore(default_path)
    if url.startswith(("redis://", "rediss://", "unix://")):
        return RedisStore(url)
    path = url.removeprefix("sqlite:///") if url.startswith("sqlite:///") else url
    return SQLiteStore(path)


__all__: list[Any] = ["RedisStore", "SQLiteStore", "SessionStore", "key_owner", "store_from_url"]
