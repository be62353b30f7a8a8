"""Shared fixtures: a fresh, migrated database per backend, and the app over HTTP.

Backends come from CONDUIT_TEST_BACKENDS (default: sqlite,postgresql,mariadb). A server
that cannot be reached fails the run in CI (CI=true); on a developer's machine its tests
are skipped with the reason printed.
"""

from __future__ import annotations

import gc
import logging
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog
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
from tests import route_building

load_all_models()
route_building.install()

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


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--faults-only",
        action="store_true",
        help="run only the tests marked faults, cluster or serial (the second, serial phase of "
        "`make test`)",
    )


def _in_parallel(config: pytest.Config) -> bool:
    """True in a run that pytest-xdist spreads over workers (and in each of its workers)."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        return True
    numprocesses = config.getoption("numprocesses", default=None)
    return bool(numprocesses) and config.getoption("dist", default="no") != "no"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``server_databases`` exist for PostgreSQL and MariaDB only, tests marked
    ``postgresql_only`` for PostgreSQL only, tests marked ``sqlite_only`` for SQLite only
    (not skipped: not collected elsewhere).

    Tests marked ``faults`` stop or restart a shared server (PostgreSQL, MariaDB, RabbitMQ):
    they never run beside other tests, so a run spread over xdist workers leaves them out
    (deselected) and ``make test`` runs them afterwards on their own (``--faults-only``, one
    process). So do the tests marked ``cluster``, which start several servers of their own
    (Patroni and etcd, a replica, nginx over instances, Sentinel) and put them under load:
    beside three other workers on two cores their timings (a failover, a kill) would be the
    machine's, not Conduit's. So do the tests marked ``serial``, whose own deadlines assume a
    machine to themselves (the RealWorld browser specs: 15 s for fifteen articles written
    through the editor). All are ``slow`` too.

    The tests of SLOW_MODULES are marked ``slow`` here (before ``-m`` selects).
    """
    faults_only = config.getoption("faults_only")
    parallel = _in_parallel(config)
    kept, dropped = [], []
    for item in items:
        if _slow_rank(item) is not None:
            item.add_marker(pytest.mark.slow)
        is_fault = any(item.get_closest_marker(name) for name in ("faults", "cluster", "serial"))
        if is_fault:
            item.add_marker(pytest.mark.slow)
        if (faults_only and not is_fault) or (parallel and is_fault):
            dropped.append(item)
            continue
        callspec = getattr(item, "callspec", None)
        backend = callspec.params.get("database_url") if callspec is not None else None
        on_sqlite = backend == "sqlite"
        elsewhere = backend is not None and backend != "postgresql"
        if (
            (on_sqlite and item.get_closest_marker("server_databases"))
            or (elsewhere and item.get_closest_marker("postgresql_only"))
            or (backend not in (None, "sqlite") and item.get_closest_marker("sqlite_only"))
        ):
            dropped.append(item)
        else:
            kept.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


# Modules whose tests start servers or processes of their own (conduit serve, a worker,
# redis-server, nats-server, SeaweedFS, oidc-provider, uvicorn, Chromium), use RabbitMQ, wait
# seconds on purpose (retries, back-off, timeouts) or generate hundreds of cases: marked ``slow``
# (``make test-fast`` leaves them out) and, in a parallel run, started first, slowest first,
# so that none of them is left running alone at the end. Paths relative to tests/.
SLOW_MODULES = (
    "browser/test_realworld_specs.py",
    "integration/test_memcached_cache.py",
    "integration/test_wakeups.py",
    "replicas/test_replica_engine.py",
    "browser/test_web_flows.py",
    "loadtest/test_locust.py",
    "deploy/test_image.py",
    "ha/test_read_only_primary.py",
    "browser/test_pages.py",
    "observability/test_prometheus.py",
    "integration/test_events_end_to_end.py",
    "integration/test_worker_process.py",
    "integration/test_worker_shutdown.py",
    "integration/test_production_recipe.py",
    "cli/test_serve_logs.py",
    "cli/test_process_logs.py",
    "integration/test_tracing_processes.py",
    "integration/test_rate_limits_redis.py",
    "integration/test_graceful_shutdown.py",
    "integration/test_readiness.py",
    "integration/test_live_instances.py",
    "unit/test_properties.py",
    "integration/test_s3_storage.py",
    "integration/test_rabbitmq.py",
    "integration/test_nats_bus.py",
    "api/test_startup_heap.py",
    "api/test_schemathesis.py",
    "cli/test_users_cli.py",
    "integration/test_migrations.py",
    "graphql_api/test_subscriptions.py",
    "integration/test_response_cache.py",
    "api/test_live.py",
    "integration/test_statement_counts.py",
    "integration/test_uploads_prune.py",
    "integration/test_seed.py",
    "integration/test_concurrency.py",
    "integration/test_relay.py",
    "integration/test_events_cli.py",
    "oidc/test_login.py",
    "integration/test_db_unavailable.py",
    "integration/test_notification_statements.py",
    "oidc/test_login_safety.py",
    "observability/test_metrics_processes.py",
    "deploy/test_nginx.py",
    "deploy/test_artifacts.py",
    "integration/test_connection_budget.py",
)
TESTS_DIR = Path(__file__).parent


