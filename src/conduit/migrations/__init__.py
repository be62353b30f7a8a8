"""Alembic migrations: one history for SQLite, PostgreSQL and MariaDB.

``upgrade``/``downgrade``/``current`` are what ``conduit db ...`` and the embedded mode's
start-up call; they run in a worker thread when called from async code.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import TextIO

from alembic import command
from alembic.config import Config

HERE = Path(__file__).parent


def alembic_config(database_url: str, stdout: TextIO = sys.stdout) -> Config:
    config = Config(stdout=stdout)
    config.set_main_option("script_location", str(HERE))
    config.set_main_option("path_separator", "os")
    config.set_main_option("version_locations", str(HERE / "versions"))
    config.attributes["database_url"] = database_url
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str = "-1") -> None:
    command.downgrade(alembic_config(database_url), revision)


def current(database_url: str) -> str:
    """The revision the database is at ("" for an empty database)."""
    buffer = io.StringIO()
    command.current(alembic_config(database_url, stdout=buffer))
    return buffer.getvalue().strip()
