"""RabbitMQ event bus (``CONDUIT_BROKER_URL=amqp://...``), on aio-pika.

Topology (declared by :meth:`RabbitMqBus.start` for every known consumer, so that no event
published before a worker first ran is dropped for want of a queue):

- ``conduit.events``: durable topic exchange; routing key = event type; messages are
  persistent JSON envelopes, ``message_id`` = :func:`~conduit.core.bus.message_id`, with
  the envelope's ``traceparent`` / ``tracestate`` as headers too (when it has them).
- ``conduit.<consumer>``: one durable quorum queue per consumer, bound to each of the
  consumer's event types, dead-lettering to ``conduit.dead`` after ``x-delivery-limit``
  deliveries, a safety net for messages that crash the worker itself;
- ``conduit.dead``: fanout exchange with the durable queue ``conduit.dead``.

Publishing waits for the publisher confirm of every message (a nack or a lost connection
raises, and the relay keeps the rows unpublished). Consuming: the attempt number is the
quorum queue's ``x-delivery-count`` header + 1; ``RETRY`` waits
:func:`~conduit.core.bus.backoff_seconds` and then requeues; ``DONE`` and ``DEAD`` (already
recorded in ``dead_letters``) acknowledge. Each consumer (and the publisher) keeps its own
connection and reconnects with backoff while the broker is away.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any

import aio_pika
import structlog
from aio_pika.abc import (
    AbstractChannel,
    AbstractConnection,
    AbstractExchange,
    AbstractIncomingMessage,
)

from conduit.core.bus import MAX_ATTEMPTS, Deliver, Outcome, backoff_seconds, message_id
from conduit.core.consumers import Consumer
from conduit.core.events import Event

EXCHANGE = "conduit.events"
DEAD_EXCHANGE = "conduit.dead"
DEAD_QUEUE = "conduit.dead"

_log = structlog.get_logger("conduit.rabbitmq")


def queue_name(consumer: Consumer) -> str:
    return f"conduit.{consumer.name}"


def _trace_headers(event: Event) -> dict[str, Any] | None:
    """The envelope's ``traceparent`` / ``tracestate``, as message headers too."""
    return dict(event.trace()) or None


class RabbitMqBus:
    """:class:`~conduit.core.bus.EventBus` over RabbitMQ; see the module docstring."""

    def __init__(
        self,
        url: str,
        *,
        consumers: Sequence[Consumer] = (),
        max_attempts: int = MAX_ATTEMPTS,
        prefetch: int = 20,
        backoff_cap: float = 30.0,
    ) -> None:
        self.url = url
        self.consumers = tuple(consumers)
        # The broker's own limit sits above Conduit's, so it only catches what Conduit could
        # not settle (a worker that dies on the message every time).
        self.delivery_limit = max_attempts * 2 + 5
        self.prefetch = prefetch
        self.backoff_cap = backoff_cap
        self._connection: AbstractConnection | None = None
        self._exchange: AbstractExchange | None = None
        self._lock = asyncio.Lock()

    async def _declare(self, channel: AbstractChannel, consumers: Sequence[Consumer]) -> Any:
        exchange = await channel.declare_exchange(
            EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True
        )
        dead = await channel.declare_exchange(
            DEAD_EXCHANGE, aio_pika.ExchangeType.FANOUT, durable=True
        )
        dead_queue = await channel.declare_queue(
            DEAD_QUEUE, durable=True, arguments={"x-queue-type": "quorum"}
        )
        await dead_queue.bind(dead, routing_key="")
        queues = []
        for consumer in consumers:
            queue = await channel.declare_queue(
                queue_name(consumer),
                durable=True,
                arguments={
                    "x-queue-type": "quorum",
                    "x-dead-letter-exchange": DEAD_EXCHANGE,
                    "x-delivery-limit": self.delivery_limit,
                },
            )
            for event_type in sorted(consumer.types):
                await queue.bind(exchange, routing_key=event_type)
            queues.append(queue)
        return exchange, queues

    async def start(self) -> None:
        async with self._lock:
            if self._connection is not None and not self._connection.is_closed:
                return
            connection = await aio_pika.connect(self.url, timeout=5)
            try:
                channel = await connection.channel(publisher_confirms=True)
                self._exchange, _ = await self._declare(channel, self.consumers)
            except BaseException:
                await connection.close()
                raise
            self._connection = connection

    async def publish(self, events: Sequence[Event]) -> None:
        if not events:
            return
        await self.start()
        exchange = self._exchange
        assert exchange is not None
        try:
            await asyncio.gather(
                *(
                    exchange.publish(
                        aio_pika.Message(
                            event.to_json(),
                            content_type="application/json",
                            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                            message_id=message_id(event),
                            type=event.type,
                            headers=_trace_headers(event),
                        ),
                        routing_key=event.type,
                        mandatory=False,  # a type no consumer wants is simply not routed
                        timeout=10,
                    )
                    for event in events
                )
            )
        except BaseException:
            await self._reset()
            raise

    async def ping(self) -> None:
        """Connect if need be, then open and close a channel: a round trip on the
        connection the relay publishes on (the readiness check)."""
        await self.start()
        connection = self._connection
        if connection is None:
            raise ConnectionError("not connected")
        channel = await connection.channel(publisher_confirms=False)
        await channel.close()

    async def _reset(self) -> None:
        connection, self._connection, self._exchange = self._connection, None, None
        if connection is not None and not connection.is_closed:
            with contextlib.suppress(Exception):  # already broken; a new one opens next time
                await connection.close()

    async def consume(self, consumer: Consumer, deliver: Deliver) -> None:
        failures = 0
        while True:
            try:
                connection = await aio_pika.connect(self.url, timeout=5)
            except Exception as exc:
                failures += 1
                await self._wait_for_broker(consumer, exc, failures)
                continue
            try:
                async with connection:
                    channel = await connection.channel()
                    await channel.set_qos(prefetch_count=self.prefetch)
                    _, (queue,) = await self._declare(channel, [consumer])
                    failures = 0
                    _log.info("consumer_connected", consumer=consumer.name, queue=queue.name)
                    async with queue.iterator() as messages:
                        async for message in messages:
                            await self._settle(consumer, deliver, message)
                    # The iterator ends when the channel closes; reconnect.
                    raise ConnectionError("channel closed")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                await self._wait_for_broker(consumer, exc, failures)

    async def _wait_for_broker(self, consumer: Consumer, exc: Exception, failures: int) -> None:
        delay = backoff_seconds(failures, cap=min(self.backoff_cap, 5.0))
        _log.warning(
            "consumer_reconnecting", consumer=consumer.name, error=repr(exc), retry_in=delay
        )
        await asyncio.sleep(delay)

    async def _settle(
        self, consumer: Consumer, deliver: Deliver, message: AbstractIncomingMessage
    ) -> None:
        try:
            event = Event.from_json(message.body)
        except ValueError as exc:
            _log.error("consumer_bad_message", consumer=consumer.name, error=str(exc))
            await message.reject(requeue=False)  # to conduit.dead
            return
        delivered = (message.headers or {}).get("x-delivery-count", 0)
        attempt = (delivered if isinstance(delivered, int) else 0) + 1
        outcome = await deliver(event, attempt)
        if outcome is Outcome.RETRY:
            await asyncio.sleep(backoff_seconds(attempt, cap=self.backoff_cap))
            await message.nack(requeue=True)
        else:
            await message.ack()

    async def close(self) -> None:
        await self._reset()
