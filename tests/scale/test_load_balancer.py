"""Losing an instance behind nginx under load: nothing a user relies on is lost.

nginx (TLS) over 3 `conduit serve` instances and a worker (tests/scale/cluster.py). 64
clients, each on its own connection, read and write (comments added and deleted) while 9
WebSocket clients follow the articles; one instance is killed with SIGKILL and started again
on its port. Then:

- no read failed: nginx sent each read that met the dead instance to another one; the one
  exception is an answer the instance had begun when it died (uvicorn writes the head, then
  the body): nginx has relayed the head, cannot send the read elsewhere, and the client sees
  the body cut short. Such reads must have been in flight at the kill;
- every write answered 2xx is there (a comment added is listed, one deleted is gone); a
  write answered otherwise was not applied, unless it was in flight when the instance died
  (then it is wholly there or wholly absent, never half);
- no event lost: every comment's event reached the worker's notifications consumer, and
  every comment listed has its notification;
- the WebSocket clients of the killed instance reconnected through nginx and, resubscribing
  with their last cursor, miss no message committed while they were connected or away.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from conduit.core.outbox import outbox, processed_events
from conduit.live.resume import cursor_time
from conduit.notifications.models import NotificationRow
from tests.helpers import auth, create_article, register
from tests.scale.cluster import Fleet, fleet

pytestmark = pytest.mark.cluster

CLIENTS = 64
WATCHERS = 9
KILL_AFTER = 5.0  # seconds of load before the kill
AFTER_RESTART = 3.0  # seconds of load once the instance is back
VICTIM = 1


@dataclass
class Write:
    kind: str  # "add" or "delete"
    marker: str  # the comment's body (add) or id (delete)
    started: float
    finished: float
    status: int | None  # None: the connection broke, no answer
    comment_id: int | None = None


@dataclass
class Load:
    slugs: list[str]
    tokens: list[str]
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    reads: Counter[int | None] = field(default_factory=Counter)
    failed_reads: list[str] = field(default_factory=list)
    cut_reads: list[tuple[float, float]] = field(default_factory=list)  # (started, finished)
    writes: list[Write] = field(default_factory=list)

    async def client(self, fleet: Fleet, number: int) -> None:
        token = self.tokens[number % len(self.tokens)]
        mine: list[tuple[str, int]] = []
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        chance = random.Random(number)
        async with httpx.AsyncClient(
            base_url=fleet.proxy.url + "/api", verify=fleet.trust, timeout=30, limits=limits
        ) as http:
            for n in itertools.count():
                if self.stop.is_set():
                    return
                slug = chance.choice(self.slugs)
                roll = chance.random()
                if roll < 0.6:
                    path = chance.choice(
                        [f"/articles/{slug}", f"/articles/{slug}/comments", "/articles", "/tags"]
                    )
                    await self._read(http, path, token)
                elif roll < 0.9 or not mine:
                    mine += await self._add(http, slug, token, f"c-{number}-{n}")
                else:
                    await self._delete(http, *mine.pop(chance.randrange(len(mine))), token)

    async def _read(self, http: httpx.AsyncClient, path: str, token: str) -> None:
        started = time.monotonic()
        try:
            status: int | None = (await http.get(path, headers=auth(token))).status_code
        except httpx.TransportError as exc:
            status = None
            if isinstance(exc, httpx.RemoteProtocolError) and "complete message body" in str(exc):
                self.cut_reads.append((started, time.monotonic()))  # cut mid-body by the kill
            else:
                self.failed_reads.append(f"{path}: {exc!r}")
        self.reads[status] += 1
        if status != 200 and status is not None:
            self.failed_reads.append(f"{path}: {status}")

    async def _add(
        self, http: httpx.AsyncClient, slug: str, token: str, body: str
    ) -> list[tuple[str, int]]:
        started = time.monotonic()
        try:
            response = await http.post(
                f"/articles/{slug}/comments", json={"comment": {"body": body}}, headers=auth(token)
            )
        except httpx.TransportError:
            self.writes.append(Write("add", body, started, time.monotonic(), None))
            return []
        write = Write("add", body, started, time.monotonic(), response.status_code)
        self.writes.append(write)
        if response.status_code == 201:
            write.comment_id = response.json()["comment"]["id"]
            return [(slug, write.comment_id)]
        return []

    async def _delete(self, http: httpx.AsyncClient, slug: str, comment: int, token: str) -> None:
        started = time.monotonic()
        try:
            status: int | None = (
                await http.delete(f"/articles/{slug}/comments/{comment}", headers=auth(token))
            ).status_code
        except httpx.TransportError:
            status = None
        self.writes.append(
            Write("delete", str(comment), started, time.monotonic(), status, comment)
        )


@dataclass
class Watcher:
    """A WebSocket client that follows every article, reconnecting through nginx with
    backoff and resuming from the last cursor of each article."""

    token: str
    slugs: list[str]
    received: dict[str, str] = field(default_factory=dict)  # event id -> type
    cursors: dict[str, str] = field(default_factory=dict)  # slug -> last cursor
    subscribed_at: float | None = None  # wall clock of the first subscription
    disconnects: int = 0
    reconnect_seconds: list[float] = field(default_factory=list)
    replayed: int = 0
    sent_since: list[str] = field(default_factory=list)

    async def run(self, fleet: Fleet, stop: asyncio.Event) -> None:
        backoff, lost_at = 0.1, None
        while not stop.is_set():
            try:
                async with connect(fleet.proxy.ws_url, ssl=fleet.trust, open_timeout=10) as ws:
                    await self._subscribe(ws)
                    if lost_at is not None:
                        self.reconnect_seconds.append(time.monotonic() - lost_at)
                    backoff, lost_at = 0.1, None
                    while not stop.is_set():
                        with contextlib.suppress(TimeoutError):
                            self._take(orjson.loads(await asyncio.wait_for(ws.recv(), 0.5)))
            except (ConnectionClosed, OSError, InvalidStatus, TimeoutError):
                if lost_at is None:
                    self.disconnects += 1
                    lost_at = time.monotonic()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 1.0)

    async def _subscribe(self, ws: Any) -> None:
        await ws.send(orjson.dumps({"type": "auth", "token": self.token}).decode())
        for slug in self.slugs:
            request = {"type": "subscribe", "article": slug}
            if slug in self.cursors:
                request["since"] = self.cursors[slug]
                self.sent_since.append(self.cursors[slug])
            await ws.send(orjson.dumps(request).decode())
        pending = set(self.slugs)
        while pending:
            message = orjson.loads(await asyncio.wait_for(ws.recv(), 10))
            if message.get("type") == "subscribed":
                pending.discard(message["article"])
                self.replayed += message.get("replayed", 0)
            else:
                assert message.get("type") != "error", message
                self._take(message)
        if self.subscribed_at is None:
            self.subscribed_at = time.time()

    def _take(self, message: dict[str, Any]) -> None:
        if "eventId" in message:
            self.received[message["eventId"]] = message["type"]
            self.cursors[message["article"]] = message["cursor"]


async def _setup(fleet: Fleet) -> tuple[list[str], list[str], str, list[str]]:
    async with httpx.AsyncClient(
        base_url=fleet.proxy.url + "/api", verify=fleet.trust, timeout=30
    ) as http:
        author = await register(http, "author")
        slugs = [
            (await create_article(http, author, title=f"Article {n}"))["slug"] for n in range(4)
        ]
        writers = [await register(http, f"writer{n}") for n in range(16)]
        watchers = [await register(http, f"watcher{n}") for n in range(WATCHERS)]
    return slugs, writers, author, watchers


async def _comments(fleet: Fleet, slugs: list[str]) -> dict[str, int]:
    """Every comment listed at the end: body -> id."""
    async with httpx.AsyncClient(base_url=fleet.proxy.url + "/api", verify=fleet.trust) as http:
        found = {}
        for slug in slugs:
            listed = await http.get(f"/articles/{slug}/comments", timeout=30)
            assert listed.status_code == 200
            found.update({c["body"]: c["id"] for c in listed.json()["comments"]})
        return found


def test_killing_an_instance_behind_nginx_loses_nothing(tmp_path: Path) -> None:
    # Synchronous: the fleet's database is migrated (asyncio.run) before the load's loop.
    with fleet(tmp_path, instances=3) as running:
        try:
            asyncio.run(_under_load_kill_one(running))
        except BaseException:
            print(running.logs())
            raise


async def _under_load_kill_one(running: Fleet) -> None:
    slugs, writers, _author, watcher_tokens = await _setup(running)
    load = Load(slugs, writers)
    watchers = [Watcher(token, slugs) for token in watcher_tokens]
    watching = asyncio.Event()
    watch_tasks = [asyncio.create_task(w.run(running, watching)) for w in watchers]
    while any(w.subscribed_at is None for w in watchers):  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    tasks = [asyncio.create_task(load.client(running, n)) for n in range(CLIENTS)]
    await asyncio.sleep(KILL_AFTER)
    killed_at = time.monotonic()
    running.kill(VICTIM)
    await asyncio.to_thread(running.restart, VICTIM, 1)
    back_at = time.monotonic()
    await asyncio.sleep(AFTER_RESTART)
    load.stop.set()
    await asyncio.gather(*tasks)

    # Reads: none failed, except answers cut short by the kill (the module's docstring).
    sent = sum(load.reads.values()) + len(load.writes)
    assert load.failed_reads == [], load.failed_reads[:20]
    after_kill = [
        (started - killed_at, finished - killed_at) for started, finished in load.cut_reads
    ]
    assert all(started <= 0.5 and finished >= 0 for started, finished in after_kill), after_kill

    # Writes: acknowledged ones are there; the others were not applied, unless cut mid-way.
    present = await _comments(running, slugs)
    present_ids = set(present.values())
    deleted = {w.comment_id for w in load.writes if w.kind == "delete"}
    lost, unclean, cut = [], [], Counter[str]()
    for w in load.writes:
        in_flight = w.started <= killed_at + 0.5 and w.finished >= killed_at
        applied = (w.marker in present) if w.kind == "add" else (w.comment_id not in present_ids)
        if w.kind == "add" and w.comment_id in deleted:
            continue  # a delete followed: checked as that delete
        if w.status is not None and 200 <= w.status < 300:
            if not applied:
                lost.append(w)
        elif w.status is None or (in_flight and w.status in (502, 504)):
            cut[f"{w.kind} {w.status} {'applied' if applied else 'absent'}"] += 1
        elif applied:
            unclean.append(w)
    assert lost == [], f"acknowledged writes lost: {lost[:10]}"
    assert unclean == [], f"writes refused yet applied: {unclean[:10]}"
    non_2xx = Counter(
        f"{w.kind} {w.status}" for w in load.writes if w.status is None or w.status >= 300
    )

    # Events: every comment's event reached the notifications consumer (once the worker is
    # idle), and every comment listed has its notification.
    engine = create_async_engine(running.database_url)
    try:
        missing_events: set[str] = set()
        deadline = time.monotonic() + 30
        while True:
            async with engine.connect() as conn:
                created = set(
                    (
                        await conn.execute(
                            select(outbox.c.event_id).where(outbox.c.type == "comment.created")
                        )
                    ).scalars()
                )
                consumed = set(
                    (
                        await conn.execute(
                            select(processed_events.c.event_id).where(
                                processed_events.c.consumer == "notifications"
                            )
                        )
                    ).scalars()
                )
                notified = set((await conn.execute(select(NotificationRow.comment_id))).scalars())
            missing_events = created - consumed
            unnotified = present_ids - notified
            if (not missing_events and not unnotified) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
        async with engine.connect() as conn:
            article_events = {
                row.event_id: row.type
                for row in await conn.execute(
                    select(outbox.c.event_id, outbox.c.type).where(
                        outbox.c.type.in_(("comment.created", "comment.deleted"))
                    )
                )
            }
    finally:
        await engine.dispose()
    assert missing_events == set(), f"{len(missing_events)} events never consumed"
    assert unnotified == set(), f"{len(unnotified)} comments without their notification"

    # Live updates: what each watcher should have seen (committed after it subscribed; a
    # comment deleted again may have been pushed only as its deletion).
    comment_of_event = await _comment_ids_of(running, article_events)
    # The last pushes arrive: wait until no watcher has received anything for 3 s.
    deadline, quiet_since, counts = time.monotonic() + 30, time.monotonic(), [0] * WATCHERS
    while time.monotonic() - quiet_since < 3 and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        now = [len(w.received) for w in watchers]
        if now != counts:
            counts, quiet_since = now, time.monotonic()
    watching.set()
    await asyncio.gather(*watch_tasks)
    missed_by_moved, missed_by_others = 0, 0
    for w in watchers:
        assert w.subscribed_at is not None
        expected = {
            event
            for event, kind in article_events.items()
            if cursor_time(event).timestamp() >= w.subscribed_at + 0.5
            and (kind == "comment.deleted" or comment_of_event.get(event) in present_ids)
        }
        missed = len(expected - set(w.received))
        if missed:  # which, and when (seconds after its first subscription)
            gone = expected - set(w.received)
            at = sorted(cursor_time(e).timestamp() - w.subscribed_at for e in gone)[:8]
            print(
                f"watcher: disconnects {w.disconnects}, missed {missed} of {len(expected)} "
                f"{Counter(article_events[e] for e in gone)}, replayed {w.replayed}, since "
                f"{[round(cursor_time(c).timestamp() - w.subscribed_at, 2) for c in w.sent_since]}"
                f", missed at {at}"
            )
        if w.disconnects:
            missed_by_moved += missed
        else:
            missed_by_others += missed
    moved = [w for w in watchers if w.disconnects]
    assert moved, "no WebSocket client was on the killed instance"
    assert all(w.reconnect_seconds for w in moved)
    print(
        f"\nrequests sent {sent}; reads {sum(load.reads.values())}, failed reads "
        f"{len(load.failed_reads)}, cut by the kill {len(load.cut_reads)}; writes "
        f"{len(load.writes)}, non-2xx {dict(non_2xx)}; "
        f"cut mid-write {dict(cut)}; acknowledged writes lost {len(lost)}; events lost "
        f"{len(missing_events)}; instance back after {back_at - killed_at:.1f} s; "
        f"WS clients moved {len(moved)}, reconnect s "
        f"{[round(s, 2) for w in moved for s in w.reconnect_seconds]}, replayed "
        f"{sum(w.replayed for w in moved)}, missed {missed_by_moved}; missed by clients "
        f"of the surviving instances {missed_by_others}"
    )
    assert missed_by_moved == 0


async def _comment_ids_of(running: Fleet, events: dict[str, str]) -> dict[str, int]:
    """The comment id each comment.created event is about."""
    engine = create_async_engine(running.database_url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                select(outbox.c.event_id, outbox.c.payload).where(
                    outbox.c.type == "comment.created"
                )
            )
            return {
                row.event_id: int(orjson.loads(row.payload)["data"]["commentId"])
                for row in rows
                if row.event_id in events
            }
    finally:
        await engine.dispose()
