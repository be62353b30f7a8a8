"""Alembic environment: runs migrations over the async engine of the configured URL."""

from __future__ import annotations

import asyncio
from typing import Any

from alembic import context
from sqlalchemy.engine import Connection, make_url

from conduit.articles.search_index import is_unmodelled
from conduit.core.engines import create_engine
from conduit.core.tables import Base
from conduit.migrations.models import load_all_models

load_all_models()
target_metadata = Base.metadata
config = context.config


def include_object(obj: Any, name: str | None, kind: str, reflected: bool, compare_to: Any) -> bool:
    """Comparisons leave out the full-text index of articles, which the models do not hold."""
    return not is_unmodelled(name, kind)


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_object=include_object,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async(url: str) -> None:
    # On PostgreSQL without prepared statements kept on the server: the migrations run each
    # statement once, and so they run through pgbouncer in transaction mode as well as
    # directly (docs/operating/pgbouncer.md).
    postgresql = make_url(url).get_backend_name() == "postgresql"
    engine = create_engine(url, pooler="pgbouncer" if postgresql else "none")
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
            await connection.commit()
    finally:
        await engine.dispose()


def run_migrations_online() -> None:
    url: Any = config.attributes.get("database_url") or config.get_main_option("sqlalchemy.url")
    asyncio.run(_run_async(str(url)))


if context.is_offline_mode():
    raise SystemExit("Conduit runs its migrations online only: conduit db upgrade")
run_migrations_online()
