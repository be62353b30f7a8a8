"""Redis connections from ``CONDUIT_REDIS_URL``, for every part of Conduit that uses Redis.

The response cache, the rate limits, live updates and the readiness checks all connect
through this module, so they all reach the same server, and after a Sentinel failover they
all follow the promoted replica. Two forms of URL are accepted:

- one server, as redis-py reads it: ``redis://[[user]:password@]host[:port][/db]``,
  ``rediss://`` (TLS) or ``unix:///path/to/redis.sock``;
- a Redis Sentinel deployment, as the ``limits`` library and ``redis-sentinel-url`` write
  it: ``redis+sentinel://[[user]:password@]host[:port][,host[:port]...]/service_name[/db]``.
  The hosts are Sentinels (port 26379 unless given), ``service_name`` is the name they
  monitor the primary under (``sentinel monitor <service_name> ...``). The user and password
  authenticate to the Redis servers; Sentinels that require a password of their own take
  ``?sentinel_password=...`` (and ``sentinel_username=...``).

With Sentinel, each new connection first asks a Sentinel where the primary is (redis-py's
``SentinelConnectionPool``), and a connection that finds the old primary demoted is dropped:
after a failover every user reconnects to the promoted replica by itself.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import parse_qs, unquote

from redis.asyncio import Redis
from redis.asyncio.connection import AbstractConnection, Connection, parse_url
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool

SENTINEL_SCHEME = "redis+sentinel"
SENTINEL_PORT = 26379
SERVER_SYNTAX = "redis://[[user]:password@]host[:port][/db] (or rediss://, unix://)"
SENTINEL_SYNTAX = (
    "redis+sentinel://[[user]:password@]host[:port][,host[:port]...]/service_name[/db]"
    "[?sentinel_password=...]"
)
SYNTAX = f"{SERVER_SYNTAX}, or {SENTINEL_SYNTAX}"
SENTINEL_OPTIONS = frozenset({"sentinel_password", "sentinel_username"})
# Sentinels answer from memory: a second covers a busy one; past it the next is asked.
SENTINEL_TIMEOUT = 1.0
_ADDRESS = re.compile(r"^(?:\[(?P<ipv6>[0-9A-Fa-f:.]+)\]|(?P<host>[^:\[\]]+))(?::(?P<port>\d+))?$")
_SERVICE_NAME = re.compile(r"^[A-Za-z0-9_.\-]+$")


@dataclass(frozen=True, slots=True)
class SentinelTarget:
    """A primary that Sentinels monitor under ``service_name``, and how to reach them."""

    sentinels: tuple[tuple[str, int], ...]
    service_name: str
    db: int = 0
    username: str | None = None
    password: str | None = None
    sentinel_username: str | None = None
    sentinel_password: str | None = None


def is_sentinel_url(url: str) -> bool:
    return url.lower().startswith(SENTINEL_SCHEME + "://")


def parse_sentinel_url(url: str) -> SentinelTarget:
    """The parts of a ``redis+sentinel://`` URL; ValueError naming the syntax if it is not one."""
    if not is_sentinel_url(url):
        raise ValueError(f"not a {SENTINEL_SCHEME}:// URL; expected {SENTINEL_SYNTAX}")
    rest = url[len(SENTINEL_SCHEME) + 3 :]
    rest, _, query = rest.partition("?")
    rest, _, fragment = rest.partition("#")
    if fragment:
        raise ValueError(f"a Sentinel URL has no #fragment; expected {SENTINEL_SYNTAX}")
    credentials, _, hosts = rest.rpartition("@")
    hosts, slash, path = hosts.partition("/")
    if not slash:
        raise ValueError(
            f"the URL names no service (the primary's name); expected {SENTINEL_SYNTAX}"
        )
    username, password = _credentials(credentials)
    sentinels = tuple(_address(part) for part in hosts.split(","))
    parts = path.strip("/").split("/") if path.strip("/") else []
    if not parts or len(parts) > 2 or not _SERVICE_NAME.match(unquote(parts[0])):
        raise ValueError(
            f"the path must be /service_name or /service_name/db, not /{path}; "
            f"expected {SENTINEL_SYNTAX}"
        )
    db = 0
    if len(parts) == 2:
        if not parts[1].isdigit():
            raise ValueError(
                f"the database must be a number, not {parts[1]!r}; expected {SENTINEL_SYNTAX}"
            )
        db = int(parts[1])
    options = _options(query)
    return SentinelTarget(
        sentinels=sentinels,
        service_name=unquote(parts[0]),
        db=db,
        username=username,
        password=password,
        sentinel_username=options.get("sentinel_username"),
        sentinel_password=options.get("sentinel_password"),
    )


