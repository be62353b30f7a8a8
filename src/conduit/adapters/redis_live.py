"""Live bus over Redis pub/sub: every instance publishes to, and listens on, one channel.

Redis pub/sub keeps nothing: an instance that is disconnected misses what is published in
the meantime (live pushes are best-effort; clients re-sync through the REST API). The
listener reconnects by itself with a growing pause (at most ``MAX_PAUSE``), so a Redis
restart only interrupts live updates while Redis is down.

With Sentinel (``redis+sentinel://``) the same loop follows a failover: killing the primary
ends the subscription, and each new attempt asks the Sentinels for the primary, so the
listener subscribes again on the promoted replica as soon as they name it. The publishing
client reconnects the same way at its next publish.
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog
from redis.asyncio import Redis

from conduit.adapters.redis_client import check_redis_url, redis_client
from conduit.core.live import LiveHandler
from conduit.core.tasks import cancel_and_wait

_log = structlog.get_logger("conduit.live")
CHANNEL = "conduit:live"
FIRST_PAUSE = 0.1
MAX_PAUSE = 2.0  # between attempts while Redis is unreachable: one connection per 2 s


class RedisLiveBus:
    def __init__(self, url: str, *, channel: str = CHANNEL) -> None:
        check_redis_url(url)  # ValueError now rather than a listener failing forever
        self._url = url
        self._channel = channel
        self._redis: Redis | None = None
        self._listener: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()

    def _client(self) -> Redis:
        if self._redis is None:
            self._redis = redis_client(
                self._url, socket_connect_timeout=2.0, socket_timeout=2.0, health_check_interval=10
            )
        return self._redis

    async def start(self, handler: LiveHandler) -> None:
        self._listener = asyncio.create_task(self._listen(handler), name="live-redis-listener")
        # Wait a little for the first subscription, so that an instance that reports ready
        # already hears what the others publish; Redis being down does not stop the start.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._subscribed.wait(), timeout=2.0)

    async def _listen(self, handler: LiveHandler) -> None:
        pause = FIRST_PAUSE
        while True:
            try:
                # A client of its own: a subscribed connection may not run other commands,
                # and reading waits with no timeout (an idle channel is not an error).
                listener = redis_client(self._url, socket_connect_timeout=2.0)
                async with listener, listener.pubsub() as pubsub:
                    await pubsub.subscribe(self._channel)
                    self._subscribed.set()
                    pause = FIRST_PAUSE
                    async for message in pubsub.listen():
                        if message.get("type") != "message":
                            continue
                        try:
                            await handler(message["data"])
                        except asyncio.CancelledError:
                            raise
                        except Exception:
                            _log.exception("live_message_failed")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._subscribed.clear()
                _log.warning("live_redis_unavailable", error=repr(exc), retry_in=pause)
            await asyncio.sleep(pause)
            pause = min(pause * 2, MAX_PAUSE)

    async def publish(self, message: bytes) -> None:
        await self._client().publish(self._channel, message)

    async def ping(self) -> None:
        """One PING to Redis; down too while the listener is not subscribed (this instance
        would not hear what the others publish)."""
        await self._client().ping()
        if self._listener is not None and not self._subscribed.is_set():
            raise ConnectionError("not subscribed to the live channel")

    async def close(self) -> None:
        await cancel_and_wait(self._listener)
        self._listener = None
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None
