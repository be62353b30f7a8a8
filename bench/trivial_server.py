"""A trivial HTTP/1.1 server: the overload client's ceiling is measured against it.

``python bench/trivial_server.py PORT [BODY_BYTES]`` answers every GET with the same
200 and a JSON body of BODY_BYTES (1500) until it is stopped. It costs far less per request
than any real endpoint, so a run against it shows what the client itself can drive
(``python bench/overload.py --ceiling`` starts it).
"""

from __future__ import annotations

import asyncio
import sys
from typing import cast

import uvloop


class _Trivial(asyncio.Protocol):
    """An HTTP/1.1 server that answers every request with the same bytes: the client's
    ceiling is measured against it (it costs the server almost nothing)."""

    def __init__(self, answer: bytes) -> None:
        self.answer = answer
        self.transport: asyncio.Transport | None = None
        self.pending = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        data = self.pending + data
        count = data.count(b"\r\n\r\n")  # GET requests: a head, no body
        self.pending = data[data.rfind(b"\r\n\r\n") + 4 :] if count else data
        if count:
            self.transport.write(self.answer * count)


async def _serve_trivial(port: int, body_bytes: int) -> None:
    body = b"{" + b'"x":"' + b"a" * max(0, body_bytes - 8) + b'"}' + b"\n"
    answer = (
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
        + f"content-length: {len(body)}\r\n\r\n".encode()
        + body
    )
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _Trivial(answer), "127.0.0.1", port, backlog=4096)
    async with server:
        await server.serve_forever()


def serve_trivial(port: int, body_bytes: int = 1500) -> None:
    """Serve the trivial answer (a JSON body of ``body_bytes``) on ``port`` until killed."""
    uvloop.run(_serve_trivial(port, body_bytes))


if __name__ == "__main__":
    serve_trivial(int(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 1500)
