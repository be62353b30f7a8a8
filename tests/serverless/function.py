"""A Lambda function of Conduit, as the runtime runs it: the handler built from the
environment, invoked with recorded events (tests/serverless/events/), all in one thread of
its own with the event loop Mangum makes there (the test's own loop stays out of it)."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace
from typing import Any, TypeVar

from mangum import Mangum

from conduit.core.db import Database
from conduit.core.tables import Base
from conduit.entrypoints import serverless

EVENTS = Path(__file__).with_name("events")
CONTEXT = SimpleNamespace(
    function_name="conduit-api",
    function_version="$LATEST",
    invoked_function_arn="arn:aws:lambda:eu-west-1:123456789012:function:conduit-api",
    memory_limit_in_mb=512,
    aws_request_id="6f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
    log_group_name="/aws/lambda/conduit-api",
    log_stream_name="2026/12/07/[$LATEST]0123456789abcdef",
)
T = TypeVar("T")


def recorded(name: str, **values: str) -> dict[str, Any]:
    """The recorded event ``<name>.json``, ``{token}`` and the like filled in."""
    text = (EVENTS / f"{name}.json").read_text(encoding="utf-8")
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    event: dict[str, Any] = json.loads(text)
    return event


def body_of(answer: dict[str, Any]) -> Any:
    body = answer.get("body") or ""
    if answer.get("isBase64Encoded"):
        body = base64.b64decode(body).decode()
    return json.loads(body) if body else None


class Function:
    """One execution environment: its handler, built on first use of ``handler`` as the
    runtime does, and invoked in the environment's one thread."""

    def __init__(self, build: Callable[[], Mangum] = serverless.build_handler) -> None:
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="lambda")
        self.handler = self.run(build)

    def run(self, work: Callable[[], T]) -> T:
        return self._thread.submit(work).result(timeout=60)

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        return self.run(lambda: self.handler(event, CONTEXT))

    def relay(self) -> dict[str, int]:
        scheduled = recorded("eventbridge-schedule")
        return self.run(lambda: serverless.relay(scheduled, CONTEXT))

    @property
    def db(self) -> Database:
        database: Database = self.handler.app.app.state.db
        return database

    def query(self, statement: Any) -> Any:
        """One value from the function's database, on the function's loop."""

        async def scalar() -> Any:
            async with self.db.engine.connect() as conn:
                return (await conn.execute(statement)).scalar_one()

        return self.run(lambda: serverless.event_loop().run_until_complete(scalar()))

    def pending_tasks(self) -> set[str]:
        """Tasks left on the function's event loop between invocations."""

        def names() -> set[str]:
            loop = serverless.event_loop()
            return {task.get_name() for task in asyncio.all_tasks(loop) if not task.done()}

        return self.run(names)

    def close(self, *, empty: bool = False) -> None:
        async def finish() -> None:
            if empty:
                async with self.db.engine.begin() as conn:
                    for table in reversed(Base.metadata.sorted_tables):
                        await conn.execute(table.delete())
            await self.db.dispose()

        try:
            self.run(lambda: serverless.event_loop().run_until_complete(finish()))
            self.run(lambda: serverless.event_loop().close())
        finally:
            self._thread.shutdown()