def _slow_rank(item: pytest.Item) -> int | None:
    relative = item.path.relative_to(TESTS_DIR).as_posix()
    return SLOW_MODULES.index(relative) if relative in SLOW_MODULES else None


class SlowTestsFirst:
    """In a parallel run the slow tests come first, slowest module first: xdist's "load"
    scheduling deals the first quarter of the list out one test at a time, in turn, so they
    are spread over the workers from the start and none is left running alone at the end.
    (Last of the collection hooks: after pytest has grouped the tests by fixture.)"""

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        last = len(SLOW_MODULES)
        items.sort(key=lambda item: rank if (rank := _slow_rank(item)) is not None else last)


def pytest_configure(config: pytest.Config) -> None:
    if _in_parallel(config):
        config.pluginmanager.register(SlowTestsFirst(), "conduit-slow-tests-first")


def pytest_collection_finish(session: pytest.Session) -> None:
    """What collection built (modules, test data, the schemathesis app) lives to the end:
    frozen, out of the walks of every later full garbage collection."""
    gc.collect()
    gc.freeze()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Iterator[None]:
    try:
        return (yield)
    finally:
        route_building.forget_endpoints()  # the test's app can be collected now


@pytest.fixture(autouse=True)
def keep_logging_configuration() -> Iterator[None]:
    """Every test leaves structlog's configuration and the root logger's handlers as it found
    them: a command run through CliRunner configures logging onto the runner's stream, which
    is closed after the run, and a later test of the same process that logs would fail
    writing to it."""
    saved = structlog.get_config()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    structlog.configure(**saved)
    root.handlers[:] = handlers
    root.setLevel(level)


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


class SessionDatabases:
    """The migrated database of each backend this test process uses: made when a test first
    asks for it, kept to the end of the session, then dropped.

    (``database_url`` is a parametrized session fixture, and pytest finishes such a fixture
    each time the next test wants another parameter: under xdist a worker runs the tests of
    the backends interleaved, and would otherwise create and migrate a database again at
    each switch.)
    """

    def __init__(self, tmp_path_factory: pytest.TempPathFactory) -> None:
        self.tmp_path_factory = tmp_path_factory
        self.made: dict[str, Backend] = {}
        self.failed: dict[str, Exception] = {}

    def url(self, name: str) -> str:
        if name in self.failed:
            _unreachable(name, self.failed[name])
        if name not in self.made:
            backend = Backend(name, self.tmp_path_factory.mktemp(name))
            try:
                backend.create()
            except Exception as exc:
                self.failed[name] = exc
                _unreachable(name, exc)
            self.made[name] = backend
        return self.made[name].url

    def drop_all(self) -> None:
        while self.made:
            _name, backend = self.made.popitem()
            backend.drop()


@pytest.fixture(scope="session")
def session_databases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SessionDatabases]:
    databases = SessionDatabases(tmp_path_factory)
    try:
        yield databases
    finally:
        databases.drop_all()


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(request: pytest.FixtureRequest, session_databases: SessionDatabases) -> str:
    """A migrated (``alembic upgrade head``) database on one backend, for the whole session."""
    return session_databases.url(request.param)


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