def check_redis_url(url: str) -> None:
    """ValueError naming both accepted syntaxes when ``url`` is neither form."""
    if is_sentinel_url(url):
        parse_sentinel_url(url)
        return
    try:
        parse_url(url)
    except ValueError as exc:
        raise ValueError(f"{exc}; expected {SYNTAX}") from None


def _credentials(text: str) -> tuple[str | None, str | None]:
    if not text:
        return None, None
    user, colon, password = text.partition(":")
    return (unquote(user) or None), (unquote(password) if colon else None)


def _address(text: str) -> tuple[str, int]:
    found = _ADDRESS.match(text)
    if found is None:
        raise ValueError(f"{text!r} is not a Sentinel's host[:port]; expected {SENTINEL_SYNTAX}")
    port = int(found["port"] or SENTINEL_PORT)
    if not 0 < port < 65536:
        raise ValueError(f"{text!r}: the port must be 1-65535; expected {SENTINEL_SYNTAX}")
    return found["ipv6"] or found["host"], port


def _options(query: str) -> dict[str, str]:
    options: dict[str, str] = {}
    for name, values in parse_qs(query, keep_blank_values=True, strict_parsing=False).items():
        if name not in SENTINEL_OPTIONS:
            raise ValueError(
                f"unknown option {name!r}: a Sentinel URL takes "
                f"{' and '.join(sorted(SENTINEL_OPTIONS))}; expected {SENTINEL_SYNTAX}"
            )
        options[name] = values[-1]
    return options


class SentinelPrimaryClient(Redis):
    """``redis.asyncio.Redis`` on the primary a Sentinel names; closing it closes its
    connections to the Sentinels too (redis-py leaves those to the ``Sentinel``)."""

    sentinel_manager: Sentinel

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        try:
            await super().aclose(close_connection_pool)
        finally:
            await self.sentinel_manager.aclose()


def _sentinel(target: SentinelTarget, options: dict[str, Any]) -> Sentinel:
    timeout = options.get("socket_connect_timeout") or SENTINEL_TIMEOUT
    sentinel_options: dict[str, Any] = {
        "socket_timeout": min(timeout, SENTINEL_TIMEOUT),
        "socket_connect_timeout": min(timeout, SENTINEL_TIMEOUT),
    }
    if target.sentinel_password is not None:
        sentinel_options["password"] = target.sentinel_password
        sentinel_options["username"] = target.sentinel_username
    return Sentinel(  # type: ignore[no-untyped-call]
        list(target.sentinels), sentinel_kwargs=sentinel_options
    )


def _server_options(target: SentinelTarget, options: dict[str, Any]) -> dict[str, Any]:
    return {"db": target.db, "username": target.username, "password": target.password, **options}


def redis_client(url: str, **options: Any) -> Redis:
    """A ``redis.asyncio.Redis`` on the server ``url`` names (for a Sentinel URL, on the
    current primary, following failovers). ``options`` are redis-py connection options.

    ValueError naming both syntaxes when ``url`` is neither form.
    """
    check_redis_url(url)
    if not is_sentinel_url(url):
        return Redis.from_url(url, **options)
    target = parse_sentinel_url(url)
    sentinel = _sentinel(target, options)
    client = cast(
        SentinelPrimaryClient,
        sentinel.master_for(
            target.service_name,
            redis_class=SentinelPrimaryClient,
            **_server_options(target, options),
        ),
    )
    client.sentinel_manager = sentinel
    return client


class ConnectionMaker:
    """New single connections to the server ``url`` names, for a caller that manages its own
    (the response cache's :class:`~conduit.adapters.redis_cache.RedisLink`).

    With Sentinel each connection asks for the primary's address in ``connect()``: the caller
    must call it before sending. (redis-py's sending connects by itself without asking, to
    the connection's default address, localhost:6379: another Redis, or none.)
    """

    def __init__(self, url: str, **options: Any) -> None:
        check_redis_url(url)
        self._sentinel: Sentinel | None = None
        self._pool: SentinelConnectionPool | None = None
        self._make: Callable[[], AbstractConnection]
        if is_sentinel_url(url):
            target = parse_sentinel_url(url)
            self._sentinel = _sentinel(target, options)
            # Only its connection factory and the primary's address are used: the caller
            # keeps the connections (the pool is held here, its connections hold a weak proxy).
            self._pool = SentinelConnectionPool(  # type: ignore[no-untyped-call]
                target.service_name, self._sentinel, **_server_options(target, options)
            )
            self._make = self._pool.make_connection
        else:
            parsed: dict[str, Any] = dict(parse_url(url))
            connection_class: type[AbstractConnection] = parsed.pop("connection_class", Connection)
            settings = {**parsed, **options}
            self._make = lambda: connection_class(**settings)

    def __call__(self) -> AbstractConnection:
        return self._make()

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.disconnect()
        if self._sentinel is not None:
            await self._sentinel.aclose()
