"""The second invalidation: listeners hear a commit's events again once every replica has
replayed it (:class:`conduit.core.replayed.ReplayWatcher`)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from conduit.core.events import Event
from conduit.core.replayed import ReplayWatcher


def event(n: int) -> Event:
    return Event(type="ArticleUpdated", data={"n": n}, actor_id=n)


async def until(condition: Callable[[], bool]) -> None:
    """Until ``condition()`` holds (for at most 2 seconds)."""
    async with asyncio.timeout(2):
        while not condition():  # noqa: ASYNC110 (state the watcher task changes)
            await asyncio.sleep(0.005)


class Replicas:
    def __init__(self) -> None:
        self.position = 0
        self.questions = 0

    async def replayed_everywhere(self) -> int:
        self.questions += 1
        return self.position


async def test_listeners_hear_a_commit_again_once_the_replicas_have_replayed_it() -> None:
    replicas = Replicas()
    heard: list[Sequence[Event]] = []

    async def listener(events: Sequence[Event]) -> None:
        heard.append(events)

    watcher = ReplayWatcher(replicas.replayed_everywhere, give_up_seconds=60, poll_seconds=0.01)
    watcher.listen(listener)
    first, second = event(1), event(2)
    watcher.committed(100, [first])
    watcher.committed(200, [second])
    await until(lambda: replicas.questions >= 3)
    assert heard == []
    replicas.position = 150
    await until(lambda: len(heard) == 1)
    assert list(heard[0]) == [first]
    replicas.position = 200
    await until(lambda: len(heard) == 2)
    assert list(heard[1]) == [second]
    # Nothing waits any more: the replicas are no longer asked.
    asked = replicas.questions
    await asyncio.sleep(0.05)
    assert replicas.questions == asked
    await watcher.close()


async def test_a_commit_the_replicas_never_reach_is_heard_after_the_give_up_time() -> None:
    replicas = Replicas()
    heard: list[Sequence[Event]] = []

    async def listener(events: Sequence[Event]) -> None:
        heard.append(events)

    watcher = ReplayWatcher(replicas.replayed_everywhere, give_up_seconds=0.1, poll_seconds=0.01)
    watcher.listen(listener)
    watcher.committed(100, [event(1)])
    await until(lambda: len(heard) == 1)
    await watcher.close()


async def test_without_listeners_nothing_waits() -> None:
    replicas = Replicas()
    watcher = ReplayWatcher(replicas.replayed_everywhere, give_up_seconds=60, poll_seconds=0.01)
    assert not watcher.listening
    watcher.committed(100, [event(1)])
    await asyncio.sleep(0.05)
    assert replicas.questions == 0
    await watcher.close()
