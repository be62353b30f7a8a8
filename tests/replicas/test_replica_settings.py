"""CONDUIT_DATABASE_REPLICA_URLS: how it is written, and what Conduit refuses at start."""

from __future__ import annotations

import pytest

from conduit.bootstrap import ConfigurationError, build
from conduit.settings import Settings
from tests.conftest import TEST_SECRET

PRIMARY = "postgresql+asyncpg://conduit@db1:5432/conduit"


def settings(**values: object) -> Settings:
    return Settings(secret_key=TEST_SECRET, **values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("written", "read"),
    [
        ("", []),
        ("postgresql+asyncpg://r1/conduit", ["postgresql+asyncpg://r1/conduit"]),
        (
            "postgresql+asyncpg://r1/conduit, postgresql+asyncpg://r2/conduit",
            ["postgresql+asyncpg://r1/conduit", "postgresql+asyncpg://r2/conduit"],
        ),
        ('["postgresql+asyncpg://r1,r2/conduit"]', ["postgresql+asyncpg://r1,r2/conduit"]),
    ],
)
def test_replica_urls_are_a_json_list_or_separated_by_commas(
    monkeypatch: pytest.MonkeyPatch, written: str, read: list[str]
) -> None:
    monkeypatch.setenv("CONDUIT_DATABASE_REPLICA_URLS", written)
    assert Settings().database_replica_urls == read


@pytest.mark.parametrize(
    ("primary", "replica", "message"),
    [
        (None, "postgresql+asyncpg://r1/conduit", "need PostgreSQL as CONDUIT_DATABASE_URL"),
        (
            "mysql+asyncmy://conduit@db1/conduit",
            "mysql+asyncmy://conduit@db2/conduit",
            "need PostgreSQL as CONDUIT_DATABASE_URL",
        ),
        (PRIMARY, "mysql+asyncmy://conduit@db2/conduit", "must use the driver"),
        (PRIMARY, "not a url", "is not a database URL"),
    ],
)
def test_replicas_conduit_cannot_use_are_refused_at_start(
    primary: str | None, replica: str, message: str
) -> None:
    chosen = settings(database_url=primary, database_replica_urls=[replica])
    with pytest.raises(ConfigurationError, match=message):
        build(chosen)


async def test_postgresql_replicas_are_built_beside_the_primary_without_connecting() -> None:
    container = build(
        settings(
            database_url=PRIMARY,
            database_replica_urls=[
                "postgresql+asyncpg://conduit@db2:5432/conduit",
                "postgresql+asyncpg://conduit@db3/conduit",
            ],
            database_replica_pool_size=7,
        )
    )
    replicas = container.db.replicas
    assert replicas is not None
    assert [replica.name for replica in replicas.replicas] == [
        "db2:5432/conduit",
        "db3:5432/conduit",
    ]
    assert all(replica.engine.pool.size() == 7 for replica in replicas.replicas)  # type: ignore[attr-defined]
    await container.db.dispose()


def test_without_replicas_there_is_no_replica_set() -> None:
    assert build(settings(database_url=PRIMARY)).db.replicas is None
