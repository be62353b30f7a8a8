"""Wake-ups over PostgreSQL ``LISTEN/NOTIFY``.

The database sends them itself: a trigger on the outbox (migration 0008) calls
``pg_notify('conduit_outbox', <event type>)`` for every row, and PostgreSQL delivers the
notifications when, and only if, the transaction commits, folding identical ones. So every
process that commits events (``conduit serve``, the worker, a CLI command) wakes every
instance's relay and, for access-rule events, its keeper, with nothing to send itself.

The listener holds one connection of its own (``LISTEN`` needs a session: not through
pgbouncer in transaction mode, hence CONDUIT_DATABASE_LISTEN_URL). It reconnects with a
growing pause (0.1 s doubling to 5 s) when the connection drops, and after every
(re)connect it wakes its subscribers once, since notifications sent meanwhile were lost.
With several hosts in the URL and ``target_session_attrs=read-write`` it reaches the
primary; after a failover the old primary's connection drops and the reconnect finds the
new one (a standby refuses ``LISTEN``, which counts as a failed connect). Every
``check_interval`` seconds it sends one ``SELECT 1``, so that a connection that died
without a word (a host gone) is found out.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import Collection
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import structlog
from sqlalchemy.engine import make_url

from conduit.core.bus import backoff_seconds
from conduit.core.tasks import cancel_and_wait
from conduit.core.wakeups import OUTBOX, WakeupHub

_log = structlog.get_logger("conduit.wakeups")

# The channel per topic; the migration's trigger notifies the outbox's.
CHANNELS = {OUTBOX: "conduit_outbox"}
APPLICATION_NAME = "conduit-wakeups"  # how the listener shows in pg_stat_activity
# A connection lost sooner than this after it was made counts as a failure (backoff).
STABLE_SECONDS = 10.0
_CONNECT_PARAMETERS = frozenset(inspect.signature(asyncpg.connect).parameters)


def connect_arguments(url: str) -> dict[str, Any]:
    """asyncpg's ``connect()`` arguments for a SQLAlchemy URL, read as the engine reads it
    (several hosts, ``ssl``, ``target_session_attrs`` ...); options that only SQLAlchemy
    knows (``prepared_statement_cache_size``) are left out."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        raise ValueError(f"not a PostgreSQL URL: {parsed.drivername}://")
    parsed = parsed.set(drivername="postgresql+asyncpg")
    _, arguments = parsed.get_dialect()().create_connect_args(parsed)
    return {name: value for name, value in arguments.items() if name in _CONNECT_PARAMETERS}


class PgNotifyWakeups(WakeupHub):
    """The PostgreSQL adapter of :class:`conduit.core.wakeups.Wakeups`."""

    signals_commits = False  # the outbox's trigger notifies

    def __init__(
        self,
        url: str,
        *,
        check_interval: float = 30.0,
        connect_timeout: float = 5.0,
        max_backoff: float = 5.0,
    ) -> None:
        super().__init__()
        self._arguments = connect_arguments(url)
        settings = dict(self._arguments.get("server_settings") or {})
        settings.setdefault("application_name", APPLICATION_NAME)
        self._arguments["server_settings"] = settings
        self.check_interval = check_interval
        self.connect_timeout = connect_timeout
        self.max_backoff = max_backoff
        self._connection: asyncpg.Connection | None = None
        self._listener: asyncio.Task[None] | None = None
        self._listening = asyncio.Event()
        self.connects = 0  # connections made so far (the first one included)
        self._listening_since: float | None = None

    async def start(self) -> None:
        """Start listening; waits a little for the first connection, so that an instance
        that reports ready already hears the others, but never fails the start."""
        if self._listener is None:
            self._listener = asyncio.create_task(self._listen(), name="wakeups-pg-listener")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._listening.wait(), timeout=self.connect_timeout)

    async def _listen(self) -> None:
        failures = 0
        while True:
            try:
                connection = await asyncpg.connect(**self._arguments, timeout=self.connect_timeout)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                await self._pause(failures, exc)
                continue
            self._connection = connection
            self._listening_since = None
            error: Exception | None = None
            try:
                await self._listen_on(connection)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # LISTEN refused (a standby), a failed check ...
                error = exc
            finally:
                if self._listening.is_set():
                    self._listening.clear()
                    self.connection_changed(False)
            await self._forget(connection)
            # Reconnect at once after a connection that had lasted; else back off.
            since = self._listening_since
            lasted = since is not None and self._now() - since > STABLE_SECONDS
            failures = 0 if lasted else failures + 1
            if error is None:
                _log.warning("wakeups_connection_lost")
            if failures:
                await self._pause(failures, error or ConnectionError("connection lost"))

    @staticmethod
    def _now() -> float:
        return asyncio.get_running_loop().time()

    async def _listen_on(self, connection: asyncpg.Connection) -> None:
        """LISTEN on ``connection`` and wake everyone; return once the connection is lost,
        checking it every ``check_interval`` seconds."""
        lost = asyncio.Event()
        connection.add_termination_listener(lambda _connection: lost.set())
        for channel in CHANNELS.values():
            await connection.add_listener(channel, self._notified)
        self.connects += 1
        self._listening_since = self._now()
        self._listening.set()
        self.connection_changed(True)  # what was sent meanwhile is lost: catch up
        _log.info("wakeups_listening", connects=self.connects)
        while not lost.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(lost.wait(), timeout=self.check_interval)
            if not lost.is_set():
                await connection.fetchval("SELECT 1", timeout=self.connect_timeout)

    async def _pause(self, failures: int, exc: Exception) -> None:
        delay = backoff_seconds(failures, base=0.1, cap=self.max_backoff)
        _log.warning(
            "wakeups_unavailable",
            error=str(exc).splitlines()[:1] or [type(exc).__name__],
            failures=failures,
            retry_in=delay,
        )
        await asyncio.sleep(delay)

    async def _forget(self, connection: asyncpg.Connection) -> None:
        if self._connection is connection:
            self._connection = None
        if not connection.is_closed():
            connection.terminate()

    def _notified(self, _connection: Any, _pid: int, channel: str, payload: str) -> None:
        for topic, name in CHANNELS.items():
            if name == channel:
                self.deliver(topic, payload.split("\n") if payload else None)

    async def signal(self, topic: str, details: Collection[str]) -> None:
        """Notify through the listener's connection (the outbox needs none: its trigger
        notifies); dropped while that connection is down."""
        connection = self._connection
        if connection is not None and not connection.is_closed():
            await connection.execute(
                "SELECT pg_notify($1, $2)", CHANNELS[topic], "\n".join(sorted(details))
            )

    async def close(self) -> None:
        await cancel_and_wait(self._listener)
        self._listener = None
        if self._connection is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._connection.close(), timeout=self.connect_timeout)
            self._connection = None
        self._listening.clear()
        self._connected = False
