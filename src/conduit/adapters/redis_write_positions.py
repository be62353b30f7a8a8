"""Users' last write positions in Redis, shared by every instance (``CONDUIT_REDIS_URL``).

Key ``conduit:wrote:<user id>``: the position (an LSN as 16 hex digits, so that Redis
compares them as strings) with a TTL of ``CONDUIT_DATABASE_REPLICA_WRITE_MEMORY_SECONDS``.
Recording is one round trip, a Lua script that keeps the larger position (two writes of one
user committed on two instances may record in either order) and renews the TTL. A lookup
is one GET. Both are bounded by ``CONDUIT_CACHE_TIMEOUT_SECONDS``; a lookup that fails
sends the read to the primary (:class:`~conduit.core.replicas.ReplicaSet`).
"""

from __future__ import annotations

from collections.abc import Collection

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

KEY_PREFIX = "conduit:wrote:"

# KEYS: the users' keys; ARGV[1]: the position (16 hex digits); ARGV[2]: the TTL in ms.
_RECORD = """
for _, key in ipairs(KEYS) do
  local current = redis.call('GET', key)
  if (not current) or current < ARGV[1] then
    redis.call('SET', key, ARGV[1], 'PX', ARGV[2])
  else
    redis.call('PEXPIRE', key, ARGV[2])
  end
end
return 0
"""


def _encoded(position: int) -> str:
    return f"{position:016X}"


class RedisWritePositions:
    """:class:`~conduit.core.replicas.WritePositions` in Redis."""

    def __init__(self, url: str, *, ttl_seconds: float, timeout_seconds: float) -> None:
        self.ttl_ms = max(1, round(ttl_seconds * 1000))
        self._redis: Redis = Redis.from_url(
            url,
            socket_timeout=timeout_seconds,
            socket_connect_timeout=timeout_seconds,
            retry=Retry(NoBackoff(), 0),
        )
        self._record = self._redis.register_script(_RECORD)

    async def last(self, user_id: int) -> int | None:
        value = await self._redis.get(f"{KEY_PREFIX}{user_id}")
        return None if value is None else int(value, 16)

    async def record(self, user_ids: Collection[int], position: int) -> None:
        keys = [f"{KEY_PREFIX}{user_id}" for user_id in sorted(user_ids)]
        await self._record(keys=keys, args=[_encoded(position), self.ttl_ms])

    async def close(self) -> None:
        await self._redis.aclose()
