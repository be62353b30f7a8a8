"""Where the data lives: the database URL, the pools, SQLite's readers, PostgreSQL's read
replicas and migrations."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_settings import NoDecode

DEFAULT_DATA_DIR = Path("data")
# The default pools of one machine's processes share this many connections (see
# default_pool_size): under 80 % (where the start-up check warns) of a stock PostgreSQL's
# 97 (max_connections 100 less its 3 superuser slots), leaving room for psql, migrations,
# monitoring and the first process of the next deploy.
MACHINE_CONNECTIONS = 76
POOL_FLOOR = 5
POOL_CEILING = 40


def usable_cores() -> int:
    """The cores this process may run on: its affinity (and, from Python 3.13, ``-X cpu_count``
    / PYTHON_CPU_COUNT), else the machine's."""
    counted = getattr(os, "process_cpu_count", None)
    if counted is not None:
        return max(1, counted() or 1)
    affinity = getattr(os, "sched_getaffinity", None)
    if affinity is not None:
        return max(1, len(affinity(0)))
    return max(1, os.cpu_count() or 1)


def default_pool_size(cores: int | None = None) -> int:
    """CONDUIT_DB_POOL_SIZE when unset: ``76 // (cores + 1) - 1``, between 5 and 40.

    A Conduit process is one event loop on one core, and a few connections keep it busy: the
    process's CPU, not the pool, bounds what it serves (bench/README.md, "Pool size per
    process": 5, 10, 24 and 40 connections, one process at 64 concurrent requests, no size
    better beyond the noise; 10, 40 and 64 alike in earlier runs). What grows with the
    machine is the number of processes: ``--workers`` about one per core, plus ``conduit
    worker``. So the default gives each of those ``cores + 1``
    processes an equal share of :data:`MACHINE_CONNECTIONS`, less the one its wake-up
    listener holds, which fits one machine's Conduit in a stock PostgreSQL (max_connections
    100 - 3 reserved) without a warning: 37 on one core, 24 on 2, 14 on 4, 7 on 8; never
    under 5 (with 12 cores and more: mind the budget, or put pgbouncer in front). The
    start-up check (bootstrap/connection_budget.py) says when a fleet does not fit.
    """
    share = MACHINE_CONNECTIONS // ((cores or usable_cores()) + 1) - 1
    return max(POOL_FLOOR, min(POOL_CEILING, share))


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
    db_pool_size: int = Field(
        default_factory=default_pool_size,
        ge=1,
        le=200,
        description="Connections kept per process. Unset: 76 // (cores + 1) - 1, "
        "between 5 and 40 (default_pool_size).",
    )
    db_pool_max_overflow: int = Field(default=0, ge=0, le=200)
    db_instances: int = Field(
        default=1,
        ge=1,
        le=10_000,
        description="Conduit instances (machines, pods) sharing the database, each with its "
        "conduit serve and conduit worker: the start-up budget check multiplies by it.",
    )
    db_budget_check: Literal["refuse", "warn", "off"] = Field(
        default="refuse",
        description="At start, compare the connections Conduit will open with the server's "
        "max_connections: refuse to start when they do not fit, only warn, or off.",
    )
    db_pool_timeout_seconds: float = Field(default=10.0, gt=0)
    db_echo: bool = False
    sqlite_readers: int = Field(
        default=4,
        ge=0,
        le=64,
        description="SQLite: read-only connections that serve reads in parallel (0: reads "
        "share the single writer connection).",
    )
    # Read replicas (PostgreSQL streaming replicas): docs/operating/read-replicas.md.
    database_replica_urls: Annotated[list[str], NoDecode] = Field(
        default=[],
        description="PostgreSQL read replicas of the primary (JSON list or comma-separated "
        "SQLAlchemy URLs): read-only use cases go to them, each user's reads only once "
        "the replica has replayed that user's last write.",
    )
    database_replica_pool_size: int = Field(
        default=20,
        ge=1,
        le=200,
        description="Connections kept per replica per process (mind each replica's "
        "max_connections x processes).",
    )
    database_replica_wait_seconds: float = Field(
        default=0.05,
        ge=0,
        le=5,
        description="How long a signed-in user's read waits for a replica to replay that "
        "user's last write before it goes to the primary instead.",
    )
    database_replica_retry_seconds: float = Field(
        default=5.0,
        gt=0,
        le=300,
        description="How long a replica that refused a connection is left out before it is "
        "tried again (its reads go to the other replicas or the primary).",
    )
    database_replica_write_memory_seconds: float = Field(
        default=60.0,
        gt=0,
        le=86_400,
        description="How long a user's last write position is remembered (in Redis when "
        "CONDUIT_REDIS_URL is set); a replica lagging more than this may show that user "
        "an older state.",
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

    @field_validator("database_replica_urls", mode="before")
    @classmethod
    def _replica_list(cls, value: Any) -> Any:
        """A JSON list, or URLs separated by commas (a blank value: none)."""
        if not isinstance(value, str):
            return value
        text = value.strip()
        if text.startswith("["):
            return json.loads(text)
        return [part.strip() for part in text.split(",") if part.strip()]

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
