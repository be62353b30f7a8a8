"""The closed-loop HTTP/1.1 load generator of the overload run (bench/overload.py).

wrk reports one latency distribution for every answer; an overload run needs the admitted
requests (2xx) apart from the shed ones (503 with Retry-After), so this client records the
status and the latency of each request. It is plain asyncio on uvloop with one Protocol per
connection (no HTTP library: the per-request cost has to stay far below the server's):

- N keep-alive connections, each sending its next request as soon as the previous answer is
  complete (closed loop, like wrk); the answers' bodies are framed by Content-Length or
  chunked encoding, or read to the end of a ``Connection: close`` answer;
- a request unanswered after ``timeout`` seconds counts as a timeout and its connection is
  closed and reopened; a connection that fails or is closed under a request counts as an
  error and is reopened; ``Connection: close`` answers reopen the connection;
- a warm-up, then the measured window: a request counts when it was *sent* inside the
  window, and the window's last requests are waited for (at most ``timeout``);
- the load runs in ``workers`` processes (spawned, each pinned to the given cores, each with
  its share of the connections), whose samples are merged.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import multiprocessing
import os
import time
import urllib.parse
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import NamedTuple, cast

import uvloop


class Answer(NamedTuple):
    status: int
    retry_after: bool  # the answer had a Retry-After header
    close: bool  # the server closes the connection after this answer


class ProtocolError(ValueError):
    """The bytes received are not an HTTP/1.1 answer."""


_HEAD, _LENGTH, _CHUNK_SIZE, _CHUNK_DATA, _TRAILER, _UNTIL_CLOSE = range(6)


class ResponseParser:
    """Incremental HTTP/1.1 response framing: bytes in, complete answers out.

    Only what a load generator needs: the status, Retry-After, whether the connection
    closes, and where each answer ends (Content-Length, chunked, or the end of the
    connection). Interim 1xx answers are skipped.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._state = _HEAD
        self._remaining = 0
        self._answer = Answer(0, False, False)

    def feed(self, data: bytes) -> list[Answer]:
        self._buffer += data
        done: list[Answer] = []
        while True:
            if self._state == _HEAD:
                end = self._buffer.find(b"\r\n\r\n")
                if end < 0:
                    if len(self._buffer) > 65536:
                        raise ProtocolError("answer head over 64 KiB")
                    return done
                head = bytes(self._buffer[:end])
                del self._buffer[: end + 4]
                if self._start(head):
                    done.append(self._answer)
            elif self._state == _LENGTH:
                if len(self._buffer) < self._remaining:
                    return done
                del self._buffer[: self._remaining]
                self._state = _HEAD
                done.append(self._answer)
            elif self._state == _CHUNK_SIZE:
                end = self._buffer.find(b"\r\n")
                if end < 0:
                    return done
                size_text = bytes(self._buffer[:end]).split(b";", 1)[0].strip()
                del self._buffer[: end + 2]
                try:
                    size = int(size_text, 16)
                except ValueError:
                    raise ProtocolError(f"bad chunk size {size_text!r}") from None
                if size == 0:
                    self._state = _TRAILER
                else:
                    self._remaining, self._state = size + 2, _CHUNK_DATA  # data + CRLF
            elif self._state == _CHUNK_DATA:
                if len(self._buffer) < self._remaining:
                    return done
                del self._buffer[: self._remaining]
                self._state = _CHUNK_SIZE
            elif self._state == _TRAILER:
                end = self._buffer.find(b"\r\n")
                if end < 0:
                    return done
                del self._buffer[: end + 2]
                if end == 0:  # the empty line after the trailer fields
                    self._state = _HEAD
                    done.append(self._answer)
            else:  # _UNTIL_CLOSE: the body is whatever comes until the end
                self._buffer.clear()
                return done

    def eof(self) -> Answer | None:
        """The answer the end of the connection completes, if one was being read to it."""
        if self._state == _UNTIL_CLOSE:
            self._state = _HEAD
            return self._answer
        return None

    def _start(self, head: bytes) -> bool:
        """Read a head; True when the answer is already complete (no body)."""
        lines = head.split(b"\r\n")
        status_line = lines[0]
        if not status_line.startswith(b"HTTP/1.") or len(status_line) < 12:
            raise ProtocolError(f"bad status line {status_line[:40]!r}")
        try:
            status = int(status_line[9:12])
        except ValueError:
            raise ProtocolError(f"bad status line {status_line[:40]!r}") from None
        close = status_line.startswith(b"HTTP/1.0")
        length = -1
        chunked = retry_after = False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
            elif name == b"connection":
                value = value.strip().lower()
                close = value == b"close" or (close and value != b"keep-alive")
            elif name == b"retry-after":
                retry_after = True
        if 100 <= status < 200:
            return False  # an interim answer: the real one follows
        self._answer = Answer(status, retry_after, close)
        if status in (204, 304) or length == 0:
            return True
        if chunked:
            self._state = _CHUNK_SIZE
        elif length > 0:
            self._state, self._remaining = _LENGTH, length
        else:
            self._state = _UNTIL_CLOSE
            self._answer = Answer(status, retry_after, True)
        return False


