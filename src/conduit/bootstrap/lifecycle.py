"""What a Conduit process runs beside its requests, started and stopped in one place.

``conduit serve`` (the app's lifespan) and ``conduit worker`` both go through
``Container.start(role)`` and ``Container.stop()`` (``Container.running(role)`` does both);
the role is all that differs:

``Role.SERVE``
    the access-rules keeper; live updates (the commit-time publisher, and the bus that feeds
    this instance's sockets); the events: with the embedded bus the relay, the pruning
    (uploads; failed OpenID Connect logins) and every consumer, with a broker the relay and
    the pruning if
    CONDUIT_RELAY_IN_SERVE (the consumers run in ``conduit worker``), else nothing.
``Role.WORKER``
    the live publisher (what the consumers commit reaches every instance's sockets); the
    relay, the pruning (unreferenced uploads; with OpenID Connect providers, failed logins'
    audit records and abandoned login states) and every consumer.
``Role.FUNCTION``
    a serverless function (``entrypoints/serverless.py``): the pools and the access rules,
    loaded at the start and again before an invocation once they are older than
    CONDUIT_ACCESS_RULES_REFRESH_SECONDS (:meth:`Lifecycle.refresh_access_rules`), nothing in
    the background, since a function is frozen between invocations: no live updates, no
    relay, no pruning. Writes leave their events in the outbox for a one-pass relay on a
    schedule (``relay_pass.py``: ``conduit events relay --once``, or the relay function).

Both ``conduit serve`` and ``conduit worker`` listen for other processes' commits on the
wake-up channel (``wakeups.py``: PostgreSQL ``LISTEN``, or Redis on MariaDB), as the part
``wakeups``, so that the relay and the keeper sleep until told instead of polling.

With metrics on, both roles also sample what the metrics read from the process's state
(``observability.metrics.sampler``), as the part ``metrics``.

First of all the container's pools are entered, so that they close last: the database, the
file storage, the rate limiter, the OpenID Connect clients and the response cache (and
before them tracing, when on, which exports its last spans at the very end). Every
part stops in the reverse order of its start (the events first, the database last), each
within ``core.lifecycle.STOP_TIMEOUT_SECONDS`` and all within CONDUIT_SHUTDOWN_TIMEOUT_SECONDS;
a stop that fails or overruns is logged and the next part stops all the same.

The events stop gracefully (:func:`run_worker`): the relay publishes and stamps the batch it
has begun, the consumers take no new delivery, and the deliveries in progress are applied
to the end (their transactions commit); what is left unacknowledged is delivered again
later and skipped, being applied already.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import enum
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

import structlog

from conduit.auth import access
from conduit.bootstrap.housekeeping import prune_logins, prune_uploads
from conduit.bootstrap.wakeups import signal_commits, wakeups_for
from conduit.core import lifecycle as parts_lifecycle
from conduit.core.bus import Deliver, delivery
from conduit.core.consumers import Consumer
from conduit.core.lifecycle import StartedParts
from conduit.core.principal import AccessRulesKeeper
from conduit.core.relay import Relay
from conduit.core.tasks import InFlight
from conduit.core.wakeups import LocalWakeups, Wakeups
from conduit.live.updates import LiveUpdates

if TYPE_CHECKING:
    from conduit.bootstrap import Container

log = structlog.get_logger("conduit.worker")


class Role(enum.Enum):
    """What a process asks the container to run (see the module docstring)."""

    SERVE = "serve"
    WORKER = "worker"
    FUNCTION = "function"


class Lifecycle:
    """One container's running parts: built once, started for a role, stopped in reverse."""

    def __init__(self, container: Container) -> None:
        self._container = container
        self._parts = StartedParts()
        self._keeper: AccessRulesKeeper | None = None
        self._live: LiveUpdates | None = None
        self._rules_loaded_at: float | None = None  # Role.FUNCTION: wall-clock time
        # What wakes the relay and the keeper when another process commits (wakeups.py);
        # every process built signals its commits on it when the channel needs that.
        self.wakeups: Wakeups = wakeups_for(container.settings)
        signal_commits(container.db, self.wakeups)

    @property
    def live_updates(self) -> LiveUpdates:
        """The hub, publisher and live bus (built on first use; started by :meth:`start`)."""
        if self._live is None:
            c = self._container
            self._live = LiveUpdates(c.settings, c.db, c.live, c.authenticator)
        return self._live

    @property
    def started(self) -> tuple[str, ...]:
        """The parts running now, in the order they started."""
        return self._parts.parts

    def prepare(self, role: Role) -> None:
        """Build what the role's requests need before it starts: in ``conduit serve`` (and a
        function), the access-rules keeper, which applies this process's own commits from
        now on."""
        if role in (Role.SERVE, Role.FUNCTION) and self._keeper is None:
            self._keeper = access_keeper(self._container)

    async def start(self, role: Role) -> None:
        if self._parts.parts:
            raise RuntimeError(f"already started: {', '.join(self._parts.parts)}")
        self.prepare(role)
        try:
            self._enter_pools()
            if role is Role.SERVE:
                await self._start_serve()
            elif role is Role.WORKER:
                await self._start_worker()
            else:
                await self.refresh_access_rules()
        except BaseException:
            await self._parts.stop()
            raise

    async def stop(self) -> list[str]:
        """Stop every part, all within CONDUIT_SHUTDOWN_TIMEOUT_SECONDS."""
        self._rules_loaded_at = None
        return await self._parts.stop(self._container.settings.shutdown_timeout_seconds)

    async def refresh_access_rules(self) -> None:
        """Reload other instances' revocations, bans and roles if the last load is older
        than CONDUIT_ACCESS_RULES_REFRESH_SECONDS: what ``Role.FUNCTION`` does before an
        invocation instead of a background loop. A failed load keeps the last rules (the
        request then meets the database's own error) and is tried again next time."""
        keeper = self._keeper
        assert keeper is not None  # prepare() built it
        now, loaded = time.time(), self._rules_loaded_at
        if loaded is not None and 0 <= now - loaded < keeper.interval:
            return
        try:
            await keeper.reload()
        except Exception as exc:
            log.warning("access_rules_reload_failed", error=str(exc).splitlines()[:1])
            return
        self._rules_loaded_at = now

    async def wait(self) -> None:
        """Until a background part (the events) fails on its own: its error is raised."""
        await self._parts.wait()

    def _enter_pools(self) -> None:
        c, parts = self._container, self._parts
        if c.tracing is not None:  # stopped last: exports the spans of every other stop
            c.tracing.started()
            parts.on_stop("tracing", c.tracing.shutdown)
        parts.on_stop("database", c.db.dispose)
        parts.on_stop("storage", c.storage.close)
        if c.rate_limiter is not None:
            parts.on_stop("rate-limiter", c.rate_limiter.close)
        for name, provider in reversed(list(c.identity_providers.items())):
            parts.on_stop(f"identity-provider:{name}", provider.close)
        parts.on_stop("cache", c.cache.close)

    async def _start_serve(self) -> None:
        c, parts, keeper = self._container, self._parts, self._keeper
        assert keeper is not None  # prepare(Role.SERVE) built it
        await self._start_live(deliver=True)
        self._start_metrics()
        await self._start_wakeups()  # before the first load: no change falls in between
        with contextlib.suppress(Exception):  # the loop below retries (and logs) a failure
            await keeper.reload()
        parts.run("access-rules", keeper.run())
        if c.embedded_bus:  # relay and consumers in this process
            parts.run("events", run_worker(c))
        elif c.settings.relay_in_serve:  # the relay here, the consumers in conduit worker
            parts.run("events", run_worker(c, (), relay=True))

    async def _start_worker(self) -> None:
        # Notifications written here reach the sockets of every conduit serve (over Redis).
        await self._start_live(deliver=False)
        self._start_metrics()
        await self._start_wakeups()
        self._parts.run("events", run_worker(self._container))

    async def _start_wakeups(self) -> None:
        """Listen for other processes' commits (returns soon even when the channel is
        down: it keeps reconnecting, and the sleepers poll meanwhile). The embedded channel
        has nothing to start or stop."""
        if isinstance(self.wakeups, LocalWakeups):
            return
        self._parts.on_stop("wakeups", self.wakeups.close)
        await self.wakeups.start()

    def _start_metrics(self) -> None:
        """Sample what the metrics read from the process's state (when they are on)."""
        metrics = self._container.metrics
        if metrics is not None:
            metrics.watch(self.live_updates.hub)
            self._parts.run("metrics", metrics.run())

    async def _start_live(self, *, deliver: bool) -> None:
        """Publish what this process commits; ``deliver``: hand what any instance published
        to this one's sockets (the hub)."""
        live, parts = self.live_updates, self._parts
        parts.on_stop("live-bus", live.bus.close)
        live.publisher.start()
        parts.on_stop("live-publisher", live.publisher.close)
        self._container.db.on_commit(live.publisher.committed)
        if deliver:
            await live.bus.start(live.hub.deliver)


