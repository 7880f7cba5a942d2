"""Conversations live in sessions: typed items (``Message``, tool results with all their items)
kept losslessly in memory or in SQLite. An :class:`~liteagent.Agent` holds configuration only;
pass ``session=`` to continue a conversation."""

from __future__ import annotations

from .base import Session
from .files import load_items, save_items
from .memory import InMemorySession
from .redis import RedisSession
from .sqlite import SQLiteSession

__all__ = ["InMemorySession", "RedisSession", "SQLiteSession", "Session", "load_items", "save_items"]
