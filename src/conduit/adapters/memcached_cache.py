"""The response cache on Memcached (``CONDUIT_CACHE_URL=memcached://host:port``).

Keys (generation names and requests are hashed: Memcached keys are at most 250 bytes
without spaces, and a slug or a query string is neither bounded nor safe)::

    conduit:gen:<hash of the generation's name>   a counter, INCR'd by commits (no expiry)
    conduit:cache:<hash of request|g1:g2:...>     a cached body (exptime ``cache_ttl_seconds``)

A lookup is two round trips: a multi-get of the generations, then a get of the entry whose
key they compose. A write bumps each generation it changed: ``add`` of a fresh value (when
the counter is missing) else ``incr``, as Memcached's ``incr`` fails on a missing key.

**Evicted counters.** Memcached keeps nothing on disk and, when its memory is full, evicts
the least recently used items of a slab class, counters included, while entries built on
them may live on in another class. On Redis a missing counter reads as 0, safe because it
never disappears. Here a counter that restarted from a fixed value could come back to a
value it already had, and an entry stored under it before the write that bumped it would
look current again. So a counter is never created at a fixed value: whoever finds it
missing (a lookup, or a bump) ``add``s a random 62-bit value, and ``incr`` only moves on
from there. Each life of a counter is then a short run of numbers drawn at random from
2^62: for an old entry to be reachable again, a new run would have to land on one of the
few thousand values the old one covered within an entry's lifetime (odds of about one in
10^15 per eviction), whereas a time-based start would depend on every instance's clock.
Whichever instance's ``add`` wins, everyone reads the winner's value; a bump whose ``add``
lost to a lookup's then ``incr``s past it, so the reader's entry (perhaps read before the
commit) lands under a value nobody composes any more. The generations are also checked on every
lookup, never remembered by an instance, so a write is seen by the next request anywhere.

**Memcached slow or down** is handled as on Redis (:mod:`conduit.adapters.cache_breaker`):
short timeouts, a breaker, and a probe that replays the missed bumps, and the ``all``
generation after a broken connection (Memcached's warm restart can bring entries back).
Reads then wait ``READS_RESUME_AFTER`` more, as on Redis: the outage stopped every
instance's invalidations, and one that reconnects later replays its own only then.

**Connections.** aiomcache 0.8.2 hands a connection back to its pool when a call is
cancelled (by the timeout) mid-reply, so the next call on it would read the wrong reply;
and it loops without yielding when the server closes a connection before a one-line reply.
So each connection is its own one-connection client (:class:`OneConnection`), reading
replies with ``readuntil`` (which raises at EOF), and a client whose call failed in any way
is closed and dropped, with the idle ones.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
from collections.abc import Awaitable, Callable, Collection, Sequence
from typing import TypeVar
from urllib.parse import urlsplit

import aiomcache
from aiomcache.pool import Connection

from conduit.adapters.cache_breaker import (
    PROBE_TIMEOUT,
    READS_RESUME_AFTER,
    CacheBreaker,
    LoopLag,
)
from conduit.core.cache import BYPASS, Lookup

T = TypeVar("T")
GENERATION_PREFIX = "conduit:gen:"
ENTRY_PREFIX = "conduit:cache:"
# Memcached's default largest item is 1 MiB, key and item header included.
MAX_ENTRY_BYTES = 1_000_000
MAX_IDLE_CONNECTIONS = 64
DEFAULT_PORT = 11211
URL_FORM = "memcached://host:port"


def parse_url(url: str) -> tuple[str, int]:
    """The host and port of ``memcached://host[:port]``; ValueError naming the form if not."""
    wrong = ValueError(f"write {URL_FORM} (no user, path or query)")
    try:
        parts = urlsplit(url)
        port = parts.port or DEFAULT_PORT
    except ValueError:
        raise wrong from None
    extra = parts.path.strip("/") or parts.query or parts.fragment or parts.username
    if parts.scheme != "memcached" or not parts.hostname or extra:
        raise wrong
    return parts.hostname, port


def generation_key(name: str) -> bytes:
    """The key of the counter of generation ``name``."""
    return (GENERATION_PREFIX + _digest(name)).encode()


def entry_key(request: str, values: Sequence[bytes]) -> str:
    """The key of ``request``'s entry at these generation values."""
    return ENTRY_PREFIX + _digest(request + "|" + ":".join(v.decode() for v in values))


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=20).hexdigest()


def fresh_generation() -> bytes:
    """A counter's first value: random, so that a counter evicted and made again never
    returns to values an older entry was stored under (see the module's docstring)."""
    return str(secrets.randbits(62) + 1).encode()


class OneConnection(aiomcache.Client):
    """An aiomcache client of one connection whose one-line replies fail at EOF."""

    def __init__(self, host: str, port: int) -> None:
        super().__init__(host, port, pool_size=1)

    async def _execute_simple_command(self, conn: Connection, raw_command: bytes) -> bytes:
        conn.writer.write(raw_command)
        await conn.writer.drain()
        line = await conn.reader.readuntil(b"\r\n")  # IncompleteReadError if the server left
        return line[:-2]


