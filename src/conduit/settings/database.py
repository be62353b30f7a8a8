"""Where the data lives: the database URL, the pools, SQLite's readers and migrations."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, model_validator

DEFAULT_DATA_DIR = Path("data")


class DatabaseSettings(BaseModel):
    """The database: CONDUIT_DATABASE_URL and how Conduit holds its connections."""

    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy async URL. Unset: SQLite file <data_dir>/conduit.db, "
        "migrated at start.",
    )
    database_pooler: Literal["none", "pgbouncer"] = Field(
        default="none",
        description="pgbouncer: CONDUIT_DATABASE_URL is a pgbouncer in transaction pooling "
        "mode (or another transaction pooler) in front of PostgreSQL; Conduit keeps no "
        "prepared statement on the server connections (docs/operating/pgbouncer.md).",
    )
    data_dir: Path = Field(
        default=DEFAULT_DATA_DIR,
        description="Folder for the embedded database and the generated secret key.",
    )
    # Every connection is kept: overflow connections are closed on return and opened again
    # under the next burst (150-190 new PostgreSQL sessions per 10 s at 64 concurrent
    # requests, each a backend start), so the whole budget is the pool (bench/README.md).
    db_pool_size: int = Field(default=40, ge=1, le=200)
    db_pool_max_overflow: int = Field(default=0, ge=0, le=200)
    db_pool_timeout_seconds: float = Field(default=10.0, gt=0)
    db_echo: bool = False
    sqlite_readers: int = Field(
        default=4,
        ge=0,
        le=64,
        description="SQLite: read-only connections that serve reads in parallel (0: reads "
        "share the single writer connection).",
    )
    auto_migrate: bool | None = Field(
        default=None,
        description="Run migrations when the server starts. Default: on for SQLite, off otherwise.",
    )

    @model_validator(mode="after")
    def _pooler_needs_postgresql(self) -> DatabaseSettings:
        if self.database_pooler != "none" and not self.effective_database_url.startswith(
            "postgresql"
        ):
            raise ValueError(
                f"CONDUIT_DATABASE_POOLER={self.database_pooler} needs a PostgreSQL "
                "CONDUIT_DATABASE_URL (postgresql+asyncpg://user@pgbouncer-host:6432/conduit); "
                "unset CONDUIT_DATABASE_POOLER for SQLite or MariaDB"
            )
        return self

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'conduit.db').as_posix()}"

    @property
    def is_sqlite(self) -> bool:
        return self.effective_database_url.startswith("sqlite")

    @property
    def should_auto_migrate(self) -> bool:
        return self.is_sqlite if self.auto_migrate is None else self.auto_migrate