def relay_for(container: Container) -> Relay:
    """The outbox relay, configured from settings, over the container's bus."""
    settings = container.settings
    return Relay(
        container.db,
        container.bus,
        batch_size=settings.relay_batch_size,
        poll_interval=settings.relay_poll_interval_seconds,
        retention=dt.timedelta(days=settings.event_retention_days),
        wakeups=container.lifecycle.wakeups,
        safety_interval=settings.safety_poll_seconds,
    )


def access_keeper(container: Container) -> AccessRulesKeeper:
    """Keeps the container's authenticator current: revocations, bans and roles, reloaded
    when another process commits one of the events that change them (``access.TRIGGERS``)."""
    settings = container.settings
    return AccessRulesKeeper(
        container.db,
        container.authenticator,
        load=lambda conn, horizon: access.load(conn, horizon=horizon),
        fold=access.apply,
        interval=settings.access_rules_refresh_seconds,
        wakeups=container.lifecycle.wakeups,
        wakes_on=access.TRIGGERS,
        safety_interval=settings.safety_poll_seconds,
    )


async def run_worker(
    container: Container,
    consumers: Sequence[Consumer] | None = None,
    *,
    relay: bool = True,
) -> None:
    """Consume (``consumers``, default: the container's) and relay until cancelled.

    Every consumer is subscribed before the relay publishes anything, so the embedded bus
    never publishes a batch that a consumer of this process misses. Cancelled, it stops
    gracefully within :func:`grace_seconds`: the relay finishes the batch in hand (published
    and stamped), the consume loops stop taking messages, and the deliveries in progress
    are applied to the end. Past the grace what is left is cancelled: an unfinished
    transaction rolls back and its message is delivered again later (consumers are
    idempotent).
    """
    chosen = container.consumers if consumers is None else tuple(consumers)
    bus = container.bus
    max_attempts = container.settings.consumer_max_attempts
    in_flight = InFlight()

    def whole(consumer: Consumer) -> Deliver:
        deliver = delivery(container.db, consumer, max_attempts=max_attempts)
        return lambda event, attempt: in_flight.run(deliver(event, attempt))

    tasks = [
        asyncio.create_task(bus.consume(consumer, whole(consumer)), name=f"consume:{consumer.name}")
        for consumer in chosen
    ]
    relayer = relay_for(container) if relay else None
    try:
        await asyncio.sleep(0)  # let every consume task subscribe
        if relayer is not None:
            tasks.append(asyncio.create_task(relayer.run(), name="relay"))
            tasks.append(asyncio.create_task(prune_uploads(container), name="prune-uploads"))
            if container.identity_providers:
                tasks.append(asyncio.create_task(prune_logins(container), name="prune-logins"))
        log.info("worker_started", consumers=[c.name for c in chosen], relay=relay)
        # A task that ends on its own has failed: let its error surface.
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            task.result()
    finally:
        await _wind_down(tasks, relayer, in_flight, grace_seconds(container))
        await bus.close()


def grace_seconds(container: Container) -> float:
    """How long the events may take to stop gracefully: within the part's own stop
    timeout (``core.lifecycle``), with room left for closing the bus."""
    timeout = parts_lifecycle.STOP_TIMEOUT_SECONDS
    return 0.8 * min(container.settings.shutdown_timeout_seconds, timeout)


async def _wind_down(
    tasks: list[asyncio.Task[None]], relayer: Relay | None, in_flight: InFlight, grace: float
) -> None:
    """Stop the events: no new batch, no new message; what is in hand finishes within
    ``grace`` seconds (the embedded bus delivers the batch in hand to the consumers it had)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + grace
    relay_task = next((task for task in tasks if task.get_name() == "relay"), None)
    if relayer is not None:
        relayer.stop()  # the batch in hand is published and stamped, then run() returns
    for task in tasks:
        if task is not relay_task:  # the consume loops take no new message
            task.cancel()
    if relay_task is not None:
        await asyncio.wait({relay_task}, timeout=grace)
    batch_finished = relay_task is None or relay_task.done()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    cut = await in_flight.finish(deadline - loop.time())
    log.info(
        "worker_stopped",
        relay_batch_finished=batch_finished,
        deliveries_cut=cut,
    )
