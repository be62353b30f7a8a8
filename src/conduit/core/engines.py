"""Engines per database: SQLite's single writer and read-only pool, server pools that drop
every lost connection, MariaDB in READ COMMITTED with ``utf8mb4``, PostgreSQL read replicas,
and PostgreSQL through a transaction pooler (pgbouncer) without prepared statements kept on
the server."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from sqlalchemy import event
from sqlalchemy.engine import ExceptionContext, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool

from conduit.core.db_errors import is_connection_lost

Pooler = Literal["none", "pgbouncer"]


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def _sqlite_read_only(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA query_only=ON")
    cursor.close()


def is_sqlite_file(engine: AsyncEngine) -> bool:
    """True for an engine on an SQLite file (not an in-memory database)."""
    database = engine.url.database or ""
    return engine.dialect.name == "sqlite" and database not in ("", ":memory:")


def create_sqlite_read_engine(engine: AsyncEngine, *, readers: int) -> AsyncEngine:
    """A pool of ``readers`` read-only connections to the SQLite file ``engine`` writes to.

    In WAL mode readers never wait for the writer nor for each other, and each sees what
    had committed when its statement (or read transaction) began. They are opened with
    ``query_only`` so that a write sent to them by mistake fails instead of racing the
    writer for the lock.
    """
    reader = create_async_engine(
        engine.url,
        echo=engine.echo,
        pool_pre_ping=False,
        poolclass=AsyncAdaptedQueuePool,
        pool_size=readers,
        max_overflow=0,
        pool_timeout=30.0,
    )
    event.listen(reader.sync_engine, "connect", _sqlite_pragmas)
    event.listen(reader.sync_engine, "connect", _sqlite_read_only)
    return reader


def create_engine(
    url: str,
    *,
    pool_size: int = 10,
    max_overflow: int = 10,
    pool_timeout: float = 10.0,
    echo: bool = False,
    pooler: Pooler = "none",
) -> AsyncEngine:
    """An async engine tuned per database.

    SQLite allows one writer at a time: Conduit gives it a single pooled connection so that
    concurrent writes queue in the pool (a bounded wait) instead of failing with
    "database is locked". Reads go to a separate pool (see :class:`Database`).

    ``pooler="pgbouncer"``: the URL is a pgbouncer in transaction pooling mode in front of
    PostgreSQL (see :func:`transaction_pooler_connect_args`).
    """
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if pooler != "none" and backend != "postgresql":
        raise ValueError(f"a {pooler} pooler stands in front of PostgreSQL only, not {backend}")
    kwargs: dict[str, Any] = {"echo": echo, "pool_pre_ping": False}
    if backend == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        kwargs.update(
            poolclass=AsyncAdaptedQueuePool, pool_size=1, max_overflow=0, pool_timeout=30.0
        )
    else:
        kwargs.update(
            pool_size=pool_size,
            max_overflow=max_overflow,
            pool_timeout=pool_timeout,
            pool_recycle=1800,
        )
        if backend in ("mysql", "mariadb"):
            query = dict(parsed.query)
            query.setdefault("charset", "utf8mb4")
            url = parsed.set(query=query).render_as_string(hide_password=False)
            # READ COMMITTED as on PostgreSQL: a statement sees rows other transactions have
            # committed (a read after INSERT IGNORE finds the row that made it a no-op), and
            # InnoDB takes no gap locks on reads, which deadlocked concurrent writers.
            kwargs["isolation_level"] = "READ COMMITTED"
        if pooler == "pgbouncer":
            kwargs["connect_args"] = transaction_pooler_connect_args()
    engine = create_async_engine(url, **kwargs)
    if backend == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    else:
        event.listen(engine.sync_engine, "handle_error", _invalidate_lost_connections)
    return engine


def transaction_pooler_connect_args() -> dict[str, Any]:
    """asyncpg's arguments behind a pooler in transaction mode: no statement cache at all.

    Such a pooler lends a server connection for one transaction (or one statement outside a
    transaction) and then to another client. A statement prepared under a name on one
    server connection is unknown on the next ("prepared statement ... does not exist"), and
    two clients' names clash on a shared one ("... already exists"). With both caches off
    (SQLAlchemy's ``prepared_statement_cache_size`` and asyncpg's ``statement_cache_size``)
    asyncpg prepares each statement unnamed, to learn its types, then sends the Parse again
    in the same message as its Bind and Execute: every execution is whole on whichever
    server connection it lands, inside a transaction or not (the read-only units of work
    run without BEGIN), and no statement is left behind on the server connections.

    Not chosen: statement names made unique per prepare (a uuid each) still need the
    prepare and the execution on one server connection, which a statement outside a
    transaction does not get, and leave a statement behind on a server connection at each
    transaction's end unless pgbouncer resets every connection it takes back; pgbouncer's
    own prepared statements (``max_prepared_statements``) need pgbouncer 1.21, Debian 12
    ships 1.18.
    """
    return {"statement_cache_size": 0, "prepared_statement_cache_size": 0}


# A replica that does not answer the connection attempt within this long is left out (its
# reads go elsewhere) rather than holding requests for asyncpg's default minute.
REPLICA_CONNECT_TIMEOUT_SECONDS = 3.0


def create_replica_engine(
    url: str, *, pool_size: int, pool_timeout: float, pooler: Pooler = "none"
) -> AsyncEngine:
    """A pool of ``pool_size`` connections to a PostgreSQL read replica (``pooler``: as for
    :func:`create_engine`, when the replicas too are reached through pgbouncer).

    A pooled connection the server has closed (the replica stopped or restarted) is thrown
    away when it is checked out, with no round trip (the driver saw its socket close), and a
    new one is opened; if that fails too, the caller hears it at ``connect()`` and sends the
    read elsewhere instead of failing it on its first statement.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        raise ValueError(f"a read replica must be a PostgreSQL URL, not {parsed.drivername}")
    asyncpg = parsed.get_driver_name() == "asyncpg"
    engine = create_async_engine(
        url,
        pool_pre_ping=False,
        pool_size=pool_size,
        max_overflow=0,
        pool_timeout=pool_timeout,
        pool_recycle=1800,
        connect_args=(
            {"timeout": REPLICA_CONNECT_TIMEOUT_SECONDS}
            | (transaction_pooler_connect_args() if pooler != "none" else {})
            if asyncpg
            else {}
        ),
    )
    event.listen(engine.sync_engine, "handle_error", _invalidate_lost_connections)
    event.listen(engine.sync_engine, "checkout", _discard_closed)
    return engine


def _discard_closed(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """Refuse a pooled connection whose socket the server closed (the pool opens another)."""
    driver = getattr(dbapi_connection, "driver_connection", None)
    is_closed = getattr(driver, "is_closed", None)
    if callable(is_closed) and is_closed():
        raise DisconnectionError("the server closed this connection")


def _invalidate_lost_connections(context: ExceptionContext) -> None:
    """Treat every sign of a lost server connection as a disconnect.

    SQLAlchemy then discards the connection instead of returning it to the pool, and marks
    every older pooled connection stale (they all went with the server), so after a restart
    the pool hands out fresh connections only. The drivers' own checks miss some cases: an
    asyncpg connection told "terminating connection due to administrator command" looks
    open until its socket closes, and its next query failed with "another operation is in
    progress".
    """
    if not context.is_disconnect and is_connection_lost(context.original_exception):
        context.is_disconnect = True
