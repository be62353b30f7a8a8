"""``conduit worker``: the outbox relay plus one consume loop per consumer, until signalled.

The container starts and stops what the worker runs (``Role.WORKER`` in
``bootstrap/lifecycle.py``: the live publisher, the relay, upload pruning and every consumer
of bootstrap's ``CONSUMERS``), exactly as the app's lifespan does for ``conduit serve``. On
SIGTERM or SIGINT it stops gracefully: the tasks are cancelled, so a consumer's unfinished
transaction rolls back and its message is delivered again later (consumers are idempotent).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal

from conduit.bootstrap import Container, Role

SIGNALS = (signal.SIGTERM, signal.SIGINT)


async def serve_worker_until_signalled(container: Container) -> None:
    """Run until SIGTERM or SIGINT, then stop gracefully; a part that fails on its own (a
    consumer's or the relay's error) stops the worker too, and its error is raised."""
    loop = asyncio.get_running_loop()
    async with container.running(Role.WORKER):
        waiting = asyncio.create_task(container.lifecycle.wait(), name="worker-wait")
        for signum in SIGNALS:
            loop.add_signal_handler(signum, waiting.cancel)
        try:
            with contextlib.suppress(asyncio.CancelledError):
                await waiting
        finally:
            for signum in SIGNALS:
                loop.remove_signal_handler(signum)
