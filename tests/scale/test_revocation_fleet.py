"""Revocations hold on every instance within a second, without polling for them.

Three ``conduit serve`` processes share a PostgreSQL database (a private server the test
starts). Each looks
at the access rules on its own only every minute here (CONDUIT_SAFETY_POLL_SECONDS and
CONDUIT_ACCESS_RULES_REFRESH_SECONDS at 60): only the wake-up (the outbox's NOTIFY) can
carry a change to the others in time. A user who signs out everywhere on instance A, or is
banned there, finds the old token refused on B and C within 1 s (each polled every 50 ms).
The first admin is made by ``conduit users grant``, a process of its own, whose commit
reaches the instances the same way.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import httpx
import pytest

from conduit import migrations
from tests.conftest import TEST_SECRET
from tests.live_support import conduit_servers
from tests.pg_cluster import private_primary

pytestmark = pytest.mark.cluster

DEADLINE_SECONDS = 1.0  # what operators are promised (docs/operating/wake-ups.md)
EVERY_SECONDS = 0.05
PASSWORD = "fleet-password-123"


@pytest.fixture
def fleet_database(tmp_path: Path) -> Iterator[str]:
    """A migrated database on a private PostgreSQL server, stopped afterwards."""
    with private_primary(tmp_path / "postgres") as server:
        server.execute("CREATE DATABASE conduit")
        url = server.url("conduit")
        migrations.upgrade(url)
        yield url


def environment(url: str, data_dir: Path) -> dict[str, str]:
    return {
        "CONDUIT_DATABASE_URL": url,
        "CONDUIT_SECRET_KEY": TEST_SECRET,
        "CONDUIT_ENVIRONMENT": "test",
        "CONDUIT_DATA_DIR": str(data_dir),
        "CONDUIT_AUTO_MIGRATE": "false",
        "CONDUIT_DB_POOL_SIZE": "5",
        "CONDUIT_LOG_JSON": "true",
        "CONDUIT_LOG_LEVEL": "WARNING",
        "CONDUIT_SAFETY_POLL_SECONDS": "60",
        "CONDUIT_ACCESS_RULES_REFRESH_SECONDS": "60",
        "CONDUIT_RELAY_POLL_INTERVAL_SECONDS": "60",
    }


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Token {token}"}


async def register(http: httpx.AsyncClient, api: str, name: str) -> str:
    user = {"username": name, "email": f"{name}@fleet.test", "password": PASSWORD}
    answer = await http.post(f"{api}/users", json={"user": user})
    assert answer.status_code == 201, answer.text
    return str(answer.json()["user"]["token"])


async def log_in(http: httpx.AsyncClient, api: str, name: str) -> str:
    user = {"email": f"{name}@fleet.test", "password": PASSWORD}
    answer = await http.post(f"{api}/users/login", json={"user": user})
    assert answer.status_code == 200, answer.text
    return str(answer.json()["user"]["token"])


async def read_me(http: httpx.AsyncClient, api: str, token: str) -> int:
    return (await http.get(f"{api}/user", headers=auth(token))).status_code


async def follow(http: httpx.AsyncClient, api: str, token: str, whom: str) -> int:
    answer = await http.post(f"{api}/profiles/{whom}/follow", headers=auth(token))
    return answer.status_code


async def seconds_until(
    check: Callable[[], Awaitable[int]], wanted: int, *, give_up: float = 10.0
) -> float:
    """Call ``check()`` every 50 ms until it answers ``wanted``; the seconds it took."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    while True:
        status = await check()
        elapsed = loop.time() - start
        if status == wanted:
            return elapsed
        assert elapsed < give_up, f"still {status} after {give_up} s"
        await asyncio.sleep(EVERY_SECONDS)


def grant_admin(url: str, data_dir: Path, username: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "conduit.entrypoints.cli", "users", "grant", username, "admin"],
        env={**os.environ, **environment(url, data_dir)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr


async def test_sign_out_everywhere_and_a_ban_hold_on_every_instance_within_a_second(
    fleet_database: str, tmp_path: Path
) -> None:
    logs = [tmp_path / f"serve-{n}.log" for n in "abc"]
    with conduit_servers(environment(fleet_database, tmp_path), logs) as (a, b, c):
        async with httpx.AsyncClient(timeout=10) as http:
            signing_out = await register(http, a, "alice")
            kept_elsewhere = await log_in(http, a, "alice")  # another session of hers
            for api in (b, c):
                assert await read_me(http, api, kept_elsewhere) == 200

            answer = await http.post(
                f"{a}/users/logout", json={"everywhere": True}, headers=auth(signing_out)
            )
            assert answer.status_code == 204, answer.text
            signed_out = await asyncio.gather(
                *(
                    seconds_until(lambda api=api: read_me(http, api, kept_elsewhere), 401)
                    for api in (b, c)
                )
            )

            admin = await register(http, a, "root")
            bob = await register(http, a, "bob")
            for api in (b, c):
                assert await follow(http, api, bob, "root") == 200
            await asyncio.to_thread(grant_admin, fleet_database, tmp_path, "root")

            async def ban_bob() -> int:
                ban = {"user": {"banned": True}}
                answer = await http.put(f"{a}/admin/users/bob", json=ban, headers=auth(admin))
                return answer.status_code

            await seconds_until(ban_bob, 200)  # once A has heard of the grant (403 before)
            banned = await asyncio.gather(
                *(
                    seconds_until(lambda api=api: follow(http, api, bob, "root"), 403)
                    for api in (b, c)
                )
            )

    print(f"\nsign-out everywhere refused on B, C after {signed_out} s; ban after {banned} s")
    assert max(signed_out) <= DEADLINE_SECONDS
    assert max(banned) <= DEADLINE_SECONDS
