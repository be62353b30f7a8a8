"""The overload run's client and report (bench/overload_client.py, bench/overload.py).

The overload figures in bench/README.md rest on the client telling admitted answers (2xx)
from shed ones (503 with Retry-After), framing every answer right (a mis-framed body turns
the next answer into garbage), counting timeouts and reopening connections, and on the
percentiles and the target's verdict being computed as documented. These run without
Conduit: the answers are bytes, and the end-to-end check uses a small local server.
"""

from __future__ import annotations

import asyncio
import importlib.util
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, ROOT / "bench" / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # the bench's modules import one another top-level
    spec.loader.exec_module(module)
    return module


for _name in ("common", "servers", "load", "report"):  # what overload.py imports
    if _name not in sys.modules:
        _load(_name)
client = _load("overload_client")
overload = _load("overload")


def _answer(status: int, body: bytes = b"{}", *headers: str) -> bytes:
    lines = [f"HTTP/1.1 {status} X", f"Content-Length: {len(body)}", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


# --------------------------------------------------------------------------- framing


def test_answers_split_anywhere_are_framed_by_content_length() -> None:
    stream = _answer(200, b'{"article": {}}') + _answer(503, b"{}", "Retry-After: 1")
    stream += _answer(404, b"")
    parser = client.ResponseParser()
    answers = []
    for n in range(len(stream)):  # one byte at a time: every split point
        answers += parser.feed(stream[n : n + 1])
    assert answers == [
        client.Answer(200, False, False),
        client.Answer(503, True, False),
        client.Answer(404, False, False),
    ]


def test_answers_in_one_read_are_all_returned() -> None:
    parser = client.ResponseParser()
    body = b"x" * 3000
    assert [a.status for a in parser.feed(_answer(200, body) * 3)] == [200, 200, 200]


def test_chunked_bodies_with_extensions_and_trailers() -> None:
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    body = b"5;name=x\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n"
    parser = client.ResponseParser()
    assert parser.feed(head + body[:10]) == []
    assert parser.feed(body[10:] + _answer(201)) == [
        client.Answer(200, False, False),
        client.Answer(201, False, False),
    ]


def test_connection_close_and_http_1_0_ask_for_a_new_connection() -> None:
    parser = client.ResponseParser()
    closing = _answer(200, b"{}", "Connection: close")
    assert parser.feed(closing) == [client.Answer(200, False, True)]
    old = b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n{}"
    assert parser.feed(old) == [client.Answer(200, False, True)]
    kept = b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\n{}"
    assert parser.feed(kept) == [client.Answer(200, False, False)]


def test_a_body_without_length_ends_with_the_connection() -> None:
    parser = client.ResponseParser()
    assert parser.feed(b"HTTP/1.1 200 OK\r\n\r\nsome body") == []
    assert parser.feed(b" and more") == []
    assert parser.eof() == client.Answer(200, False, True)
    assert parser.eof() is None


def test_no_body_answers_and_interim_answers() -> None:
    parser = client.ResponseParser()
    stream = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n" + _answer(200)
    assert [a.status for a in parser.feed(stream)] == [204, 200]


def test_garbage_is_a_protocol_error() -> None:
    with pytest.raises(client.ProtocolError):
        client.ResponseParser().feed(b"SSH-2.0-OpenSSH\r\n\r\n")


# --------------------------------------------------------------------------- figures


def test_percentiles_are_nearest_rank() -> None:
    values = [float(n) for n in range(1, 101)]
    assert client.percentile(values, 0.50) == 50.0
    assert client.percentile(values, 0.99) == 99.0
    assert client.percentile(values, 1.0) == 100.0
    assert client.percentile([7.0], 0.99) == 7.0
    assert client.percentile([1.0, 2.0, 3.0, 1000.0], 0.99) == 1000.0
    assert client.percentile([], 0.5) == 0.0


def _result(connections: int, admitted: list[float], timeouts: int = 0) -> Any:
    sample = client.Sample(
        seconds=10.0,
        admitted_ms=admitted,
        shed_ms=[1.0] * 30,
        statuses={200: len(admitted), 503: 30 + 2, 500: 1},  # 2 503s without Retry-After
        timeouts=timeouts,
    )
    return overload.OverloadResult.of(sample, connections)


def test_a_result_counts_admitted_shed_and_other_apart() -> None:
    result = _result(64, [float(n) for n in range(1, 101)])
    assert (result.admitted, result.shed, result.other) == (100, 30, 3)
    assert result.admitted_rps == 10.0
    assert result.shed_rps == 3.0
    assert (result.admitted_p50_ms, result.admitted_p99_ms, result.admitted_max_ms) == (
        50.0,
        99.0,
        100.0,
    )
    data = result.as_json()
    assert data["admitted_rps"] == 10.0
    assert data["statuses"] == {"200": 100, "500": 1, "503": 32}


def test_samples_of_workers_add_up() -> None:
    one = client.Sample(seconds=5.0, admitted_ms=[1.0], statuses={200: 1}, timeouts=1)
    two = client.Sample(seconds=5.0, admitted_ms=[2.0], statuses={200: 1, 503: 1}, errors=2)
    merged = client.Sample.merged([one, two])
    assert merged.admitted_ms == [1.0, 2.0]
    assert merged.statuses == {200: 2, 503: 1}
    assert (merged.timeouts, merged.errors, merged.workers) == (1, 2, 2)


def test_the_target_holds_only_within_3x_and_without_timeouts() -> None:
    calm = _result(64, [10.0] * 100)
    within = {64: calm, 512: _result(512, [10.0] * 98 + [29.0, 30.0])}
    assert overload.tail_ratio(within) == pytest.approx(2.9)
    assert overload.verdict(within) == "holds"
    queued = {64: calm, 512: _result(512, [10.0] * 98 + [40.0, 40.0])}
    assert overload.verdict(queued).startswith("missed (ratio over 3")
    timing_out = {64: calm, 512: _result(512, [10.0] * 100, timeouts=5)}
    assert overload.verdict(timing_out) == "missed (5 timeouts)"
    table = overload.table({"article": queued})
    assert "GET /api/articles/:slug" in table
    assert "4.0 missed" in table
    assert overload.as_json({"article": within})["article"]["verdict"] == "holds"


# --------------------------------------------------------------------------- end to end


class _Server(asyncio.Protocol):
    """/ok: 200; /shed: 503 + Retry-After every other request; /close: 200 and close;
    /other: 503 without Retry-After; /hang: no answer."""

    count = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while b"\r\n\r\n" in self.buffer:
            head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
            path = head.split(b" ")[1]
            _Server.count += 1
            if path == b"/hang":
                continue
            if path == b"/shed" and _Server.count % 2:
                answer = _answer(503, b"{}", "Retry-After: 1")
            elif path == b"/other":
                answer = _answer(503)
            elif path == b"/close":
                answer = _answer(200, b"{}", "Connection: close")
            else:
                answer = _answer(200, b'{"ok": true}')
            self.transport.write(answer)  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def server_port() -> Iterator[int]:
    loop = asyncio.new_event_loop()
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))  # bound here: no window for another process
    port = int(listener.getsockname()[1])
    started = threading.Event()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        server = loop.run_until_complete(loop.create_server(_Server, sock=listener))
        started.set()
        loop.run_forever()
        server.close()
        loop.run_until_complete(server.wait_closed())

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    started.wait(5)
    yield port
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)


