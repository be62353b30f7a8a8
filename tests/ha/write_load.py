"""Writers for the failover tests: concurrent authors creating articles and commenting on
each other's, every answer recorded (status, when, what it acknowledged).

Each writer is one HTTP connection to one of the ``conduit serve`` processes, signed in as
one of the users. A comment goes on an article of another user, so that its author gets
exactly one notification for it.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass
class WriteAnswer:
    kind: str  # "article" or "comment"
    started: float
    finished: float
    status: int | None  # None: no answer (connection refused, reset, timed out)
    retry_after: str | None = None
    body: Any = None
    acknowledged: str | None = None  # the slug or comment id a 201 answered
    error: str | None = None


@dataclass
class Author:
    name: str
    token: str


@dataclass
class WriteLoad:
    """``writers`` concurrent writers spread over ``base_urls`` and ``authors``."""

    base_urls: list[str]
    authors: list[Author]
    writers: int = 32
    timeout: float = 30.0
    answers: list[WriteAnswer] = field(default_factory=list)
    articles: list[tuple[str, int]] = field(default_factory=list)  # (slug, author index)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._writer(index)) for index in range(self.writers)]

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)
        self._tasks = []

    async def _writer(self, index: int) -> None:
        me = index % len(self.authors)
        headers = {"Authorization": f"Token {self.authors[me].token}"}
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        base_url = self.base_urls[index % len(self.base_urls)]
        draw = random.Random(index)
        async with httpx.AsyncClient(
            base_url=base_url, timeout=self.timeout, limits=limits, headers=headers
        ) as http:
            count = 0
            while not self._stop.is_set():
                count += 1
                others = [slug for slug, author in self.articles[-200:] if author != me]
                if others and count % 2 == 0:
                    answer = await self._comment(http, draw.choice(others), index, count)
                else:
                    answer = await self._article(http, index, count)
                self.answers.append(answer)
                if answer.status is None or answer.status >= 300:
                    await asyncio.sleep(0.05)

    async def _article(self, http: httpx.AsyncClient, index: int, count: int) -> WriteAnswer:
        article = {
            "title": f"Failover {index}-{count} {random.getrandbits(32):08x}",
            "description": "written during a failover",
            "body": "Every acknowledged write survives the loss of the primary.",
        }
        answer = await self._post(http, "article", "/api/articles", {"article": article})
        if answer.status == 201:
            answer.acknowledged = answer.body["article"]["slug"]
            self.articles.append((answer.acknowledged, index % len(self.authors)))
        return answer

    async def _comment(
        self, http: httpx.AsyncClient, slug: str, index: int, count: int
    ) -> WriteAnswer:
        comment = {"body": f"comment {index}-{count}"}
        path = f"/api/articles/{slug}/comments"
        answer = await self._post(http, "comment", path, {"comment": comment})
        if answer.status in (200, 201):
            answer.acknowledged = str(answer.body["comment"]["id"])
        return answer

    async def _post(
        self, http: httpx.AsyncClient, kind: str, path: str, payload: dict[str, Any]
    ) -> WriteAnswer:
        started = time.monotonic()
        try:
            response = await http.post(path, json=payload)
        except httpx.TransportError as exc:
            return WriteAnswer(kind, started, time.monotonic(), None, error=repr(exc))
        try:
            body = response.json()
        except ValueError:
            body = response.text
        return WriteAnswer(
            kind,
            started,
            time.monotonic(),
            response.status_code,
            response.headers.get("retry-after"),
            body,
        )

    # --- what the answers say ------------------------------------------------------------
    def statuses(self) -> Counter[int | None]:
        return Counter(answer.status for answer in self.answers)

    def successes(self) -> list[WriteAnswer]:
        return [a for a in self.answers if a.status is not None and 200 <= a.status < 300]

    def acknowledged(self, kind: str) -> set[str]:
        return {a.acknowledged for a in self.successes() if a.kind == kind and a.acknowledged}

    async def succeeded(self, count: int, *, after: float = 0.0, within: float = 60.0) -> bool:
        """Wait until ``count`` writes that started after ``after`` (monotonic) succeeded."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if sum(1 for a in self.successes() if a.started >= after) >= count:
                return True
            await asyncio.sleep(0.05)
        return False

    def outage(self, fault_at: float) -> float:
        """The longest time without a successful write from the last one before the fault:
        the largest gap between the completions of consecutive 2xx writes (from the fault
        to the first success when none completed in between)."""
        finished = sorted(a.finished for a in self.successes())
        before = [t for t in finished if t <= fault_at]
        points = [before[-1] if before else fault_at, *[t for t in finished if t > fault_at]]
        return max((b - a for a, b in itertools.pairwise(points)), default=0.0)

    def describe(self, answers: list[WriteAnswer], limit: int = 20) -> str:
        return "\n".join(
            f"{a.kind} {a.started:.3f}-{a.finished:.3f} {a.status} {a.retry_after} "
            f"{a.body if a.status is not None else a.error}"
            for a in answers[:limit]
        )
