"""What ``liteagent mcp serve`` (HTTP) keeps of what it sent, so a client whose stream was cut
(a proxy's timeout, a dropped connection) reconnects with ``Last-Event-ID`` and gets the rest,
the tool's result included (SEP-1699). Memory only, the last MAX_EVENTS messages of all streams:
a restart or a reconnect after that many later messages loses them, and the client is told its
id is unknown."""

from __future__ import annotations

import itertools
from collections import OrderedDict
from typing import Any

MAX_EVENTS = 10_000
RETRY_MS = 1000  # how long a client waits before reconnecting (sent on each stream)


def memory_event_store(max_events: int = MAX_EVENTS) -> Any:
    from mcp.server.streamable_http import EventMessage, EventStore

    class MemoryEventStore(EventStore):
        def __init__(self) -> None:
            self._events: OrderedDict[str, tuple[str, Any]] = OrderedDict()
            self._ids = itertools.count(1)

        async def store_event(self, stream_id: str, message: Any) -> str:
            event_id = str(next(self._ids))
            self._events[event_id] = (stream_id, message)
            while len(self._events) > max_events:
                self._events.popitem(last=False)
            return event_id

        async def replay_events_after(self, last_event_id: str, send_callback: Any) -> str | None:
            seen = self._events.get(last_event_id)
            if seen is None:
                return None
            stream_id, after = seen[0], int(last_event_id)
            for event_id, (sid, message) in list(self._events.items()):
                if sid == stream_id and int(event_id) > after and message is not None:
                    await send_callback(EventMessage(message, event_id))
            return stream_id

    return MemoryEventStore()