def _drive(port: int, path: str, *, timeout: float = 1.0, shed_pause: float = 0.0) -> Any:
    target = client.Target.of(f"http://127.0.0.1:{port}", path, shed_pause=shed_pause)
    start_wall = time.time()
    return client.drive(target, 4, start_wall, 0.1, 0.5, timeout)


def test_the_client_tells_admitted_from_shed(server_port: int) -> None:
    sample = _drive(server_port, "/shed")
    assert len(sample.admitted_ms) > 20
    assert len(sample.shed_ms) > 20
    assert abs(len(sample.admitted_ms) - len(sample.shed_ms)) <= 8
    assert (sample.timeouts, sample.errors) == (0, 0)
    assert set(sample.statuses) == {200, 503}


def test_a_client_that_pauses_after_a_shed_answer_asks_less(server_port: int) -> None:
    sample = _drive(server_port, "/shed", shed_pause=0.2)
    # 4 connections, each pausing 0.2 s after every shed answer (every other answer):
    # a few shed answers per connection in the 0.5 s window, not hundreds.
    assert 0 < len(sample.shed_ms) <= 16
    assert (sample.timeouts, sample.errors) == (0, 0)


def test_connection_close_answers_are_followed_on_new_connections(server_port: int) -> None:
    sample = _drive(server_port, "/close")
    assert len(sample.admitted_ms) > 20  # one request per connection, all answered
    assert (sample.timeouts, sample.errors) == (0, 0)


def test_a_503_without_retry_after_is_not_shed(server_port: int) -> None:
    sample = _drive(server_port, "/other")
    result = overload.OverloadResult.of(sample, 4)
    assert result.shed == 0
    assert result.other > 20


def test_unanswered_requests_time_out_and_the_connection_is_reopened(server_port: int) -> None:
    sample = _drive(server_port, "/hang", timeout=0.1)
    # 4 connections, a request each per 0.1 s over the 0.5 s window: about 20 timeouts,
    # possible only if each timed-out connection is replaced by a new one.
    assert sample.timeouts >= 12
    assert sample.admitted_ms == []
    assert sample.errors == 0


def test_failures_name_the_endpoints_that_miss_the_target() -> None:
    calm = _result(64, [10.0] * 100)
    results = {
        "list": {64: calm, 512: _result(512, [10.0] * 100)},
        "article": {64: calm, 512: _result(512, [10.0] * 100, timeouts=3)},
    }
    assert overload.failures(results) == ["overload article: missed (3 timeouts)"]


def test_a_length_that_is_not_a_number_is_an_error_not_a_crash() -> None:
    with pytest.raises(ValueError, match="invalid literal"):
        client.ResponseParser().feed(b"HTTP/1.1 200 OK\r\nContent-Length: lots\r\n\r\n")
