"""Users' last write positions in this process's memory: read replicas on one instance.

Right for a single instance (``conduit serve`` with one worker): a write and its author's
next read meet in the same process. With several processes the positions must be shared:
set ``CONDUIT_REDIS_URL`` (:mod:`conduit.adapters.redis_write_positions`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection

# Past this many users remembered, the forgotten (expired) ones are dropped on the next write.
PRUNE_ABOVE = 10_000


class MemoryWritePositions:
    """:class:`~conduit.core.replicas.WritePositions` in a dict, each for ``ttl_seconds``."""

    def __init__(self, *, ttl_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_seconds = ttl_seconds
        self._clock = clock
        self._positions: dict[int, tuple[int, float]] = {}

    async def last(self, user_id: int) -> int | None:
        entry = self._positions.get(user_id)
        if entry is None:
            return None
        position, until = entry
        if until <= self._clock():
            del self._positions[user_id]
            return None
        return position

    async def record(self, user_ids: Collection[int], position: int) -> None:
        now = self._clock()
        until = now + self.ttl_seconds
        for user_id in user_ids:
            entry = self._positions.get(user_id)
            if entry is not None and entry[1] > now:
                position_kept = max(entry[0], position)
            else:
                position_kept = position
            self._positions[user_id] = (position_kept, until)
        if len(self._positions) > PRUNE_ABOVE:
            self._positions = {
                user: entry for user, entry in self._positions.items() if entry[1] > now
            }

    async def close(self) -> None:
        self._positions.clear()
