"""Wake-ups over Redis pub/sub, for a database that cannot notify (MariaDB).

Each process publishes after its own commits (a ``db.on_commit`` listener wired by
bootstrap: :meth:`RedisWakeups.signal`), one message per transaction naming its event
types, on ``conduit:wakeups:<topic>``; every instance listens there. Pub/sub keeps
nothing: a message sent while an instance is disconnected is lost, so after every
(re)subscribe the subscribers wake once, and while the listener is down they poll at their
short interval. A commit's publish waits at most ``timeout_seconds``; after a failure the
publishes pause for a second (the listeners are down too, and poll meanwhile), so that
Redis being down never slows the writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Collection

import structlog
from redis.asyncio import Redis

from conduit.adapters.redis_client import redis_client as any_redis_client
from conduit.core.tasks import cancel_and_wait
from conduit.core.wakeups import WakeupHub

_log = structlog.get_logger("conduit.wakeups")
PREFIX = "conduit:wakeups:"
PAUSE_AFTER_FAILURE_SECONDS = 1.0


def redis_client(url: str, *, timeout_seconds: float | None) -> Redis:
    """A client for ``url`` (a plain or a Sentinel URL, following failovers): the one place
    the wake-ups make one."""
    return any_redis_client(
        url,
        socket_connect_timeout=timeout_seconds or 2.0,
        socket_timeout=timeout_seconds,
        health_check_interval=30,
    )


class RedisWakeups(WakeupHub):
    """The Redis adapter of :class:`conduit.core.wakeups.Wakeups`."""

    signals_commits = True

    def __init__(self, url: str, *, timeout_seconds: float = 0.25, max_backoff: float = 5.0):
        super().__init__()
        self._url = url
        self.timeout_seconds = timeout_seconds
        self.max_backoff = max_backoff
        self._publisher: Redis | None = None
        self._listener: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()
        self._paused_until = 0.0
        self.subscribes = 0  # subscriptions made so far (the first one included)

    async def start(self) -> None:
        """Start listening; waits a little for the first subscription, never failing."""
        if self._listener is None:
            self._listener = asyncio.create_task(self._listen(), name="wakeups-redis-listener")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._subscribed.wait(), timeout=2.0)

    async def _listen(self) -> None:
        pause = 0.1
        while True:
            try:
                # A client of its own: a subscribed connection runs no other command, and
                # reading waits with no timeout (an idle channel is not an error).
                listener = redis_client(self._url, timeout_seconds=None)
                async with listener, listener.pubsub() as pubsub:
                    await pubsub.psubscribe(PREFIX + "*")
                    self.subscribes += 1
                    self._subscribed.set()
                    self.connection_changed(True)  # what was sent meanwhile is lost
                    pause = 0.1
                    async for message in pubsub.listen():
                        if message.get("type") == "pmessage":
                            self._received(message["channel"], message["data"])
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                _log.warning("wakeups_unavailable", error=repr(exc), retry_in=pause)
            finally:
                if self._subscribed.is_set():
                    self._subscribed.clear()
                    self.connection_changed(False)
            await asyncio.sleep(pause)
            pause = min(pause * 2, self.max_backoff)

    def _received(self, channel: bytes, data: bytes) -> None:
        topic = channel.decode().removeprefix(PREFIX)
        text = data.decode()
        self.deliver(topic, text.split("\n") if text else None)

    async def signal(self, topic: str, details: Collection[str]) -> None:
        """Publish to every instance; a failure is logged, never raised."""
        if time.monotonic() < self._paused_until:
            return
        if self._publisher is None:
            self._publisher = redis_client(self._url, timeout_seconds=self.timeout_seconds)
        try:
            await asyncio.wait_for(
                self._publisher.publish(PREFIX + topic, "\n".join(sorted(details))),
                timeout=self.timeout_seconds,
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._paused_until = time.monotonic() + PAUSE_AFTER_FAILURE_SECONDS
            _log.warning("wakeup_not_sent", error=repr(exc))

    async def close(self) -> None:
        await cancel_and_wait(self._listener)
        self._listener = None
        if self._publisher is not None:
            with contextlib.suppress(Exception):
                await self._publisher.aclose()
            self._publisher = None
        self._connected = False
