"""CONDUIT_REDIS_URL: one server (``redis://``) or Sentinels (``redis+sentinel://``), read
the same way by every Redis user, and a clear error naming the syntax for anything else.

No server is contacted: building a redis-py client does not connect.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, cast

import pytest
from hypothesis import given
from hypothesis import strategies as st
from redis.asyncio.sentinel import SentinelConnectionPool

from conduit.adapters.redis_client import (
    SENTINEL_SYNTAX,
    SentinelPrimaryClient,
    SentinelTarget,
    check_redis_url,
    parse_sentinel_url,
    redis_client,
)
from conduit.bootstrap import CACHE_RULES, ConfigurationError
from conduit.bootstrap.adapters import live_bus, rate_limiter, response_cache
from conduit.core.db import Database
from conduit.settings import Settings
from tests.conftest import TEST_SECRET


def test_a_sentinel_url_names_the_sentinels_the_service_and_the_database() -> None:
    url = "redis+sentinel://:s%40cret@10.0.0.1:26380,sentinel-b,[::1]:26381/mymaster/2"
    assert parse_sentinel_url(url) == SentinelTarget(
        sentinels=(("10.0.0.1", 26380), ("sentinel-b", 26379), ("::1", 26381)),
        service_name="mymaster",
        db=2,
        password="s@cret",
    )


def test_the_user_and_the_sentinels_own_password() -> None:
    url = (
        "redis+sentinel://app:pw@127.0.0.1:26379/cache"
        "?sentinel_password=guard&sentinel_username=watch"
    )
    target = parse_sentinel_url(url)
    assert (target.username, target.password) == ("app", "pw")
    assert (target.sentinel_username, target.sentinel_password) == ("watch", "guard")
    assert target.db == 0


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("redis+sentinel://127.0.0.1:26379", "names no service"),
        ("redis+sentinel://127.0.0.1:26379/", "the path must be"),
        ("redis+sentinel://127.0.0.1:26379/mymaster/0/extra", "the path must be"),
        ("redis+sentinel://127.0.0.1:26379/mymaster/zero", "must be a number"),
        ("redis+sentinel:///mymaster", "is not a Sentinel's host"),
        ("redis+sentinel://a:26379,,b/mymaster", "is not a Sentinel's host"),
        ("redis+sentinel://a:notaport/mymaster", "is not a Sentinel's host"),
        ("redis+sentinel://a:70000/mymaster", "the port must be"),
        ("redis+sentinel://a:0/mymaster", "the port must be"),
        ("redis+sentinel://a/mymaster?socket_timeout=1", "unknown option 'socket_timeout'"),
        ("redis+sentinel://a/my master", "the path must be"),
    ],
)
def test_a_malformed_sentinel_url_is_refused_with_the_syntax(url: str, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint) as raised:
        check_redis_url(url)
    assert SENTINEL_SYNTAX in str(raised.value)


@pytest.mark.parametrize(
    "url",
    ["redis://localhost:6379/0", "rediss://:pw@cache.example:6380/1", "unix:///run/redis.sock"],
)
def test_single_server_urls_are_accepted(url: str) -> None:
    check_redis_url(url)


def test_another_scheme_names_both_syntaxes() -> None:
    with pytest.raises(ValueError, match="redis://") as raised:
        check_redis_url("sentinel://127.0.0.1:26379/mymaster")
    assert SENTINEL_SYNTAX in str(raised.value)


_NAME = "abcdefghijklmnopqrstuvwxyz0123456789-."
_hosts = st.lists(
    st.tuples(st.text(_NAME, min_size=1, max_size=30), st.integers(1, 65535)),
    min_size=1,
    max_size=5,
)


@given(
    hosts=_hosts, service=st.text(_NAME + "_ABCXYZ", min_size=1, max_size=30), db=st.integers(0, 15)
)
def test_what_is_written_is_read_back(hosts: list[tuple[str, int]], service: str, db: int) -> None:
    written = ",".join(f"{host}:{port}" for host, port in hosts)
    target = parse_sentinel_url(f"redis+sentinel://{written}/{service}/{db}")
    assert target.sentinels == tuple(hosts)
    assert (target.service_name, target.db) == (service, db)


async def test_the_client_asks_the_sentinels_for_that_service() -> None:
    client = redis_client(
        "redis+sentinel://:pw@127.0.0.1:26001,127.0.0.1:26002/orders/3?sentinel_password=guard",
        socket_connect_timeout=0.5,
    )
    try:
        assert isinstance(client, SentinelPrimaryClient)
        pool = client.connection_pool
        assert isinstance(pool, SentinelConnectionPool)
        assert pool.service_name == "orders"
        assert pool.is_master
        assert pool.connection_kwargs["db"] == 3
        assert pool.connection_kwargs["password"] == "pw"
        sentinels = client.sentinel_manager.sentinels
        addresses = [s.connection_pool.connection_kwargs for s in sentinels]
        assert [(a["host"], a["port"], a["password"]) for a in addresses] == [
            ("127.0.0.1", 26001, "guard"),
            ("127.0.0.1", 26002, "guard"),
        ]
    finally:
        await client.aclose()


def _settings(tmp_path: Path, **values: Any) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None, data_dir=tmp_path, secret_key=TEST_SECRET, **values
    )


@pytest.mark.parametrize(
    "url", ["redis+sentinel://127.0.0.1:26379", "http://127.0.0.1:6379", "redis+sentinel://x/a/b/c"]
)
def test_conduit_does_not_start_with_a_bad_redis_url(tmp_path: Path, url: str) -> None:
    settings = _settings(tmp_path, redis_url=url)
    no_database = cast(Database, None)  # refused before the cache is tied to commits
    cache = functools.partial(response_cache, db=no_database, rules=CACHE_RULES)
    for build in (cache, live_bus, rate_limiter):
        with pytest.raises(ConfigurationError, match="CONDUIT_REDIS_URL") as raised:
            build(settings)
        assert "redis+sentinel://" in str(raised.value)
