"""The database (its engines) and the unit of work.

One use case = one transaction::

    async with db.uow() as uow:
        ...                      # queries on uow.conn
        uow.emit(ArticleCreated(...), actor_id=user_id)   # recorded, written on commit
        await uow.commit()       # anything else (an exception, no commit) rolls back

Events recorded with ``emit`` go to the outbox in the same transaction as the change, so a
rolled-back use case (or a retried attempt that did not commit) leaves none. Each carries
the trace it was emitted in (``Database(trace_context=...)``, wired by bootstrap when
tracing is on), so that its consumers continue that trace. Once the
transaction has committed and its connection is back in the pool, the database's commit
listeners hear of them (the embedded relay wakes up, the cache forgets what they changed).

With PostgreSQL read replicas (``Database(replicas=...)``, see :mod:`conduit.core.replicas`)
``db.reader()`` may run on a replica, and a commit remembers its WAL position for its
authors (the caller :mod:`conduit.core.read_routing` names, and the events' actors), so
that their next reads wait for a replica to have it or go to the primary.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from types import TracebackType

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from conduit.core import outbox, read_routing
from conduit.core.engines import create_sqlite_read_engine, is_sqlite_file
from conduit.core.events import Event, EventData
from conduit.core.replicas import ReplicaSet
from conduit.core.trace_ids import TraceContext

CommitListener = Callable[[Sequence[Event]], Awaitable[None]]
_log = structlog.get_logger("conduit.db")


class UnitOfWork:
    """One transaction on one pooled connection; rolled back unless committed.

    A read-only unit of work takes its connection from the database's read pool, or from
    its replicas (unless ``on_primary``).
    """

    __slots__ = (
        "_committed",
        "_database",
        "_events",
        "_on_primary",
        "_read_only",
        "_reads_only",
        "conn",
    )

    def __init__(
        self, database: Database, *, read_only: bool = False, on_primary: bool = False
    ) -> None:
        self._database = database
        self._committed = False
        self._events: list[Event] = []
        self._reads_only = read_only
        self._on_primary = on_primary
        # PostgreSQL gives every statement its own snapshot under READ COMMITTED anyway, so a
        # read-only use case skips BEGIN/ROLLBACK: two round trips fewer per request.
        self._read_only = read_only and database.engine.dialect.name == "postgresql"
        self.conn: AsyncConnection

    async def __aenter__(self) -> UnitOfWork:
        database = self._database
        replicas = database.replicas
        if self._reads_only and replicas is not None and not self._on_primary:
            self.conn = await replicas.connect(read_routing.current())
            return self
        engine = database.read_engine if self._reads_only else database.engine
        conn = await engine.connect()
        try:
            if self._read_only:
                await conn.execution_options(isolation_level="AUTOCOMMIT")
            else:
                await conn.begin()
        except BaseException:
            await conn.close()
            raise
        self.conn = conn
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if not self._committed and not self._read_only:
                await self.conn.rollback()
        finally:
            if not self._committed:
                self._events.clear()
            await self.conn.close()

    def emit(self, data: EventData, *, actor_id: int | None) -> Event:
        """Record an event; it is written to the outbox by :meth:`commit`, or never."""
        if self._read_only:
            raise RuntimeError("a read-only unit of work cannot emit events")
        capture = self._database.trace_context
        trace = None if capture is None else capture()
        event = Event.of(data, actor_id=actor_id, trace=trace)
        self._events.append(event)
        return event

    def _authors(self) -> set[int]:
        """Whose write this is: the declared caller and the actors of its events (a user
        who just registered, whose request was anonymous)."""
        authors = {event.actor_id for event in self._events if event.actor_id is not None}
        reader = read_routing.current()
        if reader is not None and reader.user_id is not None:
            authors.add(reader.user_id)
        return authors

    @property
    def events(self) -> tuple[Event, ...]:
        return tuple(self._events)

    async def commit(self) -> None:
        if self._read_only:
            raise RuntimeError("a read-only unit of work cannot commit")
        await outbox.write(self.conn, self._events)
        await self.conn.commit()
        self._committed = True
        replicas = self._database.replicas
        if replicas is not None:
            await replicas.written(self.conn, self._authors(), self._events)
        # Back to the pool before the listeners run: one that writes (a consumer applied at
        # commit, see core/consumers.py) must not wait for the connection this unit holds
        # (SQLite's writer is a pool of one; a full server pool would wait on itself).
        await self.conn.close()
        if self._events:
            await self._database.committed(self._events)


class Database:
    """The engines and a factory of units of work; built once in bootstrap.

    ``engine`` carries every write. On an SQLite file, which allows one writer at a time,
    that engine has a single connection and read-only use cases get a pool of ``readers``
    read-only connections of their own (``read_engine``): reads run in parallel, on their
    own threads, while writes stay serialized. On PostgreSQL and MariaDB both are the
    same engine.

    ``trace_context``: called by :meth:`UnitOfWork.emit` for the W3C trace context to put
    into the event (``{}`` outside a trace); None (tracing off) records none.

    ``replicas``: PostgreSQL read replicas of ``engine`` that serve read-only use cases
    (:mod:`conduit.core.replicas`); None: every read on ``read_engine``.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        readers: int = 4,
        trace_context: TraceContext | None = None,
        replicas: ReplicaSet | None = None,
    ) -> None:
        self.engine = engine
        self.trace_context = trace_context
        self.replicas = replicas
        self.read_engine = (
            create_sqlite_read_engine(engine, readers=readers)
            if is_sqlite_file(engine) and readers > 0
            else engine
        )
        self._commit_listeners: list[CommitListener] = []

    def on_commit(self, listener: CommitListener) -> None:
        """Call ``listener(events)`` after each transaction that committed events."""
        self._commit_listeners.append(listener)

    def on_replayed(self, listener: CommitListener) -> None:
        """Call ``listener(events)`` again once every read replica has replayed them (the
        response cache forgets a second time what a replica may have shown stale); without
        replicas, never."""
        if self.replicas is not None:
            self.replicas.on_replayed(listener)

    async def committed(self, events: Sequence[Event]) -> None:
        """Tell the listeners; one that fails is logged and never fails the use case."""
        for listener in self._commit_listeners:
            try:
                await listener(events)
            except asyncio.CancelledError:
                raise
            except Exception:
                _log.exception("commit listener failed")

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self)

    def reader(self, *, on_primary: bool = False) -> UnitOfWork:
        """A unit of work for a use case that only reads.

        ``on_primary``: never on a replica, for a read that must see every commit whoever
        made it (checking a password that may have just changed).
        """
        return UnitOfWork(self, read_only=True, on_primary=on_primary)

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.exec_driver_sql("SELECT 1")

    async def dispose(self) -> None:
        if self.replicas is not None:
            await self.replicas.dispose()
        if self.read_engine is not self.engine:
            await self.read_engine.dispose()
        await self.engine.dispose()
