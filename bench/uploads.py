"""Image upload benchmark: a 12-megapixel JPEG through POST /api/uploads, in process.

Measures, in one run on a temporary SQLite file and local storage:

- the upload's latency (median of N, the app over ASGI, no network);
- the longest event-loop pause while uploads run: a ticker that sleeps 1 ms records the
  biggest gap between its wake-ups. Decoding runs in a worker thread, so the pause stays
  near the ticker's period; for comparison the same image processed on the loop itself
  (``images.process`` called directly) shows what the thread saves;
- the SQL statements one upload runs.

Run: .venv/bin/python bench/uploads.py [--runs 5]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
from PIL import Image
from sqlalchemy import event

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from conduit import migrations
from conduit.bootstrap import Container
from conduit.core.db import Database
from conduit.core.engines import create_engine
from conduit.core.logging import configure_logging
from conduit.core.security import TokenCodec
from conduit.entrypoints.api import create_app
from conduit.settings import Settings
from conduit.uploads import images

SECRET = "bench-secret-key-0123456789-abcdefghijklmnop"


def photo_12mp() -> bytes:
    """A 4000 x 3000 JPEG with texture (gradients and blurred noise), under 5 MiB."""
    width, height = 4000, 3000
    noise = Image.frombytes("L", (width // 16, height // 16), os.urandom(width * height // 256))
    base = Image.merge(
        "RGB",
        (
            Image.linear_gradient("L").resize((width, height)),
            noise.resize((width, height)),
            Image.linear_gradient("L").rotate(90).resize((width, height)),
        ),
    )
    out = io.BytesIO()
    base.save(out, "JPEG", quality=85)
    return out.getvalue()


class Ticker:
    """Records the longest gap between wake-ups of a task sleeping ``period`` seconds."""

    def __init__(self, period: float = 0.001) -> None:
        self.period = period
        self.longest = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        last = time.perf_counter()
        while True:
            await asyncio.sleep(self.period)
            now = time.perf_counter()
            self.longest = max(self.longest, now - last)
            last = now

    def __enter__(self) -> Ticker:
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *_: object) -> None:
        assert self._task is not None
        self._task.cancel()


async def main(runs: int) -> None:
    configure_logging(level="WARNING", json=True)
    data = photo_12mp()
    print(f"image: 4000x3000 JPEG, {len(data) / 1_048_576:.2f} MiB")
    folder = Path(tempfile.mkdtemp(prefix="conduit-bench-uploads-"))
    url = f"sqlite+aiosqlite:///{folder / 'bench.db'}"
    await asyncio.to_thread(migrations.upgrade, url)
    settings = Settings(
        environment="test",
        database_url=url,
        secret_key=SECRET,
        data_dir=folder,
        log_level="WARNING",
        log_json=True,
        rate_limits_enabled=False,
    )
    db = Database(create_engine(url))
    statements = 0

    def count(*_: object) -> None:
        nonlocal statements
        statements += 1

    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    container = Container(settings=settings, db=db, tokens=TokenCodec(SECRET, ttl_seconds=3600))
    app = create_app(container=container)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench/api") as client:
        reply = await client.post(
            "/users",
            json={"user": {"username": "bench", "email": "b@b.test", "password": "password123"}},
        )
        headers = {"Authorization": f"Token {reply.json()['user']['token']}"}
        files = {"image": ("p.jpg", data, "image/jpeg")}
        await client.post("/uploads", files=files, headers=headers)  # warm-up
        latencies, pauses = [], []
        for _ in range(runs):
            statements = 0
            with Ticker() as ticker:
                started = time.perf_counter()
                reply = await client.post("/uploads", files=files, headers=headers)
                latencies.append(time.perf_counter() - started)
            assert reply.status_code == 201, reply.text
            pauses.append(ticker.longest)
        per_upload = statements

    with Ticker() as on_loop:
        await asyncio.sleep(0.01)  # the ticker is running
        started = time.perf_counter()
        images.process(data)  # on the loop: what the worker thread avoids
        inline = time.perf_counter() - started
        await asyncio.sleep(0.01)
    await db.dispose()

    print(f"upload latency: median {statistics.median(latencies) * 1000:.0f} ms over {runs}")
    print(f"longest event-loop pause during an upload: {max(pauses) * 1000:.1f} ms")
    print(
        f"processing on the loop instead: {inline * 1000:.0f} ms, "
        f"pause {on_loop.longest * 1000:.0f} ms "
        f"({on_loop.longest / max(pauses):.1f}x the threaded pause)"
    )
    print(f"SQL statements per upload: {per_upload}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    asyncio.run(main(parser.parse_args().runs))
