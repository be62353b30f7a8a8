"""A ``conduit worker`` whose one consumer is slow and leaves a side effect per event.

Run by the SIGKILL test as ``python -m tests.integration.worker_process``, configured by the
same CONDUIT_* variables as the real worker, plus TEST_CONSUMER (the consumer's name). Each
application inserts a row in ``test_effects`` in the consumer's transaction, so an event
applied twice would show as two rows.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import replace

from sqlalchemy import text

from conduit.bootstrap import build, build_bus
from conduit.core.consumers import Consumer
from conduit.core.db import UnitOfWork
from conduit.core.events import Event
from conduit.entrypoints.worker import serve_worker_until_signalled
from conduit.settings import Settings

DELAY_SECONDS = 0.01
ALL_TYPES = frozenset(
    {
        "user.registered",
        "user.updated",
        "user.followed",
        "user.unfollowed",
        "article.created",
        "article.updated",
        "article.deleted",
        "article.favorited",
        "article.unfavorited",
        "comment.created",
        "comment.deleted",
    }
)


async def record_effect(uow: UnitOfWork, event: Event) -> None:
    await asyncio.sleep(DELAY_SECONDS)
    await uow.conn.execute(
        text("INSERT INTO test_effects (event_id) VALUES (:event_id)"), {"event_id": event.id}
    )


def main() -> None:
    slow = Consumer(name=os.environ["TEST_CONSUMER"], types=ALL_TYPES, handle=record_effect)
    settings = Settings()
    container = build(settings)
    container = replace(container, bus=build_bus(settings, [slow]), consumers=(slow,))
    print("worker ready", flush=True)
    asyncio.run(serve_worker_until_signalled(container))


if __name__ == "__main__":
    main()
