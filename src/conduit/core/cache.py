"""The response cache: finished JSON bodies of anonymous reads, under versioned keys.

A cached read names the *generations* it depends on: :data:`ALL`, which every cached read
depends on, and whatever its feature declares (``lists``, ``tags``, ``article:<slug>``,
``comments:<slug>``). Its entry is stored under a key made of the request (path and
normalised query) and the current value of each generation, so bumping a generation makes
every entry built on it unreachable at once, on every instance: nothing is deleted, nothing
is scanned, and an entry written late by a reader that started before a write can only
land under a key nobody composes any more.

This module is the mechanism only. What a feature's events make stale and which of its
reads are cached are declared by the feature, in its ``cache_rules.py``, as a
:class:`CacheRules`; ``conduit.bootstrap`` merges them (:meth:`CacheRules.merge`) and binds
:func:`invalidate` to every commit, so a write bumps the generations its events changed
inside ``uow.commit()`` — before the use case returns, hence before its response is sent.

Framework-free: the HTTP layer (``conduit.http.read_cache``) matches requests against the
declared reads; the adapters (``conduit.adapters.redis_cache``, or :class:`NoCache` when no
Redis is configured) store the bytes and the counters.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Protocol

from conduit.core.events import Event

# Every cached read depends on it; bumped by a change to what every answer may embed (a
# user's public fields: author objects, profiles) and by any event no feature declared.
ALL = "all"

# What an event's data makes stale: the names of the generations to bump.
Rule = Callable[[Mapping[str, Any]], Iterable[str]]
# What a cached read's answer depends on besides ALL, from the path's parameters.
DependsOn = Callable[[Mapping[str, str]], Iterable[str]]
# A path a broader template would take, whose answers are never cached (signed-in only).
NOT_CACHED = None


def nothing(_data: Mapping[str, Any]) -> Iterable[str]:
    """The rule of an event no anonymous reader can see the effect of: it bumps nothing."""
    return ()


NOTHING: Rule = nothing


class Unreadable(LookupError):
    """A rule found its event's data without what it needs: everything is bumped instead."""


def text(data: Mapping[str, Any], key: str) -> str:
    """``data[key]`` for a rule, when it is a string (such as a slug); else :exc:`Unreadable`."""
    value = data.get(key)
    if not isinstance(value, str):
        raise Unreadable(key)
    return value


@dataclass(frozen=True)
class CacheRules:
    """What a feature declares about the response cache, next to its events.

    ``invalidates`` maps each event type the feature emits (its event class's ``type``) to
    the :data:`Rule` that names the generations an anonymous reader could see change when
    it committed; an event that changes nothing they see is declared with :data:`NOTHING`,
    never left out (an event nobody declared bumps :data:`ALL`). ``reads`` maps the path of
    each cached anonymous ``GET``, as its router writes it (``/articles/{slug}``), to what
    its answer depends on besides :data:`ALL`; a read that is not listed is not cached.
    """

    invalidates: Mapping[str, Rule] = field(default_factory=dict)
    reads: Mapping[str, DependsOn | None] = field(default_factory=dict)

    @classmethod
    def merge(cls, *declared: CacheRules) -> CacheRules:
        """Every feature's rules as one; an event type or a path declared twice is an error."""
        invalidates: dict[str, Rule] = {}
        reads: dict[str, DependsOn | None] = {}
        for rules in declared:
            for kind, rule in rules.invalidates.items():
                if kind in invalidates:
                    raise ValueError(f"the cache rule of event {kind!r} is declared twice")
                invalidates[kind] = rule
            for path, depends_on in rules.reads.items():
                if path in reads:
                    raise ValueError(f"the cached read {path!r} is declared twice")
                reads[path] = depends_on
        return cls(invalidates=MappingProxyType(invalidates), reads=MappingProxyType(reads))

    def changed_by(self, event: Event) -> set[str]:
        """The generations ``event`` changed; :data:`ALL` when no rule can tell.

        A new event type is safe before anyone declares it (it bumps everything), and so is
        an event whose data lacks what its rule reads (:exc:`Unreadable`).
        """
        rule = self.invalidates.get(event.type)
        if rule is None:
            return {ALL}
        try:
            return set(rule(event.data))
        except Unreadable:
            return {ALL}

    def changed_by_all(self, events: Iterable[Event]) -> set[str]:
        changed: set[str] = set()
        for event in events:
            changed |= self.changed_by(event)
        return changed


async def invalidate(cache: ResponseCache, rules: CacheRules, events: Sequence[Event]) -> None:
    """Bump the generations ``events`` changed: a ``db.on_commit`` listener, once bound."""
    changed = rules.changed_by_all(events)
    if changed:
        await cache.bump(changed)


@dataclass(frozen=True, slots=True)
class Lookup:
    """The answer of :meth:`ResponseCache.lookup`.

    ``key`` is the versioned key to :meth:`~ResponseCache.store` a fresh body under (None
    when the cache is bypassed: nothing will be stored); ``value`` is the cached entry.
    """

    key: str | None
    value: bytes | None = None


BYPASS = Lookup(key=None)


class ResponseCache(Protocol):
    """Where finished responses of anonymous reads are kept, shared by every instance.

    No method raises: a cache that cannot be reached answers :data:`BYPASS` and the caller
    reads the database, as if nothing were cached.
    """

    @property
    def enabled(self) -> bool:
        """False for :class:`NoCache`: the HTTP layer then skips the cache entirely."""
        ...

    async def lookup(self, request: str, generations: Sequence[str]) -> Lookup:
        """The entry for ``request`` at the current value of ``generations``, if any."""
        ...

    async def store(self, key: str, value: bytes) -> None:
        """Keep ``value`` under ``key`` (from :meth:`lookup`) for the configured TTL."""
        ...

    async def bump(self, generations: Collection[str]) -> None:
        """Make every entry built on one of ``generations`` unreachable (see :func:`invalidate`)."""
        ...

    async def close(self) -> None: ...


class NoCache:
    """The embedded default: caches nothing.

    Without a cache shared by every process, any entry could go stale when another process
    (``conduit serve --workers N``) commits a write, and every API read can change; so the
    only thing left to save is bandwidth, which ETag / If-None-Match do on every GET anyway.
    """

    enabled = False

    async def lookup(self, request: str, generations: Sequence[str]) -> Lookup:
        return BYPASS

    async def store(self, key: str, value: bytes) -> None:
        return None

    async def bump(self, generations: Collection[str]) -> None:
        return None

    async def close(self) -> None:
        return None