def percentile(ordered: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of sorted values (0 for none): the smallest value with at
    least ``fraction`` of the values at or below it."""
    if not ordered:
        return 0.0
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


@dataclass(slots=True)
class Sample:
    """What the measured window saw; latencies in ms. Samples of workers add up."""

    seconds: float
    admitted_ms: list[float] = field(default_factory=list)  # 2xx
    shed_ms: list[float] = field(default_factory=list)  # 503 with Retry-After
    statuses: dict[int, int] = field(default_factory=dict)
    timeouts: int = 0
    errors: int = 0
    cpu_seconds: float = 0.0  # the client's own CPU time during the window
    workers: int = 1

    @classmethod
    def merged(cls, parts: Iterable[Sample]) -> Sample:
        parts = list(parts)
        total = cls(seconds=max(p.seconds for p in parts), workers=len(parts))
        for part in parts:
            total.admitted_ms += part.admitted_ms
            total.shed_ms += part.shed_ms
            for status, count in part.statuses.items():
                total.statuses[status] = total.statuses.get(status, 0) + count
            total.timeouts += part.timeouts
            total.errors += part.errors
            total.cpu_seconds += part.cpu_seconds
        return total


@dataclass(frozen=True, slots=True)
class Target:
    """What every connection asks for, and how long it waits after a shed answer before
    asking again (0: at once, the closed loop's harshest load; a client that honours
    Retry-After waits)."""

    host: str
    port: int
    request: bytes
    shed_pause: float = 0.0

    @classmethod
    def of(cls, url: str, path: str, token: str = "", shed_pause: float = 0.0) -> Target:
        parts = urllib.parse.urlsplit(url)
        host, port = parts.hostname or "127.0.0.1", parts.port or 80
        auth = f"Authorization: Token {token}\r\n" if token else ""
        request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: application/json\r\n{auth}\r\n"
        ).encode()
        return cls(host, port, request, shed_pause)


class _Connection(asyncio.Protocol):
    __slots__ = ("client", "parser", "sent_at", "timer", "transport", "waiting")

    def __init__(self, client: _Client) -> None:
        self.client = client
        self.parser = ResponseParser()
        self.transport: asyncio.Transport | None = None
        self.sent_at = 0.0
        self.waiting = False
        self.timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses
        self.client.send(self)

    def data_received(self, data: bytes) -> None:
        try:
            answers = self.parser.feed(data)
        except ValueError:  # ProtocolError, or a Content-Length that is not a number
            self.client.failed(self)
            return
        for answer in answers:
            self.client.answered(self, answer)

    def eof_received(self) -> bool | None:
        answer = self.parser.eof()
        if answer is not None:
            self.client.answered(self, answer)
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.client.lost(self)


class _Client:
    """One process's connections; callbacks only, so a request costs a few calls."""

    def __init__(self, target: Target, start: float, end: float, timeout: float) -> None:
        self.loop = asyncio.get_running_loop()
        self.target, self.start, self.end, self.timeout = target, start, end, timeout
        self.sample = Sample(seconds=end - start)
        self.open = 0
        self.finished = self.loop.create_future()

    def connect(self) -> None:
        self.open += 1
        self.loop.create_task(self._connect())

    async def _connect(self) -> None:
        began = time.perf_counter()
        try:
            await asyncio.wait_for(
                self.loop.create_connection(
                    lambda: _Connection(self), self.target.host, self.target.port
                ),
                self.timeout,
            )
        except TimeoutError:
            self._count(began, timeout=True)
            self._closed()
        except OSError:
            self._count(began, timeout=False)
            await asyncio.sleep(0.01)  # refused: do not spin
            self._closed()

    def send(self, conn: _Connection) -> None:
        assert conn.transport is not None
        if conn.transport.is_closing():  # closed during a pause after a shed answer
            return
        now = time.perf_counter()
        if now >= self.end:
            conn.transport.close()
            return
        conn.sent_at, conn.waiting = now, True
        conn.timer = self.loop.call_later(self.timeout, self.expire, conn)
        conn.transport.write(self.target.request)

    def answered(self, conn: _Connection, answer: Answer) -> None:
        if not conn.waiting:
            return
        now = time.perf_counter()
        conn.waiting = False
        if conn.timer is not None:
            conn.timer.cancel()
        shed = answer.status == 503 and answer.retry_after
        if self.start <= conn.sent_at < self.end:
            statuses = self.sample.statuses
            statuses[answer.status] = statuses.get(answer.status, 0) + 1
            if 200 <= answer.status < 300:
                self.sample.admitted_ms.append((now - conn.sent_at) * 1000)
            elif shed:
                self.sample.shed_ms.append((now - conn.sent_at) * 1000)
        if answer.close:
            assert conn.transport is not None
            conn.transport.close()  # connection_lost reopens it
        elif shed and self.target.shed_pause > 0:
            self.loop.call_later(self.target.shed_pause, self.send, conn)
        else:
            self.send(conn)

    def expire(self, conn: _Connection) -> None:
        if conn.waiting:
            conn.waiting = False
            self._count(conn.sent_at, timeout=True)
            assert conn.transport is not None
            conn.transport.abort()

    def failed(self, conn: _Connection) -> None:
        assert conn.transport is not None
        conn.transport.abort()  # connection_lost counts the request in flight

    def lost(self, conn: _Connection) -> None:
        if conn.timer is not None:
            conn.timer.cancel()
        if conn.waiting:
            conn.waiting = False
            self._count(conn.sent_at, timeout=False)
        self._closed()

    def _count(self, began: float, *, timeout: bool) -> None:
        if self.start <= began < self.end:
            if timeout:
                self.sample.timeouts += 1
            else:
                self.sample.errors += 1

    def _closed(self) -> None:
        self.open -= 1
        if time.perf_counter() < self.end:
            self.connect()
        elif self.open == 0 and not self.finished.done():
            self.finished.set_result(None)


async def _drive(
    target: Target, connections: int, start: float, end: float, request_timeout: float
) -> Sample:
    client = _Client(target, start, end, request_timeout)
    cpu_at_start: list[float] = []
    loop = asyncio.get_running_loop()
    loop.call_at(loop.time() + max(0.0, start - time.perf_counter()), _mark, cpu_at_start)
    for _ in range(connections):
        client.connect()
    await asyncio.sleep(max(0.0, end - time.perf_counter()))
    cpu_at_end = time.process_time()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(client.finished, request_timeout + 1)
    client.sample.cpu_seconds = cpu_at_end - (cpu_at_start[0] if cpu_at_start else 0.0)
    return client.sample


def _mark(into: list[float]) -> None:
    into.append(time.process_time())


def drive(
    target: Target,
    connections: int,
    start_wall: float,
    warmup: float,
    seconds: float,
    timeout: float,
    cpus: Sequence[int] = (),
) -> Sample:
    """One process's load: from ``start_wall`` (time.time()), ``warmup`` then ``seconds``."""
    if cpus:
        os.sched_setaffinity(0, set(cpus))
    now = time.perf_counter()
    start = now + max(0.0, start_wall - time.time()) + warmup
    return uvloop.run(_drive(target, connections, start, start + seconds, timeout))


def generate(
    target: Target,
    connections: int,
    *,
    seconds: float,
    warmup: float,
    timeout: float = 2.0,
    workers: int = 1,
    cpus: Sequence[int] = (),
) -> Sample:
    """The load in ``workers`` spawned processes sharing ``connections``, merged."""
    workers = max(1, min(workers, connections))
    shares = [connections // workers + (n < connections % workers) for n in range(workers)]
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        start_wall = time.time() + 1.0  # every worker is up by then; a late one warms less
        futures = [
            pool.submit(drive, target, share, start_wall, warmup, seconds, timeout, tuple(cpus))
            for share in shares
        ]
        return Sample.merged(future.result() for future in futures)
