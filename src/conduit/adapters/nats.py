"""The event bus on NATS JetStream (``CONDUIT_BROKER_URL=nats://...``), with nats-py.

- One stream, ``CONDUIT`` (file storage), capturing ``conduit.events.>``; each event is
  published to ``conduit.events.<type>`` with the header ``Nats-Msg-Id`` = the event id (a
  replay: its own message id) and the envelope's ``traceparent`` / ``tracestate`` headers,
  so the broker drops a second copy of the same event within the stream's duplicate window
  (a relay that crashed after publishing and before marking its rows republishes them).
  :meth:`NatsBus.publish` returns once JetStream acknowledged (PubAck) every message.
- One durable pull consumer per Conduit consumer, named after it: several workers bound to
  the same durable share its messages (competing consumers). Every durable filters on
  ``conduit.events.>`` and this adapter acknowledges the types its consumer does not want
  without touching the database. NATS 2.9 allows one filter subject per consumer, and it
  cannot change a durable's filter in place (it accepts the update, then delivers nothing),
  so a filter derived from the consumer's types would break the durable the day a release
  adds a type to it; the fixed wildcard keeps the durable valid across releases. ``ack_wait``
  and ``max_deliver`` are updated in place when they change.
- ``attempt`` is JetStream's delivery count; a failure is negatively acknowledged with the
  delay :func:`~conduit.core.bus.backoff_seconds` gives; the failure at ``max_attempts`` is
  recorded in ``dead_letters`` by :func:`~conduit.core.bus.delivery` and acknowledged.
  ``max_deliver`` is ``max_attempts + 1``: JetStream drops a message silently once it hit
  ``max_deliver``, so the spare delivery makes sure a message whose last attempt never
  settled (the worker died, or ``ack_wait`` ran out) still ends applied or dead-lettered.
  A message that is not an event envelope is terminated (never redelivered) and logged.
- Fetches are long polls (5 s): nats-py's short pull requests race with their expiry on
  NATS 2.9 (a redelivery reaches an expired request and its delivery count goes wrong).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Awaitable, Mapping, Sequence

import nats
import nats.errors
import nats.js.errors
import structlog
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)

from conduit.core.bus import MAX_ATTEMPTS, Deliver, Outcome, backoff_seconds, message_id
from conduit.core.consumers import Consumer
from conduit.core.events import Event

SUBJECT_PREFIX = "conduit.events"
MESSAGE_ID_HEADER = "Nats-Msg-Id"

_log = structlog.get_logger("conduit.bus.nats")


def subject_for(event_type: str) -> str:
    """The subject an event type is published on: ``conduit.events.<type>``."""
    return f"{SUBJECT_PREFIX}.{event_type}"


class NatsBus:
    """:class:`~conduit.core.bus.EventBus` on NATS JetStream (see the module docstring)."""

    def __init__(
        self,
        url: str,
        *,
        stream: str = "CONDUIT",
        max_attempts: int = MAX_ATTEMPTS,
        ack_wait_seconds: float = 30.0,
        publish_timeout_seconds: float = 5.0,
        duplicate_window_seconds: float = 120.0,
        max_age_seconds: float = 7 * 24 * 3600.0,
        fetch_batch: int = 16,
        fetch_timeout_seconds: float = 5.0,
    ) -> None:
        self.url = url
        self.stream = stream
        self.max_attempts = max_attempts
        self.ack_wait_seconds = ack_wait_seconds
        self.publish_timeout_seconds = publish_timeout_seconds
        self.duplicate_window_seconds = duplicate_window_seconds
        self.max_age_seconds = max_age_seconds
        self.fetch_batch = fetch_batch
        self.fetch_timeout_seconds = fetch_timeout_seconds
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._starting = asyncio.Lock()

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect (reconnecting forever afterwards) and create or update the stream."""
        async with self._starting:
            if self._nc is None or self._nc.is_closed:
                self._nc = await nats.connect(
                    self.url,
                    name="conduit",
                    max_reconnect_attempts=-1,
                    reconnect_time_wait=1,
                    connect_timeout=self.publish_timeout_seconds,
                    drain_timeout=self.publish_timeout_seconds,
                    error_cb=self._on_error,
                    disconnected_cb=self._on_disconnected,
                    reconnected_cb=self._on_reconnected,
                )
                self._js = self._nc.jetstream(timeout=self.publish_timeout_seconds)
            await self._declare_stream(self._jetstream())

    async def close(self) -> None:
        """Flush what is buffered and disconnect (cancel the ``consume`` tasks first)."""
        nc, self._nc, self._js = self._nc, None, None
        if nc is not None and not nc.is_closed:
            with contextlib.suppress(Exception):
                await nc.drain()
            if not nc.is_closed:
                await nc.close()

    async def ping(self) -> None:
        """A PING/PONG round trip with the server (the readiness check); fails while the
        client is reconnecting."""
        if self._nc is None or self._nc.is_closed:
            await self.start()
        nc = self._nc
        if nc is None or not nc.is_connected:
            raise ConnectionError("not connected to NATS")
        await nc.flush(timeout=max(1, math.ceil(self.publish_timeout_seconds)))

    async def _declare_stream(self, js: JetStreamContext) -> None:
        config = StreamConfig(
            name=self.stream,
            description="Conduit domain events (see asyncapi.json).",
            subjects=[f"{SUBJECT_PREFIX}.>"],
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            discard=DiscardPolicy.OLD,
            max_age=self.max_age_seconds,
            duplicate_window=self.duplicate_window_seconds,
        )
        try:
            await js.stream_info(self.stream)
        except nats.js.errors.NotFoundError:
            try:
                await js.add_stream(config)
                return
            except nats.js.errors.BadRequestError:
                pass  # another process created it in between: update it below
        await js.update_stream(config)

    def _jetstream(self) -> JetStreamContext:
        if self._js is None:
            raise RuntimeError("NatsBus is not started")
        return self._js

    # -- publishing ---------------------------------------------------------------------------

    async def publish(
        self, events: Sequence[Event], *, message_ids: Mapping[str, str] | None = None
    ) -> None:
        """Publish every event and return once JetStream stored (or de-duplicated) each one.

        ``message_ids`` maps an event id to the ``Nats-Msg-Id`` to use instead of the event
        id, e.g. ``"<event id>.replay.<n>"`` for a dead letter queued again, which must not
        be dropped as a duplicate of its first publication. Raises (nats-py's timeout or
        connection errors, or ``nats.js.errors.APIError``) when any event was not confirmed;
        the caller keeps its rows and publishes them again later.
        """
        if not events:
            return
        if self._js is None:
            await self.start()
        js = self._jetstream()
        overrides = message_ids or {}

        async def one(event: Event) -> None:
            ack = await js.publish(
                subject_for(event.type),
                event.to_json(),
                timeout=self.publish_timeout_seconds,
                stream=self.stream,
                headers={
                    MESSAGE_ID_HEADER: overrides.get(event.id, message_id(event)),
                    **event.trace(),
                },
            )
            if ack.duplicate:
                _log.info("bus_duplicate_dropped", event_id=event.id, event_type=event.type)

        await asyncio.gather(*(one(event) for event in events))

    # -- consuming ----------------------------------------------------------------------------

    def consumer_config(self, consumer: Consumer) -> ConsumerConfig:
        """The durable pull consumer for a Conduit consumer (create-or-update, idempotent)."""
        types = sorted(consumer.types)
        return ConsumerConfig(
            name=consumer.name,
            durable_name=consumer.name,
            description=f"Conduit consumer {consumer.name}: {', '.join(types)}",
            deliver_policy=DeliverPolicy.ALL,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=self.ack_wait_seconds,
            max_deliver=self.max_attempts + 1,
            filter_subject=f"{SUBJECT_PREFIX}.>",
        )

    async def consume(self, consumer: Consumer, deliver: Deliver) -> None:
        """Fetch the consumer's messages and settle each by ``deliver``'s outcome, until
        cancelled. Survives broker restarts: fetches fail while it is away and resume after
        nats-py reconnects."""
        if self._js is None:
            await self.start()
        js = self._jetstream()
        await js.add_consumer(self.stream, self.consumer_config(consumer))
        sub = await js.pull_subscribe_bind(durable=consumer.name, stream=self.stream)
        try:
            while True:
                try:
                    messages = await sub.fetch(self.fetch_batch, timeout=self.fetch_timeout_seconds)
                except TimeoutError:  # nats-py raises its own and asyncio's: nothing to do
                    continue
                except (nats.errors.Error, nats.js.errors.Error, OSError) as exc:
                    _log.warning("bus_fetch_failed", consumer=consumer.name, error=repr(exc))
                    await asyncio.sleep(1.0)
                    continue
                for message in messages:
                    try:
                        await self._settle(consumer, deliver, message)
                    except (nats.errors.Error, OSError) as exc:  # the ack could not be sent:
                        # JetStream redelivers after ack_wait; applying again is a no-op.
                        _log.warning("bus_settle_failed", consumer=consumer.name, error=repr(exc))
        finally:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    async def _settle(self, consumer: Consumer, deliver: Deliver, message: Msg) -> None:
        try:
            event = Event.from_json(message.data)
        except ValueError as exc:
            _log.error(
                "bus_invalid_message",
                consumer=consumer.name,
                subject=message.subject,
                error=str(exc),
                size=len(message.data),
            )
            await message.term()
            return
        if not consumer.wants(event):
            await message.ack()
            return
        attempt = message.metadata.num_delivered or 1
        try:
            outcome = await self._while_in_progress(message, deliver(event, attempt))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the database is away: retry later, like a handler error
            _log.error(
                "bus_delivery_failed",
                consumer=consumer.name,
                event_id=event.id,
                attempt=attempt,
                error=repr(exc),
            )
            outcome = Outcome.RETRY
        if outcome is Outcome.RETRY:
            await message.nak(delay=backoff_seconds(attempt))
        else:
            await message.ack()

    async def _while_in_progress(self, message: Msg, work: Awaitable[Outcome]) -> Outcome:
        """Run ``work``, telling JetStream the message is in progress every third of
        ``ack_wait`` so a slow handler is not redelivered to another worker meanwhile."""
        task = asyncio.ensure_future(work)
        try:
            while True:
                done, _ = await asyncio.wait({task}, timeout=self.ack_wait_seconds / 3)
                if done:
                    return task.result()
                with contextlib.suppress(Exception):
                    await message.in_progress()
        finally:
            if not task.done():
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task

    # -- connection events ----------------------------------------------------------------------

    async def _on_error(self, exc: Exception) -> None:
        _log.warning("nats_error", error=repr(exc))

    async def _on_disconnected(self) -> None:
        _log.warning("nats_disconnected", url=self._safe_url())

    async def _on_reconnected(self) -> None:
        _log.info("nats_reconnected", url=self._safe_url())

    def _safe_url(self) -> str:
        return self.url.split("@")[-1]
