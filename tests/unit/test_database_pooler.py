"""CONDUIT_DATABASE_POOLER: the settings it refuses, with the fix named. (What it does to
the engine is shown through a real pgbouncer: tests/integration/test_pgbouncer.py.)"""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from conduit.core.engines import create_engine
from conduit.settings import Settings

PGBOUNCER_URL = "postgresql+asyncpg://conduit@pgbouncer.internal:6432/conduit"


@pytest.mark.parametrize(
    "url", [None, "sqlite+aiosqlite:///data/conduit.db", "mysql+asyncmy://root@db/conduit"]
)
def test_a_pooler_without_a_postgresql_url_is_refused_naming_the_fix(url: str | None) -> None:
    with pytest.raises(ValidationError, match="CONDUIT_DATABASE_POOLER=pgbouncer needs a"):
        Settings(database_url=url, database_pooler="pgbouncer")
    with pytest.raises(ValueError, match="in front of PostgreSQL only"):
        create_engine(url or "sqlite+aiosqlite://", pooler="pgbouncer")


def test_an_unknown_pooler_is_refused() -> None:
    with pytest.raises(ValidationError, match="database_pooler"):
        Settings(database_url=PGBOUNCER_URL, database_pooler="pgcat")  # type: ignore[arg-type]


def test_postgresql_through_pgbouncer_is_accepted() -> None:
    assert Settings(database_url=PGBOUNCER_URL, database_pooler="pgbouncer").database_pooler == (
        "pgbouncer"
    )
