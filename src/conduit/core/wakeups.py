"""Wake-ups: the relay and the access-rules keeper sleep until something changed.

Each instance keeps two loops that must notice what other processes commit: the outbox
relay (new events to publish) and the access-rules keeper (sign-outs, bans and roles).
Polling the database for them costs every instance a few queries a second, idle or not, so
that the idle load grows with the fleet. Instead they subscribe to a topic of the
:class:`Wakeups` port and sleep until a notification arrives, with a slow safety poll
(CONDUIT_SAFETY_POLL_SECONDS) for a notification that was missed.

One topic exists, :data:`OUTBOX`: events were committed, the notification's details being
their types. Every change worth waking for leaves an event in the outbox, so the relay
wakes for any detail and the keeper only for the event types its feature names.

Adapters: PostgreSQL ``LISTEN/NOTIFY`` (``adapters/pg_notify.py``: a trigger on the outbox
notifies, so every committing process wakes every instance), Redis pub/sub
(``adapters/redis_wakeups.py``: each process publishes after its commits) and
:class:`LocalWakeups`, which reaches no other process. A subscriber sleeps for the safety
interval only while the adapter's channel is up (:attr:`WakeupHub.connected`); without one,
or while it is down, it sleeps for its poll interval as before. Every change of the
channel's state wakes every subscriber: after a reconnect something may have been missed,
and after a loss the sleepers must shorten their sleep.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Collection, Iterable
from typing import Protocol

OUTBOX = "outbox"  # events were committed; details: their types


class Wakeup:
    """One sleeper's subscription to a topic: set by a notification it accepts (all of them
    when ``only`` is None), or by its owner (:meth:`set`)."""

    def __init__(
        self,
        hub: WakeupHub,
        topic: str,
        *,
        only: frozenset[str] | None,
        poll: float,
        safety: float,
    ) -> None:
        self.topic = topic
        self.only = only
        self.poll = poll
        self.safety = safety
        self._hub = hub
        self._flag = asyncio.Event()

    def accepts(self, details: Iterable[str] | None) -> bool:
        """None (details unknown, e.g. after a reconnect) is accepted by every subscriber."""
        if details is None or self.only is None:
            return True
        return any(detail in self.only for detail in details)

    def set(self) -> None:
        self._flag.set()

    def clear(self) -> None:
        """Called before the work a wake-up asks for, so one arriving during it is kept."""
        self._flag.clear()

    @property
    def is_set(self) -> bool:
        return self._flag.is_set()

    @property
    def interval(self) -> float:
        """How long a sleep lasts without a wake-up: the safety interval while a channel
        across processes is up, else the poll interval."""
        return self.safety if self._hub.connected else self.poll

    async def sleep(self) -> bool:
        """Until set or :attr:`interval` passes; True when woken.

        ``asyncio.timeout`` rather than ``wait_for``: on Python 3.11, a cancellation that
        arrives as the flag is set is lost inside ``wait_for``, and a loop that sleeps here
        (the relay's) would then run on after its task was cancelled.
        """
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.interval):
                await self._flag.wait()
        return self._flag.is_set()

    def close(self) -> None:
        self._hub.unsubscribe(self)


class WakeupHub:
    """The subscribers of one process and the state of its channel; adapters build on it."""

    def __init__(self) -> None:
        self._subscribers: dict[str, list[Wakeup]] = {}
        self._connected = False

    @property
    def connected(self) -> bool:
        """True while notifications from other processes reach this one."""
        return self._connected

    def subscribe(
        self,
        topic: str,
        *,
        only: Collection[str] | None = None,
        poll: float,
        safety: float,
    ) -> Wakeup:
        """A subscription to ``topic``; ``only``: the details it wakes for (None: any)."""
        wakeup = Wakeup(
            self,
            topic,
            only=None if only is None else frozenset(only),
            poll=poll,
            safety=max(safety, poll),
        )
        self._subscribers.setdefault(topic, []).append(wakeup)
        return wakeup

    def unsubscribe(self, wakeup: Wakeup) -> None:
        with contextlib.suppress(ValueError):
            self._subscribers.get(wakeup.topic, []).remove(wakeup)

    def deliver(self, topic: str, details: Iterable[str] | None = None) -> None:
        """Wake the subscribers of ``topic`` that accept ``details`` (None: all of them)."""
        chosen = None if details is None else tuple(details)
        for wakeup in self._subscribers.get(topic, ()):
            if wakeup.accepts(chosen):
                wakeup.set()

    def wake_everyone(self) -> None:
        for subscribers in self._subscribers.values():
            for wakeup in subscribers:
                wakeup.set()

    def connection_changed(self, connected: bool) -> None:
        """The channel came up (again) or went down: every subscriber wakes, to catch up on
        what may have been missed or to shorten its sleep to the poll interval."""
        self._connected = connected
        self.wake_everyone()


class Wakeups(Protocol):
    """The port: subscribe to topics; tell every instance that a topic changed."""

    @property
    def connected(self) -> bool: ...

    # True when each commit must be signalled by the process that made it (Redis); False
    # when the database signals by itself (PostgreSQL's trigger) or nothing is to be sent.
    @property
    def signals_commits(self) -> bool: ...

    def subscribe(
        self,
        topic: str,
        *,
        only: Collection[str] | None = None,
        poll: float,
        safety: float,
    ) -> Wakeup: ...

    async def signal(self, topic: str, details: Collection[str]) -> None:
        """Wake the subscribers of ``topic``, on every instance the channel reaches."""

    async def start(self) -> None:
        """Open the channel (and keep it open, reconnecting); returns soon even if the
        channel's server is unreachable."""

    async def close(self) -> None: ...


class LocalWakeups(WakeupHub):
    """The embedded adapter: reaches this process only, so its subscribers keep their poll
    interval (SQLite, MariaDB without Redis, or wake-ups switched off)."""

    signals_commits = False

    async def signal(self, topic: str, details: Collection[str]) -> None:
        self.deliver(topic, details)

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None
