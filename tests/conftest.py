"""Shared fixtures: a fresh, migrated database per backend, and the app over HTTP.

Backends come from CONDUIT_TEST_BACKENDS (default: sqlite,postgresql,mariadb). A server
that cannot be reached fails the run in CI (CI=true); on a developer's machine its tests
are skipped with the reason printed.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy import text

from conduit import migrations
from conduit.bootstrap import Container
from conduit.core.db import Database
from conduit.core.engines import create_engine
from conduit.core.security import TokenCodec
from conduit.core.tables import Base
from conduit.entrypoints.api import create_app
from conduit.migrations.models import load_all_models
from conduit.settings import Settings

load_all_models()

PG_ADMIN = os.environ.get(
    "CONDUIT_TEST_PG", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
)
MARIADB_ADMIN = os.environ.get("CONDUIT_TEST_MARIADB", "mysql+pymysql://root@127.0.0.1:3306/test")
BACKENDS = [
    name.strip()
    for name in os.environ.get("CONDUIT_TEST_BACKENDS", "sqlite,postgresql,mariadb").split(",")
    if name.strip()
]
TEST_SECRET = "test-secret-key-0123456789-abcdefghijklmnop"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``server_databases`` exist for PostgreSQL and MariaDB only, tests marked
    ``postgresql_only`` for PostgreSQL only (not skipped: not collected elsewhere)."""
    kept, dropped = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        backend = callspec.params.get("database_url") if callspec is not None else None
        on_sqlite = backend == "sqlite"
        elsewhere = backend is not None and backend != "postgresql"
        if (on_sqlite and item.get_closest_marker("server_databases")) or (
            elsewhere and item.get_closest_marker("postgresql_only")
        ):
            dropped.append(item)
        else:
            kept.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


def _unreachable(backend: str, exc: Exception) -> None:
    message = f"{backend} is not reachable: {exc}"
    if IN_CI:
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def _admin_engine(url: str) -> Any:
    return create_sync_engine(url, isolation_level="AUTOCOMMIT", pool_pre_ping=True)


class Backend:
    """One database server and the throw-away database the tests use on it."""

    def __init__(self, name: str, tmp_dir: Path) -> None:
        self.name = name
        self.db_name = f"conduit_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        self.tmp_dir = tmp_dir
        self.url = ""

    def create(self) -> str:
        if self.name == "sqlite":
            self.url = f"sqlite+aiosqlite:///{(self.tmp_dir / 'conduit_test.db').as_posix()}"
        elif self.name == "postgresql":
            with _admin_engine(PG_ADMIN).connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{self.db_name}"'))
            self.url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{self.db_name}"
        elif self.name == "mariadb":
            with _admin_engine(MARIADB_ADMIN).connect() as conn:
                conn.execute(
                    text(
                        f"CREATE DATABASE `{self.db_name}` "
                        "CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
                    )
                )
            self.url = f"mysql+asyncmy://root@127.0.0.1:3306/{self.db_name}"
        else:
            raise ValueError(f"unknown backend {self.name}")
        migrations.upgrade(self.url)
        return self.url

    def drop(self) -> None:
        if self.name == "postgresql":
            with _admin_engine(PG_ADMIN).connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)'))
        elif self.name == "mariadb":
            with _admin_engine(MARIADB_ADMIN).connect() as conn:
                conn.execute(text(f"DROP DATABASE IF EXISTS `{self.db_name}`"))


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A migrated (``alembic upgrade head``) database on one backend, for the whole session."""
    backend = Backend(request.param, tmp_path_factory.mktemp(request.param))
    try:
        url = backend.create()
    except Exception as exc:
        _unreachable(request.param, exc)
    yield url
    backend.drop()


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    """The database, emptied after the test (tables in reverse dependency order)."""
    database = Database(create_engine(database_url, pool_size=5, max_overflow=5))
    try:
        yield database
    finally:
        async with database.engine.begin() as conn:
            for table in reversed(Base.metadata.sorted_tables):
                await conn.execute(table.delete())
        await database.dispose()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        environment="test",
        database_url=database_url,
        secret_key=TEST_SECRET,
        data_dir=tmp_path,
        auto_migrate=False,
        log_json=True,
        log_level="WARNING",
    )


@pytest.fixture
def tokens() -> TokenCodec:
    return TokenCodec(secret=TEST_SECRET, ttl_seconds=3600)


@pytest.fixture
async def client(
    db: Database, settings: Settings, tokens: TokenCodec
) -> AsyncIterator[httpx.AsyncClient]:
    """The whole app over HTTP (ASGI transport), base URL at /api."""
    app = create_app(container=Container(settings=settings, db=db, tokens=tokens))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://conduit.test/api") as http:
        yield http
