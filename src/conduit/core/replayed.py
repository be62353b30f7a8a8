"""Telling listeners when the read replicas have replayed a commit.

The response cache forgets what a write changed when the write commits (a commit
listener). With read replicas that is not enough: an anonymous read a moment later may
still be answered by a replica that has not replayed the write, and its answer would be
cached under the new generation, stale until its TTL. So the cache listens here too: once
every replica in service has replayed the commit, its events are heard again and what they
changed is forgotten a second time. Anonymous readers then see a write at most as late as
the replicas do, as without a cache.

One task per process asks each replica ``pg_last_wal_replay_lsn()`` every
``POLL_SECONDS`` while commits wait (never when idle), and tells the listeners of every
commit all of them have passed; a commit waits at most ``give_up_seconds`` (a replica far
behind, or gone without refusing connections). A replica that fails to answer is left out
of reads like any other (:class:`~conduit.core.replicas.ReplicaSet`) and of this count.
The positions it reports also tell the read path which replicas have a user's write.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import structlog

from conduit.core.events import Event
from conduit.core.tasks import cancel_and_wait

_log = structlog.get_logger("conduit.db")

POLL_SECONDS = 0.02
ReplayListener = Callable[[Sequence[Event]], Awaitable[None]]


@dataclass(slots=True)
class _Waiting:
    position: int
    events: Sequence[Event]
    since: float


class ReplayWatcher:
    """Calls its listeners with a commit's events once the replicas have replayed it.

    ``replayed_everywhere()``: the lowest replay position among the replicas in service.
    """

    def __init__(
        self,
        replayed_everywhere: Callable[[], Awaitable[int]],
        *,
        give_up_seconds: float,
        poll_seconds: float = POLL_SECONDS,
    ) -> None:
        self._replayed_everywhere = replayed_everywhere
        self.give_up_seconds = give_up_seconds
        self.poll_seconds = poll_seconds
        self._listeners: list[ReplayListener] = []
        self._waiting: list[_Waiting] = []
        self._task: asyncio.Task[None] | None = None

    def listen(self, listener: ReplayListener) -> None:
        self._listeners.append(listener)

    @property
    def listening(self) -> bool:
        return bool(self._listeners)

    def committed(self, position: int, events: Sequence[Event]) -> None:
        """A commit at ``position`` with these events (nothing happens without listeners)."""
        if not self._listeners or not events:
            return
        loop = asyncio.get_running_loop()
        self._waiting.append(_Waiting(position, tuple(events), loop.time()))
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._run(), name="replica-replay-watcher")

    async def close(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None
        self._waiting.clear()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while self._waiting:
            await asyncio.sleep(self.poll_seconds)
            try:
                reached = await self._replayed_everywhere()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                _log.warning("replica_replay_unknown", error=repr(exc))
                reached = -1
            now = loop.time()
            due = [
                waiting
                for waiting in self._waiting
                if waiting.position <= reached or now - waiting.since >= self.give_up_seconds
            ]
            if not due:
                continue
            self._waiting = [waiting for waiting in self._waiting if waiting not in due]
            events = [event for waiting in due for event in waiting.events]
            for listener in self._listeners:
                try:
                    await listener(events)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    _log.exception("replay listener failed")
