"""A session kept in this process's memory."""

from __future__ import annotations

import uuid

from ..messages import Message


class InMemorySession:
    """A conversation in memory. Items are stored as given (typed, nothing flattened)."""

    def __init__(self, session_id: str | None = None, items: list[Message] | None = None) -> None:
        self._id = session_id
        self.items: list[Message] = list(items) if items else []

    @property
    def session_id(self) -> str:
        if self._id is None:  # made on first use: a one-question run never asks
            self._id = uuid.uuid4().hex
        return self._id

    async def get_items(self, limit: int | None = None) -> list[Message]:
        return self.get_items_now(limit)

    async def add_items(self, items: list[Message]) -> None:
        self.items.extend(items)

    # the sync driver (Agent.run without an event loop) calls these directly
    def get_items_now(self, limit: int | None = None) -> list[Message]:
        return list(self.items if limit is None else self.items[-limit:] if limit > 0 else [])

    def add_items_now(self, items: list[Message]) -> None:
        self.items.extend(items)

    async def add_items_at(self, items: list[Message], length: int) -> bool:
        return self.add_items_at_now(items, length)

    def add_items_at_now(self, items: list[Message], length: int) -> bool:
        """Append ``items`` if the session holds ``length`` items (nothing written since the
        caller read it); False, writing nothing, otherwise."""
        if len(self.items) != length:
            return False
        self.items.extend(items)
        return True

    async def pop_item(self) -> Message | None:
        return self.items.pop() if self.items else None

    async def clear(self) -> None:
        self.items.clear()

    def __repr__(self) -> str:
        return f"InMemorySession({self.session_id!r}, {len(self.items)} items)"
