"""A session in Redis (redis-py): several server processes or machines share conversations."""

from __future__ import annotations

import json
from typing import Any

from ..jsontext import dumps
from ..messages import Message

_APPEND_AT = """
if redis.call('LLEN', KEYS[1]) ~= tonumber(ARGV[1]) then return 0 end
if #ARGV > 2 then redis.call('RPUSH', KEYS[1], unpack(ARGV, 3)) end
if tonumber(ARGV[2]) > 0 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
return 1
"""


class RedisSession:
    """One conversation in Redis: a list of JSON items under ``{prefix}{session_id}``.

    Args:
        session_id: the conversation's id.
        client: a ``redis.Redis`` (sync) client, or a URL such as ``redis://127.0.0.1:6379/0``.
        prefix: the key prefix.
        ttl: seconds a conversation is kept after its last change (None: forever).
    """

    def __init__(
        self, session_id: str, client: Any, prefix: str = "liteagent:session:", ttl: int | None = None
    ) -> None:
        if isinstance(client, str):
            import redis

            client = redis.Redis.from_url(client)
        self.session_id = session_id
        self.client = client
        self.key = f"{prefix}{session_id}"
        self.ttl = ttl
        self._append_at: Any = None

    async def get_items(self, limit: int | None = None) -> list[Message]:
        start = 0 if limit is None else -max(limit, 0)
        if limit == 0:
            return []
        raw = self.client.lrange(self.key, start, -1)
        return [Message.from_dict(json.loads(r)) for r in raw]

    async def add_items(self, items: list[Message]) -> None:
        if not items:
            return
        pipe = self.client.pipeline()
        pipe.rpush(self.key, *[dumps(m.to_dict()) for m in items])
        if self.ttl:
            pipe.expire(self.key, self.ttl)
        pipe.execute()

    async def add_items_at(self, items: list[Message], length: int) -> bool:
        """Append ``items`` if the list holds ``length`` items (nothing written since the caller
        read it): one Lua script, atomic in the server; False, writing nothing, otherwise."""
        if self._append_at is None:
            self._append_at = self.client.register_script(_APPEND_AT)
        return bool(
            self._append_at(keys=[self.key], args=[length, self.ttl or 0, *[dumps(m.to_dict()) for m in items]])
        )

    async def pop_item(self) -> Message | None:
        raw = self.client.rpop(self.key)
        return Message.from_dict(json.loads(raw)) if raw else None

    async def clear(self) -> None:
        self.client.delete(self.key)