class MemcachedLink:
    """A few connections to Memcached, each used by one call at a time, bounded as a whole
    by one timeout; a connection whose call failed is closed, and so are the idle ones."""

    def __init__(self, host: str, port: int, *, timeout_seconds: float) -> None:
        self.host, self.port = host, port
        self._timeout = timeout_seconds
        self._idle: list[OneConnection] = []
        self.lag = LoopLag()

    async def run(
        self, work: Callable[[OneConnection], Awaitable[T]], within: float | None = None
    ) -> T:
        self.lag.watch()
        client = self._idle.pop() if self._idle else OneConnection(self.host, self.port)
        try:
            async with asyncio.timeout((within or self._timeout) + self.lag.seconds):
                result = await work(client)
        except BaseException:
            await client.close()
            await self.drop_idle()  # they are likely broken too (a restart, a reset)
            raise
        if len(self._idle) < MAX_IDLE_CONNECTIONS:
            self._idle.append(client)
        else:
            await client.close()
        return result

    async def drop_idle(self) -> None:
        idle, self._idle = self._idle, []
        for client in idle:
            await client.close()

    async def close(self) -> None:
        await self.drop_idle()
        await self.lag.close()


class MemcachedResponseCache:
    """:class:`conduit.core.cache.ResponseCache` on Memcached, with a circuit breaker."""

    enabled = True

    def __init__(
        self,
        url: str,
        *,
        ttl_seconds: int,
        timeout_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        host, port = parse_url(url)
        self._link = MemcachedLink(host, port, timeout_seconds=timeout_seconds)
        self.timeout_seconds = timeout_seconds
        self._ttl = ttl_seconds
        self._breaker = CacheBreaker(
            "Memcached",
            replay=self._bump,
            ping=self._version,
            failures=(OSError, EOFError, asyncio.LimitOverrunError),
            replies=(aiomcache.ClientException,),
            reads_resume_after=READS_RESUME_AFTER,
            clock=clock,
        )
        # Failed calls by operation (lookup, store, invalidate), read by the metrics.
        self.failures = self._breaker.failures

    @property
    def available(self) -> bool:
        """False while requests bypass Memcached (until the probe has resynchronised, and
        for ``READS_RESUME_AFTER`` more)."""
        return self._breaker.available

    async def lookup(self, request: str, generations: Sequence[str]) -> Lookup:
        names = list(dict.fromkeys(generations))
        found = await self._breaker.call(
            "lookup", lambda: self._link.run(lambda client: _lookup(client, request, names))
        )
        return BYPASS if found is None else found

    async def store(self, key: str, value: bytes) -> None:
        if len(value) <= MAX_ENTRY_BYTES:
            await self._breaker.call(
                "store",
                lambda: self._link.run(lambda client: client.set(key.encode(), value, self._ttl)),
            )

    async def bump(self, generations: Collection[str]) -> None:
        changed = set(generations)
        if changed:
            await self._breaker.bump(changed, self.timeout_seconds)

    async def _bump(self, changed: Collection[str], within: float) -> None:
        async def bump_each(client: OneConnection) -> None:
            for name in sorted(changed):
                key = generation_key(name)
                if not await client.add(key, fresh_generation()):
                    await client.incr(key)  # evicted in between: ClientException, replayed

        await self._link.run(bump_each, within=within)

    async def _version(self, within: float) -> None:
        await self._link.run(lambda client: client.version(), within=within)

    async def ping(self) -> None:
        """One ``version`` to Memcached, whatever the breaker says (the readiness check)."""
        await self._version(PROBE_TIMEOUT)

    async def close(self) -> None:
        await self._breaker.close()
        await self._link.close()


async def _lookup(client: OneConnection, request: str, names: Sequence[str]) -> Lookup:
    keys = [generation_key(name) for name in names]
    values = [_number(value) for value in await client.multi_get(*keys)]
    missing = [key for key, value in zip(keys, values, strict=True) if value is None]
    if missing:
        # Never seen, or evicted: made again at a random value, whoever's add wins.
        for key in missing:
            await client.add(key, fresh_generation())
        again = dict(zip(missing, map(_number, await client.multi_get(*missing)), strict=True))
        values = [again.get(key, value) for key, value in zip(keys, values, strict=True)]
        if any(value is None for value in values):
            return BYPASS  # evicted at once: read the database, store nothing
    found = [value for value in values if value is not None]
    entry = entry_key(request, found)
    return Lookup(key=entry, value=await client.get(entry.encode()))


def _number(value: bytes | None) -> bytes | None:
    """A counter's digits (Memcached may pad a counter it rewrote in place with spaces)."""
    return None if value is None else value.strip()
