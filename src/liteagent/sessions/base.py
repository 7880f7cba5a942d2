"""The session interface: a handful of methods, async where they touch I/O (after openai-agents'
``memory/session.py``)."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from ..messages import Message


@runtime_checkable
class Session(Protocol):
    """One conversation's items, oldest first."""

    @property
    def session_id(self) -> str:
        """The conversation's id."""
        ...

    async def get_items(self, limit: int | None = None) -> list[Message]:
        """The items, oldest first; with ``limit``, only the latest ``limit`` of them."""
        ...

    async def add_items(self, items: list[Message]) -> None:
        """Append ``items`` to the conversation."""
        ...

    async def pop_item(self) -> Message | None:
        """Remove and return the latest item (None when the session is empty)."""
        ...

    async def clear(self) -> None:
        """Remove every item."""
        ...
