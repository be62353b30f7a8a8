"""``/health/ready`` against real services: each dependency of ``conduit serve`` reported up,
then taken away (a private redis-server stopped, a RabbitMQ vhost deleted, a private NATS
server stopped, a database at a closed port, a storage folder on a read-only filesystem).

Only the database is required: without it the answer is 503 in the API's error format; any
other dependency down leaves the instance ready (200, ``degraded``), as the README's "When a
service is down" says. ``HEAD`` answers the same status without a body. The machine's
shared services are never stopped: each test takes away a server or vhost of its own.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from conduit.entrypoints.api import create_app
from conduit.settings import Settings
from tests import s3_server
from tests.conftest import TEST_SECRET, _unreachable
from tests.integration.messaging import eventually, own_vhost, rabbitmqctl
from tests.integration.nats_server import NatsServer
from tests.integration.test_nats_bus import nats_server
from tests.integration.test_rate_limits_redis import redis_server
from tests.ports import free_port
from tests.redis_server import PrivateRedis

__all__ = ["nats_server", "redis_server"]
REDIS_PARTS = ("cache", "rate_limits", "live_updates")


def sqlite_settings(folder: Path, **settings: Any) -> Settings:
    chosen: dict[str, Any] = {
        "environment": "test",
        "database_url": f"sqlite+aiosqlite:///{(folder / 'conduit.db').as_posix()}",
        "secret_key": TEST_SECRET,
        "data_dir": folder,
        "log_level": "CRITICAL",
        **settings,
    }
    return Settings(**chosen)


@contextlib.asynccontextmanager
async def serving(settings: Settings, *, lifespan: bool = True) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its parts started (as ``conduit serve`` runs it), over HTTP."""
    app = create_app(settings)
    async with contextlib.AsyncExitStack() as stack:
        if lifespan:
            await stack.enter_async_context(app.router.lifespan_context(app))
        transport = httpx.ASGITransport(app=app)
        yield await stack.enter_async_context(
            httpx.AsyncClient(transport=transport, base_url="http://conduit.test")
        )


async def ready(http: httpx.AsyncClient) -> tuple[int, dict[str, Any]]:
    """The status and body of GET /health/ready; HEAD answers the same status, no body."""
    response = await http.get("/health/ready")
    head = await http.head("/health/ready")
    assert head.status_code == response.status_code
    assert head.content == b""
    body: dict[str, Any] = response.json()
    for name, check in body["checks"].items():
        assert check["state"] in ("up", "down"), name
        assert isinstance(check["latency_ms"], float | int), name
        assert check["latency_ms"] >= 0, name
    return response.status_code, body


def states(body: dict[str, Any]) -> dict[str, str]:
    return {name: check["state"] for name, check in body["checks"].items()}


@pytest.fixture
def vhost() -> Iterator[str]:
    """An AMQP URL on a vhost of this test's own (the test may delete it)."""
    with own_vhost("conduit_ready") as url:
        yield url


@contextlib.contextmanager
def read_only_folder(path: Path) -> Iterator[Path]:
    """A folder nothing can write to: a read-only tmpfs (root ignores permission bits),
    or a folder without write permission for anyone else."""
    path.mkdir()
    if os.geteuid() != 0:
        path.chmod(0o555)
        try:
            yield path
        finally:
            path.chmod(0o755)
        return
    command = ["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(path)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        _unreachable("a read-only mount", RuntimeError(done.stderr.strip()))
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=True)


async def test_every_dependency_is_up_with_its_kind_and_latency(
    tmp_path: Path, redis_server: PrivateRedis, vhost: str
) -> None:
    settings = sqlite_settings(tmp_path, redis_url=redis_server.url, broker_url=vhost)
    async with serving(settings) as http:
        status, body = await ready(http)
    assert status == 200
    assert body["status"] == "ok"
    assert body["database"] == "sqlite"
    assert states(body) == dict.fromkeys(("database", *REDIS_PARTS, "broker", "storage"), "up")
    kinds = {name: check["kind"] for name, check in body["checks"].items()}
    assert kinds == {
        "database": "sqlite",
        "cache": "redis",
        "rate_limits": "redis",
        "live_updates": "redis",
        "broker": "rabbitmq",
        "storage": "folder",
    }
    required = [name for name, check in body["checks"].items() if check["required"]]
    assert required == ["database"]


