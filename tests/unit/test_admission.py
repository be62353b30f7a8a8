"""Admission (http/admission.py) around a small ASGI app whose requests finish when the test
says: the limit, the queue (first come, first served; newest first once it stands), the
503 of a request that waited too long, what is never refused, and no slot lost."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from conduit.http.admission import Admission

Message = dict[str, Any]


class Held:
    """An ASGI app whose requests stay in it until :meth:`finish` (or fail with ``fail``)."""

    def __init__(self) -> None:
        self.entered: list[str] = []
        self._gates: dict[str, asyncio.Event] = {}
        self.failing: set[str] = set()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        name = scope["path"]
        self.entered.append(name)
        gate = self._gates.setdefault(name, asyncio.Event())
        await gate.wait()
        if name in self.failing:
            raise RuntimeError("the app failed")
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    def finish(self, name: str) -> None:
        self._gates.setdefault(name, asyncio.Event()).set()


class Counted:
    def __init__(self) -> None:
        self.shed_count = 0
        self.queued = 0
        self.most_queued = 0

    def shed(self) -> None:
        self.shed_count += 1

    def waiting(self, change: int) -> None:
        self.queued += change
        self.most_queued = max(self.most_queued, self.queued)


def http(path: str) -> dict[str, Any]:
    return {"type": "http", "method": "GET", "path": path, "headers": []}


async def call(app: Admission, scope: dict[str, Any]) -> list[Message]:
    sent: list[Message] = []

    async def receive() -> Message:
        await asyncio.Event().wait()  # the request has no body; the client stays
        return {}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


def status(sent: list[Message]) -> int:
    return int(sent[0]["status"])


async def until(condition: Any) -> None:
    for _ in range(200):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("never happened")


def admission(held: Held, limit: int, timeout_ms: float, **options: Any) -> Admission:
    return Admission(held, max_in_flight=limit, queue_timeout_ms=timeout_ms, **options)


async def test_a_request_over_the_limit_past_the_timeout_gets_503_with_retry_after() -> None:
    held, counted = Held(), Counted()
    app = admission(held, 1, 50, observer=counted)
    first = asyncio.create_task(call(app, http("/a")))
    await until(lambda: held.entered == ["/a"])

    started = asyncio.get_running_loop().time()
    sent = await call(app, http("/b"))
    waited = asyncio.get_running_loop().time() - started

    assert status(sent) == 503
    headers = dict(sent[0]["headers"])
    assert headers[b"retry-after"] == b"1"
    assert headers[b"content-type"] == b"application/json"
    body = sent[1]["body"]
    assert orjson.loads(body) == {"errors": {"server": ["is busy, try again"]}}
    assert headers[b"content-length"] == str(len(body)).encode()
    assert 0.04 <= waited < 1
    assert held.entered == ["/a"]  # the shed request never reached the app
    assert (counted.shed_count, counted.queued, counted.most_queued) == (1, 0, 1)
    held.finish("/a")
    assert status(await first) == 200
    assert app.in_flight == 0


async def test_no_queue_with_timeout_0_sheds_at_once() -> None:
    held = Held()
    app = admission(held, 1, 0)
    first = asyncio.create_task(call(app, http("/a")))
    await until(lambda: held.entered == ["/a"])
    assert status(await asyncio.wait_for(call(app, http("/b")), 0.5)) == 503
    held.finish("/a")
    await first


async def test_a_freed_slot_admits_the_waiters_in_their_order() -> None:
    held = Held()
    app = admission(held, 1, 5000)
    first = asyncio.create_task(call(app, http("/a")))
    await until(lambda: held.entered == ["/a"])
    waiters = []
    for name in ("/b", "/c", "/d"):
        waiters.append(asyncio.create_task(call(app, http(name))))
        await until(lambda n=len(waiters): app.queued == n)

    held.finish("/a")
    await until(lambda: held.entered == ["/a", "/b"])
    assert app.in_flight == 1
    assert app.queued == 2
    held.finish("/b")
    await until(lambda: held.entered == ["/a", "/b", "/c"])
    held.finish("/c")
    held.finish("/d")
    assert [status(sent) for sent in await asyncio.gather(first, *waiters)] == [200] * 4
    assert held.entered == ["/a", "/b", "/c", "/d"]
    assert (app.in_flight, app.queued) == (0, 0)


async def test_once_the_queue_cannot_drain_in_time_the_newest_waiter_goes_in_first() -> None:
    held = Held()
    app = admission(held, 1, 150)
    for n in range(20):  # the pace of the slots: one every 30 ms
        task = asyncio.create_task(call(app, http(f"/pace{n}")))
        await until(lambda n=n: len(held.entered) == n + 1)
        await asyncio.sleep(0.03)
        held.finish(f"/pace{n}")
        await task
    first = asyncio.create_task(call(app, http("/a")))
    await until(lambda: held.entered[-1] == "/a")
    names = [f"/wait{n}" for n in range(10)]  # 10 x 30 ms: more than the 150 ms timeout
    waiters = []
    for name in names:
        waiters.append(asyncio.create_task(call(app, http(name))))
        await until(lambda n=len(waiters): app.queued == n)

    held.finish("/a")
    await until(lambda: held.entered[-1] != "/a")
    assert held.entered[-1] == "/wait9"  # the newest
    await asyncio.sleep(0.2)  # the others' time runs out
    for name in names:
        held.finish(name)
    statuses = [status(sent) for sent in await asyncio.gather(*waiters)]
    assert statuses == [503] * 9 + [200]
    await first
    assert (app.in_flight, app.queued) == (0, 0)


@pytest.mark.parametrize("path", ["/health/live", "/health/ready", "/metrics"])
async def test_the_probes_and_the_metrics_are_never_refused(path: str) -> None:
    held = Held()
    app = admission(held, 1, 0)
    first = asyncio.create_task(call(app, http("/a")))
    await until(lambda: held.entered == ["/a"])
    held.finish(path)
    assert status(await call(app, http(path))) == 200
    assert app.in_flight == 1
    held.finish("/a")
    await first


async def test_websockets_and_lifespan_pass_outside_the_limit() -> None:
    passed: list[str] = []

    async def inner(scope: dict[str, Any], receive: Any, send: Any) -> None:
        passed.append(scope["type"])

    app = Admission(inner, max_in_flight=1, queue_timeout_ms=0)
    app.in_flight = 1  # full
    for kind in ("websocket", "lifespan"):
        await app({"type": kind, "path": "/api/ws"}, None, None)  # type: ignore[arg-type]
    assert passed == ["websocket", "lifespan"]
    assert app.in_flight == 1


async def test_0_switches_admission_off() -> None:
    held = Held()
    app = admission(held, 0, 0)
    calls = [asyncio.create_task(call(app, http(f"/{n}"))) for n in range(20)]
    await until(lambda: len(held.entered) == 20)
    for n in range(20):
        held.finish(f"/{n}")
    assert [status(sent) for sent in await asyncio.gather(*calls)] == [200] * 20


async def test_a_failing_request_frees_its_slot() -> None:
    held = Held()
    held.failing.add("/a")
    app = admission(held, 1, 5000)
    first = asyncio.create_task(call(app, http("/a")))
    await until(lambda: held.entered == ["/a"])
    second = asyncio.create_task(call(app, http("/b")))
    await until(lambda: app.queued == 1)
    held.finish("/a")
    with pytest.raises(RuntimeError):
        await first
    await until(lambda: held.entered == ["/a", "/b"])  # the slot went to the waiter
    held.finish("/b")
    assert status(await second) == 200
    assert (app.in_flight, app.queued) == (0, 0)


async def test_requests_gone_in_the_app_or_in_the_queue_free_what_they_held() -> None:
    held = Held()
    app = admission(held, 2, 5000)
    inside = [asyncio.create_task(call(app, http(f"/in{n}"))) for n in range(2)]
    await until(lambda: len(held.entered) == 2)
    waiting = [asyncio.create_task(call(app, http(f"/wait{n}"))) for n in range(3)]
    await until(lambda: app.queued == 3)

    for task in (*waiting[:2], inside[0]):  # two waiters and one request in the app leave
        task.cancel()
    await asyncio.gather(*waiting[:2], inside[0], return_exceptions=True)

    await until(lambda: held.entered[-1] == "/wait2")  # the freed slot, to the last waiter
    assert (app.in_flight, app.queued) == (2, 0)
    held.finish("/in1")
    held.finish("/wait2")
    await asyncio.gather(inside[1], waiting[2])
    assert (app.in_flight, app.queued) == (0, 0)


async def test_a_slot_handed_to_a_waiter_that_leaves_at_once_goes_to_the_next() -> None:
    """The waiter is cancelled after its slot was handed over and before it could run."""
    held = Held()
    tasks: dict[str, asyncio.Task[list[Message]]] = {}

    class LeavingOnHandover(Counted):
        def waiting(self, change: int) -> None:
            super().waiting(change)
            if change < 0 and "gone" in tasks:
                tasks.pop("gone").cancel()

    app = admission(held, 1, 5000, observer=LeavingOnHandover())
    first = asyncio.create_task(call(app, http("/a")))
    await until(lambda: held.entered == ["/a"])
    gone = asyncio.create_task(call(app, http("/gone")))
    await until(lambda: app.queued == 1)
    after = asyncio.create_task(call(app, http("/after")))
    await until(lambda: app.queued == 2)
    tasks["gone"] = gone

    held.finish("/a")
    await first
    with pytest.raises(asyncio.CancelledError):
        await gone
    await until(lambda: held.entered == ["/a", "/after"])  # "/gone" never ran
    held.finish("/after")
    await after
    assert (app.in_flight, app.queued) == (0, 0)