async def test_redis_down_is_reported_and_the_instance_stays_ready(
    tmp_path: Path, redis_server: PrivateRedis
) -> None:
    async with serving(sqlite_settings(tmp_path, redis_url=redis_server.url)) as http:
        status, body = await ready(http)
        assert (status, body["status"]) == (200, "ok")

        redis_server.stop()
        status, body = await ready(http)
        assert status == 200
        assert body["status"] == "degraded"
        assert "errors" not in body
        for name in REDIS_PARTS:
            assert body["checks"][name]["state"] == "down", body
            assert body["checks"][name]["error"] in ("unreachable", "timed out")
        assert body["checks"]["database"]["state"] == "up"
        assert (await http.get("/api/tags")).status_code == 200  # reads go on

        redis_server.start()  # same port: every part finds it again by itself

        async def all_up() -> bool:
            return (await ready(http))[1]["status"] == "ok"

        await eventually(all_up, within=30)


async def test_a_deleted_rabbitmq_vhost_is_a_broker_down_and_the_instance_stays_ready(
    tmp_path: Path, vhost: str
) -> None:
    async with serving(sqlite_settings(tmp_path, broker_url=vhost)) as http:
        status, body = await ready(http)
        assert (status, body["checks"]["broker"]["state"]) == (200, "up")

        rabbitmqctl("delete_vhost", vhost.rsplit("/", 1)[1])

        async def broker_down() -> bool:
            return states((await ready(http))[1])["broker"] == "down"

        await eventually(broker_down, within=30)
        status, body = await ready(http)
        assert status == 200
        assert body["status"] == "degraded"
        assert body["checks"]["broker"]["kind"] == "rabbitmq"
        assert body["checks"]["database"]["state"] == "up"


async def test_a_stopped_nats_server_is_a_broker_down_and_the_instance_stays_ready(
    tmp_path: Path, nats_server: NatsServer
) -> None:
    async with serving(sqlite_settings(tmp_path, broker_url=nats_server.url)) as http:
        status, body = await ready(http)
        assert status == 200
        assert body["checks"]["broker"]["state"] == "up"
        assert body["checks"]["broker"]["kind"] == "nats"

        nats_server.stop()

        async def broker_down() -> bool:
            return states((await ready(http))[1])["broker"] == "down"

        await eventually(broker_down, within=30)
        status, body = await ready(http)
        assert (status, body["status"]) == (200, "degraded")


async def test_an_unreachable_database_answers_503_in_the_api_error_format(
    tmp_path: Path,
) -> None:
    closed = free_port()  # reserved for this process, and nothing listens on it
    settings = sqlite_settings(
        tmp_path, database_url=f"postgresql+asyncpg://postgres@127.0.0.1:{closed}/conduit"
    )
    async with serving(settings, lifespan=False) as http:
        status, body = await ready(http)
        live = await http.get("/health/live")
    assert status == 503
    assert body["errors"] == {"database": ["is unavailable"]}
    assert body["status"] == "unavailable"
    assert body["checks"]["database"]["state"] == "down"
    assert body["checks"]["database"]["error"] == "unreachable"
    assert body["checks"]["database"]["kind"] == "postgresql"
    # What does not need the database is still reported, and up.
    assert body["checks"]["broker"] == {
        "state": "up",
        "latency_ms": 0.0,
        "kind": "embedded",
        "required": False,
    }
    assert body["checks"]["storage"]["state"] == "up"
    assert live.status_code == 200  # liveness does no I/O


async def test_a_read_only_storage_folder_is_reported_down_and_the_instance_stays_ready(
    tmp_path: Path,
) -> None:
    with read_only_folder(tmp_path / "media") as folder:
        settings = sqlite_settings(tmp_path, storage_url=f"file://{folder}")
        async with serving(settings) as http:
            status, body = await ready(http)
    assert status == 200
    assert body["status"] == "degraded"
    assert body["checks"]["storage"]["state"] == "down"
    assert body["checks"]["storage"]["kind"] == "folder"
    assert body["checks"]["database"]["state"] == "up"


@pytest.fixture(scope="module")
def s3() -> Iterator[s3_server.S3Server]:
    server = s3_server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("bucket", "state"), [(s3_server.BUCKET, "up"), ("no-such-bucket", "down")]
)
async def test_the_s3_bucket_is_up_when_it_answers_and_down_when_it_does_not_exist(
    tmp_path: Path, s3: s3_server.S3Server, bucket: str, state: str
) -> None:
    settings = sqlite_settings(
        tmp_path,
        storage_url=f"s3://{bucket}",
        s3_endpoint_url=s3.endpoint_url,
        s3_access_key_id=s3_server.ACCESS_KEY,
        s3_secret_access_key=s3_server.SECRET_KEY,
    )
    async with serving(settings) as http:
        status, body = await ready(http)
    assert status == 200
    assert body["checks"]["storage"]["kind"] == "s3"
    assert body["checks"]["storage"]["state"] == state
    assert body["status"] == ("ok" if state == "up" else "degraded")
